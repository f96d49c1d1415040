/* ZeRO-1 ownership of the optimizer state. The state of the flattened parameter arena (w->total
 * fp32 elements, tensors in table order, 16-element padding included) is split into nranks
 * contiguous ranges: rank r owns arena elements [off, off + n). One definition, used by the
 * optimizer (reduce-scatter / all-gather counts) and by the checkpoint shards.
 *
 * Balanced block split in units of RV_PARTITION_ALIGN elements (64 bytes, the arena's tensor
 * alignment), so every range starts on a SIMD/cache-line boundary: with U = ceil(total / 16)
 * units, rank r gets floor(U / nranks) units plus one more when r < U mod nranks, the ranges in
 * rank order; the last range is clipped to total. Ranks past the data (U < nranks) own n = 0. */
#ifndef RADVLM_TRAIN_PARTITION_H
#define RADVLM_TRAIN_PARTITION_H

#include <stddef.h>

#define RV_PARTITION_ALIGN 16

typedef struct rv_range {
    size_t off, n;
} rv_range;

/* Rank's range of [0, total); requires 0 <= rank < nranks. */
rv_range rv_partition(size_t total, int rank, int nranks);

#endif
