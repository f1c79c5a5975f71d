"""Rows from TaskEvents: the Ray dashboard's derivation, in Python.

Implements the rules of test/fixtures/ray-wire/README.md (the dashboard's
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


# ---- cluster/: actors, nodes, jobs, workers, placement groups -----------------
# The rules of test/fixtures/ray-wire/README.md section "cluster/": ids hex,
# enums names, times integer ms (null when unset), rows sorted by id.

def _opt(msg, field):
    return getattr(msg, field) if msg.HasField(field) else None


def _name(table, num):
    for k, v in table.items():
        if v == num:
            return k
    return str(num)


def _actor_row(a, prof):
    dc_type = dc_msg = None
    if a.HasField("death_cause"):
        for name, num in versions.ACTOR_DEATH_CAUSE.items():
            if a.death_cause.HasField(name):
                dc_type = name
                alt = getattr(a.death_cause, name)
                dc_msg = alt.formatted_exception_string if num == 1 else alt.error_message
                break
    return {
        "actor_id": a.actor_id.hex(),
        "call_site": _opt(a, "call_site") if prof.has_actor_call_site else None,
        "class_name": a.class_name,
        "death_cause_message": dc_msg,
        "death_cause_type": dc_type,
        "end_time_ms": _opt(a, "end_time"),
        "is_detached": a.is_detached,
        "job_id": a.job_id.hex(),
        "label_selector": (dict(a.label_selector) or None) if prof.has_actor_label_selector else None,
        "name": a.name,
        "node_id": _hex(a, "node_id"),
        "num_restarts": a.num_restarts,
        "num_restarts_due_to_lineage_reconstruction":
            a.num_restarts_due_to_lineage_reconstruction if prof.has_actor_lineage_restarts else 0,
        "pid": a.pid,
        "placement_group_id": _hex(a, "placement_group_id"),
        "ray_namespace": a.ray_namespace,
        "repr_name": a.repr_name,
        "required_resources": dict(a.required_resources),
        "start_time_ms": _opt(a, "start_time"),
        "state": _name(versions.ACTOR_STATE, a.state),
    }


def _node_row(n, prof):
    di = n.death_info if (prof.has_node_death_info and n.HasField("death_info")) else None
    return {
        "death_reason": _name(versions.NODE_DEATH_REASON, di.reason) if di is not None else None,
        "death_reason_message": di.reason_message if di is not None else None,
        "end_time_ms": _opt(n, "end_time_ms"),
        "is_head_node": n.is_head_node,
        "labels": dict(n.labels),
        "node_id": n.node_id.hex(),
        "node_ip": n.node_manager_address,
        "node_name": n.node_name,
        "resources_total": dict(n.resources_total),
        "start_time_ms": _opt(n, "start_time_ms"),
        "state": _name(versions.NODE_STATE, n.state),
    }


def _job_row(j, prof):
    ji = j.job_info if j.HasField("job_info") else None
    return {
        "driver_exit_code": _opt(ji, "driver_exit_code") if ji is not None else None,
        "driver_ip_address": j.driver_ip_address,
        "driver_pid": j.driver_pid,
        "end_time_ms": _opt(j, "end_time"),
        "entrypoint": j.entrypoint,
        "is_dead": j.is_dead,
        "job_id": j.job_id.hex(),
        "message": _opt(ji, "message") if ji is not None else None,
        "metadata": (dict(ji.metadata) or None) if ji is not None else None,
        "start_time_ms": _opt(j, "start_time"),
        "status": _opt(ji, "status") if ji is not None else None,
    }


def _worker_row(w, prof):
    wa = w.worker_address
    return {
        "end_time_ms": _opt(w, "end_time_ms"),
        "exit_detail": _opt(w, "exit_detail"),
        # present with 0 (SYSTEM_ERROR) is not the same as absent
        "exit_type": _name(versions.WORKER_EXIT_TYPE, w.exit_type) if w.HasField("exit_type") else None,
        "ip": wa.ip_address,
        "is_alive": w.is_alive,
        "node_id": _hex(wa, "node_id"),
        "pid": w.pid,
        "start_time_ms": _opt(w, "start_time_ms"),
        "worker_id": _hex(wa, "worker_id"),
        "worker_launch_time_ms": _opt(w, "worker_launch_time_ms"),
        "worker_launched_time_ms": _opt(w, "worker_launched_time_ms"),
        "worker_type": _name(versions.WORKER_TYPE, w.worker_type),
    }


def _pg_row(g, prof):
    return {
        "bundles": [{"bundle_index": b.bundle_id.bundle_index, "node_id": _hex(b, "node_id"),
                     "unit_resources": dict(b.unit_resources)} for b in g.bundles],
        "creation_time_ms": _opt(g, "placement_group_creation_timestamp_ms"),
        "creator_job_id": _hex(g, "creator_job_id"),
        "final_bundle_placement_time_ms": _opt(g, "placement_group_final_bundle_placement_timestamp_ms"),
        "is_detached": g.is_detached,
        "name": g.name,
        "placement_group_id": g.placement_group_id.hex(),
        "state": prof.pg_state_name.get(g.state, str(g.state)),
        "strategy": _name(versions.PG_STRATEGY, g.strategy),
    }


CLUSTER_ID_KEY = {"actors": "actor_id", "nodes": "node_id", "jobs": "job_id",
                  "workers": "worker_id", "placement_groups": "placement_group_id"}


def cluster_rows(resource, reply, prof):
    """(rows sorted by id, reply counters) of a cluster reply on a profile."""
    m = pb()
    if resource == "actors":
        r, conv, lst = m.GetAllActorInfoReply(), _actor_row, "actor_table_data"
    elif resource == "nodes":
        r, conv, lst = m.GetAllNodeInfoReply(), _node_row, "node_info_list"
    elif resource == "jobs":
        r, conv, lst = m.GetAllJobInfoReply(), _job_row, "job_info_list"
    elif resource == "workers":
        r, conv, lst = m.GetAllWorkerInfoReply(), _worker_row, "worker_table_data"
    else:
        r = m.GetAllPlacementGroupReply() if prof.has_pg_soft_target_node else m.GetAllPlacementGroupReplyV29()
        conv, lst = _pg_row, "placement_group_table_data"
    r.ParseFromString(reply)
    rows = [conv(e, prof) for e in getattr(r, lst)]
    rows.sort(key=lambda x: x[CLUSTER_ID_KEY[resource]] or "")
    counters = {"status_code": r.status.code}
    for k in ("total", "num_filtered"):
        if k in r.DESCRIPTOR.fields_by_name:
            counters[k] = _opt(r, k)
    return rows, counters
