"""`attnseg batch`: a finished folder per video, in this process or on a Ray cluster; a re-run skips them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from attnseg.cli import main
from attnseg.engine import SegmentSettings, Segmenter
from tests.engine.offline.test_batch import make_videos


def test_cli_batch(tmp_path, capsys):
    videos = make_videos(tmp_path / "in", count=2, frames=3)
    args = ["batch", *videos, "--out", str(tmp_path / "out"), "--random-weights", "--arch", "vit_small_16",
            "--resolution", "32", "48", "--summary-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    assert "batch: 2 done, 0 skipped" in capsys.readouterr().out
    assert main(args) == 2  # the summary of the first run is not replaced silently
    assert capsys.readouterr().err.strip().endswith("s.json exists: overwrite replaces it, or name another file "
                                                    "(--overwrite)")
    from attnseg.engine import segmenter as segmenter_module

    loaded = []
    original = segmenter_module.Segmenter.from_settings
    segmenter_module.Segmenter.from_settings = lambda *a, **k: loaded.append(1) or original(*a, **k)
    try:
        assert main([*args, "--overwrite"]) == 0
    finally:
        segmenter_module.Segmenter.from_settings = original
    assert "batch: 0 done, 2 skipped" in capsys.readouterr().out
    assert loaded == []  # every video finished before: no weights loaded to skip them (issue 41)
    assert [r["status"] for r in json.loads((tmp_path / "s.json").read_text())] == ["skipped", "skipped"]
    (tmp_path / "bad.mp4").write_bytes(b"junk")
    assert main(["batch", str(tmp_path / "bad.mp4"), *args[1:], "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # an unreadable input fails again: the advice is to fix it or leave it out, not to retry (issue 41)
    assert err[-1] == ("attnseg: error: 1 video(s) failed (see above): an input that cannot be read fails again; "
                       "fix it or leave it out, then run again (finished videos are skipped)")
    (tmp_path / "s.json").unlink()
    assert main(["batch", str(tmp_path / "bad.mp4"), *args[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("attnseg: error: 1 video(s) failed (see above): an input that cannot be read fails again; "
                       "fix it or leave it out, then run again with --overwrite (finished videos are skipped)")


def test_a_batch_that_may_succeed_again_says_retry(monkeypatch, tmp_path, capsys):
    from attnseg.engine.offline import batch

    videos = make_videos(tmp_path / "in", count=1, frames=3)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "segment_to_files", full_disk)
    assert main(["batch", *videos, "--out", str(tmp_path / "out"), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "32", "48"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "attnseg: error: 1 video(s) failed (see above); re-run the same command to retry them")


@pytest.fixture
def ray_session():
    """Ray as `attnseg batch --ray` starts it (a local cluster, in this process), shut down afterwards."""
    ray = pytest.importorskip("ray.data", reason="Ray not installed (pip install 'attnseg[ray]')")
    yield ray
    import ray

    ray.shutdown()


@pytest.mark.slow
def test_cli_batch_on_ray_writes_what_one_process_computes(tmp_path, capsys, ray_session):
    videos = make_videos(tmp_path / "in", count=2, frames=5)
    model = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "4", "--resolution", "48", "64"]
    args = ["batch", *videos, "--out", str(tmp_path / "out"), *model, "--tau", "0.01", "--ray", "--actors", "1",
            "--summary-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "batch: 2 done, 0 skipped" in out and out.count("    done  ") == 2
    reference = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16", qk_gain=4.0,
                                          config=SegmentSettings(resolution=(48, 64), tau=0.01))
    for i, video in enumerate(videos):  # what the actor wrote is what this process computes
        record = json.loads((tmp_path / "out" / f"clip{i}" / "result.json").read_text())
        assert record["status"] == "done" and record["frames"] == 5
        assert np.array_equal(np.load(tmp_path / "out" / f"clip{i}" / "labels.npy"),
                              reference.segment_video(video).labels)
    assert main([*args, "--overwrite"]) == 0  # a re-run replaces the summary
    assert "batch: 0 done, 2 skipped" in capsys.readouterr().out
