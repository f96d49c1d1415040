#include "eval/metrics/google_bleu.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics/pytext.h"

/* ASCII punctuation the first 13a pass pads with spaces: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
 * ( ) * + : ; < = > ? @ / (not ' - . ,). */
static int pass1_char(unsigned char c) {
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == '/';
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_pc(unsigned char c) { return c == '.' || c == ','; }

/* Each pass is one left-to-right re.sub with non-overlapping two-character matches. Working on
 * bytes gives the same result as on code points: inserted spaces never split a character and
 * continuation bytes are neither digits nor . , - . */
void rv_tok13a(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n) {
    size_t cap = 24 * (n + 2) + 64; /* pass 1 at most triples, passes 2-4 at most double each */
    char *a = rv_xmalloc(cap), *b = rv_xmalloc(cap);
    size_t al = 0, bl = 0;
    /* remove "<skipped>" (first full str.replace) */
    for (size_t i = 0; i < n;) {
        if (n - i >= 9 && memcmp(s + i, "<skipped>", 9) == 0) { i += 9; continue; }
        b[bl++] = s[i++];
    }
    /* then "-\n" -> "" and "\n" -> " " (equivalent to the two replaces in sequence) */
    int has_amp = 0;
    for (size_t i = 0; i < bl;) {
        if (i + 1 < bl && b[i] == '-' && b[i + 1] == '\n') { i += 2; continue; }
        char c = b[i++];
        if (c == '&') has_amp = 1;
        a[al++] = c == '\n' ? ' ' : c;
    }
    if (has_amp) {
        static const char *const from[4] = {"&quot;", "&amp;", "&lt;", "&gt;"};
        static const char to[4] = {'"', '&', '<', '>'};
        for (int r = 0; r < 4; r++) {
            size_t fl = strlen(from[r]);
            bl = 0;
            for (size_t i = 0; i < al;) {
                if (al - i >= fl && memcmp(a + i, from[r], fl) == 0) { b[bl++] = to[r]; i += fl; }
                else b[bl++] = a[i++];
            }
            memcpy(a, b, bl);
            al = bl;
        }
    }
    /* pad with one space each side, then pass 1 */
    bl = 0;
    b[bl++] = ' '; b[bl++] = ' '; b[bl++] = ' ';
    for (size_t i = 0; i < al; i++) {
        unsigned char c = (unsigned char)a[i];
        if (pass1_char(c)) { b[bl++] = ' '; b[bl++] = (char)c; b[bl++] = ' '; }
        else b[bl++] = (char)c;
    }
    b[bl++] = ' '; b[bl++] = ' '; b[bl++] = ' ';
    /* (the padding spaces are pass-1 characters themselves: " " -> "   ") */
    /* pass 2: ([^0-9])([.,]) -> "\1 \2 " */
    al = 0;
    for (size_t i = 0; i < bl;) {
        unsigned char c = (unsigned char)b[i];
        if (!is_digit(c) && i + 1 < bl && is_pc((unsigned char)b[i + 1])) {
            a[al++] = (char)c; a[al++] = ' '; a[al++] = b[i + 1]; a[al++] = ' ';
            i += 2;
        } else { a[al++] = (char)c; i++; }
    }
    /* pass 3: ([.,])([^0-9]) -> " \1 \2" */
    bl = 0;
    for (size_t i = 0; i < al;) {
        unsigned char c = (unsigned char)a[i];
        if (is_pc(c) && i + 1 < al && !is_digit((unsigned char)a[i + 1])) {
            b[bl++] = ' '; b[bl++] = (char)c; b[bl++] = ' '; b[bl++] = a[i + 1];
            i += 2;
        } else { b[bl++] = (char)c; i++; }
    }
    /* pass 4: ([0-9])(-) -> "\1 \2 " */
    al = 0;
    for (size_t i = 0; i < bl;) {
        unsigned char c = (unsigned char)b[i];
        if (is_digit(c) && i + 1 < bl && b[i + 1] == '-') {
            a[al++] = (char)c; a[al++] = ' '; a[al++] = '-'; a[al++] = ' ';
            i += 2;
        } else { a[al++] = (char)c; i++; }
    }
    rv_toks_pysplit(ws, out, a, al);
    free(a);
    free(b);
}

double rv_google_bleu(const char *hyp, size_t hlen, const char *ref, size_t rlen, rv_ngram_ws *ws) {
    rv_tok13a(ws, &ws->hyp, hyp, hlen);
    rv_tok13a(ws, &ws->ref, ref, rlen);
    rv_gtab_reset(&ws->tab, 4 * (ws->hyp.n + ws->ref.n));
    rv_gtab_count(&ws->tab, &ws->hyp, 4, 0);
    rv_gtab_count(&ws->tab, &ws->ref, 4, 1);
    double tpfp = 0, tpfn = 0, tp = 0;
    for (size_t i = 0; i < ws->tab.n; i++) {
        const rv_gent *e = rv_gtab_at(&ws->tab, i);
        if (!e->h) continue;
        tpfp += e->a;
        tpfn += e->b;
        tp += e->a < e->b ? e->a : e->b;
    }
    double all = tpfp > tpfn ? tpfp : tpfn;
    return all > 0 ? tp / all : 0.0;
}
