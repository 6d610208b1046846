"""A client no one here wrote: the official OpenAI Node SDK (tests/sdk), through
`OpenAI` with baseURL and through `AzureOpenAI` on the Azure-SDK ingress."""
import json
import os
import shutil
import subprocess

import pytest

from helpers import ROOT, azure_dep, deployment, gateway_config, openai_dep

SDK_DIR = os.path.join(ROOT, "tests", "sdk")
NODE = shutil.which("node")


def sdk(mode, port, model, key="client-key"):
    r = subprocess.run([NODE, os.path.join(SDK_DIR, "sdk_check.mjs"), mode,
                        f"http://127.0.0.1:{port}", model, key],
                       capture_output=True, text=True, timeout=60, cwd=SDK_DIR)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def need_sdk():
    if not NODE or not os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")):
        pytest.fail("the OpenAI SDK is not installed: scripts/test runs npm ci in tests/sdk")


def config(openai_base, azure_base):
    return gateway_config(
        openai_dep("gpt-4o", None, openai_base, key="sk-test-primary-0123456789",
                   model="openai/gpt-4o"),
        azure_dep("gpt-4o-azure", None, azure_base))


def test_openai_sdk_plain_and_stream(stub_factory, gateway_factory):
    openai = stub_factory("openai")
    azure = stub_factory("azure")
    gw = gateway_factory(config(openai.base, azure.base))
    out = sdk("openai", gw.port, "gpt-4o")
    assert "error" not in out, out
    assert out["plain"]["content"].startswith("stub openai:")
    assert out["plain"]["route"] == "primary"
    assert out["stream"]["chunks"] >= 2
    assert out["stream"]["content"] == out["plain"]["content"]
    assert out["unknown"]["status"] == 404
    # the SDK's key stayed with the gateway; the stub saw the deployment's key
    assert all(r["headers"].get("authorization") == "Bearer sk-test-primary-0123456789"
               for r in openai.requests())


def test_azure_sdk_through_the_ingress(stub_factory, gateway_factory):
    openai = stub_factory("openai")
    azure = stub_factory("azure")
    gw = gateway_factory(config(openai.base, azure.base))
    out = sdk("azure", gw.port, "gpt-4o-azure")
    assert "error" not in out, out
    assert out["plain"]["content"].startswith("stub azure:")
    assert out["stream"]["content"] == out["plain"]["content"]
    seen = azure.requests()[-1]
    assert seen["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert "api-version=2024-08-01-preview" in seen["query"]
    assert seen["headers"]["api-key"] == "azure-test-key-0123456789"


def sdk_responses(mode, port, model, key="client-key"):
    r = subprocess.run([NODE, os.path.join(SDK_DIR, "sdk_responses.mjs"), mode,
                        f"http://127.0.0.1:{port}", model, key],
                       capture_output=True, text=True, timeout=60, cwd=SDK_DIR)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("upstream", ["openai", "azure-v1", "azure-dated"])
@pytest.mark.parametrize("client", ["openai", "azure", "v1"])
def test_responses_sdk(stub_factory, gateway_factory, upstream, client):
    """responses.create plain and streamed, retrieve, inputItems.list, previous_response_id,
    cancel and del through each client style into each upstream style; the group has two
    deployments on two stubs, so the follow-ups must find the one that holds the response."""
    stubs = [stub_factory(f"s{i}") for i in range(2)]
    if upstream == "openai":
        deps = [openai_dep("codex", f"d{i}", s.base, model="openai/gpt-5-codex")
                for i, s in enumerate(stubs)]
        name = "gpt-5-codex"
    else:
        version = "v1" if upstream == "azure-v1" else "2025-04-01-preview"
        deps = [azure_dep("codex", f"d{i}", s.base, api_version=version, name=f"codex-{i}")
                for i, s in enumerate(stubs)]
        name = None
    gw = gateway_factory(gateway_config(*deps, workers=1))
    out = sdk_responses(client, gw.port, "codex")
    assert "error" not in out, out
    holder = int(out["plain"]["deployment"][1])
    model = name or f"codex-{holder}"
    assert out["plain"]["status"] == "completed"
    assert out["plain"]["text"] == f"stub s{holder}: hello from {model}"
    assert out["stream"]["types"][0] == "response.created"
    assert out["stream"]["types"][-1] == "response.completed"
    assert out["stream"]["completed"] and out["stream"]["text"].startswith("stub s")
    assert out["retrieve"] == {"id": out["plain"]["id"], "text": out["plain"]["text"]}
    assert out["input_items"] == ["hello"]
    assert out["follow"] == {"previous": out["plain"]["id"], "status": "completed"}
    assert out["cancel"] == {"queued": "queued", "status": "cancelled"}
    assert out["after_delete"] == {"status": 404}
    seen = [r["path"] for s in stubs for r in s.requests()]
    prefix = {"openai": "/v1/responses", "azure-v1": "/openai/v1/responses",
              "azure-dated": "/openai/responses"}[upstream]
    assert all(p.startswith(prefix) for p in seen), seen


def test_openai_sdk_to_ollama_and_groq_style_deployments(stub_factory, gateway_factory):
    """The SDK's requests reach an ollama/ deployment (api_base without /v1, which the
    provider's rule adds, no key) and a groq/ one (Bearer key), each with the prefix
    stripped from the model the upstream sees."""
    stub = stub_factory("wire")
    gw = gateway_factory(gateway_config(
        deployment("llama-local", "ollama/llama3.1", stub.base),
        deployment("llama-fast", "groq/llama-3.1-8b-instant", f"{stub.base}/v1",
                   params="\n      api_key: gsk-test-0123456789")))
    for group, upstream, auth in (("llama-local", "llama3.1", None),
                                  ("llama-fast", "llama-3.1-8b-instant",
                                   "Bearer gsk-test-0123456789")):
        out = sdk("openai", gw.port, group)
        assert "error" not in out, out
        assert out["plain"]["content"] == f"stub wire: hello from {upstream}"
        assert out["stream"]["content"] == out["plain"]["content"]
        seen = [r for r in stub.requests() if upstream in r["body"]]
        assert len(seen) == 2 and all(r["path"] == "/v1/chat/completions" for r in seen)
        assert all(r["headers"].get("authorization") == auth for r in seen), seen
