/* MIMIC-CXR reader: joins, order, filters, labels, text, conversations and bad input, on a
 * hand-written DATA_DIR. Expected values are worked out by hand from data.md §1 in comments. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "data/sources/readers.h"
#include "reader_testutil.h"

static const char *const H[14] = {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                                  "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion", "Lung Opacity",
                                  "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
                                  "Pneumothorax", "Support Devices"};

/* One chexpert CSV line: "Name=value;Name=value" placed into the real column order. */
static void chex_row(char *out, size_t cap, const char *subj, const char *study, const char *vals) {
    snprintf(out, cap, "%s,%s", subj, study);
    for (int k = 0; k < 14; k++) {
        const char *v = "";
        char buf[64] = "";
        const char *p = strstr(vals, H[k]);
        if (p && p[strlen(H[k])] == '=') {
            p += strlen(H[k]) + 1;
            size_t l = strcspn(p, ";");
            snprintf(buf, sizeof buf, "%.*s", (int)l, p);
            v = buf;
        }
        strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, v, cap - strlen(out) - 1);
    }
}

static void chex_csv(char *out, size_t cap, const char *eol, const char *rows[][3], int n) {
    snprintf(out, cap, "subject_id,study_id");
    for (int k = 0; k < 14; k++) { strncat(out, ",", cap - strlen(out) - 1); strncat(out, H[k], cap - strlen(out) - 1); }
    strncat(out, eol, cap - strlen(out) - 1);
    for (int i = 0; i < n; i++) {
        char line[512];
        chex_row(line, sizeof line, rows[i][0], rows[i][1], rows[i][2]);
        strncat(out, line, cap - strlen(out) - 1);
        strncat(out, eol, cap - strlen(out) - 1);
    }
}

static const char *SPLIT =
    "dicom_id,study_id,subject_id,split\n"
    "d1,50000001,10000001,train\n"
    "d2,50000001,10000001,train\n"
    "d3,50000002,10000001,train\n"
    "d4,50000003,10000002,train\n"
    "d5,50000004,10000002,train\n"
    "d6,50000005,10000003,train\n"
    "d7,50000006,10000003,validate\n"
    "d8,50000007,10000004,test\n"
    "d9,50000002,10000001,train\n"
    "dx,50000002,10000099,train\n"; /* subject differs from the metadata: the triple does not match */

static const char *META =
    "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns\n"
    "d1,10000001,50000001,CHEST (PA AND LAT),PA,3056,2544\n"
    "d2,10000001,50000001,CHEST (PA AND LAT),LATERAL,3056,2544\n"
    "d3,10000001,50000002,\"CHEST (PORTABLE, AP)\",AP,2544,3056\n"
    "d4,10000002,50000003,,PA,100,100\n"
    "d5,10000002,50000004,,PA,100,100\n"
    "d6,10000003,50000005,,AP AXIAL,100,100\n"
    "d7,10000003,50000006,,PA,100,100\n"
    "d8,10000004,50000007,,PA,100,100\n"
    "d9,10000001,50000002,,AP,100,100\n"
    "dx,10000001,50000002,,PA,100,100\n";

/* chexpert order drives the table: study 2 first, then study 1; study 50000003 is absent */
static const char *CHEX_ROWS[][3] = {
    {"10000001", "50000002", "Atelectasis=1.0;Cardiomegaly=-1.0;Edema=0.0"},
    {"10000001", "50000001", "No Finding=1.0;Pneumonia=-1.0;Support Devices=1.0"},
    {"10000003", "50000005", "Edema=1.0"},
    {"10000002", "50000004", "Fracture=1.0"},
    {"10000003", "50000006", "Fracture=1.0"},
    {"10000004", "50000007", "Pleural Effusion=-1.0"},
};

static const char *REPORTS =
    "study,impression,findings,last_paragraph,comparison\n"
    "s50000001,Normal.,\"\n The heart is normal.\n Lungs clear, no effusion.\",,\n"
    "s50000002,Mild atelectasis.,,,\n"
    "s50000003,x,y,z,\n"
    "s50000005,,,AP axial view only.,\n"
    "s50000006,,Val findings.,,\n"
    "s50000007,,Test findings.,,\n"; /* s50000004 has no row */

static void write_mimic(const char *dir) {
    char chex[4096];
    chex_csv(chex, sizeof chex, "\n", CHEX_ROWS, 6);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv", SPLIT);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv", META);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv", chex);
    tu_write(dir, "MIMIC-CXR-JPG/reports.csv", REPORTS);
    tu_write(dir, "MIMIC-CXR-JPG/filtered_reports/50000002.txt", "Mild bibasilar atelectasis.\r\nNo effusion.");
    tu_write(dir, "MIMIC-CXR-JPG/filtered_reports/50000001.txt", "The heart is normal.");
    tu_write(dir, "MIMIC-CXR-JPG/filtered_reports/50000006.txt", "Val.");
    tu_write(dir, "MIMIC-CXR-JPG/filtered_reports/notes.md", "not a report");
}

static rv_dataset *read_q(const rv_reader_ctx *c, const char *split, bool frontal, bool filtered, rv_task task,
                          const char *conv) {
    rv_mimic_query q = {split, frontal, filtered, task, conv};
    rv_dataset *d = NULL;
    rv_err err;
    if (rv_read_mimic(c, &q, &d, &err) < 0) {
        fprintf(stderr, "rv_read_mimic: %s\n", err.msg);
        return NULL;
    }
    return d;
}

static void test_tables(const char *dir) {
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    char ids[512], lab[512];

    /* report generation, train, frontal, filtered: d2 LATERAL and d6 AP AXIAL out, d4 (no chexpert
     * row), d5 (no reports row), dx (triple mismatch) out; order = chexpert rows fanned out */
    rv_dataset *d = read_q(&c, "train", true, true, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (!d) return;
    CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1");
    CHECK(d->task == RV_TASK_REPORT && d->pathologies);
    CHECK_STR(d->items[0].text, "Mild bibasilar atelectasis.\nNo effusion."); /* CRLF read as Python text mode */
    CHECK_STR(d->items[2].text, "The heart is normal.");
    char want[4200];
    snprintf(want, sizeof want, "%s/MIMIC-CXR-JPG/files/p10/p10000001/s50000002/d3.jpg", dir);
    CHECK_STR(d->items[0].image, want);
    CHECK(!d->items[0].has_labels_field);
    CHECK_STR(tu_labels(&d->items[0], lab, sizeof lab), "Atelectasis|Cardiomegaly"); /* -1 -> 1 */
    CHECK(bad.count == 0);
    rv_dataset_free(d);

    /* classification: no filtered-report filter; MIMIC ignores No Finding (d1 keeps its labels) */
    d = read_q(&c, "train", true, false, RV_TASK_CLASSIFY, NULL);
    CHECK(d && d->n == 3);
    if (d && d->n == 3) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1");
        CHECK(d->items[2].has_labels_field && d->pathologies && d->items[2].text == NULL);
        CHECK_STR(tu_labels(&d->items[2], lab, sizeof lab), "Pneumonia|Support Devices");
        CHECK_STR(tu_labels(&d->items[1], lab, sizeof lab), "Atelectasis|Cardiomegaly");
    }
    rv_dataset_free(d);

    /* all views, filtered: d6 (AP AXIAL) has no filtered report -> out; d2 lateral in */
    d = read_q(&c, "train", false, true, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (d) CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1,d2");
    rv_dataset_free(d);

    /* raw text (§1.3): first non-empty section, '\n' deleted without a space */
    d = read_q(&c, "train", false, false, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1,d2,d6");
        long k = tu_find(d, "d1");
        if (k >= 0) CHECK_STR(d->items[k].text, " The heart is normal. Lungs clear, no effusion.");
        k = tu_find(d, "d3");
        if (k >= 0) CHECK_STR(d->items[k].text, "Mild atelectasis."); /* findings blank -> impression */
        k = tu_find(d, "d6");
        if (k >= 0) CHECK_STR(d->items[k].text, "AP axial view only."); /* -> last_paragraph */
    }
    rv_dataset_free(d);

    /* other official splits; "valid" is accepted for "validate" */
    d = read_q(&c, "validate", true, true, RV_TASK_REPORT, NULL);
    CHECK(d && d->n == 1 && strcmp(d->items[0].id, "d7") == 0 && strcmp(d->items[0].text, "Val.") == 0);
    rv_dataset_free(d);
    d = read_q(&c, "valid", true, false, RV_TASK_CLASSIFY, NULL);
    CHECK(d && d->n == 1 && strcmp(d->items[0].id, "d7") == 0);
    rv_dataset_free(d);
    d = read_q(&c, "test", true, false, RV_TASK_CLASSIFY, NULL);
    CHECK(d && d->n == 1 && strcmp(d->items[0].id, "d8") == 0);
    if (d && d->n == 1) CHECK_STR(tu_labels(&d->items[0], lab, sizeof lab), "Pleural Effusion");
    rv_dataset_free(d);

    /* unknown split / task */
    rv_err err;
    rv_mimic_query q = {"training", true, true, RV_TASK_REPORT, NULL};
    CHECK(rv_read_mimic(&c, &q, &d, &err) < 0 && strstr(err.msg, "training") != NULL);
    q.split = "train";
    q.task = RV_TASK_DETECT;
    CHECK(rv_read_mimic(&c, &q, &d, &err) < 0 && strstr(err.msg, "abnormality_detection") != NULL);
}

static void test_conversations(const char *dir) {
    const char *conv = "[\n    {\n        \"from\": \"human\",\n        \"value\": \"Is there an effusion?\"\n    },\n"
                       "    {\n        \"from\": \"gpt\",\n        \"value\": \"No effusion is seen.\"\n    }\n]";
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/standard/d1.json", conv);
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/standard/d3.json", conv);
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/standard/d2.json", "{\"from\": \"human\"}");
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/standard/d6.json", conv); /* no filtered report */
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/grounding/d1.json", conv);
    tu_write(dir, "MIMIC-CXR-JPG/conversations/train/grounding/d9.json", conv);
    /* MS-CXR under the normaliser's directory name (P5 alias); d9 has none */
    tu_write(dir, "MS-CXR/sentences_BBox_mscxr/d1.json",
             "[{\"observation\": \"Right effusion\", \"box\": [0.5, 0.25, 0.75, 1.0]},\n"
             " {\"observation\": \"Cardiomegaly\", \"box\": [0.25, 0.5, 0.75, 0.75]}]");
    tu_write(dir, "MS-CXR/sentences_BBox_mscxr/d7.json", "[]");

    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    char ids[256], lab[256];
    /* conv-train: all views, filtered reports, conversation file required; d2's file is not an array */
    rv_dataset *d = read_q(&c, "train", false, true, RV_TASK_CONV, "train");
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d1");
        CHECK(bad.count == 1);
        CHECK(d->pathologies && d->task == RV_TASK_CONV);
        const rv_item *it = &d->items[1];
        CHECK(cJSON_IsArray(it->conversation) && cJSON_GetArraySize(it->conversation) == 2);
        const cJSON *t0 = cJSON_GetArrayItem(it->conversation, 0);
        CHECK(t0 && strcmp(cJSON_GetObjectItem(t0, "from")->valuestring, "human") == 0);
        CHECK_STR(it->text, "The heart is normal.");
        CHECK(!it->has_labels_field);
        CHECK_STR(tu_labels(it, lab, sizeof lab), "Pneumonia|Support Devices"); /* aligned after filtering (P3 fixed) */
    }
    rv_dataset_free(d);

    /* the same with data.on_bad_record=fail: the error names the file and the problem */
    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    rv_mimic_query q = {"train", false, true, RV_TASK_CONV, "train"};
    rv_err err;
    d = NULL;
    CHECK(rv_read_mimic(&cf, &q, &d, &err) < 0 && d == NULL);
    CHECK(strstr(err.msg, "standard/d2.json") != NULL && strstr(err.msg, "JSON array") != NULL);

    /* grounded: frontal, filtered, grounding conversation AND an MS-CXR file */
    d = read_q(&c, "train", true, true, RV_TASK_GCONV, "train");
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "d1");
        if (d->n == 1) {
            CHECK(d->items[0].nregions == 2);
            CHECK_STR(d->items[0].regions[0].name, "Right effusion");
            CHECK(d->items[0].regions[0].box.v[3] == 1.0 && d->items[0].regions[1].box.v[0] == 0.25);
            CHECK(d->items[0].conversation != NULL);
        }
    }
    rv_dataset_free(d);

    /* no conversations for this split: an empty dataset, not an error */
    d = read_q(&c, "test", true, true, RV_TASK_CONV, "test");
    CHECK(d && d->n == 0);
    rv_dataset_free(d);
}

static void test_fallback_text(const char *dir) {
    /* without filtered_reports/ the raw text is used; with the rule filter it is cleaned */
    const char *files[] = {"50000002.txt", "50000001.txt", "50000006.txt", "notes.md"};
    char rel[256];
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "MIMIC-CXR-JPG/filtered_reports/%s", files[i]);
        tu_remove(dir, rel);
    }
    tu_remove(dir, "MIMIC-CXR-JPG/filtered_reports");
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    char ids[256];
    rv_dataset *d = read_q(&c, "train", true, true, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1");
        if (d->n == 3) CHECK_STR(d->items[2].text, " The heart is normal. Lungs clear, no effusion.");
    }
    rv_dataset_free(d);
    c.report_filter = RV_REPORT_FILTER_RULES;
    d = read_q(&c, "train", true, true, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (d && d->n == 3) CHECK_STR(d->items[2].text, "The heart is normal. Lungs clear, no effusion.");
    rv_dataset_free(d);
}

static void test_bad_input(void) {
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return;
    write_mimic(dir);
    /* chexpert with a BOM, CRLF line ends, a short row (line 4) and an unparsable label (line 5) */
    char chex[4096], rowbuf[512];
    chex_csv(chex, sizeof chex, "\r\n", CHEX_ROWS, 2);
    strncat(chex, "10000003,50000005,1.0\r\n", sizeof chex - strlen(chex) - 1);
    chex_row(rowbuf, sizeof rowbuf, "10000003", "50000006", "Edema=abc");
    strncat(chex, rowbuf, sizeof chex - strlen(chex) - 1);
    strncat(chex, "\r\n", sizeof chex - strlen(chex) - 1);
    char bom[4200];
    snprintf(bom, sizeof bom, "\xEF\xBB\xBF%s", chex);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv", bom);
    /* metadata with invalid UTF-8 on line 3 */
    char meta[2048];
    snprintf(meta, sizeof meta, "%s", META);
    char *l3 = strstr(meta, "d2,10000001");
    l3[1] = (char)0xff;
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv", meta);

    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    char ids[256];
    rv_dataset *d = read_q(&c, "train", false, true, RV_TASK_REPORT, NULL);
    CHECK(d != NULL);
    if (d) CHECK_STR(tu_ids(d, ids, sizeof ids), "d3,d9,d1"); /* BOM header parsed; d2 row dropped */
    CHECK(bad.count == 3);
    rv_dataset_free(d);

    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    rv_mimic_query q = {"train", false, true, RV_TASK_REPORT, NULL};
    rv_err err;
    CHECK(rv_read_mimic(&cf, &q, &d, &err) < 0);
    CHECK(strstr(err.msg, "mimic-cxr-2.0.0-metadata.csv:3") && strstr(err.msg, "UTF-8"));
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv", META);
    CHECK(rv_read_mimic(&cf, &q, &d, &err) < 0);
    CHECK(strstr(err.msg, "mimic-cxr-2.0.0-chexpert.csv:4") && strstr(err.msg, "expected 16 fields"));
    chex_csv(chex, sizeof chex, "\r\n", CHEX_ROWS, 2);
    strncat(chex, rowbuf, sizeof chex - strlen(chex) - 1);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv", chex);
    CHECK(rv_read_mimic(&cf, &q, &d, &err) < 0);
    CHECK(strstr(err.msg, "mimic-cxr-2.0.0-chexpert.csv:4") && strstr(err.msg, "Edema") && strstr(err.msg, "abc"));

    /* a missing column, then a missing file: errors name the file and the column */
    tu_write(dir, "MIMIC-CXR-JPG/reports.csv", "study,impression,last_paragraph\ns50000001,a,b\n");
    CHECK(rv_read_mimic(&c, &q, &d, &err) < 0);
    CHECK(strstr(err.msg, "reports.csv") && strstr(err.msg, "'findings'"));
    tu_remove(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv");
    CHECK(rv_read_mimic(&c, &q, &d, &err) < 0);
    CHECK(strstr(err.msg, "mimic-cxr-2.0.0-split.csv") && strstr(err.msg, "not found"));
    tu_rmtree(dir);
    free(dir);
}

static void test_sources(const char *dir) {
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    CHECK(rv_source_present(&c, RV_SRC_MIMIC));
    CHECK(rv_source_present(&c, RV_SRC_MSCXR));
    CHECK(!rv_source_present(&c, RV_SRC_CHEXPERT));
    CHECK(!rv_source_present(&c, RV_SRC_PADCHEST));
    CHECK_STR(rv_source_name(RV_SRC_MIMIC), "mimic-cxr");
    rv_task t;
    CHECK(rv_task_parse("conversation_grounded", &t) == 0 && t == RV_TASK_GCONV);
    CHECK(rv_task_parse("region_grounding", &t) == 0 && t == RV_TASK_ANATOMY);
    CHECK(rv_task_parse("nope", &t) < 0);
    CHECK_STR(rv_task_name(RV_TASK_CLASSIFY), "abnormality_classification");
    CHECK_STR(rv_chexpert13[12], "Support Devices");
}

int main(void) {
    rv_log_init(0, 1, RV_LOG_ERROR);
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_reader_mimic");
    write_mimic(dir);
    test_tables(dir);
    test_conversations(dir);
    test_sources(dir);
    test_fallback_text(dir);
    test_bad_input();
    tu_rmtree(dir);
    free(dir);
    return check_summary("test_reader_mimic");
}
