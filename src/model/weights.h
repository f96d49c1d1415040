/* The model's parameters: one table of named tensors (llava-hf names, reference/model.md §9.1)
 * with shape, dtype, flags and module. Values and gradients live in two fp32 arenas that are
 * buffers of the kernel backend (kernels.h rvk_buf, allocated through the rv_kctx): device
 * memory under CUDA. Host code never touches them directly: values come and go through the
 * staging functions below (import, export, checkpoints, random init), and the model resolves
 * device pointers into them. Code reaches a tensor by name (rv_weights_find) or by the handle
 * that returns, never by a fixed index. Checkpoint import/export, the optimizer and ZeRO
 * sharding walk the table.
 *
 * Layout order: vision, projector (+ image_newline), language model, each in checkpoint order.
 * The order is stable for a given config, so element offsets are the same on every rank. */
#ifndef RADVLM_MODEL_WEIGHTS_H
#define RADVLM_MODEL_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "kernels/kernels.h"
#include "model/config.h"

typedef enum rv_module { RV_MOD_VISION = 0, RV_MOD_PROJECTOR = 1, RV_MOD_LM = 2 } rv_module;
#define RV_MOD_COUNT 3

/* Storage dtype of a tensor in the in-memory arena (fp32 on the CPU backend; values match
 * kernels.h rvk_dtype RVK_F32/RVK_BF16/RVK_F16). Checkpoint files may hold other dtypes; the
 * importer converts. */
typedef enum rv_dtype { RV_DT_F32 = 0, RV_DT_BF16 = 1, RV_DT_F16 = 2 } rv_dtype;

enum {
    RV_WF_TRAINABLE = 1u << 0, /* receives updates (all are, by default; A.3) */
    RV_WF_DECAY = 1u << 1,     /* weight decay applies: matrices and embeddings, not biases/norms */
    RV_WF_UNUSED = 1u << 2,    /* kept for checkpoint round trips, not read by forward
                                  (SigLIP post_layernorm when post_ln is off, layers past the
                                  feature layer): its gradient stays zero */
};

#define RV_MAX_DIMS 4

typedef struct rv_wtensor {
    char *name;
    int ndim;
    int64_t shape[RV_MAX_DIMS];
    size_t numel;
    size_t offset;      /* element offset in the arenas */
    rv_dtype dtype;
    unsigned flags;
    rv_module module;
} rv_wtensor;

typedef struct rv_weights {
    rv_wtensor *t;
    size_t n;
    size_t total;       /* elements in each arena */
    rv_kctx *k;         /* backend holding the arenas (NULL for a layout-only table) */
    rvk_buf params_buf; /* [total] fp32 on k */
    rvk_buf grads_buf;  /* [total] fp32 on k, or empty until rv_weights_alloc_grads */
    float *params;      /* device pointer = params_buf.data, 64-byte aligned: never dereference on
                         * the host; stage through rv_weights_download/upload_tensor */
    float *grads;       /* device pointer into grads_buf, or NULL until rv_weights_alloc_grads */
    rv_smap index;      /* tensor name -> position in t (keys are the t[i].name strings) */
} rv_weights;

/* Builds the table for c and allocates the zeroed parameter arena on backend k (kept in w->k;
 * k must outlive w), and binds it as the backend's weight shadow range (kernels.h
 * rvk_shadow_bind: the bf16 copy the GEMMs read, where the backend keeps one; rv_weights_free
 * lets go of it). Whoever writes parameter values refreshes the copy of what it wrote
 * (rv_weights_upload_tensor does; so does the optimizer step). Out of backend memory is an error
 * naming the size. */
int rv_weights_build(rv_weights *w, const rv_model_cfg *c, rv_kctx *k, rv_err *err);
/* The table only (names, shapes, offsets, total), no arena: sizes and checks without memory. */
int rv_weights_layout(rv_weights *w, const rv_model_cfg *c, rv_err *err);
/* The zeroed parameter arena on backend k for a table from rv_weights_layout (so a checkpoint
 * can be checked against the layout before its memory is taken: rv_weights_build is layout +
 * this). On failure w is freed, as rv_weights_build does. */
int rv_weights_alloc_params(rv_weights *w, rv_kctx *k, rv_err *err);
void rv_weights_free(rv_weights *w);
/* The zeroed gradient arena on w->k (a no-op when it exists). */
int rv_weights_alloc_grads(rv_weights *w, rv_err *err);
/* Zeroes the gradient arena on the backend (rvk_fill; no host traffic). */
void rv_weights_zero_grads(rv_weights *w);

/* Handle (>= 0) of the named tensor, or -1. */
int rv_weights_find(const rv_weights *w, const char *name);
const rv_wtensor *rv_weights_get(const rv_weights *w, const char *name);
/* Device pointers into the arenas (pass them to kernels, never dereference on the host); NULL
 * when the name is absent (or grads unallocated). */
float *rv_weights_param(const rv_weights *w, const char *name);
float *rv_weights_grad(const rv_weights *w, const char *name);
/* Like rv_weights_param but fails (err names the tensor and expected numel) when absent or
 * of another size; used to resolve the model's pointers once at load. */
int rv_weights_need(const rv_weights *w, const char *name, size_t numel, float **out, rv_err *err);

/* Host staging: the one way host code reads or writes parameter values (checkpoints,
 * import/export, tests). Tensor i's values as fp32 [t[i].numel] in host memory, moved by the
 * backend (rvk_upload_async / rvk_download_async + rvk_sync): a transfer with a device
 * backend, a copy on the CPU backend. Fails (with the backend's message) if the transfer did. */
int rv_weights_download_tensor(const rv_weights *w, size_t i, float *host, rv_err *err);
int rv_weights_upload_tensor(rv_weights *w, size_t i, const float *host, rv_err *err);

/* Elements of the largest tensor (>= 1): sizes a one-tensor host staging buffer. */
size_t rv_weights_max_numel(const rv_weights *w);

/* Elements of the tensors matching module (-1 = all) whose flags include all of `flags`. */
size_t rv_weights_numel(const rv_weights *w, int module, unsigned flags);

/* Deterministic init for training from scratch: matrices ~ N(0, std) (std 0.02), norm
 * weights 1, biases 0, image_newline ~ N(0, std) (its scale only matters once trained).
 * A function of (seed, tensor name) only: generated on the host, uploaded tensor by tensor. */
int rv_weights_init_random(rv_weights *w, uint64_t seed, float std, rv_err *err);

/* Maps another checkpoint spelling to the table's name (model.md §9.2): the newer
 * transformers layout (model.vision_tower..., model.language_model..., lm_head.weight) and
 * the lmms-lab layout (model.mm_projector.0/2, model.vision_tower.vision_tower..., model.layers...).
 * Returns 1 and writes out when mapped, 0 when the name is already canonical or unknown
 * (copied as is), -1 when the tensor should be dropped (rotary inv_freq). */
int rv_weights_canonical_name(const char *name, char *out, size_t out_size);

const char *rv_module_name(rv_module m);
const char *rv_dtype_name(rv_dtype d);

#endif
