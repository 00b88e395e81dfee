"""Front-end backends: how a batch of normalized images becomes q, k.

One table, BACKENDS: name -> builder(frontend, device) -> a callable
images (B, 3, H, W) -> (q, k), each (B, heads, h*w, head_dim).

- eager: the reference module (attnseg.model.FrontEnd) as it is.
- compiled: torch.compile of the same module; its first call per input shape
  compiles (tens of seconds on a small CPU), later calls reuse the graph.

Exported forms (ONNX Runtime, TensorRT) add their rows here.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..model import FrontEnd

Runner = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _eager(frontend: FrontEnd, device: torch.device) -> Runner:
    return frontend


def _compiled(frontend: FrontEnd, device: torch.device) -> Runner:
    return torch.compile(frontend, dynamic=False)


BACKENDS: dict[str, Callable[[FrontEnd, torch.device], Runner]] = {"eager": _eager, "compiled": _compiled}


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    return name


def load_backend(name: str, frontend: FrontEnd, device: torch.device) -> Runner:
    return BACKENDS[check_backend(name)](frontend, device)
