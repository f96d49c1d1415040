/* Scaling of the CheXpert-style labeler (issue L item 4): GRPO's label_f1 reward and the eval's
 * chexpert_rules metrics label untrusted model output, so its time must grow linearly with the
 * text. Labels hostile single-sentence texts (triggers, terminators, pseudo-triggers and mentions
 * every few words, no sentence end) and ordinary multi-sentence reports of growing size, and
 * prints seconds and nanoseconds per character per size: a flat ns/char column is linear. (Before
 * the per-sentence indexes, a 4.2 MB hostile text took 63 s: quadratic.)
 * usage: bench_labeler [MAX_CHARS (default 4200000)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/metrics/chexpert_labeler.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *const hostile_words[] = {"no", "effusion", "but", "may", "edema", "no change", "not",
                                            "cardiomegaly", "without", "pneumothorax", "possible", "a"};
static const char *const report = "The heart size is normal. No pleural effusion or pneumothorax. "
                                  "Possible mild pulmonary edema, but no focal consolidation. ";

int main(int argc, char **argv) {
    size_t max = argc > 1 ? (size_t)atoll(argv[1]) : 4200000;
    char *buf = malloc(max + 64);
    printf("%-9s %12s %10s %10s\n", "text", "chars", "seconds", "ns/char");
    for (int kind = 0; kind < 2; kind++) {
        for (size_t size = 16384; size <= max; size *= 4) {
            size_t n = 0;
            unsigned r = 1;
            while (n < size) {
                r = r * 1103515245u + 12345u;
                const char *w = kind ? report : hostile_words[(r >> 16) % 12];
                size_t l = strlen(w);
                memcpy(buf + n, w, l);
                n += l;
                if (!kind) buf[n++] = ' ';
            }
            int cls[RV_CHX_NLABELS];
            double t0 = now();
            rv_chx_label(buf, n, cls);
            double dt = now() - t0;
            printf("%-9s %12zu %10.4f %10.1f\n", kind ? "reports" : "hostile", n, dt, dt / (double)n * 1e9);
        }
    }
    free(buf);
    return 0;
}
