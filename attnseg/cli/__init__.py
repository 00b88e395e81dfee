"""Command line: attnseg segment, stream, demo, export, batch, eval, bench, sample and info.

`attnseg sample` is the README's main job. One module per command: its options (generated from attnseg.settings where they are
settings) and a `run(args)` that maps them onto the library.

Every failure prints one line: the library's own errors (attnseg.errors) and the system's (a full disk)
as `attnseg: error: ...` with exit code 2; anything unexpected as one line pointing at `--debug`
(exit code 1), which shows the traceback instead.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .._version import __version__
from ..errors import (AttnsegError, EarlierRunError, NoResultsError, NothingToWrite, OutputExistsError,
                      WeightsUnavailableError)
from . import batch, bench, demo, evaluate, export, info, sample, segment, stream
from .options import OneLineParser

COMMANDS = (segment, stream, demo, export, batch, evaluate, bench, sample, info)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="attnseg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"attnseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(sub)
    return parser


def _log_to_stderr(level: int) -> None:
    """The library's log lines (the random-weights banner, exports into the cache) go to this stderr."""
    logger = logging.getLogger("attnseg")
    for old in [h for h in logger.handlers if getattr(h, "attnseg_cli", False)]:
        logger.removeHandler(old)
    # the handler behind logging.lastResort: it writes to the sys.stderr of the moment, not the one there when it
    # was made (a host or a test runner that swaps sys.stderr and closes the old one would get a logging error)
    handler = logging._StderrHandler()
    handler.attnseg_cli = True
    handler.setFormatter(logging.Formatter("attnseg: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _stop_on_terminate() -> None:
    """SIGTERM (kill, systemd, docker stop) ends a command as Ctrl-C does, so finished outputs are published
    instead of the process vanishing mid-write. Only from the main thread, and only where nothing else asked
    for SIGTERM (an embedding host keeps its own handler)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    raise KeyboardInterrupt


# the flags that do what a library error suggests in its own words
FLAGS = {WeightsUnavailableError: "--checkpoint FILE, --dino-weights FILE or --random-weights",
         EarlierRunError: "--overwrite or --resume", OutputExistsError: "--overwrite", NoResultsError: "--sequences",
         NothingToWrite: ", ".join(segment.OUTPUT_FLAGS)}


def with_flags(error: BaseException) -> str:
    """A library error's message, and the flags that do what it suggests."""
    flags = next((f for cls, f in FLAGS.items() if isinstance(error, cls)), None)
    return f"{error} ({flags})" if flags else str(error)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(logging.INFO if args.debug else logging.WARNING)
    _stop_on_terminate()
    try:
        return args.run(args)
    except (AttnsegError, OSError) as e:  # the library's own errors, and the system's (disk full, permissions)
        if args.debug:
            raise
        print(f"attnseg: error: {with_flags(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # its message, when the library gave one, says what was kept
        print(f"attnseg: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen failure: one line, the traceback on request
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"attnseg: error: unexpected {type(e).__name__}: {first} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
