"""The standard latency suite (`attnseg bench`): one record per configuration.

Each configuration segments the same clip (a DAVIS-like synthetic one unless a
clip is given) with warm-up and repeats, and records per-stage p50/p90/p99,
end-to-end latency, FPS, peak memory and a parity figure: the share of tokens
whose label equals the plain reference clustering (model.clustering) run on the
same front-end output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..engine import SegmentConfig, Segmenter
from ..engine.sources import Clip
from ..engine.synthetic import synthetic_clip
from ..engine.timing import StageTimer
from ..model.clustering import cluster_video
from .latency import measure
from .records import write_record


@dataclass(frozen=True)
class BenchConfig:
    arch: str = "vit_small_8"
    resolution: tuple[int, int] = (160, 256)
    device: str = "cpu"
    backend: str = "eager"
    kernels: str = "torch"
    batch_size: int = 8

    @property
    def name(self) -> str:
        h, w = self.resolution
        return f"bench_{self.device}_{self.backend}_{self.kernels}_{self.arch}_{h}x{w}_b{self.batch_size}"


def default_configs(device: str) -> list[BenchConfig]:
    """What runs in reasonable time here: 320x480 costs minutes per run on a small CPU."""
    resolutions = [(160, 256), (320, 480)] if device == "cuda" else [(160, 256)]
    return [BenchConfig(resolution=r, device=device) for r in resolutions]


def parity(segmenter: Segmenter, frames: np.ndarray, labels: np.ndarray) -> float:
    """Share of tokens labelled as the reference clustering labels them (same q, k)."""
    clip = Clip(frames, [f"{i:05d}" for i in range(len(frames))])
    q, k = segmenter.query_keys(clip, StageTimer(segmenter.device))
    cfg = segmenter.config
    ref = cluster_video(q, k, segmenter.frontend.scale, ratio=cfg.ratio, tau=cfg.tau, window=cfg.window)
    return float((ref.labels.view(labels.shape).cpu().numpy() == labels).mean())


def run_config(cfg: BenchConfig, frames: np.ndarray, *, checkpoint: str | None = None, qk_gain: float = 3.0,
               repeats: int = 3, warmup: int = 1, results: str | None = None, clip_name: str = "synthetic"):
    seg_cfg = SegmentConfig(resolution=cfg.resolution, batch_size=cfg.batch_size)
    segmenter = Segmenter.from_checkpoint(checkpoint, random_weights=checkpoint is None, arch=cfg.arch,
                                          config=seg_cfg, device=cfg.device, qk_gain=qk_gain)
    with torch.inference_mode():
        figures, last = measure(segmenter, frames, repeats, warmup)
        figures["parity_vs_reference"] = parity(segmenter, frames, last.labels)
    settings = {**cfg.__dict__, "resolution": list(cfg.resolution), "clip": clip_name,
                "weights": "checkpoint" if checkpoint else f"random (ST q/k x{qk_gain})",
                "ratio": seg_cfg.ratio, "tau": seg_cfg.tau}
    path = write_record(cfg.name, settings, figures, results) if results else None
    return figures, path


def standard_frames(num_frames: int = 30, size: tuple[int, int] = (480, 854), seed: int = 0) -> np.ndarray:
    frames, _ = synthetic_clip(num_frames, *size, seed=seed)
    return frames
