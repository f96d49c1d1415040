/* io/json.h: the JSON document, all-keys and JSON-lines parsers, and the Python-style writer
 * on whatever parsed (config files, score input, metrics). */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "core/strbuf.h"
#include "fuzz.h"
#include "io/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    const char *t = (const char *)data;
    cJSON *a = rv_json_parse("fuzz.json", t, size, &err);
    if (a) {
        rv_sb out;
        rv_sb_init(&out);
        rv_pyjson_dump(&out, a, 2, true);
        rv_sb_free(&out);
        cJSON_Delete(a);
    }
    cJSON *b = rv_json_parse_all_keys("fuzz.json", t, size, &err);
    cJSON_Delete(b);
    cJSON *c = rv_json_parse_lines("fuzz.jsonl", t, size, &err);
    cJSON_Delete(c);
    return 0;
}
