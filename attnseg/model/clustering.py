"""Hierarchical clustering of affinity rows with a symmetric-KL threshold (SPEC 6).

Distance between distributions p, q: D = KL(p||q) + KL(q||p)
= sum (p - q)(log p - log q); for row sets P, Q in matrix form
D = e_P 1^T + 1 e_Q^T - P (log Q)^T - (Q (log P)^T)^T, with e = sum p log p.
For D(P, P) the two cross terms are one product and its transpose.

Algorithm, as the paper's released evaluation runs it:
- Level 1, per window of 3 frames (n rows of A):
  D1 = D(A, A); S_i = mean of the rows A_j with D1[i, j] <= tau, renormalized;
  greedy leader merge of S in row order with D2 = D(S, S): each unassigned row i
  in turn leads a group of every unassigned j with D2[i, j] <= tau; the group's
  plain mean of S rows is a centroid. Order-dependent by construction.
- Later levels: leader merge on the centroids of all windows together
  (centroid = plain unweighted mean of members) until a pass keeps the count.
- Final assignment: each raw row A_i takes the centroid with the smallest D
  (ties: the lowest centroid index).

The steps that carry the arithmetic (affinity, the D1 threshold matrix, the
D2 rows of leader candidates, the nearest-centroid assignment) are looked up in
a ClusterOps table; REFERENCE_OPS, the plain PyTorch below, is the default and
the oracle, and attnseg.kernels supplies tables of fused kernels.

The leader merge is exact without a host round trip per row: rows are taken
in blocks of the next unassigned candidates, their threshold rows are computed
in one go, and the sequential choice within the block runs on a tiny B x B
matrix. Only the D2 rows of candidates are ever computed, never all of D2.
Logs of averaged rows are clamped at float32's smallest normal (log = -87.3):
finite, so no NaN; an entry that small only enters distances already far above tau.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, ContextManager

import numpy as np
import torch

from ..errors import SettingError
from ..settings import PAPER
from .affinity import Affinity, affinity, affinity_prob, key_frame_indices, query_windows

Timer = Callable[[str], ContextManager]  # timer("stage") times the block it opens (attnseg.engine.timing)


def untimed(stage: str) -> ContextManager:
    """A timer that times nothing."""
    return contextlib.nullcontext()


def safe_log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x.clamp_min(torch.finfo(x.dtype).tiny))


def neg_entropy(p: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """e = sum_c p_c log p_c per row (0 where p_c = 0, as log_p is finite)."""
    return (p * log_p).sum(dim=-1)


def symmetric_kl(e_p: torch.Tensor, e_q: torch.Tensor, p_log_q: torch.Tensor, q_log_p: torch.Tensor) -> torch.Tensor:
    """D = e_P 1^T + 1 e_Q^T - P (log Q)^T - (Q (log P)^T)^T from its parts: the one formula of SPEC 6,
    p_log_q = P (log Q)^T (n, m) and q_log_p = (Q (log P)^T)^T (n, m), each as its caller computes it."""
    return e_p[:, None] + e_q[None, :] - p_log_q - q_log_p


def kl_distance(p: torch.Tensor, log_p: torch.Tensor, q: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Symmetric KL between every row of p (n, c) and every row of q (m, c): (n, m)."""
    return symmetric_kl(neg_entropy(p, log_p), neg_entropy(q, log_q), p @ log_q.T, (q @ log_p.T).T)


def neighbour_average(prob: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """S_i = renormalized mean of the rows j with near[i, j] (D1[i, j] <= tau), itself included."""
    near.fill_diagonal_(True)  # D(p, p) = 0; only rounding could say otherwise
    s = near.to(prob.dtype) @ prob
    return s / s.sum(dim=1, keepdim=True)


def choose_leaders(sub: torch.Tensor) -> torch.Tensor:
    """The sequential choice inside a block of candidates: which of them lead.

    sub: bool (b, b), sub[a, c] = candidate a would claim candidate c (the
    diagonal is set). In order, a candidate no earlier leader claimed leads.
    """
    sub = sub.cpu().numpy()
    claimed = np.zeros(sub.shape[0], dtype=bool)
    lead = np.zeros(sub.shape[0], dtype=bool)
    for a in range(sub.shape[0]):
        if not claimed[a]:
            lead[a] = True
            claimed |= sub[a]
    return torch.from_numpy(lead)


def leader_merge(n: int, within_tau: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                 block: int = 64) -> torch.Tensor:
    """Greedy leader merge in row order: group label per row (0..K-1, in leader order).

    `within_tau(idx, cols)` returns the bool rows (len(idx), len(cols)): D[i, j] <= tau for the columns
    `cols` still unassigned (the only ones a leader can claim: D2 is never computed against the others).
    """
    labels = torch.full((n,), -1, dtype=torch.long, device=device)
    unassigned = torch.ones(n, dtype=torch.bool, device=device)
    num_groups = 0
    while True:
        cols = unassigned.nonzero().squeeze(1)  # one host sync per block, not per row
        cand = cols[:block]
        if cand.numel() == 0:
            return labels
        rows = torch.zeros(cand.numel(), n, dtype=torch.bool, device=device)
        rows[:, cols] = within_tau(cand, cols)
        rows[torch.arange(cand.numel(), device=device), cand] = True  # a row leads itself
        lead_rows = rows[choose_leaders(rows[:, cand]).to(device)]
        owned = lead_rows.any(dim=0).nonzero().squeeze(1)
        first = lead_rows[:, owned].to(torch.uint8).argmax(dim=0)  # the earliest leader claims a row
        labels[owned] = num_groups + first
        unassigned[owned] = False
        num_groups += lead_rows.shape[0]


def group_means(x: torch.Tensor, labels: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Plain mean of the rows of each group, summed in row order on every device, so run to run the same.

    On CUDA, index_add_ adds with atomics (the order, hence the rounding, changes between runs, and a
    centroid at tau can flip a later merge); an accumulating index_put_ sorts the rows by group and
    adds each group's rows in order. On a CPU, index_add_ adds in row order (and index_put_ may not)."""
    sums = torch.zeros(num_groups, x.shape[1], dtype=x.dtype, device=x.device)
    if x.device.type == "cuda":
        sums.index_put_((labels,), x, accumulate=True)
    else:
        sums.index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=num_groups).to(x.dtype)
    return sums / counts[:, None]


def within_tau_matrix(p: torch.Tensor, log_p: torch.Tensor, tau: float, block: int = 1024) -> torch.Tensor:
    """(D(P, P) <= tau) as a bool matrix, built a block of rows at a time from one product."""
    e = neg_entropy(p, log_p)
    cross = p @ log_p.T
    near = torch.empty(p.shape[0], p.shape[0], dtype=torch.bool, device=p.device)
    for start in range(0, p.shape[0], block):
        rows = slice(start, start + block)
        near[rows] = symmetric_kl(e[rows], e, cross[rows], cross[:, rows].T) <= tau
    return near


def within_tau_rows(idx: torch.Tensor, s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor,
                    tau: float, cols: torch.Tensor | None = None) -> torch.Tensor:
    """Rows `idx` of (D(S, S) <= tau): (len(idx), n), or only its columns `cols` (len(idx), len(cols)); each
    entry the same number either way (tests/model/test_clustering.py)."""
    if cols is None:
        return symmetric_kl(e_s[idx], e_s, s[idx] @ log_s.T, (s @ log_s[idx].T).T) <= tau
    return symmetric_kl(e_s[idx], e_s[cols], s[idx] @ log_s[cols].T, (s[cols] @ log_s[idx].T).T) <= tau


def candidate_rows(ops: "ClusterOps", s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor,
                   tau: float) -> Callable:
    """The merge's within_tau(idx, cols=None) for the rows of S: the reference computes only the columns asked
    for; a table with other arithmetic computes whole rows, then keeps those columns."""
    def within(idx: torch.Tensor, cols: torch.Tensor | None = None) -> torch.Tensor:
        if cols is not None and ops.within_tau_rows is within_tau_rows:
            return within_tau_rows(idx, s, log_s, e_s, tau, cols)
        rows = ops.within_tau_rows(idx, s, log_s, e_s, tau)
        return rows if cols is None else rows[:, cols]
    return within


def assign_rows(prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (smallest symmetric KL; ties: the lowest index) for every row."""
    return kl_distance(centroids, safe_log(centroids), prob, log_prob).argmin(dim=0)


@dataclass(frozen=True)
class ClusterOps:
    """The arithmetic of the clustering, swappable as a whole (see attnseg.kernels)."""

    affinity: Callable = affinity  # (q, k, scale) -> Affinity
    attention: Callable | None = None  # (q, k, scale) -> affinity's prob alone (None: affinity(...).prob)
    within_tau: Callable = within_tau_matrix  # (p, log_p, tau) -> bool (n, n)
    within_tau_rows: Callable = within_tau_rows  # (idx, s, log_s, e_s, tau) -> bool (len(idx), n)
    assign: Callable = assign_rows  # (prob, log_prob, centroids) -> (n,) labels
    merge: Callable = leader_merge  # (n, within_tau(idx[, cols]), device) -> (n,) group labels
    tally: object | None = None  # what a certified table counts (attnseg.kernels.certified.Tally)


REFERENCE_OPS = ClusterOps(attention=affinity_prob)


def attention_rows(ops: ClusterOps, q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """The affinity's prob rows alone, from the table's own attention where it has one (no logs computed)."""
    return ops.attention(q, k, scale) if ops.attention is not None else ops.affinity(q, k, scale).prob


def cluster_window(aff: Affinity, tau: float, ops: ClusterOps = REFERENCE_OPS) -> torch.Tensor:
    """Level 1 for one window: the centroids (K, m) of its neighbour-averaged rows."""
    s = neighbour_average(aff.prob, ops.within_tau(aff.prob, aff.log_prob, tau))
    log_s = safe_log(s)
    e_s = neg_entropy(s, log_s)
    labels = ops.merge(s.shape[0], candidate_rows(ops, s, log_s, e_s, tau), s.device)
    return group_means(s, labels, int(labels.max()) + 1)


def merge_levels(centroids: torch.Tensor, tau: float, max_levels: int = 10000,
                 ops: ClusterOps = REFERENCE_OPS) -> torch.Tensor:
    """Later levels: leader merge on all centroids until a pass keeps their count.

    A leader is the first member of its group, so each group's new centroid
    takes its leader's slot and the other members' slots retire. The threshold
    matrix (D <= tau) stays in the slots of the first level: entries between
    groups of one carry over (their vectors do not change), and only the rows
    and columns of merged groups are recomputed.
    """
    cent = centroids.clone()
    log_c = safe_log(cent)
    near = ops.within_tau(cent, log_c, tau)
    alive = torch.arange(cent.shape[0], device=cent.device)  # slots in use, in order
    for _ in range(max_levels):
        labels = ops.merge(alive.numel(), lambda idx, cols=None: near[alive[idx]][:, alive if cols is None
                                                                                else alive[cols]], cent.device)
        k = int(labels.max()) + 1
        if k == alive.numel():
            break
        first = torch.full((k,), alive.numel(), dtype=torch.long, device=cent.device)
        first.scatter_reduce_(0, labels, torch.arange(alive.numel(), device=cent.device), "amin")
        is_merged = torch.bincount(labels, minlength=k) > 1  # groups of two or more
        members = is_merged[labels]
        merged = alive[first[is_merged]]
        cent[merged] = group_means(cent[alive[members]], labels[members], k)[is_merged]  # only these change
        log_c[merged] = safe_log(cent[merged])
        alive = alive[first]
        rows = ops.within_tau_rows(merged, cent, log_c, neg_entropy(cent, log_c), tau)[:, alive]
        near[merged[:, None], alive[None, :]] = rows
        near[alive[:, None], merged[None, :]] = rows.T
    return cent[alive]


@dataclass
class ClusterResult:
    labels: torch.Tensor  # (T, N) int64 cluster id per patch token
    num_clusters: int  # K after the last level (some may own no token)
    level1_clusters: int
    key_frames: list[int] = field(default_factory=list)
    centroids: torch.Tensor | None = None  # (K, Tk * N) the final clusters over the key tokens


def cluster_video(q: torch.Tensor, k: torch.Tensor, scale: float, *, ratio: int = PAPER.ratio, tau: float = PAPER.tau,
                  window: int = PAPER.window, timer: Timer = untimed, cache_bytes: int = 2 << 30,
                  progress: Callable[[int], None] | None = None, ops: ClusterOps = REFERENCE_OPS) -> ClusterResult:
    """Cluster a whole clip offline. q, k: (T, heads, N, d) for every frame.

    Affinities are kept between level 1 and the final assignment when they fit
    in `cache_bytes`; otherwise they are recomputed (as the released code does).
    `k` may also hold the key frames only (key_frame_indices(T, ratio), in order).
    """
    if tau < 0:
        raise SettingError(f"tau must be >= 0, got {tau}")
    num_frames, _, tokens, _ = q.shape
    keys = key_frame_indices(num_frames, ratio)
    if k.shape[0] == num_frames:
        k = k[keys]
    elif k.shape[0] != len(keys):
        raise SettingError(f"k holds {k.shape[0]} frames: expected every frame ({num_frames}) or the key frames "
                           f"({len(keys)})")
    windows = query_windows(num_frames, window)
    row_bytes = 8 * len(keys) * tokens * tokens * window  # prob + log_prob, float32
    keep = row_bytes * len(windows) <= cache_bytes
    cached: list[Affinity] = []
    centroids = []
    for w in windows:
        with timer("affinity"):
            aff = ops.affinity(q[w.start:w.stop], k, scale)
        with timer("clustering"):
            centroids.append(cluster_window(aff, tau, ops))
        if keep:
            cached.append(aff)
        if progress:
            progress(len(w))
    with timer("clustering"):
        level1 = torch.cat(centroids)
        final = merge_levels(level1, tau, ops=ops)
    labels = []
    for i, w in enumerate(windows):
        if keep:
            aff = cached[i]
        else:
            with timer("affinity"):
                aff = ops.affinity(q[w.start:w.stop], k, scale)
        with timer("clustering"):
            labels.append(ops.assign(aff.prob, aff.log_prob, final))
    return ClusterResult(torch.cat(labels).view(num_frames, tokens), final.shape[0], level1.shape[0], keys, final)
