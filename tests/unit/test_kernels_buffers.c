/* The backend layer: the registry and backend choice by name, buffers (space, dtype, bytes,
 * zero fill, typed views), bf16 storage and conversions, out of memory as an rv_err, the CPU backend refusing f16
 * storage, queued transfers with the sticky sync status (first error kept, reported once), the
 * device-side sum of squares (rvk_sumsq_acc, bitwise equal to summing rvk_sumsq in order), and
 * the weights arenas on backend buffers. */
#include <stdint.h>

#include "kernels_testutil.h"
#include "model/weights.h"

static void test_registry(void) {
    CHECK(rvk_backend_count() >= 2);
    CHECK(strcmp(rvk_backend_name(0), "cpu") == 0 && rvk_backend_built(0));
    int cuda = -1;
    for (int i = 0; i < rvk_backend_count(); i++)
        if (strcmp(rvk_backend_name(i), "cuda") == 0) cuda = i;
#ifdef RADVLM_HAVE_CUDA
    CHECK(cuda > 0 && rvk_backend_built(cuda)); /* its refusal without a GPU: test_kernels_cuda_nodevice */
#else
    CHECK(cuda > 0 && !rvk_backend_built(cuda)); /* configured without CUDA (or with sanitizers) */
#endif
    CHECK(rvk_backend_name(rvk_backend_count()) == NULL);
    rv_kctx *k = (rv_kctx *)&k;
    rv_err err;
    CHECK(rvk_create(&k, "tpu", NULL, &err) == -1 && k == NULL);
    CHECK(strstr(err.msg, "'tpu'") && strstr(err.msg, "compute.backend"));
#ifndef RADVLM_HAVE_CUDA
    CHECK(rvk_create(&k, "cuda", NULL, &err) == -1 && k == NULL);
    CHECK(strstr(err.msg, "not built") && strstr(err.msg, "compute.backend=cpu"));
#endif
    CHECK(rvk_create(&k, "cpu", NULL, &err) == 0 && k != NULL);
    CHECK(strcmp(rvk_ctx_backend(k), "cpu") == 0);
    rvk_cpu_opts o;
    CHECK(rvk_cpu_get_opts(k, &o) == 0 && o.nthreads >= 1 && o.xent_vchunk == 4096 && o.blas_threaded == 0);
    o.nthreads = 3, o.xent_vchunk = 0;
    CHECK(rvk_cpu_set_opts(k, &o, &err) == 0);
    CHECK(rvk_cpu_get_opts(k, &o) == 0 && o.nthreads == 3 && o.xent_vchunk == 4096); /* 0 = the default */
    rvk_destroy(k);
    rvk_destroy(NULL);
}

static void test_buffers(rv_kctx *k) {
    rv_err err;
    rvk_buf f, i, d;
    CHECK(rvk_buf_alloc(k, &f, RVK_MEM_DEVICE, RVK_F32, 10, &err) == 0);
    CHECK(f.data && f.n == 10 && f.bytes == 40 && f.dtype == RVK_F32 && f.space == RVK_MEM_DEVICE);
    CHECK(rvk_buf_f32(&f) == f.data && rvk_buf_i32(&f) == NULL && rvk_buf_f64(&f) == NULL);
    CHECK(rvk_buf_alloc(k, &i, RVK_MEM_DEVICE, RVK_I32, 3, &err) == 0 && i.bytes == 12 && rvk_buf_i32(&i));
    CHECK(rvk_buf_alloc(k, &d, RVK_MEM_HOST, RVK_F64, 2, &err) == 0 && d.bytes == 16 && rvk_buf_f64(&d));
    /* zero-filled */
    float fv[10];
    int32_t iv[3] = {5, 5, 5};
    double dv[2] = {5, 5};
    for (int j = 0; j < 10; j++) fv[j] = 5;
    rvk_download_async(k, fv, &f, 0, 10);
    rvk_download_async(k, iv, &i, 0, 3);
    rvk_download_async(k, dv, &d, 0, 2);
    CHECK(rvk_sync(k, &err) == 0);
    CHECK(fv[0] == 0 && fv[9] == 0 && iv[2] == 0 && dv[1] == 0);
    /* a round trip through an offset */
    const int32_t ids[2] = {-7, 123456789};
    rvk_upload_async(k, &i, 1, ids, 2);
    rvk_download_async(k, iv, &i, 0, 3);
    CHECK(rvk_sync(k, &err) == 0);
    CHECK(iv[0] == 0 && iv[1] == -7 && iv[2] == 123456789);
    rvk_buf_free(k, &f);
    CHECK(f.data == NULL && f.n == 0);
    rvk_buf_free(k, &f); /* a freed (zeroed) buffer may be freed again */
    rvk_buf_free(k, &i);
    rvk_buf_free(k, &d);
    CHECK(rvk_dtype_size(RVK_BF16) == 2 && rvk_dtype_size(RVK_F64) == 8 && strcmp(rvk_dtype_name(RVK_F16), "f16") == 0);
}

/* bf16 buffers: transfers round to nearest even on the way in and widen exactly on the way out;
 * the conversion kernels do the same on the backend. Hand-worked bit patterns:
 * 1 + 2^-8 (0x3f808000) is a tie between 0x3f80 and 0x3f81: even 0x3f80 = 1.0;
 * 1 + 3 * 2^-8 (0x3f818000) is a tie between 0x3f81 and 0x3f82: even 0x3f82 = 1 + 2^-6;
 * 1 + 2^-8 + 2^-23 (0x3f808001) is above the tie: 0x3f81 = 1 + 2^-7; -3 is exact (0xc040). */
static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_bf16_buffers(void) {
    rv_kctx *k;
    rv_err err;
    CHECK(rvk_create(&k, "cpu", NULL, &err) == 0);
    rvk_mem_stats ms0, ms1, ms2;
    rvk_mem_stats_get(k, &ms0);
    rvk_buf h, f;
    CHECK(rvk_buf_alloc(k, &h, RVK_MEM_DEVICE, RVK_BF16, 5, &err) == 0 && h.bytes == 10 && rvk_buf_bf16(&h));
    CHECK(rvk_buf_f32(&h) == NULL);
    CHECK(rvk_buf_alloc(k, &f, RVK_MEM_DEVICE, RVK_F32, 5, &err) == 0);
    rvk_mem_stats_get(k, &ms1);
    CHECK(ms1.held == ms0.held + 10 + 20 && ms1.peak >= ms1.held && ms1.dev_total == 0);
    const float in[5] = {bitsf(0x3f808000u), bitsf(0x3f818000u), bitsf(0x3f808001u), -3.0f, 65536.0f};
    const float want[5] = {1.0f, 1.0f + 1.0f / 64, 1.0f + 1.0f / 128, -3.0f, 65536.0f};
    float out[5];
    rvk_upload_async(k, &h, 0, in, 5);
    rvk_download_async(k, out, &h, 0, 5);
    CHECK(rvk_sync(k, &err) == 0);
    for (int i = 0; i < 5; i++) CHECK(out[i] == want[i]);
    /* the kernels: f32 -> bf16 -> f32 on the backend gives the same values */
    rvk_upload_async(k, &f, 0, in, 5);
    rvk_f32_to_bf16(k, rvk_buf_bf16(&h), rvk_buf_f32(&f), 5);
    rvk_fill(k, rvk_buf_f32(&f), 7.0f, 5);
    rvk_bf16_to_f32(k, rvk_buf_f32(&f), rvk_buf_bf16(&h), 5);
    rvk_download_async(k, out, &f, 0, 5);
    CHECK(rvk_sync(k, &err) == 0);
    for (int i = 0; i < 5; i++) CHECK(out[i] == want[i]);
    /* an offset transfer touches only its elements */
    const float two = 2.0f;
    rvk_upload_async(k, &h, 4, &two, 1);
    rvk_download_async(k, out, &h, 3, 2);
    CHECK(rvk_sync(k, &err) == 0 && out[0] == -3.0f && out[1] == 2.0f);
    rvk_upload_async(k, &h, 5, &two, 1); /* out of range: reported at sync, naming the dtype */
    CHECK(rvk_sync(k, &err) == -1 && strstr(err.msg, "bf16") && strstr(err.msg, "outside"));
    rvk_buf_free(k, &h);
    rvk_buf_free(k, &f);
    rvk_mem_stats_get(k, &ms2);
    CHECK(ms2.held == ms0.held && ms2.peak == ms1.peak);
    rvk_destroy(k);
}

/* CPU: no f16 storage, and out of memory reported with the byte count. */
static void test_cpu_limits(void) {
    rv_kctx *k;
    rv_err err;
    rvk_cpu_opts o = {.nthreads = 1, .mem_limit = 1000};
    CHECK(rvk_create(&k, "cpu", &o, &err) == 0);
    rvk_buf a, b;
    CHECK(rvk_buf_alloc(k, &a, RVK_MEM_DEVICE, RVK_F16, 4, &err) == -1 && a.data == NULL);
    CHECK(strstr(err.msg, "f16") && strstr(err.msg, "cpu"));
    /* the limit: 800 bytes fit, 400 more do not (8 bytes already hold rvk_sumsq's device scalar) */
    CHECK(rvk_buf_alloc(k, &a, RVK_MEM_DEVICE, RVK_F32, 200, &err) == 0);
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, 100, &err) == -1 && b.data == NULL);
    CHECK(strstr(err.msg, "out of memory") && strstr(err.msg, "400 bytes"));
    rvk_buf_free(k, &a); /* freeing returns the bytes */
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, 100, &err) == 0);
    rvk_buf_free(k, &b);
    rvk_destroy(k);
    /* no limit: a size no allocator can serve is an error, not an abort */
    CHECK(rvk_create(&k, "cpu", NULL, &err) == 0);
    CHECK(rvk_buf_alloc(k, &a, RVK_MEM_DEVICE, RVK_F32, (SIZE_MAX - 64) / 4, &err) == -1);
    CHECK(strstr(err.msg, "out of memory") != NULL);
    CHECK(rvk_buf_alloc(k, &a, RVK_MEM_DEVICE, RVK_F64, SIZE_MAX / 4, &err) == -1 && strstr(err.msg, "overflow"));
    rvk_destroy(k);
}

/* Queued transfers keep the FIRST failure until rvk_sync reports it; ops after it still run. */
static void test_sticky(rv_kctx *k) {
    rv_err err;
    rvk_buf b;
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, 8, &err) == 0);
    const float src[4] = {1, 2, 3, 4};
    float out[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    rvk_upload_async(k, &b, 2, src, 4);        /* fine: elements 2..5 */
    rvk_upload_async(k, &b, 6, src, 4);        /* first failure: 6 + 4 > 8 */
    rvk_download_async(k, out, &b, 100, 1);    /* second failure: dropped */
    rvk_download_async(k, out, &b, 0, 8);      /* fine */
    CHECK(rvk_sync(k, &err) == -1);
    CHECK(strstr(err.msg, "upload of 4 elements at offset 6") && strstr(err.msg, "8 f32 elements"));
    CHECK(strstr(err.msg, "offset 100") == NULL);
    CHECK(out[0] == 0 && out[2] == 1 && out[5] == 4 && out[6] == 0 && out[7] == 0);
    CHECK(rvk_sync(k, &err) == 0); /* reported once, then cleared */
    rvk_download_async(k, out, &b, 7, 2);
    CHECK(rvk_sync(k, NULL) == -1); /* an unread status is still reported without a message sink */
    CHECK(rvk_sync(k, &err) == 0);
    rvk_buf_free(k, &b);
}

/* A global sum of squares accumulated on the device: one slot per group, one download. */
static void test_sumsq_acc(void) {
    rv_rng r;
    rv_rng_init(&r, 83, 0, 0);
    size_t sizes[5] = {3, 4096, 4097, 100003, 1};
    float *x[5];
    for (int t = 0; t < 5; t++) x[t] = kt_randn(&r, sizes[t], 1);
    x[0][0] = 1, x[0][1] = 2, x[0][2] = 2; /* 9 */
    x[4][0] = 3;                           /* 9 */
    double got[3][2];
    for (int th = 0; th < 3; th++) {
        rv_kctx *k = kt_ctx(th + 1);
        rv_err err;
        rvk_buf acc, xs[5];
        CHECK(rvk_buf_alloc(k, &acc, RVK_MEM_DEVICE, RVK_F64, 2, &err) == 0);
        for (int t = 0; t < 5; t++) {
            CHECK(rvk_buf_alloc(k, &xs[t], RVK_MEM_DEVICE, RVK_F32, sizes[t], &err) == 0);
            rvk_upload_async(k, &xs[t], 0, x[t], sizes[t]);
        }
        /* slot 0: every tensor in order; slot 1: the two small ones (9 + 9 = 18 exactly) */
        for (int t = 0; t < 5; t++) rvk_sumsq_acc(k, rvk_buf_f64(&acc), rvk_buf_f32(&xs[t]), sizes[t]);
        rvk_sumsq_acc(k, rvk_buf_f64(&acc) + 1, rvk_buf_f32(&xs[0]), sizes[0]);
        rvk_sumsq_acc(k, rvk_buf_f64(&acc) + 1, rvk_buf_f32(&xs[4]), sizes[4]);
        rvk_sumsq_acc(k, rvk_buf_f64(&acc) + 1, rvk_buf_f32(&xs[4]), 0); /* an empty tensor adds nothing */
        rvk_download_async(k, got[th], &acc, 0, 2);
        CHECK(rvk_sync(k, &err) == 0);
        /* the same value as the host-returning rvk_sumsq summed in the same order, bit for bit */
        double seq = 0;
        for (int t = 0; t < 5; t++) seq += rvk_sumsq(k, rvk_buf_f32(&xs[t]), sizes[t]);
        CHECK(memcmp(&seq, &got[th][0], sizeof seq) == 0);
        CHECK(got[th][1] == 18.0);
        for (int t = 0; t < 5; t++) rvk_buf_free(k, &xs[t]);
        rvk_buf_free(k, &acc);
        rvk_destroy(k);
    }
    CHECK(got[0][0] == got[1][0] && got[0][0] == got[2][0]); /* independent of the thread count */
    double ref = 0;
    for (int t = 0; t < 5; t++)
        for (size_t j = 0; j < sizes[t]; j++) ref += (double)x[t][j] * x[t][j];
    CHECK_NEAR(got[0][0], ref, 1e-9 * ref);
    for (int t = 0; t < 5; t++) free(x[t]);
}

/* The weights arenas are buffers of the context: staging round trip, gradients zeroed on the
 * backend, and out of backend memory reported as an error naming the parameter count. */
static void test_weights(rv_kctx *k) {
    rv_err err;
    rv_model_cfg c;
    rv_weights w;
    CHECK(rv_model_cfg_preset("tiny", &c, &err) == 0);
    CHECK(rv_weights_build(&w, &c, k, &err) == 0);
    CHECK(w.k == k && w.params == rvk_buf_f32(&w.params_buf) && w.params_buf.n == w.total && w.grads == NULL);
    int h = rv_weights_find(&w, "language_model.model.norm.weight");
    CHECK(h >= 0);
    size_t n = w.t[h].numel;
    float *in = malloc(n * 4), *back = malloc(n * 4);
    for (size_t j = 0; j < n; j++) in[j] = (float)j * 0.25f - 3.0f;
    CHECK(rv_weights_upload_tensor(&w, (size_t)h, in, &err) == 0);
    CHECK(rv_weights_download_tensor(&w, (size_t)h, back, &err) == 0);
    CHECK(memcmp(in, back, n * 4) == 0);
    /* the device pointer the model resolves addresses the same values */
    float first = 0;
    rvk_download(k, &first, rv_weights_param(&w, "language_model.model.norm.weight"), 1);
    CHECK(first == -3.0f);
    CHECK(rv_weights_download_tensor(&w, w.n, back, &err) == -1);
    CHECK(rv_weights_alloc_grads(&w, &err) == 0 && w.grads == rvk_buf_f32(&w.grads_buf));
    float *g = rv_weights_grad(&w, "language_model.model.norm.weight");
    rvk_upload(k, g, in, n);
    rv_weights_zero_grads(&w);
    rvk_download(k, back, g, n);
    int zero = 1;
    for (size_t j = 0; j < n; j++) zero &= back[j] == 0.0f;
    CHECK(zero);
    rv_weights_free(&w);
    free(in);
    free(back);
    if (strcmp(rvk_ctx_backend(k), "cpu") == 0) {
        rv_kctx *small;
        rvk_cpu_opts o = {.nthreads = 1, .mem_limit = 4096};
        CHECK(rvk_create(&small, "cpu", &o, &err) == 0);
        CHECK(rv_weights_build(&w, &c, small, &err) == -1);
        CHECK(strstr(err.msg, "parameters") && strstr(err.msg, "out of memory") && strstr(err.msg, "bytes"));
        rvk_destroy(small);
    }
}

int main(void) {
    test_registry();
    test_cpu_limits();
    test_bf16_buffers();
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_buffers(k);
        test_sticky(k);
        test_weights(k);
        rvk_destroy(k);
        test_sumsq_acc();
    }
    return check_summary("test_kernels_buffers");
}
