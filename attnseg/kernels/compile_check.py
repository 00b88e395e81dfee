"""Compile every Triton launch of the engine for a GPU, on any machine, and read its resources.

Triton compiles for a GPU that is not there: `triton.compile(ASTSource(...),
target=GPUTarget("cuda", 90, 32))` runs on a CPU (the wheel ships ptxas), so a
compile error, a tile that asks for more shared memory than a block may have,
or a hot loop that spills registers shows up here, not at the first launch on
the GPU.

- `engine_launches()`: the launches of the real wrappers (affinity, D <= tau
  both ways, nearest centroid, leader choice), recorded with
  `launch.recording()` on meta tensors (no memory, no arithmetic) at the
  shapes of the defaults: offline vit_small_8 at 320x480, a 3-frame window
  against 8 key frames; streaming vit_small_16 at 160x240 (window 3, memory
  4) with the tracker's re-expression of stored tokens; the DINO-only heads;
  each precision, the certified kernels' included; and sizes off the
  multiples of 16 and equal to 1, where Triton's JIT specializes differently.
- `compile_launch(launch, target)`: binds the arguments as Triton's JIT binds
  them on that GPU (the same specialization of integers and pointers),
  compiles, and reads shared memory and warps from Triton's metadata and
  registers, stack frame and local-memory instructions from the cubin
  (cuobjdump, shipped with Triton).
- `problems(row)`: what would fail or crawl on the GPU: a compile error, shared
  memory above the target's per-block limit, spills in a hot kernel, or a
  32-bit integer multiply (an offset that wraps past 2^31) in a kernel that
  indexes n x m matrices.

Resolved with the Triton installed; run `benchmarks/kernels_compile.py` to write the record.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

import torch

from ..settings import STConfig, vit_config
from .launch import Launch, recording


@dataclass(frozen=True)
class Target:
    capability: int
    shared_limit: int  # bytes of shared memory one block may use (the opt-in maximum)
    gpus: str


TARGETS = {
    "sm_90": Target(90, 227 * 1024, "H100/H200"),
    "sm_80": Target(80, 163 * 1024, "A100"),
}
MAX_REGISTERS = 255  # per thread, every target here
# Kernels whose inner loop runs over the m key columns (or the heads) of every tile: a spilled register
# is written and read back in every iteration of that loop (about 600 per tile at m = 19200), through
# local memory, in the code that decides the clustering's speed. Their limit is no spill at all: a
# stack frame of 0 bytes and no local loads or stores. choose_leaders runs one program per 64 candidates
# and is bound by its sequential steps, not by its loads: its spills are recorded, not failed.
HOT = ("_softmax_stats_kernel", "_head_mean_kernel", "_within_tau_kernel", "_kl_argmin_kernel",
       "_certified_tau_kernel", "_certified_argmin_kernel")


@dataclass(frozen=True)
class Shape:
    """One set of sizes the engine launches its kernels at."""

    name: str
    heads: int
    head_dim: int
    tokens: int  # patches per frame
    window: int  # query frames clustered together
    key_frames: int
    centroids: int  # K of the assignment (data-dependent: hundreds on real clips)
    candidates: int  # leader candidates per merge block (64, fewer in a small window's last block)


def _tokens(arch: str, resolution: tuple[int, int]) -> int:
    patch = vit_config(arch).patch_size
    return (resolution[0] // patch) * (resolution[1] // patch)


def engine_shapes() -> list[Shape]:
    st, dino = STConfig(), vit_config("vit_small_8")
    offline = _tokens("vit_small_8", (320, 480))  # SegmentSettings's default resolution, the paper's
    live = _tokens("vit_small_16", (160, 240))  # the streaming default of the benchmarks and the demo
    return [
        Shape("offline vit_small_8 320x480, 8 key frames", st.num_heads, st.head_dim, offline, 3, 8, 300, 64),
        Shape("offline DINO-only heads", dino.num_heads, dino.head_dim, offline, 3, 8, 300, 64),
        Shape("streaming vit_small_16 160x240, memory 4", st.num_heads, st.head_dim, live, 3, 4, 37, 64),
        Shape("tracker: 64 stored tokens of a track", st.num_heads, st.head_dim, 64, 1, 4, 1, 64),
        Shape("sizes off 16 (one frame, one key frame)", st.num_heads, st.head_dim, 151, 1, 1, 301, 37),
        Shape("sizes of 1", st.num_heads, st.head_dim, 1, 1, 1, 1, 1),
    ]


def shape_launches(shape: Shape, precision: str) -> list[Launch]:
    """The launches of one window's clustering at `shape`, recorded on meta tensors."""
    from . import affinity, kl, merge

    meta = torch.device("meta")
    n, m = shape.window * shape.tokens, shape.key_frames * shape.tokens
    q = torch.empty(shape.window, shape.heads, shape.tokens, shape.head_dim, device=meta)
    k = torch.empty(shape.key_frames, shape.heads, shape.tokens, shape.head_dim, device=meta)
    rows = torch.empty(n, m, device=meta)
    with recording() as launches:
        affinity.affinity(q, k, shape.head_dim ** -0.5, precision=precision)
        kl.within_tau(rows, rows, 1.0, precision=precision)
        idx = torch.empty(min(shape.candidates, n), dtype=torch.long, device=meta)
        kl.within_tau_rows_triton(idx, rows, rows, torch.empty(n, device=meta), 1.0, precision=precision)
        kl.assign(rows, rows, torch.empty(shape.centroids, m, device=meta), precision=precision)
        b = min(shape.candidates, n)
        merge.choose_leaders(torch.empty(b, b, dtype=torch.bool, device=meta))
    return launches


def certified_launches(shape: Shape, precision: str) -> list[Launch]:
    """The certified kernels' launches for one window at `shape` (attnseg.kernels.certified_kl)."""
    from . import certified_kl as ck

    meta = torch.device("meta")
    n, m = shape.window * shape.tokens, shape.key_frames * shape.tokens
    rows, row = torch.empty(n, m, device=meta), torch.empty(n, device=meta)
    b = min(shape.candidates, n)
    cand, cand_row = torch.empty(b, m, device=meta), torch.empty(b, device=meta)
    cent, cent_row = torch.empty(shape.centroids, m, device=meta), torch.empty(shape.centroids, device=meta)
    kappa = ck.kappa_bound(precision, m)
    with recording() as launches:
        ck.threshold_states(rows, rows, row, row, rows, rows, row, row, kappa, 1.0, True, precision)
        ck.threshold_states(cand, cand, cand_row, cand_row, rows, rows, row, row, kappa, 1.0, False, precision)
        ck._argmin(rows, rows, row, row, cent, cent, cent_row, cent_row, kappa, precision)
    return launches


def engine_launches() -> list[tuple[str, str, Launch]]:
    """(shape name, precision, launch) for every launch of every engine shape and precision."""
    from .affinity import PRECISIONS
    from .certified_kl import PRECISIONS as CERTIFIED

    return [(shape.name, precision, launch) for shape in engine_shapes() for precision in PRECISIONS
            for launch in shape_launches(shape, precision)] + \
        [(shape.name, f"certified {precision}", launch) for shape in engine_shapes() for precision in CERTIFIED
         for launch in certified_launches(shape, precision)]


def _bind(launch: Launch, target):
    """(signature, constexprs, attrs, options) as Triton's JIT derives them for these arguments on `target`."""
    from triton.compiler import make_backend
    from triton.runtime.jit import create_function_from_signature

    backend = make_backend(target)
    fn = launch.kernel
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    kwargs = {**launch.meta, "debug": False}
    bound, specialization, options = binder(*launch.args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, options)
    return signature, constexprs, attrs, options


def compile_key(launch: Launch, target_name: str) -> str:
    """What makes two launches one compiled kernel: the kernel and its bound signature, constants, options."""
    from triton.backends.compiler import GPUTarget

    signature, constexprs, attrs, options = _bind(launch, GPUTarget("cuda", TARGETS[target_name].capability, 32))
    return repr((target_name, launch.name, sorted(signature.items()), sorted(constexprs.items()),
                 sorted((k, str(v)) for k, v in attrs.items()), launch.meta.get("num_warps"),
                 launch.meta.get("num_stages")))


def _cuobjdump() -> str:
    import triton

    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")


def cubin_resources(cubin: bytes) -> dict:
    """Registers and stack frame (bytes) of the kernel, and its local-memory loads and stores (SASS)."""
    with tempfile.TemporaryDirectory(prefix="attnseg-cubin-") as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        usage = subprocess.run([_cuobjdump(), "--dump-resource-usage", path], capture_output=True, text=True,
                               check=True).stdout
        sass = subprocess.run([_cuobjdump(), "--dump-sass", path], capture_output=True, text=True,
                              check=True).stdout
    reg, stack = re.search(r"REG:(\d+)", usage), re.search(r"STACK:(\d+)", usage)
    return {"registers": int(reg.group(1)), "stack_bytes": int(stack.group(1)),
            "local_stores": len(re.findall(r"\bSTL(?:\.\w+)*\b", sass)),
            "local_loads": len(re.findall(r"\bLDL(?:\.\w+)*\b", sass))}


def compile_launch(launch: Launch, target_name: str) -> dict:
    """Compile `launch` for `target_name` ("sm_90", "sm_80"); its resources, or the compile error."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", TARGETS[target_name].capability, 32)
    signature, constexprs, attrs, options = _bind(launch, target)
    row = {"kernel": launch.name, "target": target_name,
           "constexprs": {launch.kernel.arg_names[path[0]]: value for path, value in constexprs.items()},
           "specialized": sorted(launch.kernel.arg_names[path[0]] for path, value in attrs.items() if value),
           "num_warps": options.num_warps, "num_stages": options.num_stages}
    try:
        compiled = triton.compile(ASTSource(launch.kernel, signature, constexprs, attrs), target=target,
                                  options=options.__dict__)
    except Exception as err:  # noqa: BLE001 - any compiler failure is the finding
        return {**row, "error": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}"}
    return {**row, "shared_bytes": int(compiled.metadata.shared), **cubin_resources(compiled.asm["cubin"]),
            "int32_multiplies": int32_multiplies(compiled.asm["ttir"])}


def int32_multiplies(ttir: str) -> int:
    """Integer multiplies done in 32 bits: in a kernel that indexes n x m matrices, an offset such as
    rows * m wraps once n * m >= 2^31 (large frames, many key frames); those kernels use 64 bits."""
    types = (line.split(":")[-1].split(" loc(")[0].strip() for line in ttir.splitlines() if "arith.muli" in line)
    return sum(1 for t in types if t == "i32" or t.endswith("xi32>"))


def problems(row: dict) -> list[str]:
    """Why this compiled kernel would fail, or crawl, on its target."""
    where = f"{row['kernel']} {row['constexprs']} warps={row['num_warps']} stages={row['num_stages']} " \
            f"for {row['target']}"
    if "error" in row:
        return [f"{where}: does not compile: {row['error']}"]
    found = []
    limit = TARGETS[row["target"]].shared_limit
    if row["shared_bytes"] > limit:
        found.append(f"{where}: {row['shared_bytes']} bytes of shared memory, above the {limit} a block may use")
    if row["registers"] > MAX_REGISTERS:
        found.append(f"{where}: {row['registers']} registers, above {MAX_REGISTERS}")
    if row["kernel"] in HOT and row["int32_multiplies"]:
        found.append(f"{where}: {row['int32_multiplies']} 32-bit integer multiplies (offsets wrap at 2^31)")
    spilled = row["stack_bytes"] or row["local_stores"] or row["local_loads"]
    if row["kernel"] in HOT and spilled:
        found.append(f"{where}: spills in a hot loop ({row['stack_bytes']} bytes of stack, "
                     f"{row['local_stores']} local stores, {row['local_loads']} local loads)")
    return found


def check(targets=tuple(TARGETS)) -> tuple[list[dict], list[str]]:
    """Compile every distinct engine launch for every target: (rows, problems)."""
    rows, found, seen = [], [], {}
    for shape_name, precision, launch in engine_launches():
        for target_name in targets:
            key = compile_key(launch, target_name)
            if key in seen:
                seen[key]["shapes"].append(shape_name)
                continue
            row = {**compile_launch(launch, target_name), "precision": precision, "shapes": [shape_name]}
            seen[key] = row
            rows.append(row)
            found += problems(row)
    return rows, found


def main(argv: list[str] | None = None) -> int:
    """`python -m attnseg.kernels.compile_check [--json PATH]`: run the check; exit 1 on any problem.

    Runs without TRITON_INTERPRET (under the interpreter, kernels are not compiled at all)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="compile every engine launch for sm_90 and sm_80")
    parser.add_argument("--json", help="write {rows, problems} here")
    args = parser.parse_args(argv)
    rows, found = check()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "problems": found}, f)
    print(f"{len(rows)} kernels compiled for {', '.join(TARGETS)}; {len(found)} problems")
    for p in found:
        print("  " + p)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
