"""TensorRT: everything that does not need TensorRT itself (it cannot be installed here)."""
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from onnx import TensorProto, helper  # noqa: E402

from attnseg.export import export  # noqa: E402
from attnseg.export.tensorrt_export import available, parser_problems  # noqa: E402
from tests.conftest import tiny_frontend  # noqa: E402


def test_the_exported_graph_is_parseable_by_tensorrt(tmp_path):
    """Every op of the real export is one TensorRT 10's ONNX parser converts, with constant axes/weights."""
    result = export(tiny_frontend(), format="onnx", resolution=(32, 48), out=tmp_path / "fe.onnx")
    assert parser_problems(onnx.load(str(result.path), load_external_data=False)) == []


def test_parser_problems_catch_what_tensorrt_refuses():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nz"),
             helper.make_node("Squeeze", ["x", "axes_from_graph"], ["sq"], name="sq"),
             helper.make_node("Custom", ["x"], ["y"], name="cu", domain="my.ops")]
    graph = helper.make_graph(nodes, "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    problems = parser_problems(model)
    assert any("opset 21" in p for p in problems)
    assert any("op NonZero" in p for p in problems)
    assert any("Squeeze input 1 must be a constant" in p for p in problems)
    assert any("my.ops::Custom" in p for p in problems)


@pytest.mark.skipif(available() is None, reason="TensorRT is installed here: the build itself can be tested")
def test_without_tensorrt_export_says_why(tmp_path):
    with pytest.raises(ValueError, match="cannot export tensorrt here: TensorRT is not installed|needs a CUDA"):
        export(tiny_frontend(), format="tensorrt", resolution=(32, 48), out=tmp_path / "fe.plan")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(available() is not None, reason=f"UNVERIFIED here: {available()}")
def test_tensorrt_round_trip(tmp_path):  # pragma: no cover - needs TensorRT and a GPU
    frontend = tiny_frontend().cuda()
    result = export(frontend, format="tensorrt", resolution=(32, 48), out=tmp_path / "fe.plan", precision="fp16")
    assert result.relative_error < 2e-2 and torch.isfinite(torch.tensor(list(result.max_abs_error.values()))).all()
