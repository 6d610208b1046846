"""The control socket and llmgatectl against a running daemon: every command
in table and JSON form, permissions, synchronous reload, misbehaving clients."""
import json
import os
import pwd
import socket
import stat

import pytest

from helpers import ctl, llmgatectl, openai_config, post, wait_for


@pytest.fixture
def daemon(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    wait_for(lambda: os.path.exists(gw.sock), what="control socket")

    def all_ready():
        r = ctl(gw, "status", json_out=True, timeout=30)
        return r.returncode == 0 and json.loads(r.stdout)["result"].get("workers_ready") == 2

    wait_for(all_ready, timeout=15, what="both workers ready")
    return gw


def test_status_table_and_json(daemon):
    r = ctl(daemon, "status")
    assert r.returncode == 0, r.stderr
    assert "generation 1 (2/2 workers ready)" in r.stdout
    assert "primary-gpt-4o" in r.stdout
    assert "sk-test-primary-0123456789" not in r.stdout
    assert "sk-…6789" in r.stdout
    r = ctl(daemon, "status", json_out=True)
    assert r.returncode == 0
    reply = json.loads(r.stdout)
    assert reply["ok"] is True
    status = reply["result"]
    assert status["generation"] == 1 and status["workers_ready"] == 2
    assert sorted(w["pid"] for w in status["workers"]) == sorted(daemon.workers())
    assert "sk-test-primary-0123456789" not in r.stdout


def test_workers_deployments_version_help(daemon):
    r = ctl(daemon, "workers")
    assert r.returncode == 0 and r.stdout.count("ready") == 2
    r = ctl(daemon, "deployments", json_out=True)
    deployments = json.loads(r.stdout)["result"]
    assert [b["id"] for b in deployments] == ["primary-gpt-4o"]
    assert deployments[0]["provider"] == "openai"
    r = ctl(daemon, "version")
    assert r.returncode == 0 and r.stdout.startswith("llmgated ")
    r = ctl(daemon, "help", json_out=True)
    names = [c["command"] for c in json.loads(r.stdout)["result"]]
    assert {"status", "workers", "deployments", "fallback", "reload", "log-level",
            "version", "help"} <= set(names)


def test_reload_good_and_bad(daemon):
    r = ctl(daemon, "reload")
    assert r.returncode == 0, r.stderr
    assert "generation 2 serving" in r.stdout
    assert post(daemon)[0] == 200
    with open(daemon.path, "a") as f:
        f.write("  workers: lots\n")
    r = ctl(daemon, "reload")
    assert r.returncode == 1
    assert "config has errors" in r.stderr
    assert f"{daemon.path}:" in r.stderr, "the errors come back with FILE:LINE:COL"
    r = ctl(daemon, "status", json_out=True)
    assert json.loads(r.stdout)["result"]["generation"] == 2


def test_log_level_and_fallback_override(daemon):
    r = ctl(daemon, "log-level", "debug")
    assert r.returncode == 0 and "debug" in r.stdout
    r = ctl(daemon, "log-level", "loud")
    assert r.returncode == 1
    r = ctl(daemon, "fallback", json_out=True)
    assert json.loads(r.stdout)["result"]["override"] == "auto"
    r = ctl(daemon, "fallback", "sideways")
    assert r.returncode == 1


def test_usage_and_connection_errors(daemon, workdir):
    assert ctl(daemon, "frobnicate").returncode == 2
    r = llmgatectl("status", sock=os.path.join(workdir, "absent.sock"))
    assert r.returncode == 2 and "cannot connect" in r.stderr


def test_mutating_commands_need_root_or_daemon_user(daemon):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    os.chmod(daemon.sock, 0o666)  # let an unrelated user reach the socket at all
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    # The daemon itself runs as 'nobody' when started as root without an llmgate
    # user, so use another unprivileged uid for the refused client.
    other = ("setpriv", "--reuid=65533", "--regid=65533", "--clear-groups")
    daemon_uid = os.stat(f"/proc/{daemon.pid}").st_uid
    client = other if daemon_uid == 65534 else nobody
    r = ctl(daemon, "status", wrapper=client)
    assert r.returncode == 0, r.stderr
    for args in (["reload"], ["fallback", "on"], ["log-level", "debug"]):
        r = ctl(daemon, *args, wrapper=client)
        assert r.returncode == 1, args
        assert "permission denied" in r.stderr
    assert "refused" in daemon.logs()


def test_a_socket_directory_it_creates_is_the_daemon_users(stub, gateway_factory):
    # without systemd's RuntimeDirectory=, llmgated creates the directory itself, and makes it
    # what systemd would: 0750 and the daemon user's, so that its group reaches the socket and
    # the daemon, no longer root, removes the socket when it stops
    if os.geteuid() != 0:
        pytest.skip("needs root to start a daemon that drops to another user")
    config = openai_config(stub.base, workers=1, extra="  user: nobody\n")
    gw = gateway_factory(config.replace("@DIR@/control.sock", "@DIR@/run/control.sock"))
    run = os.path.join(gw.dir, "run")
    sock = os.path.join(run, "control.sock")
    wait_for(lambda: os.path.exists(sock), what="the control socket")
    nobody = pwd.getpwnam("nobody")
    st = os.stat(run)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
        nobody.pw_uid, nobody.pw_gid, 0o750)
    assert os.stat(sock).st_uid == nobody.pw_uid
    r = llmgatectl("status", sock=sock)
    assert r.returncode == 0, r.stderr
    gw.stop()
    assert not os.path.exists(sock), "the daemon removed its socket"


def test_slow_and_flooding_clients_do_not_stall(daemon):
    slow = socket.socket(socket.AF_UNIX)
    slow.connect(daemon.sock)
    slow.sendall(b'{"command": "sta')  # and never finishes the line
    flood = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.sock)
        flood.append(s)
    try:
        assert post(daemon)[0] == 200
        for s in flood:
            s.close()
        wait_for(lambda: ctl(daemon, "version").returncode == 0, timeout=10,
                 what="control socket answering again")
        # garbage and an oversized line get an error, never a crash
        g = socket.socket(socket.AF_UNIX)
        g.connect(daemon.sock)
        g.sendall(b"this is not json\n")
        assert json.loads(g.makefile().readline())["ok"] is False
        g.close()
        big = socket.socket(socket.AF_UNIX)
        big.connect(daemon.sock)
        try:
            big.sendall(b"x" * (200 * 1024))
        except OSError:
            pass
        big.close()
        assert ctl(daemon, "status").returncode == 0
    finally:
        slow.close()
