/* rv_hf_load checks the safetensors headers against config.json before it takes the parameter
 * memory (issue L item 11): a config.json of `{}` (every size at its default: a model of tens of
 * GiB) next to a small safetensors file must fail at once, naming the tensor and the config, on
 * a CPU context that may hold only 64 MiB (rvk_cpu_opts.mem_limit). Loading in the old order
 * (build the table, then read) fails instead with "weights: cannot hold N parameters": that
 * message must not appear. The same for a config that describes a tiny model whose tensors are
 * missing from the file. The file is written here with io/safetensors (no Python). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/safetensors.h"
#include "model/hf.h"

static void put(const char *dir, const char *name, const char *text) {
    char *p = rv_path_join(dir, name);
    rv_err e = {{0}};
    CHECK(rv_write_atomic(p, text, strlen(text), &e) == 0);
    free(p);
}

int main(void) {
    char tmp[] = "/tmp/rv_hf_first_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    rv_err err = {{0}};
    rvk_cpu_opts o = {.mem_limit = (size_t)64 << 20};
    rv_kctx *kc = NULL;
    if (rvk_create(&kc, "cpu", &o, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }

    /* the defaults of `{}` really are far beyond the 64 MiB the context may hold */
    rv_model_cfg big;
    CHECK(rv_model_cfg_from_hf_text("{}", "{}", 2, &big, &err) == 0);
    rv_weights lay;
    CHECK(rv_weights_layout(&lay, &big, &err) == 0);
    CHECK(lay.total * sizeof(float) > ((size_t)1 << 30));
    fprintf(stderr, "config {}: %zu parameters (%.1f GiB fp32)\n", lay.total, (double)lay.total * 4 / (1 << 30));
    rv_weights_free(&lay);

    /* one small tensor: a 4 x 8 embedding */
    float vals[32];
    for (int i = 0; i < 32; i++) vals[i] = (float)i;
    rv_st_out t = {.name = "language_model.model.embed_tokens.weight", .dtype = RV_ST_F32, .ndim = 2,
                   .shape = {4, 8}, .data = vals, .src_dtype = RV_ST_F32};
    char *st = rv_path_join(tmp, "model.safetensors");
    CHECK(rv_st_write(st, &t, 1, &err) == 0);
    put(tmp, "config.json", "{}");

    rv_model_cfg mc;
    rv_weights w;
    rv_hf_info info;
    int rc = rv_hf_load(tmp, NULL, kc, &mc, &w, &info, &err);
    CHECK(rc == -1);
    fprintf(stderr, "{}: %s\n", err.msg);
    CHECK(strstr(err.msg, "model.safetensors: tensor 'language_model.model.embed_tokens.weight' has shape [4, 8], but ")
          != NULL);
    CHECK(strstr(err.msg, "config.json implies [") != NULL);
    CHECK(strstr(err.msg, "the config does not match the weights") != NULL);
    CHECK(strstr(err.msg, "cannot hold") == NULL);
    CHECK(w.n == 0 && w.t == NULL && w.params == NULL); /* nothing left allocated */

    /* a tiny model's config whose other tensors are not in the file; the context may hold less
     * than the tiny model, so only a check before allocating reaches the missing tensor */
    put(tmp, "config.json",
        "{\"image_token_index\": 3, \"image_grid_pinpoints\": [[28, 28]], \"text_config\": {\"vocab_size\": 4, \"hidden_size\": 8, \"intermediate_size\": 16, "
        "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1}, "
        "\"vision_config\": {\"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 2, \"image_size\": 28, \"patch_size\": 14}}");
    rvk_cpu_opts small = o;
    small.mem_limit = 64; /* bytes: below any model */
    CHECK(rvk_cpu_set_opts(kc, &small, &err) == 0);
    rc = rv_hf_load(tmp, NULL, kc, &mc, &w, &info, &err);
    CHECK(rc == -1);
    fprintf(stderr, "tiny: %s\n", err.msg);
    CHECK(strstr(err.msg, "is missing (also looked for its other spellings") != NULL);
    CHECK(strstr(err.msg, "cannot hold") == NULL);
    CHECK(w.n == 0 && w.t == NULL);

    rvk_destroy(kc);
    unlink(st);
    char *cj = rv_path_join(tmp, "config.json");
    unlink(cj);
    free(cj);
    free(st);
    rmdir(tmp);
    return check_summary("test_hf_check_first");
}
