/* One fuzz target per parser, in libFuzzer's form: LLVMFuzzerTestOneInput runs the parser on
 * data[size] and must return 0 whatever the bytes are; a crash, an abort, a sanitizer report or a
 * leak is the finding. Each tests/fuzz/fuzz_<name>.c is linked twice: with replay.c (a plain C
 * main, every build: ctest "fuzz.<name>" replays the committed corpus, then a few seconds of
 * deterministic mutation) and, with -DRADVLM_FUZZ=ON under clang, with -fsanitize=fuzzer for long
 * coverage-guided runs (docs/limits.md "Images, DICOM and fuzzing"). */
#ifndef RADVLM_TESTS_FUZZ_FUZZ_H
#define RADVLM_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The pixel budget the image targets decode under: large enough for every seed, small enough
 * that a mutated header cannot make one run allocate more than a few MB. */
#define FUZZ_MAX_PIXELS (1LL << 20)

/* For targets whose parser reads a path: writes data to a per-process scratch file and returns
 * its name (the same name on every call of that process). NULL when it cannot be written. */
const char *fuzz_scratch_file(const char *suffix, const uint8_t *data, size_t size);

#endif
