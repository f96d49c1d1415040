/* rv_comm_allreduce_f32 (rank-order, deterministic) against MPI_Allreduce(MPI_SUM) for a few
 * array sizes: median time of a few repetitions and the algorithm bandwidth (bytes / time).
 * Not a test. Usage: mpirun -n N bench_comm [reps] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "comm/transport.h"
#include "comm/world.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) return 1;
    const rv_comm *w = rv_comm_world();
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    const size_t sizes[] = {1, 1024, 65536, 1 << 20, 1 << 24};
    double *t = malloc((size_t)reps * sizeof *t), *u = malloc((size_t)reps * sizeof *u);
    if (w->rank == 0) printf("%d ranks; median of %d\n%12s %14s %14s %12s %12s\n", w->size, reps, "floats", "rv_comm (s)",
                             "MPI_SUM (s)", "rv GB/s", "MPI GB/s");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        for (size_t i = 0; i < n; i++) x[i] = (float)(i % 17) * 0.25f;
        for (int r = 0; r < reps; r++) {
            rv_comm_barrier(w);
            double t0 = MPI_Wtime();
            rv_comm_allreduce_f32(w, x, y, n, RV_COMM_SUM);
            t[r] = MPI_Wtime() - t0;
            rv_comm_barrier(w);
            t0 = MPI_Wtime();
            MPI_Allreduce(x, y, (int)n, MPI_FLOAT, MPI_SUM, w->impl->mpi);
            u[r] = MPI_Wtime() - t0;
        }
        /* the slowest rank's times */
        rv_comm_allreduce_f64(w, t, t, (size_t)reps, RV_COMM_MAX);
        rv_comm_allreduce_f64(w, u, u, (size_t)reps, RV_COMM_MAX);
        qsort(t, (size_t)reps, sizeof *t, cmp_d);
        qsort(u, (size_t)reps, sizeof *u, cmp_d);
        double a = t[reps / 2], b = u[reps / 2], gb = (double)n * sizeof(float) / 1e9;
        if (w->rank == 0) printf("%12zu %14.6f %14.6f %12.2f %12.2f\n", n, a, b, gb / a, gb / b);
        free(x);
        free(y);
    }
    free(t);
    free(u);
    rv_world_finalize();
    return 0;
}
