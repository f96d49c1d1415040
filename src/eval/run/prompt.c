#include "eval/run/prompt.h"

#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "io/image_file.h"
#include "io/resize.h"
#include "io/shard_write.h" /* RV_SHARD_IMAGE_TOKEN */
#include "tokenizer/chat_template.h"

int rv_eval_prompt_check_tokenizer(const rv_tokenizer *tok, const char *path, rv_err *err) {
    bool s = rv_tokenizer_token_id(tok, "<|im_start|>") >= 0, e = rv_tokenizer_token_id(tok, "<|im_end|>") >= 0;
    if (s && e) return 0;
    return rv_fail(err, "%s: the qwen_1_5 chat template of the eval prompts needs the added tokens <|im_start|> and "
                        "<|im_end|>; this tokenizer.json has %s. Use the model's own Qwen2 tokenizer.json (the one "
                        "its shards were packed with)", path ? path : "tokenizer",
                   !s && !e ? "neither" : !s ? "no <|im_start|>" : "no <|im_end|>");
}

void rv_eval_prompt_text(const rv_eval_item *it, const char *suffix, rv_sb *out) {
    rv_chat_msg *m = rv_xmalloc((it->nmsgs ? it->nmsgs : 1) * sizeof *m);
    char *last = NULL;
    for (size_t i = 0; i < it->nmsgs; i++) m[i] = (rv_chat_msg){it->msgs[i].role, it->msgs[i].content};
    if (suffix && it->nmsgs) {
        last = rv_xasprintf("%s%s", it->msgs[it->nmsgs - 1].content, suffix);
        m[it->nmsgs - 1].content = last;
    }
    rv_chat_render_qwen(m, it->nmsgs, NULL, true, out);
    free(last);
    free(m);
}

int rv_eval_prompt_tokenize(const rv_tokenizer *tok, const char *text, size_t len, rv_ids *out, rv_err *err) {
    int32_t img = rv_tokenizer_token_id(tok, "<image>");
    if (img >= 0 && rv_tokenizer_is_special(tok, img)) {
        size_t before = out->n;
        if (rv_tokenizer_encode(tok, text, len, out, err) != 0) return -1;
        for (size_t j = before; j < out->n; j++)
            if (out->v[j] == img) out->v[j] = RV_SHARD_IMAGE_TOKEN;
        return 0;
    }
    /* No special <image>: pack adds one (an added token is split out before anything else), which
     * is the same as encoding the text between the "<image>"s on its own. */
    const char *p = text, *end = text + len;
    for (;;) {
        const char *q = NULL;
        for (const char *s = p; s + 7 <= end; s++)
            if (!memcmp(s, "<image>", 7)) {
                q = s;
                break;
            }
        if (rv_tokenizer_encode(tok, p, (size_t)((q ? q : end) - p), out, err) != 0) return -1;
        if (!q) return 0;
        rv_ids_push(out, RV_SHARD_IMAGE_TOKEN);
        p = q + 7;
    }
}

/* The item's image as the row's pixels (base: [S, S]) or original (anyres): *px owned. */
static int item_image(const rv_eval_prompt_ctx *pc, const rv_eval_item *it, rv_shard_row *row, uint8_t **px,
                      rv_err *err) {
    const int S = pc->cfg->vision.image_size;
    *px = NULL;
    if (pc->set && it->shard_sample >= 0) {
        const rv_shardset *s = pc->set;
        if ((uint64_t)it->shard_sample >= s->nsamples)
            return rv_fail(err, "%s: sample %lld out of range", s->path, (long long)it->shard_sample);
        uint64_t r = (uint64_t)s->image[it->shard_sample];
        if (pc->anyres) {
            if (!s->anyres)
                return rv_fail(err, "%s: the model tiles images with anyres but these shards keep no originals; pack "
                                    "with pack.image_mode=anyres, or evaluate from RUN/llava/test_<task>.json",
                               s->path);
            int h, w;
            if (rv_shardset_original(s, r, px, &h, &w, err) != 0) return -1;
            row->orig = *px;
            row->orig_h = h;
            row->orig_w = w;
            return 0;
        }
        *px = rv_xmalloc((size_t)s->height * (size_t)s->width);
        if (rv_shardset_image(s, r, *px, err) != 0) return -1;
        row->pixels = *px;
        row->h = s->height;
        row->w = s->width;
        return 0;
    }
    rv_image img = {0};
    if (rv_image_file_read_max(it->img_path, pc->max_pixels, &img, NULL, NULL, err) != 0) return -1;
    if (pc->anyres) {
        row->orig = *px = img.u8; /* owned by the caller now */
        row->orig_h = img.height;
        row->orig_w = img.width;
        return 0;
    }
    /* pack's resize to S x S, so the stored row of a pack at the model's tile is these pixels */
    rv_image small = {0};
    int rc = rv_image_resize_as(&img, S, S, RV_RESAMPLE_BICUBIC, pc->pillow ? pc->pillow : RV_PILLOW_DEFAULT, &small,
                                err);
    rv_image_free(&img);
    if (rc != 0) return -1;
    row->pixels = *px = small.u8;
    row->h = row->w = S;
    return 0;
}

int rv_eval_prompt_make(const rv_eval_prompt_ctx *pc, const rv_eval_item *it, const char *suffix,
                        rv_loader_sample *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    rv_sb text;
    rv_sb_init(&text);
    rv_eval_prompt_text(it, suffix, &text);
    rv_ids ids = {0};
    uint8_t *px = NULL;
    rv_shard_row row = {0};
    int rc = rv_eval_prompt_tokenize(pc->tok, text.s, text.len, &ids, err);
    if (rc == 0 && ids.n > (size_t)INT32_MAX) rc = rv_fail(err, "prompt of %zu tokens", ids.n);
    if (rc == 0) rc = item_image(pc, it, &row, &px, err);
    if (rc == 0) {
        row.ids = ids.v;
        row.len = (int)ids.n;
        rc = rv_loader_sample_from_row(pc->cfg, pc->norm, &row, out, err);
    }
    if (rc != 0) rv_fail_wrap(err, "eval item %s (turn %d)", it->id && it->id[0] ? it->id : "?", it->turn);
    free(px);
    rv_ids_free(&ids);
    rv_sb_free(&text);
    return rc;
}
