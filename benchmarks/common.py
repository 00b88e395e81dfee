"""Benchmark scripts write their records here, under benchmarks/results/ (see attnseg.bench.records)."""
from __future__ import annotations

from pathlib import Path

from attnseg.bench.records import git_commit, machine  # noqa: F401
from attnseg.bench.records import write_record as _write_record

RESULTS = Path(__file__).resolve().parent / "results"
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16"  # ../shared beside the checkout
DAVIS_FRAMES = DAVIS / "JPEGImages" / "480p"  # one folder of JPEGs per clip; absent in a user's clone
__all__ = ["DAVIS", "DAVIS_FRAMES", "RESULTS", "camera_file", "git_commit", "machine", "served_url", "write_record"]


def write_record(name: str, settings: dict, figures: dict) -> Path:
    return _write_record(name, settings, figures, RESULTS)


def served_url(proc, lines: list[str], timeout: float, pattern: str = r"(http://\S+)") -> str:
    """The page address a demo process prints on stderr (its lines collected into `lines` by a reader thread);
    the process is killed when it prints none within `timeout` s."""
    import re
    import time

    deadline, url = time.monotonic() + timeout, None
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        url = next((m.group(1) for m in (re.search(pattern, line) for line in lines) if m), None)
        time.sleep(0.05)
    if url is None:
        proc.kill()
        raise RuntimeError("the demo did not serve its page:\n" + "".join(lines))
    return url


def camera_file(frames: Path, dest: Path, fps: float) -> Path:
    """A folder's frames (*.jpg, in name order) as an MJPEG .avi at `fps`: a camera, played with --realtime (a
    folder itself plays at attnseg.settings.DEFAULT_FPS, 24)."""
    import cv2

    writer = None
    for path in sorted(Path(frames).glob("*.jpg")):
        image = cv2.imread(str(path))
        if writer is None:
            writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"MJPG"), fps, image.shape[1::-1])
        writer.write(image)
    writer.release()
    return dest
