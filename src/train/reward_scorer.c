#define _POSIX_C_SOURCE 200809L /* pthread_condattr_setclock, pthread_sigmask, clock_gettime */
#include "train/reward_scorer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "eval/tasks/reasoning.h"

double rv_grpo_reward_fallback(rv_grpo_reward_kind k) {
    /* one entry per kind, in enum order */
    static const double fallback[] = {
        [RV_GRPO_REWARD_GOOGLE_BLEU] = 0.0,
        [RV_GRPO_REWARD_ROUGE_L] = 0.0,
        [RV_GRPO_REWARD_LABEL_F1] = 0.0,
        [RV_GRPO_REWARD_BERTSCORE] = 0.0,
        [RV_GRPO_REWARD_RADGRAPH] = 0.0,
        [RV_GRPO_REWARD_RADCLIQ] = -3.0,
    };
    _Static_assert(sizeof fallback / sizeof *fallback == RV_GRPO_REWARD_LAST + 1, "a fallback per reward kind");
    return (unsigned)k < sizeof fallback / sizeof *fallback ? fallback[k] : 0.0;
}

/* How many abandoned workers still run. Shared by the scorer and each abandoned worker (one
 * reference each); whoever drops the last reference frees it, so a worker that outlives its
 * scorer still has it to update. */
struct rv_reward_stuck {
    atomic_int refs;
    atomic_int running;
};

static void stuck_release(rv_reward_stuck *s) {
    if (atomic_fetch_sub(&s->refs, 1) == 1) free(s);
}

/* ---- one worker: scores its own copy of pairs [0, n) in order ---- */

typedef struct job {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* worker -> caller: every pair scored */
    /* set before the thread starts, read-only afterwards */
    rv_grpo_reward_kind kind;
    bool reasoning;
    rv_reward_metric_fn metric;
    size_t n;
    rv_reward_pair *pairs;       /* [n], pointing into text */
    char *text;                  /* the copied responses and truths */
    /* under mu */
    double *scores;              /* [n] */
    bool *penalty;               /* [n] */
    size_t done;                 /* pairs [0, done) scored */
    struct timespec started;     /* CLOCK_MONOTONIC: when pair `done` started */
    bool abandoned;              /* the caller left: the worker frees the job */
    rv_reward_stuck *stuck;      /* set with abandoned */
} job;

static job *job_new(rv_grpo_reward_kind kind, bool reasoning, rv_reward_metric_fn metric, const rv_reward_pair *pairs,
                    size_t n) {
    job *j = rv_xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->reasoning = reasoning;
    j->metric = metric;
    j->n = n;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += pairs[i].rlen + pairs[i].tlen;
    j->text = rv_xmalloc(bytes ? bytes : 1);
    j->pairs = rv_xmalloc((n ? n : 1) * sizeof *j->pairs);
    j->scores = rv_xmalloc((n ? n : 1) * sizeof *j->scores);
    j->penalty = rv_xmalloc((n ? n : 1) * sizeof *j->penalty);
    char *at = j->text;
    for (size_t i = 0; i < n; i++) {
        memcpy(at, pairs[i].response, pairs[i].rlen);
        j->pairs[i].response = at;
        j->pairs[i].rlen = pairs[i].rlen;
        at += pairs[i].rlen;
        memcpy(at, pairs[i].truth, pairs[i].tlen);
        j->pairs[i].truth = at;
        j->pairs[i].tlen = pairs[i].tlen;
        at += pairs[i].tlen;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines immune to wall-clock steps */
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    return j;
}

static void job_free(job *j) {
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->text);
    free(j->pairs);
    free(j->scores);
    free(j->penalty);
    free(j);
}

static void *work(void *arg) {
    job *j = arg;
    rv_eval_scratch s = {0};
    bool abandoned = false;
    for (size_t i = 0; i < j->n && !abandoned; i++) {
        const rv_reward_pair *p = &j->pairs[i];
        bool pen = false;
        double v = j->metric(j->kind, j->reasoning, p->response, p->rlen, p->truth, p->tlen, &s, &pen);
        pthread_mutex_lock(&j->mu);
        j->scores[i] = v;
        j->penalty[i] = pen;
        j->done = i + 1;
        clock_gettime(CLOCK_MONOTONIC, &j->started);
        abandoned = j->abandoned;
        if (j->done == j->n) pthread_cond_signal(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    rv_eval_scratch_free(&s);
    pthread_mutex_lock(&j->mu);
    abandoned = j->abandoned; /* (the caller may have left after the last pair's unlock) */
    pthread_mutex_unlock(&j->mu);
    if (abandoned) { /* detached: nobody joins or frees this job but us */
        rv_reward_stuck *st = j->stuck;
        job_free(j);
        atomic_fetch_sub(&st->running, 1);
        stuck_release(st);
    }
    return NULL;
}

/* ---- the caller ---- */

void rv_reward_scorer_init(rv_reward_scorer *sc, rv_reward_metric_fn metric) {
    memset(sc, 0, sizeof *sc);
    sc->metric = metric ? metric : rv_grpo_reward;
    sc->max_stuck = RV_REWARD_MAX_STUCK;
    sc->stuck = rv_xmalloc(sizeof *sc->stuck);
    atomic_init(&sc->stuck->refs, 1);
    atomic_init(&sc->stuck->running, 0);
}

void rv_reward_scorer_free(rv_reward_scorer *sc) {
    rv_eval_scratch_free(&sc->scratch);
    if (sc->stuck) stuck_release(sc->stuck);
    sc->stuck = NULL;
}

int rv_reward_scorer_stuck(const rv_reward_scorer *sc) { return atomic_load(&sc->stuck->running); }

/* The flag of a scored value; a non-finite one becomes the fallback. */
static void settle(rv_reward_scorer *sc, rv_grpo_reward_kind kind, size_t i, double v, bool pen, double *score,
                   uint8_t *flag, const char *label) {
    sc->counts.pairs++;
    if (!isfinite(v)) {
        sc->counts.nonfinite++;
        *score = rv_grpo_reward_fallback(kind);
        *flag = RV_REWARD_FALLBACK;
        rv_warn("grpo: %s, pair %zu: %s scored %g (not finite); fallback %g", label, i, rv_grpo_reward_name(kind), v,
                *score);
        return;
    }
    *score = v;
    *flag = pen ? RV_REWARD_PENALTY : RV_REWARD_OK;
    if (pen) sc->counts.penalties++;
}

static struct timespec plus(struct timespec t, double s) {
    if (s > 1e9) s = 1e9; /* ~31 years: no time_t overflow */
    double whole = floor(s);
    t.tv_sec += (time_t)whole;
    t.tv_nsec += (long)((s - whole) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Starts a worker on pairs [0, n) with every signal blocked in it (signals stay the main
 * thread's business: the save-and-exit flag, MPI's progress). */
static int start(job *j, rv_err *err) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    clock_gettime(CLOCK_MONOTONIC, &j->started);
    int rc = pthread_create(&j->thread, NULL, work, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) return rv_fail(err, "grpo: cannot start a reward scoring thread (%s)", strerror(rc));
    return 0;
}

static int score_with_deadline(rv_reward_scorer *sc, rv_grpo_reward_kind kind, bool reasoning, double deadline_s,
                               const rv_reward_pair *pairs, size_t n, double *scores, uint8_t *flags,
                               const char *label, rv_err *err) {
    size_t at = 0; /* pairs [0, at) settled */
    while (at < n) {
        job *j = job_new(kind, reasoning, sc->metric, pairs + at, n - at);
        if (start(j, err)) {
            job_free(j);
            return -1;
        }
        pthread_mutex_lock(&j->mu);
        bool late = false;
        while (j->done < j->n) {
            size_t current = j->done;
            struct timespec until = plus(j->started, deadline_s);
            int rc = pthread_cond_timedwait(&j->cv, &j->mu, &until);
            /* ETIMEDOUT with the same pair still running: that pair is past its deadline;
             * anything else (a pair finished meanwhile, a spurious wake-up): wait again */
            if (rc == ETIMEDOUT && j->done == current) {
                late = true;
                break;
            }
        }
        size_t got = j->done;
        for (size_t i = 0; i < got; i++)
            settle(sc, kind, at + i, j->scores[i], j->penalty[i], &scores[at + i], &flags[at + i], label);
        if (!late) {
            pthread_mutex_unlock(&j->mu);
            pthread_join(j->thread, NULL);
            job_free(j);
            return 0;
        }
        /* abandon the worker on pair at + got: it frees the job when its metric returns */
        atomic_fetch_add(&sc->stuck->refs, 1);
        int running = atomic_fetch_add(&sc->stuck->running, 1) + 1;
        j->stuck = sc->stuck;
        j->abandoned = true;
        pthread_mutex_unlock(&j->mu);
        pthread_detach(j->thread);
        size_t i = at + got;
        sc->counts.pairs++;
        sc->counts.late++;
        scores[i] = rv_grpo_reward_fallback(kind);
        flags[i] = RV_REWARD_FALLBACK;
        rv_warn("grpo: %s, pair %zu: no %s score within grpo.reward_pair_deadline_s = %g s; fallback %g", label, i,
                rv_grpo_reward_name(kind), deadline_s, scores[i]);
        if (running > sc->max_stuck)
            return rv_fail(err, "grpo: %s, pair %zu: %d reward scoring threads are still running past "
                                "grpo.reward_pair_deadline_s = %g s (at most %d): the %s metric hangs rather than being "
                                "slow on a few samples; check those responses or raise the deadline",
                           label, i, running, deadline_s, sc->max_stuck, rv_grpo_reward_name(kind));
        at = i + 1;
    }
    return 0;
}

static rv_neural_metric neural_metric(rv_grpo_reward_kind kind) {
    return kind == RV_GRPO_REWARD_BERTSCORE ? RV_NEURAL_BERTSCORE
           : kind == RV_GRPO_REWARD_RADGRAPH ? RV_NEURAL_RADGRAPH : RV_NEURAL_RADCLIQ;
}

/* A neural reward: the reasoning rule per pair, then one batched model pass over the rest. */
static int score_neural(rv_reward_scorer *sc, rv_grpo_reward_kind kind, bool reasoning, const rv_reward_pair *pairs,
                        size_t n, double *scores, uint8_t *flags, const char *label, rv_err *err) {
    rv_neural_metric m = neural_metric(kind);
    if (!rv_neural_has(sc->neural, m))
        return rv_fail(err, "grpo: %s: the %s reward %s", label, rv_grpo_reward_name(kind), rv_neural_unavailable(sc->neural, m));
    rv_span *a = rv_xmalloc((n ? n : 1) * sizeof *a), *t = rv_xmalloc((n ? n : 1) * sizeof *t);
    size_t *at = rv_xmalloc((n ? n : 1) * sizeof *at), k = 0;
    bool *pen = rv_xcalloc(n ? n : 1, sizeof *pen);
    for (size_t i = 0; i < n; i++) {
        rv_span s = {pairs[i].response, pairs[i].rlen};
        if (reasoning) {
            bool found;
            s = rv_reasoning_after_think(pairs[i].response, pairs[i].rlen, &found);
            if (!found) {
                pen[i] = true;
                scores[i] = kind == RV_GRPO_REWARD_RADCLIQ ? -3.0 : -0.0; /* upstream's penalties */
                continue;
            }
        }
        a[k] = s;
        t[k] = (rv_span){pairs[i].truth, pairs[i].tlen};
        at[k++] = i;
    }
    double *v = rv_xmalloc((k ? k : 1) * sizeof *v);
    /* one pair per model pass, as upstream's workers score one request at a time: a packed
     * batch's last bits depend on its other texts, and a reward must not depend on which pairs
     * share a rank's batch (the rank layout) */
    for (size_t j = 0; j < k; j++) {
        rv_err me;
        if (rv_neural_reward(sc->neural, m, &a[j], &t[j], 1, &v[j], &me)) {
            /* upstream's workers return the fallback when scoring throws; the batch goes on */
            rv_warn("grpo: %s, pair %zu: the %s model failed (%s); fallback %g", label, at[j], rv_grpo_reward_name(kind),
                    me.msg, rv_grpo_reward_fallback(kind));
            v[j] = NAN;
        }
    }
    for (size_t j = 0; j < k; j++) scores[at[j]] = v[j];
    for (size_t i = 0; i < n; i++) settle(sc, kind, i, scores[i], pen[i], &scores[i], &flags[i], label);
    free(a); free(t); free(at); free(pen); free(v);
    return 0;
}

int rv_reward_score(rv_reward_scorer *sc, rv_grpo_reward_kind kind, bool reasoning, double deadline_s,
                    const rv_reward_pair *pairs, size_t n, double *scores, uint8_t *flags, const char *label,
                    rv_err *err) {
    if (!label) label = "a batch";
    if (rv_grpo_reward_is_neural(kind) && sc->metric == rv_grpo_reward)
        return score_neural(sc, kind, reasoning, pairs, n, scores, flags, label, err);
    if (deadline_s > 0) return score_with_deadline(sc, kind, reasoning, deadline_s, pairs, n, scores, flags, label, err);
    for (size_t i = 0; i < n; i++) {
        bool pen = false;
        double v = sc->metric(kind, reasoning, pairs[i].response, pairs[i].rlen, pairs[i].truth, pairs[i].tlen,
                              &sc->scratch, &pen);
        settle(sc, kind, i, v, pen, &scores[i], &flags[i], label);
    }
    return 0;
}
