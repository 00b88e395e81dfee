"""Memory of a live stream over 10,000 frames: the default live path (causal windows, carried frames, the live
page drawing what a viewer asks for) on the synthetic clip played as a fast live camera, resident memory
sampled every 500 frames.

The camera delivers frames faster than the engine takes them (--fps, default 150), so most frames are carried
and every part of the path runs: capture, front-end, clustering, tracks, carrying, the page. A viewer asks for
every 5th frame's overlay. Memory is flat when the resident set after the warm-up stays within a few MB.

    python -m benchmarks.live_memory
Record: live_memory_cpu_vit_small_16_160x240.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from .common import write_record  # noqa: E402

from attnseg.bench.load import paper_checkpoint  # noqa: E402
from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.live.sources import ArraySource  # noqa: E402
from attnseg.engine.live.runtime import StreamRuntime  # noqa: E402
from attnseg.engine.synthetic import SyntheticClip  # noqa: E402
from attnseg.presets import PRESETS  # noqa: E402
from attnseg.settings import StreamSettings  # noqa: E402
from attnseg.view import LiveServer  # noqa: E402

LIVE_QK_GAIN = 5.0


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--fps", type=float, default=150.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = paper_checkpoint(Path(tmp), "vit_small_16", LIVE_QK_GAIN)
        seg = Segmenter.from_checkpoint(str(checkpoint), arch="vit_small_16",
                                        config=SegmentSettings(resolution=(160, 240)))
    runtime = StreamRuntime(seg, StreamSettings())
    source = ArraySource(SyntheticClip(args.frames, 480, 854), fps=args.fps, live=True, name="synthetic")
    server = LiveServer(port=0)
    samples, start = [], time.monotonic()
    try:
        for i, r in enumerate(runtime.stream(source, PRESETS["live"].runtime)):
            server.write(r.output_frame(0, {}))
            if i % 5 == 0:
                server.view()
            if r.frame_id // 500 >= len(samples):
                samples.append({"frame": r.frame_id, "resident_mb": round(resident_mb(), 1),
                                "seconds": round(time.monotonic() - start, 1)})
                print(samples[-1], flush=True)
    finally:
        server.close()
    stats = runtime.stats.to_dict()
    after = [s["resident_mb"] for s in samples if s["frame"] >= 1000]
    figures = {"samples": samples, "resident_mb_from_frame_1000": {"min": min(after), "max": max(after),
                                                                    "growth": round(max(after) - after[0], 1)},
               "frames_in": stats["frames_in"], "segmented": stats["frames_processed"],
               "carried": stats["frames_carried"], "dropped": stats["frames_dropped"]}
    settings = {"source": f"synthetic clip, {args.frames} frames at 480x854, a live camera at {args.fps:g} fps",
                "arch": "vit_small_16", "resolution": [160, 240], "checkpoint": f"paper-format random, q/k x"
                f"{LIVE_QK_GAIN:g}", "command": "python -m benchmarks.live_memory",
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    print(f"wrote {write_record('live_memory_cpu_vit_small_16_160x240', settings, figures)}")


if __name__ == "__main__":
    main()
