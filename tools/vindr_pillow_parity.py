#!/usr/bin/env python3
"""Compares the VinDr JPEGs our conversion wrote with upstream's dicom2jpg_vindrcxr.py recipe run
under the Pillow at hand: min-max of the stored values to 8 bits (float64, truncated), 512x512
LANCZOS, JPEG quality 75; decoded pixels compared. Prints how many JPEGs differ and by how much.

usage: python3 tools/vindr_pillow_parity.py DATA_DIR      (needs pydicom, numpy, Pillow)
Run it under Pillow 10.3.0 (upstream's pin) for data converted with data.pillow_resize=10 (the
default) and under Pillow 13 for data.pillow_resize=13: both give 0 differing JPEGs on the demo
data; crossed, the order-sensitive images (taller than wide and taller than 512) differ.
"""
import glob
import io
import os
import sys

import numpy as np
import PIL
import pydicom
from PIL import Image


def upstream_jpeg(path):
    a = pydicom.dcmread(path).pixel_array.astype(np.float64)
    lo, hi = a.min(), a.max()
    a8 = ((a - lo) / (hi - lo) * 255.0).astype(np.uint8) if hi > lo else np.zeros(a.shape, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a8).resize((512, 512), Image.LANCZOS).save(buf, "JPEG", quality=75)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue()))).astype(int), a.shape


def main():
    root = os.path.join(sys.argv[1], "VinDr-CXR")
    n = differ = worst = sensitive = 0
    for split in ("train", "test"):
        for p in sorted(glob.glob(os.path.join(root, split, "*.dicom"))):
            want, (h, w) = upstream_jpeg(p)
            ours = os.path.join(root, f"{split}_jpg", os.path.basename(p)[: -len(".dicom")] + ".jpg")
            got = np.asarray(Image.open(ours)).astype(int)
            d = int(np.abs(want - got).max())
            n += 1
            differ += d > 0
            worst = max(worst, d)
            sensitive += h - 512 > 0 and h - 512 > 2 * (w - 512)  # Pillow 13 goes vertical first
    print(f"Pillow {PIL.__version__}: {n} DICOMs, {differ} JPEGs differ from upstream's recipe, max {worst} grey "
          f"level(s); {sensitive} of the images have a shape where Pillow 10 and 13 order the passes differently")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
