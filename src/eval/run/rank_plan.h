/* Which rank answers which question: the questions still to answer are dealt to ranks by expected
 * cost (longest first, each to the rank with the least work so far; ties to the lower rank and
 * the earlier question), so ranks finish together even when report prompts are many times longer
 * than grounding ones. A pure function of the costs and the rank count: every rank computes the
 * same plan. A question's answer does not depend on where it runs (model/gen_loop.h), so any
 * plan gives the same files. */
#ifndef RADVLM_EVAL_RUN_RANK_PLAN_H
#define RADVLM_EVAL_RUN_RANK_PLAN_H

#include <stddef.h>
#include <stdint.h>

/* todo: [n] question indices; cost: [n] their costs (> 0). Writes to mine (room for n) the
 * questions of `rank`, ascending, and returns their number. */
size_t rv_eval_rank_plan(const size_t *todo, const int64_t *cost, size_t n, int rank, int nranks, size_t *mine);

#endif
