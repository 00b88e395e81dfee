"""OpenVINO runs the ONNX artifact: the reference's q, k in fp32, its labels on a clip, and a lower precision
only where the CPU has it, and only when asked."""
import numpy as np
import pytest
import torch

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.errors import SettingError
from attnseg.export import openvino_runtime

pytestmark = pytest.mark.skipif(openvino_runtime.available() is not None,
                                reason=f"openvino cannot run here: {openvino_runtime.available()}")


def segmenter(backend: str, **changes) -> Segmenter:
    return Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16", qk_gain=8.0,
                                     config=SegmentSettings(resolution=(48, 80), backend=backend, **changes))


def test_openvino_gives_the_labels_of_the_reference_front_end(artifact_cache):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, 3 * t, axis=1) for t in range(6)])
    eager, openvino = segmenter("eager"), segmenter("openvino")
    assert openvino.backend == "openvino"
    want, got = eager.segment_video(frames), openvino.segment_video(frames)
    np.testing.assert_array_equal(got.labels, want.labels)
    images = torch.randn(3, 3, 48, 80)
    with torch.inference_mode():
        q0, k0 = eager.frontend(images)
        q1, k1 = openvino_runtime.OpenVinoRunner(next((artifact_cache / "artifacts").glob("*.onnx")),
                                                 torch.device("cpu"))(images)
    torch.testing.assert_close(q1, q0, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(k1, k0, rtol=1e-4, atol=1e-5)


def test_bf16_is_refused_where_the_cpu_has_no_bf16(monkeypatch):
    monkeypatch.setattr(openvino_runtime, "capabilities", lambda: ("FP32", "INT8"))
    with pytest.raises(SettingError, match="no bf16 instructions"):
        openvino_runtime.check_precision("bf16")
    with pytest.raises(SettingError, match="fp32, or bf16"):
        openvino_runtime.check_precision("fp16")
    openvino_runtime.check_precision("fp32")
    monkeypatch.setattr(openvino_runtime, "capabilities", lambda: ("FP32", "BF16", "INT8"))
    openvino_runtime.check_precision("bf16")  # asked for, and the CPU has it


def test_fp32_is_pinned_so_the_runtime_never_lowers_it_by_itself(artifact_cache):
    runner = segmenter("openvino").run_frontend
    while not isinstance(runner, openvino_runtime.OpenVinoRunner):  # wrappers hold the runner they wrap in .run
        runner = runner.run
    assert runner.config["INFERENCE_PRECISION_HINT"] == "f32" and runner.precision == "fp32"
