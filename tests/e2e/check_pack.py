#!/usr/bin/env python3
"""Independent check of a packed shard directory (used by test_pack.sh).

Tokens: every sample's conversation (/samples/text) is rendered again with the qwen_1_5 chat
template and encoded with the Hugging Face `tokenizers` library, and the labels are rebuilt from
the rules of reference/train.md A.5 as written there (system and user turns -100, assistant turns
trained with their header and trailer; with the quirk, every "\\n", <|im_start|> and <|im_end|>
token trained everywhere; <image> -> -200, never trained). Both must equal the stored tokens and
loss mask.

Pixels (--pillow): every stored image must equal Pillow's decode of the original file, 16-bit
data brought to 8 bits by (v - min) * 255 // (max - min), resized to the stored size with
Image.BICUBIC, within one grey level (the issue's bound); the largest difference is printed.

usage: check_pack.py SHARD_DIR TOKENIZER_JSON --quirk on|off [--pillow]
"""
import argparse
import json
import sys

import h5py
import numpy as np
from tokenizers import Tokenizer

SYSTEM = "You are a helpful assistant."


def expected(tok, turns, quirk, image_id, newline, im_start, im_end):
    blocks = [("system", SYSTEM, 0)]
    for i, t in enumerate(turns):
        role = {"human": "user", "gpt": "assistant"}.get(t["from"], t["from"])
        if i == 0 and role != "user":
            continue  # upstream drops a leading non-user turn
        blocks.append((role, t["value"], 0 if role in ("user", "system") else 1))
    ids, labels = [], []
    for role, content, m in blocks:
        e = tok.encode(f"<|im_start|>{role}\n{content}<|im_end|>\n", add_special_tokens=False).ids
        ids += e
        labels += [m] * len(e)
    for i, x in enumerate(ids):
        if quirk and x in (newline, im_start, im_end):
            labels[i] = 1
        if x == image_id:
            ids[i], labels[i] = -200, 0
    return ids, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shards")
    ap.add_argument("tokenizer")
    ap.add_argument("--quirk", choices=["on", "off"], required=True)
    ap.add_argument("--pillow", action="store_true")
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    if tok.token_to_id("<image>") is None:
        tok.add_special_tokens(["<image>"])  # as upstream's preprocess_qwen does
    image_id = tok.token_to_id("<image>")
    newline = tok.encode("\n", add_special_tokens=False).ids
    newline = newline[0] if len(newline) == 1 else None
    im_start, im_end = tok.token_to_id("<|im_start|>"), tok.token_to_id("<|im_end|>")
    bad = 0
    with h5py.File(f"{a.shards}/index.h5", "r") as f:
        s = f["samples"]
        toff, tokens, mask = s["token_offsets"][:], s["tokens"][:], s["loss_mask"][:]
        xoff, text = s["text_offsets"][:], s["text"][:]
        n = len(toff) - 1
        trained = 0
        for i in range(n):
            turns = json.loads(bytes(text[xoff[i]:xoff[i + 1]]).decode("utf-8"))
            want_ids, want_mask = expected(tok, turns, a.quirk == "on", image_id, newline, im_start, im_end)
            got_ids = tokens[toff[i]:toff[i + 1]].tolist()
            got_mask = mask[toff[i]:toff[i + 1]].tolist()
            trained += sum(got_mask)
            if got_ids != want_ids or got_mask != want_mask:
                bad += 1
                if bad <= 3:
                    print(f"sample {i}: tokens/mask differ from HF tokenizers + train.md A.5\n"
                          f"  ids  got {got_ids[:40]}\n       want {want_ids[:40]}\n"
                          f"  mask got {got_mask[:40]}\n       want {want_mask[:40]}", file=sys.stderr)
        print(f"tokens: {n} samples checked against HF tokenizers, {bad} differ; {trained} trained tokens")
        if a.pillow:
            from PIL import Image
            poff, praw = f["images/path_offsets"][:], f["images/path"][:]
            pix = f["images/pixels"]
            h, w = pix.shape[1], pix.shape[2]
            worst, checked = 0, 0
            for r in range(len(poff) - 1):
                path = bytes(praw[poff[r]:poff[r + 1]]).decode("utf-8")
                with Image.open(path) as im:
                    arr = np.asarray(im)
                if arr.dtype != np.uint8:
                    lo, hi = int(arr.min()), int(arr.max())
                    arr = ((arr.astype(np.int64) - lo) * 255 // (hi - lo) if hi > lo else arr * 0).astype(np.uint8)
                want = np.asarray(Image.fromarray(arr).resize((w, h), Image.BICUBIC)).astype(int)
                d = int(np.abs(want - pix[r].astype(int)).max())
                worst = max(worst, d)
                checked += 1
                if d > 1:
                    bad += 1
                    print(f"image {r} ({path}): differs from Pillow BICUBIC by {d} grey levels", file=sys.stderr)
            print(f"pixels: {checked} images checked against Pillow BICUBIC, max difference {worst} grey level(s)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
