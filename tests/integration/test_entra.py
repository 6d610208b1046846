"""Keyless Azure (issue 18): Entra ID tokens that llmgated fetches and refreshes itself.

TokenEndpoint is a token endpoint on loopback in the four styles llmgate speaks (client
credentials with a secret, client assertion from a federated token file, App Service /
Container Apps managed identity, the VM's IMDS), as strict as Entra about what it accepts,
issuing HS256 JWTs with lifetimes of a few seconds. The Azure upstream is llmgate-stub with
--require-entra: it accepts only unexpired tokens signed with the endpoint's secret and
refuses api-key. Every fetch is counted."""
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Load
from helpers import (CHAT, LLMCTL, LLMGATED, azure_dep, ctl, ctl_result, deployment, gateway_config,
                     model_config,
                     free_port, post, request, wait_for)

SIGNING = "entra-test-signing-secret"
TENANT = "contoso-tenant"
CLIENT = "11111111-aaaa-bbbb-cccc-000000000001"
CLIENT2 = "11111111-aaaa-bbbb-cccc-000000000002"  # a second app registration
SECRET = "client-secret-value-0123456789"
RESOURCE = "https://cognitiveservices.azure.com"
SCOPE = RESOURCE + "/.default"
IDENTITY_HEADER = "identity-header-secret-0123456789"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(exp, sub, pad=0):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"aud": RESOURCE, "exp": exp, "sub": sub, "pad": "x" * pad,
                           "jti": os.urandom(6).hex()}).encode())
    sig = hmac.new(SIGNING.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class TokenEndpoint:
    """Entra's token endpoint, App Service's identity endpoint and IMDS on one port."""

    def __init__(self, lifetime=4, assertion_file=None, fixed_token=None, secret=SECRET, pad=0):
        self.lifetime = lifetime
        self.pad = pad  # claim bytes, for tokens as big as Entra's get
        self.secret = secret
        self.fixed_token = fixed_token  # issued instead of a JWT (test_secrets looks for it)
        self.assertion_file = assertion_file
        self.down = False
        self.fetches = []  # (monotonic time, style)
        self.clients = []  # the client_id of each client-secret fetch
        self.refused = []  # why, for requests refused
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def unreachable(self):
                """While down: the connection closes without an answer."""
                if endpoint.down:
                    self.close_connection = True
                return endpoint.down

            def do_POST(self):
                if self.unreachable():
                    return
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode(), strict_parsing=True)
                form = {k: v[0] for k, v in form.items()}
                self.answer(*endpoint.grant(self.path, self.headers, form))

            def do_GET(self):
                if self.unreachable():
                    return
                url = urllib.parse.urlsplit(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                self.answer(*endpoint.managed(url.path, self.headers, q))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def issue(self, style):
        with self.lock:
            self.fetches.append((time.monotonic(), style))
        if self.fixed_token:
            return self.fixed_token
        return jwt(int(time.time()) + self.lifetime, style, self.pad)

    def refuse(self, status, code, words, error="invalid_client"):
        self.refused.append(code)
        return status, {"error": error, "error_description": f"{code}: {words}\r\nTrace ID: x",
                        "error_codes": [int(code[6:])]}

    def grant(self, path, headers, form):
        if path != f"/{TENANT}/oauth2/v2.0/token":
            return self.refuse(400, "AADSTS90002", f"Tenant '{path}' not found.",
                               "invalid_request")
        if headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request"}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return 400, {"error": "invalid_request"}
        if form.get("client_id") not in (CLIENT, CLIENT2):
            return self.refuse(400, "AADSTS700016", "Application not found in the directory.",
                               "unauthorized_client")
        if "client_secret" in form:
            if form["client_secret"] != self.secret:
                return self.refuse(401, "AADSTS7000215", "Invalid client secret provided.")
            style = "client_secret"
            with self.lock:
                self.clients.append(form["client_id"])
        elif form.get("client_assertion_type") == \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            with open(self.assertion_file) as f:
                current = f.read().strip()
            if form.get("client_assertion") != current:
                return self.refuse(400, "AADSTS700024",
                                   "Client assertion is not within its valid time range.")
            style = "workload_identity"
        else:
            return self.refuse(400, "AADSTS7000218", "The request body must contain "
                               "client_assertion or client_secret.")
        return 200, {"token_type": "Bearer", "expires_in": self.lifetime,
                     "ext_expires_in": self.lifetime, "access_token": self.issue(style)}

    def managed(self, path, headers, q):
        if path == "/msi/token":
            if headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                return 401, {"statusCode": 401, "message": "Unauthorized"}
            if q.get("api-version") != "2019-08-01" or q.get("resource") != RESOURCE:
                return 400, {"statusCode": 400, "message": "bad request"}
            exp = int(time.time()) + self.lifetime
            return 200, {"access_token": self.issue("app_service"), "expires_on": str(exp),
                         "resource": RESOURCE, "token_type": "Bearer", "client_id": CLIENT}
        if path == "/metadata/identity/oauth2/token":
            if headers.get("Metadata") != "true":
                return 400, {"error": "invalid_request", "error_description": "Required "
                             "metadata header not specified"}
            if q.get("api-version") != "2018-02-01" or q.get("resource") != RESOURCE:
                return 400, {"error": "invalid_request"}
            if q.get("client_id") not in (None, CLIENT):
                return 400, {"error": "invalid_request",
                             "error_description": "Identity not found"}
            return 200, {"access_token": self.issue("imds"),
                         "expires_in": str(self.lifetime),
                         "expires_on": str(int(time.time()) + self.lifetime),
                         "resource": RESOURCE, "token_type": "Bearer"}
        return 404, {"error": "not found"}

    def count(self):
        with self.lock:
            return len(self.fetches)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = []

    def make(**kw):
        e = TokenEndpoint(**kw)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def keyless(group, dep_id, base, params):
    return azure_dep(group, dep_id, base, key=None, params=params)


SECRET_PARAMS = (f"\n      tenant_id: {TENANT}\n      client_id: {CLIENT}"
                 f"\n      client_secret: os.environ/TEST_CLIENT_SECRET")


def env_for(ep, **more):
    env = {"AZURE_AUTHORITY_HOST": ep.base, "TEST_CLIENT_SECRET": SECRET}
    for k in ("AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
              "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CREDENTIAL"):
        env[k] = ""
    env.update(more)
    return env


def test_load_over_several_lifetimes_one_fetch_per_lifetime(endpoint, stub_factory,
                                                            gateway_factory):
    ep = endpoint(lifetime=4)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    admin = free_port()
    gw = gateway_factory(gateway_config(keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS),
                                        workers=3, llmgate=f"  admin_listen: 127.0.0.1:{admin}\n"),
                         env=env_for(ep))
    wait_for(lambda: ep.count() >= 1, timeout=5, what="the first token")
    t0 = time.monotonic()
    load = Load(gw.port, CHAT, threads=3, pause=0.01)
    time.sleep(10)
    load.stop()
    elapsed = time.monotonic() - t0
    fetched = [t for t, _ in ep.fetches if t >= t0]
    print(f"\n{load.sent} requests over {elapsed:.1f}s with 3 workers: {load.ok} ok, "
          f"{len(load.failures)} failed; {len(fetched)} token fetches "
          f"(lifetime 4s, refreshed 2 to 3 s apart)")
    assert load.failures == [], load.failures[:3]
    assert load.sent > 100
    # one fetch per refresh for the whole instance, not per worker (3 workers would make it
    # 9 to 12, in bursts): the refresh comes a quarter of the 4 s lifetime ahead, on whole
    # wall-clock seconds, so 2 to 3 s apart depending on when in its second a token came
    gaps = [b - a for a, b in zip(fetched, fetched[1:])]
    assert all(g >= 1.9 for g in gaps), gaps
    assert elapsed / 3 - 1 <= len(fetched) <= elapsed / 2 + 1, len(fetched)
    # what llmgatectl deployments and /metrics say of it
    token = ctl_result(gw, "deployments")[0]["token"]
    assert token["source"] == "client_secret" and token["state"] == "valid", token
    assert 0 < token["expires_in_s"] <= 4 and token["failures"] == 0, token
    assert token["fetches"] == ep.count(), (token, ep.count())
    assert ctl_result(gw, "deployments")[0]["key"] == "entra"
    text = ctl(gw, "deployments").stdout
    assert "entra client_secret: token valid" in text, text
    metrics = request(admin, "GET", "/metrics")[2].decode()
    assert (f'llmgate_entra_token_fetches_total{{deployment="keyless",source="client_secret"}} '
            f'{ep.count()}') in metrics
    assert 'llmgate_entra_token_fetch_failures_total{deployment="keyless",source="client_secret"} 0' \
        in metrics
    # the upstream refuses the key way
    status, _, body = request(azure.port, "POST",
                              "/openai/deployments/gpt-4o/chat/completions"
                              "?api-version=2024-08-01-preview", CHAT,
                              {"api-key": "azure-test-key-0123456789"})
    assert status == 403 and b"AuthenticationTypeDisabled" in body
    # and a token past its lifetime
    stale = jwt(int(time.time()) - 1, "client_secret")
    status, _, _ = request(azure.port, "POST", "/openai/deployments/gpt-4o/chat/completions"
                           "?api-version=2024-08-01-preview", CHAT,
                           {"Authorization": f"Bearer {stale}"})
    assert status == 401


def test_endpoint_down_shorter_than_the_lifetime_no_failure(endpoint, stub_factory,
                                                            gateway_factory):
    ep = endpoint(lifetime=12)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    gw = gateway_factory(gateway_config(keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS)),
                         env=env_for(ep))
    wait_for(lambda: ep.count() >= 1, timeout=5, what="the first token")
    fetched = ep.fetches[0][0]
    load = Load(gw.port, CHAT, threads=2, pause=0.01)
    # lifetimes are whole seconds: this token lasts 11 to 12 s and is refreshed after 8 to
    # 9 s; the endpoint is down from 7.5 s to 9.5 s, so the refresh fails and is retried
    # (with backoff, but before the token ends) while the workers keep the current token
    time.sleep(max(0, fetched + 7.5 - time.monotonic()))
    ep.down = True
    time.sleep(2.0)
    ep.down = False
    time.sleep(max(0, fetched + 12.5 - time.monotonic()))
    load.stop()
    assert load.failures == [], load.failures[:3]
    assert ep.count() == 2
    assert "token fetch failed: token endpoint unreachable" in gw.logs(), gw.logs()


def test_endpoint_down_longer_fails_as_auth_token_and_falls_back(endpoint, stub_factory,
                                                                 gateway_factory):
    # the primary group spreads over a keyless Azure deployment and an OpenAI-style one (an
    # all-azure group has no direct-Azure target of its own, SPEC 7); its direct-Azure
    # fallback is a second Azure resource with a key
    ep = endpoint(lifetime=3)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    proxy = stub_factory("proxy")
    direct = stub_factory("direct")
    gw = gateway_factory(gateway_config(
        keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS),
        deployment("gpt-4o", "openai/gpt-4o", f"{proxy.base}/v1", "proxy",
                   "\n      api_key: sk-test-proxy-0123456789"),
        azure_dep("gpt-4o-direct", "azure-direct", direct.base),
        retries=0, fallbacks={"gpt-4o": ["gpt-4o-direct"]},
        llmgate="""  fallback:
    window: 5s
    min_requests: 5
    consecutive_failures: 3
    cooldown: 1s
    probe_interval: 200ms
    recover_successes: 2
    report_interval: 100ms
"""), env=env_for(ep))
    wait_for(lambda: os.path.exists(gw.sock) and ep.count() >= 1, timeout=5, what="a token")
    load = Load(gw.port, CHAT, threads=2, pause=0.02)
    ep.down = True

    def mode():
        return ctl_result(gw, "status")["groups"][0]["mode"]

    wait_for(lambda: mode() == "fallback", timeout=8, interval=0.1, what="fallback mode")
    status = ctl_result(gw, "status")["groups"][0]
    assert "auth_token" in status["reason"], status
    keyless_dep = [d for d in ctl_result(gw, "deployments") if d["id"] == "keyless"][0]
    assert keyless_dep["token"]["state"] in ("expired", "none"), keyless_dep
    assert "token endpoint unreachable" in keyless_dep["token"]["last_error"], keyless_dep["token"]
    assert keyless_dep["window_failures_by_class"].get("auth_token", 0) > 0, keyless_dep
    ep.down = False
    wait_for(lambda: mode() == "normal", timeout=10, interval=0.1, what="normal mode again")
    load.stop()
    assert load.failures == [], load.failures[:3]  # the fallback served every request
    routes = {r for _, r in load.routes}
    assert {"primary", "direct-azure"} <= routes, routes


def test_killed_worker_and_reload_serve_at_once_without_a_fetch(endpoint, stub_factory,
                                                                gateway_factory):
    ep = endpoint(lifetime=20)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    config = gateway_config(keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS), workers=2)
    gw = gateway_factory(config, env=env_for(ep))
    wait_for(lambda: os.path.exists(gw.sock) and ep.count() >= 1, timeout=5, what="a token")
    load = Load(gw.port, CHAT, threads=2, pause=0.01)
    load.wait_sent(20)
    workers = [w["pid"] for w in ctl_result(gw, "workers")]
    token_process = [p for p in gw.workers() if p not in workers]
    assert len(token_process) == 1, (workers, gw.workers())
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len([w for w in ctl_result(gw, "workers") if w["state"] == "ready"]) == 2
             and workers[0] not in [w["pid"] for w in ctl_result(gw, "workers")],
             timeout=5, what="the worker respawned")
    served = load.ok
    time.sleep(0.5)
    assert ctl(gw, "reload").returncode == 0
    time.sleep(0.5)
    # the token process dies too: respawned, it knows the token and does not fetch it again
    os.kill(token_process[0], signal.SIGKILL)
    time.sleep(1.0)
    load.stop()
    # a killed worker loses at most what it held; the rest, and every request the new
    # workers served, went through with the token they got before START
    assert len(load.failures) <= 2, load.failures[:3]
    assert load.ok > served + 50
    assert ep.count() == 1, ep.fetches
    assert "token process: pid" in gw.logs()
    for _ in range(20):
        assert post(gw)[0] == 200


def test_workers_start_with_their_tokens(endpoint, stub_factory, gateway_factory):
    ep = endpoint(lifetime=20, pad=5600)  # a token of about 7.5 KB
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    gw = gateway_factory(gateway_config(keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS)),
                         env=env_for(ep))
    # the first request after start already has a token: START waited for it
    assert post(gw)[0] == 200
    # an endpoint that is down does not keep the workers from starting (and their
    # deployments fail as auth_token, to the fallbacks)
    ep.down = True
    gw2 = gateway_factory(gateway_config(keyless("gpt-4o", "keyless", azure.base,
                                                 SECRET_PARAMS)), env=env_for(ep))
    status, _, body = post(gw2)
    assert status == 502 and b"auth_token" in body, body
    assert "fetch failed" in gw2.logs()


def test_reload_that_adds_a_credential_fetches_only_that_one(endpoint, stub_factory,
                                                             gateway_factory):
    ep = endpoint(lifetime=20)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    first = keyless("gpt-4o", "keyless", azure.base, SECRET_PARAMS)
    gw = gateway_factory(gateway_config(first), env=env_for(ep))
    wait_for(lambda: os.path.exists(gw.sock) and ep.count() >= 1, timeout=5, what="a token")
    second = keyless("gpt-4o-b", "keyless-b", azure.base,
                     SECRET_PARAMS.replace(CLIENT, CLIENT2))
    gw.write_config(gateway_config(first, second))
    assert ctl(gw, "reload").returncode == 0
    # the new generation started once the new credential's first token was there
    assert post(gw, dict(CHAT, model="gpt-4o-b"))[0] == 200
    assert post(gw)[0] == 200
    time.sleep(0.5)
    assert ep.clients == [CLIENT, CLIENT2], ep.clients  # the first one is not fetched again
    # a reload that drops a credential: once the old generation is gone, it is not refreshed
    gw.write_config(gateway_config(second))
    assert ctl(gw, "reload").returncode == 0
    wait_for(lambda: "1 credential no longer used" in gw.logs(), timeout=10,
             what="the dropped credential pruned")
    assert post(gw, dict(CHAT, model="gpt-4o-b"))[0] == 200
    assert ep.clients == [CLIENT, CLIENT2], ep.clients


@pytest.mark.parametrize("style", ["workload_identity", "app_service", "imds"])
def test_identity_styles(style, endpoint, stub_factory, gateway_factory, workdir):
    token_file = os.path.join(workdir, "azure-identity-token")
    with open(token_file, "w") as f:
        f.write("federated-token-1\n")
    ep = endpoint(lifetime=3, assertion_file=token_file)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    if style == "workload_identity":
        env = env_for(ep, AZURE_FEDERATED_TOKEN_FILE=token_file, AZURE_CLIENT_ID=CLIENT,
                      AZURE_TENANT_ID=TENANT)
    elif style == "app_service":
        env = env_for(ep, IDENTITY_ENDPOINT=f"{ep.base}/msi/token",
                      IDENTITY_HEADER=IDENTITY_HEADER)
    else:
        env = env_for(ep, AZURE_POD_IDENTITY_AUTHORITY_HOST=ep.base)
    cfg = gateway_config(keyless("gpt-4o", "keyless", azure.base, ""),
                         sections="litellm_settings:\n  enable_azure_ad_token_refresh: true\n")
    gw = gateway_factory(cfg, env=env)
    wait_for(lambda: ep.count() >= 1, timeout=5, what="the first token")
    assert {s for _, s in ep.fetches} == {style}
    assert post(gw)[0] == 200
    if style == "workload_identity":
        # the kubelet rotates the file: the next refresh must present the new one
        with open(token_file, "w") as f:
            f.write("federated-token-2\n")
        n = ep.count()
        wait_for(lambda: ep.count() > n, timeout=5, what="a refresh")
        assert post(gw)[0] == 200
        assert ep.refused == []
    assert IDENTITY_HEADER not in gw.logs() and "federated-token" not in gw.logs()


@pytest.mark.parametrize("params,want", [
    (f"\n      tenant_id: {TENANT}\n      client_id: {CLIENT}",
     "needs client_secret"),
    (f"\n      client_id: {CLIENT}\n      client_secret: s",
     "needs tenant_id"),
    (SECRET_PARAMS + "\n      api_key: azure-test-key-0123456789",
     "api_key wins"),
])
def test_check_names_what_is_missing(params, want, workdir):
    path = os.path.join(workdir, "c.yaml")
    with open(path, "w") as f:
        f.write(model_config(keyless("gpt-4o", "keyless", "https://x.openai.azure.com",
                                     params)))
    r = subprocess.run([LLMGATED, "--check", "-c", path], capture_output=True, text=True,
                       env={**os.environ, "TEST_CLIENT_SECRET": SECRET}, timeout=10)
    out = r.stdout + r.stderr
    assert want in out, out
    assert "ignored" not in out and SECRET not in out


def probe(workdir, params, env, sections=""):
    """llmgatectl probe --json on a config of one keyless deployment: its one result."""
    path = os.path.join(workdir, "probe.yaml")
    with open(path, "w") as f:
        f.write(model_config(params, sections=sections))
    r = subprocess.run([LLMCTL, "probe", "--json", "-t", "5s", "-c", path], capture_output=True,
                       text=True, env={**os.environ, **env}, timeout=30)
    return r, json.loads(r.stdout)["results"][0] if r.stdout.startswith("{") else None


@pytest.mark.parametrize("change,words", [
    ({}, None),
    ({"TEST_CLIENT_SECRET": "wrong-secret-0123456789"}, "wrong client secret"),
    ({"TENANT": "other-tenant"}, "unknown tenant"),
    ({"CLIENT": "22222222-aaaa-bbbb-cccc-000000000002"}, "unknown application"),
])
def test_probe_fetches_its_own_token(change, words, endpoint, stub_factory, workdir):
    ep = endpoint(lifetime=30)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    params = (f"\n      tenant_id: {change.get('TENANT', TENANT)}"
              f"\n      client_id: {change.get('CLIENT', CLIENT)}"
              f"\n      client_secret: os.environ/TEST_CLIENT_SECRET")
    env = env_for(ep)
    env.update({k: v for k, v in change.items() if k.startswith("TEST_")})
    r, res = probe(workdir, keyless("gpt-4o", "keyless", azure.base, params), env)
    if words is None:
        assert r.returncode == 0 and res["passed"] and res["status"] == 200, r.stdout
        assert ep.count() == 1
    else:
        assert r.returncode == 1 and res["verdict"] == "entra_token", r.stdout
        assert words in res["diagnosis"], res
        assert azure.requests() == []  # not tried without a token
    assert SECRET not in r.stdout + r.stderr


@pytest.mark.parametrize("style,env_change,words", [
    ("imds", {"AZURE_CLIENT_ID": "33333333-0000-0000-0000-000000000003"},
     "managed identity not assigned"),
    ("workload_identity", {"AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/azure-identity-token"},
     "federated token file '/nonexistent/azure-identity-token' is missing"),
])
def test_probe_names_identity_failures(style, env_change, words, endpoint, stub_factory,
                                       workdir):
    ep = endpoint(lifetime=30)
    azure = stub_factory("azure", ["--require-entra", SIGNING])
    env = env_for(ep, **{"AZURE_POD_IDENTITY_AUTHORITY_HOST": ep.base,
                         "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, **env_change})
    r, res = probe(workdir, keyless("gpt-4o", "keyless", azure.base, ""), env,
                   sections="litellm_settings:\n  enable_azure_ad_token_refresh: true\n")
    assert r.returncode == 1 and res["verdict"] == "entra_token", r.stdout + r.stderr
    assert words in res["diagnosis"], res
