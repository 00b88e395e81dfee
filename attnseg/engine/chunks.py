"""Videos of any length: the paper's offline pipeline chunk by chunk, object ids linked across chunks (SPEC 10).

    for chunk in iter_chunks(segmenter, "long.mp4"):       # chunk length planned from the video's length
        for frame in chunk.frames():                      # FrameResult: index, name, labels (h, w), mask (H0, W0)
            ...

The offline method is quadratic in a clip's length (every window attends to key
frames spread over the whole clip), so a long video is cut into chunks of a
paper-sized clip. Within a chunk, exactly the single-piece pipeline: the same
front-end batches, key frames 0, r, 2r, ... of the chunk, level 1, the later
levels and the final assignment. Across chunks, the chunk's final clusters are
linked to the objects of earlier chunks by the streaming tracker
(attnseg.engine.tracking): each object's stored query tokens are re-expressed
over the new chunk's key frames and a cluster takes the id of the nearest
object within tau, the criterion of the later merge levels. Ids start at 0 and
are never reused, so a chunk that covers the whole clip gives the
single-piece labels exactly.

What chunking changes against the paper: ids across chunks come from this
linking, not from the later levels over the whole video, and a frame's
clusters see only its own chunk's key frames.

Memory holds one chunk's q, its key frames' k and one window's affinity; the
decoded frames are never kept (FrameReader), and a chunk's masks are upsampled
one frame at a time. Both stay flat whatever the video's length.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from ..errors import InputError, SettingError
from ..model.affinity import key_frame_indices, query_windows
from .frames import FrameReader
from .outputs import upsample_labels
from .preprocess import preprocess
from .timing import StageTimer
from .tracking import Tracker

SINGLE_PIECE_MAX = 150  # auto: a clip up to this many frames is one piece, as the paper segments DAVIS
AUTO_CHUNK = 120  # auto: a longer video is cut into balanced chunks of at most this many frames
MEMORY_SHARE = 0.8  # of the memory available that one piece may plan to use


@dataclass
class FrameResult:
    index: int  # frame number in the video
    name: str
    labels: np.ndarray  # (h, w) int32 object ids per patch
    mask: np.ndarray  # (H0, W0) int32 object ids at the frame's size


@dataclass
class ChunkResult:
    index: int
    start: int  # first frame's number in the video
    names: list[str]
    labels: np.ndarray  # (t, h, w) int32 object ids per patch
    size: tuple[int, int]  # the frames' size (H0, W0)
    clusters: int  # this chunk's clusters after the last level
    next_id: int  # ids handed out so far: 0 .. next_id - 1
    seconds: float  # wall time of the chunk: decode, front-end, clustering, linking
    link: dict = field(repr=False, default_factory=dict)  # the linker's state after this chunk (a resumed run)

    def __len__(self) -> int:
        return len(self.labels)

    def frames(self) -> Iterator[FrameResult]:
        """Each frame with its mask upsampled to the frame's size, one at a time."""
        for i, labels in enumerate(self.labels):
            yield FrameResult(self.start + i, self.names[i], labels, upsample_labels(labels[None], self.size)[0])


def memory_needed(segmenter, frames: int) -> int:
    """Bytes one piece of `frames` frames needs at its peak, about: q of every frame and k of its key frames,
    one window's affinity (rows and their logs, and one transient of their size), the affinities cached
    between level 1 and the assignment when they fit, and the window's D1."""
    cfg, fe = segmenter.config, segmenter.frontend
    h, w = fe.backbone.grid(*cfg.resolution)
    tokens, keys = h * w, len(key_frame_indices(max(frames, 1), cfg.ratio))
    qk = (frames + keys) * tokens * fe.num_heads * fe.head_dim * 4
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


def new_linker(segmenter) -> Tracker:
    """The tracker that links chunks: ids from 0, the segmentation's tau, ages counted in chunks."""
    cfg = segmenter.config
    return Tracker(cfg.tau, cfg.link_max_age, cfg.link_tokens, segmenter.ops, first_id=0)


def iter_chunks(segmenter, source, *, chunk: int | None = None, start: int = 0, link: dict | None = None,
                timer: StageTimer | None = None) -> Iterator[ChunkResult]:
    """Segment `source` (path, FrameReader, arrays) chunk by chunk. chunk: frames per chunk (default: the
    segmenter's config.chunk, planned by plan_chunk); start, link: where a resumed run continues (a chunk
    boundary, and the linker's state there). An input that breaks mid-way ends the iteration with its
    InputError after the frames read before it were segmented and yielded."""
    reader = source if isinstance(source, FrameReader) else FrameReader(source)
    length = chunk or plan_chunk(segmenter, reader.info.count, segmenter.config.chunk)
    if start % length:
        raise SettingError(f"a run resumes at a chunk boundary: frame {start} is not a multiple of {length}")
    linker = new_linker(segmenter)
    if link:
        linker.load_state_dict(link, segmenter.device)
    timer = timer or StageTimer(segmenter.device)
    frames = reader.frames(start)
    index, broken = start // length, None
    while broken is None:
        began = time.perf_counter()
        q, k, names, size, broken = _front_end(segmenter, frames, length, timer)
        if not names:
            break
        labels, clusters = _cluster_and_link(segmenter, linker, q, k, timer)
        yield ChunkResult(index, start, names, labels, size, clusters, linker.next_id,
                          time.perf_counter() - began, linker.state_dict())
        start, index = start + len(names), index + 1
        if len(names) < length:
            break
    if broken is not None:
        raise broken


@torch.inference_mode()
def _front_end(segmenter, frames: Iterator, length: int, timer: StageTimer):
    """q of up to `length` frames and k of those at multiples of the ratio, in the single-piece batches, their
    names and size, and the InputError that stopped the input mid-chunk (None when it did not)."""
    cfg = segmenter.config
    qs, ks, names, size, batch = [], [], [], None, []

    def run(batch):
        with timer("preprocess"):
            images = preprocess(batch, cfg.resolution, cfg.normalization).to(segmenter.device)
        with timer("backbone"):
            q, k = segmenter.run_frontend(images)
        first = len(names) - len(batch)
        qs.append(q.contiguous())  # its own storage: q and k are views of one projection
        ks.extend(k[i].clone() for i in range(len(batch)) if (first + i) % cfg.ratio == 0)

    broken = None
    try:
        while len(names) < length:
            with timer("decode"):
                item = next(frames, None)
            if item is None:
                break
            names.append(item[0])
            size = size or item[1].shape[:2]
            batch.append(item[1])
            if len(batch) == cfg.batch_size:
                run(batch)
                batch = []
    except InputError as err:  # the frames read before it are still segmented
        broken = err
    if batch:
        run(batch)
    if not names:
        return None, None, [], size, broken
    keys = len(key_frame_indices(len(names), cfg.ratio))  # a chunk's trailing multiple of r may be no key frame
    return torch.cat(qs), torch.stack(ks[:keys]), names, tuple(size), broken


@torch.inference_mode()
def _cluster_and_link(segmenter, linker: Tracker, q: torch.Tensor, k: torch.Tensor, timer: StageTimer):
    cfg = segmenter.config
    result = segmenter.cluster_video(q, k, segmenter.frontend.scale, ratio=cfg.ratio, tau=cfg.tau, window=cfg.window,
                                     timer=timer)
    with timer("linking"):
        tokens = q.permute(0, 2, 1, 3).reshape(-1, q.shape[1], q.shape[3])  # (t * N, heads, d)
        ids = linker.update(tokens, result.labels.reshape(-1), result.centroids, k, segmenter.frontend.scale)
    grid = segmenter.frontend.backbone.grid(*cfg.resolution)
    return ids.view(q.shape[0], *grid).to(torch.int32).cpu().numpy(), result.num_clusters
