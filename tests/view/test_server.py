"""The live page's server without a browser: figures, controls, click-to-follow and the followed mask."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from attnseg.engine.outputs.drawing import colour_of
from attnseg.engine.outputs.fanout import OutputFrame
from attnseg.view import LiveServer, draw, readout

INFO = {"mode": "st vit_small_16 64x96 on cpu", "weights": "random", "random_weights": True, "source": "synthetic:9"}
STATS = {"fps": 12.5, "latency_ms": {"p50": 300.0, "p95": 500.0, "p99": 700.0}, "frames_in": 10,
         "mask_latency_ms": {"p50": 300.0, "p95": 500.0, "p99": 700.0}, "frames_processed": 9, "frames_carried": 0,
         "frames_dropped": 1}


def labels_map() -> np.ndarray:
    labels = np.zeros((40, 60), dtype=np.int32)
    labels[10:30, 5:25] = 3
    labels[0:10, 40:60] = 7
    return labels


def get(server: LiveServer, path: str) -> bytes:
    return urllib.request.urlopen(server.url + path.lstrip("/"), timeout=5).read()


def post(server: LiveServer, path: str, body) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path.lstrip("/"), data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=5).read())


@pytest.fixture
def server():
    s = LiveServer(port=0, info=INFO)
    yield s
    s.close()


def test_the_page_and_its_figures(server):
    image = np.full((40, 60, 3), 90, dtype=np.uint8)
    server.publish(image, labels_map(), STATS)
    page, script = get(server, "/").decode(), get(server, "/page.js").decode()
    assert '<script src="/page.js">' in page and "opacity" in page and "<script>" not in page
    assert "/events" in script and "/frames" in script and "/shown" in script and "/follow" in script
    state = json.loads(get(server, "/stats.json"))
    assert state["frame"] == 0 and state["fps"] == 12.5 and state["latency_ms"] == {"p50": 300.0, "p99": 700.0}
    assert state["frames_dropped"] == 1 and state["random_weights"] and state["mode"] == INFO["mode"]
    assert [(o["id"], o["area"]) for o in state["objects"]] == [(0, 0.75), (3, 0.1667), (7, 0.0833)]
    assert state["objects"][1]["colour"] == colour_of(3)
    jpeg = get(server, "/frame.jpg")
    assert jpeg[:2] == b"\xff\xd8"


def test_click_to_follow_selects_the_object_under_the_point_and_serves_its_mask(server):
    labels = labels_map()
    server.publish(np.zeros((40, 60, 3), dtype=np.uint8), labels, STATS)
    with pytest.raises(urllib.error.HTTPError, match="404"):
        get(server, "/follow/mask.png")
    state = post(server, "/follow", {"x": 15 / 60, "y": 20 / 40})  # inside object 3
    assert state["following"] == 3 and state["following_present"]
    mask = cv2.imdecode(np.frombuffer(get(server, "/follow/mask.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask, (labels == 3).astype(np.uint8) * 255)
    moved = np.roll(labels, 5, axis=1)  # the next frame: object 3 moved; the id is kept
    server.publish(np.zeros((40, 60, 3), dtype=np.uint8), moved, STATS)
    mask = cv2.imdecode(np.frombuffer(get(server, "/follow/mask.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask, (moved == 3).astype(np.uint8) * 255)
    assert post(server, "/follow", {"id": 7})["following"] == 7
    assert post(server, "/follow", {"id": None})["following"] is None


def test_pause_freezes_the_frame_but_not_the_figures_and_opacity_is_clamped(server):
    server.publish(np.zeros((40, 60, 3), dtype=np.uint8), labels_map(), STATS)
    assert post(server, "/control", {"paused": True})["paused"]
    server.publish(np.zeros((40, 60, 3), dtype=np.uint8), np.zeros((40, 60), np.int32), {**STATS, "fps": 9.0})
    state = json.loads(get(server, "/stats.json"))
    assert state["frame"] == 0 and len(state["objects"]) == 3 and state["fps"] == 9.0
    assert post(server, "/control", {"opacity": 3})["opacity"] == 1.0
    assert post(server, "/control", {"paused": False})["paused"] is False
    with pytest.raises(urllib.error.HTTPError, match="400"):
        post(server, "/control", b"{not json")


def test_events_stream_the_figures(server):
    server.publish(np.zeros((40, 60, 3), dtype=np.uint8), labels_map(), STATS)
    with urllib.request.urlopen(server.url + "events", timeout=5) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        line = resp.readline()
    assert line.startswith(b"data: ") and json.loads(line[6:])["objects"][2]["id"] == 7


def test_draw_follow_shows_only_the_followed_object_and_readout_has_the_page_figures():
    image = np.full((40, 60, 3), 90, dtype=np.uint8)
    labels = labels_map()
    out = draw(image, labels, 1.0, following=3)
    inside = (labels == 3)
    inside[10, :] = inside[29, :] = inside[:, 5] = inside[:, 24] = False  # away from the outline and the id
    assert np.array_equal(out[labels == 7], image[labels == 7])  # not followed: untouched
    assert (out[inside] != image[inside]).any()
    line = readout(STATS, INFO)
    assert "12.5 fps" in line and "p50 300 ms p99 700 ms" in line and "1 dropped" in line and "RANDOM" in line


def frame_at(index: int, captured: float, carried: bool = False) -> OutputFrame:
    labels = labels_map()
    grid = labels[::10, ::10].copy()  # 4 x 6 cells of 10 x 10 pixels: labels is its nearest upsampling
    return OutputFrame(index, str(index), grid, labels, image=np.zeros((40, 60, 3), np.uint8), stats=STATS,
                       captured=captured, carried=carried, grid=grid)


def test_writing_draws_nothing_and_viewers_share_one_drawing_per_frame(server, monkeypatch):
    import threading

    from attnseg.view import server as module

    drawn = []
    real = module.render
    monkeypatch.setattr(module, "render", lambda *a, **k: drawn.append(1) or real(*a, **k))
    for i in range(200):  # a stream with nobody watching: nothing drawn, nothing encoded
        server.write(frame_at(i, time.monotonic()))
    assert drawn == [] and json.loads(get(server, "/stats.json"))["frame"] == 199 and drawn == []
    bodies = []
    viewers = [threading.Thread(target=lambda: bodies.append(get(server, "/frame.jpg"))) for _ in range(8)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join()
    assert len(bodies) == 8 and len(set(bodies)) == 1 and drawn == [1]  # eight viewers, one drawing
    post(server, "/control", {"opacity": 0.2})
    get(server, "/frame.jpg")
    assert drawn == [1, 1]  # a new view of the same frame is drawn again, once


def test_the_browser_s_paint_reports_give_capture_to_display(server):
    start = time.monotonic()
    server.write(frame_at(5, start - 0.050, carried=True))
    with urllib.request.urlopen(server.url + "frame.jpg?after=4", timeout=5) as resp:
        assert resp.headers["X-Frame"] == "5" and resp.headers["X-Carried"] == "1"
    assert post(server, "/shown", {"frame": 5})["counted"]
    assert not post(server, "/shown", {"frame": 5})["counted"]  # a frame is counted once
    assert not post(server, "/shown", {"frame": 99})["counted"]  # never written
    state = json.loads(get(server, "/stats.json"))
    assert state["frames_painted"] == 1 and state["carried_painted"] == 1 and state["carried"]
    assert 50 <= state["display_latency_ms"]["p50"] < 50 + (time.monotonic() - start) * 1e3 + 1
    assert state["painted_fps"] > 0 and "shown_fps" not in state  # what the browser painted, not what was emitted
    for index in (6, 7, 8):  # three more paints, 50 ms apart: about 20 a second
        server.write(frame_at(index, time.monotonic()))
        time.sleep(0.05)
        assert post(server, "/shown", {"frame": index})["counted"]
    display = server.display_stats()
    assert display["painted"] == 4 and 5 < display["fps"] < 60
    assert display["fps"] * 0.5 < json.loads(get(server, "/stats.json"))["painted_fps"]
    with pytest.raises(urllib.error.HTTPError, match="400"):
        post(server, "/shown", {"frame": "five"})
    with pytest.raises(urllib.error.HTTPError, match="400"):
        get(server, "/frame.jpg?after=five")
    with pytest.raises(urllib.error.HTTPError, match="400"):
        post(server, "/shown", b'{"frame": Infinity}')


def test_a_viewer_waiting_for_a_newer_frame_gets_it_as_soon_as_it_is_written(server):
    import threading

    server.write(frame_at(0, time.monotonic()))
    got = []
    waiting = threading.Thread(target=lambda: got.append(
        urllib.request.urlopen(server.url + "frame.jpg?after=0", timeout=5).headers["X-Frame"]))
    waiting.start()
    time.sleep(0.3)
    assert got == []  # frame 0 is shown: it waits for a newer one
    server.write(frame_at(1, time.monotonic()))
    waiting.join(5)
    assert got == ["1"]


def test_the_figures_stop_counting_when_the_stream_ends(server):
    """A page opened after a short file ended paints its last frame a minute after capture: not counted."""
    server.write(frame_at(3, time.monotonic() - 0.02))
    assert post(server, "/shown", {"frame": 3})["counted"]
    server.write(frame_at(4, time.monotonic() - 60.0))  # the last frame, painted long after the end
    before = server.display_stats()
    server.end("streamed 5/5 frames", STATS)
    assert not post(server, "/shown", {"frame": 4})["counted"]
    after = json.loads(get(server, "/stats.json"))
    assert server.display_stats()["painted"] == before["painted"] == 1
    assert after["display_latency_ms"]["p99"] < 1000 and after["ended"] == "streamed 5/5 frames"


def test_the_page_says_what_happens_before_the_first_frame_and_knows_its_first_viewer():
    server = LiveServer(port=0)
    try:
        assert not server.viewed.is_set()
        server.doing("loading the weights")
        state = json.loads(get(server, "/stats.json"))  # before any frame: the step, no figures
        assert state["step"] == "loading the weights" and state["frame"] == -1 and state["mode"] is None
        assert server.viewed.is_set()  # a request read the page's figures: a viewer
        server.write(frame_at(0, time.monotonic()))
        assert json.loads(get(server, "/stats.json"))["step"] is None  # the first frame ends the waiting
    finally:
        server.close()
