"""Latency of the offline pipeline: per-stage percentiles, FPS and peak memory.

A run is what a user's run is: decode the clip (when given a path), segment it,
write one PNG label map per frame (the "output" stage, into a scratch folder).
Every timed run follows `warmup` untimed ones; stage times come from the
pipeline's StageTimer, which synchronizes CUDA before reading the clock.
Peak host memory is the highest resident set size sampled every 5 ms during the
timed runs (minus the resident size before them); peak device memory is
torch.cuda.max_memory_allocated over the timed runs.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..engine.live.stats import percentiles
from ..engine.outputs.fanout import write_label_pngs


def time_calls(fn, device: torch.device, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `repeats` calls of fn() after `warmup` untimed ones; CUDA events on a GPU."""
    for _ in range(warmup):  # thread pools, cuBLAS heuristics, compiles, page faults
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            seconds.append(start.elapsed_time(stop) / 1e3)
        else:
            t = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t)
    return seconds


def summarize(samples: list[float]) -> dict:
    """p50, p90, p99 (attnseg.engine.live.stats.percentiles, unscaled and unrounded), the mean and the count."""
    return {**percentiles(samples, (50, 90, 99), scale=1.0, digits=None), "mean": float(np.mean(samples)),
            "n": len(samples)}


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


def timed_run(segmenter, source, out_dir: str | Path):
    """One user-shaped run: segment (decode included) and write the label maps; (result, seconds)."""
    start = time.perf_counter()
    result = segmenter.segment_video(source)
    written = time.perf_counter()
    write_label_pngs(out_dir, result.masks, result.names)
    seconds = time.perf_counter() - start
    result.timings["output"] = seconds - (written - start)
    result.timings["total"] = seconds
    return result, seconds


def measure(segmenter, source, repeats: int = 3, warmup: int = 1,
            progress: Callable[[str], None] | None = None) -> tuple[dict, object]:
    """Time `warmup` + `repeats` runs of `source` (a path, or RGB frames); figures of the timed runs.
    `progress` hears one line per run as it ends (long runs on a small CPU take minutes each)."""
    cuda = segmenter.device.type == "cuda"
    runs = []
    total_runs = warmup + repeats

    def report(i: int, result, seconds: float) -> None:
        if progress:
            kind = "warm-up" if i < warmup else "timed"
            n = result.num_clusters
            progress(f"run {i + 1}/{total_runs} ({kind}): {seconds:.2f} s, {n} cluster{'' if n == 1 else 's'}")

    with tempfile.TemporaryDirectory(prefix="attnseg-bench-") as out_dir:
        for i in range(warmup):
            report(i, *timed_run(segmenter, source, out_dir))
        if cuda:
            torch.cuda.reset_peak_memory_stats(segmenter.device)
        with PeakRSS() as rss:
            for i in range(repeats):
                runs.append(timed_run(segmenter, source, out_dir))
                report(warmup + i, *runs[-1])
    stages = {}
    for result, _ in runs:
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
    total = [t for _, t in runs]
    frames = len(runs[-1][0].labels)
    figures = {
        "frames": frames, "clusters": runs[-1][0].num_clusters, "repeats": repeats, "warmup": warmup,
        "seconds": {stage: summarize(v) for stage, v in stages.items()},
        "end_to_end_seconds": summarize(total),
        "fps": frames / float(np.median(total)),
        "peak_host_mib": round(rss.growth_mib, 1),
    }
    if cuda:
        figures["peak_device_mib"] = round(torch.cuda.max_memory_allocated(segmenter.device) / 2**20, 1)
    return figures, runs[-1][0]
