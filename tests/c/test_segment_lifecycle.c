/* Segment life cycle on both backends: create, memory reads zero, open a
 * second view that shares the bytes, close (NULL-safe), remove by handle and
 * by address, exclusive create (-EEXIST), open/remove of a missing segment
 * (-ENOENT), bad arguments (-EINVAL), sizes that are not page multiples. */
#include "helpers.h"

static void check_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            ASSERT_EQ(p[i], 0);
}

static void run(shmlink_backend backend)
{
    /* At least 3 bytes so first, middle and last byte differ. */
    static const size_t sizes[] = {3, 100, 4096, 4097, 65536 + 13, 1 << 20};
    char addr[SHMLINK_ADDRESS_MAX];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        shmlink_segment *a = NULL, *b = NULL;
        t_addr(backend, addr, "life");
        ASSERT_OK(t_create(addr, size, 0600, &a));
        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(shmlink_segment_data(a));
        ASSERT_UEQ(shmlink_segment_size(a), size);
        ASSERT_EQ(shmlink_segment_readonly(a), 0);
        check_zero(shmlink_segment_data(a), size);

        /* Canonical address: the parsed form of what we passed in. */
        shmlink_address pa;
        char canon[SHMLINK_ADDRESS_MAX];
        ASSERT_OK(shmlink_address_parse(addr, &pa));
        ASSERT_NONNEG(shmlink_address_format(&pa, canon, sizeof(canon)));
        ASSERT_STREQ(shmlink_segment_address(a), canon);

        /* Exclusive: a second create fails and leaves the first intact. */
        unsigned char *pa_data = shmlink_segment_data(a);
        pa_data[0] = 0xab;
        pa_data[size - 1] = 0xcd;
        shmlink_segment *dup = NULL;
        ASSERT_ERR(shmlink_segment_create(addr, size, 0600, &dup), -EEXIST);
        ASSERT_NULL(dup);
        ASSERT_ERR(shmlink_segment_create(addr, size * 2, 0644, &dup), -EEXIST);

        /* Open discovers the whole size and shares the bytes. */
        ASSERT_OK(shmlink_segment_open(addr, 0, &b));
        ASSERT_UEQ(shmlink_segment_size(b), size);
        ASSERT_STREQ(shmlink_segment_address(b), canon);
        unsigned char *pb = shmlink_segment_data(b);
        ASSERT_NE(pb, pa_data); /* a distinct mapping ... */
        ASSERT_EQ(pb[0], 0xab); /* ... of the same memory */
        ASSERT_EQ(pb[size - 1], 0xcd);
        pb[size / 2] = 0x77;
        ASSERT_EQ(pa_data[size / 2], 0x77);

        /* Close one view; the segment and the other view live on. */
        shmlink_segment_close(b);
        ASSERT_EQ(pa_data[size / 2], 0x77);
        ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &b));
        ASSERT_EQ(shmlink_segment_readonly(b), 1);
        ASSERT_EQ(((unsigned char *)shmlink_segment_data(b))[0], 0xab);
        shmlink_segment_close(b);
        shmlink_segment_close(a);

        /* Closing every view keeps the segment. */
        ASSERT_OK(shmlink_segment_open(addr, 0, &a));
        ASSERT_EQ(((unsigned char *)shmlink_segment_data(a))[size - 1], 0xcd);

        /* Remove: by handle on even sizes, by address on odd ones. */
        if (i % 2 == 0)
            ASSERT_OK(shmlink_segment_remove(a));
        else
            ASSERT_OK(shmlink_remove(addr));
        t_unregister(addr);
        ASSERT_ERR(shmlink_segment_remove(a), -ENOENT);
        ASSERT_ERR(shmlink_remove(addr), -ENOENT);
        shmlink_segment_close(a);
        ASSERT_ERR(shmlink_segment_open(addr, 0, &b), -ENOENT);
        ASSERT_ERR(shmlink_remove(addr), -ENOENT);

        /* The address is free again: a new create succeeds, zeroed. */
        ASSERT_OK(t_create(addr, size, 0600, &a));
        check_zero(shmlink_segment_data(a), size);
        ASSERT_OK(shmlink_segment_remove(a));
        t_unregister(addr);
        shmlink_segment_close(a);
    }

    /* One byte is a valid size. */
    shmlink_segment *one = NULL, *one2 = NULL;
    t_addr(backend, addr, "one");
    ASSERT_OK(t_create(addr, 1, 0600, &one));
    *(unsigned char *)shmlink_segment_data(one) = 9;
    ASSERT_OK(shmlink_segment_open(addr, 0, &one2));
    ASSERT_UEQ(shmlink_segment_size(one2), 1);
    ASSERT_EQ(*(unsigned char *)shmlink_segment_data(one2), 9);
    shmlink_segment_close(one2);
    ASSERT_OK(shmlink_segment_remove(one));
    t_unregister(addr);
    shmlink_segment_close(one);

    /* Missing segment. */
    shmlink_segment *s = NULL;
    shmlink_stat st;
    t_addr(backend, addr, "missing");
    ASSERT_ERR(shmlink_segment_open(addr, 0, &s), -ENOENT);
    ASSERT_ERR(shmlink_segment_open(addr, SHMLINK_RDONLY, &s), -ENOENT);
    ASSERT_ERR(shmlink_remove(addr), -ENOENT);
    ASSERT_ERR(shmlink_stat_address(addr, &st), -ENOENT);
    ASSERT_NULL(s);

    /* Bad arguments: nothing is created. */
    t_addr(backend, addr, "bad");
    t_register(addr); /* in case a bug creates it anyway */
    ASSERT_ERR(shmlink_segment_create(addr, 0, 0600, &s), -EINVAL);
    ASSERT_ERR(shmlink_segment_create(addr, 4096, 01000, &s), -EINVAL);
    ASSERT_ERR(shmlink_segment_create(addr, 4096, 04600, &s), -EINVAL);
    ASSERT_ERR(shmlink_segment_create(addr, 4096, 0600, NULL), -EINVAL);
    ASSERT_ERR(shmlink_segment_open(addr, 0x2, &s), -EINVAL);
    ASSERT_ERR(shmlink_segment_open(addr, 0, NULL), -EINVAL);
    ASSERT_ERR(shmlink_remove(addr), -ENOENT); /* still nothing there */
    ASSERT_NULL(s);
}

int main(void)
{
    run(SHMLINK_BACKEND_POSIX);
    run(SHMLINK_BACKEND_SYSV);

    /* Address kinds that make no sense for the operation. */
    shmlink_segment *s = NULL;
    shmlink_stat st;
    ASSERT_ERR(shmlink_segment_create("sysv-id:1", 4096, 0600, &s), -EINVAL);
    ASSERT_ERR(shmlink_segment_open("sysv:private", 0, &s), -EINVAL);
    ASSERT_ERR(shmlink_remove("sysv:private"), -EINVAL);
    ASSERT_ERR(shmlink_stat_address("sysv:private", &st), -EINVAL);
    ASSERT_ERR(shmlink_stat_address("/x", NULL), -EINVAL);
    ASSERT_NULL(s);

    /* NULL handles. */
    shmlink_segment_close(NULL);
    ASSERT_NULL(shmlink_segment_data(NULL));
    ASSERT_UEQ(shmlink_segment_size(NULL), 0);
    ASSERT_STREQ(shmlink_segment_address(NULL), "");
    ASSERT_ERR(shmlink_segment_remove(NULL), -EINVAL);
    ASSERT_ERR(shmlink_segment_stat(NULL, &st), -EINVAL);

    printf("test_segment_lifecycle: ok\n");
    return T_EXIT_PASS;
}
