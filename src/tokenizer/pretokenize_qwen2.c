/* Each alternative is matched in order at pos; the backtracking of the greedy runs is worked
 * out by hand (comments below), so no regex engine is needed and the result is the same. */
#include "tokenizer/pretokenize_qwen2.h"

#include <stdbool.h>
#include <stdint.h>

#include "io/utf8.h"
#include "tokenizer/uni_cursor.h"

const char rv_qwen2_split_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

#define IS_L(c) ((c).fl & RV_UNI_L)
#define IS_N(c) ((c).fl & RV_UNI_N)
#define IS_WS(c) ((c).fl & RV_UNI_WS)
#define IS_CRLF(c) ((c).cp == '\r' || (c).cp == '\n')
#define IS_OTHER(c) rv_uc_is_other(c)

static size_t run_crlf(const char *s, size_t n, size_t pos) {
    while (pos < n && (s[pos] == '\r' || s[pos] == '\n')) pos++;
    return pos;
}

/* (?i:...) letters: Unicode simple case folding maps only 'S', 's' and U+017F (long s) to 's';
 * the other letters of the contractions fold from their ASCII pair alone. */
static int fold(rv_uc_char c) {
    if (c.cp == 0x17F) return 's';
    if (c.cp < 0x80) return (c.cp >= 'A' && c.cp <= 'Z') ? (int)c.cp + 32 : (int)c.cp;
    return -1;
}

size_t rv_qwen2_next(const char *s, size_t n, size_t pos) {
    rv_uc_char c0 = rv_uc_at(s, n, pos);
    size_t p1 = pos + c0.len;
    rv_uc_char c1 = rv_uc_at(s, n, p1);

    /* 1. contractions */
    if (c0.cp == '\'' && c1.len) {
        int f1 = fold(c1);
        if (f1 == 's' || f1 == 't' || f1 == 'm' || f1 == 'd') return p1 + c1.len;
        if (f1 == 'r' || f1 == 'v' || f1 == 'l') {
            rv_uc_char c2 = rv_uc_at(s, n, p1 + c1.len);
            int f2 = c2.len ? fold(c2) : -1;
            if ((f1 != 'l' && f2 == 'e') || (f1 == 'l' && f2 == 'l')) return p1 + c1.len + c2.len;
        }
    }
    /* 2. optional one non-CR/LF non-letter non-number, then letters */
    if (IS_L(c0)) return rv_uc_run(s, n, p1, RV_UNI_L);
    if (!IS_CRLF(c0) && !IS_N(c0) && IS_L(c1)) return rv_uc_run(s, n, p1 + c1.len, RV_UNI_L);
    /* 3. one number */
    if (IS_N(c0)) return p1;
    /* 4. optional ASCII space, symbols, trailing CR/LF */
    if (c0.cp == ' ' && IS_OTHER(c1)) return run_crlf(s, n, rv_uc_run_other(s, n, p1));
    if (IS_OTHER(c0)) return run_crlf(s, n, rv_uc_run_other(s, n, p1));
    /* c0 is whitespace from here on. Find the whitespace run [pos, end), the start of its last
     * character, and the end of its last CR/LF. */
    size_t end = pos, last_start = pos, crlf_end = 0;
    bool has_crlf = false;
    for (;;) {
        rv_uc_char c = rv_uc_at(s, n, end);
        if (!c.len || !IS_WS(c)) break;
        last_start = end;
        end += c.len;
        if (IS_CRLF(c)) { has_crlf = true; crlf_end = end; }
    }
    /* 5. \s*[\r\n]+: \s* gives back until a CR/LF can start [\r\n]+, i.e. up to the last CR/LF */
    if (has_crlf) return crlf_end;
    /* 6. \s+(?!\S): all of it at the end of text, else all but the last character (if any left) */
    if (end >= n) return end;
    if (last_start > pos) return last_start;
    /* 7. \s+ */
    return end;
}
