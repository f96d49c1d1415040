#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpus (tests/fuzz/corpus/<target>/seed_*): small valid (and a
few nearly valid) inputs of each parser, so mutation starts from the structures the parsers
accept. Deterministic; the committed files are what ctest reads (run: python3 gen_seeds.py; the
image seeds need Pillow, e.g. /tmp/pil10/bin/python, and are left as they are without it).

The regression inputs of issue L (hostile DICOM/PNG/JPEG) live in tests/fixtures/hostile/ and are
replayed with the corpus; the text reproducers of issue L are written here as repro_*.
"""
import io
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures", "hostile"))
import gen_hostile as H  # noqa: E402  (the DICOM element builders)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def packbits(row):
    """DICOM RLE (PS3.5 G.3.1): literal runs of at most 128 bytes, replicate runs of 2..128."""
    out, i = bytearray(), 0
    while i < len(row):
        j = i
        while j + 1 < len(row) and row[j + 1] == row[i] and j - i < 127:
            j += 1
        if j > i:
            out += bytes([(257 - (j - i + 1)) & 0xFF, row[i]])
            i = j + 1
            continue
        j = i
        while j < len(row) and j - i < 128 and not (j + 1 < len(row) and row[j + 1] == row[j]):
            j += 1
        j = max(j, i + 1)
        out += bytes([j - i - 1]) + bytes(row[i:j])
        i = j
    return bytes(out)


def encapsulated(fragment):
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0)  # empty basic offset table
    frag = fragment + (b"\0" if len(fragment) % 2 else b"")
    return (struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OB", 0xFFFFFFFF) + item
            + struct.pack("<HHI", 0xFFFE, 0xE000, len(frag)) + frag + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))


def dicom_seeds(pil):
    w, h = 12, 8
    px8 = bytes((x * 20 + y * 7) & 0xFF for y in range(h) for x in range(w))
    px16 = b"".join(struct.pack("<H", (x * 300 + y * 97) & 0xFFF) for y in range(h) for x in range(w))
    win = H.el(0x0028, 0x1050, b"DS", b"2047") + H.el(0x0028, 0x1051, b"DS", b"4000")
    seq_item = H.el(0x0008, 0x0100, b"SH", b"CODE01") + H.el(0x0008, 0x0104, b"LO", b"chest ")
    seq = H.el(0x0008, 0x2218, b"SQ", struct.pack("<HHI", 0xFFFE, 0xE000, len(seq_item)) + seq_item)
    write("dicom", "seed_mono1_window_seq.dcm",
          H.meta() + seq + H.image_module(h, w, pi=b"MONOCHROME1 ") + win + H.el(0x7FE0, 0x0010, b"OW", px16))
    write("dicom", "seed_8bit.dcm",
          H.meta() + H.image_module(h, w, bits=8, stored=8) + H.el(0x7FE0, 0x0010, b"OB", px8))
    # RLE lossless, 8-bit: one segment, header of 16 uint32 (count, offsets)
    seg = b"".join(packbits(px8[y * w:(y + 1) * w]) for y in range(h))
    seg += b"\0" if len(seg) % 2 else b""
    rle = struct.pack("<16I", 1, 64, *([0] * 14)) + seg
    write("dicom", "seed_rle.dcm",
          H.meta(ts=b"1.2.840.10008.1.2.5\0") + H.image_module(h, w, bits=8, stored=8) + encapsulated(rle))
    # an undefined-length sequence in implicit VR, and a UN of undefined length in explicit VR
    useq = (struct.pack("<HHI", 0x0008, 0x1140, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
            + H.iel(0x0008, 0x1150, b"1.2.3\0") + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    write("dicom", "seed_implicit_sequence.dcm",
          H.meta(ts=H.IMPLICIT_LE) + useq + H.image_module(h, w, implicit=True) + H.iel(0x7FE0, 0x0010, px16))
    un = (struct.pack("<HH2s2xI", 0x0009, 0x1010, b"UN", 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
          + H.iel(0x0009, 0x1011, b"ab") + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    write("dicom", "seed_un_undefined.dcm", H.meta() + un + H.image_module(h, w) + H.el(0x7FE0, 0x0010, b"OW", px16))
    if pil:
        from PIL import Image
        im = Image.frombytes("L", (w, h), px8)
        b = io.BytesIO()
        im.save(b, "JPEG", quality=90)
        write("dicom", "seed_jpeg_baseline.dcm",
              H.meta(ts=H.JPEG_BASELINE) + H.image_module(h, w, bits=8, stored=8) + encapsulated(b.getvalue()))


def image_seeds(pil):
    if not pil:
        print("gen_seeds: Pillow is absent; PNG/JPEG seeds left as they are")
        return
    from PIL import Image
    w, h = 16, 12
    grey = Image.frombytes("L", (w, h), bytes((x * 13 + y * 29) & 0xFF for y in range(h) for x in range(w)))
    rgb = Image.merge("RGB", (grey, grey.transpose(Image.FLIP_LEFT_RIGHT), grey.transpose(Image.FLIP_TOP_BOTTOM)))

    def png(im, name, **kw):
        b = io.BytesIO()
        im.save(b, "PNG", **kw)
        write("png", name, b.getvalue())

    png(grey, "seed_grey8.png")
    png(grey.convert("I;16"), "seed_grey16.png")
    png(rgb, "seed_rgb.png")
    png(rgb.convert("P", palette=Image.ADAPTIVE, colors=8), "seed_palette.png", transparency=0)
    png(grey.convert("1"), "seed_1bit.png")
    png(grey.convert("LA"), "seed_grey_alpha.png")

    def jpg(im, name, **kw):
        b = io.BytesIO()
        im.save(b, "JPEG", **kw)
        write("jpeg", name, b.getvalue())

    jpg(grey, "seed_grey.jpg", quality=90)
    jpg(rgb, "seed_rgb420.jpg", quality=75)
    jpg(rgb, "seed_progressive.jpg", quality=80, progressive=True)
    jpg(grey, "seed_restart.jpg", quality=60, restart_marker_blocks=1)
    jpg(rgb.convert("CMYK"), "seed_cmyk.jpg", quality=85)


def text_seeds():
    write("csv", "seed_basic.csv", "id,path,label,score\n1,a/b.jpg,Nodule,0.5\n2,\"c,d.jpg\",\"Say \"\"hi\"\"\",\n3,e.jpg,,1e3\n")
    write("csv", "seed_multiline.csv", "\ufeffid,report\r\np1,\"line one\r\nline two\"\r\np2,plain\r\n")
    write("csv", "seed_ragged.csv", "id,a,b\n1,2\n3,4,5,6\n\n")
    write("csv", "repro_nul_in_field.csv", b"id,x\nabcdefghij\0klm,1\n2,3\n")  # issue L item 6
    write("json", "seed_config.json", json.dumps({"run": {"dir": "r", "seed": 7}, "data": {"dir": "/d", "max_image_pixels": 67108864},
                                                  "sft": {"lr": 1e-5, "betas": [0.9, 0.999], "flag": True, "none": None}}, indent=1))
    write("json", "seed_unicode.json", '{"a": "caf\\u00e9 \\ud83d\\ude00 \\n \\"q\\"", "b": [1, -0.0, 1e308, 123456789012345678901234567890]}')
    write("json", "seed_lines.jsonl", '{"x": 1}\n{"x": [2, 3]}\n\n{"y": "z"}\n')
    write("json", "repro_trailing_garbage.json", '{"run":{"dir":"r"}} garbage')  # issue L item 7
    write("json", "repro_duplicate_keys.json", '{"a": 1, "a": 2, "b": {"c": 3, "c": [4]}}')
    write("json", "repro_control_char.json", '{"a": "x\ty\u0001z"}')  # issue L item 11 (raw control characters)
    write("json", "repro_deep.json", "[" * 2000 + "]" * 2000)
    # safetensors: 8-byte little-endian header length, JSON header, data
    hdr = {"__metadata__": {"format": "pt"},
           "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
           "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
           "c": {"dtype": "F16", "shape": [], "data_offsets": [32, 34]}}
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    data = struct.pack("<6f", 1, 2, 3, 4, 5, 6) + struct.pack("<4H", 0x3F80, 0x4000, 0xBF80, 0x7F80) + struct.pack("<H", 0x3C00)
    write("safetensors", "seed_three.safetensors", struct.pack("<Q", len(hj)) + hj + data)
    hj = b'{"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    write("safetensors", "seed_empty_tensor.safetensors", struct.pack("<Q", len(hj)) + hj)
    # tokenizer: the HF-trained fixture cut to the byte alphabet and the merges it still covers
    t = json.load(open(os.path.join(HERE, "..", "fixtures", "tokenizer", "hf_trained.json"), encoding="utf-8"))
    keep = {k: v for k, v in t["model"]["vocab"].items() if v < 300}
    merges = []
    for m in t["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in keep and b in keep and a + b in keep:
            merges.append(m)
    t["model"]["vocab"], t["model"]["merges"] = keep, merges
    write("tokenizer", "seed_small.json", json.dumps(t, ensure_ascii=False, separators=(",", ":")))
    # LLaVA cells: the unit-test fixture, and cells with a NUL in the answer (issue L item 6)
    with open(os.path.join(HERE, "..", "fixtures", "llava_cells.json"), "rb") as f:
        write("llava", "seed_cells.json", f.read())
    cells = [{"image": "/d/a.jpg", "id": "vindr-cxr-mono-train1_0",
              "conversations": [{"from": "human", "value": "<image>\nWhere?"}, {"from": "gpt", "value": "at [0.1, 0.2, 0.3, 0.4]"}],
              "boxes": [[0.1, 0.2, 0.3, 0.4]]},
             {"image": "/d/b\u0000.jpg", "id": "phrase_grounding_3",
              "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A\u0000truncated"}]}]
    write("llava", "repro_nul.json", json.dumps(cells))
    # score input: report, classification and grounding records, an R1 answer, a bad record
    recs = [{"output": "No acute cardiopulmonary process.", "txt": "No acute disease.", "answer": "x"},
            {"output": "<think>hmm</think><answer>Cardiomegaly, Edema</answer>", "labels": ["Cardiomegaly"], "txt": "y"},
            {"output": "[0.1, 0.2, 0.5, 0.6] and [0.3, 0.3, 0.4, 0.9]", "boxes": [[0.1, 0.2, 0.5, 0.6]], "txt": "z"},
            {"output": 3}, {"txt": "no output"}]
    write("score", "seed_records.json", json.dumps(recs, indent=1))


if __name__ == "__main__":
    try:
        import PIL  # noqa: F401
        pil = True
    except ImportError:
        pil = False
    dicom_seeds(pil)
    image_seeds(pil)
    text_seeds()
