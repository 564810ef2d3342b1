/*
 * shmlink._chan: the per-message hot path of the Python channel classes.
 *
 * Why a small CPython extension next to the cffi module: a cffi call plus
 * ffi.unpack costs about 1 us per message, which caps Python recv() near
 * 1 M msg/s. Here recv() is one C method call that peeks the message in the
 * ring, builds the bytes object straight from it (one copy) and releases it;
 * recv_batch() builds the whole list in C.
 *
 * This module contains no channel logic and does not link the C core: it
 * calls the core through the table of _capi.h, which the cffi module
 * (shmlink._shmlink, the one copy of the core in the process) fills and
 * shmlink._channel hands over once at import (bind()). Both sides compile
 * against shmlink.h, so the compiler checks every call. Everything that is
 * not per-message (create/open, inspection) stays in Python over cffi.
 *
 * Blocking: every call first tries without waiting while holding the GIL
 * (the common case when streaming: no GIL release, no system call). If it
 * has to wait, it releases the GIL for one shmlink_channel_wait() with the
 * caller's whole timeout (it consumes nothing), then takes the message or
 * the room with the GIL held. Signals: Python's handlers are installed
 * without SA_RESTART, so a signal ends the wait with -EINTR; the binding runs
 * the handlers (PyErr_CheckSignals: Ctrl-C raises KeyboardInterrupt at
 * once) and, if none raised, waits on for the time left (CLOCK_MONOTONIC,
 * the clock of time.monotonic()). In the main thread the wait is also cut
 * every 200 ms to check for a signal whose EINTR was lost (fc_wait_ready),
 * and SIGINT's handler is wrapped to end the wait at once (fc_sig_handler).
 *
 * Threads: a handle is for one thread at a time. A second thread calling in
 * while a call is in progress gets RuntimeError, except close(), which is
 * deferred: it interrupts the wait (shmlink_channel_interrupt), the blocked
 * call closes the handle and raises ValueError("... closed"), so the handle
 * is never freed under a call that uses it. The wait takes the interrupt
 * count read before the GIL was released, so a close() that comes in
 * between still ends it.
 *
 * asyncio (shmlink._channel): _interrupts() on the loop thread, _wait() in
 * the end's waiting thread, _interrupt() when the awaiting task is
 * cancelled; the message is then taken with timeout 0 on the loop thread.
 *
 * Stable ABI: built for Python 3.11 or later, setup.py defines
 * Py_LIMITED_API=0x030B0000 (3.11 is the first version whose limited API has
 * the buffer protocol), so one compiled module serves every later CPython
 * (the wheel is tagged abi3); for 3.9 and 3.10 the same code is compiled
 * against the full API. Hence only limited-API calls here: heap types made
 * from specs, functions instead of the PyTuple_GET_ITEM-style macros, and
 * type names through fc_type_name().
 *
 * fork: a handle belongs to the process that opened it. In a forked child
 * every call raises ChildProcessError before it reaches the core, and close
 * (or the garbage collector) only unmaps: the role stays with the parent.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "_capi.h"

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
#endif

/* ------------------------------------------------------------------------ */
/* The C core, reached through the table handed over by bind()               */
/* ------------------------------------------------------------------------ */

static shmlink_capi fc_core; /* a copy: one indirection less per call */
static int fc_bound;
static PyObject *fc_check; /* shmlink._errors.check(rc, address): raises */
static unsigned long fc_main_thread; /* the thread Python runs handlers in */

/* Longest core wait in the main thread between two signal checks (see
 * fc_wait_ready). */
#define FC_SIGNAL_NET_NS 200000000LL
/* The first of those waits, without the SIGINT wrapper (fc_core_wait_main):
 * longer than the core's spin (50 us unless SHMLINK_SPIN_NS says). */
#define FC_SIGNAL_QUICK_NS 100000LL

/* Bumped in every child made by fork() (pthread_atfork): a handle opened
 * under another value belongs to an ancestor process. */
static unsigned long fc_forks;

static void fc_after_fork_in_child(void)
{
    fc_forks++;
}

#define FC_PYERR  (-1000000) /* a Python exception is set */
#define FC_CLOSED (-1000001) /* close() was requested while waiting */

/* ------------------------------------------------------------------------ */
/* The handle object (base of shmlink.Reader and shmlink.Writer)             */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD shmlink_channel *ch; /* NULL once closed */
    PyObject *address;                 /* str */
    Py_ssize_t capacity;
    Py_ssize_t max_message;
    pid_t pid;           /* the process that opened the handle */
    unsigned long forks; /* fc_forks when it was opened */
    int busy;            /* a call is in progress (GIL released inside it) */
    int close_pending;   /* close() came while busy */
    int peeking;         /* reader: a peeked message is not released yet */
    int reserved;        /* writer: a reservation is not committed yet */
    /* reader: recv_batch scratch space */
    char *batch_buf;
    size_t batch_cap;
    size_t *batch_lens;
    size_t batch_nlens;
} FcChan;

static int fc_foreign(const FcChan *self)
{
    return self->forks != fc_forks;
}

static uint64_t fc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The name of a type, for error messages (new reference, or NULL with an
 * exception set). */
static PyObject *fc_type_name(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyType_GetName(tp);
#else
    return PyUnicode_FromString(tp->tp_name);
#endif
}

/* Raises exc with "<prefix>, not <type name of obj>". Returns NULL. */
static PyObject *fc_wrong_type(PyObject *exc, const char *prefix, PyObject *obj)
{
    PyObject *name = fc_type_name(Py_TYPE(obj));
    if (name != NULL) {
        PyErr_Format(exc, "%s, not %U", prefix, name);
        Py_DECREF(name);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Arguments: one parser for every method                                    */
/* ------------------------------------------------------------------------ */

/* A method's parameters, in order (at most FC_MAXARGS); the first `required`
 * must be given, positionally or by keyword. */
#define FC_MAXARGS 4
typedef struct {
    const char *name; /* for messages: "recv" */
    int required;
    int count;
    const char *params[FC_MAXARGS];
} fc_sig;

/* Fills out[0..count) with borrowed references to the arguments given;
 * out[i] keeps the caller's initial value (the default, or NULL) for a
 * parameter not given. Returns 0, or -1 with TypeError set. */
static int fc_args(const fc_sig *sig, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, PyObject **out)
{
    if (nargs > sig->count) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %d positional argument%s (%zd given)",
                     sig->name, sig->count, sig->count == 1 ? "" : "s", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GetItem(kwnames, k);
        int found = -1;
        for (int i = 0; i < sig->count && found < 0; i++)
            if (PyUnicode_CompareWithASCIIString(key, sig->params[i]) == 0)
                found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument %R",
                         sig->name, key);
            return -1;
        }
        if (found < nargs) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%s'",
                         sig->name, sig->params[found]);
            return -1;
        }
        out[found] = args[nargs + k];
    }
    for (int i = 0; i < sig->required; i++)
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'",
                         sig->name, sig->params[i]);
            return -1;
        }
    return 0;
}

/* Parses args into out[] unless there are none (the common call). */
#define FC_ARGS(sig, out)                                                      \
    ((nargs == 0 && kwnames == NULL)                                           \
         ? 0                                                                   \
         : fc_args(&(sig), args, nargs, kwnames, (out)))

/* timeout: None -> -1 (no limit); a number of seconds >= 0 -> nanoseconds. */
static int fc_timeout(PyObject *obj, int64_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = -1;
        return 0;
    }
    if (PyBool_Check(obj) || !(PyFloat_Check(obj) || PyLong_Check(obj))) {
        fc_wrong_type(PyExc_TypeError,
                      "shmlink: timeout must be a number of seconds or None",
                      obj);
        return -1;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(t) || t < 0) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: timeout must be >= 0 seconds or None, got %R",
                     obj);
        return -1;
    }
    /* Longer than ~292 years is no limit. */
    *out = t >= 9.2e9 ? -1 : (int64_t)(t * 1e9);
    return 0;
}

/* An int argument (not bool) >= min; obj NULL keeps *out (the default). */
static int fc_int(PyObject *obj, const char *what, Py_ssize_t min,
                  Py_ssize_t *out)
{
    if (obj == NULL)
        return 0;
    if (PyBool_Check(obj) || !PyLong_Check(obj)) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "shmlink: %s must be an int", what);
        fc_wrong_type(PyExc_TypeError, prefix, obj);
        return -1;
    }
    Py_ssize_t v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < min) {
        PyErr_Format(PyExc_ValueError, "shmlink: %s must be >= %zd, got %zd",
                     what, min, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Calls: entering, waiting, leaving, errors                                 */
/* ------------------------------------------------------------------------ */

static void fc_free_handle(FcChan *self)
{
    shmlink_channel *ch = self->ch;
    self->ch = NULL;
    self->peeking = 0;
    self->reserved = 0;
    if (ch)
        fc_core.channel_close(ch); /* in a forked child: only unmaps */
}

static void fc_set_forked_error(FcChan *self)
{
    PyObject *msg =
        PyUnicode_FromFormat("shmlink: channel %R was opened by process %ld; a "
                             "forked child cannot use it, open "
                             "the channel again in the child",
                             self->address, (long)self->pid);
    if (msg == NULL)
        return;
    PyObject *exc =
        PyObject_CallFunction(PyExc_ChildProcessError, "iO", ECHILD, msg);
    Py_DECREF(msg);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static int fc_enter(FcChan *self)
{
    if (!fc_bound) {
        PyErr_SetString(PyExc_RuntimeError,
                        "shmlink._chan: bind() was not called");
        return -1;
    }
    if (self->ch == NULL || self->close_pending) {
        PyErr_Format(PyExc_ValueError, "shmlink: channel %R is closed",
                     self->address ? self->address : Py_None);
        return -1;
    }
    if (fc_foreign(self)) {
        fc_set_forked_error(self);
        return -1;
    }
    if (self->busy) {
        PyErr_Format(PyExc_RuntimeError,
                     "shmlink: channel %R is in use by another thread "
                     "(a Reader or Writer is for one thread at a time)",
                     self->address);
        return -1;
    }
    self->busy = 1;
    return 0;
}

/* Ends a call; a close() that came meanwhile is carried out now. Returns
 * rc, or FC_CLOSED when the handle was closed under the call. */
static int fc_leave(FcChan *self, int rc)
{
    self->busy = 0;
    if (self->close_pending) {
        self->close_pending = 0;
        fc_free_handle(self);
        if (rc >= 0 || rc == -ETIMEDOUT || rc == -EINTR)
            rc = FC_CLOSED;
    }
    return rc;
}

/* Raises the Python error for a failed call; returns NULL. */
static PyObject *fc_raise(FcChan *self, int rc)
{
    if (rc == FC_PYERR)
        return NULL;
    if (rc == FC_CLOSED) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: channel %R was closed during the call",
                     self->address);
        return NULL;
    }
    if (rc == -ECHILD) {
        fc_set_forked_error(self);
        return NULL;
    }
    PyObject *r = PyObject_CallFunction(fc_check, "iO", rc, self->address);
    if (r != NULL) { /* check() must raise for rc < 0 */
        Py_DECREF(r);
        PyErr_Format(PyExc_SystemError, "shmlink: unexpected return code %d",
                     rc);
    }
    return NULL;
}

/* One operation of the core with a timeout in nanoseconds. */
typedef int (*fc_op)(FcChan *self, void *arg, int64_t timeout_ns);

/* The time left until deadline (UINT64_MAX: none) as a core timeout:
 * -1 without limit, 0 once it has passed. */
static int64_t fc_left(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    uint64_t now = fc_now_ns();
    return now >= deadline ? 0 : (int64_t)(deadline - now);
}

static uint64_t fc_deadline(int64_t timeout)
{
    return timeout < 0 ? UINT64_MAX : fc_now_ns() + (uint64_t)timeout;
}

/* One shmlink_channel_wait with the GIL released. */
static int fc_core_wait(FcChan *self, size_t need, int64_t timeout,
                        uint64_t since)
{
    PyThreadState *ts = PyEval_SaveThread();
    int rc = fc_core.channel_wait(self->ch, need, timeout, since);
    PyEval_RestoreThread(ts);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Ctrl-C in the main thread                                                 */
/* ------------------------------------------------------------------------ */

/* While the main thread waits in the core, SIGINT's handler is wrapped:
 * Python's own handler runs first (it records the signal for
 * PyErr_CheckSignals), then shmlink_channel_interrupt ends the wait at once,
 * wherever the waiting thread is: asleep in the futex (woken), between two
 * of the core's sleeps (where a signal interrupts no system call), or
 * running on while another thread of the process took the signal.
 *
 * shmlink_channel_interrupt may run in a signal handler: it does atomic
 * operations on the handle's interrupt count and on its sleep word and one
 * futex wake (a plain system call); no lock, no allocation. The handle stays
 * valid meanwhile: it is published here only while the waiting call holds
 * it (a close() from another thread is deferred until the call ends), and
 * fc_sig_unwrap waits for a handler on another thread that may still be
 * using it. errno is kept for the interrupted code.
 *
 * The wrapper is installed only while the GIL is released for one core
 * wait, so no Python code of this thread runs under it, and no other thread
 * can change SIGINT's Python handler meanwhile (signal.signal works only in
 * the main thread); it costs three sigaction calls (0.6 us measured) per
 * core wait but the first of a call, which is short (fc_wait_ready), and
 * nothing on the path that does not wait. A SIGINT in the microseconds
 * between the last signal check and the wrapping is left to the 200 ms net
 * of fc_wait_ready, as are the other signals (their EINTR ends the wait). */
static shmlink_channel *fc_sig_ch;     /* the handle waited on, or NULL */
static int fc_sig_users;               /* handlers running */
static int fc_sig_hit;                 /* a handler interrupted fc_sig_ch */
static struct sigaction fc_sig_python; /* the handler wrapped */

static void fc_sig_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    __atomic_add_fetch(&fc_sig_users, 1, __ATOMIC_SEQ_CST);
    const struct sigaction *p = &fc_sig_python;
    if (p->sa_flags & SA_SIGINFO)
        p->sa_sigaction(sig, si, uc);
    else
        p->sa_handler(sig);
    /* After Python's handler: the interrupted wait finds the signal
     * recorded when it checks (also when this runs on another thread). */
    shmlink_channel *ch = __atomic_load_n(&fc_sig_ch, __ATOMIC_SEQ_CST);
    if (ch != NULL) {
        __atomic_store_n(&fc_sig_hit, 1, __ATOMIC_SEQ_CST);
        fc_core.channel_interrupt(ch);
    }
    __atomic_sub_fetch(&fc_sig_users, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

/* Wraps the current SIGINT handler if it is a function (Python's, unless the
 * program changed it; a default or ignored SIGINT needs nothing). Returns 1
 * if wrapped. */
static int fc_sig_wrap(shmlink_channel *ch)
{
    if (sigaction(SIGINT, NULL, &fc_sig_python) < 0)
        return 0;
    if (fc_sig_python.sa_flags & SA_SIGINFO) {
        if (fc_sig_python.sa_sigaction == NULL ||
            fc_sig_python.sa_sigaction == fc_sig_handler)
            return 0;
    } else if (fc_sig_python.sa_handler == SIG_DFL ||
               fc_sig_python.sa_handler == SIG_IGN) {
        return 0;
    }
    __atomic_store_n(&fc_sig_hit, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fc_sig_ch, ch, __ATOMIC_SEQ_CST);
    struct sigaction wrap = fc_sig_python;
    wrap.sa_sigaction = fc_sig_handler;
    wrap.sa_flags |= SA_SIGINFO;
    wrap.sa_flags &= ~SA_RESETHAND;
    if (sigaction(SIGINT, &wrap, NULL) < 0) {
        __atomic_store_n(&fc_sig_ch, NULL, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

/* Puts the wrapped handler back and withdraws the handle; returns once no
 * handler can be using it (one on another thread finishes its interrupt
 * first). Returns 1 if a handler interrupted the wait. */
static int fc_sig_unwrap(void)
{
    (void)sigaction(SIGINT, &fc_sig_python, NULL);
    __atomic_store_n(&fc_sig_ch, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&fc_sig_users, __ATOMIC_SEQ_CST) != 0)
        sched_yield();
    return __atomic_exchange_n(&fc_sig_hit, 0, __ATOMIC_SEQ_CST);
}

/* fc_core_wait in the main thread: SIGINT ends it at once. A wait that
 * SIGINT's handler interrupted returns -EINTR, as one the signal itself
 * interrupted does. since: a count read for this wait alone (the handler
 * changes it). */
static int fc_core_wait_main(FcChan *self, size_t need, int64_t timeout,
                             uint64_t since)
{
    PyThreadState *ts = PyEval_SaveThread();
    int wrapped = fc_sig_wrap(self->ch);
    int rc = fc_core.channel_wait(self->ch, need, timeout, since);
    if (wrapped && fc_sig_unwrap() && rc == -ECANCELED)
        rc = -EINTR;
    PyEval_RestoreThread(ts);
    return rc;
}

/* Waits with the GIL released until a message can be received (reader) or
 * one of need bytes sent (writer), or deadline, in one core call. A signal
 * whose handler does not raise lets the wait go on for the time left;
 * close() ends it. since: the interrupt count the wait must see unchanged
 * (asyncio reads it on the loop thread), or NULL to read it here, with the
 * GIL held, so that a close() after that still ends the wait.
 *
 * A signal normally ends the core's futex sleep with EINTR. One that lands
 * while the waiting thread is between two of those sleeps (the core wakes
 * every 100 ms to check its peer, and under load the thread can wait for a
 * CPU there for milliseconds) interrupts no system call, and the core
 * sleeps on: Ctrl-C was lost that way about once in 20 tries on a loaded
 * 2-core machine. So in the main thread, where Python runs its handlers, a
 * core call lasts at most FC_SIGNAL_NET_NS, and signals are checked between
 * two calls: a lost EINTR costs that much latency, not the whole wait.
 * SIGINT ends those calls at once (fc_core_wait_main) from the second on;
 * the first lasts at most FC_SIGNAL_QUICK_NS and is not wrapped, so that a
 * peer that answers within the core's spin costs no sigaction calls.
 *
 * Call it inside a call (busy). Returns 0 (ready), -errno of
 * shmlink_channel_wait, FC_PYERR (a handler raised) or FC_CLOSED. */
static int fc_wait_ready(FcChan *self, size_t need, uint64_t deadline,
                         const uint64_t *since)
{
    int net = PyThread_get_thread_ident() == fc_main_thread;
    int quick = net; /* the main thread's first core call: see above */
    for (;;) {
        if (self->close_pending)
            return FC_CLOSED;
        int64_t left = fc_left(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        int64_t t = left, most = quick ? FC_SIGNAL_QUICK_NS : FC_SIGNAL_NET_NS;
        if (net && (t < 0 || t > most))
            t = most;
        int rc;
        if (since != NULL)
            rc = fc_core_wait(self, need, t, *since);
        else if (net && !quick)
            rc = fc_core_wait_main(self, need, t,
                                   fc_core.channel_interrupts(self->ch));
        else
            rc = fc_core_wait(self, need, t,
                              fc_core.channel_interrupts(self->ch));
        quick = 0;
        if (rc == -EINTR || (rc == -ETIMEDOUT && t != left)) {
            if (PyErr_CheckSignals() < 0)
                return FC_PYERR;
            continue;
        }
        if (rc == -ECANCELED && self->close_pending)
            return FC_CLOSED;
        return rc;
    }
}

/* Runs op: at once with the GIL held (timeout 0), and if it would wait, in
 * turns with fc_wait_ready until the deadline. Returns op's result (>= 0 or
 * -errno), or FC_PYERR / FC_CLOSED. */
static int fc_run(FcChan *self, fc_op op, void *arg, size_t need,
                  int64_t timeout)
{
    int rc = op(self, arg, 0);
    if (rc != -ETIMEDOUT || timeout == 0)
        return rc;
    uint64_t deadline = fc_deadline(timeout);
    for (;;) {
        rc = fc_wait_ready(self, need, deadline, NULL);
        if (rc < 0)
            return rc;
        rc = op(self, arg, 0); /* ready: only this end can make it unready */
        if (rc != -ETIMEDOUT)
            return rc;
    }
}

/* enter + run + leave: the whole of a blocking call. */
static int fc_call(FcChan *self, fc_op op, void *arg, size_t need,
                   int64_t timeout)
{
    return fc_leave(self, fc_run(self, op, arg, need, timeout));
}

/* ------------------------------------------------------------------------ */
/* Reader operations                                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
    const void *ptr;
    size_t len;
} fc_peek_arg;

static int fc_op_peek(FcChan *self, void *arg, int64_t t)
{
    fc_peek_arg *a = arg;
    return fc_core.channel_peek(self->ch, &a->ptr, &a->len, t);
}

static int fc_reader_enter(FcChan *self)
{
    if (fc_enter(self) < 0)
        return -1;
    if (self->peeking) {
        self->busy = 0;
        PyErr_Format(
            PyExc_ValueError,
            "shmlink: channel %R: a peeked message is not released yet "
            "(leave the `with r.peek()` block first)",
            self->address);
        return -1;
    }
    return 0;
}

/* The next message as bytes, or NULL with an exception set; *rc_out tells
 * the core's code (-ENODATA: end of stream). Enters and leaves the call. */
static PyObject *fc_recv_bytes(FcChan *self, int64_t timeout, int *rc_out)
{
    *rc_out = FC_PYERR;
    if (fc_reader_enter(self) < 0)
        return NULL;
    fc_peek_arg a;
    int rc = fc_run(self, fc_op_peek, &a, 0, timeout);
    PyObject *out = NULL;
    if (rc >= 0) {
        out = PyBytes_FromStringAndSize((const char *)a.ptr, (Py_ssize_t)a.len);
        if (out == NULL) /* MemoryError: the message stays in the ring */
            rc = FC_PYERR;
        else
            fc_core.channel_release(self->ch);
    }
    rc = fc_leave(self, rc);
    *rc_out = rc;
    if (rc < 0) {
        Py_XDECREF(out);
        return fc_raise(self, rc);
    }
    return out;
}

static const fc_sig fc_sig_recv = {"recv", 0, 1, {"timeout"}};

static PyObject *fc_recv(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *a[1] = {NULL};
    int64_t timeout;
    int rc;
    if (FC_ARGS(fc_sig_recv, a) < 0 || fc_timeout(a[0], &timeout) < 0)
        return NULL;
    return fc_recv_bytes(self, timeout, &rc);
}

static PyObject *fc_iternext(FcChan *self)
{
    int rc;
    PyObject *out = fc_recv_bytes(self, -1, &rc);
    if (out == NULL && rc == -ENODATA)
        PyErr_Clear(); /* end of stream: StopIteration */
    return out;
}

static PyObject *fc_iter(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

typedef struct {
    void *buf;
    size_t cap;
    size_t len;
} fc_recv_arg;

static int fc_op_recv(FcChan *self, void *arg, int64_t t)
{
    fc_recv_arg *a = arg;
    return fc_core.channel_recv(self->ch, a->buf, a->cap, &a->len, t);
}

static const fc_sig fc_sig_recv_into = {
    "recv_into", 1, 2, {"buffer", "timeout"}};

static PyObject *fc_recv_into(FcChan *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    int64_t timeout;
    if (fc_args(&fc_sig_recv_into, args, nargs, kwnames, a) < 0 ||
        fc_timeout(a[1], &timeout) < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        return fc_wrong_type(PyExc_TypeError,
                             "shmlink: recv_into needs a writable, contiguous "
                             "bytes-like object",
                             a[0]);
    }
    if (fc_reader_enter(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    fc_recv_arg r = {view.buf, (size_t)view.len, 0};
    int rc = fc_call(self, fc_op_recv, &r, 0, timeout);
    PyBuffer_Release(&view);
    if (rc == -EMSGSIZE) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: recv_into on %R: the next message is %zu bytes, "
                     "the buffer "
                     "holds %zu (the message stays in the channel)",
                     self->address, r.len, r.cap);
        return NULL;
    }
    if (rc < 0)
        return fc_raise(self, rc);
    return PyLong_FromSize_t(r.len);
}

typedef struct {
    size_t max;
    const void *big; /* set when the next message alone exceeds the budget */
    size_t big_len;
} fc_batch_arg;

/* Bytes one recv_batch() call returns at most (unless a single message is
 * larger): a list of many large bytes objects alive at once grows the heap
 * and glibc trims it again when they are freed, so every batch of a whole
 * ring page-faulted fresh memory and ran ~15x slower than recv() for
 * 64 KiB messages; a cache-sized batch reuses the same memory. */
#define FC_BATCH_BYTES ((size_t)256 * 1024)

static int fc_op_batch(FcChan *self, void *arg, int64_t t)
{
    fc_batch_arg *a = arg;
    size_t budget =
        self->batch_cap < FC_BATCH_BYTES ? self->batch_cap : FC_BATCH_BYTES;
    int rc = fc_core.channel_recv_batch(self->ch, self->batch_buf, budget,
                                        self->batch_lens, a->max, t);
    if (rc == -EMSGSIZE) { /* the next message alone exceeds the budget: */
        rc = fc_core.channel_peek(self->ch, &a->big, &a->big_len,
                                  0); /* take it alone */
        /* rc 0: nothing copied; the caller builds one bytes from a->big */
    }
    return rc;
}

/* Scratch space for up to max messages (the ring's payloads fit in capacity).
 */
static int fc_batch_space(FcChan *self, size_t max)
{
    if (self->batch_buf == NULL) {
        self->batch_buf = PyMem_Malloc((size_t)self->capacity);
        if (self->batch_buf == NULL)
            return -1;
        self->batch_cap = (size_t)self->capacity;
    }
    if (self->batch_nlens < max) {
        size_t *lens = PyMem_Realloc(self->batch_lens, max * sizeof(size_t));
        if (lens == NULL)
            return -1;
        self->batch_lens = lens;
        self->batch_nlens = max;
    }
    return 0;
}

/* The messages copied to the scratch space, as a new list of bytes. */
static PyObject *fc_batch_list(FcChan *self, int count)
{
    PyObject *list = PyList_New(count);
    if (list == NULL)
        return NULL;
    const char *p = self->batch_buf;
    for (int i = 0; i < count; i++) {
        size_t len = self->batch_lens[i];
        PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)len);
        if (b == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SetItem(list, i, b); /* steals b */
        p += len;
    }
    return list;
}

/* A list holding one object (stolen), or NULL with an exception set. */
static PyObject *fc_list_of_one(PyObject *item)
{
    PyObject *list = PyList_New(1);
    if (list == NULL) {
        Py_DECREF(item);
        return NULL;
    }
    PyList_SetItem(list, 0, item); /* steals item */
    return list;
}

/* Receives up to max messages (max fits the scratch space) as a new list,
 * or NULL with an exception set. Enters and leaves the call. */
static PyObject *fc_batch(FcChan *self, size_t max, int64_t timeout)
{
    if (fc_reader_enter(self) < 0)
        return NULL;
    if (fc_batch_space(self, max) < 0) {
        self->busy = 0;
        return PyErr_NoMemory();
    }
    fc_batch_arg b = {max, NULL, 0};
    int rc = fc_run(self, fc_op_batch, &b, 0, timeout);
    PyObject *big = NULL;
    if (rc == 0) { /* one large message, peeked: one copy, like recv() */
        big = PyBytes_FromStringAndSize((const char *)b.big,
                                        (Py_ssize_t)b.big_len);
        if (big == NULL) {
            rc = FC_PYERR; /* MemoryError: the message stays in the ring */
        } else {
            fc_core.channel_release(self->ch);
            rc = 1;
        }
    }
    rc = fc_leave(self, rc);
    if (rc < 0) {
        Py_XDECREF(big);
        return fc_raise(self, rc);
    }
    if (big != NULL)
        return fc_list_of_one(big);
    return fc_batch_list(self, rc); /* consumed: the copies are only ours */
}

static const fc_sig fc_sig_recv_batch = {"recv_batch", 0, 2, {"n", "timeout"}};

static PyObject *fc_recv_batch(FcChan *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    Py_ssize_t n = 1024;
    int64_t timeout;
    if (FC_ARGS(fc_sig_recv_batch, a) < 0 ||
        fc_int(a[0], "recv_batch n", 1, &n) < 0 ||
        fc_timeout(a[1], &timeout) < 0)
        return NULL;
    /* A record takes at least 8 ring bytes: never more than capacity/8. */
    size_t max = (size_t)n;
    if (max > (size_t)self->capacity / 8)
        max = (size_t)self->capacity / 8;
    return fc_batch(self, max, timeout);
}

static const fc_sig fc_sig_peek = {"_peek", 0, 1, {"timeout"}};

/* _peek(timeout) -> (address as int, length); the message stays until
 * _release(). */
static PyObject *fc_peek(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *a[1] = {NULL};
    int64_t timeout;
    if (FC_ARGS(fc_sig_peek, a) < 0 || fc_timeout(a[0], &timeout) < 0 ||
        fc_reader_enter(self) < 0)
        return NULL;
    fc_peek_arg p;
    int rc = fc_call(self, fc_op_peek, &p, 0, timeout);
    if (rc < 0)
        return fc_raise(self, rc);
    self->peeking = 1;
    return Py_BuildValue("(Nn)", PyLong_FromVoidPtr((void *)p.ptr),
                         (Py_ssize_t)p.len);
}

static PyObject *fc_release(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->peeking)
        Py_RETURN_NONE; /* closed meanwhile, or nothing peeked */
    if (fc_enter(self) < 0)
        return NULL;
    int rc = fc_core.channel_release(self->ch);
    self->peeking = 0;
    rc = fc_leave(self, rc);
    if (rc < 0)
        return fc_raise(self, rc);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Writer operations                                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
    const void *data;
    size_t len;
} fc_send_arg;

static int fc_op_send(FcChan *self, void *arg, int64_t t)
{
    fc_send_arg *a = arg;
    return fc_core.channel_send(self->ch, a->data, a->len, t);
}

static int fc_writer_enter(FcChan *self, size_t len)
{
    if (len > (size_t)self->max_message) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: message of %zu bytes is larger than the largest "
                     "message of "
                     "channel %R (%zd bytes)",
                     len, self->address, self->max_message);
        return -1;
    }
    if (fc_enter(self) < 0)
        return -1;
    if (self->reserved) {
        self->busy = 0;
        PyErr_Format(PyExc_ValueError,
                     "shmlink: channel %R: a reservation is not committed yet "
                     "(leave the `with w.reserve()` block first)",
                     self->address);
        return -1;
    }
    return 0;
}

/* A message to send: the bytes of any bytes-like object, contiguous (a
 * non-contiguous buffer is copied). fc_msg_done releases it. */
typedef struct {
    fc_send_arg arg;
    Py_buffer view;
    int have_view;
    void *tmp;
} fc_msg;

static int fc_msg_get(PyObject *data, const char *fname, fc_msg *m)
{
    m->have_view = 0;
    m->tmp = NULL;
    if (PyBytes_CheckExact(data)) {
        char *p;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(data, &p, &n) < 0)
            return -1;
        m->arg.data = p;
        m->arg.len = (size_t)n;
        return 0;
    }
    if (PyObject_GetBuffer(data, &m->view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear();
        char prefix[64];
        snprintf(prefix, sizeof prefix, "shmlink: %s needs a bytes-like object",
                 fname);
        fc_wrong_type(PyExc_TypeError, prefix, data);
        return -1;
    }
    m->have_view = 1;
    m->arg.len = (size_t)m->view.len;
    m->arg.data = m->view.buf;
    if (!PyBuffer_IsContiguous(&m->view, 'C')) {
        m->tmp = PyMem_Malloc(m->arg.len ? m->arg.len : 1);
        if (m->tmp == NULL) {
            PyBuffer_Release(&m->view);
            PyErr_NoMemory();
            return -1;
        }
        if (PyBuffer_ToContiguous(m->tmp, &m->view, m->view.len, 'C') < 0) {
            PyMem_Free(m->tmp);
            PyBuffer_Release(&m->view);
            return -1;
        }
        m->arg.data = m->tmp;
    }
    return 0;
}

static void fc_msg_done(fc_msg *m)
{
    PyMem_Free(m->tmp);
    if (m->have_view)
        PyBuffer_Release(&m->view);
}

static const fc_sig fc_sig_send = {"send", 1, 2, {"data", "timeout"}};

static PyObject *fc_send(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    int64_t timeout;
    fc_msg m;
    if (fc_args(&fc_sig_send, args, nargs, kwnames, a) < 0 ||
        fc_timeout(a[1], &timeout) < 0 || fc_msg_get(a[0], "send", &m) < 0)
        return NULL;
    PyObject *result = NULL;
    if (fc_writer_enter(self, m.arg.len) == 0) {
        int rc = fc_call(self, fc_op_send, &m.arg, m.arg.len, timeout);
        result = rc < 0 ? fc_raise(self, rc) : Py_NewRef(Py_None);
    }
    fc_msg_done(&m);
    return result;
}

static const fc_sig fc_sig_send_repeat = {
    "_send_repeat", 2, 2, {"data", "count"}};

/* _send_repeat(data, count): sends data count times from C (benchmarks use
 * it to make the writer side as cheap as possible). Returns None. */
static PyObject *fc_send_repeat(FcChan *self, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    Py_ssize_t count = 0;
    fc_msg m;
    if (fc_args(&fc_sig_send_repeat, args, nargs, kwnames, a) < 0 ||
        fc_int(a[1], "count", 0, &count) < 0 ||
        fc_msg_get(a[0], "_send_repeat", &m) < 0)
        return NULL;
    PyObject *result = NULL;
    if (fc_writer_enter(self, m.arg.len) == 0) {
        int rc = 0;
        for (Py_ssize_t i = 0; i < count && rc >= 0; i++)
            rc = fc_run(self, fc_op_send, &m.arg, m.arg.len, -1);
        rc = fc_leave(self, rc);
        result = rc < 0 ? fc_raise(self, rc) : Py_NewRef(Py_None);
    }
    fc_msg_done(&m);
    return result;
}

typedef struct {
    size_t len;
    void *ptr;
} fc_reserve_arg;

static int fc_op_reserve(FcChan *self, void *arg, int64_t t)
{
    fc_reserve_arg *a = arg;
    return fc_core.channel_reserve(self->ch, a->len, &a->ptr, t);
}

static const fc_sig fc_sig_reserve = {"_reserve", 1, 2, {"size", "timeout"}};

/* _reserve(size, timeout=None) -> address as int. */
static PyObject *fc_reserve(FcChan *self, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    Py_ssize_t size = 0;
    int64_t timeout;
    if (fc_args(&fc_sig_reserve, args, nargs, kwnames, a) < 0 ||
        fc_int(a[0], "reserve size", 0, &size) < 0 ||
        fc_timeout(a[1], &timeout) < 0 ||
        fc_writer_enter(self, (size_t)size) < 0)
        return NULL;
    fc_reserve_arg r = {(size_t)size, NULL};
    int rc = fc_call(self, fc_op_reserve, &r, r.len, timeout);
    if (rc < 0)
        return fc_raise(self, rc);
    self->reserved = 1;
    return PyLong_FromVoidPtr(r.ptr);
}

static const fc_sig fc_sig_commit = {"_commit", 1, 1, {"n"}};

/* _commit(n): publishes n bytes; _commit(-1): aborts. A no-op if the
 * reservation is gone (the handle was closed). */
static PyObject *fc_commit(FcChan *self, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1] = {NULL};
    Py_ssize_t n = 0;
    if (fc_args(&fc_sig_commit, args, nargs, kwnames, a) < 0 ||
        fc_int(a[0], "n", -1, &n) < 0)
        return NULL;
    if (!self->reserved)
        Py_RETURN_NONE;
    if (fc_enter(self) < 0)
        return NULL;
    int rc = n < 0 ? fc_core.channel_abort(self->ch)
                   : fc_core.channel_commit(self->ch, (size_t)n);
    self->reserved = 0;
    rc = fc_leave(self, rc);
    if (rc < 0)
        return fc_raise(self, rc);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Waiting for asyncio (see the top)                                         */
/* ------------------------------------------------------------------------ */

/* _interrupts() -> the handle's interrupt count, read before a wait is
 * handed to another thread. */
static PyObject *fc_interrupts(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (fc_enter(self) < 0)
        return NULL;
    uint64_t n = fc_core.channel_interrupts(self->ch);
    fc_leave(self, 0);
    return PyLong_FromUnsignedLongLong((unsigned long long)n);
}

/* _interrupt(): ends a wait in progress on the handle (any thread); a no-op
 * once closed or in a forked child. */
static PyObject *fc_interrupt(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (self->ch != NULL && !fc_foreign(self))
        fc_core.channel_interrupt(self->ch);
    Py_RETURN_NONE;
}

static const fc_sig fc_sig_wait = {"_wait", 3, 3, {"need", "timeout", "since"}};

/* _wait(need, timeout, since): blocks (GIL released) until the end is
 * ready: a message to receive, or room for need bytes; consumes nothing.
 * Returns None, or raises: TimeoutError, EOFError, PeerDeadError, OSError
 * ECANCELED (interrupted since `since`), ValueError (closed meanwhile). */
static PyObject *fc_wait(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *a[3] = {NULL, NULL, NULL};
    Py_ssize_t need = 0;
    int64_t timeout;
    if (fc_args(&fc_sig_wait, args, nargs, kwnames, a) < 0 ||
        fc_int(a[0], "need", 0, &need) < 0 || fc_timeout(a[1], &timeout) < 0)
        return NULL;
    unsigned long long since = PyLong_AsUnsignedLongLong(a[2]);
    if (since == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (fc_enter(self) < 0)
        return NULL;
    uint64_t count = (uint64_t)since;
    int rc = fc_wait_ready(self, (size_t)need, fc_deadline(timeout), &count);
    rc = fc_leave(self, rc);
    if (rc < 0)
        return fc_raise(self, rc);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

static const fc_sig fc_sig_from_handle = {
    "_from_handle", 2, 2, {"handle", "address"}};

/* cls._from_handle(handle as int, address): a new object that owns an open
 * handle of the core (the only way to make one: see fc_new). */
static PyObject *fc_from_handle(PyTypeObject *cls, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    if (fc_args(&fc_sig_from_handle, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!fc_bound) {
        PyErr_SetString(PyExc_RuntimeError,
                        "shmlink._chan: bind() was not called");
        return NULL;
    }
    if (!PyUnicode_Check(a[1])) {
        PyErr_SetString(PyExc_TypeError, "_from_handle: address must be a str");
        return NULL;
    }
    void *h = PyLong_AsVoidPtr(a[0]);
    if (h == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "shmlink: NULL channel handle");
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(cls, Py_tp_alloc);
    FcChan *self = (FcChan *)alloc(cls, 0);
    if (self == NULL)
        return NULL;
    self->ch = h;
    self->address = Py_NewRef(a[1]);
    self->capacity = (Py_ssize_t)fc_core.channel_capacity(self->ch);
    self->max_message = (Py_ssize_t)fc_core.channel_max_message(self->ch);
    self->pid = getpid();
    self->forks = fc_forks;
    return (PyObject *)self;
}

/* Raises TypeError: cls is made by its create/open class methods only. */
static PyObject *fc_refuse(PyTypeObject *cls)
{
    PyObject *name = fc_type_name(cls);
    if (name != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "shmlink: use %U.create(address, ...) or %U.open(address) "
                     "to make one",
                     name, name);
        Py_DECREF(name);
    }
    return NULL;
}

static PyObject *fc_new(PyTypeObject *cls, PyObject *Py_UNUSED(args),
                        PyObject *Py_UNUSED(kw))
{
    return fc_refuse(cls);
}

static PyObject *fc_close(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy && !fc_foreign(self)) {
        /* The running call closes it (see top); end its wait now. */
        self->close_pending = 1;
        fc_core.channel_interrupt(self->ch);
        Py_RETURN_NONE;
    }
    fc_free_handle(self);
    Py_RETURN_NONE;
}

/* An object collected while open gets a ResourceWarning (shown under
 * -X dev or -W default), as an unclosed file does; not in a forked child,
 * where the handle is the parent's. */
static void fc_finalize(PyObject *obj)
{
    FcChan *self = (FcChan *)obj;
    if (self->ch == NULL || fc_foreign(self))
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PyErr_ResourceWarning(obj, 1, "unclosed %R", obj) < 0)
        PyErr_WriteUnraisable(obj);
    PyErr_Restore(type, value, tb);
}

/* Frees an object of one of this module's heap types. Its instances hold a
 * reference to the type, dropped here (subtype_dealloc of a Python subclass
 * leaves that to this base). */
static void fc_free_object(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(obj);
    Py_DECREF(tp);
}

static void fc_dealloc(FcChan *self)
{
    /* (fc_finalize has run: Reader and Writer are Python subclasses, whose
     * deallocation calls the finalizer they inherit.) Last reference gone:
     * a handle never closed is closed now (for a writer that marks end of
     * stream, as close() would). */
    fc_free_handle(self);
    Py_CLEAR(self->address);
    PyMem_Free(self->batch_buf);
    PyMem_Free(self->batch_lens);
    fc_free_object((PyObject *)self);
}

static PyObject *fc_get_closed(FcChan *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->ch == NULL || self->close_pending);
}

static PyObject *fc_get_address(FcChan *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->address ? self->address : Py_None);
}

static PyObject *fc_get_capacity(FcChan *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(self->capacity);
}

static PyObject *fc_get_max_message(FcChan *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(self->max_message);
}

static PyObject *fc_get_handle(FcChan *self, void *Py_UNUSED(c))
{
    if (self->ch == NULL)
        Py_RETURN_NONE;
    return PyLong_FromVoidPtr(self->ch);
}

static PyObject *fc_get_foreign(FcChan *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(fc_foreign(self));
}

static PyObject *fc_get_pid(FcChan *self, void *Py_UNUSED(c))
{
    return PyLong_FromLong((long)self->pid);
}

static PyGetSetDef fc_getset[] = {
    {"closed", (getter)fc_get_closed, NULL, "True once close() has run.", NULL},
    {"address", (getter)fc_get_address, NULL,
     "Canonical address of the channel.", NULL},
    {"capacity", (getter)fc_get_capacity, NULL, "Ring size in bytes.", NULL},
    {"max_message", (getter)fc_get_max_message, NULL,
     "Largest message in bytes.", NULL},
    {"_handle", (getter)fc_get_handle, NULL,
     "The shmlink_channel * as int (None if closed).", NULL},
    {"_foreign", (getter)fc_get_foreign, NULL,
     "True in a forked child: the handle belongs to an ancestor process.",
     NULL},
    {"_pid", (getter)fc_get_pid, NULL, "The process that opened the handle.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FC_FASTCALL(f)                                                         \
    (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS

#define FC_COMMON_METHODS                                                      \
    {"_from_handle", FC_FASTCALL(fc_from_handle) | METH_CLASS,                 \
     "_from_handle($cls, /, handle, address)\n--\n\n"},                        \
        {"close", (PyCFunction)fc_close, METH_NOARGS,                          \
         "close($self, /)\n--\n\n"},                                           \
        {"_interrupts", (PyCFunction)fc_interrupts, METH_NOARGS,               \
         "_interrupts($self, /)\n--\n\n"},                                     \
        {"_interrupt", (PyCFunction)fc_interrupt, METH_NOARGS,                 \
         "_interrupt($self, /)\n--\n\n"},                                      \
    {                                                                          \
        "_wait", FC_FASTCALL(fc_wait),                                         \
            "_wait($self, /, need, timeout, since)\n--\n\n"                    \
    }

static PyMethodDef fc_reader_methods[] = {
    FC_COMMON_METHODS,
    {"recv", FC_FASTCALL(fc_recv),
     "recv($self, /, timeout=None)\n--\n\n"
     "The next message as bytes (a copy).\n\n"
     "Waits while the channel is empty, at most timeout seconds (None: no "
     "limit;\n"
     "0: no wait). EOFError at end of stream, PeerDeadError if the writer "
     "died,\n"
     "TimeoutError."},
    {"recv_into", FC_FASTCALL(fc_recv_into),
     "recv_into($self, /, buffer, timeout=None)\n--\n\n"
     "Copy the next message into a writable buffer; returns its length.\n\n"
     "ValueError (the message stays in the channel) if it does not fit."},
    {"recv_batch", FC_FASTCALL(fc_recv_batch),
     "recv_batch($self, /, n=1024, timeout=None)\n--\n\n"
     "Wait for one message, then return up to n messages already in the "
     "channel.\n\n"
     "A batch holds at most about 256 KiB of messages (a single larger "
     "message\n"
     "comes alone)."},
    {"_peek", FC_FASTCALL(fc_peek), "_peek($self, /, timeout=None)\n--\n\n"},
    {"_release", (PyCFunction)fc_release, METH_NOARGS,
     "_release($self, /)\n--\n\n"},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef fc_writer_methods[] = {
    FC_COMMON_METHODS,
    {"send", FC_FASTCALL(fc_send),
     "send($self, /, data, timeout=None)\n--\n\n"
     "Send a bytes-like object as one message.\n\n"
     "Waits while the channel is full, at most timeout seconds (None: no "
     "limit;\n"
     "0: no wait), then TimeoutError. ValueError if it is larger than "
     "max_message."},
    {"_send_repeat", FC_FASTCALL(fc_send_repeat),
     "_send_repeat($self, /, data, count)\n--\n\n"},
    {"_reserve", FC_FASTCALL(fc_reserve),
     "_reserve($self, /, size, timeout=None)\n--\n\n"},
    {"_commit", FC_FASTCALL(fc_commit), "_commit($self, /, n)\n--\n\n"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fc_reader_slots[] = {
    {Py_tp_doc, (void *)"C part of shmlink.Reader."},
    {Py_tp_new, (void *)fc_new},
    {Py_tp_finalize, (void *)fc_finalize},
    {Py_tp_dealloc, (void *)fc_dealloc},
    {Py_tp_methods, fc_reader_methods},
    {Py_tp_getset, fc_getset},
    {Py_tp_iter, (void *)fc_iter},
    {Py_tp_iternext, (void *)fc_iternext},
    {0, NULL},
};

static PyType_Slot fc_writer_slots[] = {
    {Py_tp_doc, (void *)"C part of shmlink.Writer."},
    {Py_tp_new, (void *)fc_new},
    {Py_tp_finalize, (void *)fc_finalize},
    {Py_tp_dealloc, (void *)fc_dealloc},
    {Py_tp_methods, fc_writer_methods},
    {Py_tp_getset, fc_getset},
    {0, NULL},
};

static PyType_Spec fc_reader_spec = {
    "shmlink._chan.ReaderBase",
    sizeof(FcChan),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    fc_reader_slots,
};

static PyType_Spec fc_writer_spec = {
    "shmlink._chan.WriterBase",
    sizeof(FcChan),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    fc_writer_slots,
};

/* ------------------------------------------------------------------------ */
/* Memory: the exporter of every zero-copy view                              */
/* ------------------------------------------------------------------------ */

/* Memory(address, size, readonly, owner): exports size bytes at address as
 * a buffer, read-only when readonly (a writable buffer is refused, also
 * through memoryview.obj), and keeps owner (what keeps the mapping alive)
 * while it exists. `exports` counts the buffers handed out and not yet
 * released, so a close can tell whether a view is still alive. */
typedef struct {
    PyObject_HEAD char *ptr;
    Py_ssize_t size;
    int readonly;
    Py_ssize_t exports;
    PyObject *owner;
} FcMem;

static const fc_sig fc_sig_memory = {
    "Memory", 4, 4, {"address", "size", "readonly", "owner"}};

static PyObject *fcm_make(PyObject *type, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    PyObject *a[4] = {NULL, NULL, NULL, NULL};
    Py_ssize_t nargs = (Py_ssize_t)nargsf, size = 0;
    if (fc_args(&fc_sig_memory, args, nargs, kwnames, a) < 0 ||
        fc_int(a[1], "size", 0, &size) < 0)
        return NULL;
    void *ptr = PyLong_AsVoidPtr(a[0]);
    if (ptr == NULL && PyErr_Occurred())
        return NULL;
    int readonly = PyObject_IsTrue(a[2]);
    if (readonly < 0)
        return NULL;
    allocfunc alloc =
        (allocfunc)PyType_GetSlot((PyTypeObject *)type, Py_tp_alloc);
    FcMem *self = (FcMem *)alloc((PyTypeObject *)type, 0);
    if (self == NULL)
        return NULL;
    self->ptr = ptr;
    self->size = size;
    self->readonly = readonly;
    self->owner = Py_NewRef(a[3]);
    return (PyObject *)self;
}

static PyObject *fcm_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *items[4];
    Py_ssize_t n = PyTuple_Size(args);
    if ((kw != NULL && PyDict_Size(kw) != 0) || n > 4) {
        PyErr_SetString(PyExc_TypeError,
                        "Memory() takes 4 positional arguments only");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        items[i] = PyTuple_GetItem(args, i);
    return fcm_make((PyObject *)type, items, (size_t)n, NULL);
}

static int fcm_getbuffer(FcMem *self, Py_buffer *view, int flags)
{
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->ptr, self->size,
                          self->readonly, flags) < 0)
        return -1; /* BufferError: a writable buffer of read-only memory */
    self->exports++;
    return 0;
}

static void fcm_releasebuffer(FcMem *self, Py_buffer *Py_UNUSED(view))
{
    self->exports--;
}

static int fcm_traverse(FcMem *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owner);
    Py_VISIT(Py_TYPE((PyObject *)self)); /* a heap type */
    return 0;
}

static int fcm_clear(FcMem *self)
{
    Py_CLEAR(self->owner);
    return 0;
}

static void fcm_dealloc(FcMem *self)
{
    PyObject_GC_UnTrack(self);
    fcm_clear(self);
    fc_free_object((PyObject *)self);
}

static PyObject *fcm_get_exports(FcMem *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(self->exports);
}

static PyObject *fcm_get_readonly(FcMem *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->readonly);
}

static PyGetSetDef fcm_getset[] = {
    {"exports", (getter)fcm_get_exports, NULL,
     "Buffers handed out and not released.", NULL},
    {"readonly", (getter)fcm_get_readonly, NULL, "True if writes are refused.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fc_memory_slots[] = {
    {Py_tp_doc,
     (void *)"Memory(address, size, readonly, owner)\n--\n\n"
             "Exports shared memory as a buffer (read-only when readonly)."},
    {Py_tp_new, (void *)fcm_new},
    {Py_tp_dealloc, (void *)fcm_dealloc},
    {Py_tp_traverse, (void *)fcm_traverse},
    {Py_tp_clear, (void *)fcm_clear},
    {Py_bf_getbuffer, (void *)fcm_getbuffer},
    {Py_bf_releasebuffer, (void *)fcm_releasebuffer},
    {Py_tp_getset, fcm_getset},
    {0, NULL},
};

static PyType_Spec fc_memory_spec = {
    "shmlink._chan.Memory",
    sizeof(FcMem),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    fc_memory_slots,
};

/* ------------------------------------------------------------------------ */
/* Module                                                                    */
/* ------------------------------------------------------------------------ */

static const fc_sig fc_sig_bind = {"bind", 2, 2, {"capi", "check"}};

/* bind(capi, check): capi is the address (int) of the cffi module's
 * shmlink_capi table; check(rc, address) raises the error for rc. */
static PyObject *fc_bind(PyObject *Py_UNUSED(mod), PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {NULL, NULL};
    if (fc_args(&fc_sig_bind, args, nargs, kwnames, a) < 0)
        return NULL;
    const shmlink_capi *capi = PyLong_AsVoidPtr(a[0]);
    if (capi == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "bind: NULL table");
        return NULL;
    }
    if (capi->version != SHMLINK_CAPI_VERSION ||
        capi->size != sizeof(shmlink_capi)) {
        PyErr_Format(PyExc_ImportError,
                     "shmlink: the compiled modules do not match (table "
                     "version %u, %zu bytes; "
                     "expected version %d, %zu bytes): reinstall shmlink",
                     capi->version, capi->size, SHMLINK_CAPI_VERSION,
                     sizeof(shmlink_capi));
        return NULL;
    }
    if (!PyCallable_Check(a[1])) {
        PyErr_SetString(PyExc_TypeError, "bind: check must be callable");
        return NULL;
    }
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main =
        threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    Py_XDECREF(threading);
    Py_XDECREF(main);
    if (ident == NULL)
        return NULL;
    fc_main_thread = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred())
        return NULL;
    fc_core = *capi;
    PyObject *old = fc_check;
    fc_check = Py_NewRef(a[1]);
    Py_XDECREF(old);
    fc_bound = 1;
    Py_RETURN_NONE;
}

/* refuse_new(cls, ...): a __new__ for the Python classes made only by their
 * create/open class methods (shmlink.Segment). A C function, so help()
 * shows no misleading signature for the class. */
static PyObject *fc_refuse_new(PyObject *Py_UNUSED(mod), PyObject *const *args,
                               Py_ssize_t nargs, PyObject *Py_UNUSED(kwnames))
{
    if (nargs > 0 && PyType_Check(args[0]))
        return fc_refuse((PyTypeObject *)args[0]);
    PyErr_SetString(PyExc_TypeError, "shmlink: use create() or open()");
    return NULL;
}

static PyMethodDef fc_module_methods[] = {
    {"bind", FC_FASTCALL(fc_bind), "bind($module, /, capi, check)\n--\n\n"},
    {"refuse_new", FC_FASTCALL(fc_refuse_new), NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fc_module = {
    PyModuleDef_HEAD_INIT,
    "shmlink._chan",
    "Hot path of shmlink's Python channel classes.",
    -1,
    fc_module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

/* Adds a heap type made from spec to m as name. Returns 0 or -1. */
static int fc_add_type(PyObject *m, const char *name, PyType_Spec *spec)
{
    PyObject *tp = PyType_FromSpec(spec);
    if (tp == NULL)
        return -1;
    if (PyModule_AddObject(m, name, tp) < 0) { /* steals tp only on success */
        Py_DECREF(tp);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__chan(void)
{
    if (pthread_atfork(NULL, NULL, fc_after_fork_in_child) != 0) {
        PyErr_SetString(PyExc_ImportError,
                        "shmlink._chan: pthread_atfork failed");
        return NULL;
    }
    PyObject *m = PyModule_Create(&fc_module);
    if (m == NULL)
        return NULL;
    if (fc_add_type(m, "ReaderBase", &fc_reader_spec) < 0 ||
        fc_add_type(m, "WriterBase", &fc_writer_spec) < 0 ||
        fc_add_type(m, "Memory", &fc_memory_spec) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
