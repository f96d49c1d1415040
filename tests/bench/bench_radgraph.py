#!/usr/bin/env python3
"""Python side of tests/bench/bench_radgraph.sh: builds a RadGraph-XL-shaped model with random
weights (BERT-base encoder, DyGIE++ heads; gen_radgraph_fixture.py's "real" shapes), converts it
for the C port into OUT, then times the `radgraph` 0.1.18 package annotating the first N reports
of tests/fixtures/radgraph/chexbert_test_set.json with T torch threads, and writes its
annotations (OUT/python.jsonl) for the agreement check.
Usage: bench_radgraph.py OUT N T"""
import json
import os
import shutil
import sys
import tempfile
import time

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "radgraph"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import convert_radgraph  # noqa: E402
import gen_radgraph_fixture as gen  # noqa: E402


def main():
    out, n, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(t)
    with open(os.path.join(ROOT, "tests/fixtures/radgraph/chexbert_test_set.json"), encoding="utf-8") as f:
        d = json.load(f)
    texts = [d[k] for k in sorted(d, key=int)][:n]
    tmp = tempfile.mkdtemp()
    try:
        arch, hf, _ = gen.write_archive(tmp, "real")
        rg, _reader, _model = gen.build_model(arch, hf, "real")
        if os.path.exists(out):
            shutil.rmtree(out)
        convert_radgraph.convert(arch, hf, out)
        rg(texts[:2])  # warm-up
        t0 = time.perf_counter()
        with torch.inference_mode():
            ann = rg(texts)
        dt = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp)
    with open(os.path.join(out, "python.jsonl"), "w", encoding="utf-8") as f:
        for i in range(len(texts)):
            a = ann[str(i)]
            f.write(json.dumps([[e["start_ix"], e["end_ix"], e["label"], e["relations"]] for e in a["entities"].values()]) + "\n")
    ents = sum(len(ann[str(i)]["entities"]) for i in range(len(texts)))
    print(f"python: {len(texts)} reports in {dt:.2f} s = {len(texts) / dt:.2f} reports/s ({t} threads, {ents} entities)")


if __name__ == "__main__":
    main()
