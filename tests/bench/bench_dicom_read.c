/* Cost per DICOM of the hostile-input defences (docs/limits.md "Images, DICOM and fuzzing"): the
 * byte walk alone (io/dicom_scan.h) and the whole read (walk + GDCM in a child process,
 * io/isolate.h), mean over the files named on the command line (e.g. the phantom VinDr DICOMs
 * that synth writes). Files are read into memory first; one thread; best of `repeats` passes.
 * Not a test.
 *
 *   bench_dicom_read [--repeats N] FILE.dicom...  */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/fsutil.h"
#include "io/dicom.h"
#include "io/dicom_scan.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system) of this process and its finished children: on a loaded machine the
 * wall clock mostly measures waiting for a core, this measures the work. */
static double cpu(void) {
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
           1e-6 * (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
}

int main(int argc, char **argv) {
    int repeats = 3, first = 1;
    if (argc > 2 && !strcmp(argv[1], "--repeats")) {
        repeats = atoi(argv[2]);
        first = 3;
    }
    const int n = argc - first;
    if (n < 1 || repeats < 1) {
        fprintf(stderr, "usage: %s [--repeats N] FILE.dicom...\n", argv[0]);
        return 2;
    }
    char **data = calloc((size_t)n, sizeof *data);
    size_t *len = calloc((size_t)n, sizeof *len), bytes = 0;
    rv_err err;
    for (int i = 0; i < n; i++) {
        if (rv_read_file(argv[first + i], &data[i], &len[i], &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        bytes += len[i];
    }
    double best_scan = 1e30, best_read = 1e30, best_read_cpu = 1e30;
    long long pixels = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            rv_dicom_scan sc;
            if (rv_dicom_scan_bytes(argv[first + i], (const unsigned char *)data[i], len[i], 0, &sc, &err) != 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (r == 0) pixels += sc.rows * sc.columns;
        }
        double t1 = now(), c1 = cpu();
        for (int i = 0; i < n; i++) {
            rv_image img;
            rv_dicom_info info;
            if (rv_dicom_decode(argv[first + i], (const unsigned char *)data[i], len[i], RV_IMAGE_MAX_PIXELS_DEFAULT, &info,
                                &img, &err) != 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            rv_image_free(&img);
        }
        double t2 = now(), c2 = cpu();
        if (t1 - t0 < best_scan) best_scan = t1 - t0;
        if (t2 - t1 < best_read) best_read = t2 - t1;
        if (c2 - c1 < best_read_cpu) best_read_cpu = c2 - c1;
    }
    printf("%d DICOM file(s), mean %.0f KB, %.2f Mpixel: walk %.1f us/image, whole read (walk + GDCM in a child) "
           "%.2f ms/image wall, %.2f ms/image CPU (parent + child; best of %d)\n",
           n, (double)bytes / n / 1024.0, (double)pixels / n / 1e6, 1e6 * best_scan / n, 1e3 * best_read / n,
           1e3 * best_read_cpu / n, repeats);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(len);
    return 0;
}
