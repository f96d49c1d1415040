/* tokenizer.json (src/tokenizer/tokenizer.h): loading, then an encode/decode round of a fixed
 * text with special tokens, so a loaded-but-inconsistent table is exercised too. */
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "tokenizer/ids.h"
#include "fuzz.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    rv_tokenizer *t = NULL;
    if (rv_tokenizer_load_json("fuzz_tokenizer.json", (const char *)data, size, &t, &err) != 0) return 0;
    static const char text[] = "<|im_start|>user\n<image>\nFindings: no acute 12.5 cm\xc3\xa9 \xf0\x9f\x98\x80<|im_end|>";
    rv_ids ids = {0};
    if (rv_tokenizer_encode(t, text, strlen(text), &ids, &err) == 0) {
        rv_sb out;
        rv_sb_init(&out);
        rv_tokenizer_decode(t, ids.v, ids.n, false, &out, &err);
        rv_sb_free(&out);
    }
    rv_ids_free(&ids);
    rv_tokenizer_free(t);
    return 0;
}
