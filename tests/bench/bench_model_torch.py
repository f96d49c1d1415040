#!/usr/bin/env python3
"""PyTorch/transformers side of the model speed benchmark (tests/bench/bench_model.sh).

Reads the configuration and inputs that `bench_model --export DIR` wrote (DIR/config.json, an
HF llava_onevision config; DIR/inputs.json, token ids with the expanded image run, the image
size and tile count, the first target position, the number of new tokens), builds a randomly
initialised LlavaOnevisionForConditionalGeneration in fp32 on the CPU with
torch.set_num_threads(N), and times, as the C side does:
  train_fb     model(..., labels) + loss.backward()   (zero_grad before, outside the timer)
  adamw        torch.optim.AdamW.step() over every parameter
  gen_prefill  generate(max_new_tokens=1), greedy, use_cache=True
  gen_total    generate(max_new_tokens=N, min_new_tokens=N), greedy, use_cache=True
Medians over --trials after one warm-up; tiny steps are repeated to last >= 0.3 s per trial.
Prints "RESULT impl=torch ..." lines. Not a test.

Usage: bench_model_torch.py DIR [--threads N] [--trials K] [--attn sdpa|eager] [--only train|gen]
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--only", default="", choices=["", "train", "gen"])
    a = ap.parse_args()
    # before torch starts its pools
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(os.path.join(a.dir, "config.json")) as f:
        cfgd = json.load(f)
    with open(os.path.join(a.dir, "inputs.json")) as f:
        inp = json.load(f)
    cfg = LlavaOnevisionConfig(**{k: v for k, v in cfgd.items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = a.attn
    model = LlavaOnevisionForConditionalGeneration(cfg).float()
    for sub in (model.config, model.config.text_config, model.config.vision_config):
        sub._attn_implementation = a.attn
    name = inp["config"]
    nparam = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__} (threads {torch.get_num_threads()}, {torch.__config__.parallel_info().splitlines()[0]}); "
          f"config {name}: {nparam / 1e6:.2f}M parameters; attention {a.attn}")

    H, W = inp["image_hw"]
    T = inp["n_tiles"]
    S = cfg.vision_config.image_size
    g = torch.Generator().manual_seed(1)
    pixel_values = torch.rand(1, T, 3, S, S, generator=g) * 2 - 1
    image_sizes = torch.tensor([[H, W]])
    ids = torch.tensor([inp["train_ids"]])
    labels = ids.clone()
    labels[0, : inp["target_start"]] = -100
    L = ids.shape[1]

    def result(what, times, reps, per=None, unit=None):
        med = statistics.median(times)
        extra = f" {unit}={per / med:.6g}" if unit else ""
        print(f"RESULT impl=torch config={name} threads={a.threads} what={what} median_s={med:.6g} "
              f"min_s={min(times):.6g} max_s={max(times):.6g} trials={len(times)} reps={reps}{extra} attn={a.attn}")
        sys.stdout.flush()
        return med

    if a.only != "gen":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)

        def step():
            opt.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            out = model(input_ids=ids, pixel_values=pixel_values, image_sizes=image_sizes, labels=labels)
            out.loss.backward()
            t1 = time.perf_counter()
            opt.step()
            return t1 - t0, time.perf_counter() - t1, out.loss.item()

        fb, _, loss0 = step()  # warm-up
        reps = 1 if fb > 0.3 else math.ceil(0.3 / max(fb, 1e-6))
        tfb, top = [], []
        for _ in range(a.trials):
            s1 = s2 = 0.0
            for _ in range(reps):
                x, y, _ = step()
                s1 += x
                s2 += y
            tfb.append(s1 / reps)
            top.append(s2 / reps)
        print(f"first-step loss {loss0:.4f} (random init; ln V = {math.log(cfg.text_config.vocab_size):.4f})")
        med = result("train_fb", tfb, reps, L, "tokens_per_s")
        print(f"fwd+bwd: median {med:.4f} s = {L / med:.0f} tokens/s")
        med = result("adamw", top, reps, nparam, "params_per_s")
        print(f"adamw:   median {med:.4f} s")

    if a.only != "train":
        model.eval()
        gp = torch.tensor([inp["gen_prompt_ids"]])
        n_new = inp["gen_new"]
        meds = {}
        for n in (1, n_new):
            def gen():
                with torch.no_grad():
                    out = model.generate(input_ids=gp, pixel_values=pixel_values, image_sizes=image_sizes,
                                         max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                                         eos_token_id=None, pad_token_id=0)
                assert out.shape[1] == gp.shape[1] + n, out.shape
            gen()  # warm-up
            times = []
            for _ in range(a.trials):
                t0 = time.perf_counter()
                gen()
                times.append(time.perf_counter() - t0)
            what = "gen_prefill" if n == 1 else "gen_total"
            meds[n] = result(what, times, 1, *((n, "tokens_per_s") if n > 1 else (1, "calls_per_s")))
        dt = meds[n_new] - meds[1]
        print(f"RESULT impl=torch config={name} threads={a.threads} what=gen_decode median_s={dt:.6g} "
              f"tokens_per_s={(n_new - 1) / dt:.6g} attn={a.attn}")
        print(f"generate: prompt {gp.shape[1]} tokens; prefill {meds[1]:.4f} s; {n_new} new tokens {meds[n_new]:.4f} s "
              f"= {n_new / meds[n_new]:.1f} tokens/s; decode {(n_new - 1) / dt:.1f} tokens/s")


if __name__ == "__main__":
    main()
