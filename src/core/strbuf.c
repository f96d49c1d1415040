#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void rv_sb_init(rv_sb *b) { b->s = NULL; b->len = b->cap = 0; }

void rv_sb_free(rv_sb *b) { free(b->s); rv_sb_init(b); }

void rv_sb_clear(rv_sb *b) { b->len = 0; if (b->s) b->s[0] = 0; }

static void reserve(rv_sb *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->s = rv_xrealloc(b->s, cap);
    b->cap = cap;
}

void rv_sb_append(rv_sb *b, const void *data, size_t n) {
    reserve(b, n);
    if (n) memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = 0;
}

void rv_sb_puts(rv_sb *b, const char *s) { rv_sb_append(b, s, strlen(s)); }

void rv_sb_putc(rv_sb *b, char c) { rv_sb_append(b, &c, 1); }

void rv_sb_put_cp(rv_sb *b, uint32_t c) {
    char u[4];
    size_t n;
    if (c < 0x80) { u[0] = (char)c; n = 1; }
    else if (c < 0x800) { u[0] = (char)(0xC0 | (c >> 6)); u[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12)); u[1] = (char)(0x80 | ((c >> 6) & 0x3F)); u[2] = (char)(0x80 | (c & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18)); u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F)); u[3] = (char)(0x80 | (c & 0x3F)); n = 4;
    }
    rv_sb_append(b, u, n);
}

void rv_sb_vprintf(rv_sb *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    reserve(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void rv_sb_printf(rv_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rv_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

char *rv_sb_take(rv_sb *b) {
    if (!b->s) { rv_sb_append(b, "", 0); }
    char *s = b->s;
    rv_sb_init(b);
    return s;
}
