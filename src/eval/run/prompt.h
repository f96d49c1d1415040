/* One eval item -> the model sample of its prompt (docs/evaluation.md, "Prompts"): the item's
 * turns in the qwen_1_5 CHATML template with upstream's system message and the generation prompt
 * "<|im_start|>assistant\n" (as upstream's evaluate_instructions.py asks the model), an optional
 * suffix on the asked human turn (eval.r1's " /think"), token ids with "<image>" made the image
 * token exactly as pack makes it, and the image as the model's preprocessing sees it:
 *   - from shards: the stored image row (base), or the stored original (anyres sets);
 *   - from a JSON test set: the image file decoded as pack decodes it (io/image_file.h), resized
 *     to the model's tile with pack's resize (base) or used whole as the original (anyres).
 * So a JSON test set and shards packed with pack.image_size = the model's tile give identical
 * samples (ids and tile floats bitwise). */
#ifndef RADVLM_EVAL_RUN_PROMPT_H
#define RADVLM_EVAL_RUN_PROMPT_H

#include <stdbool.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "data/loader/pixels.h"
#include "data/loader/shard_row.h"
#include "eval/run/item.h"
#include "io/resize.h"
#include "io/shard_read.h"
#include "model/config.h"
#include "tokenizer/ids.h"
#include "tokenizer/tokenizer.h"

typedef struct rv_eval_prompt_ctx {
    const rv_tokenizer *tok;    /* the model's tokenizer (rv_eval_prompt_check_tokenizer passed) */
    const rv_model_cfg *cfg;    /* vocabulary, image_token_id, tile size, pinpoints */
    const rv_pixel_norm *norm;  /* the model's preprocessor constants */
    const rv_shardset *set;     /* the shard set the items were read from, or NULL (JSON items) */
    bool anyres;                /* the model tiles images with anyres (shards: the set must be anyres) */
    rv_pillow pillow;           /* JSON items: whose resize pack's would be (data.pillow_resize); 0 = default */
    long long max_pixels;       /* JSON items: pixel budget per image (data.max_image_pixels; 0 = none) */
} rv_eval_prompt_ctx;

/* 0 when the tokenizer has the chat tokens <|im_start|> and <|im_end|>; else -1 and err names
 * the tokenizer file (path, for the message) and what to do. */
int rv_eval_prompt_check_tokenizer(const rv_tokenizer *tok, const char *path, rv_err *err);

/* Appends the prompt text: system block, the item's msgs (suffix, when not NULL, appended to
 * the last one, the asked human turn), and "<|im_start|>assistant\n". */
void rv_eval_prompt_text(const rv_eval_item *it, const char *suffix, rv_sb *out);

/* Appends the ids of a prompt text; each "<image>" becomes RV_SHARD_IMAGE_TOKEN as pack stores it
 * (the tokenizer's special <image> token, or, when it has none, as pack adds one: the text is
 * split there). Errors: invalid UTF-8 (the byte offset). */
int rv_eval_prompt_tokenize(const rv_tokenizer *tok, const char *text, size_t len, rv_ids *out, rv_err *err);

/* The model sample of item it's prompt (rv_loader_sample_from_row, no loss mask): ids with the
 * image placeholder expanded, and its tiles. Errors name the item id: a missing or undecodable
 * image file (the file too; the caller skips the item and counts it), a shard read, a base
 * set for an anyres model, a prompt the model cannot take. */
int rv_eval_prompt_make(const rv_eval_prompt_ctx *pc, const rv_eval_item *it, const char *suffix,
                        rv_loader_sample *out, rv_err *err);

#endif
