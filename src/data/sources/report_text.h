/* Report text when no LLM-filtered report exists (data.md §1.3, §3, §11.1): the raw text that
 * upstream feeds its GPT-4o filter, and an offline rule-based stand-in for that filter. */
#ifndef RADVLM_DATA_SOURCES_REPORT_TEXT_H
#define RADVLM_DATA_SOURCES_REPORT_TEXT_H

#include "data/sources/readers.h"

/* MIMIC: the first section that is not NaN for pandas (rv_cell_isna) among findings,
 * impression, last_paragraph; every '\n' deleted. Sections are never joined. malloc'd;
 * "" when all three are absent. */
char *rv_report_mimic_raw(const char *findings, const char *impression, const char *last_paragraph);

/* CheXpert-Plus: the non-NaN sections concatenated with no separator, then Python
 * str.capitalize(), then every '\n' deleted. malloc'd. */
char *rv_report_chexpert_plus_raw(const char *findings, const char *impression, const char *end_of_impression);

/* Python str.capitalize() in place on UTF-8: first character upper-case, all others lower-case.
 * Case mapping covers ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic; other
 * characters are left unchanged. Never changes the byte length. */
void rv_py_capitalize(char *s);

/* The offline filter (rules in docs/data/readers-mimic-chexpert.md): drops history/technique
 * sentences and statements about prior studies or change, strips comparison clauses and
 * temporal modifiers, re-capitalises and re-punctuates. malloc'd, or NULL when nothing is left
 * (upstream writes no filtered file then). Never returns text containing "None". */
char *rv_report_filter_rules(const char *text);

/* Applies the policy to raw text (takes ownership): RULES -> rv_report_filter_rules, NONE -> the
 * raw text itself. NULL means "no report for this record" (also for empty raw text). */
char *rv_report_apply_filter(rv_report_filter f, char *raw);

#endif
