#include "io/csv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/utf8.h"

/* A record as parsed: fields are offsets into the arena. */
typedef struct rec {
    size_t line, first_field, nfields;
    const char *raw;  /* record bytes in the input, for UTF-8 validation */
    size_t raw_len;
    bool unterminated;
} rec;

typedef struct parser {
    const char *d;
    size_t n, i, line;
    char *arena;
    size_t o;
    char **fields;
    size_t nf, capf;
} parser;

static void push_field(parser *p, size_t start) {
    if (p->nf == p->capf) {
        p->capf = p->capf ? 2 * p->capf : 1024;
        p->fields = rv_xrealloc(p->fields, p->capf * sizeof *p->fields);
    }
    p->arena[p->o++] = 0;
    p->fields[p->nf++] = p->arena + start; /* the arena is allocated once and never moves */
}

/* Parses one record starting at p->i; returns false at end of input. Blank lines are skipped,
 * as pandas does. */
static bool next_record(parser *p, rec *r) {
    while (p->i < p->n && (p->d[p->i] == '\n' || p->d[p->i] == '\r')) {
        if (p->d[p->i] == '\n') p->line++;
        p->i++;
    }
    if (p->i >= p->n) return false;
    r->line = p->line;
    r->first_field = p->nf;
    r->raw = p->d + p->i;
    r->unterminated = false;
    size_t start = p->o;
    for (;;) {
        /* one field */
        start = p->o;
        if (p->i < p->n && p->d[p->i] == '"') {
            p->i++;
            for (;;) {
                if (p->i >= p->n) { r->unterminated = true; break; }
                char c = p->d[p->i];
                if (c == '"') {
                    if (p->i + 1 < p->n && p->d[p->i + 1] == '"') { p->arena[p->o++] = '"'; p->i += 2; continue; }
                    p->i++;
                    break;
                }
                if (c == '\n') p->line++;
                p->arena[p->o++] = c;
                p->i++;
            }
        }
        /* unquoted part (or text after a closing quote, kept literally) */
        while (p->i < p->n && p->d[p->i] != ',' && p->d[p->i] != '\n' && p->d[p->i] != '\r') {
            p->arena[p->o++] = p->d[p->i++];
        }
        push_field(p, start);
        if (p->i < p->n && p->d[p->i] == ',') { p->i++; continue; }
        break;
    }
    r->raw_len = (size_t)(p->d + p->i - r->raw);
    if (p->i < p->n && p->d[p->i] == '\r') p->i++;
    if (p->i < p->n && p->d[p->i] == '\n') { p->i++; p->line++; }
    r->nfields = p->nf - r->first_field;
    return true;
}

int rv_csv_parse(const char *where, const char *data, size_t len, rv_csv **out, rv_err *err) {
    if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB && (unsigned char)data[2] == 0xBF) {
        data += 3;
        len -= 3;
    }
    parser p = {.d = data, .n = len, .i = 0, .line = 1};
    p.arena = rv_xmalloc(len + 2);
    rec *recs = NULL;
    size_t nrec = 0, caprec = 0;
    rec r;
    while (next_record(&p, &r)) {
        if (nrec == caprec) { caprec = caprec ? 2 * caprec : 256; recs = rv_xrealloc(recs, caprec * sizeof *recs); }
        recs[nrec++] = r;
        if (r.unterminated) break;
    }
    if (nrec == 0) {
        free(p.arena); free(p.fields); free(recs);
        return rv_fail(err, "%s: empty file, expected a CSV header line; check that the file was copied completely", where);
    }
    rv_csv *c = rv_xcalloc(1, sizeof *c);
    c->path = rv_xstrdup(where);
    c->arena_ = p.arena;
    c->fields_ = p.fields;
    if (recs[0].unterminated || !rv_utf8_valid(recs[0].raw, recs[0].raw_len) || memchr(recs[0].raw, 0, recs[0].raw_len)) {
        rv_csv_free(c); free(recs);
        return rv_fail(err, "%s:1: the header line is malformed (unterminated quote, invalid UTF-8 or a NUL byte)", where);
    }
    c->ncols = recs[0].nfields;
    c->header = rv_xmalloc(c->ncols * sizeof *c->header);
    for (size_t k = 0; k < c->ncols; k++) c->header[k] = p.fields[recs[0].first_field + k];
    c->rows = rv_xmalloc(nrec * sizeof *c->rows);
    c->line = rv_xmalloc(nrec * sizeof *c->line);
    for (size_t k = 1; k < nrec; k++) {
        const char *why = NULL;
        char buf[160];
        if (recs[k].unterminated) why = "unterminated quoted field (runs to the end of the file)";
        else if (recs[k].nfields != c->ncols) {
            snprintf(buf, sizeof buf, "expected %zu fields as in the header, found %zu", c->ncols, recs[k].nfields);
            why = buf;
        } else if (!rv_utf8_valid(recs[k].raw, recs[k].raw_len)) why = "invalid UTF-8";
        else if (memchr(recs[k].raw, 0, recs[k].raw_len)) why = "a NUL byte (it would cut its field short)";
        if (why) {
            c->bad = rv_xrealloc(c->bad, (c->nbad + 1) * sizeof *c->bad);
            c->bad[c->nbad].line = recs[k].line;
            snprintf(c->bad[c->nbad].reason, sizeof c->bad[c->nbad].reason, "%s", why);
            c->nbad++;
            continue;
        }
        c->rows[c->nrows] = p.fields + recs[k].first_field;
        c->line[c->nrows] = recs[k].line;
        c->nrows++;
    }
    free(recs);
    *out = c;
    return 0;
}

int rv_csv_read(const char *path, rv_csv **out, rv_err *err) {
    char *data;
    size_t len;
    if (rv_read_file(path, &data, &len, err)) return -1;
    int rc = rv_csv_parse(path, data, len, out, err);
    free(data);
    return rc;
}

void rv_csv_free(rv_csv *c) {
    if (!c) return;
    free(c->fields_);
    free(c->rows);
    free(c->line);
    free(c->header);
    free(c->bad);
    free(c->arena_);
    free(c->path);
    free(c);
}

int rv_csv_col(const rv_csv *c, const char *name) {
    for (size_t k = 0; k < c->ncols; k++)
        if (strcmp(c->header[k], name) == 0) return (int)k;
    return -1;
}

int rv_csv_require(const rv_csv *c, const char *name, int *col, rv_err *err) {
    *col = rv_csv_col(c, name);
    if (*col >= 0) return 0;
    rv_sb b;
    rv_sb_init(&b);
    for (size_t k = 0; k < c->ncols && k < 40; k++) {
        if (k) rv_sb_puts(&b, ", ");
        rv_sb_puts(&b, c->header[k]);
    }
    rv_fail(err, "%s: missing column '%s' (the header has: %s); check that this is the right file and version of the dataset",
            c->path, name, b.s ? b.s : "");
    rv_sb_free(&b);
    return -1;
}

void rv_csv_put_field(rv_sb *b, const char *f) {
    if (!strpbrk(f, ",\"\r\n")) { rv_sb_puts(b, f); return; }
    rv_sb_putc(b, '"');
    for (; *f; f++) {
        if (*f == '"') rv_sb_putc(b, '"');
        rv_sb_putc(b, *f);
    }
    rv_sb_putc(b, '"');
}
