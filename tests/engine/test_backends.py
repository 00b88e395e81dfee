"""Front-end backends: every row of the table gives the reference's q, k; exported ones check their artifact."""
import pytest
import torch

from attnseg.engine import SegmentConfig, Segmenter
from attnseg.engine.backends import BACKENDS, BackendSpec, load_backend
from attnseg.export import FORMATS, export
from attnseg.export.exporter import FORMAT_OF_BACKEND
from tests.conftest import tiny_frontend

RES = (32, 48)


def _unavailable(name: str) -> str | None:
    return FORMATS[FORMAT_OF_BACKEND[name]].available() if name in FORMAT_OF_BACKEND else None


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_matches_the_eager_front_end(name, engine_cache):
    if _unavailable(name):
        pytest.skip(f"{name} cannot run here: {_unavailable(name)}")
    frontend = tiny_frontend()
    images = torch.randn(2, 3, *RES)
    run = load_backend(name, frontend, torch.device("cpu"), BackendSpec(RES))
    with torch.inference_mode():
        want, got = frontend(images), run(images)
    for w, g in zip(want, got):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    if name in FORMAT_OF_BACKEND:  # built into the cache once, then reused
        built = list((engine_cache / "engines").iterdir())
        assert built and all("tiny_s16_st_32x48_kinetics" in p.name for p in built)
        stamp = [p.stat().st_mtime_ns for p in built]
        load_backend(name, frontend, torch.device("cpu"), BackendSpec(RES))
        assert [p.stat().st_mtime_ns for p in built] == stamp


def test_an_engine_for_another_front_end_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export(tiny_frontend(seed=3), format="onnx", resolution=RES, out=tmp_path / "other.onnx").path
    with pytest.raises(ValueError, match="exported for another front-end: weights"):
        load_backend("onnxruntime", tiny_frontend(), torch.device("cpu"), BackendSpec(RES, engine=str(path)))
    with pytest.raises(ValueError, match="built in fp32, not the bf16 asked for"):
        load_backend("onnxruntime", tiny_frontend(seed=3), torch.device("cpu"),
                     BackendSpec(RES, engine=str(path), precision="bf16"))


def test_unknown_backend_or_kernels_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'tensorrtx'"):
        SegmentConfig(backend="tensorrtx")
    with pytest.raises(ValueError, match="unknown kernels 'cuda'"):
        SegmentConfig(kernels="cuda")
    with pytest.raises(ValueError, match="apply to the exported backends"):
        SegmentConfig(backend="eager", engine="fe.onnx")
    assert SegmentConfig(backend="torch").backend == "eager"


def test_result_names_its_backend():
    frames = torch.randint(0, 255, (2, 48, 64, 3), dtype=torch.uint8).numpy()
    seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16",
                                    config=SegmentConfig(resolution=(32, 48)))
    stats = seg.segment_video(frames).stats()
    assert stats["backend"] == "eager" and stats["kernels"] == "torch"
