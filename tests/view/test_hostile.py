"""The live page's server against hostile input, with real requests: other origins and host names, bad bodies,
idle and slow clients (issue 28)."""
from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time

import numpy as np
import pytest

from attnseg.view import LiveServer
from attnseg.view import http as live
from attnseg.view import server as served

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(monkeypatch):
    yield from served_page(monkeypatch)


def served_page(monkeypatch):
    """A page serving one frame, its idle and slow clients dropped after a second (the fixture of these tests and
    of tests/view/test_in_chromium.py)."""
    monkeypatch.setattr(live, "IO_TIMEOUT", 1.0, raising=False)
    s = LiveServer(port=0)
    labels = np.zeros((40, 60), dtype=np.int32)
    labels[10:30, 5:25] = 3
    s.publish(np.full((40, 60, 3), 90, dtype=np.uint8), labels, {})
    yield s
    s.close()


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp, data


def state(server) -> dict:
    return json.loads(request(server, "GET", "/stats.json")[2])


def test_state_changes_only_from_the_pages_own_origin_with_a_json_body(server):
    port = server.port
    body = json.dumps({"paused": True, "opacity": 0.05}).encode()
    assert request(server, "POST", "/control", body, {**JSON, "Origin": "http://evil.example"})[0] == 403
    # what a page of another origin can send without a preflight: text/plain (fetch no-cors, a form)
    assert request(server, "POST", "/control", body, {"Content-Type": "text/plain"})[0] == 415
    form = json.dumps({"id": 42}).encode()
    assert request(server, "POST", "/follow", form, {"Content-Type": "text/plain"})[0] == 415
    assert (state(server)["paused"], state(server)["opacity"], state(server)["following"]) == (False, 0.5, None)
    status, _, data = request(server, "POST", "/control", body, {**JSON, "Origin": f"http://127.0.0.1:{port}"})
    assert status == 200 and json.loads(data)["paused"] is True  # the page itself


@pytest.mark.parametrize("path", ["/stats.json", "/frame.jpg", "/", "/events"])
def test_another_host_name_is_refused(server, path):
    """DNS rebinding: a name resolving to 127.0.0.1 must not read the page as same-origin."""
    port = server.port
    assert request(server, "GET", path, headers={"Host": f"rebind.example:{port}"})[0] == 403
    assert request(server, "GET", "/stats.json", headers={"Host": f"localhost:{port}"})[0] == 200


@pytest.mark.parametrize("path,body", [
    ("/control", {"paused": "false"}), ("/control", {"opacity": "0.3"}), ("/control", {"opacity": None}),
    ("/control", {"unknown": 1}), ("/follow", {"id": "7"}), ("/follow", {"id": 1.9}), ("/follow", {"id": -1}),
    ("/follow", {"id": 2**63}), ("/follow", {"id": True}), ("/follow", {"x": 0.5}), ("/follow", {"x": 2, "y": 0}),
    ("/shown", {}), ("/shown", {"frame": "3"}), ("/shown", {"frame": 2**64}), ("/control", [1, 2]),
])
def test_bodies_are_checked_by_type_and_range(server, path, body, capfd):
    status, _, data = request(server, "POST", path, json.dumps(body).encode(), JSON)
    assert status == 400 and state(server)["paused"] is False and state(server)["following"] is None
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("raw", [b'{"id": Infinity}', b'{"x": Infinity, "y": 0}', b'{"opacity": NaN}',
                                 b"[" * 100000 + b"]" * 100000, b"{not json",
                                 b'{"opacity": 1' + b"0" * 400 + b"}", b'{"x": 1' + b"0" * 400 + b', "y": 0}',
                                 b'{"opacity": -1' + b"0" * 400 + b"}"])
def test_unparsable_and_non_finite_bodies_are_400_without_a_traceback(server, raw, capfd):
    status = request(server, "POST", "/follow" if b"id" in raw or b"x" in raw else "/control", raw, JSON)[0]
    assert status in (400, 413) and "Traceback" not in capfd.readouterr().err


def test_body_sizes_are_capped_and_required(server, capfd):
    port = server.port
    for length, expected in ((str(10**11), 413), (str(2**63), 413), ("", 411), ("-1", 400)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            head = f"POST /control HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            sock.sendall((head + (f"Content-Length: {length}\r\n" if length else "") + "\r\n").encode())
            assert sock.recv(100).split(b" ")[1] == str(expected).encode(), length
    big = b'{"paused": true, "pad": "' + b"x" * 10_000_000 + b'"}'
    assert request(server, "POST", "/control", big[:5000], {**JSON, "Content-Length": str(len(big))})[0] == 413
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_shorter_than_its_length_is_given_up_at_the_timeout(server):
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /control HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\n\r\n{".encode())
        began = time.monotonic()
        answer, answered = sock.recv(1000), time.monotonic()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert live.IO_TIMEOUT - 0.2 < answered - began < live.IO_TIMEOUT + 1
        while sock.recv(1000):  # then closed: what may follow is read and dropped for one more timeout at most
            pass
        assert time.monotonic() - began < 2 * live.IO_TIMEOUT + 2


def test_idle_clients_hold_no_thread_are_bounded_and_dropped(server):
    """300 idle connections made 311 threads: now every client is served on one event loop (no thread each), at
    most MAX_CONNECTIONS at once (the others are answered 503 and closed), and an idle one is dropped after the
    timeout, whether it sends nothing or a request a byte at a time (slowloris)."""
    port = server.port
    before = threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(live.MAX_CONNECTIONS + 20)]
    time.sleep(0.5)
    assert threading.active_count() == before
    slow = socks[0]
    began = time.monotonic()
    slow.sendall(b"GET /stats.json HTTP/1.1\r\n")
    for s in socks:  # each is answered or closed, none held: the last ones at once, the idle ones at the timeout
        if s is not slow:
            assert s.recv(100) in (b"", b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close"
                                   b"\r\n\r\n")
    with pytest.raises(OSError):  # the slow one: a header a third of the timeout apart, until it is dropped
        while time.monotonic() - began < 3 * live.IO_TIMEOUT:
            time.sleep(live.IO_TIMEOUT / 3)
            slow.sendall(b"X-Slow: 1\r\n")
            if slow.recv(100, socket.MSG_DONTWAIT) == b"":
                raise ConnectionResetError("closed")
    assert time.monotonic() - began < live.IO_TIMEOUT + 2.0
    assert threading.active_count() == before
    for s in socks:
        s.close()
    assert request(server, "GET", "/stats.json")[0] == 200


def test_live_readers_are_capped(server):
    port = server.port
    readers = []
    for _ in range(live.MAX_STREAMS):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/events")
        assert conn.getresponse().status == 200
        readers.append(conn)
    assert request(server, "GET", "/stream")[0] == 503
    for conn in readers:
        conn.close()


def test_a_reader_that_stops_reading_is_dropped_not_buffered_for(server):
    """50 SSE and 20 MJPEG readers that never read filled 78 MB of send buffers: now a live reader whose writes
    wait longer than the timeout is dropped, and the frames it missed are never queued for it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader_that_never_reads(server, sock)
    rng, began = np.random.default_rng(0), time.monotonic()
    while server.readers and time.monotonic() - began < 4 * live.IO_TIMEOUT + 5:  # noise: a JPEG of ~1 MB a frame
        server.publish(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), np.zeros((480, 640), np.int32), {})
        time.sleep(0.05)
    assert server.readers == 0, "the reader that never reads is still served"
    sock.close()
    assert request(server, "GET", "/stats.json")[0] == 200


def reader_that_never_reads(server, sock: socket.socket) -> None:
    """Connect `sock` to the server's /stream and wait until it is counted as a live reader."""
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    began = time.monotonic()
    while server.readers == 0 and time.monotonic() - began < 5:
        time.sleep(0.01)
    assert server.readers == 1


def server_side_connections(port: int) -> list[tuple[str, int]]:
    """(state, bytes queued to send) of each TCP connection from local `port` (Linux: /proc/net/tcp)."""
    found = []
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if int(local.split(":")[1], 16) == port:
            found.append((state, int(queues.split(":")[0], 16)))
    return found


@pytest.mark.skipif(not __import__("os").path.exists("/proc/net/tcp"), reason="reads Linux's /proc/net/tcp")
def test_a_reader_with_the_usual_buffers_that_stops_reading_is_aborted_within_the_timeout(server):
    """A /stream reader with the system's own buffers that stops reading held its slot 45-50 s and stayed
    ESTABLISHED with MBs queued after 4 minutes: now what it leaves unread is bounded (LIVE_BACKLOG), it is dropped
    once that has not drained for IO_TIMEOUT, and its connection is aborted, not left queued."""
    port, sock = server.port, socket.socket()
    reader_that_never_reads(server, sock)  # the system's own buffers
    rng, began, queued = np.random.default_rng(0), time.monotonic(), 0
    while server.readers and time.monotonic() - began < 30:
        server.publish(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), np.zeros((480, 640), np.int32), {})
        queued = max([queued] + [q for _, q in server_side_connections(port)])
        time.sleep(0.05)
    dropped = time.monotonic() - began
    assert server.readers == 0 and dropped < live.IO_TIMEOUT + 4, f"served {dropped:.1f} s"
    assert queued < live.LIVE_BACKLOG + 4 * 2**20
    time.sleep(0.5)
    left = [c for c in server_side_connections(port) if c[0] != "0A"]  # 0A: the listening socket
    assert not left, f"still connected (state, bytes queued): {left}"  # 01 ESTABLISHED, 04 FIN_WAIT1, ...
    sock.close()
    assert request(server, "GET", "/stats.json")[0] == 200


def test_every_answer_forbids_inline_script_and_framing_by_others(server):
    for path in ("/", "/page.js", "/stats.json", "/frame.jpg", "/nowhere"):
        _, resp, _ = request(server, "GET", path)
        policy = resp.getheader("Content-Security-Policy")
        assert "frame-ancestors 'self'" in policy and "'unsafe-inline'" not in policy and "default-src 'self'" in \
            policy and resp.getheader("X-Frame-Options") == "SAMEORIGIN", path
    assert b"<script>" not in request(server, "GET", "/")[2]


def test_port_80_takes_the_name_alone_and_ipv6_loopback_is_loopback(monkeypatch):
    said = []
    monkeypatch.setattr(served.log, "warning", lambda msg, *args: said.append(msg % args))
    try:
        s = LiveServer(port=80)
    except OSError:
        s = None  # port 80 taken, or not ours to bind: the IPv6 half still runs
    if s is not None:
        try:
            assert request(s, "GET", "/stats.json", headers={"Host": "127.0.0.1"})[0] == 200  # a browser's Host on :80
            assert request(s, "GET", "/stats.json", headers={"Host": "evil.example"})[0] == 403
        finally:
            s.close()
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        six = LiveServer(port=0, host="::1")
    except OSError as err:
        pytest.skip(f"cannot bind ::1 here ({err})")
    try:
        assert six.url == f"http://[::1]:{six.port}/" and not said  # loopback: nothing to warn about
        conn = http.client.HTTPConnection("::1", six.port, timeout=5)
        conn.request("GET", "/stats.json", headers={"Host": f"[::1]:{six.port}"})
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        six.close()


def test_an_empty_token_is_refused():
    from attnseg.errors import SettingError

    with pytest.raises(SettingError, match="empty token"):
        LiveServer(port=0, token="")


def test_head_and_options_are_answered_without_opening_cors(server):
    status, resp, data = request(server, "HEAD", "/")
    assert status == 200 and data == b"" and resp.getheader("Content-Type").startswith("text/html")
    status, resp, _ = request(server, "OPTIONS", "/control", headers={"Origin": "http://evil.example",
                                                                         "Access-Control-Request-Method": "POST"})
    assert status in (204, 403) and resp.getheader("Access-Control-Allow-Origin") is None


def test_a_client_that_goes_away_is_quiet(server, capfd):
    port = server.port
    for path in ("/stream", "/events"):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        sock.recv(10)
        sock.close()
    for _ in range(20):
        server.publish(np.full((40, 60, 3), 10, dtype=np.uint8), np.zeros((40, 60), np.int32), {})
        time.sleep(0.05)
    time.sleep(live.IO_TIMEOUT)
    assert "Traceback" not in capfd.readouterr().err


def test_a_token_guards_every_request_and_is_set_as_no_cookie(capfd):
    s = LiveServer(port=0, token="s3cret")
    try:
        assert s.page_url.endswith("/?token=s3cret")
        assert request(s, "GET", "/stats.json")[0] == 401
        status, resp, _ = request(s, "GET", "/?token=s3cret")
        assert status == 200 and resp.getheader("Set-Cookie") is None  # a cookie would reach every port of the host
        assert request(s, "GET", "/stats.json?token=s3cret")[0] == 200
        assert request(s, "GET", "/stats.json?token=guess")[0] == 401
        assert request(s, "GET", "/stats.json", headers={"Cookie": "attnseg_token=s3cret"})[0] == 401
        body = json.dumps({"paused": True}).encode()
        assert request(s, "POST", "/control?token=s3cret", body, JSON)[0] == 200
        for bad in ("/stats.json?token=%FF%FE", "/stats.json?token=s3cr%C3%A9t"):  # not UTF-8; not ASCII
            assert request(s, "GET", bad)[0] == 401
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:  # raw non-ASCII bytes
            sock.sendall(f"GET /stats.json?token=\xff HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n"
                         "Cookie: attnseg_token=\xff\xfe\r\n\r\n".encode("latin-1"))
            assert sock.recv(100).split(b" ")[1] in (b"400", b"401")
        assert "Traceback" not in capfd.readouterr().err
    finally:
        s.close()


def test_serving_beyond_loopback_says_so_loudly(monkeypatch):
    said = []  # what the server logs (caplog depends on the handlers other tests leave behind)
    monkeypatch.setattr(served.log, "warning", lambda msg, *args: said.append(msg % args))
    LiveServer(port=0, host="0.0.0.0").close()
    LiveServer(port=0).close()
    (line,) = said
    assert "served on 0.0.0.0" in line and "ANYONE WHO CAN REACH THIS ADDRESS CAN WATCH AND CONTROL IT" in line
