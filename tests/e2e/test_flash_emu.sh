#!/usr/bin/env bash
# The fused attention kernels of the CUDA backend (kernels/cuda/attention_flash.cu), run without a
# GPU: tests/gpu/flash_emu.cpp compiles the .cu source as host C++ (every CTA as 256 fibers, WMMA
# emulated) and checks both variants (fp32 FMA, bf16 WMMA) for out / lse / dq / dk / dv against a
# double-precision reference, the accum rule and NULL outputs (see its header). Needs only a C++17 compiler with <ucontext.h>; skipped without one.
# usage: test_flash_emu.sh BINARY WORKDIR
set -u
HERE=$(cd "$(dirname "$0")" && pwd); SRC=$(cd "$HERE/../.." && pwd)
WORK=$2
mkdir -p "$WORK" && cd "$WORK" || exit 1
source "$HERE/lib.sh"
CXX=${CXX:-c++}
command -v "$CXX" >/dev/null || skip_all "no C++ compiler ($CXX)"
if ! "$CXX" -std=c++17 -O2 -Wall -Wextra -Wno-unknown-pragmas -Werror -I"$SRC" -I"$SRC/src" \
     "$SRC/tests/gpu/flash_emu.cpp" -o flash_emu 2>build.log; then
  cat build.log >&2
  bad "tests/gpu/flash_emu.cpp does not build"
else
  ./flash_emu >emu.log 2>&1 && ok || { bad "flash_emu reports failures"; cat emu.log >&2; }
  cat emu.log
  n=$(grep -c '^PASS' emu.log)
  [ "$n" -ge 57 ] && ok || bad "flash_emu ran $n checks, 57 expected"
fi
finish test_flash_emu
