"""What RTSP adds to the live latency: the same frames as an RTSP camera and as a local camera, in one run.

    python -m benchmarks.rtsp_latency                  # the DAVIS clips (../shared), else a synthetic clip
    python -m benchmarks.rtsp_latency --seconds 20 --repeats 2

The frames (the five DAVIS clips one after the other, 480x854) carry their number in a row of black and white
blocks. Each repeat, alternating:
- `attnseg stream rtsp://...` on GStreamer's RTSP server (benchmarks/rtsp_server.py under /usr/bin/python3:
  H.264, zerolatency, over RTP on loopback) playing them as a 30 fps camera;
- `attnseg stream camera.avi --realtime --drop drop-oldest --loop`: the same frames as a local 30 fps camera
  (an MJPEG file at 30 fps, paced at its own rate);
both with the live preset's model (vit_small_16, 160x240, random weights), each for --seconds of frames: segmented
frames/s and capture-to-written latency as the command reports them (its --stats-json).
A command cannot see how old a frame was when FFmpeg handed it over, so a third run streams the URL through the
runtime `attnseg stream` runs (StreamRuntime), reads each frame's number off its pixels and takes the server's
log of when that frame left the camera (CLOCK_MONOTONIC, shared by the processes): camera to capture (what RTSP
adds before attnseg's clock starts) and camera to the result handed over, in the steady state (from STARTUP s
after the first frame), and the first frame's age apart (how old the first frame handed over is: without
attnseg.settings.NETWORK_CAPTURE_OPTIONS, FFmpeg read about a second ahead while opening the stream).
"""
from __future__ import annotations

import argparse
import bisect
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .common import DAVIS_FRAMES, camera_file, write_record  # noqa: E402
from .rtsp_camera import RtspCamera, camera_times, free_port, mark, read_mark, unavailable  # noqa: E402

STARTUP = 2.0  # seconds from the first frame: how the stream starts is reported apart (the first frame's age)
LIVE = ["--arch", "vit_small_16", "--resolution", "160", "240", "--random-weights", "--backend", "eager",
        "--no-progress"]


def write_frames(folder: Path) -> tuple[int, str]:
    """The numbered frames as 00000.jpg ...; (count, what they are)."""
    from PIL import Image

    if DAVIS_FRAMES.is_dir():
        files = [f for clip in sorted(DAVIS_FRAMES.iterdir()) for f in sorted(clip.glob("*.jpg"))]
        images, what = (np.array(Image.open(f).convert("RGB")) for f in files), f"DAVIS ({len(files)} frames)"
    else:
        from attnseg.engine.synthetic import synthetic_clip

        files = list(range(120))
        images, what = iter(synthetic_clip(120, 240, 320)[0]), "synthetic (120 frames, 240x320)"
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(mark(image, i)).save(folder / f"{i:05d}.jpg", quality=92)
    return len(files), what


def command(source: str, extra: list[str], frames: int, stats: Path) -> dict:
    """`attnseg stream` as a user runs it; its --stats-json."""
    run = subprocess.run([sys.executable, "-m", "attnseg", "stream", source, *LIVE, *extra, "--max-frames",
                          str(frames), "--stats-json", str(stats)], capture_output=True, text=True, timeout=900)
    if run.returncode:
        raise RuntimeError(f"attnseg stream {source} failed: {run.stderr[-2000:]}")
    s = json.loads(stats.read_text())
    return {"fps": s["fps"], "shown_fps": s["shown_fps"], "written_ms": s["written_latency_ms"],
            "engine_ms": s["mask_latency_ms"], "frames_in": s["frames_in"], "segmented": s["frames_processed"],
            "carried": s["frames_carried"], "dropped": s["frames_dropped"]}


def transport(url: str, log: Path, frames: int) -> dict:
    """Through the runtime: per frame, camera to capture and camera to the result handed over (ms)."""
    from attnseg.engine import Segmenter
    from attnseg.engine.live.runtime import StreamRuntime
    from attnseg.engine.live.stats import percentiles
    from attnseg.settings import Backend, ModelSettings, SegmentSettings, SessionSettings

    seg = Segmenter.from_settings(SessionSettings(model=ModelSettings(arch="vit_small_16", random_weights=True),
                                                  segment=SegmentSettings(resolution=(160, 240), backend=Backend.EAGER)))
    seen = []  # (number, captured, delivered, carried) in seconds of time.monotonic
    for r in StreamRuntime(seg).stream(url, max_frames=frames):
        seen.append((read_mark(r.image), r.timestamp, r.delivered, r.carried))
    sent = camera_times(log)
    to_capture, to_result, unmatched, first_age = [], [], 0, None
    for number, captured, delivered, carried in seen:
        times = sent.get(number, [])
        i = bisect.bisect_right(times, round(captured * 1e9)) - 1  # the latest departure before its capture
        if i < 0:
            unmatched += 1
            continue
        left = times[i] / 1e9
        first_age = captured - left if first_age is None else first_age
        if captured - seen[0][1] < STARTUP:  # the burst FFmpeg read ahead while it opened the stream
            continue
        to_capture.append(captured - left)
        if not carried:
            to_result.append(delivered - left)
    return {"camera_to_capture_ms": percentiles(to_capture), "camera_to_result_ms": percentiles(to_result),
            "first_frame_age_ms": round(first_age * 1e3, 1) if first_age is not None else None,
            "frames": len(seen), "steady_frames": len(to_capture), "unmatched": unmatched}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="of camera frames per run")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--name", default="rtsp_latency_cpu_vit_small_16_160x240")
    args = ap.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(f"cannot run: {reason}")
    frames = round(args.seconds * args.fps)
    runs: dict[str, list] = {"rtsp": [], "local": [], "transport": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        count, what = write_frames(tmp / "frames")
        local = camera_file(tmp / "frames", tmp / "camera.avi", args.fps)
        for repeat in range(args.repeats):
            for mode in ("rtsp", "local") if repeat % 2 == 0 else ("local", "rtsp"):
                if mode == "rtsp":
                    with RtspCamera(tmp / "frames", free_port(), args.fps) as cam:
                        runs[mode].append(command(cam.url, [], frames, tmp / "s.json"))
                else:
                    runs[mode].append(command(str(local), ["--realtime", "--drop", "drop-oldest", "--loop"],
                                              frames, tmp / "s.json"))
                print(mode, runs[mode][-1], flush=True)
            log = tmp / f"camera{repeat}.log"
            with RtspCamera(tmp / "frames", free_port(), args.fps, log=log) as cam:
                runs["transport"].append(transport(cam.url, log, frames))
            print("transport", runs["transport"][-1], flush=True)

    def median(mode: str, *keys) -> float:
        values = []
        for r in runs[mode]:
            for k in keys:
                r = r[k]
            values.append(r)
        return round(float(np.median(values)), 2)

    figures = {
        "runs": runs,
        "rtsp_fps": median("rtsp", "fps"), "local_fps": median("local", "fps"),
        "fps_ratio_rtsp_to_local": round(median("rtsp", "fps") / median("local", "fps"), 3),
        "rtsp_written_p50_ms": median("rtsp", "written_ms", "p50"),
        "local_written_p50_ms": median("local", "written_ms", "p50"),
        "camera_to_capture_p50_ms": median("transport", "camera_to_capture_ms", "p50"),
        "camera_to_capture_p99_ms": median("transport", "camera_to_capture_ms", "p99"),
        "camera_to_result_p50_ms": median("transport", "camera_to_result_ms", "p50"),
        "first_frame_age_ms": median("transport", "first_frame_age_ms"),
    }
    figures["rtsp_adds_p50_ms"] = round(figures["camera_to_capture_p50_ms"] + figures["rtsp_written_p50_ms"]
                                        - figures["local_written_p50_ms"], 2)
    settings = {"frames": what, "camera_fps": args.fps, "seconds_per_run": args.seconds, "repeats": args.repeats,
                "model": "vit_small_16 160x240 random weights, eager front-end (the live preset)",
                "server": "GStreamer RTSP server, x264enc tune=zerolatency ultrafast, RTP/H.264 on loopback",
                "command": "python -m benchmarks.rtsp_latency " + " ".join(sys.argv[1:])}
    print(f"wrote {write_record(args.name, settings, figures)}")


if __name__ == "__main__":
    main()
