/* Box text as the instruction answers show it (data.md §0.2) and as the LLM conversation
 * prompts show it (process_sbb, §11.2). */
#ifndef RADVLM_DATA_INSTRUCT_BOXTEXT_H
#define RADVLM_DATA_INSTRUCT_BOXTEXT_H

#include <stddef.h>

#include "core/strbuf.h"
#include "data/sources/sample.h"

/* Python str(round(v, 2)): "%.2f" on the exact binary value (half-even on exact ties), then
 * trailing zeros stripped keeping one decimal ("0.10" -> "0.1", "-0.00" -> "-0.0"). */
void rv_boxtext_coord(rv_sb *out, double v);
/* numpy's round(v, 2) on a float64 (np.round, np.float64.__round__): v * 100 in IEEE double,
 * rint (half to even on the scaled value), then / 100. Ties of the scaled value make it differ
 * from Python's round: 0.405 -> 0.4 (Python 0.41), 0.435 -> 0.44 (Python 0.43). */
double rv_round2_numpy(double v);
/* str(round(np.float64(v), 2)): rv_round2_numpy printed as the shortest decimal ("0.4", "-0.0"). */
void rv_boxtext_coord_numpy(rv_sb *out, double v);
/* "[a, b, c, d]"; coordinates flagged in int_mask print as integers ("0", "1"); a box flagged
 * RV_BOX_NUMPY rounds its other coordinates the numpy way. */
void rv_boxtext_box(rv_sb *out, const rv_box *b);
/* Several boxes joined as "A, B and C" (no Oxford comma). Returns -1 for an empty list
 * (upstream raises; callers drop the sample and count it, P10). */
int rv_boxtext_list(rv_sb *out, const rv_box *boxes, size_t n);
/* process_sbb form: "[0.10, 0.20, 0.30, 0.40]" with fixed 2 decimals. */
void rv_boxtext_box_fixed2(rv_sb *out, const rv_box *b);

#endif
