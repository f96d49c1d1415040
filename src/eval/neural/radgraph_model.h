/* The DyGIE++ span model of RadGraph-XL (radgraph 0.1.18 dygie/models: dygie.py, ner.py,
 * relation.py, entity_beam_pruner.py) with coref and events off, over word vectors: every span
 * up to max_span_width words, span = [x_start, x_end, width embedding], the NER scorer (fixed 0
 * null logit, argmax, no overlap decoding), mention pruning to ceil(spans_per_word * words)
 * spans, and the pairwise relation scorer over [e_i, e_j, e_i * e_j] plus both mention scores.
 * Hyper-parameters come from the AllenNLP config.json of a converted model directory
 * (tools/convert_radgraph.py), label names from its vocabulary/. */
#ifndef RADVLM_EVAL_NEURAL_RADGRAPH_MODEL_H
#define RADVLM_EVAL_NEURAL_RADGRAPH_MODEL_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/kernels.h"

typedef struct rv_rg_cfg {
    int max_span_width;    /* dataset_reader.max_span_width (= model.max_span_width) */
    int feature_size;      /* model.feature_size: span width embedding size */
    int ffnn_layers;       /* model.feedforward_params.num_layers */
    int ffnn_hidden[8];    /* model.feedforward_params.hidden_dims (an int or a list) */
    float spans_per_word;  /* model.modules.relation.spans_per_word (fp32, as torch multiplies) */
    int max_length;        /* the embedder's max_length: wordpiece segment size; 0 = no folding */
    char *dataset;         /* label namespace prefix, e.g. "radgraph-xl" */
    int n_ner;             /* NER labels including the null label "" at 0 */
    char **ner_labels;     /* [n_ner] */
    int n_rel;             /* relation labels (no null label) */
    char **rel_labels;     /* [n_rel] */
} rv_rg_cfg;

/* Reads dir/config.json and dir/vocabulary/<dataset>__{ner,relation}_labels.txt. Refuses
 * configurations this port does not implement (coref propagation, a scalar mix of layers, ner
 * or relation off), naming the key. */
int rv_rg_cfg_load(rv_rg_cfg *c, const char *dir, rv_err *err);
void rv_rg_cfg_free(rv_rg_cfg *c);

/* A feed-forward stack (AllenNLP FeedForward, ReLU after every layer) and its output linear. */
typedef struct rv_rg_ffnn {
    int nl;
    int in[8], out[8];
    float *w[8], *b[8]; /* w[l]: [out[l], in[l]] (layer 0: unused, split into parts below) */
    int nparts;         /* layer 0's input split into parts (columns of w[0]), each [out[0], part] */
    int part_dim[3];
    float *w0_part[3];
    int n_out;          /* the scorer after the stack: w_out [n_out, out[nl-1]], b_out [n_out] */
    float *w_out, *b_out;
} rv_rg_ffnn;

typedef struct rv_rg_heads {
    int C;               /* word vector size (the encoder's hidden size) */
    int D;               /* span embedding size 2C + feature_size */
    float *width_emb;    /* [max_span_width, feature_size] */
    rv_rg_ffnn ner;      /* parts [C, C, F]; n_out = n_ner - 1 */
    rv_rg_ffnn prune;    /* parts [C, C, F]; n_out = 1 */
    rv_rg_ffnn rel;      /* parts [D, D, D] (e_i, e_j, e_i*e_j); n_out = n_rel */
} rv_rg_heads;

/* Loads the span model's tensors from path (radgraph.safetensors) for word vectors of size C,
 * checking every shape against cfg. Errors name the file and the tensor. */
int rv_rg_heads_load(rv_rg_heads *h, const rv_rg_cfg *cfg, int C, const char *path, rv_err *err);
void rv_rg_heads_free(rv_rg_heads *h);

typedef struct rv_rg_ent { int start, end, label; } rv_rg_ent;              /* inclusive words */
typedef struct rv_rg_rel { int s1, e1, s2, e2, label; } rv_rg_rel;           /* label: rel index */

typedef struct rv_rg_pred {
    rv_rg_ent *ents; /* in span order (start, then end) */
    size_t n_ents;
    rv_rg_rel *rels; /* in (source, target) order over the kept spans sorted by position */
    size_t n_rels;
} rv_rg_pred;

/* Predicts entities and relations of one text from its word vectors x: host [n, C]. kc: a CPU
 * kernel context (host memory); the heads are small next to the encoder. n = 0 gives nothing. */
int rv_rg_predict(const rv_rg_heads *h, const rv_rg_cfg *cfg, rv_kctx *kc, const float *x, int n, rv_rg_pred *out,
                  rv_err *err);
void rv_rg_pred_free(rv_rg_pred *p);

#endif
