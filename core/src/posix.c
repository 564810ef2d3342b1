#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* POSIX backend: shm_open + posix_fallocate + mmap. The descriptor stays
 * open for the handle's lifetime (see struct shmlink_segment). */

static void posix_close_fd(int fd)
{
    int saved = errno;
    (void)close(fd);
    errno = saved;
}

int shmlink__posix_create(const shmlink_address *addr, size_t size,
                          unsigned mode, shmlink_segment *seg)
{
    int err;
    if ((uint64_t)size > (uint64_t)INT64_MAX)
        return -EINVAL; /* larger than any off_t */

    int fd = shm_open(addr->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
                      (mode_t)mode);
    if (fd == -1)
        return -errno;

    /* From here on the name exists: any failure removes it again. */
    if (fchmod(fd, (mode_t)mode) == -1) {
        err = errno; /* the umask must not narrow the mode */
        goto fail;
    }
    /* posix_fallocate returns the error number instead of setting errno.
     * It reserves the pages on tmpfs, so a full /dev/shm fails here with
     * ENOSPC rather than with SIGBUS on first touch. */
    do {
        err = posix_fallocate(fd, 0, (off_t)size);
    } while (err == EINTR);
    if (err != 0)
        goto fail;

    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        err = errno;
        goto fail;
    }
    seg->data = p;
    seg->size = size;
    seg->readonly = 0;
    seg->fd = fd;
    seg->shmid = -1;
    memcpy(seg->name, addr->name, sizeof(seg->name));
    return 0;

fail:
    (void)shm_unlink(addr->name);
    posix_close_fd(fd);
    return -err;
}

int shmlink__posix_open(const shmlink_address *addr, int readonly,
                        shmlink_segment *seg)
{
    struct stat st;
    int err;
    int fd =
        shm_open(addr->name, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    if (fstat(fd, &st) == -1) {
        err = errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        /* An empty object (made by someone else with shm_open but not yet
         * sized) cannot be mapped. */
        err = EINVAL;
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        err = errno;
        goto fail;
    }
    seg->data = p;
    seg->size = size;
    seg->readonly = readonly;
    seg->fd = fd;
    seg->shmid = -1;
    memcpy(seg->name, addr->name, sizeof(seg->name));
    return 0;

fail:
    posix_close_fd(fd);
    return -err;
}

void shmlink__posix_close(shmlink_segment *seg)
{
    if (seg->data)
        (void)munmap(seg->data, seg->size);
    if (seg->fd >= 0)
        posix_close_fd(seg->fd);
    seg->data = NULL;
    seg->fd = -1;
}

int shmlink__posix_unlink(const char *name)
{
    if (shm_unlink(name) == -1)
        return -errno;
    return 0;
}

/* Removes the name only while it still names the object behind fd: once
 * the name was removed and created again by someone else, our segment has
 * no name left (-ENOENT) and the new one is not ours to remove. The check
 * uses an O_PATH descriptor (no read permission needed, as for stat). A
 * remove and re-create by another process between the check and the
 * unlink is not caught; the window is a few system calls wide. */
int shmlink__posix_unlink_own(const char *name, int fd)
{
    struct stat mine, named;
    if (fstat(fd, &mine) == -1)
        return -errno;
    int nfd = shm_open(name, O_PATH | O_CLOEXEC, 0);
    if (nfd == -1)
        return -errno;
    int rc = fstat(nfd, &named) == -1 ? -errno : 0;
    posix_close_fd(nfd);
    if (rc < 0)
        return rc;
    if (named.st_dev != mine.st_dev || named.st_ino != mine.st_ino)
        return -ENOENT;
    return shmlink__posix_unlink(name);
}

int shmlink__posix_stat_fd(int fd, shmlink_stat *st)
{
    struct stat s;
    if (fstat(fd, &s) == -1)
        return -errno;
    st->backend = SHMLINK_BACKEND_POSIX;
    st->size = s.st_size > 0 ? (uint64_t)s.st_size : 0;
    st->mode = (uint32_t)(s.st_mode & 0777);
    st->uid = (uint32_t)s.st_uid;
    st->gid = (uint32_t)s.st_gid;
    st->ctime = (int64_t)s.st_ctim.tv_sec;
    st->mtime = (int64_t)s.st_mtim.tv_sec;
    return 0;
}

int shmlink__posix_stat_name(const char *name, shmlink_stat *st)
{
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd == -1 && errno == EACCES) {
        /* No read permission: stat needs none (like ls -l /dev/shm). An
         * O_PATH descriptor opens without checking the mode; glibc and musl
         * pass the flags of shm_open through to open(2). */
        fd = shm_open(name, O_PATH | O_CLOEXEC, 0);
    }
    if (fd == -1)
        return -errno;
    int rc = shmlink__posix_stat_fd(fd, st);
    posix_close_fd(fd);
    return rc;
}
