/* The shared case model of the phantom datasets: which findings a study has, how the report
 * states them (positive, hedged, negated, not mentioned) and the CheXpert-style labels that
 * follow from those statements; plus file helpers used by every source writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/synth/synth.h"
#include "io/json.h"

typedef struct { rv_pf_kind kind; int weight; } kind_w;

static const kind_w any_kinds[] = {
    {RV_PF_CARDIOMEGALY, 3}, {RV_PF_EFFUSION, 4}, {RV_PF_PNEUMOTHORAX, 2}, {RV_PF_NODULE, 2}, {RV_PF_MASS, 1},
    {RV_PF_CONSOLIDATION, 3}, {RV_PF_ATELECTASIS, 3}, {RV_PF_EDEMA, 2}, {RV_PF_ETT, 2}, {RV_PF_CENTRAL_LINE, 2},
    {RV_PF_RIB_FRACTURE, 1}, {RV_PF_PLEURAL_THICKENING, 1}, {RV_PF_AORTIC_ENLARGEMENT, 1}};
static const rv_pf_kind groundable[] = {RV_PF_EFFUSION, RV_PF_PNEUMOTHORAX, RV_PF_CONSOLIDATION, RV_PF_ATELECTASIS,
                                        RV_PF_EDEMA, RV_PF_CARDIOMEGALY};

static bool is_device(rv_pf_kind k) { return k == RV_PF_ETT || k == RV_PF_CENTRAL_LINE; }

static rv_pf_kind draw_kind(rv_rng *r, bool vindr, const bool *used) {
    int total = 0;
    for (size_t i = 0; i < sizeof any_kinds / sizeof any_kinds[0]; i++)
        if (!used[any_kinds[i].kind] && !(vindr && is_device(any_kinds[i].kind))) total += any_kinds[i].weight;
    int t = (int)rv_rng_below(r, (uint32_t)total);
    for (size_t i = 0; i < sizeof any_kinds / sizeof any_kinds[0]; i++) {
        if (used[any_kinds[i].kind] || (vindr && is_device(any_kinds[i].kind))) continue;
        if (t < any_kinds[i].weight) return any_kinds[i].kind;
        t -= any_kinds[i].weight;
    }
    return RV_PF_EFFUSION;
}

/* Label priority when several statements touch one label: 1 > -1 > 0 > not mentioned. */
static void set_label(signed char *lab, int i, int v) {
    static const int rank[4] = {1, 3, 2, 0}; /* index v+1 for -1,0,1; [3] = blank */
    int cur = lab[i] == SYN_BLANK ? 3 : lab[i] + 1;
    int nv = v + 1;
    int rc = cur == 3 ? 0 : rank[cur], rn = rank[nv];
    if (rn > rc) lab[i] = (signed char)v;
}

static void labels_for(syn_case *c, const syn_finding *f) {
    int v = f->uncertain ? -1 : 1;
    switch (f->kind) {
    case RV_PF_CARDIOMEGALY: set_label(c->lab, SYN_L_CARDIOMEGALY, v); break;
    case RV_PF_EFFUSION: set_label(c->lab, SYN_L_EFFUSION, v); break;
    case RV_PF_PNEUMOTHORAX: set_label(c->lab, SYN_L_PNEUMOTHORAX, v); break;
    case RV_PF_NODULE:
    case RV_PF_MASS: set_label(c->lab, SYN_L_LUNG_LESION, v); break;
    case RV_PF_CONSOLIDATION:
        if (f->uncertain) { /* "opacity ... may represent pneumonia" */
            set_label(c->lab, SYN_L_LUNG_OPACITY, 1);
            set_label(c->lab, SYN_L_PNEUMONIA, -1);
        } else {
            set_label(c->lab, SYN_L_CONSOLIDATION, 1);
            set_label(c->lab, SYN_L_LUNG_OPACITY, 1);
        }
        break;
    case RV_PF_ATELECTASIS: set_label(c->lab, SYN_L_ATELECTASIS, v); break;
    case RV_PF_EDEMA: set_label(c->lab, SYN_L_EDEMA, v); break;
    case RV_PF_ETT:
    case RV_PF_CENTRAL_LINE: set_label(c->lab, SYN_L_SUPPORT_DEVICES, 1); break;
    case RV_PF_RIB_FRACTURE: set_label(c->lab, SYN_L_FRACTURE, 1); break;
    case RV_PF_PLEURAL_THICKENING: set_label(c->lab, SYN_L_PLEURAL_OTHER, 1); break;
    case RV_PF_AORTIC_ENLARGEMENT: set_label(c->lab, SYN_L_ENLARGED_CM, 1); break;
    default: break;
    }
}

typedef struct { const char *en, *es; int need_absent[3]; int labels[2]; } neg_stmt;
#define NONE_K (-1)
static const neg_stmt negs[] = {
    {"No pleural effusion or pneumothorax.", "no se observa derrame pleural ni neumot\xc3\xb3rax.", {RV_PF_EFFUSION, RV_PF_PNEUMOTHORAX, NONE_K}, {SYN_L_EFFUSION, SYN_L_PNEUMOTHORAX}},
    {"No pleural effusion.", "no se observa derrame pleural.", {RV_PF_EFFUSION, NONE_K, NONE_K}, {SYN_L_EFFUSION, -1}},
    {"No pneumothorax.", "no hay neumot\xc3\xb3rax.", {RV_PF_PNEUMOTHORAX, NONE_K, NONE_K}, {SYN_L_PNEUMOTHORAX, -1}},
    {"No focal consolidation.", "no se observan consolidaciones.", {RV_PF_CONSOLIDATION, NONE_K, NONE_K}, {SYN_L_CONSOLIDATION, -1}},
    {"Heart size is normal.", "silueta cardiaca normal.", {RV_PF_CARDIOMEGALY, NONE_K, NONE_K}, {SYN_L_CARDIOMEGALY, -1}},
    {"No pulmonary edema.", "sin signos de edema pulmonar.", {RV_PF_EDEMA, NONE_K, NONE_K}, {SYN_L_EDEMA, -1}},
    {"The lungs are clear.", "campos pulmonares sin alteraciones.", {RV_PF_CONSOLIDATION, RV_PF_EDEMA, RV_PF_MASS}, {-1, -1}},
    {"No acute osseous abnormality.", "sin alteraciones \xc3\xb3seas agudas.", {RV_PF_RIB_FRACTURE, NONE_K, NONE_K}, {-1, -1}},
};

static bool case_has(const syn_case *c, int kind) {
    for (int i = 0; i < c->nfind; i++)
        if ((int)c->find[i].kind == kind) return true;
    return false;
}

static const char *const prior_generic[] = {
    "Comparison is made to the prior radiograph.", "No significant change since the prior study.",
    "As compared to the previous radiograph, the appearance is stable.", "Findings are unchanged from prior."};

int syn_case_make(syn_case *c, rv_rng *r, int w, int h, syn_case_shape shape, bool vindr, rv_err *err) {
    memset(c, 0, sizeof *c);
    c->width = w;
    c->height = h;
    c->no_devices = vindr;
    c->female = rv_rng_below(r, 2) ? 'F' : 'M';
    c->age = 20 + (int)rv_rng_below(r, 70);
    /* 1. findings */
    bool used[RV_PF_KIND_COUNT] = {0};
    rv_pf_request req[RV_PHANTOM_MAX_FIND];
    int n = 0;
    if (shape == SYN_CASE_DEVICES_ONLY) {
        req[n++] = (rv_pf_request){RV_PF_ETT, -1, -1, -1};
        if (rv_rng_below(r, 2)) req[n++] = (rv_pf_request){RV_PF_CENTRAL_LINE, -1, -1, -1};
    } else if (shape != SYN_CASE_NORMAL) {
        uint32_t u = rv_rng_below(r, 100);
        int want = u < 30 ? 0 : u < 65 ? 1 : u < 90 ? 2 : 3;
        if (shape == SYN_CASE_GROUNDABLE) {
            rv_pf_kind k = groundable[rv_rng_below(r, sizeof groundable / sizeof groundable[0])];
            req[n++] = (rv_pf_request){k, -1, -1, -1};
            used[k] = true;
            if (want > 2) want = 2;
        }
        while (n < want) {
            rv_pf_kind k = draw_kind(r, vindr, used);
            used[k] = true;
            req[n++] = (rv_pf_request){k, -1, -1, -1};
        }
    }
    for (int i = 0; i < n; i++) used[req[i].kind] = true;
    /* 2. phantom (boxes are measured here) */
    if (rv_phantom_plan(&c->ph, r, w, h, req, n, err) != 0) return -1;
    /* 3. statements and labels */
    for (int i = 0; i < SYN_NLABELS; i++) c->lab[i] = SYN_BLANK;
    c->nfind = n;
    for (int i = 0; i < n; i++) {
        syn_finding *f = &c->find[i];
        f->kind = req[i].kind;
        bool can_hedge = f->kind == RV_PF_CARDIOMEGALY || f->kind == RV_PF_EFFUSION || f->kind == RV_PF_PNEUMOTHORAX ||
                         f->kind == RV_PF_NODULE || f->kind == RV_PF_CONSOLIDATION || f->kind == RV_PF_ATELECTASIS ||
                         f->kind == RV_PF_EDEMA;
        f->uncertain = can_hedge && rv_rng_below(r, 5) == 0;
        syn_text_finding(f, &c->ph.find[i], r);
        labels_for(c, f);
    }
    size_t order[sizeof negs / sizeof negs[0]];
    rv_rng_permutation(r, order, sizeof negs / sizeof negs[0]);
    int want_neg = n == 0 ? 2 + (int)rv_rng_below(r, 3) : 1 + (int)rv_rng_below(r, 2);
    bool chosen[sizeof negs / sizeof negs[0]] = {0};
    for (size_t k = 0; k < sizeof negs / sizeof negs[0] && c->nneg < want_neg; k++) {
        const neg_stmt *g = &negs[order[k]];
        bool ok = true;
        for (int j = 0; j < 3; j++)
            if (g->need_absent[j] != NONE_K && case_has(c, g->need_absent[j])) ok = false;
        if (order[k] == 6 && (case_has(c, RV_PF_ATELECTASIS) || case_has(c, RV_PF_NODULE) || case_has(c, RV_PF_PNEUMOTHORAX)))
            ok = false;
        /* "no effusion or pneumothorax" already says what 1 and 2 say */
        if ((order[k] == 0 && (chosen[1] || chosen[2])) || ((order[k] == 1 || order[k] == 2) && chosen[0])) ok = false;
        if (!ok) continue;
        chosen[order[k]] = true;
        snprintf(c->neg_en[c->nneg], sizeof c->neg_en[0], "%s", g->en);
        snprintf(c->neg_es[c->nneg], sizeof c->neg_es[0], "%s", g->es);
        c->nneg++;
        for (int j = 0; j < 2; j++)
            if (g->labels[j] >= 0) set_label(c->lab, g->labels[j], 0);
    }
    /* No Finding: nothing positive or uncertain apart from support devices */
    bool any = false;
    for (int i = 0; i < SYN_NLABELS; i++)
        if (i != SYN_L_NO_FINDING && i != SYN_L_SUPPORT_DEVICES && (c->lab[i] == 1 || c->lab[i] == -1)) any = true;
    c->lab[SYN_L_NO_FINDING] = any ? SYN_BLANK : 1;
    /* 4. text */
    rv_sb b;
    rv_sb_init(&b);
    for (int i = 0; i < n; i++) {
        if (i) rv_sb_putc(&b, ' ');
        rv_sb_puts(&b, c->find[i].en);
    }
    if (n && c->nneg) rv_sb_putc(&b, rv_rng_below(r, 10) == 0 ? '\n' : ' ');
    for (int i = 0; i < c->nneg; i++) {
        if (i) rv_sb_putc(&b, ' ');
        rv_sb_puts(&b, c->neg_en[i]);
    }
    snprintf(c->filtered, sizeof c->filtered, "%s", b.s ? b.s : "");
    rv_sb_clear(&b);
    if (rv_rng_below(r, 10) < 6) {
        if (n && rv_rng_below(r, 2)) {
            char ph[128];
            snprintf(ph, sizeof ph, "%s", c->find[0].phrase);
            ph[0] = (char)(ph[0] >= 'A' && ph[0] <= 'Z' && !(ph[1] >= 'A' && ph[1] <= 'Z') ? ph[0] + 32 : ph[0]);
            snprintf(c->prior_en, sizeof c->prior_en, "The %s is unchanged from the prior exam.", ph);
        } else {
            snprintf(c->prior_en, sizeof c->prior_en, "%s", prior_generic[rv_rng_below(r, 4)]);
        }
    }
    bool prior_first = rv_rng_below(r, 2);
    if (c->prior_en[0] && prior_first) rv_sb_printf(&b, "%s ", c->prior_en);
    for (const char *p = c->filtered; *p; p++) rv_sb_putc(&b, *p == '\n' ? ' ' : *p);
    if (c->prior_en[0] && !prior_first) rv_sb_printf(&b, " %s", c->prior_en);
    snprintf(c->raw_findings, sizeof c->raw_findings, "%s", b.s ? b.s : "");
    rv_sb_clear(&b);
    if (n == 0) rv_sb_puts(&b, "No acute cardiopulmonary process.");
    for (int i = 0; i < n; i++) rv_sb_printf(&b, "%s%s.", i ? " " : "", c->find[i].phrase);
    snprintf(c->impression, sizeof c->impression, "%s", b.s ? b.s : "");
    rv_sb_free(&b);
    return 0;
}

float *syn_render(const syn_case *c, uint64_t seed, int source, uint32_t index, bool lateral) {
    rv_rng r;
    rv_rng_init(&r, seed, (uint32_t)(SYN_S_PIXELS + source), index * 2u + (lateral ? 1u : 0u));
    float *px = rv_xmalloc(sizeof(float) * (size_t)c->width * c->height);
    if (lateral) rv_phantom_render_lateral(&c->ph, &r, px);
    else rv_phantom_render(&c->ph, &r, px);
    return px;
}

/* ---- files ---- */
char *syn_path(const syn_ctx *s, const char *rel) { return rv_path_join(s->data_dir, rel); }

int syn_write_text(const syn_ctx *s, const char *rel, const char *text, size_t len, rv_err *err) {
    char *path = syn_path(s, rel);
    char *dir = rv_path_dirname(path);
    int rc = rv_mkdir_p(dir, err);
    if (rc == 0) rc = rv_write_atomic(path, text, len, err);
    free(dir);
    free(path);
    return rc;
}

int syn_write_json(const syn_ctx *s, const char *rel, const cJSON *node, int indent, bool ensure_ascii, rv_err *err) {
    rv_sb b;
    rv_sb_init(&b);
    rv_pyjson_dump(&b, node, indent, ensure_ascii);
    int rc = syn_write_text(s, rel, b.s ? b.s : "", b.len, err);
    rv_sb_free(&b);
    return rc;
}

int syn_write_jpeg(const syn_ctx *s, const char *rel, const syn_case *c, const float *px, rv_err *err) {
    rv_image im;
    if (rv_phantom_quantize(&c->ph, px, 8, 255, false, &im, err) != 0) return -1;
    char *path = syn_path(s, rel);
    char *dir = rv_path_dirname(path);
    int rc = rv_mkdir_p(dir, err);
    if (rc == 0) rc = rv_jpeg_write(path, &im, 90, err);
    free(dir);
    free(path);
    rv_image_free(&im);
    return rc;
}

/* ---- tables ---- */
static const struct { const char *path, *header; } tables[SYN_NTABLES] = {
    [SYN_T_MIMIC_SPLIT] = {"MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv", "dicom_id,study_id,subject_id,split\n"},
    [SYN_T_MIMIC_META] = {"MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv",
                          "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
                          "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
                          "PatientOrientationCodeSequence_CodeMeaning\n"},
    [SYN_T_MIMIC_CHEX] = {"MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv",
                          "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,"
                          "Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,"
                          "Pneumothorax,Support Devices\n"},
    [SYN_T_MIMIC_REPORTS] = {"MIMIC-CXR-JPG/reports.csv", "study,impression,findings,last_paragraph,comparison\n"},
    [SYN_T_MIMIC_GENDERS] = {"MIMIC-CXR-JPG/genders.json", NULL},
    [SYN_T_MSCXR] = {"MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv",
                     "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n"},
    [SYN_T_IMA_TRAIN] = {"CHEST_IMA/silver_dataset/splits/train.csv", "dicom_id,subject_id,study_id,ViewPosition,path\n"},
    [SYN_T_IMA_VALID] = {"CHEST_IMA/silver_dataset/splits/valid.csv", "dicom_id,subject_id,study_id,ViewPosition,path\n"},
    [SYN_T_IMA_TEST] = {"CHEST_IMA/silver_dataset/splits/test.csv", "dicom_id,subject_id,study_id,ViewPosition,path\n"},
    [SYN_T_CHX_TRAIN] = {"CheXpert/train.csv",
                         "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
                         "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
                         "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"},
    [SYN_T_CHX_VALID] = {"CheXpert/valid.csv",
                         "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
                         "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
                         "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"},
    [SYN_T_CHX_TEST] = {"CheXpert/test.csv",
                        "Path,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,Lung Lesion,Edema,"
                        "Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,"
                        "Support Devices\n"},
    [SYN_T_CHX_PLUS] = {"CheXpert/df_chexpert_plus_240401.csv",
                        "path_to_image,path_to_dcm,frontal_lateral,ap_pa,deid_patient_id,patient_report_date_order,"
                        "report,section_narrative,section_clinical_history,section_history,section_comparison,"
                        "section_technique,section_procedure_comments,section_findings,section_impression,"
                        "section_end_of_impression,section_summary,section_accession_number,age,sex,race,ethnicity,"
                        "interpreter_needed,insurance_type,recent_bmi,deceased,split\n"},
    [SYN_T_CHX_BERT] = {"CheXpert/chexbert_labels/report_fixed.json", ""},
    [SYN_T_VINDR_TRAIN] = {"VinDr-CXR/annotations_train.csv", "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"},
    [SYN_T_VINDR_TEST] = {"VinDr-CXR/annotations_test.csv", "image_id,rad_ID,class_name,x_min,y_min,x_max,y_max\n"},
    [SYN_T_PAD_MASTER] = {"PadChest/master_table.csv", "ImageID,StudyID,PatientID,PatientSex_DICOM,StudyDate_DICOM,Projection,split\n"},
    [SYN_T_PAD_LABELS] = {"PadChest/PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv",
                          "ImageID,ImageDir,StudyDate_DICOM,StudyID,PatientID,PatientBirth,PatientSex_DICOM,"
                          "ViewPosition_DICOM,Projection,MethodProjection,Rows_DICOM,Columns_DICOM,ReportID,Report,"
                          "MethodLabel,Labels\n"},
    [SYN_T_PAD_GROUNDED] = {"PadChest/grounded_reports_20240819.json", NULL},
};

const char *syn_table_path(syn_table t) { return tables[t].path; }
const char *syn_table_header(syn_table t) { return tables[t].header; }
