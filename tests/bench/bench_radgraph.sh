#!/usr/bin/env bash
# RadGraph-XL annotation speed: the C port (bench_radgraph) against the `radgraph` 0.1.18 package
# on the same random-weight model of radgraph-xl's shapes (BERT-base encoder, DyGIE++ heads),
# the same reports (the first N of tests/fixtures/radgraph/chexbert_test_set.json) and the same
# thread count; prints reports/s of both, their ratio, and how many annotations agree exactly.
# Not a test: it prints numbers and never fails on them; exits 0 with "skipped: ..." when the
# Python side is missing.
# Usage: tests/bench/bench_radgraph.sh [BUILD_DIR]
# Environment: N (100 reports), THREADS (2), PYTHON (a python with radgraph==0.1.18, torch,
# transformers 4.x, nltk<=3.9, dotmap, safetensors; default /tmp/venv-j3/bin/python).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
N=${N:-100}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/tmp/venv-j3/bin/python}
if ! "$PYTHON" -c "import radgraph, torch, transformers, dotmap, safetensors" 2>/dev/null; then
  echo "skipped: $PYTHON lacks radgraph 0.1.18 / torch / transformers 4.x / dotmap / safetensors"; exit 0
fi
OUT=$BUILD/bench_radgraph_model
OMP_NUM_THREADS=$THREADS "$PYTHON" "$ROOT/tests/bench/bench_radgraph.py" "$OUT" "$N" "$THREADS" 2>/dev/null | tee "$BUILD/bench_radgraph_py.txt"
OMP_NUM_THREADS=$THREADS "$BUILD/bench_radgraph" "$OUT" "$N" "$THREADS" "$OUT/c.jsonl" | tee "$BUILD/bench_radgraph_c.txt"
py=$(sed -n 's/.* = \([0-9.]*\) reports\/s.*/\1/p' "$BUILD/bench_radgraph_py.txt")
c=$(sed -n 's/.* = \([0-9.]*\) reports\/s.*/\1/p' "$BUILD/bench_radgraph_c.txt")
python3 - "$OUT" "$py" "$c" <<'PY'
import json, sys
out, py, c = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
a = [json.loads(l) for l in open(out + "/python.jsonl")]
b = [json.loads(l) for l in open(out + "/c.jsonl")]
same = sum(x == y for x, y in zip(a, b))
print(f"C / Python: {c / py:.2f}x; annotations identical: {same} of {len(a)}")
PY
