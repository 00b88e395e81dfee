"""Reading clips: folders, videos, arrays, and every way they can be broken."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from attnseg.engine.frames import InputError, read_clip


def _write_video(path, frames, fps=10.0):
    h, w = frames.shape[1:3]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


def test_folder_is_sorted_by_name(tmp_path):
    for i in [10, 2, 1]:
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / f"f{i:02d}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    clip = read_clip(tmp_path)
    assert clip.names == ["f01", "f02", "f10"]
    assert clip.frames[:, 0, 0, 0].tolist() == [1, 2, 10]


def test_rgb_order(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200  # red
    Image.fromarray(img).save(tmp_path / "a.png")
    assert read_clip(tmp_path).frames[0, 0, 0].tolist() == [200, 0, 0]


def test_video_file(tmp_path):
    frames = np.zeros((5, 32, 48, 3), np.uint8)
    frames[:, :, :24] = 255
    _write_video(tmp_path / "v.mp4", frames)
    clip = read_clip(tmp_path / "v.mp4")
    assert clip.frames.shape == (5, 32, 48, 3) and clip.fps == pytest.approx(10.0)
    assert clip.frames[0, 10, 5].min() > 200 and clip.frames[0, 10, 40].max() < 50


def test_arrays():
    clip = read_clip(np.zeros((3, 8, 8, 3), np.uint8))
    assert len(clip) == 3 and clip.names == ["00000", "00001", "00002"]


@pytest.mark.parametrize("case,match", [
    ("missing", "input not found"),
    ("empty", "no image frames"),
    ("corrupt_frame", "cannot decode frame .*bad.png"),
    ("corrupt_video", "cannot open video|no decodable frames"),
    ("empty_video", "cannot open video|no decodable frames"),
    ("sizes", "all frames of a clip must share one size"),
])
def test_bad_inputs(tmp_path, case, match):
    target = tmp_path / "in"
    if case == "empty":
        target.mkdir()
    elif case == "corrupt_frame":
        target.mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(target / "a.png")
        (target / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif case == "corrupt_video":
        target = tmp_path / "v.mp4"
        target.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 100)
    elif case == "empty_video":
        target = tmp_path / "v.mp4"
        target.write_bytes(b"")
    elif case == "sizes":
        target.mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(target / "a.png")
        Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(target / "b.png")
    with pytest.raises(InputError, match=match):
        read_clip(target)


def test_bad_arrays():
    with pytest.raises(InputError, match="RGB uint8"):
        read_clip([np.zeros((8, 8), np.uint8)])
    with pytest.raises(InputError, match="no frames"):
        read_clip([])
