"""Wall time per pipeline stage, synchronized on CUDA so GPU work is counted where it runs.

A timer is called with a stage's name and times the block it opens: `StageTimer` sums the seconds per stage;
`untimed` times nothing (a stream's steps, whose latency is measured from capture instead). The stage being
timed is also published in `current_stage`, so a profiler (attnseg.bench.costs) can attribute the operations
it sees to a stage.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections import defaultdict
from typing import Iterator

import torch

from ..model.clustering import Timer, untimed  # noqa: F401 - the timers the model's steps take

current_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("attnseg_stage", default=None)


class StageTimer:
    def __init__(self, device: torch.device | str = "cpu"):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cuda = torch.device(device).type == "cuda"

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if self.cuda:
            torch.cuda.synchronize()
        token = current_stage.set(stage)
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            self.seconds[stage] += time.perf_counter() - start
            current_stage.reset(token)


def resident_bytes() -> int:
    """This process's resident memory now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_resident_bytes() -> int:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
