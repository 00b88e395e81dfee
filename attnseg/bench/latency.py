"""Latency of the offline pipeline: per-stage percentiles, FPS and peak memory.

Every timed run follows `warmup` untimed ones; stage times come from the
pipeline's StageTimer, which synchronizes CUDA before reading the clock.
Peak host memory is the highest resident set size sampled every 5 ms during the
timed runs (minus the resident size before them); peak device memory is
torch.cuda.max_memory_allocated over the timed runs.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import torch


def summarize(samples: list[float]) -> dict:
    a = np.asarray(samples, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class PeakRSS:
    """Samples the resident set size on a thread while the block runs."""

    def __init__(self, period: float = 0.005):
        self.period, self.base, self.peak = period, 0, 0
        self._stop = threading.Event()

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.period):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def measure(segmenter, frames: np.ndarray, repeats: int = 3, warmup: int = 1) -> tuple[dict, object]:
    """Run `segmenter.segment_video(frames)` warmup + repeats times; figures of the timed runs."""
    for _ in range(warmup):
        segmenter.segment_video(frames)
    cuda = segmenter.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(segmenter.device)
    runs = []
    with PeakRSS() as rss:
        for _ in range(repeats):
            start = time.perf_counter()
            result = segmenter.segment_video(frames)
            runs.append((result, time.perf_counter() - start))
    stages = {}
    for result, _ in runs:
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
    total = [t for _, t in runs]
    figures = {
        "frames": len(frames), "clusters": runs[-1][0].num_clusters, "repeats": repeats, "warmup": warmup,
        "seconds": {stage: summarize(v) for stage, v in stages.items()},
        "end_to_end_seconds": summarize(total),
        "fps": len(frames) / float(np.median(total)),
        "peak_host_mib": round(rss.growth_mib, 1),
    }
    if cuda:
        figures["peak_device_mib"] = round(torch.cuda.max_memory_allocated(segmenter.device) / 2**20, 1)
    return figures, runs[-1][0]
