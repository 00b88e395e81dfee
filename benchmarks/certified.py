"""The certified clustering against the reference on this machine: speed, labels, what was recomputed.

For each ST q/k gain (how peaked the attention is, hence how many clusters), the same q, k of a DAVIS
clip are clustered by the reference (`--kernels torch`) and by the certified path in each CPU product
precision; every run's labels are compared with the reference's token for token, and the record holds
the share of decisions recomputed exactly, the share of the clustering's time that took, the fp32 ties
(decisions within the fp32 reference's own rounding bound of tau), the host's instruction set and the
product `--kernels certified` would pick here (measured, attnseg.kernels.dispatch.fast_product).

    python -m benchmarks.certified --frames ../shared/data/davis16/JPEGImages/480p/blackswan
"""
from __future__ import annotations

import json
import statistics
import time

import torch

from .common import parse, parser, write_record  # noqa: E402

from attnseg import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.timing import StageTimer  # noqa: E402
from attnseg.kernels.certified import certified_ops  # noqa: E402
from attnseg.kernels.dispatch import fast_product  # noqa: E402
from attnseg.model.clustering import REFERENCE_OPS, cluster_video  # noqa: E402


def timed(q, k, scale, ops, repeats: int):
    cluster_video(q[:3], k[:3], scale, ratio=10, ops=ops)  # warm-up: one window
    if ops.tally is not None:
        ops.tally.reset()
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = cluster_video(q, k, scale, ratio=10, ops=ops)
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def main() -> None:
    ap = parser(__doc__, "bench")
    ap.add_argument("--frames", required=True)
    ap.add_argument("--num-frames", type=int, default=30)
    ap.add_argument("--gains", nargs="+", type=float, default=[3.0, 4.0, 6.0, 10.0])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default=None)
    args = parse(ap)

    clip = read_clip(args.frames)
    clip.frames, clip.names = clip.frames[:args.num_frames], clip.names[:args.num_frames]
    seg = Segmenter.from_checkpoint(None, random_weights=True, qk_gain=1.0, arch=args.arch,
                                    config=SegmentSettings(resolution=tuple(args.resolution)))
    weight = seg.frontend.st.qk.weight.detach().clone()
    rows = []
    for gain in args.gains:
        with torch.no_grad():
            seg.frontend.st.qk.weight.copy_(weight * gain)  # = the random checkpoint built with qk_gain=gain
        q, k = seg.encode(clip.frames, StageTimer(seg.device))
        ref, ref_s = timed(q, k, seg.scale, REFERENCE_OPS, args.repeats)
        row = {"qk_gain": gain, "clusters": ref.num_clusters, "level1_clusters": ref.level1_clusters,
               "reference_seconds": round(ref_s, 4), "certified": {}}
        for name in args.precisions:
            ops = certified_ops(name)
            got, secs = timed(q, k, seg.scale, ops, args.repeats)
            tally = ops.tally.as_dict()
            runs = args.repeats
            row["certified"][name] = {
                "seconds": round(secs, 4), "speedup_vs_reference": round(ref_s / secs, 3),
                "labels_equal": bool(torch.equal(got.labels, ref.labels)),
                "token_agreement": float((got.labels == ref.labels).float().mean()),
                "recomputed_fraction": round(tally["recomputed_fraction"], 6),
                "recompute_time_share": round(tally["recompute_time_share"], 4),
                "decisions_per_run": tally["entries"] // runs, "recomputed_per_run": tally["recomputed"] // runs,
                "fp32_ties_per_run": tally["ties"] // runs}
        rows.append(row)
        print(json.dumps(row), flush=True)
    capability = torch.backends.cpu.get_cpu_capability()
    settings = {"frames_dir": args.frames, "frames": len(clip), "arch": args.arch,
                "resolution": list(args.resolution), "ratio": 10, "tau": 1.0, "repeats": args.repeats,
                "weights": "random, ST q/k rows scaled by each gain", "cpu_capability": capability,
                "certified_product_here": fast_product("cpu")}
    h, w = args.resolution
    path = write_record(args.name or f"certified_cpu_{args.arch}_{h}x{w}", settings, {"gains": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
