/* Job configuration: a typed key schema (config_schema.c) with defaults, overlaid by a JSON
 * job file (nested objects = dotted keys) and then by --set key=value. Unknown or ill-typed
 * keys are errors naming the key's path and the closest valid key. */
#ifndef RADVLM_CORE_CONFIG_H
#define RADVLM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef enum { RV_CFG_STR, RV_CFG_INT, RV_CFG_NUM, RV_CFG_BOOL, RV_CFG_ENUM } rv_cfg_type;

typedef struct rv_cfg_key {
    const char *key;     /* dotted path, e.g. "data.on_bad_record" */
    rv_cfg_type type;
    const char *def;     /* default, as text */
    const char *choices; /* RV_CFG_ENUM: "a|b|c" */
    const char *help;
} rv_cfg_key;

/* The schema: every key the program knows, terminated by {NULL}. */
extern const rv_cfg_key rv_cfg_schema[];

typedef struct rv_config rv_config;

/* path may be NULL (defaults only). sets are "key=value" strings. */
int rv_config_load(rv_config **out, const char *path, const char *const *sets, int nsets, rv_err *err);
void rv_config_free(rv_config *c);

/* Accessors: the key must be in the schema with that type (a programming error aborts). */
const char *rv_cfg_str(const rv_config *c, const char *key);
long long rv_cfg_int(const rv_config *c, const char *key);
double rv_cfg_num(const rv_config *c, const char *key);
bool rv_cfg_bool(const rv_config *c, const char *key);
/* Whether the value came from the job file or --set rather than the default. */
bool rv_cfg_is_set(const rv_config *c, const char *key);

/* Sets a key programmatically (same parsing and checks as --set). */
int rv_cfg_set(rv_config *c, const char *key, const char *value, rv_err *err);

/* The resolved configuration as pretty JSON (nested objects). malloc'd. */
char *rv_config_to_json(const rv_config *c);

/* Help text for every key whose path starts with prefix ("" = all). malloc'd. */
char *rv_config_help(const char *prefix);

/* Levenshtein distance, for "did you mean" suggestions. */
size_t rv_edit_distance(const char *a, const char *b);

#endif
