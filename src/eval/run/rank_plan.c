#include "eval/run/rank_plan.h"

#include <stdlib.h>

#include "core/error.h"

typedef struct job {
    int64_t cost;
    size_t pos;
} job;

static int by_cost_desc(const void *a, const void *b) {
    const job *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int by_index(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

size_t rv_eval_rank_plan(const size_t *todo, const int64_t *cost, size_t n, int rank, int nranks, size_t *mine) {
    if (nranks <= 1) {
        for (size_t i = 0; i < n; i++) mine[i] = todo[i];
        qsort(mine, n, sizeof *mine, by_index);
        return n;
    }
    job *j = rv_xmalloc((n ? n : 1) * sizeof *j);
    for (size_t i = 0; i < n; i++) j[i] = (job){cost[i] > 0 ? cost[i] : 1, i};
    qsort(j, n, sizeof *j, by_cost_desc);
    int64_t *load = rv_xcalloc((size_t)nranks, sizeof *load);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        for (int r = 1; r < nranks; r++)
            if (load[r] < load[best]) best = r;
        load[best] += j[i].cost;
        if (best == rank) mine[m++] = todo[j[i].pos];
    }
    free(load);
    free(j);
    qsort(mine, m, sizeof *mine, by_index);
    return m;
}
