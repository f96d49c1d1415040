/* safetensors I/O: F16/BF16 conversions (exhaustive round trips, numpy parity, hand-worked
 * rounding cases), reading files written by huggingface safetensors (committed fixtures from
 * tests/fixtures/ckpt/gen_ckpt_fixture.py), our writer read back, sharding, and every kind of bad
 * header as hand-written bytes, plus random header damage (run under ASan: no read outside). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/rng.h"
#include "io/safetensors.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/ckpt/"

static char tmpdir[256];

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_conversions(void) {
    int bad_bf = 0, bad_h = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        if (rv_f32_to_bf16(rv_bf16_to_f32((uint16_t)i)) != i) bad_bf++;
        if (rv_f32_to_f16(rv_f16_to_f32((uint16_t)i)) != i) bad_h++;
    }
    CHECK(bad_bf == 0);
    CHECK(bad_h == 0);
    /* f16 -> f32 hand values (IEEE 754 binary16) */
    CHECK(rv_f16_to_f32(0x3c00) == 1.0f);
    CHECK(rv_f16_to_f32(0xc000) == -2.0f);
    CHECK(rv_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(rv_f16_to_f32(0x0400) == 0x1p-14f);            /* smallest normal */
    CHECK(rv_f16_to_f32(0x0001) == 0x1p-24f);            /* smallest subnormal */
    CHECK(rv_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);     /* largest subnormal */
    CHECK(fbits(rv_f16_to_f32(0x8000)) == 0x80000000u);  /* -0 */
    CHECK(fbits(rv_f16_to_f32(0x7c00)) == 0x7f800000u);
    CHECK(fbits(rv_f16_to_f32(0xfc00)) == 0xff800000u);
    CHECK(fbits(rv_f16_to_f32(0x7e00)) == 0x7fc00000u);  /* quiet NaN */
    /* f32 -> f16 rounding, worked by hand: ulp(1) = 2^-10, ulp at 65504 = 32 */
    CHECK(rv_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     /* tie -> even (1.0) */
    CHECK(rv_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); /* tie -> even (1 + 2^-9) */
    CHECK(rv_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
    CHECK(rv_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(rv_f32_to_f16(65520.0f) == 0x7c00);            /* tie above max -> inf */
    CHECK(rv_f32_to_f16(-1e9f) == 0xfc00);
    CHECK(rv_f32_to_f16(0x1p-25f) == 0x0000);            /* tie between 0 and 2^-24 -> 0 */
    CHECK(rv_f32_to_f16(3 * 0x1p-25f) == 0x0002);        /* 1.5 ulp -> 2 */
    CHECK(rv_f32_to_f16(0x1p-14f - 0x1p-25f) == 0x0400); /* 1023.5 ulp -> 1024 = smallest normal */
    CHECK(rv_f32_to_f16(-0x1p-26f) == 0x8000);
    CHECK(rv_f32_to_f16(bitsf(0x7f800001u)) == 0x7e00);  /* NaN whose payload does not fit stays NaN */
    CHECK(rv_f32_to_f16(bitsf(0xffc00000u)) == 0xfe00);
    /* bf16: the top 16 bits, rounded to nearest even */
    CHECK(rv_f32_to_bf16(bitsf(0x3f808000u)) == 0x3f80); /* tie, even stays */
    CHECK(rv_f32_to_bf16(bitsf(0x3f818000u)) == 0x3f82); /* tie, odd rounds up */
    CHECK(rv_f32_to_bf16(bitsf(0x3f808001u)) == 0x3f81);
    CHECK(rv_f32_to_bf16(bitsf(0x7f7fffffu)) == 0x7f80); /* FLT_MAX -> inf */
    CHECK(rv_f32_to_bf16(bitsf(0x7f7f7fffu)) == 0x7f7f);
    CHECK(rv_f32_to_bf16(bitsf(0x7f800001u)) == 0x7fc0); /* NaN stays NaN */
    CHECK(rv_f32_to_bf16(bitsf(0xff800001u)) == 0xffc0);
    CHECK(rv_bf16_to_f32(0xc040) == -3.0f);
    /* numpy parity (fixture) */
    FILE *f = fopen(FIX "f16_cases.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256];
    int n = 0, mism = 0;
    uint64_t want_all = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned x, h;
        unsigned long long a;
        if (line[0] == '#') continue;
        if (sscanf(line, "all %llx", &a) == 1) { want_all = a; continue; }
        if (sscanf(line, "%x %x", &x, &h) == 2) {
            n++;
            if (rv_f32_to_f16(bitsf(x)) != h) {
                if (mism++ < 5) fprintf(stderr, "f32 %08x -> f16 %04x, numpy %04x\n", x, rv_f32_to_f16(bitsf(x)), h);
            }
        }
    }
    fclose(f);
    CHECK(n > 1000);
    CHECK(mism == 0);
    uint64_t hsh = RV_FNV1A64_BASIS;
    for (uint32_t i = 0; i < 65536; i++) {
        float v = rv_f16_to_f32((uint16_t)i);
        hsh = rv_fnv1a64_update(hsh, &v, 4);
    }
    CHECK(want_all != 0 && hsh == want_all);
}

/* Expected values from st_small.txt (written by the generator from numpy). */
static void check_small(const rv_st_file *files, const rv_st_tensor *(*find)(const void *, const char *),
                        const void *ctx) {
    FILE *f = fopen(FIX "st_small.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char name[64], dt[8], shape[32];
        int used = 0;
        if (sscanf(line, "%63s %7s %31s%n", name, dt, shape, &used) != 3) continue;
        const rv_st_tensor *t = find(ctx, name);
        CHECK(t != NULL);
        if (!t) continue;
        seen++;
        CHECK_STR(t->dtype_name, dt);
        char want_shape[40] = "[";
        size_t k = 1;
        for (char *p = shape; strcmp(shape, "-") != 0 && *p && k < sizeof want_shape - 3; p++) {
            if (*p == ',') want_shape[k++] = ',', want_shape[k++] = ' ';
            else want_shape[k++] = *p;
        }
        want_shape[k++] = ']';
        want_shape[k] = 0;
        char got[64];
        rv_st_shape_str(t->shape, t->ndim, got, sizeof got);
        CHECK_STR(got, want_shape);
        float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
        rv_err err = {{0}};
        CHECK(rv_st_read_f32(&files[t->file], t, v, &err) == 0);
        char *p = line + used;
        for (uint64_t i = 0; i < t->numel; i++) {
            char *end;
            double want = strtod(p, &end);
            CHECK(end != p);
            p = end;
            CHECK(fbits(v[i]) == fbits((float)want));
        }
        free(v);
    }
    fclose(f);
    CHECK(seen == 5);
}

static const rv_st_tensor *find_file(const void *ctx, const char *name) { return rv_st_find(ctx, name); }
static const rv_st_tensor *find_set(const void *ctx, const char *name) { return rv_st_set_find(ctx, name); }

static void test_read_fixtures(void) {
    rv_err err = {{0}};
    rv_st_file f;
    CHECK(rv_st_open(&f, FIX "st_small.safetensors", &err) == 0);
    if (f.path) {
        CHECK(f.n == 5);
        CHECK(f.metadata_json && strstr(f.metadata_json, "\"format\":\"pt\""));
        CHECK(f.data_start % 8 == 0);
        check_small(&f, find_file, &f);
        const rv_st_tensor *b = rv_st_find(&f, "b.weight");
        uint16_t raw[6];
        CHECK(b && rv_st_read_raw(&f, b, raw, &err) == 0 && raw[3] == 0x7bff && raw[5] == 0x0001);
        CHECK(rv_st_find(&f, "nope") == NULL);
        rv_st_close(&f);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    rv_st_set s;
    int rc = rv_st_set_open(&s, FIX "st_sharded", &err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return; }
    CHECK(s.nfiles == 2 && s.n == 5);
    check_small(s.files, find_set, &s);
    rv_st_set_close(&s);
    rc = rv_st_set_open(&s, FIX "st_small.safetensors", &err);
    CHECK(rc == 0 && s.n == 5);
    if (!rc) rv_st_set_close(&s);
}

static char *tpath(const char *name) { return rv_path_join(tmpdir, name); }

static void put(const char *name, const void *data, size_t n) {
    char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    free(p);
}

/* Writes 8-byte length + header + `data` bytes of payload, opens it, returns rv_st_open's rc. */
static int open_raw(const char *hdr, size_t data, rv_err *err, uint64_t force_len) {
    size_t hl = strlen(hdr);
    unsigned char *buf = calloc(8 + hl + data + 1, 1);
    uint64_t L = force_len ? force_len : hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(L >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    for (size_t i = 0; i < data; i++) buf[8 + hl + i] = (unsigned char)i;
    put("raw.safetensors", buf, 8 + hl + data);
    free(buf);
    char *p = tpath("raw.safetensors");
    rv_st_file f;
    int rc = rv_st_open(&f, p, err);
    if (rc == 0) rv_st_close(&f);
    free(p);
    return rc;
}

#define EXPECT_BAD(hdr, data, len, needle1, needle2)                                                 \
    do {                                                                                             \
        rv_err e_ = {{0}};                                                                           \
        int rc_ = open_raw(hdr, data, &e_, len);                                                     \
        CHECK(rc_ == -1);                                                                            \
        if (rc_ == -1 && (!strstr(e_.msg, needle1) || !strstr(e_.msg, needle2))) {                   \
            CHECK(!"message lacks expected text");                                                   \
            fprintf(stderr, "  message: %s (wanted '%s', '%s')\n", e_.msg, needle1, needle2);         \
        }                                                                                            \
    } while (0)

static void test_bad_headers(void) {
    rv_err err = {{0}};
    const char *good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK(open_raw(good, 8, &err, 0) == 0);
    /* truncation */
    put("short.safetensors", "\x10\0\0", 3);
    char *p = tpath("short.safetensors");
    rv_st_file f;
    CHECK(rv_st_open(&f, p, &err) == -1 && strstr(err.msg, "truncated"));
    free(p);
    EXPECT_BAD(good, 4, 0, "'w'", "run past the end");                        /* data cut short */
    EXPECT_BAD(good, 0, 1000, "header length 1000", "does not fit");          /* header length past EOF */
    EXPECT_BAD(good, 8, 200000000, "exceeds", "limit");                       /* > 100 MB */
    EXPECT_BAD(" {}", 0, 0, "does not start with '{'", "");
    EXPECT_BAD("{\"w\":", 0, 0, "invalid JSON", "");
    EXPECT_BAD("{}{}", 0, 0, "after the JSON header", "");
    EXPECT_BAD("[1]", 0, 0, "start with '{'", "");
    /* offsets */
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0, "'a' and 'b' overlap", "");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "unused bytes before tensor 'a'", "");
    EXPECT_BAD(good, 12, 0, "trailing bytes", "");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, "'w'", "F32 [3] needs 12");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, "'w'", "end before");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8, 0, "'w'",
               "run past");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551616]}}", 8, 0, "'w'",
               "not non-negative integers");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", 8, 0, "'w'", "data_offsets");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, 0, "'w'", "data_offsets");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, "'w'", "data_offsets");
    /* shapes and dtypes */
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0, "'w'", "shape[0]");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, 0, "'w'", "shape[0]");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, 0, "'w'", "shape");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8, 0, "'w'",
               "overflows");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "'w'", "unknown dtype 'F17'");
    EXPECT_BAD("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "'w'", "dtype");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, 0, "'w'",
               "dimensions");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, 0, "'w'", "twice");
    EXPECT_BAD("{\"__metadata__\":{\"format\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
               "__metadata__", "format");
    EXPECT_BAD("{\"w\":7}", 0, 0, "'w'", "not an object");
    /* other dtypes validate, but are refused when loaded as floats */
    CHECK(open_raw("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                   "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[8,10]},"
                   "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[10,10]}}", 10, &err, 0) == 0);
    p = tpath("raw.safetensors");
    CHECK(rv_st_open(&f, p, &err) == 0);
    free(p);
    float v[2];
    const rv_st_tensor *ids = rv_st_find(&f, "ids");
    CHECK(ids && rv_st_read_f32(&f, ids, v, &err) == -1 && strstr(err.msg, "'ids'") && strstr(err.msg, "I64"));
    const rv_st_tensor *s = rv_st_find(&f, "s"), *z = rv_st_find(&f, "z");
    CHECK(s && s->ndim == 0 && s->numel == 1 && rv_st_read_f32(&f, s, v, &err) == 0);
    CHECK(z && z->numel == 0 && rv_st_read_f32(&f, z, v, &err) == 0);
    /* the file shrinking after open is caught by pread, not read past */
    p = tpath("raw.safetensors");
    CHECK(truncate(p, 8 + 4) == 0);
    CHECK(s && rv_st_read_f32(&f, s, v, &err) == -1 && strstr(err.msg, "'s'"));
    free(p);
    rv_st_close(&f);
}

static void test_index_errors(void) {
    rv_err err = {{0}};
    char *d = tpath("idx");
    rv_mkdir_p(d, &err);
    char *sh = rv_path_join(d, "model-00001-of-00001.safetensors");
    char *ix = rv_path_join(d, "model.safetensors.index.json");
    float w[2] = {1, 2};
    rv_st_out o = {.name = "w", .dtype = RV_ST_F32, .ndim = 1, .shape = {2}, .data = w, .src_dtype = RV_ST_F32};
    CHECK(rv_st_write(sh, &o, 1, &err) == 0);
    rv_st_set s;
    const char *cases[][2] = {
        {"{\"weight_map\":{\"w\":\"../model-00001-of-00001.safetensors\"}}", "not a plain file name"},
        {"{\"weight_map\":{\"w\":\"model-00001-of-00001.safetensors\",\"x\":\"model-00001-of-00001.safetensors\"}}",
         "tensor 'x' is listed in shard"},
        {"{\"weight_map\":{\"w\":\"missing.safetensors\"}}", "missing.safetensors"},
        {"{\"weight_map\":[1]}", "weight_map"},
        {"{\"metadata\":{}}", "weight_map"},
        {"{\"weight_map\":{\"w\":3}}", "weight_map['w']"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rv_write_atomic(ix, cases[i][0], strlen(cases[i][0]), &err);
        int rc = rv_st_set_open(&s, d, &err);
        CHECK(rc == -1);
        if (rc == 0) rv_st_set_close(&s);
        else if (!strstr(err.msg, cases[i][1])) {
            CHECK(!"index message");
            fprintf(stderr, "  message: %s (wanted %s)\n", err.msg, cases[i][1]);
        }
    }
    const char *ok = "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"w\":\"model-00001-of-00001.safetensors\"}}";
    rv_write_atomic(ix, ok, strlen(ok), &err);
    CHECK(rv_st_set_open(&s, d, &err) == 0 && s.n == 1);
    rv_st_set_close(&s);
    CHECK(rv_st_set_open(&s, tmpdir, &err) == -1); /* several .safetensors, no index */
    free(d);
    free(sh);
    free(ix);
}

static void test_write(void) {
    rv_err err = {{0}};
    enum { N = 1000 };
    float *a = malloc(N * sizeof *a);
    rv_rng r;
    rv_rng_init(&r, 5, 0, 0);
    for (int i = 0; i < N; i++) a[i] = (float)(rv_rng_normal(&r) * 100.0);
    a[0] = 1e6f; /* overflows f16 -> inf */
    uint16_t h16[N], hb[N];
    rv_st_from_f32(RV_ST_F16, a, h16, N);
    rv_st_from_f32(RV_ST_BF16, a, hb, N);
    float sc = 2.5f;
    rv_st_out o[] = {
        {.name = "x.f32", .dtype = RV_ST_F32, .ndim = 2, .shape = {10, 100}, .data = a, .src_dtype = RV_ST_F32},
        {.name = "x.f16", .dtype = RV_ST_F16, .ndim = 2, .shape = {100, 10}, .data = a, .src_dtype = RV_ST_F32},
        {.name = "x.bf16", .dtype = RV_ST_BF16, .ndim = 1, .shape = {N}, .data = a, .src_dtype = RV_ST_F32},
        {.name = "raw.bf16", .dtype = RV_ST_BF16, .ndim = 1, .shape = {N}, .data = hb, .src_dtype = RV_ST_BF16},
        {.name = "h\"q\\uote", .dtype = RV_ST_F16, .ndim = 0, .shape = {0}, .data = &sc, .src_dtype = RV_ST_F32},
        {.name = "empty", .dtype = RV_ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL, .src_dtype = RV_ST_F32},
    };
    size_t no = sizeof o / sizeof o[0];
    char *p = tpath("w.safetensors");
    CHECK(rv_st_write(p, o, no, &err) == 0);
    rv_st_file f;
    CHECK(rv_st_open(&f, p, &err) == 0);
    CHECK(f.n == no && f.data_start % 8 == 0 && f.metadata_json && strstr(f.metadata_json, "pt"));
    float *back = malloc(N * sizeof *back);
    uint16_t raw[N];
    const rv_st_tensor *t = rv_st_find(&f, "x.f32");
    CHECK(t && t->ndim == 2 && t->shape[0] == 10 && rv_st_read_f32(&f, t, back, &err) == 0 &&
          memcmp(back, a, N * 4) == 0);
    t = rv_st_find(&f, "x.f16");
    CHECK(t && t->dtype == RV_ST_F16 && rv_st_read_raw(&f, t, raw, &err) == 0 && memcmp(raw, h16, sizeof raw) == 0);
    CHECK(t && rv_st_read_f32(&f, t, back, &err) == 0 && fbits(back[0]) == 0x7f800000u);
    t = rv_st_find(&f, "x.bf16");
    CHECK(t && rv_st_read_raw(&f, t, raw, &err) == 0 && memcmp(raw, hb, sizeof raw) == 0);
    t = rv_st_find(&f, "raw.bf16");
    CHECK(t && rv_st_read_raw(&f, t, raw, &err) == 0 && memcmp(raw, hb, sizeof raw) == 0);
    t = rv_st_find(&f, "h\"q\\uote");
    CHECK(t && t->ndim == 0 && rv_st_read_f32(&f, t, back, &err) == 0 && back[0] == 2.5f);
    t = rv_st_find(&f, "empty");
    CHECK(t && t->numel == 0 && t->ndim == 2);
    rv_st_close(&f);
    rv_st_out dup[2] = {o[0], o[0]};
    CHECK(rv_st_write(p, dup, 2, &err) == -1 && strstr(err.msg, "'x.f32'"));
    free(p);

    /* a directory export: sharded when over the limit, single file otherwise, stale files removed */
    char *d = tpath("export");
    int ns = 0;
    CHECK(rv_st_write_dir(d, o, no, 4500, &ns, &err) == 0);
    CHECK(ns == 3); /* 4000 | 2000+2000 | 2000+2+0 (= 10002 bytes): a shard closes before it would pass 4500 */
    char *ix = rv_path_join(d, "model.safetensors.index.json");
    CHECK(rv_is_file(ix));
    rv_st_set s;
    CHECK(rv_st_set_open(&s, d, &err) == 0);
    CHECK(s.n == no && s.nfiles == 3);
    t = rv_st_set_find(&s, "raw.bf16");
    CHECK(t && rv_st_read_raw(&s.files[t->file], t, raw, &err) == 0 && memcmp(raw, hb, sizeof raw) == 0);
    rv_st_set_close(&s);
    char *idx_text = NULL;
    CHECK(rv_read_file(ix, &idx_text, NULL, &err) == 0);
    CHECK(idx_text && strstr(idx_text, "\"total_size\": 10002") &&
          strstr(idx_text, "\"x.f32\": \"model-00001-of-00003.safetensors\""));
    free(idx_text);
    CHECK(rv_st_write_dir(d, o, no, 0, &ns, &err) == 0 && ns == 1);
    CHECK(!rv_exists(ix));
    char *sh1 = rv_path_join(d, "model-00001-of-00003.safetensors");
    CHECK(!rv_exists(sh1));
    CHECK(rv_st_set_open(&s, d, &err) == 0 && s.nfiles == 1 && s.n == no);
    rv_st_set_close(&s);
    free(sh1);
    free(ix);
    free(d);
    free(a);
    free(back);
}

/* Random damage to a valid file's first bytes: open either fails with a message or yields
 * tensors that can all be read (ASan would flag any read past a buffer). */
static void test_fuzz(void) {
    char *src;
    size_t len;
    rv_err err = {{0}};
    if (rv_read_file(FIX "st_small.safetensors", &src, &len, &err)) { CHECK(0); return; }
    rv_rng r;
    rv_rng_init(&r, 11, 0, 0);
    char *p = tpath("fuzz.safetensors");
    int opened = 0, failed = 0, bad = 0;
    unsigned char *buf = malloc(len);
    for (int it = 0; it < 1500; it++) {
        memcpy(buf, src, len);
        size_t cut = len;
        int k = 1 + (int)rv_rng_below(&r, 4);
        for (int j = 0; j < k; j++) {
            size_t at = rv_rng_below(&r, (uint32_t)(it % 3 == 0 ? 16 : len));
            buf[at] = rv_rng_below(&r, 2) ? (unsigned char)rv_rng_u32(&r)
                                          : (unsigned char)"0123456789[]{},:\"-"[rv_rng_below(&r, 18)];
        }
        if (it % 5 == 0) cut = rv_rng_below(&r, (uint32_t)len);
        FILE *f = fopen(p, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        rv_st_file sf;
        if (rv_st_open(&sf, p, &err) == 0) {
            opened++;
            for (size_t i = 0; i < sf.n; i++) {
                const rv_st_tensor *t = &sf.t[i];
                if (t->offset + t->nbytes > sf.size) bad++;
                void *dst = malloc(t->nbytes ? t->nbytes : 1);
                float *fl = malloc(t->numel ? t->numel * 4 : 4);
                if (rv_st_read_raw(&sf, t, dst, &err)) bad++;
                if (t->dtype != RV_ST_OTHER && rv_st_read_f32(&sf, t, fl, &err)) bad++;
                free(dst);
                free(fl);
            }
            rv_st_close(&sf);
        } else {
            failed++;
            if (!err.msg[0]) bad++;
        }
        err.msg[0] = 0;
    }
    CHECK(bad == 0);
    CHECK(opened > 0 && failed > 0);
    free(buf);
    free(src);
    free(p);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rv_st_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_conversions();
    test_read_fixtures();
    test_bad_headers();
    test_index_errors();
    test_write();
    test_fuzz();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
    return check_summary("safetensors");
}
