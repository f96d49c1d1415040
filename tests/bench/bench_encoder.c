/* Text-encoder throughput (textenc/encoder.h): tokenizes the lines of a text file with the model
 * directory's tokenizer (truncated to 512), then runs the encoder over them in packed batches of
 * `batch` sequences and prints sequences/s (tokenization excluded, as in bench_encoder_hf.py).
 * With a 5th argument, also writes the hidden states of every token as text (one row a line:
 * "seq tok id v0 v1 ...") for a quick look against another implementation. Not a test; run by
 * tests/bench/bench_encoder.sh.
 *   bench_encoder MODEL_DIR TEXTS.txt THREADS BATCH [DUMP.txt] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXTS.txt THREADS BATCH [DUMP.txt]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int threads = atoi(argv[3]), batch = atoi(argv[4]);
    if (batch < 1) batch = 1;
    rv_err err;
    rv_kctx *k = NULL;
    rvk_cpu_opts co = {.nthreads = threads};
    rv_encoder *enc = NULL;
    rv_text_tok *tok = NULL;
    if (rvk_create(&k, "cpu", &co, &err) || rv_encoder_load(&enc, dir, 0, k, &err) ||
        rv_text_tok_load(&tok, dir, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    size_t nseq = 0, cap = 0, total = 0;
    int32_t **ids = NULL;
    size_t *len = NULL;
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (nseq == cap) {
            cap = cap ? 2 * cap : 64;
            ids = realloc(ids, cap * sizeof *ids);
            len = realloc(len, cap * sizeof *len);
        }
        if (rv_text_tok_encode(tok, line, true, 512, &ids[nseq], &len[nseq], &err)) {
            fprintf(stderr, "line %zu: %s\n", nseq + 1, err.msg);
            return 1;
        }
        total += len[nseq++];
    }
    fclose(f);
    const rv_enc_cfg *c = rv_encoder_cfg(enc);
    float *out = malloc(total * (size_t)c->hidden * sizeof *out);
    int32_t *flat = malloc(total * sizeof *flat), *cu = malloc((nseq + 1) * sizeof *cu);
    FILE *dump = argc > 5 ? fopen(argv[5], "w") : NULL;
    double t0 = now();
    for (size_t s0 = 0; s0 < nseq; s0 += (size_t)batch) {
        size_t nb = nseq - s0 < (size_t)batch ? nseq - s0 : (size_t)batch, T = 0;
        cu[0] = 0;
        for (size_t i = 0; i < nb; i++) {
            memcpy(flat + T, ids[s0 + i], len[s0 + i] * sizeof *flat);
            T += len[s0 + i];
            cu[i + 1] = (int32_t)T;
        }
        if (rv_encoder_forward(enc, flat, cu, (int)nb, out, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; dump && i < nb; i++)
            for (int32_t t = cu[i]; t < cu[i + 1]; t++) {
                fprintf(dump, "%zu %d %d", s0 + i, t - cu[i], flat[t]);
                for (int j = 0; j < c->hidden; j++) fprintf(dump, " %.7g", out[(size_t)t * (size_t)c->hidden + (size_t)j]);
                fputc('\n', dump);
            }
    }
    double dt = now() - t0;
    printf("c_encoder: %zu sequences (%zu tokens) in %.3f s: %.1f sequences/s (threads %d, batch %d)\n", nseq, total,
           dt, (double)nseq / dt, threads, batch);
    if (dump) fclose(dump);
    for (size_t i = 0; i < nseq; i++) free(ids[i]);
    free(ids);
    free(len);
    free(out);
    free(flat);
    free(cu);
    rv_text_tok_free(tok);
    rv_encoder_free(enc);
    rvk_destroy(k);
    return 0;
}
