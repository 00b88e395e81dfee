"""The machine's measured peaks: matrix-multiply rates and copy bandwidth.

These are what a stage's cost (attnseg.bench.costs) is divided by to report it
as a fraction of peak. Measured, not taken from a datasheet: the best of a few
timed repeats after warm-up, CUDA-synchronized on a GPU.
"""
from __future__ import annotations

import torch

from .latency import time_calls


def _best_seconds(fn, device: torch.device, repeats: int) -> float:
    return min(time_calls(fn, device, repeats, warmup=2))


PROBE_SECONDS = 0.25  # the longest one timed product may take: a peak probe is bounded on every host
PROBE_N = 256  # the product that estimates the rate first


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int | None = None, repeats: int = 5,
                budget: float | None = PROBE_SECONDS) -> float:
    """FLOP/s of an n x n x n product (2 n^3 FLOP) in `dtype`, time-bound: a PROBE_N product estimates the
    rate, and n shrinks (to a multiple of 64) until one product takes about `budget` seconds. A dtype without a
    fast path on this host (bf16 on an AVX2-only CPU runs at ~1 GFLOP/s) costs seconds, not minutes; a fast
    one keeps its n. budget None: exactly n. On a GPU n is kept (a small product there times its launch, not
    the rate, and the default product takes milliseconds)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    if budget is not None and device.type != "cuda" and n > PROBE_N:
        estimate = _rate(dtype, device, PROBE_N, repeats=1)
        n = max(PROBE_N, min(n, int((budget * estimate / 2) ** (1 / 3)) // 64 * 64))
    return _rate(dtype, device, n, repeats)


def _rate(dtype: torch.dtype, device: torch.device, n: int, repeats: int) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=gen).to(dtype)
    b = torch.randn(n, n, device=device, generator=gen).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return 2 * n ** 3 / _best_seconds(lambda: torch.mm(a, b, out=out), device, repeats)


def copy_bandwidth(device: torch.device, mib: int = 512, repeats: int = 5) -> float:
    """Bytes/s of a large device-to-device copy (each byte read once and written once)."""
    src = torch.ones(mib * 2 ** 20 // 4, device=device)
    dst = torch.empty_like(src)
    return 2 * src.nbytes / _best_seconds(lambda: dst.copy_(src), device, repeats)


ELEMENTWISE = {"exp": torch.exp, "log": torch.log}  # the transcendentals the softmax and the KL are made of


def elementwise_rate(name: str, device: torch.device, mib: int = 64, repeats: int = 5) -> float:
    """Elements/s of one fp32 transcendental (`exp` or `log`, out-of-place into a preallocated output) over
    a tensor larger than the caches: the rate a stage's elementwise work is charged at (bench.costs)."""
    fn = ELEMENTWISE[name]
    src = torch.rand(mib * 2 ** 20 // 4, device=device, generator=torch.Generator(device=device).manual_seed(0)) + 0.5
    dst = torch.empty_like(src)
    return src.numel() / _best_seconds(lambda: fn(src, out=dst), device, repeats)


def measure_peaks(device: str | torch.device = "cpu") -> dict:
    """{"fp32_matmul_gflops", "bf16_matmul_gflops", "copy_gbps", "exp_gelems", "log_gelems", "fp32_matmul_tf32"}:
    each the best of a few timed repeats."""
    device = torch.device(device)
    with torch.inference_mode():
        peaks = {
            "fp32_matmul_gflops": matmul_rate(torch.float32, device) / 1e9,
            "bf16_matmul_gflops": matmul_rate(torch.bfloat16, device) / 1e9,
            "copy_gbps": copy_bandwidth(device) / 1e9,
            **{f"{name}_gelems": elementwise_rate(name, device) / 1e9 for name in ELEMENTWISE},
        }
    if device.type == "cuda":
        peaks["fp32_matmul_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in peaks.items()}
