"""The dashboard's "proto3" JSON mode: every row in the other forms
protobuf's JSON mapping allows (https://protobuf.dev/programming-guides/proto3/#json).

Ray's dashboard prints its rows with json_format.MessageToDict
(util/state/common.py protobuf_message_to_dict -> dashboard/utils.py
message_to_dict), which writes 64-bit integers as strings and an enum
number its Python does not declare as that number. A faithful client must
read every form the mapping allows, so in this mode (admin `POST /dashboard
{"json": "proto3"}`, or `--dashboard-json proto3`) the simulator also sends:
- every integer of a protobuf field as a decimal string (int32 included);
- enums as numbers on even rows (JSON numbers), names on odd rows, so both
  forms meet the same reader in one body;
- an enum number the profile does not declare stays a number (as always).
Names of filters are matched before this rewrite, so filtering is unchanged.
"""
from . import versions

# Integer fields of each resource's rows (the protobuf ones; the dashboard's
# own floats such as created_ms stay numbers).
INT_KEYS = {
    "tasks": ("attempt_number", "worker_pid"),
    "actors": ("pid", "num_restarts", "num_restarts_due_to_lineage_reconstruction"),
    "nodes": ("start_time_ms", "end_time_ms"),
    "workers": ("pid", "start_time_ms", "end_time_ms", "worker_launch_time_ms",
                "worker_launched_time_ms", "debugger_port", "num_paused_threads"),
    "jobs": ("start_time", "end_time", "driver_exit_code"),
    "placement_groups": (),
}


def _enum_tables(resource, prof):
    if resource == "tasks":
        return {"type": versions.TASK_TYPE, "language": versions.LANGUAGE,
                "error_type": prof.error_types}
    if resource == "actors":
        return {"state": versions.ACTOR_STATE}
    if resource == "nodes":
        return {"state": versions.NODE_STATE}
    if resource == "workers":
        return {"worker_type": versions.WORKER_TYPE, "exit_type": versions.WORKER_EXIT_TYPE}
    if resource == "placement_groups":
        return {"state": prof.pg_state}
    return {}


def _int_str(d, key):
    v = d.get(key)
    if isinstance(v, int) and not isinstance(v, bool):
        d[key] = str(v)


def rewrite(resource, rows, prof):
    """rows (dicts, already filtered and cut) in the proto3 forms; new dicts."""
    tables = _enum_tables(resource, prof)
    out = []
    for i, row in enumerate(rows):
        d = dict(row)
        for k in INT_KEYS.get(resource, ()):
            _int_str(d, k)
        if i % 2 == 0:
            for k, table in tables.items():
                if isinstance(d.get(k), str) and d[k] in table:
                    d[k] = table[d[k]]
            if resource == "tasks" and d.get("events"):
                d["events"] = [dict(e, state=prof.task_status.get(e["state"], e["state"]))
                               for e in d["events"]]
        if resource == "tasks" and isinstance(d.get("task_log_info"), dict):
            d["task_log_info"] = {k: (str(v) if isinstance(v, int) else v)
                                  for k, v in d["task_log_info"].items()}
        if resource == "placement_groups" and d.get("bundles"):
            d["bundles"] = [dict(b, bundle_id=dict(b["bundle_id"],
                                                   bundle_index=str(b["bundle_id"]["bundle_index"])))
                            if isinstance(b.get("bundle_id"), dict) else b for b in d["bundles"]]
        if resource == "jobs" and isinstance(d.get("driver_info"), dict):
            d["driver_info"] = dict(d["driver_info"])
        out.append(d)
    return out
