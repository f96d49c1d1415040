/* Transformer text encoders of the BERT family (BERT, DistilBERT, RoBERTa) run in C over the
 * kernels (kernels.h), for the neural report metrics (BERTScore, CheXbert, RadGraph-XL; issue J).
 * Post-LN blocks, learned absolute positions (RoBERTa: offset by padding_idx + 1), token types
 * (BERT, RoBERTa: all 0), GELU (erf) and LayerNorm eps from config.json. Inference only.
 *
 * A model directory holds config.json + model.safetensors (or pytorch_model.bin converted by
 * tools/convert_pth.py, see docs/metrics.md) + the tokenizer files (textenc/text_tokenizer.h).
 * Tensor names are HF's, with or without the architecture prefix ("bert.", "distilbert.",
 * "roberta."); tensors the encoder does not use (pooler, heads) are left for the caller
 * (rv_encoder_extra). */
#ifndef RADVLM_TEXTENC_ENCODER_H
#define RADVLM_TEXTENC_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/kernels.h"

typedef enum rv_enc_arch { RV_ENC_BERT = 0, RV_ENC_DISTILBERT = 1, RV_ENC_ROBERTA = 2 } rv_enc_arch;

typedef struct rv_enc_cfg {
    rv_enc_arch arch;     /* from config.json model_type */
    int vocab;            /* vocab_size */
    int hidden;           /* hidden_size / dim */
    int layers;           /* num_hidden_layers / n_layers (of the file) */
    int heads;            /* num_attention_heads / n_heads */
    int intermediate;     /* intermediate_size / hidden_dim */
    int max_pos;          /* max_position_embeddings */
    int type_vocab;       /* type_vocab_size (0 for DistilBERT) */
    int pad_id;           /* pad_token_id (RoBERTa's padding_idx) */
    float ln_eps;         /* layer_norm_eps (DistilBERT: 1e-12) */
} rv_enc_cfg;

typedef struct rv_encoder rv_encoder; /* opaque */

/* Loads dir/config.json and the weights onto backend k. use_layers: run only the first
 * use_layers blocks (BERTScore's truncated stack); 0 = all. Errors name the file and the tensor
 * or config key (missing file, unknown model_type, a shape that disagrees with config.json). */
int rv_encoder_load(rv_encoder **out, const char *dir, int use_layers, rv_kctx *k, rv_err *err);
void rv_encoder_free(rv_encoder *e);
const rv_enc_cfg *rv_encoder_cfg(const rv_encoder *e);
int rv_encoder_layers_used(const rv_encoder *e);

/* Forward over a packed batch of nseq sequences: ids [T] (special tokens included; no padding),
 * sequence s = rows [cu[s], cu[s+1]) (cu: [nseq + 1], host int32, cu[0] = 0, each length
 * <= max_pos (- pad_id - 1 for RoBERTa)). Attention never crosses sequences, so a batch gives
 * one sequence's numbers up to sgemm rounding (~2e-6: the GEMM row count changes the blocking);
 * callers that need bitwise-stable results batch in a fixed make-up (eval/neural/text_batch). out: host [T, hidden] = the hidden states after
 * the last used block. Token ids >= vocab and over-long sequences are errors. */
int rv_encoder_forward(rv_encoder *e, const int32_t *ids, const int32_t *cu, int nseq, float *out, rv_err *err);

/* A tensor of the model file that the encoder did not consume (e.g. CheXbert's heads
 * "linear_heads.0.weight", RadGraph's scorers), as host fp32: *data malloc'd (caller frees),
 * shape[ndim]. Returns -1 with a message naming the file and the tensor when it is absent. */
int rv_encoder_extra(const rv_encoder *e, const char *name, float **data, int64_t shape[4], int *ndim,
                     rv_err *err);

#endif
