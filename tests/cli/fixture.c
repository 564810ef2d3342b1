/*
 * Fixture program for the command-line tool's tests: makes real segments and
 * channels through the public API, then either exits (the segment stays) or
 * holds its channel role until it is killed (the tests use SIGKILL to make
 * dead peers).
 *
 *   shmlink_cli_fixture segment ADDRESS SIZE MODE
 *       creates a plain segment filled with 0xa5 bytes (not a channel),
 *       prints its canonical address and exits 0.
 *   shmlink_cli_fixture channel ADDRESS CAPACITY writer|reader [options]
 *       --open         open the existing channel instead of creating it
 *       --mode OCTAL   mode of a created channel (default 0600)
 *       --send N       writer: send N messages of --size bytes (default 100)
 *       --recv N       reader: receive N messages
 *       --close        close the channel (the writer marks end of stream)
 *                      and exit 0
 *       otherwise prints "ready ADDRESS" and waits until killed.
 *
 * Errors: a message on stderr and exit 1. Nothing here removes anything: the
 * tests own the cleanup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmlink.h"

#define FIX_TIMEOUT_NS ((int64_t)30 * 1000 * 1000 * 1000)

static int fix_fail(const char *what, const char *address, int rc)
{
    fprintf(stderr, "fixture: %s %s: %s\n", what, address,
            shmlink_strerror(rc));
    return 1;
}

static unsigned long fix_num(const char *s, int base, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, base);
    if (errno || end == s || *end) {
        fprintf(stderr, "fixture: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static int fix_segment(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: fixture segment ADDRESS SIZE MODE\n");
        return 2;
    }
    const char *address = argv[2];
    size_t size = fix_num(argv[3], 10, "size");
    unsigned mode = (unsigned)fix_num(argv[4], 8, "mode");
    shmlink_segment *seg;
    int rc = shmlink_segment_create(address, size, mode, &seg);
    if (rc < 0)
        return fix_fail("create", address, rc);
    memset(shmlink_segment_data(seg), 0xa5, shmlink_segment_size(seg));
    printf("%s\n", shmlink_segment_address(seg));
    fflush(stdout);
    shmlink_segment_close(seg);
    return 0;
}

static int fix_channel(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: fixture channel ADDRESS CAPACITY "
                        "writer|reader [options]\n");
        return 2;
    }
    const char *address = argv[2];
    size_t capacity = fix_num(argv[3], 10, "capacity");
    shmlink_role role;
    if (strcmp(argv[4], "writer") == 0)
        role = SHMLINK_WRITER;
    else if (strcmp(argv[4], "reader") == 0)
        role = SHMLINK_READER;
    else {
        fprintf(stderr, "fixture: role must be writer or reader\n");
        return 2;
    }
    int open_existing = 0, do_close = 0;
    unsigned mode = 0600;
    unsigned long nsend = 0, nrecv = 0, msg_size = 100;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--open") == 0)
            open_existing = 1;
        else if (strcmp(argv[i], "--close") == 0)
            do_close = 1;
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
            mode = (unsigned)fix_num(argv[++i], 8, "mode");
        else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc)
            nsend = fix_num(argv[++i], 10, "count");
        else if (strcmp(argv[i], "--recv") == 0 && i + 1 < argc)
            nrecv = fix_num(argv[++i], 10, "count");
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            msg_size = fix_num(argv[++i], 10, "size");
        else {
            fprintf(stderr, "fixture: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    shmlink_channel *ch;
    int rc = open_existing
                 ? shmlink_channel_open(address, role, &ch)
                 : shmlink_channel_create(address, capacity, mode, role, &ch);
    if (rc < 0)
        return fix_fail(open_existing ? "open" : "create", address, rc);
    char *buf = malloc(msg_size ? msg_size : 1);
    if (!buf)
        return 1;
    for (unsigned long i = 0; i < nsend; i++) {
        memset(buf, (int)('a' + i % 26), msg_size);
        rc = shmlink_channel_send(ch, buf, msg_size, FIX_TIMEOUT_NS);
        if (rc < 0)
            return fix_fail("send", address, rc);
    }
    for (unsigned long i = 0; i < nrecv; i++) {
        size_t len;
        rc = shmlink_channel_recv(ch, buf, msg_size, &len, FIX_TIMEOUT_NS);
        if (rc < 0)
            return fix_fail("recv", address, rc);
    }
    free(buf);
    if (do_close) {
        printf("closed %s\n", shmlink_channel_address(ch));
        fflush(stdout);
        rc = shmlink_channel_close(ch);
        if (rc < 0)
            return fix_fail("close", address, rc);
        return 0;
    }
    printf("ready %s\n", shmlink_channel_address(ch));
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "segment") == 0)
        return fix_segment(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "channel") == 0)
        return fix_channel(argc, argv);
    fprintf(stderr, "usage: fixture segment|channel ...\n");
    return 2;
}
