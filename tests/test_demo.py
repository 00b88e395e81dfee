"""demo_webcam.py without a camera: a synthetic source served as MJPEG, a video file, the no-camera error."""
from __future__ import annotations

import importlib.util
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from attnseg.engine.live_view import MjpegServer, annotate

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("demo_webcam", ROOT / "demo_webcam.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)
BASE = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]


def test_mjpeg_server_serves_the_latest_frame():
    server = MjpegServer(port=0)
    try:
        server.publish(np.full((24, 32, 3), 200, dtype=np.uint8))
        page = urllib.request.urlopen(server.url, timeout=5).read()
        assert b"/stream" in page
        jpeg = urllib.request.urlopen(server.url + "frame.jpg", timeout=5).read()
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
        with urllib.request.urlopen(server.url + "stream", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = resp.read(200)
            assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head
    finally:
        server.close()


def test_demo_serves_a_synthetic_stream_when_there_is_no_display(monkeypatch, capsys):
    servers = []

    class Recording(MjpegServer):
        def __init__(self, port):
            super().__init__(0)
            servers.append(self)

    monkeypatch.setattr(demo, "MjpegServer", Recording)
    monkeypatch.setattr(demo, "gui_available", lambda: False)
    code = []
    run = threading.Thread(target=lambda: code.append(demo.main(
        ["--source", "synthetic:72", "--realtime", *BASE, "--port", "0"])))
    run.start()
    deadline = time.monotonic() + 60
    while not (servers and servers[0].jpeg) and time.monotonic() < deadline:
        time.sleep(0.05)
    jpeg = urllib.request.urlopen(servers[0].url + "frame.jpg", timeout=5).read()
    assert jpeg[:2] == b"\xff\xd8"
    run.join(timeout=60)
    assert code == [0]
    err = capsys.readouterr().err
    assert "serving the overlay at http://127.0.0.1:" in err and "72 frames" in err


def test_demo_writes_a_video(tmp_path):
    out = tmp_path / "demo.mp4"
    assert demo.main(["--source", "synthetic:9", *BASE, "--video", str(out)]) == 0
    assert out.stat().st_size > 0


def test_demo_without_a_camera_is_one_clear_error(capsys):
    assert demo.main(["--source", "9", *BASE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("demo: error: cannot open camera 9")


def test_annotate_writes_ids_and_readout():
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    labels = np.zeros((60, 80), dtype=np.int32)
    labels[20:50, 30:70] = 7
    out = annotate(image, labels, "10.0 fps")
    assert out.shape == image.shape and out[:18].any() and (out != image).any()
