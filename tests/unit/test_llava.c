/* LLaVA cells and the file layout: the expected bytes were written by Python's
 * json.dump(cells, f, indent=4) (tests/fixtures/gen_llava_fixture.py -> llava_cells.json). */
#include <stdlib.h>

#include "check.h"
#include "core/fsutil.h"
#include "data/instruct/llava.h"
#include "io/json.h"

int main(void) {
    rv_err e;
    rv_sb pieces;
    rv_sb_init(&pieces);

    char *l0[2] = {"Aortic enlargement", "Nodule/Mass"};
    cJSON *c0 = rv_llava_cell_qa("/data/VinDr-CXR/train_jpg/0a1b.jpg", "Where is the caf\xc3\xa9 \xf0\x9f\x98\x80?",
                                 "It is at [0.1, 0.2, 0.3, 0.4] and \"quoted\" \\ / tab\there.\nLine 2\x01",
                                 "vindr-cxr-train1_0", l0, 2, true, false);
    cJSON *c1 = rv_llava_cell_qa("/data/CheXpert/train/patient00001/study1/view1_frontal.jpg", "Any abnormality?",
                                 "No abnormality is seen.", "chexpert-train_1", NULL, 0, true, true);
    const char *conv =
        "[{\"foo\": 1}, {\"from\": \"human\", \"value\": \"What do you see\xe2\x80\x99?\", \"lang\": \"en\"},"
        " {\"from\": \"gpt\", \"value\": \"Possibly an opacity.\"}, {\"from\": 3},"
        " {\"question\": \"Where?\", \"answer\": \"At [0.1, 0.2, 0.3, 0.4].\"}]";
    cJSON *turns = rv_json_parse("conv", conv, strlen(conv), &e);
    CHECK(turns != NULL);
    size_t bad = 0;
    CHECK(rv_llava_count_turns(turns, &bad) == 4);
    CHECK(bad == 2);
    cJSON *c2 = rv_llava_cell_conv("/data/PadChest/images_grounding/x.png", turns, "conv-grounded-padchest-train1_2",
                                   NULL, 0, false, false);
    CHECK(c2 != NULL);

    /* Rank-style assembly: two slices rendered separately, then concatenated. */
    rv_sb slice2;
    rv_sb_init(&slice2);
    rv_llava_append_cell(&pieces, c0);
    rv_llava_append_cell(&pieces, c1);
    rv_llava_append_cell(&slice2, c2);
    rv_sb_append(&pieces, slice2.s, slice2.len);
    rv_sb out;
    rv_sb_init(&out);
    rv_llava_finish(&out, pieces.s, pieces.len);

    char *want = NULL;
    size_t wlen = 0;
    CHECK(rv_read_file(RADVLM_SOURCE_DIR "/tests/fixtures/llava_cells.json", &want, &wlen, &e) == 0);
    CHECK(want && out.len == wlen && memcmp(out.s, want, wlen) == 0);
    if (want && !(out.len == wlen && memcmp(out.s, want, wlen) == 0))
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", out.s, want);

    /* No cell at all: json.dump([], indent=4) writes "[]". */
    rv_sb empty;
    rv_sb_init(&empty);
    rv_llava_finish(&empty, "", 0);
    CHECK_STR(empty.s, "[]");

    /* A stored conversation with no usable turn gives no cell. */
    cJSON *junk = rv_json_parse("junk", "[{\"a\": 1}, 5]", 13, &e);
    bad = 0;
    CHECK(rv_llava_count_turns(junk, &bad) == 0 && bad == 2);
    CHECK(rv_llava_cell_conv("/x.png", junk, "id_0", NULL, 0, false, false) == NULL);

    cJSON_Delete(junk);
    cJSON_Delete(c0);
    cJSON_Delete(c1);
    cJSON_Delete(c2);
    cJSON_Delete(turns);
    free(want);
    rv_sb_free(&pieces);
    rv_sb_free(&slice2);
    rv_sb_free(&out);
    rv_sb_free(&empty);
    return check_summary("test_llava");
}
