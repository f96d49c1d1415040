#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (pytorch_model.bin, a CheXbert-style .pth / .pt, an AllenNLP
weights.th) into the model.safetensors that radvlm-hpc's text encoders read (src/textenc/,
docs/metrics.md "Text encoders"). A one-time step on a machine with torch; the program itself
never needs Python.

Why a converter rather than a C reader of PyTorch's zip/pickle format: a .pth is a pickle, and
reading one faithfully means implementing the pickle virtual machine plus torch's storage
reconstruction for every layout torch has written over the years (legacy tar format, zip, shared
storages, views); a program that runs it on user-supplied files also inherits pickle's
arbitrary-code-execution surface. safetensors is a flat header + bytes that io/safetensors.c
validates completely. So conversion happens once, here, with torch.load(weights_only=True).

What it does:
  - loads the checkpoint on the CPU (weights_only: tensors and plain containers only);
  - takes the state dict from the top level or from a nested key (--key, else the first of
    model_state_dict, state_dict, model that holds a dict of tensors);
  - optionally strips a name prefix (--strip module.) — the encoder also finds its tensors under
    any prefix by itself, so this is cosmetic;
  - keeps floating tensors (F32/F16/BF16 as stored; others, e.g. int64 position_ids buffers, are
    listed and dropped), clones each one so shared storages (tied weights) are written twice;
  - writes OUT_DIR/model.safetensors, and copies --config (a config.json) and every file of
    --tokenizer-dir (vocab.txt, tokenizer_config.json, vocab.json, merges.txt, ...) next to it.

Example (CheXbert: BERT-base + 14 heads, trained from bert-base-uncased):
  python3 tools/convert_pth.py chexbert.pth ~/models/chexbert --config bert-base-uncased/config.json \
      --tokenizer-dir bert-base-uncased
"""
import argparse
import os
import shutil
import sys


def find_state_dict(obj, key):
    import torch
    if key:
        for part in key.split("."):
            obj = obj[part]
        return obj
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    for k in ("model_state_dict", "state_dict", "model"):
        v = obj.get(k) if isinstance(obj, dict) else None
        if isinstance(v, dict) and any(isinstance(x, torch.Tensor) for x in v.values()):
            return v
    sys.exit("no state dict found at the top level or under model_state_dict / state_dict / model; "
             "name it with --key (top-level keys: %s)" % (list(obj)[:20] if isinstance(obj, dict) else type(obj)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--key", help="dotted path of the state dict inside the checkpoint")
    ap.add_argument("--strip", default="", help="name prefix to remove (e.g. 'module.')")
    ap.add_argument("--config", help="a config.json to copy next to the weights")
    ap.add_argument("--tokenizer-dir", help="a directory whose tokenizer files are copied next to the weights")
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    obj = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    sd = find_state_dict(obj, args.key)
    out, dropped = {}, []
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            dropped.append(name)
            continue
        if t.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            dropped.append("%s (%s)" % (name, t.dtype))
            continue
        if args.strip and name.startswith(args.strip):
            name = name[len(args.strip):]
        if name in out:
            sys.exit("two tensors become '%s' after stripping '%s'" % (name, args.strip))
        out[name] = t.detach().clone().contiguous()
    if not out:
        sys.exit("the state dict holds no floating-point tensors")
    os.makedirs(args.out_dir, exist_ok=True)
    save_file(out, os.path.join(args.out_dir, "model.safetensors"), metadata={"format": "pt"})
    if args.config:
        shutil.copy(args.config, os.path.join(args.out_dir, "config.json"))
    if args.tokenizer_dir:
        for fn in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.json"):
            p = os.path.join(args.tokenizer_dir, fn)
            if os.path.isfile(p):
                shutil.copy(p, os.path.join(args.out_dir, fn))
    print("wrote %s: %d tensors%s" % (os.path.join(args.out_dir, "model.safetensors"), len(out),
                                      "; dropped: " + ", ".join(dropped) if dropped else ""))
    if not os.path.isfile(os.path.join(args.out_dir, "config.json")):
        print("note: no config.json in %s yet; the encoder needs HF's config.json (pass --config)" % args.out_dir)


if __name__ == "__main__":
    main()
