"""Command line: `attnseg segment`, `export`, `eval`, `bench`, and `sample` (the README's main job).

The CLI only maps flags onto the library's config and build functions; every
failure prints one line (`attnseg: error: ...`), `--debug` shows the traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .engine import (RANDOM_BANNER, SegmentConfig, Segmenter, StreamConfig, save_labels, write_label_pngs,
                     write_overlay_video)
from .engine.backends import ALIASES, BACKENDS
from .engine.outputs import atomic_path, overlay
from .engine.sources import read_clip
from .export import FORMATS
from .kernels import KERNELS
from .errors import AttnsegError, DeviceError, WeightsUnavailableError
from .model import VIT_PRESETS

log = logging.getLogger("attnseg")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="paper checkpoint (backbone + ST block) or any format of SPEC 8")
    src.add_argument("--dino-weights", help="DINO backbone weights only: runs DINO-only (not the paper's method)")
    src.add_argument("--random-weights", action="store_true", help="random weights, for smoke runs and benchmarks")
    p.add_argument("--arch", default="vit_small_8", choices=sorted(VIT_PRESETS))
    p.add_argument("--resolution", nargs=2, type=int, metavar=("H", "W"), default=(320, 480))
    p.add_argument("--ratio", type=int, default=10, help="a key frame every RATIO frames (default 10)")
    p.add_argument("--tau", type=float, default=1.0, help="symmetric-KL threshold (default 1.0)")
    p.add_argument("--normalization", default="kinetics", choices=["kinetics", "imagenet"])
    p.add_argument("--batch-size", type=int, default=8, help="frames per front-end batch")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--backend", default="eager", choices=[*BACKENDS, *ALIASES],
                   help="front-end backend: eager (= torch), compiled (torch.compile), or an exported form: "
                        "onnxruntime, tensorrt, aoti")
    p.add_argument("--engine", help="artifact of `attnseg export` for an exported backend (default: built once "
                                    "into the cache and reused)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="exported backends (default: the "
                                                                         "format's own: fp32, tensorrt fp16)")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    p.add_argument("--kernels", default="auto", choices=list(KERNELS),
                   help="clustering: auto (Triton on CUDA, else the reference), torch, triton")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    p.add_argument("--qk-gain", type=float, default=1.0, help=argparse.SUPPRESS)  # random ST q/k scale


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="folder for one PNG label map per frame (DAVIS palette)")
    p.add_argument("--save-labels", help="(T, h, w) int32 patch labels as .npy")
    p.add_argument("--overlay", help="overlay video (.mp4)")
    p.add_argument("--stats-json", help="flat JSON: mode, backend, clusters, seconds per stage")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--rosbag", help="also write the label maps into a new rosbag2 at this path "
                                    "(sensor_msgs/Image; needs attnseg[ros])")
    p.add_argument("--rosbag-topic", default="/attnseg/labels")
    p.add_argument("--rosbag-overlay", action="store_true", help="also the overlay, on /attnseg/overlay (rgb8)")
    p.add_argument("--rosbag-encoding", default="mono16", choices=["mono16", "32SC1"],
                   help="label image encoding (mono16: ids up to 65535)")
    p.add_argument("--rosbag-storage", default="sqlite3", choices=["sqlite3", "mcap"])
    p.add_argument("--frame-id", default="camera", help="header frame_id of the rosbag messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnseg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"attnseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment a video file or a folder of frames")
    seg.add_argument("input", help="video file or folder of frames (sorted by name)")
    _add_model_args(seg)
    seg.add_argument("--mode", default="offline", choices=["offline"], help="offline: the paper's pipeline")
    _add_output_args(seg)

    st = sub.add_parser("stream", help="segment live: a webcam, a video file, a URL, a folder or 'synthetic:N'")
    st.add_argument("source", help="camera index (0), video file, rtsp:// or http:// URL, frame folder, synthetic:N")
    _add_model_args(st)
    st.add_argument("--realtime", action="store_true", help="play a file or folder at its own FPS (else: as fast "
                                                             "as possible, nothing dropped)")
    st.add_argument("--drop", choices=["drop-oldest", "wait"], help="frame queue policy (default: drop-oldest for "
                                                                     "cameras and URLs, wait for the rest)")
    st.add_argument("--queue-size", type=int, default=2, help="frames waiting for the front-end")
    st.add_argument("--window", type=int, default=3, help="frames clustered together")
    st.add_argument("--memory", type=int, default=4, help="key frames kept in the rolling memory")
    st.add_argument("--max-age", type=int, default=10, help="windows a lost object keeps its id")
    st.add_argument("--on-disconnect", choices=["end", "reconnect"], default="end")
    st.add_argument("--stall-timeout", type=float, default=10.0, help="seconds without a frame that end the stream")
    st.add_argument("--max-frames", type=int, help="stop after this many captured frames")
    st.add_argument("--zmq", metavar="ADDRESS", help="publish every result over ZeroMQ PUB, e.g. tcp://*:5555 "
                                                     "(needs attnseg[zmq]; reader: examples/zmq_subscriber.py)")
    _add_output_args(st)

    exp = sub.add_parser("export", help="export the front-end as an ONNX, TensorRT or AOTInductor artifact, "
                                        "or a Triton Inference Server model repository")
    exp.add_argument("--format", required=True, choices=[*FORMATS, "triton-repo"])
    exp.add_argument("--out", required=True, help="artifact path: .onnx (+ .onnx.data), .plan or .pt2; "
                                                  "triton-repo: a new folder")
    src = exp.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="paper checkpoint (backbone + ST block) or any format of SPEC 8")
    src.add_argument("--dino-weights", help="DINO backbone weights only (DINO-only mode)")
    src.add_argument("--random-weights", action="store_true", help="random weights, for tests and benchmarks")
    exp.add_argument("--arch", default="vit_small_8", choices=sorted(VIT_PRESETS))
    exp.add_argument("--resolution", nargs=2, type=int, metavar=("H", "W"), default=(320, 480),
                     help="the one input size the artifact serves (positional embedding baked)")
    exp.add_argument("--normalization", default="kinetics", choices=["kinetics", "imagenet"])
    exp.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="default: the format's first")
    exp.add_argument("--max-batch", type=int, default=32, help="largest batch of frames per call")
    exp.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to build (aoti, tensorrt)")
    exp.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    exp.add_argument("--qk-gain", type=float, default=1.0, help=argparse.SUPPRESS)
    repo = exp.add_argument_group("triton-repo", "the model repository's streaming model (editable later in "
                                                 "attnseg/config.pbtxt)")
    repo.add_argument("--plan", help="a TensorRT plan of `attnseg export --format tensorrt` built on the serving "
                                     "GPU: adds attnseg_frontend_trt and routes the streaming model to it")
    repo.add_argument("--trt-accelerator", action="store_true",
                      help="let ONNX Runtime run the front-end through its TensorRT execution provider")
    repo.add_argument("--max-cameras", type=int, default=8, help="camera sequences batched per execution")
    repo.add_argument("--tau", type=float, default=1.0)
    repo.add_argument("--window", type=int, default=3)
    repo.add_argument("--ratio", type=int, default=10)
    repo.add_argument("--memory", type=int, default=4)
    repo.add_argument("--max-age", type=int, default=10)

    bat = sub.add_parser("batch", help="segment many videos, one output folder each; a re-run skips finished ones")
    bat.add_argument("inputs", nargs="+", help="video files or frame folders")
    bat.add_argument("--out", required=True, help="OUT/<name>/{labels/*.png, labels.npy, result.json} per video")
    _add_model_args(bat)
    bat.add_argument("--ray", action="store_true", help="fan out over a Ray cluster (Ray Data; needs attnseg[ray])")
    bat.add_argument("--address", help="Ray cluster address (default: a local cluster, or RAY_ADDRESS)")
    bat.add_argument("--actors", type=int, help="Ray actors (default: one per GPU of the cluster, else 1)")
    bat.add_argument("--cpus-per-actor", type=float, default=1.0)
    bat.add_argument("--summary-json", help="one record per video: status, frames, seconds, error")

    ev = sub.add_parser("eval", help="DAVIS J and F of label-map PNGs against annotations")
    ev.add_argument("--davis-root", required=True, help="DAVIS layout: JPEGImages/480p, Annotations*/480p")
    ev.add_argument("--results", required=True, help="RESULTS/SEQ/FRAME.png label maps (every id a proposal)")
    ev.add_argument("--protocol", default="standard", choices=["standard", "paper"],
                    help="standard: one matching per sequence, <= 20 proposals; paper: per frame, <= 300")
    ev.add_argument("--sequences", nargs="+", help="default: every annotated sequence")
    ev.add_argument("--annotations", default="auto", choices=["auto", "Annotations", "Annotations_unsupervised"])
    ev.add_argument("--background", type=int, help="a label id that is not a proposal (e.g. 0)")
    ev.add_argument("--json", help="write the scores as JSON")

    bench = sub.add_parser("bench", help="the latency suite for this machine (JSON records)")
    bench.add_argument("--resolution", nargs=2, type=int, action="append", metavar=("H", "W"),
                       help="repeatable; with no axis flag, the standard suite of this device")
    bench.add_argument("--arch", action="append", choices=sorted(VIT_PRESETS), help="repeatable")
    bench.add_argument("--backend", action="append", choices=list(BACKENDS), help="repeatable")
    bench.add_argument("--kernels", action="append", choices=list(KERNELS), help="repeatable")
    bench.add_argument("--batch-size", type=int, action="append", help="repeatable")
    bench.add_argument("--device", default="cuda" if _cuda() else "cpu", choices=["cpu", "cuda"])
    bench.add_argument("--compare", action="store_true",
                       help="also time the plain reference pipeline in the same process and record the ratio")
    bench.add_argument("--no-cost-model", action="store_true", help="skip the peaks and the FLOP/byte model")
    bench.add_argument("--frames", type=int, default=30, help="frames of the synthetic clip")
    bench.add_argument("--clip", help="a video or frame folder instead of the synthetic clip")
    bench.add_argument("--checkpoint", help="default: random weights (ST q/k x3, peaked attention)")
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--warmup", type=int, default=1)
    bench.add_argument("--results", default="benchmarks/results", help="where the JSON records go")

    sample = sub.add_parser("sample", help="generate a sample clip and segment it (no dataset needed)")
    sample.add_argument("--out-dir", default="runs/sample", help="where frames, labels and overlay go")
    sample.add_argument("--frames", type=int, default=24)
    sample.add_argument("--arch", default="vit_small_8", choices=sorted(VIT_PRESETS))
    sample.add_argument("--resolution", nargs=2, type=int, metavar=("H", "W"), default=(192, 256))
    sample.add_argument("--offline", action="store_true", help="never download weights")
    return parser


def _config(args) -> SegmentConfig:
    return SegmentConfig(resolution=tuple(args.resolution), ratio=args.ratio, tau=args.tau,
                         normalization=args.normalization, batch_size=args.batch_size, backend=args.backend,
                         kernels=args.kernels, engine=args.engine, precision=args.precision, threads=args.threads)


def _weights(args) -> dict:
    """The weights flags as Segmenter.from_checkpoint keywords (also what Ray actors build from)."""
    return {"checkpoint": args.checkpoint, "dino_weights": args.dino_weights, "random_weights": args.random_weights,
            "arch": args.arch, "seed": args.seed, "qk_gain": args.qk_gain}


def _describe_mode(mode: str) -> str:
    if mode == "st":
        return "mode: st (DINO + spatio-temporal block, the paper's method)"
    return "mode: dino-only (no ST checkpoint: affinity from the last DINO block's own q/k; not the paper's method)"


def run_segment(args) -> int:
    segmenter = Segmenter.from_checkpoint(config=_config(args), device=args.device, **_weights(args))
    print(_describe_mode(segmenter.mode), file=sys.stderr)
    bag = _open_rosbag(args)  # before the work: an existing bag path fails now, not after
    start = time.perf_counter()
    try:
        clip = read_clip(args.input)  # decoded once: the overlay needs the frames too
        decode = time.perf_counter() - start
        result = segmenter.segment_video(clip, progress=not args.no_progress and sys.stderr.isatty())
    except BaseException:
        if bag:
            bag.abort()
        raise
    result.timings["decode"] += decode
    result.timings["total"] += decode
    start = time.perf_counter()
    if args.out:
        write_label_pngs(args.out, result.masks, result.names)
    if args.save_labels:
        save_labels(args.save_labels, result.labels)
    if args.overlay:
        write_overlay_video(args.overlay, clip.frames, result.masks, result.fps)
    if bag:
        with bag:
            t0, period = time.time_ns(), 1e9 / (result.fps or 24.0)  # frame i at i / fps after the run's start
            for i, mask in enumerate(result.masks):
                shown = overlay(clip.frames[i], mask) if args.rosbag_overlay else None
                bag.write(t0 + round(i * period), mask, shown)
    result.timings["output"] = time.perf_counter() - start
    result.timings["total"] += result.timings["output"]
    stats = result.stats()
    if args.stats_json:
        with atomic_path(args.stats_json) as tmp:
            tmp.write_text(json.dumps(stats, indent=1) + "\n")
    stages = " ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k != "total")
    print(f"segmented {stats['frames']} frames -> {stats['clusters']} clusters ({stats['clusters_used']} used), "
          f"{result.mode}: {stages} | total {result.timings['total']:.2f}s")
    return 0


def run_stream(args) -> int:
    from .engine.outputs import VideoSink, write_label_png
    from .engine.streaming import StreamEngine, StreamError

    config = _config(args)
    segmenter = Segmenter.from_checkpoint(config=config, device=args.device, **_weights(args))
    print(_describe_mode(segmenter.mode), file=sys.stderr)
    engine = StreamEngine(segmenter, StreamConfig(window=args.window, ratio=args.ratio, memory=args.memory,
                                                  tau=args.tau, max_age=args.max_age))
    publisher = _open_publisher(args)  # first: a busy address fails before any file is started
    bag = _open_rosbag(args)
    sink = VideoSink(args.overlay, 24.0) if args.overlay else None
    labels, ids = [], set()
    wall_offset = time.time_ns() - time.monotonic_ns()  # capture times are monotonic; messages carry wall time
    failure = None
    try:
        for r in engine.stream(args.source, realtime=args.realtime, drop=args.drop, queue_size=args.queue_size,
                               on_disconnect=args.on_disconnect, stall_timeout=args.stall_timeout,
                               max_frames=args.max_frames):
            present = np.unique(r.patch_labels)  # ids counted per patch: cheap
            shown = overlay(r.image, r.labels) if sink or (bag and args.rosbag_overlay) else None
            if args.out:
                write_label_png(Path(args.out) / f"{r.frame_id:06d}.png", r.labels)
            if sink:
                sink.write(shown)
            stamp = wall_offset + round(r.timestamp * 1e9)
            if bag:
                bag.write(stamp, r.labels, shown if args.rosbag_overlay else None)
            if publisher:
                publisher.publish(r.frame_id, stamp, r.labels, latency_ms=round(r.latency * 1e3, 3),
                                  objects=len(present))
            if args.save_labels:
                labels.append(r.patch_labels)
            ids.update(present.tolist())
    except StreamError as err:
        failure = err
    finally:  # what was computed is kept: labels, video, bag and stats are written even after a failure
        if sink:
            sink.close()
        if bag:
            bag.close()
        if publisher:
            publisher.close()
        if args.save_labels and labels:
            save_labels(args.save_labels, np.stack(labels))
        stats = {**engine.stats.to_dict(), "objects": len(ids), "backend": config.backend, "mode": segmenter.mode}
        if args.stats_json:
            with atomic_path(args.stats_json) as tmp:
                tmp.write_text(json.dumps(stats, indent=1) + "\n")
    lat = stats["latency_ms"]
    print(f"streamed {stats['frames_processed']}/{stats['frames_in']} frames ({stats['frames_dropped']} dropped), "
          f"{stats['fps']:.2f} fps, latency p50 {lat['p50']} ms p99 {lat['p99']} ms, {len(ids)} object ids; "
          f"ended: {stats['ended_by']}")
    if failure:
        raise failure
    return 0


def _open_rosbag(args):
    if not args.rosbag:
        return None
    from .integrations.rosbag import RosbagSink

    return RosbagSink(args.rosbag, topic=args.rosbag_topic, encoding=args.rosbag_encoding,
                      overlay_topic="/attnseg/overlay" if args.rosbag_overlay else None,
                      storage=args.rosbag_storage, frame_id=args.frame_id)


def _open_publisher(args):
    if not args.zmq:
        return None
    from .integrations.zeromq import ZmqPublisher

    publisher = ZmqPublisher(args.zmq)
    print(f"publishing results on {publisher.address} (topic 'attnseg')", file=sys.stderr)
    return publisher


def run_export(args) -> int:
    from .export import export
    from .model import build_frontend

    if args.device == "cuda" and not _cuda():
        raise DeviceError("device cuda asked for, but no CUDA device is available; run on the cpu")
    frontend, info = build_frontend(args.arch, checkpoint=args.checkpoint, dino_weights=args.dino_weights,
                                    random_weights=args.random_weights, seed=args.seed, qk_gain=args.qk_gain,
                                    device=args.device)
    if info.is_random:
        log.warning(RANDOM_BANNER)
    if args.format == "triton-repo":
        return _export_triton_repo(args, frontend, info)
    result = export(frontend, format=args.format, resolution=tuple(args.resolution), out=args.out,
                    normalization=args.normalization, precision=args.precision, max_batch=args.max_batch,
                    checkpoint_sha256=info.sha256)
    meta = result.meta
    files = [str(result.path)] + ([f"{result.path}.data"] if args.format == "onnx" else [f"{result.path}.meta.json"])
    print(f"exported {meta.arch} {meta.mode} {meta.resolution[0]}x{meta.resolution[1]} {meta.precision} "
          f"as {args.format} in {result.seconds:.1f}s -> {', '.join(files)}; loaded back: max |q, k - reference| "
          f"{max(result.max_abs_error.values()):.2e} ({result.relative_error:.1e} of scale); "
          f"run it with `attnseg segment --backend {FORMATS[args.format].backend} --engine {result.path}`")
    return 0


def _export_triton_repo(args, frontend, info) -> int:
    from .export.triton_repo import export_triton_repo

    stream = {"window": args.window, "ratio": args.ratio, "memory": args.memory, "tau": args.tau,
              "max_age": args.max_age}
    StreamConfig(**stream)  # refuse bad settings before exporting
    repo = export_triton_repo(frontend, out=args.out, resolution=tuple(args.resolution),
                              normalization=args.normalization, max_batch=args.max_batch, device=args.device,
                              stream=stream, plan=args.plan, trt_accelerator=args.trt_accelerator,
                              max_cameras=args.max_cameras, checkpoint_sha256=info.sha256)
    print(f"wrote Triton model repository {repo.path}: {', '.join(repo.models)}; every config.pbtxt parsed against "
          f"Triton's model-config schema; the ONNX front-end loaded back: max |q, k - reference| "
          f"{max(repo.onnx.max_abs_error.values()):.2e}. Serve it: tritonserver --model-repository "
          f"{repo.path.resolve()} (attnseg installed in the server's Python; see README)")
    return 0


def run_sample(args) -> int:
    """Write a synthetic clip, then segment it with the best weights available."""
    from PIL import Image

    from .engine.synthetic import synthetic_clip
    from .model.weights import dino_weights

    out = Path(args.out_dir)
    frames_dir = out / "frames"
    frames, _ = synthetic_clip(args.frames)
    for i, frame in enumerate(frames):
        with atomic_path(frames_dir / f"{i:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
    print(f"sample clip: {len(frames)} frames in {frames_dir}", file=sys.stderr)
    try:
        weights = ["--dino-weights", str(dino_weights(args.arch, download=not args.offline, timeout=15))]
    except WeightsUnavailableError as e:
        print(f"attnseg: {e}", file=sys.stderr)
        weights = ["--random-weights"]
    seg_args = build_parser().parse_args([
        "segment", str(frames_dir), "--arch", args.arch, "--resolution", *map(str, args.resolution),
        "--out", str(out / "labels"), "--overlay", str(out / "overlay.mp4"),
        "--save-labels", str(out / "labels.npy"), "--stats-json", str(out / "stats.json"), *weights,
    ])
    code = run_segment(seg_args)
    print(f"wrote {out / 'labels'}/*.png, {out / 'overlay.mp4'}, {out / 'labels.npy'}, {out / 'stats.json'}")
    return code


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def run_batch(args) -> int:
    from .engine.batch import run_batch as run_local

    if args.ray:
        from .integrations.ray_batch import run_ray_batch

        if args.random_weights:
            log.warning(RANDOM_BANNER)
        records = run_ray_batch(args.inputs, args.out, model=_weights(args), config=_config(args), address=args.address,
                                actors=args.actors, cpus_per_actor=args.cpus_per_actor)
        for r in records:
            _report(r)
    else:
        segmenter = Segmenter.from_checkpoint(config=_config(args), device=args.device, **_weights(args))
        records = []
        for r in run_local(segmenter, args.inputs, args.out):
            records.append(r)
            _report(r)
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed")}
    if args.summary_json:
        with atomic_path(args.summary_json) as tmp:
            tmp.write_text(json.dumps(records, indent=1) + "\n")
    print(f"batch: {counts['done']} done, {counts['skipped']} skipped (finished before), {counts['failed']} failed "
          f"-> {args.out}")
    if counts["failed"]:
        raise AttnsegError(f"{counts['failed']} video(s) failed (see above); re-run the same command to retry them")
    return 0


def _report(record: dict) -> None:
    detail = {"done": lambda r: f"{r['frames']} frames in {r['seconds']:.1f}s", "skipped": lambda r: "finished before",
              "failed": lambda r: r.get("error", "")}[record["status"]](record)
    print(f"{record['status']:>8}  {record['video']}  {detail}")


def run_bench(args) -> int:
    import itertools
    import tempfile

    from .bench.peaks import measure_peaks
    from .bench.suite import BenchConfig, compare, default_configs, run_config, standard_clip

    axes = (args.arch, args.resolution, args.backend, args.kernels, args.batch_size)
    if any(axes):
        d = BenchConfig()
        configs = [BenchConfig(a, tuple(r), args.device, b, k, n) for a, r, b, k, n in itertools.product(
            args.arch or [d.arch], args.resolution or [d.resolution], args.backend or [d.backend],
            args.kernels or [d.kernels], args.batch_size or [d.batch_size])]
    else:
        configs = default_configs(args.device)
    peaks = None if args.no_cost_model else measure_peaks(args.device)
    if peaks:
        print("peaks: " + ", ".join(f"{k} {v}" for k, v in peaks.items()))
    with tempfile.TemporaryDirectory(prefix="attnseg-clip-") as workdir:
        if args.clip:
            source, clip_name = args.clip, Path(args.clip).name
        else:
            source, clip_name = str(standard_clip(workdir, args.frames)), f"synthetic {args.frames} JPEGs 480x854"
        print(f"{'config':<44} {'p50 s':>7} {'p90 s':>7} {'fps':>6} {'parity':>7}")
        for cfg in configs:
            figures, path = run_config(cfg, source, checkpoint=args.checkpoint, repeats=args.repeats,
                                       warmup=args.warmup, results=args.results, clip_name=clip_name, peaks=peaks)
            e2e = figures["end_to_end_seconds"]
            print(f"{cfg.name:<44} {e2e['p50']:7.2f} {e2e['p90']:7.2f} {figures['fps']:6.2f} "
                  f"{figures['parity_vs_reference']:7.4f}  -> {path}")
            if args.compare:
                figures, path = compare(cfg, source, checkpoint=args.checkpoint, repeats=args.repeats,
                                        warmup=args.warmup, results=args.results, clip_name=clip_name)
                print(f"{'  vs reference (eager, torch)':<44} end to end x{figures['speedup_p50']['end_to_end']:.2f}"
                      f", labels agree {figures['label_agreement']:.4f}  -> {path}")
    return 0


def run_eval(args) -> int:
    from .eval import evaluate

    report = evaluate(args.davis_root, args.results, args.protocol, args.sequences, args.annotations,
                      args.background).to_dict()
    protocol = {"standard": "standard DAVIS unsupervised (one matching per sequence, <= 20 proposals)",
                "paper": "paper (every cluster a proposal, matching per frame, <= 300)"}[args.protocol]
    print(f"protocol: {protocol}")
    print(f"{'sequence':<20} {'J&F':>6} {'J':>6} {'F':>6} {'objects':>7} {'proposals':>9}")
    for name, s in report["sequences"].items():
        print(f"{name:<20} {s['J&F']:6.3f} {s['J']:6.3f} {s['F']:6.3f} {s['objects']:7d} {s['proposals']:9d}"
              + (f"  ({s['dropped_proposals']} smallest dropped)" if s["dropped_proposals"] else ""))
    print(f"{'mean':<20} {report['J&F']:6.3f} {report['J']:6.3f} {report['F']:6.3f}"
          f"   J recall {report['J_recall']:.3f} decay {report['J_decay']:.3f},"
          f" F recall {report['F_recall']:.3f} decay {report['F_decay']:.3f}")
    if args.json:
        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(report, indent=1))
    return 0


def _log_to_stderr(level: int) -> None:
    """The library's log lines (the random-weights banner, exports into the cache) go to this stderr."""
    logger = logging.getLogger("attnseg")
    for old in [h for h in logger.handlers if getattr(h, "attnseg_cli", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.attnseg_cli = True
    handler.setFormatter(logging.Formatter("attnseg: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(logging.INFO if args.debug else logging.WARNING)
    handler = {"segment": run_segment, "stream": run_stream, "export": run_export, "batch": run_batch,
               "eval": run_eval, "bench": run_bench, "sample": run_sample}[args.command]
    try:
        return handler(args)
    except (AttnsegError, OSError) as e:  # the library's own errors, and the system's (disk full, permissions)
        if args.debug:
            raise
        print(f"attnseg: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnseg: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen failure: one line, the traceback on request
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"attnseg: error: unexpected {type(e).__name__}: {first} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
