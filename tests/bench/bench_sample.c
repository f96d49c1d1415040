/* Cost of the token choice alone (kernels.h rvk_sample) per row, greedy against GRPO's sampling
 * (temperature 1, top-k off, top-p 1), for logits of growing spread: a random model's logits are
 * nearly flat, a trained model's peaked. With top-k off rvk_sample walks a sorted prefix of the
 * row (256, 4096, ... candidates) until the draw lands in it, so its cost depends on how flat the
 * distribution is; bench_rollout.sh's 100m row (random weights) pays the flat case on every token
 * (docs/performance.md, "GRPO: reward ranks and rollouts"). Not a test.
 *   bench_sample [--vocab 32000] [--rows 8] [--reps 50] [--std 0.02,0.5,2,5]
 * logits: N(0, std^2) per entry (Philox, fixed seed); prints ms per row for each std and mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "kernels/kernels.h"

int main(int argc, char **argv) {
    int V = 32000, N = 8, reps = 50;
    const char *stds = "0.02,0.5,2,5";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_sample: every option takes a value\n");
            return 2;
        }
        if (!strcmp(a, "--vocab")) V = atoi(v);
        else if (!strcmp(a, "--rows")) N = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--std")) stds = v;
        else {
            fprintf(stderr, "bench_sample: unknown option %s\n", a);
            return 2;
        }
    }
    if (V < 2 || N < 1 || reps < 1) {
        fprintf(stderr, "bench_sample: --vocab >= 2, --rows and --reps >= 1\n");
        return 2;
    }
    rv_kctx *k = NULL;
    rv_err e;
    if (rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e)) {
        fprintf(stderr, "bench_sample: %s\n", e.msg);
        return 1;
    }
    float *host = rv_xmalloc((size_t)V * N * sizeof *host);
    float *logits = rvk_alloc(k, (size_t)V * N);
    int32_t *ids = rvk_alloc_i32(k, (size_t)N);
    double *u = rv_xmalloc((size_t)N * sizeof *u);
    rv_rng r;
    rv_rng_init(&r, 7, 0, 0);
    printf("rvk_sample, vocab %d, %d rows per call, %d calls; ms per row\n", V, N, reps);
    printf("%8s %10s %16s\n", "std", "greedy", "T=1, top-k off");
    char *list = rv_xstrdup(stds);
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        const double sd = atof(s);
        for (size_t i = 0; i < (size_t)V * N; i++) host[i] = (float)(sd * rv_rng_normal(&r));
        rvk_upload(k, logits, host, (size_t)V * N);
        double ms[2];
        for (int mode = 0; mode < 2; mode++) {
            const double t0 = rv_now();
            for (int it = 0; it < reps; it++) {
                for (int a = 0; a < N; a++) u[a] = rv_rng_uniform(&r);
                rvk_sample(k, ids, logits, u, N, V, mode ? 1.0f : 0.0f, 0, 1.0f);
            }
            ms[mode] = (rv_now() - t0) / reps / N * 1e3;
        }
        printf("%8.2f %10.4f %16.4f\n", sd, ms[0], ms[1]);
    }
    free(list);
    free(host);
    free(u);
    rvk_free(k, logits);
    rvk_free(k, ids);
    rvk_destroy(k);
    return 0;
}
