/* Box text (data.md §0.2): expected strings are the spec's own examples and Python's
 * str(round(v, 2)) written out by hand. */
#include "check.h"
#include "data/instruct/boxtext.h"

static void coord(double v, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    rv_boxtext_coord(&b, v);
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
