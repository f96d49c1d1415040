/* MS-CXR (data.md §6): CSV normalisation with hand-computed boxes, grouping order, the
 * per-image JSON bytes (json.dump indent=4, ensure_ascii=False), directory precedence (P5),
 * and the phrase-grounding reader on the MIMIC split. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "core/log.h"
#include "data/sources/mscxr.h"
#include "data/sources/readers.h"
#include "reader_testutil.h"

static const char *CSV =
    "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height,split\n"
    "m1,Cardiomegaly,A,p,100,200,300,400,1000,2000,train\n"        /* line 2 */
    "m1,Pneumonia,\"B, left\",p,0,0,1000,2000,1000,2000,train\n"   /* line 3 */
    "m2,Edema,Opacit\xc3\xa9,p,10,20,30,40,100,200,test\n"          /* line 4 */
    "m1,Cardiomegaly,A,p,500,1000,250,500,1000,2000,train\n"       /* line 5 */
    "m1,Cardiomegaly,A,p,-10,0,5,-1,1000,2000,train\n"             /* line 6: h < 0 */
    "m3,Edema,X,p,1,1,1,1,0,2000,train\n"                          /* line 7: width 0 */
    "m3,Edema,X,p,abc,1,1,1,10,10,train\n"                         /* line 8: not a number */
    "m3,Edema,X,p,1,1,1\n"                                         /* line 9: short row */
    "m3,Edema,X,p,1,1,1,1,10,10,train\n";                          /* line 10 */

/* Python: json.dump(list, f, indent=4, ensure_ascii=False) for m1 */
static const char *M1_JSON =
    "[\n"
    "    {\n"
    "        \"observation\": \"A\",\n"
    "        \"box\": [\n"
    "            0.1,\n"
    "            0.1,\n"
    "            0.4,\n"
    "            0.3\n"
    "        ]\n"
    "    },\n"
    "    {\n"
    "        \"observation\": \"A\",\n"
    "        \"box\": [\n"
    "            0.5,\n"
    "            0.5,\n"
    "            0.75,\n"
    "            0.75\n"
    "        ]\n"
    "    },\n"
    "    {\n"
    "        \"observation\": \"B, left\",\n"
    "        \"box\": [\n"
    "            0.0,\n"
    "            0.0,\n"
    "            1.0,\n"
    "            1.0\n"
    "        ]\n"
    "    }\n"
    "]";

static void write_mimic(const char *dir) {
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv",
             "dicom_id,study_id,subject_id,split\n"
             "m1,50000001,10000001,train\nm2,50000002,10000002,test\nm3,50000003,10000003,train\n"
             "m4,50000004,10000004,train\nm5,50000005,10000005,validate\n");
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv",
             "dicom_id,subject_id,study_id,ViewPosition,Rows,Columns\n"
             "m1,10000001,50000001,PA,2000,1000\nm2,10000002,50000002,AP,200,100\n"
             "m3,10000003,50000003,LATERAL,10,10\nm4,10000004,50000004,PA,10,10\nm5,10000005,50000005,PA,10,10\n");
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv",
             "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,Fracture,"
             "Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices\n"
             "10000004,50000004,,,,,,,,,,,,,,\n10000003,50000003,,,,,,,,,,,,,,\n10000001,50000001,,,,,,,,,,,,,,\n"
             "10000002,50000002,,,,,,,,,,,,,,\n10000005,50000005,,,,,,,,,,,,,,\n");
    tu_write(dir, "MIMIC-CXR-JPG/reports.csv",
             "study,impression,findings,last_paragraph,comparison\n"
             "s50000001,a,,,\ns50000002,b,,,\ns50000003,c,,,\ns50000004,d,,,\n");
}

static void test_normalize(const char *dir) {
    tu_write(dir, "MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv", CSV);
    char *csv = rv_path_join(dir, "MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv");
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    rv_mscxr_index ix;
    rv_err err;
    CHECK(rv_mscxr_normalize_csv(&c, csv, &ix, &err) == 0);
    CHECK(bad.count == 4);
    CHECK(ix.n == 3);
    const rv_mscxr_image *m1 = rv_mscxr_find(&ix, "m1");
    CHECK(m1 && m1->n == 3);
    if (m1 && m1->n == 3) {
        /* [x/W, y/H, (x+w)/W, (y+h)/H]: 100/1000, 200/2000, 400/1000, 600/2000 */
        CHECK_STR(m1->e[0].observation, "A");
        CHECK(m1->e[0].box.v[0] == 0.1 && m1->e[0].box.v[1] == 0.1 && m1->e[0].box.v[2] == 0.4 &&
              m1->e[0].box.v[3] == 0.3);
        /* grouped by observation in first-appearance order: A's second box (line 5) before B */
        CHECK_STR(m1->e[1].observation, "A");
        CHECK(m1->e[1].box.v[0] == 0.5 && m1->e[1].box.v[2] == 0.75);
        CHECK_STR(m1->e[2].observation, "B, left");
        rv_sb b;
        rv_sb_init(&b);
        rv_mscxr_image_json(m1, &b);
        CHECK_STR(b.s, M1_JSON);
        rv_sb_free(&b);
    }
    const rv_mscxr_image *m2 = rv_mscxr_find(&ix, "m2");
    if (m2 && m2->n == 1) {
        /* 10/100, 20/200, 40/100, 60/200; the UTF-8 label is written unescaped */
        CHECK(m2->e[0].box.v[0] == 0.1 && m2->e[0].box.v[1] == 0.1 && m2->e[0].box.v[2] == 0.4 &&
              m2->e[0].box.v[3] == 0.3);
        rv_sb b;
        rv_sb_init(&b);
        rv_mscxr_image_json(m2, &b);
        CHECK(strstr(b.s, "\"observation\": \"Opacit\xc3\xa9\"") != NULL);
        rv_sb_free(&b);
    }
    rv_mscxr_index_free(&ix);

    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    CHECK(rv_mscxr_normalize_csv(&cf, csv, &ix, &err) < 0); /* the short row comes from the CSV reader first */
    CHECK(strstr(err.msg, "MS_CXR_Local_Alignment_v1.0.0.csv:9") && strstr(err.msg, "fields"));
    tu_write(dir, "MS-CXR/bad.csv", "dicom_id,label_text,x,y,w,h,image_width,image_height\nq,A,1,1,-2,1,10,10\n");
    char *badcsv = rv_path_join(dir, "MS-CXR/bad.csv");
    CHECK(rv_mscxr_normalize_csv(&cf, badcsv, &ix, &err) < 0);
    CHECK(strstr(err.msg, "bad.csv:2") && strstr(err.msg, "w/h must be >= 0"));
    tu_write(dir, "MS-CXR/bad.csv", "dicom_id,label_text,x,y,w,h,image_width\nq,A,1,1,2,1,10\n");
    CHECK(rv_mscxr_normalize_csv(&cf, badcsv, &ix, &err) < 0);
    CHECK(strstr(err.msg, "bad.csv") && strstr(err.msg, "'image_height'"));
    tu_remove(dir, "MS-CXR/bad.csv");
    free(badcsv);
    free(csv);
}

static void test_reader(const char *dir) {
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    rv_dataset *d = NULL;
    rv_err err;
    char ids[256];
    /* CSV fallback (no per-image directory): m1 is train PA, m3 is LATERAL (dropped) */
    CHECK(rv_read_mscxr(&c, "train", &d, &err) == 0);
    CHECK(d && d->n == 2);
    if (d && d->n == 2) {
        CHECK(d->task == RV_TASK_PHRASE && !d->pathologies);
        CHECK_STR(tu_ids(d, ids, sizeof ids), "m1,m1");
        CHECK_STR(d->items[0].text, "A");
        CHECK(d->items[0].nboxes == 2 && d->items[0].boxes[1].v[3] == 0.75);
        CHECK_STR(d->items[1].text, "B, left");
        CHECK(d->items[1].nboxes == 1 && d->items[1].boxes[0].v[2] == 1.0);
        char want[4200];
        snprintf(want, sizeof want, "%s/MIMIC-CXR-JPG/files/p10/p10000001/s50000001/m1.jpg", dir);
        CHECK_STR(d->items[0].image, want);
    }
    rv_dataset_free(d);
    CHECK(rv_read_mscxr(&c, "test", &d, &err) == 0 && d && d->n == 1 && strcmp(d->items[0].id, "m2") == 0);
    rv_dataset_free(d);
    /* m5 (validate) has no reports.csv row: dropped */
    CHECK(rv_read_mscxr(&c, "validate", &d, &err) == 0 && d && d->n == 0);
    rv_dataset_free(d);

    /* write the per-image files under the normaliser's name, then read them back (P5 alias) */
    rv_mscxr_index ix;
    char *csv = rv_path_join(dir, "MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv");
    char *out = rv_path_join(dir, "MS-CXR/sentences_BBox_mscxr");
    CHECK(rv_mscxr_normalize_csv(&c, csv, &ix, &err) == 0);
    CHECK(rv_mscxr_write_dir(&ix, out, &err) == 0);
    rv_mscxr_index_free(&ix);
    char *m1 = rv_path_join(out, "m1.json");
    char *data = NULL;
    size_t len = 0;
    CHECK(rv_read_file(m1, &data, &len, &err) == 0 && data && strcmp(data, M1_JSON) == 0);
    free(data);
    tu_remove(dir, "MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv"); /* now only the directory is there */
    CHECK(rv_read_mscxr(&c, "train", &d, &err) == 0 && d && d->n == 2);
    if (d && d->n == 2) CHECK(d->items[0].nboxes == 2 && d->items[0].boxes[0].v[2] == 0.4);
    rv_dataset_free(d);

    /* sentences_and_BBox_mscxr (the readers' name) wins over the alias; int literals are kept as such */
    rv_badrec_init(&bad, rv_comm_world(), false);
    tu_write(dir, "MS-CXR/sentences_and_BBox_mscxr/m1.json",
             "[{\"observation\": \"Z\", \"box\": [0, 0.5, 1, 1.0]}, {\"observation\": \"Y\", \"box\": [1, 2]},"
             " {\"observation\": \"Z\", \"box\": [0.25, 0.25, 0.5, 0.5]}]");
    CHECK(rv_read_mscxr(&c, "train", &d, &err) == 0 && d && d->n == 1);
    if (d && d->n == 1) {
        CHECK_STR(d->items[0].text, "Z");
        CHECK(d->items[0].nboxes == 2 && d->items[0].boxes[0].int_mask == 0x5u && d->items[0].boxes[1].int_mask == 0);
    }
    CHECK(bad.count == 1); /* the 2-value box */
    rv_dataset_free(d);
    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    CHECK(rv_read_mscxr(&cf, "train", &d, &err) < 0 && strstr(err.msg, "sentences_and_BBox_mscxr/m1.json: element 1"));

    /* nothing usable in MS-CXR/ is an error; no MS-CXR/ at all is "absent" */
    tu_remove(dir, "MS-CXR/sentences_and_BBox_mscxr/m1.json");
    tu_remove(dir, "MS-CXR/sentences_and_BBox_mscxr");
    const char *names[] = {"m1.json", "m2.json", "m3.json"};
    for (int i = 0; i < 3; i++) {
        char *p = rv_path_join(out, names[i]);
        remove(p);
        free(p);
    }
    tu_remove(dir, "MS-CXR/sentences_BBox_mscxr");
    CHECK(rv_read_mscxr(&c, "train", &d, &err) < 0 && strstr(err.msg, "sentences_and_BBox_mscxr"));
    tu_remove(dir, "MS-CXR");
    bool found = true;
    CHECK(rv_mscxr_load(&c, &ix, &found, &err) == 0 && !found);
    CHECK(rv_read_mscxr(&c, "train", &d, &err) < 0 && strstr(err.msg, "MS-CXR"));
    free(m1);
    free(out);
    free(csv);
}

int main(void) {
    rv_log_init(0, 1, RV_LOG_ERROR);
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_reader_mscxr");
    write_mimic(dir);
    test_normalize(dir);
    test_reader(dir);
    tu_rmtree(dir);
    free(dir);
    return check_summary("test_reader_mscxr");
}
