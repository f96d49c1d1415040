#define _XOPEN_SOURCE 700 /* truncate, fsync */
#include "eval/run/answer_store.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "io/json.h"

static char *prefix_of(const char *tag, const char *task) { return rv_xasprintf("%s_%s.r", tag, task); }

static bool is_task_file(const char *name, const char *prefix) {
    size_t lp = strlen(prefix), ln = strlen(name);
    return ln > lp + 6 && strncmp(name, prefix, lp) == 0 && strcmp(name + ln - 6, ".jsonl") == 0;
}

/* The paths of (tag, task)'s files in dir (malloc'd, *n of them; none when dir does not exist). */
static int task_files(const char *dir, const char *tag, const char *task, char ***out, size_t *n, rv_err *err) {
    *out = NULL;
    *n = 0;
    if (!rv_is_dir(dir)) return 0;
    char **names = NULL;
    size_t nn = 0;
    if (rv_list_dir(dir, &names, &nn, err)) return -1;
    char *prefix = prefix_of(tag, task);
    for (size_t f = 0; f < nn; f++) {
        if (!is_task_file(names[f], prefix)) continue;
        *out = rv_xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = rv_path_join(dir, names[f]);
    }
    free(prefix);
    rv_free_strv(names, nn);
    return 0;
}

static char *header_line(uint64_t fp, const char *tag, const char *task) {
    rv_sb sb;
    rv_sb_init(&sb);
    rv_sb_printf(&sb, "{\"eval_answers\": 1, \"fingerprint\": \"%016llx\", \"task\": ", (unsigned long long)fp);
    rv_pyjson_string(&sb, task, true);
    rv_sb_puts(&sb, ", \"tag\": ");
    rv_pyjson_string(&sb, tag, true);
    rv_sb_puts(&sb, "}\n");
    return sb.s;
}

/* The fingerprint of a header line, or 0 when the line is not a header. */
static uint64_t header_fp(const char *line, size_t len) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    uint64_t fp = 0;
    const cJSON *f = j ? cJSON_GetObjectItemCaseSensitive(j, "fingerprint") : NULL;
    if (cJSON_IsString(f) && cJSON_GetObjectItemCaseSensitive(j, "eval_answers"))
        fp = strtoull(f->valuestring, NULL, 16);
    cJSON_Delete(j);
    return fp;
}

int rv_answer_writer_open(rv_answer_writer *w, const char *dir, const char *tag, const char *task, int rank, int nranks,
                          uint64_t fingerprint, rv_err *err) {
    memset(w, 0, sizeof *w);
    if (rv_mkdir_p(dir, err)) return -1;
    char *name = rv_xasprintf("%s_%s.r%dof%d.jsonl", tag, task, rank, nranks);
    w->path = rv_path_join(dir, name);
    free(name);
    /* keep the file only when its header is ours; a file of other settings is started anew */
    bool keep = false;
    char *data = NULL;
    size_t len = 0;
    rv_err ignore;
    if (rv_is_file(w->path) && rv_read_file(w->path, &data, &len, &ignore) == 0) {
        const char *nl = memchr(data, '\n', len);
        keep = nl && header_fp(data, (size_t)(nl - data)) == fingerprint;
        /* a torn last line would glue onto the next record: cut it off */
        if (keep && len && data[len - 1] != '\n') {
            size_t cut = len;
            while (cut && data[cut - 1] != '\n') cut--;
            if (truncate(w->path, (off_t)cut) != 0) keep = false;
        }
    }
    free(data);
    w->f = fopen(w->path, keep ? "ab" : "wb");
    if (!w->f) {
        int e = errno;
        char *p = w->path;
        w->path = NULL;
        int rc = rv_fail(err, "%s: cannot open for writing: %s (is RUN writable?)", p, strerror(e));
        free(p);
        return rc;
    }
    if (!keep) {
        char *h = header_line(fingerprint, tag, task);
        fputs(h, w->f);
        free(h);
        fflush(w->f);
    }
    return 0;
}

static int put_line(rv_answer_writer *w, rv_sb *sb, rv_err *err) {
    rv_sb_putc(sb, '\n');
    size_t n = fwrite(sb->s, 1, sb->len, w->f);
    rv_sb_free(sb);
    if (n == 0 || fflush(w->f) != 0) return rv_fail(err, "%s: write failed: %s (disk full?)", w->path, strerror(errno));
    return 0;
}

int rv_answer_writer_put(rv_answer_writer *w, size_t i, const rv_eval_answer *a, rv_err *err) {
    rv_sb sb;
    rv_sb_init(&sb);
    char sec[32];
    rv_pyfloat_repr(a->seconds, sec);
    rv_sb_printf(&sb, "{\"i\": %zu, \"full_output\": ", i);
    rv_pyjson_string(&sb, a->full_output ? a->full_output : "", true);
    rv_sb_printf(&sb, ", \"n_tokens\": %d, \"stopped\": %d, \"prompt_tokens\": %d, \"seconds\": %s}", a->n_tokens,
                 a->stopped, a->prompt_tokens, sec);
    return put_line(w, &sb, err);
}

int rv_answer_writer_fail(rv_answer_writer *w, size_t i, const char *why, rv_err *err) {
    rv_sb sb;
    rv_sb_init(&sb);
    rv_sb_printf(&sb, "{\"i\": %zu, \"failed\": ", i);
    rv_pyjson_string(&sb, why, true);
    rv_sb_putc(&sb, '}');
    return put_line(w, &sb, err);
}

int rv_answer_writer_close(rv_answer_writer *w, rv_err *err) {
    int rc = 0;
    if (w->f) {
        if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) rc = rv_fail(err, "%s: flush failed: %s", w->path, strerror(errno));
        if (fclose(w->f) != 0 && rc == 0) rc = rv_fail(err, "%s: close failed: %s", w->path, strerror(errno));
    }
    free(w->path);
    memset(w, 0, sizeof *w);
    return rc;
}

static int get_int(const cJSON *o, const char *k, long long *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x)) return -1;
    *v = (long long)x->valuedouble;
    return 0;
}

static void read_line(rv_answer_set *s, const char *line, size_t len) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    long long i;
    if (!j || get_int(j, "i", &i) || i < 0 || (size_t)i >= s->n || s->state[i]) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(j, "failed");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "full_output");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "seconds");
    long long nt, st, pt;
    if (cJSON_IsString(failed)) {
        s->state[i] = 2;
        s->why[i] = rv_xstrdup(failed->valuestring);
    } else if (cJSON_IsString(out) && !get_int(j, "n_tokens", &nt) && !get_int(j, "stopped", &st) &&
               !get_int(j, "prompt_tokens", &pt) && cJSON_IsNumber(sec)) {
        s->state[i] = 1;
        rv_eval_answer *a = &s->ans[i];
        a->full_output = rv_xstrdup(out->valuestring);
        a->n_tokens = (int)nt;
        a->stopped = (int)st;
        a->prompt_tokens = (int)pt;
        a->seconds = sec->valuedouble;
    }
    cJSON_Delete(j);
}

int rv_answer_set_read(rv_answer_set *s, const char *dir, const char *tag, const char *task, uint64_t fingerprint,
                       size_t n, rv_err *err) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->state = rv_xcalloc(n ? n : 1, 1);
    s->ans = rv_xcalloc(n ? n : 1, sizeof *s->ans);
    s->why = rv_xcalloc(n ? n : 1, sizeof *s->why);
    char **paths = NULL;
    size_t np = 0;
    if (task_files(dir, tag, task, &paths, &np, err)) return -1;
    int rc = 0;
    for (size_t f = 0; f < np && rc == 0; f++) {
        const char *path = paths[f];
        char *data = NULL;
        size_t len = 0;
        if (rv_read_file(path, &data, &len, err)) {
            rc = rv_fail_wrap(err, "eval: reading the answers of an earlier run");
        } else {
            const char *nl = memchr(data, '\n', len);
            if (!nl || header_fp(data, (size_t)(nl - data)) != fingerprint) {
                s->ignored_files++;
            } else {
                /* complete lines only: a torn last line has no '\n' */
                for (const char *p = nl + 1; p < data + len;) {
                    const char *e = memchr(p, '\n', (size_t)(data + len - p));
                    if (!e) break;
                    read_line(s, p, (size_t)(e - p));
                    p = e + 1;
                }
            }
            free(data);
        }
    }
    rv_free_strv(paths, np);
    return rc;
}

void rv_answer_set_free(rv_answer_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        rv_eval_answer_free(&s->ans[i]);
        free(s->why[i]);
    }
    free(s->state);
    free(s->ans);
    free(s->why);
    memset(s, 0, sizeof *s);
}

int rv_answer_store_clear(const char *dir, const char *tag, const char *task, rv_err *err) {
    char **paths = NULL;
    size_t np = 0;
    if (task_files(dir, tag, task, &paths, &np, err)) return -1;
    int rc = 0;
    for (size_t f = 0; f < np; f++)
        if (unlink(paths[f]) != 0 && errno != ENOENT) rc = rv_fail(err, "%s: cannot remove: %s", paths[f], strerror(errno));
    rv_free_strv(paths, np);
    return rc;
}
