/* Minimal test harness: CHECK records a failure and continues; the summary line
 * "N passed, N failed" is what CI reads; the exit code is non-zero on any failure, and also
 * when no check ran at all (a test that silently checks nothing must not pass). A test whose
 * input is absent returns check_skip(...): exit code CHECK_SKIP_CODE, which CMakeLists.txt
 * declares as ctest's SKIP_RETURN_CODE, so ctest reports it as skipped, not passed. */
#ifndef RADVLM_TESTS_CHECK_H
#define RADVLM_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) check_passed_++;                                                      \
        else { check_failed_++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_STR(got, want)                                                            \
    do {                                                                                \
        const char *g_ = (got), *w_ = (want);                                           \
        if (g_ && w_ && strcmp(g_, w_) == 0) check_passed_++;                           \
        else { check_failed_++; fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                      \
    do {                                                                                \
        double g_ = (got), w_ = (want);                                                 \
        if (fabs(g_ - w_) <= (tol)) check_passed_++;                                    \
        else { check_failed_++; fprintf(stderr, "%s:%d: got %.17g, want %.17g (tol %g)\n", __FILE__, __LINE__, g_, w_, (double)(tol)); } \
    } while (0)

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed_, check_failed_);
    if (check_passed_ + check_failed_ == 0) {
        fprintf(stderr, "%s: no check ran; a test that checks nothing fails (use check_skip to skip)\n", name);
        return 1;
    }
    return check_failed_ ? 1 : 0;
}

#define CHECK_SKIP_CODE 77 /* = SKIP_RETURN_CODE in CMakeLists.txt */

/* Ends a test that cannot run its checks here (why says what is missing and how to provide
 * it). A check that already failed still fails the test. */
static inline int check_skip(const char *name, const char *why) {
    if (check_failed_) return check_summary(name);
    printf("%s: SKIP: %s (%d checks ran before)\n", name, why, check_passed_);
    return CHECK_SKIP_CODE;
}

#endif
