#!/usr/bin/env bash
# The GPU check of issue I: ONE script, ONE call, under 8 minutes on one H100/H200-class GPU.
# Writes everything into ONE report file, $OUT/gpu_report.txt ($OUT: the device tool's output
# folder; ./gpu-out when unset). Steps, each time-boxed (a hang cannot eat the run):
#   build  configure with CUDA (RADVLM_CUDA=ON, only this GPU's architecture), build the checks
#   (a)    kernel_conformance: every kernel of kernels.h, cpu vs cuda, per-kernel bf16 tolerances
#          (the GEMMs with weights in the bf16 weight shadow against the CPU's emulation of it),
#          then again with the backend's GEMMs in fp32 (RADVLM_CUDA_GEMM=fp32, no shadow) at 1e-4
#   (a'')  the attention cases again on the fused kernels (RADVLM_CUDA_ATTN=flash), at the same
#          tolerances: the bf16 WMMA variant at 2e-2, the fp32 one (RADVLM_CUDA_GEMM=fp32) at 1e-4
#   (b,c)  model_parity tiny and 100m: one SFT step and one GRPO mini-batch (loss within 1e-2
#          relative, gradient cosine >= 0.99) with the bf16 weight shadow bound (the default)
#          against the CPU's fp32, greedy generation agreement
#   (d0)   bench_gpu --attention: the GEMM path against the fused kernels, forward and forward +
#          backward, 2x2048 causal Hq 28/4 D 128 and 16 SigLIP tiles of 729 tokens Hq 16 D 72 (the
#          data that decides RVK_CU_FLASH_IN_AUTO), with their agreement and determinism
#   (d)    bench_gpu 0.5b and 7b shapes: SFT tokens/s and MFU against the GPU's dense bf16 peak
#          (read from the device name), decode tokens/s; the 7b shape with the layers that fit
#   (e)    comm_device_check: NCCL and the staged transport on device buffers (one rank per GPU)
# Without a GPU (no nvidia-smi, no device, no nvcc) it writes why into the report and exits 0:
# nothing is claimed. --self-check runs the whole pipeline on the CPU backend against itself with
# small shapes (the script's own plumbing, on any machine; no GPU figures).
# Usage: tests/gpu/run.sh [--self-check] [--budget SECONDS (default 460)]
# GPU_BUILD_DIR=DIR reuses a build folder (default build-gpu, build-gpu-selfcheck).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
REPORT=$OUT/gpu_report.txt
SELF=0
BUDGET=460
while [ $# -gt 0 ]; do
  case $1 in
    --self-check) SELF=1 ;;
    --budget) BUDGET=$2; shift ;;
    *) echo "usage: tests/gpu/run.sh [--self-check] [--budget SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
T0=$(date +%s)
: >"$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }
declare -a SUMMARY=()
# step NAME CAP_SECONDS command...: runs with a timeout of min(CAP, time left), output into the report
step() {
  local name=$1 cap=$2; shift 2
  local t=$(left)
  [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 5 ]; then
    say "== $name: NOT RUN (the run's $BUDGET s budget is spent)"
    SUMMARY+=("$name: not run (budget)")
    return
  fi
  say "== $name (limit ${t} s): $*"
  local s=$(date +%s)
  timeout -k 10 "$t" "$@" >>"$REPORT" 2>&1
  local rc=$?
  local d=$(( $(date +%s) - s ))
  local what=FAIL
  case $rc in
    0) what=PASS ;;
    77) what=SKIP ;;
    124|137) what="TIMEOUT (${t} s)" ;;
  esac
  say "== $name: $what (exit $rc, ${d} s)"
  SUMMARY+=("$name: $what (${d} s)")
}

say "RadVLM-HPC GPU check ($(date -u +%FT%TZ)), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
NPROC=$(nproc 2>/dev/null || echo 4)

if [ $SELF -eq 1 ]; then
  BACKEND=cpu
  say "SELF-CHECK: the CPU backend against itself, small shapes: this checks the script, not a GPU"
  BUILD=${GPU_BUILD_DIR:-$ROOT/build-gpu-selfcheck}
  CMAKE_ARGS=(-DRADVLM_CUDA=OFF)
else
  BACKEND=cuda
  why=""
  command -v nvidia-smi >/dev/null 2>&1 || why="nvidia-smi is not installed"
  if [ -z "$why" ]; then
    GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1)
    rc=$?
    GPU_NAME=$(echo "$GPU_NAME" | head -1)
    [ $rc -eq 0 ] && [ -n "$GPU_NAME" ] || why="nvidia-smi finds no usable GPU (exit $rc: ${GPU_NAME:-no output})"
  fi
  [ -z "$why" ] && ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ] && why="nvcc is not installed"
  if [ -n "$why" ]; then
    say "SKIP: no GPU check on this machine: $why. Nothing was measured; no GPU claim is made."
    exit 0
  fi
  export PATH=$PATH:/usr/local/cuda/bin
  NGPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
  MEM_MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1 | tr -d ' ')
  CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  # dense bf16 tensor-core peak (no sparsity), TFLOP/s, from the device name
  case "$GPU_NAME" in
    *H100*PCIe*) PEAK=756 ;;
    *H100*|*H200*|*GH200*|*H800*) PEAK=989 ;;
    *A100*) PEAK=312 ;;
    *L40S*) PEAK=362 ;;
    *) PEAK=0 ;;
  esac
  say "GPU: $GPU_NAME x $NGPU, $MEM_MIB MiB, compute capability ${CAP:-?}; dense bf16 peak ${PEAK} TFLOP/s (0: unknown, no MFU)"
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,power.limit --format=csv >>"$REPORT" 2>&1
  BUILD=${GPU_BUILD_DIR:-$ROOT/build-gpu}
  CMAKE_ARGS=(-DRADVLM_CUDA=ON ${CAP:+-DCMAKE_CUDA_ARCHITECTURES=$CAP})
fi
say "host: $NPROC cores; budget $BUDGET s"

step build 240 bash -c "cmake -S '$ROOT' -B '$BUILD' -DCMAKE_BUILD_TYPE=Release -DRADVLM_WERROR=OFF ${CMAKE_ARGS[*]} >/dev/null && \
  cmake --build '$BUILD' -j$NPROC --target kernel_conformance model_parity bench_gpu comm_device_check 2>&1 | grep -E 'error|warning|Error' ; \
  test -x '$BUILD/kernel_conformance' -a -x '$BUILD/model_parity' -a -x '$BUILD/bench_gpu' -a -x '$BUILD/comm_device_check'"
if [ ! -x "$BUILD/bench_gpu" ]; then
  say "the build failed: nothing else can run"
else
  step "(a) kernel conformance" 60 "$BUILD/kernel_conformance" --backend $BACKEND
  # the same with the backend's GEMMs in fp32, held to 1e-4: an index error cannot hide in bf16 noise
  [ $SELF -eq 0 ] && step "(a') kernel conformance, fp32 GEMMs" 60 env RADVLM_CUDA_GEMM=fp32 "$BUILD/kernel_conformance" --backend cuda --fp32-gemm
  # the fused attention kernels, held to the GEMM path's tolerances (attention cases only: seconds)
  step "(a'') attention, fused kernels" 30 env RADVLM_CUDA_ATTN=flash "$BUILD/kernel_conformance" --backend $BACKEND --only attention
  [ $SELF -eq 0 ] && step "(a''') attention, fused kernels, fp32 GEMMs" 30 env RADVLM_CUDA_ATTN=flash RADVLM_CUDA_GEMM=fp32 "$BUILD/kernel_conformance" --backend cuda --fp32-gemm --only attention
  step "(b,c) model parity tiny" 60 "$BUILD/model_parity" --config tiny --backend $BACKEND --threads $NPROC
  if [ $SELF -eq 1 ]; then
    step "(d0) attention bench (small shapes)" 30 "$BUILD/bench_gpu" --attention small --backend cpu --steps 1 --threads $NPROC
    step "(d) bench tiny" 120 "$BUILD/bench_gpu" --config tiny --backend cpu --tokens 300 --steps 1 --decode-batch 2 --decode-new 4 --threads $NPROC --recompute layers-bf16
  else
    step "(b,c) model parity 100m" 120 "$BUILD/model_parity" --config 100m --backend cuda --threads $NPROC
    GIB=$(awk -v m="$MEM_MIB" 'BEGIN { printf "%.1f", m / 1024 }')
    step "(d0) attention: gemm vs flash" 45 "$BUILD/bench_gpu" --attention full --backend cuda --peak-tflops $PEAK
    step "(d) bench 0.5b" 120 "$BUILD/bench_gpu" --config 0.5b --backend cuda --mem-gib "$GIB" --peak-tflops $PEAK
    # 7b with recomputation and bf16 checkpoints (compute.recompute = layers), so all 28 layers can fit
    step "(d) bench 7b" 150 "$BUILD/bench_gpu" --config 7b --backend cuda --mem-gib "$GIB" --peak-tflops $PEAK --recompute layers-bf16
    N=$NGPU; [ "$N" -gt 8 ] && N=8
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    step "(e) NCCL on $N rank(s)" 60 mpirun -n "$N" "$BUILD/comm_device_check"
  fi
fi

say ""
say "== summary ($(( $(date +%s) - T0 )) s of $BUDGET)"
for s in "${SUMMARY[@]}"; do say "  $s"; done
say "RESULT lines:"
grep -h '^RESULT ' "$REPORT" | sed 's/^/  /' >>"$REPORT"
echo "report: $REPORT"
