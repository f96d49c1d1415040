#!/usr/bin/env bash
# Pack phase end to end: synth (which ships the demo tokenizer) -> pack with 1, 2 and 3 ranks
# and with 3 threads -> the same logical content (pack.check digest over index.h5 read in
# order); tokens and loss masks equal HF tokenizers + train.md A.5 and pixels equal Pillow
# (check_pack.py; skipped with a message without those Python libraries), in the pass order of
# Pillow 10.3.0 by default and of Pillow 13 with data.pillow_resize=13; the quirk option,
# a tokenizer without <image>, DICOM input; a killed pack leaves no complete-looking shard,
# damaged shards are reported, bad input is counted, and the docs/formats.md h5py example runs.
# pack.image_mode=anyres: the originals are stored and covered by the index (1 = 2 ranks), every
# sample reads back through rv_loader_read_sample, and its tiles equal HF's processor.
# usage: test_pack.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
  || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }

# synth ships the demo tokenizer that pack uses by default.
[ -s data/tokenizer.json ] && ok || { bad "synth wrote no data/tokenizer.json"; exit 1; }

# 1, 2 and 3 ranks: identical logical content.
digests=""
for n in 1 2 3; do
  if mpirun -n $n "$BIN" --phase pack --set data.dir="$PWD/data" --run r$n >p$n.out 2>p$n.err; then ok; else bad "pack -n $n"; cat p$n.err >&2; fi
  [ "$(ls r$n/shards | grep -c '^shard-.*\.h5$')" -eq $n ] && ok || bad "r$n: expected $n shards: $(ls r$n/shards)"
  "$BIN" --phase pack --run r$n --set pack.check=true >c$n.out 2>c$n.err && ok || { bad "check r$n"; cat c$n.err >&2; }
  d=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' c$n.out)
  [ -n "$d" ] && ok || bad "no digest for r$n"
  digests="$digests $d"
done
set -- $digests
[ "${1:-a}" = "${2:-b}" ] && [ "${2:-b}" = "${3:-c}" ] && ok || bad "digests differ across rank counts:$digests"
has "skipped: 0 unusable image(s)" p1.err
has "image loop (decode, resize, tokenize, write)" p1.err

# The thread count changes nothing either (threads decode, one writer keeps the order).
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.threads=3 --run t3 >t3.out 2>t3.err && ok || { bad "pack threads=3"; cat t3.err >&2; }
"$BIN" --phase pack --run t3 --set pack.check=true >ct3.out 2>ct3.err && ok || bad "check t3"
[ "$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' ct3.out)" = "$1" ] && ok || bad "pack.threads=3 digest differs from 1 rank"
has "x 3 thread(s)" t3.err

# Loss mask without upstream's quirk; and a tokenizer without <image> (as stock Qwen2):
# pack adds it (next free id) as upstream's preprocess_qwen does and stores -200.
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.mask_upstream_quirk=false --run nq >nq.out 2>nq.err \
  && ok || { bad "pack without the quirk"; cat nq.err >&2; }
has "loss mask assistant turns only" nq.err
python3 - data/tokenizer.json noimg.json <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
t["added_tokens"] = [a for a in t["added_tokens"] if a["content"] != "<image>"]
v = t["model"]["vocab"]
v["<unused0>"] = v.pop("<image>")  # keep the ids dense, as in a stock vocabulary
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.tokenizer="$PWD/noimg.json" --run ni >ni.out 2>ni.err \
  && ok || { bad "pack with a tokenizer without <image>"; cat ni.err >&2; }
has "has no <image> token; added as id" ni.err

# Independent checks in Python: token ids equal HF tokenizers' on the chat template and the
# loss mask follows train.md A.5 (quirk on and off, <image> -> -200); stored pixels equal
# Pillow's decode + BICUBIC resize within one grey level.
if python3 -c 'import h5py, tokenizers, PIL, numpy' 2>/dev/null; then
  python3 "$SRC/tests/e2e/check_pack.py" r2/shards data/tokenizer.json --quirk on --pillow >py1.out 2>&1 \
    && ok || { bad "check_pack (quirk on, pixels)"; cat py1.out >&2; }
  cat py1.out
  python3 "$SRC/tests/e2e/check_pack.py" nq/shards data/tokenizer.json --quirk off >py2.out 2>&1 \
    && ok || { bad "check_pack (quirk off)"; cat py2.out >&2; }
  python3 "$SRC/tests/e2e/check_pack.py" nq/shards data/tokenizer.json --quirk on >/dev/null 2>&1 \
    && bad "quirk-off shards pass the quirk-on check (option ignored?)" || ok
  python3 "$SRC/tests/e2e/check_pack.py" ni/shards noimg.json --quirk on >py3.out 2>&1 \
    && ok || { bad "check_pack (tokenizer without <image>)"; cat py3.out >&2; }
  # data.pillow_resize=13: Pillow 13's pass order, in pack and in the VinDr conversion (on a copy of
  # the data: the JPEGs are converted again). The demo holds images whose two orders differ, so
  # each pack fails the other release's check.
  cp -r data data13
  "$BIN" --phase pack --set data.dir="$PWD/data13" --set data.pillow_resize=13 --run p13 >p13.out 2>p13.err \
    && ok || { bad "pack data.pillow_resize=13"; cat p13.err >&2; }
  has "converted (minmax, Pillow 13 resize)" p13.err
  python3 "$SRC/tests/e2e/check_pack.py" p13/shards data/tokenizer.json --quirk on --pillow --pillow-resize 13 >py5.out 2>&1 \
    && ok || { bad "check_pack (data.pillow_resize=13, pixels)"; cat py5.out >&2; }
  cat py5.out
  python3 "$SRC/tests/e2e/check_pack.py" p13/shards data/tokenizer.json --quirk on --pillow >/dev/null 2>&1 \
    && bad "data.pillow_resize=13 pixels pass the Pillow 10 check (key ignored?)" || ok
  python3 "$SRC/tests/e2e/check_pack.py" r2/shards data/tokenizer.json --quirk on --pillow --pillow-resize 13 >/dev/null 2>&1 \
    && bad "default (Pillow 10) pixels pass the Pillow 13 check (order ignored?)" || ok
else
  echo "SKIP: python3 with h5py, tokenizers, Pillow and numpy is not available; HF token and Pillow pixel parity not checked"
fi

# pack.image_mode=anyres: each image also at its original resolution (/images/original, covered
# by index.h5 over 2 shards, read back by pack.check; 1 and 2 ranks give the same content). Every
# sample goes through rv_loader_read_sample with the tiny model's tiling (test_anyres --shards);
# check_pack.py --anyres compares the originals with Pillow's decode, the loader's tiles with HF's
# LlavaOnevisionImageProcessor transcribed with Pillow, and the base datasets with the base pack.
for n in 1 2; do
  mpirun -n $n "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_mode=anyres --run ar$n >ar$n.out 2>ar$n.err \
    && ok || { bad "pack anyres -n $n"; cat ar$n.err >&2; }
  "$BIN" --phase pack --run ar$n --set pack.check=true >car$n.out 2>car$n.err && ok || { bad "check anyres r$n"; cat car$n.err >&2; }
done
has "pack.image_mode=anyres" ar2.err
da1=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' car1.out); da2=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' car2.out)
[ -n "$da1" ] && [ "$da1" = "$da2" ] && ok || bad "anyres digests differ across rank counts: '$da1' '$da2'"
[ "$da1" != "$1" ] && ok || bad "anyres digest equals the base digest (originals not covered?)"
TA="$(dirname "$BIN")/test_anyres"
if [ -x "$TA" ]; then
  mkdir -p artiles
  "$TA" --shards ar2/shards --dump artiles >ta.out 2>&1 && ok || { bad "anyres shards through rv_loader_read_sample"; cat ta.out >&2; }
  has "samples read through rv_loader_read_sample" ta.out
  if python3 -c 'import h5py, tokenizers, PIL, numpy' 2>/dev/null; then
    python3 "$SRC/tests/e2e/check_pack.py" ar2/shards data/tokenizer.json --quirk on --anyres artiles --base r2/shards >py4.out 2>&1 \
      && ok || { bad "check_pack (anyres)"; cat py4.out >&2; }
    cat py4.out
  fi
else
  echo "SKIP: $TA not built; anyres shards not read through the loader"
fi

# The index is plain HDF5: h5dump reads the virtual datasets through to the shards.
if command -v h5dump >/dev/null; then
  h5dump -d /samples/task r3/shards/index.h5 >dump.txt 2>&1 && ok || bad "h5dump of index.h5"
  grep -qE 'report_generation|abnormality_detection' dump.txt && ok || bad "task names not in h5dump output"
  # tokenizer_hash is the standard FNV-1a 64 of the tokenizer.json bytes (docs/formats.md),
  # recomputed here from its definition; the schema version is 2.
  if command -v python3 >/dev/null; then
    want=$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 0x100000001b3) % 2**64
print("fnv1a64:%016x" % h)' data/tokenizer.json)
    h5dump -a /tokenizer_hash r2/shards/index.h5 >hash.txt 2>&1
    grep -qF "\"$want\"" hash.txt && ok || { bad "tokenizer_hash is not $want"; cat hash.txt >&2; }
  fi
  h5dump -a /schema_version r2/shards/shard-00001-of-00002.h5 | grep -q '(0): 2$' && ok || bad "schema_version is not 2"
fi

# Packing the instruct phase's LLaVA JSON gives the same samples as building from DATA_DIR.
if "$BIN" --phase instruct --set data.dir="$PWD/data" --run ins --set instruct.tests=false >ins.log 2>&1; then
  mpirun -n 2 "$BIN" --phase pack --set pack.llava_json="$PWD/ins/llava/train.json" \
      --set pack.tokenizer="$PWD/data/tokenizer.json" --run lj >lj.out 2>lj.err && ok || { bad "pack llava json"; cat lj.err >&2; }
  "$BIN" --phase pack --run lj --set pack.check=true >clj.out 2>clj.err && ok || bad "check lj"
  d=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' clj.out)
  [ "$d" = "$1" ] && ok || bad "LLaVA JSON pack digest $d differs from DATA_DIR pack $1"
else
  bad "instruct failed"; cat ins.log >&2
fi

# Bad input: a corrupt image is counted and skipped (skip policy), fatal with on_bad_record=fail.
img=$(find data/CheXpert -name '*.jpg' | sort | head -1)
head -c 300 "$img" > t.jpg && mv t.jpg "$img"
"$BIN" --phase pack --set data.dir="$PWD/data" --run rb >rb.out 2>rb.err && ok || { bad "pack with a corrupt image"; cat rb.err >&2; }
has "skipped: 1 unusable image(s)" rb.err
has "$img" rb.err
"$BIN" --phase pack --set data.dir="$PWD/data" --run rf --set data.on_bad_record=fail >rf.out 2>rf.err && bad "fail policy did not fail" || ok
has "$img" rf.err
# Not regular files (issue L): an image path that is a FIFO (no writer: reading it would block
# forever) and one that is a link to /dev/zero (it would read until memory runs out) are bad
# records, reported and skipped, within a time limit.
img2=$(find data/CheXpert -name '*frontal.jpg' | sort | sed -n 2p); img3=$(find data/CheXpert -name '*frontal.jpg' | sort | sed -n 3p)
rm "$img2" "$img3" && mkfifo "$img2" && ln -s /dev/zero "$img3"
timeout 300 "$BIN" --phase pack --set data.dir="$PWD/data" --run rn >rn.out 2>rn.err && ok || { bad "pack with a FIFO and /dev/zero as images"; tail rn.err >&2; }
has "skipped: 3 unusable image(s)" rn.err
has "not a regular file (a FIFO)" rn.err
has "not a regular file (a character device)" rn.err
# LLaVA JSON: a cell without an image and one with a non-human/gpt role are counted and
# skipped; a file that is not valid UTF-8 is a clear error naming file, line and column.
J=$(find data/MIMIC-CXR-JPG -name '*.jpg' | sort | head -1)
cat > badcells.json <<EOF
[{"image": "$J", "conversations": [{"from": "human", "value": "<image>\\nQ"}, {"from": "robot", "value": "A"}], "id": "x_0"},
 {"conversations": [], "id": "x_1"},
 {"image": "$J", "conversations": [{"from": "human", "value": "<image>\\nWhere?"}, {"from": "gpt", "value": "[0.1, 0.2, 0.3, 0.4]"}], "id": "phrase_grounding_2"}]
EOF
"$BIN" --phase pack --set pack.llava_json="$PWD/badcells.json" --set pack.tokenizer="$PWD/data/tokenizer.json" --run bc >bc.out 2>bc.err \
  && ok || { bad "pack of bad cells"; cat bc.err >&2; }
has "badcells.json: cell 0 (id x_0)" bc.err
has "badcells.json: cell 1 (id x_1)" bc.err
has "pack: 1 samples" bc.err
# A DICOM image (decoded through GDCM, 16 bits to 8 by its range) packs like any other.
D=$(find data/VinDr-CXR/train -name '*.dicom' | sort | head -1)
printf '[{"image": "%s", "conversations": [{"from": "human", "value": "<image>\\nQ"}, {"from": "gpt", "value": "A"}], "id": "d_0"}]' "$D" > dcm.json
"$BIN" --phase pack --set pack.llava_json="$PWD/dcm.json" --set pack.tokenizer="$PWD/data/tokenizer.json" --run dc >dc.out 2>dc.err \
  && ok || { bad "pack of a DICOM cell"; cat dc.err >&2; }
has "pack: 1 samples, 1 images" dc.err
printf '[{"image": "%s", "conversations": [{"from": "human", "value": "Q\xff"}], "id": "u_0"}]' "$J" > utf8.json
"$BIN" --phase pack --set pack.llava_json="$PWD/utf8.json" --set pack.tokenizer="$PWD/data/tokenizer.json" --run bu >bu.out 2>bu.err \
  && bad "invalid UTF-8 accepted" || ok
has "utf8.json: invalid UTF-8" bu.err

# Damage: a truncated shard is reported by the check (and the check fails).
cp -r r2 rd
f=rd/shards/shard-00001-of-00002.h5
head -c 20000 "$f" > t.h5 && mv t.h5 "$f"
"$BIN" --phase pack --run rd --set pack.check=true >cd.out 2>cd.err && bad "check passed on a truncated shard" || ok
has "shard-00001-of-00002.h5" cd.err

# A tokenizer.json with an unknown model type is a clear error.
sed 's/"type": "BPE"/"type": "WordPiece"/' data/tokenizer.json > wp.json
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.tokenizer="$PWD/wp.json" --run rw >rw.out 2>rw.err && bad "WordPiece accepted" || ok
has "WordPiece" rw.err

# A pack killed mid-way leaves no file named like a finished shard and no index.
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=4000 --run rk >rk.out 2>rk.err &
pid=$!
for i in $(seq 1 200); do ls rk/shards.partial 2>/dev/null | grep -q 'tmp' && break; sleep 0.05; done # the set is staged there
sleep 0.3
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
ls rk/shards 2>/dev/null | grep -qE '^(shard-[0-9]+-of-[0-9]+\.h5|index\.h5)$' && bad "killed pack left a complete-looking file: $(ls rk/shards)" || ok
"$BIN" --phase pack --run rk --set pack.check=true >ck.out 2>ck.err && bad "check passed on a killed pack" || ok

# Re-pack (issue L): the new set is written beside the old one (RUN/shards.partial) and swapped
# in at the end, so a re-pack killed at any point leaves the old set complete (pack.check OK,
# same digest as before), and the next pack removes the leftovers and commits its own set.
# The re-packs use pack.max_samples=20, so the new set has a different digest.
mpirun -n 2 "$BIN" --phase pack --set data.dir="$PWD/data" --run rp >rp.out 2>rp.err && ok || { bad "pack rp"; cat rp.err >&2; }
"$BIN" --phase pack --run rp --set pack.check=true >crp.out 2>crp.err && ok || { bad "check rp"; cat crp.err >&2; }
d0=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' crp.out)
[ -n "$d0" ] && ok || bad "no digest for rp"
for kill in 3 -2 -3; do
  for n in 1 2; do
    mpirun -n $n "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.max_samples=20 --set pack.test_kill_after=$kill \
      --run rp >rpk.out 2>rpk.err && bad "re-pack -n $n with pack.test_kill_after=$kill was not killed" || ok
    "$BIN" --phase pack --run rp --set pack.check=true >crp.out 2>crp.err && ok || { bad "old set damaged by a re-pack killed at $kill (-n $n)"; cat crp.err >&2; }
    [ "$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' crp.out)" = "$d0" ] && ok || bad "old set's digest changed by a re-pack killed at $kill (-n $n): $(cat crp.out)"
    [ -d rp/shards.partial ] && ok || bad "killed re-pack ($kill) left no staging directory (was the set written in place?)"
  done
done
# the staging directory of the last kill holds a complete new set (index and shards), not swapped in
[ -f rp/shards.partial/index.h5 ] && [ -f rp/shards.partial/shard-00001-of-00002.h5 ] && ok || bad "pack.test_kill_after=-3 left no complete staged set: $(ls rp/shards.partial)"
mpirun -n 2 "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.max_samples=20 --run rp >rpc.out 2>rpc.err && ok || { bad "clean re-pack"; cat rpc.err >&2; }
has "pack: 20 samples" rpc.err
"$BIN" --phase pack --run rp --set pack.check=true >crp.out 2>crp.err && ok || { bad "check after a clean re-pack"; cat crp.err >&2; }
dn=$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' crp.out)
[ -n "$dn" ] && [ "$dn" != "$d0" ] && ok || bad "clean re-pack did not commit the new set (digest '$dn')"
[ "$(ls rp | grep -c '^shards\.')" -eq 0 ] && ok || bad "leftovers after a clean re-pack: $(ls rp)"
[ "$(ls rp/shards | tr '\n' ' ')" = "index.h5 shard-00000-of-00002.h5 shard-00001-of-00002.h5 " ] && ok || bad "re-packed set: $(ls rp/shards)"
# A pack that died between the two renames of the fallback swap (no RENAME_EXCHANGE) left the
# previous set at OUT.old and no OUT: the next pack puts it back first (here that pack is then
# killed mid-way, so the restored set is what stays).
mv rp/shards rp/shards.old
mpirun -n 2 "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.max_samples=20 --set pack.test_kill_after=1 --run rp >rpo.out 2>rpo.err && bad "not killed" || ok
has "restored the previous shard set" rpo.err
"$BIN" --phase pack --run rp --set pack.check=true >crp.out 2>crp.err && ok || { bad "check after restoring OUT.old"; cat crp.err >&2; }
[ "$(sed -n 's/.*digest \([0-9a-f]*\).*/\1/p' crp.out)" = "$dn" ] && ok || bad "restored set's digest: $(cat crp.out)"
# pack.out holding a file the pack did not write is refused (the swap would carry it away).
echo notes > rp/shards/notes.txt
"$BIN" --phase pack --set data.dir="$PWD/data" --run rp >rpf.out 2>rpf.err && bad "pack into a directory with a foreign file" || ok
has "holds 'notes.txt', which the pack phase did not write" rpf.err
[ -f rp/shards/notes.txt ] && [ -f rp/shards/index.h5 ] && ok || bad "refused pack changed pack.out: $(ls rp/shards)"

# The h5py example of docs/formats.md, without project code.
if ! python3 -c 'import h5py' 2>/dev/null; then
  timeout 120 python3 -m pip install --quiet h5py >/dev/null 2>&1 || timeout 120 python3 -m pip install --quiet --break-system-packages h5py >/dev/null 2>&1
fi
if python3 -c 'import h5py' 2>/dev/null; then
  awk '/^```python/ {f = 1; next} f && /^```/ {exit} f' "$SRC/docs/formats.md" > example.py # the first python block
  (cd r2 && python3 ../example.py shards) >py.out 2>py.err && ok || { bad "h5py example"; cat py.err >&2; }
  has "samples: " py.out
  grep -q "^first text: \[" py.out && ok || { bad "h5py example text"; cat py.out >&2; }
else
  echo "SKIP: h5py is not installed and could not be installed (PyPI unreachable?); the h5py example was not run"
fi

# Empty result (issue L item 8): when every image is unusable, pack fails with the counts and
# what to do, and leaves no index.h5 that pack.check (or training) could take for a finished set.
# Expected: every image file of the copy is emptied (0 bytes, not decodable), so 0 samples.
cp -r data dempty
n_img=$(find dempty -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.dicom' \) | wc -l)
find dempty -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.dicom' \) -exec sh -c 'for f; do : > "$f"; done' sh {} +
"$BIN" --phase pack --set data.dir="$PWD/dempty" --run re >re.out 2>re.err && bad "pack with no usable image exited 0" || ok
has "no sample was packed" re.err
has "unusable image(s)" re.err
has "re-run the pack phase" re.err
[ ! -e re/shards/index.h5 ] && ok || bad "a pack of 0 samples wrote index.h5"
"$BIN" --phase pack --run re --set pack.check=true >rec.out 2>rec.err && bad "pack.check OK on a failed empty pack" || ok
grep -q "pack.check: OK" rec.out && bad "pack.check printed OK for an empty pack" || ok
echo "empty-pack: $n_img images emptied"

finish test_pack
