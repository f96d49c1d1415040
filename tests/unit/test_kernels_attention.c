/* Attention: a hand-computed 2-token case, a naive double-precision reference (explicit score
 * matrices and masks), GQA = MHA over repeated KV heads, packed = separate sequences, KV-cache
 * decoding = rows of the full pass, finite-difference gradients of q, k, v, the accumulate flag,
 * thread-count independence, and offset validation. */
#include "kernels_testutil.h"

static void test_hand(rv_kctx *k) {
    /* q = [[1,0],[0,1]], k = [[1,0],[1,1]], v = [[1,2],[3,-1]], scale 1.
     * causal: row 0 sees key 0 only -> v0. row 1: scores [0, 1] -> p = [1/(1+e), e/(1+e)]
     *   = [0.2689414213699951, 0.7310585786300049]; out = [p0 + 3 p1, 2 p0 - p1]
     *   = [2.46211715726001, -0.1931757358900147]; lse = log(1 + e) = 1.3132616875182228.
     * bidirectional: row 0 scores [1, 1] -> out = mean(v) = [2, 0.5]. */
    float q[4] = {1, 0, 0, 1}, kk[4] = {1, 0, 1, 1}, v[4] = {1, 2, 3, -1}, out[4], lse[2];
    int32_t cu[2] = {0, 2};
    rvk_attn a = {.nseq = 1, .cu_q = cu, .Tq = 2, .Tk = 2, .Hq = 1, .Hkv = 1, .D = 2, .scale = 1.0f, .causal = 1};
    rv_err err;
    CHECK(kt_attention_fwd(k, out, lse, q, kk, v, &a, &err) == 0);
    CHECK_NEAR(out[0], 1, 1e-6);
    CHECK_NEAR(out[1], 2, 1e-6);
    CHECK_NEAR(out[2], 2.46211715726001, 1e-6);
    CHECK_NEAR(out[3], -0.1931757358900147, 1e-6);
    CHECK_NEAR(lse[0], 1.0, 1e-6);
    CHECK_NEAR(lse[1], 1.3132616875182228, 1e-6);
    a.causal = 0;
    CHECK(kt_attention_fwd(k, out, lse, q, kk, v, &a, &err) == 0);
    CHECK_NEAR(out[0], 2.0, 1e-6);
    CHECK_NEAR(out[1], 0.5, 1e-6);
}

/* Naive reference in double: for every sequence and head, the full score matrix with the mask
 * written as an explicit condition. */
static void ref_attention(double *out, const float *q, const float *kk, const float *v, const rvk_attn *a) {
    int nrep = a->Hq / a->Hkv, D = a->D;
    for (int s = 0; s < a->nseq; s++) {
        int q0 = a->cu_q[s], Lq = a->cu_q[s + 1] - q0;
        int k0 = a->cu_k ? a->cu_k[s] : q0;
        int Lk = a->len_k ? a->len_k[s] : (a->cu_k ? a->cu_k[s + 1] - a->cu_k[s] : Lq);
        for (int h = 0; h < a->Hq; h++) {
            int g = h / nrep;
            for (int i = 0; i < Lq; i++) {
                double sc[64], m = -INFINITY, z = 0;
                int any = 0;
                for (int j = 0; j < Lk; j++) {
                    int allowed = !a->causal || j <= i + (Lk - Lq);
                    sc[j] = -INFINITY;
                    if (!allowed) continue;
                    double d = 0;
                    for (int e = 0; e < D; e++)
                        d += (double)q[((size_t)(q0 + i) * a->Hq + h) * D + e] * kk[((size_t)(k0 + j) * a->Hkv + g) * D + e];
                    sc[j] = d * a->scale;
                    if (sc[j] > m) m = sc[j];
                    any = 1;
                }
                double *o = out + ((size_t)(q0 + i) * a->Hq + h) * D;
                for (int e = 0; e < D; e++) o[e] = 0;
                if (!any) continue;
                for (int j = 0; j < Lk; j++) z += sc[j] == -INFINITY ? 0 : exp(sc[j] - m);
                for (int j = 0; j < Lk; j++) {
                    if (sc[j] == -INFINITY) continue;
                    double p = exp(sc[j] - m) / z;
                    for (int e = 0; e < D; e++) o[e] += p * v[((size_t)(k0 + j) * a->Hkv + g) * D + e];
                }
            }
        }
    }
}

static double maxdiff_d(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* packed: 3 sequences of 5, 1 and 7 tokens; Hq 4, Hkv 2, D 8 */
enum { T = 13, HQ = 4, HKV = 2, D = 8 };
static int32_t CU[4] = {0, 5, 6, 13};

static void test_reference(rv_kctx *k) {
    rv_rng r;
    rv_rng_init(&r, 51, 0, 0);
    float *q = kt_randn(&r, T * HQ * D, 1), *kk = kt_randn(&r, T * HKV * D, 1), *v = kt_randn(&r, T * HKV * D, 1);
    float out[T * HQ * D], lse[T * HQ];
    double ref[T * HQ * D];
    rv_err err;
    for (int causal = 0; causal < 2; causal++) {
        rvk_attn a = {.nseq = 3, .cu_q = CU, .Tq = T, .Tk = T, .Hq = HQ, .Hkv = HKV, .D = D,
                      .scale = 1.0f / sqrtf(D), .causal = causal};
        CHECK(kt_attention_fwd(k, out, lse, q, kk, v, &a, &err) == 0);
        ref_attention(ref, q, kk, v, &a);
        CHECK(maxdiff_d(out, ref, T * HQ * D) < 2e-6);
        /* GQA == MHA with each KV head repeated Hq/Hkv times (repeat_kv) */
        float *k2 = malloc(T * HQ * D * 4), *v2 = malloc(T * HQ * D * 4), out2[T * HQ * D];
        for (int t = 0; t < T; t++)
            for (int h = 0; h < HQ; h++)
                for (int e = 0; e < D; e++) {
                    k2[(t * HQ + h) * D + e] = kk[(t * HKV + h / 2) * D + e];
                    v2[(t * HQ + h) * D + e] = v[(t * HKV + h / 2) * D + e];
                }
        rvk_attn a2 = a;
        a2.Hkv = HQ;
        CHECK(kt_attention_fwd(k, out2, NULL, q, k2, v2, &a2, &err) == 0);
        CHECK(memcmp(out, out2, sizeof out) == 0);
        /* packed == each sequence on its own */
        int same = 1;
        for (int s = 0; s < 3; s++) {
            int q0 = CU[s], L = CU[s + 1] - CU[s];
            int32_t cu1[2] = {0, L};
            rvk_attn a1 = a;
            a1.nseq = 1, a1.cu_q = cu1, a1.Tq = a1.Tk = L;
            float o1[T * HQ * D];
            CHECK(kt_attention_fwd(k, o1, NULL, q + q0 * HQ * D, kk + q0 * HKV * D, v + q0 * HKV * D, &a1, &err) == 0);
            same &= memcmp(o1, out + q0 * HQ * D, (size_t)L * HQ * D * 4) == 0;
        }
        CHECK(same);
        free(k2), free(v2);
    }
    free(q), free(kk), free(v);
}

static void test_decode(rv_kctx *k) {
    /* KV cache of capacity 8 per sequence; sequence 0 holds 5 keys, sequence 1 holds 3. The last
     * query of each equals the last row of the full causal pass over that sequence. */
    rv_rng r;
    rv_rng_init(&r, 51, 1, 0);
    int cap = 8;
    float *kc = kt_randn(&r, 2 * cap * HKV * D, 1), *vc = kt_randn(&r, 2 * cap * HKV * D, 1);
    float *qf = kt_randn(&r, 8 * HQ * D, 1); /* queries for the full passes: 5 + 3 rows */
    int32_t lens[2] = {5, 3}, cuq[3] = {0, 1, 2}, cuk[3] = {0, 8, 16};
    float qd[2 * HQ * D], od[2 * HQ * D];
    memcpy(qd, qf + 4 * HQ * D, HQ * D * 4);          /* seq 0, position 4 */
    memcpy(qd + HQ * D, qf + 7 * HQ * D, HQ * D * 4); /* seq 1, position 2 */
    rvk_attn ad = {.nseq = 2, .cu_q = cuq, .cu_k = cuk, .len_k = lens, .Tq = 2, .Tk = 16,
                   .Hq = HQ, .Hkv = HKV, .D = D, .scale = 0.35f, .causal = 1};
    rv_err err;
    CHECK(kt_attention_fwd(k, od, NULL, qd, kc, vc, &ad, &err) == 0);
    for (int s = 0; s < 2; s++) {
        int L = lens[s];
        int32_t cu1[2] = {0, L};
        rvk_attn a1 = {.nseq = 1, .cu_q = cu1, .Tq = L, .Tk = L, .Hq = HQ, .Hkv = HKV, .D = D, .scale = 0.35f, .causal = 1};
        float of[8 * HQ * D];
        CHECK(kt_attention_fwd(k, of, NULL, qf + (s ? 5 : 0) * HQ * D, kc + s * cap * HKV * D,
                                vc + s * cap * HKV * D, &a1, &err) == 0);
        CHECK(kt_maxdiff(of + (L - 1) * HQ * D, od + s * HQ * D, HQ * D) < 1e-6);
    }
    free(kc), free(vc), free(qf);
}

typedef struct {
    rv_kctx *k;
    float *q, *kk, *v, *out, *r;
    rvk_attn a;
} at_case;

static double at_loss(void *ud) {
    at_case *c = ud;
    rv_err err;
    kt_attention_fwd(c->k, c->out, NULL, c->q, c->kk, c->v, &c->a, &err);
    return kt_dotd(c->out, c->r, T * HQ * D);
}

static void test_fd(rv_kctx *k) {
    for (int causal = 0; causal < 2; causal++) {
        rv_rng r;
        rv_rng_init(&r, 51, 2, (uint32_t)causal);
        at_case c = {.k = k};
        c.q = kt_randn(&r, T * HQ * D, 0.7f), c.kk = kt_randn(&r, T * HKV * D, 0.7f), c.v = kt_randn(&r, T * HKV * D, 1);
        c.out = malloc(T * HQ * D * 4), c.r = kt_randn(&r, T * HQ * D, 1);
        c.a = (rvk_attn){.nseq = 3, .cu_q = CU, .Tq = T, .Tk = T, .Hq = HQ, .Hkv = HKV, .D = D,
                         .scale = 1.0f / sqrtf(D), .causal = causal};
        float lse[T * HQ], dq[T * HQ * D], dk[T * HKV * D], dv[T * HKV * D];
        rv_err err;
        CHECK(kt_attention_fwd(k, c.out, lse, c.q, c.kk, c.v, &c.a, &err) == 0);
        CHECK(kt_attention_bwd(k, dq, dk, dv, c.r, c.q, c.kk, c.v, c.out, lse, &c.a, 0, &err) == 0);
        kt_fd_check(causal ? "attn causal dq" : "attn bidir dq", c.q, T * HQ * D, dq, at_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
        kt_fd_check(causal ? "attn causal dk" : "attn bidir dk", c.kk, T * HKV * D, dk, at_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
        kt_fd_check(causal ? "attn causal dv" : "attn bidir dv", c.v, T * HKV * D, dv, at_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
        /* accum = 1 adds the same gradient on top */
        float dq2[T * HQ * D], dk2[T * HKV * D];
        memcpy(dq2, dq, sizeof dq), memcpy(dk2, dk, sizeof dk);
        kt_attention_fwd(k, c.out, lse, c.q, c.kk, c.v, &c.a, &err);
        CHECK(kt_attention_bwd(k, dq2, dk2, NULL, c.r, c.q, c.kk, c.v, c.out, lse, &c.a, 1, &err) == 0);
        int ok = 1;
        for (int i = 0; i < T * HQ * D; i++) ok &= fabsf(dq2[i] - 2 * dq[i]) <= 1e-6f * (1 + fabsf(dq[i]));
        for (int i = 0; i < T * HKV * D; i++) ok &= fabsf(dk2[i] - 2 * dk[i]) <= 1e-6f * (1 + fabsf(dk[i]));
        CHECK(ok);
        free(c.q), free(c.kk), free(c.v), free(c.out), free(c.r);
    }
}

static void test_threads(void) {
    /* large enough that the kernels really run on several threads */
    enum { TT = 130, HQT = 4, HKVT = 2, DT = 32 };
    static int32_t cu[3] = {0, 40, 130};
    rv_rng r;
    rv_rng_init(&r, 51, 3, 0);
    float *q = kt_randn(&r, TT * HQT * DT, 1), *kk = kt_randn(&r, TT * HKVT * DT, 1);
    float *v = kt_randn(&r, TT * HKVT * DT, 1), *dout = kt_randn(&r, TT * HQT * DT, 1);
    rvk_attn a = {.nseq = 2, .cu_q = cu, .Tq = TT, .Tk = TT, .Hq = HQT, .Hkv = HKVT, .D = DT, .scale = 0.2f, .causal = 1};
    size_t n = TT * HQT * DT * 2 + TT * HKVT * DT * 2;
    float *res[3];
    rv_err err;
    for (int t = 0; t < 3; t++) {
        rv_kctx *k = kt_ctx(t + 1);
        res[t] = malloc(n * 4);
        float *o = res[t], *dq = o + TT * HQT * DT, *dk = dq + TT * HQT * DT, *dv = dk + TT * HKVT * DT;
        float lse[TT * HQT];
        kt_attention_fwd(k, o, lse, q, kk, v, &a, &err);
        kt_attention_bwd(k, dq, dk, dv, dout, q, kk, v, o, lse, &a, 0, &err);
        rvk_destroy(k);
    }
    CHECK(memcmp(res[0], res[1], n * 4) == 0);
    CHECK(memcmp(res[0], res[2], n * 4) == 0);
    for (int t = 0; t < 3; t++) free(res[t]);
    free(q), free(kk), free(v), free(dout);
}

static void test_errors(rv_kctx *k) {
    float x[64] = {0}, out[64];
    int32_t bad[3] = {0, 3, 2};
    rvk_attn a = {.nseq = 2, .cu_q = bad, .Tq = 2, .Tk = 2, .Hq = 2, .Hkv = 1, .D = 4, .scale = 1, .causal = 1};
    rv_err err;
    CHECK(kt_attention_fwd(k, out, NULL, x, x, x, &a, &err) == -1);
    CHECK(strstr(err.msg, "cu_q decreases") != NULL);
    int32_t ok[3] = {0, 1, 2};
    a.cu_q = ok, a.Hq = 3, a.Hkv = 2;
    CHECK(kt_attention_fwd(k, out, NULL, x, x, x, &a, &err) == -1);
    CHECK(strstr(err.msg, "multiple") != NULL);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_hand(k);
        test_reference(k);
        test_decode(k);
        test_fd(k);
        test_threads();
        test_errors(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_attention");
}
