/* Tokenizer throughput: tokens/s of rv_tokenizer_encode_batch on a JSON list of texts, with
 * 1 thread and with all threads. Driven by bench_tokenizer.sh, which also times HF tokenizers
 * on the same texts and prints the ratios. Not a pass/fail test. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/json.h"
#include "tokenizer/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s tokenizer.json texts.json [repeats]\n", argv[0]); return 2; }
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    rv_err err;
    rv_tokenizer *t;
    if (rv_tokenizer_load(argv[1], &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    cJSON *list = rv_json_parse_file(argv[2], &err);
    if (!list) { fprintf(stderr, "%s\n", err.msg); return 1; }
    size_t n = (size_t)cJSON_GetArraySize(list), i = 0, bytes = 0;
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    const cJSON *e;
    cJSON_ArrayForEach(e, list) { texts[i] = e->valuestring; lens[i] = strlen(texts[i]); bytes += lens[i]; i++; }
    rv_ids *outs = calloc(n, sizeof *outs);
    int threads[2] = {1, omp_get_max_threads()};
    for (int k = 0; k < 2; k++) {
        double best = 1e30;
        size_t ntok = 0;
        for (int r = 0; r < reps; r++) {
            for (i = 0; i < n; i++) outs[i].n = 0;
            double t0 = now();
            if (rv_tokenizer_encode_batch(t, texts, lens, n, threads[k], outs, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            double dt = now() - t0;
            if (dt < best) best = dt;
            ntok = 0;
            for (i = 0; i < n; i++) ntok += outs[i].n;
        }
        printf("ours threads=%d texts=%zu bytes=%zu tokens=%zu seconds=%.4f tokens_per_s=%.0f\n", threads[k], n, bytes,
               ntok, best, ntok / best);
    }
    for (i = 0; i < n; i++) rv_ids_free(&outs[i]);
    free(outs); free(texts); free(lens);
    cJSON_Delete(list);
    rv_tokenizer_free(t);
    return 0;
}
