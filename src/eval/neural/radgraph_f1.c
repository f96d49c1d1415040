/* RadGraph annotations and their pair scores (see radgraph_f1.h). Python sets of tuples are
 * modelled as sorted, de-duplicated arrays of strings: the tuple's fields joined by 0x1F, which
 * never occurs in a token (Python's str.split() treats it as whitespace) nor in a label. */
#include "eval/neural/radgraph_f1.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "eval/neural/radgraph_text.h"

void rv_rg_annot_build(rv_rg_annot *a, const rv_rg_cfg *cfg, char *const *words, const rv_rg_pred *p) {
    a->n = p->n_ents;
    a->e = rv_xcalloc(p->n_ents ? p->n_ents : 1, sizeof *a->e);
    for (size_t i = 0; i < p->n_ents; i++) {
        const rv_rg_ent *pe = &p->ents[i];
        rv_rg_entity *e = &a->e[i];
        rv_sb sb = {0};
        for (int w = pe->start; w <= pe->end; w++) {
            if (w > pe->start) rv_sb_putc(&sb, ' ');
            rv_sb_puts(&sb, words[w]);
        }
        e->tokens = rv_sb_take(&sb);
        e->label = cfg->ner_labels[pe->label];
        e->start = pe->start;
        e->end = pe->end;
        e->rel_type = rv_xmalloc((p->n_rels ? p->n_rels : 1) * sizeof *e->rel_type);
        e->rel_target = rv_xmalloc((p->n_rels ? p->n_rels : 1) * sizeof *e->rel_target);
        for (size_t r = 0; r < p->n_rels; r++) {
            const rv_rg_rel *pr = &p->rels[r];
            if (pr->s1 != pe->start || pr->e1 != pe->end) continue;
            size_t t = 0;
            while (t < p->n_ents && (p->ents[t].start != pr->s2 || p->ents[t].end != pr->e2)) t++;
            if (t == p->n_ents) continue; /* target is not an entity: get_entity skips it */
            e->rel_type[e->n_rel] = cfg->rel_labels[pr->label];
            e->rel_target[e->n_rel] = (int)t;
            e->n_rel++;
        }
    }
}

void rv_rg_annot_free(rv_rg_annot *a) {
    for (size_t i = 0; i < a->n; i++) {
        free(a->e[i].tokens);
        free(a->e[i].rel_type);
        free(a->e[i].rel_target);
    }
    free(a->e);
    a->e = NULL;
    a->n = 0;
}

/* ---- sets of strings ---- */

typedef struct strset {
    char **s;
    size_t n, cap;
} strset;

static void set_add(strset *st, rv_sb *key) {
    if (st->n == st->cap) st->s = rv_xrealloc(st->s, (st->cap = st->cap ? 2 * st->cap : 16) * sizeof *st->s);
    st->s[st->n++] = rv_sb_take(key);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void set_finish(strset *st) {
    if (!st->n) return;
    qsort(st->s, st->n, sizeof *st->s, cmp_str);
    size_t m = 1;
    for (size_t i = 1; i < st->n; i++) {
        if (strcmp(st->s[i], st->s[m - 1]) == 0) free(st->s[i]);
        else st->s[m++] = st->s[i];
    }
    st->n = m;
}

static void set_free(strset *st) {
    for (size_t i = 0; i < st->n; i++) free(st->s[i]);
    free(st->s);
}

static size_t set_common(const strset *a, const strset *b) {
    size_t i = 0, j = 0, c = 0;
    while (i < a->n && j < b->n) {
        int d = strcmp(a->s[i], b->s[j]);
        if (d == 0) {
            c++;
            i++;
            j++;
        } else if (d < 0) i++;
        else j++;
    }
    return c;
}

/* rewards.py's F1: P = |H & R| / |H|, R = |R & H| / |R| (0 for an empty side). */
static double reward_f1(const strset *h, const strset *r) {
    size_t c = set_common(h, r);
    double p = h->n ? (double)c / (double)h->n : 0.0;
    double rc = r->n ? (double)c / (double)r->n : 0.0;
    return (p + rc) > 0 ? 2 * p * rc / (p + rc) : 0.0;
}

static void key(rv_sb *sb, char kind, const char *a, const char *b, const char *c, const char *d) {
    rv_sb_putc(sb, kind);
    const char *f[4] = {a, b, c, d};
    for (int i = 0; i < 4 && f[i]; i++) {
        rv_sb_putc(sb, '\x1f');
        rv_sb_puts(sb, f[i]);
    }
}

enum { SIMPLE, PARTIAL, COMPLETE };

static void reward_set(const rv_rg_annot *an, int level, strset *st) {
    rv_sb sb = {0};
    for (size_t i = 0; i < an->n; i++) {
        const rv_rg_entity *e = &an->e[i];
        if (level == SIMPLE || e->n_rel == 0) {
            key(&sb, 'e', e->tokens, e->label, NULL, NULL);
            set_add(st, &sb);
        } else if (level == PARTIAL) {
            key(&sb, 'p', e->tokens, e->label, "True", NULL);
            set_add(st, &sb);
        } else {
            char *src = rv_rg_lower(e->tokens);
            for (size_t r = 0; r < e->n_rel; r++) {
                char *tgt = rv_rg_lower(an->e[e->rel_target[r]].tokens);
                key(&sb, 'c', src, e->label, e->rel_type[r], tgt);
                set_add(st, &sb);
                free(tgt);
            }
            free(src);
        }
    }
    rv_sb_free(&sb);
    set_finish(st);
}

void rv_rg_rewards(const rv_rg_annot *hyp, const rv_rg_annot *ref, double out[3]) {
    out[0] = out[1] = out[2] = 0.0;
    if (hyp->n == 0 || ref->n == 0) return;
    for (int level = SIMPLE; level <= COMPLETE; level++) {
        strset h = {0}, r = {0};
        reward_set(hyp, level, &h);
        reward_set(ref, level, &r);
        out[level] = reward_f1(&h, &r);
        set_free(&h);
        set_free(&r);
    }
}

/* RadEval's compute_f1(test, retrieved): symmetric in its result. */
static double compute_f1(const strset *test, const strset *ret) {
    size_t tp = set_common(test, ret);
    double precision = ret->n ? (double)tp / (double)ret->n : 0.0;
    double recall = test->n ? (double)tp / (double)test->n : 0.0;
    return (precision + recall) > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

static void rcq_sets(const rv_rg_annot *an, strset *ents, strset *rels) {
    rv_sb sb = {0};
    for (size_t i = 0; i < an->n; i++) {
        const rv_rg_entity *e = &an->e[i];
        key(&sb, 'e', e->tokens, e->label, NULL, NULL);
        set_add(ents, &sb);
        for (size_t r = 0; r < e->n_rel; r++) {
            const rv_rg_entity *t = &an->e[e->rel_target[r]];
            key(&sb, 'r', e->tokens, e->label, t->tokens, t->label);
            rv_sb_putc(&sb, '\x1f');
            rv_sb_puts(&sb, e->rel_type[r]);
            set_add(rels, &sb);
        }
    }
    rv_sb_free(&sb);
    set_finish(ents);
    set_finish(rels);
}

double rv_rg_radcliq_feature(const rv_rg_annot *hyp, const rv_rg_annot *ref) {
    strset he = {0}, hr = {0}, re = {0}, rr = {0};
    rcq_sets(hyp, &he, &hr);
    rcq_sets(ref, &re, &rr);
    double v = (compute_f1(&re, &he) + compute_f1(&rr, &hr)) / 2;
    set_free(&he);
    set_free(&hr);
    set_free(&re);
    set_free(&rr);
    return v;
}
