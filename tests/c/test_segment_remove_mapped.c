/* Removing a segment while it is mapped: the name is gone at once (open and
 * remove say -ENOENT, a new create at the address succeeds and is a fresh
 * segment), while every existing mapping stays valid until closed; removing
 * an old handle never removes the new segment that took the name. */
#include "helpers.h"

static void run(shmlink_backend backend)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *a = NULL, *b = NULL, *fresh = NULL, *tmp = NULL;
    shmlink_stat st;
    t_addr(backend, addr, "rmmap");
    ASSERT_OK(t_create(addr, 65536, 0600, &a));
    ASSERT_OK(shmlink_segment_open(addr, 0, &b));
    memset(shmlink_segment_data(a), 'A', 65536);

    ASSERT_OK(shmlink_segment_remove(b));
    ASSERT_ERR(shmlink_segment_open(addr, 0, &tmp), -ENOENT);
    ASSERT_ERR(shmlink_remove(addr), -ENOENT);
    ASSERT_ERR(shmlink_segment_remove(a), -ENOENT);
    ASSERT_ERR(shmlink_stat_address(addr, &st), -ENOENT);
    ASSERT_NULL(tmp);

    /* Both mappings still work and still share memory. */
    unsigned char *pa = shmlink_segment_data(a), *pb = shmlink_segment_data(b);
    ASSERT_EQ(pb[65535], 'A');
    pb[0] = 'B';
    ASSERT_EQ(pa[0], 'B');
    /* Stat by handle keeps working. */
    ASSERT_OK(shmlink_segment_stat(a, &st));
    ASSERT_UEQ(st.size, 65536);

    /* The address can be used again: a new, zeroed, separate segment. */
    ASSERT_OK(t_create(addr, 4096, 0600, &fresh));
    unsigned char *pf = shmlink_segment_data(fresh);
    ASSERT_EQ(pf[0], 0);
    pf[0] = 'F';
    ASSERT_EQ(pa[0], 'B');
    /* Removing the old segment by its handle now must not remove the new
     * segment that has taken its name: it says -ENOENT, and the new one
     * is still there. */
    ASSERT_ERR(shmlink_segment_remove(a), -ENOENT);
    ASSERT_ERR(shmlink_segment_remove(b), -ENOENT);
    ASSERT_OK(shmlink_stat_address(addr, &st));
    ASSERT_UEQ(st.size, 4096);

    shmlink_segment_close(b);
    ASSERT_EQ(pa[1], 'A');
    shmlink_segment_close(a);

    ASSERT_OK(shmlink_segment_remove(fresh));
    t_unregister(addr);
    shmlink_segment_close(fresh);
}

/* A private System V segment is named by its id: once removed, the id
 * names nothing (open and stat by address say -ENOENT) even though Linux
 * would still let a process attach it until the last detach. */
static void run_private_id(void)
{
    shmlink_segment *a = NULL, *tmp = NULL;
    shmlink_stat st;
    char id_addr[SHMLINK_ADDRESS_MAX];
    ASSERT_OK(shmlink_segment_create("sysv:private", 4096, 0600, &a));
    snprintf(id_addr, sizeof(id_addr), "%s", shmlink_segment_address(a));
    t_register(id_addr);
    ASSERT_OK(shmlink_segment_open(id_addr, 0, &tmp));
    shmlink_segment_close(tmp);
    tmp = NULL;

    ASSERT_OK(shmlink_segment_remove(a));
    ASSERT_ERR(shmlink_segment_open(id_addr, 0, &tmp), -ENOENT);
    ASSERT_ERR(shmlink_segment_open(id_addr, SHMLINK_RDONLY, &tmp), -ENOENT);
    ASSERT_ERR(shmlink_stat_address(id_addr, &st), -ENOENT);
    ASSERT_ERR(shmlink_remove(id_addr), -ENOENT);
    ASSERT_NULL(tmp);
    ASSERT_OK(shmlink_segment_stat(a, &st)); /* by handle: still there */
    ASSERT_UEQ(st.size, 4096);
    t_unregister(id_addr);
    shmlink_segment_close(a);
}

int main(void)
{
    run(SHMLINK_BACKEND_POSIX);
    run(SHMLINK_BACKEND_SYSV);
    run_private_id();
    printf("test_segment_remove_mapped: ok\n");
    return T_EXIT_PASS;
}
