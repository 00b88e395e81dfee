"""What the command-line tests share: the long-video flags, a synthetic .avi, the CLI as a process, and
reading outputs back."""
from __future__ import annotations

import numpy as np


LONG = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "6", "--resolution", "64", "96", "--chunk", "6",
        "--no-progress"]


def write_avi(path, frames: int, fps: float = 24.0):
    import cv2

    from attnseg.engine.synthetic import synthetic_clip

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for f in synthetic_clip(frames, 120, 160)[0]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def as_from_a_terminal(then=None):
    """A child's preexec_fn: SIGINT handled as a terminal's child has it (a shell's background job, CI, starts its
    children with SIGINT ignored, and Ctrl-C tests would then wait for nothing), then `then`."""
    def preexec():
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then:
            then()
    return preexec


def cli(*args, preexec_fn=None, **popen):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "attnseg", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal(preexec_fn), **popen)


def same_results(a, b):
    names = sorted(p.name for p in (a / "png").glob("*.png"))
    assert names == sorted(p.name for p in (b / "png").glob("*.png"))
    assert all((a / "png" / n).read_bytes() == (b / "png" / n).read_bytes() for n in names)
    assert np.array_equal(np.load(a / "l.npy"), np.load(b / "l.npy"))
    assert (a / "coco.json").is_file() == (b / "coco.json").is_file()
    if (a / "coco.json").is_file():
        assert (a / "coco.json").read_bytes() == (b / "coco.json").read_bytes()


def video_frames(path) -> tuple[int, tuple[int, int]]:
    """(frames decoded, (height, width)) of a video file, read back with OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    count, size = 0, None
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return count, size
            count, size = count + 1, frame.shape[:2]
    finally:
        cap.release()
