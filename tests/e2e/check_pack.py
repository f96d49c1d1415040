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
Image.BICUBIC in the pass order of Pillow --pillow-resize (10 or 13, the pack's data.pillow_resize;
tests/fixtures/pillow_order.py, exact under any installed Pillow), within one grey level (the
issue's bound); the largest difference is printed.

Anyres (--anyres TILES_DIR --base BASE_SHARD_DIR, for a pack with pack.image_mode=anyres):
/images/original holds, for every image, the original JPEG file's bytes (codec jpeg) or Pillow's
decode of the original file brought to 8 bits as above (codec raw), exactly, with the decoded
size in /images/original_size; the datasets a base pack writes equal
those of BASE_SHARD_DIR (the same input packed with pack.image_mode=base); and the tiles the C
loader made (TILES_DIR, written by `test_anyres --shards`: tile 56, 3x3 grids) equal HF's
LlavaOnevisionImageProcessor as transcribed with Pillow in tests/fixtures/gen_anyres_fixtures.py,
within one grey level.

usage: check_pack.py SHARD_DIR TOKENIZER_JSON --quirk on|off [--pillow [--pillow-resize 10|13]]
                     [--anyres TILES_DIR --base DIR]
"""
import os
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


def pillow_grey(path):
    """Pillow's decode of an image file, 16-bit data brought to 8 bits as pack does."""
    from PIL import Image
    with Image.open(path) as im:
        arr = np.asarray(im)
    if arr.dtype != np.uint8:
        lo, hi = int(arr.min()), int(arr.max())
        arr = ((arr.astype(np.int64) - lo) * 255 // (hi - lo) if hi > lo else arr * 0).astype(np.uint8)
    return arr


def check_anyres(f, tiles_dir, base_dir):
    """Returns the number of problems (printed)."""
    from PIL import Image
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    import gen_anyres_fixtures as hf
    bad = 0
    mode = f.attrs.get("image_mode")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "anyres":
        print(f"image_mode attribute is {mode!r}, expected 'anyres'", file=sys.stderr)
        bad += 1
    im = f["images"]
    poff, praw = im["path_offsets"][:], im["path"][:]
    ooff, osz, orig = im["original_offsets"][:], im["original_size"][:], im["original"]
    codec = im["original_codec"][:]
    names = {v: k for k, v in h5py.check_enum_dtype(im["original_codec"].dtype).items()}
    n = len(poff) - 1
    if len(ooff) != n + 1 or osz.shape != (n, 2) or len(codec) != n:
        print(f"anyres datasets do not cover the {n} images", file=sys.stderr)
        return bad + 1
    kinds = {}
    for r in range(n):
        path = bytes(praw[poff[r]:poff[r + 1]]).decode("utf-8")
        want = pillow_grey(path)
        got = orig[ooff[r]:ooff[r + 1]]
        kind = names[int(codec[r])]
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "jpeg":
            same = open(path, "rb").read() == got.tobytes()
        else:
            same = got.size == want.size and np.array_equal(got.reshape(want.shape), want)
        if tuple(osz[r]) != want.shape or not same:
            bad += 1
            print(f"image {r} ({path}): stored {kind} original {tuple(osz[r])} differs from the file / Pillow's "
                  f"decode {want.shape}", file=sys.stderr)
    print(f"originals: {n} images ({kinds}) equal the JPEG files' bytes or Pillow's decode exactly" if not bad
          else "originals: differences")
    with h5py.File(f"{base_dir}/index.h5", "r") as b:
        names = []
        b.visit(lambda k: names.append(k) if isinstance(b[k], h5py.Dataset) and not k.startswith("shards/") else None)
        for k in names:
            if not np.array_equal(b[k][()], f[k][()]):
                bad += 1
                print(f"{k}: differs from the base pack", file=sys.stderr)
        print(f"base datasets: {len(names)} compared with the base pack")
    worst, tiles, imgs = 0, 0, 0
    pins = hf.pinpoints(56, 3)
    for line in open(os.path.join(tiles_dir, "manifest.txt")):
        r, h, w, nt = map(int, line.split())
        path = bytes(praw[poff[r]:poff[r + 1]]).decode("utf-8")
        src = Image.fromarray(pillow_grey(path))
        _, ref = hf.get_image_patches(src, pins, 56)
        with Image.open(os.path.join(tiles_dir, f"tiles_{r}.pgm")) as t:
            got = np.asarray(t).astype(int)
        want = np.concatenate(ref, axis=0).astype(int)
        imgs += 1
        if (h, w) != src.size[::-1] or nt != len(ref) or got.shape != want.shape:
            bad += 1
            print(f"image {r}: {nt} tiles of a {h}x{w} image, HF makes {len(ref)} of {src.size[::-1]}", file=sys.stderr)
            continue
        d = int(np.abs(got - want).max())
        worst, tiles = max(worst, d), tiles + nt
        if d > 1:
            bad += 1
            print(f"image {r} ({path}): loader tiles differ from HF's processor by {d} grey levels", file=sys.stderr)
    if imgs != n:
        bad += 1
        print(f"the loader dumped {imgs} images' tiles, the set has {n}", file=sys.stderr)
    print(f"anyres tiles: {imgs} images, {tiles} tiles (tile 56) checked against HF's processor (Pillow), "
          f"max difference {worst} grey level(s)")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shards")
    ap.add_argument("tokenizer")
    ap.add_argument("--quirk", choices=["on", "off"], required=True)
    ap.add_argument("--pillow", action="store_true")
    ap.add_argument("--pillow-resize", type=int, choices=[10, 13], default=10)
    ap.add_argument("--anyres", metavar="TILES_DIR")
    ap.add_argument("--base", metavar="BASE_SHARD_DIR")
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
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
            import pillow_order
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
                want = np.asarray(pillow_order.resize(Image.fromarray(arr), (w, h), Image.BICUBIC,
                                                      a.pillow_resize)).astype(int)
                d = int(np.abs(want - pix[r].astype(int)).max())
                worst = max(worst, d)
                checked += 1
                if d > 1:
                    bad += 1
                    print(f"image {r} ({path}): differs from Pillow BICUBIC by {d} grey levels", file=sys.stderr)
            print(f"pixels: {checked} images checked against Pillow BICUBIC (Pillow {a.pillow_resize}'s pass order), "
                  f"max difference {worst} grey level(s)")
        if a.anyres:
            bad += check_anyres(f, a.anyres, a.base)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
