#include "model/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void rv_gen_out_free(rv_gen_out *out, int B) {
    for (int b = 0; out && b < B; b++) {
        free(out[b].tokens);
        out[b].tokens = NULL;
    }
}

typedef struct cand {
    float p;
    int32_t id;
} cand;

static int cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* probs: softmax(logits / T) of one row. Applies top-k then top-p (keeping at least one
 * token) and draws from the renormalised rest. */
static int32_t sample_row(const float *probs, int V, const rv_gen_opts *o, rv_rng *r, cand *buf) {
    for (int v = 0; v < V; v++) {
        buf[v].p = probs[v];
        buf[v].id = v;
    }
    qsort(buf, (size_t)V, sizeof *buf, cand_desc);
    int keep = V;
    if (o->top_k > 0 && o->top_k < keep) keep = o->top_k;
    if (o->top_p > 0 && o->top_p < 1) {
        /* renormalise after top-k as transformers does (its top-p sees the top-k-masked softmax) */
        double tot = 0;
        for (int i = 0; i < keep; i++) tot += buf[i].p;
        double cum = 0;
        int n = 0;
        for (int i = 0; i < keep; i++) {
            n = i + 1;
            cum += buf[i].p / tot;
            if (cum >= o->top_p) break;
        }
        keep = n;
    }
    double tot = 0;
    for (int i = 0; i < keep; i++) tot += buf[i].p;
    double u = rv_rng_uniform(r) * tot, cum = 0;
    for (int i = 0; i < keep; i++) {
        cum += buf[i].p;
        if (u < cum) return buf[i].id;
    }
    return buf[keep - 1].id;
}

static int32_t argmax_row(const float *x, int V) {
    int32_t best = 0;
    for (int v = 1; v < V; v++)
        if (x[v] > x[best]) best = v;
    return best;
}

int rv_vlm_generate(rv_vlm *m, const rv_sample *prompts, int B, const rv_gen_opts *o, rv_gen_out *out, rv_err *err) {
    rv_kctx *k = m->k;
    const rv_text_cfg *tc = &m->cfg.text;
    const int D = tc->hidden, V = tc->vocab;
    if (B <= 0 || o->max_new_tokens <= 0) return rv_fail(err, "generate: need B > 0 and max_new_tokens > 0");
    memset(out, 0, (size_t)B * sizeof *out);
    int cap = 0, N = 0;
    for (int b = 0; b < B; b++) {
        if (prompts[b].len < 1) return rv_fail(err, "generate: prompt %d is empty", b);
        int c = prompts[b].len + o->max_new_tokens;
        if (c > tc->max_pos)
            return rv_fail(err, "generate: prompt %d (%d tokens) + max_new_tokens %d exceeds max_position_embeddings %d",
                           b, prompts[b].len, o->max_new_tokens, tc->max_pos);
        if (c > cap) cap = c;
        N += prompts[b].len;
    }
    rv_kv_cache cache;
    if (rv_kv_cache_init(k, &cache, tc, B, cap, err)) return -1;
    int32_t *cur = rv_xcalloc((size_t)B, sizeof *cur); /* tokens in the cache */
    int32_t *next = rv_xcalloc((size_t)B, sizeof *next);
    int *live = rv_xcalloc((size_t)B, sizeof *live);
    int32_t *pos = rv_xmalloc((size_t)(N > B ? N : B) * sizeof *pos);
    int32_t *rows = rv_xmalloc((size_t)(N > B ? N : B) * sizeof *rows);
    int32_t *cu = rv_xmalloc((size_t)(B + 1) * sizeof *cu);
    int32_t *cuk = rv_xmalloc((size_t)(B + 1) * sizeof *cuk);
    int32_t *lenk = rv_xmalloc((size_t)B * sizeof *lenk);
    int32_t *last = rv_xmalloc((size_t)B * sizeof *last);
    int *who = rv_xmalloc((size_t)B * sizeof *who);
    float *logits_h = rv_xmalloc((size_t)B * V * sizeof *logits_h);
    cand *buf = o->temperature > 0 ? rv_xmalloc((size_t)V * sizeof *buf) : NULL;
    rv_rng *rng = rv_xmalloc((size_t)B * sizeof *rng);
    for (int b = 0; b < B; b++) {
        rv_rng_init(&rng[b], o->seed, o->stream, (uint32_t)b);
        out[b].tokens = rv_xmalloc((size_t)o->max_new_tokens * sizeof(int32_t));
        live[b] = 1;
    }
    int rc = 0;
    /* step 0 = prefill of all prompts; then one token per live sequence */
    for (int step = 0; step <= o->max_new_tokens && !rc; step++) {
        int A = 0, T = 0;
        cu[0] = 0;
        for (int b = 0; b < B; b++) {
            if (!live[b]) continue;
            int nq = step == 0 ? prompts[b].len : 1;
            for (int t = 0; t < nq; t++) {
                pos[T + t] = cur[b] + t;
                rows[T + t] = b * cap + cur[b] + t;
            }
            T += nq;
            cu[A + 1] = T;
            cuk[A] = b * cap;
            lenk[A] = cur[b] + nq;
            last[A] = T - 1;
            who[A] = b;
            A++;
        }
        if (A == 0 || step == o->max_new_tokens) break;
        cuk[A] = (who[A - 1] + 1) * cap;
        float *x0 = rvk_alloc(k, (size_t)T * D);
        if (step == 0) {
            rc = rv_vlm_embed(m, prompts, B, x0, err);
        } else {
            int32_t *ids_d = rvk_alloc_i32(k, (size_t)A);
            int32_t *tok = rv_xmalloc((size_t)A * sizeof *tok);
            for (int a = 0; a < A; a++) tok[a] = next[who[a]];
            rvk_upload_i32(k, ids_d, tok, (size_t)A);
            free(tok);
            rc = rvk_embedding_fwd(k, x0, m->dec.embed.p, ids_d, A, D, V, err);
            rvk_free(k, ids_d);
        }
        if (rc) {
            rvk_free(k, x0);
            break;
        }
        int32_t *pos_d = rvk_alloc_i32(k, (size_t)T), *rows_d = rvk_alloc_i32(k, (size_t)T);
        int32_t *cu_d = rvk_alloc_i32(k, (size_t)A + 1), *cuk_d = rvk_alloc_i32(k, (size_t)A + 1);
        int32_t *lenk_d = rvk_alloc_i32(k, (size_t)A), *last_d = rvk_alloc_i32(k, (size_t)A);
        rvk_upload_i32(k, pos_d, pos, (size_t)T);
        rvk_upload_i32(k, rows_d, rows, (size_t)T);
        rvk_upload_i32(k, cu_d, cu, (size_t)A + 1);
        rvk_upload_i32(k, cuk_d, cuk, (size_t)A + 1);
        rvk_upload_i32(k, lenk_d, lenk, (size_t)A);
        rvk_upload_i32(k, last_d, last, (size_t)A);
        rv_dec_acts acts;
        rc = rv_decoder_forward(k, &m->dec, x0, pos_d, cu_d, A, T, &acts, false, &cache, rows_d, cuk_d, lenk_d, err);
        if (!rc) {
            float *h = rvk_alloc(k, (size_t)A * D), *lg = rvk_alloc(k, (size_t)A * V);
            rc = rvk_embedding_fwd(k, h, acts.xf, last_d, A, D, T, err);
            if (!rc) {
                rvk_matmul_fwd(k, lg, h, m->dec.lm_head.p, NULL, A, D, V);
                if (o->temperature > 0) rvk_softmax(k, lg, lg, A, V, o->temperature);
                rvk_download(k, logits_h, lg, (size_t)A * V);
            }
            rvk_free(k, h);
            rvk_free(k, lg);
        }
        rv_dec_acts_free(k, &m->dec, &acts);
        rvk_free(k, pos_d);
        rvk_free(k, rows_d);
        rvk_free(k, cu_d);
        rvk_free(k, cuk_d);
        rvk_free(k, lenk_d);
        rvk_free(k, last_d);
        if (rc) break;
        for (int a = 0; a < A; a++) {
            int b = who[a];
            cur[b] = lenk[a];
            const float *row = logits_h + (size_t)a * V;
            int32_t t = o->temperature > 0 ? sample_row(row, V, o, &rng[b], buf) : argmax_row(row, V);
            out[b].tokens[out[b].n++] = t;
            next[b] = t;
            for (int s = 0; s < o->n_stop; s++)
                if (t == o->stop_ids[s]) {
                    live[b] = 0;
                    out[b].stopped = 1;
                }
            if (out[b].n >= o->max_new_tokens) live[b] = 0;
        }
    }
    rv_kv_cache_free(k, &cache);
    free(cur);
    free(next);
    free(live);
    free(pos);
    free(rows);
    free(cu);
    free(cuk);
    free(lenk);
    free(last);
    free(who);
    free(logits_h);
    free(buf);
    free(rng);
    if (rc) rv_gen_out_free(out, B);
    return rc;
}
