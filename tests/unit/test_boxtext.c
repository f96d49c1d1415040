/* Box text (data.md §0.2): expected strings are the spec's own examples and Python's
 * str(round(v, 2)) written out by hand; the numpy cases are numpy's str(round(np.float64(v), 2))
 * (checked with numpy 2.4.6) with the arithmetic written out next to each. */
#include "check.h"
#include "data/instruct/boxtext.h"

static void coord(double v, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    rv_boxtext_coord(&b, v);
    CHECK_STR(b.s, want);
    rv_sb_free(&b);
}

static void coord_np(double v, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    rv_boxtext_coord_numpy(&b, v);
    CHECK_STR(b.s, want);
    rv_sb_free(&b);
}

static void list(const rv_box *bx, size_t n, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    CHECK(rv_boxtext_list(&b, bx, n) == 0);
    CHECK_STR(b.s, want);
    rv_sb_free(&b);
}

int main(void) {
    coord(0.5, "0.5");
    coord(0.1234, "0.12");
    coord(0.0, "0.0");
    coord(1.0, "1.0");
    coord(0.125, "0.12");   /* exact binary tie -> half-even */
    coord(0.135, "0.14");   /* binary value lies above the tie */
    coord(-0.001, "-0.0");
    coord(0.1, "0.1");
    coord(0.105, "0.1");    /* 0.105 is stored as 0.10499999999999999611 */
    coord(0.995, "0.99");   /* 0.99499999999999999556 */
    coord(0.999, "1.0");
    coord(1.02, "1.02");
    coord(-0.013, "-0.01");

    /* numpy: v * 100 in double, rint (half to even), / 100. The three ties of the issue:
     *   0.405 = 0.40500000000000002665 -> x100 = 40.5 exactly after rounding -> 40 -> "0.4"
     *         (Python rounds the exact value, which lies above the tie: "0.41");
     *   0.435 = 0.43499999999999999778 -> 43.5 -> 44 -> "0.44" (Python "0.43");
     *   0.325 = 0.32500000000000001110 -> 32.5 -> 32 -> "0.32" (Python "0.33"). */
    coord(0.405, "0.41");
    coord(0.435, "0.43");
    coord(0.325, "0.33");
    coord_np(0.405, "0.4");
    coord_np(0.435, "0.44");
    coord_np(0.325, "0.32");
    CHECK(rv_round2_numpy(0.405) == 0.4 && rv_round2_numpy(0.435) == 0.44 && rv_round2_numpy(0.325) == 0.32);
    coord_np(0.995, "1.0");   /* 0.99499999999999999556 x100 -> 99.5 -> 100 (Python "0.99") */
    /* Where the scaled value is no tie both agree. */
    coord_np(0.125, "0.12");  /* 12.5 exactly -> even 12 */
    coord_np(0.135, "0.14");  /* 13.5 -> even 14 */
    coord_np(0.1234, "0.12"); /* 12.34 -> 12 */
    coord_np(-0.001, "-0.0"); /* -0.1 -> rint -0.0 -> -0.0 / 100 */
    coord_np(1.0, "1.0");
    coord_np(0.0, "0.0");

    /* A box flagged RV_BOX_NUMPY renders the numpy way; unflagged, Python's. */
    rv_box tie = {{0.325, 0.405, 0.435, 0.5}, 0};
    list(&tie, 1, "[0.33, 0.41, 0.43, 0.5]");
    tie.int_mask = RV_BOX_NUMPY;
    list(&tie, 1, "[0.32, 0.4, 0.44, 0.5]");

    rv_box a = {{0.21, 0.19, 0.3, 0.23}, 0};
    rv_box b = {{0.7, 0.18, 0.79, 0.23}, 0};
    rv_box c = {{0.0, 1.0, 0.5, 0.25}, 0};
    rv_box boxes[3] = {a, b, c};
    list(boxes, 1, "[0.21, 0.19, 0.3, 0.23]");
    list(boxes, 2, "[0.21, 0.19, 0.3, 0.23] and [0.7, 0.18, 0.79, 0.23]");
    list(boxes, 3, "[0.21, 0.19, 0.3, 0.23], [0.7, 0.18, 0.79, 0.23] and [0.0, 1.0, 0.5, 0.25]");

    /* PadChest-GR integer literals print as Python ints. */
    rv_box ib = {{0, 0.4567, 1, 1.0}, (1u << 0) | (1u << 2)};
    list(&ib, 1, "[0, 0.46, 1, 1.0]");

    rv_sb s;
    rv_sb_init(&s);
    CHECK(rv_boxtext_list(&s, boxes, 0) == -1); /* P10: caller drops the sample */
    CHECK(s.len == 0);
    rv_boxtext_box_fixed2(&s, &c);
    CHECK_STR(s.s, "[0.00, 1.00, 0.50, 0.25]");
    rv_sb_free(&s);
    return check_summary("test_boxtext");
}
