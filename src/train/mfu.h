/* Model FLOPs utilisation: the training FLOPs a step needs (the usual 6 x parameters x tokens of
 * the matmuls, plus attention) against the peak sgemm rate measured once on this rank's kernel
 * context. An estimate for the progress line, not a benchmark (tests/bench does the timing). */
#ifndef RADVLM_TRAIN_MFU_H
#define RADVLM_TRAIN_MFU_H

#include "kernels/kernels.h"
#include "model/config.h"

/* GFLOP/s of rvk_gemm on square n x n x n problems, best of a few runs (about a second at most). */
double rv_sgemm_peak_gflops(rv_kctx *k, int n);

/* Training FLOPs (forward + backward = 3 x forward) of one sample: len tokens in the language
 * model (image rows included), tiles SigLIP tiles. Forward: 2 x (matmul weights) per token in each
 * tower, attention 4 x heads x head_dim x (context) per token per layer (causal: half of len^2 in
 * the LM; full grid^2 x grid^2 per tile in SigLIP). */
double rv_sample_train_flops(const rv_model_cfg *c, int len, int tiles);

#endif
