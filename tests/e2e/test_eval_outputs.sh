#!/usr/bin/env bash
# The eval phase's output writers end to end: a small eval directory written by the writers
# (test_eval_outputs --write-dir: report, classification, grounding and conversation tasks)
# read back by tests/e2e/check_eval_outputs.py as upstream's loaders and a user would: json.load
# of the _output.json records, grounding / classification metrics recomputed independently,
# the score phase on the same files giving the same metrics document, results.h5 through h5py
# (pandas when installed), the grounding figure an RGB PNG. Then damage checks: the checker
# must notice a changed metric and a reordered record.
set -euo pipefail
BIN="$1"; WORK="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
GEN="$(dirname "$BIN")/test_eval_outputs"
[ -x "$GEN" ] || skip_all "$GEN not built"
python3 -c "import h5py, numpy" 2>/dev/null || skip_all "python3 lacks h5py/numpy (tests/run.sh builds build/pyenv)"

mkdir -p eval
"$GEN" --write-dir eval && ok || bad "writing the demo eval directory"
for f in demo_report_generation_output.json demo_report_generation.json demo_abnormality_classification.json \
         demo_phrase_grounding_output.json demo_conversation_output.json results.h5 demo_phrase_grounding_boxes.png; do
  [ -s "eval/$f" ] && ok || bad "eval/$f missing"
done
python3 "$HERE/check_eval_outputs.py" eval --bin "$BIN" > check.txt 2>&1 && ok || { bad "check_eval_outputs.py"; cat check.txt >&2; }
has "4 task file(s), 0 problem(s)" check.txt

# the checker is not blind: a changed metric and a reordered record are problems
cp -r eval damaged
python3 - damaged <<'PY'
import json, sys
p = sys.argv[1] + "/demo_phrase_grounding.json"
m = json.load(open(p)); m["mAP_0.5"] += 0.01; json.dump(m, open(p, "w"), indent=2)
p = sys.argv[1] + "/demo_abnormality_classification_output.json"
r = json.load(open(p)); r[0] = {"instr": r[0].pop("instr"), **r[0]}; json.dump(r, open(p, "w"), indent=2)
p = sys.argv[1] + "/demo_report_generation.json"
m = json.load(open(p)); m["rougel"] += 0.01; json.dump(m, open(p, "w"), indent=2)
PY
if python3 "$HERE/check_eval_outputs.py" damaged --bin "$BIN" > damaged.txt 2>&1; then bad "damaged files passed the checker"; else ok; fi
has "mAP_0.5" damaged.txt
has "not in the documented order" damaged.txt
has "demo_report_generation_output.json: the score phase's metrics differ from the eval phase's in ['rougel']" damaged.txt
finish test_eval_outputs
