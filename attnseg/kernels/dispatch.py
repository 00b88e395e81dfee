"""Which implementation runs: the PyTorch reference, the Triton kernels or the certified ones, and the
ClusterOps table of each (`cluster_ops(name, device)`: what the engine passes to the clustering).

`--kernels` / SegmentSettings.kernels:
- "torch": the reference (attnseg.model), everywhere.
- "triton": the fp32 kernels. On CUDA they compile; on a CPU they run only
  under Triton's interpreter (TRITON_INTERPRET=1 set before the first
  import), which is slow and meant for tests.
- "certified": low-precision products with every decision certified
  (attnseg.kernels.certified): on CUDA the Triton kernels on bf16 tensor
  cores; on a CPU PyTorch products in `fast_product()`'s precision: bf16
  where a short measured probe finds bf16 products at least twice as fast as
  fp32 (AMX, AVX-512 BF16), fp32 elsewhere (AVX2 computes bf16 in a scalar
  fallback, ~100x slower: never assumed, never chosen there).
- "auto": on CUDA, whichever of the three MEASURES fastest on one window
  shaped like the run's (a Probe). Measured once per GPU, versions and
  shape, and remembered in $ATTNSEG_CACHE/kernels_auto.json. Elsewhere the
  reference: on the 2-core AVX-512 hosts measured here, the certified PyTorch
  path ran at 0.14-0.8x the reference (benchmarks/results/certified_cpu_*.json).
ATTNSEG_DISABLE_TRITON=1 switches Triton off: "auto" falls back to the
reference (with one warning), "triton" is refused with the reason.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from ..errors import DeviceError
from ..files import measured_once
from ..model.clustering import REFERENCE_OPS, ClusterOps
from ..model.weights import cache_dir
from ..optional import importable
from ..settings import PAPER, Kernels
from .launch import interpreting

log = logging.getLogger(__name__)

DISABLE_ENV = "ATTNSEG_DISABLE_TRITON"
_warned: set[str] = set()


def triton_unavailable(device: torch.device) -> str | None:
    """Why the Triton kernels cannot run on `device`, or None when they can."""
    if os.environ.get(DISABLE_ENV, "0").lower() in ("1", "true", "yes", "on"):
        return f"Triton is disabled by {DISABLE_ENV}"
    if not importable("triton"):
        return "Triton is not installed (pip install 'attnseg[kernels]')"
    if device.type == "cuda":
        return None
    if device.type == "cpu" and interpreting():
        return None
    return (f"Triton kernels need a CUDA device; on {device.type} they run only under the interpreter "
            "(set TRITON_INTERPRET=1 before starting; slow, for tests)")


def check_kernels(name: Kernels | str) -> Kernels:
    return Kernels.parse(name, "kernels")


@dataclass(frozen=True)
class Probe:
    """The window "auto" is timed on: window x tokens query rows against key_frames x tokens keys."""

    tokens: int = 2400  # vit_small_8 at 320x480
    window: int = PAPER.window
    key_frames: int = 4
    heads: int = 8
    head_dim: int = 48
    tau: float = PAPER.tau


MEASURED = ("torch", "triton", "certified")  # what "auto" times on CUDA


def fast_product(device: torch.device | str = "cpu") -> str:
    """The certified path's product precision on `device`: "bf16" on CUDA; on a CPU, "bf16" only where the
    capability is AVX-512 and a measured bf16 product runs at least twice as fast as fp32, else "fp32"."""
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16"
    return _cpu_product(torch.backends.cpu.get_cpu_capability())


@functools.cache
def _cpu_product(capability: str) -> str:
    if "AVX512" not in capability:  # AVX2 and below: bf16 runs in a scalar fallback; not even probed
        return "fp32"
    for n in PROBE_SIZES:  # a small gate first: a slow bf16 path (emulated) is caught in milliseconds
        seconds = _product_seconds(n)
        if seconds[torch.bfloat16] > 4 * seconds[torch.float32]:
            break
    choice = "bf16" if 2 * seconds[torch.bfloat16] <= seconds[torch.float32] else "fp32"
    log.info("certified products on this %s CPU: %s (a %d^3 product, best of %d: fp32 %.1f ms, bf16 %.1f ms)",
             capability, choice, n, PROBE_REPEATS, 1e3 * seconds[torch.float32], 1e3 * seconds[torch.bfloat16])
    return choice


def _product_seconds(n: int) -> dict[torch.dtype, float]:
    """The best time of an n^3 product per dtype, the two dtypes interleaved so that a busy moment of a shared
    host slows both (the first bf16 calls also set AMX up: the best of several is the machine's)."""
    operands = {dtype: torch.rand(n, n).to(dtype) for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(operands, float("inf"))
    for _ in range(PROBE_REPEATS):
        for dtype, a in operands.items():
            start = time.perf_counter()
            a @ a
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best


PROBE_SIZES = (256, 1024)  # 256^3 gates out a slow bf16 path (~0.2 s at 0.8 GFLOP/s); 1024^3 is clustering-sized
PROBE_REPEATS = 6


def time_window(name: str, probe: Probe, device: torch.device, repeats: int = 2) -> float:
    """Best seconds of one window (affinity, level 1, assignment) through `name`'s ops, after a warm-up
    (which compiles the kernels). q, k are seeded noise with peaked attention: hundreds of clusters."""
    from ..model.clustering import cluster_window

    ops = cluster_ops(name, device)
    gen = torch.Generator(device=device).manual_seed(0)
    base = torch.randn(1, probe.heads, probe.tokens, probe.head_dim, device=device, generator=gen)
    q = 3 * (base + 0.3 * torch.randn(probe.window, *base.shape[1:], device=device, generator=gen))
    k = base + 0.3 * torch.randn(probe.key_frames, *base.shape[1:], device=device, generator=gen)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = float("inf")
    for i in range(repeats + 1):
        sync()
        start = time.perf_counter()
        aff = ops.affinity(q, k, probe.head_dim ** -0.5)
        ops.assign(aff.prob, aff.log_prob, cluster_window(aff, probe.tau, ops))
        sync()
        if i:
            best = min(best, time.perf_counter() - start)
    return best


def fastest(device: torch.device, probe: Probe = Probe(),
            timer: Callable[[str, Probe, torch.device], float] = time_window) -> Kernels:
    """Whichever of torch, triton and certified runs one `probe` window fastest on `device`; measured once."""
    import triton

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    key = {"device": gpu, "torch": torch.__version__, "triton": triton.__version__, "probe": asdict(probe)}
    path = cache_dir() / "kernels_auto.json"
    choice, seconds = measured_once(path, key, lambda: {name: timer(name, probe, device) for name in MEASURED},
                                    "kernels auto")
    if seconds:
        log.info("kernels auto: %s (one %d x %d window on %s: %s; remembered in %s)",
                 choice, probe.window * probe.tokens, probe.key_frames * probe.tokens, gpu,
                 ", ".join(f"{name} {1e3 * s:.1f} ms" for name, s in seconds.items()), path)
    return Kernels(choice)


def resolve(name: Kernels | str, device: torch.device | str, probe: Probe | None = None) -> Kernels:
    """Kernels.TORCH or Kernels.TRITON for the choice `name` on `device` (auto: measured, see Probe)."""
    name = check_kernels(name)
    device = torch.device(device)
    if name is Kernels.TORCH:
        return Kernels.TORCH
    if name is Kernels.CERTIFIED:
        return Kernels.CERTIFIED  # without Triton, PyTorch products
    reason = triton_unavailable(device)
    if name is Kernels.TRITON:
        if reason:
            raise DeviceError(f"the Triton kernels cannot run: {reason}")
        return Kernels.TRITON
    if device.type == "cuda" and reason is None:
        return fastest(device, probe or Probe())
    if device.type == "cuda" and reason not in _warned:
        _warned.add(reason)
        log.warning("kernels auto: using the PyTorch reference: %s", reason)
    return Kernels.TORCH


# -- the tables ---------------------------------------------------------------------------------------------

def triton_ops(precision: str = "ieee") -> ClusterOps:
    """The ClusterOps table of the Triton kernels (imports Triton)."""
    from . import affinity, kl, merge

    return ClusterOps(affinity=functools.partial(affinity.affinity, precision=precision),
                      within_tau=functools.partial(kl.within_tau, precision=precision),
                      within_tau_rows=functools.partial(kl.within_tau_rows_triton, precision=precision),
                      assign=functools.partial(kl.assign, precision=precision),
                      merge=merge.leader_merge)


def certified_table(device: torch.device | str = "cpu") -> ClusterOps:
    """The certified ClusterOps table on `device`: the Triton kernels (bf16 tensor cores) on CUDA, else
    PyTorch products in the precision this host multiplies fastest (dispatch.fast_product: measured)."""
    from .certified import Tally, WindowRows, certified_ops

    device = torch.device(device)
    if device.type == "cuda" and triton_unavailable(device) is None:
        from . import certified_kl, merge

        tally = Tally()
        return ClusterOps(affinity=triton_ops().affinity,
                          within_tau=functools.partial(certified_kl.within_tau, precision="bf16", tally=tally),
                          within_tau_rows=functools.partial(certified_kl.within_tau_rows, precision="bf16",
                                                            tally=tally, window=WindowRows()),
                          assign=functools.partial(certified_kl.assign, precision="bf16", tally=tally),
                          merge=merge.leader_merge, tally=tally)
    return certified_ops(fast_product(device))


def cluster_ops(name: str, device: torch.device | str = "cpu") -> ClusterOps:
    """The ClusterOps table that `name` ('auto', 'torch', 'triton' or 'certified') picks on `device`."""
    choice = resolve(name, device)
    if choice == "certified":
        return certified_table(device)
    return REFERENCE_OPS if choice == "torch" else triton_ops()
