#!/usr/bin/env bash
# The instruct phase end to end: synth demo data, then instruct on 1, 2 and 3 ranks. Every
# output (train.json, each test_<task>.json, the VinDr JPEGs and resolution files it converts)
# must be byte-identical across rank counts, and the cell counts must match what
# check_instruct.py derives from the data files on its own.
# usage: test_instruct.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
HERE=$(cd "$(dirname "$0")" && pwd); SRC=$(cd "$HERE/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
fail=0
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
N_IMG=${RADVLM_TEST_SYNTH_IMAGES:-24}

"$BIN" --phase synth --config "$SRC/jobs/demo.json" --set data.dir="$WORK/pristine" --set synth.images_per_source=$N_IMG \
    --run "$WORK/synth" >synth.log 2>&1 || { cat synth.log >&2; bad "synth failed"; exit 1; }

# Each run converts VinDr from scratch in its own copy of the data, at the same path (image
# paths in the JSON are absolute), which is then set aside as dataN.
for n in 1 2 3; do
    cp -r "$WORK/pristine" "$WORK/data"
    mpirun -n $n --oversubscribe "$BIN" --phase instruct --config "$SRC/jobs/demo.json" \
        --set data.dir="$WORK/data" --run "$WORK/r$n" >"instruct$n.log" 2>&1 \
        || { cat "instruct$n.log" >&2; bad "instruct on $n ranks failed"; }
    mv "$WORK/data" "$WORK/data$n"
done
[ $fail -eq 0 ] || exit 1

files=$(cd r1/llava && ls *.json)
[ "$(echo "$files" | wc -l)" -eq 9 ] || bad "expected train.json + 8 test files, got: $files"
for n in 2 3; do
    for f in $files; do cmp -s "r1/llava/$f" "r$n/llava/$f" || bad "llava/$f differs between 1 and $n ranks"; done
    for f in $(cd data1/VinDr-CXR && ls image_resolutions_*.json 2>/dev/null); do
        cmp -s "data1/VinDr-CXR/$f" "data$n/VinDr-CXR/$f" || bad "VinDr-CXR/$f differs between 1 and $n ranks"
    done
    d=$(diff -r -q data1/VinDr-CXR data$n/VinDr-CXR 2>&1) || bad "VinDr conversion differs between 1 and $n ranks: $d"
done
grep -q "train.json: " r1/../instruct1.log || bad "no counts table in the log"
grep -q "records/s" instruct1.log || bad "no records/s in the log"

# A rerun reuses the converted JPEGs and rewrites a complete resolution file (P6).
rm -f data3/VinDr-CXR/image_resolutions_train.json
mv "$WORK/data3" "$WORK/data"
mpirun -n 2 --oversubscribe "$BIN" --phase instruct --config "$SRC/jobs/demo.json" --set data.dir="$WORK/data" \
    --run "$WORK/r3b" >instruct3b.log 2>&1 || { cat instruct3b.log >&2; bad "rerun failed"; }
mv "$WORK/data" "$WORK/data3"
cmp -s data1/VinDr-CXR/image_resolutions_train.json data3/VinDr-CXR/image_resolutions_train.json \
    || bad "rerun resolution file differs"
cmp -s r1/llava/train.json r3b/llava/train.json || bad "rerun train.json differs"

if command -v python3 >/dev/null; then
    chn=$(grep -o '"chestima_train_n"[^,}]*' "$SRC/jobs/demo.json" | grep -o '[0-9]*' || true)
    cap=$(grep -o '"region_grounding"[^,}]*' "$SRC/jobs/demo.json" | grep -o '[0-9]*' || true)
    python3 "$HERE/check_instruct.py" "$WORK/data1" "$WORK/r1/llava" "${chn:-80000}" "${cap:-2000}" \
        || bad "check_instruct.py found differences"
else
    echo "SKIP: python3 not found; counts not checked" >&2
fi
[ $fail -eq 0 ] && echo "test_instruct: all checks passed" || echo "test_instruct: $fail failures"
[ $fail -eq 0 ]
