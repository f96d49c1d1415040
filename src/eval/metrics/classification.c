#include "eval/metrics/classification.h"

#include <string.h>

#include "eval/metrics/npstat.h"

const char *const rv_cls_labels[RV_CLS_NLABELS] = {
    "atelectasis", "cardiomegaly", "consolidation", "edema", "enlarged cardiomediastinum",
    "fracture", "lung lesion", "lung opacity", "pleural effusion", "pleural other", "pneumonia",
    "pneumothorax", "support devices"};

/* ASCII lower-casing is enough here: no non-ASCII character lower-cases into a string that
 * contains one of these ASCII label names except through U+212A (Kelvin, "k"), and no label
 * has a k. */
static int contains_ci(const char *s, size_t n, const char *lab) {
    size_t l = strlen(lab);
    if (l > n) return 0;
    for (size_t i = 0; i + l <= n; i++) {
        size_t j = 0;
        for (; j < l; j++) {
            char c = s[i + j];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != lab[j]) break;
        }
        if (j == l) return 1;
    }
    return 0;
}

unsigned rv_cls_parse(const char *answer, size_t len) {
    unsigned bits = 0;
    for (int i = 0; i < RV_CLS_NLABELS; i++)
        if (contains_ci(answer, len, rv_cls_labels[i])) bits |= 1u << i;
    return bits;
}

unsigned rv_cls_truth(const char *const *names, size_t n) {
    unsigned bits = 0;
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(names[k]);
        for (int i = 0; i < RV_CLS_NLABELS; i++)
            if (strlen(rv_cls_labels[i]) == l && contains_ci(names[k], l, rv_cls_labels[i]))
                bits |= 1u << i;
    }
    return bits;
}

void rv_prf_counts_init(rv_prf_counts *c, int nlabels) {
    memset(c, 0, sizeof *c);
    c->nlabels = nlabels;
}

void rv_prf_counts_add(rv_prf_counts *c, unsigned truth, unsigned pred) {
    for (int i = 0; i < c->nlabels; i++) {
        unsigned t = (truth >> i) & 1u, p = (pred >> i) & 1u;
        c->tp[i] += (double)(t & p);
        c->fp[i] += (double)(p & !t);
        c->fn[i] += (double)(t & !p);
    }
}

static double divz(double a, double b) { return b > 0 ? a / b : 0.0; }

void rv_prf_report_compute(const rv_prf_counts *c, rv_prf_report *o) {
    memset(o, 0, sizeof *o);
    double tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < c->nlabels; i++) {
        o->p[i] = divz(c->tp[i], c->tp[i] + c->fp[i]);
        o->r[i] = divz(c->tp[i], c->tp[i] + c->fn[i]);
        o->f[i] = divz(2 * c->tp[i], (c->tp[i] + c->fn[i]) + (c->tp[i] + c->fp[i]));
        tp += c->tp[i]; fp += c->fp[i]; fn += c->fn[i];
    }
    o->p_micro = divz(tp, tp + fp);
    o->r_micro = divz(tp, tp + fn);
    o->f_micro = divz(2 * tp, (tp + fn) + (tp + fp));
    o->p_macro = rv_np_mean(o->p, (size_t)c->nlabels);
    o->r_macro = rv_np_mean(o->r, (size_t)c->nlabels);
    o->f_macro = rv_np_mean(o->f, (size_t)c->nlabels);
}
