/* Bad-record reports once per record (core/badrec.h), in one process:
 *  - a report identical to an earlier one (same where and reason: another reader of the same
 *    file) is neither counted nor logged again, only tallied as a repeat;
 *  - the same where with another reason, or another where, is a new record;
 *  - replicated and partitioned repeats are tallied apart, and the totals add them as the
 *    record totals do (one rank here: everything);
 *  - the fail policy fails at every sight (a repeat is not a way around it);
 *  - past RV_BADREC_REMEMBER distinct records, further ones are counted every time (documented
 *    limit), and the first ones are still recognised. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, dup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "comm/world.h"
#include "core/badrec.h"
#include "core/log.h"

/* Counts the lines of the file at path that contain needle. */
static int count_in(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

int main(void) {
    rv_log_init(0, 1, RV_LOG_INFO);
    static rv_badrec b; /* 64 KiB: static rather than on the stack */
    rv_err err = {{0}};
    rv_badrec_init(&b, rv_comm_world(), false);

    /* stderr to a file, to count the warnings */
    char logp[] = "/tmp/rv-badrec-XXXXXX";
    int fd = mkstemp(logp);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);

    /* "12 readers" of the same metadata row: one record, 11 repeats */
    for (int reader = 0; reader < 12; reader++)
        CHECK(rv_badrec_report(&b, &err, "meta.csv:3", "expected 12 fields as in the header, found 14") == 0);
    CHECK(b.count == 1 && b.repeats == 11);
    /* the same line with another reason, and another line: new records */
    CHECK(rv_badrec_report(&b, &err, "meta.csv:3", "subject_id 'x' must be a non-negative integer") == 0);
    CHECK(rv_badrec_report(&b, &err, "meta.csv:4", "expected 12 fields as in the header, found 14") == 0);
    CHECK(b.count == 3 && b.repeats == 11);
    /* replicated work: its own tallies */
    b.replicated = true;
    CHECK(rv_badrec_report(&b, &err, "split.csv:9", "bad split") == 0);
    CHECK(rv_badrec_report(&b, &err, "split.csv:9", "bad split") == 0);
    b.replicated = false;
    CHECK(b.replicated_count == 1 && b.replicated_repeats == 1);
    /* one rank: the totals are 3 + 1 records and 11 + 1 repeats */
    CHECK(rv_badrec_total(&b) == 4);
    CHECK(rv_badrec_repeats_total(&b) == 12);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    CHECK(count_in(logp, "meta.csv:3: bad record skipped: expected 12 fields") == 1);
    CHECK(count_in(logp, "meta.csv:3: bad record skipped: subject_id") == 1);
    CHECK(count_in(logp, "meta.csv:4: bad record skipped") == 1);
    CHECK(count_in(logp, "split.csv:9: bad record skipped") == 1);
    unlink(logp);

    /* fail policy: every sight fails, the first and the repeat alike */
    static rv_badrec f;
    rv_badrec_init(&f, rv_comm_world(), true);
    CHECK(rv_badrec_report(&f, &err, "meta.csv:3", "x") == -1);
    CHECK(strstr(err.msg, "meta.csv:3: bad record: x (data.on_bad_record=fail") != NULL);
    CHECK(rv_badrec_report(&f, &err, "meta.csv:3", "x") == -1);

    /* past the remembered limit: new records are counted at each sight; the early ones are
     * still known */
    static rv_badrec m;
    rv_badrec_init(&m, rv_comm_world(), false);
    m.max_logged = 0; /* quiet */
    char where[64];
    for (int i = 0; i < RV_BADREC_REMEMBER; i++) {
        snprintf(where, sizeof where, "big.csv:%d", i + 2);
        rv_badrec_report(&m, &err, where, "r");
    }
    CHECK(m.count == RV_BADREC_REMEMBER && m.remembered == RV_BADREC_REMEMBER);
    rv_badrec_report(&m, &err, "big.csv:2", "r"); /* remembered: a repeat */
    CHECK(m.count == RV_BADREC_REMEMBER && m.repeats == 1);
    rv_badrec_report(&m, &err, "late.csv:2", "r");
    rv_badrec_report(&m, &err, "late.csv:2", "r"); /* not remembered: counted twice */
    CHECK(m.count == RV_BADREC_REMEMBER + 2 && m.repeats == 1);

    return check_summary("test_badrec");
}
