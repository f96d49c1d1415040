#!/usr/bin/env bash
# The eval phase's test sets: a small synth -> instruct (RUN/llava/test_<task>.json) -> pack with
# pack.tests=true at the tiny model's tile (56 px), base and anyres. For every task, the JSON and
# the shard reader give identical items (order, turns, ids, labels, GT boxes) and identical prompt
# samples (ids and tiles bitwise), and a single-turn prompt is its packed sample up to the answer
# (test_eval_testset --parity).
# usage: test_eval_testset.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
T="$(dirname "$BIN")/test_eval_testset"
[ -x "$T" ] || skip_all "$T not built"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=36 --run run >synth.log 2>&1 \
  || { cat synth.log >&2; bad "synth failed"; exit 1; }
"$BIN" --phase instruct --set data.dir="$PWD/data" --run run >instruct.log 2>&1 \
  || { cat instruct.log >&2; bad "instruct failed"; exit 1; }
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.tests=true --set pack.image_size=56 --run run >pack.log 2>&1 \
  && ok || { cat pack.log >&2; bad "pack failed"; }
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.tests=true --set pack.image_size=56 \
  --set pack.image_mode=anyres --set pack.out="$PWD/run/shards-anyres" --run run >pack-ar.log 2>&1 \
  && ok || { cat pack-ar.log >&2; bad "pack anyres failed"; }

# pack keeps no trace of a "labels" key, so an empty labels list must come back as a present key:
# the report and conversation test sets hold such a cell (a study without a positive label)
for t in report_generation conversation; do
  grep -q '"labels": \[\]' "run/llava/test_$t.json" && ok || bad "test_$t.json has no cell with an empty labels list"
done
"$T" --parity run run/shards data/tokenizer.json >parity.out 2>&1 && ok || bad "JSON and shard test sets differ (base)"
cat parity.out
for t in report_generation abnormality_classification region_grounding abnormality_grounding abnormality_detection \
         phrase_grounding conversation conversation_grounded; do
  has "$t " parity.out
done
# pack groups samples by image: some test samples are stored out of cell order and the reader
# puts them back (the ids' numbers)
grep -q "parity (base): .* [1-9][0-9]* places where the shards' sample order differs" parity.out && ok \
  || bad "no reordered sample: the order recovery is not exercised"
"$T" --parity run run/shards-anyres data/tokenizer.json --anyres >parity-ar.out 2>&1 && ok || bad "JSON and shard test sets differ (anyres)"
cat parity-ar.out

finish test_eval_testset
