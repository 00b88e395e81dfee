"""The live page's server without a browser: figures, controls, click-to-follow and the followed mask."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from attnseg.engine.drawing import colour_of
from attnseg.view import LiveServer, draw, readout

INFO = {"mode": "st vit_small_16 64x96 on cpu", "weights": "random", "random_weights": True, "source": "synthetic:9"}
STATS = {"fps": 12.5, "latency_ms": {"p50": 300.0, "p95": 500.0, "p99": 700.0}, "frames_in": 10,
         "frames_processed": 9, "frames_dropped": 1}


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
    page = get(server, "/").decode()
    assert "/events" in page and "/stream" in page and "/follow" in page and "opacity" in page
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
    assert "12.5 fps" in line and "p50 300 ms p99 700 ms" in line and "dropped 1" in line and "RANDOM" in line
