#define _DEFAULT_SOURCE /* mkdtemp */
/* Paths follow os.path.join; atomic writes leave either the old file or the new one. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"

int main(void) {
    char *j = rv_path_join("/data/", "MIMIC-CXR-JPG");
    CHECK_STR(j, "/data/MIMIC-CXR-JPG");
    free(j);
    j = rv_path_join("/data", "MIMIC-CXR-JPG");
    CHECK_STR(j, "/data/MIMIC-CXR-JPG");
    free(j);
    j = rv_path_join("/data", "/abs/x");
    CHECK_STR(j, "/abs/x");
    free(j);
    j = rv_path_joinv(4, "/d/", "CheXpert", "train", "p.jpg");
    CHECK_STR(j, "/d/CheXpert/train/p.jpg");
    free(j);
    j = rv_path_dirname("a/b/c.txt");
    CHECK_STR(j, "a/b");
    free(j);
    CHECK_STR(rv_path_basename("a/b/c.txt"), "c.txt");
    /* os.path.abspath semantics (lexical). */
    j = rv_path_abs("/a/./b//c/../d/");
    CHECK_STR(j, "/a/b/d");
    free(j);
    j = rv_path_abs("/..");
    CHECK_STR(j, "/");
    free(j);
    char *cwd = getcwd(NULL, 0);
    char *want = rv_path_join(cwd, "x/y");
    j = rv_path_abs("./x/z/../y");
    CHECK_STR(j, want);
    free(j);
    free(want);
    free(cwd);

    char dir[] = "/tmp/rvfsXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    rv_err err;
    char *deep = rv_path_join(dir, "x/y/z");
    CHECK(rv_mkdir_p(deep, &err) == 0 && rv_is_dir(deep));
    CHECK(rv_mkdir_p(deep, &err) == 0); /* idempotent */
    char *f = rv_path_join(deep, "out.json");
    CHECK(rv_write_atomic(f, "old", 3, &err) == 0);
    /* An aborted streaming write leaves the old content and no temporary file behind. */
    rv_afile a;
    CHECK(rv_afile_open(&a, f, &err) == 0);
    fputs("half-written", a.fp);
    rv_afile_abort(&a);
    char *data;
    size_t len;
    CHECK(rv_read_file(f, &data, &len, &err) == 0 && len == 3 && memcmp(data, "old", 3) == 0);
    free(data);
    char **names;
    size_t n;
    CHECK(rv_list_dir(deep, &names, &n, &err) == 0 && n == 1 && strcmp(names[0], "out.json") == 0);
    rv_free_strv(names, n);
    /* A committed write replaces it. */
    CHECK(rv_afile_open(&a, f, &err) == 0);
    fputs("new!", a.fp);
    CHECK(rv_afile_commit(&a, &err) == 0);
    CHECK(rv_read_file(f, &data, &len, &err) == 0 && len == 4 && memcmp(data, "new!", 4) == 0);
    free(data);
    /* Errors name the path. */
    CHECK(rv_write_atomic("/nonexistent-dir/q.txt", "x", 1, &err) == -1 && strstr(err.msg, "/nonexistent-dir/q.txt"));
    CHECK(rv_read_file("/nonexistent-dir/q.txt", &data, &len, &err) == -1 && strstr(err.msg, "q.txt"));
    CHECK(rv_mkdir_p(f, &err) == -1); /* a file is in the way */
    /* Not regular files (issue L): /dev/zero would read until memory runs out, a FIFO with no
     * writer would block forever, a directory reads as nothing; each is refused at open, naming it. */
    CHECK(rv_read_file("/dev/zero", &data, &len, &err) == -1 && strstr(err.msg, "/dev/zero") &&
          strstr(err.msg, "character device"));
    CHECK(rv_read_file(deep, &data, &len, &err) == -1 && strstr(err.msg, "directory"));
    char *fifo = rv_path_join(deep, "pipe");
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(rv_read_file(fifo, &data, &len, &err) == -1 && strstr(err.msg, "FIFO") && strstr(err.msg, "pipe"));
    FILE *fp = NULL;
    size_t sz = 0;
    CHECK(rv_open_regular(fifo, RV_READ_FILE_MAX, &fp, &sz, &err) == -1 && fp == NULL);
    unlink(fifo);
    free(fifo);
    /* The size limit: the 4-byte file is over a 3-byte limit, within a 4-byte one. */
    CHECK(rv_open_regular(f, 3, &fp, &sz, &err) == -1 && strstr(err.msg, "4 bytes, more than the 3-byte limit"));
    CHECK(rv_open_regular(f, 4, &fp, &sz, &err) == 0 && sz == 4 && fp != NULL);
    if (fp) fclose(fp);
    /* data.max_file_bytes (issue L item 2): the configurable limit, threaded as max_bytes; the
     * message names the file, its size (4 bytes) and the key. */
    data = NULL;
    CHECK(rv_read_file_max(f, 3, &data, &len, &err) == -1 && data == NULL && strstr(err.msg, f) &&
          strstr(err.msg, "4 bytes, more than the 3-byte limit") && strstr(err.msg, "data.max_file_bytes"));
    CHECK(rv_read_file_max(f, 4, &data, &len, &err) == 0 && len == 4 && memcmp(data, "new!", 5) == 0);
    free(data);
    CHECK(rv_check_input_file(f, 3, &err) == -1 && strstr(err.msg, "data.max_file_bytes"));
    CHECK(rv_check_input_file(f, 4, &err) == 0);
    CHECK(rv_check_input_file("/dev/zero", 4, &err) == -1 && strstr(err.msg, "character device"));
    free(f);
    free(deep);
    return check_summary("test_fsutil");
}
