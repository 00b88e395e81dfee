"""Long videos through the command users run: chunked, interrupted, resumed, broken, unwritable."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from attnseg.cli import main
from tests.cli.helpers import LONG, cli, same_results, write_avi


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])  # Ctrl-C; kill, systemd, docker stop
def test_ctrl_c_keeps_every_finished_frame_and_resume_completes_the_same_run(tmp_path, signame):
    import signal
    import time

    video = write_avi(tmp_path / "long.avi", 240)  # long enough that the signal lands mid-run on a busy host
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["segment", str(video), *LONG, "--out", str(whole / "png"), "--save-labels", str(whole / "l.npy"),
                 "--coco", str(whole / "coco.json")]) == 0
    run = cli("segment", video, *LONG, "--out", cut / "png", "--save-labels", cut / "l.npy", "--coco",
              cut / "coco.json")  # as from a terminal (cli: SIGINT not ignored)
    state, deadline = cut / ".png.attnseg-run" / "state.json", time.monotonic() + 120
    while not (state.is_file() and json.loads(state.read_text())["frames"] >= 12) and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(getattr(signal, signame))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    kept = json.loads(state.read_text())["frames"]
    assert 12 <= kept < 240 and "Traceback" not in err
    on_disk = len(list((cut / "png").glob("*.png")))
    also = f" (the {on_disk - kept} written after them are on disk too, and written again)" if on_disk > kept else ""
    assert err.strip().splitlines()[-1] == (f"attnseg: interrupted: {kept} finished frames kept; "
                                            f"resume continues after them{also}")  # every PNG accounted for
    assert len(np.load(cut / "l.npy")) >= kept and len(list((cut / "png").iterdir())) >= kept
    objects = json.loads((cut / "coco.json").read_text())
    assert {len(o["segmentations"]) for o in objects} == {len(np.load(cut / "l.npy"))}  # every frame written, kept
    resumed = cli("segment", video, *LONG, "--out", cut / "png", "--save-labels", cut / "l.npy", "--coco",
                  cut / "coco.json", "--resume")
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


def without_dac_override() -> None:
    """In the child, before it runs: as root (CI), drop the capability that lets root write anywhere, so a
    read-only folder refuses it as it refuses any user. PR_CAPBSET_DROP of CAP_DAC_OVERRIDE: the command then
    runs without it, still as root."""
    import ctypes
    import os

    if os.geteuid() == 0 and ctypes.CDLL(None, use_errno=True).prctl(24, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


def test_unwritable_outputs_and_one_piece_that_cannot_fit_fail_before_any_work(tmp_path, capsys, monkeypatch):
    from attnseg.engine.offline import planning

    video = write_avi(tmp_path / "v.avi", 30)
    (tmp_path / "file").write_text("")
    assert main(["segment", str(video), *LONG, "--out", str(tmp_path / "file" / "png")]) == 2
    assert capsys.readouterr().err.strip() == f"attnseg: error: cannot write {tmp_path}/file/png: Not a directory"
    (tmp_path / "ro").mkdir(mode=0o500)
    try:
        run = cli("segment", video, *LONG, "--save-labels", tmp_path / "ro" / "l.npy", preexec_fn=without_dac_override)
    except subprocess.SubprocessError:
        pytest.skip("root here cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP), so no folder is read-only to it")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2 and err.strip().splitlines()[-1] == \
        f"attnseg: error: cannot write {tmp_path}/ro/l.npy: Permission denied", err
    monkeypatch.setattr(planning, "memory_available", lambda device: 1 << 20)
    assert main(["segment", str(video), *LONG[:-3], "--chunk", "0", "--save-labels", str(tmp_path / "l.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("attnseg: error: one piece of 30 frames needs about ") and "use chunk = 120" in err
    assert not (tmp_path / "l.npy").exists()
