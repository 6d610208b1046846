"""Integration harness: real llmgate-stub and llmgated processes on loopback.

Fixtures start processes on free 127.0.0.1 ports, wait until they answer and
stop them at the end of each test (the plain functions the tests share are in
helpers.py). A gateway must exit 0 on SIGTERM and leave no process behind;
sanitizer reports written by any process (ASAN_OPTIONS log_path, set by
scripts/test) fail the test that produced them.

LLMGATE_WRAPPER (e.g. "valgrind --log-file=$LLMGATE_SANITIZER_DIR/valgrind.%p ...",
set by scripts/valgrind-test) prefixes the llmgated command; its timeouts
grow to match. A valgrind.* log in LLMGATE_SANITIZER_DIR fails the test only
when it reports an error.
"""
import glob
import json
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from helpers import LLMGATED, STUB, STUBS, alive, serve_deployments, children_of, free_port, request, wait_for

SANITIZER_DIR = os.environ.get("LLMGATE_SANITIZER_DIR")
WRAPPER = shlex.split(os.environ.get("LLMGATE_WRAPPER", ""))
SLOW = 8 if WRAPPER else 1  # how much longer llmgated takes under the wrapper


class Stub:
    """A running llmgate-stub."""

    def __init__(self, name, args=()):
        self.name = name
        self.proc = subprocess.Popen(
            [STUB, "--listen", "127.0.0.1:0", "--name", name, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), f"stub did not start: {line!r}"
        self.port = int(line.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"
        STUBS[self.base] = self

    def add_deployments(self, names):
        """The Azure deployments this stub's resource has (more of them)."""
        status, _, body = request(self.port, "POST", "/_stub/deployments", list(names))
        assert status == 200, body

    def requests(self):
        status, _, body = request(self.port, "GET", "/_stub/requests")
        assert status == 200
        return json.loads(body)

    def set_faults(self, faults):
        status, _, _ = request(self.port, "POST", "/_stub/config", faults)
        assert status == 200

    def reset(self):
        request(self.port, "POST", "/_stub/reset")

    def stop(self):
        STUBS.pop(self.base, None)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Gateway:
    """A running llmgated (supervisor + workers) on a free port."""

    def __init__(self, config_text, workdir, env=None, wrapper=(), tls=None):
        self.port = free_port()
        self.tls = tls  # an ssl.SSLContext when the listener speaks TLS
        self.dir = workdir
        self.sock = os.path.join(workdir, "control.sock")
        self.path = os.path.join(workdir, "llmgate.yaml")
        with open(self.path, "w") as f:
            f.write(self.render(config_text))
        os.chmod(self.path, 0o644)
        self.log_path = os.path.join(workdir, "llmgated.log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([*wrapper, *WRAPPER, LLMGATED, "-c", self.path],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        self.pid = self.proc.pid
        try:
            wait_for(self._live, timeout=15 * SLOW, what="llmgated to answer")
        except AssertionError:
            self.stop(expect_clean=False)
            raise AssertionError("llmgated did not start:\n" + self.logs())

    def render(self, config_text):
        """Fills in @PORT@ (the listening port) and @DIR@ (this gateway's directory); the
        stubs its Azure deployments reach learn their names (helpers.serve_deployments)."""
        text = config_text.replace("@PORT@", str(self.port)).replace("@DIR@", self.dir)
        serve_deployments(text)
        return text

    def write_config(self, config_text):
        with open(self.path, "w") as f:
            f.write(self.render(config_text))

    def _live(self):
        if self.proc.poll() is not None:
            raise AssertionError("llmgated exited early:\n" + self.logs())
        try:
            return request(self.port, "GET", "/health/liveliness", timeout=1,
                           tls=self.tls)[0] == 200
        except OSError:
            return False

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def workers(self):
        return children_of(self.pid)

    def post(self, path, body, headers=None, timeout=10):
        return request(self.port, "POST", path, body, headers, timeout, tls=self.tls)

    def get(self, path, headers=None):
        return request(self.port, "GET", path, None, headers, tls=self.tls)

    def stop(self, expect_clean=True):
        """SIGTERM, then check: exit 0 and no worker left."""
        if self.proc.poll() is None:
            workers = self.workers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                for w in workers:
                    try:
                        os.kill(w, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
                raise AssertionError("llmgated did not stop on SIGTERM:\n" + self.logs())
            if expect_clean:
                assert code == 0, f"llmgated exited {code}:\n" + self.logs()
                left = [w for w in workers if alive(w)]
                assert not left, f"workers left behind: {left}"
        self.log.close()


@pytest.fixture
def workdir():
    # World-readable, so a gateway started as an unprivileged user can read it.
    d = tempfile.mkdtemp(prefix="llmgate-test-")
    os.chmod(d, 0o755)
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture
def stub_factory():
    stubs = []

    def make(name="stub", args=()):
        s = Stub(name, args)
        stubs.append(s)
        return s

    yield make
    for s in stubs:
        s.stop()


class LoopbackServer:
    """A scripted upstream's listening socket on a loopback ADDRESS: every connection is
    counted and handed to self._serve(conn) on a thread of its own. Subclasses set their
    state before calling this constructor (connections may come at once)."""

    def __init__(self, address="127.0.0.1"):
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, conn):
        raise NotImplementedError

    def close(self):
        self.sock.close()


@pytest.fixture
def stub(stub_factory):
    return stub_factory("openai")


@pytest.fixture
def gateway_factory(workdir):
    gateways = []

    def make(config_text, **kw):
        sub = tempfile.mkdtemp(dir=workdir)
        os.chmod(sub, 0o777)  # a gateway started as another user creates its socket here
        g = Gateway(config_text, sub, **kw)
        gateways.append(g)
        return g

    yield make
    for g in gateways:
        g.stop()


def valgrind_errors(text):
    """True when a valgrind log reports an error (a definite leak counts)."""
    return ("ERROR SUMMARY: 0 errors" not in text and "ERROR SUMMARY:" in text) or any(
        f"== {kind}" in text for kind in (
            "Invalid read", "Invalid write", "Invalid free", "Conditional jump",
            "Use of uninitialised", "Syscall param", "Mismatched free", "Source and destination"))


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """Fails the test if any process wrote a sanitizer report while it ran."""
    before = set(glob.glob(os.path.join(SANITIZER_DIR, "*"))) if SANITIZER_DIR else set()
    yield
    if SANITIZER_DIR:
        new = sorted(set(glob.glob(os.path.join(SANITIZER_DIR, "*"))) - before)
        reports = []
        for path in new:
            with open(path, errors="replace") as f:
                text = f.read()
            if not os.path.basename(path).startswith("valgrind.") or valgrind_errors(text):
                reports.append(f"{path}:\n{text[:4000]}")
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


class Load:
    """Bounded client load on 127.0.0.1: THREADS loops, each sending one
    request per fresh connection until stopped (or MAX_SECONDS passed)."""

    def __init__(self, port, body, threads=4, path="/v1/chat/completions", max_seconds=60,
                 timeout=10, pause=0.0):
        import threading
        self.port, self.body, self.path, self.timeout = port, body, path, timeout
        self.sent = 0
        self.ok = 0
        self.failures = []  # (when, error)
        self.statuses = {}
        self.bodies = []
        self.routes = []  # (time, x-llmgate-route) of every answered request
        self.pause = pause
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            headers = {}
            try:
                status, headers, body = request(self.port, "POST", self.path, self.body,
                                                timeout=self.timeout)
                err = None if status == 200 else f"status {status}: {body[:200]!r}"
            except Exception as e:  # noqa: BLE001 - every failure is counted
                status, body, err = None, b"", f"{type(e).__name__}: {e}"
            if self.pause:
                time.sleep(self.pause)
            with self._lock:
                if status is not None:
                    self.routes.append((time.monotonic(), headers.get("x-llmgate-route")))
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if err:
                    self.failures.append((time.monotonic(), err))
                else:
                    self.ok += 1
                    if len(self.bodies) < 10000:
                        self.bodies.append(body)

    def wait_sent(self, n, timeout=30):
        wait_for(lambda: self.sent >= n, timeout=timeout, what=f"{n} requests sent")

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        return self
