#!/usr/bin/env python3
"""transformers' side of bench_encoder.sh: the same texts (one a line), tokenized up front with
the slow BertTokenizer (truncation 512) like bench_encoder.c, then BertModel/DistilBertModel/
RobertaModel forwards in batches of BATCH sequences (padded, with an attention mask, the way
bert_score batches) with torch limited to THREADS threads. Prints sequences/s.
Usage: bench_encoder_hf.py MODEL_DIR TEXTS.txt THREADS BATCH"""
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer

d, texts, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
lines = [l.rstrip("\n") for l in open(texts, encoding="utf-8")]
try:  # the slow BertTokenizer, as the C side reproduces it (transformers 5 keeps it as *Legacy)
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    import json, os
    mt = json.load(open(os.path.join(d, "config.json")))["model_type"]
    tok = BertTokenizerLegacy.from_pretrained(d) if mt in ("bert", "distilbert") else AutoTokenizer.from_pretrained(d)
except ImportError:
    tok = AutoTokenizer.from_pretrained(d, use_fast=False)
model = AutoModel.from_pretrained(d).eval()
enc = [tok(l, truncation=True, max_length=512)["input_ids"] for l in lines]
pad = tok.pad_token_id
t0 = time.perf_counter()
with torch.inference_mode():
    for i in range(0, len(enc), batch):
        chunk = enc[i:i + batch]
        L = max(len(x) for x in chunk)
        ids = torch.tensor([x + [pad] * (L - len(x)) for x in chunk])
        mask = torch.tensor([[1] * len(x) + [0] * (L - len(x)) for x in chunk])
        model(input_ids=ids, attention_mask=mask)
dt = time.perf_counter() - t0
print("transformers: %d sequences (%d tokens) in %.3f s: %.1f sequences/s (threads %d, batch %d)"
      % (len(enc), sum(len(x) for x in enc), dt, len(enc) / dt, threads, batch))
