"""The Responses API through llmgate: POST /v1/responses routed by model to OpenAI-style,
Azure v1 and Azure dated upstreams (the body's model the deployment's, nothing injected),
named-event streams relayed byte for byte and ended by the Responses error event when they
fail, the routes on a stored response (GET/DELETE /v1/responses/{id}, /cancel, /input_items)
and previous_response_id reaching the deployment that holds the response by walking the
group's deployments on the upstream's not-found answer, the /openai/v1 and /openai/responses
ingress paths, 426 for a WebSocket upgrade and 501 for the Conversations API."""
import json
import re
import subprocess

import pytest

from helpers import (LLMGATED, azure_dep, connect, ctl_result, error_of, events_of,
                     gateway_config, model_config, openai_dep, post_bytes, read_response,
                     request)

AZURE_KEY = "azure-test-key-0123456789"
CREATE = {"model": "gpt-4o", "input": "hello there"}


def sse(body):
    """(event name, data) of each event of a Responses stream."""
    out = []
    for e in events_of(body):
        lines = dict(line.split(": ", 1) for line in e.split("\n"))
        out.append((lines.get("event"), json.loads(lines["data"]) if "data" in lines else None))
    return out


def stream(port, path, body, extra=b""):
    s, f = connect(port, 30)
    try:
        s.sendall(post_bytes(path, body, extra))
        return read_response(f)
    finally:
        f.close()
        s.close()


def three_deployments(stub_factory, gateway_factory, llmgate=""):
    """Group gpt-4o of three deployments on three stubs (each knows only its own responses),
    two workers; LLMGATE: more lines of the llmgate section."""
    stubs = [stub_factory(f"s{i}") for i in range(3)]
    gw = gateway_factory(gateway_config(
        *[openai_dep("gpt-4o", f"dep-{i}", s.base, info="\n      mode: responses")
          for i, s in enumerate(stubs)], workers=2, llmgate=llmgate))
    return stubs, gw


@pytest.fixture
def three(stub_factory, gateway_factory):
    return three_deployments(stub_factory, gateway_factory)


def test_create_on_each_provider_style(stub_factory, gateway_factory):
    o, a = stub_factory("openai"), stub_factory("azure", ["--require-key", AZURE_KEY])
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "oa", o.base, model="openai/gpt-4.1"),
        azure_dep("az-v1", "v1", a.base, api_version="v1", name="my-v1-deployment"),
        azure_dep("az-dated", "dated", a.base, api_version="2025-04-01-preview",
                  name="my-dated-deployment"), workers=1))
    for group, stub, path, model in (
            ("gpt-4o", o, "/v1/responses", "gpt-4.1"),
            ("az-v1", a, "/openai/v1/responses", "my-v1-deployment"),
            ("az-dated", a, "/openai/responses", "my-dated-deployment")):
        status, headers, body = gw.post("/v1/responses", dict(CREATE, model=group))
        assert status == 200, body
        answer = json.loads(body)
        assert answer["object"] == "response" and answer["status"] == "completed"
        assert answer["id"].startswith("resp_")
        assert answer["output"][0]["content"][0]["text"] == f"stub {stub.name}: hello from {model}"
        seen = stub.requests()[-1]
        assert seen["path"] == path
        assert json.loads(seen["body"]) == dict(CREATE, model=model), "only model changes"
    assert a.requests()[-1]["query"] == "api-version=2025-04-01-preview"


def test_no_fields_injected(stub_factory, gateway_factory):
    """A deployment's request defaults go into chat bodies, never into Responses bodies."""
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep(
        "gpt-4o", "oa", o.base, params="\n      temperature: 0.2\n      max_tokens: 50"),
        workers=1))
    raw = b'{"model": "gpt-4o",  "input": "hi", "stream": false}'
    status, _, _ = gw.post("/v1/responses", raw, {"Content-Type": "application/json"})
    assert status == 200
    sent = o.requests()[-1]["body"]
    assert json.loads(sent) == {"model": "gpt-4o-mini", "input": "hi", "stream": False}


def test_stream_relayed_as_named_events(stub_factory, gateway_factory):
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base), workers=1))
    r = stream(gw.port, "/v1/responses", dict(CREATE, stream=True))
    assert r.status == 200 and r.complete
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.body)
    names = [n for n, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert "response.output_text.delta" in names
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert b"[DONE]" not in r.body
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert text == "stub openai: hello from gpt-4o-mini"
    assert r.headers["x-llmgate-deployment"] == "oa"


def test_stream_failure_ends_with_the_responses_error_event(stub_factory, gateway_factory):
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base), workers=1))
    r = stream(gw.port, "/v1/responses", dict(CREATE, stream=True, x_stub={"cut_after": 2}))
    assert r.status == 200 and not r.complete, "the client sees a broken stream"
    events = sse(r.body)
    names = [n for n, _ in events]
    assert names[-1] == "error"
    assert "response.completed" not in names and b"[DONE]" not in r.body
    err = events[-1][1]
    assert err["type"] == "error" and err["code"] == "protocol" and err["param"] is None
    assert err["sequence_number"] == len(events) - 1
    assert "the stream from deployment 'oa' failed" in err["message"]


def test_failure_before_the_first_byte_retries(stub_factory, gateway_factory):
    bad, good = stub_factory("bad", ["--status", "500"]), stub_factory("good")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "bad", bad.base),
                                        openai_dep("gpt-4o-b", "good", good.base),
                                        fallbacks={"gpt-4o": ["gpt-4o-b"]}, retries=0,
                                        workers=1))
    r = stream(gw.port, "/v1/responses", dict(CREATE, stream=True))
    assert r.status == 200 and r.complete
    assert r.headers["x-llmgate-deployment"] == "good"
    assert r.headers["x-llmgate-route"] == "fallback"
    assert sse(r.body)[-1][0] == "response.completed"


def test_id_routes_reach_the_creator(three):
    """Create on each deployment in turn, then read, list, cancel and delete each response
    through the gateway: every follow-up is answered by the stub that holds it."""
    stubs, gw = three
    made = {}
    for _ in range(12):  # round-robin per worker: a few creates cover every deployment
        status, headers, body = gw.post("/v1/responses", dict(CREATE, background=True))
        assert status == 200, body
        made.setdefault(headers["x-llmgate-deployment"], json.loads(body)["id"])
    assert sorted(made) == ["dep-0", "dep-1", "dep-2"]
    made = [(rid, dep) for dep, rid in sorted(made.items())]
    for rid, dep in made:
        status, headers, body = request(gw.port, "GET", f"/v1/responses/{rid}")
        assert status == 200 and json.loads(body)["id"] == rid
        assert headers["x-llmgate-deployment"] == dep
        assert headers["x-llmgate-attempts"] == "1", "the id table knows its creator"
        status, headers, body = request(gw.port, "GET", f"/v1/responses/{rid}/input_items")
        items = json.loads(body)
        assert status == 200 and items["object"] == "list"
        assert items["data"][0]["content"][0]["text"] == "hello there"
        status, _, body = request(gw.port, "POST", f"/v1/responses/{rid}/cancel")
        assert status == 200 and json.loads(body)["status"] == "cancelled"
        status, _, body = request(gw.port, "DELETE", f"/v1/responses/{rid}")
        assert status == 200 and json.loads(body) == {"id": rid, "object": "response",
                                                      "deleted": True}
        status, headers, body = request(gw.port, "GET", f"/v1/responses/{rid}")
        assert status == 404, "deleted everywhere: the client gets the upstream's not found"
        assert error_of(body)["message"] == f"Response with id '{rid}' not found."
        assert headers["x-llmgate-attempts"] == "3"


def test_previous_response_id_reaches_the_creator(three):
    stubs, gw = three
    for _ in range(6):
        status, headers, body = gw.post("/v1/responses", CREATE)
        rid, dep = json.loads(body)["id"], headers["x-llmgate-deployment"]
        status, headers, body = gw.post("/v1/responses",
                                        {"model": "gpt-4o", "input": "and then?",
                                         "previous_response_id": rid})
        assert status == 200, body
        assert headers["x-llmgate-deployment"] == dep
        assert json.loads(body)["previous_response_id"] == rid
    status, headers, body = gw.post("/v1/responses", dict(CREATE, previous_response_id="resp_x"))
    assert status == 400 and error_of(body)["code"] == "previous_response_not_found"
    assert headers["x-llmgate-attempts"] == "3"


def test_unknown_and_bad_ids(three):
    stubs, gw = three
    status, _, body = request(gw.port, "GET", "/v1/responses/resp_nowhere")
    assert status == 404
    status, _, body = request(gw.port, "GET", "/v1/responses/bad%20id")
    assert status == 400 and error_of(body)["code"] == "invalid_response_id"
    status, headers, body = request(gw.port, "PUT", "/v1/responses/resp_1")
    assert status == 405 and headers["allow"] == "GET, DELETE"
    assert sum(len([r for r in s.requests() if "resp_1" in r["path"]]) for s in stubs) == 0


def test_ingress_paths(stub_factory, gateway_factory):
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base), workers=1))
    for path in ("/openai/v1/responses", "/responses",
                 "/openai/responses?api-version=2025-04-01-preview"):
        status, _, body = gw.post(path, CREATE)
        assert status == 200, (path, body)
    rid = json.loads(body)["id"]
    status, _, body = request(gw.port, "GET",
                              f"/openai/responses/{rid}?api-version=2025-04-01-preview")
    assert status == 200
    assert o.requests()[-1]["path"] == f"/v1/responses/{rid}"
    assert o.requests()[-1]["query"] == "", "the Azure SDK's api-version is not passed on"
    status, _, body = request(gw.port, "GET", f"/openai/v1/responses/{rid}/input_items?limit=5")
    assert status == 200 and o.requests()[-1]["query"] == "limit=5"
    for path, body in (("/openai/v1/chat/completions",
                        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
                       ("/openai/v1/completions", {"model": "gpt-4o", "prompt": "x"}),
                       ("/openai/v1/embeddings", {"model": "gpt-4o", "input": "x"})):
        status, _, answer = gw.post(path, body)
        assert status == 200, (path, answer)
    status, _, body = request(gw.port, "GET", "/openai/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "gpt-4o"
    assert request(gw.port, "GET", "/openai/v1/health/liveliness")[0] == 404


def test_websocket_upgrade_gets_426(stub_factory, gateway_factory):
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base), workers=1))
    for path in ("/v1/responses", "/v1/chat/completions", "/v1/models"):
        status, _, body = request(gw.port, "GET", path, headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert status == 426, path
        err = error_of(body)
        assert err["code"] == "websocket_not_supported"
        assert "over HTTP" in err["message"]
    assert o.requests() == []


def test_conversations_are_501(stub_factory, gateway_factory):
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base), workers=1))
    status, _, body = gw.post("/v1/conversations", {})
    assert status == 501 and "Conversations API" in error_of(body)["message"]


def test_check_refuses_an_old_dated_version_for_responses(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(model_config(azure_dep("gpt-4o", "az", "http://127.0.0.1:9",
                                            api_version="2024-10-21",
                                            info="\n      mode: responses")))
    r = subprocess.run([LLMGATED, "--check", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "older than the first Azure OpenAI API version with the Responses API " \
           "(2025-03-01-preview)" in r.stderr + r.stdout
    cfg.write_text(model_config(azure_dep("gpt-4o", "az", "http://127.0.0.1:9",
                                            api_version="2025-03-01-preview",
                                            info="\n      mode: responses")))
    r = subprocess.run([LLMGATED, "--check", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr + r.stdout


@pytest.mark.parametrize("table", ["on", "off"])
def test_follow_ups_land_on_the_creator_across_workers_and_a_reload(stub_factory, gateway_factory,
                                                                    table):
    """100 follow-ups and id operations over two workers, half of them after a reload, all
    answered by the deployment that created the response. With the instance's id table
    (common/response_affinity.c) each goes straight there, whichever worker learned the id and
    across the reload; with the table off the walk finds it, at the extra attempts counted in
    x-llmgate-attempts."""
    stubs, gw = three_deployments(
        stub_factory, gateway_factory,
        llmgate="" if table == "on" else "  response_affinity_entries: 0\n")
    created = {}
    for i in range(12):
        status, headers, body = gw.post("/v1/responses", dict(CREATE, input=f"q{i}"))
        assert status == 200, body
        created[json.loads(body)["id"]] = headers["x-llmgate-deployment"]
    ids = sorted(created)
    extra = {"before": 0, "after": 0}

    def follow_ups(n, phase):
        for k in range(n):
            rid = ids[k % len(ids)]
            kind = k % 3
            if kind == 0:
                status, headers, body = request(gw.port, "GET", f"/v1/responses/{rid}")
            elif kind == 1:
                status, headers, body = request(gw.port, "GET",
                                                f"/v1/responses/{rid}/input_items")
            else:
                status, headers, body = gw.post("/v1/responses", {
                    "model": "gpt-4o", "input": "more", "previous_response_id": rid})
            assert status == 200, body
            assert headers["x-llmgate-deployment"] == created[rid], (kind, rid)
            extra[phase] += int(headers["x-llmgate-attempts"]) - 1

    follow_ups(50, "before")
    assert ctl_result(gw, "reload") is not None
    follow_ups(50, "after")
    print(f"\n100 follow-ups over 3 deployments, id table {table}: "
          f"{extra['before'] + extra['after']} extra attempts "
          f"({extra['before']} before the reload, {extra['after']} after)")
    if table == "on":
        assert extra == {"before": 0, "after": 0}
    else:
        # walked in file order: a response on the k-th deployment costs k extra attempts
        want = sum("012".index(created[ids[k % len(ids)]][-1]) for k in range(50))
        assert extra == {"before": want, "after": want}


def test_a_streamed_create_is_learned(three):
    """The id of a streamed create comes from its first event: a follow-up on another worker
    goes straight to the creator."""
    stubs, gw = three
    for i in range(6):
        r = stream(gw.port, "/v1/responses", dict(CREATE, input=f"s{i}", stream=True))
        assert r.status == 200
        events = sse(r.body)
        assert events[0][0] == "response.created"
        rid = events[0][1]["response"]["id"]
        status, headers, body = request(gw.port, "GET", f"/v1/responses/{rid}")
        assert status == 200, body
        assert headers["x-llmgate-deployment"] == r.headers["x-llmgate-deployment"]
        assert headers["x-llmgate-attempts"] == "1"


def test_input_tokens_and_the_gateway_key(stub_factory, gateway_factory):
    """input_tokens is routed by model; every Responses route needs the gateway key when one is
    set, and the client's key never goes upstream."""
    master = "sk-gateway-master-0123456789"
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "oa", o.base), workers=1,
        sections=f"general_settings:\n  master_key: {master}\n"))
    auth = {"Authorization": f"Bearer {master}"}
    status, _, body = gw.post("/v1/responses/input_tokens", CREATE, auth)
    assert status == 200 and json.loads(body)["object"] == "response.input_tokens"
    assert o.requests()[-1]["path"] == "/v1/responses/input_tokens"
    assert json.loads(o.requests()[-1]["body"])["model"] == "gpt-4o-mini"
    status, _, body = gw.post("/v1/responses", CREATE, {"api-key": master})
    assert status == 200
    rid = json.loads(body)["id"]
    assert o.requests()[-1]["headers"]["authorization"] == "Bearer sk-test-oa-0123456789"
    for method, path in (("POST", "/v1/responses"), ("GET", f"/v1/responses/{rid}"),
                         ("DELETE", f"/v1/responses/{rid}"),
                         ("POST", f"/v1/responses/{rid}/cancel"),
                         ("GET", f"/openai/v1/responses/{rid}/input_items")):
        seen = len(o.requests())
        status, _, body = request(gw.port, method, path, CREATE if method == "POST" else None)
        assert status == 401 and error_of(body)["code"] == "invalid_api_key", path
        assert len(o.requests()) == seen
    status, _, _ = request(gw.port, "GET", f"/v1/responses/{rid}", headers=auth)
    assert status == 200


def test_stream_bytes_are_the_upstreams(stub_factory, gateway_factory):
    """Relayed byte for byte: the stream through the gateway is the stub's own stream, but for
    the ids and the time the stub makes anew for every response."""
    o = stub_factory("openai")
    gw = gateway_factory(gateway_config(openai_dep("gpt-4o", "oa", o.base,
                                                   model="openai/gpt-4o"), workers=1))
    body = dict(CREATE, stream=True)

    def normal(raw):
        raw = re.sub(rb"(resp|msg)_[0-9a-f]+", rb"\1_X", raw)
        return re.sub(rb'"created_at":\d+', b'"created_at":0', raw)

    via = stream(gw.port, "/v1/responses", body)
    direct = stream(o.port, "/v1/responses", body)
    assert via.complete and direct.complete
    assert normal(via.body) == normal(direct.body)
    assert via.body.count(b"\n\n") == 13  # 4 opening events, 5 deltas, 4 closing ones
