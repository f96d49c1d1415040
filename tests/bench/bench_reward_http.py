#!/usr/bin/env python3
"""Upstream's reward path on loopback: the HTTP side of tests/bench/bench_reward.sh.

Upstream (RadVLM-GRPO, verl/custom_rewards) scores GRPO rollouts with single-process uvicorn
FastAPI servers (reward_server/worker_*.py: POST /score_<name>, body {"pred_text", "true_text"},
reply {"score"}, requests serialised by asyncio.Semaphore(1)) called by verl's naive_pool reward
manager: a ThreadPoolExecutor(max_workers=512) made per batch, one compute_score call per
response, each a requests.post (timeout 5 s, up to 3 retries with jittered exponential back-off
from 0.1 s on 429/5xx, connection errors and timeouts) to the next endpoint round-robin under a
lock. This script runs that architecture with one server on 127.0.0.1 (the MPI side has one
reward rank) scoring GoogleBLEU, the reward upstream computes with HF evaluate's google_bleu:
  - tokenizer: a transcription of evaluate's tokenizer_13a.py (sacrebleu's 13a rules; its
    lru_cache(2**16) kept, which helps this server here since the bench's texts repeat);
  - score: nltk.translate.gleu_score.corpus_gleu(min_len=1, max_len=4) on the one pair, the call
    evaluate's google_bleu makes (nltk itself, not a transcription).
  evaluate.load("google_bleu").compute adds its own per-call overhead (feature validation, an
  Arrow table); it is left out, so the server here is faster than upstream's would be. The
  server also does not print per request and uvicorn runs with its access log off (upstream
  prints two lines per request and keeps uvicorn's default access log): lean, to not inflate
  the ratio.

  bench_reward_http.py --pairs FILE [--batch 512] [--seconds 4] [--threads 512]
      FILE: JSON lines {"pred", "true", "gleu"} (bench_reward --export; gleu = the C score).
      Checks the Python GoogleBLEU against the C scores of every pair, starts the server
      (this file with --serve PORT) as a subprocess, warms it up with one batch, then sends
      batches of --batch consecutive pairs (cyclically) for --seconds seconds; prints the
      RESULT line: pairs/s, request latency p50/p99 (one pair each), batch latency p50/p99
      (the pool over one batch), failed requests, retries, scores that differ from C's.
  bench_reward_http.py --serve PORT      the server alone
Not a test.
"""
import argparse
import asyncio
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

# ---- GoogleBLEU as HF evaluate computes it ----


class _TokenizerRegexp:  # evaluate metrics/google_bleu/tokenizer_13a.py (from sacrebleu)
    _re = [
        (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # language-dependent symbols
        (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma unless preceded by a digit
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... unless followed by a digit
        (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash when preceded by a digit
    ]

    def __call__(self, line):
        for r, repl in self._re:
            line = r.sub(repl, line)
        return line.split()


_post = _TokenizerRegexp()


@lru_cache(maxsize=2**16)
def tok13a(line):
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return _post(f" {line} ")


def google_bleu(pred, true):
    from nltk.translate import gleu_score  # imported once, at the server's start or the check below

    return gleu_score.corpus_gleu(list_of_references=[[tok13a(true)]], hypotheses=[tok13a(pred)], min_len=1, max_len=4)


# ---- the server (reward_server/worker_*.py, scoring GoogleBLEU) ----


def serve(port):
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    app = FastAPI()
    sem = asyncio.Semaphore(1)

    class ScoreRequest(BaseModel):
        pred_text: str
        true_text: str

    class ScoreResponse(BaseModel):
        score: float

    @app.post("/score_google_bleu", response_model=ScoreResponse)
    async def score(request: ScoreRequest) -> ScoreResponse:
        async with sem:
            return ScoreResponse(score=google_bleu(request.pred_text, request.true_text))

    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


# ---- the client (custom_rewards/*_reward.py + verl's naive_pool manager) ----


class Client:
    def __init__(self, endpoints, threads):
        self.endpoints = endpoints
        self.threads = threads  # naive_pool: 512
        self.lock = threading.Lock()
        self.counter = 0
        self.retries = 0
        self.lat = []  # per request (seconds), appended under the GIL

    def _next_endpoint(self):
        with self.lock:
            i = self.counter
            self.counter = i + 1
        return self.endpoints[i % len(self.endpoints)]

    def score(self, pred_text, true_text, retries=3, timeout=5):
        import requests

        backoff = 0.1
        t0 = time.perf_counter()
        for attempt in range(retries + 1):
            url = f"{self._next_endpoint()}/score_google_bleu"
            try:
                r = requests.post(url, json={"pred_text": pred_text, "true_text": true_text}, timeout=timeout)
                if r.status_code == 200:
                    self.lat.append(time.perf_counter() - t0)
                    return r.json()["score"]
                if r.status_code in (429, 500, 502, 503, 504) and attempt < retries:
                    self.retries += 1
                    time.sleep(backoff + random.random() * backoff)
                    backoff *= 2
                    continue
                r.raise_for_status()
            except (requests.ConnectionError, requests.Timeout):
                if attempt < retries:
                    self.retries += 1
                    time.sleep(backoff + random.random() * backoff)
                    backoff *= 2
                    continue
                raise
        raise RuntimeError("All retries failed")

    def batch(self, pairs):
        """naive_pool._gather_scores: a 512-thread pool per batch, one call per response."""
        with ThreadPoolExecutor(max_workers=self.threads) as ex:
            futures = [ex.submit(self.score, p, t) for p, t in pairs]
            out = []
            for f in futures:
                try:
                    out.append(f.result())
                except Exception:  # upstream raises (the step fails); counted here instead
                    out.append(None)
            return out


def quantile(v, q):
    v = sorted(v)
    return v[max(0, math.ceil(q * len(v)) - 1)] if v else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(a):
    import requests
    from nltk.translate import gleu_score  # noqa: F401  (imported before the timed check)

    recs = [json.loads(line) for line in open(a.pairs, encoding="utf-8")]
    pairs = [(r["pred"], r["true"]) for r in recs]
    cref = [r["gleu"] for r in recs]
    t0 = time.perf_counter()
    local = [google_bleu(p, t) for p, t in pairs]
    local_us = (time.perf_counter() - t0) / len(pairs) * 1e6
    worst = max(abs(x - y) for x, y in zip(local, cref))
    print(f"GoogleBLEU, Python (13a transcription + nltk corpus_gleu) vs C (rv_grpo_reward) on {len(pairs)} pairs: "
          f"max |difference| {worst:.3g}; Python scoring in-process {local_us:.1f} us/pair (first pass, tokenizer "
          f"cache cold)")
    port = free_port()
    srv = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to 30 s for the server to start
            try:
                requests.post(f"{url}/score_google_bleu", json={"pred_text": "a b", "true_text": "a b"}, timeout=1)
                break
            except requests.ConnectionError:
                if srv.poll() is not None:
                    sys.exit("bench_reward_http.py: the server exited at start")
                time.sleep(0.1)
        cl = Client([url], a.threads)
        B, K = a.batch, len(pairs)

        def take(start):
            return [pairs[(start + i) % K] for i in range(B)], [cref[(start + i) % K] for i in range(B)]

        cl.batch(take(0)[0])  # warm-up, untimed
        cl.lat.clear()
        cl.retries = 0
        blat, done, failed, mismatch, nxt = [], 0, 0, 0, 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < a.seconds:
            bp, br = take(nxt)
            tb = time.perf_counter()
            sc = cl.batch(bp)
            blat.append(time.perf_counter() - tb)
            failed += sum(s is None for s in sc)
            mismatch += sum(s is not None and abs(s - r) > 1e-12 for s, r in zip(sc, br))
            done += B - sum(s is None for s in sc)
            nxt += B
        wall = time.perf_counter() - t0
    finally:
        srv.terminate()
        srv.wait()
    import fastapi
    import uvicorn

    print(f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, requests {requests.__version__}, "
          f"python {sys.version.split()[0]}; 1 server process, {a.threads}-thread client pool per batch")
    print(f"RESULT impl=http batch={B} threads={a.threads} pairs={done} wall_s={wall:.3f} "
          f"pairs_per_s={done / wall:.1f} req_p50_ms={quantile(cl.lat, 0.5) * 1e3:.3f} "
          f"req_p99_ms={quantile(cl.lat, 0.99) * 1e3:.3f} batch_p50_ms={quantile(blat, 0.5) * 1e3:.3f} "
          f"batch_p99_ms={quantile(blat, 0.99) * 1e3:.3f} batches={len(blat)} failed={failed} "
          f"retries={cl.retries} mismatches={mismatch} local_us_per_pair={local_us:.2f} max_diff_vs_c={worst:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=512)
    ap.add_argument("--serve", type=int, metavar="PORT")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve)
        return
    if not a.pairs:
        ap.error("give --pairs FILE (bench_reward --export FILE)")
    bench(a)


if __name__ == "__main__":
    main()
