/* The CUDA backend's host-side plans (kernels/cuda/plan.c), which run on every machine: causal
 * visibility, attention descriptor validation on host copies of the offsets (the same messages as
 * the CPU backend, compared string for string), score / logits chunking, the row chunks of the
 * deterministic column sums, the grouping of embedding rows by id behind the deterministic
 * scatter-add, and the index checks (again compared with the CPU backend's messages). Expected
 * values are worked out by hand in the comments. */
#include <stdint.h>

#include "check.h"
#include "kernels/cuda/plan.h"
#include "kernels/kernels.h"

static void test_visible(void) {
    /* training (lq == lk == 4): query i sees keys 0..i */
    CHECK(rvk_attn_visible(1, 4, 4, 0) == 1);
    CHECK(rvk_attn_visible(1, 4, 4, 3) == 4);
    /* decoding one token after a 9-token cache (lk = 10): it sees all 10 */
    CHECK(rvk_attn_visible(1, 1, 10, 0) == 10);
    /* 3 queries, 2 keys, aligned to the end: query 0 sees 0 + (2 - 3) + 1 = 0 keys, query 2 sees 2 */
    CHECK(rvk_attn_visible(1, 3, 2, 0) == 0);
    CHECK(rvk_attn_visible(1, 3, 2, 1) == 1);
    CHECK(rvk_attn_visible(1, 3, 2, 2) == 2);
    /* bidirectional: every key */
    CHECK(rvk_attn_visible(0, 3, 7, 0) == 7);
}

/* runs the CPU backend's attention validation on the same host arrays and returns its message */
static int cpu_attn_msg(rvk_attn a, rv_err *err) {
    rv_kctx *k;
    rv_err e;
    if (rvk_create(&k, "cpu", NULL, &e) != 0) return 0;
    float dummy[1] = {0};
    int rc = rvk_attention_fwd(k, dummy, NULL, dummy, dummy, dummy, &a, err);
    rvk_destroy(k);
    return rc;
}

static void test_attn_plan(void) {
    rvk_attn_seq seq[3];
    rv_err err;
    /* two self-attention sequences of 3 and 2 tokens */
    int32_t cu[3] = {0, 3, 5};
    rvk_attn a = {.nseq = 2, .cu_q = cu, .Tq = 5, .Tk = 5, .Hq = 4, .Hkv = 2, .D = 8, .scale = 1, .causal = 1};
    CHECK(rvk_cuda_attn_plan(&a, cu, NULL, NULL, seq, &err) == 0);
    CHECK(seq[0].q0 == 0 && seq[0].lq == 3 && seq[0].k0 == 0 && seq[0].lk == 3);
    CHECK(seq[1].q0 == 3 && seq[1].lq == 2 && seq[1].k0 == 3 && seq[1].lk == 2);
    /* a KV cache of capacity 8 per sequence holding 5 and 7 keys, one new query each */
    int32_t cq[3] = {0, 1, 2}, ck[3] = {0, 8, 16}, lk[2] = {5, 7};
    rvk_attn d = {.nseq = 2, .cu_q = cq, .cu_k = ck, .len_k = lk, .Tq = 2, .Tk = 16, .Hq = 2, .Hkv = 2, .D = 4,
                  .scale = 1, .causal = 1};
    CHECK(rvk_cuda_attn_plan(&d, cq, ck, lk, seq, &err) == 0);
    CHECK(seq[0].k0 == 0 && seq[0].lk == 5 && seq[1].k0 == 8 && seq[1].lk == 7 && seq[1].q0 == 1 && seq[1].lq == 1);

    /* invalid descriptors: refused with exactly the CPU backend's message */
    rv_err ecpu;
    int32_t bad_end[3] = {0, 3, 4}; /* does not reach Tq = 5 */
    rvk_attn b = a;
    b.cu_q = bad_end;
    CHECK(rvk_cuda_attn_plan(&b, bad_end, NULL, NULL, seq, &err) == -1 && cpu_attn_msg(b, &ecpu) == -1);
    CHECK(strstr(err.msg, "cu_q must run from 0 to Tq=5 (got 0..4)") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    int32_t decr[4] = {0, 3, 2, 5};
    b.cu_q = decr, b.nseq = 3;
    CHECK(rvk_cuda_attn_plan(&b, decr, NULL, NULL, seq, &err) == -1 && cpu_attn_msg(b, &ecpu) == -1);
    CHECK(strstr(err.msg, "decreases at sequence 1") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    int32_t lk_over[2] = {9, 7}; /* sequence 0's 9 keys run into sequence 1's at row 8 */
    rvk_attn o = d;
    o.len_k = lk_over;
    CHECK(rvk_cuda_attn_plan(&o, cq, ck, lk_over, seq, &err) == -1 && cpu_attn_msg(o, &ecpu) == -1);
    CHECK(strstr(err.msg, "sequences 0 and 1 overlap") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    int32_t lk_out[2] = {5, 9}; /* [8, 17) leaves Tk = 16 */
    o.len_k = lk_out;
    CHECK(rvk_cuda_attn_plan(&o, cq, ck, lk_out, seq, &err) == -1 && cpu_attn_msg(o, &ecpu) == -1);
    CHECK(strstr(err.msg, "keys of sequence 1 ([8, 17)) outside [0, Tk=16)") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    rvk_attn h = a;
    h.Hq = 3; /* not a multiple of Hkv = 2 */
    CHECK(rvk_cuda_attn_plan(&h, cu, NULL, NULL, seq, &err) == -1 && cpu_attn_msg(h, &ecpu) == -1);
    CHECK_STR(err.msg, ecpu.msg);
    rvk_attn t = a;
    t.Tk = 6; /* self-attention with Tk != Tq */
    CHECK(rvk_cuda_attn_plan(&t, cu, NULL, NULL, seq, &err) == -1 && cpu_attn_msg(t, &ecpu) == -1);
    CHECK_STR(err.msg, ecpu.msg);
}

static void test_chunks(void) {
    /* 4 score matrices of 50 keys per row: 1000 floats hold 1000 / 200 = 5 rows */
    CHECK(rvk_cuda_attn_qchunk(100, 50, 4, 1000) == 5);
    CHECK(rvk_cuda_attn_qchunk(100, 50, 4, 10) == 1);        /* never below one row */
    CHECK(rvk_cuda_attn_qchunk(100, 50, 4, 1u << 30) == 100); /* never above the sequence */
    CHECK(rvk_cuda_attn_qchunk(0, 50, 4, 1000) == 0);
    int rb, vc;
    /* Qwen2 vocabulary 151936 in chunks of 16384; 64 Mi floats hold 67108864 / 16384 = 4096 rows */
    rvk_cuda_xent_plan(10000, 151936, 16384, (size_t)64 << 20, &rb, &vc);
    CHECK(vc == 16384 && rb == 4096);
    rvk_cuda_xent_plan(1000, 151936, 16384, (size_t)64 << 20, &rb, &vc);
    CHECK(vc == 16384 && rb == 1000);
    rvk_cuda_xent_plan(7, 10, 16384, 25, &rb, &vc); /* V below the chunk: one chunk of 10, 25 / 10 = 2 rows */
    CHECK(vc == 10 && rb == 2);
    /* column sums: 8192 rows over at most 1024 chunks = 8 rows, raised to the 32-row minimum */
    CHECK(rvk_cuda_colsum_rows(8192, 32, 1024) == 32);
    CHECK(rvk_cuda_colsum_rows(100000, 32, 1024) == 98); /* ceil(100000 / 1024) */
    CHECK(rvk_cuda_colsum_rows(0, 32, 1024) == 32);
    CHECK(rvk_cuda_blocks(0, 256, 65535) == 1);
    CHECK(rvk_cuda_blocks(1000, 256, 65535) == 4); /* ceil(1000 / 256) */
    CHECK(rvk_cuda_blocks((size_t)1 << 40, 256, 65535) == 65535);
}

/* Which GELU epilogue the fused linear ops ask cuBLASLt for (cuBLASLt's rules, cublasLt.h:
 * EPILOGUE_AUX_LD divisible by 8; its GELU is the tanh form; our 16-byte pointer rule) */
static void test_gelu_epilogue(void) {
    const uintptr_t al = 0x1000, odd = 0x1004; /* 16-byte aligned, 4-byte aligned */
    /* SigLIP so400m fc1: OC = 4304 = 8 x 538, pre and bias aligned: everything fused */
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, al, al) == RVK_CU_EPI_GELU_AUX_BIAS);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, al, 0) == RVK_CU_EPI_GELU_AUX);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, 0, al) == RVK_CU_EPI_GELU_BIAS); /* inference: no pre kept */
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, 0, 0) == RVK_CU_EPI_GELU);
    CHECK(rvk_cuda_gelu_epilogue(1, 0, 4304, al, 0) == RVK_CU_EPI_DGELU);
    /* the projector's erf GELU: never (cuBLASLt has only the tanh form) */
    CHECK(rvk_cuda_gelu_epilogue(0, 1, 4304, al, al) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(1, 1, 4304, al, 0) == RVK_CU_EPI_UNFUSED);
    /* AUX_LD 4300 is not a multiple of 8; misaligned pre or bias; the backward needs pre */
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4300, al, al) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4300, 0, 0) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, odd, al) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 4304, al, odd) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(1, 0, 4304, 0, 0) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(1, 0, 4304, odd, 0) == RVK_CU_EPI_UNFUSED);
    CHECK(rvk_cuda_gelu_epilogue(0, 0, 0, al, al) == RVK_CU_EPI_UNFUSED);
}

static void test_group_rows(void) {
    /* rows 0..6 with ids 5, -1, 2, 5, 7, 2, 5: groups in order of first appearance 5, 2, 7 */
    int32_t ids[7] = {5, -1, 2, 5, 7, 2, 5}, uniq[7], off[8], rows[7];
    rv_err err;
    int U = rvk_cuda_group_rows(ids, 7, 8, "embedding backward", uniq, off, rows, &err);
    CHECK(U == 3);
    CHECK(uniq[0] == 5 && uniq[1] == 2 && uniq[2] == 7);
    CHECK(off[0] == 0 && off[1] == 3 && off[2] == 5 && off[3] == 6);
    CHECK(rows[0] == 0 && rows[1] == 3 && rows[2] == 6); /* id 5, t increasing: the CPU order */
    CHECK(rows[3] == 2 && rows[4] == 5 && rows[5] == 4);
    int32_t none[2] = {-1, -100};
    CHECK(rvk_cuda_group_rows(none, 2, 8, "embedding backward", uniq, off, rows, &err) == 0 && off[0] == 0);

    /* an id past the table: the CPU backend's message */
    int32_t bad[3] = {1, 9, 2};
    CHECK(rvk_cuda_group_rows(bad, 3, 8, "embedding backward", uniq, off, rows, &err) == -1);
    rv_kctx *k;
    rv_err ecpu;
    CHECK(rvk_create(&k, "cpu", NULL, &ecpu) == 0);
    float tab[8 * 2] = {0}, g[3 * 2] = {0};
    CHECK(rvk_embedding_bwd(k, tab, g, bad, 3, 2, 8, &ecpu) == -1);
    CHECK(strstr(err.msg, "index 9 at row 1") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    CHECK(rvk_cuda_check_ids(bad, 3, 8, "embedding", &err) == -1);
    CHECK(rvk_embedding_fwd(k, g, tab, bad, 3, 2, 8, &ecpu) == -1);
    CHECK_STR(err.msg, ecpu.msg);
    int32_t idx[2] = {0, -1};
    CHECK(rvk_cuda_check_idx_range(idx, 2, 8, "rows scatter", &err) == -1);
    CHECK(rvk_rows_scatter(k, tab, idx, g, 2, 2, 8, &ecpu) == -1);
    CHECK(strstr(err.msg, "index -1 at row 1 is outside [0, 8)") != NULL);
    CHECK_STR(err.msg, ecpu.msg);
    CHECK(rvk_cuda_check_idx_range(ids + 2, 1, 8, "rows scatter", &err) == 0);
    rvk_destroy(k);
}

int main(void) {
    test_gelu_epilogue();
    test_visible();
    test_attn_plan();
    test_chunks();
    test_group_rows();
    return check_summary("test_kernels_cuda_plan");
}
