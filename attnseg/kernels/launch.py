"""Every Triton launch of attnseg goes through `launch`: it runs the kernel, or records it.

    launch(_my_kernel, grid, *args, cost=Cost(flops, bytes), BLOCK=32, num_warps=4, num_stages=3)

is `_my_kernel[grid](*args, BLOCK=32, num_warps=4, num_stages=3)`, plus two hooks:
- `recording()`: launches are collected instead of run, so the real wrappers,
  called on meta tensors at the engine's shapes, say exactly which kernels,
  constexprs and launch options the engine uses. The ahead-of-time compile
  check (compile_check.py) compiles those for a GPU on any machine.
- `charging(sink)`: each launch reports its matrix FLOPs and the bytes it
  must move (a kernel's arithmetic is invisible to torch's dispatcher, where
  attnseg.bench.costs counts everything else).
Each wrapper states its launch options (num_warps, num_stages) explicitly, so
what is compiled here is what runs on the GPU.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


def interpreting() -> bool:
    """Whether Triton runs its kernels in the interpreter (TRITON_INTERPRET=1, set before its first import)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Cost:
    flops: int  # matrix FLOPs of the math (2 per multiply-add), without the padding of partial tiles
    bytes: int  # the fewest bytes the launch reads and writes


@dataclass
class Launch:
    kernel: Any  # a triton.JITFunction
    grid: tuple
    args: tuple
    meta: dict = field(default_factory=dict)  # constexprs and options (num_warps, num_stages)
    cost: Cost | None = None

    @property
    def name(self) -> str:
        return self.kernel.__name__


_recorder: contextvars.ContextVar[list[Launch] | None] = contextvars.ContextVar("attnseg_launches", default=None)
_sink: contextvars.ContextVar[Callable[[Cost], None] | None] = contextvars.ContextVar("attnseg_cost", default=None)


def launch(kernel, grid: tuple, *args, cost: Cost | None = None, **meta) -> None:
    record = _recorder.get()
    if record is not None:
        record.append(Launch(kernel, tuple(grid), args, meta, cost))
        return
    sink = _sink.get()
    if sink is not None and cost is not None:
        sink(cost)
    kernel[grid](*args, **meta)


@contextlib.contextmanager
def recording() -> Iterator[list[Launch]]:
    """Collect the launches made inside the block instead of running them."""
    launches: list[Launch] = []
    token = _recorder.set(launches)
    try:
        yield launches
    finally:
        _recorder.reset(token)


@contextlib.contextmanager
def charging(sink: Callable[[Cost], None]) -> Iterator[None]:
    """Report every launch's Cost to `sink` while the block runs."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)
