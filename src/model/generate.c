#include "model/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/plan.h"

void rv_gen_out_free(rv_gen_out *out, int B) {
    for (int b = 0; out && b < B; b++) {
        free(out[b].tokens);
        out[b].tokens = NULL;
    }
}

int rv_gen_step_logits(rv_vlm *m, rv_kv_cache *cache, const int32_t *pos, const int32_t *rows, int T,
                       const int32_t *cu, const int32_t *cuk, const int32_t *lenk, const int32_t *last, int A,
                       rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    const int D = m->cfg.text.hidden, V = m->cfg.text.vocab;
    rvk_upload_i32(k, P->g_pos, pos, (size_t)T);
    rvk_upload_i32(k, P->g_rows, rows, (size_t)T);
    rvk_upload_i32(k, P->g_cu, cu, (size_t)A + 1);
    rvk_upload_i32(k, P->g_cuk, cuk, (size_t)A + 1);
    rvk_upload_i32(k, P->g_lenk, lenk, (size_t)A);
    rvk_upload_i32(k, P->g_last, last, (size_t)A);
    /* the host copies of the offsets travel with them (rvk_attn.host_*) */
    const rv_dec_seqs sq = {.nseq = A, .pos = P->g_pos, .cu = P->g_cu, .host_cu = cu, .cache_rows = P->g_rows,
                            .cu_cache = P->g_cuk, .len_k = P->g_lenk, .host_cu_cache = cuk, .host_len_k = lenk};
    int rc = rv_decoder_forward(k, &m->dec, &sq, T, &P->dec, false, cache, err);
    /* g_h: [A, D] the last row of each segment; g_logits: [A, V] */
    if (!rc) rc = rvk_embedding_fwd(k, P->g_h, P->dec.xf, P->g_last, A, D, T, err);
    if (!rc) rvk_matmul_fwd(k, P->g_logits, P->g_h, m->dec.lm_head.p, NULL, A, D, V);
    return rc;
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
    int tiles = 0;
    for (int b = 0; b < B; b++)
        for (int q = 0; q < prompts[b].n_images; q++) {
            if (prompts[b].images[q].n_tiles < 1) return rv_fail(err, "generate: prompt %d image %d has no tiles", b, q);
            tiles += prompts[b].images[q].n_tiles;
        }
    if (rv_vlm_plan_fit(m, N, tiles, B, cap, err)) return -1;
    rv_act_plan *P = m->plan;
    /* the cache viewed as B slots of cap rows (rows past a sequence's length are never read) */
    rv_kv_cache cache = P->cache;
    cache.nseq = B;
    cache.cap = cap;
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
    int32_t *tok = rv_xmalloc((size_t)B * sizeof *tok);
    double *u = rv_xmalloc((size_t)B * sizeof *u);
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
        if (step == 0) {
            /* prompts: token rows and image rows into the plan's dec.x[0] */
            rc = rv_vlm_embed(m, prompts, B, P->dec.x[0], err);
        } else {
            for (int a = 0; a < A; a++) tok[a] = next[who[a]];
            rvk_upload_i32(k, P->g_ids, tok, (size_t)A);
            rc = rvk_embedding_fwd(k, P->dec.x[0], m->dec.embed.p, P->g_ids, A, D, V, err);
        }
        if (rc) break;
        P->live = true;
        rc = rv_gen_step_logits(m, &cache, pos, rows, T, cu, cuk, lenk, last, A, err);
        if (!rc) {
            /* one draw per live sequence from its own stream; only the chosen ids leave the device */
            if (o->temperature > 0)
                for (int a = 0; a < A; a++) u[a] = rv_rng_uniform(&rng[who[a]]);
            rvk_sample(k, P->g_tok, P->g_logits, u, A, V, o->temperature, o->top_k, o->top_p);
            rvk_download_i32(k, tok, P->g_tok, (size_t)A);
        }
        P->live = false;
        if (rc) break;
        for (int a = 0; a < A; a++) {
            int b = who[a];
            cur[b] = lenk[a];
            int32_t t = tok[a];
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
    free(tok);
    free(u);
    free(rng);
    if (rc) rv_gen_out_free(out, B);
    return rc;
}
