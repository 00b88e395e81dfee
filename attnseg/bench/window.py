"""One window through the level-1 clustering, stage by stage: time, memory, FLOPs and parity.

Stages, as attnseg.model.clustering runs them for a window:
- affinity: A and log A of the window's rows against the key frames;
- distances: D1 <= tau; neighbours: S = [D1 <= tau] A renormalized;
- merge: the leader merge over the D2 rows of its candidates;
- assignment: each row's nearest level-1 centroid.
`measure_window` times them for one ClusterOps table (the reference, or the
Triton kernels) with warm-up and synchronization; `parity` compares two
implementations' outputs. Used by benchmarks/kernels_vs_reference.py and the
device suite.
"""
from __future__ import annotations

import torch

from ..engine.timing import StageTimer
from ..kernels.launch import charging
from ..model.clustering import ClusterOps, candidate_rows, group_means, neg_entropy, neighbour_average, safe_log
from .costs import StageCosts, fraction_of_peak
from .latency import PeakRSS, summarize

STAGES = ("affinity", "distances", "neighbours", "merge", "assignment")


def run_window(ops: ClusterOps, q: torch.Tensor, k: torch.Tensor, scale: float, tau: float,
               timer: StageTimer) -> dict:
    """One window (q: (w, heads, N, d), k: (Tk, heads, N, d)) through every stage; its outputs."""
    with timer("affinity"):
        aff = ops.affinity(q, k, scale)
    with timer("distances"):
        near = ops.within_tau(aff.prob, aff.log_prob, tau)
    out = {"near": near.clone(), "affinity": aff}
    with timer("neighbours"):
        s = neighbour_average(aff.prob, near)
    log_s = safe_log(s)
    e_s = neg_entropy(s, log_s)
    with timer("merge"):
        labels = ops.merge(s.shape[0], candidate_rows(ops, s, log_s, e_s, tau), s.device)
    cents = group_means(s, labels, int(labels.max()) + 1)
    with timer("assignment"):
        out["assign"] = ops.assign(aff.prob, aff.log_prob, cents)
    out["merge"], out["centroids"] = labels, cents.shape[0]
    return out


@torch.inference_mode()
def measure_window(ops: ClusterOps, q: torch.Tensor, k: torch.Tensor, scale: float, tau: float = 1.0, *,
                   repeats: int = 5, warmup: int = 1, peaks: dict | None = None) -> tuple[dict, dict]:
    """(figures, outputs of the last run): seconds per stage (p50/p90/p99), peak memory (device memory
    on a GPU, host RSS growth on a CPU), centroids, and with `peaks` FLOPs and the fraction of peak."""
    device = q.device
    cuda = device.type == "cuda"
    for _ in range(warmup):  # compiles the kernels, warms the allocator and cuBLAS
        run_window(ops, q, k, scale, tau, StageTimer(device))
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    runs = []
    with PeakRSS() as rss:
        for _ in range(repeats):
            timer = StageTimer(device)
            out = run_window(ops, q, k, scale, tau, timer)
            runs.append(dict(timer.seconds))
    seconds = {s: summarize([r[s] for r in runs]) for s in STAGES}
    seconds["total"] = summarize([sum(r.values()) for r in runs])
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if cuda else rss.growth_mib
    figures = {"seconds": seconds, "peak_mib": round(peak, 1), "centroids": out["centroids"]}
    if peaks:
        with StageCosts() as costs, charging(costs.charge):
            run_window(ops, q, k, scale, tau, StageTimer(device))
        figures["cost_model"] = {s: {**costs.stages[s], **fraction_of_peak(costs.stages[s], seconds[s]["p50"], peaks)}
                                 for s in STAGES if s in costs.stages}
    return figures, out


def parity(out: dict, ref: dict) -> dict:
    """How an implementation's window compares with the reference's on the same q, k."""
    return {"d1_disagreements": int((out["near"] != ref["near"]).sum()),
            "merge_labels_equal": bool(torch.equal(out["merge"], ref["merge"])),
            "centroids": out["centroids"], "reference_centroids": ref["centroids"],
            "assignment_agreement": float((out["assign"] == ref["assign"]).float().mean())}
