/* Unicode property tables for the tokenizer, generated from unicodedata modules by
 * tests/fixtures/tokenizer/gen_unicode_tables.py (the version is rv_uni_version). */
#ifndef RADVLM_TOKENIZER_UNICODE_TABLES_H
#define RADVLM_TOKENIZER_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

enum {
    RV_UNI_L = 1,          /* general category L* (\p{L}) */
    RV_UNI_N = 2,          /* general category N* (\p{N}) */
    RV_UNI_WS = 4,         /* White_Space (= Oniguruma's Unicode \s) */
    RV_UNI_QC_NO = 8,      /* NFC_Quick_Check = No */
    RV_UNI_QC_MAYBE = 16,  /* NFC_Quick_Check = Maybe */
};

typedef struct { uint32_t lo, hi; uint8_t ccc; } rv_uni_ccc_range;
typedef struct { uint32_t cp; uint16_t off, len; } rv_uni_decomp;
typedef struct { uint32_t first, second, composite; } rv_uni_comp;

extern const char rv_uni_version[];     /* classes (Oniguruma in HF tokenizers) */
extern const char rv_uni_nfc_version[]; /* NFC (unicode-normalization in HF tokenizers) */
extern const uint16_t rv_uni_flag_index[0x110000 / 128];
extern const uint8_t rv_uni_flag_blocks[][128];
extern const rv_uni_ccc_range rv_uni_ccc[];
extern const size_t rv_uni_ccc_n;
extern const rv_uni_decomp rv_uni_decomps[];
extern const size_t rv_uni_decomps_n;
extern const uint32_t rv_uni_decomp_pool[];
extern const rv_uni_comp rv_uni_comps[];
extern const size_t rv_uni_comps_n;

static inline unsigned rv_uni_flags(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    return rv_uni_flag_blocks[rv_uni_flag_index[cp >> 7]][cp & 127];
}

/* Canonical combining class (0 for starters). */
unsigned rv_uni_ccc_of(uint32_t cp);
/* Full canonical decomposition of cp (not Hangul); NULL when it has none. */
const uint32_t *rv_uni_decomposition(uint32_t cp, size_t *len);
/* Primary composite of (a, b), Hangul included; 0 when none. */
uint32_t rv_uni_compose(uint32_t a, uint32_t b);

#endif
