/* Growable byte/string buffer, always NUL-terminated. */
#ifndef RADVLM_CORE_STRBUF_H
#define RADVLM_CORE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rv_sb {
    char *s;
    size_t len, cap;
} rv_sb;

void rv_sb_init(rv_sb *b);
void rv_sb_free(rv_sb *b);
void rv_sb_clear(rv_sb *b);
void rv_sb_append(rv_sb *b, const void *data, size_t n);
void rv_sb_puts(rv_sb *b, const char *s);
void rv_sb_putc(rv_sb *b, char c);
/* Appends code point cp (<= U+10FFFF) as UTF-8. */
void rv_sb_put_cp(rv_sb *b, uint32_t cp);
void rv_sb_printf(rv_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rv_sb_vprintf(rv_sb *b, const char *fmt, va_list ap);
/* Returns the string and leaves the buffer empty; the caller frees it. */
char *rv_sb_take(rv_sb *b);

#endif
