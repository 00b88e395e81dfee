"""Labels through an exported front-end equal labels through the reference, on real DAVIS frames."""
import numpy as np
import pytest

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.engine.frames import read_clip
from tests.conftest import davis_frames

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.parametrize("name,qk_gain", [("blackswan", 6.0), ("dog", 8.0)])
def test_onnxruntime_labels_equal_eager_labels(name, qk_gain, artifact_cache):
    """ViT-S/8 at 48x80, 10 frames: ORT's q, k differ from eager by ~1e-6 of their scale; no label
    may move (a move would have to be a tie at tau, and benchmarks/frontend_backends.py counts those)."""
    clip = read_clip(davis_frames(name))
    frames = clip.frames[:10]
    labels = {}
    for backend in ("eager", "onnxruntime"):
        seg = Segmenter.from_checkpoint(random_weights=True, qk_gain=qk_gain,
                                        config=SegmentSettings(resolution=(48, 80), ratio=5, backend=backend))
        result = seg.segment_video(frames)
        labels[backend] = result.labels
    assert result.num_clusters > 5
    assert np.array_equal(labels["eager"], labels["onnxruntime"])
