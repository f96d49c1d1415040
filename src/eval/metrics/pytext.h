/* Python str semantics on UTF-8 bytes, for metrics that must tokenise exactly like their Python
 * references: str.split() / str.strip() whitespace (the Unicode set of str.isspace), slicing by
 * code points, and the few non-ASCII characters whose str.lower() yields ASCII letters. */
#ifndef RADVLM_EVAL_PYTEXT_H
#define RADVLM_EVAL_PYTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Byte length of the whitespace character starting at s[0] (0 if none; n bytes available). */
size_t rv_py_space_len(const char *s, size_t n);

/* A token as a span of the input. */
typedef struct rv_span {
    const char *p;
    size_t len;
} rv_span;

/* str.split(): appends the tokens of s[0..n) to *toks (grown with realloc; *cap tracks the
 * allocation) and returns the count. */
size_t rv_py_split(const char *s, size_t n, rv_span **toks, size_t *cap);

/* str.strip(): returns the span without leading/trailing whitespace. */
rv_span rv_py_strip(const char *s, size_t n);

/* Byte length of the first max_cp code points of s (s[:max_cp]); invalid bytes count as one. */
size_t rv_py_prefix_cp(const char *s, size_t n, size_t max_cp);

/* Decodes one UTF-8 code point at s (n bytes available): returns its byte length (1 for an
 * invalid byte, with *cp = 0xFFFD). */
size_t rv_py_utf8_decode(const char *s, size_t n, unsigned *cp);

#endif
