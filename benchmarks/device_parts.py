"""The prepared GPU run's parts (benchmarks/device_suite.py runs each in its own process): what they share,
and the machine, tests, window and offline parts; the front-end and streaming parts are in device_live.py."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from attnseg.bench.latency import summarize, time_calls  # noqa: F401
from attnseg.bench.records import write_record

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = {"machine": 25, "tests": 100, "window": 90, "frontend": 140, "streaming": 80, "offline": 40}  # 475 s

SWEEP_S = 25  # of the window part: the certified kernel's tile sweep
LONG_STREAM_CAP_S = 50  # the 3000-frame stream stops here if the GPU path is slower than ~60 fps
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
    from attnseg.engine import SegmentSettings, Segmenter

    config = SegmentSettings(resolution=tuple(resolution), kernels=kernels)
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
            q, k = seg.encode(frames, StageTimer(device))
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
                ops, q, k, seg.scale, seg.config.tau, repeats=s["window_repeats"], warmup=1, peaks=peaks(args))
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
    kappa = K.kappa_bound(precision, p.shape[1])
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
                return K.threshold_states(p, log_p, r, f, p, log_p, r, f, kappa, 1.0, True, precision, cfg)
            run()
            results[name] = round(1e3 * summarize(time_calls(run, device, repeats=5, warmup=1))["p50"], 3)
        except Exception as err:  # noqa: BLE001 - a config that fails is the finding
            results[name] = f"{type(err).__name__}: {str(err)[:120]}"
    return {"precision": precision, "engine_config": K.TAU_CONFIGS[precision], "ms": results}


def part_offline(args) -> dict:
    """`attnseg segment`'s path (the session, as the CLI runs it) with the fastest kernels, against the reference."""
    from attnseg.engine.outputs.fanout import Outputs
    from attnseg.engine.session import Session
    from attnseg.presets import PRESETS
    from attnseg.settings import ModelSettings, SessionSettings

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
        settings = SessionSettings(
            model=ModelSettings(checkpoint=str(ckpt), arch=s["arch"], device=device_of(args).type),
            segment=dataclasses.replace(PRESETS["cli"].segment, resolution=tuple(s["resolution"]), kernels=kernels))
        start = time.perf_counter()
        Session(settings).segment(str(root), Outputs(out=work / "png", labels=work / "labels.npy"),
                                  stats_json=str(work / "stats.json"))
        runs.setdefault(kernels, []).append({"code": 0, "seconds": time.perf_counter() - start, "dir": work})
    timed, ref = runs["auto"][-1], runs["torch"][-1]
    stats = json.loads((timed["dir"] / "stats.json").read_text())
    agree = float((np.load(timed["dir"] / "labels.npy") == np.load(ref["dir"] / "labels.npy")).mean())
    figures = {"clip": clip, "command": "attnseg segment CLIP --checkpoint CKPT --arch ... --device ...",
               "first_run_seconds": round(runs["auto"][0]["seconds"], 2), "stats": stats,
               "wall_seconds": round(timed["seconds"], 2), "labels_equal_to_reference_kernels": agree}
    record(args, "offline", {"arch": s["arch"], "resolution": list(s["resolution"])}, figures)
    return {"frames": stats["frames"], "clusters": stats["clusters"], "kernels": stats["kernels"],
            "fps": round(stats["frames"] / stats["total"], 1), "labels": agree}
