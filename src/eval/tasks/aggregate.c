/* Aggregation and bootstrap over scored records: the family computes the statistics of any
 * subset (idx), the bootstrap calls it once per resample. */
#include "eval/tasks/aggregate.h"

#include "eval/metrics/bootstrap.h"
#include "eval/tasks/family.h"

size_t rv_eval_nstats(const rv_eval_task *t) { return t->family->nstats; }
const char *rv_eval_stat_key(const rv_eval_task *t, size_t k) { return t->family->stat_key(k); }

void rv_eval_stats(const rv_eval_task *t, const double *values, size_t n, const size_t *idx, double *out) {
    t->family->stats(values, n, idx, out);
}

typedef struct boot_user {
    const rv_eval_task *t;
    const double *values;
} boot_user;

static void boot_stat(const size_t *idx, size_t n, void *user, double *out) {
    const boot_user *u = user;
    u->t->family->stats(u->values, n, idx, out);
}

void rv_eval_bootstrap(const rv_eval_task *t, const double *values, size_t n, size_t B, uint64_t seed,
                       double *lo, double *hi) {
    boot_user u = {t, values};
    rv_bootstrap(n, B, seed, t->family->nstats, boot_stat, &u, 2.5, 97.5, lo, hi);
}
