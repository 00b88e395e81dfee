"""Fast kernels for the affinity and the clustering, each beside its PyTorch reference.

- affinity.py: head-mean softmax rows A and log A, no per-head attention in memory.
- kl.py: symmetric-KL threshold matrices (D1 and the D2 rows of leader
  candidates) and the nearest-centroid assignment fused with its argmin.
- merge.py: the greedy leader merge with its sequential choice on the device.
- certified.py: certified decisions: low-precision products, a bound per entry, exact recomputation
  of the undecided ones (PyTorch; the CPU path and the oracle of certified_kl.py).
- certified_kl.py: the same on the GPU, bound and threshold fused in the kernels' epilogues.
- dispatch.py: `--kernels auto|torch|triton|certified` -> which implementation runs (auto: measured).
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


def certified_table(device: torch.device | str = "cpu"):
    """The certified ClusterOps table on `device`: the Triton kernels (bf16 tensor cores) on CUDA, else
    PyTorch products in the precision this host multiplies fastest (dispatch.fast_product: measured)."""
    from ..model.clustering import ClusterOps
    from .certified import Tally, WindowRows, certified_ops
    from .dispatch import fast_product, triton_unavailable

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


def cluster_ops(name: str, device: torch.device | str = "cpu"):
    """The ClusterOps table that `name` ('auto', 'torch', 'triton' or 'certified') picks on `device`."""
    choice = resolve(name, device)
    if choice == "certified":
        return certified_table(device)
    return REFERENCE_OPS if choice == "torch" else triton_ops()


def clusterer(name: str, device: torch.device | str = "cpu") -> Callable:
    """cluster_video as `name` ('auto', 'torch', 'triton' or 'certified') runs it on `device`."""
    ops = cluster_ops(name, device)
    return cluster_video if ops is REFERENCE_OPS else functools.partial(cluster_video, ops=ops)
