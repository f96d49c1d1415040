/* The device transport of comm/device.h, in its host-testable parts (the NCCL path itself needs
 * GPUs: tests/gpu/run.sh).
 * Without arguments (ctest unit.test_comm_device): the launcher's local-rank variables
 * (precedence, malformed values, look-alike names), the CUDA_VISIBLE_DEVICES count, the one-GPU-
 * per-rank rule, rv_comm_device_prepare for cpu (no-op) and cuda (an error naming the key on a
 * machine without a GPU or a build without CUDA), and binding a CPU context (no transport: host
 * memory is read directly).
 * With --mpi (tests/e2e/test_comm_device.sh runs it under mpirun -n 1, 2, 3): the staged transport
 * (download -> MPI -> upload, through the kernel API of a CPU context) gives bitwise the results of
 * the host path, for the all-reduce (both algorithms), uneven and empty reduce-scatter and
 * all-gather blocks, in place; binding references; a second context refused on every rank. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "comm_testutil.h"
#include "comm/device.h"
#include "comm/device_impl.h"
#include "comm/world.h"
#include "core/log.h"
#include "kernels/kernels.h"

static void check_local_rank(void) {
    rv_err e;
    const char *from = "x";
    char *none[] = {"PATH=/bin", "SLURM_LOCALIDX=7", "OMPI_COMM_WORLD_LOCAL_RANKS=4", NULL};
    CHECK(rv_local_rank_from_env(none, &from, &e) == -1); /* look-alike names do not count */
    CHECK(from == NULL);
    CHECK(rv_local_rank_from_env(NULL, &from, &e) == -1);

    char *ompi[] = {"SLURM_LOCALID=2", "OMPI_COMM_WORLD_LOCAL_RANK=1", NULL};
    CHECK(rv_local_rank_from_env(ompi, &from, &e) == 1); /* Open MPI's variable wins over Slurm's */
    CHECK_STR(from, "OMPI_COMM_WORLD_LOCAL_RANK");
    char *slurm[] = {"HOME=/root", "SLURM_LOCALID=5", NULL};
    CHECK(rv_local_rank_from_env(slurm, &from, &e) == 5);
    CHECK_STR(from, "SLURM_LOCALID");
    char *mpich[] = {"MPI_LOCALRANKID=3", "MV2_COMM_WORLD_LOCAL_RANK=9", NULL};
    CHECK(rv_local_rank_from_env(mpich, &from, &e) == 3);
    CHECK_STR(from, "MPI_LOCALRANKID");
    char *mv2[] = {"MV2_COMM_WORLD_LOCAL_RANK=0", NULL};
    CHECK(rv_local_rank_from_env(mv2, &from, &e) == 0);

    const char *bad[] = {"SLURM_LOCALID=x", "SLURM_LOCALID=-1", "SLURM_LOCALID=", "SLURM_LOCALID=2a",
                         "SLURM_LOCALID=99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env[] = {(char *)bad[i], NULL};
        e.msg[0] = 0;
        CHECK(rv_local_rank_from_env(env, &from, &e) == -2);
        CHECK(strstr(e.msg, "SLURM_LOCALID='") && strstr(e.msg, "is not a node-local rank"));
    }
}

static void check_gpu_rule(void) {
    CHECK(rv_visible_device_count(NULL) == -1);
    CHECK(rv_visible_device_count("") == 0);
    CHECK(rv_visible_device_count("3") == 1);
    CHECK(rv_visible_device_count("0,1,3") == 3);
    CHECK(rv_visible_device_count("GPU-8f1c,GPU-22aa") == 2);

    rv_err e;
    int dev = -7;
    CHECK(rv_gpu_for_local_rank(0, 4, NULL, &dev, &e) == 0 && dev == 0);
    CHECK(rv_gpu_for_local_rank(3, 4, "0,1,2,3", &dev, &e) == 0 && dev == 3);
    /* srun --gpus-per-task=1: each rank sees its one GPU as device 0, whatever its local rank */
    dev = -7;
    CHECK(rv_gpu_for_local_rank(2, 1, "5", &dev, &e) == 0 && dev == 0);
    /* more local ranks than GPUs: refused, naming both counts */
    dev = -7;
    CHECK(rv_gpu_for_local_rank(4, 4, NULL, &dev, &e) == -1 && dev == -7);
    CHECK(strstr(e.msg, "node-local rank 4 needs its own GPU but this node shows only 4"));
    CHECK(rv_gpu_for_local_rank(1, 1, NULL, &dev, &e) == -1); /* one GPU, unbound, two ranks */
    CHECK(strstr(e.msg, "CUDA_VISIBLE_DEVICES=(unset)"));
    CHECK(rv_gpu_for_local_rank(0, 0, "", &dev, &e) == -1);
    CHECK(strstr(e.msg, "no GPU is visible"));
}

static void check_prepare_and_bind(void) {
    rv_err e;
    int dev = 5;
    CHECK(rv_comm_device_prepare(rv_comm_world(), "cpu", &dev, &e) == 0 && dev == -1);
    e.msg[0] = 0;
    dev = 5;
    int rc = rv_comm_device_prepare(rv_comm_world(), "cuda", &dev, &e);
    if (rc == 0) {
        CHECK(dev >= 0); /* a machine with a GPU */
    } else {
        /* no GPU here, or a build without CUDA: the message names the key */
        CHECK(rc == -1 && dev == -1);
        CHECK(strstr(e.msg, "compute.backend = cuda"));
        CHECK(rv_nccl_built() ? strstr(e.msg, "no usable CUDA device") != NULL
                              : strstr(e.msg, "this build has no CUDA") != NULL);
    }

    rv_kctx *k;
    if (rvk_create(&k, "cpu", NULL, &e)) {
        CHECK(!"a cpu context");
        return;
    }
    /* host memory: nothing to bind, the world keeps its MPI (here: local) path */
    CHECK(rv_comm_bind_kctx(rv_comm_world(), k, NULL, &e) == 0);
    CHECK_STR(rv_comm_device_transport(rv_comm_world()), "none");
    rv_comm_unbind_kctx(rv_comm_world(), k);
    /* a layout-only communicator of several ranks: binding host memory is still a no-op */
    rv_comm lay = rv_comm_layout(1, 3);
    CHECK(rv_comm_bind_kctx(&lay, k, NULL, &e) == 0);
    CHECK(lay.impl == NULL);
    /* the staged hook on a one-rank world without MPI: collectives stay local copies */
    CHECK(rv_comm_test_bind_staged(rv_comm_world(), k, &e) == 0);
    float x[3] = {1, 2, 3}, y[3] = {0};
    rv_comm_allreduce_f32(rv_comm_world(), x, y, 3, RV_COMM_SUM);
    CHECK(y[0] == 1 && y[1] == 2 && y[2] == 3);
    rvk_destroy(k);
}

/* ---- under mpirun ---- */

static float rank_max(int n, size_t i) {
    float m = noisy(0, i);
    for (int r = 1; r < n; r++) m = noisy(r, i) > m ? noisy(r, i) : m;
    return m;
}

/* The staged all-reduce against the hand-computed rank-order sum and max, bit for bit; the
 * operands are context buffers (rvk_alloc) so the staging's copies go through the kernel API. */
static void staged_allreduce(const rv_comm *c, rv_kctx *k) {
    const size_t sizes[] = {1, 7, 5000, 100003}; /* the all-gather path and the split path */
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t L = sizes[si];
        float *x = rvk_alloc(k, L), *y = rvk_alloc(k, L);
        float *h = malloc(L * sizeof *h);
        for (size_t i = 0; i < L; i++) h[i] = noisy(c->rank, i);
        rvk_upload(k, x, h, L);
        rv_comm_allreduce_f32(c, x, y, L, RV_COMM_SUM); /* out of place */
        rv_comm_allreduce_f32(c, x, x, L, RV_COMM_MAX); /* in place */
        int sum_ok = 1, max_ok = 1;
        float *got = malloc(L * sizeof *got);
        rvk_download(k, got, y, L);
        for (size_t i = 0; i < L; i++) {
            float want = rank_order_sum(c->size, i);
            sum_ok &= memcmp(&got[i], &want, sizeof want) == 0;
        }
        rvk_download(k, got, x, L);
        for (size_t i = 0; i < L; i++) max_ok &= got[i] == rank_max(c->size, i);
        CHECK(sum_ok);
        CHECK(max_ok);
        free(got), free(h);
        rvk_free(k, x), rvk_free(k, y);
    }
}

/* Uneven blocks (counts[r] for rank r), in place, through the staged transport. */
static void staged_scatter_gather(const rv_comm *c, rv_kctx *k, const size_t *counts) {
    int n = c->size, me = c->rank;
    size_t total = 0, before = 0;
    for (int r = 0; r < n; r++) {
        if (r == me) before = total;
        total += counts[r];
    }
    float *a = rvk_alloc(k, total ? total : 1), *h = malloc((total ? total : 1) * sizeof *h);
    for (size_t i = 0; i < total; i++) h[i] = noisy(me, i);
    rvk_upload(k, a, h, total);
    rv_comm_reduce_scatter_f32v(c, a, a + before, counts); /* this rank's block gets the sums */
    rvk_download(k, h, a, total);
    int ok = 1;
    for (size_t i = before; i < before + counts[me]; i++) {
        float want = rank_order_sum(n, i);
        ok &= memcmp(&h[i], &want, sizeof want) == 0;
    }
    CHECK(ok);
    rv_comm_allgather_f32v(c, a + before, a, counts); /* every block from its owner */
    rvk_download(k, h, a, total);
    ok = 1;
    for (size_t i = 0; i < total; i++) {
        float want = rank_order_sum(n, i);
        ok &= memcmp(&h[i], &want, sizeof want) == 0;
    }
    CHECK(ok);
    free(h);
    rvk_free(k, a);
}

static int under_mpi(void) {
    if (rv_world_init(NULL, NULL) != 0) {
        fprintf(stderr, "MPI did not start\n");
        return 1;
    }
    const rv_comm *w = rv_comm_world();
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    int n = w->size;
    if (n > 3) {
        if (w->rank == 0) fprintf(stderr, "test_comm_device --mpi: run with 1, 2 or 3 ranks (got %d)\n", n);
        rv_world_finalize();
        return 1;
    }
    rv_err e;
    rv_kctx *k, *k2;
    if (rvk_create(&k, "cpu", NULL, &e) || rvk_create(&k2, "cpu", NULL, &e)) rv_die("%s", e.msg);
    rv_comm sub;
    if (rv_comm_split(w, 0, w->rank, &sub, &e)) rv_die("%s", e.msg);

    /* a CPU context: no transport, the world untouched */
    CHECK(rv_comm_bind_kctx(&sub, k, NULL, &e) == 0);
    CHECK_STR(rv_comm_device_transport(&sub), "none");

    CHECK(rv_comm_test_bind_staged(&sub, k, &e) == 0);
    CHECK_STR(rv_comm_device_transport(&sub), "staged");
    CHECK_STR(rv_comm_device_transport(w), "none");
    staged_allreduce(&sub, k);
    size_t uneven[3] = {2, 5, 3}, with_empty[3] = {0, 4, 1}, big[3] = {70001, 3, 129};
    staged_scatter_gather(&sub, k, uneven);
    staged_scatter_gather(&sub, k, with_empty);
    staged_scatter_gather(&sub, k, big);

    /* references: a second binding of k counts, another context is refused on every rank */
    CHECK(rv_comm_test_bind_staged(&sub, k, &e) == 0);
    e.msg[0] = 0;
    CHECK(rv_comm_test_bind_staged(&sub, k2, &e) == -1);
    CHECK(strstr(e.msg, "is already bound to another kernel context"));
    rv_comm_unbind_kctx(&sub, k);
    CHECK_STR(rv_comm_device_transport(&sub), "staged");
    rv_comm_unbind_kctx(&sub, k);
    CHECK_STR(rv_comm_device_transport(&sub), "none");
    /* bound again and left bound: rv_comm_free releases it (the ASan build sees no leak) */
    CHECK(rv_comm_test_bind_staged(&sub, k2, &e) == 0);
    rv_comm_free(&sub);
    rvk_destroy(k);
    rvk_destroy(k2);

    char name[64];
    snprintf(name, sizeof name, "test_comm_device --mpi [rank %d of %d]", w->rank, w->size);
    int rc = check_summary(name);
    bool all_ok = rv_comm_all_ok(w, rc == 0);
    rv_world_finalize();
    return all_ok ? rc : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--mpi") == 0) return under_mpi();
    check_local_rank();
    check_gpu_rule();
    check_prepare_and_bind();
    return check_summary("test_comm_device");
}
