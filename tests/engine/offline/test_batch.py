"""Batches of videos: one finished folder per video, skipped on a re-run; failures recorded, never lost output."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.engine.offline.batch import output_names, process_video, run_batch
from attnseg.model import WeightsInfo
from tests.conftest import tiny_frontend


def segmenter() -> Segmenter:
    return Segmenter(tiny_frontend(), WeightsInfo("random"), SegmentSettings(resolution=(48, 64), tau=0.001))


def make_videos(root, count=3, frames=5):
    from attnseg.engine.synthetic import synthetic_clip

    videos = []
    for v in range(count):
        folder = root / f"clip{v}"
        folder.mkdir(parents=True)
        clip, _ = synthetic_clip(frames, 60, 80)
        for i, f in enumerate(clip):
            Image.fromarray(np.roll(f, 9 * v, axis=1)).save(folder / f"{i:03d}.png")
        videos.append(str(folder))
    return videos


def test_each_video_gets_a_finished_folder_and_a_rerun_skips_it(tmp_path):
    videos = make_videos(tmp_path / "in")
    seg = segmenter()
    records = list(run_batch(seg, videos, tmp_path / "out"))
    assert [r["status"] for r in records] == ["done"] * 3
    for video, r in zip(videos, records):
        dest = tmp_path / "out" / f"clip{videos.index(video)}"
        assert json.loads((dest / "result.json").read_text())["frames"] == 5
        assert np.array_equal(np.load(dest / "labels.npy"), seg.segment_video(video).labels)
        assert len(list(dest.glob("*.png"))) == 5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip0", "clip1", "clip2"]  # no leftovers
    assert [r["status"] for r in run_batch(seg, videos, tmp_path / "out")] == ["skipped"] * 3


def test_a_long_video_is_chunked_in_a_batch_as_in_segment(tmp_path):
    from tests.engine.offline.test_pipeline import sharp_segmenter

    videos = make_videos(tmp_path / "in", count=1, frames=12)
    seg = sharp_segmenter(chunk=5)
    [record] = run_batch(seg, videos, tmp_path / "out")
    assert record["status"] == "done" and record["chunks"] == 3 and record["chunk_frames"] == 5
    linked = np.concatenate([c.labels for c in seg.iter_chunks(videos[0])])
    assert np.array_equal(np.load(tmp_path / "out" / "clip0" / "labels.npy"), linked)


def test_an_interrupted_video_leaves_nothing_and_is_redone(tmp_path, monkeypatch):
    videos = make_videos(tmp_path / "in", count=2)
    seg = segmenter()
    real, calls = seg.run_frontend, []

    def dies_on_the_second(images):  # one front-end batch per 5-frame video
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process being stopped mid-video
        return real(images)

    monkeypatch.setattr(seg, "run_frontend", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        list(run_batch(seg, videos, tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip0"]  # finished kept, nothing partial
    (tmp_path / "out" / ".clip1.partial-deadbeef").mkdir()  # what a SIGKILLed worker leaves behind
    monkeypatch.setattr(seg, "run_frontend", real)
    assert [r["status"] for r in run_batch(seg, videos, tmp_path / "out")] == ["skipped", "done"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip0", "clip1"]


def test_a_bad_video_is_recorded_and_the_batch_goes_on(tmp_path):
    videos = make_videos(tmp_path / "in", count=2)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_bytes(b"not a video")
    records = list(run_batch(segmenter(), [videos[0], str(bad), videos[1]], tmp_path / "out"))
    assert [r["status"] for r in records] == ["done", "failed", "done"]
    assert "broken.mp4" in records[1]["error"] and not (tmp_path / "out" / "broken").exists()


def test_colliding_names_and_foreign_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="would both write to 'clip/'"):
        output_names(["a/clip.mp4", "b/clip"])
    videos = make_videos(tmp_path / "in", count=1)
    (tmp_path / "out" / "clip0").mkdir(parents=True)
    (tmp_path / "out" / "clip0" / "mine.txt").write_text("keep me")
    record = process_video(segmenter(), videos[0], tmp_path / "out" / "clip0")
    assert record["status"] == "failed" and "not an attnseg result" in record["error"]
    assert (tmp_path / "out" / "clip0" / "mine.txt").read_text() == "keep me"
