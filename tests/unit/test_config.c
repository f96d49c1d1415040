#define _DEFAULT_SOURCE /* mkdtemp */
/* Job configuration: defaults, job file, --set, and the errors for unknown/ill-typed keys. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"
#include "core/fsutil.h"

static const char *write_tmp(const char *dir, const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rv_err err;
    if (rv_write_atomic(path, text, strlen(text), &err)) fprintf(stderr, "%s\n", err.msg);
    return path;
}

int main(void) {
    char dir[] = "/tmp/rvcfgXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    rv_config *c = NULL;
    rv_err err;

    /* Defaults only. */
    CHECK(rv_config_load(&c, NULL, NULL, 0, &err) == 0);
    CHECK_STR(rv_cfg_str(c, "data.on_bad_record"), "skip");
    CHECK(rv_cfg_int(c, "run.seed") == 1234);
    CHECK(!rv_cfg_is_set(c, "run.seed"));
    rv_config_free(c);

    /* Job file then --set: --set wins; nested sections become dotted keys. */
    const char *p = write_tmp(dir, "job.json", "{\"run\": {\"seed\": 7}, \"data\": {\"dir\": \"/d\", \"on_bad_record\": \"fail\"},"
                                               " \"log\": {\"progress_interval_s\": 2.5}}");
    const char *sets[] = {"run.seed=9", "data.dir=/other"};
    CHECK(rv_config_load(&c, p, sets, 2, &err) == 0);
    if (c) {
        CHECK(rv_cfg_int(c, "run.seed") == 9);
        CHECK_STR(rv_cfg_str(c, "data.dir"), "/other");
        CHECK_STR(rv_cfg_str(c, "data.on_bad_record"), "fail");
        CHECK(rv_cfg_num(c, "log.progress_interval_s") == 2.5);
        CHECK(rv_cfg_is_set(c, "run.seed"));
        char *json = rv_config_to_json(c);
        CHECK(strstr(json, "\"seed\": 9") != NULL);
        CHECK(strstr(json, "\"progress_interval_s\": 2.5") != NULL);
        CHECK(strstr(json, "\"dir\": \"/other\"") != NULL);
        /* The resolved config loads back to the same values. */
        const char *p2 = write_tmp(dir, "resolved.json", json);
        rv_config *c2 = NULL;
        CHECK(rv_config_load(&c2, p2, NULL, 0, &err) == 0);
        if (c2) { CHECK(rv_cfg_int(c2, "run.seed") == 9); CHECK_STR(rv_cfg_str(c2, "data.dir"), "/other"); rv_config_free(c2); }
        free(json);
        rv_config_free(c);
    }

    /* Unknown key in the file: names the file, the full key path and the closest key. */
    p = write_tmp(dir, "typo.json", "{\"data\": {\"dri\": \"/x\"}}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1);
    CHECK(strstr(err.msg, "typo.json") && strstr(err.msg, "'data.dri'") && strstr(err.msg, "'data.dir'"));
    /* Ill-typed values. */
    p = write_tmp(dir, "type.json", "{\"run\": {\"seed\": \"abc\"}}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1);
    CHECK(strstr(err.msg, "'run.seed'") && strstr(err.msg, "integer") && strstr(err.msg, "abc"));
    p = write_tmp(dir, "frac.json", "{\"run\": {\"seed\": 1.5}}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1 && strstr(err.msg, "integer"));
    p = write_tmp(dir, "enum.json", "{\"data\": {\"on_bad_record\": \"ignore\"}}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1 && strstr(err.msg, "skip|fail") && strstr(err.msg, "ignore"));
    p = write_tmp(dir, "section.json", "{\"data\": 3}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1 && strstr(err.msg, "section"));
    p = write_tmp(dir, "leafobj.json", "{\"run\": {\"seed\": {}}}");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1 && strstr(err.msg, "'run.seed'") && strstr(err.msg, "object"));
    p = write_tmp(dir, "notjson.json", "{\"run\": ");
    CHECK(rv_config_load(&c, p, NULL, 0, &err) == -1 && strstr(err.msg, "notjson.json:1:"));
    /* --set errors. */
    const char *bad1[] = {"run.sed=3"};
    CHECK(rv_config_load(&c, NULL, bad1, 1, &err) == -1 && strstr(err.msg, "'run.seed'"));
    const char *bad2[] = {"run.seed"};
    CHECK(rv_config_load(&c, NULL, bad2, 1, &err) == -1 && strstr(err.msg, "key=value"));
    const char *bad3[] = {"log.progress_interval_s=fast"};
    CHECK(rv_config_load(&c, NULL, bad3, 1, &err) == -1 && strstr(err.msg, "number"));

    /* Edit distance (hand-computed): kitten -> sitting = 3. */
    CHECK(rv_edit_distance("kitten", "sitting") == 3);
    CHECK(rv_edit_distance("", "abc") == 3);
    char *help = rv_config_help("data.");
    CHECK(strstr(help, "data.on_bad_record") && !strstr(help, "run.seed"));
    free(help);
    return check_summary("test_config");
}
