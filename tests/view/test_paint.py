"""The page in a real Chromium keeps up with a 30 fps camera: frames pushed, drawn to fit the canvas, and each
paint counted by the page's own reports."""
from __future__ import annotations

import threading
import time

import numpy as np

from attnseg.engine.masks import upsample_grid
from attnseg.engine.outputs.fanout import OutputFrame
from attnseg.view import LiveServer
from tests.view.test_in_chromium import CHROMIUM, chromium

FPS = 30.0


def camera_frames(n: int) -> list[np.ndarray]:
    """A smooth 480x854 scene that moves (a camera's JPEG size, not noise's)."""
    ys, xs = np.mgrid[0:480, 0:854]
    return [np.stack([(xs + 7 * t) % 256, (ys + 3 * t) % 256, ((xs + ys) // 4 + 5 * t) % 256], -1).astype(np.uint8)
            for t in range(n)]


def test_chromium_paints_nearly_every_frame_of_a_30_fps_stream():
    sync_api = chromium()
    assert CHROMIUM
    server = LiveServer(port=0)
    frames = camera_frames(16)
    grid = np.zeros((30, 53), np.int32)  # a carried frame's small map (a segmented one's patches are fewer)
    grid[6:19, 12:31], grid[20:25, 35:45] = 1, 2
    labels = upsample_grid(grid, (480, 854))
    stop, fed = threading.Event(), []

    def camera():
        start, i = time.monotonic(), 0
        while not stop.is_set():
            server.write(OutputFrame(i, str(i), grid, labels, grid=grid, image=frames[i % len(frames)], stats={},
                                     captured=time.monotonic()))
            fed.append(time.monotonic())
            i += 1
            time.sleep(max(0.0, start + i / FPS - time.monotonic()))

    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            feeder = threading.Thread(target=camera, daemon=True)
            feeder.start()
            page.goto(server.page_url, wait_until="domcontentloaded")
            deadline = time.monotonic() + 30
            while server.frames_painted < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            painted0, fed0 = server.frames_painted, len(fed)
            time.sleep(4.0)
            painted, came = server.frames_painted - painted0, len(fed) - fed0
            canvas = page.evaluate("[document.getElementById('view').width, document.getElementById('stage')"
                                   ".clientWidth]")
            browser.close()
    finally:
        stop.set()
        server.close()
    # paints are reported every 250 ms: the last ones of the window may not be in yet
    assert painted >= 0.75 * came - 10, (painted, came)
    assert server.display_stats()["p50"] < 300
    assert canvas[0] <= canvas[1] < 854  # drawn to fit the room the canvas has, not at the frame's size
