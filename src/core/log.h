/* Rank-aware logging (the process-wide logger). Messages go to stderr; with more than one
 * rank each line carries "[rank r/n]". rv_log0 prints on rank 0 only. */
#ifndef RADVLM_CORE_LOG_H
#define RADVLM_CORE_LOG_H

typedef enum { RV_LOG_DEBUG = 0, RV_LOG_INFO, RV_LOG_WARN, RV_LOG_ERROR } rv_log_level;

void rv_log_init(int rank, int size, rv_log_level min_level);
/* Parses "debug" | "info" | "warn" | "error"; returns -1 for anything else. */
int rv_log_level_parse(const char *s, rv_log_level *out);
void rv_log_set_level(rv_log_level min_level);
int rv_log_rank(void);

void rv_log(rv_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rv_log0(rv_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rv_debug(...) rv_log(RV_LOG_DEBUG, __VA_ARGS__)
#define rv_info(...) rv_log(RV_LOG_INFO, __VA_ARGS__)
#define rv_warn(...) rv_log(RV_LOG_WARN, __VA_ARGS__)
#define rv_error(...) rv_log(RV_LOG_ERROR, __VA_ARGS__)
#define rv_info0(...) rv_log0(RV_LOG_INFO, __VA_ARGS__)
#define rv_warn0(...) rv_log0(RV_LOG_WARN, __VA_ARGS__)

#endif
