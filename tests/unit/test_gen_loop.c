/* The continuous-batching generation loop (model/gen_loop.h) on the tiny preset with random
 * weights: batching invariance (1, 3, 8 and all slots, a shuffled queue with the same ids; greedy
 * and sampled: tokens bitwise, log-probs within 1e-5, see same()), slot refill (more prompts than slots, different lengths, early
 * stops), log-probs against an independent log-softmax of the full forward's logits, stop tokens
 * and max_new_tokens, and zero backend allocations in steady state (rvk_alloc* wrapped at link
 * time, as in test_model_plan.c). Prints greedy tokens/s for 1 and 8 slots (1 thread). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/progress.h"
#include "core/rng.h"
#include "model/gen_loop.h"
#include "model/weights.h"

#include "alloc_count.h"

#define NP 10     /* prompts */
#define MAXNEW 12

/* NP prompts of different lengths; prompts 2 and 7 carry a one-tile image */
typedef struct prompts {
    rv_sample s[NP];
    int32_t *ids[NP];
    rv_vlm_image img[NP];
    float *tile;
} prompts;

static void make_prompts(const rv_model_cfg *c, prompts *P) {
    rv_rng r;
    rv_rng_init(&r, 7, 2, 0);
    const int S = c->vision.image_size;
    const size_t tile = (size_t)3 * S * S;
    P->tile = malloc(tile * sizeof(float));
    for (size_t j = 0; j < tile; j++) P->tile[j] = (float)rv_rng_range(&r, -1, 1);
    for (int i = 0; i < NP; i++) {
        int img = i == 2 || i == 7;
        int rows = 0;
        if (img) {
            P->img[i] = (rv_vlm_image){.tiles = P->tile, .n_tiles = 1, .orig_h = S, .orig_w = S};
            rows = rv_vlm_image_tokens(c, 1, S, S);
        }
        int len = 2 + rows + (int)((i * 7) % 13);
        P->ids[i] = malloc((size_t)len * sizeof(int32_t));
        for (int t = 0; t < len; t++)
            P->ids[i][t] = (img && t >= 1 && t < 1 + rows) ? c->image_token_id : 4 + (int32_t)rv_rng_below(&r, 2000);
        P->s[i] = (rv_sample){.ids = P->ids[i], .len = len, .images = img ? &P->img[i] : NULL, .n_images = img};
    }
}

typedef struct done_log {
    int order[NP];
    int n;
    int ntok[NP];
    int32_t tok[NP][MAXNEW];
} done_log;

static void on_done(void *ctx, int i, const rv_gen_result *r) {
    done_log *d = ctx;
    if (d->n < NP) d->order[d->n] = i;
    d->n++;
    if (i >= 0 && i < NP && r->n <= MAXNEW) {
        d->ntok[i] = r->n;
        memcpy(d->tok[i], r->tokens, (size_t)r->n * sizeof(int32_t));
    }
}

/* Runs the loop over the queue perm (queue position q holds prompt perm[q], id 1000 + perm[q]) and
 * stores the results by prompt. */
static int run(rv_vlm *m, const prompts *P, const int *perm, rv_gen_loop_opts o, rv_gen_result *by_prompt,
               done_log *log) {
    rv_sample q[NP];
    uint64_t ids[NP];
    for (int i = 0; i < NP; i++) {
        q[i] = P->s[perm[i]];
        ids[i] = 1000u + (uint64_t)perm[i] * 0x100000001ull; /* both halves of the id in use */
    }
    rv_gen_result out[NP];
    static done_log local;
    o.on_done = on_done;
    o.ctx = log ? log : &local;
    rv_err e;
    if (rv_gen_loop(m, q, ids, NP, &o, out, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    for (int i = 0; i < NP; i++) by_prompt[perm[i]] = out[i];
    if (log)
        for (int i = 0; i < log->n && i < NP; i++) log->order[i] = perm[log->order[i]];
    return 0;
}

/* Tokens, lengths and stop flags bitwise; log-probs within 1e-5 (relative above 1): the CPU gemm
 * (OpenBLAS) is not row-invariant (sgemv for one row, edge kernels depend on the row count), so a
 * row's logits move in the last bits with the batch's shape; the tokens chosen from them do not. */
static double logp_dev;
static int same(const rv_gen_result *a, const rv_gen_result *b) {
    for (int i = 0; i < NP; i++) {
        if (a[i].n != b[i].n || a[i].stopped != b[i].stopped) return 0;
        if (memcmp(a[i].tokens, b[i].tokens, (size_t)a[i].n * sizeof(int32_t))) return 0;
        for (int j = 0; j < a[i].n; j++) {
            double d = fabs((double)a[i].logp[j] - b[i].logp[j]) / fmax(1.0, fabs(a[i].logp[j]));
            if (d > logp_dev) logp_dev = d;
            if (d > 1e-5) return 0;
        }
    }
    return 1;
}

static void free_all(rv_gen_result *r) { rv_gen_results_free(r, NP); }

int main(void) {
    rv_err e;
    rv_model_cfg c;
    CHECK(rv_model_cfg_preset("tiny", &c, &e) == 0);
    rv_kctx *k = NULL;
    CHECK(rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) == 0);
    rv_weights w;
    CHECK(rv_weights_build(&w, &c, k, &e) == 0);
    CHECK(rv_weights_init_random(&w, 5, 0.2f, &e) == 0);
    rv_vlm m;
    CHECK(rv_vlm_init(&m, k, &c, &w, false, &e) == 0);
    prompts P;
    make_prompts(&c, &P);
    int fwd[NP], rev[NP], shuf[NP] = {4, 9, 0, 7, 2, 5, 1, 8, 3, 6};
    for (int i = 0; i < NP; i++) fwd[i] = i, rev[i] = NP - 1 - i;

    for (int mode = 0; mode < 2; mode++) { /* greedy, sampled */
        rv_gen_loop_opts o = {.slots = 1, .max_new_tokens = MAXNEW, .seed = 42};
        if (mode) o.temperature = 0.9f, o.top_k = 50, o.top_p = 0.95f;
        rv_gen_result r1[NP], r3[NP], r8[NP], rall[NP], rshuf[NP], rrev[NP];
        CHECK(run(&m, &P, fwd, o, r1, NULL) == 0);
        o.slots = 3;
        CHECK(run(&m, &P, fwd, o, r3, NULL) == 0);
        o.slots = 8;
        CHECK(run(&m, &P, fwd, o, r8, NULL) == 0);
        long before = n_alloc;
        CHECK(run(&m, &P, shuf, o, rshuf, NULL) == 0);
        o.slots = 3;
        CHECK(run(&m, &P, rev, o, rrev, NULL) == 0);
        /* the plan already holds 8 slots: later calls (refills, prefills with images) allocate nothing */
        CHECK(n_alloc - before == 0);
        o.slots = NP;
        CHECK(run(&m, &P, fwd, o, rall, NULL) == 0);
        CHECK(same(r1, r3));
        CHECK(same(r1, r8));
        CHECK(same(r1, rall));
        CHECK(same(r1, rshuf));
        CHECK(same(r1, rrev));
        /* no stop ids: every prompt runs to max_new_tokens */
        for (int i = 0; i < NP; i++) CHECK(r1[i].n == MAXNEW && !r1[i].stopped);
        /* the outputs are not trivially the same for every prompt (the comparisons above matter) */
        CHECK(memcmp(r1[0].tokens, r1[1].tokens, MAXNEW * sizeof(int32_t)) != 0);

        /* log-probs: log softmax of the full forward's logits of prompt + generated tokens (double) */
        double worst = 0;
        for (int i = 0; i < NP; i++) {
            const int L = P.s[i].len, n = r1[i].n, V = c.text.vocab;
            int32_t *ids = malloc((size_t)(L + n) * sizeof(int32_t));
            memcpy(ids, P.s[i].ids, (size_t)L * sizeof(int32_t));
            memcpy(ids + L, r1[i].tokens, (size_t)n * sizeof(int32_t));
            rv_sample s = P.s[i];
            s.ids = ids;
            s.len = L + n;
            s.mask = NULL;
            rv_vlm_pass *p = NULL;
            float *lg = malloc((size_t)(L + n) * V * sizeof(float));
            CHECK(rv_vlm_forward(&m, &s, 1, false, &p, &e) == 0);
            CHECK(rv_vlm_pass_logits(&m, p, 0, lg, &e) == 0);
            for (int j = 0; j < n; j++) {
                const float *row = lg + (size_t)(L + j - 1) * V; /* predicts token L + j */
                double mx = row[0], z = 0;
                int arg = 0;
                for (int v = 1; v < V; v++)
                    if (row[v] > mx) mx = row[v], arg = v;
                for (int v = 0; v < V; v++) z += exp(row[v] - mx);
                double want = row[r1[i].tokens[j]] - mx - log(z);
                double d = fabs(want - r1[i].logp[j]) / fmax(1.0, fabs(want));
                if (d > worst) worst = d;
                if (!mode) CHECK(r1[i].tokens[j] == arg); /* greedy = argmax of the full forward */
            }
            rv_vlm_pass_free(&m, p);
            free(lg);
            free(ids);
        }
        printf("%s: max |logp - log_softmax(full forward)| = %.3g; across slot counts / queue orders %.3g\n",
               mode ? "sampled" : "greedy", worst, logp_dev);
        CHECK(worst <= 1e-5);

        /* stop tokens: the 3rd token of prompt 0 and the 5th of prompt 5 stop; shorter sequences
         * make the slots refill at different steps */
        int32_t stop[2] = {r1[0].tokens[2], r1[5].tokens[4]};
        o.stop_ids = stop;
        o.n_stop = 2;
        rv_gen_result s1[NP], s3[NP], s3r[NP];
        o.slots = 1;
        CHECK(run(&m, &P, fwd, o, s1, NULL) == 0);
        static done_log log;
        memset(&log, 0, sizeof log);
        o.slots = 3;
        CHECK(run(&m, &P, fwd, o, s3, &log) == 0);
        CHECK(run(&m, &P, shuf, o, s3r, NULL) == 0);
        CHECK(same(s1, s3));
        CHECK(same(s1, s3r));
        int nstopped = 0;
        for (int i = 0; i < NP; i++) {
            /* each output is the no-stop output cut after its first stop token */
            int cut = MAXNEW;
            for (int j = 0; j < MAXNEW; j++)
                if (r1[i].tokens[j] == stop[0] || r1[i].tokens[j] == stop[1]) {
                    cut = j + 1;
                    break;
                }
            CHECK(s1[i].n == cut && s1[i].stopped == (cut < MAXNEW || r1[i].tokens[MAXNEW - 1] == stop[0] ||
                                                       r1[i].tokens[MAXNEW - 1] == stop[1]));
            CHECK(memcmp(s1[i].tokens, r1[i].tokens, (size_t)s1[i].n * sizeof(int32_t)) == 0);
            CHECK(memcmp(s1[i].logp, r1[i].logp, (size_t)s1[i].n * sizeof(float)) == 0);
            nstopped += s1[i].stopped;
        }
        CHECK(s1[0].stopped && s1[0].n <= 3);
        CHECK(nstopped >= 2);
        /* refill: all NP finished through 3 slots, and some prompt finished before one queued
         * earlier (its slot was refilled while an older sequence kept decoding) */
        CHECK(log.n == NP);
        int overtaken = 0;
        for (int a = 0; a < NP; a++)
            for (int b = a + 1; b < NP; b++) overtaken |= log.order[a] > log.order[b];
        CHECK(overtaken);
        if (!mode) {
            /* a generated token equal to image_token_id is a plain token (no image rows), also in a
             * step that prefills a new prompt. Queue: the text prompts, 3 slots. The first of the
             * first three to stop (after kmin tokens) is refilled in the step that feeds another's
             * token kmin - 1: that token becomes the image id of a second model with the same weights,
             * which must give the same outputs. */
            int text[NP], nt = 0;
            for (int i = 0; i < NP; i++)
                if (P.s[i].n_images == 0) text[nt++] = i;
            int kmin = MAXNEW + 1, jstop = -1, best = -1;
            for (int i = 0; i < 3; i++)
                if (s1[text[i]].n < kmin) kmin = s1[text[i]].n, jstop = i;
            for (int i = 0; i < 3; i++)
                if (i != jstop && s1[text[i]].n > kmin) best = s1[text[i]].tokens[kmin - 1];
            CHECK(kmin < MAXNEW && best >= 0);
            int in_prompt = 0;
            for (int i = 0; i < nt; i++)
                for (int t = 0; t < P.s[text[i]].len; t++) in_prompt |= P.s[text[i]].ids[t] == best;
            CHECK(!in_prompt); /* else the prompts would hold placeholders */
            rv_model_cfg c2 = c;
            c2.image_token_id = best;
            rv_weights w2;
            rv_vlm m2;
            CHECK(rv_weights_build(&w2, &c2, k, &e) == 0 && rv_weights_init_random(&w2, 5, 0.2f, &e) == 0);
            CHECK(rv_vlm_init(&m2, k, &c2, &w2, false, &e) == 0);
            rv_sample q[NP];
            uint64_t qid[NP];
            for (int i = 0; i < nt; i++) q[i] = P.s[text[i]], qid[i] = 1000u + (uint64_t)text[i] * 0x100000001ull;
            rv_gen_result o2[NP];
            rv_gen_loop_opts oi = o;
            oi.on_done = NULL;
            CHECK(rv_gen_loop(&m2, q, qid, nt, &oi, o2, &e) == 0);
            for (int i = 0; i < nt; i++)
                CHECK(o2[i].n == s1[text[i]].n &&
                      memcmp(o2[i].tokens, s1[text[i]].tokens, (size_t)o2[i].n * sizeof(int32_t)) == 0);
            rv_gen_results_free(o2, nt);
            rv_vlm_free(&m2);
            rv_weights_free(&w2);
        }
        free_all(r1), free_all(r3), free_all(r8), free_all(rall), free_all(rshuf), free_all(rrev);
        free_all(s1), free_all(s3), free_all(s3r);
    }

    /* callback only (out = NULL): the results arrive through on_done, as with out */
    {
        rv_gen_loop_opts o = {.slots = 4, .max_new_tokens = MAXNEW, .seed = 42, .on_done = on_done};
        static done_log d;
        o.ctx = &d;
        uint64_t ids[NP];
        for (int i = 0; i < NP; i++) ids[i] = 1000u + (uint64_t)i * 0x100000001ull;
        rv_gen_result ref[NP];
        CHECK(rv_gen_loop(&m, P.s, ids, NP, &o, ref, &e) == 0);
        memset(&d, 0, sizeof d);
        CHECK(rv_gen_loop(&m, P.s, ids, NP, &o, NULL, &e) == 0);
        CHECK(d.n == NP);
        for (int i = 0; i < NP; i++)
            CHECK(d.ntok[i] == ref[i].n && memcmp(d.tok[i], ref[i].tokens, (size_t)ref[i].n * sizeof(int32_t)) == 0);
        rv_gen_results_free(ref, NP);
    }

    /* max_new_tokens + max_pos: a clear failure, nothing written */
    {
        rv_gen_loop_opts o = {.slots = 2, .max_new_tokens = c.text.max_pos};
        rv_gen_result out[NP];
        uint64_t ids[NP] = {0};
        CHECK(rv_gen_loop(&m, P.s, ids, NP, &o, out, &e) != 0 && strstr(e.msg, "max_position_embeddings"));
        o.max_new_tokens = 0;
        CHECK(rv_gen_loop(&m, P.s, ids, NP, &o, out, &e) != 0);
    }

    /* greedy decode speed, text prompts only, 1 vs 8 slots (1 thread) */
    {
        enum { NQ = 16, NEW = 32 };
        rv_sample q[NQ];
        uint64_t ids[NQ];
        int32_t pid[NQ][16];
        for (int i = 0; i < NQ; i++) {
            for (int t = 0; t < 16; t++) pid[i][t] = 4 + (i * 31 + t * 17) % 2000;
            q[i] = (rv_sample){.ids = pid[i], .len = 16};
            ids[i] = (uint64_t)i;
        }
        double tps[2];
        int32_t first[2][NEW];
        for (int v = 0; v < 2; v++) {
            rv_gen_loop_opts o = {.slots = v ? 8 : 1, .max_new_tokens = NEW};
            rv_gen_result out[NQ];
            double t0 = rv_now();
            CHECK(rv_gen_loop(&m, q, ids, NQ, &o, out, &e) == 0);
            double dt = rv_now() - t0;
            tps[v] = NQ * NEW / dt;
            memcpy(first[v], out[NQ - 1].tokens, sizeof first[v]);
            rv_gen_results_free(out, NQ);
        }
        CHECK(memcmp(first[0], first[1], sizeof first[0]) == 0);
        printf("greedy decode, tiny, 1 thread, %d prompts x %d new tokens: %.0f tokens/s with 1 slot, %.0f with 8\n",
               NQ, NEW, tps[0], tps[1]);
    }

    for (int i = 0; i < NP; i++) free(P.ids[i]);
    free(P.tile);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    return check_summary("gen_loop");
}
