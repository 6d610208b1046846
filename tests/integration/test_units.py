"""`meson install` lays out what a system install needs, and the systemd units
pass `systemd-analyze verify` (offline: systemd is not PID 1 here)."""
import os
import stat
import subprocess

import pytest

from helpers import BUILD


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    files = {}
    for root, _, names in os.walk(dest):
        for n in names:
            p = os.path.join(root, n)
            files[os.path.relpath(p, dest)] = p
    return dest, files


def find(files, suffix):
    hits = [p for rel, p in files.items() if rel.endswith(suffix)]
    assert hits, f"nothing installed as *{suffix}: {sorted(files)}"
    return hits[0]


def test_files_and_modes(installed):
    _, files = installed
    assert os.access(find(files, "sbin/llmgated"), os.X_OK)
    assert os.access(find(files, "bin/llmgatectl"), os.X_OK)
    assert stat.S_IMODE(os.stat(find(files, "llmgate/llmgate.env")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(find(files, "llmgate/llmgate.yaml")).st_mode) == 0o644
    find(files, "systemd/system/llmgate.service")
    find(files, "systemd/system/llmgate.socket")
    with open(find(files, "sysusers.d/llmgate.conf")) as f:
        assert f.read().split("\n")[-2].startswith("u llmgate ")


def test_units_verify(installed, tmp_path):
    dest, files = installed
    service = open(find(files, "systemd/system/llmgate.service")).read()
    assert "Type=notify" in service and "ExecReload=" in service
    assert "llmgatectl reload" in service and "NotifyAccess=main" in service
    # the client keys' spend under ProtectSystem=strict (llmgate.state_dir's default)
    assert "StateDirectory=llmgate" in service
    # Point the Exec lines at the binaries under DESTDIR so verify can check them.
    prefix = next(l.split("=", 1)[1].split()[0] for l in service.splitlines()
                  if l.startswith("ExecStart="))
    prefix = prefix[: prefix.index("/sbin/")]
    (tmp_path / "llmgate.service").write_text(service.replace(prefix, str(dest) + prefix))
    (tmp_path / "llmgate.socket").write_text(open(find(files, "llmgate.socket")).read())
    # --man=no: the pages are installed under DESTDIR, where man(1) does not look.
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        str(tmp_path / "llmgate.service"), str(tmp_path / "llmgate.socket")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
