#!/usr/bin/env bash
# SIGTERM (scancel, Ctrl-C under mpirun) during a pack: the ranks remove their unfinished
# temporaries (core/temp_files.h) on the way out, so no shard-*.h5.tmp-PID, index.h5.tmp-PID or
# .NAME.partial-PID file is left, and the process still ends by the signal (not exit 0).
# One process killed directly, then a 2-rank mpirun killed through the launcher.
# usage: test_sigterm.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
  || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }

temporaries() { find "$1" \( -name '*.tmp-*' -o -name '.*.partial-*' \) 2>/dev/null; }

# waits until a shard temporary exists under run dir $1 (the pack is writing), at most 60 s
wait_writing() {
  for _ in $(seq 1 1200); do [ -n "$(find "$1" -name 'shard-*.tmp-*' 2>/dev/null)" ] && return 0; sleep 0.05; done
  return 1
}

# large images make the pack slow enough to be caught while writing
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=4000 --run one >one.out 2>one.err &
pid=$!
if wait_writing one; then ok; else bad "one rank: no shard temporary appeared"; cat one.err >&2; fi
[ -n "$(temporaries one)" ] && ok || bad "one rank: no temporary to remove (the test would prove nothing)"
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 143 ] && ok || bad "one rank: exit status $rc after SIGTERM (want 143: ended by the signal)"
left=$(temporaries one)
[ -z "$left" ] && ok || bad "one rank: SIGTERM left temporaries: $left"

# under mpirun: the launcher passes SIGTERM to the ranks, and SIGKILL odls_base_sigkill_timeout
# seconds later (1 s by default; Slurm's KillWait is 30 s): 10 s here, so that a rank slowed down
# by a loaded test machine still runs its handler (the handler is what this checks)
mpirun --mca odls_base_sigkill_timeout 10 -n 2 "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=4000 --run two >two.out 2>two.err &
pid=$!
if wait_writing two; then ok; else bad "two ranks: no shard temporary appeared"; cat two.err >&2; fi
sleep 0.5 # both ranks are writing
kill -TERM $pid; wait $pid; rc=$?
[ $rc -ne 0 ] && ok || bad "two ranks: mpirun exited 0 after SIGTERM"
sleep 1 # the launcher's children are gone once it returns; a margin for the file system
left=$(temporaries two)
[ -z "$left" ] && ok || bad "two ranks: SIGTERM left temporaries: $left"

finish test_sigterm
