"""Hierarchical clustering: known partitions, the literal algorithm, order dependence, edge cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attnseg.model.affinity import Affinity, affinity, key_frame_indices, query_windows
from attnseg.model.clustering import (cluster_video, cluster_window, group_means, kl_distance, leader_merge,
                                      merge_levels, neighbour_average, safe_log)


def spec_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """SPEC 6 term by term, in float64, independent of the implementation: D(p, q) = sum (p - q)(log p - log q)
    between every row of p (n, c) and every row of q (m, c). log 0 = -inf: a term whose two entries are equal
    is 0, and a zero against a positive entry makes D infinite (the distributions' supports differ)."""
    p, q = p.double()[:, None, :], q.double()[None, :, :]
    terms = (p - q) * (torch.log(p) - torch.log(q))
    return torch.where(p == q, torch.zeros_like(terms), terms).sum(-1)


def naive_leader_merge(adj: np.ndarray) -> np.ndarray:
    """The released code's loop, literally: one row at a time."""
    n = len(adj)
    labels, free, k = np.full(n, -1), np.ones(n, bool), 0
    for i in range(n):
        if not free[i]:
            continue
        group = adj[i] & free
        group[i] = True
        labels[group], free[group], k = k, False, k + 1
    return labels


def naive_cluster_video(q, k, scale, ratio, tau, window=3):
    """SPEC 6 written as plainly as possible (full D2, per-row loops) on float64 distances."""
    keys = key_frame_indices(q.shape[0], ratio)
    windows = query_windows(q.shape[0], window)
    affs = [affinity(q[w.start:w.stop], k[keys], scale).prob.double() for w in windows]  # SPEC 5, tested apart

    cents = []
    for a in affs:
        near = (spec_distance(a, a) <= tau).double()
        near.fill_diagonal_(1)
        s = near @ a
        s = s / s.sum(1, keepdim=True)
        labels = naive_leader_merge((spec_distance(s, s) <= tau).numpy())
        cents += [s[labels == g].mean(0) for g in range(labels.max() + 1)]
    c = torch.stack(cents)
    while True:
        labels = naive_leader_merge((spec_distance(c, c) <= tau).numpy())
        if labels.max() + 1 == len(c):
            break
        c = torch.stack([c[labels == g].mean(0) for g in range(labels.max() + 1)])
    out = [spec_distance(c, a).argmin(0) for a in affs]
    return torch.cat(out).view(q.shape[0], -1), len(c)


@pytest.mark.parametrize("n,block", [(1, 64), (7, 1), (50, 3), (97, 64), (300, 16)])
@pytest.mark.parametrize("density", [0.02, 0.3])
def test_leader_merge_equals_literal_loop(n, block, density):
    rng = np.random.default_rng(n + block)
    a = rng.random((n, n)) < density
    adj = a | a.T  # symmetric, like D
    got = leader_merge(n, lambda idx, cols: torch.from_numpy(adj)[idx][:, cols], torch.device("cpu"), block=block)
    np.testing.assert_array_equal(got.numpy(), naive_leader_merge(adj))


def test_leader_merge_is_order_dependent_as_documented():
    """A chain 0-1-2 (D(0,2) > tau): the leader claims only its own neighbours."""
    adj = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool)
    run = lambda m: leader_merge(3, lambda idx, cols: torch.from_numpy(m)[idx][:, cols], torch.device("cpu")).tolist()
    assert run(adj) == [0, 0, 1]  # 0 leads {0, 1}; 2 is left for its own group
    rev = adj[::-1, ::-1].copy()  # the same graph with rows in reverse order
    assert run(rev) == [0, 0, 1]  # now 2 (first row) leads {2, 1} and 0 is alone
    mid = adj[[1, 0, 2]][:, [1, 0, 2]]  # 1 first: it claims everything
    assert run(mid) == [0, 0, 0]


def _peaked(centres: np.ndarray, members: list[int], noise: float, rng) -> torch.Tensor:
    rows = centres[members] + noise * rng.random((len(members), centres.shape[1]))
    return torch.from_numpy(rows / rows.sum(1, keepdims=True)).float()


def test_known_partition_of_hand_made_distributions(rng):
    """Three well separated distributions plus small noise: exactly three groups."""
    centres = np.full((3, 12), 0.01)
    for g in range(3):
        centres[g, 4 * g:4 * g + 4] = 1.0
    truth = rng.integers(0, 3, 40)
    p = _peaked(centres, list(truth), 0.05, rng)
    cents = cluster_window(Affinity(p, torch.log(p)), tau=1.0)
    assert cents.shape == (3, 12)
    final = merge_levels(cents, 1.0)
    d = kl_distance(final, safe_log(final), p, torch.log(p))
    labels = d.argmin(0).numpy()
    # the same partition as the truth, ids in order of first appearance
    _, first = np.unique(truth, return_index=True)
    relabel = {truth[i]: j for j, i in enumerate(sorted(first))}
    np.testing.assert_array_equal(labels, [relabel[t] for t in truth])


def test_neighbour_average_includes_itself():
    p = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    d = kl_distance(p, torch.log(p), p, torch.log(p))
    torch.testing.assert_close(neighbour_average(p, d <= 0.0), p)  # only itself within tau = 0
    torch.testing.assert_close(neighbour_average(p, d <= 100.0), torch.full((2, 2), 0.5))


def test_distance_is_finite_with_exact_zeros():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    d = kl_distance(p, safe_log(p), p, safe_log(p))
    assert torch.isfinite(d).all()
    assert d[0, 0].abs() < 1e-5 and d[0, 1] > 100  # disjoint supports: far apart, not NaN
    assert torch.log(p).isinf().any()  # what the released code would have fed in


def _qk(frames: int, tokens: int, gain: float, seed: int = 0):
    """q, k with a few latent 'objects': tokens share one of 4 directions plus noise."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.randn(4, 8, 16, generator=g)
    ids = torch.randint(0, 4, (frames, tokens), generator=g)
    base = proto[ids].permute(0, 2, 1, 3)  # (T, heads, N, d)
    q = (base + 0.3 * torch.randn(base.shape, generator=g)) * gain
    k = (base + 0.3 * torch.randn(base.shape, generator=g)) * gain
    return q, k


@pytest.mark.parametrize("frames,ratio", [(7, 3), (5, 10), (1, 10), (10, 4)])
@pytest.mark.parametrize("gain", [1.5, 4.0])
def test_cluster_video_equals_literal_algorithm(frames, ratio, gain):
    """Same partition as the literal SPEC 6 loops, incl. T < ratio, a single frame, a short last window."""
    q, k = _qk(frames, 24, gain)
    got = cluster_video(q, k, 16 ** -0.5, ratio=ratio, tau=1.0)
    want, k_want = naive_cluster_video(q, k, 16 ** -0.5, ratio, 1.0)
    assert got.labels.shape == (frames, 24)
    assert got.num_clusters == k_want
    np.testing.assert_array_equal(got.labels.numpy(), want.numpy())


def test_cluster_video_finds_the_planted_objects():
    q, k = _qk(6, 40, 3.0)
    res = cluster_video(q, k, 16 ** -0.5, ratio=3, tau=1.0)
    ids = torch.Generator().manual_seed(0)
    torch.randn(4, 8, 16, generator=ids)
    truth = torch.randint(0, 4, (6, 40), generator=ids)
    # every planted object maps to a single cluster, and different objects to different clusters
    pairs = {(int(t), int(l)) for t, l in zip(truth.flatten(), res.labels.flatten())}
    assert len(pairs) == 4 and len({t for t, _ in pairs}) == 4 and len({l for _, l in pairs}) == 4


def test_recomputed_affinities_give_the_same_labels():
    q, k = _qk(8, 20, 3.0)
    cached = cluster_video(q, k, 0.25, ratio=4)
    recomputed = cluster_video(q, k, 0.25, ratio=4, cache_bytes=0)
    assert torch.equal(cached.labels, recomputed.labels)


def test_no_nan_with_underflowing_attention():
    q, k = _qk(4, 16, 40.0)  # extremely peaked: most probabilities are exactly 0
    res = cluster_video(q, k, 0.25, ratio=2)
    assert res.labels.min() >= 0 and res.labels.max() < res.num_clusters


def test_negative_tau_is_refused():
    q, k = _qk(2, 4, 1.0)
    with pytest.raises(ValueError, match="tau"):
        cluster_video(q, k, 0.25, tau=-1.0)


@pytest.mark.parametrize("gain", [1.4, 1.5, 1.6])  # unstructured q/k: tens to ~200 clusters, several levels
def test_many_clusters_equal_literal_algorithm(gain):
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(8, 8, 30, 16, generator=g) * gain, torch.randn(8, 8, 30, 16, generator=g) * gain
    got = cluster_video(q, k, 0.25, ratio=3)
    want, k_want = naive_cluster_video(q, k, 0.25, 3, 1.0)
    assert got.num_clusters == k_want > 10
    np.testing.assert_array_equal(got.labels.numpy(), want.numpy())


def test_group_means_sum_in_row_order():
    """Centroids are plain means with each group's rows added in row order: the same bits every run."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 33, generator=g) * 10 ** torch.randint(-6, 3, (500, 1), generator=g)  # mixed scales
    labels = torch.randint(0, 7, (500,), generator=g)
    got = group_means(x, labels, 7)
    for c in range(7):
        rows = x[labels == c]
        total = torch.zeros(33)
        for r in rows:  # the sequential sum, one row after another
            total = total + r
        assert torch.equal(got[c], total / rows.shape[0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_group_means_on_cuda_are_deterministic_and_equal_the_cpu():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20000, 600, generator=g)
    labels = torch.randint(0, 37, (20000,), generator=g)
    want = group_means(x, labels, 37)
    runs = [group_means(x.cuda(), labels.cuda(), 37).cpu() for _ in range(5)]
    assert all(torch.equal(r, runs[0]) for r in runs)
    assert torch.equal(runs[0], want)


def test_d2_only_against_unassigned_columns_is_the_whole_rows_bit_for_bit():
    """The merge asks only for the columns still unassigned: each entry is the number the whole row has (the
    product's other shape changes no entry here), so the partition is unchanged."""
    from attnseg.model.clustering import REFERENCE_OPS, candidate_rows, neg_entropy, within_tau_rows

    g = torch.Generator().manual_seed(0)
    for n, m in ((450, 600), (150, 600), (1200, 1800)):
        s = torch.softmax(torch.randn(n, m, generator=g) * 3, -1)
        log_s = safe_log(s)
        e = neg_entropy(s, log_s)
        idx = torch.randperm(n, generator=g)[:64]
        cols = torch.sort(torch.randperm(n, generator=g)[: n // 3]).values
        assert torch.equal(within_tau_rows(idx, s, log_s, e, 1.0, cols),
                           within_tau_rows(idx, s, log_s, e, 1.0)[:, cols])
        whole = leader_merge(n, lambda i, c: within_tau_rows(i, s, log_s, e, 4.0)[:, c], torch.device("cpu"))
        asked = leader_merge(n, candidate_rows(REFERENCE_OPS, s, log_s, e, 4.0), torch.device("cpu"))
        assert torch.equal(whole, asked) and int(whole.max()) > 3
