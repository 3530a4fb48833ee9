"""The command line: check, --help, flags, environment, precedence, and secrets.

Every test runs the built binary with a clean environment (only what the test
sets), from the repository root so that file names in messages are predictable."""
import os
import re

import pytest

from conftest import run

EXAMPLE = "examples/lakewriter.toml"
BROKEN = "examples/broken.toml"
SECRET = "Zq9-not-a-real-secret-7Kx"
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}


def lw(lakewriter, root, *args, env=None):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    base.update(env or {})
    return run([lakewriter, *args], cwd=root, env=base)


def output(r):
    return r.stdout + r.stderr


def problem_lines(text, path):
    return [line for line in text.splitlines() if re.match(re.escape(path) + r":\d+: ", line)]


def line_of(root, path, prefix):
    """The 1-based line of `path` that starts with `prefix`."""
    for i, line in enumerate((root / path).read_text().splitlines()):
        if line.startswith(prefix):
            return i + 1
    raise AssertionError(f"{prefix!r} not in {path}")


def test_check_accepts_the_example(lakewriter, root):
    r = lw(lakewriter, root, "check", "--config", EXAMPLE, env=CREDS)
    assert r.returncode == 0, output(r)
    assert r.stdout.strip().splitlines()[-1] == f"{EXAMPLE}: OK: 3 tables, 1 stream"
    assert SECRET not in output(r)


def test_check_reports_every_problem_in_broken_with_file_line_and_key(lakewriter, root):
    r = lw(lakewriter, root, "check", "--config", BROKEN, env=CREDS)
    assert r.returncode == 1, output(r)
    marked = [i + 1 for i, line in enumerate((root / BROKEN).read_text().splitlines()) if "# MISTAKE" in line]
    assert len(marked) >= 6
    lines = problem_lines(r.stdout, BROKEN)
    pattern = re.compile(r"^" + re.escape(BROKEN) + r":(\d+): ([A-Za-z0-9_.\[\]\"]+): \S")
    reported = []
    for line in lines:
        m = pattern.match(line)
        assert m, f"not FILE:LINE: key: ...: {line!r}"
        reported.append(int(m.group(1)))
    for n in marked:
        assert n in reported, f"line {n} of {BROKEN} not reported:\n{r.stdout}"
    assert len(lines) == len(marked), r.stdout
    assert reported == sorted(reported)
    last = r.stdout.strip().splitlines()[-1]
    assert last == f"{BROKEN}: {len(marked)} errors: the configuration is not valid"
    # The secret that broken.toml writes into the file is not echoed either.
    assert "do-not-put-me-here" not in output(r)


def test_main_help_lists_commands_flags_and_environment(lakewriter, root):
    r = lw(lakewriter, root, "--help", env=CREDS)
    assert r.returncode == 0
    text = r.stdout
    for command in ("run", "check", "version", "backfill", "convert", "put"):
        assert re.search(rf"^  {command}\s", text, re.M), command
    for flag in ("--config", "--log-level", "--log-format", "--redis-url", "--s3-endpoint", "--bucket", "--region",
                 "--prefix", "--consumer", "--memory-limit", "--flush-max-rows", "--flush-max-bytes",
                 "--flush-max-age", "--shutdown-timeout", "--ca-file", "--help"):
        assert flag in text, flag
    for var in ("LAKEWRITER_CONFIG", "LAKEWRITER_LOG_LEVEL", "LAKEWRITER_LOG_FORMAT", "LAKEWRITER_CONSUMER",
                "LAKEWRITER_GROUP", "LAKEWRITER_MEMORY_LIMIT", "LAKEWRITER_S3_PREFIX", "REDIS_URL",
                "REDIS_PASSWORD[_FILE]", "R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID[_FILE]", "R2_SECRET_ACCESS_KEY[_FILE]",
                "R2_BUCKET_NAME", "R2_BUCKET", "R2_ENDPOINT_URL", "R2_ENDPOINT", "BUFFER_MAX_SIZE",
                "BUFFER_FLUSH_INTERVAL", "AWS_ACCESS_KEY_ID[_FILE]", "AWS_SECRET_ACCESS_KEY[_FILE]",
                "AWS_SESSION_TOKEN[_FILE]", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
                "AWS_ENDPOINT_URL"):
        assert var in text, var
    # Defaults are shown.
    assert "(default: 512MiB)" in text and "(default: redis://127.0.0.1:6379/0)" in text
    assert SECRET not in text
    assert lw(lakewriter, root, "-h").stdout == text


@pytest.mark.parametrize("command", ["run", "check", "version", "backfill", "convert", "put"])
def test_command_help(lakewriter, root, command):
    r = lw(lakewriter, root, command, "--help", env=CREDS)
    assert r.returncode == 0, output(r)
    assert r.stdout.startswith(f"Usage: lakewriter {command}")
    assert "--config FILE" in r.stdout  # the global flags apply to every command
    if command == "check":
        assert "--print" in r.stdout
    if command == "backfill":
        assert "not built yet" in r.stdout
    else:
        assert "not built yet" not in r.stdout
    assert SECRET not in output(r)


def test_flag_help_also_works_before_the_command(lakewriter, root):
    r = lw(lakewriter, root, "--help", "check")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: lakewriter check")


@pytest.mark.parametrize("command", ["backfill"])
def test_commands_not_built_say_so(lakewriter, root, command):
    r = lw(lakewriter, root, command, env=CREDS)
    assert r.returncode == 2
    assert f"lakewriter {command}: not built yet" in r.stderr
    assert r.stdout == ""


def test_unknown_flag_names_flag_and_command(lakewriter, root):
    r = lw(lakewriter, root, "check", "--bukcet", "x")
    assert r.returncode == 2
    assert "lakewriter check: unknown flag '--bukcet' (did you mean --bucket?)" in r.stderr
    r = lw(lakewriter, root, "--frobnicate")
    assert r.returncode == 2
    assert "lakewriter run: unknown flag '--frobnicate'" in r.stderr
    r = lw(lakewriter, root, "run", "--print")
    assert r.returncode == 2
    assert "lakewriter run:" in r.stderr and "--print" in r.stderr


def test_usage_errors(lakewriter, root):
    cases = [
        (["chekc"], "unknown command 'chekc' (did you mean check?)"),
        (["check", "--bucket"], "flag --bucket needs a value"),
        (["check", "--bucket", "--prefix", "x"], "flag --bucket needs a value"),
        (["check", "--print=yes"], "flag --print takes no value"),
        (["check", "--bucket=a", "--bucket=b"], "flag --bucket is given twice"),
        (["check", "extra"], "unexpected argument 'extra'"),
    ]
    for args, message in cases:
        r = lw(lakewriter, root, *args, env=CREDS)
        assert r.returncode == 2, (args, output(r))
        assert message in r.stderr, (args, r.stderr)


def test_version(lakewriter, root):
    for args in (["version"], ["--version"]):
        r = lw(lakewriter, root, *args)
        assert r.returncode == 0
        assert r.stdout.startswith("lakewriter 0.")


def test_missing_config_file(lakewriter, root, tmp_path):
    r = run([lakewriter, "check"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **CREDS})
    assert r.returncode == 1
    assert "lakewriter.toml: cannot read 'lakewriter.toml': No such file or directory" in r.stdout
    assert "pass --config FILE or set LAKEWRITER_CONFIG" in r.stdout
    r = lw(lakewriter, root, "check", env={**CREDS, "LAKEWRITER_CONFIG": "/nonexistent.toml"})
    assert r.returncode == 1
    assert "/nonexistent.toml: cannot read" in r.stdout


def test_config_path_from_the_environment(lakewriter, root):
    r = lw(lakewriter, root, "check", env={**CREDS, "LAKEWRITER_CONFIG": EXAMPLE})
    assert r.returncode == 0, output(r)


def dump(lakewriter, root, *flags, env):
    r = lw(lakewriter, root, "check", "--print", "--config", EXAMPLE, *flags, env=env)
    assert r.returncode == 0, output(r)
    return r.stdout


def setting(text, section, key):
    """The `key = value  # origin` line of [section] in a dump, as (value, origin)."""
    current = None
    for line in text.splitlines():
        m = re.match(r"^\[([a-z0-9_.]+)\]", line)
        if m:
            current = m.group(1)
            continue
        if current == section and line.startswith(key + " = "):
            value, _, origin = line[len(key) + 3:].partition("  # ")
            return value, origin
    raise AssertionError(f"{section}.{key} not in the dump:\n{text}")


def test_precedence_flag_over_env_over_file_over_default(lakewriter, root):
    # File only (and a default).
    text = dump(lakewriter, root, env=CREDS)
    assert setting(text, "flush", "max_rows") == ("100000", f"{EXAMPLE}:{line_of(root, EXAMPLE, 'max_rows = 100000')}")
    assert setting(text, "redis", "group") == ('"lakewriter"', f"{EXAMPLE}:{line_of(root, EXAMPLE, 'group = ')}")
    assert setting(text, "s3", "ca_file") == ('""', "default")
    # Environment over file.
    env = {**CREDS, "BUFFER_MAX_SIZE": "222", "LAKEWRITER_MEMORY_LIMIT": "1GiB", "R2_BUCKET_NAME": "env-bucket"}
    text = dump(lakewriter, root, env=env)
    assert setting(text, "flush", "max_rows") == ("222", "env BUFFER_MAX_SIZE")
    assert setting(text, "limits", "memory") == ('"1GiB"', "env LAKEWRITER_MEMORY_LIMIT")
    assert setting(text, "s3", "bucket") == ('"env-bucket"', "env R2_BUCKET_NAME")
    # Flags over the environment, in both spellings.
    text = dump(lakewriter, root, "--flush-max-rows=333", "--memory-limit", "2GiB", env=env)
    assert setting(text, "flush", "max_rows") == ("333", "flag --flush-max-rows")
    assert setting(text, "limits", "memory") == ('"2GiB"', "flag --memory-limit")
    assert setting(text, "s3", "bucket") == ('"env-bucket"', "env R2_BUCKET_NAME")


def test_r2_account_id_gives_endpoint_and_region(lakewriter, root):
    env = {**CREDS, "R2_ACCOUNT_ID": "0123456789abcdef0123456789abcdef"}
    text = dump(lakewriter, root, env=env)
    assert setting(text, "s3", "endpoint") == ('"https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"',
                                               "env R2_ACCOUNT_ID")
    assert setting(text, "s3", "region") == ('"auto"', "env R2_ACCOUNT_ID")


def test_conflicting_names_are_reported(lakewriter, root):
    env = {**CREDS, "R2_BUCKET_NAME": "one", "R2_BUCKET": "two", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "eu-west-1"}
    r = lw(lakewriter, root, "check", "--config", EXAMPLE, env=env)
    assert r.returncode == 1
    assert "env R2_BUCKET_NAME: s3.bucket: also set by R2_BUCKET, to a different value" in r.stdout
    assert "env AWS_REGION: s3.region: also set by AWS_DEFAULT_REGION, to a different value" in r.stdout


def test_invalid_env_and_flag_values_name_their_origin(lakewriter, root):
    env = {**CREDS, "AWS_REGION": "us east"}
    r = lw(lakewriter, root, "check", "--config", EXAMPLE, "--memory-limit=1XB", env=env)
    assert r.returncode == 1
    assert "env AWS_REGION: s3.region: 'us east': only a-z, 0-9 and '-' are allowed" in r.stdout
    assert "flag --memory-limit: '1XB': unknown unit 'XB'" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == f"{EXAMPLE}: 2 errors: the configuration is not valid"


def all_outputs(lakewriter, root, env, tmp_path):
    """Everything the binary prints in the ways a secret could leak."""
    bad = tmp_path / "bad.toml"
    bad.write_text((root / EXAMPLE).read_text() + "\n[extra]\nx = 1\n")
    runs = [
        lw(lakewriter, root, "check", "--config", EXAMPLE, env=env),
        lw(lakewriter, root, "check", "--print", "--config", EXAMPLE, env=env),
        lw(lakewriter, root, "check", "--print", "--config", str(bad), env=env),
        lw(lakewriter, root, "run", "--config", str(bad), env=env),
        lw(lakewriter, root, "run", "--config", str(bad), "--log-format", "text", env=env),
        lw(lakewriter, root, "--help", env=env),
        lw(lakewriter, root, "check", "--help", env=env),
        lw(lakewriter, root, "check", "--bukcet", "x", env=env),
    ]
    return runs


def test_secrets_by_env_never_appear(lakewriter, root, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": SECRET + "tok",
           "REDIS_URL": f"redis://writer:{SECRET}url@127.0.0.1:6379/0"}
    runs = all_outputs(lakewriter, root, env, tmp_path)
    assert runs[0].returncode == 0, output(runs[0])
    assert runs[3].returncode == 1, output(runs[3])
    for r in runs:
        assert SECRET not in output(r), output(r)
    assert "# secret_access_key: set, hidden  # env AWS_SECRET_ACCESS_KEY" in runs[1].stdout
    assert 'url = "redis://writer@127.0.0.1:6379/0"  # env REDIS_URL' in runs[1].stdout


def test_secrets_by_file_never_appear(lakewriter, root, tmp_path):
    (tmp_path / "aws").write_text(SECRET + "\n")
    (tmp_path / "redis").write_text(SECRET + "redis\n")
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY_FILE": str(tmp_path / "aws"),
           "REDIS_PASSWORD_FILE": str(tmp_path / "redis")}
    runs = all_outputs(lakewriter, root, env, tmp_path)
    assert runs[0].returncode == 0, output(runs[0])
    for r in runs:
        assert SECRET not in output(r), output(r)
    assert "# password: set, hidden  # env REDIS_PASSWORD_FILE" in runs[1].stdout
    # Both the variable and its _FILE variant: a problem naming both, no value.
    env["AWS_SECRET_ACCESS_KEY"] = SECRET + "other"
    r = lw(lakewriter, root, "check", "--config", EXAMPLE, env=env)
    assert r.returncode == 1
    assert "env AWS_SECRET_ACCESS_KEY: s3.secret_access_key: AWS_SECRET_ACCESS_KEY_FILE is set too" in r.stdout
    assert SECRET not in output(r)


def test_missing_credentials_are_problems(lakewriter, root):
    r = lw(lakewriter, root, "check", "--config", EXAMPLE)
    assert r.returncode == 1
    assert "s3.access_key_id: not set; set AWS_ACCESS_KEY_ID" in r.stdout
    assert "s3.secret_access_key: not set; set AWS_SECRET_ACCESS_KEY" in r.stdout


def test_run_with_an_invalid_config_logs_each_problem_and_exits_1(lakewriter, root):
    r = lw(lakewriter, root, "run", "--config", BROKEN, "--log-format", "text", env=CREDS)
    assert r.returncode == 1
    assert "invalid configuration" in r.stderr
    assert f"{BROKEN}:5: redis.url: unsupported scheme 'http'" in r.stderr
    assert "not starting: the configuration is not valid" in r.stderr
    r = lw(lakewriter, root, "run", "--config", BROKEN, env=CREDS)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith("{") and '"level":"error"' in first, first


def test_ca_file_must_be_readable(lakewriter, root):
    r = lw(lakewriter, root, "check", "--config", EXAMPLE, "--ca-file", "/nonexistent/ca.pem", env=CREDS)
    assert r.returncode == 1
    assert "s3.ca_file: cannot read '/nonexistent/ca.pem' (from flag --ca-file)" in r.stdout
