#!/usr/bin/env python3
"""Independent check of the instruct phase's output (stdlib only): derives the number of cells
of every SFT block and test file from the DATA_DIR files with upstream's selection rules
(reference data.md §1-§10) and compares with RUN/llava/*.json, plus cell structure and ids.
usage: check_instruct.py DATA_DIR LLAVA_DIR [chestima_n] [region_cap]"""
import csv, json, os, re, sys

data, out = sys.argv[1], sys.argv[2]
chestima_n = int(sys.argv[3]) if len(sys.argv) > 3 else 80000
region_cap = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
fails = []

def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))

def j(*p): return os.path.join(data, *p)
def isdir(*p): return os.path.isdir(j(*p))
def names(*p, ext=".json"):
    d = j(*p)
    return {n[:-len(ext)] for n in os.listdir(d) if n.endswith(ext)} if os.path.isdir(d) else set()

def usable_turns(path):
    try:
        c = json.load(open(path, encoding="utf-8"))
    except Exception:
        return False
    c = [c] if isinstance(c, dict) else c
    if not isinstance(c, list): return False
    for e in c:
        if isinstance(e, dict) and ((isinstance(e.get("from"), str) and isinstance(e.get("value"), str)) or
                                    (isinstance(e.get("question"), str) and isinstance(e.get("answer"), str))):
            return True
    return False

expected, tests = {}, {}
no_finding = {"train": set(), "test": set()}  # VinDr images with a "No finding" row

def np_round2(v):
    # numpy's round(v, 2) on a float64: v * 100 (one double multiply), rint (round() of a float
    # rounds half to even on its exact value, as rint), / 100. Python's round(v, 2) differs on ties.
    return round(v * 100) / 100

# ---- VinDr-CXR (§5): groups, zero-area after normalise + clip, resolution required
def vindr(split):
    root = j("VinDr-CXR")
    adir = os.path.join(root, "annotations") if os.path.isdir(os.path.join(root, "annotations")) else root
    res = {}
    for d in (root, os.path.join(root, "annotations")):
        p = os.path.join(d, f"image_resolutions_{split}.json")
        if os.path.exists(p): res = json.load(open(p)); break
    groups = {}
    for r in rows(os.path.join(adir, f"annotations_{split}.csv")):
        groups.setdefault((r["image_id"], r["class_name"]), []).append(r)
    det_imgs, mono = set(), 0
    for (img, cls), rs in sorted(groups.items()):
        if cls == "No finding":
            det_imgs.add(img); no_finding[split].add(img); continue
        boxes = []
        for r in rs:
            try: b = [float(r[k]) for k in ("x_min", "y_min", "x_max", "y_max")]
            except ValueError: continue
            if any(v != v for v in b): continue
            boxes.append(b)
        if not boxes: continue
        if img not in res: continue  # bad record: no resolution
        h, w = res[img]
        ok = False
        for x1, y1, x2, y2 in boxes:
            x1, x2 = sorted((x1 / w, x2 / w)); y1, y2 = sorted((y1 / h, y2 / h))
            c = lambda v: min(max(v, 0.0), 1.0)
            if (c(x2) - c(x1)) * (c(y2) - c(y1)) != 0: ok = True
        if ok: mono += 1; det_imgs.add(img)
    # an image whose resolution is missing is skipped entirely when it has boxes
    bad = {img for (img, cls), rs in groups.items() if cls != "No finding" and img not in res and
           any(all(r[k] not in ("",) for k in ("x_min", "y_min", "x_max", "y_max")) for r in rs)}
    return len(det_imgs - bad), mono

if isdir("VinDr-CXR"):
    d, m = vindr("train")
    expected.update({"vindr-cxr-train/1": d, "vindr-cxr-train/2": d})
    for k in (1, 2, 3): expected[f"vindr-cxr-mono-train/{k}"] = m
    d, m = vindr("test")
    tests["abnormality_detection"], tests["abnormality_grounding"] = d, m

# ---- PadChest-GR (§7)
if isdir("PadChest"):
    master = rows(j("PadChest", "master_table.csv"))
    proj = {r["ImageID"] for r in rows(j("PadChest", "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"))
            if r["Projection"] in ("AP", "PA")}
    gr = json.load(open(j("PadChest", "grounded_reports_20240819.json"), encoding="utf-8"))
    def keep(split): return {r["ImageID"] for r in master if r["split"] == split and r["ImageID"] in proj}
    phr = conv = 0
    for split in ("train", "validation"):
        k = keep(split)
        cdir = next((p for p in (("conversations", split, "grounding"), ("conversations", split, "padchest"),
                                 ("conversations", "train", "grounding")) if isdir("PadChest", *p)), None)
        seen = set()
        for e in gr:
            if e.get("ImageID") not in k: continue
            boxed = sum(1 for f in e.get("findings", []) if f.get("boxes"))
            phr += boxed
            # PadChest_grounding_per_image: one sample per image with at least one boxed finding
            if cdir and boxed and e["ImageID"] not in seen:
                seen.add(e["ImageID"])
                p = j("PadChest", *cdir, os.path.splitext(e["ImageID"])[0] + ".json")
                conv += os.path.exists(p) and usable_turns(p)
    for k in (1, 2): expected[f"padchest-train/{k}"] = phr
    for k in (1, 2, 3, 4): expected[f"conv-grounded-padchest-train/{k}"] = conv

# ---- MIMIC family (§1, §4, §6)
if isdir("MIMIC-CXR-JPG"):
    M = lambda f: j("MIMIC-CXR-JPG", f)
    split = {(r["dicom_id"], r["subject_id"], r["study_id"]): r["split"] for r in rows(M("mimic-cxr-2.0.0-split.csv"))}
    chex = {(r["subject_id"], r["study_id"]) for r in rows(M("mimic-cxr-2.0.0-chexpert.csv"))}
    rep = {r["study"].lstrip("s"): r for r in rows(M("reports.csv"))}
    table = []
    for r in rows(M("mimic-cxr-2.0.0-metadata.csv")):
        k = (r["dicom_id"], r["subject_id"], r["study_id"])
        if (r["subject_id"], r["study_id"]) in chex and r["study_id"] in rep:
            table.append(dict(r, split=split.get(k)))
    filt = names("MIMIC-CXR-JPG", "filtered_reports", ext=".txt")
    has_filt = isdir("MIMIC-CXR-JPG", "filtered_reports")
    def sel(sp, frontal, filtered):
        out = [r for r in table if r["split"] == sp and (not frontal or r["ViewPosition"] in ("PA", "AP"))]
        if filtered and has_filt: out = [r for r in out if r["study_id"] in filt]
        return out
    def conv(rs, sp, kind):
        d = j("MIMIC-CXR-JPG", "conversations", sp, kind)
        return [r for r in rs if os.path.exists(os.path.join(d, r["dicom_id"] + ".json"))
                and usable_turns(os.path.join(d, r["dicom_id"] + ".json"))]
    mdir = next((p for p in ("sentences_and_BBox_mscxr", "sentences_BBox_mscxr") if isdir("MS-CXR", p)), None)
    def ms_records(rs):
        n = 0
        if mdir:
            for r in rs:
                p = j("MS-CXR", mdir, r["dicom_id"] + ".json")
                if os.path.exists(p):
                    n += len({e["observation"] for e in json.load(open(p, encoding="utf-8")) if "box" in e})
        elif os.path.exists(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv")):
            obs = {}
            for r in rows(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv")):
                obs.setdefault(r["dicom_id"], set()).add(r["label_text"])
            n = sum(len(obs.get(r["dicom_id"], ())) for r in rs)
        return n
    def ms_has(rs):
        if mdir: return [r for r in rs if os.path.exists(j("MS-CXR", mdir, r["dicom_id"] + ".json"))]
        if os.path.exists(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv")):
            ids = {r["dicom_id"] for r in rows(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv"))}
            return [r for r in rs if r["dicom_id"] in ids]
        return []
    expected["mimic-train"] = len(sel("train", True, True))
    expected["mimic-labels-train"] = len(sel("train", True, False))
    expected["conv-train"] = len(conv(sel("train", False, True), "train", "standard"))
    g = len(conv(ms_has(sel("train", True, True)), "train", "grounding"))
    for k in (1, 2, 3, 4): expected[f"conv-grounded-train/{k}"] = g
    tests["report_generation"] = len(sel("test", True, True))
    tests["conversation"] = len(conv(sel("test", True, True), "test", "standard"))
    tests["conversation_grounded"] = len(conv(ms_has(sel("test", True, True)), "test", "grounding"))
    if isdir("MS-CXR"):
        ms = ms_records(sel("train", True, False)) + ms_records(sel("validate", True, False))
        for k in (1, 2, 3): expected[f"mscxr-train/{k}"] = ms
        tests["phrase_grounding"] = ms_records(sel("test", True, False))
    if isdir("CHEST_IMA", "silver_dataset"):
        sg = names("CHEST_IMA", "silver_dataset", "scene_graph", ext="_SceneGraph.json")
        mt = {(r["dicom_id"], r["subject_id"], r["study_id"], r["ViewPosition"]) for r in table if r["split"] == "train"}
        def ima(sp):
            return sum(1 for r in rows(j("CHEST_IMA", "silver_dataset", "splits", sp + ".csv"))
                       if r["dicom_id"] in sg and (r["dicom_id"], r["subject_id"], r["study_id"], r["ViewPosition"]) in mt)
        n = ima("train")
        expected["chestima-train"] = min(n, chestima_n) if chestima_n else n
        n = ima("test")
        tests["region_grounding"] = min(n, region_cap) if region_cap else n

# ---- CheXpert / CheXpert-Plus (§2, §3)
if os.path.exists(j("CheXpert", "train.csv")):
    expected["chexpert-train"] = sum(1 for r in rows(j("CheXpert", "train.csv")) if re.search(r"frontal\.jpg$", r["Path"]))
if os.path.exists(j("CheXpert", "test.csv")):
    tests["abnormality_classification"] = sum(1 for r in rows(j("CheXpert", "test.csv")) if re.search(r"frontal\.jpg$", r["Path"]))
if os.path.exists(j("CheXpert", "df_chexpert_plus_240401.csv")):
    fr = names("CheXpert", "filtered_reports", ext=".txt")
    has = isdir("CheXpert", "filtered_reports")
    expected["chexpertplus-train"] = sum(
        1 for r in rows(j("CheXpert", "df_chexpert_plus_240401.csv"))
        if r["split"] == "train" and r["frontal_lateral"] == "Frontal"
        and (not has or "_".join(r["path_to_image"].split("/")[:3]) in fr))

# ---- compare with the output
PREFIX = {"vindr-cxr-train/1": "vindr-cxr-train1", "vindr-cxr-train/2": "vindr-cxr-train2"}
for k in (1, 2, 3): PREFIX[f"vindr-cxr-mono-train/{k}"] = "vindr-cxr-mono-train1"
for b, n in (("mscxr-train", 3), ("padchest-train", 2), ("conv-grounded-train", 4), ("conv-grounded-padchest-train", 4)):
    for k in range(1, n + 1): PREFIX[f"{b}/{k}"] = f"{b}{k}"
ORDER = ["vindr-cxr-train/1", "vindr-cxr-train/2", "vindr-cxr-mono-train/1", "vindr-cxr-mono-train/2",
         "vindr-cxr-mono-train/3", "mscxr-train/1", "mscxr-train/2", "mscxr-train/3", "padchest-train/1",
         "padchest-train/2", "mimic-train", "chexpertplus-train", "chestima-train", "mimic-labels-train",
         "chexpert-train", "conv-train"] + [f"conv-grounded-train/{k}" for k in range(1, 5)] + \
        [f"conv-grounded-padchest-train/{k}" for k in range(1, 5)]
PATHO = {"mimic-train", "mimic-labels-train", "chexpert-train", "chestima-train", "conv-train"} | \
        {f"conv-grounded-train/{k}" for k in range(1, 5)}
LABELS = {"vindr-cxr-train/1", "vindr-cxr-train/2", "mimic-labels-train", "chexpert-train", "chexpertplus-train"}

train = json.load(open(os.path.join(out, "train.json")))
want_ids, want_keys = [], []
for b in ORDER:
    for _ in range(expected.get(b, 0)):
        want_ids.append(f"{PREFIX.get(b, b)}_{len(want_ids)}")
        want_keys.append((b in LABELS, b in PATHO))
got = [c["id"] for c in train]
print(f"train.json: {len(train)} cells, expected {len(want_ids)}")
for b in ORDER:
    if b in expected: print(f"  {b:32s} {expected[b]:7d}")
if got != want_ids:
    fails.append("train.json: ids/order/counts differ from the block table "
                 f"(first difference at {next((i for i, (a, b) in enumerate(zip(got, want_ids)) if a != b), min(len(got), len(want_ids)))})")
for c, (lab, pat) in zip(train, want_keys):
    keys = list(c.keys())
    want = ["image", "conversations", "id"] + (["labels"] if lab else []) + (["pathologies"] if pat else [])
    if keys != want:
        fails.append(f"{c['id']}: keys {keys}, expected {want}"); break
    conv = c["conversations"]
    if not conv or not conv[0]["value"].startswith("<image>\n") or any("<image>" in t["value"] for t in conv[1:]):
        fails.append(f"{c['id']}: <image> token must start the first turn only"); break
# Test-cell keys as upstream's evaluation datasets give them (data.md §9.2, §10): "labels" where
# the dataset has them (MIMIC test sets are built with flag_lab=True; CheXpert; VinDr detection),
# "pathologies" where the dataset object has the 13 names (every MIMIC class, MS-CXR included,
# since a test set is never concatenated; CheXpert), and the grounding tasks' "boxes" last.
TEST_LABELS = {"report_generation", "abnormality_classification", "abnormality_detection", "conversation",
               "conversation_grounded"}
TEST_PATHO = {"report_generation", "abnormality_classification", "region_grounding", "phrase_grounding",
              "conversation", "conversation_grounded"}
PATHOLOGIES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
               "Lung Lesion", "Lung Opacity", "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax",
               "Support Devices"]
# MIMIC labels of a study (§1.2 step 8): fillna(0), -1 -> 1, the names whose value is then 1, in
# the sorted order; read here from the chexpert CSV by the study in the image path (aligned with
# the image also for grounded conversations: P3 fixed).
mimic_labels = {}
if isdir("MIMIC-CXR-JPG"):
    def positive(v):
        try: return float(v) in (1.0, -1.0)
        except ValueError: return False  # blank (fillna(0)); a bad record's study has no cell
    for r in rows(j("MIMIC-CXR-JPG", "mimic-cxr-2.0.0-chexpert.csv")):
        mimic_labels[(r["subject_id"], r["study_id"])] = [p for p in PATHOLOGIES if positive(r[p])]
def study_of(image):
    m = re.search(r"/p(\d+)/s(\d+)/[^/]+$", image)
    return (m.group(1), m.group(2)) if m else None
n_lab = {}
for t in ["report_generation", "abnormality_classification", "region_grounding", "abnormality_grounding",
          "abnormality_detection", "phrase_grounding", "conversation", "conversation_grounded"]:
    cells = json.load(open(os.path.join(out, f"test_{t}.json")))
    n = tests.get(t, 0)
    print(f"test_{t}.json: {len(cells)} cells, expected {n}")
    if [c["id"] for c in cells] != [f"{t}_{i}" for i in range(n)]:
        fails.append(f"test_{t}.json: {len(cells)} cells / ids differ from the expected {n}")
    grounding = t in ("region_grounding", "abnormality_grounding", "abnormality_detection", "phrase_grounding")
    want = ["image", "conversations", "id"] + (["labels"] if t in TEST_LABELS else []) + \
           (["pathologies"] if t in TEST_PATHO else []) + (["boxes"] if grounding else [])
    for c in cells:
        if list(c) != want:
            fails.append(f"{c['id']}: keys {list(c)}, expected {want}"); break
        if "pathologies" in c and c["pathologies"] != PATHOLOGIES:
            fails.append(f"{c['id']}: pathologies {c['pathologies']}, expected the 13 sorted names"); break
        if t in ("report_generation", "conversation", "conversation_grounded"):
            lab = mimic_labels.get(study_of(c["image"]))
            if c["labels"] != lab:
                fails.append(f"{c['id']}: labels {c['labels']}, expected the study's {lab}"); break
            n_lab[t] = n_lab.get(t, 0) + (len(lab) > 0)
    if t in n_lab: print(f"  {n_lab[t]} of {len(cells)} cells with a non-empty labels list")
    # Grounding test cells end with their unrounded GT boxes ("boxes"), which the answer shows
    # rounded to 2 decimals as format_boxes does (detection grouped by label, so the comparison
    # ignores order); other tasks have no such key. round() is numpy's where upstream holds
    # numpy.float64 (Chest ImaGenome; VinDr single-label; VinDr detection images whose only fused
    # row is one box), Python's elsewhere (data.md §0.2).
    for c in cells:
        if grounding != ("boxes" in c) or (grounding and list(c)[-1] != "boxes"):
            fails.append(f"{c['id']}: 'boxes' key {'missing or not last' if grounding else 'unexpected'}"); break
        if not grounding: continue
        shown = [[float(v) for v in m.split(", ")] for m in re.findall(r"\[(-?[\d.]+(?:, -?[\d.]+){3})\]", c["conversations"][1]["value"])]
        img = os.path.splitext(os.path.basename(c["image"]))[0]
        numpy = t in ("region_grounding", "abnormality_grounding") or \
            (t == "abnormality_detection" and len(c["boxes"]) == 1 and img not in no_finding["test"])
        rnd = np_round2 if numpy else (lambda v: round(v, 2))
        if sorted(shown) != sorted([rnd(v) for v in b] for b in c["boxes"]) or any(len(b) != 4 for b in c["boxes"]):
            fails.append(f"{c['id']}: boxes {c['boxes']} do not round to the answer's {shown}"); break
for f in fails: print("FAIL:", f)
sys.exit(1 if fails else 0)
