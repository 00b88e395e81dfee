"""The prepared GPU run's front-end and streaming parts (benchmarks/device_suite.py runs each in its own
process; what they share is in device_parts.py)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from .device_parts import (LONG_STREAM_CAP_S, clip_frames, device_of, peaks, record, segmenter, sizes,  # noqa: F401
                          summarize, sync, time_calls)


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
    frontend, scale = seg.frontend, seg.scale
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
        from attnseg.engine.live.sources import ArraySource

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
    from attnseg.engine.live.sources import ArraySource
    from attnseg.settings import StreamSettings
    from attnseg.engine.live.runtime import StreamRuntime

    s, device = sizes(args), device_of(args)
    cuda = device.type == "cuda"
    seg = segmenter(args, s["stream_arch"], s["resolution"], kernels="auto")
    engine = StreamRuntime(seg, StreamSettings())
    engine.warm_up()
    clip, frames = clip_frames(args, s["paced_frames"], index=2)
    figures: dict = {"clip": clip, "kernels": seg.kernels, "paced": {}}
    summary = {}
    for fps in (30, 60):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        results = list(engine.stream(ArraySource(frames, fps=fps, live=True), warm_up=False))
        stats = engine.stats.to_dict()
        stats["clusters_max"] = int(max(len(np.unique(r.labels)) for r in results)) if results else 0
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
