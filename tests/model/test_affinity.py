"""Affinity rows: head-mean softmax, stable log, key frames and windows."""
from __future__ import annotations

import math

import pytest
import torch
import torch.utils._pytree
from torch.utils._python_dispatch import TorchDispatchMode

from attnseg.model.affinity import affinity, affinity_ref, key_frame_indices, query_windows


@pytest.mark.parametrize("gain", [1.0, 30.0])  # 30: most probabilities underflow to exactly 0
def test_affinity_matches_literal_formulation(gain):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 8, 13, 48, generator=g) * gain
    k = torch.randn(2, 8, 17, 48, generator=g) * gain
    got, want = affinity(q, k, 48 ** -0.5), affinity_ref(q, k, 48 ** -0.5)
    assert got.prob.shape == (39, 34)
    torch.testing.assert_close(got.prob, want.prob, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got.prob.sum(1), torch.ones(39))
    assert torch.isfinite(got.log_prob).all()
    # log A: exact to float32 rounding where A is normal; the logsumexp path elsewhere
    torch.testing.assert_close(got.log_prob, want.log_prob, rtol=1e-5, atol=1e-4)
    if gain > 1:
        assert (got.prob == 0).any() and got.log_prob.min() < -200  # underflowed yet finite


def test_row_and_column_order():
    """Rows (frame, token); columns (key frame, token): a query equal to one key attends to it."""
    d = 4
    k = torch.zeros(2, 1, 3, d)
    k[0, 0, :, :3] = torch.eye(3) * 50
    k[1, 0, :, 3] = 50
    q = torch.zeros(2, 1, 3, d)
    q[1, 0, 2] = k[0, 0, 1]  # query frame 1, token 2 -> key frame 0, token 1
    q[0, 0, 0, 3] = 50  # query frame 0, token 0 -> key frame 1 (every token equally)
    a = affinity(q, k, 1.0).prob
    assert a[1 * 3 + 2].argmax() == 1 and a[1 * 3 + 2, 1] > 0.99
    torch.testing.assert_close(a[0, 3:], torch.full((3,), 1 / 3))


def test_key_frames():
    assert key_frame_indices(30, 10) == [0, 10, 20]
    assert key_frame_indices(29, 10) == [0, 10]
    assert key_frame_indices(5, 10) == [0]  # T < ratio: frame 0 (the released code has none)
    assert key_frame_indices(1, 10) == [0]
    with pytest.raises(ValueError):
        key_frame_indices(0, 10)


def test_windows():
    assert [list(w) for w in query_windows(7)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(w) for w in query_windows(1)] == [[0]]


def test_log_is_logsumexp_of_heads():
    q, k = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4)
    got = affinity(q, k, 0.5)
    torch.testing.assert_close(got.log_prob, torch.log(got.prob))
    assert math.isclose(float(got.prob.sum()), 3.0, rel_tol=1e-6)


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any operation creates while active."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_underflowing_rows_are_recomputed_in_bounded_blocks():
    """Every row underflows (peaked attention): the stable log is recomputed for all of them, in blocks
    of the same logit budget as the softmax, never heads x n x m at once (13 GB for a 320x480 window
    with 8 key frames on a GPU), and with the same values as one big block."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 8, 40, 48, generator=g) * 40
    k = torch.randn(4, 8, 60, 48, generator=g) * 40
    n, m, heads = 120, 240, 8
    whole = affinity(q, k, 48 ** -0.5, chunk_elems=heads * n * m)
    with _LargestTensor() as seen:
        blocked = affinity(q, k, 48 ** -0.5, chunk_elems=4 * m)
    assert (whole.prob < 1e-30).any(dim=1).all()  # the stable path ran for every row
    # the outputs, one block across the heads, or the inputs' copies; never heads x n x m
    assert seen.largest <= max(n * m, 4 * m * heads, q.numel(), k.numel()) < heads * n * m
    torch.testing.assert_close(blocked.prob, whole.prob, rtol=0, atol=0)
    # logits of ~1e4 carry float32 rounding that depends on the BLAS blocking: a few ulps of the largest
    torch.testing.assert_close(blocked.log_prob, whole.log_prob, rtol=0,
                               atol=8 * torch.finfo(torch.float32).eps * whole.log_prob.abs().max().item())
