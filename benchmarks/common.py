"""What the benchmark scripts share: where their records go (benchmarks/results/, see attnseg.bench.records), the
DAVIS clips of ../shared, and the settings they vary, as flags built from attnseg's presets:

    ap = parser(__doc__, "live", qk_gain=6.0)   # --arch, --resolution (and --qk-gain) at the live preset's values
    ap.add_argument(...)                         # the benchmark's own
    args = parse(ap)                             # resolution a tuple; --device auto resolved to cuda or cpu
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from attnseg.bench.records import git_commit, machine  # noqa: F401
from attnseg.bench.records import write_record as _write_record

RESULTS = Path(__file__).resolve().parent / "results"
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16"  # ../shared beside the checkout
DAVIS_FRAMES = DAVIS / "JPEGImages" / "480p"  # one folder of JPEGs per clip; absent in a user's clone
__all__ = ["DAVIS", "DAVIS_FRAMES", "RESULTS", "camera_file", "git_commit", "machine", "parse", "parser", "served_url",
           "write_record"]


def parser(doc: str, preset: str = "bench", *, only: tuple[str, ...] = ("arch", "resolution"),
           **changes) -> argparse.ArgumentParser:
    """A benchmark's parser (its doc's first line as description) with the settings it varies (`only`, among arch,
    resolution, device, qk_gain: attnseg's own flags and help) at the values of attnseg.presets.PRESETS[preset],
    `changes` on top (qk_gain=6.0: also --qk-gain, at 6)."""
    from attnseg.cli.options import add_settings
    from attnseg.presets import PRESETS
    from attnseg.settings import ModelSettings, SegmentSettings

    base = PRESETS[preset]
    model_fields = {f.name for f in dataclasses.fields(ModelSettings)}
    model = dataclasses.replace(base.model, **{k: v for k, v in changes.items() if k in model_fields})
    segment = dataclasses.replace(base.segment, **{k: v for k, v in changes.items() if k not in model_fields})
    names = tuple(only) + tuple(k for k in changes if k not in only)
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    add_settings(p, ModelSettings, defaults=model, only=tuple(n for n in names if n in model_fields))
    add_settings(p, SegmentSettings, defaults=segment, only=tuple(n for n in names if n not in model_fields))
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed flags: resolution as a tuple, device (where there is one) resolved: auto is cuda when a CUDA
    device is present, else cpu."""
    args = p.parse_args(argv)
    if getattr(args, "resolution", None) is not None:
        args.resolution = tuple(args.resolution)
    if getattr(args, "device", None) is not None:
        from attnseg.engine.segmenter import resolve_device

        args.device = resolve_device(args.device).value
    return args


def write_record(name: str, settings: dict, figures: dict) -> Path:
    return _write_record(name, settings, figures, RESULTS)


def served_url(proc, lines: list[str], timeout: float, pattern: str = r"(http://\S+)") -> str:
    """The page address a demo process prints on stderr (its lines collected into `lines` by a reader thread);
    the process is killed when it prints none within `timeout` s."""
    import re
    import time

    deadline, url = time.monotonic() + timeout, None
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        url = next((m.group(1) for m in (re.search(pattern, line) for line in lines) if m), None)
        time.sleep(0.05)
    if url is None:
        proc.kill()
        raise RuntimeError("the demo did not serve its page:\n" + "".join(lines))
    return url


def camera_file(frames: Path, dest: Path, fps: float, fourcc: str = "MJPG") -> Path:
    """A folder's frames (*.jpg, in name order) as a video at `fps` (MJPEG .avi; "mp4v": a .mp4 as a user has one):
    a camera, played with --realtime (a folder itself plays at attnseg.settings.DEFAULT_FPS, 24)."""
    import cv2

    writer = None
    for path in sorted(Path(frames).glob("*.jpg")):
        image = cv2.imread(str(path))
        if writer is None:
            writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*fourcc), fps, image.shape[1::-1])
        writer.write(image)
    writer.release()
    return dest
