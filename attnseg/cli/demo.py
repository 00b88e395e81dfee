"""`attnseg demo`: segment a camera (or any source) and show it live, on a web page or in a window.

    attnseg demo                                   # camera 0: a window if there is a display, else the page
    attnseg demo --page                            # the page even with a display: http://127.0.0.1:8080/
    attnseg demo --source clip.mp4                 # a file plays at its own frame rate, dropping what waits
    attnseg demo --source frames/ --loop           # again and again; without --loop the page stays up at the end
    attnseg demo --source synthetic:600 --random-weights
    attnseg demo --source 0 --source 1             # two cameras, one model, one tile each on the page

The page (attnseg.view.LiveServer) shows the overlay scaled to the window, the figures (fps, capture-to-mask
p50/p99, frames dropped, mode and weights), the objects with their colour and area, pause/resume, overlay opacity,
and click-to-follow: click an object to show it alone; its mask is at /follow/mask.png. Where there is no display,
or OpenCV has no GUI (the headless wheel), the page is served; the window shows the same figures in a line;
--video writes the overlay instead. Files, folders and synthetic sources play in real time with drop-oldest by
default (--no-realtime --drop wait: every frame), so the latency shown is a live one. Ctrl-C (or q in the window)
stops it. The session (attnseg.engine.session) runs it: this face chooses where it is shown.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..engine.live.sources import check_sources
from ..engine.outputs.fanout import Outputs, Sink
from ..engine.outputs.writers import VideoSink
from ..engine.session import Session
from ..presets import PRESETS
from ..settings import DEFAULT_FPS
from ..view import LiveServer, Window, annotate, gui_available, readout
from ..view.tiles import Tiles
from .options import add_live, add_model, read_session

FIGURES_EVERY = 0.2  # seconds between two counts of the figures shown beside the overlay


def add(sub) -> None:
    p = sub.add_parser("demo", help="the live demo: a camera (or any source) segmented and shown live, on a web page "
                                    "or in a window", description=__doc__.splitlines()[0])
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
    add_model(p, defaults=PRESETS["live"], chunks=False)  # the small ViT at a quarter of the paper's pixels
    add_live(p, defaults=PRESETS["live"])
    p.set_defaults(run=run)


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


def run(args) -> int:
    session, sources = Session(read_session(args)), args.source or ["0"]
    if args.video:  # an existing file (without --overwrite), a device or a FIFO: refused before any work
        Outputs(overlay=args.video, overwrite=args.overwrite).check()
    shown = Shown(args, session, sources)
    try:
        shown.before_the_stream()
        report = session.stream(sources, shared=Outputs(extra=[shown.open]), figures_every=FIGURES_EVERY,
                                stop=shown.quit)
        if report.failure is not None and not isinstance(report.failure, KeyboardInterrupt):
            report.raise_failure()  # a stage that failed: its one line (Ctrl-C ends the demo as it should)
        lines = report.lines(shown.display_stats())
        print("\n".join(lines), file=sys.stderr, flush=True)
        if shown.server is not None and not args.exit_at_end and not report.stopped:
            shown.server.end(lines[0], report.stats)
            print(f"demo: the stream ended; the page stays up at {shown.server.page_url} with its last frame and "
                  "figures (Ctrl-C to quit)", file=sys.stderr, flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        if shown.server is not None:
            shown.server.close()
    return 0


class Shown:
    """Where the demo shows the stream: the overlay video, the window or the live page, whichever was asked or this
    machine can do, opened as an output of the session once the weights are loaded (it shows their name); several
    sources as one tile each (attnseg.view.tiles)."""

    def __init__(self, args, session: Session, sources: list[str]):
        self.args, self.session, self.sources = args, session, sources
        self.window: Window | None = None
        self.server: LiveServer | None = None

    def before_the_stream(self) -> None:
        """On the page: served at once, saying what happens before the first frame (loading the weights, choosing
        the backend, waiting for a viewer, for the first frame); a file, folder or synthetic source starts playing
        when a viewer opens the page (unless --exit-at-end: then at once), so that a short clip is not over before
        anyone looks. Sources are checked first: a bad one is its one line before anything is served."""
        args = self.args
        if args.video or (not args.page and gui_available()):
            return
        live = check_sources(self.sources)
        self.server = server = LiveServer(args.port, host=args.host, token=args.token,
                                          info={"source": ", ".join(self.sources), "sources": len(self.sources)})
        why = "" if args.page else "no display or no OpenCV GUI: "
        print(f"demo: {why}serving the live page at {server.page_url}", file=sys.stderr, flush=True)
        self.session.steps = server.doing
        self.session.segmenter  # noqa: B018  (loaded now, each step shown on the page)
        if not args.exit_at_end and not any(live):
            server.doing(f"waiting for a viewer: {', '.join(self.sources)} plays once this page is open"
                         + ("" if args.loop else " (--loop plays it again and again)"))
            print(f"demo: {', '.join(self.sources)} starts playing when the page is opened"
                  + ("" if args.loop else "; --loop plays it again and again"), file=sys.stderr, flush=True)
            server.wait_for_viewer()
        server.doing("waiting for the first frame (warming up the front-end, opening the source)")

    def open(self) -> Sink:
        args, info = self.args, run_info(self.session, ", ".join(self.sources), len(self.sources))
        if args.video:
            print(f"demo: writing the overlay to {args.video}", file=sys.stderr)
            video = VideoSink(args.video, DEFAULT_FPS)
            return self._tiled(video, lambda w, f: w.write(annotate(f.image, f.mask, readout(f.stats, info), f.grid)))
        if self.server is None:
            self.window = Window(info)
            return self._tiled(self.window, Window.write)
        self.server.info.update(info)  # the weights' name and the mode, now that they are loaded
        # up after the stream, until the demo quits; each camera frame painted as soon as it is read
        return self._tiled(self.server, LiveServer.write, owned=False, newest=True)

    def _tiled(self, writer, put, owned: bool = True, newest: bool = False) -> Sink:
        if len(self.sources) == 1:
            return Sink(writer, put, owned=owned, newest=newest)
        return Sink(Tiles(len(self.sources), lambda frame: put(writer, frame), writer.close),
                    lambda tiles, frame: tiles.write(frame), owned=owned)

    def quit(self) -> bool:
        """q was pressed in the window."""
        return self.window is not None and self.window.quit

    def display_stats(self) -> dict | None:
        """Capture to shown, from the browser's paints or the window."""
        shown = self.window or self.server
        return shown.display_stats() if shown else None


def run_info(session: Session, source: str, sources: int = 1) -> dict:
    """What stays fixed for the run, shown beside the figures."""
    seg, settings = session.segmenter, session.settings
    h, w = settings.segment.resolution
    weights = seg.weights
    name = Path(weights.path).name if weights.path else ""
    return {"mode": f"{seg.mode} {settings.model.arch} {h}x{w} on {seg.device.type}",
            "weights": f"{weights.source} {name}".strip(), "random_weights": weights.is_random, "source": source,
            "sources": sources}


def main(argv: list[str] | None = None) -> int:
    """`attnseg demo ARGS` (demo_webcam.py calls this)."""
    from . import main as attnseg

    return attnseg(["demo", *(sys.argv[1:] if argv is None else argv)])
