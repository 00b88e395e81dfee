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
without a preflight); bodies are checked by type and range and capped at BODY_LIMIT bytes. Every client is served
on one event loop (aiohttp; benchmarks/page_viewers.py chose it over a thread per client): an idle one, a body or
a header that does not come, and a live reader that stops reading are dropped after IO_TIMEOUT seconds; at most
MAX_CONNECTIONS clients are connected at once and MAX_STREAMS live readers. HEAD and OPTIONS are answered, without
CORS. It serves localhost; beyond it, `token` guards every request; it has no TLS.
It is one of the outputs a stream fans out to (attnseg.engine.outputs): `write(frame)` keeps an OutputFrame
(constant time: the stream never waits for the page); what a viewer asks for is counted and drawn from the
frame's grid labels when asked, once per frame (attnseg.view.render).
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..engine.drawing import colour_of
from ..engine.outputs import OutputFrame
from ..engine.streaming import percentiles
from .render import layout, objects, render

log = logging.getLogger(__name__)
http_log = log.getChild("http")  # the HTTP library's own lines: a client's malformed request is not worth one
PAGE = Path(__file__).with_name("page.html")
TYPES = {"/": "text/html; charset=utf-8", "/stats.json": "application/json", "/frame.jpg": "image/jpeg",
         "/follow/mask.png": "image/png", "/events": "text/event-stream",
         "/stream": "multipart/x-mixed-replace; boundary=frame"}  # what each GET (and HEAD) answers
NO_STORE = {"Cache-Control": "no-store"}  # every answer is of the moment
BODY_LIMIT = 4096  # bytes of a POST body (413 beyond)
IO_TIMEOUT = 10.0  # seconds a read or a write may wait on a client (a slow or idle one is dropped)
MAX_CONNECTIONS = 32  # clients connected at once (503 beyond); all served on one event loop, no thread each
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
        self.lock = threading.Lock()  # the state below: written by the stream, read by the viewers
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
        sock = socket.create_server((host, port))  # bound here: a port in use is an error in the caller
        self.port = port = sock.getsockname()[1]
        self.url = f"http://{host}:{port}/"
        self.page_url = self.url + (f"?token={token}" if token else "")  # what a viewer opens
        # the names a request may use (a page served under another name is a DNS rebinding: refused)
        self.hosts = {f"{name}:{port}" for name in (host, "127.0.0.1", "localhost", "[::1]")}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.readers = 0  # long-lived /events and /stream readers (counted on the loop)
        # every client is served on one event loop; what is drawn for them is drawn on one thread
        self.loop = asyncio.new_event_loop()
        self._draw = ThreadPoolExecutor(1, thread_name_prefix="attnseg-page-draw")
        started: Future = Future()
        self.thread = threading.Thread(target=self._serve, args=(sock, started), name="attnseg-live-page",
                                       daemon=True)
        self.thread.start()
        started.result()

    # -- fed by the stream ---------------------------------------------------------------------------------

    def write(self, frame) -> None:
        """An OutputFrame of a stream (attnseg.engine.outputs): kept as the frame to show unless paused; its
        figures always. Constant time: nothing is drawn here."""
        with self.lock:
            self.stats = frame.stats or {}
            if not self.paused:
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

    def view(self, jpeg: bool = True) -> tuple[OutputFrame | None, list[dict], bytes | None]:
        """(the frame shown, its objects, its overlay as a JPEG when asked): each counted and drawn once per
        frame (and view: opacity, follow), however many viewers ask."""
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
            drawn = self._drawn
            if drawn is None or drawn[0] is not frame or drawn[1:3] != (opacity, following):
                out = render(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), grid, lay, opacity, following, shown,
                             bgr=True)
                jpeg_bytes = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
                self._drawn = drawn = (frame, opacity, following, jpeg_bytes)
            return frame, shown, drawn[3]

    def display_stats(self) -> dict:
        """Capture to painted in a browser: p50, p95, p99 (ms) and the frames painted."""
        with self.lock:
            return {**percentiles(self.painted), "painted": self.frames_painted, "carried": self.carried_painted,
                    "first": self.first_painted, "last": self.last_painted}

    def painted_frame(self, index: int) -> bool:
        """A browser reports that it painted frame `index`: capture to now is its display latency."""
        with self.lock:
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
        with self.lock:
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
        self._wake()
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5.0)
        self._draw.shutdown(wait=False)

    # -- HTTP (aiohttp, on one event loop thread: no thread per client) --------------------------------------

    def _serve(self, sock: socket.socket, started: Future) -> None:
        """The event loop's thread: the page's routes behind the guard, until close()."""
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            app = web.Application(middlewares=[self._guard], client_max_size=BODY_LIMIT)
            for path, handler in (("/", self._page), ("/stats.json", self._stats), ("/frame.jpg", self._frame),
                                  ("/follow/mask.png", self._mask), ("/events", self._events),
                                  ("/stream", self._mjpeg)):
                app.router.add_get(path, handler, allow_head=False)  # HEAD: answered by the guard
            for path in ("/control", "/follow", "/shown"):
                app.router.add_post(path, self._post)
            # an idle connection (one that sends nothing, or a request a byte at a time) is closed after IO_TIMEOUT;
            # the rest of a body that was refused is read and dropped for at most IO_TIMEOUT, then the connection closed
            self._runner = web.AppRunner(app, access_log=None, logger=http_log, keepalive_timeout=IO_TIMEOUT,
                                         lingering_time=IO_TIMEOUT, shutdown_timeout=1.0)
            loop.run_until_complete(self._runner.setup())
            self._tick = loop.create_future()
            listening = loop.run_until_complete(loop.create_server(self._connection, sock=sock))
        except BaseException as err:
            started.set_exception(err)
            return
        started.set_result(None)
        loop.run_forever()  # until close()
        listening.close()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def _connection(self):
        """A protocol for a new client: the page's, or (beyond MAX_CONNECTIONS at once) one that answers 503."""
        if len(self._runner.server.connections) >= MAX_CONNECTIONS:
            return _Busy()
        return self._runner.server()

    def _bump(self) -> None:
        """On the loop: wake whoever waits for a change (see _until)."""
        if not self._tick.done():
            self._tick.set_result(None)
        self._tick = self.loop.create_future()

    def _wake(self) -> None:
        """From any thread: wake the loop's waiters (constant time: the stream never waits for the page)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(self._bump)

    async def _until(self, ready, timeout: float) -> None:
        """Wait up to `timeout` s for ready() (tested after each change) or the close."""
        deadline = self.loop.time() + timeout
        while not (ready() or self.closed):
            left = deadline - self.loop.time()
            if left <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._tick), left)

    async def _drawing_thread(self, work, *args):
        """`work` on the drawing thread: one for all viewers (a frame is drawn once however many ask)."""
        return await self.loop.run_in_executor(self._draw, work, *args)

    @web.middleware
    async def _guard(self, request, handler):
        """403 for a request under a name this server was not asked to serve (DNS rebinding) or a state change
        from another origin; 401 without the token when there is one; HEAD and OPTIONS answered here."""
        host = request.headers.get("Host")
        if self.loopback and host not in self.hosts:  # beyond loopback, names vary: the token decides
            return _error(403, "unexpected Host header")
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin not in {*self.origins, f"http://{host}"}:
            return _error(403, "cross-origin request")
        if self.token is not None and not self._has_token(request):
            return _error(401, "open the page's address with its ?token=")
        if request.method == "HEAD":
            kind = TYPES.get(request.path)
            return web.Response(headers={"Content-Type": kind, **NO_STORE}) if kind else _error(404, "not found")
        if request.method == "OPTIONS":  # answered, without any CORS header: other origins stay shut out
            return web.Response(status=204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
        return await handler(request)

    def _has_token(self, request) -> bool:
        given = request.query.get("token") or request.cookies.get("attnseg_token")
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def _page(self, request):
        response = web.Response(body=PAGE.read_bytes(), headers={"Content-Type": TYPES["/"], **NO_STORE})
        if self.token:  # the page's own requests carry it from then on
            response.headers["Set-Cookie"] = f"attnseg_token={self.token}; HttpOnly; SameSite=Strict; Path=/"
        return response

    async def _stats(self, request):
        return _json(await self._drawing_thread(self.state))

    async def _frame(self, request):
        """The overlay as a JPEG; ?after=N waits (up to 10 s) for a frame later than N. Headers name the frame
        (X-Frame) and whether its labels were carried (X-Carried)."""
        try:
            after = int(request.query.get("after", "-1"))
        except ValueError:
            return _error(400, "after: a frame number")
        seen = self.view_version
        await self._until(lambda: self.shown is not None and (self.shown.index > after or self.view_version != seen),
                          timeout=10.0)
        frame, _, jpeg = await self._drawing_thread(self.view)
        if jpeg is None:
            return _error(503, "no frame yet")
        return web.Response(body=jpeg, headers={"Content-Type": TYPES["/frame.jpg"], **NO_STORE,
                                                "X-Frame": str(frame.index), "X-Carried": str(int(frame.carried))})

    async def _mask(self, request):
        png = await self._drawing_thread(self._mask_png)
        if png is None:
            return _error(404, "no object followed: click one on the page, or POST /follow")
        return web.Response(body=png, headers={"Content-Type": TYPES["/follow/mask.png"], **NO_STORE})

    def _mask_png(self) -> bytes | None:
        import cv2

        mask = self.followed_mask()
        return None if mask is None else cv2.imencode(".png", mask)[1].tobytes()

    async def _post(self, request):
        """POST /control, /follow, /shown: a JSON object of at most BODY_LIMIT bytes, each field checked."""
        if request.content_type != "application/json":  # what a form or a no-cors fetch of another site cannot send
            return _error(415, "a JSON body (Content-Type: application/json)")
        length = request.headers.get("Content-Length", "")
        if not length.isdigit():
            return _error(411, "Content-Length: the body's size")
        if int(length) > BODY_LIMIT:
            return _error(413, f"a body of at most {BODY_LIMIT} bytes")
        try:
            raw = await asyncio.wait_for(request.read(), IO_TIMEOUT)
        except asyncio.TimeoutError:
            response = _error(408, f"the body did not come within {IO_TIMEOUT:g} s")
            response.force_close()
            return response
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("a JSON object")
            if request.path == "/control":
                self.control(**checked(body, paused=_boolean, opacity=_finite))  # opacity clamped
            elif request.path == "/follow":
                fields = checked(body, id=_object_id, x=_fraction, y=_fraction)
                if ("x" in fields) != ("y" in fields):
                    raise ValueError("x and y: both, or neither")
                self.follow(fields.get("id"), x=fields.get("x"), y=fields.get("y"))
            else:
                frame = checked(body, frame=_frame_number).get("frame")
                if frame is None:
                    raise ValueError("frame: the frame painted")
                return _json({"counted": self.painted_frame(frame)})
        except (ValueError, RecursionError) as err:  # json's errors are ValueErrors too
            return _error(400, str(err).splitlines()[0][:200] if str(err) else "a bad body")
        return _json(await self._drawing_thread(self.state))

    async def _live(self, request, kind: str, parts):
        """A long-lived reader (/events, /stream), at most MAX_STREAMS at once: each part of `parts` written
        within IO_TIMEOUT (a reader that stops reading is dropped, not buffered for); a reader that goes away is
        not an error."""
        if self.readers >= MAX_STREAMS:
            return _error(503, f"at most {MAX_STREAMS} live readers")
        self.readers += 1
        response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            async for part in parts():
                await asyncio.wait_for(response.write(part), IO_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError):
            response.force_close()
        finally:
            self.readers -= 1
        return response

    async def _events(self, request):
        async def parts():
            seen, sent = -1, 0.0
            while not self.closed:
                await self._until(lambda: self.version != seen, timeout=5.0)
                if self.version == seen:
                    yield b": keep-alive\n\n"
                    continue
                seen = self.version
                yield b"data: " + json.dumps(await self._drawing_thread(self.state)).encode() + b"\n\n"
                # the panel at most EVENTS_PER_S: a browser that redraws it 30 times a second takes the cores the
                # stream needs (the frames themselves are not held back)
                await asyncio.sleep(max(0.0, sent + 1 / EVENTS_PER_S - time.monotonic()))
                sent = time.monotonic()

        return await self._live(request, TYPES["/events"], parts)

    async def _mjpeg(self, request):
        async def parts():
            seen, last = -1, None
            while not self.closed:
                await self._until(lambda: self.version != seen, timeout=1.0)
                seen = self.version
                _, _, jpeg = await self._drawing_thread(self.view)
                if jpeg is not None and jpeg is not last:
                    last = jpeg
                    yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                           + b"\r\n\r\n" + jpeg + b"\r\n")

        return await self._live(request, TYPES["/stream"], parts)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


class _Busy(asyncio.Protocol):
    """A client beyond MAX_CONNECTIONS: answered 503 and closed."""

    def connection_made(self, transport) -> None:
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        transport.close()


class _ClientFaults(logging.Filter):
    """A malformed request (answered 400) or a client gone is the client's doing: no line, no traceback; a bug in
    a handler keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        fault = record.exc_info[1] if record.exc_info else None
        return not isinstance(fault, (HttpProcessingError, ConnectionError, asyncio.TimeoutError))


http_log.addFilter(_ClientFaults())


def _error(status: int, message: str):
    """A refusal: its status and one line saying why."""
    return web.Response(status=status, text=f"{status} {message}\n")


def _json(value) -> web.Response:
    return web.Response(body=json.dumps(value).encode(), headers={"Content-Type": "application/json", **NO_STORE})


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
