"""An RTSP camera on loopback for tests and benchmarks: GStreamer's own RTSP server, H.264 as IP cameras send it.

    /usr/bin/python3 -m benchmarks.rtsp_server FRAMES_DIR --port 8554 [--fps 30] [--log captured.txt]
    attnseg stream rtsp://127.0.0.1:8554/clip ...

Serves the JPEG frames of FRAMES_DIR (named 00000.jpg, 00001.jpg, ...), looped, at --fps, as a live camera would:
each frame leaves the "camera" at its due time (an identity element synchronised on the clock), then goes through
x264 (zerolatency) and RTP. With --log, one line per frame as it leaves the camera, "INDEX MONOTONIC_NS" (INDEX:
the file's number; CLOCK_MONOTONIC, the clock Python's time.monotonic reads in every process of the machine):
what a reader needs to measure the latency the RTSP path adds.

Runs under Debian's /usr/bin/python3 with python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-base,
-good and -ugly (x264enc); it imports nothing of attnseg. Prints "serving rtsp://..." once it listens; SIGTERM or
SIGINT stops it.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("frames", help="folder of 00000.jpg, 00001.jpg, ...")
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--path", default="/clip")
    p.add_argument("--log", help="append 'INDEX MONOTONIC_NS' per frame leaving the camera")
    args = p.parse_args()

    count = len(sorted(Path(args.frames).glob("*.jpg")))
    if not count:
        print(f"no .jpg frames in {args.frames}", file=sys.stderr)
        return 2
    Gst.init(None)
    log = open(args.log, "a", buffering=1) if args.log else None
    launch = (f'( multifilesrc location="{Path(args.frames).resolve()}/%05d.jpg" index=0 loop=true '
              f'caps="image/jpeg,framerate={args.fps}/1" ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! '
              'identity name=camera sync=true signal-handoffs=true ! '
              f'x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bitrate=4000 ! '
              'rtph264pay name=pay0 pt=96 config-interval=1 )')

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)  # every client sees the same camera

    def configure(_factory, media):
        sent = [0]

        def handoff(_identity, _buffer):
            if log:
                log.write(f"{sent[0] % count} {time.monotonic_ns()}\n")
            sent[0] += 1

        media.get_element().get_by_name("camera").connect("handoff", handoff)

    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        return 2
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"serving rtsp://127.0.0.1:{args.port}{args.path} ({count} frames at {args.fps} fps)", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
