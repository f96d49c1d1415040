/* DICOM: the pre-check (io/dicom_scan.h) and the whole read through GDCM (io/dicom.h). A GDCM
 * assertion reached by any input is a finding: the pre-check must refuse that input first. */
#include "fuzz.h"
#include "io/dicom.h"
#include "io/dicom_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    rv_dicom_scan scan;
    rv_dicom_scan_bytes("fuzz.dcm", data, size, FUZZ_MAX_PIXELS, &scan, &err);
    rv_dicom_info info;
    rv_image img;
    if (rv_dicom_decode("fuzz.dcm", data, size, FUZZ_MAX_PIXELS, &info, &img, &err) == 0) rv_image_free(&img);
    return 0;
}
