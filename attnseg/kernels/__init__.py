"""Triton kernels for the affinity and the clustering, each beside its PyTorch reference.

Not yet written: they arrive with the kernels issue. Until then every path uses
the reference in attnseg.model.
"""
