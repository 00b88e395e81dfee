"""How a video is cut: frames per chunk from its length and the memory at hand (SPEC 10).

`plan_chunk` turns the `chunk` setting (None: auto, 0: one piece, N) into frames per chunk: auto keeps a clip
of up to SINGLE_PIECE_MAX frames in one piece, as the paper segments DAVIS, and cuts a longer one into
balanced chunks of at most AUTO_CHUNK (attnseg.settings); any piece is halved until it fits MEMORY_SHARE of
the memory available, and one piece that cannot fit is refused before any work.
"""
from __future__ import annotations

import math
import os

import torch

from ...errors import SettingError
from ...model.affinity import key_frame_indices, query_windows
from ...settings import AUTO_CHUNK, MEMORY_SHARE, SINGLE_PIECE_MAX


def memory_needed(segmenter, frames: int) -> int:
    """Bytes one piece of `frames` frames needs at its peak, about: q of every frame and k of its key frames,
    one window's affinity (rows and their logs, and one transient of their size), the affinities cached
    between level 1 and the assignment when they fit, and the window's D1."""
    cfg = segmenter.config
    h, w = segmenter.grid
    tokens, keys = h * w, len(key_frame_indices(max(frames, 1), cfg.ratio))
    qk = (frames + keys) * tokens * segmenter.frontend.num_heads * segmenter.frontend.head_dim * 4
    rows, cols = cfg.window * tokens, keys * tokens
    window = 3 * rows * cols * 4 + rows * rows * 4
    cached = 8 * rows * cols * len(query_windows(frames, cfg.window))
    return qk + window + (cached if cached <= 2 << 30 else 0)


def memory_available(device: torch.device) -> int:
    """Bytes free for a plan: the GPU's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def plan_chunk(segmenter, count: int | None, requested: int | None = None, available: int | None = None) -> int:
    """Frames per chunk for a video of `count` frames (None: unknown). requested: the `chunk` setting
    (None: auto, 0: one piece, N). One piece that would not fit in memory is refused before any work."""
    available = memory_available(segmenter.device) if available is None else available
    budget = MEMORY_SHARE * available

    def fits(frames: int) -> bool:
        return memory_needed(segmenter, frames) <= budget

    if requested == 0:
        if count is None:
            raise SettingError("one piece needs the frame count, and this input does not tell it; set chunk")
        if not fits(count):
            raise SettingError(f"one piece of {count} frames needs about {memory_needed(segmenter, count) / 2**30:.1f} "
                               f"GiB, {available / 2**30:.1f} GiB are available; use chunk = {AUTO_CHUNK}, or leave "
                               f"chunk unset: long videos are chunked by default")
        return max(count, 1)
    if requested:
        return requested
    if count is not None and count <= SINGLE_PIECE_MAX and fits(count):
        return max(count, 1)
    chunk = AUTO_CHUNK if count is None else math.ceil(count / math.ceil(count / AUTO_CHUNK))
    while chunk > segmenter.config.window and not fits(chunk):
        chunk //= 2
    return chunk
