"""The engine's frame rate with 0, 1 and 20 viewers of the live page, against earlier checkouts' servers in the
same run (issue 28: the page's server chosen by these figures; it must not cost the stream, and nothing may grow
with the viewers). Compared: this checkout (aiohttp: every client on one event loop), the hand-written
http.server hardened for issue 28 (a thread per client, bounded and timed out), and the server before issue 28.

The demo plays synthetic:600 as a 30 fps camera (20 s), vit_small_16 at 160x240, random weights at q/k x5,
page served; a second process runs the viewers, each a loop of what the page does (GET /frame.jpg?after=N, then
POST /shown with a JSON body) plus one /events reader, from the demo's first frame to its end. Figures: the demo's
closing line (segmented fps, frames carried and dropped; capture to display p50/p99: from capture to a viewer's
report of the frame it got, where a viewer sees it), the frames the viewers got, the demo's peak thread count
while they watched, and the CPU seconds of the demo and of the viewers (they share the machine's cores: a server
that gives its viewers more frames also makes them work more). Modes run in turn, --rounds rounds.

    python -m benchmarks.page_viewers [--before NAME=CHECKOUT ...]   # default: worktrees of BEFORE's commits
Record: page_viewers_cpu.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from .common import served_url, write_record  # noqa: E402

BEFORE = {"threaded": "86ab41d",  # the hand-written server hardened for issue 28: a thread per client, bounded
          "original": "58fdb61"}  # the last commit before issues 27 and 28 touched the page's server
CLOSING = re.compile(r"demo: (\d+) frames segmented, (\d+) carried, ([\d.]+) fps, capture to mask p50 ([\d.]+) ms "
                     r"p99 ([\d.]+) ms.*dropped (\d+), of (\d+)")
# where a viewer sees a frame: capture to its paint report (POST /shown), as the demo's closing line gives it
DISPLAY = re.compile(r"capture to display p50 ([\d.]+|None) ms p99 ([\d.]+|None) ms \((\d+) painted")
ARGS = ["--source", "synthetic:600", "--page", "--port", "0", "--random-weights", "--qk-gain", "5"]


def viewers(url: str, count: int, stop: threading.Event, got: list) -> list[threading.Thread]:
    """`count` page-like clients: frames long-polled and reported painted, and one events reader each."""
    def frames():
        last = -1
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{url}frame.jpg?after={last}", timeout=15) as r:
                    r.read()
                    last = int(r.headers.get("X-Frame", last))
                body = json.dumps({"frame": last}).encode()
                req = urllib.request.Request(url + "shown", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=15).read()
                got.append(last)
            except OSError:
                time.sleep(0.2)

    def events():
        try:
            with urllib.request.urlopen(url + "events", timeout=15) as r:
                while not stop.is_set() and r.readline():
                    pass
        except OSError:
            pass
    threads = [threading.Thread(target=f, daemon=True) for _ in range(count) for f in (frames, events)]
    for t in threads:
        t.start()
    return threads


def run(cwd: Path, count: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    demo = cwd / "demo_webcam.py"
    ends = ["--exit-at-end"] if "--exit-at-end" in demo.read_text() else []  # older demos exit at the end anyway
    proc = subprocess.Popen([sys.executable, str(demo), *ARGS, *ends], cwd=cwd,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    url = served_url(proc, lines, 120, r"(http://\S+/)")
    stop, got, peak, demo_cpu = threading.Event(), [], 0, 0.0
    clients = time.process_time()  # this process's CPU: the viewers' (its own polling is a few ms)
    threads = viewers(url, count, stop, got)
    while proc.poll() is None:
        try:
            peak = max(peak, len(os.listdir(f"/proc/{proc.pid}/task")))
            demo_cpu = cpu_seconds(proc.pid)  # the last reading before it exits
        except OSError:
            pass
        time.sleep(0.25)
    stop.set()
    clients = time.process_time() - clients
    text = "".join(lines)
    match, display = CLOSING.search(text), DISPLAY.search(text)
    if not match:
        raise RuntimeError("no closing line:\n" + text)
    values = match.groups()
    out = {"segmented": int(values[0]), "carried": int(values[1]), "fps": float(values[2]),
           "mask_p50_ms": float(values[3]), "mask_p99_ms": float(values[4]), "dropped": int(values[5]),
           "frames_in": int(values[6]), "viewer_frames": len(got), "peak_threads": peak,
           "demo_cpu_s": round(demo_cpu, 2), "viewers_cpu_s": round(clients, 2)}
    if display and display.group(1) != "None":
        out.update(display_p50_ms=float(display.group(1)), display_p99_ms=float(display.group(2)),
                   painted=int(display.group(3)))
    for t in threads:
        t.join(timeout=1)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", nargs="+", metavar="NAME=CHECKOUT",
                    help="checkouts of earlier servers (default: worktrees of " +
                         ", ".join(f"{k}={v}" for k, v in BEFORE.items()) + ")")
    ap.add_argument("--viewers", type=int, nargs="+", default=[0, 1, 20])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    given = dict(item.split("=", 1) for item in args.before) if args.before else None
    with tempfile.TemporaryDirectory() as tmp:
        modes = {"now": ROOT}
        made = []
        for name, commit in (given or BEFORE).items():
            if given:
                modes[name] = Path(commit)
                continue
            modes[name] = Path(tmp) / name
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(modes[name]), commit],
                           check=True, capture_output=True)
            made.append(modes[name])
        try:
            runs: dict[str, dict[int, list]] = {mode: {} for mode in modes}
            for _ in range(args.rounds):
                for count in args.viewers:
                    for mode, cwd in modes.items():
                        figures = run(cwd, count)
                        runs[mode].setdefault(count, []).append(figures)
                        print(mode, count, figures, flush=True)
        finally:
            for path in made:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                               capture_output=True)

    def median(rs: list[dict]) -> dict:
        return {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], (int, float))}
    medians = {mode: {str(n): median(rs) for n, rs in by_count.items()} for mode, by_count in runs.items()}
    ratios = {f"now_over_{mode}": {str(n): round(medians["now"][str(n)]["fps"] / medians[mode][str(n)]["fps"], 3)
                                   for n in args.viewers} for mode in modes if mode != "now"}
    settings = {"command": "python -m benchmarks.page_viewers",
                "before": {k: str(v) for k, v in (given or BEFORE).items()},
                "demo": "demo_webcam.py " + " ".join(ARGS), "viewers": args.viewers, "rounds": args.rounds,
                "server": "now: aiohttp " + aiohttp_version()}
    print(json.dumps({"medians": medians, "fps_ratios": ratios}, indent=1))
    print(write_record("page_viewers_cpu", settings, {"runs": runs, "medians": medians, "fps_ratios": ratios}))


def aiohttp_version() -> str:
    import aiohttp

    return aiohttp.__version__


if __name__ == "__main__":
    main()
