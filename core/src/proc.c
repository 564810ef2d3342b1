#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int shmlink__proc_start_time(int32_t pid, uint64_t *start)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* Field 2 (comm) is in parentheses and may contain anything, including
     * ')' and blanks: parse from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -ESRCH;
    p += 2; /* field 3: state */
    char state = *p;
    if (state == 'Z' || state == 'X' || state == 'x')
        return -ECHILD; /* a zombie: dead, only not yet reaped */
    /* Skip to field 22: we are at field 3, so 19 more blanks. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -ESRCH;
        p++;
    }
    uint64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0)
        return -ESRCH;
    *start = v;
    return 0;
}

static uint64_t proc_self_cached;
static int32_t proc_self_cached_pid;

uint64_t shmlink__proc_self_owner(void)
{
    int32_t pid = (int32_t)getpid();
    if (__atomic_load_n(&proc_self_cached_pid, __ATOMIC_ACQUIRE) == pid)
        return __atomic_load_n(&proc_self_cached, __ATOMIC_RELAXED);
    uint64_t start;
    if (shmlink__proc_start_time(pid, &start) != 0)
        return 0;
    uint64_t owner = (uint64_t)(uint32_t)pid | ((start & 0xffffffffu) << 32);
    __atomic_store_n(&proc_self_cached, owner, __ATOMIC_RELAXED);
    __atomic_store_n(&proc_self_cached_pid, pid, __ATOMIC_RELEASE);
    return owner;
}

int shmlink__proc_owner_alive(uint64_t owner)
{
    int32_t pid = shmlink__owner_pid(owner);
    if (owner == 0 || pid <= 0)
        return 0;
    uint64_t start;
    int rc = shmlink__proc_start_time(pid, &start);
    if (rc == 0)
        return (start & 0xffffffffu) == (owner >> 32);
    if (rc == -ECHILD)
        return 0;
    /* /proc/PID/stat is missing or unreadable: the process may be hidden
     * from us (hidepid=2, ProtectProc=invisible, another user) rather than
     * gone. Ask the kernel: EPERM means it exists. Its start time cannot be
     * compared then, so a reused pid reads as alive: never call a living
     * process dead. */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        return 1;
    return 0;
}
