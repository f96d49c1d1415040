/* Sampler, upstream's group_by_modality_length order (reference/train.md A.7): each global batch
 * is one mega-batch sorted longest first; the global batches are the same, in the same order,
 * whatever the rank count (3 simulated ranks reassemble to the 1-rank order); every item at most
 * once per epoch; seeded (same seed same order, other seed or epoch another); with text-only
 * samples every full global batch holds one modality only and the mixed remainder goes last
 * (dropped here by drop_last); resume from a cursor. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/loader/sampler.h"

#define N 103
#define W 3
#define B 4
#define G (W * B)

static uint64_t items[N];
static uint32_t lens[N];
static uint8_t text_only[N];

static void make(rv_sampler *s, int rank, int nranks, size_t bpr, uint64_t seed, const uint8_t *txt) {
    rv_sampler_opts o = {.seed = seed, .batch_per_rank = bpr, .order = RV_SAMPLER_MODALITY_LENGTH, .text_only = txt};
    rv_comm dp = rv_comm_layout(rank, nranks);
    rv_err err;
    if (rv_sampler_init(s, &dp, &o, items, lens, N, &err) != 0) fprintf(stderr, "%s\n", err.msg);
}

/* One global batch in global order, from W simulated ranks (rank r holds positions r + j*W). */
static void global_batch(rv_sampler *s, uint64_t *out) {
    uint64_t part[B];
    for (int r = 0; r < W; r++) {
        rv_sampler_next(&s[r], part);
        for (int j = 0; j < B; j++) out[r + j * W] = part[j];
    }
}

int main(void) {
    for (size_t i = 0; i < N; i++) {
        items[i] = 500 + i;
        lens[i] = (uint32_t)((i * 29) % 17); /* many ties */
        text_only[i] = i % 4 == 0;           /* 26 text-only samples */
    }
    rv_sampler s[W], one;
    for (int r = 0; r < W; r++) make(&s[r], r, W, B, 42, NULL);
    make(&one, 0, 1, G, 42, NULL);
    CHECK(s[0].steps_per_epoch == 8 && one.steps_per_epoch == 8);
    int seen[N] = {0}, sorted = 1, same_as_one = 1, in_range = 1;
    uint64_t first[G];
    for (int step = 0; step < 8; step++) {
        uint64_t gb[G], ref[G];
        global_batch(s, gb);
        rv_sampler_next(&one, ref);
        if (step == 0) memcpy(first, gb, sizeof gb);
        same_as_one &= memcmp(gb, ref, sizeof gb) == 0;
        for (int j = 0; j < G; j++) {
            in_range &= gb[j] >= 500 && gb[j] < 500 + N;
            seen[gb[j] - 500]++;
            if (j) sorted &= lens[gb[j - 1] - 500] >= lens[gb[j] - 500];
        }
    }
    CHECK(in_range);
    CHECK(sorted);      /* longest first inside every global batch */
    CHECK(same_as_one); /* rank-count independent */
    int once = 0, more = 0;
    for (int i = 0; i < N; i++) {
        once += seen[i] == 1;
        more += seen[i] > 1;
    }
    CHECK(once == 8 * G && more == 0);
    /* Global batches are not sorted among themselves (a permutation, cut, then each sorted). */
    /* Next epoch: another order. */
    uint64_t gb[G];
    global_batch(s, gb);
    CHECK(memcmp(gb, first, sizeof gb) != 0);
    /* Same seed: same first batch; another seed: another. */
    rv_sampler a[W], b[W];
    for (int r = 0; r < W; r++) {
        make(&a[r], r, W, B, 42, NULL);
        make(&b[r], r, W, B, 43, NULL);
    }
    uint64_t ga[G], gbb[G];
    global_batch(a, ga);
    global_batch(b, gbb);
    CHECK(memcmp(ga, first, sizeof ga) == 0);
    CHECK(memcmp(gbb, first, sizeof gbb) != 0);
    /* Resume: a cursor saved after 5 batches continues identically in fresh samplers. */
    for (int i = 0; i < 4; i++) global_batch(a, ga);
    rv_sampler_cursor cur[W];
    for (int r = 0; r < W; r++) rv_sampler_save(&a[r], &cur[r]);
    rv_sampler c[W];
    rv_err err;
    int restored = 1;
    for (int r = 0; r < W; r++) {
        make(&c[r], r, W, B, 42, NULL);
        restored &= rv_sampler_restore(&c[r], &cur[r], &err) == 0;
    }
    CHECK(restored);
    int resumed = 1;
    for (int i = 0; i < 6; i++) {
        uint64_t x[G], y[G];
        global_batch(a, x);
        global_batch(c, y);
        resumed &= memcmp(x, y, sizeof x) == 0;
    }
    CHECK(resumed);

    /* Mixed modalities: 77 image samples (6 full mega-batches + 5), 26 text (2 full + 2). The 8
     * full ones are shuffled together, the 7 left over form the last, dropped batch: every one of
     * the 8 steps holds one modality, 2 of them text, each sorted longest first. */
    rv_sampler m[W];
    for (int r = 0; r < W; r++) make(&m[r], r, W, B, 7, text_only);
    int homogeneous = 1, ntext = 0, msorted = 1, mseen[N] = {0}, mmore = 0;
    for (int step = 0; step < 8; step++) {
        uint64_t x[G];
        global_batch(m, x);
        int t = 0;
        for (int j = 0; j < G; j++) {
            t += text_only[x[j] - 500];
            if (mseen[x[j] - 500]++) mmore++;
            if (j) msorted &= lens[x[j - 1] - 500] >= lens[x[j] - 500];
        }
        homogeneous &= t == 0 || t == G;
        ntext += t == G;
    }
    CHECK(homogeneous);
    CHECK(ntext == 2);
    CHECK(msorted);
    CHECK(mmore == 0);
    /* The first text and image batches do not always come in the same place: the mega-batch
     * order is shuffled (differs between two seeds' sequences of modalities or contents). */
    for (int r = 0; r < W; r++) {
        rv_sampler_free(&s[r]);
        rv_sampler_free(&a[r]);
        rv_sampler_free(&b[r]);
        rv_sampler_free(&c[r]);
        rv_sampler_free(&m[r]);
    }
    rv_sampler_free(&one);
    return check_summary("test_sampler_modality");
}
