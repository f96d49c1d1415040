/* C side of tests/bench/bench_radgraph.sh: annotates the first N reports of
 * tests/fixtures/radgraph/chexbert_test_set.json with a converted RadGraph model on T threads,
 * prints reports/s and writes the annotations (one JSON line per report, as bench_radgraph.py
 * writes the package's) for the agreement check.
 * Usage: bench_radgraph MODEL_DIR N T OUT.jsonl */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/neural/radgraph_annotate.h"
#include "io/json.h"

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench_radgraph MODEL_DIR N THREADS OUT.jsonl\n");
        return 2;
    }
    int n = atoi(argv[2]);
    rv_err err;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/radgraph/chexbert_test_set.json", RADVLM_SOURCE_DIR);
    cJSON *rep = rv_json_parse_file(path, &err);
    if (!rep) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int nk = cJSON_GetArraySize(rep), *keys = calloc((size_t)nk, sizeof *keys), m = 0;
    for (const cJSON *r = rep->child; r; r = r->next) keys[m++] = atoi(r->string);
    qsort(keys, (size_t)m, sizeof *keys, cmp_int);
    if (n > m) n = m;
    if (n < 1) n = 1;
    const char **texts = calloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", keys[i]);
        texts[i] = cJSON_GetObjectItem(rep, k)->valuestring;
    }
    rvk_cpu_opts o = {.nthreads = atoi(argv[3])};
    rv_kctx *k;
    rv_radgraph *g;
    if (rvk_create(&k, "cpu", &o, &err) || rv_radgraph_load(&g, argv[1], k, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rv_rg_annot *a = calloc((size_t)n, sizeof *a);
    rv_radgraph_annotate(g, texts, 2, a, &err); /* warm-up */
    for (int i = 0; i < 2; i++) rv_rg_annot_free(&a[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rv_radgraph_annotate(g, texts, (size_t)n, a, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    FILE *f = fopen(argv[4], "w");
    size_t ents = 0;
    for (int i = 0; i < n; i++) {
        fputc('[', f);
        for (size_t e = 0; e < a[i].n; e++) {
            const rv_rg_entity *x = &a[i].e[e];
            fprintf(f, "%s[%d, %d, \"%s\", [", e ? ", " : "", x->start, x->end, x->label);
            for (size_t r = 0; r < x->n_rel; r++)
                fprintf(f, "%s[\"%s\", \"%d\"]", r ? ", " : "", x->rel_type[r], x->rel_target[r] + 1);
            fputs("]]", f);
        }
        fputs("]\n", f);
        ents += a[i].n;
        rv_rg_annot_free(&a[i]);
    }
    fclose(f);
    printf("c:      %d reports in %.2f s = %.2f reports/s (%d threads, %zu entities)\n", n, dt, n / dt, o.nthreads, ents);
    free(a);
    free(texts);
    free(keys);
    rv_radgraph_free(g);
    rvk_destroy(k);
    cJSON_Delete(rep);
    return 0;
}
