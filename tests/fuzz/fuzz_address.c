/*
 * libFuzzer target over the address parser and formatter.
 *
 * Input: arbitrary bytes, taken as an address text (cut at the first NUL,
 * copied into a heap buffer of exactly its length + 1 so that AddressSanitizer
 * sees any read past the terminator). Checks:
 *   - parse(x) either fails with -EINVAL (and leaves *out alone) or gives a
 *     struct whose fields match its kind (the invariants of shmlink.h);
 *   - format(parse(x)) succeeds, fits SHMLINK_ADDRESS_MAX, and
 *     parse(format(parse(x))) == parse(x) field by field;
 *   - format is canonical: format(parse(format(a))) == format(a);
 *   - format into every smaller buffer (exactly sized heap buffers) gives
 *     -ENOBUFS and never writes past cap; into a NULL buffer of cap 0 too;
 *   - format of an arbitrary struct (the input's bytes laid over it) either
 *     fails or produces text that parses back to the same address.
 *
 * Build and run: scripts/test-fuzz.sh (or see tests/fuzz/CMakeLists.txt).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlink.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_address: check failed: %s (line %d)\n",      \
                    #cond, __LINE__);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Two parsed addresses name the same thing. */
static int addr_equal(const shmlink_address *a, const shmlink_address *b)
{
    return a->kind == b->kind && a->backend == b->backend &&
           strcmp(a->name, b->name) == 0 && a->key == b->key && a->id == b->id;
}

/* The invariants shmlink.h promises for a parsed address. */
static void check_parsed(const shmlink_address *a)
{
    size_t n = strnlen(a->name, sizeof(a->name));
    CHECK(n < sizeof(a->name));
    switch (a->kind) {
    case SHMLINK_ADDR_POSIX:
        CHECK(a->backend == SHMLINK_BACKEND_POSIX);
        CHECK(n >= 2 && n <= 256 && a->name[0] == '/');
        CHECK(memchr(a->name + 1, '/', n - 1) == NULL);
        CHECK(strcmp(a->name, "/.") != 0 && strcmp(a->name, "/..") != 0);
        CHECK(a->key == 0 && a->id == 0);
        break;
    case SHMLINK_ADDR_SYSV_KEY:
        CHECK(a->backend == SHMLINK_BACKEND_SYSV);
        CHECK(n == 0 && a->key != 0 && a->id == 0);
        break;
    case SHMLINK_ADDR_SYSV_PRIVATE:
        CHECK(a->backend == SHMLINK_BACKEND_SYSV);
        CHECK(n == 0 && a->key == 0 && a->id == 0);
        break;
    case SHMLINK_ADDR_SYSV_ID:
        CHECK(a->backend == SHMLINK_BACKEND_SYSV);
        CHECK(n == 0 && a->key == 0 && a->id >= 0);
        break;
    default: CHECK(!"unknown kind");
    }
}

/* Parses text from an exactly sized heap copy. */
static int parse_copy(const char *text, size_t len, shmlink_address *out)
{
    char *t = malloc(len + 1);
    CHECK(t != NULL);
    memcpy(t, text, len);
    t[len] = '\0';
    int rc = shmlink_address_parse(t, out);
    free(t);
    return rc;
}

/* Formats a into an exactly sized heap buffer of every capacity up to the
 * text's length and checks -ENOBUFS and the bytes around. */
static void check_small_buffers(const shmlink_address *a, const char *full,
                                int n)
{
    CHECK(shmlink_address_format(a, NULL, 0) == -ENOBUFS);
    for (size_t cap = 1; cap <= (size_t)n; cap++) {
        char *b = malloc(cap);
        CHECK(b != NULL);
        memset(b, 0x5a, cap);
        int rc = shmlink_address_format(a, b, cap);
        CHECK(rc == -ENOBUFS);
        /* snprintf semantics: a truncated, terminated prefix (or nothing). */
        if (memchr(b, '\0', cap) != NULL)
            CHECK(strncmp(b, full, strlen(b)) == 0);
        free(b);
    }
    char *b = malloc((size_t)n + 1);
    CHECK(b != NULL);
    CHECK(shmlink_address_format(a, b, (size_t)n + 1) == n);
    CHECK(strcmp(b, full) == 0);
    free(b);
}

/* Formats a parsed address and checks the round trip. */
static void check_round_trip(const shmlink_address *a, int small_buffers)
{
    char text[SHMLINK_ADDRESS_MAX];
    int n = shmlink_address_format(a, text, sizeof(text));
    CHECK(n > 0 && (size_t)n < sizeof(text));
    CHECK(strlen(text) == (size_t)n);
    shmlink_address b;
    memset(&b, 0xa5, sizeof(b));
    CHECK(parse_copy(text, (size_t)n, &b) == 0);
    check_parsed(&b);
    CHECK(addr_equal(a, &b));
    char again[SHMLINK_ADDRESS_MAX];
    CHECK(shmlink_address_format(&b, again, sizeof(again)) == n);
    CHECK(strcmp(text, again) == 0);
    if (small_buffers)
        check_small_buffers(a, text, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The input as address text (up to its first NUL). */
    size_t len = strnlen((const char *)data, size);
    shmlink_address a, untouched;
    memset(&a, 0x3c, sizeof(a));
    memcpy(&untouched, &a, sizeof(a));
    int rc = parse_copy((const char *)data, len, &a);
    if (rc == 0) {
        check_parsed(&a);
        check_round_trip(&a, 1);
    } else {
        CHECK(rc == -EINVAL);
        CHECK(memcmp(&a, &untouched, sizeof(a)) == 0); /* *out left alone */
    }
    CHECK(shmlink_address_parse(NULL, &a) == -EINVAL);

    /* 2. The input laid over a struct: format either refuses it or writes
     * an address that parses back to the same thing. */
    shmlink_address raw;
    memset(&raw, 0, sizeof(raw));
    memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
    char text[SHMLINK_ADDRESS_MAX];
    rc = shmlink_address_format(&raw, text, sizeof(text));
    if (rc >= 0) {
        CHECK((size_t)rc < sizeof(text) && strlen(text) == (size_t)rc);
        shmlink_address b;
        CHECK(shmlink_address_parse(text, &b) == 0);
        check_parsed(&b);
        CHECK(b.kind == raw.kind && b.backend == raw.backend);
        if (raw.kind == SHMLINK_ADDR_POSIX)
            CHECK(strcmp(b.name, raw.name) == 0);
        else if (raw.kind == SHMLINK_ADDR_SYSV_KEY)
            CHECK(b.key == raw.key);
        else if (raw.kind == SHMLINK_ADDR_SYSV_ID)
            CHECK(b.id == raw.id);
        check_round_trip(&b, 0);
    } else {
        CHECK(rc == -EINVAL);
    }
    return 0;
}
