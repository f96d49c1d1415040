#include "train/grpo_dump.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "train/reward_service.h"

int rv_grpo_dump(const rv_grpo_dump_in *d, rv_err *err) {
    char *dir = rv_path_joinv(3, d->run_dir, "grpo", "rollouts");
    if (rv_mkdir_p(dir, err)) {
        free(dir);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof name, "step-%08lld.jsonl", (long long)d->step);
    char *path = rv_path_join(dir, name);
    free(dir);
    rv_sb out, text;
    rv_sb_init(&out);
    rv_sb_init(&text);
    int rc = 0;
    for (int g = 0; g < d->N && !rc; g++) {
        rv_sb_clear(&text);
        rc = rv_tokenizer_decode(d->tok, d->resp[g], (size_t)d->rlen[g], true, &text, err);
        if (rc) break;
        rv_sb_putc(&text, 0);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)d->step);
        cJSON_AddNumberToObject(o, "uid", g / d->n);
        cJSON_AddNumberToObject(o, "k", g % d->n);
        cJSON_AddStringToObject(o, "id", d->ids[g / d->n]);
        cJSON_AddStringToObject(o, "response", text.s);
        cJSON_AddNumberToObject(o, "response_tokens", d->rlen[g]);
        cJSON_AddNumberToObject(o, "reward", d->score[g]);
        cJSON_AddStringToObject(o, "flag", d->flag[g] == RV_REWARD_PENALTY    ? "penalty"
                                           : d->flag[g] == RV_REWARD_FALLBACK ? "fallback"
                                                                              : "ok");
        cJSON_AddNumberToObject(o, "advantage", d->adv[g]);
        char *line = cJSON_PrintUnformatted(o);
        rv_sb_puts(&out, line);
        rv_sb_putc(&out, '\n');
        cJSON_free(line);
        cJSON_Delete(o);
    }
    if (!rc) rc = rv_write_atomic(path, out.s ? out.s : "", out.len, err);
    rv_sb_free(&out);
    rv_sb_free(&text);
    free(path);
    return rc;
}
