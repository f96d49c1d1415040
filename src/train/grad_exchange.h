/* Data-parallel gradient exchange: the SUM over the ranks of a communicator of the gradients each
 * rank accumulated, in fixed-size buckets in a fixed order, over the trainable ranges of the
 * flattened gradient arena only (frozen tensors are never sent).
 *
 * Spans: the maximal runs of consecutive exchanged tensors in arena order, each the arena range
 * from its first tensor's offset to its last tensor's end (the 16-element padding between tensors
 * of one run is carried along: it is zero on every rank, so its sum is zero). Buckets: each span cut
 * into pieces of bucket_elems elements from its start, spans in arena order. The cut depends only
 * on the table, the trainable set and bucket_elems, so every rank issues the same collectives in
 * the same order.
 *
 * Two modes (comm/comm.h rank-order sums: both give the same bits for every element):
 *  - plain data parallel: rv_gx_allreduce, every rank gets the sum of every exchanged element;
 *  - ZeRO-1: rv_gx_reduce_scatter, rank r gets the sum only over its partition range
 *    (train/partition.h; the rest of its arena then holds partial values, not to be read), and after
 *    the optimizer updated that range rv_gx_allgather rebuilds the full parameters on every rank.
 *
 * The arenas are passed as pointers into the weights' kernel context: host memory on the CPU
 * backend, device memory on a GPU, where the comm layer carries them (comm/device.h: NCCL or host
 * staging) once the context is bound to dp (rv_optim_create does it). */
#ifndef RADVLM_TRAIN_GRAD_EXCHANGE_H
#define RADVLM_TRAIN_GRAD_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "comm/comm.h"
#include "core/error.h"
#include "model/weights.h"
#include "train/partition.h"

#define RV_GX_DEFAULT_BUCKET ((size_t)1 << 22) /* 4 Mi elements = 16 MiB of fp32 per message */

typedef struct rv_grad_exchange {
    const rv_comm *dp;   /* borrowed: the data-parallel communicator */
    size_t bucket;       /* elements per bucket */
    size_t nspans;
    rv_range *spans;     /* [nspans] arena ranges exchanged, ascending, disjoint */
    rv_range *parts;     /* [dp->size] ZeRO-1 partition of the arena (rv_partition), rank order */
    size_t *counts;      /* [dp->size] scratch: a bucket's elements inside each partition */
    size_t nbuckets;     /* buckets per exchange */
    size_t elems;        /* elements per exchange (sum of span lengths) */
} rv_grad_exchange;

/* Builds the spans of the tensors i with exchange[i] true ([w->n], table order; their arena
 * offsets must ascend). bucket_elems 0 = RV_GX_DEFAULT_BUCKET. dp must outlive gx. */
int rv_gx_init(rv_grad_exchange *gx, const rv_weights *w, const bool *exchange, const rv_comm *dp,
               size_t bucket_elems, rv_err *err);
void rv_gx_free(rv_grad_exchange *gx);

/* grads: the arena [w->total]. In place; collective over dp (a no-op on one rank). */
void rv_gx_allreduce(const rv_grad_exchange *gx, float *grads);
void rv_gx_reduce_scatter(const rv_grad_exchange *gx, float *grads);
/* params: the arena [w->total]; each rank's partition range is the source for the others. */
void rv_gx_allgather(const rv_grad_exchange *gx, float *params);

#endif
