/* Internal interface of the synth phase (phantom demo datasets). One "case" per study or
 * image is a pure function of (run seed, source, index): the findings drawn in its phantom,
 * its CheXpert-style labels, its report sentences and its boxes all come from that one
 * record, so every file written about an image agrees with its pixels. */
#ifndef RADVLM_DATA_SYNTH_SYNTH_H
#define RADVLM_DATA_SYNTH_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/strbuf.h"
#include "data/synth/phantom.h"

/* RNG stream names (the second rv_rng_init argument). */
enum {
    SYN_S_MIMIC = 101, SYN_S_MIMIC_SUBJ, SYN_S_CHEXPERT, SYN_S_CHEXPERT_PAT, SYN_S_VINDR, SYN_S_PADCHEST,
    SYN_S_PIXELS = 200 /* + source: texture and noise of the rendered images */
};

/* The 14 CheXpert labels in MIMIC chexpert.csv column order (alphabetical, No Finding included). */
enum {
    SYN_L_ATELECTASIS, SYN_L_CARDIOMEGALY, SYN_L_CONSOLIDATION, SYN_L_EDEMA, SYN_L_ENLARGED_CM, SYN_L_FRACTURE,
    SYN_L_LUNG_LESION, SYN_L_LUNG_OPACITY, SYN_L_NO_FINDING, SYN_L_EFFUSION, SYN_L_PLEURAL_OTHER, SYN_L_PNEUMONIA,
    SYN_L_PNEUMOTHORAX, SYN_L_SUPPORT_DEVICES, SYN_NLABELS
};
extern const char *const syn_label_names[SYN_NLABELS];
#define SYN_BLANK 2 /* label value "not mentioned" (others: 1, 0, -1) */

/* What kinds a source's cases may contain, and forced shapes for edge cases. */
typedef enum {
    SYN_CASE_ANY = 0,       /* sampled: normal, or 1-3 findings */
    SYN_CASE_NORMAL,        /* no finding */
    SYN_CASE_DEVICES_ONLY,  /* support devices and nothing else (CheXpert No Finding = 1) */
    SYN_CASE_GROUNDABLE     /* at least one MS-CXR-style finding (effusion, opacity, ...) */
} syn_case_shape;

typedef struct syn_finding {
    rv_pf_kind kind;
    bool uncertain;       /* hedged wording -> label -1 */
    char en[200];         /* the positive sentence (English) */
    char phrase[120];     /* a short grounding phrase (MS-CXR label_text / PadChest sentence) */
    char es[200];         /* Spanish sentence (PadChest report) */
} syn_finding;

typedef struct syn_case {
    int width, height;
    bool no_devices;         /* VinDr: no device findings */
    rv_phantom ph;           /* geometry, finding boxes (ph.find[i] pairs with find[i]) */
    int nfind;
    syn_finding find[RV_PHANTOM_MAX_FIND];
    signed char lab[SYN_NLABELS];
    int nneg;
    char neg_en[6][120];     /* negative / normal sentences */
    char neg_es[6][120];
    char prior_en[200];      /* a statement about prior studies (raw reports only; "" = none) */
    char impression[400];    /* raw impression */
    char filtered[1600];     /* cleaned findings text (no prior references) */
    char raw_findings[2000]; /* raw findings text: filtered sentences + prior statement */
    char female;             /* 'F' or 'M' */
    int age;
} syn_case;

/* Builds a case from r: findings for the shape, then the phantom plan (size w x h), labels and
 * text. vindr = the VinDr class set (no devices). */
int syn_case_make(syn_case *c, rv_rng *r, int w, int h, syn_case_shape shape, bool vindr, rv_err *err);

/* Rendering helpers: a frontal (or lateral) float image of the case. Caller frees. */
float *syn_render(const syn_case *c, uint64_t seed, int source, uint32_t index, bool lateral);

/* Text ---------------------------------------------------------------------------------- */
void syn_text_finding(syn_finding *f, const rv_pfinding *pf, rv_rng *r);
/* Appends sentences joined with single spaces. */
void syn_join_sentences(rv_sb *b, const syn_case *c, bool spanish);
/* Wraps text MIMIC-style: lines start with a space and are broken by "\n". */
void syn_wrap_mimic(rv_sb *out, const char *text);

/* A rule-based GPT-style conversation (JSON array of from/value turns). sbb: optional list of
 * {"observation", "box"} objects (normalised boxes) for grounded questions. */
cJSON *syn_conversation(const syn_case *c, const char *view, const char *gender, const cJSON *sbb, rv_rng *r);

/* Ids ------------------------------------------------------------------------------------ */
void syn_hex(rv_rng *r, char *out, int n); /* n lower-case hex digits */
void syn_dicom_id(rv_rng *r, char out[45]); /* MIMIC style 8-8-8-8-8 hex */

/* Output tables: rows are gathered from all ranks in rank (= index) order. */
typedef enum {
    SYN_T_MIMIC_SPLIT, SYN_T_MIMIC_META, SYN_T_MIMIC_CHEX, SYN_T_MIMIC_REPORTS, SYN_T_MIMIC_GENDERS,
    SYN_T_MSCXR, SYN_T_IMA_TRAIN, SYN_T_IMA_VALID, SYN_T_IMA_TEST,
    SYN_T_CHX_TRAIN, SYN_T_CHX_VALID, SYN_T_CHX_TEST, SYN_T_CHX_PLUS, SYN_T_CHX_BERT,
    SYN_T_VINDR_TRAIN, SYN_T_VINDR_TEST, SYN_T_PAD_MASTER, SYN_T_PAD_LABELS, SYN_T_PAD_GROUNDED,
    SYN_NTABLES
} syn_table;

typedef struct syn_ctx {
    const char *data_dir;
    uint64_t seed;
    int n;                     /* images per source */
    rv_sb tab[SYN_NTABLES];    /* this rank's rows */
    uint64_t images;           /* images written by this rank */
} syn_ctx;

/* CSV helpers: one field (quoted as pandas/csv would) followed by ',' or '\n'. */
void syn_csv(rv_sb *b, const char *field, bool last);
void syn_csv_label(rv_sb *b, int v, bool last); /* 1.0 / 0.0 / -1.0 / blank */

/* Writes text to DATA_DIR/<rel> atomically (directories created). */
int syn_write_text(const syn_ctx *s, const char *rel, const char *text, size_t len, rv_err *err);
int syn_write_json(const syn_ctx *s, const char *rel, const cJSON *node, int indent, bool ensure_ascii, rv_err *err);
int syn_write_jpeg(const syn_ctx *s, const char *rel, const syn_case *c, const float *px, rv_err *err);
/* Full path under DATA_DIR (malloc'd). */
char *syn_path(const syn_ctx *s, const char *rel);

/* Per-source work for items [begin, end) of this rank, and the table headers. */
int syn_mimic_items(syn_ctx *s, size_t begin, size_t end, rv_err *err);
size_t syn_mimic_units(int n);
int syn_chexpert_items(syn_ctx *s, size_t begin, size_t end, rv_err *err);
size_t syn_chexpert_units(int n);
int syn_vindr_items(syn_ctx *s, size_t begin, size_t end, rv_err *err);
int syn_padchest_items(syn_ctx *s, size_t begin, size_t end, rv_err *err);

/* MIMIC-derived sources written from the MIMIC unit loop. */
int syn_mscxr_image(syn_ctx *s, const syn_case *c, const char *dicom_id, const char *jpg_rel, cJSON **sbb, rv_err *err);
int syn_imagenome_image(syn_ctx *s, const syn_case *c, rv_rng *r, const char *dicom_id, long subject, long study,
                        const char *view, const char *jpg_rel, int ima_split, bool write_graph, rv_err *err);

/* Header line (with '\n') and optional footer of each table, and its path under DATA_DIR. */
const char *syn_table_path(syn_table t);
const char *syn_table_header(syn_table t);

#endif
