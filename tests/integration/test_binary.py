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
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    if os.geteuid() == 0:
        return [chroot, str(root)]
    if shutil.which("unshare"):
        return [shutil.which("unshare"), "--user", "--map-root-user", chroot, str(root)]
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


@pytest.mark.parametrize("errno_name", ["EPERM", "ENOSYS", "EOPNOTSUPP"])
def test_run_without_io_uring_exits_2_and_names_the_cause(lakewriter, root, tools, errno_name):
    """With io_uring blocked by a seccomp filter (as Docker 25+ does), `run` exits 2 and
    says what to check: the seccomp profile and the kernel.io_uring_disabled sysctl."""
    tool = tools / "no_io_uring"
    assert tool.exists(), "run `scripts/zig build tools` first"
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}
    r = run([tool, errno_name, lakewriter, "run", "--config", root / "examples" / "lakewriter.toml"],
            env=env, timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "io_uring" in out and errno_name in out, out
    assert "seccomp" in out, out
    assert "io_uring_disabled" in out, out


def test_run_stops_gracefully_on_sigterm_and_at_once_on_a_second(lakewriter, root):
    import signal
    import time
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}
    cmd = [str(lakewriter), "run", "--config", str(root / "examples" / "lakewriter.toml")]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert '"msg":"stopping"' in err or "stopping" in err, err
    # The default log format is JSON lines.
    import json
    for line in err.splitlines():
        json.loads(line)

    # Two signals while stopped: both are pending when it resumes, the second stops hard.
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    p.send_signal(signal.SIGSTOP)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
