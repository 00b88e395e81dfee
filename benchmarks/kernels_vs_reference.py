"""Reference vs Triton kernels, per clustering stage, for one 3-frame window against K key frames.

Stages: affinity (A, log A), distances (D1 <= tau), neighbours (S = [D1 <= tau] A),
merge (leader merge on D2 rows of candidates), assignment (nearest level-1 centroid).
q, k come from real DAVIS frames (or the synthetic clip) through a random front-end with
peaked ST attention (q/k x --qk-gain, default 3), at the given resolution.

    python -m benchmarks.kernels_vs_reference --resolution 320 480 --key-frames 5 10 --device cuda

On a CPU the Triton side runs under the interpreter: its times are not speeds, so a CPU run
times the reference only (--kernels torch) unless asked otherwise; parity is always checked.
"""
import os
import sys

import torch

from .common import DAVIS_FRAMES, parse, parser, write_record  # noqa: E402

from attnseg.bench.window import measure_window, parity  # noqa: E402
from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402
from attnseg.engine.timing import StageTimer  # noqa: E402
from attnseg.kernels import triton_ops  # noqa: E402
from attnseg.model.clustering import REFERENCE_OPS  # noqa: E402

DAVIS = DAVIS_FRAMES / "blackswan"


def window_qk(resolution, key_frames: int, device: str, qk_gain: float):
    frames_needed = 3 + key_frames
    if DAVIS.is_dir():
        clip = read_clip(DAVIS)
        frames, source = clip.frames[:frames_needed], "DAVIS blackswan"
    else:
        frames, _ = synthetic_clip(frames_needed, 480, 854)
        source = "synthetic"
    seg = Segmenter.from_checkpoint(random_weights=True, device=device, qk_gain=qk_gain,
                                    config=SegmentSettings(resolution=tuple(resolution), kernels="torch"))
    q, k = seg.encode(frames, StageTimer(device))
    return q[:3], k[3:3 + key_frames], seg.scale, source


def main() -> int:
    p = parser(__doc__, "cli", only=("resolution", "device", "tau"), device="auto", qk_gain=3.0)
    p.add_argument("--key-frames", nargs="+", type=int, default=[5, 10])
    p.add_argument("--kernels", nargs="+", default=None, help="default: torch triton on CUDA, torch on CPU")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    args = parse(p)
    cuda = args.device == "cuda"
    interpreted = not cuda and os.environ.get("TRITON_INTERPRET", "0") == "1"
    kernels = args.kernels or (["torch", "triton"] if cuda else ["torch"])
    h, w = args.resolution
    for key_frames in args.key_frames:
        with torch.inference_mode():
            q, k, scale, source = window_qk(args.resolution, key_frames, args.device, args.qk_gain)
            n, m = 3 * q.shape[2], key_frames * k.shape[2]
            figures = {"n": n, "m": m, "implementations": {}}
            outputs = {}
            for name in kernels:
                ops = REFERENCE_OPS if name == "torch" else triton_ops()
                figures["implementations"][name], outputs[name] = measure_window(
                    ops, q, k, scale, args.tau, repeats=args.repeats, warmup=args.warmup)
            if "torch" in outputs and len(outputs) > 1:
                ref = figures["implementations"]["torch"]
                for name, out in outputs.items():
                    if name == "torch":
                        continue
                    impl = figures["implementations"][name]
                    impl["parity"] = parity(out, outputs["torch"])
                    if not interpreted:  # the interpreter's times say nothing about the kernels' speed
                        impl["speedup_p50"] = {s: ref["seconds"][s]["p50"] / impl["seconds"][s]["p50"]
                                               for s in ref["seconds"]}
        settings = {"resolution": [h, w], "key_frames": key_frames, "device": args.device, "tau": args.tau,
                    "repeats": args.repeats, "warmup": args.warmup, "clip": source, "kernels": kernels,
                    "qk_gain": args.qk_gain,
                    "triton_interpret": os.environ.get("TRITON_INTERPRET", "0")}
        tag = "_interpreted" if interpreted and "triton" in kernels else ""
        path = write_record(f"kernels_{args.device}_{h}x{w}_k{key_frames}{tag}", settings, figures)
        print(f"{h}x{w}, {key_frames} key frames: n = {n}, m = {m} -> {path}")
        print(f"  {'kernels':<8} " + " ".join(f"{s:>11}" for s in figures["implementations"][kernels[0]]["seconds"])
              + "  peak MiB  centroids")
        for name, f in figures["implementations"].items():
            print(f"  {name:<8} " + " ".join(f"{v['p50']:11.4f}" for v in f["seconds"].values())
                  + f"  {f['peak_mib']:8.1f}  {f['centroids']}")
            if "parity" in f:
                print(f"           parity {f['parity']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
