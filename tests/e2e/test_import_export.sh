#!/usr/bin/env bash
# Import/export end to end through the binary: tiny HF checkpoints written by
# tests/fixtures/ckpt/gen_ckpt_fixture.py (F16 llava-hf names in one file; BF16 newer-transformers
# names in 3 shards) -> import -> export -> import -> export. Checks: the exported tensors have the
# source's exact bytes (read back by a plain-Python safetensors parser, and by huggingface
# safetensors when installed), the second export is byte-identical to the first, side files are
# carried unchanged, a sharded export re-imports to the same weights, 2 ranks give the same result
# as 1, and bad input fails with a message naming the tensor or key.
# usage: test_import_export.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
GEN="$SRC/tests/fixtures/ckpt/gen_ckpt_fixture.py"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

# Compares the tensors of two HF directories by bytes; argv: src out style (style = the
# spelling of src, see gen_ckpt_fixture.respell). Stdlib only.
cat > cmp_st.py <<'EOF'
import json, os, struct, sys
sys.path.insert(0, os.environ["FIXDIR"])
from gen_ckpt_fixture import hf_tensors, respell, TINY

def load(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    out = {}
    for fn in files:
        b = open(os.path.join(d, fn), "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            out[k] = (v["dtype"], v["shape"], b[8 + n + s:8 + n + e])
    return out

src, out, style = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
tie = sys.argv[4] == "1" if len(sys.argv) > 4 else True
names = [n for n, _ in hf_tensors(dict(TINY, tie=tie))]
bad = [n for n in names if src.get(respell(n, style)) != out.get(n)]
extra = set(out) - set(names)
if bad or extra or len(src) != len(names):
    print("differ:", bad[:5], "extra:", sorted(extra)[:5], len(src), len(names))
    sys.exit(1)
print("same %d tensors" % len(names))
EOF
export FIXDIR="$SRC/tests/fixtures/ckpt"

python3 "$GEN" hf hf16 --dtype F16 >gen.log 2>&1 && ok || { bad "fixture generator"; cat gen.log >&2; exit 1; }
python3 "$GEN" hf hfbf --dtype BF16 --names new --shards 3 --seed 1 >>gen.log 2>&1 && ok || bad "fixture generator (bf16)"

for c in hf16:hf hfbf:new; do
  d=${c%%:*}; style=${c##*:}
  "$BIN" --phase import --set import.from="$PWD/$d" --run $d.r1 >$d.i1.log 2>&1 && ok || { bad "import $d"; cat $d.i1.log >&2; continue; }
  [ -f $d.r1/checkpoints/step-00000000.h5 ] && ok || bad "$d: no checkpoint"
  cmp -s $d/tokenizer.json $d.r1/tokenizer.json && ok || bad "$d: RUN/tokenizer.json differs"
  "$BIN" --phase export --set export.to="$PWD/$d.e1" --run $d.r1 >$d.x1.log 2>&1 && ok || { bad "export $d"; cat $d.x1.log >&2; continue; }
  python3 cmp_st.py $d $d.e1 $style >$d.cmp.log 2>&1 && ok || { bad "$d: exported tensors differ from the source"; cat $d.cmp.log >&2; }
  for f in tokenizer.json generation_config.json; do cmp -s $d/$f $d.e1/$f && ok || bad "$d: $f not carried"; done
  "$BIN" --phase import --set import.from="$PWD/$d.e1" --run $d.r2 >$d.i2.log 2>&1 && ok || { bad "re-import $d"; cat $d.i2.log >&2; }
  "$BIN" --phase export --set export.to="$PWD/$d.e2" --run $d.r2 >$d.x2.log 2>&1 && ok || bad "re-export $d"
  for f in model.safetensors config.json tokenizer.json; do
    cmp -s $d.e1/$f $d.e2/$f && ok || bad "$d: $f differs between the first and second export"
  done
done
has '"torch_dtype": "bfloat16"' hfbf.e1/config.json
has "(BF16, 3 file(s))" hfbf.i1.log

# sharded export -> import -> single-file export: the same bytes; f16 -> f32 -> f16 is exact
"$BIN" --phase export --set export.to="$PWD/sh" --set export.max_shard_size=12x --run hf16.r1 >sh0.log 2>&1 \
  && bad "a bad max_shard_size was accepted" || ok
has "export.max_shard_size='12x'" sh0.log
"$BIN" --phase export --set export.to="$PWD/sh" --set export.max_shard_size=100KB --run hf16.r1 >sh1.log 2>&1 && ok || { bad "sharded export"; cat sh1.log >&2; }
[ -f sh/model.safetensors.index.json ] && [ -f sh/model-00003-of-00003.safetensors ] && [ ! -e sh/model.safetensors ] && ok || bad "expected 3 shards: $(ls sh)"
"$BIN" --phase import --set import.from="$PWD/sh" --run sh.r1 >sh2.log 2>&1 && ok || { bad "import sharded export"; cat sh2.log >&2; }
"$BIN" --phase export --set export.to="$PWD/sh.e1" --run sh.r1 >sh3.log 2>&1 && ok || bad "export after sharded import"
cmp -s hf16.e1/model.safetensors sh.e1/model.safetensors && ok || bad "sharded round trip is not bit-exact"
"$BIN" --phase export --set export.to="$PWD/f32" --set export.dtype=f32 --run hf16.r1 >f32.log 2>&1 && ok || { bad "f32 export"; cat f32.log >&2; }
has '"torch_dtype": "float32"' f32/config.json
"$BIN" --phase import --set import.from="$PWD/f32" --run f32.r >f32.i.log 2>&1 && ok || { bad "import f32 export"; cat f32.i.log >&2; }
"$BIN" --phase export --set export.to="$PWD/f32.e" --set export.dtype=f16 --run f32.r >f32.x.log 2>&1 && ok || bad "f16 export of f32 import"
cmp -s hf16.e1/model.safetensors f32.e/model.safetensors && ok || bad "f16 -> f32 -> f16 is not bit-exact"

# 2 ranks: rank 0 writes, the result is the same
if command -v mpirun >/dev/null; then
  mpirun -n 2 "$BIN" --phase import --set import.from="$PWD/hf16" --run mp.r >mp.log 2>&1 && ok || { bad "mpirun import"; cat mp.log >&2; }
  mpirun -n 2 "$BIN" --phase export --set export.to="$PWD/mp.e" --run mp.r >>mp.log 2>&1 && ok || bad "mpirun export"
  cmp -s hf16.e1/model.safetensors mp.e/model.safetensors && ok || bad "2-rank export differs"
fi

# huggingface safetensors, when installed, reads what we wrote
if python3 -c "import safetensors, numpy" 2>/dev/null; then
  python3 - hf16.e1/model.safetensors hfbf.e1/model.safetensors >st.log 2>&1 <<'EOF' && ok || { bad "safetensors cannot read our export"; cat st.log >&2; }
import sys
from safetensors import safe_open, deserialize
f = safe_open(sys.argv[1], "np")
assert len(list(f.keys())) == 68, len(list(f.keys()))
assert f.get_tensor("image_newline").dtype.name == "float16"
t = deserialize(open(sys.argv[2], "rb").read())
assert len(t) == 68 and all(v["dtype"] == "BF16" for _, v in t), "bf16 export"
print("ok")
EOF
else
  echo "note: huggingface safetensors not installed; skipped the reference-reader check"
fi

# bad input: each error names the tensor or key, and the run fails
cp -r hf16 trunc; python3 - trunc/model.safetensors <<'EOF'
import os, sys; p = sys.argv[1]; os.truncate(p, os.path.getsize(p) - 10)
EOF
"$BIN" --phase import --set import.from="$PWD/trunc" --run bad1 >bad1.log 2>&1 && bad "truncated file accepted" || ok
has "run past the end" bad1.log
has "tensor '" bad1.log
cp -r hf16 nocfg; rm nocfg/config.json
"$BIN" --phase import --set import.from="$PWD/nocfg" --run bad2 >bad2.log 2>&1 && bad "missing config accepted" || ok
has "config.json is missing" bad2.log
cp -r hf16 wrongcfg; sed -i 's/"intermediate_size": 96/"intermediate_size": 80/' wrongcfg/config.json
"$BIN" --phase import --set import.from="$PWD/wrongcfg" --run bad3 >bad3.log 2>&1 && bad "wrong config accepted" || ok
has "mlp.down_proj.weight' has shape [64, 96]" bad3.log
has "text_config.intermediate_size" bad3.log
"$BIN" --phase export --run bad3 --set export.to="$PWD/never" >bad4.log 2>&1 && bad "export without checkpoint" || ok
has "holds no checkpoint" bad4.log
[ ! -e never/model.safetensors ] && ok || bad "failed export left files"
"$BIN" --phase import --run bad5 >bad5.log 2>&1 && bad "import without import.from" || ok
has "import.from" bad5.log

# A tokenizer.json that is not a tokenizer (issue L item 8) fails the import naming the file, and
# leaves neither a checkpoint nor RUN/tokenizer.json: text that is not JSON (in the HF directory),
# a JSON array and a JSON object without a tokenizer model (both through import.tokenizer). The
# fixture's own ByteLevel tokenizer, which this build's Qwen2-only tokenizer does not load, still
# imports (above), with a warning.
cp -r hf16 badtok; printf 'this is not JSON {' > badtok/tokenizer.json
"$BIN" --phase import --set import.from="$PWD/badtok" --run bt1 >bt1.log 2>&1 && bad "non-JSON tokenizer.json imported" || ok
has "import: $PWD/badtok/tokenizer.json is not valid JSON" bt1.log
[ ! -e bt1/checkpoints/step-00000000.h5 ] && [ ! -e bt1/tokenizer.json ] && ok || bad "failed import left a checkpoint or tokenizer"
echo '[1, 2]' > arr.json
"$BIN" --phase import --set import.from="$PWD/hf16" --set import.tokenizer="$PWD/arr.json" --run bt2 >bt2.log 2>&1 \
  && bad "JSON-array tokenizer imported" || ok
has "import: $PWD/arr.json is JSON but not an object, so it is not a Hugging Face tokenizer.json" bt2.log
echo '{"version": "1.0", "added_tokens": []}' > nomodel.json
"$BIN" --phase import --set import.from="$PWD/hf16" --set import.tokenizer="$PWD/nomodel.json" --run bt3 >bt3.log 2>&1 \
  && bad "tokenizer without a model imported" || ok
has "import: $PWD/nomodel.json is a JSON object without a \"model\" object" bt3.log
[ ! -e bt3/checkpoints/step-00000000.h5 ] && ok || bad "failed import (bt3) left a checkpoint"
has "this build's tokenizer cannot load it" hf16.i1.log
if [ -n "${RV_QWEN2_TOKENIZER:-}" ] && [ -f "$RV_QWEN2_TOKENIZER" ]; then
  # a real Qwen2 tokenizer.json loads: imported with no warning, carried byte for byte
  "$BIN" --phase import --set import.from="$PWD/hf16" --set import.tokenizer="$RV_QWEN2_TOKENIZER" --run bt4 >bt4.log 2>&1 \
    && ok || { bad "import with the Qwen2 tokenizer"; cat bt4.log >&2; }
  grep -q "cannot load it" bt4.log && bad "Qwen2 tokenizer warned as not loadable" || ok
  cmp -s "$RV_QWEN2_TOKENIZER" bt4/tokenizer.json && ok || bad "Qwen2 tokenizer not carried unchanged"
fi

finish "import/export e2e"
