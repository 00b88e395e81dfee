"""Live demo: segment a camera (or any source) and show it live, on a web page or in a window.

    python demo_webcam.py                          # camera 0: a window if there is a display, else the page
    python demo_webcam.py --page                   # the page even with a display: http://127.0.0.1:8080/
    python demo_webcam.py --source clip.mp4        # a file plays at its own frame rate, dropping what waits
    python demo_webcam.py --source frames/ --loop  # again and again; without --loop the page stays up at the end
    python demo_webcam.py --source synthetic:600 --random-weights
    python demo_webcam.py --source 0 --source 1    # two cameras, one model, one tile each on the page

The page (attnseg.view.LiveServer) shows the overlay scaled to the window, the figures (fps,
capture-to-mask p50/p99, frames dropped, mode and weights), the objects with their colour and area,
pause/resume, overlay opacity, and click-to-follow: click an object to show it alone; its mask is at
/follow/mask.png. Where there is no display, or OpenCV has no GUI (the headless wheel), the page is served;
the window shows the same figures in a line; --video writes the overlay instead. Files, folders and
synthetic sources play in real time with drop-oldest by default (--no-realtime --drop wait: every frame),
so the latency shown is a live one. Ctrl-C (or q in the window) stops it.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from attnseg.cli.options import OneLineParser, add_model, add_settings, read_settings
from attnseg.engine import Segmenter
from attnseg.engine.outputs import Outputs, Sink, Sinks, VideoSink
from attnseg.engine.sources import check_sources
from attnseg.engine.streaming import StreamRuntime
from attnseg.errors import AttnsegError
from attnseg.settings import (DEFAULT_FPS, PRESETS, EndReason, ModelSettings, RuntimeSettings, SegmentConfig,
                              StreamConfig)
from attnseg.view import LiveServer, Window, annotate, gui_available, readout
from attnseg.view.tiles import Tiles


FIGURES_EVERY = 0.2  # seconds between two counts of the figures shown beside the overlay


def parse(argv=None) -> argparse.Namespace:
    """The demo's own options, then every setting of attnseg.settings from the "live" preset (the small ViT)."""
    p = OneLineParser(prog="demo_webcam.py", description=__doc__.splitlines()[0])
    p.add_argument("--source", action="append", help="camera index, video file, URL, folder or synthetic:N "
                                                     "(default: 0); again for several, shown one tile each")
    p.add_argument("--port", type=port_number, default=8080, help="port of the live page, 0 for any free one "
                                                                 "(default: 8080)")
    p.add_argument("--page", action="store_true", help="serve the live page even where a window could open")
    p.add_argument("--host", default="127.0.0.1", help="address the page is served on (default: 127.0.0.1, this "
                                                       "machine only; another one says loudly who can reach it)")
    p.add_argument("--token", type=token_text, help="every request to the page must carry it: open the address with "
                                                    "?token=TOKEN (for --host beyond this machine)")
    p.add_argument("--video", help="write the overlay here instead of showing or serving it")
    p.add_argument("--overwrite", action="store_true", help="--video may replace an existing file")
    p.add_argument("--exit-at-end", action="store_true", help="quit when a file or folder ends (by default the page "
                                                               "stays up with the final figures until Ctrl-C)")
    add_model(p, defaults=PRESETS["live"], chunks=False)
    add_settings(p, StreamConfig)
    add_settings(p, RuntimeSettings, defaults=PRESETS["live"]["runtime"])
    return p.parse_args(argv)


def port_number(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535: refused by the parser, before anything loads."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port from 0 (any free one) to 65535, got {text!r}")
    return port


def token_text(text: str) -> str:
    """A token that guards something: not empty."""
    if not text:
        raise argparse.ArgumentTypeError("an empty token guards nothing: give one (or none on this machine)")
    return text


def main(argv=None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="demo: %(message)s")
    display, server, runtime = None, None, None
    try:
        model, segment = read_settings(ModelSettings, args), read_settings(SegmentConfig, args)
        settings = read_settings(RuntimeSettings, args)
        segment.check_patches(model.patch_size)
        sources = args.source or ["0"]
        if args.video:  # an existing file (without --overwrite), a device or a FIFO: refused before any work
            Outputs(overlay=args.video, overwrite=args.overwrite).check()
        check_sources(sources)  # a missing camera or file fails here, before a page is served or weights load
        seg = Segmenter.from_settings(model, segment)
        runtime = StreamRuntime(seg, read_settings(StreamConfig, args))
        results = runtime.stream(sources if len(sources) > 1 else sources[0], settings)
        info = run_info(seg, model, segment, ", ".join(sources))
        window, server, sinks = _display(args, info, len(sources))
        wall_offset = time.time_ns() - time.monotonic_ns()
        figures, counted = {}, 0.0
        try:
            for r in results:
                if r.delivered - counted > FIGURES_EVERY:  # percentiles of 10000 latencies: not every frame
                    figures, counted = runtime.stats.to_dict(), r.delivered
                sinks.write(r.output_frame(wall_offset, figures))
                if window and window.quit:
                    break
        finally:
            if server is None:
                sinks.close()
            display = (window or server).display_stats() if (window or server) else None
    except (AttnsegError, OSError) as err:
        if server is not None:
            server.close()
        print(f"demo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if runtime is None:
            return 130
    line = closing_line(runtime.stats.to_dict(), display)
    print(line, file=sys.stderr, flush=True)
    if server is not None:
        try:
            if not args.exit_at_end and runtime.stats.end_reason is not EndReason.STOPPED:
                server.end(line, {**runtime.stats.to_dict()})
                print(f"demo: the stream ended; the page stays up at {server.page_url} with its last frame and figures "
                      "(Ctrl-C to quit)", file=sys.stderr, flush=True)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    return 0


def closing_line(stats: dict, display: dict | None) -> str:
    """The run in one line: frames segmented and carried, rates, latencies, the browser's paints, how it ended."""
    lat, engine = stats["latency_ms"], stats["engine_latency_ms"]
    shown = ""
    if display:
        span = "" if display.get("first") is None else f" of frames {display['first']}-{display['last']}"
        shown = (f", capture to display p50 {display['p50']} ms p99 {display['p99']} ms ({display['painted']} "
                 f"painted{span})")
    return (f"demo: {stats['frames_processed']} frames segmented, {stats['frames_carried']} carried, "
            f"{stats['fps']:.2f} fps, capture to mask p50 {engine['p50']} ms p99 {engine['p99']} ms, to the demo p50 "
            f"{lat['p50']} ms p99 {lat['p99']} ms{shown}, dropped {stats['frames_dropped']}, of {stats['frames_in']}, "
            f"ended: {stats['ended_by']}")


def run_info(seg: Segmenter, model: ModelSettings, segment: SegmentConfig, source: str) -> dict:
    """What stays fixed for the run, shown beside the figures."""
    h, w = segment.resolution
    weights = seg.weights
    name = Path(weights.path).name if weights.path else ""
    return {"mode": f"{seg.mode} {model.arch} {h}x{w} on {seg.device.type}",
            "weights": f"{weights.source} {name}".strip(), "random_weights": weights.is_random, "source": source}


def _display(args, info: dict, sources: int = 1):
    """(the window or None, the page or None, the outputs): the overlay video, the window or the live page,
    whichever was asked or this machine can do, fed through the output fan-out (attnseg.engine.outputs); several
    sources as one tile each (attnseg.view.tiles)."""
    def shown(writer, put):
        if sources == 1:
            return Sinks([Sink(writer, put)])
        tiles = Tiles(sources, lambda frame: put(writer, frame), writer.close)
        return Sinks([Sink(tiles, lambda t, frame: t.write(frame))])

    if args.video:
        print(f"demo: writing the overlay to {args.video}", file=sys.stderr)
        video = VideoSink(args.video, DEFAULT_FPS)
        return None, None, shown(video, lambda w, f: w.write(annotate(f.image, f.mask, readout(f.stats, info),
                                                                        f.grid)))
    if not args.page and gui_available():
        window = Window(info)
        return window, None, shown(window, Window.write)
    server = LiveServer(args.port, host=args.host, info=info, token=args.token)
    why = "" if args.page else "no display or no OpenCV GUI: "
    print(f"demo: {why}serving the live page at {server.page_url}", file=sys.stderr, flush=True)
    return None, server, shown(server, LiveServer.write)


if __name__ == "__main__":
    sys.exit(main())
