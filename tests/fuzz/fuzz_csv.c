/* The source-table CSV reader (io/csv.h), and the column lookups every reader makes. */
#include "fuzz.h"
#include "io/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    rv_csv *c = NULL;
    if (rv_csv_parse("fuzz.csv", (const char *)data, size, &c, &err) != 0) return 0;
    int col;
    if (rv_csv_require(c, "id", &col, &err) == 0)
        for (size_t r = 0; r < c->nrows; r++) (void)rv_csv_get(c, r, col);
    rv_csv_free(c);
    return 0;
}
