#include "core/badrec.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

void rv_badrec_init(rv_badrec *b, const rv_comm *comm, bool fatal) {
    b->comm = comm;
    b->fatal = fatal;
    b->replicated = false;
    b->count = b->replicated_count = b->noted = 0;
    b->max_logged = 50;
}

int rv_badrec_report(rv_badrec *b, rv_err *err, const char *where, const char *fmt, ...) {
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    size_t seen = b->replicated ? ++b->replicated_count : ++b->count;
    bool speaks = !b->replicated || b->comm->rank == 0;
    if (b->fatal)
        return rv_fail(err, "%s: bad record: %s (data.on_bad_record=fail; fix the record, or set data.on_bad_record=skip to skip it)",
                       where, reason);
    if (!speaks) return 0;
    if (seen <= b->max_logged)
        rv_warn("%s: bad record skipped: %s", where, reason);
    else if (seen == b->max_logged + 1)
        rv_warn("more bad records: only counting from now on (the total is reported at the end)");
    return 0;
}

size_t rv_badrec_total(const rv_badrec *b) {
    uint64_t mine = (uint64_t)b->count + (b->comm->rank == 0 ? (uint64_t)b->replicated_count : 0);
    return (size_t)rv_comm_sum_u64(b->comm, mine);
}

void rv_badrec_note(rv_badrec *b, const char *where, const char *fmt, ...) {
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    b->noted++;
    if (b->replicated && b->comm->rank != 0) return;
    if (b->noted <= b->max_logged) rv_warn("%s: record kept, repaired: %s", where, reason);
    else if (b->noted == b->max_logged + 1)
        rv_warn("more repaired records: not listed from now on");
}
