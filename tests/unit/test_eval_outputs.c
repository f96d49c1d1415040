/* The eval phase's output writers (src/eval/run/): the upstream-layout <tag>_<task>_output.json
 * records of every family (exact bytes of Python's json.dump(indent=2), key order, r1's
 * full_output, conversation turns) and their reading back through the score phase's record
 * reader to the same scores; the run info of the metrics file (unparsed counts per family
 * rule, the conversation judge note); results.h5 read back with the HDF5 C API; the grounding
 * figure's pixels (true box light green, predicted box red, 2 px, clipped). Expected values are
 * written out by hand next to each check. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/check.h"
#include "core/fsutil.h"
#include "eval/run/box_png.h"
#include "eval/run/output_json.h"
#include "eval/run/results_h5.h"
#include "eval/run/run_info.h"
#include "eval/tasks/aggregate.h"
#include "eval/tasks/metrics_json.h"
#include "eval/tasks/record_json.h"
#include "io/h5util.h"
#include "io/json.h"

static char tmpdir[256];

static char *file_text(const char *path) {
    char *d = NULL;
    size_t len = 0;
    rv_err err = {0};
    if (rv_read_file(path, &d, &len, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    return d;
}

/* Writes the records to a file and checks its bytes against want. */
static void check_written(const char *task, const rv_eval_item *items, const rv_eval_answer *ans, size_t n, bool r1,
                          const char *want) {
    char path[300];
    snprintf(path, sizeof path, "%s/m_%s_output.json", tmpdir, task);
    rv_err err = {0};
    const rv_eval_task *t = rv_eval_task_find(task);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(rv_eval_output_json_write(path, t, items, ans, n, r1, &err) == 0);
    char *got = file_text(path);
    CHECK_STR(got, want);
    free(got);
}

/* Every record of the written JSON, read back with the score phase's reader (raw answers),
 * scores exactly as the in-memory items do. */
static void check_rescore(const char *task, const rv_eval_item *items, const rv_eval_answer *ans, size_t n) {
    const rv_eval_task *t = rv_eval_task_find(task);
    cJSON *arr = rv_eval_output_json(t, items, ans, n, false);
    size_t nv = rv_eval_nvalues(t);
    rv_eval_scratch s = {0};
    for (size_t i = 0; i < n; i++) {
        rv_eval_record r;
        const char *why = NULL;
        CHECK(rv_eval_record_from_json(t, cJSON_GetArrayItem(arr, (int)i), RV_ANSWER_RAW, &r, &why) == 0);
        const char *lab[8];
        for (size_t k = 0; k < items[i].nlabels && k < 8; k++) lab[k] = items[i].labels[k];
        rv_eval_input mem = {.answer = {ans[i].output, strlen(ans[i].output)},
                             .ref = {items[i].answer, strlen(items[i].answer)},
                             .labels = lab, .nlabels = items[i].nlabels,
                             .boxes = items[i].boxes, .nboxes = items[i].nboxes};
        double a[32], b[32];
        rv_eval_score(t, &r.in, NULL, &s, a);
        rv_eval_score(t, &mem, NULL, &s, b);
        CHECK(memcmp(a, b, nv * sizeof *a) == 0);
        rv_eval_record_free(&r);
    }
    rv_eval_scratch_free(&s);
    cJSON_Delete(arr);
}

static char *LAB_CARDIO[] = {"Cardiomegaly"};
static char *LAB_CLS[] = {"Pleural Effusion", "Edema"};
static rv_eval_box BOX1[] = {{0.1, 0.2, 0.5, 0.6}};
static rv_eval_box BOX2[] = {{0.25, 0.0, 1.0, 0.5}};

static void test_report(void) {
    rv_eval_item it = {.idx = 3, .id = "report_generation_3", .img_path = "/d/a.jpg", .shard_sample = -1,
                       .instr = "<image>\nWrite a report.", .answer = "No acute findings.",
                       .labels = LAB_CARDIO, .nlabels = 1, .has_labels = 1};
    rv_eval_answer a = {.full_output = "The heart is normal.", .output = "The heart is normal.", .n_tokens = 7,
                        .stopped = 1, .found = 1};
    /* python3 -c 'import json; print(json.dumps([{...}], indent=2))' with the keys in this order */
    check_written("report_generation", &it, &a, 1, false,
                  "[\n  {\n    \"output\": \"The heart is normal.\",\n    \"instr\": \"<image>\\nWrite a report.\",\n"
                  "    \"answer\": \"No acute findings.\",\n    \"id\": \"report_generation_3\",\n    \"idx\": 3,\n"
                  "    \"img_path\": \"/d/a.jpg\",\n    \"labels\": [\n      \"Cardiomegaly\"\n    ],\n"
                  "    \"txt\": \"No acute findings.\",\n    \"n_tokens\": 7,\n    \"stopped\": true\n  }\n]\n");
    /* r1: full_output first; ensure_ascii writes é as \u00e9; no labels key without has_labels */
    rv_eval_item it2 = it;
    it2.has_labels = 0;
    rv_eval_answer a2 = {.full_output = "<think>x</think> Caf\xc3\xa9.", .output = "Caf\xc3\xa9.", .n_tokens = 12,
                         .stopped = 0, .found = 1};
    check_written("report_generation", &it2, &a2, 1, true,
                  "[\n  {\n    \"full_output\": \"<think>x</think> Caf\\u00e9.\",\n    \"output\": \"Caf\\u00e9.\",\n"
                  "    \"instr\": \"<image>\\nWrite a report.\",\n"
                  "    \"answer\": \"No acute findings.\",\n    \"id\": \"report_generation_3\",\n    \"idx\": 3,\n"
                  "    \"img_path\": \"/d/a.jpg\",\n"
                  "    \"txt\": \"No acute findings.\",\n    \"n_tokens\": 12,\n    \"stopped\": false\n  }\n]\n");
    check_rescore("report_generation", &it, &a, 1);
}

static void test_classification_grounding_conversation(void) {
    rv_eval_item c = {.idx = 0, .id = "abnormality_classification_0", .img_path = "/d/c.jpg", .shard_sample = -1,
                      .instr = "<image>\nList the findings.", .answer = "Pleural Effusion, Edema",
                      .labels = LAB_CLS, .nlabels = 2, .has_labels = 1};
    rv_eval_answer ca = {.output = "edema", .n_tokens = 3, .stopped = 1, .found = 1};
    check_written("abnormality_classification", &c, &ca, 1, false,
                  "[\n  {\n    \"output\": \"edema\",\n    \"instr\": \"<image>\\nList the findings.\",\n"
                  "    \"answer\": \"Pleural Effusion, Edema\",\n    \"id\": \"abnormality_classification_0\",\n"
                  "    \"idx\": 0,\n    \"img_path\": \"/d/c.jpg\",\n    \"labels\": [\n      \"Pleural Effusion\",\n"
                  "      \"Edema\"\n    ],\n    \"n_tokens\": 3,\n    \"stopped\": true\n  }\n]\n");
    check_rescore("abnormality_classification", &c, &ca, 1);

    /* grounding: boxes as lists of 4 floats in repr form (1.0, 0.0), no labels key */
    rv_eval_item g = {.idx = 5, .id = "region_grounding_5", .img_path = "/d/g.jpg", .shard_sample = -1,
                      .instr = "<image>\nWhere is the left lung?", .answer = "[0.25, 0.0, 1.0, 0.5]",
                      .boxes = BOX2, .nboxes = 1};
    rv_eval_answer ga = {.output = "[0.25, 0.1, 0.9, 0.5]", .n_tokens = 15, .stopped = 1, .found = 1};
    check_written("region_grounding", &g, &ga, 1, false,
                  "[\n  {\n    \"output\": \"[0.25, 0.1, 0.9, 0.5]\",\n    \"instr\": \"<image>\\nWhere is the left lung?\",\n"
                  "    \"answer\": \"[0.25, 0.0, 1.0, 0.5]\",\n    \"id\": \"region_grounding_5\",\n    \"idx\": 5,\n"
                  "    \"img_path\": \"/d/g.jpg\",\n    \"boxes\": [\n      [\n        0.25,\n        0.0,\n"
                  "        1.0,\n        0.5\n      ]\n    ],\n    \"n_tokens\": 15,\n    \"stopped\": true\n  }\n]\n");
    check_rescore("region_grounding", &g, &ga, 1);

    /* a conversation turn: txt = the turn's reference, then turn */
    rv_eval_item v = {.idx = 2, .turn = 1, .id = "conversation_2", .img_path = "/d/v.jpg", .shard_sample = -1,
                      .instr = "Is there an effusion?", .answer = "Yes, on the left."};
    rv_eval_answer va = {.output = "Yes.", .n_tokens = 3, .stopped = 1, .found = 1};
    check_written("conversation", &v, &va, 1, false,
                  "[\n  {\n    \"output\": \"Yes.\",\n    \"instr\": \"Is there an effusion?\",\n"
                  "    \"answer\": \"Yes, on the left.\",\n    \"id\": \"conversation_2\",\n    \"idx\": 2,\n"
                  "    \"img_path\": \"/d/v.jpg\",\n    \"txt\": \"Yes, on the left.\",\n    \"turn\": 1,\n"
                  "    \"n_tokens\": 3,\n    \"stopped\": true\n  }\n]\n");
    check_rescore("conversation", &v, &va, 1);
    CHECK(rv_eval_task_is_conversation(rv_eval_task_find("conversation_grounded")));
    CHECK(!rv_eval_task_is_conversation(rv_eval_task_find("report_generation")));
}

static void test_run_info(void) {
    const rv_eval_task *g = rv_eval_task_find("phrase_grounding"), *c = rv_eval_task_find("abnormality_classification"),
                       *r = rv_eval_task_find("report_generation"), *v = rv_eval_task_find("conversation_grounded");
    /* grounding: "[0.1, 0.2, 0.3, 0.4]" has a box; "[ 0.1, 0.2, 0.3, 0.4]" does not (no space
     * after '[' in upstream's regex); "" none -> 2 unparsed */
    rv_eval_answer ga[3] = {{.output = "[0.1, 0.2, 0.3, 0.4]", .n_tokens = 10, .found = 1},
                            {.output = "[ 0.1, 0.2, 0.3, 0.4]", .n_tokens = 11, .found = 0},
                            {.output = "", .n_tokens = 1, .found = 0}};
    CHECK(rv_eval_count_unparsed(g, ga, 3) == 2);
    rv_eval_run_info info = {.model_tag = "demo", .model_source = "RUN/ckpt/step-10", .r1 = true};
    rv_eval_run_info_count(g, ga, 3, &info);
    CHECK(info.n_items == 3 && info.n_unparsed == 2);
    CHECK(info.n_no_final_answer == 2);     /* found == 0 twice */
    CHECK(info.generated_tokens == 22);     /* 10 + 11 + 1 */
    /* classification: "cardiomegaly" names a label, "nothing seen" none */
    rv_eval_answer cla[2] = {{.output = "Cardiomegaly."}, {.output = "nothing seen"}};
    CHECK(rv_eval_count_unparsed(c, cla, 2) == 1);
    /* report: only an empty / all-whitespace answer is unparsed */
    rv_eval_answer ra[2] = {{.output = " \n\t"}, {.output = "."}};
    CHECK(rv_eval_count_unparsed(r, ra, 2) == 1);

    /* the metrics document: score phase's keys, then "eval"; the judge note for conversations */
    double vals[2][32];
    rv_eval_scratch s = {0};
    rv_eval_input in[2] = {{.answer = {"a b", 3}, .ref = {"a b c", 5}}, {.answer = {"x", 1}, .ref = {"y", 1}}};
    for (int i = 0; i < 2; i++) rv_eval_score(v, &in[i], NULL, &s, vals[i]);
    double flat[64];
    size_t nv = rv_eval_nvalues(v);
    memcpy(flat, vals[0], nv * sizeof(double));
    memcpy(flat + nv, vals[1], nv * sizeof(double));
    rv_eval_tally tally = {.n_records = 2, .boot_samples = 0};
    cJSON *m = rv_eval_metrics_json(v, flat, 2, &tally);
    rv_eval_run_info vi = {.model_tag = "demo", .n_items = 2, .generated_tokens = 5};
    rv_eval_metrics_add_run_info(m, v, &vi);
    CHECK_STR(cJSON_GetArrayItem(m, 0)->string, "blue");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "eval");
    CHECK(e != NULL && e == cJSON_GetArrayItem(m, cJSON_GetArraySize(m) - 1));
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "model")->valuestring, "demo");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "n_no_final_answer"))); /* not r1 */
    CHECK(cJSON_GetObjectItemCaseSensitive(e, "generated_tokens")->valuedouble == 5);
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(m, "unavailable");
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(un, "judge_score")));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(un, "bertscore"))); /* the report family's own */
    cJSON_Delete(m);
    m = rv_eval_metrics_json(r, flat, 2, &tally);
    rv_eval_metrics_add_run_info(m, r, &vi);
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "unavailable"), "judge_score") == NULL);
    cJSON_Delete(m);
    rv_eval_scratch_free(&s);
}

static void test_value_names(void) {
    const rv_eval_task *r = rv_eval_task_find("report_generation"), *c = rv_eval_task_find("abnormality_classification"),
                       *g = rv_eval_task_find("object_grounding");
    CHECK(rv_eval_nvalues(r) == 25); /* 18 text-metric values + 7 neural (issue J) */
    CHECK_STR(rv_eval_value_name(r, 10), "bleu4");
    CHECK_STR(rv_eval_value_name(r, 14), "ciderd");
    CHECK_STR(rv_eval_value_name(r, 15), "google_bleu");
    CHECK_STR(rv_eval_value_name(r, 18), "bertscore");
    CHECK_STR(rv_eval_value_name(r, 24), "radcliq");
    CHECK(rv_eval_value_name(r, 25) == NULL);
    CHECK_STR(rv_eval_value_name(c, 1), "pred_bits");
    CHECK_STR(rv_eval_value_name(g, 0), "ap");
    CHECK_STR(rv_eval_value_name(g, 4), "n_unparsable_boxes");
    /* names are distinct within a task */
    for (size_t i = 0; i < rv_eval_task_count(); i++) {
        const rv_eval_task *t = rv_eval_task_at(i);
        for (size_t a = 0; a < rv_eval_nvalues(t); a++)
            for (size_t b = a + 1; b < rv_eval_nvalues(t); b++)
                CHECK(strcmp(rv_eval_value_name(t, a), rv_eval_value_name(t, b)) != 0);
    }
}

/* ---- results.h5 ---- */
static char *read_str_at(hid_t f, const char *name, size_t i) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    char **v = calloc(n ? n : 1, sizeof *v);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *out = NULL;
    if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0 && i < n) out = strdup(v[i]);
    H5Dvlen_reclaim(t, sp, H5P_DEFAULT, v);
    free(v);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    return out;
}

/* A scalar variable-length string attribute. */
static char *attr_vstr(hid_t obj, const char *name) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *v = NULL, *out = NULL;
    if (H5Tis_variable_str(ft) > 0 && H5Aread(a, ft, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int read_f64(hid_t f, const char *name, double *out, size_t cap, hsize_t dims[2]) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    dims[0] = dims[1] = 1;
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    int rc = (size_t)(dims[0] * (rank == 2 ? dims[1] : 1)) <= cap ? (int)H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
    H5Sclose(sp);
    H5Dclose(d);
    return rc < 0 ? -1 : rank;
}

static void test_results_h5(void) {
    const rv_eval_task *g = rv_eval_task_find("abnormality_grounding"), *c = rv_eval_task_find("abnormality_classification");
    rv_eval_item gi[2] = {{.idx = 0, .id = "g0", .img_path = "/d/0.jpg", .instr = "q0", .answer = "[0.1, 0.2, 0.5, 0.6]",
                           .boxes = BOX1, .nboxes = 1},
                          {.idx = 1, .id = "g1", .img_path = "/d/1.jpg", .instr = "q1", .answer = "[0.25, 0.0, 1.0, 0.5]",
                           .boxes = BOX2, .nboxes = 1}};
    /* sample 0: the exact box (AP 1, IoU 1) and a second box; sample 1: no box (AP 0, no pairs) */
    rv_eval_answer ga[2] = {{.full_output = "f0", .output = "[0.1, 0.2, 0.5, 0.6] and [0.7, 0.7, 0.8, 0.8]",
                             .n_tokens = 20, .stopped = 1, .found = 1, .prompt_tokens = 100, .seconds = 0.5},
                            {.full_output = "f1", .output = "none", .n_tokens = 4, .stopped = 0, .found = 1,
                             .prompt_tokens = 90, .seconds = 0.25}};
    size_t nvg = rv_eval_nvalues(g), nvc = rv_eval_nvalues(c);
    double gv[2 * 8], cv[8];
    rv_eval_scratch s = {0};
    for (int i = 0; i < 2; i++) {
        rv_eval_input in = {.answer = {ga[i].output, strlen(ga[i].output)}, .boxes = gi[i].boxes, .nboxes = 1};
        rv_eval_score(g, &in, NULL, &s, gv + i * nvg);
    }
    rv_eval_item ci = {.idx = 7, .turn = 0, .id = "c7", .instr = "list", .answer = "Edema",
                       .labels = LAB_CLS, .nlabels = 2, .has_labels = 1};
    rv_eval_answer ca = {.output = "edema and cardiomegaly", .n_tokens = 5, .stopped = 1, .found = 1};
    const char *lab[2] = {LAB_CLS[0], LAB_CLS[1]};
    rv_eval_input cin = {.answer = {ca.output, strlen(ca.output)}, .labels = lab, .nlabels = 2};
    rv_eval_score(c, &cin, NULL, &s, cv);
    rv_eval_scratch_free(&s);
    rv_eval_task_result res[2] = {{.task = g, .items = gi, .answers = ga, .n = 2, .values = gv},
                                  {.task = c, .items = &ci, .answers = &ca, .n = 1, .values = cv}};
    rv_eval_results_meta meta = {.model_tag = "demo", .model_source = "/m", .config_json = "{\"eval\": {}}",
                                 .boot_samples = 50, .boot_seed = 3};
    char path[300];
    snprintf(path, sizeof path, "%s/results.h5", tmpdir);
    rv_err err = {0};
    CHECK(rv_eval_results_h5_write(path, &meta, res, 2, &err) == 0);
    if (err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0); /* renamed into place */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f < 0) return;
    int64_t ver = 0;
    char *fmt = attr_vstr(f, "format");
    CHECK_STR(fmt, "radvlm-hpc eval results");
    free(fmt);
    CHECK(rv_h5_attr_i64_get(f, "schema_version", &ver, 1, path, &err) == 0 && ver == 1);
    char *tag = attr_vstr(f, "model_tag");
    CHECK_STR(tag, "demo");
    free(tag);
    tag = attr_vstr(f, "config");
    CHECK_STR(tag, "{\"eval\": {}}");
    free(tag);
    hid_t tg = H5Gopen2(f, "/tasks/abnormality_classification", H5P_DEFAULT);
    tag = attr_vstr(tg, "family");
    CHECK_STR(tag, "classification");
    free(tag);
    int64_t nit = 0;
    CHECK(rv_h5_attr_i64_get(tg, "n_items", &nit, 1, path, &err) == 0 && nit == 1);
    H5Gclose(tg);
    char *s1 = read_str_at(f, "/tasks/abnormality_grounding/samples/output", 1);
    CHECK_STR(s1, "none");
    free(s1);
    s1 = read_str_at(f, "/tasks/abnormality_grounding/samples/full_output", 0);
    CHECK_STR(s1, "f0");
    free(s1);
    s1 = read_str_at(f, "/tasks/abnormality_grounding/samples/reference", 1);
    CHECK_STR(s1, "[0.25, 0.0, 1.0, 0.5]");
    free(s1);
    s1 = read_str_at(f, "/tasks/abnormality_classification/samples/labels", 0);
    CHECK_STR(s1, "Pleural Effusion\nEdema");
    free(s1);
    /* parsed with upstream's substring rule, in label order: cardiomegaly (1) before edema (3) */
    s1 = read_str_at(f, "/tasks/abnormality_classification/samples/parsed_labels", 0);
    CHECK_STR(s1, "cardiomegaly\nedema");
    free(s1);
    s1 = read_str_at(f, "/tasks/abnormality_classification/samples/task", 0);
    CHECK_STR(s1, "abnormality_classification");
    free(s1);
    int64_t i64[8] = {0};
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_grounding/samples/pred_box_offsets", H5T_NATIVE_INT64, 0, 3, i64, path, &err) == 0);
    CHECK(i64[0] == 0 && i64[1] == 2 && i64[2] == 2); /* 2 boxes parsed in sample 0, none in 1 */
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_grounding/samples/n_tokens", H5T_NATIVE_INT64, 0, 2, i64, path, &err) == 0);
    CHECK(i64[0] == 20 && i64[1] == 4);
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_grounding/samples/prompt_tokens", H5T_NATIVE_INT64, 0, 2, i64, path, &err) == 0);
    CHECK(i64[0] == 100 && i64[1] == 90);
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_classification/samples/idx", H5T_NATIVE_INT64, 0, 1, i64, path, &err) == 0);
    CHECK(i64[0] == 7);
    int8_t st[2] = {9, 9};
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_grounding/samples/stopped", H5T_NATIVE_INT8, 0, 2, st, path, &err) == 0);
    CHECK(st[0] == 1 && st[1] == 0);
    double buf[64];
    hsize_t dims[2];
    CHECK(read_f64(f, "/tasks/abnormality_grounding/samples/pred_boxes", buf, 64, dims) == 2);
    CHECK(dims[0] == 2 && dims[1] == 4);
    CHECK(buf[0] == 0.1 && buf[3] == 0.6 && buf[4] == 0.7 && buf[7] == 0.8);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/samples/ref_boxes", buf, 64, dims) == 2);
    CHECK(dims[0] == 2 && buf[4] == 0.25 && buf[6] == 1.0);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/samples/seconds", buf, 64, dims) == 1);
    CHECK(buf[0] == 0.5 && buf[1] == 0.25);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/samples/scores", buf, 64, dims) == 2);
    CHECK(dims[0] == 2 && dims[1] == nvg && memcmp(buf, gv, 2 * nvg * sizeof(double)) == 0);
    CHECK(read_f64(f, "/tasks/abnormality_classification/samples/scores", buf, 64, dims) == 2);
    CHECK(dims[0] == 1 && dims[1] == nvc && memcmp(buf, cv, nvc * sizeof(double)) == 0);
    /* the value names attribute */
    hid_t d = H5Dopen2(f, "/tasks/abnormality_grounding/samples/scores", H5P_DEFAULT);
    hid_t a = H5Aopen(d, "value_names", H5P_DEFAULT);
    hid_t asp = H5Aget_space(a);
    hsize_t na = 0;
    H5Sget_simple_extent_dims(asp, &na, NULL);
    CHECK(na == nvg);
    char *names[8] = {0};
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    CHECK(na <= 8 && H5Aread(a, t, names) >= 0);
    CHECK_STR(names[0], "ap");
    CHECK_STR(names[2], "iou_pairs");
    H5Dvlen_reclaim(t, asp, H5P_DEFAULT, names);
    H5Tclose(t); H5Sclose(asp); H5Aclose(a); H5Dclose(d);
    /* metrics: mAP = (1 + 0) / 2 (sample 0: the first prediction is the TP, recall 1 at
     * precision 1; the second FP comes after it); avg_iou = (1 + 0) / 2 pairs of sample 0 */
    s1 = read_str_at(f, "/tasks/abnormality_grounding/metrics/key", 0);
    CHECK_STR(s1, "mAP_0.5");
    free(s1);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/metrics/value", buf, 64, dims) == 1);
    CHECK(dims[0] == 2);
    CHECK_NEAR(buf[0], 0.5, 1e-15);
    CHECK_NEAR(buf[1], 0.5, 1e-15);
    double lo[2], hi[2];
    CHECK(read_f64(f, "/tasks/abnormality_grounding/metrics/ci_lo", lo, 2, dims) == 1);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/metrics/ci_hi", hi, 2, dims) == 1);
    double wlo[2], whi[2];
    rv_eval_bootstrap(g, gv, 2, 50, 3, wlo, whi);
    CHECK(lo[0] == wlo[0] && hi[0] == whi[0] && lo[0] <= 0.5 && hi[0] >= 0.5);
    /* classification: F1 of the one record = 2*1 / (2*1 + 1 + 1) = 0.5 micro */
    CHECK(read_f64(f, "/tasks/abnormality_classification/metrics/value", buf, 64, dims) == 1);
    CHECK(dims[0] == 19);
    CHECK_NEAR(buf[5], 0.5, 1e-15);
    H5Fclose(f);

    /* an empty task: zero rows, NaN metrics */
    rv_eval_task_result empty = {.task = g, .n = 0};
    CHECK(rv_eval_results_h5_write(path, &meta, &empty, 1, &err) == 0);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(read_f64(f, "/tasks/abnormality_grounding/metrics/value", buf, 64, dims) == 1);
    CHECK(isnan(buf[0]) && isnan(buf[1]));
    CHECK(rv_h5_read_rows(f, "/tasks/abnormality_grounding/samples/pred_box_offsets", H5T_NATIVE_INT64, 0, 1, i64, path, &err) == 0);
    CHECK(i64[0] == 0);
    H5Fclose(f);
    /* a task twice is refused */
    rv_eval_task_result twice[2] = {empty, empty};
    CHECK(rv_eval_results_h5_write(path, &meta, twice, 2, &err) != 0);
    CHECK(strstr(err.msg, "given twice") != NULL);
}

/* ---- the box figure ---- */
static int grey_image(void *ctx, size_t i, rv_image *img, rv_err *err) {
    const int *fail_at = ctx;
    if ((int)i == *fail_at) return rv_fail(err, "no such image");
    if (rv_image_alloc(img, 100, 100, 8, err)) return -1;
    memset(img->u8, 100, 100 * 100);
    return 0;
}

static const uint8_t *px(const uint8_t *rgb, int W, int x, int y) { return rgb + ((size_t)y * W + x) * 3; }

static bool is(const uint8_t *p, int r, int g, int b) { return p[0] == r && p[1] == g && p[2] == b; }

static void test_box_png(void) {
    size_t first, count;
    rv_eval_box_png_pick(40, &first, &count);
    CHECK(first == 24 && count == 16); /* the last 16, as upstream */
    rv_eval_box_png_pick(3, &first, &count);
    CHECK(first == 0 && count == 3);
    /* one 100x100 image in a 100-px cell (scale 1) at (4, 4): true box [0.1, 0.2, 0.5, 0.6] ->
     * x 10..49, y 20..59; predicted [0.6, 0.6, 1.2, 0.9] -> x 60..99 (clipped), y 60..89 */
    rv_eval_item it = {.id = "g", .boxes = BOX1, .nboxes = 1};
    rv_eval_answer an = {.output = "[0.6, 0.6, 1.2, 0.9]"};
    int fail_at = -1;
    uint8_t *rgb = NULL;
    int W = 0, H = 0;
    rv_err err = {0};
    CHECK(rv_eval_box_grid_render(&it, &an, 1, 100, grey_image, &fail_at, &rgb, &W, &H, &err) == 0);
    CHECK(W == 108 && H == 108); /* 4 + 100 + 4 */
    if (!rgb) return;
    const int O = RV_EVAL_BOX_PNG_GAP;
    CHECK(is(px(rgb, W, 0, 0), 32, 32, 32));                  /* background */
    CHECK(is(px(rgb, W, O + 5, O + 5), 100, 100, 100));      /* image, grey -> RGB */
    CHECK(is(px(rgb, W, O + 10, O + 40), 144, 238, 144));    /* left edge of the true box, 2 px */
    CHECK(is(px(rgb, W, O + 11, O + 40), 144, 238, 144));
    CHECK(is(px(rgb, W, O + 12, O + 40), 100, 100, 100));    /* inside */
    CHECK(is(px(rgb, W, O + 9, O + 40), 100, 100, 100));     /* outside */
    CHECK(is(px(rgb, W, O + 30, O + 20), 144, 238, 144));    /* top edge */
    CHECK(is(px(rgb, W, O + 30, O + 59), 144, 238, 144));    /* bottom edge (inclusive) */
    CHECK(is(px(rgb, W, O + 30, O + 60), 100, 100, 100));
    CHECK(is(px(rgb, W, O + 60, O + 75), 255, 0, 0));        /* predicted box, left edge */
    CHECK(is(px(rgb, W, O + 99, O + 75), 255, 0, 0));        /* right edge clipped to the image */
    CHECK(is(px(rgb, W, O + 98, O + 75), 255, 0, 0));
    CHECK(is(px(rgb, W, O + 97, O + 75), 100, 100, 100));
    CHECK(is(px(rgb, W, O + 100, O + 75), 32, 32, 32));      /* nothing drawn outside the image */
    free(rgb);
    /* 5 samples: a 3-column grid of 2 rows, the missing image an empty cell */
    rv_eval_item its[5];
    rv_eval_answer ans[5];
    for (int i = 0; i < 5; i++) { its[i] = it; ans[i] = an; }
    fail_at = 4;
    CHECK(rv_eval_box_grid_render(its, ans, 5, 50, grey_image, &fail_at, &rgb, &W, &H, &err) == 0);
    CHECK(W == 4 + 3 * 54 && H == 4 + 2 * 54);
    if (rgb) {
        CHECK(is(px(rgb, W, 4 + 2 * 54 + 0, 4 + 2), 100, 100, 100));  /* sample 2: row 0, col 2 */
        CHECK(is(px(rgb, W, 4 + 2, 4 + 54 + 2), 100, 100, 100));       /* sample 3: row 1, col 0 */
        CHECK(is(px(rgb, W, 4 + 54 + 2, 4 + 54 + 2), 32, 32, 32));     /* sample 4 (no image): empty */
        CHECK(is(px(rgb, W, 4 + 54 + 1, 4 + 54 + 25), 32, 32, 32));    /* and no box drawn there */
        free(rgb);
    }
    /* the file: an 8-bit RGB PNG with the same pixels */
    char path[300];
    snprintf(path, sizeof path, "%s/boxes.png", tmpdir);
    fail_at = -1;
    CHECK(rv_eval_box_png_write(path, &it, &an, 1, 100, grey_image, &fail_at, &err) == 0);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_file(&pi, path) != 0);
    CHECK(pi.width == 108 && pi.height == 108 && pi.format == PNG_FORMAT_RGB);
    pi.format = PNG_FORMAT_RGB;
    uint8_t *back = malloc(PNG_IMAGE_SIZE(pi));
    CHECK(png_image_finish_read(&pi, NULL, back, 0, NULL) != 0);
    CHECK(is(px(back, 108, O + 10, O + 40), 144, 238, 144));
    CHECK(is(px(back, 108, O + 60, O + 75), 255, 0, 0));
    free(back);
}

/* ---- `test_eval_outputs --write-dir DIR`: a small eval output directory, written with the
 * writers as the eval phase writes it, for tests/e2e/test_eval_outputs.sh to read with
 * check_eval_outputs.py (upstream's loader idioms, independent metrics, the score phase, h5py). */
typedef struct demo_task {
    const char *task;
    rv_eval_item items[6];
    rv_eval_answer answers[6];
    size_t n;
    double values[6 * 32];
} demo_task;

static int write_demo(const char *dir) {
    static char *lab_a[] = {"Edema"}, *lab_b[] = {"Cardiomegaly", "Pleural Effusion"};
    static rv_eval_box gb[4][2] = {{{0.1, 0.1, 0.4, 0.5}}, {{0.5, 0.5, 0.9, 0.9}, {0.1, 0.1, 0.3, 0.3}},
                                   {{0.2, 0.3, 0.6, 0.7}}, {{0.0, 0.0, 1.0, 1.0}}};
    static demo_task d[4];
    memset(d, 0, sizeof d);
    d[0] = (demo_task){.task = "report_generation", .n = 3};
    const char *rep_out[3] = {"The heart is enlarged. No pleural effusion.", "Lungs are clear.", ""};
    const char *rep_ref[3] = {"Cardiomegaly. No effusion.", "The lungs are clear. No pneumothorax.",
                              "Small left pleural effusion."};
    for (int i = 0; i < 3; i++) {
        d[0].items[i] = (rv_eval_item){.idx = (size_t)i, .id = "report_generation_x", .img_path = "/d/r.jpg",
                                       .instr = "<image>\nWrite a radiology report.", .answer = (char *)rep_ref[i],
                                       .shard_sample = -1};
        d[0].answers[i] = (rv_eval_answer){.full_output = (char *)rep_out[i], .output = (char *)rep_out[i],
                                           .n_tokens = 5 + i, .stopped = i != 1, .found = 1, .prompt_tokens = 80,
                                           .seconds = 0.1 * i};
    }
    d[1] = (demo_task){.task = "abnormality_classification", .n = 4};
    const char *cls_out[4] = {"edema", "cardiomegaly, pleural effusion and edema", "no finding", "Atelectasis"};
    char **cls_lab[4] = {lab_a, lab_b, NULL, lab_a};
    size_t cls_n[4] = {1, 2, 0, 1};
    for (int i = 0; i < 4; i++) {
        d[1].items[i] = (rv_eval_item){.idx = (size_t)i, .id = "abnormality_classification_x", .img_path = "/d/c.jpg",
                                       .instr = "<image>\nList the findings.", .answer = "labels",
                                       .labels = cls_lab[i], .nlabels = cls_n[i], .has_labels = 1, .shard_sample = -1};
        d[1].answers[i] = (rv_eval_answer){.full_output = (char *)cls_out[i], .output = (char *)cls_out[i],
                                           .n_tokens = 3, .stopped = 1, .found = 1, .prompt_tokens = 70};
    }
    d[2] = (demo_task){.task = "phrase_grounding", .n = 4};
    const char *gr_out[4] = {"[0.1, 0.1, 0.4, 0.5]", "[0.5, 0.5, 0.9, 0.8] and [0.6, 0.1, 0.7, 0.2]", "nothing",
                             "[0.05, 0.0, 0.95, 1.0]"};
    size_t gr_n[4] = {1, 2, 1, 1};
    for (int i = 0; i < 4; i++) {
        d[2].items[i] = (rv_eval_item){.idx = (size_t)i, .id = "phrase_grounding_x", .img_path = "/d/g.jpg",
                                       .instr = "<image>\nLocate the opacity.", .answer = "[boxes]",
                                       .boxes = gb[i], .nboxes = gr_n[i], .shard_sample = -1};
        d[2].answers[i] = (rv_eval_answer){.full_output = (char *)gr_out[i], .output = (char *)gr_out[i],
                                           .n_tokens = 12, .stopped = 1, .found = 1, .prompt_tokens = 90};
    }
    d[3] = (demo_task){.task = "conversation", .n = 3};
    const char *cv_out[3] = {"A frontal chest X-ray.", "Yes, a small effusion.", "No."};
    const char *cv_ref[3] = {"This is a frontal chest X-ray.", "Yes, there is a small left effusion.",
                             "No pneumothorax is seen."};
    for (int i = 0; i < 3; i++) {
        d[3].items[i] = (rv_eval_item){.idx = 0, .turn = i, .id = "conversation_0", .img_path = "/d/v.jpg",
                                       .instr = "Question?", .answer = (char *)cv_ref[i], .shard_sample = -1};
        d[3].answers[i] = (rv_eval_answer){.full_output = (char *)cv_out[i], .output = (char *)cv_out[i],
                                           .n_tokens = 6, .stopped = 1, .found = 1, .prompt_tokens = 100 + 10 * i};
    }
    rv_eval_task_result res[4];
    rv_eval_results_meta meta = {.model_tag = "demo", .model_source = "RUN/ckpt/demo", .config_json = "{\"eval\": {\"r1\": false}}",
                                 .boot_samples = 100, .boot_seed = 5};
    rv_err err = {0};
    for (int k = 0; k < 4; k++) {
        const rv_eval_task *t = rv_eval_task_find(d[k].task);
        size_t n = d[k].n, nv = rv_eval_nvalues(t);
        rv_eval_input in[6];
        const char *labs[6][4];
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < d[k].items[i].nlabels; j++) labs[i][j] = d[k].items[i].labels[j];
            in[i] = (rv_eval_input){.answer = {d[k].answers[i].output, strlen(d[k].answers[i].output)},
                                    .ref = {d[k].items[i].answer, strlen(d[k].items[i].answer)},
                                    .labels = labs[i], .nlabels = d[k].items[i].nlabels,
                                    .boxes = d[k].items[i].boxes, .nboxes = d[k].items[i].nboxes};
        }
        rv_eval_corpus *corpus = rv_eval_corpus_build(t, in, n);
        rv_eval_scratch s = {0};
        for (size_t i = 0; i < n; i++) rv_eval_score(t, &in[i], corpus, &s, d[k].values + i * nv);
        rv_eval_scratch_free(&s);
        rv_eval_corpus_free(corpus);
        char path[600];
        snprintf(path, sizeof path, "%s/demo_%s_output.json", dir, d[k].task);
        if (rv_eval_output_json_write(path, t, d[k].items, d[k].answers, n, false, &err)) goto fail;
        rv_eval_tally tally = {.n_records = n, .boot_samples = meta.boot_samples, .boot_seed = meta.boot_seed};
        cJSON *m = rv_eval_metrics_json(t, d[k].values, n, &tally);
        rv_eval_run_info info = {.model_tag = meta.model_tag, .model_source = meta.model_source};
        rv_eval_run_info_count(t, d[k].answers, n, &info);
        rv_eval_metrics_add_run_info(m, t, &info);
        snprintf(path, sizeof path, "%s/demo_%s.json", dir, d[k].task);
        int rc = rv_pyjson_write_file(path, m, 2, false, &err);
        cJSON_Delete(m);
        if (rc) goto fail;
        res[k] = (rv_eval_task_result){.task = t, .items = d[k].items, .answers = d[k].answers, .n = n,
                                       .values = d[k].values};
    }
    char path[600];
    snprintf(path, sizeof path, "%s/results.h5", dir);
    if (rv_eval_results_h5_write(path, &meta, res, 4, &err)) goto fail;
    int never = -1;
    snprintf(path, sizeof path, "%s/demo_phrase_grounding_boxes.png", dir);
    if (rv_eval_box_png_write(path, d[2].items, d[2].answers, d[2].n, 64, grey_image, &never, &err)) goto fail;
    return 0;
fail:
    fprintf(stderr, "write_demo: %s\n", err.msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-dir") == 0) return write_demo(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_eval_outputs.%ld", (long)getpid());
    rv_err err = {0};
    if (rv_mkdir_p(tmpdir, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    test_report();
    test_classification_grounding_conversation();
    test_run_info();
    test_value_names();
    test_results_h5();
    test_box_png();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary("test_eval_outputs");
}
