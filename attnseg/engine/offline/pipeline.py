"""The offline pipeline, one path for a clip of any length: the paper's pipeline chunk by chunk, object ids
linked across chunks (SPEC 10); one piece is the one-chunk case.

    for chunk in iter_chunks(segmenter, "long.mp4"):     # frames per chunk planned from the length (planning.py)
        for frame in chunk.frames():                    # FrameResult: index, name, labels (h, w), mask (H0, W0)
            ...
    result = segment_clip(segmenter, "clip.mp4")        # one piece, in memory: a SegmentationResult

Its faces: Segmenter.segment_video (segment_clip), Segmenter.iter_video and iter_chunks, and
attnseg.engine.offline.runs.segment_to_files (`attnseg segment`, `attnseg batch`, Ray), which writes each chunk's
frames through the output fan-out as the chunk is done.

A frame's path: FrameReader (decode, one frame at a time) -> Segmenter.encode_batches (preprocess, the
front-end backend, in batches of batch_size: attnseg.engine.encode) -> Segmenter.cluster (affinity of
windows of 3 frames against the chunk's key frames 0, r, 2r, ...; level 1, the later levels, the assignment:
attnseg.model.cluster_video with the chosen kernels) -> the linker (ids) -> upsampled masks.

Within a chunk, exactly the single-piece pipeline. Across chunks, the chunk's final clusters are linked to the
objects of earlier chunks by the streaming tracker (attnseg.engine.tracking): each object's stored query
tokens are re-expressed over the new chunk's key frames and a cluster takes the id of the nearest object
within tau, the criterion of the later merge levels. Ids start at 0 and are never reused, so a chunk that
covers the whole clip gives the single-piece labels exactly. What chunking changes against the paper: ids
across chunks come from this linking, not from the later levels over the whole video, and a frame's
clusters see only its own chunk's key frames.

Memory holds one chunk's q, its key frames' k and one window's affinity; the decoded frames are never kept,
and a chunk's masks are upsampled one frame at a time. Both stay flat whatever the video's length.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from ...errors import InputError, SettingError
from ...model.affinity import key_frame_indices
from ...model.build import WeightsInfo
from ..frames import FrameReader
from ..masks import upsample_labels
from .planning import plan_chunk
from ..timing import StageTimer, Timer
from ..tracking import Tracker  # the linker's type

ONE_PIECE = sys.maxsize  # frames per chunk of a clip segmented whole, whatever its length


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


@dataclass
class SegmentationResult:
    labels: np.ndarray  # (T, h, w) int32
    masks: np.ndarray  # (T, H0, W0) int32
    num_clusters: int
    mode: str  # "st" or "dino-only"
    weights: WeightsInfo
    names: list[str]
    fps: float
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = "eager"
    kernels: str = "torch"

    def stats(self) -> dict:
        """A flat JSON-ready summary: mode, backend, clusters, seconds per stage."""
        used = int(len(np.unique(self.labels)))
        return {
            "mode": self.mode, "backend": self.backend, "kernels": self.kernels, "weights": self.weights.source,
            "frames": int(len(self.labels)), "clusters": self.num_clusters, "clusters_used": used,
            **{k: round(v, 6) for k, v in self.timings.items()},
        }


def segment_clip(segmenter, source, *, progress: bool = False) -> SegmentationResult:
    """A whole clip as one piece, the paper's pipeline, in memory: iter_chunks' one-chunk case."""
    timer = StageTimer(segmenter.device)
    start = time.perf_counter()
    reader = source if isinstance(source, FrameReader) else FrameReader(source)
    bar = StageProgress(reader.info.count, 0, "segment", writing=False) if progress else None
    try:  # a list: an input that breaks mid-way raises once the frames before it were segmented
        chunks = list(iter_chunks(segmenter, reader, chunk=ONE_PIECE, timer=timer, progress=bar))
    finally:
        if bar:
            bar.close()
    if not chunks:
        raise InputError("no frames given")
    (chunk,) = chunks
    with timer("upsample"):
        masks = upsample_labels(chunk.labels, chunk.size)
    timings = {**timer.seconds, "total": time.perf_counter() - start}
    return SegmentationResult(chunk.labels, masks, chunk.clusters, segmenter.mode, segmenter.weights, chunk.names,
                              reader.info.fps, timings, segmenter.backend, segmenter.kernels)


def iter_chunks(segmenter, source, *, chunk: int | None = None, start: int = 0, link: dict | None = None,
                timer: StageTimer | None = None, progress: Callable[[str, int], None] | None = None
                ) -> Iterator[ChunkResult]:
    """Segment `source` (path, FrameReader, arrays) chunk by chunk. chunk: frames per chunk (default: the
    segmenter's config.chunk, planned by plan_chunk); start, link: where a resumed run continues (a chunk
    boundary, and the linker's state there); progress(stage, frames): told the frames through the
    "front-end", then through the "clustering", chunk by chunk. An input that breaks mid-way ends the iteration
    with its InputError after the frames read before it were segmented and yielded."""
    reader = source if isinstance(source, FrameReader) else FrameReader(source)
    length = chunk or plan_chunk(segmenter, reader.info.count, segmenter.config.chunk)
    if start % length:
        raise SettingError(f"a run resumes at a chunk boundary: frame {start} is not a multiple of {length}")
    linker = segmenter.chunk_linker()
    if link:
        linker.load_state_dict(link, segmenter.device)
    timer = timer or StageTimer(segmenter.device)
    frames = reader.frames(start)
    index, broken = start // length, []
    while not broken:
        began = time.perf_counter()
        q, k, names, size = _front_end(segmenter, frames, length, timer, broken, progress)
        if not names:
            break
        labels, clusters = _cluster_and_link(segmenter, linker, q, k, timer, progress)
        yield ChunkResult(index, start, names, labels, size, clusters, linker.next_id,
                          time.perf_counter() - began, linker.state_dict())
        start, index = start + len(names), index + 1
        if len(names) < length:
            break
    if broken:
        raise broken[0]


@torch.inference_mode()
def _front_end(segmenter, frames: Iterator, length: int, timer: Timer, broken: list, progress):
    """q of up to `length` frames and k of those at multiples of the ratio, their names and size; the InputError
    that stops the input mid-chunk goes to `broken` (the frames read before it are still segmented)."""
    ratio = segmenter.config.ratio
    names, size, qs, ks = [], [], [], []

    def decoded() -> Iterator[np.ndarray]:
        while len(names) < length:
            try:
                with timer("decode"):
                    item = next(frames, None)
            except InputError as err:
                broken.append(err)
                return
            if item is None:
                return
            names.append(item[0])
            size[:] = size or item[1].shape[:2]
            yield item[1]

    first = 0  # the batch's first frame, counted in the chunk
    for q, k in segmenter.encode_batches(decoded(), timer):
        qs.append(q.contiguous())  # its own storage: q and k are views of one projection
        ks.extend(k[i].clone() for i in range(len(q)) if (first + i) % ratio == 0)
        if progress:
            if first == 0 and isinstance(progress, StageProgress) and progress.n == progress.done:
                progress.first_batch(segmenter, qs[0], ks[0][None], length)  # the run's first frames: its cost
            progress("front-end", len(q))
        first += len(q)
    if not names:
        return None, None, [], None
    keys = len(key_frame_indices(len(names), ratio))  # a chunk's trailing multiple of r may be no key frame
    return torch.cat(qs), torch.stack(ks[:keys]), names, tuple(size)


@torch.inference_mode()
def _cluster_and_link(segmenter, linker: Tracker, q: torch.Tensor, k: torch.Tensor, timer: Timer, progress):
    result = segmenter.cluster(q, k, timer, progress=progress and (lambda frames: progress("clustering", frames)))
    with timer("linking"):
        tokens = q.permute(0, 2, 1, 3).reshape(-1, q.shape[1], q.shape[3])  # (t * N, heads, d)
        ids = linker.update(tokens, result.labels.reshape(-1), result.centroids, k, segmenter.scale)
    return ids.view(q.shape[0], *segmenter.grid).to(torch.int32).cpu().numpy(), result.num_clusters


def on_terminal() -> bool:
    """stderr is a terminal (a person watches it): a bar redrawn in place; else lines a log keeps."""
    return sys.stderr.isatty()


class StageProgress:
    """One progress bar on stderr (tqdm) for a run's frames going through the front-end, the clustering and the
    writing: `bar(stage, frames)` moves it by those frames times the stage's share of a frame's time, so it moves
    with the work and its estimate of the time left follows the work left. The shares start from a typical CPU
    run's (front-end 70%, clustering 25%, writing 5%) and are measured again after each chunk (`learn`)."""

    SHARES = {"front-end": 0.70, "clustering": 0.25, "writing": 0.05}
    STAGE_SECONDS = {"front-end": ("decode", "preprocess", "backbone"),
                     "clustering": ("affinity", "clustering", "linking"), "writing": ("output",)}

    LINE_EVERY = 10.0  # seconds between two progress lines where stderr is not a terminal (a log, a pipe, CI)

    def __init__(self, total: int | None, done: int, desc: str, *, writing: bool = True):
        from tqdm import tqdm

        self.shares = dict(self.SHARES) if writing else self._normalised({**self.SHARES, "writing": 0.0})
        self.total, self.done, self.desc, self.n = total, done, desc, float(done)
        self.began = self.said = time.monotonic()
        # on a terminal a bar redrawn in place; elsewhere a plain line every LINE_EVERY s, which a log keeps
        self.bar = tqdm(total=total, initial=done, desc=desc, leave=False, dynamic_ncols=True, unit="frame",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total_fmt}{postfix} "
                                   "[{elapsed}<{remaining}, {rate_fmt}]") if on_terminal() else None

    @staticmethod
    def _normalised(shares: dict) -> dict:
        total = sum(shares.values())
        return {k: v / total for k, v in shares.items()}

    def __call__(self, stage: str, frames: int = 1) -> None:
        self.n += frames * self.shares[stage]
        if self.bar is not None:
            self.bar.set_postfix_str(stage, refresh=False)
            self.bar.update(frames * self.shares[stage])
            return
        now = time.monotonic()
        if now - self.said >= self.LINE_EVERY:
            self.said = now
            print(self.line(now), file=sys.stderr, flush=True)

    def first_batch(self, segmenter, q: torch.Tensor, k: torch.Tensor, chunk: int) -> None:
        """What the run will cost here, said once its first frames (q, their k: the first a key frame) are through
        the front-end: the front-end's seconds a frame so far, and the clustering timed on one window of them
        against one key frame, scaled to the run's windows and key frames (a window's cost grows with the key
        frames in its chunk: a clip's clustering with its frames squared)."""
        if not self.total:
            return
        each, left = (time.monotonic() - self.began) / len(q), self.total - self.done
        cfg = segmenter.config
        window = min(cfg.window, len(q))
        began = time.perf_counter()
        segmenter.cluster(q[:window], k[:1])
        probe = time.perf_counter() - began
        keys = math.ceil(min(chunk, self.total) / cfg.ratio)  # key frames a window of a chunk is clustered against
        front, clustering = each * left, probe * left / window * keys
        self.say(f"{self.desc}: {left} frames to go; about {duration(front + clustering)} here (front-end "
                 f"{each:.2f} s a frame, clustering about {duration(clustering)}: {keys} key frame"
                 f"{'s' if keys > 1 else ''} a window)")

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """Where the run is, in one line: frames, the time so far, the time left at this pace."""
        spent, moved = now - self.began, self.n - self.done
        left = f", about {(self.total - self.n) * spent / moved:.0f} s left" if self.total and moved > 0 else ""
        total = f"/{self.total}" if self.total else ""
        return f"{self.desc}: {self.n:.0f}{total} frames, {spent:.0f} s so far{left}"

    def learn(self, seconds: dict[str, float]) -> None:
        """The shares as measured so far (StageTimer.seconds of the chunks done)."""
        spent = {stage: sum(seconds.get(k, 0.0) for k in keys) for stage, keys in self.STAGE_SECONDS.items()
                 if self.shares[stage] > 0}
        if all(v > 0 for v in spent.values()):
            self.shares.update(self._normalised(spent))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 40 s, 3 min 20 s, 1 h 05 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
