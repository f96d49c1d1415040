/* CSV as pandas.read_csv reads the source tables: RFC 4180 quoting (embedded commas, doubled
 * quotes, embedded newlines), optional UTF-8 BOM, LF or CRLF line ends. The whole file is kept
 * in memory; fields are NUL-terminated strings. Rows whose field count differs from the header,
 * or with invalid UTF-8, are kept out of rows[] and listed in bad[] with their line number for
 * the caller to report under data.on_bad_record. */
#ifndef RADVLM_IO_CSV_H
#define RADVLM_IO_CSV_H

#include <stddef.h>

#include "core/error.h"

typedef struct rv_csv_bad {
    size_t line;        /* 1-based line where the record starts */
    char reason[160];
} rv_csv_bad;

typedef struct rv_csv {
    char *path;
    size_t ncols;
    char **header;      /* ncols names */
    size_t nrows;
    char ***rows;       /* nrows x ncols fields ("" for an empty field) */
    size_t *line;       /* 1-based starting line of each row */
    size_t nbad;
    rv_csv_bad *bad;
    char *arena_;       /* owns the field bytes */
    char **fields_;     /* owns the field pointer table */
} rv_csv;

/* Fails (err names the file) if it cannot be read, is empty, or has no header. */
int rv_csv_read(const char *path, rv_csv **out, rv_err *err);
int rv_csv_parse(const char *path_for_messages, const char *data, size_t len, rv_csv **out, rv_err *err);
void rv_csv_free(rv_csv *c);

/* Column index of name, or -1. */
int rv_csv_col(const rv_csv *c, const char *name);
/* Like rv_csv_col but fails with "FILE: missing column 'name' (columns are: ...)" */
int rv_csv_require(const rv_csv *c, const char *name, int *col, rv_err *err);
static inline const char *rv_csv_get(const rv_csv *c, size_t row, int col) { return c->rows[row][col]; }

/* Writes one CSV field with minimal quoting (as Python's csv module / pandas to_csv do). */
struct rv_sb;
void rv_csv_put_field(struct rv_sb *b, const char *field);

#endif
