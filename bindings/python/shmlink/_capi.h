/*
 * The C core's functions that the extension shmlink._chan calls, as one
 * table: the single declaration both Python modules compile against.
 *
 * The cffi module shmlink._shmlink, which contains the core, fills the table
 * in its set_source preamble (bindings/python/shmlink_build.py) from the real
 * functions, so the compiler checks every member against shmlink.h there;
 * _chan.c calls through the same struct type, checked against the same
 * header. shmlink._channel hands the table's address from one module to the
 * other once at import (shmlink_python_capi() -> _chan.bind()), and bind()
 * refuses a table of another version or size. A core function renamed or
 * given another signature is a compile error, not a crash.
 *
 * Add members at the end and bump SHMLINK_CAPI_VERSION.
 */
#ifndef SHMLINK_PYTHON_CAPI_H
#define SHMLINK_PYTHON_CAPI_H

#include <stddef.h>
#include <stdint.h>

#include "shmlink.h"

#define SHMLINK_CAPI_VERSION 2

typedef struct shmlink_capi {
    unsigned version; /* SHMLINK_CAPI_VERSION */
    size_t size;      /* sizeof(shmlink_capi) */
    int (*channel_close)(shmlink_channel *ch);
    size_t (*channel_capacity)(const shmlink_channel *ch);
    size_t (*channel_max_message)(const shmlink_channel *ch);
    int (*channel_send)(shmlink_channel *ch, const void *data, size_t len,
                        int64_t timeout_ns);
    int (*channel_reserve)(shmlink_channel *ch, size_t len, void **ptr,
                           int64_t timeout_ns);
    int (*channel_commit)(shmlink_channel *ch, size_t len);
    int (*channel_abort)(shmlink_channel *ch);
    int (*channel_recv)(shmlink_channel *ch, void *buf, size_t cap, size_t *len,
                        int64_t timeout_ns);
    int (*channel_peek)(shmlink_channel *ch, const void **ptr, size_t *len,
                        int64_t timeout_ns);
    int (*channel_release)(shmlink_channel *ch);
    int (*channel_recv_batch)(shmlink_channel *ch, void *buf, size_t cap,
                              size_t *lens, size_t max, int64_t timeout_ns);
    int (*channel_interrupt)(shmlink_channel *ch);
    uint64_t (*channel_interrupts)(const shmlink_channel *ch);
    int (*channel_wait)(shmlink_channel *ch, size_t len, int64_t timeout_ns,
                        uint64_t since);
} shmlink_capi;

/* The table's contents, by member name (the cffi module's preamble defines
 * it with this; -Werror=incompatible-pointer-types there makes any mismatch
 * with shmlink.h fail the build). */
#define SHMLINK_CAPI_INIT                                                      \
    {                                                                          \
        .version = SHMLINK_CAPI_VERSION, .size = sizeof(shmlink_capi),         \
        .channel_close = shmlink_channel_close,                                \
        .channel_capacity = shmlink_channel_capacity,                          \
        .channel_max_message = shmlink_channel_max_message,                    \
        .channel_send = shmlink_channel_send,                                  \
        .channel_reserve = shmlink_channel_reserve,                            \
        .channel_commit = shmlink_channel_commit,                              \
        .channel_abort = shmlink_channel_abort,                                \
        .channel_recv = shmlink_channel_recv,                                  \
        .channel_peek = shmlink_channel_peek,                                  \
        .channel_release = shmlink_channel_release,                            \
        .channel_recv_batch = shmlink_channel_recv_batch,                      \
        .channel_interrupt = shmlink_channel_interrupt,                        \
        .channel_interrupts = shmlink_channel_interrupts,                      \
        .channel_wait = shmlink_channel_wait,                                  \
    }

#endif /* SHMLINK_PYTHON_CAPI_H */
