/*
 * libFuzzer target: open, stat and inspect of arbitrary segment contents.
 *
 * Each input becomes a fresh segment (POSIX or System V, removed again
 * before the input ends) holding the input's image from offset 0 (header +
 * ring; the rest reads zero). Then:
 *   - shmlink_channel_inspect on an exactly sized heap copy of the segment
 *     (AddressSanitizer sees any read past it) and on the segment itself;
 *   - shmlink_channel_stat and shmlink_channel_writer_slots by address;
 *   - open as reader and as writer (by address with shmlink_channel_open,
 *     or on the segment the harness has mapped with the internal attach);
 *     a second open of a role that is held must fail;
 *   - if a role was taken: a few recv / peek / release / recv_batch / send /
 *     reserve+commit / abort / wait / info calls, all with timeout 0; every
 *     message pointer handed out must lie inside the ring of the mapping;
 *   - close both, remove the segment, remove the System V semaphore set.
 * Nothing may crash, hang, or touch memory outside the mapping, and every
 * return code must be one shmlink.h documents for the call.
 *
 * Input layout (little-endian):
 *   byte 0     flags: bit 0 System V (else POSIX); bits 1-2 segment size:
 *              0 = 512+4096, 1 = 512+8192, 2 = 8192, 3 = bytes 1-2;
 *              bit 3 set lock_kind/lock_id to the backend's real values
 *              (else the image's bytes stay); bit 4 System V: make the
 *              semaphore set with a wrong tag; bit 5 reader by attach;
 *              bit 6 writer by attach; bit 7 open with SHMLINK_ANY_OWNER
 *   bytes 1-2  segment size for size mode 3: 1 + value % 8768
 *   bytes 3-10 eight operations (low 3 bits: which, high 5 bits: argument)
 *   bytes 11-  the segment image from offset 0
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fuzz_util.h"

#include "channel_internal.h"

#define PREFIX 11
#define NOPS   8

/* Return codes shmlink.h allows each call (besides 0 / counts). */
static int ok_open(int rc)
{
    return rc == 0 || rc == -EPROTO || rc == -EBUSY || rc == -ENOENT ||
           rc == -EACCES || rc == -EPERM || rc == -EINVAL;
}

static int ok_io(int rc)
{
    return rc >= 0 || rc == -ETIMEDOUT || rc == -EPROTO || rc == -ENODATA ||
           rc == -EPIPE || rc == -EMSGSIZE || rc == -EINVAL;
}

/* A message handed out in place lies inside the ring of mapping base. */
static void check_in_ring(const uint8_t *base, size_t cap, const void *p,
                          size_t n)
{
    const uint8_t *ring = base + FZ_HEADER, *q = p;
    FUZZ_CHECK(q >= ring + 8 && q <= ring + cap);
    FUZZ_CHECK(n <= cap / 2 - 8 && (size_t)(ring + cap - q) >= n);
}

static uint8_t buf[8192];

static void run_ops(shmlink_channel *r, shmlink_channel *w,
                    const uint8_t *rbase, const uint8_t *ops)
{
    for (int i = 0; i < NOPS; i++) {
        unsigned op = ops[i] & 7, arg = ops[i] >> 3;
        int rc = 0;
        const void *p;
        size_t len;
        size_t lens[8];
        void *wp;
        switch (op) {
        case 0:
            if (!r)
                continue;
            rc = shmlink_channel_recv(r, buf, (size_t)arg * 97, &len, 0);
            if (rc == 0 || rc == -EMSGSIZE)
                FUZZ_CHECK(len <= shmlink_channel_max_message(r));
            break;
        case 1:
        case 2:
            if (!r)
                continue;
            rc = shmlink_channel_peek(r, &p, &len, 0);
            if (rc == 0) {
                if (rbase)
                    check_in_ring(rbase, shmlink_channel_capacity(r), p, len);
                memcpy(buf, p, len);
                if (op == 1)
                    rc = shmlink_channel_release(r);
            }
            break;
        case 3:
            if (!r)
                continue;
            rc = shmlink_channel_recv_batch(r, buf, (size_t)arg * 131, lens,
                                            1 + arg % 8, 0);
            if (rc > 0) {
                size_t sum = 0;
                for (int k = 0; k < rc; k++)
                    sum += lens[k];
                FUZZ_CHECK(sum <= (size_t)arg * 131);
            }
            break;
        case 4:
            if (!w)
                continue;
            rc = shmlink_channel_send(w, buf, (size_t)arg * 67, 0);
            break;
        case 5:
            if (!w)
                continue;
            rc = shmlink_channel_reserve(w, (size_t)arg * 67, &wp, 0);
            if (rc == 0) {
                memset(wp, 0xab, (size_t)arg * 67);
                rc = arg & 1 ? shmlink_channel_abort(w)
                             : shmlink_channel_commit(w, (size_t)arg * 33);
            }
            break;
        case 6: {
            shmlink_channel *h = arg & 1 ? w : r;
            if (!h)
                continue;
            uint64_t since = shmlink_channel_interrupts(h);
            if (arg & 2)
                (void)shmlink_channel_interrupt(h);
            rc = shmlink_channel_wait(h, (size_t)arg * 67, 0, since);
            FUZZ_CHECK(rc != -ECANCELED || (arg & 2));
            if (rc == -ECANCELED)
                rc = 0;
            break;
        }
        default: {
            shmlink_channel *h = arg & 1 ? w : r;
            if (!h)
                continue;
            shmlink_channel_info info;
            rc = shmlink_channel_info_get(h, &info);
            if (rc == 0)
                FUZZ_CHECK(info.used <= info.capacity);
            break;
        }
        }
        FUZZ_CHECK(ok_io(rc));
    }
}

static size_t segment_size(const uint8_t *data)
{
    switch ((data[0] >> 1) & 3) {
    case 0: return 512 + 4096;
    case 1: return 512 + 8192;
    case 2: return 8192;
    default: return 1 + (size_t)(data[1] | data[2] << 8) % 8768;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PREFIX)
        return 0;
    const unsigned flags = data[0];
    const int sysv = flags & 1;
    const size_t seg_size = segment_size(data);
    const uint8_t *image = data + PREFIX;
    size_t image_len = size - PREFIX;
    if (image_len > seg_size)
        image_len = seg_size;

    char addr[SHMLINK_ADDRESS_MAX];
    fz_address(addr, sizeof addr, "open", sysv);
    shmlink_segment *seg;
    int rc = shmlink_segment_create(addr, seg_size, 0600, &seg);
    if (rc < 0) {
        fprintf(stderr, "fuzz_open: create %s (%zu bytes): %s\n", addr,
                seg_size, shmlink_strerror(rc));
        abort();
    }
    snprintf(addr, sizeof addr, "%s", shmlink_segment_address(seg));
    uint8_t *b = shmlink_segment_data(seg);
    int semid = -1;
    if (sysv) {
        int shmid = fz_shmid(seg);
        FUZZ_CHECK(shmid >= 0);
        semid = fz_semset_create(shmid, flags & 0x10 ? 1 : 0);
        FUZZ_CHECK(semid >= 0);
    }
    memcpy(b, image, image_len);
    if ((flags & 0x08) && seg_size >= FZ_HEADER) {
        fz_put32(b, FZ_LOCK_KIND, sysv ? 2 : 1);
        fz_put32(b, FZ_LOCK_ID, sysv ? (uint32_t)semid : 0);
    }

    /* Inspection: from an exact heap copy, from the mapping, by address. */
    shmlink_channel_info info;
    uint8_t *copy = malloc(seg_size);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, b, seg_size);
    rc = shmlink_channel_inspect(copy, seg_size, &info);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    if (rc == 0)
        FUZZ_CHECK(info.capacity >= 4096 && info.capacity + 512 <= seg_size &&
                   info.used <= info.capacity &&
                   (info.version == 1 || info.version == 2));
    free(copy);
    rc = shmlink_channel_inspect(b, seg_size, &info);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    rc = shmlink_channel_stat(addr, &info);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    shmlink_writer_slot_info wi[4];
    rc = shmlink_channel_writer_slots(addr, wi, 4);
    FUZZ_CHECK((rc >= 1 && rc <= 64) || rc == -EPROTO);
    for (int i = 0; i < rc && i < 4; i++)
        FUZZ_CHECK(wi[i].slot == (uint32_t)i && wi[i].alive >= -1 &&
                   wi[i].alive <= 1 && wi[i].used <= (1ull << 30));

    /* Open both roles unless an opener would wait for a creator. */
    if (!fz_header_pending(b, seg_size)) {
        unsigned oflags = flags & 0x80 ? SHMLINK_ANY_OWNER : 0;
        shmlink_channel *r = NULL, *w = NULL, *again = NULL;
        rc = flags & 0x20
                 ? shmlink__channel_attach(seg, SHMLINK_READER, &r)
                 : shmlink_channel_open_flags(addr, SHMLINK_READER, oflags, &r);
        FUZZ_CHECK(ok_open(rc) && (rc == 0) == (r != NULL));
        rc = flags & 0x40
                 ? shmlink__channel_attach(seg, SHMLINK_WRITER, &w)
                 : shmlink_channel_open_flags(addr, SHMLINK_WRITER, oflags, &w);
        FUZZ_CHECK(ok_open(rc) && (rc == 0) == (w != NULL));
        if (r || w) {
            rc = shmlink_channel_open(addr, r ? SHMLINK_READER : SHMLINK_WRITER,
                                      &again);
            FUZZ_CHECK(rc == -EBUSY || rc == -EPROTO);
            FUZZ_CHECK(again == NULL);
            rc = shmlink_channel_stat(addr, &info);
            FUZZ_CHECK(rc == 0 || rc == -EPROTO);
            if (rc == 0 && info.version == 2)
                FUZZ_CHECK(info.writer_alive == (w != NULL) &&
                           info.reader_alive == (r != NULL));
        }
        run_ops(r, w, flags & 0x20 ? b : NULL, data + 3);
        FUZZ_CHECK(shmlink_channel_close(w) == 0);
        FUZZ_CHECK(shmlink_channel_close(r) == 0);
    }

    /* Remove the segment by address and the set with it: the header's lock
     * fields are put back first, so the core's remove only ever looks at
     * this input's own set; the set is removed here in any case. */
    if (sysv && seg_size >= FZ_HEADER) {
        fz_put32(b, FZ_LOCK_KIND, 2);
        fz_put32(b, FZ_LOCK_ID, (uint32_t)semid);
    }
    rc = shmlink_remove(addr);
    FUZZ_CHECK(rc == 0);
    shmlink_segment_close(seg);
    fz_semset_remove(semid);
    return 0;
}
