"""Pass-through (issue 22): LiteLLM's general_settings.pass_through_endpoints and the
files-API paths (/v1/files, /v1/batches, ...) relayed to llmgate.files_deployment byte for
byte, with the deployment's credential and never the client's key; downloads stream with
backpressure; requests are counted with route "passthrough"; --check validates the settings.
The stub's Files and Batches APIs (tests/stub/stub_files.c) are strict: multipart with a
purpose, ids that must exist, Azure paths with an api-version."""
import hashlib
import json
import shutil
import os
import socket
import subprocess
import time

import pytest

from conftest import LoopbackServer
from helpers import (FIXTURES, LLMGATED, azure_dep, free_port, gateway_config, openai_dep,
                     read_response, request, vm_kb, wait_for)

MASTER = "sk-master-passthru-0123456789"
FILES_KEY = "sk-files-dep-key-0123456789"
BOUNDARY = "----llmgateBoundary7MA4YWxkTrZu0gW"
JSONL = (b'{"custom_id":"r1","method":"POST","url":"/v1/chat/completions",'
         b'"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}\n')


def multipart(fields, file_name, data, boundary=BOUNDARY):
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    if file_name is not None:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{file_name}\"\r\nContent-Type: application/jsonl\r\n\r\n"
                ).encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def files_config(stub, dep, llmgate="", sections=None):
    return gateway_config(
        openai_dep("gpt-4o", "primary-gpt-4o", stub.base), dep, retries=0,
        sections=sections if sections is not None else
        f"general_settings:\n  master_key: {MASTER}\n",
        llmgate=f"  access_log: @DIR@/access.log\n{llmgate}", workers=1)


def upload(gw, path="/v1/files", key=MASTER, purpose="batch", data=JSONL, extra=None):
    body = multipart([("purpose", purpose)], "batch.jsonl", data)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
               "Authorization": f"Bearer {key}", "x-client-trace": "t-1"}
    headers.update(extra or {})
    return body, request(gw.port, "POST", path, body, headers)


def last(stub, path_prefix):
    reqs = [r for r in stub.requests() if r["path"].startswith(path_prefix)]
    assert reqs, stub.requests()
    return reqs[-1]


def test_files_upload_and_batch_round_trip_openai(stub_factory, gateway_factory):
    stub = stub_factory("files", ["--require-key", FILES_KEY])
    admin = free_port()
    gw = gateway_factory(files_config(
        stub, openai_dep("files", "files-dep", stub.base, key=FILES_KEY),
        llmgate=f"  files_deployment: files-dep\n  admin_listen: 127.0.0.1:{admin}\n"))
    body, (status, headers, raw) = upload(gw)
    assert status == 200, raw
    assert headers["x-llmgate-route"] == "passthrough"
    assert headers["x-llmgate-deployment"] == "files-dep"
    assert headers["x-llmgate-attempts"] == "1"
    file = json.loads(raw)
    assert file["object"] == "file" and file["purpose"] == "batch"
    assert file["bytes"] == len(JSONL)
    seen = last(stub, "/v1/files")
    # byte for byte: the body and its multipart content type
    assert seen["body"].encode() == body and seen["body_len"] == len(body)
    assert seen["headers"]["content-type"] == f"multipart/form-data; boundary={BOUNDARY}"
    # the deployment's key, never the client's; the client's other headers go along
    assert seen["headers"]["authorization"] == f"Bearer {FILES_KEY}"
    assert MASTER not in json.dumps(seen)
    assert seen["headers"]["x-client-trace"] == "t-1"

    auth = {"Authorization": f"Bearer {MASTER}"}
    status, _, raw = request(gw.port, "GET", f"/v1/files/{file['id']}/content", None, auth)
    assert status == 200 and raw == JSONL
    status, _, raw = request(gw.port, "POST", "/v1/batches",
                             {"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                              "completion_window": "24h"}, auth)
    assert status == 200, raw
    batch = json.loads(raw)
    assert batch["object"] == "batch" and batch["input_file_id"] == file["id"]
    status, _, raw = request(gw.port, "GET", f"/v1/batches/{batch['id']}?limit=1", None, auth)
    assert status == 200 and json.loads(raw)["id"] == batch["id"]
    assert last(stub, "/v1/batches/")["query"] == "limit=1"
    # the upstream's own errors come back as they are (status and body)
    status, _, raw = request(gw.port, "POST", "/v1/batches",
                             {"input_file_id": "file-nope", "endpoint": "/v1/chat/completions",
                              "completion_window": "24h"}, auth)
    assert status == 400 and "input_file_id" in json.loads(raw)["error"]["message"]
    # the rest of the files API goes the same way (the stub has no vector stores: its 404
    # comes back as it is)
    for method, path, want in (("GET", "/v1/vector_stores/vs_1?limit=2", "/v1/vector_stores/vs_1"),
                               ("GET", "/fine_tuning/jobs", "/v1/fine_tuning/jobs"),
                               ("POST", "/openai/v1/uploads", "/v1/uploads")):
        stub.reset()
        status, _, raw = request(gw.port, method, path, None, auth)
        assert status == 404 and b"Invalid URL" in raw, raw
        (seen,) = stub.requests()
        assert (seen["method"], seen["path"]) == (method, want)
        assert seen["query"] == ("limit=2" if "?" in path else "")
        assert seen["headers"]["authorization"] == f"Bearer {FILES_KEY}"
    status, headers, _ = request(gw.port, "HEAD", "/v1/files", None, auth)
    assert status == 405 and "PATCH" in headers["allow"]
    # the access log counts them as pass-through, with the files deployment
    lines = [json.loads(line) for line in open(os.path.join(gw.dir, "access.log"))]
    pt = [line for line in lines if line["route"] == "passthrough"]
    assert len(pt) == 8 and {line["deployment"] for line in pt} == {"files-dep"}
    assert {line["status"] for line in pt} == {200, 400, 404}
    # and so does /metrics
    want = 'deployment="files-dep",route="passthrough",status_class="2xx"} 4'

    def counted():
        return want in request(admin, "GET", "/metrics")[2].decode()
    wait_for(counted, timeout=10, what="the pass-through requests in /metrics")


def test_files_need_the_gateway_key_and_a_configured_deployment(stub, gateway_factory):
    gw = gateway_factory(files_config(stub, openai_dep("files", "files-dep", stub.base)))
    _, (status, _, raw) = upload(gw)
    assert status == 404
    assert "llmgate.files_deployment" in json.loads(raw)["error"]["message"]
    gw2 = gateway_factory(files_config(stub, openai_dep("files", "files-dep", stub.base),
                                       llmgate="  files_deployment: files\n"))
    stub.reset()
    _, (status, _, raw) = upload(gw2, key="sk-wrong")
    assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
    assert not [r for r in stub.requests() if "/files" in r["path"]]
    # the stub is strict: no purpose is a 400, relayed
    status, _, raw = request(gw2.port, "POST", "/v1/files",
                             multipart([], "a.jsonl", JSONL),
                             {"Authorization": f"Bearer {MASTER}",
                              "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert status == 400 and "purpose" in json.loads(raw)["error"]["message"]


def test_files_to_azure_both_url_styles(stub_factory, gateway_factory):
    stub = stub_factory("azure", ["--require-key", "azure-files-key-0123456789"])
    for version, path in (("2024-10-21", "/openai/files"), ("v1", "/openai/v1/files")):
        stub.reset()
        gw = gateway_factory(files_config(
            stub, azure_dep("files", "az-files", stub.base, key="azure-files-key-0123456789",
                            api_version=version),
            llmgate="  files_deployment: az-files\n"))
        # the Azure SDK's own spelling, with its own api-version: the deployment's is sent
        _, (status, _, raw) = upload(gw, path="/openai/files?api-version=2099-01-01",
                                     extra={"api-key": MASTER, "Authorization": ""})
        assert status == 200, raw
        fid = json.loads(raw)["id"]
        seen = last(stub, path)
        assert seen["path"] == path
        assert seen["query"] == ("api-version=2024-10-21" if version != "v1" else "")
        assert seen["headers"]["api-key"] == "azure-files-key-0123456789"
        assert "authorization" not in seen["headers"] and MASTER not in json.dumps(seen)
        status, _, raw = request(gw.port, "POST", "/v1/batches",
                                 {"input_file_id": fid, "endpoint": "/chat/completions",
                                  "completion_window": "24h"},
                                 {"Authorization": f"Bearer {MASTER}"})
        assert status == 200, raw
        gw.stop()


def test_large_download_with_a_paused_client_is_bounded(stub_factory, gateway_factory):
    stub = stub_factory("files")
    gw = gateway_factory(files_config(
        stub, openai_dep("files", "files-dep", stub.base), sections="",
        llmgate="  files_deployment: files-dep\n"))
    size = 96 * 1024 * 1024
    status, _, raw = request(stub.port, "POST", "/_stub/files",
                             {"bytes": size, "purpose": "batch"})
    assert status == 200
    fid = json.loads(raw)["id"]
    (worker,) = gw.workers()
    before = vm_kb(worker, "VmRSS")
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET /v1/files/{fid}/content HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    time.sleep(2.0)  # the client reads nothing: llmgate must stop reading the upstream
    paused = vm_kb(worker, "VmRSS")
    f = s.makefile("rb")
    resp = read_response(f)
    s.close()
    assert resp.status == 200 and resp.complete
    body = resp.body
    assert len(body) == size and body[:26] == b"abcdefghijklmnopqrstuvwxyz"
    growth = paused - before
    assert growth < 16 * 1024, f"worker RSS grew {growth} KiB while the client paused"


def test_litellm_pass_through_endpoints_fixture(stub_factory, gateway_factory, workdir):
    stub = stub_factory("vendor", ["--require-key", "sk-vendor-key-0123456789"])
    text = open(os.path.join(FIXTURES, "passthrough_litellm.yaml")).read()
    text = text.replace("TARGET_HOST", f"127.0.0.1:{stub.port}")
    text += ("llmgate:\n  listen: 127.0.0.1:@PORT@\n  control_socket: @DIR@/control.sock\n"
             "  workers: 1\n")
    env = {"PT_OPENAI_KEY": "sk-openai-0123456789", "PT_MASTER_KEY": MASTER,
           "PT_VENDOR_KEY": "sk-vendor-key-0123456789"}
    gw = gateway_factory(text, env=env)
    body, (status, headers, raw) = upload(gw, path="/vendor/files?x=1")
    assert status == 200, raw
    fid = json.loads(raw)["id"]
    seen = last(stub, "/v1/files")
    assert seen["path"] == "/v1/files" and seen["query"] == "x=1"
    assert seen["headers"]["authorization"] == "bearer sk-vendor-key-0123456789"
    assert seen["headers"]["x-team"] == "search"
    # without forward_headers only the body's content type goes along
    assert "x-client-trace" not in seen["headers"] and MASTER not in json.dumps(seen)
    assert seen["body"].encode() == body
    # include_subpath
    auth = {"Authorization": f"Bearer {MASTER}"}
    status, _, raw = request(gw.port, "GET", f"/vendor/files/{fid}/content", None, auth)
    assert status == 200 and raw == JSONL
    # auth: true needs the gateway key
    status, _, _ = request(gw.port, "GET", f"/vendor/files/{fid}", None, {})
    assert status == 401
    # forward_headers: the client's headers (not the gateway key) go along; no auth needed
    stub.reset()
    status, _, raw = request(gw.port, "POST", "/open/batches",
                             {"input_file_id": fid, "endpoint": "/v1/chat/completions",
                              "completion_window": "24h"},
                             {"Authorization": "Bearer sk-vendor-key-0123456789",
                              "x-client-trace": "t-2"})
    assert status == 200, raw
    seen = last(stub, "/v1/batches")
    assert seen["headers"]["x-client-trace"] == "t-2"
    assert seen["headers"]["x-extra"] == "from-config"
    assert seen["headers"]["authorization"] == "Bearer sk-vendor-key-0123456789"
    # a path that is no pass-through stays 404
    assert request(gw.port, "GET", "/vendor/filesX", None, auth)[0] == 404
    assert request(gw.port, "GET", "/open/batches/x", None, auth)[0] == 404


def check(text, tmp_path, env=None):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    full = dict(os.environ)
    full.update(env or {})
    r = subprocess.run([LLMGATED, "--check", "-c", str(path)], capture_output=True,
                       text=True, env=full, timeout=30)
    r.out = r.stdout + r.stderr
    return r


def test_check_validates_pass_through_settings(tmp_path):
    text = open(os.path.join(FIXTURES, "passthrough_litellm.yaml")).read()
    env = {"PT_OPENAI_KEY": "sk-openai-0123456789", "PT_MASTER_KEY": MASTER,
           "PT_VENDOR_KEY": "sk-vendor-secret-0123456789"}
    r = check(text.replace("TARGET_HOST", "127.0.0.1:9"), tmp_path, env)
    assert r.returncode == 0, r.out
    assert "cost_per_request" in r.out and "does not implement" in r.out
    assert "sk-vendor-secret" not in r.out
    base = ("model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n"
            "      api_key: sk-x-0123456789\n    model_info:\n      id: m1\n")
    bad = {
        "ftp://h/x": "target must be an http:// or https:// URL",
        "http://": "target must be an http:// or https:// URL",
    }
    for target, msg in bad.items():
        r = check(base + "general_settings:\n  pass_through_endpoints:\n"
                  f"    - path: /x\n      target: {target}\n", tmp_path)
        assert r.returncode != 0 and msg in r.out, r.out
    r = check(base + "general_settings:\n  pass_through_endpoints:\n"
              "    - path: x\n      target: http://h\n", tmp_path)
    assert r.returncode != 0 and "must start with '/'" in r.out
    r = check(base + "general_settings:\n  pass_through_endpoints:\n"
              "    - path: /v1/chat/completions\n      target: http://h\n", tmp_path)
    assert r.returncode != 0 and "llmgate's own routes" in r.out
    r = check(base + "general_settings:\n  pass_through_endpoints:\n"
              "    - path: /v1\n      target: http://h\n      include_subpath: true\n"
              "      colour: red\n", tmp_path)
    assert r.returncode == 0, r.out
    assert "llmgate's routes win" in r.out and "unknown field" in r.out
    r = check(base + "general_settings:\n  pass_through_endpoints:\n"
              "    - path: /v1/files\n      target: http://h\n"
              "llmgate:\n  files_deployment: m1\n", tmp_path)
    assert r.returncode != 0 and "files_deployment" in r.out
    r = check(base + "files_settings:\n  - custom_llm_provider: openai\n", tmp_path)
    assert r.returncode == 0 and "llmgate.files_deployment" in r.out, r.out
    r = check(base + "llmgate:\n  files_deployment: nope\n", tmp_path)
    assert r.returncode != 0 and "no served deployment" in r.out


SDK_DIR = os.path.join(os.path.dirname(FIXTURES), "sdk")


def sdk_files(mode, port, key):
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")):
        pytest.fail("the OpenAI SDK is not installed: scripts/test runs npm ci in tests/sdk")
    r = subprocess.run([node, os.path.join(SDK_DIR, "sdk_files.mjs"), mode,
                        f"http://127.0.0.1:{port}", key],
                       capture_output=True, text=True, timeout=60, cwd=SDK_DIR)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_openai_sdk_files_and_batches(stub_factory, gateway_factory):
    """The official openai npm SDK: upload, batch create and retrieve, content, an upstream
    400 — to an OpenAI-style deployment through OpenAI(baseURL) and to both Azure URL styles
    through AzureOpenAI."""
    cases = [("openai", openai_dep("files", "files-dep", None, key=FILES_KEY), "/v1/files",
              "authorization", f"Bearer {FILES_KEY}")]
    for version, path in (("2024-10-21", "/openai/files"), ("v1", "/openai/v1/files")):
        cases.append(("azure", azure_dep("files", "files-dep", None, key=FILES_KEY,
                                         api_version=version),
                      path, "api-key", FILES_KEY))
    for mode, dep, path, header, value in cases:
        stub = stub_factory("files", ["--require-key", FILES_KEY])
        dep = dep.replace("api_base: None", f"api_base: {stub.base}")
        gw = gateway_factory(files_config(stub, dep, llmgate="  files_deployment: files-dep\n"))
        out = sdk_files(mode, gw.port, MASTER)
        assert "error" not in out, out
        assert out["file"]["purpose"] == "batch" and out["file"]["route"] == "passthrough"
        assert out["batch"]["input_file_id"] == out["file"]["id"]
        assert out["batch"]["status"] == "validating"
        assert out["content"].startswith('{"custom_id":"r1"')
        assert out["bad"]["status"] == 400
        upload = [r for r in stub.requests() if r["method"] == "POST" and r["path"] == path]
        assert len(upload) == 1, stub.requests()
        assert upload[0]["headers"]["content-type"].startswith("multipart/form-data; boundary=")
        for r in stub.requests():
            assert r["headers"].get(header) == value
            assert MASTER not in json.dumps(r)
        gw.stop()
        stub.stop()


def test_pass_through_paths_have_their_own_body_limit(stub_factory, gateway_factory):
    """llmgate.passthrough_max_request_size_mb bounds uploads to pass-through paths, above
    (or below) general_settings.max_request_size_mb, which still bounds every other route."""
    stub = stub_factory("files")
    gw = gateway_factory(files_config(
        stub, openai_dep("files", "files-dep", stub.base),
        sections="general_settings:\n  max_request_size_mb: 2\n",
        llmgate="  files_deployment: files-dep\n  passthrough_max_request_size_mb: 4\n"))
    three = b"x" * (3 * 1024 * 1024)
    _, (status, _, raw) = upload(gw, data=three)
    assert status == 200 and json.loads(raw)["bytes"] == len(three), raw
    status, _, raw = request(gw.port, "POST", "/v1/chat/completions",
                             {"model": "gpt-4o", "messages": [{"role": "user",
                                                               "content": "x" * len(three)}]})
    assert status == 413, raw
    stub.reset()
    _, (status, _, raw) = upload(gw, data=three + three)
    assert status == 413, raw
    assert not stub.requests()  # refused before anything went upstream


def test_pass_through_is_never_retried(stub_factory, gateway_factory):
    """One upstream transfer per request, whatever num_retries says: an upstream error comes
    back as it is, a refused connection is a 502, a silent upstream a 504 after the attempt
    timeout."""
    stub = stub_factory("vendor")
    dead = free_port()
    gw = gateway_factory(gateway_config(
        openai_dep("gpt-4o", "primary-gpt-4o", stub.base), retries=2,
        sections="litellm_settings:\n  request_timeout: 1s\n"
                 "general_settings:\n  pass_through_endpoints:\n"
                 f"    - path: /vendor/chat\n      target: {stub.base}/v1/chat/completions\n"
                 f"    - path: /dead\n      target: http://127.0.0.1:{dead}/x\n", workers=1))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    stub.set_faults({"status": 500})
    status, headers, raw = request(gw.port, "POST", "/vendor/chat", body)
    assert status == 500 and headers["x-llmgate-route"] == "passthrough"
    assert len(stub.requests()) == 1  # not retried
    stub.reset()
    stub.set_faults({"headers_then_hang": True})
    started = time.monotonic()
    status, _, raw = request(gw.port, "POST", "/vendor/chat", body)
    assert status == 504 and json.loads(raw)["error"]["code"] == "upstream_timeout"
    assert 0.9 < time.monotonic() - started < 5
    assert len(stub.requests()) == 1
    status, _, raw = request(gw.port, "GET", "/dead", None)
    assert status == 502 and json.loads(raw)["error"]["code"] == "upstream_error"
    stub.reset()
    status, _, raw = request(gw.port, "POST", "/vendor/chat", body)
    assert status == 200 and json.loads(raw)["object"] == "chat.completion"
    # a stream comes back as it is, event by event as they come
    stub.set_faults({"chunk_delay_ms": 50})
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    data = json.dumps(dict(body, stream=True)).encode()
    s.sendall(b"POST /vendor/chat HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    resp = read_response(s.makefile("rb"))
    s.close()
    assert resp.status == 200 and resp.complete
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert len(resp.chunks) > 2 and resp.body.endswith(b"data: [DONE]\n\n")
    # and a cut one breaks off: no invented ending
    stub.set_faults({"cut_after": 2, "chunk_delay_ms": 50})
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(b"POST /vendor/chat HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    resp = read_response(s.makefile("rb"))
    s.close()
    assert resp.status == 200 and not resp.complete and b"[DONE]" not in resp.body


def test_litellm_batch_mode_names_the_files_deployment(stub, gateway_factory, tmp_path):
    """LiteLLM marks its batch models with model_info.mode: batch: without
    llmgate.files_deployment, the one such deployment serves the files API."""
    gw = gateway_factory(files_config(
        stub, openai_dep("batch", "batch-dep", stub.base, info="\n      mode: batch")))
    _, (status, headers, raw) = upload(gw)
    assert status == 200 and headers["x-llmgate-deployment"] == "batch-dep", raw
    two = ("model_list:\n" + "".join(
        f"  - model_name: b\n    litellm_params:\n      model: openai/m\n"
        f"      api_key: sk-x-0123456789\n    model_info:\n      id: b{i}\n      mode: batch\n"
        for i in range(2)))
    r = check(two, tmp_path)
    assert r.returncode == 0 and "2 deployments have model_info.mode batch" in r.out, r.out
    assert "not served" not in r.out


class SlowFiles(LoopbackServer):
    """A files upstream that reads a request body slowly (64 KiB every 3 ms) and answers
    with its size and SHA-256: the gateway has to hold back what it cannot send yet."""

    def __init__(self):
        self.seen = []
        super().__init__()

    def _serve(self, conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            head, body = head.split(b"\r\n\r\n", 1)
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            digest = hashlib.sha256(body)
            got = len(body)
            while got < length:
                time.sleep(0.003)
                chunk = conn.recv(min(65536, length - got))
                if not chunk:
                    return
                digest.update(chunk)
                got += len(chunk)
            self.seen.append(head.split(b"\r\n", 1)[0])
            answer = json.dumps({"object": "file", "bytes": got,
                                 "sha256": digest.hexdigest()}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(answer)).encode() + b"\r\nConnection: close\r\n\r\n" + answer)


def test_a_30mb_upload_to_a_slow_upstream_is_not_held_in_memory(stub_factory, gateway_factory):
    """The body is spooled to a file as it is read and sent from it as the upstream takes it:
    the worker's peak RSS grows by far less than the upload."""
    stub = stub_factory("chat")
    slow = SlowFiles()
    try:
        gw = gateway_factory(files_config(
            stub, openai_dep("files", "files-dep", f"http://127.0.0.1:{slow.port}"),
            llmgate="  files_deployment: files-dep\n"))
        pid = gw.workers()[0]
        _, (status, _, raw) = upload(gw, data=b"warm")
        assert status == 200, raw
        peak = vm_kb(pid, "VmHWM")
        data = bytes(range(256)) * (30 * 1024 * 1024 // 256)
        body, (status, _, raw) = upload(gw, data=data)
        assert status == 200, raw
        answer = json.loads(raw)
        assert answer["bytes"] == len(body)
        assert answer["sha256"] == hashlib.sha256(body).hexdigest()
        assert slow.seen[-1] == b"POST /v1/files HTTP/1.1"
        grown = vm_kb(pid, "VmHWM") - peak
        print(f"peak RSS growth for a 30 MB pass-through upload: {grown} KiB")
        assert grown < 4096, f"{grown} KiB for a 30 MB upload"
    finally:
        slow.close()
