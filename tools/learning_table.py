#!/usr/bin/env python3
"""The learning table: each task's main metric for every model evaluated in a run directory.

Optional tool (standard library only); nothing in the project needs it to run.

    tools/learning_table.py RUN/eval                       # every tag found, Markdown table
    tools/learning_table.py RUN/eval --tags a b c --baselines baseline-prior baseline-whole_image

Reads the metrics files <tag>_<task>.json that `radvlm-hpc --phase eval` writes (upstream's metric
keys plus "bootstrap": {"ci95": {key: [lo, hi]}}), one column per tag, one row per task with its
main metric and 95% interval, and per trained model (every tag that is not a baseline) a column
saying whether it beats every baseline tag on that task (its value above the best baseline's).
--secondary adds a table of the grounding tasks' avg_iou (graded where mAP@0.5 is all zeros).
"""
import argparse
import glob
import json
import os
import re
import sys

TASKS = ["report_generation", "abnormality_classification", "region_grounding", "abnormality_grounding",
         "abnormality_detection", "phrase_grounding", "conversation", "conversation_grounded"]
# the metric the table shows per task (higher is better for all of them)
MAIN = {"report_generation": "blue", "abnormality_classification": "F1 Score(micro)",
        "conversation": "blue", "conversation_grounded": "blue"}


def main_key(task):
    return MAIN.get(task, "mAP_0.5")


def read(d, tag, task, key=None):
    p = os.path.join(d, f"{tag}_{task}.json")
    if not os.path.exists(p):
        return None
    m = json.load(open(p))
    k = key or main_key(task)
    if k not in m:
        return None
    ci = m.get("bootstrap", {}).get("ci95", {}).get(k)
    return m[k], ci, m.get("n_scored")


def tags_in(d):
    out = set()
    for p in glob.glob(os.path.join(d, "*.json")):
        b = os.path.basename(p)
        for t in TASKS:
            if b.endswith(f"_{t}.json") and not b.endswith("_output.json"):
                out.add(b[: -len(f"_{t}.json")])
    # "conversation" also matches the end of "..._conversation_grounded" tags: drop such artefacts
    return sorted(t for t in out if not any(t.endswith("_" + x) for x in TASKS))


def fmt(v):
    if v is None:
        return "—"
    val, ci, n = v
    s = f"{val:.3f}"
    if ci:
        s += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="RUN/eval")
    ap.add_argument("--tags", nargs="*", help="model tags, the trained model first (default: every tag found)")
    ap.add_argument("--baselines", nargs="*", default=None,
                    help="tags that are baselines (default: tags starting with baseline- or random-)")
    ap.add_argument("--secondary", action="store_true", help="also the grounding tasks' avg_iou")
    a = ap.parse_args()
    tags = a.tags or tags_in(a.dir)
    if not tags:
        sys.exit(f"{a.dir}: no <tag>_<task>.json metrics files")
    base = a.baselines if a.baselines is not None else [t for t in tags if re.match(r"(baseline|random)-", t)]
    models = [t for t in tags if t not in base]
    table(a.dir, tags, base, models, TASKS, None)
    if a.secondary:
        print()
        table(a.dir, tags, base, models, [t for t in TASKS if t not in MAIN], "avg_iou")


def table(d, tags, base, models, tasks, key):
    beats = [m for m in models] if base else []
    print("| task | metric | " + " | ".join(tags) + " |" + "".join(f" {m} beats every baseline |" for m in beats))
    print("|---|---|" + "---|" * (len(tags) + len(beats)))
    for task in tasks:
        vals = {t: read(d, t, task, key) for t in tags}
        if all(v is None for v in vals.values()):
            continue
        row = f"| {task} | {key or main_key(task)} | " + " | ".join(fmt(vals[t]) for t in tags) + " |"
        bv = [vals[t][0] for t in base if vals.get(t)]
        for m in beats:
            mv = vals.get(m)
            row += " yes |" if mv and bv and mv[0] > max(bv) else " no |" if mv and bv else " — |"
        print(row)


if __name__ == "__main__":
    main()
