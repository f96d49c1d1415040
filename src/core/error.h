/* Error values: functions return 0 on success, -1 on failure with an rv_err filled in.
 * A message says what went wrong, where (file, line/record, key) and what to do. */
#ifndef RADVLM_CORE_ERROR_H
#define RADVLM_CORE_ERROR_H

#include <stddef.h>

typedef struct rv_err {
    char msg[2048];
} rv_err;

/* Formats the message into err (when err is non-NULL) and returns -1. */
int rv_fail(rv_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (context added by a caller); returns -1. */
int rv_fail_wrap(rv_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that never returns NULL: out of memory is not a recoverable input error. */
void *rv_xmalloc(size_t n);
void *rv_xcalloc(size_t n, size_t size);
void *rv_xrealloc(void *p, size_t n);
char *rv_xstrdup(const char *s);
char *rv_xstrndup(const char *s, size_t n);
/* malloc'd printf. */
char *rv_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
