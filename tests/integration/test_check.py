"""`llmgated --check`: FILE:LINE:COL diagnostics, exit status, no secrets."""
import os
import subprocess

from helpers import FIXTURES, LLMGATED

SEED = os.path.join(FIXTURES, "seed.yaml")


def check(path, env_extra=None, env_drop=()):
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env.update(env_extra or {})
    return subprocess.run([LLMGATED, "--check", "-c", path], capture_output=True, text=True,
                          env=env, timeout=30)


def test_seed_config_with_keys_set():
    keys = {"AZURE_OPENAI_API_KEY": "azkey-0123456789abcdef5555",
            "OPENAI_API_KEY": "sk-proj-0123456789abcdef7777"}
    r = check(SEED, keys)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert f"{SEED}:7:16: warning:" in out, out
    assert "${AZURE_OPENAI_API_KEY}" in out and "os.environ/AZURE_OPENAI_API_KEY" in out
    assert f"{SEED}:8:22: warning:" in out, out
    assert "gpt-4o-2024-08-06" in out
    for secret in keys.values():
        assert secret not in out, "a secret leaked into --check output"


def test_seed_config_with_azure_key_unset():
    r = check(SEED, {"OPENAI_API_KEY": "sk-proj-0123456789abcdef7777"},
              env_drop=("AZURE_OPENAI_API_KEY",))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    errors = [l for l in out.splitlines() if ": error:" in l]
    assert errors, out
    assert any("AZURE_OPENAI_API_KEY" in l and l.startswith(f"{SEED}:") for l in errors), out


def test_missing_file_is_an_error(tmp_path):
    r = check(str(tmp_path / "absent.yaml"))
    assert r.returncode == 1
    assert "absent.yaml" in r.stdout + r.stderr


def test_help_and_version():
    r = subprocess.run([LLMGATED, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--check" in r.stdout
    r = subprocess.run([LLMGATED, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("llmgated ")
    r = subprocess.run([LLMGATED, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
