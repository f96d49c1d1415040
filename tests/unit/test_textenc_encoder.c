/* Text encoder (textenc/encoder.h) against transformers with the same random weights
 * (tests/fixtures/textenc/{bert,distil,roberta}_tiny, written by gen_textenc_fixtures.py:
 * BertModel in F32 without a prefix, DistilBertForMaskedLM in BF16 under "distilbert.",
 * RobertaModel in F16 under "roberta." with a sequence that holds pad ids), all layers and the
 * first 2 (use_layers), packed batches and one sequence at a time; and hostile model
 * directories. (Real weights: test_textenc_minilm.c.) */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/json.h"
#include "kernels/kernels.h"
#include "textenc/encoder.h"
#include "textenc_testutil.h"

/* Forward of the fixture's sequences, batched and one at a time, against hidden / hidden_l2. */
static void tiny_parity(rv_kctx *k, const char *name, rv_enc_arch arch) {
    char dir[512], expf[600];
    snprintf(dir, sizeof dir, TEXTENC_FIX "%s", name);
    snprintf(expf, sizeof expf, "%s/expected.safetensors", dir);
    size_t nids, ncu, nh, nh2;
    float *fids = te_read(expf, "ids", &nids), *fcu = te_read(expf, "cu", &ncu), *h = te_read(expf, "hidden", &nh),
          *h2 = te_read(expf, "hidden_l2", &nh2);
    CHECK(fids && fcu && h && h2);
    if (!fids || !fcu || !h || !h2) return;
    int nseq = (int)ncu - 1;
    int32_t *ids = te_i32(fids, nids), *cu = te_i32(fcu, ncu);
    for (int use = 0; use <= 2; use += 2) {
        rv_encoder *e = NULL;
        rv_err err;
        CHECK(rv_encoder_load(&e, dir, use, k, &err) == 0);
        if (!e) { fprintf(stderr, "%s\n", err.msg); continue; }
        const rv_enc_cfg *c = rv_encoder_cfg(e);
        CHECK(c->arch == arch && c->hidden == 32 && c->layers == 3 && c->heads == 4 && c->intermediate == 64);
        CHECK(rv_encoder_layers_used(e) == (use ? use : 3));
        CHECK(nh == nids * 32);
        const float *want = use ? h2 : h;
        float *out = malloc(nh * sizeof *out), *one = malloc(nh * sizeof *one);
        CHECK(rv_encoder_forward(e, ids, cu, nseq, out, &err) == 0);
        double d = te_max_abs(out, want, nh);
        printf("%s use_layers=%d: %d sequences, %zu tokens, batched max |C - torch| = %.3g\n", name, use, nseq, nids, d);
        CHECK(d <= 1e-5);
        /* one sequence at a time: attention never crosses sequences, so the same numbers */
        for (int s = 0; s < nseq; s++) {
            int32_t cu1[2] = {0, cu[s + 1] - cu[s]};
            CHECK(rv_encoder_forward(e, ids + cu[s], cu1, 1, one + (size_t)cu[s] * 32, &err) == 0);
        }
        d = te_max_abs(one, want, nh);
        CHECK(d <= 1e-5);
        /* empty sequences inside a batch take no rows and change nothing */
        int32_t *cu2 = malloc((size_t)(2 * nseq + 1) * sizeof *cu2);
        cu2[0] = 0;
        for (int s = 0; s < nseq; s++) cu2[2 * s + 1] = cu[s], cu2[2 * s + 2] = cu[s + 1];
        float *gap = malloc(nh * sizeof *gap);
        CHECK(rv_encoder_forward(e, ids, cu2, 2 * nseq, gap, &err) == 0);
        CHECK(te_max_abs(gap, want, nh) <= 1e-5);
        free(gap);
        free(cu2);
        /* not bitwise: sgemm tiles over another row count round differently */
        double db = te_max_abs(one, out, nh);
        printf("%s use_layers=%d: one at a time max |C - torch| = %.3g, |one - batched| = %.3g\n", name, use, d, db);
        CHECK(db <= 1e-5);
        free(out);
        free(one);
        rv_encoder_free(e);
    }
    free(fids); free(fcu); free(h); free(h2); free(ids); free(cu);
}

static void extras(rv_kctx *k) {
    rv_err err;
    rv_encoder *e = NULL;
    float *d = NULL;
    int64_t sh[4];
    int nd;
    /* DistilBertForMaskedLM's head: "vocab_transform.weight" [32, 32] outside the prefix */
    CHECK(rv_encoder_load(&e, TEXTENC_FIX "distil_tiny", 0, k, &err) == 0);
    CHECK(e && rv_encoder_extra(e, "vocab_transform.weight", &d, sh, &nd, &err) == 0 && nd == 2 && sh[0] == 32 &&
          sh[1] == 32);
    free(d);
    d = NULL;
    CHECK(e && rv_encoder_extra(e, "vocab_projector.bias", &d, sh, &nd, &err) == 0 && nd == 1 && sh[0] > 600);
    free(d);
    d = NULL;
    CHECK(e && rv_encoder_extra(e, "no.such.tensor", &d, sh, &nd, &err) == -1 && strstr(err.msg, "no.such.tensor") &&
          d == NULL);
    rv_encoder_free(e);
    /* RoBERTa's pooler under "roberta.": found with or without the prefix */
    e = NULL;
    CHECK(rv_encoder_load(&e, TEXTENC_FIX "roberta_tiny", 0, k, &err) == 0);
    CHECK(e && rv_encoder_extra(e, "pooler.dense.bias", &d, sh, &nd, &err) == 0 && nd == 1 && sh[0] == 32);
    float first = d ? d[0] : NAN;
    free(d);
    d = NULL;
    CHECK(e && rv_encoder_extra(e, "roberta.pooler.dense.bias", &d, sh, &nd, &err) == 0 && d && d[0] == first);
    free(d);
    d = NULL;
    /* RoBERTa positions: padding_idx + 1 + i, so at most max_position_embeddings - 2 tokens */
    const rv_enc_cfg *c = e ? rv_encoder_cfg(e) : NULL;
    CHECK(c && c->max_pos == 48 && c->pad_id == 1 && c->type_vocab == 1 && fabsf(c->ln_eps - 1e-5f) < 1e-12f);
    if (c) {
        int32_t ids[47], cu[2] = {0, 47};
        for (int i = 0; i < 47; i++) ids[i] = 5;
        float *out = malloc(47 * 32 * sizeof *out);
        CHECK(rv_encoder_forward(e, ids, cu, 1, out, &err) == -1 && strstr(err.msg, "47 tokens") &&
              strstr(err.msg, "46"));
        cu[1] = 46;
        CHECK(rv_encoder_forward(e, ids, cu, 1, out, &err) == 0);
        ids[3] = c->vocab;
        CHECK(rv_encoder_forward(e, ids, cu, 1, out, &err) == -1 && strstr(err.msg, "token 3"));
        free(out);
    }
    rv_encoder_free(e);
}

static int copy_file(const char *from, const char *to) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

/* CheXbert's layout after conversion (tools/convert_pth.py of a DataParallel checkpoint): the
 * encoder under "module.bert.", heads under "module."; rewritten here from bert_tiny's tensors
 * plus a head of known values. */
static void nested_prefix(rv_kctx *k, const char *tmp) {
    rv_err err;
    rv_st_file f;
    CHECK(rv_st_open(&f, TEXTENC_FIX "bert_tiny/model.safetensors", &err) == 0);
    rv_st_out *outs = calloc(f.n + 1, sizeof *outs);
    float **bufs = calloc(f.n, sizeof *bufs);
    char **names = calloc(f.n, sizeof *names);
    for (size_t i = 0; i < f.n; i++) {
        const rv_st_tensor *t = &f.t[i];
        bufs[i] = malloc(t->numel * sizeof(float));
        CHECK(rv_st_read_f32(&f, t, bufs[i], &err) == 0);
        names[i] = rv_xasprintf("module.bert.%s", t->name);
        outs[i] = (rv_st_out){.name = names[i], .dtype = RV_ST_F32, .ndim = t->ndim, .data = bufs[i],
                              .src_dtype = RV_ST_F32};
        memcpy(outs[i].shape, t->shape, sizeof t->shape);
    }
    const float head[6] = {1, 2, 3, 4, 5, 6};
    outs[f.n] = (rv_st_out){.name = "module.linear_heads.0.weight", .dtype = RV_ST_F32, .ndim = 2,
                            .shape = {2, 3}, .data = head, .src_dtype = RV_ST_F32};
    char *d = rv_path_join(tmp, "chexbert_like"), *st = rv_path_join(d, "model.safetensors"),
         *cfg = rv_path_join(d, "config.json");
    CHECK(rv_mkdir_p(d, &err) == 0);
    CHECK(rv_st_write(st, outs, f.n + 1, &err) == 0);
    CHECK(copy_file(TEXTENC_FIX "bert_tiny/config.json", cfg) == 0);
    for (size_t i = 0; i < f.n; i++) { free(bufs[i]); free(names[i]); }
    free(bufs); free(names); free(outs);
    rv_st_close(&f);
    rv_encoder *e = NULL;
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == 0);
    if (e) {
        /* the first fixture sequence gives bert_tiny's expected rows */
        size_t nids, ncu, nh;
        float *fids = te_read(TEXTENC_FIX "bert_tiny/expected.safetensors", "ids", &nids),
              *fcu = te_read(TEXTENC_FIX "bert_tiny/expected.safetensors", "cu", &ncu),
              *h = te_read(TEXTENC_FIX "bert_tiny/expected.safetensors", "hidden", &nh);
        CHECK(fids && fcu && h);
        if (fids && fcu && h) {
            int L = (int)fcu[1];
            int32_t *ids = malloc((size_t)L * sizeof *ids), cu[2] = {0, L};
            for (int i = 0; i < L; i++) ids[i] = (int32_t)fids[i];
            float *out = malloc((size_t)L * 32 * sizeof *out);
            CHECK(rv_encoder_forward(e, ids, cu, 1, out, &err) == 0);
            CHECK(te_max_abs(out, h, (size_t)L * 32) <= 1e-5);
            free(ids);
            free(out);
        }
        free(fids); free(fcu); free(h);
        float *x = NULL;
        int64_t sh[4];
        int nd;
        CHECK(rv_encoder_extra(e, "linear_heads.0.weight", &x, sh, &nd, &err) == 0 && nd == 2 && sh[0] == 2 &&
              sh[1] == 3 && sh[2] == 1 && x && x[0] == 1 && x[5] == 6);
        free(x);
        rv_encoder_free(e);
    }
    free(d); free(st); free(cfg);
}

static void hostile(rv_kctx *k, const char *tmp) {
    rv_err err;
    rv_encoder *e = NULL;
    char *d = rv_path_join(tmp, "enc_bad");
    CHECK(rv_mkdir_p(d, &err) == 0);
    CHECK(rv_encoder_load(&e, "/nonexistent/model", 0, k, &err) == -1 && strstr(err.msg, "/nonexistent/model"));
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "config.json") && strstr(err.msg, "missing"));
    /* config with an unknown model_type */
    te_write_file(d, "config.json", "{\"model_type\": \"gpt2\", \"vocab_size\": 10}");
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "gpt2") && strstr(err.msg, "config.json"));
    /* a key missing */
    te_write_file(d, "config.json", "{\"model_type\": \"bert\", \"vocab_size\": 10}");
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "hidden_size"));
    /* the right config but no weights */
    char *cfg = rv_path_join(d, "config.json"), *st = rv_path_join(d, "model.safetensors");
    CHECK(copy_file(TEXTENC_FIX "bert_tiny/config.json", cfg) == 0);
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "model.safetensors") &&
          strstr(err.msg, "convert_pth"));
    /* weights of another size: hidden_size 48 in the config, 32 in the file */
    CHECK(copy_file(TEXTENC_FIX "bert_tiny/model.safetensors", st) == 0);
    CHECK(rv_encoder_load(&e, d, 5, k, &err) == -1 && strstr(err.msg, "5 layers") && strstr(err.msg, "3"));
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == 0);
    int V = e ? rv_encoder_cfg(e)->vocab : 0;
    rv_encoder_free(e);
    e = NULL;
    char got[64], want[64];
    snprintf(got, sizeof got, "[%d, 32]", V);
    snprintf(want, sizeof want, "[%d, 48]", V);
    char *text;
    size_t len;
    CHECK(rv_read_file(cfg, &text, &len, &err) == 0);
    char *p = strstr(text, "\"hidden_size\": 32");
    CHECK(p != NULL);
    if (p) {
        memcpy(p, "\"hidden_size\": 48", 17);
        te_write_file(d, "config.json", text);
        CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "embeddings.word_embeddings.weight") &&
              strstr(err.msg, got) && strstr(err.msg, want) && strstr(err.msg, "hidden_size"));
    }
    free(text);
    /* DistilBERT config over BERT weights: its tensor names are absent */
    CHECK(copy_file(TEXTENC_FIX "distil_tiny/config.json", cfg) == 0);
    CHECK(rv_encoder_load(&e, d, 0, k, &err) == -1 && strstr(err.msg, "transformer.layer.0.attention.q_lin.weight") &&
          strstr(err.msg, "missing"));
    free(cfg);
    free(st);
    free(d);
}

int main(void) {
    rv_err err;
    rv_kctx *k = NULL;
    rvk_cpu_opts co = {.nthreads = 2};
    CHECK(rvk_create(&k, "cpu", &co, &err) == 0);
    if (!k) return check_summary("test_textenc_encoder");
    tiny_parity(k, "bert_tiny", RV_ENC_BERT);
    tiny_parity(k, "distil_tiny", RV_ENC_DISTILBERT);
    tiny_parity(k, "roberta_tiny", RV_ENC_ROBERTA);
    extras(k);
    char tmp[] = "/tmp/rv_textenc_enc_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    hostile(k, tmp);
    nested_prefix(k, tmp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    rvk_destroy(k);
    return check_summary("test_textenc_encoder");
}
