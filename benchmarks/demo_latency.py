"""The live demo as a user sees it: the DAVIS frames of ../shared played as a paced 30 fps camera, the demo's
page open in Chromium (playwright drives it), every figure measured where it lands, in one run per mode:

- frames shown: the frames the browser painted (the page reports each paint: attnseg/view/page.html) over the
  camera frames from the first painted to the last (the browser starts after the demo);
- segmented frames a second (carried ones are not counted there), frames carried, dropped;
- capture to display: from a frame's due time in the paced file to the browser's paint report (p50, p99);
  capture to mask: to the result made, the engine's own latency.

Modes, alternated: this commit's defaults (causal windows, carried frames) and the paper's fixed windows with
nothing carried (--no-causal --no-carry), the mode before them, as the ratio's baseline; `--before CHECKOUT`
also runs an older checkout's demo (its closing line: fps and capture-to-mask, its page open likewise).

    python -m benchmarks.demo_latency
Record: demo_latency_cpu_vit_small_16_160x240.json (needs playwright and Debian's chromium).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .common import DAVIS_FRAMES, served_url, write_record  # noqa: E402

from attnseg.bench.load import paper_checkpoint  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LIVE_QK_GAIN = 5.0  # tens of clusters per window on the DAVIS clips (benchmarks/live_quality.py)
MODES = {"causal, carried (default)": [], "paper windows, nothing carried": ["--no-causal", "--no-carry"]}
FIGURES = {  # the demo's closing line
    "frames_segmented": r"demo: (\d+) frames segmented", "frames_carried": r"(\d+) carried,",
    "fps": r"carried, ([\d.]+) fps", "mask_p50": r"capture to mask p50 ([\d.]+) ms", "mask_p99": r"to mask p50 [\d.]+ ms p99 ([\d.]+) ms",
    "display_p50": r"capture to display p50 ([\d.]+) ms", "display_p99": r"to display p50 [\d.]+ ms p99 ([\d.]+) ms",
    "painted": r"\((\d+) painted", "first": r"of frames (\d+)-", "last": r"of frames \d+-(\d+)",
    "frames_dropped": r"dropped (\d+),", "frames_in": r"of (\d+), ended",
}
BEFORE = re.compile(r"demo: (\d+) frames, ([\d.]+) fps, latency p50 ([\d.]+) ms p99 ([\d.]+) ms, dropped (\d+)")


def write_video(path: Path, fps: float, loops: int) -> str:
    import cv2

    clips = sorted(DAVIS_FRAMES.iterdir()) if DAVIS_FRAMES.is_dir() else []
    frames = [f for clip in clips for f in read_clip(clip).frames] or \
        list(synthetic_clip(num_frames=300, height=480, width=854)[0])
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(loops):
        for f in frames:
            writer.write(cv2.cvtColor(cv2.resize(f, (w, h)), cv2.COLOR_RGB2BGR))
    writer.release()
    names = ", ".join(c.name for c in clips) or "the synthetic clip"
    return f"{len(frames) * loops} frames ({names}, {loops}x) at {w}x{h}, {fps:g} fps"


def run(demo: Path, video: Path, checkpoint: Path, extra: list[str], chromium: str, cwd: Path,
        screenshot: Path | None = None) -> dict:
    """The demo on the file with its page open in Chromium until the file ends; the closing line's figures.
    `screenshot`: the page as it was 12 s in."""
    from playwright.sync_api import sync_playwright

    own = ["--exit-at-end"] if demo == ROOT / "demo_webcam.py" else []  # an older checkout exits at the end anyway
    proc = subprocess.Popen([sys.executable, str(demo), "--source", str(video), "--page", "--port", "0",
                             "--checkpoint", str(checkpoint), *own, *extra], cwd=cwd, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    url = served_url(proc, lines, 300)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url, wait_until="domcontentloaded")
        if screenshot:
            time.sleep(12)
            page.screenshot(path=str(screenshot))
        proc.wait(timeout=900)
        browser.close()
    reader.join(5)
    text = "".join(lines)
    found = {k: re.search(pattern, text) for k, pattern in FIGURES.items()}
    if found["frames_segmented"] is None:
        match = BEFORE.search(text)  # an older checkout's closing line
        if not match:
            raise RuntimeError(f"no closing line from the demo:\n{text}")
        segmented, fps, p50, p99, dropped = match.groups()
        return {"frames_segmented": int(segmented), "fps": float(fps), "mask_p50": float(p50),
                "mask_p99": float(p99), "frames_dropped": int(dropped)}
    out = {k: (float(m.group(1)) if "." in m.group(1) or k.endswith(("p50", "p99", "fps")) else int(m.group(1)))
           for k, m in found.items() if m}
    if "painted" in out and "first" in out:
        out["shown_fraction"] = round(out["painted"] / (out["last"] - out["first"] + 1), 4)
    return out


def ratios(figures: dict) -> dict:
    """The default mode's medians over the baseline's (the paper's windows, nothing carried), same run."""
    now, base = (figures[m]["median"] for m in MODES)
    return {k: round(now[k] / base[k], 3) for k in ("fps", "display_p50", "display_p99", "mask_p50",
                                                    "shown_fraction")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=30.0, help="the camera's frame rate")
    ap.add_argument("--loops", type=int, default=2, help="times the 300 DAVIS frames play")
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating")
    ap.add_argument("--before", type=Path, help="an older checkout whose demo also runs (its closing line only)")
    ap.add_argument("--name", default="demo_latency_cpu_vit_small_16_160x240")
    ap.add_argument("--screenshot", type=Path, help="only take the page's screenshot here, 12 s into one run of the "
                                                    "default mode (the README's docs/images/demo_page_live.png)")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)")
    modes = {m: (ROOT / "demo_webcam.py", extra, ROOT) for m, extra in MODES.items()}
    if args.before:
        modes[f"checkout {args.before.name} (its defaults)"] = (args.before / "demo_webcam.py", [], args.before)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "davis.mp4"
        source = write_video(video, args.fps, args.loops)
        checkpoint = paper_checkpoint(Path(tmp), "vit_small_16", LIVE_QK_GAIN)
        if args.screenshot:
            print(run(ROOT / "demo_webcam.py", video, checkpoint, [], chromium, ROOT, args.screenshot))
            return
        runs = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode, (demo, extra, cwd) in modes.items():
                runs[mode].append(run(demo, video, checkpoint, extra, chromium, cwd))
                print(f"{mode}: {runs[mode][-1]}", flush=True)
    figures = {mode: {"runs": rs, "median": {k: float(np.median([r[k] for r in rs])) for k in rs[0]
                                              if all(k in r for r in rs)}}
               for mode, rs in runs.items()}
    figures["ratios"] = ratios(figures)
    settings = {"source": source, "command": "python demo_webcam.py --source FILE --page --port 0 --checkpoint CKPT "
                "[--no-causal --no-carry], the page open in Chromium", "arch": "vit_small_16",
                "resolution": [160, 240], "checkpoint": f"paper-format random, q/k x{LIVE_QK_GAIN:g}",
                "repeats": args.repeats, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": torch.get_num_threads()}
    print(f"wrote {write_record(args.name, settings, figures)}")


if __name__ == "__main__":
    main()
