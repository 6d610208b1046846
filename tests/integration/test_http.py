"""The worker's own HTTP/1.1 server and the streaming relay, with real processes:
SSE relayed chunk by chunk, backpressure (bounded RSS with slow readers), client
abort reaching the upstream, strict parsing (request smuggling cases over a raw
socket), keep-alive, drain. The fault cells (a mid-stream cut, slow heads, bodies
over the limit, pipelining, ...) are in test_faults.py."""
import http.client
import json
import resource
import selectors
import signal
import socket
import statistics
import threading
import time

import pytest

from conftest import LoopbackServer
from helpers import (CHAT, connect, dechunk, events_of, openai_config, post_bytes,
                     read_response, request, rss_bounds_apply, stream_request, stub_stats, vm_kb,
                     wait_for)

HEADER_TIMEOUT_S = 5.0  # llmgate.header_timeout's default (common/config_keys.h)


def one_worker(gw):
    return wait_for(lambda: gw.workers()[0] if len(gw.workers()) == 1 else None,
                    what="1 worker")


def test_stream_relayed_chunk_by_chunk(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    body = dict(CHAT, stream=True, x_stub={"chunks": 8, "chunk_delay_ms": 150})
    started = time.monotonic()
    r = stream_request(gw.port, body)
    assert r.status == 200 and r.complete
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-llmgate-deployment"] == "primary-gpt-4o"
    assert len(r.headers["x-request-id"]) >= 16
    events = events_of(r.body)
    assert events[-1] == "data: [DONE]"
    assert len(events) >= 10  # 8 content chunks, the finish chunk, [DONE]
    first, last = r.chunks[0][0] - started, r.chunks[-1][0] - started
    print(f"\nfirst event after {first * 1000:.0f} ms, last after {last * 1000:.0f} ms, "
          f"{len(r.chunks)} chunks")
    assert last - first > 1.0, "events arrived spread out, as the stub sent them"
    assert first < 0.5, "the first event was not held back until the end"
    # one outgoing chunk per upstream write: each chunk holds whole events
    assert len(r.chunks) >= 10
    assert all(c.endswith(b"\n\n") for _, c in r.chunks)

    # byte for byte what the stub sends (compared after removing per-response ids and times)
    direct = stream_request(stub.port, dict(body, model="gpt-4o-mini"))

    def normalized(b):
        return [{k: v for k, v in json.loads(e[6:]).items() if k not in ("id", "created")}
                if e != "data: [DONE]" else e for e in events_of(b)]
    assert normalized(r.body) == normalized(direct.body)


def test_slow_readers_keep_worker_memory_bounded(stub, gateway_factory):
    n_streams, chunks = 200, 20000  # each stream is about 4 MB of SSE
    gw = gateway_factory(openai_config(stub.base, workers=1))
    worker = one_worker(gw)
    assert stream_request(gw.port, dict(CHAT, stream=True)).status == 200
    base_rss = vm_kb(worker, "VmRSS")
    body = dict(CHAT, stream=True, x_stub={"chunks": chunks})
    socks = []
    for _ in range(n_streams):
        s = socket.socket()  # default buffers: see stall_and_resume
        s.settimeout(30)
        s.connect(("127.0.0.1", gw.port))
        s.sendall(post_bytes("/v1/chat/completions", body))
        s.setblocking(False)
        socks.append(s)
    # slow readers: 1 KiB per stream every 200 ms for 4 s
    got = [0] * n_streams
    peak = base_rss
    t_end = time.monotonic() + 4
    while time.monotonic() < t_end:
        for i, s in enumerate(socks):
            try:
                got[i] += len(s.recv(1024, socket.MSG_DONTWAIT))
            except BlockingIOError:
                pass
        peak = max(peak, vm_kb(worker, "VmRSS"))
        time.sleep(0.2)
    hwm = vm_kb(worker, "VmHWM")
    growth_mb = (max(peak, hwm) - base_rss) / 1024
    print(f"\n{n_streams} slow streams: worker RSS {base_rss / 1024:.1f} MB -> peak "
          f"{max(peak, hwm) / 1024:.1f} MB (+{growth_mb:.1f} MB, "
          f"{growth_mb * 1024 / n_streams:.0f} KB per stream); "
          f"each stream is {chunks} events, about 4 MB")
    assert all(g > 0 for g in got), "every stream made progress"
    # bounded by the high watermark per stream (256 KiB) plus buffers, not by the stream size
    if rss_bounds_apply():
        assert growth_mb < n_streams * 0.6, f"worker grew by {growth_mb:.0f} MB"

    # paused transfers resume: a few streams read to the end lose nothing
    sel = selectors.DefaultSelector()
    for s in socks[:4]:
        sel.register(s, selectors.EVENT_READ, bytearray())
    for s in socks[4:]:
        s.close()
    open_ = 4
    deadline = time.monotonic() + 60
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(262144)
            if data:
                key.data.extend(data)
            if not data or key.data.endswith(b"0\r\n\r\n"):
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_ -= 1
    assert open_ == 0, ("the long streams did not finish:\n"
                        f"bytes read per open stream {[len(k.data) for k in sel.get_map().values()]}\n"
                        f"{tcp_queues(gw.port, stub.port)}\nstub {stub_stats(stub)}")
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    wait_for(lambda: stub_stats(stub)["open_connections"] <= 8, timeout=20,
             what="closed streams released upstream")
    assert request(gw.port, "GET", "/health/liveliness")[0] == 200


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}


def tcp_queues(*ports):
    """Loopback sockets on PORTS with bytes queued in either direction: where a
    stalled stream's bytes wait (a full Recv-Q on the worker's upstream socket
    means the worker stopped reading; a full Send-Q towards the client means the
    client did)."""
    rows = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
            tx, rx = (int(q, 16) for q in fields[4].split(":"))
            state = TCP_STATES.get(int(fields[3], 16), fields[3])
            if (local in ports or remote in ports) and (tx or rx):
                rows.append(f"  {local} -> {remote} {state}: Send-Q {tx} Recv-Q {rx}")
    return (f"queued bytes on ports {', '.join(map(str, ports))} (local -> remote):\n" +
            ("\n".join(rows) or "  none"))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def unread_from(port):
    """Bytes waiting in receive queues of sockets connected to PORT on loopback."""
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port:
                total += int(fields[4].split(":")[1], 16)
    return total


def stall_and_resume(gw, upstream_port, n_streams, chunks, allowance_kb, what="streams",
                     settle_timeout=30, finish_timeout=60):
    """N_STREAMS streams of CHUNKS events each (about 240 bytes an event), whose clients read
    nothing until every one has stalled: the upstream's bytes must wait unread in the
    worker's sockets (connected to UPSTREAM_PORT), and the worker grow by less than
    ALLOWANCE_KB (not checked under ASan). Then every stream is read to its end: each event
    once, and [DONE]."""
    worker = one_worker(gw)
    base_rss = vm_kb(worker, "VmRSS")
    socks = []
    for _ in range(n_streams):
        # The kernel's default receive buffer, not a tiny SO_RCVBUF: on loopback (64 KiB
        # segments) an 8 KiB one makes the kernel drop segments it cannot hold, and the
        # sender's retransmission backoff then stalled a stream for over a minute.
        s = socket.socket()
        s.connect(("127.0.0.1", gw.port))
        s.sendall(post_bytes("/v1/chat/completions",
                             dict(CHAT, stream=True, x_stub={"chunks": chunks})))
        s.setblocking(False)
        socks.append(s)

    def settled():
        before = cpu_ticks(worker)
        time.sleep(0.5)
        return cpu_ticks(worker) == before
    wait_for(settled, timeout=settle_timeout, interval=0, what="every stream to stall")
    rss = vm_kb(worker, "VmRSS")
    unread = unread_from(upstream_port)
    print(f"\n{n_streams} stalled {what} of ~{chunks * 240 >> 20} MB: worker RSS "
          f"+{(rss - base_rss) / 1024:.1f} MB, {unread / 1024:.0f} KB left unread in its "
          "upstream sockets")
    assert unread > 0, "the worker stopped reading its upstream"
    if rss_bounds_apply():
        assert rss - base_rss < allowance_kb, "about the high watermark per stream"

    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ, bytearray())
    left = n_streams
    deadline = time.monotonic() + finish_timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(1 << 20)
            key.data.extend(data)
            if not data or key.data.endswith(b"\r\n0\r\n\r\n"):
                sel.unregister(key.fileobj)
                left -= 1
                body, complete = dechunk(bytes(key.data).split(b"\r\n\r\n", 1)[1])
                assert complete
                assert body.count(b'"delta"') == chunks + 1, "every event, once"
                assert body.endswith(b"data: [DONE]\n\n")
                key.fileobj.close()
    assert left == 0, ("the paused streams did not finish:\n"
                       "bytes read per open stream (client port: bytes) "
                       f"{ {k.fileobj.getsockname()[1]: len(k.data) for k in sel.get_map().values()} }\n"
                       f"{tcp_queues(gw.port, upstream_port)}")


def test_backpressure_pauses_the_upstream(stub, gateway_factory):
    """Streams far larger than what the kernel buffers: while the client reads
    nothing the transfer pauses (the upstream's bytes wait unread in the worker's
    socket, not in its memory), and it resumes without losing a byte."""
    n_streams = 3
    gw = gateway_factory(openai_config(stub.base, workers=1))
    assert stream_request(gw.port, dict(CHAT, stream=True)).status == 200
    stall_and_resume(gw, stub.port, n_streams, 100000, n_streams * 1024)


def test_client_disconnect_aborts_the_upstream(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    before = stub_stats(stub)["closed_by_peer"]
    s, f = connect(gw.port)
    s.sendall(post_bytes("/v1/chat/completions",
                         dict(CHAT, stream=True, x_stub={"chunks": 100, "chunk_delay_ms": 100})))
    assert f.readline().startswith(b"HTTP/1.1 200")
    while f.readline() != b"\r\n":
        pass
    assert b"data: " in f.readline() + f.readline()  # the first chunk
    left = time.monotonic()
    f.close()
    s.close()
    wait_for(lambda: stub_stats(stub)["closed_by_peer"] > before, timeout=5,
             what="the upstream transfer to be aborted")
    took = time.monotonic() - left
    print(f"\nupstream aborted {took * 1000:.0f} ms after the client left")
    assert took < 1.0
    assert request(gw.port, "GET", "/health/liveliness")[0] == 200


def test_error_status_of_a_stream_request_passes_through(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    r = stream_request(gw.port, dict(CHAT, stream=True, x_stub={"status": 429}))
    assert r.status == 429 and r.complete
    assert r.headers["content-type"].startswith("application/json")
    assert "error" in r.json()


SMUGGLING = [
    ("bare LF line ends", b"GET /health/liveliness HTTP/1.1\nHost: gw\n\n", 400),
    ("bare CR in a header", b"GET /health/liveliness HTTP/1.1\r\nHost: gw\rX: y\r\n\r\n", 400),
    ("obs-fold", b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\nX: a\r\n b\r\n\r\n", 400),
    ("space before colon", b"GET /health/liveliness HTTP/1.1\r\nHost : gw\r\n\r\n", 400),
    ("CL and TE", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE and CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
    ("duplicate CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n"
                     b"Content-Length: 2\r\n\r\n{}", 400),
    ("conflicting CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n"
                       b"Content-Length: 3\r\n\r\n{}", 400),
    ("non-numeric CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                       b"Content-Length: 2x\r\n\r\n{}", 400),
    ("overflowing CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                       b"Content-Length: 184467440737095516160\r\n\r\n{}", 400),
    ("TE gzip", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("TE gzip, chunked", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                         b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("HTTP/2.0", b"GET /health/liveliness HTTP/2.0\r\nHost: gw\r\n\r\n", 505),
    ("HTTP/0.9 style", b"GET /health/liveliness\r\n\r\n", 400),
    ("malformed request line", b"GET  /health/liveliness HTTP/1.1\r\nHost: gw\r\n\r\n", 400),
    ("no Host", b"GET /health/liveliness HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET /health/liveliness HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("NUL in a header", b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\nX: a\0b\r\n\r\n", 400),
    ("bad chunk size", b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    ("header section too large", b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\nX: " +
     b"a" * (70 * 1024) + b"\r\n\r\n", 431),
    ("too many headers", b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\n" +
     b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
]


def test_malformed_requests_get_their_status(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    worker = one_worker(gw)
    for what, raw, want in SMUGGLING:
        s, f = connect(gw.port)
        try:
            s.sendall(raw)
            r = read_response(f)
            assert r.status == want, (what, r.status, r.body)
            assert r.headers["connection"] == "close", what
            err = r.json()["error"]
            assert set(err) == {"message", "type", "param", "code"}, what
            assert f.read() == b"", f"{what}: nothing more, the connection closes"
        finally:
            f.close()
            s.close()
    assert gw.workers() == [worker], "the worker survived"
    assert request(gw.port, "GET", "/health/liveliness")[0] == 200
    assert stub.requests() == [], "nothing malformed reached the upstream"


def test_chunked_request_body_is_forwarded(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    body = json.dumps(CHAT).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                       for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    s, f = connect(gw.port)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 200, r.body
    assert json.loads(stub.requests()[-1]["body"])["messages"] == CHAT["messages"]


def test_expect_continue(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    body = json.dumps(CHAT).encode()
    s, f = connect(gw.port)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    assert f.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert f.readline() == b"\r\n"
    s.sendall(body)
    r = read_response(f)
    f.close()
    s.close()
    assert r.status == 200


def test_keep_alive_reuses_the_connection(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.connect()
    first = conn.sock
    for i in range(20):
        conn.request("POST", "/v1/chat/completions", body=json.dumps(CHAT),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("connection") is None
        resp.read()
        conn.request("GET", "/v1/models")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    assert conn.sock is first, "the same connection served every request"
    conn.close()
    # HTTP/1.0 closes unless asked to keep alive
    s, f = connect(gw.port)
    s.sendall(b"GET /health/liveliness HTTP/1.0\r\n\r\n")
    r = read_response(f)
    assert r.status == 200 and r.headers["connection"] == "close" and f.read() == b""
    f.close()
    s.close()
    s, f = connect(gw.port)
    s.sendall(b"GET /health/liveliness HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    assert [read_response(f).headers["connection"] for _ in range(2)] == ["keep-alive"] * 2
    f.close()
    s.close()


def test_response_heads(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    status, headers, body = gw.get("/health/liveliness")
    assert headers["server"] == "llmgate"
    assert headers["date"].endswith(" GMT")
    assert headers["content-length"] == str(len(body))
    status, headers, body = request(gw.port, "HEAD", "/health/liveliness")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, headers, body = request(gw.port, "DELETE", "/v1/models")
    assert status == 405 and headers["allow"] == "GET"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_readiness(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    status, _, body = gw.get("/health/readiness")
    assert status == 200
    ready = json.loads(body)
    assert ready["status"] == "ready" and ready["generation"] == 1 and ready["version"]
    # a request already on its way to a worker that starts draining is served,
    # sees 503 from readiness, and gets Connection: close
    s, f = connect(gw.port)
    s.sendall(b"GET /health/readiness HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert read_response(f).status == 200
    s.sendall(b"GET /health/readiness HTTP/1.1\r\nHost: gw\r\n")
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "generation 2 serving" in gw.logs(), timeout=4, what="reload")
    time.sleep(0.3)  # the old worker gets DRAIN
    s.sendall(b"\r\n")
    r = read_response(f)
    assert r.status == 503 and r.headers["connection"] == "close"
    assert r.json()["status"] == "draining"
    assert f.read() == b""
    f.close()
    s.close()
    status, _, body = gw.get("/health/readiness")
    assert status == 200 and json.loads(body)["generation"] == 2


LIVELINESS = b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\n\r\n"


def test_requests_on_an_idle_connection_are_served(stub, gateway_factory):
    """An idle keep-alive connection gives its request state (buffers, exchange, timer) back
    to the worker; what arrives on it next is served all the same, in order: requests
    pipelined in one write, and a head that comes in pieces."""
    gw = gateway_factory(openai_config(stub.base, workers=1))
    req = post_bytes("/v1/chat/completions", CHAT)
    s, f = connect(gw.port)
    try:
        s.sendall(req)
        assert read_response(f).status == 200
        time.sleep(0.3)  # idle
        s.sendall(req + LIVELINESS + req)
        rs = [read_response(f) for _ in range(3)]
        assert [r.status for r in rs] == [200, 200, 200]
        assert rs[0].json()["object"] == rs[2].json()["object"] == "chat.completion"
        assert rs[1].json() == {"status": "alive"}
        assert rs[0].headers["x-request-id"] != rs[2].headers["x-request-id"]
        time.sleep(0.3)
        s.sendall(req[:25])  # the head in pieces, the first after an idle period
        time.sleep(0.3)
        s.sendall(req[25:60])
        time.sleep(0.3)
        s.sendall(req[60:])
        r = read_response(f)
        assert r.status == 200 and r.json()["object"] == "chat.completion"
        assert "connection" not in r.headers  # still keep-alive
    finally:
        f.close()
        s.close()


IDLE_KEEPALIVE = 2000
# Measured on the 2-core test machine (one worker, RSS delta per connection): about 300
# bytes; 1 190 while each idle connection kept its reader, exchange, output buffer, timer
# and peer string; nginx 1.22 with the bench's configuration, about 520.
IDLE_KEEPALIVE_BYTES_MAX = 768


def test_idle_keep_alive_connections_hold_little(stub, gateway_factory):
    """Keep-alive connections idle after a request cost the worker a few hundred bytes each,
    and each still serves what its client sends next."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * IDLE_KEEPALIVE + 256  # this process's sockets, and the gateway's (inherited)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        if min(need, hard) < need:
            pytest.skip(f"RLIMIT_NOFILE {hard} is below {need}")
    gw = gateway_factory(openai_config(stub.base, workers=1))
    worker = one_worker(gw)
    req = post_bytes("/v1/chat/completions", CHAT)
    s, f = connect(gw.port)
    s.sendall(req)
    assert read_response(f).status == 200  # warm: one request's state exists
    f.close()
    s.close()
    time.sleep(0.3)
    before = vm_kb(worker, "VmRSS")
    conns = []
    try:
        for _ in range(IDLE_KEEPALIVE):
            s, f = connect(gw.port)
            conns.append((s, f))
            s.sendall(req)
            assert read_response(f).status == 200
        time.sleep(0.5)
        after = vm_kb(worker, "VmRSS")
        per = (after - before) * 1024 / IDLE_KEEPALIVE
        print(f"\n{IDLE_KEEPALIVE} idle keep-alive connections: worker RSS {before} -> "
              f"{after} KiB, {per:.0f} bytes per connection")
        for s, f in conns[::IDLE_KEEPALIVE // 8]:
            s.sendall(req + LIVELINESS)
            assert [read_response(f).status for _ in range(2)] == [200, 200]
        if rss_bounds_apply():
            assert per < IDLE_KEEPALIVE_BYTES_MAX, per
    finally:
        for s, f in conns:
            f.close()
            s.close()


def test_drain_serves_accepted_and_closes_idle(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    old = one_worker(gw)
    silent, silent_f = connect(gw.port)  # accepted, its first request not sent yet
    idle, idle_f = connect(gw.port)  # keep-alive, between requests
    idle.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert read_response(idle_f).status == 200
    time.sleep(0.2)
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "generation 2 serving" in gw.logs(), timeout=4, what="reload")
    closed_at = time.monotonic()
    assert idle_f.read() == b"", "the idle keep-alive connection is closed"
    assert time.monotonic() - closed_at < 1.0
    silent.sendall(post_bytes("/v1/chat/completions", CHAT))
    r = read_response(silent_f)
    assert r.status == 200 and r.headers["connection"] == "close"
    assert silent_f.read() == b""
    for s in (silent, silent_f, idle, idle_f):
        s.close()
    wait_for(lambda: old not in gw.workers(), timeout=5, what="the old worker to exit")


class TimedUpstream(LoopbackServer):
    """A minimal SSE upstream that notes when it writes its first event, so the
    relay latency can be measured on one clock."""

    def __init__(self):
        self.first_sent = []
        self.received = threading.Event()
        super().__init__()

    def _serve(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(65536)
        head, rest = data.split(b"\r\n\r\n", 1)
        n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                [0].split(b":")[1])
        while len(rest) < n:
            rest += c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        time.sleep(0.01)  # the gateway is now waiting for the first event
        event = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
        self.received.clear()
        self.first_sent.append(time.monotonic())
        c.sendall(b"%x\r\n%s\r\n" % (len(event), event))
        self.received.wait(2)  # stay off the GIL while the client reads
        done = b"data: [DONE]\n\n"
        c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        c.close()


def test_first_chunk_latency(gateway_factory):
    up = TimedUpstream()
    try:
        gw = gateway_factory(openai_config(f"http://127.0.0.1:{up.port}", workers=1))
        latencies = []
        for _ in range(200):
            s, f = connect(gw.port)
            s.sendall(post_bytes("/v1/chat/completions", dict(CHAT, stream=True),
                                 b"Connection: close\r\n"))
            assert f.readline().startswith(b"HTTP/1.1 200")
            while f.readline() != b"\r\n":
                pass
            f.readline()  # chunk size line of the first event
            got = time.monotonic()
            up.received.set()
            latencies.append(got - up.first_sent[-1])
            rest = f.read()
            assert b"[DONE]" in rest
            f.close()
            s.close()
        med = statistics.median(latencies) * 1e6
        p90 = sorted(latencies)[int(len(latencies) * 0.9)] * 1e6
        print(f"\nupstream first event -> client first event: median {med:.0f} us, "
              f"p90 {p90:.0f} us over {len(latencies)} streams")
        assert med < 5000
    finally:
        up.close()
