"""`attnseg sample`: write a generated clip and segment it, with the best weights available (the README's
main job: no dataset needed)."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..engine.outputs.fanout import Outputs
from ..engine.session import Session, closing_line
from ..errors import OutputError, SettingError, WeightsUnavailableError
from ..files import atomic_path
from ..presets import PRESETS
from ..settings import ModelSettings, SegmentSettings, SessionSettings
from .options import add_settings

SAMPLE = PRESETS["sample"]


def add(sub) -> None:
    p = sub.add_parser("sample", help="generate a sample clip and segment it (no dataset needed)")
    p.add_argument("--out-dir", default="runs/sample", help="where frames/, labels/, labels.npy, overlay.mp4 and "
                                                            "stats.json go (default: runs/sample)")
    p.add_argument("--frames", type=int, default=24, help="frames of the generated clip (default: 24)")
    # the settings' own options, at the sample's defaults (the official DINO weights when cached or downloadable,
    # else random ones, unless a checkpoint is given)
    add_settings(p, ModelSettings, defaults=SAMPLE.model, only=("checkpoint", "arch"))
    add_settings(p, SegmentSettings, defaults=SAMPLE.segment, only=("resolution",))
    p.add_argument("--offline", action="store_true", help="never download weights (random ones when none are cached)")
    p.add_argument("--overwrite", action="store_true", help="--out-dir may hold an earlier sample run: its files are "
                                                            "replaced (only those)")
    p.set_defaults(run=run)


def run(args) -> int:
    from PIL import Image

    from ..engine.synthetic import synthetic_clip
    from ..model.weights import dino_weights

    out = Path(args.out_dir)
    frames_dir = out / "frames"
    earlier = sorted(frames_dir.glob("[0-9][0-9][0-9][0-9][0-9].png"))
    if earlier and not args.overwrite:
        raise OutputError(f"{out} holds an earlier sample run ({len(earlier)} frames): --overwrite replaces it, or "
                          "name another --out-dir")
    for path in earlier:  # the frames a sample run wrote; the rest of the run is replaced as its outputs are
        path.unlink()
    if args.frames < 1:
        raise SettingError(f"--frames must be >= 1, got {args.frames}")
    frames, _ = synthetic_clip(args.frames)
    for i, frame in enumerate(frames):
        with atomic_path(frames_dir / f"{i:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
    print(f"sample clip: {len(frames)} frames in {frames_dir}", file=sys.stderr)
    try:
        model = ModelSettings(arch=args.arch, checkpoint=args.checkpoint) if args.checkpoint else \
            ModelSettings(arch=args.arch, dino_weights=str(dino_weights(args.arch, download=not args.offline,
                                                                         timeout=15)))
    except WeightsUnavailableError as e:
        print(f"attnseg: {e} (attnseg sample --checkpoint FILE takes the paper's checkpoint)", file=sys.stderr)
        model = ModelSettings(arch=args.arch, random_weights=True)
    config = dataclasses.replace(SAMPLE.segment, resolution=tuple(args.resolution))
    outputs = Outputs(out=out / "labels", labels=out / "labels.npy", overlay=out / "overlay.mp4",
                      overwrite=args.overwrite)
    stats = Session(SessionSettings(model=model, segment=config)).segment(str(frames_dir), outputs,
                                                                          stats_json=str(out / "stats.json"))
    print(closing_line(stats))
    print(f"wrote {out / 'labels'}/*.png, {out / 'overlay.mp4'}, {out / 'labels.npy'}, {out / 'stats.json'}")
    return 0
