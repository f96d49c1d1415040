/* pack.check's value checks (issue L item 9): a shard set that is structurally intact but holds
 * values no pack writes — a token id beyond the vocabulary, a negative id other than the <image>
 * placeholder, a loss-mask value 2, a task outside its enum, a NaN box, text that is not UTF-8, a
 * NUL inside a text, an image path that is not UTF-8, a sample with 0 and one with 2 placeholders,
 * samples longer than pack.max_tokens — is reported problem by problem, each line naming the shard, the row and the dataset; after 5
 * problems of one kind only a count follows. The set is written with the shard writer (the NUL
 * patched in afterwards through HDF5, which keeps the checksums valid), so only the values are
 * wrong. Control: the same check without a vocabulary and without pack's placeholder rule finds
 * only the problems that do not depend on them. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "phases/phase.h"

static const char *const tasks[] = {"report_generation", "phrase_grounding"};
static const char *const sources[] = {"mimic-cxr"};
static const char *const splits[] = {"train"};

#define IMG RV_SHARD_IMAGE_TOKEN

/* One shard; samples (vocabulary 300 in the checks below):
 *   0 clean (its text gets a NUL later)  1 id 5000      2 id -7          3 mask value 2
 *   4 task 9                             5 a NaN box    6 text "\xff\xfe" 7 no placeholder
 *   8 two placeholders                   9..15 id 300 (the first id beyond the vocabulary)
 * images: 0 "/d/a.png", 1 "/d/\xff.png" (not UTF-8). */
static int write_set(const char *dir) {
    rv_err err = {{0}};
    rv_shard_meta m = {.rank = 0, .nshards = 1, .height = 3, .width = 4, .tokenizer_hash = "fnv1a64:00ff",
                       .config_json = "{}", .task_names = tasks, .ntasks = 2, .source_names = sources,
                       .nsources = 1, .split_names = splits, .nsplits = 1};
    rv_shard_writer *w;
    if (rv_shard_open(&w, dir, &m, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    uint8_t px[12] = {0};
    int64_t r0 = -1, r1 = -1;
    int rc = rv_shard_add_image(w, px, "/d/a.png", &r0, &err) | rv_shard_add_image(w, px, "/d/\xff.png", &r1, &err);
    const int32_t clean[] = {1, IMG, 2}, big[] = {1, IMG, 5000}, neg[] = {1, IMG, -7}, none[] = {1, 2, 3},
                  two[] = {IMG, 1, IMG}, edge[] = {1, IMG, 300};
    const uint8_t mk[] = {0, 0, 1}, mk2[] = {0, 0, 2};
    const float box[] = {0.1f, 0.2f, 0.3f, 0.4f}, nanbox[] = {0.1f, NAN, 0.3f, 0.4f};
    rv_shard_sample s[16] = {
        {0, 0, 0, r0, clean, mk, 3, box, 1, "ok", "s0", ""},
        {0, 0, 0, r0, big, mk, 3, NULL, 0, "t", "s1", ""},
        {0, 0, 0, r0, neg, mk, 3, NULL, 0, "t", "s2", ""},
        {0, 0, 0, r0, clean, mk2, 3, NULL, 0, "t", "s3", ""},
        {9, 0, 0, r0, clean, mk, 3, NULL, 0, "t", "s4", ""},
        {1, 0, 0, r1, clean, mk, 3, nanbox, 1, "t", "s5", ""},
        {0, 0, 0, r1, clean, mk, 3, NULL, 0, "\xff\xfe", "s6", ""},
        {0, 0, 0, r1, none, mk, 3, NULL, 0, "t", "s7", ""},
        {0, 0, 0, r1, two, mk, 3, NULL, 0, "t", "s8", ""},
    };
    for (int i = 9; i < 16; i++) s[i] = (rv_shard_sample){0, 0, 0, r1, edge, mk, 3, NULL, 0, "t", "e", ""};
    for (int i = 0; i < 16; i++) rc |= rv_shard_add_sample(w, &s[i], &err);
    if (rc != 0 || rv_shard_commit(w, &err) != 0 || rv_shard_write_index(dir, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    /* a NUL in sample 0's text "ok" (byte 1), written through HDF5 so the checksum stays right */
    char *p = rv_shard_path(dir, 0, 1);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, "/samples/text", H5P_DEFAULT) : -1;
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t at = 1, one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    const uint8_t zero = 0;
    herr_t wr = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) >= 0
                    ? H5Dwrite(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, &zero)
                    : -1;
    H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    free(p);
    return wr < 0 ? -1 : 0;
}

static int has(const rv_sb *r, const char *s) {
    int ok = r->s && strstr(r->s, s) != NULL;
    if (!ok) fprintf(stderr, "report lacks: %s\n", s);
    return ok;
}

int main(void) {
    rv_h5_quiet();
    char t[] = "/tmp/rv_pack_values_XXXXXX";
    char *dir = mkdtemp(t);
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_pack_check_values");
    CHECK(write_set(dir) == 0);
    rv_err err = {{0}};
    rv_sb rep;
    rv_sb_init(&rep);
    char sh[1200];
    snprintf(sh, sizeof sh, "%s/shard-00000-of-00001.h5", dir);
    const char *S = sh;
    char line[1600];
#define LINE(...) (snprintf(line, sizeof line, __VA_ARGS__), has(&rep, line))

    /* with the vocabulary (300 ids) and pack's rule: 1 + 7 ids beyond it and 1 negative id (9 of one
     * kind), 1 mask, 1 task, 1 box, 2 texts, 1 image path, 2 placeholder counts = 17 problems */
    const rv_shards_check_opts full = {300, true, 0};
    long np = rv_shards_check_with(dir, &full, &rep, &err);
    CHECK(np == 17);
    CHECK(LINE("%s: sample 1: /samples/tokens: token id 5000 at position 2 is outside the vocabulary (ids 0 .. 299 "
               "of the tokenizer, or -200 for <image>)", S));
    CHECK(LINE("%s: sample 2: /samples/tokens: token id -7 at position 2", S));
    CHECK(LINE("%s: sample 3: /samples/loss_mask: loss-mask value 2 at position 2 (must be 0 or 1)", S));
    CHECK(LINE("%s: sample 4: /samples/task: value 9 is not one of the enum's 2 members", S));
    CHECK(LINE("%s: sample 5: /samples/boxes: box 0 is [0.1, nan, 0.3, 0.4]: a coordinate is not finite", S));
    CHECK(LINE("%s: sample 0: /samples/text: a NUL byte at byte 1", S));
    CHECK(LINE("%s: sample 6: /samples/text: not valid UTF-8 at byte 0", S));
    CHECK(LINE("%s: image 1: /images/path: not valid UTF-8 at byte 3", S));
    CHECK(LINE("%s: sample 7: /samples/tokens (<image> placeholders): 0 <image> placeholders", S));
    CHECK(LINE("%s: sample 8: /samples/tokens (<image> placeholders): 2 <image> placeholders", S));
    /* 9 ids outside the vocabulary in samples 1, 2, 9..15: 5 listed (1, 2, 9, 10, 11), then a count */
    CHECK(LINE("%s: sample 11: /samples/tokens: token id 300 at position 2", S));
    CHECK(!strstr(rep.s, "sample 12: /samples/tokens"));
    CHECK(LINE("%s: /samples/tokens: 4 more problem(s) like the above (9 in all)", S));
    /* the index (virtual datasets over the shard) is not checked twice */
    CHECK(!strstr(rep.s, "index.h5: sample"));

    /* control: vocabulary unknown, no placeholder rule: ids >= 0 pass, placeholders are not counted
     * (-7, mask 2, task 9, NaN, 2 texts, 1 path = 7) */
    rv_sb_clear(&rep);
    const rv_shards_check_opts plain = {0, false, 0};
    CHECK(rv_shards_check_with(dir, &plain, &rep, &err) == 7);
    CHECK(!strstr(rep.s, "token id 5000") && !strstr(rep.s, "placeholders"));
    CHECK(LINE("%s: sample 2: /samples/tokens: token id -7 at position 2 is outside the vocabulary (ids >= 0, or -200 "
               "for <image>)", S));
    /* pack.max_tokens: every sample (3 tokens) is over a limit of 2, none over 3 */
    rv_sb_clear(&rep);
    const rv_shards_check_opts len2 = {0, false, 2}, len3 = {0, false, 3};
    CHECK(rv_shards_check_with(dir, &len2, &rep, &err) == 7 + 16);
    CHECK(LINE("%s: sample 0: /samples/token_offsets (length): 3 tokens, more than pack.max_tokens = 2", S));
    CHECK(LINE("%s: /samples/token_offsets (length): 11 more problem(s) like the above (16 in all)", S));
    rv_sb_clear(&rep);
    CHECK(rv_shards_check_with(dir, &len3, &rep, &err) == 7);
    /* rv_shards_check is that plain check */
    rv_sb_clear(&rep);
    CHECK(rv_shards_check(dir, &rep, &err) == 7);

    /* the phase: pack.check=true fails naming the count; no tokenizer is at hand here, so ids are
     * checked for sign only (a warning says so) and pack's rule applies: 7 + 2 placeholders = 9 */
    char out[1300];
    snprintf(out, sizeof out, "pack.out=%s", dir);
    const char *sets[] = {"pack.check=true", out};
    rv_config *cfg = NULL;
    CHECK(rv_config_load(&cfg, NULL, sets, 2, &err) == 0);
    if (cfg) {
        rv_phase_ctx ctx = {.cfg = cfg, .comm = rv_comm_world(), .run_dir = dir, .data_dir = NULL};
        rv_badrec_init(&ctx.bad, ctx.comm, false);
        CHECK(rv_phase_pack(&ctx, &err) == -1);
        CHECK(strstr(err.msg, "pack.check: 9 problem(s) in") && strstr(err.msg, dir));
        rv_config_free(cfg);
    }

    rv_sb_free(&rep);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_pack_check_values");
}
