"""Symmetric-KL kernels vs the reference: threshold matrices and the nearest centroid.

A float32 distance summed in another order than torch's GEMM can land on the other side of
tau (or swap two nearly equal centroids) only when it lies within rounding of it; every
disagreement must be such a tie, judged in float64.
"""
import pytest
import torch

pytest.importorskip("triton")
from attnseg.kernels.kl import (assign, assign_rows, within_tau, within_tau_matrix, within_tau_rows,  # noqa: E402
                                within_tau_rows_triton)
from attnseg.model.clustering import kl_distance, neg_entropy, safe_log  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.cuda  # the device suite runs these on the GPU


def rows(n: int, m: int, sharp: float, seed: int = 0, repeats: int = 0) -> torch.Tensor:
    """Distributions with clusters (near duplicates), some exact duplicates and exact zeros."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(max(1, n // 6), m, generator=g) * sharp
    logits = centres[torch.randint(0, centres.shape[0], (n,), generator=g)] + torch.randn(n, m, generator=g)
    p = torch.softmax(logits, dim=1)
    p[:repeats] = p[repeats:2 * repeats]  # identical rows: D = 0 exactly
    p[-1, : m // 2] = 0  # exact zeros
    return (p / p.sum(1, keepdim=True)).to(DEVICE)


def band(d64: torch.Tensor, p: torch.Tensor) -> float:
    """How far from tau a float32 distance can be wrong: ~m ulps of the largest summed term."""
    return 64 * p.shape[1] * torch.finfo(torch.float32).eps * max(1.0, d64.abs().max().item())


# (n, m): off the 32-wide tiles, smaller than one tile, one row.
SIZES = [(37, 45), (70, 130), (5, 33), (1, 16), (100, 64)]


@pytest.mark.parametrize("n,m", SIZES)
@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_within_tau_matches_reference(n, m, tau):
    p = rows(n, m, sharp=2.0, repeats=min(3, n // 2))
    lp = safe_log(p)
    got, want = within_tau(p, lp, tau), within_tau_matrix(p, lp, tau)
    assert got.dtype == torch.bool and got.shape == (n, n)
    d64 = kl_distance(p.double(), lp.double(), p.double(), lp.double())
    wrong = got != want
    assert ((d64[wrong] - tau).abs() <= band(d64, p)).all(), "a disagreement away from tau"
    assert torch.equal(got, got.T)  # computed once per pair
    assert wrong.sum() <= max(1, n * n // 1000)  # ties are rare


@pytest.mark.parametrize("n,m", SIZES)
def test_within_tau_rows_matches_reference(n, m):
    s = rows(n, m, sharp=1.5, seed=1)
    ls = safe_log(s)
    e = neg_entropy(s, ls)
    idx = torch.arange(0, n, 3, device=s.device)
    got, want = within_tau_rows_triton(idx, s, ls, e, 1.0), within_tau_rows(idx, s, ls, e, 1.0)
    d64 = kl_distance(s[idx].double(), ls[idx].double(), s.double(), ls.double())
    wrong = got != want
    assert got.shape == (idx.numel(), n) and ((d64[wrong] - 1.0).abs() <= band(d64, s)).all()
    # band() is wide where distances are large (rows with exact zeros): the count is what keeps ties honest. A
    # disagreement needs an fp32 distance within rounding of tau; a few per thousand pairs would be a bug.
    assert wrong.sum() <= max(1, wrong.numel() // 1000)


@pytest.mark.parametrize("n,m,k", [(37, 45, 1), (70, 130, 37), (100, 64, 33), (3, 16, 70)])
def test_assign_matches_reference(n, m, k):
    p = rows(n, m, sharp=2.0, seed=2)
    cents = rows(k, m, sharp=2.0, seed=3)
    if k > 2:
        cents[2] = cents[0]  # an exact tie: both must pick the lower index
    lp = safe_log(p)
    got, want = assign(p, lp, cents), assign_rows(p, lp, cents)
    assert got.dtype == torch.int64 and got.shape == (n,)
    d64 = kl_distance(cents.double(), safe_log(cents).double(), p.double(), lp.double())
    for i in (got != want).nonzero().flatten().tolist():  # only near-equal distances may swap
        assert abs(d64[got[i], i] - d64[want[i], i]) <= band(d64, p)
    assert (got != want).sum() <= max(1, n // 100)  # two centroids within rounding of each other: rare
    if k > 2:
        assert (got != 2).all()  # centroid 2 duplicates centroid 0: never chosen


def test_shape_errors_are_clear():
    p = rows(8, 16, 1.0)
    with pytest.raises(ValueError, match="matching"):
        within_tau(p, safe_log(p)[:, :8], 1.0)
    with pytest.raises(ValueError, match=r"centroids must be \(K, 16\)"):
        assign(p, safe_log(p), torch.ones(3, 8, device=p.device))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device and ~30 GB of its memory")
def test_offsets_past_two_to_the_31():
    """n * m >= 2^31 elements: 32-bit offsets (rows * m) would wrap and read the wrong rows."""
    n, m = 64, 2 ** 31 // 64 + 1024  # the rows' matrix alone has more than 2^31 elements
    g = torch.Generator(device="cuda").manual_seed(0)
    s = torch.rand(n, m, device="cuda", generator=g)
    s /= s.sum(1, keepdim=True)
    s[-1] = s[0]  # the last row duplicates the first: D = 0, within tau whatever the rounding
    ls = safe_log(s)
    e = neg_entropy(s, ls)
    idx = torch.tensor([n - 1], device="cuda")
    got = within_tau_rows_triton(idx, s, ls, e, 1e-3)
    assert got.shape == (1, n) and bool(got[0, 0]) and bool(got[0, n - 1])
    assert int(assign(s, ls, s[:2])[-1]) == 0  # the last row's columns lie past 2^31 elements
