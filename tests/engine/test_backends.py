"""Front-end backends: every row of the table gives the reference's q, k; exported ones check their artifact."""

import os

import cv2
import numpy as np
import pytest
import torch

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.engine.backends import BACKENDS, ExactFp32, PaddedBatches, load_backend
from attnseg.export import FORMATS, export, openvino_runtime
from attnseg.export.exporter import FORMAT_OF_BACKEND
from tests.conftest import tiny_frontend

RES = (32, 48)


def config(backend: str = "eager", **changes) -> SegmentSettings:
    return SegmentSettings(resolution=RES, backend=backend, **changes)


def _unavailable(name: str) -> str | None:
    if name == "openvino":
        return openvino_runtime.available()
    return FORMATS[FORMAT_OF_BACKEND[name]].available() if name in FORMAT_OF_BACKEND else None


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_matches_the_eager_front_end(name, artifact_cache):
    if _unavailable(name):
        pytest.skip(f"{name} cannot run here: {_unavailable(name)}")
    frontend = tiny_frontend()
    images = torch.randn(2, 3, *RES)
    run = load_backend(config(name), frontend, torch.device("cpu"))
    with torch.inference_mode():
        want, got = frontend(images), run(images)
    for w, g in zip(want, got):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    if name in FORMAT_OF_BACKEND:  # built into the cache once, then reused
        built = list((artifact_cache / "artifacts").iterdir())
        assert built and all("tiny_s16_st_32x48_kinetics" in p.name for p in built)
        stamp = [(p.stat().st_ino, p.stat().st_size) for p in built]  # a rebuild publishes new files
        load_backend(config(name), frontend, torch.device("cpu"))
        assert [(p.stat().st_ino, p.stat().st_size) for p in built] == stamp


def test_an_engine_for_another_front_end_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export(tiny_frontend(seed=3), format="onnx", resolution=RES, out=tmp_path / "other.onnx").path
    with pytest.raises(ValueError, match="exported for another front-end: weights"):
        load_backend(config("onnxruntime", artifact=str(path)), tiny_frontend(), torch.device("cpu"))
    with pytest.raises(ValueError, match="built in fp32, not the bf16 asked for"):
        load_backend(config("onnxruntime", artifact=str(path), precision="bf16"), tiny_frontend(seed=3),
                     torch.device("cpu"))


def test_unknown_backend_or_kernels_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'tensorrtx'"):
        SegmentSettings(backend="tensorrtx")
    with pytest.raises(ValueError, match="unknown kernels 'cuda'"):
        SegmentSettings(kernels="cuda")
    with pytest.raises(ValueError, match="apply to the exported backends"):
        SegmentSettings(backend="eager", artifact="fe.onnx")
    assert SegmentSettings(backend="torch").backend == "eager"


def test_result_names_its_backend():
    frames = torch.randint(0, 255, (2, 48, 64, 3), dtype=torch.uint8).numpy()
    seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16",
                                    config=SegmentSettings(resolution=(32, 48)))
    stats = seg.segment_video(frames).stats()
    assert stats["backend"] == "eager" and stats["kernels"] == "torch"


def test_fp32_runners_turn_tf32_off_for_the_call_and_restore_it():
    """cuDNN allows TF32 by default; the patch embedding is a convolution. Every runner computes in true
    fp32 while it runs and leaves the process's flags as they were (the flags are settable on a CPU)."""
    seen = []

    def spy(images):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return images, images

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        ExactFp32(spy)(torch.zeros(1))
        assert seen == [(False, False)]
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    assert isinstance(load_backend(config("eager"), tiny_frontend(), torch.device("cpu")), ExactFp32)


def test_partial_batches_are_padded_to_one_compiled_shape():
    """A static-shape compile sees batch 1 (streaming) and batch_size (offline), never a clip's last
    batch of 3: that would recompile mid-run. Padding changes no frame's q, k (frames are independent)."""
    frontend, shapes = tiny_frontend(), []

    def spy(images):
        shapes.append(images.shape[0])
        return frontend(images)

    padded = PaddedBatches(spy, batch_size=4)
    images = torch.randn(3, 3, *RES)
    with torch.inference_mode():
        for b in (4, 3, 1, 2, 6):
            q, k = padded(images.repeat(2, 1, 1, 1)[:b])
            assert q.shape[0] == k.shape[0] == b
        want = frontend(images)
        got = padded(images)
    assert shapes == [4, 4, 1, 4, 6, 4]
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp32_front_end_equals_the_cpu_one():
    """With TF32 off, the GPU's fp32 q, k are the CPU's to fp32 reassociation (TF32 would give ~1e-3)."""
    frontend = tiny_frontend()
    images = torch.randn(2, 3, *RES)
    with torch.inference_mode():
        want = frontend(images)
        got = load_backend(config("eager"), frontend.cuda(), torch.device("cuda"))(images.cuda())
    for w, g in zip(want, got):
        assert (g.cpu() - w).abs().max() / w.abs().max() < 1e-5


def test_auto_measures_eager_and_onnxruntime_once_and_falls_back_to_eager_in_one_line(artifact_cache, monkeypatch):
    from attnseg.engine import backends
    from attnseg.errors import ExportError
    from attnseg.settings import Backend

    frontend, cpu = tiny_frontend(), torch.device("cpu")
    if _unavailable("onnxruntime"):
        pytest.skip(f"onnxruntime cannot run here: {_unavailable('onnxruntime')}")
    timed, time_batch = [], backends.time_batch
    monkeypatch.setattr(backends, "time_batch", lambda run, config: timed.append(run) or (0.1 if timed[1:] else 0.2))
    assert load_backend(config("auto"), frontend, cpu).backend is Backend.ONNXRUNTIME  # measured faster here
    candidates = 3 if not openvino_runtime.available() else 2  # eager, onnxruntime and, where installed, openvino
    assert len(timed) == candidates and (artifact_cache / "backend_auto.json").is_file()
    monkeypatch.setattr(backends, "time_batch", lambda run, config: 1 / 0)
    assert load_backend(config("auto"), frontend, cpu).backend is Backend.ONNXRUNTIME  # remembered: not timed again
    runners = {Backend.EAGER: "eager runner", Backend.ONNXRUNTIME: "onnx runner"}
    slower_onnx = lambda run, config: 0.1 if run == "eager runner" else 0.2  # noqa: E731
    assert backends.faster(runners, frontend, config(batch_size=3), slower_onnx) is Backend.EAGER
    assert time_batch(frontend, config(batch_size=2)) > 0  # a real batch, timed
    assert backends._auto(frontend, torch.device("cuda"), config("auto"), None).backend is Backend.EAGER  # none measured faster
    said = []  # what the backend logs (caplog depends on the handlers other tests leave behind)
    monkeypatch.setattr(backends.log, "info", lambda msg, *args: said.append(msg % args))
    monkeypatch.setattr(backends.log, "warning", lambda msg, *args: said.append(msg % args))
    monkeypatch.setattr(backends, "importable", lambda name: name != "onnxruntime")
    assert load_backend(config("auto"), frontend, cpu).backend is Backend.EAGER
    (line,) = said
    assert line.startswith("backend auto: eager (onnxruntime not installed")
    monkeypatch.setattr(backends, "importable", lambda name: True)

    def broken(fmt):
        def build(*args):
            raise ExportError("no exporter for this graph")
        return build
    monkeypatch.setattr(backends, "_exported", broken)
    said.clear()
    assert load_backend(config("auto"), frontend, cpu).backend is Backend.EAGER
    (line,) = said
    assert "could not be built: no exporter for this graph" in line


def test_the_command_line_defaults_to_auto_and_the_library_to_eager():
    import argparse

    from attnseg.cli import segment
    from attnseg.settings import Backend

    parser = argparse.ArgumentParser()
    segment.add(parser.add_subparsers())
    args = parser.parse_args(["segment", "clip.mp4"])
    assert args.backend == Backend.AUTO.value and SegmentSettings().backend is Backend.EAGER


def test_auto_says_once_what_it_measures_and_stores_and_keeps_its_cache_bounded(artifact_cache, monkeypatch):
    """The first run announces the timing and the artifact in one line; a CPU where eager was measured faster
    builds no ONNX front-end at all; the cache keeps the most recently used ARTIFACT_CACHE_FILES artifacts."""
    from attnseg.engine import backends
    from attnseg.settings import ARTIFACT_CACHE_FILES, Backend

    if _unavailable("onnxruntime"):
        pytest.skip(f"onnxruntime cannot run here: {_unavailable('onnxruntime')}")
    said = []
    monkeypatch.setattr(backends.log, "info", lambda msg, *args: None)
    monkeypatch.setattr(backends.log, "warning", lambda msg, *args: said.append(msg % args))
    monkeypatch.setattr(backends, "time_batch", lambda run, config: 0.1 if isinstance(run, backends.Named) else 0.2)
    frontend, cpu = tiny_frontend(), torch.device("cpu")
    monkeypatch.setattr(backends, "faster", lambda runners, frontend, config: Backend.EAGER)  # measured: eager
    backends.measured_once(backends.auto_choices_path(), backends.auto_key(frontend, config("auto")),
                           lambda: {"eager": 0.1, "onnxruntime": 0.2}, "test")
    assert load_backend(config("auto"), frontend, cpu).backend is Backend.EAGER
    assert said == [] and not (artifact_cache / "artifacts").exists()  # remembered eager: nothing exported
    (artifact_cache / "backend_auto.json").unlink()
    monkeypatch.undo()
    said = []
    monkeypatch.setenv("ATTNSEG_CACHE", str(artifact_cache))
    monkeypatch.setattr(backends.log, "warning", lambda msg, *args: said.append(msg % args))
    load_backend(config("auto"), frontend, cpu)
    (line,) = said
    assert line.startswith("backend auto: timing the eager front-end against onnxruntime") and "MB" in line
    folder = artifact_cache / "artifacts"
    for i in range(6):  # older artifacts of other sizes and weights
        old = folder / f"old{i}.onnx"
        old.write_bytes(b"x")
        (folder / f"old{i}.onnx.data").write_bytes(b"x")
        os.utime(old, (1000 + i, 1000 + i))
    backends.prune_artifacts(folder, next(folder.glob("tiny*.onnx")), ARTIFACT_CACHE_FILES)
    kept = sorted(p.name for p in folder.glob("*.onnx"))
    assert len(kept) == ARTIFACT_CACHE_FILES and "old5.onnx" in kept and "old0.onnx" not in kept
    assert not (folder / "old0.onnx.data").exists()


def test_openvino_not_installed_is_one_clear_error(monkeypatch, artifact_cache):
    from attnseg.errors import MissingDependency

    monkeypatch.setattr(openvino_runtime, "available",
                        lambda: "openvino is not installed (pip install 'attnseg[openvino]')")
    with pytest.raises(MissingDependency, match=r"openvino backend cannot run here: .*attnseg\[openvino\]"):
        load_backend(config("openvino"), tiny_frontend(), torch.device("cpu"))
    assert not (artifact_cache / "artifacts").exists()  # refused before any export


def test_auto_on_a_short_clip_measures_nothing_but_takes_what_it_measured_before(artifact_cache, monkeypatch,
                                                                                tmp_path):
    """A newcomer's first run, a clip of a few seconds, took 83 s building and timing the ONNX front-ends first,
    47 s without (issue 41): below AUTO_MEASURE_FRAMES frames auto takes eager, unless measured before."""
    from attnseg.engine import backends
    from attnseg.engine.outputs.fanout import Outputs
    from attnseg.engine.session import Session
    from attnseg.settings import Backend, ModelSettings, SessionSettings

    if _unavailable("onnxruntime"):
        pytest.skip(f"onnxruntime cannot run here: {_unavailable('onnxruntime')}")
    said = []
    monkeypatch.setattr(backends.log, "warning", lambda msg, *args: said.append(msg % args))
    monkeypatch.setattr(backends, "time_batch", lambda run, config: pytest.fail("measured a short clip"))
    frontend, cpu = tiny_frontend(), torch.device("cpu")
    assert load_backend(config("auto"), frontend, cpu, measure=False).backend is Backend.EAGER
    assert said[0].startswith("backend auto: eager for this short clip") and not (artifact_cache / "artifacts").exists()
    frames = tmp_path / "clip"
    frames.mkdir()
    for i, image in enumerate(np.random.default_rng(0).integers(0, 255, (4, 64, 96, 3), dtype=np.uint8)):
        cv2.imwrite(str(frames / f"{i:05d}.png"), image)
    session = Session(SessionSettings(model=ModelSettings(random_weights=True, arch="vit_small_16"),
                                      segment=config("auto")))
    session.segment(str(frames), Outputs(labels=tmp_path / "labels.npy"))
    assert session.segmenter.backend is Backend.EAGER and not (artifact_cache / "backend_auto.json").exists()
    backends.measured_once(backends.auto_choices_path(), backends.auto_key(frontend, config("auto")),
                           lambda: {"eager": 0.2, "onnxruntime": 0.1}, "test")  # measured before: taken
    assert load_backend(config("auto"), frontend, cpu, measure=False).backend is Backend.ONNXRUNTIME
