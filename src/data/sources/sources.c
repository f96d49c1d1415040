#include <stdlib.h>

#include "core/fsutil.h"
#include "data/sources/readers.h"

/* Directory under DATA_DIR and the file whose presence marks the source as installed (NULL:
 * the directory is enough). CheXpert and CheXpert-Plus share a directory, so they are told
 * apart by their tables. */
static const struct {
    const char *name, *dir, *marker;
} sources[RV_SRC_COUNT] = {
    [RV_SRC_MIMIC] = {"mimic-cxr", "MIMIC-CXR-JPG", NULL},
    [RV_SRC_CHEXPERT] = {"chexpert", "CheXpert", NULL},
    [RV_SRC_CHEXPERT_PLUS] = {"chexpert-plus", "CheXpert", "df_chexpert_plus_240401.csv"},
    [RV_SRC_IMAGENOME] = {"chest-imagenome", "CHEST_IMA/silver_dataset", NULL},
    [RV_SRC_VINDR] = {"vindr-cxr", "VinDr-CXR", NULL},
    [RV_SRC_MSCXR] = {"ms-cxr", "MS-CXR", NULL},
    [RV_SRC_PADCHEST] = {"padchest", "PadChest", NULL},
};

const char *rv_source_name(rv_source s) {
    if ((int)s < 0 || s >= RV_SRC_COUNT) return "unknown";
    return sources[s].name;
}

bool rv_source_present(const rv_reader_ctx *c, rv_source s) {
    if (!c || !c->data_dir || (int)s < 0 || s >= RV_SRC_COUNT) return false;
    char *dir = rv_path_join(c->data_dir, sources[s].dir);
    bool ok = rv_is_dir(dir);
    if (ok && s == RV_SRC_CHEXPERT) {
        /* any of the three split tables */
        static const char *const tables[] = {"train.csv", "valid.csv", "test.csv"};
        ok = false;
        for (int i = 0; i < 3 && !ok; i++) {
            char *p = rv_path_join(dir, tables[i]);
            ok = rv_is_file(p);
            free(p);
        }
    } else if (ok && sources[s].marker) {
        char *p = rv_path_join(dir, sources[s].marker);
        ok = rv_is_file(p);
        free(p);
    }
    free(dir);
    return ok;
}
