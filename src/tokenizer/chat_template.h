/* The qwen_1_5 chat template (CHATML) and the SFT tokenisation + loss mask of upstream's
 * preprocess_qwen (train.md A.4, A.5).
 *
 * Rendering: "<|im_start|>system\n{system}<|im_end|>\n", then per message
 * "<|im_start|>{role}\n{content}<|im_end|>\n", and "<|im_start|>assistant\n" as the
 * generation prompt. Roles "human" and "gpt" are written as "user" and "assistant". */
#ifndef RADVLM_TOKENIZER_CHAT_TEMPLATE_H
#define RADVLM_TOKENIZER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "tokenizer/tokenizer.h"

/* Upstream's system message. */
#define RV_QWEN_SYSTEM_MESSAGE "You are a helpful assistant."

typedef struct rv_chat_msg {
    const char *role;    /* "human"/"user", "gpt"/"assistant", "system", or any other role */
    const char *content;
} rv_chat_msg;

/* Per-token loss mask: 1 = the token is a training target (label = its id), 0 = ignored (-100). */
typedef struct rv_mask {
    uint8_t *v;
    size_t n, cap;
} rv_mask;
void rv_mask_free(rv_mask *m);

/* "human" -> "user", "gpt" -> "assistant", anything else unchanged. */
const char *rv_chat_role(const char *role);

/* Appends the CHATML text: the system block (system NULL: RV_QWEN_SYSTEM_MESSAGE; "" still
 * writes an empty system block), the messages, and the generation prompt when asked. */
void rv_chat_render_qwen(const rv_chat_msg *msgs, size_t n, const char *system, bool add_generation_prompt, rv_sb *out);

/* SFT tokenisation as upstream's preprocess_qwen: a first message whose role is not user/human
 * is dropped; the system block and user/system messages get mask 0; every other message
 * (assistant) gets mask 1 on all its tokens, header "<|im_start|>assistant\n" and trailer
 * "<|im_end|>\n" included. The `<image>` token always gets mask 0 (upstream replaces it by
 * image features whose labels are ignored); its id stays in ids (the model substitutes).
 *
 * upstream_quirk (the default in this project; see docs/tokenizer.md): afterwards, every token
 * whose id is the single-newline token or <|im_start|> or <|im_end|> gets mask 1 wherever it
 * is, system and user turns included, as upstream does (it hard-codes 198, which is the "\n"
 * token of the Qwen2 vocabulary; here the id comes from the tokenizer, so the rule also means
 * the same thing for other vocabularies). Multi-newline tokens such as "\n\n" stay masked.
 *
 * ids and mask are appended to (same length; left as they were on error). Errors: the tokenizer lacks <|im_start|> or
 * <|im_end|>, or a content is not valid UTF-8 (the message index is named). */
int rv_chat_tokenize_sft(const rv_tokenizer *t, const rv_chat_msg *msgs, size_t n, const char *system,
                         bool upstream_quirk, rv_ids *ids, rv_mask *mask, rv_err *err);

#endif
