"""The worker's own HTTP/1.1 client for plain-HTTP upstreams (worker/upstream/upstream_http*.c):
connection reuse, the retry of a reused connection the upstream closed, strict parsing of
malformed responses (502, never a guess), the stub's faults, and the switch back to libcurl
(LLMGATE_UPSTREAM_CLIENT=curl), and host names resolved for it. Malformed responses come from a scripted upstream on a raw
socket; everything else from llmgate-stub."""
import json
import os
import shutil
import socket

import pytest

from conftest import LoopbackServer
from helpers import (CHAT, connect, events_of, gateway_config, openai_dep, post, post_bytes,
                     read_request, read_response, request, stream_request, stub_stats)

OK_BODY = b'{"id":"x","object":"chat.completion","choices":[]}'


def config(base, retries=0, ca_file=None, params=""):
    """One worker, one deployment on BASE (PARAMS: more of its litellm_params), trusting
    CA_FILE when given."""
    return gateway_config(openai_dep("gpt-4o", None, base, params, key="sk-test-0123456789"),
                          retries=retries, workers=1,
                          llmgate=f"  ca_file: {ca_file}\n" if ca_file else "")


def ok_response(extra=b""):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(OK_BODY)).encode() + b"\r\n" + extra + b"\r\n" + OK_BODY)


class Scripted(LoopbackServer):
    """A raw upstream: for the Nth request overall it sends answers[N] (bytes; a tuple
    (bytes,) to close the connection after them; None to close it without answering).
    Counts connections and requests."""

    def __init__(self, answers, default=None, address="127.0.0.1"):
        self.answers = list(answers)
        self.default = default
        self.requests = 0
        super().__init__(address)

    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while read_request(f) is not None:
                with self.lock:
                    n = self.requests
                    self.requests += 1
                answer = self.answers[n] if n < len(self.answers) else self.default
                if answer is None:
                    break
                c.sendall(answer[0] if isinstance(answer, tuple) else answer)
                if isinstance(answer, tuple):
                    break
        except OSError:
            pass
        finally:
            f.close()
            c.close()


def test_connections_are_reused(gateway_factory):
    up = Scripted([], default=ok_response())
    try:
        gw = gateway_factory(config(up.base()))
        for _ in range(5):
            status, _, body = post(gw)
            assert status == 200, body
            assert body == OK_BODY
        assert up.requests == 5
        assert up.connections == 1, "one keep-alive connection for requests in turn"
    finally:
        up.close()


def test_connection_close_is_honoured(gateway_factory):
    up = Scripted([], default=ok_response(b"Connection: close\r\n"))
    try:
        gw = gateway_factory(config(up.base()))
        for _ in range(3):
            assert post(gw)[0] == 200
        assert up.connections == 3
    finally:
        up.close()


def test_reused_connection_closed_by_upstream_is_retried_once(gateway_factory):
    # the second request arrives on the kept connection, which the upstream closes without
    # answering (its keep-alive ran out just then): sent again once, on a new connection
    up = Scripted([ok_response(), None], default=ok_response())
    try:
        gw = gateway_factory(config(up.base()))
        assert post(gw)[0] == 200
        status, headers, body = post(gw)
        assert status == 200, body
        assert headers["x-llmgate-attempts"] == "1", "a transport retry is not an attempt"
        assert up.requests == 3 and up.connections == 2
    finally:
        up.close()


def test_fresh_connection_closed_is_not_retried(gateway_factory):
    up = Scripted([None], default=ok_response())
    try:
        gw = gateway_factory(config(up.base()))
        status, _, body = post(gw)
        assert status == 502, body
        assert up.requests == 1, "a request on a new connection is never sent twice"
    finally:
        up.close()


MALFORMED = {
    "bad status line": b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/2 status line": b"HTTP/2 200\r\nContent-Length: 2\r\n\r\n{}",
    "not HTTP": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
    "bare CR": b"HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\n{}",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\n{}",
    "CL and TE": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"2\r\n{}\r\n0\r\n\r\n"),
    "two Content-Lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "bad Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}",
    "unknown coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk longer than said": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"2\r\n{}}\r\n0\r\n\r\n"),
    "oversized head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (80 * 1024) + b"\r\n\r\n{}",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "cut body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",),
    "cut chunked body": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",),
}


def test_malformed_responses_are_refused(gateway_factory):
    names = list(MALFORMED)
    up = Scripted([MALFORMED[n] for n in names], default=ok_response())
    try:
        gw = gateway_factory(config(up.base()))
        for name in names:
            status, _, body = post(gw)
            assert status == 502, (name, status, body)
            assert json.loads(body)["error"]["code"] == "upstream_unavailable", (name, body)
        # and the gateway is fine afterwards
        assert post(gw)[0] == 200
        logs = gw.logs()
        assert "protocol" in logs
    finally:
        up.close()


def test_interim_and_close_delimited_responses(gateway_factory):
    up = Scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + ok_response(),
                   (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\n\r\n" + OK_BODY,),
                   b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n3\r\n{\"i\r\n" +
                   b"%x\r\n" % (len(OK_BODY) - 3) + OK_BODY[3:] + b"\r\n0\r\nX-T: 1\r\n\r\n"],
                  default=ok_response())
    try:
        gw = gateway_factory(config(up.base()))
        for _ in range(3):
            status, _, body = post(gw)
            assert status == 200 and body == OK_BODY, body
    finally:
        up.close()


def test_stub_faults_through_own_client(stub, gateway_factory):
    gw = gateway_factory(config(f"http://127.0.0.1:{stub.port}"))
    status, _, body = post(gw, dict(CHAT, x_stub={"reset": True}))
    assert status == 502, body
    status, _, body = post(gw, dict(CHAT, x_stub={"cut_after": 10}))
    assert status == 502, body
    status, headers, body = post(gw, dict(CHAT, x_stub={"status": 429, "retry_after": 1}))
    assert status == 429 and headers.get("retry-after") == "1", (status, headers)
    # a stream cut mid-way ends with an error event, no [DONE]
    r = stream_request(gw.port, dict(CHAT, stream=True, x_stub={"chunks": 8, "cut_after": 3}))
    body = r.body
    assert r.status == 200 and not r.complete
    assert b"[DONE]" not in body and b"upstream_error" in body
    # a long stream with a slow client stays correct and whole
    s, f = connect(gw.port)
    try:
        s.sendall(post_bytes("/v1/chat/completions", dict(CHAT, stream=True,
                                                          x_stub={"chunks": 300})))
        r = read_response(f)
    finally:
        s.close()
    events = events_of(b"".join(data for _, data in r.chunks))
    assert r.status == 200 and r.complete and events[-1] == "data: [DONE]" and len(events) >= 301
    assert post(gw)[0] == 200
    assert stub_stats(stub)["connections"] <= 4


def test_curl_switch(stub, gateway_factory):
    gw = gateway_factory(config(f"http://127.0.0.1:{stub.port}"),
                         env={"LLMGATE_UPSTREAM_CLIENT": "curl"})
    for _ in range(3):
        assert post(gw)[0] == 200
    status, _, _ = post(gw, dict(CHAT, x_stub={"reset": True}))
    assert status == 502


def loopback_host_name():
    """A name other than localhost that /etc/hosts gives a loopback address (Debian
    writes the machine's own name there), and that address."""
    with open("/etc/hosts") as f:
        for line in f:
            fields = line.split("#")[0].split()
            if len(fields) < 2 or not fields[0].startswith("127."):
                continue
            for name in fields[1:]:
                if name != "localhost" and not name.startswith("localhost."):
                    found = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
                    return name, found[0][4][0]
    pytest.skip("no host name but localhost maps to a loopback address in /etc/hosts")


def test_host_names_are_resolved_by_the_own_client(gateway_factory):
    # a response with bare LFs tells the clients apart: libcurl takes it, ours refuses it
    name, address = loopback_host_name()
    lenient = b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}"
    up = Scripted([], default=ok_response(), address=address)
    try:
        gw = gateway_factory(config(f"http://{name}:{up.port}"))
        for _ in range(3):
            status, _, body = post(gw)
            assert status == 200, body
        assert up.connections == 1, "the resolved address is kept with the connection"
        up.default = lenient
        assert post(gw)[0] == 502, "the own client ran (libcurl would take bare LFs)"
        curl = gateway_factory(config(f"http://{name}:{up.port}"),
                               env={"LLMGATE_UPSTREAM_CLIENT": "curl"})
        assert post(curl)[0] == 200, "libcurl takes them: the check above tells the clients apart"
    finally:
        up.close()


def in_mount_namespace_with_hosts(hosts_file):
    """A wrapper that runs the gateway with HOSTS_FILE as its /etc/hosts (a mount namespace of
    its own; needs root)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private /etc/hosts")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount --bind {hosts_file} /etc/hosts && exec "$0" "$@"']


def test_a_dead_address_of_a_name_is_skipped(tmp_path, gateway_factory):
    # a name with two addresses, one where nothing listens: a new connection moves on to the
    # other, as libcurl would, and the host keeps the one that works; hosts files in both
    # orders, so that whatever order getaddrinfo() sorts them in, one run starts with the
    # dead one
    up = Scripted([], default=ok_response(), address="127.0.0.3")
    try:
        moved = 0
        for order in (("127.0.0.2", "127.0.0.3"), ("127.0.0.3", "127.0.0.2")):
            hosts = tmp_path / f"hosts-{order[0]}"
            hosts.write_text("".join(f"{a} two-addresses.test\n" for a in order))
            before = up.connections
            gw = gateway_factory(config(f"http://two-addresses.test:{up.port}"),
                                 wrapper=in_mount_namespace_with_hosts(hosts))
            for _ in range(3):
                status, _, body = post(gw)
                assert status == 200, body
            assert up.connections - before == 1, "the working address is kept"
            moved += gw.logs().count("trying its next address")
            gw.stop()
        assert moved == 1, "exactly one run started with the dead address and moved on once"
    finally:
        up.close()


def test_odd_addresses_stay_with_curl(stub, gateway_factory):
    # an IPv4 literal in another spelling than the dotted quad is not ours: libcurl's
    # resolver answers it
    gw = gateway_factory(config(f"http://127.1:{stub.port}"))
    assert post(gw)[0] == 200
    assert request(stub.port, "GET", "/_stub/stats")[0] == 200
