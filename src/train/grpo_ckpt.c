#include "train/grpo_ckpt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/sft_ckpt.h"

char *rv_grpo_state_to_json(const rv_grpo_state *s) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "phase", "grpo");
    cJSON_AddNumberToObject(r, "step", (double)s->step);
    cJSON_AddNumberToObject(r, "optim_steps", (double)s->optim_steps);
    cJSON_AddNumberToObject(r, "skipped_total", (double)s->skipped_total);
    cJSON_AddNumberToObject(r, "elapsed_s", s->elapsed_s);
    cJSON_AddNumberToObject(r, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(r, "total_steps", (double)s->total_steps);
    cJSON_AddNumberToObject(r, "prompts_per_step", (double)s->prompts_per_step);
    cJSON_AddNumberToObject(r, "n", (double)s->n);
    cJSON_AddStringToObject(r, "reward", s->reward);
    cJSON_AddStringToObject(r, "loss_agg", s->loss_agg);
    cJSON_AddStringToObject(r, "init", s->init);
    char *out = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    char *copy = rv_xstrdup(out);
    cJSON_free(out);
    return copy;
}

int rv_grpo_state_from_json(const char *where, const char *json, rv_grpo_state *s, rv_err *err) {
    memset(s, 0, sizeof *s);
    cJSON *r = json ? cJSON_Parse(json) : NULL;
    const cJSON *ph = r ? cJSON_GetObjectItemCaseSensitive(r, "phase") : NULL;
    if (!cJSON_IsString(ph) || strcmp(ph->valuestring, "grpo")) {
        cJSON_Delete(r);
        return rv_fail(err, "%s is not a checkpoint of the grpo phase (its training state says another phase)", where);
    }
    const char *need[] = {"step", "optim_steps", "skipped_total", "elapsed_s", "tokens", "total_steps",
                          "prompts_per_step", "n"};
    double v[8];
    for (int i = 0; i < 8; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, need[i]);
        if (!cJSON_IsNumber(x)) {
            cJSON_Delete(r);
            return rv_fail(err, "%s: the GRPO state lacks %s (a damaged checkpoint?)", where, need[i]);
        }
        v[i] = x->valuedouble;
    }
    s->step = (int64_t)v[0];
    s->optim_steps = (int64_t)v[1];
    s->skipped_total = (int64_t)v[2];
    s->elapsed_s = v[3];
    s->tokens = (int64_t)v[4];
    s->total_steps = (int64_t)v[5];
    s->prompts_per_step = (int64_t)v[6];
    s->n = (int64_t)v[7];
    const char *names[3] = {"reward", "loss_agg", "init"};
    char *dst[3] = {s->reward, s->loss_agg, s->init};
    size_t cap[3] = {sizeof s->reward, sizeof s->loss_agg, sizeof s->init};
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, names[i]);
        snprintf(dst[i], cap[i], "%s", cJSON_IsString(x) ? x->valuestring : "");
    }
    cJSON_Delete(r);
    return 0;
}

/* grpo: the newest checkpoint must be a GRPO one; another phase's means a shared run directory. */
static int grpo_accept(rv_ckpt *ck, const char *path, const char *run_dir, rv_err *err) {
    rv_grpo_state st;
    if (rv_grpo_state_from_json(path, rv_ckpt_state_json(ck), &st, err) == 0) return 1;
    return rv_fail_wrap(err, "grpo.resume = auto: %s/checkpoints holds another phase's checkpoints; run GRPO in its own "
                             "run directory (--run) with grpo.init pointing at the SFT run", run_dir);
}

int rv_grpo_find_resume(const char *run_dir, const char *resume, char **path, rv_err *err) {
    return rv_train_find_resume(run_dir, resume, "grpo.resume", grpo_accept, path, err);
}
