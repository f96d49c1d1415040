/* ZeRO-1 partition (train/partition.h): hand-computed ranges, then for many sizes and rank counts
 * the ranges are contiguous in rank order, cover [0, total) exactly, start on 16-element
 * boundaries and differ in size by at most one 16-element unit (before the clip at the end). */
#include <stdbool.h>

#include "check.h"
#include "train/partition.h"

static void test_by_hand(void) {
    /* total 100 = 7 units of 16 (the last holds 4); 3 ranks: 7 = 3 + 2 + 2 units */
    rv_range a = rv_partition(100, 0, 3), b = rv_partition(100, 1, 3), c = rv_partition(100, 2, 3);
    CHECK(a.off == 0 && a.n == 48);
    CHECK(b.off == 48 && b.n == 32);
    CHECK(c.off == 80 && c.n == 20); /* units 5..6 = [80, 112), clipped to 100 */
    /* 8 ranks over 7 units: ranks 0..6 one unit each, rank 7 nothing (at the end) */
    rv_range r6 = rv_partition(100, 6, 8), r7 = rv_partition(100, 7, 8);
    CHECK(r6.off == 96 && r6.n == 4);
    CHECK(r7.off == 100 && r7.n == 0);
    /* one rank owns everything */
    rv_range one = rv_partition(1504, 0, 1);
    CHECK(one.off == 0 && one.n == 1504);
    /* 1504 = 94 units over 4 ranks: 24, 24, 23, 23 units */
    rv_range q1 = rv_partition(1504, 1, 4), q3 = rv_partition(1504, 3, 4);
    CHECK(q1.off == 384 && q1.n == 384);
    CHECK(q3.off == 1136 && q3.n == 368);
    rv_range z = rv_partition(0, 0, 2);
    CHECK(z.off == 0 && z.n == 0);
}

static void test_properties(void) {
    const size_t totals[] = {1, 15, 16, 17, 100, 1504, 123680, 1000003};
    bool ok = true;
    for (size_t ti = 0; ti < sizeof totals / sizeof totals[0]; ti++)
        for (int p = 1; p <= 9; p++) {
            size_t at = 0, lo = (size_t)-1, hi = 0;
            for (int r = 0; r < p; r++) {
                rv_range q = rv_partition(totals[ti], r, p);
                ok = ok && q.off == at && q.off % RV_PARTITION_ALIGN == (at == totals[ti] ? at % 16 : 0);
                size_t units = (q.n + 15) / 16;
                if (units < lo) lo = units;
                if (units > hi) hi = units;
                at += q.n;
            }
            ok = ok && at == totals[ti] && hi - lo <= 1;
            if (!ok) { fprintf(stderr, "total %zu, %d ranks\n", totals[ti], p); CHECK(ok); return; }
        }
    CHECK(ok);
}

int main(void) {
    test_by_hand();
    test_properties();
    return check_summary("partition");
}
