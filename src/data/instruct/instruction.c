#include "data/instruct/instruction.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "data/instruct/boxtext.h"

void rv_qa_free(rv_qa *qa) {
    free(qa->question);
    free(qa->answer);
    qa->question = qa->answer = NULL;
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static char to_lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }

char *rv_label_lower(const char *label) {
    char *s = rv_xstrdup(label);
    for (char *p = s; *p; p++) *p = to_lower(*p);
    return s;
}

char *rv_label_location(const char *label) {
    /* Python: label[0].isupper() and not label.isupper(); isupper() is false when any cased
     * character is lower-case. */
    bool any_lower = false;
    for (const char *p = label; *p; p++)
        if (is_lower(*p)) any_lower = true;
    if (is_upper(label[0]) && any_lower) return rv_label_lower(label);
    return rv_xstrdup(label);
}

const char *rv_label_article(const char *label) {
    char c = to_lower(label[0]);
    return (c && strchr("aeiou", c)) ? "an" : "a";
}

void rv_join_and(rv_sb *out, char *const *items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i > 0) rv_sb_puts(out, i + 1 == n ? " and " : ", ");
        rv_sb_puts(out, items[i]);
    }
}

static const char *pick(rv_rng *r, const rv_tlist *l) { return l->s[rv_rng_below(r, (uint32_t)l->n)]; }

static char *render(const char *tmpl, const rv_tvars *v) {
    rv_sb b;
    rv_sb_init(&b);
    rv_template_render(&b, tmpl, v);
    return rv_sb_take(&b);
}

int rv_instr_report(const rv_templates *t, rv_rng *r, const char *text, rv_qa *out, rv_err *err) {
    if (!text) return rv_fail(err, "report generation: the sample has no report text");
    out->question = rv_xstrdup(pick(r, &t->report_q));
    out->answer = rv_xstrdup(text);
    return 0;
}

int rv_instr_classify(const rv_templates *t, rv_rng *r, char *const *labels, size_t n, rv_qa *out, rv_err *err) {
    (void)err;
    char **u = rv_xcalloc(n ? n : 1, sizeof *u);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        char *l = rv_label_lower(labels[i]);
        bool dup = false;
        for (size_t j = 0; j < nu; j++)
            if (!strcmp(u[j], l)) dup = true;
        if (dup) free(l);
        else u[nu++] = l;
    }
    rv_sb a;
    rv_sb_init(&a);
    /* Upstream draws the answer before the question. */
    if (nu == 0) {
        rv_sb_puts(&a, pick(r, &t->cls_none));
    } else {
        rv_sb_puts(&a, pick(r, nu == 1 ? &t->cls_single : &t->cls_multi));
        rv_sb_putc(&a, ' ');
        rv_join_and(&a, u, nu);
        rv_sb_putc(&a, '.');
    }
    out->answer = rv_sb_take(&a);
    out->question = rv_xstrdup(pick(r, &t->cls_q));
    for (size_t i = 0; i < nu; i++) free(u[i]);
    free(u);
    return 0;
}

static int boxes_text(const rv_box *boxes, size_t n, const char *what, char **out, rv_err *err) {
    rv_sb b;
    rv_sb_init(&b);
    if (rv_boxtext_list(&b, boxes, n) != 0) {
        rv_sb_free(&b);
        return rv_fail(err, "%s: no box to show (every box was dropped, e.g. zero area)", what);
    }
    *out = rv_sb_take(&b);
    return 0;
}

int rv_instr_phrase(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t n, const char *phrase,
                    rv_qa *out, rv_err *err) {
    char *bt = NULL;
    if (boxes_text(boxes, n, "phrase grounding", &bt, err) != 0) return -1;
    char *p = rv_label_location(phrase);
    rv_tvars v = {.phrase = p, .boxes = bt};
    out->question = render(pick(r, &t->phrase_q), &v);
    out->answer = render(pick(r, &t->phrase_a), &v);
    free(p);
    free(bt);
    return 0;
}

int rv_instr_location(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t n, const char *label,
                      rv_qa *out, rv_err *err) {
    char *bt = NULL;
    if (boxes_text(boxes, n, "grounding", &bt, err) != 0) return -1;
    char *l = rv_label_location(label);
    rv_tvars v = {.label = l, .boxes = bt};
    out->question = render(pick(r, &t->loc_q), &v);
    out->answer = render(pick(r, &t->loc_a), &v);
    free(l);
    free(bt);
    return 0;
}

int rv_instr_detect(const rv_templates *t, rv_rng *r, const rv_box *boxes, size_t nboxes, char *const *labels,
                    size_t nlabels, rv_qa *out, rv_err *err) {
    if (nboxes == 0 || nlabels == 0) {
        out->question = rv_xstrdup(pick(r, &t->det_q));
        out->answer = rv_xstrdup(pick(r, &t->det_none));
        return 0;
    }
    if (nboxes != nlabels)
        return rv_fail(err, "abnormality detection: %zu boxes but %zu labels (they must pair up)", nboxes, nlabels);
    out->question = rv_xstrdup(pick(r, &t->det_q));
    rv_sb a;
    rv_sb_init(&a);
    rv_sb_puts(&a, pick(r, &t->det_prefix));
    rv_sb_putc(&a, ' ');
    bool *done = rv_xcalloc(nlabels, sizeof *done);
    rv_box *grp = rv_xmalloc(nboxes * sizeof *grp);
    bool first = true;
    for (size_t i = 0; i < nlabels; i++) {
        if (done[i]) continue;
        size_t ng = 0;
        for (size_t j = i; j < nlabels; j++)
            if (!done[j] && !strcmp(labels[j], labels[i])) {
                grp[ng++] = boxes[j];
                done[j] = true;
            }
        rv_sb bt;
        rv_sb_init(&bt);
        rv_boxtext_list(&bt, grp, ng);
        char *l = rv_label_lower(labels[i]);
        rv_tvars v = {.article = rv_label_article(labels[i]), .label = l, .boxes = bt.s};
        if (!first) rv_sb_puts(&a, "; ");
        rv_template_render(&a, t->det_group, &v);
        first = false;
        free(l);
        rv_sb_free(&bt);
    }
    rv_sb_putc(&a, '.');
    out->answer = rv_sb_take(&a);
    free(done);
    free(grp);
    return 0;
}
