/* Shard writer + index + reader + integrity check on hand-made data: values read back through
 * index.h5 equal what was written (global offsets rebased by hand below), a flipped byte in
 * an image chunk is reported by the check, and foreign/truncated files, a tokenizer
 * mismatch and a shard set of the old schema version 1 are clear errors. Anyres sets
 * (pack.image_mode=anyres): originals and their sizes read back through index.h5 with offsets
 * rebased by hand, the check and digest cover them, a mixed directory and writer misuse are
 * refused. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <stdio.h>
#include <turbojpeg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"

static const char *const tasks[] = {"report_generation", "phrase_grounding"};
static const char *const sources[] = {"mimic-cxr", "padchest"};
static const char *const splits[] = {"train", "test"};

/* Overwrites the schema_version attribute of an existing file (what an older writer left). */
static int set_schema(const char *path, int64_t v) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, &v);
    if (a >= 0) H5Aclose(a);
    H5Fclose(f);
    return rc < 0 ? -1 : 0;
}

static rv_shard_meta meta(int rank, int n, const char *hash) {
    rv_shard_meta m = {.rank = rank, .nshards = n, .height = 3, .width = 4, .tokenizer_hash = hash,
                       .config_json = "{\"pack\": {}}", .task_names = tasks, .ntasks = 2, .source_names = sources,
                       .nsources = 2, .split_names = splits, .nsplits = 2};
    return m;
}

/* Shard 0: images A, B; samples s0 (A, 3 tokens, 1 box), s1 (B, 2 tokens, 0 boxes).
 * Shard 1: image C; sample s2 (C, 4 tokens, 2 boxes). */
static int write_set(const char *dir, const char *hash) {
    rv_err err;
    uint8_t px[3][12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 12; j++) px[i][j] = (uint8_t)(i * 100 + j);
    int32_t t0[] = {5, 6, 7}, t1[] = {8, -200}, t2[] = {1, 2, 3, 4};
    uint8_t m0[] = {0, 1, 1}, m1[] = {1, 0}, m2[] = {0, 0, 1, 1};
    float b0[] = {0.1f, 0.2f, 0.3f, 0.4f}, b2[] = {0, 0, 1, 1, 0.5f, 0.5f, 0.75f, 0.75f};
    rv_shard_writer *w;
    rv_shard_meta m = meta(0, 2, hash);
    if (rv_shard_open(&w, dir, &m, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    int64_t ra, rb;
    CHECK(rv_shard_add_image(w, px[0], "/d/a.jpg", &ra, &err) == 0 && ra == 0);
    CHECK(rv_shard_add_image(w, px[1], "/d/b.png", &rb, &err) == 0 && rb == 1);
    rv_shard_sample s0 = {0, 0, 0, ra, t0, m0, 3, b0, 1, "[{\"from\": \"human\"}]", "mimic-train_0", "a\nb"};
    rv_shard_sample s1 = {1, 1, 1, rb, t1, m1, 2, NULL, 0, "t1", "id1", ""};
    CHECK(rv_shard_add_sample(w, &s0, &err) == 0);
    CHECK(rv_shard_add_sample(w, &s1, &err) == 0);
    rv_shard_sample bad = {0, 0, 0, 7, t0, m0, 3, NULL, 0, "x", "bad", ""};
    CHECK(rv_shard_add_sample(w, &bad, &err) == -1);
    if (rv_shard_commit(w, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    m = meta(1, 2, hash);
    if (rv_shard_open(&w, dir, &m, &err) != 0) return -1;
    int64_t rc;
    CHECK(rv_shard_add_image(w, px[2], "/d/c.dcm", &rc, &err) == 0 && rc == 0);
    rv_shard_sample s2 = {1, 0, 0, rc, t2, m2, 4, b2, 2, "t2é", "id2", "x"};
    CHECK(rv_shard_add_sample(w, &s2, &err) == 0);
    if (rv_shard_commit(w, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    if (rv_shard_write_index(dir, 2, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return -1; }
    return 0;
}

static void flip_pixel_chunk(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/images/pixels", H5P_DEFAULT);
    haddr_t addr = 0;
    hsize_t size = 0, off[3];
    unsigned mask;
    hid_t sp = H5Dget_space(d);
    H5Dget_chunk_info(d, sp, 1, off, &mask, &addr, &size);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, (long)addr + 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, (long)addr + 2, SEEK_SET);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
}

/* A 16x8 (HxW) grey gradient as a JPEG (malloc'd by TurboJPEG: tjFree), and its decode by
 * TurboJPEG called here directly (the reader must give the same pixels). */
static unsigned char *jpeg_of_gradient(unsigned long *len, uint8_t decoded[128]) {
    uint8_t px[128];
    for (int i = 0; i < 128; i++) px[i] = (uint8_t)(2 * i);
    unsigned char *buf = NULL;
    tjhandle c = tjInitCompress();
    if (tjCompress2(c, px, 8, 8, 16, TJPF_GRAY, &buf, len, TJSAMP_GRAY, 90, 0) != 0) buf = NULL;
    tjDestroy(c);
    tjhandle d = tjInitDecompress();
    if (buf && tjDecompress2(d, buf, *len, decoded, 8, 8, 16, TJPF_GRAY, TJFLAG_ACCURATEDCT) != 0) buf = NULL;
    tjDestroy(d);
    return buf;
}

/* pack.image_mode=anyres: originals next to the images, or (anyres = false) the same set without
 * them. Shard 0: images A (raw original 2x3 = 1..6), B (raw 3x2 = 11..16); shard 1: C (raw 1x4 =
 * 21..24), D (a 16x8 JPEG, jpeg_of_gradient). shard1_anyres = false writes a base shard 1 (a mixed
 * directory). */
static int write_anyres_set(const char *dir, bool anyres, bool shard1_anyres, rv_err *err) {
    uint8_t px[12] = {0}, oa[6] = {1, 2, 3, 4, 5, 6}, ob[6] = {11, 12, 13, 14, 15, 16}, oc[4] = {21, 22, 23, 24};
    int32_t t[2] = {5, -200};
    uint8_t mk[2] = {0, 1};
    rv_shard_writer *w;
    rv_shard_meta m = meta(0, 2, "h");
    m.anyres = anyres;
    int64_t r;
    if (rv_shard_open(&w, dir, &m, err) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (rv_shard_add_image(w, px, i ? "/d/b.png" : "/d/a.jpg", &r, err) != 0 ||
            (anyres && rv_shard_add_original(w, RV_ORIGINAL_RAW, i ? ob : oa, 6, i ? 3 : 2, i ? 2 : 3, err) != 0))
            return -1;
        rv_shard_sample sm = {0, 0, 0, r, t, mk, 2, NULL, 0, "t", "id", ""};
        if (rv_shard_add_sample(w, &sm, err) != 0) return -1;
    }
    if (rv_shard_commit(w, err) != 0) return -1;
    m = meta(1, 2, "h");
    m.anyres = anyres && shard1_anyres;
    if (rv_shard_open(&w, dir, &m, err) != 0 || rv_shard_add_image(w, px, "/d/c.png", &r, err) != 0 ||
        (m.anyres && rv_shard_add_original(w, RV_ORIGINAL_RAW, oc, 4, 1, 4, err) != 0))
        return -1;
    rv_shard_sample sm = {0, 0, 0, r, t, mk, 2, NULL, 0, "t", "id", ""};
    if (rv_shard_add_sample(w, &sm, err) != 0) return -1;
    unsigned long jlen = 0;
    uint8_t dec[128];
    unsigned char *jpg = jpeg_of_gradient(&jlen, dec);
    int rc = jpg && rv_shard_add_image(w, px, "/d/d.jpg", &r, err) == 0 &&
                     (!m.anyres || rv_shard_add_original(w, RV_ORIGINAL_JPEG, jpg, jlen, 16, 8, err) == 0)
                 ? 0
                 : -1;
    tjFree(jpg);
    sm.image = r;
    if (rc != 0 || rv_shard_add_sample(w, &sm, err) != 0 || rv_shard_commit(w, err) != 0) return -1;
    return rv_shard_write_index(dir, 2, err);
}

static void flip_first_chunk(const char *path, const char *dset) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    haddr_t addr = 0;
    hsize_t size = 0, off[3];
    unsigned mask;
    hid_t sp = H5Dget_space(d);
    H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, (long)addr + 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, (long)addr + 2, SEEK_SET);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
}

static void test_anyres_shards(void) {
    char ta[] = "/tmp/rv_shard_anyres_XXXXXX", tb[] = "/tmp/rv_shard_base_XXXXXX", tm[] = "/tmp/rv_shard_mix_XXXXXX";
    char *da = mkdtemp(ta), *db = mkdtemp(tb), *dm = mkdtemp(tm);
    rv_err err;
    int wa = write_anyres_set(da, true, true, &err);
    if (wa) fprintf(stderr, "%s\n", err.msg);
    CHECK(wa == 0);
    CHECK(write_anyres_set(db, false, false, &err) == 0);
    rv_shardset *s = NULL;
    CHECK(rv_shardset_open(da, "h", &s, &err) == 0);
    if (s) {
        /* offsets rebased by hand: shard 0 holds 6 + 6 bytes, shard 1's 0, 4, 4 + JPEG start at 12 */
        unsigned long jlen = 0;
        uint8_t dec[128];
        unsigned char *jpg = jpeg_of_gradient(&jlen, dec);
        CHECK(s->anyres && s->nimages == 4 && jpg);
        CHECK(s->orig_off[0] == 0 && s->orig_off[1] == 6 && s->orig_off[2] == 12 && s->orig_off[3] == 16 &&
              s->orig_off[4] == 16 + (int64_t)jlen);
        CHECK(s->orig_size[0] == 2 && s->orig_size[1] == 3 && s->orig_size[2] == 3 && s->orig_size[3] == 2 &&
              s->orig_size[4] == 1 && s->orig_size[5] == 4 && s->orig_size[6] == 16 && s->orig_size[7] == 8);
        CHECK(s->orig_codec[0] == RV_ORIGINAL_RAW && s->orig_codec[2] == RV_ORIGINAL_RAW &&
              s->orig_codec[3] == RV_ORIGINAL_JPEG);
        uint8_t *oj = NULL;
        int hj = 0, wj = 0;
        CHECK(rv_shardset_original(s, 3, &oj, &hj, &wj, &err) == 0 && hj == 16 && wj == 8 && oj &&
              memcmp(oj, dec, 128) == 0); /* the JPEG comes back decoded, as TurboJPEG decodes it */
        free(oj);
        tjFree(jpg);
        uint8_t *o = NULL;
        int h = 0, w = 0;
        CHECK(rv_shardset_original(s, 2, &o, &h, &w, &err) == 0 && h == 1 && w == 4 && o[0] == 21 && o[3] == 24);
        free(o);
        CHECK(rv_shardset_original(s, 1, &o, &h, &w, &err) == 0 && h == 3 && w == 2 && o[0] == 11 && o[5] == 16);
        free(o);
        CHECK(rv_shardset_original(s, 4, &o, &h, &w, &err) != 0 && o == NULL);
        rv_shardset_close(s);
    }
    s = NULL;
    CHECK(rv_shardset_open(db, "h", &s, &err) == 0);
    if (s) {
        uint8_t *o = NULL;
        int h, w;
        CHECK(!s->anyres && s->orig_off == NULL);
        CHECK(rv_shardset_original(s, 0, &o, &h, &w, &err) != 0 && strstr(err.msg, "pack.image_mode=anyres"));
        rv_shardset_close(s);
    }
    /* both intact; the digest covers the originals (it differs), the base one stays as before */
    rv_sb rep;
    rv_sb_init(&rep);
    CHECK(rv_shards_check(da, &rep, &err) == 0);
    CHECK(rv_shards_check(db, &rep, &err) == 0);
    char dga[17], dgb[17];
    CHECK(rv_shards_digest(da, dga, &err) == 0 && rv_shards_digest(db, dgb, &err) == 0 && strcmp(dga, dgb) != 0);
    /* a flipped byte in the originals of shard 1 is reported, naming the dataset */
    char *p1 = rv_shard_path(da, 1, 2);
    flip_first_chunk(p1, "/images/original");
    rv_sb_clear(&rep);
    CHECK(rv_shards_check(da, &rep, &err) >= 1);
    CHECK(rep.s && strstr(rep.s, "shard-00001-of-00002.h5") && strstr(rep.s, "/images/original"));
    free(p1);
    rv_sb_free(&rep);
    /* a directory mixing anyres and base shards: no index, a message naming both modes */
    CHECK(write_anyres_set(dm, true, false, &err) != 0);
    CHECK(strstr(err.msg, "image_mode base") && strstr(err.msg, "is anyres"));
    /* writer misuse: an original on a base writer; an image without its original */
    rv_shard_writer *w;
    rv_shard_meta m = meta(0, 1, "h");
    uint8_t px[12] = {0};
    int64_t r;
    CHECK(rv_shard_open(&w, dm, &m, &err) == 0);
    CHECK(rv_shard_add_original(w, RV_ORIGINAL_RAW, px, 12, 3, 4, &err) != 0 && strstr(err.msg, "without anyres"));
    rv_shard_abort(w);
    m.anyres = true;
    CHECK(rv_shard_open(&w, dm, &m, &err) == 0 && rv_shard_add_image(w, px, "/d/x.png", &r, &err) == 0);
    CHECK(rv_shard_add_original(w, RV_ORIGINAL_RAW, px, 11, 3, 4, &err) != 0 && strstr(err.msg, "11 bytes"));
    CHECK(rv_shard_commit(w, &err) != 0 && strstr(err.msg, "0 original image(s) for 1 image(s)"));
    /* a JPEG original that does not decode to its recorded size: the reader says so */
    {
        char tj[] = "/tmp/rv_shard_jpeg_XXXXXX";
        char *dj = mkdtemp(tj);
        unsigned long jlen = 0;
        uint8_t dec[128];
        unsigned char *jpg = jpeg_of_gradient(&jlen, dec);
        rv_shard_meta mj = meta(0, 1, "h");
        mj.anyres = true;
        rv_shard_sample sm = {0, 0, 0, 0, (const int32_t[]){1}, (const uint8_t[]){1}, 1, NULL, 0, "t", "id", ""};
        CHECK(jpg && rv_shard_open(&w, dj, &mj, &err) == 0 && rv_shard_add_image(w, px, "/d/j.jpg", &r, &err) == 0 &&
              rv_shard_add_original(w, RV_ORIGINAL_JPEG, jpg, jlen, 16, 9, &err) == 0 &&
              rv_shard_add_sample(w, &sm, &err) == 0 && rv_shard_commit(w, &err) == 0 &&
              rv_shard_write_index(dj, 1, &err) == 0);
        tjFree(jpg);
        rv_shardset *sj = NULL;
        CHECK(rv_shardset_open(dj, NULL, &sj, &err) == 0);
        uint8_t *o = NULL;
        int h, ww;
        CHECK(sj && rv_shardset_original(sj, 0, &o, &h, &ww, &err) != 0 &&
              strstr(err.msg, "original image 0 decodes to 16x8, stored size 16x9"));
        rv_shardset_close(sj);
        char *c2 = rv_xasprintf("rm -rf '%s'", dj);
        CHECK(system(c2) == 0);
        free(c2);
    }
    char *cmd = rv_xasprintf("rm -rf '%s' '%s' '%s'", da, db, dm);
    CHECK(system(cmd) == 0);
    free(cmd);
}

int main(void) {
    rv_h5_quiet();
    char tmpl[] = "/tmp/rv_shard_io_XXXXXX";
    char *dir = mkdtemp(tmpl);
    rv_err err;
    CHECK(write_set(dir, "fnv1a64:00ff") == 0);

    /* No temporary files are left; both shards and the index are there. */
    char **names;
    size_t nn;
    CHECK(rv_list_dir(dir, &names, &nn, &err) == 0);
    CHECK(nn == 3);
    CHECK_STR(names[0], "index.h5");
    CHECK_STR(names[1], "shard-00000-of-00002.h5");
    CHECK_STR(names[2], "shard-00001-of-00002.h5");
    rv_free_strv(names, nn);

    rv_shardset *s = NULL;
    CHECK(rv_shardset_open(dir, "fnv1a64:00ff", &s, &err) == 0);
    if (!s) { fprintf(stderr, "%s\n", err.msg); return check_summary("test_shard_io"); }
    CHECK(s->nsamples == 3 && s->nimages == 3 && s->height == 3 && s->width == 4 && s->nshards == 2);
    /* Global offsets: tokens 0,3,5,9; boxes 0,1,1,3; images 0,1,2 (shard 1's row 0 is global 2). */
    CHECK(s->token_off[0] == 0 && s->token_off[1] == 3 && s->token_off[2] == 5 && s->token_off[3] == 9);
    CHECK(s->box_off[1] == 1 && s->box_off[2] == 1 && s->box_off[3] == 3);
    CHECK(s->image[0] == 0 && s->image[1] == 1 && s->image[2] == 2);
    CHECK(s->task[2] == 1 && s->split[1] == 1 && s->source[1] == 1);
    int32_t ids[4];
    uint8_t mk[4];
    CHECK(rv_shardset_ntokens(s, 2) == 4);
    CHECK(rv_shardset_tokens(s, 2, ids, mk, &err) == 0);
    CHECK(ids[0] == 1 && ids[3] == 4 && mk[0] == 0 && mk[3] == 1);
    CHECK(rv_shardset_tokens(s, 1, ids, mk, &err) == 0);
    CHECK(ids[1] == -200 && mk[0] == 1);
    uint8_t px[12];
    CHECK(rv_shardset_image(s, 2, px, &err) == 0);
    CHECK(px[0] == 200 && px[11] == 211);
    float *b;
    size_t nb;
    CHECK(rv_shardset_boxes(s, 2, &b, &nb, &err) == 0);
    CHECK(nb == 2 && b[4] == 0.5f && b[7] == 0.75f);
    free(b);
    char *t;
    CHECK(rv_shardset_text(s, 2, "text", &t, &err) == 0);
    CHECK_STR(t, "t2é");
    free(t);
    CHECK(rv_shardset_text(s, 0, "labels", &t, &err) == 0);
    CHECK_STR(t, "a\nb");
    free(t);
    CHECK(rv_shardset_text(s, 1, "id", &t, &err) == 0);
    CHECK_STR(t, "id1");
    free(t);
    rv_shardset_close(s);

    /* Tokenizer mismatch: refused with both hashes and what to do. */
    s = NULL;
    CHECK(rv_shardset_open(dir, "fnv1a64:1234", &s, &err) == -1);
    CHECK(strstr(err.msg, "fnv1a64:00ff") && strstr(err.msg, "fnv1a64:1234") && strstr(err.msg, "pack.tokenizer"));

    /* Intact: no problems. */
    rv_sb rep;
    rv_sb_init(&rep);
    CHECK(rv_shards_check(dir, &rep, &err) == 0);
    char d1[17], d2[17];
    CHECK(rv_shards_digest(dir, d1, &err) == 0);

    /* A flipped byte in image 1 of shard 0: the Fletcher32 check names the shard and dataset. */
    char *p0 = rv_shard_path(dir, 0, 2);
    flip_pixel_chunk(p0);
    rv_sb_clear(&rep);
    CHECK(rv_shards_check(dir, &rep, &err) >= 1);
    CHECK(rep.s && strstr(rep.s, "shard-00000-of-00002.h5") && strstr(rep.s, "/images/pixels"));
    CHECK(rv_shards_digest(dir, d2, &err) == -1);

    /* A foreign file and a truncated shard. */
    CHECK(rv_write_atomic(p0, "not hdf5 at all", 15, &err) == 0);
    CHECK(rv_shardset_open(p0, NULL, &s, &err) == -1);
    CHECK(strstr(err.msg, "not an HDF5 file") != NULL);
    rv_sb_clear(&rep);
    CHECK(rv_shards_check(dir, &rep, &err) >= 1);
    CHECK(rep.s && strstr(rep.s, "not an HDF5 file"));
    /* An aborted writer leaves nothing behind. */
    rv_shard_writer *w;
    rv_shard_meta m = meta(0, 1, "h");
    CHECK(rv_shard_open(&w, dir, &m, &err) == 0);
    rv_shard_abort(w);
    CHECK(rv_list_dir(dir, &names, &nn, &err) == 0);
    CHECK(nn == 3);
    rv_free_strv(names, nn);
    rv_sb_free(&rep);
    free(p0);

    /* Same content written again in a new directory gives the same digest. */
    char tmpl2[] = "/tmp/rv_shard_io_XXXXXX";
    char *dir2 = mkdtemp(tmpl2);
    CHECK(write_set(dir2, "fnv1a64:00ff") == 0);
    CHECK(rv_shards_digest(dir2, d2, &err) == 0);
    CHECK_STR(d2, d1);

    /* Schema 1 (tokenizer_hash with the wrong FNV offset basis) is refused: the message names
     * the file, both versions and says to re-pack. The writer records the current version. */
    CHECK(RV_SHARD_SCHEMA == 2);
    char *idx2 = rv_path_join(dir2, "index.h5");
    s = NULL;
    CHECK(rv_shardset_open(dir2, NULL, &s, &err) == 0);
    rv_shardset_close(s);
    CHECK(set_schema(idx2, 1) == 0);
    s = NULL;
    CHECK(rv_shardset_open(dir2, NULL, &s, &err) == -1 && s == NULL);
    CHECK(strstr(err.msg, idx2) && strstr(err.msg, "schema version 1") && strstr(err.msg, "reads version 2") &&
          strstr(err.msg, "re-run the pack phase"));
    rv_sb_init(&rep);
    CHECK(rv_shards_check(dir2, &rep, &err) >= 1);
    CHECK(rep.s && strstr(rep.s, "index.h5: schema version 1 (expected 2)"));
    rv_sb_free(&rep);
    free(idx2);
    test_anyres_shards();
    if (getenv("KEEP")) return check_summary("test_shard_io");
    char *cmd = rv_xasprintf("rm -rf '%s' '%s'", dir, dir2);
    CHECK(system(cmd) == 0);
    free(cmd);
    return check_summary("test_shard_io");
}
