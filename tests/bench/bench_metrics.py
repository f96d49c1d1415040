#!/usr/bin/env python3
"""Pairs/s of the C metrics against the Python references on the same pairs; prints ratios.

  pip install pycocoevalcap rouge-score==0.1.2 nltk sacrebleu
  python3 tests/bench/bench_metrics.py [--pairs 3000]

Builds tests/bench/bench_metrics.c with the eval sources (cc -O2), writes the pairs (the parity
fixture's pairs, repeated) to a temporary file, times both sides. Not a pass/fail test.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3000)
    args = ap.parse_args()
    fx = json.load(open(os.path.join(ROOT, "tests/fixtures/eval/text_metrics.json"), encoding="utf-8"))
    base = [(p["hyp"], p["ref"]) for p in fx["pairs"]]
    pairs = (base * (args.pairs // len(base) + 1))[: args.pairs]
    tmp = tempfile.mkdtemp()
    pf = os.path.join(tmp, "pairs.bin")
    with open(pf, "wb") as f:
        for h, r in pairs:
            f.write(h.encode() + b"\0" + r.encode() + b"\0")
    exe = os.path.join(tmp, "bench_metrics")
    srcs = [os.path.join(ROOT, "tests/bench/bench_metrics.c")]
    srcs += [os.path.join(ROOT, "src/eval", s) for s in sorted(os.listdir(os.path.join(ROOT, "src/eval"))) if s.endswith(".c")]
    srcs += [os.path.join(ROOT, "src/core", s) for s in ("error.c", "strbuf.c", "rng.c")]
    subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(ROOT, "src"), "-I", ROOT, "-o", exe] + srcs + ["-lm"], check=True)
    out = subprocess.run([exe, pf, "3"], check=True, capture_output=True, text=True).stdout
    c = {l.split()[0]: float(l.split()[1]) for l in out.splitlines()}

    from nltk.translate.gleu_score import corpus_gleu
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from rouge_score import rouge_scorer
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    gts = {i: [r] for i, (h, r) in enumerate(pairs)}
    res = {i: [h] for i, (h, r) in enumerate(pairs)}
    py = {}
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        Bleu(4).compute_score(gts, res)
    py["bleu"] = len(pairs) / (time.perf_counter() - t)
    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    t = time.perf_counter()
    for h, r in pairs:
        sc.score(r, h)
    py["rouge"] = len(pairs) / (time.perf_counter() - t)
    t = time.perf_counter()
    Cider().compute_score(gts, res)
    py["ciderd"] = len(pairs) / (time.perf_counter() - t)
    tok = Tokenizer13a()
    t = time.perf_counter()
    for h, r in pairs:
        # bypass the 13a lru_cache (rollouts are unseen texts); its inner regex stage stays cached, which favours Python
        corpus_gleu([[type(tok).__call__.__wrapped__(tok, r).split()]], [type(tok).__call__.__wrapped__(tok, h).split()], min_len=1, max_len=4)
    py["google_bleu"] = len(pairs) / (time.perf_counter() - t)

    print(f"{len(pairs)} pairs; pairs/s (C, 1 thread) vs Python reference (same machine, same run)")
    print(f"{'metric':<12} {'C':>12} {'Python':>12} {'ratio':>8}")
    for k in ("bleu", "rouge", "ciderd", "google_bleu", "labeler"):
        p = py.get(k)
        print(f"{k:<12} {c[k]:>12.0f} {p if p else float('nan'):>12.0f} {c[k] / p if p else float('nan'):>8.1f}")
    print("labeler: no Python reference (ours is rule-based; CheXbert is a neural model)")


if __name__ == "__main__":
    sys.exit(main())
