/* The LR schedule against Hugging Face's get_cosine_schedule_with_warmup, by hand:
 *  - warmup = ceil(total * ratio): 4398 * 0.03 = 131.94 -> 132 (reference/train.md A.10);
 *    100 * 0.03 = 3.0 in double -> 3; 10 * 0.25 = 2.5 -> 3;
 *  - total 10, warmup 3: f(0) = 0, f(1) = 1/3, f(2) = 2/3 (warmup is s / warmup), f(3) = 1
 *    (progress 0), f(4): progress 1/7, 0.5 * (1 + cos(pi/7)) = 0.5 * (1 + 0.9009688679024191)
 *    = 0.95048443395120955, f(10) = 0.5 * (1 + cos(pi)) = 0;
 *  - total 11, warmup 3: f(7): progress 4/8 = 0.5, 0.5 * (1 + cos(pi/2)) = 0.5 (to rounding);
 *  - train.md A.10: 1e-5 * f(3001) with 4398 steps and 132 warmup: progress 2869/4266 =
 *    0.672527..., cos(pi * 0.672527) = -0.515858..., 0.5 * (1 - 0.515858) * 1e-5 = 2.42071e-6, the
 *    log's "2.4207e-6" (Python with the same formula: 2.420707745193076e-06). */
#include "check.h"
#include "train/schedule.h"

int main(void) {
    rv_err err;
    CHECK(rv_sched_warmup_steps(4398, 0.03) == 132);
    CHECK(rv_sched_warmup_steps(100, 0.03) == 3);
    CHECK(rv_sched_warmup_steps(10, 0.25) == 3);
    CHECK(rv_sched_warmup_steps(10, 0.0) == 0);

    rv_lr_schedule s;
    CHECK(rv_sched_init(&s, 10, 0.25, -1, &err) == 0 && s.warmup == 3 && s.total == 10);
    CHECK(rv_sched_factor(&s, 0) == 0.0);
    CHECK_NEAR(rv_sched_factor(&s, 1), 1.0 / 3.0, 1e-15);
    CHECK_NEAR(rv_sched_factor(&s, 2), 2.0 / 3.0, 1e-15);
    CHECK(rv_sched_factor(&s, 3) == 1.0);
    CHECK_NEAR(rv_sched_factor(&s, 4), 0.95048443395120955, 1e-15);
    CHECK_NEAR(rv_sched_factor(&s, 10), 0.0, 1e-16);
    /* monotone decay after warmup */
    for (int k = 3; k < 10; k++) CHECK(rv_sched_factor(&s, k + 1) < rv_sched_factor(&s, k));

    CHECK(rv_sched_init(&s, 11, 0, 3, &err) == 0 && s.warmup == 3);
    CHECK_NEAR(rv_sched_factor(&s, 7), 0.5, 1e-15);

    /* the full RadVLM SFT (train.md A.10) */
    CHECK(rv_sched_init(&s, 4398, 0.03, -1, &err) == 0 && s.warmup == 132);
    double lr = 1e-5 * rv_sched_factor(&s, 3001);
    CHECK_NEAR(lr, 2.4207e-6, 0.5e-10);            /* the logged value, to its 5 digits */
    CHECK_NEAR(lr, 2.420707745193076e-06, 1e-19);  /* the formula in Python */
    CHECK_NEAR(1e-5 * rv_sched_factor(&s, 132), 1e-5, 0);
    CHECK_NEAR(1e-5 * rv_sched_factor(&s, 66), 0.5e-5, 1e-20);

    /* no warmup: starts at the full LR */
    CHECK(rv_sched_init(&s, 5, 0, -1, &err) == 0 && rv_sched_factor(&s, 0) == 1.0);
    /* errors name what is wrong */
    CHECK(rv_sched_init(&s, 0, 0.03, -1, &err) == -1 && strstr(err.msg, "0 optimizer steps"));
    CHECK(rv_sched_init(&s, 10, 1.5, -1, &err) == -1 && strstr(err.msg, "warmup_ratio 1.5"));
    CHECK(rv_sched_init(&s, 10, 0, 11, &err) == -1 && strstr(err.msg, "11 warmup steps"));
    return check_summary("schedule");
}
