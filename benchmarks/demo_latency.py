"""The live demo's capture-to-mask latency on a video file, as a user runs it: paced with drop-oldest (the
demo's default) against every frame queued (--no-realtime --drop wait), in the same run.

The file: the DAVIS clips of ../shared (all five, 300 frames at 480x854) written as one 24 fps video, else
the synthetic clip at that size. Each mode runs `python demo_webcam.py --source FILE --page --port 0` (the
"live" preset: vit_small_16 at 160x240) to the end of the file and reads the demo's closing line: frames
segmented, fps, latency p50/p99 and frames dropped. The latency is the streaming runtime's: from the moment
a frame is read (at its time in the file, when paced) to its mask.

    python benchmarks/demo_latency.py
Record: demo_latency_cpu_vit_small_16_160x240.json.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DAVIS_FRAMES, write_record  # noqa: E402

from attnseg.bench.load import QK_GAIN, paper_checkpoint  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"demo: (\d+) frames, ([\d.]+) fps, latency p50 ([\d.]+) ms p99 ([\d.]+) ms, dropped (\d+)")
MODES = {"paced, drop-oldest (default)": [], "every frame queued": ["--no-realtime", "--drop", "wait"]}


def write_video(path: Path, fps: float) -> str:
    import cv2

    clips = sorted(DAVIS_FRAMES.iterdir()) if DAVIS_FRAMES.is_dir() else []
    frames = [f for clip in clips for f in read_clip(clip).frames] or \
        list(synthetic_clip(num_frames=300, height=480, width=854)[0])
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(cv2.resize(f, (w, h)), cv2.COLOR_RGB2BGR))
    writer.release()
    return f"{len(frames)} frames of {', '.join(c.name for c in clips) or 'the synthetic clip'} at {fps:g} fps"


def run(video: Path, checkpoint: Path, extra: list[str]) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "demo_webcam.py"), "--source", str(video), "--page", "--port",
                          "0", "--checkpoint", str(checkpoint), *extra], capture_output=True, text=True, timeout=900)
    match = SUMMARY.search(out.stderr)
    if not match:
        raise RuntimeError(f"no summary from the demo:\n{out.stderr}")
    frames, fps, p50, p99, dropped = match.groups()
    return {"frames_segmented": int(frames), "fps": float(fps), "latency_ms": {"p50": float(p50), "p99": float(p99)},
            "frames_dropped": int(dropped)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=24.0, help="the file's frame rate")
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "davis.mp4"
        source = write_video(video, args.fps)
        checkpoint = paper_checkpoint(Path(tmp), "vit_small_16", QK_GAIN)
        runs = {mode: [] for mode in MODES}
        for _ in range(args.repeats):
            for mode, extra in MODES.items():
                runs[mode].append(run(video, checkpoint, extra))
                r = runs[mode][-1]
                print(f"{mode}: p50 {r['latency_ms']['p50']:.0f} ms, p99 {r['latency_ms']['p99']:.0f} ms, "
                      f"{r['fps']:.1f} fps, {r['frames_segmented']} segmented, {r['frames_dropped']} dropped",
                      flush=True)
    figures = {mode: {"runs": rs, "latency_ms_p50_median": float(np.median([r["latency_ms"]["p50"] for r in rs])),
                      "latency_ms_p99_median": float(np.median([r["latency_ms"]["p99"] for r in rs]))}
               for mode, rs in runs.items()}
    settings = {"source": source, "command": "python demo_webcam.py --source FILE --page --port 0 --checkpoint CKPT",
                "arch": "vit_small_16", "resolution": [160, 240], "checkpoint": f"paper-format random, q/k x{QK_GAIN:g}",
                "repeats": args.repeats, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": torch.get_num_threads()}
    print(f"wrote {write_record('demo_latency_cpu_vit_small_16_160x240', settings, figures)}")


if __name__ == "__main__":
    main()
