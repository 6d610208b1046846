"""The walking skeleton end to end: a chat completion through real llmgated
processes to the stub, the model list, health, errors, and process lifecycle."""
import json
import os
import signal

from helpers import CHAT, alive, error_of, free_port, openai_config, post, wait_for


def test_chat_completion_reaches_stub_and_back(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    status, headers, body = post(gw)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"].startswith("stub openai:")
    assert headers["x-llmgate-deployment"] == "primary-gpt-4o"
    assert headers["x-llmgate-route"] == "primary"
    assert headers["x-llmgate-attempts"] == "1"
    assert len(headers["x-request-id"]) >= 16

    seen = stub.requests()[-1]
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/chat/completions"
    assert seen["headers"]["authorization"] == "Bearer sk-test-primary-0123456789"
    forwarded = json.loads(seen["body"])
    assert forwarded["model"] == "gpt-4o-mini", "model rewritten to the upstream's"
    assert forwarded["messages"] == CHAT["messages"]


def test_unversioned_path_and_request_id_echo(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    status, headers, _ = gw.post("/chat/completions", CHAT, {"x-request-id": "abc-123"})
    assert status == 200
    assert headers["x-request-id"] == "abc-123"


def test_unknown_fields_pass_through(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    body = dict(CHAT, temperature=0.25, custom_field={"nested": [1, 2]})
    status, _, _ = post(gw, body)
    assert status == 200
    forwarded = json.loads(stub.requests()[-1]["body"])
    assert forwarded["temperature"] == 0.25
    assert forwarded["custom_field"] == {"nested": [1, 2]}


def test_upstream_error_status_passes_through(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    status, _, body = post(gw, dict(CHAT, x_stub={"status": 429}))
    assert status == 429
    assert "error" in json.loads(body)


def test_models_lists_model_names(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    status, _, body = gw.get("/v1/models")
    assert status == 200
    listing = json.loads(body)
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["gpt-4o"]


def test_liveliness(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    before = len(stub.requests())
    status, _, body = gw.get("/health/liveliness")
    assert status == 200 and json.loads(body)
    assert len(stub.requests()) == before, "liveliness never calls an upstream"


def test_client_errors_are_openai_shaped(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base))
    cases = [
        (b"{not json", 400, "invalid_json"),
        (b"[1,2]", 400, "invalid_json"),
        (json.dumps({"messages": []}).encode(), 400, "missing_model"),
        (json.dumps({"model": "nope", "messages": []}).encode(), 404, "model_not_found"),
    ]
    for raw, want_status, want_code in cases:
        status, headers, body = post(gw, raw, {"Content-Type": "application/json"})
        assert status == want_status, (raw, body)
        assert headers["content-type"].startswith("application/json")
        assert error_of(body)["code"] == want_code
    _, _, body = post(gw, {"model": "nope"})
    assert "'nope'" in json.loads(body)["error"]["message"]
    assert "'gpt-4o'" in json.loads(body)["error"]["message"], "lists what exists"
    status, _, body = gw.get("/no/such/path")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_unreachable_upstream_is_502(gateway_factory, workdir):
    gw = gateway_factory(openai_config(f"http://127.0.0.1:{free_port()}"))
    status, _, body = post(gw)
    assert status == 502
    assert json.loads(body)["error"]["type"] == "upstream_error"


def test_workers_prefork_and_share_the_socket(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=3))
    wait_for(lambda: len(gw.workers()) == 3, what="3 workers")
    for _ in range(20):
        assert post(gw)[0] == 200


def test_sigterm_stops_every_process(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = wait_for(lambda: gw.workers() if len(gw.workers()) == 2 else None,
                       what="2 workers")
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=15) == 0, gw.logs()
    wait_for(lambda: not any(alive(w) for w in workers), timeout=5, what="workers gone")


def test_crashed_worker_is_respawned(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = wait_for(lambda: gw.workers() if len(gw.workers()) == 2 else None,
                       what="2 workers")
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(gw.workers()) == 2 and workers[0] not in gw.workers(),
             timeout=5, what="a replacement worker")
    assert "killed by signal 9" in gw.logs()
    for _ in range(10):
        assert post(gw)[0] == 200


def test_runs_as_an_ordinary_user(stub, gateway_factory):
    if os.geteuid() != 0:
        wrapper = ()
    else:
        wrapper = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    gw = gateway_factory(openai_config(stub.base, workers=1), wrapper=wrapper)
    status, _, _ = post(gw)
    assert status == 200
    with open(f"/proc/{gw.workers()[0]}/status") as f:
        uid_line = next(l for l in f if l.startswith("Uid:"))
    assert int(uid_line.split()[1]) == (65534 if wrapper else os.geteuid())
