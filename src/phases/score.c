/* The score phase: scores finished generations (an upstream-style *_output.json) with every
 * metric of their task, in parallel over ranks, and writes <stem>_metrics.json (upstream's
 * metric keys, bootstrap 95% intervals) and <stem>_scored.json (per-record scores) beside it.
 * Every rank parses the whole file and checks every record (cheap, and CIDEr-D's document
 * frequencies need all references); each rank scores its contiguous slice of the valid records;
 * rank 0 gathers the per-record numbers in record order, aggregates and writes. So the outputs
 * do not depend on the rank count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/bootstrap.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/cider.h"
#include "eval/metrics/classification.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/grounding.h"
#include "eval/metrics/label_f1.h"
#include "eval/metrics/npstat.h"
#include "eval/metrics/radcliq.h"
#include "eval/reasoning.h"
#include "eval/metrics/rouge.h"
#include "io/json.h"
#include "phases/phase.h"

enum { T_REPORT, T_CLS, T_GROUND };
#define NF 18 /* doubles per record in the gathered buffer */
/* report layout */
enum { F_BLEU = 0 /* 10: testlen reflen guess[4] correct[4] */, F_BLEU4 = 10, F_R1, F_R2, F_RL, F_CIDER,
       F_GBLEU, F_REFBITS, F_HYPBITS };
/* classification: 0 truth bits, 1 pred bits. grounding: 0 ap, 1 iou_sum, 2 pairs, 3 npred, 4 nbad */

typedef struct rec {
    const char *hyp, *ref; /* report / classification / grounding answer text */
    size_t hlen, rlen;
    const cJSON *item;
} rec;

static int task_kind(const char *t) {
    if (strcmp(t, "report_generation") == 0) return T_REPORT;
    if (strcmp(t, "abnormality_classification") == 0) return T_CLS;
    return T_GROUND;
}

/* Checks one record; fills r. Returns 0 when usable, else 1 with *why set. */
static int check_record(const cJSON *it, int kind, bool r1, rec *r, const char **why) {
    memset(r, 0, sizeof *r);
    r->item = it;
    if (!cJSON_IsObject(it)) { *why = "is not a JSON object"; return 1; }
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(it, "output");
    if (!out) { *why = "has no \"output\" key"; return 1; }
    if (!cJSON_IsString(out)) { *why = "has an \"output\" that is not a string"; return 1; }
    r->hyp = out->valuestring;
    r->hlen = strlen(r->hyp);
    if (r1) {
        bool found;
        rv_span s = rv_reasoning_answer(r->hyp, r->hlen, 4000, &found);
        r->hyp = s.p;
        r->hlen = s.len;
    }
    if (kind == T_REPORT) {
        /* upstream's report metrics read "txt"; compute_radcliq.py reads "answer" (the same text) */
        const cJSON *gt = cJSON_GetObjectItemCaseSensitive(it, "txt");
        if (!gt) gt = cJSON_GetObjectItemCaseSensitive(it, "answer");
        if (!gt) { *why = "has neither \"txt\" nor \"answer\""; return 1; }
        if (!cJSON_IsString(gt)) { *why = "has a ground truth (\"txt\"/\"answer\") that is not a string"; return 1; }
        r->ref = gt->valuestring;
        r->rlen = strlen(r->ref);
    } else if (kind == T_CLS) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(it, "labels"), *x;
        if (!cJSON_IsArray(l)) { *why = "has no \"labels\" array"; return 1; }
        cJSON_ArrayForEach(x, l) if (!cJSON_IsString(x)) { *why = "has a non-string entry in \"labels\""; return 1; }
    } else {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "boxes"), *x, *v;
        if (!cJSON_IsArray(b)) { *why = "has no \"boxes\" array"; return 1; }
        cJSON_ArrayForEach(x, b) {
            if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 4) { *why = "has a box that is not a list of 4 numbers"; return 1; }
            cJSON_ArrayForEach(v, x) if (!cJSON_IsNumber(v)) { *why = "has a box that is not a list of 4 numbers"; return 1; }
        }
    }
    return 0;
}

static unsigned truth_bits(const cJSON *labels) {
    const cJSON *x;
    const char *names[64];
    size_t n = 0;
    cJSON_ArrayForEach(x, labels) if (n < 64) names[n++] = x->valuestring;
    return rv_cls_truth(names, n);
}

static void score_one(int kind, const rec *r, const rv_cider_df *df, rv_ngram_ws *ws, double *o) {
    memset(o, 0, NF * sizeof *o);
    if (kind == T_REPORT) {
        rv_bleu_stats st;
        rv_bleu_stats_pair(r->hyp, r->hlen, r->ref, r->rlen, &st, ws);
        o[0] = st.testlen; o[1] = st.reflen;
        for (int k = 0; k < 4; k++) { o[2 + k] = st.guess[k]; o[6 + k] = st.correct[k]; }
        double b[4];
        rv_bleu_score(&st, b);
        o[F_BLEU4] = b[3];
        rv_prf rg[3];
        rv_rouge_pair(r->hyp, r->hlen, r->ref, r->rlen, rg, ws);
        o[F_R1] = rg[0].f; o[F_R2] = rg[1].f; o[F_RL] = rg[2].f;
        o[F_CIDER] = df ? rv_cider_pair(df, r->hyp, r->hlen, r->ref, r->rlen, ws) : 0.0;
        o[F_GBLEU] = rv_google_bleu(r->hyp, r->hlen, r->ref, r->rlen, ws);
        int c[RV_CHX_NLABELS];
        rv_chx_label(r->ref, r->rlen, c);
        o[F_REFBITS] = rv_chx_rrg_bits(c);
        rv_chx_label(r->hyp, r->hlen, c);
        o[F_HYPBITS] = rv_chx_rrg_bits(c);
    } else if (kind == T_CLS) {
        o[0] = truth_bits(cJSON_GetObjectItemCaseSensitive(r->item, "labels"));
        o[1] = rv_cls_parse(r->hyp, r->hlen);
    } else {
        rv_box *pred = NULL;
        size_t bad = 0, np = rv_boxes_parse(r->hyp, r->hlen, &pred, &bad);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(r->item, "boxes"), *x;
        size_t ng = (size_t)cJSON_GetArraySize(b), k = 0;
        rv_box *gt = rv_xcalloc(ng ? ng : 1, sizeof *gt);
        cJSON_ArrayForEach(x, b) {
            gt[k].x1 = cJSON_GetArrayItem(x, 0)->valuedouble; gt[k].y1 = cJSON_GetArrayItem(x, 1)->valuedouble;
            gt[k].x2 = cJSON_GetArrayItem(x, 2)->valuedouble; gt[k].y2 = cJSON_GetArrayItem(x, 3)->valuedouble;
            k++;
        }
        rv_ground_sample s;
        rv_ground_score(pred, np, gt, ng, 0.5, &s);
        o[0] = s.ap; o[1] = s.iou_sum; o[2] = s.pairs; o[3] = (double)np; o[4] = (double)bad;
        free(pred);
        free(gt);
    }
}

/* ---- aggregation (used for the point estimate and for every bootstrap resample) ---- */
typedef struct agg {
    int kind;
    const double *v; /* n x NF */
    size_t n;
} agg;

#define NSTAT_REPORT 14
static const char *const report_keys[NSTAT_REPORT] = {
    "blue", "ciderd", "rouge1", "rouge2", "rougel", "bleu_1", "bleu_2", "bleu_3", "google_bleu",
    "chexpert_rules_all_micro", "chexpert_rules_all_macro", "chexpert_rules_5_micro",
    "chexpert_rules_5_macro", "bleu_4_sentence_mean"};
#define NSTAT_CLS 6
static const char *const cls_keys[NSTAT_CLS] = {"Precision(macro)", "Precision(micro)", "Recall(macro)",
                                                "Recall(micro)", "F1 Score(macro)", "F1 Score(micro)"};

static void stat_fn(const size_t *idx, size_t n, void *user, double *out) {
    const agg *a = user;
    double *col = rv_xmalloc((n ? n : 1) * sizeof *col);
    if (a->kind == T_REPORT) {
        rv_bleu_stats tot = {0};
        rv_label_f1 lf;
        rv_label_f1_init(&lf);
        for (size_t i = 0; i < n; i++) {
            const double *r = a->v + (idx ? idx[i] : i) * NF;
            rv_bleu_stats st;
            st.testlen = r[0]; st.reflen = r[1];
            for (int k = 0; k < 4; k++) { st.guess[k] = r[2 + k]; st.correct[k] = r[6 + k]; }
            rv_bleu_stats_add(&tot, &st);
            rv_label_f1_add(&lf, (unsigned)r[F_REFBITS], (unsigned)r[F_HYPBITS]);
        }
        double b[4], lf4[4];
        rv_bleu_score(&tot, b);
        rv_label_f1_result(&lf, lf4);
        out[0] = b[3];
        const int fields[5] = {F_CIDER, F_R1, F_R2, F_RL, F_GBLEU};
        double means[5];
        for (int k = 0; k < 5; k++) {
            for (size_t i = 0; i < n; i++) col[i] = a->v[(idx ? idx[i] : i) * NF + fields[k]];
            means[k] = rv_np_mean(col, n);
        }
        out[1] = means[0]; out[2] = means[1]; out[3] = means[2]; out[4] = means[3];
        out[5] = b[0]; out[6] = b[1]; out[7] = b[2];
        out[8] = means[4];
        for (int k = 0; k < 4; k++) out[9 + k] = lf4[k];
        for (size_t i = 0; i < n; i++) col[i] = a->v[(idx ? idx[i] : i) * NF + F_BLEU4];
        out[13] = rv_np_mean(col, n);
    } else if (a->kind == T_CLS) {
        rv_prf_counts c;
        rv_prf_counts_init(&c, RV_CLS_NLABELS);
        for (size_t i = 0; i < n; i++) {
            const double *r = a->v + (idx ? idx[i] : i) * NF;
            rv_prf_counts_add(&c, (unsigned)r[0], (unsigned)r[1]);
        }
        rv_prf_report rep;
        rv_prf_report_compute(&c, &rep);
        out[0] = rep.p_macro; out[1] = rep.p_micro; out[2] = rep.r_macro;
        out[3] = rep.r_micro; out[4] = rep.f_macro; out[5] = rep.f_micro;
        for (int l = 0; l < RV_CLS_NLABELS; l++) out[6 + l] = rep.f[l];
    } else {
        double iou = 0, pairs = 0;
        for (size_t i = 0; i < n; i++) {
            const double *r = a->v + (idx ? idx[i] : i) * NF;
            col[i] = r[0];
            iou += r[1];
            pairs += r[2];
        }
        out[0] = rv_np_mean(col, n);
        out[1] = pairs > 0 ? iou / pairs : NAN;
    }
    free(col);
}

static char *out_path(const char *input, const char *suffix) {
    size_t l = strlen(input);
    if (l > 5 && strcmp(input + l - 5, ".json") == 0) l -= 5;
    return rv_xasprintf("%.*s%s", (int)l, input, suffix);
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isnan(v)) return;
    cJSON_AddItemToObject(o, k, rv_json_float(v));
}

static cJSON *label_list(unsigned bits, int nl, const char *const *names) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < nl; i++) if ((bits >> i) & 1u) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return a;
}

static int write_json(const char *path, const cJSON *j, rv_err *err) {
    rv_sb sb;
    rv_sb_init(&sb);
    rv_pyjson_dump(&sb, j, 2, false);
    rv_sb_putc(&sb, '\n');
    int rc = rv_write_atomic(path, sb.s, sb.len, err);
    rv_sb_free(&sb);
    return rc;
}

static int write_outputs(const char *input, const char *task, int kind, const double *v, const size_t *valid,
                         size_t nvalid, size_t nrec, const size_t *bad, size_t nbad, long long B,
                         long long seed, rv_err *err) {
    agg a = {kind, v, nvalid};
    size_t nstat = kind == T_REPORT ? NSTAT_REPORT : kind == T_CLS ? NSTAT_CLS + RV_CLS_NLABELS : 2;
    double *pt = rv_xcalloc(nstat, sizeof *pt), *lo = rv_xcalloc(nstat, sizeof *lo), *hi = rv_xcalloc(nstat, sizeof *hi);
    if (nvalid) stat_fn(NULL, nvalid, &a, pt);
    if (nvalid && B > 0) rv_bootstrap(nvalid, (size_t)B, (uint64_t)seed, nstat, stat_fn, &a, 2.5, 97.5, lo, hi);

    cJSON *m = cJSON_CreateObject(), *ci = cJSON_CreateObject(), *un = cJSON_CreateObject();
    const char *const *keys = NULL;
    size_t nkeys = 0;
    char labkeys[RV_CLS_NLABELS + NSTAT_CLS][64];
    const char *ckeys[NSTAT_CLS + RV_CLS_NLABELS];
    if (kind == T_REPORT) {
        keys = report_keys; nkeys = NSTAT_REPORT;
        /* upstream order: blue, bertscore, ciderd, rouge1, rouge2, rougel, radgraph_*, chexbert_* */
        add_num(m, "blue", pt[0]);
        add_num(m, "ciderd", pt[1]);
        add_num(m, "rouge1", pt[2]);
        add_num(m, "rouge2", pt[3]);
        add_num(m, "rougel", pt[4]);
        for (size_t k = 5; k < nkeys; k++) add_num(m, keys[k], pt[k]);
        const char *why = NULL;
        double rq;
        rv_radcliq_features f = {0};
        f.have_bleu = true;
        (void)rv_radcliq_v1(&f, &rq, &why);
        static const char *const model_keys[] = {"bertscore", "radgraph_simple", "radgraph_partial", "radgraph_complete",
                                                  "chexbert_all_micro", "chexbert_all_macro", "chexbert_5_micro", "chexbert_5_macro"};
        for (size_t k = 0; k < 8; k++)
            cJSON_AddStringToObject(un, model_keys[k], k < 4 ? "needs a neural model (BERTScore / RadGraph-XL) this build does not run yet"
                                                            : "needs the CheXbert model; chexpert_rules_* are the rule-based labeler's F1 instead (not CheXbert)");
        cJSON_AddStringToObject(un, "radcliq_v1", why);
    } else if (kind == T_CLS) {
        for (size_t k = 0; k < NSTAT_CLS; k++) ckeys[k] = cls_keys[k];
        for (int l = 0; l < RV_CLS_NLABELS; l++) { snprintf(labkeys[l], sizeof labkeys[l], "%s", rv_cls_labels[l]); ckeys[NSTAT_CLS + l] = labkeys[l]; }
        keys = ckeys; nkeys = nstat;
        for (size_t k = 0; k < nkeys; k++) add_num(m, keys[k], pt[k]);
    } else {
        static const char *const gk[2] = {"mAP_0.5", "avg_iou"};
        keys = gk; nkeys = 2;
        for (size_t k = 0; k < nkeys; k++) add_num(m, keys[k], pt[k]);
    }
    if (B > 0 && nvalid)
        for (size_t k = 0; k < nkeys; k++) {
            if (isnan(pt[k])) continue;
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, rv_json_float(lo[k]));
            cJSON_AddItemToArray(pair, rv_json_float(hi[k]));
            cJSON_AddItemToObject(ci, keys[k], pair);
        }
    cJSON_AddStringToObject(m, "task", task);
    cJSON_AddNumberToObject(m, "n_records", (double)nrec);
    cJSON_AddNumberToObject(m, "n_scored", (double)nvalid);
    cJSON_AddNumberToObject(m, "n_bad_records", (double)nbad);
    cJSON *badarr = cJSON_CreateArray();
    for (size_t i = 0; i < nbad; i++) cJSON_AddItemToArray(badarr, cJSON_CreateNumber((double)bad[i]));
    cJSON_AddItemToObject(m, "bad_records", badarr);
    if (cJSON_GetArraySize(un)) cJSON_AddItemToObject(m, "unavailable", un); else cJSON_Delete(un);
    cJSON *bs = cJSON_CreateObject();
    cJSON_AddNumberToObject(bs, "samples", (double)B);
    cJSON_AddNumberToObject(bs, "seed", (double)seed);
    cJSON_AddStringToObject(bs, "interval", "percentile 2.5 / 97.5");
    cJSON_AddItemToObject(bs, "ci95", ci);
    cJSON_AddItemToObject(m, "bootstrap", bs);

    /* per record */
    cJSON *sc = cJSON_CreateArray();
    for (size_t i = 0; i < nvalid; i++) {
        const double *r = v + i * NF;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)valid[i]);
        if (kind == T_REPORT) {
            cJSON_AddItemToObject(o, "bleu4", rv_json_float(r[F_BLEU4]));
            cJSON_AddItemToObject(o, "ciderd", rv_json_float(r[F_CIDER]));
            cJSON_AddItemToObject(o, "rouge1", rv_json_float(r[F_R1]));
            cJSON_AddItemToObject(o, "rouge2", rv_json_float(r[F_R2]));
            cJSON_AddItemToObject(o, "rougel", rv_json_float(r[F_RL]));
            cJSON_AddItemToObject(o, "google_bleu", rv_json_float(r[F_GBLEU]));
            cJSON_AddItemToObject(o, "labels_ref", label_list((unsigned)r[F_REFBITS], RV_CHX_NLABELS, rv_chx_label_names));
            cJSON_AddItemToObject(o, "labels_output", label_list((unsigned)r[F_HYPBITS], RV_CHX_NLABELS, rv_chx_label_names));
        } else if (kind == T_CLS) {
            unsigned t = (unsigned)r[0], p = (unsigned)r[1];
            cJSON_AddItemToObject(o, "correct_labels", label_list(t & p, RV_CLS_NLABELS, rv_cls_labels));
            cJSON_AddItemToObject(o, "incorrect_labels", label_list(p & ~t, RV_CLS_NLABELS, rv_cls_labels));
            cJSON_AddItemToObject(o, "missing_labels", label_list(t & ~p, RV_CLS_NLABELS, rv_cls_labels));
        } else {
            cJSON_AddItemToObject(o, "ap", rv_json_float(r[0]));
            if (r[2] > 0) cJSON_AddItemToObject(o, "mean_iou", rv_json_float(r[1] / r[2]));
            cJSON_AddNumberToObject(o, "n_pred_boxes", r[3]);
            cJSON_AddNumberToObject(o, "n_unparsable_boxes", r[4]);
        }
        cJSON_AddItemToArray(sc, o);
    }
    char *mp = out_path(input, "_metrics.json"), *sp = out_path(input, "_scored.json");
    int rc = write_json(mp, m, err);
    if (rc == 0) rc = write_json(sp, sc, err);
    if (rc == 0) rv_info0("score: wrote %s and %s (%zu records scored, %zu bad)", mp, sp, nvalid, nbad);
    free(mp); free(sp);
    cJSON_Delete(m);
    cJSON_Delete(sc);
    free(pt); free(lo); free(hi);
    return rc;
}

int rv_phase_score(rv_phase_ctx *ctx, rv_err *err) {
    const char *input = rv_cfg_str(ctx->cfg, "score.input");
    const char *task = rv_cfg_str(ctx->cfg, "score.task");
    long long B = rv_cfg_int(ctx->cfg, "score.bootstrap_samples");
    long long seed = rv_cfg_int(ctx->cfg, "score.seed");
    bool r1 = rv_cfg_bool(ctx->cfg, "score.r1");
    if (!input || !*input)
        return rv_fail(err, "score: score.input is empty; pass --set score.input=PATH/<model>_<task>_output.json");
    if (B < 0 || B > 1000000)
        return rv_fail(err, "score: score.bootstrap_samples=%lld is out of range; use 0..1000000 (2000 is upstream's)", B);
    int kind = task_kind(task);
    cJSON *root = rv_json_parse_file(input, err);
    if (!root) return rv_fail_wrap(err, "score: reading score.input");
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return rv_fail(err, "score: %s is not a JSON array of records; expected an upstream *_output.json "
                            "(a list of objects with \"output\" and \"answer\"/\"txt\")", input);
    }
    size_t nrec = (size_t)cJSON_GetArraySize(root);
    rec *recs = rv_xcalloc(nrec ? nrec : 1, sizeof *recs);
    size_t *valid = rv_xmalloc((nrec ? nrec : 1) * sizeof *valid), *bad = rv_xmalloc((nrec ? nrec : 1) * sizeof *bad);
    size_t nvalid = 0, nbad = 0, i = 0;
    size_t vb, ve;
    /* validity is decided on every rank (same data, same answer); each bad record is reported by
     * the rank whose share of the raw records holds it, so it is reported once */
    rv_comm_slice(ctx->comm, nrec, &vb, &ve);
    const cJSON *it;
    int rc = 0;
    cJSON_ArrayForEach(it, root) {
        const char *why = NULL;
        if (check_record(it, kind, r1, &recs[i], &why) == 0) valid[nvalid++] = i;
        else {
            bad[nbad++] = i;
            if (i >= vb && i < ve) {
                char where[1100];
                snprintf(where, sizeof where, "%s: record %zu", input, i);
                if (rv_badrec_report(&ctx->bad, err, where, "record %s; it is not scored", why) != 0) rc = -1;
            }
        }
        i++;
    }
    /* a fatal bad-record policy stops every rank */
    if (!rv_comm_all_ok(ctx->comm, rc == 0)) {
        if (rc == 0) rv_fail(err, "score: another rank stopped on a bad record of %s", input);
        free(recs); free(valid); free(bad); cJSON_Delete(root);
        return -1;
    }
    rv_cider_df *df = NULL;
    if (kind == T_REPORT) {
        const char **refs = rv_xmalloc((nvalid ? nvalid : 1) * sizeof *refs);
        size_t *lens = rv_xmalloc((nvalid ? nvalid : 1) * sizeof *lens);
        for (size_t k = 0; k < nvalid; k++) { refs[k] = recs[valid[k]].ref; lens[k] = recs[valid[k]].rlen; }
        df = rv_cider_df_build(refs, lens, nvalid);
        if (nvalid && rv_cider_df_empty(df))
            rv_warn0("score: no reference of %s has any word; CIDEr-D is reported as 0 (the reference scorer fails here)", input);
        free(refs); free(lens);
    }
    size_t b, e;
    rv_comm_slice(ctx->comm, nvalid, &b, &e);
    double *mine = rv_xcalloc((e - b) * NF + 1, sizeof *mine);
    rv_ngram_ws ws = {0};
    for (size_t k = b; k < e; k++) score_one(kind, &recs[valid[k]], df, &ws, mine + (k - b) * NF);
    rv_ngram_ws_free(&ws);
    rv_cider_df_free(df);
    char *all = NULL;
    size_t all_len = 0;
    rv_comm_gather_bytes(ctx->comm, mine, (e - b) * NF * sizeof *mine, 0, &all, &all_len);
    free(mine);
    if (ctx->comm->rank == 0) {
        if (all_len != nvalid * NF * sizeof(double))
            rc = rv_fail(err, "score: gathered %zu bytes, expected %zu (internal error)", all_len, nvalid * NF * sizeof(double));
        else
            rc = write_outputs(input, task, kind, (const double *)all, valid, nvalid, nrec, bad, nbad, B, seed, err);
    }
    free(all);
    free(recs); free(valid); free(bad);
    cJSON_Delete(root);
    return rc;
}
