/* Hugging Face model directories (safetensors + config.json + tokenizer and other small files)
 * as a model-level module: load one into a weights table, or save a table as one, so that the
 * import/export phases, sft, grpo and eval can all start from (or end at) an HF directory.
 *
 * Names: the llava-hf layout (reference/model.md §9.1) is written; the other spellings of §9.2
 * are accepted on load (rv_weights_canonical_name). Values are held as fp32, which holds F16 and
 * BF16 exactly, so saving in the loaded dtype reproduces the original bits. */
#ifndef RADVLM_MODEL_HF_H
#define RADVLM_MODEL_HF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"

/* Small files of an HF model directory carried through a checkpoint unchanged, in this order. */
#define RV_HF_N_SIDE_FILES 11
extern const char *const rv_hf_side_files[RV_HF_N_SIDE_FILES];

typedef struct rv_hf_file {
    char *name;        /* plain file name, e.g. "tokenizer.json" */
    char *data;        /* malloc'd, NUL-terminated */
    size_t len;
} rv_hf_file;

typedef struct rv_hf_info {
    char *config_text;     /* the config.json text (malloc'd) */
    char *config_path;     /* where it was read (malloc'd) */
    char dtype[8];         /* the tensors' common dtype: "F32", "F16", "BF16", or "mixed" */
    size_t nfiles;         /* safetensors files read */
    size_t dropped;        /* rotary inv_freq buffers ignored */
} rv_hf_info;

/* Loads an HF model. from: a model directory, a .safetensors file or an index .json.
 * config_path: NULL or "" = config.json next to the weights. Parses the config into *cfg,
 * builds *w for it on backend k (rv_weights_build) and fills every tensor: every file tensor must map to a
 * table tensor of the same shape, every table tensor must be present, under one spelling only,
 * in F32/F16/BF16. Errors name the file, the tensor and, for shapes, the config.json keys that
 * decide it. On failure nothing is left allocated (w is freed, info cleared). */
int rv_hf_load(const char *from, const char *config_path, rv_kctx *k, rv_model_cfg *cfg, rv_weights *w,
               rv_hf_info *info, rv_err *err);
void rv_hf_info_free(rv_hf_info *info);

/* Reads the side files present in dir (rv_hf_side_files order). tokenizer_path, when non-empty,
 * replaces dir/tokenizer.json and must exist. *files is malloc'd; free with rv_hf_files_free. */
int rv_hf_read_side_files(const char *dir, const char *tokenizer_path, rv_hf_file **files, size_t *n, rv_err *err);
void rv_hf_files_free(rv_hf_file *files, size_t n);

/* Saves w as an HF directory `to` (created): the tensors in llava-hf names and table order as
 * dtype dt, in one file or shards of at most max_shard bytes (0 = one file) with an index;
 * config.json = model_config_json with torch_dtype (and dtype where present) set to dt; then the
 * side files, byte for byte. *nshards (may be NULL) receives the number of safetensors files. */
int rv_hf_save(const char *to, const rv_weights *w, const char *model_config_json, rv_st_dtype dt, uint64_t max_shard,
               const rv_hf_file *files, size_t nfiles, int *nshards, rv_err *err);

/* transformers' convert_file_size_to_int: "5GB" = 5*10^9, "2GiB" = 2*2^30, plain digits = bytes.
 * Returns 0, or -1 when s is not a size. */
int rv_hf_parse_size(const char *s, uint64_t *out);

#endif
