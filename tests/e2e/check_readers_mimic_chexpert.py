#!/usr/bin/env python3
"""Independent check of the MIMIC-family and CheXpert readers (stdlib only): re-derives, with
upstream's pandas semantics written out by hand (reference data.md §1-§4, §6), the records of
every block those readers feed, and compares their *content* with RUN/llava/*.json: image
paths, report text, label lists, boxes, conversations, and the order of the test files.
Train blocks are shuffled by the builder, so they are compared as multisets.
usage: check_readers_mimic_chexpert.py DATA_DIR LLAVA_DIR [chestima_n]"""
import csv, json, os, sys
from collections import Counter

data, out = os.path.abspath(sys.argv[1]), sys.argv[2]
chestima_n = int(sys.argv[3]) if len(sys.argv) > 3 else 80000
fails = []
P13 = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
       "Lung Lesion", "Lung Opacity", "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax",
       "Support Devices"]
NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
      "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


def fail(msg):
    fails.append(msg)


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def j(*p):
    return os.path.join(data, *p)


def text(path):  # Python text mode: universal newlines
    with open(path, encoding="utf-8") as f:
        return f.read()


def num(v):
    return float(v) if v not in NA else None


def fmt(v):  # data.md §0.2
    return str(round(v, 2)) if isinstance(v, float) else str(v)


def boxes_str(bs):
    s = ["[" + ", ".join(fmt(v) for v in b) + "]" for b in bs]
    return s[0] if len(s) == 1 else ", ".join(s[:-1]) + " and " + s[-1]


def cells(name):
    p = os.path.join(out, name)
    return json.load(open(p, encoding="utf-8")) if os.path.exists(p) else None


train = cells("train.json") or []
def block(prefix):
    return [c for c in train if c["id"].rsplit("_", 1)[0] == prefix]


def answer(c):
    return c["conversations"][1]["value"]


# ---------------------------------------------------------------- MIMIC table (§1.2)
M = lambda f: j("MIMIC-CXR-JPG", f)
split = {(r["dicom_id"], int(r["subject_id"]), int(r["study_id"])): r["split"]
         for r in rows(M("mimic-cxr-2.0.0-split.csv"))}
meta_by_study = {}
for r in rows(M("mimic-cxr-2.0.0-metadata.csv")):
    sub, st = int(r["subject_id"]), int(r["study_id"])
    r = dict(r, subject_id=sub, study_id=st, split=split.get((r["dicom_id"], sub, st)))
    meta_by_study.setdefault((sub, st), []).append(r)
reports = {int(r["study"].lstrip("s")): r for r in rows(M("reports.csv"))}
table = []
for c in rows(M("mimic-cxr-2.0.0-chexpert.csv")):
    key = (int(c["subject_id"]), int(c["study_id"]))
    if key[1] not in reports:
        continue
    labels = [p for p in P13 if num(c[p]) in (1.0, -1.0)]
    for m in meta_by_study.get(key, []):
        table.append(dict(m, labels=labels, report=reports[key[1]]))


def mimic_path(r):
    s = str(r["subject_id"])
    return os.path.join(j("MIMIC-CXR-JPG", "files"), "p" + s[:2], "p" + s, "s%d" % r["study_id"], r["dicom_id"] + ".jpg")


fdir = j("MIMIC-CXR-JPG", "filtered_reports")
filt = {n[:-4] for n in os.listdir(fdir) if n.endswith(".txt")} if os.path.isdir(fdir) else None


def sel(sp, frontal, filtered):
    rs = [r for r in table if r["split"] == sp and (not frontal or r["ViewPosition"] in ("PA", "AP"))]
    if filtered and filt is not None:
        rs = [r for r in rs if str(r["study_id"]) in filt]
    return rs


def ftext(r):
    return text(os.path.join(fdir, "%d.txt" % r["study_id"]))


# report generation: image + verbatim filtered text
want = Counter((mimic_path(r), ftext(r)) for r in sel("train", True, True))
got = Counter((c["image"], answer(c)) for c in block("mimic-train"))
if want != got:
    fail("mimic-train: (image, report) records differ: missing %s, extra %s" % (list(want - got)[:2], list(got - want)[:2]))
test = cells("test_report_generation.json")
if test is not None:
    w = [(mimic_path(r), ftext(r)) for r in sel("test", True, True)]
    g = [(c["image"], answer(c)) for c in test]
    if w != g:
        fail("test_report_generation: records or their order differ (want %d, got %d)" % (len(w), len(g)))

# classification: labels -1 -> 1, blank -> 0, No Finding ignored
want = Counter((mimic_path(r), tuple(r["labels"])) for r in sel("train", True, False))
got = Counter((c["image"], tuple(c.get("labels", ["<no labels key>"]))) for c in block("mimic-labels-train"))
if want != got:
    fail("mimic-labels-train: (image, labels) differ: missing %s, extra %s" % (list(want - got)[:2], list(got - want)[:2]))

# conversations: every stored turn copied (the builder adds "<image>\n" to the first)
def conv_turns(path):
    t = json.load(open(path, encoding="utf-8"))
    return tuple((e.get("from"), e.get("value")) for e in t)

cdir = j("MIMIC-CXR-JPG", "conversations", "train", "standard")
if os.path.isdir(cdir):
    want = Counter()
    for r in sel("train", False, True):
        p = os.path.join(cdir, r["dicom_id"] + ".json")
        if os.path.exists(p):
            want[(mimic_path(r), conv_turns(p))] += 1
    got = Counter()
    for c in block("conv-train"):
        t = [(e["from"], e["value"]) for e in c["conversations"]]
        if t and t[0][1].startswith("<image>\n"):
            t[0] = (t[0][0], t[0][1][len("<image>\n"):])
        got[(c["image"], tuple(t))] += 1
    if want != got:
        fail("conv-train: (image, turns) differ (want %d, got %d)" % (sum(want.values()), sum(got.values())))

# ---------------------------------------------------------------- MS-CXR (§6)
mdir = next((j("MS-CXR", d) for d in ("sentences_and_BBox_mscxr", "sentences_BBox_mscxr")
             if os.path.isdir(j("MS-CXR", d))), None)


ms_csv = {}  # normalize_mscxr.py, done here when no per-image directory exists
if not mdir and os.path.exists(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv")):
    for r in rows(j("MS-CXR", "MS_CXR_Local_Alignment_v1.0.0.csv")):
        x, y, w, h, W, H = (float(r[k]) for k in ("x", "y", "w", "h", "image_width", "image_height"))
        ms_csv.setdefault(r["dicom_id"], {}).setdefault(r["label_text"], []).append(
            [x / W, y / H, (x + w) / W, (y + h) / H])


def ms_entries(dicom_id):
    if mdir:
        p = os.path.join(mdir, dicom_id + ".json")
        return json.load(open(p, encoding="utf-8")) if os.path.exists(p) else None
    if dicom_id not in ms_csv:
        return None
    return [{"observation": o, "box": b} for o, bs in ms_csv[dicom_id].items() for b in bs]


def ms_records(rs):
    out_ = []
    for r in rs:
        if r["ViewPosition"] not in ("PA", "AP"):
            continue
        entries = ms_entries(r["dicom_id"])
        if entries is None:
            continue
        groups = {}
        for e in entries:
            groups.setdefault(e["observation"], []).append(e["box"])
        for obs, bs in groups.items():
            out_.append((mimic_path(r), obs, boxes_str(bs)))
    return out_


def lower_label(s):  # data.md §0.3
    return s.lower() if s[:1].isupper() and not s.isupper() else s


def check_phrase(cs, recs, what, ordered):
    g = [(c["image"], c["conversations"][0]["value"], answer(c)) for c in cs]
    if len(g) != len(recs):
        fail("%s: %d cells, want %d" % (what, len(g), len(recs)))
        return
    pool = list(recs)
    for i, (img, q, a) in enumerate(g):
        cand = [pool[0]] if ordered else pool
        hit = next((r for r in cand if r[0] == img and q.endswith(lower_label(r[1])) and r[2] in a), None)
        if hit is None:
            fail("%s: cell %d (%s) matches no expected record%s" % (what, i, img, " in order" if ordered else ""))
            return
        pool.remove(hit)

if mdir or ms_csv:
    recs = ms_records(sel("train", True, False)) + ms_records(sel("validate", True, False))
    check_phrase(block("mscxr-train1"), recs, "mscxr-train1", False)
    test = cells("test_phrase_grounding.json")
    if test is not None:
        check_phrase(test, ms_records(sel("test", True, False)), "test_phrase_grounding", True)

# ---------------------------------------------------------------- Chest ImaGenome (§4, P2)
sg = j("CHEST_IMA", "silver_dataset")
if os.path.isdir(sg):
    def ima(split_name):
        graphs = {n[:-len("_SceneGraph.json")] for n in os.listdir(os.path.join(sg, "scene_graph"))
                  if n.endswith("_SceneGraph.json")}
        keys = {(r["dicom_id"], int(r["subject_id"]), int(r["study_id"]), r["ViewPosition"])
                for r in rows(os.path.join(sg, "splits", split_name + ".csv")) if r["dicom_id"] in graphs}
        res = []
        for r in sel("train", False, False):
            if (r["dicom_id"], r["subject_id"], r["study_id"], r["ViewPosition"]) in keys:
                g = json.load(open(os.path.join(sg, "scene_graph", r["dicom_id"] + "_SceneGraph.json")))
                W, H = float(r["Columns"]), float(r["Rows"])
                regs = {(o["bbox_name"], boxes_str([[float(o["original_x1"]) / W, float(o["original_y1"]) / H,
                                                     float(o["original_x2"]) / W, float(o["original_y2"]) / H]]))
                        for o in g["objects"]}
                res.append((mimic_path(r), regs))
        return res

    def check_regions(cs, recs, what, ordered):
        imgs = [c["image"] for c in cs]
        if ordered and imgs != [r[0] for r in recs][:len(imgs)]:
            fail("%s: image order differs from the MIMIC table order" % what)
        by_img = {}
        for img, regs in recs:
            by_img.setdefault(img, regs)
        for c in cs:
            regs = by_img.get(c["image"])
            if regs is None or not any(b in answer(c) and n in c["conversations"][0]["value"] for n, b in regs):
                fail("%s: %s: answer box/region not one of the image's scene-graph regions" % (what, c["image"]))
                return

    recs = ima("train")
    cs = block("chestima-train")
    if len(cs) != min(chestima_n, len(recs)):
        fail("chestima-train: %d cells, want %d" % (len(cs), min(chestima_n, len(recs))))
    check_regions(cs, recs, "chestima-train", False)
    test = cells("test_region_grounding.json")
    if test is not None:
        check_regions(test, ima("test"), "test_region_grounding", True)

# ---------------------------------------------------------------- CheXpert (§2)
def chexpert(split_name):
    res = []
    for r in rows(j("CheXpert", split_name + ".csv")):
        if not r["Path"].endswith("frontal.jpg"):
            continue
        healthy = num(r["No Finding"]) == 1.0
        labels = [p for p in P13 if (p == "Support Devices" or not healthy) and num(r[p]) in (1.0, -1.0)]
        path = os.path.join(j("CheXpert"), r["Path"]).replace("CheXpert-v1.0-small/", "").replace("CheXpert-v1.0/", "")
        res.append((path, tuple(labels)))
    return res

if os.path.exists(j("CheXpert", "train.csv")):
    want = Counter(chexpert("train"))
    got = Counter((c["image"], tuple(c.get("labels", ["<no labels key>"]))) for c in block("chexpert-train"))
    if want != got:
        fail("chexpert-train: (image, labels) differ: missing %s, extra %s" % (list(want - got)[:2], list(got - want)[:2]))
    test = cells("test_abnormality_classification.json")
    if test is not None and os.path.exists(j("CheXpert", "test.csv")):
        if [(c["image"], tuple(c["labels"])) for c in test] != chexpert("test"):
            fail("test_abnormality_classification: records or their order differ")

# ---------------------------------------------------------------- CheXpert-Plus (§3)
if os.path.exists(j("CheXpert", "df_chexpert_plus_240401.csv")):
    labels = {}
    for line in open(j("CheXpert", "chexbert_labels", "report_fixed.json"), encoding="utf-8"):
        if line.strip():
            rec = json.loads(line)
            labels[rec.pop("path_to_image")] = rec
    frdir = j("CheXpert", "filtered_reports")
    avail = set(os.listdir(frdir)) if os.path.isdir(frdir) else None
    want = Counter()
    for r in rows(j("CheXpert", "df_chexpert_plus_240401.csv")):
        if r["split"] != "train" or r["frontal_lateral"] != "Frontal":
            continue
        name = "_".join(r["path_to_image"].split("/")[:3]) + ".txt"
        if avail is not None and name not in avail:
            continue
        txt = text(os.path.join(frdir, name)) if avail is not None else None
        lab = tuple(k for k, v in labels.get(r["path_to_image"], {}).items() if v == 1.0)
        want[(os.path.join(j("CheXpert"), r["path_to_image"]), txt, lab)] += 1
    got = Counter((c["image"], answer(c) if avail is not None else None, tuple(c.get("labels", ["<none>"])))
                  for c in block("chexpertplus-train"))
    if want != got:
        fail("chexpertplus-train: (image, report, labels) differ: missing %s, extra %s"
             % (list(want - got)[:2], list(got - want)[:2]))

for f in fails:
    print("FAIL:", f, file=sys.stderr)
print("check_readers_mimic_chexpert: %s" % ("all checks passed" if not fails else "%d failures" % len(fails)))
sys.exit(1 if fails else 0)
