"""Fidelity and speed against the authors' released code on the same frames and checkpoint.

The authors' code is run separately, read-only and outside this project (it is not
ours to ship), saving its (T, h, w) patch labels as .npy and its stage timings as
JSON {"backbone": s, "attention_clustering": s, "K": k}, optionally with "costs": {"backbone": {...},
"attention_clustering": {...}}, each {"flops", "exp", "log"} counted on their run by attnseg.bench.costs.StageCosts
(stages named by attnseg.engine.timing.StageTimer) in a second, untimed run, and their final centroids
(K, m) as THEIRS.final.pt for benchmarks/divergence.py. This script runs attnseg's
offline pipeline on the same frames (one warm-up run, then --repeats timed runs,
median per stage), matches cluster ids, and writes one record to benchmarks/results/.

    python -m benchmarks.vs_authors --frames DIR --num-frames 30 --checkpoint CKPT --dump-images IMAGES.pt
    (their code on IMAGES.pt and CKPT, outside this project -> THEIRS.npy, THEIRS.json)
    python -m benchmarks.vs_authors --frames DIR --num-frames 30 --checkpoint CKPT \
        --authors-labels THEIRS.npy --authors-timings THEIRS.json --name vs_authors_qk3

`--dump-images` writes the preprocessed, normalized frames attnseg feeds its front-end (T, 3, H, W) and
exits, so both sides start from the same tensor. `--backend` and `--kernels` default to what
`attnseg segment` runs (auto: onnxruntime on a CPU when installed; the measured clustering choice);
`--precision` is the exported backends' (e.g. `--backend aoti --precision bf16`).

The record also holds the ceiling, per stage: the matrix FLOPs and the exps and logs counted on this run
(attnseg.bench.costs), the time they take at this machine's measured matmul peak and exp/log rates
(attnseg.bench.peaks, measured in the same run), and the measured time's fraction of it. No implementation
of this arithmetic at this precision can beat the ceiling; a stage far from it has time left to win. When the
authors' harness counted their run too (THEIRS.json "costs"), the record sets the FLOPs a literal
implementation does beside ours. The bf16 figures charge the matrix FLOPs at the bf16 rate.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import torch

from .common import parse, parser, write_record  # noqa: E402
from .compare_labels import matched_agreement  # noqa: E402

from attnseg import SegmentSettings, Segmenter  # noqa: E402
from attnseg.bench.costs import ceiling_seconds, count_costs  # noqa: E402
from attnseg.bench.peaks import measure_peaks  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.preprocess import preprocess  # noqa: E402


def cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


# each part of the comparison: our stages in it, and the authors' timed parts in it
STAGES = {"backbone": ("backbone",), "attention_clustering": ("affinity", "clustering"),
          "pipeline": ("preprocess", "backbone", "affinity", "clustering")}
THEIR_PARTS = {"backbone": ("backbone",), "attention_clustering": ("attention_clustering",),
               "pipeline": ("backbone", "attention_clustering")}


def _sum(costs: dict, stages: tuple[str, ...]) -> dict:
    return {key: sum(costs.get(s, {}).get(key, 0) for s in stages) for key in ("flops", "exp", "log")}


def ceiling(seg: Segmenter, frames, ours: dict, theirs: dict) -> dict:
    """Per stage and part: our counted work, its time at this host's measured peaks, the measured time's
    fraction of that ceiling, and the speed-up over the authors' time the ceiling would give."""
    costs = count_costs(seg, frames)
    peaks = measure_peaks("cpu")
    out = {"peaks": peaks, "stages": {}, "parts": {}}
    for stage in ("preprocess", "backbone", "affinity", "clustering"):
        c = _sum(costs, (stage,))
        at_peak = ceiling_seconds(c, peaks)
        out["stages"][stage] = {"matrix_gflops": round(c["flops"] / 1e9, 2), "gexp": round(c["exp"] / 1e9, 3),
                                "glog": round(c["log"] / 1e9, 3), "seconds": round(ours[stage], 4),
                                "seconds_at_peak": round(at_peak, 4),
                                "fraction_of_ceiling": round(at_peak / ours[stage], 3) if ours[stage] else None}
    theirs_costs = theirs.get("costs", {})
    for part, stages in STAGES.items():
        c = _sum(costs, stages)
        theirs_s = sum(theirs[p] for p in THEIR_PARTS[part])
        measured = sum(ours[s] for s in stages)
        row = {"matrix_gflops": round(c["flops"] / 1e9, 2), "seconds": round(measured, 4)}
        for dtype in ("fp32", "bf16"):
            at_peak = ceiling_seconds(c, peaks, dtype)
            row[f"seconds_at_{dtype}_peak"] = round(at_peak, 4)
            row[f"speedup_at_{dtype}_peak"] = round(theirs_s / at_peak, 2)
        row["fraction_of_ceiling"] = round(row["seconds_at_fp32_peak"] / measured, 3)
        literal = [theirs_costs[p] for p in THEIR_PARTS[part] if p in theirs_costs]
        if literal:
            row["literal_matrix_gflops"] = round(sum(t["flops"] for t in literal) / 1e9, 2)
            row["literal_gexp"] = round(sum(t["exp"] for t in literal) / 1e9, 3)
            row["literal_glog"] = round(sum(t["log"] for t in literal) / 1e9, 3)
        out["parts"][part] = row
        # the keys earlier records and the results page read
        out[f"speedup_{part}_at_fp32_peak"] = row["speedup_at_fp32_peak"]
        out[f"speedup_{part}_at_bf16_peak"] = row["speedup_at_bf16_peak"]
    return out


def main() -> None:
    ap = parser(__doc__, "bench", only=("resolution", "ratio", "tau", "backend", "kernels", "precision"),
                backend="auto", kernels="auto")
    ap.add_argument("--frames", required=True)
    ap.add_argument("--num-frames", type=int, default=30)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--authors-labels")
    ap.add_argument("--authors-timings")
    ap.add_argument("--dump-images", help="write the preprocessed frames here for the authors' side, and stop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="vs_authors")
    ap.add_argument("--note", default="")
    args = parse(ap)

    clip = read_clip(args.frames)
    frames = clip.frames[: args.num_frames]
    cfg = SegmentSettings(resolution=tuple(args.resolution), ratio=args.ratio, tau=args.tau, backend=args.backend,
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
        "ceiling": ceiling(seg, frames, stages, theirs),
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
