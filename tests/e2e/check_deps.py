#!/usr/bin/env python3
"""Dependency rules of the source tree, checked two ways.

1. Include graph (quoted #include "dir/file.h" between files under src/, io/, kernels/):
   no file reaches itself (no include circle), and the layer rules below hold.
2. Link graph of the modules under SCOPE (default src/data; one module = one object file; A -> B
   when A uses a symbol that B defines, read with nm from the built objects): no two modules need
   each other, directly or through others. This catches what the include graph cannot: mimic.c once defined
   the MIMIC table that mscxr.c used while mimic.c used the MS-CXR index.

usage: check_deps.py SRC_ROOT [OBJECT_DIR [SCOPE]]   (OBJECT_DIR: build/CMakeFiles/radvlm.dir)
Prints the src/data graph by role and exits 1 on any violation.
"""
import os
import re
import subprocess
import sys

# (from-prefix, to-prefix, why): an include from a file under the first path of one under the second is an error.
FORBIDDEN = [
    ("src/model/", "src/data/", "the model layer must not depend on the data layer"),
    ("src/data/sources/", "src/data/instruct/", "readers do not know about instruction building"),
    ("src/data/sources/", "src/data/synth/", "readers do not know about the demo generator"),
    ("src/data/sources/", "src/data/loader/", "readers do not know about the training loader"),
    ("src/data/synth/", "src/data/instruct/", "the demo generator writes source layouts, not cells"),
    ("src/data/synth/", "src/data/loader/", "the demo generator does not load shards"),
    ("src/data/instruct/", "src/data/synth/", "instruction building reads sources, not the generator"),
    ("src/data/instruct/", "src/data/loader/", "instruction building runs before packing"),
    ("src/eval/metrics/", "src/eval/run/", "metrics know nothing of the eval run"),
    ("src/eval/tasks/", "src/eval/run/", "the task library serves score, eval and GRPO alike; the eval run uses it"),
    ("src/model/", "src/eval/", "the model layer must not depend on evaluation"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def source_files(root):
    out = []
    for top in ("src", "io", "kernels"):
        for d, _, files in os.walk(os.path.join(root, top)):
            out += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith((".c", ".h"))]
    return sorted(out)


def include_graph(root, files):
    known = set(files)
    g = {}
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        deps = []
        for inc in INCLUDE.findall(text):
            for cand in (inc, "src/" + inc, os.path.join(os.path.dirname(f), inc)):
                cand = os.path.normpath(cand)
                if cand in known:
                    deps.append(cand)
                    break
        g[f] = sorted(set(deps))
    return g


def cycles(g):
    """Strongly connected components with more than one node, or a node with a self-edge (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def link_graph(objdir, scope):
    """Module -> modules whose symbols it uses, over the object files under OBJECT_DIR/SCOPE."""
    objs = []
    for d, _, files in os.walk(os.path.join(objdir, scope)):
        objs += [os.path.join(d, f) for f in files if f.endswith(".o")]
    defs, uses = {}, {}
    for o in sorted(objs):
        mod = os.path.relpath(o, objdir)[: -len(".o")]
        res = subprocess.run(["nm", "-P", o], capture_output=True, text=True, check=True)
        uses[mod] = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                uses[mod].add(sym)
            elif kind in "TDBR":  # global text, data, bss, read-only data
                defs[sym] = mod
    return {m: sorted({defs[s] for s in u if s in defs and defs[s] != m}) for m, u in uses.items()}


def role(path):
    """src/data/<role>, src/<dir> or the top directory (io, kernels)."""
    parts = path.split("/")
    n = 3 if parts[:2] == ["src", "data"] else 2 if parts[0] == "src" else 1
    return "/".join(parts[:n])


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__)
    root = sys.argv[1]
    fails = 0
    g = include_graph(root, source_files(root))
    for comp in cycles(g):
        print("FAIL: include circle: " + " -> ".join(comp))
        fails += 1
    for f, deps in g.items():
        for d in deps:
            for a, b, why in FORBIDDEN:
                if f.startswith(a) and d.startswith(b):
                    print(f"FAIL: {f} includes {d}: {why}")
                    fails += 1
    # the src/data graph by role, for the reader of the log
    edges = {}
    for f, deps in g.items():
        if f.startswith("src/data/"):
            for d in deps:
                if role(d) != role(f):
                    edges.setdefault(role(f), set()).add(role(d))
    print("src/data include graph by role:")
    for r in sorted(edges):
        print(f"  {r} -> {', '.join(sorted(edges[r]))}")
    if len(sys.argv) >= 3:
        scope = sys.argv[3] if len(sys.argv) == 4 else "src/data"
        lg = link_graph(sys.argv[2], scope)
        if not lg:
            print(f"FAIL: no object files under {sys.argv[2]}/{scope}")
            fails += 1
        for comp in cycles(lg):
            print("FAIL: modules that need each other (link graph): " + " <-> ".join(comp))
            fails += 1
        n_edges = sum(len(v) for v in lg.values())
        print(f"{scope} link graph: {len(lg)} modules, {n_edges} edges, acyclic: {not cycles(lg)}")
    print("check_deps: " + ("ok" if fails == 0 else f"{fails} violations"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
