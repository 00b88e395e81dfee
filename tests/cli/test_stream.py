"""`attnseg stream`: its outputs, a rosbag2 and ZeroMQ, and a missing camera."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
from benchmarks.rtsp_camera import free_port
from tests.cli.helpers import video_frames


def test_stream_writes_everything(tmp_path, capsys):
    out, stats_path = tmp_path / "labels", tmp_path / "stats.json"
    code = main(["stream", "synthetic:10", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--out", str(out), "--overlay", str(tmp_path / "o.mp4"), "--save-labels", str(tmp_path / "l.npy"),
                 "--stats-json", str(stats_path)])
    assert code == 0
    assert "streamed 10/10 frames segmented (0 carried, 0 dropped)" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i:05d}.png" for i in range(10)]
    assert np.load(tmp_path / "l.npy").shape == (10, 2, 3)
    stats = json.loads(stats_path.read_text())
    assert {"p50", "p95", "p99"} <= set(stats["latency_ms"]) and stats["frames_in"] == stats["frames_processed"] == 10
    assert stats["written_latency_ms"]["p50"] >= stats["latency_ms"]["p50"] > 0  # outputs written after delivery
    assert stats["frames_dropped"] == 0 and stats["fps"] > 0 and stats["ended_by"] == "end of source"
    assert video_frames(tmp_path / "o.mp4") == (10, (240, 320))  # synthetic:N is 240x320


def test_stream_from_a_missing_camera_is_one_line(tmp_path, capsys):
    code = main(["stream", "9", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--stats-json", str(tmp_path / "s.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error:") and "cannot open camera 9" in err[-1]


def test_segment_and_stream_write_rosbags_that_read_back_bit_exactly(tmp_path, synthetic_folder, capsys):
    pytest.importorskip("rosbags", reason="rosbags not installed (pip install 'attnseg[ros]')")
    from attnseg.integrations.rosbag import read_images, read_label_bag

    model = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48", "--qk-gain", "4", "--tau", "0.001"]
    assert main(["segment", str(synthetic_folder), *model, "--out", str(tmp_path / "png"),
                 "--rosbag", str(tmp_path / "seg.bag"), "--rosbag-overlay", "--rosbag-encoding", "32SC1",
                 "--frame-id", "cam7"]) == 0
    bag = read_label_bag(tmp_path / "seg.bag")
    pngs = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "png").glob("*.png"))]
    assert len(bag) == len(pngs) == 7 and {f for _, f, _ in bag} == {"cam7"}
    assert all(np.array_equal(labels, png) for (_, _, labels), png in zip(bag, pngs))
    assert len({np.unique(png).size for png in pngs} - {1}) > 0  # more than one id somewhere: a real check
    stamps = np.diff([t for t, _, _ in bag])
    assert (np.abs(stamps - 1e9 / 24) <= 1).all()  # a folder plays at 24 fps
    assert len(read_images(tmp_path / "seg.bag", "/attnseg/overlay")) == 7

    assert main(["stream", "synthetic:8", *model, "--out", str(tmp_path / "live"),
                 "--rosbag", str(tmp_path / "live.bag"), "--rosbag-storage", "mcap"]) == 0
    bag = read_label_bag(tmp_path / "live.bag")
    pngs = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "live").glob("*.png"))]
    assert len(bag) == 8 and all(np.array_equal(labels, png) for (_, _, labels), png in zip(bag, pngs))
    assert all(np.diff([t for t, _, _ in bag]) > 0)

    code = main(["segment", str(synthetic_folder), *model, "--rosbag", str(tmp_path / "seg.bag")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == f"attnseg: error: rosbag {tmp_path / 'seg.bag'} already exists; " \
                                    "remove it or choose another path"


def test_stream_publishes_over_zeromq(tmp_path, capsys):
    pytest.importorskip("zmq", reason="pyzmq not installed (pip install 'attnseg[zmq]')")
    import threading

    from attnseg.integrations.zeromq import ZmqSubscriber

    port = free_port()
    received = []
    sub = ZmqSubscriber(f"tcp://127.0.0.1:{port}")

    done = threading.Event()

    def listen():  # until the stream is over and nothing more arrives
        while (msg := sub.recv(timeout=0.5)) is not None or not done.is_set():
            if msg is not None:
                received.append(msg)

    listener = threading.Thread(target=listen)
    listener.start()
    code = main(["stream", "synthetic:12", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--realtime", "--zmq", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "png")])
    done.set()
    listener.join(timeout=30)
    sub.close()
    assert code == 0 and f"publishing results on tcp://127.0.0.1:{port}" in capsys.readouterr().err
    # PUB/SUB: a subscriber misses what was sent before it joined; the rest arrive whole and in order
    ids = [m.header["frame_id"] for m in received]
    assert len(ids) >= 6 and ids == sorted(ids) and ids[-1] == 11
    for m in received:
        png = np.asarray(Image.open(tmp_path / "png" / f"{m.header['frame_id']:05d}.png"))
        assert np.array_equal(m.mask, png) and m.header["latency_ms"] > 0
        assert m.header["objects"] == np.unique(png).size


@pytest.mark.parametrize("quiet", [False, True])
def test_stream_shows_a_status_line_unless_no_progress(monkeypatch, capsys, quiet):
    from attnseg.engine import session

    monkeypatch.setattr(session, "interactive", lambda: True)  # stderr as a terminal
    monkeypatch.setattr(session.Status, "EVERY", 0.0)
    args = ["stream", "synthetic:6", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]
    assert main(args + (["--no-progress"] if quiet else [])) == 0
    err = capsys.readouterr().err
    assert ("\rstream: 6 segmented, 0 carried, 0 dropped," in err) is not quiet


def test_ctrl_c_ends_a_stream_at_once_with_its_closing_line(tmp_path):
    import signal
    import time

    from tests.cli.helpers import cli

    out = tmp_path / "png"
    proc = cli("stream", "synthetic:100000", "--realtime", "--random-weights", "--arch", "vit_small_16",
               "--resolution", "32", "48", "--backend", "eager", "--out", out, "--stats-json", tmp_path / "s.json")
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("*.png"))) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert time.monotonic() - began < 3.0  # the stream stops at once; the interpreter's exit takes the rest
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stdout.startswith("streamed ") and "ended: stopped by the consumer" in stdout
    assert stderr.strip().splitlines()[-1] == "attnseg: interrupted: the outputs hold every frame streamed"
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames_processed"] == len(list(out.glob("*.png"))) >= 5


def test_several_sources_share_one_model_with_their_own_ids_and_outputs(tmp_path, synthetic_folder, capsys):
    pytest.importorskip("pycocotools", reason="pycocotools not installed")
    from pycocotools import mask as coco_mask

    flags = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "20", "--resolution", "48", "64"]
    args = ["stream", str(synthetic_folder), "synthetic:5", *flags, "--out", str(tmp_path / "png"),
            "--save-labels", str(tmp_path / "l.npy"), "--coco", str(tmp_path / "c.json"),
            "--stats-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("streamed 12/12 frames segmented") and "ended: " in out[0]
    assert out[1].startswith(f"  source 1 ({synthetic_folder}): streamed 7/7 frames")
    assert out[2].startswith("  source 2 (synthetic:5): streamed 5/5 frames") and out[2].endswith("end of source")
    assert sorted(p.name for p in (tmp_path / "png" / "2").glob("*.png")) == [f"{i:05d}.png" for i in range(5)]
    assert len(list((tmp_path / "png" / "1").glob("*.png"))) == 7  # named as the folder's frames
    first, second = np.load(tmp_path / "l.1.npy"), np.load(tmp_path / "l.2.npy")
    assert first.shape == (7, 3, 4) and second.shape == (5, 3, 4) and first.min() == second.min() == 0  # own ids
    alone = tmp_path / "alone"
    assert main(["stream", "synthetic:5", *flags, "--save-labels", str(alone / "l.npy")]) == 0
    assert np.array_equal(np.load(alone / "l.npy"), second)  # the same ids as streamed alone
    stats = json.loads((tmp_path / "s.json").read_text())
    assert [s["frames_processed"] for s in stats["sources"]] == [7, 5] and stats["frames_processed"] == 12
    coco = json.loads((tmp_path / "c.json").read_text())
    assert {e["video_id"] for e in coco} == {1, 2}
    for video, labels in ((1, first), (2, second)):
        png = np.array(Image.open(sorted((tmp_path / "png" / str(video)).glob("*.png"))[0])).astype(np.int32)
        objects = [e for e in coco if e["video_id"] == video]
        assert len(objects) == len(np.unique(labels))
        decoded = {int(np.unique(png[coco_mask.decode({**s, "counts": s["counts"].encode()}).astype(bool)])[0])
                   for e in objects if (s := e["segmentations"][0])}
        assert decoded == set(np.unique(png).tolist())  # frame 0's masks, one object each


def test_one_bad_source_in_a_list_is_one_line_before_the_weights_load(tmp_path, synthetic_folder, capsys):
    code = main(["stream", str(synthetic_folder), str(tmp_path / "nope"), "--random-weights",
                 "--out", str(tmp_path / "png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"attnseg: error: source 2 of 2: source not found: {tmp_path / 'nope'} (a camera "
                                 "index, a URL, 'synthetic[:N]', a folder or a video)"]
    assert not (tmp_path / "png").exists() or not any((tmp_path / "png").rglob("*.png"))
