"""AOTInductor packages: compiled here (C++ on CPU), loaded back, checked against the reference."""
import pytest
import torch

from attnseg.export import export, identity_of, load  # noqa: E402
from attnseg.export.aoti_export import available  # noqa: E402
from tests.conftest import tiny_frontend  # noqa: E402

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))
RES = (32, 48)


@pytest.mark.parametrize("precision,bound", [("fp32", 1e-5), ("bf16", 3e-2)])
def test_aoti_round_trip(tmp_path, precision, bound):
    """fp32: reassociation only. bf16: 8-bit mantissas through 2 blocks, LayerNorm in fp32 (autocast)."""
    frontend = tiny_frontend()
    result = export(frontend, format="aoti", resolution=RES, out=tmp_path / "fe.pt2", precision=precision,
                    max_batch=4)
    assert result.meta.extra["device"] == "cpu" and result.meta.precision == precision
    run = load(result.path, expect=identity_of(frontend, RES, "kinetics"))
    images = torch.randn(5, 3, *RES, generator=torch.Generator().manual_seed(0))  # 5 > max_batch: two calls
    with torch.inference_mode():
        want = frontend(images)
    for g, w in zip(run(images), want):
        assert g.shape == w.shape and g.dtype == torch.float32
        assert (g - w).abs().max().item() <= bound * w.abs().max().item()


def test_aoti_metadata_must_travel_with_it(tmp_path):
    frontend = tiny_frontend()
    result = export(frontend, format="aoti", resolution=RES, out=tmp_path / "fe.pt2")
    result.path.with_name("fe.pt2.meta.json").unlink()
    with pytest.raises(ValueError, match="fe.pt2.meta.json is missing"):
        load(result.path)


def test_cuda_builds_need_the_cuda_toolkit(monkeypatch):
    """On CUDA, AOTInductor compiles against the toolkit's headers: without one the export ends in one
    clear line before anything is written (not a RuntimeError from deep inside Inductor)."""
    from torch.utils import cpp_extension

    from attnseg.export.aoti_export import toolkit_missing

    assert toolkit_missing(torch.device("cpu")) is None
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    assert "CUDA_HOME" in toolkit_missing(torch.device("cuda"))
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", "/usr/local/cuda")
    assert toolkit_missing(torch.device("cuda")) is None
