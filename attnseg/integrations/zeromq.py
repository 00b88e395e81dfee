"""Results over ZeroMQ for non-ROS stacks: PUB/SUB, a JSON header plus the raw label buffer, zero-copy.

    pub = ZmqPublisher("tcp://*:5555")
    pub.publish(frame_id, stamp_ns, mask)               # mask: (H, W) int32 ids, sent without a copy
    sub = ZmqSubscriber("tcp://localhost:5555")
    msg = sub.recv(timeout=1.0)                         # ZmqResult(header, mask, overlay) or None

A message is three or four frames: the topic, a UTF-8 JSON header
{"v": 1, "frame_id", "stamp_ns", "height", "width", "dtype": "<i4", "latency_ms", "objects", "overlay",
"source"} (latency_ms and objects may be null; source: which of a stream's sources, from 0),
the label map's bytes (row-major, little-endian int32), and with "overlay": true, the (H, W, 3) uint8 RGB
overlay. Any language with a ZeroMQ binding reads it (see examples/zmq_subscriber.py). The publisher never
blocks the engine: past `hwm` queued messages per subscriber, ZeroMQ drops the newest for that subscriber.
A publisher bound beyond loopback (tcp://*:PORT, tcp://0.0.0.0:PORT, a public address) says so loudly: ZeroMQ has
no authentication here, anyone who reaches the port reads the results. `decode` raises InputError for any
message that is not attnseg's, however it is malformed.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import socket
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, MissingDependency, OutputError
from ..optional import missing

log = logging.getLogger(__name__)
VERSION = 1
LABEL_DTYPE = np.dtype("<i4")


def available() -> str | None:
    return missing("zmq", extra="zmq", names="pyzmq")


def _zmq():
    reason = available()
    if reason:
        raise MissingDependency(f"cannot use ZeroMQ: {reason}")
    import zmq
    return zmq


def encode_header(frame_id: int, stamp_ns: int, labels: np.ndarray, *, latency_ms: float | None = None,
                  objects: int | None = None, overlay: bool = False, source: int = 0) -> bytes:
    return json.dumps({"v": VERSION, "frame_id": int(frame_id), "stamp_ns": int(stamp_ns),
                       "height": labels.shape[0], "width": labels.shape[1], "dtype": LABEL_DTYPE.str,
                       "latency_ms": latency_ms, "objects": objects, "overlay": overlay,
                       "source": int(source)}).encode()


@dataclass
class ZmqResult:
    header: dict
    mask: np.ndarray  # (H, W) int32 ids at the frame's size, a view of the received buffer (no copy)
    overlay: np.ndarray | None


def decode(parts: list) -> ZmqResult:
    """[topic, header, mask(, overlay)] frames or bytes -> a ZmqResult; InputError for anything else."""
    if len(parts) < 3:
        raise InputError(f"an attnseg message has at least 3 parts, got {len(parts)}")
    try:
        buffers = [p.buffer if hasattr(p, "buffer") else memoryview(p) for p in parts]
        header = json.loads(bytes(buffers[1]))
        if not isinstance(header, dict):
            raise InputError("an attnseg message's header is a JSON object")
        if header.get("v") != VERSION:
            raise InputError(f"attnseg message version {header.get('v')} (this reader knows {VERSION})")
        h, w = header["height"], header["width"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (h, w)):
            raise InputError(f"an attnseg message's height and width are whole numbers, got {h!r} and {w!r}")
        labels = np.frombuffer(buffers[2], dtype=np.dtype(header["dtype"]))
        if labels.size != h * w:
            raise InputError(f"label buffer holds {labels.size} ids, the header says {h}x{w}")
        overlay = None
        if header.get("overlay"):
            if len(buffers) < 4:
                raise InputError("the header announces an overlay, the message has none")
            overlay = np.frombuffer(buffers[3], dtype=np.uint8).reshape(h, w, 3)
        return ZmqResult(header, labels.reshape(h, w), overlay)
    except InputError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # json's, numpy's, a missing field
        raise InputError(f"not an attnseg message ({type(err).__name__}: {str(err)[:100]})") from None


def beyond_loopback(address: str) -> bool:
    """Whether a ZeroMQ tcp:// endpoint to bind reaches beyond this machine (*, 0.0.0.0, ::, a public address)."""
    if not address.startswith("tcp://"):
        return False  # ipc:// and inproc:// stay on this machine
    host = address[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
    if host == "*":
        return True
    try:
        return not all(ipaddress.ip_address(i[4][0]).is_loopback for i in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return True  # an interface name (eth0) or a name we cannot resolve: assume it is reachable


class _Socket:
    """A ZeroMQ socket's end: close(), and a context manager that closes it."""

    socket: object

    def close(self) -> None:
        self.socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ZmqPublisher(_Socket):
    def __init__(self, address: str = "tcp://*:5555", *, topic: bytes = b"attnseg", hwm: int = 4,
                 connect: bool = False):
        zmq = _zmq()
        self.topic = topic
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, 1000)  # at close, up to 1 s to deliver what is queued
        try:
            (self.socket.connect if connect else self.socket.bind)(address)
        except zmq.ZMQError as err:
            self.socket.close(0)
            raise OutputError(f"cannot {'connect to' if connect else 'bind'} {address}: {err}") from err
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT) or address
        self.sent = 0
        if not connect and beyond_loopback(address):
            log.warning("publishing on %s, beyond this machine: ANYONE WHO CAN REACH THIS PORT CAN READ EVERY RESULT "
                        "(no authentication; bind tcp://127.0.0.1:PORT to keep it on this machine)", self.address)

    def publish(self, frame_id: int, stamp_ns: int, mask: np.ndarray, *, latency_ms: float | None = None,
                objects: int | None = None, overlay: np.ndarray | None = None, source: int = 0) -> None:
        """Send one result; `objects` (the number of ids, if the caller knows it) goes in the header as is."""
        mask = np.ascontiguousarray(mask, dtype=LABEL_DTYPE)
        parts = [self.topic, encode_header(frame_id, stamp_ns, mask, latency_ms=latency_ms, objects=objects,
                                           overlay=overlay is not None, source=source), mask]
        if overlay is not None:
            parts.append(np.ascontiguousarray(overlay, dtype=np.uint8))
        self.socket.send_multipart(parts, copy=False)  # the arrays' buffers go out as they are
        self.sent += 1

    def write(self, frame) -> None:
        """An OutputFrame of a stream (the output fan-out, attnseg.engine.outputs.fanout): its label map, latency and
        number of ids."""
        self.publish(frame.index, frame.stamp_ns, frame.mask, objects=len(frame.present),
                     latency_ms=None if frame.latency is None else round(frame.latency * 1e3, 3), source=frame.source)


class ZmqSubscriber(_Socket):
    def __init__(self, address: str = "tcp://localhost:5555", *, topic: bytes = b"attnseg"):
        zmq = _zmq()
        self.socket = zmq.Context.instance().socket(zmq.SUB)
        self.socket.setsockopt(zmq.SUBSCRIBE, topic)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)

    def recv(self, timeout: float | None = None) -> ZmqResult | None:
        """The next result, or None after `timeout` seconds without one (None: wait forever)."""
        if not self.poller.poll(None if timeout is None else int(timeout * 1000)):
            return None
        return decode(self.socket.recv_multipart(copy=False))
