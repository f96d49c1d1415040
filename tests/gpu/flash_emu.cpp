/* Host emulation of the fused attention kernels (kernels/cuda/attention_flash.cu), so their
 * indexing, masking, tiling and accumulation are checked on machines without a GPU (the CI
 * machines), with the emulation runtime of tests/gpu/cuda_emu.h (every CTA as 256 fibers on one
 * thread; shared memory, device scratch and the overwritten outputs start as NaN, so a read of
 * something never written shows up in the results). Here: WMMA and bf16.
 *
 * Reference: a naive double-precision attention written here from the rvk_attn contract
 * (kernels/kernels.h): per (sequence, head, query row) the visible keys j <= i + (lk - lq) (causal)
 * or all lk, softmax, lse; backward dP = dO V^T, Dsum = dO . O, dS = P (dP - Dsum), dq = scale dS K,
 * dk = scale dS^T Q, dv = P^T dO summed over the query heads of a KV group.
 * Both variants of the kernels run: fp32 FMA (tolerance 2e-5: fp32 rounding against double) and
 * bf16 WMMA (1e-2: bf16 operands of the products; WMMA emulated as whole-tile products, see below).
 * Checks (normwise relative error): out, lse (-inf exactly
 * where a row sees no key), dq, dk, dv; backward with accum = 1 adds exactly the accum = 0 result
 * once more (bitwise: the same sums added to the same values); key rows outside every sequence
 * stay exactly 0 with accum = 0; the shared memory a launch asks for stays within an A100's
 * 163 KiB. Exit 0 when all pass, 1 otherwise.
 *
 * Build (tests/e2e/test_flash_emu.sh): c++ -std=c++17 -O2 -I<root> tests/gpu/flash_emu.cpp */
#define __shared__ /* the kernels use dynamic shared memory only: the emulator's sm */
#include "tests/gpu/cuda_emu.h"

#define RVK_CU_FLASH_MAX_D 128
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };

/* bf16 (round to nearest even, as __float2bfloat16_rn) and WMMA m16n16k16: every thread of the
 * warp does the whole warp's operation on its own full copy of the 16 x 16 tile (lane 0 alone
 * stores), so a fragment means the same matrix as on the GPU whatever the hardware's element
 * layout; the pointers and
 * strides are checked against WMMA's rules (32-byte aligned, ldm a multiple of 16 bytes). */
struct __nv_bfloat16 {
    unsigned short b;
};
static __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(unsigned short)(u >> 16)};
}
static float bf2f(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void wmma_rules(const void *p, unsigned ldm, size_t esize) {
    if ((uintptr_t)p % 32 != 0 || (ldm * esize) % 16 != 0) {
        if (g_fail < 1000) printf("FAIL a WMMA pointer %p / ldm %u breaks the alignment rules\n", p, ldm);
        g_fail++;
    }
}
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
    static constexpr int num_elements = 256;
    float x[256];
};
template <class U, class T, class L> static void fill_fragment(fragment<U, 16, 16, 16, T, L> &f, float v) {
    for (int i = 0; i < 256; i++) f.x[i] = v;
}
template <class U, class L>
static void load_matrix_sync(fragment<U, 16, 16, 16, __nv_bfloat16, L> &f, const __nv_bfloat16 *p, unsigned ldm) {
    wmma_rules(p, ldm, 2);
    const bool row = std::is_same<L, row_major>::value; /* element (r, c) at r ldm + c, else c ldm + r */
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.x[r * 16 + c] = bf2f(row ? p[r * ldm + c] : p[c * ldm + r]);
}
static void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm, layout_t l) {
    wmma_rules(p, ldm, 4);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.x[r * 16 + c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}
static void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm, layout_t l) {
    wmma_rules(p, ldm, 4);
    /* the warp stores once: lane 0's copy. Lanes run one after the other between barriers, so a
     * later lane may have loaded what lane 0 already stored (O += P V in place); on the GPU the
     * warp loads, multiplies and stores together, which is lane 0's view */
    if (g_cur % 32 != 0) return;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * 16 + c];
}
template <class LA, class LB>
static void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c) {
    float t[256];
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++) {
            float acc = c.x[m * 16 + n];
            for (int k = 0; k < 16; k++) acc += a.x[m * 16 + k] * b.x[k * 16 + n];
            t[m * 16 + n] = acc;
        }
    memcpy(d.x, t, sizeof t);
}
} // namespace wmma
} // namespace nvcuda

static size_t g_max_shm;

#define FL_LAUNCH(fn, grid, shm, st) EMU_LAUNCH(fn, grid, shm)

template <typename F> static cudaError_t cudaFuncSetAttribute(F *, cudaFuncAttribute, int bytes) {
    g_max_shm = (size_t)bytes > g_max_shm ? (size_t)bytes : g_max_shm;
    return 0;
}

#include "kernels/cuda/attention_flash.cu"

/* ---- the reference and the cases ---- */

static std::vector<float> randv(size_t n, unsigned seed) {
    std::vector<float> v(n);
    unsigned long long s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return v;
}

struct ref_out {
    std::vector<double> out, lse, dq, dk, dv;
};

static void reference(const std::vector<rvk_attn_seq> &seq, int Tq, int Tk, int Hq, int Hkv, int D, float scale,
                      int causal, const std::vector<float> &q, const std::vector<float> &k,
                      const std::vector<float> &v, const std::vector<float> &dout, ref_out &r) {
    const int nrep = Hq / Hkv;
    r.out.assign((size_t)Tq * Hq * D, 0.0), r.lse.assign((size_t)Tq * Hq, -INFINITY);
    r.dq.assign((size_t)Tq * Hq * D, 0.0), r.dk.assign((size_t)Tk * Hkv * D, 0.0), r.dv.assign((size_t)Tk * Hkv * D, 0.0);
    for (const rvk_attn_seq &s : seq)
        for (int h = 0; h < Hq; h++) {
            const int g = h / nrep;
            for (int i = 0; i < s.lq; i++) {
                int nv = causal ? i + (s.lk - s.lq) + 1 : s.lk;
                nv = nv < 0 ? 0 : (nv > s.lk ? s.lk : nv);
                if (nv == 0) continue; /* out 0, lse -inf, no gradient */
                const size_t t = (size_t)s.q0 + i;
                const float *qi = &q[(t * Hq + h) * D], *doi = &dout[(t * Hq + h) * D];
                std::vector<double> sc(nv), p(nv), dp(nv);
                double m = -INFINITY;
                for (int j = 0; j < nv; j++) {
                    const float *kj = &k[(((size_t)s.k0 + j) * Hkv + g) * D];
                    double d = 0;
                    for (int x = 0; x < D; x++) d += (double)qi[x] * kj[x];
                    sc[j] = scale * d;
                    m = sc[j] > m ? sc[j] : m;
                }
                double l = 0;
                for (int j = 0; j < nv; j++) l += exp(sc[j] - m);
                const double lse = m + log(l);
                r.lse[t * Hq + h] = lse;
                double *o = &r.out[(t * Hq + h) * D];
                for (int j = 0; j < nv; j++) {
                    p[j] = exp(sc[j] - lse);
                    const float *vj = &v[(((size_t)s.k0 + j) * Hkv + g) * D];
                    for (int x = 0; x < D; x++) o[x] += p[j] * vj[x];
                }
                double dsum = 0;
                for (int x = 0; x < D; x++) dsum += (double)doi[x] * o[x];
                for (int j = 0; j < nv; j++) {
                    const size_t kr = (((size_t)s.k0 + j) * Hkv + g) * D;
                    double d = 0;
                    for (int x = 0; x < D; x++) d += (double)doi[x] * v[kr + x];
                    const double ds = p[j] * (d - dsum);
                    for (int x = 0; x < D; x++) {
                        r.dq[(t * Hq + h) * D + x] += scale * ds * k[kr + x];
                        r.dk[kr + x] += scale * ds * qi[x];
                        r.dv[kr + x] += p[j] * doi[x];
                    }
                }
            }
        }
}

static double relerr(const std::vector<double> &ref, const std::vector<float> &got, int *bad) {
    double dn = 0, rn = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        if (std::isinf(ref[i]) || std::isinf(got[i])) {
            if (ref[i] != (double)got[i]) *bad = 1; /* -inf lse exactly where the reference has it */
            continue;
        }
        if (std::isnan(got[i])) {
            *bad = 1;
            continue;
        }
        dn += (got[i] - ref[i]) * (got[i] - ref[i]), rn += ref[i] * ref[i];
    }
    return rn > 0 ? sqrt(dn / rn) : sqrt(dn);
}

static double g_tol;   /* of the variant under test */
static const char *g_var;
static void check(const char *tag, const char *what, const std::vector<double> &ref, const std::vector<float> &got) {
    int bad = 0;
    const double e = relerr(ref, got, &bad);
    const bool ok = !bad && e <= g_tol;
    printf("%s [%s] %s %s: err %.3g (tol %.0e)%s\n", ok ? "PASS" : "FAIL", g_var, tag, what, e, g_tol,
           bad ? " (NaN or misplaced inf)" : "");
    g_fail += !ok;
}

/* lq, lk, cap per sequence (cap: KV rows reserved, >= lk; a len_k cache when cap != lk) */
static void run_case(const char *tag, int nseq, const int *lq, const int *lk, const int *cap, int Hq, int Hkv, int D,
                     int causal, unsigned seed, int bf16) {
    std::vector<rvk_attn_seq> seq(nseq);
    int Tq = 0, Tk = 0;
    for (int s = 0; s < nseq; s++) {
        seq[s] = rvk_attn_seq{Tq, lq[s], Tk, lk[s]};
        Tq += lq[s], Tk += cap[s];
    }
    rvk_attn a;
    memset(&a, 0, sizeof a);
    a.nseq = nseq, a.Tq = Tq, a.Tk = Tk, a.Hq = Hq, a.Hkv = Hkv, a.D = D, a.causal = causal;
    a.scale = 1.0f / sqrtf((float)D);
    const size_t nq = (size_t)Tq * Hq * D, nk = (size_t)Tk * Hkv * D;
    std::vector<float> q = randv(nq, seed), k = randv(nk, seed + 1), v = randv(nk, seed + 2), dout = randv(nq, seed + 3);
    ref_out r;
    reference(seq, Tq, Tk, Hq, Hkv, D, a.scale, causal, q, k, v, dout, r);
    std::vector<float> out(nq, NAN), lse((size_t)Tq * Hq, NAN), dq(nq, NAN), dk(nk, NAN), dv(nk, NAN);
    rvk_cuda_flash_fwd(nullptr, out.data(), lse.data(), q.data(), k.data(), v.data(), &a, seq.data(), bf16);
    check(tag, "out", r.out, out);
    check(tag, "lse", r.lse, lse);
    rvk_cuda_flash_bwd(nullptr, dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                       lse.data(), &a, seq.data(), 0, bf16);
    check(tag, "dq", r.dq, dq);
    check(tag, "dk", r.dk, dk);
    check(tag, "dv", r.dv, dv);
    /* accum: the same gradients added once more, bitwise (fp32 x + y with y the same sums) */
    std::vector<float> dq2 = dq, dk2 = dk, dv2 = dv;
    rvk_cuda_flash_bwd(nullptr, dq2.data(), dk2.data(), dv2.data(), dout.data(), q.data(), k.data(), v.data(),
                       out.data(), lse.data(), &a, seq.data(), 1, bf16);
    int same = 1;
    for (size_t i = 0; i < nq; i++) same &= dq2[i] == dq[i] + dq[i];
    for (size_t i = 0; i < nk; i++) same &= dk2[i] == dk[i] + dk[i] && dv2[i] == dv[i] + dv[i];
    printf("%s [%s] %s accum=1 adds the gradients once more\n", same ? "PASS" : "FAIL", g_var, tag);
    g_fail += !same;
    /* only dq asked for (dk, dv NULL), then only dk and dv */
    std::vector<float> dq3(nq, NAN), dk3(nk, NAN), dv3(nk, NAN);
    rvk_cuda_flash_bwd(nullptr, dq3.data(), nullptr, nullptr, dout.data(), q.data(), k.data(), v.data(), out.data(),
                       lse.data(), &a, seq.data(), 0, bf16);
    rvk_cuda_flash_bwd(nullptr, nullptr, dk3.data(), dv3.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                       lse.data(), &a, seq.data(), 0, bf16);
    same = memcmp(dq3.data(), dq.data(), nq * sizeof(float)) == 0 && memcmp(dk3.data(), dk.data(), nk * sizeof(float)) == 0 &&
           memcmp(dv3.data(), dv.data(), nk * sizeof(float)) == 0;
    printf("%s [%s] %s NULL outputs skipped, the others unchanged\n", same ? "PASS" : "FAIL", g_var, tag);
    g_fail += !same;
}

int main() {
    /* fp32 FMA kernels against double: fp32 rounding only; bf16 WMMA kernels: bf16 inputs of the
     * products (relative 2^-9 each): a few 1e-3 (the GPU check allows 2e-2) */
    for (int bf16 = 0; bf16 < 2; bf16++) {
        g_var = bf16 ? "bf16 wmma" : "fp32";
        g_tol = bf16 ? 1e-2 : 2e-5;
        {   /* varlen causal GQA, D = 72 (SigLIP's, not a multiple of 16), sequences over several tiles */
            const int lq[3] = {5, 17, 150}, cap[3] = {5, 17, 150};
            run_case("causal varlen GQA 4/2 D72", 3, lq, lq, cap, 4, 2, 72, 1, 11, bf16);
        }
        {   /* bidirectional, odd D, a one-row sequence */
            const int lq[2] = {70, 1}, cap[2] = {70, 1};
            run_case("bidirectional 2/2 D33", 2, lq, lq, cap, 2, 2, 33, 0, 21, bf16);
        }
        {   /* KV cache read through len_k, an empty sequence, D = 128 (the largest) */
            const int lq[3] = {3, 0, 70}, lk[3] = {50, 0, 100}, cap[3] = {64, 8, 128};
            run_case("KV cache GQA 8/2 D128", 3, lq, lk, cap, 8, 2, 128, 1, 31, bf16);
        }
        {   /* more queries than keys, causal: the first 6 rows see no key (out 0, lse -inf) */
            const int lq[2] = {10, 40}, lk[2] = {4, 40}, cap[2] = {6, 40};
            run_case("causal Lq > Lk 3/1 D64", 2, lq, lk, cap, 3, 1, 64, 1, 41, bf16);
        }
    }
    const bool shm_ok = g_max_shm <= 166912;
    printf("%s largest dynamic shared memory %zu bytes (A100: 166912)\n", shm_ok ? "PASS" : "FAIL", g_max_shm);
    g_fail += !shm_ok;
    printf("flash_emu: %d failure(s)\n", g_fail);
    return g_fail ? 1 : 0;
}
