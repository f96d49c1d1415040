/* UTF-8 validation and decoding (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef RADVLM_IO_UTF8_H
#define RADVLM_IO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool rv_utf8_valid(const char *s, size_t n);
/* Offset of the first byte that does not start a valid sequence; n when all is valid. */
size_t rv_utf8_first_invalid(const char *s, size_t n);
/* Decodes one code point at s (n bytes available); returns its length, or 0 when invalid. */
size_t rv_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
