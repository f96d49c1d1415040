#!/usr/bin/env bash
# Hostile images through whole multi-rank phases (issue L items 1 and 3): every reproducer of
# tests/fixtures/hostile (DICOMs that abort GDCM, decompression and allocation bombs, damaged
# PNG/JPEG) is a bad record in a 3-rank pack: reported with its path, counted, skipped, and the
# job finishes; with data.on_bad_record=fail the job stops with a message naming a file, never a
# signal. data.max_image_pixels refuses an image from its header with its dimensions. A VinDr
# DICOM replaced by a reproducer is a bad record of a 3-rank instruct (the DICOM -> JPEG
# conversion), which completes.
# usage: test_hostile_images.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HOSTILE="$SRC/tests/fixtures/hostile"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
  || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }

# One LLaVA cell per image: two good ones (a JPEG, a phantom DICOM) and every reproducer that is
# not a valid_* file (those decode).
GOOD_JPG=$(find data/CheXpert -name '*.jpg' | sort | head -1)
GOOD_DCM=$(find data/VinDr-CXR/train -name '*.dicom' | sort | head -1)
mapfile -t BAD < <(find "$HOSTILE" -type f \( -name '*.dcm' -o -name '*.png' -o -name '*.jpg' \) ! -name 'valid_*' | sort)
n_bad=${#BAD[@]}
[ "$n_bad" -ge 20 ] && ok || bad "expected at least 20 reproducers, found $n_bad"
cells() { # cells IMAGE...: a LLaVA JSON array, one cell per image
  local i=0 sep=""
  printf '['
  for img in "$@"; do
    printf '%s{"image": "%s", "conversations": [{"from": "human", "value": "<image>\\nQ"}, {"from": "gpt", "value": "A"}], "id": "h_%d"}' \
      "$sep" "$img" "$i"
    sep=","; i=$((i+1))
  done
  printf ']\n'
}
cells "$PWD/$GOOD_JPG" "$PWD/$GOOD_DCM" "${BAD[@]}" > hostile.json

# 3 ranks, skip policy: the job completes, every reproducer is reported by path and counted.
timeout 600 mpirun -n 3 "$BIN" --phase pack --set pack.llava_json="$PWD/hostile.json" \
    --set pack.tokenizer="$PWD/data/tokenizer.json" --run rs >rs.out 2>rs.err
rc=$?
[ $rc -eq 0 ] && ok || { bad "3-rank pack with hostile images exited $rc (134 = abort)"; tail -30 rs.err >&2; }
has "pack: 2 samples, 2 images" rs.err
has "skipped: $n_bad unusable image(s)" rs.err
for f in "${BAD[@]}"; do grep -qF -- "$f" rs.err && ok || bad "$(basename "$f") not reported in rs.err"; done
has "a sequence in the file meta group" rs.err
has "SamplesPerPixel out of range 1..4 in a nested image" rs.err
has "the decoder died on signal 6" rs.err
has "40000 x 32000 = 1280000000 pixels, above the pixel budget data.max_image_pixels = 67108864" rs.err
has "PNG image is 30000 x 30000 = 900000000 pixels, above the pixel budget" rs.err
has "JPEG image is 65000 x 65000 = 4225000000 pixels, above the pixel budget" rs.err
"$BIN" --phase pack --run rs --set pack.check=true >crs.out 2>crs.err && ok || { bad "pack.check of the hostile pack"; cat crs.err >&2; }

# Fail policy: a clean error naming a reproducer on every rank count, not a signal.
timeout 600 mpirun -n 3 "$BIN" --phase pack --set pack.llava_json="$PWD/hostile.json" \
    --set pack.tokenizer="$PWD/data/tokenizer.json" --set data.on_bad_record=fail --run rf >rf.out 2>rf.err
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && ok || { bad "fail policy: exit $rc (want a non-zero exit, not a signal)"; tail -20 rf.err >&2; }
grep -qF "$HOSTILE/" rf.err && ok || { bad "fail policy: no reproducer named in rf.err"; tail -20 rf.err >&2; }

# The pixel budget from the config: a budget below the good images refuses them from the header,
# naming the file and its dimensions (the phantom JPEG is W x H = N pixels).
cells "$PWD/$GOOD_JPG" > good.json
"$BIN" --phase pack --set pack.llava_json="$PWD/good.json" --set pack.tokenizer="$PWD/data/tokenizer.json" \
    --set data.max_image_pixels=1000 --run rb >rb.out 2>rb.err
has "$GOOD_JPG: JPEG image is" rb.err
has "above the pixel budget data.max_image_pixels = 1000" rb.err
"$BIN" --phase pack --set pack.llava_json="$PWD/good.json" --set pack.tokenizer="$PWD/data/tokenizer.json" \
    --set data.max_image_pixels=-1 --run rn >rn.out 2>rn.err && bad "a negative budget was accepted" || ok
has "data.max_image_pixels=-1 must be >= 0" rn.err

# The VinDr DICOM -> JPEG conversion of a 3-rank instruct: two phantom DICOMs replaced by
# reproducers (one refused by the walk, one that aborts GDCM in the child) are bad records.
mapfile -t VD < <(find data/VinDr-CXR/train -name '*.dicom' | sort)
cp "$HOSTILE/dicom/meta_sequence.dcm" "${VD[1]}"
cp "$HOSTILE/dicom/rescale_intercept_vr_us.dcm" "${VD[2]}"
# synth converted them already: without their JPEGs the conversion reads them again
rm -f "data/VinDr-CXR/train_jpg/$(basename "${VD[1]}" .dicom).jpg" "data/VinDr-CXR/train_jpg/$(basename "${VD[2]}" .dicom).jpg"
timeout 600 mpirun -n 3 "$BIN" --phase instruct --set data.dir="$PWD/data" --run ri >ri.out 2>ri.err
rc=$?
[ $rc -eq 0 ] && ok || { bad "3-rank instruct with hostile VinDr DICOMs exited $rc"; tail -30 ri.err >&2; }
has "${VD[1]}" ri.err
has "${VD[2]}" ri.err
has "the decoder died on signal 6" ri.err

finish test_hostile_images
