"""CLI options generated from the settings' fields (attnseg.settings), and read back into them; and the
outputs a segmenting command writes.

    add_settings(parser, SegmentSettings)              # --resolution H W, --ratio, --tau, ... with their help
    config = read_settings(SegmentSettings, args)      # the dataclass, validated
    settings = read_session(args)                    # every part a command has, as one SessionSettings
    outputs = read_outputs(args)                     # what --out, --save-labels, --overlay, --rosbag ask for

A field's flag is its name with dashes (or the `flag` its metadata names); its default, valid values
and help come from the field. A face with other defaults passes a preset (attnseg.presets) as `defaults`.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from enum import Enum

from ..engine.outputs.fanout import Outputs, numbered
from ..settings import (CHUNK_FIELDS, Choice, ModelSettings, RosbagSettings, RuntimeSettings, SegmentSettings,
                        SessionSettings, StreamSettings)


def _dest(f: dataclasses.Field) -> str:
    flag = f.metadata.get("flag")
    return flag.lstrip("-").replace("-", "_") if flag and not flag.startswith("--no-") else f.name


def _base_type(hint):
    """X for X | None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


class OneLineParser(argparse.ArgumentParser):
    """A parser whose usage errors are one line, `PROG: error: MESSAGE (see PROG --help)`, exit code 2; an unknown
    flag names the closest known ones."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, except that a subcommand's unknown flag is reported by that subcommand, with the closest
        flags it has."""
        import difflib

        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            parser = self._subparsers._group_actions[0].choices[command] if command and self._subparsers else self
            flags = [s for a in parser._actions for s in a.option_strings]
            hints = [f"{x} (did you mean {' or '.join(m)}?)" if (m := difflib.get_close_matches(x.split("=")[0], flags,
                                                                                                  n=2))
                     else x for x in extra]
            parser.error(f"unrecognized arguments: {' '.join(hints)}")
        return parsed


def _without_default(text: str) -> str:
    """A help text without the "(default: ...)" its field gives (an interface with other defaults says its own)."""
    import re

    return re.sub(r" ?\(default: [^()]*(\([^()]*\)[^()]*)*\)", "", text)


def add_settings(parser, cls, *, defaults=None, exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None,
                 weights_group=None, helps: dict[str, str] | None = None) -> None:
    """Add one option per field of the settings dataclass `cls` (those in `only`, not in `exclude`); `helps`
    replaces the help of the fields it names (where this interface uses them differently)."""
    base = defaults if defaults is not None else cls()
    hints = typing.get_type_hints(cls)
    taken = {a.dest for a in getattr(parser, "_actions", [])}
    for f in dataclasses.fields(cls):
        if f.name in exclude or (only is not None and f.name not in only) or _dest(f) in taken:
            continue
        meta, default = f.metadata, getattr(base, f.name)
        kind = _base_type(hints[f.name])
        shown = default.value if isinstance(default, Enum) else default
        if isinstance(shown, tuple):
            shown = " ".join(map(str, shown))
        help_text = (helps or {}).get(f.name, meta.get("help", ""))
        if shown is not None and not isinstance(shown, bool):
            help_text = f"{_without_default(help_text)} (default: {shown})"
        kw: dict = {"dest": _dest(f), "help": argparse.SUPPRESS if meta.get("hidden") else help_text}
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        if kind is bool:
            if flag.startswith("--no-"):  # the field's help says what is on unless this flag is given
                kw.update(action="store_false", default=default, help=kw["help"] if kw["help"] == argparse.SUPPRESS
                          else f"turns off what is on by default: {kw['help']}")
            else:  # a default of True (a preset's) can still be turned off: --no-NAME
                kw.update(action=argparse.BooleanOptionalAction if default else "store_true", default=default)
                if default and kw["help"] != argparse.SUPPRESS:
                    kw["help"] = f"{kw['help']} (default: on here; --no-{flag[2:]} turns it off)"
        elif isinstance(kind, type) and issubclass(kind, Choice):
            aliases = list(getattr(kind, "_aliases", lambda: {})())
            kw.update(choices=[*kind.values(), *aliases], default=shown)
        elif typing.get_origin(kind) is tuple:
            kw.update(nargs=meta.get("nargs", 2), type=typing.get_args(kind)[0], metavar=meta.get("metavar"),
                      default=default)
        else:
            kw.update(type=kind, default=default)
        if meta.get("choices") == "arch":
            from ..model import VIT_PRESETS

            kw["choices"] = sorted(VIT_PRESETS)
        target = weights_group if meta.get("group") == "weights" and weights_group is not None else parser
        target.add_argument(flag, *meta.get("aliases", ()), **kw)


def read_settings(cls, args: argparse.Namespace, **changes):
    """The settings dataclass built from the parsed options it has (validated), with `changes` on top."""
    values = {f.name: getattr(args, _dest(f)) for f in dataclasses.fields(cls) if hasattr(args, _dest(f))}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**{**values, **changes})


def add_model(parser, *, defaults: SessionSettings | None = None, segment: bool = True, chunks: bool = True,
              helps: dict[str, str] | None = None) -> None:
    """The weights (one of them), the ViT, the device and, with `segment`, how clips are segmented (with
    `chunks`, how long videos are cut: offline commands only)."""
    weights = parser.add_mutually_exclusive_group()
    add_settings(parser, ModelSettings, defaults=defaults and defaults.model, weights_group=weights, helps=helps)
    if segment:
        add_settings(parser, SegmentSettings, defaults=defaults and defaults.segment,
                     exclude=() if chunks else CHUNK_FIELDS)


def add_live(parser, *, defaults: SessionSettings | None = None) -> None:
    """The streaming algorithm and the runtime around it (its window, ratio and tau: add_model's)."""
    add_settings(parser, StreamSettings, defaults=defaults and defaults.stream)
    add_settings(parser, RuntimeSettings, defaults=defaults and defaults.runtime)


def read_session(args: argparse.Namespace) -> SessionSettings:
    """The session's settings from the parsed options (each part from the flags this command has, the rest at its
    defaults), checked across its parts once."""
    return SessionSettings(model=read_settings(ModelSettings, args), segment=read_settings(SegmentSettings, args),
                           stream=read_settings(StreamSettings, args), runtime=read_settings(RuntimeSettings, args))


def add_outputs(parser, *, stats: str, progress: str) -> None:
    """What a segmentation writes: label PNGs, .npy labels, an overlay video, stats (what `stats` says), and a
    rosbag2; --no-progress turns off what `progress` says."""
    parser.add_argument("--out", help="folder for one PNG label map per frame (DAVIS palette), named as the input's "
                                      "frames; refused when it holds PNGs already (see --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="--out may hold the label PNGs of an earlier run: "
                                                                 "they are removed first (only those: files attnseg "
                                                                 "did not write stay)")
    parser.add_argument("--save-labels", help="(T, h, w) int32 patch labels as .npy")
    parser.add_argument("--overlay", help="overlay video (.mp4)")
    parser.add_argument("--coco", metavar="FILE", help="COCO run-length masks of every object in every frame, as "
                                                       "YouTube-VIS results JSON (layout: docs/cli.md)")
    parser.add_argument("--stats-json", help=stats)
    parser.add_argument("--no-progress", action="store_true", help=f"turns off what is on by default: {progress}")
    parser.add_argument("--rosbag", help="also write the label maps into a new rosbag2 at this path "
                                         "(sensor_msgs/Image; needs attnseg[ros])")
    parser.add_argument("--rosbag-overlay", action="store_true", help="also the overlay, on the overlay topic (rgb8)")
    add_settings(parser, RosbagSettings)


def read_outputs(args: argparse.Namespace, number: int | None = None) -> Outputs:
    """The outputs add_outputs' flags ask for; the rosbag2 is opened when the outputs are (an existing path fails
    before any work). `number`: those of source `number` (from 1) of a stream of several, each path numbered
    (attnseg.engine.outputs.fanout.numbered), COCO left out (one file for all sources: the caller's)."""
    def path(value, folder=False):
        return numbered(value, number, folder) if value and number is not None else value

    bag = path(args.rosbag)
    return Outputs(out=path(args.out, folder=True), labels=path(args.save_labels), overlay=path(args.overlay),
                   coco=args.coco if number is None else None,
                   bag=(lambda: open_rosbag(args, bag)) if bag else None, bag_path=bag,
                   bag_overlay=args.rosbag_overlay, overwrite=args.overwrite)


def open_rosbag(args: argparse.Namespace, path: str | None = None):
    """The rosbag2 sink of --rosbag (or at `path`; needs attnseg[ros])."""
    from ..integrations.rosbag import RosbagSink

    settings = read_settings(RosbagSettings, args)
    return RosbagSink(path or args.rosbag, topic=settings.topic, encoding=settings.encoding,
                      overlay_topic=settings.overlay_topic if args.rosbag_overlay else None,
                      storage=settings.storage, frame_id=settings.frame_id)
