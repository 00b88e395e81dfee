"""The prepared GPU run: one command that turns every GPU row of the project into a record.

    PYTHONPATH=. python3 benchmarks/device_suite.py --out OUT [--data .device/davis16]
    python benchmarks/device_suite.py --smoke --out /tmp/suite     # the same code on a CPU, tiny sizes

Parts, in order; each runs in its own process under its own time box, and the suite goes on past a part
that fails or overruns, naming it (docs/gpu.md has the device-tool call, the records and the targets):
1. machine: GPU, driver, torch, CUDA, Triton, ONNX Runtime providers; measured peaks (fp32, TF32 and bf16
   matrix products, copy bandwidth), which the later parts divide by;
2. tests: every test that can use CUDA, on CUDA (kernels, model, backends, streaming, bench), slow ones out;
3. window: one 3-frame window clustered at 320x480 against 8 key frames (vit_small_8) and at the
   streaming shape (vit_small_16, 160x240, 4 key frames): per-stage ms of the reference (torch on the
   device), of the fp32 Triton kernels and of the certified bf16 kernels (with the share of decisions
   they recomputed exactly and its time), parity (D1 ties, merge labels equal, assignment agreement),
   peak device memory, FLOPs and fraction of the measured peaks;
4. frontend: vit_small_8 at 320x480, ms/frame at batch 1 and frames/s at batch 32, for eager fp32,
   TF32, bf16 autocast, torch.compile with CUDA graphs, AOTInductor bf16 and ONNX Runtime's CUDA
   provider when it is there; each with its q, k error against eager fp32 and its label agreement on a
   DAVIS clip;
5. streaming: a DAVIS clip paced live at 30 and at 60 fps (fps, capture-to-mask p50/p95/p99, drops,
   device memory), then a 3000-frame stream (device memory and time per 100 frames, first against last);
6. offline: a whole DAVIS clip through `attnseg segment` (the CLI), its stage times and its labels
   against the reference kernels.
Each part writes one JSON record (the benchmarks/results format: machine, GPU, versions, commit) into
--out as it goes; the suite prints a summary table last. The load is representative: a random
checkpoint in the paper's format with its ST q/k rows scaled by --qk-gain (hundreds of clusters at
320x480; random weights at gain 1 give a single cluster), and every record states its cluster counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DAVIS  # noqa: E402
from attnseg.bench.latency import summarize, time_calls  # noqa: E402
from attnseg.bench.records import write_record  # noqa: E402

PARTS = ("machine", "tests", "window", "frontend", "streaming", "offline")
BUDGET_S = {"machine": 25, "tests": 100, "window": 90, "frontend": 140, "streaming": 80, "offline": 40}  # 475 s
SWEEP_S = 25  # of the window part: the certified kernel's tile sweep
SMOKE_BUDGET_S = {"machine": 120, "tests": 300, "window": 300, "frontend": 600, "streaming": 300, "offline": 300}
LONG_STREAM_CAP_S = 50  # the 3000-frame stream stops here if the GPU path is slower than ~60 fps
TARGETS = {"frontend_ms_batch1": 1.0, "frontend_fps_batched": 1500, "window_ms": 10.0, "live_fps": 60,
           "live_p99_ms": 50.0}
DEFAULT_DATA = DAVIS
# the GPU run's sizes; --smoke keeps the code and shrinks the sizes
FULL = {"arch": "vit_small_8", "resolution": (320, 480), "key_frames": 8, "stream_arch": "vit_small_8",
        "live_arch": "vit_small_16", "live_resolution": (160, 240), "batch": 32, "repeats": 10, "window_repeats": 5,
        "qk_gain": 6.0,  # 293 level-1 clusters in a 320x480 window of DAVIS blackswan against 8 key frames
        "label_frames": 20, "long_stream": 3000, "paced_frames": 150,
        "tests": ["tests/kernels", "tests/model", "tests/engine", "tests/bench"]}  # where the cuda/gpu tests live
SMOKE = {"arch": "vit_small_16", "resolution": (32, 48), "key_frames": 2, "stream_arch": "vit_small_16",
         "live_arch": "vit_small_16", "live_resolution": (32, 48), "batch": 4, "repeats": 2, "window_repeats": 2,
         "qk_gain": 20.0,  # tiny frames need sharper attention for more than one cluster
         "label_frames": 6, "long_stream": 24, "paced_frames": 12,
         "tests": ["tests/kernels/test_merge.py::test_choose_leaders_is_sequential",
                   "tests/kernels/test_merge.py::test_choose_leaders_rejects_bad_shapes"]}


# -- shared by the parts ---------------------------------------------------------------------------------

def sizes(args) -> dict:
    return SMOKE if args.smoke else FULL


def device_of(args) -> torch.device:
    return torch.device("cpu" if args.smoke else "cuda")


def slug(args) -> str:
    if args.smoke:
        return "cpu-smoke"
    name = torch.cuda.get_device_name(0).lower()
    return next((g for g in ("h200", "h100", "a100", "l40s", "l4") if g in name), "gpu")


def record(args, part: str, settings: dict, figures: dict) -> Path:
    settings = {**settings, "smoke": args.smoke, "qk_gain": args.qk_gain}
    return write_record(f"device_{part}_{slug(args)}", settings, figures, args.out)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def clip_frames(args, count: int, index: int = 0) -> tuple[str, np.ndarray]:
    """`count` frames of the index-th DAVIS clip in --data (looped if short), else the synthetic clip."""
    from attnseg.engine.frames import read_clip
    from attnseg.engine.synthetic import synthetic_clip

    root = Path(args.data) / "JPEGImages" / "480p"
    clips = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not clips:
        return "synthetic", synthetic_clip(count, 480, 854)[0]
    path = clips[index % len(clips)]
    frames = read_clip(path).frames
    return path.name, frames[np.arange(count) % len(frames)]


def paper_checkpoint(args, arch: str) -> Path:
    """A random checkpoint in the paper's format, ST q/k rows scaled by --qk-gain (attnseg.bench.load)."""
    from attnseg.bench.load import paper_checkpoint as write

    return write(args.work, arch, args.qk_gain)


def segmenter(args, arch: str, resolution, kernels: str = "torch"):
    from attnseg.engine import SegmentConfig, Segmenter

    config = SegmentConfig(resolution=tuple(resolution), kernels=kernels)
    return Segmenter.from_checkpoint(str(paper_checkpoint(args, arch)), arch=arch, config=config,
                                     device=str(device_of(args)))


def peaks(args) -> dict | None:
    path = Path(args.out) / f"device_machine_{slug(args)}.json"
    return json.loads(path.read_text())["figures"]["peaks"] if path.is_file() else None


# -- the parts ---------------------------------------------------------------------------------------------

def part_machine(args) -> dict:
    from attnseg.bench.peaks import matmul_rate, measure_peaks

    device = device_of(args)
    figures: dict = {"torch": torch.__version__, "cuda": torch.version.cuda,
                     "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:
        import triton
        figures["triton"] = triton.__version__
    except ImportError:
        figures["triton"] = None
    try:
        import onnxruntime
        figures["onnxruntime"] = {"version": onnxruntime.__version__,
                                  "providers": onnxruntime.get_available_providers()}
    except ImportError:
        figures["onnxruntime"] = None
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(0)
        figures["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "sms": p.multi_processor_count,
                          "memory_gib": round(p.total_memory / 2**30, 1)}
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.max.sm,power.limit",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout
            figures["nvidia_smi"] = smi.strip()
        except (OSError, subprocess.SubprocessError) as err:
            figures["nvidia_smi"] = f"unavailable: {err}"
    figures["peaks"] = measure_peaks(device) if not args.smoke else {
        "fp32_matmul_gflops": round(matmul_rate(torch.float32, device, n=256) / 1e9, 1),
        "bf16_matmul_gflops": round(matmul_rate(torch.bfloat16, device, n=256) / 1e9, 1), "copy_gbps": 1.0}
    if device.type == "cuda":
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            figures["peaks"]["tf32_matmul_gflops"] = round(matmul_rate(torch.float32, device) / 1e9, 1)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    record(args, "machine", {}, figures)
    return {"peaks": figures["peaks"], "gpu": figures.get("gpu"), "triton": figures["triton"]}


def part_tests(args) -> dict:
    """The tests that run on CUDA when it is there (marked cuda or gpu), slow ones out, on this device."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if not args.smoke:
        env.pop("TRITON_INTERPRET", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-m", "(cuda or gpu) and not slow", "-p", "no:cacheprovider",
           "--ignore=tests/kernels/test_compile.py", *sizes(args)["tests"]]
    log = Path(args.work) / "tests.log"
    start = time.perf_counter()
    with open(log, "w") as f:
        try:
            code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=None if args.smoke else BUDGET_S["tests"] - 10).returncode
        except subprocess.TimeoutExpired:
            code = "timed out"
    out = log.read_text()
    summary = next((line for line in reversed(out.splitlines()) if " in " in line and
                    any(w in line for w in ("passed", "failed", "error"))), "")
    counts = {word.rstrip("s"): int(n) for n, word in (part.split()[:2] for part in
                                                       summary.strip("= ").split(" in ")[0].split(", ")
                                                       if part[:1].isdigit())}
    failed = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    figures = {"command": " ".join(cmd[1:]), "returncode": code, "counts": counts, "failed": failed,
               "seconds": round(time.perf_counter() - start, 1), "tail": out[-3000:]}
    record(args, "tests", {"selection": sizes(args)["tests"]}, figures)
    return {"counts": counts, "failed": len(failed), "returncode": code}


def part_window(args) -> dict:
    from attnseg.bench.window import measure_window, parity
    from attnseg.engine.frames import Clip
    from attnseg.engine.timing import StageTimer
    from attnseg.kernels import certified_table, triton_ops
    from attnseg.kernels.dispatch import triton_unavailable
    from attnseg.model.clustering import REFERENCE_OPS

    s, device = sizes(args), device_of(args)
    shapes = [(f"offline {s['arch']} {s['resolution'][0]}x{s['resolution'][1]}, {s['key_frames']} key frames",
               s["arch"], s["resolution"], s["key_frames"]),
              (f"streaming {s['live_arch']} {s['live_resolution'][0]}x{s['live_resolution'][1]}, 4 key frames",
               s["live_arch"], s["live_resolution"], 4)]
    figures, summary = {}, {}
    for name, arch, resolution, key_frames in shapes:
        clip, frames = clip_frames(args, 3 + key_frames)
        seg = segmenter(args, arch, resolution)
        with torch.inference_mode():
            q, k = seg.query_keys(Clip(frames, [str(i) for i in range(len(frames))]), StageTimer(device))
        q, k = q[:3].contiguous(), k[3:].contiguous()
        entry = {"clip": clip, "n": 3 * q.shape[2], "m": key_frames * k.shape[2], "implementations": {}}
        outputs = {}
        impls = {"torch": REFERENCE_OPS}
        reason = triton_unavailable(device)
        if reason is None:
            impls["triton"] = triton_ops()
        else:
            entry["triton_unavailable"] = reason
        impls["certified"] = certified_table(device)  # on CUDA the bf16 kernels; on a CPU PyTorch products
        for impl, ops in impls.items():
            entry["implementations"][impl], outputs[impl] = measure_window(
                ops, q, k, seg.frontend.scale, seg.config.tau, repeats=s["window_repeats"], warmup=1, peaks=peaks(args))
            if ops.tally is not None:  # decisions over the warm-up, timed and costed runs
                entry["implementations"][impl]["certificate"] = ops.tally.as_dict()
        ref = entry["implementations"]["torch"]
        for impl in set(outputs) - {"torch"}:
            fast = entry["implementations"][impl]
            fast["parity"] = parity(outputs[impl], outputs["torch"])
            fast["speedup_p50"] = {st: ref["seconds"][st]["p50"] / fast["seconds"][st]["p50"] for st in ref["seconds"]}
        if device.type == "cuda" and reason is None and not figures:  # the offline shape: time the tiles
            entry["certified_tile_sweep"] = tile_sweep(outputs, device, SWEEP_S)
        best = min(entry["implementations"].values(), key=lambda f: f["seconds"]["total"]["p50"])
        entry["best_window_ms"] = round(1e3 * best["seconds"]["total"]["p50"], 2)
        entry["clusters"] = entry["implementations"]["torch"]["centroids"]
        figures[name] = entry
        record(args, "window", {"shapes": [sh[0] for sh in shapes]}, figures)
        impls_ = entry["implementations"]
        summary[name] = {"ms": entry["best_window_ms"], "clusters": entry["clusters"],
                         "merge_equal": impls_.get("triton", {}).get("parity", {}).get("merge_labels_equal"),
                         "certified_ms": round(1e3 * impls_["certified"]["seconds"]["total"]["p50"], 2),
                         "certified_equal": impls_["certified"]["parity"]["merge_labels_equal"]
                         and impls_["certified"]["parity"]["assignment_agreement"] == 1.0,
                         "recomputed": round(impls_["certified"]["certificate"]["recomputed_fraction"], 5)}
    return summary


def tile_sweep(outputs: dict, device: torch.device, budget_s: float, precision: str = "bf16") -> dict:
    """The certified threshold kernel (D1 of the window) in each pruned tile configuration: ms each, or
    why it failed; stops when `budget_s` is spent. The data for choosing certified_kl.TAU_CONFIGS."""
    from attnseg.kernels import certified as C
    from attnseg.kernels import certified_kl as K

    aff = outputs["certified"]["affinity"]
    p, log_p = aff.prob.contiguous(), aff.log_prob.contiguous()
    kappa = K._kappa(precision, p.shape[1])
    e, f = C.row_terms(p, log_p, kappa, p.sum(dim=1).max())
    r = (e - 0.5).contiguous()
    results, start = {}, time.perf_counter()
    for cfg in K.candidate_configs(precision):
        name = "{BLOCK}x{BLOCK}x{BLOCK_K} w{num_warps} s{num_stages}".format(**cfg)
        if time.perf_counter() - start > budget_s:
            results[name] = "not timed (sweep budget spent)"
            continue
        try:
            def run():
                return K._states(p, log_p, r, f, p, log_p, r, f, kappa, 1.0, True, precision, cfg)
            run()
            results[name] = round(1e3 * summarize(time_calls(run, device, repeats=5, warmup=1))["p50"], 3)
        except Exception as err:  # noqa: BLE001 - a config that fails is the finding
            results[name] = f"{type(err).__name__}: {str(err)[:120]}"
    return {"precision": precision, "engine_config": K.TAU_CONFIGS[precision], "ms": results}


class Unavailable(Exception):
    """A front-end variant that cannot run on this machine (recorded as skipped, with the reason)."""


def _frontend_variants(args, frontend, resolution, device) -> list[tuple[str, object]]:
    """(name, build) for every way the front-end can run here; build() -> runner, or raises Unavailable."""
    from attnseg.engine.backends import ExactFp32, no_tf32
    from attnseg.export import export, identity_of, load

    cuda = device.type == "cuda"

    def needs_cuda(what):
        def build():
            raise Unavailable(f"{what} needs a CUDA device")
        return build

    def tf32(images):
        old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return frontend(images)
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old

    def bf16(images):
        with no_tf32(), torch.autocast(device.type, dtype=torch.bfloat16):
            q, k = frontend(images)
        return q.float(), k.float()

    def compiled():
        run = torch.compile(frontend, mode="reduce-overhead" if cuda else "default", dynamic=False)

        def call(images):
            if cuda:
                torch.compiler.cudagraph_mark_step_begin()
            q, k = run(images)
            return q.clone(), k.clone()  # a CUDA graph's outputs are overwritten by its next replay
        return ExactFp32(call)

    def exported(fmt, precision):
        def build():
            if fmt == "aoti" and not cuda:
                raise Unavailable("on a CPU AOTInductor's C++ build takes minutes (tests/export/test_aoti.py "
                                  "covers it)")
            if fmt == "onnx" and cuda:
                import onnxruntime
                if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                    raise Unavailable("onnxruntime has no CUDA provider here (carry onnxruntime-gpu wheels)")
            out = Path(args.work) / f"frontend_{precision}{'.pt2' if fmt == 'aoti' else '.onnx'}"
            export(frontend, format=fmt, resolution=tuple(resolution), out=out, precision=precision, max_batch=64)
            return load(out, device=device, expect=identity_of(frontend, tuple(resolution), "kinetics"))
        return build

    return [("eager fp32", lambda: ExactFp32(frontend)),
            ("tf32", (lambda: tf32) if cuda else needs_cuda("TF32")),
            ("bf16 autocast", lambda: bf16),
            ("compiled + CUDA graphs" if cuda else "compiled", compiled),
            ("aoti bf16", exported("aoti", "bf16")),
            ("onnxruntime", exported("onnx", "fp32"))]


def part_frontend(args) -> dict:
    from attnseg.bench.costs import StageCosts
    from attnseg.engine.preprocess import preprocess
    from attnseg.model import cluster_video

    s, device = sizes(args), device_of(args)
    seg = segmenter(args, s["arch"], s["resolution"])
    frontend, scale = seg.frontend, seg.frontend.scale
    clip, frames = clip_frames(args, s["label_frames"], index=1)
    clip_images = preprocess(frames, s["resolution"]).to(device)
    gen = torch.Generator().manual_seed(0)
    batches = {b: torch.randn(b, 3, *s["resolution"], generator=gen).to(device) for b in (1, s["batch"])}
    with torch.inference_mode(), StageCosts() as costs:
        frontend(batches[1])
    flops = sum(c["flops"] for c in costs.stages.values())
    found = peaks(args) or {}
    figures: dict = {"clip": clip, "flops_per_frame": flops, "peaks": found, "variants": {}}
    reference: dict = {}
    settings = {"arch": s["arch"], "resolution": list(s["resolution"]), "batches": list(batches),
                "label_frames": s["label_frames"], "repeats": s["repeats"]}
    with torch.inference_mode():
        for name, build in _frontend_variants(args, frontend, s["resolution"], device):
            entry = {}
            peak = found.get("bf16_matmul_gflops" if "bf16" in name else
                             "tf32_matmul_gflops" if name == "tf32" else "fp32_matmul_gflops")
            try:
                start = time.perf_counter()
                run = build()
                entry["build_seconds"] = round(time.perf_counter() - start, 1)
                for b, images in batches.items():  # the first calls compile (torch.compile, CUDA graphs)
                    seconds = summarize([t / b for t in time_calls(lambda: run(images), device, s["repeats"], 3)])
                    entry[f"batch_{b}"] = {
                        "ms_per_frame": {k: round(v * 1e3, 4) for k, v in seconds.items() if k != "n"},
                        "frames_per_s": round(1 / seconds["p50"], 1),
                        "fraction_of_peak": round(flops / seconds["p50"] / 1e9 / peak, 4) if peak else None}
                outputs = [run(clip_images[i:i + 1]) for i in range(len(clip_images))]  # batch 1: no new shape
                q, k = (torch.cat(t).float() for t in zip(*outputs))
                result = cluster_video(q, k, scale, ratio=seg.config.ratio, tau=seg.config.tau)
                if not reference:
                    reference.update(q=q, k=k, labels=result.labels)
                entry["qk_relative_error"] = max(((a - b).abs().max() / b.abs().max()).item()
                                                 for a, b in ((q, reference["q"]), (k, reference["k"])))
                entry["clusters"] = result.num_clusters
                entry["label_agreement"] = float((result.labels == reference["labels"]).float().mean())
            except Unavailable as why:
                entry["skipped"] = str(why)
            except Exception as err:  # noqa: BLE001 - a variant that fails is a finding; the others go on
                entry["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            figures["variants"][name] = entry
            record(args, "frontend", settings, figures)  # after each variant: a time-out keeps the others
    return {name: {"ms_b1": v.get("batch_1", {}).get("ms_per_frame", {}).get("p50"),
                   "fps_batched": v.get(f"batch_{s['batch']}", {}).get("frames_per_s"),
                   "labels": v.get("label_agreement"), "error": v.get("error"), "skipped": v.get("skipped")}
            for name, v in figures["variants"].items()}


class _Looped:
    """`total` frames cycling through `frames`, as fast as the engine takes them (a file: nothing dropped)."""

    live = False

    def __init__(self, frames: np.ndarray, total: int):
        from attnseg.engine.sources import ArraySource

        self.inner, self.total, self.sent = ArraySource(frames, fps=30.0), total, 0

    def read(self):
        if self.sent >= self.total:
            return None
        self.inner.index = self.sent % len(self.inner.frames)
        self.sent += 1
        return self.inner.read()

    def close(self) -> None:
        pass


def part_streaming(args) -> dict:
    from attnseg.engine.sources import ArraySource
    from attnseg.engine.online import StreamConfig
    from attnseg.engine.streaming import StreamEngine

    s, device = sizes(args), device_of(args)
    cuda = device.type == "cuda"
    seg = segmenter(args, s["stream_arch"], s["resolution"], kernels="auto")
    engine = StreamEngine(seg, StreamConfig())
    engine.warm_up()
    clip, frames = clip_frames(args, s["paced_frames"], index=2)
    figures: dict = {"clip": clip, "kernels": seg.kernels, "paced": {}}
    summary = {}
    for fps in (30, 60):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        results = list(engine.stream(ArraySource(frames, fps=fps, live=True), warm_up=False))
        stats = engine.stats.to_dict()
        stats["clusters_max"] = int(max(len(np.unique(r.patch_labels)) for r in results)) if results else 0
        if cuda:
            stats["peak_device_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        figures["paced"][f"{fps} fps"] = stats
        summary[f"{fps} fps"] = {"fps": stats["fps"], "p99_ms": stats["latency_ms"]["p99"],
                                 "dropped": stats["frames_dropped"]}
        record(args, "streaming", {"arch": s["stream_arch"], "resolution": list(s["resolution"])}, figures)
    marks, memory, start = [], [], time.perf_counter()
    step, done = max(1, s["long_stream"] // 30), 0
    for done, _ in enumerate(engine.stream(_Looped(frames, s["long_stream"]), warm_up=False), 1):
        if done % step == 0:
            marks.append(time.perf_counter() - start)
            memory.append(round(torch.cuda.memory_allocated() / 2**20, 1) if cuda else 0.0)
            if marks[-1] > LONG_STREAM_CAP_S:  # a slow GPU path still leaves a record
                break
    per_block = np.diff([0.0, *marks]) / step * 1e3  # ms per frame in each block of `step` frames
    quarter = max(1, len(per_block) // 4)
    figures["long"] = {"frames": done, "asked": s["long_stream"], "frames_per_mark": step,
                       "ms_per_frame": per_block.round(3).tolist(),
                       "device_mib": memory, "first_quarter_ms": float(per_block[:quarter].mean()),
                       "last_quarter_ms": float(per_block[-quarter:].mean()),
                       "device_mib_growth": (memory[-1] - memory[0]) if memory else None,
                       "stats": engine.stats.to_dict()}
    record(args, "streaming", {"arch": s["stream_arch"], "resolution": list(s["resolution"])}, figures)
    summary["long"] = {"first_ms": round(figures["long"]["first_quarter_ms"], 2),
                       "last_ms": round(figures["long"]["last_quarter_ms"], 2),
                       "mib_growth": figures["long"]["device_mib_growth"]}
    return summary


def part_offline(args) -> dict:
    from attnseg.cli import main as cli

    s = sizes(args)
    clip, frames = clip_frames(args, 1)
    root = Path(args.data) / "JPEGImages" / "480p" / clip
    if not root.is_dir():  # no DAVIS data: the synthetic clip as JPEGs
        from attnseg.bench.suite import standard_frames, write_jpeg_clip

        root = write_jpeg_clip(standard_frames(s["label_frames"], (96, 160)), Path(args.work) / "clip")
    ckpt = paper_checkpoint(args, s["arch"])
    runs = {}
    for kernels in ("auto", "auto", "torch"):  # the first run compiles; the second is timed
        work = Path(tempfile.mkdtemp(dir=args.work))
        argv = ["segment", str(root), "--checkpoint", str(ckpt), "--arch", s["arch"], "--resolution",
                *map(str, s["resolution"]), "--device", device_of(args).type, "--kernels", kernels,
                "--out", str(work / "png"), "--save-labels", str(work / "labels.npy"),
                "--stats-json", str(work / "stats.json")]
        start = time.perf_counter()
        code = cli(argv)
        runs.setdefault(kernels, []).append({"code": code, "seconds": time.perf_counter() - start, "dir": work})
    timed, ref = runs["auto"][-1], runs["torch"][-1]
    stats = json.loads((timed["dir"] / "stats.json").read_text())
    agree = float((np.load(timed["dir"] / "labels.npy") == np.load(ref["dir"] / "labels.npy")).mean())
    figures = {"clip": clip, "command": "attnseg segment CLIP --checkpoint CKPT --arch ... --device ...",
               "first_run_seconds": round(runs["auto"][0]["seconds"], 2), "stats": stats,
               "wall_seconds": round(timed["seconds"], 2), "labels_equal_to_reference_kernels": agree}
    record(args, "offline", {"arch": s["arch"], "resolution": list(s["resolution"])}, figures)
    return {"frames": stats["frames"], "clusters": stats["clusters"], "kernels": stats["kernels"],
            "fps": round(stats["frames"] / stats["total"], 1), "labels": agree}


HANDLERS = {"machine": part_machine, "tests": part_tests, "window": part_window, "frontend": part_frontend,
            "streaming": part_streaming, "offline": part_offline}


# -- the driver --------------------------------------------------------------------------------------------

def run_part(args, part: str, budget: float) -> dict:
    """Run one part in a child process under its time box; what it returned, or why it did not."""
    result = Path(args.work) / f"{part}.result.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--out", args.out, "--work", args.work,
           "--data", args.data, "--qk-gain", str(args.qk_gain), *(["--smoke"] if args.smoke else [])]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, timeout=budget, capture_output=True, text=True)
        tail = (proc.stdout + proc.stderr)[-2000:]
        status = "ok" if proc.returncode == 0 and result.is_file() else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired as err:
        tail = ((err.stdout or b"") + (err.stderr or b"")).decode(errors="replace")[-2000:]
        status = f"timed out after {budget:.0f} s"
    seconds = round(time.perf_counter() - start, 1)
    summary = json.loads(result.read_text()) if status == "ok" else {}
    print(f"[{part}] {status} in {seconds} s", flush=True)
    if status != "ok":
        print(tail, flush=True)
    return {"status": status, "seconds": seconds, "summary": summary, "tail": tail if status != "ok" else ""}


def print_summary(outcomes: dict) -> None:
    print("\n| part | status | seconds | figures |\n|---|---|---|---|")
    for part, o in outcomes.items():
        print(f"| {part} | {o['status']} | {o['seconds']} | {json.dumps(o['summary'], default=str)[:600]} |")
    print(f"targets: {json.dumps(TARGETS)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="where the records go ($OUT on the device machine)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="DAVIS-2016 root (JPEGImages/480p/CLIP)")
    p.add_argument("--qk-gain", type=float, help="scale of the random checkpoint's ST q/k rows (default: the "
                   "sizes' own, 6 on the GPU)")
    p.add_argument("--smoke", action="store_true", help="the same code on a CPU at tiny sizes (CI)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.qk_gain = args.qk_gain or sizes(args)["qk_gain"]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.part:  # a child: one part, its summary to WORK/PART.result.json
        summary = HANDLERS[args.part](args)
        (Path(args.work) / f"{args.part}.result.json").write_text(json.dumps(summary, default=str))
        return 0
    if not args.smoke and not torch.cuda.is_available():
        print("device_suite: no CUDA device here; run it on the GPU machine, or --smoke on a CPU", file=sys.stderr)
        return 2
    budgets = SMOKE_BUDGET_S if args.smoke else BUDGET_S
    outcomes = {}
    with tempfile.TemporaryDirectory(prefix="attnseg-suite-") as work:
        args.work = work
        for part in args.parts:
            outcomes[part] = run_part(args, part, budgets[part])
    write_record(f"device_suite_{slug(args)}", {"parts": args.parts, "smoke": args.smoke, "budgets_s": budgets,
                                                "targets": TARGETS, "qk_gain": args.qk_gain}, outcomes, args.out)
    print_summary(outcomes)
    return 0 if all(o["status"] == "ok" for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
