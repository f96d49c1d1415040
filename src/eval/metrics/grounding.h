/* Grounding metrics as upstream computes them (compute_metrics_tasks.py::evaluate_boxes):
 * boxes parsed from the answer by upstream's pattern, IoU, greedy matching in prediction order
 * at IoU >= 0.5 without fallback to a second-best box, VOC all-point AP per sample, mAP_0.5 =
 * mean AP over samples, avg_iou = sum of all pairwise IoUs / number of pairs over all samples. */
#ifndef RADVLM_EVAL_GROUNDING_H
#define RADVLM_EVAL_GROUNDING_H

#include <stddef.h>

typedef struct rv_eval_box {
    double x1, y1, x2, y2;
} rv_eval_box;

/* Finds every "[a, b, c, d]" (runs of digits and dots; optional whitespace after each comma
 * only) in textual order. A run that is not a number (e.g. "0.1.2", "."), where upstream's
 * float() raises, is skipped and counted in *bad. Returns the number of boxes (malloc'd). */
size_t rv_boxes_parse(const char *text, size_t len, rv_eval_box **out, size_t *bad);

/* IoU; 0 when the union is 0 (upstream divides by zero). */
double rv_box_iou(const rv_eval_box *a, const rv_eval_box *b);

typedef struct rv_ground_sample {
    double ap;        /* average precision at 0.5 */
    double iou_sum;   /* sum of IoU over all pred x GT pairs */
    double pairs;     /* |P| * |G| (0 when either side is empty) */
} rv_ground_sample;

void rv_ground_score(const rv_eval_box *pred, size_t np, const rv_eval_box *gt, size_t ng, double thr,
                     rv_ground_sample *out);

#endif
