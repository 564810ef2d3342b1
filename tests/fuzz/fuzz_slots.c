/*
 * libFuzzer target over the channels with slots (docs/PROTOCOL.md 13):
 * broadcast and queue with several reader slots, many writers each owning
 * a ring, and a queue fed by many writers.
 *
 * Each input starts from a fresh, valid channel of one geometry (made once
 * per process and restored from a snapshot before every input: the header
 * and slots page as the creator left it, the rings zeroed). Capacity 4096
 * per ring; the header page is 4096 bytes for every geometry here (512 +
 * 128 * (R + W) rounded up), ring w at 4096 + 4096 * w. Several reader and
 * writer handles share that one mapping (shmlink__channel_attach), each
 * holding a slot of its own (POSIX OFD locks: one owner per handle).
 *
 * Input layout:
 *   byte 0        geometry (low 3 bits):
 *                   0 broadcast R=2   1 broadcast R=3
 *                   2 queue R=2       3 queue R=3
 *                   4 fan-in W=2      5 fan-in W=3
 *                   6 queue R=2 W=2   7 queue R=3 W=3
 *   then a script of operations, one byte o each: code o & 15, argument
 *   a = o >> 4 (h = a & 3 picks one of four reader or writer handles, v =
 *   a >> 2 a variant), some followed by operand bytes:
 *     0 PATCH   (a = 0) p, u16 offset (modulo the mapping's size), value:
 *               p & 3 = 0 one byte, 1 u32, 2 u64 (p & 4: add instead of
 *               store), 3 a block of (p >> 2) + 1 bytes: records, and any
 *               other byte of the header and slots page.
 *       FIELD   (a != 0) f, 8 value bytes, stored (a even) or added (a
 *               odd) to a named field: f >> 6 = 0 reader slot (f >> 3) & 7
 *               (modulo R): owner, pos, end, state, messages_received,
 *               gone, the unused word, the ring bits 8-15 of state (f & 7);
 *               1 writer slot (modulo W): owner, write_pos, messages_sent,
 *               closed, reply_kind, reply_id, writer_sleep, head; 2 and 3
 *               a header field (see header_fields).
 *     1 OPEN reader h        2 OPEN writer h
 *     3 CLOSE reader h       4 CLOSE writer h
 *     5 SEND    writer h, n: length n * 8 + v
 *     6 RESERVE writer h, n: length n * 8 + 1; then v = 0 commit all,
 *               1 commit half, 2 abort, 3 keep it for a later COMMIT
 *     7 COMMIT  writer h, n: length n * 8 + v
 *     8 RECV    reader h, n: buffer n * 16 + v
 *     9 PEEK    reader h (kept until RELEASE, CLOSE or the end)
 *    10 RELEASE reader h
 *    11 BATCH   reader h, n: buffer n * 32, at most v * 3 + 1 messages
 *    12 WAIT    v & 1 ? writer h (length n) : reader h; v & 2: interrupt
 *               the handle first
 *    13 INFO    handle h (v & 1: writer): info_get, slots_get,
 *               writer_slots_get, fanout_of, writers, source; v & 2: also
 *               stat, slots and writer slots by address
 *    14 FILL    writer h, n: sends of length n * 8 + v until one fails
 *    15 DRAIN   reader h: v & 1 ? peek + release : recv, until one fails
 * After the script every handle still open runs each of its calls once,
 * then every handle is closed. Every call has timeout 0 and must return;
 * every pointer a peek or a reserve hands out must lie inside a ring of
 * the geometry that handle validated (the ring the message came from, for
 * a peek: shmlink_channel_source), every length within max_message. ASan
 * and UBSan catch any other stray access.
 *
 * Build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSHMLINK_FUZZ=ON
 *        cmake --build build-fuzz --target fuzz_slots
 * Run:   build-fuzz/tests/fuzz/fuzz_slots -max_total_time=60
 *        tests/fuzz/corpus/fuzz_slots
 */
#include "fuzz_util.h"

#include "channel_internal.h"

#define CAP     4096u
#define NGEOM   8
#define HANDLES 4

struct geom {
    shmlink_fanout fanout;
    unsigned readers, writers;
};

static const struct geom geoms[NGEOM] = {
    {SHMLINK_BROADCAST, 2, 1}, {SHMLINK_BROADCAST, 3, 1}, {SHMLINK_QUEUE, 2, 1},
    {SHMLINK_QUEUE, 3, 1},     {SHMLINK_ONE, 1, 2},       {SHMLINK_ONE, 1, 3},
    {SHMLINK_QUEUE, 2, 2},     {SHMLINK_QUEUE, 3, 3},
};

struct chan {
    shmlink_segment *seg;
    char address[128];
    uint8_t *template_page; /* the header and slots page after create */
    size_t hdr;             /* header size of the geometry */
};

static struct chan chans[NGEOM];

/* FUZZ_SLOTS_TRACE=1 prints each call and its result (to see what a seed
 * or a crashing input does). */
static int trace;

/* What a handle validated when it attached: where its rings are. */
struct handle {
    shmlink_channel *ch;
    uint64_t hdr, cap, max_msg;
    unsigned writers;
    int peeking;     /* reader: a peek not released */
    size_t reserved; /* writer: length of a pending reservation, 0 none */
    int reserving;
};

static struct handle readers[HANDLES], writers[HANDLES];
static shmlink_segment *cur_seg;
static const char *cur_address;
static uint8_t *base;
static size_t map_size;
static uint8_t buf[2 * CAP];

static void cleanup(void)
{
    for (int g = 0; g < NGEOM; g++) {
        if (chans[g].seg) {
            (void)shmlink_segment_remove(chans[g].seg);
            shmlink_segment_close(chans[g].seg);
            chans[g].seg = NULL;
        }
        free(chans[g].template_page);
    }
}

static void setup(void)
{
    trace = getenv("FUZZ_SLOTS_TRACE") != NULL;
    for (int g = 0; g < NGEOM; g++) {
        struct chan *c = &chans[g];
        fz_address(c->address, sizeof c->address, "slots", 0);
        shmlink_channel_config cfg = {CAP, 0600, geoms[g].readers,
                                      geoms[g].writers, geoms[g].fanout};
        shmlink_channel *w;
        int rc =
            shmlink_channel_create_config(c->address, &cfg, SHMLINK_WRITER, &w);
        if (rc < 0) {
            fprintf(stderr, "fuzz: create %s: %s\n", c->address,
                    shmlink_strerror(rc));
            abort();
        }
        shmlink_channel_close(w);
        rc = shmlink_segment_open(c->address, 0, &c->seg);
        FUZZ_CHECK(rc == 0);
        if (g == 0)
            atexit(cleanup);
        uint8_t *b = shmlink_segment_data(c->seg);
        c->hdr = fz_get32(b, FZ_HEADER_SIZE);
        FUZZ_CHECK(c->hdr == 4096);
        FUZZ_CHECK(shmlink_segment_size(c->seg) >=
                   c->hdr + (size_t)CAP * geoms[g].writers);
        c->template_page = malloc(c->hdr);
        FUZZ_CHECK(c->template_page != NULL);
        memcpy(c->template_page, b, c->hdr);
        /* The creator's close left writer slot 0 closed: start from a
         * slot that was never held instead, so that readers wait. */
        size_t ws0 = 512 + 128 * (size_t)geoms[g].readers;
        memset(c->template_page + ws0 + 24, 0, 4);
        memset(c->template_page + ws0, 0, 8);
    }
}

static void fail_rc(const char *what, int rc)
{
    fprintf(stderr, "fuzz_slots: %s returned %d (%s)\n", what, rc,
            shmlink_strerror(rc));
    abort();
}

/* Return codes a call with timeout 0 may give on a corrupt or busy
 * channel. */
static int rc_data_ok(int rc)
{
    return rc == 0 || rc == -ETIMEDOUT || rc == -EMSGSIZE || rc == -EPROTO ||
           rc == -ENODATA || rc == -EPIPE;
}

static void note(const char *what, int rc)
{
    if (trace)
        fprintf(stderr, "  %s -> %d\n", what, rc);
}

static void check_rc(const char *what, int rc)
{
    note(what, rc);
    if (!rc_data_ok(rc))
        fail_rc(what, rc);
}

/* [p, p + n) inside ring w of what handle h validated, after the record
 * header; w < its writers. */
static void check_in_ring(const struct handle *h, unsigned w, const void *p,
                          size_t n, const char *what)
{
    const uint8_t *q = p;
    if (w >= h->writers) {
        fprintf(stderr, "fuzz_slots: %s: ring %u of %u\n", what, w, h->writers);
        abort();
    }
    const uint8_t *ring = base + h->hdr + (size_t)w * h->cap;
    if (ring + h->cap > base + map_size || q < ring + 8 || q > ring + h->cap ||
        (size_t)(ring + h->cap - q) < n || n > h->max_msg) {
        fprintf(stderr,
                "fuzz_slots: %s: %zu bytes at offset %td outside ring %u "
                "(%llu + %llu)\n",
                what, n, q - base, w, (unsigned long long)(h->hdr + w * h->cap),
                (unsigned long long)h->cap);
        abort();
    }
}

static void do_open(struct handle *h, shmlink_role role)
{
    if (h->ch)
        return;
    /* A zero version (a creator still writing) makes an open wait 1 s;
     * the unit tests cover that wait. */
    if (fz_header_pending(base, map_size))
        return;
    /* What the open will validate (nothing changes the header between
     * these loads and the attach: one thread). */
    uint32_t flags = fz_get32(base, FZ_FLAGS);
    uint64_t cap = fz_get64(base, FZ_CAPACITY);
    uint64_t max_msg = fz_get64(base, FZ_MAX_MESSAGE);
    uint32_t r = flags ? fz_get32(base, 40) : 1;
    uint32_t w = flags ? fz_get32(base, 44) : 1;
    uint64_t hdr =
        flags ? (512 + 128 * ((uint64_t)r + w) + 4095) / 4096 * 4096 : 512;
    int rc = shmlink__channel_attach(cur_seg, role, &h->ch);
    note(role == SHMLINK_READER ? "open reader" : "open writer", rc);
    if (rc == 0) {
        h->hdr = hdr;
        h->cap = cap;
        h->max_msg = max_msg;
        h->writers = w;
        h->peeking = 0;
        h->reserving = 0;
        FUZZ_CHECK(flags == 0 || (r >= 1 && r <= 64 && w >= 1 && w <= 64));
        FUZZ_CHECK(hdr + w * cap <= map_size);
        FUZZ_CHECK(max_msg == cap / 2 - 8);
    } else if (rc != -EBUSY && rc != -EPROTO) {
        fail_rc("open", rc);
    }
}

static void do_close(struct handle *h)
{
    if (!h->ch)
        return;
    int rc = shmlink_channel_close(h->ch);
    note("close", rc);
    h->ch = NULL;
    if (rc != 0 && rc != -EPROTO)
        fail_rc("close", rc);
}

static void do_send(struct handle *h, size_t len)
{
    if (!h->ch)
        return;
    if (h->reserving) {
        /* one reservation at a time */
        int rc = shmlink_channel_send(h->ch, buf, len, 0);
        if (rc != -EINVAL && rc != -EPROTO)
            fail_rc("send during a reservation", rc);
        return;
    }
    memset(buf, (int)len, len < sizeof buf ? len : sizeof buf);
    check_rc("send", shmlink_channel_send(h->ch, buf, len, 0));
}

static void do_reserve(struct handle *h, size_t len, unsigned v)
{
    if (!h->ch)
        return;
    void *p = NULL;
    int rc = shmlink_channel_reserve(h->ch, len, &p, 0);
    if (h->reserving) {
        if (rc != -EINVAL && rc != -EPROTO)
            fail_rc("reserve during a reservation", rc);
        return;
    }
    check_rc("reserve", rc);
    if (rc != 0)
        return;
    shmlink_fanout fan;
    unsigned slot = 0;
    FUZZ_CHECK(shmlink_channel_fanout_of(h->ch, &fan, &slot) >= 1);
    check_in_ring(h, slot, p, len, "reserve");
    memset(p, 0xa5, len);
    h->reserving = 1;
    h->reserved = len;
    switch (v) {
    case 0: rc = shmlink_channel_commit(h->ch, len); break;
    case 1: rc = shmlink_channel_commit(h->ch, len / 2); break;
    case 2: rc = shmlink_channel_abort(h->ch); break;
    default: return;
    }
    h->reserving = 0;
    if (rc != 0 && rc != -EPROTO)
        fail_rc("commit / abort", rc);
}

static void do_commit(struct handle *h, size_t len)
{
    if (!h->ch)
        return;
    int rc = shmlink_channel_commit(h->ch, len);
    if (!h->reserving) {
        if (rc != -EINVAL && rc != -EPROTO)
            fail_rc("commit without a reservation", rc);
        return;
    }
    if (len > h->reserved) {
        if (rc != -EINVAL && rc != -EMSGSIZE && rc != -EPROTO)
            fail_rc("commit past the reservation", rc);
        return; /* the reservation stays */
    }
    h->reserving = 0;
    if (rc != 0 && rc != -EPROTO)
        fail_rc("commit", rc);
}

static void do_recv(struct handle *h, size_t cap)
{
    if (!h->ch)
        return;
    size_t len = 0;
    int rc = shmlink_channel_recv(h->ch, buf, cap, &len, 0);
    check_rc("recv", rc);
    h->peeking = 0; /* a recv during a peek delivers the peeked message */
    if (rc == 0) {
        FUZZ_CHECK(len <= cap && len <= h->max_msg);
        int src = shmlink_channel_source(h->ch);
        FUZZ_CHECK(src >= 0 && (unsigned)src < h->writers);
    }
}

static void do_peek(struct handle *h)
{
    if (!h->ch)
        return;
    const void *p = NULL;
    size_t len = 0;
    int rc = shmlink_channel_peek(h->ch, &p, &len, 0);
    check_rc("peek", rc);
    if (rc != 0)
        return;
    int src = shmlink_channel_source(h->ch);
    FUZZ_CHECK(src >= 0);
    check_in_ring(h, (unsigned)src, p, len, "peek");
    memcpy(buf, p, len);
    h->peeking = 1;
}

static void do_release(struct handle *h)
{
    if (!h->ch)
        return;
    int rc = shmlink_channel_release(h->ch);
    note("release", rc);
    if (rc != 0 && rc != -EINVAL && rc != -EPROTO)
        fail_rc("release", rc);
    if (h->peeking && rc == -EINVAL)
        fail_rc("release of a peek", rc);
    h->peeking = 0;
}

static void do_batch(struct handle *h, size_t cap, size_t max)
{
    if (!h->ch)
        return;
    size_t lens[16];
    FUZZ_CHECK(max <= 16);
    int rc = shmlink_channel_recv_batch(h->ch, buf, cap, lens, max, 0);
    h->peeking = 0;
    if (rc > 0) {
        note("recv_batch", rc);
        FUZZ_CHECK((size_t)rc <= max);
        size_t sum = 0;
        for (int i = 0; i < rc; i++) {
            FUZZ_CHECK(lens[i] <= h->max_msg);
            sum += lens[i];
        }
        FUZZ_CHECK(sum <= cap);
        int src = shmlink_channel_source(h->ch);
        FUZZ_CHECK(src >= 0 && (unsigned)src < h->writers);
    } else if (rc == 0) {
        fail_rc("recv_batch", rc);
    } else {
        check_rc("recv_batch", rc);
    }
}

static void do_wait(struct handle *h, size_t len, int interrupt)
{
    if (!h->ch)
        return;
    uint64_t since = shmlink_channel_interrupts(h->ch);
    if (interrupt)
        FUZZ_CHECK(shmlink_channel_interrupt(h->ch) == 0);
    int rc = shmlink_channel_wait(h->ch, len, 0, since);
    if (rc == -ECANCELED && interrupt)
        return;
    if (h->reserving) {
        /* a writer cannot wait for room while it holds a reservation */
        if (rc != -EINVAL && rc != -EPROTO)
            fail_rc("wait during a reservation", rc);
        return;
    }
    check_rc("wait", rc);
}

/* The first min(n, 8) writer slots a listing returned (n < 0: none):
 * indexes in order, flags and used within their ranges whatever the
 * slots hold. */
static void check_writer_slots(const shmlink_writer_slot_info *wi, int n)
{
    for (int i = 0; i < n && i < 8; i++) {
        FUZZ_CHECK(wi[i].slot == (uint32_t)i);
        FUZZ_CHECK(wi[i].alive >= -1 && wi[i].alive <= 1);
        FUZZ_CHECK(wi[i].closed == 0 || wi[i].closed == 1);
        FUZZ_CHECK(wi[i].used <= (1ull << 30));
    }
}

static void do_info(struct handle *h, int by_address)
{
    shmlink_channel_info info;
    (void)shmlink_channel_inspect(base, map_size, &info);
    if (by_address) {
        (void)shmlink_channel_stat(cur_address, &info);
        shmlink_slot_info si[8];
        shmlink_fanout fan;
        int n = shmlink_channel_slots(cur_address, &fan, si, 8);
        FUZZ_CHECK(n != 0 && n <= 64);
        shmlink_writer_slot_info wi[8];
        n = shmlink_channel_writer_slots(cur_address, wi, 8);
        FUZZ_CHECK(n != 0 && n <= 64);
        check_writer_slots(wi, n);
    }
    if (!h->ch)
        return;
    int rc = shmlink_channel_info_get(h->ch, &info);
    note("info_get", rc);
    if (rc != 0 && rc != -EPROTO)
        fail_rc("info_get", rc);
    shmlink_slot_info si[8];
    shmlink_fanout fan;
    rc = shmlink_channel_slots_get(h->ch, &fan, si, 8);
    note("slots_get", rc);
    if (rc < 0 && rc != -EPROTO)
        fail_rc("slots_get", rc);
    FUZZ_CHECK(rc != 0 && rc <= 64);
    for (int i = 0; i < rc && i < 8; i++)
        FUZZ_CHECK(si[i].slot == (uint32_t)i);
    shmlink_writer_slot_info wi[8];
    rc = shmlink_channel_writer_slots_get(h->ch, wi, 8);
    note("writer_slots_get", rc);
    if (rc < 0 && rc != -EPROTO)
        fail_rc("writer_slots_get", rc);
    FUZZ_CHECK(rc != 0 && rc <= 64);
    check_writer_slots(wi, rc);
    unsigned slot = 0;
    rc = shmlink_channel_fanout_of(h->ch, &fan, &slot);
    FUZZ_CHECK(rc >= 1 && rc <= 64 && slot < 64);
    rc = shmlink_channel_writers(h->ch);
    FUZZ_CHECK(rc >= 1 && (unsigned)rc == h->writers);
    rc = shmlink_channel_source(h->ch);
    if (shmlink_channel_role(h->ch) == SHMLINK_READER)
        FUZZ_CHECK(rc >= 0 && (unsigned)rc < h->writers);
    else
        FUZZ_CHECK(rc == -EINVAL);
}

static void do_patch(const uint8_t **data, size_t *size)
{
    if (*size < 3)
        return;
    unsigned p = (*data)[0];
    size_t off = ((size_t)(*data)[1] | (size_t)(*data)[2] << 8) % map_size;
    *data += 3;
    *size -= 3;
    size_t n;
    switch (p & 3) {
    case 0: n = 1; break;
    case 1: n = 4; break;
    case 2: n = 8; break;
    default: n = (p >> 2) + 1; break;
    }
    if (*size < n)
        n = *size;
    if (off + n > map_size)
        n = map_size - off;
    if ((p & 3) == 1 && (p & 4) && n == 4) {
        fz_put32(base, off, fz_get32(base, off) + fz_get32(*data, 0));
    } else if ((p & 3) == 2 && (p & 4) && n == 8) {
        fz_put64(base, off, fz_get64(base, off) + fz_get64(*data, 0));
    } else {
        memcpy(base + off, *data, n);
    }
    *data += n;
    *size -= n;
}

/* A named field of the geometry the input started from: offset and size. */
struct field {
    unsigned short off, size;
};

/* Header fields (docs/PROTOCOL.md 1 and 13.1), the 1:1 words included. */
static const struct field header_fields[] = {
    {8, 4},   {12, 4},  {16, 8},  {24, 8},  {32, 4},  {36, 4},
    {40, 4},  {44, 4},  {400, 4}, {404, 4}, {408, 4}, {412, 4},
    {416, 4}, {128, 8}, {144, 4}, {256, 8}, {272, 4}, {384, 8},
};
/* Reader slot: owner, pos, end, state, messages_received, gone, the unused
 * word, and the ring bits 8-15 of state alone. */
static const struct field reader_fields[8] = {
    {0, 8}, {8, 8}, {16, 8}, {24, 4}, {32, 8}, {40, 4}, {28, 4}, {25, 1},
};
/* Writer slot: owner, write_pos, messages_sent, closed, reply_kind,
 * reply_id, writer_sleep, head. */
static const struct field writer_fields[8] = {
    {0, 8}, {8, 8}, {16, 8}, {24, 4}, {40, 4}, {44, 4}, {64, 4}, {72, 8},
};

/* FIELD: f picks the field (f >> 6: 0 reader slot, 1 writer slot, else the
 * header; (f >> 3) & 7 the slot; f & 7 the field), then up to 8 value
 * bytes, stored (add = 0) or added to the field. */
static void do_field(const struct geom *g, int add, const uint8_t **data,
                     size_t *size)
{
    if (*size < 1)
        return;
    unsigned f = (*data)[0];
    *data += 1;
    *size -= 1;
    struct field fl;
    size_t slot = (f >> 3) & 7;
    if (f >> 6 == 0) {
        fl = reader_fields[f & 7];
        fl.off += 512 + 128 * (unsigned short)(slot % g->readers);
    } else if (f >> 6 == 1) {
        fl = writer_fields[f & 7];
        fl.off += 512 + 128 * (unsigned short)(g->readers + slot % g->writers);
    } else {
        fl = header_fields[(f & 63) %
                           (sizeof header_fields / sizeof header_fields[0])];
    }
    uint8_t raw[8] = {0};
    size_t n = *size < 8 ? *size : 8;
    memcpy(raw, *data, n);
    *data += n;
    *size -= n;
    uint64_t v = fz_get64(raw, 0);
    uint64_t old = 0;
    memcpy(&old, base + fl.off, fl.size);
    if (add)
        v += old;
    memcpy(base + fl.off, &v, fl.size); /* little-endian: the low bytes */
}

static unsigned next_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    unsigned b = (*data)[0];
    *data += 1;
    *size -= 1;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!chans[0].seg)
        setup();
    if (size == 0)
        return 0;
    struct chan *c = &chans[data[0] & 7];
    const struct geom *g = &geoms[data[0] & 7];
    if (trace)
        fprintf(stderr, "geometry %d\n", data[0] & 7);
    data++;
    size--;
    cur_seg = c->seg;
    cur_address = c->address;
    base = shmlink_segment_data(c->seg);
    map_size = shmlink_segment_size(c->seg);
    memcpy(base, c->template_page, c->hdr);
    memset(base + c->hdr, 0, map_size - c->hdr);

    while (size > 0) {
        unsigned o = next_byte(&data, &size);
        unsigned a = o >> 4, v = a >> 2;
        if (trace)
            fprintf(stderr, "op %u h %u v %u\n", o & 15, a & 3, v);
        struct handle *rh = &readers[a & 3], *wh = &writers[a & 3];
        switch (o & 15) {
        case 0:
            if (a == 0)
                do_patch(&data, &size);
            else
                do_field(g, a & 1, &data, &size);
            break;
        case 1: do_open(rh, SHMLINK_READER); break;
        case 2: do_open(wh, SHMLINK_WRITER); break;
        case 3: do_close(rh); break;
        case 4: do_close(wh); break;
        case 5: do_send(wh, next_byte(&data, &size) * 8 + v); break;
        case 6: do_reserve(wh, next_byte(&data, &size) * 8 + 1, v); break;
        case 7: do_commit(wh, next_byte(&data, &size) * 8 + v); break;
        case 8: do_recv(rh, next_byte(&data, &size) * 16 + v); break;
        case 9: do_peek(rh); break;
        case 10: do_release(rh); break;
        case 11: do_batch(rh, next_byte(&data, &size) * 32, v * 3 + 1); break;
        case 12:
            if (v & 1)
                do_wait(wh, next_byte(&data, &size), v & 2);
            else
                do_wait(rh, 0, v & 2);
            break;
        case 13: do_info(v & 1 ? wh : rh, v & 2); break;
        case 14: {
            size_t len = next_byte(&data, &size) * 8 + v;
            for (int i = 0; i < 1200 && wh->ch && !wh->reserving; i++) {
                int rc = shmlink_channel_send(wh->ch, buf, len, 0);
                check_rc("send (fill)", rc);
                if (rc != 0)
                    break;
            }
            break;
        }
        default:
            for (int i = 0; i < 1200 && rh->ch; i++) {
                size_t len;
                const void *p;
                int rc;
                if (v & 1) {
                    rc = shmlink_channel_peek(rh->ch, &p, &len, 0);
                    check_rc("peek (drain)", rc);
                    if (rc == 0) {
                        int src = shmlink_channel_source(rh->ch);
                        FUZZ_CHECK(src >= 0);
                        check_in_ring(rh, (unsigned)src, p, len, "peek");
                        rc = shmlink_channel_release(rh->ch);
                        if (rc != 0 && rc != -EPROTO)
                            fail_rc("release (drain)", rc);
                    }
                } else {
                    rc = shmlink_channel_recv(rh->ch, buf, sizeof buf, &len, 0);
                    check_rc("recv (drain)", rc);
                }
                rh->peeking = 0;
                if (rc != 0)
                    break;
            }
            break;
        }
    }

    /* Every call of every handle still open, once, then close. */
    for (int i = 0; i < HANDLES; i++) {
        do_send(&writers[i], 40 + (size_t)i);
        do_reserve(&writers[i], 100, 0);
        do_wait(&writers[i], 8, 0);
        do_info(&writers[i], 0);
    }
    for (int i = 0; i < HANDLES; i++) {
        do_recv(&readers[i], sizeof buf);
        do_peek(&readers[i]);
        do_release(&readers[i]);
        do_batch(&readers[i], sizeof buf, 16);
        do_wait(&readers[i], 0, 0);
        do_info(&readers[i], 0);
    }
    for (int i = 0; i < HANDLES; i++) {
        do_close(&readers[i]);
        do_close(&writers[i]);
    }
    return 0;
}
