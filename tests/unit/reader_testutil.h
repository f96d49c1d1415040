/* Helpers for the reader tests: a temporary DATA_DIR filled with small hand-written files in
 * the real layouts. Include after defining _POSIX_C_SOURCE (mkdtemp). */
#ifndef RADVLM_TESTS_READER_TESTUTIL_H
#define RADVLM_TESTS_READER_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/sources/readers.h"

static inline char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/rv-readers-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? rv_xstrdup(d) : NULL;
}

/* Writes dir/rel (creating parent directories); data may contain NULs (len given). */
static inline void tu_write_n(const char *dir, const char *rel, const char *data, size_t len) {
    char *p = rv_path_join(dir, rel);
    char *parent = rv_path_dirname(p);
    rv_err err;
    if (rv_mkdir_p(parent, &err) < 0 || rv_write_atomic(p, data, len, &err) < 0) {
        fprintf(stderr, "test setup failed: %s\n", err.msg);
        exit(2);
    }
    free(parent);
    free(p);
}
static inline void tu_write(const char *dir, const char *rel, const char *text) { tu_write_n(dir, rel, text, strlen(text)); }

static inline void tu_mkdir(const char *dir, const char *rel) {
    char *p = rv_path_join(dir, rel);
    rv_err err;
    if (rv_mkdir_p(p, &err) < 0) { fprintf(stderr, "test setup failed: %s\n", err.msg); exit(2); }
    free(p);
}

static inline void tu_remove(const char *dir, const char *rel) {
    char *p = rv_path_join(dir, rel);
    remove(p);
    free(p);
}

static inline void tu_rmtree(const char *dir) {
    if (!dir || strncmp(dir, "/tmp/rv-readers-", 16) != 0) return; /* only our own temp dirs */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

static inline rv_reader_ctx tu_ctx(const char *dir, rv_badrec *bad, int fatal) {
    rv_badrec_init(bad, rv_comm_world(), fatal != 0);
    rv_reader_ctx c = {dir, bad, RV_REPORT_FILTER_NONE, RV_VINDR_MINMAX, rv_comm_world(), RV_PILLOW_DEFAULT, 0, 0};
    return c;
}

/* Index of the item with this id, or -1. */
static inline long tu_find(const rv_dataset *d, const char *id) {
    for (size_t i = 0; d && i < d->n; i++)
        if (strcmp(d->items[i].id, id) == 0) return (long)i;
    return -1;
}

/* "a,b,c" of the item ids, for order checks (static buffer per call site is enough in tests). */
static inline const char *tu_ids(const rv_dataset *d, char *buf, size_t cap) {
    buf[0] = 0;
    for (size_t i = 0; d && i < d->n; i++) {
        if (i) strncat(buf, ",", cap - strlen(buf) - 1);
        strncat(buf, d->items[i].id, cap - strlen(buf) - 1);
    }
    return buf;
}

static inline const char *tu_labels(const rv_item *it, char *buf, size_t cap) {
    buf[0] = 0;
    for (size_t i = 0; i < it->nlabels; i++) {
        if (i) strncat(buf, "|", cap - strlen(buf) - 1);
        strncat(buf, it->labels[i], cap - strlen(buf) - 1);
    }
    return buf;
}

#endif
