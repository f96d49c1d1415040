#!/usr/bin/env bash
# The CUDA backend's device sampling (kernels/cuda/sample.cu), run without a GPU:
# tests/gpu/sample_emu.cpp compiles the .cu source as host C++ (every CTA as 256 fibers, see
# tests/gpu/cuda_emu.h) with the shared rule kernels/sample_rule.c and checks the statistics and
# candidate kernels against host references, the whole path's ids against a full-sort reference,
# every fallback, and measures the fallback rate on V = 151936 rows (see its header). Needs only a
# C and a C++17 compiler with <ucontext.h>; skipped without them.
# usage: test_sample_emu.sh BINARY WORKDIR
set -u
HERE=$(cd "$(dirname "$0")" && pwd); SRC=$(cd "$HERE/../.." && pwd)
WORK=$2
mkdir -p "$WORK" && cd "$WORK" || exit 1
source "$HERE/lib.sh"
CXX=${CXX:-c++}
CC=${CC:-cc}
command -v "$CXX" >/dev/null || skip_all "no C++ compiler ($CXX)"
command -v "$CC" >/dev/null || skip_all "no C compiler ($CC)"
if ! { "$CC" -std=c11 -O2 -Wall -Wextra -Werror -I"$SRC" -I"$SRC/src" -c "$SRC/kernels/sample_rule.c" -o sample_rule.o &&
       "$CXX" -std=c++17 -O2 -Wall -Wextra -Wno-unknown-pragmas -Werror -I"$SRC" -I"$SRC/src" \
         "$SRC/tests/gpu/sample_emu.cpp" sample_rule.o -lm -o sample_emu; } 2>build.log; then
  cat build.log >&2
  bad "tests/gpu/sample_emu.cpp does not build"
else
  ./sample_emu >emu.log 2>&1 && ok || { bad "sample_emu reports failures"; grep -v '^PASS' emu.log >&2; }
  grep -E '^(FAIL|MEASURE)|failure' emu.log
  n=$(grep -c '^PASS' emu.log)
  [ "$n" -ge 200 ] && ok || bad "sample_emu ran $n checks, at least 200 expected"
fi
finish test_sample_emu
