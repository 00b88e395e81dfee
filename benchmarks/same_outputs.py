"""Two checkouts, the same inputs, the same commands: are their outputs the same, bit for bit?

    git worktree add ../before <commit>
    python -m benchmarks.same_outputs --before ../before          # against this checkout; exit 1 on a difference

For a refactor that must change nothing users see. Each checkout runs, in its own process, the CLI (segment: a
folder with every output and a rosbag2, a DAVIS clip with a paper-format checkpoint, a long video in chunks
with its chunk log, the certified kernels; stream: a synthetic source and a folder; batch; export then segment
with the artifact) and the Python API (segment_video, iter_video, the streaming runtime, the one-call
function) on generated inputs and a DAVIS clip when ../shared is there. Then every file is compared: bytes;
.npy files by content where the bytes differ (the header is the writer's); JSON without its timings;
rosbag2 by messages (their stamps are wall-clock times). Only the public interfaces both checkouts have are
used.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DAVIS = HERE.parents[1] / "shared" / "data" / "davis16" / "JPEGImages" / "480p"
TIMING = {"seconds", "fps", "total", "decode", "preprocess", "backbone", "affinity", "clustering", "linking", "output",
          "upsample", "peak_rss_mb", "rss_mb", "worker_pid", "latency_ms", "certified_recompute_time_share", "out",
          "mask_latency_ms", "engine_latency_ms", "written_latency_ms", "shown_fps", "busy_s", "busy_share"}  # engine_latency_ms: the former
# name of mask_latency_ms (CHANGELOG.md)
RANDOM = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "6", "--resolution", "64", "96", "--backend",
          "eager"]


def make_inputs(folder: Path) -> None:
    """11 frames as PNGs, a 40-frame MJPG video, and a random checkpoint in the paper's format."""
    import cv2
    from PIL import Image

    from attnseg.bench.load import paper_checkpoint
    from attnseg.engine.synthetic import synthetic_clip

    (folder / "synthetic").mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(synthetic_clip(11, 120, 160)[0]):
        Image.fromarray(frame).save(folder / "synthetic" / f"{i:05d}.png")
    video = cv2.VideoWriter(str(folder / "long.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 24, (160, 120))
    for frame in synthetic_clip(40, 120, 160, seed=2)[0]:
        video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    video.release()
    paper_checkpoint(folder, "vit_small_8", 5.5).rename(folder / "paper.pth")


def run(inputs: Path, out: Path) -> None:
    """The commands and the API calls, with the attnseg this process imports, into `out`."""
    out.mkdir(parents=True)
    env = {**os.environ, "ATTNSEG_CACHE": str(out / "cache")}

    def cli(*args) -> None:
        subprocess.run([sys.executable, "-m", "attnseg", *map(str, args)], env=env, check=True, capture_output=True)

    syn, long = inputs / "synthetic", inputs / "long.avi"
    cli("segment", syn, *RANDOM, "--out", out / "seg/png", "--save-labels", out / "seg/l.npy", "--overlay",
        out / "seg/o.mp4", "--stats-json", out / "seg/s.json", "--rosbag", out / "seg/bag", "--rosbag-overlay")
    cli("segment", long, *RANDOM, "--chunk", "6", "--out", out / "long/png", "--save-labels", out / "long/l.npy",
        "--chunk-log", out / "long/chunks.jsonl")
    cli("segment", long, *RANDOM, "--kernels", "certified", "--save-labels", out / "certified.npy")
    cli("stream", "synthetic:30", *RANDOM, "--out", out / "stream/png", "--save-labels", out / "stream/l.npy",
        "--overlay", out / "stream/o.mp4", "--stats-json", out / "stream/s.json", "--rosbag", out / "stream/bag")
    cli("stream", syn, *RANDOM, "--memory", "2", "--window", "2", "--out", out / "stream2/png")
    cli("batch", syn, long, "--out", out / "batch", *RANDOM)
    cli("export", "--format", "onnx", "--out", out / "fe.onnx", *RANDOM[:-2])
    cli("segment", syn, *RANDOM[:-2], "--backend", "onnxruntime", "--artifact", out / "fe.onnx", "--save-labels",
        out / "onnx.npy")

    import attnseg
    from attnseg import Segmenter, segment_video

    # the settings' names in either checkout (SegmentConfig and StreamConfig before, CHANGELOG.md)
    SegmentSettings = getattr(attnseg, "SegmentSettings", None) or attnseg.SegmentConfig
    StreamSettings = getattr(attnseg, "StreamSettings", None) or attnseg.StreamConfig

    checkpoint, config = str(inputs / "paper.pth"), SegmentSettings(resolution=(64, 112))
    if DAVIS.is_dir():
        cli("segment", DAVIS / "blackswan", "--checkpoint", checkpoint, "--resolution", "64", "112", "--backend",
            "eager", "--out", out / "davis/png", "--save-labels", out / "davis/l.npy")
    seg = Segmenter.from_checkpoint(checkpoint, arch="vit_small_8", config=config)
    clip = DAVIS / "car-shadow" if DAVIS.is_dir() else syn
    result = seg.segment_video(str(clip))
    np.save(out / "api_labels.npy", result.labels)
    np.save(out / "api_masks.npy", result.masks)
    (out / "api.json").write_text(json.dumps({"clusters": result.num_clusters, "names": result.names,
                                              "fps": result.fps, "mode": str(result.mode)}))
    frames = list(seg.iter_video(str(long), chunk=7))
    np.save(out / "api_iter.npy", np.stack([f.mask for f in frames]))
    runtime = attnseg.StreamRuntime(seg, StreamSettings(memory=3))
    full = [getattr(r, "mask", r.labels) for r in runtime.stream(str(syn), warm_up=False)]  # mask: labels before
    np.save(out / "api_stream.npy", np.stack(full))  # StreamResult's full-size map was named labels (CHANGELOG.md)
    np.save(out / "api_fn.npy", segment_video(str(syn), random_weights=True, arch="vit_small_16", qk_gain=6.0,
                                              config=SegmentSettings(resolution=(64, 96))).labels)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    return [_strip(v) for v in obj] if isinstance(obj, list) else obj


def _json(path: Path):
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines()] if path.suffix == ".jsonl" else json.loads(text)


def _bag(folder: Path) -> list:
    """A rosbag2's messages without their stamps (wall-clock times): (topic, frame_id, data) in order."""
    from rosbags.highlevel import AnyReader

    with AnyReader([folder]) as reader:
        return [(c.topic, msg.header.frame_id, np.asarray(msg.data).tobytes())
                for c, _, raw in reader.messages() for msg in [reader.deserialize(raw, c.msgtype)]]


def compare(a: Path, b: Path) -> list[str]:
    """What differs between the two output trees (nothing: an empty list)."""
    names = {p.relative_to(root) for root in (a, b) for p in root.rglob("*") if p.is_file()}
    bags = {rel.parent for rel in names if rel.name == "metadata.yaml"}
    problems = []
    for rel in sorted(names):
        if rel.parts[0] == "cache" or rel.parent in bags:
            continue
        pa, pb = a / rel, b / rel
        if not (pa.is_file() and pb.is_file()):
            problems.append(f"{rel}: only in {'the first' if pa.is_file() else 'the second'}")
        elif pa.read_bytes() == pb.read_bytes():
            continue
        elif rel.suffix == ".npy":
            x, y = np.load(pa), np.load(pb)
            if x.dtype != y.dtype or not np.array_equal(x, y):
                problems.append(f"{rel}: other labels")
        elif rel.suffix in (".json", ".jsonl"):
            if _strip(_json(pa)) != _strip(_json(pb)):
                problems.append(f"{rel}: other values")
        else:
            problems.append(f"{rel}: other bytes")
    for bag in sorted(bags):
        if _bag(a / bag) != _bag(b / bag):
            problems.append(f"{bag}: other messages")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the other checkout")
    p.add_argument("--after", default=str(HERE.parent), help="default: this checkout")
    p.add_argument("--work", default="same-outputs", help="where the inputs and both outputs go (a new folder)")
    p.add_argument("--run", nargs=2, metavar=("INPUTS", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.run:
        run(Path(args.run[0]), Path(args.run[1]))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True)
    make_inputs(work / "inputs")
    for name, checkout in (("before", args.before), ("after", args.after)):
        env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
        subprocess.run([sys.executable, __file__, "--before", "-", "--run", str(work / "inputs"), str(work / name)],
                       env=env, check=True, cwd=work)
    problems = compare(work / "before", work / "after")
    files = sum(1 for p in (work / "after").rglob("*") if p.is_file() and "cache" not in p.parts)
    print("\n".join(problems) or f"the same: {files} files of {args.before} and {args.after}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
