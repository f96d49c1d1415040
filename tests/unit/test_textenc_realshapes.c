/* The text encoder at the shapes of the metric models upstream uses (bert-base-uncased 12 x 768,
 * distilbert-base-uncased 6 x 768, distilroberta-base 6 x 768 with 50265 tokens and 514
 * positions), random BF16 weights, against transformers: a full 512-position sequence (510 for
 * RoBERTa) batched with three short ones, all layers and use_layers = 2. The models (~0.5 GB) are
 * not committed: gen_textenc_fixtures.py --real-shapes build/textenc_realshapes writes them
 * (torch needed); this test runs when that folder or $RV_TEXTENC_REALSHAPES exists, else skips. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"
#include "textenc/encoder.h"
#include "textenc_testutil.h"

static void run(rv_kctx *k, const char *root, const char *name, int layers) {
    char dir[1024], expf[1100];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(expf, sizeof expf, "%s/expected.safetensors", dir);
    size_t nids, ncu, nh, nh2;
    float *fids = te_read(expf, "ids", &nids), *fcu = te_read(expf, "cu", &ncu), *h = te_read(expf, "hidden", &nh),
          *h2 = te_read(expf, "hidden_l2", &nh2);
    CHECK(fids && fcu && h && h2);
    if (fids && fcu && h && h2) {
        int nseq = (int)ncu - 1;
        int32_t *ids = te_i32(fids, nids), *cu = te_i32(fcu, ncu);
        for (int use = 0; use <= 2; use += 2) {
            rv_encoder *e = NULL;
            rv_err err;
            CHECK(rv_encoder_load(&e, dir, use, k, &err) == 0);
            if (!e) { fprintf(stderr, "%s\n", err.msg); continue; }
            CHECK(rv_encoder_cfg(e)->layers == layers && rv_encoder_cfg(e)->hidden == 768);
            float *out = malloc(nh * sizeof *out);
            CHECK(nh == nids * 768 && rv_encoder_forward(e, ids, cu, nseq, out, &err) == 0);
            double d = te_max_abs(out, use ? h2 : h, nh);
            printf("%s use_layers=%d: %zu tokens (longest %d), max |C - torch| = %.3g\n", name, use, nids, cu[1], d);
            CHECK(d <= 1e-5);
            free(out);
            rv_encoder_free(e);
        }
        free(ids);
        free(cu);
    }
    free(fids); free(fcu); free(h); free(h2);
}

int main(void) {
    const char *env = getenv("RV_TEXTENC_REALSHAPES");
    const char *root = env && *env ? env : RADVLM_SOURCE_DIR "/build/textenc_realshapes";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/distilroberta-base/expected.safetensors", root);
    if (!rv_is_file(probe))
        return check_skip("test_textenc_realshapes", "no real-shape random models; write them with "
                          "tests/fixtures/textenc/gen_textenc_fixtures.py --real-shapes build/textenc_realshapes "
                          "(needs torch + transformers) or set RV_TEXTENC_REALSHAPES");
    rv_err err;
    rv_kctx *k = NULL;
    rvk_cpu_opts co = {.nthreads = 2};
    CHECK(rvk_create(&k, "cpu", &co, &err) == 0);
    if (k) {
        run(k, root, "bert-base-uncased", 12);
        run(k, root, "distilbert-base-uncased", 6);
        run(k, root, "distilroberta-base", 6);
    }
    rvk_destroy(k);
    return check_summary("test_textenc_realshapes");
}
