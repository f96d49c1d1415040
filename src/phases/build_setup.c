#include "phases/build_setup.h"

#include <stdio.h>
#include <string.h>

#include "core/fsutil.h"

int rv_data_max_file_bytes(const rv_config *cfg, size_t *out, rv_err *err) {
    long long v = rv_cfg_int(cfg, "data.max_file_bytes");
    if (v < 1 || (unsigned long long)v > (unsigned long long)RV_READ_FILE_MAX)
        return rv_fail(err, "data.max_file_bytes must be between 1 and %zu (4 GiB, the default; got %lld)",
                       (size_t)RV_READ_FILE_MAX, v);
    *out = (size_t)v;
    return 0;
}

int rv_build_setup(rv_phase_ctx *ctx, rv_reader_ctx *rc, rv_build_opts *o, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    *rc = (rv_reader_ctx){
        .data_dir = ctx->data_dir,
        .comm = ctx->comm,
        .bad = &ctx->bad,
        .report_filter = strcmp(rv_cfg_str(cfg, "data.report_filter"), "rules") ? RV_REPORT_FILTER_NONE
                                                                                  : RV_REPORT_FILTER_RULES,
        .vindr_convert = strcmp(rv_cfg_str(cfg, "data.vindr_convert"), "voi") ? RV_VINDR_MINMAX : RV_VINDR_VOI,
    };
    if (rv_pillow_from_release(rv_cfg_int(cfg, "data.pillow_resize"), &rc->pillow_resize, err) != 0) return -1;
    if (rv_data_max_file_bytes(cfg, &rc->max_file_bytes, err) != 0) return -1;
    rc->max_image_pixels = rv_cfg_int(cfg, "data.max_image_pixels");
    if (rc->max_image_pixels < 0)
        return rv_fail(err, "data.max_image_pixels=%lld must be >= 0 (0 = no pixel budget)", rc->max_image_pixels);
    *o = (rv_build_opts){.seed = (uint64_t)rv_cfg_int(cfg, "run.seed")};
    long long n = rv_cfg_int(cfg, "instruct.chestima_train_n");
    if (n < 0) return rv_fail(err, "instruct.chestima_train_n must be >= 0 (got %lld); 0 keeps every record", n);
    o->chestima_train_n = (size_t)n;
    for (int t = 0; t < RV_TASK_COUNT; t++) {
        char key[96];
        snprintf(key, sizeof key, "instruct.test_max.%s", rv_task_name((rv_task)t));
        long long m = rv_cfg_int(cfg, key);
        if (m < 0) return rv_fail(err, "%s must be >= 0 (got %lld); 0 keeps every record", key, m);
        o->test_max[t] = (size_t)m;
    }
    return 0;
}
