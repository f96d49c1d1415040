/* VinDr weighted box fusion (data.md §5.3). Expected values are hand calculations:
 * float32 means written out as the float32 value of each step. */
#include "check.h"
#include "data/instruct/boxtext.h"
#include "data/sources/wbf.h"

static rv_box B(double a, double b, double c, double d) {
    rv_box x = {{a, b, c, d}, 0};
    return x;
}

static void box_is(const rv_box *got, double a, double b, double c, double d) {
    CHECK(got->v[0] == a && got->v[1] == b && got->v[2] == c && got->v[3] == d);
    if (!(got->v[0] == a && got->v[1] == b && got->v[2] == c && got->v[3] == d))
        fprintf(stderr, "  got [%.17g, %.17g, %.17g, %.17g]\n", got->v[0], got->v[1], got->v[2], got->v[3]);
}

int main(void) {
    rv_box out[8];
    size_t n;

    /* Two overlapping boxes (IoU 0.9375 > 0.1) are averaged in float32. Processing is in
     * reverse CSV order, so the accumulator sees 0.125 then 0.1:
     * f32(0.125 + 0.1) = 0.22499999403953552, / 2 = 0.11249999701976776 -> round3 0.112
     * (a float64 mean, 0.1125000000000000028, would give 0.113). */
    rv_box in1[2] = {B(0.1, 0.2, 0.5, 0.6), B(0.125, 0.2, 0.5, 0.6)};
    rv_wbf(in1, 2, 0.1, out, &n);
    CHECK(n == 1);
    box_is(&out[0], 0.112, 0.2, 0.5, 0.6);

    /* IoU exactly 0.1 (inter 0.1, union 1 + 0.1 - 0.1 = 1.0 exactly) is not merged; output
     * is the reverse of cluster creation order, i.e. CSV order here. */
    rv_box in2[2] = {B(0, 0, 1, 1), B(0, 0, 1, 0.1)};
    rv_wbf(in2, 2, 0.1, out, &n);
    CHECK(n == 2);
    box_is(&out[0], 0, 0, 1, 1);
    box_is(&out[1], 0, 0, 1, 0.1);
    /* Below the threshold: IoU 0.09. */
    rv_box in3[2] = {B(0, 0, 1, 1), B(0, 0, 1, 0.09)};
    rv_wbf(in3, 2, 0.1, out, &n);
    CHECK(n == 2);
    /* Just above: IoU 0.11 merges; y2 = f32(f32(0.11) + 1) / 2 = 0.555 in float32
     * (0.55500000715255737) -> round3 0.555. */
    rv_box in4[2] = {B(0, 0, 1, 1), B(0, 0, 1, 0.11)};
    rv_wbf(in4, 2, 0.1, out, &n);
    CHECK(n == 1);
    box_is(&out[0], 0, 0, 1, 0.555);

    /* Zero-area boxes are dropped, also after clipping; swapped corners are reordered. */
    rv_box in5[3] = {B(0.1, 0.1, 0.1, 0.5), B(-0.2, 0.1, 0.0, 0.3), B(0.3, 0.4, 0.1, 0.2)};
    rv_wbf(in5, 3, 0.1, out, &n);
    CHECK(n == 1);
    box_is(&out[0], 0.1, 0.2, 0.3, 0.4);
    rv_box in6[1] = {B(0.5, 0.5, 0.5, 0.9)};
    rv_wbf(in6, 1, 0.1, out, &n);
    CHECK(n == 0);
    /* Clipping to [0, 1]. */
    rv_box in7[1] = {B(-0.05, 0.2, 1.3, 0.4)};
    rv_wbf(in7, 1, 0.1, out, &n);
    CHECK(n == 1);
    box_is(&out[0], 0, 0.2, 1, 0.4);

    /* Three disjoint boxes: clusters are created C, B, A; output reversed = A, B, C. */
    rv_box in8[3] = {B(0.0, 0, 0.1, 0.1), B(0.3, 0.3, 0.4, 0.4), B(0.7, 0.7, 0.8, 0.8)};
    rv_wbf(in8, 3, 0.1, out, &n);
    CHECK(n == 3);
    box_is(&out[0], 0.0, 0, 0.1, 0.1);
    box_is(&out[1], 0.3, 0.3, 0.4, 0.4);
    box_is(&out[2], 0.7, 0.7, 0.8, 0.8);

    /* Matching is against the cluster's current fused box. CSV order Z, Y, X; processing
     * X, Y, Z. X and Y merge (IoU 0.111) into [0.16, 0, 0.56, 1] (f32: 0.15999999642,
     * 0.56000000238). Z overlaps Y alone with IoU 0.379 but the fused box only with
     * IoU 0.081, so it starts its own cluster. Output: Z (created last) first. */
    rv_box in9[3] = {B(0.5, 0, 0.9, 1), B(0.32, 0, 0.72, 1), B(0, 0, 0.4, 1)};
    rv_wbf(in9, 3, 0.1, out, &n);
    CHECK(n == 2);
    box_is(&out[0], 0.5, 0, 0.9, 1);
    box_is(&out[1], 0.16, 0, 0.56, 1);

    /* Double rounding: 0.1249 -> 0.125 -> "0.12"; 0.1251 -> 0.125 -> "0.12" (direct
     * rounding to 2 decimals would give 0.13). */
    rv_box in10[1] = {B(0.1249, 0.1251, 0.5, 0.6)};
    rv_wbf(in10, 1, 0.1, out, &n);
    CHECK(n == 1);
    box_is(&out[0], 0.125, 0.125, 0.5, 0.6);
    rv_sb s;
    rv_sb_init(&s);
    CHECK(rv_boxtext_list(&s, out, n) == 0);
    CHECK_STR(s.s, "[0.12, 0.12, 0.5, 0.6]");
    rv_sb_free(&s);

    /* round(c, 3) on numpy.float64 is numpy's: rint(c * 1000) / 1000 (numpy 2.4.6 agrees).
     * 0.0005 is stored slightly above the tie, but 0.0005 * 1000 rounds to exactly 0.5 -> 0
     * (Python's round gives 0.001); 0.1005 -> 100.5 -> 100 (Python 0.101);
     * 0.1235 = 0.12349999999999999867 -> 123.5 -> 124 (Python 0.123). */
    CHECK(rv_round3(0.0005) == 0.0);
    CHECK(rv_round3(0.1005) == 0.1);
    CHECK(rv_round3(0.1235) == 0.124);
    CHECK(rv_round3(0.0625) == 0.062); /* exact tie -> even */
    CHECK(rv_round3(0.1875) == 0.188); /* exact tie -> even */
    return check_summary("test_wbf");
}
