"""What the integrations add per frame, and the batch runner's throughput in-process vs on Ray.

1. Outputs, on real-size label maps (--height x --width, int32 ids; the first DAVIS clip's shape by
   default): per frame, p50/p99 of
   - building the sensor_msgs/Image fields (mono16, 32SC1);
   - writing them into a rosbag2 (sqlite3, mcap), and the bag read back bit-exactly (parity);
   - ZeroMQ over tcp loopback: publish -> received, with the received ids compared (parity).
2. Batch: the same videos with `attnseg batch` in-process and with --ray (1 and 2 CPU actors on a
   local cluster); videos per second, outputs compared with the in-process run (parity).
Warm-up iterations are discarded. Record: integrations_cpu.json.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .common import parse, write_record
from .common import parser as settings_parser  # noqa: E402

from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.live.stats import percentiles  # noqa: E402
from attnseg.engine.offline.batch import run_batch  # noqa: E402
from attnseg.settings import ModelSettings, SessionSettings  # noqa: E402
from attnseg.integrations.ros_messages import label_image_fields  # noqa: E402


def pct(samples: list[float]) -> dict:
    """p50 and p99 of seconds, in ms (attnseg's percentile helper), named as this record names them."""
    return {f"{k}_ms": v for k, v in percentiles(samples, (50, 99), digits=3).items()}


def label_maps(n: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 40, (n, height // 8, width // 8)).astype(np.int32)  # ids in 8x8 blocks, like masks
    return [np.kron(c, np.ones((8, 8), np.int32)) for c in coarse]


def bench_fields(maps, warmup):
    out = {}
    for enc in ("mono16", "32SC1"):
        times = []
        for m in maps:
            t = time.perf_counter()
            label_image_fields(m, enc)["data"].tobytes()  # the bytes a message would carry
            times.append(time.perf_counter() - t)
        out[enc] = pct(times[warmup:])
    return out


def bench_rosbag(maps, warmup, workdir):
    from attnseg.integrations.rosbag import RosbagSink, read_label_bag

    out = {}
    for storage in ("sqlite3", "mcap"):
        path, times = Path(workdir) / f"bag_{storage}", []
        with RosbagSink(path, storage=storage, encoding="mono16") as bag:
            for i, m in enumerate(maps):
                t = time.perf_counter()
                bag.write(i * 41_666_667, m)
                times.append(time.perf_counter() - t)
        t = time.perf_counter()
        back = read_label_bag(path)
        read = time.perf_counter() - t
        exact = len(back) == len(maps) and all(np.array_equal(b, m) for (_, _, b), m in zip(back, maps))
        out[storage] = {**pct(times[warmup:]), "read_back_ms_per_frame": round(read / len(maps) * 1e3, 3),
                        "bytes_per_frame": sum(f.stat().st_size for f in path.iterdir()) // len(maps),
                        "read_back_bit_exact": exact}
    return out


def bench_zmq(maps, warmup):
    from attnseg.integrations.zeromq import ZmqPublisher, ZmqSubscriber

    with ZmqPublisher("tcp://127.0.0.1:*", hwm=1000) as pub, ZmqSubscriber(pub.address) as sub:
        while True:  # until the subscription has reached the publisher
            pub.publish(-1, 0, maps[0])
            if sub.recv(timeout=0.1) is not None:
                break
        while sub.recv(timeout=0.2) is not None:
            pass
        latencies, exact = [], True
        for i, m in enumerate(maps):  # one in flight at a time: the latency of one message
            t = time.perf_counter()
            pub.publish(i, 0, m)
            msg = sub.recv(timeout=5)
            latencies.append(time.perf_counter() - t)
            exact &= msg is not None and msg.header["frame_id"] == i and np.array_equal(msg.mask, m)
        arrivals = []

        def listen():  # the time of each arrival, until 1 s passes without one
            while sub.recv(timeout=1.0) is not None:
                arrivals.append(time.perf_counter())

        listener = threading.Thread(target=listen)
        listener.start()
        t = time.perf_counter()
        for i, m in enumerate(maps):  # as fast as the publisher goes
            pub.publish(i, 0, m)
        sent = time.perf_counter() - t
        listener.join()
        burst = arrivals[-1] - t
    return {"loopback": pct(latencies[warmup:]), "received_bit_exact": bool(exact),
            "burst_publish_ms_per_message": round(sent / len(maps) * 1e3, 3),
            "burst_messages_per_s": round(len(arrivals) / burst, 1), "burst_received": len(arrivals),
            "burst_sent": len(maps)}


def bench_batch(args, workdir):
    from PIL import Image

    from attnseg.engine.synthetic import synthetic_clip
    from attnseg.integrations.ray_batch import run_ray_batch

    videos = []
    for v in range(args.videos):
        folder = Path(workdir) / "videos" / f"clip{v}"
        folder.mkdir(parents=True)
        frames, _ = synthetic_clip(args.video_frames, 240, 320)
        for i, f in enumerate(frames):
            Image.fromarray(np.roll(f, 11 * v, axis=1)).save(folder / f"{i:03d}.jpg")
        videos.append(str(folder))
    model = {"random_weights": True, "arch": args.arch, "qk_gain": 4.0}
    config = SegmentSettings(resolution=tuple(args.resolution))
    seg = Segmenter.from_checkpoint(config=config, **model)
    out = {}
    t = time.perf_counter()
    local = list(run_batch(seg, videos, Path(workdir) / "local"))
    out["in_process"] = {"seconds": round(time.perf_counter() - t, 2),
                         "videos_per_s": round(len(videos) / (time.perf_counter() - t), 3),
                         "done": sum(r["status"] == "done" for r in local)}
    import ray

    for actors in (1, 2):
        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = time.perf_counter() - t
        dest = Path(workdir) / f"ray{actors}"
        t = time.perf_counter()
        records = run_ray_batch(videos, dest, SessionSettings(model=ModelSettings(**model), segment=config), actors=actors)
        seconds = time.perf_counter() - t
        ray.shutdown()
        same = all(np.array_equal(np.load(dest / f"clip{v}" / "labels.npy"),
                                  np.load(Path(workdir) / "local" / f"clip{v}" / "labels.npy"))
                   for v in range(len(videos)))
        out[f"ray_{actors}_actors"] = {"ray_init_seconds": round(started, 2), "seconds": round(seconds, 2),
                                       "videos_per_s": round(len(videos) / seconds, 3),
                                       "done": sum(r["status"] == "done" for r in records),
                                       "labels_equal_in_process": same,
                                       "seconds_include": "actor start-up (torch import, model build), not ray.init"}
    return out


def main() -> int:
    parser = settings_parser(__doc__, "live")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--video-frames", type=int, default=40)
    args = parse(parser)
    maps = label_maps(args.frames, args.height, args.width)
    figures = {"image_fields": bench_fields(maps, args.warmup)}
    print("fields", figures["image_fields"], flush=True)
    with tempfile.TemporaryDirectory(prefix="attnseg-integrations-") as workdir:
        figures["rosbag"] = bench_rosbag(maps, args.warmup, workdir)
        print("rosbag", figures["rosbag"], flush=True)
        figures["zeromq"] = bench_zmq(maps, args.warmup)
        print("zeromq", figures["zeromq"], flush=True)
        figures["batch"] = bench_batch(args, workdir)
        print("batch", figures["batch"], flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    settings = {"label_map": [args.height, args.width], "frames": args.frames, "warmup": args.warmup,
                "videos": args.videos, "video_frames": args.video_frames, "arch": args.arch,
                "resolution": list(args.resolution), "weights": "random (qk x4)"}
    print(write_record("integrations_cpu", settings, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
