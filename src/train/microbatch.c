#include "train/microbatch.h"

int rv_microbatch_plan(const int *lens, int n, int max_tokens, int *starts, int *nmb, rv_err *err) {
    int b = 0;
    long long fill = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] > max_tokens)
            return rv_fail(err, "sample %d of the step has %d tokens (image rows included), more than sft.max_tokens = %d; "
                                "raise sft.max_tokens", i, lens[i], max_tokens);
        if (i == 0 || fill + lens[i] > max_tokens) {
            starts[b++] = i;
            fill = 0;
        }
        fill += lens[i];
    }
    starts[b] = n;
    *nmb = b;
    return 0;
}
