"""Fast kernels for the affinity and the clustering, each beside its PyTorch reference.

- affinity.py: head-mean softmax rows A and log A, no per-head attention in memory.
- kl.py: symmetric-KL threshold matrices (D1 and the D2 rows of leader
  candidates) and the nearest-centroid assignment fused with its argmin.
- merge.py: the greedy leader merge with its sequential choice on the device.
- dispatch.py: `--kernels auto|torch|triton` -> which implementation runs (auto: measured).
- launch.py: every launch goes through `launch` (run it, record it, charge its cost).
- compile_check.py: every launch the engine makes, compiled for sm_90 and sm_80 on any machine.

`clusterer(name, device)` returns a function with the signature of
attnseg.model.cluster_video that runs the chosen implementation; the Triton
one is model.cluster_video with the Triton ClusterOps table, so the algorithm
(windows, levels, leader merge) is written once, in the model.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

from ..model import cluster_video
from ..model.clustering import REFERENCE_OPS
from .dispatch import CHOICES, resolve

KERNELS = CHOICES


def triton_ops(precision: str = "ieee"):
    """The ClusterOps table of the Triton kernels (imports Triton)."""
    from ..model.clustering import ClusterOps
    from . import affinity, kl, merge

    return ClusterOps(affinity=functools.partial(affinity.affinity, precision=precision),
                      within_tau=functools.partial(kl.within_tau, precision=precision),
                      within_tau_rows=functools.partial(kl.within_tau_rows_triton, precision=precision),
                      assign=functools.partial(kl.assign, precision=precision),
                      merge=merge.leader_merge)


def cluster_ops(name: str, device: torch.device | str = "cpu"):
    """The ClusterOps table that `name` ('auto', 'torch' or 'triton') picks on `device`."""
    return REFERENCE_OPS if resolve(name, device) == "torch" else triton_ops()


def clusterer(name: str, device: torch.device | str = "cpu") -> Callable:
    """cluster_video as `name` ('auto', 'torch' or 'triton') runs it on `device`."""
    ops = cluster_ops(name, device)
    return cluster_video if ops is REFERENCE_OPS else functools.partial(cluster_video, ops=ops)
