#include "train/reward_service.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

enum { MSG_PAIRS = 0, MSG_STOP = 1, MSG_SCORES = 2 };

int rv_reward_roles_make(const rv_comm *world, int nreward, rv_reward_roles *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    if (nreward < 0 || nreward >= world->size)
        return rv_fail(err, "grpo.reward_ranks = %d: use 0 (policy ranks score their own rollouts) to %d (one policy "
                            "rank must remain of the %d ranks)", nreward, world->size - 1, world->size);
    out->nreward = nreward;
    out->npolicy = world->size - nreward;
    out->is_reward = world->rank >= out->npolicy;
    out->server = !out->is_reward && nreward > 0 ? out->npolicy + world->rank % nreward : -1;
    return 0;
}

/* ---- little-endian fields ---- */

static void put_u32(rv_sb *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    rv_sb_append(b, (const char *)x, 4);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_header(rv_sb *b, int type, int kind, int reasoning, uint32_t seq, uint32_t n) {
    char h[4] = {(char)type, (char)kind, (char)reasoning, 0};
    rv_sb_append(b, h, 4);
    put_u32(b, seq);
    put_u32(b, n);
}

/* ---- policy side ---- */

void rv_reward_client_init(rv_reward_client *cl, const rv_comm *world, const rv_reward_roles *roles,
                           rv_grpo_reward_kind kind, bool reasoning, double timeout_s) {
    memset(cl, 0, sizeof *cl);
    cl->world = world;
    cl->server = roles->server;
    cl->kind = kind;
    cl->reasoning = reasoning;
    cl->timeout_s = timeout_s;
}

int rv_reward_submit(rv_reward_client *cl, const rv_reward_pair *pairs, size_t n, rv_reward_ticket *t, rv_err *err) {
    memset(t, 0, sizeof *t);
    t->seq = cl->seq++;
    t->n = n;
    if (cl->server < 0) {
        t->local_scores = rv_xmalloc((n ? n : 1) * sizeof *t->local_scores);
        t->local_penalty = rv_xmalloc((n ? n : 1) * sizeof *t->local_penalty);
        for (size_t i = 0; i < n; i++)
            t->local_scores[i] = rv_grpo_reward(cl->kind, cl->reasoning, pairs[i].response, pairs[i].rlen, pairs[i].truth,
                                                pairs[i].tlen, &cl->scratch, &t->local_penalty[i]);
        return 0;
    }
    if (n > UINT32_MAX) return rv_fail(err, "grpo: a reward batch of %zu pairs is too large", n);
    rv_sb b;
    rv_sb_init(&b);
    put_header(&b, MSG_PAIRS, (int)cl->kind, cl->reasoning, t->seq, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].rlen > UINT32_MAX || pairs[i].tlen > UINT32_MAX) {
            rv_sb_free(&b);
            return rv_fail(err, "grpo: a reward text of over 4 GiB (pair %zu)", i);
        }
        put_u32(&b, (uint32_t)pairs[i].rlen);
        rv_sb_append(&b, pairs[i].response, pairs[i].rlen);
        put_u32(&b, (uint32_t)pairs[i].tlen);
        rv_sb_append(&b, pairs[i].truth, pairs[i].tlen);
    }
    t->msg = b.s;
    if (rv_p2p_isend(cl->world, cl->server, RV_REWARD_TAG, b.s, b.len, &t->send, err)) {
        free(t->msg);
        t->msg = NULL;
        return -1;
    }
    return 0;
}

int rv_reward_collect(rv_reward_client *cl, rv_reward_ticket *t, double *scores, bool *penalty, rv_err *err) {
    int rc = 0;
    if (cl->server < 0) {
        memcpy(scores, t->local_scores, t->n * sizeof *scores);
        memcpy(penalty, t->local_penalty, t->n * sizeof *penalty);
    } else {
        char *buf = NULL;
        size_t len = 0;
        rc = rv_p2p_wait(cl->world, &t->send, cl->timeout_s, err);
        if (!rc) rc = rv_p2p_recv(cl->world, cl->server, RV_REWARD_TAG, cl->timeout_s, "rewards", &buf, &len, NULL, err);
        if (!rc) {
            const unsigned char *p = (const unsigned char *)buf;
            if (len < 12 || p[0] != MSG_SCORES || get_u32(p + 4) != t->seq || get_u32(p + 8) != t->n ||
                len != 12 + t->n * 9)
                rc = rv_fail(err, "grpo: reward rank %d answered batch %u with a malformed reply (%zu bytes; internal "
                                  "error)", cl->server, t->seq, len);
            else
                for (size_t i = 0; i < t->n; i++) {
                    memcpy(&scores[i], p + 12 + 8 * i, 8);
                    penalty[i] = p[12 + 8 * t->n + i] != 0;
                }
        }
        free(buf);
        if (rc) rv_fail_wrap(err, "grpo: reward rank %d (grpo.reward_timeout_s = %.0f)", cl->server, cl->timeout_s);
    }
    free(t->msg);
    free(t->local_scores);
    free(t->local_penalty);
    memset(t, 0, sizeof *t);
    return rc;
}

int rv_reward_client_finish(rv_reward_client *cl, rv_err *err) {
    int rc = 0;
    if (cl->server >= 0) {
        rv_sb b;
        rv_sb_init(&b);
        put_header(&b, MSG_STOP, 0, 0, cl->seq, 0);
        rv_p2p_send s;
        rc = rv_p2p_isend(cl->world, cl->server, RV_REWARD_TAG, b.s, b.len, &s, err);
        if (!rc) rc = rv_p2p_wait(cl->world, &s, cl->timeout_s, err);
        rv_sb_free(&b);
    }
    rv_eval_scratch_free(&cl->scratch);
    return rc;
}

/* ---- reward side ---- */

/* Scores one request into a reply. Returns -1 on a malformed request. */
static int score_request(const unsigned char *p, size_t len, rv_eval_scratch *s, rv_sb *reply, uint64_t *pairs) {
    int kind = p[1];
    bool reasoning = p[2] != 0;
    uint32_t seq = get_u32(p + 4), n = get_u32(p + 8);
    if (kind > RV_GRPO_REWARD_LABEL_F1) return -1;
    double *sc = rv_xmalloc((n ? n : 1) * sizeof *sc);
    unsigned char *pen = rv_xmalloc(n ? n : 1);
    size_t at = 12;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const unsigned char *f[2];
        uint32_t l[2];
        for (int k = 0; k < 2 && !rc; k++) {
            if (at + 4 > len) { rc = -1; break; }
            l[k] = get_u32(p + at);
            at += 4;
            if (l[k] > len - at) { rc = -1; break; }
            f[k] = p + at;
            at += l[k];
        }
        if (rc) break;
        bool pe;
        sc[i] = rv_grpo_reward((rv_grpo_reward_kind)kind, reasoning, (const char *)f[0], l[0], (const char *)f[1], l[1],
                               s, &pe);
        pen[i] = pe;
    }
    if (!rc && at != len) rc = -1;
    if (!rc) {
        put_header(reply, MSG_SCORES, 0, 0, seq, n);
        rv_sb_append(reply, (const char *)sc, (size_t)n * 8);
        rv_sb_append(reply, (const char *)pen, n);
        *pairs += n;
    }
    free(sc);
    free(pen);
    return rc;
}

/* A reply on its way (the policy rank takes it when it collects: a large reply waits for that). */
typedef struct pending {
    rv_p2p_send send;
    char *msg;
} pending;

int rv_reward_serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, uint64_t *pairs,
                    rv_err *err) {
    *pairs = 0;
    int me = world->rank - roles->npolicy, clients = 0;
    for (int p = 0; p < roles->npolicy; p++)
        if (p % roles->nreward == me) clients++;
    rv_eval_scratch scratch = {0};
    pending *pend = NULL;
    size_t npend = 0;
    int rc = 0;
    while (clients > 0 && !rc) {
        char *buf = NULL;
        size_t len = 0;
        int from = -1;
        rc = rv_p2p_recv(world, RV_P2P_ANY, RV_REWARD_TAG, idle_timeout_s, "a reward request", &buf, &len, &from, err);
        if (rc) {
            rv_fail_wrap(err, "grpo: reward rank %d waiting for its policy ranks", world->rank);
            break;
        }
        const unsigned char *p = (const unsigned char *)buf;
        if (len >= 12 && p[0] == MSG_STOP) {
            clients--;
        } else if (len >= 12 && p[0] == MSG_PAIRS) {
            rv_sb reply;
            rv_sb_init(&reply);
            if (score_request(p, len, &scratch, &reply, pairs)) {
                rc = rv_fail(err, "grpo: reward rank %d got a malformed request from rank %d (internal error)",
                             world->rank, from);
                rv_sb_free(&reply);
            } else {
                pend = rv_xrealloc(pend, (npend + 1) * sizeof *pend);
                pend[npend].msg = reply.s;
                rc = rv_p2p_isend(world, from, RV_REWARD_TAG, reply.s, reply.len, &pend[npend].send, err);
                npend++;
            }
        } else {
            rc = rv_fail(err, "grpo: reward rank %d got an unknown message from rank %d (internal error)", world->rank, from);
        }
        free(buf);
        /* replies the policy ranks have taken: free them */
        size_t keep = 0;
        for (size_t i = 0; i < npend; i++) {
            bool done = false;
            if (!rc) rc = rv_p2p_test(&pend[i].send, &done, err);
            if (done) free(pend[i].msg);
            else pend[keep++] = pend[i];
        }
        npend = keep;
    }
    /* every reply delivered before the rank leaves */
    for (size_t i = 0; i < npend; i++) {
        rv_err e2;
        if (rv_p2p_wait(world, &pend[i].send, idle_timeout_s, &e2) && !rc) {
            *err = e2;
            rc = -1;
        }
        free(pend[i].msg);
    }
    free(pend);
    rv_eval_scratch_free(&scratch);
    return rc;
}
