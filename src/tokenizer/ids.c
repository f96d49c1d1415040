#include "tokenizer/ids.h"

#include <stdlib.h>

#include "core/error.h"

void rv_ids_push(rv_ids *a, int32_t id) {
    if (a->n == a->cap) { a->cap = a->cap ? 2 * a->cap : 64; a->v = rv_xrealloc(a->v, a->cap * sizeof *a->v); }
    a->v[a->n++] = id;
}

void rv_ids_free(rv_ids *a) { free(a->v); a->v = NULL; a->n = a->cap = 0; }
