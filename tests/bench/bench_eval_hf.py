#!/usr/bin/env python3
"""transformers side of the generation benchmark (tests/bench/bench_eval.sh).

Runs LlavaOnevisionForConditionalGeneration.generate (greedy, batched with left padding) on the
prompts `bench_gen --export WL` wrote (WL/prompts.json: token ids with the image rows already
expanded, tile and image sizes, stop and pad ids; WL/pixels.bin: [n, 3, S, S] fp32 tiles), with
the weights of the same HF directory bench_gen loads, so both sides do the same work:

  rank r of W takes the contiguous slice [r n / W, (r + 1) n / W) of the prompts (as bench_gen and
  the eval phase do) and runs it in consecutive batches of --batch prompts in dataset order:
      generate(input_ids [b, L] left-padded, attention_mask, pixel_values [b, 1, 3, S, S],
               image_sizes [b, 2], max_new_tokens, do_sample=False, eos_token_id=stop ids)
  (static batching: a batch runs until its longest answer ends, as transformers does).
  Each image is the base tile only (our n_tiles == 1 packing: grid^2 + 1 rows). transformers
  packs one tile that way only on its multi-image path, so batch_num_images is passed with
  every entry > 1 (need_patching False for every image); a single-image prompt would otherwise
  take the anyres path and expect more tiles.

  One rank: one process. W ranks: W processes (torch.multiprocessing, spawn), each with
  --threads threads, started together behind a barrier; the time of a run is the slowest one's.
  Generated tokens: up to and including the first stop token (what bench_gen counts).
  Prints "RESULT impl=hf ..." (best of --repeat runs after an untimed 2-token warm-up).
  --tokens-out PREFIX writes PREFIX-r<rank>.txt ("index n_tokens stopped tok ...").

  --sample-n N: GRPO rollouts (tests/bench/bench_rollout.sh) instead of greedy: each batch of
  --batch prompts is generate(do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
  num_return_sequences=N), B * N rows decoding together; tokens are counted over all N responses
  (torch.manual_seed(0) before each timed run: every run draws the same responses).

  --compare A B: token agreement of two PREFIX sets (e.g. C and transformers): exact-match
  fraction and first-divergence positions; with --model and --workload it also reports, at each
  divergence, transformers' logit gap between the two candidate tokens (a near-tie when tiny).
Not a test.
"""
import argparse
import glob
import json
import os
import sys
import time


def load_workload(wl_dir):
    import numpy as np

    with open(os.path.join(wl_dir, "prompts.json")) as f:
        wl = json.load(f)
    pix = np.fromfile(os.path.join(wl_dir, "pixels.bin"), dtype=np.float32)
    return wl, pix


def load_model(path, attn):
    import torch
    from transformers import LlavaOnevisionForConditionalGeneration

    model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    return model.eval()


def make_batch(wl, pix, idx):
    import torch

    S = wl["tile"]
    ps = [wl["prompts"][i] for i in idx]
    L = max(len(p["ids"]) for p in ps)
    ids = torch.full((len(ps), L), wl["pad_id"], dtype=torch.long)
    mask = torch.zeros((len(ps), L), dtype=torch.long)
    for j, p in enumerate(ps):  # left padding
        n = len(p["ids"])
        ids[j, L - n:] = torch.tensor(p["ids"], dtype=torch.long)
        mask[j, L - n:] = 1
    tiles = [torch.from_numpy(pix[p["pixel_offset"]: p["pixel_offset"] + p["n_tiles"] * 3 * S * S].copy())
             .view(p["n_tiles"], 3, S, S) for p in ps]
    kw = {}
    if any(p["n_tiles"] for p in ps):
        assert all(p["n_tiles"] == 1 for p in ps), "the benchmark's prompts have one base tile each"
        kw = {"pixel_values": torch.stack(tiles), "image_sizes": torch.tensor([p["image_hw"] for p in ps]),
              "batch_num_images": torch.tensor([max(2, len(ps))] * len(ps))}
    return ids, mask, kw


def generate(model, wl, pix, idx, max_new, sample_n=0):
    """Batched generate over prompts idx, greedy (sample_n 0) or sample_n samples per prompt at
    temperature 1, top-p 1, top-k off; returns [(n_tokens, stopped, tokens)] per output row."""
    import torch

    ids, mask, kw = make_batch(wl, pix, idx)
    stops = wl["stop_ids"]
    if sample_n:
        mode = dict(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, num_return_sequences=sample_n)
    else:
        mode = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, num_beams=1,
                             eos_token_id=stops, pad_token_id=wl["pad_id"], **mode, **kw)
    res = []
    for row in out[:, ids.shape[1]:].tolist():
        n = len(row)
        for t, tok in enumerate(row):
            if tok in stops:
                n = t + 1
                break
        res.append((n, int(n < len(row) or row[n - 1] in stops), row[:n]))
    return res


def worker(rank, a, barrier, q):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch

    torch.set_num_threads(a.threads)
    wl, pix = load_workload(a.workload)
    model = load_model(a.model, a.attn)
    n = len(wl["prompts"])
    lo, hi = n * rank // a.ranks, n * (rank + 1) // a.ranks
    batches = [list(range(i, min(i + a.batch, hi))) for i in range(lo, hi, a.batch)]
    if batches:
        generate(model, wl, pix, batches[0], 2, a.sample_n)  # warm-up, untimed
    res = None
    for r in range(a.repeat):
        if barrier is not None:
            barrier.wait()
        torch.manual_seed(0)  # the same samples every run (sampling only)
        t0 = time.perf_counter()
        res = []
        for b in batches:
            res += generate(model, wl, pix, b, a.max_new, a.sample_n)
        dt = time.perf_counter() - t0
        q.put((r, rank, dt, sum(x[0] for x in res)))
    if a.tokens_out and not a.sample_n:
        with open(f"{a.tokens_out}-r{rank}.txt", "w") as f:
            for i, (k, stopped, toks) in zip(range(lo, hi), res):
                f.write(" ".join(str(v) for v in [i, k, stopped] + toks) + "\n")
    if rank == 0:
        q.put(("info", torch.__version__, torch.get_num_threads()))


def bench(a):
    import multiprocessing as mp

    wl, _ = load_workload(a.workload)
    n = len(wl["prompts"])
    if a.ranks == 1:
        import queue

        q = queue.Queue()
        worker(0, a, None, q)
        items = [q.get() for _ in range(q.qsize())]
    else:
        ctx = mp.get_context("spawn")
        q, barrier = ctx.Queue(), ctx.Barrier(a.ranks)
        procs = [ctx.Process(target=worker, args=(r, a, barrier, q)) for r in range(a.ranks)]
        for p in procs:
            p.start()
        items = [q.get() for _ in range(a.repeat * a.ranks + 1)]
        for p in procs:
            p.join()
        if any(p.exitcode for p in procs):
            sys.exit("bench_eval_hf.py: a worker failed")
    runs = {}
    info = None
    for it in items:
        if it[0] == "info":
            info = it
            continue
        r, _, dt, toks = it
        t, k = runs.get(r, (0.0, 0))
        runs[r] = (max(t, dt), k + toks)
    import transformers

    print(f"transformers {transformers.__version__}, torch {info[1]}, {info[2]} thread(s) per process, "
          f"{a.ranks} process(es), batch {a.batch}, attention {a.attn}")
    for r in sorted(runs):
        t, k = runs[r]
        print(f"run {r + 1}: {t:.3f} s, {k} generated tokens = {k / t:.1f} tokens/s")
    best = min(runs.values())
    if a.sample_n:
        print(f"RESULT impl=hf model={a.label} ranks={a.ranks} threads={a.threads} slots={a.batch * a.sample_n} "
              f"n={a.sample_n} prompts={n} sequences={n * a.sample_n} max_new={a.max_new} tokens={best[1]} "
              f"best_s={best[0]:.4f} tokens_per_s={best[1] / best[0]:.2f} sequences_per_s={n * a.sample_n / best[0]:.3f}")
        return
    print(f"RESULT impl=hf model={a.label} ranks={a.ranks} threads={a.threads} batch={a.batch} prompts={n} "
          f"max_new={a.max_new} tokens={best[1]} best_s={best[0]:.4f} tokens_per_s={best[1] / best[0]:.2f} "
          f"samples_per_s={n / best[0]:.3f}")


def read_tokens(prefix):
    out = {}
    files = sorted(glob.glob(f"{glob.escape(prefix)}-r*.txt"))
    if not files:
        sys.exit(f"bench_eval_hf.py: no {prefix}-r*.txt files")
    for fn in files:
        with open(fn) as f:
            for line in f:
                v = [int(x) for x in line.split()]
                out[v[0]] = v[3:3 + v[1]]
    return out


def compare(a):
    A, B = read_tokens(a.compare[0]), read_tokens(a.compare[1])
    keys = sorted(set(A) & set(B))
    if set(A) != set(B):
        print(f"compare: prompt sets differ ({len(A)} vs {len(B)} prompts); comparing the {len(keys)} in both")
    div = []
    for i in keys:
        x, y = A[i], B[i]
        if x != y:
            p = next((t for t in range(min(len(x), len(y))) if x[t] != y[t]), min(len(x), len(y)))
            div.append((i, p, x, y))
    same = len(keys) - len(div)
    ntok = sum(len(A[i]) for i in keys)
    agree = sum(next((t for t in range(min(len(A[i]), len(B[i]))) if A[i][t] != B[i][t]), min(len(A[i]), len(B[i])))
                for i in keys)
    print(f"RESULT impl=compare label={a.label} prompts={len(keys)} exact={same} exact_frac={same / max(1, len(keys)):.4f} "
          f"tokens_before_divergence={agree}/{ntok}")
    if not div:
        return
    gaps = {}
    if a.model and a.workload:
        import torch

        wl, pix = load_workload(a.workload)
        model = load_model(a.model, a.attn)
        for i, p, x, y in div:
            if p >= len(x) or p >= len(y):
                continue  # one is a prefix of the other: a stop token only one side chose, gap below
            ids, mask, kw = make_batch(wl, pix, [i])
            pre = torch.tensor([x[:p]], dtype=torch.long)
            ids = torch.cat([ids, pre], 1)
            with torch.inference_mode():
                lg = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, **kw).logits[0, -1]
            top2 = torch.topk(lg, 2).values
            gaps[i] = (float(lg[x[p]] - lg[y[p]]), float(top2[0] - top2[1]))
    for i, p, x, y in div:
        g = gaps.get(i)
        gs = f"; transformers logit[A] - logit[B] = {g[0]:.3g} (its top-2 gap {g[1]:.3g})" if g else ""
        print(f"  prompt {i}: first divergence at generated token {p} (A {x[p] if p < len(x) else 'end'}, "
              f"B {y[p] if p < len(y) else 'end'}; lengths {len(x)} / {len(y)}){gs}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", help="the directory bench_gen --export wrote")
    ap.add_argument("--model", help="the HF model directory bench_gen loads")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--label", default="model")
    ap.add_argument("--tokens-out")
    ap.add_argument("--sample-n", type=int, default=0)
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    a = ap.parse_args()
    if a.compare:
        compare(a)
        return
    if not a.workload or not a.model:
        ap.error("give --workload and --model")
    bench(a)


if __name__ == "__main__":
    main()
