"""Supervisor lifecycle under real load: worker crashes, zero-drop reloads,
broken reloads, graceful stop, sd_notify, socket activation, supervisor death."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import Load
from helpers import (CHAT, LLMGATED, alive, ctl_result, free_port, openai_config, post,
                     request, wait_for)


def two_workers(gw):
    return wait_for(lambda: gw.workers() if len(gw.workers()) == 2 else None,
                    what="2 workers")


def test_killed_worker_respawns_within_a_second_under_load(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = two_workers(gw)
    load = Load(gw.port, CHAT, threads=4)
    load.wait_sent(100)
    killed_at = time.monotonic()
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(gw.workers()) == 2 and workers[0] not in gw.workers(),
             timeout=5, interval=0.01, what="a replacement worker")
    respawn = time.monotonic() - killed_at
    sent_at_respawn = load.sent
    load.wait_sent(sent_at_respawn + 200)
    load.stop()
    print(f"\nkill test: sent {load.sent}, failed {len(load.failures)}, "
          f"respawn {respawn * 1000:.0f} ms")
    assert respawn < 1.0, f"respawn took {respawn:.2f}s"
    # Only requests held by the killed worker may fail: at most one per client thread.
    assert len(load.failures) <= 4, load.failures
    late = [f for f in load.failures if f[0] > killed_at + 1.0]
    assert not late, f"failures after the respawn: {late}"
    assert "killed by signal 9" in gw.logs()


def test_five_reloads_under_load_lose_nothing(stub_factory, gateway_factory):
    first = stub_factory("first")
    second = stub_factory("second")
    gw = gateway_factory(openai_config(first.base, workers=2))
    load = Load(gw.port, CHAT, threads=4)
    load.wait_sent(50)
    for i in range(5):
        if i == 3:  # one reload changes model_list: traffic moves to the second stub
            gw.write_config(openai_config(second.base, workers=2))
        gw.proc.send_signal(signal.SIGHUP)
        gen = i + 2
        wait_for(lambda: f"reload: generation {gen} serving" in gw.logs(), timeout=20,
                 what=f"generation {gen} serving")
        load.wait_sent(load.sent + 30)
    load.wait_sent(load.sent + 100)
    load.stop()
    print(f"\nreload test: sent {load.sent}, failed {len(load.failures)}")
    assert load.failures == [], load.failures[:5]
    assert load.sent >= 300
    status, _, body = post(gw)
    assert status == 200 and "stub second:" in body.decode()
    assert "stub second:" in load.bodies[-1].decode(), "responses switched to the new config"
    wait_for(lambda: len(gw.workers()) == 2, timeout=10, what="old generations gone")


def test_broken_reload_keeps_serving(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = sorted(two_workers(gw))
    with open(gw.path, "a") as f:
        f.write("  fallback:\n    mode: sideways\n")  # not on|off|auto
    with open(gw.path) as f:
        broken_line = len(f.read().splitlines())
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in gw.logs(), timeout=10, what="reload failure logged")
    logs = gw.logs()
    assert f"{gw.path}:{broken_line}:" in logs, logs
    assert sorted(gw.workers()) == workers, "the running generation was not touched"
    assert "generation 2" not in logs.split("reload failed")[0].split("reload: loading")[-1]
    assert post(gw)[0] == 200


def test_stream_in_flight_survives_reload(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=1))
    import threading
    result = {}

    def long_stream():
        body = dict(CHAT, stream=True, x_stub={"chunks": 20, "chunk_delay_ms": 100})
        result["r"] = request(gw.port, "POST", "/v1/chat/completions", body, timeout=30)

    t = threading.Thread(target=long_stream)
    t.start()
    time.sleep(0.5)
    gw.proc.send_signal(signal.SIGHUP)
    t.join(timeout=30)
    status, _, body = result["r"]
    assert status == 200
    events = [l for l in body.decode().split("\n\n") if l.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert len(events) >= 21
    assert "reload: generation 2 serving" in gw.logs()


def ready_workers(gw):
    """GW's two workers once both said READY, so past their start-up (a worker takes
    its scheduling policy before it says READY)."""
    wait_for(lambda: ctl_result(gw, "status").get("workers_ready") == 2, timeout=15,
             what="both workers ready")
    return two_workers(gw)


def test_workers_run_sched_batch_until_a_reload_says_inherit(stub, gateway_factory):
    """llmgate.cpu_scheduling_policy: batch (the default) puts each worker,
    not the supervisor, under SCHED_BATCH; inherit, through a reload, gives the
    new generation the supervisor's policy."""
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = ready_workers(gw)
    assert [os.sched_getscheduler(w) for w in workers] == [os.SCHED_BATCH] * 2
    assert os.sched_getscheduler(gw.pid) == os.SCHED_OTHER
    assert post(gw)[0] == 200
    gw.write_config(openai_config(stub.base, workers=2,
                                  extra="  cpu_scheduling_policy: inherit\n"))
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload: generation 2 serving" in gw.logs(), timeout=20,
             what="generation 2 serving")
    new = wait_for(lambda: [w for w in gw.workers() if w not in workers] or None,
                   what="generation 2's workers")
    assert len(new) == 2 and all(os.sched_getscheduler(w) == os.SCHED_OTHER for w in new)
    assert post(gw)[0] == 200
    assert "SCHED_BATCH" not in gw.logs()  # no warning: the switch worked


def test_a_policy_llmgated_was_started_with_is_kept(stub, gateway_factory):
    """batch switches SCHED_OTHER only: started under another policy (here SCHED_IDLE,
    as chrt -i or systemd's CPUSchedulingPolicy=idle would), the workers keep it."""
    gw = gateway_factory(openai_config(stub.base, workers=2), wrapper=("chrt", "-i", "0"))
    workers = ready_workers(gw)  # past the point where a worker would have switched
    assert [os.sched_getscheduler(p) for p in [gw.pid, *workers]] == [os.SCHED_IDLE] * 3
    assert post(gw)[0] == 200
    assert "SCHED_BATCH" not in gw.logs()  # not even tried (unprivileged, it would fail)


def test_sigterm_under_load_finishes_in_flight(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = two_workers(gw)
    import threading
    results = []

    def slow_request():
        body = dict(CHAT, x_stub={"delay_ms": 800})
        try:
            results.append(request(gw.port, "POST", "/v1/chat/completions", body,
                                   timeout=20)[0])
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))

    threads = [threading.Thread(target=slow_request) for _ in range(6)]
    for t in threads:
        t.start()
    wait_for(lambda: len(stub.requests()) >= 6, what="requests in flight at the stub")
    gw.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert gw.proc.wait(timeout=20) == 0, gw.logs()
    print(f"\nsigterm test: sent 6 in flight, failed {sum(1 for r in results if r != 200)}")
    assert results == [200] * 6, results
    assert not any(alive(w) for w in workers)


def fake_notify_socket(workdir, timeout):
    """A datagram socket standing in for systemd's NOTIFY_SOCKET (not PID 1 here)."""
    path = os.path.join(workdir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o777)  # the daemon may have dropped to another user
    sock.settimeout(timeout)
    return path, sock


def test_sd_notify_sequence(stub, gateway_factory, workdir):
    path, sock = fake_notify_socket(workdir, 20)
    try:
        gw = gateway_factory(openai_config(stub.base, workers=2),
                             env={"NOTIFY_SOCKET": path})
        messages = []

        def until(pred):
            while True:
                m = sock.recv(4096).decode()
                messages.append(m)
                if pred(m):
                    return

        until(lambda m: "READY=1" in m)
        gw.proc.send_signal(signal.SIGHUP)
        until(lambda m: "READY=1" in m)
        gw.proc.send_signal(signal.SIGTERM)
        until(lambda m: "STOPPING=1" in m)
        assert gw.proc.wait(timeout=20) == 0
    finally:
        sock.close()
    order = [k for m in messages for k in ("READY=1", "RELOADING=1", "STOPPING=1")
             if k in m.split("\n")]
    assert order == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], messages
    reloading = next(m for m in messages if "RELOADING=1" in m)
    assert "MONOTONIC_USEC=" in reloading
    assert any(m.startswith("STATUS=generation 2, 2/2 workers ready") for m in messages), messages


def test_socket_activation(stub, workdir):
    port = free_port()
    cfg = os.path.join(workdir, "llmgate.yaml")
    with open(cfg, "w") as f:
        # listen names another port: the activated socket must win
        f.write(openai_config(stub.base, workers=2).replace("@PORT@", str(free_port()))
                .replace("@DIR@", workdir))
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                             LLMGATED, "-c", cfg], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return request(port, "GET", "/health/liveliness", timeout=1)[0] == 200
            except OSError:
                return False
        wait_for(up, timeout=15, what="the activated socket to serve")
        status, _, body = request(port, "POST", "/v1/chat/completions", CHAT)
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, out
    assert "passed by systemd" in out


def test_supervisor_sigkill_takes_workers_down(stub, gateway_factory):
    gw = gateway_factory(openai_config(stub.base, workers=2))
    workers = two_workers(gw)
    os.kill(gw.pid, signal.SIGKILL)
    gw.proc.wait(timeout=5)
    wait_for(lambda: not any(alive(w) for w in workers), timeout=1.0, interval=0.01,
             what="workers to exit after the supervisor died")


def proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("Uid:")).split()[2])


def test_root_binds_then_drops_to_the_configured_user(stub, gateway_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    gw = gateway_factory(openai_config(stub.base, workers=2, extra="  user: nobody\n"))
    workers = two_workers(gw)
    assert proc_uid(gw.pid) == 65534
    assert all(proc_uid(w) == 65534 for w in workers)
    assert post(gw)[0] == 200


def test_user_root_keeps_root_with_a_warning(stub, gateway_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    gw = gateway_factory(openai_config(stub.base, workers=1, extra="  user: root\n"))
    assert proc_uid(gw.pid) == 0
    assert "running as root" in gw.logs()


def test_control_socket_of_a_live_daemon_is_refused(stub, gateway_factory, workdir):
    first = gateway_factory(openai_config(stub.base, workers=1))
    cfg = os.path.join(workdir, "second.yaml")
    with open(cfg, "w") as f:
        f.write(openai_config(stub.base, workers=1).replace("@PORT@", str(free_port()))
                .replace("@DIR@", first.dir))
    r = subprocess.run([LLMGATED, "-c", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "in use by a running llmgated" in r.stderr
    assert post(first)[0] == 200


def test_stale_control_socket_is_replaced_and_a_file_is_not_touched(stub, workdir):
    sock_path = os.path.join(workdir, "control.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock_path)
    stale.close()  # a socket file nobody listens on: what a crashed daemon leaves
    cfg = os.path.join(workdir, "llmgate.yaml")
    with open(cfg, "w") as f:
        f.write(openai_config(stub.base, workers=1).replace("@PORT@", str(free_port()))
                .replace("@DIR@", workdir))
    proc = subprocess.Popen([LLMGATED, "-c", cfg], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: _connects(sock_path), timeout=15, what="the new control socket")
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
    assert "replaced the stale control socket" in out
    with open(sock_path + ".file", "w") as f:
        f.write("not a socket")
    with open(cfg, "a") as f:
        f.write(f"  control_socket: {sock_path}.file\n")
    r = subprocess.run([LLMGATED, "-c", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "is not a socket" in r.stderr
    with open(sock_path + ".file") as f:
        assert f.read() == "not a socket"


def _connects(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_watchdog_pings_while_workers_answer(stub, gateway_factory, workdir):
    path, sock = fake_notify_socket(workdir, 10)
    try:
        gateway_factory(openai_config(stub.base, workers=2),
                        env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and seen.count("WATCHDOG=1") < 2:
            seen += sock.recv(4096).decode().split("\n")
    finally:
        sock.close()
    assert seen.count("WATCHDOG=1") >= 2, seen


def test_sigterm_right_after_start(stub, gateway_factory):
    """Workers told to stop before they even started must still stop promptly."""
    for _ in range(3):
        gw = gateway_factory(openai_config(stub.base, workers=4))
        t = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=15) == 0, gw.logs()
        assert time.monotonic() - t < 5, "a worker waited for the drain timeout"


def test_reload_while_the_first_generation_starts_is_not_lost(stub_factory, workdir):
    """A SIGHUP that arrives before the first generation serves (4 workers
    still starting) is queued and runs once it serves: the new config wins."""
    first, second = stub_factory("first"), stub_factory("second")
    port = free_port()
    path = os.path.join(workdir, "llmgate.yaml")
    log_path = os.path.join(workdir, "llmgated.log")

    def write(base):
        with open(path, "w") as f:
            f.write(openai_config(base, workers=4).replace("@PORT@", str(port))
                    .replace("@DIR@", workdir))

    write(first.base)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([LLMGATED, "-c", path], stdout=log, stderr=subprocess.STDOUT)
    try:
        def logs():
            with open(log_path) as f:
                return f.read()

        # "starting" is logged once the signals are read, before any worker forks.
        wait_for(lambda: "starting: 4 workers" in logs(), timeout=15, interval=0.001,
                 what="the supervisor to start")
        write(second.base)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload: generation 2 serving" in logs(), timeout=20,
                 what="the reload to be served:\n" + logs())
        # The new config serves: the request goes to the second upstream.
        assert request(port, "POST", "/v1/chat/completions", CHAT)[0] == 200
        assert len(second.requests()) == 1 and not first.requests()
        print("\nqueued" if "reload: queued" in logs() else "\nthe first generation was "
              "already serving (the queue was not exercised this time)")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
