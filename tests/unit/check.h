/* Minimal test harness: CHECK records a failure and continues; the summary line
 * "N passed, N failed" is what CI reads; the exit code is non-zero on any failure. */
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
    return check_failed_ ? 1 : 0;
}

#endif
