/* Chest ImaGenome reader (data.md §4): P2 intersection with MIMIC train, the 4-tuple match,
 * missing scene graphs, box normalisation by Columns/Rows without clipping, bad input. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "core/log.h"
#include "data/instruct/boxtext.h"
#include "data/sources/readers.h"
#include "reader_testutil.h"

static const char *CHEX_HEADER =
    "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,Fracture,"
    "Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices\n";

static void write_data(const char *dir, const char *meta_i5) {
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv",
             "dicom_id,study_id,subject_id,split\n"
             "i1,50000001,10000001,train\ni2,50000001,10000001,train\ni3,50000002,10000002,train\n"
             "i4,50000003,10000003,test\ni5,50000004,10000004,train\ni6,50000004,10000004,train\n");
    char meta[2048];
    snprintf(meta, sizeof meta,
             "dicom_id,subject_id,study_id,ViewPosition,Rows,Columns\n"
             "i1,10000001,50000001,PA,3056,2544\ni2,10000001,50000001,AP,3056,2544\ni3,10000002,50000002,PA,10,10\n"
             "i4,10000003,50000003,PA,10,10\n%s\ni6,10000004,50000004,PA,10,10\n",
             meta_i5);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv", meta);
    char chex[2048];
    snprintf(chex, sizeof chex,
             "%s10000004,50000004,,,,1.0,,,,,,,,,,\n10000001,50000001,,,,,,,,,,,,,,1.0\n"
             "10000002,50000002,,,,,,,,,,,,,,\n10000003,50000003,,,,,,,,,,,,,,\n",
             CHEX_HEADER);
    tu_write(dir, "MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv", chex);
    tu_write(dir, "MIMIC-CXR-JPG/reports.csv",
             "study,impression,findings,last_paragraph,comparison\n"
             "s50000001,a,,,\ns50000002,b,,,\ns50000003,c,,,\ns50000004,d,,,\n");
    tu_write(dir, "CHEST_IMA/silver_dataset/splits/test.csv",
             "dicom_id,subject_id,study_id,ViewPosition,gender\n"
             "i1,10000001,50000001,PA,F\n"
             "i2,10000001,50000001,PA,F\n"       /* MIMIC says AP: the 4-tuple does not match */
             "i4,10000003,50000003,PA,M\n"       /* MIMIC test split: never used (P2) */
             "i5,10000004,50000004,LATERAL,M\n"  /* every view is kept */
             "i6,10000004,50000004,PA,M\n");     /* no scene graph */
    tu_write(dir, "CHEST_IMA/silver_dataset/splits/train.csv", "dicom_id,subject_id,study_id,ViewPosition\n");
    tu_write(dir, "CHEST_IMA/silver_dataset/scene_graph/i1_SceneGraph.json",
             "{\"image_id\": \"i1\", \"viewpoint\": \"PA\", \"gender\": \"F\", \"objects\": ["
             "{\"bbox_name\": \"right lung\", \"x1\": 9, \"original_x1\": 254.4, \"original_y1\": 305.6,"
             " \"original_x2\": 1272, \"original_y2\": 3361.6},"
             "{\"bbox_name\": \"svc\", \"original_x1\": -25.44, \"original_y1\": 0, \"original_x2\": \"1272\","
             " \"original_y2\": 1528},"
             "{\"original_x1\": 1, \"original_y1\": 1, \"original_x2\": 2, \"original_y2\": 2}]}");
    tu_write(dir, "CHEST_IMA/silver_dataset/scene_graph/i5_SceneGraph.json",
             "{\"objects\": [{\"bbox_name\": \"trachea\", \"original_x1\": 100, \"original_y1\": 250,"
             " \"original_x2\": 300, \"original_y2\": 500}]}");
    tu_write(dir, "CHEST_IMA/silver_dataset/scene_graph/i2_SceneGraph.json", "{\"objects\": []}");
    tu_write(dir, "CHEST_IMA/silver_dataset/scene_graph/i4_SceneGraph.json", "{\"objects\": []}");
}

int main(void) {
    rv_log_init(0, 1, getenv("RV_TEST_LOG") ? RV_LOG_DEBUG : RV_LOG_ERROR);
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return check_summary("test_reader_imagenome");
    write_data(dir, "i5,10000004,50000004,LATERAL,1000,500");
    rv_badrec bad;
    rv_reader_ctx c = tu_ctx(dir, &bad, 0);
    CHECK(rv_source_present(&c, RV_SRC_IMAGENOME));
    rv_dataset *d = NULL;
    rv_err err;
    char ids[256], lab[256];

    CHECK(rv_read_imagenome(&c, "test", &d, &err) == 0);
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(tu_ids(d, ids, sizeof ids), "i5,i1"); /* MIMIC table order: chexpert row of study 4 first */
        CHECK(d->task == RV_TASK_ANATOMY && d->pathologies);
        CHECK(bad.count == 1);                           /* the object without bbox_name */
    }
    if (d && d->n == 2) {
        const rv_item *a = &d->items[1], *b = &d->items[0];
        char want[4200];
        snprintf(want, sizeof want, "%s/MIMIC-CXR-JPG/files/p10/p10000001/s50000001/i1.jpg", dir);
        CHECK_STR(a->image, want);
        CHECK(a->nregions == 2);
        if (a->nregions == 2) {
            /* x / Columns (2544), y / Rows (3056): 254.4/2544 = 0.1, 305.6/3056 = 0.1,
             * 1272/2544 = 0.5, 3361.6/3056 = 1.1 (above 1: not clipped) */
            CHECK_STR(a->regions[0].name, "right lung");
            CHECK_NEAR(a->regions[0].box.v[0], 0.1, 1e-12);
            CHECK_NEAR(a->regions[0].box.v[1], 0.1, 1e-12);
            CHECK_NEAR(a->regions[0].box.v[2], 0.5, 1e-12);
            CHECK_NEAR(a->regions[0].box.v[3], 1.1, 1e-12);
            /* -25.44/2544 = -0.01 (below 0: not clipped); the string "1272" is read as a number */
            CHECK_STR(a->regions[1].name, "svc");
            CHECK_NEAR(a->regions[1].box.v[0], -0.01, 1e-12);
            CHECK_NEAR(a->regions[1].box.v[1], 0.0, 0);
            CHECK_NEAR(a->regions[1].box.v[2], 0.5, 1e-12);
            CHECK_NEAR(a->regions[1].box.v[3], 0.5, 1e-12); /* 1528/3056 */
        }
        /* i5: Columns 500, Rows 1000 -> [0.2, 0.25, 0.6, 0.5] */
        CHECK(b->nregions == 1);
        if (b->nregions == 1) {
            CHECK_STR(b->regions[0].name, "trachea");
            CHECK_NEAR(b->regions[0].box.v[0], 0.2, 1e-15);
            CHECK_NEAR(b->regions[0].box.v[1], 0.25, 0);
            CHECK_NEAR(b->regions[0].box.v[2], 0.6, 1e-15);
            CHECK_NEAR(b->regions[0].box.v[3], 0.5, 0);
        }
        CHECK(!b->has_labels_field);
        CHECK_STR(tu_labels(b, lab, sizeof lab), "Edema");
    }
    rv_dataset_free(d);
    /* the missing-id list was computed in memory, not written into DATA_DIR */
    char *mp = rv_path_join(dir, "CHEST_IMA/silver_dataset/missing_ids.json");
    CHECK(!rv_exists(mp));

    /* a missing_ids.json present is used as is: i1 listed -> out; i6 not listed and has no graph -> bad record */
    tu_write(dir, "CHEST_IMA/silver_dataset/missing_ids.json", "[\"i1\", \"zz\"]");
    rv_badrec_init(&bad, rv_comm_world(), false);
    CHECK(rv_read_imagenome(&c, "test", &d, &err) == 0);
    if (d) CHECK_STR(tu_ids(d, ids, sizeof ids), "i5");
    CHECK(bad.count == 1);
    rv_dataset_free(d);
    rv_badrec fb;
    rv_reader_ctx cf = tu_ctx(dir, &fb, 1);
    CHECK(rv_read_imagenome(&cf, "test", &d, &err) < 0 && strstr(err.msg, "i6_SceneGraph.json"));
    tu_write(dir, "CHEST_IMA/silver_dataset/missing_ids.json", "{\"i1\": 1");
    CHECK(rv_read_imagenome(&c, "test", &d, &err) < 0 && strstr(err.msg, "missing_ids.json"));
    tu_remove(dir, "CHEST_IMA/silver_dataset/missing_ids.json");
    free(mp);

    /* image size 0 in the metadata: bad record naming the metadata line */
    write_data(dir, "i5,10000004,50000004,LATERAL,1000,0");
    CHECK(rv_read_imagenome(&cf, "test", &d, &err) < 0);
    CHECK(strstr(err.msg, "mimic-cxr-2.0.0-metadata.csv:6") && strstr(err.msg, "Columns '0'"));

    /* the train split CSV is empty: nothing, no error; a missing split file is an error */
    CHECK(rv_read_imagenome(&c, "train", &d, &err) == 0 && d && d->n == 0);
    rv_dataset_free(d);
    CHECK(rv_read_imagenome(&c, "valid", &d, &err) < 0 && strstr(err.msg, "splits/valid.csv") &&
          strstr(err.msg, "not found"));
    CHECK(rv_read_imagenome(&c, "validate", &d, &err) < 0);

    /* Box-text rounding (issue K, data.md §0.2): upstream divides by the metadata's numpy int64
     * Columns/Rows, so regions are numpy.float64 and round the numpy way. i5 (Columns 500,
     * Rows 1000): 162.5/500 = 0.325, 405/1000 = 0.405, 217.5/500 = 0.435, 500/1000 = 0.5 ->
     * numpy "[0.32, 0.4, 0.44, 0.5]" (Python's round would give "[0.33, 0.41, 0.43, 0.5]"). */
    write_data(dir, "i5,10000004,50000004,LATERAL,1000,500");
    tu_write(dir, "CHEST_IMA/silver_dataset/scene_graph/i5_SceneGraph.json",
             "{\"objects\": [{\"bbox_name\": \"trachea\", \"original_x1\": 162.5, \"original_y1\": 405,"
             " \"original_x2\": 217.5, \"original_y2\": 500}]}");
    rv_badrec_init(&bad, rv_comm_world(), false);
    d = NULL;
    CHECK(rv_read_imagenome(&c, "test", &d, &err) == 0);
    if (d && d->n == 2 && d->items[0].nregions == 1) {
        const rv_box *rb = &d->items[0].regions[0].box;
        CHECK(rb->v[0] == 0.325 && rb->v[1] == 0.405 && rb->v[2] == 0.435 && rb->v[3] == 0.5);
        rv_sb t;
        rv_sb_init(&t);
        rv_boxtext_box(&t, rb);
        CHECK_STR(t.s, "[0.32, 0.4, 0.44, 0.5]");
        rv_sb_free(&t);
    } else {
        CHECK(!"i5 with one region expected first");
    }
    rv_dataset_free(d);

    tu_rmtree(dir);
    free(dir);
    return check_summary("test_reader_imagenome");
}
