#!/usr/bin/env bash
# Tokenizer benchmark: ours vs HF tokenizers (pip install tokenizers) on the same texts, one
# thread and all threads, printed as tokens/s and ratios. Not a pass/fail test.
# Usage: tests/bench/bench_tokenizer.sh [BUILD_DIR] [TOKENIZER_JSON] [MB]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
TOK=${2:-$ROOT/tests/fixtures/tokenizer/hf_trained.json}
MB=${3:-4}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target radvlm -j2 >/dev/null
cc -O2 -std=c11 -fopenmp -I "$ROOT/src" -I "$ROOT" "$ROOT/tests/bench/bench_tokenizer.c" "$BUILD/libradvlm.a" \
   $(pkg-config --cflags --libs libcjson) -lm -o "$WORK/bench_tokenizer"
# texts: the parity corpus and training corpus, repeated up to MB megabytes
python3 - "$ROOT/tests/fixtures/tokenizer/corpus.json" "$WORK/texts.json" "$MB" <<'PY'
import json, sys
c = json.load(open(sys.argv[1], encoding="utf-8"))
base = [it["text"] for it in c["items"]] + c["train_corpus"]
out, size, k = [], 0, 0
while size < float(sys.argv[3]) * 1e6:
    s = base[k % len(base)] + " " + str(k)
    out.append(s); size += len(s.encode()); k += 1
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
echo "tokenizer: $TOK; texts: ${MB} MB; cores: $(nproc)"
OURS=$("$WORK/bench_tokenizer" "$TOK" "$WORK/texts.json")
HF1=$(python3 "$ROOT/tests/bench/bench_tokenizer_hf.py" "$TOK" "$WORK/texts.json" 1)
HFN=$(python3 "$ROOT/tests/bench/bench_tokenizer_hf.py" "$TOK" "$WORK/texts.json" "$(nproc)")
echo "$OURS"; echo "$HF1"; echo "$HFN"
tps() { sed -n 's/.*tokens_per_s=\([0-9]*\).*/\1/p'; }
O1=$(echo "$OURS" | sed -n 1p | tps); ON=$(echo "$OURS" | sed -n 2p | tps)
H1=$(echo "$HF1" | tps); HN=$(echo "$HFN" | tps)
awk -v a="$O1" -v b="$H1" -v c="$ON" -v d="$HN" 'BEGIN { printf "ratio ours/HF: 1 thread %.2fx, all threads %.2fx\n", a/b, c/d }'
