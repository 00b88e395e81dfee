"""What the segmenting commands write besides label maps: stats JSON, a rosbag2, a ZeroMQ stream."""
from __future__ import annotations

import json
import sys

from ..files import write_atomic
from ..settings import FrontEndMode
from .options import read_settings


def describe_mode(mode: FrontEndMode) -> str:
    if mode is FrontEndMode.ST:
        return "mode: st (DINO + spatio-temporal block, the paper's method)"
    return "mode: dino-only (no ST checkpoint: affinity from the last DINO block's own q/k; not the paper's method)"


def write_json(path: str, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1) + "\n")


def open_rosbag(args):
    """The rosbag2 sink of --rosbag, opened before any work (an existing path fails now, not after)."""
    if not args.rosbag:
        return None
    from ..integrations.rosbag import RosbagSink
    from ..settings import RosbagSettings

    settings = read_settings(RosbagSettings, args)
    return RosbagSink(args.rosbag, topic=settings.topic, encoding=settings.encoding,
                      overlay_topic=settings.overlay_topic if args.rosbag_overlay else None,
                      storage=settings.storage, frame_id=settings.frame_id)


def open_publisher(args):
    """The ZeroMQ publisher of --zmq, bound before any file is started (a busy address fails first)."""
    if not args.zmq:
        return None
    from ..integrations.zeromq import ZmqPublisher

    publisher = ZmqPublisher(args.zmq)
    print(f"publishing results on {publisher.address} (topic 'attnseg')", file=sys.stderr)
    return publisher
