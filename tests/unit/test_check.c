/* The harness itself (check.h): a test that ran no check fails, a skip exits with the code
 * CMakeLists.txt declares as SKIP_RETURN_CODE (77), and a skip after a failed check is still
 * a failure. The counters are this file's own, so the states are set up by hand. */
#include "check.h"

int main(void) {
    /* nothing checked yet: the summary must say failure */
    int empty = check_summary("test_check (no checks, expected to fail)");
    int skip_clean = check_skip("test_check", "expected skip");
    CHECK(empty == 1);
    CHECK(CHECK_SKIP_CODE == 77);
    CHECK(skip_clean == 77);
    /* with passed checks only: a skip is a skip, the summary is a pass */
    CHECK(check_skip("test_check", "expected skip") == 77);
    CHECK(check_passed_ == 4 && check_failed_ == 0);
    /* with a failed check, neither the summary nor a skip may report success */
    check_failed_ = 1;
    int failed_summary = check_summary("test_check (one failure, expected to fail)");
    int failed_skip = check_skip("test_check", "skip after a failure");
    check_failed_ = 0;
    CHECK(failed_summary == 1);
    CHECK(failed_skip == 1);
    return check_summary("test_check");
}
