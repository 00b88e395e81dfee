"""The greedy leader merge on the device: the sequential choice in one kernel, the rest in tensor ops.

Reference beside it: attnseg.model.clustering.leader_merge, which takes the
first <= 64 unassigned rows as candidates, copies their (b x b) claim matrix
to the host and walks it in a Python loop (`choose_leaders`). Here:

- `_choose_leaders_kernel`: one program walks the b candidates in order with a
  b-wide `claimed` vector in registers. Candidate a leads when nothing
  claimed it; then its claim row (b bytes, L1-resident) is or-ed in. b steps
  of O(b) work, no host round trip. Fusion boundary: the claim rows come from
  the D2 kernel (attnseg.kernels.kl), which needs a grid of programs over
  the n columns; the choice needs one program that sees every candidate, so
  the (b x b) sub-matrix goes through memory (4 KiB).
- `leader_merge`: the candidates are the `block` smallest unassigned indices
  (a top-k, not `nonzero`, so their count never reaches the host), padded
  past the end; the owners of the claimed columns are resolved with dense
  (b x n) ops. The loop's only host sync is its end test, one per block.

The partition equals the reference's exactly: the same candidates in the
same order, the same claim rows, the same earliest-leader rule.
"""
from __future__ import annotations

from typing import Callable

import torch
import triton
import triton.language as tl

from ..errors import SettingError
from ..model.clustering import choose_leaders as choose_leaders_ref
from ..model.clustering import leader_merge as leader_merge_ref
from .launch import Cost, launch

__all__ = ["choose_leaders", "leader_merge", "choose_leaders_ref", "leader_merge_ref"]

BLOCK = 64  # candidates per block, as the reference
CHOOSE_LEADERS = {"num_warps": 1, "num_stages": 1}  # one program walks 64 candidates: one warp holds them


@triton.jit
def _choose_leaders_kernel(sub_ptr, lead_ptr, b, BLOCK: tl.constexpr):
    idx = tl.arange(0, BLOCK)
    claimed = tl.zeros((BLOCK,), tl.int32)
    lead = tl.zeros((BLOCK,), tl.int32)
    for a in range(0, b):
        free = tl.sum(tl.where(idx == a, 1 - claimed, 0))  # 1 when no earlier leader claimed a
        row = tl.load(sub_ptr + a * b + idx, mask=idx < b, other=0).to(tl.int32)
        claimed = claimed | (row * free)
        lead = tl.where(idx == a, free, lead)
    tl.store(lead_ptr + idx, lead.to(tl.int8), mask=idx < b)


def choose_leaders(sub: torch.Tensor) -> torch.Tensor:
    """Which of b candidates lead (bool (b,)), from their bool (b, b) claim matrix; on sub's device."""
    b = sub.shape[0]
    if sub.shape != (b, b) or b > BLOCK:
        raise SettingError(f"choose_leaders: a square claim matrix of at most {BLOCK} candidates, "
                         f"got {tuple(sub.shape)}")
    lead = torch.empty(b, dtype=torch.int8, device=sub.device)
    if b:
        launch(_choose_leaders_kernel, (1,), sub.contiguous().view(torch.int8), lead, b,
               cost=Cost(flops=0, bytes=b * b + b), BLOCK=BLOCK, **CHOOSE_LEADERS)
    return lead.view(torch.bool)


def leader_merge(n: int, within_tau: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                 block: int = BLOCK) -> torch.Tensor:
    """Greedy leader merge in row order (as the reference), with no host copy of any claim."""
    labels = torch.full((n,), -1, dtype=torch.long, device=device)
    unassigned = torch.ones(n, dtype=torch.bool, device=device)
    num_groups = torch.zeros((), dtype=torch.long, device=device)
    order = torch.arange(n, device=device)
    b = min(block, n)
    slots = torch.arange(b, device=device)
    while bool(unassigned.any()):  # the one host sync per block
        cand = torch.where(unassigned, order, n).topk(b, largest=False).values  # ascending, n = padding
        valid = cand < n
        cand = torch.where(valid, cand, cand[0])  # padding repeats a real row, masked out below
        rows = within_tau(cand) & unassigned & valid[:, None]
        rows[slots, cand] = valid  # a candidate claims itself
        lead = choose_leaders(rows[:, cand] & valid[None, :]) & valid
        lead_rows = rows & lead[:, None]
        owned = lead_rows.any(dim=0)
        first = lead_rows.to(torch.uint8).argmax(dim=0)  # the earliest leader claims a row
        rank = lead.cumsum(0) - 1  # a leader's group, counted in this block
        labels = torch.where(owned, num_groups + rank[first], labels)
        unassigned &= ~owned
        num_groups += lead.sum()
    return labels
