#include "core/badrec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/hash.h"

#include "core/log.h"

void rv_badrec_init(rv_badrec *b, const rv_comm *comm, bool fatal) {
    b->comm = comm;
    b->fatal = fatal;
    b->replicated = false;
    b->count = b->replicated_count = b->noted = 0;
    b->max_logged = 50;
    b->repeats = b->replicated_repeats = b->remembered = 0;
    memset(b->seen, 0, sizeof b->seen);
}

/* True when the report (where, reason) was seen before; remembers it otherwise (while there is room). */
static bool seen_before(rv_badrec *b, const char *where, const char *reason) {
    uint64_t h = rv_fnv1a64_update_str(rv_fnv1a64_update_str(RV_FNV1A64_BASIS, where), reason);
    if (h == 0) h = 1; /* 0 marks an empty slot */
    size_t i = (size_t)(h % RV_BADREC_SLOTS);
    for (; b->seen[i]; i = (i + 1) % RV_BADREC_SLOTS)
        if (b->seen[i] == h) return true;
    if (b->remembered < RV_BADREC_REMEMBER) {
        b->seen[i] = h;
        b->remembered++;
    }
    return false;
}

int rv_badrec_report(rv_badrec *b, rv_err *err, const char *where, const char *fmt, ...) {
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (!b->fatal && seen_before(b, where, reason)) {
        if (b->replicated) b->replicated_repeats++;
        else b->repeats++;
        return 0;
    }
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

size_t rv_badrec_repeats_total(const rv_badrec *b) {
    uint64_t mine = (uint64_t)b->repeats + (b->comm->rank == 0 ? (uint64_t)b->replicated_repeats : 0);
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
