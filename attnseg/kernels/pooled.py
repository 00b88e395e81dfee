"""The nearest-centroid assignment with fewer FLOPs and the same decisions: pooled lower bounds rule centroids out.

Pooling columns (summing them in groups) cannot make a symmetric KL grow: each group's terms satisfy the log-sum
inequality, sum_k (p_k - q_k)(log p_k - log q_k) >= (P - Q)(log P - log Q) with P, Q the group's sums (the
data-processing inequality). So D(pool p, pool c), computed on m / group columns, is a lower bound on D(p, c).
Per block of rows:
1. the pooled bound against every centroid (a product `group` times smaller than the reference's);
2. each row's centroid with the smallest bound, its distance certified (attnseg.kernels.certified): an upper
   bound U on the row's best distance;
3. the candidates of a row: the centroids whose bound, less its own rounding, does not exceed U; all others are
   provably farther than the best, so they can neither win nor tie;
4. the block's rows against the union of their candidates in fp32, each argmin certified, and the rows whose
   argmin the bound cannot settle recomputed exactly among their candidates (certified.exact_argmin).
The labels are exact arithmetic's on the same fp32 rows, as `--kernels certified` decides them; an fp32 tie
(where the reference's own rounding could decide otherwise) is counted in the Tally. Columns are pooled in
consecutive groups: any partition gives a bound, and one in raster order needs no knowledge of the grid.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..model.affinity import LOG_SAFE_MIN
from ..model.clustering import neg_entropy
from .certified import SLACK, U32, Certifier, Tally, assign_terms, exact_argmin, gamma, precision

GROUP = 4  # columns summed into one for the bound
BLOCK = 256  # rows that share a candidate union


@dataclass
class Pooled:
    """Rows pooled for the bound, built from their logs: the pooled row of the measure mu = exp(log row) (which
    the reference's D differs from by at most `delta`, per row: sum_k |x_k - exp(l_k)|, rounding included), with
    `lmax` = max_k |l_k| of the full row (the size of a log difference) and the full row's width `m`."""

    value: torch.Tensor  # (n, m / group): exp of `log`
    log: torch.Tensor  # (n, m / group): logsumexp of each group's logs (finite wherever a log is)
    delta: torch.Tensor  # (n,)
    lmax: torch.Tensor  # (n,)
    m: int


def pool(x: torch.Tensor, log_x: torch.Tensor, group: int) -> Pooled:
    """Each run of `group` consecutive columns of the rows (x, log_x) pooled (the last run padded)."""
    n, m = x.shape
    pad = -m % group
    mu = log_x.exp()
    delta = (x - mu).abs().sum(dim=1) + 2.0 ** -21 * (x.abs() + mu).sum(dim=1)  # exp and the subtraction's ulps
    value = (torch.nn.functional.pad(mu, (0, pad)) if pad else mu).view(n, -1, group).sum(dim=2)
    log = value.log()
    low = (value < LOG_SAFE_MIN).any(dim=1).nonzero().squeeze(1)  # groups whose sum underflows: logsumexp there
    if low.numel():
        rows = torch.nn.functional.pad(log_x[low], (0, pad), value=-math.inf) if pad else log_x[low]
        log[low] = rows.view(low.numel(), -1, group).logsumexp(dim=2)
        value[low] = log[low].exp()
    return Pooled(value, log, delta, log_x.abs().amax(dim=1), m)


def lower_bounds(a: Pooled, b: Pooled) -> torch.Tensor:
    """(rows of a, rows of b): numbers the reference's D(a_i, b_j) is provably not below. The pooled D of the
    measures exp(log) is a lower bound on their D (the log-sum inequality per group); the reference's D, on the
    rows as given, differs from theirs by at most (delta_i + delta_j)(lmax_i + lmax_j); and the pooled D as computed
    here in fp32 lies within its rounding (gamma bounds of the module certified, with room for the logsumexp's)."""
    ea, eb = neg_entropy(a.value, a.log), neg_entropy(b.value, b.log)
    low = ea[:, None] + eb[None, :] - a.value @ b.log.T - (b.value @ a.log.T).T
    g = gamma(a.value.shape[1])
    la, lb = a.log.abs().amax(dim=1), b.log.abs().amax(dim=1)
    sa, sb = a.value.sum(dim=1), b.value.sum(dim=1)
    scale = sa[:, None] * lb[None, :] + la[:, None] * sb[None, :] + ea.abs()[:, None] + eb.abs()[None, :]
    rounding = (g / (1 - g) + 4 * U32 + 2.0 ** -18) * scale
    measure = (a.delta[:, None] + b.delta[None, :]) * (a.lmax[:, None] + b.lmax[None, :])
    return low - (rounding + measure) * SLACK


def assign(prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor, *, group: int = GROUP,
           block: int = BLOCK, tally: Tally | None = None) -> torch.Tensor:
    """Nearest centroid per row (ties: the lowest index), as exact arithmetic decides it; fewer products than the
    reference where the pooled bounds rule centroids out."""
    start = time.perf_counter()
    tally = tally if tally is not None else Tally()
    t = assign_terms(Certifier(precision("fp32"), False, tally), prob, log_prob, centroids)
    cent, log_c = t.cent, t.log_c
    n = prob.shape[0]
    pc = pool(cent, log_c, group)
    low_all = torch.cat([lower_bounds(pool(prob[s:s + 1024], log_prob[s:s + 1024], group), pc)
                         for s in range(0, n, 1024)])  # (n, K), its temporaries a chunk of rows at a time
    first_all = low_all.argmin(dim=1)
    order = first_all.argsort(stable=True)  # rows that likely share a nearest centroid share a block's candidates
    labels = torch.empty(n, dtype=torch.long, device=prob.device)
    for s in range(0, n, block):
        rows = order[s:s + block]
        p, lp = prob[rows], log_prob[rows]
        low = low_all[rows]  # (b, K)

        def certified(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """The rows' fp32 D against centroids `cols`, and each entry's bound (as certified.assign)."""
            return t.distances(p @ log_c[cols].T + (cent[cols] @ lp.T).T, rows, cols)

        cols, at = first_all[rows].unique(return_inverse=True)
        dist, bound = certified(cols)
        upper = dist.gather(1, at[:, None]) + bound.gather(1, at[:, None])  # >= the row's best exact D
        cand = low <= upper
        cols = cand.any(dim=0).nonzero().squeeze(1)
        dist, bound = certified(cols)
        inside = cand[:, cols]
        dist = dist.masked_fill(~inside, float("inf"))
        best = dist.argmin(dim=1)
        sure = (dist - bound).masked_fill(~inside, float("inf")) <= (dist + bound).amin(dim=1, keepdim=True)
        unsure = (sure.sum(dim=1) > 1).nonzero().squeeze(1)
        found = cols[best]
        if unsure.numel():
            found[unsure] = cols[exact_argmin(prob, log_prob, cent[cols], log_c[cols], rows[unsure], sure[unsure],
                                                  tally)]
        labels[rows] = found
        tally.entries += rows.numel() * cols.numel()
    tally.seconds += time.perf_counter() - start
    return labels
