#!/usr/bin/env python3
"""Loss curves of a training run from RUN/log.h5 (src/train/metrics_log.h), drawn to a PNG.

Optional tool (h5py + matplotlib); nothing in the project needs it to run.

    tools/plot_log.py RUN                  # reads RUN/log.h5, writes RUN/log.png
    tools/plot_log.py RUN/log.h5 -o curves.png [--smooth 0.6] [--title TEXT] [--summary]

Reads the table "train" (one row per optimizer step: step, loss, lr_<group>..., grad_norm,
tokens, time, skipped) and, when present, "eval" (step, loss: held-out loss). Draws three
panels over the step axis:
  1. loss: the train loss per step (thin), its exponential moving average (--smooth, 0 = off;
     bias-corrected like TensorBoard's), the held-out loss (dots and line), skipped steps (x);
  2. the learning rate of each parameter group (groups with identical curves share one line);
  3. the global gradient norm before clipping (log scale).
Skipped steps (non-finite loss or norm) are left out of the curves and marked.

A GRPO run's log (table "grpo", one row per step, and "val", the greedy validation; see
docs/grpo.md) is drawn instead as four panels:
  1. reward: the rollouts' mean reward per step with its min..max band and mean +- std band,
     the validation reward (table val; step 0 = before training) as dots and line;
  2. KL: kl_loss (low_var_kl against the reference model) and ppo_kl;
  3. clipping: pg_clipfrac and pg_clipfrac_lower (the dual clip);
  4. response length: mean and max tokens per response.
Skipped steps (non-finite gradient norm) are marked on the reward panel.
--summary prints one line per quantity (rows, first and last values, tokens/s; for GRPO the
first, last and best mean and validation rewards), which tests/unit/test_plot_log.c checks
against the values it wrote.
"""
import argparse
import math
import os
import sys


def read_table(f, name):
    """Columns of table `name` as {column: list}, or None when the file has no such table."""
    if name not in f:
        return None
    data = f[name][()]
    return {col: data[col].tolist() for col in data.dtype.names}


def ema(values, beta):
    """Bias-corrected exponential moving average; NaN entries are skipped (kept as NaN)."""
    out, acc, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(float("nan"))
            continue
        n += 1
        acc = beta * acc + (1 - beta) * v
        out.append(acc / (1 - beta ** n))
    return out


def summary(train, ev):
    steps, loss = train["step"], train["loss"]
    skipped = train.get("skipped", [0] * len(steps))
    ok = [i for i in range(len(steps)) if not skipped[i] and math.isfinite(loss[i])]
    lines = [f"train rows {len(steps)} steps {steps[0]}..{steps[-1]} skipped {sum(1 for s in skipped if s)}"]
    if ok:
        lines.append(f"train loss first {loss[ok[0]]:.6g} last {loss[ok[-1]]:.6g} min {min(loss[i] for i in ok):.6g}")
    if "time" in train and "tokens" in train and train["time"][-1] > 0:
        lines.append(f"tokens {sum(train['tokens'])} time {train['time'][-1]:.6g} s "
                     f"tokens/s {sum(train['tokens']) / train['time'][-1]:.6g}")
    if ev and ev["step"]:
        lines.append(f"eval rows {len(ev['step'])} loss first {ev['loss'][0]:.6g} last {ev['loss'][-1]:.6g}")
    return lines


def plot(train, ev, out, smooth, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, loss = train["step"], train["loss"]
    skipped = train.get("skipped", [0] * len(steps))
    good = [not s and math.isfinite(l) for s, l in zip(skipped, loss)]
    loss_ok = [l if g else float("nan") for l, g in zip(loss, good)]

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1]})
    ax = axes[0]
    ax.plot(steps, loss_ok, color="tab:blue", alpha=0.35 if smooth > 0 else 1.0, lw=0.9, label="train loss")
    if smooth > 0 and len(steps) > 1:
        ax.plot(steps, ema(loss_ok, smooth), color="tab:blue", lw=1.8, label=f"train loss (EMA {smooth:g})")
    if ev and ev["step"]:
        ax.plot(ev["step"], ev["loss"], "o-", color="tab:orange", lw=1.6, ms=4, label="held-out loss")
    bad = [s for s, g in zip(steps, good) if not g]
    if bad:
        finite = [l for l in loss_ok if math.isfinite(l)] or [0.0]
        ax.plot(bad, [max(finite)] * len(bad), "x", color="tab:red", ms=7, label=f"skipped steps ({len(bad)})")
    ax.set_ylabel("loss (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(title)

    ax = axes[1]
    lr_cols = [c for c in train if c.startswith("lr_")]
    curves = {}
    for c in lr_cols:  # groups with the same schedule (decay / no_decay of one part) share a line
        curves.setdefault(tuple(train[c]), []).append(c[3:])
    for vals, names in curves.items():
        ax.plot(steps, vals, lw=1.5, label=", ".join(names))
    ax.set_ylabel("learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="upper right", fontsize=8)

    ax = axes[2]
    if "grad_norm" in train:
        gn = [g if (ok and math.isfinite(g) and g > 0) else float("nan") for g, ok in zip(train["grad_norm"], good)]
        ax.plot(steps, gn, color="tab:green", lw=1.2, label="grad norm (before clipping)")
        if any(math.isfinite(g) for g in gn):
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())  # plain numbers on the log axis, not 10^0
            ax.yaxis.set_minor_formatter(NullFormatter())  # unlabelled minor ticks: labels would overlap
        ax.legend(loc="upper right")
    ax.set_ylabel("gradient norm")
    ax.set_xlabel("optimizer step")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def best(steps, values):
    """(value, step) of the highest finite value, or None."""
    ok = [(v, s) for s, v in zip(steps, values) if math.isfinite(v)]
    return max(ok, key=lambda vs: vs[0]) if ok else None


def summary_grpo(g, val):
    steps, rm = g["step"], g["reward_mean"]
    skipped = g.get("skipped", [0] * len(steps))
    lines = [f"grpo rows {len(steps)} steps {steps[0]}..{steps[-1]} skipped {sum(1 for s in skipped if s)}"]
    b = best(steps, rm)
    if b:
        lines.append(f"grpo reward mean first {rm[0]:.6g} last {rm[-1]:.6g} best {b[0]:.6g} at step {b[1]}")
    for c in ("kl_loss", "pg_clipfrac", "response_length_mean"):
        if c in g:
            lines.append(f"grpo {c} first {g[c][0]:.6g} last {g[c][-1]:.6g}")
    if "time" in g and "tokens" in g and g["time"][-1] > 0:
        tok = sum(g["tokens"])
        lines.append(f"tokens {tok:.6g} time {g['time'][-1]:.6g} s tokens/s {tok / g['time'][-1]:.6g}")
    if val and val.get("step"):
        vs, vr = val["step"], val["reward"]
        b = best(vs, vr)
        line = f"val rows {len(vs)} steps {vs[0]}..{vs[-1]} reward first {vr[0]:.6g} last {vr[-1]:.6g}"
        lines.append(line + (f" best {b[0]:.6g} at step {b[1]}" if b else ""))
    return lines


def plot_grpo(g, val, out, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = g["step"]
    nan = float("nan")

    def col(name):
        return g.get(name, [nan] * len(steps))

    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1, 1]})
    ax = axes[0]
    rm, rs = col("reward_mean"), col("reward_std")
    ax.fill_between(steps, col("reward_min"), col("reward_max"), color="tab:blue", alpha=0.12, lw=0,
                    label="rollout reward min..max")
    ax.fill_between(steps, [m - s for m, s in zip(rm, rs)], [m + s for m, s in zip(rm, rs)], color="tab:blue",
                    alpha=0.25, lw=0, label="rollout reward mean ± std")
    ax.plot(steps, rm, color="tab:blue", lw=1.6, label="rollout reward mean")
    if val and val.get("step"):
        ax.plot(val["step"], val["reward"], "o-", color="tab:orange", lw=1.6, ms=4, label="validation reward (greedy)")
    bad = [s for s, k in zip(steps, col("skipped")) if k and math.isfinite(k)]
    if bad:
        finite = [v for v in rm if math.isfinite(v)] or [0.0]
        ax.plot(bad, [max(finite)] * len(bad), "x", color="tab:red", ms=7, label=f"skipped steps ({len(bad)})")
    ax.set_ylabel("reward")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)

    ax = axes[1]
    ax.plot(steps, col("kl_loss"), color="tab:purple", lw=1.4, label="kl_loss (low_var_kl vs reference)")
    ax.plot(steps, col("ppo_kl"), color="tab:gray", lw=1.0, label="ppo_kl (vs rollout policy)")
    ax.set_ylabel("KL")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[2]
    ax.plot(steps, col("pg_clipfrac"), color="tab:green", lw=1.4, label="pg_clipfrac")
    ax.plot(steps, col("pg_clipfrac_lower"), color="tab:olive", lw=1.0, label="pg_clipfrac_lower (dual clip)")
    ax.set_ylabel("clip fraction")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[3]
    ax.plot(steps, col("response_length_mean"), color="tab:brown", lw=1.4, label="mean")
    ax.plot(steps, col("response_length_max"), color="tab:brown", lw=0.9, ls="--", label="max")
    ax.set_ylabel("response length (tokens)")
    ax.set_xlabel("GRPO step")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot RUN/log.h5 (SFT: train and held-out loss, LR, grad norm; "
                                 "GRPO: rewards, KL, clip fractions, response length) to a PNG.")
    ap.add_argument("log", help="a run directory (RUN, reads RUN/log.h5) or a log.h5 file")
    ap.add_argument("-o", "--out", help="PNG to write (default: log.png next to the log)")
    ap.add_argument("--smooth", type=float, default=0.6, help="EMA factor for the train loss, 0 = none (0.6)")
    ap.add_argument("--title", help="figure title (default: the run directory's name)")
    ap.add_argument("--summary", action="store_true", help="print first/last (GRPO: and best) values and tokens/s")
    a = ap.parse_args(argv)
    if not 0 <= a.smooth < 1:
        ap.error("--smooth must be in [0, 1)")
    path = os.path.join(a.log, "log.h5") if os.path.isdir(a.log) else a.log
    try:
        import h5py
    except ImportError:
        print("plot_log.py: needs h5py and matplotlib (pip install h5py matplotlib)", file=sys.stderr)
        return 2
    if not os.path.exists(path):
        print(f"plot_log.py: {path} does not exist (give a run directory with log.h5, or the file)", file=sys.stderr)
        return 1
    with h5py.File(path, "r") as f:
        train = read_table(f, "train")
        ev = read_table(f, "eval")
        grpo = read_table(f, "grpo")
        val = read_table(f, "val")
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(path)), "log.png")
    title = a.title or os.path.basename(os.path.dirname(os.path.abspath(path)))
    if grpo is not None and not train:  # a GRPO run (its log has tables grpo and val, no train)
        if not grpo.get("step"):
            print(f"plot_log.py: {path} has no rows in table 'grpo' (nothing logged yet?)", file=sys.stderr)
            return 1
        if "reward_mean" not in grpo:
            print(f"plot_log.py: table 'grpo' of {path} has no 'reward_mean' column (columns: {', '.join(grpo)})",
                  file=sys.stderr)
            return 1
        plot_grpo(grpo, val, out, title)
        if a.summary:
            for line in summary_grpo(grpo, val):
                print(line)
        print(f"wrote {out}")
        return 0
    if not train or not train.get("step"):
        print(f"plot_log.py: {path} has no rows in table 'train' (nothing logged yet?)", file=sys.stderr)
        return 1
    if "loss" not in train:
        print(f"plot_log.py: table 'train' of {path} has no 'loss' column (columns: {', '.join(train)})",
              file=sys.stderr)
        return 1
    plot(train, ev, out, a.smooth, title)
    if a.summary:
        for line in summary(train, ev):
            print(line)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
