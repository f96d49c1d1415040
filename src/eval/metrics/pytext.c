#include "eval/metrics/pytext.h"

#include <stdlib.h>

#include "core/error.h"

size_t rv_py_utf8_decode(const char *s, size_t n, unsigned *cp) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0];
    size_t len;
    unsigned min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; min = 0x10000; }
    else { *cp = 0xFFFD; return 1; }
    if (n < len) { *cp = 0xFFFD; return 1; }
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { *cp = 0xFFFD; return 1; }
    *cp = c;
    return len;
}

static bool is_py_space(unsigned c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    if (c < 0x85) return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t rv_py_space_len(const char *s, size_t n) {
    if (n == 0) return 0;
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return is_py_space(c) ? 1 : 0;
    if (c != 0xC2 && c != 0xE1 && c != 0xE2 && c != 0xE3) return 0; /* lead bytes of the set */
    unsigned cp;
    size_t l = rv_py_utf8_decode(s, n, &cp);
    return (cp != 0xFFFD && is_py_space(cp)) ? l : 0;
}

size_t rv_py_split(const char *s, size_t n, rv_span **toks, size_t *cap) {
    size_t count = 0, i = 0;
    while (i < n) {
        size_t w;
        while (i < n && (w = rv_py_space_len(s + i, n - i)) > 0) i += w;
        if (i >= n) break;
        size_t start = i;
        while (i < n && rv_py_space_len(s + i, n - i) == 0) i++;
        if (count == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *toks = rv_xrealloc(*toks, *cap * sizeof **toks);
        }
        (*toks)[count].p = s + start;
        (*toks)[count].len = i - start;
        count++;
    }
    return count;
}

rv_span rv_py_strip(const char *s, size_t n) {
    size_t b = 0, w;
    while (b < n && (w = rv_py_space_len(s + b, n - b)) > 0) b += w;
    /* forward scan keeps the end of the last non-space character */
    size_t e = b, i = b;
    unsigned cp;
    while (i < n) {
        w = rv_py_space_len(s + i, n - i);
        if (w) { i += w; continue; }
        i += rv_py_utf8_decode(s + i, n - i, &cp);
        e = i;
    }
    rv_span r = {s + b, e - b};
    return r;
}

size_t rv_py_prefix_cp(const char *s, size_t n, size_t max_cp) {
    size_t i = 0, k = 0;
    unsigned cp;
    while (i < n && k < max_cp) { i += rv_py_utf8_decode(s + i, n - i, &cp); k++; }
    return i;
}
