#!/usr/bin/env python3
"""Attribute `perf script` call-graph samples (perf record --call-graph dwarf) to the outermost ATen operator.

    perf script -i perf.data | python3 benchmarks/official/perf_ops.py [--leaf PATTERN]

Each sample is charged to the outermost `at::_ops::<op>::` frame of its stack (the operator the model called:
conv2d, matmul, layer_norm, gelu, ...), which works the same for TorchSharp calls and for the TorchScript
interpreter. With --leaf, only samples whose innermost frame matches PATTERN count (e.g. direct_copy: who copies).
"""
import re
import sys
from collections import Counter

leaf = None
if len(sys.argv) > 2 and sys.argv[1] == "--leaf":
    leaf = re.compile(sys.argv[2])
counts, total, stack = Counter(), 0, []


def flush():
    global total
    if not stack:
        return
    if leaf is None or leaf.search(stack[0]):
        ops = [m.group(1) for f in stack if (m := re.search(r"at::_ops::(\w+?)::", f))]
        op = ops[-1] if ops else ("[kernel]" if "kallsyms" in stack[0] else "(no aten op)")
        counts[op] += 1
        total += 1
    stack.clear()


for line in sys.stdin:
    if not line.strip():
        flush()
    elif line.startswith(("\t", " ")):
        stack.append(line.strip())
flush()
for op, n in counts.most_common(25):
    print(f"{100 * n / max(total, 1):5.1f} %  {op}")
print(f"({total} samples)")
