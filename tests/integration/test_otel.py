"""OpenTelemetry traces (issue 19) with real processes: an OTLP/HTTP receiver (a small
HTTP server in this file) collects the spans of requests through llmgated and the stub
upstreams. It takes both encodings as a collector does: protobuf (the default) decoded
strictly by a wire reader written here (Content-Type checked; a bad wire type, a cut
length, invalid UTF-8 in a string, or a field the schema does not have answered 400 and the
test fails), and JSON (llmgate.otel.protocol or OTEL_EXPORTER_OTLP_PROTOCOL http/json); both
map to the OTLP JSON shape the tests read. Checked: one SERVER span per request and
one CLIENT child per upstream attempt with the GenAI attributes; the client's traceparent
continued through a retry and a fallback, every attempt's upstream request carrying a
traceparent naming its own span; an invalid traceparent starting a new trace; sampling 0
exporting nothing (but a sampled parent followed); the collector down leaving requests
unaffected and the dropped spans counted in /metrics; a client key's id (never the key or its
hash) on its requests' server spans; no secret, no prompt or completion
text in what is exported; http/json chosen by the key or the variable, grpc refused."""
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import (CHAT, LLMGATED, ctl, free_port, gateway_config, openai_dep, post, request,
                     wait_for)

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
OTEL_SECRET = "otel-LEAKCHECK-collector-key-7Hq2Wz"
PROMPT = "LEAKCHECK-prompt-text-do-not-export"


class WireError(ValueError):
    pass


def _varint(buf, i):
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise WireError("cut or overlong varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf):
    """(field number, wire type, value) of a message: value an int (VARINT, I64) or bytes
    (LEN). Groups and I32 never occur in OTLP traces as llmgate sends them: refused."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wt == 0:
            value, i = _varint(buf, i)
        elif wt == 1:
            if i + 8 > len(buf):
                raise WireError("cut fixed64")
            value, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise WireError(f"length {n} past the end of its message")
            value, i = bytes(buf[i:i + n]), i + n
        else:
            raise WireError(f"wire type {wt}")
        yield num, wt, value


def _message(buf, schema):
    """BUF by SCHEMA {number: (json name, kind)}; kinds: str, bytes (as hex), int (varint),
    int64 (varint, signed), fixed64 (as a decimal string), or a (schema, repeated) pair."""
    out = {}
    for num, wt, value in _fields(buf):
        if num not in schema:
            raise WireError(f"field {num} is not in the schema")
        name, kind = schema[num]
        want = 1 if kind == "fixed64" else 0 if kind in ("int", "int64") else 2
        if wt != want:
            raise WireError(f"{name}: wire type {wt}, not {want}")
        if kind == "str":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise WireError(f"{name}: invalid UTF-8") from e
        elif kind == "bytes":
            value = value.hex()
        elif kind == "int64":
            value = str(value - (1 << 64) if value >= 1 << 63 else value)
        elif kind == "fixed64":
            value = str(value)
        elif isinstance(kind, tuple):
            sub, repeated = kind
            value = _message(value, sub)
            if repeated:
                out.setdefault(name, []).append(value)
                continue
        if name in out:
            raise WireError(f"{name} twice")
        out[name] = value
    return out


# opentelemetry-proto v1, the fields llmgate writes, in the OTLP JSON mapping's names
_ANY = {1: ("stringValue", "str"), 3: ("intValue", "int64")}
_KV = {1: ("key", "str"), 2: ("value", (_ANY, False))}
_SPAN = {1: ("traceId", "bytes"), 2: ("spanId", "bytes"), 3: ("traceState", "str"),
         4: ("parentSpanId", "bytes"), 5: ("name", "str"), 6: ("kind", "int"),
         7: ("startTimeUnixNano", "fixed64"), 8: ("endTimeUnixNano", "fixed64"),
         9: ("attributes", (_KV, True)), 15: ("status", ({3: ("code", "int")}, False))}
_SCOPE_SPANS = {1: ("scope", ({1: ("name", "str"), 2: ("version", "str")}, False)),
                2: ("spans", (_SPAN, True))}
_RESOURCE_SPANS = {1: ("resource", ({1: ("attributes", (_KV, True))}, False)),
                   2: ("scopeSpans", (_SCOPE_SPANS, True))}
_REQUEST = {1: ("resourceSpans", (_RESOURCE_SPANS, True))}


def decode_protobuf(body):
    """An ExportTraceServiceRequest as the dict its JSON form parses to; WireError."""
    doc = _message(body, _REQUEST)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                if len(span.get("traceId", "")) != 32 or len(span.get("spanId", "")) != 16:
                    raise WireError("a span without its 16-byte trace id or 8-byte span id")
    return doc


def test_the_receivers_wire_reader_is_strict():
    span = bytes([0x0A, 16]) + bytes(range(1, 17)) + bytes([0x12, 8]) + bytes(range(1, 9))
    good = bytes([0x0A, len(span) + 4, 0x12, len(span) + 2, 0x12, len(span)]) + span
    doc = decode_protobuf(good)
    assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] == "0102030405060708"
    name = bytes([0x2A, 2, 0xC3, 0x28])  # a name that is not UTF-8
    bad = [good[:-1],                                        # cut
           bytes([0x0B]) + good[1:],                         # wire type 3 (a group)
           good[:6] + bytes([0x0A, 17]) + good[8:],          # a length past its parent
           bytes([0x0A, len(span) + 8, 0x12, len(span) + 6, 0x12, len(span) + 4]) + span + name,
           bytes([0x0A, len(span) + 6, 0x12, len(span) + 4, 0x12, len(span) + 2]) + span
           + bytes([0x60, 1])]                               # field 12: not in the schema
    for body in bad:
        with pytest.raises(WireError):
            decode_protobuf(body)


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1: POST /v1/traces, protobuf or JSON by
    Content-Type; answers 200, or 400 to a body it cannot decode (counted in REFUSED);
    DELAY seconds late: a collector that falls behind; READ_DELAY seconds before it reads a
    body, on connections of 536-byte segments if SMALL_SEGMENTS (so a sender's socket takes
    tens of KB at a time, not megabytes): one whose socket fills."""

    def __init__(self, status=200, delay=0.0, read_delay=0.0, small_segments=False):
        received = self.requests = []
        refused = self.refused = []
        lock = self.lock = threading.Lock()
        answer = status

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as collectors answer

            def do_POST(self):
                time.sleep(read_delay)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                kind = self.headers.get("Content-Type", "")
                try:
                    if kind == "application/x-protobuf":
                        doc = decode_protobuf(body)
                    elif kind == "application/json":
                        doc = json.loads(body)
                    else:
                        raise WireError(f"Content-Type {kind!r}")
                    code = answer
                except (WireError, ValueError) as e:
                    doc, code = None, 400
                    with lock:
                        refused.append(str(e))
                if doc is not None:
                    with lock:
                        received.append((self.path, dict(self.headers), body, doc))
                time.sleep(delay)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if small_segments:  # the MSS it announces to the connections it accepts
            self.server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self):
        """Every span received, with its attributes as a dict and its resource's."""
        out = []
        with self.lock:
            assert not self.refused, f"the receiver refused a batch: {self.refused}"
            docs = [d for _, _, _, d in self.requests]
        for doc in docs:
            for rs in doc["resourceSpans"]:
                resource = attrs(rs["resource"])
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        s["attrs"] = attrs(s)
                        s["resource"] = resource
                        out.append(s)
        return out

    def raw(self):
        with self.lock:
            return [(path, hdrs, body) for path, hdrs, body, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def attrs(obj):
    out = {}
    for kv in obj.get("attributes", []):
        (kind, value), = kv["value"].items()
        out[kv["key"]] = int(value) if kind == "intValue" else value
    return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def otel(endpoint, extra=""):
    return (f"  otel:\n    endpoint: {endpoint}\n    flush_interval: 100ms\n"
            f"    headers:\n      x-api-key: {OTEL_SECRET}\n{extra}")


def spans_of(receiver, n, trace=None):
    def enough():
        got = [s for s in receiver.spans() if trace is None or s["traceId"] == trace]
        return got if len(got) >= n else None
    return wait_for(enough, timeout=10, what=f"{n} spans at the receiver")


def servers(spans):
    return [s for s in spans if s["kind"] == 2]


def clients(spans):
    return sorted((s for s in spans if s["kind"] == 3), key=lambda s: s["attrs"]["llmgate.attempt"])


def chat_with_prompt(**kw):
    return dict(CHAT, messages=[{"role": "user", "content": PROMPT}], **kw)


@pytest.mark.parametrize("protocol", [None, "http/json"])
def test_spans_attributes_and_parent(stub, receiver, gateway_factory, protocol):
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "primary-gpt-4o", stub.base, key="sk-test-LEAKCHECK-upstream-42"),
        llmgate=otel(receiver.base, f"    protocol: {protocol}\n" if protocol else "")))
    before = time.time_ns()
    status, headers, body = post(gw, chat_with_prompt(),
                                 {"traceparent": TRACEPARENT, "tracestate": "vendor=abc"})
    after = time.time_ns()
    assert status == 200, body
    spans = spans_of(receiver, 2, CLIENT_TRACE)
    (server,), (attempt,) = servers(spans), clients(spans)

    assert server["name"] == "chat gpt-4o"
    assert server["parentSpanId"] == CLIENT_SPAN, "the client's span is the parent"
    assert server["traceState"] == "vendor=abc"
    assert server["resource"]["service.name"] == "llmgate"
    a = server["attrs"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-4o"
    assert a["http.response.status_code"] == 200
    assert a["llmgate.route"] == "primary" and a["llmgate.deployment"] == "primary-gpt-4o"
    assert a["llmgate.attempts"] == 1 and a["llmgate.request_id"] == headers["x-request-id"]
    assert "error.type" not in a and "status" not in server
    assert int(server["endTimeUnixNano"]) >= int(attempt["endTimeUnixNano"]) >= \
        int(attempt["startTimeUnixNano"]) >= int(server["startTimeUnixNano"]) > 0
    # wall-clock times (from the monotonic clock and an offset read once a second)
    slack = 50_000_000
    assert before - slack <= int(server["startTimeUnixNano"]) and \
        int(server["endTimeUnixNano"]) <= after + slack, (before, server, after)

    assert attempt["parentSpanId"] == server["spanId"]
    assert attempt["name"] == "chat gpt-4o-mini"
    b = attempt["attrs"]
    assert b["gen_ai.provider.name"] == "openai" and b["gen_ai.request.model"] == "gpt-4o-mini"
    assert b["server.address"] == "127.0.0.1" and b["server.port"] == stub.port
    assert b["http.response.status_code"] == 200 and b["llmgate.attempt"] == 1
    assert b["llmgate.deployment"] == "primary-gpt-4o" and b["llmgate.route"] == "primary"
    answered = json.loads(body)["model"]
    assert b["gen_ai.response.model"] == a["gen_ai.response.model"] == answered

    seen = stub.requests()[-1]["headers"]
    assert seen["traceparent"] == f"00-{CLIENT_TRACE}-{attempt['spanId']}-01"
    assert seen["tracestate"] == "vendor=abc"

    path, hdrs, raw = receiver.raw()[0]
    assert path == "/v1/traces"
    assert {k.lower(): v for k, v in hdrs.items()}["x-api-key"] == OTEL_SECRET
    assert hdrs["Content-Type"] == ("application/json" if protocol
                                    else "application/x-protobuf")
    for text in [raw, gw.logs().encode()]:
        for secret in [OTEL_SECRET, "LEAKCHECK-upstream", PROMPT]:
            assert secret.encode() not in text


def test_own_traceparent_replaces_extra_headers(stub, receiver, gateway_factory):
    fixed = f"00-{'1' * 32}-{'2' * 16}-01"
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep", stub.base,
                   params=f'\n      extra_headers: {{traceparent: "{fixed}", x-other: kept}}'),
        llmgate=otel(receiver.base)))
    assert post(gw, CHAT, {"traceparent": TRACEPARENT})[0] == 200
    (attempt,) = clients(spans_of(receiver, 2, CLIENT_TRACE))
    seen = stub.requests()[-1]["headers"]
    assert seen["traceparent"] == f"00-{CLIENT_TRACE}-{attempt['spanId']}-01"
    assert seen["x-other"] == "kept"


def test_media_and_moderation_operations_are_named(stub, receiver, gateway_factory):
    """The operations the GenAI convention does not name carry the OpenAI endpoint's name,
    on both spans: never another operation's (they once all read "responses")."""
    gw = gateway_factory(gateway_config(
        openai_dep("painter", "image-dep", stub.base, model="openai/gpt-image-1"),
        openai_dep("tts", "tts-dep", stub.base, model="openai/tts-1"),
        openai_dep("omni-mod", "mod-dep", stub.base, model="openai/omni-moderation-latest"),
        llmgate=otel(receiver.base)))
    cases = [("/v1/images/generations", {"model": "painter", "prompt": "a cat"},
              "images.generations"),
             ("/v1/audio/speech", {"model": "tts", "input": "hi", "voice": "alloy"},
              "audio.speech"),
             ("/v1/moderations", {"model": "omni-mod", "input": "hi"}, "moderations")]
    for path, body, _ in cases:
        status, _, answer = request(gw.port, "POST", path, json.dumps(body),
                                    {"Content-Type": "application/json"})
        assert status == 200, (path, answer)
    spans = spans_of(receiver, 2 * len(cases))
    for _, body, op in cases:
        named = [s for s in spans if s["attrs"].get("gen_ai.operation.name") == op]
        assert sorted(s["kind"] for s in named) == [2, 3], (op, [s["name"] for s in spans])
        server = servers(named)[0]
        assert server["name"] == f"{op} {body['model']}"


def test_usage_attributes_when_the_answer_reports_usage(stub, receiver, gateway_factory):
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                                        llmgate=otel(receiver.base)))
    status, _, body = post(gw, CHAT, {"traceparent": TRACEPARENT})
    assert status == 200
    usage = json.loads(body)["usage"]
    (server,) = servers(spans_of(receiver, 2, CLIENT_TRACE))
    assert server["attrs"]["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert server["attrs"]["gen_ai.usage.output_tokens"] == usage["completion_tokens"]


def test_response_model_of_a_stream_and_not_of_an_error(stub, receiver, gateway_factory):
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                                        llmgate=otel(receiver.base)))
    status, _, body = post(gw, dict(CHAT, stream=True, x_stub={"chunks": 5}),
                           {"traceparent": TRACEPARENT})
    assert status == 200
    first = json.loads(body.split(b"\n\n")[0][len(b"data: "):])
    (server,), (attempt,) = servers(spans := spans_of(receiver, 2, CLIENT_TRACE)), clients(spans)
    assert server["attrs"]["gen_ai.response.model"] == first["model"]
    assert attempt["attrs"]["gen_ai.response.model"] == first["model"]
    # an error answer names no model
    other = f"00-{'1' * 32}-{CLIENT_SPAN}-01"
    assert post(gw, dict(CHAT, x_stub={"status": 400}), {"traceparent": other})[0] == 400
    (server,) = servers(spans_of(receiver, 2, "1" * 32))
    assert "gen_ai.response.model" not in server["attrs"]


def test_traceparent_through_retry_and_fallback(stub_factory, receiver, gateway_factory):
    a, b, c = stub_factory("a"), stub_factory("b"), stub_factory("c")
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep-a", a.base), openai_dep("gpt-4o", "dep-b", b.base),
        openai_dep("gpt-4o-backup", "dep-c", c.base), retries=1,
        fallbacks={"gpt-4o": ["gpt-4o-backup"]}, llmgate=otel(receiver.base)))
    a.set_faults({"status": 500})
    b.set_faults({"status": 429, "retry_after": 30})
    status, headers, _ = post(gw, CHAT, {"traceparent": TRACEPARENT})
    assert status == 200 and headers["x-llmgate-attempts"] == "3"
    spans = spans_of(receiver, 4, CLIENT_TRACE)
    (server,), attempts = servers(spans), clients(spans)
    assert len(attempts) == 3
    assert server["attrs"]["llmgate.deployment"] == "dep-c"
    assert server["attrs"]["llmgate.route"] == "fallback"
    assert server["attrs"]["llmgate.attempts"] == 3
    for n, (span, dep, route, stub) in enumerate(zip(
            attempts, ["dep-a", "dep-b", "dep-c"], ["primary", "primary", "fallback"],
            [a, b, c]), 1):
        assert span["parentSpanId"] == server["spanId"] and span["traceId"] == CLIENT_TRACE
        assert span["attrs"]["llmgate.attempt"] == n
        assert span["attrs"]["llmgate.deployment"] == dep
        assert span["attrs"]["llmgate.route"] == route
        sent = stub.requests()[-1]["headers"]["traceparent"]
        assert sent == f"00-{CLIENT_TRACE}-{span['spanId']}-01", (dep, sent)
    assert len({s["spanId"] for s in spans}) == 4
    assert attempts[0]["attrs"]["error.type"] == "500" and attempts[0]["status"]["code"] == 2
    assert attempts[1]["attrs"]["error.type"] == "429" and attempts[1]["status"]["code"] == 2
    assert "error.type" not in attempts[2]["attrs"] and "status" not in attempts[2]


def test_transport_failure_and_error_status(stub_factory, receiver, gateway_factory):
    b = stub_factory("b")
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep-a", f"http://127.0.0.1:{free_port()}"),
        openai_dep("gpt-4o", "dep-b", b.base), retries=1, router="  timeout: 10s\n",
        llmgate=otel(receiver.base)))
    b.set_faults({"status": 500})
    status, _, _ = post(gw, CHAT, {"traceparent": TRACEPARENT})
    assert status == 502
    spans = spans_of(receiver, 3, CLIENT_TRACE)
    (server,), attempts = servers(spans), clients(spans)
    assert server["status"]["code"] == 2 and server["attrs"]["error.type"] == "502"
    assert server["attrs"]["http.response.status_code"] == 502
    assert server["attrs"]["llmgate.attempts"] == 2
    errors = sorted(s["attrs"]["error.type"] for s in attempts)
    assert errors == ["500", "connect"], errors


def test_broken_stream_is_an_error(stub, receiver, gateway_factory):
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                                        llmgate=otel(receiver.base)))
    try:
        post(gw, dict(CHAT, stream=True, x_stub={"chunks": 10, "cut_after": 3}),
             {"traceparent": TRACEPARENT})
    except Exception:  # the client's stream is cut too
        pass
    spans = spans_of(receiver, 2, CLIENT_TRACE)
    (server,), (attempt,) = servers(spans), clients(spans)
    assert server["attrs"]["http.response.status_code"] == 200  # the head had left
    assert server["status"]["code"] == 2 and attempt["status"]["code"] == 2
    assert server["attrs"]["error.type"] == attempt["attrs"]["error.type"] == "protocol"


def test_a_draining_worker_sends_its_spans_first(stub, receiver, gateway_factory):
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep", stub.base),
        llmgate=f"  otel:\n    endpoint: {receiver.base}\n    flush_interval: 1h\n"))
    for _ in range(3):
        assert post(gw)[0] == 200
    time.sleep(0.3)
    assert receiver.raw() == [], "nothing is sent before the batch or the timer"
    assert ctl(gw, "reload").returncode == 0
    assert len(spans_of(receiver, 6)) == 6, "the old generation sent its spans as it drained"
    assert post(gw)[0] == 200
    gw.stop()
    assert len(receiver.spans()) == 8, "and so did the last one, stopped"


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_batches_of_one_span(stub, receiver, gateway_factory, protocol):
    """batch_size 1: a request's two spans end together, so every export leaves one queued
    behind, in the next chunk; each batch still holds exactly one whole span."""
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep", stub.base),
        llmgate=otel(receiver.base, f"    batch_size: 1\n    protocol: {protocol}\n")))
    for _ in range(4):
        assert post(gw, CHAT, {"traceparent": TRACEPARENT})[0] == 200
    spans = spans_of(receiver, 8, CLIENT_TRACE)
    assert len(spans) == 8 and len({s["spanId"] for s in spans}) == 8
    assert len(servers(spans)) == 4
    with receiver.lock:
        docs = [d for _, _, _, d in receiver.requests]
    assert len(docs) == 8
    assert all(len(d["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 1 for d in docs)


def test_a_collector_behind_fills_the_queue_then_catches_up(stub, gateway_factory):
    """A collector that takes 0.5 s per export while spans keep ending: the queue (5 spans,
    batches of 2) fills its chunks around the one in flight, drops what does not fit, and
    sends the rest in order as the collector answers; twice, so the ring of chunks wraps.
    Every span is counted exactly once, exported or dropped, and every batch is whole."""
    late = Receiver(delay=0.5)
    admin = free_port()
    try:
        gw = gateway_factory(gateway_config(
            openai_dep("gpt-4o", "dep", stub.base),
            llmgate=f"  admin_listen: 127.0.0.1:{admin}\n" + otel(
                late.base, "    batch_size: 2\n    queue_size: 5\n")))
        for wave in (1, 2):
            for _ in range(12):
                assert post(gw)[0] == 200
            total = 24 * wave

            def settled():
                done = (metric(admin, "llmgate_otel_spans_exported_total") +
                        metric(admin, "llmgate_otel_spans_dropped_total"))
                return done if done >= total else None
            assert wait_for(settled, timeout=20, what=f"{total} spans counted") == total
            exported = metric(admin, "llmgate_otel_spans_exported_total")
            spans = late.spans()
            assert len(spans) == exported, "what was counted exported reached the collector"
            assert len({s["spanId"] for s in spans}) == len(spans), "no span sent twice"
            with late.lock:
                sizes = [len(d["resourceSpans"][0]["scopeSpans"][0]["spans"])
                         for _, _, _, d in late.requests]
            assert all(1 <= n <= 2 for n in sizes), sizes
            assert metric(admin, "llmgate_otel_spans_dropped_total") > 0, \
                "the collector fell behind: the bounded queue dropped"
            assert exported >= 7 * wave, "the queue's 5 spans and the batch in flight were kept"
    finally:
        late.close()


def test_a_batch_larger_than_the_socket_takes_is_sent_whole(stub, gateway_factory):
    """A batch of 600 spans (each server span carrying a 500-byte tracestate: about 400 KB)
    to a collector that waits before reading, on small segments: more than the socket takes
    at once, so the own client sends the batch in parts, straight from the exporter's queue
    (a lent body); it arrives whole and decodes."""
    late = Receiver(read_delay=0.3, small_segments=True)
    state = "vendor=" + "x" * 493
    try:
        gw = gateway_factory(gateway_config(
            openai_dep("gpt-4o", "dep", stub.base), workers=1,
            llmgate=f"  otel:\n    endpoint: {late.base}\n    flush_interval: 1h\n"
                    "    batch_size: 600\n    queue_size: 1000\n"))
        for _ in range(300):
            assert post(gw, CHAT, {"traceparent": TRACEPARENT, "tracestate": state})[0] == 200
        spans = wait_for(lambda: late.spans() or None, timeout=20, what="the batch")
        (path, _, body), = late.raw()
        assert path == "/v1/traces" and len(body) > 300_000, len(body)
        assert len(spans) == 600 and len({s["spanId"] for s in spans}) == 600
        assert all(s["traceState"] == state for s in servers(spans))
    finally:
        late.close()


def test_invalid_traceparent_starts_a_new_trace(stub, receiver, gateway_factory):
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                                        llmgate=otel(receiver.base)))
    bad = [TRACEPARENT.upper(), "00-" + "0" * 32 + f"-{CLIENT_SPAN}-01",
           f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra", f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
           f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-1"]
    for value in bad:
        assert post(gw, CHAT, {"traceparent": value, "tracestate": "a=b"})[0] == 200
    spans = spans_of(receiver, 2 * len(bad))
    for server in servers(spans):
        assert "parentSpanId" not in server and server["traceId"] != CLIENT_TRACE
        assert "traceState" not in server
    sent = [r["headers"]["traceparent"] for r in stub.requests()]
    assert all(t.split("-")[1] != CLIENT_TRACE for t in sent)
    assert all("tracestate" not in r["headers"] for r in stub.requests())
    # a later version's longer header is read for its four fields
    later = f"01-{CLIENT_TRACE}-{CLIENT_SPAN}-01-more"
    assert post(gw, CHAT, {"traceparent": later})[0] == 200
    (server,) = servers(spans_of(receiver, 2, CLIENT_TRACE))
    assert server["parentSpanId"] == CLIENT_SPAN


def test_sampling_zero_exports_nothing_but_follows_a_sampled_parent(stub, receiver,
                                                                     gateway_factory):
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                                        llmgate=otel(receiver.base, "    sample_ratio: 0\n")))
    for _ in range(5):
        assert post(gw)[0] == 200
    unsampled = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"
    assert post(gw, CHAT, {"traceparent": unsampled})[0] == 200
    time.sleep(1.0)  # ten flush intervals
    assert receiver.raw() == []
    sent = [r["headers"]["traceparent"] for r in stub.requests()]
    assert len(sent) == 6 and all(t.endswith("-00") for t in sent), sent
    assert sent[-1].split("-")[1] == CLIENT_TRACE
    # a sampled parent is followed
    assert post(gw, CHAT, {"traceparent": TRACEPARENT})[0] == 200
    assert len(spans_of(receiver, 2, CLIENT_TRACE)) == 2


def metric(admin, name):
    status, _, body = request(admin, "GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_collector_down_requests_unaffected_spans_counted(stub, gateway_factory):
    admin = free_port()
    down = f"http://127.0.0.1:{free_port()}"
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep", stub.base),
        llmgate=f"  admin_listen: 127.0.0.1:{admin}\n" + otel(down)))
    started = time.monotonic()
    for _ in range(10):
        status, _, _ = post(gw, CHAT, timeout=5)
        assert status == 200
    assert time.monotonic() - started < 5
    wait_for(lambda: metric(admin, "llmgate_otel_spans_dropped_total") >= 20, timeout=10,
             what="20 dropped spans in /metrics")
    assert metric(admin, "llmgate_otel_spans_exported_total") == 0
    assert "otel: export failed" in gw.logs()


def test_exported_spans_counted(stub, receiver, gateway_factory):
    admin = free_port()
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "dep", stub.base),
        llmgate=f"  admin_listen: 127.0.0.1:{admin}\n" + otel(receiver.base)))
    for _ in range(3):
        assert post(gw)[0] == 200
    wait_for(lambda: metric(admin, "llmgate_otel_spans_exported_total") >= 6, timeout=10,
             what="6 exported spans in /metrics")
    assert metric(admin, "llmgate_otel_spans_dropped_total") == 0


def test_key_id_on_the_server_span_never_the_key(stub, receiver, gateway_factory, workdir):
    from test_client_keys import KEY_A, MASTER, bearer, entry, keys_config, sha
    gw = gateway_factory(keys_config(stub, workdir, [entry("team-trace", KEY_A, alias="Team T")],
                                     extra=otel(receiver.base)))
    assert post(gw, CHAT, dict(bearer(KEY_A), traceparent=TRACEPARENT))[0] == 200
    other = "5" * 32
    assert post(gw, CHAT, dict(bearer(MASTER), traceparent=f"00-{other}-{CLIENT_SPAN}-01"))[0] \
        == 200
    (server,), (attempt,) = servers(spans_of(receiver, 2, CLIENT_TRACE)), \
        clients(spans_of(receiver, 2, CLIENT_TRACE))
    assert server["attrs"]["llmgate.key_id"] == "team-trace"
    assert "llmgate.key_id" not in attempt["attrs"], "a server span attribute"
    (admin_server,) = servers(spans_of(receiver, 2, other))
    assert "llmgate.key_id" not in admin_server["attrs"], "the master key is no client key"
    exported = b"\n".join(body for _, _, body in receiver.raw())
    for secret in [KEY_A, sha(KEY_A), MASTER]:
        assert secret.encode() not in exported


def test_litellm_callback_and_otel_variables(stub, receiver, gateway_factory):
    config = gateway_config(openai_dep("gpt-4o", "dep", stub.base),
                            sections='litellm_settings:\n  callbacks: ["otel"]\n')
    gw = gateway_factory(config, env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base + "/",
                                      "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={OTEL_SECRET}",
                                      "OTEL_SERVICE_NAME": "gateway-eu"})
    assert post(gw, CHAT, {"traceparent": TRACEPARENT})[0] == 200
    spans = wait_for(lambda: receiver.spans(), timeout=10, what="spans (flushed within 1s)")
    assert spans[0]["resource"]["service.name"] == "gateway-eu"
    path, hdrs, _ = receiver.raw()[0]
    assert path == "/v1/traces"
    assert {k.lower(): v for k, v in hdrs.items()}["x-api-key"] == OTEL_SECRET
    assert OTEL_SECRET not in gw.logs()


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_PROTOCOL",
                                      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"])
def test_protocol_variable_switches_the_encoding(stub, receiver, gateway_factory, variable):
    model = "gpt-4o-\u00e9\u4e2d"  # a name that is UTF-8 beyond ASCII, both ways
    config = gateway_config(openai_dep(model, "dep", stub.base), llmgate=otel(receiver.base))
    gw = gateway_factory(config, env={variable: "http/json"})
    assert post(gw, dict(CHAT, model=model), {"traceparent": TRACEPARENT})[0] == 200
    (server,) = servers(spans_of(receiver, 2, CLIENT_TRACE))
    assert server["attrs"]["gen_ai.request.model"] == model
    assert {h["Content-Type"] for _, h, _ in receiver.raw()} == {"application/json"}
    # the key wins over the variable
    receiver.requests.clear()
    gw.stop()
    gw = gateway_factory(gateway_config(openai_dep(model, "dep", stub.base),
                                        llmgate=otel(receiver.base,
                                                     "    protocol: http/protobuf\n")),
                         env={variable: "http/json"})
    assert post(gw, dict(CHAT, model=model), {"traceparent": TRACEPARENT})[0] == 200
    (server,) = servers(spans_of(receiver, 2, CLIENT_TRACE))
    assert server["attrs"]["gen_ai.request.model"] == model
    assert {h["Content-Type"] for _, h, _ in receiver.raw()} == {"application/x-protobuf"}


def check(workdir, llmgate, env=None):
    path = os.path.join(workdir, "otel.yaml")
    with open(path, "w") as f:
        f.write(gateway_config(openai_dep("gpt-4o", "dep", "http://127.0.0.1:9"),
                               llmgate=llmgate).replace("@PORT@", "4000")
                .replace("@DIR@", workdir))
    return subprocess.run([LLMGATED, "--check", "-c", path], capture_output=True, text=True,
                          timeout=30, env=dict(os.environ, **(env or {})))


def test_check_reports_otel_settings_without_their_secrets(workdir):
    r = check(workdir, "  otel:\n    sample_ratio: 2\n    headers:\n"
                       f"      x-api-key: {OTEL_SECRET}\n    batch_size: many\n")
    assert r.returncode == 1
    assert "llmgate.otel.sample_ratio must be a number from 0 to 1, not '2'" in r.stdout
    assert r.stdout.count("sample_ratio") == 1, r.stdout
    assert "llmgate.otel.batch_size" in r.stdout
    assert OTEL_SECRET not in r.stdout + r.stderr
    r = check(workdir, "  otel:\n    endpoint: ftp://collector\n")
    assert r.returncode == 1 and "must be an http:// or https:// URL" in r.stdout
    r = check(workdir, "  otel: {}\n",
              env={"OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key=%zz{OTEL_SECRET}"})
    assert r.returncode == 1 and "OTEL_EXPORTER_OTLP_HEADERS" in r.stdout
    assert OTEL_SECRET not in r.stdout + r.stderr
    r = check(workdir, "  otel:\n    sample_ratio: 0.25\n    flush_interval: 200ms\n")
    assert r.returncode == 0, r.stdout
    r = check(workdir, "  otel:\n    protocol: grpc\n")
    assert r.returncode == 1 and "grpc is not supported" in r.stdout, r.stdout
    r = check(workdir, "  otel: {}\n", env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert r.returncode == 1 and "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported" in \
        r.stdout, r.stdout
    r = check(workdir, "  otel:\n    protocol: http/xml\n")
    assert r.returncode == 1 and "must be http/protobuf or http/json" in r.stdout, r.stdout
    r = check(workdir, "  otel: {}\n", env={"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
                                             "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert r.returncode == 0, "the traces variable wins: " + r.stdout
