/* GRPO's reward ranks (issue H §2): the last R ranks of the job score (response, truth) pairs for
 * the policy ranks over MPI messages, in-process — upstream's 32 HTTP reward servers, retries and
 * 512-thread client pool become one message each way per batch. Policy rank p is served by
 * reward rank P + (p mod R) (P policy ranks), so each policy rank's requests are answered in the
 * order sent. A policy rank submits a batch and goes on working (old / reference log-probs), then
 * collects the scores; every wait has a deadline, so a reward rank that died or stops answering
 * ends the job with a message naming it. With R = 0 the policy rank scores its own batch.
 * Message (tag RV_REWARD_TAG, little-endian, one layout both ways):
 *   request: u8 type (0 = pairs, 1 = stop), u8 kind, u8 reasoning, u8 pad, u32 seq, u32 n,
 *            then n x (u32 response bytes, bytes, u32 truth bytes, bytes);
 *   reply:   u8 type 2, 3 x u8 pad, u32 seq, u32 n, then n x f64 score, n x u8 penalty. */
#ifndef RADVLM_TRAIN_REWARD_SERVICE_H
#define RADVLM_TRAIN_REWARD_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "comm/comm.h"
#include "comm/p2p.h"
#include "core/error.h"
#include "eval/tasks/task.h"
#include "train/grpo_reward.h"

#define RV_REWARD_TAG (RV_P2P_TAG_BASE + 1)

typedef struct rv_reward_pair {
    const char *response; /* decoded rollout */
    size_t rlen;
    const char *truth;    /* reference report */
    size_t tlen;
} rv_reward_pair;

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
    uint32_t seq;
    rv_eval_scratch scratch;  /* local scoring */
} rv_reward_client;

/* One submitted batch. */
typedef struct rv_reward_ticket {
    uint32_t seq;
    size_t n;
    char *msg;                /* the request, kept until its send completed */
    rv_p2p_send send;
    double *local_scores;     /* R = 0: computed at submit */
    bool *local_penalty;
} rv_reward_ticket;

void rv_reward_client_init(rv_reward_client *cl, const rv_comm *world, const rv_reward_roles *roles,
                           rv_grpo_reward_kind kind, bool reasoning, double timeout_s);
int rv_reward_submit(rv_reward_client *cl, const rv_reward_pair *pairs, size_t n, rv_reward_ticket *t, rv_err *err);
/* scores[n], penalty[n] of the ticket's batch, in submission order. Tickets are collected in the
 * order submitted. */
int rv_reward_collect(rv_reward_client *cl, rv_reward_ticket *t, double *scores, bool *penalty, rv_err *err);
/* Tells the server this policy rank is done (no-op when scoring locally), frees the client. */
int rv_reward_client_finish(rv_reward_client *cl, rv_err *err);

/* Reward rank: serves its policy ranks until each sent its stop; idle_timeout_s bounds the wait
 * for the next request (the policy ranks generate between requests). *pairs counts what it scored. */
int rv_reward_serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, uint64_t *pairs,
                    rv_err *err);

#endif
