/* RadGraph-XL hyper-parameters and labels from a converted model directory: the archive's
 * AllenNLP config.json and its vocabulary/ files (AllenNLP Vocabulary.from_files format: one
 * token per line, index = line number for the non-padded "*labels" namespaces). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "eval/neural/radgraph_model.h"
#include "io/json.h"

static const cJSON *path_get(const cJSON *root, const char *const *keys, int n) {
    const cJSON *o = root;
    for (int i = 0; i < n && o; i++) o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return o;
}

/* An integer at a key path; *out untouched (and 0 returned) when absent and optional. */
static int get_int(const cJSON *root, const char *file, const char *const *keys, int n, int *out, int optional,
                   rv_err *err) {
    const cJSON *v = path_get(root, keys, n);
    char name[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(name, keys[i], sizeof name - strlen(name) - 1);
        if (i + 1 < n) strncat(name, ".", sizeof name - strlen(name) - 1);
    }
    if (!v || cJSON_IsNull(v)) {
        if (optional) return 0;
        return rv_fail(err, "%s: key %s missing (a RadGraph config.json from the archive is expected)", file, name);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e6)
        return rv_fail(err, "%s: %s must be a non-negative integer", file, name);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_num(const cJSON *root, const char *file, const char *const *keys, int n, double *out, rv_err *err) {
    const cJSON *v = path_get(root, keys, n);
    if (!v || !cJSON_IsNumber(v))
        return rv_fail(err, "%s: key %s.%s missing or not a number", file, n > 1 ? keys[n - 2] : "", keys[n - 1]);
    *out = v->valuedouble;
    return 0;
}

/* Lines of an AllenNLP vocabulary file (the final newline optional; "@@NEWLINE@@" is a newline). */
static int read_labels(const char *path, char ***labels, int *n, rv_err *err) {
    char *text;
    size_t len;
    if (rv_read_file(path, &text, &len, err) != 0) return rv_fail_wrap(err, "RadGraph label vocabulary");
    int cap = 16, m = 0;
    char **l = rv_xmalloc((size_t)cap * sizeof *l);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') continue;
        if (i == len && start == len) break; /* final newline present */
        if (m == cap) l = rv_xrealloc(l, (size_t)(cap *= 2) * sizeof *l);
        l[m++] = rv_xstrndup(text + start, i - start);
        start = i + 1;
    }
    free(text);
    *labels = l;
    *n = m;
    return 0;
}

/* The label namespace prefix: "radgraph-xl" when its files exist, else the only
 * <prefix>__ner_labels.txt in vocabulary/. */
static int find_dataset(const char *vdir, char **out, rv_err *err) {
    char *p = rv_xasprintf("%s/radgraph-xl__ner_labels.txt", vdir);
    FILE *f = fopen(p, "r");
    free(p);
    if (f) {
        fclose(f);
        *out = rv_xstrdup("radgraph-xl");
        return 0;
    }
    DIR *d = opendir(vdir);
    if (!d) return rv_fail(err, "%s: cannot open the vocabulary directory (convert the archive with tools/convert_radgraph.py)", vdir);
    struct dirent *e;
    char *found = NULL;
    int count = 0;
    const char *suf = "__ner_labels.txt";
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), ls = strlen(suf);
        if (l > ls && !strcmp(e->d_name + l - ls, suf)) {
            count++;
            free(found);
            found = rv_xstrndup(e->d_name, l - ls);
        }
    }
    closedir(d);
    if (count != 1) {
        free(found);
        return rv_fail(err, "%s: expected one <dataset>__ner_labels.txt, found %d", vdir, count);
    }
    *out = found;
    return 0;
}

int rv_rg_cfg_load(rv_rg_cfg *c, const char *dir, rv_err *err) {
    memset(c, 0, sizeof *c);
    char *file = rv_xasprintf("%s/config.json", dir);
    cJSON *root = rv_json_parse_file(file, err);
    int rc = -1;
    if (!root) {
        rv_fail_wrap(err, "RadGraph model");
        goto done;
    }
    int w2 = -1, il = 0, el = 0;
    double spw;
    if (get_int(root, file, (const char *[]){"dataset_reader", "max_span_width"}, 2, &c->max_span_width, 0, err) ||
        get_int(root, file, (const char *[]){"model", "max_span_width"}, 2, &w2, 0, err) ||
        get_int(root, file, (const char *[]){"model", "feature_size"}, 2, &c->feature_size, 0, err) ||
        get_int(root, file, (const char *[]){"model", "feedforward_params", "num_layers"}, 3, &c->ffnn_layers, 0, err) ||
        get_num(root, file, (const char *[]){"model", "modules", "relation", "spans_per_word"}, 4, &spw, err) ||
        get_int(root, file, (const char *[]){"dataset_reader", "token_indexers", "bert", "max_length"}, 4, &il, 1, err) ||
        get_int(root, file, (const char *[]){"model", "embedder", "token_embedders", "bert", "max_length"}, 5, &el, 1, err))
        goto done;
    if (w2 != c->max_span_width || c->max_span_width < 1) {
        rv_fail(err, "%s: dataset_reader.max_span_width %d and model.max_span_width %d must be equal and >= 1", file,
                c->max_span_width, w2);
        goto done;
    }
    if (il != el) {
        rv_fail(err, "%s: the indexer's max_length %d differs from the embedder's %d (both fold the wordpieces)", file, il, el);
        goto done;
    }
    if (el != 0 && el < 3) {
        rv_fail(err, "%s: max_length %d leaves no room for wordpieces next to [CLS] and [SEP]", file, el);
        goto done;
    }
    c->max_length = el;
    c->spans_per_word = (float)spw;
    if (c->ffnn_layers < 1 || c->ffnn_layers > 8) {
        rv_fail(err, "%s: model.feedforward_params.num_layers %d outside 1..8", file, c->ffnn_layers);
        goto done;
    }
    const cJSON *hd = path_get(root, (const char *[]){"model", "feedforward_params", "hidden_dims"}, 3);
    for (int l = 0; l < c->ffnn_layers; l++) {
        const cJSON *v = cJSON_IsArray(hd) ? cJSON_GetArrayItem(hd, l) : hd;
        if (!v || !cJSON_IsNumber(v) || v->valuedouble < 1) {
            rv_fail(err, "%s: model.feedforward_params.hidden_dims must be a positive int or a list of %d", file, c->ffnn_layers);
            goto done;
        }
        c->ffnn_hidden[l] = (int)v->valuedouble;
    }
    /* What this port leaves out must be off in the model: coref propagation changes the span
     * embeddings; a scalar mix changes the word vectors; without ner / relation there is
     * nothing to annotate. */
    int cp = 0;
    if (get_int(root, file, (const char *[]){"model", "modules", "coref", "coref_prop"}, 4, &cp, 1, err)) goto done;
    if (cp != 0) {
        rv_fail(err, "%s: model.modules.coref.coref_prop = %d: coreference propagation is outside this port (it runs "
                "radgraph-xl, which has coref_prop 0); use the radgraph-xl archive (docs/metrics.md)", file, cp);
        goto done;
    }
    const cJSON *llo = path_get(root, (const char *[]){"model", "embedder", "token_embedders", "bert", "last_layer_only"}, 5);
    if (llo && cJSON_IsFalse(llo)) {
        rv_fail(err, "%s: last_layer_only = false (a scalar mix of encoder layers) is outside this port (radgraph-xl "
                "uses the last layer only); use the radgraph-xl archive (docs/metrics.md)", file);
        goto done;
    }
    double lw;
    if (get_num(root, file, (const char *[]){"model", "loss_weights", "ner"}, 3, &lw, err)) goto done;
    if (!(lw > 0)) {
        rv_fail(err, "%s: model.loss_weights.ner must be > 0 (the NER module makes the entities)", file);
        goto done;
    }
    if (get_num(root, file, (const char *[]){"model", "loss_weights", "relation"}, 3, &lw, err)) goto done;
    if (!(lw > 0)) {
        rv_fail(err, "%s: model.loss_weights.relation must be > 0 (the relation module makes the relations)", file);
        goto done;
    }

    char *vdir = rv_xasprintf("%s/vocabulary", dir);
    if (find_dataset(vdir, &c->dataset, err) == 0) {
        char *pn = rv_xasprintf("%s/%s__ner_labels.txt", vdir, c->dataset);
        char *pr = rv_xasprintf("%s/%s__relation_labels.txt", vdir, c->dataset);
        if (read_labels(pn, &c->ner_labels, &c->n_ner, err) == 0 && read_labels(pr, &c->rel_labels, &c->n_rel, err) == 0) {
            if (c->n_ner < 2 || strcmp(c->ner_labels[0], "") != 0)
                rv_fail(err, "%s: the first line must be the empty null label, then at least one label", pn);
            else if (c->n_rel < 1)
                rv_fail(err, "%s: no relation label", pr);
            else
                rc = 0;
        }
        free(pn);
        free(pr);
    }
    free(vdir);
done:
    cJSON_Delete(root);
    free(file);
    if (rc != 0) rv_rg_cfg_free(c);
    return rc;
}

void rv_rg_cfg_free(rv_rg_cfg *c) {
    for (int i = 0; i < c->n_ner; i++) free(c->ner_labels[i]);
    for (int i = 0; i < c->n_rel; i++) free(c->rel_labels[i]);
    free(c->ner_labels);
    free(c->rel_labels);
    free(c->dataset);
    memset(c, 0, sizeof *c);
}
