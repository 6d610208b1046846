"""Plain functions the integration tests share (conftest.py keeps the fixtures and the
process classes built on these): where the binaries are, waiting and /proc, requests
to a gateway (through http.client or a raw socket), the llmgatectl runner, a config
builder for openai/ and azure/ deployments, and a test CA with its certificates."""
import glob
import http.client
import json
import os
import socket
import subprocess
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LLMGATE_BUILD", os.path.join(ROOT, "build"))
LLMGATED = os.path.join(BUILD, "supervisor", "llmgated")
LLMCTL = os.path.join(BUILD, "ctl", "llmgatectl")
STUB = os.path.join(BUILD, "tests", "stub", "llmgate-stub")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
CHAT_PATH = "/v1/chat/completions"


# --- processes and waiting -------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def children_of(pid):
    """Direct children of PID, from /proc."""
    kids = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def vm_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def asan_build():
    """AddressSanitizer keeps freed memory in quarantine: RSS bounds do not apply."""
    with open(LLMGATED, "rb") as f:
        return b"__asan_init" in f.read()


def rss_bounds_apply():
    """RSS bounds hold for llmgated as built and run: not under AddressSanitizer (freed
    memory kept in quarantine) nor under a wrapper such as valgrind (its own shadow memory
    per allocation; LLMGATE_WRAPPER, set by scripts/valgrind-test)."""
    return not asan_build() and not os.environ.get("LLMGATE_WRAPPER")


# --- requests through http.client ------------------------------------------------------------

def request(port, method, path, body=None, headers=None, timeout=10, tls=None):
    """One HTTP request on a fresh connection (over TLS with the ssl.SSLContext TLS);
    returns (status, headers, body bytes)."""
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post(gw, body=CHAT, headers=None, timeout=30):
    """A chat completion through gateway GW: (status, headers, body bytes)."""
    return gw.post(CHAT_PATH, body, headers, timeout)


def error_of(body):
    """The OpenAI error object of an error answer; it has exactly the four fields."""
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


def stub_stats(stub):
    return json.loads(request(stub.port, "GET", "/_stub/stats")[2])


# --- requests on a raw socket ----------------------------------------------------------------

class Response:
    def __init__(self, status, headers, chunks, complete):
        self.status = status
        self.headers = headers
        self.chunks = chunks  # [(monotonic time, bytes)]; one entry for a sized body
        self.complete = complete  # the body ended as framed (last chunk, or length)

    @property
    def body(self):
        return b"".join(c for _, c in self.chunks)

    def json(self):
        return json.loads(self.body)


def read_response(f, head_only=False):
    """Reads one response from the buffered socket file F."""
    line = f.readline()
    if not line:
        raise ConnectionError("closed before a response")
    version, status = line.split(b" ", 2)[:2]
    assert version == b"HTTP/1.1", line
    headers = {}
    while True:
        line = f.readline()
        assert line.endswith(b"\r\n"), line
        if line == b"\r\n":
            break
        name, value = line[:-2].split(b":", 1)
        headers[name.decode().lower()] = value.strip().decode()
    chunks, complete = [], True
    if head_only:
        pass
    elif headers.get("transfer-encoding") == "chunked":
        complete = False
        while True:
            size_line = f.readline()
            if not size_line:
                break
            size = int(size_line.strip(), 16)
            if size == 0:
                complete = f.readline() == b"\r\n"
                break
            data = f.read(size)
            if len(data) < size or f.read(2) != b"\r\n":
                chunks.append((time.monotonic(), data))
                break
            chunks.append((time.monotonic(), data))
    elif "content-length" in headers:
        n = int(headers["content-length"])
        data = f.read(n)
        complete = len(data) == n
        chunks.append((time.monotonic(), data))
    else:
        chunks.append((time.monotonic(), f.read()))
    return Response(int(status), headers, chunks, complete)


def read_request(f):
    """Reads one request from the buffered socket file F, as a scripted upstream: None at
    the end of the connection, else its headers (bytes, names lowercased); the body is read
    and dropped."""
    if not f.readline():
        return None
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        name, _, value = h.partition(b":")
        headers[name.strip().lower()] = value.strip()
    f.read(int(headers.get(b"content-length", 0)))
    return headers


def dechunk(raw):
    """Decodes a chunked body; returns (bytes, ended with the last chunk)."""
    out, pos = [], 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(out), False
        size = int(raw[pos:eol], 16)
        if size == 0:
            return b"".join(out), raw[eol:] == b"\r\n\r\n"
        out.append(raw[eol + 2:eol + 2 + size])
        pos = eol + 2 + size + 2


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s, s.makefile("rb")


def post_bytes(path, body, extra=b"", host=b"Host: gw\r\n"):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return (b"POST " + path.encode() + b" HTTP/1.1\r\n" + host +
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n" + extra + b"\r\n" + body)


def stream_request(port, body, timeout=30):
    """A chat completion on a raw connection, its framing checked: a Response."""
    s, f = connect(port, timeout)
    try:
        s.sendall(post_bytes(CHAT_PATH, body))
        return read_response(f)
    finally:
        f.close()
        s.close()


def events_of(body):
    return [e for e in body.decode().split("\n\n") if e.strip()]


# --- llmgatectl ------------------------------------------------------------------------------

def llmgatectl(*args, sock=None, json_out=False, wrapper=(), timeout=60):
    """llmgatectl [-s SOCK] [--json] ARGS (under WRAPPER): the finished process, text output."""
    cmd = [*wrapper, LLMCTL] + (["-s", sock] if sock else []) + (["--json"] if json_out else [])
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def ctl(gw, *args, **kw):
    """llmgatectl ARGS against gateway GW's control socket."""
    return llmgatectl(*args, sock=gw.sock, **kw)


def ctl_result(gw, *args, timeout=30):
    """The "result" of `llmgatectl --json ARGS` against GW, which must succeed."""
    r = ctl(gw, *args, json_out=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["result"]


# --- configs ---------------------------------------------------------------------------------

def deployment(group, model, api_base, dep_id=None, params="", info=""):
    """One model_list entry: model_name GROUP, litellm_params MODEL and API_BASE then PARAMS
    (more litellm_params, each line "\\n      key: value"); model_info.id DEP_ID if given,
    then INFO (more model_info lines, as PARAMS)."""
    info = f"\n      id: {dep_id}{info}" if dep_id else info
    info = f"\n    model_info:{info}" if info else ""
    return f"""
  - model_name: {group}
    litellm_params:
      model: {model}
      api_base: {api_base}{params}{info}"""


def openai_dep(group, dep_id, base, params="", key=None, model="openai/gpt-4o-mini", info=""):
    """An openai/ deployment at BASE/v1 (BASE: a server's root URL) with PARAMS (as in
    deployment()); its key is KEY, by default sk-test-DEP_ID-0123456789. INFO: more
    model_info lines."""
    key = key or f"sk-test-{dep_id}-0123456789"
    return deployment(group, model, f"{base}/v1", dep_id, f"\n      api_key: {key}{params}",
                      info)


def azure_dep(group, dep_id, base, key="azure-test-key-0123456789", params="", name="gpt-4o",
              api_version="2024-08-01-preview", info=""):
    """An azure/NAME deployment at BASE (used as given) with API_VERSION; KEY is its
    api_key, or None when PARAMS carries the credential (azure_ad_token). INFO: more
    model_info lines."""
    auth = f"\n      api_key: {key}" if key else ""
    return deployment(group, f"azure/{name}", base, dep_id,
                      f"\n      api_version: {json.dumps(api_version)}{auth}{params}", info)


# The running stubs by base URL (conftest.Stub adds and removes itself), so that a config
# built here can tell each Azure stub the deployments it must have.
STUBS = {}


def azure_deployments(config_text):
    """(api_base, deployment name) of each azure/ entry of CONFIG_TEXT's model_list:
    deployment_id when given, else the name after azure/ (as the loader has it)."""
    try:
        doc = yaml.safe_load(config_text) or {}
    except yaml.YAMLError:
        return []  # a test of the loader's diagnostics: nothing will reach a stub
    found = []
    for entry in (doc.get("model_list") if isinstance(doc, dict) else None) or []:
        params = (entry or {}).get("litellm_params") or {}
        model = str(params.get("model", ""))
        if model.startswith("azure/"):
            name = params.get("deployment_id") or model[len("azure/"):]
            found.append((str(params.get("api_base", "")).rstrip("/"), str(name)))
    return found


def serve_deployments(config_text):
    """Tells every running stub that an Azure deployment of CONFIG_TEXT reaches the deployment
    name it must have (the stub answers DeploymentNotFound for any other, as Azure does)."""
    for base, name in azure_deployments(config_text):
        stub = STUBS.get(base)
        if stub and name:
            stub.add_deployments([name])


def model_config(*deps, retries=None, fallbacks=None, router="", sections=""):
    """A config of DEPS without the llmgate section: router_settings when RETRIES
    (num_retries), FALLBACKS ({group: [groups]}) or ROUTER (more lines, "  key: value\\n")
    are given, then SECTIONS (more top-level YAML, as written). The running stubs the Azure
    deployments reach learn their deployment names (serve_deployments)."""
    serve_deployments("model_list:" + "".join(deps))
    settings = ""
    if retries is not None:
        settings += f"  num_retries: {retries}\n"
    if fallbacks:
        settings += f"  fallbacks: {json.dumps([fallbacks])}\n"
    settings += router
    return (f"\nmodel_list:{''.join(deps)}\n" +
            (f"router_settings:\n{settings}" if settings else "") + sections)


def gateway_config(*deps, workers=2, drain_timeout=None, llmgate="", **kw):
    """model_config(DEPS, **KW) and the llmgate section of a test gateway, last (a test may
    append to it): listen on @PORT@, the control socket in @DIR@, WORKERS, DRAIN_TIMEOUT
    when given, then LLMGATE (more lines, "  key: value\\n")."""
    drain = f"  drain_timeout: {drain_timeout}\n" if drain_timeout else ""
    return model_config(*deps, **kw) + f"""llmgate:
  listen: 127.0.0.1:@PORT@
  control_socket: @DIR@/control.sock
  workers: {workers}
{drain}{llmgate}"""


def openai_config(stub_base, workers=2, extra=""):
    """A config with one openai/ deployment on the stub, listening on @PORT@; EXTRA: more
    lines of the llmgate section."""
    return gateway_config(openai_dep("gpt-4o", "primary-gpt-4o", stub_base,
                                     key="sk-test-primary-0123456789"),
                          workers=workers, drain_timeout="5s", llmgate=extra)


# --- certificates ----------------------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_ca(d, name):
    """A self-signed CA in directory D: (key path, certificate path)."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    openssl("req", "-x509", *EC, "-keyout", key, "-out", crt, "-days", "2",
            "-subj", f"/CN=llmgate test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, crt


def make_cert(d, name, ca, san, days=2):
    """A server certificate for SAN (e.g. "DNS:localhost,IP:127.0.0.1") signed by CA (from
    make_ca), in directory D, valid for DAYS: (certificate path, key path)."""
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    openssl("req", "-new", *EC, "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
            "-out", crt, "-days", str(days), "-extfile", ext)
    return crt, key
