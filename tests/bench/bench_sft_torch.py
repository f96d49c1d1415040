#!/usr/bin/env python3
"""PyTorch/transformers side of the SFT speed benchmark (tests/bench/bench_sft.sh).

Does the work of one SFT optimizer step that bench_sft (C) does, from what `bench_sft --export
DIR` wrote: DIR/config.json (HF llava_onevision), DIR/workload.json (the global batch: token ids
with the image placeholder runs expanded, the first target position, image sizes and tile
counts, and for 1 and 2 ranks each rank's packed micro-batches) and DIR/pixels.bin (fp32 tiles):

  for each micro-batch of this rank (samples packed into one row, position_ids restarting at 0
  for each sample and use_cache=False, so transformers' packed-sequence mask keeps attention
  inside each sample; with a cache it silently attends across samples):
      logits = model(input_ids, pixel_values, image_sizes, position_ids).logits
      loss   = sum over its samples of (token-mean cross-entropy of the sample's targets) / G
      loss.backward()            (under DDP: no_sync() for all but the last micro-batch)
  clip_grad_norm_(1.0); AdamW.step() (vision tower lr 2e-6, the rest 1e-5, betas 0.9/0.999,
  eps 1e-8, weight decay 0); zero_grad(set_to_none=True)

G is the global batch; with W ranks DDP averages the gradients, so each rank's loss is scaled
by W to make the result the global-batch gradient, as the C side's summed exchange does.
One rank: one process, no DDP. W ranks: W processes (torch.multiprocessing), gloo
DistributedDataParallel on 127.0.0.1. Each process runs --threads threads.
Prints "RESULT impl=torch ..." lines: best and median step time (the slowest rank's), tokens/s.
Not a test.

Usage: bench_sft_torch.py DIR [--ranks W] [--threads N] [--steps K] [--warmup K]
                              [--attn sdpa|eager] [--logits all|targets] [--check]
--logits targets passes the target positions as logits_to_keep, so the lm_head runs on the
targets only, as the C side does; `all` (default) is what the HF model does in upstream training.
--check compares the packed forward with one-sample-at-a-time forwards, and the loss of both
--logits modes (use a tiny config), and exits non-zero when they differ.
"""
import argparse
import json
import os
import statistics
import sys
import time


def load(a):
    import numpy as np
    import torch
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    with open(os.path.join(a.dir, "config.json")) as f:
        cfgd = json.load(f)
    with open(os.path.join(a.dir, "workload.json")) as f:
        wl = json.load(f)
    pix = np.fromfile(os.path.join(a.dir, "pixels.bin"), dtype=np.float32)
    cfg = LlavaOnevisionConfig(**{k: v for k, v in cfgd.items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = a.attn
    torch.manual_seed(0)
    model = LlavaOnevisionForConditionalGeneration(cfg).float()
    for sub in (model.config, model.config.text_config, model.config.vision_config):
        sub._attn_implementation = a.attn
    S = cfg.vision_config.image_size
    samples = []
    for s in wl["samples"]:
        d = {"ids": torch.tensor(s["ids"], dtype=torch.long), "t0": s["target_start"], "pix": None}
        if s["n_tiles"] > 0:
            n = s["n_tiles"] * 3 * S * S
            d["pix"] = torch.from_numpy(pix[s["pixel_offset"]: s["pixel_offset"] + n].copy()).view(s["n_tiles"], 3, S, S)
            d["hw"] = s["image_hw"]
        samples.append(d)
    return model, wl, samples


def micro_batch(samples, idx):
    """One packed row: input_ids [1, L], position_ids [1, L], the images in order, and each
    sample's (offset, length, target_start)."""
    import torch

    ids = torch.cat([samples[i]["ids"] for i in idx]).unsqueeze(0)
    pos = torch.cat([torch.arange(len(samples[i]["ids"])) for i in idx]).unsqueeze(0)
    imgs = [samples[i] for i in idx if samples[i]["pix"] is not None]
    kw = {}
    if imgs:
        tmax = max(s["pix"].shape[0] for s in imgs)
        pv = torch.zeros(len(imgs), tmax, *imgs[0]["pix"].shape[1:])
        for j, s in enumerate(imgs):
            pv[j, : s["pix"].shape[0]] = s["pix"]
        kw = {"pixel_values": pv, "image_sizes": torch.tensor([s["hw"] for s in imgs])}
    spans, off = [], 0
    for i in idx:
        L = len(samples[i]["ids"])
        spans.append((off, L, samples[i]["t0"]))
        off += L
    return ids, pos, kw, spans


def mb_loss(model, mb, scale, logits_mode):
    """scale * sum over the micro-batch's samples of the token-mean CE of its targets."""
    import torch
    import torch.nn.functional as F

    ids, pos, kw, spans = mb
    if logits_mode == "targets":
        # the rows that predict targets: position t is predicted from row t - 1
        keep = torch.cat([torch.arange(o + t0 - 1, o + L - 1) for o, L, t0 in spans])
        logits = model(input_ids=ids, position_ids=pos, logits_to_keep=keep, use_cache=False, **kw).logits[0]
        loss, k = 0.0, 0
        for o, L, t0 in spans:
            n = L - t0
            loss = loss + F.cross_entropy(logits[k: k + n], ids[0, o + t0: o + L])
            k += n
    else:
        logits = model(input_ids=ids, position_ids=pos, use_cache=False, **kw).logits[0]
        loss = 0.0
        for o, L, t0 in spans:
            loss = loss + F.cross_entropy(logits[o + t0 - 1: o + L - 1], ids[0, o + t0: o + L])
    return loss * scale


def check(a):
    """Packed forward == separate forwards: the packed-sequence mask is in effect."""
    import torch

    model, wl, samples = load(a)
    model.eval()
    idx = list(range(len(samples)))
    with torch.no_grad():
        ids, pos, kw, spans = micro_batch(samples, idx)
        packed = model(input_ids=ids, position_ids=pos, use_cache=False, **kw).logits[0]
        worst = 0.0
        for i, (o, L, _) in zip(idx, spans):
            sid, spos, skw, _ = micro_batch(samples, [i])
            sep = model(input_ids=sid, position_ids=spos, use_cache=False, **skw).logits[0]
            worst = max(worst, (packed[o: o + L] - sep).abs().max().item())
        mb = micro_batch(samples, idx)
        l_all, l_tgt = mb_loss(model, mb, 1.0, "all").item(), mb_loss(model, mb, 1.0, "targets").item()
    print(f"packed vs separate forward: max |logit difference| = {worst:.3g}; "
          f"loss with all logits {l_all:.6f}, with target logits only {l_tgt:.6f}")
    return 0 if worst < 1e-3 and abs(l_all - l_tgt) <= 1e-5 * abs(l_all) else 1


def worker(rank, a, port):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch
    import torch.distributed as dist

    torch.set_num_threads(a.threads)
    W = a.ranks
    if W > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=W)
    model, wl, samples = load(a)
    model.train()
    G = wl["global_batch"]
    mine = wl["packing"][str(W)][rank]
    mbs = [micro_batch(samples, idx) for idx in mine]
    tokens = sum(len(s["ids"]) for s in samples)
    vision = [p for n, p in model.named_parameters() if "vision_tower" in n]
    rest = [p for n, p in model.named_parameters() if "vision_tower" not in n]
    params = vision + rest
    opt = torch.optim.AdamW([{"params": vision, "lr": 2e-6}, {"params": rest, "lr": 1e-5}], betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    net = model
    if W > 1:
        # SigLIP's post_layernorm runs but feeds nothing the loss uses (features come from a
        # hidden state before it): its parameters never get a gradient, so DDP must look for
        # unused parameters (one graph traversal per step, negligible next to the step)
        net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    if rank == 0:
        nparam = sum(p.numel() for p in model.parameters())
        print(f"torch {torch.__version__} ({torch.get_num_threads()} thread(s) per process, "
              f"{torch.__config__.parallel_info().splitlines()[0]}); {nparam / 1e6:.2f}M parameters; {W} rank(s); "
              f"attention {a.attn}; logits {a.logits}; rank 0 micro-batches: "
              + " ".join(f"[{len(idx)} samples, {mb[0].shape[1]} tokens]" for idx, mb in zip(mine, mbs)))
        sys.stdout.flush()
    tstep, tfb = [], []
    for st in range(a.warmup + a.steps):
        if W > 1:
            dist.barrier()
        t0 = time.perf_counter()
        lsum = 0.0
        for j, mb in enumerate(mbs):
            last = j == len(mbs) - 1
            ctx = net.no_sync() if (W > 1 and not last) else _null()
            with ctx:
                loss = mb_loss(net, mb, W / G, a.logits)
                loss.backward()
            lsum += loss.item() / W
        t1 = time.perf_counter()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0).item()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        v = torch.tensor([t2 - t0, t1 - t0], dtype=torch.float64)
        lt = torch.tensor([lsum], dtype=torch.float64)
        if W > 1:
            dist.all_reduce(v, op=dist.ReduceOp.MAX)
            dist.all_reduce(lt)
        step_s, fb_s = v.tolist()
        if rank == 0:
            print(f"step {st + 1}{' (warm-up)' if st < a.warmup else ''}: loss {lt.item():.4f} grad_norm {norm:.4f}  "
                  f"{step_s:.3f} s (fwd+bwd {fb_s:.3f}, optimizer {step_s - fb_s:.3f}) = {tokens / step_s:.1f} tokens/s")
            sys.stdout.flush()
        if st >= a.warmup:
            tstep.append(step_s)
            tfb.append(fb_s)
    if rank == 0:
        best = min(tstep)
        fb = tfb[tstep.index(best)]
        print(f"best step {best:.3f} s (median {statistics.median(tstep):.3f} over {len(tstep)}) = "
              f"{tokens / best:.1f} tokens/s")
        print(f"RESULT impl=torch config={wl['config']} ranks={W} threads={a.threads} what=sft_step best_s={best:.6g} "
              f"median_s={statistics.median(tstep):.6g} fb_s={fb:.6g} tokens={tokens} tokens_per_s={tokens / best:.6g} "
              f"steps={len(tstep)} attn={a.attn} logits={a.logits}")
        sys.stdout.flush()
    if W > 1:
        dist.destroy_process_group()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ranks", type=int, default=1, choices=[1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--logits", default="all", choices=["all", "targets"])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    if a.check:
        return check(a)
    if a.ranks == 1:
        worker(0, a, 0)
        return 0
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(a, port), nprocs=a.ranks, join=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
