/* GRPO reward ranks (train/reward_service.h) and pair deadlines (train/reward_scorer.h).
 * Without arguments (one process): the role split rules, local scoring (R = 0) equal to
 * rv_grpo_reward, and the deadline and fallbacks on local scoring (a slow, a NaN and a -Inf pair,
 * a penalty; the scorer's own copies, the stuck-thread limit). With --mpi R [--silent | --deadline]
 * under mpirun (tests/e2e/test_reward_service.sh): R reward ranks serve the others; every policy
 * rank submits two batches before collecting (the service answers in order), and the scores must
 * equal local scoring of the same pairs, bit for bit (R = 1 with a pair deadline, so the reward
 * rank scores in worker threads; R = 2 without, inline); --silent makes the reward ranks stop
 * answering, and the policy ranks must fail within grpo.reward_timeout_s with a message naming
 * the reward rank; --deadline sends each policy rank's batch with a pair that sleeps 30 s and one
 * that scores NaN to a reward rank whose metric is the test's (below). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "comm/world.h"
#include "core/log.h"
#include "core/progress.h"
#include "train/reward_service.h"

#define NP 7

static bool has(const char *s, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (!memcmp(s + i, word, w)) return true;
    return false;
}

/* The metric the deadline tests inject: rv_grpo_reward, except that a response containing
 * "SLOW<k>" first sleeps k seconds (then scores its text: a worker that read the caller's
 * memory instead of its own copy would show under ASan, the test frees its texts meanwhile),
 * "NAN" scores NaN and "NEGINF" -Inf (the C metrics' "exceptions"). */
static double test_metric(rv_grpo_reward_kind k, bool reasoning, const char *response, size_t len, const char *truth,
                          size_t tlen, rv_eval_scratch *s, bool *penalty) {
    for (size_t i = 0; i + 4 < len; i++)
        if (!memcmp(response + i, "SLOW", 4)) {
            struct timespec ts = {atoi(response + i + 4), 0};
            nanosleep(&ts, NULL);
            break;
        }
    double v = rv_grpo_reward(k, reasoning, response, len, truth, tlen, s, penalty);
    if (has(response, len, "NAN")) return NAN;
    if (has(response, len, "NEGINF")) return -INFINITY;
    return v;
}

/* A reasoning batch: "<think>...</think> report" responses; pair `slow` sleeps `secs`, pair `nan`
 * scores NaN, the last pair has no "</think>" (upstream's penalty, -0.0). */
static void make_reasoning(int rank, int slow, int secs, int nan, char txt[NP][2][128], rv_reward_pair *p) {
    static const char *words[] = {"the heart is enlarged", "no pleural effusion", "the lungs are clear",
                                  "small left effusion", "cardiomegaly is seen", "no pneumothorax"};
    for (int i = 0; i < NP; i++) {
        char mark[16] = "";
        if (i == slow) snprintf(mark, sizeof mark, "SLOW%d ", secs);
        if (i == nan) snprintf(mark, sizeof mark, "NAN ");
        snprintf(txt[i][0], 128, "%s%s%s", i == NP - 1 ? "<think>no end " : "<think>look</think> ", mark,
                 words[(rank + i) % 6]);
        /* the truth repeats the report, so every real score is > 0 (unlike the fallback) */
        snprintf(txt[i][1], 128, "%s and %s", words[(rank + i) % 6], words[(i * 5 + rank) % 6]);
        p[i] = (rv_reward_pair){txt[i][0], strlen(txt[i][0]), txt[i][1], strlen(txt[i][1])};
    }
}

/* Checks a reasoning batch scored with a deadline against rv_grpo_reward pair by pair: the slow
 * and NaN pairs 0 + FALLBACK, the last pair -0.0 + PENALTY, every other pair bitwise equal to
 * the plain metric + OK. */
static void check_reasoning(const rv_reward_pair *p, int slow, int nan, const double *sc, const uint8_t *fl) {
    rv_eval_scratch s = {0};
    for (int i = 0; i < NP; i++) {
        bool pen;
        double want = rv_grpo_reward(RV_GRPO_REWARD_GOOGLE_BLEU, true, p[i].response, p[i].rlen, p[i].truth, p[i].tlen,
                                     &s, &pen);
        if (i == slow || i == nan) {
            CHECK(sc[i] == 0.0 && !signbit(sc[i]) && fl[i] == RV_REWARD_FALLBACK);
        } else if (i == NP - 1) {
            CHECK(pen && sc[i] == 0.0 && signbit(sc[i]) && fl[i] == RV_REWARD_PENALTY);
        } else {
            CHECK(!pen && memcmp(&sc[i], &want, sizeof want) == 0 && fl[i] == RV_REWARD_OK);
            CHECK(want > 0); /* a real score, distinguishable from the fallback */
        }
    }
    rv_eval_scratch_free(&s);
}

/* Waits (at most 20 s) until the scorer's abandoned workers have all returned. */
static int wait_unstuck(const rv_reward_scorer *sc) {
    for (int i = 0; i < 2000 && rv_reward_scorer_stuck(sc) > 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return rv_reward_scorer_stuck(sc);
}

static void deadline_local(void) {
    /* the fallback table: +0 for the three kinds this build scores */
    for (int k = RV_GRPO_REWARD_GOOGLE_BLEU; k <= RV_GRPO_REWARD_LABEL_F1; k++)
        CHECK(rv_grpo_reward_fallback((rv_grpo_reward_kind)k) == 0.0 && !signbit(rv_grpo_reward_fallback((rv_grpo_reward_kind)k)));

    /* R = 0 through the client: deadline 0.5 s, pair 2 sleeps 30 s, pair 4 scores NaN. The
     * batch must come back after the deadline (it waited for pair 2) and long before the 30 s:
     * < 0.5 + 5 s on a loaded machine. */
    rv_comm one = rv_comm_layout(0, 1);
    rv_reward_roles r0;
    rv_err e;
    CHECK(rv_reward_roles_make(&one, 0, &r0, &e) == 0);
    rv_reward_client cl;
    rv_reward_client_init(&cl, &one, &r0, RV_GRPO_REWARD_GOOGLE_BLEU, true, 5, 0.5);
    cl.scorer.metric = test_metric;
    char txt[NP][2][128];
    rv_reward_pair p[NP];
    make_reasoning(0, 2, 30, 4, txt, p);
    rv_reward_ticket t;
    double sc[NP];
    uint8_t fl[NP];
    double t0 = rv_now();
    CHECK(rv_reward_submit(&cl, p, NP, &t, &e) == 0);
    CHECK(rv_reward_collect(&cl, &t, sc, fl, &e) == 0);
    double took = rv_now() - t0;
    printf("local batch with a 30 s pair, deadline 0.5 s: %.3f s\n", took);
    CHECK(took >= 0.5 && took < 0.5 + 5);
    check_reasoning(p, 2, 4, sc, fl);
    CHECK(cl.scorer.counts.pairs == NP && cl.scorer.counts.late == 1 && cl.scorer.counts.nonfinite == 1 &&
          cl.scorer.counts.penalties == 1);
    CHECK(rv_reward_scorer_stuck(&cl.scorer) == 1); /* pair 2's worker still sleeps */
    CHECK(rv_reward_client_finish(&cl, &e) == 0);   /* and outlives the client */

    /* The scorer directly, texts on the heap: the slow pair (2 s, deadline 0.2 s) is still being
     * scored by its abandoned worker after the batch returned and the texts were freed; the
     * worker must read its own copy (ASan) and free it (leak check), and the count of stuck
     * workers must return to 0. Pair 5 scores -Inf. */
    rv_reward_scorer s;
    rv_reward_scorer_init(&s, test_metric);
    make_reasoning(1, 0, 2, 5, txt, p);
    snprintf(txt[5][0], 128, "<think>look</think> NEGINF small left effusion");
    p[5].rlen = strlen(txt[5][0]);
    rv_reward_pair heap[NP];
    for (int i = 0; i < NP; i++) {
        char *a = malloc(p[i].rlen), *b = malloc(p[i].tlen);
        memcpy(a, p[i].response, p[i].rlen);
        memcpy(b, p[i].truth, p[i].tlen);
        heap[i] = (rv_reward_pair){a, p[i].rlen, b, p[i].tlen};
    }
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_GOOGLE_BLEU, true, 0.2, heap, NP, sc, fl, "test", &e) == 0);
    for (int i = 0; i < NP; i++) {
        memset((char *)heap[i].response, 'x', heap[i].rlen);
        free((char *)heap[i].response);
        free((char *)heap[i].truth);
    }
    check_reasoning(p, 0, 5, sc, fl);
    CHECK(s.counts.late == 1 && s.counts.nonfinite == 1 && s.counts.penalties == 1 && s.counts.pairs == NP);
    CHECK(rv_reward_scorer_stuck(&s) == 1);
    CHECK(wait_unstuck(&s) == 0);

    /* Without a slow pair, scoring in a worker (deadline 10 s) and inline (deadline 0) give the
     * same bits; an empty batch is fine. */
    make_reasoning(2, -1, 0, -1, txt, p);
    double a[NP], b[NP];
    uint8_t fa[NP], fb[NP];
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_ROUGE_L, true, 10, p, NP, a, fa, "test", &e) == 0);
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_ROUGE_L, true, 0, p, NP, b, fb, "test", &e) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(fa, fb, sizeof fa) == 0 && fa[0] == RV_REWARD_OK &&
          fa[NP - 1] == RV_REWARD_PENALTY);
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_ROUGE_L, true, 10, p, 0, a, fa, "test", &e) == 0);
    rv_reward_scorer_free(&s);

    /* The stuck-thread limit: with max_stuck 1 the second abandoned worker (pair 2, while pair
     * 0's still sleeps its 2 s) fails the batch with a message saying the metric hangs; the pairs
     * before it are settled (pair 0 fallback, pair 1 scored). Once the workers returned the
     * scorer works again. */
    rv_reward_scorer_init(&s, test_metric);
    s.max_stuck = 1;
    make_reasoning(3, 0, 2, -1, txt, p);
    snprintf(txt[2][0], 128, "<think>look</think> SLOW1 no pneumothorax");
    p[2].rlen = strlen(txt[2][0]);
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_GOOGLE_BLEU, true, 0.2, p, NP, sc, fl, "test", &e) == -1);
    CHECK(strstr(e.msg, "2 reward scoring threads are still running past grpo.reward_pair_deadline_s = 0.2 s") &&
          strstr(e.msg, "pair 2"));
    CHECK(fl[0] == RV_REWARD_FALLBACK && fl[1] == RV_REWARD_OK && fl[2] == RV_REWARD_FALLBACK && sc[1] > 0);
    CHECK(wait_unstuck(&s) == 0);
    make_reasoning(3, -1, 0, -1, txt, p);
    CHECK(rv_reward_score(&s, RV_GRPO_REWARD_GOOGLE_BLEU, true, 5, p, NP, sc, fl, "test", &e) == 0);
    rv_reward_scorer_free(&s);
}

/* Pairs that depend on the rank and batch, so a mixed-up reply would show. */
static void make_pairs(int rank, int batch, char txt[NP][2][96], rv_reward_pair *p) {
    static const char *words[] = {"the heart is enlarged", "no pleural effusion", "the lungs are clear",
                                  "small left effusion", "cardiomegaly is seen", "no pneumothorax"};
    for (int i = 0; i < NP; i++) {
        snprintf(txt[i][0], 96, "%s %s", words[(rank + batch + i) % 6], i % 3 ? "" : "and no edema");
        snprintf(txt[i][1], 96, "%s", words[(i * 5 + batch) % 6]);
        p[i] = (rv_reward_pair){txt[i][0], strlen(txt[i][0]), txt[i][1], strlen(txt[i][1])};
    }
}

/* Local reference: the metric pair by pair; flags from its penalty (these pairs have no fallback). */
static void local(rv_grpo_reward_kind k, const rv_reward_pair *p, double *sc, uint8_t *flag) {
    rv_eval_scratch s = {0};
    for (int i = 0; i < NP; i++) {
        bool pen;
        sc[i] = rv_grpo_reward(k, false, p[i].response, p[i].rlen, p[i].truth, p[i].tlen, &s, &pen);
        flag[i] = pen ? RV_REWARD_PENALTY : RV_REWARD_OK;
    }
    rv_eval_scratch_free(&s);
}

static int single_process(void) {
    rv_comm one = rv_comm_layout(0, 1);
    rv_reward_roles r;
    rv_err e;
    CHECK(rv_reward_roles_make(&one, 0, &r, &e) == 0 && !r.is_reward && r.server == -1 && r.npolicy == 1);
    CHECK(rv_reward_roles_make(&one, 1, &r, &e) == -1 && strstr(e.msg, "grpo.reward_ranks"));
    /* 5 ranks, 2 reward ranks: ranks 3 and 4 serve; policy 0, 2 -> 3; policy 1 -> 4 */
    rv_comm five = rv_comm_layout(1, 5);
    CHECK(rv_reward_roles_make(&five, 2, &r, &e) == 0 && r.npolicy == 3 && r.server == 4 && !r.is_reward);
    five = rv_comm_layout(4, 5);
    CHECK(rv_reward_roles_make(&five, 2, &r, &e) == 0 && r.is_reward && r.server == -1);
    /* R = 0: scored at submit, collected in order */
    rv_reward_roles r0;
    CHECK(rv_reward_roles_make(&one, 0, &r0, &e) == 0);
    rv_reward_client cl;
    rv_reward_client_init(&cl, &one, &r0, RV_GRPO_REWARD_ROUGE_L, false, 5, 0);
    char txt[NP][2][96];
    rv_reward_pair p[NP];
    make_pairs(0, 0, txt, p);
    rv_reward_ticket t;
    double sc[NP], want[NP];
    uint8_t fl[NP], wfl[NP];
    CHECK(rv_reward_submit(&cl, p, NP, &t, &e) == 0);
    CHECK(rv_reward_collect(&cl, &t, sc, fl, &e) == 0);
    local(RV_GRPO_REWARD_ROUGE_L, p, want, wfl);
    CHECK(memcmp(sc, want, sizeof sc) == 0);
    CHECK(memcmp(fl, wfl, sizeof fl) == 0);
    CHECK(rv_reward_client_finish(&cl, &e) == 0);
    deadline_local();
    return check_summary("test_reward_service");
}

/* --deadline: 2 policy ranks + 1 reward rank with the test metric; policy rank r's batch has a
 * 30 s pair at r + 1 and a NaN pair at r + 3, deadline 1 s. The reward rank scores the two
 * batches one after the other, so a policy rank waits for at most both slow pairs' deadlines:
 * the batch must return within npolicy x 1 s + 5 s, not after 30 s. */
static void deadline_mpi(const rv_comm *w, const rv_reward_roles *roles) {
    rv_err e;
    if (roles->is_reward) {
        rv_reward_counts n;
        int rc = rv_reward_serve_with(w, roles, 60, test_metric, &n, &e);
        if (rc) fprintf(stderr, "rank %d: %s\n", w->rank, e.msg);
        CHECK(rc == 0);
        /* per policy rank: NP pairs, one late, one NaN, one penalty */
        uint64_t np = (uint64_t)roles->npolicy;
        CHECK(n.pairs == np * NP && n.late == np && n.nonfinite == np && n.penalties == np);
        return;
    }
    rv_reward_client cl;
    rv_reward_client_init(&cl, w, roles, RV_GRPO_REWARD_GOOGLE_BLEU, true, 60, 1.0);
    char txt[NP][2][128];
    rv_reward_pair p[NP];
    int slow = w->rank + 1, nan = w->rank + 3;
    make_reasoning(w->rank, slow, 30, nan, txt, p);
    rv_reward_ticket t;
    double sc[NP];
    uint8_t fl[NP];
    double t0 = rv_now();
    CHECK(rv_reward_submit(&cl, p, NP, &t, &e) == 0);
    int rc = rv_reward_collect(&cl, &t, sc, fl, &e);
    double took = rv_now() - t0;
    if (rc) fprintf(stderr, "rank %d: %s\n", w->rank, e.msg);
    CHECK(rc == 0);
    printf("rank %d: batch with a 30 s pair at %d, deadline 1 s: %.3f s\n", w->rank, slow, took);
    CHECK(took >= 1.0 && took < roles->npolicy * 1.0 + 5);
    check_reasoning(p, slow, nan, sc, fl);
    CHECK(rv_reward_client_finish(&cl, &e) == 0);
}

static int under_mpi(int nreward, bool silent, bool deadline) {
    if (rv_world_init(NULL, NULL) != 0) return 1;
    const rv_comm *w = rv_comm_world();
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    rv_reward_roles roles;
    rv_err e;
    CHECK(rv_reward_roles_make(w, nreward, &roles, &e) == 0);
    int rc = 0;
    if (deadline) {
        deadline_mpi(w, &roles);
    } else if (roles.is_reward) {
        if (silent) {
            sleep(8); /* alive but not answering */
        } else {
            uint64_t n = 0;
            rc = rv_reward_serve(w, &roles, 30, &n, &e);
            if (rc) fprintf(stderr, "rank %d: %s\n", w->rank, e.msg);
            /* a reward rank with a policy rank to serve scored its 2 batches of NP (idle ones: none) */
            bool serves = w->rank - roles.npolicy < roles.npolicy;
            CHECK(rc == 0 && n == (serves ? (uint64_t)(2 * NP * ((roles.npolicy - 1 - (w->rank - roles.npolicy)) / roles.nreward + 1)) : 0));
        }
    } else {
        rv_reward_client cl;
        /* R = 1: with a pair deadline (the reward rank scores in worker threads); R = 2: inline */
        rv_reward_client_init(&cl, w, &roles, RV_GRPO_REWARD_GOOGLE_BLEU, false, silent ? 2 : 30, nreward == 1 ? 30 : 0);
        char t0[NP][2][96], t1[NP][2][96];
        rv_reward_pair p0[NP], p1[NP];
        make_pairs(w->rank, 0, t0, p0);
        make_pairs(w->rank, 1, t1, p1);
        rv_reward_ticket a, b;
        double s0[NP], s1[NP], w0[NP], w1[NP];
        uint8_t q0[NP], q1[NP], v0[NP], v1[NP];
        CHECK(rv_reward_submit(&cl, p0, NP, &a, &e) == 0);
        CHECK(rv_reward_submit(&cl, p1, NP, &b, &e) == 0);
        rc = rv_reward_collect(&cl, &a, s0, q0, &e);
        if (silent) {
            CHECK(rc == -1);
            fprintf(stderr, "rank %d: %s\n", w->rank, e.msg); /* the script checks the message */
            rv_reward_collect(&cl, &b, s1, q1, &e);
        } else {
            CHECK(rc == 0);
            CHECK(rv_reward_collect(&cl, &b, s1, q1, &e) == 0);
            local(RV_GRPO_REWARD_GOOGLE_BLEU, p0, w0, v0);
            local(RV_GRPO_REWARD_GOOGLE_BLEU, p1, w1, v1);
            CHECK(memcmp(s0, w0, sizeof s0) == 0 && memcmp(s1, w1, sizeof s1) == 0);
            CHECK(memcmp(q0, v0, sizeof q0) == 0 && memcmp(q1, v1, sizeof q1) == 0);
            CHECK(s0[0] != s1[0] || s0[1] != s1[1]); /* the two batches differ */
            CHECK(rv_reward_client_finish(&cl, &e) == 0);
        }
    }
    int status = check_summary("test_reward_service --mpi");
    if (silent) { /* the job ends here: the reward ranks are still asleep */
        fflush(NULL);
        _exit(status);
    }
    rv_world_finalize();
    return status;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--mpi") == 0)
        return under_mpi(atoi(argv[2]), argc >= 4 && !strcmp(argv[3], "--silent"),
                         argc >= 4 && !strcmp(argv[3], "--deadline"));
    return single_process();
}
