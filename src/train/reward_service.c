#include "train/reward_service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/die.h"
#include "core/strbuf.h"

enum { MSG_PAIRS = 0, MSG_STOP = 1, MSG_SCORES = 2 };
enum { HEADER = 20 }; /* bytes: type, kind, reasoning, pad, seq, n, pair deadline */

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

static void put_f64(rv_sb *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u32(b, (uint32_t)u);
    put_u32(b, (uint32_t)(u >> 32));
}

static double get_f64(const unsigned char *p) {
    uint64_t u = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static void put_header(rv_sb *b, int type, int kind, int reasoning, uint32_t seq, uint32_t n, double deadline_s) {
    char h[4] = {(char)type, (char)kind, (char)reasoning, 0};
    rv_sb_append(b, h, 4);
    put_u32(b, seq);
    put_u32(b, n);
    put_f64(b, deadline_s);
}

/* ---- policy side ---- */

void rv_reward_client_init(rv_reward_client *cl, const rv_comm *world, const rv_reward_roles *roles,
                           rv_grpo_reward_kind kind, bool reasoning, double timeout_s, double pair_deadline_s) {
    memset(cl, 0, sizeof *cl);
    cl->world = world;
    cl->server = roles->server;
    cl->kind = kind;
    cl->reasoning = reasoning;
    cl->timeout_s = timeout_s;
    cl->pair_deadline_s = isfinite(pair_deadline_s) && pair_deadline_s > 0 ? pair_deadline_s : 0; /* else: none */
    rv_reward_scorer_init(&cl->scorer, NULL);
}

int rv_reward_submit(rv_reward_client *cl, const rv_reward_pair *pairs, size_t n, rv_reward_ticket *t, rv_err *err) {
    memset(t, 0, sizeof *t);
    t->seq = cl->seq++;
    t->n = n;
    if (cl->server < 0) {
        t->local_scores = rv_xmalloc((n ? n : 1) * sizeof *t->local_scores);
        t->local_flags = rv_xmalloc(n ? n : 1);
        char label[64];
        snprintf(label, sizeof label, "rank %d's batch %u (scored locally)", cl->world->rank, t->seq);
        if (rv_reward_score(&cl->scorer, cl->kind, cl->reasoning, cl->pair_deadline_s, pairs, n, t->local_scores,
                            t->local_flags, label, err)) {
            free(t->local_scores);
            free(t->local_flags);
            memset(t, 0, sizeof *t);
            return -1;
        }
        return 0;
    }
    if (n > UINT32_MAX) return rv_fail(err, "grpo: a reward batch of %zu pairs is too large", n);
    rv_sb b;
    rv_sb_init(&b);
    put_header(&b, MSG_PAIRS, (int)cl->kind, cl->reasoning, t->seq, (uint32_t)n, cl->pair_deadline_s);
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

/* Every flag a valid rv_reward_flag. */
static bool flags_valid(const unsigned char *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (f[i] > RV_REWARD_FALLBACK) return false;
    return true;
}

int rv_reward_collect(rv_reward_client *cl, rv_reward_ticket *t, double *scores, uint8_t *flags, rv_err *err) {
    int rc = 0;
    if (cl->server < 0) {
        memcpy(scores, t->local_scores, t->n * sizeof *scores);
        memcpy(flags, t->local_flags, t->n);
    } else {
        char *buf = NULL;
        size_t len = 0;
        rc = rv_p2p_wait(cl->world, &t->send, cl->timeout_s, err);
        if (!rc) rc = rv_p2p_recv(cl->world, cl->server, RV_REWARD_TAG, cl->timeout_s, "rewards", &buf, &len, NULL, err);
        if (!rc) {
            const unsigned char *p = (const unsigned char *)buf;
            if (len < HEADER || p[0] != MSG_SCORES || get_u32(p + 4) != t->seq || get_u32(p + 8) != t->n ||
                len != HEADER + t->n * 9 || !flags_valid(p + HEADER + 8 * t->n, t->n))
                rc = rv_fail(err, "grpo: reward rank %d answered batch %u with a malformed reply (%zu bytes; internal "
                                  "error)", cl->server, t->seq, len);
            else
                for (size_t i = 0; i < t->n; i++) {
                    scores[i] = get_f64(p + HEADER + 8 * i);
                    flags[i] = p[HEADER + 8 * t->n + i];
                }
        }
        free(buf);
        if (rc) rv_fail_wrap(err, "grpo: reward rank %d (grpo.reward_timeout_s = %.0f)", cl->server, cl->timeout_s);
    }
    free(t->msg);
    free(t->local_scores);
    free(t->local_flags);
    memset(t, 0, sizeof *t);
    return rc;
}

int rv_reward_client_finish(rv_reward_client *cl, rv_err *err) {
    int rc = 0;
    if (cl->server >= 0) {
        rv_sb b;
        rv_sb_init(&b);
        put_header(&b, MSG_STOP, 0, 0, cl->seq, 0, 0);
        rv_p2p_send s;
        rc = rv_p2p_isend(cl->world, cl->server, RV_REWARD_TAG, b.s, b.len, &s, err);
        if (!rc) rc = rv_p2p_wait(cl->world, &s, cl->timeout_s, err);
        rv_sb_free(&b);
    }
    rv_reward_scorer_free(&cl->scorer);
    return rc;
}

/* ---- reward side ---- */

/* Reads a request's pairs into pairs[n] (pointing into p). -1: malformed. */
static int parse_pairs(const unsigned char *p, size_t len, uint32_t n, rv_reward_pair *pairs) {
    size_t at = HEADER;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *f[2];
        uint32_t l[2];
        for (int k = 0; k < 2; k++) {
            if (at + 4 > len) return -1;
            l[k] = get_u32(p + at);
            at += 4;
            if (l[k] > len - at) return -1;
            f[k] = p + at;
            at += l[k];
        }
        pairs[i] = (rv_reward_pair){(const char *)f[0], l[0], (const char *)f[1], l[1]};
    }
    return at == len ? 0 : -1;
}

/* Scores one request from rank `from` into a reply. Returns -1 with err set: a malformed request
 * (internal error) or a scorer failure. */
static int score_request(const rv_comm *world, int from, const unsigned char *p, size_t len, rv_reward_scorer *sc,
                         rv_sb *reply, rv_err *err) {
    int kind = p[1];
    bool reasoning = p[2] != 0;
    uint32_t seq = get_u32(p + 4), n = get_u32(p + 8);
    double deadline_s = get_f64(p + 12);
    /* each pair takes at least 8 bytes: a larger n is malformed (and must not size an allocation) */
    if (kind > RV_GRPO_REWARD_LAST || isnan(deadline_s) || n > (len - HEADER) / 8)
        return rv_fail(err, "grpo: reward rank %d got a malformed request from rank %d (internal error)", world->rank,
                       from);
    rv_reward_pair *pairs = rv_xmalloc((n ? n : 1) * sizeof *pairs);
    double *scores = rv_xmalloc((n ? n : 1) * sizeof *scores);
    uint8_t *flags = rv_xmalloc(n ? n : 1);
    int rc = 0;
    if (parse_pairs(p, len, n, pairs)) {
        rc = rv_fail(err, "grpo: reward rank %d got a malformed request from rank %d (internal error)", world->rank,
                     from);
    } else {
        char label[80];
        snprintf(label, sizeof label, "reward rank %d: rank %d's batch %u", world->rank, from, seq);
        rc = rv_reward_score(sc, (rv_grpo_reward_kind)kind, reasoning, deadline_s, pairs, n, scores, flags, label, err);
    }
    if (!rc) {
        put_header(reply, MSG_SCORES, 0, 0, seq, n, 0);
        for (uint32_t i = 0; i < n; i++) put_f64(reply, scores[i]);
        rv_sb_append(reply, (const char *)flags, n);
    }
    free(pairs);
    free(scores);
    free(flags);
    return rc;
}

/* A reply on its way (the policy rank takes it when it collects: a large reply waits for that). */
typedef struct pending {
    rv_p2p_send send;
    char *msg;
} pending;

int rv_reward_serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, uint64_t *pairs,
                    rv_err *err) {
    rv_reward_counts counts;
    int rc = rv_reward_serve_with(world, roles, idle_timeout_s, NULL, &counts, err);
    *pairs = counts.pairs;
    return rc;
}

static int serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, rv_reward_metric_fn metric,
                 rv_neural *nm, rv_reward_counts *counts, rv_err *err);

int rv_reward_serve_with(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s,
                         rv_reward_metric_fn metric, rv_reward_counts *counts, rv_err *err) {
    return serve(world, roles, idle_timeout_s, metric, NULL, counts, err);
}

int rv_reward_serve_models(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, rv_neural *nm,
                           uint64_t *pairs, rv_err *err) {
    rv_reward_counts counts;
    int rc = serve(world, roles, idle_timeout_s, NULL, nm, &counts, err);
    *pairs = counts.pairs;
    return rc;
}

static int serve(const rv_comm *world, const rv_reward_roles *roles, double idle_timeout_s, rv_reward_metric_fn metric,
                 rv_neural *nm, rv_reward_counts *counts, rv_err *err) {
    int me = world->rank - roles->npolicy, clients = 0;
    for (int p = 0; p < roles->npolicy; p++)
        if (p % roles->nreward == me) clients++;
    rv_reward_scorer scorer;
    rv_reward_scorer_init(&scorer, metric);
    scorer.neural = nm;
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
        if (len >= HEADER && p[0] == MSG_STOP) {
            clients--;
        } else if (len >= HEADER && p[0] == MSG_PAIRS) {
            rv_sb reply;
            rv_sb_init(&reply);
            if (score_request(world, from, p, len, &scorer, &reply, err)) {
                rc = -1;
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
    *counts = scorer.counts;
    rv_reward_scorer_free(&scorer);
    return rc;
}

void rv_reward_lost(const rv_err *err) {
    rv_die("%s; ending the job (a reward rank that does not answer cannot be replaced)", err->msg);
}
