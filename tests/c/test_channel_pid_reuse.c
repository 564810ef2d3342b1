/* Version-1 channels (docs/PROTOCOL.md, section 11): liveness is pid +
 * process start time. An
 * owner word whose pid belongs to a live process but whose start time does
 * not match (the pid was reused after the holder died) is a dead holder,
 * so its role can be taken over; the same pid with the right start time is
 * a live holder (-EBUSY). Owner words are forged in a writable view of the
 * channel, as a crashed holder whose pid was reused would leave them. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel_util.h"
#include "../../core/src/proc.h"

#define OFF_READER_OWNER 392 /* docs/PROTOCOL.md section 1 */

static uint64_t owner_word(pid_t pid, uint64_t start)
{
    return (uint64_t)(uint32_t)pid | ((start & 0xffffffffu) << 32);
}

static void forge_reader(void *mem, uint64_t owner)
{
    __atomic_store_n((uint64_t *)((char *)mem + OFF_READER_OWNER), owner,
                     __ATOMIC_SEQ_CST);
}

static void run(shmlink_backend backend)
{
    char addr[SHMLINK_ADDRESS_MAX];
    t_addr(backend, addr, "pidreuse");
    shmlink_channel *w = NULL, *r = NULL;
    ASSERT_OK(cu_make_v1(addr, 4096, 0600));
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w));
    shmlink_segment *view = NULL;
    ASSERT_OK(shmlink_segment_open(addr, 0, &view));
    void *mem = shmlink_segment_data(view);

    /* A live process to stand in for "some process that got the pid". */
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        pause();
        _exit(0);
    }
    uint64_t start = 0;
    ASSERT_OK(shmlink__proc_start_time(child, &start));
    shmlink_channel_info info;

    /* Right pid, right start time: a live reader holds the role. */
    forge_reader(mem, owner_word(child, start));
    ASSERT_OK(shmlink_channel_inspect(mem, shmlink_segment_size(view), &info));
    ASSERT_EQ(info.reader_pid, child);
    ASSERT_EQ(info.reader_alive, 1);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &r), -EBUSY);

    /* Same live pid, another start time: the holder died and its pid was
     * reused; the role is free to take, and the writer is not fooled. */
    forge_reader(mem, owner_word(child, start + 1));
    ASSERT_OK(shmlink_channel_inspect(mem, shmlink_segment_size(view), &info));
    ASSERT_EQ(info.reader_pid, child);
    ASSERT_EQ(info.reader_alive, 0);
    uint8_t buf[64];
    memset(buf, 'x', sizeof buf);
    int rc;
    while ((rc = shmlink_channel_send(w, buf, sizeof buf, 0)) == 0)
        ;
    ASSERT_ERR(rc, -EPIPE); /* full, and the recorded reader is dead */
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    size_t n = 0;
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, 0));
    ASSERT_UEQ(n, sizeof buf);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    shmlink_segment_close(view);
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    run(SHMLINK_BACKEND_POSIX);
    run(SHMLINK_BACKEND_SYSV);
    printf("test_channel_pid_reuse: ok\n");
    return T_EXIT_PASS;
}
