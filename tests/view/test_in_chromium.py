"""The live page in a real Chromium against hostile pages: another origin can neither change the state nor frame
the page, the server's values are text in it, and two pages with tokens stay live side by side."""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time

import numpy as np
import pytest

from attnseg.view import LiveServer
from tests.view.test_hostile import request, served_page, state


@pytest.fixture
def server(monkeypatch):
    yield from served_page(monkeypatch)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_page_of_another_origin_in_chromium_cannot_change_the_state_and_the_page_loads(server, tmp_path):
    """What a site open in the user's browser can send: a no-cors fetch with a text/plain body, a hidden form
    posting text/plain, a JSON fetch (its preflight gets no CORS answer), and a read under a rebound name. None
    changes the state or reads it; the page itself fires its load event (an endless MJPEG image never did)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    port = server.port
    target = f"http://127.0.0.1:{port}"
    attack = f"""<form id=f method=POST action="{target}/follow" enctype="text/plain" target=sink>
<input name='{{"id": 42, "pad": "' value='"}}'></form><iframe name=sink></iframe>
<script>
fetch("{target}/control", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
      body: JSON.stringify({{paused: true, opacity: 0.05}})}});
fetch("{target}/control", {{method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{paused: true}})}}).catch(() => document.title = "blocked");
document.getElementById("f").submit();
</script>"""
    (tmp_path / "attack.html").write_text(attack)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # a second origin on this machine
    threading.Thread(target=other.serve_forever, daemon=True).start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                                    "--host-resolver-rules=MAP rebind.test 127.0.0.1"])
        page = browser.new_page()
        page.goto(f"http://localhost:{other.server_address[1]}/attack.html")
        page.wait_for_function("document.title === 'blocked'", timeout=10000)
        time.sleep(1.0)
        assert (state(server)["paused"], state(server)["opacity"], state(server)["following"]) == (False, 0.5, None)
        assert page.goto(f"http://rebind.test:{port}/stats.json").status == 403
        own = browser.new_page(bypass_csp=True)  # the page's CSP forbids eval, which wait_for_function uses
        own.goto(target + "/", wait_until="load", timeout=15000)  # the page's load event fires
        own.click("#pause")
        own.wait_for_function("document.querySelector('#pause').textContent === 'resume'")
        assert state(server)["paused"] is True  # the page's own controls still work
        browser.close()
    other.shutdown()


def chromium():
    """(playwright's sync API, the chromium binary), or a skip naming what is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    return sync_api


def test_server_values_are_text_in_the_page_and_another_origin_cannot_frame_it(tmp_path):
    """A checkpoint named like markup is shown as its name, never run (it was set with innerHTML); a page of
    another origin that frames the live page gets nothing (frame-ancestors), so it cannot click its controls."""
    sync_api = chromium()
    name = "<img src=x onerror=\"document.title='pwned'\">.pth"
    s = LiveServer(port=0, info={"mode": "<b>st</b>", "weights": f"checkpoint {name}", "random_weights": False,
                                 "source": "0"})
    labels = np.zeros((40, 60), dtype=np.int32)
    s.publish(np.full((40, 60, 3), 90, dtype=np.uint8), labels, {})
    target = f"http://127.0.0.1:{s.port}/"
    (tmp_path / "frame.html").write_text(f'<iframe id=f src="{target}" width=400 height=300></iframe>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(target, wait_until="load", timeout=15000)
            deadline = time.monotonic() + 10  # polled from here: the page's CSP (under test) forbids Playwright's eval
            while ".pth" not in (page.text_content("#weights") or "") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert page.text_content("#weights") == f"weights: checkpoint {name}"
            assert page.text_content("#mode") == "<b>st</b>"
            assert page.evaluate("document.querySelectorAll('#weights img, #mode b').length") == 0
            time.sleep(0.5)
            assert page.title() == "attnseg live"  # the onerror never ran
            framing = browser.new_page()
            framing.goto(f"http://localhost:{other.server_address[1]}/frame.html", wait_until="load", timeout=15000)
            time.sleep(1.0)
            inner = framing.frames[1]
            assert inner.url != target or inner.evaluate("document.getElementById('pause')") is None  # blocked
            browser.close()
    finally:
        other.shutdown()
        s.close()


def test_two_pages_with_tokens_on_two_ports_of_one_browser_both_stay_live():
    """Two demos with tokens on two ports: the cookie of one overwrote the other's and its page froze. The token is
    now each page's own (from its address), and both keep painting frames and taking clicks."""
    sync_api = chromium()
    servers = [LiveServer(port=0, token=f"token-{i}") for i in range(2)]
    rng = np.random.default_rng(0)
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            for s in servers:
                s.publish(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), np.zeros((40, 60), np.int32), {})
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(bypass_csp=True)  # one profile for both pages; eval for wait_for_function
            pages = [context.new_page() for _ in servers]
            for page, s in zip(pages, servers):
                page.goto(s.page_url, wait_until="load", timeout=15000)
            time.sleep(1.0)
            seen = [int(page.get_attribute("#view", "data-frame") or -1) for page in pages]
            time.sleep(1.5)
            for page, before in zip(pages, seen):
                assert int(page.get_attribute("#view", "data-frame") or -1) > before >= 0  # still painting
            pages[1].click("#pause")
            pages[1].wait_for_function("document.querySelector('#pause').textContent === 'resume'")
            assert [json.loads(request(s, "GET", f"/stats.json?token={s.token}")[2])["paused"] for s in servers] \
                == [False, True]
            browser.close()
    finally:
        stop.set()
        feeder.join()
        for s in servers:
            s.close()
