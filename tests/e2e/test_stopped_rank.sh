#!/usr/bin/env bash
# A rank stopped (SIGSTOP) in the middle of a 3-rank pack: with --set comm.timeout_s=3 the other
# ranks end the job within seconds, naming world rank 2 and its host (the phase's config reaches
# the collectives); a negative comm.timeout_s is refused before the phase starts.
# usage: test_stopped_rank.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"

"$BIN" --phase synth --set data.dir="$PWD/data" --set synth.images_per_source=8 --run syn >synth.log 2>&1 \
  || { echo "synth failed" >&2; cat synth.log >&2; exit 1; }

"$BIN" --phase pack --set data.dir="$PWD/data" --set comm.timeout_s=-1 --run neg >neg.out 2>neg.err \
  && bad "comm.timeout_s=-1 was accepted" || ok
has "comm.timeout_s = -1: give the seconds of a collective's wait (> 0), or 0 for no limit" neg.err

t0=$SECONDS
timeout 300 mpirun -n 3 "$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=1500 \
  --set comm.timeout_s=3 --run stop >stop.out 2>stop.err &
pid=$!
# rank 2 of the job: the launcher's child whose environment says so
rank2=""
for _ in $(seq 1 600); do
  for p in $(pgrep -f -- "--run stop" 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=2'; then rank2=$p; fi
  done
  [ -n "$rank2" ] && grep -q "pack: .* cells" stop.err 2>/dev/null && break
  sleep 0.05
done
[ -n "$rank2" ] && ok || bad "rank 2 of the pack not found"
[ -n "$rank2" ] && kill -STOP "$rank2"
wait $pid; rc=$?
took=$((SECONDS - t0))
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "stopped rank: exit code $rc (want non-zero, not the timeout's 124)"
[ $took -lt 120 ] && ok || bad "stopped rank: the job took $took s to end (comm.timeout_s = 3)"
has "(comm.timeout_s = 3); rank 2 (world rank 2, host " stop.err
has "is silent: no answer to a roll call within 1 s" stop.err
[ -n "$rank2" ] && kill -CONT "$rank2" 2>/dev/null # in case the launcher left it (it should not)

finish test_stopped_rank
