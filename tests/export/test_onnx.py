"""ONNX export: the graph, its metadata, ONNX Runtime parity, and the refusals."""
import json

import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from attnseg.export import export, identity_of, load, read_meta  # noqa: E402
from attnseg.export.exporter import FP32_TOLERANCE  # noqa: E402
from attnseg.export.metadata import META_KEY  # noqa: E402
from tests.conftest import tiny_frontend  # noqa: E402

RES = (32, 48)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    frontend = tiny_frontend()
    out = tmp_path_factory.mktemp("onnx") / "fe.onnx"
    return frontend, export(frontend, format="onnx", resolution=RES, out=out, max_batch=6)


def test_graph_is_static_in_space_dynamic_in_batch(exported):
    _, result = exported
    model = onnx.load(str(result.path), load_external_data=False)
    onnx.checker.check_model(str(result.path))  # with its external data
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, *RES] and isinstance(dims[0], str)
    assert [o.name for o in model.graph.output] == ["q", "k"]
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    ops = {n.op_type for n in model.graph.node}
    assert "Resize" not in ops  # the positional embedding is baked, not interpolated in the graph
    assert "LayerNormalization" in ops  # one node per LayerNorm, which TensorRT can pin to fp32
    assert result.path.with_name("fe.onnx.data").stat().st_size > 1e6  # weights live beside the graph


def test_metadata_is_embedded(exported):
    frontend, result = exported
    props = {p.key: p.value for p in onnx.load(str(result.path), load_external_data=False).metadata_props}
    meta = json.loads(props[META_KEY])
    assert meta["arch"] == "tiny_s16" and meta["mode"] == "st" and tuple(meta["resolution"]) == RES
    assert meta["normalization"] == "kinetics" and meta["precision"] == "fp32" and meta["extra"]["opset"] == 17
    assert read_meta(result.path).identity() == identity_of(frontend, RES, "kinetics")


@pytest.mark.parametrize("batch", [1, 3, 6, 8])  # 8 > max_batch 6: split into two calls
def test_onnxruntime_matches_the_reference(exported, batch):
    frontend, result = exported
    run = load(result.path, expect=identity_of(frontend, RES, "kinetics"), threads=1)
    images = torch.randn(batch, 3, *RES, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        want = frontend(images)
    got = run(images)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == torch.float32
        # float32 with another summation order: ~1e-6 of the scale; the export itself refuses > FP32_TOLERANCE
        assert (g - w).abs().max().item() <= 1e-5 * w.abs().max().item()
    assert result.relative_error < FP32_TOLERANCE and max(result.max_abs_error.values()) > 0


def test_another_front_end_is_refused(exported):
    frontend, result = exported
    with pytest.raises(ValueError, match=r"resolution 32x48 \(this run: 48x64\)"):
        load(result.path, expect=identity_of(frontend, (48, 64), "kinetics"))
    with pytest.raises(ValueError, match=r"weights .* \(this run: weights"):
        load(result.path, expect=identity_of(tiny_frontend(seed=1), RES, "kinetics"))
    with pytest.raises(ValueError, match="normalization kinetics"):
        load(result.path, expect=identity_of(frontend, RES, "imagenet"))


def test_bad_files_give_one_clear_error(exported, tmp_path):
    _, result = exported
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "none.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x00not a model" * 10)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        load(corrupt)
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(result.path.read_bytes())  # the graph without its .data
    with pytest.raises(ValueError, match="lonely.onnx.data is missing"):
        load(lonely)


def test_export_refuses_bad_requests(tmp_path):
    frontend = tiny_frontend()
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose from onnx, tensorrt, aoti"):
        export(frontend, format="tflite", resolution=RES, out=tmp_path / "x.tflite")
    with pytest.raises(ValueError, match="ends in .onnx"):
        export(frontend, format="onnx", resolution=RES, out=tmp_path / "x.plan")
    with pytest.raises(ValueError, match="onnx supports precision fp32, not fp16"):
        export(frontend, format="onnx", resolution=RES, out=tmp_path / "x.onnx", precision="fp16")
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        export(frontend, format="onnx", resolution=(30, 48), out=tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_gpu_export_is_checked_where_onnxruntime_can_run_it(monkeypatch):
    """Without onnxruntime's CUDA provider, `export --device cuda` checks its artifact on the CPU (the
    graph is the same) instead of failing after writing it; with the provider, on the GPU."""
    from attnseg.export import onnx_export

    monkeypatch.setattr(onnx_export, "cuda_provider", lambda: False)
    assert onnx_export.check_device(torch.device("cuda")).type == "cpu"
    monkeypatch.setattr(onnx_export, "cuda_provider", lambda: True)
    assert onnx_export.check_device(torch.device("cuda")).type == "cuda"
    assert onnx_export.check_device(torch.device("cpu")).type == "cpu"
