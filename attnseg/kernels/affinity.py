"""Affinity kernel: the head-mean softmax rows A and log A without per-head attention in memory.

Reference: attnseg.model.affinity.affinity_ref (all heads materialized) and
attnseg.model.affinity.affinity (the blocked PyTorch path the engine runs).

Two passes, as flash attention's forward splits statistics from output:
1. `_softmax_stats_kernel`, one program per (block of query rows, head): an
   online max/sum over the key tiles gives each row's log-normalizer
   lse_h = logsumexp_j(logit_h[i, j]). Writes heads x n floats.
2. `_head_mean_kernel`, one program per (block of rows, tile of keys): for every
   head it recomputes the logits tile and folds the log-softmax values
   logit_h - lse_h into an online logsumexp over heads, so
   log A = logsumexp_h(log softmax_h) - log H and A = exp(log A).
   Only the (n, m) outputs reach memory: never heads x n x m.
Fusion boundary: the normalizer needs every key of a row before any output
entry is final, so a single pass would have to hold a row's whole output; the
second pass pays the logits twice (2 x 2 n m d H FLOPs, small beside the
clustering's n^2 m products) to keep memory O(n m).
log A comes from the logsumexp for every entry, so it is finite where all
heads underflow (A = 0) and as accurate as the reference's stable path.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from ..errors import SettingError
from ..model.affinity import Affinity, _heads_first, affinity_ref
from .launch import Cost, launch

__all__ = ["affinity", "affinity_ref"]


@triton.jit
def _softmax_stats_kernel(q_ptr, k_ptr, lse_ptr, n, m, d, scale,
                          BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
                          PRECISION: tl.constexpr):
    pid_n, head = tl.program_id(0).to(tl.int64), tl.program_id(1).to(tl.int64)  # 64-bit offsets throughout
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, BLOCK_D)
    q = tl.load(q_ptr + head * n * d + rows[:, None] * d + dims[None, :],
                mask=(rows[:, None] < n) & (dims[None, :] < d), other=0.0)
    row_max = tl.full((BLOCK_N,), float("-inf"), tl.float32)
    row_sum = tl.zeros((BLOCK_N,), tl.float32)
    for start in range(0, m, BLOCK_M):
        cols = start + tl.arange(0, BLOCK_M).to(tl.int64)
        k = tl.load(k_ptr + head * m * d + cols[None, :] * d + dims[:, None],
                    mask=(cols[None, :] < m) & (dims[:, None] < d), other=0.0)
        logits = tl.dot(q, k, input_precision=PRECISION) * scale
        logits = tl.where(cols[None, :] < m, logits, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(logits, axis=1))
        row_sum = row_sum * tl.exp(row_max - new_max) + tl.sum(tl.exp(logits - new_max[:, None]), axis=1)
        row_max = new_max
    tl.store(lse_ptr + head * n + rows, row_max + tl.log(row_sum), mask=rows < n)


@triton.jit
def _head_mean_kernel(q_ptr, k_ptr, lse_ptr, prob_ptr, log_prob_ptr, n, m, d, heads, scale, log_heads,
                      BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
                      PRECISION: tl.constexpr):
    pid_n, pid_m = tl.program_id(0).to(tl.int64), tl.program_id(1).to(tl.int64)  # rows * m passes 2^31
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    acc_max = tl.full((BLOCK_N, BLOCK_M), float("-inf"), tl.float32)
    acc_sum = tl.zeros((BLOCK_N, BLOCK_M), tl.float32)
    q_head, k_head = tl.cast(n, tl.int64) * d, tl.cast(m, tl.int64) * d  # one head's q and k, in elements
    for head in range(heads):
        q = tl.load(q_ptr + head * q_head + rows[:, None] * d + dims[None, :],
                    mask=(rows[:, None] < n) & (dims[None, :] < d), other=0.0)
        k = tl.load(k_ptr + head * k_head + cols[None, :] * d + dims[:, None],
                    mask=(cols[None, :] < m) & (dims[:, None] < d), other=0.0)
        lse = tl.load(lse_ptr + head * tl.cast(n, tl.int64) + rows, mask=rows < n, other=0.0)
        log_softmax = tl.dot(q, k, input_precision=PRECISION) * scale - lse[:, None]
        new_max = tl.maximum(acc_max, log_softmax)
        acc_sum = acc_sum * tl.exp(acc_max - new_max) + tl.exp(log_softmax - new_max)
        acc_max = new_max
    log_prob = acc_max + tl.log(acc_sum) - log_heads
    out = rows[:, None] * m + cols[None, :]
    mask = (rows[:, None] < n) & (cols[None, :] < m)
    tl.store(log_prob_ptr + out, log_prob, mask=mask)
    tl.store(prob_ptr + out, tl.exp(log_prob), mask=mask)


# Launch configuration: what the engine launches and the compile check compiles (compile_check.py).
# 32 x 32 output tiles: with 32 x 64 the fp32 head-mean kernel spilled 384 bytes a thread on sm_80.
AFFINITY = {"BLOCK_N": 32, "BLOCK_M": 32, "num_warps": 4, "num_stages": 3}
PRECISIONS = ("ieee", "tf32")


def affinity(q: torch.Tensor, k: torch.Tensor, scale: float, *, precision: str = "ieee") -> Affinity:
    """Triton affinity of query frames q (Tq, H, N, d) to key frames k (Tk, H, M, d).

    precision: "ieee" (fp32 products, the partition-preserving default) or
    "tf32" (tensor cores on GPU; changes A at ~1e-3 relative).
    """
    if q.dim() != 4 or k.dim() != 4 or q.shape[1] != k.shape[1] or q.shape[3] != k.shape[3]:
        raise SettingError(f"q (Tq, H, N, d) and k (Tk, H, M, d) must share H and d; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}")
    if precision not in PRECISIONS:
        raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    qh = _heads_first(q.float()).contiguous()
    kh = _heads_first(k.float()).contiguous()
    heads, n, d = qh.shape
    m = kh.shape[1]
    block_n, block_m = AFFINITY["BLOCK_N"], AFFINITY["BLOCK_M"]
    block_d = max(16, triton.next_power_of_2(d))
    lse = torch.empty(heads, n, dtype=torch.float32, device=q.device)
    prob = torch.empty(n, m, dtype=torch.float32, device=q.device)
    log_prob = torch.empty_like(prob)
    qk_bytes = 4 * heads * (n + m) * d
    launch(_softmax_stats_kernel, (triton.cdiv(n, block_n), heads), qh, kh, lse, n, m, d, scale,
           cost=Cost(flops=2 * heads * n * m * d, bytes=qk_bytes + 4 * heads * n),
           BLOCK_D=block_d, PRECISION=precision, **AFFINITY)
    launch(_head_mean_kernel, (triton.cdiv(n, block_n), triton.cdiv(m, block_m)),
           qh, kh, lse, prob, log_prob, n, m, d, heads, scale, math.log(heads),
           cost=Cost(flops=2 * heads * n * m * d, bytes=qk_bytes + 4 * heads * n + 8 * n * m),
           BLOCK_D=block_d, PRECISION=precision, **AFFINITY)
    return Affinity(prob, log_prob)
