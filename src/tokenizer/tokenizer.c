/* Loading tokenizer.json, encoding and decoding (model.md §11). */
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <omp.h>

#include "core/fsutil.h"
#include "io/json.h"
#include "io/utf8.h"
#include "tokenizer/bpe.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize_qwen2.h"

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    bool special, normalized;
} added_tok;

/* Leftmost-longest matcher over a set of added tokens: candidates bucketed by first byte,
 * longest first. */
typedef struct {
    size_t *idx;      /* indices into added[], grouped by first byte, longest first */
    size_t start[257];
} matcher;

struct rv_tokenizer {
    rv_bpe bpe;
    added_tok *added;
    size_t n_added;
    int32_t *added_of_id; /* id -> index in added[], -1 */
    matcher raw, norm;    /* normalized=false tokens (matched before NFC) and normalized=true */
    bool nfc;
};

/* ---- loading ---- */

static const cJSON *obj_item(const cJSON *o, const char *k) { return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL; }

static bool is_null_or_absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

static const char *type_of(const cJSON *o) {
    const cJSON *t = obj_item(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static void matcher_build(matcher *m, const added_tok *a, size_t n, bool normalized) {
    size_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++)
        if (a[i].normalized == normalized) cnt[(unsigned char)a[i].content[0]]++;
    m->start[0] = 0;
    for (int b = 0; b < 256; b++) m->start[b + 1] = m->start[b] + cnt[b];
    m->idx = rv_xmalloc((m->start[256] ? m->start[256] : 1) * sizeof *m->idx);
    size_t fill[256];
    for (int b = 0; b < 256; b++) fill[b] = m->start[b];
    for (size_t i = 0; i < n; i++)
        if (a[i].normalized == normalized) m->idx[fill[(unsigned char)a[i].content[0]]++] = i;
    for (int b = 0; b < 256; b++) /* longest first; equal lengths keep file order */
        for (size_t i = m->start[b] + 1; i < m->start[b + 1]; i++)
            for (size_t j = i; j > m->start[b] && a[m->idx[j]].len > a[m->idx[j - 1]].len; j--) {
                size_t t = m->idx[j]; m->idx[j] = m->idx[j - 1]; m->idx[j - 1] = t;
            }
}

/* Leftmost match at or after from, longest there; returns the added index or -1. */
static long matcher_find(const matcher *m, const added_tok *a, const char *s, size_t n, size_t from, size_t *at) {
    if (!m->start[256]) return -1;
    for (size_t i = from; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        for (size_t k = m->start[b]; k < m->start[b + 1]; k++) {
            const added_tok *t = &a[m->idx[k]];
            if (t->len <= n - i && memcmp(s + i, t->content, t->len) == 0) { *at = i; return (long)m->idx[k]; }
        }
    }
    return -1;
}

static int check_model(const cJSON *model, const char *where, rv_err *err) {
    const char *ty = type_of(model);
    if (ty && strcmp(ty, "BPE") != 0)
        return rv_fail(err, "%s: model.type '%s' is not supported (only byte-level \"BPE\" tokenizers are)", where, ty);
    const cJSON *v;
    if ((v = obj_item(model, "dropout")) && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
        return rv_fail(err, "%s: model.dropout must be null (BPE dropout is not supported)", where);
    if ((v = obj_item(model, "byte_fallback")) && cJSON_IsTrue(v))
        return rv_fail(err, "%s: model.byte_fallback=true is not supported", where);
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++)
        if ((v = obj_item(model, affix[i])) && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
            return rv_fail(err, "%s: model.%s must be empty or null (byte-level BPE has none)", where, affix[i]);
    return 0;
}

static int check_normalizer(const cJSON *n, const char *where, bool *nfc, rv_err *err) {
    *nfc = false;
    if (is_null_or_absent(n)) return 0;
    const char *ty = type_of(n);
    if (!ty) return rv_fail(err, "%s: key 'normalizer.type' missing", where);
    if (!strcmp(ty, "NFC")) { *nfc = true; return 0; }
    if (!strcmp(ty, "Sequence")) {
        const cJSON *l = obj_item(n, "normalizers"), *e;
        if (!cJSON_IsArray(l)) return rv_fail(err, "%s: key 'normalizer.normalizers' missing", where);
        cJSON_ArrayForEach(e, l) {
            const char *t = type_of(e);
            if (!t || strcmp(t, "NFC"))
                return rv_fail(err, "%s: normalizer '%s' inside normalizer.normalizers is not supported (only NFC)", where, t ? t : "?");
            *nfc = true;
        }
        return 0;
    }
    return rv_fail(err, "%s: normalizer.type '%s' is not supported (only NFC or null)", where, ty);
}

static int check_pretok(const cJSON *p, const char *where, rv_err *err) {
    const char *ty = type_of(p);
    const cJSON *l = obj_item(p, "pretokenizers");
    if (!ty || strcmp(ty, "Sequence") || !cJSON_IsArray(l) || cJSON_GetArraySize(l) != 2)
        return rv_fail(err, "%s: pre_tokenizer must be the Qwen2 Sequence[Split(regex), ByteLevel] "
                            "(found type '%s'); other pre-tokenizers are not supported", where, ty ? ty : "?");
    const cJSON *sp = cJSON_GetArrayItem(l, 0), *bl = cJSON_GetArrayItem(l, 1);
    const char *t0 = type_of(sp), *t1 = type_of(bl);
    const cJSON *pat = obj_item(obj_item(sp, "pattern"), "Regex");
    const cJSON *beh = obj_item(sp, "behavior"), *inv = obj_item(sp, "invert");
    if (!t0 || strcmp(t0, "Split"))
        return rv_fail(err, "%s: pre_tokenizer.pretokenizers[0].type must be 'Split'", where);
    if (!cJSON_IsString(pat) || strcmp(pat->valuestring, rv_qwen2_split_regex))
        return rv_fail(err, "%s: pre_tokenizer.pretokenizers[0].pattern.Regex is not the Qwen2 split regex; "
                            "only that regex is implemented (docs/tokenizer.md)", where);
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") || cJSON_IsTrue(inv))
        return rv_fail(err, "%s: pre_tokenizer.pretokenizers[0] must have behavior 'Isolated' and invert false", where);
    if (!t1 || strcmp(t1, "ByteLevel"))
        return rv_fail(err, "%s: pre_tokenizer.pretokenizers[1].type must be 'ByteLevel'", where);
    if (cJSON_IsTrue(obj_item(bl, "add_prefix_space")) || cJSON_IsTrue(obj_item(bl, "use_regex")))
        return rv_fail(err, "%s: pre_tokenizer.pretokenizers[1] must have add_prefix_space=false and use_regex=false", where);
    return 0;
}

static int check_simple(const cJSON *v, const char *key, const char *where, rv_err *err) {
    if (is_null_or_absent(v)) return 0;
    const char *ty = type_of(v);
    if (ty && !strcmp(ty, "ByteLevel")) return 0;
    return rv_fail(err, "%s: %s.type '%s' is not supported (only ByteLevel or null)", where, key, ty ? ty : "?");
}

/* Resolves one merge's two parts to ids. */
static int merge_part_id(rv_tokenizer *t, const char *s, size_t n, const char *where, size_t i, rv_sb *tmp,
                         int32_t *id, rv_err *err) {
    rv_sb_clear(tmp);
    if (rv_bytelevel_decode(s, n, tmp) < 0)
        return rv_fail(err, "%s: model.merges[%zu]: '%.*s' is not in model.vocab", where, i, (int)n, s);
    *id = rv_bpe_lookup(&t->bpe, (const unsigned char *)tmp->s, tmp->len);
    if (*id < 0) return rv_fail(err, "%s: model.merges[%zu]: '%.*s' is not in model.vocab", where, i, (int)n, s);
    return 0;
}

static int load_root(rv_tokenizer *t, const cJSON *root, const char *where, rv_err *err) {
    const cJSON *model = obj_item(root, "model");
    if (!cJSON_IsObject(model)) return rv_fail(err, "%s: key 'model' missing (expected an object)", where);
    if (check_model(model, where, err)) return -1;
    const cJSON *vocab = obj_item(model, "vocab"), *merges = obj_item(model, "merges");
    if (!cJSON_IsObject(vocab)) return rv_fail(err, "%s: key 'model.vocab' missing (expected an object token -> id)", where);
    if (!cJSON_IsArray(merges)) return rv_fail(err, "%s: key 'model.merges' missing (expected a list)", where);
    if (check_normalizer(obj_item(root, "normalizer"), where, &t->nfc, err)) return -1;
    if (check_pretok(obj_item(root, "pre_tokenizer"), where, err)) return -1;
    if (check_simple(obj_item(root, "decoder"), "decoder", where, err)) return -1;
    if (check_simple(obj_item(root, "post_processor"), "post_processor", where, err)) return -1;

    /* added tokens */
    const cJSON *added = obj_item(root, "added_tokens"), *e;
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return rv_fail(err, "%s: key 'added_tokens' must be a list", where);
    size_t na = cJSON_IsArray(added) ? (size_t)cJSON_GetArraySize(added) : 0;
    t->added = rv_xcalloc(na ? na : 1, sizeof *t->added);
    long max_id = -1;
    for (e = cJSON_IsArray(added) ? added->child : NULL; e; e = e->next) {
        size_t i = t->n_added;
        const cJSON *id = obj_item(e, "id"), *c = obj_item(e, "content");
        if (!cJSON_IsNumber(id))
            return rv_fail(err, "%s: added_tokens[%zu]: key 'id' missing or not a number", where, i);
        if (id->valuedouble < 0 || id->valuedouble > 2e9 || id->valuedouble != floor(id->valuedouble))
            return rv_fail(err, "%s: added_tokens[%zu]: id %.17g is not an integer in [0, 2000000000] (the ids this "
                                "program supports)", where, i, id->valuedouble);
        if (!cJSON_IsString(c) || !c->valuestring[0])
            return rv_fail(err, "%s: added_tokens[%zu]: key 'content' missing or empty", where, i);
        if (!rv_utf8_valid(c->valuestring, strlen(c->valuestring)))
            return rv_fail(err, "%s: added_tokens[%zu]: content is not valid UTF-8", where, i);
        const char *flags[] = {"lstrip", "rstrip", "single_word"};
        for (int f = 0; f < 3; f++)
            if (cJSON_IsTrue(obj_item(e, flags[f])))
                return rv_fail(err, "%s: added_tokens[%zu] ('%s'): %s=true is not supported", where, i, c->valuestring, flags[f]);
        added_tok *a = &t->added[t->n_added++];
        a->content = rv_xstrdup(c->valuestring);
        a->len = strlen(a->content);
        a->id = (int32_t)id->valuedouble;
        a->special = cJSON_IsTrue(obj_item(e, "special"));
        const cJSON *nz = obj_item(e, "normalized");
        a->normalized = nz ? cJSON_IsTrue(nz) : !a->special; /* HF's default */
        if (a->id > max_id) max_id = a->id;
    }

    /* vocab */
    size_t nv = 0;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2e9 || e->valuedouble != (double)(long)e->valuedouble)
            return rv_fail(err, "%s: model.vocab['%s']: %s is not an integer id in [0, 2000000000] (the ids this "
                                "program supports)", where, e->string,
                           cJSON_IsNumber(e) && e->valuestring ? e->valuestring : cJSON_IsNumber(e) ? "the number" : "a non-number");
        if ((long)e->valuedouble > max_id) max_id = (long)e->valuedouble;
        nv++;
    }
    if (!nv) return rv_fail(err, "%s: model.vocab is empty", where);
    rv_bpe_init(&t->bpe, (size_t)max_id + 1, (size_t)cJSON_GetArraySize(merges));
    const cJSON *ig = obj_item(model, "ignore_merges");
    t->bpe.ignore_merges = cJSON_IsTrue(ig);
    rv_sb tmp;
    rv_sb_init(&tmp);
    int rc = 0;
    cJSON_ArrayForEach(e, vocab) {
        rv_sb_clear(&tmp);
        if (!e->string[0]) { rc = rv_fail(err, "%s: model.vocab has an empty token (id %ld)", where, (long)e->valuedouble); break; }
        if (rv_bytelevel_decode(e->string, strlen(e->string), &tmp) < 0) {
            rc = rv_fail(err, "%s: model.vocab token '%s' (id %ld) has a character outside the ByteLevel alphabet; "
                              "only byte-level BPE vocabularies are supported", where, e->string, (long)e->valuedouble);
            break;
        }
        if (rv_bpe_add_token(&t->bpe, (int32_t)e->valuedouble, (unsigned char *)tmp.s, tmp.len) < 0) {
            rc = rv_fail(err, "%s: model.vocab token '%s': id %ld or its bytes appear twice", where, e->string, (long)e->valuedouble);
            break;
        }
    }
    const cJSON *unk = obj_item(model, "unk_token");
    if (!rc && cJSON_IsString(unk))
        for (int b = 0; b < 256; b++)
            if (t->bpe.byte_id[b] < 0) {
                rc = rv_fail(err, "%s: model.unk_token is set and the vocab lacks byte 0x%02X; unknown-token "
                                  "handling is not supported", where, b);
                break;
            }
    /* merges: "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs */
    size_t mi = 0;
    for (const cJSON *m = merges->child; !rc && m; m = m->next, mi++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = rv_fail(err, "%s: model.merges[%zu] '%s' must be two tokens separated by one space", where, mi, m->valuestring);
                break;
            }
            a = m->valuestring; la = (size_t)(sp - a); b = sp + 1; lb = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            a = m->child->valuestring; la = strlen(a); b = m->child->next->valuestring; lb = strlen(b);
        } else {
            rc = rv_fail(err, "%s: model.merges[%zu] must be a string \"a b\" or a pair [\"a\", \"b\"]", where, mi);
            break;
        }
        int32_t ia = -1, ib = -1; /* set by merge_part_id on success */
        if (merge_part_id(t, a, la, where, mi, &tmp, &ia, err) || merge_part_id(t, b, lb, where, mi, &tmp, &ib, err)) { rc = -1; break; }
        if (rv_bpe_add_merge(&t->bpe, ia, ib) < 0)
            rc = rv_fail(err, "%s: model.merges[%zu]: the merged token '%.*s%.*s' is not in model.vocab", where, mi,
                         (int)la, a, (int)lb, b);
    }
    rv_sb_free(&tmp);
    if (rc) return -1;

    t->added_of_id = rv_xmalloc(t->bpe.n_ids * sizeof *t->added_of_id);
    for (size_t i = 0; i < t->bpe.n_ids; i++) t->added_of_id[i] = -1;
    for (size_t i = 0; i < t->n_added; i++) t->added_of_id[t->added[i].id] = (int32_t)i;
    matcher_build(&t->raw, t->added, t->n_added, false);
    matcher_build(&t->norm, t->added, t->n_added, true);
    return 0;
}

int rv_tokenizer_load_json(const char *where, const char *text, size_t len, rv_tokenizer **out, rv_err *err) {
    *out = NULL;
    cJSON *root = rv_json_parse(where, text, len, err);
    if (!root) return -1;
    rv_tokenizer *t = rv_xcalloc(1, sizeof *t);
    int rc = load_root(t, root, where, err);
    cJSON_Delete(root);
    if (rc) { rv_tokenizer_free(t); return -1; }
    *out = t;
    return 0;
}

int rv_tokenizer_load(const char *path, rv_tokenizer **out, rv_err *err) {
    char *text;
    size_t len;
    *out = NULL;
    if (rv_read_file(path, &text, &len, err)) return rv_fail_wrap(err, "reading tokenizer");
    int rc = rv_tokenizer_load_json(path, text, len, out, err);
    free(text);
    return rc;
}

void rv_tokenizer_free(rv_tokenizer *t) {
    if (!t) return;
    rv_bpe_free(&t->bpe);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->added_of_id);
    free(t->raw.idx);
    free(t->norm.idx);
    free(t);
}

/* ---- encoding ---- */

static void encode_pretokenized(const rv_tokenizer *t, const char *s, size_t n, rv_ids *out) {
    for (size_t pos = 0; pos < n;) {
        size_t end = rv_qwen2_next(s, n, pos);
        rv_bpe_encode_piece(&t->bpe, (const unsigned char *)s + pos, end - pos, out, 0);
        pos = end;
    }
}

static void encode_segment(const rv_tokenizer *t, const char *s, size_t n, rv_sb *scratch, rv_ids *out) {
    if (!n) return;
    if (t->nfc && !rv_nfc_quick_yes(s, n)) {
        rv_sb_clear(scratch);
        rv_nfc_append(s, n, scratch);
        s = scratch->s;
        n = scratch->len;
    }
    size_t pos = 0, at;
    long k;
    while ((k = matcher_find(&t->norm, t->added, s, n, pos, &at)) >= 0) {
        encode_pretokenized(t, s + pos, at - pos, out);
        rv_ids_push(out, t->added[k].id);
        pos = at + t->added[k].len;
    }
    encode_pretokenized(t, s + pos, n - pos, out);
}

int rv_tokenizer_encode(const rv_tokenizer *t, const char *text, size_t len, rv_ids *out, rv_err *err) {
    size_t bad = rv_utf8_first_invalid(text, len);
    if (bad < len)
        return rv_fail(err, "tokenizer: text is not valid UTF-8 at byte %zu (0x%02X); fix or re-encode the input",
                       bad, (unsigned char)text[bad]);
    rv_sb scratch;
    rv_sb_init(&scratch);
    size_t pos = 0, at;
    long k;
    while ((k = matcher_find(&t->raw, t->added, text, len, pos, &at)) >= 0) {
        encode_segment(t, text + pos, at - pos, &scratch, out);
        rv_ids_push(out, t->added[k].id);
        pos = at + t->added[k].len;
    }
    encode_segment(t, text + pos, len - pos, &scratch, out);
    rv_sb_free(&scratch);
    return 0;
}

int rv_tokenizer_encode_batch(const rv_tokenizer *t, const char *const *texts, const size_t *lens, size_t n,
                              int nthreads, rv_ids *outs, rv_err *err) {
    long first_bad = -1;
    rv_err bad_err;
    bad_err.msg[0] = 0;
    if (nthreads <= 0) nthreads = omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads)
    for (long i = 0; i < (long)n; i++) {
        rv_err e;
        if (rv_tokenizer_encode(t, texts[i], lens[i], &outs[i], &e)) {
#pragma omp critical(rv_tok_batch_err)
            if (first_bad < 0 || i < first_bad) { first_bad = i; bad_err = e; }
        }
    }
    if (first_bad >= 0) return rv_fail(err, "text %ld of the batch: %s", first_bad, bad_err.msg);
    return 0;
}

/* ---- decoding ---- */

/* Bytes of one id; HF's ByteLevel decoder maps an added token's content through the byte
 * table when every character is in it, else keeps its UTF-8 as is. */
static int id_bytes(const rv_tokenizer *t, int32_t id, bool skip_special, rv_sb *out, rv_err *err) {
    if (id < 0 || (size_t)id >= t->bpe.n_ids)
        return rv_fail(err, "tokenizer: id %d is outside the vocabulary (0..%zu)", id, t->bpe.n_ids - 1);
    int32_t a = t->added_of_id[id];
    if (a >= 0) {
        const added_tok *tk = &t->added[a];
        if (tk->special && skip_special) return 0;
        size_t mark = out->len;
        if (rv_bytelevel_decode(tk->content, tk->len, out) < 0) {
            out->len = mark;
            rv_sb_append(out, tk->content, tk->len);
        }
        return 0;
    }
    if (t->bpe.len[id] == UINT32_MAX) return rv_fail(err, "tokenizer: id %d has no token", id);
    rv_sb_append(out, t->bpe.pool + t->bpe.off[id], t->bpe.len[id]);
    return 0;
}

/* Length of the complete sequence at s (> 0), or -k for an invalid maximal subpart of k bytes,
 * or 0 when s[0..n) is a valid but incomplete prefix. */
static long utf8_step(const unsigned char *s, size_t n) {
    unsigned char b = s[0];
    if (b < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) { need = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
    else if (b >= 0xF0 && b <= 0xF4) { need = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
    else return -1;
    size_t j = 1;
    for (; j < need && j < n; j++) {
        unsigned char c = s[j];
        if (j == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -(long)j;
    }
    return j == need ? (long)need : 0;
}

/* Appends the valid text of s with U+FFFD for invalid parts; returns how many trailing bytes
 * form an incomplete sequence (left unconsumed) unless final. */
static size_t lossy_append(const unsigned char *s, size_t n, bool final, rv_sb *out) {
    size_t i = 0;
    while (i < n) {
        long st = utf8_step(s + i, n - i);
        if (st > 0) { rv_sb_append(out, s + i, (size_t)st); i += (size_t)st; }
        else if (st == 0 && !final) return n - i;
        else { rv_sb_puts(out, "\xEF\xBF\xBD"); i += st == 0 ? n - i : (size_t)(-st); }
    }
    return 0;
}

int rv_tokenizer_decode(const rv_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, rv_sb *out,
                        rv_err *err) {
    rv_sb raw;
    rv_sb_init(&raw);
    for (size_t i = 0; i < n; i++)
        if (id_bytes(t, ids[i], skip_special, &raw, err)) { rv_sb_free(&raw); return -1; }
    lossy_append((const unsigned char *)raw.s, raw.len, true, out);
    rv_sb_free(&raw);
    return 0;
}

void rv_tok_stream_init(rv_tok_stream *s) { s->npend = 0; }

int rv_tok_stream_push(const rv_tokenizer *t, rv_tok_stream *s, int32_t id, bool skip_special, rv_sb *out, rv_err *err) {
    rv_sb raw;
    rv_sb_init(&raw);
    rv_sb_append(&raw, s->pend, s->npend);
    if (id_bytes(t, id, skip_special, &raw, err)) { rv_sb_free(&raw); return -1; }
    size_t keep = lossy_append((const unsigned char *)raw.s, raw.len, false, out);
    memcpy(s->pend, raw.s + raw.len - keep, keep);
    s->npend = keep;
    rv_sb_free(&raw);
    return 0;
}

void rv_tok_stream_finish(rv_tok_stream *s, rv_sb *out) {
    lossy_append(s->pend, s->npend, true, out);
    s->npend = 0;
}

/* ---- lookups ---- */

int32_t rv_tokenizer_token_id(const rv_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, token, n)) return t->added[i].id;
    rv_sb b;
    rv_sb_init(&b);
    int32_t id = -1;
    if (rv_bytelevel_decode(token, n, &b) == 0) id = rv_bpe_lookup(&t->bpe, (const unsigned char *)b.s, b.len);
    rv_sb_free(&b);
    return id;
}

int32_t rv_tokenizer_bytes_id(const rv_tokenizer *t, const char *bytes, size_t n) {
    return rv_bpe_lookup(&t->bpe, (const unsigned char *)bytes, n);
}

size_t rv_tokenizer_n_ids(const rv_tokenizer *t) { return t->bpe.n_ids; }

bool rv_tokenizer_is_special(const rv_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->bpe.n_ids) return false;
    int32_t a = t->added_of_id[id];
    return a >= 0 && t->added[a].special;
}
