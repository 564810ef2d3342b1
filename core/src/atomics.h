/*
 * Cross-process atomics for shmlink (the one header for them).
 *
 * Memory model. The channel's two sides are different processes that map the
 * same physical pages, so the C11 memory model applies to them exactly as to
 * two threads: all shared fields are naturally aligned, fixed-width 32- or
 * 64-bit words accessed only through the helpers below (GCC/Clang __atomic
 * builtins, which are address-free and lock-free for these sizes on the
 * supported 64-bit targets, so they work across processes).
 *
 * Publication uses release/acquire pairs: a side writes plain data (message
 * bytes, record headers), then stores its position with release ordering;
 * the other side loads the position with acquire ordering and may then read
 * everything written before the store. On x86-64 release stores and acquire
 * loads are plain MOVs (only the compiler is restrained); on AArch64 they are
 * STLR / LDAR.
 *
 * Sleeping uses one Dekker-style pair that needs sequential consistency: the
 * sleeper stores its "asleep" flag and then loads the other side's position,
 * the waker stores its position and then loads the flag. With release/acquire
 * alone both loads could see old values (store->load reordering is allowed
 * even on x86), and a wake-up would be lost; with seq_cst on all four
 * accesses at least one side sees the other's store (docs/PROTOCOL.md, 5).
 * A seq_cst store costs one locked instruction (XCHG) per publication.
 *
 * Relaxed accesses are used for statistics counters and for fields that are
 * only read by their own writer.
 *
 * Bytes inside records are accessed with memcpy, never through these helpers:
 * their visibility is carried by the position store that follows them.
 */
#ifndef SHMLINK_ATOMICS_H
#define SHMLINK_ATOMICS_H

#include <stdint.h>

#define shm_load_acquire32(p)                                                  \
    __atomic_load_n((const uint32_t *)(p), __ATOMIC_ACQUIRE)
#define shm_load_acquire64(p)                                                  \
    __atomic_load_n((const uint64_t *)(p), __ATOMIC_ACQUIRE)
#define shm_load_relaxed32(p)                                                  \
    __atomic_load_n((const uint32_t *)(p), __ATOMIC_RELAXED)
#define shm_load_relaxed64(p)                                                  \
    __atomic_load_n((const uint64_t *)(p), __ATOMIC_RELAXED)
#define shm_load_seq_cst32(p)                                                  \
    __atomic_load_n((const uint32_t *)(p), __ATOMIC_SEQ_CST)
#define shm_load_seq_cst64(p)                                                  \
    __atomic_load_n((const uint64_t *)(p), __ATOMIC_SEQ_CST)

#define shm_store_release32(p, v)                                              \
    __atomic_store_n((uint32_t *)(p), (uint32_t)(v), __ATOMIC_RELEASE)
#define shm_store_release64(p, v)                                              \
    __atomic_store_n((uint64_t *)(p), (uint64_t)(v), __ATOMIC_RELEASE)
#define shm_store_relaxed32(p, v)                                              \
    __atomic_store_n((uint32_t *)(p), (uint32_t)(v), __ATOMIC_RELAXED)
#define shm_store_relaxed64(p, v)                                              \
    __atomic_store_n((uint64_t *)(p), (uint64_t)(v), __ATOMIC_RELAXED)
#define shm_store_seq_cst32(p, v)                                              \
    __atomic_store_n((uint32_t *)(p), (uint32_t)(v), __ATOMIC_SEQ_CST)
#define shm_store_seq_cst64(p, v)                                              \
    __atomic_store_n((uint64_t *)(p), (uint64_t)(v), __ATOMIC_SEQ_CST)

/* Read-modify-write, sequentially consistent. */
#define shm_exchange32(p, v)                                                   \
    __atomic_exchange_n((uint32_t *)(p), (uint32_t)(v), __ATOMIC_SEQ_CST)

/* Atomic increment of a 32-bit word written by several processes (the
 * readers' wake generation, docs/PROTOCOL.md 13.1). */
#define shm_fetch_add32(p, v)                                                  \
    __atomic_fetch_add((uint32_t *)(p), (uint32_t)(v), __ATOMIC_SEQ_CST)

/* Single-writer counter increment: only the role holder writes the field, so
 * a relaxed load + store is enough (no locked instruction on the hot path);
 * readers of the statistics see either value. */
#define shm_bump64(p, v)                                                       \
    shm_store_relaxed64((p), shm_load_relaxed64(p) + (uint64_t)(v))

/* Compare-and-swap of a 64-bit word: returns 1 if *p was *expected and is now
 * desired; otherwise 0 and *expected holds the value found. */
static inline int shm_cas64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, expected, desired, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* CPU hint inside spin loops. */
static inline void shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* SHMLINK_ATOMICS_H */
