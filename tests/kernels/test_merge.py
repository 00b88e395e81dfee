"""The device leader merge vs the reference: the same leaders, the same partition, exactly."""
import pytest
import torch

pytest.importorskip("triton")
from attnseg.kernels.merge import choose_leaders, choose_leaders_ref, leader_merge, leader_merge_ref  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.cuda  # the device suite runs these on the GPU


def claims(n: int, density: float, seed: int) -> torch.Tensor:
    """A symmetric bool 'D <= tau' matrix with its diagonal set, like a real D2."""
    g = torch.Generator().manual_seed(seed)
    near = torch.rand(n, n, generator=g) < density
    near = near | near.T | torch.eye(n, dtype=torch.bool)
    return near.to(DEVICE)


@pytest.mark.parametrize("b,density", [(1, 0.5), (7, 0.3), (64, 0.05), (64, 0.5), (33, 0.0), (20, 1.0)])
def test_choose_leaders_matches_reference(b, density):
    sub = claims(b, density, seed=b)
    assert torch.equal(choose_leaders(sub).cpu(), choose_leaders_ref(sub))


def test_choose_leaders_is_sequential():
    """0 claims 1, 1 would claim 2 but is claimed first, so 2 leads: a parallel rule gets this wrong."""
    sub = torch.eye(3, dtype=torch.bool)
    sub[0, 1] = sub[1, 0] = sub[1, 2] = sub[2, 1] = True
    assert choose_leaders(sub.to(DEVICE)).cpu().tolist() == [True, False, True]


def test_choose_leaders_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at most 64"):
        choose_leaders(torch.ones(65, 65, dtype=torch.bool))


# n below, at and off the 64-candidate block; empty to full neighbourhoods; blocks of other sizes.
@pytest.mark.parametrize("n,density,block", [(1, 0.3, 64), (50, 0.1, 64), (64, 0.02, 64), (65, 0.02, 64),
                                             (200, 0.01, 64), (200, 0.2, 64), (130, 0.0, 64), (90, 1.0, 64),
                                             (150, 0.03, 16)])
def test_leader_merge_matches_reference(n, density, block):
    near = claims(n, density, seed=n)
    within = lambda idx, cols=None: near[idx] if cols is None else near[idx][:, cols]  # noqa: E731
    got = leader_merge(n, within, torch.device(DEVICE), block=block)
    want = leader_merge_ref(n, within, torch.device(DEVICE), block=block)
    assert torch.equal(got, want)
    assert int(got.max()) + 1 == len(torch.unique(got))  # labels 0..K-1, every group non-empty
