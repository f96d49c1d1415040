/* The device transport of comm/device.h on GPUs: part (e) of tests/gpu/run.sh, under mpirun with
 * one rank per GPU (one rank when the machine has one GPU: NCCL refuses two ranks on one GPU).
 * Each rank picks its GPU (rv_comm_device_prepare), binds a "cuda" context to the world (AUTO:
 * NCCL) and to a split (STAGED), and runs the float collectives on device buffers: all-reduce SUM
 * and MAX (in and out of place), uneven and equal reduce-scatter and all-gather (the grouped
 * reduce / broadcast and the plain NCCL calls), against the rank-order results computed on the
 * host (the staged transport must match them bitwise, NCCL to 1e-6 relative: its sum order is
 * its own). Exit 0 when every check passes, 1 otherwise, 77 when no GPU context can be made. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device.h"
#include "comm/world.h"
#include "core/log.h"
#include "kernels/kernels.h"

typedef struct tally {
    int pass, fail;
} tally;

static void verdict(tally *t, const rv_comm *w, int ok, const char *what, const char *transport, double err) {
    if (w->rank == 0 || !ok) printf("%s [rank %d] %s (%s): max relative error %.3g\n", ok ? "PASS" : "FAIL", w->rank, what,
                                    transport, err);
    ok ? t->pass++ : t->fail++;
}

static float val(int r, size_t i) { return (float)sin(0.37 * (double)i + 1.3 * r) * (1.0f + (float)(i % 7)); }

static double rel_err(const float *got, const float *want, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), 1.0)); /* values are O(1) */
    for (size_t i = 0; i < n; i++)
        if (!isfinite(got[i])) return INFINITY;
    return m;
}

static void run_checks(tally *t, const rv_comm *w, const rv_comm *c, rv_kctx *k, double tol) {
    const char *tr = rv_comm_device_transport(c);
    const int p = c->size, me = c->rank;
    const size_t n = 1000003;
    float *h = malloc(n * sizeof *h), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    for (size_t i = 0; i < n; i++) {
        h[i] = val(me, i);
        float s = val(0, i), mx = val(0, i);
        for (int r = 1; r < p; r++) s += val(r, i), mx = fmaxf(mx, val(r, i));
        want[i] = s, got[i] = mx;
    }
    float *wmax = got;
    got = malloc(n * sizeof *got);
    float *x = rvk_alloc(k, n), *y = rvk_alloc(k, n);
    rvk_upload(k, x, h, n);
    rv_comm_allreduce_f32(c, x, y, n, RV_COMM_SUM);
    rvk_download(k, got, y, n);
    double e = rel_err(got, want, n);
    verdict(t, w, e <= tol, "all-reduce SUM, out of place", tr, e);
    rv_comm_allreduce_f32(c, x, x, n, RV_COMM_MAX);
    rvk_download(k, got, x, n);
    e = rel_err(got, wmax, n);
    verdict(t, w, e == 0, "all-reduce MAX, in place", tr, e);

    /* uneven blocks: rank r owns 1000 + 777 r elements (grouped reduce / broadcast under NCCL) */
    for (int equal = 0; equal < 2; equal++) {
        size_t *counts = malloc((size_t)p * sizeof *counts), total = 0, before = 0;
        for (int r = 0; r < p; r++) {
            counts[r] = equal ? 4099 : 1000 + 777 * (size_t)r;
            if (r == me) before = total;
            total += counts[r];
        }
        rvk_upload(k, x, h, total);
        rv_comm_reduce_scatter_f32v(c, x, x + before, counts); /* in place */
        rvk_download(k, got, x + before, counts[me]);
        e = rel_err(got, want + before, counts[me]);
        verdict(t, w, e <= tol, equal ? "reduce-scatter, equal blocks, in place" : "reduce-scatter, uneven blocks, in place",
                tr, e);
        rv_comm_allgather_f32v(c, x + before, x, counts); /* in place */
        rvk_download(k, got, x, total);
        e = rel_err(got, want, total);
        verdict(t, w, e <= tol, equal ? "all-gather, equal blocks, in place" : "all-gather, uneven blocks, in place", tr, e);
        free(counts);
    }
    rvk_free(k, x), rvk_free(k, y);
    free(h), free(want), free(got), free(wmax);
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) {
        fprintf(stderr, "comm_device_check: MPI did not start\n");
        return 1;
    }
    const rv_comm *w = rv_comm_world();
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    rv_err e;
    int dev = -1;
    rv_kctx *k = NULL;
    int ok = rv_comm_device_prepare(w, "cuda", &dev, &e) == 0 && rvk_create(&k, "cuda", NULL, &e) == 0;
    if (!rv_comm_all_ok(w, ok)) {
        if (w->rank == 0) printf("comm_device_check: SKIP: %s\n", ok ? "another rank has no GPU context" : e.msg);
        rv_world_finalize();
        return 77;
    }
    printf("rank %d of %d: GPU %d\n", w->rank, w->size, dev);
    tally t = {0, 0};
    rv_comm sub;
    if (rv_comm_split(w, 0, w->rank, &sub, &e)) rv_die("%s", e.msg);
    rv_comm_device_opts nccl = {RV_COMM_DEVICE_NCCL, 120}, staged = {RV_COMM_DEVICE_STAGED, 120};
    if (rv_comm_bind_kctx(w, k, &nccl, &e) == 0) {
        run_checks(&t, w, w, k, 1e-6);
        rv_comm_unbind_kctx(w, k);
    } else {
        printf("FAIL [rank %d] NCCL binding: %s\n", w->rank, e.msg);
        t.fail++;
    }
    if (rv_comm_bind_kctx(&sub, k, &staged, &e) == 0) {
        run_checks(&t, w, &sub, k, 0); /* staged: the rank-order sums, bitwise */
        rv_comm_unbind_kctx(&sub, k);
    } else {
        printf("FAIL [rank %d] staged binding: %s\n", w->rank, e.msg);
        t.fail++;
    }
    rv_comm_free(&sub);
    rvk_destroy(k);
    int all = rv_comm_all_ok(w, t.fail == 0);
    if (w->rank == 0) printf("comm_device_check (%d ranks): %d passed, %d failed on rank 0; all ranks %s\n", w->size, t.pass,
                             t.fail, all ? "passed" : "did NOT all pass");
    rv_world_finalize();
    return all ? 0 : 1;
}
