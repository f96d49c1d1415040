#!/usr/bin/env bash
# Dependency rules (check_deps.py): no include circle in src/, io/, kernels/; no arrow from
# model/ to data/ nor between the data/ roles against their order (sources <- instruct, synth;
# loader last); and no two src/ modules that need each other's symbols (nm over the
# objects built next to BINARY).
# usage: test_deps.sh BINARY WORKDIR
set -u
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd); SRC=$(cd "$HERE/../.." && pwd)
OBJ=$(dirname "$BIN")/CMakeFiles/radvlm.dir
if ! command -v python3 >/dev/null || ! command -v nm >/dev/null; then
    echo "SKIP: python3 and nm are needed" >&2
    exit 77
fi
python3 "$HERE/check_deps.py" "$SRC" "$OBJ" src
