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


def media_config(openai_base, azure_base, version):
    """The media groups on the OpenAI-style stub (OPENAI_BASE) or, when AZURE_BASE, on Azure
    deployments of API VERSION; the group names differ from the upstream models."""
    from helpers import azure_dep as az
    if azure_base:
        deps = [az("whisper", "az-whisper", azure_base, name="whisper-deploy",
                   api_version=version),
                az("tts", "az-tts", azure_base, name="tts-deploy", api_version=version),
                az("painter", "az-img", azure_base, name="img-deploy", api_version=version)]
    else:
        key = "sk-test-primary-0123456789"
        deps = [openai_dep("whisper", "whisper-dep", openai_base, key=key,
                           model="openai/whisper-1"),
                openai_dep("tts", "tts-dep", openai_base, key=key, model="openai/tts-1"),
                openai_dep("painter", "image-dep", openai_base, key=key,
                           model="openai/gpt-image-1")]
    # Azure OpenAI has no moderations: that group is OpenAI-style on the same stub
    deps.append(openai_dep("omni-mod", "mod-dep", openai_base, key="sk-test-mod-0123456789",
                           model="openai/omni-moderation-latest"))
    return gateway_config(*deps, workers=1, llmgate="  moderation_model: omni-mod\n")


def silence_wav(path, seconds):
    n = 16000 * 2 * seconds
    data = (b"RIFF" + (36 + n).to_bytes(4, "little") + b"WAVEfmt " +
            bytes.fromhex("1000000001000100803e0000007d000002001000") + b"data" +
            n.to_bytes(4, "little") + bytes(n))
    with open(path, "wb") as f:
        f.write(data)
    h = 14695981039346656037
    for b in data[:44]:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    for _ in range(n):  # zeros: xor changes nothing
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return len(data), h


@pytest.mark.parametrize("upstream", ["openai", "azure-v1", "azure-dated"])
@pytest.mark.parametrize("client", ["openai", "v1", "azure"])
def test_media_sdk(stub_factory, gateway_factory, tmp_path, upstream, client):
    """Every media route through each client style into each upstream style, with a real
    audio file of a few MB (a WAV of silence) and an image edit with a mask."""
    stub = stub_factory("azure" if upstream != "openai" else "openai")
    version = {"azure-v1": "v1", "azure-dated": "2025-04-01-preview"}.get(upstream)
    gw = gateway_factory(media_config(stub.base, stub.base if version else None, version))
    audio = str(tmp_path / "speech.wav")
    size, digest = silence_wav(audio, 100)  # 3.2 MB
    r = subprocess.run([NODE, os.path.join(SDK_DIR, "sdk_media.mjs"), client,
                        f"http://127.0.0.1:{gw.port}", audio, "client-key"],
                       capture_output=True, text=True, timeout=120, cwd=SDK_DIR)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    names = ({"whisper": "whisper-deploy", "tts": "tts-deploy", "painter": "img-deploy"}
             if version else
             {"whisper": "whisper-1", "tts": "tts-1", "painter": "gpt-image-1"})
    assert f"{names['painter']} drew a lighthouse" in out["generate"]
    assert (f"{names['painter']} edited photo.png (2004 bytes) with mask mask.png (504 bytes): "
            "add a hat") in out["edit"]
    assert out["speech"]["type"] == "audio/mpeg" and out["speech"]["bytes"] == 16384
    assert out["speech"]["head"].startswith(f"ID3stub {stub.name}: {names['tts']} said hello")
    heard = f"{names['whisper']} heard {size} bytes of speech.wav (fnv1a {digest:016x})"
    if upstream == "azure-dated":
        heard = heard.replace(names["whisper"], "whisper-deploy")
    for fmt, text in out["transcriptions"].items():
        assert heard in text, (fmt, text)
    assert out["transcriptions"]["vtt"].startswith("WEBVTT")
    assert out["transcriptions"]["srt"].startswith("1\n00:00:00,000")
    assert "translated" in out["translation"]
    if client != "azure":
        assert out["moderation"] == {"results": 2, "model": "omni-moderation-latest"}
        assert out["moderation_default"] == {"results": 1, "model": "omni-moderation-latest"}
    # the client's key stayed with the gateway
    for seen in stub.requests():
        assert "client-key" not in json.dumps(seen["headers"])
