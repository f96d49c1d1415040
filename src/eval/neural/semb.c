#include "eval/neural/semb.h"

#include <math.h>

double rv_semb_cosine(const float *a, const float *b, int dim) {
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < dim; d++) {
        ab += (double)a[d] * b[d];
        aa += (double)a[d] * a[d];
        bb += (double)b[d] * b[d];
    }
    if (aa == 0 || bb == 0) return 0.0;
    return ab / (sqrt(aa) * sqrt(bb));
}
