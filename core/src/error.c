#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

/* Texts for the codes whose meaning shmlink narrows (see shmlink.h); every
 * other code gets the C library's text. */
static const char *error_text(int code)
{
    switch (code) {
    case 0: return "success";
    case EINVAL: return "invalid argument or malformed address";
    case EEXIST: return "segment already exists";
    case ENOENT: return "no such segment";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case ENOSPC:
        return "no room for the segment (shared memory full or "
               "system limit reached)";
    case ENOMEM: return "out of memory";
    case EMFILE: return "too many open files";
    case ETIMEDOUT: return "timed out";
    case EINTR: return "interrupted by a signal";
    case EBUSY: return "channel role is held by a live process";
    case EPROTO:
        return "not a shmlink channel, another protocol version, "
               "or corrupt";
    case EPIPE: return "peer process died or closed its end";
    case ENODATA: return "end of stream";
    case EMSGSIZE: return "message too large for the channel or buffer";
    case ENOBUFS: return "buffer too small";
    default: return NULL;
    }
}

static _Thread_local char error_buf[96];

SHMLINK_EXTERN const char *shmlink_strerror(int err)
{
    int code = err == INT_MIN ? INT_MAX : (err < 0 ? -err : err);
    const char *text = error_text(code);
    if (text)
        return text;
    /* GNU strerror_r: returns a static string or fills error_buf; it
     * produces "Unknown error N" for codes it does not know. */
    text = strerror_r(code, error_buf, sizeof(error_buf));
    return text ? text : "unknown error";
}
