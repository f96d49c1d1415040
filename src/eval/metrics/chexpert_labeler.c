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

static bool blocked(const trig *t, size_t nt, int a, int b) {
    /* a term strictly between words a and b (a < b) */
    for (size_t i = 0; i < nt; i++)
        if (t[i].kind == 4 && t[i].w0 > a && t[i].w1 < b) return true;
    return false;
}

static void label_sentence(const sent *S, const int *kinds, trig **tv, size_t *tcap,
                           int cls[RV_CHX_NLABELS], int other[2]) {
    size_t nt = 0;
    for (const rv_chx_rule *r = rv_chx_rules; r->kind; r++) {
        int k = kinds[r - rv_chx_rules];
        if (k < 0) continue;
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
    /* drop triggers that start inside a pseudo-trigger */
    for (size_t i = 0; i < nt; i++) {
        if (T[i].kind == 5) continue;
        for (size_t j = 0; j < nt; j++)
            if (T[j].kind == 5 && T[i].w0 >= T[j].w0 && T[i].w0 <= T[j].w1) { T[i].kind = -1; break; }
    }
    for (int lab = 0; lab < RV_CHX_NLABELS; lab++) {
        for (const char *const *m = rv_chx_mention[lab]; *m; m++) {
            size_t ml = strlen(*m);
            const char *hit = S->s;
            while ((hit = strstr(hit, *m)) != NULL) {
                size_t c = (size_t)(hit - S->s);
                hit++;
                /* an unmention phrase overlapping the mention cancels it */
                bool cancel = false;
                for (const char *const *u = rv_chx_unmention[lab]; *u && !cancel; u++) {
                    size_t ul = strlen(*u);
                    for (const char *h2 = strstr(S->s, *u); h2; h2 = strstr(h2 + 1, *u)) {
                        size_t uc = (size_t)(h2 - S->s);
                        if (uc < c + ml && c < uc + ul) { cancel = true; break; }
                    }
                }
                if (cancel) continue;
                size_t first = c, last = c + ml - 1;
                while (first < last && S->s[first] == ' ') first++;
                while (last > first && S->s[last] == ' ') last--;
                int m0 = word_at(S, first), m1 = word_at(S, last);
                bool neg = false, unc = false;
                for (size_t i = 0; i < nt; i++) {
                    const trig *t = &T[i];
                    if (t->kind == 0 || t->kind == 2) {
                        if (t->w1 < m0 && m0 - t->w1 <= t->window && !blocked(T, nt, t->w1, m0)) {
                            if (t->kind == 0) neg = true; else unc = true;
                        }
                    } else if (t->kind == 1 || t->kind == 3) {
                        if (t->w0 > m1 && t->w0 - m1 <= t->window && !blocked(T, nt, m1, t->w0)) {
                            if (t->kind == 1) neg = true; else unc = true;
                        }
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
