"""The fault matrix (issue 10, SPEC 4 and 14): every way an upstream or a
client misbehaves, one test (or one parameter) per cell, each asserting what
the client gets, exactly, and that the worker survived it: the same worker
pid before and after, still serving a normal request, and no sanitizer
report (the autouse fixture in conftest).

Upstream side (all before the first response byte is retried, num_retries 2
with one deployment: three attempts, then one OpenAI-shaped error):
  connection refused       502 upstream_error/upstream_unavailable, 'connect' x3
  DNS failure (.invalid)   502 upstream_unavailable, 'dns' (one attempt here)
  TLS failure              502 upstream_unavailable, 'tls' x3 (an untrusted CA)
  accept, then hang        504 timeout/upstream_timeout, 'timeout' x3 (stream too)
  headers, then hang       504 timeout/upstream_timeout, 'timeout' x3 (stream too)
  reset mid-body           502 upstream_unavailable, 'protocol' x3
  reset mid-stream         200, content events, an SSE error event (code
                           'protocol'), no last chunk
  chunked encoding error   502 'protocol' x3; mid-stream: SSE error event
  2 GB / endless body      502 upstream_error/response_too_large at 64 MiB
  endless SSE stream       relayed for as long as the client reads (no size
                           cap on a stream: past 64 MiB here); the client
                           leaving aborts the upstream; a stream that stalls
                           is cut by the idle timeout with an SSE error event
  Responses streams        the same cells for POST /v1/responses with stream
                           (named events, no [DONE]): a hang before the first
                           byte 504; reset, chunk error or a stall mid-stream:
                           the events so far, then the Responses "error" event
                           (type error, code, message, the next
                           sequence_number), no response.completed, no last
                           chunk; an endless one read slowly is relayed with
                           flat memory and aborted when the client leaves
  invalid JSON, HTML 200   502 upstream_unavailable, 'invalid response' x3:
                           never passed on as a 200 (SPEC 4: never an HTML page)
  4xx with an HTML body    its status, with our error (invalid_response)
                           instead of the page
  3xx redirect             502 upstream_unavailable, '301' x3 (not followed)
Client side:
  slowloris headers        408 request_timeout after llmgate.header_timeout
                           (default 5 s; 1 s here); a silent one: closed
  slow body                served if whole within llmgate.body_timeout
                           (default 30 s; 1 s here), else 408 request_timeout
  body over the limit      413 request_too_large (Content-Length, chunked)
  pipelined requests       answered in order
  half-closed socket       the request is still answered, then the close
  10 000 idle connections  held up to the per-worker limit (10 000), then
                           queued by the kernel; idle ones are closed after
                           the header timeout and a real request is answered
  invalid UTF-8, NUL       400 invalid_request_error/invalid_json, jansson's
                           reason; an escaped NUL ("\\u0000", valid JSON) passes,
                           except in 'model' (400 invalid_model)
  deeply nested JSON       400 invalid_json past jansson's depth limit (2048);
                           1000 levels inside a field pass through
Uploads (multipart/form-data: POST /v1/audio/transcriptions, issue 22):
  no model field           400 missing_model, nothing sent upstream
  truncated form           400 invalid_multipart (no closing boundary)
  not multipart            400 invalid_content_type
  boundary split across    the form is read whole: 200, the file forwarded
    reads                  untouched (the stub's hash of it)
  part header of 64 KiB    400 invalid_multipart (a part's headers are at
                           most 8 KiB), nothing sent upstream
  30 MB upload             413 request_too_large at the head (Content-Length
                           over llmgate.max_upload_size_mb, 25), before the
                           body is read; chunked: when the count passes it
  slow upload              408 request_timeout after llmgate.body_timeout
TLS listener (llmgate.tls; in test_tls_listener.py):
  handshake timeout        closed, no answer, within llmgate.header_timeout
                           (silent, or half a ClientHello)
  garbage before Hello     closed at once, no answer
  plain HTTP to TLS port   400 plain_http_on_tls_port in clear text, closed
  renegotiation attempt    refused (no_renegotiation): the client's
                           renegotiation fails, the worker goes on
  10 000 idle TLS conns    held on two workers; a new client is served
"""
import json
import resource
import selectors
import socket
import ssl
import time

import pytest

from conftest import LoopbackServer
from helpers import (CHAT, CHAT_PATH, asan_build, connect, ctl_result, error_of, events_of,
                     free_port, gateway_config, make_ca, make_cert, openai_dep, post_bytes,
                     read_response, request, stub_stats, vm_kb, wait_for)
from helpers import stream_request as post  # one request on a raw connection, framing checked
from test_http import HEADER_TIMEOUT_S

HEALTHY = dict(CHAT, model="healthy")
DEP = "primary-gpt-4o"
TIMEOUT = "500ms"  # litellm_settings.request_timeout: attempt timeout and stream idle timeout
MAX_RESPONSE = 64 * 1024 * 1024  # PROXY_MAX_RESPONSE in worker/proxy_call.h


def fault_config(base, healthy_base, extra="", timeout=TIMEOUT, llmgate=""):
    """gpt-4o on BASE (the faulty upstream's root URL), healthy on a working stub; EXTRA:
    more top-level sections, LLMGATE: more lines of the llmgate section."""
    return gateway_config(
        openai_dep("gpt-4o", DEP, base, key="sk-test-primary-0123456789"),
        openai_dep("healthy", "healthy", healthy_base),
        sections=f"litellm_settings:\n  request_timeout: {timeout}\n{extra}",
        workers=1, drain_timeout="5s", llmgate=llmgate)


class Faulty:
    """A one-worker gateway and the pid of its worker, to check it survived."""

    def __init__(self, gw):
        self.gw = gw
        self.port = gw.port
        self.worker = wait_for(lambda: gw.workers()[0] if len(gw.workers()) == 1 else None,
                               what="1 worker")

    def survived(self):
        assert self.gw.workers() == [self.worker], "the worker survived (same pid)"
        status, _, body = self.gw.post(CHAT_PATH, HEALTHY)
        assert status == 200, body
        assert json.loads(body)["object"] == "chat.completion"


@pytest.fixture
def faulty(stub, gateway_factory):
    def make(base=None, extra="", timeout=TIMEOUT, llmgate=""):
        return Faulty(gateway_factory(fault_config(base or stub.base, stub.base, extra,
                                                   timeout, llmgate)))
    return make


def unavailable(what, attempts=3):
    tried = ", ".join([f"'{DEP}' ({what})"] * attempts)
    return {"message": f"no deployment of model 'gpt-4o' answered; tried {tried}",
            "type": "upstream_error", "param": None, "code": "upstream_unavailable"}


def timed_out():
    tried = ", ".join([f"'{DEP}' (timeout)"] * 3)
    return {"message": f"no deployment of model 'gpt-4o' answered in time; tried {tried}",
            "type": "timeout", "param": None, "code": "upstream_timeout"}


def stream_error(code, message):
    return {"message": message, "type": "upstream_error", "param": None, "code": code}


def deployment_failures(gw):
    """The failures the supervisor counted for the deployment (llmgatectl deployments)."""
    return ctl_result(gw, "deployments")[0]["failures"]


def assert_error(r, status, want):
    assert r.status == status, r.body
    assert r.complete
    assert r.headers["content-type"].startswith("application/json")
    assert error_of(r.body) == want
    assert r.headers["x-llmgate-deployment"] == DEP


def assert_broken_stream(r, code, message, min_content=1):
    """A stream that failed after its first byte: 200, the content that came,
    one SSE error event last, and no last chunk (SPEC 6)."""
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert not r.complete, "no last chunk: the client must see a broken stream"
    events = events_of(r.body)
    assert "data: [DONE]" not in events
    assert '"finish_reason":"stop"' not in r.body.decode().replace(" ", "")
    assert events[-1].startswith("data: {\"error\"")
    assert json.loads(events[-1][6:])["error"] == stream_error(code, message)
    assert len([e for e in events[:-1] if '"delta"' in e]) >= min_content


# --- upstream side ----------------------------------------------------------

def test_upstream_connection_refused(faulty):
    h = faulty(f"http://127.0.0.1:{free_port()}")
    assert_error(post(h.port, CHAT), 502, unavailable("connect"))
    h.survived()


def test_upstream_dns_failure(faulty):
    # one attempt, and time for a resolver that answers slowly: the failure is DNS's
    h = faulty("http://llmgate-fault-test.invalid", timeout="60s",
               extra="router_settings:\n  num_retries: 0\n")
    assert_error(post(h.port, CHAT, timeout=70), 502, unavailable("dns", attempts=1))
    h.survived()


class TlsUpstream(LoopbackServer):
    """A loopback TLS server with a certificate made at test time under a CA of its own,
    which nobody trusts: it completes no handshake with a verifying client."""

    def __init__(self, workdir):
        cert, key = make_cert(workdir, "server", make_ca(workdir, "untrusted-ca"),
                              "IP:127.0.0.1")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.handshakes = []  # the error each handshake ended with
        super().__init__()

    def _serve(self, c):
        c.settimeout(5)
        try:
            with self.ctx.wrap_socket(c, server_side=True):
                self.handshakes.append("completed")
        except (ssl.SSLError, OSError) as e:
            self.handshakes.append(type(e).__name__)
        finally:
            c.close()


def test_upstream_tls_failure(faulty, workdir):
    up = TlsUpstream(workdir)
    try:
        h = faulty(f"https://127.0.0.1:{up.port}")
        assert_error(post(h.port, CHAT), 502, unavailable("tls"))
        wait_for(lambda: len(up.handshakes) == 3, what="3 handshakes")
        assert "completed" not in up.handshakes, up.handshakes
        h.survived()
    finally:
        up.close()


@pytest.mark.parametrize("fault", ["hang", "headers_then_hang"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_hangs(faulty, fault, stream):
    h = faulty()
    body = dict(CHAT, stream=stream, x_stub={fault: True})
    assert_error(post(h.port, body), 504, timed_out())
    h.survived()


def test_upstream_reset_mid_body(faulty, stub):
    h = faulty()
    assert_error(post(h.port, dict(CHAT, x_stub={"cut_after": 20})), 502,
                 unavailable("protocol"))
    h.survived()


def test_upstream_reset_mid_stream(faulty):
    h = faulty()
    r = post(h.port, dict(CHAT, stream=True, x_stub={"chunks": 10, "cut_after": 3}))
    assert_broken_stream(r, "protocol",
                         f"the stream from deployment '{DEP}' failed (protocol error)",
                         min_content=3)
    h.survived()


def test_upstream_chunked_encoding_error(faulty):
    h = faulty()
    assert_error(post(h.port, dict(CHAT, x_stub={"bad_chunking": True})), 502,
                 unavailable("protocol"))
    r = post(h.port, dict(CHAT, stream=True, x_stub={"bad_chunking": True}))
    assert_broken_stream(r, "protocol",
                         f"the stream from deployment '{DEP}' failed (protocol error)")
    h.survived()


@pytest.mark.parametrize("fault", [{"body_bytes": 2 * 1000 ** 3}, {"endless": True}],
                         ids=["2GB", "endless"])
def test_upstream_body_too_large(faulty, stub, fault):
    h = faulty(timeout="30s")  # the 64 MiB before the limit take their time on a busy machine
    started = time.monotonic()
    r = post(h.port, dict(CHAT, x_stub=fault))
    took = time.monotonic() - started
    print(f"\n502 after {took:.2f} s")
    assert_error(r, 502, {"message": f"the upstream response of deployment '{DEP}' is over "
                                     f"the limit of {MAX_RESPONSE} bytes",
                          "type": "upstream_error", "param": None,
                          "code": "response_too_large"})
    # refused at the limit: the transfer stopped there, not at the end of 2 GB
    wait_for(lambda: stub_stats(stub)["closed_by_peer"] >= 1, timeout=5,
             what="the upstream transfer to stop")
    # and counted as the deployment's failure, not a success
    wait_for(lambda: deployment_failures(h.gw) == 1, timeout=5,
             what="the failure to reach the supervisor")
    h.survived()


def test_upstream_endless_stream(faulty, stub):
    """A stream may be long: no size cap applies, idle timeouts do (next test).
    The client that leaves ends it, and the worker's memory stays bounded."""
    h = faulty(timeout="10s")  # the idle timeout is not under test: a busy machine stalls
    s, f = connect(h.port)
    s.sendall(post_bytes("/v1/chat/completions",
                         dict(CHAT, stream=True, x_stub={"endless": True})))
    assert f.readline().startswith(b"HTTP/1.1 200")
    while f.readline() != b"\r\n":
        pass
    got, want = 0, MAX_RESPONSE + 8 * 1024 * 1024
    base_rss = vm_kb(h.worker, "VmRSS")
    while got < want:
        data = f.read1(1 << 20)
        assert data, "the stream ended early"
        got += len(data)
    rss = vm_kb(h.worker, "VmRSS")
    print(f"\n{got >> 20} MiB of one endless stream relayed; worker RSS "
          f"{base_rss >> 10} -> {rss >> 10} MiB")
    before = stub_stats(stub)["closed_by_peer"]
    f.close()
    s.close()
    wait_for(lambda: stub_stats(stub)["closed_by_peer"] > before, timeout=5,
             what="the upstream stream to be aborted")
    if not asan_build():  # ASan keeps freed memory in quarantine
        assert rss - base_rss < 32 * 1024, "relayed, not buffered"
    h.survived()


def test_upstream_stream_stalls(faulty):
    h = faulty()
    r = post(h.port, dict(CHAT, stream=True, x_stub={"chunks": 5, "chunk_delay_ms": 3000}))
    assert_broken_stream(r, "upstream_timeout",
                         f"the stream from deployment '{DEP}' stalled for 500 ms")
    h.survived()


RESPONSES = {"model": "gpt-4o", "input": "hi", "stream": True}


def post_responses(port, body):
    s, f = connect(port, 30)
    try:
        s.sendall(post_bytes("/v1/responses", body))
        return read_response(f)
    finally:
        f.close()
        s.close()


def assert_broken_responses_stream(r, code, message, min_deltas=1):
    """A Responses stream that failed after its first byte: 200, the events that came, the
    Responses error event last (with the next sequence_number), no response.completed, no
    [DONE], no last chunk."""
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert not r.complete, "no last chunk: the client must see a broken stream"
    events = events_of(r.body)
    assert not any("response.completed" in e or "[DONE]" in e for e in events)
    name, data = events[-1].split("\n", 1)
    assert name == "event: error"
    err = json.loads(data[len("data: "):])
    assert err == {"type": "error", "code": code, "message": message, "param": None,
                   "sequence_number": len(events) - 1}
    assert len([e for e in events if "response.output_text.delta" in e]) >= min_deltas


@pytest.mark.parametrize("fault", ["hang", "headers_then_hang"])
def test_responses_stream_hangs_before_its_first_byte(faulty, fault):
    h = faulty()
    assert_error(post_responses(h.port, dict(RESPONSES, x_stub={fault: True})), 504,
                 timed_out())
    h.survived()


@pytest.mark.parametrize("fault", [{"chunks": 10, "cut_after": 3}, {"bad_chunking": True}],
                         ids=["reset", "chunk-error"])
def test_responses_stream_broken_mid_stream(faulty, fault):
    h = faulty()
    r = post_responses(h.port, dict(RESPONSES, x_stub=fault))
    assert_broken_responses_stream(
        r, "protocol", f"the stream from deployment '{DEP}' failed (protocol error)",
        min_deltas=3 if "cut_after" in fault else 0)
    h.survived()


def test_responses_stream_stalls(faulty):
    h = faulty()
    r = post_responses(h.port, dict(RESPONSES, x_stub={"chunks": 5, "chunk_delay_ms": 3000}))
    assert_broken_responses_stream(
        r, "upstream_timeout", f"the stream from deployment '{DEP}' stalled for 500 ms",
        min_deltas=0)
    h.survived()


def test_responses_endless_stream_slow_reader(faulty, stub):
    """A slow reader of an endless Responses stream: backpressure holds the upstream, the
    worker's memory stays flat, and the client leaving aborts the upstream transfer."""
    h = faulty(timeout="10s")
    s, f = connect(h.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(post_bytes("/v1/responses", dict(RESPONSES, x_stub={"endless": True})))
    assert f.readline().startswith(b"HTTP/1.1 200")
    while f.readline() != b"\r\n":
        pass
    base_rss = vm_kb(h.worker, "VmRSS")
    got = 0
    for _ in range(40):  # about 2 s of a reader far slower than the stub
        data = f.read1(64 * 1024)
        assert data, "the stream ended early"
        got += len(data)
        time.sleep(0.05)
    rss = vm_kb(h.worker, "VmRSS")
    print(f"\n{got >> 10} KiB read slowly; worker RSS {base_rss >> 10} -> {rss >> 10} MiB")
    before = stub_stats(stub)["closed_by_peer"]
    f.close()
    s.close()
    wait_for(lambda: stub_stats(stub)["closed_by_peer"] > before, timeout=5,
             what="the upstream stream to be aborted")
    if not asan_build():
        assert rss - base_rss < 16 * 1024, "held by backpressure, not buffered"
    h.survived()


@pytest.mark.parametrize("fault", [
    {"body": '{"choices": ['},
    {"body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"},
    {"body": ""},
], ids=["invalid-json", "html", "empty"])
def test_upstream_200_not_json(faulty, fault):
    h = faulty()
    assert_error(post(h.port, dict(CHAT, x_stub=fault)), 502, unavailable("invalid response"))
    h.survived()


@pytest.mark.parametrize("status", [301, 307])
def test_upstream_redirect(faulty, status):
    """Not followed, and not passed on without its location: a failed attempt."""
    h = faulty()
    assert_error(post(h.port, dict(CHAT, x_stub={"status": status})), 502,
                 unavailable(str(status)))
    h.survived()


HTML_PAGE = "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>"


@pytest.mark.parametrize("status", [404, 429])
def test_upstream_error_with_an_html_body(faulty, status):
    """An upstream error passed on (404 at once; 429 after the retries, as the
    best answer there was) keeps its status, but never its HTML page."""
    h = faulty()
    r = post(h.port, dict(CHAT, x_stub={"status": status, "body": HTML_PAGE,
                                        "content_type": "text/html"}))
    assert_error(r, status, {
        "message": f"deployment '{DEP}' answered {status} with a body that is not JSON "
                   f"({len(HTML_PAGE)} bytes of 'text/html')",
        "type": "upstream_error", "param": None, "code": "invalid_response"})
    assert r.headers["x-llmgate-attempts"] == ("1" if status == 404 else "3")
    h.survived()


def test_upstream_error_with_a_content_type_not_utf8(stub, stub_factory, gateway_factory):
    """The upstream's Content-Type goes into our error message: bytes that are
    not UTF-8 show as '?', the message is not lost (it was 'internal error')."""
    bad = stub_factory("bad", ["--content-type", "text/html; charset=\udcff"])
    h = Faulty(gateway_factory(fault_config(bad.base, stub.base)))
    r = post(h.port, dict(CHAT, x_stub={"status": 404, "body": HTML_PAGE}))
    assert_error(r, 404, {
        "message": f"deployment '{DEP}' answered 404 with a body that is not JSON "
                   f"({len(HTML_PAGE)} bytes of 'text/html; charset=?')",
        "type": "upstream_error", "param": None, "code": "invalid_response"})
    h.survived()


# --- client side ------------------------------------------------------------

CLIENT_TIMEOUT_S = 1.0  # llmgate.header_timeout and body_timeout in these tests


def test_slowloris_headers_get_408(faulty):
    h = faulty(llmgate="  header_timeout: 1s\n")
    # a connection that never sends a byte: closed quietly after the same time
    silent = socket.create_connection(("127.0.0.1", h.port), timeout=CLIENT_TIMEOUT_S + 5)
    s, f = connect(h.port, timeout=CLIENT_TIMEOUT_S + 5)
    started = time.monotonic()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    for i in range(int(CLIENT_TIMEOUT_S * 10) + 20):  # a header line every 100 ms
        if sel.select(timeout=0.1):
            break
        s.sendall(b"X-Slow-%d: a\r\n" % i)
    took = time.monotonic() - started
    sel.close()
    got = read_response(f)
    f.close()
    s.close()
    print(f"\nslow head cut off after {took:.2f} s")
    assert got.status == 408
    assert error_of(got.body) == {"message": "the request head took too long",
                                  "type": "invalid_request_error", "param": None,
                                  "code": "request_timeout"}
    assert CLIENT_TIMEOUT_S - 0.2 < took < CLIENT_TIMEOUT_S + 2

    assert silent.recv(100) == b""
    assert time.monotonic() - started < CLIENT_TIMEOUT_S + 2
    silent.close()
    h.survived()


def test_slow_body(faulty, stub):
    """A body dripped a few bytes at a time is served once complete, if it
    completes within the body timeout; past it, 408."""
    h = faulty(llmgate="  body_timeout: 1s\n")
    body = json.dumps(CHAT).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    s, f = connect(h.port)
    s.sendall(head)
    for i in range(0, len(body), 8):  # about half a second
        s.sendall(body[i:i + 8])
        time.sleep(0.05)
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 200, r.body
    assert json.loads(stub.requests()[-1]["body"])["messages"] == CHAT["messages"]

    s, f = connect(h.port)
    s.sendall(head)
    started = time.monotonic()
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    for i in range(len(body) - 1):  # a byte every 100 ms: never in time
        if sel.select(timeout=0.1):
            break
        s.sendall(body[i:i + 1])
    took = time.monotonic() - started
    sel.close()
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 408, r.body
    assert error_of(r.body) == {"message": "the request body took too long",
                                "type": "invalid_request_error", "param": None,
                                "code": "request_timeout"}
    assert CLIENT_TIMEOUT_S - 0.2 < took < CLIENT_TIMEOUT_S + 2
    assert len(stub.requests()) == 1
    h.survived()


def chunked_past_limit(port, head):
    """HEAD, then 20 chunks of 64 KiB (1.25 MiB, past a 1 MiB limit) until the gateway stops
    reading: its answer."""
    s, f = connect(port)
    s.sendall(head)
    piece = b"x" * 65536
    try:
        for _ in range(20):
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    except OSError:
        pass
    try:
        return read_response(f)
    finally:
        f.close()
        s.close()


def test_body_over_the_limit_gets_413(faulty, stub):
    h = faulty(extra="general_settings:\n  max_request_size_mb: 1\n")
    big = dict(CHAT, padding="x" * (1024 * 1024 + 10))
    r = post(h.port, big)
    assert r.status == 413, r.body
    assert error_of(r.body)["code"] == "request_too_large"
    # chunked: the limit applies to the decoded body, found while reading
    r = chunked_past_limit(h.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n")
    assert r.status == 413
    assert error_of(r.body)["code"] == "request_too_large"
    # under the limit still works
    assert post(h.port, dict(CHAT, padding="x" * 1000)).status == 200
    assert len(stub.requests()) == 1
    h.survived()


def test_pipelined_requests_answered_in_order(faulty):
    h = faulty()
    s, f = connect(h.port)
    slow = dict(CHAT, x_stub={"delay_ms": 300})
    s.sendall(post_bytes("/v1/chat/completions", slow, b"x-request-id: one\r\n") +
              b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nx-request-id: two\r\n\r\n" +
              post_bytes("/v1/chat/completions", CHAT, b"x-request-id: three\r\n") +
              b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\nx-request-id: four\r\n\r\n")
    got = [read_response(f) for _ in range(4)]
    f.close()
    s.close()
    assert [r.headers["x-request-id"] for r in got] == ["one", "two", "three", "four"]
    assert [r.status for r in got] == [200, 200, 200, 200]
    assert got[0].json()["object"] == "chat.completion"
    assert got[1].json()["object"] == "list"
    assert got[3].json() == {"status": "alive"}
    h.survived()


@pytest.mark.parametrize("pipelined", [1, 3])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_half_closed_client_gets_its_answer(faulty, pipelined, stream):
    """The client shuts down its sending side right after its request(s): it
    still reads every answer, then the connection closes."""
    h = faulty()
    s, f = connect(h.port)
    body = dict(CHAT, stream=stream, x_stub={"delay_ms": 200})
    s.sendall(post_bytes("/v1/chat/completions", body) * pipelined)
    s.shutdown(socket.SHUT_WR)
    got = [read_response(f) for _ in range(pipelined)]
    assert f.read() == b"", "then the connection closes"
    f.close()
    s.close()
    for r in got:
        assert r.status == 200 and r.complete, r.body
        if stream:
            assert events_of(r.body)[-1] == "data: [DONE]"
        else:
            assert r.json()["object"] == "chat.completion"
    h.survived()


def test_half_closed_before_a_whole_request_is_closed(faulty, stub):
    h = faulty()
    s, f = connect(h.port)
    s.sendall(post_bytes("/v1/chat/completions", CHAT)[:-5])
    s.shutdown(socket.SHUT_WR)
    assert f.read() == b"", "closed without an answer: the request can never complete"
    f.close()
    s.close()
    assert stub.requests() == []
    h.survived()


IDLE_CONNECTIONS = 10000  # HTTP_SERVER_MAX_CONNECTIONS, per worker


def test_ten_thousand_idle_connections(faulty):
    """Idle connections up to the per-worker limit are held; past it the
    worker stops accepting (the kernel queues them) until the header timeout
    closes the idle ones; a real request then gets its answer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNECTIONS + 512
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    n = min(IDLE_CONNECTIONS, soft - 512)  # the gateway inherits this limit
    h = faulty()
    base_rss = vm_kb(h.worker, "VmRSS")
    started = time.monotonic()
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", h.port), timeout=10))
        opened = time.monotonic() - started
        rss = vm_kb(h.worker, "VmRSS")
        # one more, with a real request: answered once the idle ones are gone
        status, _, body = request(h.port, "POST", "/v1/chat/completions", HEALTHY,
                                  timeout=HEADER_TIMEOUT_S + 15)
        answered = time.monotonic() - started
        assert status == 200, body
        # (on a slow machine the first idle ones time out before the last are open)
        at_limit = "connections open, not accepting more" in h.gw.logs()
        # every idle connection was closed quietly: no bytes, just the close
        for s in socks:
            s.settimeout(HEADER_TIMEOUT_S + 5)
            assert s.recv(16) == b""
        print(f"\n{n} idle connections opened in {opened:.1f} s; worker RSS "
              f"{base_rss >> 10} -> {rss >> 10} MiB "
              f"({(rss - base_rss) * 1024 // max(n, 1)} bytes each); "
              f"the limit of {IDLE_CONNECTIONS} {'was' if at_limit else 'was not'} reached; "
              f"a real request answered after {answered:.1f} s")
    finally:
        for s in socks:
            s.close()
    h.survived()


def raw_post(port, raw):
    s, f = connect(port)
    try:
        s.sendall(post_bytes("/v1/chat/completions", raw))
        return read_response(f)
    finally:
        f.close()
        s.close()


BAD_JSON = [
    ("invalid UTF-8", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a\xffb"}]}',
     "unable to decode byte 0xff near '\"a'"),
    ("overlong UTF-8", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "\xc0\xaf"}]}',
     "unable to decode byte 0xc0 near '\"'"),
    ("lone surrogate", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "\\ud800"}]}',
     "invalid Unicode '\\uD800' near '\"\\ud800\"'"),
    ("raw NUL", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a\x00b"}]}',
     "control character 0x0 near '\"a'"),
    ("NUL after the value", b'{"model": "gpt-4o", "messages": []}\x00',
     "end of file expected near end of file"),
]


@pytest.mark.parametrize("raw,detail", [(r, d) for _, r, d in BAD_JSON],
                         ids=[w for w, _, _ in BAD_JSON])
def test_invalid_utf8_and_nul_in_json(faulty, stub, raw, detail):
    h = faulty()
    r = raw_post(h.port, raw)
    assert r.status == 400, r.body
    assert error_of(r.body) == {"message": "the request body is not a JSON object: " + detail,
                                "type": "invalid_request_error", "param": None,
                                "code": "invalid_json"}
    assert stub.requests() == []
    h.survived()


def test_escaped_nul_in_json(faulty, stub):
    """"\\u0000" is valid JSON: forwarded in content, refused in a model name."""
    h = faulty()
    r = raw_post(h.port, b'{"model": "gpt-4o", "messages": [{"role": "user", '
                         b'"content": "a\\u0000b"}]}')
    assert r.status == 200, r.body
    assert json.loads(stub.requests()[-1]["body"])["messages"][0]["content"] == "a\0b"
    r = raw_post(h.port, b'{"model": "gpt-4o\\u0000x", "messages": []}')
    assert r.status == 400, r.body
    assert error_of(r.body) == {"message": "the request's 'model' contains a NUL character",
                                "type": "invalid_request_error", "param": None,
                                "code": "invalid_model"}
    assert len(stub.requests()) == 1
    h.survived()


def test_long_unicode_model_name(faulty):
    """An error message cut at its limit stays valid UTF-8 (and so, JSON)."""
    h = faulty()
    for name in ("\u00e9" * 600, "x" + "\u00e9" * 600, "xx" + "\u20ac" * 400):
        r = post(h.port, {"model": name, "messages": []})
        assert r.status == 404, r.body
        err = error_of(r.body)
        assert err["code"] == "model_not_found"
        assert err["message"].startswith("model '" + name[:100])
    h.survived()


def test_deeply_nested_json(faulty, stub):
    h = faulty()
    for depth in (2049, 100000):
        r = raw_post(h.port, b'{"model": "gpt-4o", "x": ' + b"[" * depth + b"]" * depth + b"}")
        assert r.status == 400, r.body
        assert error_of(r.body) == {
            "message": "the request body is not a JSON object: maximum parsing depth reached "
                       "near '['",
            "type": "invalid_request_error", "param": None, "code": "invalid_json"}
    # deep but within the parser's limit: forwarded as sent
    nested = b"[" * 1000 + b"]" * 1000
    r = raw_post(h.port, b'{"model": "gpt-4o", "messages": [], "x": ' + nested + b"}")
    assert r.status == 200, r.body
    assert nested in stub.requests()[-1]["body"].encode()
    h.survived()


# --- uploads (issue 22) -----------------------------------------------------

UPLOAD_PATH = "/v1/audio/transcriptions"


def fnv1a(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def upload_form(fields, boundary="----llmgate-fault-7MA4YWxkTrZu0gW"):
    """(Content-Type, body) of a multipart form of FIELDS [(name, value or (file, bytes))]."""
    out = b""
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"'
                    "\r\nContent-Type: audio/wav\r\n\r\n").encode() + value[1]
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
        out += b"\r\n"
    return f"multipart/form-data; boundary={boundary}", out + f"--{boundary}--\r\n".encode()


def upload_head(ctype, length):
    return (f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: gw\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def send_upload(port, ctype, body):
    s, f = connect(port)
    s.sendall(upload_head(ctype, len(body)) + body)
    r = read_response(f)
    f.close()
    s.close()
    return r


AUDIO = b"RIFF" + bytes(range(256)) * 400


def test_upload_without_model(faulty, stub):
    h = faulty()
    r = send_upload(h.port, *upload_form([("file", ("a.wav", AUDIO))]))
    assert r.status == 400 and error_of(r.body)["code"] == "missing_model"
    assert not stub.requests()
    h.survived()


def test_upload_truncated(faulty, stub):
    h = faulty()
    ctype, body = upload_form([("model", "gpt-4o"), ("file", ("a.wav", AUDIO))])
    r = send_upload(h.port, ctype, body[:-30])
    assert r.status == 400
    err = error_of(r.body)
    assert err["code"] == "invalid_multipart" and "truncated" in err["message"]
    assert not stub.requests()
    h.survived()


def test_upload_not_multipart(faulty, stub):
    h = faulty()
    r = send_upload(h.port, "application/json", json.dumps({"model": "gpt-4o"}).encode())
    assert r.status == 400 and error_of(r.body)["code"] == "invalid_content_type"
    h.survived()


def test_upload_boundary_split_across_reads(faulty, stub):
    h = faulty()
    ctype, body = upload_form([("file", ("a.wav", AUDIO)), ("model", "gpt-4o")])
    cut = body.index(b"\r\n--", 100) + 5  # inside the delimiter after the file
    s, f = connect(h.port)
    s.sendall(upload_head(ctype, len(body)) + body[:cut])
    time.sleep(0.3)
    s.sendall(body[cut:])
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 200, r.body
    assert f"heard {len(AUDIO)} bytes of a.wav (fnv1a {fnv1a(AUDIO):016x})" in r.json()["text"]
    h.survived()


def test_upload_part_header_of_64_kib(faulty, stub):
    h = faulty()
    body = (b"--b0\r\nContent-Disposition: form-data; name=\"model\"\r\nX-Pad: " +
            b"x" * 65536 + b"\r\n\r\ngpt-4o\r\n--b0--\r\n")
    r = send_upload(h.port, "multipart/form-data; boundary=b0", body)
    assert r.status == 400
    err = error_of(r.body)
    assert err["code"] == "invalid_multipart" and "over 8192 bytes" in err["message"]
    assert not stub.requests()
    h.survived()


def test_upload_over_the_limit_gets_413_before_it_is_read(faulty, stub):
    h = faulty()
    s, f = connect(h.port)
    start = time.monotonic()
    s.sendall(upload_head("multipart/form-data; boundary=b", 30 * 1000 * 1000) +
              b"--b\r\n" + bytes(4096))
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 413, r.body
    assert error_of(r.body)["code"] == "request_too_large"
    assert time.monotonic() - start < 5, "answered at the head, not after 30 MB"
    # chunked: when the decoded count passes the limit (1 MiB here)
    h = faulty(llmgate="  max_upload_size_mb: 1\n")
    r = chunked_past_limit(h.port, f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: gw\r\nContent-Type: "
                                   "multipart/form-data; boundary=b\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n".encode())
    assert r.status == 413
    assert not stub.requests()
    h.survived()


def test_slow_upload_gets_408(faulty, stub):
    h = faulty(llmgate="  body_timeout: 1s\n")
    ctype, body = upload_form([("model", "gpt-4o"), ("file", ("a.wav", AUDIO))])
    s, f = connect(h.port)
    start = time.monotonic()
    s.sendall(upload_head(ctype, len(body)) + body[:1000])
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 408
    assert error_of(r.body)["code"] == "request_timeout"
    assert 0.8 < time.monotonic() - start < 4
    assert not stub.requests()
    h.survived()
