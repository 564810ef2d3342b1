#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/*
 * Address grammar (see shmlink.h):
 *   "posix:/name" | "/name"   name: 1..255 bytes, no '/', not "." or ".."
 *   "sysv:KEY"                KEY: decimal digits, or 0x/0X + hex digits;
 *                             1..0xffffffff; leading zeros allowed
 *   "sysv:private"
 *   "sysv-id:N"               N: decimal digits, 0..INT32_MAX
 * No signs, no blanks, nothing after the last token. Decimal with leading
 * zeros stays decimal (never octal).
 */

int shmlink__posix_name_valid(const char *name, size_t len)
{
    if (len < 2 || len > 256 || name[0] != '/')
        return 0;
    if (memchr(name + 1, '/', len - 1) != NULL)
        return 0;
    if (memchr(name, '\0', len) != NULL)
        return 0;
    if ((len == 2 && name[1] == '.') ||
        (len == 3 && name[1] == '.' && name[2] == '.'))
        return 0; /* "/." and "/.." are /dev/shm and its parent */
    return 1;
}

static int addr_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a whole string of digits (no sign, no blanks) into *out; fails on
 * empty input, a non-digit or a value above max. */
static int addr_parse_number(const char *s, int allow_hex, uint64_t max,
                             uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    if (allow_hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        int d = base == 16 ? addr_hexval(*s)
                           : (*s >= '0' && *s <= '9' ? *s - '0' : -1);
        if (d < 0)
            return -EINVAL;
        v = v * base + (unsigned)d;
        if (v > max)
            return -EINVAL; /* checked per digit, so v never wraps */
    }
    *out = v;
    return 0;
}

SHMLINK_EXTERN int shmlink_address_parse(const char *text, shmlink_address *out)
{
    shmlink_address a;
    if (text == NULL || out == NULL)
        return -EINVAL;
    memset(&a, 0, sizeof(a));

    const char *posix = NULL;
    if (text[0] == '/')
        posix = text;
    else if (strncmp(text, "posix:", 6) == 0)
        posix = text + 6;

    if (posix) {
        size_t len = strnlen(posix, 258);
        if (!shmlink__posix_name_valid(posix, len))
            return -EINVAL;
        a.kind = SHMLINK_ADDR_POSIX;
        a.backend = SHMLINK_BACKEND_POSIX;
        memcpy(a.name, posix, len + 1);
    } else if (strncmp(text, "sysv:", 5) == 0) {
        const char *k = text + 5;
        a.backend = SHMLINK_BACKEND_SYSV;
        if (strcmp(k, "private") == 0) {
            a.kind = SHMLINK_ADDR_SYSV_PRIVATE;
        } else {
            uint64_t v;
            if (addr_parse_number(k, 1, UINT32_MAX, &v) < 0 || v == 0)
                return -EINVAL;
            a.kind = SHMLINK_ADDR_SYSV_KEY;
            a.key = (uint32_t)v;
        }
    } else if (strncmp(text, "sysv-id:", 8) == 0) {
        uint64_t v;
        if (addr_parse_number(text + 8, 0, INT32_MAX, &v) < 0)
            return -EINVAL;
        a.kind = SHMLINK_ADDR_SYSV_ID;
        a.backend = SHMLINK_BACKEND_SYSV;
        a.id = (int32_t)v;
    } else {
        return -EINVAL;
    }
    *out = a;
    return 0;
}

SHMLINK_EXTERN int shmlink_address_format(const shmlink_address *addr,
                                          char *buf, size_t cap)
{
    int n;
    if (addr == NULL || (buf == NULL && cap > 0))
        return -EINVAL;
    switch (addr->kind) {
    case SHMLINK_ADDR_POSIX: {
        if (addr->backend != SHMLINK_BACKEND_POSIX)
            return -EINVAL;
        size_t len = strnlen(addr->name, sizeof(addr->name));
        if (!shmlink__posix_name_valid(addr->name, len))
            return -EINVAL;
        n = snprintf(buf, cap, "posix:%s", addr->name);
        break;
    }
    case SHMLINK_ADDR_SYSV_KEY:
        if (addr->backend != SHMLINK_BACKEND_SYSV || addr->key == 0)
            return -EINVAL;
        n = snprintf(buf, cap, "sysv:0x%08" PRIx32, addr->key);
        break;
    case SHMLINK_ADDR_SYSV_PRIVATE:
        if (addr->backend != SHMLINK_BACKEND_SYSV)
            return -EINVAL;
        n = snprintf(buf, cap, "sysv:private");
        break;
    case SHMLINK_ADDR_SYSV_ID:
        if (addr->backend != SHMLINK_BACKEND_SYSV || addr->id < 0)
            return -EINVAL;
        n = snprintf(buf, cap, "sysv-id:%" PRId32, addr->id);
        break;
    default: return -EINVAL;
    }
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= cap)
        return -ENOBUFS;
    return n;
}

SHMLINK_EXTERN int shmlink_sysv_key(const char *path, int proj, uint32_t *key)
{
    struct stat st;
    if (path == NULL || key == NULL || proj < 1 || proj > 255)
        return -EINVAL;
    if (stat(path, &st) == -1)
        return -errno;
    /* The same formula as glibc's ftok(3), computed from our own stat so the
     * errno is stat's and a key of 0xffffffff is not mistaken for failure. */
    *key = (uint32_t)((st.st_ino & 0xffff) | ((st.st_dev & 0xff) << 16) |
                      ((uint32_t)(proj & 0xff) << 24));
    return 0;
}
