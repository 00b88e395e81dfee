"""Compile every Triton launch of the engine for sm_90 (H100/H200) and sm_80 (A100), here, without a GPU.

Writes benchmarks/results/compile_kernels_triton<version>.json: per kernel and configuration, the
target, constexprs, specialized arguments, warps, stages, shared memory, registers, stack frame,
local loads and stores, 32-bit integer multiplies, and the problems found (none, or the test fails).

    python -m benchmarks.kernels_compile                      # with the Triton installed
    pip install --target /tmp/triton36 --no-deps triton==3.6.0 && \\
        PYTHONPATH=/tmp/triton36 python -m benchmarks.kernels_compile   # the GPU machine's Triton
"""
from __future__ import annotations

import sys
import time

import torch

from .common import write_record  # noqa: E402

from attnseg.kernels.compile_check import HOT, TARGETS, check  # noqa: E402


def main() -> int:
    import triton

    start = time.perf_counter()
    rows, problems = check()
    seconds = time.perf_counter() - start
    figures = {"compiled": len(rows), "problems": problems, "seconds": round(seconds, 1), "kernels": rows}
    settings = {"triton": triton.__version__, "torch": torch.__version__, "targets":
                {name: {"capability": t.capability, "shared_limit": t.shared_limit, "gpus": t.gpus}
                 for name, t in TARGETS.items()}, "hot_kernels": list(HOT)}
    path = write_record(f"compile_kernels_triton{triton.__version__}", settings, figures)
    print(f"{'target':<6} {'kernel':<24} {'precision':<9} {'warps':>5} {'stages':>6} {'shared':>7} {'regs':>4} "
          f"{'stack':>5} {'i32 mul':>7}  shapes")
    for r in rows:
        if "error" in r:
            print(f"{r['target']:<6} {r['kernel']:<24} ERROR {r['error']}")
            continue
        print(f"{r['target']:<6} {r['kernel']:<24} {r['constexprs'].get('PRECISION', '-'):<9} {r['num_warps']:>5} "
              f"{r['num_stages']:>6} {r['shared_bytes']:>7} {r['registers']:>4} {r['stack_bytes']:>5} "
              f"{r['int32_multiplies']:>7}  {len(r['shapes'])}")
    print(f"triton {triton.__version__}: {len(rows)} compiled kernels in {seconds:.0f} s, "
          f"{len(problems)} problems -> {path}")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
