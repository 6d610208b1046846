"""Client-facing API details: the gateway key in all three headers, and every
route and provider reaching the exact upstream URL, query and auth header."""
import json

import pytest

from helpers import CHAT, azure_dep, error_of, gateway_config, openai_dep, post

MASTER = "sk-gateway-master-0123456789"


def config(openai, azure, general=""):
    """gpt-4o on the openai stub; on the azure stub a deployment API (azure-chat), the v1
    API (azure-v1) and an Entra ID token (azure-entra)."""
    return gateway_config(
        openai_dep("gpt-4o", None, openai.base, key="sk-test-openai-0123456789"),
        azure_dep("azure-chat", None, azure.base + "/", name="chat-deploy"),
        azure_dep("azure-v1", None, azure.base, api_version="v1"),
        azure_dep("azure-entra", None, azure.base, key=None, name="entra-deploy",
                  api_version="2024-10-21",
                  params="\n      azure_ad_token: entra-token-0123456789"),
        sections=general)


@pytest.fixture
def upstreams(stub_factory):
    return stub_factory("openai"), stub_factory("azure")


def test_master_key_in_each_header(upstreams, gateway_factory):
    openai, azure = upstreams
    gw = gateway_factory(config(openai, azure,
                                general=f"general_settings:\n  master_key: {MASTER}\n"))
    for headers in ({"Authorization": f"Bearer {MASTER}"}, {"api-key": MASTER},
                    {"x-api-key": MASTER}):
        status, _, body = post(gw, CHAT, headers)
        assert status == 200, (headers, body)
        seen = openai.requests()[-1]["headers"]
        assert seen["authorization"] == "Bearer sk-test-openai-0123456789"
        assert MASTER not in json.dumps(seen), "the client's key went upstream"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"api-key": MASTER + "x"},
                    {"Authorization": MASTER}):
        status, _, body = post(gw, CHAT, headers)
        assert status == 401, headers
        assert error_of(body)["code"] == "invalid_api_key"
        assert MASTER not in body.decode()
    assert gw.get("/health/liveliness")[0] == 200, "health stays open"
    assert gw.get("/health/readiness")[0] == 200


@pytest.mark.parametrize("path,op", [
    ("/v1/chat/completions", "chat/completions"), ("/chat/completions", "chat/completions"),
    ("/v1/completions", "completions"), ("/completions", "completions"),
    ("/v1/embeddings", "embeddings"), ("/embeddings", "embeddings"),
])
def test_openai_routes_reach_the_upstream_path(upstreams, gateway_factory, path, op):
    openai, azure = upstreams
    gw = gateway_factory(config(openai, azure))
    body = dict(CHAT, prompt="hi", input="hi")
    status, headers, _ = gw.post(path, body)
    assert status == 200
    seen = openai.requests()[-1]
    assert seen["path"] == f"/v1/{op}"
    assert json.loads(seen["body"])["model"] == "gpt-4o-mini"
    assert seen["headers"]["authorization"] == "Bearer sk-test-openai-0123456789"


@pytest.mark.parametrize("op", ["chat/completions", "completions", "embeddings"])
def test_azure_deployment_urls(upstreams, gateway_factory, op):
    openai, azure = upstreams
    gw = gateway_factory(config(openai, azure))
    status, headers, _ = gw.post(f"/v1/{op}", dict(CHAT, model="azure-chat", input="x",
                                                   prompt="x"))
    assert status == 200
    seen = azure.requests()[-1]
    assert seen["path"] == f"/openai/deployments/chat-deploy/{op}"
    assert seen["query"] == "api-version=2024-08-01-preview"
    assert seen["headers"]["api-key"] == "azure-test-key-0123456789"
    assert "authorization" not in seen["headers"]


def test_azure_v1_api_and_entra_token(upstreams, gateway_factory):
    openai, azure = upstreams
    gw = gateway_factory(config(openai, azure))
    assert post(gw, dict(CHAT, model="azure-v1"))[0] == 200
    seen = azure.requests()[-1]
    assert seen["path"] == "/openai/v1/chat/completions"
    assert post(gw, dict(CHAT, model="azure-entra"))[0] == 200
    seen = azure.requests()[-1]
    assert seen["path"] == "/openai/deployments/entra-deploy/chat/completions"
    assert seen["headers"]["authorization"] == "Bearer entra-token-0123456789"
    assert "api-key" not in seen["headers"]


def test_azure_sdk_ingress_names_the_model_group(upstreams, gateway_factory):
    openai, azure = upstreams
    gw = gateway_factory(config(openai, azure))
    status, headers, _ = gw.post(
        "/openai/deployments/azure-chat/chat/completions?api-version=2024-06-01",
        {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 200
    assert azure.requests()[-1]["path"] == "/openai/deployments/chat-deploy/chat/completions"
    status, _, body = gw.post("/openai/deployments/nope/chat/completions?api-version=x",
                              {"messages": []})
    assert status == 404 and "'nope'" in json.loads(body)["error"]["message"]
