/* The learning-rate schedule of upstream's recipe: Hugging Face's get_cosine_schedule_with_warmup
 * (transformers.optimization, num_cycles 0.5), reproduced formula for formula:
 *
 *   warmup = ceil(total * warmup_ratio)                (TrainingArguments.get_warmup_steps)
 *   f(s)   = s / max(1, warmup)                          for s < warmup
 *   f(s)   = max(0, 0.5 * (1 + cos(pi * 2 * 0.5 * p)))  otherwise, p = (s - warmup) / max(1, total - warmup)
 *   lr(s)  = base_lr * f(s)                              for every parameter group
 *
 * s is the number of optimizer steps already taken: the first update uses lr(0) (= 0 with warmup,
 * as in HF; not llm.c's (s + 1) / warmup), and what HF logs after step s is lr(s). Past total,
 * f rises again as HF's does; a trainer never steps there. */
#ifndef RADVLM_TRAIN_SCHEDULE_H
#define RADVLM_TRAIN_SCHEDULE_H

#include <stdint.h>

#include "core/error.h"

typedef struct rv_lr_schedule {
    int64_t total;     /* optimizer steps of the whole run */
    int64_t warmup;    /* warmup steps */
} rv_lr_schedule;

/* HF's warmup steps: ceil(total * ratio), computed in double as Python does. */
int64_t rv_sched_warmup_steps(int64_t total, double warmup_ratio);

/* warmup_steps >= 0 wins over the ratio (HF: warmup_steps > 0 overrides warmup_ratio; here any
 * value >= 0); pass -1 to use the ratio. Fails (naming the key) on total < 1, a ratio outside [0, 1]
 * or warmup > total. */
int rv_sched_init(rv_lr_schedule *s, int64_t total, double warmup_ratio, int64_t warmup_steps, rv_err *err);

/* f(step): the multiplier of every group's base LR after `step` optimizer steps. */
double rv_sched_factor(const rv_lr_schedule *s, int64_t step);

#endif
