/* The CPU backend's emulation of the bf16 weight shadow (kernels.h rvk_shadow_*; enabled by
 * rvk_cpu_opts.bf16_weights). A bound range gets an fp32 copy whose values are the masters
 * rounded to bf16 and widened back (exactly the numbers a bf16 store holds), refreshed only by
 * rvk_shadow_refresh; rvk_cpu_gemm reads operands in the range from the copy. So the CPU runs
 * the same refresh rule a device backend's bf16 copy follows, and a missed refresh shows up as
 * stale weights in a test. Without bf16_weights nothing is bound and every GEMM reads fp32. */
#include <stdint.h>
#include <stdio.h>

#include "core/half.h"
#include "kernels/cpu/cpu.h"

static int contains(const rvk_cpu_shadow *s, const float *p, size_t n) {
    uintptr_t lo = (uintptr_t)s->lo, a = (uintptr_t)p;
    return s->lo && a >= lo && (a - lo) / sizeof(float) <= s->n && n <= s->n - (a - lo) / sizeof(float);
}

const float *rvk_cpu_shadowed(const rv_kctx *k, const float *p) {
    const rvk_cpu *c = rvk_cpu_of(k);
    if (!c->nshadow || !p || !c->o.bf16_weights) return p; /* options set back to 0: fp32 again */
    for (int i = 0; i < RVK_SHADOW_RANGES; i++) {
        const rvk_cpu_shadow *s = &c->shadow[i];
        uintptr_t lo = (uintptr_t)s->lo, a = (uintptr_t)p;
        if (s->lo && a >= lo && (a - lo) / sizeof(float) < s->n) return s->copy + (a - lo) / sizeof(float);
    }
    return p;
}

static void round_into(rv_kctx *k, float *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = rv_bf16_to_f32(rv_f32_to_bf16(src[i]));
}

static void drop(rv_kctx *k, rvk_cpu_shadow *s) {
    rvk_cpu *c = rvk_cpu_of(k);
    size_t bytes = s->n * sizeof(float);
    rvk_cpu_free_bytes(k, s->copy);
    k->mem_held -= bytes <= k->mem_held ? bytes : k->mem_held;
    *s = (rvk_cpu_shadow){0};
    c->nshadow--;
}

int rvk_cpu_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err) {
    rvk_cpu *c = rvk_cpu_of(k);
    /* a range starting at params is replaced (n == 0: just removed, see kernels.h) */
    for (int i = 0; i < RVK_SHADOW_RANGES; i++)
        if (c->shadow[i].lo && c->shadow[i].lo == params) drop(k, &c->shadow[i]);
    if (!c->o.bf16_weights || !params || n == 0) return 0;
    int slot = -1;
    for (int i = 0; i < RVK_SHADOW_RANGES && slot < 0; i++)
        if (!c->shadow[i].lo) slot = i;
    if (slot < 0)
        return rv_fail(err, "kernels: weight shadow: %d parameter ranges are bound already (the most one context "
                            "keeps); free a weights table before building another on this context", RVK_SHADOW_RANGES);
    if (n > SIZE_MAX / sizeof(float))
        return rv_fail(err, "kernels: weight shadow: %zu parameters overflow the copy's byte count", n);
    float *copy = rvk_cpu_alloc_bytes(k, n * sizeof(float), err);
    if (!copy) return rv_fail_wrap(err, "kernels: weight shadow of %zu parameters (bf16 emulation)", n);
    k->mem_held += n * sizeof(float);
    if (k->mem_held > k->mem_peak) k->mem_peak = k->mem_held;
    c->shadow[slot] = (rvk_cpu_shadow){.lo = params, .n = n, .copy = copy};
    c->nshadow++;
    round_into(k, copy, params, n);
    return 0;
}

void rvk_cpu_shadow_refresh(rv_kctx *k, const float *p, size_t n) {
    rvk_cpu *c = rvk_cpu_of(k);
    if (!c->nshadow || n == 0) return;
    for (int i = 0; i < RVK_SHADOW_RANGES; i++) {
        rvk_cpu_shadow *s = &c->shadow[i];
        if (contains(s, p, n)) {
            size_t off = (size_t)((uintptr_t)p - (uintptr_t)s->lo) / sizeof(float);
            round_into(k, s->copy + off, p, n);
            return;
        }
    }
    char bound[256];
    int at = 0;
    for (int i = 0; i < RVK_SHADOW_RANGES && at < (int)sizeof bound; i++)
        if (c->shadow[i].lo)
            at += snprintf(bound + at, sizeof bound - (size_t)at, "%s[%p, +%zu)", at ? ", " : "",
                           (const void *)c->shadow[i].lo, c->shadow[i].n);
    rv_err e;
    rv_fail(&e, "kernels: weight shadow refresh of [%p, +%zu) (floats) lies outside the bound parameter range(s) %s: "
                "refresh only what rvk_shadow_bind declared (a parameter write outside the weights arena?)",
            (const void *)p, n, bound);
    rvk_record_error(k, &e);
}

void rvk_cpu_shadow_unbind(rv_kctx *k) {
    rvk_cpu *c = rvk_cpu_of(k);
    for (int i = 0; i < RVK_SHADOW_RANGES; i++)
        if (c->shadow[i].lo) drop(k, &c->shadow[i]);
}
