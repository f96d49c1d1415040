# Shared by the benchmarks that run transformers (bench_eval.sh, bench_rollout.sh): source it, then
# `hf_python BUILD create|skip NAME` sets PYTHON to an interpreter with torch, transformers and
# safetensors: $PYTHON, else /tmp/venv-model, else BUILD/benchenv; with `create` it makes
# BUILD/benchenv with pip (CPU torch) when none has them. Returns 1 (after saying why) when there is
# none, and the caller skips its Python side.
has_hf() { "$1" -c 'import torch, transformers, safetensors' 2>/dev/null; }
hf_python() {
  local build=$1 mode=$2 name=$3
  PYTHON=${PYTHON:-python3}
  has_hf "$PYTHON" && return 0
  if has_hf /tmp/venv-model/bin/python; then PYTHON=/tmp/venv-model/bin/python; return 0; fi
  if has_hf "$build/benchenv/bin/python"; then PYTHON=$build/benchenv/bin/python; return 0; fi
  if [ "$mode" = create ]; then
    echo "$name: no python with torch + transformers; creating $build/benchenv (CPU torch)" >&2
    if python3 -m venv "$build/benchenv" >/dev/null 2>&1 &&
       "$build/benchenv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch >&2 &&
       "$build/benchenv/bin/pip" install -q transformers safetensors tokenizers pillow numpy >&2 &&
       has_hf "$build/benchenv/bin/python"; then
      PYTHON=$build/benchenv/bin/python; return 0
    fi
    echo "skipped: no python with torch and transformers, and $build/benchenv could not be made (no network?);" \
         "set PYTHON to an interpreter that has them"
    return 1
  fi
  echo "skipped: no python with torch and transformers; set PYTHON to one, or run tests/bench/bench_eval.sh" \
       "once (it creates $build/benchenv with pip)"
  return 1
}
