"""Writing as frames finish: every output kept on a failure, and a resumed run equal to an uninterrupted one."""
from __future__ import annotations

import dataclasses
import errno
import re

import cv2
import numpy as np
import pytest

from attnseg.engine.outputs.fanout import LabelPngs, NpyFrames
from attnseg.engine.synthetic import synthetic_clip
from attnseg.engine.outputs.fanout import Outputs
from attnseg.engine.offline.runs import segment_to_files
from attnseg.errors import InputError, OutputError, SettingError
from tests.engine.offline.test_pipeline import sharp_segmenter

FRAMES = synthetic_clip(14, 60, 80)[0]


def outputs(root, bag: bool = False) -> Outputs:
    bag_opener = None
    if bag:
        pytest.importorskip("rosbags")
        from attnseg.integrations.rosbag import RosbagSink

        bag_opener = lambda: RosbagSink(root / "bag", overlay_topic="/attnseg/overlay")  # noqa: E731
    return Outputs(out=root / "png", labels=root / "labels.npy", overlay=root / "overlay.avi", bag=bag_opener,
                   bag_path=root / "bag" if bag else None, bag_overlay=bag)


def video_frames(path) -> np.ndarray:
    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return np.stack(frames)
        frames.append(f)


def interrupt_at(monkeypatch, seg, call: int, error: BaseException):
    """The front-end raises `error` at its `call`-th batch (one batch per chunk here)."""
    real, calls = seg.run_frontend, []

    def run(images):
        calls.append(1)
        if len(calls) == call:
            raise error
        return real(images)

    monkeypatch.setattr(seg, "run_frontend", run)
    return lambda: monkeypatch.setattr(seg, "run_frontend", real)


def assert_same_outputs(a, b, bag: bool = False):
    names = sorted(p.name for p in (a / "png").glob("*.png"))
    assert names == sorted(p.name for p in (b / "png").glob("*.png")) and len(names) == 14
    for name in names:
        assert (a / "png" / name).read_bytes() == (b / "png" / name).read_bytes()
    assert np.array_equal(np.load(a / "labels.npy"), np.load(b / "labels.npy"))
    assert np.array_equal(video_frames(a / "overlay.avi"), video_frames(b / "overlay.avi"))
    if bag:
        from attnseg.integrations.rosbag import read_label_bag

        ma, mb = read_label_bag(a / "bag"), read_label_bag(b / "bag")
        assert len(ma) == len(mb) == 14
        assert all(np.array_equal(x[2], y[2]) for x, y in zip(ma, mb))
        assert [t for t, *_ in ma] == sorted(t for t, *_ in ma)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("a crash")])
def test_an_interrupted_run_keeps_its_frames_and_resumes_to_the_same_result(tmp_path, monkeypatch, error):
    bag = isinstance(error, KeyboardInterrupt)
    seg = sharp_segmenter(chunk=4, batch_size=4)
    whole = segment_to_files(seg, FRAMES, outputs(tmp_path / "whole", bag))
    assert whole["frames"] == 14 and whole["chunks"] == 4 and whole["ids"] > 20

    restore = interrupt_at(monkeypatch, seg, 3, error)  # chunks 0 and 1 finish, chunk 2 dies
    with pytest.raises(type(error)) as raised:
        segment_to_files(seg, FRAMES, outputs(tmp_path / "cut", bag))
    if bag:
        assert str(raised.value) == "8 finished frames kept; resume continues after them"
    cut = tmp_path / "cut"
    assert len(list((cut / "png").glob("*.png"))) == 8  # every finished frame, published
    assert np.array_equal(np.load(cut / "labels.npy"), np.load(tmp_path / "whole" / "labels.npy")[:8])
    assert len(video_frames(cut / "overlay.avi")) == 8
    assert (cut / ".png.attnseg-run" / "state.json").is_file()

    restore()
    resumed = segment_to_files(seg, FRAMES, outputs(cut, bag), resume=True)
    assert resumed["resumed_at"] == 8 and resumed["chunks"] == 2 and resumed["ids"] == whole["ids"]
    assert_same_outputs(tmp_path / "whole", cut, bag)
    assert not (cut / ".png.attnseg-run").exists()  # a finished run leaves no state


def test_resume_without_a_run_to_resume_starts_it_and_says_so(tmp_path, monkeypatch):
    """The README's --resume line on a first run: nothing was interrupted there, so the run starts (it used to
    stop with "nothing to resume" after the weights had loaded, leaving an empty folder)."""
    from attnseg.engine.offline import runs

    said = []
    monkeypatch.setattr(runs.log, "warning", lambda msg, *args: said.append(msg % args))
    seg = sharp_segmenter(chunk=4, batch_size=4)
    summary = segment_to_files(seg, FRAMES, outputs(tmp_path), resume=True)
    assert summary["frames"] == len(FRAMES) and summary["resumed_at"] is None
    assert len(said) == 1 and said[0].startswith("nothing to resume into") and "starts from the first frame" in said[0]


def test_resume_refuses_another_run(tmp_path, monkeypatch):
    seg = sharp_segmenter(chunk=4, batch_size=4)
    interrupt_at(monkeypatch, seg, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        segment_to_files(seg, FRAMES, outputs(tmp_path))
    other = sharp_segmenter(chunk=4, batch_size=4, tau=0.5)
    with pytest.raises(SettingError, match="differs in its settings"):
        segment_to_files(other, FRAMES, outputs(tmp_path), resume=True)
    with pytest.raises(SettingError, match="differs in its frame count"):
        segment_to_files(seg, FRAMES[:12], outputs(tmp_path), resume=True)
    with pytest.raises(SettingError, match="name them"):
        segment_to_files(seg, FRAMES, Outputs(), resume=True)


def test_a_full_disk_midway_keeps_the_finished_frames(tmp_path, monkeypatch):
    seg = sharp_segmenter(chunk=4, batch_size=4)
    real, count = LabelPngs.write, []

    def fills_up(self, name, mask):
        count.append(name)
        if len(count) == 7:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.folder / f"{name}.png"))
        real(self, name, mask)

    monkeypatch.setattr(LabelPngs, "write", fills_up)
    with pytest.raises(OutputError, match=r"No space left on device: .*png.*the 4 finished frames are kept; "
                                          r"resume continues after them"):
        segment_to_files(seg, FRAMES, outputs(tmp_path))
    assert len(np.load(tmp_path / "labels.npy")) == 6  # written before the failure: labels of frames 0-5
    monkeypatch.setattr(LabelPngs, "write", real)
    segment_to_files(seg, FRAMES, outputs(tmp_path), resume=True)
    segment_to_files(seg, FRAMES, outputs(tmp_path / "whole"))
    assert_same_outputs(tmp_path / "whole", tmp_path)


def test_an_unwritable_output_fails_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    seg = sharp_segmenter()
    monkeypatch.setattr(seg, "run_frontend", None)  # any work would fail otherwise
    with pytest.raises(OutputError, match="cannot write .*file/png: Not a directory"):
        segment_to_files(seg, FRAMES, Outputs(out=tmp_path / "file" / "png"))


def test_input_that_breaks_midway_keeps_what_came_before(tmp_path, monkeypatch):
    seg = sharp_segmenter(chunk=4, batch_size=4)
    frames = list(FRAMES[:10]) + [FRAMES[0][:30]]  # frame 10 of another size
    with pytest.raises(InputError, match="frame 00010 is 80x30.*; the 10 frames before it were segmented and written"):
        segment_to_files(seg, frames, Outputs(labels=tmp_path / "l.npy", out=tmp_path / "png"))
    assert len(np.load(tmp_path / "l.npy")) == 10 and len(list((tmp_path / "png").glob("*.png"))) == 10


def test_npy_frames_and_pngs_as_they_come(tmp_path):
    npy = NpyFrames(tmp_path / "a.npy")
    for i in range(3):
        npy.write(np.full((2, 3), 70000 * i, np.int32))
    assert not (tmp_path / "a.npy").exists()  # published on close
    npy.close()
    assert np.load(tmp_path / "a.npy").tolist() == [[[0] * 3] * 2, [[70000] * 3] * 2, [[140000] * 3] * 2]
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]
    NpyFrames(tmp_path / "empty.npy").close()
    assert not (tmp_path / "empty.npy").exists()  # nothing written, nothing published
    pngs = LabelPngs(tmp_path / "png")
    pngs.write("small", np.full((4, 4), 3, np.int32))
    pngs.write("big", np.full((4, 4), 300, np.int32))
    from PIL import Image

    assert Image.open(tmp_path / "png" / "small.png").mode == "P"
    assert np.array(Image.open(tmp_path / "png" / "big.png")).max() == 300


def test_state_lives_beside_the_first_output(tmp_path):
    assert Outputs(labels=tmp_path / "l.npy").state_dir() == tmp_path / ".l.npy.attnseg-run"
    assert Outputs(out=tmp_path / "png", labels=tmp_path / "l.npy").state_dir() == tmp_path / ".png.attnseg-run"
    assert Outputs().state_dir() is None
    assert Outputs(overlay="o.mp4").needs_images


def test_progress_shows_frames_per_second_and_time_left(tmp_path, capsys, monkeypatch):
    from attnseg.engine.offline import pipeline

    monkeypatch.setattr(pipeline, "on_terminal", lambda: True)  # the bar a terminal shows
    segment_to_files(sharp_segmenter(chunk=7), FRAMES, Outputs(labels=tmp_path / "l.npy"), progress=True)
    bar = capsys.readouterr().err
    import re

    # done/total, stage [elapsed<left, rate]; tqdm redraws at most every 0.1 s, so a busy host may show only the start
    assert re.search(r"\d+/14(, [a-z-]+)? \[\d\d:\d\d<(\?|\d\d:\d\d), +(\?|[\d.]+)frame/s\]", bar), bar


@pytest.mark.parametrize("chunk", [None, 5])
def test_the_progress_bar_moves_with_the_work(tmp_path, monkeypatch, chunk):
    """Frames through the front-end, then the clustering, then the writing move one bar, each by its share of a
    frame's time: a clip segmented in one piece is mostly done on the bar before its first file is written (it
    sat at 0% until then), and the bar ends full."""
    from attnseg.engine.offline import pipeline, runs

    events = []

    class Recording(runs.StageProgress):
        def __call__(self, stage, frames=1):
            super().__call__(stage, frames)
            events.append((stage, frames, self.bar.n))

    monkeypatch.setattr(runs, "StageProgress", Recording)
    monkeypatch.setattr(pipeline, "on_terminal", lambda: True)  # the bar a terminal shows
    seg = sharp_segmenter()
    if chunk:
        seg.config = dataclasses.replace(seg.config, chunk=chunk)
    segment_to_files(seg, FRAMES, Outputs(out=tmp_path / "png"), progress=True)
    for stage in ("front-end", "clustering", "writing"):
        assert sum(n for s, n, _ in events if s == stage) == len(FRAMES)
    first_write = next(i for i, e in enumerate(events) if e[0] == "writing")
    if chunk is None:  # one piece: every frame through the front-end and the clustering before any writing
        assert {s for s, _, _ in events[:first_write]} == {"front-end", "clustering"}
        assert events[first_write - 1][2] >= 0.9 * len(FRAMES)
    else:
        assert events[first_write - 1][2] < 0.5 * len(FRAMES)  # the first chunk of three: written as it is done
    assert events[-1][2] == pytest.approx(len(FRAMES))


def test_where_stderr_is_no_terminal_progress_is_lines_a_log_keeps(tmp_path, capsys, monkeypatch):
    """In a log, a CI job or a pipe the run printed nothing until its end (issue 41): a line every LINE_EVERY s."""
    from attnseg.engine.offline import pipeline

    monkeypatch.setattr(pipeline, "on_terminal", lambda: False)
    monkeypatch.setattr(pipeline.StageProgress, "LINE_EVERY", 0.0)  # every update, here
    segment_to_files(sharp_segmenter(chunk=7), FRAMES, Outputs(labels=tmp_path / "l.npy"), progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("segment: ") and "\r" not in line for line in lines)
    assert lines[-1].startswith("segment: 14/14 frames") and " s so far" in lines[-1]
    assert any("left" in line for line in lines)
    # what the run will cost, said once, after its first frames through the front-end
    estimate = [line for line in lines if "frames to go" in line]
    assert len(estimate) == 1 and lines.index(estimate[0]) == 0
    assert re.match(r"segment: 14 frames to go; about \d+ s here \(front-end \d+\.\d\d s a frame, clustering "
                    r"about \d+ s: 3 key frames a window\)$", estimate[0])  # 7-frame chunks, a key frame every 3


def test_durations_read_as_a_person_reads_them():
    from attnseg.engine.offline.pipeline import duration

    assert [duration(s) for s in (4.4, 200, 3900)] == ["4 s", "3 min 20 s", "1 h 05 min"]


def test_ctrl_c_in_a_clip_segmented_as_one_piece_leaves_nothing_behind(tmp_path, monkeypatch):
    """Nothing is finished before a one-piece clip's end: an interruption says so and leaves no empty folder and no
    hidden run state (it kept "0 finished frames" and both)."""
    seg = sharp_segmenter()
    interrupt_at(monkeypatch, seg, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as raised:
        segment_to_files(seg, FRAMES, outputs(tmp_path))
    assert str(raised.value) == ("no frame was finished, nothing is left behind (a clip of 14 frames is segmented "
                                 "as one piece, its masks all at its end; a chunk of N frames (the chunk setting) "
                                 "cuts it into pieces each kept as it ends, ids linked across them)")
    assert list(tmp_path.iterdir()) == []
