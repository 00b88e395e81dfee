"""The command line end to end."""
from __future__ import annotations

import io
import json
import logging
import sys

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
from tests.conftest import davis_frames


def test_segment_writes_everything(tmp_path, synthetic_folder, capsys):
    out = tmp_path / "labels"
    code = main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--ratio", "3", "--out", str(out),
                 "--save-labels", str(tmp_path / "l.npy"), "--overlay", str(tmp_path / "o.mp4"),
                 "--stats-json", str(tmp_path / "s.json")])
    err = capsys.readouterr()
    assert code == 0
    assert "RANDOM WEIGHTS" in err.err and "mode: st" in err.err
    assert "segmented 7 frames" in err.out
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:03d}.png" for i in range(7)]
    assert Image.open(out / names[0]).size == (80, 60)
    labels = np.load(tmp_path / "l.npy")
    assert labels.shape == (7, 2, 3) and labels.dtype == np.int32
    stats = json.loads((tmp_path / "s.json").read_text())
    assert {"mode", "backend", "clusters", "decode", "backbone", "affinity", "clustering", "total"} <= set(stats)
    assert all(not isinstance(v, (dict, list)) for v in stats.values())  # flat
    assert (tmp_path / "o.mp4").stat().st_size > 0


def test_segment_with_certified_kernels_reports_what_it_recomputed(tmp_path, synthetic_folder):
    """The certified clustering labels as the reference does; its stats say how much it recomputed."""
    common = ["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16", "--resolution", "32",
              "48", "--ratio", "3", "--qk-gain", "20", "--backend", "eager"]
    for kernels in ("torch", "certified"):
        assert main([*common, "--kernels", kernels, "--save-labels", str(tmp_path / f"{kernels}.npy"),
                     "--stats-json", str(tmp_path / f"{kernels}.json")]) == 0
    assert np.array_equal(np.load(tmp_path / "torch.npy"), np.load(tmp_path / "certified.npy"))
    stats = json.loads((tmp_path / "certified.json").read_text())
    assert stats["kernels"] == "certified" and stats["certified_decisions"] > 0
    assert 0 <= stats["certified_recomputed_fraction"] <= 1 and stats["clusters"] > 1
    assert "certified_decisions" not in json.loads((tmp_path / "torch.json").read_text())


def test_checkpoint_davis_clip(tmp_path, paper_ckpt, capsys):
    folder = davis_frames("dog")
    code = main(["segment", str(folder), "--checkpoint", str(paper_ckpt), "--resolution", "32", "56",
                 "--save-labels", str(tmp_path / "l.npy"), "--stats-json", str(tmp_path / "s.json")])
    assert code == 0
    assert json.loads((tmp_path / "s.json").read_text())["mode"] == "st"
    assert np.load(tmp_path / "l.npy").shape == (60, 4, 7)


@pytest.mark.parametrize("args,match", [
    (["segment", "/nonexistent/clip"], "input not found"),
    (["segment", "{clip}", "--checkpoint", "/nonexistent.pth"], "checkpoint not found"),
    (["segment", "{clip}", "--random-weights", "--resolution", "30", "40"], "not a multiple of the patch size"),
])
def test_errors_are_one_line(args, match, synthetic_folder, capsys):
    args = [a.replace("{clip}", str(synthetic_folder)) for a in args]
    if "--random-weights" not in args and "--checkpoint" not in args:
        args += ["--random-weights"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("attnseg: error:") and match in err[-1]
    assert not any("Traceback" in line for line in err)


def test_bad_checkpoint_message_lists_keys(tmp_path, synthetic_folder, capsys, small_sd):
    import torch

    sd = dict(small_sd)
    del sd["cls_token"]
    torch.save(sd, tmp_path / "bad.pth")
    assert main(["segment", str(synthetic_folder), "--checkpoint", str(tmp_path / "bad.pth"),
                 "--arch", "vit_small_16"]) == 2
    assert "missing (1): cls_token" in capsys.readouterr().err


def test_sample_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    code = main(["sample", "--out-dir", str(tmp_path / "s"), "--frames", "6", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--offline"])
    assert code == 0
    err = capsys.readouterr().err
    assert "not cached; put" in err and "RANDOM WEIGHTS" in err
    assert len(list((tmp_path / "s" / "labels").glob("*.png"))) == 6
    assert (tmp_path / "s" / "overlay.mp4").exists() and (tmp_path / "s" / "stats.json").exists()


def test_export_then_segment_with_the_engine(tmp_path, synthetic_folder, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    engine = tmp_path / "fe.onnx"
    base = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]
    assert main(["export", "--format", "onnx", "--out", str(engine), *base]) == 0
    out = capsys.readouterr().out
    assert "exported vit_small_16 st 32x48 fp32 as onnx" in out and "--backend onnxruntime" in out
    assert engine.is_file() and engine.with_name("fe.onnx.data").is_file()
    labels = {}
    for backend in (["--backend", "torch"], ["--backend", "onnxruntime", "--engine", str(engine)]):
        npy = tmp_path / f"{backend[1]}.npy"
        assert main(["segment", str(synthetic_folder), *base, *backend, "--save-labels", str(npy),
                     "--stats-json", str(tmp_path / "s.json")]) == 0
        labels[backend[1]] = np.load(npy)
    assert json.loads((tmp_path / "s.json").read_text())["backend"] == "onnxruntime"
    assert np.array_equal(labels["torch"], labels["onnxruntime"])
    # the same engine for another resolution: one line, naming the mismatch
    code = main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "48", "64", "--backend", "onnxruntime", "--engine", str(engine)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error:") and "resolution 32x48 (this run: 48x64)" in err[-1]


def test_export_without_tensorrt_is_one_line(tmp_path, capsys):
    from attnseg.export.tensorrt_export import available
    if available() is None:
        pytest.skip("TensorRT is installed here")
    code = main(["export", "--format", "tensorrt", "--out", str(tmp_path / "fe.plan"), "--random-weights",
                 "--arch", "vit_small_16", "--resolution", "32", "48"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error: cannot export tensorrt here")


def test_stream_writes_everything(tmp_path, capsys):
    out, stats_path = tmp_path / "labels", tmp_path / "stats.json"
    code = main(["stream", "synthetic:10", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--out", str(out), "--overlay", str(tmp_path / "o.mp4"), "--save-labels", str(tmp_path / "l.npy"),
                 "--stats-json", str(stats_path)])
    assert code == 0
    assert "streamed 10/10 frames (0 dropped)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(10)]
    assert np.load(tmp_path / "l.npy").shape == (10, 2, 3)
    stats = json.loads(stats_path.read_text())
    assert {"p50", "p95", "p99"} <= set(stats["latency_ms"]) and stats["frames_in"] == stats["frames_processed"] == 10
    assert stats["frames_dropped"] == 0 and stats["fps"] > 0 and stats["ended_by"] == "end of source"
    assert (tmp_path / "o.mp4").stat().st_size > 0


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
    pngs = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "png").iterdir())]
    assert len(bag) == len(pngs) == 7 and {f for _, f, _ in bag} == {"cam7"}
    assert all(np.array_equal(labels, png) for (_, _, labels), png in zip(bag, pngs))
    assert len({np.unique(png).size for png in pngs} - {1}) > 0  # more than one id somewhere: a real check
    stamps = np.diff([t for t, _, _ in bag])
    assert (np.abs(stamps - 1e9 / 24) <= 1).all()  # a folder plays at 24 fps
    assert len(read_images(tmp_path / "seg.bag", "/attnseg/overlay")) == 7

    assert main(["stream", "synthetic:8", *model, "--out", str(tmp_path / "live"),
                 "--rosbag", str(tmp_path / "live.bag"), "--rosbag-storage", "mcap"]) == 0
    bag = read_label_bag(tmp_path / "live.bag")
    pngs = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "live").iterdir())]
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

    port = _free_port()
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
        png = np.asarray(Image.open(tmp_path / "png" / f"{m.header['frame_id']:06d}.png"))
        assert np.array_equal(m.labels, png) and m.header["latency_ms"] > 0
        assert m.header["objects"] == np.unique(png).size


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Long videos: streamed, chunked, interrupted and resumed through the command users run.
LONG = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "6", "--resolution", "64", "96", "--chunk", "6",
        "--no-progress"]


def write_avi(path, frames: int, fps: float = 24.0):
    import cv2

    from attnseg.engine.synthetic import synthetic_clip

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for f in synthetic_clip(frames, 120, 160)[0]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def cli(*args, preexec_fn=None, **popen):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "attnseg", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn, **popen)


def same_results(a, b):
    names = sorted(p.name for p in (a / "png").iterdir())
    assert names == sorted(p.name for p in (b / "png").iterdir())
    assert all((a / "png" / n).read_bytes() == (b / "png" / n).read_bytes() for n in names)
    assert np.array_equal(np.load(a / "l.npy"), np.load(b / "l.npy"))


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])  # Ctrl-C; kill, systemd, docker stop
def test_ctrl_c_keeps_every_finished_frame_and_resume_completes_the_same_run(tmp_path, signame):
    import signal
    import time

    video = write_avi(tmp_path / "long.avi", 240)  # long enough that the signal lands mid-run on a busy host
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["segment", str(video), *LONG, "--out", str(whole / "png"), "--save-labels", str(whole / "l.npy")]) == 0
    # as from a terminal: a shell's background job (CI) starts its children with SIGINT ignored
    run = cli("segment", video, *LONG, "--out", cut / "png", "--save-labels", cut / "l.npy",
              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state, deadline = cut / ".png.attnseg-run" / "state.json", time.monotonic() + 120
    while not (state.is_file() and json.loads(state.read_text())["frames"] >= 12) and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(getattr(signal, signame))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    kept = json.loads(state.read_text())["frames"]
    assert 12 <= kept < 240 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"attnseg: interrupted: {kept} finished frames kept; "
                                            "resume continues after them")
    assert len(np.load(cut / "l.npy")) >= kept and len(list((cut / "png").iterdir())) >= kept
    resumed = cli("segment", video, *LONG, "--out", cut / "png", "--save-labels", cut / "l.npy", "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "segmented 240 frames (chunks of 6 frames)" in out
    same_results(whole, cut)


def test_a_full_disk_midway_is_one_line_and_resume_finishes(tmp_path):
    import resource
    import signal
    import time

    video = write_avi(tmp_path / "long.avi", 240)
    args = ["segment", video, *LONG, "--out", tmp_path / "png", "--save-labels", tmp_path / "l.npy"]
    run = cli(*args, preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    state, deadline = tmp_path / ".png.attnseg-run" / "state.json", time.monotonic() + 120
    while not (state.is_file() and json.loads(state.read_text())["frames"] >= 12) and time.monotonic() < deadline:
        time.sleep(0.01)
    resource.prlimit(run.pid, resource.RLIMIT_FSIZE, (0, 0))  # the disk is full from now on: no file can grow
    out, err = run.communicate(timeout=300)
    assert run.returncode == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("attnseg: error: cannot write the outputs (File too large") and \
        line.endswith("finished frames are kept; resume continues after them"), line
    kept = int(line.split("; the ")[1].split()[0])
    assert 12 <= kept < 240 and len(list((tmp_path / "png").iterdir())) >= kept
    resumed = cli(*args, "--resume")
    assert resumed.wait(timeout=300) == 0
    whole = tmp_path / "whole"
    assert main(["segment", str(video), *LONG, "--out", str(whole / "png"), "--save-labels", str(whole / "l.npy")]) == 0
    same_results(whole, tmp_path)


def test_a_video_that_breaks_midway_keeps_its_frames(tmp_path, capsys):
    video = write_avi(tmp_path / "v.avi", 40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    code = main(["segment", str(cut), *LONG, "--save-labels", str(tmp_path / "l.npy")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    frames = len(np.load(tmp_path / "l.npy"))
    assert code == 2 and 0 < frames < 40
    assert err == (f"attnseg: error: video {cut} broke at frame {frames} of the 40 its header announces (truncated or "
                   f"corrupt); the {frames} frames before it were segmented and written")


def test_unwritable_outputs_and_one_piece_that_cannot_fit_fail_before_any_work(tmp_path, capsys, monkeypatch):
    import os

    from attnseg.engine import chunks

    video = write_avi(tmp_path / "v.avi", 30)
    (tmp_path / "file").write_text("")
    assert main(["segment", str(video), *LONG, "--out", str(tmp_path / "file" / "png")]) == 2
    assert capsys.readouterr().err.strip() == f"attnseg: error: cannot write {tmp_path}/file/png: Not a directory"
    if os.geteuid() != 0:  # root writes into read-only folders
        (tmp_path / "ro").mkdir(mode=0o500)
        assert main(["segment", str(video), *LONG, "--save-labels", str(tmp_path / "ro" / "l.npy")]) == 2
        assert "Permission denied" in capsys.readouterr().err
    monkeypatch.setattr(chunks, "memory_available", lambda device: 1 << 20)
    assert main(["segment", str(video), *LONG[:-3], "--chunk", "0", "--save-labels", str(tmp_path / "l.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("attnseg: error: one piece of 30 frames needs about ") and "use chunk = 120" in err
    assert not (tmp_path / "l.npy").exists()


def test_eval_scores_chunked_outputs(tmp_path, capsys):
    frames = davis_frames("car-shadow")
    davis = frames.parents[2]
    results = tmp_path / "results" / "car-shadow"
    assert main(["segment", str(frames), *LONG[:-3], "--chunk", "10", "--out", str(results), "--no-progress"]) == 0
    assert "chunks of 10 frames" in capsys.readouterr().out
    assert main(["eval", "--davis-root", str(davis), "--results", str(tmp_path / "results"), "--sequences",
                 "car-shadow", "--json", str(tmp_path / "scores.json")]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert 0 <= scores["J"] <= 1 and scores["sequences"]["car-shadow"]["proposals"] >= 1


def test_log_lines_follow_stderr_after_the_command_that_set_them_up(tmp_path, synthetic_folder, capsys):
    """The library's log lines go to the sys.stderr of the moment: a host (or pytest) that replaced and closed
    the one the command ran with still gets them, with no logging error."""
    assert main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    swapped = sys.stderr
    try:
        sys.stderr = later = io.StringIO()
        logging.getLogger("attnseg.engine").warning("a later line")
    finally:
        sys.stderr = swapped
    assert later.getvalue() == "attnseg: a later line\n"
