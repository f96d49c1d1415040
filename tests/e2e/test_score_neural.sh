#!/usr/bin/env bash
# The score phase with the neural metric models configured (metrics.*; issue J), on the small
# random models of the fixtures: BERTScore = bert_tiny layer 2 (directory named
# distilbert-base-uncased, so the "auto" baseline picks that published row), the RadCliQ
# BERTScore = roberta_tiny layer 2 (named distilroberta-base), CheXbert = the random
# chexbert_tiny, RadGraph-XL = the random radgraph tiny. Checks:
#  - 1, 2 and 3 ranks write byte-identical files (144 records: three blocks of neural batches);
#  - bertscore (mean and per record) equals bert_score 0.3.13's F on the same pairs
#    (tests/fixtures/neural/bertscore_expected.json) within 1e-6;
#  - chexbert_* F1s equal scikit-learn-style micro / macro F1 (computed here) of the rrg labels of
#    the PyTorch transcription of f1chexbert (chexbert_expected.json);
#  - radcliq_v1 is the mean of the per-record -RadCliQ-v1, -3 exactly for the pairs with a side of
#    <= 5 code points; radgraph_* lie in [0, 1]; every neural metric has a bootstrap interval and
#    none is listed as unavailable.
set -euo pipefail
BIN=$1
WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
ln -s "$SRC/tests/fixtures/textenc/bert_tiny" "$WORK/distilbert-base-uncased"
ln -s "$SRC/tests/fixtures/textenc/roberta_tiny" "$WORK/distilroberta-base"

python3 - "$WORK" "$SRC" <<'PY'
import json, sys
w, src = sys.argv[1:]
e = json.load(open(f"{src}/tests/fixtures/neural/bertscore_expected.json"))
c = [c for c in e["cases"] if c["model"] == "bert_tiny" and c["layer"] == 2 and c["baseline"] == "distilbert-base-uncased"][0]
# the 12 pairs 12 times: 144 records = 3 blocks of the neural batches (RV_EVAL_NEURAL_BLOCK 64), so
# 2 and 3 ranks split them differently from 1
recs = [{"output": h, "txt": r, "idx": i} for i, (h, r) in enumerate(zip(c["hyps"] * 12, c["refs"] * 12))]
json.dump(recs, open(f"{w}/m_report_generation_output.json", "w"), indent=1)
PY
M=(--set metrics.bertscore_model="$WORK/distilbert-base-uncased" --set metrics.bertscore_layer=2
   --set metrics.radcliq_bertscore_model="$WORK/distilroberta-base" --set metrics.chexbert_model="$SRC/tests/fixtures/neural/chexbert_tiny"
   --set metrics.radgraph_model="$SRC/tests/fixtures/radgraph/tiny" --set compute.threads=1)
for n in 1 2 3; do
  "${MPIRUN[@]}" -n $n "$BIN" --phase score --run "$WORK/run$n" --set score.input="$WORK/m_report_generation_output.json" \
    --set score.bootstrap_samples=200 "${M[@]}" 2> "$WORK/score$n.err" || { cat "$WORK/score$n.err"; exit 1; }
  mkdir -p "$WORK/out$n"
  cp "$WORK/m_report_generation_output_metrics.json" "$WORK/m_report_generation_output_scored.json" "$WORK/out$n/"
done
cmp "$WORK/out1/m_report_generation_output_metrics.json" "$WORK/out2/m_report_generation_output_metrics.json"
cmp "$WORK/out1/m_report_generation_output_scored.json" "$WORK/out2/m_report_generation_output_scored.json"
cmp "$WORK/out1/m_report_generation_output_metrics.json" "$WORK/out3/m_report_generation_output_metrics.json"
cmp "$WORK/out1/m_report_generation_output_scored.json" "$WORK/out3/m_report_generation_output_scored.json"
grep -q "neural metrics: BERTScore: .*distilbert-base-uncased layer 2, rescaled with the distilbert-base-uncased baseline" "$WORK/score1.err"

python3 - "$WORK" "$SRC" <<'PY'
import json, math, sys
w, src = sys.argv[1:]
m = json.load(open(f"{w}/out1/m_report_generation_output_metrics.json"))
sc = json.load(open(f"{w}/out1/m_report_generation_output_scored.json"))
e = json.load(open(f"{src}/tests/fixtures/neural/bertscore_expected.json"))
c = [c for c in e["cases"] if c["model"] == "bert_tiny" and c["layer"] == 2 and c["baseline"] == "distilbert-base-uncased"][0]
c = {k: v * 12 if isinstance(v, list) else v for k, v in c.items()}
n = len(c["F"])
assert m["n_scored"] == n and len(sc) == n, m
# upstream's report metric: one bert_score call over the list (batches of 64, padded): F64
for i, r in enumerate(sc):
    assert abs(r["bertscore"] - c["F64"][i]) <= 1e-6, (i, r["bertscore"], c["F64"][i])
assert abs(m["bertscore"] - sum(c["F64"]) / n) <= 1e-6, (m["bertscore"], sum(c["F64"]) / n)
# CheXbert labels: the PyTorch transcription's classes of each text (texts = h0, r0, h1, r1, ...)
x = json.load(open(f"{src}/tests/fixtures/neural/chexbert_expected.json"))
rrg = lambda cls: [1 if k in (1, 3) else 0 for k in cls[:13]] + [cls[13]]
hyp = [rrg(x["classes"][2 * (i % 12)]) for i in range(n)]
ref = [rrg(x["classes"][2 * (i % 12) + 1]) for i in range(n)]
def f1s(cols):
    tp = [sum(h[j] and r[j] for h, r in zip(hyp, ref)) for j in cols]
    fp = [sum(h[j] and not r[j] for h, r in zip(hyp, ref)) for j in cols]
    fn = [sum(r[j] and not h[j] for h, r in zip(hyp, ref)) for j in cols]
    f = lambda t, p, q: 2 * t / (2 * t + p + q) if t + p + q else 0.0
    return f(sum(tp), sum(fp), sum(fn)), sum(f(*z) for z in zip(tp, fp, fn)) / len(cols)
mi, ma = f1s(range(14))
mi5, ma5 = f1s([1, 4, 5, 7, 9])
for k, v in [("chexbert_all_micro", mi), ("chexbert_all_macro", ma), ("chexbert_5_micro", mi5), ("chexbert_5_macro", ma5)]:
    assert abs(m[k] - v) <= 1e-12, (k, m[k], v)
names = ["Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia",
         "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices", "No Finding"]
assert sc[0]["chexbert_labels_output"] == [names[j] for j in range(14) if hyp[0][j]], sc[0]
# RadCliQ: -3 exactly where a side has <= 5 code points, else a finite -RadCliQ-v1
for i, r in enumerate(sc):
    short = len(c["hyps"][i]) <= 5 or len(c["refs"][i]) <= 5
    assert (r["radcliq"] == -3.0) == short and math.isfinite(r["radcliq"]), (i, r["radcliq"])
    for k in ("radgraph_simple", "radgraph_partial", "radgraph_complete"):
        assert 0.0 <= r[k] <= 1.0, (i, k, r[k])
assert abs(m["radcliq_v1"] - sum(r["radcliq"] for r in sc) / n) <= 1e-12
ci = m["bootstrap"]["ci95"]
for k in ("bertscore", "radgraph_simple", "radgraph_partial", "radgraph_complete", "chexbert_all_micro",
          "chexbert_all_macro", "chexbert_5_micro", "chexbert_5_macro", "radcliq_v1"):
    assert k in m and k in ci and ci[k][0] <= m[k] + 1e-12 and m[k] <= ci[k][1] + 1e-12, (k, m.get(k), ci.get(k))
    assert k not in m.get("unavailable", {}), (k, m["unavailable"])
print("score e2e (neural): ok; bertscore", m["bertscore"], "radcliq_v1", m["radcliq_v1"])
PY

# a model directory that is not one: a clear error naming the key, on every rank
if "${MPIRUN[@]}" -n 2 "$BIN" --phase score --run "$WORK/bad" --set score.input="$WORK/m_report_generation_output.json" \
     --set metrics.chexbert_model="$SRC/tests/fixtures/textenc/bert_tiny" 2> "$WORK/bad.err"; then
  echo "a CheXbert model without heads was accepted"; exit 1
fi
grep -q "metrics.chexbert_model.*linear_heads" "$WORK/bad.err" || { cat "$WORK/bad.err"; exit 1; }
echo "score e2e (neural, hostile model): ok"
