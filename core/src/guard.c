#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "guard.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Registrations live in a list that only grows: a node is never freed, a
 * removed one is marked free and reused, so the signal handler can walk the
 * list at any moment without a lock (it reads each node's range with
 * atomic loads; a node being reused is at worst seen with its old or new
 * range, both of which are ranges this process mapped for a channel).
 */
static struct shmlink__guard *guard_list;
static struct sigaction guard_previous;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_installed;

static void guard_chain(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *p = &guard_previous;
    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction) {
            p->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        p->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the faulting instruction runs
     * again and the fault now terminates the process as it would have. A
     * SIGBUS sent with kill() is raised again. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
    if (si == NULL || si->si_code <= 0)
        (void)raise(sig);
}

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
    if (si != NULL && si->si_code > 0) { /* a fault, not a kill() */
        uintptr_t a = (uintptr_t)si->si_addr;
        for (struct shmlink__guard *g =
                 __atomic_load_n(&guard_list, __ATOMIC_ACQUIRE);
             g; g = g->next) {
            uintptr_t s = __atomic_load_n(&g->start, __ATOMIC_ACQUIRE);
            size_t n = __atomic_load_n(&g->len, __ATOMIC_RELAXED);
            if (s != 0 && a >= s && a - s < n) {
                /* mmap is a plain system call: safe in a handler. */
                void *p = mmap((void *)s, n, PROT_READ | PROT_WRITE,
                               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS |
                                   MAP_NORESERVE,
                               -1, 0);
                if (p != MAP_FAILED) {
                    __atomic_store_n(&g->hit, 1, __ATOMIC_RELEASE);
                    return;
                }
                break;
            }
        }
    }
    guard_chain(sig, si, uc);
}

static void guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &guard_previous) == 0)
        guard_installed = 1;
}

shmlink__guard *shmlink__guard_add(void *addr, size_t len)
{
    (void)pthread_once(&guard_once, guard_install);
    if (!guard_installed || addr == NULL || len == 0)
        return NULL;
    struct shmlink__guard *g;
    for (g = __atomic_load_n(&guard_list, __ATOMIC_ACQUIRE); g; g = g->next) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&g->used, &expected, 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            break;
    }
    if (g == NULL) {
        g = calloc(1, sizeof(*g));
        if (g == NULL)
            return NULL;
        g->used = 1;
        struct shmlink__guard *head =
            __atomic_load_n(&guard_list, __ATOMIC_ACQUIRE);
        do
            g->next = head;
        while (!__atomic_compare_exchange_n(
            &guard_list, &head, g, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    }
    __atomic_store_n(&g->hit, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g->len, len, __ATOMIC_RELAXED);
    __atomic_store_n(&g->start, (uintptr_t)addr, __ATOMIC_RELEASE);
    return g;
}

void shmlink__guard_remove(shmlink__guard *g)
{
    if (g == NULL)
        return;
    __atomic_store_n(&g->start, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g->used, 0, __ATOMIC_RELEASE);
}
