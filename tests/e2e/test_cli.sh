#!/usr/bin/env bash
# Command line and job configuration, through the real binary under mpirun.
# usage: test_cli.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
expect_rc() { local want=$1; shift; "$@" >out.txt 2>err.txt; local rc=$?; [ $rc -eq "$want" ] && ok || bad "rc $rc (want $want): $*"; }

expect_rc 0 "$BIN" --version;             has "radvlm-hpc" out.txt
expect_rc 0 "$BIN" --help;                has "--phase" out.txt; has "data.on_bad_record" out.txt
expect_rc 0 "$BIN" --help --phase synth;  has "synth.images_per_source" out.txt
expect_rc 2 "$BIN" --phase nosuch;        has "unknown phase 'nosuch'" err.txt
expect_rc 2 "$BIN" --phse synth;          has "did you mean '--phase'" err.txt
expect_rc 2 "$BIN";                       has "--phase is required" err.txt

# Unknown key in a job file: every rank exits non-zero; the message names file, key and closest key.
echo '{"data": {"on_bad_recrod": "skip"}}' > typo.json
expect_rc 1 mpirun -n 2 "$BIN" --phase synth --config typo.json
has "typo.json: unknown key 'data.on_bad_recrod'; the closest valid key is 'data.on_bad_record'" err.txt
echo '{"synth": {"images_per_source": "many"}}' > type.json
expect_rc 1 mpirun -n 2 "$BIN" --phase synth --config type.json
has "key 'synth.images_per_source' must be an integer" err.txt
# A job file is one JSON document (issue L): text after it is an error naming line and column;
# of a key given twice the last counts, as in Python's json.
echo '{"run": {"dir": "r"}} garbage' > trailing.json
expect_rc 1 "$BIN" --phase synth --config trailing.json
has "trailing.json:1:23: text after the JSON value" err.txt
echo '{"run": {"seed": 1}, "run": {"seed": 5, "dir": "rdup"}}' > dup.json
"$BIN" --phase synth --config dup.json --set data.dir="$PWD/dupdata" --set synth.images_per_source=1 >out.txt 2>err.txt
has '"seed": 5' rdup/config.json

# A phase that needs data without DATA_DIR or data.dir fails on all ranks with what to do.
env -u DATA_DIR mpirun -n 2 "$BIN" --phase instruct --run r1 >out.txt 2>err.txt
[ $? -ne 0 ] && ok || bad "instruct without data dir succeeded"
has "set the DATA_DIR environment variable or data.dir" err.txt

# The resolved config lands in the run directory; DATA_DIR is used when data.dir is unset,
# and data.dir wins when both are set.
mkdir -p envdata cfgdata
DATA_DIR=$PWD/envdata "$BIN" --phase score --run r2 --set run.seed=77 >/dev/null 2>&1
[ -f r2/config.json ] && ok || bad "r2/config.json missing"
has '"seed": 77' r2/config.json
has "\"dir\": \"$PWD/envdata\"" r2/config.json
DATA_DIR=$PWD/envdata "$BIN" --phase score --run r3 --set data.dir=$PWD/cfgdata >/dev/null 2>&1
has "\"dir\": \"$PWD/cfgdata\"" r3/config.json
ls r2/.config.json.partial* >/dev/null 2>&1 && bad "temporary file left behind" || ok

finish test_cli
