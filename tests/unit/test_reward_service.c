/* GRPO reward ranks (train/reward_service.h). Without arguments (one process): the role split
 * rules and local scoring (R = 0) equal rv_grpo_reward. With --mpi R [--silent] under mpirun
 * (tests/e2e/test_reward_service.sh): R reward ranks serve the others; every policy rank submits
 * two batches before collecting (the service answers in order), and the scores must equal local
 * scoring of the same pairs, bit for bit; --silent makes the reward ranks stop answering, and the
 * policy ranks must fail within grpo.reward_timeout_s with a message naming the reward rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "comm/world.h"
#include "core/log.h"
#include "train/reward_service.h"

#define NP 7

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

static void local(rv_grpo_reward_kind k, const rv_reward_pair *p, double *sc, bool *pen) {
    rv_eval_scratch s = {0};
    for (int i = 0; i < NP; i++) sc[i] = rv_grpo_reward(k, false, p[i].response, p[i].rlen, p[i].truth, p[i].tlen, &s, &pen[i]);
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
    rv_reward_client_init(&cl, &one, &r0, RV_GRPO_REWARD_ROUGE_L, false, 5);
    char txt[NP][2][96];
    rv_reward_pair p[NP];
    make_pairs(0, 0, txt, p);
    rv_reward_ticket t;
    double sc[NP], want[NP];
    bool pen[NP], wpen[NP];
    CHECK(rv_reward_submit(&cl, p, NP, &t, &e) == 0);
    CHECK(rv_reward_collect(&cl, &t, sc, pen, &e) == 0);
    local(RV_GRPO_REWARD_ROUGE_L, p, want, wpen);
    CHECK(memcmp(sc, want, sizeof sc) == 0);
    CHECK(rv_reward_client_finish(&cl, &e) == 0);
    return check_summary("test_reward_service");
}

static int under_mpi(int nreward, bool silent) {
    if (rv_world_init(NULL, NULL) != 0) return 1;
    const rv_comm *w = rv_comm_world();
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    rv_reward_roles roles;
    rv_err e;
    CHECK(rv_reward_roles_make(w, nreward, &roles, &e) == 0);
    int rc = 0;
    if (roles.is_reward) {
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
        rv_reward_client_init(&cl, w, &roles, RV_GRPO_REWARD_GOOGLE_BLEU, false, silent ? 2 : 30);
        char t0[NP][2][96], t1[NP][2][96];
        rv_reward_pair p0[NP], p1[NP];
        make_pairs(w->rank, 0, t0, p0);
        make_pairs(w->rank, 1, t1, p1);
        rv_reward_ticket a, b;
        double s0[NP], s1[NP], w0[NP], w1[NP];
        bool q0[NP], q1[NP], v0[NP], v1[NP];
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
    if (argc >= 3 && strcmp(argv[1], "--mpi") == 0) return under_mpi(atoi(argv[2]), argc >= 4 && !strcmp(argv[3], "--silent"));
    return single_process();
}
