/*
 * shmlink — shared memory (System V and POSIX) and a message channel on top.
 *
 * Conventions of this header:
 *   - Every function that can fail returns 0 (or a count) on success and a
 *     negative errno value on failure; the global errno is never the channel
 *     for errors. shmlink_strerror() turns a code into text.
 *   - Handles are opaque, made by a create/open function and freed by the
 *     matching close function, which accepts NULL.
 *   - Addresses (see shmlink_address_parse) name segments and channels the
 *     same way in C, Go, Python and the command-line tool.
 *
 * Error codes used beyond the usual errno meanings:
 *   -EINVAL     malformed address or argument (never reaches the kernel)
 *   -EEXIST     create: the segment is there already
 *   -ENOENT     open/remove/stat: no such segment
 *   -EACCES     permission denied (System V reports it as EACCES too)
 *   -ENOSPC     no room for the segment (full /dev/shm, SHMALL/SHMMNI limits)
 *   -ETIMEDOUT  a channel wait passed its timeout (also for timeout 0)
 *   -EINTR      a channel wait was interrupted by a signal handler
 *   -EBUSY      the channel role (writer or reader) is held by a live process;
 *               for a fan-out channel, every reader slot is
 *   -EPROTO     not a shmlink channel, another protocol version, or corrupt
 *   -EPIPE      the peer process died (or closed its end, for a writer)
 *   -ENODATA    end of stream: the writer closed and every message was read
 *   -EMSGSIZE   message larger than the channel allows, or buffer too small
 *   -EPERM      channel open: the segment belongs to another user (not the
 *               caller, not root) and SHMLINK_ANY_OWNER was not given
 *   -ECANCELED  a channel wait was ended by shmlink_channel_interrupt()
 *   -ECHILD     the channel handle was opened by the parent of this process
 *               (used after fork); only shmlink_channel_close() works, and it
 *               only unmaps
 */
#ifndef SHMLINK_H
#define SHMLINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMLINK_STATIC_DEFINE)
#define SHMLINK_EXTERN
#elif defined(__GNUC__) || defined(__clang__)
#define SHMLINK_EXTERN __attribute__((visibility("default")))
#else
#define SHMLINK_EXTERN
#endif

#define SHMLINK_VERSION_MAJOR 0
#define SHMLINK_VERSION_MINOR 2
#define SHMLINK_VERSION_PATCH 0

/* Largest canonical address text, including the terminating NUL
 * ("posix:/" + 255 name bytes + NUL = 263). */
#define SHMLINK_ADDRESS_MAX 264

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Returns a static, human-readable description of a shmlink return code
 * (a negative errno; positive values are accepted too). Never NULL. */
SHMLINK_EXTERN const char *shmlink_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Addresses                                                                 */
/* ------------------------------------------------------------------------ */

typedef enum shmlink_backend {
    SHMLINK_BACKEND_POSIX = 1,
    SHMLINK_BACKEND_SYSV = 2
} shmlink_backend;

typedef enum shmlink_address_kind {
    SHMLINK_ADDR_POSIX = 1,        /* "posix:/name" or "/name"            */
    SHMLINK_ADDR_SYSV_KEY = 2,     /* "sysv:KEY", KEY decimal or 0x hex   */
    SHMLINK_ADDR_SYSV_PRIVATE = 3, /* "sysv:private" (create only)        */
    SHMLINK_ADDR_SYSV_ID = 4       /* "sysv-id:N"                         */
} shmlink_address_kind;

typedef struct shmlink_address {
    shmlink_address_kind kind;
    shmlink_backend backend;
    char name[257]; /* POSIX: "/name", NUL-terminated; empty otherwise   */
    uint32_t key;   /* SYSV_KEY: the key as unsigned 32 bits, never 0     */
    int32_t id;     /* SYSV_ID: the shmid, >= 0                           */
} shmlink_address;

/* Parses an address string. POSIX names have exactly one leading '/', no
 * other '/', 1..255 bytes after it. System V keys are decimal or 0x hex,
 * 1..0xffffffff. Ids are decimal, 0..INT32_MAX. No surrounding blanks, no
 * trailing junk. Returns 0, or -EINVAL if text is NULL or malformed. */
SHMLINK_EXTERN int shmlink_address_parse(const char *text,
                                         shmlink_address *out);

/* Writes the canonical text of an address: "posix:/name", "sysv:0x%08x",
 * "sysv:private", "sysv-id:N". Returns the length written (without NUL), or
 * -EINVAL for a bad struct, -ENOBUFS if cap is too small. */
SHMLINK_EXTERN int shmlink_address_format(const shmlink_address *addr,
                                          char *buf, size_t cap);

/* ftok(3): turns an existing file and a project byte (1..255) into a System V
 * key, stored in *key. Returns 0, -EINVAL (proj out of range, NULL), or the
 * errno of stat(2) on path (-ENOENT, -EACCES, ...). */
SHMLINK_EXTERN int shmlink_sysv_key(const char *path, int proj, uint32_t *key);

/* ------------------------------------------------------------------------ */
/* Segments                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct shmlink_segment shmlink_segment;

/* Flags for shmlink_segment_open. */
#define SHMLINK_RDONLY 0x1u

/* Creates a new segment of size bytes (> 0) with permission bits mode
 * (<= 0777, applied exactly whatever the umask) and maps it read-write.
 * Memory reads zero. POSIX segments are reserved with posix_fallocate, so a
 * full /dev/shm fails here with -ENOSPC and leaves no name behind; a failed
 * create never leaves a half-made segment. "sysv:private" makes an
 * IPC_PRIVATE segment whose address then reads "sysv-id:N".
 * Returns 0 and sets *out, or -EINVAL (bad address, size 0, bad mode,
 * sysv-id address), -EEXIST, -EACCES, -ENOSPC, -ENOMEM, -EMFILE. */
SHMLINK_EXTERN int shmlink_segment_create(const char *address, size_t size,
                                          unsigned mode, shmlink_segment **out);

/* Opens and maps an existing segment, whole size (fstat / IPC_STAT).
 * flags: 0 or SHMLINK_RDONLY (PROT_READ / SHM_RDONLY).
 * Returns 0 and sets *out, or -EINVAL (bad address, "sysv:private", bad
 * flags, or a POSIX object of size 0, which cannot be mapped), -ENOENT,
 * -EACCES, -ENOMEM, -EMFILE. */
SHMLINK_EXTERN int shmlink_segment_open(const char *address, unsigned flags,
                                        shmlink_segment **out);

/* Unmaps / detaches this process's view and frees the handle; the segment
 * itself lives on. Accepts NULL. */
SHMLINK_EXTERN void shmlink_segment_close(shmlink_segment *seg);

/* The mapping (never NULL for an open handle), its size in bytes, whether it
 * is read-only (1) or not (0), and its canonical address (valid until
 * close). */
SHMLINK_EXTERN void *shmlink_segment_data(const shmlink_segment *seg);
SHMLINK_EXTERN size_t shmlink_segment_size(const shmlink_segment *seg);
SHMLINK_EXTERN int shmlink_segment_readonly(const shmlink_segment *seg);
SHMLINK_EXTERN const char *shmlink_segment_address(const shmlink_segment *seg);

/* Removes the segment's name (shm_unlink / IPC_RMID); this and other
 * mappings stay valid until closed. Returns 0, -ENOENT (already removed,
 * also when the name now belongs to a newer segment, which is left alone),
 * -EACCES / -EPERM. */
SHMLINK_EXTERN int shmlink_segment_remove(shmlink_segment *seg);

/* Removes a segment by address. Returns 0, -EINVAL, -ENOENT, -EACCES,
 * -EPERM. */
SHMLINK_EXTERN int shmlink_remove(const char *address);

typedef struct shmlink_stat {
    shmlink_backend backend;
    char address[SHMLINK_ADDRESS_MAX]; /* canonical address */
    uint64_t size;                     /* bytes */
    uint32_t mode;                     /* permission bits (0777 mask) */
    uint32_t uid, gid;                 /* owner */
    int64_t ctime;                     /* last change, seconds since epoch */
    /* System V only (zero for POSIX): */
    int32_t shmid;
    uint32_t key;         /* 0 for IPC_PRIVATE */
    uint64_t nattch;      /* current attach count */
    uint32_t cuid, cgid;  /* creator */
    int32_t cpid, lpid;   /* creator pid, last shmat/shmdt pid */
    int64_t atime, dtime; /* last attach / detach, seconds */
    /* POSIX only (zero for System V): */
    int64_t mtime; /* last modification, seconds */
} shmlink_stat;

/* Fills *st for an open segment. Returns 0 or -errno of fstat / IPC_STAT. */
SHMLINK_EXTERN int shmlink_segment_stat(const shmlink_segment *seg,
                                        shmlink_stat *st);

/* Fills *st for a segment by address, without mapping it. Returns 0,
 * -EINVAL, -ENOENT, -EACCES. */
SHMLINK_EXTERN int shmlink_stat_address(const char *address, shmlink_stat *st);

/* ------------------------------------------------------------------------ */
/* Channels (see docs/PROTOCOL.md)                                           */
/* ------------------------------------------------------------------------ */

typedef struct shmlink_channel shmlink_channel;

typedef enum shmlink_role {
    SHMLINK_WRITER = 1,
    SHMLINK_READER = 2
} shmlink_role;

/* Timeouts are in nanoseconds: < 0 waits without limit (a dead peer is
 * still reported within 1 s), 0 does not wait, > 0 waits at most that long
 * and then fails with -ETIMEDOUT.
 *
 * Every call on a channel handle may also return -ECHILD (handle used in a
 * forked child) and -EPROTO once the segment was found corrupt or truncated
 * by another process: a truncated POSIX object never kills the caller with
 * SIGBUS (the core replaces the vanished pages with private zero pages and
 * fails the call; see PROTOCOL.md, trust model). */
#define SHMLINK_FOREVER ((int64_t)-1)

/* Ring capacity bounds in bytes (a requested capacity is rounded up to a
 * power of two, at least SHMLINK_MIN_CAPACITY). */
#define SHMLINK_MIN_CAPACITY ((size_t)4096)
#define SHMLINK_MAX_CAPACITY ((size_t)1 << 30)

/* Creates a new segment at address holding an empty channel whose ring has
 * room for capacity bytes (rounded up to a power of two, at least 4096, at
 * most 1 GiB), and takes the given role in it. The largest message is
 * shmlink_channel_max_message(), at least capacity/4.
 * Returns 0 and sets *out, or the errors of shmlink_segment_create and
 * -EINVAL (capacity or role out of range). */
SHMLINK_EXTERN int shmlink_channel_create(const char *address, size_t capacity,
                                          unsigned mode, shmlink_role role,
                                          shmlink_channel **out);

/* How the messages of a channel reach its readers (docs/PROTOCOL.md 13). */
typedef enum shmlink_fanout {
    SHMLINK_ONE = 0,       /* one writer, one reader (shmlink_channel_create) */
    SHMLINK_BROADCAST = 1, /* every reader gets every message committed after
                              it joined, in order; the writer waits for the
                              slowest live reader */
    SHMLINK_QUEUE = 2      /* work queue: each message goes to one reader */
} shmlink_fanout;

/* Largest number of reader slots of a fan-out channel. */
#define SHMLINK_MAX_READERS 64u
/* Largest number of writer slots of a many-writers channel. */
#define SHMLINK_MAX_WRITERS 64u

typedef struct shmlink_channel_config {
    size_t capacity;  /* ring bytes, as shmlink_channel_create */
    unsigned mode;    /* permission bits */
    unsigned readers; /* reader slots: 1..64 (1 with SHMLINK_ONE) */
    unsigned writers; /* writer slots: 1..64. More than 1 makes a many-writers
                         channel: each writer has a ring of its own of
                         capacity bytes, the reader(s) take every committed
                         message exactly once, each writer's in its order
                         (docs/PROTOCOL.md 13.4). Not with SHMLINK_BROADCAST. */
    shmlink_fanout fanout;
} shmlink_channel_config;

/* Creates a channel as described by cfg and takes the given role in it.
 * With SHMLINK_ONE (readers = writers = 1) this is shmlink_channel_create.
 * With SHMLINK_BROADCAST or SHMLINK_QUEUE the channel has cfg->readers
 * reader slots and one writer; readers join with shmlink_channel_open
 * (each takes the first free slot) and leave with shmlink_channel_close at
 * any time, and a creating reader takes slot 0.
 *
 * Broadcast: a reader gets every message committed after it joined, in
 * order. The writer waits while the slowest live reader has no room for
 * the message; a reader that dies stops holding it back within 1 s; the
 * writer never fails with -EPIPE for want of readers (with none, nothing
 * waits). A reader gets -ENODATA / -EPIPE (writer closed / died) once it
 * has read everything committed.
 *
 * Queue: each message goes to one reader. recv and recv_batch take
 * messages for good; a message taken with peek is acknowledged by
 * release, and one not yet released when its reader dies (or closes) is
 * delivered again to another reader, before newer messages. The writer
 * gets -EPIPE only when it needs room and no reader slot is held while
 * some reader has left or died (as for a 1:1 channel).
 *
 * Many writers (writers > 1, with SHMLINK_ONE or SHMLINK_QUEUE): writers
 * join with shmlink_channel_open (each takes the first free writer slot,
 * -EBUSY when all are held by live processes; a creating writer takes
 * slot 0) and each has a ring of its own, so a writer that dies between
 * reserve and commit holds nobody back. The reader(s) get every committed
 * message exactly once, each writer's messages in that writer's order,
 * visiting the writers' rings in turn. A reader gets -EPIPE / -ENODATA
 * only once every ring is drained and no writer slot is held: -EPIPE if
 * the last holder of some slot died (even while other slots were never
 * held), -ENODATA if the last holder of every slot closed it; when none
 * died and some slot was never held it keeps waiting (so
 * writers = N producers that each close give end of stream after the
 * last). shmlink_channel_source tells which writer slot a message came
 * from.
 *
 * Everything else (timeouts, zero copy, batches, interrupt and wait,
 * restart of a dead writer) works as for a 1:1 channel.
 * Returns 0 and sets *out, or the errors of shmlink_channel_create;
 * -EINVAL for a bad cfg (readers out of 1..64, readers != 1 with
 * SHMLINK_ONE, writers out of 1..64, writers != 1 with SHMLINK_BROADCAST,
 * unknown fanout). */
SHMLINK_EXTERN int
shmlink_channel_create_config(const char *address,
                              const shmlink_channel_config *cfg,
                              shmlink_role role, shmlink_channel **out);

/* Opens an existing channel and takes a role in it. A role whose holder is
 * dead is taken over: a new reader continues at the first unconsumed
 * message, a new writer after the last committed one. Only a channel whose
 * segment belongs to the caller's effective uid or to root is opened (a
 * channel made by another user could feed forged messages or take the
 * caller's data); see shmlink_channel_open_flags to trust other owners.
 * Returns 0 and sets *out, or -ENOENT, -EACCES, -EPERM (owned by another
 * user), -EBUSY (role held by a live process), -EPROTO (not a channel,
 * unknown version or feature, corrupt header), -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_open(const char *address, shmlink_role role,
                                        shmlink_channel **out);

/* Flags for shmlink_channel_open_flags. */
#define SHMLINK_ANY_OWNER 0x1u /* open a channel owned by any user */

/* shmlink_channel_open with flags (0 or SHMLINK_ANY_OWNER). Returns the
 * codes of shmlink_channel_open; -EINVAL for unknown flags. */
SHMLINK_EXTERN int shmlink_channel_open_flags(const char *address,
                                              shmlink_role role, unsigned flags,
                                              shmlink_channel **out);

/* Releases the role and unmaps. For the writer this marks end of stream
 * (a reservation not committed is dropped). In a process forked from the
 * one that opened the handle it only unmaps: the role stays with the
 * parent. Accepts NULL. Returns 0 or -errno (the handle is freed in every
 * case). */
SHMLINK_EXTERN int shmlink_channel_close(shmlink_channel *ch);

SHMLINK_EXTERN size_t shmlink_channel_capacity(const shmlink_channel *ch);
SHMLINK_EXTERN size_t shmlink_channel_max_message(const shmlink_channel *ch);
SHMLINK_EXTERN const char *shmlink_channel_address(const shmlink_channel *ch);
SHMLINK_EXTERN shmlink_role shmlink_channel_role(const shmlink_channel *ch);

/* Writer: copies len bytes (0..max_message) in as one message, waiting while
 * the ring is full. Returns 0, or -EMSGSIZE, -ETIMEDOUT, -EINTR,
 * -ECANCELED, -EPIPE (reader died or closed), -EPROTO (corrupt), -EINVAL
 * (not the writer). */
SHMLINK_EXTERN int shmlink_channel_send(shmlink_channel *ch, const void *data,
                                        size_t len, int64_t timeout_ns);

/* Writer, zero copy: reserves room for up to len bytes and sets *ptr to it;
 * fill it, then shmlink_channel_commit(ch, n) with n <= len publishes n
 * bytes as one message. Nothing is visible to the reader before commit.
 * One reservation at a time. Returns 0 or the errors of send. */
SHMLINK_EXTERN int shmlink_channel_reserve(shmlink_channel *ch, size_t len,
                                           void **ptr, int64_t timeout_ns);
SHMLINK_EXTERN int shmlink_channel_commit(shmlink_channel *ch, size_t len);
/* Drops the current reservation without publishing anything. Returns 0 or
 * -EINVAL (no reservation). */
SHMLINK_EXTERN int shmlink_channel_abort(shmlink_channel *ch);

/* Reader: copies the next message into buf (cap bytes) and sets *len to its
 * length, waiting while the ring is empty. If buf is too small, returns
 * -EMSGSIZE with *len set to the size needed and keeps the message.
 * Returns 0, or -ENODATA (end of stream), -EPIPE (writer died; every
 * committed message was delivered first), -ETIMEDOUT, -EINTR, -ECANCELED,
 * -EPROTO, -EMSGSIZE, -EINVAL (not the reader). */
SHMLINK_EXTERN int shmlink_channel_recv(shmlink_channel *ch, void *buf,
                                        size_t cap, size_t *len,
                                        int64_t timeout_ns);

/* Reader, zero copy: waits for the next message and points *ptr / *len at
 * it in place; the bytes stay valid until shmlink_channel_release(), which
 * consumes it. Returns 0 or the errors of recv (never -EMSGSIZE). */
SHMLINK_EXTERN int shmlink_channel_peek(shmlink_channel *ch, const void **ptr,
                                        size_t *len, int64_t timeout_ns);
SHMLINK_EXTERN int shmlink_channel_release(shmlink_channel *ch);

/* Reader, batch: waits for at least one message, then copies as many
 * consecutive messages as fit (at most max) back to back into buf, the
 * length of message i in lens[i]. Returns the count (> 0), or the errors of
 * recv; -EMSGSIZE with lens[0] set when the first message does not fit. */
SHMLINK_EXTERN int shmlink_channel_recv_batch(shmlink_channel *ch, void *buf,
                                              size_t cap, size_t *lens,
                                              size_t max, int64_t timeout_ns);

/* Waiting that another thread can end. Every blocking call above (send,
 * reserve, recv, peek, recv_batch) and shmlink_channel_wait returns
 * -ECANCELED as soon as shmlink_channel_interrupt is called on the handle
 * while it waits (the message stays in the channel). */

/* Ends every wait in progress on ch at once (they return -ECANCELED); waits
 * that start afterwards are not affected. Safe from any thread, also while
 * another thread is inside a call on ch (but not concurrently with
 * shmlink_channel_close). Returns 0 or -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_interrupt(shmlink_channel *ch);

/* How many times shmlink_channel_interrupt was called on ch: a binding reads
 * it before it hands a wait to another thread and passes it to
 * shmlink_channel_wait, so an interrupt that comes before the wait starts
 * still ends it. */
SHMLINK_EXTERN uint64_t shmlink_channel_interrupts(const shmlink_channel *ch);

/* Waits without consuming or reserving anything: the reader until a message
 * can be received at once, the writer until a message of len bytes can be
 * sent at once. since: a value of shmlink_channel_interrupts(); the wait
 * returns -ECANCELED at once if the count differs from it, or as soon as it
 * does. Returns 0 (ready), or -ENODATA / -EPIPE (reader: end of stream or
 * writer dead, nothing left to read), -EPIPE (writer: reader gone),
 * -ETIMEDOUT, -EINTR, -ECANCELED, -EPROTO, -EMSGSIZE (writer: len larger
 * than max_message), -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_wait(shmlink_channel *ch, size_t len,
                                        int64_t timeout_ns, uint64_t since);

typedef struct shmlink_channel_info {
    uint32_t version;           /* protocol version */
    uint64_t capacity;          /* ring bytes */
    uint64_t max_message;       /* largest message */
    uint64_t used;              /* bytes committed, not yet consumed */
    uint64_t messages_sent;     /* committed by writers so far */
    uint64_t messages_received; /* consumed by readers so far */
    /* The pid the holder recorded (in its own pid namespace); 0 when the
     * role was never held or was given up with close. */
    int32_t writer_pid, reader_pid;
    /* 1: a live process holds the role; 0: nobody holds it (dead holder,
     * closed, or never attached); -1: cannot tell (memory-only inspection
     * of a channel whose roles are held by locks, see PROTOCOL.md). */
    int writer_alive, reader_alive;
    int closed;      /* 1 once the writer marked end of stream */
    int reader_gone; /* 1 once the reader closed its end */
} shmlink_channel_info;

/* Reads a channel header from memory (e.g. a read-only segment mapping of
 * size bytes) without taking a role or writing anything. Liveness of a
 * version-2 channel needs the segment itself (its locks): here it reads -1
 * unless the role is free (0); use shmlink_channel_stat. Returns 0, or
 * -EPROTO if it is not a valid channel of a known protocol version. */
SHMLINK_EXTERN int shmlink_channel_inspect(const void *mem, size_t size,
                                           shmlink_channel_info *info);

/* Inspects the channel at address: maps it read-only (a System V segment
 * is attached read-only, which sets its last-attach pid and time), reads
 * the header, tests who holds each role, unmaps. Takes no role and writes
 * nothing. A segment truncated meanwhile is -EPROTO, never a crash.
 * Returns 0, or -EINVAL, -ENOENT, -EACCES, -EPROTO (not a channel). */
SHMLINK_EXTERN int shmlink_channel_stat(const char *address,
                                        shmlink_channel_info *info);

/* Same for an open channel. Returns 0 or -EPROTO. */
SHMLINK_EXTERN int shmlink_channel_info_get(const shmlink_channel *ch,
                                            shmlink_channel_info *info);

/* shmlink_channel_info of a fan-out channel: used is the bytes the slowest
 * joined reader has not read yet (broadcast) or the bytes not yet taken
 * (queue); messages_received sums the reader slots; reader_pid is the pid
 * of the lowest held reader slot (0 if none); reader_alive says whether
 * any reader slot is held (1), none is (0), or cannot tell (-1);
 * reader_gone is 1 when no reader slot is held and some reader closed.
 * shmlink_channel_slots tells each reader slot apart,
 * shmlink_channel_writer_slots each writer slot. */

/* One reader slot of a channel (a 1:1 channel has one: its reader). */
typedef struct shmlink_slot_info {
    uint32_t slot; /* index, 0..readers-1 */
    /* The pid the holder recorded (its own pid namespace); 0 when the slot
     * was never held or was given up with close. */
    int32_t pid;
    /* 1: held by a live process; 0: free; -1: cannot tell. */
    int alive;
    /* Broadcast: 1 joined, 0 not. Queue: 0 idle, 1 taking a message, 2 a
     * peeked message not yet released (an orphan when the slot is free).
     * 1:1: 1 while a reader holds the role. */
    uint32_t state;
    int gone; /* 1 once its last holder closed it */
    /* Broadcast and 1:1: the read position (bytes ever consumed). Queue:
     * the position of the message being taken or peeked. */
    uint64_t position;
    /* Broadcast and 1:1: bytes committed that this reader has not read
     * yet (write position - position); queue: 0. */
    uint64_t lag;
    uint64_t messages_received;
} shmlink_slot_info;

/* The fan-out of the channel at address and its reader slots: maps it
 * read-only like shmlink_channel_stat, tests each slot's lock, unmaps.
 * Sets *fanout (may be NULL) and fills slots[0 .. min(readers, max) - 1]
 * (slots may be NULL when max is 0). Returns the number of reader slots
 * (1 for a 1:1 channel), or the errors of shmlink_channel_stat. */
SHMLINK_EXTERN int shmlink_channel_slots(const char *address,
                                         shmlink_fanout *fanout,
                                         shmlink_slot_info *slots, size_t max);

/* Same for an open channel (no mapping of its own). Returns the number of
 * reader slots, or -EPROTO, -ECHILD, -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_slots_get(const shmlink_channel *ch,
                                             shmlink_fanout *fanout,
                                             shmlink_slot_info *slots,
                                             size_t max);

/* One writer slot of a channel (a 1:1 channel has one: its writer; a
 * call server's request channel has one per client). */
typedef struct shmlink_writer_slot_info {
    uint32_t slot; /* index, 0..writers-1 */
    /* The pid the holder recorded (its own pid namespace); 0 when the slot
     * was never held or was given up with close. */
    int32_t pid;
    /* 1: held by a live process; 0: free (a pid here: its holder died);
     * -1: cannot tell. */
    int alive;
    int closed; /* 1 once its last holder closed it (end of its stream) */
    /* The write position of its ring (bytes ever committed). */
    uint64_t position;
    /* Bytes committed in its ring that readers have not yet taken: 1:1
     * and one reader of many writers: not yet read; queue: not yet taken
     * (a peeked message counts as taken); broadcast: not yet read by the
     * slowest joined live reader. 0 when the positions in shared memory
     * contradict each other (corrupt). */
    uint64_t used;
    uint64_t messages_sent;
    /* Calls (docs/PROTOCOL.md 13.5): the reply channel the slot's last
     * holder stored, 0 none, 1 POSIX ("<address>.r<slot>"), 2 System V
     * (reply_id is its shmid); as read, so any other value is a corrupt
     * one (a worker drops that client's requests). A client that closes
     * stores 0 first (reply_id stays); a killed client's value stays. Always
     * 0 for a 1:1 channel. */
    uint32_t reply_kind;
    uint32_t reply_id;
} shmlink_writer_slot_info;

/* The writer slots of the channel at address: maps it read-only like
 * shmlink_channel_stat, tests each slot's lock, unmaps. Fills slots[0 ..
 * min(writers, max) - 1] (slots may be NULL when max is 0). Returns the
 * number of writer slots (1 unless the channel was made with writers > 1),
 * or the errors of shmlink_channel_stat. */
SHMLINK_EXTERN int shmlink_channel_writer_slots(const char *address,
                                                shmlink_writer_slot_info *slots,
                                                size_t max);

/* Same for an open channel (no mapping of its own). Returns the number of
 * writer slots, or -EPROTO, -ECHILD, -EINVAL. */
SHMLINK_EXTERN int
shmlink_channel_writer_slots_get(const shmlink_channel *ch,
                                 shmlink_writer_slot_info *slots, size_t max);

/* The fan-out of an open channel and the slot the handle holds (*slot: a
 * reader's reader slot, a writer's writer slot; 0 for 1:1 handles).
 * Returns the number of reader slots, or -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_fanout_of(const shmlink_channel *ch,
                                             shmlink_fanout *fanout,
                                             unsigned *slot);

/* The number of writer slots of an open channel (1 unless it was made
 * with writers > 1), or -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_writers(const shmlink_channel *ch);

/* Reader: the writer slot the message last returned by recv, peek or
 * recv_batch came from (always 0 with one writer; a batch comes from one
 * writer), or -EINVAL. */
SHMLINK_EXTERN int shmlink_channel_source(const shmlink_channel *ch);

/* ------------------------------------------------------------------------ */
/* Calls: request and response (docs/PROTOCOL.md 13.5)                       */
/* ------------------------------------------------------------------------ */

/* A server answers calls at an address: clients send requests, worker
 * processes of the server take them (each request goes to one worker) and
 * reply; each reply reaches the client that sent the request, matched by a
 * call id the library manages. A client that dies does not stall the
 * server or other clients; when every worker of a server is gone, pending
 * and later calls fail with -EPIPE within about 100 ms of the last
 * worker's death being detectable (a restarted server serves new calls).
 * A worker killed while it holds a request leaves it to another worker (or
 * to the restarted server), which serves it again; the client drops a
 * reply it no longer waits for. */
typedef struct shmlink_server shmlink_server;
typedef struct shmlink_client shmlink_client;

typedef struct shmlink_server_config {
    size_t capacity;  /* ring bytes of each client's requests and of each
                         reply channel, as shmlink_channel_create */
    unsigned mode;    /* permission bits (also of the clients' reply
                         channels); 0 means 0600 */
    unsigned workers; /* worker slots (server processes): 1..64, 0 = 1 */
    unsigned clients; /* client slots (live clients at once): 1..64, 0 = 8 */
} shmlink_server_config;

/* Largest request or response of a call on a channel of this capacity:
 * the channel's max_message minus the 16-byte call header. */
#define SHMLINK_CALL_HEADER 16u

/* Creates the server's request channel at address and becomes its first
 * worker. A POSIX name may have at most 250 bytes (reply channels are
 * named after it). Returns 0 and sets *out, or the errors of
 * shmlink_channel_create_config; -ENAMETOOLONG. */
SHMLINK_EXTERN int shmlink_server_create(const char *address,
                                         const shmlink_server_config *cfg,
                                         shmlink_server **out);

/* Joins the server at address as another worker (a free worker slot).
 * Returns 0, -EBUSY (every worker slot held), -EPROTO (not a server), or
 * the errors of shmlink_channel_open. */
SHMLINK_EXTERN int shmlink_server_open(const char *address,
                                       shmlink_server **out);

/* One request, as the worker sees it: data (len bytes, in shared memory,
 * read-only) stays valid until the request is replied to or dropped. */
typedef struct shmlink_request {
    const void *data;
    size_t len;
    uint64_t call_id; /* the client's id of this call */
    unsigned client;  /* the client slot it came from */
} shmlink_request;

/* Worker: waits for the next request (one at a time: reply to or drop the
 * previous one first, else -EINVAL). Malformed requests (shorter than the
 * call header, unknown flags) are dropped. Returns 0, -ETIMEDOUT, -EINTR,
 * -ECANCELED (shmlink_server_interrupt), -EPROTO, -ECHILD. It never
 * reports end of stream: clients come and go. */
SHMLINK_EXTERN int shmlink_server_recv(shmlink_server *srv,
                                       shmlink_request *req,
                                       int64_t timeout_ns);

/* Worker: sends the reply (status 0: success; else the handler failed and
 * data is an error text) to the client of the current request and
 * finishes the request — also when the reply cannot be delivered (the
 * client is gone: -EPIPE; its reply channel is missing: -ENOENT or
 * -EPROTO). Returns 0, -EMSGSIZE (len too large: nothing sent, the
 * request stays current), -ETIMEDOUT (the client does not read its
 * replies; the request stays current), -EINVAL (no current request). */
SHMLINK_EXTERN int shmlink_server_reply(shmlink_server *srv, const void *data,
                                        size_t len, int status,
                                        int64_t timeout_ns);

/* Worker, zero copy: room for a reply of up to len bytes in the client's
 * reply channel (*ptr), then shmlink_server_commit publishes len bytes of
 * it and finishes the request. Errors as shmlink_server_reply; a failed
 * reserve leaves the request current. */
SHMLINK_EXTERN int shmlink_server_reserve(shmlink_server *srv, size_t len,
                                          void **ptr, int64_t timeout_ns);
SHMLINK_EXTERN int shmlink_server_commit(shmlink_server *srv, size_t len,
                                         int status);

/* Worker: finishes the current request without a reply (the client's
 * call waits on until its timeout). Returns 0 or -EINVAL. */
SHMLINK_EXTERN int shmlink_server_drop(shmlink_server *srv);

/* Ends a shmlink_server_recv in progress in another thread (-ECANCELED;
 * a reply waiting for room ends at its own timeout). Returns 0 or
 * -EINVAL. */
SHMLINK_EXTERN int shmlink_server_interrupt(shmlink_server *srv);

/* Largest request and reply. */
SHMLINK_EXTERN size_t shmlink_server_max_message(const shmlink_server *srv);

/* Leaves the server (a request still current goes to another worker) and
 * frees the handle; the last worker's close does not remove the address
 * (shmlink_remove does). */
SHMLINK_EXTERN void shmlink_server_close(shmlink_server *srv);

/* Connects to the server at address: takes a client slot and makes the
 * client's reply channel (POSIX: "<address>.r<slot>"; System V: a private
 * segment). Returns 0, -EBUSY (every client slot held), -EPROTO (not a
 * server), or the errors of shmlink_channel_open. */
SHMLINK_EXTERN int shmlink_client_open(const char *address,
                                       shmlink_client **out);

/* Sends a request; *call_id gets its id. Returns 0, -EMSGSIZE, -ETIMEDOUT,
 * -EPIPE (no worker left), -ECANCELED, -EINTR. */
SHMLINK_EXTERN int shmlink_client_send(shmlink_client *cl, const void *data,
                                       size_t len, uint64_t *call_id,
                                       int64_t timeout_ns);

/* Waits for the next reply, of any call: *call_id, *status and the bytes
 * (copied into buf, *len their count). -EMSGSIZE: buf is too small, *len
 * is the size needed and the reply stays next. Returns 0, -ETIMEDOUT,
 * -EPIPE (every worker of the server is gone), -ECANCELED, -EINTR. */
SHMLINK_EXTERN int shmlink_client_recv(shmlink_client *cl, uint64_t *call_id,
                                       int *status, void *buf, size_t cap,
                                       size_t *len, int64_t timeout_ns);

/* One call: send, then wait for its reply (replies of other calls are
 * dropped). *status: the handler's status (0: success). Returns 0 or the
 * errors of shmlink_client_send / shmlink_client_recv. */
SHMLINK_EXTERN int shmlink_client_call(shmlink_client *cl, const void *req,
                                       size_t len, void *resp, size_t cap,
                                       size_t *resp_len, int *status,
                                       int64_t timeout_ns);

/* Ends a send or recv in progress in another thread (-ECANCELED). */
SHMLINK_EXTERN int shmlink_client_interrupt(shmlink_client *cl);

/* Largest request and reply. */
SHMLINK_EXTERN size_t shmlink_client_max_message(const shmlink_client *cl);

/* The client's slot (for tools and tests). */
SHMLINK_EXTERN unsigned shmlink_client_slot(const shmlink_client *cl);

/* Leaves (end of stream in its request ring), removes the reply channel
 * and frees the handle. A send and a recv may run at once in two threads;
 * neither may run during close. */
SHMLINK_EXTERN void shmlink_client_close(shmlink_client *cl);

#ifdef __cplusplus
}
#endif

#endif /* SHMLINK_H */
