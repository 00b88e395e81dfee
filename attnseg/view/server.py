"""The live page: a stream's overlay, figures and objects over HTTP, with pause, opacity and click-to-follow.

`LiveServer` serves, on localhost:
- `/`: the page (page.html): the overlay scaled to the window, a panel with the segmented and shown frames a
  second, capture-to-display p50/p99 (as the browser reports its paints) beside the engine's capture-to-mask,
  frames carried and dropped, the mode and weights (random ones flagged), the objects with their colour and
  area, pause/resume, overlay opacity, and click-to-follow;
- `/frame.jpg?after=N`: the overlay of the newest frame, waiting for one later than N (X-Frame names it,
  X-Carried says whether its labels were carried); `POST /shown` {"frame": N}: the page has painted frame N
  (capture to then is its display latency); `/stream` (MJPEG, multipart/x-mixed-replace) for other clients;
- `/events` (Server-Sent Events, at most EVENTS_PER_S) and `/stats.json`: the figures;
- `POST /control` {"paused": bool, "opacity": 0..1}; `POST /follow` {"x", "y"} (fractions of the image:
  the object under that point) or {"id": n} or {"id": null}; `/follow/mask.png`: the followed object's
  mask alone (0/255) in the frame shown. Object ids are the streaming runtime's persistent track ids, so a
  followed object stays followed from frame to frame.
Against hostile input (tests/view/test_hostile.py): a request whose Host is not the address served is refused
(DNS rebinding), and so is a POST from another Origin or without a JSON body (what another site's page can send
without a preflight); bodies are checked by type and range and capped at BODY_LIMIT bytes; reads and writes time
out after IO_TIMEOUT seconds, at most MAX_CONNECTIONS clients are served at once and MAX_STREAMS live readers;
HEAD and OPTIONS are answered, without CORS. It serves localhost: it has no authentication and no TLS.
It is one of the outputs a stream fans out to (attnseg.engine.outputs): `write(frame)` keeps an OutputFrame
(constant time: the stream never waits for the page); what a viewer asks for is counted and drawn from the
frame's grid labels when asked, once per frame (attnseg.view.render).
"""
from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ..engine.drawing import colour_of
from ..engine.outputs import OutputFrame
from ..engine.streaming import percentiles
from .render import layout, objects, render

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")
TYPES = {"/": "text/html; charset=utf-8", "/stats.json": "application/json", "/frame.jpg": "image/jpeg",
         "/follow/mask.png": "image/png", "/events": "text/event-stream",
         "/stream": "multipart/x-mixed-replace; boundary=frame"}  # what each GET (and HEAD) answers
BODY_LIMIT = 4096  # bytes of a POST body (413 beyond)
IO_TIMEOUT = 10.0  # seconds a read or a write may wait on a client (a slow or idle one is dropped)
MAX_CONNECTIONS = 32  # clients served at once (503 beyond); each holds a thread while it is connected
MAX_STREAMS = 8  # of which long-lived /events and /stream readers
CAPTURES = 512  # frames whose capture time is kept for the browser's paint reports
JPEG_QUALITY = 80
EVENTS_PER_S = 5.0  # figures sent to a page at most this often


class LiveServer:
    """The live page and its endpoints over HTTP on `host` (port 0: any free port); `info` is what stays fixed
    for the run (mode, weights, random_weights, source). Feed it with write() once per result: that only keeps
    the frame (a slow or absent viewer costs the stream nothing); the drawing and the JPEG are made when a viewer
    asks, once per frame however many ask (attnseg.view.render)."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", info: dict | None = None,
                 token: str | None = None):
        self.info = dict(info or {})
        self.token = token  # every request must carry it (?token= once, then the cookie set then)
        self.loopback = _loopback(host)
        if not self.loopback:
            log.warning("the live page is served on %s, beyond this machine: %s; it has no TLS (put a TLS proxy in "
                        "front of it)", host, "every request needs the token" if token else
                        "ANYONE WHO CAN REACH THIS ADDRESS CAN WATCH AND CONTROL IT (give a token)")
        self.changed = threading.Condition()
        self.version = 0  # bumps with every change the page should see
        self.view_version = 0  # bumps when the view changes without a new frame (pause, opacity, follow)
        self.shown = None  # the OutputFrame shown (kept while paused)
        self.stats: dict = {}
        self.paused, self.opacity, self.following = False, 0.5, None
        self.closed = False
        self.ended: str | None = None  # the stream's closing line once it has ended (the page keeps the last frame)
        self.captured: dict[int, tuple[float, bool]] = {}  # frame -> (capture time, carried), the last CAPTURES
        self.painted: list[float] = []  # seconds from capture to painted in a browser (the last 10000)
        self.frames_painted = self.carried_painted = 0
        self.first_painted = self.last_painted = None  # frame indices
        self._counted: tuple | None = None  # (frame, its objects): counted once per frame
        self._drawn: tuple | None = None  # (frame, opacity, following, jpeg): drawn once per frame and view
        self._drawing = threading.Lock()
        self.httpd = _Server((host, port), self._handler())
        self.httpd.daemon_threads = True
        port = self.httpd.server_address[1]
        self.url = f"http://{host}:{port}/"
        self.page_url = self.url + (f"?token={token}" if token else "")  # what a viewer opens
        # the names a request may use (a page served under another name is a DNS rebinding: refused)
        self.hosts = {f"{name}:{port}" for name in (host, "127.0.0.1", "localhost", "[::1]")}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="attnseg-live-page", daemon=True)  # close() waits one poll at most
        self.thread.start()

    # -- fed by the stream ---------------------------------------------------------------------------------

    def write(self, frame) -> None:
        """An OutputFrame of a stream (attnseg.engine.outputs): kept as the frame to show unless paused; its
        figures always. Constant time: nothing is drawn here."""
        with self.changed:
            self.stats = frame.stats or {}
            if not self.paused:
                self.shown = frame
                if frame.captured is not None:
                    self.captured[frame.index] = (frame.captured, frame.carried)
                    if len(self.captured) > CAPTURES:
                        del self.captured[next(iter(self.captured))]
            self.version += 1
            self.changed.notify_all()

    def end(self, summary: str, stats: dict | None = None) -> None:
        """The stream has ended: the page says so with `summary` (its closing line) and the final figures, and keeps
        showing its last frame."""
        with self.changed:
            self.ended = summary
            if stats is not None:
                self.stats = stats
            self._changed()

    def publish(self, image: np.ndarray, labels: np.ndarray, stats: dict) -> None:
        """A result given as its RGB image, label map and figures (no grid: the map itself is the grid)."""
        index = self.shown.index + 1 if self.shown is not None else 0
        self.write(OutputFrame(index, str(index), labels, labels, image=image, stats=stats))

    # -- drawn when a viewer asks ----------------------------------------------------------------------------

    def view(self, jpeg: bool = True) -> tuple[OutputFrame | None, list[dict], bytes | None]:
        """(the frame shown, its objects, its overlay as a JPEG when asked): each counted and drawn once per
        frame (and view: opacity, follow), however many viewers ask."""
        import cv2

        with self.changed:
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
            drawn = self._drawn
            if drawn is None or drawn[0] is not frame or drawn[1:3] != (opacity, following):
                out = render(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), grid, lay, opacity, following, shown,
                             bgr=True)
                jpeg_bytes = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
                self._drawn = drawn = (frame, opacity, following, jpeg_bytes)
            return frame, shown, drawn[3]

    def display_stats(self) -> dict:
        """Capture to painted in a browser: p50, p95, p99 (ms) and the frames painted."""
        with self.changed:
            return {**percentiles(self.painted), "painted": self.frames_painted, "carried": self.carried_painted,
                    "first": self.first_painted, "last": self.last_painted}

    def painted_frame(self, index: int) -> bool:
        """A browser reports that it painted frame `index`: capture to now is its display latency."""
        with self.changed:
            known = self.captured.pop(index, None)  # each frame counted once
            if known is None:
                return False
            self.painted.append(time.monotonic() - known[0])
            del self.painted[:-10000]
            self.frames_painted += 1
            self.carried_painted += known[1]
            self.first_painted = index if self.first_painted is None else self.first_painted
            self.last_painted = index
            return True

    # -- what the page reads and changes --------------------------------------------------------------------

    def state(self) -> dict:
        """The figures of the frame shown, as /events and /stats.json send them."""
        frame, shown, _ = self.view(jpeg=False)
        with self.changed:
            stats = self.stats
            lat, engine, display = (stats.get("latency_ms", {}), stats.get("engine_latency_ms", {}),
                                    percentiles(self.painted))
            return {"frame": frame.index if frame is not None else -1,
                    "carried": bool(frame is not None and frame.carried),
                    "fps": stats.get("fps", 0.0), "shown_fps": stats.get("shown_fps", 0.0),
                    "latency_ms": {"p50": lat.get("p50"), "p99": lat.get("p99")},
                    "engine_latency_ms": {"p50": engine.get("p50"), "p99": engine.get("p99")},
                    "display_latency_ms": {"p50": display["p50"], "p99": display["p99"]},
                    "frames_painted": self.frames_painted, "carried_painted": self.carried_painted,
                    **{k: stats.get(k, 0) for k in ("frames_in", "frames_processed", "frames_carried",
                                                    "frames_dropped")},
                    **{k: self.info.get(k) for k in ("mode", "weights", "random_weights", "source")},
                    "objects": [{k: o[k] for k in ("id", "colour")} | {"area": round(o["area"], 4)} for o in shown],
                    "following": self.following,
                    "following_present": any(o["id"] == self.following for o in shown),
                    "paused": self.paused, "opacity": self.opacity, "ended": self.ended}

    def control(self, paused: bool | None = None, opacity: float | None = None) -> None:
        with self.changed:
            if paused is not None:
                self.paused = bool(paused)
            if opacity is not None:
                self.opacity = min(1.0, max(0.0, float(opacity)))
            self._changed()

    def follow(self, obj: int | None = None, *, x: float | None = None, y: float | None = None) -> int | None:
        """Follow `obj`, or the object at (x, y) (fractions of the frame shown), or nobody (obj None, no point)."""
        with self.changed:
            if x is not None and y is not None and self.shown is not None:
                h, w = self.shown.mask.shape
                obj = int(self.shown.mask[min(h - 1, max(0, int(y * h))), min(w - 1, max(0, int(x * w)))])
            self.following = None if obj is None else int(obj)
            self._changed()
            return self.following

    def followed_mask(self) -> np.ndarray | None:
        """The followed object's mask (uint8 0/255) in the frame shown; None when nobody is followed."""
        with self.changed:
            if self.following is None or self.shown is None:
                return None
            return (self.shown.mask == self.following).astype(np.uint8) * 255

    def _changed(self) -> None:
        self.version += 1
        self.view_version += 1
        self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """The version after `seen` (waits up to `timeout` s for one)."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen or self.closed, timeout=timeout)
            return self.version

    def wait_frame(self, after: int, timeout: float) -> None:
        """Wait up to `timeout` s for a frame shown later than frame `after` (or a changed view of it)."""
        with self.changed:
            seen = self.view_version
            self.changed.wait_for(lambda: self.closed or (self.shown is not None and self.shown.index > after)
                                  or (self.view_version != seen and self.shown is not None), timeout=timeout)

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = IO_TIMEOUT  # on the socket: reads and writes that wait longer end the connection

            def log_message(self, *args):  # quiet
                pass

            def _refused(self) -> bool:
                """Answer 403 to a request under a name this server was not asked to serve (DNS rebinding), a
                state change from another origin, or (with a token) a request without the token; True when
                refused."""
                host = self.headers.get("Host")
                if server.loopback and host not in server.hosts:  # beyond loopback, names vary: the token decides
                    self.send_error(403, "unexpected Host header")
                    return True
                origin = self.headers.get("Origin")
                if self.command == "POST" and origin is not None and origin not in {*server.origins, f"http://{host}"}:
                    self.send_error(403, "cross-origin request")
                    return True
                if server.token is not None and not self._has_token():
                    self.send_error(401, "open the page's address with its ?token=")
                    return True
                return False

            def _has_token(self) -> bool:
                given = parse_qs(urlsplit(self.path).query).get("token", [None])[0]
                if given is None:
                    cookies = SimpleCookie(self.headers.get("Cookie", ""))
                    given = cookies["attnseg_token"].value if "attnseg_token" in cookies else None
                return given is not None and hmac.compare_digest(given.encode(), server.token.encode())

            def do_HEAD(self):
                if self._refused():
                    return
                kind = TYPES.get(self.path.split("?", 1)[0])
                if kind is None:
                    return self.send_error(404)
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def do_OPTIONS(self):  # answered, without any CORS header: other origins stay shut out
                if self._refused():
                    return
                self.send_response(204)
                self.send_header("Allow", "GET, HEAD, POST, OPTIONS")
                self.end_headers()

            def do_GET(self):
                if self._refused():
                    return
                path = self.path.split("?", 1)[0]
                if path == "/":
                    cookie = {"Set-Cookie": f"attnseg_token={server.token}; HttpOnly; SameSite=Strict; Path=/"} \
                        if server.token else None  # the page's own requests carry it from then on
                    self._send(PAGE.read_bytes(), TYPES["/"], cookie)
                elif path == "/stats.json":
                    self._send(json.dumps(server.state()).encode(), TYPES["/stats.json"])
                elif path == "/frame.jpg":
                    self._frame()
                elif path == "/follow/mask.png":
                    self._mask()
                elif path == "/events":
                    self._live(self._events)
                elif path == "/stream":
                    self._live(self._mjpeg)
                else:
                    self.send_error(404)

            def do_POST(self):
                if self._refused():
                    return
                if self.path not in ("/control", "/follow", "/shown"):
                    return self.send_error(404)
                if self.headers.get_content_type() != "application/json":  # a form or a no-cors fetch cannot
                    return self.send_error(415, "a JSON body (Content-Type: application/json)")
                length = self.headers.get("Content-Length", "")
                if not length.isdigit():
                    return self.send_error(411, "Content-Length: the body's size")
                if int(length) > BODY_LIMIT:
                    return self.send_error(413, f"a body of at most {BODY_LIMIT} bytes")
                try:
                    body = json.loads(self.rfile.read(int(length)))
                    if not isinstance(body, dict):
                        raise ValueError("a JSON object")
                    if self.path == "/control":
                        server.control(**checked(body, paused=_boolean, opacity=_finite))  # opacity clamped
                    elif self.path == "/follow":
                        fields = checked(body, id=_object_id, x=_fraction, y=_fraction)
                        if ("x" in fields) != ("y" in fields):
                            raise ValueError("x and y: both, or neither")
                        server.follow(fields.get("id"), x=fields.get("x"), y=fields.get("y"))
                    else:
                        frame = checked(body, frame=_frame_number).get("frame")
                        if frame is None:
                            raise ValueError("frame: the frame painted")
                        return self._send(json.dumps({"counted": server.painted_frame(frame)}).encode(),
                                          "application/json")
                except (ValueError, RecursionError) as err:  # json's errors are ValueErrors too
                    return self.send_error(400, str(err).splitlines()[0][:200] if str(err) else "a bad body")
                self._send(json.dumps(server.state()).encode(), "application/json")

            def _frame(self):
                """The overlay as a JPEG; ?after=N waits (up to 10 s) for a frame later than N. Headers name the
                frame (X-Frame) and whether its labels were carried (X-Carried)."""
                query = parse_qs(urlsplit(self.path).query)
                try:
                    after = int(query.get("after", ["-1"])[0])
                except ValueError:
                    return self.send_error(400, "after: a frame number")
                server.wait_frame(after, timeout=10.0)
                frame, _, jpeg = server.view()
                if jpeg is None:
                    return self.send_error(503, "no frame yet")
                self._send(jpeg, TYPES["/frame.jpg"],
                           {"X-Frame": str(frame.index), "X-Carried": str(int(frame.carried))})

            def _mask(self):
                import cv2

                mask = server.followed_mask()
                if mask is None:
                    return self.send_error(404, "no object followed: click one on the page, or POST /follow")
                self._send(cv2.imencode(".png", mask)[1].tobytes(), TYPES["/follow/mask.png"])

            def _live(self, serve) -> None:
                """A long-lived reader (/events, /stream): at most MAX_STREAMS at once."""
                if not server.streams.acquire(blocking=False):
                    return self.send_error(503, f"at most {MAX_STREAMS} live readers")
                try:
                    serve()
                finally:
                    server.streams.release()

            def _events(self):
                self.send_response(200)
                self.send_header("Content-Type", TYPES["/events"])
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                seen, sent = -1, 0.0
                try:
                    while not server.closed:
                        version = server.wait(seen, timeout=5.0)
                        if version == seen:
                            self.wfile.write(b": keep-alive\n\n")
                        else:
                            seen = version
                            self.wfile.write(b"data: " + json.dumps(server.state()).encode() + b"\n\n")
                            self.wfile.flush()
                            # the panel at most EVENTS_PER_S: a browser that redraws it 30 times a second
                            # takes the cores the stream needs (the frames themselves are not held back)
                            time.sleep(max(0.0, sent + 1 / EVENTS_PER_S - time.monotonic()))
                            sent = time.monotonic()
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _mjpeg(self):
                self.send_response(200)
                self.send_header("Content-Type", TYPES["/stream"])
                self.end_headers()
                seen, last = -1, None
                try:
                    while not server.closed:
                        seen = server.wait(seen, timeout=1.0)
                        _, _, jpeg = server.view()
                        if jpeg is None or jpeg is last:
                            continue
                        last = jpeg
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, body: bytes, kind: str, headers: dict | None = None):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


class _Server(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS clients at once (each on a thread, its reads and writes timed out: an idle or slow
    client is dropped, never kept); a client that goes away is not an error worth a traceback."""

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)  # a bug: its traceback


def checked(body: dict, **fields) -> dict:
    """The body's fields, each checked by its function (ValueError naming the field); other keys are refused."""
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ValueError(f"unknown fields {unknown[:5]}; known: {', '.join(fields)}")
    out = {}
    for name, check in fields.items():
        if name in body:
            try:
                out[name] = check(body[name])
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
    return out


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"true or false, got {json.dumps(value)[:40]}")
    return value


def _finite(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"a finite number, got {json.dumps(value)[:40]}")
    return float(value)


def _fraction(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise ValueError(f"a number in [0, 1], got {json.dumps(value)[:40]}")
    return float(value)


def _object_id(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31):
        raise ValueError(f"an object id (a whole number >= 0) or null, got {json.dumps(value)[:40]}")
    return value


def _frame_number(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"a frame number, got {json.dumps(value)[:40]}")
    return value
