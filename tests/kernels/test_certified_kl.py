"""The certified Triton kernels (interpreted on a CPU, compiled on a GPU): every decision is exact
arithmetic's, as the PyTorch certified path's, for each precision, including rows built to sit at tau."""
import pytest
import torch

from attnseg.model import cluster_video
from attnseg.model.clustering import ClusterOps, safe_log
from tests.kernels.test_certified import adversarial_rows, exact, random_qk, rows_at_tau

triton = pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.cuda  # the device suite runs these on the GPU

from attnseg.kernels import certified as C  # noqa: E402
from attnseg.kernels import certified_kl as K  # noqa: E402


def on(*tensors):
    return [t.to(DEVICE) for t in tensors]


@pytest.mark.parametrize("precision", K.PRECISIONS)
@pytest.mark.parametrize("n,m", [(70, 97), (33, 200), (1, 5)])
def test_threshold_rows_and_argmin_are_exact(precision, n, m):
    p, log_p = on(*adversarial_rows(n=n, m=m, seed=n))
    want = exact(p, log_p, p, log_p)
    tau = float(want[want > 0].median()) * (1 + 1e-6) if n > 1 else 1.0  # the median itself is one D
    tally = C.Tally()
    near = K.within_tau(p, log_p, tau, precision=precision, tally=tally)
    assert torch.equal(near.cpu(), (want <= tau).fill_diagonal_(True).cpu())
    idx = torch.arange(0, n, 3, device=DEVICE)
    rows = K.within_tau_rows(idx, p, log_p, None, tau, precision=precision)
    assert torch.equal(rows.cpu(), (want[idx] <= tau).cpu())
    cent = p[torch.tensor([0, n // 2, n // 2, n - 1], device=DEVICE)].clone()  # a duplicate: lowest index wins
    labels = K.assign(p, log_p, cent, precision=precision, tally=tally)
    assert torch.equal(labels.cpu(), exact(p, log_p, cent, safe_log(cent)).argmin(dim=1).cpu())
    assert tally.entries == n * (n + 1) // 2 + 4 * n


@pytest.mark.parametrize("precision", K.PRECISIONS)
def test_rows_at_tau_are_recomputed(precision):
    p, log_p = on(*rows_at_tau())
    tally = C.Tally()
    near = K.within_tau(p, log_p, 1.0, precision=precision, tally=tally)
    assert torch.equal(near.cpu(), (exact(p, log_p, p, log_p) <= 1.0).fill_diagonal_(True).cpu())
    assert tally.recomputed >= 4  # the pairs within 1e-5 of tau: no fp32 product decides them


@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_partition_equals_the_reference(precision):
    """114 clusters (6 frames of 120 tokens, 2 key frames) through the kernels: the reference's partition."""
    q, k = on(*random_qk(6, 120, 0.7, 0.3))
    want = cluster_video(q, k, 32 ** -0.5, ratio=3)
    tally = C.Tally()
    ops = ClusterOps(within_tau=lambda p, lp, tau: K.within_tau(p, lp, tau, precision=precision, tally=tally),
                     within_tau_rows=lambda *a: K.within_tau_rows(*a, precision=precision, tally=tally),
                     assign=lambda *a: K.assign(*a, precision=precision, tally=tally), tally=tally)
    got = cluster_video(q, k, 32 ** -0.5, ratio=3, ops=ops)
    assert 90 <= want.num_clusters <= 120 and torch.equal(got.labels, want.labels)


def test_a_bad_precision_or_shape_is_refused():
    p, log_p = adversarial_rows(n=4, m=5)
    with pytest.raises(ValueError, match="ieee, tf32, tf32x3, bf16, bf16x3"):
        K.within_tau(p, log_p, 1.0, precision="fp8")
    with pytest.raises(ValueError, match="matching"):
        K.within_tau(p, log_p[:, :3], 1.0)
