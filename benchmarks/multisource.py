"""Several cameras: one `attnseg stream SRC1 SRC2 ...` against as many separate processes, same host, same run.

    python -m benchmarks.multisource                    # 1, 2 and 4 DAVIS clips (../shared) as 30 fps cameras
    python -m benchmarks.multisource --sources 1 2 4 --seconds 20 --repeats 2

Each DAVIS clip plays as a camera (an MJPEG file at 30 fps, `--realtime --drop drop-oldest --loop`, --seconds of
frames per source)
with the live preset's model (vit_small_16, 160x240, random weights, eager front-end). For N sources, alternating:
- one process, `attnseg stream CLIP1 ... CLIPN`: one model, each front-end call on the frames of all;
- N processes started together, `attnseg stream CLIPi` each: a model each, competing for the same cores.
Figures, from each command's --stats-json: segmented frames/s in total (the sum over the sources), frames shown
(segmented + carried) per second, capture-to-written latency p50/p99 (one process: pooled over its sources;
separate: the median of the processes' p50 and the largest p99), and the peak resident memory of the processes
(their sum for separate ones) and the CPU they used (user + system seconds over wall seconds, from model load
to exit; 200% is both cores of this machine), read with wait4.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import DAVIS_FRAMES, camera_file, write_record  # noqa: E402

FPS = 30  # each clip becomes an MJPEG file at this rate, played as a camera
LIVE = ["--arch", "vit_small_16", "--resolution", "160", "240", "--random-weights", "--backend", "eager",
        "--no-progress", "--realtime", "--drop", "drop-oldest", "--loop"]


def start(sources: list[str], frames: int, stats: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "attnseg", "stream", *sources, *LIVE, "--max-frames", str(frames),
                             "--stats-json", str(stats)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc.started = time.monotonic()
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, float, float]:
    """Wait for the process: its peak resident memory in MB, CPU seconds (user + system) and wall seconds."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"attnseg stream failed: {proc.stderr.read()[-2000:]}")
    return round(usage.ru_maxrss / 1024), usage.ru_utime + usage.ru_stime, time.monotonic() - proc.started


def one_process(clips: list[str], frames: int, tmp: Path) -> dict:
    proc = start(clips, frames, tmp / "one.json")
    memory, cpu, wall = finish(proc)
    s = json.loads((tmp / "one.json").read_text())
    return {"fps": s["fps"], "shown_fps": s["shown_fps"], "written_p50_ms": s["written_latency_ms"]["p50"],
            "written_p99_ms": s["written_latency_ms"]["p99"], "peak_rss_mb": memory,
            "cpu_percent": round(100 * cpu / wall), "per_source_fps": [p["fps"] for p in s.get("sources", [s])]}


def separate(clips: list[str], frames: int, tmp: Path) -> dict:
    procs = [start([clip], frames, tmp / f"sep{i}.json") for i, clip in enumerate(clips)]
    memory, cpu, wall = zip(*[finish(p) for p in procs])
    stats = [json.loads((tmp / f"sep{i}.json").read_text()) for i in range(len(clips))]
    return {"fps": round(sum(s["fps"] for s in stats), 3), "shown_fps": round(sum(s["shown_fps"] for s in stats), 3),
            "written_p50_ms": float(np.median([s["written_latency_ms"]["p50"] for s in stats])),
            "written_p99_ms": max(s["written_latency_ms"]["p99"] for s in stats), "peak_rss_mb": sum(memory),
            "cpu_percent": round(100 * sum(cpu) / max(wall)), "per_source_fps": [s["fps"] for s in stats]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seconds", type=float, default=20.0, help="of camera frames per source")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default="multisource_cpu_vit_small_16_160x240")
    args = ap.parse_args()
    if not DAVIS_FRAMES.is_dir():
        sys.exit(f"cannot run: the DAVIS clips are not at {DAVIS_FRAMES}")
    folders = [p for p in sorted(DAVIS_FRAMES.iterdir()) if p.is_dir()]
    frames = round(args.seconds * FPS)
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = [str(camera_file(p, Path(tmp) / f"{p.name}.avi", FPS)) for p in folders]
        for n in args.sources:
            runs: dict[str, list] = {"one": [], "separate": []}
            for repeat in range(args.repeats):
                for mode in ("one", "separate") if repeat % 2 == 0 else ("separate", "one"):
                    run = one_process if mode == "one" else separate
                    runs[mode].append(run(clips[:n], frames, Path(tmp)))
                    print(n, mode, runs[mode][-1], flush=True)
            med = {mode: {k: float(np.median([r[k] for r in rs])) for k in ("fps", "shown_fps", "written_p50_ms",
                                                                          "written_p99_ms", "peak_rss_mb",
                                                                          "cpu_percent")}
                   for mode, rs in runs.items()}
            figures[f"{n}_sources"] = {
                "runs": runs, "one_process": med["one"], "separate_processes": med["separate"],
                "fps_ratio_one_to_separate": round(med["one"]["fps"] / med["separate"]["fps"], 3),
                "p50_ratio_one_to_separate": round(med["one"]["written_p50_ms"] / med["separate"]["written_p50_ms"],
                                                   3),
                "memory_ratio_one_to_separate": round(med["one"]["peak_rss_mb"] / med["separate"]["peak_rss_mb"], 3)}
    settings = {"clips": [p.name for p in folders], "camera_fps": FPS, "seconds_per_source": args.seconds,
                "repeats": args.repeats, "model": "vit_small_16 160x240 random weights, eager front-end (live preset)",
                "command": "python -m benchmarks.multisource " + " ".join(sys.argv[1:])}
    print(f"wrote {write_record(args.name, settings, figures)}")


if __name__ == "__main__":
    main()
