#include "train/schedule.h"

#include <math.h>

#define PI 3.14159265358979323846 /* the double nearest pi, as Python's math.pi */

int64_t rv_sched_warmup_steps(int64_t total, double warmup_ratio) {
    return (int64_t)ceil((double)total * warmup_ratio);
}

int rv_sched_init(rv_lr_schedule *s, int64_t total, double warmup_ratio, int64_t warmup_steps, rv_err *err) {
    if (total < 1) return rv_fail(err, "schedule: the run has %lld optimizer steps; it needs at least 1 (more data, "
                                  "or a smaller global batch)", (long long)total);
    if (!(warmup_ratio >= 0 && warmup_ratio <= 1))
        return rv_fail(err, "schedule: warmup_ratio %g is outside [0, 1]", warmup_ratio);
    int64_t w = warmup_steps >= 0 ? warmup_steps : rv_sched_warmup_steps(total, warmup_ratio);
    if (w > total)
        return rv_fail(err, "schedule: %lld warmup steps exceed the %lld steps of the run", (long long)w,
                       (long long)total);
    s->total = total;
    s->warmup = w;
    return 0;
}

double rv_sched_factor(const rv_lr_schedule *s, int64_t step) {
    if (step < s->warmup) return (double)step / (double)(s->warmup > 1 ? s->warmup : 1);
    int64_t span = s->total - s->warmup;
    double progress = (double)(step - s->warmup) / (double)(span > 1 ? span : 1);
    double f = 0.5 * (1.0 + cos(PI * 0.5 * 2.0 * progress));
    return f > 0.0 ? f : 0.0;
}
