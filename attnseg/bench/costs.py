"""A FLOP/byte model of the pipeline, per stage, counted from the operations it runs.

`count_costs(segmenter, source)` runs the pipeline once under a dispatch mode
that sees every ATen operation and charges it to the stage being timed
(engine.timing.current_stage):
- flops: matrix FLOPs (matmuls, convolutions, attention) by torch's own
  formulas (torch.utils.flop_counter);
- exp, log: the transcendentals evaluated, one per output element of each
  exponential-like operation (exp, softmax, GELU's erf, tanh, sigmoid) and
  each logarithm, charged at the host's measured exp and log rates
  (bench.peaks) where a stage's ceiling is computed (`ceiling_seconds`);
- bytes: the tensors each operation reads and writes (views cost nothing).
  This is the traffic of the unfused reference, an upper bound of what a
  fused kernel must move and the figure a fused kernel is judged against.

`fraction_of_peak` turns counts and measured seconds into achieved rates and
a roofline fraction: max(flops / peak matmul rate, bytes / copy bandwidth)
divided by the measured time. 1.0 would be a stage running at the machine's
peak for its binding resource.

A Triton kernel is one opaque launch to the dispatcher: its arithmetic is
charged instead from the Cost each launch declares (attnseg.kernels.launch:
matrix FLOPs and the fewest bytes it moves), to the stage being timed.

The model is data-dependent where the method is (the number of clusters sets
the work of the later levels), so it is counted on the run it describes.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

from ..engine.timing import current_stage
from ..kernels.launch import Cost, charging


def _attention_flops(args) -> int:
    """QK^T and PV of scaled-dot-product attention: 4 B H Nq Nk d (CPU variants are not in torch's table)."""
    q, k = args[0], args[1]
    *batch, nq, d = q.shape
    return 4 * int(torch.Size(batch).numel()) * nq * k.shape[-2] * d


def op_flops(func, args, kwargs, out) -> int:
    packet = func.overloadpacket
    if packet in flop_registry:
        return int(flop_registry[packet](*args, **kwargs, out_val=out))
    if "scaled_dot_product" in packet.__name__:
        return _attention_flops(args)
    return 0


EXP_OPS = {"exp", "exp_", "_softmax", "softmax", "gelu", "erf", "tanh", "sigmoid", "expm1", "_log_softmax"}
LOG_OPS = {"log", "log_", "log1p", "log2", "_log_softmax"}


def transcendentals(func, out) -> tuple[int, int]:
    """(exps, logs) one operation evaluates: its output's element count for each kind it is made of."""
    name = func.overloadpacket.__name__
    if name not in EXP_OPS and name not in LOG_OPS:
        return 0, 0
    n = sum(t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
    return (n if name in EXP_OPS else 0), (n if name in LOG_OPS else 0)


def _composite(func) -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)


def _is_view(func) -> bool:
    return any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


def _bytes(tree) -> int:
    return sum(t.numel() * t.element_size() for t in tree_leaves(tree) if isinstance(t, torch.Tensor))


class StageCosts(TorchDispatchMode):
    """Matrix FLOPs, bytes touched and op count per pipeline stage."""

    def __init__(self):
        super().__init__()
        self.stages: dict[str, dict[str, int]] = defaultdict(
            lambda: {"flops": 0, "bytes": 0, "ops": 0, "exp": 0, "log": 0})

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _composite(func):  # under inference_mode, matmul/einsum arrive whole: count their parts
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        cost = self.stages[current_stage.get() or "other"]
        cost["ops"] += 1
        cost["flops"] += op_flops(func, args, kwargs, out)
        exps, logs = transcendentals(func, out)
        cost["exp"] += exps
        cost["log"] += logs
        if not _is_view(func):
            cost["bytes"] += _bytes((args, kwargs)) + _bytes(out)
        return out

    def charge(self, launch: Cost) -> None:
        """A Triton launch's declared cost, charged to the current stage."""
        cost = self.stages[current_stage.get() or "other"]
        cost["ops"] += 1
        cost["flops"] += launch.flops
        cost["bytes"] += launch.bytes


def count_costs(segmenter, source) -> dict[str, dict[str, int]]:
    """Per-stage costs of one `segmenter.segment_video(source)` run, front-end in eager PyTorch.

    The compiled or exported front-ends run the same arithmetic; their fused
    traffic is lower than the bytes counted here.
    """
    run_frontend = segmenter.run_frontend
    segmenter.run_frontend = segmenter.frontend
    try:
        with torch.inference_mode(), StageCosts() as costs, charging(costs.charge):
            segmenter.segment_video(source)
    finally:
        segmenter.run_frontend = run_frontend
    return {stage: dict(c) for stage, c in costs.stages.items()}


def ceiling_seconds(cost: dict, peaks: dict, dtype: str = "fp32") -> float:
    """The least time this stage's arithmetic can take on the host: every matrix FLOP at the measured `dtype`
    matmul peak plus every exp and log at the measured elementwise rates (the same cores do both, so the
    times add). Bytes are not charged: a fused implementation need not move them."""
    return (cost["flops"] / (peaks[f"{dtype}_matmul_gflops"] * 1e9) + cost.get("exp", 0) / (peaks["exp_gelems"] * 1e9)
            + cost.get("log", 0) / (peaks["log_gelems"] * 1e9))


def fraction_of_peak(cost: dict, seconds: float, peaks: dict) -> dict:
    """Achieved GFLOP/s and GB/s of a stage and its roofline fraction against the measured peaks."""
    flop_time = cost["flops"] / (peaks["fp32_matmul_gflops"] * 1e9)
    byte_time = cost["bytes"] / (peaks["copy_gbps"] * 1e9)
    return {
        "gflops": cost["flops"] / 1e9, "gbytes": cost["bytes"] / 1e9,
        "achieved_gflops_per_s": cost["flops"] / seconds / 1e9 if seconds > 0 else None,
        "achieved_gbytes_per_s": cost["bytes"] / seconds / 1e9 if seconds > 0 else None,
        "bound": "compute" if flop_time >= byte_time else "memory",
        "fraction_of_peak": max(flop_time, byte_time) / seconds if seconds > 0 else None,
    }
