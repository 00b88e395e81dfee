"""Front-end backends: every row of the table gives the reference's q, k."""
import pytest
import torch

from attnseg.engine import SegmentConfig, Segmenter
from attnseg.engine.backends import BACKENDS, load_backend
from attnseg.model import build_frontend


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_matches_the_eager_front_end(name):
    frontend, _ = build_frontend("vit_small_16", random_weights=True)
    frontend.eval()
    images = torch.randn(2, 3, 32, 48)
    run = load_backend(name, frontend, torch.device("cpu"))
    with torch.inference_mode():
        want, got = frontend(images), run(images)
    for w, g in zip(want, got):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_unknown_backend_or_kernels_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'tensorrtx'"):
        SegmentConfig(backend="tensorrtx")
    with pytest.raises(ValueError, match="unknown kernels 'cuda'"):
        SegmentConfig(kernels="cuda")


def test_result_names_its_backend():
    frames = torch.randint(0, 255, (2, 48, 64, 3), dtype=torch.uint8).numpy()
    seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16",
                                    config=SegmentConfig(resolution=(32, 48)))
    stats = seg.segment_video(frames).stats()
    assert stats["backend"] == "eager" and stats["kernels"] == "torch"
