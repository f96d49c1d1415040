/* Writing RUN/eval/results.h5 (layout in results_h5.h). Strings are variable-length UTF-8 so
 * h5py gives them back as Python strings (.asstr()) and a task's rows become a pandas
 * DataFrame column by column; numbers use little-endian file types. */
#define _GNU_SOURCE
#include "eval/run/results_h5.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "core/temp_files.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/classification.h"
#include "eval/metrics/grounding.h"
#include "eval/tasks/aggregate.h"
#include "io/h5util.h"

static hid_t utf8_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* A 1-D dataset of n strings (NULL written as ""). Contiguous and unfiltered: HDF5 cannot
 * apply the Fletcher32 filter of rv_h5_write to variable-length data. */
static int write_strings(hid_t g, const char *name, const char *const *s, size_t n, const char *where, rv_err *err) {
    const char **v = rv_xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = s[i] ? s[i] : "";
    hsize_t dims[1] = {n};
    hid_t t = utf8_type(), sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = rv_h5_fail(err, "%s: cannot create dataset %s", where, name);
    else if (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        rc = rv_h5_fail(err, "%s: cannot write dataset %s (disk full?)", where, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    free(v);
    return rc;
}

/* A string-array attribute (h5py: an array of str). */
static int attr_strings(hid_t obj, const char *name, const char *const *s, size_t n, const char *where, rv_err *err) {
    hsize_t dims[1] = {n};
    hid_t t = utf8_type(), sp = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || (n && H5Awrite(a, t, s) < 0) ? rv_h5_fail(err, "%s: cannot write attribute %s", where, name) : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

/* A scalar string attribute, variable-length UTF-8 (h5py: str, not bytes). */
static int attr_str(hid_t obj, const char *name, const char *value, const char *where, rv_err *err) {
    hid_t t = utf8_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = value ? value : "";
    int rc = a < 0 || H5Awrite(a, t, &v) < 0 ? rv_h5_fail(err, "%s: cannot write attribute %s", where, name) : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int write_i64(hid_t g, const char *name, const int64_t *v, size_t n, const char *where, rv_err *err) {
    return rv_h5_write(g, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, n, 0, 4096, where, err);
}

static int write_f64(hid_t g, const char *name, const double *v, size_t rows, size_t cols, const char *where, rv_err *err) {
    return rv_h5_write(g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, rows, cols, 4096, where, err);
}

/* names of the set bits, newline-joined, appended to sb */
static void bit_names(rv_sb *sb, unsigned bits, const char *const *names, int n) {
    bool first = true;
    for (int i = 0; i < n; i++)
        if ((bits >> i) & 1u) {
            if (!first) rv_sb_putc(sb, '\n');
            rv_sb_puts(sb, names[i]);
            first = false;
        }
}

/* The labels the task's rule reads in an answer: classification: the label names found;
 * report generation / conversations: the rule-based labeler's positive findings (as
 * <stem>_scored.json's labels_output); grounding: none. */
static char *parsed_labels(const rv_eval_task *t, const char *out) {
    const char *fam = rv_eval_task_family(t);
    const char *s = out ? out : "";
    rv_sb sb;
    rv_sb_init(&sb);
    if (strcmp(fam, "classification") == 0) bit_names(&sb, rv_cls_parse(s, strlen(s)), rv_cls_labels, RV_CLS_NLABELS);
    else if (strcmp(fam, "report") == 0) {
        int c[RV_CHX_NLABELS];
        rv_chx_label(s, strlen(s), c);
        bit_names(&sb, rv_chx_rrg_bits(c), rv_chx_label_names, RV_CHX_NLABELS);
    }
    return rv_sb_take(&sb);
}

static int write_samples(hid_t f, const char *gname, const rv_eval_task_result *r, const char *where, rv_err *err) {
    size_t n = r->n, nv = rv_eval_nvalues(r->task);
    bool grounding = strcmp(rv_eval_task_family(r->task), "grounding") == 0;
    size_t cap = n ? n : 1;
    const char **task = rv_xmalloc(cap * sizeof *task), **id = rv_xmalloc(cap * sizeof *id),
               **img = rv_xmalloc(cap * sizeof *img), **prompt = rv_xmalloc(cap * sizeof *prompt),
               **out = rv_xmalloc(cap * sizeof *out), **full = rv_xmalloc(cap * sizeof *full),
               **ref = rv_xmalloc(cap * sizeof *ref);
    char **labels = rv_xcalloc(cap, sizeof *labels), **plabels = rv_xcalloc(cap, sizeof *plabels);
    int64_t *idx = rv_xmalloc(cap * sizeof *idx), *turn = rv_xmalloc(cap * sizeof *turn),
            *ntok = rv_xmalloc(cap * sizeof *ntok), *ptok = rv_xmalloc(cap * sizeof *ptok);
    int8_t *stopped = rv_xmalloc(cap), *found = rv_xmalloc(cap);
    double *secs = rv_xmalloc(cap * sizeof *secs);
    int64_t *poff = rv_xmalloc((n + 1) * sizeof *poff), *roff = rv_xmalloc((n + 1) * sizeof *roff);
    rv_sb pb, rb; /* [B, 4] doubles as bytes */
    rv_sb_init(&pb);
    rv_sb_init(&rb);
    poff[0] = roff[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const rv_eval_item *it = &r->items[i];
        const rv_eval_answer *a = &r->answers[i];
        task[i] = rv_eval_task_name(r->task);
        id[i] = it->id; img[i] = it->img_path; prompt[i] = it->instr;
        out[i] = a->output; full[i] = a->full_output; ref[i] = it->answer;
        rv_sb lb;
        rv_sb_init(&lb);
        for (size_t k = 0; k < it->nlabels; k++) {
            if (k) rv_sb_putc(&lb, '\n');
            rv_sb_puts(&lb, it->labels[k] ? it->labels[k] : "");
        }
        labels[i] = rv_sb_take(&lb);
        plabels[i] = parsed_labels(r->task, a->output);
        idx[i] = (int64_t)it->idx; turn[i] = it->turn;
        ntok[i] = a->n_tokens; ptok[i] = a->prompt_tokens;
        stopped[i] = (int8_t)(a->stopped != 0); found[i] = (int8_t)(a->found != 0);
        secs[i] = a->seconds;
        size_t np = 0;
        if (grounding) {
            rv_eval_box *pred = NULL;
            size_t bad = 0;
            const char *o = a->output ? a->output : "";
            np = rv_boxes_parse(o, strlen(o), &pred, &bad);
            for (size_t k = 0; k < np; k++) {
                double b[4] = {pred[k].x1, pred[k].y1, pred[k].x2, pred[k].y2};
                rv_sb_append(&pb, b, sizeof b);
            }
            free(pred);
            for (size_t k = 0; k < it->nboxes; k++) {
                double b[4] = {it->boxes[k].x1, it->boxes[k].y1, it->boxes[k].x2, it->boxes[k].y2};
                rv_sb_append(&rb, b, sizeof b);
            }
        }
        poff[i + 1] = poff[i] + (int64_t)np;
        roff[i + 1] = roff[i] + (int64_t)(grounding ? it->nboxes : 0);
    }
    char name[512];
    int rc = 0;
#define COL(expr) do { if (!rc) rc = (expr); } while (0)
#define P(c) (snprintf(name, sizeof name, "%s/%s", gname, c), name)
    COL(write_strings(f, P("task"), task, n, where, err));
    COL(write_i64(f, P("idx"), idx, n, where, err));
    COL(write_i64(f, P("turn"), turn, n, where, err));
    COL(write_strings(f, P("id"), id, n, where, err));
    COL(write_strings(f, P("img_path"), img, n, where, err));
    COL(write_strings(f, P("prompt"), prompt, n, where, err));
    COL(write_strings(f, P("output"), out, n, where, err));
    COL(write_strings(f, P("full_output"), full, n, where, err));
    COL(write_strings(f, P("reference"), ref, n, where, err));
    COL(write_strings(f, P("labels"), (const char *const *)labels, n, where, err));
    COL(write_strings(f, P("parsed_labels"), (const char *const *)plabels, n, where, err));
    COL(write_i64(f, P("n_tokens"), ntok, n, where, err));
    COL(write_i64(f, P("prompt_tokens"), ptok, n, where, err));
    COL(rv_h5_write(f, P("stopped"), H5T_STD_I8LE, H5T_NATIVE_INT8, stopped, n, 0, 4096, where, err));
    COL(rv_h5_write(f, P("found"), H5T_STD_I8LE, H5T_NATIVE_INT8, found, n, 0, 4096, where, err));
    COL(write_f64(f, P("seconds"), secs, n, 0, where, err));
    COL(write_f64(f, P("scores"), r->values, n, nv, where, err));
    if (!rc) {
        const char **vn = rv_xmalloc(nv * sizeof *vn);
        for (size_t k = 0; k < nv; k++) vn[k] = rv_eval_value_name(r->task, k);
        hid_t d = H5Dopen2(f, P("scores"), H5P_DEFAULT);
        rc = d < 0 ? rv_h5_fail(err, "%s: cannot open %s", where, name) : attr_strings(d, "value_names", vn, nv, where, err);
        if (d >= 0) H5Dclose(d);
        free(vn);
    }
    COL(write_f64(f, P("pred_boxes"), (const double *)pb.s, (size_t)poff[n], 4, where, err));
    COL(write_i64(f, P("pred_box_offsets"), poff, n + 1, where, err));
    COL(write_f64(f, P("ref_boxes"), (const double *)rb.s, (size_t)roff[n], 4, where, err));
    COL(write_i64(f, P("ref_box_offsets"), roff, n + 1, where, err));
#undef P
#undef COL
    for (size_t i = 0; i < n; i++) { free(labels[i]); free(plabels[i]); }
    free(task); free(id); free(img); free(prompt); free(out); free(full); free(ref); free(labels); free(plabels);
    free(idx); free(turn); free(ntok); free(ptok); free(stopped); free(found); free(secs); free(poff); free(roff);
    rv_sb_free(&pb);
    rv_sb_free(&rb);
    return rc;
}

static int write_metrics(hid_t f, const char *gname, const rv_eval_task_result *r, const rv_eval_results_meta *meta,
                         const char *where, rv_err *err) {
    const rv_eval_task *t = r->task;
    size_t ns = rv_eval_nstats(t);
    double *pt = rv_xmalloc(ns * sizeof *pt), *lo = rv_xmalloc(ns * sizeof *lo), *hi = rv_xmalloc(ns * sizeof *hi);
    const char **keys = rv_xmalloc(ns * sizeof *keys);
    for (size_t k = 0; k < ns; k++) { pt[k] = lo[k] = hi[k] = NAN; keys[k] = rv_eval_stat_key(t, k); }
    if (r->stats) memcpy(pt, r->stats, ns * sizeof *pt);
    else if (r->n) rv_eval_stats(t, r->values, r->n, NULL, pt);
    if (r->lo && r->hi) { memcpy(lo, r->lo, ns * sizeof *lo); memcpy(hi, r->hi, ns * sizeof *hi); }
    else if (r->n && meta->boot_samples > 0)
        rv_eval_bootstrap(t, r->values, r->n, (size_t)meta->boot_samples, (uint64_t)meta->boot_seed, lo, hi);
    /* an undefined statistic has no interval either (as in the metrics JSON) */
    for (size_t k = 0; k < ns; k++)
        if (isnan(pt[k])) lo[k] = hi[k] = NAN;
    char name[512];
    int rc = 0;
#define P(c) (snprintf(name, sizeof name, "%s/%s", gname, c), name)
    rc = write_strings(f, P("key"), keys, ns, where, err);
    if (!rc) rc = write_f64(f, P("value"), pt, ns, 0, where, err);
    if (!rc) rc = write_f64(f, P("ci_lo"), lo, ns, 0, where, err);
    if (!rc) rc = write_f64(f, P("ci_hi"), hi, ns, 0, where, err);
#undef P
    free(pt); free(lo); free(hi); free(keys);
    return rc;
}

static int write_all(hid_t f, const char *where, const rv_eval_results_meta *meta, const rv_eval_task_result *tasks,
                     size_t ntasks, rv_err *err) {
    int64_t schema = RV_EVAL_RESULTS_SCHEMA;
    int rc = attr_str(f, "format", RV_EVAL_RESULTS_FORMAT, where, err);
    if (!rc) rc = rv_h5_attr_i64_set(f, "schema_version", &schema, 1, where, err);
    if (!rc) rc = attr_str(f, "model_tag", meta->model_tag, where, err);
    if (!rc) rc = attr_str(f, "model_source", meta->model_source, where, err);
    if (!rc) rc = attr_str(f, "config", meta->config_json ? meta->config_json : "{}", where, err);
    const char **names = rv_xmalloc((ntasks ? ntasks : 1) * sizeof *names);
    for (size_t i = 0; i < ntasks; i++) names[i] = rv_eval_task_name(tasks[i].task);
    if (!rc) rc = attr_strings(f, "tasks", names, ntasks, where, err);
    static const char *const run_dependent[] = {"seconds"};
    if (!rc) rc = attr_strings(f, "run_dependent", run_dependent, 1, where, err);
    if (!rc) rc = rv_h5_group(f, "/tasks", where, err);
    for (size_t i = 0; i < ntasks && !rc; i++) {
        const rv_eval_task_result *r = &tasks[i];
        for (size_t j = 0; j < i; j++)
            if (tasks[j].task == r->task) { rc = rv_fail(err, "%s: task %s given twice", where, names[i]); break; }
        if (rc) break;
        char g[300], gs[320], gm[320];
        snprintf(g, sizeof g, "/tasks/%s", names[i]);
        snprintf(gs, sizeof gs, "%s/samples", g);
        snprintf(gm, sizeof gm, "%s/metrics", g);
        rc = rv_h5_group(f, gs, where, err);
        if (!rc) rc = rv_h5_group(f, gm, where, err);
        if (!rc) {
            hid_t gid = H5Gopen2(f, g, H5P_DEFAULT);
            int64_t ni = (int64_t)r->n;
            rc = gid < 0 ? rv_h5_fail(err, "%s: cannot open group %s", where, g)
                         : attr_str(gid, "family", rv_eval_task_family(r->task), where, err);
            if (!rc) rc = rv_h5_attr_i64_set(gid, "n_items", &ni, 1, where, err);
            if (gid >= 0) H5Gclose(gid);
        }
        if (!rc) rc = write_samples(f, gs, r, where, err);
        if (!rc) rc = write_metrics(f, gm, r, meta, where, err);
    }
    free(names);
    return rc;
}

int rv_eval_results_h5_write(const char *path, const rv_eval_results_meta *meta, const rv_eval_task_result *tasks,
                             size_t ntasks, rv_err *err) {
    char *tmp = rv_xasprintf("%s.tmp-%ld", path, (long)getpid());
    rv_temp_track(tmp); /* removed if a signal ends the process before the rename */
    hid_t f = rv_h5_create(tmp, err);
    if (f < 0) {
        rv_temp_forget(tmp);
        free(tmp);
        return -1;
    }
    int rc = write_all(f, path, meta, tasks, ntasks, err);
    if (H5Fclose(f) < 0 && !rc) rc = rv_h5_fail(err, "%s: closing failed (disk full?)", tmp);
    if (!rc && rename(tmp, path) != 0) rc = rv_fail(err, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
    rv_temp_forget(tmp);
    free(tmp);
    return rc;
}
