/* Communicators (comm/comm.h).
 * Without arguments (ctest unit.test_comm): one process, no MPI started: the world is one rank
 * without transport, collectives are local copies, block slices by hand, a layout-only
 * communicator's collective and a missing communicator end the process with a message, split
 * and its colour check, bad-record totals on a communicator.
 * With --mpi (tests/e2e/test_comm.sh runs it under mpirun -n 1, 2, 3): every collective on the
 * world and on a split against hand-computed values (rank r contributes r+1, ... so a sum is
 * n(n+1)/2), uneven reduce-scatter and all-gather counts, several rounds per collective, in-place
 * calls, and SUMs that are bitwise the rank-order sum (a case where another order gives another
 * float). --dump FILE writes rank 0's bits of a rounding-sensitive sum for the script's
 * run-to-run comparison. --die-alone: the last rank dies while the others wait in a collective;
 * --bad-root: a collective with a root outside the communicator; --mpi-error: an MPI call that
 * fails on the world's communicator (each must end the job with a message, not hang).
 * Collective timeout (comm.timeout_s, comm/wait.h), with a 2 s timeout: --stop-rank: the last
 * rank stops itself (SIGSTOP) while the others wait in rv_comm_all_ok (an MPI collective);
 * --busy-rank: the last rank sleeps 120 s while the others wait in a reduce-scatter (our
 * point-to-point collective); each must end the job naming that rank. --slow-rank: the last rank
 * joins the collective only once a roll call reached it (late, but alive): the job must go on
 * with a warning and the right sum. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "comm_testutil.h"
#include "comm/comm.h"
#include "comm/transport.h"
#include "comm/wait.h"
#include "comm/world.h"
#include "core/badrec.h"
#include "core/log.h"

/* Runs fn in a child process; returns its exit status (or -1) and its stderr in msg. */
static int in_child(void (*fn)(void), char *msg, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn();
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < cap && (k = read(fd[0], msg + got, cap - 1 - got)) > 0) got += (size_t)k;
    msg[got] = 0;
    close(fd[0]);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static void layout_collective(void) {
    rv_comm c = rv_comm_layout(1, 3);
    (void)rv_comm_all_ok(&c, true);
}

static void null_collective(void) { rv_comm_barrier(NULL); }

static int single_process(void) {
    const rv_comm *w = rv_comm_world();
    CHECK(w->rank == 0 && w->size == 1 && w->impl == NULL);

    /* Blocks by hand: 10 items over 3 parts = 4 + 3 + 3; 2 items over 3 parts = 1 + 1 + 0. */
    size_t b, e;
    rv_slice_block(10, 0, 3, &b, &e); CHECK(b == 0 && e == 4);
    rv_slice_block(10, 1, 3, &b, &e); CHECK(b == 4 && e == 7);
    rv_slice_block(10, 2, 3, &b, &e); CHECK(b == 7 && e == 10);
    rv_slice_block(2, 2, 3, &b, &e);  CHECK(b == 2 && e == 2);
    rv_slice_block(0, 0, 1, &b, &e);  CHECK(b == 0 && e == 0);
    rv_comm lay = rv_comm_layout(1, 3);
    CHECK(lay.rank == 1 && lay.size == 3 && lay.impl == NULL);
    rv_comm_slice(&lay, 10, &b, &e);  CHECK(b == 4 && e == 7);
    rv_comm_slice(w, 10, &b, &e);     CHECK(b == 0 && e == 10);

    /* One rank: the collectives are this rank's values. */
    CHECK(rv_comm_all_ok(w, true) && !rv_comm_all_ok(w, false));
    CHECK(rv_comm_sum_u64(w, 5) == 5);
    CHECK(rv_comm_sum_f64(w, 2.5) == 2.5);
    CHECK(rv_comm_max_f64(w, -3.0) == -3.0);
    CHECK(isnan(rv_comm_max_f64(w, NAN)));
    float x[4] = {1, -2, 3.5f, 0}, y[4] = {0};
    rv_comm_allreduce_f32(w, x, y, 4, RV_COMM_SUM);
    CHECK(memcmp(x, y, sizeof x) == 0);
    rv_comm_allreduce_f32(w, x, x, 4, RV_COMM_MAX); /* in place */
    CHECK(x[0] == 1 && x[1] == -2 && x[2] == 3.5f && x[3] == 0);
    double d[2] = {0.1, 0.2}, dd[2];
    rv_comm_allreduce_f64(w, d, dd, 2, RV_COMM_SUM);
    CHECK(dd[0] == 0.1 && dd[1] == 0.2);
    size_t cnt1[1] = {3};
    float rs[3] = {0};
    rv_comm_reduce_scatter_f32v(w, x, rs, cnt1);
    CHECK(rs[0] == 1 && rs[1] == -2 && rs[2] == 3.5f);
    float ag[4] = {0};
    rv_comm_allgather_f32(w, x, ag, 4);
    CHECK(memcmp(ag, x, sizeof x) == 0);
    rv_comm_barrier(w);
    char *out = NULL;
    size_t len = 99;
    rv_comm_gather_bytes(w, "abc", 3, 0, &out, &len);
    CHECK(len == 3 && out && strcmp(out, "abc") == 0);
    free(out);
    rv_comm_allgather_bytes(w, "xy", 2, &out, &len);
    CHECK(len == 2 && out && strcmp(out, "xy") == 0);
    char *keep = out;
    rv_comm_bcast_bytes(w, &out, &len, 0); /* one rank: nothing moves */
    CHECK(out == keep && len == 2);
    free(out);

    /* Split of a one-rank world: a group of one; a negative colour is refused by name. */
    rv_comm sub = {7, 7, NULL};
    rv_err err = {{0}};
    CHECK(rv_comm_split(w, 3, 0, &sub, &err) == 0);
    CHECK(sub.rank == 0 && sub.size == 1);
    rv_comm_free(&sub);
    rv_comm untouched = {7, 7, NULL};
    CHECK(rv_comm_split(w, -1, 0, &untouched, &err) == -1);
    CHECK(strstr(err.msg, "color -1") != NULL && untouched.rank == 7);

    /* Bad-record totals on the communicator they are given: partitioned + replicated (once). */
    rv_badrec bad;
    rv_badrec_init(&bad, w, false);
    CHECK(bad.comm == w);
    rv_badrec_report(&bad, &err, "t.csv:2", "x");
    rv_badrec_report(&bad, &err, "t.csv:3", "y");
    bad.replicated = true;
    rv_badrec_report(&bad, &err, "src.csv:9", "z");
    CHECK(rv_badrec_total(&bad) == 3);

    /* A collective on a layout-only communicator of 3 ranks, or on none, ends the process with
     * exit code 1 and a message saying what is wrong (never a silent hang or a crash). */
    char msg[8192];
    CHECK(in_child(layout_collective, msg, sizeof msg) == 1);
    CHECK(strstr(msg, "rv_comm_all_ok") && strstr(msg, "no transport"));
    CHECK(in_child(null_collective, msg, sizeof msg) == 1);
    CHECK(strstr(msg, "rv_comm_barrier") && strstr(msg, "no communicator given"));
    return check_summary("test_comm");
}

/* ---- under mpirun ---- */

static void check_allreduce(const rv_comm *w) {
    int r = w->rank, n = w->size;
    float tri = (float)n * (float)(n + 1) / 2; /* 1 + 2 + ... + n */
    /* sizes: one element, the one-all-gather path, the split path (5000 * n > 4096) */
    const size_t sizes[] = {1, 7, 5000, 100003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t L = sizes[k];
        float *x = malloc(L * sizeof *x), *y = malloc(L * sizeof *y);
        for (size_t i = 0; i < L; i++) x[i] = (float)(r + 1) * (float)(i % 100 + 1);
        rv_comm_allreduce_f32(w, x, y, L, RV_COMM_SUM);
        int good = 1;
        for (size_t i = 0; i < L; i++) good &= y[i] == tri * (float)(i % 100 + 1);
        CHECK(good);
        rv_comm_allreduce_f32(w, x, x, L, RV_COMM_MAX); /* in place: the largest is rank n-1's */
        good = 1;
        for (size_t i = 0; i < L; i++) good &= x[i] == (float)n * (float)(i % 100 + 1);
        CHECK(good);
        /* Rounding-sensitive values: bitwise the rank-order sum, on every path. */
        for (size_t i = 0; i < L; i++) x[i] = noisy(r, i);
        rv_comm_allreduce_f32(w, x, y, L, RV_COMM_SUM);
        good = 1;
        for (size_t i = 0; i < L; i++) {
            float want = rank_order_sum(n, i);
            good &= memcmp(&y[i], &want, sizeof want) == 0;
        }
        CHECK(good);
        rv_comm_test_allreduce_f32(w, x, y, L, RV_COMM_SUM, 3); /* forced split path, rounds of 3 */
        good = 1;
        for (size_t i = 0; i < L; i++) {
            float want = rank_order_sum(n, i);
            good &= memcmp(&y[i], &want, sizeof want) == 0;
        }
        CHECK(good);
        free(x);
        free(y);
    }
    /* By hand: 1e8 + 1 rounds back to 1e8 in float (spacing 8 there), so the rank order gives
     * (1e8 + 1) - 1e8 = 0 while 1e8 - 1e8 + 1 would give 1. Ranks 0, 1, 2 give 1e8, 1, -1e8;
     * with two ranks the sum is 1e8 + 1 = 1e8, with one rank 1e8. */
    float v = r == 0 ? 1e8f : r == 1 ? 1.0f : r == 2 ? -1e8f : 0.0f;
    float want3 = n == 1 ? 1e8f : n == 2 ? 1e8f : 0.0f;
    for (int path = 0; path < 2; path++) {
        float s = v;
        if (path == 0) rv_comm_allreduce_f32(w, &s, &s, 1, RV_COMM_SUM);
        else rv_comm_test_allreduce_f32(w, &v, &s, 1, RV_COMM_SUM, 1);
        CHECK(s == want3);
    }
    /* ZeRO-1's pair on uneven shards (reduce-scatter in place, then all-gather in place) gives
     * the all-reduce's bits: each element is still the rank-order sum. */
    {
        size_t zc[3] = {1000, 1, 2500}, total = 0, displ = 0;
        for (int q = 0; q < n; q++) {
            if (q < r) displ += zc[q];
            total += zc[q];
        }
        float *x = malloc(total * sizeof *x);
        for (size_t i = 0; i < total; i++) x[i] = noisy(r, i);
        rv_comm_reduce_scatter_f32v(w, x, x + displ, zc);
        rv_comm_allgather_f32v(w, x + displ, x, zc);
        int good = 1;
        for (size_t i = 0; i < total; i++) {
            float want = rank_order_sum(n, i);
            good &= memcmp(&x[i], &want, sizeof want) == 0;
        }
        CHECK(good);
        free(x);
    }
    /* double: sum and max, scalars and arrays */
    CHECK(rv_comm_sum_f64(w, r + 1.0) == n * (n + 1) / 2.0);
    CHECK(rv_comm_max_f64(w, r + 1.0) == (double)n);
    CHECK(rv_comm_max_f64(w, -(r + 1.0)) == -1.0);
    CHECK(isnan(rv_comm_max_f64(w, r == n - 1 ? NAN : 1.0))); /* NaN wins */
    CHECK(isnan(rv_comm_max_f64(w, r == 0 ? NAN : 1.0)));
    double dv[3] = {r + 1.0, 0.5 * (r + 1), -(double)(r + 1)}, dout[3];
    rv_comm_allreduce_f64(w, dv, dout, 3, RV_COMM_SUM);
    CHECK(dout[0] == n * (n + 1) / 2.0 && dout[1] == n * (n + 1) / 4.0 && dout[2] == -n * (n + 1) / 2.0);
    rv_comm_allreduce_f64(w, dv, dv, 3, RV_COMM_MAX);
    CHECK(dv[0] == n && dv[1] == 0.5 * n && dv[2] == -1.0);
    CHECK(rv_comm_sum_u64(w, (uint64_t)r + 1) == (uint64_t)(n * (n + 1) / 2));
    CHECK(rv_comm_sum_u64(w, UINT64_C(1) << 40) == (uint64_t)n << 40);
}

/* Reduce-scatter and all-gather with the given counts; element j of the full array is
 * (r+1) * (j+1) on rank r, so block r's sum at its element k is n(n+1)/2 * (displ[r] + k + 1). */
static void check_scatter_gather(const rv_comm *w, const size_t *counts, size_t chunk) {
    int r = w->rank, n = w->size;
    size_t total = 0, displ = 0;
    for (int q = 0; q < n; q++) {
        if (q < r) displ += counts[q];
        total += counts[q];
    }
    float tri = (float)n * (float)(n + 1) / 2;
    float *in = malloc((total + 1) * sizeof *in), *out = malloc((counts[r] + 1) * sizeof *out);
    for (size_t j = 0; j < total; j++) in[j] = (float)(r + 1) * (float)(j + 1);
    if (chunk) rv_comm_test_reduce_scatter_f32v(w, in, out, counts, chunk);
    else rv_comm_reduce_scatter_f32v(w, in, out, counts);
    int good = 1;
    for (size_t k = 0; k < counts[r]; k++) good &= out[k] == tri * (float)(displ + k + 1);
    CHECK(good);
    /* in place: the result lands in this rank's own block of in */
    rv_comm_reduce_scatter_f32v(w, in, in + displ, counts);
    good = 1;
    for (size_t k = 0; k < counts[r]; k++) good &= in[displ + k] == tri * (float)(displ + k + 1);
    CHECK(good);
    /* all-gather: rank q's block holds 1000 q + k; out of place, then in place */
    float *mine = malloc((counts[r] + 1) * sizeof *mine), *all = malloc((total + 1) * sizeof *all);
    for (size_t k = 0; k < counts[r]; k++) mine[k] = (float)(1000 * r) + (float)k;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < total; j++) all[j] = -1;
        if (pass == 1) memcpy(all + displ, mine, counts[r] * sizeof *mine);
        const float *src = pass == 0 ? mine : all + displ;
        if (chunk) rv_comm_test_allgather_f32v(w, src, all, counts, chunk);
        else rv_comm_allgather_f32v(w, src, all, counts);
        good = 1;
        size_t j = 0;
        for (int q = 0; q < n; q++)
            for (size_t k = 0; k < counts[q]; k++, j++) good &= all[j] == (float)(1000 * q) + (float)k;
        CHECK(good);
    }
    free(in);
    free(out);
    free(mine);
    free(all);
}

static void check_bytes(const rv_comm *w) {
    int r = w->rank, n = w->size, root = n - 1;
    /* rank r sends r+1 copies of 'a'+r: "a", "bb", "ccc" concatenated in rank order */
    char mine[8];
    memset(mine, 'a' + r, (size_t)r + 1);
    char want[64] = "";
    for (int q = 0; q < n; q++) {
        size_t at = strlen(want);
        memset(want + at, 'a' + q, (size_t)q + 1);
        want[at + (size_t)q + 1] = 0;
    }
    char *out = NULL;
    size_t len = 0;
    rv_comm_gather_bytes(w, mine, (size_t)r + 1, root, &out, &len);
    if (r == root) CHECK(out && len == strlen(want) && strcmp(out, want) == 0);
    else CHECK(out == NULL && len == 0);
    free(out);
    rv_comm_allgather_bytes(w, mine, (size_t)r + 1, &out, &len);
    CHECK(out && len == strlen(want) && strcmp(out, want) == 0);
    free(out);
    char hello[64];
    snprintf(hello, sizeof hello, "hello from rank %d", root);
    char *buf = r == root ? hello : NULL;
    len = r == root ? strlen(hello) : 0;
    rv_comm_bcast_bytes(w, &buf, &len, root);
    CHECK(buf && len == strlen(hello) && strcmp(buf, hello) == 0);
    if (r != root) free(buf);
    rv_comm_barrier(w);
}

/* Split by colour r % 2 with key -r (reverse order inside a group). */
static void check_split(const rv_comm *w) {
    int r = w->rank, n = w->size, color = r % 2;
    rv_comm g;
    rv_err err = {{0}};
    CHECK(rv_comm_split(w, color, -r, &g, &err) == 0);
    int size = 0, rank = 0;
    uint64_t sum = 0;
    for (int q = 0; q < n; q++)
        if (q % 2 == color) {
            size++;
            rank += q > r; /* higher world ranks come first */
            sum += (uint64_t)q + 1;
        }
    CHECK(g.size == size && g.rank == rank);
    CHECK(rv_comm_sum_u64(&g, (uint64_t)r + 1) == sum);
    float f = (float)(r + 1), fs;
    rv_comm_allreduce_f32(&g, &f, &fs, 1, RV_COMM_SUM);
    CHECK(fs == (float)sum);
    /* agreement stays inside a group: only the group holding world rank 1 sees a false */
    bool all = rv_comm_all_ok(&g, r != 1);
    CHECK(all == (color == 0 || n < 2));
    /* gather in the group's rank order: the highest world rank's byte first */
    char me = (char)('0' + r), *out = NULL;
    size_t len = 0;
    rv_comm_allgather_bytes(&g, &me, 1, &out, &len);
    char want[8] = "";
    size_t k = 0;
    for (int q = n - 1; q >= 0; q--)
        if (q % 2 == color) want[k++] = (char)('0' + q);
    want[k] = 0;
    CHECK(out && strcmp(out, want) == 0);
    free(out);
    rv_comm_free(&g);
    CHECK(g.impl == NULL);
    /* a negative colour on the last rank: every rank gets -1, the world still works */
    rv_comm h = {0, 0, NULL};
    int rc = rv_comm_split(w, r == n - 1 ? -5 : 0, 0, &h, &err);
    CHECK(rc == -1 && h.size == 0);
    CHECK(strstr(err.msg, r == n - 1 ? "color -5" : "another rank") != NULL);
    CHECK(rv_comm_sum_u64(w, 1) == (uint64_t)n);
}

static int under_mpi(const char *dump, const char *mode) {
    if (rv_world_init(NULL, NULL) != 0) { fprintf(stderr, "MPI did not start\n"); return 1; }
    const rv_comm *w = rv_comm_world();
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    if (mode && strcmp(mode, "--die-alone") == 0) {
        if (w->rank == w->size - 1) rv_die("test_comm: rank %d fails alone", w->rank);
        rv_comm_barrier(w); /* the others wait here: the job must end anyway */
        rv_world_finalize();
        return 0;
    }
    if (mode && (strcmp(mode, "--stop-rank") == 0 || strcmp(mode, "--busy-rank") == 0 ||
                 strcmp(mode, "--slow-rank") == 0)) {
        rv_comm_set_timeout(2);
        int last = w->rank == w->size - 1;
        if (strcmp(mode, "--stop-rank") == 0) {
            if (last) raise(SIGSTOP); /* never continued: the job must end without it */
            (void)rv_comm_all_ok(w, true);
        } else {
            if (last && strcmp(mode, "--busy-rank") == 0) {
                struct timespec ts = {120, 0};
                nanosleep(&ts, NULL);
            }
            if (last && strcmp(mode, "--slow-rank") == 0) { /* waits, without answering, for a roll call */
                for (int flag = 0; !flag;) {
                    struct timespec ts = {0, 10000000L};
                    nanosleep(&ts, NULL);
                    MPI_Iprobe(MPI_ANY_SOURCE, RV_TAG_ROLL_CALL, w->impl->mpi, &flag, MPI_STATUS_IGNORE);
                }
            }
            /* each rank gives rank+1 in every element: each element sums to n(n+1)/2 */
            int n = w->size;
            float in[6], out[2];
            for (int j = 0; j < 2 * n; j++) in[j] = (float)(w->rank + 1);
            rv_comm_reduce_scatter_f32(w, in, out, 2);
            float tri = (float)n * (float)(n + 1) / 2;
            CHECK(out[0] == tri && out[1] == tri);
        }
        int rc = check_summary("test_comm --mpi (timeout)");
        rv_world_finalize();
        return rc;
    }
    if (mode && strcmp(mode, "--mpi-error") == 0) {
        /* a real MPI error (a negative count) on the world's communicator: returned, not fatal
         * inside MPI, and turned into our message naming the call and MPI's text */
        int x = 0;
        rv_comm_check(w, MPI_Bcast(&x, -1, MPI_INT, 0, w->impl->mpi), "test_comm's MPI_Bcast with a negative count");
        rv_world_finalize();
        return 0;
    }
    if (mode && strcmp(mode, "--bad-root") == 0) {
        char *b = NULL;
        size_t len = 0;
        rv_comm_bcast_bytes(w, &b, &len, w->size);
        rv_world_finalize();
        return 0;
    }
    int n = w->size;
    if (n > 3) { /* the hand-made count tables below have three entries */
        if (w->rank == 0) fprintf(stderr, "test_comm --mpi: run with 1, 2 or 3 ranks (got %d)\n", n);
        rv_world_finalize();
        return 1;
    }
    check_allreduce(w);
    size_t uneven[3] = {2, 5, 3}, with_empty[3] = {0, 4, 1}; /* the first n entries are used */
    check_scatter_gather(w, uneven, 0);
    check_scatter_gather(w, uneven, 2);     /* rounds of 2: blocks of 5 take 3 rounds */
    check_scatter_gather(w, with_empty, 0); /* rank 0's block is empty */
    check_scatter_gather(w, with_empty, 1);
    /* equal counts through the equal-count calls */
    {
        int r = w->rank;
        float *in = malloc(6 * (size_t)n * sizeof *in), out[6], all[18];
        for (size_t j = 0; j < 6 * (size_t)n; j++) in[j] = (float)(r + 1) * (float)(j + 1);
        rv_comm_reduce_scatter_f32(w, in, out, 6);
        int good = 1;
        float tri = (float)n * (float)(n + 1) / 2;
        for (size_t k = 0; k < 6; k++) good &= out[k] == tri * (float)(6 * (size_t)r + k + 1);
        CHECK(good);
        rv_comm_allgather_f32(w, out, all, 6);
        good = 1;
        for (size_t j = 0; j < 6 * (size_t)n; j++) good &= all[j] == tri * (float)(j + 1);
        CHECK(good);
        free(in);
    }
    check_bytes(w);
    check_split(w);
    if (dump) { /* the bits of a rounding-sensitive sum of 100003 floats, compared run to run */
        size_t L = 100003;
        float *x = malloc(L * sizeof *x);
        for (size_t i = 0; i < L; i++) x[i] = noisy(w->rank, i);
        rv_comm_allreduce_f32(w, x, x, L, RV_COMM_SUM);
        if (w->rank == 0) {
            FILE *f = fopen(dump, "wb");
            CHECK(f && fwrite(x, sizeof *x, L, f) == L);
            if (f) fclose(f);
        }
        free(x);
    }
    char name[64];
    snprintf(name, sizeof name, "test_comm --mpi [rank %d of %d]", w->rank, w->size);
    int rc = check_summary(name);
    bool all_ok = rv_comm_all_ok(w, rc == 0);
    rv_world_finalize();
    return all_ok ? rc : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--mpi") == 0) {
        const char *dump = NULL, *mode = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) dump = argv[++i];
            else mode = argv[i];
        }
        return under_mpi(dump, mode);
    }
    return single_process();
}
