/* Host emulation of the CUDA execution model for the kernels of kernels/cuda, so their indexing,
 * synchronisation and arithmetic are checked on machines without a GPU (tests/gpu/flash_emu.cpp,
 * tests/gpu/sample_emu.cpp). A .cu file is compiled as plain C++ with the CUDA keywords defined
 * away; every CTA runs as 256 fibers (ucontext) on one thread: __syncthreads() hands over to the
 * next live fiber (round robin, so a fiber passes a barrier only after every other fiber reached
 * it); warp collectives (__shfl_xor_sync, __shfl_up_sync, __ballot_sync) exchange through a slot
 * per thread, double-buffered, across one such hand-over; atomics are plain read-modify-writes
 * (fibers only switch at barriers). CTAs run one after the other. Dynamic shared memory (the
 * kernels' `extern __shared__ float sm[]`), device scratch and the overwritten outputs start as
 * NaN / all-ones bytes, so a read of something never written shows up in the results. Static
 * `__shared__` variables become function statics (one copy shared by the fibers: the CTA's),
 * unless the includer defines __shared__ itself (flash_emu: only dynamic shared memory).
 *
 * Include this first, then the host stubs a kernel file needs beyond the ones below, then the
 * .cu file; launch with EMU_LAUNCH(fn, grid, shm)(args...). */
#ifndef RADVLM_TESTS_GPU_CUDA_EMU_H
#define RADVLM_TESTS_GPU_CUDA_EMU_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#include <ucontext.h>

#include "kernels/cuda/plan.h"

/* ---- what the .cu files take from CUDA and from cuda_impl.h ---- */
#define RADVLM_KERNELS_CUDA_IMPL_H /* skip cuda_impl.h: the includer defines what is used */
#define __global__
#define __device__
#ifndef __shared__
#define __shared__ static
#endif
#define __launch_bounds__(x)
#define __host__
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
typedef int cudaStream_t;
typedef int cudaError_t;
using std::max;
using std::min;

static dim3 threadIdx, blockIdx, blockDim(256), gridDim;

/* the CTA's dynamic shared memory (the kernels' `extern __shared__ float sm[]`) */
alignas(128) float sm[1 << 16];
static int g_fail;
static int g_cur; /* the running fiber (thread of the CTA) */

/* ---- fibers ---- */
#define NFIB 256
#define FIB_STACK (128 << 10)
static ucontext_t g_main, g_fib[NFIB];
static std::vector<char> g_stacks((size_t)NFIB * FIB_STACK);
static int g_alive[NFIB], g_nalive;
static std::function<void()> g_body;
static unsigned long long g_slot[2][NFIB]; /* warp collectives: 8 bytes per thread, two buffers */
static unsigned g_ncoll[NFIB];             /* collectives each thread did (picks the buffer) */

static inline int next_alive(int i) {
    for (int s = 1; s <= NFIB; s++)
        if (g_alive[(i + s) % NFIB]) return (i + s) % NFIB;
    return -1;
}

static inline void __syncthreads() {
    const int me = g_cur, nx = next_alive(me);
    if (nx == me) return;
    g_cur = nx, threadIdx.x = (unsigned)nx;
    swapcontext(&g_fib[me], &g_fib[nx]);
    g_cur = me, threadIdx.x = (unsigned)me;
}

/* Publishes v for the warp and returns the buffer every lane's value is in after one hand-over.
 * Two buffers: a lane writes the buffer of its collective n only after every fiber passed the
 * hand-over of collective n - 1, i.e. after all reads of collective n - 2 (same buffer). */
template <typename T> static const unsigned long long *emu_publish(T v) {
    static_assert(sizeof(T) <= 8, "warp collectives of at most 8 bytes");
    const int me = g_cur;
    unsigned long long *buf = g_slot[g_ncoll[me]++ & 1u];
    buf[me] = 0;
    memcpy(&buf[me], &v, sizeof v);
    __syncthreads();
    return buf;
}
template <typename T> static T emu_read(const unsigned long long *buf, int lane) {
    T r;
    memcpy(&r, &buf[lane], sizeof r);
    return r;
}
template <typename T> static T __shfl_xor_sync(unsigned, T v, int o) {
    const unsigned long long *b = emu_publish(v);
    return emu_read<T>(b, g_cur ^ o);
}
template <typename T> static T __shfl_up_sync(unsigned, T v, unsigned d) {
    const unsigned long long *b = emu_publish(v);
    const int lane = g_cur & 31;
    return lane >= (int)d ? emu_read<T>(b, g_cur - (int)d) : v;
}
static inline unsigned __ballot_sync(unsigned, int pred) {
    const unsigned long long *b = emu_publish(pred ? 1 : 0);
    const int w0 = g_cur & ~31;
    unsigned m = 0;
    for (int l = 0; l < 32; l++)
        if (emu_read<int>(b, w0 + l)) m |= 1u << l;
    return m;
}
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
/* atomics: fibers switch only at barriers, so a plain update is atomic */
template <typename T> static T atomicAdd(T *p, T v) {
    T o = *p;
    *p = o + v;
    return o;
}
template <typename T> static T atomicOr(T *p, T v) {
    T o = *p;
    *p = o | v;
    return o;
}

static inline void fiber_entry() {
    g_body();
    const int me = g_cur;
    g_alive[me] = 0;
    if (--g_nalive == 0) setcontext(&g_main);
    const int nx = next_alive(me);
    g_cur = nx, threadIdx.x = (unsigned)nx;
    setcontext(&g_fib[nx]);
}

static inline void run_cta() {
    for (int i = 0; i < NFIB; i++) {
        getcontext(&g_fib[i]);
        g_fib[i].uc_stack.ss_sp = g_stacks.data() + (size_t)i * FIB_STACK;
        g_fib[i].uc_stack.ss_size = FIB_STACK;
        g_fib[i].uc_link = &g_main;
        makecontext(&g_fib[i], fiber_entry, 0);
        g_alive[i] = 1;
        g_ncoll[i] = 0;
    }
    g_nalive = NFIB;
    g_cur = 0, threadIdx.x = 0;
    swapcontext(&g_main, &g_fib[0]);
}

template <typename... P> struct emu_launch {
    void (*fn)(P...);
    dim3 grid;
    size_t shm;
    template <typename... A> void operator()(A... args) {
        if (shm > sizeof sm) {
            printf("FAIL a launch asks for %zu bytes of shared memory, the emulator has %zu\n", shm, sizeof sm);
            g_fail++;
            return;
        }
        gridDim = grid;
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = dim3(x, y);
                for (size_t i = 0; i < sizeof sm / sizeof sm[0]; i++) sm[i] = NAN;
                g_body = [&]() { fn(args...); };
                run_cta();
            }
    }
};
template <typename... P> static emu_launch<P...> emu_make(void (*fn)(P...), dim3 grid, size_t shm) {
    return emu_launch<P...>{fn, grid, shm};
}
#define EMU_LAUNCH(fn, grid, shm) emu_make(fn, grid, shm)

/* ---- host helpers of cuda_impl.h ---- */
extern "C" void *rv_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}
static inline int rvk_cu_check(rv_kctx *, cudaError_t e, const char *) { return e; }
static inline int rvk_cu_launched(rv_kctx *, const char *) { return 0; }
static inline cudaStream_t rvk_cu_stream(rv_kctx *) { return 0; }
static std::vector<char> g_scratch;
static inline void *rvk_cu_scratch(rv_kctx *, size_t n) {
    g_scratch.assign(n, (char)0xff); /* NaN floats */
    return g_scratch.data();
}
static inline void rvk_cu_put(rv_kctx *, void *d, const void *h, size_t n) { memcpy(d, h, n); }
static inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
    memset(p, v, n);
    return 0;
}

#endif
