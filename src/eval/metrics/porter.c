/* Written from the rules of NLTK's porter.py (mode NLTK_EXTENSIONS). The word is edited in
 * place in a buffer; a "stem" below is the word minus a candidate suffix, as in the rules. */
#include "eval/metrics/porter.h"

#include <stdbool.h>
#include <string.h>

typedef struct { char *b; size_t n; } word;

static bool is_cons(const char *w, size_t i) {
    switch (w[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u': return false;
    case 'y': return i == 0 ? true : !is_cons(w, i - 1);
    default: return true;
    }
}

/* m: number of "vc" transitions in w[0..n) */
static int measure(const char *w, size_t n) {
    int m = 0;
    bool prev_v = false;
    for (size_t i = 0; i < n; i++) {
        bool c = is_cons(w, i);
        if (c && prev_v) m++;
        prev_v = !c;
    }
    return m;
}

static bool has_vowel(const char *w, size_t n) {
    for (size_t i = 0; i < n; i++) if (!is_cons(w, i)) return true;
    return false;
}

static bool ends_double_cons(const char *w, size_t n) {
    return n >= 2 && w[n - 1] == w[n - 2] && is_cons(w, n - 1);
}

static bool ends_cvc(const char *w, size_t n) {
    if (n >= 3 && is_cons(w, n - 3) && !is_cons(w, n - 2) && is_cons(w, n - 1) &&
        w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y')
        return true;
    return n == 2 && !is_cons(w, 0) && is_cons(w, 1);
}

static bool ends(const word *w, const char *suf) {
    size_t l = strlen(suf);
    return w->n >= l && memcmp(w->b + w->n - l, suf, l) == 0;
}

static void set_suffix(word *w, size_t drop, const char *rep) {
    w->n -= drop;
    size_t l = strlen(rep);
    memcpy(w->b + w->n, rep, l);
    w->n += l;
}

typedef enum { C_NONE, C_M0, C_M1, C_LOGI, C_ION } cond;
typedef struct { const char *suf, *rep; cond c; } rule;

static bool check(const word *w, size_t stem_n, cond c, size_t word_n) {
    switch (c) {
    case C_NONE: return true;
    case C_M0: return measure(w->b, stem_n) > 0;
    case C_M1: return measure(w->b, stem_n) > 1;
    case C_LOGI: return measure(w->b, word_n - 3) > 0; /* measure of word[:-3] */
    case C_ION: return measure(w->b, stem_n) > 1 && stem_n > 0 &&
                       (w->b[stem_n - 1] == 's' || w->b[stem_n - 1] == 't');
    }
    return false;
}

/* First rule whose suffix matches decides: replaced if its condition holds, else unchanged. */
static void apply_rules(word *w, const rule *rs, size_t nr) {
    for (size_t i = 0; i < nr; i++) {
        if (!ends(w, rs[i].suf)) continue;
        size_t stem_n = w->n - strlen(rs[i].suf);
        if (check(w, stem_n, rs[i].c, w->n)) set_suffix(w, strlen(rs[i].suf), rs[i].rep);
        return;
    }
}

static void step1a(word *w) {
    if (w->n == 4 && ends(w, "ies")) { set_suffix(w, 3, "ie"); return; }
    static const rule r[] = {{"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE}, {"s", "", C_NONE}};
    apply_rules(w, r, 4);
}

static void step1b(word *w) {
    if (ends(w, "ied")) { set_suffix(w, 3, w->n == 4 ? "ie" : "i"); return; }
    if (ends(w, "eed")) {
        if (measure(w->b, w->n - 3) > 0) set_suffix(w, 3, "ee");
        return;
    }
    size_t cut = 0;
    if (ends(w, "ed") && has_vowel(w->b, w->n - 2)) cut = 2;
    else if (ends(w, "ing") && has_vowel(w->b, w->n - 3)) cut = 3;
    if (!cut) return;
    w->n -= cut; /* the intermediate stem */
    if (ends(w, "at")) { set_suffix(w, 2, "ate"); return; }
    if (ends(w, "bl")) { set_suffix(w, 2, "ble"); return; }
    if (ends(w, "iz")) { set_suffix(w, 2, "ize"); return; }
    if (ends_double_cons(w->b, w->n)) {
        char last = w->b[w->n - 1];
        if (last != 'l' && last != 's' && last != 'z') w->n -= 1; /* stem[:-2] + last letter */
        return;
    }
    if (measure(w->b, w->n) == 1 && ends_cvc(w->b, w->n)) set_suffix(w, 0, "e");
}

static void step1c(word *w) {
    if (ends(w, "y")) {
        size_t sn = w->n - 1;
        if (sn > 1 && is_cons(w->b, sn - 1)) w->b[w->n - 1] = 'i';
    }
}

static void step2(word *w) {
    if (ends(w, "alli") && measure(w->b, w->n - 4) > 0) {
        set_suffix(w, 4, "al");
        step2(w);
        return;
    }
    static const rule r[] = {
        {"ational", "ate", C_M0}, {"tional", "tion", C_M0}, {"enci", "ence", C_M0},
        {"anci", "ance", C_M0},   {"izer", "ize", C_M0},    {"bli", "ble", C_M0},
        {"alli", "al", C_M0},     {"entli", "ent", C_M0},   {"eli", "e", C_M0},
        {"ousli", "ous", C_M0},   {"ization", "ize", C_M0}, {"ation", "ate", C_M0},
        {"ator", "ate", C_M0},    {"alism", "al", C_M0},    {"iveness", "ive", C_M0},
        {"fulness", "ful", C_M0}, {"ousness", "ous", C_M0}, {"aliti", "al", C_M0},
        {"iviti", "ive", C_M0},   {"biliti", "ble", C_M0},  {"fulli", "ful", C_M0},
        {"logi", "log", C_LOGI},
    };
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step3(word *w) {
    static const rule r[] = {{"icate", "ic", C_M0}, {"ative", "", C_M0}, {"alize", "al", C_M0},
                             {"iciti", "ic", C_M0}, {"ical", "ic", C_M0}, {"ful", "", C_M0},
                             {"ness", "", C_M0}};
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step4(word *w) {
    static const rule r[] = {
        {"al", "", C_M1},   {"ance", "", C_M1}, {"ence", "", C_M1}, {"er", "", C_M1},
        {"ic", "", C_M1},   {"able", "", C_M1}, {"ible", "", C_M1}, {"ant", "", C_M1},
        {"ement", "", C_M1}, {"ment", "", C_M1}, {"ent", "", C_M1}, {"ion", "", C_ION},
        {"ou", "", C_M1},   {"ism", "", C_M1},  {"ate", "", C_M1},  {"iti", "", C_M1},
        {"ous", "", C_M1},  {"ive", "", C_M1},  {"ize", "", C_M1},
    };
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step5a(word *w) {
    if (!ends(w, "e")) return;
    size_t sn = w->n - 1;
    int m = measure(w->b, sn);
    if (m > 1 || (m == 1 && !ends_cvc(w->b, sn))) w->n = sn;
}

static void step5b(word *w) {
    if (ends(w, "ll") && measure(w->b, w->n - 1) > 1) w->n -= 1;
}

size_t rv_porter_stem(const char *in, size_t n, char *out) {
    static const char *const irregular[][2] = {
        {"skies", "sky"}, {"sky", "sky"}, {"dying", "die"}, {"lying", "lie"}, {"tying", "tie"},
        {"news", "news"}, {"innings", "inning"}, {"inning", "inning"}, {"outings", "outing"},
        {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"}, {"howe", "howe"},
        {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++)
        if (strlen(irregular[i][0]) == n && memcmp(irregular[i][0], in, n) == 0) {
            size_t l = strlen(irregular[i][1]);
            memcpy(out, irregular[i][1], l + 1);
            return l;
        }
    memcpy(out, in, n);
    out[n] = '\0';
    if (n <= 2) return n;
    /* every rule shortens or keeps the length except +e / ate / ble / ize after cutting ed/ing,
     * which never exceed the original length */
    word w = {out, n};
    step1a(&w); step1b(&w); step1c(&w); step2(&w); step3(&w); step4(&w); step5a(&w); step5b(&w);
    out[w.n] = '\0';
    return w.n;
}
