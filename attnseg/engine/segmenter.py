"""The offline, paper-faithful pipeline: clip -> front-end -> affinity -> clustering -> masks.

    seg = Segmenter.from_checkpoint("checkpoint_dino-s-8.pth")
    result = seg.segment_video("clip.mp4")      # or a folder of frames, or arrays
    result.labels   # (T, h, w) int32 patch labels
    result.masks    # (T, H0, W0) int32 label maps at the original frame size

    for frame in seg.iter_video("long.mp4"):    # any length, in bounded memory (attnseg.engine.chunks)
        frame.index, frame.labels, frame.mask

A frame's path: read_clip (decode) -> preprocess (resize, normalize) ->
FrontEnd (DINO keys -> ST q/k, run by a backend: eager or compiled) ->
cluster_video (windows of 3 frames vs key frames; level 1, later levels,
assignment; the `kernels` choice picks its implementation) -> upsample_labels.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from ..errors import DeviceError
from ..kernels import cluster_ops
from ..kernels.dispatch import Probe, resolve
from ..model import FrontEnd, WeightsInfo, build_frontend, cluster_video
from ..model.frontend import FrontEndMode
from ..settings import Device, ModelSettings, SegmentConfig, replace
from .backends import BackendSpec, load_backend
from .chunks import ChunkResult, FrameResult, iter_chunks
from .frames import Clip, read_clip
from .outputs import upsample_labels
from .preprocess import preprocess
from .timing import StageTimer

log = logging.getLogger(__name__)

MODEL = ModelSettings()


def resolve_device(device: Device | str) -> Device:
    """The device to run on: auto is cuda when a CUDA device is present, else cpu; cuda without one is refused."""
    device = Device.parse(device, "device")
    if device is Device.AUTO:
        return Device.CUDA if torch.cuda.is_available() else Device.CPU
    if device is Device.CUDA and not torch.cuda.is_available():
        raise DeviceError("device cuda asked for, but no CUDA device is available; run on the cpu")
    return device


def load_frontend(model: ModelSettings) -> tuple[FrontEnd, WeightsInfo]:
    """The front-end these settings name, on their device (resolved first); random weights announced loudly."""
    model = replace(model, device=resolve_device(model.device))
    frontend, info = build_frontend(**model.build_kwargs())
    if info.is_random:
        log.warning(RANDOM_BANNER)
    return frontend, info


RANDOM_BANNER = "RANDOM WEIGHTS: masks are meaningless; use them for smoke runs and benchmarks only"


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


class Segmenter:
    def __init__(self, frontend: FrontEnd, weights: WeightsInfo, config: SegmentConfig = SegmentConfig(),
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.frontend = frontend.to(self.device).eval()
        self.weights = weights
        self.config = config
        self.frontend.backbone.grid(*config.resolution)  # refuse a resolution the patches do not tile
        spec = BackendSpec(tuple(config.resolution), config.normalization, config.engine, config.precision,
                           config.threads, weights.sha256, config.batch_size)
        self.run_frontend = load_backend(config.backend, self.frontend, self.device, spec)
        self.backend = self.run_frontend.backend  # what runs: auto's choice, or the backend asked for
        self.kernels = resolve(config.kernels, self.device, self.probe())  # "torch" or "triton"
        self.ops = cluster_ops(self.kernels, self.device)  # the clustering arithmetic, offline and live
        self.cluster_video = functools.partial(cluster_video, ops=self.ops)

    def probe(self) -> Probe:
        """The window `--kernels auto` is timed on: this resolution, heads and window, 4 key frames."""
        grid = self.frontend.backbone.grid(*self.config.resolution)
        return Probe(tokens=grid[0] * grid[1], window=self.config.window, heads=self.frontend.num_heads,
                     head_dim=self.frontend.head_dim, tau=self.config.tau)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | None = None, *, dino_weights: str | None = None,
                        random_weights: bool = False, arch: str = MODEL.arch,
                        config: SegmentConfig | None = None, device: str = MODEL.device.value, seed: int = MODEL.seed,
                        qk_gain: float = MODEL.qk_gain) -> "Segmenter":
        model = ModelSettings(checkpoint=checkpoint, dino_weights=dino_weights, random_weights=random_weights,
                              arch=arch, device=device, seed=seed, qk_gain=qk_gain)
        return cls.from_settings(model, config or SegmentConfig())

    @classmethod
    def from_settings(cls, model: ModelSettings, config: SegmentConfig = SegmentConfig()) -> "Segmenter":
        """Every setting is checked (device, resolution against the arch's patches) before any loading."""
        config.check_patches(model.patch_size)
        model = replace(model, device=resolve_device(model.device))
        frontend, info = load_frontend(model)
        return cls(frontend, info, config, model.device.value)

    @property
    def mode(self) -> FrontEndMode:
        return self.frontend.mode

    @torch.inference_mode()
    def query_keys(self, clip: Clip, timer: StageTimer, progress=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame q, k (T, heads, h*w, d), front-end run in batches of frames."""
        qs, ks = [], []
        step = self.config.batch_size
        for start in range(0, len(clip), step):
            with timer("preprocess"):
                images = preprocess(clip.frames[start:start + step], self.config.resolution,
                                    self.config.normalization).to(self.device)
            with timer("backbone"):
                q, k = self.run_frontend(images)
            qs.append(q)
            ks.append(k)
            if progress:
                progress.update(len(images))
        return torch.cat(qs), torch.cat(ks)

    @torch.inference_mode()
    def segment_video(self, source, *, progress: bool = False) -> SegmentationResult:
        """Segment a whole clip offline (paper-faithful). `source`: path or RGB uint8 frames."""
        timer = StageTimer(self.device)
        start = time.perf_counter()
        with timer("decode"):
            clip = read_clip(source)
        bar = _progress_bar(2 * len(clip), progress)
        q, k = self.query_keys(clip, timer, bar)
        cfg = self.config
        result = self.cluster_video(q, k, self.frontend.scale, ratio=cfg.ratio, tau=cfg.tau, window=cfg.window,
                               timer=timer, progress=bar.update if bar else None)
        grid = self.frontend.backbone.grid(*cfg.resolution)
        labels = result.labels.view(len(clip), *grid).to(torch.int32).cpu().numpy()
        with timer("upsample"):
            masks = upsample_labels(labels, clip.frames.shape[1:3])
        if bar:
            bar.close()
        timings = dict(timer.seconds)
        timings["total"] = time.perf_counter() - start
        return SegmentationResult(labels, masks, result.num_clusters, self.mode, self.weights,
                                  clip.names, clip.fps, timings, self.backend, self.kernels)


    def iter_chunks(self, source, **kwargs) -> Iterator[ChunkResult]:
        """A video of any length chunk by chunk, ids linked across chunks (attnseg.engine.chunks.iter_chunks)."""
        return iter_chunks(self, source, **kwargs)

    def iter_video(self, source, *, chunk: int | None = None) -> Iterator[FrameResult]:
        """Per-frame results of a video of any length, in order, in bounded memory. A clip short enough for one
        piece gives segment_video's labels; longer ones are chunked (config.chunk, or `chunk` frames)."""
        for part in iter_chunks(self, source, chunk=chunk):
            yield from part.frames()


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="segment", leave=False)


def segment_video(source, *, segmenter: Segmenter | None = None, progress: bool = False,
                  **build_kwargs) -> SegmentationResult:
    """One-call API: build a Segmenter (`Segmenter.from_checkpoint(**build_kwargs)`) and run it."""
    segmenter = segmenter or Segmenter.from_checkpoint(**build_kwargs)
    return segmenter.segment_video(source, progress=progress)
