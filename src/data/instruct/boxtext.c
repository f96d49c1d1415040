#include "data/instruct/boxtext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void rv_boxtext_coord(rv_sb *out, double v) {
    char buf[64];
    if (!isfinite(v)) { /* Python: round(inf) raises; never produced by the readers */
        rv_sb_puts(out, isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    /* glibc printf is correctly rounded on the exact binary value, ties to even, which is
     * what CPython's round(x, 2) does (it rounds the exact decimal expansion). */
    snprintf(buf, sizeof buf, "%.2f", v);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0' && n >= 2 && buf[n - 2] != '.') buf[--n] = '\0';
    rv_sb_append(out, buf, n);
}

double rv_round2_numpy(double v) {
    /* Written as numpy's around() does it for decimals >= 0: multiply, rint, divide; each step
     * one IEEE double operation (rint follows the default round-to-nearest-even mode). */
    double y = v * 100.0;
    y = rint(y);
    return y / 100.0;
}

void rv_boxtext_coord_numpy(rv_sb *out, double v) {
    /* k / 100 is the double nearest to the decimal k/100, so "%.2f" of it prints k exactly and
     * the stripped form is numpy's shortest repr; -0.0 stays "-0.0" as in numpy. */
    rv_boxtext_coord(out, rv_round2_numpy(v));
}

static void coord_int(rv_sb *out, double v) {
    /* An integer JSON literal: Python keeps an int, printed without a decimal point. */
    rv_sb_printf(out, "%.0f", v);
}

void rv_boxtext_box(rv_sb *out, const rv_box *b) {
    rv_sb_putc(out, '[');
    for (int i = 0; i < 4; i++) {
        if (i) rv_sb_puts(out, ", ");
        if (b->int_mask & (1u << i)) coord_int(out, b->v[i]);
        else if (b->int_mask & RV_BOX_NUMPY) rv_boxtext_coord_numpy(out, b->v[i]);
        else rv_boxtext_coord(out, b->v[i]);
    }
    rv_sb_putc(out, ']');
}

int rv_boxtext_list(rv_sb *out, const rv_box *boxes, size_t n) {
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) rv_sb_puts(out, i + 1 == n ? " and " : ", ");
        rv_boxtext_box(out, &boxes[i]);
    }
    return 0;
}

void rv_boxtext_box_fixed2(rv_sb *out, const rv_box *b) {
    rv_sb_putc(out, '[');
    for (int i = 0; i < 4; i++) {
        if (i) rv_sb_puts(out, ", ");
        rv_sb_printf(out, "%.2f", b->v[i]);
    }
    rv_sb_putc(out, ']');
}
