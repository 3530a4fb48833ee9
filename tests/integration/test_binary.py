"""The shipped binary: static, self-contained, runs in an empty root (FROM scratch)."""
import os
import shutil
import subprocess

import pytest

from conftest import run


def test_binary_is_static(lakewriter):
    out = run(["file", "-L", lakewriter]).stdout
    assert "statically linked" in out, out
    assert "x86-64" in out, out
    # No program interpreter means nothing is loaded from the host at start.
    headers = run(["readelf", "-l", lakewriter]).stdout
    assert "INTERP" not in headers


def test_version_names_the_bundled_libraries(lakewriter):
    r = run([lakewriter, "version"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("lakewriter 0."), lines
    commit = run(["git", "rev-parse", "--short=12", "HEAD"]).stdout.strip()
    assert f"commit {commit}" in lines[0], (lines[0], commit)
    for lib in ("liburing", "zstd", "BearSSL", "hiredis"):
        assert any(line.split()[0] == lib for line in lines[1:]), (lib, lines)


def chroot_cmd(root):
    """chroot as root, or inside a user namespace where we map ourselves to root."""
    if os.geteuid() == 0:
        return ["chroot", str(root)]
    if shutil.which("unshare"):
        return ["unshare", "--user", "--map-root-user", "chroot", str(root)]
    pytest.fail("need root or unshare(1) to chroot")


def test_runs_in_an_empty_root(lakewriter, root, tmp_path):
    """Copies only the binary and a config into an empty directory and runs it there:
    it must need no file of the host (no loader, no libc, no /etc, no /dev)."""
    jail = tmp_path / "scratch"
    jail.mkdir()
    shutil.copy2(lakewriter, jail / "lakewriter")
    shutil.copy2(root / "examples" / "lakewriter.toml", jail / "lakewriter.toml")
    assert sorted(p.name for p in jail.iterdir()) == ["lakewriter", "lakewriter.toml"]

    env = {"PATH": "/nonexistent"}  # nothing from the host's environment either
    r = run(chroot_cmd(jail) + ["/lakewriter", "version"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("lakewriter 0."), r.stdout

    env.update({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"})
    r = run(chroot_cmd(jail) + ["/lakewriter", "check", "--config", "/lakewriter.toml"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not-a-real-secret" not in r.stdout + r.stderr

    # A broken config is still diagnosed inside the empty root, with file and line.
    (jail / "broken.toml").write_text("[flush]\nmax_rows = -5\n")
    r = run(chroot_cmd(jail) + ["/lakewriter", "check", "--config", "/broken.toml"], env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "/broken.toml:2:" in r.stdout + r.stderr
