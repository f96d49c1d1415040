#!/usr/bin/env bash
# The MIMIC-family and CheXpert readers on the synth phantom data: instruct writes the LLaVA
# files, and check_readers_mimic_chexpert.py re-derives every record those readers feed (image,
# report text, labels, boxes, conversations, test-file order) with upstream's rules in Python.
# Then MS-CXR is read through the P5 alias directory and through the CSV normalised in memory.
# usage: test_readers_mimic_chexpert.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd); SRC=$(cd "$HERE/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; } # ctest: skipped
fail=0
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
N_IMG=${RADVLM_TEST_SYNTH_IMAGES:-24}
chn=$(grep -o '"chestima_train_n"[^,}]*' "$SRC/jobs/demo.json" | grep -o '[0-9]*' || true)

"$BIN" --phase synth --config "$SRC/jobs/demo.json" --set data.dir="$WORK/data" --set synth.images_per_source=$N_IMG \
    --run "$WORK/synth" >synth.log 2>&1 || { cat synth.log >&2; echo "FAIL: synth failed" >&2; exit 1; }

run() { # name: instruct on data, then the checker
    "$BIN" --phase instruct --config "$SRC/jobs/demo.json" --set data.dir="$WORK/data" --run "$WORK/$1" \
        >"$1.log" 2>&1 || { cat "$1.log" >&2; bad "$1: instruct failed"; return; }
    python3 "$HERE/check_readers_mimic_chexpert.py" "$WORK/data" "$WORK/$1/llava" "${chn:-80000}" || bad "$1: records differ"
}

run dirs
[ -d data/MS-CXR/sentences_and_BBox_mscxr ] || bad "synth wrote no MS-CXR per-image directory"
rm -rf data/MS-CXR/sentences_and_BBox_mscxr      # only the normaliser's name is left (P5 alias)
[ -d data/MS-CXR/sentences_BBox_mscxr ] && run alias
rm -rf data/MS-CXR/sentences_BBox_mscxr          # only the CSV: normalised in memory
run csv
grep -q "normalising .*MS_CXR_Local_Alignment_v1.0.0.csv in memory" csv.log || bad "csv: no log line for the CSV fallback"
[ ! -e data/CHEST_IMA/silver_dataset/missing_ids.json ] || bad "a missing_ids.json was written into DATA_DIR"

[ $fail -eq 0 ] && echo "test_readers_mimic_chexpert: all checks passed" || echo "test_readers_mimic_chexpert: $fail failures"
[ $fail -eq 0 ]
