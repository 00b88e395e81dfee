"""The README's tour, run as a newcomer would: every command of its "A short tour" block, as written, with
`--random-weights` in place of the checkpoint no package ships, on DAVIS clips encoded as the tour's files.

    python -m venv /tmp/tour && /tmp/tour/bin/pip install torch==2.13.0 -e ".[export,eval]"
    python -m benchmarks.readme_tour --bin /tmp/tour/bin          # its attnseg, in a scratch folder

Each line runs in one scratch folder (so later lines find what earlier ones wrote), with an empty cache, stdin
closed and stderr not a terminal, and is timed to its exit; `demo` is opened as a viewer would (its page fetched once served), and
stopped with Ctrl-C once it says the stream ended. The files: clip.mp4 and long.mp4 are DAVIS blackswan and dog
(50 and 60 frames, 854x480), other.mp4 and videos/*.mp4 those two again, DAVIS the clips beside the checkout. The
record holds each line's exit code, seconds and last output line: the README's promise is exit 0 in under 2 min.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import DAVIS, DAVIS_FRAMES, camera_file, machine, write_record

README = Path(__file__).resolve().parents[1] / "README.md"
LIMIT = 120.0  # seconds a tour line may take (the README's promise on a 2-core CPU)


def tour_lines(readme: Path = README) -> list[str]:
    """The commands of the tour's indented block, their comments dropped."""
    text = readme.read_text()
    block = text[text.index("## A short tour"):]
    block = block[:block.index("\n## ", 3)]
    return [line.strip().split("  #")[0].strip() for line in block.splitlines()
            if line.startswith("    attnseg ")]


def as_run(line: str) -> str:
    """A tour line as run here: the paper's checkpoint (not shippable) replaced by random weights; the shell
    expands its globs as a user's would."""
    line = line.replace("--checkpoint checkpoint_dino-s-8.pth", "--random-weights")
    return line + " --random-weights" if line.split()[1] == "demo" and "--random-weights" not in line else line


def prepare(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "videos").mkdir(exist_ok=True)
    for name, files in (("blackswan", ("clip.mp4", "videos/blackswan.mp4")), ("dog", ("long.mp4", "other.mp4",
                                                                                   "videos/dog.mp4"))):
        first = camera_file(DAVIS_FRAMES / name, folder / files[0], 24.0, fourcc="mp4v")
        for other in files[1:]:
            (folder / other).write_bytes(first.read_bytes())
    if not (folder / "DAVIS").exists():
        (folder / "DAVIS").symlink_to(DAVIS)


def run_line(command: str, folder: Path, env: dict) -> dict:
    began = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", command], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        if command.split()[1] == "demo":  # a viewer opens the page; Ctrl-C once the stream has ended
            opened = False
            while proc.poll() is None and time.monotonic() - began < LIMIT:
                url = next((m.group(1) for m in (re.search(r"at (http://\S+)", x) for x in lines) if m), None)
                if url and not opened and any("starts playing" in x for x in lines):
                    urllib.request.urlopen(url, timeout=5).read()
                    opened = True
                if any("page stays up" in x for x in lines):
                    proc.send_signal(signal.SIGINT)
                    break
                time.sleep(0.2)
        code = proc.wait(timeout=max(1.0, LIMIT - (time.monotonic() - began)))
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "killed past the limit"
    reader.join(timeout=5)
    last = [x.rstrip() for x in lines if x.strip()][-3:]
    return {"command": command, "exit": code, "seconds": round(time.monotonic() - began, 1), "last_lines": last}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--bin", required=True, help="the virtualenv's bin folder, whose attnseg runs the tour")
    p.add_argument("--work", default="/tmp/attnseg_tour", help="the scratch folder (default: /tmp/attnseg_tour)")
    args = p.parse_args(argv)
    folder = Path(args.work)
    prepare(folder)
    env = {**os.environ, "PATH": f"{Path(args.bin).resolve()}:{os.environ['PATH']}",
           "ATTNSEG_CACHE": str(folder / "cache")}  # empty, as a newcomer's: auto measures its backends once
    results = []
    for line in tour_lines():
        result = run_line(as_run(line), folder, env)
        results.append(result)
        print(f"{result['exit']!s:>4} {result['seconds']:6.1f} s  {result['command']}", flush=True)
    passed = sum(r["exit"] == 0 and r["seconds"] < LIMIT for r in results)
    print(write_record("readme_tour", {"machine": machine(), "limit_s": LIMIT, "bin": args.bin,
                                       "command": "python -m benchmarks.readme_tour --bin VENV/bin"},
                       {"lines": results, "passed": passed, "of": len(results)}))


if __name__ == "__main__":
    main()
