/* Counts backend allocations (rvk_alloc, rvk_alloc_i32, rvk_buf_alloc) by wrapping them at link
 * time: a program that includes this must link with
 *   -Wl,--wrap=rvk_alloc -Wl,--wrap=rvk_alloc_i32 -Wl,--wrap=rvk_buf_alloc
 * (CMakeLists.txt does so for the tests and benchmarks that count). Include it in one file only. */
#ifndef RADVLM_TESTS_ALLOC_COUNT_H
#define RADVLM_TESTS_ALLOC_COUNT_H

#include "kernels/kernels.h"

static long n_alloc;
float *__real_rvk_alloc(rv_kctx *k, size_t n);
int32_t *__real_rvk_alloc_i32(rv_kctx *k, size_t n);
int __real_rvk_buf_alloc(rv_kctx *k, rvk_buf *b, rvk_space space, rvk_dtype dtype, size_t n, rv_err *err);
float *__wrap_rvk_alloc(rv_kctx *k, size_t n);
int32_t *__wrap_rvk_alloc_i32(rv_kctx *k, size_t n);
int __wrap_rvk_buf_alloc(rv_kctx *k, rvk_buf *b, rvk_space space, rvk_dtype dtype, size_t n, rv_err *err);

float *__wrap_rvk_alloc(rv_kctx *k, size_t n) {
    n_alloc++;
    return __real_rvk_alloc(k, n);
}
int32_t *__wrap_rvk_alloc_i32(rv_kctx *k, size_t n) {
    n_alloc++;
    return __real_rvk_alloc_i32(k, n);
}
int __wrap_rvk_buf_alloc(rv_kctx *k, rvk_buf *b, rvk_space space, rvk_dtype dtype, size_t n, rv_err *err) {
    n_alloc++;
    return __real_rvk_buf_alloc(k, b, space, dtype, n, err);
}

#endif
