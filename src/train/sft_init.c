#include "train/sft_init.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "tokenizer/tokenizer.h"

void rv_sft_model_free(rv_sft_model *m) {
    free(m->config_json);
    rv_hf_files_free(m->files, m->nfiles);
    free(m->tokenizer_from);
    free(m->source);
    memset(m, 0, sizeof *m);
}

/* Puts tokenizer.json first in m->files (replacing one already there) and hashes it. */
static void set_tokenizer(rv_sft_model *m, char *data, size_t len, const char *from) {
    size_t at = m->nfiles;
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, "tokenizer.json") == 0) at = i;
    if (at == m->nfiles) {
        m->files = rv_xrealloc(m->files, (m->nfiles + 1) * sizeof *m->files);
        memmove(m->files + 1, m->files, m->nfiles * sizeof *m->files);
        m->nfiles++;
        at = 0;
        m->files[0].name = rv_xstrdup("tokenizer.json");
    } else {
        free(m->files[at].data);
        if (at != 0) { /* move it first */
            rv_hf_file t = m->files[at];
            memmove(m->files + 1, m->files, at * sizeof *m->files);
            m->files[0] = t;
        }
    }
    m->files[0].data = data;
    m->files[0].len = len;
    m->tokenizer = data;
    m->tokenizer_len = len;
    snprintf(m->tokenizer_hash, sizeof m->tokenizer_hash, "fnv1a64:%016llx", (unsigned long long)rv_fnv1a64(data, len));
    free(m->tokenizer_from);
    m->tokenizer_from = rv_xstrdup(from);
}

static int read_tokenizer_file(rv_sft_model *m, const char *path, rv_err *err) {
    char *data = NULL;
    size_t len = 0;
    if (rv_read_file(path, &data, &len, err)) return rv_fail_wrap(err, "sft.tokenizer");
    set_tokenizer(m, data, len, path);
    return 0;
}

/* random:<preset>: the vocabulary and special ids come from the tokenizer. */
static int apply_tokenizer_ids(rv_sft_model *m, rv_err *err) {
    rv_tokenizer *t = NULL;
    if (rv_tokenizer_load_json(m->tokenizer_from, m->tokenizer, m->tokenizer_len, &t, err))
        return rv_fail_wrap(err, "sft.tokenizer");
    size_t nids = rv_tokenizer_n_ids(t);
    int32_t img = rv_tokenizer_token_id(t, "<image>");
    if (img < 0 || !rv_tokenizer_is_special(t, img)) img = (int32_t)nids; /* added as pack/upstream do */
    int vocab = (int)nids > img + 1 ? (int)nids : img + 1;
    int32_t eos = rv_tokenizer_token_id(t, "<|im_end|>"), pad = rv_tokenizer_token_id(t, "<|endoftext|>");
    rv_tokenizer_free(t);
    m->cfg.text.vocab = vocab;
    m->cfg.image_token_id = img;
    if (eos >= 0) m->cfg.text.eos_id = eos;
    if (pad >= 0) m->cfg.text.pad_id = m->cfg.text.bos_id = pad;
    return 0;
}

static int cfg_from_ckpt_path(rv_sft_model *m, const char *path, rv_err *err) {
    rv_ckpt *ck = NULL;
    if (rv_ckpt_open(&ck, path, err)) return rv_fail_wrap(err, "sft.init");
    const char *mc = rv_ckpt_model_config(ck);
    int rc = rv_model_cfg_from_hf_text(path, mc, strlen(mc), &m->cfg, err);
    if (!rc) m->config_json = rv_xstrdup(mc);
    char **names = NULL;
    size_t nn = 0;
    if (!rc) rc = rv_ckpt_list_files(ck, &names, &nn, err);
    for (size_t i = 0; !rc && i < nn; i++) {
        char *d = NULL;
        size_t len = 0;
        if (rv_ckpt_load_file(ck, names[i], &d, &len, err) != 1) { rc = -1; break; }
        if (strcmp(names[i], "tokenizer.json") == 0) {
            char *where = rv_xasprintf("%s (side file tokenizer.json)", path);
            set_tokenizer(m, d, len, where);
            free(where);
            continue;
        }
        m->files = rv_xrealloc(m->files, (m->nfiles + 1) * sizeof *m->files);
        m->files[m->nfiles++] = (rv_hf_file){rv_xstrdup(names[i]), d, len};
    }
    if (names) rv_free_strv(names, nn);
    rv_ckpt_close(ck);
    return rc;
}

int rv_sft_model_resolve(rv_sft_model *m, const rv_sft_init_opts *o, rv_err *err) {
    memset(m, 0, sizeof *m);
    const char *init = o->init;
    int rc = 0;
    if (strncmp(init, "random:", 7) == 0) {
        m->kind = RV_SFT_INIT_RANDOM;
        rc = rv_model_cfg_preset(init + 7, &m->cfg, err);
        if (rc) rv_fail_wrap(err, "sft.init = %s", init);
        m->source = rv_xasprintf("random init, preset %s", init + 7);
    } else if (rv_is_dir(init)) {
        m->kind = RV_SFT_INIT_HF;
        char *cp = rv_path_join(init, "config.json");
        if (!rv_is_file(cp))
            rc = rv_fail(err, "sft.init = %s is a directory without config.json: give a Hugging Face model directory "
                              "(config.json + safetensors), a native checkpoint (.h5) or random:<preset>", init);
        else rc = rv_model_cfg_from_hf_file(cp, &m->cfg, err);
        if (!rc) rc = rv_read_file(cp, &m->config_json, NULL, err);
        free(cp);
        if (!rc) rc = rv_hf_read_side_files(init, "", &m->files, &m->nfiles, err);
        for (size_t i = 0; !rc && i < m->nfiles; i++)
            if (strcmp(m->files[i].name, "tokenizer.json") == 0) {
                char *d = m->files[i].data;
                m->files[i].data = NULL;
                char *where = rv_path_join(init, "tokenizer.json");
                set_tokenizer(m, d, m->files[i].len, where);
                free(where);
                break;
            }
        m->source = rv_xasprintf("Hugging Face directory %s", init);
    } else if (rv_is_file(init)) {
        m->kind = RV_SFT_INIT_CKPT;
        rc = cfg_from_ckpt_path(m, init, err);
        m->source = rv_xasprintf("checkpoint %s", init);
    } else {
        rc = rv_fail(err, "sft.init = %s: no such file or directory; give a native checkpoint (.h5), a Hugging Face "
                          "directory or random:<preset> (tiny, 100m, 0.5b, 7b)", init);
    }
    if (!rc && o->tokenizer && o->tokenizer[0]) rc = read_tokenizer_file(m, o->tokenizer, err);
    if (!rc && !m->tokenizer && m->kind == RV_SFT_INIT_RANDOM) {
        char *p = rv_tokenizer_default_path(o->data_dir, o->run_dir);
        if (p) rc = read_tokenizer_file(m, p, err);
        free(p);
    }
    if (!rc && !m->tokenizer && o->need_tokenizer)
        rc = rv_fail(err, "sft: the model (%s) has no tokenizer.json; set sft.tokenizer to the tokenizer.json the shards "
                          "were packed with", init);
    if (!rc && m->tokenizer && m->kind == RV_SFT_INIT_RANDOM) rc = apply_tokenizer_ids(m, err);
    if (!rc) rc = rv_model_cfg_validate(&m->cfg, err);
    if (!rc && !m->config_json) {
        rv_sb sb;
        rv_sb_init(&sb);
        rv_model_cfg_to_hf_json(&m->cfg, &sb);
        m->config_json = sb.s;
    }
    if (rc) rv_sft_model_free(m);
    return rc;
}

int rv_sft_model_load_weights(const rv_sft_model *m, const rv_sft_init_opts *o, rv_kctx *k, uint64_t seed, float std,
                              rv_weights *w, rv_err *err) {
    memset(w, 0, sizeof *w);
    if (m->kind == RV_SFT_INIT_HF) {
        rv_model_cfg c;
        rv_hf_info info = {0};
        if (rv_hf_load(o->init, NULL, k, &c, w, &info, err)) return rv_fail_wrap(err, "sft.init");
        rv_hf_info_free(&info);
        return 0;
    }
    if (rv_weights_build(w, &m->cfg, k, err)) return -1;
    int rc = 0;
    if (m->kind == RV_SFT_INIT_RANDOM) {
        rc = rv_weights_init_random(w, seed, std, err);
    } else {
        rv_ckpt *ck = NULL;
        rc = rv_ckpt_open(&ck, o->init, err);
        if (!rc) rc = rv_ckpt_load_weights(ck, w, err);
        if (rc) rv_fail_wrap(err, "sft.init");
        rv_ckpt_close(ck);
    }
    if (rc) rv_weights_free(w);
    return rc;
}

int rv_sft_model_check_ckpt(const rv_sft_model *m, rv_ckpt *ck, rv_err *err) {
    const char *mc = rv_ckpt_model_config(ck);
    rv_model_cfg c;
    if (rv_model_cfg_from_hf_text(rv_ckpt_path_of(ck), mc, strlen(mc), &c, err)) return -1;
    rv_weights a, b;
    if (rv_weights_layout(&a, &m->cfg, err)) return -1;
    if (rv_weights_layout(&b, &c, err)) { rv_weights_free(&a); return -1; }
    int rc = 0;
    for (size_t i = 0; i < a.n && !rc; i++) {
        const rv_wtensor *x = &a.t[i], *y = rv_weights_get(&b, x->name);
        if (!y) rc = rv_fail(err, "%s: the checkpoint is of another model: it has no tensor %s of the model of sft.init = %s",
                             rv_ckpt_path_of(ck), x->name, m->source);
        else if (x->numel != y->numel || x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof x->shape) != 0)
            rc = rv_fail(err, "%s: the checkpoint is of another model shape: tensor %s has %zu elements there and %zu in "
                              "the model of sft.init (%s); resume with the same model, or sft.resume=never",
                         rv_ckpt_path_of(ck), x->name, y->numel, x->numel, m->source);
    }
    if (!rc && a.n != b.n)
        rc = rv_fail(err, "%s: the checkpoint is of another model: %zu tensors there, %zu in the model of sft.init (%s)",
                     rv_ckpt_path_of(ck), b.n, a.n, m->source);
    if (!rc && (c.text.vocab != m->cfg.text.vocab || c.image_token_id != m->cfg.image_token_id))
        rc = rv_fail(err, "%s: the checkpoint's vocabulary (%d, image token %d) differs from the model's (%d, %d)",
                     rv_ckpt_path_of(ck), c.text.vocab, c.image_token_id, m->cfg.text.vocab, m->cfg.image_token_id);
    rv_weights_free(&a);
    rv_weights_free(&b);
    return rc;
}

int rv_sft_model_check_tokenizer(const rv_sft_model *m, const char *shards_dir, const char *shards_hash, rv_err *err) {
    if (!m->tokenizer)
        return rv_fail(err, "sft: the model has no tokenizer.json to compare with the shards' (%s, %s); set sft.tokenizer",
                       shards_dir, shards_hash);
    if (strcmp(m->tokenizer_hash, shards_hash) != 0)
        return rv_fail(err, "sft: tokenizer mismatch: the shards in %s were packed with tokenizer %s, the model's "
                            "tokenizer (%s) is %s; pack with the model's tokenizer.json (pack.tokenizer) or train a model "
                            "that uses the shards' tokenizer",
                       shards_dir, shards_hash, m->tokenizer_from, m->tokenizer_hash);
    return 0;
}

int rv_sft_model_pixel_norm(const rv_sft_model *m, rv_pixel_norm *n, rv_err *err) {
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, "preprocessor_config.json") == 0)
            return rv_pixel_norm_from_hf_text("preprocessor_config.json", m->files[i].data, m->files[i].len, n, err);
    *n = rv_pixel_norm_siglip();
    return 0;
}
