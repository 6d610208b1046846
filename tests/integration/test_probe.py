"""`llmgatectl probe`: one minimal request per deployment, without the daemon,
with a plain-words diagnosis per answer and a summary per primary/Azure pair.
Every run is checked for leaked secrets."""
import json
import socket
import time

import pytest

from helpers import STUBS, azure_dep, free_port, llmgatectl, model_config, openai_dep

PRIMARY_KEY = "sk-test-primary-0123456789abcd"
AZURE_KEY = "azure-test-key-0123456789abcdef"
HEADER_SECRET = "apim-subscription-secret-0123456789"
SECRETS = (PRIMARY_KEY, AZURE_KEY, HEADER_SECRET, "sk-the-real-key-000000000",
           "another-resource-key-0000")


def config(tmp_path, primary_base, azure_base, azure_deployment="gpt-4o",
           azure_version="2024-08-01-preview", primary_extra="", azure_extra=""):
    """The seed scenario's config in TMP_PATH (no llmgate section: probe needs none); the
    extras are more litellm_params (helpers.deployment's PARAMS)."""
    path = tmp_path / "llmgate.yaml"
    path.write_text(model_config(
        openai_dep("gpt-4o", "litellm-proxy", primary_base, primary_extra, key=PRIMARY_KEY,
                   model="openai/gpt-4o"),
        azure_dep("gpt-4o-azure", "azure-direct", azure_base, "${AZURE_OPENAI_API_KEY}",
                  azure_extra, name=azure_deployment, api_version=azure_version),
        fallbacks={"gpt-4o": ["gpt-4o-azure"]},
        sections=f"environment_variables:\n  AZURE_OPENAI_API_KEY: {AZURE_KEY}\n"))
    return str(path)


def probe(cfg, *args):
    t = time.monotonic()
    r = llmgatectl("probe", "-c", cfg, *args)
    out = r.stdout + r.stderr
    for secret in SECRETS:
        assert secret not in out, f"a secret leaked: {out}"
    return r, out, time.monotonic() - t


def results(cfg, *args):
    r, out, _ = probe(cfg, "--json", *args)
    assert r.returncode in (0, 1), out
    doc = json.loads(r.stdout)
    assert doc["passed"] is (r.returncode == 0)
    return r.returncode, doc


def by_id(doc):
    return {x["deployment"]: x for x in doc["results"]}


def test_all_pass(stub_factory, tmp_path):
    p = stub_factory("primary", ["--require-key", PRIMARY_KEY])
    a = stub_factory("azure", ["--require-key", AZURE_KEY])
    cfg = config(tmp_path, p.base, a.base)
    r, out, _ = probe(cfg)
    assert r.returncode == 0, out
    assert "both work" in out and "all deployments answered" in out
    assert f"{a.base}/openai/deployments/gpt-4o/chat/completions?api-version=" in out
    sent = json.loads(p.requests()[-1]["body"])
    assert sent == {"model": "gpt-4o", "messages": [{"role": "user", "content": "ping"}],
                    "max_tokens": 1}
    assert p.requests()[-1]["path"] == "/v1/chat/completions"
    last = a.requests()[-1]
    assert last["headers"]["api-key"] == AZURE_KEY and "authorization" not in last["headers"]


def test_seed_scenario_primary_key_wrong(stub_factory, tmp_path):
    p = stub_factory("primary", ["--require-key", "sk-the-real-key-000000000"])
    a = stub_factory("azure", ["--require-key", AZURE_KEY])
    cfg = config(tmp_path, p.base, a.base)
    code, doc = results(cfg)
    assert code == 1
    res = by_id(doc)
    assert res["litellm-proxy"]["status"] == 401
    assert res["litellm-proxy"]["verdict"] == "wrong_key"
    assert res["azure-direct"]["passed"] is True
    s = doc["summary"][0]
    assert s["primary_works"] is False and s["direct_azure_works"] is True
    assert s["text"] == ("gpt-4o: primary 'litellm-proxy' fails (401 wrong key) while direct "
                         "Azure 'azure-direct' works: the primary's key is wrong")
    r, out, _ = probe(cfg)
    assert r.returncode == 1 and "the primary's key is wrong" in out


def test_azure_401_with_azure_body(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure", ["--require-key", "another-resource-key-0000"])
    code, doc = results(config(tmp_path, p.base, a.base), "gpt-4o-azure")
    assert code == 1 and len(doc["results"]) == 1 and doc["summary"] == []
    d = doc["results"][0]
    assert d["verdict"] == "wrong_key" and d["status"] == 401
    assert "wrong key or wrong endpoint for this resource" in d["diagnosis"]
    assert "Access denied due to invalid subscription key" in d["diagnosis"]


def test_azure_deployment_not_found_names_deployment_id(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure", ["--status", "404"])
    cfg = config(tmp_path, p.base, a.base,
                 azure_extra="\n      deployment_id: gpt-4o-2024-08-06")
    code, doc = results(cfg)
    d = by_id(doc)["azure-direct"]
    assert code == 1 and d["verdict"] == "deployment_not_found"
    assert "'gpt-4o-2024-08-06' does not exist" in d["diagnosis"]
    assert "deployment_id" in d["diagnosis"]
    assert "/openai/deployments/gpt-4o-2024-08-06/" in d["url"]
    assert "direct Azure's deployment name is wrong" in doc["summary"][0]["text"]


def test_unsupported_api_version(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base, azure_version="2024-08-01-beta"))
    assert code == 1
    assert by_id(doc)["azure-direct"]["verdict"] == "unsupported_api_version"


def test_azure_v1_api(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure", ["--require-key", AZURE_KEY])
    code, doc = results(config(tmp_path, p.base, a.base, azure_version="v1"))
    assert code == 0, doc
    assert by_id(doc)["azure-direct"]["url"] == f"{a.base}/openai/v1/chat/completions"
    assert json.loads(a.requests()[-1]["body"])["model"] == "gpt-4o"


def test_hang_times_out_within_the_timeout(stub_factory, tmp_path):
    p = stub_factory("primary", ["--hang"])
    a = stub_factory("azure", ["--hang"])
    r, out, took = probe(config(tmp_path, p.base, a.base), "--timeout", "1s")
    assert r.returncode == 1
    assert "connected, but no answer within the timeout (1000 ms)" in out
    assert "both fail the same way" in out
    assert took < 3.5, f"probes run in parallel, each bounded by --timeout: took {took:.1f}s"


def test_closed_port_is_refused(stub_factory, tmp_path):
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, f"http://127.0.0.1:{free_port()}", a.base))
    d = by_id(doc)["litellm-proxy"]
    assert code == 1 and d["verdict"] == "connect" and d["status"] is None
    assert "connection refused" in d["diagnosis"] and d["error"]
    assert "the primary's address does not accept connections" in doc["summary"][0]["text"]


def test_reset_is_closed(stub_factory, tmp_path):
    p = stub_factory("primary", ["--reset"])
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base))
    assert code == 1 and by_id(doc)["litellm-proxy"]["verdict"] == "closed"


def test_dns(stub_factory, tmp_path):
    try:
        socket.getaddrinfo("probe-test.invalid", 80)
        pytest.skip("this resolver answers for .invalid")
    except socket.gaierror:
        pass
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, "http://probe-test.invalid:9", a.base),
                        "--timeout", "5s")
    assert code == 1 and by_id(doc)["litellm-proxy"]["verdict"] == "dns"


def test_rate_limited_with_retry_after(stub_factory, tmp_path):
    p = stub_factory("primary", ["--status", "429", "--retry-after", "7"])
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base))
    d = by_id(doc)["litellm-proxy"]
    assert code == 1 and d["verdict"] == "rate_limited" and d["retry_after_ms"] == 7000
    assert "retry after 7 s" in d["diagnosis"]


def test_litellm_proxy_with_a_wrong_azure_key_behind_it(stub_factory, tmp_path):
    body = json.dumps({"error": {
        "message": "litellm.AuthenticationError: AzureException AuthenticationError - Access "
                   "denied due to invalid subscription key or wrong API endpoint. Make sure to "
                   "provide a valid key for an active subscription and use a correct regional "
                   "API endpoint for your resource.\nReceived Model Group=gpt-4o",
        "type": None, "param": None, "code": "401"}})
    p = stub_factory("primary", ["--status", "401", "--body", body])
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base))
    assert code == 1 and by_id(doc)["litellm-proxy"]["verdict"] == "proxy_upstream_key"
    assert "fix it in the proxy's own config" in doc["summary"][0]["text"]


def test_reasoning_model_gets_max_completion_tokens(stub_factory, tmp_path):
    body = json.dumps({"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                   "'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})
    p = stub_factory("primary", ["--status", "400", "--body", body, "--count", "1"])
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base))
    assert code == 0, doc
    assert by_id(doc)["litellm-proxy"]["sent"] == "max_completion_tokens"
    sent = [json.loads(r["body"]) for r in p.requests()]
    assert sent[0]["max_tokens"] == 1 and sent[1]["max_completion_tokens"] == 1
    assert "max_tokens" not in sent[1]


def test_embedding_deployment(stub_factory, tmp_path):
    a = stub_factory("azure")
    path = tmp_path / "embed.yaml"
    path.write_text(model_config(azure_dep("embed", None, a.base, AZURE_KEY,
                                           name="text-embedding-3-small",
                                           api_version="2024-06-01",
                                           info="\n      mode: embedding")))
    code, doc = results(str(path))
    assert code == 0, doc
    assert "/openai/deployments/text-embedding-3-small/embeddings?" in doc["results"][0]["url"]
    assert json.loads(a.requests()[-1]["body"])["input"] == "ping"


def test_extra_headers_sent_but_never_shown(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure")
    extra = f"\n      extra_headers:\n        Ocp-Apim-Subscription-Key: {HEADER_SECRET}"
    code, doc = results(config(tmp_path, p.base, a.base, primary_extra=extra))
    assert code == 0
    assert p.requests()[-1]["headers"]["ocp-apim-subscription-key"] == HEADER_SECRET


def test_only_named_models(stub_factory, tmp_path):
    p = stub_factory("primary")
    a = stub_factory("azure")
    code, doc = results(config(tmp_path, p.base, a.base), "gpt-4o")
    assert code == 0 and [x["deployment"] for x in doc["results"]] == ["litellm-proxy"]
    assert a.requests() == []


def test_usage_and_config_errors_exit_2(tmp_path, stub_factory):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list:\n  - model_name: x\n")
    r, out, _ = probe(str(bad))
    assert r.returncode == 2 and f"{bad}:2:" in out
    p = stub_factory("primary")
    cfg = config(tmp_path, p.base, p.base)
    r, out, _ = probe(cfg, "no-such-model")
    assert r.returncode == 2 and "no-such-model" in out
    r, out, _ = probe(cfg, "--timeout", "soon")
    assert r.returncode == 2
    r, out, _ = probe(cfg, "--bogus")
    assert r.returncode == 2 and "Usage" in out


def test_azure_v1_deployment_not_on_the_resource(stub_factory, tmp_path):
    """The v1 API names the deployment in the body; a name the resource lacks is
    DeploymentNotFound there too (the stub is told other names only)."""
    p = stub_factory("primary")
    a = stub_factory("azure", ["--require-key", AZURE_KEY, "--deployments", "other"])
    del STUBS[a.base]  # keep the config's name from being added to the stub
    cfg = config(tmp_path, p.base, a.base, azure_version="v1", azure_deployment="missing")
    STUBS[a.base] = a
    code, doc = results(cfg)
    d = by_id(doc)["azure-direct"]
    assert code == 1 and d["verdict"] == "deployment_not_found", d
    assert json.loads(a.requests()[-1]["body"])["model"] == "missing"
    assert "'missing'" in d["diagnosis"]


@pytest.mark.parametrize("version", ["v1", "2025-04-01-preview"])
def test_responses_deployment_is_probed_on_the_responses_api(stub_factory, tmp_path, version):
    """model_info.mode responses: probe sends a minimal Responses request, the body naming the
    deployment, on the v1 API and on the dated one."""
    a = stub_factory("azure", ["--require-key", AZURE_KEY])
    path = tmp_path / "llmgate.yaml"
    path.write_text(model_config(azure_dep("codex", "codex-az", a.base, AZURE_KEY,
                                           name="codex-deploy", api_version=version,
                                           info="\n      mode: responses")))
    code, doc = results(str(path))
    d = by_id(doc)["codex-az"]
    assert code == 0 and d["verdict"] == "ok", d
    seen = a.requests()[-1]
    want = "/openai/v1/responses" if version == "v1" else "/openai/responses"
    assert seen["path"] == want and d["url"].startswith(f"{a.base}{want}")
    assert json.loads(seen["body"]) == {"model": "codex-deploy", "input": "ping",
                                        "max_output_tokens": 16, "store": False}
