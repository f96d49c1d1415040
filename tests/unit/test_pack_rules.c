/* pack's rules for a cell (issue L item 9), through the pack phase on the committed fixture
 * tests/fixtures/hostile/pack/image_rules.json (one 16x16 PNG, a BPE tokenizer trained here):
 *  - exactly one <image> per cell: "none" (0), "two" (2 in the question) and "in-answer" (one in
 *    the question, one in the answer) are bad records, reported with the file and the cell id;
 *  - upstream's preprocess_multimodal moves a lone <image> that does not start its turn to the
 *    front ("  Describe the <image> image.\n" -> "<image>\nDescribe the  image."): "moved" packs
 *    to the same tokens as "front", which is written that way;
 *  - pack.max_tokens: a cell longer than it is a bad record, never a sample (the boundary: a cell
 *    of exactly pack.max_tokens tokens is packed); under the default 32768 a generated cell with a
 *    ~1 MB answer (the 100 MB answer, scaled down) is reported, not packed;
 *  - data.on_bad_record=fail stops at the first such cell with a message naming it;
 *  - the packed set passes pack.check, whose value checks include one <image> per sample;
 *  - data.max_file_bytes (item 2): an image over it is a bad record naming it, its size and the
 *    key; a file of exactly the limit is read; a tokenizer over it is an error. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "comm/comm.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/h5util.h"
#include "io/image.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "phases/phase.h"
#include "tokenizer/bpe_train.h"

#define FIXTURE RADVLM_SOURCE_DIR "/tests/fixtures/hostile/pack/image_rules.json"

/* Runs the pack phase with these --set values; *bad receives the bad records counted. */
static int run_pack(const char *run_dir, const char *const *sets, int nsets, size_t *bad, char msg[4096]) {
    rv_err err = {{0}};
    rv_config *cfg = NULL;
    if (rv_config_load(&cfg, NULL, sets, nsets, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -2;
    }
    rv_phase_ctx ctx = {.cfg = cfg, .comm = rv_comm_world(), .run_dir = run_dir, .data_dir = NULL};
    rv_badrec_init(&ctx.bad, ctx.comm, !strcmp(rv_cfg_str(cfg, "data.on_bad_record"), "fail"));
    int rc = rv_phase_pack(&ctx, &err);
    if (bad) *bad = ctx.bad.count + ctx.bad.replicated_count;
    snprintf(msg, 4096, "%s", err.msg);
    rv_config_free(cfg);
    return rc;
}

/* Index of the sample with this id in the set, or -1. */
static long sample_of(const rv_shardset *s, const char *id) {
    rv_err err;
    for (uint64_t i = 0; i < s->nsamples; i++) {
        char *t = NULL;
        if (rv_shardset_text(s, i, "id", &t, &err) != 0) return -1;
        int same = strcmp(t, id) == 0;
        free(t);
        if (same) return (long)i;
    }
    return -1;
}

static size_t ntok(const rv_shardset *s, const char *id) {
    long i = sample_of(s, id);
    return i < 0 ? 0 : rv_shardset_ntokens(s, (uint64_t)i);
}

int main(void) {
    rv_h5_quiet();
    char tmpl[] = "/tmp/rv_pack_rules_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir || chdir(dir) != 0) return check_summary("test_pack_rules");
    rv_err err = {{0}};

    /* the fixture's image (relative path img.png) and a tokenizer with the chat specials */
    rv_image img = {0};
    CHECK(rv_image_alloc(&img, 16, 16, 8, &err) == 0);
    for (int i = 0; i < 256; i++) img.u8[i] = (uint8_t)i;
    CHECK(rv_png_write("img.png", &img, &err) == 0);
    rv_image_free(&img);
    const char *texts[] = {"Describe the image.", "No acute findings.", "You are a helpful assistant.", "user assistant system"};
    const char *specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"};
    CHECK(rv_bpe_train(texts, NULL, 4, 300, specials, 4, "tok.json", &err) == 0);

    char msg[4096];
    size_t bad = 0;
    const char *base[] = {"pack.llava_json=" FIXTURE, "pack.tokenizer=tok.json", "pack.out=a", "pack.threads=1",
                          "pack.max_tokens=32768", "data.on_bad_record=skip"};

    /* 1. default limit: the three cells without exactly one <image> are reported and skipped */
    CHECK(run_pack(dir, base, 6, &bad, msg) == 0);
    CHECK(bad == 3);
    rv_shardset *s = NULL;
    size_t n_ok = 0, n_long = 0, n_moved = 0, n_front = 0;
    CHECK(rv_shardset_open("a", NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->nsamples == 4);
        CHECK(sample_of(s, "none") < 0 && sample_of(s, "two") < 0 && sample_of(s, "in-answer") < 0);
        n_ok = ntok(s, "ok");
        n_long = ntok(s, "long");
        n_moved = ntok(s, "moved");
        n_front = ntok(s, "front");
        /* "long" repeats the answer of "ok" 20 times: it is the longest sample */
        CHECK(n_ok > 16 && n_long > n_ok && n_moved > 0 && n_moved == n_front && n_front < n_long);
        long im = sample_of(s, "moved"), fr = sample_of(s, "front");
        if (im >= 0 && fr >= 0 && n_moved == n_front) {
            int32_t a[256], b[256];
            uint8_t ma[256], mb[256];
            CHECK(n_moved <= 256);
            if (n_moved <= 256) {
                CHECK(rv_shardset_tokens(s, (uint64_t)im, a, ma, &err) == 0 &&
                      rv_shardset_tokens(s, (uint64_t)fr, b, mb, &err) == 0);
                CHECK(memcmp(a, b, n_moved * sizeof *a) == 0 && memcmp(ma, mb, n_moved) == 0);
                size_t nimg = 0;
                for (size_t j = 0; j < n_moved; j++) nimg += a[j] == RV_SHARD_IMAGE_TOKEN;
                CHECK(nimg == 1);
            }
        }
        rv_shardset_close(s);
    }
    /* the packed set passes pack.check (one <image> per sample among its value checks) */
    const char *chk[] = {"pack.check=true", "pack.out=a", "pack.tokenizer=tok.json"};
    CHECK(run_pack(dir, chk, 3, NULL, msg) == 0);

    /* 2. pack.max_tokens: the longest cell is over a limit of the next-longest sample's length ... */
    char lim[64];
    const size_t second = n_ok > n_front ? n_ok : n_front;
    snprintf(lim, sizeof lim, "pack.max_tokens=%zu", second);
    const char *capped[] = {"pack.llava_json=" FIXTURE, "pack.tokenizer=tok.json", "pack.out=b", "pack.threads=1",
                            lim, "data.on_bad_record=skip"};
    CHECK(run_pack(dir, capped, 6, &bad, msg) == 0);
    CHECK(bad == 4);
    s = NULL;
    CHECK(rv_shardset_open("b", NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->nsamples == 3 && sample_of(s, "long") < 0 && sample_of(s, "ok") >= 0);
        rv_shardset_close(s);
    }
    /* ... and within a limit of exactly its length */
    snprintf(lim, sizeof lim, "pack.max_tokens=%zu", n_long);
    capped[2] = "pack.out=c";
    CHECK(run_pack(dir, capped, 6, &bad, msg) == 0);
    CHECK(bad == 3);
    s = NULL;
    CHECK(rv_shardset_open("c", NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->nsamples == 4 && ntok(s, "long") == n_long);
        rv_shardset_close(s);
    }

    /* 3. data.on_bad_record=fail: the first bad cell ("none") stops the pack, named with its file */
    const char *fail[] = {"pack.llava_json=" FIXTURE, "pack.tokenizer=tok.json", "pack.out=d", "pack.threads=1",
                          "data.on_bad_record=fail"};
    CHECK(run_pack(dir, fail, 5, NULL, msg) == -1);
    CHECK(strstr(msg, "image_rules.json: cell none") && strstr(msg, "0 <image> placeholders"));
    CHECK(!rv_exists("d/index.h5"));

    /* 4. a ~1 MB answer under the default 32768 (no bigger fixture committed: written here) */
    rv_sb big;
    rv_sb_init(&big);
    rv_sb_printf(&big, "[{\"image\": \"img.png\", \"id\": \"ok\", \"conversations\": [{\"from\": \"human\", \"value\": "
                       "\"<image>\\nDescribe the image.\"}, {\"from\": \"gpt\", \"value\": \"No acute findings.\"}]},\n"
                       "{\"image\": \"img.png\", \"id\": \"huge\", \"conversations\": [{\"from\": \"human\", \"value\": "
                       "\"<image>\\nDescribe the image.\"}, {\"from\": \"gpt\", \"value\": \"");
    for (int i = 0; i < 55000; i++) rv_sb_puts(&big, "No acute findings. ");
    rv_sb_puts(&big, "\"}]}]\n");
    CHECK(big.len > 1000000);
    CHECK(rv_write_atomic("huge.json", big.s, big.len, &err) == 0);
    rv_sb_free(&big);
    const char *huge[] = {"pack.llava_json=huge.json", "pack.tokenizer=tok.json", "pack.out=e", "pack.threads=1"};
    CHECK(run_pack(dir, huge, 4, &bad, msg) == 0);
    CHECK(bad == 1);
    s = NULL;
    CHECK(rv_shardset_open("e", NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->nsamples == 1 && sample_of(s, "huge") < 0 && s->token_off[1] == (int64_t)n_ok);
        rv_shardset_close(s);
    }

    /* 5. data.max_file_bytes (issue L item 2): an image over the limit is a bad record naming the
     * file, its size and the key (the tokenizer and the JSON are within it) */
    CHECK(rv_image_alloc(&img, 256, 256, 8, &err) == 0);
    uint32_t x = 12345;
    for (int i = 0; i < 256 * 256; i++) {
        x = x * 1103515245u + 12345u; /* noise: the PNG stays large */
        img.u8[i] = (uint8_t)(x >> 24);
    }
    CHECK(rv_png_write("big.png", &img, &err) == 0);
    rv_image_free(&img);
    const char *two = "[{\"image\": \"img.png\", \"id\": \"small\", \"conversations\": [{\"from\": \"human\", "
                      "\"value\": \"<image>\\nDescribe the image.\"}, {\"from\": \"gpt\", \"value\": \"ok\"}]},\n"
                      "{\"image\": \"big.png\", \"id\": \"big\", \"conversations\": [{\"from\": \"human\", "
                      "\"value\": \"<image>\\nDescribe the image.\"}, {\"from\": \"gpt\", \"value\": \"ok\"}]}]\n";
    CHECK(rv_write_atomic("two.json", two, strlen(two), &err) == 0);
    struct stat sb, st, sj;
    CHECK(stat("big.png", &sb) == 0 && stat("tok.json", &st) == 0 && stat("two.json", &sj) == 0);
    CHECK(sb.st_size > st.st_size && sb.st_size > sj.st_size); /* only the image is over the limit */
    char maxb[64], want[160];
    snprintf(maxb, sizeof maxb, "data.max_file_bytes=%lld", (long long)sb.st_size - 1);
    snprintf(want, sizeof want, "big.png: %lld bytes, more than the %lld-byte limit", (long long)sb.st_size,
             (long long)sb.st_size - 1);
    const char *lim_skip[] = {"pack.llava_json=two.json", "pack.tokenizer=tok.json", "pack.out=f", maxb};
    CHECK(run_pack(dir, lim_skip, 4, &bad, msg) == 0);
    CHECK(bad == 1);
    s = NULL;
    CHECK(rv_shardset_open("f", NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->nsamples == 1 && s->nimages == 1 && sample_of(s, "small") == 0);
        rv_shardset_close(s);
    }
    const char *lim_fail[] = {"pack.llava_json=two.json", "pack.tokenizer=tok.json", "pack.out=g", maxb,
                              "data.on_bad_record=fail"};
    CHECK(run_pack(dir, lim_fail, 5, NULL, msg) == -1);
    CHECK(strstr(msg, want) && strstr(msg, "data.max_file_bytes"));
    /* the limit of the whole size is within it; the tokenizer over it is an error naming the key */
    snprintf(maxb, sizeof maxb, "data.max_file_bytes=%lld", (long long)sb.st_size);
    lim_skip[2] = "pack.out=h";
    CHECK(run_pack(dir, lim_skip, 4, &bad, msg) == 0 && bad == 0);
    snprintf(maxb, sizeof maxb, "data.max_file_bytes=%lld", (long long)st.st_size - 1);
    lim_skip[2] = "pack.out=i";
    CHECK(run_pack(dir, lim_skip, 4, &bad, msg) == -1);
    CHECK(strstr(msg, "tok.json") && strstr(msg, "data.max_file_bytes"));
    const char *lim_bad[] = {"pack.llava_json=two.json", "pack.tokenizer=tok.json", "pack.out=j", "data.max_file_bytes=0"};
    CHECK(run_pack(dir, lim_bad, 4, &bad, msg) == -1 && strstr(msg, "data.max_file_bytes must be between 1 and"));

    if (chdir("/") != 0) fprintf(stderr, "chdir / failed\n");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_pack_rules");
}
