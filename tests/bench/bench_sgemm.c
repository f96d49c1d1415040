/* sgemm throughput on this machine: OpenBLAS called directly (its own threading) and the kernel
 * layer's rvk_gemm (fixed tiles, one OpenBLAS call per tile and thread, thread-count independent
 * results), for square sizes, 1 and N threads. Prints GFLOP/s (2 n^3 per call); not a test.
 * Usage: bench_sgemm [max_threads] [sizes...] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of several timed runs (at least 3 runs and 0.3 s), in GFLOP/s. */
static double measure(rv_kctx *k, int direct, int n, const float *A, const float *B, float *C) {
    double best = 1e30, spent = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || spent < 0.3); rep++) {
        double t0 = now();
        if (direct) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        else rvk_gemm(k, 0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        double dt = now() - t0;
        spent += dt;
        if (dt < best) best = dt;
    }
    return 2.0 * n * (double)n * n / best * 1e-9;
}

int main(int argc, char **argv) {
    int maxt = argc > 1 ? atoi(argv[1]) : 2;
    int sizes[16] = {256, 512, 1024, 1536, 2048}, ns = 5;
    if (argc > 2) {
        ns = 0;
        for (int i = 2; i < argc && ns < 16; i++) sizes[ns++] = atoi(argv[i]);
    }
    printf("%s\n", openblas_get_config());
    printf("%6s %7s %16s %16s\n", "n", "threads", "openblas GFLOP/s", "rvk_gemm GFLOP/s");
    for (int s = 0; s < ns; s++) {
        int n = sizes[s];
        size_t nn = (size_t)n * n;
        float *A = malloc(nn * 4), *B = malloc(nn * 4), *C = malloc(nn * 4);
        for (size_t i = 0; i < nn; i++) {
            A[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
            B[i] = (float)((i * 40503u) % 997) / 997.0f - 0.5f;
        }
        for (int t = 1; t <= maxt; t = t < maxt && t * 2 > maxt ? maxt : t * 2) {
            rv_kctx *k;
            rv_err err;
            rvk_cpu_opts o = {.nthreads = t};
            if (rvk_create(&k, "cpu", &o, &err) != 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            /* tiled first: OpenBLAS's own pool spins for a while after a threaded call and
             * would steal cores from the OpenMP threads of the tiled path */
            double tiled = measure(k, 0, n, A, B, C);
            openblas_set_num_threads(t);
            double direct = measure(k, 1, n, A, B, C);
            printf("%6d %7d %16.1f %16.1f\n", n, t, direct, tiled);
            fflush(stdout);
            rvk_destroy(k);
            if (t == maxt) break;
        }
        free(A), free(B), free(C);
    }
    return 0;
}
