"""Certified symmetric-KL decisions on the GPU: tensor-core products with the bound and the threshold fused.

Reference beside it: attnseg.kernels.certified (the same bound, in PyTorch; the CPU path and the oracle of
these kernels). The bound and its derivation are in that module's docstring.

`_certified_tau_kernel`: one program per listed (row tile, column tile) of D(P, Q), as
attnseg.kernels.kl._within_tau_kernel, but its two cross products run in PRECISION ("bf16": inputs
rounded to bf16; "bf16x3": hi + lo bf16 parts, three products; "tf32"; Triton's "tf32x3", the same
split in TF32; "ieee": fp32 FMA) with fp32
accumulation, and its epilogue computes each entry's bound from two numbers per row (r = e - tau/2 and
f) and writes one byte: 0 (D > tau, certain), 1 (D <= tau, certain) or 2 (undecided). The undecided
entries are compacted on the device (nonzero) and recomputed in float64 (certified.settle).

`_certified_argmin_kernel`: one program per block of rows walks the centroids in tiles and keeps, per row,
the smallest upper end of a centroid's interval (and which centroid), that centroid's lower end, and the
smallest lower end of every other centroid. The argmin is certain when the best upper end lies below
every other lower end; the kernel writes the index and that verdict, and the rows left undecided are
settled by certified.assign (their candidate centroids recomputed in float64).
"""
from __future__ import annotations

import time

import torch
import triton
import triton.language as tl

from ..errors import SettingError
from . import certified as C
from .kl import _check as check_rows
from .kl import _cross_tile
from .launch import Cost, interpreting, launch

PRECISIONS = ("ieee", "tf32", "tf32x3", "bf16", "bf16x3")
CERTIFIED = {"ieee": "fp32", "tf32": "tf32", "tf32x3": "tf32x3", "bf16": "bf16", "bf16x3": "bf16x3"}  # bound rows


@triton.jit
def _certified_tau_kernel(p_ptr, lp_ptr, rp_ptr, fp_ptr, q_ptr, lq_ptr, rq_ptr, fq_ptr, out_ptr, tiles_ptr,
                          n_p, n_q, m, k1, tau_term, slack,
                          SYMMETRIC: tl.constexpr, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr,
                          PRECISION: tl.constexpr, BF16_DOT: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    pid_i = tl.load(tiles_ptr + 2 * pid)
    pid_j = tl.load(tiles_ptr + 2 * pid + 1)
    rows = pid_i.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    cols = pid_j.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = _cross_tile(p_ptr, lp_ptr, q_ptr, lq_ptr, rows, cols, n_p, n_q, m, BLOCK, BLOCK, BLOCK_K, PRECISION,
                    BF16_DOT)
    rp = tl.load(rp_ptr + rows, mask=rows < n_p, other=0.0)
    rq = tl.load(rq_ptr + cols, mask=cols < n_q, other=0.0)
    fp = tl.load(fp_ptr + rows, mask=rows < n_p, other=0.0)
    fq = tl.load(fq_ptr + cols, mask=cols < n_q, other=0.0)
    dev = (rp[:, None] + rq[None, :]) - x
    bound = ((fp[:, None] + fq[None, :]) - k1 * tl.minimum(x, 0.0) + tau_term) * slack
    state = tl.where(tl.abs(dev) <= bound, 2, tl.where(dev <= 0.0, 1, 0)).to(tl.int8)
    inside = (rows[:, None] < n_p) & (cols[None, :] < n_q)
    if SYMMETRIC:
        inside = inside & (rows[:, None] <= cols[None, :])
        tl.store(out_ptr + cols[None, :] * n_q + rows[:, None], state, mask=inside)
    tl.store(out_ptr + rows[:, None] * n_q + cols[None, :], state, mask=inside)


@triton.jit
def _certified_argmin_kernel(p_ptr, lp_ptr, ep_ptr, fp_ptr, c_ptr, lc_ptr, ec_ptr, fc_ptr, idx_ptr, sure_ptr,
                             n, k, m, k1, slack,
                             BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr,
                             PRECISION: tl.constexpr, BF16_DOT: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    ep = tl.load(ep_ptr + rows, mask=rows < n, other=0.0)
    fp = tl.load(fp_ptr + rows, mask=rows < n, other=0.0)
    best_hi = tl.full((BLOCK_N,), float("inf"), tl.float32)
    best_idx = tl.zeros((BLOCK_N,), tl.int32)
    lo_best = tl.full((BLOCK_N,), float("inf"), tl.float32)
    lo_others = tl.full((BLOCK_N,), float("inf"), tl.float32)
    for start in range(0, k, BLOCK_C):
        cents = start + tl.arange(0, BLOCK_C).to(tl.int64)
        x = _cross_tile(p_ptr, lp_ptr, c_ptr, lc_ptr, rows, cents, n, k, m, BLOCK_N, BLOCK_C, BLOCK_K,
                       PRECISION, BF16_DOT)
        ec = tl.load(ec_ptr + cents, mask=cents < k, other=0.0)
        fc = tl.load(fc_ptr + cents, mask=cents < k, other=0.0)
        dist = (ep[:, None] + ec[None, :]) - x
        bound = ((fp[:, None] + fc[None, :]) - k1 * tl.minimum(x, 0.0)) * slack
        valid = cents[None, :] < k
        hi = tl.where(valid, dist + bound, float("inf"))
        lo = tl.where(valid, dist - bound, float("inf"))
        t_hi = tl.min(hi, axis=1)
        t_idx = tl.argmin(hi, axis=1, tie_break_left=True).to(tl.int32)
        is_best = tl.arange(0, BLOCK_C)[None, :] == t_idx[:, None]
        t_lo = tl.min(tl.where(is_best, lo, float("inf")), axis=1)
        t_lo_others = tl.min(tl.where(is_best, float("inf"), lo), axis=1)
        better = t_hi < best_hi  # strict: an earlier tile keeps an equal upper end
        lo_others = tl.where(better, tl.minimum(lo_others, tl.minimum(lo_best, t_lo_others)),
                             tl.minimum(lo_others, tl.min(lo, axis=1)))
        lo_best = tl.where(better, t_lo, lo_best)
        best_idx = tl.where(better, t_idx + start, best_idx)
        best_hi = tl.where(better, t_hi, best_hi)
    tl.store(idx_ptr + rows, best_idx.to(tl.int64), mask=rows < n)
    tl.store(sure_ptr + rows, (best_hi < lo_others).to(tl.int8), mask=rows < n)


# Launch configurations per precision (compiled for sm_90 and sm_80 by compile_check.py, with Triton 3.9
# and with the GPU machine's 3.6). Tensor-core precisions take 64 x 64 tiles over 32 columns, 8 warps;
# where 3.6 spilled on sm_80 (TF32 argmin, bf16x3 threshold), 16 columns. fp32 FMA ("ieee") keeps kl.py's
# 32 x 32 tiles over 16 columns.
TAU_CONFIGS = {"ieee": {"BLOCK": 32, "BLOCK_K": 16, "num_warps": 4, "num_stages": 3},
               "tf32": {"BLOCK": 64, "BLOCK_K": 32, "num_warps": 8, "num_stages": 3},
               "bf16": {"BLOCK": 64, "BLOCK_K": 32, "num_warps": 8, "num_stages": 3},
               "bf16x3": {"BLOCK": 64, "BLOCK_K": 16, "num_warps": 8, "num_stages": 2},
               "tf32x3": {"BLOCK": 64, "BLOCK_K": 16, "num_warps": 8, "num_stages": 2}}
ARGMIN_CONFIGS = {"ieee": {"BLOCK_N": 32, "BLOCK_C": 32, "BLOCK_K": 16, "num_warps": 8, "num_stages": 3},
                  "tf32": {"BLOCK_N": 64, "BLOCK_C": 64, "BLOCK_K": 16, "num_warps": 8, "num_stages": 3},
                  "bf16": {"BLOCK_N": 64, "BLOCK_C": 64, "BLOCK_K": 32, "num_warps": 8, "num_stages": 3},
                  "bf16x3": {"BLOCK_N": 64, "BLOCK_C": 64, "BLOCK_K": 16, "num_warps": 8, "num_stages": 2},
                  "tf32x3": {"BLOCK_N": 32, "BLOCK_C": 64, "BLOCK_K": 16, "num_warps": 8, "num_stages": 2}}


def candidate_configs(precision: str, shared_limit: int = 227 * 1024) -> list[dict]:
    """Tile configurations worth timing for the threshold kernel in `precision`, pruned: tiles of 64 or 128
    rows over 16 to 64 columns, 4 or 8 warps, 2 to 4 stages, keeping those whose pipelined operand tiles
    (4 fp32 tiles of BLOCK x BLOCK_K per stage) fit in a block's shared memory with room to spare. The
    device suite times them on the GPU (part "window"); TAU_CONFIGS holds the one the engine launches."""
    found = []
    for block in (64, 128):
        for block_k in (16, 32, 64):
            for warps in (4, 8):
                for stages in (2, 3, 4):
                    if 4 * 4 * block * block_k * stages > shared_limit * 3 // 4:
                        continue
                    if block == 128 and warps == 4:  # 128 x 128 fp32 accumulators on 4 warps: spills
                        continue
                    found.append({"BLOCK": block, "BLOCK_K": block_k, "num_warps": warps, "num_stages": stages})
    return found if precision != "ieee" else [TAU_CONFIGS["ieee"]]


def _check(p: torch.Tensor, log_p: torch.Tensor, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    return check_rows(p, log_p, "certified kernels", precision, PRECISIONS)


def kappa_bound(precision: str, m: int) -> float:
    """The error bound of a product of rows of length `m` in `precision` (fp32 out of every kernel product)."""
    return C.precision(CERTIFIED[precision]).kappa(m, 0.0)  # fp32 out of every kernel product


def threshold_states(p, log_p, r_p, f_p, q, log_q, r_q, f_q, kappa, tau, symmetric, precision, config=None
                     ) -> torch.Tensor:
    """The threshold kernel's launch: for each (row of p, row of q), whether D <= tau is certain, certainly not, or
    undecided (int8), in the tile configuration `config` (default: TAU_CONFIGS[precision])."""
    n_p, m = p.shape
    n_q = q.shape[0]
    cfg = config or TAU_CONFIGS[precision]
    block = cfg["BLOCK"]
    out = torch.empty(n_p, n_q, dtype=torch.int8, device=p.device)
    ti, tj = triton.cdiv(n_p, block), triton.cdiv(n_q, block)
    if symmetric:
        tiles = torch.triu_indices(ti, tj, device=p.device).T
    else:
        tiles = torch.cartesian_prod(torch.arange(ti, device=p.device), torch.arange(tj, device=p.device))
    tiles = tiles.to(torch.int32).contiguous()
    count = ti * (ti + 1) // 2 if symmetric else ti * tj
    pairs = n_p * (n_p + 1) // 2 if symmetric else n_p * n_q
    products = 3 if precision.endswith("x3") else 1
    cost = Cost(flops=4 * products * pairs * m, bytes=8 * (n_p + (0 if symmetric else n_q)) * m + n_p * n_q)
    bound = C.bound_of(kappa, tau)
    launch(_certified_tau_kernel, (count,), p, log_p, r_p, f_p, q, log_q, r_q, f_q, out, tiles,
           n_p, n_q, m, bound.k1, bound.tau_term, C.SLACK, cost=cost, SYMMETRIC=symmetric, PRECISION=precision,
           BF16_DOT=not interpreting(), **cfg)
    return out


def _argmin(prob, log_prob, e, f, cent, log_c, ec, fc, kappa, precision) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's nearest centroid per row and whether it is certain (int8)."""
    n, m = prob.shape
    k = cent.shape[0]
    labels = torch.empty(n, dtype=torch.int64, device=prob.device)
    sure = torch.empty(n, dtype=torch.int8, device=prob.device)
    cfg = ARGMIN_CONFIGS[precision]
    products = 3 if precision.endswith("x3") else 1
    launch(_certified_argmin_kernel, (triton.cdiv(n, cfg["BLOCK_N"]),), prob, log_prob, e.contiguous(),
           f.contiguous(), cent, log_c, ec.contiguous(), fc.contiguous(), labels, sure, n, k, m,
           C.bound_of(kappa, 0.0).k1, C.SLACK,
           cost=Cost(flops=4 * products * n * k * m, bytes=8 * (n + k) * m + 9 * n), PRECISION=precision,
           BF16_DOT=not interpreting(), **cfg)
    return labels, sure


def within_tau(p: torch.Tensor, log_p: torch.Tensor, tau: float, *, precision: str = "bf16",
               tally: C.Tally | None = None) -> torch.Tensor:
    """(D(P, P) <= tau) as a bool (n, n) matrix, certified; tiles on and above the diagonal only."""
    start = time.perf_counter()
    tally = tally if tally is not None else C.Tally()
    p, log_p = _check(p, log_p, precision)
    n, m = p.shape
    kappa = kappa_bound(precision, m)
    e, f = C.row_terms(p, log_p, kappa, p.sum(dim=1).max())
    r = (e - tau / 2).contiguous()
    state = threshold_states(p, log_p, r, f, p, log_p, r, f, kappa, tau, True, precision)
    near, unsure = state == 1, (state == 2).triu_(1)
    i, j = C.settle(near, unsure, p, log_p, p, log_p, tau, tally)
    near[j, i] = near[i, j]
    tally.entries += n * (n + 1) // 2
    tally.seconds += time.perf_counter() - start
    return near


def within_tau_rows(idx: torch.Tensor, s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor, tau: float, *,
                    precision: str = "bf16", tally: C.Tally | None = None,
                    window: C.WindowRows | None = None) -> torch.Tensor:
    """Rows `idx` of (D(S, S) <= tau), certified: (len(idx), n). `window` keeps the window's row terms from
    one block of candidates to the next."""
    start = time.perf_counter()
    tally = tally if tally is not None else C.Tally()
    s, log_s = _check(s, log_s, precision)
    kappa = kappa_bound(precision, s.shape[1])
    e, f = (window or C.WindowRows()).get(s, log_s, e_s, lambda: C.row_terms(s, log_s, kappa, s.sum(dim=1).max()))
    r = (e - tau / 2).contiguous()
    state = threshold_states(s[idx].contiguous(), log_s[idx].contiguous(), r[idx].contiguous(), f[idx].contiguous(),
                    s, log_s, r, f, kappa, tau, False, precision)
    near, unsure = state == 1, state == 2
    C.settle(near, unsure, s, log_s, s, log_s, tau, tally, rows=idx)
    tally.entries += near.numel()
    tally.seconds += time.perf_counter() - start
    return near


def assign(prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor, *, precision: str = "bf16",
           tally: C.Tally | None = None) -> torch.Tensor:
    """Nearest centroid per row (ties: the lowest index), certified."""
    start = time.perf_counter()
    tally = tally if tally is not None else C.Tally()
    prob, log_prob = _check(prob, log_prob, precision)
    if centroids.dim() != 2 or centroids.shape[1] != prob.shape[1]:
        raise SettingError(f"assign: centroids must be (K, {prob.shape[1]}), got {tuple(centroids.shape)}")
    cent = centroids.float().contiguous()
    log_c = C.safe_log(cent)
    n, m = prob.shape
    kappa = kappa_bound(precision, m)
    sigma_max = torch.maximum(prob.sum(dim=1).max(), cent.sum(dim=1).max())
    e, f = C.row_terms(prob, log_prob, kappa, sigma_max)
    ec, fc = C.row_terms(cent, log_c, kappa, sigma_max)
    labels, sure = _argmin(prob, log_prob, e, f, cent, log_c, ec, fc, kappa, precision)
    rows = (sure == 0).nonzero().squeeze(1)
    if rows.numel():  # undecided rows: their candidate centroids, recomputed exactly
        scratch = C.Tally()
        labels[rows] = C.assign(C.Certifier(C.precision("fp32"), False, scratch), prob[rows], log_prob[rows], cent)
        tally.recomputed += scratch.recomputed
        tally.ties += scratch.ties
        tally.recompute_seconds += scratch.seconds
    tally.entries += n * cent.shape[0]
    tally.seconds += time.perf_counter() - start
    return labels
