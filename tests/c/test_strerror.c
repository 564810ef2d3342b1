/* shmlink_strerror: a specific text for every code shmlink documents, the C
 * library's text for others, positive and negative alike, never NULL, safe
 * from several threads at once. */
#include "helpers.h"

#include <limits.h>
#include <pthread.h>

static const int codes[] = {EINVAL, EEXIST, ENOENT, EACCES, ENOSPC,  ETIMEDOUT,
                            EINTR,  EBUSY,  EPROTO, EPIPE,  ENODATA, EMSGSIZE,
                            ENOMEM, EMFILE, EPERM,  ENOBUFS};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void *thread_main(void *arg)
{
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        int code = 5000 + base * 100000 + i; /* unknown: formatted text */
        char want[32];
        snprintf(want, sizeof(want), "%d", code);
        const char *t = shmlink_strerror(-code);
        if (t == NULL || strstr(t, want) == NULL)
            return (void *)1;
    }
    return NULL;
}

int main(void)
{
    const char *texts[NCODES];
    for (size_t i = 0; i < NCODES; i++) {
        texts[i] = shmlink_strerror(-codes[i]);
        ASSERT_NOT_NULL(texts[i]);
        ASSERT_GT(strlen(texts[i]), 5);
        ASSERT_STREQ(shmlink_strerror(codes[i]), texts[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(texts[i], texts[j]) == 0)
                ASSERT_STREQ(texts[i], "a distinct text");
        printf("  %-10d %s\n", -codes[i], texts[i]);
    }
    ASSERT_STREQ(shmlink_strerror(0), "success");
    ASSERT_NOT_NULL(strstr(shmlink_strerror(-ENOENT), "segment"));
    ASSERT_NOT_NULL(strstr(shmlink_strerror(-EPIPE), "peer"));
    ASSERT_NOT_NULL(strstr(shmlink_strerror(-ENODATA), "end of stream"));

    /* Codes shmlink does not narrow: the C library's text. */
    ASSERT_STREQ(shmlink_strerror(-EBADF), strerror(EBADF));
    ASSERT_STREQ(shmlink_strerror(-ENOTDIR), strerror(ENOTDIR));
    ASSERT_NOT_NULL(strstr(shmlink_strerror(-98765), "98765"));
    ASSERT_NOT_NULL(shmlink_strerror(INT_MIN));
    ASSERT_NOT_NULL(shmlink_strerror(INT_MAX));

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(
            pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++) {
        void *res = (void *)1;
        ASSERT_EQ(pthread_join(th[i], &res), 0);
        ASSERT_NULL(res);
    }
    printf("test_strerror: ok\n");
    return T_EXIT_PASS;
}
