/* "sysv:private": an IPC_PRIVATE segment whose address reads "sysv-id:N";
 * it can be opened, stat'ed and removed by that id. */
#include "helpers.h"

int main(void)
{
    shmlink_segment *a = NULL, *b = NULL;
    shmlink_stat st;
    ASSERT_OK(t_create("sysv:private", 8192, 0600, &a));
    const char *addr = shmlink_segment_address(a);
    ASSERT_EQ(strncmp(addr, "sysv-id:", 8), 0);

    shmlink_address pa;
    ASSERT_OK(shmlink_address_parse(addr, &pa));
    ASSERT_EQ(pa.kind, SHMLINK_ADDR_SYSV_ID);

    ASSERT_OK(shmlink_segment_stat(a, &st));
    ASSERT_EQ(st.backend, SHMLINK_BACKEND_SYSV);
    ASSERT_EQ(st.shmid, pa.id);
    ASSERT_UEQ(st.key, 0); /* IPC_PRIVATE */
    ASSERT_STREQ(st.address, addr);
    ASSERT_UEQ(st.size, 8192);

    /* Two private creates make two segments. */
    shmlink_segment *c = NULL;
    ASSERT_OK(t_create("sysv:private", 4096, 0600, &c));
    ASSERT_NE(strcmp(shmlink_segment_address(c), addr), 0);

    ((char *)shmlink_segment_data(a))[100] = 'P';
    ASSERT_OK(shmlink_segment_open(addr, 0, &b));
    ASSERT_UEQ(shmlink_segment_size(b), 8192);
    ASSERT_EQ(((char *)shmlink_segment_data(b))[100], 'P');
    ASSERT_STREQ(shmlink_segment_address(b), addr);

    ASSERT_OK(shmlink_stat_address(addr, &st));
    ASSERT_UEQ(st.nattch, 2);
    ASSERT_STREQ(st.address, addr);

    char copy[SHMLINK_ADDRESS_MAX];
    snprintf(copy, sizeof(copy), "%s", addr);
    ASSERT_OK(shmlink_remove(copy));
    t_unregister(copy);
    ASSERT_ERR(shmlink_remove(copy), -ENOENT);
    ASSERT_ERR(shmlink_segment_remove(b), -ENOENT);
    /* Still mapped after removal. */
    ASSERT_EQ(((char *)shmlink_segment_data(b))[100], 'P');
    shmlink_segment_close(b);
    shmlink_segment_close(a);
    /* Gone once the last view is closed. */
    ASSERT_ERR(shmlink_segment_open(copy, 0, &b), -ENOENT);
    ASSERT_ERR(shmlink_stat_address(copy, &st), -ENOENT);

    ASSERT_OK(shmlink_segment_remove(c));
    t_unregister(shmlink_segment_address(c));
    shmlink_segment_close(c);

    /* An id that was never handed out (ids are never INT32_MAX here). */
    ASSERT_ERR(shmlink_segment_open("sysv-id:2147483647", 0, &b), -ENOENT);
    ASSERT_ERR(shmlink_remove("sysv-id:2147483647"), -ENOENT);

    printf("test_segment_private: ok\n");
    return T_EXIT_PASS;
}
