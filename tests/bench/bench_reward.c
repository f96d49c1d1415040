/* Reward throughput of GRPO's MPI reward ranks (train/reward_service.h): policy ranks send batches
 * of GoogleBLEU pairs to one reward rank (the last rank) and collect the scores; the C side of
 * tests/bench/bench_reward.sh, which measures upstream's HTTP path (FastAPI/uvicorn server, a
 * 512-thread client; bench_reward_http.py) on the same pairs. Not a test: it prints numbers and
 * never fails on them (it fails only when the scores that came back differ from local scoring).
 *
 * Pairs (response, reference): K references, each the findings and impression texts of M phantom
 * studies (data/synth, the demo data's case model, seed 42, MIMIC stream) joined: one phantom
 * study's text is ~140 characters, a MIMIC findings + impression section several times that, so
 * M = 3 (~420 characters) by default; response = a rollout-like variant of the reference (each
 * sentence kept with probability 0.7, 1 to M sentences of another study added, order shuffled),
 * so scores spread over (0, 1) as a policy's rollouts do. A batch takes consecutive pairs of the
 * fixed set, cyclically.
 *
 *   bench_reward --export FILE [--pairs K] [--studies M]
 *       writes the K pairs as JSON lines {"pred", "true", "gleu"} (gleu = our rv_grpo_reward
 *       google_bleu), for bench_reward_http.py, which checks its own scores against them
 *   mpirun -n P+1 bench_reward [--pairs K] [--studies M] [--batch B] [--seconds S] [--depth D]
 *       ranks 0..P-1 are policy ranks, rank P the reward rank (grpo.reward_ranks = 1). Each
 *       policy rank keeps D batches of B pairs in flight (submit, then collect the oldest) for S
 *       seconds, then drains; prints a RESULT line: pairs/s over the whole job (every policy
 *       rank's pairs over the slowest one's wall time), batch latency (submit to scores
 *       collected) p50 / p99, and the reward rank's mean time per pair (its wall time over
 *       the pairs it scored, idle waits included, so an upper bound). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "comm/comm.h"
#include "comm/world.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/strbuf.h"
#include "data/synth/synth.h"
#include "train/grpo_reward.h"
#include "train/reward_service.h"

static int fail(const char *msg) {
    fprintf(stderr, "bench_reward: %s\n", msg);
    rv_world_finalize();
    return 1;
}

/* ---- the pairs ---- */

typedef struct pair_set {
    char **pred, **truth; /* [K] */
    int k;
} pair_set;

static void pairs_free(pair_set *P) {
    for (int i = 0; i < P->k; i++) {
        free(P->pred[i]);
        free(P->truth[i]);
    }
    free(P->pred);
    free(P->truth);
}

/* Sentences of s (split after ". "), appended to v[*n] (each malloc'd, with its period). */
static void split_sentences(const char *s, char ***v, int *n) {
    while (*s) {
        while (*s == ' ' || *s == '\n') s++;
        if (!*s) break;
        const char *e = strstr(s, ". ");
        size_t len = e ? (size_t)(e - s) + 1 : strlen(s);
        *v = rv_xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
        (*v)[(*n)++] = rv_xstrndup(s, len);
        s += len;
    }
}

static int case_text(int i, rv_sb *out, rv_err *err) {
    rv_rng r;
    rv_rng_init(&r, 42, SYN_S_MIMIC, (uint32_t)i);
    syn_case c;
    if (syn_case_make(&c, &r, 512, 512, SYN_CASE_ANY, false, err)) return -1;
    rv_sb_printf(out, "%s", c.filtered);
    if (c.impression[0]) rv_sb_printf(out, "%s%s", c.filtered[0] ? " " : "", c.impression);
    return 0;
}

static int make_pairs(int k, int studies, pair_set *P, rv_err *err) {
    memset(P, 0, sizeof *P);
    P->pred = rv_xcalloc((size_t)k, sizeof *P->pred);
    P->truth = rv_xcalloc((size_t)k, sizeof *P->truth);
    P->k = k;
    for (int i = 0; i < k; i++) {
        rv_sb t, o;
        rv_sb_init(&t);
        rv_sb_init(&o);
        int rc = 0;
        for (int m = 0; m < studies && !rc; m++) {
            if (m) rv_sb_append(&t, " ", 1);
            rc = case_text(i * studies + m, &t, err);
        }
        if (rc || case_text(k * studies + i, &o, err)) {
            rv_sb_free(&t);
            rv_sb_free(&o);
            pairs_free(P);
            return -1;
        }
        char **sent = NULL, **other = NULL;
        int ns = 0, no = 0;
        split_sentences(t.s, &sent, &ns);
        split_sentences(o.s, &other, &no);
        rv_rng r;
        rv_rng_init(&r, 42, 9001, (uint32_t)i);
        char **keep = rv_xmalloc((size_t)(ns + studies + 1) * sizeof *keep);
        int nk = 0;
        for (int j = 0; j < ns; j++)
            if (rv_rng_uniform(&r) < 0.7) keep[nk++] = sent[j];
        for (int a = 0, add = 1 + (int)rv_rng_below(&r, (uint32_t)studies + 1); a < add && no > 0; a++)
            keep[nk++] = other[rv_rng_below(&r, (uint32_t)no)];
        for (int j = nk - 1; j > 0; j--) { /* Fisher-Yates */
            int x = (int)rv_rng_below(&r, (uint32_t)(j + 1));
            char *tmp = keep[j];
            keep[j] = keep[x];
            keep[x] = tmp;
        }
        rv_sb p;
        rv_sb_init(&p);
        for (int j = 0; j < nk; j++) rv_sb_printf(&p, "%s%s", j ? " " : "", keep[j]);
        P->pred[i] = p.s ? p.s : rv_xstrdup("");
        P->truth[i] = t.s ? t.s : rv_xstrdup("");
        for (int j = 0; j < ns; j++) free(sent[j]);
        for (int j = 0; j < no; j++) free(other[j]);
        free(sent);
        free(other);
        free(keep);
        rv_sb_free(&o);
    }
    return 0;
}

static int export_pairs(const pair_set *P, const char *path, rv_err *err) {
    FILE *f = fopen(path, "w");
    if (!f) return rv_fail(err, "%s: cannot write", path);
    rv_eval_scratch s = {0};
    for (int i = 0; i < P->k; i++) {
        bool pen;
        double g = rv_grpo_reward(RV_GRPO_REWARD_GOOGLE_BLEU, false, P->pred[i], strlen(P->pred[i]), P->truth[i],
                                  strlen(P->truth[i]), &s, &pen);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pred", P->pred[i]);
        cJSON_AddStringToObject(o, "true", P->truth[i]);
        cJSON_AddNumberToObject(o, "gleu", g);
        char *line = cJSON_PrintUnformatted(o);
        fprintf(f, "%s\n", line);
        cJSON_free(line);
        cJSON_Delete(o);
    }
    rv_eval_scratch_free(&s);
    if (ferror(f) | fclose(f)) return rv_fail(err, "%s: cannot write", path);
    return 0;
}

/* ---- the reward service API, in one place ----
 * With the phase's default pair deadline (grpo.reward_pair_deadline_s = 60): the reward rank scores
 * through its worker thread, as in training. */

static void client_open(rv_reward_client *cl, const rv_comm *world, const rv_reward_roles *roles, double timeout_s) {
    rv_reward_client_init(cl, world, roles, RV_GRPO_REWARD_GOOGLE_BLEU, false, timeout_s, 60.0);
}

static int client_collect(rv_reward_client *cl, rv_reward_ticket *t, double *scores, rv_err *err) {
    uint8_t *flags = rv_xmalloc(t->n ? t->n : 1);
    int rc = rv_reward_collect(cl, t, scores, flags, err);
    free(flags);
    return rc;
}

/* ---- the MPI measurement ---- */

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted v[n] (nearest rank). */
static double quantile(const double *v, size_t n, double q) {
    if (n == 0) return NAN;
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

typedef struct inflight {
    rv_reward_ticket t;
    double t0;
    size_t first; /* index of the batch's first pair in the fixed set */
} inflight;

static int policy_loop(const rv_comm *world, const rv_reward_roles *roles, const pair_set *P, const double *ref,
                       int batch, int depth, double seconds, size_t *pairs_done, double *wall, double **lat,
                       size_t *nlat, size_t *mismatch, rv_err *err) {
    rv_reward_client cl;
    client_open(&cl, world, roles, 60.0);
    rv_reward_pair *req = rv_xmalloc((size_t)batch * sizeof *req);
    double *scores = rv_xmalloc((size_t)batch * sizeof *scores);
    inflight *q = rv_xcalloc((size_t)depth, sizeof *q);
    size_t cap = 1024, next = (size_t)world->rank * 977; /* ranks start at different pairs */
    *lat = rv_xmalloc(cap * sizeof **lat);
    *nlat = 0;
    *pairs_done = 0;
    *mismatch = 0;
    int head = 0, live = 0, rc = 0;
    const double t0 = rv_now();
    for (;;) {
        const bool more = rv_now() - t0 < seconds;
        if (more && live < depth) { /* submit */
            inflight *f = &q[(head + live) % depth];
            for (int i = 0; i < batch; i++) {
                size_t j = (next + (size_t)i) % (size_t)P->k;
                req[i] = (rv_reward_pair){P->pred[j], strlen(P->pred[j]), P->truth[j], strlen(P->truth[j])};
            }
            f->first = next;
            f->t0 = rv_now();
            if ((rc = rv_reward_submit(&cl, req, (size_t)batch, &f->t, err))) break;
            next += (size_t)batch;
            live++;
            continue;
        }
        if (live == 0) break;
        inflight *f = &q[head]; /* collect the oldest */
        if ((rc = client_collect(&cl, &f->t, scores, err))) break;
        double dt = rv_now() - f->t0;
        for (int i = 0; i < batch; i++)
            if (scores[i] != ref[(f->first + (size_t)i) % (size_t)P->k]) (*mismatch)++;
        if (*nlat == cap) *lat = rv_xrealloc(*lat, (cap *= 2) * sizeof **lat);
        (*lat)[(*nlat)++] = dt;
        *pairs_done += (size_t)batch;
        head = (head + 1) % depth;
        live--;
    }
    *wall = rv_now() - t0;
    rv_err e2;
    if (rv_reward_client_finish(&cl, rc ? &e2 : err) && !rc) rc = -1;
    free(req);
    free(scores);
    free(q);
    return rc;
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) {
        fprintf(stderr, "bench_reward: MPI did not start\n");
        return 1;
    }
    const rv_comm *world = rv_comm_world();
    const char *exp = NULL;
    int k = 400, studies = 3, batch = 512, depth = 2;
    double seconds = 4.0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fail("every option takes a value");
        if (!strcmp(a, "--export")) exp = v;
        else if (!strcmp(a, "--pairs")) k = atoi(v);
        else if (!strcmp(a, "--studies")) studies = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--depth")) depth = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else {
            fprintf(stderr, "bench_reward: unknown option %s\n", a);
            rv_world_finalize();
            return 2;
        }
    }
    if (k < 1 || studies < 1 || batch < 1 || depth < 1 || !(seconds > 0))
        return fail("--pairs, --studies, --batch, --depth, --seconds must be > 0");
    rv_err e;
    pair_set P;
    if (make_pairs(k, studies, &P, &e)) return fail(e.msg);
    if (exp) {
        if (world->rank == 0 && export_pairs(&P, exp, &e)) return fail(e.msg);
        if (world->rank == 0) printf("exported %d pairs to %s\n", k, exp);
        pairs_free(&P);
        rv_world_finalize();
        return 0;
    }
    if (world->size < 2) return fail("run it under mpirun with at least 2 ranks (policy ranks + 1 reward rank)");

    /* reference scores, computed locally: what every reply must equal */
    double *ref = rv_xmalloc((size_t)k * sizeof *ref);
    rv_eval_scratch s = {0};
    size_t chars = 0;
    const double tl0 = rv_now();
    for (int i = 0; i < k; i++) {
        bool pen;
        ref[i] = rv_grpo_reward(RV_GRPO_REWARD_GOOGLE_BLEU, false, P.pred[i], strlen(P.pred[i]), P.truth[i],
                                strlen(P.truth[i]), &s, &pen);
        chars += strlen(P.pred[i]) + strlen(P.truth[i]);
    }
    const double local_us = (rv_now() - tl0) / k * 1e6;
    rv_eval_scratch_free(&s);

    rv_reward_roles roles;
    if (rv_reward_roles_make(world, 1, &roles, &e)) return fail(e.msg);
    rv_comm_barrier(world);
    int rc;
    size_t done = 0, nlat = 0, mismatch = 0;
    double wall = 0, *lat = NULL, served_wall = 0;
    uint64_t served = 0;
    if (roles.is_reward) {
        const double t0 = rv_now();
        rc = rv_reward_serve(world, &roles, 60.0, &served, &e);
        served_wall = rv_now() - t0;
    } else {
        rc = policy_loop(world, &roles, &P, ref, batch, depth, seconds, &done, &wall, &lat, &nlat, &mismatch, &e);
    }
    if (!rv_comm_all_ok(world, rc == 0)) return fail(rc ? e.msg : "another rank failed");
    /* the job's figures: pairs over the slowest policy rank's wall time; latencies gathered */
    const double total = rv_comm_sum_f64(world, (double)done), wmax = rv_comm_max_f64(world, wall);
    const double bad = rv_comm_sum_f64(world, (double)mismatch);
    const double per_pair_us = rv_comm_max_f64(world, served ? served_wall / (double)served * 1e6 : 0);
    char *all = NULL;
    size_t all_len = 0;
    rv_comm_gather_bytes(world, lat, nlat * sizeof *lat, 0, &all, &all_len);
    if (world->rank == 0) {
        double *L = (double *)all;
        size_t n = all_len / sizeof *L;
        qsort(L, n, sizeof *L, cmp_f64);
        printf("pairs: %d phantom report pairs, %.0f characters per pair on average; local scoring %.2f us/pair\n", k,
               (double)chars / k, local_us);
        printf("%d policy rank(s) -> 1 reward rank, batch %d, %d batch(es) in flight per policy rank, %.1f s\n",
               roles.npolicy, batch, depth, seconds);
        printf("RESULT impl=mpi policy=%d batch=%d depth=%d pairs=%.0f wall_s=%.3f pairs_per_s=%.1f "
               "batch_p50_ms=%.3f batch_p99_ms=%.3f batches=%zu server_us_per_pair=%.2f local_us_per_pair=%.2f "
               "mismatches=%.0f\n",
               roles.npolicy, batch, depth, total, wmax, total / wmax, quantile(L, n, 0.5) * 1e3,
               quantile(L, n, 0.99) * 1e3, n, per_pair_us, local_us, bad);
    }
    free(all);
    free(lat);
    free(ref);
    pairs_free(&P);
    rv_world_finalize();
    return bad > 0 ? 1 : 0;
}
