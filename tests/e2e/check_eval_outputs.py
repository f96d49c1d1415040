#!/usr/bin/env python3
"""Checks an eval phase's output directory (RUN/eval) the way upstream's scripts and a user read it.

    check_eval_outputs.py RUN/eval [--bin build/radvlm-hpc] [--mpirun "mpirun -n 1"]

For every <tag>_<task>_output.json:
  - json.load it as upstream's loaders do and read r["output"], r["instr"], r["answer"], and per
    task r["txt"] / r["labels"] / r["boxes"]; check the key order of docs/formats.md
    ("Eval outputs"): [full_output] output instr answer [id idx img_path labels txt boxes]
    [turn] n_tokens stopped;
  - grounding and classification: recompute the upstream metrics from the records with a small
    independent implementation of eval.md §2.1 (boxes, greedy matching, VOC AP, avg_iou) and
    §2.2 (substring labels, scikit-learn micro/macro P/R/F1) and compare with <tag>_<task>.json;
  - with --bin: score the copied file with the score phase (score.r1=false: "output" is already
    the final answer) and check that its metrics document equals the eval metrics document
    (apart from the eval phase's own "eval" object and the conversation judge note).
results.h5 (when present): h5py read of every task's rows against the records and of the metric
tables against <tag>_<task>.json; a pandas DataFrame of each task's rows when pandas is
installed. A <tag>_<task>_boxes.png of a grounding task: an 8-bit RGB PNG (IHDR).
Exit status 0 when everything holds; every problem is printed."""
import argparse
import glob
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

TASKS = ["report_generation", "abnormality_classification", "region_grounding", "abnormality_grounding",
         "abnormality_detection", "phrase_grounding", "object_grounding", "conversation", "conversation_grounded"]
GROUNDING = {"region_grounding", "abnormality_grounding", "abnormality_detection", "phrase_grounding",
             "object_grounding"}
REPORT = {"report_generation", "conversation", "conversation_grounded"}
CONVERSATION = {"conversation", "conversation_grounded"}
ORDER = ["full_output", "output", "instr", "answer", "id", "idx", "img_path", "labels", "txt", "boxes", "turn",
         "n_tokens", "stopped"]
CLS_LABELS = ["atelectasis", "cardiomegaly", "consolidation", "edema", "enlarged cardiomediastinum", "fracture",
              "lung lesion", "lung opacity", "pleural effusion", "pleural other", "pneumonia", "pneumothorax",
              "support devices"]

problems = []


def bad(msg):
    problems.append(msg)
    print("PROBLEM:", msg, file=sys.stderr)


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# ---- eval.md §2.1: grounding ----
BOX_RE = re.compile(r"\[([\d.]+),\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)\]")


def parse_boxes(text):
    out = []
    for m in BOX_RE.finditer(text):
        try:
            out.append([float(g) for g in m.groups()])
        except ValueError:  # upstream's float() raises here; the C port skips the box
            pass
    return out


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union != 0 else 0.0


def sample_ap(pred, gt):
    if not pred or not gt:
        return 0.0, 0.0, 0
    m = [[iou(p, g) for g in gt] for p in pred]
    s = sum(sum(r) for r in m)
    taken = [False] * len(gt)
    tp, fp = [], []
    for r in m:
        j = max(range(len(gt)), key=lambda k: (r[k], -k))  # argmax, first index on ties
        if r[j] >= 0.5 and not taken[j]:
            taken[j] = True
            tp.append(1); fp.append(0)
        else:
            tp.append(0); fp.append(1)
    ctp = cfp = 0
    rec, prec = [], []
    for a, b in zip(tp, fp):
        ctp += a; cfp += b
        rec.append(ctp / len(gt)); prec.append(ctp / (ctp + cfp))
    r = [0.0] + rec + [1.0]
    p = [0.0] + prec + [0.0]
    for i in range(len(p) - 1, 0, -1):
        p[i - 1] = max(p[i - 1], p[i])
    ap = sum((r[i + 1] - r[i]) * p[i + 1] for i in range(len(r) - 1) if r[i + 1] != r[i])
    return ap, s, len(pred) * len(gt)


def grounding_metrics(recs):
    aps, tot, pairs = [], 0.0, 0
    for r in recs:
        ap, s, n = sample_ap(parse_boxes(r["output"]), r["boxes"])
        aps.append(ap); tot += s; pairs += n
    out = {"mAP_0.5": sum(aps) / len(aps)}
    if pairs:
        out["avg_iou"] = tot / pairs
    return out


# ---- eval.md §2.2: classification ----
def classification_metrics(recs):
    L = len(CLS_LABELS)
    tp, fp, fn = [0] * L, [0] * L, [0] * L
    for r in recs:
        out = r["output"].lower()
        truth = {l.lower() for l in r["labels"]}
        for k, lab in enumerate(CLS_LABELS):
            p, t = lab in out, lab in truth
            tp[k] += p and t; fp[k] += p and not t; fn[k] += t and not p
    div = lambda a, b: a / b if b else 0.0
    P = [div(tp[k], tp[k] + fp[k]) for k in range(L)]
    R = [div(tp[k], tp[k] + fn[k]) for k in range(L)]
    F = [div(2 * tp[k], 2 * tp[k] + fp[k] + fn[k]) for k in range(L)]
    T, FP, FN = sum(tp), sum(fp), sum(fn)
    out = {"Precision(macro)": sum(P) / L, "Precision(micro)": div(T, T + FP), "Recall(macro)": sum(R) / L,
           "Recall(micro)": div(T, T + FN), "F1 Score(macro)": sum(F) / L, "F1 Score(micro)": div(2 * T, 2 * T + FP + FN)}
    for k, lab in enumerate(CLS_LABELS):
        out[lab] = F[k]
    return out


def check_records(path, task, recs):
    if not isinstance(recs, list):
        return bad(f"{path}: not a JSON array")
    r1 = bool(recs) and "full_output" in recs[0]
    for i, r in enumerate(recs):
        where = f"{path}: record {i}"
        keys = list(r.keys())
        if [k for k in ORDER if k in r] != keys:
            bad(f"{where}: keys {keys} are not in the documented order {ORDER}")
        if ("full_output" in r) != r1:
            bad(f"{where}: full_output present in some records only")
        for k in ["output", "instr", "answer"]:
            if not isinstance(r.get(k), str):
                bad(f"{where}: {k} missing or not a string")
        if not isinstance(r.get("idx"), int):
            bad(f"{where}: idx missing or not an int")
        if not isinstance(r.get("n_tokens"), int) or not isinstance(r.get("stopped"), bool):
            bad(f"{where}: n_tokens / stopped missing or mistyped")
        if len(r["output"]) > 4000:
            bad(f"{where}: output longer than upstream's 4000 characters")
        if task in REPORT and r.get("txt") != r.get("answer"):
            bad(f"{where}: txt must be the reference (= answer)")
        if task not in REPORT and "txt" in r:
            bad(f"{where}: txt is written for report and conversation tasks only")
        if task in GROUNDING:
            b = r.get("boxes")
            if not isinstance(b, list) or not all(isinstance(x, list) and len(x) == 4 and
                                                  all(isinstance(v, (int, float)) for v in x) for x in b):
                bad(f"{where}: boxes is not a list of 4-number lists")
        elif "boxes" in r:
            bad(f"{where}: boxes is written for grounding tasks only")
        if task == "abnormality_classification" and not isinstance(r.get("labels"), list):
            bad(f"{where}: classification record without labels")
        if (task in CONVERSATION) != isinstance(r.get("turn"), int):
            bad(f"{where}: turn is written for (and only for) conversation tasks")
    return r1


def compare_metrics(where, want, got):
    for k, v in want.items():
        if k not in got:
            bad(f"{where}: {k} missing")
        elif not close(v, got[k]):
            bad(f"{where}: {k} = {got[k]!r}, recomputed {v!r}")


def score_phase(binary, mpirun, path, task, metrics):
    """The score phase on a copy of the _output.json: the same metrics document."""
    boot = metrics.get("bootstrap", {})
    with tempfile.TemporaryDirectory() as d:
        cp = os.path.join(d, f"x_{task}_output.json")
        shutil.copy(path, cp)
        cmd = (mpirun.split() if mpirun else []) + [binary, "--phase", "score", "--run", os.path.join(d, "run"),
               "--set", f"score.input={cp}", "--set", f"score.task={task}",
               "--set", f"score.bootstrap_samples={boot.get('samples', 0)}", "--set", f"score.seed={boot.get('seed', 0)}"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            return bad(f"{path}: the score phase failed: {p.stderr[-2000:]}")
        sm = json.load(open(os.path.join(d, f"x_{task}_output_metrics.json")))
    em = dict(metrics)
    em.pop("eval", None)
    if "unavailable" in em:
        em["unavailable"] = {k: v for k, v in em["unavailable"].items() if k != "judge_score"}
        if not em["unavailable"]:
            del em["unavailable"]
    if sm != em:
        diff = [k for k in set(sm) | set(em) if sm.get(k) != em.get(k)]
        bad(f"{path}: the score phase's metrics differ from the eval phase's in {sorted(diff)}")


def check_h5(path, by_task, metrics_by_task):
    try:
        import h5py
        import numpy as np
    except ImportError:
        print(f"note: h5py/numpy not installed; {path} not checked", file=sys.stderr)
        return
    try:
        import pandas as pd
    except ImportError:
        pd = None
        print("note: pandas not installed; DataFrame reading not checked", file=sys.stderr)
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "radvlm-hpc eval results" or int(f.attrs.get("schema_version", 0)) != 1:
            bad(f"{path}: format / schema_version attributes wrong")
        if list(f.attrs["run_dependent"]) != ["seconds"]:
            bad(f"{path}: run_dependent should be ['seconds']")
        json.loads(f.attrs["config"])
        names = list(f.attrs["tasks"])
        if sorted(names) != sorted(by_task):
            bad(f"{path}: tasks {names} != the _output.json files' {sorted(by_task)}")
        for task in names:
            g = f[f"tasks/{task}/samples"]
            recs = by_task.get(task, [])
            n = len(recs)
            if g.attrs.get("n_items", n) != n or f[f"tasks/{task}"].attrs["n_items"] != n:
                bad(f"{path}: {task}: n_items != {n}")
            cols = {k: (g[k].asstr()[()] if g[k].dtype.kind == "O" else g[k][()]) for k in g if g[k].shape == (n,)}
            for k in ["task", "idx", "turn", "id", "img_path", "prompt", "output", "full_output", "reference",
                      "labels", "parsed_labels", "n_tokens", "prompt_tokens", "stopped", "found", "seconds"]:
                if k not in cols:
                    bad(f"{path}: {task}: column {k} missing")
            for i, r in enumerate(recs):
                if (cols["output"][i] != r["output"] or cols["prompt"][i] != r["instr"] or
                        cols["reference"][i] != r["answer"] or int(cols["idx"][i]) != r["idx"] or
                        int(cols["n_tokens"][i]) != r["n_tokens"] or bool(cols["stopped"][i]) != r["stopped"]):
                    bad(f"{path}: {task} row {i} differs from its _output.json record")
                    break
                if "full_output" in r and cols["full_output"][i] != r["full_output"]:
                    bad(f"{path}: {task} row {i}: full_output differs")
            off = g["pred_box_offsets"][()]
            boxes = g["pred_boxes"][()]
            if off.shape != (n + 1,) or boxes.shape[1:] != (4,) or off[-1] != boxes.shape[0]:
                bad(f"{path}: {task}: pred_boxes / offsets shapes {boxes.shape} / {off.shape}")
            elif task in GROUNDING:
                for i, r in enumerate(recs):
                    if boxes[off[i]:off[i + 1]].tolist() != parse_boxes(r["output"]):
                        bad(f"{path}: {task} row {i}: parsed boxes differ from the output's")
                        break
            sc = g["scores"]
            if sc.shape[0] != n or len(sc.attrs["value_names"]) != sc.shape[1]:
                bad(f"{path}: {task}: scores shape {sc.shape} / value_names")
            if pd is not None:
                df = pd.DataFrame(cols)
                if len(df) != n:
                    bad(f"{path}: {task}: DataFrame has {len(df)} rows")
            m = f[f"tasks/{task}/metrics"]
            keys = list(m["key"].asstr()[()])
            vals = m["value"][()]
            lo, hi = m["ci_lo"][()], m["ci_hi"][()]
            mj = metrics_by_task.get(task)
            if mj is None:
                continue
            ci = mj.get("bootstrap", {}).get("ci95", {})
            for k, v, a, b in zip(keys, vals, lo, hi):
                if math.isnan(v):
                    if k in mj:
                        bad(f"{path}: {task}: {k} NaN in results.h5 but {mj[k]} in the metrics file")
                elif k not in mj or not close(mj[k], float(v)):
                    bad(f"{path}: {task}: {k} = {v} in results.h5, {mj.get(k)} in the metrics file")
                elif k in ci and not (close(ci[k][0], float(a)) and close(ci[k][1], float(b))):
                    bad(f"{path}: {task}: interval of {k} differs from the metrics file's")


def check_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return bad(f"{path}: not a PNG")
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    if depth != 8 or ctype != 2 or w < 1 or h < 1:
        bad(f"{path}: expected an 8-bit RGB PNG, got depth {depth} colour type {ctype}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--bin", help="radvlm-hpc: also check that the score phase reads the files to the same metrics")
    ap.add_argument("--mpirun", default="", help="launcher prefix for --bin, e.g. 'mpirun -n 1'")
    a = ap.parse_args()
    by_task, metrics_by_task = {}, {}
    files = sorted(glob.glob(os.path.join(a.dir, "*_output.json")))
    if not files:
        bad(f"{a.dir}: no *_output.json")
    for path in files:
        base = os.path.basename(path)[: -len("_output.json")]
        task = next((t for t in sorted(TASKS, key=len, reverse=True) if base.endswith("_" + t)), None)
        if task is None:
            bad(f"{path}: no task name in the file name")
            continue
        tag = base[: -len(task) - 1]
        recs = json.load(open(path))  # upstream: json.load, then r["output"], r["txt"] ...
        by_task[task] = recs
        r1 = check_records(path, task, recs)
        mpath = os.path.join(a.dir, f"{tag}_{task}.json")
        if not os.path.exists(mpath):
            bad(f"{mpath}: missing")
            continue
        m = json.load(open(mpath))
        metrics_by_task[task] = m
        e = m.get("eval", {})
        if e.get("n_items") != len(recs) or m.get("n_scored") != len(recs):
            bad(f"{mpath}: n_items / n_scored != {len(recs)} records")
        if e.get("generated_tokens") != sum(r["n_tokens"] for r in recs):
            bad(f"{mpath}: generated_tokens != the records' n_tokens sum")
        if e.get("r1") != r1:
            bad(f"{mpath}: r1 = {e.get('r1')} but full_output presence says {r1}")
        if task in CONVERSATION and "judge_score" not in m.get("unavailable", {}):
            bad(f"{mpath}: the conversation judge note is missing")
        if recs and task in GROUNDING:
            compare_metrics(mpath, grounding_metrics(recs), m)
            if "avg_iou" not in grounding_metrics(recs) and "avg_iou" in m:
                bad(f"{mpath}: avg_iou present without any box pair")
        if recs and task == "abnormality_classification":
            compare_metrics(mpath, classification_metrics(recs), m)
        if a.bin:
            score_phase(a.bin, a.mpirun, path, task, m)
        if task in GROUNDING:
            for png in glob.glob(os.path.join(a.dir, f"*{task}*.png")):
                check_png(png)
    h5 = os.path.join(a.dir, "results.h5")
    if os.path.exists(h5):
        check_h5(h5, by_task, metrics_by_task)
    else:
        bad(f"{h5}: missing")
    print(f"check_eval_outputs: {len(files)} task file(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
