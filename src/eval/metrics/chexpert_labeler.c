#include "eval/metrics/chexpert_labeler.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *const rv_chx_label_names[RV_CHX_NLABELS] = {
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices", "No Finding"};
const int rv_chx_top5[5] = {1, 4, 5, 7, 9};

/* One sentence, normalised: " w1 w2 ... wn " (lower-case ASCII letters, digits and '-'; every
 * other byte run is one space), with the byte offset where each word starts. */
typedef struct sent {
    char *s;
    size_t len;
    size_t *wstart;
    size_t nw;
} sent;

static int word_at(const sent *S, size_t pos) {
    /* index of the word containing byte pos (or the next word when pos is a space) */
    size_t lo = 0, hi = S->nw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (S->wstart[mid] <= pos) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return 0;
    size_t w = lo - 1;
    if (S->s[pos] == ' ') return (int)lo; /* between words: the next one */
    return (int)w;
}

typedef struct trig {
    int kind; /* 0 neg_pre 1 neg_post 2 unc_pre 3 unc_post 4 term 5 pseudo */
    int window, w0, w1; /* first and last word */
} trig;

static int kind_of(const char *k) {
    static const char *const names[] = {"neg_pre", "neg_post", "unc_pre", "unc_post", "term", "pseudo"};
    for (int i = 0; i < 6; i++) if (strcmp(k, names[i]) == 0) return i;
    return -1;
}

/* whole-word occurrences of phrase p in S */
static size_t find_words(const sent *S, const char *p, size_t from) {
    size_t pl = strlen(p);
    for (size_t i = from; i + pl + 1 < S->len; i++) {
        if (S->s[i] != ' ') continue;
        if (memcmp(S->s + i + 1, p, pl) == 0 && S->s[i + 1 + pl] == ' ') return i + 1;
    }
    return (size_t)-1;
}

/* Per-sentence indexes, so that labelling is linear in the sentence up to log factors (hostile
 * input: a 280k-word "sentence" took a minute when every mention rescanned the sentence and every
 * trigger): triggers sorted by their last word (pre scopes) and by their first word (post scopes
 * and terminators), and per label its unmention intervals sorted by start with the running
 * maximum of their ends. Every scope is at most wmax words (the largest rule window). */
typedef struct kidx {
    int key, i;             /* a word index (w1 or w0) and the trigger's index in T */
} kidx;

typedef struct tindex {
    kidx *by_w1, *by_w0;    /* scope triggers (kinds 0-3) by w1, by w0 */
    size_t n1, n0;
    kidx *terms;            /* terminators (kind 4) by w0 */
    size_t nterms;
} tindex;

typedef struct span {
    size_t start, end;      /* [start, end) bytes */
} span;

static int cmp_kidx(const void *a, const void *b) {
    const kidx *x = a, *y = b;
    return x->key != y->key ? (x->key > y->key) - (x->key < y->key) : (x->i > y->i) - (x->i < y->i);
}
static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->start != y->start ? (x->start > y->start) - (x->start < y->start) : (x->end > y->end) - (x->end < y->end);
}

/* First position in k[0..n) whose key is >= v. */
static size_t lower(const kidx *k, size_t n, int v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k[mid].key < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* A terminator strictly between words a and b (a < b): w0 > a and w1 < b. */
static bool blocked(const tindex *x, const trig *T, int a, int b) {
    for (size_t i = lower(x->terms, x->nterms, a + 1); i < x->nterms && x->terms[i].key < b; i++)
        if (T[x->terms[i].i].w1 < b) return true;
    return false;
}

static void label_sentence(const sent *S, const int *kinds, trig **tv, size_t *tcap,
                           int cls[RV_CHX_NLABELS], int other[2]) {
    size_t nt = 0;
    int wmax = 0;
    for (const rv_chx_rule *r = rv_chx_rules; r->kind; r++) {
        int k = kinds[r - rv_chx_rules];
        if (k < 0) continue;
        if (k <= 3 && r->window > wmax) wmax = r->window;
        size_t pos = 0;
        while ((pos = find_words(S, r->phrase, pos)) != (size_t)-1) {
            if (nt == *tcap) { *tcap = *tcap ? *tcap * 2 : 32; *tv = rv_xrealloc(*tv, *tcap * sizeof **tv); }
            trig *t = &(*tv)[nt++];
            t->kind = k;
            t->window = r->window;
            t->w0 = word_at(S, pos);
            t->w1 = word_at(S, pos + strlen(r->phrase) - 1);
            pos += 1;
        }
    }
    trig *T = *tv;
    /* drop triggers that start inside a pseudo-trigger: words covered by one, by a difference array */
    int *cover = rv_xcalloc(S->nw + 2, sizeof *cover);
    for (size_t j = 0; j < nt; j++)
        if (T[j].kind == 5) {
            cover[T[j].w0]++;
            cover[T[j].w1 + 1]--;
        }
    for (size_t w = 1; w <= S->nw; w++) cover[w] += cover[w - 1];
    for (size_t i = 0; i < nt; i++)
        if (T[i].kind != 5 && cover[T[i].w0] > 0) T[i].kind = -1;
    free(cover);
    tindex X = {0};
    X.by_w1 = rv_xmalloc((nt + 1) * sizeof *X.by_w1);
    X.by_w0 = rv_xmalloc((nt + 1) * sizeof *X.by_w0);
    X.terms = rv_xmalloc((nt + 1) * sizeof *X.terms);
    for (size_t i = 0; i < nt; i++) {
        if (T[i].kind >= 0 && T[i].kind <= 3) {
            X.by_w1[X.n1++] = (kidx){T[i].w1, (int)i};
            X.by_w0[X.n0++] = (kidx){T[i].w0, (int)i};
        } else if (T[i].kind == 4) {
            X.terms[X.nterms++] = (kidx){T[i].w0, (int)i};
        }
    }
    qsort(X.by_w1, X.n1, sizeof *X.by_w1, cmp_kidx);
    qsort(X.by_w0, X.n0, sizeof *X.by_w0, cmp_kidx);
    qsort(X.terms, X.nterms, sizeof *X.terms, cmp_kidx);
    span *un = NULL;
    size_t ucap = 0;
    size_t *umax = NULL;
    for (int lab = 0; lab < RV_CHX_NLABELS; lab++) {
        /* this label's unmention intervals, sorted by start, with the running maximum end */
        size_t nu = 0;
        for (const char *const *u = rv_chx_unmention[lab]; *u; u++) {
            size_t ul = strlen(*u);
            for (const char *h2 = strstr(S->s, *u); h2; h2 = strstr(h2 + 1, *u)) {
                if (nu == ucap) {
                    ucap = ucap ? ucap * 2 : 16;
                    un = rv_xrealloc(un, ucap * sizeof *un);
                    umax = rv_xrealloc(umax, ucap * sizeof *umax);
                }
                un[nu++] = (span){(size_t)(h2 - S->s), (size_t)(h2 - S->s) + ul};
            }
        }
        if (nu) qsort(un, nu, sizeof *un, cmp_span);
        for (size_t j = 0; j < nu; j++) umax[j] = j && umax[j - 1] > un[j].end ? umax[j - 1] : un[j].end;
        for (const char *const *m = rv_chx_mention[lab]; *m; m++) {
            size_t ml = strlen(*m);
            const char *hit = S->s;
            while ((hit = strstr(hit, *m)) != NULL) {
                size_t c = (size_t)(hit - S->s);
                hit++;
                /* an unmention phrase overlapping the mention cancels it: one with start < c + ml
                 * whose end > c, i.e. the largest end among the starts before c + ml */
                size_t lo = 0, hi = nu;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (un[mid].start < c + ml) lo = mid + 1;
                    else hi = mid;
                }
                if (lo > 0 && umax[lo - 1] > c) continue;
                size_t first = c, last = c + ml - 1;
                while (first < last && S->s[first] == ' ') first++;
                while (last > first && S->s[last] == ' ') last--;
                int m0 = word_at(S, first), m1 = word_at(S, last);
                bool neg = false, unc = false;
                /* pre scopes: triggers ending within wmax words before the mention */
                for (size_t i = lower(X.by_w1, X.n1, m0 - wmax); i < X.n1 && !(neg && unc); i++) {
                    const trig *t = &T[X.by_w1[i].i];
                    if (t->w1 >= m0) break;
                    if ((t->kind == 0 || t->kind == 2) && m0 - t->w1 <= t->window && !blocked(&X, T, t->w1, m0)) {
                        if (t->kind == 0) neg = true; else unc = true;
                    }
                }
                /* post scopes: triggers starting within wmax words after it */
                for (size_t i = lower(X.by_w0, X.n0, m1 + 1); i < X.n0 && !(neg && unc); i++) {
                    const trig *t = &T[X.by_w0[i].i];
                    if (t->w0 - m1 > wmax) break;
                    if ((t->kind == 1 || t->kind == 3) && t->w0 - m1 <= t->window && !blocked(&X, T, m1, t->w0)) {
                        if (t->kind == 1) neg = true; else unc = true;
                    }
                }
                int v = unc ? RV_CHX_UNC : neg ? RV_CHX_NEG : RV_CHX_POS;
                if (lab == RV_CHX_NO_FINDING) {
                    if (v != RV_CHX_NEG) other[0] = 1;
                    continue;
                }
                /* aggregate: positive > uncertain > negative > blank */
                int cur = cls[lab];
                if (cur == RV_CHX_POS) continue;
                if (v == RV_CHX_POS || (v == RV_CHX_UNC) || cur == RV_CHX_BLANK) cls[lab] = v;
            }
        }
    }
    free(un);
    free(umax);
    free(X.by_w1);
    free(X.by_w0);
    free(X.terms);
    (void)other[1];
}

void rv_chx_label(const char *text, size_t len, int cls[RV_CHX_NLABELS]) {
    for (int i = 0; i < RV_CHX_NLABELS; i++) cls[i] = RV_CHX_BLANK;
    int other[2] = {0, 0};
    sent S = {0};
    S.s = rv_xmalloc(len + 3);
    S.wstart = rv_xmalloc((len / 2 + 2) * sizeof *S.wstart);
    trig *tv = NULL;
    size_t tcap = 0, nrules = 0;
    while (rv_chx_rules[nrules].kind) nrules++;
    int *kinds = rv_xmalloc((nrules + 1) * sizeof *kinds);
    for (size_t k = 0; k < nrules; k++) kinds[k] = kind_of(rv_chx_rules[k].kind);
    size_t i = 0;
    while (i <= len) {
        /* one sentence: up to . ? ! ; : or newline ('.' between digits does not end it) */
        S.len = 0;
        S.nw = 0;
        S.s[S.len++] = ' ';
        bool in_word = false;
        for (; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c == '?' || c == '!' || c == ';' || c == ':' || c == '\n') { i++; break; }
            if (c == '.') {
                bool dec = i > 0 && i + 1 < len && text[i - 1] >= '0' && text[i - 1] <= '9' &&
                           text[i + 1] >= '0' && text[i + 1] <= '9';
                if (!dec) { i++; break; }
            }
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            bool wc = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
            if (wc) {
                if (!in_word) S.wstart[S.nw++] = S.len;
                S.s[S.len++] = (char)c;
                in_word = true;
            } else if (in_word) {
                S.s[S.len++] = ' ';
                in_word = false;
            }
        }
        if (in_word) S.s[S.len++] = ' ';
        S.s[S.len] = '\0';
        if (S.nw) label_sentence(&S, kinds, &tv, &tcap, cls, other);
        if (i >= len) break;
    }
    bool finding = other[0] != 0;
    for (int l = 0; l < RV_CHX_NLABELS; l++)
        if (l != RV_CHX_SUPPORT_DEVICES && l != RV_CHX_NO_FINDING &&
            (cls[l] == RV_CHX_POS || cls[l] == RV_CHX_UNC))
            finding = true;
    cls[RV_CHX_NO_FINDING] = finding ? RV_CHX_BLANK : RV_CHX_POS;
    free(kinds);
    free(tv);
    free(S.s);
    free(S.wstart);
}

unsigned rv_chx_rrg_bits(const int cls[RV_CHX_NLABELS]) {
    unsigned b = 0;
    for (int i = 0; i < RV_CHX_NLABELS; i++)
        if (cls[i] == RV_CHX_POS || cls[i] == RV_CHX_UNC) b |= 1u << i;
    return b;
}
