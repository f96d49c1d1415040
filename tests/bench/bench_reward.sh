#!/usr/bin/env bash
# Reward throughput: GRPO's MPI reward rank (train/reward_service.h, bench_reward) against
# upstream's HTTP reward path (one uvicorn/FastAPI server, verl's naive_pool 512-thread client;
# bench_reward_http.py), both scoring GoogleBLEU on the same phantom report pairs, on this
# machine's loopback (docs/performance.md, "GRPO: reward ranks and rollouts"). Not a test: it
# prints numbers and never fails on them; without a python that has fastapi, uvicorn, nltk and
# requests (and no way to make one) it measures the MPI side only and says so.
# Each side runs for SECONDS per trial; the sides alternate (MPI, HTTP, MPI, HTTP, ...) REPEAT
# times and the table gives each side's best trial and the ratio.
# Usage: tests/bench/bench_reward.sh [BUILD_DIR]
# Environment: SECONDS_PER_SIDE (4), REPEAT (2), BATCH (512 pairs per batch, both sides), DEPTH
# (2 batches in flight per policy rank), POLICY (1 policy rank; the reward rank is one more),
# PAIRS (400 distinct pairs), STUDIES (3 phantom studies per reference text), PYTHON (a python3
# with fastapi uvicorn nltk requests; else /tmp/venv-reward/bin/python or BUILD/rewardenv, which
# this script tries to create with pip), KEEP (a directory to keep the RESULT lines in).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
SECS=${SECONDS_PER_SIDE:-4}
REPEAT=${REPEAT:-2}
BATCH=${BATCH:-512}
DEPTH=${DEPTH:-2}
POLICY=${POLICY:-1}
PAIRS=${PAIRS:-400}
STUDIES=${STUDIES:-3}

has_http() { "$1" -c 'import fastapi, uvicorn, nltk, requests' 2>/dev/null; }
PYTHON=${PYTHON:-python3}
if ! has_http "$PYTHON"; then
    if has_http /tmp/venv-reward/bin/python; then PYTHON=/tmp/venv-reward/bin/python
    elif has_http "$BUILD/rewardenv/bin/python"; then PYTHON=$BUILD/rewardenv/bin/python
    else
        echo "bench_reward.sh: no python with fastapi uvicorn nltk requests; creating $BUILD/rewardenv" >&2
        if python3 -m venv "$BUILD/rewardenv" >/dev/null 2>&1 &&
           "$BUILD/rewardenv/bin/pip" install -q fastapi uvicorn nltk requests >&2 &&
           has_http "$BUILD/rewardenv/bin/python"; then
            PYTHON=$BUILD/rewardenv/bin/python
        else
            echo "HTTP side skipped: no python with fastapi, uvicorn, nltk and requests, and $BUILD/rewardenv could" \
                 "not be made (no network?); set PYTHON to an interpreter that has them. Measuring the MPI side only."
            PYTHON=
        fi
    fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target bench_reward -j2 >/dev/null
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores; load average at start: $(load)"
"$BUILD/bench_reward" --export "$WORK/pairs.jsonl" --pairs "$PAIRS" --studies "$STUDIES"
RES=$WORK/results.txt
: >"$RES"
for r in $(seq 1 "$REPEAT"); do
    echo "== trial $r: MPI, $POLICY policy rank(s) + 1 reward rank, batch $BATCH, depth $DEPTH, load $(load) =="
    mpirun -n $((POLICY + 1)) --bind-to none "$BUILD/bench_reward" --pairs "$PAIRS" --studies "$STUDIES" \
        --batch "$BATCH" --depth "$DEPTH" --seconds "$SECS" | tee -a "$RES"
    if [ -n "$PYTHON" ]; then
        echo "== trial $r: HTTP, 1 uvicorn server + 512-thread client, batch $BATCH, load $(load) =="
        "$PYTHON" "$ROOT/tests/bench/bench_reward_http.py" --pairs "$WORK/pairs.jsonl" --batch "$BATCH" \
            --seconds "$SECS" | tee -a "$RES"
    fi
done
echo "load average at end: $(load)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$RES" "$KEEP/"; fi
# Table: each side's best trial (highest pairs/s); MPI/HTTP = the pairs/s ratio.
awk '
function kv(line, key,   n, i, f, a) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) { split(f[i], a, "="); if (a[1] == key) return a[2] }
    return ""
}
/^RESULT/ {
    impl = kv($0, "impl"); p = kv($0, "pairs_per_s") + 0
    if (!(impl in best) || p > best[impl]) { best[impl] = p; line[impl] = $0 }
}
END {
    printf "\n%-5s %8s %11s %12s %12s %13s %13s\n", "side", "batch", "pairs/s", "req p50 ms", "req p99 ms",
           "batch p50 ms", "batch p99 ms"
    if ("mpi" in best) {
        l = line["mpi"]
        printf "%-5s %8s %11.1f %12s %12s %13.2f %13.2f\n", "MPI", kv(l, "batch"), best["mpi"], "(= batch)", "(= batch)",
               kv(l, "batch_p50_ms"), kv(l, "batch_p99_ms")
    }
    if ("http" in best) {
        l = line["http"]
        printf "%-5s %8s %11.1f %12.2f %12.2f %13.2f %13.2f\n", "HTTP", kv(l, "batch"), best["http"], kv(l, "req_p50_ms"),
               kv(l, "req_p99_ms"), kv(l, "batch_p50_ms"), kv(l, "batch_p99_ms")
    }
    if (("mpi" in best) && ("http" in best)) printf "\nMPI / HTTP pairs/s: %.1f x\n", best["mpi"] / best["http"]
    print "\nMPI: one request is one batch (a message each way), so its request latency is the batch latency."
    print "HTTP: one request per pair; a batch is the 512-thread pool over the batch'"'"'s pairs (verl naive_pool)."
}' "$RES"
