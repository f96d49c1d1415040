/* Running a text encoder over many tokenised texts at once: packed batches (textenc/encoder.h
 * varlen forward; attention never crosses texts, so batching does not change the numbers) of
 * at most RV_TEXT_BATCH_TOKENS tokens. Shared by BERTScore, CheXbert and their callers. */
#ifndef RADVLM_EVAL_NEURAL_TEXT_BATCH_H
#define RADVLM_EVAL_NEURAL_TEXT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"

#define RV_TEXT_BATCH_TOKENS 8192

/* Token ids of n texts, and where each text's rows start in the hidden states. */
typedef struct rv_text_batch {
    size_t n;
    int32_t **ids;  /* [n][len[i]] */
    size_t *len;    /* [n] */
    size_t *row;    /* [n + 1]: text i = rows [row[i], row[i+1]) of hidden */
    float *hidden;  /* [row[n], dim] after rv_text_batch_forward */
    int dim;
} rv_text_batch;

/* Tokenises texts[n] with specials, truncating to max_len ids (HF truncation). An empty text
 * (after the caller's preparation) gives [CLS][SEP], as bert_score and f1chexbert. */
int rv_text_batch_tokenize(rv_text_batch *b, const rv_text_tok *tok, const char *const *texts, size_t n, int max_len,
                           rv_err *err);
/* Hidden states of every text (encoder e, its used layers). */
int rv_text_batch_forward(rv_text_batch *b, rv_encoder *e, rv_err *err);
void rv_text_batch_free(rv_text_batch *b);

/* The longest sequence the encoder takes: min(512, max_position_embeddings), less RoBERTa's
 * padding offset (pad_id + 1). */
int rv_text_batch_max_len(const rv_encoder *e);

/* Distinct strings: uniq[*nuniq] (borrowed pointers) and which[n] = index into uniq. */
void rv_text_dedup(const char *const *texts, size_t n, const char ***uniq, size_t *nuniq, size_t **which);

#endif
