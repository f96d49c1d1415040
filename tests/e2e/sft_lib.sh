# Shared by tests/e2e/test_sft*.sh (source after lib.sh, inside the work directory): a small
# phantom set packed for the tiny model (56-pixel tiles), and sft settings of a few seconds.
sft_data() {
  "$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
    || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }
  "$BIN" --phase instruct --set data.dir="$PWD/data" --set instruct.tests=false --run base >instruct.log 2>&1 \
    || { echo "instruct failed" >&2; cat instruct.log >&2; exit 1; }
  "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=56 --run base >pack.log 2>&1 \
    || { echo "pack failed" >&2; cat pack.log >&2; exit 1; }
  CHECK="python3 $SRC/tests/e2e/check_sft.py"
  python3 -c "import h5py, numpy" 2>/dev/null || skip_all "h5py and numpy are needed to read RUN/log.h5"
}
# A run directory sharing the packed shards.
sft_run_dir() { rm -rf "$1"; mkdir -p "$1"; ln -s "$PWD/base/shards" "$1/shards"; }
# Tiny model, global batch 6 (1, 2 or 3 ranks), 8 steps, a checkpoint every 4, held-out loss every 2.
SFT_SETS=(--set data.dir="$PWD/data" --set sft.init=random:tiny --set sft.global_batch=6 --set sft.max_tokens=512
          --set sft.max_steps=8 --set sft.lr=2e-3 --set sft.projector_lr=2e-3 --set sft.vision_lr=5e-4
          --set sft.save_every=4 --set sft.keep=0 --set sft.eval_every=2 --set sft.eval_samples=6
          --set sft.eval_holdout=0.1 --set compute.threads=1 --set sft.peak_gflops=10)
