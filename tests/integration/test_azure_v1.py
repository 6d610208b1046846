"""Azure's v1 API names the deployment in the body: for every op on a v1 deployment the
upstream body's `model` is the deployment name, rewritten from the client's group name or
inserted when the Azure-SDK ingress named the group in its path. The stub, like Azure, answers
DeploymentNotFound for a v1 body or a deployments-path URL that names no deployment it has."""
import json

import pytest

from helpers import CHAT, azure_dep, gateway_config, request

OPS = ["chat/completions", "completions", "embeddings"]
BODY = dict(CHAT, prompt="hi", input="hi")


@pytest.fixture
def azure(stub_factory):
    return stub_factory("azure", ["--require-key", "azure-test-key-0123456789"])


def v1_config(azure):
    """Group gpt-4o on the v1 deployment my-gpt4o-deployment: the two names differ."""
    return gateway_config(azure_dep("gpt-4o", "v1-dep", azure.base, api_version="v1",
                                    name="my-gpt4o-deployment"), workers=1)


@pytest.mark.parametrize("op", OPS)
def test_v1_body_names_the_deployment(azure, gateway_factory, op):
    gw = gateway_factory(v1_config(azure))
    status, _, body = gw.post(f"/v1/{op}", BODY)
    assert status == 200, body
    seen = azure.requests()[-1]
    assert seen["path"] == f"/openai/v1/{op}"
    assert json.loads(seen["body"])["model"] == "my-gpt4o-deployment"


@pytest.mark.parametrize("op", OPS)
def test_v1_body_from_the_azure_sdk_ingress_gets_the_deployment(azure, gateway_factory, op):
    gw = gateway_factory(v1_config(azure))
    body = {k: v for k, v in BODY.items() if k != "model"}
    status, _, answer = gw.post(f"/openai/deployments/gpt-4o/{op}?api-version=2024-10-21",
                                body)
    assert status == 200, answer
    sent = json.loads(azure.requests()[-1]["body"])
    assert sent["model"] == "my-gpt4o-deployment"
    assert sent["messages"] == body["messages"], "the rest of the body is the client's"


def azure_code(body):
    return json.loads(body)["error"]["code"]


def test_stub_refuses_an_unknown_deployment_like_azure(azure):
    azure.add_deployments(["real"])
    headers = {"api-key": "azure-test-key-0123456789"}
    status, _, body = request(azure.port, "POST", "/openai/v1/chat/completions",
                              dict(CHAT, model="gpt-4o"), headers)
    assert status == 404 and azure_code(body) == "DeploymentNotFound"
    status, _, body = request(azure.port, "POST",
                              "/openai/deployments/gpt-4o/chat/completions"
                              "?api-version=2024-10-21", CHAT, headers)
    assert status == 404 and azure_code(body) == "DeploymentNotFound"
    assert request(azure.port, "POST", "/openai/v1/chat/completions",
                   dict(CHAT, model="real"), headers)[0] == 200
    assert request(azure.port, "POST", "/openai/deployments/real/chat/completions"
                   "?api-version=2024-10-21", CHAT, headers)[0] == 200
