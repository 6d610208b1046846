"""Routing of one request with real processes (SPEC 5, 6): round-robin and rpm
weights across deployments, retries on another deployment (500, 429 with its
retry-after, refused connections, timeouts), no retry of client errors,
per-request fallbacks (group exhausted, 401 of a misconfigured primary), the
request's deadline, stream timeouts, request defaults, extra headers, and the
outcome of every attempt as the supervisor counts it."""
import json
import os
import socket
import time

import helpers
from helpers import (CHAT, azure_dep, ctl_result, error_of, events_of, free_port,
                     gateway_config, openai_dep, stream_request, wait_for)


def config(*deps, retries=2, workers=1, **kw):
    """A one-worker gateway of DEPS (helpers.gateway_config), two retries by default."""
    return gateway_config(*deps, retries=retries, workers=workers, drain_timeout="5s", **kw)


def post(gw, body=CHAT, timeout=30):
    """helpers.post, and the seconds it took."""
    t = time.monotonic()
    status, headers, data = helpers.post(gw, body, timeout=timeout)
    return status, headers, data, time.monotonic() - t


def route(headers):
    return (headers["x-llmgate-deployment"], headers["x-llmgate-route"],
            headers["x-llmgate-attempts"])


def stream(port, body, timeout=30):
    """A streamed request over a raw socket: (status, headers, events, complete, body)."""
    r = stream_request(port, dict(body, stream=True), timeout)
    return r.status, r.headers, events_of(r.body), r.complete, r.body


def test_round_robin_across_two_deployments(stub_factory, gateway_factory):
    a, b = stub_factory("a"), stub_factory("b")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", a.base),
                                openai_dep("gpt-4o", "dep-b", b.base)))
    served = []
    for _ in range(10):
        status, headers, data, _ = post(gw)
        assert status == 200, data
        assert headers["x-llmgate-route"] == "primary"
        assert headers["x-llmgate-attempts"] == "1"
        served.append(headers["x-llmgate-deployment"])
        assert json.loads(data)["choices"][0]["message"]["content"].startswith(
            "stub " + served[-1][-1])
    assert served == ["dep-a", "dep-b"] * 5
    assert len(a.requests()) == 5 and len(b.requests()) == 5


def test_weighted_by_rpm(stub_factory, gateway_factory):
    a, b = stub_factory("a"), stub_factory("b")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", a.base, "\n      rpm: 300"),
                                openai_dep("gpt-4o", "dep-b", b.base, "\n      rpm: 100")))
    served = [post(gw)[1]["x-llmgate-deployment"] for _ in range(16)]
    assert served.count("dep-a") == 12 and served.count("dep-b") == 4, served
    # smooth: the light deployment is spread out, never twice in a row
    assert all(not (x == y == "dep-b") for x, y in zip(served, served[1:])), served
    assert len(a.requests()) == 12 and len(b.requests()) == 4


def two_deployments(stub_factory, gateway_factory, first_base=None, params="", router=""):
    """dep-a (stub a, or FIRST_BASE) and dep-b (stub b) in one group; the first
    request goes to dep-a."""
    a, b = stub_factory("a"), stub_factory("b")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", first_base or a.base, params),
                                openai_dep("gpt-4o", "dep-b", b.base), router=router))
    return a, b, gw


def test_retry_on_500_moves_to_the_other_deployment(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory)
    a.set_faults({"status": 500})
    status, headers, data, _ = post(gw)
    assert status == 200, data
    assert route(headers) == ("dep-b", "primary", "2")
    assert [r["path"] for r in a.requests()] == ["/v1/chat/completions"]
    assert len(b.requests()) == 1
    assert json.loads(b.requests()[0]["body"])["messages"] == CHAT["messages"]


def test_retry_on_429_waits_for_retry_after_ms(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory)
    a.set_faults({"status": 429, "retry_after_ms": 700})
    status, headers, data, took = post(gw)
    assert status == 200, data
    assert route(headers) == ("dep-b", "primary", "2")
    waited = b.requests()[0]["time_ms"] - a.requests()[0]["time_ms"]
    print(f"\n429 with retry-after-ms 700: next attempt {waited} ms later, answer in "
          f"{took * 1000:.0f} ms")
    assert 690 <= waited < 1200
    assert took < 2.0


def test_retry_after_seconds_is_honoured(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory)
    a.set_faults({"status": 503, "retry_after": 1})
    status, headers, _, _ = post(gw)
    assert status == 200
    assert route(headers) == ("dep-b", "primary", "2")
    waited = b.requests()[0]["time_ms"] - a.requests()[0]["time_ms"]
    assert 990 <= waited < 1500, waited


def test_retry_after_beyond_the_deadline_is_not_waited_for(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory, router="  timeout: 5s\n")
    a.set_faults({"status": 429, "retry_after": 60})
    status, headers, _, took = post(gw)
    assert status == 200
    assert route(headers) == ("dep-b", "primary", "2")
    assert took < 1.0, "another deployment does not wait for a wait that cannot fit"


def test_429_exhausted_passes_the_last_answer_through(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory, router="  timeout: 5s\n")
    a.set_faults({"status": 429, "retry_after_ms": 50})
    b.set_faults({"status": 429, "retry_after_ms": 50})
    status, headers, data, _ = post(gw)
    assert status == 429
    assert headers["x-llmgate-attempts"] == "3"  # num_retries 2
    assert headers["retry-after-ms"] == "50"
    assert error_of(data)["code"] == "rate_limit_exceeded"
    assert len(a.requests()) + len(b.requests()) == 3


def test_retry_on_refused_connection(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory,
                               first_base=f"http://127.0.0.1:{free_port()}")
    status, headers, data, _ = post(gw)
    assert status == 200, data
    assert route(headers) == ("dep-b", "primary", "2")
    assert a.requests() == []


def test_retry_on_attempt_timeout(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory, params="\n      timeout: 500ms")
    a.set_faults({"delay_ms": 5000})
    status, headers, data, took = post(gw)
    assert status == 200, data
    assert route(headers) == ("dep-b", "primary", "2")
    print(f"\nattempt timeout 500 ms: answered by the other deployment after "
          f"{took * 1000:.0f} ms")
    assert 0.45 <= took < 1.5


def test_client_error_is_not_retried(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory)
    status, headers, data, _ = post(gw, dict(CHAT, x_stub={"status": 400}))
    assert status == 400
    assert route(headers) == ("dep-a", "primary", "1")
    assert error_of(data)["type"] == "invalid_request_error"
    assert len(a.requests()) == 1 and b.requests() == []


def test_every_attempt_failing_is_502_naming_them(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory,
                               first_base=f"http://127.0.0.1:{free_port()}",
                               router="  timeout: 10s\n")
    b.set_faults({"status": 500})
    status, headers, data, took = post(gw)
    assert status == 502
    assert headers["x-llmgate-attempts"] == "3"
    err = error_of(data)
    assert "'dep-a' (connect)" in err["message"] and "'dep-b' (500)" in err["message"], err
    assert err["type"] == "upstream_error"
    assert took < 2.0


def fallback_config(a_base, b_base, c_base):
    """dep-a and dep-b in gpt-4o (one retry), falling back to dep-c in gpt-4o-backup."""
    return config(openai_dep("gpt-4o", "dep-a", a_base),
                  openai_dep("gpt-4o", "dep-b", b_base),
                  openai_dep("gpt-4o-backup", "dep-c", c_base), retries=1,
                  fallbacks={"gpt-4o": ["gpt-4o-backup"]})


def test_exhausted_group_falls_back(stub_factory, gateway_factory):
    a, b, c = stub_factory("a"), stub_factory("b"), stub_factory("c")
    gw = gateway_factory(fallback_config(a.base, b.base, c.base))
    a.set_faults({"status": 500})
    b.set_faults({"status": 429, "retry_after": 30})
    status, headers, data, took = post(gw)
    assert status == 200, data
    assert route(headers) == ("dep-c", "fallback", "3")
    assert took < 1.0, "a deployment's retry-after does not hold for another group"
    assert len(a.requests()) == 1 and len(b.requests()) == 1 and len(c.requests()) == 1
    forwarded = json.loads(c.requests()[0]["body"])
    assert forwarded["model"] == "gpt-4o-mini"
    assert c.requests()[0]["headers"]["authorization"] == "Bearer sk-test-dep-c-0123456789"
    # a healthy primary answers as primary again
    a.set_faults({})
    b.set_faults({})
    status, headers, _, _ = post(gw)
    assert status == 200 and headers["x-llmgate-route"] == "primary"


def test_primary_401_falls_back_to_azure(stub_factory, gateway_factory):
    """The seed scenario: the primary's key is wrong, direct Azure works."""
    proxy = stub_factory("litellm", ["--require-key", "sk-the-right-key-0123456789"])
    azure = stub_factory("azure", ["--require-key", "azure-right-key-0123456789"])
    gw = gateway_factory(config(
        openai_dep("gpt-4o", "litellm-proxy", proxy.base),
        azure_dep("gpt-4o-azure", "azure-direct", azure.base, key="azure-right-key-0123456789"),
        fallbacks={"gpt-4o": ["gpt-4o-azure"]}))
    status, headers, data, _ = post(gw)
    assert status == 200, data
    assert route(headers) == ("azure-direct", "fallback", "2")
    assert len(proxy.requests()) == 1, "an auth failure is not retried on the same group"
    seen = azure.requests()[0]
    assert seen["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert seen["query"] == "api-version=2024-08-01-preview"
    assert seen["headers"]["api-key"] == "azure-right-key-0123456789"
    assert "authorization" not in seen["headers"]


def test_401_without_a_fallback_is_passed_through(stub_factory, gateway_factory):
    up = stub_factory("openai", ["--require-key", "sk-the-right-key-0123456789"])
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", up.base)))
    status, headers, data, _ = post(gw)
    assert status == 401
    assert route(headers) == ("dep-a", "primary", "1")
    assert "Incorrect API key provided" in error_of(data)["message"]
    assert len(up.requests()) == 1


def test_401_of_every_group_returns_the_last_answer(stub_factory, gateway_factory):
    proxy = stub_factory("litellm", ["--require-key", "sk-the-right-key-0123456789"])
    azure = stub_factory("azure", ["--require-key", "azure-right-key-0123456789"])
    gw = gateway_factory(config(
        openai_dep("gpt-4o", "litellm-proxy", proxy.base),
        azure_dep("gpt-4o-azure", "azure-direct", azure.base),
        fallbacks={"gpt-4o": ["gpt-4o-azure"]}))
    status, headers, data, _ = post(gw)
    assert status == 401
    assert route(headers) == ("azure-direct", "fallback", "2")
    # as Azure sent it
    assert json.loads(data)["error"]["message"].startswith("Access denied due to invalid")


def test_deadline_ends_a_hanging_request_with_504(stub_factory, gateway_factory):
    up = stub_factory("slow")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", up.base, "\n      timeout: 30s"),
                                router="  timeout: 1s\n"))
    status, headers, data, took = post(gw, dict(CHAT, x_stub={"hang": True}))
    print(f"\ndeadline 1 s, hanging upstream: 504 after {took * 1000:.0f} ms")
    assert status == 504
    assert 0.85 <= took < 1.6
    err = error_of(data)
    assert err["code"] == "deadline_exceeded" and err["type"] == "timeout"
    assert route(headers) == ("dep-a", "primary", "1")


def test_deadline_covers_retries(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory, params="\n      timeout: 700ms",
                               router="  timeout: 1s\n")
    status, headers, data, took = post(gw, dict(CHAT, x_stub={"delay_ms": 5000}))
    assert status == 504
    assert 0.85 <= took < 1.6
    assert headers["x-llmgate-attempts"] == "2"
    assert error_of(data)["code"] == "deadline_exceeded"


def test_stream_timeout_before_the_first_byte(stub_factory, gateway_factory):
    up = stub_factory("stuck")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", up.base,
                                           "\n      timeout: 20s\n      stream_timeout: 500ms"),
                                retries=0, router="  timeout: 20s\n"))
    t = time.monotonic()
    status, headers, events, complete, body = stream(
        gw.port, dict(CHAT, x_stub={"headers_then_hang": True}))
    took = time.monotonic() - t
    print(f"\nstream_timeout 500 ms, head then nothing: {status} after {took * 1000:.0f} ms")
    assert status == 504 and complete
    assert headers["content-type"].startswith("application/json")
    assert error_of(body)["code"] == "upstream_timeout"
    assert 0.45 <= took < 1.5


def test_stream_timeout_moves_to_the_other_deployment(stub_factory, gateway_factory):
    a, b, gw = two_deployments(stub_factory, gateway_factory,
                               params="\n      stream_timeout: 500ms")
    a.set_faults({"headers_then_hang": True})
    status, headers, events, complete, _ = stream(gw.port, CHAT)
    assert status == 200 and complete
    assert route(headers) == ("dep-b", "primary", "2")
    assert events[-1] == "data: [DONE]"


def test_long_healthy_stream_outlives_the_timeouts(stub_factory, gateway_factory):
    up = stub_factory("steady")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", up.base, "\n      timeout: 1s"),
                                router="  timeout: 2s\n"))
    t = time.monotonic()
    status, headers, events, complete, _ = stream(
        gw.port, dict(CHAT, x_stub={"chunks": 12, "chunk_delay_ms": 300}))
    took = time.monotonic() - t
    assert status == 200 and complete, events[-2:]
    assert took > 3.0, "longer than the attempt timeout and the deadline"
    assert events[-1] == "data: [DONE]"
    assert sum('"delta"' in e for e in events) == 13  # 12 content chunks and the finish


def test_stalled_stream_ends_with_an_error_event(stub_factory, gateway_factory):
    """Idle time between chunks: the attempt timeout (1 s here); the first byte
    may take up to stream_timeout."""
    up = stub_factory("stalls")
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", up.base,
                                           "\n      timeout: 1s\n      stream_timeout: 5s")))
    t = time.monotonic()
    status, headers, events, complete, _ = stream(
        gw.port, dict(CHAT, x_stub={"chunks": 3, "chunk_delay_ms": 2500}))
    took = time.monotonic() - t
    assert status == 200 and not complete
    assert "data: [DONE]" not in events
    err = json.loads(events[-1][6:])["error"]
    assert err["code"] == "upstream_timeout" and err["type"] == "upstream_error"
    assert 0.95 <= took < 6.0, took
    assert headers["x-llmgate-attempts"] == "1"


def test_request_defaults_apply_where_the_client_sent_nothing(stub, gateway_factory):
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", stub.base,
                                           "\n      temperature: 0.2\n      max_tokens: 50")))
    status, _, _, _ = post(gw)
    assert status == 200
    sent = json.loads(stub.requests()[-1]["body"])
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    status, _, _, _ = post(gw, dict(CHAT, temperature=0.9))
    assert status == 200
    sent = json.loads(stub.requests()[-1]["body"])
    assert sent["temperature"] == 0.9, "the client's value wins"
    assert sent["max_tokens"] == 50
    assert sent["messages"] == CHAT["messages"] and sent["model"] == "gpt-4o-mini"


def test_extra_headers_reach_the_upstream(stub, gateway_factory):
    gw = gateway_factory(config(openai_dep(
        "gpt-4o", "dep-a", stub.base,
        "\n      extra_headers:\n        X-Team: spreadsheet\n        X-Trace: abc-1")))
    assert post(gw)[0] == 200
    seen = stub.requests()[-1]["headers"]
    assert seen["x-team"] == "spreadsheet" and seen["x-trace"] == "abc-1"
    assert seen["authorization"] == "Bearer sk-test-dep-a-0123456789"



def test_many_extra_headers_reach_the_upstream(stub, gateway_factory):
    # more than the headers a request keeps inline (worker/proxy_request.h): the
    # allocated list, and the credential with them
    names = [f"X-Extra-{i}" for i in range(9)]
    gw = gateway_factory(config(openai_dep(
        "gpt-4o", "dep-a", stub.base,
        "\n      extra_headers:" + "".join(f"\n        {n}: v{i}" for i, n in enumerate(names)))))
    assert post(gw)[0] == 200
    seen = stub.requests()[-1]["headers"]
    assert all(seen[n.lower()] == f"v{i}" for i, n in enumerate(names)), seen
    assert seen["authorization"] == "Bearer sk-test-dep-a-0123456789"

def deployments(gw):
    return {b["id"]: b for b in ctl_result(gw, "status")["deployments"]}


def test_every_attempt_is_counted_per_deployment(stub_factory, gateway_factory):
    a, b = stub_factory("a"), stub_factory("b")
    gw = gateway_factory(fallback_config(a.base, b.base, f"http://127.0.0.1:{free_port()}"))
    wait_for(lambda: os.path.exists(gw.sock), what="control socket")
    a.set_faults({"status": 500})
    b.set_faults({"status": 429})
    status, headers, _, _ = post(gw)
    # the last 4xx answer, after the fallback group (one retry of its own) was refused
    assert status == 429
    assert headers["x-llmgate-deployment"] == "dep-b"
    assert headers["x-llmgate-attempts"] == "4"
    want = {"dep-a": ("5xx", 1), "dep-b": ("429", 1), "dep-c": ("connect", 2)}

    def counted():
        bs = deployments(gw)
        return bs if all(bs[d]["requests"] == n for d, (_, n) in want.items()) else None
    bs = wait_for(counted, timeout=5, what="the attempts counted")
    for d, (cls, n) in want.items():
        assert bs[d]["window_failures_by_class"][cls] == n, bs[d]
        assert bs[d]["failures"] == n


def test_a_client_leaving_is_not_a_deployment_failure(stub, gateway_factory):
    gw = gateway_factory(config(openai_dep("gpt-4o", "dep-a", stub.base)))
    wait_for(lambda: os.path.exists(gw.sock), what="control socket")
    s = socket.create_connection(("127.0.0.1", gw.port))
    body = json.dumps(dict(CHAT, x_stub={"hang": True})).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: "
              b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    wait_for(lambda: len(stub.requests()) == 1, what="the upstream request")
    s.close()
    assert post(gw)[0] == 200
    bs = wait_for(lambda: (lambda b: b if b["dep-a"]["requests"] >= 1 else None)(deployments(gw)),
                  timeout=5, what="the answered request counted")
    time.sleep(0.5)
    bs = deployments(gw)
    assert bs["dep-a"]["requests"] == 1 and bs["dep-a"]["failures"] == 0, bs["dep-a"]
