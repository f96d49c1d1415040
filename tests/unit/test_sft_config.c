/* The sft phase's settings and training state: defaults are upstream's recipe (A.2), keys are
 * parsed (projector LR 0 = the LM's, loss_agg, order), bad values are refused naming the key (a
 * global batch that is not a multiple of the rank count, a warmup ratio outside [0, 1], train.zero
 * other than 0/1); the checkpoint's training-state JSON round-trips every field and a state of
 * another kind is refused naming what is missing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "train/sft_ckpt.h"
#include "train/sft_config.h"

static int read_with(const char *const *sets, int n, int nranks, rv_sft_cfg *s, rv_err *e) {
    rv_config *c = NULL;
    if (rv_config_load(&c, NULL, sets, n, e)) return -2;
    int rc = rv_sft_cfg_read(c, "RUNDIR", nranks, s, e);
    /* The borrowed strings live in c: copy what the checks below need first. */
    static char init[64];
    snprintf(init, sizeof init, "%s", s->init ? s->init : "");
    s->init = init;
    s->tokenizer = s->resume = s->tunable_parts = s->backend = NULL;
    rv_config_free(c);
    return rc;
}

int main(void) {
    rv_sft_cfg s;
    rv_err e;
    CHECK(read_with(NULL, 0, 4, &s, &e) == 0);
    CHECK_STR(s.shards, "RUNDIR/shards");
    CHECK_STR(s.init, "random:tiny");
    CHECK(s.lr == 1e-5 && s.vision_lr == 2e-6 && s.projector_lr == 1e-5); /* projector_lr 0 -> lr */
    CHECK(s.beta1 == 0.9 && s.beta2 == 0.999 && s.eps == 1e-8 && s.weight_decay == 0 && s.max_grad_norm == 1.0);
    CHECK(s.warmup_ratio == 0.03 && s.warmup_steps == -1 && s.epochs == 1 && s.max_steps == 0);
    CHECK(!s.token_mean && s.order == RV_SAMPLER_MODALITY_LENGTH && s.zero == 0 && s.save_every == 200);
    rv_sft_cfg_free(&s);

    const char *set1[] = {"sft.loss_agg=token_mean", "sft.order=shuffle", "sft.projector_lr=3e-4", "sft.shards=/x/y",
                          "train.zero=1", "sft.global_batch=6"};
    CHECK(read_with(set1, 6, 3, &s, &e) == 0);
    CHECK(s.token_mean && s.order == RV_SAMPLER_SHUFFLE && s.projector_lr == 3e-4 && s.zero == 1);
    CHECK_STR(s.shards, "/x/y");
    rv_sft_cfg_free(&s);

    const char *gb[] = {"sft.global_batch=6"};
    CHECK(read_with(gb, 1, 4, &s, &e) == -1);
    CHECK(strstr(e.msg, "sft.global_batch = 6") && strstr(e.msg, "rank count (4)"));
    rv_sft_cfg_free(&s);
    const char *wr[] = {"sft.warmup_ratio=1.5"};
    CHECK(read_with(wr, 1, 1, &s, &e) == -1);
    CHECK(strstr(e.msg, "sft.warmup_ratio") != NULL);
    rv_sft_cfg_free(&s);
    const char *z[] = {"train.zero=2"};
    CHECK(read_with(z, 1, 1, &s, &e) == -1);
    CHECK(strstr(e.msg, "train.zero = 2") != NULL);
    rv_sft_cfg_free(&s);
    const char *mt[] = {"sft.max_tokens=8"};
    CHECK(read_with(mt, 1, 1, &s, &e) == -1);
    CHECK(strstr(e.msg, "sft.max_tokens = 8") != NULL);
    rv_sft_cfg_free(&s);

    /* Training state round trip (0.1 + 0.2 is not a short decimal: %.17g keeps its bits). */
    rv_sft_state a = {.step = 12, .optim_steps = 11, .skipped_total = 1, .skipped_run = 0, .elapsed_s = 0.1 + 0.2,
                      .tokens = 123456789012LL, .total_steps = 369, .warmup_steps = 12, .global_batch = 16};
    strcpy(a.order, "modality_length");
    strcpy(a.loss_agg, "sample_mean");
    char *j = rv_sft_state_to_json(&a);
    rv_sft_state b;
    CHECK(rv_sft_state_from_json("here", j, &b, &e) == 0);
    CHECK(b.step == 12 && b.optim_steps == 11 && b.skipped_total == 1 && b.skipped_run == 0);
    CHECK(b.elapsed_s == 0.1 + 0.2 && b.tokens == 123456789012LL && b.total_steps == 369 && b.warmup_steps == 12 &&
          b.global_batch == 16);
    CHECK_STR(b.order, "modality_length");
    CHECK_STR(b.loss_agg, "sample_mean");
    free(j);
    CHECK(rv_sft_state_from_json("ck.h5", "{\"step\": 3}", &b, &e) == -1);
    CHECK(strstr(e.msg, "ck.h5") && strstr(e.msg, "optim_steps"));
    CHECK(rv_sft_state_from_json("ck.h5", "", &b, &e) == -1);
    return check_summary("test_sft_config");
}
