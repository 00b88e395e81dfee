"""ZeroMQ results: a loopback publisher and subscriber, the example reader, and malformed messages."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zmq", reason="pyzmq not installed (pip install 'attnseg[zmq]')")

from attnseg.integrations.zeromq import ZmqPublisher, ZmqSubscriber, decode, encode_header  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zmq_subscriber.py"


def _connected(pub: ZmqPublisher, sub: ZmqSubscriber):
    """PUB drops messages until the subscription arrives: send probes until one is seen."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pub.publish(-1, 0, np.zeros((1, 1), np.int32))
        if sub.recv(timeout=0.05) is not None:
            while sub.recv(timeout=0.05) is not None:  # the other probes in flight
                pass
            return
    raise AssertionError("the subscriber never connected")


def test_loopback_delivers_every_field_exactly():
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 2**31 - 1, (24, 40)).astype(np.int32) for _ in range(4)]
    with ZmqPublisher("tcp://127.0.0.1:*", hwm=100) as pub, ZmqSubscriber(pub.address) as sub:
        _connected(pub, sub)
        for i, m in enumerate(maps):
            pub.publish(i, 1_000 + i, m, latency_ms=12.5, objects=np.unique(m).size,
                        overlay=np.full((24, 40, 3), i, np.uint8) if i % 2 else None)
        got = [sub.recv(timeout=5) for _ in maps]
    for i, (msg, m) in enumerate(zip(got, maps)):
        assert msg.header["frame_id"] == i and msg.header["stamp_ns"] == 1_000 + i
        assert msg.header["latency_ms"] == 12.5 and msg.header["objects"] == np.unique(m).size
        assert msg.mask.dtype == np.int32 and np.array_equal(msg.mask, m)
        assert (msg.overlay is None) == (i % 2 == 0)
        if msg.overlay is not None:
            assert msg.overlay.shape == (24, 40, 3) and (msg.overlay == i).all()


def test_labels_are_received_without_a_copy():
    with ZmqPublisher("tcp://127.0.0.1:*") as pub, ZmqSubscriber(pub.address) as sub:
        _connected(pub, sub)
        pub.publish(0, 0, np.arange(6, dtype=np.int32).reshape(2, 3))
        msg = sub.recv(timeout=5)
    import zmq

    base = msg.mask
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, zmq.Frame)  # a view of the received frame


def test_the_example_subscriber_reads_the_stream():
    with ZmqPublisher("tcp://127.0.0.1:*", hwm=100) as pub:
        proc = subprocess.Popen([sys.executable, str(EXAMPLE), pub.address, "--count", "3", "--timeout", "20"],
                                stdout=subprocess.PIPE, text=True)
        labels = np.array([[1, 1, 2], [2, 2, 7]], np.int32)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:  # until the late joiner has seen 3
            pub.publish(5, time.time_ns(), labels, latency_ms=3.0)
            time.sleep(0.05)
        out = proc.communicate(timeout=10)[0]
    assert proc.returncode == 0
    assert out.count("frame 5: 3x2, 3 objects (pixels per id {1: 2, 2: 3, 7: 1})") == 3


def test_malformed_messages_are_one_clear_error():
    labels = np.zeros((2, 2), np.int32)
    header = encode_header(0, 0, labels)
    with pytest.raises(ValueError, match="at least 3 parts"):
        decode([b"attnseg", header])
    with pytest.raises(ValueError, match="holds 3 ids"):
        decode([b"attnseg", header, np.zeros(3, np.int32).tobytes()])
    with pytest.raises(ValueError, match="version 9"):
        decode([b"attnseg", header.replace(b'"v": 1', b'"v": 9'), labels.tobytes()])


@pytest.mark.parametrize("parts", [
    [b"attnseg", b"\xff\xfe", b""], [b"attnseg", b"[1, 2]", b""], [b"attnseg", b'{"v": 1}', b""],
    [b"attnseg", b'{"v": 1, "height": 2, "width": 2, "dtype": "no such dtype"}', b"\0" * 16],
    [b"attnseg", b'{"v": 1, "height": "2", "width": 2, "dtype": "<i4"}', b"\0" * 16],
    [b"attnseg", b'{"v": 1, "height": 2, "width": 2, "dtype": "<i4", "overlay": true}', b"\0" * 16, b"\0" * 5],
    [b"attnseg", b'{"v": 1, "height": 2, "width": 2, "dtype": "<i4"}', b"\0" * 15],
])
def test_any_malformed_message_is_the_projects_input_error(parts):
    from attnseg.errors import InputError

    with pytest.raises(InputError):
        decode(parts)


def test_binding_beyond_loopback_says_so_loudly(monkeypatch):
    from attnseg.integrations import zeromq

    said = []
    monkeypatch.setattr(zeromq.log, "warning", lambda msg, *args: said.append(msg % args))
    with ZmqPublisher("tcp://127.0.0.1:*"):
        pass
    assert said == []
    with ZmqPublisher("tcp://*:*") as pub:
        assert len(said) == 1 and f"publishing on {pub.address}, beyond this machine: ANYONE WHO CAN REACH" in said[0]
    assert not zeromq.beyond_loopback("ipc:///tmp/x") and zeromq.beyond_loopback("tcp://0.0.0.0:5555")
    assert not zeromq.beyond_loopback("tcp://localhost:5555")


def test_an_address_in_use_is_one_clear_error():
    with ZmqPublisher("tcp://127.0.0.1:*") as pub:
        with pytest.raises(ValueError, match="cannot bind"):
            ZmqPublisher(pub.address)
