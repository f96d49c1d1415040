/* Host-side plans of the CUDA backend (see plan.h): pure functions of shapes and of host copies
 * of index arrays, so they are tested on machines without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/plan.h"

int rvk_cuda_attn_plan(const rvk_attn *a, const int32_t *cu_q, const int32_t *cu_k, const int32_t *len_k,
                       rvk_attn_seq *seqs, rv_err *err) {
    if (a->nseq < 0 || a->Hq <= 0 || a->Hkv <= 0 || a->Hq % a->Hkv != 0)
        return rv_fail(err, "attention: bad heads (Hq %d, Hkv %d) or nseq %d; Hq must be a multiple "
                            "of Hkv", a->Hq, a->Hkv, a->nseq);
    if (a->D <= 0)
        return rv_fail(err, "attention: head dim %d must be positive", a->D);
    if (!cu_k && a->Tk != a->Tq)
        return rv_fail(err, "attention: self-attention (cu_k NULL) needs Tk == Tq (%d vs %d)", a->Tk, a->Tq);
    if (cu_q[0] != 0 || cu_q[a->nseq] != a->Tq)
        return rv_fail(err, "attention: cu_q must run from 0 to Tq=%d (got %d..%d)", a->Tq, cu_q[0], cu_q[a->nseq]);
    for (int s = 0; s < a->nseq; s++)
        if (cu_q[s + 1] < cu_q[s]) return rv_fail(err, "attention: cu_q decreases at sequence %d", s);
    const int32_t *ck = cu_k ? cu_k : cu_q;
    for (int s = 0; s < a->nseq; s++) {
        int k0 = ck[s], lk = len_k ? len_k[s] : ck[s + 1] - ck[s];
        if (k0 < 0 || lk < 0 || k0 + lk > a->Tk)
            return rv_fail(err, "attention: keys of sequence %d ([%d, %d)) outside [0, Tk=%d)", s, k0, k0 + lk, a->Tk);
        if (s + 1 < a->nseq && k0 + lk > ck[s + 1])
            return rv_fail(err, "attention: key ranges of sequences %d and %d overlap", s, s + 1);
        seqs[s] = (rvk_attn_seq){.q0 = cu_q[s], .lq = cu_q[s + 1] - cu_q[s], .k0 = k0, .lk = lk};
    }
    return 0;
}

int rvk_cuda_attn_qchunk(int lq, int lk, int batch, size_t cap_floats) {
    if (lq <= 0) return 0;
    size_t per_row = (size_t)(batch > 0 ? batch : 1) * (size_t)(lk > 0 ? lk : 1);
    size_t rows = cap_floats / per_row;
    if (rows < 1) rows = 1;
    return rows < (size_t)lq ? (int)rows : lq;
}

void rvk_cuda_xent_plan(int nrows, int V, int vc_max, size_t cap_floats, int *rb, int *vc) {
    int c = V < vc_max ? V : vc_max;
    if (c < 1) c = 1;
    size_t r = cap_floats / (size_t)c;
    if (r < 1) r = 1;
    *vc = c;
    *rb = r < (size_t)(nrows > 0 ? nrows : 1) ? (int)r : (nrows > 0 ? nrows : 1);
}

int rvk_cuda_colsum_rows(int N, int min_rows, int max_chunks) {
    if (min_rows < 1) min_rows = 1;
    if (max_chunks < 1) max_chunks = 1;
    int r = N > 0 ? (N + max_chunks - 1) / max_chunks : 1;
    return r < min_rows ? min_rows : r;
}

int rvk_cuda_check_ids(const int32_t *ids, int T, int V, const char *what, rv_err *err) {
    for (int t = 0; t < T; t++)
        if (ids[t] >= V)
            return rv_fail(err, "%s: index %d at row %d is outside the table of %d rows; check the "
                                "tokenizer/vocabulary size against the model", what, ids[t], t, V);
    return 0;
}

int rvk_cuda_check_idx_range(const int32_t *idx, int n, int R, const char *what, rv_err *err) {
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= R) return rv_fail(err, "%s: index %d at row %d is outside [0, %d)", what, idx[i], i, R);
    return 0;
}

int rvk_cuda_group_rows(const int32_t *ids, int T, int V, const char *what, int32_t *uniq, int32_t *off,
                        int32_t *rows, rv_err *err) {
    if (rvk_cuda_check_ids(ids, T, V, what, err) != 0) return -1;
    /* counting sort keyed by group (groups in order of first appearance): O(T + V);
     * group[id] = 1 + the id's group, 0 = not seen yet */
    int32_t *group = calloc((size_t)(V > 0 ? V : 1), sizeof *group);
    int32_t *count = calloc((size_t)(T > 0 ? T : 1), sizeof *count);
    if (!group || !count) {
        free(group), free(count);
        return rv_fail(err, "%s: cannot allocate the host plan for %d rows of a %d-row table", what, T, V);
    }
    int U = 0;
    for (int t = 0; t < T; t++) {
        int id = ids[t];
        if (id < 0) continue;
        if (!group[id]) {
            uniq[U] = id;
            group[id] = ++U;
        }
        count[group[id] - 1]++;
    }
    off[0] = 0;
    for (int g = 0; g < U; g++) off[g + 1] = off[g] + count[g];
    for (int g = 0; g < U; g++) count[g] = off[g]; /* reused as the fill cursor of each group */
    for (int t = 0; t < T; t++)
        if (ids[t] >= 0) rows[count[group[ids[t]] - 1]++] = t;
    free(group);
    free(count);
    return U;
}

unsigned rvk_cuda_blocks(size_t n, unsigned threads, unsigned max_blocks) {
    if (threads == 0) threads = 1;
    size_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return b > max_blocks ? max_blocks : (unsigned)b;
}

rvk_cu_gelu_epi rvk_cuda_gelu_epilogue(int backward, int erf, int ldc, uintptr_t aux, uintptr_t bias) {
    if (erf || ldc <= 0 || ldc % 8 != 0 || aux % 16 != 0 || bias % 16 != 0) return RVK_CU_EPI_UNFUSED;
    if (backward) return aux && !bias ? RVK_CU_EPI_DGELU : RVK_CU_EPI_UNFUSED;
    if (aux) return bias ? RVK_CU_EPI_GELU_AUX_BIAS : RVK_CU_EPI_GELU_AUX;
    return bias ? RVK_CU_EPI_GELU_BIAS : RVK_CU_EPI_GELU;
}

int rvk_cuda_gemm_mode_parse(const char *v) {
    if (v && strcmp(v, "tf32") == 0) return 1;
    if (v && strcmp(v, "fp32") == 0) return 2;
    return 0;
}
