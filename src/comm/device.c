/* Device bindings (comm/device.h): which transport carries the float collectives of a bound
 * kernel context's memory, and the staged transport (download -> MPI -> upload). NCCL itself is
 * in nccl.c. */
#include "comm/device_impl.h"

#include <stdlib.h>
#include <string.h>

#include "comm/die.h"
#include "core/log.h"

static const char *name_of(const rv_comm *c) { return c && c->impl ? c->impl->name : "(no transport)"; }

/* Host memory needs no device transport: MPI reads it where it is. */
static bool computes_in_host_memory(const rv_kctx *k) { return strcmp(rvk_ctx_backend(k), "cpu") == 0; }

static void free_device(rv_comm_device *d) {
    if (!d) return;
    if (d->nccl) rv_nccl_destroy(d->nccl);
    free(d->stage);
    free(d);
}

static const rv_comm_dev_hooks HOOKS; /* below */

static int bind(const rv_comm *c, rv_kctx *k, rv_comm_device_mode mode, double timeout_s, bool every_pointer,
                rv_err *err) {
    struct rv_comm_impl *t = c ? c->impl : NULL;
    if (!k) return rv_fail(err, "rv_comm_bind_kctx: no kernel context given (internal error)");
    /* A one-rank communicator without transport (a process without MPI) exchanges nothing: there
     * is nothing to bind (its collectives are local copies; the gradient exchange skips them). */
    if (!t) {
        if (c && c->size == 1) return 0;
        return rv_fail(err, "rv_comm_bind_kctx: communicator %s of %d ranks has no transport (internal error)",
                       name_of(c), c ? c->size : 0);
    }
    if (t->device) {
        bool same = t->device->k == k;
        if (!rv_comm_all_ok(c, same))
            return same ? rv_fail(err, "rv_comm_bind_kctx on %s: another rank binds a different context (see its "
                                       "message)", name_of(c))
                        : rv_fail(err, "rv_comm_bind_kctx: communicator %s is already bound to another kernel "
                                       "context; unbind it first (rv_comm_unbind_kctx)", name_of(c));
        t->device->refs++;
        return 0;
    }
    rv_comm_device *d = rv_xcalloc(1, sizeof *d);
    d->k = k;
    d->refs = 1;
    d->timeout_s = timeout_s > 0 ? timeout_s : RV_COMM_DEVICE_TIMEOUT_S;
    d->every_pointer = every_pointer;
    d->kind = RV_DEV_STAGED;
    if (mode != RV_COMM_DEVICE_STAGED && !every_pointer) {
        rv_err e;
        e.msg[0] = 0;
        bool built = rv_nccl_built();
        if (!built && mode == RV_COMM_DEVICE_NCCL) {
            free_device(d);
            return rv_fail(err, "rv_comm_bind_kctx on %s: NCCL was asked for but this build has none (rebuild with "
                                "the CUDA toolkit and NCCL, or use the staged transport)", name_of(c));
        }
        if (built) {
            d->nccl = rv_nccl_create(c, d->timeout_s, &e);
            /* Every rank takes the same transport: if NCCL failed on one, all fall back (AUTO). */
            if (!rv_comm_all_ok(c, d->nccl != NULL)) {
                if (d->nccl) rv_nccl_destroy(d->nccl);
                d->nccl = NULL;
                if (mode == RV_COMM_DEVICE_NCCL) {
                    free_device(d);
                    return e.msg[0] ? rv_fail(err, "rv_comm_bind_kctx on %s: %s", name_of(c), e.msg)
                                    : rv_fail(err, "rv_comm_bind_kctx on %s: NCCL did not start on another rank (see "
                                                   "its message)", name_of(c));
                }
                if (e.msg[0])
                    rv_warn("comm: NCCL did not start on communicator %s (%s); its device collectives fall back to "
                            "host staging through MPI (slow)", name_of(c), e.msg);
            } else {
                d->kind = RV_DEV_NCCL;
            }
        }
    }
    t->device = d;
    t->dev = &HOOKS;
    return 0;
}

int rv_comm_bind_kctx(const rv_comm *c, rv_kctx *k, const rv_comm_device_opts *o, rv_err *err) {
    if (k && computes_in_host_memory(k)) return 0;
    rv_comm_device_opts dflt = {RV_COMM_DEVICE_AUTO, 0};
    if (!o) o = &dflt;
    return bind(c, k, o->mode, o->timeout_s, false, err);
}

int rv_comm_test_bind_staged(const rv_comm *c, rv_kctx *k, rv_err *err) {
    return bind(c, k, RV_COMM_DEVICE_STAGED, 0, true, err);
}

void rv_comm_unbind_kctx(const rv_comm *c, rv_kctx *k) {
    struct rv_comm_impl *t = c ? c->impl : NULL;
    if (!t || !t->device || t->device->k != k) return;
    if (--t->device->refs > 0) return;
    free_device(t->device);
    t->device = NULL;
    t->dev = NULL;
}

static void dev_release(const rv_comm *c) {
    struct rv_comm_impl *t = c ? c->impl : NULL;
    if (!t || !t->device) return;
    free_device(t->device);
    t->device = NULL;
    t->dev = NULL;
}

const char *rv_comm_device_transport(const rv_comm *c) {
    const rv_comm_device *d = c && c->impl ? c->impl->device : NULL;
    return !d ? "none" : d->kind == RV_DEV_NCCL ? "nccl" : "staged";
}

/* The binding that carries a collective on p, or NULL for the host path. */
static rv_comm_device *carrier(const rv_comm *c, const void *p) {
    rv_comm_device *d = c && c->impl ? c->impl->device : NULL;
    if (!d || !p) return NULL;
    return d->every_pointer || rv_nccl_is_device_ptr(p) ? d : NULL;
}

/* The context's queued work (the kernels that wrote the operand) must be done first. */
static void settle(const rv_comm *c, rv_comm_device *d, const char *what) {
    rv_err e;
    if (rvk_sync(d->k, &e))
        rv_die("%s on communicator %s (rank %d of %d): the kernel context failed before the exchange: %s", what,
               name_of(c), c->rank, c->size, e.msg);
}

static float *stage_buf(rv_comm_device *d, size_t n) {
    if (d->stage_n < n) {
        free(d->stage);
        d->stage = rv_xmalloc(n * sizeof *d->stage);
        d->stage_n = n;
    }
    return d->stage;
}

/* Pulls n floats of device memory into the staging buffer (and checks the copy). */
static float *pull(const rv_comm *c, rv_comm_device *d, const float *src, size_t n, const char *what) {
    float *h = stage_buf(d, n ? n : 1);
    if (n) rvk_download(d->k, h, src, n);
    settle(c, d, what);
    return h;
}

static void push(const rv_comm *c, rv_comm_device *d, float *dst, const float *h, size_t n, const char *what) {
    if (n) rvk_upload(d->k, dst, h, n);
    settle(c, d, what);
}

static size_t total_of(const size_t *counts, int p, size_t upto, size_t *before) {
    size_t s = 0;
    for (int r = 0; r < p; r++) {
        if ((size_t)r == upto) *before = s;
        s += counts[r];
    }
    return s;
}

static bool dev_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op) {
    rv_comm_device *d = carrier(c, in);
    if (!d || n == 0) return false;
    const char *what = "rv_comm_allreduce_f32 (device)";
    settle(c, d, what);
    if (d->kind == RV_DEV_NCCL) {
        rv_nccl_allreduce(c, d->nccl, in, out, n, op);
        return true;
    }
    float *h = pull(c, d, in, n, what);
    rv_comm_host_allreduce_f32(c, h, h, n, op);
    push(c, d, out, h, n, what);
    return true;
}

static bool dev_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts) {
    rv_comm_device *d = carrier(c, in);
    if (!d) return false;
    const char *what = "rv_comm_reduce_scatter_f32v (device)";
    settle(c, d, what);
    if (d->kind == RV_DEV_NCCL) {
        rv_nccl_reduce_scatter_v(c, d->nccl, in, out, counts);
        return true;
    }
    size_t before = 0, total = total_of(counts, c->size, (size_t)c->rank, &before), mine = counts[c->rank];
    float *h = pull(c, d, in, total, what);
    /* in place on the staging buffer: this rank's block receives the sum */
    rv_comm_host_reduce_scatter_f32v(c, h, h + before, counts);
    push(c, d, out, h + before, mine, what);
    return true;
}

static bool dev_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts) {
    rv_comm_device *d = carrier(c, out);
    if (!d) return false;
    const char *what = "rv_comm_allgather_f32v (device)";
    settle(c, d, what);
    if (d->kind == RV_DEV_NCCL) {
        rv_nccl_allgather_v(c, d->nccl, mine, out, counts);
        return true;
    }
    size_t before = 0, total = total_of(counts, c->size, (size_t)c->rank, &before), n = counts[c->rank];
    float *h = stage_buf(d, total ? total : 1);
    if (n) rvk_download(d->k, h + before, mine, n);
    settle(c, d, what);
    rv_comm_host_allgather_f32v(c, h + before, h, counts);
    push(c, d, out, h, total, what);
    return true;
}

static const rv_comm_dev_hooks HOOKS = {dev_allreduce_f32, dev_reduce_scatter_f32v, dev_allgather_f32v, dev_release};
