#!/usr/bin/env python3
"""Exit 0 when two eval results.h5 files hold the same data apart from the columns the file
itself names as run-dependent (root attribute run_dependent: the per-sample seconds) and the
resolved configuration (it names the run directory).

    same_results.py A/results.h5 B/results.h5
"""
import sys

import h5py
import numpy as np


def items(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def main():
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    skip = set(a.attrs["run_dependent"])
    bad = []
    # the resolved configuration names the run directory, which differs between the runs compared
    for k in (set(a.attrs) | set(b.attrs)) - {"config"}:
        if k in a.attrs and k in b.attrs and str(a.attrs[k]) == str(b.attrs[k]):
            continue
        bad.append(f"root attribute {k}")
    da, db = items(a), items(b)
    if set(da) != set(db):
        bad.append(f"datasets differ: {sorted(set(da) ^ set(db))}")
    for name in sorted(set(da) & set(db)):
        if name.rsplit("/", 1)[-1] in skip:
            continue
        x, y = da[name][()], db[name][()]
        if x.dtype.kind == "f":
            same = x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        else:
            same = x.shape == y.shape and np.array_equal(x, y)
        if not same:
            bad.append(name)
    for m in bad:
        print(f"{sys.argv[1]} vs {sys.argv[2]}: {m} differs", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
