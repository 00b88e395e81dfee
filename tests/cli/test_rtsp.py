"""`attnseg stream rtsp://...` against a real RTSP server (GStreamer's, H.264 over RTP on loopback): it segments,
drops stale frames, reconnects when the server comes back, and ends with one line when it does not."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from benchmarks.rtsp_camera import RtspCamera, free_port, unavailable, write_frames
from tests.cli.helpers import cli

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

FLAGS = ["--random-weights", "--backend", "eager", "--no-progress"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("rtsp") / "frames")


def wait_for_pngs(folder, count: int, proc, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if folder.is_dir() and len(list(folder.glob("*.png"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} frames written (exit {proc.poll()})")


def test_a_camera_faster_than_the_engine_is_segmented_and_its_stale_frames_dropped(clip, tmp_path):
    with RtspCamera(clip, free_port()) as cam:
        run = cli("stream", cam.url, *FLAGS, "--arch", "vit_small_8", "--resolution", "240", "320", "--no-carry",
                  "--max-frames", "90", "--stats-json", tmp_path / "s.json", "--out", tmp_path / "png")
        out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames_in"] == 90 and stats["ended_by"] == "max frames"
    assert 0 < stats["frames_processed"] < 90 and stats["frames_dropped"] > 0  # a 30 fps camera, a slower model
    assert stats["frames_processed"] + stats["frames_dropped"] == 90
    assert len(list((tmp_path / "png").glob("*.png"))) == stats["frames_processed"]
    noise = [line for line in err.splitlines() if not line.startswith(("attnseg:", "mode:"))]
    assert not noise, noise  # FFmpeg's own lines stay off the terminal


def test_the_stream_survives_the_server_restarting_under_reconnect(clip, tmp_path):
    cam = RtspCamera(clip, free_port()).start()
    try:
        run = cli("stream", cam.url, *FLAGS, "--arch", "vit_small_16", "--resolution", "64", "96",
                  "--on-disconnect", "reconnect", "--reconnect-attempts", "12", "--max-frames", "120",
                  "--drop", "wait", "--stats-json", tmp_path / "s.json", "--out", tmp_path / "png")
        wait_for_pngs(tmp_path / "png", 10, run)
        cam.stop()  # the camera goes away ...
        time.sleep(1.0)
        cam.start()  # ... and comes back on the same address
        out, err = run.communicate(timeout=300)
    finally:
        cam.stop()
    assert run.returncode == 0, err
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["reconnects"] >= 1 and stats["frames_in"] == 120 and stats["ended_by"] == "max frames"
    names = sorted(p.stem for p in (tmp_path / "png").glob("*.png"))
    assert names == [f"{i:05d}" for i in range(120)]  # ids go on across the reconnection, none reused


def test_a_server_that_never_comes_back_ends_with_one_line_and_keeps_the_frames(clip, tmp_path):
    cam = RtspCamera(clip, free_port()).start()
    try:
        run = cli("stream", cam.url, *FLAGS, "--arch", "vit_small_16", "--resolution", "64", "96",
                  "--on-disconnect", "reconnect", "--reconnect-attempts", "2", "--save-labels", tmp_path / "l.npy",
                  "--stats-json", tmp_path / "s.json", "--out", tmp_path / "png")
        wait_for_pngs(tmp_path / "png", 5, run)
    finally:
        cam.stop()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"attnseg: error: lost: cannot open stream {cam.url}") and \
        "gave up after 2 reconnection attempts over" in last and \
        last.endswith("the outputs hold every frame streamed"), err
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["end_reason"] == "source disconnected" and stats["reconnects"] == 2
    kept = stats["frames_processed"] + stats["frames_carried"]  # a mask for every frame: segmented or carried
    assert len(np.load(tmp_path / "l.npy")) == kept >= 5 and len(list((tmp_path / "png").glob("*.png"))) == kept
    assert out.startswith("streamed ")


def test_the_first_frame_of_a_stream_is_fresh_and_a_users_ffmpeg_options_are_kept(clip, tmp_path, monkeypatch):
    """FFmpeg reads about a second of frames while it opens a stream; without NETWORK_CAPTURE_OPTIONS they came
    first, the first one about a second old. A user's own OPENCV_FFMPEG_CAPTURE_OPTIONS is left as it is."""
    import bisect
    import os

    from attnseg.engine.live.sources import open_source
    from benchmarks.rtsp_camera import camera_times, read_mark

    with RtspCamera(clip, free_port(), log=tmp_path / "sent.log") as cam:
        source = open_source(cam.url)
        try:
            frame = source.read()
        finally:
            source.close()
        assert "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ  # set for the opening only
        monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")
        open_source(cam.url).close()
        assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "threads;1"
    times = camera_times(tmp_path / "sent.log")[read_mark(frame.image)]
    left = times[bisect.bisect_right(times, round(frame.timestamp * 1e9)) - 1] / 1e9
    assert 0 < frame.timestamp - left < 0.5, frame.timestamp - left  # about 0.1 s; 0.95 s with the read-ahead


def test_a_url_that_never_answers_is_one_line_before_the_weights_load(tmp_path):
    url = f"rtsp://127.0.0.1:{free_port()}/clip"  # nothing listens there
    run = cli("stream", url, *FLAGS, "--out", tmp_path / "png")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2 and err.strip().splitlines() == [
        f"attnseg: error: cannot open stream {url} (no answer within 10 s, refused, or not a video stream)"]
