/* The eval run's unit of work: one question of one test set, with what the prompt is built from
 * and what the answer is scored and written against. A single-turn cell (report, classification,
 * grounding) is one item; a conversation cell gives one item per assistant turn, asked with the
 * reference turns before it as history (docs/evaluation.md, "Conversations"). */
#ifndef RADVLM_EVAL_RUN_ITEM_H
#define RADVLM_EVAL_RUN_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include "eval/metrics/grounding.h" /* rv_eval_box */

typedef struct rv_eval_msg {
    char *role;     /* "human" or "gpt", as the cell writes it */
    char *content;  /* the text; the first human turn keeps its "<image>\n" */
} rv_eval_msg;

typedef struct rv_eval_item {
    size_t idx;            /* the cell's position in the task's test set (upstream's `idx`) */
    int turn;              /* which assistant turn of the cell is asked (0 for single-turn tasks) */
    char *id;              /* the cell id ("report_generation_12") */
    char *img_path;        /* the image file (cell "image"; shards: /images/path) */
    int64_t shard_sample;  /* shards: the sample index in the set (its image row is used); -1: JSON */
    rv_eval_msg *msgs;     /* [nmsgs]: the conversation up to and including the asked human turn */
    size_t nmsgs;
    char *instr;           /* the asked human turn as written (upstream's `instr`) */
    char *answer;          /* the reference answer: the asked turn's gpt text (upstream's `answer`/`txt`) */
    char **labels;         /* cell "labels" (classification ground truth; detection: class per box) */
    size_t nlabels;
    int has_labels;        /* the cell has a "labels" key (written back to the output record) */
    rv_eval_box *boxes;    /* grounding ground truth [nboxes] (see docs/evaluation.md, "Boxes") */
    size_t nboxes;
} rv_eval_item;

void rv_eval_item_free(rv_eval_item *it);

#endif
