/* Unicode facts for the BERT BasicTokenizer (textenc/wordpiece.c), generated from Python's
 * unicodedata and str methods by tests/fixtures/textenc/gen_textenc_unicode.py, so that they
 * are the ones transformers' slow tokenizer sees (version rv_tu_version). */
#ifndef RADVLM_TEXTENC_TEXTENC_UNICODE_H
#define RADVLM_TEXTENC_TEXTENC_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    RV_TU_CTRL = 1,   /* category Cc or Cf */
    RV_TU_ZS = 2,     /* category Zs */
    RV_TU_PUNCT = 4,  /* category P* */
    RV_TU_MN = 8,     /* category Mn */
    RV_TU_SPACE = 16, /* Python str.isspace() */
    RV_TU_IGN = 32,   /* case-ignorable (str.lower()'s Final_Sigma context) */
    RV_TU_CASED = 64, /* cased and not case-ignorable */
};

typedef struct { uint32_t cp, off, len; } rv_tu_map;
typedef struct { uint32_t lo, hi, ccc; } rv_tu_ccc_range;

extern const char rv_tu_version[];
extern const uint16_t rv_tu_index[0x110000 / 128];
extern const uint8_t rv_tu_blocks[][128];
extern const rv_tu_map rv_tu_lower[]; /* sorted by cp */
extern const size_t rv_tu_lower_n;
extern const uint32_t rv_tu_lower_pool[];
extern const rv_tu_map rv_tu_nfd[];   /* sorted by cp; Hangul syllables are algorithmic */
extern const size_t rv_tu_nfd_n;
extern const uint32_t rv_tu_nfd_pool[];
extern const rv_tu_ccc_range rv_tu_ccc[];
extern const size_t rv_tu_ccc_n;

/* The entry of c in a table sorted by cp (rv_tu_lower, rv_tu_nfd), or NULL. */
static inline const rv_tu_map *rv_tu_find(const rv_tu_map *m, size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m[mid].cp < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && m[lo].cp == c ? &m[lo] : NULL;
}

static inline unsigned rv_tu_flags(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    return rv_tu_blocks[rv_tu_index[cp >> 7]][cp & 127];
}

#endif
