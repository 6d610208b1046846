"""Token usage, cost and their metrics (issue 19) with real processes: a stub that reports
known usage (x_stub prompt_tokens, cached_tokens, reasoning_tokens; completion tokens are
the words of its answer, plus the reasoning tokens, as OpenAI counts them) answers chat,
completions, embeddings and Responses, plain and streamed; the access log and /metrics
must show exactly those counts and the cost at the configured prices, a stream without
usage or cut before it counts as unknown, and `stream_usage: inject` gives a client that
did not ask for usage the very bytes it gets without inject while still counting."""
import itertools
import json
import os
import re
import time

from helpers import (CHAT, connect, ctl_result, free_port, gateway_config, openai_dep,
                     post_bytes, read_response, wait_for)
from test_metrics import scrape, value

PRICES = ("\n      input_cost_per_token: 0.000002\n      output_cost_per_token: 0.00001"
          "\n      cache_read_input_token_cost: 0.0000005")
INFO_PRICE = "\n      output_cost_per_reasoning_token: 0.00004"  # from model_info
FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost")


def config(base, admin, log, extra=""):
    return gateway_config(
        openai_dep("gpt-4o", "priced", base, params=PRICES, info=INFO_PRICE),
        openai_dep("cheap", "unpriced", base, model="openai/gpt-4o-mini"),
        # its group is its upstream model: the client's bytes go upstream as they are
        openai_dep("gpt-4o-mini", "as-is", base, model="openai/gpt-4o-mini"),
        workers=2, drain_timeout="5s",
        llmgate=f"  admin_listen: 127.0.0.1:{admin}\n  access_log: {log}\n{extra}")


CALLS = itertools.count(1)


def call(port, path, body):
    """One request on a raw connection: the Response (its framing checked). Its x-request-id
    is usage-NNNNNN, in the order of the calls: two workers write their access log lines in
    their own time, so the log is put back in request order by it."""
    s, f = connect(port, 30)
    try:
        rid = b"x-request-id: usage-%06d\r\n" % next(CALLS)
        s.sendall(post_bytes(path, json.dumps(body).encode(), extra=rid))
        return read_response(f)
    finally:
        f.close()
        s.close()


def log_lines(path, n):
    wait_for(lambda: os.path.exists(path) and len(open(path).read().splitlines()) >= n,
             timeout=10, what=f"{n} access log lines")
    entries = [json.loads(line) for line in open(path).read().splitlines()]
    return sorted(entries, key=lambda e: e["request_id"])


def words(text):
    return len(text.split())


def cost(prompt, cached, completion, reasoning):
    return ((prompt - cached) * 0.000002 + cached * 0.0000005 +
            (completion - reasoning) * 0.00001 + reasoning * 0.00004)


def test_usage_counted_exactly(stub, gateway_factory, workdir):
    admin = free_port()
    log = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)
    gw = gateway_factory(config(stub.base, admin, log))
    known = {"prompt_tokens": 100, "cached_tokens": 40, "reasoning_tokens": 7}
    want = []  # (path, prompt, completion, cached or None, reasoning or None) per request

    # chat, plain: the usage the client sees is the one counted
    r = call(gw.port, "/v1/chat/completions", dict(CHAT, x_stub=known))
    assert r.status == 200
    u = r.json()["usage"]
    text = r.json()["choices"][0]["message"]["content"]
    assert u["completion_tokens"] == words(text) + 7
    want.append(("chat", 100, words(text) + 7, 40, 7))
    # completions, plain (no details, as OpenAI's legacy endpoint)
    r = call(gw.port, "/v1/completions", {"model": "gpt-4o", "prompt": "hi",
                                          "x_stub": {"prompt_tokens": 50}})
    assert r.status == 200
    want.append(("completions", 50, r.json()["usage"]["completion_tokens"], None, None))
    # embeddings: prompt tokens only
    r = call(gw.port, "/v1/embeddings", {"model": "gpt-4o", "input": "hi",
                                         "x_stub": {"prompt_tokens": 30}})
    assert r.status == 200 and r.json()["usage"] == {"prompt_tokens": 30, "total_tokens": 30}
    want.append(("embeddings", 30, 0, None, None))
    # a large answer (in many buffer segments): its usage is still found at its end
    r = call(gw.port, "/v1/embeddings", {"model": "gpt-4o", "input": ["a"] * 16,
                                         "dimensions": 3072, "x_stub": {"prompt_tokens": 16}})
    assert r.status == 200 and len(r.body) > 300000
    want.append(("large embeddings", 16, 0, None, None))
    # Responses, plain and streamed
    create = {"model": "gpt-4o", "input": "hi", "x_stub": {"prompt_tokens": 20,
                                                           "cached_tokens": 5,
                                                           "reasoning_tokens": 3}}
    r = call(gw.port, "/v1/responses", create)
    assert r.status == 200
    out = r.json()["usage"]["output_tokens"]
    want.append(("responses", 20, out, 5, 3))
    r = call(gw.port, "/v1/responses", dict(create, stream=True))
    assert r.status == 200 and b"event: response.completed" in r.body
    want.append(("responses stream", 20, out, 5, 3))
    # a chat stream that asked for usage: its usage chunk
    r = call(gw.port, "/v1/chat/completions",
             dict(CHAT, stream=True, stream_options={"include_usage": True},
                  x_stub={"prompt_tokens": 60, "chunks": 4, "reasoning_tokens": 2}))
    assert r.status == 200
    last = [e for e in r.body.decode().split("\n\n") if e.startswith("data: {")][-1]
    assert json.loads(last[6:])["usage"]["completion_tokens"] == 6
    want.append(("chat stream", 60, 6, 0, 2))
    # unknown: a chat stream that did not ask, a stream cut before its usage chunk
    r = call(gw.port, "/v1/chat/completions", dict(CHAT, stream=True))
    assert r.status == 200 and b"\"usage\"" not in r.body
    want.append(("unknown", None, None, None, None))
    r = call(gw.port, "/v1/chat/completions",
             dict(CHAT, stream=True, stream_options={"include_usage": True},
                  x_stub={"chunks": 10, "cut_after": 3}))
    assert r.status == 200
    want.append(("unknown", None, None, None, None))
    # the unpriced deployment: tokens, no cost
    r = call(gw.port, "/v1/chat/completions",
             dict(CHAT, model="cheap", x_stub={"prompt_tokens": 11}))
    assert r.status == 200
    cheap_completion = r.json()["usage"]["completion_tokens"]
    # not counted either way: an error answer
    r = call(gw.port, "/v1/chat/completions", dict(CHAT, x_stub={"status": 400}))
    assert r.status == 400

    entries = log_lines(log, 11)
    assert len(entries) == 11
    priced = [e for e in entries if e["deployment"] == "priced" and e["status"] == 200]
    assert len(priced) == len(want)
    for e, (what, prompt, completion, cached, reasoning) in zip(priced, want):
        if prompt is None:
            assert all(e[k] is None for k in FIELDS), (what, e)
            continue
        assert (e["prompt_tokens"], e["completion_tokens"], e["cached_tokens"],
                e["reasoning_tokens"]) == (prompt, completion, cached, reasoning), (what, e)
        c = cost(prompt, cached or 0, completion, reasoning or 0)
        assert abs(e["cost"] - c) < 1e-12, (what, e["cost"], c)
    cheap = [e for e in entries if e["deployment"] == "unpriced"][0]
    assert cheap["prompt_tokens"] == 11 and cheap["cost"] is None
    error = [e for e in entries if e["status"] == 400][0]
    assert not any(k in error for k in FIELDS)

    # /metrics: the same sums
    known_rows = [w for w in want if w[1] is not None]
    sums = {"prompt": sum(w[1] for w in known_rows),
            "completion": sum(w[2] for w in known_rows),
            "cached_prompt": sum(w[3] or 0 for w in known_rows),
            "reasoning": sum(w[4] or 0 for w in known_rows)}
    total_cost = sum(cost(w[1], w[3] or 0, w[2], w[4] or 0) for w in known_rows)

    def tokens(fams, kind, model="gpt-4o", dep="priced"):
        return value(fams, "llmgate_tokens_total", model=model, deployment=dep,
                     route="primary", type=kind)

    wait_for(lambda: tokens(scrape(admin)[1], "prompt") == sums["prompt"], timeout=10,
             what="the prompt tokens in /metrics")
    time.sleep(0.6)
    text, fams = scrape(admin)
    for kind, n in sums.items():
        assert tokens(fams, kind) == n, kind
    assert tokens(fams, "prompt", "cheap", "unpriced") == 11
    assert tokens(fams, "completion", "cheap", "unpriced") == cheap_completion
    assert value(fams, "llmgate_usage_unknown_total", model="gpt-4o", deployment="priced",
                 route="primary") == 2
    assert value(fams, "llmgate_usage_unknown_total", model="cheap", deployment="unpriced",
                 route="primary") == 0
    assert abs(value(fams, "llmgate_cost_total", model="gpt-4o", deployment="priced")
               - total_cost) < 1e-9
    assert value(fams, "llmgate_cost_total", model="cheap", deployment="unpriced") is None
    assert "no sample" in fams["llmgate_cost_total"]["help"]
    ids = {"requested_model": "gpt-4o", "model": "openai/gpt-4o-mini", "model_id": "priced"}
    assert value(fams, "litellm_input_tokens_metric_total", **ids) == sums["prompt"]
    assert value(fams, "litellm_output_tokens_metric_total", **ids) == sums["completion"]
    assert value(fams, "litellm_total_tokens_metric_total", **ids) == \
        sums["prompt"] + sums["completion"]
    assert abs(value(fams, "litellm_spend_metric_total", model="openai/gpt-4o-mini",
                     model_id="priced") - total_cost) < 1e-9
    assert value(fams, "litellm_spend_metric_total", model_id="unpriced") is None

    # llmgatectl deployments: the tokens of the last minute
    deps = {d["id"]: d for d in ctl_result(gw, "deployments")}
    assert deps["priced"]["tokens_last_minute"] == sums["prompt"] + sums["completion"]
    assert deps["unpriced"]["tokens_last_minute"] == 11 + cheap_completion


def normalized(body):
    """A chat stream's bytes without what differs between two answers of the stub."""
    body = re.sub(rb'"id":"chatcmpl-stub[0-9a-f]+"', b'"id":"X"', body)
    return re.sub(rb'"created":\d+', b'"created":0', body)


def test_inject_strips_for_clients_that_did_not_ask(stub, gateway_factory, workdir):
    admin = free_port()
    log = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)
    plain_gw = gateway_factory(config(stub.base, free_port(), os.path.join(workdir, "p.log")))
    gw = gateway_factory(config(stub.base, admin, log, "  stream_usage: inject\n"))
    body = dict(CHAT, stream=True, x_stub={"prompt_tokens": 77, "chunks": 40})

    without = call(plain_gw.port, "/v1/chat/completions", body)
    injected = call(gw.port, "/v1/chat/completions", body)
    assert without.status == injected.status == 200
    assert b"usage" not in without.body
    assert normalized(injected.body) == normalized(without.body), "byte-identical"
    # upstream it asked for usage: the stub saw include_usage (its requests are recorded)
    asked = [json.loads(r["body"]) for r in stub.requests()
             if r["path"].endswith("/chat/completions")]
    assert [b.get("stream_options") for b in asked[-2:]] == [None, {"include_usage": True}]

    # no other rewrite: the member is inserted into the client's bytes, nothing else changes
    raw = json.dumps(dict(body, model="gpt-4o-mini")).encode()
    s, f = connect(gw.port, 30)
    try:
        s.sendall(post_bytes("/v1/chat/completions", raw,
                             extra=b"x-request-id: usage-%06d\r\n" % next(CALLS)))
        as_is = read_response(f)
    finally:
        f.close()
        s.close()
    assert as_is.status == 200 and b"usage" not in as_is.body
    sent = stub.requests()[-1]["body"].encode()
    assert sent == b'{"stream_options":{"include_usage":true},' + raw[1:]
    # the client's own stream_options (include_usage false): merged, and it still gets what
    # it asked for
    r = call(gw.port, "/v1/chat/completions",
             dict(body, stream_options={"include_usage": False}))
    assert json.loads(stub.requests()[-1]["body"])["stream_options"] == {"include_usage": True}
    assert normalized(r.body) == normalized(without.body)

    # a client that asked gets its usage chunk, untouched
    own = call(gw.port, "/v1/chat/completions",
               dict(body, stream_options={"include_usage": True}))
    assert b'"choices":[],"usage":{"prompt_tokens":77' in own.body
    # never the Responses API
    r = call(gw.port, "/v1/responses", {"model": "gpt-4o", "input": "hi", "stream": True})
    assert r.status == 200
    assert "stream_options" not in json.loads(stub.requests()[-1]["body"])
    # a plain (non-stream) chat is not rewritten
    call(gw.port, "/v1/chat/completions", dict(CHAT))
    assert "stream_options" not in json.loads(stub.requests()[-1]["body"])

    entries = log_lines(log, 6)
    chats = [e for e in entries if e["path"] == "/v1/chat/completions"]
    assert [e["prompt_tokens"] for e in chats[:4]] == [77] * 4
    assert chats[0]["completion_tokens"] == 40
    assert abs(chats[0]["cost"] - cost(77, 0, 40, 0)) < 1e-12


def test_usage_off(stub, gateway_factory, workdir):
    admin = free_port()
    log = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)
    gw = gateway_factory(config(stub.base, admin, log, "  usage: false\n"))
    r = call(gw.port, "/v1/chat/completions", dict(CHAT, x_stub={"prompt_tokens": 5}))
    assert r.status == 200
    e = log_lines(log, 1)[0]
    assert not any(k in e for k in FIELDS)
    time.sleep(0.6)
    fams = scrape(admin)[1]
    assert fams["llmgate_tokens_total"]["samples"] == []
    assert fams["llmgate_usage_unknown_total"]["samples"] == []
