/*
 * The fan-out API and format on both backends: config checks; the header
 * and lock set of a fan-out channel (section 13.1) and that 1:1 channels
 * keep theirs (header size 512, no flags, 3 semaphores); an unknown
 * feature bit is refused; -EBUSY once every reader slot is held by a
 * live process, a freed slot is taken again; stat, slots and info of a
 * fan-out channel; remove leaves no semaphore set behind.
 */
#include <sys/sem.h>

#include "fanout_util.h"

static void test_config(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *ch;
    shmlink_channel_config cfg = {4096, 0600, 4, 1, SHMLINK_BROADCAST};
    t_posix_addr(addr, "cfg");
    ASSERT_ERR(shmlink_channel_create_config(addr, NULL, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.readers = 0;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.readers = 65;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.readers = 2;
    cfg.writers = 0;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.writers = 65;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.writers = 2;
    cfg.fanout = SHMLINK_BROADCAST; /* broadcast has one writer */
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.writers = 1;
    cfg.fanout = SHMLINK_ONE;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.fanout = (shmlink_fanout)7;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch),
               -EINVAL);
    cfg.fanout = SHMLINK_QUEUE;
    ASSERT_ERR(shmlink_channel_create_config(addr, &cfg, (shmlink_role)3, &ch),
               -EINVAL);
    /* SHMLINK_ONE with one reader is the 1:1 channel */
    cfg.fanout = SHMLINK_ONE;
    cfg.readers = 1;
    ASSERT_OK(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &ch));
    t_register(addr);
    shmlink_fanout fo;
    unsigned slot = 9;
    ASSERT_EQ(shmlink_channel_fanout_of(ch, &fo, &slot), 1);
    ASSERT_EQ(fo, SHMLINK_ONE);
    ASSERT_EQ(slot, 0);
    shmlink_channel_close(ch);
    ASSERT_OK(t_remove(addr));
}

/* Header fields of the segment at addr (read-only mapping). */
static void header(const char *addr, uint32_t *hs, uint32_t *flags,
                   uint32_t *readers, uint32_t *writers, uint32_t *lock_id)
{
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &seg));
    const uint8_t *b = shmlink_segment_data(seg);
    memcpy(hs, b + 12, 4);
    memcpy(flags, b + 32, 4);
    memcpy(readers, b + 40, 4);
    memcpy(writers, b + 44, 4);
    memcpy(lock_id, b + 412, 4);
    shmlink_segment_close(seg);
}

static void test_format(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    uint32_t hs, flags, readers, writers, lock_id;
    /* 1:1: as it always was */
    shmlink_channel *one;
    t_addr(be, addr, "one");
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &one));
    t_register(addr);
    header(addr, &hs, &flags, &readers, &writers, &lock_id);
    ASSERT_EQ(hs, 512);
    ASSERT_EQ(flags, 0);
    ASSERT_EQ(readers, 0);
    ASSERT_EQ(writers, 0);
    if (be == SHMLINK_BACKEND_SYSV) {
        struct semid_ds ds;
        ASSERT_SYS(semctl((int)lock_id, 0, IPC_STAT, &ds));
        ASSERT_EQ(ds.sem_nsems, 3);
    }
    shmlink_channel_close(one);
    ASSERT_OK(t_remove(addr));

    static const struct {
        shmlink_fanout fo;
        unsigned readers;
        uint32_t flags, hs;
    } cases[] = {
        {SHMLINK_BROADCAST, 1, 1, 4096},
        {SHMLINK_QUEUE, 27, 2, 4096},
        {SHMLINK_BROADCAST, 28, 1, 8192},
        {SHMLINK_QUEUE, 64, 2, 12288},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        shmlink_channel *w = fo_create(be, cases[i].fo, cases[i].readers, 8192,
                                       SHMLINK_WRITER, addr);
        header(addr, &hs, &flags, &readers, &writers, &lock_id);
        ASSERT_EQ(hs, cases[i].hs);
        ASSERT_EQ(flags, cases[i].flags);
        ASSERT_EQ(readers, cases[i].readers);
        ASSERT_EQ(writers, 1);
        shmlink_stat st;
        ASSERT_OK(shmlink_stat_address(addr, &st));
        ASSERT_UEQ(st.size, cases[i].hs + 8192);
        int semid = (int)lock_id;
        if (be == SHMLINK_BACKEND_SYSV) {
            struct semid_ds ds;
            ASSERT_SYS(semctl(semid, 0, IPC_STAT, &ds));
            ASSERT_EQ(ds.sem_nsems, cases[i].readers + 2);
            /* the writer holds the semaphore after the reader slots */
            ASSERT_EQ(semctl(semid, (int)cases[i].readers, GETVAL), 1);
        }
        /* every slot can be taken, then -EBUSY */
        shmlink_channel *r[64];
        for (unsigned k = 0; k < cases[i].readers; k++) {
            r[k] = fo_open(addr, SHMLINK_READER);
            unsigned slot;
            shmlink_fanout fo;
            ASSERT_EQ(shmlink_channel_fanout_of(r[k], &fo, &slot),
                      (int)cases[i].readers);
            ASSERT_EQ(slot, k);
            ASSERT_EQ(fo, cases[i].fo);
        }
        shmlink_channel *x;
        ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &x), -EBUSY);
        ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &x), -EBUSY);
        /* a freed slot is taken by the next reader */
        unsigned mid = cases[i].readers / 2;
        ASSERT_OK(shmlink_channel_close(r[mid]));
        r[mid] = fo_open(addr, SHMLINK_READER);
        unsigned slot;
        shmlink_channel_fanout_of(r[mid], NULL, &slot);
        ASSERT_EQ(slot, mid);
        for (unsigned k = 0; k < cases[i].readers; k++)
            shmlink_channel_close(r[k]);
        shmlink_channel_close(w);
        ASSERT_OK(t_remove(addr));
        if (be == SHMLINK_BACKEND_SYSV) {
            struct semid_ds ds;
            ASSERT_EQ(semctl(semid, 0, IPC_STAT, &ds), -1); /* removed */
        }
    }
}

/* A version-2 channel with a feature bit this implementation does not know
 * (bit 3) is refused, as BROADCAST | QUEUE together is. */
static void test_unknown_bits(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 2, 4096, SHMLINK_WRITER, addr);
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    uint8_t *b = shmlink_segment_data(seg);
    uint32_t flags = 2 | 8, both = 3, ok = 2;
    memcpy(b + 32, &flags, 4);
    shmlink_channel *r;
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &r), -EPROTO);
    shmlink_channel_info info;
    ASSERT_ERR(shmlink_channel_stat(addr, &info), -EPROTO);
    memcpy(b + 32, &both, 4);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &r), -EPROTO);
    memcpy(b + 32, &ok, 4);
    uint32_t readers = 65;
    memcpy(b + 40, &readers, 4);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &r), -EPROTO);
    readers = 2;
    memcpy(b + 40, &readers, 4);
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    shmlink_channel_close(r);
    shmlink_segment_close(seg);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* stat, info and slots of a broadcast channel with readers at different
 * positions, one dead slot, one never used. */
static void test_stat(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 4, 4096, SHMLINK_WRITER, addr);
    shmlink_channel *a = fo_open(addr, SHMLINK_READER);
    shmlink_channel *b = fo_open(addr, SHMLINK_READER);
    for (uint64_t i = 0; i < 10; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    for (int i = 0; i < 4; i++)
        fo_recv(a, 0, NULL);
    shmlink_channel *c = fo_open(addr, SHMLINK_READER); /* joins at 320 */
    ASSERT_OK(shmlink_channel_close(b));
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_EQ(info.version, 2);
    ASSERT_UEQ(info.messages_sent, 10);
    ASSERT_UEQ(info.messages_received, 4);
    ASSERT_UEQ(info.used, 6 * 32); /* the slowest joined live reader */
    ASSERT_EQ(info.writer_alive, 1);
    ASSERT_EQ(info.writer_pid, getpid());
    ASSERT_EQ(info.reader_alive, 1);
    ASSERT_EQ(info.reader_pid, getpid());
    ASSERT_EQ(info.closed, 0);
    shmlink_slot_info si[8];
    shmlink_fanout fo;
    ASSERT_EQ(shmlink_channel_slots(addr, &fo, si, 8), 4);
    ASSERT_EQ(fo, SHMLINK_BROADCAST);
    ASSERT_EQ(si[0].alive, 1);
    ASSERT_EQ(si[0].state, 1);
    ASSERT_UEQ(si[0].position, 128);
    ASSERT_UEQ(si[0].lag, 192);
    ASSERT_UEQ(si[0].messages_received, 4);
    ASSERT_EQ(si[1].alive, 0); /* b closed; c took slot 2 */
    ASSERT_EQ(si[1].gone, 1);
    ASSERT_EQ(si[1].pid, 0);
    ASSERT_EQ(si[2].alive, 1);
    ASSERT_UEQ(si[2].position, 320);
    ASSERT_UEQ(si[2].lag, 0);
    ASSERT_EQ(si[3].alive, 0);
    ASSERT_EQ(si[3].gone, 0);
    /* same through the handle, and a short array */
    ASSERT_EQ(shmlink_channel_slots_get(a, NULL, si, 1), 4);
    ASSERT_UEQ(si[0].position, 128);
    ASSERT_OK(shmlink_channel_info_get(c, &info));
    ASSERT_UEQ(info.messages_sent, 10);
    /* a 1:1 channel has one slot: its reader */
    char one[SHMLINK_ADDRESS_MAX];
    shmlink_channel *ow, *orr;
    t_addr(be, one, "one");
    ASSERT_OK(shmlink_channel_create(one, 4096, 0600, SHMLINK_WRITER, &ow));
    t_register(one);
    orr = fo_open(one, SHMLINK_READER);
    ASSERT_OK(fo_send24(ow, 1, 0));
    ASSERT_EQ(shmlink_channel_slots(one, &fo, si, 8), 1);
    ASSERT_EQ(fo, SHMLINK_ONE);
    ASSERT_EQ(si[0].alive, 1);
    ASSERT_UEQ(si[0].lag, 32);
    shmlink_channel_close(orr);
    shmlink_channel_close(ow);
    ASSERT_OK(t_remove(one));
    /* queue: used counts what is not taken */
    shmlink_channel_close(a);
    shmlink_channel_close(c);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
    w = fo_create(be, SHMLINK_QUEUE, 2, 4096, SHMLINK_WRITER, addr);
    a = fo_open(addr, SHMLINK_READER);
    for (uint64_t i = 0; i < 5; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    const void *p;
    size_t n;
    ASSERT_OK(shmlink_channel_peek(a, &p, &n, 0));
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_UEQ(info.used, 4 * 32);
    ASSERT_EQ(shmlink_channel_slots(addr, &fo, si, 2), 2);
    ASSERT_EQ(fo, SHMLINK_QUEUE);
    ASSERT_EQ(si[0].state, 2);
    ASSERT_UEQ(si[0].position, 0);
    ASSERT_OK(shmlink_channel_release(a));
    shmlink_channel_close(a);
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_EQ(info.reader_alive, 0);
    ASSERT_EQ(info.reader_gone, 1);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    test_config();
    shmlink_backend bes[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        printf("%s\n", t_backend_name(bes[i]));
        test_format(bes[i]);
        test_unknown_bits(bes[i]);
        test_stat(bes[i]);
    }
    return T_EXIT_PASS;
}
