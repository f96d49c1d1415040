/* A code-point cursor over UTF-8 text with the Unicode classes of tokenizer/unicode_tables.h, for
 * the hand-written pre-tokenizer splits (Qwen2's here, GPT-2's in textenc/bytebpe.c): the
 * character at a byte position and the end of a run of one class. */
#ifndef RADVLM_TOKENIZER_UNI_CURSOR_H
#define RADVLM_TOKENIZER_UNI_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "io/utf8.h"
#include "tokenizer/unicode_tables.h"

typedef struct { uint32_t cp; unsigned len, fl; } rv_uc_char; /* len 0: past the end */

static inline rv_uc_char rv_uc_at(const char *s, size_t n, size_t pos) {
    rv_uc_char c = {0, 0, 0};
    if (pos >= n) return c;
    const unsigned char *u = (const unsigned char *)s + pos;
    if (u[0] < 0x80) c.cp = u[0], c.len = 1;
    else {
        size_t l = rv_utf8_decode(u, n - pos, &c.cp);
        if (!l) { c.cp = 0xFFFD; l = 1; } /* unreachable for validated input */
        c.len = (unsigned)l;
    }
    c.fl = rv_uni_flags(c.cp);
    return c;
}

/* [^\s\p{L}\p{N}] */
static inline int rv_uc_is_other(rv_uc_char c) { return c.len && !(c.fl & (RV_UNI_L | RV_UNI_N | RV_UNI_WS)); }

/* The end of the run from pos of characters having one of the class bits in mask. */
static inline size_t rv_uc_run(const char *s, size_t n, size_t pos, unsigned mask) {
    for (;;) {
        rv_uc_char c = rv_uc_at(s, n, pos);
        if (!c.len || !(c.fl & mask)) return pos;
        pos += c.len;
    }
}

/* The end of the run from pos of [^\s\p{L}\p{N}] characters. */
static inline size_t rv_uc_run_other(const char *s, size_t n, size_t pos) {
    for (;;) {
        rv_uc_char c = rv_uc_at(s, n, pos);
        if (!rv_uc_is_other(c)) return pos;
        pos += c.len;
    }
}

#endif
