"""Label PNGs, .npy labels, overlays, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attnseg.engine.outputs.drawing import davis_palette
from attnseg.engine.frames import read_clip
from attnseg.engine.masks import upsample_labels
from attnseg.engine.outputs.fanout import save_labels, write_label_pngs, write_overlay_video
from attnseg.files import atomic_path


def test_davis_palette_starts_like_davis():
    p = davis_palette()
    assert p[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert len({tuple(c) for c in p}) == 256


def test_png_round_trip(tmp_path):
    masks = np.arange(2 * 6 * 7).reshape(2, 6, 7) % 40
    paths = write_label_pngs(tmp_path, masks, ["00010", "00011"])
    assert [p.name for p in paths] == ["00010.png", "00011.png"]
    img = Image.open(paths[1])
    assert img.mode == "P" and img.getpalette()[3:6] == [128, 0, 0]
    np.testing.assert_array_equal(np.array(img), masks[1])


def test_a_whole_clips_pngs_close_their_folder(tmp_path):
    """write_label_pngs never closed its writer: the marker had no complete line and a ResourceWarning was raised."""
    import gc
    import warnings

    from attnseg.engine.outputs.fanout import MARKER, closed_pngs

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        write_label_pngs(tmp_path, np.zeros((3, 4, 5), np.int32), ["a", "b", "c"])
        gc.collect()
    assert closed_pngs(tmp_path)
    assert (tmp_path / MARKER).read_text().splitlines()[1:] == ["a", "b", "c", "# complete"]


def test_many_labels_fall_back_to_16_bit(tmp_path):
    masks = np.array([[[0, 300], [1, 65535]]])
    write_label_pngs(tmp_path, masks, ["a"])
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "a.png")), masks[0])


def test_labels_npy(tmp_path):
    labels = np.arange(24).reshape(2, 3, 4)
    save_labels(tmp_path / "x" / "l.npy", labels)
    got = np.load(tmp_path / "x" / "l.npy")
    assert got.dtype == np.int32 and np.array_equal(got, labels)


def test_atomic_write_keeps_nothing_on_failure(tmp_path):
    dest = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_upsample_nearest():
    labels = np.array([[[0, 1], [2, 3]]], dtype=np.int32)
    up = upsample_labels(labels, (4, 6))
    assert up.shape == (1, 4, 6)
    np.testing.assert_array_equal(up[0], [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2)


def test_overlay_video(tmp_path):
    frames = np.full((4, 32, 48, 3), 100, np.uint8)
    masks = np.zeros((4, 32, 48), np.int32)
    masks[:, :, 24:] = 1
    write_overlay_video(tmp_path / "o.mp4", frames, masks, 5.0)
    clip = read_clip(tmp_path / "o.mp4")
    assert clip.frames.shape == (4, 32, 48, 3)
    assert abs(int(clip.frames[0, 16, 5, 0]) - int(clip.frames[0, 16, 40, 0])) > 20  # two colours
