"""How much of the clustering's work a pooled lower bound decides without the full product (issue 29).

The symmetric KL of two distributions cannot grow when columns are pooled (summed in groups: the
data-processing inequality), so D(pool p, pool q) > tau proves D(p, q) > tau. Columns are (key frame, y, x);
a pool sums `group` consecutive columns (attnseg.kernels.pooled: a row of patches in raster order), m / group
columns instead of m. For each clip and q/k gain (random paper-format weights sharpened to tens, hundreds and
thousands of clusters), on the first --windows windows:
- D1 = D(A, A) <= tau (the neighbour averaging): the share of entries the bound decides far, the share of
  row-block x column-block tiles it decides whole, and the columns a row block still needs;
- D2 = D(S, S) <= tau (the leader merge's rows): the same on the neighbour-averaged rows;
- the nearest centroid: per row, the centroids the bound cannot rule out against the best one's exact
  distance (median and mean, of K);
- the assignment itself, timed: the reference's against attnseg.kernels.pooled (its labels compared);
- how concentrated the affinity rows are (the entries above 1e-8, 1e-6, and those holding all but 1e-6 of the
  mass): what a sparse product would have to touch.
A pair counts as decided only when the bound (attnseg.kernels.pooled.lower_bounds: rigorous on the exact D)
clears tau by the most the fp32 reference's D could lie off the exact one, so a decided pair is never a tie.
Every decision is checked against the reference's D (a violation fails the run).

    python -m benchmarks.pooled_bounds [--clips blackswan dog] [--gains 5.8 6 6.5] [--pools 4 16]
Record: pooled_bounds_cpu_320x480.json.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from .common import parse, parser, write_record  # noqa: E402

from attnseg import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.kernels import pooled  # noqa: E402
from attnseg.kernels.certified import U32, Tally, gamma  # noqa: E402
from attnseg.model.affinity import affinity, query_windows  # noqa: E402
from attnseg.model.clustering import assign_rows, kl_distance, neg_entropy, neighbour_average, safe_log  # noqa: E402

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16" / "JPEGImages" / "480p"


def error_scale(p: torch.Tensor, log_p: torch.Tensor, q: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """(len(p), len(q)): a_ij + a_ji + |e_i| + |e_j| (a_ij = sum_k p_ik |l_jk| <= sigma_i max_k |l_jk|), the
    scale of both products' rounding in the fp32 D (certified.reference_bound)."""
    def parts(x, log_x):
        return x.sum(dim=1), log_x.abs().amax(dim=1), neg_entropy(x, log_x).abs()
    sp, lp, ep = parts(p, log_p)
    sq, lq, eq = parts(q, log_q)
    return sp[:, None] * lq[None, :] + lp[:, None] * sq[None, :] + ep[:, None] + eq[None, :]


def lower_bound(p: torch.Tensor, log_p: torch.Tensor, q: torch.Tensor, log_q: torch.Tensor, group: int,
                tau: float) -> torch.Tensor:
    """(len(p), len(q)): the pooled bound of attnseg.kernels.pooled on the exact D, less the most the fp32
    reference's D may lie below the exact one (so that a pair it decides is never a tie)."""
    low = pooled.lower_bounds(pooled.pool(p, log_p, group), pooled.pool(q, log_q, group))
    g = gamma(p.shape[1])
    return low - (g / (1 - g) + 4 * U32) * (error_scale(p, log_p, q, log_q) + tau) * (1 + 2.0 ** -20)


def row_sparsity(p: torch.Tensor) -> dict:
    """How concentrated the affinity rows are: the share of a row's entries above 1e-8 and 1e-6, and the share
    of its largest entries that hold all but 1e-6 of its mass (what a sparse product would have to touch)."""
    sorted_p = p.sort(dim=1, descending=True).values
    mass = sorted_p.cumsum(dim=1)
    needed = (mass < (1 - 1e-6) * p.sum(dim=1, keepdim=True)).sum(dim=1) + 1
    return {"above_1e-8": (p > 1e-8).float().mean().item(), "above_1e-6": (p > 1e-6).float().mean().item(),
            "holding_1-1e-6_of_mass": needed.float().mean().item() / p.shape[1]}


def time_assignments(p: torch.Tensor, lp: torch.Tensor, cent: torch.Tensor, repeats: int = 3) -> dict:
    """The nearest-centroid assignment of one window: the reference's and the pooled one (attnseg.kernels.pooled),
    alternating, best of `repeats` each, and whether their labels agree."""
    best = {"reference": float("inf"), "pooled": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        want = assign_rows(p, lp, cent)
        best["reference"] = min(best["reference"], time.perf_counter() - start)
        tally = Tally()
        start = time.perf_counter()
        got = pooled.assign(p, lp, cent, tally=tally)
        best["pooled"] = min(best["pooled"], time.perf_counter() - start)
    return {**best, "equal": bool(torch.equal(got, want)), "recomputed": tally.recomputed, "ties": tally.ties}


def tile_figures(far: torch.Tensor, block: int) -> dict:
    n, m = far.shape
    rb, cb = -(-n // block), -(-m // block)
    padded = torch.ones(rb * block, cb * block, dtype=torch.bool)
    padded[:n, :m] = far
    tiles = padded.view(rb, block, cb, block).all(dim=(1, 3))
    needed_cols = (~far).view(-1, block, m).any(dim=1).sum(dim=1) if n % block == 0 else None
    return {"entries_decided": round(far.float().mean().item(), 4),
            "tiles_decided": round(tiles.float().mean().item(), 4),
            "row_block_columns_needed": None if needed_cols is None
            else round(needed_cols.float().mean().item() / m, 4)}


def measure(seg: Segmenter, frames, pools: list[int], windows: int, block: int) -> dict:
    cfg = seg.config
    q, k = seg.encode(frames)
    start = time.perf_counter()
    result = seg.cluster(q, k)
    cluster_s = time.perf_counter() - start
    keys = k[result.key_frames] if k.shape[0] == q.shape[0] else k
    tk = keys.shape[0]
    cent = result.centroids
    log_c = safe_log(cent)
    out = {"clusters": result.num_clusters, "level1_clusters": result.level1_clusters, "key_frames": tk,
           "cluster_seconds": round(cluster_s, 1), "pools": {}}
    per_pool = {b: {"d1": [], "d2": [], "assign": []} for b in pools}
    sparsity, timed = [], []
    for w in query_windows(q.shape[0], cfg.window)[:windows]:
        aff = affinity(q[w.start:w.stop], keys, seg.scale)
        p, lp = aff.prob, aff.log_prob
        d1 = kl_distance(p, lp, p, lp)
        near = d1 <= cfg.tau
        s = neighbour_average(p, near.clone())
        ls = safe_log(s)
        d2 = kl_distance(s, ls, s, ls)
        dist = kl_distance(cent, log_c, p, lp)  # (K, n), as the reference's assignment
        best = dist.min(dim=0).values
        sparsity.append(row_sparsity(p))
        timed.append(time_assignments(p, lp, cent))
        for b in pools:
            t0 = time.perf_counter()
            far1 = lower_bound(p, lp, p, lp, b, cfg.tau) > cfg.tau
            bound_s = time.perf_counter() - t0
            if (far1 & near).any():
                raise AssertionError(f"pool {b}: the bound decided far a D1 pair within tau")
            far2 = lower_bound(s, ls, s, ls, b, cfg.tau) > cfg.tau
            if (far2 & (d2 <= cfg.tau)).any():
                raise AssertionError(f"pool {b}: the bound decided far a D2 pair within tau")
            # a centroid is ruled out for a row when its bound exceeds the nearest centroid's distance
            lower = lower_bound(cent, log_c, p, lp, b, 0.0)
            if (lower > dist).any():
                raise AssertionError(f"pool {b}: a pooled bound above the reference's distance")
            cand = (lower <= best[None, :]).sum(dim=0).float()
            pp = pooled.pool(p, lp, b)
            bare = kl_distance(pp.value, pp.log, pp.value, pp.log) > cfg.tau  # the bound without its margins
            per_pool[b]["d1"].append({**tile_figures(far1, block), "bound_seconds": round(bound_s, 3),
                                      "near_fraction": round(near.float().mean().item(), 4),
                                      "entries_decided_without_margins": round(bare.float().mean().item(), 4)})
            per_pool[b]["d2"].append(tile_figures(far2, block))
            per_pool[b]["assign"].append({"median_candidates": cand.median().item(),
                                          "mean_candidates": round(cand.mean().item(), 2),
                                          "candidates_fraction": round(cand.mean().item() / cent.shape[0], 5)})
    out["assignment"] = {"reference_seconds": round(sum(t["reference"] for t in timed), 3),
                         "pooled_seconds": round(sum(t["pooled"] for t in timed), 3),
                         "speedup": round(sum(t["reference"] for t in timed) / sum(t["pooled"] for t in timed), 2),
                         "labels_equal": all(t["equal"] for t in timed),
                         "recomputed": sum(t["recomputed"] for t in timed), "ties": sum(t["ties"] for t in timed)}
    out["rows"] = {key: round(statistics.mean(r[key] for r in sparsity), 5) for key in sparsity[0]}
    for b, parts in per_pool.items():
        out["pools"][str(b)] = {name: {key: round(statistics.mean(r[key] for r in rows), 5)
                                       for key in rows[0] if rows[0][key] is not None}
                                for name, rows in parts.items()}
    return out


def main() -> None:
    ap = parser(__doc__, "cli")
    ap.add_argument("--clips", nargs="+", default=["blackswan", "dog"])
    ap.add_argument("--gains", nargs="+", type=float, default=[5.8, 6.0, 6.5],
                    help="q/k gains of the random weights: tens, hundreds, thousands of clusters")
    ap.add_argument("--pools", nargs="+", type=int, default=[4, 16], help="columns summed into one")
    ap.add_argument("--num-frames", type=int, default=30)
    ap.add_argument("--windows", type=int, default=2, help="windows measured per clip (the first ones)")
    ap.add_argument("--block", type=int, default=240, help="rows and columns of a tile")
    ap.add_argument("--name", default="pooled_bounds_cpu_320x480")
    args = parse(ap)
    torch.set_grad_enabled(False)
    figures = {}
    for clip in args.clips:
        frames = read_clip(str(DAVIS / clip)).frames[: args.num_frames]
        for gain in args.gains:
            seg = Segmenter.from_checkpoint(random_weights=True, arch=args.arch, qk_gain=gain,
                                            config=SegmentSettings(resolution=tuple(args.resolution)))
            figures[f"{clip}/qk{gain:g}"] = found = measure(seg, frames, args.pools, args.windows, args.block)
            print(clip, gain, found, flush=True)
    settings = {"command": "python -m benchmarks.pooled_bounds " + " ".join(sys.argv[1:]), "clips": args.clips,
                "gains": args.gains, "pools": args.pools, "frames": args.num_frames, "windows": args.windows,
                "block": args.block, "resolution": list(args.resolution), "arch": args.arch,
                "weights": "random, paper format (attnseg's --random-weights), q/k scaled by the gain"}
    print(write_record(args.name, settings, figures))


if __name__ == "__main__":
    main()
