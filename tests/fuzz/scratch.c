/* fuzz_scratch_file (fuzz.h): parsers that only read from a path get the input through one file
 * per process in TMPDIR, rewritten on every call and removed at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch_path[512];

static void remove_scratch(void) {
    if (scratch_path[0]) unlink(scratch_path);
}

const char *fuzz_scratch_file(const char *suffix, const uint8_t *data, size_t size) {
    if (!scratch_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch_path, sizeof scratch_path, "%s/rv_fuzz_%d%s", tmp && tmp[0] ? tmp : "/tmp", (int)getpid(), suffix);
        atexit(remove_scratch);
    }
    FILE *f = fopen(scratch_path, "wb");
    if (!f) return NULL;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || w != size) return NULL;
    return scratch_path;
}
