/* Decode-only rate of a list of images with the codec libraries alone (no project code):
 * JPEG through libjpeg-turbo (TurboJPEG, to grey, accurate DCT as pack uses), PNG through
 * libpng's simplified API (grey, 8 or 16 bit). Files are read into memory first, so only
 * decoding is timed; one thread, best of `repeats`. This is the practical limit of one core of
 * any pack pipeline (bench_pack.py prints the ratios). Not a test.
 *
 *   cc -O2 bench_decode.c $(pkg-config --cflags --libs libturbojpeg libpng) -o bench_decode
 *   ./bench_decode paths.txt [repeats]      (one path per line) */
#define _POSIX_C_SOURCE 200809L
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct blob {
    unsigned char *p;
    size_t n;
    int jpeg;
} blob;

static int read_all(const char *path, blob *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->p = malloc(n > 0 ? (size_t)n : 1);
    b->n = fread(b->p, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    b->jpeg = b->n > 2 && b->p[0] == 0xFF && b->p[1] == 0xD8;
    return 0;
}

static int decode_jpeg(tjhandle h, const blob *b, unsigned char **buf, size_t *cap) {
    int w, hh, sub, cs;
    if (tjDecompressHeader3(h, b->p, (unsigned long)b->n, &w, &hh, &sub, &cs)) return -1;
    size_t need = (size_t)w * (size_t)hh;
    if (need > *cap) { *buf = realloc(*buf, need); *cap = need; }
    return tjDecompress2(h, b->p, (unsigned long)b->n, *buf, w, w, hh, TJPF_GRAY, TJFLAG_ACCURATEDCT);
}

static int decode_png(const blob *b, unsigned char **buf, size_t *cap) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, b->p, b->n)) return -1;
    im.format = (im.format & PNG_FORMAT_FLAG_LINEAR) ? PNG_FORMAT_LINEAR_Y : PNG_FORMAT_GRAY;
    size_t need = PNG_IMAGE_SIZE(im);
    if (need > *cap) { *buf = realloc(*buf, need); *cap = need; }
    int ok = png_image_finish_read(&im, NULL, *buf, 0, NULL);
    png_image_free(&im);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s paths.txt [repeats]\n", argv[0]); return 2; }
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    FILE *lf = fopen(argv[1], "r");
    if (!lf) { perror(argv[1]); return 1; }
    blob *bl = NULL;
    size_t n = 0, cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        if (n == cap) { cap = cap ? 2 * cap : 256; bl = realloc(bl, cap * sizeof *bl); }
        if (read_all(line, &bl[n]) != 0) { fprintf(stderr, "%s: cannot read\n", line); return 1; }
        n++;
    }
    fclose(lf);
    tjhandle h = tjInitDecompress();
    unsigned char *buf = NULL;
    size_t bcap = 0, nj = 0, np = 0;
    double best_j = 1e30, best_p = 1e30;
    for (int r = 0; r < reps; r++) {
        double tj = 0, tp = 0;
        nj = np = 0;
        for (size_t i = 0; i < n; i++) {
            double t0 = now();
            int rc = bl[i].jpeg ? decode_jpeg(h, &bl[i], &buf, &bcap) : decode_png(&bl[i], &buf, &bcap);
            double dt = now() - t0;
            if (rc) { fprintf(stderr, "image %zu: decode failed\n", i); return 1; }
            if (bl[i].jpeg) { tj += dt; nj++; } else { tp += dt; np++; }
        }
        if (tj + tp < best_j + best_p) { best_j = tj; best_p = tp; }
    }
    printf("decode_only images=%zu jpeg=%zu png=%zu seconds=%.4f images_per_s=%.1f jpeg_per_s=%.1f png_per_s=%.1f\n", n,
           nj, np, best_j + best_p, n / (best_j + best_p), nj ? nj / best_j : 0.0, np ? np / best_p : 0.0);
    tjDestroy(h);
    free(buf);
    for (size_t i = 0; i < n; i++) free(bl[i].p);
    free(bl);
    return 0;
}
