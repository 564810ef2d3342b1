/*
 * Helpers shared by the fuzz targets that make segments: unique names,
 * little-endian field access, the System V semaphore set of a channel, and
 * cleanup that never leaves a name, a segment or a set behind.
 *
 * Every name a target makes starts with "shmlink-fuzz-" and carries the
 * process id and a counter: libFuzzer runs millions of inputs in one
 * process, each in a segment of its own that is removed before the input
 * ends (scripts/test-fuzz.sh removes what a crashed run left behind).
 */
#ifndef SHMLINK_FUZZ_UTIL_H
#define SHMLINK_FUZZ_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include "shmlink.h"

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Header offsets of docs/PROTOCOL.md, section 1. */
enum {
    FZ_MAGIC = 0,
    FZ_VERSION = 8,
    FZ_HEADER_SIZE = 12,
    FZ_CAPACITY = 16,
    FZ_MAX_MESSAGE = 24,
    FZ_FLAGS = 32,
    FZ_RECORD_ALIGN = 36,
    FZ_WRITE_POS = 128,
    FZ_SENT = 136,
    FZ_CLOSED = 144,
    FZ_READ_POS = 256,
    FZ_RECEIVED = 264,
    FZ_READER_GONE = 272,
    FZ_WRITER_OWNER = 384,
    FZ_READER_OWNER = 392,
    FZ_READER_SLEEP = 400,
    FZ_WRITER_SLEEP = 404,
    FZ_LOCK_KIND = 408,
    FZ_LOCK_ID = 412,
    FZ_HEADER = 512
};

#define FZ_KIND_MSG 0x3147534Du
#define FZ_KIND_PAD 0x31444150u

static inline uint32_t fz_get32(const uint8_t *b, size_t off)
{
    uint32_t v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

static inline uint64_t fz_get64(const uint8_t *b, size_t off)
{
    uint64_t v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

static inline void fz_put32(uint8_t *b, size_t off, uint32_t v)
{
    memcpy(b + off, &v, sizeof v);
}

static inline void fz_put64(uint8_t *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, sizeof v);
}

/* A header an opener would poll for 1 s (version 0 while the magic is
 * zero or complete: a creator still writing it, PROTOCOL.md section 2).
 * The unit tests cover that wait; the targets skip open for such a header
 * (inspect and stat do not wait) so that an input never takes a second. */
static inline int fz_header_pending(const uint8_t *b, size_t size)
{
    static const uint8_t zeros[8];
    if (size < FZ_HEADER)
        return 0;
    return fz_get32(b, FZ_VERSION) == 0 &&
           (memcmp(b, zeros, 8) == 0 || memcmp(b, "SHMLCHAN", 8) == 0);
}

/* A fresh address: posix:/shmlink-fuzz-PID-N, or sysv:private (the
 * segment's address then reads sysv-id:N). */
static inline void fz_address(char *buf, size_t cap, const char *target,
                              int sysv)
{
    static unsigned long counter;
    if (sysv)
        snprintf(buf, cap, "sysv:private");
    else
        snprintf(buf, cap, "posix:/shmlink-fuzz-%s-%ld-%lu", target,
                 (long)getpid(), counter++);
}

union fz_semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

/* The semaphore set a System V channel of segment shmid uses (PROTOCOL.md
 * 6.1): 3 semaphores {0, 0, shmid mod 32768}; tag_delta != 0 makes a set
 * whose tag does not match (an opener must refuse it). Returns the id or
 * -1. */
static inline int fz_semset_create(int shmid, unsigned short tag_delta)
{
    int id = semget(IPC_PRIVATE, 3, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return -1;
    unsigned short init[3] = {0, 0,
                              (unsigned short)((shmid & 0x7fff) ^ tag_delta)};
    union fz_semun arg;
    arg.array = init;
    if (semctl(id, 0, SETALL, arg) == -1) {
        (void)semctl(id, 0, IPC_RMID);
        return -1;
    }
    return id;
}

/* Removes a set this process made; one already removed (by the core's
 * remove, PROTOCOL.md 6.3) is fine. */
static inline void fz_semset_remove(int semid)
{
    if (semid >= 0 && semctl(semid, 0, IPC_RMID) == -1)
        FUZZ_CHECK(errno == EINVAL || errno == EIDRM);
}

/* The shmid of an open System V segment (its address is sysv-id:N). */
static inline int fz_shmid(const shmlink_segment *seg)
{
    shmlink_stat st;
    if (shmlink_segment_stat(seg, &st) < 0)
        return -1;
    return st.shmid;
}

#endif /* SHMLINK_FUZZ_UTIL_H */
