#!/usr/bin/env python3
"""Converts the published RadGraph-XL archive into the directory radvlm-hpc reads
(metrics.radgraph_model; src/eval/neural/radgraph.h, docs/metrics.md "RadGraph-XL").

The archive `radgraph-xl.tar.gz` (Hugging Face repo StanfordAIMI/RRG_scorers, what the `radgraph`
0.1.18 package downloads) holds an AllenNLP model: config.json, vocabulary/ and weights.th (a
torch state dict). Its encoder is built from the Hugging Face config of the model named in
config.json (model.embedder.token_embedders.bert.model_name) and tokenised with that model's
tokenizer, so their config.json / vocab.txt / tokenizer_config.json are needed too (--encoder-hf:
a local snapshot directory of that model; only the small files are read, not its weights).

Output directory:
  config.json              the archive's AllenNLP config, unchanged (hyper-parameters are read
                           from it: max_span_width, feature_size, feedforward_params,
                           modules.relation.spans_per_word, the embedder's max_length)
  vocabulary/              the archive's label vocabularies, unchanged
  radgraph.safetensors     the span model's tensors (every weights.th tensor outside the
                           encoder), fp32, names as in weights.th
  encoder/                 a Hugging Face BERT directory: config.json, vocab.txt,
                           tokenizer_config.json from --encoder-hf, model.safetensors = the
                           archive's fine-tuned encoder (weights.th tensors under
                           ENCODER_PREFIX, prefix removed)

Usage:
  python3 tools/convert_radgraph.py --archive radgraph-xl.tar.gz (or an extracted directory) \
      --encoder-hf /path/to/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext --out DIR
Needs torch and safetensors (pip install torch safetensors).
"""
import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile

ENCODER_PREFIX = "_embedder.token_embedder_bert._matched_embedder.transformer_model."
ENCODER_FILES = ("config.json", "vocab.txt", "tokenizer_config.json")


def fail(msg):
    sys.stderr.write("convert_radgraph: " + msg + "\n")
    sys.exit(1)


def find_model_dir(root):
    """The directory holding config.json + weights.th (archives may nest one level)."""
    for dirpath, _dirs, files in os.walk(root):
        if "config.json" in files and "weights.th" in files:
            return dirpath
    fail(f"{root}: no directory with config.json and weights.th (is this a radgraph archive?)")


def convert(model_dir, encoder_hf, out):
    import torch
    from safetensors.torch import save_file

    cfg_path = os.path.join(model_dir, "config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    try:
        name = cfg["model"]["embedder"]["token_embedders"]["bert"]["model_name"]
    except KeyError:
        fail(f"{cfg_path}: model.embedder.token_embedders.bert.model_name missing")
    for fn in ENCODER_FILES:
        if fn == "tokenizer_config.json" and not os.path.exists(os.path.join(encoder_hf, fn)):
            continue  # optional: BERT's do_lower_case then defaults to true
        if not os.path.exists(os.path.join(encoder_hf, fn)):
            fail(f"{encoder_hf}: {fn} missing (a snapshot of {name} is needed)")
    state = torch.load(os.path.join(model_dir, "weights.th"), map_location="cpu", weights_only=True)
    enc, heads = {}, {}
    for k, v in state.items():
        v = v.detach().to(torch.float32).contiguous()
        if k.startswith(ENCODER_PREFIX):
            enc[k[len(ENCODER_PREFIX):]] = v
        else:
            heads[k] = v
    if not enc:
        fail(f"{model_dir}/weights.th: no tensor under {ENCODER_PREFIX}")
    os.makedirs(os.path.join(out, "encoder"), exist_ok=True)
    shutil.copyfile(cfg_path, os.path.join(out, "config.json"))
    vdst = os.path.join(out, "vocabulary")
    if os.path.exists(vdst):
        shutil.rmtree(vdst)
    shutil.copytree(os.path.join(model_dir, "vocabulary"), vdst)
    for fn in ENCODER_FILES:
        src = os.path.join(encoder_hf, fn)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out, "encoder", fn))
    save_file(enc, os.path.join(out, "encoder", "model.safetensors"), metadata={"format": "pt"})
    save_file(heads, os.path.join(out, "radgraph.safetensors"), metadata={"format": "pt"})
    print(f"convert_radgraph: {len(enc)} encoder + {len(heads)} span-model tensors -> {out} (encoder {name})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", required=True, help="radgraph-xl.tar.gz or its extracted directory")
    ap.add_argument("--encoder-hf", required=True, help="HF snapshot dir of the encoder named in config.json")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if os.path.isdir(a.archive):
        convert(find_model_dir(a.archive), a.encoder_hf, a.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(a.archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
        convert(find_model_dir(tmp), a.encoder_hf, a.out)


if __name__ == "__main__":
    main()
