/* GRPO's reward ranks (issue H §2): the last R ranks of the job score (response, truth) pairs for
 * the policy ranks over MPI messages, in-process — upstream's 32 HTTP reward servers, retries and
 * 512-thread client pool become one message each way per batch. Policy rank p is served by
 * reward rank P + (p mod R) (P policy ranks), so each policy rank's requests are answered in the
 * order sent. A policy rank submits a batch and goes on working (old / reference log-probs), then
 * collects the scores; every wait has a deadline, so a reward rank that died or stops answering
 * ends the job with a message naming it. With R = 0 the policy rank scores its own batch.
 * A pair that throws or runs past grpo.reward_pair_deadline_s gets the reward's fallback and the
 * flag RV_REWARD_FALLBACK (reward_scorer.h); the deadline travels in each request, so reward ranks
 * need no configuration.
 * Message (tag RV_REWARD_TAG, little-endian, one 20-byte header both ways):
 *   header:  u8 type (0 = pairs, 1 = stop, 2 = scores), u8 kind, u8 reasoning, u8 pad, u32 seq,
 *            u32 n, f64 pair deadline in seconds (<= 0: none; 0 in stops and replies);
 *   request: header, then n x (u32 response bytes, bytes, u32 truth bytes, bytes);
 *   reply:   header (kind, reasoning 0), then n x f64 score, n x u8 flag (rv_reward_flag). */
#ifndef RADVLM_TRAIN_REWARD_SERVICE_H
#define RADVLM_TRAIN_REWARD_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "comm/comm.h"
#include "comm/p2p.h"
#include "core/error.h"
#include "eval/tasks/task.h"
#include "train/grpo_reward.h"
#include "train/reward_scorer.h"

#define RV_REWARD_TAG (RV_P2P_TAG_BASE + 1)

/* rv_reward_pair, rv_reward_flag: reward_scorer.h */

/* Who does what: the world split into P policy ranks (first) and R reward ranks (last). */
typedef struct rv_reward_roles {
    int npolicy, nreward;
    bool is_reward;
    int server;           /* policy rank: the world rank serving it, -1 when R = 0 */
} rv_reward_roles;

/* R in [0, world size - 1]; fails (naming grpo.reward_ranks) otherwise. */
int rv_reward_roles_make(const rv_comm *world, int nreward, rv_reward_roles *out, rv_err *err);

typedef struct rv_reward_client {
    const rv_comm *world;
    int server;               /* -1: score locally */
    rv_grpo_reward_kind kind;
    bool reasoning;
    double timeout_s;         /* grpo.reward_timeout_s */
    double pair_deadline_s;   /* grpo.reward_pair_deadline_s (<= 0: none) */
    uint32_t seq;
    rv_reward_scorer scorer;  /* local scoring (R = 0); tests may set scorer.metric after init */
} rv_reward_client;

/* One submitted batch. */
typedef struct rv_reward_ticket {
    uint32_t seq;
    size_t n;
    char *msg;                /* the request, kept until its send completed */
    rv_p2p_send send;
    double *local_scores;     /* R = 0: computed at submit */
    uint8_t *local_flags;
} rv_reward_ticket;

/* pair_deadline_s: grpo.reward_pair_deadline_s, per pair (<= 0 or not finite: none). */
void rv_reward_client_init(rv_reward_client *cl, const rv_comm *world, const rv_reward_roles *roles,
                           rv_grpo_reward_kind kind, bool reasoning, double timeout_s, double pair_deadline_s);
int rv_reward_submit(rv_reward_client *cl, const rv_reward_pair *pairs, size_t n, rv_reward_ticket *t, rv_err *err);
/* scores[n], flags[n] (rv_reward_flag) of the ticket's batch, in submission order: a pair flagged
 * RV_REWARD_FALLBACK has rv_grpo_reward_fallback(kind) as its score. Tickets are collected in the
 * order submitted. */
int rv_reward_collect(rv_reward_client *cl, rv_reward_ticket *t, double *scores, uint8_t *flags, rv_err *err);
/* Tells the server this policy rank is done (no-op when scoring locally), frees the client. */
int rv_reward_client_finish(rv_reward_client *cl, rv_err *err);

/* A reward rank did not answer (err from submit, collect or finish says which): logs it and aborts
 * the whole job — the rank may be stopped, not dead, and a collective with it would hang. */
_Noreturn void rv_reward_lost(const rv_err *err);

/* Reward rank: serves its policy ranks until each sent its stop; idle_timeout_s bounds the wait
 * for the next request (the policy ranks generate between requests). *pairs counts what it scored. */
int rv_reward_serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, uint64_t *pairs,
                    rv_err *err);
/* rv_reward_serve with the models of the neural rewards (bertscore, radgraph, radcliq; borrowed). */
int rv_reward_serve_models(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, rv_neural *nm,
                           uint64_t *pairs, rv_err *err);
/* rv_reward_serve with the metric to score with (NULL: rv_grpo_reward; tests inject a slow or
 * non-finite one) and the counts of what it scored (pairs, penalties, late, non-finite). */
int rv_reward_serve_with(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s,
                         rv_reward_metric_fn metric, rv_reward_counts *counts, rv_err *err);

#endif
