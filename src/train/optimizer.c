#include "train/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device.h"
#include "train/grad_exchange.h"
#include "train/partition.h"

/* A trainable tensor's elements inside one ZeRO partition: the unit of the norm and of the update. */
typedef struct rv_opt_piece {
    size_t off, n;   /* arena elements [off, off + n) */
    size_t moff;     /* offset of its moments in m_buf / v_buf */
    int part;        /* the partition (rank of a ZeRO-1 run) it lies in */
    int group;       /* index into groups->g */
} rv_opt_piece;

struct rv_optim {
    rv_weights *w;
    rv_kctx *k;            /* w->k, kept so that freeing does not read w */
    const rv_param_groups *pg;
    const rv_comm *dp;
    rv_optim_cfg cfg;
    rv_range range;        /* this rank's moment range of the arena */
    rv_opt_piece *pieces;  /* the pieces this rank updates, arena order */
    size_t npieces;
    size_t held;           /* moment elements held (sum of the pieces' n) */
    size_t trainable;      /* trainable elements of the whole arena */
    rvk_buf m, v;          /* [held] fp32 on w->k */
    rvk_buf slots;         /* [dp->size] F64 on w->k: partial sums of squares per partition */
    double *zeros, *host;  /* [dp->size] host staging for the slots */
    rv_grad_exchange gx;
    bool bound;            /* w->k bound to dp (comm/device.h): the exchange reads the arenas there */
    int64_t steps;
};

rv_optim_cfg rv_optim_cfg_upstream(void) {
    return (rv_optim_cfg){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0, .max_grad_norm = 1.0,
                          .zero = 0, .bucket_elems = 0};
}

static bool sharded(const rv_optim *o) { return o->cfg.zero && o->dp->size > 1; }

static int check_cfg(const rv_optim_cfg *c, const rv_param_groups *pg, rv_err *err) {
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return rv_fail(err, "optimizer: AdamW betas must be in [0, 1) (got %g, %g)", c->beta1, c->beta2);
    if (!(c->eps > 0) || !isfinite(c->eps)) return rv_fail(err, "optimizer: AdamW eps must be > 0 (got %g)", c->eps);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return rv_fail(err, "optimizer: weight decay must be >= 0 (got %g)", c->weight_decay);
    if (isnan(c->max_grad_norm)) return rv_fail(err, "optimizer: max_grad_norm is NaN (use <= 0 for no clipping)");
    if (c->zero != 0 && c->zero != 1) return rv_fail(err, "optimizer: zero must be 0 or 1 (got %d)", c->zero);
    for (int k = 0; k < RV_PG_COUNT; k++) {
        const rv_param_group *g = &pg->g[k];
        if (g->trainable && g->decay && g->ntensors && g->weight_decay != c->weight_decay)
            return rv_fail(err,
                           "optimizer: parameter group %s has weight decay %g but the optimizer was given %g; "
                           "build both from the same configuration value",
                           g->name, g->weight_decay, c->weight_decay);
    }
    return 0;
}

/* The pieces of trainable tensors inside partitions [r0, r1), in arena order. */
static void build_pieces(rv_optim *o, int r0, int r1, bool *exchange) {
    const rv_weights *w = o->w;
    size_t cap = w->n + (size_t)o->dp->size, np = 0, held = 0;
    o->pieces = rv_xcalloc(cap, sizeof *o->pieces);
    for (size_t i = 0; i < w->n; i++) {
        int gi = o->pg->group_of[i];
        exchange[i] = gi >= 0 && o->pg->g[gi].trainable;
        if (!exchange[i]) continue;
        o->trainable += w->t[i].numel;
        size_t lo = w->t[i].offset, hi = lo + w->t[i].numel;
        for (int r = r0; r < r1; r++) {
            rv_range p = rv_partition(w->total, r, o->dp->size);
            size_t a = lo > p.off ? lo : p.off, b = hi < p.off + p.n ? hi : p.off + p.n;
            if (b <= a) continue;
            if (np == cap) o->pieces = rv_xrealloc(o->pieces, (cap *= 2) * sizeof *o->pieces);
            o->pieces[np++] = (rv_opt_piece){.off = a, .n = b - a, .moff = held, .part = r, .group = gi};
            held += b - a;
        }
    }
    o->npieces = np;
    o->held = held;
}

int rv_optim_create(rv_optim **out, rv_weights *w, const rv_param_groups *groups, const rv_comm *dp,
                    const rv_optim_cfg *cfg, rv_err *err) {
    *out = NULL;
    if (!w || !w->k || !groups || !dp || !cfg)
        return rv_fail(err, "optimizer: weights on a backend, parameter groups, a communicator and a configuration "
                            "are required (internal error)");
    if (groups->n_tensors != w->n)
        return rv_fail(err, "optimizer: the parameter groups cover %zu tensors but the weights table has %zu; build "
                            "the groups over this table",
                       groups->n_tensors, w->n);
    if (check_cfg(cfg, groups, err)) return -1;
    if (rv_weights_alloc_grads(w, err)) return -1;
    rv_optim *o = rv_xcalloc(1, sizeof *o);
    o->w = w;
    o->k = w->k;
    o->pg = groups;
    o->dp = dp;
    o->cfg = *cfg;
    int R = dp->size;
    bool *exchange = rv_xcalloc(w->n ? w->n : 1, sizeof *exchange);
    if (sharded(o)) {
        o->range = rv_partition(w->total, dp->rank, R);
        build_pieces(o, dp->rank, dp->rank + 1, exchange);
    } else {
        o->range = (rv_range){0, w->total};
        build_pieces(o, 0, R, exchange);
    }
    int rc = rv_gx_init(&o->gx, w, exchange, dp, cfg->bucket_elems, err);
    free(exchange);
    if (rc) {
        rv_optim_free(o);
        return -1;
    }
    o->zeros = rv_xcalloc((size_t)R, sizeof *o->zeros);
    o->host = rv_xcalloc((size_t)R, sizeof *o->host);
    if ((o->held && (rvk_buf_alloc(w->k, &o->m, RVK_MEM_DEVICE, RVK_F32, o->held, err) ||
                     rvk_buf_alloc(w->k, &o->v, RVK_MEM_DEVICE, RVK_F32, o->held, err))) ||
        rvk_buf_alloc(w->k, &o->slots, RVK_MEM_DEVICE, RVK_F64, (size_t)R, err)) {
        rv_fail_wrap(err, "optimizer: AdamW moments of %zu elements (rank %d of %d)", o->held, dp->rank, R);
        rv_optim_free(o);
        return -1;
    }
    /* The exchange runs on the arenas' memory; the comm layer picks the transport for it. */
    if (rv_comm_bind_kctx(dp, w->k, NULL, err)) {
        rv_fail_wrap(err, "optimizer: gradient exchange over %d rank(s)", R);
        rv_optim_free(o);
        return -1;
    }
    o->bound = true;
    *out = o;
    return 0;
}

void rv_optim_free(rv_optim *o) {
    if (!o) return;
    if (o->bound) rv_comm_unbind_kctx(o->dp, o->k);
    rvk_buf_free(o->k, &o->m);
    rvk_buf_free(o->k, &o->v);
    rvk_buf_free(o->k, &o->slots);
    rv_gx_free(&o->gx);
    free(o->pieces);
    free(o->zeros);
    free(o->host);
    free(o);
}

/* Sum of squares per partition into the slots, one download; the norm in rank order. */
static int global_norm(rv_optim *o, double *norm, rv_err *err) {
    rv_kctx *k = o->w->k;
    size_t R = (size_t)o->dp->size;
    double *slots = rvk_buf_f64(&o->slots);
    rvk_upload_async(k, &o->slots, 0, o->zeros, R);
    for (size_t i = 0; i < o->npieces; i++)
        rvk_sumsq_acc(k, slots + o->pieces[i].part, o->w->grads + o->pieces[i].off, o->pieces[i].n);
    rvk_download_async(k, o->host, &o->slots, 0, R);
    if (rvk_sync(k, err)) return -1;
    /* ZeRO-1: every slot but this rank's is 0 here, so the rank-order sum of the slots is exact */
    if (sharded(o)) rv_comm_allreduce_f64(o->dp, o->host, o->host, R, RV_COMM_SUM);
    double s = 0.0;
    for (size_t r = 0; r < R; r++) s += o->host[r];
    *norm = sqrt(s);
    return 0;
}

int rv_optim_step(rv_optim *o, double lr_factor, rv_optim_stats *st, rv_err *err) {
    rv_kctx *k = o->w->k;
    rv_optim_stats s = {0};
    /* backward's queued work must be done before the gradients travel */
    if (rvk_sync(k, err)) return rv_fail_wrap(err, "optimizer: before the gradient exchange");
    if (sharded(o)) rv_gx_reduce_scatter(&o->gx, o->w->grads);
    else rv_gx_allreduce(&o->gx, o->w->grads);
    if (global_norm(o, &s.grad_norm, err)) return rv_fail_wrap(err, "optimizer: gradient norm");
    if (!isfinite(s.grad_norm)) {
        s.skipped = true;
        s.clip_coef = NAN;
    } else {
        s.clip_coef = rvk_clip_scale(s.grad_norm, (float)o->cfg.max_grad_norm);
        o->steps++;
        for (size_t i = 0; i < o->npieces; i++) {
            const rv_opt_piece *p = &o->pieces[i];
            const rv_param_group *g = &o->pg->g[p->group];
            rvk_adamw_hp hp = {.lr = g->lr * lr_factor, .beta1 = o->cfg.beta1, .beta2 = o->cfg.beta2,
                               .eps = o->cfg.eps, .weight_decay = g->weight_decay, .step = (int)o->steps,
                               .grad_scale = s.clip_coef};
            rvk_adamw_step(k, o->w->params + p->off, o->w->grads + p->off, rvk_buf_f32(&o->m) + p->moff,
                           rvk_buf_f32(&o->v) + p->moff, p->n, &hp, g->decay ? 0 : RVK_ADAMW_NO_DECAY);
        }
        if (sharded(o)) {
            if (rvk_sync(k, err)) return rv_fail_wrap(err, "optimizer: AdamW update");
            rv_gx_allgather(&o->gx, o->w->params);
        }
        /* the masters changed (this rank's update, then the gathered shards): re-round the
         * backend's bf16 weight copy, all of it at once (a pass over 6 bytes per parameter) */
        rvk_shadow_refresh(k, o->w->params, o->w->total);
    }
    rv_weights_zero_grads(o->w);
    if (rvk_sync(k, err)) return rv_fail_wrap(err, "optimizer: step %lld", (long long)o->steps);
    if (st) *st = s;
    return 0;
}

int64_t rv_optim_step_count(const rv_optim *o) { return o->steps; }

void rv_optim_range(const rv_optim *o, size_t *off, size_t *n) {
    *off = o->range.off;
    *n = o->range.n;
}

int rv_optim_get_moments(const rv_optim *o, float *m, float *v, rv_err *err) {
    if (o->range.n == 0) return 0; /* a rank past the data under ZeRO-1: m and v may be NULL */
    memset(m, 0, o->range.n * sizeof *m);
    memset(v, 0, o->range.n * sizeof *v);
    for (size_t i = 0; i < o->npieces; i++) {
        const rv_opt_piece *p = &o->pieces[i];
        rvk_download_async(o->w->k, m + (p->off - o->range.off), &o->m, p->moff, p->n);
        rvk_download_async(o->w->k, v + (p->off - o->range.off), &o->v, p->moff, p->n);
    }
    if (rvk_sync(o->w->k, err)) return rv_fail_wrap(err, "optimizer: reading the AdamW moments");
    return 0;
}

int rv_optim_set_moments(rv_optim *o, const float *m, const float *v, int64_t step_count, rv_err *err) {
    if (step_count < 0 || step_count > INT32_MAX)
        return rv_fail(err, "optimizer: step count %lld out of range [0, %d]", (long long)step_count, INT32_MAX);
    for (size_t i = 0; i < o->npieces; i++) {
        const rv_opt_piece *p = &o->pieces[i];
        rvk_upload_async(o->w->k, &o->m, p->moff, m + (p->off - o->range.off), p->n);
        rvk_upload_async(o->w->k, &o->v, p->moff, v + (p->off - o->range.off), p->n);
    }
    if (rvk_sync(o->w->k, err)) return rv_fail_wrap(err, "optimizer: restoring the AdamW moments");
    o->steps = step_count;
    return 0;
}

size_t rv_optim_state_bytes_plan(const rv_weights *w, const rv_param_groups *groups, int zero, int rank, int nranks) {
    rv_range r = zero && nranks > 1 ? rv_partition(w->total, rank, nranks) : (rv_range){0, w->total};
    size_t held = 0;
    for (size_t i = 0; i < w->n; i++) {
        int gi = groups->group_of[i];
        if (gi < 0 || !groups->g[gi].trainable) continue;
        size_t lo = w->t[i].offset, hi = lo + w->t[i].numel;
        if (lo < r.off) lo = r.off;
        if (hi > r.off + r.n) hi = r.off + r.n;
        if (hi > lo) held += hi - lo;
    }
    return 2 * held * sizeof(float);
}

size_t rv_optim_state_bytes(const rv_optim *o) { return 2 * o->held * sizeof(float); }
size_t rv_optim_state_bytes_unsharded(const rv_optim *o) { return 2 * o->trainable * sizeof(float); }
