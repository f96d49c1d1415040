/* PadChest-GR readers (data.md §7): split and AP/PA selection, one phrase sample per finding
 * with boxes (identical sentences not merged), integer literals kept, bad boxes reported, and
 * the conversation directory lookup (P8). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "check.h"
#include "core/fsutil.h"
#include "data/instruct/boxtext.h"
#include "data/sources/readers.h"

static void put(const char *root, const char *rel, const char *text) {
    char *p = rv_path_join(root, rel), *d = rv_path_dirname(p);
    rv_err e;
    CHECK(rv_mkdir_p(d, &e) == 0);
    CHECK(rv_write_atomic(p, text, strlen(text), &e) == 0);
    free(p);
    free(d);
}

static void boxes_are(const rv_item *it, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    CHECK(rv_boxtext_list(&b, it->boxes, it->nboxes) == 0);
    CHECK_STR(b.s, want);
    rv_sb_free(&b);
}

int main(void) {
    char tmpl[] = "/tmp/rv_padchest_XXXXXX";
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) return check_summary("test_reader_padchest");
    put(root, "PadChest/master_table.csv",
        "ImageID,PatientSex_DICOM,split\n"
        "a.png,F,train\nb.png,M,train\nc.png,F,validation\nd.png,M,train\ne.png,F,test\n");
    put(root, "PadChest/PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv",
        "ImageID,Projection,Report\n"
        "a.png,PA,\"informe, uno\"\nb.png,AP,dos\nc.png,PA,tres\nd.png,L,cuatro\ne.png,AP_horizontal,cinco\n");
    put(root, "PadChest/grounded_reports_20240819.json",
        "[{\"ImageID\": \"b.png\", \"findings\": [{\"sentence_en\": \"Cardiomegaly.\", \"boxes\": [[0, 0.25, 1, 0.75]]},"
        "                                        {\"sentence_en\": \"Normal lungs.\", \"boxes\": []}]},"
        " {\"ImageID\": \"a.png\", \"findings\": [{\"sentence_en\": \"Left effusion.\", \"boxes\": [[0.5, 0.5, 0.9, 0.95], [0.1, 0.2, 0.3, 0.4]]},"
        "                                        {\"sentence_en\": \"Left effusion.\", \"boxes\": [[0.6, 0.6, 0.7, 1.0]]},"
        "                                        {\"sentence_en\": \"No box key.\"}]},"
        " {\"ImageID\": \"d.png\", \"findings\": [{\"sentence_en\": \"Lateral view.\", \"boxes\": [[0.1, 0.1, 0.2, 0.2]]}]},"
        " {\"ImageID\": \"c.png\", \"findings\": [{\"sentence_en\": \"Nodule.\", \"boxes\": [[0.1, 0.1, 0.2]]}]},"
        " {\"ImageID\": \"e.png\", \"findings\": [{\"sentence_en\": \"Mass.\", \"boxes\": [[0.1, 0.1, 0.2, 0.2]]}]}]");
    rv_err e = {{0}};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_reader_ctx c = {.data_dir = root, .bad = &bad};

    rv_dataset *d = NULL;
    CHECK(rv_read_padchest_phrases(&c, "train", &d, &e) == 0);
    if (d) {
        CHECK(d->task == RV_TASK_PHRASE);
        CHECK(d->n == 3); /* b: 1, a: 2 (not merged); d is lateral */
        if (d->n == 3) {
            CHECK_STR(d->items[0].text, "Cardiomegaly.");
            boxes_are(&d->items[0], "[0, 0.25, 1, 0.75]"); /* integer literals stay integers */
            char *ip = rv_path_join(root, "PadChest/images_grounding/b.png");
            CHECK_STR(d->items[0].image, ip);
            free(ip);
            CHECK_STR(d->items[1].text, "Left effusion.");
            boxes_are(&d->items[1], "[0.5, 0.5, 0.9, 0.95] and [0.1, 0.2, 0.3, 0.4]");
            CHECK_STR(d->items[2].text, "Left effusion.");
            boxes_are(&d->items[2], "[0.6, 0.6, 0.7, 1.0]");
        }
        rv_dataset_free(d);
    }
    CHECK(bad.count == 0);
    d = NULL;
    CHECK(rv_read_padchest_phrases(&c, "valid", &d, &e) == 0); /* "valid" means "validation" */
    if (d) {
        CHECK(d->n == 0);
        rv_dataset_free(d);
    }
    CHECK(bad.count == 1); /* c.png: a box of 3 numbers */
    d = NULL;
    CHECK(rv_read_padchest_phrases(&c, "test", &d, &e) == 0); /* e.png is AP_horizontal */
    if (d) {
        CHECK(d->n == 0);
        rv_dataset_free(d);
    }
    CHECK(rv_read_padchest_phrases(&c, "dev", &d, &e) == -1);

    /* Conversations: none yet -> empty dataset. */
    d = NULL;
    CHECK(rv_read_padchest_conversations(&c, "train", &d, &e) == 0);
    if (d) {
        CHECK(d->n == 0);
        rv_dataset_free(d);
    }
    put(root, "PadChest/conversations/train/grounding/a.json",
        "[{\"from\": \"human\", \"value\": \"Is there fluid?\"}, {\"from\": \"gpt\", \"value\": \"Possibly.\"}]");
    put(root, "PadChest/conversations/train/grounding/b.json", "[{\"from\": ");
    put(root, "PadChest/conversations/train/grounding/c.json", "[{\"from\": \"human\", \"value\": \"Q\"}]");
    bad.count = 0;
    d = NULL;
    CHECK(rv_read_padchest_conversations(&c, "train", &d, &e) == 0);
    if (d) {
        CHECK(d->task == RV_TASK_GCONV);
        CHECK(d->n == 1);
        if (d->n == 1) {
            CHECK_STR(d->items[0].id, "a.png");
            CHECK(cJSON_GetArraySize(d->items[0].conversation) == 2);
        }
        rv_dataset_free(d);
    }
    CHECK(bad.count == 1); /* b.json is not valid JSON */
    /* validation: no conversations/validation/ -> upstream's train directory (P8). */
    d = NULL;
    CHECK(rv_read_padchest_conversations(&c, "validation", &d, &e) == 0);
    if (d) {
        CHECK(d->n == 1);
        if (d->n == 1) CHECK_STR(d->items[0].id, "c.png");
        rv_dataset_free(d);
    }
    /* ... and the split's own directory when it exists. */
    put(root, "PadChest/conversations/validation/grounding/other.json", "[]");
    d = NULL;
    CHECK(rv_read_padchest_conversations(&c, "validation", &d, &e) == 0);
    if (d) {
        CHECK(d->n == 0);
        rv_dataset_free(d);
    }

    /* Issue K: PadChest_grounding_per_image keeps only images with at least one boxed finding.
     * b.png (train) now has only normal sentences and a valid conversation file: no sample; a.png
     * appears twice in the JSON and gives one sample. Its boxes come from JSON (Python floats):
     * Python's round, 0.325 -> 0.33, 0.405 -> 0.41, 0.435 -> 0.43 (numpy would give 0.32/0.4/0.44). */
    put(root, "PadChest/grounded_reports_20240819.json",
        "[{\"ImageID\": \"b.png\", \"findings\": [{\"sentence_en\": \"Normal heart.\", \"boxes\": []},"
        "                                        {\"sentence_en\": \"No box key.\"}]},"
        " {\"ImageID\": \"a.png\", \"findings\": [{\"sentence_en\": \"Effusion.\", \"boxes\": [[0.325, 0.405, 0.435, 0.5]]}]},"
        " {\"ImageID\": \"a.png\", \"findings\": [{\"sentence_en\": \"Again.\", \"boxes\": [[0.1, 0.1, 0.2, 0.2]]}]}]");
    put(root, "PadChest/conversations/train/grounding/b.json",
        "[{\"from\": \"human\", \"value\": \"Any finding?\"}, {\"from\": \"gpt\", \"value\": \"No.\"}]");
    bad.count = 0;
    d = NULL;
    CHECK(rv_read_padchest_conversations(&c, "train", &d, &e) == 0);
    if (d) {
        CHECK(d->n == 1); /* every image with a conversation file would give 3 (b, a, a) */
        if (d->n == 1) CHECK_STR(d->items[0].id, "a.png");
        rv_dataset_free(d);
    }
    CHECK(bad.count == 0);
    d = NULL;
    CHECK(rv_read_padchest_phrases(&c, "train", &d, &e) == 0);
    if (d) {
        CHECK(d->n == 2);
        if (d->n == 2) boxes_are(&d->items[0], "[0.33, 0.41, 0.43, 0.5]");
        rv_dataset_free(d);
    }

    char *cmd = rv_xasprintf("rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    free(cmd);
    return check_summary("test_reader_padchest");
}
