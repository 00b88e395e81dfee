"""`export --format triton-repo`: every config.pbtxt parsed against Triton's schema (tritonclient), the layout
checked, and the python model's per-camera state driven through a stand-in for triton_python_backend_utils
that serves BLS calls with the repository's own ONNX front-end. The server itself never runs here."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch

pytest.importorskip("tritonclient.grpc", reason="tritonclient not installed (pip install 'attnseg[serving]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from google.protobuf import json_format  # noqa: E402

from attnseg.engine import SegmentSettings, Segmenter, StreamSettings, StreamRuntime  # noqa: E402
from attnseg.engine.live.sources import ArraySource  # noqa: E402
from attnseg.export.triton_repo import export_triton_repo, validate_repository  # noqa: E402
from attnseg.model import WeightsInfo  # noqa: E402
from tests.conftest import tiny_frontend  # noqa: E402

RES, STREAM = (48, 64), StreamSettings(memory=2, max_age=10)
CLIP = SegmentSettings(resolution=RES, window=3, ratio=2, tau=0.001)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    out = tmp_path_factory.mktemp("triton") / "repo"
    export_triton_repo(tiny_frontend(), out=out, resolution=RES, max_batch=8, stream=STREAM, segment=CLIP)
    return out


def test_configs_parse_against_tritons_schema_and_match_the_graph(repo):
    models = validate_repository(repo)
    assert set(models) == {"attnseg", "attnseg_frontend"}
    fe, seq = models["attnseg_frontend"], models["attnseg"]
    assert fe.platform == "onnxruntime_onnx" and fe.max_batch_size == 8 and fe.HasField("dynamic_batching")
    assert [i.name for i in fe.input] == ["images"] and list(fe.input[0].dims) == [3, 48, 64]
    assert seq.backend == "python" and seq.HasField("sequence_batching") and not seq.HasField("dynamic_batching")
    controls = {c.name: c.control[0].kind for c in seq.sequence_batching.control_input}
    assert set(controls) == {"START", "END", "CORRID"}
    assert seq.parameters["frontend_model"].string_value == "attnseg_frontend"
    assert (repo / "attnseg_frontend" / "1" / "model.onnx.data").is_file()


def test_a_broken_repository_is_named(repo, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(repo, bad)
    cfg = bad / "attnseg" / "config.pbtxt"
    cfg.write_text(cfg.read_text().replace("CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_BEGIN"))
    with pytest.raises(ValueError, match="not a valid Triton model config"):
        validate_repository(bad)
    cfg.write_text(cfg.read_text().replace("CONTROL_SEQUENCE_BEGIN", "CONTROL_SEQUENCE_START")
                   .replace('string_value: "attnseg_frontend"', 'string_value: "nowhere"'))
    with pytest.raises(ValueError, match="front-end model 'nowhere'"):
        validate_repository(bad)
    fe = bad / "attnseg_frontend" / "config.pbtxt"
    fe.write_text(fe.read_text().replace("dims: [ 3, 48, 64 ]", "dims: [ 3, 64, 48 ]"))
    with pytest.raises(ValueError, match="the ONNX graph has"):
        validate_repository(bad)
    with pytest.raises(ValueError, match="already exists"):
        export_triton_repo(tiny_frontend(), out=repo, resolution=RES)


# -- the python model, through a stand-in for Triton's python backend ------------------------------------

class _Tensor:
    def __init__(self, name, array):
        self.name, self.array = name, np.asarray(array)

    def as_numpy(self):
        return self.array

    def to_dlpack(self):
        return torch.utils.dlpack.to_dlpack(torch.from_numpy(np.ascontiguousarray(self.array)))


class _Response:
    def __init__(self, output_tensors=(), error=None):
        self.output_tensors, self._error = list(output_tensors), error

    def has_error(self):
        return self._error is not None

    def error(self):
        return self._error


class _Error:
    def __init__(self, message):
        self._message = message

    def message(self):
        return self._message


def _backend_utils(repo, calls):
    """triton_python_backend_utils as far as the model uses it; BLS runs the repo's ONNX on ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(repo / "attnseg_frontend" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])

    class InferenceRequest:
        def __init__(self, model_name, requested_output_names, inputs):
            self.model_name, self.outputs, self.inputs = model_name, requested_output_names, inputs

        def exec(self):
            assert self.model_name == "attnseg_frontend"
            images = {t.name: t.as_numpy() for t in self.inputs}
            calls.append(images["images"].shape[0])
            return _Response([_Tensor(n, a) for n, a in zip(self.outputs, session.run(self.outputs, images))])

    pb = types.ModuleType("triton_python_backend_utils")
    pb.Tensor, pb.InferenceResponse, pb.TritonError, pb.InferenceRequest = _Tensor, _Response, _Error, InferenceRequest
    pb.TritonModelException = RuntimeError
    pb.get_input_tensor_by_name = lambda request, name: request[name]
    pb.get_output_tensor_by_name = lambda response, name: next(t for t in response.output_tensors if t.name == name)
    return pb


def _request(frame, corrid, start=False, end=False):
    return {"FRAME": _Tensor("FRAME", frame[None]), "START": _Tensor("START", np.array([[int(start)]], np.int32)),
            "END": _Tensor("END", np.array([[int(end)]], np.int32)),
            "CORRID": _Tensor("CORRID", np.array([[corrid]], np.uint64))}


def _model(repo, monkeypatch, calls):
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _backend_utils(repo, calls))
    namespace = {}
    exec((repo / "attnseg" / "1" / "model.py").read_text(), namespace)  # the repository's own model.py
    model = namespace["TritonPythonModel"]()
    config = validate_repository(repo)["attnseg"]
    model.initialize({"model_config": json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True)),
                      "model_instance_kind": "CPU", "model_instance_device_id": "0"})
    return model


def test_two_cameras_keep_separate_state_and_match_the_streaming_runtime(repo, monkeypatch):
    calls = []
    model = _model(repo, monkeypatch, calls)
    rng = np.random.default_rng(5)
    clips = {11: rng.integers(0, 255, (7, 60, 80, 3), dtype=np.uint8),
             22: rng.integers(0, 255, (5, 50, 70, 3), dtype=np.uint8)}
    got = {c: {} for c in clips}
    for t in range(7):  # both cameras in one batch while both are live, as the sequence batcher sends them
        batch = [(c, _request(clip[t], c, start=t == 0, end=t == len(clip) - 1))
                 for c, clip in clips.items() if t < len(clip)]
        for (c, _), response in zip(batch, model.execute([r for _, r in batch])):
            assert not response.has_error()
            out = {t.name: t.as_numpy() for t in response.output_tensors}
            assert out["LABELS"].shape[:2] == out["FRAME_INDEX"].shape  # (1, n, H0, W0) and (1, n)
            for i, labels in zip(out["FRAME_INDEX"][0], out["LABELS"][0]):
                got[c][int(i)] = labels
    assert calls == [2, 2, 2, 2, 2, 1, 1]  # one front-end call per batch, every camera's frame in it
    assert model.sequences == {}  # END freed both cameras' state
    seg = Segmenter(tiny_frontend(), WeightsInfo("random"), CLIP)
    for c, clip in clips.items():
        want = [r.mask for r in StreamRuntime(seg, STREAM).stream(ArraySource(clip), drop="wait")]
        assert sorted(got[c]) == list(range(len(clip)))
        assert all(np.array_equal(got[c][i], w) for i, w in enumerate(want))
        assert max(np.unique(w).size for w in want) > 1


def test_a_request_without_state_is_an_error_response_and_others_go_on(repo, monkeypatch):
    model = _model(repo, monkeypatch, [])
    frame = np.zeros((60, 80, 3), np.uint8)
    responses = model.execute([_request(frame, 5), _request(frame, 6, start=True)])
    assert responses[0].has_error() and "must carry START" in responses[0].error().message()
    assert not responses[1].has_error() and 6 in model.sequences
