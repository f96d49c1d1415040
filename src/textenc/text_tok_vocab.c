/* The vocabulary table of a text tokenizer (id -> spelling, spelling -> id), filled by the
 * loaders of each kind (wordpiece.c, bytebpe.c); its own file so that the loaders and
 * text_tokenizer.c (which calls them) do not need each other. */
#include <stdlib.h>
#include <string.h>

#include "textenc/text_tok_impl.h"

void rv_tt_set_piece(rv_text_tok *t, int32_t id, const char *s, size_t n) {
    if ((size_t)id >= t->n_ids) {
        if ((size_t)id >= t->piece_cap) {
            size_t cap = t->piece_cap ? t->piece_cap : 1024;
            while (cap <= (size_t)id) cap *= 2;
            t->piece = rv_xrealloc(t->piece, cap * sizeof *t->piece);
            memset(t->piece + t->piece_cap, 0, (cap - t->piece_cap) * sizeof *t->piece);
            t->piece_cap = cap;
        }
        t->n_ids = (size_t)id + 1;
    }
    const char *key;
    if (!t->piece[id]) key = t->piece[id] = rv_xstrndup(s, n);
    else { /* a second spelling of an id (tokenizer.json): the first names the id, both map to it */
        t->alias = rv_xrealloc(t->alias, (t->nalias + 1) * sizeof *t->alias);
        key = t->alias[t->nalias++] = rv_xstrndup(s, n);
    }
    /* spelling -> id: a later duplicate spelling wins (Python dict assignment in load_vocab) */
    rv_smap_set(&t->map, key, (size_t)id);
}
