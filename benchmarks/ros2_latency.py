"""Capture-to-labels latency through ROS 2: the attnseg-ros2 node as a user runs it, camera frames published
at fixed rates, against the same work without ROS (the bridge alone) in the same run.

Per rate (--rates, Hz), these measurements on the same frames (a DAVIS clip at 480x854 rgb8 from
../shared, cycled; else the synthetic clip at that size):
- "ros": `attnseg-ros2` started as its own process (console script, --ros-args, a paper-format checkpoint
  read by the real loader), this process publishing sensor_msgs/Image with the current time in the header
  stamp and subscribing to `labels`, `carried_labels` and /diagnostics: latency = arrival of the labels -
  header stamp (one clock: same machine), segmented and carried apart and together; frames published, labels
  received, and the node's own counts of frames processed, carried, superseded while busy, and stale, from its
  last /diagnostics message;
- "ros_paper_windows": the same with `-p causal:=false -p carry:=false` (fixed windows, nothing carried: the
  node's mode before them), the ratio's baseline;
- "bridge": SegmentationBridge (the node's work, no ROS) in this process, frames pushed at the same rate:
  latency = its publish callback - the stamp;
- "transport": the same images from a publisher process to this one, no attnseg: what moving a 480x854 rgb8
  image between processes costs, with the node's Fast DDS profile and with Fast DDS's defaults (under which
  best-effort images that large are mostly lost: attnseg/integrations/fastdds_large_images.xml).
The first --warmup seconds of each run are not counted. The difference ros - bridge is the ROS cost
(transport, a second process sharing the cores, message conversion). The node's segmented frames a second
(its diagnostics' count over its run) are set against its front-end's own at batch 1, timed here after the runs.

    python -m benchmarks.ros2_latency                       # 15 and 30 Hz, 20 s each
Record: ros2_latency_{device}_{arch}_{H}x{W}.json. Needs `pip install -e '.[ros2]'`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .common import DAVIS_FRAMES, parse, parser, write_record  # noqa: E402

os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from attnseg.bench.load import QK_GAIN, paper_checkpoint  # noqa: E402
from attnseg.engine.live.stats import percentiles as summarize  # noqa: E402
from attnseg.engine.session import Session  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402
from attnseg.integrations.ros_bridge import SegmentationBridge  # noqa: E402
from attnseg.integrations.ros_node import image_message, qos_profile, use_large_image_transport  # noqa: E402
from attnseg.integrations.ros_params import settings  # noqa: E402

SIZE = (480, 854)


def camera_frames(clip: str, count: int) -> tuple[np.ndarray, str]:
    folder = DAVIS_FRAMES / clip
    if folder.is_dir():
        import cv2

        frames = read_clip(folder).frames[:count]
        return np.stack([cv2.resize(f, SIZE[::-1]) if f.shape[:2] != SIZE else f for f in frames]), f"davis {clip}"
    return synthetic_clip(num_frames=count, height=SIZE[0], width=SIZE[1])[0], "synthetic (no DAVIS found)"


def percentiles(ms: list[float]) -> dict:
    """p50, p90, p99 of latencies in ms (attnseg's percentile helper), and how many there were."""
    return {**summarize(ms, (50, 90, 99), scale=1.0, digits=1), "count": len(ms)}


def rgb8(image: np.ndarray, stamp_ns: int, frame_id: str) -> Image:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return image_message(header, {"height": image.shape[0], "width": image.shape[1], "encoding": "rgb8",
                                  "is_bigendian": 0, "step": image.shape[1] * 3, "data": image.reshape(-1)})


def paced(rate: float, seconds: float, send) -> int:
    """send(i, stamp_ns) at `rate` Hz for `seconds` (no catch-up bursts: a late tick is skipped); frames sent."""
    start, i, sent = time.monotonic(), 0, 0
    while True:
        due = start + i / rate
        now = time.monotonic()
        if due - start >= seconds:
            return sent
        if due > now:
            time.sleep(due - now)
        elif now - due > 1 / rate:
            i += 1
            continue
        send(sent, time.time_ns())
        sent += 1
        i += 1


class Listener:
    """A node in this process spun on its own thread, recording (arrival ns, header stamp ns) of the images on
    `topic` (best effort) and, optionally, the /diagnostics messages."""

    def __init__(self, name: str, topic: str, diagnostics: bool = False):
        self.node = rclpy.create_node(name)
        self.arrivals, self.diagnostics = [], []
        self.node.create_subscription(Image, topic, lambda m: self.arrivals.append(
            (time.time_ns(), m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)), qos_profile(False, 10))
        if diagnostics:
            self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def run_ros(frames, params: dict, rate: float, seconds: float, warmup: float) -> dict:
    node = shutil.which("attnseg-ros2")
    args = [a for k, v in params.items() for a in ("-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}")]
    proc = subprocess.Popen([node, "--ros-args", "-r", "image:=/camera/image_raw", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peer = Listener("ros2_latency", "labels", diagnostics=True)
    carried = Listener("ros2_latency_carried", "carried_labels")
    arrivals, diagnostics = peer.arrivals, peer.diagnostics
    pub = peer.node.create_publisher(Image, "/camera/image_raw", qos_profile(False, 1))
    try:
        end = time.monotonic() + 120
        while pub.get_subscription_count() == 0:
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the node did not start: {proc.stdout.read() if proc.poll() is not None else ''}")
            time.sleep(0.05)
        t0 = time.time_ns()
        sent = paced(rate, warmup + seconds, lambda i, stamp: pub.publish(rgb8(frames[i % len(frames)], stamp, f"{i}")))
        time.sleep(2.0)  # the last windows come back
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        if "Traceback" in out or os.environ.get("ATTNSEG_BENCH_VERBOSE"):
            print(out, file=sys.stderr)
        peer.close()
        carried.close()
    after = t0 + warmup * 1e9
    segmented = [(arrival - stamp) / 1e6 for arrival, stamp in arrivals if stamp >= after]
    moved = [(arrival - stamp) / 1e6 for arrival, stamp in carried.arrivals if stamp >= after]
    last = {kv.key: kv.value for kv in diagnostics[-1].status[0].values} if diagnostics else {}
    return {"published": sent, "labels_received": len(arrivals), "carried_received": len(carried.arrivals),
            "latency_ms": percentiles(segmented + moved), "segmented_latency_ms": percentiles(segmented),
            "carried_latency_ms": percentiles(moved),
            "labelled_fraction": round((len(segmented) + len(moved)) / max(1, round(seconds * rate)), 4),
            "node": {k: int(last[k]) for k in ("frames_received", "frames_processed", "frames_carried",
                                               "frames_dropped", "frames_stale") if k in last},
            "exit_status": proc.returncode, "traceback": "Traceback" in out}


def run_bridge(frames, cfg, rate: float, seconds: float, warmup: float) -> dict:
    session, node = cfg
    arrivals = []
    bridge = SegmentationBridge(Session(session), lambda stamp, r: arrivals.append((time.time_ns(), stamp)),
                                max_frame_age_s=node.max_frame_age)
    t0 = time.time_ns()
    h, w = SIZE
    sent = paced(rate, warmup + seconds, lambda i, stamp: bridge.on_image(
        stamp, stamp, h, w, "rgb8", w * 3, frames[i % len(frames)].tobytes()))
    time.sleep(2.0)
    stats = bridge.stats()
    bridge.close()
    counted = [(arrival - stamp) / 1e6 for arrival, stamp in arrivals if stamp >= t0 + warmup * 1e9]
    return {"published": sent, "labels_received": len(arrivals), "latency_ms": percentiles(counted),
            "node": {k: stats[k] for k in ("frames_received", "frames_processed", "frames_dropped", "frames_stale")}}


def run_transport(rate: float, seconds: float, profile: bool) -> dict:
    """Images from a publisher process (this script, --publish-only) to this one, no attnseg: what moving a
    camera image between processes costs, with the node's Fast DDS profile or Fast DDS's defaults."""
    peer = Listener(f"ros2_transport_{'profile' if profile else 'defaults'}", "echo")
    env = dict(os.environ)
    if not profile:
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    flags = [] if profile else ["--default-transport"]
    out = subprocess.run([sys.executable, "-m", "benchmarks.ros2_latency", "--publish-only", str(rate), str(seconds),
                          *flags], env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                         timeout=seconds + 120).stdout
    time.sleep(0.5)
    peer.close()
    sent = int(out.split()[-1])
    return {"published": sent, "received": len(peer.arrivals),
            "latency_ms": percentiles([(a - s) / 1e6 for a, s in peer.arrivals])}


def publish_only(rate: float, seconds: float) -> None:
    frames, _ = camera_frames("blackswan", 50)
    node = rclpy.create_node("ros2_transport_publisher")
    pub = node.create_publisher(Image, "echo", qos_profile(False, 1))
    end = time.monotonic() + 60
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.05)
    sent = paced(rate, seconds, lambda i, stamp: pub.publish(rgb8(frames[i % len(frames)], stamp, f"{i}")))
    time.sleep(0.5)
    node.destroy_node()
    print(sent)


def main() -> None:
    ap = parser(__doc__, "live", qk_gain=QK_GAIN)
    ap.add_argument("--rates", nargs="+", type=float, default=[15.0, 30.0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per rate")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds not counted at the start of each run")
    ap.add_argument("--clip", default="blackswan")
    ap.add_argument("--name")
    ap.add_argument("--publish-only", nargs=2, type=float, metavar=("RATE", "SECONDS"), help=argparse.SUPPRESS)
    ap.add_argument("--default-transport", action="store_true", help=argparse.SUPPRESS)
    args = parse(ap)
    profile = None if args.default_transport else use_large_image_transport()  # as a camera driver would
    if args.publish_only:
        rclpy.init()
        publish_only(*args.publish_only)
        rclpy.shutdown()
        return
    if shutil.which("attnseg-ros2") is None:
        sys.exit("attnseg-ros2 is not installed: pip install -e '.[ros2]'")

    frames, source = camera_frames(args.clip, 50)
    checkpoint = paper_checkpoint(Path(tempfile.gettempdir()) / "attnseg_bench", args.arch, args.qk_gain)
    h, w = args.resolution
    params = {"checkpoint": str(checkpoint), "arch": args.arch, "height": h, "width": w, "device": "cpu"}
    cfg = settings(params)
    rclpy.init()
    figures = {}
    try:
        for rate in args.rates:
            print(f"{rate:g} Hz: ros, bridge, transport ...", flush=True)
            ros = run_ros(frames, params, rate, args.seconds, args.warmup)
            before = run_ros(frames, {**params, "causal": False, "carry": False}, rate, args.seconds, args.warmup)
            bridge = run_bridge(frames, cfg, rate, args.seconds, args.warmup)
            transport = {"node_profile": run_transport(rate, args.seconds, True),
                         "fastdds_defaults": run_transport(rate, args.seconds, False)}
            cost = {p: round(ros["latency_ms"][p] - bridge["latency_ms"][p], 1)
                    for p in ("p50", "p99") if ros["latency_ms"][p] is not None and bridge["latency_ms"][p] is not None}
            ratio = {p: round(ros["latency_ms"][p] / before["latency_ms"][p], 3) for p in ("p50", "p99")
                     if ros["latency_ms"][p] and before["latency_ms"][p]}
            figures[f"{rate:g}Hz"] = {"ros": ros, "ros_paper_windows": before, "latency_ratio_to_paper_windows": ratio,
                                      "bridge": bridge, "transport": transport, "ros_cost_ms": cost}
            print(f"  ros p50/p99 {ros['latency_ms']['p50']}/{ros['latency_ms']['p99']} ms ({ros['labelled_fraction']} "
                  f"labelled), paper windows {before['latency_ms']['p50']}/{before['latency_ms']['p99']} ms, bridge "
                  f"{bridge['latency_ms']['p50']}/{bridge['latency_ms']['p99']} ms, transport "
                  f"{transport['node_profile']['latency_ms']['p50']} ms; labels {ros['labels_received']} of {ros['published']}",
                  flush=True)
    finally:
        rclpy.shutdown()
    from attnseg.presets import PRESETS

    from .live_targets import frontend_fps

    # the node's front-end alone at batch 1 (its backend, size and weights' shapes), in this run: what its
    # segmented rate is measured against
    own = figures["frontend_batch1"] = frontend_fps(args, str(PRESETS["robot"].segment.backend))
    for rate in args.rates:
        ros = figures[f"{rate:g}Hz"]["ros"]
        segmented = ros["node"]["frames_processed"] / (args.seconds + args.warmup)  # the node's whole run
        ros["segmented_fps"] = round(segmented, 2)
        ros["segmented_over_frontend"] = round(segmented / own["fps"], 3)
    name = args.name or f"ros2_latency_cpu_{args.arch}_{h}x{w}"
    settings_out = {"frames": source, "frame_size": list(SIZE), "encoding": "rgb8", "arch": args.arch,
                    "resolution": [h, w], "checkpoint": f"paper-format random, q/k x{args.qk_gain:g}",
                    "seconds": args.seconds, "warmup": args.warmup, "rates": args.rates,
                    "node": "attnseg-ros2, best-effort QoS depth 1, defaults otherwise", "device": "cpu",
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
                    "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
                    "fastdds_profile": Path(profile).name if profile else None,
                    "publisher": "this script, best effort depth 1, with the node's Fast DDS profile (as a camera "
                                 "driver started with FASTDDS_DEFAULT_PROFILES_FILE)"}
    path = write_record(name, settings_out, figures)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
