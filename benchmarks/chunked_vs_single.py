"""Chunked segmentation against the paper's single piece on the DAVIS clips: what linking keeps.

For each clip in ../shared/data/davis16 (else the synthetic clip), one random paper-format model (seed 0),
its ST q/k scaled by the smallest gain of a 0.25-step grid from 3 that splits the clip into at least
--min-clusters clusters (random weights go from 1 cluster to thousands within half a unit of gain, and the
step falls at a different gain for each clip, so one gain for all would leave some clips at 1 cluster):
- the single piece (segment_video): the paper's pipeline, the reference;
- a chunk covering the clip: must be identical (checked, recorded);
- chunks of each --chunks length, ids linked across chunks (iter_chunks), and the same chunks with NO
  linking (every chunk's clusters take new ids), to show what linking buys.
Figures per clip and chunk length, against the single piece: token agreement after the one-to-one id
matching over the whole clip that maximizes it, mean IoU of the reference's objects with their match, id
switches per 100 frames (the id covering most of a reference object changes between frames), and ids.
Token agreement within chunks (ids matched chunk by chunk) separates the two effects of chunking: a
chunk's partition differs from the single piece's (its windows attend to its own key frames only), and
linking carries ids across chunks; linked agreement over the clip can at best reach the within-chunk one.

    python -m benchmarks.chunked_vs_single            # about 10 min on 2 cores

Record: chunked_vs_single_{device}_{arch}_{H}x{W}.json.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from .common import DAVIS_FRAMES, parse, parser, write_record  # noqa: E402
from .compare_labels import matched_agreement  # noqa: E402

from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402
from attnseg.eval.ids import id_agreement, id_switches  # noqa: E402


def clips():
    if DAVIS_FRAMES.is_dir():
        for path in sorted(DAVIS_FRAMES.iterdir()):
            yield path.name, read_clip(path).frames
    else:
        yield "synthetic", synthetic_clip(60, 240, 320)[0]


def within_chunks(pred: np.ndarray, ref: np.ndarray, chunk: int) -> float:
    """Token agreement with the ids matched chunk by chunk: how far each chunk's own clustering (`pred`: the
    unlinked labels) agrees with the single piece's on its frames. Linking can at best keep it over the clip."""
    agree = sum(matched_agreement(pred[t:t + chunk], ref[t:t + chunk])["agree"] for t in range(0, len(ref), chunk))
    return round(agree / ref.size, 4)


def scores(pred: np.ndarray, ref: np.ndarray) -> dict:
    agreement = matched_agreement(pred, ref)
    return {"token_agreement": round(agreement["agreement"], 4),
            "mean_iou": round(id_agreement(pred, ref)["mean_iou"], 4),
            "id_switches_per_100_frames": round(id_switches(pred, ref)["per_100_frames"], 2),
            "ids": agreement["ids_a"]}


def remember_backbone(seg: Segmenter) -> None:
    """The DINO backbone runs once per frame (batches of 1, so every variant and gain sees the same features
    bit for bit); the ST block (whose q/k the gain scales), the clustering and the linking run every time."""
    import hashlib

    backbone, seen = seg.frontend.backbone, {}
    run = backbone.forward

    def remembered(images, *args):
        key = hashlib.sha1(images.cpu().numpy().tobytes()).hexdigest()
        if key not in seen:
            seen[key] = run(images, *args)
        return seen[key]

    backbone.forward = remembered


def unlinked(seg: Segmenter, frames: np.ndarray, chunk: int) -> np.ndarray:
    """Each chunk segmented on its own, its clusters numbered after the previous chunk's: no linking."""
    parts, offset = [], 0
    for start in range(0, len(frames), chunk):
        result = seg.segment_video(frames[start:start + chunk])
        parts.append(result.labels + offset)
        offset += result.num_clusters
    return np.concatenate(parts)


def main() -> int:
    p = parser(__doc__, "bench")
    p.add_argument("--min-clusters", type=int, default=40, help="the load: at least this many clusters a clip")
    p.add_argument("--chunks", type=int, nargs="+", default=[10, 20, 30])
    args = parse(p)
    torch.manual_seed(0)
    seg = Segmenter.from_checkpoint(random_weights=True, qk_gain=1.0, arch=args.arch,
                                    config=SegmentSettings(resolution=tuple(args.resolution), batch_size=1))
    remember_backbone(seg)
    weight = seg.frontend.st.qk.weight.detach().clone()
    per_clip = {}
    for name, frames in clips():
        for gain in np.arange(3.0, 8.01, 0.25):
            with torch.no_grad():
                seg.frontend.st.qk.weight.copy_(weight * gain)  # = the random checkpoint built with qk_gain=gain
            ref = seg.segment_video(frames)
            if ref.num_clusters >= args.min_clusters:
                break
        covering = np.concatenate([c.labels for c in seg.iter_chunks(frames, chunk=len(frames))])
        row = {"frames": len(frames), "qk_gain": float(gain), "clusters": ref.num_clusters, "covering_chunk_identical":
               bool(np.array_equal(covering, ref.labels))}
        for chunk in args.chunks:
            linked = np.concatenate([c.labels for c in seg.iter_chunks(frames, chunk=chunk)])
            own = unlinked(seg, frames, chunk)
            row[f"chunk{chunk}"] = {"linked": scores(linked, ref.labels), "unlinked": scores(own, ref.labels),
                                    "token_agreement_within_chunks": within_chunks(own, ref.labels, chunk)}
        per_clip[name] = row
        print(name, row, file=sys.stderr)
    mean = {}
    for chunk in args.chunks:
        for kind in ("linked", "unlinked"):
            rows = [r[f"chunk{chunk}"][kind] for r in per_clip.values()]
            mean[f"chunk{chunk}_{kind}"] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
        mean[f"chunk{chunk}_within_chunks"] = round(float(np.mean(
            [r[f"chunk{chunk}"]["token_agreement_within_chunks"] for r in per_clip.values()])), 4)
    h, w = args.resolution
    settings = {"command": "python -m benchmarks.chunked_vs_single", "arch": args.arch, "resolution": [h, w],
                "weights": f"random (seed 0), q/k gain per clip: the first of 3, 3.25, ... giving >= {args.min_clusters} "
                           "clusters", "chunks": args.chunks,
                "reference": "the single piece (segment_video), the paper's pipeline"}
    figures = {"all_covering_chunks_identical": all(r["covering_chunk_identical"] for r in per_clip.values()),
               "mean": mean, "clips": per_clip}
    print(write_record(f"chunked_vs_single_cpu_{args.arch}_{h}x{w}", settings, figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
