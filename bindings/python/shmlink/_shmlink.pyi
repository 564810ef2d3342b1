# Type stub for the private cffi module compiled from core/src (see
# bindings/python/shmlink_build.py and _cdef.h).
from typing import Any

ffi: Any
lib: Any
