#include "eval/neural/text_prep.h"

#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "eval/metrics/pytext.h"

char *rv_np_strip(const char *s, size_t n) {
    rv_span t = rv_py_strip(s, n);
    return rv_xstrndup(t.p, t.len);
}

char *rv_np_squash_space(const char *s, size_t n) {
    rv_span t = rv_py_strip(s, n);
    char *out = rv_xmalloc(t.len + 1);
    size_t o = 0, i = 0;
    while (i < t.len) {
        size_t w = rv_py_space_len(t.p + i, t.len - i);
        if (w) {
            while (i < t.len && (w = rv_py_space_len(t.p + i, t.len - i)) > 0) i += w;
            out[o++] = ' '; /* never trailing: t is stripped */
            continue;
        }
        out[o++] = t.p[i++];
    }
    out[o] = '\0';
    return out;
}

/* Python's str.lower of one code point for the scripts of report text; 0 = unchanged.
 * U+0130 (I with dot above) lowers to two code points, handled by the caller. */
static unsigned lower_cp(unsigned c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : 0;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x137 && c != 0x130) return (c & 1) ? 0 : c + 1;
    if (c >= 0x139 && c <= 0x148) return (c & 1) ? c + 1 : 0;
    if (c >= 0x14A && c <= 0x177) return (c & 1) ? 0 : c + 1;
    if (c == 0x178) return 0xFF;
    if (c == 0x179 || c == 0x17B || c == 0x17D) return c + 1;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c == 0x212A) return 'k';     /* KELVIN SIGN */
    if (c == 0x212B) return 0xE5;    /* ANGSTROM SIGN */
    return 0;
}

char *rv_np_lower_prefix(const char *s, size_t n, size_t max_cp) {
    size_t end = max_cp ? rv_py_prefix_cp(s, n, max_cp) : n;
    rv_sb b;
    rv_sb_init(&b);
    size_t i = 0;
    while (i < end) {
        unsigned cp;
        size_t l = rv_py_utf8_decode(s + i, end - i, &cp);
        unsigned lo = lower_cp(cp);
        if (cp == 0xFFFD && l == 1) rv_sb_put_cp(&b, 0xFFFD); /* an invalid byte */
        else if (cp == 0x130) { rv_sb_put_cp(&b, 'i'); rv_sb_put_cp(&b, 0x307); }
        else if (lo) rv_sb_put_cp(&b, lo);
        else rv_sb_append(&b, s + i, l);
        i += l;
    }
    if (!b.s) return rv_xstrdup("");
    return b.s;
}

char *rv_np_utf8_fix(const char *s, size_t n) {
    rv_sb b;
    rv_sb_init(&b);
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        size_t l = rv_py_utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && l == 1) rv_sb_put_cp(&b, 0xFFFD); /* an invalid byte */
        else rv_sb_append(&b, s + i, l);
        i += l;
    }
    if (!b.s) return rv_xstrdup("");
    return b.s;
}

size_t rv_np_codepoints(const char *s, size_t n) {
    size_t i = 0, k = 0;
    unsigned cp;
    while (i < n) { i += rv_py_utf8_decode(s + i, n - i, &cp); k++; }
    return k;
}
