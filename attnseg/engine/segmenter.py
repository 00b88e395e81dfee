"""The Segmenter: a front-end with its backend and a clustering with its kernels, and the steps every path calls.

    seg = Segmenter.from_checkpoint("checkpoint_dino-s-8.pth")
    result = seg.segment_video("clip.mp4")      # or a folder of frames, or arrays: one piece, in memory
    result.labels   # (T, h, w) int32 patch labels
    result.masks    # (T, H0, W0) int32 label maps at the original frame size

    for frame in seg.iter_video("long.mp4"):    # any length, in bounded memory (attnseg.engine.offline.pipeline)
        frame.index, frame.labels, frame.mask

The steps, one method each, called by the offline path (offline/pipeline.py), the streaming runtime (live/runtime.py),
the Ray actors and the latency suite:
- `encode(frames)` / `encode_batches(frames)`: frames -> q, k (preprocess, batches, the backend, timing;
  attnseg.engine.encode);
- `cluster(q, k)`: the paper's clustering of a clip (attnseg.model.cluster_video with the chosen kernels);
- `chunk_linker()`: the tracker that links a long video's chunks.
The streaming algorithm on a segmenter: attnseg.engine.live.stream_segmenter.StreamSegmenter.of(segmenter).
`scale` (the affinity's temperature) and `grid` (patches per column and row) describe its output.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..errors import DeviceError
from ..kernels import cluster_ops
from ..kernels.dispatch import Probe, resolve
from ..model import ClusterResult, FrontEnd, WeightsInfo, build_frontend, cluster_video
from ..settings import (Backend, Device, FrontEndMode, ModelSettings, SegmentSettings, SessionSettings,
                        random_qk_gain)
from .backends import load_backend
from .encode import encode_batch, encode_batches
from .offline.pipeline import ChunkResult, FrameResult, SegmentationResult, iter_chunks, segment_clip
from .timing import Timer, untimed
from .tracking import Tracker

log = logging.getLogger(__name__)

MODEL = ModelSettings()
RANDOM_BANNER = ("RANDOM WEIGHTS: the masks are meaningless (a patchwork that shows the pipeline working); real "
                 "ones need the paper's checkpoint")


def resolve_device(device: Device | str) -> Device:
    """The device to run on: auto is cuda when a CUDA device is present, else cpu; cuda without one is refused."""
    device = Device.parse(device, "device")
    if device is Device.AUTO:
        return Device.CUDA if torch.cuda.is_available() else Device.CPU
    if device is Device.CUDA and not torch.cuda.is_available():
        raise DeviceError("device cuda asked for, but no CUDA device is available; run on the cpu")
    return device


def load_frontend(model: ModelSettings, resolution: tuple[int, int]) -> tuple[FrontEnd, WeightsInfo]:
    """The front-end these settings name, on their device (resolved once, here, before any loading: auto becomes
    cuda or cpu); random weights announced loudly, their q/k gain chosen for this ViT and `resolution` unless
    given (attnseg.settings.random_qk_gain)."""
    if model.random_weights and model.qk_gain is None:
        model = dataclasses.replace(model, qk_gain=random_qk_gain(model.arch, resolution))
    frontend, info = build_frontend(**dataclasses.replace(model, device=resolve_device(model.device)).build_kwargs())
    if info.is_random:
        log.warning(RANDOM_BANNER)
    return frontend, info


class Segmenter:
    def __init__(self, frontend: FrontEnd, weights: WeightsInfo, config: SegmentSettings = SegmentSettings(),
                 device: str | torch.device = "cpu", *, measure: bool = True):
        self.device = torch.device(device)
        self.frontend = frontend.to(self.device).eval()
        self.weights = weights
        self.config = config
        self.grid = self.frontend.backbone.grid(*config.resolution)  # refuses a resolution the patches do not tile
        self.run_frontend = load_backend(config, self.frontend, self.device, weights.sha256, measure=measure)
        self.backend = self.run_frontend.backend  # what runs: auto's choice, or the backend asked for
        self.kernels = resolve(config.kernels, self.device, self.probe())  # "torch", "triton" or "certified"
        self.ops = cluster_ops(self.kernels, self.device)  # the clustering arithmetic, offline and live

    def probe(self) -> Probe:
        """The window `--kernels auto` is timed on: this resolution, heads and window, 4 key frames."""
        return Probe(tokens=self.grid[0] * self.grid[1], window=self.config.window, heads=self.frontend.num_heads,
                     head_dim=self.frontend.head_dim, tau=self.config.tau)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | None = None, *, dino_weights: str | None = None,
                        random_weights: bool = False, arch: str = MODEL.arch,
                        config: SegmentSettings | None = None, device: str = MODEL.device.value, seed: int = MODEL.seed,
                        qk_gain: float = MODEL.qk_gain) -> "Segmenter":
        model = ModelSettings(checkpoint=checkpoint, dino_weights=dino_weights, random_weights=random_weights,
                              arch=arch, device=device, seed=seed, qk_gain=qk_gain)
        return cls.from_settings(SessionSettings(model=model, segment=config or SegmentSettings()))

    @classmethod
    def from_settings(cls, settings: SessionSettings, steps: Callable[[str], None] = lambda step: None, *,
                      measure: bool = True) -> "Segmenter":
        """The front-end and clustering of a session's settings (checked when they were made: the resolution
        against the arch's patches); the device is resolved once, as the weights load. `steps` hears each step
        as it starts (a page shows them while it waits for its first frame); `measure=False`: backend auto
        measures nothing now (a short clip, attnseg.engine.backends.load_backend)."""
        segment = settings.segment
        steps("loading the weights")
        frontend, info = load_frontend(settings.model, segment.resolution)
        steps("choosing the front-end's backend (auto: measured once per machine and model)"
              if segment.backend is Backend.AUTO else f"building the {segment.backend} front-end")
        return cls(frontend, info, segment, next(frontend.parameters()).device.type,  # "cuda" or "cpu"
                   measure=measure)

    @property
    def mode(self) -> FrontEndMode:
        return self.frontend.mode

    @property
    def mode_line(self) -> str:
        """The mode in one line for a run's output; with random weights it says so (the paper's structure, none of
        its results) rather than "the paper's method" under the banner."""
        line = self.mode.description
        if self.weights.is_random:
            line = line.replace("the paper's method", "the paper's structure with RANDOM weights, not its results")
        return line

    @property
    def scale(self) -> float:
        """The affinity's softmax temperature: head_dim ** -0.5."""
        return self.frontend.scale

    # -- the steps ---------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def encode_batches(self, frames: Iterable[np.ndarray], timer: Timer = untimed
                       ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """q, k (b, heads, h*w, d) of each batch of config.batch_size frames (H0, W0, 3) uint8 RGB, as they come."""
        cfg = self.config
        yield from encode_batches(frames, self.run_frontend, resolution=cfg.resolution,
                                  normalization=cfg.normalization, device=self.device, batch_size=cfg.batch_size,
                                  timer=timer)

    def encode(self, frames: Iterable[np.ndarray], timer: Timer = untimed) -> tuple[torch.Tensor, torch.Tensor]:
        """q, k (T, heads, h*w, d) of the frames, the front-end run in batches of config.batch_size."""
        qs, ks = zip(*self.encode_batches(frames, timer))
        return torch.cat(qs), torch.cat(ks)

    @torch.inference_mode()
    def encode_frame_batch(self, frames: list[np.ndarray], keys: bool = True) -> tuple[torch.Tensor,
                                                                                      torch.Tensor | None]:
        """q, k of frames that go through the front-end together (a stream's); keys=False: k is None when the
        backend can leave it out (no key frame among them: nothing reads their k)."""
        cfg = self.config
        return encode_batch(frames, self.run_frontend, cfg.resolution, cfg.normalization, self.device, untimed, keys)

    @torch.inference_mode()
    def cluster(self, q: torch.Tensor, k: torch.Tensor, timer: Timer = untimed, progress=None) -> ClusterResult:
        """The paper's clustering of a clip's q, k (k: every frame's, or the key frames' only)."""
        cfg = self.config
        return cluster_video(q, k, self.scale, ratio=cfg.ratio, tau=cfg.tau, window=cfg.window, timer=timer,
                             progress=progress, ops=self.ops)

    def chunk_linker(self) -> Tracker:
        """The tracker that links a long video's chunks: ids from 0, the segmentation's tau, ages in chunks."""
        cfg = self.config
        return Tracker(cfg.tau, cfg.link_max_age, cfg.link_tokens, self.ops)

    # -- the offline faces (attnseg.engine.offline.pipeline) ---------------------------------------------------------------

    def segment_video(self, source, *, progress: bool = False) -> SegmentationResult:
        """Segment a whole clip offline (paper-faithful), in memory. `source`: path or RGB uint8 frames."""
        return segment_clip(self, source, progress=progress)

    def iter_chunks(self, source, **kwargs) -> Iterator[ChunkResult]:
        """A video of any length chunk by chunk, ids linked across chunks (attnseg.engine.offline.pipeline.iter_chunks)."""
        return iter_chunks(self, source, **kwargs)

    def iter_video(self, source, *, chunk: int | None = None) -> Iterator[FrameResult]:
        """Per-frame results of a video of any length, in order, in bounded memory. A clip short enough for one
        piece gives segment_video's labels; longer ones are chunked (config.chunk, or `chunk` frames)."""
        for part in iter_chunks(self, source, chunk=chunk):
            yield from part.frames()


def segment_video(source, *, segmenter: Segmenter | None = None, progress: bool = False,
                  **build_kwargs) -> SegmentationResult:
    """One-call API: build a Segmenter (`Segmenter.from_checkpoint(**build_kwargs)`) and run it."""
    segmenter = segmenter or Segmenter.from_checkpoint(**build_kwargs)
    return segmenter.segment_video(source, progress=progress)
