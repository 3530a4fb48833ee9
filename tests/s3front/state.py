"""Shared state of a front: settings, armed faults and the request log (thread-safe).

Settings
  r2              bool   R2 rules for every bucket
  r2_buckets      [str]  R2 rules for these buckets only (so tests sharing one front
                         do not disturb each other)
  expect          auto | continue | ignore | reject   answer to `Expect: 100-continue`:
                  send `100 Continue` (S3), never send it (R2: "does not support the
                  HTTP 100 response"; the client waits for its own timeout), or 417.
                  auto = continue for S3 rules, ignore for R2 rules.
  clock_offset_s  float  added to the server clock (to provoke RequestTimeTooSkewed)
  r2_min_part_bytes int  minimum size of a non-last part under R2 rules (5 MiB)

Faults (fire on the next `count` matching requests, after skipping `skip`)
  kind: internal_error (500 InternalError) | slow_down (503 SlowDown)
        | reset (read `after_bytes` of the body, then TCP RST)
        | stall (phase "headers": never read the body; phase "response": read it;
                 then wait `seconds` and answer normally, or never answer if null)
        | complete_error (200 OK with an <Error> body, as CompleteMultipartUpload may)
        | request_timeout (read `after_bytes`, then 400 RequestTimeout and close)
        | slow (read the request body at `rate_bytes_per_s`, then answer normally)
        | close (answer normally, then close the connection without announcing it)
        | error (any `status`, `code`, `message`)
  match: op (e.g. PutObject, UploadPart, CreateMultipartUpload,
         CompleteMultipartUpload, or a list), method, bucket, key_contains
  forward: true executes the request at moto first and replaces moto's answer by
           the fault (a lost response: the upload did happen).
  count: -1 for every matching request."""
import threading
import time

FAULT_KINDS = ("internal_error", "slow_down", "reset", "stall", "complete_error",
               "request_timeout", "slow", "close", "error")
EXPECT_MODES = ("auto", "continue", "ignore", "reject")
LOG_LIMIT = 20000


def default_settings():
    return {"r2": False, "r2_buckets": [], "expect": "auto", "clock_offset_s": 0.0,
            "r2_min_part_bytes": 5 << 20}


class ControlError(Exception):
    pass


def _check_fault(spec):
    if not isinstance(spec, dict):
        raise ControlError("a fault is a JSON object")
    known = {"kind", "op", "method", "bucket", "key_contains", "count", "skip", "after_bytes",
             "seconds", "phase", "forward", "rate_bytes_per_s", "status", "code", "message"}
    unknown = set(spec) - known
    if unknown:
        raise ControlError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ControlError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
    f = {"kind": kind, "op": spec.get("op"), "method": spec.get("method"),
         "bucket": spec.get("bucket"), "key_contains": spec.get("key_contains"),
         "count": int(spec.get("count", 1)), "skip": int(spec.get("skip", 0)),
         "after_bytes": spec.get("after_bytes"), "seconds": spec.get("seconds"),
         "phase": spec.get("phase", "response"), "forward": bool(spec.get("forward", False)),
         "rate_bytes_per_s": spec.get("rate_bytes_per_s"), "status": spec.get("status"),
         "code": spec.get("code"), "message": spec.get("message"), "fired": 0}
    if isinstance(f["op"], str):
        f["op"] = [f["op"]]
    if f["phase"] not in ("headers", "response"):
        raise ControlError("stall phase must be 'headers' or 'response'")
    if f["count"] == 0 or f["count"] < -1 or f["skip"] < 0:
        raise ControlError("count must be >= 1 (or -1 for always), skip >= 0")
    if kind == "slow" and not f["rate_bytes_per_s"]:
        raise ControlError("a 'slow' fault needs rate_bytes_per_s")
    if kind == "error" and not (f["status"] and f["code"]):
        raise ControlError("an 'error' fault needs status and code")
    for name in ("after_bytes", "seconds", "rate_bytes_per_s"):
        if f[name] is not None and (not isinstance(f[name], (int, float)) or f[name] < 0):
            raise ControlError(f"{name} must be a non-negative number")
    return f


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.settings = default_settings()
        self.faults = []
        self.log = []
        self.seq = 0
        self.fault_seq = 0
        self.conn_seq = 0
        self.internal_errors = 0      # exceptions the front caught (bugs of the front)
        self.started = time.time()

    # settings ------------------------------------------------------------------------
    def update_settings(self, new):
        if not isinstance(new, dict):
            raise ControlError("settings are a JSON object")
        with self.lock:
            s = dict(self.settings)
            for k, v in new.items():
                if k not in s:
                    raise ControlError(f"unknown setting {k!r}; known: {sorted(s)}")
                if k == "r2" and not isinstance(v, bool):
                    raise ControlError("r2 is true or false")
                if k == "r2_buckets" and not (isinstance(v, list) and all(isinstance(b, str) for b in v)):
                    raise ControlError("r2_buckets is a list of bucket names")
                if k == "expect" and v not in EXPECT_MODES:
                    raise ControlError(f"expect is one of {EXPECT_MODES}")
                if k in ("clock_offset_s", "r2_min_part_bytes") and not isinstance(v, (int, float)):
                    raise ControlError(f"{k} is a number")
                s[k] = v
            self.settings = s
            return dict(s)

    def r2_for(self, bucket):
        s = self.settings
        return bool(s["r2"] or (bucket and bucket in s["r2_buckets"]))

    def now(self):
        return time.time() + self.settings["clock_offset_s"]

    # faults --------------------------------------------------------------------------
    def add_faults(self, specs):
        faults = [_check_fault(s) for s in (specs if isinstance(specs, list) else [specs])]
        with self.lock:
            for f in faults:
                self.fault_seq += 1
                f["id"] = self.fault_seq
                self.faults.append(f)
        return [f["id"] for f in faults]

    def list_faults(self):
        with self.lock:
            return [dict(f) for f in self.faults]

    def clear_faults(self, bucket=None):
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if bucket is not None and f["bucket"] != bucket]
            return before - len(self.faults)

    def take_fault(self, method, op, bucket, key):
        """The first armed fault matching this request, consumed (or None)."""
        with self.lock:
            for f in self.faults:
                if f["op"] is not None and op not in f["op"]:
                    continue
                if f["method"] is not None and f["method"].upper() != method:
                    continue
                if f["bucket"] is not None and f["bucket"] != bucket:
                    continue
                if f["key_contains"] is not None and f["key_contains"] not in (key or ""):
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                f["fired"] += 1
                if f["count"] > 0:
                    f["count"] -= 1
                    if f["count"] == 0:
                        self.faults.remove(f)
                return dict(f)
            return None

    # request log ---------------------------------------------------------------------
    def next_conn(self):
        with self.lock:
            self.conn_seq += 1
            return self.conn_seq

    def log_start(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)
            if len(self.log) > LOG_LIMIT:
                del self.log[: len(self.log) - LOG_LIMIT]
        return entry

    def log_update(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    def log_query(self, since=0, bucket=None, op=None):
        with self.lock:
            out = [dict(e) for e in self.log
                   if e["seq"] > since and (bucket is None or e.get("bucket") == bucket)
                   and (op is None or e.get("op") == op)]
            return out, self.seq

    def clear_log(self):
        with self.lock:
            n = len(self.log)
            self.log = []
            return n

    def reset(self):
        with self.lock:
            self.settings = default_settings()
            self.faults = []
            self.log = []

    def snapshot(self):
        with self.lock:
            return {"settings": dict(self.settings), "faults": [dict(f) for f in self.faults],
                    "log_seq": self.seq, "log_entries": len(self.log),
                    "internal_errors": self.internal_errors,
                    "uptime_s": round(time.time() - self.started, 3)}
