"""`attnseg bench`: the latency suite of this machine, one JSON record per configuration."""
from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from ..bench.load import BENCH_LOAD, QK_GAIN
from ..bench.suite import BenchConfig
from ..model import VIT_PRESETS
from ..settings import Backend, Kernels

RESULTS = "runs/bench"  # where the records go unless --results names a folder (never a checkout's committed records)


def add(sub) -> None:
    p = sub.add_parser("bench", help="the latency suite for this machine (JSON records)")
    d = BenchConfig()

    def axis(default) -> str:
        return ("repeatable; the suite runs every combination of the axes given (default: this device's standard "
                f"suite; where only other axes are given: {default})")
    p.add_argument("--resolution", nargs=2, type=int, action="append", metavar=("H", "W"),
                   help=axis(" ".join(map(str, d.resolution))))
    p.add_argument("--arch", action="append", choices=sorted(VIT_PRESETS), help=axis(d.arch))
    p.add_argument("--backend", action="append", choices=Backend.values(), help=axis(d.backend))
    p.add_argument("--kernels", action="append", choices=Kernels.values(), help=axis(d.kernels))
    p.add_argument("--batch-size", type=int, action="append", help=axis(d.batch_size))
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when there is a GPU, else cpu")
    p.add_argument("--compare", action="store_true",
                   help="also time the plain reference pipeline in the same process and record the ratio")
    p.add_argument("--no-cost-model", action="store_true", help="skip the peaks and the FLOP/byte model")
    p.add_argument("--frames", type=int, default=30, help="frames of the clip (default: 30)")
    p.add_argument("--clip", help="a video or frame folder (default: DAVIS blackswan from $ATTNSEG_DAVIS or "
                   "../shared/data/davis16, else a synthetic DAVIS-sized clip)")
    p.add_argument("--checkpoint", help="default: a random checkpoint in the paper's format, its ST q/k rows "
                   f"scaled by --qk-gain (hundreds of clusters on {BENCH_LOAD})")
    p.add_argument("--qk-gain", type=float, default=QK_GAIN, help="the scale of the random checkpoint's ST q/k rows "
                                                                  f"(default: {QK_GAIN}: hundreds of clusters on "
                                                                  f"{BENCH_LOAD})")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (default: 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    p.add_argument("--results", default=RESULTS, help=f"folder of the JSON records (default: {RESULTS}; a "
                                                      "checkout's committed records are benchmarks/results)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..bench.load import paper_checkpoint
    from ..bench.peaks import measure_peaks
    from ..bench.suite import compare, default_configs, run_config
    from ..engine.segmenter import resolve_device

    device = resolve_device(args.device or "auto").value  # cuda without a CUDA device: one line, before any work
    print(f"records -> {args.results}/", flush=True)
    axes = (args.arch, args.resolution, args.backend, args.kernels, args.batch_size)
    if any(axes):
        d = BenchConfig()
        axes = itertools.product(args.arch or [d.arch], args.resolution or [d.resolution], args.backend or [d.backend],
                                 args.kernels or [d.kernels], args.batch_size or [d.batch_size])
        configs = [BenchConfig(arch=a, resolution=tuple(r), device=device, backend=b, kernels=k, batch_size=n)
                   for a, r, b, k, n in axes]
    else:
        configs = default_configs(device)
    peaks = None if args.no_cost_model else measure_peaks(device)
    if peaks:
        print("peaks: " + ", ".join(f"{k} {v}" for k, v in peaks.items()))
    with tempfile.TemporaryDirectory(prefix="attnseg-clip-") as workdir:
        source, clip_name = bench_clip(args, workdir)
        print(f"{'config':<44} {'p50 s':>7} {'p90 s':>7} {'fps':>6} {'clusters':>8} {'parity':>7}")
        for cfg in configs:
            checkpoint = args.checkpoint or str(paper_checkpoint(workdir, cfg.arch, args.qk_gain))
            load = None if args.checkpoint else f"random, paper format (ST q/k x{args.qk_gain:g})"
            kwargs = dict(checkpoint=checkpoint, repeats=args.repeats, warmup=args.warmup, results=args.results,
                          clip_name=clip_name, load=load, progress=_progress(cfg.name))
            figures, path = run_config(cfg, source, peaks=peaks, **kwargs)
            e2e = figures["end_to_end_seconds"]
            print(f"{cfg.name:<44} {e2e['p50']:7.2f} {e2e['p90']:7.2f} {figures['fps']:6.2f} "
                  f"{figures['clusters']:8d} {figures['parity_vs_reference']:7.4f}  -> {path}", flush=True)
            if args.compare:
                figures, path = compare(cfg, source, **kwargs)
                print(f"{'  vs reference (eager, torch)':<44} end to end x{figures['speedup_p50']['end_to_end']:.2f}"
                      f", labels agree {figures['label_agreement']:.4f}, "
                      f"{figures['engine']['clusters']} clusters  -> {path}", flush=True)
    return 0


def bench_clip(args, workdir: str) -> tuple[str, str]:
    """(source, its name in the records): --clip, else DAVIS blackswan, else the synthetic clip (said)."""
    import sys

    from ..bench.load import davis_clip
    from ..bench.suite import standard_clip

    if args.clip:
        return args.clip, Path(args.clip).name
    davis = davis_clip()
    if davis is not None:
        frames = sorted(davis.glob("*.jpg"))[:args.frames]
        folder = Path(workdir) / davis.name
        folder.mkdir()
        for frame in frames:
            (folder / frame.name).symlink_to(frame)
        return str(folder), f"{davis.name} ({len(frames)} frames)"
    print("no DAVIS clip found ($ATTNSEG_DAVIS): timing the synthetic clip, whose clusters differ from a real "
          "clip's", file=sys.stderr)
    return str(standard_clip(workdir, args.frames)), f"synthetic {args.frames} JPEGs 480x854"


def _progress(name: str):
    import sys
    import time

    start = time.perf_counter()

    def say(line: str) -> None:
        print(f"  {name}: {line} ({time.perf_counter() - start:.0f} s in)", file=sys.stderr, flush=True)
    return say
