#!/usr/bin/env python3
"""Checks on the sft phase's outputs (RUN/log.h5, checkpoints), for tests/e2e/test_sft*.sh.
usage:
  check_sft.py rows LOG TABLE                   print the steps of a table, space-separated
  check_sft.py same-log A B [RTOL]              train tables: same steps and tokens; losses equal
                                                (bitwise when RTOL is absent, else within RTOL)
  check_sft.py same-weights CK_A CK_B           every /weights tensor bitwise equal
  check_sft.py col LOG TABLE COLUMN             print a column (repr of each value)
Exit 0 when the check holds, 1 with a message otherwise, 77 without h5py."""
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIP: h5py and numpy are needed", file=sys.stderr)
    sys.exit(77)


def table(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


def main(a):
    if a[0] == "rows":
        print(" ".join(str(int(s)) for s in table(a[1], a[2])["step"]))
        return 0
    if a[0] == "col":
        print(" ".join(repr(float(x)) if isinstance(x, (float, np.floating)) else str(int(x))
                       for x in table(a[1], a[2])[a[3]]))
        return 0
    if a[0] == "same-log":
        x, y = table(a[1], "train"), table(a[2], "train")
        if list(x["step"]) != list(y["step"]):
            print(f"steps differ: {list(x['step'])} vs {list(y['step'])}")
            return 1
        if list(x["tokens"]) != list(y["tokens"]):
            print(f"tokens per step differ (other samples): {list(x['tokens'])} vs {list(y['tokens'])}")
            return 1
        if len(a) > 3:
            rtol = float(a[3])
            r = np.abs(x["loss"] - y["loss"]) / np.abs(y["loss"])
            if not np.all(r <= rtol):
                print(f"losses differ by up to {r.max():.3g} relative (> {rtol}): {list(x['loss'])} vs {list(y['loss'])}")
                return 1
        elif x["loss"].tobytes() != y["loss"].tobytes():
            print(f"losses are not bitwise equal: {list(x['loss'])} vs {list(y['loss'])}")
            return 1
        return 0
    if a[0] == "same-weights":
        with h5py.File(a[1], "r") as f, h5py.File(a[2], "r") as g:
            names = []
            f["weights"].visit(lambda n: names.append(n) if isinstance(f["weights"][n], h5py.Dataset) else None)
            if not names:
                print("no weights")
                return 1
            for n in names:
                if f["weights"][n][()].tobytes() != g["weights"][n][()].tobytes():
                    print(f"tensor {n} differs")
                    return 1
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
