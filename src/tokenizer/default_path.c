#include <stdlib.h>

#include "core/fsutil.h"
#include "tokenizer/tokenizer.h"

char *rv_tokenizer_default_path(const char *data_dir, const char *run_dir) {
    const char *cands[3][2] = {{data_dir, "tokenizer.json"}, {data_dir, "tokenizer/tokenizer.json"},
                               {run_dir, "tokenizer.json"}};
    for (int i = 0; i < 3; i++) {
        if (!cands[i][0]) continue;
        char *c = rv_path_join(cands[i][0], cands[i][1]);
        if (rv_is_file(c)) return c;
        free(c);
    }
    return NULL;
}
