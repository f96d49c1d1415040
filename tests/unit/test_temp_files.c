/* The registry of temporary files in flight (core/temp_files.h):
 *  - track / forget / count, and rv_temp_remove_all removes exactly the tracked files;
 *  - rv_afile (core/fsutil.h) tracks its temporary from open to commit or abort;
 *  - a full table or a path too long is not tracked (and nothing else breaks);
 *  - in a child with the signal handler installed, SIGTERM removes the tracked temporary,
 *    leaves an untracked file, and still ends the child by SIGTERM (the launcher's view);
 *  - a forked child that gets SIGTERM leaves its parent's tracked files alone. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/temp_files.h"

static char dir[] = "/tmp/rv-temp-files-XXXXXX";

static char *make(const char *name) {
    char *p = rv_path_join(dir, name);
    FILE *f = fopen(p, "w");
    if (f) { fputs("x", f); fclose(f); }
    return p;
}

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

int main(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    CHECK(rv_temp_count() == 0);

    /* track two, forget one: remove_all removes only the tracked one */
    char *a = make("a.tmp-1"), *b = make("b.tmp-1");
    rv_temp_track(a);
    rv_temp_track(b);
    CHECK(rv_temp_count() == 2);
    rv_temp_forget(b);
    rv_temp_forget("/no/such/file"); /* not tracked: no-op */
    CHECK(rv_temp_count() == 1);
    rv_temp_remove_all();
    CHECK(!exists(a) && exists(b));
    CHECK(rv_temp_count() == 0);
    rv_temp_remove_all(); /* nothing left: nothing happens */
    CHECK(exists(b));

    /* rv_afile: tracked between open and commit, and between open and abort */
    rv_err err = {{0}};
    char *out = rv_path_join(dir, "out.json");
    rv_afile af;
    CHECK(rv_afile_open(&af, out, &err) == 0);
    CHECK(rv_temp_count() == 1);
    char *tmp = rv_xstrdup(af.tmp);
    CHECK(exists(tmp));
    fputs("{}", af.fp);
    CHECK(rv_afile_commit(&af, &err) == 0);
    CHECK(rv_temp_count() == 0 && exists(out) && !exists(tmp));
    free(tmp);
    CHECK(rv_afile_open(&af, out, &err) == 0);
    CHECK(rv_temp_count() == 1);
    rv_afile_abort(&af);
    CHECK(rv_temp_count() == 0);
    CHECK(rv_write_atomic(out, "1", 1, &err) == 0 && rv_temp_count() == 0);

    /* a full table: the 65th is not tracked, the 64 are */
    char name[32];
    char *many[RV_TEMP_SLOTS + 1];
    for (int i = 0; i <= RV_TEMP_SLOTS; i++) {
        snprintf(name, sizeof name, "m%d.tmp", i);
        many[i] = make(name);
        rv_temp_track(many[i]);
    }
    CHECK(rv_temp_count() == RV_TEMP_SLOTS);
    rv_temp_remove_all();
    int gone = 0;
    for (int i = 0; i < RV_TEMP_SLOTS; i++) gone += !exists(many[i]);
    CHECK(gone == RV_TEMP_SLOTS);
    CHECK(exists(many[RV_TEMP_SLOTS]));
    for (int i = 0; i <= RV_TEMP_SLOTS; i++) { unlink(many[i]); free(many[i]); }

    /* a path as long as the limit is not tracked */
    char *longp = malloc(RV_TEMP_PATH_MAX + 1);
    memset(longp, 'a', RV_TEMP_PATH_MAX);
    longp[RV_TEMP_PATH_MAX] = 0;
    rv_temp_track(longp);
    CHECK(rv_temp_count() == 0);
    free(longp);

    /* SIGTERM in a child: the tracked temporary goes, the untracked file stays, the child dies
     * of SIGTERM */
    char *t = make("shard.h5.tmp-77"), *keep = make("keep.txt");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (rv_temp_cleanup_on_signals() != 0) _exit(3);
        rv_temp_track(t);
        raise(SIGTERM);
        _exit(4); /* not reached: the handler re-raises with the default action */
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    CHECK(!exists(t));
    CHECK(exists(keep));

    /* the parent tracks a file; a forked child (as a decoder) dies of SIGTERM: the file stays */
    char *mine = make("parent.h5.tmp-1");
    rv_temp_track(mine);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        if (rv_temp_cleanup_on_signals() != 0) _exit(3);
        raise(SIGTERM);
        _exit(4);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    CHECK(exists(mine));
    CHECK(rv_temp_count() == 1);
    rv_temp_remove_all(); /* the parent's own call removes it */
    CHECK(!exists(mine) && rv_temp_count() == 0);
    free(mine);

    unlink(b); unlink(out); unlink(keep);
    free(a); free(b); free(out); free(t); free(keep);
    rmdir(dir);
    return check_summary("test_temp_files");
}
