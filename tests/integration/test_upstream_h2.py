"""The own HTTP/2 client (worker/upstream/upstream_h2*.c), against a strict HTTP/2 upstream on
TLS (H2Upstream, on Debian's python3-h2, which checks every frame and header as RFC 9113 asks).
The own HTTP/1.1 client makes each connection; one whose handshake chose h2 is handed over
with its request, and the upstream's next requests go as streams on it. JSON and streams,
request headers as HTTP/2 wants them, many concurrent requests over one connection, the
upstream's SETTINGS_MAX_CONCURRENT_STREAMS kept, backpressure through flow control (a paused
client's stream stops while the connection's others go on), an upstream that stops reading a
large request body, a refused stream (REFUSED_STREAM, GOAWAY) sent again once, other resets
before the first byte (the proxy retries) and after it (an in-band error), a lost connection, the deployment's timeout, a client that leaves, and
the switch (LLMGATE_UPSTREAM_H2=curl: libcurl carries HTTP/2, as before)."""
import json
import select
import socket
import ssl
import threading
import time

import h2.config  # python3-h2 (scripts/deps)
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
from h2.errors import ErrorCodes

from conftest import LoopbackServer
from helpers import (CHAT, asan_build, connect, dechunk, events_of, post, post_bytes, request,
                     stream_request, vm_kb, wait_for)
from test_http import one_worker
from test_upstream_tls import certs  # noqa: F401 (a fixture)
from test_upstream_tls import OK_BODY, config

OWN = {}  # the default: the own HTTP/2 client
EVENT = (b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
         b'"delta":{"content":"' + b"x" * 160 + b'"}}]}\n\n')
DONE = b"data: [DONE]\n\n"
CONNECTION_SPECIFIC = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                       "upgrade", "host"}


class H2Upstream(LoopbackServer):
    """A TLS upstream that speaks HTTP/2 only (ALPN "h2"), through python3-h2 (which fails the
    connection on any frame or header HTTP/2 forbids). PLAN(n, request) says what the Nth
    request (from 0) gets: ("json",), ("interim_trailers",) (a 103 head, the JSON answer,
    trailers), ("json_then_goaway",) (the connection ends 0.2 s after the answer),
    ("stream", events, delay_s), ("rst", error_code) before
    any response byte, ("rst_after", events), ("goaway",) refusing it (last stream id below
    it), ("goaway_after", events), ("close_after", events) (the socket closes), ("hold",).
    Every request is checked as RFC 9113 8.3 and the OpenAI API want it and kept in
    self.requests (headers, body); violations in self.violations. MAX_STREAMS is its
    SETTINGS_MAX_CONCURRENT_STREAMS; with ACK_DELAY a request body's window is given back only
    that many seconds after it came (an upstream that stops reading). Counts h2 connections,
    the most streams open at once on one (peak), bytes it could not send yet for want of
    window (blocked, per stream id), and the streams the client reset (resets: id, code)."""

    def __init__(self, certs, plan=None, max_streams=100, ack_delay=0.0):
        self.plan = plan or (lambda n, req: ("json",))
        self.max_streams = max_streams
        self.ack_delay = ack_delay
        self.requests, self.violations = [], []
        self.h2_conns = self.peak = 0
        self.blocked, self.resets = {}, []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*certs["good"])
        self.ctx.set_alpn_protocols(["h2"])
        super().__init__()

    def base(self):
        return f"https://127.0.0.1:{self.port}"

    # --- checks -----------------------------------------------------------------------------

    def _check(self, headers, body):
        names = [k for k, _ in headers]
        pseudo = [k for k in names if k.startswith(":")]
        d = dict(headers)
        bad = []
        if names[:len(pseudo)] != pseudo:
            bad.append("a pseudo-header after a regular one")
        if sorted(pseudo) != sorted([":method", ":scheme", ":authority", ":path"]):
            bad.append(f"pseudo-headers {pseudo}")
        if d.get(":scheme") != "https" or d.get(":authority") != f"127.0.0.1:{self.port}":
            bad.append(f"scheme/authority {d.get(':scheme')} {d.get(':authority')}")
        if any(k != k.lower() for k in names):
            bad.append("an upper-case name")
        if CONNECTION_SPECIFIC & set(names) or d.get("te", "trailers") != "trailers":
            bad.append(f"connection-specific {CONNECTION_SPECIFIC & set(names)}")
        if d.get(":method") == "POST" and d.get("content-length") != str(len(body)):
            bad.append(f"content-length {d.get('content-length')} for {len(body)} bytes")
        if len(names) != len(set(names)):
            bad.append("a repeated field")
        return bad

    # --- serving ----------------------------------------------------------------------------

    def _serve(self, raw):
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        if c.selected_alpn_protocol() != "h2":
            c.close()
            return
        with self.lock:
            self.h2_conns += 1
        try:
            _Conn(self, c).run()
        except (ssl.SSLError, OSError, h2.exceptions.ProtocolError) as e:
            if isinstance(e, h2.exceptions.ProtocolError):
                with self.lock:
                    self.violations.append(repr(e))
        finally:
            c.close()


class _Conn:
    """One connection of an H2Upstream: a loop over its socket and its timed sends."""

    def __init__(self, up, sock):
        self.up, self.sock = up, sock
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                        validate_inbound_headers=True,
                                        normalize_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.h2.local_settings = h2.settings.Settings(
            client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: up.max_streams})
        self.streams = {}   # id: (headers, bytearray body)
        self.pending = {}   # id: [bytearray, end]
        self.timers = []    # (when, fn)
        self.open = set()
        self.closing = False

    def send(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def later(self, delay, fn):
        self.timers.append((time.monotonic() + delay, fn))

    def queue(self, sid, data, end=False):
        if sid not in self.open:
            return
        p = self.pending.setdefault(sid, [bytearray(), False])
        p[0] += data
        p[1] = p[1] or end
        self.flush()

    def flush(self):
        for sid, p in list(self.pending.items()):
            if sid not in self.open:
                del self.pending[sid]
                continue
            while p[0]:
                room = min(self.h2.local_flow_control_window(sid),
                           self.h2.max_outbound_frame_size, len(p[0]))
                if room <= 0:
                    break
                self.h2.send_data(sid, bytes(p[0][:room]))
                del p[0][:room]
            with self.up.lock:
                self.up.blocked[sid] = len(p[0])
            if not p[0] and p[1]:
                self.h2.end_stream(sid)
                self.open.discard(sid)
                del self.pending[sid]
        self.send()

    def head(self, sid, ctype, length=None):
        fields = [(":status", "200"), ("content-type", ctype)]
        if length is not None:
            fields.append(("content-length", str(length)))
        self.h2.send_headers(sid, fields)

    def events(self, sid, n, delay, then):
        """N stream events on SID, DELAY apart, then THEN()."""
        if not delay:
            if sid in self.open:
                self.queue(sid, EVENT * n)
                then()
            return

        def step(i):
            if sid not in self.open:
                return
            if i == n:
                then()
                return
            self.queue(sid, EVENT)
            self.later(delay, lambda: step(i + 1))
        step(0)

    def reset(self, sid, code):
        if sid in self.open:
            self.h2.reset_stream(sid, error_code=code)
            self.open.discard(sid)
            self.send()

    def goaway(self, last):
        self.h2.close_connection(error_code=ErrorCodes.NO_ERROR, last_stream_id=last)
        self.send()
        self.closing = True

    def answer(self, sid, n, headers, body):
        try:
            req = json.loads(body) if body else None
        except ValueError:
            req = None
        plan = self.up.plan(n, req)
        kind = plan[0]
        if kind == "json":
            self.head(sid, "application/json", len(OK_BODY))
            self.queue(sid, OK_BODY, end=True)
        elif kind == "stream":
            self.head(sid, "text/event-stream")
            self.events(sid, plan[1], plan[2], lambda: self.queue(sid, DONE, end=True))
        elif kind == "interim_trailers":
            # a 103 and trailers, both with a content-type that is not the response's
            # (the final head has none: one taken from them would show)
            self.h2.send_headers(sid, [(":status", "103"), ("content-type", "text/html")])
            self.h2.send_headers(sid, [(":status", "200"), ("content-length", str(len(OK_BODY)))])
            self.queue(sid, OK_BODY)
            self.later(0.05, lambda: (self.h2.send_headers(
                sid, [("content-type", "text/html")], end_stream=True), self.send(),
                self.open.discard(sid)))
        elif kind == "json_then_goaway":
            self.head(sid, "application/json", len(OK_BODY))
            self.queue(sid, OK_BODY, end=True)
            self.later(0.2, lambda: self.goaway(sid))
        elif kind == "rst":
            self.reset(sid, plan[1])
        elif kind == "rst_after":
            self.head(sid, "text/event-stream")
            self.events(sid, plan[1], 0.05,
                        lambda: self.reset(sid, ErrorCodes.INTERNAL_ERROR))
        elif kind == "goaway":
            self.goaway(sid - 2 if sid > 1 else 0)
        elif kind == "goaway_after":
            self.head(sid, "text/event-stream")
            self.events(sid, plan[1], 0.05, lambda: self.goaway(sid))
        elif kind == "close_after":
            self.head(sid, "text/event-stream")
            self.events(sid, plan[1], 0.05, lambda: setattr(self, "closing", True))
        self.send()

    def on_event(self, ev):
        up = self.up
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = (list(ev.headers), bytearray())
            self.open.add(ev.stream_id)
            with up.lock:
                up.peak = max(up.peak, len(self.open))
        elif isinstance(ev, h2.events.DataReceived):
            self.streams[ev.stream_id][1].extend(ev.data)
            sid, n = ev.stream_id, ev.flow_controlled_length

            def ack():
                try:
                    self.h2.acknowledge_received_data(n, sid)
                except h2.exceptions.StreamClosedError:
                    pass
                self.send()
            if up.ack_delay:
                self.later(up.ack_delay, ack)
            else:
                ack()
        elif isinstance(ev, h2.events.StreamEnded):
            headers, body = self.streams[ev.stream_id]
            with up.lock:
                n = len(up.requests)
                up.requests.append((dict(headers), bytes(body)))
                up.violations += up._check(headers, bytes(body))
            self.answer(ev.stream_id, n, headers, bytes(body))
        elif isinstance(ev, h2.events.StreamReset):
            self.open.discard(ev.stream_id)
            with up.lock:
                up.resets.append((ev.stream_id, ev.error_code))
        elif isinstance(ev, h2.events.WindowUpdated):
            self.flush()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closing = True

    def run(self):
        self.h2.initiate_connection()
        self.send()
        self.sock.settimeout(None)
        while not self.closing:
            now = time.monotonic()
            due = [t for t in self.timers if t[0] <= now]
            self.timers = [t for t in self.timers if t[0] > now]
            for _, fn in due:
                fn()
            if self.closing:
                break
            wait = min([t[0] for t in self.timers], default=now + 0.2) - time.monotonic()
            if not self.sock.pending():
                r, _, _ = select.select([self.sock], [], [], max(0.0, min(wait, 0.2)))
                if not r:
                    continue
            data = self.sock.recv(65536)
            if not data:
                return
            for ev in self.h2.receive_data(data):
                self.on_event(ev)
            self.send()
            self.flush()


def gateway(gateway_factory, up, certs, retries=0, params="", env=OWN):
    return gateway_factory(config(up.base(), certs["ca"], retries=retries, params=params),
                           env=env)


def read_stream(gw, body, timeout=30):
    r = stream_request(gw.port, body, timeout)
    return r.status, r.body


# --- JSON and streams -----------------------------------------------------------------------

def test_json_and_stream_over_one_connection(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("stream", 5, 0.01) if req and req.get("stream")
                    else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs)
        for _ in range(3):
            status, headers, body = post(gw)
            assert status == 200 and body == OK_BODY, body
        status, body = read_stream(gw, dict(CHAT, stream=True))
        assert status == 200
        events = events_of(body)
        assert len(events) == 6 and events[-1] == "data: [DONE]", events
        assert up.h2_conns == 1 and up.connections == 1, "one connection, handed over"
        assert up.violations == [], up.violations
        headers, sent = up.requests[0]
        assert headers[":method"] == "POST" and headers[":path"] == "/v1/chat/completions"
        assert headers["authorization"] == "Bearer sk-test-0123456789"
        assert json.loads(sent)["messages"] == CHAT["messages"]
        wait_for(lambda: "chose HTTP/2: the own HTTP/2 client carries" in gw.logs(),
                 what="the hand-over in the log")
    finally:
        up.close()


def test_interim_heads_and_trailers_are_not_the_response_head(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("interim_trailers",))
    try:
        gw = gateway(gateway_factory, up, certs)
        for _ in range(2):
            status, headers, body = post(gw)
            assert status == 200 and body == OK_BODY, body
            assert headers.get("content-type") != "text/html", headers
        assert up.h2_conns == 1 and up.violations == []
    finally:
        up.close()


def test_many_concurrent_requests_share_one_connection(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("stream", 4, 0.1))
    try:
        gw = gateway(gateway_factory, up, certs)
        assert read_stream(gw, dict(CHAT, stream=True))[0] == 200  # the connection
        results = []

        def one():
            results.append(read_stream(gw, dict(CHAT, stream=True)))
        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 20
        for status, body in results:
            assert status == 200 and body.endswith(DONE), body
        assert up.connections == 1 and up.h2_conns == 1, "one connection for all"
        assert up.peak >= 10, f"streams at once: {up.peak}"
        assert up.violations == []
    finally:
        up.close()


def test_max_concurrent_streams_is_kept(certs, gateway_factory):
    # SETTINGS_MAX_CONCURRENT_STREAMS 2: never more at once on a connection; more requests
    # get a new connection (made by the own client, handed over)
    up = H2Upstream(certs, plan=lambda n, req: ("stream", 3, 0.15), max_streams=2)
    try:
        gw = gateway(gateway_factory, up, certs)
        assert read_stream(gw, dict(CHAT, stream=True))[0] == 200
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            read_stream(gw, dict(CHAT, stream=True)))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [s for s, _ in results] == [200] * 6
        assert up.peak == 2, up.peak
        assert up.h2_conns >= 3, up.h2_conns
        assert up.violations == []
    finally:
        up.close()


# --- flow control ---------------------------------------------------------------------------

def test_a_paused_client_stops_its_stream_not_the_connection(certs, gateway_factory):
    n_events = 40000  # ~8 MB, far beyond a stream's window and the sockets' buffers
    up = H2Upstream(certs, plan=lambda n, req: ("stream", n_events, 0) if n == 1 else ("json",))
    s = socket.socket()
    try:
        gw = gateway(gateway_factory, up, certs)
        assert post(gw)[0] == 200
        worker = one_worker(gw)
        base_rss = vm_kb(worker, "VmRSS")
        s.connect(("127.0.0.1", gw.port))
        s.sendall(post_bytes("/v1/chat/completions", dict(CHAT, stream=True)))
        # the client reads nothing: once the sockets' buffers are full the gateway stops
        # taking the stream's bytes, and the upstream runs out of the stream's window

        def settled():
            before = up.blocked.get(3, 0)
            time.sleep(0.5)
            return before > 0 and up.blocked.get(3, 0) == before
        wait_for(settled, timeout=30, interval=0, what="the upstream blocked by the window")
        assert up.blocked[3] > 4 << 20, up.blocked[3]
        if not asan_build():  # ASan's quarantine and shadow memory hold more than the window
            assert vm_kb(worker, "VmRSS") - base_rss < 2048, "at most about a window held"
        # the connection's other streams go on
        status, _, body = post(gw)
        assert status == 200 and body == OK_BODY
        assert up.h2_conns == 1
        got = bytearray()
        s.settimeout(30)
        while not got.endswith(b"\r\n0\r\n\r\n"):
            more = s.recv(1 << 20)
            assert more, "the stream ended early"
            got += more
        body, complete = dechunk(bytes(got).split(b"\r\n\r\n", 1)[1])
        assert complete and body.count(b'"delta"') == n_events and body.endswith(DONE)
        assert up.violations == []
    finally:
        s.close()
        up.close()


def test_an_upstream_that_stops_reading_the_body(certs, gateway_factory):
    # a body beyond the initial window (64 KiB): the rest waits for the upstream's window
    # updates, each a second after the bytes it gives room for came
    up = H2Upstream(certs, ack_delay=1.0)
    try:
        gw = gateway(gateway_factory, up, certs)
        assert post(gw)[0] == 200
        big = dict(CHAT, messages=[{"role": "user", "content": "y" * 300000}])
        started = time.monotonic()
        result = []
        t = threading.Thread(target=lambda: result.append(post(gw, big, timeout=60)))
        t.start()
        wait_for(lambda: len(up.requests) == 1 and up.h2_conns == 1, what="nothing more yet")
        time.sleep(0.3)
        assert len(up.requests) == 1, "the body is not complete yet"
        t.join(60)
        assert result and result[0][0] == 200, result
        assert time.monotonic() - started >= 2.0, "it waited for window updates"
        assert json.loads(up.requests[1][1])["messages"][0]["content"] == "y" * 300000
        assert up.violations == []
    finally:
        up.close()


@pytest.mark.parametrize("env", [OWN, {"LLMGATE_UPSTREAM_H2": "curl"}], ids=["own", "curl"])
def test_a_spooled_upload_is_sent_from_its_file(certs, gateway_factory, env):
    """An upload the server spooled to a file (worker/http/http_reader_spool.c) goes out in
    DATA frames read from the file: the first one on the connection the own HTTP/1.1 client
    made and handed over (to the own HTTP/2 client, or to libcurl's read callback), the
    second on HTTP/2 from the start; byte for byte, with the right content-length."""
    up = H2Upstream(certs)
    try:
        gw = gateway(gateway_factory, up, certs, env=env)
        boundary = "----llmgate-h2-upload"
        audio = bytes(range(256)) * (3 * 1024 * 1024 // 256)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + audio + (
                    f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                    f"gpt-4o\r\n--{boundary}--\r\n").encode()
        for n in range(2):
            status, _, answer = request(
                gw.port, "POST", "/v1/audio/transcriptions", body,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
            assert status == 200, answer
            assert len(up.requests) == n + 1
            # the group's model named the upstream's (gpt-4o-mini): the field rewritten only
            assert up.requests[-1][1] == body.replace(b"\r\n\r\ngpt-4o\r\n",
                                                      b"\r\n\r\ngpt-4o-mini\r\n")
        assert up.violations == []
    finally:
        up.close()


# --- resets, GOAWAY, loss ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rst_refused", "goaway"])
def test_a_refused_stream_is_sent_again(certs, gateway_factory, kind):
    # REFUSED_STREAM, or a GOAWAY whose last stream is below it: not processed, so the
    # client sends it again itself (on a new connection after a GOAWAY), once, at the
    # proxy's first attempt
    first = {"rst_refused": ("rst", ErrorCodes.REFUSED_STREAM), "goaway": ("goaway",)}[kind]
    up = H2Upstream(certs, plan=lambda n, req: first if n == 1 else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs)
        assert post(gw)[0] == 200
        status, headers, body = post(gw)
        assert status == 200 and body == OK_BODY, body
        assert headers["x-llmgate-attempts"] == "1"
        assert len(up.requests) == 3
        assert up.h2_conns == (2 if kind == "goaway" else 1)
        assert up.violations == []
    finally:
        up.close()


def test_a_stream_refused_twice_fails_before_the_first_byte(certs, gateway_factory):
    # sent again once only: refused again, it fails as a connect error, which the proxy
    # retries (num_retries 1), and that attempt may be sent again once too
    up = H2Upstream(certs, plan=lambda n, req: ("rst", ErrorCodes.REFUSED_STREAM) if n else
                    ("json",))
    try:
        gw = gateway(gateway_factory, up, certs, retries=1)
        assert post(gw)[0] == 200
        status, headers, body = post(gw)
        assert status == 502, body
        assert headers["x-llmgate-attempts"] == "2"
        assert len(up.requests) == 5, "two attempts, each sent twice"
        assert up.violations == []
    finally:
        up.close()


def test_a_reset_before_the_first_byte_is_retried_by_the_proxy(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("rst", ErrorCodes.INTERNAL_ERROR) if n == 1
                    else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs, retries=1)
        assert post(gw)[0] == 200
        status, headers, body = post(gw)
        assert status == 200 and body == OK_BODY, body
        assert headers["x-llmgate-attempts"] == "2"
        assert len(up.requests) == 3
        assert up.violations == []
    finally:
        up.close()


def test_a_connection_the_upstream_ends_when_idle_is_replaced(certs, gateway_factory):
    # GOAWAY and a close after an answer, as an upstream does with an idle connection: the
    # next request gets a new connection, at its first attempt
    up = H2Upstream(certs, plan=lambda n, req: ("json_then_goaway",))
    try:
        gw = gateway(gateway_factory, up, certs)
        for i in range(3):
            status, headers, body = post(gw)
            assert status == 200 and body == OK_BODY, body
            assert headers["x-llmgate-attempts"] == "1"
            wait_for(lambda: up.connections == i + 1 and up.h2_conns == i + 1,
                     what="the connection")
            time.sleep(0.5)
        assert up.violations == []
    finally:
        up.close()


@pytest.mark.parametrize("kind", ["rst_after", "goaway_after", "close_after"])
def test_cut_after_the_first_byte_is_an_in_band_error(certs, gateway_factory, kind):
    up = H2Upstream(certs, plan=lambda n, req: (kind, 3) if n == 1 else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs, retries=1)
        assert post(gw)[0] == 200
        status, body = read_stream(gw, dict(CHAT, stream=True))
        assert status == 200
        assert body.count(b'"delta"') == 3 and DONE not in body, body
        assert b"upstream_error" in body, body
        assert len(up.requests) == 2, "not retried"
        status, _, body = post(gw)  # and the gateway goes on, on a connection that works
        assert status == 200 and body == OK_BODY
        assert up.violations == []
    finally:
        up.close()


def test_timeout_resets_the_stream(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("hold",) if n == 1 else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs, params="\n      timeout: 1")
        assert post(gw)[0] == 200
        status, _, body = post(gw)
        assert status == 504 and json.loads(body)["error"]["code"] == "upstream_timeout"
        status, _, body = post(gw)
        assert status == 200 and body == OK_BODY
        assert up.h2_conns == 1, "the connection outlived the stream"
        assert up.resets == [(3, ErrorCodes.CANCEL)]
    finally:
        up.close()


def test_client_leaving_resets_its_stream(certs, gateway_factory):
    up = H2Upstream(certs, plan=lambda n, req: ("stream", 200, 0.05) if n == 1 else ("json",))
    try:
        gw = gateway(gateway_factory, up, certs)
        assert post(gw)[0] == 200
        s, f = connect(gw.port)
        s.sendall(post_bytes("/v1/chat/completions", dict(CHAT, stream=True)))
        assert f.readline().startswith(b"HTTP/1.1 200")
        f.close()
        s.close()
        wait_for(lambda: up.resets == [(3, ErrorCodes.CANCEL)], what="the stream reset")
        status, _, body = post(gw)
        assert status == 200 and body == OK_BODY
        assert up.h2_conns == 1 and up.violations == []
    finally:
        up.close()


def test_curl_switch_keeps_http2_on_libcurl(certs, gateway_factory):
    up = H2Upstream(certs)
    try:
        gw = gateway(gateway_factory, up, certs, env={"LLMGATE_UPSTREAM_H2": "curl"})
        for _ in range(3):
            assert post(gw)[0] == 200
        assert up.h2_conns == 2, "the own client's handshake, then libcurl's connection"
        assert "libcurl carries its requests" in gw.logs()
        assert up.violations == []
    finally:
        up.close()
