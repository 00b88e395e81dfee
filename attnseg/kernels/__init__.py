"""Fast kernels for the affinity and the clustering, each beside its PyTorch reference.

KERNELS maps a `--kernels` name to a clusterer with the signature of
attnseg.model.cluster_video (q, k, scale, *, ratio, tau, window, timer, progress).
"torch" is the reference itself; the Triton kernels add their rows here.
"""
from __future__ import annotations

from typing import Callable

from ..model import cluster_video

KERNELS: dict[str, Callable] = {"torch": cluster_video}


def clusterer(name: str) -> Callable:
    if name not in KERNELS:
        raise ValueError(f"unknown kernels {name!r}; choose from {', '.join(KERNELS)}")
    return KERNELS[name]
