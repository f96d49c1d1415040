#!/bin/bash
# e2e: `--phase synth` with 1, 2 and 3 ranks writes byte-identical trees (the demo
# tokenizer.json included), every file of reference/data.md §0.1 for the seven sources exists,
# and HF tokenizers loads the demo tokenizer. Usage: test_synth.sh BINARY WORKDIR
set -u
BIN=$1
WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
fail=0
for n in 1 2 3; do
  if ! mpirun --allow-run-as-root -n $n --oversubscribe "$BIN" --phase synth --config "$SRC/jobs/demo.json" \
      --set data.dir="$WORK/d$n" --set synth.images_per_source=40 >"$WORK/log$n.txt" 2>&1; then
    echo "FAIL: synth with $n rank(s) exited non-zero"; tail -20 "$WORK/log$n.txt"; fail=1
  fi
done
for n in 2 3; do
  if ! diff -r "$WORK/d1" "$WORK/d$n" >"$WORK/diff$n.txt"; then
    echo "FAIL: the tree written with $n ranks differs from 1 rank:"; head -20 "$WORK/diff$n.txt"; fail=1
  fi
done
D=$WORK/d1
need_file() { [ -s "$D/$1" ] || { echo "FAIL: missing or empty $1"; fail=1; }; }
need_glob() { compgen -G "$D/$1" >/dev/null || { echo "FAIL: nothing matches $1"; fail=1; }; }
for f in MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv \
         MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv MIMIC-CXR-JPG/reports.csv MIMIC-CXR-JPG/genders.json \
         CheXpert/train.csv CheXpert/valid.csv CheXpert/test.csv CheXpert/df_chexpert_plus_240401.csv \
         CheXpert/chexbert_labels/report_fixed.json \
         CHEST_IMA/silver_dataset/splits/train.csv CHEST_IMA/silver_dataset/splits/valid.csv \
         CHEST_IMA/silver_dataset/splits/test.csv \
         VinDr-CXR/annotations_train.csv VinDr-CXR/annotations_test.csv \
         MS-CXR/MS_CXR_Local_Alignment_v1.0.0.csv \
         PadChest/PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv PadChest/master_table.csv \
         PadChest/grounded_reports_20240819.json; do
  need_file "$f"
done
for g in 'MIMIC-CXR-JPG/files/p1?/p*/s*/*.jpg' 'MIMIC-CXR-JPG/filtered_reports/*.txt' \
         'MIMIC-CXR-JPG/conversations/train/standard/*.json' 'MIMIC-CXR-JPG/conversations/train/grounding/*.json' \
         'MIMIC-CXR-JPG/conversations/test/standard/*.json' 'MIMIC-CXR-JPG/conversations/test/grounding/*.json' \
         'CheXpert/train/patient*/study*/view1_frontal.jpg' 'CheXpert/train/patient*/study*/view2_lateral.jpg' \
         'CheXpert/valid/patient*/study*/*.jpg' 'CheXpert/test/patient*/study*/*.jpg' \
         'CheXpert/filtered_reports/train_patient*_study*.txt' \
         'CHEST_IMA/silver_dataset/scene_graph/*_SceneGraph.json' \
         'VinDr-CXR/train/*.dicom' 'VinDr-CXR/test/*.dicom' \
         'MS-CXR/sentences_and_BBox_mscxr/*.json' 'MS-CXR/sentences_BBox_mscxr/*.json' \
         'PadChest/images_grounding/*.png' 'PadChest/conversations/train/grounding/*.json'; do
  need_glob "$g"
done
# Edge cases the readers' rules need.
grep -q ',No finding,,,,$' "$D/VinDr-CXR/annotations_train.csv" || { echo "FAIL: no 'No finding' VinDr row"; fail=1; }
grep -q ',LATERAL,' "$D/MIMIC-CXR-JPG/mimic-cxr-2.0.0-metadata.csv" || { echo "FAIL: no lateral MIMIC view"; fail=1; }
grep -q ',L,' "$D/PadChest/master_table.csv" || { echo "FAIL: no non-AP/PA PadChest projection"; fail=1; }
grep -q -- ',-1.0' "$D/CheXpert/train.csv" || { echo "FAIL: no uncertain CheXpert label"; fail=1; }
grep -q '"boxes": \[\]' "$D/PadChest/grounded_reports_20240819.json" || { echo "FAIL: no PadChest sentence without boxes"; fail=1; }
awk -F, '$6=="1.0" && $19=="1.0" {f=1} END {exit !f}' "$D/CheXpert/train.csv" \
  || { echo "FAIL: no CheXpert row with No Finding=1 and Support Devices=1"; fail=1; }
# a study with a chexpert row but no reports.csv row, and one with a report but no filtered report
missing_rep=$(awk -F, 'NR==FNR {if ($1 ~ /^s[0-9]+$/) r[substr($1,2)]=1; next} FNR>1 && !($2 in r) {n++} END {print n+0}' \
  "$D/MIMIC-CXR-JPG/reports.csv" "$D/MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv")
missing_filt=$(tail -n +2 "$D/MIMIC-CXR-JPG/mimic-cxr-2.0.0-chexpert.csv" | cut -d, -f2 | while read -r st; do
  [ -f "$D/MIMIC-CXR-JPG/filtered_reports/$st.txt" ] || echo "$st"; done | wc -l)
[ "$missing_rep" -gt 0 ] && [ "$missing_filt" -gt "$missing_rep" ] || { echo "FAIL: missing-report edge cases absent ($missing_rep, $missing_filt)"; fail=1; }
for s in train test; do
  [ "$(grep -c ",$s\$" "$D/MIMIC-CXR-JPG/mimic-cxr-2.0.0-split.csv")" -gt 0 ] || { echo "FAIL: no MIMIC $s rows"; fail=1; }
done
[ "$(wc -l <"$D/CHEST_IMA/silver_dataset/splits/test.csv")" -gt 1 ] || { echo "FAIL: empty ImaGenome test split"; fail=1; }
# The demo tokenizer (synth.tokenizer_vocab, default 2048): HF tokenizers loads it unchanged;
# the specials are ids 0..3 and the chat template's role words are single tokens.
need_file tokenizer.json
if python3 -c 'import tokenizers' 2>/dev/null; then
  python3 - "$D/tokenizer.json" <<'PY' || { echo "FAIL: demo tokenizer check (above)"; fail=1; }
import sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
assert [t.token_to_id(s) for s in specials] == [0, 1, 2, 3], [t.token_to_id(s) for s in specials]
assert 260 < t.get_vocab_size() <= 2048, t.get_vocab_size()
for role in ("system", "user", "assistant"):
    e = t.encode(f"<|im_start|>{role}\n", add_special_tokens=False).tokens
    assert e == ["<|im_start|>", role, "\u010a"], e  # \n is the ByteLevel character U+010A
e = t.encode("You are a helpful assistant.", add_special_tokens=False).tokens
assert len(e) == 6, e
print(f"demo tokenizer: {t.get_vocab_size()} ids, loads in HF tokenizers; roles and system message compact")
PY
else
  echo "SKIP: python3 tokenizers is not installed; the demo tokenizer was not loaded with HF"
fi
if [ $fail -eq 0 ]; then echo "test_synth: ok (1/2/3 ranks identical, all source files present, demo tokenizer)"; fi
exit $fail
