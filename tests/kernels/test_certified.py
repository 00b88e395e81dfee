"""Certified decisions: the bound holds against float64 on adversarial rows, every decision is exact
arithmetic's (also for rows built to sit at tau), and partitions equal the fp32 reference's."""
import pytest
import torch

from attnseg.kernels import certified as C
from attnseg.model import cluster_video
from attnseg.model.clustering import safe_log, within_tau_matrix

PRECISIONS = [("fp32", False), ("bf16", False), ("bf16", True), ("bf16x3", True), ("tf32", True), ("tf32x3", True)]


def adversarial_rows(n: int = 61, m: int = 97, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Peaked and flat rows, rows with entries underflowed to 0 (log clamped to -87.3), and rows summing
    a few ulps above 1 (so a log may be > 0): every case the bound's terms must cover."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, m, generator=g) * torch.logspace(-2, 2.2, n)[:, None]  # flat ... very peaked
    p = logits.softmax(dim=1)
    p[::7, :5] = 0  # underflowed entries
    p[3::11] *= 1 + 4 * 2.0 ** -24  # sums just above 1
    p[3::11, 0] = 1.0000001  # an entry above 1: log > 0
    return p, safe_log(p)


def exact(p, log_p, q, log_q) -> torch.Tensor:
    p, log_p, q, log_q = p.double(), log_p.double(), q.double(), log_q.double()
    e_p, e_q = (p * log_p).sum(1), (q * log_q).sum(1)
    return e_p[:, None] + e_q[None, :] - p @ log_q.T - (q @ log_p.T).T


@pytest.mark.parametrize("name,emulate", PRECISIONS)
def test_the_bound_holds_against_float64(name, emulate):
    p, log_p = adversarial_rows()
    cert = C.Certifier(C.precision(name), emulate, C.Tally())
    kappa = cert.kappa(p.shape[1])
    e, f = C.row_terms(p, log_p, kappa, p.sum(1).max())
    bound = C.bound_of(kappa, 1.0)
    x = cert.product(p, log_p) + cert.product(p, log_p).T
    got = (e[:, None] + e[None, :] - x).double()
    slack = (f[:, None] + f[None, :] - bound.k1 * x.clamp_max(0)).double()
    err = (got - exact(p, log_p, p, log_p)).abs()
    assert (err <= slack).all(), (err - slack).max()
    if name != "fp32":  # not vacuous: the worst error seen is within 200x of the bound (a worst case over m terms)
        assert err.max() > slack.max() / 200


def rows_at_tau(tau: float = 1.0, m: int = 64, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (p, q) whose exact D sits at tau +- 1e-2 ... 1e-6: q = (1 - t) p + t r, t found by bisection."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for offset in (1e-2, -1e-2, 1e-3, -1e-3, 1e-4, -1e-4, 1e-5, -1e-5, 3e-6, -3e-6):
        p = torch.randn(m, generator=g).mul(2).softmax(0).double()
        r = torch.randn(m, generator=g).mul(2).softmax(0).double()
        lo, hi = 0.0, 1.0
        for _ in range(80):
            t = (lo + hi) / 2
            q = (1 - t) * p + t * r
            d = ((p - q) * (p.log() - q.log())).sum().item()
            lo, hi = (t, hi) if d < tau + offset else (lo, t)
        rows += [p.float(), ((1 - t) * p + t * r).float()]
    p = torch.stack(rows)
    return p, safe_log(p)


@pytest.mark.parametrize("name,emulate", PRECISIONS)
def test_decisions_are_exact_at_tau(name, emulate):
    p, log_p = rows_at_tau()
    tally = C.Tally()
    near = C.within_tau(C.Certifier(C.precision(name), emulate, tally), p, log_p, 1.0)
    want = exact(p, log_p, p, log_p) <= 1.0
    want.fill_diagonal_(True)
    assert torch.equal(near, want)
    assert tally.recomputed >= 4  # the pairs at 1e-5 and closer cannot be decided by any fp32 product
    if name == "bf16":
        assert tally.recomputed >= 8
    # the fp32 reference may differ from exact arithmetic only on a tie: an entry whose exact D lies within
    # fp32's rounding of tau (m terms, each product and sum rounded: 2 m ulps of the terms' magnitude), and
    # every such entry was recomputed and counted as a tie
    fp32 = within_tau_matrix(p, log_p, 1.0) | torch.eye(len(p), dtype=torch.bool)
    wrong = fp32 != want
    d = exact(p, log_p, p, log_p)
    p64, l64 = p.double(), log_p.double()
    e = (p64 * l64).sum(1).abs()
    cross = (p64 @ l64.T).abs()
    magnitude = e[:, None] + e[None, :] + cross + cross.T + 1.0
    assert ((d[wrong] - 1.0).abs() <= 2 * p.shape[1] * 2.0 ** -24 * magnitude[wrong]).all()
    assert int(wrong.sum()) <= tally.ties


@pytest.mark.parametrize("name,emulate", PRECISIONS)
def test_rows_and_argmin_are_exact(name, emulate):
    p, log_p = adversarial_rows(n=40, m=53, seed=3)
    cert = C.Certifier(C.precision(name), emulate, C.Tally())
    idx = torch.tensor([0, 5, 17, 39])
    want = exact(p[idx], log_p[idx], p, log_p)
    tau = float(want[want > 0].median()) * (1 + 1e-6)  # in the thick of the distances, not on one
    got = C.within_tau_rows(cert, idx, p, log_p, None, tau)
    assert torch.equal(got, want <= tau)
    cent = p[[2, 9, 9, 30]].clone()  # a duplicate centroid: equal distances keep the lowest index
    labels = C.assign(cert, p, log_p, cent)
    assert torch.equal(labels, exact(p, log_p, cent, safe_log(cent)).argmin(dim=1))
    assert not (labels == 2).any()


def random_qk(frames: int, tokens: int, gain: float, drift: float, seed: int = 0):
    """Seeded q, k: tokens drift around a base from frame to frame; `gain` sharpens the attention."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, 6, tokens, 32, generator=g)
    q = (base + drift * torch.randn(frames, 6, tokens, 32, generator=g)) * gain
    k = base + drift * torch.randn(frames, 6, tokens, 32, generator=g)
    return q, k


LOADS = {"46 clusters": (300, 0.7, 0.3, 40, 60), "195 clusters": (300, 0.8, 0.3, 150, 250),
         "2364 clusters": (300, 1.0, 1.0, 2000, 2700), "~6000 clusters": (680, 1.0, 1.0, 5000, 6120)}


@pytest.mark.parametrize("load,name,emulate", [
    *[(load, name, emulate) for load in list(LOADS)[:3]
      for name, emulate in [("bf16", False), ("bf16", True), ("tf32", True)]],
    ("~6000 clusters", "bf16", True)])
def test_partition_equals_the_reference(load, name, emulate):
    """40 to 6000 clusters (9 frames, 3 key frames): the certified partition is the fp32 reference's."""
    tokens, gain, drift, low, high = LOADS[load]
    q, k = random_qk(9, tokens, gain, drift)
    want = cluster_video(q, k, 32 ** -0.5, ratio=3)
    assert low <= want.num_clusters <= high, want.num_clusters
    ops = C.certified_ops(name, emulate=emulate)
    got = cluster_video(q, k, 32 ** -0.5, ratio=3, ops=ops)
    assert torch.equal(got.labels, want.labels)
    assert got.num_clusters == want.num_clusters and got.level1_clusters == want.level1_clusters
    assert ops.tally.ties <= ops.tally.recomputed <= ops.tally.entries


def test_partition_on_a_davis_clip(davis_small_qk):
    q, k = davis_small_qk(8.0)
    want = cluster_video(q, k, 48 ** -0.5, ratio=5)
    got = cluster_video(q, k, 48 ** -0.5, ratio=5, ops=C.certified_ops("bf16", emulate=True))
    assert want.num_clusters > 100 and torch.equal(got.labels, want.labels)


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="fp32, bf16, bf16x3, tf32, tf32x3"):
        C.certified_ops("fp8")
