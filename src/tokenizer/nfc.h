/* Unicode NFC (canonical decomposition, canonical ordering, canonical composition) on valid
 * UTF-8, with the NFC_Quick_Check fast path: text that passes it is already NFC. */
#ifndef RADVLM_TOKENIZER_NFC_H
#define RADVLM_TOKENIZER_NFC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

/* True when s (valid UTF-8) is certainly NFC (quick check "Yes"); false means "maybe not". */
bool rv_nfc_quick_yes(const char *s, size_t n);
/* Appends NFC(s) to out. s must be valid UTF-8 (callers validate first). */
void rv_nfc_append(const char *s, size_t n, rv_sb *out);

#endif
