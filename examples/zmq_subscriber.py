"""Read attnseg results from ZeroMQ with nothing but pyzmq and numpy (any stack can do the same).

    attnseg stream 0 --checkpoint ckpt.pth --zmq tcp://*:5555     # the publisher
    python examples/zmq_subscriber.py tcp://localhost:5555          # this reader

Each message: [b"attnseg", JSON header, label bytes (H*W little-endian int32)(, overlay H*W*3 uint8)].
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import zmq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", default="tcp://localhost:5555")
    parser.add_argument("--count", type=int, default=0, help="stop after this many results (0: never)")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many idle seconds (0: never)")
    args = parser.parse_args()

    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.SUBSCRIBE, b"attnseg")
    socket.connect(args.address)
    received = 0
    while not args.count or received < args.count:
        if not socket.poll(int(args.timeout * 1000) if args.timeout else None):
            print(f"no result for {args.timeout:g} s; stopping")
            break
        topic, header, labels, *rest = socket.recv_multipart(copy=False)
        meta = json.loads(bytes(header.buffer))
        ids = np.frombuffer(labels.buffer, dtype=meta["dtype"]).reshape(meta["height"], meta["width"])  # no copy
        age_ms = (time.time_ns() - meta["stamp_ns"]) / 1e6
        objects = {int(i): int(n) for i, n in zip(*np.unique(ids, return_counts=True))}
        print(f"frame {meta['frame_id']}: {meta['width']}x{meta['height']}, {len(objects)} objects "
              f"(pixels per id {objects}), engine latency {meta['latency_ms']} ms, age {age_ms:.0f} ms")
        received += 1


if __name__ == "__main__":
    main()
