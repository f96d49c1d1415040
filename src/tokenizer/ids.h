/* A growable list of token ids: what the tokenizer, the BPE model and the chat template all
 * produce. Its own header so that tokenizer.h and bpe.h do not include each other. */
#ifndef RADVLM_TOKENIZER_IDS_H
#define RADVLM_TOKENIZER_IDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct rv_ids {
    int32_t *v;
    size_t n, cap;
} rv_ids;

void rv_ids_push(rv_ids *a, int32_t id);
void rv_ids_free(rv_ids *a);

#endif
