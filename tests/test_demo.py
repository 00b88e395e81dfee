"""`attnseg demo` (and demo_webcam.py, which calls it) without a camera: the live page (in a real browser where
chromium is installed), a video file, the no-camera error."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from attnseg.view import LiveServer, annotate
from tests.cli.helpers import as_from_a_terminal, video_frames

ROOT = Path(__file__).resolve().parents[1]
from attnseg.cli import demo  # noqa: E402
BASE = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]


def test_the_live_page_streams_mjpeg():
    server = LiveServer(port=0)
    try:
        server.publish(np.full((24, 32, 3), 200, dtype=np.uint8), np.zeros((24, 32), np.int32), {})
        with urllib.request.urlopen(server.url + "stream", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = resp.read(200)
            assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head
    finally:
        server.close()


def test_demo_serves_a_synthetic_stream_when_there_is_no_display(monkeypatch, capsys):
    servers = []

    class Recording(LiveServer):
        def __init__(self, port, **kwargs):
            super().__init__(0, **kwargs)
            servers.append(self)

    monkeypatch.setattr(demo, "LiveServer", Recording)
    monkeypatch.setattr(demo, "gui_available", lambda: False)
    code = []
    run = threading.Thread(target=lambda: code.append(demo.main(
        ["--source", "synthetic:72", "--no-realtime", "--drop", "wait", *BASE, "--port", "0", "--exit-at-end"])))
    run.start()
    deadline = time.monotonic() + 60
    while not (servers and servers[0].shown is not None) and time.monotonic() < deadline:
        time.sleep(0.05)
    jpeg = urllib.request.urlopen(servers[0].url + "frame.jpg", timeout=5).read()
    assert jpeg[:2] == b"\xff\xd8"
    run.join(timeout=60)
    assert code == [0]
    err = capsys.readouterr().err
    assert "serving the live page at http://127.0.0.1:" in err and "72 frames" in err


def test_demo_writes_a_video(tmp_path):
    out = tmp_path / "demo.mp4"
    assert demo.main(["--source", "synthetic:9", *BASE, "--video", str(out)]) == 0
    assert video_frames(out) == (9, (240, 320))  # every frame annotated, at the source's size


def test_an_existing_video_device_or_fifo_is_refused_before_any_work(tmp_path, capsys):
    import os

    out = tmp_path / "demo.mp4"
    out.write_bytes(b"someone's video")
    os.mkfifo(tmp_path / "fifo.mp4")
    assert demo.main(["--source", "synthetic:9", *BASE, "--video", str(out)]) == 2
    assert capsys.readouterr().err.strip() == \
        f"attnseg: error: {out} exists: overwrite replaces it, or name another file (--overwrite)"
    assert demo.main(["--source", "synthetic:9", *BASE, "--video", str(tmp_path / "fifo.mp4")]) == 2
    assert "it is a FIFO, not a regular file" in capsys.readouterr().err
    assert out.read_bytes() == b"someone's video"
    assert demo.main(["--source", "synthetic:9", *BASE, "--video", str(out), "--overwrite"]) == 0
    assert video_frames(out) == (9, (240, 320))


@pytest.mark.parametrize("flags,says", [
    (["--port", "70000"], "argument --port: a port from 0 (any free one) to 65535, got '70000'"),
    (["--port", "-1"], "argument --port: a port from 0 (any free one) to 65535, got '-1'"),
    (["--token", ""], "argument --token: an empty token guards nothing"),
])
def test_a_bad_port_or_an_empty_token_is_one_line_before_anything_loads(flags, says, capsys, monkeypatch):
    monkeypatch.setattr("attnseg.engine.session.Segmenter", None)  # nothing may be built
    with pytest.raises(SystemExit) as ended:
        demo.main(["--source", "synthetic:9", *BASE, *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2 and len(err) == 1 and err[0].startswith(f"attnseg demo: error: {says}")


def test_the_page_stays_up_after_a_file_ends_until_ctrl_c():
    """A file that ends leaves the page serving its last frame, saying that it ended with the final figures; Ctrl-C
    then quits at once."""
    proc, url, lines = start_demo("--source", "synthetic:9", "--page", "--port", "0", "--no-realtime", "--drop", "wait",
                                  *BASE)
    try:
        deadline = time.monotonic() + 120
        open_once_it_waited(proc, url, lines, deadline)
        while not any("page stays up" in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None  # still serving
        state = json.loads(urllib.request.urlopen(url + "stats.json", timeout=5).read())
        assert state["ended"].startswith("streamed 9/9 frames segmented") and "ended: end of source" in state["ended"]
        assert state["frame"] == 8 and state["frames_processed"] == 9
        assert urllib.request.urlopen(url + "frame.jpg", timeout=5).read()[:2] == b"\xff\xd8"
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - began < 2.0 and proc.returncode == 0
    finally:
        proc.kill()


def test_the_installed_command_serves_the_page_of_a_video_file(tmp_path):
    """`attnseg demo --source FILE --random-weights`, as the package installs it: the page is served at once, the
    file waits for its first viewer (a short clip is not over before anyone looks), then the page serves the
    file's frames segmented and says the stream ended."""
    clip = tmp_path / "clip.avi"
    video = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 24, (80, 60))
    for frame in np.random.default_rng(0).integers(0, 255, (8, 60, 80, 3), dtype=np.uint8):
        video.write(frame)
    video.release()
    proc, url, lines = start_demo("--source", str(clip), "--random-weights", "--arch", "vit_small_16", "--resolution",
                                  "32", "48", "--port", "0", "--no-realtime", "--drop", "wait",
                                  command=("-m", "attnseg", "demo"))
    try:
        deadline = time.monotonic() + 120
        open_once_it_waited(proc, url, lines, deadline)
        while not any("page stays up" in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.1)
        state = json.loads(urllib.request.urlopen(url + "stats.json", timeout=5).read())
        assert state["frames_processed"] == 8 and state["ended"].startswith("streamed 8/8 frames segmented")
        assert urllib.request.urlopen(url + "frame.jpg", timeout=5).read()[:2] == b"\xff\xd8"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        proc.kill()


def test_loop_plays_a_file_again(tmp_path):
    out = tmp_path / "demo.mp4"
    assert demo.main(["--source", "synthetic:5", "--loop", "--max-frames", "12", "--no-realtime", "--drop", "wait",
                      *BASE, "--video", str(out)]) == 0
    assert video_frames(out)[0] == 12  # 5 + 5 + 2: played again from its start


def test_demo_without_a_camera_is_one_clear_error(capsys):
    assert demo.main(["--source", "9", *BASE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("attnseg: error: cannot open camera 9")
    assert not any("serving" in line for line in err)  # the source fails before any page is served


def test_annotate_writes_ids_and_readout():
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    labels = np.zeros((60, 80), dtype=np.int32)
    labels[20:50, 30:70] = 7
    out = annotate(image, labels, "10.0 fps")
    assert out.shape == image.shape and out[:18].any() and (out != image).any()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def open_once_it_waited(proc, url: str, lines: list[str], deadline: float) -> None:
    """A file in the demo waits for its first viewer: nothing plays for 3 s (its few frames are well under a
    second of work) until the page is opened."""
    while not any("starts playing when the page is opened" in line for line in lines):
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.1)
    time.sleep(3)  # nobody has looked yet
    assert not any("streamed" in line or "page stays up" in line for line in lines), "".join(lines)
    assert urllib.request.urlopen(url, timeout=5).read().startswith(b"<!doctype html>")  # a viewer opens it


def start_demo(*args: str, command: tuple[str, ...] = (str(ROOT / "demo_webcam.py"),)
               ) -> tuple[subprocess.Popen, str, list[str]]:
    """The demo as a user starts it (demo_webcam.py, or `command`); its page's URL, and its stderr lines as they
    come."""
    proc = subprocess.Popen([sys.executable, *command, *args], stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_from_a_terminal())
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if "serving the live page at " in line:
            url = line.split("serving the live page at ")[1].strip()
            threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
            return proc, url, lines
    raise AssertionError("the demo did not serve its page:\n" + "".join(lines))


def test_the_live_page_in_a_real_browser(tmp_path):
    """The page loads, frames advance, the figures change, pause holds the frame, clicking an object selects its
    id and /follow/mask.png is that object's mask. Screenshots are kept ($ATTNSEG_SCREENSHOT_DIR, else tmp): the
README's docs/images/demo_page.png comes from `ATTNSEG_SCREENSHOT_DIR=docs/images pytest tests/test_demo.py`."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    proc, url, lines = start_demo("--source", "synthetic:1200", "--page", "--port", "0", "--random-weights",
                                  "--arch", "vit_small_16", "--resolution", "64", "96", "--qk-gain", "8")
    shots = Path(os.environ.get("ATTNSEG_SCREENSHOT_DIR", tmp_path))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 560}, bypass_csp=True)  # wait_for_function evals
            page.goto(url, wait_until="domcontentloaded")  # an MJPEG <img> never finishes loading
            frame = lambda: page.evaluate("Number(document.body.dataset.frame || -1)")  # noqa: E731
            page.wait_for_function("Number(document.body.dataset.frame) >= 3", timeout=60000)
            first, processed = frame(), page.inner_text("#processed")
            page.wait_for_function(f"Number(document.body.dataset.frame) > {first + 3}", timeout=60000)
            page.wait_for_function(f"document.querySelector('#processed').textContent !== '{processed}'",
                                   timeout=60000)  # the figures change with the frames (carried ones between)
            assert "RANDOM WEIGHTS" in page.inner_text("#weights")
            # the page reports its paints: capture to display is measured in the browser, beside the engine's
            page.wait_for_function("document.querySelector('#p50').textContent.endsWith(' ms')", timeout=60000)
            painted = page.request.get(url + "stats.json").json()
            assert painted["frames_painted"] > 0 and painted["display_latency_ms"]["p50"] > 0
            assert page.locator("#list li").count() >= 2
            view = page.locator("#view").bounding_box()
            assert view["width"] > 500  # the 320x240 stream, scaled to the window
            page.screenshot(path=str(shots / "demo_page.png"))

            page.click("#pause")
            page.wait_for_function("document.querySelector('#pause').textContent === 'resume'")
            held = json.loads(page.evaluate("fetch('/stats.json').then(r => r.text())"))
            time.sleep(1.0)
            assert json.loads(page.evaluate("fetch('/stats.json').then(r => r.text())"))["frame"] == held["frame"]

            # a point inside a small object (not the largest), found from its mask, clicked on the page
            target = min((o for o in held["objects"]), key=lambda o: o["area"])
            req = page.request.post(url + "follow", data={"id": target["id"]})
            mask = cv2.imdecode(np.frombuffer(page.request.get(url + "follow/mask.png").body(), np.uint8), 0)
            page.request.post(url + "follow", data={"id": None})
            page.wait_for_function("document.querySelector('#following').textContent === 'none'")  # its event came
            ys, xs = np.nonzero(mask)
            i = len(ys) // 2
            page.mouse.click(view["x"] + (xs[i] + 0.5) / mask.shape[1] * view["width"],
                             view["y"] + (ys[i] + 0.5) / mask.shape[0] * view["height"])
            page.wait_for_function(f"document.querySelector('#following').textContent === 'id {target['id']}'")
            assert page.request.get(url + "stats.json").json()["following"] == target["id"]
            followed = cv2.imdecode(np.frombuffer(page.request.get(url + "follow/mask.png").body(), np.uint8), 0)
            assert req.ok and np.array_equal(followed, mask) and followed[ys[i], xs[i]] == 255
            assert page.locator("#list li.followed").inner_text().startswith(f"id {target['id']}")

            page.click("#pause")  # resume: frames advance again, the object still followed by its id
            page.wait_for_function(f"Number(document.body.dataset.frame) > {held['frame'] + 2}", timeout=60000)
            assert page.inner_text("#following") == f"id {target['id']}"
            page.screenshot(path=str(shots / "demo_page_following.png"))
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0, "".join(lines)
    assert (shots / "demo_page.png").stat().st_size > 10000 and (shots / "demo_page_following.png").is_file()


def test_the_page_in_a_browser_says_the_stream_ended():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    proc, url, lines = start_demo("--source", "synthetic:6", "--page", "--port", "0", "--no-realtime", "--drop", "wait",
                                  *BASE)
    try:
        deadline = time.monotonic() + 120
        open_once_it_waited(proc, url, lines, deadline)
        while not any("page stays up" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(bypass_csp=True)  # the page's CSP forbids eval, which wait_for_function uses
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function("!document.querySelector('#ended').hidden", timeout=30000)
            assert page.inner_text("#ended").startswith("stream ended: streamed 6/6 frames segmented")
            page.wait_for_function("Number(document.body.dataset.frame) === 5", timeout=30000)  # the last frame
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_several_sources_are_one_tile_each_on_the_page(monkeypatch, capsys):
    """Two sources on one page: each tile is its source's latest frame; ids kept apart per source; a source that
    ends first keeps its last frame while the other goes on."""
    servers = []

    class Recording(LiveServer):
        def __init__(self, port, **kwargs):
            super().__init__(0, **kwargs)
            servers.append(self)
            self.frames = []

        def write(self, frame):
            self.frames.append(frame)
            super().write(frame)

    monkeypatch.setattr(demo, "LiveServer", Recording)
    monkeypatch.setattr(demo, "gui_available", lambda: False)
    assert demo.main(["--source", "synthetic:12", "--source", "synthetic:5", "--no-realtime", "--drop", "wait",
                      *BASE, "--port", "0", "--exit-at-end"]) == 0
    server = servers[0]
    assert server.info["source"] == "synthetic:12, synthetic:5"
    shown = server.frames
    gh, gw = shown[0].grid.shape[0], shown[0].grid.shape[1] // 2  # the patch grid (32x48 / 16: 2x3)
    th, tw = gh * round(240 / gh), gw * round(320 / gw)  # a 240x320 frame in whole cells
    assert shown and all(f.image.shape == (th, 2 * tw, 3) for f in shown)  # two tiles side by side
    last = shown[-1]
    left, right = last.grid[:, :gw], last.grid[:, gw:]
    assert (left % 2 == 0).all() and (right % 2 == 1).all()  # source n's object k shown as 2k + n
    assert np.array_equal(last.mask, np.kron(last.grid, np.ones((th // gh, tw // gw), np.int32)))  # whole cells
    _, objects, jpeg = server.view()
    assert jpeg[:2] == b"\xff\xd8" and {o["id"] % 2 for o in objects} == {0, 1}
    names = [o["name"] for o in server.state()["objects"]]  # the page lists "source:id"
    assert server.info["sources"] == 2 and {n.split(":")[0] for n in names} == {"0", "1"}
    err = capsys.readouterr().err
    assert "17 frames segmented" in err and "synthetic:5: end of source" in err
