/* RadGraph-XL's report preprocessing (radgraph 0.1.18 utils.py radgraph_xl_preprocess_report). */
#include "eval/neural/radgraph_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "eval/metrics/pytext.h"
#include "textenc/textenc_unicode.h"
#include "tokenizer/unicode_tables.h"

/* Python's str.replace(old, new) on a NUL-terminated string: non-overlapping, left to right. */
static char *replace_all(char *s, const char *old, const char *rep) {
    size_t lo = strlen(old);
    if (!strstr(s, old)) return s;
    rv_sb out = {0};
    const char *p = s, *hit;
    while ((hit = strstr(p, old))) {
        rv_sb_append(&out, p, (size_t)(hit - p));
        rv_sb_puts(&out, rep);
        p = hit + lo;
    }
    rv_sb_puts(&out, p);
    free(s);
    return rv_sb_take(&out);
}

/* Python re's Unicode \w: str.isalnum() (letters L*, numbers N*) or '_'. */
static bool is_word_cp(unsigned cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return (rv_uni_flags(cp) & (RV_UNI_L | RV_UNI_N)) != 0;
}

/* Steps 1-3 of the header: escapes, whitespace collapse, wordpunct tokens joined by spaces. */
static char *wordpunct_joined(const char *text) {
    /* Invalid UTF-8 -> U+FFFD first, so every later step sees code points. */
    rv_sb clean = {0};
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = rv_py_utf8_decode(text + i, n - i, &cp);
        if (cp == 0xFFFD && l == 1 && (unsigned char)text[i] >= 0x80) rv_sb_puts(&clean, "\xEF\xBF\xBD");
        else rv_sb_append(&clean, text + i, l);
        i += l;
    }
    char *s = rv_sb_take(&clean);
    s = replace_all(s, "\\n", "  ");
    s = replace_all(s, "\\f", "  ");
    s = replace_all(s, "\\u2122", "      ");
    s = replace_all(s, "\n", " ");
    s = replace_all(s, "\\\"", "``");

    /* re.sub(r'\s+', ' ') then re.findall(r'\w+|[^\w\s]+') joined by ' ': a token is a maximal
     * run of \w or of [^\w\s]; whitespace only separates. */
    rv_sb out = {0};
    n = strlen(s);
    int prev = 0; /* 0: whitespace / start, 1: word run, 2: punctuation run */
    for (size_t i = 0; i < n;) {
        size_t sp = rv_py_space_len(s + i, n - i);
        if (sp) {
            prev = 0;
            i += sp;
            continue;
        }
        unsigned cp;
        size_t l = rv_py_utf8_decode(s + i, n - i, &cp);
        int cls = is_word_cp(cp) ? 1 : 2;
        if (cls != prev && out.len) rv_sb_putc(&out, ' ');
        rv_sb_append(&out, s + i, l);
        prev = cls;
        i += l;
    }
    free(s);
    char *j = out.len ? rv_sb_take(&out) : rv_xstrdup("");
    rv_sb_free(&out);
    return j;
}

size_t rv_rg_words(const char *text, char ***words) {
    char *s = wordpunct_joined(text);
    s = replace_all(s, ").", ") .");
    s = replace_all(s, "%.", "% .");
    s = replace_all(s, ".'", ". '");
    s = replace_all(s, "%,", "% ,");
    s = replace_all(s, "%)", "% )");
    /* After the steps above the only whitespace is single ASCII spaces. */
    size_t n = 0, cap = 0;
    char **w = NULL;
    for (char *p = s; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *e = p;
        while (*e && *e != ' ') e++;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            w = rv_xrealloc(w, cap * sizeof *w);
        }
        w[n++] = rv_xstrndup(p, (size_t)(e - p));
        p = e;
    }
    free(s);
    *words = w;
    return n;
}

void rv_rg_words_free(char **words, size_t n) {
    for (size_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

const char *rv_rg_model_word(const char *w) {
    return (!strcmp(w, "/.") || !strcmp(w, "/?")) ? w + 1 : w;
}

char *rv_rg_lower(const char *s) {
    size_t n = strlen(s), m = 0;
    uint32_t *cps = rv_xmalloc((n + 1) * sizeof *cps);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        i += rv_py_utf8_decode(s + i, n - i, &cp);
        cps[m++] = cp;
    }
    rv_sb out = {0};
    for (size_t i = 0; i < m; i++) {
        uint32_t c = cps[i];
        if (c < 0x80) {
            rv_sb_putc(&out, (char)((c >= 'A' && c <= 'Z') ? c + 32 : c));
            continue;
        }
        if (c == 0x3A3) { /* capital sigma: final form after a cased letter not followed by one */
            size_t j = i, k = i + 1;
            while (j > 0 && (rv_tu_flags(cps[j - 1]) & RV_TU_IGN)) j--;
            while (k < m && (rv_tu_flags(cps[k]) & RV_TU_IGN)) k++;
            bool before = j > 0 && (rv_tu_flags(cps[j - 1]) & RV_TU_CASED);
            bool after = k < m && (rv_tu_flags(cps[k]) & RV_TU_CASED);
            rv_sb_put_cp(&out, before && !after ? 0x3C2 : 0x3C3);
            continue;
        }
        const rv_tu_map *mp = rv_tu_find(rv_tu_lower, rv_tu_lower_n, c);
        if (!mp) rv_sb_put_cp(&out, c);
        else
            for (uint32_t k = 0; k < mp->len; k++) rv_sb_put_cp(&out, rv_tu_lower_pool[mp->off + k]);
    }
    free(cps);
    char *r = out.len ? rv_sb_take(&out) : rv_xstrdup("");
    rv_sb_free(&out);
    return r;
}
