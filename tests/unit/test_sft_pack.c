/* Sequence packing of the sft step (train/microbatch.h, train/sft_step.h): the greedy plan on
 * hand-worked lengths; an over-long sample is refused by name; and packing does not change a
 * step: five samples packed into one micro-batch, into two, or one at a time give the same
 * weighted loss (within 1e-6 relative), the same per-sample losses, and the same gradients
 * (within 1e-5 of the largest), all equal to the reference mean of the per-sample losses
 * computed by separate forward passes; the target count follows the loss mask. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "data/loader/placeholders.h"
#include "model/vlm.h"
#include "train/microbatch.h"
#include "train/sft_step.h"

#define NS 5

static void micro_cfg(rv_model_cfg *c) {
    rv_err e;
    rv_model_cfg_preset("tiny", c, &e);
    rv_vision_cfg *v = &c->vision;
    v->hidden = 16; v->layers = 2; v->heads = 2; v->intermediate = 24; v->patch = 7; v->image_size = 28;
    rv_text_cfg *t = &c->text;
    t->hidden = 24; t->layers = 2; t->heads = 4; t->kv_heads = 2; t->head_dim = 8; t->intermediate = 40;
    t->vocab = 40; t->tie_embeddings = false;
    c->image_token_id = 39;
    c->n_pinpoints = 1;
    c->pinpoints[0][0] = c->pinpoints[0][1] = 28;
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* All gradients as one host array. */
static float *grads(rv_weights *w) {
    float *g = calloc(w->total, sizeof *g);
    rv_err e;
    rv_kctx *k = w->k;
    rvk_download(k, g, w->grads, w->total);
    CHECK(rvk_sync(k, &e) == 0);
    return g;
}

int main(void) {
    /* Plan: lens 3 4 2 5 1 at 7 tokens: [3 4] [2 5] [1]. */
    int lens[5] = {3, 4, 2, 5, 1}, starts[6], nmb = 0;
    rv_err e;
    CHECK(rv_microbatch_plan(lens, 5, 7, starts, &nmb, &e) == 0);
    CHECK(nmb == 3 && starts[0] == 0 && starts[1] == 2 && starts[2] == 4 && starts[3] == 5);
    CHECK(rv_microbatch_plan(lens, 5, 5, starts, &nmb, &e) == 0); /* [3] [4] [2] [5] [1]: 2+5 > 5 */
    CHECK(nmb == 5);
    int longs[2] = {3, 8};
    CHECK(rv_microbatch_plan(longs, 2, 7, starts, &nmb, &e) == -1);
    CHECK(strstr(e.msg, "sample 1") && strstr(e.msg, "8 tokens") && strstr(e.msg, "sft.max_tokens = 7"));

    rv_model_cfg c;
    micro_cfg(&c);
    rv_kctx *k;
    rvk_cpu_opts one = {.nthreads = 1};
    CHECK(rvk_create(&k, "cpu", &one, &e) == 0);
    rv_weights w;
    CHECK(rv_weights_build(&w, &c, k, &e) == 0);
    CHECK(rv_weights_init_random(&w, 11, 0.3f, &e) == 0);
    rv_vlm m;
    CHECK(rv_vlm_init(&m, k, &c, &w, true, &e) == 0);

    /* Five samples, one single-tile image each (16 patches + newline = 17 rows), 4..12 text tokens. */
    rv_rng r;
    rv_rng_init(&r, 3, 0, 0);
    rv_vlm_image img[NS];
    rv_sample s[NS];
    int32_t *ids[NS];
    uint8_t *mask[NS];
    float *tiles[NS];
    int tot = 0;
    for (int i = 0; i < NS; i++) {
        tiles[i] = malloc(3 * 28 * 28 * sizeof(float));
        for (int p = 0; p < 3 * 28 * 28; p++) tiles[i][p] = (float)rv_rng_range(&r, -1, 1);
        img[i] = (rv_vlm_image){.tiles = tiles[i], .n_tiles = 1};
        int32_t text[16];
        uint8_t mk[16];
        int n = 0;
        text[n] = 1; mk[n++] = 0;
        text[n] = c.image_token_id; mk[n++] = 0;
        for (int j = 0; j < 4 + 2 * i; j++) {
            text[n] = (int32_t)rv_rng_below(&r, 38);
            mk[n++] = j >= 1;
        }
        int len;
        CHECK(rv_loader_expand_placeholders(&c, text, mk, n, &img[i], 1, &ids[i], &mask[i], &len, &e) == 0);
        CHECK(len == n - 1 + 17);
        s[i] = (rv_sample){.ids = ids[i], .len = len, .mask = mask[i], .images = &img[i], .n_images = 1};
        /* targets: the text tokens after the first (mask 1 from j = 1): 3 + 2i */
        CHECK(rv_sft_targets(&s[i]) == 3 + 2 * i);
        tot += len;
    }
    /* Reference: each sample alone through the eval path, then the mean. */
    double ref[NS], ref_mean = 0;
    for (int i = 0; i < NS; i++) {
        CHECK(rv_sft_eval_losses(&m, &s[i], 1, 1 << 20, &ref[i], &e) == 0);
        ref_mean += ref[i] / NS;
    }
    CHECK(ref_mean > 0.5 * log(40.0) && ref_mean < 3 * log(40.0)); /* a random model: about ln V */

    float wgt[NS];
    for (int i = 0; i < NS; i++) wgt[i] = 1.0f / NS;
    int budgets[3] = {tot, tot / 2 + 12, 0}; /* all in one, two or three micro-batches, one each */
    int maxlen = 0;
    for (int i = 0; i < NS; i++) maxlen = s[i].len > maxlen ? s[i].len : maxlen;
    budgets[2] = maxlen;
    double wsum[3], loss[3][NS];
    float *g[3];
    for (int b = 0; b < 3; b++) {
        rv_weights_zero_grads(&w);
        CHECK(rv_sft_accumulate(&m, s, NS, budgets[b], wgt, &wsum[b], loss[b], &e) == 0);
        g[b] = grads(&w);
    }
    /* The budgets really pack differently. */
    int sl[NS];
    for (int i = 0; i < NS; i++) sl[i] = s[i].len;
    int nm[3];
    for (int b = 0; b < 3; b++) CHECK(rv_microbatch_plan(sl, NS, budgets[b], starts, &nm[b], &e) == 0);
    CHECK(nm[0] == 1 && nm[1] >= 2 && nm[1] < NS && nm[2] == NS);

    double gmax = max_abs(g[2], w.total);
    CHECK(gmax > 0);
    for (int b = 0; b < 3; b++) {
        CHECK(fabs(wsum[b] - ref_mean) <= 1e-6 * ref_mean);
        for (int i = 0; i < NS; i++) CHECK(fabs(loss[b][i] - ref[i]) <= 1e-6 * ref[i]);
        double d = 0;
        for (size_t j = 0; j < w.total; j++) d = fmax(d, fabs((double)g[b][j] - g[2][j]));
        CHECK(d <= 1e-5 * gmax);
    }
    /* Weights scale the objective: doubling them doubles the loss and the gradients. */
    for (int i = 0; i < NS; i++) wgt[i] = 2.0f / NS;
    rv_weights_zero_grads(&w);
    double w2;
    CHECK(rv_sft_accumulate(&m, s, NS, tot, wgt, &w2, NULL, &e) == 0);
    float *g2 = grads(&w);
    CHECK(fabs(w2 - 2 * ref_mean) <= 2e-6 * ref_mean);
    double d2 = 0;
    for (size_t j = 0; j < w.total; j++) d2 = fmax(d2, fabs((double)g2[j] - 2.0 * g[0][j]));
    CHECK(d2 <= 2e-5 * gmax);
    free(g2);
    /* An over-long sample fails the step with its position named. */
    CHECK(rv_sft_accumulate(&m, s, NS, maxlen - 1, wgt, &w2, NULL, &e) == -1);
    CHECK(strstr(e.msg, "sft.max_tokens") != NULL);

    for (int b = 0; b < 3; b++) free(g[b]);
    for (int i = 0; i < NS; i++) {
        free(ids[i]);
        free(mask[i]);
        free(tiles[i]);
    }
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    return check_summary("test_sft_pack");
}
