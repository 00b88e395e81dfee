"""The pooled assignment: its bound holds against float64 on adversarial rows, its argmin is exact arithmetic's
(duplicates and near-equal centroids included), and partitions at 40 to 6000 clusters equal the reference's."""
import dataclasses

import pytest
import torch

from attnseg.kernels import certified as C
from attnseg.kernels import pooled as P
from attnseg.model import cluster_video
from attnseg.model.clustering import REFERENCE_OPS, assign_rows, safe_log
from tests.kernels.test_certified import LOADS, adversarial_rows, exact, random_qk


@pytest.mark.parametrize("group", [2, 3, 4, 16])
def test_the_pooled_bound_is_below_the_exact_distance(group):
    p, log_p = adversarial_rows(n=61, m=97)
    q, log_q = adversarial_rows(n=40, m=97, seed=5)
    low = P.lower_bounds(P.pool(p, log_p, group), P.pool(q, log_q, group)).double()
    d = exact(p, log_p, q, log_q)
    assert (low <= d).all(), (low - d).max()
    if group <= 4:  # not vacuous: many bounds hold half the distance or more (97 columns pooled to 7 hold less)
        assert (low > 0.5 * d).float().mean() > 0.3


def test_the_argmin_is_exact_with_duplicate_and_nearly_equal_centroids():
    p, log_p = adversarial_rows(n=300, m=53, seed=3)
    cent = p[[2, 9, 9, 30, 30]].clone()  # duplicates: equal distances keep the lowest index
    cent[4, 7] = torch.nextafter(cent[4, 7], torch.tensor(1.0))  # one ulp off centroid 3: only exact arithmetic
    cent[4, 8] = torch.nextafter(cent[4, 8], torch.tensor(0.0))  # decides which of them is nearer
    log_c = safe_log(cent)
    i, j = torch.meshgrid(torch.arange(len(p)), torch.arange(len(cent)), indexing="ij")
    want = C.exact_distance(p, log_p, cent, log_c, i.flatten(), j.flatten())[0].view(len(p), -1).argmin(dim=1)
    tally = C.Tally()
    labels = P.assign(p, log_p, cent, block=64, tally=tally)
    assert torch.equal(labels, want)
    assert not (labels == 2).any() and (labels == 3).any() and (labels == 4).any()
    assert tally.recomputed > 0  # the near-equal pair was recomputed exactly


@pytest.mark.parametrize("load", list(LOADS))
def test_partition_equals_the_reference(load):
    """40 to 6000 clusters (9 frames, 3 key frames): the pooled assignment gives the reference's labels."""
    tokens, gain, drift, low, high = LOADS[load]
    q, k = random_qk(9, tokens, gain, drift)
    want = cluster_video(q, k, 32 ** -0.5, ratio=3)
    assert low <= want.num_clusters <= high, want.num_clusters
    tally = C.Tally()
    ops = dataclasses.replace(REFERENCE_OPS, assign=lambda p, lp, c: P.assign(p, lp, c, tally=tally))
    got = cluster_video(q, k, 32 ** -0.5, ratio=3, ops=ops)
    assert torch.equal(got.labels, want.labels)
    assert tally.ties == 0 and tally.recomputed <= tally.entries


def test_rows_of_every_kind_against_the_reference_assignment():
    """Rows spread between peaked and flat, centroids of their own means: the same labels as assign_rows."""
    p, log_p = adversarial_rows(n=500, m=120, seed=7)
    p, log_p = p[p.sum(1) <= 1 + 1e-6], log_p[p.sum(1) <= 1 + 1e-6]
    cent = torch.stack([p[i::25].mean(0) for i in range(25)])
    assert torch.equal(P.assign(p, log_p, cent, block=37), assign_rows(p, log_p, cent))
