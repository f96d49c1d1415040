/* A LLaVA-format JSON (src/data/instruct/llava_read.h): cells checked, bad ones reported through
 * a skip policy (counted, not logged), the valid ones' tasks inferred and boxes read. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "comm/comm.h"
#include "core/badrec.h"
#include "core/log.h"
#include "data/instruct/llava_read.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_scratch_file(".json", data, size);
    if (!p) return 0;
    rv_log_set_level(RV_LOG_ERROR); /* bad cells are the expected case here */
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    bad.max_logged = 0;
    rv_err err;
    cJSON *cells = NULL;
    if (rv_llava_read(p, &bad, &cells, &err) != 0) return 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cells) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        int task, source;
        if (cJSON_IsString(id)) rv_llava_infer(id->valuestring, &task, &source);
        double *boxes = NULL;
        size_t n = 0;
        rv_llava_cell_boxes(c, &boxes, &n);
        free(boxes);
        const cJSON *conv = cJSON_GetObjectItemCaseSensitive(c, "conversations"), *turn;
        cJSON_ArrayForEach(turn, conv) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(turn, "value");
            float *fb = NULL;
            size_t fn = 0, fcap = 0;
            if (cJSON_IsString(v)) rv_llava_answer_boxes(v->valuestring, &fb, &fn, &fcap);
            free(fb);
        }
    }
    cJSON_Delete(cells);
    return 0;
}
