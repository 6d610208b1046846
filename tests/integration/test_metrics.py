"""Observability (issue 8, SPEC 11) with real processes: /metrics at admin_listen
parsed by a strict Prometheus text parser after a scripted mix of requests,
with exact counts summed over two workers; the fallback mode gauge and its
transitions; the access log (one valid JSON line per request, expected fields);
an unwritable access log (reported once per worker, counted, not fatal);
x-llmgate-overhead-ms; and no configured secret anywhere in logs, metrics or
the access log."""
import json
import math
import os
import re
import socket
import subprocess
import time

from helpers import (CHAT, azure_dep, ctl, free_port, gateway_config, openai_dep, post,
                     read_response, request, wait_for)

MASTER = "sk-gateway-master-key-0123456789"
AZURE_KEY = "azure-backup-secret-key-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER}"}

# ---- a strict parser of the Prometheus text exposition format (0.0.4) ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL_PAIR = re.compile(rf'({LABEL})="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_PAIR.match(text, pos)
        assert m, f"bad labels at {text[pos:]!r}"
        name = m.group(1)
        assert name not in labels, f"duplicate label {name}"
        value = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), m.group(2))
        labels[name] = value
        pos = m.end()
        if m.group(3) == "":
            assert pos == len(text)
    return labels


def parse_prometheus(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}; asserts on
    anything a strict scraper would reject or that breaks the conventions."""
    assert text.endswith("\n"), "exposition ends with a line feed"
    families, order, current = {}, [], None
    seen = set()
    for line in text.split("\n")[:-1]:
        assert line, "no empty lines"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({NAME}) (.+)$", line)
            assert m, f"bad comment {line!r}"
            kind, name, rest = m.groups()
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if name not in order:
                order.append(name)
            assert not fam["samples"], f"{kind} of {name} after its samples"
            if kind == "TYPE":
                assert fam["type"] is None, f"second TYPE for {name}"
                assert rest in TYPES, f"bad type {rest}"
                fam["type"] = rest
            else:
                assert fam["help"] is None, f"second HELP for {name}"
                fam["help"] = rest
            current = name
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line {line!r}"
        name, labels_text, value = m.groups()
        labels = parse_labels(labels_text or "")
        fam_name = name
        if current and families[current]["type"] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    fam_name = current
        assert fam_name == current, f"sample {name} outside its family block ({current})"
        fam = families[fam_name]
        assert fam["type"], f"sample {name} without TYPE"
        if fam["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} without _total"
        v = float(value)
        assert not math.isnan(v)
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"duplicate series {key}"
        seen.add(key)
        if fam["type"] in ("counter", "histogram"):
            assert v >= 0, f"negative {name}"
        fam["samples"].append((name, labels, v))
    assert len(order) == len(set(order)), "a family appears twice"
    for name, fam in families.items():
        assert fam["type"] and fam["help"], f"{name} lacks TYPE or HELP"
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for sname, labels, v in samples:
        base = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            assert "le" in labels, f"{name} bucket without le"
            s["buckets"].append((float(labels["le"]), v))
        elif sname.endswith("_sum"):
            s["sum"] = v
        else:
            s["count"] = v
    for base, s in series.items():
        les = [le for le, _ in s["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, f"{name} {base}: le order"
        counts = [c for _, c in s["buckets"]]
        assert counts == sorted(counts), f"{name} {base}: buckets not cumulative"
        assert s["count"] == counts[-1], f"{name} {base}: +Inf bucket != count"
        assert s["sum"] is not None and s["sum"] >= 0


def value(families, name, **labels):
    fam_name = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
    for sname, l, v in families[fam_name]["samples"]:
        if sname == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None


def scrape(port):
    status, headers, body = request(port, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    promtool = "/usr/bin/promtool"
    if os.path.exists(promtool):
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    return text, parse_prometheus(text)


def total_requests(families):
    return sum(v for _, _, v in families["llmgate_requests_total"]["samples"])


# ---- the daemon under test ----


def metrics_config(a_base, b_base, admin_port, access_log):
    return gateway_config(
        openai_dep("gpt-4o", "primary-a", a_base),
        azure_dep("backup", "backup-b", b_base, key=AZURE_KEY),
        retries=0, fallbacks={"gpt-4o": ["backup"]},
        sections=f"general_settings:\n  master_key: {MASTER}\n",
        workers=2, drain_timeout="5s",
        llmgate=f"  admin_listen: 127.0.0.1:{admin_port}\n  access_log: {access_log}\n")


def test_metrics_and_access_log(stub_factory, gateway_factory, workdir):
    a, b = stub_factory("a"), stub_factory("b")
    admin = free_port()
    log_path = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)  # the workers (llmgate user when root) create the log here
    gw = gateway_factory(metrics_config(a.base, b.base, admin, log_path))
    overheads = []

    def post(body=CHAT, headers=AUTH, raw=None, want=200, path="/v1/chat/completions"):
        t = time.monotonic()
        status, h, data = gw.post(path, raw if raw is not None else body,
                                  dict(headers, **{"Content-Type": "application/json"}))
        took_ms = (time.monotonic() - t) * 1000
        assert status == want, data
        o = float(h["x-llmgate-overhead-ms"])
        assert 0 <= o <= took_ms, (o, took_ms)
        overheads.append(o)
        return h, data

    # 3 plain + 1 stream, answered by the primary
    for _ in range(3):
        assert post()[0]["x-llmgate-route"] == "primary"
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    body = json.dumps(dict(CHAT, stream=True)).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 + f"Authorization: Bearer {MASTER}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    sock.close()
    assert got.startswith(b"HTTP/1.1 200") and b"x-llmgate-overhead-ms: " in got
    assert b"data: [DONE]" in got
    # 2 answered by the per-request fallback after the primary's 500
    a.set_faults({"status": 500, "count": 2})
    for _ in range(2):
        h, _ = post()
        assert (h["x-llmgate-deployment"], h["x-llmgate-route"]) == ("backup-b", "fallback")
    # a client error of the primary, passed through (not retried)
    post(dict(CHAT, x_stub={"status": 400}), want=400)
    # both fail: 502 from the gateway, labelled with the last deployment tried
    post(dict(CHAT, x_stub={"status": 500}), want=502)
    # refused before any attempt: unknown model, bad JSON, no key; then the model list
    post(dict(CHAT, model="no-such-model-xyz"), want=404)
    post(raw=b"{not json", want=400)
    post(headers={}, want=401)
    status, h, _ = gw.get("/v1/models", AUTH)
    assert status == 200 and "x-llmgate-overhead-ms" in h
    # not counted: health endpoints
    assert gw.get("/health/liveliness")[0] == 200

    wait_for(lambda: total_requests(scrape(admin)[1]) >= 12, timeout=10,
             what="12 requests in /metrics")
    time.sleep(0.6)  # a late report would show as a count over 12
    text, fams = scrape(admin)

    def req(model, dep, route, cls):
        return value(fams, "llmgate_requests_total", model=model, deployment=dep, route=route,
                     status_class=cls)

    assert req("gpt-4o", "primary-a", "primary", "2xx") == 4
    assert req("gpt-4o", "backup-b", "fallback", "2xx") == 2
    assert req("gpt-4o", "primary-a", "primary", "4xx") == 1
    assert req("gpt-4o", "backup-b", "fallback", "5xx") == 1
    assert req("(unknown)", "(none)", "(none)", "4xx") == 3
    assert req("(unknown)", "(none)", "(none)", "2xx") == 1
    assert total_requests(fams) == 12
    assert "no-such-model-xyz" not in text, "a client's model never becomes a label"

    def attempts(deployment, outcome):
        return value(fams, "llmgate_deployment_attempts_total", deployment=deployment, outcome=outcome)

    assert attempts("primary-a", "success") == 4
    assert attempts("primary-a", "5xx") == 3
    assert attempts("primary-a", "client_error") == 1
    assert attempts("backup-b", "success") == 2
    assert attempts("backup-b", "5xx") == 1
    assert [v for n, l, v in fams["llmgate_deployment_failures_total"]["samples"]
            if l["deployment"] == "primary-a" and l["class"] == "5xx"] == [3]

    for hist in ("llmgate_request_duration_seconds", "llmgate_overhead_seconds"):
        assert value(fams, hist + "_count", model="gpt-4o") == 8
        assert value(fams, hist + "_count", model="(unknown)") == 4
    assert value(fams, "llmgate_upstream_ttfb_seconds_count", model="gpt-4o") == 8
    assert value(fams, "llmgate_upstream_ttfb_seconds_count", model="(unknown)") is None
    total_sum = value(fams, "llmgate_request_duration_seconds_sum", model="gpt-4o")
    over_sum = value(fams, "llmgate_overhead_seconds_sum", model="gpt-4o")
    assert 0 < over_sum < total_sum

    assert [(l, v) for _, l, v in fams["llmgate_build_info"]["samples"]] == \
        [({"version": re.search(r'version="([^"]+)"', text).group(1)}, 1)]
    assert value(fams, "llmgate_generation") == 1
    assert value(fams, "llmgate_workers", state="ready") == 2
    assert value(fams, "llmgate_worker_restarts_total") == 0
    assert value(fams, "llmgate_fallback_mode", group="gpt-4o", mode="normal") == 1
    assert value(fams, "llmgate_fallback_mode", group="gpt-4o", mode="fallback") == 0
    assert value(fams, "llmgate_fallback_transitions_total", group="gpt-4o") == 0
    assert value(fams, "llmgate_access_log_dropped_total") == 0

    # the operator forces the fallback: gauge and transitions follow
    r = ctl(gw, "fallback", "on", timeout=10)
    assert r.returncode == 0, r.stderr
    fams = scrape(admin)[1]
    assert value(fams, "llmgate_fallback_mode", group="gpt-4o", mode="fallback") == 1
    assert value(fams, "llmgate_fallback_mode", group="gpt-4o", mode="normal") == 0
    assert value(fams, "llmgate_fallback_transitions_total", group="gpt-4o") == 1

    # a killed worker is restarted and counted; its counted requests stay
    victim = gw.workers()[0]
    os.kill(victim, 9)
    wait_for(lambda: value(scrape(admin)[1], "llmgate_worker_restarts_total") == 1,
             timeout=10, what="the restart in /metrics")
    wait_for(lambda: value(scrape(admin)[1], "llmgate_workers", state="ready") == 2,
             timeout=10, what="two ready workers")
    assert total_requests(scrape(admin)[1]) == 12

    # the admin listener is strict
    assert request(admin, "GET", "/")[0] == 404
    assert request(admin, "GET", "/metrics/x")[0] == 404
    status, h, _ = request(admin, "POST", "/metrics", body=b"x")
    assert status in (400, 405)
    status, h, _ = request(admin, "PUT", "/metrics")
    assert status == 405 and h["allow"] == "GET, HEAD"
    status, h, body = request(admin, "HEAD", "/metrics")
    assert status == 200 and body == b""

    # the access log: one valid JSON line per counted request
    wait_for(lambda: os.path.exists(log_path) and
             len(open(log_path).read().splitlines()) >= 12, timeout=5, what="12 log lines")
    lines = open(log_path).read().splitlines()
    assert len(lines) == 12
    entries = [json.loads(line) for line in lines]
    fields = {"time", "request_id", "client", "method", "path", "model", "deployment", "route",
              "status", "attempts", "bytes_in", "bytes_out", "upstream_ms", "ttfb_ms",
              "total_ms", "overhead_ms", "key"}
    usage_fields = {"prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
                    "cost"}  # on 2xx answers of ops that report usage (test_usage.py)
    for e in entries:
        ok_usage = e["status"] == 200 and e["path"] == "/v1/chat/completions"
        assert set(e) == fields | (usage_fields if ok_usage else set()), e
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"])
        assert re.match(r"^[0-9a-f]{32}$", e["request_id"]), e["request_id"]
        assert e["client"].startswith("127.0.0.1:")
        assert e["total_ms"] >= e["overhead_ms"] >= 0
        assert isinstance(e["status"], int) and isinstance(e["attempts"], int)
    by_status = sorted(e["status"] for e in entries)
    assert by_status == [200] * 7 + [400, 400, 401, 404, 502]
    fb = [e for e in entries if e["route"] == "fallback" and e["status"] == 200]
    assert len(fb) == 2 and all(e["attempts"] == 2 and e["deployment"] == "backup-b"
                                for e in fb)
    ok = [e for e in entries if e["deployment"] == "primary-a" and e["status"] == 200]
    assert len(ok) == 4 and all(e["bytes_out"] > 0 and e["bytes_in"] > 0 and
                                e["upstream_ms"] > 0 and e["ttfb_ms"] > 0 for e in ok)
    unknown = [e for e in entries if e["status"] == 404]
    assert unknown[0]["model"] == "no-such-model-xyz" and unknown[0]["deployment"] is None
    assert unknown[0]["upstream_ms"] is None and unknown[0]["attempts"] == 0
    models = [e for e in entries if e["path"] == "/v1/models"]
    assert len(models) == 1 and models[0]["method"] == "GET" and models[0]["model"] is None

    # no configured secret anywhere
    gw.stop()
    everything = open(gw.log_path).read() + text + open(log_path).read()
    for secret in (MASTER, AZURE_KEY, "sk-test-primary-a-0123456789", "0123456789"):
        assert secret not in everything, f"secret {secret[:6]}... leaked"
    assert '"content"' not in open(log_path).read() and "messages" not in open(log_path).read()


def test_unwritable_access_log(stub_factory, gateway_factory, workdir):
    a, b = stub_factory("a"), stub_factory("b")
    admin = free_port()
    gw = gateway_factory(metrics_config(a.base, b.base, admin,
                                        os.path.join(workdir, "missing", "dir", "access.log")))
    for _ in range(5):
        status, h, _ = post(gw, CHAT, AUTH)
        assert status == 200 and "x-llmgate-overhead-ms" in h
    wait_for(lambda: value(scrape(admin)[1], "llmgate_access_log_dropped_total") == 5,
             timeout=10, what="5 dropped lines counted")
    assert total_requests(scrape(admin)[1]) == 5
    reports = [line for line in gw.logs().splitlines() if "access log" in line]
    assert len(reports) == 2, reports  # once per worker, not once per line
    assert all("cannot open" in line and line.startswith("<4>worker[") for line in reports)


def test_metrics_off_by_default(stub, gateway_factory):
    gw = gateway_factory(f"""
model_list:{openai_dep("gpt-4o", "primary-a", stub.base)}
llmgate:
  listen: 127.0.0.1:@PORT@
  control_socket: @DIR@/control.sock
  workers: 1
""")
    status, h, _ = post(gw)
    assert status == 200 and float(h["x-llmgate-overhead-ms"]) >= 0
    assert "metrics on" not in gw.logs() and "access log" not in gw.logs()


def test_access_log_reopened_on_reload(stub_factory, gateway_factory, workdir):
    """logrotate: the file is renamed, a reload starts workers that open the path afresh;
    counters survive the reload."""
    a, b = stub_factory("a"), stub_factory("b")
    admin = free_port()
    os.chmod(workdir, 0o777)
    log_path = os.path.join(workdir, "access.log")
    gw = gateway_factory(metrics_config(a.base, b.base, admin, log_path))
    for _ in range(3):
        assert post(gw, CHAT, AUTH)[0] == 200
    wait_for(lambda: os.path.exists(log_path) and
             len(open(log_path).read().splitlines()) == 3, timeout=5, what="3 lines")
    os.rename(log_path, log_path + ".1")
    wait_for(lambda: value(scrape(admin)[1], "llmgate_workers", state="ready") == 2,
             timeout=10, what="generation 1 ready")
    r = ctl(gw, "reload", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: value(scrape(admin)[1], "llmgate_generation") == 2, timeout=10,
             what="generation 2")
    for _ in range(2):
        status, h, _ = post(gw, CHAT, AUTH)
        assert status == 200
    wait_for(lambda: os.path.exists(log_path) and
             len(open(log_path).read().splitlines()) == 2, timeout=5,
             what="2 lines in the new file")
    assert len(open(log_path + ".1").read().splitlines()) == 3
    wait_for(lambda: total_requests(scrape(admin)[1]) == 5, timeout=5,
             what="5 requests counted across the reload")
    # health answers carry the header too, and are not counted
    status, h, _ = gw.get("/health/readiness")
    assert status == 200 and float(h["x-llmgate-overhead-ms"]) >= 0
    time.sleep(0.6)
    assert total_requests(scrape(admin)[1]) == 5


def test_access_log_on_stderr(stub_factory, gateway_factory):
    a, b = stub_factory("a"), stub_factory("b")
    gw = gateway_factory(metrics_config(a.base, b.base, free_port(), "stderr"))
    ids = []
    for _ in range(3):
        status, h, _ = post(gw, CHAT, AUTH)
        assert status == 200
        ids.append(h["x-request-id"])

    def lines():
        return [json.loads(line) for line in gw.logs().splitlines() if line.startswith("{")]

    wait_for(lambda: len(lines()) == 3, timeout=5, what="3 access log lines on stderr")
    assert sorted(e["request_id"] for e in lines()) == sorted(ids)
    assert all(e["status"] == 200 and e["deployment"] == "primary-a" for e in lines())


# ---- requests the HTTP layer rejects before any route runs ----

H = b"Host: gw\r\nAuthorization: Bearer " + MASTER.encode() + b"\r\nx-request-id: client-id-1\r\n"
CHAT_PATH = b"POST /v1/chat/completions HTTP/1.1\r\n"
# (what, raw request, status, reason, method and path known)
HTTP_REJECTS = [
    ("garbage", b"GARBAGE\r\n\r\n", 400, "malformed", False),
    ("bare LF", b"GET /v1/models HTTP/1.1\nHost: gw\n\n", 400, "malformed", False),
    ("no Host", b"GET /v1/models HTTP/1.1\r\n\r\n", 400, "malformed", False),
    ("head too large", b"GET /v1/models HTTP/1.1\r\n" + H + b"X: " + b"a" * (70 * 1024) +
     b"\r\n\r\n", 431, "head_too_large", False),
    ("too many headers", b"GET /v1/models HTTP/1.1\r\n" + H +
     b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n", 431, "head_too_large", False),
    ("Content-Length over the limit", CHAT_PATH + H + b"Content-Length: 20000\r\n\r\n", 413,
     "body_too_large", True),
    ("chunked body over the limit", CHAT_PATH + H + b"Transfer-Encoding: chunked\r\n\r\n" +
     b"3000\r\n" + b"x" * 0x3000 + b"\r\n0\r\n\r\n", 413, "body_too_large", True),
    ("bad chunk size", CHAT_PATH + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
     400, "malformed", True),
    ("HTTP/2.0", b"GET /v1/models HTTP/2.0\r\n" + H + b"\r\n", 505, "unsupported_version", False),
    ("TE gzip", CHAT_PATH + H + b"Transfer-Encoding: gzip\r\n\r\n", 501,
     "unsupported_transfer_coding", False),
    ("Expect", CHAT_PATH + H + b"Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417,
     "unsupported_expect", False),
]
# sent whole, then nothing: answered when llmgate.header_timeout / body_timeout (1 s) run out
HTTP_SLOW = [
    ("head never ends", CHAT_PATH + H, 408, "head_timeout", False),
    ("body never ends", CHAT_PATH + H + b"Content-Length: 100\r\n\r\n" + b"x" * 10, 408,
     "body_timeout", True),
]


def test_http_rejects_counted_and_logged(stub_factory, gateway_factory, workdir):
    """Every request the HTTP layer answers itself is counted once by fixed reason in
    llmgate_http_rejected_total (not in llmgate_requests_total) and logged as one access log
    line with the fields it has; connections without a request are neither."""
    a, b = stub_factory("a"), stub_factory("b")
    admin = free_port()
    log_path = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)
    config = metrics_config(a.base, b.base, admin, log_path)
    config = config.replace("  master_key:", "  max_request_size_mb: 0.01\n  master_key:")
    config = config.replace("  drain_timeout: 5s\n",
                            "  drain_timeout: 5s\n  header_timeout: 1s\n  body_timeout: 1s\n")
    gw = gateway_factory(config)
    fams = scrape(admin)[1]
    zero = [(l["status"], l["reason"], v) for _, l, v in
            fams["llmgate_http_rejected_total"]["samples"]]
    assert len(zero) == 11 and all(v == 0 for _, _, v in zero), zero

    expected = {}  # client port -> (what, status, reason, has head, response)

    def open_sent(what, raw):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
        s.sendall(raw)
        return s

    def answer(s, what, status, reason, head):
        f = s.makefile("rb")
        try:
            r = read_response(f)
            assert r.status == status, (what, r.status, r.body)
            assert r.headers["connection"] == "close", what
            assert r.json()["error"]["code"], what
            expected[s.getsockname()[1]] = (what, status, reason, head, r)
        finally:
            f.close()
            s.close()

    slow = [(open_sent(what, raw), what, st, reason, head)
            for what, raw, st, reason, head in HTTP_SLOW]
    for what, raw, st, reason, head in HTTP_REJECTS:
        answer(open_sent(what, raw), what, st, reason, head)
    # no request, so neither counted nor logged: a connection closed at once, and a head
    # left unfinished by a client that goes away
    socket.create_connection(("127.0.0.1", gw.port), timeout=10).close()
    open_sent("partial head", b"GET /v1/mod").close()
    for s, what, st, reason, head in slow:
        answer(s, what, st, reason, head)
    # one routed request: counted in llmgate_requests_total only
    assert gw.get("/v1/models", AUTH)[0] == 200

    want = {}
    for what, st, reason, head, r in expected.values():
        want[(str(st), reason)] = want.get((str(st), reason), 0) + 1
    n = len(HTTP_REJECTS) + len(HTTP_SLOW)

    def rejected(families):
        return sum(v for _, _, v in families["llmgate_http_rejected_total"]["samples"])

    wait_for(lambda: rejected(scrape(admin)[1]) >= n and
             total_requests(scrape(admin)[1]) >= 1, timeout=10, what=f"{n} rejects in /metrics")
    time.sleep(0.6)  # a late report would show as a count over n
    text, fams = scrape(admin)
    got = {(l["status"], l["reason"]): v for _, l, v in
           fams["llmgate_http_rejected_total"]["samples"]}
    assert len(got) == 11
    assert {k: v for k, v in got.items() if v} == want
    assert want == {("400", "malformed"): 4, ("431", "head_too_large"): 2,
                    ("413", "body_too_large"): 2, ("505", "unsupported_version"): 1,
                    ("501", "unsupported_transfer_coding"): 1,
                    ("417", "unsupported_expect"): 1, ("408", "head_timeout"): 1,
                    ("408", "body_timeout"): 1}
    assert total_requests(fams) == 1, "rejects are not in llmgate_requests_total"
    assert value(fams, "llmgate_request_duration_seconds_count", model="(unknown)") == 1

    wait_for(lambda: os.path.exists(log_path) and
             len(open(log_path).read().splitlines()) >= n + 1, timeout=5,
             what=f"{n + 1} log lines")
    time.sleep(0.3)
    raw_log = open(log_path).read()
    entries = [json.loads(line) for line in raw_log.splitlines()]
    assert len(entries) == n + 1
    routed = [e for e in entries if "reason" not in e]
    assert len(routed) == 1 and routed[0]["path"] == "/v1/models"
    fields = {"time", "request_id", "client", "method", "path", "model", "deployment", "route",
              "status", "attempts", "bytes_in", "bytes_out", "upstream_ms", "ttfb_ms",
              "total_ms", "overhead_ms", "reason", "key"}
    seen = set()
    for e in entries:
        if "reason" not in e:
            continue
        assert set(e) == fields, e
        assert e["client"].startswith("127.0.0.1:")
        port = int(e["client"].rsplit(":", 1)[1])
        assert port in expected and port not in seen, e
        seen.add(port)
        what, status, reason, head, r = expected[port]
        assert (e["status"], e["reason"]) == (status, reason), (what, e)
        assert e["request_id"] == r.headers["x-request-id"] != "client-id-1", (what, e)
        assert re.match(r"^[0-9a-f]{32}$", e["request_id"])
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"])
        assert e["bytes_out"] == len(r.body) > 0, (what, e)
        assert e["model"] is None and e["deployment"] is None and e["route"] is None, what
        assert e["attempts"] == 0 and e["upstream_ms"] is None and e["ttfb_ms"] is None
        assert e["total_ms"] >= 0 and e["overhead_ms"] == e["total_ms"], (what, e)
        if head:
            assert (e["method"], e["path"]) == ("POST", "/v1/chat/completions"), (what, e)
        else:
            assert e["method"] is None and e["path"] is None, (what, e)
        if reason == "body_timeout":
            assert e["bytes_in"] == 10, e
        elif what == "chunked body over the limit":
            assert 0 < e["bytes_in"] <= 10485, e
        else:
            assert e["bytes_in"] == 0, (what, e)
    assert seen == set(expected)
    for secret in (MASTER, "client-id-1", "aaaaaaaa"):
        assert secret not in raw_log and secret not in text, secret
