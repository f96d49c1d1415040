/* Point-to-point byte messages with deadlines, for services between roles of one job (GRPO's
 * policy ranks asking reward ranks): a send does not block (keep the buffer until it is waited
 * for), and every wait has a deadline, so a peer that died or stopped answering ends in an error
 * naming it instead of a hang. Messages up to 2 GiB; the tag says what a message is (>= 0 and
 * below RV_P2P_TAG_MAX; the collectives' internal tags are not used for these). */
#ifndef RADVLM_COMM_P2P_H
#define RADVLM_COMM_P2P_H

#include <stdbool.h>
#include <stddef.h>

#include "comm/comm.h"
#include "core/error.h"

#define RV_P2P_ANY (-1)       /* receive from any rank */
#define RV_P2P_TAG_BASE 1000  /* service tags are RV_P2P_TAG_BASE + k */
#define RV_P2P_TAG_MAX 30000

typedef struct rv_p2p_send {
    void *req;  /* the MPI request (NULL: done or nothing pending) */
    int dest;
} rv_p2p_send;

/* Starts sending buf[len] to rank dest. A one-rank communicator has no peer: error. */
int rv_p2p_isend(const rv_comm *c, int dest, int tag, const void *buf, size_t len, rv_p2p_send *s, rv_err *err);
/* Waits until the send completed, at most timeout_s seconds (> 0); on timeout the request is
 * cancelled and err names the peer. */
int rv_p2p_wait(const rv_comm *c, rv_p2p_send *s, double timeout_s, rv_err *err);
/* *done = whether the send completed (then s holds nothing more); never waits. */
int rv_p2p_test(rv_p2p_send *s, bool *done, rv_err *err);
/* Receives one message with tag from src (or RV_P2P_ANY), waiting at most timeout_s: *buf
 * (malloc'd, NUL-terminated), *len, *from. On timeout err names src (or "any rank") and what
 * was awaited (`what`, for the message). */
int rv_p2p_recv(const rv_comm *c, int src, int tag, double timeout_s, const char *what, char **buf, size_t *len,
                int *from, rv_err *err);

#endif
