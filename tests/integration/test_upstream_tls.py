"""The worker's own HTTP/1.1 client over TLS (worker/upstream/upstream_http*.c with upstream_tls.c).
The own client carries https:// upstreams from the first request on; one that picks HTTP/2 by
ALPN in a handshake is handed over with that request and the connection to the own HTTP/2
client (test_upstream_h2.py), or with LLMGATE_UPSTREAM_H2=curl to libcurl, whose it stays. JSON and
streams, keep-alive reuse and session resumption (counted by the stub), verification
(untrusted CA, name and address mismatch: 502 'tls' as through libcurl), backpressure, resets
and truncation (a close without close_notify), the hand-over to libcurl, and the routes to
libcurl (LLMGATE_UPSTREAM_CLIENT=curl, https_proxy).

Which client ran: libcurl sends "Accept: */*", the own client sends no Accept header. Every
certificate is made at run time with openssl, under a CA of the test's own."""
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading

import pytest

from conftest import LoopbackServer
from helpers import (CHAT, connect, events_of, make_ca, make_cert, post, post_bytes,
                     read_request, stream_request, wait_for)
from test_http import stall_and_resume
from test_upstream_client import config as client_config

OK_BODY = b'{"id":"x","object":"chat.completion","choices":[]}'


# --- certificates ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs():
    # world-readable: the workers of a gateway started as root run as another user
    d = tempfile.mkdtemp(prefix="llmgate-tls-")
    os.chmod(d, 0o755)
    ca, other_ca = make_ca(d, "ca"), make_ca(d, "other-ca")
    c = {
        "ca": ca[1],
        "good": make_cert(d, "good", ca, "DNS:localhost,IP:127.0.0.1"),
        "wrong_name": make_cert(d, "wrong", ca, "DNS:upstream.example,IP:127.0.0.2"),
        "untrusted": make_cert(d, "untrusted", other_ca, "DNS:localhost,IP:127.0.0.1"),
    }
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    yield c
    shutil.rmtree(d, ignore_errors=True)


class TlsStub:
    """A llmgate-stub serving HTTPS with one of the certificates above."""

    def __init__(self, stub_factory, certs, which="good", name="openai"):
        crt, key = certs[which]
        self.stub = stub_factory(name, ["--tls-cert", crt, "--tls-key", key])
        self.port = self.stub.port
        ctx = ssl.create_default_context(cafile=certs["ca"])
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the wrong_name and untrusted stubs too
        # one kept-alive connection for every /_stub/ request: as the asking connection it
        # is never in the stub's connection count (its one handshake is in tls_handshakes)
        self.control = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx,
                                                   timeout=30)

    def base(self, host="127.0.0.1"):
        return f"https://{host}:{self.port}"

    def get(self, path):
        self.control.request("GET", path)
        r = self.control.getresponse()
        assert r.status == 200
        return json.loads(r.read())

    def stats(self):
        return self.get("/_stub/stats")

    def requests(self):
        return self.get("/_stub/requests")


def config(base, ca_file=None, retries=0, params=""):
    return client_config(base, retries, ca_file, params)


def ran_own_client(tls_stub):
    """True when the last API request came from the own client, False from libcurl."""
    headers = tls_stub.requests()[-1]["headers"]
    return "accept" not in headers


def error_code(body):
    return json.loads(body)["error"]["code"]


# --- through the own client -----------------------------------------------------------------

def test_json_and_stream_over_tls(stub_factory, certs, gateway_factory):
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]))
    for _ in range(4):
        status, _, body = post(gw)
        assert status == 200, body
        assert json.loads(body)["object"] == "chat.completion"
        assert ran_own_client(up), "the own client, from the first request on"
    r = stream_request(gw.port, dict(CHAT, stream=True))
    events = events_of(r.body)
    assert r.status == 200 and r.complete and events[-1] == "data: [DONE]"
    assert len([e for e in events if '"delta"' in e]) >= 5
    assert ran_own_client(up)
    stats = up.stats()
    assert stats["requests"] == 5
    assert stats["connections"] == 1, "one kept-alive connection for requests in turn"
    assert stats["tls_handshakes"] == 2, "its one and the control connection's"
    assert "HTTP/2" not in gw.logs(), "the stub offers no ALPN: HTTP/1.1, nothing handed over"


def test_localhost_is_verified_by_name(stub_factory, certs, gateway_factory):
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base("localhost"), certs["ca"]))
    status, _, body = post(gw)
    assert status == 200, body
    assert ran_own_client(up)


def test_session_resumed_on_a_new_connection(stub_factory, certs, gateway_factory):
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]))
    assert post(gw)[0] == 200  # connection 1, whose session the worker keeps
    # a slow stream holds connection 1, so the next request opens connection 2
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=stream_request(
        gw.port, dict(CHAT, stream=True, x_stub={"chunks": 6, "chunk_delay_ms": 300}), 60)))
    t.start()
    wait_for(lambda: up.stats()["requests"] == 2, timeout=30, what="the slow stream")
    assert post(gw)[0] == 200
    t.join(60)
    assert slow["r"].status == 200 and slow["r"].complete
    stats = up.stats()
    assert stats["connections"] == 2, stats
    assert stats["tls_handshakes"] == 3, stats  # and the control connection's
    assert stats["tls_resumed"] == 1, "connection 2 resumed connection 1's session"
    assert ran_own_client(up)


def test_untrusted_ca_is_rejected(stub_factory, certs, gateway_factory):
    # trusted: neither by the configured CA file nor by the system's certificates
    up = TlsStub(stub_factory, certs, "untrusted")
    gw = gateway_factory(config(up.base(), certs["ca"]))
    status, _, body = post(gw)
    assert status == 502, body
    assert error_code(body) == "upstream_unavailable"
    assert "(tls)" in json.loads(body)["error"]["message"]
    wait_for(lambda: "certificate verify failed: unable to get local issuer certificate"
             in gw.logs(), what="the own client's reason in the log")
    assert "sk-test-0123456789" not in gw.logs()
    assert up.stats()["requests"] == 0, "nothing was sent to it"


@pytest.mark.parametrize("host,reason", [("127.0.0.1", "IP address mismatch"),
                                         ("localhost", "hostname mismatch")])
def test_name_or_address_mismatch_is_rejected(stub_factory, certs, gateway_factory, host,
                                              reason):
    up = TlsStub(stub_factory, certs, "wrong_name")
    gw = gateway_factory(config(up.base(host), certs["ca"], retries=1))
    status, _, body = post(gw)
    assert status == 502, body
    assert json.loads(body)["error"]["message"].endswith("(tls), 'gpt-4o#1' (tls)"), body
    wait_for(lambda: f"certificate verify failed: {reason}" in gw.logs(),
             what="the reason in the log")
    assert up.stats()["requests"] == 0


def test_backpressure_over_tls(stub_factory, certs, gateway_factory):
    """As test_http's test_backpressure_pauses_the_upstream, over TLS: while the client reads
    nothing the transfer pauses (bytes wait in the worker's socket, not its memory); on resume
    every byte comes, including those OpenSSL held when it paused."""
    n_streams = 3
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]))
    assert stream_request(gw.port, dict(CHAT, stream=True)).status == 200
    assert ran_own_client(up)
    # about the high watermark per stream, and room for the handshakes of the new
    # connections (their transient allocations stay in the heap) and OpenSSL's buffers
    stall_and_resume(gw, up.port, n_streams, 100000, (n_streams + 1) * 1024, "TLS streams",
                     settle_timeout=60, finish_timeout=180)
    assert ran_own_client(up)


def test_resets_and_cuts_as_for_plain_http(stub_factory, certs, gateway_factory):
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]))
    status, _, body = post(gw, dict(CHAT, x_stub={"reset": True}))
    assert status == 502 and error_code(body) == "upstream_unavailable", body
    status, _, body = post(gw, dict(CHAT, x_stub={"cut_after": 10}))
    assert status == 502, body
    # a stream reset mid-way: the events so far, an error event, no [DONE], a broken body
    r = stream_request(gw.port, dict(CHAT, stream=True, x_stub={"chunks": 8, "cut_after": 3}))
    body = r.body
    assert r.status == 200 and not r.complete
    assert b"[DONE]" not in body and b"upstream_error" in body
    assert body.count(b'"delta"') >= 3
    assert post(gw)[0] == 200, "and the gateway goes on"
    assert ran_own_client(up)


# --- a scripted TLS upstream: truncation and strictness --------------------------------------

class ScriptedTls(LoopbackServer):
    """A raw TLS upstream answering the Nth request with answers[N]: (bytes, how) with how
    "keep" (keep the connection), "notify" (close_notify, then close) or "cut" (close the
    socket with no close_notify). by_curl[N] tells whether libcurl sent request N."""

    def __init__(self, certs, answers):
        self.answers = list(answers)
        self.requests = 0
        self.by_curl = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*certs["good"])
        super().__init__()

    def base(self):
        return f"https://127.0.0.1:{self.port}"

    def _serve(self, raw):
        raw.settimeout(30)
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        f = c.makefile("rb")
        try:
            while True:
                accept = self._read_request(f)
                if accept is None:
                    break
                with self.lock:
                    self.by_curl.append(accept)
                    answer, how = self.answers[min(self.requests, len(self.answers) - 1)]
                    self.requests += 1
                c.sendall(answer)
                if how == "notify":
                    c.unwrap().close()
                    return
                if how == "cut":
                    socket.socket(fileno=c.detach()).close()
                    return
        except (ssl.SSLError, OSError):
            pass
        f.close()
        c.close()

    @staticmethod
    def _read_request(f):
        """None at the end, else whether the request had an Accept header (libcurl's)."""
        headers = read_request(f)
        return None if headers is None else b"accept" in headers


CLOSE_DELIMITED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                   b"\r\n" + OK_BODY)
WITH_LENGTH = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
               str(len(OK_BODY)).encode() + b"\r\n\r\n" + OK_BODY)


@pytest.mark.parametrize("answer,how,status", [
    (CLOSE_DELIMITED, "notify", 200),  # ended by close_notify: whole
    (CLOSE_DELIMITED, "cut", 502),     # no close_notify: maybe cut, refused
    (WITH_LENGTH, "cut", 200),         # the framing says it is whole
    (WITH_LENGTH[:-5], "cut", 502),    # the framing says it is not
    (WITH_LENGTH[:-5], "notify", 502),
    (b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", "keep", 502),  # strict parser: bare LF
])
def test_truncation_and_strictness(certs, gateway_factory, answer, how, status):
    up = ScriptedTls(certs, [(WITH_LENGTH, "keep"), (answer, how)])
    try:
        gw = gateway_factory(config(up.base(), certs["ca"]))
        assert post(gw)[0] == 200  # on a connection the own client keeps
        got, _, body = post(gw)
        assert got == status, body
        if status == 200:
            assert body == OK_BODY
        else:
            assert error_code(body) == "upstream_unavailable"
            assert "(protocol)" in json.loads(body)["error"]["message"], body
        assert up.requests == 2 and up.by_curl == [False, False], "both the own client's"
    finally:
        up.close()


def test_reused_tls_connection_closed_by_upstream_is_retried_once(certs, gateway_factory):
    # the kept connection is closed (close_notify) as the second request arrives: sent again
    # once, on a new connection, with a new handshake
    up = ScriptedTls(certs, [(WITH_LENGTH, "keep"), (b"", "notify"), (WITH_LENGTH, "keep")])
    try:
        gw = gateway_factory(config(up.base(), certs["ca"]))
        assert post(gw)[0] == 200  # on a connection the own client keeps
        status, headers, body = post(gw)
        assert status == 200 and body == OK_BODY, body
        assert headers["x-llmgate-attempts"] == "1"
        assert up.requests == 3 and up.by_curl == [False, False, False]
    finally:
        up.close()


# --- HTTP/2: to the own HTTP/2 client, or to libcurl ----------------------------------------

class H2Tls(LoopbackServer):
    """A TLS upstream offering HTTP/2 (ALPN "h2", "http/1.1") that answers every request on an
    h2 connection with a minimal valid exchange: its SETTINGS (and the ACK of the client's),
    HEADERS :status 200 with content-type, one DATA frame ending the stream. Counts the
    connections that chose h2, the requests answered on them, and connections that chose
    HTTP/1.1, on which it answers one HTTP/1.1 request ("Connection: close"), counted in
    http1_requests. The Nth h2 request is left unanswered when HOLD[N] is true (past the
    list: answered). With offer_h2 false (it may change between connections) it offers
    "http/1.1" only."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, certs, hold=(), offer_h2=True):
        self.h2 = self.http1 = self.requests = self.held = self.http1_requests = 0
        self.hold = list(hold)
        self.offer_h2 = offer_h2
        self.ctx, self.ctx_http1 = (ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) for _ in range(2))
        for ctx, alpn in ((self.ctx, ["h2", "http/1.1"]), (self.ctx_http1, ["http/1.1"])):
            ctx.load_cert_chain(*certs["good"])
            ctx.set_alpn_protocols(alpn)
        super().__init__()

    def base(self):
        return f"https://127.0.0.1:{self.port}"

    @staticmethod
    def _frame(kind, flags, stream, payload=b""):
        return (len(payload).to_bytes(3, "big") + bytes([kind, flags]) +
                stream.to_bytes(4, "big") + payload)

    @staticmethod
    def _exactly(c, n):
        data = b""
        while len(data) < n:
            more = c.recv(n - len(data))
            if not more:
                raise OSError("closed")
            data += more
        return data

    def _serve(self, raw):
        raw.settimeout(30)
        offer_h2 = self.offer_h2
        try:
            c = (self.ctx if offer_h2 else self.ctx_http1).wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        try:
            if c.selected_alpn_protocol() != "h2":
                with self.lock:
                    self.http1 += 1
                f = c.makefile("rb")
                if ScriptedTls._read_request(f) is not None:
                    with self.lock:
                        self.http1_requests += 1
                    c.sendall(CLOSE_DELIMITED)
                    c.unwrap()
                f.close()
                return
            with self.lock:
                self.h2 += 1
            assert self._exactly(c, len(self.PREFACE)) == self.PREFACE
            c.sendall(self._frame(4, 0, 0))  # our SETTINGS: the defaults
            while True:
                head = self._exactly(c, 9)
                length, kind, flags = int.from_bytes(head[:3], "big"), head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                self._exactly(c, length)
                if kind == 4 and not flags & 1:
                    c.sendall(self._frame(4, 1, 0))  # ACK of the client's SETTINGS
                elif kind in (0, 1) and flags & 1 and stream:  # the request ended
                    with self.lock:
                        n = self.requests + self.held
                        held = n < len(self.hold) and self.hold[n]
                        self.held += held
                        self.requests += not held  # counted before the answer is seen
                    if held:
                        continue
                    # HPACK: indexed ":status: 200"; content-type (static name 31) literal
                    fields = b"\x88\x0f\x10" + bytes([16]) + b"application/json"
                    c.sendall(self._frame(1, 4, stream, fields) +
                              self._frame(0, 1, stream, OK_BODY))
        except (ssl.SSLError, OSError, AssertionError):
            pass
        finally:
            c.close()


H2_CLIENTS = {
    # the HTTP/2 client: its env, the h2 connections for a first request and one after, the log
    "own": (None, 1, "chose HTTP/2: the own HTTP/2 client carries its requests"),
    "curl": ({"LLMGATE_UPSTREAM_H2": "curl"}, 2, "chose HTTP/2: libcurl carries its requests"),
}


@pytest.mark.parametrize("h2_client", ["own", "curl"])
def test_an_upstream_choosing_http2_is_handed_over(certs, gateway_factory, h2_client):
    # SPEC 5: HTTP/2 to TLS upstreams where offered; the own client speaks HTTP/1.1 only, and
    # hands the first request over once the handshake has chosen HTTP/2: with its connection
    # to the own HTTP/2 client (one h2 connection in all), or to libcurl (which makes its own)
    env, conns, line = H2_CLIENTS[h2_client]
    up = H2Tls(certs)
    try:
        gw = gateway_factory(config(up.base(), certs["ca"]), env=env)
        for _ in range(4):
            status, _, body = post(gw)
            assert status == 200 and body == OK_BODY, body
        assert up.requests == 4, "every request over HTTP/2"
        assert up.http1 == 0, "no connection chose HTTP/1.1"
        assert up.h2 == conns, "the own client's first handshake, then the kept connection"
        wait_for(lambda: gw.logs().count(line) == 1, what="one hand-over in the log")
    finally:
        up.close()


@pytest.mark.parametrize("h2_client", ["own", "curl"])
def test_a_handed_over_request_can_be_aborted(certs, gateway_factory, h2_client):
    # the gateway aborts a handed-over transfer (now the HTTP/2 client's, restarted by the
    # dispatcher) and that client lets it go: the first request is held until the
    # deployment's timeout (504, the proxy's timer), the second is held and its client
    # leaves; the third is answered, by the same worker
    up = H2Tls(certs, hold=[True, True])
    try:
        gw = gateway_factory(config(up.base(), certs["ca"], params="\n      timeout: 1"),
                             env=H2_CLIENTS[h2_client][0])
        workers = gw.workers()
        status, _, body = post(gw)
        assert status == 504 and error_code(body) == "upstream_timeout", body
        s, _ = connect(gw.port, timeout=30)
        s.sendall(post_bytes("/v1/chat/completions", CHAT))
        wait_for(lambda: up.held == 2, timeout=30, what="the second request upstream")
        s.close()
        status, _, body = post(gw)
        assert status == 200 and body == OK_BODY, body
        assert up.requests == 1 and up.http1 == 0
        assert gw.workers() == workers, "the worker lived through it"
    finally:
        up.close()


@pytest.mark.parametrize("h2_client", ["own", "curl"])
def test_an_upstream_that_starts_offering_http2_is_handed_over(certs, gateway_factory,
                                                               h2_client):
    # first HTTP/1.1 only, each answer closing its connection; then HTTP/2 too: the next
    # request's new connection picks it, and that request goes over unharmed
    env, conns, _ = H2_CLIENTS[h2_client]
    up = H2Tls(certs, offer_h2=False)
    try:
        gw = gateway_factory(config(up.base(), certs["ca"]), env=env)
        status, _, body = post(gw)
        assert status == 200 and body == OK_BODY, body
        assert up.http1_requests == 1 and up.h2 == 0
        up.offer_h2 = True
        for _ in range(2):
            status, _, body = post(gw)
            assert status == 200 and body == OK_BODY, body
        assert up.requests == 2 and up.http1_requests == 1
        assert up.h2 == conns, "the own client's handshake that picked it, then the kept one"
    finally:
        up.close()


@pytest.mark.parametrize("client", ["own", "curl"])
def test_upstream_http2_false_speaks_http1_only(certs, gateway_factory, client):
    # llmgate.upstream_http2: false -- an upstream offering HTTP/2 is spoken to in HTTP/1.1,
    # by the own client (nothing handed over), and by libcurl when it carries the requests
    up = H2Tls(certs)
    try:
        env = {"LLMGATE_UPSTREAM_CLIENT": "curl"} if client == "curl" else None
        gw = gateway_factory(config(up.base(), certs["ca"]) + "  upstream_http2: false\n",
                             env=env)
        for _ in range(3):
            status, _, body = post(gw)
            assert status == 200 and body == OK_BODY, body
        assert up.h2 == 0 and up.requests == 0, "nothing over HTTP/2"
        assert up.http1_requests == 3 and up.http1 == 3
        assert "HTTP/2" not in gw.logs()
    finally:
        up.close()


def test_curl_switch_over_tls(stub_factory, certs, gateway_factory):
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]),
                         env={"LLMGATE_UPSTREAM_CLIENT": "curl"})
    assert post(gw)[0] == 200
    assert not ran_own_client(up)
    bad = TlsStub(stub_factory, certs, "untrusted", name="bad")
    gw2 = gateway_factory(config(bad.base(), certs["ca"]),
                          env={"LLMGATE_UPSTREAM_CLIENT": "curl"})
    status, _, body = post(gw2)
    assert status == 502 and "(tls)" in json.loads(body)["error"]["message"], body


def test_https_proxy_sends_https_to_curl(stub_factory, certs, gateway_factory):
    # with https_proxy set, https:// goes to libcurl, which applies no_proxy (direct here)
    up = TlsStub(stub_factory, certs)
    gw = gateway_factory(config(up.base(), certs["ca"]),
                         env={"https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"})
    assert post(gw)[0] == 200
    assert not ran_own_client(up)
