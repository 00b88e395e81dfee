"""The live page: a stream's overlay, figures and objects over HTTP, with pause, opacity and click-to-follow.

`LiveServer` serves, on localhost:
- `/`: the page (page.html): the overlay scaled to the window, a panel with fps, capture-to-mask
  p50/p99, frames dropped, the mode and weights (random ones flagged), the objects with their colour and
  area, pause/resume, overlay opacity, and click-to-follow;
- `/stream` (MJPEG, multipart/x-mixed-replace) and `/frame.jpg`: the overlay as drawn for the page;
- `/events` (Server-Sent Events) and `/stats.json`: the figures, once per frame;
- `POST /control` {"paused": bool, "opacity": 0..1}; `POST /follow` {"x", "y"} (fractions of the image:
  the object under that point) or {"id": n} or {"id": null}; `/follow/mask.png`: the followed object's
  mask alone (0/255) in the frame shown. Object ids are the streaming runtime's persistent track ids, so a
  followed object stays followed from frame to frame.
It is one of the outputs a stream fans out to (attnseg.engine.outputs): `write(frame)` publishes an
OutputFrame's image, label map and figures. The drawing is attnseg.view.display's.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ..engine.drawing import colour_of
from .display import draw

PAGE = Path(__file__).with_name("page.html")


class LiveServer:
    """The live page and its endpoints over HTTP on `host` (port 0: any free port); `info` is what stays fixed
    for the run (mode, weights, random_weights, source). Feed it with publish() once per result."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", info: dict | None = None):
        self.info = dict(info or {})
        self.changed = threading.Condition()
        self.version = 0  # bumps with every change the page should see
        self.jpeg: bytes | None = None
        self.image: np.ndarray | None = None  # the frame shown, and its labels
        self.labels: np.ndarray | None = None
        self.stats: dict = {}
        self.objects: list[dict] = []  # id, colour and area of each object in the frame shown
        self.frame = -1
        self.paused, self.opacity, self.following = False, 0.5, None
        self.closed = False
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="attnseg-live-page", daemon=True)
        self.thread.start()

    # -- fed by the demo ---------------------------------------------------------------------------------

    def write(self, frame) -> None:
        """An OutputFrame of a stream (attnseg.engine.outputs): its image, label map and the runtime's figures."""
        self.publish(frame.image, frame.mask, frame.stats or {})

    def publish(self, image: np.ndarray, labels: np.ndarray, stats: dict) -> None:
        """A new result (RGB image, its labels, StreamStats.to_dict()): shown unless paused; figures always."""
        with self.changed:
            self.stats = stats
            if not self.paused:
                self.image, self.labels, self.frame = image, labels, self.frame + 1
                ids, counts = np.unique(labels, return_counts=True)
                self.objects = [{"id": int(i), "colour": colour_of(int(i)), "area": round(float(c) / labels.size, 4)}
                                for i, c in zip(ids, counts)]
                self._redraw()
            self.version += 1
            self.changed.notify_all()

    def _redraw(self) -> None:
        import cv2

        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(draw(self.image, self.labels, self.opacity, self.following),
                                                    cv2.COLOR_RGB2BGR))
        if ok:
            self.jpeg = buf.tobytes()

    # -- what the page reads and changes --------------------------------------------------------------------

    def state(self) -> dict:
        """The figures of the frame shown, as /events and /stats.json send them."""
        with self.changed:
            stats, objects = self.stats, self.objects
            lat = stats.get("latency_ms", {})
            return {"frame": self.frame, "fps": stats.get("fps", 0.0),
                    "latency_ms": {"p50": lat.get("p50"), "p99": lat.get("p99")},
                    **{k: stats.get(k, 0) for k in ("frames_in", "frames_processed", "frames_dropped")},
                    **{k: self.info.get(k) for k in ("mode", "weights", "random_weights", "source")},
                    "objects": objects, "following": self.following,
                    "following_present": any(o["id"] == self.following for o in objects),
                    "paused": self.paused, "opacity": self.opacity}

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
            if x is not None and y is not None and self.labels is not None:
                h, w = self.labels.shape
                obj = int(self.labels[min(h - 1, max(0, int(y * h))), min(w - 1, max(0, int(x * w)))])
            self.following = None if obj is None else int(obj)
            self._changed()
            return self.following

    def followed_mask(self) -> np.ndarray | None:
        """The followed object's mask (uint8 0/255) in the frame shown; None when nobody is followed."""
        with self.changed:
            if self.following is None or self.labels is None:
                return None
            return (self.labels == self.following).astype(np.uint8) * 255

    def _changed(self) -> None:
        if self.image is not None:
            self._redraw()
        self.version += 1
        self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """The version after `seen` (waits up to `timeout` s for one)."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen or self.closed, timeout=timeout)
            return self.version

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
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._send(PAGE.read_bytes(), "text/html; charset=utf-8")
                elif path == "/stats.json":
                    self._send(json.dumps(server.state()).encode(), "application/json")
                elif path == "/frame.jpg":
                    if server.jpeg is None:
                        server.wait(server.version, timeout=10)
                    self._send(server.jpeg, "image/jpeg") if server.jpeg else self.send_error(503, "no frame yet")
                elif path == "/follow/mask.png":
                    self._mask()
                elif path == "/events":
                    self._events()
                elif path == "/stream":
                    self._mjpeg()
                else:
                    self.send_error(404)

            def do_POST(self):
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                    if self.path == "/control":
                        server.control(body.get("paused"), body.get("opacity"))
                    elif self.path == "/follow":
                        server.follow(body.get("id"), x=body.get("x"), y=body.get("y"))
                    else:
                        return self.send_error(404)
                except (ValueError, TypeError, AttributeError) as err:
                    return self.send_error(400, str(err))
                self._send(json.dumps(server.state()).encode(), "application/json")

            def _mask(self):
                import cv2

                mask = server.followed_mask()
                if mask is None:
                    return self.send_error(404, "no object followed: click one on the page, or POST /follow")
                self._send(cv2.imencode(".png", mask)[1].tobytes(), "image/png")

            def _events(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                seen = -1
                try:
                    while not server.closed:
                        version = server.wait(seen, timeout=5.0)
                        if version == seen:
                            self.wfile.write(b": keep-alive\n\n")
                        else:
                            seen = version
                            self.wfile.write(b"data: " + json.dumps(server.state()).encode() + b"\n\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _mjpeg(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                seen, last = -1, None
                try:
                    while not server.closed:
                        seen = server.wait(seen, timeout=1.0)
                        jpeg = server.jpeg
                        if jpeg is None or jpeg is last:
                            continue
                        last = jpeg
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, body: bytes, kind: str):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        return Handler
