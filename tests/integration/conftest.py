"""Shared fixtures for the integration tests (pytest, run by scripts/test).

The tests talk to the built binary and to real servers started on loopback; the
paths here are relative to the repository so that a fresh clone works as is."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def lakewriter():
    """Path of the static binary built by `zig build` (scripts/test builds it first)."""
    path = pathlib.Path(os.environ.get("LAKEWRITER_BIN", ROOT / "zig-out" / "bin" / "lakewriter"))
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `scripts/zig build` first")
    return path


@pytest.fixture(scope="session")
def tools():
    """Directory of the native test tools built by `zig build tools`."""
    path = ROOT / "zig-out" / "tools"
    return path


def run(cmd, **kw):
    """Runs a command, capturing text output; never raises on a non-zero status."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([str(c) for c in cmd], **kw)
