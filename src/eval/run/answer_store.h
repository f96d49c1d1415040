/* The durable store of generated answers: RUN/eval/answers/<tag>_<task>.r<R>of<N>.jsonl, one
 * file per rank that generated, appended one line per finished question and flushed, so an
 * evaluation killed by a time limit keeps every answer it finished and a rerun (eval.resume=auto)
 * generates only the rest — with any rank count, since every rank reads every file of the task.
 * The first line of a file names the settings its answers were made with (a fingerprint of the
 * model, the test set and the generation settings); files with another fingerprint are ignored
 * (with a warning), so a changed model or max_new_tokens never mixes answers. A torn last line
 * (a kill mid-write) is ignored. Line layout (JSON, docs/evaluation.md):
 *   {"eval_answers": 1, "fingerprint": "<16 hex>", "task": T, "tag": G}          (header)
 *   {"i": I, "full_output": S, "n_tokens": N, "stopped": 0|1, "prompt_tokens": P, "seconds": X}
 *   {"i": I, "failed": "why"}          (a question that could not be asked: missing image, ...) */
#ifndef RADVLM_EVAL_RUN_ANSWER_STORE_H
#define RADVLM_EVAL_RUN_ANSWER_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "eval/run/answer.h"

typedef struct rv_answer_writer {
    FILE *f;
    char *path;
} rv_answer_writer;

/* Opens this rank's file for appending (creating dir; writes the header when the file is new or
 * holds no complete header line for this fingerprint: then it is started anew). */
int rv_answer_writer_open(rv_answer_writer *w, const char *dir, const char *tag, const char *task, int rank, int nranks,
                          uint64_t fingerprint, rv_err *err);
/* Appends one answer (full_output, n_tokens, stopped, prompt_tokens, seconds) of question i and flushes. */
int rv_answer_writer_put(rv_answer_writer *w, size_t i, const rv_eval_answer *a, rv_err *err);
int rv_answer_writer_fail(rv_answer_writer *w, size_t i, const char *why, rv_err *err);
/* Flushes to disk (fsync) and closes. */
int rv_answer_writer_close(rv_answer_writer *w, rv_err *err);

/* What the files of a task hold for questions 0..n-1. */
typedef struct rv_answer_set {
    size_t n;
    unsigned char *state;   /* [n] 0 = none, 1 = answered, 2 = failed */
    rv_eval_answer *ans;    /* [n] full_output, n_tokens, stopped, prompt_tokens, seconds (output unset) */
    char **why;             /* [n] failure reasons */
    size_t ignored_files;   /* files with another fingerprint */
} rv_answer_set;

/* Reads every file of (tag, task) in dir. Lines naming i >= n are ignored; the first line for a
 * question wins. A missing dir gives an empty set. */
int rv_answer_set_read(rv_answer_set *s, const char *dir, const char *tag, const char *task, uint64_t fingerprint,
                       size_t n, rv_err *err);
void rv_answer_set_free(rv_answer_set *s);
/* Removes every file of (tag, task) in dir (eval.resume=never). */
int rv_answer_store_clear(const char *dir, const char *tag, const char *task, rv_err *err);

#endif
