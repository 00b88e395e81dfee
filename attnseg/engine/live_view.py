"""Showing a stream: the overlay with object ids and a readout, in a window or as an MJPEG page.

`annotate` draws the label overlay, each object's id at its centre, and an
FPS / latency line. `MjpegServer` serves the latest annotated frame on
localhost: `/` is a page with the live image, `/stream` the
multipart/x-mixed-replace MJPEG stream, `/frame.jpg` one frame. It is the
fallback when there is no display or OpenCV has no GUI (the headless wheel).
"""
from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from .outputs import overlay

PAGE = b"<html><body style='margin:0;background:#111'><img src='/stream' style='max-width:100%'></body></html>"


def annotate(image: np.ndarray, labels: np.ndarray, readout: str) -> np.ndarray:
    import cv2

    out = overlay(image, labels)
    for obj in np.unique(labels):
        ys, xs = np.nonzero(labels == obj)
        cv2.putText(out, str(int(obj)), (int(xs.mean()) - 6, int(ys.mean()) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(out, readout, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def gui_available() -> bool:
    """A display to draw on and an OpenCV built with a GUI backend."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow("attnseg-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("attnseg-probe")
        return True
    except cv2.error:
        return False


class MjpegServer:
    """The latest published frame over HTTP on 127.0.0.1 (port 0: any free port)."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1"):
        self.jpeg: bytes | None = None
        self.changed = threading.Condition()
        self.closed = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path == "/":
                    self._send(PAGE, "text/html")
                elif self.path == "/frame.jpg":
                    jpeg = server.wait_frame(None, timeout=10)
                    self._send(jpeg, "image/jpeg") if jpeg else self.send_error(503, "no frame yet")
                elif self.path == "/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                    self.end_headers()
                    last = None
                    try:
                        while not server.closed:
                            jpeg = server.wait_frame(last, timeout=1.0)
                            if jpeg is None or jpeg is last:
                                continue
                            last = jpeg
                            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                             + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="attnseg-mjpeg", daemon=True)
        self.thread.start()

    def publish(self, rgb: np.ndarray) -> None:
        import cv2

        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if ok:
            with self.changed:
                self.jpeg = buf.tobytes()
                self.changed.notify_all()

    def wait_frame(self, last: bytes | None, timeout: float) -> bytes | None:
        with self.changed:
            self.changed.wait_for(lambda: self.jpeg is not None and self.jpeg is not last, timeout=timeout)
            return self.jpeg

    def close(self) -> None:
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()
