#define _XOPEN_SOURCE 700 /* mkdtemp */
/* The eval run's own pieces (no model): the rank plan (every question exactly once, balanced by
 * cost, the same on every rank), the answer store (append, read back by any rank count, a torn
 * last line and a file of other settings ignored, the first answer of a question wins, clear), and
 * the task output (eval.md §1.4: the r1 answer rule with the 4000-code-point cut, the raw rule's
 * cut, failed questions listed, scores in dataset order). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "eval/run/answer_store.h"
#include "eval/run/rank_plan.h"
#include "eval/run/task_output.h"

static void test_rank_plan(void) {
    /* 10 questions with costs; 3 ranks. LPT by hand (cost desc, ties by position):
     * costs: q0 5, q1 9, q2 1, q3 9, q4 3, q5 2, q6 7, q7 1, q8 4, q9 6
     * order: q1 9, q3 9, q6 7, q9 6, q0 5, q8 4, q4 3, q5 2, q2 1, q7 1
     * q1 -> r0 (9,0,0); q3 -> r1 (9,9,0); q6 -> r2 (9,9,7); q9 -> r2 (9,9,13); q0 -> r0 (14,9,13);
     * q8 -> r1 (14,13,13); q4 -> r1 (14,16,13); q5 -> r2 (14,16,15); q2 -> r0 (15,16,15); q7 -> r0 (16,16,15) */
    size_t todo[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int64_t cost[10] = {5, 9, 1, 9, 3, 2, 7, 1, 4, 6};
    size_t mine[10];
    size_t n0 = rv_eval_rank_plan(todo, cost, 10, 0, 3, mine);
    CHECK(n0 == 4 && mine[0] == 0 && mine[1] == 1 && mine[2] == 2 && mine[3] == 7);
    size_t n1 = rv_eval_rank_plan(todo, cost, 10, 1, 3, mine);
    CHECK(n1 == 3 && mine[0] == 3 && mine[1] == 4 && mine[2] == 8);
    size_t n2 = rv_eval_rank_plan(todo, cost, 10, 2, 3, mine);
    CHECK(n2 == 3 && mine[0] == 5 && mine[1] == 6 && mine[2] == 9);
    /* one rank: everything, ascending */
    size_t rev[4] = {7, 3, 5, 1};
    int64_t c4[4] = {1, 1, 1, 1};
    CHECK(rv_eval_rank_plan(rev, c4, 4, 0, 1, mine) == 4 && mine[0] == 1 && mine[3] == 7);
    /* more ranks than questions: each question once */
    size_t seen = 0;
    for (int r = 0; r < 5; r++) seen += rv_eval_rank_plan(rev, c4, 4, r, 5, mine);
    CHECK(seen == 4);
}

static rv_eval_answer ans(const char *text, int ntok) {
    return (rv_eval_answer){.full_output = (char *)text, .n_tokens = ntok, .stopped = 1, .prompt_tokens = 10, .seconds = 0.5};
}

static void test_answer_store(const char *dir) {
    rv_err e;
    rv_answer_writer w0, w1;
    CHECK(rv_answer_writer_open(&w0, dir, "m", "report_generation", 0, 2, 0xabcdef, &e) == 0);
    CHECK(rv_answer_writer_open(&w1, dir, "m", "report_generation", 1, 2, 0xabcdef, &e) == 0);
    rv_eval_answer a = ans("first \"quoted\" \xc3\xa9 line\nsecond", 7);
    CHECK(rv_answer_writer_put(&w0, 0, &a, &e) == 0);
    a = ans("answer two", 3);
    CHECK(rv_answer_writer_put(&w1, 2, &a, &e) == 0);
    CHECK(rv_answer_writer_fail(&w1, 1, "image missing", &e) == 0);
    a = ans("a later duplicate", 1);
    CHECK(rv_answer_writer_put(&w1, 0, &a, &e) == 0);
    CHECK(rv_answer_writer_close(&w0, &e) == 0);
    CHECK(rv_answer_writer_close(&w1, &e) == 0);
    /* a torn line (a kill mid-write) at the end of rank 0's file */
    char *p0 = rv_path_join(dir, "m_report_generation.r0of2.jsonl");
    FILE *f = fopen(p0, "ab");
    fputs("{\"i\": 3, \"full_output\": \"cut sh", f);
    fclose(f);
    /* a file of other settings */
    rv_answer_writer wx;
    CHECK(rv_answer_writer_open(&wx, dir, "m", "report_generation", 0, 3, 0x1234, &e) == 0);
    a = ans("other settings", 2);
    CHECK(rv_answer_writer_put(&wx, 3, &a, &e) == 0);
    CHECK(rv_answer_writer_close(&wx, &e) == 0);

    rv_answer_set s;
    CHECK(rv_answer_set_read(&s, dir, "m", "report_generation", 0xabcdef, 4, &e) == 0);
    CHECK(s.ignored_files == 1);
    CHECK(s.state[0] == 1 && s.state[1] == 2 && s.state[2] == 1 && s.state[3] == 0);
    CHECK_STR(s.ans[0].full_output, "first \"quoted\" \xc3\xa9 line\nsecond"); /* not the later duplicate */
    CHECK(s.ans[0].n_tokens == 7 && s.ans[0].stopped == 1 && s.ans[0].prompt_tokens == 10);
    CHECK(s.ans[0].seconds == 0.5);
    CHECK_STR(s.why[1], "image missing");
    rv_answer_set_free(&s);
    /* reopening rank 0's file cuts the torn line off, so the next answer is readable */
    CHECK(rv_answer_writer_open(&w0, dir, "m", "report_generation", 0, 2, 0xabcdef, &e) == 0);
    a = ans("three", 1);
    CHECK(rv_answer_writer_put(&w0, 3, &a, &e) == 0);
    CHECK(rv_answer_writer_close(&w0, &e) == 0);
    CHECK(rv_answer_set_read(&s, dir, "m", "report_generation", 0xabcdef, 4, &e) == 0);
    CHECK(s.state[3] == 1 && s.ans[3].full_output && !strcmp(s.ans[3].full_output, "three"));
    rv_answer_set_free(&s);
    /* another task's files are not read; clear removes only this task's */
    CHECK(rv_answer_set_read(&s, dir, "m", "conversation", 0xabcdef, 4, &e) == 0);
    CHECK(s.state[0] == 0 && s.ignored_files == 0);
    rv_answer_set_free(&s);
    CHECK(rv_answer_store_clear(dir, "m", "report_generation", &e) == 0);
    CHECK(!rv_exists(p0));
    free(p0);
}

static void test_task_output(void) {
    const rv_eval_task *t = rv_eval_task_find("report_generation");
    enum { N = 4 };
    rv_eval_item items[N];
    memset(items, 0, sizeof items);
    for (int i = 0; i < N; i++) {
        items[i].idx = (size_t)i;
        items[i].id = rv_xasprintf("report_generation_%d", i);
        items[i].img_path = rv_xstrdup("x.jpg");
        items[i].answer = rv_xstrdup("the lungs are clear .");
    }
    rv_answer_set as = {.n = N};
    as.state = calloc(N, 1);
    as.ans = calloc(N, sizeof *as.ans);
    as.why = calloc(N, sizeof *as.why);
    /* eval.md §1.4: \boxed{} wins (its last match); else the text after the last </think>,
     * stripped; else the whole text stripped, not found */
    const char *full[N] = {"<think>a</think> x \\boxed{no} y \\boxed{the lungs are clear .}", NULL,
                           "<think>a</think>b</think>  the lungs are clear .  ", "  no reasoning here  "};
    for (int i = 0; i < N; i++)
        if (full[i]) {
            as.state[i] = 1;
            as.ans[i].full_output = rv_xstrdup(full[i]);
            as.ans[i].n_tokens = 5;
        } else {
            as.state[i] = 2;
            as.why[i] = rv_xstrdup("image missing");
        }
    rv_eval_task_output o;
    rv_eval_task_output_build(&o, t, items, N, &as, true);
    CHECK(o.n == 3 && o.n_failed == 1 && o.failed[0] == 1 && o.n_questions == N); /* by idx */
    CHECK(o.items[0].idx == 0 && o.items[1].idx == 2 && o.items[2].idx == 3);
    CHECK_STR(o.ans[0].output, "the lungs are clear .");
    CHECK_STR(o.ans[1].output, "the lungs are clear .");
    CHECK_STR(o.ans[2].output, "no reasoning here");
    CHECK(o.ans[0].found && o.ans[1].found && !o.ans[2].found && o.n_no_final == 1);
    CHECK(o.gen_tokens == 15);
    /* the exact answer scores BLEU-4 ~1 (corpus counts), the third one less */
    size_t nv = rv_eval_nvalues(t);
    CHECK(o.values[0 * nv] == o.values[1 * nv]); /* identical answers, identical per-record values */
    rv_eval_task_output_free(&o);
    rv_answer_set_free(&as);
    for (int i = 0; i < N; i++) rv_eval_item_free(&items[i]);

    /* raw rule: untouched text, cut to 4000 code points (2-byte characters: 8000 bytes) */
    rv_eval_item one = {.id = rv_xstrdup("r"), .img_path = rv_xstrdup("x"), .answer = rv_xstrdup("a")};
    rv_answer_set s1 = {.n = 1};
    s1.state = calloc(1, 1);
    s1.ans = calloc(1, sizeof *s1.ans);
    s1.why = calloc(1, sizeof *s1.why);
    s1.state[0] = 1;
    char *big = malloc(10001);
    for (int i = 0; i < 5000; i++) memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[10000] = 0;
    s1.ans[0].full_output = big;
    rv_eval_task_output_build(&o, t, &one, 1, &s1, false);
    CHECK(o.n == 1 && strlen(o.ans[0].output) == 8000 && o.ans[0].found == 1);
    CHECK(strlen(o.ans[0].full_output) == 10000);
    rv_eval_task_output_free(&o);
    rv_answer_set_free(&s1);
    rv_eval_item_free(&one);
}

int main(void) {
    char tmpl[] = "/tmp/test_eval_run_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    test_rank_plan();
    if (dir) test_answer_store(dir);
    test_task_output();
    if (dir) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    return check_summary("test_eval_run");
}
