#include "core/badrec.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

void rv_badrec_init(rv_badrec *b, bool fatal) {
    b->fatal = fatal;
    b->count = 0;
    b->max_logged = 50;
}

int rv_badrec_report(rv_badrec *b, rv_err *err, const char *where, const char *fmt, ...) {
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    b->count++;
    if (b->fatal)
        return rv_fail(err, "%s: bad record: %s (data.on_bad_record=fail; fix the record, or set data.on_bad_record=skip to skip it)",
                       where, reason);
    if (b->count <= b->max_logged)
        rv_warn("%s: bad record skipped: %s", where, reason);
    else if (b->count == b->max_logged + 1)
        rv_warn("more bad records: only counting from now on (the total is reported at the end)");
    return 0;
}
