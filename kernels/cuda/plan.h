/* Host-side plans of the CUDA backend, in plain C so they are compiled and unit-tested on every
 * machine (tests/unit/test_kernels_cuda_plan.c), with or without a GPU: descriptor validation of
 * rvk_attn on the host copy of its offsets, the row/vocabulary chunking of attention scores and
 * cross-entropy logits, the row chunks of the deterministic column sums, and the grouping of
 * embedding rows by id for the deterministic scatter-add. The .cu kernels only execute what
 * these functions decided. Visibility (rvk_attn_visible) is shared with device code. */
#ifndef RADVLM_KERNELS_CUDA_PLAN_H
#define RADVLM_KERNELS_CUDA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "core/error.h"
#include "kernels/kernels.h"

#ifdef __CUDACC__
#define RVK_HD __host__ __device__
#else
#define RVK_HD
#endif

/* Keys visible to query i (0-based in its sequence) of a sequence with lq queries and lk keys:
 * all lk when bidirectional, else those j <= i + (lk - lq) (causal aligned to the end of the keys,
 * clamped to [0, lk]). The CPU backend's rule (kernels/cpu/attention.c). */
static inline RVK_HD int rvk_attn_visible(int causal, int lq, int lk, int i) {
    if (!causal) return lk;
    int n = i + (lk - lq) + 1;
    return n < 0 ? 0 : (n > lk ? lk : n);
}

/* One packed sequence of an attention call: query rows [q0, q0 + lq), key rows [k0, k0 + lk). */
typedef struct rvk_attn_seq {
    int q0, lq, k0, lk;
} rvk_attn_seq;

/* Validates a (heads, dims) and the HOST copies of its offsets exactly as the CPU backend does
 * (same messages) and fills seqs [a->nseq]. cu_k == NULL means cu_q (self-attention); len_k may be
 * NULL. The a->cu_q/cu_k/len_k pointers themselves are not read (they are device memory). */
int rvk_cuda_attn_plan(const rvk_attn *a, const int32_t *cu_q, const int32_t *cu_k, const int32_t *len_k,
                       rvk_attn_seq *seqs, rv_err *err);

/* Query rows per chunk so that `batch` score matrices [rows, lk] fit in cap_floats floats:
 * min(lq, max(1, cap_floats / (batch * lk))). lq, lk >= 1 give >= 1; lq <= 0 gives 0. */
int rvk_cuda_attn_qchunk(int lq, int lk, int batch, size_t cap_floats);

/* Cross-entropy chunks: rows per block *rb and vocabulary columns per chunk *vc, so that a
 * [rb, vc] logits block fits in cap_floats: vc = min(V, vc_max), rb = min(nrows, cap / vc) (>= 1). */
void rvk_cuda_xent_plan(int nrows, int V, int vc_max, size_t cap_floats, int *rb, int *vc);

/* Rows per chunk of the two-stage deterministic column sum over N rows: a function of N only
 * (never of the device), so the order of additions is fixed. At most max_chunks chunks, each of
 * at least min_rows rows. */
int rvk_cuda_colsum_rows(int N, int min_rows, int max_chunks);

/* Groups the rows t < T with ids[t] >= 0 by id, t increasing within a group, groups in order of
 * first appearance: uniq [U] ids, off [U + 1] offsets into rows [n] (n = number of rows with an
 * id >= 0). Returns U, or -1 with err if some id >= V (naming the row, as the CPU backend does).
 * uniq, off, rows must have room for T (+1) entries. */
int rvk_cuda_group_rows(const int32_t *ids, int T, int V, const char *what, int32_t *uniq, int32_t *off,
                        int32_t *rows, rv_err *err);

/* Checks index arrays the way the CPU kernels do (the same messages): every ids[t] < V
 * (negative = placeholder/ignored, allowed), or every idx[i] in [0, R). */
int rvk_cuda_check_ids(const int32_t *ids, int T, int V, const char *what, rv_err *err);
int rvk_cuda_check_idx_range(const int32_t *idx, int n, int R, const char *what, rv_err *err);

/* The cuBLASLt epilogue a GELU-fused linear op asks for (our names: plan.c sees no cuBLAS header).
 * UNFUSED: the GEMM then the GELU kernel, when cuBLASLt cannot do it: an erf GELU (cuBLASLt's GELU
 * is the tanh form), a leading dimension ldc (= the aux matrix's) that is not a multiple of 8 (the
 * AUX_LD rule), an aux or bias address that is not 16-byte aligned. aux: the pre-activation
 * (forward: written, 0 = not wanted; backward: read, required); bias 0 = none (forward only). */
typedef enum rvk_cu_gelu_epi {
    RVK_CU_EPI_UNFUSED = 0,
    RVK_CU_EPI_GELU,          /* h = gelu(x w^T) */
    RVK_CU_EPI_GELU_BIAS,     /* h = gelu(x w^T + b) */
    RVK_CU_EPI_GELU_AUX,      /* and pre = x w^T into aux */
    RVK_CU_EPI_GELU_AUX_BIAS, /* and pre = x w^T + b into aux */
    RVK_CU_EPI_DGELU          /* backward: dpre = (dy w) * gelu'(aux) */
} rvk_cu_gelu_epi;
rvk_cu_gelu_epi rvk_cuda_gelu_epilogue(int backward, int erf, int ldc, uintptr_t aux, uintptr_t bias);

/* RADVLM_CUDA_GEMM's value (NULL = unset) as rvk_cu_gemm_mode (cuda_impl.h): 1 "tf32", 2 "fp32",
 * else 0 (bf16, the default). Here so planning code needs no CUDA build (rvk_shadow_bytes_per_param). */
int rvk_cuda_gemm_mode_parse(const char *v);

/* Blocks for a grid-stride loop over n elements with `threads` per block, capped at max_blocks
 * (>= 1 even for n = 0). */
unsigned rvk_cuda_blocks(size_t n, unsigned threads, unsigned max_blocks);

#ifdef __cplusplus
}
#endif

#endif
