#!/usr/bin/env python3
"""Checks on the grpo phase's outputs (RUN/log.h5 tables grpo and val, RUN/grpo/rollouts), for
tests/e2e/test_grpo.sh.
usage:
  check_grpo.py rows LOG TABLE             print the steps of a table, space-separated
  check_grpo.py same-log A B               grpo tables: same steps, every column bitwise equal except
                                           the wall-clock ones (time_*, time, throughput, reward_pairs_per_s)
  check_grpo.py log-sane LOG STEPS N       every column present, STEPS rows, N responses per step
                                           (penalties + fallbacks <= N, 0 <= clip fractions <= 1,
                                           response lengths > 0, the time split within the step)
  check_grpo.py rollouts FILE PROMPTS N    PROMPTS x N lines with every key; per group the advantage
                                           equals (r - mean) / (std + 1e-6) (unbiased std; 0 for equal
                                           rewards), computed here with numpy from the file's rewards
Exit 0 when the check holds, 1 with a message otherwise, 77 without h5py."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_sft import np, table  # noqa: E402  (exits 77 without h5py)

CLOCK = {"time_rollout", "time_reward_wait", "time_old_log_prob", "time_ref_log_prob", "time_update", "time_step",
         "time", "throughput", "reward_pairs_per_s"}
COLS = ["step", "reward_mean", "reward_std", "reward_min", "reward_max", "penalties", "fallbacks", "adv_mean",
        "adv_std", "adv_min", "adv_max", "pg_loss", "pg_clipfrac", "pg_clipfrac_lower", "ppo_kl", "kl_loss",
        "grad_norm", "skipped", "response_length_mean", "response_length_max", "response_clip_ratio", "entropy",
        "tokens", "throughput", "reward_pairs_per_s", "time_rollout", "time_reward_wait", "time_old_log_prob",
        "time_ref_log_prob", "time_update", "time_step", "time"]


def main(a):
    if a[0] == "rows":
        print(" ".join(str(int(s)) for s in table(a[1], a[2])["step"]))
        return 0
    if a[0] == "same-log":
        x, y = table(a[1], "grpo"), table(a[2], "grpo")
        if list(x["step"]) != list(y["step"]):
            print(f"steps differ: {list(x['step'])} vs {list(y['step'])}")
            return 1
        for c in x.dtype.names:
            if c in CLOCK:
                continue
            if x[c].tobytes() != y[c].tobytes():
                print(f"column {c} differs: {list(x[c])} vs {list(y[c])}")
                return 1
        return 0
    if a[0] == "log-sane":
        g, steps, n = table(a[1], "grpo"), int(a[2]), float(a[3])
        if list(g.dtype.names) != COLS:
            print(f"columns {g.dtype.names}, expected {COLS}")
            return 1
        if list(g["step"]) != list(range(1, steps + 1)):
            print(f"steps {list(g['step'])}")
            return 1
        bad = []
        if np.any(g["penalties"] + g["fallbacks"] > n): bad.append("penalties + fallbacks > responses")
        for c in ("pg_clipfrac", "pg_clipfrac_lower", "response_clip_ratio"):
            if np.any((g[c] < 0) | (g[c] > 1)): bad.append(f"{c} outside [0, 1]")
        if np.any(g["response_length_mean"] <= 0): bad.append("empty responses")
        if np.any(g["reward_min"] > g["reward_mean"]) or np.any(g["reward_max"] < g["reward_mean"]):
            bad.append("reward mean outside [min, max]")
        split = sum(g[c] for c in ("time_rollout", "time_reward_wait", "time_old_log_prob", "time_ref_log_prob",
                                   "time_update"))
        if np.any(split > g["time_step"] * 1.0001 + 1e-3): bad.append("the time split exceeds the step time")
        if np.any(~np.isfinite(g["grad_norm"])) or np.any(g["entropy"] <= 0): bad.append("grad norm or entropy")
        if bad:
            print("; ".join(bad))
            return 1
        return 0
    if a[0] == "rollouts":
        lines = [json.loads(l) for l in open(a[1])]
        prompts, n = int(a[2]), int(a[3])
        if len(lines) != prompts * n:
            print(f"{len(lines)} lines, expected {prompts * n}")
            return 1
        keys = {"step", "uid", "k", "id", "response", "response_tokens", "reward", "flag", "advantage"}
        for i, l in enumerate(lines):
            if set(l) != keys or l["uid"] != i // n or l["k"] != i % n:
                print(f"line {i}: {sorted(l)} uid {l.get('uid')} k {l.get('k')}")
                return 1
        for u in range(prompts):
            r = np.array([l["reward"] for l in lines[u * n:(u + 1) * n]])
            adv = np.array([l["advantage"] for l in lines[u * n:(u + 1) * n]])
            want = np.zeros(n) if np.all(r == r[0]) else (r - r.mean()) / (r.std(ddof=1) + 1e-6)
            if not np.allclose(adv, want, rtol=1e-12, atol=1e-12):
                print(f"group {u}: advantages {adv} vs {want} from rewards {r}")
                return 1
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
