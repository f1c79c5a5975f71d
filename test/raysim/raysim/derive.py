"""Rows from TaskEvents: the Ray dashboard's derivation, in Python.

Implements the rules of shared/testdata/ray-wire/README.md (the dashboard's
protobuf_to_task_state_dict) for a given profile. Used to check the vectors
(Ray's bytes must derive to expected_tasks.json), the encode tool (its
output must derive back to its input) and the scenarios.
"""
import re

from . import versions
from .proto import pb

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _hex(msg, field):
    return getattr(msg, field).hex() if msg.HasField(field) else None


def state_times(ev, prof):
    """{TaskStatus number: ns} present in the entry, per the profile's layout."""
    su = ev.state_updates
    out = {}
    # Fields 2..7 and map 14 are both read: a decoder that covers every
    # version does so (protocol doc §8); the profile's table names them.
    old = versions.TASK_STATUS_OLD if prof.legacy_ts else prof.task_status
    for name, attr in versions.LEGACY_TS_ATTR.items():
        if su.HasField(attr):
            out[old[name]] = getattr(su, attr)
    for k, v in su.state_ts_ns.items():
        out[k] = v
    return out


def latest_state_name(ev, prof):
    ts = state_times(ev, prof)
    if not ts:
        return "NIL"
    return prof.status_name.get(max(ts), str(max(ts)))


def row_from_event(ev, prof):
    ti = ev.task_info
    su = ev.state_updates
    ts = state_times(ev, prof)
    events = [{"created_ms": int(ts[n] // 1e6), "state": prof.status_name.get(n, str(n))}
              for n in sorted(ts)]
    by = {e["state"]: e["created_ms"] for e in events}
    state = events[-1]["state"] if events else "NIL"
    ttype = {v: k for k, v in versions.TASK_TYPE.items()}.get(ti.type, str(ti.type))
    repr_name = su.actor_repr_name if su.HasField("actor_repr_name") else None
    name = ti.name
    if ttype == "ACTOR_TASK" and repr_name and name == ti.func_or_class_name:
        name = "%s.%s" % (repr_name, ti.func_or_class_name.split(".")[-1])
    err_type = err_msg = None
    if state == "FAILED" and su.HasField("error_info"):
        err_type = prof.error_type_str(su.error_info.error_type)
        err_msg = ANSI.sub("", su.error_info.error_message)
    end = by.get("FAILED", by.get("FINISHED"))
    rei = ti.runtime_env_info if ti.HasField("runtime_env_info") else None
    return {
        "actor_id": _hex(ti, "actor_id"),
        "actor_repr_name": repr_name,
        "attempt_number": ev.attempt_number,
        "call_site": ti.call_site if ti.HasField("call_site") else None,
        "creation_time_ms": by.get("PENDING_ARGS_AVAIL"),
        "end_time_ms": end,
        "error_message": err_msg,
        "error_type": err_type,
        "events": events,
        "func_or_class_name": ti.func_or_class_name,
        "job_id": ti.job_id.hex() if ti.HasField("job_id") else ev.job_id.hex(),
        "label_selector": dict(ti.label_selector) if len(ti.label_selector) else None,
        "language": {v: k for k, v in versions.LANGUAGE.items()}.get(ti.language, str(ti.language)),
        "name": name,
        "node_id": _hex(su, "node_id"),
        "parent_task_id": _hex(ti, "parent_task_id"),
        "placement_group_id": _hex(ti, "placement_group_id"),
        "profiling_events": [{"end_time_ms": e.end_time / 1e6, "event_name": e.event_name,
                              "start_time_ms": e.start_time / 1e6}
                             for e in ev.profile_events.events],
        "required_resources": dict(ti.required_resources),
        "serialized_runtime_env": (rei.serialized_runtime_env
                                   if rei is not None and rei.HasField("serialized_runtime_env") else None),
        "start_time_ms": by.get("RUNNING"),
        "state": state,
        "task_id": ev.task_id.hex(),
        "type": ttype,
        "worker_id": _hex(su, "worker_id"),
        "worker_pid": su.worker_pid if su.HasField("worker_pid") else None,
    }


def rows_from_reply(data, prof):
    """(rows sorted by (task_id, attempt), counters dict) from reply bytes."""
    rep = pb().GetTaskEventsReply()
    rep.ParseFromString(data)
    rows = [row_from_event(ev, prof) for ev in rep.events_by_task if ev.HasField("task_info")]
    rows.sort(key=lambda r: (r["task_id"], r["attempt_number"]))
    counters = {"num_profile_task_events_dropped": rep.num_profile_task_events_dropped,
                "num_status_task_events_dropped": rep.num_status_task_events_dropped,
                "num_truncated": rep.num_truncated,
                "num_total_stored": rep.num_total_stored,
                "num_filtered_on_gcs": rep.num_filtered_on_gcs}
    return rows, counters
