/* Buffers (space + dtype + bytes), host <-> backend transfers and the sticky error status. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "kernels/backend.h"

size_t rvk_dtype_size(rvk_dtype d) {
    switch (d) {
    case RVK_F32: return 4;
    case RVK_BF16: return 2;
    case RVK_F16: return 2;
    case RVK_I32: return 4;
    case RVK_F64: return 8;
    }
    return 0;
}

const char *rvk_dtype_name(rvk_dtype d) {
    switch (d) {
    case RVK_F32: return "f32";
    case RVK_BF16: return "bf16";
    case RVK_F16: return "f16";
    case RVK_I32: return "i32";
    case RVK_F64: return "f64";
    }
    return "?";
}

/* Bytes per element on the host side of a transfer (bf16/f16 travel as fp32). */
static size_t host_size(rvk_dtype d) { return d == RVK_BF16 || d == RVK_F16 ? 4 : rvk_dtype_size(d); }

int rvk_buf_alloc(rv_kctx *k, rvk_buf *b, rvk_space space, rvk_dtype dtype, size_t n, rv_err *err) {
    memset(b, 0, sizeof *b);
    size_t es = rvk_dtype_size(dtype);
    if (!es) return rv_fail(err, "kernels: unknown buffer dtype %d", (int)dtype);
    if (!k->ops->stores(k, dtype))
        return rv_fail(err, "kernels: the %s backend does not store %s buffers (it stores f32, bf16, i32 and f64)",
                       k->ops->name, rvk_dtype_name(dtype));
    if (n > SIZE_MAX / es)
        return rv_fail(err, "kernels: a buffer of %zu %s elements overflows the address space", n, rvk_dtype_name(dtype));
    size_t bytes = n * es;
    void *p = k->ops->alloc(k, space, bytes ? bytes : es, err);
    if (!p) return -1;
    *b = (rvk_buf){.data = p, .n = n, .bytes = bytes, .dtype = dtype, .space = space};
    k->mem_held += bytes;
    if (k->mem_held > k->mem_peak) k->mem_peak = k->mem_held;
    return 0;
}

void rvk_buf_free(rv_kctx *k, rvk_buf *b) {
    if (b->data) {
        k->ops->free(k, b->space, b->data);
        k->mem_held -= b->bytes <= k->mem_held ? b->bytes : k->mem_held;
    }
    memset(b, 0, sizeof *b);
}

void rvk_mem_stats_get(rv_kctx *k, rvk_mem_stats *out) {
    *out = (rvk_mem_stats){.held = k->mem_held, .peak = k->mem_peak};
    if (k->ops->device_mem) k->ops->device_mem(k, &out->dev_free, &out->dev_total);
}

float *rvk_buf_f32(const rvk_buf *b) { return b->dtype == RVK_F32 ? b->data : NULL; }
int32_t *rvk_buf_i32(const rvk_buf *b) { return b->dtype == RVK_I32 ? b->data : NULL; }
double *rvk_buf_f64(const rvk_buf *b) { return b->dtype == RVK_F64 ? b->data : NULL; }
rvk_bf16 *rvk_buf_bf16(const rvk_buf *b) { return b->dtype == RVK_BF16 ? b->data : NULL; }

/* Checks the element range and the dtype's transfer path; records a failure. */
static int transfer_ok(rv_kctx *k, const rvk_buf *b, size_t off, size_t n, const char *what) {
    rv_err e;
    if (!b->data || off > b->n || n > b->n - off) {
        rv_fail(&e, "kernels: %s of %zu elements at offset %zu is outside a buffer of %zu %s elements", what, n, off,
                b->n, rvk_dtype_name(b->dtype));
        rvk_record_error(k, &e);
        return 0;
    }
    if (host_size(b->dtype) != rvk_dtype_size(b->dtype) && b->dtype != RVK_BF16) {
        rv_fail(&e, "kernels: %s of a %s buffer: no transfer path for that dtype", what, rvk_dtype_name(b->dtype));
        rvk_record_error(k, &e);
        return 0;
    }
    return 1;
}

/* bf16 transfers convert on the host through a staging array and copy synchronously, so the
 * caller's float array is free when they return (they serve tests and checkpoints of bf16
 * buffers, not the hot path: kernels convert on the backend with rvk_f32_to_bf16). */
static void bf16_upload(rv_kctx *k, rvk_buf *dst, size_t off, const float *src, size_t n) {
    uint16_t *h = rv_xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = rv_f32_to_bf16(src[i]);
    rv_err e;
    if (k->ops->copy(k, (uint16_t *)dst->data + off, h, n * sizeof *h, dst->space == RVK_MEM_HOST ? RVK_H2H : RVK_H2D,
                     0, &e) != 0)
        rvk_record_error(k, &e);
    free(h);
}

static void bf16_download(rv_kctx *k, float *dst, const rvk_buf *src, size_t off, size_t n) {
    uint16_t *h = rv_xmalloc(n * sizeof *h);
    rv_err e;
    if (k->ops->copy(k, h, (const uint16_t *)src->data + off, n * sizeof *h,
                     src->space == RVK_MEM_HOST ? RVK_H2H : RVK_D2H, 0, &e) != 0)
        rvk_record_error(k, &e);
    else
        for (size_t i = 0; i < n; i++) dst[i] = rv_bf16_to_f32(h[i]);
    free(h);
}

void rvk_upload_async(rv_kctx *k, rvk_buf *dst, size_t off, const void *host_src, size_t n) {
    if (!transfer_ok(k, dst, off, n, "upload") || n == 0) return;
    if (dst->dtype == RVK_BF16) {
        bf16_upload(k, dst, off, host_src, n);
        return;
    }
    size_t es = rvk_dtype_size(dst->dtype);
    rv_err e;
    if (k->ops->copy(k, (char *)dst->data + off * es, host_src, n * es, dst->space == RVK_MEM_HOST ? RVK_H2H : RVK_H2D,
                     1, &e) != 0)
        rvk_record_error(k, &e);
}

void rvk_download_async(rv_kctx *k, void *host_dst, const rvk_buf *src, size_t off, size_t n) {
    if (!transfer_ok(k, src, off, n, "download") || n == 0) return;
    if (src->dtype == RVK_BF16) {
        bf16_download(k, host_dst, src, off, n);
        return;
    }
    size_t es = rvk_dtype_size(src->dtype);
    rv_err e;
    if (k->ops->copy(k, host_dst, (const char *)src->data + off * es, n * es,
                     src->space == RVK_MEM_HOST ? RVK_H2H : RVK_D2H, 1, &e) != 0)
        rvk_record_error(k, &e);
}

int rvk_sync(rv_kctx *k, rv_err *err) {
    rv_err e;
    if (k->ops->sync(k, &e) != 0) rvk_record_error(k, &e);
    if (!k->failed) return 0;
    if (err) *err = k->status;
    k->failed = 0;
    return -1;
}

/* ---- pointer-level (legacy) memory ---- */

static void *alloc_or_die(rv_kctx *k, size_t bytes) {
    rv_err e;
    void *p = k->ops->alloc(k, RVK_MEM_DEVICE, bytes, &e);
    if (!p) { /* rvk_alloc has no error path (see kernels.h): fail like rv_xmalloc does */
        fprintf(stderr, "radvlm-hpc: %s\n", e.msg);
        abort();
    }
    return p;
}

float *rvk_alloc(rv_kctx *k, size_t n) {
    return alloc_or_die(k, (n ? n : 1) > SIZE_MAX / sizeof(float) ? SIZE_MAX : (n ? n : 1) * sizeof(float));
}

int32_t *rvk_alloc_i32(rv_kctx *k, size_t n) {
    return alloc_or_die(k, (n ? n : 1) > SIZE_MAX / sizeof(int32_t) ? SIZE_MAX : (n ? n : 1) * sizeof(int32_t));
}

void rvk_free(rv_kctx *k, void *p) {
    if (p) k->ops->free(k, RVK_MEM_DEVICE, p);
}

static void copy_sync(rv_kctx *k, void *dst, const void *src, size_t bytes, rvk_copy_kind kind) {
    rv_err e;
    if (bytes && k->ops->copy(k, dst, src, bytes, kind, 0, &e) != 0) rvk_record_error(k, &e);
}

void rvk_upload(rv_kctx *k, float *dst, const float *src, size_t n) { copy_sync(k, dst, src, n * sizeof(float), RVK_H2D); }
void rvk_download(rv_kctx *k, float *dst, const float *src, size_t n) {
    copy_sync(k, dst, src, n * sizeof(float), RVK_D2H);
}
void rvk_upload_i32(rv_kctx *k, int32_t *dst, const int32_t *src, size_t n) {
    copy_sync(k, dst, src, n * sizeof(int32_t), RVK_H2D);
}
void rvk_download_i32(rv_kctx *k, int32_t *dst, const int32_t *src, size_t n) {
    copy_sync(k, dst, src, n * sizeof(int32_t), RVK_D2H);
}
void rvk_copy(rv_kctx *k, float *dst, const float *src, size_t n) {
    if (dst != src) copy_sync(k, dst, src, n * sizeof(float), RVK_D2D);
}
