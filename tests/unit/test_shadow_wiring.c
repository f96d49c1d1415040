/* The weight-shadow wiring (kernels.h rvk_shadow_*): nothing in src/ branches on the backend, so
 * every writer of parameters must refresh the backend's bf16 copy. Checked on the CPU's emulation
 * (rvk_cpu_opts.bf16_weights = 1: GEMM operands in the bound range read fp32(bf16(master))).
 *
 * The tiny model (untied lm_head, see below) is built and randomly initialised on a bf16_weights
 * context (rv_weights_build binds, rv_weights_init_random uploads and refreshes), then trained
 * for 3 optimizer steps through the real path (rv_vlm_sft_step + rv_optim_step: AdamW, then under
 * --mpi on 2 ranks ZeRO-1's all-gather of the updated shards). After the init and after every
 * step the forward log-probs of fixed text samples are compared with
 *   (a) a fresh bf16_weights = 0 context whose parameters are the downloaded masters with every
 *       GEMM weight rounded to bf16 (core/half.h): BITWISE equal. Why exact: both contexts run
 *       the same kernels on one thread with the same fp32 numbers: every GEMM weight operand is
 *       fp32(bf16(master)) in both (the shadow copy / the rounded upload), and what is not a GEMM
 *       operand (norm weights, biases, the embedding table that is gathered, the vision position
 *       embedding) is the fp32 master in both. The untied lm_head keeps the embedding table out
 *       of the GEMMs (tied, the table is gathered as fp32 and read by the lm_head as bf16, which
 *       no single fp32 table reproduces);
 *   (b) a fresh bf16_weights = 1 context loaded with the masters (upload + refresh): bitwise
 *       equal (a copy equal to round(masters) gives the same bits, whatever the tensor rule);
 *   (c) a fresh bf16_weights = 0 context with the unrounded masters: DIFFERENT (the comparison
 *       can see the rounding at all).
 * A missed refresh (after the optimizer step, or before instead of after the all-gather) leaves
 * the trained context's copy on older values, so (a) and (b) fail from the first step on.
 * Finally, the 3 steps on a bf16_weights = 0 context from the same init give different masters
 * (the shadow did feed the training's forward and backward).
 *
 * usage: test_shadow_wiring            one process
 *        test_shadow_wiring --mpi      under mpirun (tests/e2e/test_shadow_wiring.sh: 2 ranks, ZeRO-1) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "comm/world.h"
#include "core/half.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/vlm.h"
#include "model/weights.h"
#include "train/optimizer.h"
#include "train/param_groups.h"

#define NEVAL 3  /* evaluation samples (the same on every rank) */
#define NTRAIN 2 /* training samples per rank and step */
#define MAXLEN 40
#define STEPS 3

static void die_on(int rc, const rv_err *e, const char *what) {
    if (rc) rv_die("test_shadow_wiring: %s: %s", what, e->msg);
}

static rv_kctx *cpu(int bf16) {
    rv_kctx *k = NULL;
    rv_err e;
    die_on(rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1, .bf16_weights = bf16}, &e), &e, "backend");
    return k;
}

/* n text-only samples, sample i of len0 + 3 i tokens from ids 4..2003 (seeded). */
static void samples(rv_sample *s, int32_t *ids, int n, int len0, uint64_t seed) {
    rv_rng r;
    rv_rng_init(&r, seed, 0, 0);
    for (int i = 0; i < n; i++) {
        int len = len0 + 3 * i;
        int32_t *at = ids + (size_t)i * MAXLEN;
        for (int t = 0; t < len; t++) at[t] = 4 + (int32_t)rv_rng_below(&r, 2000);
        s[i] = (rv_sample){.ids = at, .len = len};
    }
}

/* The forward log-probs of the eval samples, concatenated: [sum of len] */
static float *eval_logp(rv_vlm *m, const rv_sample *s, size_t *n_out) {
    rv_err e;
    rv_vlm_pass *p = NULL;
    die_on(rv_vlm_forward(m, s, NEVAL, false, &p, &e), &e, "forward");
    size_t n = 0;
    for (int i = 0; i < NEVAL; i++) n += (size_t)s[i].len;
    float *out = malloc(n * sizeof *out), *at = out;
    for (int i = 0; i < NEVAL; i++) {
        memcpy(at, rv_vlm_pass_logp(p, i), (size_t)s[i].len * sizeof *at);
        at += s[i].len;
    }
    rv_vlm_pass_free(m, p);
    *n_out = n;
    return out;
}

/* GEMM weights of the model: matrices (and the 4-d patch embedding), not the gathered tables. */
static int gemm_weight(const rv_wtensor *t) {
    return t->ndim >= 2 && !strstr(t->name, "embed_tokens") && !strstr(t->name, "position_embedding");
}

/* The eval log-probs of a fresh context (bf16 = its bf16_weights) loaded with masters, each GEMM
 * weight rounded to bf16 first when round_gemm. */
static float *reference_logp(const rv_model_cfg *c, const float *masters, int bf16, int round_gemm,
                             const rv_sample *s, size_t *n) {
    rv_err e;
    rv_kctx *k = cpu(bf16);
    rv_weights w;
    die_on(rv_weights_build(&w, c, k, &e), &e, "reference weights");
    float *h = malloc(rv_weights_max_numel(&w) * sizeof *h);
    for (size_t i = 0; i < w.n; i++) {
        const float *src = masters + w.t[i].offset;
        for (size_t j = 0; j < w.t[i].numel; j++)
            h[j] = round_gemm && gemm_weight(&w.t[i]) ? rv_bf16_to_f32(rv_f32_to_bf16(src[j])) : src[j];
        die_on(rv_weights_upload_tensor(&w, i, h, &e), &e, "reference upload");
    }
    free(h);
    rv_vlm m;
    die_on(rv_vlm_init(&m, k, c, &w, false, &e), &e, "reference model");
    float *lp = eval_logp(&m, s, n);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    return lp;
}

static float *masters_of(const rv_weights *w) {
    float *h = malloc(w->total * sizeof *h);
    rvk_download(w->k, h, w->params, w->total);
    return h;
}

/* Builds, inits and trains the tiny model on a context with bf16_weights = bf16; with check, the
 * forward after the init and after each step is compared with (a)-(c). Returns the final masters. */
static float *train(const rv_model_cfg *c, const rv_comm *dp, int zero, int bf16, int check) {
    rv_err e = {{0}};
    rv_kctx *k = cpu(bf16);
    rv_weights w;
    die_on(rv_weights_build(&w, c, k, &e), &e, "weights");
    die_on(rv_weights_init_random(&w, 5, 0.02f, &e), &e, "init");
    rv_vlm m;
    die_on(rv_vlm_init(&m, k, c, &w, true, &e), &e, "model");
    rv_pg_config pgc = {.lr = {1e-2, 1e-2, 1e-2}, .weight_decay = 0.1};
    die_on(rv_tunable_parts_parse("mm_mlp_adapter,mm_language_model", pgc.trainable, &e), &e, "parts");
    rv_param_groups pg;
    die_on(rv_param_groups_build(&pg, &w, &pgc, &e), &e, "groups");
    rv_optim_cfg oc = rv_optim_cfg_upstream();
    oc.weight_decay = 0.1;
    oc.zero = zero;
    oc.bucket_elems = 100003; /* odd buckets: they straddle tensors and the shard boundary */
    rv_optim *o = NULL;
    die_on(rv_optim_create(&o, &w, &pg, dp, &oc, &e), &e, "optimizer");

    int32_t eids[NEVAL * MAXLEN], tids[NTRAIN * MAXLEN];
    rv_sample es[NEVAL], ts[NTRAIN];
    samples(es, eids, NEVAL, 17, 99);
    for (int step = 0; step <= STEPS; step++) {
        if (step > 0) { /* every rank its own samples */
            samples(ts, tids, NTRAIN, 12 + step, 1000u + 10u * (uint64_t)step + (uint64_t)dp->rank);
            double loss = 0;
            die_on(rv_vlm_sft_step(&m, ts, NTRAIN, &loss, &e), &e, "sft step");
            rv_optim_stats st;
            die_on(rv_optim_step(o, 1.0, &st, &e), &e, "optimizer step");
            CHECK(!st.skipped);
        }
        if (!check) continue;
        size_t n, na, nb, nc;
        float *lp = eval_logp(&m, es, &n);
        float *ms = masters_of(&w);
        float *la = reference_logp(c, ms, 0, 1, es, &na), *lb = reference_logp(c, ms, 1, 0, es, &nb);
        float *lc = reference_logp(c, ms, 0, 0, es, &nc);
        CHECK(n == na && n == nb && n == nc);
        int a = memcmp(lp, la, n * sizeof *lp) == 0, b = memcmp(lp, lb, n * sizeof *lp) == 0;
        int cc = memcmp(lp, lc, n * sizeof *lp) != 0;
        CHECK(a);
        CHECK(b);
        CHECK(cc);
        double dmax = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)lp[i] - la[i];
            dmax = d > dmax ? d : -d > dmax ? -d : dmax;
        }
        if (dp->rank == 0)
            printf("step %d (zero %d, %d rank(s)): (a) rounded-fp32 reference %s (max |dlogp| %.3g), (b) fresh "
                   "shadow %s, (c) unrounded reference %s\n", step, zero, dp->size, a ? "bitwise equal" : "DIFFERS",
                   dmax, b ? "bitwise equal" : "DIFFERS", cc ? "differs" : "EQUAL");
        free(lp), free(la), free(lb), free(lc), free(ms);
    }
    float *final = masters_of(&w);
    rv_optim_free(o);
    rv_param_groups_free(&pg);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    return final;
}

static int run(const rv_comm *dp, const char *name) {
    rv_err e;
    rv_model_cfg c;
    die_on(rv_model_cfg_preset("tiny", &c, &e), &e, "preset");
    c.text.tie_embeddings = false; /* see (a) above */
    for (int zero = 0; zero <= (dp->size > 1 ? 1 : 0); zero++) {
        float *with = train(&c, dp, zero, 1, 1);
        float *without = train(&c, dp, zero, 0, 0);
        rv_weights lay;
        die_on(rv_weights_layout(&lay, &c, &e), &e, "layout");
        CHECK(memcmp(with, without, lay.total * sizeof *with) != 0);
        rv_weights_free(&lay);
        free(with), free(without);
    }
    char title[96];
    snprintf(title, sizeof title, "%s [rank %d of %d]", name, dp->rank, dp->size);
    return check_summary(title);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--mpi") == 0) {
        if (rv_world_init(NULL, NULL) != 0) {
            fprintf(stderr, "MPI did not start\n");
            return 1;
        }
        int rc = run(rv_comm_world(), "test_shadow_wiring --mpi");
        rc = rv_comm_all_ok(rv_comm_world(), rc == 0) ? 0 : 1;
        rv_world_finalize();
        return rc;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_shadow_wiring [--mpi]\n");
        return 2;
    }
    return run(rv_comm_world(), "test_shadow_wiring");
}
