"""Showing a stream live: the web page (server.py, page.html) and the window (display.py).

The page is served on localhost by `LiveServer`, fed one OutputFrame per result through the output fan-out
(attnseg.engine.outputs.fanout); the window and the demo's --video draw with `annotate`. Both show the same figures:
fps, capture-to-mask latency, drops, the mode and the weights. `attnseg demo` (attnseg.cli.demo) is their
command line.
"""
from .display import Window, annotate, draw, gui_available, readout
from .server import LiveServer

__all__ = ["LiveServer", "Window", "annotate", "draw", "gui_available", "readout"]
