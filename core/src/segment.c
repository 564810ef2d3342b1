#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Segment API: validates arguments, parses the address, dispatches to the
 * POSIX or System V backend. */

static shmlink_segment *segment_alloc(const shmlink_address *addr)
{
    shmlink_segment *seg = calloc(1, sizeof(*seg));
    if (seg == NULL)
        return NULL;
    seg->backend = addr->backend;
    seg->fd = -1;
    seg->shmid = -1;
    if (shmlink_address_format(addr, seg->address, sizeof(seg->address)) < 0)
        seg->address[0] = '\0'; /* cannot happen for a parsed address */
    return seg;
}

SHMLINK_EXTERN int shmlink_segment_create(const char *address, size_t size,
                                          unsigned mode, shmlink_segment **out)
{
    shmlink_address addr;
    int rc;
    if (out == NULL || size == 0 || mode > 0777)
        return -EINVAL;
    if ((rc = shmlink_address_parse(address, &addr)) < 0)
        return rc;
    if (addr.kind == SHMLINK_ADDR_SYSV_ID)
        return -EINVAL; /* ids are chosen by the kernel */

    shmlink_segment *seg = segment_alloc(&addr);
    if (seg == NULL)
        return -ENOMEM;
    if (addr.backend == SHMLINK_BACKEND_POSIX)
        rc = shmlink__posix_create(&addr, size, mode, seg);
    else
        rc = shmlink__sysv_create(&addr, size, mode, seg);
    if (rc < 0) {
        free(seg);
        return rc;
    }
    *out = seg;
    return 0;
}

SHMLINK_EXTERN int shmlink_segment_open(const char *address, unsigned flags,
                                        shmlink_segment **out)
{
    shmlink_address addr;
    int rc;
    if (out == NULL || (flags & ~SHMLINK_RDONLY) != 0)
        return -EINVAL;
    if ((rc = shmlink_address_parse(address, &addr)) < 0)
        return rc;
    if (addr.kind == SHMLINK_ADDR_SYSV_PRIVATE)
        return -EINVAL; /* names nothing that exists */

    shmlink_segment *seg = segment_alloc(&addr);
    if (seg == NULL)
        return -ENOMEM;
    int readonly = (flags & SHMLINK_RDONLY) != 0;
    if (addr.backend == SHMLINK_BACKEND_POSIX)
        rc = shmlink__posix_open(&addr, readonly, seg);
    else
        rc = shmlink__sysv_open(&addr, readonly, seg);
    if (rc < 0) {
        free(seg);
        return rc;
    }
    *out = seg;
    return 0;
}

SHMLINK_EXTERN void shmlink_segment_close(shmlink_segment *seg)
{
    if (seg == NULL)
        return;
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        shmlink__posix_close(seg);
    else
        shmlink__sysv_close(seg);
    free(seg);
}

SHMLINK_EXTERN void *shmlink_segment_data(const shmlink_segment *seg)
{
    return seg ? seg->data : NULL;
}

SHMLINK_EXTERN size_t shmlink_segment_size(const shmlink_segment *seg)
{
    return seg ? seg->size : 0;
}

SHMLINK_EXTERN int shmlink_segment_readonly(const shmlink_segment *seg)
{
    return seg ? seg->readonly : 0;
}

SHMLINK_EXTERN const char *shmlink_segment_address(const shmlink_segment *seg)
{
    return seg ? seg->address : "";
}

SHMLINK_EXTERN int shmlink_segment_remove(shmlink_segment *seg)
{
    if (seg == NULL)
        return -EINVAL;
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        return shmlink__posix_unlink_own(seg->name, seg->fd);
    return shmlink__sysv_remove_id(seg->shmid, seg->data, seg->size);
}

SHMLINK_EXTERN int shmlink_remove(const char *address)
{
    shmlink_address addr;
    int rc, id = -1;
    if ((rc = shmlink_address_parse(address, &addr)) < 0)
        return rc;
    if (addr.backend == SHMLINK_BACKEND_POSIX)
        return shmlink__posix_unlink(addr.name);
    if (addr.kind == SHMLINK_ADDR_SYSV_PRIVATE)
        return -EINVAL;
    if ((rc = shmlink__sysv_resolve(&addr, &id)) < 0)
        return rc;
    return shmlink__sysv_remove_id(id, NULL, 0);
}

SHMLINK_EXTERN int shmlink_segment_stat(const shmlink_segment *seg,
                                        shmlink_stat *st)
{
    int rc;
    if (seg == NULL || st == NULL)
        return -EINVAL;
    shmlink_stat s;
    memset(&s, 0, sizeof(s));
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        rc = shmlink__posix_stat_fd(seg->fd, &s);
    else
        rc = shmlink__sysv_stat_id(seg->shmid, 1, &s);
    if (rc < 0)
        return rc;
    memcpy(s.address, seg->address, sizeof(s.address));
    *st = s;
    return 0;
}

SHMLINK_EXTERN int shmlink_stat_address(const char *address, shmlink_stat *st)
{
    shmlink_address addr;
    int rc, id = -1;
    if (st == NULL)
        return -EINVAL;
    if ((rc = shmlink_address_parse(address, &addr)) < 0)
        return rc;
    if (addr.kind == SHMLINK_ADDR_SYSV_PRIVATE)
        return -EINVAL;
    shmlink_stat s;
    memset(&s, 0, sizeof(s));
    if (addr.backend == SHMLINK_BACKEND_POSIX) {
        rc = shmlink__posix_stat_name(addr.name, &s);
    } else {
        rc = shmlink__sysv_resolve(&addr, &id);
        if (rc == 0)
            rc = shmlink__sysv_stat_id(id, 0, &s);
    }
    if (rc < 0)
        return rc;
    if ((rc = shmlink_address_format(&addr, s.address, sizeof(s.address))) < 0)
        return rc;
    *st = s;
    return 0;
}
