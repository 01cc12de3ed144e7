#!/usr/bin/env python3
"""Group a `perf report` symbol listing into rough operation classes.

    perf report -i perf.data --stdio --no-children --sort dso,sym --percent-limit 0 > report.txt
    python3 benchmarks/official/perf_breakdown.py report.txt [more reports ...]

Prints, for each report, the share of user-space samples per class. The classes come from symbol names, so they
are approximate: oneDNN's JIT-generated convolution kernels have no symbol and land in "conv" through the
"[JIT] tid" (perf's name for unnamed generated code) rule: with DOTNET_PerfMapEnabled=1 .NET's own JIT code
is named (memfd:doublemapper / perf map), so it is not counted there.
"""
import re
import sys

CLASSES = [
    ("compiling .NET code (libclrjit, other threads)", r"libclrjit"),
    ("openmp wait/sync", r"gomp_|GOMP_|__kmp|kmp_|omp_|sched_yield|futex"),
    ("conv (oneDNN / im2col)", r"^\[JIT\] tid|dnnl|mkldnn|jit_avx|jit_uni|jit_brg|brgemm|brgconv|_convolution|conv2d|convolution|im2col|col2im|slow_conv|depthwise|Conv"),
    ("MKL sgemm (im2col/1x1 convs and attention matmuls)", r"gemm|bmm|addmm|mkl_blas|matmul|cblas|dot_"),
    ("softmax", r"softmax|Softmax"),
    ("layer norm", r"layer_norm|LayerNorm|layernorm|RowwiseMoments|batch_norm"),
    ("normalize / reductions", r"reduce|Reduce|norm_kernel|norm_stub|sum_kernel|mean_kernel|std_var|var_mean|WelfordOps|cumsum|max_kernel"),
    ("copy / layout / cat", r"copy|Copy|cat_|_cat|contiguous|permute|transpose|memcpy|memmove|__memset|memset|index_put|clone"),
    ("kernel (page faults, zeroing new memory)", r"\[kernel|kallsyms"),
    ("elementwise (add/mul/gelu/…)", r"erff|Sleef|vectorized_loop|VectorizedLoop|cpu_kernel|binary|unary|gelu|GELU|sigmoid|add_kernel|mul_kernel|div_|sub_|rsqrt|sqrt|prelu|leaky|relu|threshold|where|clamp|fill|basic_loop|Vectorized|loop2d|pow_"),
    ("upsample / pixel shuffle", r"upsample|pixel_shuffle|pixel_unshuffle"),
    ("allocator", r"malloc|free|_int_|alloc|Alloc|tcache|mmap|munmap|brk"),
    (".NET / TorchSharp", r"\[\.NET|System\.|TorchSharp|DaRcot|coreclr|libcoreclr|libclrjit|THS|perf-\d+\.map"),
    ("torchscript interpreter", r"torch::jit|InterpreterState|jit::"),
    ("dispatcher / other aten", r"c10::|at::|aten|Dispatcher|TensorImpl|intrusive_ptr"),
]


def classify(dso, sym):
    text = f"{dso} {sym}"
    for name, pattern in CLASSES:
        if re.search(pattern, text):
            return name
    if sym.startswith("0x") or "[unknown]" in text or dso in ("[anon]", "[unknown]", "[JIT]") or "anon" in dso:
        return "conv (oneDNN / im2col)"   # JIT-generated oneDNN kernels have no symbol
    return "other"


def main():
    for path in sys.argv[1:]:
        shares = {}
        for line in open(path, errors="replace"):
            m = re.match(r"\s*([\d.]+)%\s+(.+?)\s+\[[.kuHg]\]\s+(.*)$", line)
            if not m:
                continue
            pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
            shares[classify(dso, sym)] = shares.get(classify(dso, sym), 0.0) + pct
        total = sum(shares.values()) or 1.0
        print(f"## {path}")
        for name, pct in sorted(shares.items(), key=lambda kv: -kv[1]):
            print(f"  {name:52s} {100 * pct / total:5.1f} %")


if __name__ == "__main__":
    main()
