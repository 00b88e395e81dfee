"""What a command must not write over, and inputs it must not be fooled by (issue 38): every refusal is one line
before any work, with real files, FIFOs, device nodes and a second process."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from attnseg.cli import main
from tests.cli.helpers import LONG, cli, write_avi
from tests.cli.test_long_videos import without_dac_override

MODEL = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48", "--backend", "eager",
         "--no-progress"]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def no_work(monkeypatch):
    """Fail the test if a segmenter is built (the work begins with the weights)."""
    from attnseg.engine import segmenter

    def refuse(*args, **kwargs):
        raise AssertionError("the weights were loaded before the refusal")

    monkeypatch.setattr(segmenter.Segmenter, "from_settings", refuse)


def test_segment_with_no_output_says_so_before_the_work(synthetic_folder, capsys, monkeypatch):
    no_work(monkeypatch)
    assert main(["segment", str(synthetic_folder), *MODEL]) == 2
    assert one_line(capsys) == ("attnseg: error: nothing would be written: name an output (--out, --save-labels, "
                                "--overlay, --coco, --rosbag, --stats-json, --chunk-log)")


@pytest.mark.parametrize("flag,name", [("--overlay", "o.mp4"), ("--save-labels", "l.npy"), ("--coco", "c.json"),
                                       ("--stats-json", "s.json")])
def test_an_existing_file_is_refused_unless_overwrite(tmp_path, synthetic_folder, capsys, monkeypatch, flag, name):
    path = tmp_path / name
    path.write_text("someone's file")
    with monkeypatch.context() as m:
        no_work(m)
        assert main(["segment", str(synthetic_folder), *MODEL, flag, str(path)]) == 2
        assert one_line(capsys) == (f"attnseg: error: {path} exists: overwrite replaces it, or name another file "
                                    "(--overwrite)")
        assert main(["stream", str(synthetic_folder), *MODEL, flag, str(path)]) == 2
        assert one_line(capsys).startswith(f"attnseg: error: {path} exists")
    assert path.read_text() == "someone's file"
    assert main(["segment", str(synthetic_folder), *MODEL, flag, str(path), "--overwrite"]) == 0
    assert path.read_bytes() != b"someone's file"


def test_batch_refuses_an_existing_coco_file_unless_overwrite(tmp_path, synthetic_folder, capsys):
    coco = tmp_path / "results.json"
    coco.write_text("[]")
    batch = ["batch", str(synthetic_folder), "--out", str(tmp_path / "out"), *MODEL[:-1], "--coco", str(coco)]
    assert main(batch) == 2
    assert one_line(capsys).startswith(f"attnseg: error: {coco} exists")
    assert main([*batch, "--overwrite"]) == 0
    assert len(json.loads(coco.read_text())) > 0


def test_stats_json_in_a_read_only_folder_fails_before_any_work(tmp_path, synthetic_folder):
    (tmp_path / "ro").mkdir(mode=0o500)
    try:
        run = cli("segment", synthetic_folder, *MODEL, "--out", tmp_path / "png", "--stats-json",
                  tmp_path / "ro" / "s.json", preexec_fn=without_dac_override)
    except subprocess.SubprocessError:
        pytest.skip("root here cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP), so no folder is read-only to it")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2 and err.strip().splitlines() == [
        f"attnseg: error: cannot write {tmp_path}/ro/s.json: Permission denied"], err
    assert not list((tmp_path / "png").glob("*.png"))  # no frame was segmented


def special_files(tmp_path) -> dict[str, os.PathLike]:
    """A FIFO, a symbolic link to this process's stdout, and (where this process may make one) a character
    device: the /dev/full of a temporary folder."""
    found = {}
    os.mkfifo(tmp_path / "fifo")
    found["FIFO"] = tmp_path / "fifo"
    os.symlink("/proc/self/fd/1", tmp_path / "stdout")
    found["symbolic link"] = tmp_path / "stdout"
    try:
        os.mknod(tmp_path / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        found["character device"] = tmp_path / "full"
    except (PermissionError, OSError):
        pass  # not root, or no CAP_MKNOD: the others still run
    return found


@pytest.mark.parametrize("flag", ["--coco", "--save-labels", "--overlay", "--stats-json"])
def test_a_device_a_fifo_or_a_link_is_never_replaced(tmp_path, synthetic_folder, capsys, monkeypatch, flag):
    no_work(monkeypatch)
    for kind, path in special_files(tmp_path).items():
        before = os.lstat(path)
        for extra in ([], ["--overwrite"]):
            assert main(["segment", str(synthetic_folder), *MODEL, flag, str(path), *extra]) == 2
            assert one_line(capsys) == (f"attnseg: error: cannot write {path}: it is a {kind}, not a regular file; "
                                        "name a file")
            after = os.lstat(path)
            assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode) and os.path.islink(tmp_path / "stdout")
    if (tmp_path / "full").exists():
        assert stat.S_ISCHR(os.lstat(tmp_path / "full").st_mode)


def test_export_never_replaces_a_device_or_a_fifo(tmp_path, capsys):
    pytest.importorskip("onnx", reason="onnx is not installed (pip install 'attnseg[export]')")
    os.mkfifo(tmp_path / "fe.onnx")
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "fe.onnx"), "--random-weights", "--arch",
                 "vit_small_16", "--resolution", "32", "48"]) == 2
    assert one_line(capsys) == (f"attnseg: error: cannot write {tmp_path}/fe.onnx: it is a FIFO, not a regular file; "
                                "name a file")


def test_publishing_never_replaces_what_is_not_a_regular_file(tmp_path):
    from attnseg.files import publish, temp_beside

    os.mkfifo(tmp_path / "00003.png")
    tmp = temp_beside(tmp_path / "00003.png")
    with pytest.raises(FileExistsError, match="not replaced: it is a FIFO, not a regular file"):
        publish(tmp, tmp_path / "00003.png")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "00003.png").st_mode)


def frames_with(tmp_path, special) -> os.PathLike:
    """A folder of 4 small frames in which frame 00002 is `special(path)` instead."""
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        if i == 2:
            special(folder / f"{i:05d}.png")
        else:
            Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def test_a_fifo_in_a_frame_folder_is_one_line_not_a_hang(tmp_path):
    folder = frames_with(tmp_path, os.mkfifo)
    for command in (["segment", folder, *MODEL, "--save-labels", tmp_path / "l.npy"],
                    ["stream", folder, *MODEL, "--save-labels", tmp_path / "s.npy"]):
        run = cli(*command)
        out, err = run.communicate(timeout=60)  # a hang fails here
        assert run.returncode == 2 and err.strip().splitlines()[-1] == (
            f"attnseg: error: frame {folder}/00002.png is a FIFO, not a regular file: a frame folder holds image "
            "files"), err


def header_only_png(width: int, height: int):
    """A PNG whose header announces width x height, with no pixels to speak of (its decoding would fail late)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return lambda path: path.write_bytes(b"\x89PNG\r\n\x1a\n" + head + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                                         + chunk(b"IEND", b""))


def test_a_huge_frame_is_refused_from_its_header_before_any_decoding(tmp_path):
    """A 20000x20000 PNG among small frames cost 2.8 GB before its refusal, a 60000x60000 one ended as an
    unexpected OpenCV error: both are refused from their header, naming the file, in little memory."""
    def huge(path):  # made in a process of its own: 1.2 GB of pixels, never in this one
        subprocess.run([sys.executable, "-c", "import sys; from PIL import Image; Image.new('RGB', (20000, 20000))"
                        ".save(sys.argv[1], compress_level=1)", str(path)], check=True, timeout=120)

    folder = frames_with(tmp_path, huge)
    probe = ("import sys\nfrom attnseg.cli import main\ncode = main(sys.argv[1:])\n"  # VmHWM: this process's peak
             "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) // 1024, "
             "file=sys.stderr)\nsys.exit(code)")
    run = subprocess.run([sys.executable, "-c", probe, "segment", str(folder), *MODEL, "--save-labels",
                          str(tmp_path / "l.npy")], capture_output=True, text=True, timeout=120)
    *lines, peak_mb = run.stderr.strip().splitlines()
    assert run.returncode == 2 and lines[-1].startswith(f"attnseg: error: frame {folder}/00002.png is over ") \
        and "megapixels, more than the 64 a frame may have (resize it first)" in lines[-1], run.stderr
    assert int(peak_mb) < 1000  # its pixels were never decoded (1.2 GB of RGB)
    (folder / "00002.png").unlink()
    header_only_png(60000, 60000)(folder / "00002.png")
    assert main(["segment", str(folder), *MODEL, "--save-labels", str(tmp_path / "m.npy")]) == 2
    header_only_png(9000, 8000)(folder / "00002.png")
    assert main(["segment", str(folder), *MODEL, "--save-labels", str(tmp_path / "n.npy")]) == 2
    assert len(np.load(tmp_path / "n.npy")) == 2  # the frames before it were segmented and kept


def test_a_second_command_on_a_run_in_progress_is_refused_naming_it(tmp_path):
    """A second --resume of a run still in progress was accepted and removed the first one's state under it: now
    the run's folder is locked (flock: it dies with the process) and the second command is one line naming the
    first; the first completes as if alone. The first is held still (SIGSTOP) while the others try: in progress
    whatever this machine's speed."""
    import signal

    video = write_avi(tmp_path / "long.avi", 60)
    args = ["segment", video, *LONG, "--out", tmp_path / "png", "--save-labels", tmp_path / "l.npy"]
    first = cli(*args)
    state, deadline = tmp_path / ".png.attnseg-run" / "state.json", time.monotonic() + 120
    while not (state.is_file() and json.loads(state.read_text())["frames"] >= 6) and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)
    try:
        seconds = [cli(*args, *extra) for extra in (["--resume"], ["--overwrite"])]
        for second in seconds:
            out, err = second.communicate(timeout=120)
            assert second.returncode == 2 and err.strip().splitlines() == [
                f"attnseg: error: the run writing into {tmp_path} (.png.attnseg-run) is in use by process {first.pid} "
                f"(attnseg {' '.join(map(str, args))}): wait for it to end, or stop it first"], err
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "segmented 60 frames" in out, err
    marker = (tmp_path / "png" / ".attnseg-labels.txt").read_text().splitlines()
    assert marker.count("# complete") == 1 and len(marker) == 62
    assert not (tmp_path / ".png.attnseg-run").exists()
    resumed = cli(*args, "--resume")  # after it: the run is complete, nothing to resume, nothing changed
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and out.startswith("nothing to resume: the run into"), err


def test_resume_on_a_first_run_starts_it_and_says_so(synthetic_folder, tmp_path, capsys):
    """The README's --resume line, run first: the run happens (it used to end in "nothing to resume", exit 2,
    leaving an empty folder)."""
    out = tmp_path / "masks"
    assert main(["segment", str(synthetic_folder), *MODEL, "--out", str(out), "--resume"]) == 0
    captured = capsys.readouterr()
    assert "nothing to resume into" in captured.err and "starts from the first frame" in captured.err
    assert len(list(out.glob("*.png"))) == 7 and captured.out.startswith("segmented 7 frames")
