/* pack.check on a shard set that is structurally intact but holds 0 samples (issue L item 8):
 * the integrity check alone finds no problem in it (checked below, so the test exercises the
 * emptiness rule and not a structural one), and the phase must still fail, saying the set holds
 * 0 samples; the same set with one sample passes (control). The sets are written with the shard
 * writer directly, because the pack phase itself no longer writes an index for 0 samples. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "phases/phase.h"

static const char *const tasks[] = {"report_generation"};
static const char *const sources[] = {"mimic-cxr"};
static const char *const splits[] = {"train"};

/* One shard + index in dir with nsamples (0 or 1) samples on one 3x4 image. */
static int write_set(const char *dir, int nsamples) {
    rv_err err;
    rv_shard_meta m = {.rank = 0, .nshards = 1, .height = 3, .width = 4, .tokenizer_hash = "fnv1a64:00ff",
                       .config_json = "{\"pack\": {}}", .task_names = tasks, .ntasks = 1, .source_names = sources,
                       .nsources = 1, .split_names = splits, .nsplits = 1};
    rv_shard_writer *w;
    if (rv_shard_open(&w, dir, &m, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    if (nsamples) {
        uint8_t px[12] = {0};
        int64_t row = 0;
        int32_t ids[] = {5, RV_SHARD_IMAGE_TOKEN, 7}; /* pack.check holds a sample to one <image> (issue L item 9) */
        uint8_t mask[] = {0, 0, 1};
        int rc = rv_shard_add_image(w, px, "/d/a.jpg", &row, &err);
        rv_shard_sample s = {0, 0, 0, row, ids, mask, 3, NULL, 0, "[]", "mimic-train_0", ""};
        if (rc != 0 || rv_shard_add_sample(w, &s, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            rv_shard_abort(w);
            return -1;
        }
    }
    if (rv_shard_commit(w, &err) != 0 || rv_shard_write_index(dir, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* rv_phase_pack with pack.check=true on dir; *msg receives the error message. */
static int run_pack_check(const char *dir, char msg[2048]) {
    char out[1200];
    snprintf(out, sizeof out, "pack.out=%s", dir);
    const char *sets[] = {"pack.check=true", out};
    rv_err err = {{0}};
    rv_config *cfg = NULL;
    if (rv_config_load(&cfg, NULL, sets, 2, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -2; }
    rv_phase_ctx ctx = {.cfg = cfg, .comm = rv_comm_world(), .run_dir = dir, .data_dir = NULL};
    rv_badrec_init(&ctx.bad, ctx.comm, false);
    int rc = rv_phase_pack(&ctx, &err);
    snprintf(msg, 2048, "%s", err.msg);
    rv_config_free(cfg);
    return rc;
}

int main(void) {
    rv_h5_quiet();
    char t0[] = "/tmp/rv_pack_empty_XXXXXX", t1[] = "/tmp/rv_pack_one_XXXXXX";
    char *empty = mkdtemp(t0), *one = mkdtemp(t1);
    CHECK(empty && one);
    if (!empty || !one) return check_summary("test_pack_check_empty");
    CHECK(write_set(empty, 0) == 0);
    CHECK(write_set(one, 1) == 0);

    /* the structural check finds nothing wrong with either set */
    rv_err err = {{0}};
    rv_sb rep;
    rv_sb_init(&rep);
    CHECK(rv_shards_check(empty, &rep, &err) == 0);
    CHECK(rv_shards_check(one, &rep, &err) == 0);
    rv_sb_free(&rep);
    rv_shardset *s = NULL;
    CHECK(rv_shardset_open(empty, NULL, &s, &err) == 0 && s->nsamples == 0);
    if (s) rv_shardset_close(s);

    char msg[2048];
    CHECK(run_pack_check(empty, msg) == -1);
    CHECK(strstr(msg, "holds 0 samples") != NULL);
    CHECK(strstr(msg, empty) != NULL);
    CHECK(strstr(msg, "re-run the pack phase") != NULL);
    CHECK(run_pack_check(one, msg) == 0);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", empty, one);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s, %s\n", empty, one);
    return check_summary("test_pack_check_empty");
}
