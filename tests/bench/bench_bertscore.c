/* BERTScore pairs/s of the C scorer (eval/neural/bertscore.h) on (candidate, reference) pairs,
 * in the score phase's blocks of RV_EVAL_NEURAL_BLOCK pairs. Driven by bench_bertscore.sh.
 * Usage: bench_bertscore MODEL_DIR PAIRS.tsv THREADS LAYER [F_OUT] (F_OUT: one F per line) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/neural/bertscore.h"
#include "eval/tasks/task.h"
#include "kernels/kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s MODEL_DIR PAIRS.tsv THREADS LAYER\n", argv[0]); return 2; }
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    size_t n = 0, cap = 0;
    char **h = NULL, **r = NULL, *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        if (n == cap) { cap = cap ? 2 * cap : 256; h = realloc(h, cap * sizeof *h); r = realloc(r, cap * sizeof *r); }
        h[n] = strdup(line);
        r[n++] = strdup(tab + 1);
    }
    free(line);
    fclose(f);
    rv_kctx *k;
    rv_err e;
    rvk_cpu_opts co = {.nthreads = atoi(argv[3])};
    rv_bertscorer *b;
    if (rvk_create(&k, "cpu", &co, &e) || rv_bertscorer_load(&b, argv[1], atoi(argv[4]), "none", k, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    rv_bertscore_prf *out = calloc(n, sizeof *out);
    double t0 = now(), sum = 0;
    for (size_t i = 0; i < n; i += RV_EVAL_NEURAL_BLOCK) {
        size_t m = n - i < RV_EVAL_NEURAL_BLOCK ? n - i : RV_EVAL_NEURAL_BLOCK;
        if (rv_bertscorer_score(b, (const char *const *)h + i, (const char *const *)r + i, m, 64, out + i, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
    }
    double dt = now() - t0;
    for (size_t i = 0; i < n; i++) sum += out[i].f;
    FILE *fo = argc > 5 ? fopen(argv[5], "w") : NULL;
    for (size_t i = 0; fo && i < n; i++) fprintf(fo, "%.9g\n", out[i].f);
    if (fo) fclose(fo);
    printf("C BERTScore: %zu pairs in %.2f s: %.1f pairs/s (mean F %.6f)\n", n, dt, n / dt, sum / n);
    rv_bertscorer_free(b);
    rvk_destroy(k);
    for (size_t i = 0; i < n; i++) { free(h[i]); free(r[i]); }
    free(h); free(r); free(out);
    return 0;
}
