#include "model/gen_loop.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "core/rng.h"
#include "model/plan.h"

void rv_gen_results_free(rv_gen_result *out, int n) {
    for (int i = 0; out && i < n; i++) {
        free(out[i].tokens);
        free(out[i].logp);
        out[i].tokens = NULL;
        out[i].logp = NULL;
    }
}

static int cmp_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Sum of the `k` largest of v[0..n) (v is reordered): the most one step can hold when at most k
 * prompts are prefilled together. */
static long top_sum(int *v, int n, int k) {
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    long s = 0;
    for (int i = 0; i < n && i < k; i++) s += v[i];
    return s;
}

/* The draw of `step` of prompt `id`: block `step` of the stream (seed, id low, id high), so it is a
 * pure function of those three and costs one Philox block. */
static double draw(uint64_t seed, uint64_t id, int step) {
    rv_rng r;
    rv_rng_init(&r, seed, (uint32_t)id, (uint32_t)(id >> 32));
    r.ctr[0] = (uint32_t)step;
    return rv_rng_uniform(&r);
}

/* Per-slot state: which prompt it holds (-1: free), tokens in its cache, and the generated
 * tokens so far (host scratch of max_new_tokens each, allocated once per call). */
typedef struct slot_state {
    int prompt;
    int cached;
    int prefill;      /* 1: the next step prefills the prompt */
    double t0;
    rv_gen_result r;  /* r.tokens / r.logp point into the call's scratch */
} slot_state;

int rv_gen_loop(rv_vlm *m, const rv_sample *prompts, const uint64_t *ids, int n, const rv_gen_loop_opts *o,
                rv_gen_result *out, rv_err *err) {
    rv_kctx *k = m->k;
    const rv_text_cfg *tc = &m->cfg.text;
    const int D = tc->hidden, V = tc->vocab;
    if (n <= 0 || o->slots <= 0 || o->max_new_tokens <= 0)
        return rv_fail(err, "generation loop: need prompts > 0, slots > 0 and max_new_tokens > 0 (got %d, %d, %d)", n,
                       o->slots, o->max_new_tokens);
    if (out) memset(out, 0, (size_t)n * sizeof *out);
    const int S = o->slots < n ? o->slots : n;
    int *lens = rv_xmalloc((size_t)n * sizeof *lens), *tiles = rv_xmalloc((size_t)n * sizeof *tiles);
    int cap = 0;
    for (int i = 0; i < n; i++) {
        if (prompts[i].len < 1) {
            free(lens);
            free(tiles);
            return rv_fail(err, "generation loop: prompt %d is empty", i);
        }
        int c = prompts[i].len + o->max_new_tokens;
        if (c > tc->max_pos) {
            free(lens);
            free(tiles);
            return rv_fail(err,
                           "generation loop: prompt %d (%d tokens) + max_new_tokens %d exceeds max_position_embeddings %d",
                           i, prompts[i].len, o->max_new_tokens, tc->max_pos);
        }
        if (c > cap) cap = c;
        lens[i] = prompts[i].len;
        tiles[i] = 0;
        for (int q = 0; q < prompts[i].n_images; q++) tiles[i] += prompts[i].images[q].n_tiles;
    }
    /* a step holds at most S segments, each at most one whole prompt */
    long max_tok = top_sum(lens, n, S), max_tiles = top_sum(tiles, n, S);
    free(lens);
    free(tiles);
    if (max_tok < S) max_tok = S;
    if (max_tok > 0x7fffffff || max_tiles > 0x7fffffff) return rv_fail(err, "generation loop: batch too large");
    if (rv_vlm_plan_fit(m, (int)max_tok, (int)max_tiles, S, cap, err)) return -1;
    rv_act_plan *P = m->plan;
    rv_kv_cache cache = P->cache; /* viewed as S slots of cap rows */
    cache.nseq = S;
    cache.cap = cap;

    const size_t T_max = (size_t)max_tok;
    slot_state *sl = rv_xcalloc((size_t)S, sizeof *sl);
    int32_t *tok_scratch = rv_xmalloc((size_t)S * o->max_new_tokens * sizeof *tok_scratch);
    float *logp_scratch = rv_xmalloc((size_t)S * o->max_new_tokens * sizeof *logp_scratch);
    int32_t *pos = rv_xmalloc(T_max * sizeof *pos), *rows = rv_xmalloc(T_max * sizeof *rows);
    int32_t *gather = rv_xmalloc(T_max * sizeof *gather);
    int32_t *cu = rv_xmalloc((size_t)(S + 1) * sizeof *cu), *cuk = rv_xmalloc((size_t)(S + 1) * sizeof *cuk);
    int32_t *lenk = rv_xmalloc((size_t)S * sizeof *lenk), *last = rv_xmalloc((size_t)S * sizeof *last);
    int32_t *tok = rv_xmalloc((size_t)S * sizeof *tok);
    int *who = rv_xmalloc((size_t)S * sizeof *who);
    double *u = rv_xmalloc((size_t)S * sizeof *u);
    float *logp = rv_xmalloc((size_t)S * sizeof *logp);
    rv_sample *seg = rv_xmalloc((size_t)S * sizeof *seg);
    for (int s = 0; s < S; s++) {
        sl[s].prompt = -1;
        sl[s].r.tokens = tok_scratch + (size_t)s * o->max_new_tokens;
        sl[s].r.logp = logp_scratch + (size_t)s * o->max_new_tokens;
    }
    int queued = 0, rc = 0;
    for (;;) {
        /* refill free slots in slot order with the next prompts of the queue */
        for (int s = 0; s < S && queued < n; s++)
            if (sl[s].prompt < 0) {
                sl[s].prompt = queued++;
                sl[s].cached = 0;
                sl[s].prefill = 1;
                sl[s].r.n = 0;
                sl[s].r.stopped = 0;
                sl[s].t0 = rv_now();
            }
        /* segments in slot order (the cache offsets must not decrease) */
        int A = 0, T = 0, n_pre = 0, T_pre = 0;
        cu[0] = 0;
        for (int s = 0; s < S; s++) {
            if (sl[s].prompt < 0) continue;
            const rv_sample *ps = &prompts[sl[s].prompt];
            int nq = sl[s].prefill ? ps->len : 1;
            for (int t = 0; t < nq; t++) {
                pos[T + t] = sl[s].cached + t;
                rows[T + t] = s * cap + sl[s].cached + t;
            }
            if (sl[s].prefill) {
                seg[n_pre] = *ps;
                seg[n_pre].mask = NULL;
                n_pre++;
                T_pre += nq;
            } else {
                tok[A - n_pre] = sl[s].r.tokens[sl[s].r.n - 1]; /* the last generated token */
            }
            T += nq;
            cu[A + 1] = T;
            cuk[A] = s * cap;
            lenk[A] = sl[s].cached + nq;
            last[A] = T - 1;
            who[A] = s;
            A++;
        }
        if (A == 0) break;
        cuk[A] = (who[A - 1] + 1) * cap;
        const int n_dec = A - n_pre;
        if (n_pre == 0) {
            rvk_upload_i32(k, P->g_ids, tok, (size_t)A);
            rc = rvk_embedding_fwd(k, P->dec.x[0], m->dec.embed.p, P->g_ids, A, D, V, err);
        } else {
            /* the new prompts (token and image rows) packed first, then the decode tokens, in
             * dec.xf (free until the decoder's last layer); then one gather into slot order.
             * Decode tokens bypass rv_vlm_embed: a generated image_token_id is a plain token. */
            rc = rv_vlm_embed(m, seg, n_pre, P->dec.x[0], err);
            if (!rc && n_dec > 0) { /* (all prefill: already in slot order) */
                rvk_copy(k, P->dec.xf, P->dec.x[0], (size_t)T_pre * D);
                rvk_upload_i32(k, P->g_ids, tok, (size_t)n_dec);
                rc = rvk_embedding_fwd(k, P->dec.xf + (size_t)T_pre * D, m->dec.embed.p, P->g_ids, n_dec, D, V, err);
            }
            if (!rc && n_dec > 0) {
                int at_pre = 0, at_dec = T_pre; /* source rows in dec.xf */
                for (int a = 0; a < A; a++) {
                    const slot_state *q = &sl[who[a]];
                    int nq = cu[a + 1] - cu[a];
                    int *at = q->prefill ? &at_pre : &at_dec;
                    for (int t = 0; t < nq; t++) gather[cu[a] + t] = (*at)++;
                }
                rvk_upload_i32(k, P->g_rows, gather, (size_t)T); /* g_rows is uploaded again below */
                rc = rvk_embedding_fwd(k, P->dec.x[0], P->dec.xf, P->g_rows, T, D, T, err);
            }
        }
        if (rc) break;
        P->live = true;
        rc = rv_gen_step_logits(m, &cache, pos, rows, T, cu, cuk, lenk, last, A, err);
        if (!rc) {
            if (o->temperature > 0)
                for (int a = 0; a < A; a++) {
                    const slot_state *q = &sl[who[a]];
                    u[a] = draw(o->seed, ids[q->prompt], q->r.n);
                }
            for (int a = 0; a < A; a++)
                for (int b = 0; b < o->n_ban; b++)
                    if (o->ban_ids[b] >= 0 && o->ban_ids[b] < V)
                        rvk_fill(k, P->g_logits + (size_t)a * V + o->ban_ids[b], -INFINITY, 1);
            rvk_sample(k, P->g_tok, P->g_logits, u, A, V, o->temperature, o->top_k, o->top_p);
            /* the chosen token's log-prob at temperature 1, from the same logits, on the device */
            rc = rvk_token_logp(k, P->loss_d, P->g_logits, P->g_tok, A, V, err);
        }
        if (!rc) {
            rvk_download_i32(k, tok, P->g_tok, (size_t)A);
            rvk_download(k, logp, P->loss_d, (size_t)A);
        }
        P->live = false;
        if (rc) break;
        for (int a = 0; a < A; a++) {
            slot_state *q = &sl[who[a]];
            q->cached = lenk[a];
            q->prefill = 0;
            int32_t t = tok[a];
            q->r.tokens[q->r.n] = t;
            q->r.logp[q->r.n] = logp[a];
            q->r.n++;
            for (int j = 0; j < o->n_stop; j++)
                if (t == o->stop_ids[j]) q->r.stopped = 1;
            if (!q->r.stopped && q->r.n < o->max_new_tokens) continue;
            q->r.seconds = rv_now() - q->t0;
            if (out) {
                rv_gen_result *r = &out[q->prompt];
                *r = q->r;
                r->tokens = rv_xmalloc((size_t)q->r.n * sizeof *r->tokens);
                r->logp = rv_xmalloc((size_t)q->r.n * sizeof *r->logp);
                memcpy(r->tokens, q->r.tokens, (size_t)q->r.n * sizeof *r->tokens);
                memcpy(r->logp, q->r.logp, (size_t)q->r.n * sizeof *r->logp);
            }
            if (o->on_done) o->on_done(o->ctx, q->prompt, &q->r);
            q->prompt = -1; /* free: refilled at the top of the next step */
        }
    }
    free(sl);
    free(tok_scratch);
    free(logp_scratch);
    free(pos);
    free(rows);
    free(gather);
    free(cu);
    free(cuk);
    free(lenk);
    free(last);
    free(tok);
    free(who);
    free(u);
    free(logp);
    free(seg);
    if (rc && out) rv_gen_results_free(out, n);
    return rc;
}
