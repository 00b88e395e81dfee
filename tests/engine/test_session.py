"""The session runner every face calls: its settings checked across parts once, the checks before the weights load,
one stream loop (outputs per source and shared, stats written, Ctrl-C and the end reason), the offline run, and one
closing line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from attnseg.engine import SegmentSettings, Segmenter, StreamRuntime
from attnseg.engine.live.sources import ArraySource
from attnseg.engine.offline.runs import segment_to_files
from attnseg.engine.outputs.fanout import Outputs, Sink
from attnseg.engine.session import Session, closing_line
from attnseg.errors import OutputExistsError, SettingError, StreamError
from attnseg.model import WeightsInfo
from attnseg.settings import EndReason, ModelSettings, RuntimeSettings, SessionSettings, StreamSettings
from tests.conftest import tiny_frontend

CLIP = SegmentSettings(resolution=(32, 48), batch_size=1)
WAIT = RuntimeSettings(warm_up=False, stall_timeout=None)


def session(runtime: RuntimeSettings = WAIT, stream: StreamSettings = StreamSettings()) -> Session:
    seg = Segmenter(tiny_frontend(), WeightsInfo("random"), CLIP)
    return Session(SessionSettings(segment=CLIP, stream=stream, runtime=runtime), segmenter=seg)


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 40, 56, 3), dtype=np.uint8)


def test_the_settings_are_checked_across_their_parts_once_where_they_are_made():
    with pytest.raises(SettingError, match="not a multiple of the patch size 16"):
        SessionSettings(model=ModelSettings(arch="vit_small_16"), segment=SegmentSettings(resolution=(40, 48)))
    with pytest.raises(SettingError, match="segment must be SegmentSettings"):
        SessionSettings(segment={"resolution": (32, 48)})
    assert SessionSettings(model=ModelSettings(arch="vit_small_16"), segment=SegmentSettings(resolution=(32, 48)))


def test_outputs_and_sources_are_refused_before_the_weights_load(tmp_path):
    taken = tmp_path / "labels.npy"
    taken.write_bytes(b"someone's")
    lazy = Session(SessionSettings(model=ModelSettings(random_weights=True), segment=CLIP))
    with pytest.raises(OutputExistsError):
        lazy.stream(["synthetic:3"], [Outputs(labels=taken)])
    with pytest.raises(Exception, match="missing.mp4"):
        lazy.stream([str(tmp_path / "missing.mp4")])
    assert "segmenter" not in lazy.__dict__  # nothing was loaded
    assert taken.read_bytes() == b"someone's"


def test_a_stream_writes_each_source_s_outputs_and_returns_its_figures(tmp_path):
    clips = [frames(5, seed=1), frames(3, seed=2)]
    seen = []
    shared = Outputs(extra=[lambda: Sink(type("Kept", (), {"close": lambda self: None})(),
                                         lambda _, frame: seen.append((frame.source, frame.index)))])
    report = session().stream([ArraySource(c) for c in clips], [Outputs(labels=tmp_path / f"{i}.npy") for i in (1, 2)],
                              shared=shared, stats_json=str(tmp_path / "s.json"))
    assert report.failure is None and report.lost == [] and not report.stopped
    for i, clip in enumerate(clips, start=1):  # each source alone, as the runtime streams it alone
        alone = [r.labels for r in StreamRuntime(session().segmenter, StreamSettings()).stream(ArraySource(clip), WAIT)]
        assert np.array_equal(np.load(tmp_path / f"{i}.npy"), np.stack(alone))
    assert sorted(seen) == [(0, i) for i in range(5)] + [(1, i) for i in range(3)]
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames_processed"] == 8 and [p["frames_processed"] for p in stats["sources"]] == [5, 3]
    assert stats["objects"] == sum(p["objects"] for p in stats["sources"]) and stats["written_latency_ms"]["p50"]
    assert stats["busy_s"]["outputs"] >= 0 and "front-end" in stats["busy_s"]  # the shared stages, once
    assert stats["busy_s"]["capture"] == pytest.approx(sum(p["busy_s"]["capture"] for p in stats["sources"]),
                                                       abs=0.002)  # each source's capture, summed
    lines = report.lines()
    assert lines[0].startswith("streamed 8/8 frames segmented (0 carried, 0 dropped)") and len(lines) == 3
    assert lines[2].startswith("  source 2 (") and "streamed 3/3 frames" in lines[2]


def test_stop_ends_a_stream_as_its_consumer_and_the_stats_say_so(tmp_path):
    written = []
    topic = Outputs(extra=[lambda: Sink(type("Kept", (), {"close": lambda self: None})(),
                                        lambda _, frame: written.append(frame.index))])
    report = session().stream([ArraySource(frames(30))], shared=topic, stop=lambda: len(written) == 4)
    assert written == [0, 1, 2, 3] and report.stopped
    assert report.stats["end_reason"] == EndReason.STOPPED.value and "stopped by the consumer" in report.lines()[0]


def test_a_failing_stage_is_reported_with_the_stats_written(tmp_path, monkeypatch):
    s = session()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(s.segmenter, "encode_frame_batch", broken)
    report = s.stream([ArraySource(frames(3))], stats_json=str(tmp_path / "s.json"))
    assert isinstance(report.failure, StreamError) and "boom" in str(report.failure)
    assert json.loads((tmp_path / "s.json").read_text())["end_reason"] == "error"
    with pytest.raises(StreamError):
        report.raise_failure()


def test_segment_is_the_offline_run_and_resuming_a_finished_run_does_nothing(tmp_path, synthetic_folder):
    s = session()
    stats = s.segment(str(synthetic_folder), Outputs(labels=tmp_path / "a.npy"), stats_json=str(tmp_path / "s.json"))
    direct = segment_to_files(s.segmenter, str(synthetic_folder), Outputs(labels=tmp_path / "b.npy"))
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == stats["frames"] == direct["frames"]
    assert closing_line(stats).startswith(f"segmented {stats['frames']} frames (one piece)")
    assert s.segment(str(synthetic_folder), Outputs(labels=tmp_path / "a.npy"), resume=True) is None
    with pytest.raises(SettingError, match="nothing would be written"):
        s.segment(str(synthetic_folder), Outputs())
