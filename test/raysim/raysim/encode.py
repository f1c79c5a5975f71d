"""Wire encoding: task attempts -> TaskEvents bytes -> GetTaskEventsReply.

Each attempt is encoded exactly as the profile's Ray version puts it on the
wire: TaskStatus numbers of that version, legacy timestamp fields 2..7 for
2.9, no call_site before 2.41, no label_selector before 2.48, proto3
defaults (0, "", false) left out as Ray's proto3 messages do.

Entries are encoded once and cached on the attempt (per profile and number
of visible states), and replies are assembled by concatenating the cached,
already framed entries: the `many` scenario serves 100,000 tasks this way.

Also converts expected_tasks.json rows into attempts (for the `vectors`
scenario and the `encode` tool): the inverse of derive.py.
"""
import json
from decimal import Decimal

from . import versions
from .model import TaskAttempt
from .proto import pb


# ---- low-level framing ------------------------------------------------------

def varint(n):
    if n < 0:
        n += 1 << 64          # int32/int64 negatives are 10-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    """A length-delimited field."""
    return varint((num << 3) | 2) + varint(len(data)) + data


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def job_config_bytes(ray_namespace="", metadata=None):
    """A JobConfig (Ray's common.proto): ray_namespace = 5, metadata = 6
    (map<string,string>: one entry message per pair, key = 1, value = 2),
    keys sorted so the bytes are stable."""
    out = field_bytes(5, ray_namespace.encode()) if ray_namespace else b""
    for k in sorted(metadata or {}):
        v = metadata[k]
        entry = (field_bytes(1, k.encode()) if k else b"") + (field_bytes(2, v.encode()) if v else b"")
        out += field_bytes(6, entry)
    return out


def job_config_metadata(raw):
    """JobConfig bytes -> its metadata dict (the reverse of job_config_bytes)."""
    from .replay import split_fields
    md = {}
    for num, wt, v in split_fields(raw or b""):
        if num == 6 and wt == 2:
            kv = {n: val for n, w, val in split_fields(v) if w == 2}
            md[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
    return md


EMPTY_STATUS = field_bytes(1, b"")   # status {} as every Ray reply carries it


def status_bytes(code=0, message=""):
    inner = b""
    if code:
        inner += field_varint(1, code)
    if message:
        inner += field_bytes(2, message.encode())
    return field_bytes(1, inner)


def reply_bytes(framed_entries, status=EMPTY_STATUS, profile_dropped=0, status_dropped=0,
                total_stored=0, filtered=0, truncated=0):
    """GetTaskEventsReply from already framed field-2 entries (proto3: zeros omitted)."""
    parts = [status]
    parts.extend(framed_entries)
    for num, v in ((3, profile_dropped), (4, status_dropped), (5, total_stored),
                   (6, filtered), (7, truncated)):
        if v:
            parts.append(field_varint(num, v))
    return b"".join(parts)


def check_alive_reply(ray_version, code=0, message=""):
    return status_bytes(code, message) + field_bytes(2, ray_version.encode())


# ---- attempt -> TaskEvents ---------------------------------------------------

# States after which the worker-side fields (node, worker, pid, logs) have
# been reported.
_DETAIL_STATES = ("SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED")


def task_events_message(a, prof, nvis=None, nprof=None):
    """TaskEvents message for attempt `a` with its first nvis states visible."""
    m = pb()
    states = a.states if nvis is None else a.states[:nvis]
    profs = a.profile_events if nprof is None else a.profile_events[:nprof]
    names = [s for s, _ in states]
    detail = (not a.gate_detail) or any(s in _DETAIL_STATES for s in names)
    terminal = "FAILED" in names

    ev = m.TaskEvents()
    ev.task_id = a.task_id
    if a.attempt_number:
        ev.attempt_number = a.attempt_number
    ti = ev.task_info
    if versions.TASK_TYPE[a.type]:
        ti.type = versions.TASK_TYPE[a.type]
    if a.name:
        ti.name = a.name
    if versions.LANGUAGE[a.language]:
        ti.language = versions.LANGUAGE[a.language]
    if a.func_or_class_name:
        ti.func_or_class_name = a.func_or_class_name
    ti.job_id = a.job_id
    ti.task_id = a.task_id
    if a.parent_task_id is not None:
        ti.parent_task_id = a.parent_task_id
    for k, v in a.required_resources.items():
        ti.required_resources[k] = v
    if a.serialized_runtime_env is not None:
        ti.runtime_env_info.serialized_runtime_env = a.serialized_runtime_env
        ti.runtime_env_info.runtime_env_config.setup_timeout_seconds = 600
    if a.actor_id is not None:
        ti.actor_id = a.actor_id
    if a.placement_group_id is not None:
        ti.placement_group_id = a.placement_group_id
    if a.call_site is not None and prof.has_call_site:
        ti.call_site = a.call_site
    if a.label_selector and prof.has_label_selector:
        for k, v in a.label_selector.items():
            ti.label_selector[k] = v

    su = ev.state_updates
    if detail and a.node_id is not None:
        su.node_id = a.node_id
    for s, ns in states:
        if prof.legacy_ts:
            # Ray <= 2.31 had no field for other states: they are not sent.
            if s in versions.LEGACY_TS_ATTR:
                setattr(su, versions.LEGACY_TS_ATTR[s], ns)
        elif s in prof.task_status:
            su.state_ts_ns[prof.task_status[s]] = ns
    if detail and a.worker_id is not None:
        su.worker_id = a.worker_id
    if terminal and (a.error_type is not None or a.error_message is not None):
        ei = su.error_info
        et = a.error_type
        num = prof.error_types[et] if isinstance(et, str) else (et or 0)
        if a.error_type == "RUNTIME_ENV_SETUP_FAILED" and a.error_message:
            # RuntimeEnvFailedContext{string error_message = 1}
            ei.runtime_env_setup_failed_error = field_bytes(1, a.error_message.encode())
        if a.error_message:
            ei.error_message = a.error_message
        if num:
            ei.error_type = num
    if detail and a.worker_id is not None and a.log_info and a.type != "DRIVER_TASK":
        wid = a.worker_id.hex()
        base = "/tmp/ray/session_latest/logs/worker-%s-%s-%s" % (wid, a.job_id.hex(), a.worker_pid)
        su.task_log_info.stdout_file = base + ".out"
        su.task_log_info.stderr_file = base + ".err"
    if a.actor_repr_name is not None:
        su.actor_repr_name = a.actor_repr_name
    if detail and a.worker_pid is not None:
        su.worker_pid = a.worker_pid
    if profs:
        pe = ev.profile_events
        pe.component_type = "worker"
        if a.worker_id is not None:
            pe.component_id = a.worker_id
        pe.node_ip_address = a.node_ip
        for name, start, end, extra in profs:
            e = pe.events.add()
            e.start_time = start
            e.end_time = end
            e.extra_data = extra if extra is not None else "{}"
            e.event_name = name
    ev.job_id = a.job_id
    return ev


def entry_bytes(a, prof, nvis=None, nprof=None):
    return task_events_message(a, prof, nvis, nprof).SerializeToString(deterministic=True)


class Template:
    """Encode many attempts that differ only in task id and state times.

    `shape` is an attempt like them but with a task id of 0xEE bytes and
    state times far from any real ones (same varint length, 9 bytes, as
    times near 2026), so in its encoding each occurs once and nothing else
    looks like them. An attempt's bytes are the shape's, at the same stage,
    with its own id and times put in: same lengths, so every length prefix
    stays right. The first CHECKED encodings of each stage are compared with
    a real encoding; a mismatch raises, so a scenario can't drift silently.
    """

    CHECKED = 20
    BASE = 0x7A5A5A5A5A5A0000

    def __init__(self, like):
        from .model import TaskAttempt
        self.shape = TaskAttempt(b"\xEE" * len(like.task_id), like.job_id, like.name,
                                 like.func_or_class_name,
                                 [(st, self.BASE + k) for k, (st, _) in enumerate(like.states)],
                                 parent_task_id=like.parent_task_id,
                                 required_resources=like.required_resources,
                                 node_id=like.node_id, worker_id=like.worker_id,
                                 worker_pid=like.worker_pid, log_info=like.log_info)
        self.stages = {}
        self.checked = {}

    def framed(self, a, prof, nvis):
        key = (prof.name, nvis)
        data = self.stages.get(key)
        if data is None:
            data = self.stages[key] = field_bytes(2, entry_bytes(self.shape, prof, nvis, 0))
        data = data.replace(self.shape.task_id, a.task_id)
        for k in range(nvis):
            data = data.replace(varint(self.BASE + k), varint(a._state_ns[k]))
        n = self.checked.get(key, 0)
        if n < self.CHECKED:
            self.checked[key] = n + 1
            if data != field_bytes(2, entry_bytes(a, prof, nvis, 0)):
                raise AssertionError("template encoding differs from the real one at %r" % (key,))
        return data


def framed_entry(a, prof, now_ns):
    """Field-2-framed TaskEvents for `a` at now_ns, cached on the attempt."""
    nvis = a.visible(now_ns)
    nprof = a.nprof_visible(now_ns) if a.profile_events else 0
    key = (prof.name, nvis, nprof)
    c = a._cache
    if c is not None and c[0] == key:
        return c[1]
    if a.template is not None and not a.profile_events:
        data = a.template.framed(a, prof, nvis)
    else:
        data = field_bytes(2, entry_bytes(a, prof, nvis, nprof))
    a._cache = (key, data)
    return data


# ---- expected_tasks.json rows -> attempts ------------------------------------

def ms_to_ns(ms):
    """ns whose dashboard value `ns // 1e6` is the integer ms `ms`.

    ms*10**6 is not always safe: float(ns) rounds to a multiple of 256 and
    could fall just below the ms boundary; the middle of the ms is safe both
    for float floor division and for exact integer division.
    """
    return int(ms) * 1_000_000 + 500_000


def float_ms_to_ns(ms):
    """An integer ns with ns / 1e6 == ms exactly (profiling times)."""
    est = int(Decimal(repr(ms)) * 1_000_000)
    if est / 1e6 == ms:
        return est
    # float(ns) has 256-ns granularity around 1.8e18: walk candidates nearby.
    for d in range(1, 1 << 16):
        for c in (est + d, est - d):
            if c / 1e6 == ms:
                return c
    raise ValueError("no integer ns maps to %r ms" % (ms,))


def _hex(v):
    return bytes.fromhex(v) if v is not None else None


def attempt_from_row(row, prof):
    """TaskAttempt that, encoded for `prof`, derives back to `row`."""
    name = row["name"]
    repr_name = row.get("actor_repr_name")
    func = row.get("func_or_class_name") or ""
    if row["type"] == "ACTOR_TASK" and repr_name is not None:
        method = func.split(".")[-1]
        if name == "%s.%s" % (repr_name, method):
            name = func          # the dashboard renamed it; Ray sends the plain name
    states = []
    for e in row.get("events") or []:
        if prof.legacy_ts and e["state"] not in versions.LEGACY_TS_FIELD:
            raise ValueError("state %s cannot be encoded for Ray %s" % (e["state"], prof.ray_version))
        if e["state"] not in prof.task_status:
            raise ValueError("state %s unknown to Ray %s" % (e["state"], prof.ray_version))
        states.append((e["state"], ms_to_ns(e["created_ms"])))
    et = row.get("error_type")
    if isinstance(et, str) and et.isdigit():
        et = int(et)
    profs = [(p["event_name"], float_ms_to_ns(p["start_time_ms"]), float_ms_to_ns(p["end_time_ms"]),
              json.dumps(p["extra_data"]) if p.get("extra_data") is not None else "{}")
             for p in row.get("profiling_events") or []]
    a = TaskAttempt(
        task_id=bytes.fromhex(row["task_id"]), job_id=bytes.fromhex(row["job_id"]),
        name=name, func_or_class_name=func, states=states,
        attempt_number=row.get("attempt_number", 0), type=row["type"],
        language=row.get("language", "PYTHON"), parent_task_id=_hex(row.get("parent_task_id")),
        required_resources=row.get("required_resources") or {},
        serialized_runtime_env=row.get("serialized_runtime_env"),
        node_id=_hex(row.get("node_id")), worker_id=_hex(row.get("worker_id")),
        worker_pid=row.get("worker_pid"), actor_id=_hex(row.get("actor_id")),
        placement_group_id=_hex(row.get("placement_group_id")),
        actor_repr_name=repr_name, call_site=row.get("call_site"),
        label_selector=row.get("label_selector"), error_type=et,
        error_message=row.get("error_message"), profile_events=profs,
        gate_detail=False)   # a row shows what was reported: never hide it
    return a


def encode_rows(doc, prof):
    """GetTaskEventsReply bytes for an expected_tasks.json document."""
    ents = []
    for row in doc["tasks"]:
        a = attempt_from_row(row, prof)
        ents.append(field_bytes(2, entry_bytes(a, prof)))
    dp = doc.get("num_profile_task_events_dropped", 0)
    ds = doc.get("num_status_task_events_dropped", 0)
    # The vectors' GCS reports stored = rows + status-dropped; keep that unless given.
    total = doc.get("num_total_stored", len(doc["tasks"]) + ds)
    return reply_bytes(ents, EMPTY_STATUS, dp, ds, total, doc.get("num_filtered_on_gcs", 0),
                       doc.get("num_truncated", 0))
