"""Faults on demand: what the next gRPC calls (or dashboard HTTP requests)
should suffer.

gRPC modes: none, unavailable (server down; handled by the server), slow
(delay_ms), malformed (kind: truncated | garbage | oversized_length),
gcs_status (code, message), grpc_code (code: a gRPC status name such as
ABORTED, message: the call fails with that gRPC status). They reach the dashboard's HTTP API too, through
the GCS calls the dashboard makes.

HTTP-only modes (dashboard.py; take_http): http_unavailable (listener
closed; handled by admin), http_slow (delay_ms), http_status (code,
message | body + content_type), http_drop (connection closed, no reply),
truncated_json (bytes), short_body, huge_json (bytes), deep_json (depth),
garbage_json (bytes, seed). gRPC calls never consume an HTTP fault, nor
HTTP requests a gRPC one. `count` limits a fault to the next N calls;
`method` (e.g. "GetTaskEvents") to calls of the methods whose path ends so.
"""
import random
import threading

GRPC_MODES = ("none", "unavailable", "slow", "restart", "malformed", "gcs_status", "grpc_code")
HTTP_MODES = ("http_unavailable", "http_slow", "http_status", "http_drop", "truncated_json",
              "short_body", "huge_json", "deep_json", "garbage_json")
MODES = GRPC_MODES + HTTP_MODES
MALFORMED_KINDS = ("truncated", "garbage", "oversized_length", "repeat_entries")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.set({"mode": "none"})

    def set(self, spec):
        mode = spec.get("mode", "none")
        if mode not in MODES:
            raise ValueError("unknown fault mode %r" % mode)
        if mode == "malformed" and spec.get("kind", "truncated") not in MALFORMED_KINDS:
            raise ValueError("unknown malformed kind %r" % spec.get("kind"))
        if mode == "grpc_code":
            import grpc
            if not hasattr(grpc.StatusCode, str(spec.get("code", ""))) or spec.get("code") == "OK":
                raise ValueError("grpc_code code must name a gRPC status, not %r" % spec.get("code"))
        if mode == "http_status" and not 100 <= int(spec.get("code", 503)) <= 599:
            raise ValueError("http_status code must be 100..599, not %r" % spec.get("code"))
        with self.lock:
            self.spec = dict(spec, mode=mode)
            self.remaining = spec.get("count")   # None: until cleared

    def take(self, method=None):
        """The fault spec for this gRPC call (consuming one of `count`), or None."""
        return self._take(("none", "unavailable", "restart") + HTTP_MODES, method)

    def take_http(self):
        """The HTTP-only fault spec for this dashboard request, or None."""
        return self._take(GRPC_MODES + ("http_unavailable",))

    def _take(self, ignored, method=None):
        with self.lock:
            mode = self.spec["mode"]
            if mode in ignored:
                return None
            only = self.spec.get("method")
            if only and method is not None and not method.endswith("/" + only):
                return None
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            return dict(self.spec)

    def state(self):
        with self.lock:
            return dict(self.spec, remaining=self.remaining)


def _varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def malform(reply, kind, seed=0):
    """Bytes that do not parse as the reply (or, repeat_entries, that repeat it)."""
    if kind == "truncated":
        # Cut in the middle of the first entry (field 2): its length prefix
        # then promises more bytes than remain.
        i = 0
        while i < len(reply):
            key = reply[i]
            ln, j = _varint(reply, i + 1)
            if key == 0x12 and ln >= 2:
                return reply[:j + ln // 2]
            i = j + ln if key & 7 == 2 else j
        return reply + b"\x12\x05ab"
    if kind == "repeat_entries":
        # Well formed, but every attempt (field 2) twice, back to back: a
        # GCS never does this; a client must not fail on it for good.
        out = bytearray()
        i = 0
        while i < len(reply):
            key = reply[i]
            ln, j = _varint(reply, i + 1)
            end = j + ln if key & 7 == 2 else j
            out += reply[i:end]
            if key == 0x12:
                out += reply[i:end]
            i = end
        return bytes(out)
    if kind == "oversized_length":
        # field 2, length prefix far beyond the buffer.
        return b"\x0a\x00\x12\xff\xff\xff\x0f" + b"\x00" * 8
    rng = random.Random(seed)
    # Wire types 6 and 7 do not exist: every key byte below is invalid.
    return bytes(((rng.randrange(1, 15) << 3) | rng.choice((6, 7))) for _ in range(32))
