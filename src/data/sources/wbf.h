/* VinDr-CXR weighted box fusion (data.md §5.3): the behaviour of ensemble-boxes 1.0.9
 * weighted_boxes_fusion with one model, all scores 1, iou_thr 0.1, conf_type 'avg', followed
 * by upstream's round(c, 3). */
#ifndef RADVLM_DATA_SOURCES_WBF_H
#define RADVLM_DATA_SOURCES_WBF_H

#include <stddef.h>

#include "data/sources/sample.h"

/* in: n boxes already normalised (x by Columns, y by Rows), in CSV order.
 * out: room for n boxes; *nout = number of fused boxes (0 when every box had zero area).
 * Order and arithmetic follow §5.3: reverse input order, greedy clustering with IoU > thr
 * against each cluster's current fused box, float32 mean, output in reverse cluster
 * creation order, each coordinate rounded to 3 decimals the numpy way (rv_round3). */
void rv_wbf(const rv_box *in, size_t n, double iou_thr, rv_box *out, size_t *nout);

/* upstream's round(c, 3) on a numpy.float64: numpy's rint(v * 1000) / 1000 (half to even on
 * the scaled double, not Python's correctly rounded round). */
double rv_round3(double v);

#endif
