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
/* "[a, b, c, d]"; coordinates flagged in int_mask print as integers ("0", "1"). */
void rv_boxtext_box(rv_sb *out, const rv_box *b);
/* Several boxes joined as "A, B and C" (no Oxford comma). Returns -1 for an empty list
 * (upstream raises; callers drop the sample and count it, P10). */
int rv_boxtext_list(rv_sb *out, const rv_box *boxes, size_t n);
/* process_sbb form: "[0.10, 0.20, 0.30, 0.40]" with fixed 2 decimals. */
void rv_boxtext_box_fixed2(rv_sb *out, const rv_box *b);

#endif
