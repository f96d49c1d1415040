/* Sampler: disjoint per-rank slices that together cover one global batch, every item at most
 * once per epoch, a different order each epoch and the same order for the same seed, length
 * grouping (global batches are runs of the length-sorted window), exact resume from a saved
 * cursor, and refusal of a cursor from another configuration. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/loader/sampler.h"

#define N 103
#define B 4
#define W 3

static uint64_t items[N];
static uint32_t lens[N];

/* Rank `rank` of a W-rank data-parallel group, simulated in this process (layout only). */
static void make(rv_sampler *s, int rank, size_t gf, uint64_t seed) {
    rv_sampler_opts o = {.seed = seed, .batch_per_rank = B, .group_factor = gf};
    rv_comm dp = rv_comm_layout(rank, W);
    rv_err err;
    if (rv_sampler_init(s, &dp, &o, items, lens, N, &err) != 0) fprintf(stderr, "%s\n", err.msg);
}

int main(void) {
    for (size_t i = 0; i < N; i++) {
        items[i] = 1000 + i;                 /* ids differ from positions */
        lens[i] = (uint32_t)((i * 37) % 50); /* lengths with ties */
    }
    rv_sampler s[W];
    for (int r = 0; r < W; r++) make(&s[r], r, 0, 42);
    /* 103 / 12 = 8 steps per epoch; 7 items dropped. */
    CHECK(s[0].steps_per_epoch == 8);

    /* One epoch: each step's three slices are disjoint; over the epoch every item at most once. */
    int seen[N] = {0};
    uint64_t first_epoch[8 * B * W];
    size_t k = 0;
    for (int step = 0; step < 8; step++) {
        for (int r = 0; r < W; r++) {
            uint64_t out[B];
            rv_sampler_next(&s[r], out);
            for (int j = 0; j < B; j++) {
                CHECK(out[j] >= 1000 && out[j] < 1000 + N);
                seen[out[j] - 1000]++;
                first_epoch[k++] = out[j];
            }
        }
    }
    int once = 0, twice = 0;
    for (size_t i = 0; i < N; i++) {
        once += seen[i] == 1;
        twice += seen[i] > 1;
    }
    CHECK(once == 8 * B * W && twice == 0);
    CHECK(s[0].epoch == 1 && s[0].step == 0);

    /* Epoch 1 differs from epoch 0. */
    uint64_t out[B];
    rv_sampler_next(&s[0], out);
    CHECK(memcmp(out, first_epoch, sizeof out) != 0);

    /* Same seed: same order; another seed: another order. */
    rv_sampler a, b;
    make(&a, 0, 0, 42);
    make(&b, 0, 0, 43);
    uint64_t x[B], y[B];
    rv_sampler_next(&a, x);
    rv_sampler_next(&b, y);
    CHECK(memcmp(x, first_epoch, sizeof x) == 0);
    CHECK(memcmp(y, first_epoch, sizeof y) != 0);
    rv_sampler_free(&a);
    rv_sampler_free(&b);

    /* Length grouping over the whole epoch (one window of 8 batches): the global batches cut
     * the sorted lengths into runs, so for any two batches one lies entirely above the other. */
    rv_sampler g[W];
    for (int r = 0; r < W; r++) make(&g[r], r, 8, 7);
    uint32_t lo[8], hi[8];
    for (int step = 0; step < 8; step++) {
        lo[step] = UINT32_MAX;
        hi[step] = 0;
        for (int r = 0; r < W; r++) {
            rv_sampler_next(&g[r], out);
            for (int j = 0; j < B; j++) {
                uint32_t l = lens[out[j] - 1000];
                if (l < lo[step]) lo[step] = l;
                if (l > hi[step]) hi[step] = l;
            }
        }
    }
    int overlap = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            if (i != j && !(hi[i] <= lo[j] || hi[j] <= lo[i])) overlap++;
    CHECK(overlap == 0);
    /* ...and the batches are not simply in descending order (they are shuffled in the window). */
    int descending = 1;
    for (int i = 0; i + 1 < 8; i++) descending &= hi[i] >= hi[i + 1];
    CHECK(!descending);
    for (int r = 0; r < W; r++) rv_sampler_free(&g[r]);

    /* Save after 11 steps (into epoch 1), resume in a fresh sampler: the next 10 batches match. */
    rv_sampler c, d;
    make(&c, 1, 2, 99);
    make(&d, 1, 2, 99);
    for (int i = 0; i < 11; i++) rv_sampler_next(&c, out);
    rv_sampler_cursor cur;
    rv_sampler_save(&c, &cur);
    CHECK(cur.epoch == 1 && cur.step == 3);
    rv_err err;
    CHECK(rv_sampler_restore(&d, &cur, &err) == 0);
    int same = 1;
    for (int i = 0; i < 10; i++) {
        rv_sampler_next(&c, x);
        rv_sampler_next(&d, y);
        same &= memcmp(x, y, sizeof x) == 0;
    }
    CHECK(same);
    /* A cursor from another seed is refused with both settings named. */
    cur.seed = 5;
    CHECK(rv_sampler_restore(&d, &cur, &err) == -1);
    CHECK(strstr(err.msg, "seed 5") && strstr(err.msg, "seed 99"));
    rv_sampler_free(&c);
    rv_sampler_free(&d);

    /* Too few items for one global batch: a clear error. */
    rv_sampler e;
    rv_sampler_opts o = {.seed = 1, .batch_per_rank = 64};
    rv_comm two = rv_comm_layout(0, 2);
    CHECK(rv_sampler_init(&e, &two, &o, items, lens, N, &err) == -1);
    CHECK(strstr(err.msg, "cannot fill one global batch") != NULL);
    /* A rank outside its group is refused, naming the layout. */
    rv_comm outside = rv_comm_layout(2, 2);
    o.batch_per_rank = 4;
    CHECK(rv_sampler_init(&e, &outside, &o, items, lens, N, &err) == -1);
    CHECK(strstr(err.msg, "rank 2 of 2") != NULL);
    /* The one-process world (no MPI started) is a group of one: rank 0 gets the whole global
     * batch, which is then B items. */
    CHECK(rv_sampler_init(&e, rv_comm_world(), &o, items, lens, N, &err) == 0);
    CHECK(e.global_batch == B && e.steps_per_epoch == N / B);
    rv_sampler_free(&e);
    for (int r = 0; r < W; r++) rv_sampler_free(&s[r]);
    return check_summary("test_sampler");
}
