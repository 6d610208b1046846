"""Issue 17, end to end: OpenAI-wire providers by their LiteLLM prefix (common/providers.h),
each deployment's api_base pointing at the stub, whose record shows the path the
provider's rule builds, the credential header and the model with the prefix stripped;
entries llmgate cannot serve (501, deployments, strict); LiteLLM's defaults (implicit
variables, Azure's api_version, drop lists); its routing keys (order, aliases,
default, context-window and content-policy fallbacks); `llmgated --check` on the
fixtures and on a dozen published-style configs; the probe. The defaults themselves
(base URLs, key variables) are checked without a network in tests/unit/test_providers.c."""
import json
import re
import os
import subprocess

from helpers import (CHAT, LLMGATED, ROOT, azure_dep, ctl, ctl_result, deployment, error_of,
                     gateway_config, llmgatectl, model_config, post, request)

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
# provider_*.yaml fixtures that show a diagnostic; the others are one per provider
DIAGNOSTIC_FIXTURES = {"provider_key_from_env.yaml", "provider_not_served.yaml",
                       "provider_strict.yaml", "provider_litellm_env.yaml"}

# group, model, api_base path on the stub, key, the path the stub must see, model sent
CASES = [
    ("groq", "groq/llama-3.1-8b-instant", "/v1", "gsk-test-0123456789",
     "/v1/chat/completions", "llama-3.1-8b-instant"),
    ("ollama", "ollama/llama3.1", "", None, "/v1/chat/completions", "llama3.1"),
    ("ollama-chat", "ollama_chat/qwen2.5:7b", "/v1", None, "/v1/chat/completions",
     "qwen2.5:7b"),
    ("openrouter", "openrouter/anthropic/claude-3.5-sonnet", "/v1", "sk-or-test-0123456789",
     "/v1/chat/completions", "anthropic/claude-3.5-sonnet"),
    ("vllm", "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", "/v1", None,
     "/v1/chat/completions", "meta-llama/Llama-3.1-8B-Instruct"),
    ("mistral", "mistral/mistral-large-latest", "", "mistral-test-0123456789",
     "/v1/chat/completions", "mistral-large-latest"),
    ("perplexity", "perplexity/sonar-pro", "", "pplx-test-0123456789",
     "/chat/completions", "sonar-pro"),
    ("gemini", "gemini/gemini-2.0-flash", "/v1", "AIza-test-0123456789",
     "/v1/chat/completions", "gemini-2.0-flash"),
    ("anthropic", "anthropic/claude-3-5-sonnet-20241022", "/v1", "sk-ant-test-0123456789",
     "/v1/chat/completions", "claude-3-5-sonnet-20241022"),
    ("azure-ai", "azure_ai/Meta-Llama-3.1-70B-Instruct", "/v1", "azure-ai-test-0123456789",
     "/v1/chat/completions", "Meta-Llama-3.1-70B-Instruct"),
    ("lmstudio", "lm_studio/qwen2.5-7b-instruct", "/v1", None, "/v1/chat/completions",
     "qwen2.5-7b-instruct"),
    ("together", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "/v1",
     "together-test-0123456789", "/v1/chat/completions",
     "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("fireworks", "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct", "/v1",
     "fw-test-0123456789", "/v1/chat/completions",
     "accounts/fireworks/models/llama-v3p1-8b-instruct"),
    ("deepseek", "deepseek/deepseek-chat", "/v1", "ds-test-0123456789", "/v1/chat/completions",
     "deepseek-chat"),
    ("cerebras", "cerebras/llama3.1-8b", "/v1", "csk-test-0123456789", "/v1/chat/completions",
     "llama3.1-8b"),
    ("xai", "xai/grok-2-latest", "/v1", "xai-test-0123456789", "/v1/chat/completions",
     "grok-2-latest"),
    ("deepinfra", "deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct", "/v1",
     "di-test-0123456789", "/v1/chat/completions", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    ("nim", "nvidia_nim/meta/llama-3.1-8b-instruct", "/v1", "nvapi-test-0123456789",
     "/v1/chat/completions", "meta/llama-3.1-8b-instruct"),
    ("github", "github/gpt-4o-mini", "/v1", "ghp-test-0123456789", "/v1/chat/completions",
     "gpt-4o-mini"),
]


def provider_config(base):
    deps = []
    for group, model, path, key, _, _ in CASES:
        params = f"\n      api_key: {key}" if key else ""
        deps.append(deployment(group, model, base + path, params=params))
    return gateway_config(*deps, workers=1)


def test_each_provider_reaches_the_stub_as_its_rules_say(stub_factory, gateway_factory):
    stub = stub_factory("providers")
    gw = gateway_factory(provider_config(stub.base))
    for group, model, _, key, want_path, want_model in CASES:
        status, headers, body = post(gw, dict(CHAT, model=group))
        assert status == 200, (group, body)
        seen = stub.requests()[-1]
        assert seen["path"] == want_path, (group, seen["path"])
        assert seen["headers"].get("authorization") == (f"Bearer {key}" if key else None), group
        assert "api-key" not in seen["headers"], group
        assert f'"model":"{want_model}"' in seen["body"].replace(" ", ""), (group, seen["body"])
        assert f"hello from {want_model}" in body.decode(), group


def test_legacy_completions_provider_on_the_stub(stub_factory, gateway_factory):
    stub = stub_factory("instruct")
    gw = gateway_factory(gateway_config(
        deployment("instruct", "text-completion-openai/gpt-3.5-turbo-instruct",
                   f"{stub.base}/v1", params="\n      api_key: sk-test-0123456789"),
        workers=1))
    status, _, body = request(gw.port, "POST", "/v1/completions",
                              {"model": "instruct", "prompt": "hello", "max_tokens": 5})
    assert status == 200, body
    seen = stub.requests()[-1]
    assert seen["path"] == "/v1/completions"
    assert json.loads(seen["body"])["model"] == "gpt-3.5-turbo-instruct"


def check(fixture, env=None):
    e = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    e.update(env or {})
    return subprocess.run([LLMGATED, "--check", "-c", os.path.join(FIXTURES, fixture)],
                          capture_output=True, text=True, env=e, timeout=30)


def test_check_reports_variables_read_for_a_provider():
    r = check("provider_key_from_env.yaml", {"GROQ_API_KEY": "gsk-secret-0123456789abcd",
                                             "HOSTED_VLLM_API_BASE": "http://vllm:8000/v1"})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "provider_key_from_env.yaml:6:14: warning: groq model 'groq/llama-3.1-8b-instant' " \
           "has no api_key: it takes GROQ_API_KEY from the environment, as LiteLLM does" in out
    assert ":12:14: warning: hosted_vllm model 'hosted_vllm/qwen2.5' has no api_base: it " \
           "goes to HOSTED_VLLM_API_BASE from the environment" in out
    assert "gsk-secret" not in out


def test_check_every_provider_fixture_is_clean():
    for name in sorted(os.listdir(FIXTURES)):
        if not name.startswith("provider_") or name in DIAGNOSTIC_FIXTURES:
            continue
        r = check(name)
        assert r.returncode == 0 and "(0 errors, 0 warnings)" in r.stdout, (name, r.stdout,
                                                                             r.stderr)


def test_unservable_entries_are_skipped_not_refused(stub_factory, gateway_factory):
    stub = stub_factory("served")
    gw = gateway_factory(gateway_config(
        deployment("claude-bedrock", "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
                   stub.base),
        deployment("gpt-4o", "openai/gpt-4o", f"{stub.base}/v1",
                   params="\n      api_key: sk-test-0123456789"),
        deployment("gpt-4o", "vertex_ai/gemini-1.5-pro", stub.base),
        deployment("typo", "togetherai/llama", stub.base),
        workers=1, fallbacks={"gpt-4o": ["claude-bedrock"]}))
    status, _, body = post(gw, dict(CHAT, model="claude-bedrock"))
    err = error_of(body)
    assert status == 501 and err["code"] == "provider_not_supported", body
    assert "model 'claude-bedrock' has no deployment llmgate can serve: bedrock/: needs " \
           "its cloud's request signing" in err["message"]
    status, _, body = post(gw, dict(CHAT, model="typo"))
    assert status == 501 and "unknown provider 'togetherai'" in error_of(body)["message"]
    # the mixed group serves what it can, every time
    for _ in range(4):
        status, headers, body = post(gw, dict(CHAT, model="gpt-4o"))
        assert status == 200 and "hello from gpt-4o" in body.decode(), body
    # a model that does not exist is still a 404, and lists only what is served
    status, _, body = post(gw, dict(CHAT, model="nope"))
    assert status == 404 and "available models: 'gpt-4o'" in error_of(body)["message"], body
    assert all("/v1/chat/completions" == r["path"] for r in stub.requests())

    deps = {d["id"]: d for d in ctl_result(gw, "deployments")}
    assert deps["claude-bedrock#1"]["served"] is False
    assert deps["claude-bedrock#1"]["not_served"].startswith("bedrock/: needs")
    assert deps["gpt-4o#2"]["served"] is False and deps["gpt-4o#1"]["served"] is True
    text = ctl(gw, "deployments")
    assert "not served: vertex_ai/: needs Google Cloud credentials" in text.stdout, text


def test_check_reports_unservable_entries_and_strict_refuses_them():
    r = check("provider_not_served.yaml")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "provider_not_served.yaml:7:14: warning: llmgate does not serve bedrock/ models" in out
    assert "provider_not_served.yaml:16:27: warning: the fallback of 'gpt-4o' to " \
           "'claude-bedrock' is skipped" in out
    r = check("provider_strict.yaml")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "provider_strict.yaml:5:14: error: llmgate does not serve bedrock/ models" in out


def test_azure_without_api_version_uses_the_v1_api_or_the_variable(stub_factory,
                                                                    gateway_factory):
    """LiteLLM's defaults: AZURE_API_BASE, AZURE_API_KEY and AZURE_API_VERSION from the
    environment; without AZURE_API_VERSION, Azure's v1 API, whose body names the
    deployment (the stub answers with the model it was sent)."""
    stub = stub_factory("azure")
    stub.add_deployments(["prod-gpt-4o"])  # its api_base comes from the environment
    config = gateway_config(deployment("gpt-4o", "azure/prod-gpt-4o", stub.base).replace(
        f"\n      api_base: {stub.base}", ""), workers=1)
    env = {"AZURE_API_BASE": stub.base, "AZURE_API_KEY": "azure-env-key-0123456789",
           "AZURE_OPENAI_API_KEY": "", "AZURE_API_VERSION": ""}
    gw = gateway_factory(config, env=env)
    status, _, body = post(gw, dict(CHAT, model="gpt-4o"))
    assert status == 200 and "hello from prod-gpt-4o" in body.decode(), body
    seen = stub.requests()[-1]
    assert seen["path"] == "/openai/v1/chat/completions"
    assert seen["headers"].get("api-key") == "azure-env-key-0123456789"

    gw2 = gateway_factory(config, env=dict(env, AZURE_API_VERSION="2024-10-21"))
    status, _, body = post(gw2, dict(CHAT, model="gpt-4o"))
    assert status == 200, body
    seen = stub.requests()[-1]
    assert (seen["path"], seen["query"]) == ("/openai/deployments/prod-gpt-4o/chat/completions",
                                             "api-version=2024-10-21")


def test_drop_params_list_removes_the_parameters_upstream(stub_factory, gateway_factory):
    stub = stub_factory("drop")
    gw = gateway_factory(gateway_config(
        deployment("gpt-4o", "openai/gpt-4o", f"{stub.base}/v1",
                   params="\n      api_key: sk-test-0123456789\n      tpm: 20_000"
                          "\n      drop_params: [seed, logit_bias]"), workers=1))
    status, _, body = post(gw, dict(CHAT, seed=7, logit_bias={"1": 2}, temperature=0.5))
    assert status == 200, body
    sent = json.loads(stub.requests()[-1]["body"])
    assert "seed" not in sent and "logit_bias" not in sent and sent["temperature"] == 0.5


def test_model_group_alias_routes_to_its_group(stub_factory, gateway_factory):
    stub = stub_factory("alias")
    gw = gateway_factory(gateway_config(
        deployment("gpt-4o", "openai/gpt-4o", f"{stub.base}/v1",
                   params="\n      api_key: sk-test-0123456789"),
        workers=1, router="  model_group_alias:\n    gpt-4: gpt-4o\n"
                          "    old-gpt: {model: gpt-4o, hidden: true}\n"))
    for alias in ("gpt-4", "old-gpt"):
        status, headers, body = post(gw, dict(CHAT, model=alias))
        assert status == 200 and "hello from gpt-4o" in body.decode(), body
        assert headers["x-llmgate-deployment"] == "gpt-4o#1"
    status, _, body = request(gw.port, "GET", "/v1/models")
    ids = [m["id"] for m in json.loads(body)["data"]]
    assert ids == ["gpt-4o", "gpt-4"], ids


def test_check_on_realistic_configs_says_everything_at_its_line():
    """The dozen published-style configs (tests/fixtures/real_*.yaml), every os.environ/
    variable set: each is usable, and every line --check prints is FILE:LINE:COL or the
    summary; no secret appears."""
    names = sorted(n for n in os.listdir(FIXTURES) if n.startswith("real_"))
    assert len(names) >= 12
    env = {"AZURE_API_BASE_EU": "https://acme-eu.openai.azure.com",
           "AZURE_API_BASE_US": "https://acme-us.openai.azure.com", "AZURE_API_VERSION": ""}
    for name in names:
        with open(os.path.join(FIXTURES, name)) as f:
            for var in re.findall(r"os\.environ/([A-Z0-9_]+)", f.read()):
                env.setdefault(var, f"secret-{var.lower()}-0123456789abcdef")
    for name in names:
        r = check(name, env)
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        lines = r.stdout.strip().splitlines()
        assert lines[-1].endswith("config is usable (0 errors, %d warning%s)" % (
            len(lines) - 1, "" if len(lines) == 2 else "s")), (name, lines)
        for line in lines[:-1]:
            assert re.match(re.escape(os.path.join(FIXTURES, name)) + r":\d+:\d+: warning: ",
                            line), line
        assert "secret-" not in r.stdout + r.stderr


def test_order_sends_to_ptu_first_and_paygo_only_when_it_fails(stub_factory, gateway_factory):
    """LiteLLM's order, the Azure provisioned-throughput-first pattern: order 1 takes every
    request; order 2 only once a request has tried order 1 (x-llmgate-attempts)."""
    ptu, paygo = stub_factory("ptu"), stub_factory("paygo")
    gw = gateway_factory(gateway_config(
        deployment("gpt-4o", "openai/gpt-4o", f"{ptu.base}/v1", "ptu",
                   params="\n      api_key: sk-test-0123456789\n      order: 1"),
        deployment("gpt-4o", "openai/gpt-4o", f"{paygo.base}/v1", "paygo",
                   params="\n      api_key: sk-test-0123456789\n      order: 2"),
        workers=1, retries=1))
    for _ in range(4):
        status, headers, _ = post(gw)
        assert status == 200 and headers["x-llmgate-deployment"] == "ptu", headers
    assert len(paygo.requests()) == 0
    ptu.set_faults({"status": 429})
    status, headers, body = post(gw)
    assert status == 200, body
    assert (headers["x-llmgate-deployment"], headers["x-llmgate-attempts"]) == ("paygo", "2")


def test_default_fallbacks_serve_a_group_without_its_own(stub_factory, gateway_factory):
    bad, good = stub_factory("bad"), stub_factory("good")
    gw = gateway_factory(gateway_config(
        deployment("primary", "openai/gpt-4o", f"{bad.base}/v1", "primary",
                   params="\n      api_key: sk-test-0123456789"),
        deployment("backup", "openai/gpt-4o-mini", f"{good.base}/v1", "backup",
                   params="\n      api_key: sk-test-0123456789"),
        workers=1, retries=0, router='  default_fallbacks: ["backup"]\n'))
    bad.set_faults({"status": 500})
    status, headers, body = post(gw, dict(CHAT, model="primary"))
    assert status == 200, body
    assert (headers["x-llmgate-deployment"], headers["x-llmgate-route"]) == ("backup", "fallback")


CONTEXT_400 = json.dumps({"error": {
    "message": "This model's maximum context length is 8192 tokens. However, your messages "
               "resulted in 9000 tokens.", "type": "invalid_request_error",
    "param": "messages", "code": "context_length_exceeded"}})
FILTER_400 = json.dumps({"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
               "management policy.", "type": None, "param": "prompt", "code": "content_filter",
    "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation",
                                  "content_filter_result": {"hate": {"filtered": True,
                                                                     "severity": "high"}}}}})


def error_fallback_gateway(stub_factory, gateway_factory):
    small, large = stub_factory("small"), stub_factory("large")
    gw = gateway_factory(gateway_config(
        azure_dep("small", "small", small.base),
        deployment("large", "openai/gpt-4o", f"{large.base}/v1", "large",
                   params="\n      api_key: sk-test-0123456789"),
        workers=1, retries=2,
        router='  context_window_fallbacks: [{"small": ["large"]}]\n'
               '  content_policy_fallbacks: [{"small": ["large"]}]\n'))
    return small, large, gw


def test_context_window_and_content_policy_fallbacks(stub_factory, gateway_factory):
    small, large, gw = error_fallback_gateway(stub_factory, gateway_factory)
    for body in (CONTEXT_400, FILTER_400):
        small.set_faults({"status": 400, "body": body})
        before = len(small.requests())
        status, headers, data = post(gw, dict(CHAT, model="small"))
        assert status == 200 and "hello from gpt-4o" in data.decode(), data
        assert (headers["x-llmgate-deployment"], headers["x-llmgate-route"],
                headers["x-llmgate-attempts"]) == ("large", "fallback", "2")
        assert len(small.requests()) == before + 1, "a 400 is not retried in its group"


def test_other_400s_and_a_failing_error_fallback_pass_the_answer_on(stub_factory,
                                                                    gateway_factory):
    small, large, gw = error_fallback_gateway(stub_factory, gateway_factory)
    small.set_faults({"status": 400})
    status, headers, data = post(gw, dict(CHAT, model="small"))
    assert status == 400 and headers["x-llmgate-attempts"] == "1" and not large.requests()
    small.set_faults({"status": 400, "body": CONTEXT_400})
    large.set_faults({"status": 400, "body": CONTEXT_400})
    status, headers, data = post(gw, dict(CHAT, model="small"))
    assert status == 400 and error_of(data)["code"] == "context_length_exceeded", data


def test_probe_skips_unserved_and_uses_legacy_completions_where_that_is_all(stub_factory,
                                                                           tmp_path):
    stub = stub_factory("probe")
    cfg = tmp_path / "llmgate.yaml"
    cfg.write_text(model_config(
        deployment("claude-bedrock", "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                   stub.base, "bedrock"),
        deployment("instruct", "text-completion-openai/gpt-3.5-turbo-instruct",
                   f"{stub.base}/v1", "instruct", params="\n      api_key: sk-test-0123456789"),
        deployment("llama", "groq/llama-3.1-8b-instant", f"{stub.base}/v1", "groq",
                   params="\n      api_key: gsk-test-0123456789")))
    r = llmgatectl("probe", "-c", str(cfg), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bedrock: not served (bedrock/: needs its cloud's request signing" in r.stderr
    assert sorted(x["deployment"] for x in json.loads(r.stdout)["results"]) == ["groq",
                                                                                "instruct"]
    paths = sorted(q["path"] for q in stub.requests())
    assert paths == ["/v1/chat/completions", "/v1/completions"], paths
