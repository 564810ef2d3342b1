/*
 * shmlink — the command-line tool: list, inspect and remove shared memory
 * segments and shmlink channels of both backends (SPEC §6).
 *
 *   shmlink ls [--json] [--all] [--match GLOB]
 *   shmlink stat ADDRESS [--json]
 *   shmlink rm ADDRESS...
 *   shmlink rm --stale [--dry-run] [--json] [--match GLOB]
 *
 * Sources of truth: POSIX segments are the regular files of /dev/shm
 * (fstatat, no open needed to list them); System V segments are the lines of
 * /proc/sysvipc/shm (every segment of the IPC namespace, whatever its
 * permissions). Each segment is then opened read-only (PROT_READ /
 * SHM_RDONLY) and shmlink_channel_inspect() decides whether it holds a
 * channel. Nothing in ls or stat ever writes to a segment.
 *
 * Exit status: 0 success, 1 a runtime error (per address for rm; the others
 * are still processed), 2 a usage error (unknown command or flag, missing
 * argument).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"

#define CLI_DEV_SHM "/dev/shm"
#define CLI_PROC_SYSV "/proc/sysvipc/shm"
#define CLI_SHM_DEST 01000 /* "perms" bit of a removed, still attached segment */

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERR 1
#define CLI_EXIT_USAGE 2

/* ------------------------------------------------------------------------ */
/* Help texts                                                                */
/* ------------------------------------------------------------------------ */

static const char cli_help_main[] =
    "usage: shmlink [--version] [-h|--help] COMMAND [ARGS]\n"
    "\n"
    "See, inspect and clean up shared memory segments (POSIX and System V)\n"
    "and the shmlink message channels inside them.\n"
    "\n"
    "commands:\n"
    "  ls [--json] [--all] [--match GLOB]   list segments and channels\n"
    "  stat ADDRESS [--json]                everything known about one segment\n"
    "  rm ADDRESS...                        remove segments\n"
    "  rm --stale [--dry-run] [--json] [--match GLOB]\n"
    "                                       remove channels whose peers are gone\n"
    "  help [COMMAND]                       this text, or a command's help\n"
    "\n"
    "addresses: posix:/name (or /name), sysv:KEY (decimal or 0x hex),\n"
    "           sysv-id:SHMID\n"
    "\n"
    "Run 'shmlink COMMAND --help' for a command's options. Exit status: 0 ok,\n"
    "1 an error (reported on stderr), 2 a usage error.\n";

static const char cli_help_ls[] =
    "usage: shmlink ls [--json] [--all] [--match GLOB]\n"
    "\n"
    "Lists every POSIX segment (regular files in /dev/shm) and every System V\n"
    "segment (/proc/sysvipc/shm): address, kind, size, owner, mode. A segment\n"
    "that holds a shmlink channel is shown as kind 'channel' with its fill\n"
    "level (bytes used / capacity), messages sent and received, the writer's\n"
    "and reader's pid and whether each is alive, and end of stream ('eos').\n"
    "A segment this user may not read is still listed with what can be seen\n"
    "without opening it (kind 'unknown', note 'no read permission').\n"
    "\n"
    "  --json        one JSON array of objects with fixed keys, for scripts:\n"
    "                address backend kind size mode(\"0600\") uid owner gid\n"
    "                group readable note ctime mtime shmid key nattch cpid\n"
    "                lpid cuid cgid atime dtime removed channel; channel is\n"
    "                null or {version capacity max_message used fill_percent\n"
    "                messages_sent messages_received writer reader closed\n"
    "                stale}, writer/reader null or {pid alive}; keys that\n"
    "                do not apply to a backend are null\n"
    "  --all         also list POSIX semaphores (/dev/shm/sem.*)\n"
    "  --match GLOB  only addresses matching the shell pattern GLOB\n"
    "                (e.g. 'posix:/jobs-*', 'sysv:*')\n"
    "\n"
    "Segments are opened read-only to look inside; nothing is written.\n"
    "Attaching a System V segment read-only briefly raises its attach count\n"
    "(nattch) and sets its last pid (lpid) and attach/detach times, as any\n"
    "reader would.\n"
    "In the table, bytes outside printable ASCII in names are shown as \\xHH.\n"
    "In JSON, names are UTF-8; a byte that is not part of valid UTF-8 is\n"
    "written as \\udcHH (Python's surrogateescape: os.fsencode() gives back the\n"
    "exact bytes).\n";

static const char cli_help_stat[] =
    "usage: shmlink stat ADDRESS [--json]\n"
    "\n"
    "Shows everything known about one segment: backend, canonical address,\n"
    "size, mode, owner and group, times; for System V also shmid, key, attach\n"
    "count, creator and last pids; and, when it holds a shmlink channel, the\n"
    "protocol version, capacity, largest message, fill level, messages sent\n"
    "and received, writer and reader (pid, alive or dead), end of stream and\n"
    "whether 'rm --stale' would remove it. Opens the segment read-only; a\n"
    "System V segment's attach count and lpid change briefly (see ls --help).\n"
    "\n"
    "  --json   one JSON object (the keys of 'ls --json' plus times)\n";

static const char cli_help_rm[] =
    "usage: shmlink rm ADDRESS...\n"
    "       shmlink rm --stale [--dry-run] [--json] [--match GLOB]\n"
    "\n"
    "The first form removes each segment (shm_unlink / IPC_RMID); processes\n"
    "that have it mapped keep their mapping until they unmap it. Errors are\n"
    "reported per address on stderr; the exit status is 1 if any failed.\n"
    "\n"
    "The second form removes stale channels. A channel is stale when no peer\n"
    "is alive (no live writer, no live reader) and either a recorded peer\n"
    "died (its pid is recorded but the process is gone, or the pid now\n"
    "belongs to another process), or the writer closed the stream and every\n"
    "message was consumed. Conservative on purpose: a channel no peer ever\n"
    "attached to, or whose writer closed cleanly with messages still waiting\n"
    "for a reader, is kept; so are plain segments, segments this user\n"
    "cannot read, and System V segments some process still has attached.\n"
    "Each candidate is inspected again right before it is removed.\n"
    "\n"
    "  --dry-run     print what would be removed, remove nothing\n"
    "  --json        print a JSON array of {address, backend, reason,\n"
    "                removed, error} instead of text\n"
    "  --match GLOB  only consider addresses matching the shell pattern GLOB\n";

/* ------------------------------------------------------------------------ */
/* Small utilities                                                           */
/* ------------------------------------------------------------------------ */

static const char *cli_prog = "shmlink";

static void cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    if (cmd)
        fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try '%s %s%s--help')\n", cli_prog, cmd ? cmd : "",
            cmd ? " " : "");
}

/* Copies s into out for a terminal: printable ASCII as is, a backslash as
 * "\\", every other byte as "\xHH". Truncates (with "...") to fit cap. */
static void cli_display(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[5];
        size_t n;
        if (*p == '\\') {
            tmp[0] = '\\';
            tmp[1] = '\\';
            n = 2;
        } else if (*p >= 0x20 && *p < 0x7f) {
            tmp[0] = (char)*p;
            n = 1;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            n = 4;
        }
        if (o + n + 4 > cap) {
            if (cap >= 4) {
                memcpy(out + (o <= cap - 4 ? o : cap - 4), "...", 4);
                return;
            }
            break;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
}

/* "512B", "4.0K", "64K", "1.5M", ... */
static void cli_human(uint64_t v, char *out, size_t cap)
{
    static const char units[] = "BKMGTPE";
    double d = (double)v;
    int u = 0;
    while (d >= 1024.0 && u < 6) {
        d /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%" PRIu64 "B", v);
    else if (d < 9.95)
        snprintf(out, cap, "%.1f%c", d, units[u]);
    else
        snprintf(out, cap, "%.0f%c", d, units[u]);
}

static void cli_time(int64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t == 0 || !localtime_r(&tt, &tm) ||
        strftime(out, cap, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
        snprintf(out, cap, "-");
}

static int cli_user_name(uint32_t uid, char *out, size_t cap)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) == 0 && res) {
        snprintf(out, cap, "%s", res->pw_name);
        return 1;
    }
    snprintf(out, cap, "%" PRIu32, uid);
    return 0;
}

static int cli_group_name(uint32_t gid, char *out, size_t cap)
{
    struct group gr, *res = NULL;
    char buf[1024];
    if (getgrgid_r((gid_t)gid, &gr, buf, sizeof buf, &res) == 0 && res) {
        snprintf(out, cap, "%s", res->gr_name);
        return 1;
    }
    snprintf(out, cap, "%" PRIu32, gid);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */
/* ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (at most n bytes available), or 0
 * if the bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF are invalid). */
static size_t json_utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Writes s (n bytes) as a JSON string: quotes, backslashes and control
 * characters escaped, valid UTF-8 passed through, any other byte as
 * \udcHH (surrogateescape). */
static void json_string_n(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f);
            i++;
        } else if (c == '\t') {
            fputs("\\t", f);
            i++;
        } else if (c == '\r') {
            fputs("\\r", f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc(c, f);
            i++;
        } else {
            size_t len = json_utf8_len(p + i, n - i);
            if (len == 0) {
                fprintf(f, "\\udc%02x", c);
                i++;
            } else {
                fwrite(p + i, 1, len, f);
                i += len;
            }
        }
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    if (!s)
        fputs("null", f);
    else
        json_string_n(f, s, strlen(s));
}

/* A tiny streaming writer that takes care of commas. */
typedef struct json_out {
    FILE *f;
    int depth;
    int first[16];
    int pretty;
    int after_key; /* a key was written: its value needs no separator */
} json_out;

static void json_sep(json_out *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (!j->first[j->depth])
            fputc(',', j->f);
        j->first[j->depth] = 0;
        if (j->pretty) {
            fputc('\n', j->f);
            for (int i = 0; i < j->depth; i++)
                fputs("  ", j->f);
        }
    }
}

static void json_key(json_out *j, const char *k)
{
    json_sep(j);
    json_string(j->f, k);
    fputs(j->pretty ? ": " : ":", j->f);
    j->after_key = 1;
}

static void json_open(json_out *j, const char *key, char c)
{
    if (key)
        json_key(j, key);
    else
        json_sep(j);
    j->after_key = 0;
    fputc(c, j->f);
    j->depth++;
    j->first[j->depth] = 1;
}

static void json_close(json_out *j, char c)
{
    int empty = j->first[j->depth];
    j->depth--;
    if (j->pretty && !empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(c, j->f);
}

/* Scalars written after json_key() consume the pending key. */
static void json_kv_str(json_out *j, const char *k, const char *v)
{
    json_key(j, k);
    j->after_key = 0;
    json_string(j->f, v);
}

static void json_kv_u64(json_out *j, const char *k, uint64_t v)
{
    json_key(j, k);
    j->after_key = 0;
    fprintf(j->f, "%" PRIu64, v);
}

static void json_kv_i64(json_out *j, const char *k, int64_t v)
{
    json_key(j, k);
    j->after_key = 0;
    fprintf(j->f, "%" PRId64, v);
}

static void json_kv_bool(json_out *j, const char *k, int v)
{
    json_key(j, k);
    j->after_key = 0;
    fputs(v ? "true" : "false", j->f);
}

static void json_kv_null(json_out *j, const char *k)
{
    json_key(j, k);
    j->after_key = 0;
    fputs("null", j->f);
}

/* ------------------------------------------------------------------------ */
/* Entries: one segment as seen by the tool                                  */
/* ------------------------------------------------------------------------ */

typedef enum cli_kind {
    CLI_KIND_SEGMENT,   /* readable, not a channel */
    CLI_KIND_CHANNEL,   /* readable, shmlink channel */
    CLI_KIND_UNKNOWN,   /* could not be opened: contents unknown */
    CLI_KIND_SEMAPHORE  /* /dev/shm/sem.* (only with ls --all) */
} cli_kind;

static const char *const cli_kind_names[] = {"segment", "channel", "unknown",
                                             "semaphore"};

typedef struct cli_entry {
    shmlink_backend backend;
    char address[SHMLINK_ADDRESS_MAX];      /* canonical */
    char open_address[SHMLINK_ADDRESS_MAX]; /* what to open/remove it by */
    cli_kind kind;
    uint64_t size;
    uint32_t mode;
    uint32_t uid, gid;
    int64_t ctime, mtime, atime, dtime;
    /* System V */
    int32_t shmid;
    uint32_t key;
    uint64_t nattch;
    uint32_t cuid, cgid;
    int32_t cpid, lpid;
    int removed; /* IPC_RMID done, still attached (SHM_DEST) */
    /* what opening it told */
    int readable;
    char note[160];
    shmlink_channel_info info; /* valid for CLI_KIND_CHANNEL */
} cli_entry;

typedef struct cli_list {
    cli_entry *v;
    size_t n, cap;
} cli_list;

static cli_entry *cli_list_add(cli_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        cli_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "%s: out of memory\n", cli_prog);
            exit(CLI_EXIT_ERR);
        }
        l->v = v;
        l->cap = cap;
    }
    cli_entry *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Stale: see cli_help_rm. */
static int cli_is_stale(const cli_entry *e)
{
    const shmlink_channel_info *i = &e->info;
    if (e->kind != CLI_KIND_CHANNEL)
        return 0;
    /* Attached System V segment (counted before our own look): some
     * process still has it mapped, whatever the header says. */
    if (e->backend == SHMLINK_BACKEND_SYSV && e->nattch > 0)
        return 0;
    int live = (i->writer_pid != 0 && i->writer_alive) ||
               (i->reader_pid != 0 && i->reader_alive);
    /* A writer that closed the stream ended cleanly, whether or not its
     * pid is still recorded. */
    int dead = (i->writer_pid != 0 && !i->writer_alive && !i->closed) ||
               (i->reader_pid != 0 && !i->reader_alive);
    int finished = i->closed && i->used == 0 &&
                   i->messages_received >= i->messages_sent;
    return !live && (dead || finished);
}

static void cli_stale_reason(const cli_entry *e, char *out, size_t cap)
{
    const shmlink_channel_info *i = &e->info;
    char w[48], r[48];
    if (i->writer_pid == 0)
        snprintf(w, sizeof w, i->closed ? "closed" : "absent");
    else
        snprintf(w, sizeof w, "%" PRId32 " %s", i->writer_pid,
                 i->writer_alive ? "alive" : "dead");
    if (i->reader_pid == 0)
        snprintf(r, sizeof r, "absent");
    else
        snprintf(r, sizeof r, "%" PRId32 " %s", i->reader_pid,
                 i->reader_alive ? "alive" : "dead");
    snprintf(out, cap, "writer %s, reader %s%s", w, r,
             i->closed ? ", end of stream" : "");
}

/* SIGBUS guard: a POSIX segment truncated by its owner while we read its
 * header would otherwise kill the tool. */
static sigjmp_buf cli_bus_jmp;
static volatile sig_atomic_t cli_bus_armed;

static void cli_on_sigbus(int sig)
{
    if (cli_bus_armed) {
        cli_bus_armed = 0;
        siglongjmp(cli_bus_jmp, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cli_install_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* Opens e read-only and looks for a channel header. Returns 0, or -ENOENT
 * when the segment vanished meanwhile (the caller drops it). */
static int cli_inspect(cli_entry *e)
{
    shmlink_segment *seg = NULL;
    int rc = shmlink_segment_open(e->open_address, SHMLINK_RDONLY, &seg);
    if (rc == -ENOENT || rc == -EIDRM)
        return -ENOENT;
    if (rc < 0) {
        e->readable = 0;
        e->kind = CLI_KIND_UNKNOWN;
        if (rc == -EACCES || rc == -EPERM)
            snprintf(e->note, sizeof e->note, "no read permission");
        else
            snprintf(e->note, sizeof e->note, "cannot open: %s",
                     shmlink_strerror(rc));
        return 0;
    }
    e->readable = 1;
    e->kind = CLI_KIND_SEGMENT;
    const void *mem = shmlink_segment_data(seg);
    size_t size = shmlink_segment_size(seg);
    if (sigsetjmp(cli_bus_jmp, 1) == 0) {
        cli_bus_armed = 1;
        shmlink_channel_info info;
        memset(&info, 0, sizeof info);
        if (shmlink_channel_inspect(mem, size, &info) == 0) {
            e->kind = CLI_KIND_CHANNEL;
            e->info = info;
        }
        cli_bus_armed = 0;
    } else {
        e->kind = CLI_KIND_UNKNOWN;
        snprintf(e->note, sizeof e->note,
                 "bus error reading it (truncated meanwhile?)");
    }
    shmlink_segment_close(seg);
    return 0;
}

static int cli_match(const char *glob, const char *address)
{
    return !glob || fnmatch(glob, address, 0) == 0;
}

/* POSIX: regular files in /dev/shm. Returns 0 or -errno of opendir. */
static int cli_collect_posix(cli_list *l, int all, const char *glob)
{
    DIR *d = opendir(CLI_DEV_SHM);
    if (!d)
        return -errno;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* vanished */
        if (!S_ISREG(st.st_mode))
            continue;
        int sem = strncmp(name, "sem.", 4) == 0;
        if (sem && !all)
            continue;
        char address[SHMLINK_ADDRESS_MAX];
        if (strlen(name) > 255)
            continue;
        snprintf(address, sizeof address, "posix:/%s", name);
        if (!cli_match(glob, address))
            continue;
        cli_entry *e = cli_list_add(l);
        e->backend = SHMLINK_BACKEND_POSIX;
        memcpy(e->address, address, sizeof address);
        memcpy(e->open_address, address, sizeof address);
        e->size = (uint64_t)st.st_size;
        e->mode = st.st_mode & 07777;
        e->uid = st.st_uid;
        e->gid = st.st_gid;
        e->ctime = st.st_ctim.tv_sec;
        e->mtime = st.st_mtim.tv_sec;
        e->shmid = -1;
        if (sem) {
            e->kind = CLI_KIND_SEMAPHORE;
            e->readable = 0;
            snprintf(e->note, sizeof e->note, "POSIX semaphore");
            continue;
        }
        if (cli_inspect(e) == -ENOENT)
            l->n--;
    }
    closedir(d);
    return 0;
}

/* One line of /proc/sysvipc/shm: key shmid perms size cpid lpid nattch uid
 * gid cuid cgid atime dtime ctime [rss swap]. Returns 1 if parsed. */
static int cli_parse_sysv_line(const char *line, cli_entry *e)
{
    long long f[14];
    const char *p = line;
    for (int i = 0; i < 14; i++) {
        char *end;
        errno = 0;
        /* perms is octal, the rest decimal */
        f[i] = strtoll(p, &end, i == 2 ? 8 : 10);
        if (end == p || errno)
            return 0;
        p = end;
    }
    e->backend = SHMLINK_BACKEND_SYSV;
    e->key = (uint32_t)f[0];
    e->shmid = (int32_t)f[1];
    e->mode = (uint32_t)f[2] & 0777;
    e->removed = (f[2] & CLI_SHM_DEST) != 0;
    e->size = (uint64_t)f[3];
    e->cpid = (int32_t)f[4];
    e->lpid = (int32_t)f[5];
    e->nattch = (uint64_t)f[6];
    e->uid = (uint32_t)f[7];
    e->gid = (uint32_t)f[8];
    e->cuid = (uint32_t)f[9];
    e->cgid = (uint32_t)f[10];
    e->atime = f[11];
    e->dtime = f[12];
    e->ctime = f[13];
    if (e->key != 0)
        snprintf(e->address, sizeof e->address, "sysv:0x%08" PRIx32, e->key);
    else
        snprintf(e->address, sizeof e->address, "sysv-id:%" PRId32, e->shmid);
    snprintf(e->open_address, sizeof e->open_address, "sysv-id:%" PRId32,
             e->shmid);
    return 1;
}

/* System V: lines of /proc/sysvipc/shm. want_key/want_id (>= 0 to use)
 * restrict to one segment. Returns 0 or -errno of fopen. */
static int cli_collect_sysv(cli_list *l, const char *glob, int inspect,
                            int64_t want_key, int64_t want_id)
{
    FILE *f = fopen(CLI_PROC_SYSV, "re");
    if (!f)
        return -errno;
    char line[512];
    int header = 1;
    while (fgets(line, sizeof line, f)) {
        if (header) {
            header = 0;
            continue;
        }
        cli_entry tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!cli_parse_sysv_line(line, &tmp))
            continue;
        if (want_key >= 0 && (int64_t)tmp.key != want_key)
            continue;
        if (want_id >= 0 && (int64_t)tmp.shmid != want_id)
            continue;
        if (!cli_match(glob, tmp.address))
            continue;
        cli_entry *e = cli_list_add(l);
        *e = tmp;
        if (inspect && cli_inspect(e) == -ENOENT)
            l->n--;
    }
    fclose(f);
    return 0;
}

static int cli_cmp_entry(const void *a, const void *b)
{
    const cli_entry *x = a, *y = b;
    if (x->backend != y->backend)
        return x->backend == SHMLINK_BACKEND_POSIX ? -1 : 1;
    if (x->backend == SHMLINK_BACKEND_SYSV)
        return (x->shmid > y->shmid) - (x->shmid < y->shmid);
    return strcmp(x->address, y->address);
}

/* Gathers both backends; reports a source it could not read on stderr and
 * returns 1 in that case (0 otherwise). */
static int cli_collect_all(cli_list *l, int all, const char *glob,
                           const char *cmd)
{
    int failed = 0;
    int rc = cli_collect_posix(l, all, glob);
    if (rc < 0 && rc != -ENOENT) {
        fprintf(stderr, "%s: %s: %s: %s\n", cli_prog, cmd, CLI_DEV_SHM,
                shmlink_strerror(rc));
        failed = 1;
    }
    rc = cli_collect_sysv(l, glob, 1, -1, -1);
    if (rc < 0 && rc != -ENOENT) {
        fprintf(stderr, "%s: %s: %s: %s\n", cli_prog, cmd, CLI_PROC_SYSV,
                shmlink_strerror(rc));
        failed = 1;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cli_cmp_entry);
    return failed;
}

/* ------------------------------------------------------------------------ */
/* Printing entries                                                          */
/* ------------------------------------------------------------------------ */

static double cli_fill_percent(const shmlink_channel_info *i)
{
    if (i->capacity == 0)
        return 0.0;
    return 100.0 * (double)i->used / (double)i->capacity;
}

static void json_peer(json_out *j, const char *k, int32_t pid, int alive)
{
    if (pid == 0) {
        json_kv_null(j, k);
        return;
    }
    json_open(j, k, '{');
    json_kv_i64(j, "pid", pid);
    json_kv_bool(j, "alive", alive);
    json_close(j, '}');
}

/* One entry as a JSON object; the same keys for every entry (null where a
 * field does not apply). */
static void json_entry(json_out *j, const cli_entry *e)
{
    char name[256], mode[8];
    int sysv = e->backend == SHMLINK_BACKEND_SYSV;
    json_open(j, NULL, '{');
    json_kv_str(j, "address", e->address);
    json_kv_str(j, "backend", sysv ? "sysv" : "posix");
    json_kv_str(j, "kind", cli_kind_names[e->kind]);
    json_kv_u64(j, "size", e->size);
    snprintf(mode, sizeof mode, "%04o", (unsigned)e->mode);
    json_kv_str(j, "mode", mode);
    json_kv_u64(j, "uid", e->uid);
    if (cli_user_name(e->uid, name, sizeof name))
        json_kv_str(j, "owner", name);
    else
        json_kv_null(j, "owner");
    json_kv_u64(j, "gid", e->gid);
    if (cli_group_name(e->gid, name, sizeof name))
        json_kv_str(j, "group", name);
    else
        json_kv_null(j, "group");
    json_kv_bool(j, "readable", e->readable);
    if (e->note[0])
        json_kv_str(j, "note", e->note);
    else
        json_kv_null(j, "note");
    json_kv_i64(j, "ctime", e->ctime);
    if (sysv) {
        json_kv_null(j, "mtime");
        json_kv_i64(j, "shmid", e->shmid);
        json_kv_u64(j, "key", e->key);
        json_kv_u64(j, "nattch", e->nattch);
        json_kv_i64(j, "cpid", e->cpid);
        json_kv_i64(j, "lpid", e->lpid);
        json_kv_u64(j, "cuid", e->cuid);
        json_kv_u64(j, "cgid", e->cgid);
        json_kv_i64(j, "atime", e->atime);
        json_kv_i64(j, "dtime", e->dtime);
        json_kv_bool(j, "removed", e->removed);
    } else {
        static const char *const none[] = {"shmid", "key", "nattch", "cpid",
                                           "lpid", "cuid", "cgid", "atime",
                                           "dtime"};
        json_kv_i64(j, "mtime", e->mtime);
        for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
            json_kv_null(j, none[i]);
        json_kv_bool(j, "removed", 0);
    }
    if (e->kind == CLI_KIND_CHANNEL) {
        const shmlink_channel_info *i = &e->info;
        json_open(j, "channel", '{');
        json_kv_u64(j, "version", i->version);
        json_kv_u64(j, "capacity", i->capacity);
        json_kv_u64(j, "max_message", i->max_message);
        json_kv_u64(j, "used", i->used);
        json_key(j, "fill_percent");
        j->after_key = 0;
        fprintf(j->f, "%.1f", cli_fill_percent(i));
        json_kv_u64(j, "messages_sent", i->messages_sent);
        json_kv_u64(j, "messages_received", i->messages_received);
        json_peer(j, "writer", i->writer_pid, i->writer_alive);
        json_peer(j, "reader", i->reader_pid, i->reader_alive);
        json_kv_bool(j, "closed", i->closed);
        json_kv_bool(j, "stale", cli_is_stale(e));
        json_close(j, '}');
    } else {
        json_kv_null(j, "channel");
    }
    json_close(j, '}');
}

static void cli_peer_text(int32_t pid, int alive, char *out, size_t cap)
{
    if (pid == 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%" PRId32 " %s", pid, alive ? "alive" : "dead");
}

enum { CLI_COLS = 10 };
static const char *const cli_headers[CLI_COLS] = {
    "ADDRESS", "KIND", "SIZE", "OWNER", "MODE",
    "FILL", "SENT/RECV", "WRITER", "READER", "STATE"};

typedef struct cli_row {
    char c[CLI_COLS][320];
} cli_row;

static void cli_row_of(const cli_entry *e, cli_row *r)
{
    memset(r, 0, sizeof *r);
    cli_display(e->address, r->c[0], sizeof r->c[0]);
    snprintf(r->c[1], sizeof r->c[1], "%s", cli_kind_names[e->kind]);
    cli_human(e->size, r->c[2], sizeof r->c[2]);
    char owner[256];
    cli_user_name(e->uid, owner, sizeof owner);
    cli_display(owner, r->c[3], sizeof r->c[3]);
    snprintf(r->c[4], sizeof r->c[4], "%04o", (unsigned)e->mode);
    char state[240] = "";
    if (e->kind == CLI_KIND_CHANNEL) {
        const shmlink_channel_info *i = &e->info;
        char used[16], cap[16];
        cli_human(i->used, used, sizeof used);
        cli_human(i->capacity, cap, sizeof cap);
        snprintf(r->c[5], sizeof r->c[5], "%s/%s %.0f%%", used, cap,
                 cli_fill_percent(i));
        snprintf(r->c[6], sizeof r->c[6], "%" PRIu64 "/%" PRIu64,
                 i->messages_sent, i->messages_received);
        cli_peer_text(i->writer_pid, i->writer_alive, r->c[7],
                      sizeof r->c[7]);
        cli_peer_text(i->reader_pid, i->reader_alive, r->c[8],
                      sizeof r->c[8]);
        snprintf(state, sizeof state, "%s", i->closed ? "eos" : "open");
        if (cli_is_stale(e))
            snprintf(state + strlen(state), sizeof state - strlen(state),
                     ", stale");
    } else {
        for (int k = 5; k <= 8; k++)
            snprintf(r->c[k], sizeof r->c[k], "-");
    }
    if (e->removed)
        snprintf(state + strlen(state), sizeof state - strlen(state),
                 "%sremoved, %" PRIu64 " attached", state[0] ? ", " : "",
                 e->nattch);
    if (e->note[0])
        snprintf(state + strlen(state), sizeof state - strlen(state), "%s%s",
                 state[0] ? ", " : "", e->note);
    snprintf(r->c[9], sizeof r->c[9], "%s", state[0] ? state : "-");
}

static void cli_print_table(const cli_list *l)
{
    size_t w[CLI_COLS];
    cli_row *rows = calloc(l->n ? l->n : 1, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        exit(CLI_EXIT_ERR);
    }
    for (int k = 0; k < CLI_COLS; k++)
        w[k] = strlen(cli_headers[k]);
    for (size_t i = 0; i < l->n; i++) {
        cli_row_of(&l->v[i], &rows[i]);
        for (int k = 0; k < CLI_COLS; k++)
            if (strlen(rows[i].c[k]) > w[k])
                w[k] = strlen(rows[i].c[k]);
    }
    for (int k = 0; k + 1 < CLI_COLS; k++)
        printf("%-*s  ", (int)w[k], cli_headers[k]);
    printf("%s\n", cli_headers[CLI_COLS - 1]);
    for (size_t i = 0; i < l->n; i++) {
        for (int k = 0; k + 1 < CLI_COLS; k++)
            printf("%-*s  ", (int)w[k], rows[i].c[k]);
        printf("%s\n", rows[i].c[CLI_COLS - 1]);
    }
    free(rows);
}

static void cli_print_stat_text(const cli_entry *e)
{
    char buf[320], t[64];
    int sysv = e->backend == SHMLINK_BACKEND_SYSV;
    cli_display(e->address, buf, sizeof buf);
    printf("address:    %s\n", buf);
    printf("backend:    %s\n", sysv ? "sysv" : "posix");
    printf("kind:       %s\n", cli_kind_names[e->kind]);
    cli_human(e->size, t, sizeof t);
    printf("size:       %" PRIu64 " (%s)\n", e->size, t);
    printf("mode:       %04o\n", (unsigned)e->mode);
    cli_user_name(e->uid, buf, sizeof buf);
    printf("owner:      %s (uid %" PRIu32 ")\n", buf, e->uid);
    cli_group_name(e->gid, buf, sizeof buf);
    printf("group:      %s (gid %" PRIu32 ")\n", buf, e->gid);
    cli_time(e->ctime, t, sizeof t);
    printf("changed:    %s\n", t);
    if (sysv) {
        printf("shmid:      %" PRId32 "\n", e->shmid);
        printf("key:        0x%08" PRIx32 "%s\n", e->key,
               e->key ? "" : " (private or removed)");
        printf("nattch:     %" PRIu64 " (processes attached)\n", e->nattch);
        cli_user_name(e->cuid, buf, sizeof buf);
        printf("creator:    pid %" PRId32 ", %s (uid %" PRIu32 ")\n", e->cpid,
               buf, e->cuid);
        printf("last pid:   %" PRId32 "\n", e->lpid);
        cli_time(e->atime, t, sizeof t);
        printf("last attach: %s\n", t);
        cli_time(e->dtime, t, sizeof t);
        printf("last detach: %s\n", t);
        if (e->removed)
            printf("removed:    yes (IPC_RMID done; gone at last detach)\n");
    } else {
        cli_time(e->mtime, t, sizeof t);
        printf("modified:   %s\n", t);
    }
    if (e->note[0])
        printf("note:       %s\n", e->note);
    if (e->kind == CLI_KIND_CHANNEL) {
        const shmlink_channel_info *i = &e->info;
        char used[16], cap[16], max[16];
        cli_human(i->used, used, sizeof used);
        cli_human(i->capacity, cap, sizeof cap);
        cli_human(i->max_message, max, sizeof max);
        printf("channel:    protocol version %" PRIu32 "\n", i->version);
        printf("capacity:   %" PRIu64 " (%s), largest message %" PRIu64
               " (%s)\n",
               i->capacity, cap, i->max_message, max);
        printf("fill:       %" PRIu64 " bytes (%s, %.1f%%)\n", i->used, used,
               cli_fill_percent(i));
        printf("sent:       %" PRIu64 " messages\n", i->messages_sent);
        printf("received:   %" PRIu64 " messages\n", i->messages_received);
        cli_peer_text(i->writer_pid, i->writer_alive, buf, sizeof buf);
        printf("writer:     %s\n", i->writer_pid ? buf : "none");
        cli_peer_text(i->reader_pid, i->reader_alive, buf, sizeof buf);
        printf("reader:     %s\n", i->reader_pid ? buf : "none");
        printf("end of stream: %s\n", i->closed ? "yes" : "no");
        char reason[160];
        cli_stale_reason(e, reason, sizeof reason);
        printf("stale:      %s (%s)\n", cli_is_stale(e) ? "yes" : "no",
               reason);
    }
}

/* ------------------------------------------------------------------------ */
/* Option parsing helpers                                                    */
/* ------------------------------------------------------------------------ */

static int cli_is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Accepts "--match GLOB" and "--match=GLOB". Returns 1 if argv[*i] was
 * it (advancing *i), 0 if not, -1 on a missing value. */
static int cli_opt_match(int argc, char **argv, int *i, const char **glob)
{
    const char *a = argv[*i];
    if (strncmp(a, "--match=", 8) == 0) {
        *glob = a + 8;
        return 1;
    }
    if (strcmp(a, "--match") == 0) {
        if (*i + 1 >= argc)
            return -1;
        *glob = argv[++*i];
        return 1;
    }
    return 0;
}

/* Reports a bad address the way every command does. */
static void cli_address_error(const char *cmd, const char *address, int rc)
{
    char shown[320];
    shmlink_address parsed;
    cli_display(address, shown, sizeof shown);
    if (rc == -EINVAL && shmlink_address_parse(address, &parsed) == 0 &&
        parsed.kind == SHMLINK_ADDR_SYSV_PRIVATE)
        fprintf(stderr,
                "%s: %s %s: names no existing segment (it is for create "
                "only); use sysv-id:SHMID\n",
                cli_prog, cmd, shown);
    else if (rc == -EINVAL)
        fprintf(stderr,
                "%s: %s %s: malformed address (expected posix:/NAME, "
                "sysv:KEY or sysv-id:SHMID)\n",
                cli_prog, cmd, shown);
    else
        fprintf(stderr, "%s: %s %s: %s\n", cli_prog, cmd, shown,
                shmlink_strerror(rc));
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */
/* ------------------------------------------------------------------------ */

static int cmd_ls(int argc, char **argv)
{
    int json = 0, all = 0;
    const char *glob = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m;
        if (cli_is_help(a)) {
            fputs(cli_help_ls, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--all") == 0 || strcmp(a, "-a") == 0) {
            all = 1;
        } else if ((m = cli_opt_match(argc, argv, &i, &glob)) != 0) {
            if (m < 0) {
                cli_usage_error("ls", "--match needs a pattern");
                return CLI_EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            cli_usage_error("ls", "unknown option '%s'", a);
            return CLI_EXIT_USAGE;
        } else {
            cli_usage_error("ls", "unexpected argument '%s'", a);
            return CLI_EXIT_USAGE;
        }
    }
    cli_list l = {0};
    int failed = cli_collect_all(&l, all, glob, "ls");
    if (json) {
        json_out j = {.f = stdout, .pretty = 1};
        json_open(&j, NULL, '[');
        for (size_t i = 0; i < l.n; i++)
            json_entry(&j, &l.v[i]);
        json_close(&j, ']');
        fputc('\n', stdout);
    } else {
        cli_print_table(&l);
    }
    free(l.v);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: ls: writing output: %s\n", cli_prog,
                strerror(errno));
        return CLI_EXIT_ERR;
    }
    return failed ? CLI_EXIT_ERR : CLI_EXIT_OK;
}

/* Fills e for one address: shmlink_stat_address() when allowed; when the
 * kernel refuses (no read permission) what /dev/shm or /proc/sysvipc show.
 * Then inspects it. Returns 0 or a negative errno. */
static int cli_stat_one(const char *address, cli_entry *e)
{
    shmlink_address a;
    int rc = shmlink_address_parse(address, &a);
    if (rc < 0)
        return rc;
    if (a.kind == SHMLINK_ADDR_SYSV_PRIVATE)
        return -EINVAL;
    memset(e, 0, sizeof *e);
    shmlink_stat st;
    rc = shmlink_stat_address(address, &st);
    if (rc == 0) {
        e->backend = st.backend;
        /* The canonical name of a keyed segment is its key, even when it
         * was asked for by id (as in ls). */
        if (st.backend == SHMLINK_BACKEND_SYSV && st.key != 0)
            snprintf(e->address, sizeof e->address, "sysv:0x%08" PRIx32,
                     st.key);
        else
            snprintf(e->address, sizeof e->address, "%s", st.address);
        e->size = st.size;
        e->mode = st.mode;
        e->uid = st.uid;
        e->gid = st.gid;
        e->ctime = st.ctime;
        e->mtime = st.mtime;
        e->shmid = st.backend == SHMLINK_BACKEND_SYSV ? st.shmid : -1;
        e->key = st.key;
        e->nattch = st.nattch;
        e->cuid = st.cuid;
        e->cgid = st.cgid;
        e->cpid = st.cpid;
        e->lpid = st.lpid;
        e->atime = st.atime;
        e->dtime = st.dtime;
        if (st.backend == SHMLINK_BACKEND_SYSV) {
            snprintf(e->open_address, sizeof e->open_address,
                     "sysv-id:%" PRId32, st.shmid);
            /* IPC_STAT does not say SHM_DEST through shmlink_stat; the
             * listing does. */
            cli_list l = {0};
            if (cli_collect_sysv(&l, NULL, 0, -1, st.shmid) == 0 && l.n == 1)
                e->removed = l.v[0].removed;
            free(l.v);
        } else {
            snprintf(e->open_address, sizeof e->open_address, "%s",
                     st.address);
        }
    } else if (rc == -EACCES || rc == -EPERM) {
        if (a.backend == SHMLINK_BACKEND_POSIX) {
            char path[300];
            struct stat sb;
            snprintf(path, sizeof path, "%s%s", CLI_DEV_SHM, a.name);
            if (stat(path, &sb) != 0)
                return rc;
            e->backend = SHMLINK_BACKEND_POSIX;
            snprintf(e->address, sizeof e->address, "posix:%s", a.name);
            snprintf(e->open_address, sizeof e->open_address, "%s",
                     e->address);
            e->size = (uint64_t)sb.st_size;
            e->mode = sb.st_mode & 07777;
            e->uid = sb.st_uid;
            e->gid = sb.st_gid;
            e->ctime = sb.st_ctim.tv_sec;
            e->mtime = sb.st_mtim.tv_sec;
            e->shmid = -1;
        } else {
            cli_list l = {0};
            int64_t key = a.kind == SHMLINK_ADDR_SYSV_KEY ? (int64_t)a.key : -1;
            int64_t id = a.kind == SHMLINK_ADDR_SYSV_ID ? (int64_t)a.id : -1;
            if (cli_collect_sysv(&l, NULL, 0, key, id) != 0 || l.n != 1) {
                free(l.v);
                return rc;
            }
            *e = l.v[0];
            free(l.v);
        }
    } else {
        return rc;
    }
    return cli_inspect(e);
}

static int cmd_stat(int argc, char **argv)
{
    int json = 0;
    const char *address = NULL;
    int dashdash = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && cli_is_help(a)) {
            fputs(cli_help_stat, stdout);
            return CLI_EXIT_OK;
        } else if (!dashdash && strcmp(a, "--json") == 0) {
            json = 1;
        } else if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
        } else if (!dashdash && a[0] == '-') {
            cli_usage_error("stat", "unknown option '%s'", a);
            return CLI_EXIT_USAGE;
        } else if (address) {
            cli_usage_error("stat", "takes one address, got a second: '%s'",
                            a);
            return CLI_EXIT_USAGE;
        } else {
            address = a;
        }
    }
    if (!address) {
        cli_usage_error("stat", "missing ADDRESS");
        return CLI_EXIT_USAGE;
    }
    cli_entry e;
    int rc = cli_stat_one(address, &e);
    if (rc < 0) {
        cli_address_error("stat", address, rc);
        return CLI_EXIT_ERR;
    }
    if (json) {
        json_out j = {.f = stdout, .pretty = 1};
        json_entry(&j, &e);
        fputc('\n', stdout);
    } else {
        cli_print_stat_text(&e);
    }
    if (fflush(stdout) != 0)
        return CLI_EXIT_ERR;
    return CLI_EXIT_OK;
}

/* Looks at a stale candidate once more right before removing it, so a peer
 * that took a role over since the listing (restart) keeps its channel.
 * Returns 1 if it is still stale. */
static int cli_still_stale(const cli_entry *e)
{
    if (e->backend == SHMLINK_BACKEND_SYSV) {
        cli_list l = {0};
        int rc = cli_collect_sysv(&l, NULL, 1, -1, e->shmid);
        int stale = rc == 0 && l.n == 1 && cli_is_stale(&l.v[0]);
        free(l.v);
        return stale;
    }
    cli_entry again = *e;
    memset(&again.info, 0, sizeof again.info);
    again.note[0] = '\0';
    if (cli_inspect(&again) < 0)
        return 0;
    return cli_is_stale(&again);
}

static int cli_rm_stale(int dry_run, int json, const char *glob)
{
    cli_list l = {0};
    int failed = cli_collect_all(&l, 0, glob, "rm");
    json_out j = {.f = stdout, .pretty = 1};
    size_t count = 0;
    if (json)
        json_open(&j, NULL, '[');
    for (size_t i = 0; i < l.n; i++) {
        const cli_entry *e = &l.v[i];
        if (!cli_is_stale(e) || (!dry_run && !cli_still_stale(e)))
            continue;
        count++;
        char reason[160];
        cli_stale_reason(e, reason, sizeof reason);
        int rc = 0;
        if (!dry_run) {
            rc = shmlink_remove(e->open_address);
            if (rc == -ENOENT || rc == -EIDRM)
                rc = 0; /* someone else removed it meanwhile: gone is gone */
        }
        char shown[320];
        cli_display(e->address, shown, sizeof shown);
        if (rc < 0) {
            failed = 1;
            fprintf(stderr, "%s: rm %s: %s\n", cli_prog, shown,
                    shmlink_strerror(rc));
        }
        if (json) {
            json_open(&j, NULL, '{');
            json_kv_str(&j, "address", e->address);
            json_kv_str(&j, "backend", e->backend == SHMLINK_BACKEND_SYSV
                                           ? "sysv"
                                           : "posix");
            json_kv_str(&j, "reason", reason);
            json_kv_bool(&j, "removed", !dry_run && rc == 0);
            if (rc < 0)
                json_kv_str(&j, "error", shmlink_strerror(rc));
            else
                json_kv_null(&j, "error");
            json_close(&j, '}');
        } else if (rc == 0) {
            printf("%s %s (%s)\n", dry_run ? "would remove" : "removed",
                   shown, reason);
        }
    }
    if (json) {
        json_close(&j, ']');
        fputc('\n', stdout);
    } else if (count == 0) {
        printf("no stale channels\n");
    }
    free(l.v);
    if (fflush(stdout) != 0)
        failed = 1;
    return failed ? CLI_EXIT_ERR : CLI_EXIT_OK;
}

static int cmd_rm(int argc, char **argv)
{
    int stale = 0, dry_run = 0, json = 0, dashdash = 0;
    const char *glob = NULL;
    int naddr = 0;
    char **addrs = calloc((size_t)argc, sizeof *addrs);
    if (!addrs)
        return CLI_EXIT_ERR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m;
        if (dashdash || a[0] != '-' || a[1] == '\0') {
            addrs[naddr++] = argv[i];
        } else if (cli_is_help(a)) {
            fputs(cli_help_rm, stdout);
            free(addrs);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--") == 0) {
            dashdash = 1;
        } else if (strcmp(a, "--stale") == 0) {
            stale = 1;
        } else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((m = cli_opt_match(argc, argv, &i, &glob)) != 0) {
            if (m < 0) {
                cli_usage_error("rm", "--match needs a pattern");
                free(addrs);
                return CLI_EXIT_USAGE;
            }
        } else {
            cli_usage_error("rm", "unknown option '%s'", a);
            free(addrs);
            return CLI_EXIT_USAGE;
        }
    }
    int status;
    if (stale) {
        if (naddr > 0) {
            cli_usage_error("rm", "--stale takes no addresses (use --match "
                                  "GLOB to narrow it)");
            status = CLI_EXIT_USAGE;
        } else {
            status = cli_rm_stale(dry_run, json, glob);
        }
    } else if (dry_run || json || glob) {
        cli_usage_error("rm", "%s only goes with --stale",
                        dry_run ? "--dry-run" : json ? "--json" : "--match");
        status = CLI_EXIT_USAGE;
    } else if (naddr == 0) {
        cli_usage_error("rm", "missing ADDRESS (or --stale)");
        status = CLI_EXIT_USAGE;
    } else {
        status = CLI_EXIT_OK;
        for (int i = 0; i < naddr; i++) {
            shmlink_address parsed;
            int rc = shmlink_address_parse(addrs[i], &parsed);
            if (rc == 0 && parsed.kind == SHMLINK_ADDR_SYSV_PRIVATE)
                rc = -EINVAL;
            if (rc == 0)
                rc = shmlink_remove(addrs[i]);
            if (rc < 0) {
                cli_address_error("rm", addrs[i], rc);
                status = CLI_EXIT_ERR;
            }
        }
    }
    free(addrs);
    return status;
}

int main(int argc, char **argv)
{
    cli_install_sigbus();
    if (argc < 2) {
        fputs(cli_help_main, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (cli_is_help(cmd)) {
        fputs(cli_help_main, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("shmlink %d.%d.%d\n", SHMLINK_VERSION_MAJOR,
               SHMLINK_VERSION_MINOR, SHMLINK_VERSION_PATCH);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        const char *what = argc > 2 ? argv[2] : NULL;
        if (!what)
            fputs(cli_help_main, stdout);
        else if (strcmp(what, "ls") == 0)
            fputs(cli_help_ls, stdout);
        else if (strcmp(what, "stat") == 0)
            fputs(cli_help_stat, stdout);
        else if (strcmp(what, "rm") == 0)
            fputs(cli_help_rm, stdout);
        else {
            cli_usage_error(NULL, "no such command '%s'", what);
            return CLI_EXIT_USAGE;
        }
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "ls") == 0)
        return cmd_ls(argc - 1, argv + 1);
    if (strcmp(cmd, "stat") == 0)
        return cmd_stat(argc - 1, argv + 1);
    if (strcmp(cmd, "rm") == 0)
        return cmd_rm(argc - 1, argv + 1);
    if (cmd[0] == '-')
        cli_usage_error(NULL, "unknown option '%s'", cmd);
    else
        cli_usage_error(NULL, "unknown command '%s'", cmd);
    return CLI_EXIT_USAGE;
}
