"""Symmetric-KL kernels: the threshold matrix D <= tau, and the nearest centroid (argmin of D).

D(p, q) = e_p + e_q - p . log q - q . log p, with e = sum p log p (SPEC 6).
References beside them: attnseg.model.clustering.within_tau_matrix,
within_tau_rows and assign_rows.

`_within_tau_kernel`: one program per (BLOCK x BLOCK) tile of D(P, Q); it runs
both cross products over the columns in chunks and writes only the boolean
D <= tau (1 byte per pair, a quarter of the float D). For D(P, P)
(SYMMETRIC) the two cross terms of tile (i, j) are those of tile (j, i)
transposed, so only tiles j >= i are launched (from a list of tile pairs,
no idle programs) and each writes itself and its mirror: half the products.
Fusion boundary: the consumer S = [D1 <= tau] A needs a row's full
neighbourhood times all m columns of A; fusing it here would hold a
BLOCK x m accumulator per program, so the boolean goes to memory
(n^2 bytes) and S is one dense matmul.

`_kl_argmin_kernel`: one program per block of rows; it walks the centroids in
tiles, computes the D tile from both cross products and keeps a running
(min, index) per row, so the (n x K) distance matrix never exists beyond a
tile. Ties keep the lowest centroid index, as torch.argmin does.

`_cross_tile` (with `_dot`) is shared with the certified kernels (certified_kl.py), whose precisions
(bf16, bf16x3) it also computes; these kernels take it in "ieee" or "tf32".

Rounding: the products sum in a different order than the BLAS behind the
reference, so an entry within float32 rounding of tau can fall on the other
side (a documented tie); tests and benchmarks count them.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..errors import SettingError
from ..model.clustering import assign_rows, neg_entropy, safe_log, within_tau_matrix, within_tau_rows
from .launch import Cost, launch

__all__ = ["within_tau", "within_tau_rows_triton", "assign", "within_tau_matrix", "within_tau_rows",
           "assign_rows"]


@triton.jit
def _bf16(x, BF16_DOT: tl.constexpr):
    """x rounded to bf16 (round to nearest even): as bf16 for the tensor cores, or as its fp32 value."""
    y = x.to(tl.bfloat16)
    if not BF16_DOT:
        y = y.to(tl.float32)
    return y


@triton.jit
def _mma(a, b, acc, BF16_DOT: tl.constexpr):
    if BF16_DOT:
        acc = tl.dot(a, b, acc)  # bf16 operands: tensor cores, fp32 accumulation
    else:
        acc = tl.dot(a, b, acc, input_precision="ieee")
    return acc


@triton.jit
def _dot(a, b, acc, PRECISION: tl.constexpr, BF16_DOT: tl.constexpr):
    """acc + a @ b with fp32 accumulation, the inputs taken in PRECISION. Without BF16_DOT (Triton's
    interpreter multiplies bf16 bit patterns, not values: triton-lang/triton#11584) the bf16-rounded inputs
    are multiplied as fp32: the same exact products, accumulated in fp32, as the tensor cores'."""
    if PRECISION == "bf16":
        acc = _mma(_bf16(a, BF16_DOT), _bf16(b, BF16_DOT), acc, BF16_DOT)
    elif PRECISION == "bf16x3":
        a_hi = _bf16(a, BF16_DOT)
        b_hi = _bf16(b, BF16_DOT)
        a_lo = _bf16(a - a_hi.to(tl.float32), BF16_DOT)
        b_lo = _bf16(b - b_hi.to(tl.float32), BF16_DOT)
        acc = _mma(a_lo, b_hi, acc, BF16_DOT)  # the small terms first
        acc = _mma(a_hi, b_lo, acc, BF16_DOT)
        acc = _mma(a_hi, b_hi, acc, BF16_DOT)
    else:
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    return acc


@triton.jit
def _cross_tile(p_ptr, lp_ptr, q_ptr, lq_ptr, rows, cols, n_p, n_q, m,
                BLOCK_P: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
                BF16_DOT: tl.constexpr):
    """x_ij = sum_c p[i, c] log q[j, c] + q[j, c] log p[i, c] for a tile of rows i and cols j."""
    acc = tl.zeros((BLOCK_P, BLOCK_Q), tl.float32)
    for start in range(0, m, BLOCK_K):
        ks = start + tl.arange(0, BLOCK_K)
        in_p = (rows[:, None] < n_p) & (ks[None, :] < m)
        in_q = (cols[None, :] < n_q) & (ks[:, None] < m)
        p = tl.load(p_ptr + rows[:, None] * m + ks[None, :], mask=in_p, other=0.0)
        lp = tl.load(lp_ptr + rows[:, None] * m + ks[None, :], mask=in_p, other=0.0)
        q_t = tl.load(q_ptr + cols[None, :] * m + ks[:, None], mask=in_q, other=0.0)
        lq_t = tl.load(lq_ptr + cols[None, :] * m + ks[:, None], mask=in_q, other=0.0)
        acc = _dot(p, lq_t, acc, PRECISION, BF16_DOT)
        acc = _dot(lp, q_t, acc, PRECISION, BF16_DOT)
    return acc


@triton.jit
def _within_tau_kernel(p_ptr, lp_ptr, ep_ptr, q_ptr, lq_ptr, eq_ptr, out_ptr, tiles_ptr, n_p, n_q, m, tau,
                       SYMMETRIC: tl.constexpr, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr,
                       PRECISION: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    pid_i = tl.load(tiles_ptr + 2 * pid)  # one program per listed (row tile, column tile)
    pid_j = tl.load(tiles_ptr + 2 * pid + 1)
    rows = pid_i.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # 64-bit: rows * m passes 2^31 on large windows
    cols = pid_j.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    cross = _cross_tile(p_ptr, lp_ptr, q_ptr, lq_ptr, rows, cols, n_p, n_q, m, BLOCK, BLOCK, BLOCK_K, PRECISION,
                        True)
    ep = tl.load(ep_ptr + rows, mask=rows < n_p, other=0.0)
    eq = tl.load(eq_ptr + cols, mask=cols < n_q, other=0.0)
    near = ((ep[:, None] + eq[None, :] - cross) <= tau).to(tl.int8)
    inside = (rows[:, None] < n_p) & (cols[None, :] < n_q)
    if SYMMETRIC:  # (i, j) and (j, i) both from the i <= j entry: a diagonal tile sums both orders
        inside = inside & (rows[:, None] <= cols[None, :])
        tl.store(out_ptr + cols[None, :] * n_q + rows[:, None], near, mask=inside)
    tl.store(out_ptr + rows[:, None] * n_q + cols[None, :], near, mask=inside)


@triton.jit
def _kl_argmin_kernel(p_ptr, lp_ptr, ep_ptr, c_ptr, lc_ptr, ec_ptr, out_ptr, n, k, m,
                      BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr,
                      PRECISION: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    ep = tl.load(ep_ptr + rows, mask=rows < n, other=0.0)
    best = tl.full((BLOCK_N,), float("inf"), tl.float32)
    best_idx = tl.zeros((BLOCK_N,), tl.int32)
    for start in range(0, k, BLOCK_C):
        cents = start + tl.arange(0, BLOCK_C).to(tl.int64)
        cross = _cross_tile(p_ptr, lp_ptr, c_ptr, lc_ptr, rows, cents, n, k, m, BLOCK_N, BLOCK_C, BLOCK_K,
                            PRECISION, True)
        ec = tl.load(ec_ptr + cents, mask=cents < k, other=0.0)
        dist = tl.where(cents[None, :] < k, ep[:, None] + ec[None, :] - cross, float("inf"))
        tile_min = tl.min(dist, axis=1)
        tile_idx = tl.argmin(dist, axis=1, tie_break_left=True).to(tl.int32) + start
        better = tile_min < best  # strict: an earlier tile keeps a tie
        best_idx = tl.where(better, tile_idx, best_idx)
        best = tl.where(better, tile_min, best)
    tl.store(out_ptr + rows, best_idx.to(tl.int64), mask=rows < n)


# Launch configurations: what the engine launches, and what the compile check (compile_check.py)
# compiles for sm_90 and sm_80 (benchmarks/results/compile_kernels_*.json). 32 x 32 tiles over 16
# columns at a time: 16 KiB of shared memory and no register spill on either target; with 32 columns
# the D <= tau kernel spilled on sm_80 and the argmin on both (it also needs 8 warps at 16).
WITHIN_TAU = {"BLOCK": 32, "BLOCK_K": 16, "num_warps": 4, "num_stages": 3}
KL_ARGMIN = {"BLOCK_N": 32, "BLOCK_C": 32, "BLOCK_K": 16, "num_warps": 8, "num_stages": 3}
PRECISIONS = ("ieee", "tf32")  # "ieee": fp32 products (the reference's partition); "tf32": tensor cores


def _check(p: torch.Tensor, log_p: torch.Tensor, name: str, precision: str,
           precisions=PRECISIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and their logs as contiguous fp32 (n, m) matrices, and a known precision (certified_kl's too)."""
    if p.dim() != 2 or p.shape != log_p.shape:
        raise SettingError(f"{name}: rows and their logs must be matching (n, m) matrices, got "
                         f"{tuple(p.shape)} and {tuple(log_p.shape)}")
    if precision not in precisions:
        raise SettingError(f"{name}: precision must be one of {', '.join(precisions)}, got {precision!r}")
    return p.float().contiguous(), log_p.float().contiguous()


def _within_tau(p, log_p, e_p, q, log_q, e_q, tau, symmetric, precision) -> torch.Tensor:
    n_p, m = p.shape
    n_q = q.shape[0]
    block = WITHIN_TAU["BLOCK"]
    out = torch.empty(n_p, n_q, dtype=torch.int8, device=p.device)
    ti, tj = triton.cdiv(n_p, block), triton.cdiv(n_q, block)
    if symmetric:  # tiles on and above the diagonal only
        tiles = torch.triu_indices(ti, tj, device=p.device).T
    else:
        tiles = torch.cartesian_prod(torch.arange(ti, device=p.device), torch.arange(tj, device=p.device))
    tiles = tiles.to(torch.int32).contiguous()
    count = ti * (ti + 1) // 2 if symmetric else ti * tj
    pairs = n_p * (n_p + 1) // 2 if symmetric else n_p * n_q  # both cross terms of each pair, tiles unpadded
    cost = Cost(flops=4 * pairs * m, bytes=8 * (n_p + (0 if symmetric else n_q)) * m + n_p * n_q)
    launch(_within_tau_kernel, (count,), p, log_p, e_p.float().contiguous(), q, log_q, e_q.float().contiguous(),
           out, tiles, n_p, n_q, m, float(tau), cost=cost, SYMMETRIC=symmetric, PRECISION=precision, **WITHIN_TAU)
    return out.view(torch.bool)


def within_tau(p: torch.Tensor, log_p: torch.Tensor, tau: float, *, precision: str = "ieee") -> torch.Tensor:
    """(D(P, P) <= tau) as a bool (n, n) matrix; only the tiles on and above the diagonal are computed."""
    p, log_p = _check(p, log_p, "within_tau", precision)
    e = neg_entropy(p, log_p)
    return _within_tau(p, log_p, e, p, log_p, e, tau, True, precision)


def within_tau_rows_triton(idx: torch.Tensor, s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor,
                           tau: float, *, precision: str = "ieee") -> torch.Tensor:
    """Rows `idx` of (D(S, S) <= tau): (len(idx), n), the D2 rows of leader candidates."""
    s, log_s = _check(s, log_s, "within_tau_rows", precision)
    return _within_tau(s[idx].contiguous(), log_s[idx].contiguous(), e_s[idx], s, log_s, e_s, tau, False,
                       precision)


def assign(prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor, *,
           precision: str = "ieee") -> torch.Tensor:
    """Index of the nearest centroid (smallest D; ties: the lowest index) for every row of prob."""
    prob, log_prob = _check(prob, log_prob, "assign", precision)
    if centroids.dim() != 2 or centroids.shape[1] != prob.shape[1]:
        raise SettingError(f"assign: centroids must be (K, {prob.shape[1]}), got {tuple(centroids.shape)}")
    cent = centroids.float().contiguous()
    log_c = safe_log(cent)
    n, m = prob.shape
    k = cent.shape[0]
    out = torch.empty(n, dtype=torch.int64, device=prob.device)
    launch(_kl_argmin_kernel, (triton.cdiv(n, KL_ARGMIN["BLOCK_N"]),),
           prob, log_prob, neg_entropy(prob, log_prob).contiguous(), cent, log_c,
           neg_entropy(cent, log_c).contiguous(), out, n, k, m,
           cost=Cost(flops=4 * n * k * m, bytes=8 * (n + k) * m + 8 * n), PRECISION=precision, **KL_ARGMIN)
    return out
