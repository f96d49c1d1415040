/* Parameter groups (train/param_groups.h) over the tiny model's table. Expected sizes by hand from
 * the tiny preset (vision hidden 64, 2 layers, MLP 128, patch 14, 56 px, 3 channels; text hidden
 * 128, 2 layers, 4 heads x 32, 2 KV heads, MLP 256, vocab 2048, tied; projector with biases):
 *   vision decay    = patch 64*3*14*14 (37632) + position 16*64 (1024)
 *                     + 2 layers * (q,k,v,o 4*64*64 + fc1 128*64 + fc2 64*128 = 32768)  = 104192
 *   vision no_decay = patch bias 64 + 2 * (ln1 128 + qkvo biases 256 + ln2 128 + fc1 bias 128
 *                     + fc2 bias 64 = 704) + post_layernorm 128                          = 1600
 *   projector decay = linear_1 128*64 (8192) + linear_2 128*128 (16384)                  = 24576
 *   projector no_decay = the two biases 128 + 128                                        = 256
 *   lm decay        = embed 2048*128 (262144) + 2 * (q 128*128 + k,v 64*128 each + o 128*128
 *                     + gate, up, down 256*128 each = 147456)                            = 557056
 *   lm no_decay     = 2 * (2 norms 256 + q,k,v biases 128+64+64 = 512) + final norm 128
 *                     + image_newline 128 (upstream trains it with the LM)               = 1280 */
#include <stdlib.h>

#include "check.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/param_groups.h"

static const size_t want_numel[RV_PG_COUNT] = {104192, 1600, 24576, 256, 557056, 1280};

int main(void) {
    rv_err err;
    rv_model_cfg mc;
    rv_weights w;
    if (rv_model_cfg_preset("tiny", &mc, &err) || rv_weights_layout(&w, &mc, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* mm_tunable_parts */
    bool tr[RV_PART_COUNT];
    CHECK(rv_tunable_parts_parse("mm_vision_tower,mm_mlp_adapter,mm_language_model", tr, &err) == 0 && tr[0] && tr[1] &&
          tr[2]);
    CHECK(rv_tunable_parts_parse(" mm_mlp_adapter , mm_language_model", tr, &err) == 0 && !tr[0] && tr[1] && tr[2]);
    CHECK(rv_tunable_parts_parse("mm_mlp_adapter", tr, &err) == 0 && !tr[0] && tr[1] && !tr[2]);
    CHECK(rv_tunable_parts_parse("mm_vision_tower,mm_projector", tr, &err) == -1 && strstr(err.msg, "'mm_projector'"));
    CHECK(rv_tunable_parts_parse("mm_mlp_adapter,mm_mlp_adapter", tr, &err) == -1 && strstr(err.msg, "listed twice"));
    CHECK(rv_tunable_parts_parse("", tr, &err) == -1 && strstr(err.msg, "''"));

    /* upstream's recipe: everything trains, vision at 2e-6, the rest at 1e-5, decay 0 */
    rv_pg_config cfg = {.lr = {2e-6, 1e-5, 1e-5}, .trainable = {true, true, true}, .weight_decay = 0.0};
    rv_param_groups pg;
    CHECK(rv_param_groups_build(&pg, &w, &cfg, &err) == 0);
    const char *names[RV_PG_COUNT] = {"vision.decay", "vision.no_decay", "projector.decay", "projector.no_decay",
                                      "lm.decay", "lm.no_decay"};
    size_t all = 0, listed = 0;
    for (size_t i = 0; i < w.n; i++) all += w.t[i].numel;
    for (int k = 0; k < RV_PG_COUNT; k++) {
        CHECK_STR(pg.g[k].name, names[k]);
        CHECK(pg.g[k].numel == want_numel[k]);
        if (pg.g[k].numel != want_numel[k]) fprintf(stderr, "  %s: %zu\n", names[k], pg.g[k].numel);
        CHECK(pg.g[k].lr == (k < 2 ? 2e-6 : 1e-5));
        listed += pg.g[k].ntensors;
        /* table order inside a group; group_of agrees */
        bool ordered = true;
        for (size_t j = 0; j < pg.g[k].ntensors; j++) {
            ordered = ordered && pg.group_of[pg.g[k].tensors[j]] == k;
            if (j) ordered = ordered && pg.g[k].tensors[j] > pg.g[k].tensors[j - 1];
        }
        CHECK(ordered);
    }
    CHECK(listed == w.n);
    CHECK(rv_pg_trainable_numel(&pg) == all && rv_pg_frozen_numel(&pg) == 0);
    int h = rv_weights_find(&w, "image_newline");
    CHECK(h >= 0 && pg.group_of[h] == 5); /* lm.no_decay */
    h = rv_weights_find(&w, "multi_modal_projector.linear_1.bias");
    CHECK(h >= 0 && pg.group_of[h] == 3);
    h = rv_weights_find(&w, "vision_tower.vision_model.post_layernorm.weight");
    CHECK(h >= 0 && pg.group_of[h] == 1); /* unused by forward, trained as upstream does */
    rv_param_groups_free(&pg);

    /* weight decay reaches only decay groups; a frozen vision tower */
    cfg.weight_decay = 0.1;
    CHECK(rv_tunable_parts_parse("mm_mlp_adapter,mm_language_model", cfg.trainable, &err) == 0);
    CHECK(rv_param_groups_build(&pg, &w, &cfg, &err) == 0);
    for (int k = 0; k < RV_PG_COUNT; k++) {
        CHECK(pg.g[k].weight_decay == (k % 2 == 0 ? 0.1 : 0.0));
        CHECK(pg.g[k].trainable == (k >= 2));
    }
    CHECK(rv_pg_frozen_numel(&pg) == 104192 + 1600);
    CHECK(rv_pg_trainable_numel(&pg) == all - 104192 - 1600);
    rv_param_groups_free(&pg);

    /* a tensor the table marks untrainable is in no group */
    h = rv_weights_find(&w, "language_model.model.norm.weight");
    w.t[h].flags &= ~(unsigned)RV_WF_TRAINABLE;
    cfg.trainable[0] = true;
    CHECK(rv_param_groups_build(&pg, &w, &cfg, &err) == 0);
    CHECK(pg.group_of[h] == -1 && pg.g[5].numel == 1280 - 128 && rv_pg_frozen_numel(&pg) == 128);
    rv_param_groups_free(&pg);
    w.t[h].flags |= RV_WF_TRAINABLE;

    /* nothing trains; a bad LR */
    rv_pg_config none = {.lr = {1, 1, 1}};
    CHECK(rv_param_groups_build(&pg, &w, &none, &err) == -1 && strstr(err.msg, "no parameter trains"));
    rv_pg_config neg = {.lr = {1e-5, -1, 1e-5}, .trainable = {true, true, true}};
    CHECK(rv_param_groups_build(&pg, &w, &neg, &err) == -1 && strstr(err.msg, "projector learning rate -1"));
    rv_weights_free(&w);
    return check_summary("param_groups");
}
