/* Helpers shared by the MIMIC-family and CheXpert readers: hash maps for the joins, pandas-like
 * cell parsing, and text files read as Python's open(path, "r") reads them. Internal to
 * src/data (not part of the reader interface). */
#ifndef RADVLM_DATA_SOURCES_READER_UTIL_H
#define RADVLM_DATA_SOURCES_READER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/hashmap.h" /* rv_smap, rv_imap (the readers' joins) */
#include "data/sources/readers.h"
#include "io/csv.h"

/* ---- cells ---- */
/* pandas.read_csv's default NA strings ("", "NA", "NaN", "null", "None", "n/a", ...): such a
 * cell is NaN for pandas, so it is "absent" for the readers. */
bool rv_cell_isna(const char *s);
/* An id column: "123" or pandas' float spelling "123.0"; 0 <= v < 2^32. */
bool rv_cell_id(const char *s, int64_t *out);
/* A number (strtod over the whole cell, finite). */
bool rv_cell_num(const char *s, double *out);
/* A CheXpert label cell: NA -> *isna, else a number. False when unparsable. */
bool rv_cell_label(const char *s, double *v, bool *isna);

/* ---- files ---- */
/* Reads a text file as Python's open(path).read(): UTF-8 required, "\r\n" and "\r" become "\n".
 * Returns 0, or -1 with err ("PATH: not valid UTF-8" / "cannot read"). */
int rv_read_text_py(const char *path, char **out, rv_err *err);
/* Reads a CSV and reports every malformed row through c->bad as "path:line". Missing file:
 * err names the file and says which dataset needs it. */
int rv_reader_csv(const rv_reader_ctx *c, const char *path, const char *what, rv_csv **out, rv_err *err);
/* Looks up required columns; err names the file, the column and what to do. */
int rv_reader_cols(const rv_csv *csv, const char *const *names, int *cols, size_t n, rv_err *err);

/* Names in dir ending with suffix, suffix stripped, as a set (values are indexes into *names).
 * A missing directory is an error naming it. */
typedef struct rv_nameset {
    char **names;
    size_t n;
    rv_smap map;
} rv_nameset;
int rv_nameset_load(rv_nameset *s, const char *dir, const char *suffix, rv_err *err);
bool rv_nameset_has(const rv_nameset *s, const char *name);
void rv_nameset_free(rv_nameset *s);

/* Map a MIMIC split argument ("train" | "validate" | "valid" | "test") to the split CSV value. */
const char *rv_mimic_split_value(const char *split);

#endif
