/* Pairs per second of each C metric on the pairs in a file of NUL-separated hyp/ref strings
 * (written by bench_metrics.py). Prints "metric pairs_per_s" lines. Not a test. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/metrics/bleu.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/cider.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/rouge.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: bench_metrics PAIRS_FILE [repeats]\n"); return 2; }
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) return 1;
    fclose(f);
    size_t n = 0, cap = 1024;
    const char **h = malloc(cap * sizeof *h), **r = malloc(cap * sizeof *r);
    for (long i = 0; i < sz;) {
        if (n == cap) { cap *= 2; h = realloc(h, cap * sizeof *h); r = realloc(r, cap * sizeof *r); }
        h[n] = buf + i; i += (long)strlen(buf + i) + 1;
        r[n] = buf + i; i += (long)strlen(buf + i) + 1;
        n++;
    }
    size_t *hl = malloc(n * sizeof *hl), *rl = malloc(n * sizeof *rl);
    for (size_t i = 0; i < n; i++) { hl[i] = strlen(h[i]); rl[i] = strlen(r[i]); }
    rv_ngram_ws ws = {0};
    volatile double sink = 0;
    double t0, t;

    t0 = now();
    for (int k = 0; k < reps; k++) {
        rv_bleu_stats tot = {0}, st;
        for (size_t i = 0; i < n; i++) { rv_bleu_stats_pair(h[i], hl[i], r[i], rl[i], &st, &ws); rv_bleu_stats_add(&tot, &st); double b[4]; rv_bleu_score(&st, b); sink += b[3]; }
        double b[4]; rv_bleu_score(&tot, b); sink += b[3];
    }
    t = now() - t0; printf("bleu %.1f\n", (double)n * reps / t);

    t0 = now();
    for (int k = 0; k < reps; k++) for (size_t i = 0; i < n; i++) { rv_prf o[3]; rv_rouge_pair(h[i], hl[i], r[i], rl[i], o, &ws); sink += o[2].f; }
    t = now() - t0; printf("rouge %.1f\n", (double)n * reps / t);

    t0 = now();
    for (int k = 0; k < reps; k++) {
        rv_cider_df *df = rv_cider_df_build(r, rl, n);
        for (size_t i = 0; i < n; i++) sink += rv_cider_pair(df, h[i], hl[i], r[i], rl[i], &ws);
        rv_cider_df_free(df);
    }
    t = now() - t0; printf("ciderd %.1f\n", (double)n * reps / t);

    t0 = now();
    for (int k = 0; k < reps; k++) for (size_t i = 0; i < n; i++) sink += rv_google_bleu(h[i], hl[i], r[i], rl[i], &ws);
    t = now() - t0; printf("google_bleu %.1f\n", (double)n * reps / t);

    t0 = now();
    for (int k = 0; k < reps; k++) for (size_t i = 0; i < n; i++) { int c[RV_CHX_NLABELS]; rv_chx_label(r[i], rl[i], c); rv_chx_label(h[i], hl[i], c); sink += c[0]; }
    t = now() - t0; printf("labeler %.1f\n", (double)n * reps / t);
    rv_ngram_ws_free(&ws);
    free(buf); free(h); free(r); free(hl); free(rl);
    return sink < 0;
}
