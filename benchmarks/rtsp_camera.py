"""An RTSP camera on loopback, for benchmarks/rtsp_latency.py and the RTSP tests: rtsp_server.py under Debian's
/usr/bin/python3 (GStreamer's RTSP server through python3-gi), started, stopped and restarted on one port."""
from __future__ import annotations

import select
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).resolve().parent / "rtsp_server.py"
PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
         "missing = [e for e in ('x264enc', 'rtph264pay', 'jpegdec', 'multifilesrc') "
         "if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"no {SYSTEM_PYTHON}"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode:
        return ("GStreamer's RTSP server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)")
    if probe.stdout.strip():
        return f"GStreamer lacks {probe.stdout.strip()} (gstreamer1.0-plugins-good / -ugly)"
    return None


class RtspCamera:
    """`with RtspCamera(frames, port) as cam:` serves the folder's JPEGs at cam.url; stop() and start() again."""

    def __init__(self, frames: Path, port: int, fps: int = 30, log: Path | None = None):
        self.frames, self.port, self.fps, self.log = frames, port, fps, log
        self.url = f"rtsp://127.0.0.1:{port}/clip"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "RtspCamera":
        cmd = [SYSTEM_PYTHON, str(SERVER), str(self.frames), "--port", str(self.port), "--fps", str(self.fps)]
        if self.log:
            cmd += ["--log", str(self.log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready and "serving" in self.proc.stdout.readline():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the RTSP server failed: {self.proc.stderr.read()}")
        self.stop()
        raise RuntimeError("the RTSP server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "RtspCamera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_frames(folder: Path, count: int = 60, size: tuple[int, int] = (240, 320)) -> Path:
    """A synthetic clip as 00000.jpg, 00001.jpg, ... (what the server serves), each frame numbered (mark)."""
    from PIL import Image

    from attnseg.engine.synthetic import synthetic_clip

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(synthetic_clip(count, *size)[0]):
        Image.fromarray(mark(frame, i)).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


BITS, BLOCK = 10, 16  # a frame's number: 10 blocks of 16x16 pixels, top left, white for 1 (survives H.264)


def mark(image, number: int):
    """`image` with `number` written in its top row of blocks."""
    out = image.copy()
    for bit in range(BITS):
        out[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if number >> bit & 1 else 0
    return out


def read_mark(image) -> int:
    """The number mark() wrote, read back from a decoded frame."""
    centre = slice(BLOCK // 4, 3 * BLOCK // 4)
    return sum(1 << bit for bit in range(BITS)
               if image[centre, bit * BLOCK + BLOCK // 4:bit * BLOCK + 3 * BLOCK // 4].mean() > 127)


def camera_times(log: Path) -> dict[int, list[int]]:
    """The server's --log: frame number -> each time (CLOCK_MONOTONIC ns) that frame left the camera."""
    sent: dict[int, list[int]] = {}
    for line in log.read_text().splitlines():
        number, ns = map(int, line.split())
        sent.setdefault(number, []).append(ns)
    return sent
