"""The live page over HTTP: the routes of attnseg.view.server.LiveServer, every client on one event loop (aiohttp;
benchmarks/page_viewers.py chose it over a thread per client).

    GET  /  /page.js  /page.css        the page (page.html and its script and style: no inline script)
    GET  /frame.jpg?after=N            the overlay of the newest frame later than N (X-Frame, X-Carried)
    GET  /frames?width=W&height=H      the page's frames, pushed as each comes, drawn to fit its canvas
    GET  /stream                       the overlay as MJPEG (multipart/x-mixed-replace), for other clients
    GET  /events  /stats.json          the figures (Server-Sent Events at most EVENTS_PER_S; JSON)
    GET  /follow/mask.png              the followed object's mask (0/255)
    POST /control /follow /shown       {"paused", "opacity"}; {"x", "y"} or {"id"}; {"frame"} painted

Against hostile input (tests/view/test_hostile.py): a request whose Host is not the address served is refused
(DNS rebinding), and so is a POST from another Origin or without a JSON body (what another site's page can send
without a preflight); bodies are checked by type and range (attnseg.view.bodies) and capped at BODY_LIMIT bytes.
Every answer carries a Content-Security-Policy (CSP): no inline script, no framing by another origin; the page
puts what the server sends into the DOM as text. An idle client, a body or a header that does not come, and a
live reader that stops reading (its unsent bytes past LIVE_BACKLOG for IO_TIMEOUT) are dropped, its connection
aborted; at most MAX_CONNECTIONS clients are connected at once and MAX_STREAMS live readers. HEAD and OPTIONS are
answered, without CORS. Beyond localhost, a token guards every request (not the page's own script and style): the
page keeps the one it was opened with (?token=) and sends it with its own requests, so it reaches no other port of
the host (a cookie would, and two pages on two ports would overwrite each other's); there is no TLS.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import struct
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .bodies import checked, frame_number, boolean, finite, fraction, object_id, paints

log = logging.getLogger("attnseg.view.server.http")  # the HTTP library's own lines: a malformed request is no news
HERE = Path(__file__).parent
FILES = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
         "/page.css": ("page.css", "text/css; charset=utf-8")}
TYPES = {**{path: kind for path, (_, kind) in FILES.items()}, "/stats.json": "application/json",
         "/frame.jpg": "image/jpeg", "/follow/mask.png": "image/png", "/events": "text/event-stream",
         "/stream": "multipart/x-mixed-replace; boundary=frame",
         "/frames": "application/octet-stream"}  # what each GET (and HEAD) answers
PUBLIC = ("/page.js", "/page.css")  # the package's own files, the same everywhere: loaded without the token
NO_STORE = {"Cache-Control": "no-store"}  # every answer is of the moment
# what the page may load and who may frame it: its own script and style only (no inline script), frames drawn
# from blobs, and no other origin's page around it (clickjacking)
GUARDS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                                     "base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
          "X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
BODY_LIMIT = 4096  # bytes of a POST body (413 beyond)
IO_TIMEOUT = 10.0  # seconds a read or a write may wait on a client (a slow or idle one is dropped)
LIVE_BACKLOG = 256 * 1024  # bytes a live reader may leave unread (in our buffers and the kernel's) before it waits
MAX_CONNECTIONS = 32  # clients connected at once (503 beyond); all served on one event loop, no thread each
MAX_STREAMS = 8  # of which long-lived /events, /stream and /frames readers
FRAME_BACKLOG = 64 * 1024  # bytes of frames a /frames reader may leave unread before the next (newest) is drawn
PART = struct.Struct("<dIB3x")  # a /frames part's header: frame index, JPEG bytes, carried; then the JPEG
MAX_BOX = 8192  # pixels a page may ask a frame to fit, each way
EVENTS_PER_S = 5.0  # figures sent to a page at most this often


class PageHttp:
    """The routes of one LiveServer on their own event loop thread, serving `sock` until stop()."""

    def __init__(self, server, sock: socket.socket):
        self.server = server
        self.readers = 0  # long-lived /events and /stream readers (counted on the loop)
        self.loop = asyncio.new_event_loop()
        self._draw = ThreadPoolExecutor(1, thread_name_prefix="attnseg-page-draw")  # one drawing for all viewers
        started: Future = Future()
        self.thread = threading.Thread(target=self._serve, args=(sock, started), name="attnseg-live-page",
                                       daemon=True)
        self.thread.start()
        started.result()

    def wake(self) -> None:
        """From any thread: wake the loop's waiters (constant time: the stream never waits for the page)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(self._bump)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5.0)
        self._draw.shutdown(wait=False)

    # -- the loop ---------------------------------------------------------------------------------------------

    def _serve(self, sock: socket.socket, started: Future) -> None:
        """The event loop's thread: the page's routes behind the guard, until stop()."""
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            app = web.Application(middlewares=[self._guard], client_max_size=BODY_LIMIT)
            for path in FILES:
                app.router.add_get(path, self._file, allow_head=False)  # HEAD: answered by the guard
            for path, handler in (("/stats.json", self._stats), ("/frame.jpg", self._frame),
                                  ("/follow/mask.png", self._mask), ("/events", self._events),
                                  ("/stream", self._mjpeg), ("/frames", self._frames)):
                app.router.add_get(path, handler, allow_head=False)
            for path in ("/control", "/follow", "/shown"):
                app.router.add_post(path, self._post)
            # an idle connection (one that sends nothing, or a request a byte at a time) is closed after IO_TIMEOUT;
            # the rest of a body that was refused is read and dropped for at most IO_TIMEOUT, then the connection closed
            self._runner = web.AppRunner(app, access_log=None, logger=log, keepalive_timeout=IO_TIMEOUT,
                                         lingering_time=IO_TIMEOUT, shutdown_timeout=1.0)
            loop.run_until_complete(self._runner.setup())
            self._tick = loop.create_future()
            listening = loop.run_until_complete(loop.create_server(self._connection, sock=sock))
        except BaseException as err:
            started.set_exception(err)
            return
        started.set_result(None)
        loop.run_forever()  # until stop()
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

    async def _until(self, ready, timeout: float) -> None:
        """Wait up to `timeout` s for ready() (tested after each change) or the close."""
        deadline = self.loop.time() + timeout
        while not (ready() or self.server.closed):
            left = deadline - self.loop.time()
            if left <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._tick), left)

    async def _drawing_thread(self, work, *args):
        """`work` on the drawing thread: one for all viewers (a frame is drawn once however many ask)."""
        return await self.loop.run_in_executor(self._draw, work, *args)

    # -- the guard ----------------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request, handler):
        """403 for a request under a name this server was not asked to serve (DNS rebinding) or a state change
        from another origin; 401 without the token when there is one; HEAD and OPTIONS answered here; every answer
        with the GUARDS headers."""
        try:
            response = await self._checked(request, handler)
        except web.HTTPException as answer:  # aiohttp's own answers (404, 405): raised, not returned
            answer.headers.update(GUARDS)
            raise
        response.headers.update(GUARDS)
        return response

    async def _checked(self, request, handler):
        server = self.server
        host = request.headers.get("Host")
        if server.loopback and host not in server.hosts:  # beyond loopback, names vary: the token decides
            return error(403, "unexpected Host header")
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin not in {*server.origins, f"http://{host}"}:
            return error(403, "cross-origin request")
        if server.token is not None and request.path not in PUBLIC and not self._has_token(request):
            return error(401, "open the page's address with its ?token=")
        if request.method == "HEAD":
            kind = TYPES.get(request.path)
            return web.Response(headers={"Content-Type": kind, **NO_STORE}) if kind else error(404, "not found")
        if request.method == "OPTIONS":  # answered, without any CORS header: other origins stay shut out
            return web.Response(status=204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
        server.viewed.set()  # a viewer (a file that waited for its first one plays)
        return await handler(request)

    def _has_token(self, request) -> bool:
        given = request.query.get("token")
        try:  # a byte that is not UTF-8 comes as a lone surrogate: no token of ours
            return given is not None and hmac.compare_digest(given.encode(), self.server.token.encode())
        except UnicodeError:
            return False

    # -- the routes ---------------------------------------------------------------------------------------------

    async def _file(self, request):
        name, kind = FILES[request.path]
        return web.Response(body=(HERE / name).read_bytes(), headers={"Content-Type": kind, **NO_STORE})

    async def _stats(self, request):
        return reply(await self._drawing_thread(self.server.state))

    async def _frame(self, request):
        """The overlay as a JPEG; ?after=N waits (up to 10 s) for a frame later than N. Headers name the frame
        (X-Frame) and whether its labels were carried (X-Carried)."""
        server = self.server
        try:
            after = int(request.query.get("after", "-1"))
        except ValueError:
            return error(400, "after: a frame number")
        seen = server.view_version
        await self._until(lambda: server.shown is not None and (server.shown.index > after
                                                                or server.view_version != seen), timeout=10.0)
        frame, _, jpeg = await self._drawing_thread(server.view)
        if jpeg is None:
            return error(503, "no frame yet")
        return web.Response(body=jpeg, headers={"Content-Type": TYPES["/frame.jpg"], **NO_STORE,
                                                "X-Frame": str(frame.index), "X-Carried": str(int(frame.carried))})

    async def _mask(self, request):
        png = await self._drawing_thread(self.server.mask_png)
        if png is None:
            return error(404, "no object followed: click one on the page, or POST /follow")
        return web.Response(body=png, headers={"Content-Type": TYPES["/follow/mask.png"], **NO_STORE})

    async def _post(self, request):
        """POST /control, /follow, /shown: a JSON object of at most BODY_LIMIT bytes, each field checked."""
        server = self.server
        if request.content_type != "application/json":  # what a form or a no-cors fetch of another site cannot send
            return error(415, "a JSON body (Content-Type: application/json)")
        length = request.headers.get("Content-Length", "")
        if not length.isdigit():
            return error(411, "Content-Length: the body's size")
        if int(length) > BODY_LIMIT:
            return error(413, f"a body of at most {BODY_LIMIT} bytes")
        try:
            raw = await asyncio.wait_for(request.read(), IO_TIMEOUT)
        except asyncio.TimeoutError:
            response = error(408, f"the body did not come within {IO_TIMEOUT:g} s")
            response.force_close()
            return response
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("a JSON object")
            if request.path == "/control":
                server.control(**checked(body, paused=boolean, opacity=finite))  # opacity clamped
            elif request.path == "/follow":
                fields = checked(body, id=object_id, x=fraction, y=fraction)
                if ("x" in fields) != ("y" in fields):
                    raise ValueError("x and y: both, or neither")
                server.follow(fields.get("id"), x=fields.get("x"), y=fields.get("y"))
            else:  # one paint now ({"frame"}), or the page's last few ({"frames": [[frame, ms ago], ...]})
                fields = checked(body, frame=frame_number, frames=paints)
                if ("frame" in fields) == ("frames" in fields):
                    raise ValueError("frame (the frame painted) or frames (the paints since the last report)")
                done = [(fields["frame"], 0.0)] if "frame" in fields else fields["frames"]
                return reply({"counted": sum(server.painted_frame(frame, ago) for frame, ago in done)})
        except (ValueError, RecursionError) as err:  # json's errors are ValueErrors too
            return error(400, str(err).splitlines()[0][:200] if str(err) else "a bad body")
        return reply(await self._drawing_thread(server.state))

    async def _live(self, request, kind: str, parts):
        """A long-lived reader (/events, /stream), at most MAX_STREAMS at once. Before each part the bytes it left
        unread must fall to LIVE_BACKLOG within IO_TIMEOUT: a reader that stops reading is dropped, its connection
        aborted, and nothing more is queued for it. A reader that goes away is not an error."""
        if self.readers >= MAX_STREAMS:
            return error(503, f"at most {MAX_STREAMS} live readers")
        self.readers += 1
        response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-cache", **GUARDS})
        transport = request.transport
        try:
            await response.prepare(request)
            async for part in parts():
                await asyncio.wait_for(self._drained(transport), IO_TIMEOUT)
                await asyncio.wait_for(response.write(part), IO_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError):
            abort(transport)
        finally:
            self.readers -= 1
        return response

    async def _drained(self, transport, backlog: int = LIVE_BACKLOG) -> None:
        """Until what the reader has not taken yet (our buffer and the kernel's send queue) is at most `backlog`."""
        while transport is not None and not transport.is_closing() and unsent(transport) > backlog:
            await asyncio.sleep(0.01)

    async def _events(self, request):
        server = self.server

        async def parts():
            seen, sent = -1, 0.0
            while not server.closed:
                await self._until(lambda: server.version != seen, timeout=5.0)
                if server.version == seen:
                    yield b": keep-alive\n\n"
                    continue
                seen = server.version
                yield b"data: " + json.dumps(await self._drawing_thread(server.state)).encode() + b"\n\n"
                # the panel at most EVENTS_PER_S: a browser that redraws it 30 times a second takes the cores the
                # stream needs (the frames themselves are not held back)
                await asyncio.sleep(max(0.0, sent + 1 / EVENTS_PER_S - time.monotonic()))
                sent = time.monotonic()

        return await self._live(request, TYPES["/events"], parts)

    async def _frames(self, request):
        """The page's frames, pushed: each newer frame's overlay, drawn to fit ?width=W&height=H (the canvas's
        pixels), as a PART header and the JPEG. The newest frame is drawn only once the reader has taken what was
        sent (FRAME_BACKLOG): a slow browser is sent fewer, fresher frames, never a queue of stale ones."""
        server, transport = self.server, request.transport
        try:
            box = tuple(int(request.query[k]) for k in ("width", "height")) if "width" in request.query else None
        except (KeyError, ValueError):
            return error(400, "width and height: the canvas's size in pixels")
        if box is not None and not all(0 < side <= MAX_BOX for side in box):
            return error(400, f"width and height: 1 to {MAX_BOX} pixels")

        async def parts():
            seen, last = server.view_version, -1
            while not server.closed:
                await self._until(lambda: server.shown is not None and (server.shown.index != last
                                                                        or server.view_version != seen), 1.0)
                if server.shown is None or (server.shown.index == last and server.view_version == seen):
                    continue
                await asyncio.wait_for(self._drained(transport, FRAME_BACKLOG), IO_TIMEOUT)
                seen = server.view_version
                frame, _, jpeg = await self._drawing_thread(server.view, True, box)
                last = frame.index
                yield PART.pack(frame.index, len(jpeg), frame.carried) + jpeg

        return await self._live(request, TYPES["/frames"], parts)

    async def _mjpeg(self, request):
        server = self.server

        async def parts():
            seen, last = -1, None
            while not server.closed:
                await self._until(lambda: server.version != seen, timeout=1.0)
                seen = server.version
                _, _, jpeg = await self._drawing_thread(server.view)
                if jpeg is not None and jpeg is not last:
                    last = jpeg
                    yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                           + b"\r\n\r\n" + jpeg + b"\r\n")

        return await self._live(request, TYPES["/stream"], parts)


def abort(transport) -> None:
    """Drop a connection at once, what is queued for it discarded (a reset): closed politely, the kernel would go
    on trying to deliver it to a reader that takes nothing."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def unsent(transport) -> int:
    """Bytes written to `transport` that its reader has not taken: the transport's buffer and, on Linux, the
    socket's send queue (TIOCOUTQ)."""
    pending = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import fcntl
            import termios

            pending += struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    return pending


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


log.addFilter(_ClientFaults())


def error(status: int, message: str):
    """A refusal: its status and one line saying why."""
    return web.Response(status=status, text=f"{status} {message}\n")


def reply(value) -> web.Response:
    return web.Response(body=json.dumps(value).encode(), headers={"Content-Type": "application/json", **NO_STORE})
