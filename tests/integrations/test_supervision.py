"""supervision Detections from segmented frames, checked with the real package's own functions and annotators."""
from __future__ import annotations

import numpy as np
import pytest

sv = pytest.importorskip("supervision", reason="supervision not installed (pip install 'attnseg[sv]')")

from attnseg.engine.offline.pipeline import FrameResult  # noqa: E402
from attnseg.engine.outputs.fanout import OutputFrame  # noqa: E402
from attnseg.errors import InputError  # noqa: E402
from attnseg.integrations.supervision import to_detections  # noqa: E402


def label_map(rng, height=37, width=53) -> np.ndarray:
    """Ids 3, 7, 40 and 1000 in blocks and specks, id 5 absent."""
    m = np.full((height, width), 3, np.int32)
    m[5:20, 10:30] = 7
    m[rng.integers(0, height, 9), rng.integers(0, width, 9)] = 40
    m[height - 1, width - 1] = 1000
    return m


def test_each_id_is_one_detection_with_its_mask_box_and_area(rng):
    m = label_map(rng)
    d = to_detections(FrameResult(12, "00012", m[::4, ::4], m))
    assert d.tracker_id.tolist() == [3, 7, 40, 1000] and len(d) == 4
    assert d.mask.shape == (4, *m.shape) and d.mask.dtype == bool
    for i, obj in enumerate(d.tracker_id):
        assert np.array_equal(d.mask[i], m == obj)
        assert d.data["area"][i] == (m == obj).sum()
    np.testing.assert_array_equal(d.xyxy, sv.mask_to_xyxy(d.mask))  # supervision's own boxes of the masks
    np.testing.assert_array_equal(d.area, d.data["area"])  # supervision's area: of the masks
    assert d.class_id.tolist() == [0] * 4 and d.confidence is None
    assert d.metadata == {"index": 12, "name": "00012", "carried": False}
    assert not d.data["carried"].any() and list(d.data["class_name"]) == ["object"] * 4


def test_min_area_leaves_out_the_specks_and_indexing_keeps_every_field(rng):
    m = label_map(rng)
    d = to_detections(m, min_area=20)
    assert d.tracker_id.tolist() == [3, 7]
    kept = d[d.tracker_id == 7]  # supervision's indexing keeps the data arrays aligned
    ys, xs = np.nonzero(m == 7)
    assert kept.data["area"].tolist() == [len(ys)] and kept.xyxy.tolist() == [[xs.min(), ys.min(), xs.max(), ys.max()]]


def test_a_carried_stream_frame_says_so_and_annotators_draw_it(rng):
    m = label_map(rng)
    frame = OutputFrame(4, "00004", m[::4, ::4], m, image=np.zeros((*m.shape, 3), np.uint8), carried=True)
    d = to_detections(frame)
    assert d.metadata["carried"] and d.data["carried"].all()
    scene = frame.image.copy()
    lookup = sv.ColorLookup.TRACK
    scene = sv.MaskAnnotator(color_lookup=lookup, opacity=1.0).annotate(scene, d)
    scene = sv.BoxAnnotator(color_lookup=lookup, thickness=1).annotate(scene, d)
    scene = sv.LabelAnnotator(color_lookup=lookup).annotate(scene, d, labels=[f"#{t}" for t in d.tracker_id])
    assert scene.shape == frame.image.shape and (scene[6:19, 11:29] != 0).any(axis=-1).all()  # id 7 painted


def test_a_stream_result_of_the_runtime_converts():
    from attnseg.engine.live.sources import ArraySource
    from tests.engine.live.test_runtime import engine, frames

    results = list(engine().stream(ArraySource(frames(4))))
    for r in results:
        d = to_detections(r)
        assert d.metadata["index"] == r.frame_id and set(d.tracker_id) == set(np.unique(r.mask))
        assert d.mask.any(axis=0).all() and d.data["area"].sum() == r.mask.size  # the objects tile the frame


def test_anything_else_is_one_clear_error():
    with pytest.raises(InputError, match="cannot make Detections of a str"):
        to_detections("frame.png")
    with pytest.raises(InputError, match=r"\(H, W\)"):
        to_detections(np.zeros((2, 3, 4), np.int32))


def test_the_docs_example_annotates_a_clip(synthetic_folder, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    example = Path(__file__).resolve().parents[2] / "examples" / "supervision_annotate.py"
    out = tmp_path / "annotated.mp4"
    run = subprocess.run([sys.executable, str(example), str(synthetic_folder), str(out), "--random-weights",
                          "--resolution", "48", "64", "--min-area", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 7 and int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80


def test_the_example_takes_the_arch_of_its_weights(tmp_path, synthetic_folder):
    """The example ran only the default ViT; a newcomer with the demo's small ViT had no flag for it."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "supervision_annotate.py"
    run = subprocess.run([sys.executable, str(example), str(synthetic_folder), str(tmp_path / "a.mp4"),
                          "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48", "--min-area", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and (tmp_path / "a.mp4").stat().st_size > 0, run.stderr[-2000:]
