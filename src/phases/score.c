/* The score phase: scores finished generations (an upstream-style *_output.json) with every
 * metric of their task, in parallel over ranks, and writes <stem>_metrics.json (upstream's
 * metric keys, bootstrap 95% intervals) and <stem>_scored.json (per-record scores) beside it.
 * The task rules (record parsing, metrics, keys, aggregation) are the eval/tasks library's; this
 * phase reads, distributes and writes. Every rank parses the whole file and checks every record
 * (cheap, and CIDEr-D's document frequencies need all references); each rank scores its
 * contiguous slice of the valid records; rank 0 gathers the per-record numbers in record order,
 * aggregates and writes. So the outputs do not depend on the rank count. With neural metric
 * models configured (metrics.*, eval/neural/neural_metrics.h), every rank loads them and scores
 * its slice in batches. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "eval/tasks/metrics_json.h"
#include "eval/tasks/record_json.h"
#include "eval/tasks/task.h"
#include "eval/neural/neural_metrics.h"
#include "io/json.h"
#include "kernels/kernels.h"
#include "phases/phase.h"

static char *out_path(const char *input, const char *suffix) {
    size_t l = strlen(input);
    if (l > 5 && strcmp(input + l - 5, ".json") == 0) l -= 5;
    return rv_xasprintf("%.*s%s", (int)l, input, suffix);
}

static int write_outputs(const char *input, const rv_eval_task *t, const double *v, const size_t *valid,
                         size_t nvalid, const rv_eval_tally *tally, rv_err *err) {
    cJSON *m = rv_eval_metrics_json(t, v, nvalid, tally);
    cJSON *sc = rv_eval_scored_json(t, v, nvalid, valid);
    char *mp = out_path(input, "_metrics.json"), *sp = out_path(input, "_scored.json");
    int rc = rv_pyjson_write_file(mp, m, 2, false, err);
    if (rc == 0) rc = rv_pyjson_write_file(sp, sc, 2, false, err);
    if (rc == 0) rv_info0("score: wrote %s and %s (%zu records scored, %zu bad)", mp, sp, nvalid, tally->n_bad);
    free(mp); free(sp);
    cJSON_Delete(m);
    cJSON_Delete(sc);
    return rc;
}

/* The neural metric models of a report-family task, when any is configured (else *nm = NULL). */
static int load_neural(const rv_phase_ctx *ctx, const rv_eval_task *t, rv_kctx **k, rv_neural **nm, rv_err *err) {
    rv_neural_opts o;
    rv_neural_opts_from_cfg(ctx->cfg, &o);
    *k = NULL;
    *nm = NULL;
    if (!rv_neural_opts_any(&o) || strcmp(rv_eval_task_family(t), "report") != 0) return 0;
    rvk_cpu_opts co = {.nthreads = (int)rv_cfg_int(ctx->cfg, "compute.threads")};
    if (rvk_create(k, rv_cfg_str(ctx->cfg, "compute.backend"), &co, err)) return rv_fail_wrap(err, "score: compute.backend");
    if (rv_neural_load(nm, &o, *k, err)) return rv_fail_wrap(err, "score");
    rv_info0("score: neural metrics: %s", rv_neural_describe(*nm));
    return 0;
}

static void free_records(rv_eval_record *recs, size_t n) {
    for (size_t i = 0; i < n; i++) rv_eval_record_free(&recs[i]);
    free(recs);
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
    const rv_eval_task *t = rv_eval_task_find(task);
    if (!t) return rv_fail(err, "score: score.task=%s is not a task this build scores; see --help --phase score", task);
    rv_answer_rule rule = r1 ? RV_ANSWER_R1 : RV_ANSWER_RAW;
    const size_t NF = rv_eval_nvalues(t); /* doubles per record in the gathered buffer */
    cJSON *root = rv_json_parse_file(input, err);
    if (!root) return rv_fail_wrap(err, "score: reading score.input");
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return rv_fail(err, "score: %s is not a JSON array of records; expected an upstream *_output.json "
                            "(a list of objects with \"output\" and \"answer\"/\"txt\")", input);
    }
    size_t nrec = (size_t)cJSON_GetArraySize(root);
    rv_eval_record *recs = rv_xcalloc(nrec ? nrec : 1, sizeof *recs);
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
        if (rv_eval_record_from_json(t, it, rule, &recs[i], &why) == 0) valid[nvalid++] = i;
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
        free_records(recs, nrec); free(valid); free(bad); cJSON_Delete(root);
        return -1;
    }
    rv_eval_tally tally = {.n_records = nrec, .bad = bad, .n_bad = nbad, .boot_samples = B, .boot_seed = seed};
    rv_eval_input *ins = rv_xmalloc((nvalid ? nvalid : 1) * sizeof *ins);
    for (size_t k = 0; k < nvalid; k++) ins[k] = recs[valid[k]].in;
    rv_eval_corpus *corpus = rv_eval_corpus_build(t, ins, nvalid);
    const char *warning = rv_eval_corpus_warning(corpus);
    if (warning) rv_warn0("score: %s: %s", input, warning);
    /* whole blocks of records per rank: the neural metrics' batches are then the same for every
     * rank count (eval/tasks/task.h) */
    size_t b, e;
    rv_eval_neural_slice(nvalid, ctx->comm->rank, ctx->comm->size, &b, &e);
    double *mine = rv_xcalloc((e - b) * NF + 1, sizeof *mine);
    rv_eval_scratch scratch = {0};
    for (size_t k = b; k < e; k++) rv_eval_score(t, &ins[k], corpus, &scratch, mine + (k - b) * NF);
    rv_eval_scratch_free(&scratch);
    rv_eval_corpus_free(corpus);
    /* the neural metrics of the slice, batched; a failure on any rank stops every rank */
    rv_kctx *kc = NULL;
    rv_neural *nm = NULL;
    if (e > b) rc = load_neural(ctx, t, &kc, &nm, err); /* a rank without records loads nothing */
    if (!rc) rc = rv_eval_score_neural(t, ins + b, e - b, nm, mine, err);
    rv_neural_free(nm);
    rvk_destroy(kc);
    free(ins);
    if (!rv_comm_all_ok(ctx->comm, rc == 0)) {
        if (rc == 0) rv_fail(err, "score: the neural metrics failed on another rank (see its message)");
        free(mine); free_records(recs, nrec); free(valid); free(bad); cJSON_Delete(root);
        return -1;
    }
    char *all = NULL;
    size_t all_len = 0;
    rv_comm_gather_bytes(ctx->comm, mine, (e - b) * NF * sizeof *mine, 0, &all, &all_len);
    free(mine);
    if (ctx->comm->rank == 0) {
        if (all_len != nvalid * NF * sizeof(double))
            rc = rv_fail(err, "score: gathered %zu bytes, expected %zu (internal error)", all_len, nvalid * NF * sizeof(double));
        else
            rc = write_outputs(input, t, (const double *)all, valid, nvalid, &tally, err);
    }
    /* nothing scored is a failed scoring run, not a run whose metrics are all 0.0: the metrics
     * file (written above, every metric under "unavailable") lists the bad records; rank 0 says
     * so once and the phase fails on every rank through it */
    if (ctx->comm->rank == 0 && rc == 0 && nvalid == 0)
        rc = rv_fail(err, "score: none of the %zu record(s) of %s could be scored (%s); the metrics file marks every "
                     "metric unavailable with n_scored = 0. Fix the records (each needs \"output\" and the task's "
                     "reference key) or pass the right score.task", nrec, input,
                     nrec ? "every record is bad: see the bad-record reports above" : "the array is empty");
    free(all);
    free_records(recs, nrec); free(valid); free(bad);
    cJSON_Delete(root);
    return rc;
}
