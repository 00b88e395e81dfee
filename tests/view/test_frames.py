"""The page's pushed frames (/frames) and its paint reports, without a browser."""
from __future__ import annotations

import http.client
import struct
import time

import cv2
import numpy as np
import pytest

from attnseg.view import LiveServer
from attnseg.view.http import PART
from tests.view.test_server import get, labels_map, post

STATS = {"fps": 1.0}


@pytest.fixture
def server():
    s = LiveServer(port=0)
    yield s
    s.close()


def read_part(resp) -> tuple[int, bool, np.ndarray]:
    index, size, carried = PART.unpack(resp.read(PART.size))
    jpeg = resp.read(size)
    return int(index), bool(carried), cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def open_frames(server: LiveServer, query: str = ""):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/frames" + query)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/octet-stream"
    return conn, resp


def test_frames_are_pushed_as_they_come_drawn_to_fit_the_canvas(server):
    image = np.full((40, 60, 3), 90, dtype=np.uint8)
    server.publish(image, labels_map(), STATS)
    conn, resp = open_frames(server, "?width=30&height=100")
    try:
        index, carried, drawn = read_part(resp)
        assert (index, carried) == (0, False) and drawn.shape == (20, 30, 3)  # half size: fits 30 wide
        server.publish(image, labels_map(), STATS)
        server.publish(image, labels_map(), STATS)
        index, _, _ = read_part(resp)
        assert index in (1, 2)  # the newest when it was drawn, never a frame older than one sent
        if index == 1:
            assert read_part(resp)[0] == 2
    finally:
        conn.close()


def test_a_canvas_larger_than_the_frame_gets_the_frame_as_it_is(server):
    server.publish(np.full((40, 60, 3), 90, dtype=np.uint8), labels_map(), STATS)
    conn, resp = open_frames(server, "?width=4000&height=3000")
    try:
        assert read_part(resp)[2].shape == (40, 60, 3)
    finally:
        conn.close()
    conn, resp = open_frames(server)  # no size: as it is
    try:
        assert read_part(resp)[2].shape == (40, 60, 3)
    finally:
        conn.close()


@pytest.mark.parametrize("query", ["?width=0&height=10", "?width=ten&height=10", "?width=10", "?width=99999&height=9"])
def test_a_bad_canvas_size_is_refused(server, query):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/frames" + query)
    assert conn.getresponse().status == 400
    conn.close()


def test_paints_reported_a_few_at_a_time_count_from_when_each_was_painted(server):
    image = np.zeros((40, 60, 3), np.uint8)
    for _ in range(3):
        server.publish(image, labels_map(), STATS)
    for index in range(3):
        server.captured[index] = (time.monotonic() - 1.0, index == 2)  # captured 1 s ago; frame 2 carried
    assert post(server, "/shown", {"frames": [[0, 800], [1, 500], [2, 0], [7, 0]]})["counted"] == 3  # 7: unknown
    shown = server.display_stats()
    assert shown["painted"] == 3 and shown["carried"] == 1 and shown["first"] == 0 and shown["last"] == 2
    assert 150 <= shown["p50"] <= 600 and shown["p99"] >= 900  # 200, 500 and 1000 ms after capture
    assert post(server, "/shown", {"frames": [[0, 0]]})["counted"] == 0  # each frame counted once


@pytest.mark.parametrize("body", [{"frames": []}, {"frames": [[1]]}, {"frames": [[1, -5]]}, {"frames": [[1, 1e9]]},
                                  {"frames": [[-1, 0]]}, {"frames": [[1, 0]] * 65}, {"frames": 3},
                                  {"frame": 1, "frames": [[1, 0]]}, {}])
def test_bad_paint_reports_are_400(server, body):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        post(server, "/shown", body)
    assert err.value.code == 400


def test_head_of_frames_is_answered(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("HEAD", "/frames")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/octet-stream"
    conn.close()
    assert get(server, "/page.js").count(b"/frames") >= 1
    assert struct.calcsize("<dIB3x") == PART.size == 16  # the page reads a 16-byte header


def test_the_panel_lists_the_largest_objects_and_the_followed_one(server):
    from attnseg.view.server import LISTED

    grid = np.arange(8 * 8, dtype=np.int32).reshape(8, 8)  # 64 objects
    grid[:4] = 0  # object 0: half the frame
    server.publish(np.zeros((64, 64, 3), np.uint8), np.kron(grid, np.ones((8, 8), np.int32)), STATS)
    server.follow(63)
    state = server.state()
    ids = [o["id"] for o in state["objects"]]
    assert state["objects_total"] == 33 and len(ids) == LISTED + 1 and ids == sorted(ids)
    assert 0 in ids and 63 in ids and state["following_present"]


def test_the_page_counts_its_drawing_time(server):
    assert server.display_stats()["drawing_share"] == 0
    server.publish(np.zeros((40, 60, 3), np.uint8), labels_map(), STATS)
    assert get(server, "/frame.jpg")[:2] == b"\xff\xd8"
    assert server.drawing_s > 0 and server.state()["drawing_share"] > 0
