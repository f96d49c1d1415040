#define _GNU_SOURCE
#include "io/shard_set.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

/* What a pack writes into a shard directory: index.h5, shard-*.h5 and their temporaries. */
static bool pack_owned(const char *name) { return !strncmp(name, "shard-", 6) || !strncmp(name, "index.h5", 8); }

/* OUT without trailing slashes, links resolved when it exists (else made absolute). */
static char *set_path(const char *out) {
    char buf[PATH_MAX];
    if (realpath(out, buf)) return rv_xstrdup(buf);
    return rv_path_abs(out);
}

char *rv_shard_set_staging(const char *out) {
    char *p = set_path(out), *s = rv_xasprintf("%s.partial", p);
    free(p);
    return s;
}

/* Removes the files a pack wrote in dir, then dir itself; what else is there stays (and is an error). */
static int remove_set(const char *dir, rv_err *err) {
    char **names = NULL;
    size_t n = 0;
    if (rv_list_dir(dir, &names, &n, err) != 0) return -1;
    /* the index first: no moment where an index points at a half-removed set */
    char *idx = rv_path_join(dir, "index.h5");
    unlink(idx);
    free(idx);
    size_t foreign = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pack_owned(names[i])) { foreign++; continue; }
        char *p = rv_path_join(dir, names[i]);
        if (unlink(p) != 0 && errno != ENOENT) {
            rv_fail(err, "%s: cannot remove: %s", p, strerror(errno));
            free(p);
            rv_free_strv(names, n);
            return -1;
        }
        free(p);
    }
    rv_free_strv(names, n);
    if (rmdir(dir) != 0)
        return rv_fail(err, "%s: cannot remove this directory of an earlier pack (%s%s); remove it by hand", dir,
                       strerror(errno), foreign ? ": it holds files the pack phase did not write" : "");
    return 0;
}

int rv_shard_set_begin(const char *out, const char *staging, rv_err *err) {
    char *set = set_path(out), *old = rv_xasprintf("%s.old", set);
    int rc = -1;
    /* A pack killed between the two renames of the fallback swap left the previous set at OUT.old. */
    if (!rv_exists(set) && rv_is_dir(old)) {
        if (rename(old, set) != 0) {
            rv_fail(err, "%s: cannot restore the previous shard set to %s: %s", old, set, strerror(errno));
            goto out;
        }
        fprintf(stderr, "pack: restored the previous shard set %s from %s (a pack died while swapping it)\n", set, old);
    }
    if (rv_exists(set)) {
        if (!rv_is_dir(set)) {
            rv_fail(err, "pack.out %s exists and is not a directory; point pack.out at a shard directory", set);
            goto out;
        }
        char **names = NULL;
        size_t n = 0;
        if (rv_list_dir(set, &names, &n, err) != 0) goto out;
        for (size_t i = 0; i < n; i++)
            if (!pack_owned(names[i])) {
                rv_fail(err, "pack.out %s holds '%s', which the pack phase did not write; a re-pack replaces the "
                             "directory as a whole, so give the shards a directory of their own (or move that file)",
                        set, names[i]);
                rv_free_strv(names, n);
                goto out;
            }
        rv_free_strv(names, n);
    }
    if (rv_is_dir(old) && remove_set(old, err) != 0) goto out;
    if (rv_exists(staging) && remove_set(staging, err) != 0) goto out;
    char *parent = rv_path_dirname(set);
    int mk = rv_mkdir_p(parent, err);
    free(parent);
    if (mk != 0) goto out;
    if (mkdir(staging, 0777) != 0) {
        rv_fail(err, "%s: cannot create the staging directory of the new shard set: %s", staging, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(set);
    free(old);
    return rc;
}

int rv_shard_set_commit(const char *out, const char *staging, rv_err *err) {
    char *set = set_path(out), *old = NULL;
    int rc = -1;
    if (!rv_exists(set)) {
        /* first pack: nothing to keep */
        if (rename(staging, set) != 0) {
            rv_fail(err, "%s: cannot rename to %s: %s", staging, set, strerror(errno));
            goto out;
        }
        rc = 0;
        goto out;
    }
    /* One atomic step: OUT becomes the new set, the staging name the old one. */
    if (renameat2(AT_FDCWD, staging, AT_FDCWD, set, RENAME_EXCHANGE) == 0) {
        rc = remove_set(staging, err);
        goto out;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
        rv_fail(err, "%s: cannot swap with %s: %s", staging, set, strerror(errno));
        goto out;
    }
    /* File systems without RENAME_EXCHANGE (NFS, some parallel ones): two renames; a kill
     * between them leaves the old set at OUT.old, which the next pack puts back. */
    old = rv_xasprintf("%s.old", set);
    if (rename(set, old) != 0) {
        rv_fail(err, "%s: cannot rename to %s: %s", set, old, strerror(errno));
        goto out;
    }
    if (rename(staging, set) != 0) {
        rv_fail(err, "%s: cannot rename to %s: %s (the previous set is at %s)", staging, set, strerror(errno), old);
        rename(old, set);
        goto out;
    }
    rc = remove_set(old, err);
out:
    free(set);
    free(old);
    return rc;
}
