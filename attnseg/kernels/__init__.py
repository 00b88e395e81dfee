"""Fast kernels for the affinity and the clustering, each beside its PyTorch reference.

- affinity.py: head-mean softmax rows A and log A, no per-head attention in memory.
- kl.py: symmetric-KL threshold matrices (D1 and the D2 rows of leader
  candidates) and the nearest-centroid assignment fused with its argmin.
- merge.py: the greedy leader merge with its sequential choice on the device.
- certified.py: certified decisions: low-precision products, a bound per entry, exact recomputation
  of the undecided ones (PyTorch; the CPU path and the oracle of certified_kl.py).
- certified_kl.py: the same on the GPU, bound and threshold fused in the kernels' epilogues.
- dispatch.py: the one place an implementation is chosen: `--kernels auto|torch|triton|certified` -> the
  ClusterOps table that runs (auto: measured), and the tables themselves.
- launch.py: every launch goes through `launch` (run it, record it, charge its cost).
- compile_check.py: every launch the engine makes, compiled for sm_90 and sm_80 on any machine.

A table has the signature of attnseg.model.clustering.ClusterOps, and the engine passes it to the model's
cluster_video and cluster_window: the algorithm (windows, levels, leader merge) is written once, in the model.
"""
from .dispatch import certified_table, cluster_ops, resolve, triton_ops

__all__ = ["certified_table", "cluster_ops", "resolve", "triton_ops"]
