/* Instruction generators (data.md §8) with upstream's label normalisation (§0.3) and RNG draw
 * order (§0.4). Each returns a question/answer pair (malloc'd strings, no "<image>\n"). */
#ifndef RADVLM_DATA_INSTRUCT_INSTRUCTION_H
#define RADVLM_DATA_INSTRUCT_INSTRUCTION_H

#include <stddef.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/sources/sample.h"
#include "data/instruct/templates.h"

typedef struct rv_qa {
    char *question, *answer;
} rv_qa;
void rv_qa_free(rv_qa *qa);

/* §0.3 location / phrase rule: lower-case the whole text when its first character is
 * upper-case and the text is not entirely upper-case ("Enlarged PA" -> "enlarged pa",
 * "ILD" kept). ASCII letters only. malloc'd. */
char *rv_label_location(const char *label);
/* Whole text lower-cased (ASCII). malloc'd. */
char *rv_label_lower(const char *label);
/* "an" when the first character, lower-cased, is a vowel (aeiou), else "a". */
const char *rv_label_article(const char *label);

/* Report generation: question drawn; answer = text verbatim. */
int rv_instr_report(const rv_templates *t, rv_rng *r, const char *text, rv_qa *out, rv_err *err);
/* Classification: labels lower-cased and de-duplicated (first seen); answer drawn first,
 * then the question; several labels joined "a, b and c". */
int rv_instr_classify(const rv_templates *t, rv_rng *r, char *const *labels, size_t n, rv_qa *out, rv_err *err);
/* Phrase grounding: question then answer. Fails (P10) when there is no box. */
int rv_instr_phrase(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t n, const char *phrase,
                    rv_qa *out, rv_err *err);
/* Anatomical / abnormality grounding: question then answer. Fails when there is no box. */
int rv_instr_location(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t n, const char *label,
                      rv_qa *out, rv_err *err);
/* Detection: question, then the prefix or the no-lesion answer. Boxes are grouped by label in
 * first-seen order, groups joined with "; ". labels is parallel to boxes (n each); n == 0
 * (or nlabels == 0) is the "No finding" case. */
int rv_instr_detect(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t nboxes, char *const *labels,
                    size_t nlabels, rv_qa *out, rv_err *err);

/* "A, B and C" join of plain strings (no Oxford comma). */
void rv_join_and(rv_sb *out, char *const *items, size_t n);

#endif
