"""Which implementation runs: the Triton kernels or the PyTorch reference.

`--kernels` / SegmentConfig.kernels:
- "torch": the reference (attnseg.model), everywhere.
- "triton": the kernels. On CUDA they compile; on a CPU they run only under
  Triton's interpreter (TRITON_INTERPRET=1 set before the first import),
  which is slow and meant for tests.
- "auto": Triton on CUDA when it can run, the reference elsewhere.
ATTNSEG_DISABLE_TRITON=1 switches Triton off: "auto" falls back to the
reference (with one warning), "triton" is refused with the reason.
"""
from __future__ import annotations

import importlib.util
import logging
import os

import torch

log = logging.getLogger(__name__)

CHOICES = ("auto", "torch", "triton")
DISABLE_ENV = "ATTNSEG_DISABLE_TRITON"
_warned: set[str] = set()


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def triton_unavailable(device: torch.device) -> str | None:
    """Why the Triton kernels cannot run on `device`, or None when they can."""
    if os.environ.get(DISABLE_ENV, "0").lower() in ("1", "true", "yes", "on"):
        return f"Triton is disabled by {DISABLE_ENV}"
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install triton)"
    if device.type == "cuda":
        return None
    if device.type == "cpu" and interpreting():
        return None
    return (f"Triton kernels need a CUDA device; on {device.type} they run only under the interpreter "
            "(set TRITON_INTERPRET=1 before starting; slow, for tests)")


def check_kernels(name: str) -> str:
    if name not in CHOICES:
        raise ValueError(f"unknown kernels {name!r}; choose from {', '.join(CHOICES)}")
    return name


def resolve(name: str, device: torch.device | str) -> str:
    """'torch' or 'triton' for the `--kernels` choice `name` on `device`."""
    check_kernels(name)
    device = torch.device(device)
    if name == "torch":
        return "torch"
    reason = triton_unavailable(device)
    if name == "triton":
        if reason:
            raise ValueError(f"--kernels triton cannot run: {reason}")
        return "triton"
    if device.type == "cuda" and reason is None:
        return "triton"
    if device.type == "cuda" and reason not in _warned:
        _warned.add(reason)
        log.warning("kernels auto: using the PyTorch reference: %s", reason)
    return "torch"
