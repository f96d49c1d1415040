/* The labeler's scope rules on hand-worked sentences (src/eval/metrics/chexpert_labeler.c), the
 * parts its per-sentence indexes replaced: a pre-negation reaches 8 words ("no", window 8), a
 * terminator ("but") between trigger and mention blocks it, a pseudo-trigger ("no change")
 * disables the triggers that start inside it, an unmention overlapping a mention cancels it, and
 * a hostile 200,000-word sentence of triggers and mentions still gets the hand-derived labels. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/metrics/chexpert_labeler.h"

enum { EFF = 9, CM = 1 }; /* Pleural Effusion, Cardiomegaly */

static int label_of(const char *s, int lab) {
    int c[RV_CHX_NLABELS];
    rv_chx_label(s, strlen(s), c);
    return c[lab];
}

int main(void) {
    CHECK(label_of("pleural effusion.", EFF) == RV_CHX_POS);
    CHECK(label_of("no pleural effusion.", EFF) == RV_CHX_NEG);
    /* the mention phrase is "effusion": "no" is word 0, "effusion" word 8: 8 words away, inside
     * the window */
    CHECK(label_of("no a b c d e f g effusion.", EFF) == RV_CHX_NEG);
    /* word 9: outside it */
    CHECK(label_of("no a b c d e f g h effusion.", EFF) == RV_CHX_POS);
    /* "pericardial effusion" is an unmention of Pleural Effusion overlapping its mention: no label */
    CHECK(label_of("small pericardial effusion.", EFF) == RV_CHX_BLANK);
    CHECK(label_of("small pericardial effusion. small effusion.", EFF) == RV_CHX_POS);
    /* a terminator between them blocks the negation */
    CHECK(label_of("no edema but pleural effusion.", EFF) == RV_CHX_POS);
    CHECK(label_of("no edema but pleural effusion.", 4) == RV_CHX_NEG); /* Edema, before "but" */
    /* "no change" is a pseudo-trigger: its "no" negates nothing */
    CHECK(label_of("no change in the pleural effusion.", EFF) == RV_CHX_POS);
    /* a sentence end ends every scope */
    CHECK(label_of("no edema. pleural effusion.", EFF) == RV_CHX_POS);

    /* Hostile: one 200,000-word sentence, "no" every 10 words and a mention at the very end 9
     * words after the last "no" (outside its window; every earlier "no" is farther), so the
     * mention is positive; the same with the last "no" 8 words before it is negative. */
    size_t cap = 2000000;
    char *s = malloc(cap), *t = malloc(cap);
    size_t n = 0;
    for (int k = 0; k < 20000; k++) n += (size_t)snprintf(s + n, cap - n, "no a b c d e f g h i ");
    memcpy(t, s, n);
    size_t nt = n;
    n += (size_t)snprintf(s + n, cap - n, "no a b c d e f g h cardiomegaly");
    nt += (size_t)snprintf(t + nt, cap - nt, "no a b c d e f g cardiomegaly");
    int c[RV_CHX_NLABELS];
    rv_chx_label(s, n, c);
    CHECK(c[CM] == RV_CHX_POS); /* "cardiomegaly" is 9 words after the last "no" */
    rv_chx_label(t, nt, c);
    CHECK(c[CM] == RV_CHX_NEG);
    free(s);
    free(t);
    return check_summary("test_eval_labeler_scopes");
}
