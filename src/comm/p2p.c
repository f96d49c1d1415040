#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "comm/p2p.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "comm/transport.h"
#include "comm/wait.h"
#include "core/progress.h"

static int check_tag(int tag, rv_err *err) {
    if (tag < 0 || tag >= RV_P2P_TAG_MAX) return rv_fail(err, "p2p: tag %d out of range (internal error)", tag);
    return 0;
}

/* Polling sleeps: short at first (a reply is usually fast), then up to 1 ms. */
static void pause_for(int round) {
    struct timespec ts = {0, round < 100 ? 20000L : 1000000L};
    nanosleep(&ts, NULL);
}

int rv_p2p_isend(const rv_comm *c, int dest, int tag, const void *buf, size_t len, rv_p2p_send *s, rv_err *err) {
    s->req = NULL;
    s->dest = dest;
    if (check_tag(tag, err)) return -1;
    if (!c->impl || c->size < 2 || dest < 0 || dest >= c->size || dest == c->rank)
        return rv_fail(err, "p2p: no rank %d to send to in a communicator of %d (internal error)", dest, c->size);
    if (len > INT_MAX) return rv_fail(err, "p2p: a message of %zu bytes is over the 2 GiB limit", len);
    MPI_Request *r = rv_xmalloc(sizeof *r);
    int rc = MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, c->impl->mpi, r);
    if (rc != MPI_SUCCESS) {
        free(r);
        return rv_fail(err, "p2p: MPI_Isend to rank %d failed (code %d)", dest, rc);
    }
    s->req = r;
    return 0;
}

int rv_p2p_wait(const rv_comm *c, rv_p2p_send *s, double timeout_s, rv_err *err) {
    if (!s->req) return 0;
    MPI_Request *r = s->req;
    char what[64];
    snprintf(what, sizeof what, "rv_p2p_wait (a message to rank %d)", s->dest);
    double t0 = rv_now();
    for (int round = 0;; round++) {
        int done = 0;
        if (MPI_Test(r, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            free(r);
            s->req = NULL;
            return rv_fail(err, "p2p: sending to rank %d failed", s->dest);
        }
        if (done) break;
        if (rv_now() - t0 > timeout_s) {
            MPI_Cancel(r);
            MPI_Request_free(r);
            free(r);
            s->req = NULL;
            return rv_fail(err, "rank %d did not take a message within %.0f s (dead or stuck?)", s->dest, timeout_s);
        }
        rv_comm_answer_roll_calls(c, what); /* a waiting rank is alive: say so to a rank holding a roll call */
        pause_for(round);
    }
    free(r);
    s->req = NULL;
    return 0;
}

int rv_p2p_test(rv_p2p_send *s, bool *done, rv_err *err) {
    *done = true;
    if (!s->req) return 0;
    int flag = 0;
    if (MPI_Test((MPI_Request *)s->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(s->req);
        s->req = NULL;
        return rv_fail(err, "p2p: sending to rank %d failed", s->dest);
    }
    *done = flag != 0;
    if (flag) {
        free(s->req);
        s->req = NULL;
    }
    return 0;
}

int rv_p2p_recv(const rv_comm *c, int src, int tag, double timeout_s, const char *what, char **buf, size_t *len,
                int *from, rv_err *err) {
    *buf = NULL;
    *len = 0;
    if (check_tag(tag, err)) return -1;
    if (!c->impl || c->size < 2) return rv_fail(err, "p2p: no peer to receive %s from (internal error)", what);
    MPI_Status st;
    char waiting[96];
    snprintf(waiting, sizeof waiting, "rv_p2p_recv (%.70s)", what);
    double t0 = rv_now();
    for (int round = 0;; round++) {
        int flag = 0;
        if (MPI_Iprobe(src == RV_P2P_ANY ? MPI_ANY_SOURCE : src, tag, c->impl->mpi, &flag, &st) != MPI_SUCCESS)
            return rv_fail(err, "p2p: probing for %s failed", what);
        if (flag) break;
        if (rv_now() - t0 > timeout_s) {
            if (src == RV_P2P_ANY)
                return rv_fail(err, "no rank sent %s within %.0f s (a peer died or is stuck?)", what, timeout_s);
            return rv_fail(err, "rank %d sent no %s within %.0f s (dead or stuck?)", src, what, timeout_s);
        }
        rv_comm_answer_roll_calls(c, waiting);
        pause_for(round);
    }
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    char *b = rv_xmalloc((size_t)n + 1);
    if (MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, tag, c->impl->mpi, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(b);
        return rv_fail(err, "p2p: receiving %s from rank %d failed", what, st.MPI_SOURCE);
    }
    b[n] = 0;
    *buf = b;
    *len = (size_t)n;
    if (from) *from = st.MPI_SOURCE;
    return 0;
}
