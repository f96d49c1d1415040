/* model/hf.h directly (the import/export phases are tested in test_checkpoint and e2e):
 *  - rv_hf_load of a tiny F16 HF directory (tests/fixtures/ckpt/gen_ckpt_fixture.py): config,
 *    table, dtype, file count; the values equal the file's, read independently with io/safetensors;
 *  - rv_hf_save -> rv_hf_load gives the same weights bit for bit and carries the side files;
 *  - errors: no config.json, a path that does not exist; nothing stays allocated;
 *  - rv_hf_parse_size on transformers' units, by hand. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/safetensors.h"
#include "model/hf.h"

#define GEN RADVLM_SOURCE_DIR "/tests/fixtures/ckpt/gen_ckpt_fixture.py"

int main(void) {
    char tmp[] = "/tmp/rv_hf_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    rv_err err = {{0}};
    rv_kctx *kc = NULL;
    if (rvk_create(&kc, "cpu", NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    char *src = rv_path_join(tmp, "src"), *out = rv_path_join(tmp, "out");
    char *cmd = rv_xasprintf("python3 '%s' hf '%s' --dtype F16 >/dev/null", GEN, src);
    CHECK(system(cmd) == 0);
    free(cmd);

    rv_model_cfg mc;
    rv_weights w;
    rv_hf_info info;
    int rc = rv_hf_load(src, NULL, kc, &mc, &w, &info, &err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return check_summary("hf"); }
    CHECK_STR(info.dtype, "F16");
    CHECK(info.nfiles == 1 && w.n == 68 && mc.text.hidden == 64 && mc.vision.hidden == 32);
    char *cj = rv_path_join(src, "config.json"), *ctext = NULL;
    CHECK(rv_read_file(cj, &ctext, NULL, &err) == 0 && strcmp(ctext, info.config_text) == 0);
    CHECK_STR(info.config_path, cj);
    /* every tensor equals the file's values */
    rv_st_set set;
    float *a = malloc(w.total * 4 + 4), *b = malloc(w.total * 4 + 4);
    if (rv_st_set_open(&set, src, &err) == 0) {
        bool same = set.n == w.n;
        for (size_t i = 0; i < w.n && same; i++) {
            const rv_st_tensor *t = rv_st_set_find(&set, w.t[i].name);
            same = t && rv_st_read_f32(&set.files[t->file], t, a, &err) == 0 &&
                   rv_weights_download_tensor(&w, i, b, &err) == 0 && memcmp(a, b, w.t[i].numel * 4) == 0;
        }
        CHECK(same);
        rv_st_set_close(&set);
    }

    /* side files, then save and load again */
    rv_hf_file *files;
    size_t nf;
    CHECK(rv_hf_read_side_files(src, NULL, &files, &nf, &err) == 0 && nf >= 1 && strcmp(files[0].name, "tokenizer.json") == 0);
    int ns = 0;
    CHECK(rv_hf_save(out, &w, info.config_text, RV_ST_F16, 0, files, nf, &ns, &err) == 0 && ns == 1);
    rv_model_cfg mc2;
    rv_weights w2;
    rv_hf_info info2;
    CHECK(rv_hf_load(out, NULL, kc, &mc2, &w2, &info2, &err) == 0);
    CHECK_STR(info2.dtype, "F16");
    bool same = w2.n == w.n;
    for (size_t i = 0; i < w.n && same; i++)
        same = rv_weights_download_tensor(&w, i, a, &err) == 0 && rv_weights_download_tensor(&w2, i, b, &err) == 0 &&
               memcmp(a, b, w.t[i].numel * 4) == 0;
    CHECK(same);
    CHECK(strstr(info2.config_text, "\"torch_dtype\": \"float16\"") != NULL);
    char *t1 = rv_path_join(src, "tokenizer.json"), *t2 = rv_path_join(out, "tokenizer.json"), *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(rv_read_file(t1, &d1, &l1, &err) == 0 && rv_read_file(t2, &d2, &l2, &err) == 0 && l1 == l2 &&
          memcmp(d1, d2, l1) == 0);
    free(d1);
    free(d2);
    free(t1);
    free(t2);
    /* a side-file name that would escape the directory is refused */
    rv_hf_file evil = {"../evil", "x", 1};
    CHECK(rv_hf_save(out, &w, info.config_text, RV_ST_F16, 0, &evil, 1, NULL, &err) == -1 &&
          strstr(err.msg, "plain file name"));
    /* a given tokenizer that does not exist */
    rv_hf_file *f2;
    size_t n2;
    CHECK(rv_hf_read_side_files(src, "/nonexistent/tok.json", &f2, &n2, &err) == -1 && strstr(err.msg, "/nonexistent/tok.json"));
    rv_hf_files_free(files, nf);
    rv_hf_info_free(&info2);
    rv_weights_free(&w2);

    /* errors leave nothing allocated */
    unlink(cj);
    rv_weights w3;
    rv_hf_info info3;
    CHECK(rv_hf_load(src, NULL, kc, &mc2, &w3, &info3, &err) == -1 && strstr(err.msg, "config.json is missing"));
    CHECK(w3.t == NULL && w3.n == 0 && info3.config_text == NULL);
    CHECK(rv_hf_load("/nonexistent/hf", NULL, kc, &mc2, &w3, &info3, &err) == -1 && strstr(err.msg, "does not exist"));

    /* sizes as transformers reads them */
    uint64_t s = 1;
    CHECK(rv_hf_parse_size("5GB", &s) == 0 && s == 5000000000ull);
    CHECK(rv_hf_parse_size("2GiB", &s) == 0 && s == 2147483648ull);
    CHECK(rv_hf_parse_size("100KB", &s) == 0 && s == 100000ull);
    CHECK(rv_hf_parse_size("0", &s) == 0 && s == 0);
    CHECK(rv_hf_parse_size("12x", &s) == -1);
    CHECK(rv_hf_parse_size("", &s) == -1);

    free(a);
    free(b);
    free(ctext);
    free(cj);
    rv_hf_info_free(&info);
    rv_weights_free(&w);
    cmd = rv_xasprintf("rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
    free(cmd);
    free(src);
    free(out);
    rvk_destroy(kc);
    return check_summary("hf");
}
