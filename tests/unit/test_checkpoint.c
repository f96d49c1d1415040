/* Native HDF5 checkpoints and the import/export phases:
 *  - write/read round trip of weights, AdamW moments, step, RNG, cursor, texts and side files;
 *  - ZeRO-1 shards: ranks written one after another in this process (as N ranks would, each its own
 *    file), completed by rank 0; loading for another rank count (2 -> 3, 3 -> 1, 2 -> 2) gives the
 *    moments of the full arrays bitwise, also into another arena layout (tensors matched by name);
 *    h5py follows docs/checkpoints.md to a tensor's moments; a missing, foreign or damaged shard
 *    is refused by name;
 *  - schema 1 (full moments per tensor) from tests/fixtures/ckpt/schema1.h5, written by the old code;
 *  - refusals: not HDF5, foreign HDF5, incomplete (no completion mark), truncated, damaged data
 *    (Fletcher32), another model config; a write killed with SIGKILL leaves nothing that loads;
 *  - import -> export -> import of tiny HF checkpoints from tests/fixtures/ckpt/gen_ckpt_fixture.py
 *    (F16 llava-hf names, BF16 newer-transformers names in shards, F32 lmms-lab names): exported
 *    tensor bytes equal the source's, and the re-imported weights equal the first import;
 *  - bad HF input: missing tensor, wrong shape, wrong dtype, lm_head vs tie_word_embeddings,
 *    truncated file; each error names the tensor or key. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "io/h5util.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/partition.h"
#include "model/config.h"
#include "model/weights.h"
#include "phases/phase.h"

int rv_phase_import(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_export(rv_phase_ctx *ctx, rv_err *err);

#define GEN RADVLM_SOURCE_DIR "/tests/fixtures/ckpt/gen_ckpt_fixture.py"

static char tmp[256];

static char *tp(const char *name) { return rv_path_join(tmp, name); }

static rv_kctx *kc; /* the backend holding the weights (cpu) */

/* Tensor i of a and b hold the same bytes (read through the host staging API). */
static int build_tiny(rv_weights *w, rv_model_cfg *mc, int vocab) {
    rv_err err;
    if (rv_model_cfg_preset("tiny", mc, &err)) return -1;
    if (vocab) mc->text.vocab = vocab;
    if (rv_weights_build(w, mc, kc, &err) || rv_weights_init_random(w, 3, 0.02f, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static char *cfg_json(const rv_model_cfg *mc) {
    rv_sb sb;
    rv_sb_init(&sb);
    rv_model_cfg_to_hf_json(mc, &sb);
    return rv_sb_take(&sb);
}

/* Two tables hold the same parameter values (through host staging, as code outside model/ must). */
static bool same_params(const rv_weights *a, const rv_weights *b) {
    rv_err err;
    if (a->n != b->n) return false;
    size_t most = 1;
    for (size_t i = 0; i < a->n; i++) most = a->t[i].numel > most ? a->t[i].numel : most;
    float *x = malloc(most * 4), *y = malloc(most * 4);
    bool same = true;
    for (size_t i = 0; i < a->n && same; i++)
        same = a->t[i].numel == b->t[i].numel && rv_weights_download_tensor(a, i, x, &err) == 0 &&
               rv_weights_download_tensor(b, i, y, &err) == 0 && memcmp(x, y, a->t[i].numel * 4) == 0;
    free(x);
    free(y);
    return same;
}

#define EXPECT_ERR(expr, n1, n2)                                                                          \
    do {                                                                                                  \
        rv_err e_ = {{0}};                                                                                \
        rv_err *err_ = &e_;                                                                               \
        (void)err_;                                                                                       \
        int rc_ = (expr);                                                                                 \
        CHECK(rc_ == -1);                                                                                 \
        if (rc_ == -1 && (!strstr(e_.msg, n1) || !strstr(e_.msg, n2))) {                                  \
            CHECK(!"message lacks expected text");                                                        \
            fprintf(stderr, "  message: %s (wanted '%s', '%s')\n", e_.msg, n1, n2);                       \
        }                                                                                                 \
    } while (0)

static void test_roundtrip(void) {
    rv_err err = {{0}};
    rv_weights w;
    rv_model_cfg mc;
    if (build_tiny(&w, &mc, 0)) { CHECK(0); return; }
    float *m = malloc(w.total * 4), *v = malloc(w.total * 4);
    for (size_t i = 0; i < w.total; i++) { m[i] = (float)i * 1e-3f; v[i] = (float)(w.total - i); }
    rv_rng rng;
    rv_rng_init(&rng, 77, 1, 2);
    (void)rv_rng_u32(&rng);
    rv_sampler_cursor cur = {1, 2, 3, 4, 5, 6};
    char *mcj = cfg_json(&mc);
    const char tok[] = "{\"model\": {\"type\": \"BPE\"}}\0tail"; /* a NUL inside must survive */
    rv_ckpt_file files[] = {{"tokenizer.json", tok, sizeof tok - 1}, {"empty.txt", "", 0}};
    rv_ckpt_data d = {.w = &w, .adam_m = m, .adam_v = v, .step = 42, .rng = &rng, .cursor = &cur,
                      .state_json = "{\"lr\": 0.5}", .run_config_json = "{\"run\": {}}", .model_config_json = mcj,
                      .source_dtype = "BF16", .source = "/x/y", .files = files, .nfiles = 2};
    char *dir = tp("run"), *p = rv_ckpt_path(dir, 42);
    char *ckdir = rv_path_dirname(p);
    rv_mkdir_p(ckdir, &err);
    CHECK(rv_ckpt_write(p, &d, &err) == 0);
    char *lat = NULL;
    CHECK(rv_ckpt_latest(dir, &lat, &err) == 1 && lat && strcmp(lat, p) == 0);
    free(lat);
    rv_ckpt *ck;
    int rc = rv_ckpt_open(&ck, p, &err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return; }
    CHECK(rv_ckpt_step(ck) == 42);
    CHECK_STR(rv_ckpt_model_config(ck), mcj);
    CHECK_STR(rv_ckpt_run_config(ck), "{\"run\": {}}");
    CHECK_STR(rv_ckpt_state_json(ck), "{\"lr\": 0.5}");
    CHECK_STR(rv_ckpt_source_dtype(ck), "BF16");
    CHECK_STR(rv_ckpt_source(ck), "/x/y");
    CHECK(rv_ckpt_has_adam(ck));
    rv_weights w2;
    rv_model_cfg mc2;
    CHECK(rv_model_cfg_from_hf_text("ckpt", rv_ckpt_model_config(ck), strlen(rv_ckpt_model_config(ck)), &mc2, &err) == 0);
    CHECK(rv_weights_build(&w2, &mc2, kc, &err) == 0 && w2.total == w.total);
    CHECK(rv_ckpt_load_weights(ck, &w2, &err) == 0);
    CHECK(same_params(&w, &w2));
    bool same;
    float *m2 = calloc(w.total, 4), *v2 = calloc(w.total, 4);
    CHECK(rv_ckpt_load_adam(ck, &w2, m2, v2, &err) == 0);
    same = true;
    for (size_t i = 0; i < w.n; i++)
        same = same && memcmp(m + w.t[i].offset, m2 + w.t[i].offset, w.t[i].numel * 4) == 0 &&
               memcmp(v + w.t[i].offset, v2 + w.t[i].offset, w.t[i].numel * 4) == 0;
    CHECK(same);
    rv_rng r2;
    CHECK(rv_ckpt_load_rng(ck, &r2, &err) == 1 && rv_rng_u64(&r2) == rv_rng_u64(&rng));
    rv_sampler_cursor c2;
    CHECK(rv_ckpt_load_cursor(ck, &c2, &err) == 1 && memcmp(&c2, &cur, sizeof cur) == 0);
    char *data;
    size_t len;
    CHECK(rv_ckpt_load_file(ck, "tokenizer.json", &data, &len, &err) == 1 && len == sizeof tok - 1 &&
          memcmp(data, tok, len) == 0);
    free(data);
    CHECK(rv_ckpt_load_file(ck, "empty.txt", &data, &len, &err) == 1 && len == 0);
    free(data);
    CHECK(rv_ckpt_load_file(ck, "nope.json", &data, &len, &err) == 0);
    char **names;
    size_t nn;
    CHECK(rv_ckpt_list_files(ck, &names, &nn, &err) == 0 && nn == 2);
    rv_free_strv(names, nn);
    rv_ckpt_close(ck);

    /* the same file against another model config: the error names a tensor */
    rv_weights w3;
    rv_model_cfg mc3 = mc;
    mc3.text.layers = 3;
    CHECK(rv_weights_build(&w3, &mc3, kc, &err) == 0);
    CHECK(rv_ckpt_open(&ck, p, &err) == 0);
    EXPECT_ERR(rv_ckpt_load_weights(ck, &w3, err_), "language_model.model.layers.2.", "missing");
    rv_weights_free(&w3);
    mc3 = mc;
    mc3.text.intermediate = 384;
    CHECK(rv_weights_build(&w3, &mc3, kc, &err) == 0);
    EXPECT_ERR(rv_ckpt_load_weights(ck, &w3, err_), "mlp.", "shape [");
    rv_weights_free(&w3);
    mc3 = mc;
    mc3.text.layers = 1;
    CHECK(rv_weights_build(&w3, &mc3, kc, &err) == 0);
    EXPECT_ERR(rv_ckpt_load_weights(ck, &w3, err_), "layers.1.", "not part of the model");
    rv_weights_free(&w3);
    rv_ckpt_close(ck);

    /* damage one chunk of one tensor: Fletcher32 catches it and the message names the tensor */
    char *bad = tp("damaged.h5");
    char *cmd = rv_xasprintf("cp '%s' '%s'", p, bad);
    CHECK(system(cmd) == 0);
    free(cmd);
    hid_t f = H5Fopen(bad, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/weights/language_model.model.norm.weight", H5P_DEFAULT);
    hsize_t coord[1] = {0}, csize = 0;
    haddr_t addr = 0;
    unsigned fm = 0;
    CHECK(H5Dget_chunk_info_by_coord(ds, coord, &fm, &addr, &csize) >= 0 && csize > 8);
    H5Dclose(ds);
    H5Fclose(f);
    FILE *fp = fopen(bad, "r+b");
    unsigned char byte;
    fseek(fp, (long)addr + 5, SEEK_SET);
    CHECK(fread(&byte, 1, 1, fp) == 1);
    byte ^= 0x40;
    fseek(fp, (long)addr + 5, SEEK_SET);
    fwrite(&byte, 1, 1, fp);
    fclose(fp);
    CHECK(rv_ckpt_open(&ck, bad, &err) == 0);
    EXPECT_ERR(rv_ckpt_load_weights(ck, &w2, err_), "language_model.model.norm.weight", "damaged");
    rv_ckpt_close(ck);

    /* truncated copy, text file, foreign HDF5, missing completion mark */
    struct stat st;
    stat(p, &st);
    cmd = rv_xasprintf("head -c %lld '%s' > '%s'", (long long)st.st_size / 2, p, bad);
    CHECK(system(cmd) == 0);
    free(cmd);
    EXPECT_ERR(rv_ckpt_open(&ck, bad, err_), "damaged.h5", "truncated");
    rv_write_atomic(bad, "hello", 5, &err);
    EXPECT_ERR(rv_ckpt_open(&ck, bad, err_), "damaged.h5", "not an HDF5 file");
    hid_t h = rv_h5_create(bad, &err);
    H5Fclose(h);
    EXPECT_ERR(rv_ckpt_open(&ck, bad, err_), "not a radvlm-hpc checkpoint", "missing");
    h = rv_h5_create(bad, &err);
    int64_t one = 1;
    rv_h5_attr_str_set(h, "format", "radvlm-hpc shards", "t", &err);
    H5Fclose(h);
    EXPECT_ERR(rv_ckpt_open(&ck, bad, err_), "not a radvlm-hpc checkpoint", "radvlm-hpc shards");
    h = rv_h5_create(bad, &err);
    rv_h5_attr_str_set(h, "format", RV_CKPT_FORMAT, "t", &err);
    rv_h5_attr_i64_set(h, "schema_version", &one, 1, "t", &err);
    H5Fclose(h);
    EXPECT_ERR(rv_ckpt_open(&ck, bad, err_), "incomplete", "interrupted");
    EXPECT_ERR(rv_ckpt_open(&ck, "/nonexistent/x.h5", err_), "/nonexistent/x.h5", "no such");
    /* invalid inputs to the writer */
    rv_ckpt_data d2 = d;
    d2.adam_v = NULL;
    EXPECT_ERR(rv_ckpt_write(bad, &d2, err_), "AdamW", "both");
    d2 = d;
    rv_ckpt_file badf = {"../evil", "x", 1};
    d2.files = &badf;
    d2.nfiles = 1;
    EXPECT_ERR(rv_ckpt_write(bad, &d2, err_), "../evil", "plain file name");
    CHECK(!rv_exists(bad) || rv_ckpt_open(&ck, bad, &err) == -1);

    free(bad);
    free(m);
    free(v);
    free(m2);
    free(v2);
    free(mcj);
    free(ckdir);
    free(p);
    free(dir);
    rv_weights_free(&w);
    rv_weights_free(&w2);
}

/* SIGKILL during a write: no file under the final name, the temporary file is refused, and the
 * latest checkpoint is still the earlier one. */
static void test_killed_write(void) {
    rv_err err = {{0}};
    rv_weights w;
    rv_model_cfg mc;
    if (build_tiny(&w, &mc, 60000)) { CHECK(0); return; } /* ~8M parameters: the write takes a while */
    char *mcj = cfg_json(&mc);
    char *dir = tp("killrun"), *p1 = rv_ckpt_path(dir, 1), *p2 = rv_ckpt_path(dir, 2);
    char *ckdir = rv_path_dirname(p1);
    rv_mkdir_p(ckdir, &err);
    rv_ckpt_data d = {.w = &w, .step = 1, .model_config_json = mcj};
    CHECK(rv_ckpt_write(p1, &d, &err) == 0);
    float *m = calloc(w.total, 4), *v = calloc(w.total, 4);
    pid_t pid = fork();
    if (pid == 0) {
        rv_ckpt_data d2 = {.w = &w, .step = 2, .model_config_json = mcj, .adam_m = m, .adam_v = v};
        for (;;) rv_ckpt_write(p2, &d2, &err), unlink(p2); /* keep writing until killed */
    }
    char *tmpname = rv_xasprintf("%s.tmp-%ld", p2, (long)pid);
    struct stat st;
    bool seen = false;
    for (int i = 0; i < 20000 && !seen; i++) {
        seen = stat(tmpname, &st) == 0 && st.st_size > (1 << 20);
        if (!seen) nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(seen);
    char *lat = NULL;
    CHECK(rv_ckpt_latest(dir, &lat, &err) == 1 && lat && strcmp(lat, p1) == 0);
    free(lat);
    rv_ckpt *ck;
    if (rv_exists(tmpname)) {
        CHECK(rv_ckpt_open(&ck, tmpname, &err) == -1);
        if (!strstr(err.msg, "incomplete") && !strstr(err.msg, "truncated") && !strstr(err.msg, "damaged"))
            fprintf(stderr, "killed write refused with: %s\n", err.msg);
        unlink(tmpname);
    }
    /* a final-name file only exists if a whole write finished; then it loads */
    if (rv_exists(p2)) {
        CHECK(rv_ckpt_open(&ck, p2, &err) == 0);
        rv_ckpt_close(ck);
    }
    CHECK(rv_ckpt_open(&ck, p1, &err) == 0 && rv_ckpt_step(ck) == 1 && !rv_ckpt_has_adam(ck));
    EXPECT_ERR(rv_ckpt_load_adam(ck, &w, m, v, err_), "no optimizer state", "");
    rv_ckpt_close(ck);
    free(tmpname);
    free(m);
    free(v);
    free(mcj);
    free(ckdir);
    free(p1);
    free(p2);
    free(dir);
    rv_weights_free(&w);
}

/* ---- ZeRO-1 optimizer shards ---- */

/* Moments with a recognisable value per arena element, 0 in the padding (what a trainer holds). */
static void fill_moments(const rv_weights *w, float *m, float *v) {
    memset(m, 0, w->total * 4);
    memset(v, 0, w->total * 4);
    for (size_t i = 0; i < w->n; i++)
        for (size_t k = 0; k < w->t[i].numel; k++) {
            size_t a = w->t[i].offset + k;
            m[a] = (float)a * 0.001f - 3.0f;
            v[a] = 1.0f / (float)(a + 7);
        }
}

/* Saves as nranks ranks would: each rank writes its slice, then rank 0 completes the checkpoint. */
static int save_sharded(const char *p, const rv_weights *w, const char *mcj, int64_t step, int nranks, const float *m,
                        const float *v, rv_err *err) {
    for (int r = 0; r < nranks; r++) {
        rv_range q = rv_partition(w->total, r, nranks);
        if (rv_ckpt_write_shard(p, w, step, r, nranks, m + q.off, v + q.off, err)) return -1;
    }
    rv_ckpt_data d = {.w = w, .optim_shards = nranks, .step = step, .model_config_json = mcj};
    return rv_ckpt_write(p, &d, err);
}

/* Loads the checkpoint as each rank of an nranks run and compares every slice with the full arrays. */
static bool resliced_equal(const char *p, const rv_weights *w, int nranks, const float *m, const float *v) {
    rv_err err = {{0}};
    rv_ckpt *ck;
    if (rv_ckpt_open(&ck, p, &err)) { fprintf(stderr, "%s\n", err.msg); return false; }
    bool ok = true;
    size_t covered = 0;
    for (int r = 0; r < nranks && ok; r++) {
        rv_range q = rv_partition(w->total, r, nranks);
        float *m2 = malloc(q.n * 4 + 4), *v2 = malloc(q.n * 4 + 4);
        memset(m2, 0xff, q.n * 4); /* NaN bytes: every element must be written */
        memset(v2, 0xff, q.n * 4);
        ok = rv_ckpt_load_adam_shard(ck, w, r, nranks, m2, v2, &err) == 0 && memcmp(m2, m + q.off, q.n * 4) == 0 &&
             memcmp(v2, v + q.off, q.n * 4) == 0;
        if (!ok) fprintf(stderr, "rank %d of %d: %s\n", r, nranks, err.msg);
        covered += q.n;
        free(m2);
        free(v2);
    }
    rv_ckpt_close(ck);
    return ok && covered == w->total;
}

static void test_sharded(void) {
    rv_err err = {{0}};
    rv_weights w;
    rv_model_cfg mc;
    if (build_tiny(&w, &mc, 0)) { CHECK(0); return; }
    char *mcj = cfg_json(&mc);
    float *m = malloc(w.total * 4), *v = malloc(w.total * 4);
    fill_moments(&w, m, v);
    char *dir = tp("zero"), *p2 = rv_ckpt_path(dir, 10), *p3 = rv_ckpt_path(dir, 11);
    char *ckdir = rv_path_dirname(p2);
    rv_mkdir_p(ckdir, &err);

    /* 2 ranks save; 3 ranks, 1 rank and 2 ranks load the same moments, bit for bit */
    CHECK(save_sharded(p2, &w, mcj, 10, 2, m, v, &err) == 0);
    char *s0 = rv_ckpt_shard_path(p2, 0, 2), *s1 = rv_ckpt_shard_path(p2, 1, 2);
    CHECK(rv_is_file(s0) && rv_is_file(s1) && strstr(s1, "step-00000010.optim/rank-00001-of-00002.h5"));
    CHECK(resliced_equal(p2, &w, 3, m, v));
    /* an independent reader: h5py follows docs/checkpoints.md to one tensor's first moment */
    if (system("python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0) {
        int h = rv_weights_find(&w, "language_model.model.norm.weight");
        char *cmd = rv_xasprintf(
            "python3 -c \"import h5py, numpy as np, os, sys\n"
            "f = h5py.File(sys.argv[1], 'r'); o = f['optim']; d = o.attrs['dir'].decode(); k = len(o['ranges'])\n"
            "names = bytes(o['tensor_names'][()]).decode().split(chr(10))[:-1]\n"
            "off, n = o['tensor_offsets'][names.index('language_model.model.norm.weight')]\n"
            "base = os.path.dirname(sys.argv[1])\n"
            "m = np.concatenate([h5py.File(f'{base}/{d}/rank-{r:05d}-of-{k:05d}.h5', 'r')['adam/m'][()] for r in range(k)])\n"
            "a = np.arange(off, off + n, dtype=np.float32)\n"
            "assert off == int(sys.argv[2]) and k == 2 and np.array_equal(m[off:off + n], a * np.float32(0.001) - np.float32(3)), off\n"
            "print('h5py reads the shards')\" '%s' %zu", p2, w.t[h].offset);
        CHECK(system(cmd) == 0);
        free(cmd);
    }
    CHECK(resliced_equal(p2, &w, 1, m, v));
    CHECK(resliced_equal(p2, &w, 2, m, v));
    CHECK(resliced_equal(p2, &w, 5, m, v));
    /* 3 ranks save; 1 rank loads everything */
    CHECK(save_sharded(p3, &w, mcj, 11, 3, m, v, &err) == 0);
    CHECK(resliced_equal(p3, &w, 1, m, v));
    CHECK(resliced_equal(p3, &w, 2, m, v));
    rv_ckpt *ck;
    if (rv_ckpt_open(&ck, p3, &err) == 0) {
        CHECK(rv_ckpt_schema(ck) == 2 && rv_ckpt_has_adam(ck) && rv_ckpt_adam_nranks(ck) == 3 && rv_ckpt_step(ck) == 11);
        /* an arbitrary range across shard and tensor boundaries */
        size_t off = w.t[3].offset + 5, n = w.total / 2;
        float *m2 = malloc(n * 4), *v2 = malloc(n * 4);
        CHECK(rv_ckpt_load_adam_range(ck, &w, off, n, m2, v2, &err) == 0 && memcmp(m2, m + off, n * 4) == 0 &&
              memcmp(v2, v + off, n * 4) == 0);
        EXPECT_ERR(rv_ckpt_load_adam_range(ck, &w, w.total - 4, 8, m2, v2, err_), "outside the arena", "");
        /* the weights are stored once, in the main file */
        rv_weights w2;
        CHECK(rv_weights_build(&w2, &mc, kc, &err) == 0 && rv_ckpt_load_weights(ck, &w2, &err) == 0 &&
              same_params(&w2, &w));
        rv_weights_free(&w2);
        free(m2);
        free(v2);
        rv_ckpt_close(ck);
    } else {
        CHECK(!"open the 3-rank checkpoint");
    }
    /* a loader whose arena is laid out differently (64-element alignment, the last two tensors
     * swapped): every tensor's moments come back at its new offset, the new padding is 0 */
    {
        rv_weights alt = w;
        alt.t = malloc(w.n * sizeof *alt.t);
        memcpy(alt.t, w.t, w.n * sizeof *alt.t);
        rv_wtensor last = alt.t[w.n - 1];
        alt.t[w.n - 1] = alt.t[w.n - 2];
        alt.t[w.n - 2] = last;
        alt.total = 0;
        for (size_t i = 0; i < w.n; i++) {
            alt.t[i].offset = alt.total;
            alt.total += (alt.t[i].numel + 63) & ~(size_t)63;
        }
        float *am = malloc(alt.total * 4), *av = malloc(alt.total * 4);
        memset(am, 0xff, alt.total * 4);
        memset(av, 0xff, alt.total * 4);
        bool ok = rv_ckpt_open(&ck, p3, &err) == 0;
        if (ok) {
            rv_range q = rv_partition(alt.total, 1, 2); /* rank 1 of 2 in the new layout ... */
            ok = rv_ckpt_load_adam_range(ck, &alt, 0, q.off, am, av, &err) == 0 && /* ... and the rest */
                 rv_ckpt_load_adam_shard(ck, &alt, 1, 2, am + q.off, av + q.off, &err) == 0;
            if (!ok) fprintf(stderr, "%s\n", err.msg);
            rv_ckpt_close(ck);
        }
        size_t at = 0;
        for (size_t i = 0; ok && i < w.n; i++) {
            const rv_wtensor *t = &alt.t[i];
            int h = rv_weights_find(&w, t->name); /* its offset in the saving layout */
            ok = memcmp(am + t->offset, m + w.t[h].offset, t->numel * 4) == 0 &&
                 memcmp(av + t->offset, v + w.t[h].offset, t->numel * 4) == 0;
            for (size_t k = at; ok && k < t->offset; k++) ok = am[k] == 0.0f && av[k] == 0.0f;
            at = t->offset + t->numel;
        }
        for (size_t k = at; ok && k < alt.total; k++) ok = am[k] == 0.0f && av[k] == 0.0f;
        CHECK(ok);
        free(am);
        free(av);
        free(alt.t);
    }
    /* a shard file removed after the save: loading names it */
    char *s32 = rv_ckpt_shard_path(p3, 2, 3), *moved = rv_xasprintf("%s.moved", s32);
    CHECK(rename(s32, moved) == 0);
    if (rv_ckpt_open(&ck, p3, &err) == 0) {
        float *m2 = malloc(w.total * 4), *v2 = malloc(w.total * 4);
        EXPECT_ERR(rv_ckpt_load_adam(ck, &w, m2, v2, err_), "rank-00002-of-00003.h5", "missing");
        /* the ranges that do not touch rank 2's shard still load */
        rv_range q = rv_partition(w.total, 0, 3);
        CHECK(rv_ckpt_load_adam_range(ck, &w, q.off, q.n, m2, v2, &err) == 0 && memcmp(m2, m, q.n * 4) == 0);
        free(m2);
        free(v2);
        rv_ckpt_close(ck);
    }
    /* completing a save whose shards are not all there makes no checkpoint, and says which is missing */
    char *p4 = rv_ckpt_path(dir, 12);
    rv_range q0 = rv_partition(w.total, 0, 3);
    CHECK(rv_ckpt_write_shard(p4, &w, 12, 0, 3, m, v, &err) == 0);
    rv_ckpt_data d = {.w = &w, .optim_shards = 3, .step = 12, .model_config_json = mcj};
    EXPECT_ERR(rv_ckpt_write(p4, &d, err_), "rank-00001-of-00003.h5", "missing");
    CHECK(!rv_exists(p4));
    /* a shard of another step (an older save) is refused */
    rv_range q1 = rv_partition(w.total, 1, 3), q2 = rv_partition(w.total, 2, 3);
    CHECK(rv_ckpt_write_shard(p4, &w, 9, 1, 3, m + q1.off, v + q1.off, &err) == 0);
    CHECK(rv_ckpt_write_shard(p4, &w, 12, 2, 3, m + q2.off, v + q2.off, &err) == 0);
    EXPECT_ERR(rv_ckpt_write(p4, &d, err_), "rank-00001-of-00003.h5", "step 9");
    CHECK(!rv_exists(p4));
    CHECK(rv_ckpt_write_shard(p4, &w, 12, 1, 3, m + q1.off, v + q1.off, &err) == 0);
    CHECK(rv_ckpt_write(p4, &d, &err) == 0 && rv_exists(p4));
    (void)q0;
    /* writing a shard for an existing step removes that step's checkpoint until it is completed again */
    CHECK(rv_ckpt_write_shard(p4, &w, 12, 0, 3, m, v, &err) == 0);
    CHECK(!rv_exists(p4));
    char *lat = NULL;
    CHECK(rv_ckpt_latest(dir, &lat, &err) == 1 && lat && strcmp(lat, p3) == 0); /* step 11: 12 is not complete */
    free(lat);
    /* a damaged shard: flipped bytes in the data are caught by the checksum, naming the shard */
    {
        char *sp = rv_ckpt_shard_path(p2, 1, 2), *buf = NULL;
        size_t len = 0;
        CHECK(rv_read_file(sp, &buf, &len, &err) == 0 && len > 8192);
        if (buf && len > 8192) {
            for (size_t i = len - 4096; i < len - 2048; i++) buf[i] ^= 0x5a;
            CHECK(rv_write_atomic(sp, buf, len, &err) == 0);
        }
        free(buf);
        if (rv_ckpt_open(&ck, p2, &err) == 0) {
            float *m2 = malloc(w.total * 4), *v2 = malloc(w.total * 4);
            EXPECT_ERR(rv_ckpt_load_adam(ck, &w, m2, v2, err_), "rank-00001-of-00002.h5", "damaged");
            free(m2);
            free(v2);
            rv_ckpt_close(ck);
        }
        free(sp);
    }
    /* a model of another shape: the optimizer state is refused by tensor */
    {
        rv_weights w3;
        rv_model_cfg mc3 = mc;
        mc3.text.intermediate = 192;
        CHECK(rv_weights_build(&w3, &mc3, kc, &err) == 0);
        if (rv_ckpt_open(&ck, p4, &err) == 0) {
            float *m2 = malloc(w3.total * 4), *v2 = malloc(w3.total * 4);
            EXPECT_ERR(rv_ckpt_load_adam(ck, &w3, m2, v2, err_), "mlp.", "elements, the model expects");
            free(m2);
            free(v2);
            rv_ckpt_close(ck);
        }
        rv_weights_free(&w3);
    }
    /* argument checks */
    EXPECT_ERR(rv_ckpt_write_shard(p4, &w, 12, 3, 3, m, v, err_), "rank 3 of 3", "no such rank");
    d.adam_m = m, d.adam_v = v;
    EXPECT_ERR(rv_ckpt_write(p4, &d, err_), "either as full arrays", "not both");
    /* rv_ckpt_remove: the file and its shards go */
    char *sdir = rv_ckpt_shard_dir(p3);
    CHECK(rv_ckpt_remove(p3, &err) == 0 && !rv_exists(p3) && !rv_exists(sdir));
    CHECK(rv_ckpt_remove(p3, &err) == 0); /* already gone: fine */
    free(sdir);
    free(s32);
    free(moved);
    free(s0);
    free(s1);
    free(p4);
    free(m);
    free(v);
    free(mcj);
    free(ckdir);
    free(p2);
    free(p3);
    free(dir);
    rv_weights_free(&w);
}

/* The schema-1 fixture (tests/fixtures/ckpt/gen_schema1.c at commit 9164135): full moments per
 * tensor. Values: weight[a] = a * 1e-3, m[a] = a * 0.5 + 0.25, v[a] = 1 / (a + 1) for arena index a. */
#define GEN_SCHEMA1_NO_MAIN
#include "../fixtures/ckpt/gen_schema1.c"

static void test_schema1(void) {
    rv_err err = {{0}};
    rv_ckpt *ck;
    int rc = rv_ckpt_open(&ck, RADVLM_SOURCE_DIR "/tests/fixtures/ckpt/schema1.h5", &err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return; }
    CHECK(rv_ckpt_schema(ck) == 1 && rv_ckpt_has_adam(ck) && rv_ckpt_adam_nranks(ck) == 1 && rv_ckpt_step(ck) == 7);
    CHECK_STR(rv_ckpt_state_json(ck), "{\"schema\": 1}");
    rv_model_cfg mc, micro;
    char *t = rv_xstrdup(rv_ckpt_model_config(ck)); /* used after close */
    CHECK(rv_model_cfg_from_hf_text("schema1", t, strlen(t), &mc, &err) == 0);
    gen_schema1_micro_cfg(&micro);
    CHECK(mc.text.hidden == micro.text.hidden && mc.vision.patch == micro.vision.patch);
    rv_weights w;
    if (rv_weights_build(&w, &mc, kc, &err)) { CHECK(0); rv_ckpt_close(ck); free(t); return; }
    CHECK(w.n == 40 && w.total == 1504);
    float *wm = calloc(w.total, 4), *m = calloc(w.total, 4), *v = calloc(w.total, 4), *host = malloc(w.total * 4);
    for (size_t i = 0; i < w.n; i++)
        for (size_t k = 0; k < w.t[i].numel; k++) {
            size_t a = w.t[i].offset + k;
            wm[a] = (float)a * 1e-3f;
            m[a] = (float)a * 0.5f + 0.25f;
            v[a] = 1.0f / (float)(a + 1);
        }
    CHECK(rv_ckpt_load_weights(ck, &w, &err) == 0);
    bool same = true;
    for (size_t i = 0; i < w.n && same; i++)
        same = rv_weights_download_tensor(&w, i, host, &err) == 0 &&
               memcmp(host, wm + w.t[i].offset, w.t[i].numel * 4) == 0;
    CHECK(same);
    float *m2 = malloc(w.total * 4), *v2 = malloc(w.total * 4);
    CHECK(rv_ckpt_load_adam(ck, &w, m2, v2, &err) == 0 && memcmp(m2, m, w.total * 4) == 0 &&
          memcmp(v2, v, w.total * 4) == 0);
    rv_ckpt_close(ck);
    /* re-sliced for 3 ranks straight from the schema-1 file */
    CHECK(resliced_equal(RADVLM_SOURCE_DIR "/tests/fixtures/ckpt/schema1.h5", &w, 3, m, v));
    /* saving it again (schema 2, 2 ranks) and loading on 1 rank keeps every bit */
    char *dir = tp("s1to2"), *p = rv_ckpt_path(dir, 7), *ckdir = rv_path_dirname(p);
    rv_mkdir_p(ckdir, &err);
    CHECK(save_sharded(p, &w, t, 7, 2, m2, v2, &err) == 0);
    CHECK(resliced_equal(p, &w, 1, m, v));
    /* a future schema is refused with the version named */
    {
        char *q = tp("schema9.h5"), *cmd = rv_xasprintf("cp '%s' '%s'", p, q);
        CHECK(system(cmd) == 0);
        hid_t f = H5Fopen(q, H5F_ACC_RDWR, H5P_DEFAULT);
        int64_t nine = 9;
        CHECK(f >= 0 && H5Adelete(f, "schema_version") >= 0 && rv_h5_attr_i64_set(f, "schema_version", &nine, 1, "t", &err) == 0);
        if (f >= 0) H5Fclose(f);
        EXPECT_ERR(rv_ckpt_open(&ck, q, err_), "schema_version 9", "reads 1 to 2");
        free(cmd);
        free(q);
    }
    free(p);
    free(ckdir);
    free(dir);
    free(t);
    free(m2);
    free(v2);
    free(wm);
    free(m);
    free(v);
    free(host);
    rv_weights_free(&w);
}

/* ---- import / export through the phase functions ---- */

static int gen(const char *dir, const char *args) {
    char *cmd = rv_xasprintf("python3 '%s' hf '%s' %s", GEN, dir, args);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static int run_phase(int (*fn)(rv_phase_ctx *, rv_err *), const char *run, const char *const *sets, int n, rv_err *err) {
    rv_phase_ctx ctx = {0};
    if (rv_config_load(&ctx.cfg, NULL, sets, n, err)) return -1;
    rv_mkdir_p(run, err);
    ctx.run_dir = run;
    ctx.comm = rv_comm_world(); /* one process: the phase runs on a world of one */
    int rc = fn(&ctx, err);
    rv_config_free(ctx.cfg);
    return rc;
}

static int do_import(const char *from, const char *run, rv_err *err) {
    char *s = rv_xasprintf("import.from=%s", from);
    const char *sets[] = {s};
    int rc = run_phase(rv_phase_import, run, sets, 1, err);
    free(s);
    return rc;
}

static int do_export(const char *run, const char *to, const char *dtype, rv_err *err) {
    char *s = rv_xasprintf("export.to=%s", to), *t = rv_xasprintf("export.dtype=%s", dtype);
    const char *sets[] = {s, t, "export.max_shard_size=0"};
    int rc = run_phase(rv_phase_export, run, sets, 3, err);
    free(s);
    free(t);
    return rc;
}

/* Every source tensor (any spelling) has the same bytes under its llava-hf name in out. */
static bool same_tensors(const char *src, const char *out, size_t *count) {
    rv_err err;
    rv_st_set a, b;
    if (rv_st_set_open(&a, src, &err)) { fprintf(stderr, "%s\n", err.msg); return false; }
    if (rv_st_set_open(&b, out, &err)) { fprintf(stderr, "%s\n", err.msg); rv_st_set_close(&a); return false; }
    bool ok = a.n == b.n;
    for (size_t i = 0; i < a.n && ok; i++) {
        char canon[512];
        rv_weights_canonical_name(a.t[i]->name, canon, sizeof canon);
        const rv_st_tensor *x = a.t[i], *y = rv_st_set_find(&b, canon);
        ok = y && x->dtype == y->dtype && x->nbytes == y->nbytes && x->ndim == y->ndim &&
             memcmp(x->shape, y->shape, sizeof x->shape) == 0;
        if (!ok) { fprintf(stderr, "tensor %s differs in name/dtype/shape\n", x->name); break; }
        char *bx = malloc(x->nbytes + 1), *by = malloc(y->nbytes + 1);
        ok = rv_st_read_raw(&a.files[x->file], x, bx, &err) == 0 && rv_st_read_raw(&b.files[y->file], y, by, &err) == 0 &&
             memcmp(bx, by, x->nbytes) == 0;
        if (!ok) fprintf(stderr, "tensor %s: bytes differ\n", x->name);
        free(bx);
        free(by);
    }
    *count = a.n;
    rv_st_set_close(&a);
    rv_st_set_close(&b);
    return ok;
}

static bool same_ckpt_weights(const char *p1, const char *p2) {
    rv_err err;
    rv_ckpt *a, *b;
    if (rv_ckpt_open(&a, p1, &err) || rv_ckpt_open(&b, p2, &err)) { fprintf(stderr, "%s\n", err.msg); return false; }
    rv_model_cfg mc;
    rv_weights wa, wb;
    const char *t = rv_ckpt_model_config(a);
    bool ok = rv_model_cfg_from_hf_text("a", t, strlen(t), &mc, &err) == 0 && rv_weights_build(&wa, &mc, kc, &err) == 0 &&
              rv_weights_build(&wb, &mc, kc, &err) == 0 && rv_ckpt_load_weights(a, &wa, &err) == 0 &&
              rv_ckpt_load_weights(b, &wb, &err) == 0;
    ok = ok && same_params(&wa, &wb);
    rv_weights_free(&wa);
    rv_weights_free(&wb);
    rv_ckpt_close(a);
    rv_ckpt_close(b);
    return ok;
}

static void roundtrip_case(const char *tag, const char *args, const char *dtype) {
    rv_err err = {{0}};
    char *src = tp(tag), *r1 = rv_xasprintf("%s.run1", src), *r2 = rv_xasprintf("%s.run2", src);
    char *e1 = rv_xasprintf("%s.exp1", src), *e2 = rv_xasprintf("%s.exp2", src);
    CHECK(gen(src, args) == 0);
    int rc = do_import(src, r1, &err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "%s: %s\n", tag, err.msg); goto out; }
    CHECK(do_export(r1, e1, "auto", &err) == 0);
    size_t n = 0;
    CHECK(same_tensors(src, e1, &n));
    CHECK(n > 60);
    CHECK(do_import(e1, r2, &err) == 0);
    char *c1 = rv_ckpt_path(r1, 0), *c2 = rv_ckpt_path(r2, 0);
    CHECK(same_ckpt_weights(c1, c2));
    rv_ckpt *ck;
    if (rv_ckpt_open(&ck, c2, &err) == 0) {
        CHECK_STR(rv_ckpt_source_dtype(ck), dtype);
        rv_ckpt_close(ck);
    }
    /* export of the re-import: byte-identical files */
    CHECK(do_export(r2, e2, "auto", &err) == 0);
    const char *files[] = {"model.safetensors", "config.json", "tokenizer.json", "generation_config.json"};
    for (int i = 0; i < 4; i++) {
        char *a = rv_path_join(e1, files[i]), *b = rv_path_join(e2, files[i]), *da = NULL, *db = NULL;
        size_t la = 0, lb = 0;
        CHECK(rv_read_file(a, &da, &la, &err) == 0 && rv_read_file(b, &db, &lb, &err) == 0 && la == lb &&
              memcmp(da, db, la) == 0);
        free(da);
        free(db);
        free(a);
        free(b);
    }
    /* side files are carried byte for byte; config.json records the dtype */
    char *ta = rv_path_join(src, "tokenizer.json"), *tb = rv_path_join(e1, "tokenizer.json"), *da = NULL, *db = NULL;
    CHECK(rv_read_file(ta, &da, NULL, &err) == 0 && rv_read_file(tb, &db, NULL, &err) == 0 && strcmp(da, db) == 0);
    free(da);
    free(db);
    free(ta);
    free(tb);
    char *cj = rv_path_join(e1, "config.json"), *txt = NULL;
    const char *tn = strcmp(dtype, "F16") == 0 ? "\"torch_dtype\": \"float16\"" : strcmp(dtype, "BF16") == 0 ?
                     "\"torch_dtype\": \"bfloat16\"" : "\"torch_dtype\": \"float32\"";
    CHECK(rv_read_file(cj, &txt, NULL, &err) == 0 && strstr(txt, tn));
    free(txt);
    free(cj);
    free(c1);
    free(c2);
out:
    free(src);
    free(r1);
    free(r2);
    free(e1);
    free(e2);
}

static void test_import_export(void) {
    roundtrip_case("hf_f16", "--dtype F16", "F16");
    roundtrip_case("hf_bf16_new_sharded", "--dtype BF16 --names new --shards 3 --seed 1", "BF16");
    roundtrip_case("hf_f32_lmms_untied", "--dtype F32 --names lmms --tie 0 --seed 2", "F32");

    rv_err err = {{0}};
    /* export dtype conversion: f16 -> f32 export holds the same values */
    char *r1 = tp("hf_f16.run1"), *e3 = tp("hf_f16.exp_f32");
    CHECK(do_export(r1, e3, "f32", &err) == 0);
    rv_st_set a, b;
    char *src = tp("hf_f16");
    if (rv_st_set_open(&a, src, &err) == 0) {
        if (rv_st_set_open(&b, e3, &err) == 0) {
            const char *nm = "language_model.model.embed_tokens.weight";
            const rv_st_tensor *x = rv_st_set_find(&a, nm), *y = rv_st_set_find(&b, nm);
            CHECK(x && y && y->dtype == RV_ST_F32 && x->dtype == RV_ST_F16);
            if (x && y) {
                float *fx = malloc(x->numel * 4), *fy = malloc(y->numel * 4);
                CHECK(rv_st_read_f32(&a.files[x->file], x, fx, &err) == 0 &&
                      rv_st_read_f32(&b.files[y->file], y, fy, &err) == 0 && memcmp(fx, fy, x->numel * 4) == 0);
                free(fx);
                free(fy);
            }
            rv_st_set_close(&b);
        }
        rv_st_set_close(&a);
    }
    /* importing into a run that already has a later checkpoint is refused */
    char *ck5 = rv_ckpt_path(r1, 5), *ck0 = rv_ckpt_path(r1, 0), *cmd = rv_xasprintf("cp '%s' '%s'", ck0, ck5);
    CHECK(system(cmd) == 0);
    EXPECT_ERR(do_import(src, r1, err_), "already holds checkpoint", "step-00000005.h5");
    free(cmd);
    free(ck5);
    free(ck0);
    free(src);
    free(r1);
    free(e3);
}

/* A copy of the F16 fixture with one tensor changed by fn (NULL data = drop it). */
static char *variant(const char *tag, const char *target, rv_st_dtype dt, uint64_t extra_dim, bool drop) {
    rv_err err;
    char *src = tp("hf_f16"), *dst = tp(tag);
    char *cmd = rv_xasprintf("rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
    CHECK(system(cmd) == 0);
    free(cmd);
    rv_st_set s;
    if (rv_st_set_open(&s, src, &err)) { CHECK(0); return dst; }
    rv_st_out *o = calloc(s.n + 1, sizeof *o);
    void **bufs = calloc(s.n + 1, sizeof *bufs);
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        const rv_st_tensor *t = s.t[i];
        bool hit = strcmp(t->name, target) == 0;
        if (hit && drop) continue;
        bufs[n] = malloc(t->numel * 4 + 64);
        rv_st_read_f32(&s.files[t->file], t, bufs[n], &err);
        o[n] = (rv_st_out){.name = t->name, .dtype = RV_ST_F16, .ndim = t->ndim, .data = bufs[n], .src_dtype = RV_ST_F32};
        memcpy(o[n].shape, t->shape, sizeof t->shape);
        if (hit) {
            o[n].dtype = dt == RV_ST_OTHER ? RV_ST_F16 : dt;
            if (extra_dim) o[n].shape[0] += extra_dim;
            if (extra_dim) bufs[n] = realloc(bufs[n], (t->numel / t->shape[0]) * o[n].shape[0] * 4), o[n].data = bufs[n];
        }
        n++;
    }
    if (strcmp(target, "language_model.lm_head.weight") == 0) { /* add an lm_head to a tied model */
        const rv_st_tensor *e = rv_st_set_find(&s, "language_model.model.embed_tokens.weight");
        bufs[n] = calloc(e->numel, 4);
        o[n] = (rv_st_out){.name = target, .dtype = RV_ST_F16, .ndim = 2, .shape = {e->shape[0], e->shape[1]},
                           .data = bufs[n], .src_dtype = RV_ST_F32};
        n++;
    }
    char *p = rv_path_join(dst, "model.safetensors");
    CHECK(rv_st_write(p, o, n, &err) == 0);
    free(p);
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(o);
    rv_st_set_close(&s);
    free(src);
    return dst;
}

static void test_bad_imports(void) {
    char *d, *run = tp("badrun");
    d = variant("bad_missing", "language_model.model.layers.1.mlp.up_proj.weight", RV_ST_F16, 0, true);
    EXPECT_ERR(do_import(d, run, err_), "'language_model.model.layers.1.mlp.up_proj.weight' is missing", "");
    free(d);
    d = variant("bad_shape", "multi_modal_projector.linear_1.weight", RV_ST_F16, 3, false);
    EXPECT_ERR(do_import(d, run, err_), "'multi_modal_projector.linear_1.weight' has shape [67, 32]",
               "text_config.hidden_size");
    free(d);
    d = variant("bad_lmhead", "language_model.lm_head.weight", RV_ST_F16, 0, false);
    EXPECT_ERR(do_import(d, run, err_), "'language_model.lm_head.weight'", "tie_word_embeddings=true");
    free(d);
    /* config that does not match: more layers than the file has */
    d = variant("bad_config", "none", RV_ST_F16, 0, false);
    char *cj = rv_path_join(d, "config.json"), *txt = NULL;
    rv_err err = {{0}};
    rv_read_file(cj, &txt, NULL, &err);
    char *at = strstr(txt, "\"num_hidden_layers\": 2");
    at = at ? strstr(at + 1, "\"num_hidden_layers\": 2") : NULL; /* the text_config one comes second */
    if (at) at[strlen("\"num_hidden_layers\": ")] = '3';
    CHECK(at != NULL);
    rv_write_atomic(cj, txt, strlen(txt), &err);
    EXPECT_ERR(do_import(d, run, err_), "'language_model.model.layers.2.", "is missing");
    /* ... and a hidden size that disagrees with every tensor */
    at = strstr(txt, "\"num_hidden_layers\": 3");
    if (at) at[strlen("\"num_hidden_layers\": ")] = '2';
    char *hs = strstr(txt, "\"hidden_size\": 64");
    if (hs) memcpy(hs, "\"hidden_size\": 96", 17);
    CHECK(hs != NULL);
    rv_write_atomic(cj, txt, strlen(txt), &err);
    EXPECT_ERR(do_import(d, run, err_), "has shape [", "the config does not match the weights");
    free(txt);
    /* no config.json at all */
    unlink(cj);
    EXPECT_ERR(do_import(d, run, err_), "config.json is missing", "import.config");
    free(cj);
    free(d);
    /* an unsupported dtype */
    d = variant("bad_dtype", "image_newline", RV_ST_F16, 0, false);
    {
        char *p = rv_path_join(d, "model.safetensors"), *buf;
        size_t len;
        rv_read_file(p, &buf, &len, &err);
        /* image_newline is [64] F16 = 128 bytes: relabel it as 16 I64 values */
        char *e = strstr(buf + 8, "\"image_newline\":{\"dtype\":\"F16\",\"shape\":[64]");
        CHECK(e != NULL);
        if (e) {
            char repl[] = "\"image_newline\":{\"dtype\":\"I64\",\"shape\":[16]";
            memmove(e + strlen(repl), e + strlen("\"image_newline\":{\"dtype\":\"F16\",\"shape\":[64]"),
                    len - (size_t)(e - buf) - strlen("\"image_newline\":{\"dtype\":\"F16\",\"shape\":[64]"));
            memcpy(e, repl, strlen(repl));
            rv_write_atomic(p, buf, len, &err); /* the header shrank by 0 bytes: same length strings */
        }
        free(buf);
        EXPECT_ERR(do_import(d, run, err_), "'image_newline'", "I64");
        free(p);
    }
    free(d);
    /* truncated weights */
    d = variant("bad_trunc", "none", RV_ST_F16, 0, false);
    {
        char *p = rv_path_join(d, "model.safetensors");
        struct stat st;
        stat(p, &st);
        CHECK(truncate(p, st.st_size - 100) == 0);
        EXPECT_ERR(do_import(d, run, err_), "run past the end", "truncated");
        free(p);
    }
    free(d);
    EXPECT_ERR(do_import("/nonexistent/hf", run, err_), "/nonexistent/hf", "does not exist");
    EXPECT_ERR(run_phase(rv_phase_import, run, NULL, 0, err_), "import.from", "empty");
    char *empty = tp("emptyrun");
    const char *sets[] = {"export.to=/tmp/x"};
    EXPECT_ERR(run_phase(rv_phase_export, empty, sets, 1, err_), "no checkpoint", "import");
    free(empty);
    free(run);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/rv_ckpt_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    rv_h5_quiet();
    rv_err kerr;
    if (rvk_create(&kc, "cpu", NULL, &kerr)) { fprintf(stderr, "%s\n", kerr.msg); return 1; }
    test_roundtrip();
    test_killed_write();
    test_sharded();
    test_schema1();
    test_import_export();
    test_bad_imports();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
    rvk_destroy(kc);
    return check_summary("checkpoint");
}
