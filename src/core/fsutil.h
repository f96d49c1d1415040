/* Files and paths. Outputs are written atomically: a temporary name in the same directory,
 * fsync, then rename, so a crash never leaves a half-written file under the final name. */
#ifndef RADVLM_CORE_FSUTIL_H
#define RADVLM_CORE_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

int rv_write_atomic(const char *path, const void *data, size_t len, rv_err *err);
/* Input files are regular files of bounded size: a device (/dev/zero), a FIFO (which would block
 * forever) or a directory is refused at open with a message naming the path, as is a file over
 * the limit (hostile input). RV_READ_FILE_MAX is the default and the ceiling of the configurable
 * limit data.max_file_bytes (docs/limits.md); no dataset file comes near it. */
#define RV_READ_FILE_MAX ((size_t)4 << 30)
/* Opens path for reading when it is a regular file of at most max_bytes (its size in *size).
 * A larger file is refused with its size, the limit and the key that sets it (data.max_file_bytes). */
int rv_open_regular(const char *path, size_t max_bytes, FILE **out, size_t *size, rv_err *err);
/* Whether path is a regular file of at most max_bytes, without reading it (the same checks and
 * messages as rv_open_regular): for inputs handed to a reader that applies only the default limit. */
int rv_check_input_file(const char *path, size_t max_bytes, rv_err *err);
/* Reads a whole regular file of at most max_bytes, NUL-terminated (*len excludes the NUL). */
int rv_read_file_max(const char *path, size_t max_bytes, char **data, size_t *len, rv_err *err);
/* rv_read_file_max with the default limit RV_READ_FILE_MAX. */
int rv_read_file(const char *path, char **data, size_t *len, rv_err *err);
int rv_mkdir_p(const char *path, rv_err *err);
bool rv_exists(const char *path);
bool rv_is_dir(const char *path);
bool rv_is_file(const char *path);

/* os.path.join(a, b): a single '/' between the parts; b absolute replaces a. malloc'd. */
char *rv_path_join(const char *a, const char *b);
/* Joins n parts the same way. malloc'd. */
char *rv_path_joinv(int n, ...);
/* os.path.abspath: the working directory prepended to a relative path, then "." and ".."
 * components and repeated slashes removed (lexically, without resolving links). malloc'd. */
char *rv_path_abs(const char *path);
/* Directory part of a path ("." when none). malloc'd. */
char *rv_path_dirname(const char *path);
/* Final component without its directory. Points into path. */
const char *rv_path_basename(const char *path);

/* Sorted list of the entries of a directory (names only, no "." or ".."). */
int rv_list_dir(const char *dir, char ***names, size_t *n, rv_err *err);
void rv_free_strv(char **v, size_t n);

/* Streaming atomic writer: write to fp, then commit (rename into place) or abort (unlink). */
typedef struct rv_afile {
    FILE *fp;
    char *path, *tmp;
} rv_afile;
int rv_afile_open(rv_afile *a, const char *path, rv_err *err);
int rv_afile_commit(rv_afile *a, rv_err *err);
void rv_afile_abort(rv_afile *a);

#endif
