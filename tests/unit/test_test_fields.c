/* Which keys a task's test cells carry (rv_task_test_labels / rv_task_test_pathologies), against
 * the table written out by hand from upstream's code (reference data.md §9.2 "labels /
 * pathologies presence per block" and §10; eval.md §1.2):
 *
 *   task (dataset upstream evaluates)              labels  pathologies  why
 *   report_generation (MIMIC_Dataset_MM test)        yes       yes      flag_lab=True; MIMIC class
 *   abnormality_classification (CheXpert)            yes       yes      CheXpert always labels
 *   region_grounding (Chest_ImaGenome_Dataset)       no        yes      flag_lab=False; MIMIC subclass
 *   abnormality_grounding (VinDr single label)       no        no       no labels key, no attribute
 *   abnormality_detection (VinDr_CXR_Dataset)        yes       no       per-box classes
 *   phrase_grounding (MS_CXR test, alone)            no        yes      not a ConcatDataset here
 *   conversation (MIMIC_Dataset_MM test)             yes       yes      flag_lab=True
 *   conversation_grounded (MIMIC_Dataset_MM test)    yes       yes      flag_lab=True (P3 fixed) */
#include "check.h"
#include "data/sources/sample.h"

int main(void) {
    static const struct { const char *task; bool labels, pathologies; } want[] = {
        {"report_generation", true, true},
        {"abnormality_classification", true, true},
        {"region_grounding", false, true},
        {"abnormality_grounding", false, false},
        {"abnormality_detection", true, false},
        {"phrase_grounding", false, true},
        {"conversation", true, true},
        {"conversation_grounded", true, true},
    };
    size_t n = sizeof want / sizeof *want;
    CHECK(n == RV_TASK_COUNT); /* every task is in the table */
    for (size_t i = 0; i < n; i++) {
        rv_task t;
        CHECK(rv_task_parse(want[i].task, &t) == 0);
        if (rv_task_test_labels(t) != want[i].labels) fprintf(stderr, "%s: labels\n", want[i].task);
        CHECK(rv_task_test_labels(t) == want[i].labels);
        if (rv_task_test_pathologies(t) != want[i].pathologies) fprintf(stderr, "%s: pathologies\n", want[i].task);
        CHECK(rv_task_test_pathologies(t) == want[i].pathologies);
    }
    return check_summary("test_test_fields");
}
