#!/usr/bin/env python3
"""Images/s of `radvlm-hpc --phase pack` on the demo data against a Python pipeline doing the
same image work (Pillow decode + BICUBIC resize to 384, h5py write of uint8 chunks with
Fletcher32), and against the decode-only rate of the same files (Pillow's libjpeg-turbo / libpng
decoders: the practical limit of any pipeline). Not a test: it prints rates and ratios.

  pip install pillow h5py numpy
  python3 tests/bench/bench_pack.py --bin build/radvlm-hpc [--images-per-source 100] [--ranks 1]

The data dir must hold a tokenizer.json (DATA_DIR/tokenizer.json); pass --tokenizer otherwise.
"""
import argparse, os, re, subprocess, sys, tempfile, time

import h5py
import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--images-per-source", type=int, default=100)
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--work", default="")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bench_pack_")
    data = os.path.join(work, "data")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    if not os.path.isdir(data):
        subprocess.run([a.bin, "--phase", "synth", "--set", f"data.dir={data}", "--set",
                        f"synth.images_per_source={a.images_per_source}", "--run", os.path.join(work, "syn")],
                       check=True, env=env, capture_output=True)
    cmd = ["mpirun", "-n", str(a.ranks), a.bin, "--phase", "pack", "--set", f"data.dir={data}",
           "--run", os.path.join(work, "run")]
    if a.tokenizer:
        cmd += ["--set", f"pack.tokenizer={a.tokenizer}"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(p.stderr)
    m = re.search(r"pack: (\d+) samples, (\d+) images .* in ([\d.]+) s", p.stderr)
    nimg, phase_s = int(m.group(2)), float(m.group(3))

    idx = os.path.join(work, "run", "shards", "index.h5")
    with h5py.File(idx, "r") as f:
        off = f["images/path_offsets"][:]
        raw = f["images/path"][:]
        paths = [bytes(raw[off[i]:off[i + 1]]).decode() for i in range(len(off) - 1)]

    # Decode only (the floor any pipeline pays).
    t0 = time.perf_counter()
    for q in paths:
        with Image.open(q) as im:
            im.load()
    dec_s = time.perf_counter() - t0

    # Python pipeline: decode, grey, 16-bit -> 8-bit, BICUBIC 384x384, h5py chunked + Fletcher32.
    out = os.path.join(work, "py.h5")
    t0 = time.perf_counter()
    with h5py.File(out, "w") as f:
        d = f.create_dataset("pixels", (len(paths), 384, 384), dtype="u1", chunks=(1, 384, 384), fletcher32=True)
        for i, q in enumerate(paths):
            with Image.open(q) as im:
                arr = np.asarray(im)
                if arr.dtype != np.uint8:
                    lo, hi = int(arr.min()), int(arr.max())
                    arr = ((arr.astype(np.int64) - lo) * 255 // max(hi - lo, 1)).astype(np.uint8)
                elif arr.ndim == 3:
                    arr = np.asarray(Image.fromarray(arr).convert("L"))
                d[i] = np.asarray(Image.fromarray(arr).resize((384, 384), Image.BICUBIC))
    py_s = time.perf_counter() - t0

    print(f"images: {nimg} unique ({len(paths)} in the index), ranks: {a.ranks}")
    print(f"radvlm-hpc pack (whole phase: read sources, build, decode, resize, tokenize, write): "
          f"{nimg / phase_s:8.1f} images/s ({phase_s:.2f} s; process wall {wall:.2f} s)")
    print(f"python Pillow + h5py (images only):                                       "
          f"{len(paths) / py_s:8.1f} images/s ({py_s:.2f} s)")
    print(f"decode only (Pillow: libjpeg-turbo / libpng):                              "
          f"{len(paths) / dec_s:8.1f} images/s ({dec_s:.2f} s)")
    print(f"ratio pack / python pipeline: {(nimg / phase_s) / (len(paths) / py_s):.2f}x; "
          f"pack / decode-only limit: {(nimg / phase_s) / (len(paths) / dec_s):.2f}")


if __name__ == "__main__":
    main()
