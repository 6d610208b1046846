"""The own upstream client (worker/upstream/upstream_http*.c) with servers that close
connections, as HTTP/1.0 servers, some collectors and upstreams behind load balancers do:
an HTTP/1.0 answer and close; an HTTP/1.1 answer and a close right after it without
"Connection: close"; a kept connection closed without an answer just as the next request
arrives on it; an answer with no Content-Length, its body ending at the close. Each on the
proxy path (every request answered 200, each connection carrying one answer) and for the
OTLP exporter (an export every 100 ms for a few seconds: every span arrives, none is dropped;
and across two reloads, whose old workers send what they hold as they drain)."""
import time

import pytest

from conftest import LoopbackServer
from helpers import CHAT, ctl, free_port, gateway_config, openai_dep, post, wait_for
from test_otel import decode_protobuf, metric, otel

OK_BODY = b'{"id":"x","object":"chat.completion","choices":[]}'
MODES = ["http10", "close_after", "close_kept", "until_close"]


class Closer(LoopbackServer):
    """A raw HTTP server closing connections as MODE says; keeps the request bodies."""

    def __init__(self, mode, body=OK_BODY):
        self.mode = mode
        self.body = body
        self.bodies = []
        self.requests = 0
        super().__init__()

    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def answer(self):
        body = self.body
        if self.mode == "http10":
            return (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    b"%d\r\n\r\n" % len(body) + body)
        if self.mode == "until_close":
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                b"%d\r\n\r\n" % len(body) + body)

    def _serve(self, c):
        f = c.makefile("rb")
        served = 0
        try:
            while True:
                line = f.readline()
                if not line:
                    break
                length = 0
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b""):
                        break
                    name, _, value = h.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = f.read(length)
                if self.mode == "close_kept" and served == 1:
                    break  # its keep-alive ran out just as the request came: no answer
                with self.lock:
                    self.requests += 1
                    self.bodies.append(body)
                c.sendall(self.answer())
                served += 1
                if self.mode != "close_kept":
                    break  # closed after the answer, whatever the answer said
        except OSError:
            pass
        finally:
            f.close()
            c.close()

    def spans(self):
        with self.lock:
            bodies = list(self.bodies)
        return sum(len(ss["spans"]) for b in bodies  # OTLP protobuf, llmgate's default
                   for rs in decode_protobuf(b)["resourceSpans"] for ss in rs["scopeSpans"])


@pytest.mark.parametrize("mode", MODES)
def test_proxy_to_a_closing_upstream(mode, gateway_factory):
    up = Closer(mode)
    try:
        gw = gateway_factory(gateway_config(openai_dep("gpt-4o", None, up.base(),
                                                       key="sk-test-0123456789"), workers=1))
        for i in range(20):
            status, _, body = post(gw, CHAT, timeout=5)
            assert status == 200 and body == OK_BODY, (i, status, body)
            if i % 4 == 3:
                time.sleep(0.05)  # the close arrives while the connection is idle, too
        assert up.requests == 20, "no request was answered twice"
        # one answered request per connection: what a close ended was not used again
        assert up.connections == 20
    finally:
        up.close()


@pytest.mark.parametrize("mode", MODES)
def test_exports_to_a_closing_collector(mode, stub, gateway_factory):
    collector = Closer(mode, body=b"{}")
    admin = free_port()
    try:
        gw = gateway_factory(gateway_config(
            openai_dep("gpt-4o", "dep", stub.base), workers=1,
            llmgate=f"  admin_listen: 127.0.0.1:{admin}\n" + otel(collector.base())))
        n = 25
        for _ in range(n):  # a span pair per flush interval: an export every 100 ms
            assert post(gw, CHAT, timeout=5)[0] == 200
            time.sleep(0.1)
        wait_for(lambda: collector.spans() >= 2 * n, timeout=5,
                 what=f"{2 * n} spans at the collector")
        assert collector.spans() == 2 * n
        wait_for(lambda: metric(admin, "llmgate_otel_spans_exported_total") >= 2 * n,
                 timeout=5, what="the exported spans counted")
        assert metric(admin, "llmgate_otel_spans_dropped_total") == 0
    finally:
        collector.close()


@pytest.mark.parametrize("mode", ["http10", "close_kept"])
def test_exports_across_a_reload_to_a_closing_collector(mode, stub, gateway_factory):
    # the reload's old workers send what they hold as they drain, on new connections too
    collector = Closer(mode, body=b"{}")
    try:
        gw = gateway_factory(gateway_config(
            openai_dep("gpt-4o", "dep", stub.base), workers=2, drain_timeout="5s",
            llmgate=otel(collector.base())))
        n = 0
        for round in range(3):
            for _ in range(8):
                assert post(gw, CHAT, timeout=5)[0] == 200
                n += 1
                time.sleep(0.03)
            if round < 2:
                assert ctl(gw, "reload").returncode == 0
        wait_for(lambda: collector.spans() >= 2 * n, timeout=10,
                 what=f"{2 * n} spans at the collector")
        assert collector.spans() == 2 * n
    finally:
        collector.close()
