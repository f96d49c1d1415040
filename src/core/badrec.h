/* Bad input records: each one is counted and reported with its path and line/record, then
 * skipped or made fatal by data.on_bad_record ("skip" | "fail"). Never silent.
 *
 * Once per record: several readers read the same file (every MIMIC task reader reads
 * mimic-cxr-2.0.0-metadata.csv), so the same bad row is met several times. A report identical to
 * an earlier one (same where, same reason) is a repeat: not logged and not counted again, only
 * tallied in `repeats`. The reports seen are remembered as 64-bit hashes in a fixed table inside
 * the struct (no allocation, nothing to free); past RV_BADREC_REMEMBER distinct records per rank,
 * further ones are counted every time they are met (the log is capped at max_logged anyway). */
#ifndef RADVLM_CORE_BADREC_H
#define RADVLM_CORE_BADREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"

#define RV_BADREC_SLOTS 8192                          /* hash table of the reports seen */
#define RV_BADREC_REMEMBER (RV_BADREC_SLOTS / 4 * 3)  /* distinct reports remembered */

typedef struct rv_badrec {
    const rv_comm *comm;     /* the ranks sharing the work: replicated records are logged by its
                                rank 0, totals are summed over it */
    bool fatal;              /* on_bad_record == "fail" */
    bool replicated;         /* the current work is done identically on every rank (e.g. reading
                                the source tables): only rank 0 logs and its count stands for all */
    size_t count;            /* bad records in this rank's share of partitioned work */
    size_t replicated_count; /* bad records met during replicated work */
    size_t max_logged;       /* individual warnings printed before only counting */
    size_t repeats;          /* reports of a record already reported (another reader of its file), */
    size_t replicated_repeats; /* in partitioned and in replicated work */
    size_t remembered;       /* distinct reports in seen[] */
    uint64_t seen[RV_BADREC_SLOTS]; /* hashes of the reports seen (0 = empty slot) */
    size_t noted;            /* records kept with a repair (rv_badrec_note) */
} rv_badrec;

/* comm: the ranks doing the work (a phase's ctx->comm; rv_comm_world() in one-process tools). */
void rv_badrec_init(rv_badrec *b, const rv_comm *comm, bool fatal);
/* Collective over b->comm: bad records over its ranks (partitioned counts summed, replicated once). */
size_t rv_badrec_total(const rv_badrec *b);
/* Collective over b->comm: the repeats (reports of records already reported) over its ranks,
 * counted as rv_badrec_total counts records. */
size_t rv_badrec_repeats_total(const rv_badrec *b);
/* Reports one bad record. where is "path:line" or "path: record id". Returns 0 when the
 * record is to be skipped, -1 (err filled) when the policy makes it fatal (repeats too: a fatal
 * report ends the work at its first sight). */
int rv_badrec_report(rv_badrec *b, rv_err *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports a record that is kept, repaired the way upstream repairs it (e.g. a VinDr box beyond
 * its image, clipped to it by the fusion): logged as a warning with where (by rank 0 for
 * replicated work, the first max_logged), counted in noted, never fatal: the record is used. */
void rv_badrec_note(rv_badrec *b, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
