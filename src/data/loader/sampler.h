/* Training sampler over packed samples: a seeded global shuffle per epoch, batches grouped
 * by length, and a disjoint slice of every global batch per rank of the data-parallel
 * communicator it is given. The order is a pure function of (seed, epoch, item list, lengths,
 * global batch size), so every rank computes the same global order without communicating,
 * and a saved cursor (epoch, step) resumes it exactly. The tail that does not fill a global
 * batch is dropped (a different tail each epoch, since the shuffle changes). */
#ifndef RADVLM_DATA_LOADER_SAMPLER_H
#define RADVLM_DATA_LOADER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"

/* The order of an epoch. */
typedef enum rv_sampler_order {
    /* A seeded shuffle, optionally length-grouped by group_factor (below). */
    RV_SAMPLER_SHUFFLE = 0,
    /* Upstream's group_by_modality_length (reference/train.md A.7; LLaVA's LengthGroupedSampler
     * with world_size = the global batch): a seeded permutation cut into mega-batches of one
     * global batch, each sorted by length, longest first (ties keep the permutation's order).
     * When some samples are text-only (opts.text_only), image and text samples are permuted and
     * cut separately, the full mega-batches of both are shuffled together, and the two partial
     * remainders are merged into one last mega-batch, as get_modality_length_grouped_indices
     * does; the tail that does not fill a global batch is dropped (drop_last). group_factor is
     * not used. */
    RV_SAMPLER_MODALITY_LENGTH = 1,
} rv_sampler_order;

typedef struct rv_sampler_opts {
    uint64_t seed;
    size_t batch_per_rank;   /* micro-batch size b; the global batch is b * ranks */
    size_t group_factor;     /* length grouping: sort windows of group_factor global batches by
                                length (longest first), then shuffle the batches of each window;
                                0 or 1 = no grouping */
    rv_sampler_order order;  /* 0 (RV_SAMPLER_SHUFFLE) unless set */
    const uint8_t *text_only; /* [n] 1 for a sample without image (RV_SAMPLER_MODALITY_LENGTH), or
                                 NULL: every sample has an image. Copied at init. */
} rv_sampler_opts;

typedef struct rv_sampler_cursor {
    uint64_t seed, epoch, step, n, global_batch, group_factor;
} rv_sampler_cursor;

typedef struct rv_sampler {
    rv_sampler_opts o;
    int rank, nranks;        /* this rank's place in the data-parallel group (from its communicator) */
    size_t n;                /* candidate items */
    uint64_t *items;         /* item ids (e.g. sample rows of the train split) */
    uint8_t *text_only;      /* [n] or NULL (copy of opts.text_only) */
    uint32_t *len;           /* their lengths (tokens) */
    size_t global_batch, steps_per_epoch;
    uint64_t epoch, step;    /* cursor: the next batch is (epoch, step) */
    uint64_t *order;         /* global order of the current epoch (steps_per_epoch * global_batch) */
    uint64_t order_epoch;    /* which epoch `order` holds (UINT64_MAX = none) */
} rv_sampler;

/* dp: the data-parallel group sharing each global batch (the world, or the policy ranks of GRPO);
 * only its rank and size are read (no communication), so a layout-only communicator
 * (rv_comm_layout) serves to simulate its ranks. Copies items and lengths. Fails when there are
 * fewer items than one global batch. */
int rv_sampler_init(rv_sampler *s, const rv_comm *dp, const rv_sampler_opts *o, const uint64_t *items,
                    const uint32_t *lengths, size_t n, rv_err *err);
void rv_sampler_free(rv_sampler *s);

/* This rank's part of the next global batch: batch_per_rank item ids into out, then the cursor
 * advances (into the next epoch after the last step). Ranks get strided positions of the
 * length-sorted global batch, so their lengths are alike. */
void rv_sampler_next(rv_sampler *s, uint64_t *out);

void rv_sampler_save(const rv_sampler *s, rv_sampler_cursor *c);
/* Refuses (err) a cursor made with another seed, item count, global batch or grouping. */
int rv_sampler_restore(rv_sampler *s, const rv_sampler_cursor *c, rv_err *err);

#endif
