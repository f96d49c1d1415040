/* JSON through cJSON, plus what cJSON lacks for byte-exact upstream formats:
 *  - parsing keeps each number's literal text (in the node's valuestring), so an integer
 *    literal such as PadChest-GR's `0` can be told from `0.0`;
 *  - writing reproduces Python's json.dump: indent=N or compact separators ", " / ": ",
 *    ensure_ascii (\uXXXX, surrogate pairs above the BMP), floats in repr() form. */
#ifndef RADVLM_IO_JSON_H
#define RADVLM_IO_JSON_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/strbuf.h"

/* Parses a file; errors name the file, line and column. The text must be one JSON value (JSON
 * whitespace around it allowed; anything after it is an error naming where it starts), and of
 * duplicate keys in an object the last is kept, as Python's json does. */
cJSON *rv_json_parse_file(const char *path, rv_err *err);
cJSON *rv_json_parse(const char *path_for_messages, const char *text, size_t len, rv_err *err);
/* The same, keeping every duplicate key (for formats where a duplicate is itself an error to
 * report: safetensors headers). */
cJSON *rv_json_parse_all_keys(const char *path_for_messages, const char *text, size_t len, rv_err *err);
/* JSON Lines: one value per non-empty line; err names the line. Returns an array. */
cJSON *rv_json_parse_lines(const char *path_for_messages, const char *text, size_t len, rv_err *err);

/* For a number parsed by rv_json_parse*: true when its literal had no '.', 'e' or 'E'. */
bool rv_json_is_int_literal(const cJSON *num);

/* A float number node that json.dump writes in Python repr form even when integral (1.0). */
cJSON *rv_json_float(double v);
/* Python repr() of a float: shortest round-trip digits, "1.0", "1e-05", "inf", "nan". */
void rv_pyfloat_repr(double v, char out[32]);

/* Python json.dump(obj, indent=indent) when indent >= 0, or compact json.dump(obj) when
 * indent < 0 (", " and ": " separators on one line). Numbers made with cJSON_CreateNumber are
 * written as integers when integral (|v| < 2^53), otherwise in repr form. */
void rv_pyjson_dump(rv_sb *out, const cJSON *node, int indent, bool ensure_ascii);
/* One JSON string literal. */
void rv_pyjson_string(rv_sb *out, const char *s, bool ensure_ascii);
/* Writes node to path as Python's json.dump(node, f, indent=indent, ensure_ascii=...) plus a final
 * newline, atomically (temporary name, then rename). */
int rv_pyjson_write_file(const char *path, const cJSON *node, int indent, bool ensure_ascii, rv_err *err);

/* Typed lookups that fail with "where: key 'k' missing / must be a string". */
int rv_json_get_str(const cJSON *obj, const char *key, const char *where, const char **out, rv_err *err);
int rv_json_get_num(const cJSON *obj, const char *key, const char *where, double *out, rv_err *err);

#endif
