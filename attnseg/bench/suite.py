"""The latency suite (`attnseg bench`): one JSON record per configuration.

A configuration is backend x kernels x resolution x arch x batch on a device.
Each one segments the same clip (by default a synthetic DAVIS-sized clip
written as JPEGs, so decoding is real) with warm-up and repeats, and records:
- per-stage and end-to-end p50/p90/p99, FPS, peak host/device memory;
- parity: the share of tokens labelled as the plain reference pipeline
  (eager front-end + attnseg.model.cluster_video) labels them, same clip;
- the cost model (bench.costs): per-stage FLOPs, bytes and fraction of the
  machine's measured peaks (bench.peaks).

`compare` runs the reference pipeline and the configured engine on the same
clip in one process and records the per-stage and end-to-end ratios.

A configuration is typed settings (ModelSettings and SegmentSettings from the
"bench" preset of attnseg.settings, a few fields changed), so a new backend or
kernel set joins the suite by its Backend or Kernels name, not by code here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..engine import Segmenter
from ..engine.synthetic import synthetic_clip
from ..presets import PRESETS
from ..settings import Backend, Kernels, SessionSettings
from .costs import count_costs, fraction_of_peak
from .latency import measure
from .records import write_record

BENCH = PRESETS["bench"]  # the suite's defaults: vit_small_8 at 160x256, eager front-end, the reference clustering


class BenchConfig:
    """One configuration: the "bench" preset's ModelSettings and SegmentSettings with the given fields changed
    (each validated as the settings are)."""

    def __init__(self, *, arch: str | None = None, resolution: tuple[int, int] | None = None, device: str | None = None,
                 backend: str | None = None, kernels: str | None = None, batch_size: int | None = None):
        given = lambda **fields: {k: v for k, v in fields.items() if v is not None}  # noqa: E731
        self.model = dataclasses.replace(BENCH.model, **given(arch=arch, device=device))
        self.segment = dataclasses.replace(BENCH.segment, **given(resolution=resolution, backend=backend,
                                                                     kernels=kernels, batch_size=batch_size))

    arch = property(lambda self: self.model.arch)
    device = property(lambda self: self.model.device.value)
    resolution = property(lambda self: self.segment.resolution)
    backend = property(lambda self: self.segment.backend.value)
    kernels = property(lambda self: self.segment.kernels.value)
    batch_size = property(lambda self: self.segment.batch_size)

    @property
    def name(self) -> str:
        h, w = self.resolution
        return f"{self.device}_{self.backend}_{self.kernels}_{self.arch}_{h}x{w}_b{self.batch_size}"

    def settings(self) -> dict:
        return {"arch": self.arch, "resolution": list(self.resolution), "device": self.device, "backend": self.backend,
                "kernels": self.kernels, "batch_size": self.batch_size}


REFERENCE = {"backend": Backend.EAGER, "kernels": Kernels.TORCH}


def default_configs(device: str) -> list[BenchConfig]:
    """The standard suite: every backend at 160x256; on a GPU also 320x480 (minutes per run on a small CPU)
    and the Triton kernels (on a CPU they only run under the interpreter, which is not a speed)."""
    resolutions = [(160, 256), (320, 480)] if device == "cuda" else [(160, 256)]
    kernels = ("torch", "triton") if device == "cuda" else ("torch",)
    return [BenchConfig(resolution=r, device=device, backend=b, kernels=k)
            for r in resolutions for b in ("eager", "compiled") for k in kernels]


def build(cfg: BenchConfig, checkpoint: str | None, qk_gain: float) -> Segmenter:
    model = dataclasses.replace(cfg.model, checkpoint=checkpoint, random_weights=checkpoint is None, qk_gain=qk_gain)
    return Segmenter.from_settings(SessionSettings(model=model, segment=cfg.segment))


def reference_of(segmenter: Segmenter) -> Segmenter:
    """The plain reference pipeline on the same weights: eager front-end, model clustering."""
    cfg = dataclasses.replace(segmenter.config, **REFERENCE)
    return Segmenter(segmenter.frontend, segmenter.weights, cfg, segmenter.device)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def cost_model(segmenter: Segmenter, source, seconds: dict, peaks: dict) -> dict:
    """Per-stage FLOPs/bytes (counted on one run) against the measured p50 of each stage."""
    costs = count_costs(segmenter, source)
    return {stage: {**cost, **fraction_of_peak(cost, seconds[stage]["p50"], peaks)}
            for stage, cost in costs.items() if stage in seconds}


def run_config(cfg: BenchConfig, source, *, checkpoint: str | None = None, qk_gain: float = 3.0,
               repeats: int = 3, warmup: int = 1, results: str | None = None, clip_name: str = "synthetic",
               peaks: dict | None = None, load: str | None = None, progress=None):
    """Measure one configuration; (figures, record path or None). `load` names the weights in the record
    (default: the checkpoint's name, or random weights at `qk_gain`); `progress` hears a line per run."""
    segmenter = build(cfg, checkpoint, qk_gain)
    tally = segmenter.ops.tally
    with torch.inference_mode():
        figures, last = measure(segmenter, source, repeats, warmup, progress)
        if tally is not None:  # what the certified decisions recomputed, over the warm-up and timed runs
            figures["certificate"] = tally.as_dict()
        reference = reference_of(segmenter).segment_video(source)
    figures["parity_vs_reference"] = agreement(last.labels, reference.labels)
    figures["reference_clusters"] = reference.num_clusters
    if peaks:
        figures["peaks"] = peaks
        figures["cost_model"] = cost_model(segmenter, source, figures["seconds"], peaks)
    settings = {**cfg.settings(), **_run_settings(segmenter, checkpoint, qk_gain, clip_name, load)}
    path = write_record(f"bench_{cfg.name}_{_slug(clip_name)}", settings, figures, results) if results else None
    return figures, path


def compare(cfg: BenchConfig, source, *, checkpoint: str | None = None, qk_gain: float = 3.0,
            repeats: int = 3, warmup: int = 1, results: str | None = None, clip_name: str = "synthetic",
            load: str | None = None, progress=None):
    """Reference pipeline vs the configured engine on the same clip, one process; ratios > 1: engine faster."""
    engine = build(cfg, checkpoint, qk_gain)
    reference = reference_of(engine)
    with torch.inference_mode():
        ref_figures, ref_last = measure(reference, source, repeats, warmup, progress)
        eng_figures, eng_last = measure(engine, source, repeats, warmup, progress)
    ratio = {stage: ref_figures["seconds"][stage]["p50"] / eng_figures["seconds"][stage]["p50"]
             for stage in ref_figures["seconds"] if stage in eng_figures["seconds"]
             and eng_figures["seconds"][stage]["p50"] > 0}
    ratio["end_to_end"] = ref_figures["end_to_end_seconds"]["p50"] / eng_figures["end_to_end_seconds"]["p50"]
    figures = {"reference": ref_figures, "engine": eng_figures, "speedup_p50": ratio,
               "label_agreement": agreement(eng_last.labels, ref_last.labels)}
    settings = {**cfg.settings(), "reference": REFERENCE,
                **_run_settings(engine, checkpoint, qk_gain, clip_name, load)}
    path = write_record(f"compare_{cfg.name}_{_slug(clip_name)}", settings, figures, results) if results else None
    return figures, path


def _slug(clip_name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in clip_name.split()[0].lower())


def _run_settings(segmenter: Segmenter, checkpoint, qk_gain, clip_name, load=None) -> dict:
    weights = load or (Path(checkpoint).name if checkpoint else f"random (ST q/k x{qk_gain})")
    return {"clip": clip_name, "weights": weights,
            "ratio": segmenter.config.ratio, "tau": segmenter.config.tau}


def standard_frames(num_frames: int = 30, size: tuple[int, int] = (480, 854), seed: int = 0) -> np.ndarray:
    frames, _ = synthetic_clip(num_frames, *size, seed=seed)
    return frames


def write_jpeg_clip(frames: np.ndarray, folder: str | Path, quality: int = 90) -> Path:
    """Frames as a DAVIS-like folder of JPEGs (00000.jpg ...), so benchmarks decode real files."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.jpg", quality=quality)
    return folder


def standard_clip(workdir: str | Path, num_frames: int = 30) -> Path:
    """The synthetic standard clip (480x854, DAVIS 480p size) as JPEGs under `workdir`."""
    return write_jpeg_clip(standard_frames(num_frames), Path(workdir) / "standard_clip")

