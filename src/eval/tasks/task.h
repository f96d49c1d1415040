/* The eval task library: the per-task rules shared by three callers —
 *   - the score phase (records of an upstream *_output.json, phases/score.c),
 *   - the eval phase (answers generated in memory, scored per rank, then reduced),
 *   - the GRPO reward ranks (one generated answer against its reference, in-process).
 *
 * A task name (upstream's --task) maps to a family — report generation, abnormality
 * classification or grounding — that decides how an answer is parsed, which metrics a record
 * gets, how records aggregate, the reward of one answer, and the metric keys of the output.
 *
 * Scoring one record gives a fixed-size vector of doubles, values[rv_eval_nvalues(t)], so ranks
 * can score slices of the records and gather the vectors as bytes; the vectors are opaque to
 * callers, who pass them back (in record order) to aggregate (eval/tasks/aggregate.h), to the
 * JSON writers (eval/tasks/metrics_json.h) or to rv_eval_reward_of. */
#ifndef RADVLM_EVAL_TASKS_TASK_H
#define RADVLM_EVAL_TASKS_TASK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/metrics/grounding.h"
#include "eval/metrics/ngram.h"
#include "eval/metrics/pytext.h"
#include "eval/tasks/reasoning.h"

/* ---- the task table ---- */
typedef struct rv_eval_task rv_eval_task;

/* The task of an upstream task name; NULL when there is none. */
const rv_eval_task *rv_eval_task_find(const char *name);
/* The table, in order (0 <= i < rv_eval_task_count()). */
size_t rv_eval_task_count(void);
const rv_eval_task *rv_eval_task_at(size_t i);
const char *rv_eval_task_name(const rv_eval_task *t);
/* "report", "classification" or "grounding": tasks of one family share every rule. */
const char *rv_eval_task_family(const rv_eval_task *t);
/* Doubles per scored record. */
size_t rv_eval_nvalues(const rv_eval_task *t);
/* The name of the k-th per-record value (0 <= k < rv_eval_nvalues(t); NULL beyond): the key
 * <stem>_scored.json uses where it writes the value as is ("bleu4", "ap", ...), else a name of
 * its own ("bleu_testlen", "truth_bits", "iou_sum", ...). docs/metrics.md lists them. */
const char *rv_eval_value_name(const rv_eval_task *t, size_t k);

/* ---- one answer and its reference (all pointers borrowed) ---- */
typedef struct rv_eval_input {
    rv_span answer;             /* the text scored (after the answer rule, see reasoning.h) */
    rv_span ref;                /* report generation: the reference report */
    const char *const *labels;  /* classification: ground-truth label names [nlabels] */
    size_t nlabels;
    const rv_eval_box *boxes;        /* grounding: ground-truth boxes [nboxes] */
    size_t nboxes;
} rv_eval_input;

/* Scratch space reused across records so that scoring allocates nothing once warm.
 * Zero-initialise; one per thread; release with rv_eval_scratch_free. */
typedef struct rv_eval_scratch {
    rv_ngram_ws ngram;
} rv_eval_scratch;

void rv_eval_scratch_free(rv_eval_scratch *s);

/* What a record's score depends on beyond its own pair: CIDEr-D's document frequencies over
 * every reference of the corpus being scored (report tasks; empty for the others). Build it
 * from all n records before scoring any, on every rank; read-only afterwards (shareable
 * between threads). */
typedef struct rv_eval_corpus rv_eval_corpus;

rv_eval_corpus *rv_eval_corpus_build(const rv_eval_task *t, const rv_eval_input *in, size_t n);
void rv_eval_corpus_free(rv_eval_corpus *c);
/* A warning about the corpus (static text), or NULL: e.g. no reference has any word, so
 * CIDEr-D is 0 where the reference scorer fails. */
const char *rv_eval_corpus_warning(const rv_eval_corpus *c);

/* ---- per record ---- */
/* Every metric of the task for one record: values[rv_eval_nvalues(t)]. corpus may be NULL
 * (CIDEr-D is then 0). */
void rv_eval_score(const rv_eval_task *t, const rv_eval_input *in, const rv_eval_corpus *corpus,
                   rv_eval_scratch *s, double *values);

/* The neural metrics (eval/neural/neural_metrics.h: BERTScore, RadGraph-XL, CheXbert labels,
 * RadCliQ-v1) of records in[0..n), written into their vectors values [n, rv_eval_nvalues(t)]
 * (already filled by rv_eval_score, whose neural entries are NaN = not computed). The records
 * are scored in blocks of RV_EVAL_NEURAL_BLOCK, each block one set of batched model passes: a
 * packed batch's last bits depend on what else is in it (GEMM tiling), so a record's numbers are
 * the same for every rank count only when in[0] is record 0 or a multiple of the block
 * (rv_eval_neural_slice). Does nothing when nm is NULL or the family has no neural metric
 * (classification, grounding). Fails only when a model run fails. */
#define RV_EVAL_NEURAL_BLOCK 64 /* = bert_score's batch of upstream's report metric (its padding shows in the scores) */
typedef struct rv_neural rv_neural;
/* This rank's records [*b, *e) of n: whole blocks of RV_EVAL_NEURAL_BLOCK, contiguous, in rank order. */
void rv_eval_neural_slice(size_t n, int rank, int size, size_t *b, size_t *e);
int rv_eval_score_neural(const rv_eval_task *t, const rv_eval_input *in, size_t n, rv_neural *nm, double *values,
                         rv_err *err);

/* The reward of one generated answer: in->answer is the raw generated text, rule picks its
 * answer. Computes only the reward metric (fast; no corpus):
 *   report generation: GoogleBLEU (upstream's in-process GRPO reward);
 *   classification: the record's label F1 = 2TP / (2TP + FP + FN), 1 when truth and answer
 *     both name no label;
 *   grounding: the record's AP at IoU 0.5.
 * A reasoning rule that finds no final answer gives upstream's penalty, -0.0. */
double rv_eval_reward(const rv_eval_task *t, const rv_eval_input *in, rv_answer_rule rule,
                      rv_eval_scratch *s);
/* The same reward read from values of rv_eval_score (whose answer was already extracted). */
double rv_eval_reward_of(const rv_eval_task *t, const double *values);

#endif
