#include "eval/google_bleu.h"

#include <string.h>

#include "core/strbuf.h"
#include "eval/pytext.h"

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
    rv_sb a, b;
    rv_sb_init(&a);
    rv_sb_init(&b);
    rv_sb_putc(&a, ' ');
    int has_amp = 0;
    /* remove "<skipped>", then "-\n" (joins), then "\n" -> " " (each a full str.replace) */
    rv_sb t0;
    rv_sb_init(&t0);
    for (size_t i = 0; i < n;) {
        if (n - i >= 9 && memcmp(s + i, "<skipped>", 9) == 0) { i += 9; continue; }
        rv_sb_putc(&t0, s[i++]);
    }
    rv_sb t1;
    rv_sb_init(&t1);
    for (size_t i = 0; i < t0.len;) {
        if (i + 1 < t0.len && t0.s[i] == '-' && t0.s[i + 1] == '\n') { i += 2; continue; }
        char c = t0.s[i++];
        if (c == '&') has_amp = 1;
        rv_sb_putc(&t1, c == '\n' ? ' ' : c);
    }
    if (has_amp) {
        static const char *const from[4] = {"&quot;", "&amp;", "&lt;", "&gt;"};
        static const char to[4] = {'"', '&', '<', '>'};
        for (int r = 0; r < 4; r++) {
            size_t fl = strlen(from[r]);
            rv_sb_clear(&t0);
            for (size_t i = 0; i < t1.len;) {
                if (t1.len - i >= fl && memcmp(t1.s + i, from[r], fl) == 0) { rv_sb_putc(&t0, to[r]); i += fl; }
                else rv_sb_putc(&t0, t1.s[i++]);
            }
            rv_sb tmp = t1; t1 = t0; t0 = tmp;
        }
    }
    rv_sb_append(&a, t1.s ? t1.s : "", t1.len);
    rv_sb_putc(&a, ' ');
    rv_sb_free(&t0);
    rv_sb_free(&t1);

    /* pass 1 */
    for (size_t i = 0; i < a.len; i++) {
        unsigned char c = (unsigned char)a.s[i];
        if (pass1_char(c)) { rv_sb_putc(&b, ' '); rv_sb_putc(&b, (char)c); rv_sb_putc(&b, ' '); }
        else rv_sb_putc(&b, (char)c);
    }
    /* pass 2: ([^0-9])([.,]) -> "\1 \2 " */
    rv_sb_clear(&a);
    for (size_t i = 0; i < b.len;) {
        unsigned char c = (unsigned char)b.s[i];
        if (!is_digit(c) && i + 1 < b.len && is_pc((unsigned char)b.s[i + 1])) {
            rv_sb_putc(&a, (char)c); rv_sb_putc(&a, ' '); rv_sb_putc(&a, b.s[i + 1]); rv_sb_putc(&a, ' ');
            i += 2;
        } else { rv_sb_putc(&a, (char)c); i++; }
    }
    /* pass 3: ([.,])([^0-9]) -> " \1 \2" */
    rv_sb_clear(&b);
    for (size_t i = 0; i < a.len;) {
        unsigned char c = (unsigned char)a.s[i];
        if (is_pc(c) && i + 1 < a.len && !is_digit((unsigned char)a.s[i + 1])) {
            rv_sb_putc(&b, ' '); rv_sb_putc(&b, (char)c); rv_sb_putc(&b, ' '); rv_sb_putc(&b, a.s[i + 1]);
            i += 2;
        } else { rv_sb_putc(&b, (char)c); i++; }
    }
    /* pass 4: ([0-9])(-) -> "\1 \2 " */
    rv_sb_clear(&a);
    for (size_t i = 0; i < b.len;) {
        unsigned char c = (unsigned char)b.s[i];
        if (is_digit(c) && i + 1 < b.len && b.s[i + 1] == '-') {
            rv_sb_putc(&a, (char)c); rv_sb_putc(&a, ' '); rv_sb_putc(&a, '-'); rv_sb_putc(&a, ' ');
            i += 2;
        } else { rv_sb_putc(&a, (char)c); i++; }
    }
    rv_toks_pysplit(ws, out, a.s, a.len);
    rv_sb_free(&a);
    rv_sb_free(&b);
}

double rv_google_bleu(const char *hyp, size_t hlen, const char *ref, size_t rlen, rv_ngram_ws *ws) {
    rv_tok13a(ws, &ws->hyp, hyp, hlen);
    rv_tok13a(ws, &ws->ref, ref, rlen);
    rv_gtab_reset(&ws->tab, 4 * (ws->hyp.n + ws->ref.n));
    rv_gtab_count(&ws->tab, &ws->hyp, 4, 0);
    rv_gtab_count(&ws->tab, &ws->ref, 4, 1);
    double tpfp = 0, tpfn = 0, tp = 0;
    for (size_t i = 0; i < ws->tab.cap; i++) {
        const rv_gent *e = &ws->tab.e[i];
        if (!e->h) continue;
        tpfp += e->a;
        tpfn += e->b;
        tp += e->a < e->b ? e->a : e->b;
    }
    double all = tpfp > tpfn ? tpfp : tpfn;
    return all > 0 ? tp / all : 0.0;
}
