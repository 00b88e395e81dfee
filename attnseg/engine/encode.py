"""The front-end step, written once: frames -> q, k, every path's (offline, chunked, streaming, the Triton
Inference Server model).

    for q, k in encode_batches(frames, run, resolution=(320, 480), normalization="kinetics", device=device,
                               batch_size=8, timer=timer):
        ...                                   # (b, heads, h*w, d) each, b <= batch_size, in the frames' order

Frames (H0, W0, 3) uint8 RGB are gathered into batches of `batch_size` as they come (an iterator is read once),
preprocessed (SPEC 2: attnseg.engine.preprocess), moved to the device and run through `run`, the backend
(attnseg.engine.backends: eager, compiled, exported, or a remote model); "preprocess" and "backbone" are
timed as the stages they are. Segmenter.encode_batches and Segmenter.encode call it with the segmenter's own
backend and settings.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from .preprocess import preprocess
from .timing import Timer, untimed

Runner = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def encode_batches(frames: Iterable[np.ndarray], run: Runner, *, resolution: tuple[int, int], normalization: str,
                   device: torch.device, batch_size: int, timer: Timer = untimed
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """q, k of each batch of `batch_size` frames (the last may be shorter), as the frames come."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield encode_batch(batch, run, resolution, normalization, device, timer)
            batch = []
    if batch:
        yield encode_batch(batch, run, resolution, normalization, device, timer)


def encode_batch(batch, run: Runner, resolution, normalization, device, timer: Timer = untimed, keys: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """q, k of one batch of frames; keys=False: k is None where the backend can leave it out (`run.queries`)."""
    with timer("preprocess"):
        images = preprocess(batch, resolution, normalization).to(device)
    with timer("backbone"):
        if not keys and hasattr(run, "queries"):  # no k needed, and the backend can leave it out
            return run.queries(images), None
        return run(images)
