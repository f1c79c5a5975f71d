"""Baseline (b) of bench/run.sh: what Ray's State API does per task.

`ray list tasks --detail` reaches the dashboard's StateAPIManager, which
gets the GetTaskEventsReply from the GCS and turns every TaskEvents into a
dict with `protobuf_to_task_state_dict` (ray/util/state/common.py):

  1. `protobuf_message_to_dict`: google.protobuf.json_format.MessageToDict
     (default-valued fields included, proto field names), then every ID
     field (task_id, job_id, ...) base64-decoded and re-encoded as hex
     (dashboard/utils.py message_to_dict / _decode_keys);
  2. the derivation of test/fixtures/ray-wire/README.md: walk TaskStatus
     in enum order over state_ts_ns -> events [{state, created_ms}], state =
     last event or NIL, creation/start/end times, error_type/error_message
     (ANSI stripped) only for FAILED, ACTOR_TASK renamed <repr>.<method>,
     profile event times ns -> float ms, extra_data parsed as JSON.

This is a re-implementation of those two Ray functions over this repo's
.proto (which declares enums as int32, so the enum names are looked up from
raysim's version tables, as MessageToDict would for a real enum). It stops
where Ray goes on to filter, sort, build TaskState dataclasses and serialise
JSON over HTTP, so it is a LOWER bound of Ray's cost: raydar beating it by
10x means beating Ray by at least 10x.

  python3 bench/python_baseline.py REPLY.bin PROFILE [RUNS]

Prints one line of key=value timings in ms (best of RUNS, default 1).
"""
import base64
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "raysim"))

from google.protobuf import json_format  # noqa: E402
from raysim import derive, versions  # noqa: E402
from raysim.proto import pb  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DECODE_KEYS = {"task_id", "job_id", "node_id", "actor_id", "parent_task_id",
               "worker_id", "placement_group_id", "component_id"}
TYPE_NAME = {v: k for k, v in versions.TASK_TYPE.items()}
LANG_NAME = {v: k for k, v in versions.LANGUAGE.items()}


def _decode_keys(d):
    # dashboard/utils.py message_to_dict._decode_keys, as in Ray.
    for k, v in d.items():
        if isinstance(v, dict):
            d[k] = _decode_keys(v)
        if isinstance(v, list):
            new_list = []
            for i in v:
                if isinstance(i, dict):
                    new_list.append(_decode_keys(i))
                else:
                    new_list.append(i)
            d[k] = new_list
        else:
            if k in DECODE_KEYS:
                d[k] = base64.b64decode(v).hex()
            else:
                d[k] = v
    return d


def message_to_dict(message):
    d = json_format.MessageToDict(message, including_default_value_fields=True,
                                  preserving_proto_field_name=True)
    return _decode_keys(d)


def task_state_dict(message, status_items, legacy_attr):
    # ray.util.state.common.protobuf_to_task_state_dict
    task_attempt = message_to_dict(message)
    task_state = {}
    task_info = task_attempt.get("task_info", {})
    state_updates = task_attempt.get("state_updates", {})
    profiling_data = task_attempt.get("profile_events", {})
    if profiling_data:
        for event in profiling_data["events"]:
            event["end_time"] = int(event["end_time"]) / 1e6
            event["start_time"] = int(event["start_time"]) / 1e6
            event["extra_data"] = json.loads(event["extra_data"]) if "extra_data" in event else {}
    task_state["profiling_data"] = profiling_data

    mappings = [
        (task_info, ["task_id", "name", "actor_id", "type", "func_or_class_name", "language",
                     "required_resources", "runtime_env_info", "parent_task_id",
                     "placement_group_id", "call_site", "label_selector"]),
        (task_attempt, ["task_id", "attempt_number", "job_id"]),
        (state_updates, ["node_id", "worker_id", "task_log_info", "actor_repr_name",
                         "worker_pid", "is_debugger_paused"]),
    ]
    for src, keys in mappings:
        for key in keys:
            task_state[key] = src.get(key)
    # The .proto says int32 where Ray has enums; MessageToDict would name them.
    task_state["type"] = TYPE_NAME.get(task_state["type"], task_state["type"])
    task_state["language"] = LANG_NAME.get(task_state["language"], task_state["language"])

    task_state["creation_time_ms"] = None
    task_state["start_time_ms"] = None
    task_state["end_time_ms"] = None
    events = []
    ts = dict(state_updates.get("state_ts_ns", {}))
    for number, attr in legacy_attr:           # Ray <= 2.31 layout
        if attr in state_updates:
            ts.setdefault(str(number), state_updates[attr])
    for state_name, state in status_items:     # TaskStatus.items(): enum order
        key = str(state)
        if key in ts:
            ts_ms = int(ts[key]) // 1e6
            events.append({"state": state_name, "created_ms": ts_ms})
            if state_name == "PENDING_ARGS_AVAIL":
                task_state["creation_time_ms"] = ts_ms
            if state_name == "RUNNING":
                task_state["start_time_ms"] = ts_ms
            if state_name == "FINISHED" or state_name == "FAILED":
                task_state["end_time_ms"] = ts_ms
    task_state["events"] = events
    latest_state = events[-1]["state"] if events else "NIL"
    task_state["state"] = latest_state
    if latest_state == "FAILED":
        error_info = state_updates.get("error_info", None)
        if error_info:
            task_state["error_type"] = error_info.get("error_type")
            task_state["error_message"] = ANSI.sub("", error_info.get("error_message", ""))
    if (task_state["type"] == "ACTOR_TASK" and task_state["actor_repr_name"]
            and task_state["name"] == task_state["func_or_class_name"]):
        method = task_state["func_or_class_name"].split(".")[-1]
        task_state["name"] = "%s.%s" % (task_state["actor_repr_name"], method)
    return task_state


def main():
    path, profile = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    data = open(path, "rb").read()
    prof = versions.Profile(profile)
    table = prof.task_status
    status_items = sorted(table.items(), key=lambda kv: kv[1])
    # Ray <= 2.31 had the fields 2..7 instead of the map (their proto had
    # no map); later protos have no such fields, so they are read only then.
    legacy_attr = ([(versions.TASK_STATUS_OLD[n], a) for n, a in versions.LEGACY_TS_ATTR.items()]
                   if prof.legacy_ts else [])
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        rep = pb().GetTaskEventsReply()
        rep.ParseFromString(data)
        t1 = time.perf_counter()
        rows = [task_state_dict(ev, status_items, legacy_attr)
                for ev in rep.events_by_task]
        t2 = time.perf_counter()
        cur = (t2 - t0, t1 - t0, t2 - t1)
        if best is None or cur[0] < best[0]:
            best = cur
    # Sanity: the same states as raysim's derivation (derive.py) on a sample.
    for i in range(0, len(rows), max(1, len(rows) // 50)):
        assert rows[i]["state"] == derive.latest_state_name(rep.events_by_task[i], prof), i
    print("rows=%d total_ms=%.1f parse_ms=%.1f dict_derive_ms=%.1f" %
          (len(rows), best[0] * 1e3, best[1] * 1e3, best[2] * 1e3))


if __name__ == "__main__":
    main()
