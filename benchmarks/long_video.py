"""Long videos through `attnseg segment`: resident memory and frames/s against the video's length.

For each length (default 300, 3000 and 18000 frames: 10 s, 100 s and 10 min at 30 fps), a generated
1920x1080 video (a scrolling textured background and two moving shapes, mp4v; written once into
--videos and reused) is segmented by the command users run, in its own process:

    python -m attnseg segment VIDEO --random-weights --arch vit_small_16 --resolution 160 256 --qk-gain 6
           --out PNGS --save-labels LABELS.npy --chunk-log CHUNKS.jsonl --stats-json STATS.json

The child's resident memory is sampled every 0.25 s from /proc; its peak comes from wait4 (ru_maxrss).
Frames/s per chunk come from the chunk log (decoding to labels; writing the chunk's files is not in them,
the whole run's frames/s has everything). The record says whether memory and time per frame stay flat:
the resident memory in the last tenth of the run against the first tenth after warm-up, and the frames/s of
the last chunks against the first ones (same run, same host: ratios, not absolute speeds).

    python -m benchmarks.long_video                       # all three lengths, about 40 min on 2 cores
    python -m benchmarks.long_video --frames 300 --keep   # one length, outputs kept under --work

Record: long_video_{device}_{arch}_{H}x{W}.json.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .common import parse, parser, write_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def generate(path: Path, frames: int, size=(1080, 1920), fps: float = 30.0) -> Path:
    """A video of `frames` frames at `size`: a blurred random texture scrolling right to left, a disc moving
    across and a square moving down (cheap to draw at 1080p: about 12 ms a frame with the encoding)."""
    import cv2

    if path.is_file():
        return path
    h, w = size
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (h // 8, w // 4, 3), dtype=np.uint8), (5, 5), 0)
    background = cv2.resize(texture, (2 * w, h), interpolation=cv2.INTER_LINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        x = (4 * i) % w
        frame = background[:, x:x + w].copy()
        cv2.circle(frame, ((200 + 7 * i) % w, h // 3), h // 7, (40, 40, 220), -1)
        top = (100 + 5 * i) % (h - h // 3)
        cv2.rectangle(frame, (2 * w // 3, top), (2 * w // 3 + h // 4, top + h // 4), (220, 60, 40), -1)
        writer.write(frame)
    writer.release()
    os.replace(tmp, path)
    return path


def rss_sampler(pid: int, samples: list, stop: threading.Event, period: float = 0.25) -> None:
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            samples.append((time.monotonic(), rss / 1024))
        except (OSError, StopIteration):
            return
        stop.wait(period)


def run_one(video: Path, work: Path, args) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    chunk_log, stats = work / "chunks.jsonl", work / "stats.json"
    chunk_log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "attnseg", "segment", str(video), "--random-weights", "--arch", args.arch,
               "--resolution", *map(str, args.resolution), "--qk-gain", str(args.qk_gain), "--out", str(work / "png"),
               "--save-labels", str(work / "labels.npy"), "--chunk-log", str(chunk_log), "--stats-json", str(stats),
               "--no-progress", "--overwrite"]  # --work may hold this driver's outputs of an earlier run
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.monotonic()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=rss_sampler, args=(child.pid, samples, stop), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    out, err = child.stdout.read(), child.stderr.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"attnseg segment failed ({child.returncode}): {err.strip().splitlines()[-1:]}")
    chunks = [json.loads(line) for line in chunk_log.read_text().splitlines()]
    summary = json.loads(stats.read_text())
    fps = [c["fps"] for c in chunks]
    n = max(1, len(chunks) // 10)
    rss = [r for _, r in samples]
    tenth = max(1, len(rss) // 10)
    early, late = rss[tenth:2 * tenth] or rss[:1], rss[-tenth:]
    return {
        "frames": summary["frames"], "chunks": summary["chunks"], "chunk_frames": summary["chunk_frames"],
        "clusters_per_chunk_median": statistics.median(c["clusters"] for c in chunks), "ids": summary["ids"],
        "wall_s": round(wall, 1), "fps": round(summary["frames"] / wall, 2),
        "fps_chunks": {"min": min(fps), "median": statistics.median(fps), "max": max(fps),
                       "first_tenth": round(statistics.mean(fps[:n]), 2), "last_tenth": round(statistics.mean(fps[-n:]), 2)},
        "fps_last_over_first": round(statistics.mean(fps[-n:]) / statistics.mean(fps[:n]), 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "rss_mb": {"second_tenth": round(statistics.mean(early), 1), "last_tenth": round(statistics.mean(late), 1),
                   "max_sampled": round(max(rss), 1), "samples": len(rss)},
        "rss_last_over_early": round(statistics.mean(late) / statistics.mean(early), 3),
        "stages_s": {k: summary[k] for k in ("decode", "preprocess", "backbone", "affinity", "clustering", "linking",
                                             "output") if k in summary},
        "outputs_mb": round(sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / 2**20, 1),
        "stdout": out.strip().splitlines()[-1],
    }


def main() -> int:
    p = parser(__doc__, "bench", arch="vit_small_16", qk_gain=6.0)  # sharpened random weights: tens of clusters
    p.add_argument("--frames", type=int, nargs="+", default=[300, 3000, 18000])
    p.add_argument("--videos", type=Path, default=Path(os.environ.get("ATTNSEG_CACHE", Path.home() / ".cache" / "attnseg"))
                   / "bench-videos", help="where the generated videos are kept (about 18 KB a frame)")
    p.add_argument("--work", type=Path, help="outputs of each run (default: a temporary folder, removed)")
    p.add_argument("--keep", action="store_true", help="keep the outputs")
    p.add_argument("--name", help="record name (default: long_video_cpu_{arch}_{H}x{W})")
    args = parse(p)
    work = args.work or Path(tempfile.mkdtemp(prefix="attnseg-long-"))
    runs = {}
    for frames in args.frames:
        t = time.monotonic()
        video = generate(args.videos / f"synthetic_1080p_{frames}.mp4", frames)
        print(f"{frames} frames: video ready in {time.monotonic() - t:.0f} s ({video})", file=sys.stderr)
        runs[str(frames)] = run_one(video, work / str(frames), args)
        print(json.dumps(runs[str(frames)]), file=sys.stderr)
        if not args.keep:
            shutil.rmtree(work / str(frames), ignore_errors=True)
    lengths = sorted(runs, key=int)
    figures = {"runs": runs,
               "peak_rss_longest_over_shortest": round(runs[lengths[-1]]["peak_rss_mb"] / runs[lengths[0]]["peak_rss_mb"], 3),
               "fps_longest_over_shortest": round(runs[lengths[-1]]["fps"] / runs[lengths[0]]["fps"], 3)}
    h, w = args.resolution
    settings = {"command": "python -m benchmarks.long_video --frames " + " ".join(map(str, args.frames)),
                "video": "generated 1920x1080 mp4v at 30 fps", "arch": args.arch, "resolution": [h, w],
                "weights": f"random, q/k gain {args.qk_gain}", "outputs": "PNG per frame + .npy labels"}
    path = write_record(args.name or f"long_video_cpu_{args.arch}_{h}x{w}", settings, figures)
    print(path)
    if not args.work and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
