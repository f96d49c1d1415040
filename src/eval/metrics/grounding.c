#include "eval/metrics/grounding.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics/npstat.h"
#include "eval/metrics/pytext.h"

static int is_run_char(char c) { return (c >= '0' && c <= '9') || c == '.'; }

/* Python float() of a run of digits and dots: valid when it has at most one dot and a digit. */
static int run_value(const char *p, size_t n, double *v) {
    int dots = 0, digits = 0;
    for (size_t i = 0; i < n; i++) { if (p[i] == '.') dots++; else digits++; }
    if (dots > 1 || digits == 0) return -1;
    char buf[64];
    if (n >= sizeof buf) {
        char *t = rv_xstrndup(p, n);
        *v = strtod(t, NULL);
        free(t);
    } else {
        memcpy(buf, p, n);
        buf[n] = '\0';
        *v = strtod(buf, NULL);
    }
    return 0;
}

size_t rv_boxes_parse(const char *s, size_t n, rv_eval_box **out, size_t *bad) {
    size_t cnt = 0, cap = 0;
    *out = NULL;
    if (bad) *bad = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '[') { i++; continue; }
        /* the pattern is deterministic (runs stop at the first non-run character), so a
         * single forward attempt decides a match at this '[' */
        size_t j = i + 1;
        const char *rp[4];
        size_t rl[4];
        int ok = 1;
        for (int k = 0; k < 4 && ok; k++) {
            if (k > 0) {
                if (j >= n || s[j] != ',') { ok = 0; break; }
                j++;
                size_t w;
                while (j < n && (w = rv_py_space_len(s + j, n - j)) > 0) j += w;
            }
            size_t b = j;
            while (j < n && is_run_char(s[j])) j++;
            if (j == b) { ok = 0; break; }
            rp[k] = s + b;
            rl[k] = j - b;
        }
        if (!ok || j >= n || s[j] != ']') { i++; continue; }
        double v[4];
        int good = 1;
        for (int k = 0; k < 4; k++) if (run_value(rp[k], rl[k], &v[k]) != 0) good = 0;
        if (good) {
            if (cnt == cap) { cap = cap ? cap * 2 : 4; *out = rv_xrealloc(*out, cap * sizeof **out); }
            (*out)[cnt].x1 = v[0]; (*out)[cnt].y1 = v[1]; (*out)[cnt].x2 = v[2]; (*out)[cnt].y2 = v[3];
            cnt++;
        } else if (bad) {
            (*bad)++;
        }
        i = j + 1;
    }
    return cnt;
}

static double dmax(double a, double b) { return a > b ? a : b; }
static double dmin(double a, double b) { return a < b ? a : b; }

double rv_box_iou(const rv_eval_box *a, const rv_eval_box *b) {
    double x1 = dmax(a->x1, b->x1), y1 = dmax(a->y1, b->y1);
    double x2 = dmin(a->x2, b->x2), y2 = dmin(a->y2, b->y2);
    double inter = dmax(0, x2 - x1) * dmax(0, y2 - y1);
    double aa = (a->x2 - a->x1) * (a->y2 - a->y1);
    double ab = (b->x2 - b->x1) * (b->y2 - b->y1);
    double u = aa + ab - inter;
    return u != 0 ? inter / u : 0.0;
}

void rv_ground_score(const rv_eval_box *pred, size_t np, const rv_eval_box *gt, size_t ng, double thr,
                     rv_ground_sample *out) {
    memset(out, 0, sizeof *out);
    if (np == 0 || ng == 0) return;
    double *iou = rv_xmalloc(np * ng * sizeof *iou);
    double sum = 0;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < ng; j++) { iou[i * ng + j] = rv_box_iou(&pred[i], &gt[j]); }
    /* np.sum over the row-major matrix: pairwise summation */
    sum = rv_np_sum(iou, np * ng);
    out->iou_sum = sum;
    out->pairs = (double)(np * ng);
    unsigned char *matched = rv_xcalloc(ng, 1);
    /* recall/precision points with the sentinels: r[0]=0, p[0]=0, ..., r[np+1]=1, p[np+1]=0 */
    double *r = rv_xmalloc((np + 2) * sizeof *r), *p = rv_xmalloc((np + 2) * sizeof *p);
    double tp = 0, fp = 0;
    r[0] = 0; p[0] = 0;
    for (size_t i = 0; i < np; i++) {
        size_t best = 0;
        for (size_t j = 1; j < ng; j++) if (iou[i * ng + j] > iou[i * ng + best]) best = j;
        if (iou[i * ng + best] >= thr && !matched[best]) { matched[best] = 1; tp += 1; }
        else fp += 1;
        r[i + 1] = tp / (double)ng;
        p[i + 1] = tp / (tp + fp);
    }
    r[np + 1] = 1.0; p[np + 1] = 0.0;
    for (size_t i = np + 1; i > 0; i--) p[i - 1] = dmax(p[i - 1], p[i]);
    /* np.sum of the terms where recall changes */
    double *terms = rv_xmalloc((np + 1) * sizeof *terms);
    size_t nt = 0;
    for (size_t i = 0; i + 1 < np + 2; i++)
        if (r[i + 1] != r[i]) terms[nt++] = (r[i + 1] - r[i]) * p[i + 1];
    out->ap = rv_np_sum(terms, nt);
    free(terms); free(r); free(p); free(matched); free(iou);
}
