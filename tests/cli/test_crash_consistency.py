"""A kill at any instant of `attnseg segment` resumes to the same bytes: the process dies (no cleanup) right after
each atomic publish of state and of every output but the frame PNGs, and after a sample of those, and
`--resume` then completes it; every output is compared bit for bit with an uninterrupted run's, and nothing the
killed process left behind stays."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


from tests.cli.helpers import write_avi

CRASH = Path(__file__).with_name("crash.py")
ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ["--out", "{dir}/png", "--save-labels", "{dir}/l.npy", "--coco", "{dir}/coco.json", "--overlay",
           "{dir}/overlay.mp4"]
# about 100 ids over 17 frames, in chunks of 6 (the last one short): linking matters, and so does the end
MODEL = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "20", "--resolution", "64", "96", "--chunk", "6",
         "--backend", "eager", "--no-progress"]
TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^.]+)?")


def crash(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    # one thread per run: the kill points run two at a time, and every run compared computes alike
    return subprocess.run([sys.executable, str(CRASH), *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def outputs_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by its path there (hidden ones too), but the children's own stderr."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".err"}


def test_a_kill_after_any_publish_resumes_to_the_same_bytes(tmp_path):
    video = write_avi(tmp_path / "v.avi", 17)
    args = ["segment", video, *MODEL, *OUTPUTS]
    whole, log = tmp_path / "whole", tmp_path / "publishes.txt"
    done = crash("count", log, "--", *[str(a).replace("{dir}", str(whole)) for a in args])
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split("-> ")[1].split()[0]) >= 50, done.stdout  # ids to link across chunks
    published = log.read_text().splitlines()
    frames = [i for i, p in enumerate(published, 1) if Path(p).parent == whole / "png" and p.endswith(".png")]
    state = [i for i in range(1, len(published) + 1) if i not in frames]
    assert len(frames) == 17 and len(state) >= 11  # run state x 1 + 2 per chunk, marker, 3 files, the state's end
    kills = sorted(state + frames[::6] + frames[-1:])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"kills": kills, "root": str(tmp_path / "k"), "args": list(map(str, args)),
                                "jobs": max(1, min(2, os.cpu_count() or 1))}))
    ran = crash("kill", plan)
    assert ran.returncode == 0, ran.stderr
    results = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["k"] for r in results] == kills
    expected = outputs_of(whole)
    assert set(expected) >= {"l.npy", "coco.json", "overlay.mp4", "png/.attnseg-labels.txt", "png/00016.png"}
    failures = []
    for r in results:
        where = f"killed after publish {r['k']} of {len(published)} ({Path(published[r['k'] - 1]).name})"
        ended = r["k"] == len(published)  # the run's state removed: it had completed, there is nothing to resume
        said = "nothing to resume: the run into" if ended else "segmented 17 frames"
        got = outputs_of(tmp_path / "k" / str(r["k"]))
        left = [p.name for p in (tmp_path / "k" / str(r["k"])).rglob("*") if TEMPORARY.fullmatch(p.name)]
        if r["killed"] != 137:  # it did not die there
            failures.append(f"{where}: exit {r['killed']}")
        elif r["resumed"] != 0 or not r["last"].startswith(said):
            failures.append(f"{where}: resume exit {r['resumed']}: {r['last']}")
        elif any(got.get(name) != expected[name] for name in expected):
            failures.append(f"{where}: {[name for name in expected if got.get(name) != expected[name]]} differ")
        elif sorted(got) != sorted(expected) or left:
            failures.append(f"{where}: left behind: {sorted(set(got) - set(expected))}")
    assert not failures, "\n".join(failures)
