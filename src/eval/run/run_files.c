#include "eval/run/run_files.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "eval/run/box_png.h"
#include "eval/run/output_json.h"
#include "eval/run/results_h5.h"
#include "eval/run/run_info.h"
#include "eval/tasks/aggregate.h"
#include "eval/tasks/metrics_json.h"
#include "io/image_file.h"
#include "io/json.h"

static int png_image(void *ctx, size_t i, rv_image *img, rv_err *err) {
    const rv_eval_item *items = ctx;
    return rv_image_file_read(items[i].img_path, img, NULL, NULL, err);
}

static bool is_grounding_task(const rv_eval_task *t) { return !strcmp(rv_eval_task_family(t), "grounding"); }

int rv_eval_write_task_files(const rv_eval_files *f, const rv_eval_task_output *o, rv_err *err) {
    const char *task = rv_eval_task_name(o->t);
    char *name = rv_xasprintf("%s_%s_output.json", f->tag, task);
    char *out_path = rv_path_join(f->dir, name);
    free(name);
    int rc = rv_eval_output_json_write(out_path, o->t, o->items, o->ans, o->n, f->r1, err);
    rv_eval_tally tally = {.n_records = o->n_questions, .bad = o->failed, .n_bad = o->n_failed,
                           .boot_samples = f->bootstrap, .boot_seed = (long long)f->seed};
    cJSON *m = rv_eval_metrics_json(o->t, o->values, o->n, &tally);
    rv_eval_run_info info = {.model_tag = f->tag, .model_source = f->model_source, .r1 = f->r1};
    rv_eval_run_info_count(o->t, o->ans, o->n, &info);
    rv_eval_metrics_add_run_info(m, o->t, &info);
    name = rv_xasprintf("%s_%s.json", f->tag, task);
    char *met_path = rv_path_join(f->dir, name);
    free(name);
    if (!rc) rc = rv_pyjson_write_file(met_path, m, 2, false, err);
    /* the summary line: the task's main metric with its interval (classification: micro F1) */
    const char *key = rv_eval_stat_key(o->t, 0);
    for (size_t k = 0; k < rv_eval_nstats(o->t); k++)
        if (!strcmp(rv_eval_stat_key(o->t, k), "F1 Score(micro)")) key = rv_eval_stat_key(o->t, k);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "bootstrap"), "ci95"), key);
    if (!rc)
        rv_info0("eval: %-28s %5zu answered %3zu failed %4zu unparsed  %s = %.4f [%.4f, %.4f]  -> %s", task, o->n,
                 o->n_failed, info.n_unparsed, key, cJSON_IsNumber(v) ? v->valuedouble : 0.0,
                 cJSON_GetArraySize(ci) == 2 ? cJSON_GetArrayItem(ci, 0)->valuedouble : 0.0,
                 cJSON_GetArraySize(ci) == 2 ? cJSON_GetArrayItem(ci, 1)->valuedouble : 0.0, met_path);
    cJSON_Delete(m);
    if (!rc && is_grounding_task(o->t) && f->png_samples > 0 && o->n > 0) {
        size_t k = o->n < (size_t)f->png_samples ? o->n : (size_t)f->png_samples;
        name = rv_xasprintf("%s_%s_boxes.png", f->tag, task);
        char *png = rv_path_join(f->dir, name);
        free(name);
        rc = rv_eval_box_png_write(png, o->items + (o->n - k), o->ans + (o->n - k), k, 224, png_image,
                                   (void *)(o->items + (o->n - k)), err);
        free(png);
    }
    free(out_path);
    free(met_path);
    return rc;
}

int rv_eval_write_results(const rv_eval_files *f, const rv_eval_task_outputs *outs, double seconds, rv_err *err) {
    rv_eval_task_result *r = rv_xcalloc(outs->n + 1, sizeof *r);
    for (size_t i = 0; i < outs->n; i++) {
        const rv_eval_task_output *o = &outs->v[i];
        r[i] = (rv_eval_task_result){.task = o->t, .items = o->items, .answers = o->ans, .n = o->n, .values = o->values};
    }
    rv_eval_results_meta meta = {.model_tag = f->tag, .model_source = f->model_source,
                                 .config_json = f->config_json, .boot_samples = f->bootstrap,
                                 .boot_seed = (long long)f->seed};
    char *path = rv_path_join(f->dir, "results.h5");
    int rc = rv_eval_results_h5_write(path, &meta, r, outs->n, err);
    if (!rc) rv_info0("eval: %zu task(s) in %.1f s; per-sample rows and metric tables in %s", outs->n, seconds, path);
    free(path);
    free(r);
    return rc;
}

