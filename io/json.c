#include "io/json.h"

#include "core/hashmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/utf8.h"

/* ---- parsing, keeping number literals ---- */

typedef struct literals {
    char **v;
    size_t n, cap, next;
} literals;

/* Collects the text of every number literal in document order (the order cJSON keeps). */
static void scan_numbers(const char *t, size_t len, literals *L) {
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            for (i++; i < len && t[i] != '"'; i++)
                if (t[i] == '\\') i++;
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t s = i;
            while (i < len && strchr("+-0123456789.eE", t[i]) && t[i]) i++;
            if (L->n == L->cap) { L->cap = L->cap ? 2 * L->cap : 64; L->v = rv_xrealloc(L->v, L->cap * sizeof *L->v); }
            L->v[L->n++] = rv_xstrndup(t + s, i - s);
        } else {
            i++;
        }
    }
}

static void attach_literals(cJSON *node, literals *L) {
    for (; node; node = node->next) {
        if (cJSON_IsNumber(node) && L->next < L->n) {
            free(node->valuestring);
            node->valuestring = L->v[L->next];
            L->v[L->next++] = NULL;
        }
        if (node->child) attach_literals(node->child, L);
    }
}

static void line_col(const char *text, const char *at, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

/* Python's json keeps the last of duplicate keys in an object; cJSON keeps them all and finds the
 * first. Every reader of ours takes the last, as Python does: earlier duplicates are removed. */
static void keep_last_keys(cJSON *node) {
    for (; node; node = node->next) {
        if (cJSON_IsObject(node) && node->child && node->child->next) {
            size_t n = 0;
            for (cJSON *c = node->child; c; c = c->next) n++;
            rv_smap m;
            rv_smap_init(&m, n);
            cJSON **kids = rv_xmalloc(n * sizeof *kids);
            size_t i = 0;
            for (cJSON *c = node->child; c; c = c->next) kids[i++] = c;
            for (i = 0; i < n; i++) rv_smap_set(&m, kids[i]->string ? kids[i]->string : "", i);
            /* decide every key first: the map borrows the first duplicate's key string */
            bool *drop = rv_xcalloc(n, sizeof *drop);
            for (i = 0; i < n; i++) drop[i] = rv_smap_get(&m, kids[i]->string ? kids[i]->string : "") != i;
            rv_smap_free(&m);
            for (i = 0; i < n; i++)
                if (drop[i]) cJSON_Delete(cJSON_DetachItemViaPointer(node, kids[i]));
            free(drop);
            free(kids);
        }
        if (node->child) keep_last_keys(node->child);
    }
}

/* What cJSON lets through inside strings but Python's json.loads refuses or a C string cannot
 * hold: a raw control character (U+0000..U+001F unescaped; Python: "Invalid control character")
 * and a \u0000 escape (it decodes to a NUL that cuts the C string short: an answer, an image
 * path). Either is an error naming the line and column. Runs on text cJSON accepted. */
static int check_strings(const char *where, const char *text, size_t len, rv_err *err) {
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!in) {
            if (c == '"') in = true;
            continue;
        }
        const char *why = NULL;
        size_t at = i;
        if (c == '"') in = false;
        else if (c < 0x20) why = "a raw control character in a string (escape it, e.g. \\n)";
        else if (c == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4))
                why = "\\u0000 (a NUL character) in a string: it would cut the string short";
            i++; /* the escaped character */
        }
        if (why) {
            size_t line, col;
            line_col(text, text + at, &line, &col);
            return rv_fail(err, "%s:%zu:%zu: %s", where, line, col, why);
        }
    }
    return 0;
}

static cJSON *parse(const char *where, const char *text, size_t len, bool last_keys, rv_err *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t line, col;
        const char *at = end ? end : text;
        if (at < text || at > text + len) at = text + len;
        line_col(text, at, &line, &col);
        rv_fail(err, "%s:%zu:%zu: invalid JSON; fix the file or regenerate it", where, line, col);
        return NULL;
    }
    /* the document ends after its value (JSON whitespace allowed), as Python's json.loads requires */
    const char *p = end && end >= text && end <= text + len ? end : text + len;
    while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p < text + len) {
        size_t line, col;
        line_col(text, p, &line, &col);
        cJSON_Delete(root);
        rv_fail(err, "%s:%zu:%zu: text after the JSON value; the file must hold one JSON document", where, line, col);
        return NULL;
    }
    if (check_strings(where, text, len, err)) {
        cJSON_Delete(root);
        return NULL;
    }
    if (last_keys) keep_last_keys(root);
    if (!rv_utf8_valid(text, len)) {
        cJSON_Delete(root);
        rv_fail(err, "%s: invalid UTF-8 in JSON text; re-save the file as UTF-8", where);
        return NULL;
    }
    literals L = {0};
    scan_numbers(text, len, &L);
    attach_literals(root, &L);
    for (size_t i = 0; i < L.n; i++) free(L.v[i]);
    free(L.v);
    return root;
}

cJSON *rv_json_parse(const char *where, const char *text, size_t len, rv_err *err) {
    return parse(where, text, len, true, err);
}

cJSON *rv_json_parse_all_keys(const char *where, const char *text, size_t len, rv_err *err) {
    return parse(where, text, len, false, err);
}

cJSON *rv_json_parse_file(const char *path, rv_err *err) {
    char *data;
    size_t len;
    if (rv_read_file(path, &data, &len, err)) return NULL;
    cJSON *root = rv_json_parse(path, data, len, err);
    free(data);
    return root;
}

cJSON *rv_json_parse_lines(const char *where, const char *text, size_t len, rv_err *err) {
    cJSON *arr = cJSON_CreateArray();
    size_t line = 1, i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t k = i;
        while (k < j && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r')) k++;
        if (k < j) {
            char *w = rv_xasprintf("%s:%zu", where, line);
            cJSON *v = rv_json_parse(w, text + i, j - i, err);
            free(w);
            if (!v) { cJSON_Delete(arr); return NULL; }
            cJSON_AddItemToArray(arr, v);
        }
        i = j + 1;
        line++;
    }
    return arr;
}

bool rv_json_is_int_literal(const cJSON *num) {
    if (!cJSON_IsNumber(num)) return false;
    if (num->valuestring) return strpbrk(num->valuestring, ".eE") == NULL;
    return num->valuedouble == floor(num->valuedouble) && fabs(num->valuedouble) < 9007199254740992.0;
}

/* ---- Python-compatible writing ---- */

void rv_pyfloat_repr(double v, char out[32]) {
    if (isnan(v)) { strcpy(out, "NaN"); return; }
    if (isinf(v)) { strcpy(out, v > 0 ? "Infinity" : "-Infinity"); return; }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* buf = [-]d[.ddd]e[+-]XX : split into sign, digits and exponent */
    const char *p = buf;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--; /* shortest: drop trailing zeros */
    digits[nd] = 0;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {
        /* Python repr uses fixed notation for -4 <= exponent < 16 */
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp10 + 1) for (int i = exp10 + 1; i < nd; i++) *o++ = digits[i];
            else *o++ = '0';
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp10 - 1; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int ax = exp10 < 0 ? -exp10 : exp10; /* |exponent| <= 324 */
        *o++ = 'e';
        *o++ = exp10 < 0 ? '-' : '+';
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
        *o = 0;
    }
}

cJSON *rv_json_float(double v) {
    char buf[32];
    rv_pyfloat_repr(v, buf);
    cJSON *n = cJSON_CreateNumber(v);
    n->valuestring = rv_xstrdup(buf); /* repr always has '.', 'e', or is Infinity/NaN */
    return n;
}

static void put_u16(rv_sb *out, unsigned v) {
    char e[16];
    snprintf(e, sizeof e, "\\u%04x", v & 0xFFFFu);
    rv_sb_puts(out, e);
}

void rv_pyjson_string(rv_sb *out, const char *s, bool ensure_ascii) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    rv_sb_putc(out, '"');
    while (i < n) {
        unsigned char c = u[i];
        switch (c) {
        case '"': rv_sb_puts(out, "\\\""); i++; continue;
        case '\\': rv_sb_puts(out, "\\\\"); i++; continue;
        case '\n': rv_sb_puts(out, "\\n"); i++; continue;
        case '\r': rv_sb_puts(out, "\\r"); i++; continue;
        case '\t': rv_sb_puts(out, "\\t"); i++; continue;
        case '\b': rv_sb_puts(out, "\\b"); i++; continue;
        case '\f': rv_sb_puts(out, "\\f"); i++; continue;
        default: break;
        }
        if (c < 0x20) { put_u16(out, c); i++; continue; }
        if (c < 0x7F) { rv_sb_putc(out, (char)c); i++; continue; }
        if (c == 0x7F) { if (ensure_ascii) put_u16(out, c); else rv_sb_putc(out, (char)c); i++; continue; }
        uint32_t cp;
        size_t l = rv_utf8_decode(u + i, n - i, &cp);
        if (!l) { cp = 0xFFFD; l = 1; } /* invalid bytes: U+FFFD, as a lossy decode would */
        if (!ensure_ascii) {
            if (cp == 0xFFFD && l == 1) rv_sb_puts(out, "\xEF\xBF\xBD");
            else rv_sb_append(out, u + i, l);
        } else if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            put_u16(out, 0xD800 + (v >> 10));
            put_u16(out, 0xDC00 + (v & 0x3FF));
        } else {
            put_u16(out, cp);
        }
        i += l;
    }
    rv_sb_putc(out, '"');
}

static void put_number(rv_sb *out, const cJSON *node) {
    double v = node->valuedouble;
    bool as_int = node->valuestring ? strpbrk(node->valuestring, ".eEIN") == NULL
                                    : (v == floor(v) && fabs(v) < 9007199254740992.0);
    if (as_int && node->valuestring) { rv_sb_puts(out, node->valuestring[0] == '-' && v == 0 ? "0" : node->valuestring); return; }
    if (as_int) { rv_sb_printf(out, "%lld", (long long)v); return; }
    char buf[32];
    rv_pyfloat_repr(v, buf);
    rv_sb_puts(out, buf);
}

static void newline_indent(rv_sb *out, int indent, int level) {
    rv_sb_putc(out, '\n');
    for (int i = 0; i < indent * level; i++) rv_sb_putc(out, ' ');
}

static void dump(rv_sb *out, const cJSON *node, int indent, bool ea, int level) {
    if (cJSON_IsRaw(node)) { rv_sb_puts(out, node->valuestring); return; }
    if (cJSON_IsNull(node)) { rv_sb_puts(out, "null"); return; }
    if (cJSON_IsTrue(node)) { rv_sb_puts(out, "true"); return; }
    if (cJSON_IsFalse(node)) { rv_sb_puts(out, "false"); return; }
    if (cJSON_IsNumber(node)) { put_number(out, node); return; }
    if (cJSON_IsString(node)) { rv_pyjson_string(out, node->valuestring, ea); return; }
    bool obj = cJSON_IsObject(node);
    const cJSON *ch = node->child;
    if (!ch) { rv_sb_puts(out, obj ? "{}" : "[]"); return; }
    rv_sb_putc(out, obj ? '{' : '[');
    for (; ch; ch = ch->next) {
        if (indent >= 0) newline_indent(out, indent, level + 1);
        if (obj) {
            rv_pyjson_string(out, ch->string, ea);
            rv_sb_puts(out, ": ");
        }
        dump(out, ch, indent, ea, level + 1);
        if (ch->next) rv_sb_puts(out, indent >= 0 ? "," : ", ");
    }
    if (indent >= 0) newline_indent(out, indent, level);
    rv_sb_putc(out, obj ? '}' : ']');
}

void rv_pyjson_dump(rv_sb *out, const cJSON *node, int indent, bool ensure_ascii) {
    dump(out, node, indent, ensure_ascii, 0);
}

int rv_json_get_str(const cJSON *obj, const char *key, const char *where, const char **out, rv_err *err) {
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v) return rv_fail(err, "%s: key '%s' is missing", where, key);
    if (!cJSON_IsString(v)) return rv_fail(err, "%s: key '%s' must be a string", where, key);
    *out = v->valuestring;
    return 0;
}

int rv_json_get_num(const cJSON *obj, const char *key, const char *where, double *out, rv_err *err) {
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v) return rv_fail(err, "%s: key '%s' is missing", where, key);
    if (!cJSON_IsNumber(v)) return rv_fail(err, "%s: key '%s' must be a number", where, key);
    *out = v->valuedouble;
    return 0;
}

int rv_pyjson_write_file(const char *path, const cJSON *node, int indent, bool ensure_ascii, rv_err *err) {
    rv_sb sb;
    rv_sb_init(&sb);
    rv_pyjson_dump(&sb, node, indent, ensure_ascii);
    rv_sb_putc(&sb, '\n');
    int rc = rv_write_atomic(path, sb.s, sb.len, err);
    rv_sb_free(&sb);
    return rc;
}
