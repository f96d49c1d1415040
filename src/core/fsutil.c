#define _GNU_SOURCE
#include "core/fsutil.h"
#include "core/temp_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *temp_name(const char *path) {
    /* Same directory (rename stays atomic), pid-unique, hidden, marked as incomplete. */
    char *dir = rv_path_dirname(path);
    char *tmp = rv_xasprintf("%s/.%s.partial-%ld", dir, rv_path_basename(path), (long)getpid());
    free(dir);
    return tmp;
}

int rv_write_atomic(const char *path, const void *data, size_t len, rv_err *err) {
    rv_afile a;
    if (rv_afile_open(&a, path, err)) return -1;
    if (len && fwrite(data, 1, len, a.fp) != len) {
        int e = errno;
        rv_afile_abort(&a);
        return rv_fail(err, "%s: write failed: %s; check free disk space and permissions", path, strerror(e));
    }
    return rv_afile_commit(&a, err);
}

int rv_afile_open(rv_afile *a, const char *path, rv_err *err) {
    a->path = rv_xstrdup(path);
    a->tmp = temp_name(path);
    rv_temp_track(a->tmp); /* removed if a signal ends the process before the rename */
    a->fp = fopen(a->tmp, "wb");
    if (!a->fp) {
        int e = errno;
        rv_temp_forget(a->tmp);
        int rc = rv_fail(err, "%s: cannot create file: %s; check that the directory exists and is writable", path, strerror(e));
        free(a->path);
        free(a->tmp);
        return rc;
    }
    return 0;
}

int rv_afile_commit(rv_afile *a, rv_err *err) {
    int rc = 0;
    int bad = ferror(a->fp);
    if (fflush(a->fp) != 0 || bad || fsync(fileno(a->fp)) != 0) {
        rc = rv_fail(err, "%s: write failed: %s; check free disk space", a->path, strerror(errno));
    }
    if (fclose(a->fp) != 0 && rc == 0) rc = rv_fail(err, "%s: close failed: %s", a->path, strerror(errno));
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = rv_fail(err, "%s: cannot rename into place: %s", a->path, strerror(errno));
    if (rc) unlink(a->tmp);
    rv_temp_forget(a->tmp);
    free(a->path);
    free(a->tmp);
    a->fp = NULL;
    return rc;
}

void rv_afile_abort(rv_afile *a) {
    if (a->fp) fclose(a->fp);
    unlink(a->tmp);
    rv_temp_forget(a->tmp);
    free(a->path);
    free(a->tmp);
    a->fp = NULL;
}

int rv_open_regular(const char *path, size_t max_bytes, FILE **out, size_t *size, rv_err *err) {
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; cleared again for a regular file */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return rv_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rv_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rv_fail(err, "%s: not a regular file (a %s): input files must be regular files", path,
                       S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO" : S_ISCHR(st.st_mode) ? "character device"
                       : S_ISBLK(st.st_mode) ? "block device" : S_ISSOCK(st.st_mode) ? "socket" : "special file");
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return rv_fail(err, "%s: %lld bytes, more than the %zu-byte limit for an input file (data.max_file_bytes, "
                       "at most %zu); a wrong or hostile file? if it is genuine, raise data.max_file_bytes",
                       path, (long long)st.st_size, max_bytes, (size_t)RV_READ_FILE_MAX);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return rv_fail(err, "%s: cannot open: %s", path, strerror(e));
    }
    *out = f;
    if (size) *size = (size_t)st.st_size;
    return 0;
}

int rv_check_input_file(const char *path, size_t max_bytes, rv_err *err) {
    FILE *f;
    if (rv_open_regular(path, max_bytes, &f, NULL, err) != 0) return -1;
    fclose(f);
    return 0;
}

int rv_read_file(const char *path, char **data, size_t *len, rv_err *err) {
    return rv_read_file_max(path, RV_READ_FILE_MAX, data, len, err);
}

int rv_read_file_max(const char *path, size_t max_bytes, char **data, size_t *len, rv_err *err) {
    FILE *f;
    size_t size;
    if (rv_open_regular(path, max_bytes, &f, &size, err)) return -1;
    /* the stat size sizes the buffer; a file that grows meanwhile is still read to its end, up to the limit */
    size_t cap = size + 1 > (1 << 16) ? size + 1 : (1 << 16), n = 0;
    char *buf = rv_xmalloc(cap);
    for (;;) {
        if (n > max_bytes) {
            free(buf);
            fclose(f);
            return rv_fail(err, "%s: grew past the %zu-byte limit for an input file (data.max_file_bytes) while "
                           "being read", path, max_bytes);
        }
        if (n + 1 >= cap) {
            cap *= 2;
            buf = rv_xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return rv_fail(err, "%s: read error", path); }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

bool rv_exists(const char *path) { struct stat st; return stat(path, &st) == 0; }
bool rv_is_dir(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISDIR(st.st_mode); }
bool rv_is_file(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISREG(st.st_mode); }

int rv_mkdir_p(const char *path, rv_err *err) {
    char *p = rv_xstrdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = rv_fail(err, "%s: cannot create directory: %s", p, strerror(e));
                free(p);
                return rc;
            }
            p[i] = c;
        }
    }
    free(p);
    if (!rv_is_dir(path)) return rv_fail(err, "%s: exists but is not a directory", path);
    return 0;
}

char *rv_path_join(const char *a, const char *b) {
    if (b[0] == '/' || a[0] == 0) return rv_xstrdup(b);
    size_t la = strlen(a);
    if (a[la - 1] == '/') return rv_xasprintf("%s%s", a, b);
    return rv_xasprintf("%s/%s", a, b);
}

char *rv_path_joinv(int n, ...) {
    va_list ap;
    va_start(ap, n);
    char *acc = rv_xstrdup(va_arg(ap, const char *));
    for (int i = 1; i < n; i++) {
        char *next = rv_path_join(acc, va_arg(ap, const char *));
        free(acc);
        acc = next;
    }
    va_end(ap);
    return acc;
}

char *rv_path_abs(const char *path) {
    char *full;
    if (path[0] == '/') full = rv_xstrdup(path);
    else {
        char *cwd = getcwd(NULL, 0);
        full = rv_path_join(cwd ? cwd : "/", path);
        free(cwd);
    }
    /* Lexical normalisation into a stack of components. */
    size_t n = strlen(full);
    char *out = rv_xmalloc(n + 2);
    size_t o = 0;
    const char *p = full;
    while (*p) {
        while (*p == '/') p++;
        const char *s = p;
        while (*p && *p != '/') p++;
        size_t len = (size_t)(p - s);
        if (len == 0 || (len == 1 && s[0] == '.')) continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/') o--;
            if (o > 0) o--;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, s, len);
        o += len;
    }
    if (o == 0) out[o++] = '/';
    out[o] = 0;
    free(full);
    return out;
}

char *rv_path_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return rv_xstrdup(".");
    if (slash == path) return rv_xstrdup("/");
    return rv_xstrndup(path, (size_t)(slash - path));
}

const char *rv_path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int rv_list_dir(const char *dir, char ***names, size_t *n, rv_err *err) {
    DIR *d = opendir(dir);
    if (!d) return rv_fail(err, "%s: cannot list directory: %s", dir, strerror(errno));
    size_t cap = 64, cnt = 0;
    char **v = rv_xmalloc(cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (cnt == cap) { cap *= 2; v = rv_xrealloc(v, cap * sizeof *v); }
        v[cnt++] = rv_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(v, cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return 0;
}

void rv_free_strv(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}
