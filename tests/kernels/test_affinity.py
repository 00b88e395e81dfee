"""Triton affinity vs the reference, judged against the error PyTorch itself makes in float32."""
import math

import pytest
import torch

pytest.importorskip("triton")
from attnseg.kernels.affinity import affinity, affinity_ref  # noqa: E402
from attnseg.model.affinity import head_logits  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.cuda  # the device suite runs these on the GPU


def qk(tq: int, tk: int, tokens: int, heads: int, dim: int, gain: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(tq, heads, tokens, dim, generator=g) * gain
    k = torch.randn(tk, heads, tokens, dim, generator=g)
    return q.to(DEVICE), k.to(DEVICE)


# (Tq, Tk, tokens, heads, head_dim, gain): token counts off the 32/64 blocks, one key frame,
# ST heads (8 x 48, padded to 64 in the kernel), DINO-only heads (6 x 64), a short last window.
def exact(q, k, scale):
    """The affinity in float64 (affinity_ref works in float32)."""
    logits = head_logits(q.double(), k.double(), scale)
    log_prob = torch.logsumexp(logits.log_softmax(-1), 0) - math.log(logits.shape[0])
    return logits.softmax(-1).mean(0), log_prob


SHAPES = [(3, 1, 37, 8, 48, 1.0), (3, 3, 20, 8, 48, 2.0), (1, 2, 70, 6, 64, 1.0), (2, 4, 13, 8, 48, 3.0)]


@pytest.mark.parametrize("shape", SHAPES)
def test_affinity_matches_reference(shape):
    q, k = qk(*shape)
    scale = shape[4] ** -0.5
    got = affinity(q, k, scale)
    oracle = dict(zip(("prob", "log_prob"), exact(q, k, scale)))
    torch_fp32 = affinity_ref(q, k, scale)
    # The kernel sums the d products of a logit in another order than torch's GEMM; both are
    # float32 with errors of the same order, so the kernel may be at most a few times torch's
    # own deviation from float64 (plus a floor of a few ulps of the largest value).
    for name in ("prob", "log_prob"):
        want = oracle[name]
        err_kernel = (getattr(got, name).double() - want).abs().max().item()
        err_torch = (getattr(torch_fp32, name).double() - want).abs().max().item()
        floor = 8 * torch.finfo(torch.float32).eps * want.abs().max().item()
        assert err_kernel <= 4 * err_torch + floor, (name, err_kernel, err_torch)
    torch.testing.assert_close(got.prob.sum(1).double(), torch.ones(got.prob.shape[0], dtype=torch.float64),
                               rtol=0, atol=1e-5)  # rows are distributions


def test_all_heads_underflowing_gives_zero_prob_and_finite_log():
    q, k = qk(3, 2, 24, 8, 48, gain=40.0)  # logits ~ +-300: most of a row underflows in every head
    got = affinity(q, k, 48 ** -0.5)
    _, log_prob = exact(q, k, 48 ** -0.5)
    assert (got.prob == 0).any() and torch.isfinite(got.log_prob).all()
    # log A of underflowed entries is large and negative (~ -1e3); float32 logits of that size
    # carry ~1e-4 absolute error, so compare relatively to float64.
    torch.testing.assert_close(got.log_prob.double(), log_prob, rtol=1e-5, atol=1e-3)


def test_bad_shapes_are_refused():
    q, k = qk(3, 2, 16, 8, 48, 1.0)
    with pytest.raises(ValueError, match="share H and d"):
        affinity(q, k[:, :4], 0.1)
    with pytest.raises(ValueError, match="precision"):
        affinity(q, k, 0.1, precision="fp8")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="TF32 needs a CUDA device (the interpreter computes it in fp32)")
def test_tf32_path_errs_like_torch_tf32():
    """The opt-in tensor-core path: its error may be a few times torch's own TF32 error."""
    q, k = qk(3, 2, 70, 8, 48, 2.0)
    scale = 48 ** -0.5
    want, _ = exact(q, k, scale)
    got = affinity(q, k, scale, precision="tf32")
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        torch_tf32 = affinity_ref(q, k, scale)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    err_kernel = (got.prob.double() - want).abs().max().item()
    err_torch = (torch_tf32.prob.double() - want).abs().max().item()
    assert err_kernel <= 4 * err_torch + 1e-6, (err_kernel, err_torch)
