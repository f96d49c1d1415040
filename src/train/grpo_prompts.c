#include "train/grpo_prompts.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/grpo_data.h"

int rv_grpo_prompts_open(rv_grpo_prompts *p, const rv_shardset *set, uint64_t data_seed, double train_frac,
                         size_t val_size, uint64_t seed, int64_t per_step, rv_badrec *bad, rv_err *err) {
    memset(p, 0, sizeof *p);
    p->epoch = -1;
    p->seed = seed;
    if (rv_eval_testset_read_shards_split(set, RV_TASK_REPORT, "train", bad, &p->cells, err)) return -1;
    size_t n = p->cells.n;
    if (n == 0) {
        rv_grpo_prompts_free(p);
        return rv_fail(err, "%s holds no report-generation cells in its train split: GRPO's prompts are those cells "
                            "(instruct and pack a set with report generation)", set->path);
    }
    const char **ids = rv_xmalloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = p->cells.items[i].id;
    p->train = rv_xmalloc(n * sizeof *p->train);
    p->val = rv_xmalloc(n * sizeof *p->val);
    rv_grpo_split(ids, n, data_seed, train_frac, val_size, p->train, &p->ntrain, p->val, &p->nval);
    free(ids);
    if ((int64_t)p->ntrain < per_step) {
        int rc = rv_fail(err, "%s: %zu report cells, %zu of them for training (grpo.train_frac = %g): fewer than "
                              "grpo.prompts_per_step = %lld, so not one step",
                         set->path, n, p->ntrain, train_frac, (long long)per_step);
        rv_grpo_prompts_free(p);
        return rc;
    }
    p->perm = rv_xmalloc(p->ntrain * sizeof *p->perm);
    return 0;
}

void rv_grpo_prompts_free(rv_grpo_prompts *p) {
    rv_eval_testset_free(&p->cells);
    free(p->train);
    free(p->val);
    free(p->perm);
    memset(p, 0, sizeof *p);
}

int64_t rv_grpo_steps_per_epoch(const rv_grpo_prompts *p, int64_t per_step) { return (int64_t)p->ntrain / per_step; }

size_t rv_grpo_prompt_item(rv_grpo_prompts *p, int64_t step, int64_t per_step, int64_t u) {
    int64_t spe = rv_grpo_steps_per_epoch(p, per_step), e = step / spe, s = step % spe;
    if (e != p->epoch) {
        rv_rng r;
        rv_rng_init(&r, p->seed, rv_hash32("grpo-epoch"), (uint32_t)e);
        rv_rng_permutation(&r, p->perm, p->ntrain);
        p->epoch = e;
    }
    return p->train[p->perm[(size_t)(s * per_step + u)]];
}

int rv_grpo_prompt_make(const rv_eval_prompt_ctx *pc, const rv_eval_item *it, const char *suffix, rv_loader_sample *out,
                        rv_err *err) {
    /* upstream's prompt is the first human turn alone (B.5); a report cell has no other turn before it */
    rv_eval_item one = *it;
    if (one.nmsgs > 1) one.nmsgs = 1;
    return rv_eval_prompt_make(pc, &one, suffix, out, err);
}
