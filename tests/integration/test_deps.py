"""scripts/deps: the pinned SHA-256 of every third-party tarball is enforced."""
import shutil

from conftest import run


def copy_tree_for_deps(root, dest):
    (dest / "scripts").mkdir(parents=True)
    shutil.copy2(root / "scripts" / "deps", dest / "scripts" / "deps")
    shutil.copytree(root / "deps" / ".download", dest / "deps" / ".download")


def test_tampered_pin_stops_with_a_clear_error(root, tmp_path):
    copy_tree_for_deps(root, tmp_path)
    lock = (root / "scripts" / "deps.lock").read_text().splitlines()
    # Change the pinned hash of zstd's original tarball (flip its last hex digit).
    out, victim = [], None
    for line in lock:
        f = line.split()
        if victim is None and len(f) == 5 and f[3].startswith("libzstd_") and ".orig." in f[3]:
            victim = f[3]
            f[4] = f[4][:-1] + ("0" if f[4][-1] != "0" else "1")
            line = " ".join(f)
        out.append(line)
    assert victim is not None
    (tmp_path / "scripts" / "deps.lock").write_text("\n".join(out) + "\n")

    r = run([tmp_path / "scripts" / "deps"], cwd=tmp_path)
    assert r.returncode != 0
    assert f"SHA-256 mismatch for {victim}" in r.stderr, r.stderr
    assert "scripts/deps.lock" in r.stderr
    # Nothing was unpacked.
    unpacked = [p.name for p in (tmp_path / "deps").iterdir() if p.name != ".download"]
    assert unpacked == [], unpacked


def test_correct_pins_unpack_with_debian_patches(root, tmp_path):
    copy_tree_for_deps(root, tmp_path)
    shutil.copy2(root / "scripts" / "deps.lock", tmp_path / "scripts" / "deps.lock")
    r = run([tmp_path / "scripts" / "deps"], cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for d in ("liburing", "zstd", "bearssl", "hiredis"):
        assert (tmp_path / "deps" / d / ".lakewriter-stamp").is_file(), d
    # Debian's patches are applied: the CVE-2021-32765 fix adds this overflow check
    # (read.c already carries its own half of that fix upstream in 0.14.1).
    hiredis_c = (tmp_path / "deps" / "hiredis" / "hiredis.c").read_text()
    assert "SIZE_MAX / sizeof(redisReply*) < elements" in hiredis_c
    # A second run changes nothing.
    r = run([tmp_path / "scripts" / "deps"], cwd=tmp_path)
    assert r.returncode == 0
    assert "nothing to do" in r.stdout
