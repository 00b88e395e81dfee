"""The offline pipeline end to end: synthetic clips and the shared DAVIS clips."""
from __future__ import annotations

import numpy as np
import pytest

from attnseg import SegmentSettings, Segmenter, segment_video
from attnseg.engine.synthetic import synthetic_clip
from tests.conftest import davis_frames

STAGES = {"decode", "preprocess", "backbone", "affinity", "clustering", "upsample", "total"}


def test_synthetic_clip_random_weights():
    frames, _ = synthetic_clip(7, 60, 80)
    result = segment_video(frames, random_weights=True, arch="vit_small_16",
                           config=SegmentSettings(resolution=(32, 48), ratio=3))
    assert result.labels.shape == (7, 2, 3) and result.labels.dtype == np.int32
    assert result.masks.shape == (7, 60, 80)
    assert result.mode == "st" and result.weights.is_random
    assert STAGES <= set(result.timings) and all(v >= 0 for v in result.timings.values())
    stats = result.stats()
    assert stats["mode"] == "st" and stats["frames"] == 7 and stats["clusters"] >= 1


def test_paper_checkpoint_finds_several_clusters(paper_ckpt):
    frames, _ = synthetic_clip(5, 48, 64)
    seg = Segmenter.from_checkpoint(str(paper_ckpt), config=SegmentSettings(resolution=(32, 48), ratio=2))
    result = seg.segment_video(frames)
    assert result.mode == "st" and result.weights.format == "paper"
    assert 1 < result.num_clusters and len(np.unique(result.labels)) > 1
    again = seg.segment_video(frames)
    np.testing.assert_array_equal(result.labels, again.labels)  # deterministic


def test_dino_only_mode(s8_sd, tmp_path):
    import torch

    path = tmp_path / "dino.pth"
    torch.save(s8_sd, path)
    result = segment_video(synthetic_clip(4, 32, 32)[0], dino_weights=str(path),
                           config=SegmentSettings(resolution=(16, 16)))
    assert result.mode == "dino-only" and result.stats()["mode"] == "dino-only"


def test_bad_resolution_is_refused():
    with pytest.raises(ValueError, match="not a multiple of the patch size 8"):
        Segmenter.from_checkpoint(random_weights=True, config=SegmentSettings(resolution=(30, 48)))


@pytest.mark.parametrize("name", ["blackswan", "parkour"])
def test_davis_clip(paper_ckpt, name):
    folder = davis_frames(name)
    seg = Segmenter.from_checkpoint(str(paper_ckpt), config=SegmentSettings(resolution=(48, 80), ratio=5))
    result = seg.segment_video(folder)
    n = len(list(folder.glob("*.jpg")))
    assert result.labels.shape == (n, 6, 10) and result.masks.shape == (n, 480, 854)
    assert result.names[0] == "00000" and result.num_clusters > 1


def test_the_mode_line_does_not_call_random_weights_the_papers_method():
    seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16",
                                    config=SegmentSettings(resolution=(32, 48)))
    assert seg.mode_line.startswith("mode: st") and "RANDOM weights, not its results" in seg.mode_line
    assert "the paper's method" not in seg.mode_line
