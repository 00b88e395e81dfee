"""`attnseg batch --ray`: large video collections on a Ray cluster, through Ray Data.

    records = run_ray_batch(videos, "out/", SessionSettings(model=ModelSettings(checkpoint="ckpt.pth")),
                            RaySettings(address="auto"))

One stateful actor per GPU (or `actors` CPU actors when the cluster has no
GPU) holds one Session (attnseg.engine.session: the Segmenter built once) and
takes one video at a time, processing it in order (Session.process): outputs are renamed into
place only when finished, so a re-run skips them. Finished videos are skipped
before any task is made. An actor that dies (its process killed, its node
lost) is restarted by Ray and its video retried from scratch, so a crash
costs at most the video that worker was on; a video that fails on every
retry is reported as failed and the others go on.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Sequence

from ..engine.offline.batch import is_finished, output_names
from ..engine.session import Session
from ..errors import DeviceError, MissingDependency
from ..optional import missing
from ..settings import RaySettings, SessionSettings

log = logging.getLogger(__name__)


def available() -> str | None:
    return missing("ray", extra="ray", names="Ray")


class VideoWorker:
    """A Ray Data actor: one Session (its Segmenter built once), then one video per call."""

    def __init__(self, settings: SessionSettings, device: str):
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise DeviceError("this actor was given no CUDA device")
        model = dataclasses.replace(settings.model, device=device)
        self.session = Session(dataclasses.replace(settings, model=model))
        self.session.segmenter  # built now, before the first video

    def __call__(self, batch: dict) -> dict:
        return {"record": [json.dumps(self.session.process(video, dest))
                           for video, dest in zip(batch["video"], batch["dest"])]}


def run_ray_batch(videos: Sequence[str | Path], out_root: str | Path, session: SessionSettings,
                  settings: RaySettings = RaySettings(), **changes) -> list[dict]:
    """Segment every video not finished under out_root; one record per video (skipped ones included).

    session: the weights, ViT and segmentation; its device is the cluster's: each actor takes a GPU when the
    cluster has them. `changes` change single RaySettings (actors=2)."""
    settings = dataclasses.replace(settings, **changes) if changes else settings
    max_retries = settings.max_retries
    reason = available()
    if reason:
        raise MissingDependency(f"cannot run on Ray: {reason}")
    import ray

    out_root = Path(out_root).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    names = output_names(videos)
    records, todo, given = [], [], {}
    for video, name in names.items():
        dest = out_root / name
        if is_finished(dest):
            records.append({"video": video, "status": "skipped", "out": str(dest)})
        else:
            given[str(Path(video).resolve())] = video  # workers get absolute paths; records name the input
            todo.append({"video": str(Path(video).resolve()), "dest": str(dest)})
    if not todo:
        return records
    if not ray.is_initialized():
        ray.init(address=settings.address, ignore_reinit_error=True, log_to_driver=False, configure_logging=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    device = "cuda" if gpus else "cpu"
    count = settings.actors or max(gpus, 1)
    log.info("ray: %d videos on %d %s actor(s)", len(todo), count, device.upper())
    context = ray.data.DataContext.get_current()
    context.max_errored_blocks = len(todo)  # a video whose worker keeps dying is reported, the rest go on
    context.enable_progress_bars = False
    dataset = ray.data.from_items(todo, override_num_blocks=len(todo))  # one video per block, handed out singly
    results = dataset.map_batches(
        VideoWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=count, max_tasks_in_flight_per_actor=1),
        num_gpus=1 if gpus else 0, num_cpus=settings.cpus_per_actor,
        fn_constructor_kwargs={"settings": session, "device": device},
        ray_remote_args_fn=lambda: {"max_restarts": -1, "max_task_retries": max_retries})
    seen = set()
    for row in results.iter_rows():
        record = json.loads(row["record"])
        seen.add(record["video"])
        records.append({**record, "video": given[record["video"]]})
    for item in todo:
        if item["video"] not in seen:
            records.append({"video": given[item["video"]], "status": "failed", "out": item["dest"],
                            "error": f"its worker died on each of {max_retries + 1} attempts"})
    return records

