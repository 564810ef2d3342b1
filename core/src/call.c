#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

/*
 * Calls (docs/PROTOCOL.md 13.5): a server's request channel is a work
 * queue with a writer slot per client; each client reads its replies from
 * a reply channel of its own, written by the server's workers. Everything
 * here is built on the public channel API and a few internal accessors
 * (channel_internal.h).
 */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"
#include "channel_internal.h"
#include "wait.h"

#define CALL_HDR         SHMLINK_CALL_HEADER
#define CALL_KIND_POSIX  1u
#define CALL_KIND_SYSV   2u
#define CALL_NAME_MAX    250         /* POSIX name bytes, so that ".r63" fits */
#define CALL_SLICE_NS    100000000ll /* server liveness check period */
#define CALL_DEF_CLIENTS 8u

/* A call's time budget: timeout as the channel API takes it (< 0: no
 * limit, 0: no waiting) and the deadline it gives. */
typedef struct call_clock {
    int64_t timeout;
    uint64_t deadline;
} call_clock;

static call_clock call_clock_start(int64_t timeout_ns)
{
    call_clock c = {timeout_ns, UINT64_MAX};
    if (timeout_ns > 0)
        c.deadline = shmlink__now_ns() + (uint64_t)timeout_ns;
    return c;
}

/* What is left of the budget, as a timeout argument. */
static int64_t call_left(const call_clock *c)
{
    if (c->timeout <= 0)
        return c->timeout;
    uint64_t now = shmlink__now_ns();
    return now >= c->deadline ? 0 : (int64_t)(c->deadline - now);
}

/* The next wait slice: what is left, at most CALL_SLICE_NS. */
static int64_t call_slice(const call_clock *c)
{
    int64_t t = call_left(c);
    return t < 0 || t > CALL_SLICE_NS ? CALL_SLICE_NS : t;
}

/* The budget is spent (or there was none). */
static int call_expired(const call_clock *c)
{
    return c->timeout == 0 ||
           (c->timeout > 0 && shmlink__now_ns() >= c->deadline);
}

/* The 16-byte headers: request call_id, flags, reserved; reply call_id,
 * status, reserved (little-endian, as every field of the protocol). */
static void call_put_hdr(uint8_t *p, uint64_t id, uint32_t word)
{
    uint32_t zero = 0;
    memcpy(p, &id, 8);
    memcpy(p + 8, &word, 4);
    memcpy(p + 12, &zero, 4);
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct call_reply {
    shmlink_channel *ch; /* our writer handle of that client's reply channel */
    uint64_t owner;      /* the client slot's owner word when opened */
} call_reply;

struct shmlink_server {
    shmlink_channel *req;           /* queue reader of the request channel */
    char name[SHMLINK_ADDRESS_MAX]; /* canonical address */
    int posix;
    unsigned nclients;
    call_reply *replies; /* per client slot */
    int active;          /* a request is current (peeked) */
    unsigned src;        /* its client slot */
    uint64_t call_id;
    int reserved; /* a reply is reserved in replies[src].ch */
    uint8_t *hdr; /* its call header */
};

static int srv_new(shmlink_channel *req, shmlink_server **out)
{
    shmlink_fanout fo;
    unsigned slot;
    if (shmlink_channel_fanout_of(req, &fo, &slot) < 0 || fo != SHMLINK_QUEUE) {
        shmlink_channel_close(req);
        return -EPROTO;
    }
    shmlink_server *srv = calloc(1, sizeof(*srv));
    int nw = shmlink_channel_writers(req);
    if (srv)
        srv->replies = calloc((size_t)nw, sizeof(call_reply));
    if (!srv || !srv->replies) {
        free(srv);
        shmlink_channel_close(req);
        return -ENOMEM;
    }
    srv->req = req;
    srv->nclients = (unsigned)nw;
    snprintf(srv->name, sizeof(srv->name), "%s", shmlink_channel_address(req));
    srv->posix = strncmp(srv->name, "posix:", 6) == 0;
    shmlink__channel_set_no_eos(req);
    *out = srv;
    return 0;
}

static int call_name_ok(const char *address)
{
    shmlink_address a;
    int rc = shmlink_address_parse(address, &a);
    if (rc < 0)
        return rc;
    if (a.backend == SHMLINK_BACKEND_POSIX && strlen(a.name) > CALL_NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

SHMLINK_EXTERN int shmlink_server_create(const char *address,
                                         const shmlink_server_config *cfg,
                                         shmlink_server **out)
{
    if (!out || !cfg)
        return -EINVAL;
    *out = NULL;
    int rc = call_name_ok(address);
    if (rc < 0)
        return rc;
    shmlink_channel_config cc = {cfg->capacity, cfg->mode ? cfg->mode : 0600,
                                 cfg->workers ? cfg->workers : 1,
                                 cfg->clients ? cfg->clients : CALL_DEF_CLIENTS,
                                 SHMLINK_QUEUE};
    shmlink_channel *req;
    rc = shmlink_channel_create_config(address, &cc, SHMLINK_READER, &req);
    if (rc < 0)
        return rc;
    rc = srv_new(req, out);
    if (rc < 0)
        (void)shmlink_remove(address);
    return rc;
}

SHMLINK_EXTERN int shmlink_server_open(const char *address,
                                       shmlink_server **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    shmlink_channel *req;
    int rc = shmlink_channel_open(address, SHMLINK_READER, &req);
    return rc < 0 ? rc : srv_new(req, out);
}

static void srv_forget(shmlink_server *srv, unsigned w, int reader_gone);

/* Closes our writer handles of the reply channels of clients that left
 * (their slot's owner word is no longer the one we opened under): a handle
 * kept open keeps a System V reply channel's semaphore set alive, and a
 * worker killed later could not give it back. One load per client slot. */
static void srv_sweep(shmlink_server *srv)
{
    for (unsigned w = 0; w < srv->nclients; w++) {
        uint32_t kind, id;
        uint64_t owner;
        if (srv->replies[w].ch &&
            shmlink__channel_reply_of(srv->req, w, &kind, &id, &owner) == 0 &&
            owner != srv->replies[w].owner)
            srv_forget(srv, w, -1);
    }
}

SHMLINK_EXTERN int shmlink_server_recv(shmlink_server *srv,
                                       shmlink_request *req, int64_t timeout_ns)
{
    if (!srv || !req || srv->active)
        return -EINVAL;
    uint64_t since = shmlink_channel_interrupts(srv->req);
    call_clock clk = call_clock_start(timeout_ns);
    for (;;) {
        /* Wait in slices, closing the reply handles of clients that left
         * between them (srv_sweep). */
        srv_sweep(srv);
        int rc = shmlink_channel_wait(srv->req, 0, call_slice(&clk), since);
        if (rc == -ETIMEDOUT) {
            if (call_expired(&clk))
                return -ETIMEDOUT;
            continue;
        }
        if (rc < 0)
            return rc;
        const void *p;
        size_t n;
        rc = shmlink_channel_peek(srv->req, &p, &n, 0);
        if (rc == -ETIMEDOUT)
            continue; /* another worker took it */
        if (rc < 0)
            return rc;
        const uint8_t *b = p;
        uint32_t flags = 0, rsv = 0;
        if (n >= CALL_HDR) {
            memcpy(&flags, b + 8, 4);
            memcpy(&rsv, b + 12, 4);
        }
        if (n < CALL_HDR || flags != 0 || rsv != 0) {
            (void)shmlink_channel_release(srv->req); /* malformed: drop */
            continue;
        }
        srv->active = 1;
        srv->src = (unsigned)shmlink_channel_source(srv->req);
        memcpy(&srv->call_id, b, 8);
        req->data = b + CALL_HDR;
        req->len = n - CALL_HDR;
        req->call_id = srv->call_id;
        req->client = srv->src;
        return 0;
    }
}

/* Closes our writer handle of client slot w's reply channel. A System V
 * reply channel whose reader is gone (reader_gone: known to be; -1: ask)
 * is removed first: a client that died could not, and its id cannot name
 * another segment while we are attached. (A POSIX one is removed by the
 * next client of the slot: its name may be reused at any time.) */
static void srv_forget(shmlink_server *srv, unsigned w, int reader_gone)
{
    call_reply *r = &srv->replies[w];
    if (!r->ch)
        return;
    if (reader_gone < 0 && !srv->posix) {
        shmlink_channel_info info;
        reader_gone = shmlink_channel_info_get(r->ch, &info) == 0 &&
                      info.reader_alive == 0;
    }
    if (reader_gone && !srv->posix) {
        char addr[SHMLINK_ADDRESS_MAX];
        snprintf(addr, sizeof(addr), "%s", shmlink_channel_address(r->ch));
        (void)shmlink_remove(addr);
    }
    shmlink_channel_close(r->ch);
    r->ch = NULL;
}

/* Our writer handle of the current request's reply channel, opened (again)
 * when the client slot has a new holder. 0 or an error. */
static int srv_reply_handle(shmlink_server *srv, shmlink_channel **out)
{
    uint32_t kind, id;
    uint64_t owner;
    int rc = shmlink__channel_reply_of(srv->req, srv->src, &kind, &id, &owner);
    if (rc < 0)
        return rc;
    call_reply *r = &srv->replies[srv->src];
    if (r->ch && r->owner == owner) {
        *out = r->ch;
        return 0;
    }
    srv_forget(srv, srv->src, -1); /* another client holds the slot now */
    char addr[SHMLINK_ADDRESS_MAX + 8];
    if (kind == CALL_KIND_POSIX && srv->posix)
        snprintf(addr, sizeof(addr), "%s.r%u", srv->name, srv->src);
    else if (kind == CALL_KIND_SYSV && !srv->posix)
        snprintf(addr, sizeof(addr), "sysv-id:%u", id);
    else
        return -ENOENT; /* no reply channel (yet), or a corrupt kind */
    rc = shmlink_channel_open(addr, SHMLINK_WRITER, &r->ch);
    if (rc < 0) {
        r->ch = NULL;
        return rc;
    }
    r->owner = owner;
    *out = r->ch;
    return 0;
}

/* Ends the current request (the acknowledgement of its peek). */
static void srv_finish(shmlink_server *srv)
{
    (void)shmlink_channel_release(srv->req);
    srv->active = 0;
    srv->reserved = 0;
}

/* Whether a reply error ends the request (the reply cannot be delivered)
 * or leaves it current (the caller may retry or drop). */
static int srv_fatal(int rc)
{
    return rc != -EMSGSIZE && rc != -ETIMEDOUT && rc != -ECANCELED &&
           rc != -EINTR && rc != -EINVAL;
}

SHMLINK_EXTERN int shmlink_server_reserve(shmlink_server *srv, size_t len,
                                          void **ptr, int64_t timeout_ns)
{
    if (!srv || !ptr || !srv->active || srv->reserved)
        return -EINVAL;
    if (len > shmlink_server_max_message(srv))
        return -EMSGSIZE;
    shmlink_channel *ch;
    int rc = srv_reply_handle(srv, &ch);
    void *p = NULL;
    if (rc == 0)
        rc = shmlink_channel_reserve(ch, len + CALL_HDR, &p, timeout_ns);
    if (rc < 0) {
        if (rc == -EPIPE || rc == -EPROTO)
            srv_forget(srv, srv->src, rc == -EPIPE);
        if (srv_fatal(rc))
            srv_finish(srv);
        return rc;
    }
    srv->reserved = 1;
    srv->hdr = p;
    *ptr = (uint8_t *)p + CALL_HDR;
    return 0;
}

SHMLINK_EXTERN int shmlink_server_commit(shmlink_server *srv, size_t len,
                                         int status)
{
    if (!srv || !srv->active || !srv->reserved)
        return -EINVAL;
    call_put_hdr(srv->hdr, srv->call_id, (uint32_t)status);
    int rc = shmlink_channel_commit(srv->replies[srv->src].ch, len + CALL_HDR);
    if (rc == -EINVAL)
        return rc; /* len beyond the reservation: still reserved */
    if (rc < 0)
        srv_forget(srv, srv->src, 0);
    srv_finish(srv);
    return rc;
}

SHMLINK_EXTERN int shmlink_server_reply(shmlink_server *srv, const void *data,
                                        size_t len, int status,
                                        int64_t timeout_ns)
{
    if (!srv || (len > 0 && !data) || !srv->active || srv->reserved)
        return -EINVAL;
    void *p;
    int rc = shmlink_server_reserve(srv, len, &p, timeout_ns);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(p, data, len);
    return shmlink_server_commit(srv, len, status);
}

SHMLINK_EXTERN int shmlink_server_drop(shmlink_server *srv)
{
    if (!srv || !srv->active)
        return -EINVAL;
    if (srv->reserved)
        (void)shmlink_channel_abort(srv->replies[srv->src].ch);
    srv_finish(srv);
    return 0;
}

SHMLINK_EXTERN int shmlink_server_interrupt(shmlink_server *srv)
{
    if (!srv)
        return -EINVAL;
    return shmlink_channel_interrupt(srv->req);
}

SHMLINK_EXTERN size_t shmlink_server_max_message(const shmlink_server *srv)
{
    return srv ? shmlink_channel_max_message(srv->req) - CALL_HDR : 0;
}

SHMLINK_EXTERN void shmlink_server_close(shmlink_server *srv)
{
    if (!srv)
        return;
    for (unsigned w = 0; w < srv->nclients; w++)
        srv_forget(srv, w, -1);
    /* A current request stays unreleased: another worker serves it. */
    shmlink_channel_close(srv->req);
    free(srv->replies);
    free(srv);
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */
/* ------------------------------------------------------------------------ */

struct shmlink_client {
    shmlink_channel *req;   /* writer of the request channel */
    shmlink_channel *reply; /* reader of our reply channel */
    char reply_addr[SHMLINK_ADDRESS_MAX + 8];
    unsigned slot;
    uint64_t next_id;
};

static uint64_t call_random(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 16);
    }
    return v;
}

/* A dead client of our slot may have left a System V reply channel that
 * no worker ever opened (a worker that did removes it when it notices).
 * Its id may name another segment by now: it is removed only if the
 * process that created it is the slot's previous holder and nothing is
 * attached to it. */
static void cl_remove_stale_sysv(shmlink_client *cl)
{
    uint32_t kind, id;
    int32_t pid;
    if (shmlink__channel_prev_reply(cl->req, &kind, &id, &pid) < 0 ||
        kind != CALL_KIND_SYSV || pid <= 0 || id > INT32_MAX)
        return;
    char addr[32];
    snprintf(addr, sizeof(addr), "sysv-id:%u", id);
    shmlink_stat st;
    if (shmlink_stat_address(addr, &st) == 0 && st.cpid == pid &&
        st.nattch == 0)
        (void)shmlink_remove(addr);
}

/* Makes the client's reply channel (13.5): one reader (us), a writer
 * slot per worker slot, the request channel's capacity and permissions;
 * then stores its kind and id in our writer slot. 0 or an error (the
 * reply channel, if made, is left in cl->reply for the caller to undo). */
static int cl_make_reply(shmlink_client *cl, unsigned workers, unsigned mode)
{
    const char *name = shmlink_channel_address(cl->req);
    int posix = strncmp(name, "posix:", 6) == 0;
    if (posix) {
        snprintf(cl->reply_addr, sizeof(cl->reply_addr), "%s.r%u", name,
                 cl->slot);
        /* A dead client of our slot may have left its reply channel: the
         * slot's lock is ours, so no live client uses that name. */
        (void)shmlink_remove(cl->reply_addr);
    } else {
        cl_remove_stale_sysv(cl);
        snprintf(cl->reply_addr, sizeof(cl->reply_addr), "sysv:private");
    }
    shmlink_channel_config cc = {shmlink_channel_capacity(cl->req), mode | 0600,
                                 1, workers, SHMLINK_ONE};
    int rc = shmlink_channel_create_config(cl->reply_addr, &cc, SHMLINK_READER,
                                           &cl->reply);
    if (rc < 0)
        return rc;
    snprintf(cl->reply_addr, sizeof(cl->reply_addr), "%s",
             shmlink_channel_address(cl->reply));
    shmlink__channel_set_no_eos(cl->reply);
    uint32_t id = 0;
    if (!posix) {
        shmlink_address a;
        rc = shmlink_address_parse(cl->reply_addr, &a);
        if (rc < 0 || a.kind != SHMLINK_ADDR_SYSV_ID)
            return rc < 0 ? rc : -EPROTO;
        id = (uint32_t)a.id;
    }
    return shmlink__channel_set_reply(
        cl->req, posix ? CALL_KIND_POSIX : CALL_KIND_SYSV, id);
}

SHMLINK_EXTERN int shmlink_client_open(const char *address,
                                       shmlink_client **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    int rc = call_name_ok(address);
    if (rc < 0)
        return rc;
    shmlink_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return -ENOMEM;
    rc = shmlink_channel_open(address, SHMLINK_WRITER, &cl->req);
    if (rc < 0) {
        free(cl);
        return rc;
    }
    shmlink_fanout fo;
    int workers = shmlink_channel_fanout_of(cl->req, &fo, &cl->slot);
    shmlink_stat st;
    int src = shmlink__channel_segment_stat(cl->req, &st);
    if (fo != SHMLINK_QUEUE || workers < 1)
        rc = -EPROTO;
    else if (src < 0)
        rc = src;
    else if (st.uid != (uint32_t)geteuid())
        /* A server of another user (root's: open trusts it) would not
         * open our reply channel (section 10): no call could be answered.
         * Say so now rather than let every call time out. */
        rc = -EPERM;
    else
        rc = cl_make_reply(cl, (unsigned)workers, st.mode & 0777);
    if (rc < 0) {
        if (cl->reply) {
            (void)shmlink_remove(cl->reply_addr);
            shmlink_channel_close(cl->reply);
        }
        shmlink_channel_close(cl->req);
        free(cl);
        return rc;
    }
    cl->next_id = call_random();
    *out = cl;
    return 0;
}

SHMLINK_EXTERN int shmlink_client_send(shmlink_client *cl, const void *data,
                                       size_t len, uint64_t *call_id,
                                       int64_t timeout_ns)
{
    if (!cl || !call_id || (len > 0 && !data))
        return -EINVAL;
    if (len > shmlink_client_max_message(cl))
        return -EMSGSIZE;
    void *p;
    int rc = shmlink_channel_reserve(cl->req, len + CALL_HDR, &p, timeout_ns);
    if (rc < 0)
        return rc;
    uint64_t id = cl->next_id++;
    call_put_hdr(p, id, 0);
    if (len)
        memcpy((uint8_t *)p + CALL_HDR, data, len);
    rc = shmlink_channel_commit(cl->req, len + CALL_HDR);
    if (rc == 0)
        *call_id = id;
    return rc;
}

SHMLINK_EXTERN int shmlink_client_recv(shmlink_client *cl, uint64_t *call_id,
                                       int *status, void *buf, size_t cap,
                                       size_t *len, int64_t timeout_ns)
{
    if (!cl || !call_id || !status || !len || (cap > 0 && !buf))
        return -EINVAL;
    uint64_t since = shmlink_channel_interrupts(cl->reply);
    call_clock clk = call_clock_start(timeout_ns);
    for (;;) {
        /* Wait in slices, looking at the server's workers between them:
         * the reply channel's own end of stream is not used (13.5). */
        int rc = shmlink_channel_wait(cl->reply, 0, call_slice(&clk), since);
        if (rc == -ETIMEDOUT) {
            if (shmlink__channel_readers_state(cl->req) == 0)
                return -EPIPE;
            if (call_expired(&clk))
                return -ETIMEDOUT;
            continue;
        }
        if (rc < 0)
            return rc;
        const void *p;
        size_t n;
        rc = shmlink_channel_peek(cl->reply, &p, &n, 0);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc < 0)
            return rc;
        const uint8_t *b = p;
        if (n < CALL_HDR) {
            (void)shmlink_channel_release(cl->reply); /* malformed: drop */
            continue;
        }
        uint32_t st;
        memcpy(call_id, b, 8);
        memcpy(&st, b + 8, 4);
        *status = (int)st;
        *len = n - CALL_HDR;
        if (n - CALL_HDR > cap)
            return -EMSGSIZE; /* still peeked: the next recv gets it */
        if (n > CALL_HDR)
            memcpy(buf, b + CALL_HDR, n - CALL_HDR);
        (void)shmlink_channel_release(cl->reply);
        return 0;
    }
}

SHMLINK_EXTERN int shmlink_client_call(shmlink_client *cl, const void *req,
                                       size_t len, void *resp, size_t cap,
                                       size_t *resp_len, int *status,
                                       int64_t timeout_ns)
{
    if (!cl || !resp_len || !status)
        return -EINVAL;
    call_clock clk = call_clock_start(timeout_ns);
    uint64_t id;
    int rc = shmlink_client_send(cl, req, len, &id, timeout_ns);
    if (rc < 0)
        return rc;
    for (;;) {
        uint64_t got;
        rc = shmlink_client_recv(cl, &got, status, resp, cap, resp_len,
                                 call_left(&clk));
        if (rc == -EMSGSIZE && got != id) {
            /* Too large and not ours (still peeked): drop it. */
            (void)shmlink_channel_release(cl->reply);
            continue;
        }
        if (rc < 0 || got == id)
            return rc;
    }
}

SHMLINK_EXTERN int shmlink_client_interrupt(shmlink_client *cl)
{
    if (!cl)
        return -EINVAL;
    (void)shmlink_channel_interrupt(cl->req);
    (void)shmlink_channel_interrupt(cl->reply);
    return 0;
}

SHMLINK_EXTERN size_t shmlink_client_max_message(const shmlink_client *cl)
{
    return cl ? shmlink_channel_max_message(cl->req) - CALL_HDR : 0;
}

SHMLINK_EXTERN unsigned shmlink_client_slot(const shmlink_client *cl)
{
    return cl ? cl->slot : 0;
}

SHMLINK_EXTERN void shmlink_client_close(shmlink_client *cl)
{
    if (!cl)
        return;
    /* Remove the reply channel, and its System V semaphore set at once:
     * the workers holding its writer slots may die before they close. Not
     * from a forked child: the client is its parent's, which still uses
     * the reply channel (the child's close only unmaps, section 6.7). */
    if (!shmlink__channel_inherited(cl->reply)) {
        /* First no reply channel in our slot: a worker that takes one of
         * our requests from now on drops it rather than open an id that
         * may name another segment once ours is removed. */
        (void)shmlink__channel_clear_reply(cl->req);
        (void)shmlink_remove(cl->reply_addr);
        (void)shmlink__channel_drop_locks(cl->reply);
    }
    shmlink_channel_close(cl->reply);
    shmlink_channel_close(cl->req);
    free(cl);
}
