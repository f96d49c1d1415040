#!/usr/bin/env bash
# One bad row of mimic-cxr-2.0.0-metadata.csv, read by every MIMIC task reader, is reported once
# (was: once per reader, 12 times, and counted as 12 bad records), with 1 and 2 ranks; the
# closing line counts one record and says how many more times it was met.
# usage: test_badrec_once.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
  || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }
META=data/MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv
# line 3 gets two cells more than the header's 12
awk 'NR == 3 { print $0 ",extra,cells"; next } { print }' "$META" >meta.tmp && mv meta.tmp "$META"

for n in 1 2; do
  mpirun -n $n "$BIN" --phase instruct --set data.dir="$PWD/data" --run r$n >r$n.out 2>r$n.err \
    && ok || { bad "instruct -n $n"; cat r$n.err >&2; }
  c=$(grep -c "mimic-cxr-2.0.0-metadata.csv:3: bad record skipped: expected 12 fields as in the header, found 14" r$n.err)
  [ "$c" = 1 ] && ok || bad "-n $n: the bad row was reported $c times (want once)"
  has "1 bad input record reported above (data.on_bad_record=skip; met " r$n.err
  has "more times by other readers of the same files, reported once)" r$n.err
done

finish test_badrec_once
