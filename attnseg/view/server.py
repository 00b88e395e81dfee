"""The live page: a stream's overlay, figures and objects over HTTP, with pause, opacity and click-to-follow.

`LiveServer` serves, on localhost (its routes: attnseg.view.http):
- `/`: the page (page.html, page.js, page.css): the overlay scaled to the window, a panel with the segmented and
  shown frames a second, capture-to-display p50/p99 (as the browser reports its paints) beside the engine's
  capture-to-mask, frames carried and dropped, the mode and weights (random ones flagged), the objects with their
  colour and area, pause/resume, overlay opacity, and click-to-follow;
- `/frames?width=W&height=H`: the page's frames, pushed as they come, each drawn to fit its canvas; `POST /shown`
  {"frames": [[N, ms ago], ...]}: the page painted these frames (capture to then is its display latency);
  `/frame.jpg?after=N` (the newest frame later than N) and `/stream` (MJPEG) for other clients;
- `/events` (Server-Sent Events) and `/stats.json`: the figures;
- `POST /control` {"paused": bool, "opacity": 0..1}; `POST /follow` {"x", "y"} (fractions of the image:
  the object under that point) or {"id": n} or {"id": null}; `/follow/mask.png`: the followed object's
  mask alone (0/255) in the frame shown. Object ids are the streaming runtime's persistent track ids, so a
  followed object stays followed from frame to frame.
It serves the address it is given, IPv4 or IPv6 (`::1` is loopback too); beyond loopback it says so loudly, and
`token` guards every request; it has no TLS. attnseg.view.http says how it stands against hostile clients.
It is one of the outputs a stream fans out to (attnseg.engine.outputs.fanout), one that shows the newest frame
(`Sink.newest`): `write(frame)` keeps an OutputFrame (constant time: the stream never waits for the page), each
camera frame as soon as it is read (the runtime's preview, carried) and the ordered results after, a frame older
than the one shown not shown; what a viewer asks for is counted and drawn from the frame's grid labels when asked,
once per frame (attnseg.engine.outputs.drawing), and a carried frame's flow is computed then.
"""
from __future__ import annotations

import collections
import ipaddress
import itertools
import logging
import socket
import threading
import time

import numpy as np

from ..engine.outputs.drawing import colour_of
from ..engine.outputs.fanout import OutputFrame
from ..engine.live.stats import percentiles
from ..errors import SettingError
from .http import PageHttp
from .tiles import tiled_name
from ..engine.outputs.drawing import layout, objects, render

log = logging.getLogger(__name__)
CAPTURES = 512  # frames whose capture time is kept for the browser's paint reports
PAINT_WINDOW = 2.0  # seconds of paint reports the page's painted frames/s counts
JPEG_QUALITY = 80
LISTED = 24  # objects the page's panel lists at most: the largest


class LiveServer:
    """The live page and its endpoints over HTTP on `host` (port 0: any free port); `info` is what stays fixed
    for the run (mode, weights, random_weights, source). Feed it with write() once per result: that only keeps
    the frame (a slow or absent viewer costs the stream nothing); the drawing and the JPEG are made when a viewer
    asks, once per frame however many ask (attnseg.engine.outputs.drawing)."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", info: dict | None = None,
                 token: str | None = None):
        if token is not None and not token:
            raise SettingError("an empty token guards nothing: give one, or none on localhost")
        self.info = dict(info or {})
        self.token = token  # every request must carry it (?token=: the page sends it with its own requests)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.loopback = _loopback(host)
        if not self.loopback:
            log.warning("the live page is served on %s, beyond this machine: %s; it has no TLS (put a TLS proxy in "
                        "front of it)", host, "every request needs the token" if token else
                        "ANYONE WHO CAN REACH THIS ADDRESS CAN WATCH AND CONTROL IT (give a token)")
        self.lock = threading.Lock()  # the state below: written by the stream, read by the viewers
        self.version = 0  # bumps with every change the page should see
        self.view_version = 0  # bumps when the view changes without a new frame (pause, opacity, follow)
        self.shown = None  # the OutputFrame shown (kept while paused)
        self.stats: dict = {}
        self.paused, self.opacity, self.following = False, 0.5, None
        self.closed = False
        self.ended: str | None = None  # the stream's closing line once it has ended (the page keeps the last frame)
        self.step: str | None = None  # what happens before the first frame (loading the weights, ...), shown
        self.viewed = threading.Event()  # set when a page first reads the live figures or frames
        self.captured: dict[int, tuple[float, bool]] = {}  # frame -> (capture time, carried), the last CAPTURES
        self.painted: list[float] = []  # seconds from capture to painted in a browser (the last 10000)
        self.frames_painted = self.carried_painted = 0
        self.first_painted = self.last_painted = None  # frame indices
        self.paint_times: collections.deque[float] = collections.deque(maxlen=10000)  # time.monotonic() of each
        self._counted: tuple | None = None  # (frame, its objects): counted once per frame
        self._drawn: tuple | None = None  # (frame, opacity, following, jpeg): drawn once per frame and view
        self._drawing = threading.Lock()
        self.drawing_s = 0.0  # seconds spent drawing and encoding frames for viewers (a carried frame's flow, made
        # when it is first drawn, is the stream's busy_s["carry"])
        self.started = time.monotonic()
        sock = socket.create_server((host, port), family=family)  # bound here: a port in use is the caller's error
        self.port = port = sock.getsockname()[1]
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown_host}:{port}/"
        self.page_url = self.url + (f"?token={token}" if token else "")  # what a viewer opens
        # the names a request may use (a page served under another name is a DNS rebinding: refused); on port 80 a
        # browser sends the name alone
        names = {shown_host, "127.0.0.1", "localhost", "[::1]"}
        self.hosts = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
        self.origins = {f"http://{h}" for h in self.hosts}
        self.http = PageHttp(self, sock)  # every client on one event loop; what is drawn for them, on one thread

    @property
    def readers(self) -> int:
        """Long-lived /events and /stream readers now."""
        return self.http.readers

    # -- fed by the stream ---------------------------------------------------------------------------------

    def doing(self, step: str | None) -> None:
        """What happens before the first frame comes (the page shows it in place of the overlay); None: done."""
        with self.lock:
            self.step = step
            self._changed()

    def wait_for_viewer(self) -> None:
        """Until a page is open on this server (interruptible: Ctrl-C)."""
        while not self.viewed.wait(0.2):
            pass

    def write(self, frame) -> None:
        """An OutputFrame of a stream (attnseg.engine.outputs.fanout): kept as the frame to show unless paused; its
        figures always. Constant time: nothing is drawn here."""
        with self.lock:
            self.step = None
            self.stats = frame.stats or self.stats
            shown = self.shown
            # a frame before the one shown (a stream's ordered result, after its preview) is not shown
            newer = shown is None or frame.index > shown.index or frame.source != shown.source
            if not self.paused and newer:
                self.shown = frame
                if frame.captured is not None:
                    self.captured[frame.index] = (frame.captured, frame.carried)
                    if len(self.captured) > CAPTURES:
                        del self.captured[next(iter(self.captured))]
            self.version += 1
        self._wake()

    def end(self, summary: str, stats: dict | None = None) -> None:
        """The stream has ended: the page says so with `summary` (its closing line) and the final figures, and keeps
        showing its last frame."""
        with self.lock:
            self.ended = summary
            if stats is not None:
                self.stats = stats
            self._changed()

    def publish(self, image: np.ndarray, labels: np.ndarray, stats: dict) -> None:
        """A result given as its RGB image, label map and figures (no grid: the map itself is the grid)."""
        index = self.shown.index + 1 if self.shown is not None else 0
        self.write(OutputFrame(index, str(index), labels, labels, image=image, stats=stats))

    # -- drawn when a viewer asks ----------------------------------------------------------------------------

    def view(self, jpeg: bool = True, box: tuple[int, int] | None = None
             ) -> tuple[OutputFrame | None, list[dict], bytes | None]:
        """(the frame shown, its objects, its overlay as a JPEG when asked): each counted and drawn once per
        frame (and view: opacity, follow, size), however many viewers ask. `box`: (width, height) in pixels the
        overlay is drawn to fit (a page's canvas): a frame larger than that is scaled down before it is drawn, so
        neither this side nor the browser handles pixels nobody sees."""
        import cv2

        with self.lock:
            frame, opacity, following = self.shown, self.opacity, self.following
        if frame is None:
            return None, [], None
        with self._drawing:
            grid = frame.grid
            lay = layout(grid.shape, frame.mask.shape)
            if self._counted is None or self._counted[0] is not frame:
                shown = objects(grid, lay)
                for o in shown:
                    o["colour"] = colour_of(o["id"])
                self._counted = (frame, shown)
            shown = self._counted[1]
            if not jpeg:
                return frame, shown, None
            size = fitted(frame.image.shape[:2], box)
            drawn = self._drawn
            if drawn is None or drawn[0] is not frame or drawn[1:4] != (opacity, following, size):
                start = time.perf_counter()
                image = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
                if size != image.shape[:2]:
                    image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)
                    sy, sx = size[0] / frame.image.shape[0], size[1] / frame.image.shape[1]
                    shown = [{**o, "x": o["x"] * sx, "y": o["y"] * sy} for o in shown]
                out = render(image, grid, layout(grid.shape, size), opacity, following, shown, bgr=True)
                jpeg_bytes = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
                self._drawn = drawn = (frame, opacity, following, size, jpeg_bytes)
                self.drawing_s += time.perf_counter() - start
            return frame, self._counted[1], drawn[4]

    def display_stats(self) -> dict:
        """Capture to painted in a browser: p50, p95, p99 (ms) and the frames painted; drawing_share: the seconds
        spent drawing and encoding the frames viewers took, per second served."""
        with self.lock:
            times = self.paint_times
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            drawing = self.drawing_s / max(1e-9, time.monotonic() - self.started)
            return {**percentiles(self.painted), "painted": self.frames_painted, "carried": self.carried_painted,
                    "first": self.first_painted, "last": self.last_painted, "fps": round(fps, 2),
                    "drawing_share": round(drawing, 3)}

    def painted_fps(self) -> float:
        """Frames the browsers painted a second, over the last PAINT_WINDOW seconds (what the page's viewer saw)."""
        now = time.monotonic()
        with self.lock:  # the newest paints only, from the end: a state per frame never walks the whole history
            recent = sum(1 for _ in itertools.takewhile(lambda t: now - t <= PAINT_WINDOW, reversed(self.paint_times)))
            span = min(PAINT_WINDOW, now - self.paint_times[0]) if self.paint_times else 0.0
            return round(recent / span, 2) if recent and span > 0 else 0.0

    def painted_frame(self, index: int, age: float = 0.0) -> bool:
        """A browser reports that it painted frame `index`, `age` seconds ago (a page sends its paints a few at a
        time): capture to then is its display latency."""
        with self.lock:
            known = self.captured.pop(index, None)  # each frame counted once
            if known is None or self.ended is not None:  # the figures stop at the stream's end
                return False
            now = time.monotonic() - age
            self.painted.append(now - known[0])
            del self.painted[:-10000]
            self.paint_times.append(now)
            self.frames_painted += 1
            self.carried_painted += known[1]
            self.first_painted = index if self.first_painted is None else self.first_painted
            self.last_painted = index
            return True

    # -- what the page reads and changes --------------------------------------------------------------------

    def state(self) -> dict:
        """The figures of the frame shown, as /events and /stats.json send them: `painted_fps` is what the browsers
        painted (their reports), not what the stream emitted."""
        frame, shown, _ = self.view(jpeg=False)
        painted_fps = self.painted_fps()
        with self.lock:
            stats = self.stats
            lat, engine, display = (stats.get("latency_ms", {}), stats.get("mask_latency_ms", {}),
                                    percentiles(self.painted))
            return {"frame": frame.index if frame is not None else -1,
                    "carried": bool(frame is not None and frame.carried),
                    "fps": stats.get("fps", 0.0), "painted_fps": painted_fps,
                    "latency_ms": {"p50": lat.get("p50"), "p99": lat.get("p99")},
                    "mask_latency_ms": {"p50": engine.get("p50"), "p99": engine.get("p99")},
                    "display_latency_ms": {"p50": display["p50"], "p99": display["p99"]},
                    "frames_painted": self.frames_painted, "carried_painted": self.carried_painted,
                    **{k: stats.get(k, 0) for k in ("frames_in", "frames_processed", "frames_carried",
                                                    "frames_dropped")},
                    **{k: self.info.get(k) for k in ("mode", "weights", "random_weights", "source")},
                    "objects": [{k: o[k] for k in ("id", "colour")} | {"area": round(o["area"], 4),
                                "name": tiled_name(o["id"], self.info.get("sources", 1))}
                                for o in listed(shown, self.following)],
                    "objects_total": len(shown),
                    "following": self.following,
                    "following_present": any(o["id"] == self.following for o in shown),
                    "paused": self.paused, "opacity": self.opacity, "ended": self.ended, "step": self.step,
                    "busy_share": stats.get("busy_share", {}),  # each stage's share of the engine's seconds
                    "drawing_share": round(self.drawing_s / max(1e-9, time.monotonic() - self.started), 3)}

    def control(self, paused: bool | None = None, opacity: float | None = None) -> None:
        with self.lock:
            if paused is not None:
                self.paused = bool(paused)
            if opacity is not None:
                self.opacity = min(1.0, max(0.0, float(opacity)))
            self._changed()

    def follow(self, obj: int | None = None, *, x: float | None = None, y: float | None = None) -> int | None:
        """Follow `obj`, or the object at (x, y) (fractions of the frame shown), or nobody (obj None, no point)."""
        with self.lock:
            if x is not None and y is not None and self.shown is not None:
                h, w = self.shown.mask.shape
                obj = int(self.shown.mask[min(h - 1, max(0, int(y * h))), min(w - 1, max(0, int(x * w)))])
            self.following = None if obj is None else int(obj)
            self._changed()
            return self.following

    def mask_png(self) -> bytes | None:
        """The followed object's mask as a PNG, or None when nobody is followed."""
        import cv2

        mask = self.followed_mask()
        return None if mask is None else cv2.imencode(".png", mask)[1].tobytes()

    def followed_mask(self) -> np.ndarray | None:
        """The followed object's mask (uint8 0/255) in the frame shown; None when nobody is followed."""
        with self.lock:
            if self.following is None or self.shown is None:
                return None
            return (self.shown.mask == self.following).astype(np.uint8) * 255

    def _changed(self) -> None:
        """(under the lock) The view changed: the viewers are woken."""
        self.version += 1
        self.view_version += 1
        self._wake()

    def close(self) -> None:
        """Stop serving: every reader is let go, the port closed (within about a second)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.http.wake()
        self.http.stop()

    def _wake(self) -> None:
        self.http.wake()


def listed(shown: list[dict], following: int | None) -> list[dict]:
    """The objects the panel lists: the LISTED largest (and the followed one), in id order. A browser that rebuilt
    a list of hundreds of objects five times a second would spend the cores the stream needs."""
    if len(shown) <= LISTED:
        return shown
    largest = sorted(shown, key=lambda o: -o["area"])[:LISTED]
    keep = {o["id"] for o in largest} | {following}
    return [o for o in shown if o["id"] in keep]


def fitted(size: tuple[int, int], box: tuple[int, int] | None) -> tuple[int, int]:
    """(height, width) of a frame of `size` scaled down to fit `box` (width, height), its aspect kept; never up."""
    if box is None:
        return size
    scale = min(1.0, box[0] / size[1], box[1] / size[0])
    return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))) if scale < 1 else size


def _loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv4 or IPv6) is this machine only."""
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False
