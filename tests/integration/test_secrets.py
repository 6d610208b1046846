"""Secrets never leak (SPEC 12): distinctive keys in every place a key can
live (an OpenAI deployment key, an Azure api-key, an Azure Entra token, an
Entra client secret and the token llmgate fetches with it, the master key, all
through environment references), then everything an operator
or a client can see is searched for them: the daemon's log at debug level,
llmgatectl output as tables and as JSON, `llmgated --check`, a failed reload,
error bodies, the metrics page, the access log and the OpenTelemetry spans exported (whose
collector headers, from the config and from OTEL_EXPORTER_OTLP_HEADERS, are secrets too). Also: the processes are
not dumpable unless llmgate.core_dumps asks for it.
"""
import hashlib
import http.client
import json
import os
import subprocess

from test_entra import CLIENT, TENANT, TokenEndpoint
from test_otel import Receiver
from helpers import (CHAT, LLMGATED, azure_dep, ctl, free_port, gateway_config, openai_dep, post,
                     request, wait_for)

SECRETS = {
    "OPENAI_KEY": "sk-proj-LEAKCHECKopenai7Qx2Zp9Lw4Rt8Vy1",
    "AZURE_KEY": "LEAKCHECKazure5Kd8Hs3Nq6Wb1Xe4Fg7Jm0Tc",
    "ENTRA_TOKEN": "eyJLEAKCHECKentra.Pz3Lm8Qa2Ws6Ed1Rf5Tg9",
    "MASTER_KEY": "sk-master-LEAKCHECK4Hb7Nj2Mk5Pl8Qo1",
    "CLIENT_SECRET": "LEAKCHECKclient~secret8Gh2Jk6Lz0Xc",
    "ISSUED_TOKEN": "eyJLEAKCHECKissued.Vb3Nm7Qw1Er5Ty9Ui4",
    "PASSTHRU_KEY": "sk-LEAKCHECKpassthru2Wq8Ez4Rx6Tc0Yv",
    "OTEL_HEADER": "otel-LEAKCHECKconfig-Rt5Yu8Io2Pa6",
    "OTEL_ENV_HEADER": "otel-LEAKCHECKenv-Df4Gh7Jk1Lz9",
    "CLIENT_KEY": "sk-llmgate-LEAKCHECKclient2Wq6Ze9Rx3Cv7Bn",
}


def config(openai, azure, extra=""):
    """Every secret from the environment; EXTRA: more lines of the llmgate section."""
    return gateway_config(
        openai_dep("gpt-4o", "primary-gpt-4o", openai.base, key="os.environ/OPENAI_KEY"),
        azure_dep("azure-gpt-4o", None, azure.base, key="os.environ/AZURE_KEY",
                  name="chat-deploy", api_version="2024-06-01"),
        azure_dep("azure-entra", None, azure.base, key=None, name="entra-deploy",
                  api_version="2024-06-01",
                  params="\n      azure_ad_token: os.environ/ENTRA_TOKEN"),
        azure_dep("azure-keyless", None, azure.base, key=None, name="keyless-deploy",
                  api_version="2024-06-01",
                  params=f"\n      tenant_id: {TENANT}\n      client_id: {CLIENT}"
                         "\n      client_secret: os.environ/CLIENT_SECRET"),
        retries=0, fallbacks={"gpt-4o": ["azure-gpt-4o"]},
        sections="litellm_settings:\n  set_verbose: true\n"
                 "general_settings:\n  master_key: os.environ/MASTER_KEY\n"
                 "  pass_through_endpoints:\n    - path: /vendor/files\n"
                 f"      target: {openai.base}/v1/files\n      include_subpath: true\n"
                 "      auth: true\n      headers:\n"
                 "        Authorization: Bearer os.environ/PASSTHRU_KEY\n",
        drain_timeout="5s", llmgate="  files_deployment: azure-gpt-4o\n" + extra)


def leaks(text):
    """Every secret of which a 10-character piece appears in TEXT."""
    found = []
    for name, secret in SECRETS.items():
        pieces = {secret[i:i + 10] for i in range(len(secret) - 9)}
        if any(p in text for p in pieces):
            found.append(name)
    return found


def auth():
    return {"Authorization": "Bearer " + SECRETS["MASTER_KEY"]}


def client_auth():
    return {"Authorization": "Bearer " + SECRETS["CLIENT_KEY"]}


def chat(model="gpt-4o", **extra):
    return dict(CHAT, model=model, **extra)


def test_no_secret_anywhere(stub_factory, gateway_factory, workdir):
    openai, azure = stub_factory("openai"), stub_factory("azure")
    endpoint = TokenEndpoint(lifetime=60, fixed_token=SECRETS["ISSUED_TOKEN"],
                             secret=SECRETS["CLIENT_SECRET"])
    collector = Receiver()
    env_all = dict(SECRETS, AZURE_AUTHORITY_HOST=endpoint.base,
                   OTEL_EXPORTER_OTLP_HEADERS="x-env-key=" + SECRETS["OTEL_ENV_HEADER"])
    admin = free_port()
    access_log = os.path.join(workdir, "access.log")
    os.chmod(workdir, 0o777)  # the workers (an unprivileged user when root) create it
    keys_file = os.path.join(workdir, "keys.yaml")  # a client key, limited to one request
    with open(keys_file, "w") as f:
        f.write("keys:\n  - id: team-leak\n    key_sha256: " +
                hashlib.sha256(SECRETS["CLIENT_KEY"].encode()).hexdigest() +
                "\n    models: [gpt-4o]\n    rpm: 1\n")
    gw = gateway_factory(config(openai, azure, f"  admin_listen: 127.0.0.1:{admin}\n"
                                f"  access_log: {access_log}\n"
                                f"  otel:\n    endpoint: {collector.base}\n"
                                "    flush_interval: 100ms\n"
                                "    headers:\n      x-api-key: os.environ/OTEL_HEADER\n"
                                f"  keys_file: {keys_file}\n  state_dir: {workdir}\n"),
                         env=env_all)
    wait_for(lambda: endpoint.count() >= 1, what="the keyless deployment's token")
    seen = []  # (where, text)

    # Answers and errors a client can get.
    for body, headers in [
        (chat(), auth()),
        (chat(stream=True), auth()),
        (chat("azure-gpt-4o"), auth()),
        (chat("azure-entra"), auth()),
        (chat(), {"Authorization": "Bearer sk-wrong-key"}),
        (chat(), {"Authorization": "Bearer " + SECRETS["MASTER_KEY"][:-1]}),
        (chat(), {}),
        (chat("no-such-model"), auth()),
        (chat(x_stub={"status": 401}), auth()),
        (chat(x_stub={"status": 500}), auth()),
        (chat("azure-gpt-4o", x_stub={"status": 401}), auth()),
        (chat("azure-entra", x_stub={"status": 403}), auth()),
        (chat("azure-keyless"), auth()),
        (chat("azure-keyless", x_stub={"status": 401}), auth()),
        (chat(x_stub={"reset": True}), auth()),
        (chat(stream=True, x_stub={"cut_after": 2}), auth()),
        (b"{not json", auth()),
        (chat(), client_auth()),  # admitted
        (chat(), client_auth()),  # over its rpm: 429
        (chat("azure-gpt-4o"), client_auth()),  # not its model: 401
        (chat(), {"api-key": SECRETS["CLIENT_KEY"][:-1]}),  # a near miss
    ]:
        try:
            status, hdrs, data = post(gw, body, headers)
        except http.client.IncompleteRead as e:  # a cut stream ends with a broken body
            status, hdrs, data = "cut", {}, e.partial
        seen.append((f"answer {status}", json.dumps(hdrs) + data.decode(errors="replace")))
    # Pass-through: the files API to the Azure deployment, a configured endpoint.
    upload = (b"--b0\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
              b"--b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\""
              b"\r\n\r\n{}\n\r\n--b0--\r\n")
    multipart = {"Content-Type": "multipart/form-data; boundary=b0"}
    for method, path, body, headers in [
        ("POST", "/v1/files", upload, dict(auth(), **multipart)),
        ("POST", "/openai/files?api-version=2024-10-21", upload,
         dict(multipart, **{"api-key": SECRETS["MASTER_KEY"]})),
        ("POST", "/v1/files", upload, multipart),
        ("GET", "/v1/files/file-nope", None, auth()),
        ("POST", "/vendor/files", upload, dict(auth(), **multipart)),
        ("GET", "/vendor/files/file-nope/content", None, auth()),
        ("GET", "/vendor/files", None, {"Authorization": "Bearer sk-wrong-key"}),
    ]:
        status, hdrs, data = request(gw.port, method, path, body, headers)
        assert status in (200, 401, 404), (path, status, data)
        seen.append((f"{method} {path} {status}", json.dumps(hdrs) + data.decode(errors="replace")))
    for path in ["/v1/models", "/health/readiness", "/health/liveliness", "/nope"]:
        status, hdrs, data = gw.get(path, auth())
        seen.append((f"GET {path}", json.dumps(hdrs) + data.decode(errors="replace")))
    # The keys were really in use: the upstreams received them.
    got = json.dumps(openai.requests()) + json.dumps(azure.requests())
    assert SECRETS["OPENAI_KEY"] in got and SECRETS["AZURE_KEY"] in got
    assert SECRETS["ENTRA_TOKEN"] in got
    assert SECRETS["ISSUED_TOKEN"] in got  # fetched with the client secret, then sent
    assert SECRETS["PASSTHRU_KEY"] in got  # a pass-through endpoint's header
    assert SECRETS["MASTER_KEY"] not in got  # the gateway key never goes upstream
    assert "client2Wq6Ze9Rx3Cv7Bn" not in got  # a client key never goes upstream

    # What an operator sees.
    status, _, data = request(admin, "GET", "/metrics")
    assert status == 200 and b"llmgate_requests_total" in data
    seen.append(("/metrics", data.decode(errors="replace")))
    for cmd in ["status", "workers", "deployments", "keys", "fallback", "version", "help"]:
        for json_out in (False, True):
            r = ctl(gw, cmd, json_out=json_out)
            assert r.returncode == 0, (cmd, r.stderr)
            seen.append((f"llmgatectl {cmd} json={json_out}", r.stdout + r.stderr))
    r = ctl(gw, "reload")
    seen.append(("llmgatectl reload", r.stdout + r.stderr))
    env = dict(os.environ, **env_all)
    r = subprocess.run([LLMGATED, "--check", "-c", gw.path], capture_output=True, text=True,
                       env=env, timeout=60)
    seen.append(("llmgated --check", r.stdout + r.stderr))
    # A config whose error sits on a key's line must not quote the key either.
    with open(gw.path) as f:
        text = f.read()
    with open(gw.path, "w") as f:
        f.write(text.replace("api_key: os.environ/AZURE_KEY",
                             f"api_key: [{SECRETS['AZURE_KEY']}]\n"
                             f"      api_kee: {SECRETS['AZURE_KEY']}\n"
                             f"      api_version: {SECRETS['OPENAI_KEY']}"))
    r = ctl(gw, "reload")
    assert r.returncode == 1
    seen.append(("failed reload", r.stdout + r.stderr))
    r = subprocess.run([LLMGATED, "--check", "-c", gw.path], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 1
    seen.append(("llmgated --check (bad)", r.stdout + r.stderr))

    # The spans went out, with the collector's keys, and carry none of the secrets.
    try:
        wait_for(lambda: len(collector.spans()) >= 20, what="the requests' spans")
    except AssertionError:
        lines = [line for line in gw.logs().splitlines() if "otel" in line]
        raise AssertionError(f"{len(collector.spans())} spans:\n" + "\n".join(lines))
    exported = collector.raw()
    got = {k.lower(): v for k, v in exported[0][1].items()}
    assert got["x-api-key"] == SECRETS["OTEL_HEADER"]
    assert got["x-env-key"] == SECRETS["OTEL_ENV_HEADER"]
    # protobuf is binary: latin-1 keeps every byte as one character, so a secret shows as is
    seen.append(("exported spans", "\n".join(body.decode("latin-1") for _, _, body in exported)))
    collector.close()

    gw.stop()
    with open(gw.log_path) as f:
        logs = f.read()
    assert "debug" in logs.lower() or "<7>" in logs  # the log really was at debug level
    seen.append(("daemon log", logs))
    with open(access_log) as f:
        lines = f.read()
    assert lines.count("\n") >= 22  # one line per request above
    assert lines.count('"route":"passthrough"') == 5
    assert lines.count("\n") >= 15  # one line per request above
    # the client key was in use: admitted, over its rpm, refused a model; logged by id (two
    # workers' lines, each worker's flushed apart: in no particular order)
    assert sorted(json.loads(l)["status"] for l in lines.splitlines()
                  if json.loads(l)["key"] == "team-leak") == [200, 401, 429]
    seen.append(("access log", lines))
    endpoint.close()
    for where, text in seen:
        assert not leaks(text), f"{leaks(text)} leaked in {where}:\n{text[:3000]}"


def dumpable(pid):
    """A process that is not dumpable has its /proc files owned by root."""
    return os.stat(f"/proc/{pid}/status").st_uid != 0


def test_not_dumpable_unless_asked(stub, gateway_factory):
    base = gateway_config(openai_dep("gpt-4o", None, stub.base, key="sk-test-0123456789"),
                          llmgate="  user: nobody\n")
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to start llmgated as another user")
    gw = gateway_factory(base)
    wait_for(lambda: len(gw.workers()) == 2, what="two workers")
    for pid in [gw.pid, *gw.workers()]:
        assert not dumpable(pid), f"pid {pid} is dumpable"
    assert request(gw.port, "POST", "/v1/chat/completions", chat())[0] == 200
    gw.stop()

    gw = gateway_factory(base + "  core_dumps: true\n")
    wait_for(lambda: len(gw.workers()) == 2, what="two workers")
    for pid in [gw.pid, *gw.workers()]:
        assert dumpable(pid), f"pid {pid} is not dumpable with core_dumps: true"
    assert "core dumps allowed" in gw.logs()
