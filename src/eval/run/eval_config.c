#include "eval/run/eval_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

const char *const rv_eval_test_tasks[8] = {
    "report_generation", "abnormality_classification", "region_grounding", "abnormality_grounding",
    "abnormality_detection", "phrase_grounding", "conversation", "conversation_grounded",
};

int rv_eval_default_max_new(const char *task) {
    /* reports and conversation answers are paragraphs; the others are one sentence (detection may
     * list several boxes at ~14 tokens each) */
    if (!strcmp(task, "report_generation")) return 384;
    if (!strcmp(task, "conversation") || !strcmp(task, "conversation_grounded")) return 256;
    if (!strcmp(task, "abnormality_detection")) return 256;
    return 128;
}

static int parse_tasks(const char *s, rv_eval_cfg *o, rv_err *err) {
    o->ntasks = 0;
    if (!s || !*s || !strcmp(s, "all")) {
        for (int i = 0; i < 8; i++) o->tasks[o->ntasks++] = rv_eval_test_tasks[i];
        return 0;
    }
    bool want[8] = {0};
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        int found = -1;
        for (int i = 0; i < 8; i++)
            if (strlen(rv_eval_test_tasks[i]) == len && !strncmp(rv_eval_test_tasks[i], p, len)) found = i;
        if (found < 0)
            return rv_fail(err, "eval.tasks: '%.*s' is not a test task; use all or a list of report_generation, "
                                "abnormality_classification, region_grounding, abnormality_grounding, "
                                "abnormality_detection, phrase_grounding, conversation, conversation_grounded",
                           (int)len, p);
        want[found] = true;
        if (!e) break;
        p = e + 1;
    }
    for (int i = 0; i < 8; i++)
        if (want[i]) o->tasks[o->ntasks++] = rv_eval_test_tasks[i];
    return 0;
}

int rv_eval_cfg_read(const rv_config *c, const char *run_dir, rv_eval_cfg *o, rv_err *err) {
    memset(o, 0, sizeof *o);
    o->model = rv_cfg_str(c, "eval.model");
    o->tag = rv_cfg_str(c, "eval.tag");
    o->tokenizer = rv_cfg_str(c, "eval.tokenizer");
    if (parse_tasks(rv_cfg_str(c, "eval.tasks"), o, err)) return -1;
    o->from_shards = !strcmp(rv_cfg_str(c, "eval.source"), "shards");
    if (rv_pillow_from_release(rv_cfg_int(c, "data.pillow_resize"), &o->pillow, err)) return -1;
    o->max_pixels = rv_cfg_int(c, "data.max_image_pixels");
    if (o->max_pixels < 0)
        return rv_fail(err, "eval: data.max_image_pixels=%lld must be >= 0 (0 = no pixel budget)", o->max_pixels);
    o->image_mode = rv_cfg_str(c, "eval.image_mode");
    const char *sh = rv_cfg_str(c, "eval.shards");
    o->shards = sh && *sh ? rv_xstrdup(sh) : rv_path_join(run_dir, "shards");
    o->max_samples = rv_cfg_int(c, "eval.max_samples");
    o->batch = (int)rv_cfg_int(c, "eval.batch");
    o->max_new_tokens = (int)rv_cfg_int(c, "eval.max_new_tokens");
    o->temperature = (float)rv_cfg_num(c, "eval.temperature");
    o->top_p = (float)rv_cfg_num(c, "eval.top_p");
    o->top_k = (int)rv_cfg_int(c, "eval.top_k");
    o->seed = (uint64_t)rv_cfg_int(c, "eval.seed");
    o->run_seed = (uint64_t)rv_cfg_int(c, "run.seed");
    o->r1 = rv_cfg_bool(c, "eval.r1");
    o->think_suffix = rv_cfg_bool(c, "eval.think_suffix");
    o->bootstrap = rv_cfg_int(c, "eval.bootstrap_samples");
    o->resume = !strcmp(rv_cfg_str(c, "eval.resume"), "auto");
    o->png_samples = (int)rv_cfg_int(c, "eval.png_samples");
    o->test_kill_after = rv_cfg_int(c, "eval.test_kill_after");
    o->progress_s = rv_cfg_num(c, "log.progress_interval_s");
    o->backend = rv_cfg_str(c, "compute.backend");
    o->threads = (int)rv_cfg_int(c, "compute.threads");
    if (o->max_samples < 0) return rv_fail(err, "eval.max_samples = %lld: use 0 (all) or a positive count", (long long)o->max_samples);
    if (o->batch < 1 || o->batch > 4096) return rv_fail(err, "eval.batch = %d: use 1 to 4096", o->batch);
    if (o->max_new_tokens < 0 || o->max_new_tokens > 1000000)
        return rv_fail(err, "eval.max_new_tokens = %d: use 0 (per-task default) or a positive count", o->max_new_tokens);
    if (!(o->temperature >= 0) || o->temperature > 100) return rv_fail(err, "eval.temperature = %g: use 0 (greedy) to 100", o->temperature);
    if (!(o->top_p > 0) || o->top_p > 1) return rv_fail(err, "eval.top_p = %g: use a value in (0, 1]", o->top_p);
    if (o->top_k < 0) return rv_fail(err, "eval.top_k = %d: use 0 (off) or a positive count", o->top_k);
    if (o->bootstrap < 0 || o->bootstrap > 1000000)
        return rv_fail(err, "eval.bootstrap_samples = %lld: use 0..1000000 (2000 is upstream's)", (long long)o->bootstrap);
    if (o->png_samples < 0 || o->png_samples > 16) return rv_fail(err, "eval.png_samples = %d: use 0 to 16", o->png_samples);
    if (o->threads < 0 || o->threads > 4096) return rv_fail(err, "compute.threads = %d: use 0 (automatic) to 4096", o->threads);
    return 0;
}

void rv_eval_cfg_free(rv_eval_cfg *c) {
    free(c->shards);
    memset(c, 0, sizeof *c);
}
