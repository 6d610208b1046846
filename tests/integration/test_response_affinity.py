"""The shared response-id table as the supervisor runs it (issue 16): mapped at start
with llmgate.response_affinity_entries, shown in /metrics (size and counters, read by the
supervisor straight from the shared table), off with 0, kept through a reload that asks
for another size (a restart is needed: the reload warns). Which deployment a follow-up
reaches is tested with the /v1/responses routes that use the table."""
import os
import subprocess

from helpers import LLMGATED, ctl, free_port, gateway_config, openai_dep, wait_for
from test_metrics import scrape, value

FAMILIES = {
    "llmgate_response_affinity_entries": "gauge",
    "llmgate_response_affinity_capacity": "gauge",
    "llmgate_response_affinity_lookups_total": "counter",
    "llmgate_response_affinity_learned_total": "counter",
    "llmgate_response_affinity_evictions_total": "counter",
}


def config(base, admin, entries=None):
    extra = f"  admin_listen: 127.0.0.1:{admin}\n"
    if entries is not None:
        extra += f"  response_affinity_entries: {entries}\n"
    return gateway_config(openai_dep("gpt-4o", "dep-a", base), workers=2, llmgate=extra)


def test_table_in_metrics_and_kept_through_reload(stub, gateway_factory):
    admin = free_port()
    gw = gateway_factory(config(stub.base, admin))
    _, fams = scrape(admin)
    for name, kind in FAMILIES.items():
        assert fams[name]["type"] == kind, name
    assert value(fams, "llmgate_response_affinity_capacity") == 65536  # the default
    assert value(fams, "llmgate_response_affinity_entries") == 0
    assert value(fams, "llmgate_response_affinity_lookups_total", result="hit") == 0
    assert value(fams, "llmgate_response_affinity_lookups_total", result="miss") == 0
    assert value(fams, "llmgate_response_affinity_learned_total") == 0
    assert value(fams, "llmgate_response_affinity_evictions_total") == 0

    gw.write_config(config(stub.base, admin, entries=1000))
    r = ctl(gw, "reload", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: value(scrape(admin)[1], "llmgate_generation") == 2, timeout=10,
             what="generation 2")
    assert ("llmgate.response_affinity_entries changed to 1000; it needs a restart, "
            "keeping 65536") in gw.logs()
    assert value(scrape(admin)[1], "llmgate_response_affinity_capacity") == 65536


def test_table_off(stub, gateway_factory):
    admin = free_port()
    gw = gateway_factory(config(stub.base, admin, entries=0))
    fams = scrape(admin)[1]
    assert value(fams, "llmgate_response_affinity_capacity") == 0
    assert value(fams, "llmgate_response_affinity_entries") == 0


def test_size_checked(stub, gateway_factory, workdir):
    path = os.path.join(workdir, "big.yaml")
    with open(path, "w") as f:
        f.write(config(stub.base, free_port(), entries=2000000)
                .replace("@PORT@", str(free_port())).replace("@DIR@", workdir))
    r = subprocess.run([LLMGATED, "--check", "-c", path], capture_output=True, text=True)
    assert r.returncode == 1
    assert "llmgate.response_affinity_entries must be between 0 and 1048576, not 2000000" \
        in r.stdout + r.stderr
