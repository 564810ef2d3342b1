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
 * calls the core through function pointers that shmlink._channel takes from
 * the cffi module (shmlink._shmlink) once at import (bind()), so there is one
 * copy of the core in the process. Everything that is not per-message
 * (create/open, inspection) stays in Python over cffi.
 *
 * Blocking: every call first tries without waiting while holding the GIL
 * (the common case when streaming: no GIL release, no system call). If it
 * has to wait, it releases the GIL and waits in slices of at most 50 ms,
 * calling PyErr_CheckSignals() between slices, so Ctrl-C raises
 * KeyboardInterrupt promptly; the overall deadline is computed once
 * (CLOCK_MONOTONIC, the clock of time.monotonic()).
 *
 * Stable ABI: built for Python 3.11 or later, setup.py defines
 * Py_LIMITED_API=0x030B0000 (3.11 is the first version whose limited API has
 * the buffer protocol), so one compiled module serves every later CPython
 * (the wheel is tagged abi3); for 3.9 and 3.10 the same code is compiled
 * against the full API. Hence only limited-API calls here: heap types made
 * from specs, functions instead of the PyTuple_GET_ITEM-style macros, and
 * type names through fc_type_name().
 *
 * Threads: a handle is for one thread at a time. A second thread calling in
 * while a call is in progress gets RuntimeError, except close(), which is
 * deferred: the blocked call notices it within one slice, closes the handle
 * and raises ValueError("... closed"), so the handle is never freed under a
 * call that uses it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* The C core, reached through pointers handed over by bind()                */
/* ------------------------------------------------------------------------ */

typedef struct shmlink_channel shmlink_channel;

static struct {
    int (*close)(shmlink_channel *);
    size_t (*capacity)(const shmlink_channel *);
    size_t (*max_message)(const shmlink_channel *);
    int (*send)(shmlink_channel *, const void *, size_t, int64_t);
    int (*reserve)(shmlink_channel *, size_t, void **, int64_t);
    int (*commit)(shmlink_channel *, size_t);
    int (*abort)(shmlink_channel *);
    int (*recv)(shmlink_channel *, void *, size_t, size_t *, int64_t);
    int (*peek)(shmlink_channel *, const void **, size_t *, int64_t);
    int (*release)(shmlink_channel *);
    int (*recv_batch)(shmlink_channel *, void *, size_t, size_t *, size_t, int64_t);
} fc_core;

static int fc_bound;
static PyObject *fc_check; /* shmlink._errors.check(rc, address): raises */

#define FC_SLICE_NS 50000000LL /* longest wait without a signal check */
#define FC_PYERR (-1000000)   /* a Python exception is set */
#define FC_CLOSED (-1000001)  /* close() was requested while waiting */

/* ------------------------------------------------------------------------ */
/* The handle object (base of shmlink.Reader and shmlink.Writer)             */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    shmlink_channel *ch; /* NULL once closed (or before _attach) */
    PyObject *address;   /* str */
    Py_ssize_t capacity;
    Py_ssize_t max_message;
    int busy;          /* a call is in progress (GIL released inside it) */
    int close_pending; /* close() came while busy */
    int peeking;       /* reader: a peeked message is not released yet */
    int reserved;      /* writer: a reservation is not committed yet */
    /* reader: recv_batch scratch space */
    char *batch_buf;
    size_t batch_cap;
    size_t *batch_lens;
    size_t batch_nlens;
} FcChan;

static uint64_t fc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The name of obj's type, for error messages (new reference, or NULL with
 * an exception set). */
static PyObject *fc_type_name(PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyType_GetName(Py_TYPE(obj));
#else
    return PyUnicode_FromString(Py_TYPE(obj)->tp_name);
#endif
}

/* Raises exc with "<prefix>, not <type name of obj>". Returns NULL. */
static PyObject *fc_wrong_type(PyObject *exc, const char *prefix, PyObject *obj)
{
    PyObject *name = fc_type_name(obj);
    if (name != NULL) {
        PyErr_Format(exc, "%s, not %U", prefix, name);
        Py_DECREF(name);
    }
    return NULL;
}

/* None -> -1 (no limit); a number of seconds >= 0 -> nanoseconds. */
static int fc_timeout(PyObject *obj, int64_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = -1;
        return 0;
    }
    if (PyBool_Check(obj) || !(PyFloat_Check(obj) || PyLong_Check(obj))) {
        fc_wrong_type(PyExc_TypeError, "shmlink: timeout must be a number of seconds or None",
                      obj);
        return -1;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(t) || t < 0) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: timeout must be >= 0 seconds or None, got %R", obj);
        return -1;
    }
    /* Longer than ~292 years is no limit. */
    *out = t >= 9.2e9 ? -1 : (int64_t)(t * 1e9);
    return 0;
}

static void fc_free_handle(FcChan *self)
{
    shmlink_channel *ch = self->ch;
    self->ch = NULL;
    self->peeking = 0;
    self->reserved = 0;
    if (ch)
        fc_core.close(ch);
}

static int fc_enter(FcChan *self)
{
    if (!fc_bound) {
        PyErr_SetString(PyExc_RuntimeError, "shmlink._chan: bind() was not called");
        return -1;
    }
    if (self->ch == NULL || self->close_pending) {
        PyErr_Format(PyExc_ValueError, "shmlink: channel %R is closed",
                     self->address ? self->address : Py_None);
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
        PyErr_Format(PyExc_ValueError, "shmlink: channel %R was closed during the call",
                     self->address);
        return NULL;
    }
    PyObject *r = PyObject_CallFunction(fc_check, "iO", rc, self->address);
    if (r != NULL) { /* check() must raise for rc < 0 */
        Py_DECREF(r);
        PyErr_Format(PyExc_SystemError, "shmlink: unexpected return code %d", rc);
    }
    return NULL;
}

typedef int (*fc_op)(FcChan *self, void *arg, int64_t timeout_ns);

/* Runs op with the timeout rules described at the top. Returns op's result
 * (>= 0 or -errno), or FC_PYERR / FC_CLOSED. */
static int fc_run(FcChan *self, fc_op op, void *arg, int64_t timeout)
{
    int rc = op(self, arg, 0);
    if (rc != -ETIMEDOUT || timeout == 0)
        return rc;
    uint64_t deadline = timeout < 0 ? UINT64_MAX : fc_now_ns() + (uint64_t)timeout;
    for (;;) {
        int64_t slice = FC_SLICE_NS;
        if (timeout > 0) {
            uint64_t now = fc_now_ns();
            if (now >= deadline)
                return -ETIMEDOUT;
            if (deadline - now < (uint64_t)slice)
                slice = (int64_t)(deadline - now);
        }
        Py_BEGIN_ALLOW_THREADS
        rc = op(self, arg, slice);
        Py_END_ALLOW_THREADS
        if (rc != -ETIMEDOUT && rc != -EINTR)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return FC_PYERR;
        if (self->close_pending)
            return FC_CLOSED;
    }
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
    return fc_core.peek(self->ch, &a->ptr, &a->len, t);
}

static int fc_reader_enter(FcChan *self)
{
    if (fc_enter(self) < 0)
        return -1;
    if (self->peeking) {
        self->busy = 0;
        PyErr_Format(PyExc_ValueError,
                     "shmlink: channel %R: a peeked message is not released yet "
                     "(leave the `with r.peek()` block first)",
                     self->address);
        return -1;
    }
    return 0;
}

/* The next message as bytes (NULL with *rc set on failure). */
static PyObject *fc_recv_bytes(FcChan *self, int64_t timeout, int *rc_out)
{
    fc_peek_arg a;
    int rc = fc_run(self, fc_op_peek, &a, timeout);
    PyObject *out = NULL;
    if (rc >= 0) {
        out = PyBytes_FromStringAndSize((const char *)a.ptr, (Py_ssize_t)a.len);
        if (out == NULL) /* MemoryError: the message stays in the ring */
            rc = FC_PYERR;
        else
            fc_core.release(self->ch);
    }
    rc = fc_leave(self, rc);
    if (rc < 0) {
        Py_XDECREF(out);
        out = NULL;
    }
    *rc_out = rc;
    return out;
}

static PyObject *fc_recv(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *tobj = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "recv() takes at most 1 argument (timeout)");
        return NULL;
    }
    if (nkw == 1) {
        PyObject *k = PyTuple_GetItem(kwnames, 0);
        if (!PyUnicode_Check(k) || PyUnicode_CompareWithASCIIString(k, "timeout") != 0) {
            PyErr_Format(PyExc_TypeError, "recv() got an unexpected keyword argument %R", k);
            return NULL;
        }
    }
    if (nargs + nkw == 1)
        tobj = args[0];
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0 || fc_reader_enter(self) < 0)
        return NULL;
    int rc;
    PyObject *out = fc_recv_bytes(self, timeout, &rc);
    return out ? out : fc_raise(self, rc);
}

static PyObject *fc_iternext(FcChan *self)
{
    if (fc_reader_enter(self) < 0)
        return NULL;
    int rc;
    PyObject *out = fc_recv_bytes(self, -1, &rc);
    if (out)
        return out;
    if (rc == -ENODATA)
        return NULL; /* StopIteration */
    return fc_raise(self, rc);
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
    return fc_core.recv(self->ch, a->buf, a->cap, &a->len, t);
}

static PyObject *fc_recv_into(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *bobj = NULL, *tobj = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError,
                        "recv_into() takes at most 2 arguments (buffer, timeout)");
        return NULL;
    }
    if (nargs >= 1)
        bobj = args[0];
    if (nargs >= 2)
        tobj = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GetItem(kwnames, i);
        if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "buffer") == 0 &&
            nargs < 1)
            bobj = args[nargs + i];
        else if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "timeout") == 0 &&
                 nargs < 2)
            tobj = args[nargs + i];
        else {
            PyErr_Format(PyExc_TypeError, "recv_into() got an unexpected keyword argument %R",
                         k);
            return NULL;
        }
    }
    if (bobj == NULL) {
        PyErr_SetString(PyExc_TypeError, "recv_into() missing required argument 'buffer'");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(bobj, &view, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        return fc_wrong_type(PyExc_TypeError,
                             "shmlink: recv_into needs a writable, contiguous bytes-like object",
                             bobj);
    }
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0 || fc_reader_enter(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t cap = view.len;
    fc_recv_arg a = {view.buf, (size_t)view.len, 0};
    int rc = fc_leave(self, fc_run(self, fc_op_recv, &a, timeout));
    PyBuffer_Release(&view);
    if (rc == -EMSGSIZE) {
        PyErr_Format(PyExc_ValueError,
                     "shmlink: recv_into on %R: the next message is %zu bytes, the buffer "
                     "holds %zd (the message stays in the channel)",
                     self->address, a.len, cap);
        return NULL;
    }
    if (rc < 0)
        return fc_raise(self, rc);
    return PyLong_FromSize_t(a.len);
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
    size_t budget = self->batch_cap < FC_BATCH_BYTES ? self->batch_cap : FC_BATCH_BYTES;
    int rc = fc_core.recv_batch(self->ch, self->batch_buf, budget, self->batch_lens, a->max, t);
    if (rc == -EMSGSIZE) { /* the next message alone exceeds the budget: */
        rc = fc_core.peek(self->ch, &a->big, &a->big_len, 0); /* take it alone, in place */
        /* rc 0: nothing copied; the caller builds one bytes from a->big */
    }
    return rc;
}

static PyObject *fc_recv_batch(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    PyObject *nobj = NULL, *tobj = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "recv_batch() takes at most 2 arguments (n, timeout)");
        return NULL;
    }
    if (nargs >= 1)
        nobj = args[0];
    if (nargs >= 2)
        tobj = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GetItem(kwnames, i);
        PyObject *v = args[nargs + i];
        if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "n") == 0 && nargs < 1)
            nobj = v;
        else if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "timeout") == 0 &&
                 nargs < 2)
            tobj = v;
        else {
            PyErr_Format(PyExc_TypeError, "recv_batch() got an unexpected keyword argument %R",
                         k);
            return NULL;
        }
    }
    Py_ssize_t n = 1024;
    if (nobj) {
        if (PyBool_Check(nobj) || !PyLong_Check(nobj))
            return fc_wrong_type(PyExc_TypeError, "shmlink: recv_batch n must be an int", nobj);
        n = PyLong_AsSsize_t(nobj);
        if (n == -1 && PyErr_Occurred())
            return NULL;
        if (n < 1) {
            PyErr_Format(PyExc_ValueError, "shmlink: recv_batch n must be >= 1, got %zd", n);
            return NULL;
        }
    }
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0 || fc_reader_enter(self) < 0)
        return NULL;
    /* A record takes at least 8 ring bytes, so the ring never holds more
     * than capacity/8 messages, and their payloads fit in capacity bytes. */
    size_t max = (size_t)n;
    if (max > (size_t)self->capacity / 8)
        max = (size_t)self->capacity / 8;
    if (self->batch_buf == NULL) {
        self->batch_buf = PyMem_Malloc((size_t)self->capacity);
        if (self->batch_buf == NULL) {
            self->busy = 0;
            return PyErr_NoMemory();
        }
        self->batch_cap = (size_t)self->capacity;
    }
    if (self->batch_nlens < max) {
        size_t *lens = PyMem_Realloc(self->batch_lens, max * sizeof(size_t));
        if (lens == NULL) {
            self->busy = 0;
            return PyErr_NoMemory();
        }
        self->batch_lens = lens;
        self->batch_nlens = max;
    }
    fc_batch_arg a = {max, NULL, 0};
    int rc = fc_run(self, fc_op_batch, &a, timeout);
    PyObject *big = NULL;
    if (rc == 0) { /* one large message, peeked: one copy, like recv() */
        big = PyBytes_FromStringAndSize((const char *)a.big, (Py_ssize_t)a.big_len);
        if (big == NULL) {
            rc = FC_PYERR; /* MemoryError: the message stays in the ring */
        } else {
            fc_core.release(self->ch);
            rc = 1;
        }
    }
    rc = fc_leave(self, rc);
    if (rc < 0) {
        Py_XDECREF(big);
        return fc_raise(self, rc);
    }
    if (big != NULL) {
        PyObject *one = PyList_New(1);
        if (one == NULL) {
            Py_DECREF(big);
            return NULL;
        }
        PyList_SetItem(one, 0, big);
        return one;
    }
    /* The messages are consumed already: from here on they are only ours. */
    PyObject *list = PyList_New(rc);
    if (list == NULL)
        return NULL;
    const char *p = self->batch_buf;
    const size_t *lens = self->batch_lens;
    for (int i = 0; i < rc; i++) {
        PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)lens[i]);
        if (b == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SetItem(list, i, b);
        p += lens[i];
    }
    return list;
}

/* _peek(timeout) -> (address as int, length); the message stays until _release(). */
static PyObject *fc_peek(FcChan *self, PyObject *tobj)
{
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0 || fc_reader_enter(self) < 0)
        return NULL;
    fc_peek_arg a;
    int rc = fc_leave(self, fc_run(self, fc_op_peek, &a, timeout));
    if (rc < 0)
        return fc_raise(self, rc);
    self->peeking = 1;
    return Py_BuildValue("(Nn)", PyLong_FromVoidPtr((void *)a.ptr), (Py_ssize_t)a.len);
}

static PyObject *fc_release(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->peeking)
        Py_RETURN_NONE; /* closed meanwhile, or nothing peeked */
    if (fc_enter(self) < 0)
        return NULL;
    int rc = fc_core.release(self->ch);
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
    return fc_core.send(self->ch, a->data, a->len, t);
}

static int fc_writer_enter(FcChan *self)
{
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

static PyObject *fc_too_large(FcChan *self, size_t len)
{
    PyErr_Format(PyExc_ValueError,
                 "shmlink: message of %zu bytes is larger than the largest message of "
                 "channel %R (%zd bytes)",
                 len, self->address, self->max_message);
    return NULL;
}

static PyObject *fc_send_impl(FcChan *self, PyObject *data, PyObject *tobj)
{
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0)
        return NULL;
    Py_buffer view;
    fc_send_arg a;
    int have_view = 0;
    void *tmp = NULL;
    if (PyBytes_CheckExact(data)) {
        char *p;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(data, &p, &n) < 0)
            return NULL;
        a.data = p;
        a.len = (size_t)n;
    } else {
        if (PyObject_GetBuffer(data, &view, PyBUF_FULL_RO) < 0) {
            PyErr_Clear();
            return fc_wrong_type(PyExc_TypeError, "shmlink: send needs a bytes-like object",
                                 data);
        }
        have_view = 1;
        a.len = (size_t)view.len;
        if (PyBuffer_IsContiguous(&view, 'C')) {
            a.data = view.buf;
        } else {
            tmp = PyMem_Malloc(a.len ? a.len : 1);
            if (tmp == NULL) {
                PyBuffer_Release(&view);
                return PyErr_NoMemory();
            }
            if (PyBuffer_ToContiguous(tmp, &view, view.len, 'C') < 0) {
                PyMem_Free(tmp);
                PyBuffer_Release(&view);
                return NULL;
            }
            a.data = tmp;
        }
    }
    PyObject *result = NULL;
    if (a.len > (size_t)self->max_message) {
        fc_too_large(self, a.len);
    } else if (fc_writer_enter(self) == 0) {
        int rc = fc_leave(self, fc_run(self, fc_op_send, &a, timeout));
        if (rc < 0)
            fc_raise(self, rc);
        else
            { Py_INCREF(Py_None); result = Py_None; }
    }
    PyMem_Free(tmp);
    if (have_view)
        PyBuffer_Release(&view);
    return result;
}

static PyObject *fc_send(FcChan *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    PyObject *data = NULL, *tobj = Py_None;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "send() takes at most 2 arguments (data, timeout)");
        return NULL;
    }
    if (nargs >= 1)
        data = args[0];
    if (nargs >= 2)
        tobj = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GetItem(kwnames, i);
        if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "data") == 0 && nargs < 1)
            data = args[nargs + i];
        else if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "timeout") == 0 &&
                 nargs < 2)
            tobj = args[nargs + i];
        else {
            PyErr_Format(PyExc_TypeError, "send() got an unexpected keyword argument %R", k);
            return NULL;
        }
    }
    if (data == NULL) {
        PyErr_SetString(PyExc_TypeError, "send() missing required argument 'data'");
        return NULL;
    }
    return fc_send_impl(self, data, tobj);
}

/* _send_repeat(data, count): sends data count times from C (benchmarks use
 * it to make the writer side as cheap as possible). Returns None. */
static PyObject *fc_send_repeat(FcChan *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*n:_send_repeat", &view, &count))
        return NULL;
    if ((size_t)view.len > (size_t)self->max_message) {
        PyBuffer_Release(&view);
        return fc_too_large(self, (size_t)view.len);
    }
    if (fc_writer_enter(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    fc_send_arg a = {view.buf, (size_t)view.len};
    int rc = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        rc = fc_run(self, fc_op_send, &a, -1);
        if (rc < 0)
            break;
    }
    rc = fc_leave(self, rc);
    PyBuffer_Release(&view);
    if (rc < 0)
        return fc_raise(self, rc);
    Py_RETURN_NONE;
}

typedef struct {
    size_t len;
    void *ptr;
} fc_reserve_arg;

static int fc_op_reserve(FcChan *self, void *arg, int64_t t)
{
    fc_reserve_arg *a = arg;
    return fc_core.reserve(self->ch, a->len, &a->ptr, t);
}

/* _reserve(size, timeout) -> address as int. */
static PyObject *fc_reserve(FcChan *self, PyObject *args)
{
    Py_ssize_t size;
    PyObject *tobj = Py_None;
    if (!PyArg_ParseTuple(args, "n|O:_reserve", &size, &tobj))
        return NULL;
    if (size < 0) {
        PyErr_Format(PyExc_ValueError, "shmlink: reserve size must be >= 0, got %zd", size);
        return NULL;
    }
    if (size > self->max_message)
        return fc_too_large(self, (size_t)size);
    int64_t timeout;
    if (fc_timeout(tobj, &timeout) < 0 || fc_writer_enter(self) < 0)
        return NULL;
    fc_reserve_arg a = {(size_t)size, NULL};
    int rc = fc_leave(self, fc_run(self, fc_op_reserve, &a, timeout));
    if (rc < 0)
        return fc_raise(self, rc);
    self->reserved = 1;
    return PyLong_FromVoidPtr(a.ptr);
}

/* _commit(n): publishes n bytes; _commit(-1): aborts. A no-op if the
 * reservation is gone (the handle was closed). */
static PyObject *fc_commit(FcChan *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (!self->reserved)
        Py_RETURN_NONE;
    if (fc_enter(self) < 0)
        return NULL;
    int rc = n < 0 ? fc_core.abort(self->ch) : fc_core.commit(self->ch, (size_t)n);
    self->reserved = 0;
    rc = fc_leave(self, rc);
    if (rc < 0)
        return fc_raise(self, rc);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

/* _attach(handle as int, address): takes ownership of an open handle. */
static PyObject *fc_attach(FcChan *self, PyObject *args)
{
    PyObject *hobj, *address;
    if (!PyArg_ParseTuple(args, "OU:_attach", &hobj, &address))
        return NULL;
    if (!fc_bound) {
        PyErr_SetString(PyExc_RuntimeError, "shmlink._chan: bind() was not called");
        return NULL;
    }
    if (self->ch != NULL || self->address != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "shmlink: handle already attached");
        return NULL;
    }
    void *h = PyLong_AsVoidPtr(hobj);
    if (h == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "shmlink: NULL channel handle");
        return NULL;
    }
    self->ch = h;
    Py_INCREF(address);
    self->address = address;
    self->capacity = (Py_ssize_t)fc_core.capacity(self->ch);
    self->max_message = (Py_ssize_t)fc_core.max_message(self->ch);
    Py_RETURN_NONE;
}

static PyObject *fc_close(FcChan *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        self->close_pending = 1; /* the running call closes it (see top) */
        Py_RETURN_NONE;
    }
    fc_free_handle(self);
    Py_RETURN_NONE;
}

static void fc_dealloc(FcChan *self)
{
    /* Last reference gone: a handle never closed is closed now (for a
     * writer that marks end of stream, as close() would). */
    fc_free_handle(self);
    Py_CLEAR(self->address);
    PyMem_Free(self->batch_buf);
    PyMem_Free(self->batch_lens);
    /* A heap type: its instances hold a reference to it (dropped here, as
     * subtype_dealloc of a Python subclass leaves that to this base). */
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *fc_get_closed(FcChan *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->ch == NULL || self->close_pending);
}

static PyObject *fc_get_address(FcChan *self, void *Py_UNUSED(c))
{
    if (self->address == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->address);
    return self->address;
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

static PyGetSetDef fc_getset[] = {
    {"closed", (getter)fc_get_closed, NULL, "True once close() has run.", NULL},
    {"address", (getter)fc_get_address, NULL, "Canonical address of the channel.", NULL},
    {"capacity", (getter)fc_get_capacity, NULL, "Ring size in bytes.", NULL},
    {"max_message", (getter)fc_get_max_message, NULL, "Largest message in bytes.", NULL},
    {"_handle", (getter)fc_get_handle, NULL, "The shmlink_channel * as int (None if closed).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FC_COMMON_METHODS                                                                   \
    {"_attach", (PyCFunction)fc_attach, METH_VARARGS, NULL},                                \
        {"close", (PyCFunction)fc_close, METH_NOARGS, NULL}

static PyMethodDef fc_reader_methods[] = {
    FC_COMMON_METHODS,
    {"recv", (PyCFunction)(void (*)(void))fc_recv, METH_FASTCALL | METH_KEYWORDS,
     "recv(timeout=None) -> bytes\n\nThe next message (a copy). Waits while the channel is "
     "empty; EOFError at end of stream, PeerDeadError if the writer died, TimeoutError."},
    {"recv_into", (PyCFunction)(void (*)(void))fc_recv_into, METH_FASTCALL | METH_KEYWORDS,
     "recv_into(buffer, timeout=None) -> int\n\nCopies the next message into a writable "
     "buffer and returns its length; ValueError (message kept) if it does not fit."},
    {"recv_batch", (PyCFunction)(void (*)(void))fc_recv_batch, METH_FASTCALL | METH_KEYWORDS,
     "recv_batch(n=1024, timeout=None) -> list[bytes]\n\nWaits for at least one message, "
     "then returns up to n messages that are already in the channel."},
    {"_peek", (PyCFunction)fc_peek, METH_O, NULL},
    {"_release", (PyCFunction)fc_release, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef fc_writer_methods[] = {
    FC_COMMON_METHODS,
    {"send", (PyCFunction)(void (*)(void))fc_send, METH_FASTCALL | METH_KEYWORDS,
     "send(data, timeout=None)\n\nSends a bytes-like object as one message, waiting while the "
     "channel is full. ValueError if it is larger than max_message."},
    {"_send_repeat", (PyCFunction)fc_send_repeat, METH_VARARGS, NULL},
    {"_reserve", (PyCFunction)fc_reserve, METH_VARARGS, NULL},
    {"_commit", (PyCFunction)fc_commit, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fc_reader_slots[] = {
    {Py_tp_doc, (void *)"C part of shmlink.Reader."},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_dealloc, (void *)fc_dealloc},
    {Py_tp_methods, fc_reader_methods},
    {Py_tp_getset, fc_getset},
    {Py_tp_iter, (void *)fc_iter},
    {Py_tp_iternext, (void *)fc_iternext},
    {0, NULL},
};

static PyType_Slot fc_writer_slots[] = {
    {Py_tp_doc, (void *)"C part of shmlink.Writer."},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_dealloc, (void *)fc_dealloc},
    {Py_tp_methods, fc_writer_methods},
    {Py_tp_getset, fc_getset},
    {0, NULL},
};

static PyType_Spec fc_reader_spec = {
    "shmlink._chan.ReaderBase", sizeof(FcChan), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, fc_reader_slots,
};

static PyType_Spec fc_writer_spec = {
    "shmlink._chan.WriterBase", sizeof(FcChan), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, fc_writer_slots,
};

/* ------------------------------------------------------------------------ */
/* Module                                                                    */
/* ------------------------------------------------------------------------ */

/* bind(pointers, check): pointers is a tuple of the C core's function
 * addresses in the order of fc_core; check(rc, address) raises. */
static PyObject *fc_bind(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *ptrs, *check;
    if (!PyArg_ParseTuple(args, "O!O:bind", &PyTuple_Type, &ptrs, &check))
        return NULL;
    enum { N = sizeof(fc_core) / sizeof(void (*)(void)) };
    if (PyTuple_Size(ptrs) != N) {
        PyErr_Format(PyExc_ValueError, "bind: expected %d function pointers", (int)N);
        return NULL;
    }
    void (*fns[N])(void);
    for (Py_ssize_t i = 0; i < N; i++) {
        void *p = PyLong_AsVoidPtr(PyTuple_GetItem(ptrs, i));
        if (p == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "bind: NULL function pointer");
            return NULL;
        }
        memcpy(&fns[i], &p, sizeof(p));
    }
    memcpy(&fc_core, fns, sizeof(fc_core));
    Py_INCREF(check);
    PyObject *old = fc_check;
    fc_check = check;
    Py_XDECREF(old);
    fc_bound = 1;
    Py_RETURN_NONE;
}

static PyMethodDef fc_module_methods[] = {
    {"bind", fc_bind, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fc_module = {
    PyModuleDef_HEAD_INIT, "shmlink._chan", "Hot path of shmlink's Python channel classes.", -1,
    fc_module_methods, NULL, NULL, NULL, NULL,
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
    PyObject *m = PyModule_Create(&fc_module);
    if (m == NULL)
        return NULL;
    if (fc_add_type(m, "ReaderBase", &fc_reader_spec) < 0 ||
        fc_add_type(m, "WriterBase", &fc_writer_spec) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
