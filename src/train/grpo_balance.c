#include "train/grpo_balance.h"

#include <stdlib.h>

#include "core/error.h"

typedef struct by_len {
    int64_t len;
    int i;
} by_len;

static int longest_first(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

void rv_grpo_balance(const int64_t *lens, int n, int nparts, int *part) {
    by_len *o = rv_xmalloc((size_t)(n ? n : 1) * sizeof *o);
    for (int i = 0; i < n; i++) o[i] = (by_len){lens[i], i};
    qsort(o, (size_t)n, sizeof *o, longest_first);
    int64_t *load = rv_xcalloc((size_t)nparts, sizeof *load);
    int *count = rv_xcalloc((size_t)nparts, sizeof *count);
    const int cap = n / nparts;
    for (int j = 0; j < n; j++) {
        int best = -1;
        for (int r = 0; r < nparts; r++)
            if (count[r] < cap && (best < 0 || load[r] < load[best])) best = r;
        part[o[j].i] = best;
        load[best] += o[j].len;
        count[best]++;
    }
    free(count);
    free(load);
    free(o);
}
