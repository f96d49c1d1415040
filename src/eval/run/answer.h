/* What the eval run keeps of one generated answer (eval/run/item.h is the question). */
#ifndef RADVLM_EVAL_RUN_ANSWER_H
#define RADVLM_EVAL_RUN_ANSWER_H

typedef struct rv_eval_answer {
    char *full_output;  /* the decoded generation (special tokens skipped), before the answer rule */
    char *output;       /* the scored answer: full_output, or with eval.r1 the extracted final answer;
                           cut to its first 4000 code points as upstream stores it */
    int n_tokens;       /* generated tokens, a final stop token included */
    int stopped;        /* 1: ended on a stop token; 0: hit max_new_tokens */
    int found;          /* eval.r1: a final answer (\boxed{} or </think>) was found; else 1 */
    int prompt_tokens;  /* model-input length of the prompt (image rows included) */
    double seconds;     /* wall time from the prompt's prefill to its last token */
} rv_eval_answer;

void rv_eval_answer_free(rv_eval_answer *a);

#endif
