/* Polling waits with a deadline and the roll call that names a silent rank (comm/wait.h). */
#define _POSIX_C_SOURCE 200809L /* nanosleep, strnlen */
#include "comm/wait.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/die.h"
#include "comm/transport.h"
#include "comm/world.h"
#include "core/log.h"
#include "core/progress.h"

#define HOST_LEN 64 /* host names are cut here: enough to find a node in a message */

/* The watch: the part of the process-wide MPI context the waits need (allowed global state,
 * set by comm/world.c). Kept here, below comm.c and world.c, so that the waits depend on neither. */
static struct {
    MPI_Comm world;          /* the world's duplicate (roll calls travel on it); NULL before start */
    int world_rank, world_size;
    double timeout_s;
    char (*hosts)[HOST_LEN]; /* [world_size] */
} g_watch = {MPI_COMM_NULL, 0, 1, RV_COMM_TIMEOUT_DEFAULT_S, NULL};

void rv_comm_watch_start(MPI_Comm world) {
    g_watch.world = world;
    MPI_Comm_rank(world, &g_watch.world_rank);
    MPI_Comm_size(world, &g_watch.world_size);
    char mine[HOST_LEN] = {0}, name[MPI_MAX_PROCESSOR_NAME + 1] = {0};
    int len = 0;
    if (MPI_Get_processor_name(name, &len) == MPI_SUCCESS) memcpy(mine, name, strnlen(name, HOST_LEN - 1));
    g_watch.hosts = rv_xcalloc((size_t)g_watch.world_size, sizeof *g_watch.hosts);
    MPI_Request r;
    int rc = MPI_Iallgather(mine, HOST_LEN, MPI_CHAR, g_watch.hosts, HOST_LEN, MPI_CHAR, world, &r);
    if (rc == MPI_SUCCESS) rc = MPI_Wait(&r, MPI_STATUS_IGNORE); /* at start-up every rank is there */
    if (rc != MPI_SUCCESS) rv_die("starting MPI: the all-gather of the host names failed (code %d)", rc);
}

void rv_comm_watch_stop(void) {
    g_watch.world = MPI_COMM_NULL;
    free(g_watch.hosts);
    g_watch.hosts = NULL;
}

void rv_comm_set_timeout(double seconds) { g_watch.timeout_s = seconds > 0 ? seconds : 0; }

double rv_comm_timeout(void) { return g_watch.timeout_s; }

const char *rv_world_host(int world_rank) {
    if (!g_watch.hosts || world_rank < 0 || world_rank >= g_watch.world_size) return "?";
    return g_watch.hosts[world_rank][0] ? g_watch.hosts[world_rank] : "?";
}

void rv_comm_check(const rv_comm *c, int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = snprintf(text, sizeof text, "MPI error code %d", rc);
    text[len < 0 ? 0 : len > MPI_MAX_ERROR_STRING ? MPI_MAX_ERROR_STRING : len] = 0;
    rv_die("%s on communicator %s (rank %d of %d) failed: %s; stopping the job so that no rank waits forever "
           "(check the MPI installation, the launcher and the network between the nodes)",
           what, c->impl ? c->impl->name : "(no transport)", c->rank, c->size, text);
}

#define SPIN_S 1e-3        /* polls without a pause for this long after the last progress: a
                              collective of a few MB completes within it, at full speed */
#define SHORT_S 0.1        /* then 20 us pauses until this long, then 1 ms pauses */
#define STATE_LEN 200       /* an answer's "waiting in ..." text */
#define MSG_CAP 3000       /* the final message is cut here (very large jobs) */

typedef struct roll_answer {
    int32_t id, world_rank;
    char state[STATE_LEN];
} roll_answer;

void rv_comm_pause(double idle_s) {
    if (idle_s < SPIN_S) return;
    struct timespec ts = {0, idle_s < SHORT_S ? 20000L : 1000000L};
    nanosleep(&ts, NULL);
}

static MPI_Comm world_mpi(void) { return g_watch.world; }

/* Answers the roll calls waiting for this rank (not the answers to its own). */
static void answer_calls(MPI_Comm wm, const rv_comm *c, const char *what) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, RV_TAG_ROLL_CALL, wm, &flag, &st) != MPI_SUCCESS || !flag) break;
        int32_t call[2] = {0, 0}; /* id, caller's world rank */
        if (MPI_Recv(call, 2, MPI_INT32_T, st.MPI_SOURCE, RV_TAG_ROLL_CALL, wm, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        roll_answer a;
        memset(&a, 0, sizeof a);
        a.id = call[0];
        a.world_rank = g_watch.world_rank;
        snprintf(a.state, sizeof a.state, "waiting in %s on %s", what, c && c->impl ? c->impl->name : "(no transport)");
        /* small: sent eagerly, so this never blocks on the caller */
        MPI_Send(&a, (int)sizeof a, MPI_BYTE, st.MPI_SOURCE, RV_TAG_ROLL_ANSWER, wm);
    }
}

void rv_comm_answer_roll_calls(const rv_comm *c, const char *what) {
    MPI_Comm wm = world_mpi();
    if (wm == MPI_COMM_NULL) return;
    answer_calls(wm, c, what);
    /* answers to an earlier roll call that ended without them (the peer was slow, not stopped) */
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, RV_TAG_ROLL_ANSWER, wm, &flag, &st) != MPI_SUCCESS || !flag) break;
        roll_answer a;
        if (MPI_Recv(&a, (int)sizeof a, MPI_BYTE, st.MPI_SOURCE, RV_TAG_ROLL_ANSWER, wm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            break;
    }
}

/* Appends printf-style text to buf[MSG_CAP] at *len, cutting with "..." when full. */
static void append(char *buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t *len, const char *fmt, ...) {
    if (*len >= MSG_CAP - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, MSG_CAP - *len, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if (*len + (size_t)k >= MSG_CAP - 1) {
        memcpy(buf + MSG_CAP - 4, "...", 4);
        *len = MSG_CAP - 1;
    } else {
        *len += (size_t)k;
    }
}

/* Polls the requests once; true when all completed, *moved when at least one did. */
static bool poll_once(const rv_comm *c, MPI_Request *req, int n, int *idx, bool *moved, const char *what) {
    int outcount = 0;
    rv_comm_check(c, MPI_Testsome(n, req, &outcount, idx, MPI_STATUSES_IGNORE), what);
    *moved = outcount > 0;
    return outcount == MPI_UNDEFINED;
}

/* The roll call after `waited` seconds without progress (see wait.h). Returns only when the
 * awaited requests completed meanwhile. */
static void roll_call(const rv_comm *c, MPI_Request *req, const int *peer, int n, int *idx, const char *what,
                      double waited) {
    MPI_Comm wm = world_mpi();
    if (wm == MPI_COMM_NULL)
        rv_die("%s on communicator %s: no progress for %.0f s (comm.timeout_s = %g); stopping the job so that it "
               "does not hang", what, c->impl->name, waited, rv_comm_timeout());
    int p = c->size, me = c->rank;
    /* ranks of c in the world, for the messages and the roll call */
    int *mine = rv_xmalloc((size_t)p * sizeof *mine), *wr = rv_xmalloc((size_t)p * sizeof *wr);
    for (int r = 0; r < p; r++) mine[r] = r;
    MPI_Group g, wg;
    MPI_Comm_group(c->impl->mpi, &g);
    MPI_Comm_group(wm, &wg);
    MPI_Group_translate_ranks(g, p, mine, wg, wr);
    MPI_Group_free(&g);
    MPI_Group_free(&wg);

    const double timeout = rv_comm_timeout();
    double grace = timeout / 4;
    grace = grace < 1 ? 1 : grace > 10 ? 10 : grace;
    /* id, this rank's world rank; on the heap: the sends may outlive this call (see below) */
    int32_t *call = rv_xmalloc(2 * sizeof *call);
    call[0] = (int32_t)((int64_t)(rv_now() * 1000) & 0x7fffffff);
    call[1] = g_watch.world_rank;
    MPI_Request *calls = rv_xmalloc((size_t)p * sizeof *calls);
    for (int r = 0; r < p; r++) {
        calls[r] = MPI_REQUEST_NULL;
        if (r != me) MPI_Isend(call, 2, MPI_INT32_T, wr[r], RV_TAG_ROLL_CALL, wm, &calls[r]);
    }
    char (*state)[STATE_LEN] = rv_xcalloc((size_t)p, sizeof *state);
    bool *answered = rv_xcalloc((size_t)p, sizeof *answered);
    answered[me] = true;
    int missing = p - 1;
    double t0 = rv_now();
    bool completed = false;
    while (missing > 0 && rv_now() - t0 < grace) {
        bool moved;
        if (poll_once(c, req, n, idx, &moved, what)) { completed = true; break; }
        for (;;) {
            int flag = 0;
            MPI_Status st;
            if (MPI_Iprobe(MPI_ANY_SOURCE, RV_TAG_ROLL_ANSWER, wm, &flag, &st) != MPI_SUCCESS || !flag) break;
            roll_answer a;
            if (MPI_Recv(&a, (int)sizeof a, MPI_BYTE, st.MPI_SOURCE, RV_TAG_ROLL_ANSWER, wm, MPI_STATUS_IGNORE) !=
                MPI_SUCCESS)
                break;
            if (a.id != call[0]) continue; /* an earlier roll call's */
            for (int r = 0; r < p; r++)
                if (wr[r] == st.MPI_SOURCE && !answered[r]) {
                    answered[r] = true;
                    missing--;
                    a.state[STATE_LEN - 1] = 0;
                    memcpy(state[r], a.state, STATE_LEN);
                }
        }
        answer_calls(wm, c, what); /* a rank holding its own roll call is alive, and says so */
        rv_comm_pause(SHORT_S); /* no spinning here */
    }
    if (!completed) {
        bool moved;
        completed = poll_once(c, req, n, idx, &moved, what);
    }
    if (completed) {
        /* the peers are alive: the small sends complete at once (eagerly) as a rule; if one does
         * not within a second, its request is let go and its 8-byte buffer with it (never freed
         * while MPI may still read it) */
        int sent = 0;
        for (double t1 = rv_now(); !sent && rv_now() - t1 < 1.0;) {
            MPI_Testall(p, calls, &sent, MPI_STATUSES_IGNORE);
            if (!sent) rv_comm_pause(SHORT_S);
        }
        for (int r = 0; r < p; r++)
            if (calls[r] != MPI_REQUEST_NULL) MPI_Request_free(&calls[r]);
        if (sent) free(call);
        rv_warn("%s on communicator %s: no progress for %.0f s (comm.timeout_s = %g), then it completed during "
                "the roll call; going on (a rank was slow, not stopped)", what, c->impl->name, waited, timeout);
        free(mine);
        free(wr);
        free(calls);
        free(state);
        free(answered);
        return;
    }

    char msg[MSG_CAP];
    size_t len = 0;
    append(msg, &len, "%s on communicator %s: no progress for %.0f s (comm.timeout_s = %g); ", what, c->impl->name,
           waited, timeout);
    if (missing > 0) {
        append(msg, &len, "%s", missing == 1 ? "rank " : "ranks ");
        int k = 0;
        for (int r = 0; r < p; r++)
            if (!answered[r])
                append(msg, &len, "%s%d (world rank %d, host %s)", k++ ? ", " : "", r, wr[r], rv_world_host(wr[r]));
        append(msg, &len, " %s silent: no answer to a roll call within %.0f s (stopped, hung, or busy outside the "
                          "collectives for longer than comm.timeout_s)", missing == 1 ? "is" : "are", grace);
    } else {
        append(msg, &len, "every rank answered a roll call, but the collective did not complete: the ranks are "
                          "waiting in different collectives (internal error; please report it)");
    }
    append(msg, &len, ". Rank %d (host %s) was waiting for ", me, rv_world_host(wr[me]));
    if (peer) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (req[i] != MPI_REQUEST_NULL) {
                bool seen = false;
                for (int j = 0; j < i; j++) seen |= req[j] != MPI_REQUEST_NULL && peer[j] == peer[i];
                if (!seen) append(msg, &len, "%s%d", k++ ? ", " : "rank ", peer[i]);
            }
    } else {
        append(msg, &len, "the other ranks of the collective");
    }
    for (int r = 0; r < p; r++)
        if (r != me && answered[r]) append(msg, &len, "; rank %d is %s", r, state[r]);
    append(msg, &len, ". Stopping the job so that it does not hang; if a rank legitimately works alone this long, "
                      "raise comm.timeout_s (0 = no limit)");
    rv_die("%s", msg);
}

void rv_comm_wait(const rv_comm *c, MPI_Request *req, const int *peer, int n, const char *what) {
    if (n <= 0) return;
    int small[64];
    int *idx = n <= 64 ? small : rv_xmalloc((size_t)n * sizeof *idx);
    double last = rv_now(); /* of the last progress */
    for (;;) {
        bool moved;
        if (poll_once(c, req, n, idx, &moved, what)) break;
        double now = rv_now();
        if (moved) last = now;
        if (now - last < SPIN_S) continue; /* fast path: no probes, no pauses */
        rv_comm_answer_roll_calls(c, what);
        double timeout = rv_comm_timeout();
        if (timeout > 0 && now - last > timeout) {
            roll_call(c, req, peer, n, idx, what, now - last);
            break;
        }
        rv_comm_pause(now - last);
    }
    if (idx != small) free(idx);
}
