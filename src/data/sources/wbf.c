#include "data/sources/wbf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

double rv_round3(double v) {
    /* The fused coordinates are numpy.float64, so upstream's round(c, 3) is numpy's: scale by
     * 10**3 in double, rint (half to even), divide back (0.0005 -> 0.0; Python's round gives
     * 0.001 since 0.0005 is stored slightly above the tie). */
    double y = v * 1000.0;
    y = rint(y);
    return y / 1000.0;
}

static double clip01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

/* bb_iou_array of ensemble-boxes, in float64. */
static double iou(const double *a, const double *b) {
    double xa = a[0] > b[0] ? a[0] : b[0], ya = a[1] > b[1] ? a[1] : b[1];
    double xb = a[2] < b[2] ? a[2] : b[2], yb = a[3] < b[3] ? a[3] : b[3];
    double iw = xb - xa, ih = yb - ya;
    double inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
    double aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (aa + ab - inter);
}

typedef struct {
    double fused[4];
    size_t *members; /* indices into the filtered box array */
    size_t nm;
} cluster;

void rv_wbf(const rv_box *in, size_t n, double iou_thr, rv_box *out, size_t *nout) {
    *nout = 0;
    if (n == 0) return;
    double (*bx)[4] = rv_xmalloc(n * sizeof *bx);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        double x1 = in[i].v[0], y1 = in[i].v[1], x2 = in[i].v[2], y2 = in[i].v[3];
        if (x2 < x1) { double t = x1; x1 = x2; x2 = t; }
        if (y2 < y1) { double t = y1; y1 = y2; y2 = t; }
        x1 = clip01(x1); y1 = clip01(y1); x2 = clip01(x2); y2 = clip01(y2);
        if ((x2 - x1) * (y2 - y1) == 0.0) continue; /* zero-area boxes are dropped */
        bx[nb][0] = x1; bx[nb][1] = y1; bx[nb][2] = x2; bx[nb][3] = y2;
        nb++;
    }
    cluster *cl = rv_xcalloc(nb ? nb : 1, sizeof *cl);
    size_t nc = 0;
    /* Equal scores: numpy's argsort()[::-1] visits the boxes in reverse input order. */
    for (size_t k = nb; k-- > 0;) {
        const double *b = bx[k];
        size_t best = 0;
        double best_iou = -1.0;
        for (size_t c = 0; c < nc; c++) {
            double v = iou(cl[c].fused, b);
            if (v > best_iou) { best_iou = v; best = c; } /* first maximum wins */
        }
        if (nc > 0 && best_iou > iou_thr) {
            cluster *c = &cl[best];
            c->members[c->nm++] = k;
            /* get_weighted_box: float32 accumulator, each add done in float64 then stored
             * as float32; division by the float count in float32. */
            float acc[4] = {0, 0, 0, 0};
            for (size_t m = 0; m < c->nm; m++)
                for (int j = 0; j < 4; j++) acc[j] = (float)((double)acc[j] + bx[c->members[m]][j]);
            float cnt = (float)c->nm;
            for (int j = 0; j < 4; j++) c->fused[j] = (double)(acc[j] / cnt);
        } else {
            cluster *c = &cl[nc++];
            c->members = rv_xmalloc(nb * sizeof *c->members);
            c->members[0] = k;
            c->nm = 1;
            memcpy(c->fused, b, sizeof c->fused); /* single box keeps its float64 values */
        }
    }
    /* Equal confidences again: output is the reverse of cluster creation order. */
    for (size_t c = nc; c-- > 0;) {
        rv_box *o = &out[(*nout)++];
        o->int_mask = 0;
        for (int j = 0; j < 4; j++) o->v[j] = rv_round3(cl[c].fused[j]);
        free(cl[c].members);
    }
    free(cl);
    free(bx);
}
