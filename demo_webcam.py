"""Live demo: segment a camera (or any source) and show the overlay with object ids, FPS and latency.

    python demo_webcam.py                          # camera 0, a window if there is a display
    python demo_webcam.py --source clip.mp4 --realtime
    python demo_webcam.py --source synthetic:600 --random-weights

Where there is no display, or OpenCV has no GUI (the headless wheel), the
overlay is served as an MJPEG page on http://127.0.0.1:PORT/ (or written to
--video), and the demo says which. Ctrl-C (or q in the window) stops it.
"""
from __future__ import annotations

import argparse
import logging
import sys

from attnseg.cli.options import add_model, add_settings, read_settings
from attnseg.engine import Segmenter
from attnseg.engine.live_view import MjpegServer, annotate, gui_available
from attnseg.engine.outputs import VideoSink
from attnseg.engine.streaming import StreamEngine
from attnseg.errors import AttnsegError
from attnseg.settings import PRESETS, LiveSettings, ModelSettings, SegmentConfig, StreamConfig


def parse(argv=None) -> argparse.Namespace:
    """The demo's own options, then every setting of attnseg.settings from the "live" preset (the small ViT)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="0", help="camera index, video file, URL, folder or synthetic:N")
    p.add_argument("--port", type=int, default=8080, help="MJPEG page port when there is no display (0: any)")
    p.add_argument("--video", help="write the overlay here instead of showing or serving it")
    add_model(p, defaults=PRESETS["live"], chunks=False)
    add_settings(p, StreamConfig)
    add_settings(p, LiveSettings)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="demo: %(message)s")
    try:
        seg = Segmenter.from_settings(read_settings(ModelSettings, args), read_settings(SegmentConfig, args))
        engine = StreamEngine(seg, read_settings(StreamConfig, args))
        results = engine.stream(args.source, read_settings(LiveSettings, args))
        show, server, sink = _display(args)
        try:
            for r in results:
                stats = engine.stats.to_dict()
                frame = annotate(r.image, r.labels, f"{stats['fps']:.1f} fps | latency {r.latency * 1e3:.0f} ms "
                                                    f"| {len(r.objects())} ids | dropped {stats['frames_dropped']}")
                if show and show(frame):
                    break
                if server:
                    server.publish(frame)
                if sink:
                    sink.write(frame)
        finally:
            if server:
                server.close()
            if sink:
                sink.close()
    except (AttnsegError, OSError) as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    stats = engine.stats.to_dict()
    print(f"demo: {stats['frames_processed']} frames, {stats['fps']:.2f} fps, latency p99 "
          f"{stats['latency_ms']['p99']} ms, ended: {stats['ended_by']}", file=sys.stderr)
    return 0


def _display(args):
    """(show(frame) -> quit?, MJPEG server, video sink): whichever this machine can do."""
    if args.video:
        print(f"demo: writing the overlay to {args.video}", file=sys.stderr)
        return None, None, VideoSink(args.video, 24.0)
    if gui_available():
        import cv2

        def show(frame):
            cv2.imshow("attnseg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            return cv2.waitKey(1) & 0xFF == ord("q")
        return show, None, None
    server = MjpegServer(args.port)
    print(f"demo: no display or no OpenCV GUI: serving the overlay at {server.url}", file=sys.stderr, flush=True)
    return None, server, None


if __name__ == "__main__":
    sys.exit(main())
