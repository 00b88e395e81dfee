"""The live demo at the limit of the machine, measured where the user sees it: a 30 fps camera, the demo's page
open in Chromium on the same machine, and where every core's time goes.

The camera: the DAVIS frames of ../shared (else a synthetic clip) written as a 30 fps video, played by the demo in
real time (`--realtime`: decoded and paced as a camera delivers, what the engine has no time for carried or
dropped). One run per checkout, alternated, `--repeats` each: this one, and `--before CHECKOUT` (the code before
the change; given --drop drop-oldest, so that it too drops like a camera instead of queueing). Each run waits
`--warmup` s after the page's first paint, then measures `--seconds` s:

- painted: frames the page painted (its paint reports) over the camera frames that came in the window;
- capture to paint p50 / p99 (the page's reports, the run's whole: /stats.json at the end of the window);
- segmented frames a second, and their ratio to the chosen front-end's own frames a second at batch 1, timed in
  this process after the runs (same backend, weights, size and threads as the demo's);
- CPU, from /proc: Chromium's (all its processes: browser, renderer, GPU, utility, each kind apart), the demo's,
  in cores and per painted frame; the engine's stages' share of its seconds (busy_share).

    python -m benchmarks.live_targets [--before ../before]
Record: live_targets_cpu_vit_small_16_160x240.json (needs playwright and Debian's chromium).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

from .common import machine, parse, parser, served_url, write_record
from .demo_latency import write_video

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
TARGETS = {"painted_fraction": (">=", 0.9), "display_p50_ms": ("<=", 150), "display_p99_ms": ("<=", 300),
           "segmented_over_frontend": (">=", 0.5), "chromium_cores": ("<=", 0.3)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def chromium_processes(binary: str) -> dict[int, str]:
    """Chromium's processes now, pid -> kind (browser, renderer, gpu-process, utility, zygote...)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Chromium's children rewrite their command line as one string: split on NULs and spaces alike
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        if argv and Path(argv[0]).name in {Path(binary).name, "chromium", "chrome"}:
            kind = next((a.split("=", 1)[1] for a in argv if a.startswith("--type=")), "browser")
            found[int(entry.name)] = kind
    return found


def chromium_cpu(binary: str) -> dict[str, float]:
    """CPU seconds so far of Chromium's processes, by kind."""
    out: dict[str, float] = {}
    for pid, kind in chromium_processes(binary).items():
        out[kind] = out.get(kind, 0.0) + cpu_seconds(pid)
    return out


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "stats.json", timeout=10) as resp:
        return json.loads(resp.read())


def run(demo: Path, cwd: Path, video: Path, extra: list[str], chromium: str, args) -> dict:
    """One run: the demo on the camera, its page in Chromium; the window's figures."""
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen([sys.executable, str(demo), "--source", str(video), "--realtime", "--page", "--port", "0",
                             "--random-weights", "--arch", args.arch, "--resolution", *map(str, args.resolution),
                             *extra], cwd=cwd, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        url = served_url(proc, lines, 600)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.viewport[0], "height": args.viewport[1]})
            page.goto(url, wait_until="domcontentloaded")
            deadline = time.monotonic() + 120
            while stats(url)["frames_painted"] == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(args.warmup)
            first, cpu0, demo0, t0 = stats(url), chromium_cpu(chromium), cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            last, cpu1, demo1, t1 = stats(url), chromium_cpu(chromium), cpu_seconds(proc.pid), time.monotonic()
            if args.screenshot and not args.screenshot.exists() and demo == ROOT / "demo_webcam.py":
                page.screenshot(path=str(args.screenshot))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
    span = t1 - t0
    painted = last["frames_painted"] - first["frames_painted"]
    came = last["frames_in"] - first["frames_in"]
    segmented = last["frames_processed"] - first["frames_processed"]
    chromium_kinds = {k: round((cpu1.get(k, 0.0) - cpu0.get(k, 0.0)) / span, 3) for k in cpu1}
    chromium_cores = sum(chromium_kinds.values())
    return {"seconds": round(span, 2), "camera_frames": came, "frames_painted": painted,
            "painted_fraction": round(painted / max(came, 1), 4),
            "painted_fps": round(painted / span, 2), "segmented_fps": round(segmented / span, 2),
            "carried": last["frames_carried"] - first["frames_carried"],
            "dropped": last["frames_dropped"] - first["frames_dropped"],
            "display_p50_ms": last["display_latency_ms"]["p50"], "display_p99_ms": last["display_latency_ms"]["p99"],
            "mask_p50_ms": last["mask_latency_ms"]["p50"], "mask_p99_ms": last["mask_latency_ms"]["p99"],
            "chromium_cores": round(chromium_cores, 3), "chromium_cores_by_process": chromium_kinds,
            "chromium_ms_per_painted_frame": round(1e3 * chromium_cores * span / max(painted, 1), 2),
            "demo_cores": round((demo1 - demo0) / span, 3),
            "busy_share": last.get("busy_share", {}), "page_drawing_share": last.get("drawing_share")}


def frontend_fps(args, backend: str, threads: int | None = None) -> dict:
    """The front-end alone at batch 1, as the demo built it (same backend, size, weights, threads): frames/s."""
    from attnseg.engine import SegmentSettings, Segmenter

    seg = Segmenter.from_checkpoint(random_weights=True, arch=args.arch,
                                    config=SegmentSettings(resolution=args.resolution, backend=backend, batch_size=1,
                                                           threads=threads))
    images = torch.randn(1, 3, *args.resolution, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for i in range(5 + 30):
            start = time.perf_counter()
            seg.run_frontend(images)
            if i >= 5:
                times.append(time.perf_counter() - start)
    return {"backend": seg.backend, "ms_p50": round(1e3 * float(np.median(times)), 2),
            "fps": round(1 / float(np.median(times)), 2)}


def verdicts(figures: dict) -> dict:
    out = {}
    for name, (sign, bound) in TARGETS.items():
        value = figures.get(name)
        met = value is not None and (value >= bound if sign == ">=" else value <= bound)
        out[name] = {"target": f"{sign} {bound}", "value": value, "met": bool(met)}
    return out


def main() -> None:
    p = parser(__doc__, "live")
    p.add_argument("--before", type=Path, help="the checkout before the change, also run (its own defaults, dropping "
                                               "like a camera)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0, help="the measured window of each run")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds after the first paint before the window")
    p.add_argument("--loops", type=int, default=3, help="times the DAVIS frames play in the camera's video")
    p.add_argument("--screenshot", type=Path, help="the page as it was at the end of one window (this checkout)")
    p.add_argument("--demo-args", default="", help="more flags for this checkout's demo, one string "
                                                   "(e.g. \"--backend eager\")")
    p.add_argument("--viewport", nargs=2, type=int, default=[1280, 720], metavar=("W", "H"),
                   help="the browser window's size (the page's canvas fits in it)")
    p.add_argument("--name", default=None)
    args = parse(p)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)")
    checkouts = {"this checkout": (ROOT / "demo_webcam.py", ROOT, args.demo_args.split())}
    if args.before:
        checkouts[f"before ({args.before.name})"] = (args.before / "demo_webcam.py", args.before,
                                                    ["--drop", "drop-oldest"])
    given = args.demo_args.split()
    threads = int(given[given.index("--threads") + 1]) if "--threads" in given else None
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "camera.mp4"
        source = write_video(video, 30.0, args.loops)
        runs: dict[str, list] = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, (demo, cwd, extra) in checkouts.items():
                runs[name].append(run(demo, cwd, video, extra, chromium, args))
                print(f"{name}: {runs[name][-1]}", flush=True)
    frontend = frontend_fps(args, "auto", threads)  # what the demo's auto chose (remembered in the same cache)
    figures: dict = {"frontend_batch1": frontend}
    for name, rs in runs.items():
        median = {k: float(np.median([r[k] for r in rs])) for k in rs[0] if isinstance(rs[0][k], (int, float))}
        median["segmented_over_frontend"] = round(median["segmented_fps"] / frontend["fps"], 3)
        figures[name] = {"runs": rs, "median": median, "targets": verdicts(median)}
    if args.before:
        now, base = figures["this checkout"]["median"], figures[f"before ({args.before.name})"]["median"]
        figures["ratios_now_over_before"] = {k: round(now[k] / base[k], 3) for k in
                                             ("painted_fraction", "painted_fps", "segmented_fps", "display_p50_ms",
                                              "display_p99_ms", "chromium_cores", "chromium_ms_per_painted_frame",
                                              "demo_cores") if base.get(k)}
    settings = {"source": source, "camera_fps": 30.0, "command": "python demo_webcam.py --source CAMERA.mp4 "
                f"--realtime --page --port 0 --random-weights {args.demo_args}".strip() + ", the page open in Chromium",
                "viewport": args.viewport,
                "arch": args.arch, "resolution": list(args.resolution), "repeats": args.repeats,
                "seconds": args.seconds, "warmup": args.warmup, "machine": machine(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": os.cpu_count()}
    name = args.name or f"live_targets_cpu_{args.arch}_{args.resolution[0]}x{args.resolution[1]}"
    print(json.dumps({k: v["targets"] for k, v in figures.items() if isinstance(v, dict) and "targets" in v},
                     indent=1))
    print(f"wrote {write_record(name, settings, figures)}")


if __name__ == "__main__":
    main()
