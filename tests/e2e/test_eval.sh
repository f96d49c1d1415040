#!/usr/bin/env bash
# eval phase end to end on a small phantom run with a tiny model trained for a few steps:
# - all eight tasks on 1 rank (batch 8), 2 ranks and 3 ranks (batch 1): identical output files
#   (<tag>_<task>_output.json, <tag>_<task>.json, the box PNGs) and identical results.h5 rows
#   apart from the run-dependent `seconds` column;
# - test sets from packed shards (eval.source=shards) give the same files as from the LLaVA JSON;
# - a kill -9 in the middle of a task (eval.test_kill_after) and a SIGUSR1 stop (exit 75), each
#   followed by a rerun, give the same files; a rerun of a finished evaluation generates nothing;
# - the output files read back as upstream reads them, and through the score phase with the same
#   metrics (tests/e2e/check_eval_outputs.py);
# - trivial baselines and an untrained model run through the same scorer;
# - bad input: a damaged test record and a missing image are reported, counted and skipped; a
#   tokenizer without the chat tokens is refused with a message naming it.
# usage: test_eval.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
python3 -c "import h5py, numpy" 2>/dev/null || skip_all "h5py and numpy are needed to read results.h5"
CHECK="python3 $SRC/tests/e2e/check_eval_outputs.py"
SAME_RESULTS="python3 $SRC/tests/e2e/same_results.py"

D=(--set data.dir="$PWD/data")
"$BIN" --phase synth "${D[@]}" --set synth.images_per_source=40 --run base >synth.log 2>&1 || { cat synth.log; exit 1; }
"$BIN" --phase instruct "${D[@]}" --run base >instruct.log 2>&1 || { cat instruct.log; exit 1; }
"$BIN" --phase pack "${D[@]}" --set pack.image_size=56 --set pack.tests=true --run base >pack.log 2>&1 || { cat pack.log; exit 1; }
"$BIN" --phase sft "${D[@]}" --set sft.init=random:tiny --set sft.global_batch=8 --set sft.max_tokens=1024 \
  --set sft.max_steps=12 --set sft.lr=3e-3 --set sft.projector_lr=3e-3 --set sft.save_every=0 \
  --set compute.threads=1 --set sft.peak_gflops=10 --run base >sft.log 2>&1 || { cat sft.log; exit 1; }
CKPT=$PWD/base/checkpoints/step-00000012.h5
[ -f "$CKPT" ] && ok || bad "no checkpoint after sft: $(ls base/checkpoints)"

# A run directory sharing the test files and shards of base.
run_dir() { rm -rf "$1"; mkdir -p "$1"; ln -s "$PWD/base/llava" "$1/llava"; ln -s "$PWD/base/shards" "$1/shards"; }
# An untrained model, sampled (temperature, top-k): its answers are long and varied (greedy, both it
# and a 12-step model answer only newlines), so equal files across ranks, batches, sources and
# restarts say something, and the sampling draws are checked to depend on the question only.
E=("${D[@]}" --set eval.model=random:tiny --set eval.tag=m --set eval.temperature=0.9 --set eval.top_k=40 --set eval.max_new_tokens=24 --set eval.bootstrap_samples=200
   --set compute.threads=1)
TASKS=(report_generation abnormality_classification region_grounding abnormality_grounding abnormality_detection
       phrase_grounding conversation conversation_grounded)
# same_files A B: every output file of A's eval equals B's (results.h5 without `seconds`).
same_files() {
  local f d=0
  for t in "${TASKS[@]}"; do
    for f in "m_${t}_output.json" "m_${t}.json"; do cmp -s "$1/eval/$f" "$2/eval/$f" || { d=1; echo "differs: $f" >&2; }; done
  done
  for f in "$1"/eval/*.png; do cmp -s "$f" "$2/eval/$(basename "$f")" || { d=1; echo "differs: $f" >&2; }; done
  $SAME_RESULTS "$1/eval/results.h5" "$2/eval/results.h5" || d=1
  return $d
}

# 1 rank, batch 8: the reference. Answers are not degenerate (the checks below would be empty).
run_dir r1
"$BIN" --phase eval "${E[@]}" --run r1 >r1.out 2>r1.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "1 rank: exit $rc"; cat r1.err >&2; }
for t in "${TASKS[@]}"; do [ -s "r1/eval/m_${t}_output.json" ] && [ -s "r1/eval/m_${t}.json" ] && ok || bad "1 rank: no files for $t"; done
for t in region_grounding abnormality_grounding abnormality_detection phrase_grounding; do
  [ -s "r1/eval/m_${t}_boxes.png" ] && ok || bad "no box picture for $t"
done
[ -s r1/eval/results.h5 ] && ok || bad "no results.h5"
has "eval: report_generation" r1.err
python3 - r1/eval <<'EOF' && ok || bad "degenerate answers: the invariance checks would prove little"
import json, sys
outs = [r["output"] for r in json.load(open(f"{sys.argv[1]}/m_conversation_output.json"))]
assert len(outs) >= 10 and len(set(outs)) >= len(outs) // 2 and sum(len(o) for o in outs) > 5 * len(outs), outs[:3]
EOF
$CHECK r1/eval --bin "$BIN" >check.out 2>&1 && ok || { bad "output layout check"; cat check.out >&2; }

# 2 ranks (batch 8) and 3 ranks (batch 1): the same bytes.
run_dir r2
mpirun -n 2 "$BIN" --phase eval "${E[@]}" --run r2 >r2.out 2>r2.err && ok || { bad "2 ranks failed"; cat r2.err >&2; }
same_files r1 r2 && ok || bad "2 ranks: files differ from 1 rank"
run_dir r3
mpirun -n 3 "$BIN" --phase eval "${E[@]}" --set eval.batch=1 --run r3 >r3.out 2>r3.err && ok || { bad "3 ranks failed"; cat r3.err >&2; }
same_files r1 r3 && ok || bad "3 ranks, batch 1: files differ from 1 rank, batch 8"

# Test sets from the packed shards: the same files.
run_dir rs
"$BIN" --phase eval "${E[@]}" --set eval.source=shards --run rs >rs.out 2>rs.err && ok || { bad "shards source failed"; cat rs.err >&2; }
same_files r1 rs && ok || bad "eval.source=shards: files differ from the JSON test sets"

# kill -9 after 20 answers on 2 ranks, then a rerun (eval.resume=auto): the same files.
run_dir rk
mpirun -n 2 "$BIN" --phase eval "${E[@]}" --set eval.test_kill_after=20 --run rk >rk1.out 2>rk1.err; rc=$?
[ $rc -ne 0 ] && ok || bad "the killed run exited 0"
[ -n "$(ls rk/eval/answers 2>/dev/null)" ] && ok || bad "the killed run left no answers"
"$BIN" --phase eval "${E[@]}" --run rk >rk2.out 2>rk2.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "rerun after kill: exit $rc"; cat rk2.err >&2; }
has "already answered" rk2.err
same_files r1 rk && ok || bad "kill + rerun: files differ from the uninterrupted run"
# a rerun of a finished evaluation generates nothing and writes the same files
"$BIN" --phase eval "${E[@]}" --run rk >rk3.out 2>rk3.err && ok || bad "second rerun failed"
[ "$(grep -c ', 0 to generate' rk3.err)" = 8 ] && ok || { bad "a finished evaluation generated again"; grep "to generate\|questions (" rk3.err >&2; }
same_files r1 rk && ok || bad "second rerun: files differ"

# SIGUSR1 while generating: exit 75 with the answers kept, then a rerun finishes; same files.
run_dir rsig
"$BIN" --phase eval "${E[@]}" --set eval.max_new_tokens=24 --set eval.batch=1 --run rsig >rs1.out 2>rs1.err &
pid=$!
for i in $(seq 200); do [ -n "$(ls rsig/eval/answers 2>/dev/null)" ] && break; sleep 0.05; done
kill -USR1 $pid; wait $pid; rc=$?
if [ $rc -eq 75 ]; then
  ok; has "stopped by a signal" rs1.err
  "$BIN" --phase eval "${E[@]}" --run rsig >rs2.out 2>rs2.err && ok || { bad "rerun after SIGUSR1"; cat rs2.err >&2; }
  same_files r1 rsig && ok || bad "SIGUSR1 + rerun: files differ"
elif [ $rc -eq 0 ]; then
  echo "note: the evaluation finished before the signal arrived"; same_files r1 rsig && ok || bad "files differ"
else
  bad "SIGUSR1: exit $rc"; cat rs1.err >&2
fi

# The trained checkpoint (tag derived from the run and step).
"$BIN" --phase eval "${D[@]}" --set eval.model="$CKPT" --set eval.max_new_tokens=8 --set eval.tasks=report_generation \
  --run r1 >ck.out 2>ck.err && ok || { bad "checkpoint eval"; cat ck.err >&2; }
[ -s r1/eval/base-step-00000012_report_generation.json ] && ok || bad "checkpoint: no base-step-00000012 files: $(ls r1/eval)"

# The same checkpoint exported as a Hugging Face directory (fp32) and evaluated from there
# (imported on the fly; base tiles, as it was trained): the same answers.
"$BIN" --phase export --run base --set export.checkpoint="$CKPT" --set export.to="$PWD/hfdir" --set export.dtype=f32 \
  >export.log 2>&1 || { bad "export"; cat export.log >&2; }
"$BIN" --phase eval "${D[@]}" --set eval.model="$PWD/hfdir" --set eval.image_mode=base --set eval.max_new_tokens=8 \
  --set eval.tasks=report_generation --run r1 >hf.out 2>hf.err && ok || { bad "HF directory eval"; cat hf.err >&2; }
python3 - r1/eval <<'EOF' && ok || bad "HF directory: answers differ from the native checkpoint's"
import json, sys
a = json.load(open(f"{sys.argv[1]}/hfdir_report_generation_output.json"))
b = json.load(open(f"{sys.argv[1]}/base-step-00000012_report_generation_output.json"))
assert len(a) == len(b) > 0 and [r["output"] for r in a] == [r["output"] for r in b]
EOF

# eval.r1: " /think" on the question, full_output kept, the final answer extracted and counted.
"$BIN" --phase eval "${E[@]}" --set eval.r1=true --set eval.tasks=abnormality_classification --set eval.tag=r1 --run r1 \
  >r1think.out 2>r1think.err && ok || { bad "eval.r1"; cat r1think.err >&2; }
python3 - r1/eval <<'EOF' && ok || bad "eval.r1 records"
import json, sys
recs = json.load(open(f"{sys.argv[1]}/r1_abnormality_classification_output.json"))
assert recs and all(r["instr"].endswith(" /think") and "full_output" in r for r in recs), recs[0]
# an untrained model writes no \boxed{} and no </think>: the whole text, stripped, counted
assert all(r["output"] == r["full_output"].strip() for r in recs), recs[0]
m = json.load(open(f"{sys.argv[1]}/r1_abnormality_classification.json"))
assert m["eval"]["n_no_final_answer"] == len(recs), m["eval"]
EOF

# Trivial baselines and the untrained model, through the same scorer.
run_dir rb
"$BIN" --phase eval "${D[@]}" --set eval.model=baseline:prior --run rb >rb.out 2>rb.err && ok || { bad "baseline:prior"; cat rb.err >&2; }
"$BIN" --phase eval "${D[@]}" --set eval.model=baseline:whole_image --set eval.tasks=region_grounding --run rb >rw.out 2>rw.err \
  && ok || { bad "baseline:whole_image"; cat rw.err >&2; }
python3 - rb/eval <<'EOF' && ok || bad "baseline answers"
import json, sys
d = sys.argv[1]
g = json.load(open(f"{d}/baseline-whole_image_region_grounding_output.json"))
assert all(r["output"] == "[0.0, 0.0, 1.0, 1.0]" for r in g), g[0]
r = json.load(open(f"{d}/baseline-prior_report_generation_output.json"))
assert len({x["output"] for x in r}) == 1 and r[0]["output"], r[0]
m = json.load(open(f"{d}/baseline-prior_region_grounding.json"))
assert "mAP_0.5" in m and m["n_scored"] > 0, m
EOF
"$BIN" --phase eval "${D[@]}" --set eval.model=random:tiny --set eval.max_new_tokens=8 --set eval.tasks=abnormality_classification \
  --run rb >ru.out 2>ru.err && ok || { bad "random:tiny"; cat ru.err >&2; }
[ -s rb/eval/random-tiny_abnormality_classification.json ] && ok || bad "no metrics for the untrained model (tag random-tiny)"

# Bad input: a damaged record and a missing image are reported and skipped, the rest is scored.
mkdir -p bad/llava; ln -s "$PWD/base/shards" bad/shards
python3 - base/llava/test_abnormality_classification.json bad/llava/test_abnormality_classification.json <<'EOF'
import json, sys
cells = json.load(open(sys.argv[1]))
cells[0] = {"image": cells[0]["image"]}                       # no conversations
cells[1]["image"] = "/nonexistent/missing.jpg"                # a missing image
json.dump(cells, open(sys.argv[2], "w"), indent=4)
EOF
n=$(python3 -c "import json; print(len(json.load(open('bad/llava/test_abnormality_classification.json'))))")
"$BIN" --phase eval "${E[@]}" --set eval.model="$CKPT" --set eval.tasks=abnormality_classification --run bad >bad.out 2>bad.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "bad input: exit $rc"; cat bad.err >&2; }
has "record 0" bad.err
has "missing.jpg" bad.err
python3 - bad/eval/m_abnormality_classification.json "$n" <<'EOF' && ok || bad "bad input: counts"
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert m["n_scored"] == n - 2, m
assert m["bad_records"] == [1], m       # the missing image (question 1); record 0 never became a question
EOF
# on_bad_record=fail stops at the first bad record with its name
"$BIN" --phase eval "${E[@]}" --set eval.tasks=abnormality_classification --set data.on_bad_record=fail --run bad \
  >badf.out 2>badf.err && bad "on_bad_record=fail did not fail" || ok
has "test_abnormality_classification.json" badf.err
# a tokenizer without the chat tokens
python3 - data/tokenizer.json notok.json <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["added_tokens"] = [a for a in t["added_tokens"] if a["content"] not in ("<|im_start|>", "<|im_end|>")]
t["model"]["vocab"] = {k: v for k, v in t["model"]["vocab"].items() if k not in ("<|im_start|>", "<|im_end|>")}
json.dump(t, open(sys.argv[2], "w"))
EOF
run_dir rt
"$BIN" --phase eval "${D[@]}" --set eval.model=random:tiny --set eval.tokenizer="$PWD/notok.json" --run rt >rt.out 2>rt.err \
  && bad "a tokenizer without <|im_start|> was accepted" || ok
has "notok.json" rt.err
# a neural metric (issue J): BERTScore with the fixtures' tiny random BERT on the report answers,
# scored on rank 0 after generation: 1 and 2 ranks write the same metrics (with an interval)
NM=(--set eval.tasks=report_generation --set eval.max_samples=12 --set metrics.bertscore_model="$SRC/tests/fixtures/textenc/bert_tiny"
    --set metrics.bertscore_layer=2 --set metrics.bertscore_baseline=none)
for n in 1 2; do
  run_dir rn$n
  mpirun -n $n "$BIN" --phase eval "${E[@]}" "${NM[@]}" --run rn$n >rn$n.out 2>rn$n.err && ok || { bad "eval with bertscore ($n ranks)"; cat rn$n.err >&2; }
done
cmp -s rn1/eval/m_report_generation.json rn2/eval/m_report_generation.json && ok || bad "bertscore eval: 1 and 2 ranks differ"
python3 - rn1/eval/m_report_generation.json <<'EOF' && ok || bad "bertscore in the eval metrics"
import json, math, sys
m = json.load(open(sys.argv[1]))
assert math.isfinite(m["bertscore"]) and -1 <= m["bertscore"] <= 1, m
lo, hi = m["bootstrap"]["ci95"]["bertscore"]
assert lo <= m["bertscore"] <= hi, m["bootstrap"]
assert "bertscore" not in m.get("unavailable", {}) and "radcliq_v1" in m["unavailable"], m
EOF
finish test_eval
