# Sanitizer flags for SHMLINK_SANITIZE, applied to every target of the build
# (library, tests, benchmarks) so instrumented and plain code never mix.
#   address -> AddressSanitizer + UndefinedBehaviorSanitizer, no recovery
#   thread  -> ThreadSanitizer
if(SHMLINK_SANITIZE STREQUAL "address")
  set(_shmlink_san -fsanitize=address,undefined -fno-sanitize-recover=all
                   -fno-omit-frame-pointer)
elseif(SHMLINK_SANITIZE STREQUAL "thread")
  set(_shmlink_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT SHMLINK_SANITIZE STREQUAL "")
  message(FATAL_ERROR
    "SHMLINK_SANITIZE must be \"address\", \"thread\" or empty, "
    "not \"${SHMLINK_SANITIZE}\"")
endif()

if(DEFINED _shmlink_san)
  add_compile_options(${_shmlink_san})
  add_link_options(${_shmlink_san})
  message(STATUS "shmlink: sanitizer build (${SHMLINK_SANITIZE})")
endif()
