#!/usr/bin/env python3
"""HF tokenizers throughput on the same texts (encode_batch, no special tokens added).
Usage: bench_tokenizer_hf.py tokenizer.json texts.json threads  (threads=1 sets RAYON_NUM_THREADS)."""
import json
import os
import sys
import time

if sys.argv[3] == "1":
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

tok = Tokenizer.from_file(sys.argv[1])
texts = json.load(open(sys.argv[2], encoding="utf-8"))
best, ntok = 1e30, 0
for _ in range(3):
    t0 = time.perf_counter()
    enc = tok.encode_batch(texts, add_special_tokens=False)
    dt = time.perf_counter() - t0
    best = min(best, dt)
    ntok = sum(len(e.ids) for e in enc)
print("hf threads=%s tokens=%d seconds=%.4f tokens_per_s=%.0f" % (sys.argv[3], ntok, best, ntok / best))
