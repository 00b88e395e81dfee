"""Fidelity and speed against the authors' released code on the same frames and checkpoint.

The authors' code is run separately, read-only and outside this project (it is not
ours to ship), saving its (T, h, w) patch labels as .npy and its stage timings as
JSON {"backbone": s, "attention_clustering": s, "K": k}. This script runs attnseg's
offline pipeline on the same frames (one warm-up run, then --repeats timed runs,
median per stage), matches cluster ids, and writes one record to benchmarks/results/.

    python benchmarks/vs_authors.py --frames DIR --num-frames 30 --checkpoint CKPT --dump-images IMAGES.pt
    (their code on IMAGES.pt and CKPT, outside this project -> THEIRS.npy, THEIRS.json)
    python benchmarks/vs_authors.py --frames DIR --num-frames 30 --checkpoint CKPT \
        --authors-labels THEIRS.npy --authors-timings THEIRS.json --name vs_authors_qk3

`--dump-images` writes the preprocessed, normalized frames attnseg feeds its front-end (T, 3, H, W) and
exits, so both sides start from the same tensor. `--backend` and `--kernels` default to what
`attnseg segment` runs (auto: onnxruntime on a CPU when installed; the measured clustering choice);
`--precision` is the exported backends' (e.g. `--backend aoti --precision bf16`).

The record also holds the ceiling: the matrix FLOPs of each stage, counted on this run
(attnseg.bench.costs), over this machine's measured matmul peaks (attnseg.bench.peaks). The speed-up
"at the fp32 peak" is what the authors' time over ours would be if every matrix FLOP ran at the best fp32
product rate and the elementwise work (softmax, logs, thresholds) cost nothing: no fp32 implementation with
the same arithmetic can beat it. The bf16 figure is the same at the bf16 rate.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_record  # noqa: E402
from compare_labels import matched_agreement  # noqa: E402

from attnseg import SegmentConfig, Segmenter  # noqa: E402
from attnseg.bench.costs import count_costs  # noqa: E402
from attnseg.bench.peaks import measure_peaks  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.preprocess import preprocess  # noqa: E402


def cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


def ceiling(seg: Segmenter, frames, theirs: dict) -> dict:
    """The best speed-ups any implementation of this arithmetic could reach here: matrix FLOPs per stage over
    the measured matmul peaks, elementwise work free (see the module's docstring)."""
    flops = {stage: c["flops"] for stage, c in count_costs(seg, frames).items()}
    peaks = measure_peaks("cpu")
    out = {"matrix_gflops": {k: round(v / 1e9, 2) for k, v in flops.items()}, "peaks": peaks}
    theirs_total = theirs["backbone"] + theirs["attention_clustering"]
    for dtype in ("fp32", "bf16"):
        rate = peaks[f"{dtype}_matmul_gflops"] * 1e9
        ac = (flops.get("affinity", 0) + flops.get("clustering", 0)) / rate
        out[f"seconds_at_{dtype}_peak"] = {"attention_clustering": round(ac, 4),
                                            "backbone": round(flops.get("backbone", 0) / rate, 4)}
        out[f"speedup_attention_clustering_at_{dtype}_peak"] = round(theirs["attention_clustering"] / ac, 2)
        out[f"speedup_pipeline_at_{dtype}_peak"] = round(theirs_total / (ac + flops.get("backbone", 0) / rate), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--num-frames", type=int, default=30)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--resolution", nargs=2, type=int, default=(160, 256))
    ap.add_argument("--ratio", type=int, default=10)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--authors-labels")
    ap.add_argument("--authors-timings")
    ap.add_argument("--dump-images", help="write the preprocessed frames here for the authors' side, and stop")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--kernels", default="auto")
    ap.add_argument("--precision", help="exported backends' precision (default: the format's own)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="vs_authors")
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    clip = read_clip(args.frames)
    frames = clip.frames[: args.num_frames]
    cfg = SegmentConfig(resolution=tuple(args.resolution), ratio=args.ratio, tau=args.tau, backend=args.backend,
                        kernels=args.kernels, precision=args.precision)
    if args.dump_images:
        torch.save(preprocess(frames, cfg.resolution, cfg.normalization), args.dump_images)
        print(f"wrote {args.dump_images}")
        return
    if not (args.authors_labels and args.authors_timings):
        ap.error("--authors-labels and --authors-timings are needed (or --dump-images)")
    seg = Segmenter.from_checkpoint(args.checkpoint, config=cfg)
    seg.segment_video(frames)  # warm-up
    runs = [seg.segment_video(frames) for _ in range(args.repeats)]
    stages = {k: statistics.median(r.timings[k] for r in runs) for k in runs[0].timings}
    ours_ac = stages["affinity"] + stages["clustering"]
    theirs = json.loads(Path(args.authors_timings).read_text())
    theirs_ac = theirs["attention_clustering"]
    agreement = matched_agreement(runs[0].labels, np.load(args.authors_labels))
    figures = {
        "frames": len(frames), "clusters_ours": runs[0].num_clusters, "clusters_theirs": theirs.get("K"),
        "agreement": agreement["agreement"], "tokens": agreement["tokens"],
        "ours_seconds": {k: round(v, 4) for k, v in stages.items()},
        "ours_attention_clustering": round(ours_ac, 4),
        "theirs_seconds": {"backbone": theirs["backbone"], "attention_clustering": theirs_ac},
        "speedup_attention_clustering": round(theirs_ac / ours_ac, 2),
        "speedup_backbone": round(theirs["backbone"] / stages["backbone"], 2),
        "speedup_pipeline": round((theirs["backbone"] + theirs_ac)
                                  / (stages["backbone"] + stages["preprocess"] + ours_ac), 2),
        "ceiling": ceiling(seg, frames, theirs),
    }
    settings = {"frames_dir": args.frames, "resolution": list(args.resolution), "ratio": args.ratio,
                "tau": args.tau, "repeats": args.repeats, "checkpoint": Path(args.checkpoint).name,
                "weights_sha256": seg.weights.sha256, "authors_runs": 1, "note": args.note,
                "backend": seg.backend.value, "precision": args.precision or "fp32", "kernels": seg.kernels, "cpu_capability": cpu_capability(),
                "threads": torch.get_num_threads(), "authors_threads": theirs.get("threads")}
    path = write_record(args.name, settings, figures)
    print(json.dumps(figures, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
