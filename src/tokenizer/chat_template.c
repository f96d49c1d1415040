/* qwen_1_5 CHATML and preprocess_qwen's labels. Each message is tokenized on its own, as
 * upstream does; since every message starts and ends at a special token, this equals
 * tokenizing the whole rendered text. */
#include "tokenizer/chat_template.h"

#include <stdlib.h>
#include <string.h>

void rv_mask_free(rv_mask *m) { free(m->v); m->v = NULL; m->n = m->cap = 0; }

static void mask_push(rv_mask *m, uint8_t v) {
    if (m->n == m->cap) { m->cap = m->cap ? 2 * m->cap : 256; m->v = rv_xrealloc(m->v, m->cap); }
    m->v[m->n++] = v;
}

const char *rv_chat_role(const char *role) {
    if (!strcmp(role, "human")) return "user";
    if (!strcmp(role, "gpt")) return "assistant";
    return role;
}

static void render_one(const char *role, const char *content, rv_sb *out) {
    rv_sb_puts(out, "<|im_start|>");
    rv_sb_puts(out, role);
    rv_sb_putc(out, '\n');
    rv_sb_puts(out, content);
    rv_sb_puts(out, "<|im_end|>\n");
}

void rv_chat_render_qwen(const rv_chat_msg *msgs, size_t n, const char *system, bool add_generation_prompt, rv_sb *out) {
    render_one("system", system ? system : RV_QWEN_SYSTEM_MESSAGE, out);
    for (size_t i = 0; i < n; i++) render_one(rv_chat_role(msgs[i].role), msgs[i].content, out);
    if (add_generation_prompt) rv_sb_puts(out, "<|im_start|>assistant\n");
}

static int encode_block(const rv_tokenizer *t, const char *role, const char *content, uint8_t m, rv_ids *ids,
                        rv_mask *mask, rv_sb *tmp, rv_err *err) {
    rv_sb_clear(tmp);
    render_one(role, content, tmp);
    size_t before = ids->n;
    if (rv_tokenizer_encode(t, tmp->s, tmp->len, ids, err)) return -1;
    for (size_t i = before; i < ids->n; i++) mask_push(mask, m);
    return 0;
}

int rv_chat_tokenize_sft(const rv_tokenizer *t, const rv_chat_msg *msgs, size_t n, const char *system,
                         bool upstream_quirk, rv_ids *ids, rv_mask *mask, rv_err *err) {
    int32_t im_start = rv_tokenizer_token_id(t, "<|im_start|>"), im_end = rv_tokenizer_token_id(t, "<|im_end|>");
    if (im_start < 0 || im_end < 0)
        return rv_fail(err, "chat template qwen_1_5: the tokenizer has no <|im_start|>/<|im_end|> token; "
                            "use a Qwen2 tokenizer.json or train one with these special tokens");
    int32_t newline = rv_tokenizer_bytes_id(t, "\n", 1);
    int32_t image = rv_tokenizer_token_id(t, "<image>");
    size_t start = ids->n, mstart = mask->n;
    rv_sb tmp;
    rv_sb_init(&tmp);
    int rc = encode_block(t, "system", system ? system : RV_QWEN_SYSTEM_MESSAGE, 0, ids, mask, &tmp, err);
    size_t first = (n > 0 && strcmp(rv_chat_role(msgs[0].role), "user") != 0) ? 1 : 0;
    for (size_t i = first; !rc && i < n; i++) {
        const char *role = rv_chat_role(msgs[i].role);
        uint8_t m = (strcmp(role, "user") && strcmp(role, "system")) ? 1 : 0;
        if (encode_block(t, role, msgs[i].content, m, ids, mask, &tmp, err))
            rc = rv_fail_wrap(err, "chat message %zu (%s)", i, role);
    }
    rv_sb_free(&tmp);
    if (rc) { ids->n = start; mask->n = mstart; return -1; }
    for (size_t i = start; i < ids->n; i++) {
        int32_t id = ids->v[i];
        if (upstream_quirk && (id == im_start || id == im_end || (newline >= 0 && id == newline))) mask->v[i] = 1;
        if (image >= 0 && id == image) mask->v[i] = 0;
    }
    return 0;
}
