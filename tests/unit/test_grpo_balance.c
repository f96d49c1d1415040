/* verl's balance_batch, ours (train/grpo_balance.h): equal counts per rank, the greedy
 * longest-first assignment on a hand-worked case, and a skewed batch balanced far better than the
 * contiguous split the ranks would otherwise train. */
#include <stdlib.h>

#include "check.h"
#include "train/grpo_balance.h"

static void loads(const int64_t *lens, const int *part, int n, int nparts, int64_t *load, int *count) {
    for (int r = 0; r < nparts; r++) load[r] = count[r] = 0;
    for (int i = 0; i < n; i++) {
        load[part[i]] += lens[i];
        count[part[i]]++;
    }
}

int main(void) {
    /* By hand, 2 ranks of 3: 10 -> r0 (10), 9 -> r1 (9), 8 -> r1 (17), the 1s (index order) -> r0
     * (11), r0 (12; r0 still has room and less load), then r1 (r0 is full): loads 12 and 18. */
    const int64_t a[6] = {10, 9, 8, 1, 1, 1};
    int part[6];
    rv_grpo_balance(a, 6, 2, part);
    const int want[6] = {0, 1, 1, 0, 0, 1};
    int same = 1;
    for (int i = 0; i < 6; i++) same &= part[i] == want[i];
    CHECK(same);

    /* Skewed: 48 responses, the first 16 long (a contiguous split gives rank 0 all of them). */
    enum { N = 48, P = 3 };
    int64_t lens[N], load[P];
    int p[N], p2[N], count[P];
    srand(7);
    for (int i = 0; i < N; i++) lens[i] = i < 16 ? 200 + rand() % 50 : 10 + rand() % 20;
    rv_grpo_balance(lens, N, P, p);
    loads(lens, p, N, P, load, count);
    int64_t lo = load[0], hi = load[0], total = 0, contiguous0 = 0;
    for (int r = 0; r < P; r++) {
        CHECK(count[r] == N / P);
        lo = load[r] < lo ? load[r] : lo;
        hi = load[r] > hi ? load[r] : hi;
        total += load[r];
    }
    for (int i = 0; i < N / P; i++) contiguous0 += lens[i];
    /* 16 long responses over 3 ranks of 16: one rank must take 6 of them, so the loads cannot be
     * equal; greedy keeps every rank within 10% of the even share (total / P) */
    CHECK(hi * 10 <= 11 * total / P && lo * 10 >= 9 * total / P);
    CHECK(contiguous0 > 2 * total / P); /* while a contiguous split gives rank 0 over twice its share */
    /* deterministic: the same lengths, the same assignment */
    rv_grpo_balance(lens, N, P, p2);
    int det = 1;
    for (int i = 0; i < N; i++) det &= p[i] == p2[i];
    CHECK(det);
    return check_summary("test_grpo_balance");
}
