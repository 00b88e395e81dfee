"""Where attnseg's labels part from the authors' code on the same frames and checkpoint, and whether that is a tie.

Each `--case FRAMES_DIR CHECKPOINT THEIRS` names a clip, a checkpoint and the authors' outputs on it, written by
the harness that runs their released code outside this project (see benchmarks/vs_authors.py): THEIRS.npy,
their labels (T, h, w), and optionally THEIRS.final.pt, their final centroids (K, m). Per case, attnseg's
clustering runs on the same frames twice:
- as `attnseg segment` runs it (the fp32 reference arithmetic, or the kernels `--kernels` names);
- with the certified fp32 decisions (attnseg.kernels.certified), which decide every comparison as exact
  arithmetic on the same fp32 rows would and count the ties: the comparisons whose exact value lies within
  the fp32 reference's own worst-case rounding of the threshold (or, for an assignment, of the runner-up).

For every token whose label differs from the authors' (after matching ids), it reports the exact (float64)
distance from the token's attention row to our centroid and to the one the authors chose, and the fp32
rounding bound of each. The two are a tie when their gap is within the sum of the bounds: fp32 arithmetic may
order them either way, and the authors' order of operations decided it one way, ours the other.

    python -m benchmarks.divergence --num-frames 10 --resolution 320 480 \\
        --case DIR1 CKPT1 THEIRS1 --case DIR2 CKPT2 THEIRS2 ... --name fidelity_cpu_320x480
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .common import parse, parser, write_record  # noqa: E402
from .compare_labels import id_matching, matched_agreement  # noqa: E402

from attnseg import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.kernels.certified import Tally, certified_ops, exact_distance, reference_bound  # noqa: E402
from attnseg.model import cluster_video  # noqa: E402
from attnseg.model.affinity import affinity, key_frame_indices  # noqa: E402
from attnseg.model.clustering import safe_log  # noqa: E402


def token_report(aff, row: int, centroids, flat_index, ours_id, theirs_id, tokens) -> dict:
    """Exact distances of one token's fp32 attention row (row `row` of its window's affinity `aff`) to its two
    candidate centroids, with their bounds."""
    t = flat_index // tokens
    cent = centroids.float()
    log_c = safe_log(cent)
    j = torch.arange(cent.shape[0])
    d, scale_terms = exact_distance(aff.prob, aff.log_prob, cent, log_c, torch.full_like(j, row), j)
    bound = reference_bound(scale_terms, aff.prob.shape[1], 0.0)
    order = torch.argsort(d)
    gap = float(d[theirs_id] - d[ours_id]) if theirs_id is not None else None
    return {"frame": int(t), "token": int(flat_index % tokens), "ours": ours_id, "theirs": theirs_id,
            "exact_ours": float(d[ours_id]), "exact_theirs": None if theirs_id is None else float(d[theirs_id]),
            "exact_argmin": int(order[0]), "gap_exact": gap,
            "fp32_bound_sum": None if theirs_id is None else float(bound[ours_id] + bound[theirs_id]),
            "tie": None if theirs_id is None else abs(gap) <= float(bound[ours_id] + bound[theirs_id])}


def case_figures(frames_dir: str, checkpoint: str, theirs_prefix: str, args) -> tuple[dict, dict]:
    frames = read_clip(frames_dir).frames[: args.num_frames]
    cfg = SegmentSettings(resolution=tuple(args.resolution), ratio=args.ratio, tau=args.tau, kernels=args.kernels)
    seg = Segmenter.from_checkpoint(checkpoint, config=cfg)
    with torch.inference_mode():
        q, k = seg.encode(frames)
        ours = seg.cluster(q, k)
        tally = Tally()
        exact = cluster_video(q, k, seg.scale, ratio=args.ratio, tau=args.tau, window=cfg.window,
                              ops=certified_ops("fp32", tally=tally))
    labels = ours.labels.numpy()
    theirs = np.load(theirs_prefix + ".npy").reshape(labels.shape)
    mapping, _ = id_matching(labels, theirs)
    mapped = np.vectorize(lambda x: mapping.get(int(x), -1))(theirs)
    differ = np.flatnonzero(mapped.ravel() != labels.ravel())
    keys = key_frame_indices(labels.shape[0], args.ratio)
    reports, windows, tokens = [], {}, labels.shape[1]
    with torch.inference_mode():
        for flat in differ[: args.max_tokens]:
            t = int(flat) // tokens
            start = t - t % cfg.window
            if start not in windows:  # each window's affinity once, however many of its tokens differ
                windows[start] = affinity(q[start:start + cfg.window], k[keys], seg.scale)
            theirs_id = int(mapped.ravel()[flat])
            reports.append(token_report(windows[start], (t - start) * tokens + int(flat) % tokens, ours.centroids,
                                        int(flat), int(labels.ravel()[flat]),
                                        theirs_id if theirs_id >= 0 else None, tokens))
    figures = {
        "frames": labels.shape[0], "tokens": int(labels.size), "clusters_ours": ours.num_clusters,
        "clusters_theirs": int(len(np.unique(theirs))), "clusters_exact": exact.num_clusters,
        "agreement": matched_agreement(labels, theirs)["agreement"],
        "agreement_exact_vs_theirs": matched_agreement(exact.labels.numpy(), theirs)["agreement"],
        "agreement_exact_vs_ours": matched_agreement(exact.labels.numpy(), labels)["agreement"],
        "tokens_differing": int(differ.size), "certified_fp32": tally.as_dict(),
        "differing_tokens": reports, "ties_among_reported": sum(1 for r in reports if r["tie"]),
    }
    final = Path(theirs_prefix + ".final.pt")
    if final.is_file():
        theirs_final = torch.load(final).float()
        if theirs_final.shape == ours.centroids.shape:
            figures["centroids_max_abs_diff"] = float((theirs_final - ours.centroids.float()).abs().max())
            figures["centroids_bit_equal"] = bool(torch.equal(theirs_final, ours.centroids.float()))
        else:
            figures["centroids_shapes"] = [list(theirs_final.shape), list(ours.centroids.shape)]
    identity = {"weights_sha256": seg.weights.sha256, "kernels": seg.kernels, "backend": seg.backend.value}
    return figures, identity


def main() -> None:
    ap = parser(__doc__, "cli", only=("resolution", "ratio", "tau", "kernels"))
    ap.add_argument("--case", nargs=3, action="append", required=True, metavar=("FRAMES_DIR", "CHECKPOINT", "THEIRS"),
                    help="a clip, a checkpoint and the prefix of the authors' outputs on them (THEIRS.npy, "
                         "optionally THEIRS.final.pt); repeat for more")
    ap.add_argument("--num-frames", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=20, help="differing tokens reported in full, per case")
    ap.add_argument("--name", default="fidelity")
    ap.add_argument("--note", default="")
    args = parse(ap)

    figures, identities = {}, {}
    for frames_dir, checkpoint, theirs in args.case:
        name = f"{Path(frames_dir).name}/{Path(checkpoint).stem}"
        figures[name], identities[name] = case_figures(frames_dir, checkpoint, theirs, args)
        f = figures[name]
        print(f"{name}: {f['clusters_ours']}/{f['clusters_theirs']} clusters, {100 * f['agreement']:.3f}% agree, "
              f"{f['tokens_differing']} differ, {f['ties_among_reported']} of those reported are ties")
        for r in f["differing_tokens"]:
            print("   ", r)
    settings = {"num_frames": args.num_frames, "resolution": list(args.resolution), "ratio": args.ratio,
                "tau": args.tau, "cases": identities, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "note": args.note}
    print(f"wrote {write_record(args.name, settings, figures)}")


if __name__ == "__main__":
    main()
