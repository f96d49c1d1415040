/* Instruction generators (data.md §8, §0.3, §0.4): structure, label normalisation, joins and
 * grouping, checked with one-phrasing templates so every output string is known exactly. */
#include <stdlib.h>

#include "check.h"
#include "data/instruct/instruction.h"

static const char *one =
    "{\"report_generation\": {\"questions\": [\"RQ\"]},"
    " \"abnormality_classification\": {\"questions\": [\"CQ1\", \"CQ2\", \"CQ3\"], \"answers_none\": [\"NONE\"],"
    "   \"prefixes_single\": [\"S:\"], \"prefixes_multi\": [\"M:\"]},"
    " \"phrase_grounding\": {\"questions\": [\"PQ {phrase}\"], \"answers\": [\"PA {boxes}.\"]},"
    " \"location\": {\"questions\": [\"LQ {label}?\"], \"answers\": [\"The {label} is at {boxes}.\"]},"
    " \"abnormality_detection\": {\"questions\": [\"DQ\"], \"answers_none\": [\"DNONE\"], \"prefixes\": [\"P\"],"
    "   \"group\": \"{article} {label} at {boxes}\"}}";

static rv_box B(double a, double b, double c, double d) {
    rv_box x = {{a, b, c, d}, 0};
    return x;
}

static void loc(rv_templates *t, const char *label, const char *wq, const char *wa) {
    rv_rng r;
    rv_rng_init(&r, 1, 2, 3);
    rv_box bx[2] = {B(0.21, 0.19, 0.3, 0.23), B(0.7, 0.18, 0.79, 0.23)};
    rv_qa qa;
    rv_err e;
    CHECK(rv_instr_location(t, &r, bx, 2, label, &qa, &e) == 0);
    CHECK_STR(qa.question, wq);
    CHECK_STR(qa.answer, wa);
    rv_qa_free(&qa);
}

static int parse_fails(const char *json, const char *needle) {
    rv_templates *t = NULL;
    rv_err e = {{0}};
    int rc = rv_templates_parse("t.json", json, strlen(json), &t, &e);
    if (rc == 0) { rv_templates_free(t); return 0; }
    if (!strstr(e.msg, needle)) { fprintf(stderr, "  message: %s\n", e.msg); return 0; }
    return 1;
}

int main(void) {
    rv_err e = {{0}};
    rv_templates *t = NULL;
    CHECK(rv_templates_parse("one.json", one, strlen(one), &t, &e) == 0);
    if (!t) { fprintf(stderr, "%s\n", e.msg); return check_summary("test_instruction"); }

    /* §0.3 location rule. */
    loc(t, "Aortic enlargement", "LQ aortic enlargement?",
        "The aortic enlargement is at [0.21, 0.19, 0.3, 0.23] and [0.7, 0.18, 0.79, 0.23].");
    loc(t, "ILD", "LQ ILD?", "The ILD is at [0.21, 0.19, 0.3, 0.23] and [0.7, 0.18, 0.79, 0.23].");
    loc(t, "Enlarged PA", "LQ enlarged pa?", "The enlarged pa is at [0.21, 0.19, 0.3, 0.23] and [0.7, 0.18, 0.79, 0.23].");
    loc(t, "svc", "LQ svc?", "The svc is at [0.21, 0.19, 0.3, 0.23] and [0.7, 0.18, 0.79, 0.23].");
    char *s = rv_label_location("ET tube");
    CHECK_STR(s, "et tube");
    free(s);
    s = rv_label_location("Cardiomegaly.");
    CHECK_STR(s, "cardiomegaly.");
    free(s);

    rv_rng r;
    rv_qa qa;
    /* Phrase grounding: same rule, sentence punctuation kept; no box -> error (P10). */
    rv_rng_init(&r, 1, 0, 0);
    rv_box pb = {{0, 0.5, 1, 0.75}, 1u | 4u};
    CHECK(rv_instr_phrase(t, &r, &pb, 1, "Cardiomegaly.", &qa, &e) == 0);
    CHECK_STR(qa.question, "PQ cardiomegaly.");
    CHECK_STR(qa.answer, "PA [0, 0.5, 1, 0.75].");
    rv_qa_free(&qa);
    CHECK(rv_instr_phrase(t, &r, &pb, 0, "x", &qa, &e) == -1);
    CHECK(rv_instr_location(t, &r, &pb, 0, "x", &qa, &e) == -1);

    /* Detection: grouped by class in first-seen order, article from the original name,
     * name fully lower-cased ("ILD" -> "an ild"). */
    rv_box db[4] = {B(0.1, 0.1, 0.2, 0.2), B(0.3, 0.3, 0.4, 0.4), B(0.5, 0.5, 0.6, 0.6), B(0.7, 0.7, 0.8, 0.8)};
    char *dl[4] = {"Aortic enlargement", "ILD", "Aortic enlargement", "Nodule/Mass"};
    CHECK(rv_instr_detect(t, &r, db, 4, dl, 4, &qa, &e) == 0);
    CHECK_STR(qa.question, "DQ");
    CHECK_STR(qa.answer, "P an aortic enlargement at [0.1, 0.1, 0.2, 0.2] and [0.5, 0.5, 0.6, 0.6]; "
                         "an ild at [0.3, 0.3, 0.4, 0.4]; a nodule/mass at [0.7, 0.7, 0.8, 0.8].");
    rv_qa_free(&qa);
    char *nf[1] = {"No finding"};
    CHECK(rv_instr_detect(t, &r, NULL, 0, nf, 1, &qa, &e) == 0);
    CHECK_STR(qa.answer, "DNONE");
    rv_qa_free(&qa);
    CHECK(rv_instr_detect(t, &r, db, 2, dl, 3, &qa, &e) == -1);

    /* Classification: lower-cased, de-duplicated, "a, b and c". */
    char *cl3[3] = {"Atelectasis", "Lung Opacity", "Pleural Effusion"};
    CHECK(rv_instr_classify(t, &r, cl3, 3, &qa, &e) == 0);
    CHECK_STR(qa.answer, "M: atelectasis, lung opacity and pleural effusion.");
    rv_qa_free(&qa);
    char *cl2[3] = {"Edema", "Cardiomegaly", "edema"};
    CHECK(rv_instr_classify(t, &r, cl2, 3, &qa, &e) == 0);
    CHECK_STR(qa.answer, "M: edema and cardiomegaly.");
    rv_qa_free(&qa);
    CHECK(rv_instr_classify(t, &r, cl2, 1, &qa, &e) == 0);
    CHECK_STR(qa.answer, "S: edema.");
    rv_qa_free(&qa);
    CHECK(rv_instr_classify(t, &r, NULL, 0, &qa, &e) == 0);
    CHECK_STR(qa.answer, "NONE");
    rv_qa_free(&qa);

    /* Draw order (§0.4): classification draws the answer first, so with a one-item answer
     * list the question is the stream's first draw; report generation draws only the question. */
    rv_rng a, b;
    rv_rng_init(&a, 7, 8, 9);
    rv_rng_init(&b, 7, 8, 9);
    (void)rv_rng_below(&b, 1);
    const char *want_q = t->cls_q.s[rv_rng_below(&b, 3)];
    CHECK(rv_instr_classify(t, &a, NULL, 0, &qa, &e) == 0);
    CHECK_STR(qa.question, want_q);
    rv_qa_free(&qa);
    rv_rng_init(&a, 7, 8, 9);
    CHECK(rv_instr_report(t, &a, "Report text.\nLine 2", &qa, &e) == 0);
    CHECK_STR(qa.question, "RQ");
    CHECK_STR(qa.answer, "Report text.\nLine 2");
    rv_qa_free(&qa);
    rv_templates_free(t);

    /* The built-in templates: upstream's number of phrasings per list. */
    t = NULL;
    CHECK(rv_templates_load(NULL, &t, &e) == 0);
    if (t) {
        CHECK(t->report_q.n == 15);
        CHECK(t->cls_q.n == 11 && t->cls_none.n == 7 && t->cls_single.n == 5 && t->cls_multi.n == 5);
        CHECK(t->phrase_q.n == 8 && t->phrase_a.n == 8);
        CHECK(t->loc_q.n == 20 && t->loc_a.n == 20);
        CHECK(t->det_q.n == 10 && t->det_none.n == 10 && t->det_prefix.n == 10);
        /* Every draw lands in the list: 1000 location answers mention the label and boxes. */
        int ok = 1;
        rv_rng_init(&r, 3, 0, 0);
        for (int i = 0; i < 1000; i++) {
            rv_box bb = B(0.5, 0.25, 0.75, 1);
            if (rv_instr_location(t, &r, &bb, 1, "Pleural effusion", &qa, &e) != 0) { ok = 0; break; }
            if (!strstr(qa.question, "pleural effusion") || !strstr(qa.answer, "pleural effusion") ||
                !strstr(qa.answer, "[0.5, 0.25, 0.75, 1.0]"))
                ok = 0;
            rv_qa_free(&qa);
        }
        CHECK(ok);
        rv_templates_free(t);
    }

    /* Validation errors name the key. */
    CHECK(parse_fails("{\"report_generation\": {\"questions\": []}}", "report_generation.questions"));
    CHECK(parse_fails("{\"report_generation\": {\"questions\": [\"q\"]}}", "abnormality_classification"));
    const char *badph =
        "{\"report_generation\": {\"questions\": [\"RQ\"]},"
        " \"abnormality_classification\": {\"questions\": [\"q\"], \"answers_none\": [\"n\"],"
        "   \"prefixes_single\": [\"s\"], \"prefixes_multi\": [\"m\"]},"
        " \"phrase_grounding\": {\"questions\": [\"PQ {phrase}\"], \"answers\": [\"PA {label}.\"]}}";
    CHECK(parse_fails(badph, "phrase_grounding.answers[0]"));
    const char *unk =
        "{\"report_generation\": {\"questions\": [\"RQ {lable}\"]}}";
    CHECK(parse_fails(unk, "unknown placeholder '{lable}'"));
    return check_summary("test_instruction");
}
