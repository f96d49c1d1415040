/* Report text fallback: section extraction (data.md §1.3, §3), Python capitalize(), and each
 * rule of the offline prior-statement filter (docs/data/readers-mimic-chexpert.md). */
#include <stdlib.h>

#include "check.h"
#include "core/error.h"
#include "data/sources/report_text.h"

static void check_take(char *got, const char *want, int line) {
    if (!want) {
        if (got) fprintf(stderr, "line %d: want NULL, got \"%s\"\n", line, got);
        CHECK(got == NULL);
    } else {
        if (!got || strcmp(got, want) != 0) fprintf(stderr, "line %d:\n", line);
        CHECK_STR(got, want);
    }
    free(got);
}
#define TAKE(got, want) check_take((got), (want), __LINE__)
#define RULES(in, want) TAKE(rv_report_filter_rules(in), want)

static void test_raw(void) {
    /* MIMIC: first non-NaN section only; "\n" deleted without a space */
    TAKE(rv_report_mimic_raw("\n Heart normal.\n Lungs clear.", "Impr.", "Last."), " Heart normal. Lungs clear.");
    TAKE(rv_report_mimic_raw("", "Impr.\nmore", "Last."), "Impr.more");
    TAKE(rv_report_mimic_raw("NaN", "", "Last."), "Last."); /* pandas reads "NaN" as missing */
    TAKE(rv_report_mimic_raw("", "", ""), "");
    TAKE(rv_report_mimic_raw(" ", "Impr.", ""), " "); /* a blank-but-not-empty cell is a value */
    /* CheXpert-Plus: concatenated without separator, capitalize() lower-cases the rest */
    TAKE(rv_report_chexpert_plus_raw("FINDINGS: A.\nB.", "IMPRESSION: OK.", ""), "Findings: a.b.impression: ok.");
    TAKE(rv_report_chexpert_plus_raw("", "null", "end of IMPRESSION"), "End of impression");
    char s[] = "\xc3\x89" "CHO \xc3\x80" "B \xd0\x94\xd0\x90 \xce\xa3"; /* ÉCHO ÀB ДА Σ */
    rv_py_capitalize(s);
    CHECK_STR(s, "\xc3\x89" "cho \xc3\xa0" "b \xd0\xb4\xd0\xb0 \xcf\x83");   /* Écho àb да σ */
    char t[] = "\xc3\xa9t\xc3\x89 1st";                                     /* étÉ 1st */
    rv_py_capitalize(t);
    CHECK_STR(t, "\xc3\x89t\xc3\xa9 1st");
}

static void test_rules(void) {
    /* kept as is (sentences re-joined with one space) */
    RULES(" The heart is normal.  Lungs clear, no effusion.", "The heart is normal. Lungs clear, no effusion.");
    /* history / indication / technique / view sentences dropped */
    RULES("INDICATION: Cough. PA and lateral views of the chest were obtained. Heart size is normal.",
          "Heart size is normal.");
    RULES("Portable AP upright chest radiograph. No pneumothorax.", "No pneumothorax.");
    /* a leading comparison clause is removed, the rest re-capitalised */
    RULES("As compared to the previous radiograph, the lungs are well expanded.", "The lungs are well expanded.");
    /* a trailing comparison clause is removed, the sentence re-punctuated */
    RULES("Small left effusion, similar to prior.", "Small left effusion.");
    /* leading temporal modifiers stripped (with an adverb) */
    RULES("Stable cardiomegaly. Slightly increased bibasilar opacities.", "Cardiomegaly. Bibasilar opacities.");
    /* modifier after an article: dropped and the article fixed */
    RULES("There is a new right pleural effusion.", "There is a right pleural effusion.");
    RULES("There is an increased opacity.", "There is an opacity.");
    RULES("There is a new effusion.", "There is an effusion.");
    /* "again seen" -> "seen" */
    RULES("Cardiomegaly is again seen.", "Cardiomegaly is seen.");
    /* a sentence that still speaks about change is dropped */
    RULES("Heart size is unchanged. No new consolidation. Lungs clear.", "Lungs clear.");
    RULES("The lines have been removed. Endotracheal tube ends 4 cm above the carina.",
          "Endotracheal tube ends 4 cm above the carina.");
    /* de-identified placeholders refer to dates and people */
    RULES("Findings were discussed with Dr. ___ at 10:00. No effusion.", "No effusion.");
    /* decimals and abbreviations do not end sentences */
    RULES("A 1.5 cm nodule, e.g. a granuloma. No effusion", "A 1.5 cm nodule, e.g. a granuloma. No effusion.");
    /* lower-case (CheXpert-Plus) input is re-capitalised per sentence */
    RULES("findings: lungs are clear. unchanged mild cardiomegaly.", "Findings: lungs are clear. Mild cardiomegaly.");
    /* nothing left -> NULL, and never text containing "None" */
    RULES("Comparison: ___. Unchanged since prior.", NULL);
    RULES("", NULL);
    RULES("None of the lines are malpositioned.", NULL);
    /* word boundaries: "newer" and "prioritized" are not "new" / "prior" */
    RULES("Renewed effusion protocol. Newer device in place.", "Renewed effusion protocol. Newer device in place.");
}

static void test_apply(void) {
    TAKE(rv_report_apply_filter(RV_REPORT_FILTER_NONE, rv_xstrdup("Stable cardiomegaly.")), "Stable cardiomegaly.");
    TAKE(rv_report_apply_filter(RV_REPORT_FILTER_RULES, rv_xstrdup("Stable cardiomegaly.")), "Cardiomegaly.");
    TAKE(rv_report_apply_filter(RV_REPORT_FILTER_NONE, rv_xstrdup("")), NULL);
    TAKE(rv_report_apply_filter(RV_REPORT_FILTER_RULES, NULL), NULL);
}

int main(void) {
    test_raw();
    test_rules();
    test_apply();
    return check_summary("test_report_text");
}
