/* CheXpert and CheXpert-Plus readers on hand-written tables (data.md §2, §3). */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "core/log.h"
#include "data/sources/readers.h"
#include "reader_testutil.h"

#define CHX_HEADER                                                                                       \
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity," \
    "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,"  \
    "Fracture,Support Devices\n"

/* columns after AP/PA: NF, EC, Card, LO, LL, Edema, Cons, Pneu, Atel, Ptx, PE, PO, Fract, SD */
static const char *TRAIN =
    CHX_HEADER
    /* line 2: healthy -> everything 0 except Support Devices */
    "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,1.0,,,,,,,,,,,1.0\n"
    /* line 3: -1 -> 1, 0 and blank -> negative; the Sex field is quoted with a comma and a newline */
    "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,\"Fe,\nmale\",50,Frontal,PA,,,-1.0,,,1.0,,0.0,,,,,,\n"
    /* line 5: lateral, dropped */
    "CheXpert-v1.0-small/train/patient00002/study2/view2_lateral.jpg,Male,50,Lateral,,,,1.0,,,,,,,,,,,\n"
    /* line 6: healthy forces Edema -1 and Atelectasis 1 to 0 */
    "CheXpert-v1.0/train/patient00003/study1/view1_frontal.jpg,Male,40,Frontal,AP,1.0,,,,,-1.0,,,1.0,,,,,\n"
    /* line 7: the regex is anchored at the end */
    "train/patient00004/study1/view1_frontal.jpgx,Male,40,Frontal,AP,,,1.0,,,,,,,,,,,\n"
    /* line 8: No Finding -1 is not healthy */
    "CheXpert-v1.0-small/train/patient00005/study1/view1_frontal.jpg,Male,40,Frontal,AP,-1.0,,,,,,,,-1.0,,,,,\n";

static void test_chexpert(const char *dir) {
    tu_write(dir, "CheXpert/train.csv", TRAIN);
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    CHECK(rv_source_present(&c, RV_SRC_CHEXPERT));
    CHECK(!rv_source_present(&c, RV_SRC_CHEXPERT_PLUS));
    rv_dataset *d = NULL;
    rv_err err;
    CHECK(rv_read_chexpert(&c, "train", &d, &err) == 0);
    CHECK(d && d->n == 4);
    if (d && d->n == 4) {
        char lab[256], want[4200];
        CHECK(d->task == RV_TASK_CLASSIFY && d->pathologies);
        CHECK_STR(d->items[0].id, "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg");
        snprintf(want, sizeof want, "%s/CheXpert/train/patient00001/study1/view1_frontal.jpg", dir);
        CHECK_STR(d->items[0].image, want);
        snprintf(want, sizeof want, "%s/CheXpert/train/patient00003/study1/view1_frontal.jpg", dir);
        CHECK_STR(d->items[2].image, want); /* CheXpert-v1.0/ removed too */
        CHECK_STR(tu_labels(&d->items[0], lab, sizeof lab), "Support Devices");
        CHECK_STR(tu_labels(&d->items[1], lab, sizeof lab), "Cardiomegaly|Edema");
        CHECK(d->items[2].nlabels == 0);
        CHECK_STR(tu_labels(&d->items[3], lab, sizeof lab), "Atelectasis");
        CHECK(d->items[0].has_labels_field && d->items[2].has_labels_field);
    }
    CHECK(bad.count == 0);
    rv_dataset_free(d);

    /* a bad label on line 4 (the quoted newline of line 3 is counted) */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", CHX_HEADER,
             "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,\"Fe,\nmale\",50,Frontal,PA,,,-1.0,,,1.0,,0.0,,,,,,\n"
             "CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,1,Frontal,AP,,,,,,yes,,,,,,,,\n"
             "CheXpert-v1.0-small/train/patient00010/study1/view1_frontal.jpg,Male,1,Frontal,AP,,,,,\n");
    tu_write(dir, "CheXpert/valid.csv", buf);
    CHECK(rv_read_chexpert(&c, "valid", &d, &err) == 0);
    CHECK(d && d->n == 1 && bad.count == 2);
    rv_dataset_free(d);
    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    CHECK(rv_read_chexpert(&cf, "valid", &d, &err) < 0); /* the short row (line 5) is reported first */
    CHECK(strstr(err.msg, "valid.csv:5") && strstr(err.msg, "expected 19 fields"));
    snprintf(buf, sizeof buf, "%s%s", CHX_HEADER,
             "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,\"Fe,\nmale\",50,Frontal,PA,,,-1.0,,,1.0,,0.0,,,,,,\n"
             "CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,1,Frontal,AP,,,,,,yes,,,,,,,,\n");
    tu_write(dir, "CheXpert/valid.csv", buf);
    CHECK(rv_read_chexpert(&cf, "valid", &d, &err) < 0);
    CHECK(strstr(err.msg, "valid.csv:4") && strstr(err.msg, "Edema") && strstr(err.msg, "'yes'"));

    /* missing file, missing column, bad split */
    CHECK(rv_read_chexpert(&c, "test", &d, &err) < 0);
    CHECK(strstr(err.msg, "CheXpert/test.csv") && strstr(err.msg, "not found"));
    tu_write(dir, "CheXpert/test.csv", "Path,No Finding,Atelectasis\nx_frontal.jpg,,\n");
    CHECK(rv_read_chexpert(&c, "test", &d, &err) < 0);
    CHECK(strstr(err.msg, "test.csv") && strstr(err.msg, "'Cardiomegaly'"));
    CHECK(rv_read_chexpert(&c, "validation", &d, &err) < 0 && strstr(err.msg, "validation"));
}

static const char *PLUS =
    "path_to_image,frontal_lateral,report,section_findings,section_impression,section_end_of_impression,split\n"
    "train/patient42142/study5/view1_frontal.jpg,Frontal,r,\"FINDINGS: Heart, Normal.\nLungs clear.\",IMPRESSION: NO ACUTE DISEASE.,,train\n"
    "train/patient42142/study5/view2_lateral.jpg,Lateral,r,x,y,z,train\n"
    "train/patient00001/study1/view1_frontal.jpg,Frontal,r,,Stable lines.,END,train\n"
    "valid/patient64541/study1/view1_frontal.jpg,Frontal,r,Valid findings.,,,valid\n"
    "train/patient00009/study1/view1_frontal.jpg,Frontal,r,No report file here.,,,train\n";

static const char *LABELS =
    "{\"path_to_image\": \"train/patient42142/study5/view1_frontal.jpg\", \"Cardiomegaly\": 0.0, \"No Finding\": 1.0, \"Edema\": null}\n"
    "{\"path_to_image\": \"train/patient00001/study1/view1_frontal.jpg\", \"Support Devices\": 1.0, \"Atelectasis\": -1.0}\n"
    "\n"
    "{\"path_to_image\": oops}\n"
    "{\"path_to_image\": \"train/patient00001/study1/view1_frontal.jpg\", \"Edema\": 1.0, \"Pleural Effusion\": -1.0, \"Support Devices\": 1.0}\n";

static void test_chexpert_plus(const char *dir) {
    tu_write(dir, "CheXpert/df_chexpert_plus_240401.csv", PLUS);
    tu_write(dir, "CheXpert/chexbert_labels/report_fixed.json", LABELS);
    tu_write(dir, "CheXpert/filtered_reports/train_patient42142_study5.txt", "Heart is normal.\nLungs are clear.");
    tu_write(dir, "CheXpert/filtered_reports/train_patient00001_study1.txt", "Lines in place.");
    tu_write(dir, "CheXpert/filtered_reports/valid_patient64541_study1.txt", "Valid.");
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    CHECK(rv_source_present(&c, RV_SRC_CHEXPERT_PLUS));
    rv_dataset *d = NULL;
    rv_err err;
    CHECK(rv_read_chexpert_plus(&c, "train", &d, &err) == 0);
    CHECK(d && d->n == 2);
    if (d && d->n == 2) {
        char lab[256], want[4200];
        CHECK(d->task == RV_TASK_REPORT && !d->pathologies);
        CHECK_STR(d->items[0].id, "train/patient42142/study5/view1_frontal.jpg");
        snprintf(want, sizeof want, "%s/CheXpert/train/patient42142/study5/view1_frontal.jpg", dir);
        CHECK_STR(d->items[0].image, want);
        CHECK_STR(d->items[0].text, "Heart is normal.\nLungs are clear.");
        CHECK_STR(tu_labels(&d->items[0], lab, sizeof lab), "No Finding"); /* == 1.0 only, No Finding included */
        CHECK_STR(tu_labels(&d->items[1], lab, sizeof lab), "Edema|Support Devices"); /* the later line wins */
        CHECK(d->items[0].has_labels_field);
    }
    CHECK(bad.count == 1); /* the unparsable JSON line */
    rv_dataset_free(d);

    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    CHECK(rv_read_chexpert_plus(&cf, "train", &d, &err) < 0);
    CHECK(strstr(err.msg, "report_fixed.json:4") != NULL);

    CHECK(rv_read_chexpert_plus(&c, "test", &d, &err) == 0); /* = the CSV's valid rows */
    CHECK(d && d->n == 1 && strcmp(d->items[0].text, "Valid.") == 0 && d->items[0].nlabels == 0);
    rv_dataset_free(d);
    CHECK(rv_read_chexpert_plus(&c, "valid", &d, &err) < 0 && strstr(err.msg, "test"));

    /* without filtered_reports/: sections joined with no separator, capitalize(), '\n' deleted */
    tu_remove(dir, "CheXpert/filtered_reports/train_patient42142_study5.txt");
    tu_remove(dir, "CheXpert/filtered_reports/train_patient00001_study1.txt");
    tu_remove(dir, "CheXpert/filtered_reports/valid_patient64541_study1.txt");
    tu_remove(dir, "CheXpert/filtered_reports");
    CHECK(rv_read_chexpert_plus(&c, "train", &d, &err) == 0);
    CHECK(d && d->n == 3);
    if (d && d->n == 3) {
        CHECK_STR(d->items[0].text, "Findings: heart, normal.lungs clear.impression: no acute disease.");
        CHECK_STR(d->items[1].text, "Stable lines.end");
        CHECK_STR(d->items[2].text, "No report file here.");
    }
    rv_dataset_free(d);

    /* the labels file is required */
    tu_remove(dir, "CheXpert/chexbert_labels/report_fixed.json");
    CHECK(rv_read_chexpert_plus(&c, "train", &d, &err) < 0 && strstr(err.msg, "report_fixed.json") &&
          strstr(err.msg, "not found"));
}

int main(void) {
    rv_log_init(0, 1, RV_LOG_ERROR);
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_reader_chexpert");
    test_chexpert(dir);
    test_chexpert_plus(dir);
    tu_rmtree(dir);
    free(dir);
    return check_summary("test_reader_chexpert");
}
