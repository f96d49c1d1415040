#!/usr/bin/env python3
"""Images/s of `radvlm-hpc --phase pack` on the demo data, against

  (b) a Python pipeline doing the same image work: Pillow decode, 16-bit -> 8-bit, BICUBIC
      resize to 384, h5py write of uint8 one-image chunks with Fletcher32 (one process);
  (c) the raw decode rate of the same files with the codec libraries alone (bench_decode.c:
      libjpeg-turbo / libpng, files already in memory, one thread): the practical limit of one
      core. Pillow's decode-only rate is printed too.

Pack is run with 1 rank x 1 thread (one core, as the Python pipeline), then with 1 rank (all
cores as threads) and 2 ranks (the cores split between them); for each, the whole phase (read sources, build cells, images, tokens, write shards +
index) and the image loop alone (decode, resize, tokenize, write) are timed by the phase's own
log. Every rate is the best of --repeat runs (the machine may be shared). Not a test: it prints
rates and ratios.

  pip install pillow h5py numpy
  python3 tests/bench/bench_pack.py --bin build/radvlm-hpc [--images-per-source 200] [--ranks 1,2]
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def run_pack(a, env, data, work, ranks, threads):
    cmd = ["mpirun", "--bind-to", "none", "-n", str(ranks), a.bin, "--phase", "pack", "--set", f"data.dir={data}",
           "--set", f"pack.threads={threads}", "--run", os.path.join(work, f"run{ranks}x{threads}")]
    best = None
    for _ in range(a.repeat):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode:
            sys.exit(p.stderr)
        m = re.search(r"pack: (\d+) samples, (\d+) images .* in ([\d.]+) s", p.stderr)
        l = re.search(r"image loop \(decode, resize, tokenize, write\) ([\d.]+) s", p.stderr)
        r = (int(m.group(2)), float(m.group(3)), float(l.group(1)))
        if best is None or r[1] < best[1]:
            best = (r[0], r[1], min(r[2], best[2]) if best else r[2])
        elif r[2] < best[2]:
            best = (best[0], best[1], r[2])
    return best


def python_pipeline(paths, out):
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
    return time.perf_counter() - t0


def pillow_decode(paths):
    t0 = time.perf_counter()
    for q in paths:
        with Image.open(q) as im:
            im.load()
    return time.perf_counter() - t0


def c_decode(paths, work, repeat):
    exe = os.path.join(work, "bench_decode")
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "libturbojpeg", "libpng"], capture_output=True,
                            text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c11", os.path.join(HERE, "bench_decode.c"), *cflags, "-o", exe], check=True)
    lst = os.path.join(work, "paths.txt")
    with open(lst, "w") as f:
        f.write("\n".join(paths) + "\n")
    out = subprocess.run([exe, lst, str(repeat)], capture_output=True, text=True, check=True).stdout
    kv = dict(x.split("=") for x in out.split()[1:])
    return float(kv["images_per_s"]), float(kv["jpeg_per_s"]), float(kv["png_per_s"]), int(kv["jpeg"]), int(kv["png"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--images-per-source", type=int, default=200)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default="")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    work = a.work or tempfile.mkdtemp(prefix="bench_pack_")
    data = os.path.join(work, "data")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cores = len(os.sched_getaffinity(0))
    if not os.path.isfile(os.path.join(data, "tokenizer.json")):
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run([a.bin, "--phase", "synth", "--set", f"data.dir={data}", "--set",
                        f"synth.images_per_source={a.images_per_source}", "--run", os.path.join(work, "syn")],
                       check=True, env=env, capture_output=True)
    # One core (the per-core comparison with the one-process Python pipeline), then each rank
    # count with the cores split between the ranks.
    configs = [(1, 1)] + [(r, max(1, cores // r)) for r in (int(x) for x in a.ranks.split(","))]
    packs = {}
    for rt in dict.fromkeys(configs):
        packs[rt] = run_pack(a, env, data, work, *rt)

    with h5py.File(os.path.join(work, "run1x1", "shards", "index.h5"), "r") as f:
        off = f["images/path_offsets"][:]
        raw = f["images/path"][:]
        paths = [bytes(raw[off[i]:off[i + 1]]).decode() for i in range(len(off) - 1)]
    n = len(paths)
    py_s = min(python_pipeline(paths, os.path.join(work, "py.h5")) for _ in range(a.repeat))
    pil_s = min(pillow_decode(paths) for _ in range(a.repeat))
    c_all, c_jpeg, c_png, nj, npng = c_decode(paths, work, a.repeat)
    py = n / py_s

    print(f"demo data: {a.images_per_source} images per source -> {n} unique images ({nj} JPEG, {npng} PNG), "
          f"{cores} core(s), best of {a.repeat}")
    for (r, threads), (nimg, phase_s, loop_s) in packs.items():
        print(f"radvlm-hpc pack, {r} rank(s) x {threads} thread(s): whole phase {nimg / phase_s:7.1f} images/s "
              f"({phase_s:.2f} s), image loop {nimg / loop_s:7.1f} images/s ({loop_s:.2f} s)")
    print(f"python Pillow + h5py pipeline (1 process):        {py:7.1f} images/s ({py_s:.2f} s)")
    print(f"decode only, libjpeg-turbo/libpng in C (1 thread): {c_all:7.1f} images/s "
          f"(JPEG {c_jpeg:.1f}/s, PNG {c_png:.1f}/s)")
    print(f"decode only, Pillow (1 process):                   {n / pil_s:7.1f} images/s")
    for (r, threads), (nimg, phase_s, loop_s) in packs.items():
        print(f"ratios, {r} rank(s) x {threads} thread(s): pack/python {nimg / phase_s / py:.2f}x (image loop {nimg / loop_s / py:.2f}x); "
              f"pack/decode-only {nimg / phase_s / c_all:.2f} (image loop {nimg / loop_s / c_all:.2f})")


if __name__ == "__main__":
    main()
