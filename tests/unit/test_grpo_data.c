/* GRPO's prompt split (train/grpo_data.h): sizes (floor(0.99 n) train, the next min(128, rest)
 * validation), disjoint, independent of the order the cells come in (id order first), seeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/grpo_data.h"

#define N 1000

int main(void) {
    static char buf[N][32];
    const char *ids[N], *rev[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "mimic-report_%d", i);
        ids[i] = buf[i];
        rev[N - 1 - i] = buf[i];
    }
    static size_t tr[N], va[N], tr2[N], va2[N];
    size_t nt, nv, nt2, nv2;
    rv_grpo_split(ids, N, 42, 0.99, 128, tr, &nt, va, &nv);
    CHECK(nt == 990 && nv == 10); /* floor(0.99 * 1000) = 990; 10 left for validation (< 128) */
    static int seen[N];
    for (size_t j = 0; j < nt; j++) seen[tr[j]]++;
    for (size_t j = 0; j < nv; j++) seen[va[j]]++;
    int once = 1;
    for (int i = 0; i < N; i++) once &= seen[i] == 1;
    CHECK(once);
    /* the same cells in reverse order: the same split, by id */
    rv_grpo_split(rev, N, 42, 0.99, 128, tr2, &nt2, va2, &nv2);
    int same = nt2 == nt && nv2 == nv;
    for (size_t j = 0; same && j < nt; j++) same = !strcmp(ids[tr[j]], rev[tr2[j]]);
    for (size_t j = 0; same && j < nv; j++) same = !strcmp(ids[va[j]], rev[va2[j]]);
    CHECK(same);
    /* shuffled: not id order; another seed: another order */
    int sorted = 1;
    for (size_t j = 1; j < nt; j++) sorted &= strcmp(ids[tr[j - 1]], ids[tr[j]]) < 0;
    CHECK(!sorted);
    rv_grpo_split(ids, N, 43, 0.99, 128, tr2, &nt2, va2, &nv2);
    CHECK(memcmp(tr, tr2, nt * sizeof *tr) != 0);
    /* a set large enough for the full validation size: 20000 cells -> 19800 + 128 */
    static char big[20000][24];
    static const char *bids[20000];
    static size_t btr[20000], bva[20000];
    for (int i = 0; i < 20000; i++) {
        snprintf(big[i], sizeof big[i], "c%d", i);
        bids[i] = big[i];
    }
    rv_grpo_split(bids, 20000, 42, 0.99, 128, btr, &nt, bva, &nv);
    CHECK(nt == 19800 && nv == 128);
    return check_summary("test_grpo_data");
}
