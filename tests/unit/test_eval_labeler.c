/* The rule-based labeler against the hand-labelled sentences of
 * tests/fixtures/eval/labeler_sentences.tsv: prints its measured accuracy (quoted in
 * docs/metrics.md) and guards it against regressions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/label_f1.h"

static const char *const codes[13] = {"EC", "CM", "LO", "LL", "ED", "CO", "PN", "AT", "PX", "PE", "PO", "FR", "SD"};

static int parse_truth(char *spec, int truth[13]) {
    for (int i = 0; i < 13; i++) truth[i] = RV_CHX_BLANK;
    for (char *tok = strtok(spec, ";"); tok; tok = strtok(NULL, ";")) {
        char *colon = strchr(tok, ':');
        if (!colon) return -1;
        *colon = '\0';
        int lab = -1;
        for (int i = 0; i < 13; i++) if (strcmp(tok, codes[i]) == 0) lab = i;
        if (lab < 0) return -1;
        const char *v = colon + 1;
        truth[lab] = strcmp(v, "pos") == 0 ? RV_CHX_POS : strcmp(v, "neg") == 0 ? RV_CHX_NEG
                   : strcmp(v, "unc") == 0 ? RV_CHX_UNC : -9;
        if (truth[lab] < 0) return -1;
    }
    return 0;
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/eval/labeler_sentences.tsv", RADVLM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return check_summary("test_eval_labeler");
    char line[2048];
    int n = 0, cells = 0, cells_ok = 0, ment = 0, ment_ok = 0, exact = 0, bin_ok = 0;
    int cover[13][4] = {{0}}, cls_n[4] = {0}, cls_ok[4] = {0};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        CHECK(tab != NULL);
        if (!tab) continue;
        *tab = '\0';
        int truth[13], got[RV_CHX_NLABELS];
        CHECK(parse_truth(tab + 1, truth) == 0);
        rv_chx_label(line, strlen(line), got);
        n++;
        int all = 1;
        for (int l = 0; l < 13; l++) {
            cover[l][truth[l]]++;
            cells++;
            if (got[l] == truth[l]) cells_ok++; else all = 0;
            int tb = truth[l] == RV_CHX_POS || truth[l] == RV_CHX_UNC;
            int gb = got[l] == RV_CHX_POS || got[l] == RV_CHX_UNC;
            bin_ok += tb == gb;
            if (truth[l] != RV_CHX_BLANK || got[l] != RV_CHX_BLANK) {
                ment++;
                ment_ok += got[l] == truth[l];
            }
            if (truth[l] != RV_CHX_BLANK) {
                cls_n[truth[l]]++;
                cls_ok[truth[l]] += got[l] == truth[l];
            }
            if (getenv("RV_LABELER_VERBOSE") && got[l] != truth[l])
                fprintf(stderr, "  %s: got %d want %d | %s\n", codes[l], got[l], truth[l], line);
        }
        exact += all;
    }
    fclose(f);
    printf("labeler: %d sentences; cell accuracy %.4f (%d/%d); rrg-binary accuracy %.4f; "
           "accuracy over mentioned cells %.4f (%d/%d); exact sentences %.4f\n",
           n, (double)cells_ok / cells, cells_ok, cells, (double)bin_ok / cells,
           (double)ment_ok / ment, ment_ok, ment, (double)exact / n);
    printf("labeler: recall by true class: positive %.3f (%d), negative %.3f (%d), uncertain %.3f (%d)\n",
           (double)cls_ok[1] / cls_n[1], cls_n[1], (double)cls_ok[2] / cls_n[2], cls_n[2],
           (double)cls_ok[3] / cls_n[3], cls_n[3]);
    /* the set must cover each observation, and negation and uncertainty */
    CHECK(n >= 150);
    for (int l = 0; l < 13; l++) CHECK(cover[l][RV_CHX_POS] > 0 && cover[l][RV_CHX_NEG] > 0);
    CHECK(cls_n[RV_CHX_UNC] >= 20);
    /* regression guards, a little under the accuracy measured when the rules were written */
    CHECK((double)cells_ok / cells >= 0.97);
    CHECK((double)ment_ok / ment >= 0.80);
    CHECK((double)cls_ok[RV_CHX_NEG] / cls_n[RV_CHX_NEG] >= 0.80);
    CHECK((double)cls_ok[RV_CHX_UNC] / cls_n[RV_CHX_UNC] >= 0.60);

    /* hand-computed label F1: two reports, 14 labels
     * ref A: Cardiomegaly, Pleural Effusion      hyp A: Cardiomegaly
     * ref B: (No Finding)                        hyp B: Edema
     * cells: CM tp=1; PE fn=1; NF fn=1 (ref B has No Finding, hyp B does not); ED fp=1
     * micro F1 = 2*1 / (2*1 + 1 + 2) = 0.4
     * per-label F1: CM 1, PE 0, NF 0, ED 0, others 0 -> macro = 1/14
     * top5 (CM, ED, CO, AT, PE): tp 1, fp 1, fn 1 -> micro 0.5; macro = (1 + 0 + 0 + 0 + 0)/5 = 0.2 */
    rv_label_f1 s;
    rv_label_f1_init(&s);
    rv_label_f1_add(&s, (1u << 1) | (1u << 9), 1u << 1);
    rv_label_f1_add(&s, 1u << 13, 1u << 4);
    double r[4];
    rv_label_f1_result(&s, r);
    CHECK_NEAR(r[0], 0.4, 1e-15);
    CHECK_NEAR(r[1], 1.0 / 14.0, 1e-15);
    CHECK_NEAR(r[2], 0.5, 1e-15);
    CHECK_NEAR(r[3], 0.2, 1e-15);

    /* report-level aggregation and No Finding */
    int c[RV_CHX_NLABELS];
    const char *rep = "No pleural effusion. Small left pleural effusion. Lungs are clear.";
    rv_chx_label(rep, strlen(rep), c);
    CHECK(c[9] == RV_CHX_POS); /* positive wins over negative */
    CHECK(c[RV_CHX_NO_FINDING] == RV_CHX_BLANK);
    const char *clear = "Lungs are clear. No pneumothorax. Endotracheal tube in place.";
    rv_chx_label(clear, strlen(clear), c);
    CHECK(c[RV_CHX_NO_FINDING] == RV_CHX_POS); /* support devices do not block No Finding */
    CHECK(c[12] == RV_CHX_POS);
    const char *other = "Emphysema. No effusion.";
    rv_chx_label(other, strlen(other), c);
    CHECK(c[RV_CHX_NO_FINDING] == RV_CHX_BLANK); /* an "other finding" blocks No Finding */
    return check_summary("test_eval_labeler");
}
