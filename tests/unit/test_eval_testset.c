/* The eval test-set reader (eval/run/testset.h) and prompt builder (eval/run/prompt.h).
 *
 *   test_eval_testset            unit checks on hand-written cells (JSON reader: conversation
 *                                flattening, bad records skipped and named, boxes with and without
 *                                the "boxes" key; prompt text and ids; missing image; tokenizer check)
 *   test_eval_testset --parity RUN SHARDS TOKENIZER [--anyres]
 *                                for every task: the items of RUN/llava/test_<task>.json equal those
 *                                of SHARDS (pack.tests=true, pack.image_size = the tiny model's tile),
 *                                and so do their prompt samples (ids, tiles bitwise; --anyres: an
 *                                anyres pack and an anyres model); single-turn prompts are the packed
 *                                sample's ids up to its answer (tests/e2e/test_eval_testset.sh). */
#define _GNU_SOURCE /* mkdtemp */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/badrec.h"
#include "comm/world.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "eval/run/prompt.h"
#include "eval/run/testset.h"
#include "io/json.h"
#include "tokenizer/chat_template.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

static char *write_tmp(const char *dir, const char *name, const char *text) {
    char *p = rv_path_join(dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static const char *CHATML_SYS = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";

/* A grounding file: a cell with the "boxes" key, one without (older file), a two-turn
 * conversation, then one bad record of each kind. */
static const char *GROUND =
    "[{\"image\": \"/img/a.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nWhere is the "
    "heart?\"}, {\"from\": \"gpt\", \"value\": \"At [0.12, 0.2, 0.3, 0.4].\"}], \"id\": \"region_grounding_0\", "
    "\"boxes\": [[0.123456789, 0.2, 0.3, 0.4]]},\n"
    " {\"image\": \"/img/b.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nAnd the trachea?\"}, "
    "{\"from\": \"gpt\", \"value\": \"See [0.1, -0.05, 0.5, 0.6] and [0.7, 0.7, 0.8, 0.9].\"}], \"id\": 7, "
    "\"labels\": [\"A\", \"B\"]},\n"
    " {\"image\": \"/img/c.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ1\"}, "
    "{\"from\": \"gpt\", \"value\": \"A1 [0.5, 0.5, 0.6, 0.6]\"}, {\"from\": \"human\", \"value\": \"Q2\"}, "
    "{\"from\": \"gpt\", \"value\": \"A2\"}], \"id\": \"conv_2\", \"boxes\": [[0.1, 0.1, 0.2, 0.2]]},\n"
    " 42,\n"
    " {\"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ\"}, {\"from\": \"gpt\", \"value\": \"A\"}], "
    "\"id\": \"noimage_4\"},\n"
    " {\"image\": \"/img/d.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ\"}, "
    "{\"from\": \"gpt\", \"value\": \"A\"}], \"id\": \"badlabel_5\", \"labels\": [\"A\", 3]},\n"
    " {\"image\": \"/img/d.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ\"}, "
    "{\"from\": \"gpt\", \"value\": \"A\"}], \"id\": \"badbox_6\", \"boxes\": [[0.1, 0.2, 0.3]]},\n"
    " {\"image\": \"/img/d.jpg\", \"conversations\": [{\"from\": \"gpt\", \"value\": \"<image>\\nA\"}], "
    "\"id\": \"nohuman_7\"},\n"
    " {\"image\": \"/img/d.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ\"}], "
    "\"id\": \"nogpt_8\"}]\n";

static void test_json_reader(const char *dir) {
    rv_err err;
    char *path = write_tmp(dir, "test_region_grounding.json", GROUND);
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_eval_testset ts;
    CHECK(rv_eval_testset_read_json(path, RV_TASK_ANATOMY, &bad, &ts, &err) == 0);
    /* 3 good cells -> 1 + 1 + 2 items; 6 bad records */
    CHECK(ts.ncells == 3);
    CHECK(ts.n == 4);
    CHECK(ts.nbad == 6);
    CHECK(bad.count == 6);
    CHECK(ts.boxes_from_answer == 1); /* cell 1 only (cell 2 is a conversation) */
    CHECK_STR(ts.source, path);
    if (ts.n == 4) {
        rv_eval_item *a = &ts.items[0], *b = &ts.items[1], *c0 = &ts.items[2], *c1 = &ts.items[3];
        /* cell 0: the key's unrounded box, rounded to float32 as the shards store it */
        CHECK(a->idx == 0 && a->turn == 0 && a->shard_sample == -1);
        CHECK_STR(a->id, "region_grounding_0");
        CHECK_STR(a->img_path, "/img/a.jpg");
        CHECK(a->nmsgs == 1);
        CHECK_STR(a->msgs[0].role, "human");
        CHECK_STR(a->instr, "<image>\nWhere is the heart?");
        CHECK_STR(a->answer, "At [0.12, 0.2, 0.3, 0.4].");
        CHECK(a->nboxes == 1 && a->boxes && a->boxes[0].x1 == (double)0.123456789f && a->boxes[0].y1 == (double)0.2f);
        CHECK(a->boxes && a->boxes[0].x1 != 0.123456789); /* float32, not the double */
        CHECK(!a->has_labels && a->nlabels == 0);
        /* cell 1: no key -> the answer's boxes (pack's rule: a negative coordinate too); numeric id */
        CHECK(b->idx == 1);
        CHECK_STR(b->id, "7");
        CHECK(b->nboxes == 2);
        if (b->nboxes == 2) {
            CHECK(b->boxes[0].y1 == (double)-0.05f);
            CHECK(b->boxes[1].x2 == (double)0.8f && b->boxes[1].y2 == (double)0.9f);
        }
        CHECK(b->has_labels && b->nlabels == 2);
        if (b->nlabels == 2) {
            CHECK_STR(b->labels[0], "A");
            CHECK_STR(b->labels[1], "B");
        }
        /* cell 2: a conversation gives one item per answer; the history is the reference turns */
        CHECK(c0->idx == 2 && c0->turn == 0 && c0->nmsgs == 1);
        CHECK_STR(c0->answer, "A1 [0.5, 0.5, 0.6, 0.6]");
        CHECK(c1->idx == 2 && c1->turn == 1 && c1->nmsgs == 3);
        if (c1->nmsgs == 3) {
            CHECK_STR(c1->msgs[0].content, "<image>\nQ1");
            CHECK_STR(c1->msgs[1].role, "gpt");
            CHECK_STR(c1->msgs[1].content, "A1 [0.5, 0.5, 0.6, 0.6]");
            CHECK_STR(c1->msgs[2].role, "human");
        }
        CHECK_STR(c1->instr, "Q2");
        CHECK_STR(c1->answer, "A2");
        /* a conversation's items take the boxes of their own answer, not the cell's key */
        CHECK(c0->nboxes == 1 && c0->boxes && c0->boxes[0].x1 == (double)0.5f);
        CHECK(c1->nboxes == 0);

        /* prompt text: CHATML with the system message and the generation prompt; the suffix goes
         * on the asked (last) human turn */
        rv_sb s;
        rv_sb_init(&s);
        rv_eval_prompt_text(c1, " /think", &s);
        char want[512];
        snprintf(want, sizeof want,
                 "%s<|im_start|>user\n<image>\nQ1<|im_end|>\n<|im_start|>assistant\nA1 [0.5, 0.5, 0.6, 0.6]<|im_end|>\n"
                 "<|im_start|>user\nQ2 /think<|im_end|>\n<|im_start|>assistant\n",
                 CHATML_SYS);
        CHECK_STR(s.s, want);
        rv_sb_clear(&s);
        rv_eval_prompt_text(a, NULL, &s);
        snprintf(want, sizeof want, "%s<|im_start|>user\n<image>\nWhere is the heart?<|im_end|>\n<|im_start|>assistant\n",
                 CHATML_SYS);
        CHECK_STR(s.s, want);
        rv_sb_free(&s);
        CHECK(rv_eval_testset_cost(a) == (int64_t)(strlen("<image>\nWhere is the heart?") / 4 +
                                                  strlen("At [0.12, 0.2, 0.3, 0.4].") / 4 + 64));
    }
    rv_eval_testset_free(&ts);

    /* each bad record is named (file, record number, id) with its reason under the fail policy */
    static const struct {
        int rec;
        const char *who, *why;
    } bads[] = {{3, "record 3 (id ?)", "not a JSON object"},
                {4, "record 4 (id noimage_4)", "key 'image'"},
                {5, "record 5 (id badlabel_5)", "non-string"},
                {6, "record 6 (id badbox_6)", "key 'boxes'"},
                {7, "record 7 (id nohuman_7)", "does not follow a human turn"},
                {8, "record 8 (id nogpt_8)", "no gpt turn"}};
    /* fail policy on the whole file: the first bad record (3) stops the read, named */
    rv_badrec fb;
    rv_badrec_init(&fb, rv_comm_world(), true);
    memset(&err, 0, sizeof err);
    CHECK(rv_eval_testset_read_json(path, RV_TASK_ANATOMY, &fb, &ts, &err) == -1);
    CHECK(strstr(err.msg, "test_region_grounding.json: record 3 (id ?)") && strstr(err.msg, "not a JSON object") &&
          strstr(err.msg, "not evaluated"));
    /* each reason: a fatal read of a file holding that record alone names it */
    cJSON *all = rv_json_parse_file(path, &err);
    CHECK(all != NULL);
    for (size_t k = 0; all && k < sizeof bads / sizeof *bads; k++) {
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, cJSON_Duplicate(cJSON_GetArrayItem(all, bads[k].rec), 1));
        char *txt = cJSON_PrintUnformatted(one);
        char *p1 = write_tmp(dir, "single.json", txt);
        rv_badrec f1;
        rv_badrec_init(&f1, rv_comm_world(), true);
        rv_eval_testset t1;
        memset(&err, 0, sizeof err);
        CHECK(rv_eval_testset_read_json(p1, RV_TASK_ANATOMY, &f1, &t1, &err) == -1);
        char who[96];
        snprintf(who, sizeof who, "single.json: record 0 (id %s", strchr(bads[k].who, '(') + 4);
        CHECK(strstr(err.msg, who) != NULL);
        CHECK(strstr(err.msg, bads[k].why) != NULL);
        if (!strstr(err.msg, bads[k].why)) fprintf(stderr, "  message: %s\n", err.msg);
        free(txt);
        free(p1);
        cJSON_Delete(one);
    }
    cJSON_Delete(all);

    /* an unreadable file and a non-list: -1 naming the file */
    memset(&err, 0, sizeof err);
    CHECK(rv_eval_testset_read_json("/nonexistent/test_x.json", RV_TASK_REPORT, &bad, &ts, &err) == -1 &&
          strstr(err.msg, "/nonexistent/test_x.json"));
    char *obj = write_tmp(dir, "obj.json", "{\"a\": 1}");
    CHECK(rv_eval_testset_read_json(obj, RV_TASK_REPORT, &bad, &ts, &err) == -1 && strstr(err.msg, "obj.json") &&
          strstr(err.msg, "list"));
    free(obj);
    free(path);
}

/* ids through the fixture tokenizer: <image> -> RV_SHARD_IMAGE_TOKEN; equal to pack's
 * tokenisation (rv_chat_tokenize_sft) of the same turns followed by the generation prompt; the
 * same with a tokenizer that has no <image> token (pack adds one). */
static void test_prompt_ids(const char *dir) {
    rv_err err;
    rv_tokenizer *t = NULL, *noimg = NULL;
    CHECK(rv_tokenizer_load(FIX "hf_trained.json", &t, &err) == 0);
    if (!t) return;
    CHECK(rv_eval_prompt_check_tokenizer(t, FIX "hf_trained.json", &err) == 0);
    const char *text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nDescribe."
                       "<|im_end|>\n<|im_start|>assistant\n";
    rv_ids a = {0}, b = {0}, want = {0};
    rv_mask m = {0};
    CHECK(rv_eval_prompt_tokenize(t, text, strlen(text), &a, &err) == 0);
    rv_chat_msg msgs[] = {{"human", "<image>\nDescribe."}};
    CHECK(rv_chat_tokenize_sft(t, msgs, 1, NULL, true, &want, &m, &err) == 0);
    CHECK(rv_tokenizer_encode(t, "<|im_start|>assistant\n", 22, &want, &err) == 0);
    for (size_t i = 0; i < want.n; i++)
        if (want.v[i] == 3) want.v[i] = RV_SHARD_IMAGE_TOKEN; /* the fixture's <image> is id 3 */
    CHECK(a.n == want.n && a.n > 0 && !memcmp(a.v, want.v, a.n * sizeof *a.v));
    size_t nimg = 0;
    for (size_t i = 0; i < a.n; i++) nimg += a.v[i] == RV_SHARD_IMAGE_TOKEN;
    CHECK(nimg == 1);

    /* the same tokenizer without the <image> added token */
    char *json = NULL;
    size_t len = 0;
    CHECK(rv_read_file(FIX "hf_trained.json", &json, &len, &err) == 0);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (root) {
        cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
        cJSON_DeleteItemFromArray(added, 3);
        char *txt = cJSON_PrintUnformatted(root);
        CHECK(rv_tokenizer_load_json("noimg.json", txt, strlen(txt), &noimg, &err) == 0);
        free(txt);
        cJSON_Delete(root);
    }
    free(json);
    if (noimg) {
        CHECK(rv_eval_prompt_tokenize(noimg, text, strlen(text), &b, &err) == 0);
        CHECK(b.n == a.n && !memcmp(a.v, b.v, a.n * sizeof *a.v));
        rv_tokenizer_free(noimg);
    }
    /* a tokenizer without the chat tokens: named, with what to do */
    char *tj = NULL;
    CHECK(rv_read_file(FIX "hf_trained.json", &tj, &len, &err) == 0);
    root = tj ? cJSON_Parse(tj) : NULL;
    if (root) {
        cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
        cJSON_DeleteItemFromArray(added, 1); /* <|im_start|>, the added token and its vocabulary entry */
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "vocab"), "<|im_start|>");
        char *txt = cJSON_PrintUnformatted(root);
        rv_tokenizer *nochat = NULL;
        char *p = write_tmp(dir, "nochat.json", txt);
        CHECK(rv_tokenizer_load(p, &nochat, &err) == 0);
        if (nochat) {
            int rc = rv_eval_prompt_check_tokenizer(nochat, p, &err);
            CHECK(rc == -1 && strstr(err.msg, "nochat.json") && strstr(err.msg, "no <|im_start|>"));
            rv_tokenizer_free(nochat);
        }
        free(p);
        free(txt);
        cJSON_Delete(root);
    }
    free(tj);
    rv_ids_free(&a);
    rv_ids_free(&b);
    rv_ids_free(&want);
    rv_mask_free(&m);
    rv_tokenizer_free(t);
}

/* A missing image file: an error naming the file and the item. */
static void test_missing_image(void) {
    rv_err err;
    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load(FIX "hf_trained.json", &t, &err) == 0);
    rv_model_cfg c;
    CHECK(rv_model_cfg_preset("tiny", &c, &err) == 0);
    if (!t) return;
    c.text.vocab = (int)rv_tokenizer_n_ids(t);
    c.image_token_id = 3;
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_eval_msg msg = {"human", "<image>\nDescribe."};
    rv_eval_item it = {.id = "report_generation_5", .img_path = "/nonexistent/x.jpg", .shard_sample = -1,
                       .msgs = &msg, .nmsgs = 1};
    rv_eval_prompt_ctx pc = {.tok = t, .cfg = &c, .norm = &n, .set = NULL, .anyres = false};
    rv_loader_sample s;
    memset(&err, 0, sizeof err);
    CHECK(rv_eval_prompt_make(&pc, &it, NULL, &s, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent/x.jpg") && strstr(err.msg, "report_generation_5"));
    rv_tokenizer_free(t);
}

/* ---- --parity RUN TOKENIZER ---- */

static bool same_items(const rv_eval_item *a, const rv_eval_item *b) {
    bool ok = a->idx == b->idx && a->turn == b->turn && !strcmp(a->id, b->id) && !strcmp(a->img_path, b->img_path) &&
              a->nmsgs == b->nmsgs && !strcmp(a->instr, b->instr) && !strcmp(a->answer, b->answer) &&
              a->nlabels == b->nlabels && a->has_labels == b->has_labels && a->nboxes == b->nboxes;
    for (size_t i = 0; ok && i < a->nmsgs; i++)
        ok = !strcmp(a->msgs[i].role, b->msgs[i].role) && !strcmp(a->msgs[i].content, b->msgs[i].content);
    for (size_t i = 0; ok && i < a->nlabels; i++) ok = !strcmp(a->labels[i], b->labels[i]);
    if (ok && a->nboxes) ok = !memcmp(a->boxes, b->boxes, a->nboxes * sizeof *a->boxes);
    return ok;
}

static int parity(const char *run, const char *shards, const char *tokpath, bool anyres) {
    rv_log_init(0, 1, RV_LOG_WARN);
    rv_err err;
    rv_tokenizer *tok = NULL;
    rv_shardset *set = NULL;
    if (rv_tokenizer_load(tokpath, &tok, &err) != 0 || rv_shardset_open(shards, NULL, &set, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    CHECK(set->anyres == anyres);
    CHECK(rv_eval_prompt_check_tokenizer(tok, tokpath, &err) == 0);
    rv_model_cfg c;
    CHECK(rv_model_cfg_preset("tiny", &c, &err) == 0);
    c.text.vocab = (int)rv_tokenizer_n_ids(tok);
    c.image_token_id = rv_tokenizer_token_id(tok, "<image>");
    CHECK(set->height == c.vision.image_size); /* the e2e packs at the model's tile */
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_eval_prompt_ctx pj = {.tok = tok, .cfg = &c, .norm = &n, .set = NULL, .anyres = anyres}, ps = pj;
    ps.set = set;
    size_t total = 0, reordered = 0, with_key = 0, ntiles = 0;
    for (int t = 0; t < RV_TASK_COUNT; t++) {
        char name[128];
        snprintf(name, sizeof name, "llava/test_%s.json", rv_task_name((rv_task)t));
        char *jp = rv_path_join(run, name);
        rv_badrec bad;
        rv_badrec_init(&bad, rv_comm_world(), true);
        rv_eval_testset a, b;
        int ra = rv_eval_testset_read_json(jp, (rv_task)t, &bad, &a, &err);
        CHECK(ra == 0);
        if (ra) fprintf(stderr, "%s\n", err.msg);
        int rb = rv_eval_testset_read_shards(set, (rv_task)t, &bad, &b, &err);
        CHECK(rb == 0);
        if (rb) fprintf(stderr, "%s\n", err.msg);
        free(jp);
        if (ra || rb) continue;
        CHECK(a.n > 0 && a.n == b.n && a.ncells == b.ncells && a.nbad == 0 && b.nbad == 0);
        CHECK(a.boxes_from_answer == 0); /* the instruct phase writes the key */
        size_t same = 0, same_prompt = 0, prefix_ok = 0, nsingle = 0;
        for (size_t i = 0; i < a.n && i < b.n; i++) {
            same += same_items(&a.items[i], &b.items[i]);
            CHECK(a.items[i].shard_sample == -1 && b.items[i].shard_sample >= 0);
            if (i && b.items[i].shard_sample < b.items[i - 1].shard_sample) reordered++;
            with_key += a.items[i].nboxes > 0 && a.items[i].turn == 0;
            rv_loader_sample sa, sb;
            const char *suffix = i % 2 ? " /think" : NULL;
            int qa = rv_eval_prompt_make(&pj, &a.items[i], suffix, &sa, &err);
            if (qa) fprintf(stderr, "json: %s\n", err.msg);
            int qb = rv_eval_prompt_make(&ps, &b.items[i], suffix, &sb, &err);
            if (qb) fprintf(stderr, "shards: %s\n", err.msg);
            if (qa == 0 && qb == 0) {
                ntiles += (size_t)sa.image.n_tiles;
                size_t tl = (size_t)3 * c.vision.image_size * c.vision.image_size * (size_t)sa.image.n_tiles;
                same_prompt += sa.len == sb.len && !memcmp(sa.ids, sb.ids, (size_t)sa.len * sizeof *sa.ids) &&
                               sa.image.n_tiles == sb.image.n_tiles && !memcmp(sa.tiles, sb.tiles, tl * sizeof(float));
                /* single-turn without suffix: the prompt is the packed sample up to its answer */
                if (!suffix && a.items[i].turn == 0) {
                    nsingle++;
                    rv_loader_sample full;
                    if (rv_loader_read_sample(set, (uint64_t)b.items[i].shard_sample, &c, &n, &full, &err) == 0) {
                        prefix_ok += full.len > sb.len && !memcmp(full.ids, sb.ids, (size_t)sb.len * sizeof *sb.ids);
                        rv_loader_sample_free(&full);
                    }
                }
            }
            if (qa == 0) rv_loader_sample_free(&sa);
            if (qb == 0) rv_loader_sample_free(&sb);
        }
        CHECK(same == a.n);
        CHECK(same_prompt == a.n);
        CHECK(prefix_ok == nsingle && nsingle > 0);
        printf("%-28s %4zu cells %4zu items: items %zu/%zu equal, prompt samples %zu/%zu equal, %zu/%zu prompts "
               "prefix the packed sample\n", rv_task_name((rv_task)t), a.ncells, a.n, same, a.n, same_prompt, a.n,
               prefix_ok, nsingle);
        total += a.n;
        rv_eval_testset_free(&a);
        rv_eval_testset_free(&b);
    }
    CHECK(anyres ? ntiles > total : ntiles == total); /* anyres: grid tiles after the base tile */
    printf("parity (%s): %zu items, %zu tiles; %zu places where the shards' sample order differs from the cell order (reordered "
           "by id); %zu grounding items with boxes\n", anyres ? "anyres" : "base", total, ntiles, reordered, with_key);
    CHECK(with_key > 0);
    rv_shardset_close(set);
    rv_tokenizer_free(tok);
    return check_summary("test_eval_testset --parity");
}

int main(int argc, char **argv) {
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "--parity"))
        return parity(argv[2], argv[3], argv[4], argc == 6 && !strcmp(argv[5], "--anyres"));
    rv_log_init(0, 1, RV_LOG_ERROR);
    char tmpl[] = "/tmp/test_eval_testset_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_eval_testset");
    test_json_reader(dir);
    test_prompt_ids(dir);
    test_missing_image();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_summary("test_eval_testset");
}
