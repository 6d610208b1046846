"""The global direct-Azure fallback end to end: real workers report, the
supervisor decides and broadcasts, and traffic moves (SPEC 7)."""
import json
import os
import signal
import time

import pytest

from conftest import Load
from helpers import (CHAT, azure_dep, ctl, ctl_result, gateway_config, openai_dep, post,
                     wait_for)


def config(primary, azure, cooldown="30s", workers=2, azure_version="2024-08-01-preview"):
    return gateway_config(
        openai_dep("gpt-4o", "litellm-proxy", primary.base, key="sk-test-primary-0123456789",
                   model="openai/gpt-4o"),
        azure_dep("gpt-4o-azure", "azure-direct", azure.base, api_version=azure_version),
        retries=0, fallbacks={"gpt-4o": ["gpt-4o-azure"]}, workers=workers,
        llmgate=f"""  fallback:
    window: 5s
    min_requests: 5
    failure_ratio: 0.5
    consecutive_failures: 3
    cooldown: {cooldown}
    probe_interval: 200ms
    recover_successes: 3
    report_interval: 100ms
""")


def group_state(gw):
    return ctl_result(gw, "status")["groups"][0]


def mode(gw):
    return group_state(gw)["mode"]


@pytest.fixture
def setup(stub_factory, gateway_factory):
    def make(**kw):
        primary = stub_factory("primary")
        azure = stub_factory("azure")
        gw = gateway_factory(config(primary, azure, **kw))
        wait_for(lambda: os.path.exists(gw.sock), what="control socket")
        return primary, azure, gw
    return make


def flip_and_measure(gw, load, fail_primary):
    """Makes the primary fail under load; returns seconds from the first failure
    to the last answer that did not come by direct-azure."""
    load.wait_sent(50)
    t0 = time.monotonic()
    fail_primary()
    wait_for(lambda: mode(gw) == "fallback", timeout=5, interval=0.05, what="fallback mode")
    # once every worker routes direct, answers keep coming by direct-azure only
    time.sleep(1.0)
    n = len(load.routes)
    load.wait_sent(load.sent + 40)
    after = [r for t, r in load.routes[n:]]
    assert after and all(r == "direct-azure" for r in after), after
    last_other = max((t for t, r in load.routes if t > t0 and r != "direct-azure"), default=t0)
    return last_other - t0


def test_primary_401_flips_to_direct_azure_without_failing_requests(setup):
    primary, azure, gw = setup()
    load = Load(gw.port, CHAT, threads=2, pause=0.04)  # about 50 requests/s
    flip = flip_and_measure(gw, load, lambda: primary.set_faults({"status": 401}))
    load.stop()
    print(f"\nflip (401): {flip * 1000:.0f} ms from the first primary failure to the last "
          f"worker routing direct; sent {load.sent}, failed {len(load.failures)}")
    assert flip < 2.0
    assert load.failures == [], load.failures[:3]
    state = group_state(gw)
    assert "auth" in state["reason"] and "litellm-proxy" in state["reason"]
    assert "direct-azure fallback on" in gw.logs()


def test_unreachable_primary_flips(setup):
    primary, azure, gw = setup()
    load = Load(gw.port, CHAT, threads=2, pause=0.04)
    flip = flip_and_measure(gw, load, primary.stop)
    load.stop()
    print(f"\nflip (refused): {flip * 1000:.0f} ms; sent {load.sent}, "
          f"failed {len(load.failures)}")
    assert flip < 2.0
    assert load.failures == [], load.failures[:3]
    assert "connect" in group_state(gw)["reason"]


def test_recovery_after_cooldown_and_probes(setup):
    primary, azure, gw = setup(cooldown="1s")
    load = Load(gw.port, CHAT, threads=2, pause=0.04)
    load.wait_sent(20)
    primary.set_faults({"status": 500})
    wait_for(lambda: mode(gw) == "fallback", timeout=5, what="fallback mode")
    primary.set_faults({})
    t = time.monotonic()
    wait_for(lambda: mode(gw) == "normal", timeout=15, interval=0.1, what="normal mode again")
    back = time.monotonic() - t
    time.sleep(0.3)  # the broadcast reaches every worker; requests in flight finish
    n = len(load.routes)
    load.wait_sent(load.sent + 20)
    load.stop()
    print(f"\nrecovery: normal {back * 1000:.0f} ms after the primary healed; "
          f"sent {load.sent}, failed {len(load.failures)}")
    assert load.failures == [], load.failures[:3]
    assert all(r == "primary" for _, r in load.routes[n:]), load.routes[n:]
    assert "probes of the primary succeeded" in group_state(gw)["reason"]


def test_both_failing_is_degraded_and_tries_both(setup):
    primary, azure, gw = setup()
    primary.set_faults({"status": 500})
    azure.set_faults({"status": 500})
    for _ in range(10):
        post(gw)
    wait_for(lambda: mode(gw) == "degraded", timeout=5, what="degraded mode")
    before_p, before_a = len(primary.requests()), len(azure.requests())
    status, headers, _ = post(gw)
    assert status >= 500
    assert headers["x-llmgate-attempts"] == "2"
    assert len(primary.requests()) == before_p + 1 and len(azure.requests()) == before_a + 1


def test_respawned_worker_and_reload_keep_the_mode(setup):
    primary, azure, gw = setup()
    r = ctl(gw, "fallback", "on", timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: mode(gw) == "fallback", timeout=5, what="forced fallback")
    old = gw.workers()
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: len(gw.workers()) == 2 and old[0] not in gw.workers(), timeout=5,
             what="respawn")
    routes = [post(gw)[1]["x-llmgate-route"] for _ in range(20)]
    assert set(routes) == {"direct-azure"}, routes
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "generation 2 serving" in gw.logs(), timeout=20, what="reload")
    routes = [post(gw)[1]["x-llmgate-route"] for _ in range(20)]
    assert set(routes) == {"direct-azure"}, routes
    assert mode(gw) == "fallback"
    assert group_state(gw)["reason"] == "forced on by the operator"


def test_responses_follow_the_global_fallback(setup):
    """POST /v1/responses goes where chat goes in the fallback mode: the direct-Azure group,
    its body's model the Azure deployment; a request naming a stored response does not (the
    response is where it was made)."""
    primary, azure, gw = setup(workers=1, azure_version="2025-04-01-preview")
    status, headers, body = gw.post("/v1/responses", {"model": "gpt-4o", "input": "hi"})
    assert status == 200 and headers["x-llmgate-route"] == "primary"
    made_on_primary = json.loads(body)["id"]
    r = ctl(gw, "fallback", "on", timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: mode(gw) == "fallback", timeout=5, what="forced fallback")
    status, headers, body = gw.post("/v1/responses", {"model": "gpt-4o", "input": "hi"})
    assert status == 200, body
    assert headers["x-llmgate-route"] == "direct-azure"
    seen = azure.requests()[-1]
    assert seen["path"] == "/openai/responses"
    assert seen["query"] == "api-version=2025-04-01-preview"
    assert json.loads(seen["body"])["model"] == "gpt-4o"
    status, headers, body = gw.post("/v1/responses", {
        "model": "gpt-4o", "input": "more", "previous_response_id": made_on_primary})
    assert status == 200, body
    assert headers["x-llmgate-deployment"] == "litellm-proxy"
