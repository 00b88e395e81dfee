"""Long videos in chunks: one chunk is the paper's pipeline exactly; ids are linked across chunks, never reused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.engine.offline.planning import memory_needed, plan_chunk
from attnseg.settings import AUTO_CHUNK, SINGLE_PIECE_MAX
from attnseg.engine.frames import FrameReader
from attnseg.engine.synthetic import synthetic_clip
from attnseg.errors import InputError, SettingError
from attnseg.model import WeightsInfo
from tests.conftest import tiny_frontend


def sharp_segmenter(gain: float = 20.0, **config) -> Segmenter:
    """A tiny random front-end whose ST q/k are scaled so the clip splits into tens of clusters."""
    frontend = tiny_frontend()
    with torch.no_grad():
        frontend.st.qk.weight.mul_(gain)
    return Segmenter(frontend, WeightsInfo("random"), SegmentSettings(resolution=(48, 64), ratio=3, **config))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return synthetic_clip(24, 60, 80)[0]


def test_one_piece_is_the_single_piece_pipeline(frames):
    seg = sharp_segmenter()
    ref = seg.segment_video(frames)
    assert ref.num_clusters > 20
    for chunk in (None, 24, 100):  # auto plans one piece for a short clip; a chunk covering the clip is one piece
        out = list(seg.iter_video(frames, chunk=chunk))
        assert [f.index for f in out] == list(range(24)) and [f.name for f in out] == ref.names
        assert np.array_equal(np.stack([f.labels for f in out]), ref.labels)
        assert np.array_equal(np.stack([f.mask for f in out]), ref.masks)


def test_each_chunk_is_the_paper_pipeline_on_its_frames_and_ids_refine_it(frames):
    seg = sharp_segmenter()
    parts = list(seg.iter_chunks(frames, chunk=10))
    assert [(p.start, len(p)) for p in parts] == [(0, 10), (10, 10), (20, 4)]
    assert np.array_equal(parts[0].labels, seg.segment_video(frames[:10]).labels)  # first chunk: ids = clusters
    seen = set(np.unique(parts[0].labels))
    for part in parts[1:]:
        ref = seg.segment_video(frames[part.start:part.start + len(part)])
        assert part.clusters == ref.num_clusters
        # one id per cluster of the chunk's own clustering (a split object may share one): a coarsening of it
        pairs = np.unique(np.stack([ref.labels.ravel(), part.labels.ravel()]), axis=1)
        assert len(np.unique(pairs[0])) == pairs.shape[1]
        new = set(np.unique(part.labels)) - seen
        previous_next = parts[part.index - 1].next_id
        assert all(previous_next <= i < part.next_id for i in new)  # new ids count up, never reused
        seen |= set(np.unique(part.labels))


def test_an_object_seen_again_keeps_its_id(frames):
    seg = sharp_segmenter()
    parts = list(seg.iter_chunks(np.concatenate([frames[:8], frames[:8]]), chunk=8))
    assert len(np.unique(parts[0].labels)) > 20
    assert np.array_equal(parts[0].labels, parts[1].labels)  # the same frames again: every id linked
    assert parts[1].next_id == parts[0].next_id  # and none handed out anew


def test_resuming_with_the_linker_state_equals_an_uninterrupted_run(frames):
    seg = sharp_segmenter()
    whole = list(seg.iter_chunks(frames, chunk=6))
    rest = list(seg.iter_chunks(frames, chunk=6, start=12, link=whole[1].link))
    assert [p.index for p in rest] == [2, 3]
    for a, b in zip(whole[2:], rest):
        assert np.array_equal(a.labels, b.labels) and a.next_id == b.next_id
    with pytest.raises(SettingError, match="chunk boundary"):
        next(seg.iter_chunks(frames, chunk=6, start=5))


def test_linker_memory_stays_bounded(frames):
    seg = sharp_segmenter(link_max_age=1)
    clip = np.concatenate([frames, frames[::-1]] * 3)  # 144 frames
    sizes = []
    for part in seg.iter_chunks(clip, chunk=6):
        sizes.append(sum(t["queries"].shape[0] for t in part.link["tracks"]))
    limit = 2 * max(p for p in sizes[:4]) * 2  # tracks of the last two chunks at most, each at most link_tokens
    assert max(sizes) <= limit and max(sizes) <= 64 * part.next_id


def test_a_folder_that_breaks_midway_yields_what_came_before(tmp_path, frames):
    for i, f in enumerate(frames[:14]):
        Image.fromarray(f).save(tmp_path / f"{i:03d}.png")
    (tmp_path / "009.png").write_bytes(b"not an image")
    seg = sharp_segmenter()
    parts, chunks = [], seg.iter_chunks(tmp_path, chunk=4)
    with pytest.raises(InputError, match="009.png"):
        for part in chunks:
            parts.append(part)
    assert [(p.start, len(p)) for p in parts] == [(0, 4), (4, 4), (8, 1)]  # frame 8 read before the broken one


def test_frame_reader_streams_folders_videos_and_arrays(tmp_path, frames):
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12, (80, 60))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    reader = FrameReader(video)
    assert reader.info.count == 24 and reader.info.fps == 12
    assert [n for n, _ in reader.frames(20)] == ["00020", "00021", "00022", "00023"]
    assert len(list(reader)) == 24 and len(list(reader)) == 24  # each pass decodes again
    assert len(list(FrameReader(frames).frames(5))) == 19
    once = FrameReader(iter(frames))
    assert once.info.count is None and len(list(once)) == 24
    with pytest.raises(InputError, match="read only once"):
        list(once)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut.avi broke at frame \d+ of the 24"):
        list(FrameReader(cut))
    with pytest.raises(InputError, match="not found"):
        FrameReader(tmp_path / "missing.mp4")


def test_plan_chunk():
    seg = sharp_segmenter()
    big = 1 << 40
    assert plan_chunk(seg, 24, None, big) == 24  # short: one piece, the paper's
    assert plan_chunk(seg, SINGLE_PIECE_MAX, None, big) == SINGLE_PIECE_MAX
    assert plan_chunk(seg, 300, None, big) == 100  # balanced: 3 chunks of 100, not 120 + 120 + 60
    assert plan_chunk(seg, 18000, None, big) == AUTO_CHUNK
    assert plan_chunk(seg, None, None, big) == AUTO_CHUNK  # unknown length
    assert plan_chunk(seg, 18000, 50, big) == 50
    assert plan_chunk(seg, 18000, 0, big) == 18000  # one piece forced, and it fits
    assert memory_needed(seg, 18000) > 20 * memory_needed(seg, 120)  # one piece grows with the length
    small = memory_needed(seg, 40) / 0.8
    assert plan_chunk(seg, 18000, None, small) <= 40  # auto shrinks its chunks to the memory at hand
    with pytest.raises(SettingError, match=r"one piece of 18000 frames needs about .* GiB.*chunk = 120"):
        plan_chunk(seg, 18000, 0, small)
    with pytest.raises(SettingError, match="frame count"):
        plan_chunk(seg, None, 0, big)
