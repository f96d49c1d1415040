/* The MIMIC reader (data.md §1.3, §1.4, §10), on the shared MIMIC table (mimic_table.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "data/sources/mimic_table.h"
#include "data/sources/mscxr.h"
#include "data/sources/reader_util.h"
#include "data/sources/report_text.h"
#include "io/json.h"

static bool is_frontal(const char *view) { return strcmp(view, "PA") == 0 || strcmp(view, "AP") == 0; }

static const char *dataset_prefix(rv_task t) {
    switch (t) {
    case RV_TASK_CLASSIFY: return "mimic-labels";
    case RV_TASK_CONV: return "mimic-conv";
    case RV_TASK_GCONV: return "mimic-conv-grounded";
    default: return "mimic";
    }
}

/* Conversation file: a JSON array (the turns are the builder's business, data.md P18). */
static int load_conversation(const rv_reader_ctx *c, const char *dir, const char *dicom, cJSON **out, rv_err *err) {
    char name[4200];
    snprintf(name, sizeof name, "%s.json", dicom);
    char *p = rv_path_join(dir, name);
    rv_err e;
    cJSON *j = rv_json_parse_file(p, &e);
    int rc = 0;
    *out = NULL;
    if (!j) {
        rc = rv_badrec_report(c->bad, err, p, "conversation file unreadable: %s", e.msg);
    } else if (!cJSON_IsArray(j)) {
        rc = rv_badrec_report(c->bad, err, p, "a conversation must be a JSON array of turns");
        cJSON_Delete(j);
    } else {
        *out = j;
    }
    free(p);
    return rc;
}

int rv_read_mimic(const rv_reader_ctx *c, const rv_mimic_query *q, rv_dataset **out, rv_err *err) {
    *out = NULL;
    const char *split_value = rv_mimic_split_value(q->split);
    if (!split_value)
        return rv_fail(err, "MIMIC-CXR: split '%s' is not one of train, validate (valid), test",
                       q->split ? q->split : "(null)");
    if (q->task != RV_TASK_REPORT && q->task != RV_TASK_CLASSIFY && q->task != RV_TASK_CONV && q->task != RV_TASK_GCONV)
        return rv_fail(err, "MIMIC-CXR: task %s is not built from MIMIC (use report_generation, "
                            "abnormality_classification, conversation or conversation_grounded)",
                       rv_task_name(q->task));

    rv_mimic_table t;
    if (rv_mimic_table_load(c, split_value, &t, err) < 0) return -1;

    char name[128];
    snprintf(name, sizeof name, "%s-%s", dataset_prefix(q->task), q->split);
    rv_dataset *d = rv_dataset_new(name, q->task);
    d->pathologies = true; /* every MIMIC block carries the 13 names (data.md §9.2) */

    rv_nameset reports = {0}, convs = {0};
    rv_mscxr_index ms = {0};
    bool use_files = false, want_text = q->task != RV_TASK_CLASSIFY;
    char *conv_dir = NULL, *rep_dir = NULL;
    size_t dropped_text = 0;
    int rc = -1;

    if (q->filtered_reports) {
        rep_dir = rv_path_join(t.dir, "filtered_reports");
        if (rv_is_dir(rep_dir)) {
            if (rv_nameset_load(&reports, rep_dir, ".txt", err) < 0) goto out;
            use_files = true;
        } else {
            rv_warn("%s: no such directory; %s uses the raw reports.csv text%s", rep_dir, name,
                    c->report_filter == RV_REPORT_FILTER_RULES ? " through the offline rule filter" : " unfiltered");
        }
    }
    if (q->task == RV_TASK_CONV || q->task == RV_TASK_GCONV) {
        conv_dir = rv_path_joinv(4, t.dir, "conversations", q->conv_split ? q->conv_split : q->split,
                                 q->task == RV_TASK_CONV ? "standard" : "grounding");
        if (!rv_is_dir(conv_dir)) {
            rv_warn("%s: no conversations; %s is empty (conversations come from the LLM step, data.md §11.2)",
                    conv_dir, name);
            rc = 0;
            goto out;
        }
        if (rv_nameset_load(&convs, conv_dir, ".json", err) < 0) goto out;
    }
    if (q->task == RV_TASK_GCONV) {
        bool found;
        if (rv_mscxr_load(c, &ms, &found, err) < 0) goto out;
        if (!found) {
            rv_warn("MS-CXR is absent; %s (grounded conversations) is empty", name);
            rc = 0;
            goto out;
        }
    }

    for (size_t i = 0; i < t.n; i++) {
        const rv_mimic_row *r = &t.rows[i];
        char study[32];
        snprintf(study, sizeof study, "%lld", (long long)r->study_id);
        if (q->only_frontal && !is_frontal(r->view)) continue;
        if (use_files && !rv_nameset_has(&reports, study)) continue;
        if (conv_dir && !rv_nameset_has(&convs, r->dicom_id)) continue;
        const rv_mscxr_image *msi = NULL;
        if (q->task == RV_TASK_GCONV && !(msi = rv_mscxr_find(&ms, r->dicom_id))) continue;

        char *text = NULL;
        if (want_text) {
            if (use_files) {
                char fname[64];
                snprintf(fname, sizeof fname, "%s.txt", study);
                char *p = rv_path_join(rep_dir, fname);
                rv_err e;
                int trc = rv_read_text_py(p, &text, &e);
                if (trc < 0) {
                    int brc = rv_badrec_report(c->bad, err, p, "filtered report unreadable: %s", e.msg);
                    free(p);
                    if (brc < 0) goto out;
                    continue;
                }
                free(p);
            } else {
                text = rv_report_apply_filter(c->report_filter, rv_mimic_raw_text(&t, r));
                if (!text) {
                    dropped_text++;
                    continue;
                }
            }
        }
        cJSON *conv = NULL;
        if (conv_dir) {
            if (load_conversation(c, conv_dir, r->dicom_id, &conv, err) < 0) {
                free(text);
                goto out;
            }
            if (!conv) {
                free(text);
                continue;
            }
        }
        rv_item *it = rv_dataset_push(d);
        it->image = rv_mimic_image_path(&t, r);
        it->id = rv_xstrdup(r->dicom_id);
        it->text = text;
        it->conversation = conv;
        rv_mimic_add_labels(it, r); /* aligned with the row (P3 fixed) */
        it->has_labels_field = q->task == RV_TASK_CLASSIFY;
        if (msi) /* the image's MS-CXR sentences and boxes, one region per box, file order */
            for (size_t k = 0; k < msi->n; k++) rv_item_add_region(it, msi->e[k].observation, msi->e[k].box);
    }
    if (dropped_text)
        rv_info("%s: %zu records without report text after %s were left out", name, dropped_text,
                c->report_filter == RV_REPORT_FILTER_RULES ? "the rule filter" : "section extraction");
    rc = 0;
out:
    free(conv_dir);
    free(rep_dir);
    rv_nameset_free(&reports);
    rv_nameset_free(&convs);
    rv_mscxr_index_free(&ms);
    rv_mimic_table_free(&t);
    if (rc < 0) {
        rv_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
