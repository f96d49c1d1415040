#include "train/grpo_rollout.h"

#include <stdlib.h>

int rv_grpo_rollout(rv_vlm *m, const rv_sample *prompts, const uint64_t *uid, int np, const rv_grpo_rollout_opts *o,
                    rv_gen_result *out, rv_err *err) {
    if (np <= 0 || o->n <= 0 || (long)np * o->n > 0x7fffffff)
        return rv_fail(err, "grpo: rollout of %d prompts x %d responses is not possible", np, o->n);
    const int total = np * o->n;
    /* the queue: each prompt n times, interleaved as verl repeats the batch (prompt-major) */
    rv_sample *q = rv_xmalloc((size_t)total * sizeof *q);
    uint64_t *ids = rv_xmalloc((size_t)total * sizeof *ids);
    for (int j = 0; j < np; j++)
        for (int k = 0; k < o->n; k++) {
            q[j * o->n + k] = prompts[j];
            ids[j * o->n + k] = uid[j] * (uint64_t)o->n + (uint64_t)k;
        }
    rv_gen_loop_opts g = {.slots = o->slots, .max_new_tokens = o->max_response, .temperature = 1.0f, .top_p = 1.0f,
                          .top_k = 0, .stop_ids = o->stop_ids, .n_stop = o->n_stop, .seed = o->seed,
                          .ban_ids = o->ban_ids, .n_ban = o->n_ban};
    int rc = rv_gen_loop(m, q, ids, total, &g, out, err);
    free(q);
    free(ids);
    return rc;
}
