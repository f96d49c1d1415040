/* A task's test set as the eval run's items (eval/run/item.h), read from either form the
 * pipeline writes, with identical results (docs/evaluation.md, "Test sets"):
 *   - the instruct phase's RUN/llava/test_<task>.json (LLaVA cells: image, conversations, id,
 *     labels, boxes), or any LLaVA JSON list of cells;
 *   - a packed shard set (pack.tests=true): the samples of split "test" whose task is the task,
 *     in the JSON's cell order (recovered from the ids "<task>_<N>", since pack groups samples
 *     by image), each item pointing at its sample (shard_sample) so the prompt uses the stored
 *     image.
 * Items: a cell gives one item per assistant (gpt) turn that follows a human turn: msgs = the
 * turns before it (the asked human turn last), instr = that human turn, answer = the gpt text;
 * a single-turn cell is one item (turn 0). Ground-truth boxes: the cell's "boxes" (unrounded;
 * shards: /samples/boxes), rounded to float32 as the shards store them, so both readers give the
 * same bits; a single-turn cell without the key (a file written before it existed) takes the
 * boxes written in its answer (pack's rule), counted in boxes_from_answer; a multi-turn cell's
 * items take the boxes written in their own answer. Damaged records are reported through the
 * bad-record policy and skipped. */
#ifndef RADVLM_EVAL_RUN_TESTSET_H
#define RADVLM_EVAL_RUN_TESTSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/badrec.h"
#include "core/error.h"
#include "data/sources/sample.h" /* rv_task */
#include "eval/run/item.h"
#include "io/shard_read.h"

typedef struct rv_eval_testset {
    rv_task task;
    rv_eval_item *items;       /* [n], in dataset order (cell order, then turn order) */
    size_t n;
    size_t ncells;             /* cells (samples) that gave items */
    size_t nbad;               /* records reported as bad and skipped */
    size_t boxes_from_answer;  /* grounding cells without a "boxes" key: GT boxes parsed from the
                                  2-decimal answer (the caller warns once: re-run instruct) */
    char *source;              /* what was read, for messages: the JSON path, or "<index.h5> (split
                                  test, task <task>)" */
} rv_eval_testset;

/* Reads the LLaVA JSON test file of one task. -1 (err names the file and what to do) when the
 * file cannot be read or parsed or is not a list, or when the bad-record policy is fatal. */
int rv_eval_testset_read_json(const char *path, rv_task task, rv_badrec *bad, rv_eval_testset *out, rv_err *err);

/* Reads the test samples of one task from an open shard set. -1 when the set has no task/split
 * names this reader knows, a read fails, or the bad-record policy is fatal. A set without test
 * samples of the task gives n = 0 (the caller says: pack with pack.tests=true). */
int rv_eval_testset_read_shards(const rv_shardset *set, rv_task task, rv_badrec *bad, rv_eval_testset *out,
                                rv_err *err);

/* The same for the samples of another split ("train", "valid"): GRPO's prompts are the train
 * split's report cells. */
int rv_eval_testset_read_shards_split(const rv_shardset *set, rv_task task, const char *split, rv_badrec *bad,
                                      rv_eval_testset *out, rv_err *err);

void rv_eval_testset_free(rv_eval_testset *ts);

/* Expected cost of answering one item, for balancing ranks (arbitrary units, about tokens):
 * prompt characters / 4 (every message) + answer characters / 4 (what generation will likely
 * produce) + 64 for the image's rows and their prefill. Only ratios matter. */
int64_t rv_eval_testset_cost(const rv_eval_item *it);

#endif
