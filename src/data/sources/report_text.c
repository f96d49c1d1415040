#include "data/sources/report_text.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "data/sources/reader_util.h"
#include "io/utf8.h"

/* ---------------------------------------------------------------- raw text */

static char *delete_newlines(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i]; i++)
        if (s[i] != '\n') s[o++] = s[i];
    s[o] = 0;
    return s;
}

char *rv_report_mimic_raw(const char *findings, const char *impression, const char *last_paragraph) {
    const char *sec[3] = {findings, impression, last_paragraph};
    for (int i = 0; i < 3; i++)
        if (sec[i] && !rv_cell_isna(sec[i])) return delete_newlines(rv_xstrdup(sec[i]));
    return rv_xstrdup("");
}

char *rv_report_chexpert_plus_raw(const char *findings, const char *impression, const char *end_of_impression) {
    const char *sec[3] = {findings, impression, end_of_impression};
    rv_sb b;
    rv_sb_init(&b);
    for (int i = 0; i < 3; i++)
        if (sec[i] && !rv_cell_isna(sec[i])) rv_sb_puts(&b, sec[i]);
    char *s = rv_sb_take(&b);
    rv_py_capitalize(s);
    return delete_newlines(s);
}

/* Simple case mapping for the ranges where upper and lower case have the same UTF-8 length. */
static uint32_t case_map(uint32_t c, bool upper) {
    if (c < 0x80) return (uint32_t)(upper ? toupper((int)c) : tolower((int)c));
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return upper ? c : c + 0x20;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return upper ? c - 0x20 : c;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return upper ? (c & ~1u) : (c | 1u);
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) /* odd = upper */
        return upper ? ((c & 1u) ? c : c - 1) : ((c & 1u) ? c + 1 : c);
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return upper ? c : c + 0x20;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return upper ? c - 0x20 : c;
    if (c >= 0x410 && c <= 0x42F) return upper ? c : c + 0x20;
    if (c >= 0x430 && c <= 0x44F) return upper ? c - 0x20 : c;
    if (c >= 0x400 && c <= 0x40F) return upper ? c : c + 0x50;
    if (c >= 0x450 && c <= 0x45F) return upper ? c - 0x50 : c;
    return c;
}

static size_t utf8_put(uint32_t c, unsigned char *o) {
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = (unsigned char)(0xC0 | (c >> 6)); o[1] = (unsigned char)(0x80 | (c & 0x3F)); return 2; }
    o[0] = (unsigned char)(0xE0 | (c >> 12));
    o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (c & 0x3F));
    return 3;
}

void rv_py_capitalize(char *s) {
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    bool first = true;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = rv_utf8_decode(p + i, n - i, &cp);
        if (l == 0) { i++; first = false; continue; } /* invalid byte: leave it */
        uint32_t m = case_map(cp, first);
        unsigned char tmp[4];
        if (m != cp && utf8_put(m, tmp) == l) memcpy(p + i, tmp, l);
        first = false;
        i += l;
    }
}

/* ---------------------------------------------------------------- rule filter */

typedef struct { const char *w; bool whole; } stem;

/* Sentences that describe history, indication, technique or reporting logistics. */
static const char *const drop_prefixes[] = {
    "history", "indication", "clinical history", "clinical information", "clinical indication",
    "reason for exam", "reason for study", "comparison", "technique", "examination:", "exam:",
    "procedure", "wet read", "notification", "recommendation", "recommend", "dr.", "these findings were",
    "findings were discussed", "findings were communicated", "the findings were",
};
static const char *const technique_phrases[] = {
    "and lateral view", "and lateral radiograph", "and lateral chest", "portable ap", "portable pa",
    "portable upright", "portable semi", "portable supine", "portable chest", "single frontal", "single portable",
    "single ap", "single view", "semi-upright", "semi upright", "semierect", "semi-erect", "views of the chest",
    "view of the chest", "radiographs of the chest", "radiograph of the chest", "were obtained", "was obtained",
    "were provided", "was provided", "were acquired", "was acquired", "discussed with", "communicated to",
    "telephone", "paged",
};
/* Words marking a clause about a comparison with another study. */
static const stem cmp_stems[] = {
    {"compar", false}, {"prior", true}, {"priors", true}, {"previous", false}, {"since", true},
    {"earlier", true}, {"interval", false}, {"___", false},
};
/* Anything left that still speaks about time or change drops the whole sentence. */
static const stem temporal_stems[] = {
    {"compar", false}, {"prior", true}, {"priors", true}, {"previous", false}, {"since", true},
    {"interval", false}, {"unchang", false}, {"chang", false}, {"stable", true}, {"stabil", false},
    {"increas", false}, {"decreas", false}, {"improv", false}, {"worsen", false}, {"progress", false},
    {"persist", false}, {"resolv", false}, {"resolution", true}, {"remov", false}, {"redemonstrat", false},
    {"re-demonstrat", false}, {"again", true}, {"remain", false}, {"earlier", true}, {"recent", false},
    {"no longer", true}, {"new", true}, {"newly", true}, {"before", true}, {"today", false},
    {"yesterday", true}, {"follow-up", true}, {"followup", true}, {"follow up", true}, {"___", false},
};
/* Temporal modifiers removed in front of a finding ("Stable cardiomegaly" -> "Cardiomegaly"). */
static const char *const modifiers[] = {
    "unchanged", "stable", "new", "newly", "persistent", "persisting", "increased", "increasing",
    "decreased", "decreasing", "improved", "improving", "worsened", "worsening", "redemonstrated",
    "re-demonstrated", "previously noted", "previously seen", "again seen", "again noted", "interval",
    "continued", "enlarging",
};
static const char *const adverbs[] = {
    "slightly", "mildly", "minimally", "markedly", "significantly", "substantially", "somewhat", "overall",
};

static bool wordch(unsigned char c) { return isalnum(c) || c == '\'' || c >= 0x80; }

/* s[i..] starts with w case-insensitively, at a word start; whole: also ends at a word end. */
static bool match_at(const char *s, size_t i, const char *w, bool whole) {
    if (i > 0 && wordch((unsigned char)s[i - 1]) && wordch((unsigned char)w[0])) return false;
    size_t k = 0;
    for (; w[k]; k++)
        if (!s[i + k] || tolower((unsigned char)s[i + k]) != tolower((unsigned char)w[k])) return false;
    if (whole && wordch((unsigned char)s[i + k])) return false;
    return true;
}

/* Only word starts (and '_', which starts the "___" placeholder) can begin a match, and the
 * first letter must agree: this keeps the filter linear in practice. */
static bool candidate(const char *s, size_t i) {
    unsigned char c = (unsigned char)s[i];
    return c == '_' || (wordch(c) && (i == 0 || !wordch((unsigned char)s[i - 1])));
}

static bool has_stem(const char *s, size_t n, const stem *list, size_t nl) {
    for (size_t i = 0; i < n; i++) {
        if (!candidate(s, i)) continue;
        int c0 = tolower((unsigned char)s[i]);
        for (size_t j = 0; j < nl; j++)
            if (list[j].w[0] == c0 && i + strlen(list[j].w) <= n && match_at(s, i, list[j].w, list[j].whole))
                return true;
    }
    return false;
}

static bool has_phrase(const char *s, const char *const *list, size_t nl) {
    for (size_t i = 0; s[i]; i++) {
        if (!candidate(s, i)) continue;
        int c0 = tolower((unsigned char)s[i]);
        for (size_t j = 0; j < nl; j++)
            if (list[j][0] == c0 && match_at(s, i, list[j], false)) return true;
    }
    return false;
}

static bool starts_with_any(const char *s, const char *const *list, size_t nl) {
    for (size_t j = 0; j < nl; j++)
        if (match_at(s, 0, list[j], false)) return true;
    return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void trim(char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && isspace((unsigned char)s[a])) a++;
    while (n > a && isspace((unsigned char)s[n - 1])) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
}

static bool is_end_punct(char c) { return c == '.' || c == '!' || c == '?'; }

/* Removes leading and trailing comma/semicolon clauses that refer to another study. */
static void strip_comparison_clauses(char *s) {
    for (;;) {
        char *sep = strpbrk(s, ",;");
        if (!sep || !has_stem(s, (size_t)(sep - s), cmp_stems, N(cmp_stems))) break;
        memmove(s, sep + 1, strlen(sep + 1) + 1);
        trim(s);
    }
    for (;;) {
        char *sep = NULL;
        for (char *p = s; *p; p++)
            if (*p == ',' || *p == ';') sep = p;
        if (!sep) break;
        size_t tail = strlen(sep + 1);
        if (!has_stem(sep + 1, tail, cmp_stems, N(cmp_stems))) break;
        char end = tail && is_end_punct(s[strlen(s) - 1]) ? s[strlen(s) - 1] : '.';
        sep[0] = end;
        sep[1] = 0;
    }
}

/* Length of a modifier (optionally after an adverb) at s[i], including one following space. */
static size_t modifier_len(const char *s, size_t i) {
    size_t j = i;
    for (size_t a = 0; a < N(adverbs); a++)
        if (match_at(s, j, adverbs[a], true) && s[j + strlen(adverbs[a])] == ' ') {
            j += strlen(adverbs[a]) + 1;
            break;
        }
    for (size_t m = 0; m < N(modifiers); m++) {
        size_t l = strlen(modifiers[m]);
        if (match_at(s, j, modifiers[m], true) && s[j + l] == ' ') {
            j += l + 1;
            if (match_at(s, j, "and ", false)) { /* "stable and unchanged X" */
                size_t k = modifier_len(s, j + 4);
                if (k) j += 4 + k;
            }
            return j - i;
        }
    }
    return 0;
}

static void strip_modifiers(char *s) {
    size_t l = modifier_len(s, 0);
    if (l && s[l]) memmove(s, s + l, strlen(s + l) + 1);
    /* "a new X" / "an increased X" / "the unchanged X": drop the modifier, fix the article. */
    for (size_t i = 0; s[i]; i++) {
        if (!candidate(s, i)) continue;
        size_t art = 0;
        if (match_at(s, i, "a ", false)) art = 2;
        else if (match_at(s, i, "an ", false)) art = 3;
        else if (match_at(s, i, "the ", false)) art = 4;
        if (!art) continue;
        size_t m = modifier_len(s, i + art);
        if (!m || !s[i + art + m]) continue;
        memmove(s + i + art, s + i + art + m, strlen(s + i + art + m) + 1);
        if (art != 4) {
            bool vowel = strchr("aeiouAEIOU", s[i + art]) != NULL;
            bool up = isupper((unsigned char)s[i]);
            char a_an[4] = {up ? 'A' : 'a', 'n', ' ', 0};
            if (!vowel) { a_an[1] = ' '; a_an[2] = 0; }
            size_t newl = strlen(a_an);
            memmove(s + i + newl, s + i + art, strlen(s + i + art) + 1);
            memcpy(s + i, a_an, newl);
        }
    }
    /* "is again seen" -> "is seen" */
    static const char *const again[] = {"again seen", "again noted", "again demonstrated", "again visualized",
                                        "again identified", "again present"};
    for (size_t i = 0; s[i]; i++)
        for (size_t k = 0; k < N(again) && candidate(s, i); k++)
            if (match_at(s, i, again[k], true)) memmove(s + i, s + i + 6, strlen(s + i + 6) + 1);
}

/* Collapses whitespace, removes a space before punctuation, upper-cases the first letter and
 * ends the sentence with punctuation. */
static void tidy(char *s, rv_sb *out) {
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; s[i]; i++) {
        if (isspace((unsigned char)s[i])) { space = o > 0; continue; }
        if (space && !strchr(",;:.!?", s[i])) s[o++] = ' ';
        space = false;
        s[o++] = s[i];
    }
    s[o] = 0;
    while (o > 0 && (s[o - 1] == ',' || s[o - 1] == ';' || s[o - 1] == ':')) s[--o] = 0;
    if (!o) return;
    bool word = false;
    for (size_t i = 0; i < o; i++)
        if (isalnum((unsigned char)s[i])) { word = true; break; }
    if (!word) return;
    if (islower((unsigned char)s[0])) s[0] = (char)toupper((unsigned char)s[0]);
    if (out->len) rv_sb_putc(out, ' ');
    rv_sb_puts(out, s);
    if (!is_end_punct(s[o - 1])) rv_sb_putc(out, '.');
}

static void filter_sentence(char *s, rv_sb *out) {
    trim(s);
    if (!*s) return;
    if (starts_with_any(s, drop_prefixes, N(drop_prefixes))) return;
    if (has_phrase(s, technique_phrases, N(technique_phrases))) return;
    strip_comparison_clauses(s);
    strip_modifiers(s);
    if (has_stem(s, strlen(s), temporal_stems, N(temporal_stems))) return;
    tidy(s, out);
}

/* The word before position i (a '.') is an abbreviation that does not end a sentence. */
static bool abbreviation_before(const char *t, size_t i) {
    static const char *const abbr[] = {"dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "approx", "st", "no", "fig"};
    size_t a = i;
    while (a > 0 && (isalpha((unsigned char)t[a - 1]) || t[a - 1] == '.')) a--;
    size_t l = i - a;
    for (size_t k = 0; k < N(abbr); k++)
        if (strlen(abbr[k]) == l && match_at(t + a, 0, abbr[k], true)) {
            /* "No." ends a sentence when it is the whole answer; only treat it as "number" before a digit */
            if (strcmp(abbr[k], "no") == 0) {
                size_t j = i + 1;
                while (t[j] == ' ') j++;
                return isdigit((unsigned char)t[j]);
            }
            return true;
        }
    return false;
}

char *rv_report_filter_rules(const char *text) {
    rv_sb out;
    rv_sb_init(&out);
    size_t n = strlen(text), start = 0;
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        if (!end && is_end_punct(text[i]) && (i + 1 == n || isspace((unsigned char)text[i + 1])) &&
            !(text[i] == '.' && abbreviation_before(text, i)))
            end = true;
        if (!end) continue;
        size_t stop = i < n ? i + 1 : n;
        char *sent = rv_xstrndup(text + start, stop - start);
        filter_sentence(sent, &out);
        free(sent);
        start = stop;
    }
    char *r = rv_sb_take(&out);
    if (!*r || strstr(r, "None")) {
        free(r);
        return NULL;
    }
    return r;
}

char *rv_report_apply_filter(rv_report_filter f, char *raw) {
    if (!raw) return NULL;
    if (f == RV_REPORT_FILTER_RULES) {
        char *r = rv_report_filter_rules(raw);
        free(raw);
        return r;
    }
    if (!*raw) {
        free(raw);
        return NULL;
    }
    return raw;
}
