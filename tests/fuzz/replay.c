/* The fuzz replay driver (fuzz.h): a plain C main linked with one target. It runs the target over
 * every file of the corpus directories named on the command line (sorted by name), then over
 * --iters deterministic mutations of them (a small built-in mutator: bit flips, interesting
 * bytes and integers, truncation, insertion, erasure, duplication, splicing, format tokens; a
 * fixed --seed), stopping early at --seconds. A finding is a crash, an abort or a sanitizer
 * report: the driver then names the corpus file or the iteration, and
 *   fuzz_NAME --seed S --dump K out.bin DIR...
 * writes the input of iteration K so it can be run alone (fuzz_NAME out.bin) and committed to
 * the corpus as a regression file.
 * usage: fuzz_NAME [--iters N] [--seconds S] [--seed S] [--dump K FILE] DIR_OR_FILE... */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

typedef struct input {
    char *name;
    uint8_t *data;
    size_t size;
} input;

typedef struct corpus {
    input *v;
    size_t n, cap, max_size;
} corpus;

/* What is running now, for the crash message (a test driver, so a static is acceptable). */
static char current[600];

static void say_current(void) {
    static const char pre[] = "\nfuzz replay: the finding is on input: ";
    ssize_t r = write(2, pre, sizeof pre - 1);
    r = write(2, current, strlen(current));
    r = write(2, "\n", 1);
    (void)r;
}

static void on_fatal_signal(int sig) {
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Present only in sanitizer builds (weak: NULL otherwise). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static int read_whole(const char *path, uint8_t **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) b = realloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *data = b;
    *size = n;
    return 0;
}

static void add_file(corpus *c, const char *path) {
    input in = {0};
    if (read_whole(path, &in.data, &in.size) != 0) {
        fprintf(stderr, "fuzz replay: cannot read %s\n", path);
        exit(2);
    }
    in.name = strdup(path);
    if (c->n == c->cap) c->v = realloc(c->v, (c->cap = c->cap ? 2 * c->cap : 64) * sizeof *c->v);
    c->v[c->n++] = in;
    if (in.size > c->max_size) c->max_size = in.size;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_path(corpus *c, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz replay: %s does not exist (a corpus directory or file)\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add_file(c, path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz replay: cannot list %s\n", path);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        snprintf(p, len, "%s/%s", path, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || strstr(e->d_name, ".py")) {
            free(p); /* generators and sub-directories are not inputs */
            continue;
        }
        if (n == cap) names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
        names[n++] = p;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        add_file(c, names[i]);
        free(names[i]);
    }
    free(names);
}

/* Byte strings that matter to the parsers: lengths and markers of the binary formats, tokens of
 * the text ones. */
static const char *const tokens[] = {"{", "}", "[", "]", "\"", ",", ":", "\\", "\\u0000", "\\ud800", "\n", "\r\n",
                                     "null", "true", "1e999", "-0", "18446744073709551616", "\xff", "\xc3\x28",
                                     "<image>", "\"\"", ",,", "\x00", "DICM", "IHDR", "IDAT", "\xff\xd8", "\xff\xc0",
                                     "\xff\xda", "\xfe\xff\x00\xe0", "SQ", "UN", "OB", "\xe0\x7f\x10\x00"};
static const uint32_t ints[] = {0, 1, 2, 4, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
                                0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu};

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void reserve(buf *b, size_t n) {
    if (n > b->cap) b->d = realloc(b->d, b->cap = n + 64);
}

static void insert_bytes(buf *b, size_t at, const uint8_t *src, size_t k) {
    reserve(b, b->n + k);
    memmove(b->d + at + k, b->d + at, b->n - at);
    memcpy(b->d + at, src, k);
    b->n += k;
}

static void mutate_once(buf *b, const corpus *c, size_t max_size) {
    const size_t op = below(10);
    uint8_t tmp[64];
    switch (op) {
    case 0: /* bit flip */
        if (b->n) b->d[below(b->n)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: { /* interesting byte */
        static const uint8_t v[] = {0, 1, 0x7F, 0x80, 0xFF, ' ', '0', '9'};
        if (b->n) b->d[below(b->n)] = below(4) ? v[below(sizeof v)] : (uint8_t)rnd();
        break;
    }
    case 2: { /* interesting 16/32-bit integer, either byte order */
        const size_t w = below(2) ? 2 : 4;
        if (b->n < w) break;
        uint32_t x = ints[below(sizeof ints / sizeof ints[0])];
        if (below(4) == 0) x = (uint32_t)b->n + (uint32_t)below(16) - 8;
        const size_t at = below(b->n - w + 1);
        const bool be = below(2);
        for (size_t k = 0; k < w; k++) b->d[at + k] = (uint8_t)(x >> (8 * (be ? w - 1 - k : k)));
        break;
    }
    case 3: /* truncate */
        b->n = below(b->n + 1);
        break;
    case 4: { /* insert random bytes */
        const size_t k = 1 + below(16);
        for (size_t i = 0; i < k; i++) tmp[i] = (uint8_t)rnd();
        if (b->n + k <= max_size) insert_bytes(b, below(b->n + 1), tmp, k);
        break;
    }
    case 5: { /* erase a range */
        if (!b->n) break;
        const size_t at = below(b->n), k = 1 + below(b->n - at < 64 ? b->n - at : 64);
        memmove(b->d + at, b->d + at + k, b->n - at - k);
        b->n -= k;
        break;
    }
    case 6: { /* duplicate a range elsewhere */
        if (!b->n) break;
        const size_t at = below(b->n), k = 1 + below(b->n - at < 64 ? b->n - at : 64);
        if (b->n + k > max_size) break;
        memcpy(tmp, b->d + at, k);
        insert_bytes(b, below(b->n + 1), tmp, k);
        break;
    }
    case 7: { /* splice: this input's head, another's tail */
        const input *o = &c->v[below(c->n)];
        const size_t keep = below(b->n + 1), from = below(o->size + 1);
        b->n = keep;
        if (keep + (o->size - from) > max_size) break;
        reserve(b, keep + (o->size - from));
        memcpy(b->d + keep, o->data + from, o->size - from);
        b->n = keep + (o->size - from);
        break;
    }
    default: { /* a format token, inserted or overwritten */
        const char *t = tokens[below(sizeof tokens / sizeof tokens[0])];
        const size_t k = t[0] ? strlen(t) : 1;
        if (b->n + k > max_size) break;
        if (below(2) && b->n >= k) memcpy(b->d + below(b->n - k + 1), t, k);
        else insert_bytes(b, below(b->n + 1), (const uint8_t *)t, k);
        break;
    }
    }
}

static void make_mutant(buf *b, const corpus *c, size_t max_size) {
    const input *base = &c->v[below(c->n)];
    reserve(b, base->size + 1);
    memcpy(b->d, base->data, base->size);
    b->n = base->size;
    const size_t k = 1 + below(4);
    for (size_t i = 0; i < k; i++) mutate_once(b, c, max_size);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs the target on a private copy, so a target reading one byte too far is caught by the
 * sanitizers instead of reading the next input. */
static void run_one(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

int main(int argc, char **argv) {
    long long iters = 2000, dump_at = -1;
    double seconds = 10;
    unsigned long long seed = 1;
    const char *dump_file = NULL;
    corpus c = {0};
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dump") && i + 2 < argc) {
            dump_at = atoll(argv[++i]);
            dump_file = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--iters N] [--seconds S] [--seed S] [--dump K FILE] DIR_OR_FILE...\n", prog);
            return 2;
        } else add_path(&c, argv[i]);
    }
    if (c.n == 0) {
        fprintf(stderr, "%s: the corpus is empty; name a corpus directory (tests/fuzz/corpus/<target>)\n", prog);
        return 2;
    }
    signal(SIGABRT, on_fatal_signal);
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGBUS, on_fatal_signal);
    signal(SIGFPE, on_fatal_signal);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(say_current);
    /* mutants may grow to twice the largest seed (and at least 4 KiB) */
    const size_t max_size = c.max_size * 2 > 4096 ? c.max_size * 2 : 4096;
    rng_state = seed;
    buf b = {0};
    if (dump_file) {
        for (long long it = 0; it <= dump_at; it++) make_mutant(&b, &c, max_size);
        FILE *f = fopen(dump_file, "wb");
        if (!f || fwrite(b.d, 1, b.n, f) != b.n || fclose(f) != 0) {
            fprintf(stderr, "%s: cannot write %s\n", prog, dump_file);
            return 2;
        }
        printf("%s: wrote iteration %lld (seed %llu, %zu bytes) to %s\n", prog, dump_at, seed, b.n, dump_file);
        return 0;
    }
    const double t0 = now_s();
    for (size_t i = 0; i < c.n; i++) {
        snprintf(current, sizeof current, "corpus file %s", c.v[i].name);
        run_one(c.v[i].data, c.v[i].size);
    }
    const double t1 = now_s();
    long long done = 0;
    for (; done < iters; done++) {
        if ((done & 63) == 0 && now_s() - t1 > seconds) break;
        make_mutant(&b, &c, max_size);
        snprintf(current, sizeof current, "mutation %lld (seed %llu; write it with: %s --seed %llu --dump %lld FILE <same corpus>)",
                 done, seed, prog, seed, done);
        run_one(b.d, b.n);
    }
    const double t2 = now_s();
    printf("%s: %zu corpus file(s) in %.2f s, then %lld mutation(s) (seed %llu) in %.2f s%s\n", prog, c.n, t1 - t0,
           done, seed, t2 - t1, done < iters ? " (stopped at --seconds)" : "");
    free(b.d);
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].name);
        free(c.v[i].data);
    }
    free(c.v);
    return 0;
}
