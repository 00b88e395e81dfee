"""Front-end speed per backend (eager, compiled, ONNX Runtime, OpenVINO, AOTInductor, TensorRT), with parity.

Besides the backends `--backend` offers, two fused CPU paths are measured here only (FUSED_ONLY): TorchScript
frozen and optimized for inference (torch.jit.freeze + optimize_for_inference: oneDNN's fused linear and
GELU, weights prepacked), and inductor with freezing (torch.compile after torch._inductor.config.freezing:
constant weights folded and prepacked for oneDNN). A fused path earns a backend when it beats the fastest one
with equal labels here (`--backend auto` decides among those by measurement).

For each resolution and batch size: ms per frame (p50/p90/p99 of synchronized
calls after warm-up), frames/s, the counted FLOP per frame and the fraction of
this machine's measured matrix peak (the best torch.mm rate, fp32, or bf16 for
bf16 artifacts; a runtime with faster GEMMs than torch's can exceed 1), and
the max |q, k - eager| relative to the outputs' scale on the timed batch.
Exported backends are built fresh into a temporary cache, and the export time
(including the load-back check) is recorded.

Then label parity: real DAVIS clips (../shared/data/davis16) segmented at a
small resolution through each exported backend and through eager; every
token whose label differs is counted (a lower precision, e.g. openvino-bf16 on a
CPU with bf16 instructions, is printed and recorded here before a user may ask
for it; refused where the CPU lacks it).

Records: frontend_{device}_{H}x{W}.json (another --arch than the paper's: _{arch} added) and
frontend_labels_{device}.json.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

from .common import DAVIS_FRAMES, parse, parser, write_record  # noqa: E402

from attnseg.bench.costs import StageCosts  # noqa: E402
from attnseg.bench.latency import summarize, time_calls  # noqa: E402
from attnseg.bench.peaks import measure_peaks  # noqa: E402
from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.backends import load_backend  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.export import FORMATS, openvino_runtime  # noqa: E402
from attnseg.export.exporter import FORMAT_OF_BACKEND  # noqa: E402
from attnseg.errors import SettingError  # noqa: E402
from attnseg.model import build_frontend  # noqa: E402
from attnseg.presets import PRESETS  # noqa: E402

DAVIS = DAVIS_FRAMES
# variant -> (backend, precision)
VARIANTS = {"eager": ("eager", None), "compiled": ("compiled", None), "onnxruntime": ("onnxruntime", "fp32"),
            "aoti": ("aoti", "fp32"), "aoti-bf16": ("aoti", "bf16"), "tensorrt-fp16": ("tensorrt", "fp16"),
            "tensorrt-bf16": ("tensorrt", "bf16"), "openvino": ("openvino", "fp32"),
            "openvino-bf16": ("openvino", "bf16")}


def _pos_embed(frontend, resolution):
    """The positional embedding interpolated once for `resolution`, as the eager backend passes it."""
    from attnseg.model.vit import interpolate_pos_embed

    return interpolate_pos_embed(frontend.backbone.pos_embed, *frontend.backbone.grid(*resolution)).detach().clone()


def _torchscript_onednn(frontend, resolution, device):
    pos = _pos_embed(frontend, resolution)
    example = torch.zeros(1, 3, *resolution, device=device)
    with torch.no_grad():
        module = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(frontend, (example, pos)).eval()))
    return lambda images: module(images, pos)


def _inductor_freezing(frontend, resolution, device):
    """inductor with freezing on for this module's own calls (it compiles at the first call of each shape), not
    for the variants timed after it."""
    import torch._inductor.config as inductor_config

    pos = _pos_embed(frontend, resolution)
    module = torch.compile(frontend, dynamic=False)

    def run(images):
        with inductor_config.patch(freezing=True):
            return module(images, pos)
    return run


FUSED_ONLY = {"torchscript-onednn": _torchscript_onednn, "inductor-freezing": _inductor_freezing}
VARIANTS.update({name: (name, None) for name in FUSED_ONLY})


def usable(variant: str) -> str | None:
    backend = VARIANTS[variant][0]
    if backend == "openvino":
        return openvino_runtime.available()
    return FORMATS[FORMAT_OF_BACKEND[backend]].available() if backend in FORMAT_OF_BACKEND else None


def flops_per_frame(frontend, resolution, device) -> int:
    with torch.inference_mode(), StageCosts() as costs:
        frontend(torch.zeros(1, 3, *resolution, device=device))
    return sum(c["flops"] for c in costs.stages.values())


def build(variant, frontend, resolution, device, threads):
    backend, precision = VARIANTS[variant]
    start = time.perf_counter()
    if variant in FUSED_ONLY:
        return FUSED_ONLY[variant](frontend, tuple(resolution), device), time.perf_counter() - start
    config = SegmentSettings(resolution=tuple(resolution), backend=backend, precision=precision, threads=threads)
    run = load_backend(config, frontend, device)
    return run, time.perf_counter() - start


def speed(args, device, peaks) -> None:
    frontend, _ = build_frontend(args.arch, random_weights=True, device=device)
    for h, w in args.resolution:
        flops = flops_per_frame(frontend, (h, w), device)
        figures = {"flops_per_frame": flops, "peaks": peaks, "variants": {}}
        for variant in args.variants:
            reason = usable(variant)
            if reason:
                figures["variants"][variant] = {"unavailable": reason}
                print(f"{h}x{w} {variant}: unavailable ({reason})")
                continue
            with torch.inference_mode():
                try:
                    run, build_s = build(variant, frontend, (h, w), device, args.threads)
                except SettingError as err:  # a precision this CPU cannot run natively: refused, said
                    figures["variants"][variant] = {"refused": str(err)}
                    print(f"{h}x{w} {variant}: refused ({err})")
                    continue
                entry = {"build_seconds": round(build_s, 2), "batches": {}}
                for batch in args.batch:
                    g = torch.Generator().manual_seed(batch)
                    images = torch.randn(batch, 3, h, w, generator=g).to(device)
                    seconds = time_calls(lambda: run(images), device, args.repeats, args.warmup)
                    q, k = run(images)
                    want = frontend(images)
                    rel = max(((g_ - w_).abs().max() / w_.abs().max()).item() for g_, w_ in zip((q, k), want))
                    bit_equal = all(torch.equal(g_, w_) for g_, w_ in zip((q, k), want))
                    per_frame = [s / batch for s in seconds]
                    p50 = summarize(per_frame)["p50"]
                    precision = VARIANTS[variant][1] or "fp32"
                    peak = peaks["bf16_matmul_gflops" if precision in ("bf16", "fp16") else "fp32_matmul_gflops"]
                    entry["batches"][str(batch)] = {
                        "seconds_per_frame": summarize(per_frame), "fps": 1 / p50,
                        "fraction_of_measured_peak": flops / p50 / 1e9 / peak, "max_rel_error_vs_eager": rel,
                        "bit_equal_to_eager": bit_equal}
                    print(f"{h}x{w} {variant:<14} batch {batch:>2}: {p50 * 1e3:9.1f} ms/frame {1 / p50:7.2f} fps "
                          f"{flops / p50 / 1e9 / peak:6.1%} of peak, rel err {rel:.1e}")
            figures["variants"][variant] = entry
        settings = {"arch": args.arch, "resolution": [h, w], "device": device.type, "batches": args.batch,
                    "repeats": args.repeats, "warmup": args.warmup, "threads": args.threads or torch.get_num_threads(),
                    "weights": "random"}
        named = "" if args.arch == PRESETS["bench"].model.arch else f"_{args.arch}"  # the paper's ViT: unnamed
        print("->", write_record(f"frontend_{device.type}_{h}x{w}{named}", settings, figures))


def labels(args, device) -> None:
    clips = [p for p in sorted(DAVIS.iterdir())] if DAVIS.is_dir() else []
    if not clips:
        print(f"label parity skipped: no DAVIS clips at {DAVIS}")
        return
    exported = [v for v in args.variants if VARIANTS[v][0] in FORMAT_OF_BACKEND and not usable(v)]
    figures = {}
    for clip_dir in clips:
        frames = read_clip(clip_dir).frames[:args.label_frames]
        results = {}
        for variant in ["eager", *exported]:
            backend, precision = VARIANTS[variant]
            config = SegmentSettings(resolution=tuple(args.label_resolution), backend=backend, precision=precision,
                                   threads=args.threads)
            try:
                seg = Segmenter.from_checkpoint(random_weights=True, arch=args.arch, config=config,
                                                device=str(device), qk_gain=args.qk_gain)
            except SettingError as err:  # e.g. bf16 on a CPU without it
                print(f"labels {clip_dir.name} {variant}: refused ({err})")
                continue
            results[variant] = seg.segment_video(frames)
        ref = results["eager"]
        figures[clip_dir.name] = {"frames": len(frames), "clusters_eager": ref.num_clusters, "variants": {
            v: {"clusters": r.num_clusters, "tokens_differing": int((r.labels != ref.labels).sum()),
                "tokens": int(ref.labels.size)} for v, r in results.items() if v != "eager"}}
        print(f"labels {clip_dir.name}: " + ", ".join(
            f"{v} {f['tokens_differing']}/{f['tokens']} differ ({f['clusters']} vs {ref.num_clusters} clusters)"
            for v, f in figures[clip_dir.name]["variants"].items()))
    settings = {"arch": args.arch, "resolution": args.label_resolution, "device": device.type,
                "frames": args.label_frames, "qk_gain": args.qk_gain, "variants": exported, "weights": "random"}
    print("->", write_record(f"frontend_labels_{device.type}", settings, figures))


def main() -> int:
    p = parser(__doc__, "bench", only=("arch", "device"), device="auto", qk_gain=8.0)  # q/k x8: clusters to compare
    p.add_argument("--resolution", nargs=2, type=int, action="append", metavar=("H", "W"),
                   help="a size to time, again for more (default: 320 480 on CUDA, 192 384 and 320 480 on a CPU)")
    p.add_argument("--batch", nargs="+", type=int, default=None, help="default: 1 8 16 on CUDA, 1 8 on CPU")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None)
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--label-resolution", nargs=2, type=int, default=[96, 160])
    p.add_argument("--label-frames", type=int, default=20)
    p.add_argument("--no-labels", action="store_true")
    args = parse(p)
    device = torch.device(args.device)
    args.resolution = args.resolution or ([[320, 480]] if device.type == "cuda" else [[192, 384], [320, 480]])
    args.batch = args.batch or ([1, 8, 16] if device.type == "cuda" else [1, 8])
    args.variants = args.variants or (["eager", "compiled", "aoti", "aoti-bf16", "onnxruntime", "tensorrt-fp16"]
                                      if device.type == "cuda" else ["eager", "onnxruntime", "openvino", "openvino-bf16", "aoti", "aoti-bf16",
                            "torchscript-onednn"])
    with tempfile.TemporaryDirectory(prefix="attnseg-engines-") as cache:
        os.environ["ATTNSEG_CACHE"] = cache  # every artifact built (and timed) fresh
        peaks = measure_peaks(device)
        speed(args, device, peaks)
        if not args.no_labels:
            labels(args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
