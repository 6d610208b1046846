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
