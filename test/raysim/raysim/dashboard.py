"""The Ray dashboard's HTTP State API (port 8265), served from the simulator.

GET /api/v0/{tasks,actors,nodes,jobs,workers,placement_groups} and
GET /api/version, as Ray's dashboard head answers them (state_head.py,
state_api_utils.py, state_aggregator.py, util/state/common.py,
http_token_authentication.py; see docs/simulator.md "Dashboard HTTP API").

The dashboard is a client of the GCS: every list call makes a real gRPC call
to the simulator's own GCS port, with the request the dashboard of the
profile's version builds (limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE, the
filters it pushes down, in that version's layout). So HTTP rows come from
the same cluster state and code paths as the gRPC services, gRPC faults
(unavailable, slow, malformed, gcs_status) reach HTTP the way a GCS failure
reaches Ray's dashboard, and the dashboard's GCS calls show in /requests.
Task rows are derived with derive.py (the dashboard's own derivation).

Rows are then filtered (do_filter: = and !=, strings case-insensitive),
sorted by id and cut to `limit`, as Ray does. HTTP-only faults (status
codes, bad JSON bodies, dropped connections) come from faults.py.
"""
import hmac
import json
import os
import random
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from . import cluster, derive, proto3json, versions
from .proto import pb

GET_TASK_EVENTS = "/ray.rpc.TaskInfoGcsService/GetTaskEvents"
MAX_MSG = 512 * 1024 * 1024

# util/state/common.py
DEFAULT_LIMIT = 100
RAY_MAX_LIMIT_FROM_API_SERVER = 10_000
RAY_MAX_LIMIT_FROM_DATA_SOURCE = 10_000
DEFAULT_RPC_TIMEOUT = 30
SERVER_TIMEOUT_MULTIPLIER = 0.8
# dashboard/consts.py: RAY_STATE_SERVER_MAX_HTTP_REQUEST (default 100,
# capped at ..._ALLOWED = 1000).
MAX_HTTP_REQUEST = 100
MAX_HTTP_REQUEST_ALLOWED = 1000

# Dashboard version facts (compared with Profile.version). 400 (bad
# limit/filter) and 429 (too many in flight) arrived around 2.53 (issue 16;
# the exact release is not pinned down); versions up to 2.49 reply through
# rest_response(success=...), i.e. 200 or 500 (protocol doc section 7).
STATUS_CODES_SINCE = (2, 53, 0)
# Up to 2.40 list_tasks counts total = num_total_stored + dropped and
# num_after_truncation = rows + num_filtered_on_gcs; from 2.41
# total = rows + dropped, num_after_truncation = rows
# (python/ray/dashboard/state_aggregator.py; issue 16: the change is 2.41's).
TASK_COUNTS_V2_SINCE = (2, 41, 0)
# TaskState.is_debugger_paused, NodeState.state_message, WorkerState
# debugger_port/num_paused_threads: not in 2.9.
DEBUGGER_COLUMNS_SINCE = (2, 10, 0)
# VersionResponse.version: "4" up to 2.49, "5" on master (job logs 503).
# /api/version "version": "4" on every release and on master (issue 16's
# reading of Ray's dashboard version module; the earlier "5" was wrong).
API_VERSION = {p: "4" for p in versions.PROFILES}

GCS_QUERY_FAILURE_WARNING = (
    "Failed to query data from GCS. It is due to "
    "(1) GCS is unexpectedly failed. "
    "(2) GCS is overloaded. "
    "(3) There's an unexpected network issue. "
    "Please check the gcs_server.out log to find the root cause.")

RESOURCES = ("tasks", "actors", "nodes", "jobs", "workers", "placement_groups")


# ---- errors, as Ray's handlers classify them ----------------------------------

class BadRequest(Exception):
    """A ValueError in Ray: 400 on master, a 500 traceback before."""


class SourceUnavailable(Exception):
    """DataSourceUnavailable: 500 with data.result null."""


class Internal(Exception):
    """Any other exception: the route wrapper's 500 with a traceback."""

    def __init__(self, exc_name, msg):
        super().__init__(msg)
        self.exc_name = exc_name


def _traceback(exc_name, msg):
    # What traceback.format_exc() puts in "msg" (shortened: one frame).
    return ("Traceback (most recent call last):\n"
            "  File \"/ray/dashboard/modules/state/state_head.py\", line 1, in handler\n"
            "%s: %s\n" % (exc_name, msg))


# ---- schemas (util/state/common.py *State dataclasses) -------------------------

class Schema:
    """Columns in dataclass order, which are detail-only, which filterable,
    and the declared type used by convert_filters_type ("int", "bool")."""

    def __init__(self, cols, filterable, typed=None):
        self.cols = cols                      # [(name, detail)]
        self.filterable = set(filterable)
        self.typed = typed or {}

    def columns(self, detail):
        return [c for c, d in self.cols if detail or not d]


def schema(resource, prof):
    v = prof.version
    dbg = v >= DEBUGGER_COLUMNS_SINCE
    if resource == "tasks":
        cols = [(c, False) for c in ("task_id", "attempt_number", "name", "state", "job_id",
                                      "actor_id", "type", "func_or_class_name", "parent_task_id",
                                      "node_id", "worker_id", "worker_pid", "error_type")]
        cols += [(c, True) for c in ("language", "required_resources", "runtime_env_info",
                                      "placement_group_id", "events", "profiling_data",
                                      "creation_time_ms", "start_time_ms", "end_time_ms",
                                      "task_log_info", "error_message")]
        if dbg:
            cols.append(("is_debugger_paused", True))
        if prof.has_call_site:
            cols.append(("call_site", True))
        if prof.has_label_selector:
            cols.append(("label_selector", True))
        filt = ["task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type",
                "func_or_class_name", "parent_task_id", "node_id", "worker_id", "worker_pid",
                "error_type", "language", "placement_group_id"] + (["is_debugger_paused"] if dbg else [])
        return Schema(cols, filt, {"attempt_number": "int"})
    if resource == "actors":
        cols = [(c, False) for c in ("actor_id", "class_name", "state", "job_id", "name", "node_id",
                                      "pid", "ray_namespace")]
        cols += [(c, True) for c in ("serialized_runtime_env", "required_resources", "death_cause",
                                      "is_detached", "placement_group_id", "repr_name", "num_restarts")]
        if prof.has_actor_lineage_restarts:
            cols.append(("num_restarts_due_to_lineage_reconstruction", True))
        if prof.has_actor_call_site:
            cols.append(("call_site", True))
        if prof.has_actor_label_selector:
            cols.append(("label_selector", True))
        return Schema(cols, ["actor_id", "class_name", "state", "job_id", "name", "node_id", "pid",
                             "ray_namespace", "placement_group_id", "repr_name"])
    if resource == "nodes":
        cols = [("node_id", False), ("node_ip", False), ("is_head_node", False), ("state", False)]
        if prof.has_node_death_info:
            cols.append(("state_message", False))
        cols += [("node_name", False), ("resources_total", False), ("labels", False),
                 ("start_time_ms", True), ("end_time_ms", True)]
        return Schema(cols, ["node_id", "node_ip", "is_head_node", "state", "node_name"],
                      {"is_head_node": "bool"})
    if resource == "workers":
        cols = [(c, False) for c in ("worker_id", "is_alive", "worker_type", "exit_type", "node_id",
                                      "ip", "pid")]
        cols += [(c, True) for c in ("exit_detail", "worker_launch_time_ms", "worker_launched_time_ms",
                                      "start_time_ms", "end_time_ms")]
        filt = ["worker_id", "is_alive", "worker_type", "exit_type", "node_id", "ip", "pid"]
        if dbg:
            cols += [("debugger_port", True), ("num_paused_threads", True)]
            filt += ["debugger_port", "num_paused_threads"]
        return Schema(cols, filt, {"is_alive": "bool", "pid": "int"})
    if resource == "placement_groups":
        cols = [("placement_group_id", False), ("name", False), ("creator_job_id", False),
                ("state", False), ("bundles", True), ("is_detached", True), ("stats", True)]
        return Schema(cols, ["placement_group_id", "name", "creator_job_id", "state", "is_detached"])
    # jobs: JobState = pydantic JobDetails; detail=false has its own list.
    detail = ["status", "entrypoint", "message", "error_type", "start_time", "end_time",
              "metadata", "runtime_env", "driver_agent_http_address", "driver_node_id",
              "driver_exit_code", "type", "job_id", "submission_id", "driver_info"]
    base = ["job_id", "submission_id", "entrypoint", "type", "status", "message", "error_type",
            "driver_info"]
    s = Schema([(c, c not in base) for c in detail], ["job_id", "type", "status", "submission_id"])
    s.base_order = base
    return s


def columns(resource, prof, detail):
    s = schema(resource, prof)
    if resource == "jobs" and not detail:
        return s.base_order
    return s.columns(detail)


# ---- request options (state_api_utils.options_from_req) -------------------------

def _to_bool(val):
    """convert_string_to_type(val, bool)."""
    if isinstance(val, bool):
        return val
    if val.lower() in ("true", "1"):
        return True
    if val.lower() in ("false", "0"):
        return False
    raise BadRequest("Failed to convert a value %s of type %s to %s" % (val, type(val), bool))


def _to_int(val):
    try:
        return int(val)
    except ValueError:
        raise BadRequest("invalid literal for int() with base 10: %r" % val)


class Options:
    kv_jobs = False     # jobs: submission jobs from the KV store (2.37+, not in replay)


def parse_options(query, prof):
    """ListApiOptions from the query ({key: [values]} in order)."""
    def first(k, default=None):
        v = query.get(k)
        return v[0] if v else default
    o = Options()
    ls = first("limit")
    o.limit = DEFAULT_LIMIT if ls is None else _to_int(ls)
    if o.limit > RAY_MAX_LIMIT_FROM_API_SERVER:
        tail = (" Use a lower limit, or set the `RAY_MAX_LIMIT_FROM_API_SERVER` environment "
                "variable to a larger value." if prof.version >= STATUS_CODES_SINCE
                else " Use a lower limit.")
        raise BadRequest("Given limit %d exceeds the supported limit %d.%s"
                         % (o.limit, RAY_MAX_LIMIT_FROM_API_SERVER, tail))
    o.timeout = _to_int(first("timeout", str(DEFAULT_RPC_TIMEOUT)))
    keys = query.get("filter_keys", [])
    preds = query.get("filter_predicates", [])
    vals = query.get("filter_values", [])
    if len(keys) != len(vals):
        raise Internal("AssertionError", "")
    o.filters = list(zip(keys, preds, vals))
    o.detail = _to_bool(first("detail", False))
    o.exclude_driver = _to_bool(first("exclude_driver", True))
    # ListApiOptions.__post_init__
    o.timeout = int(o.timeout * SERVER_TIMEOUT_MULTIPLIER)
    if o.timeout == 0:
        raise Internal("AssertionError", "0 second timeout is not supported.")
    for _, p, _ in o.filters:
        if p not in ("=", "!="):
            raise BadRequest("Unsupported filter predicate %s is given. Available predicates: =, !=." % p)
    return o


# ---- GCS requests as the dashboard of each version builds them -----------------

def _id(kind, value):
    """hex_to_binary + <Kind>ID(...): bad hex or a wrong length is a ValueError."""
    try:
        b = bytes.fromhex(value)
    except ValueError:
        raise BadRequest("Non-hexadecimal digit found")
    want = versions.ID_LEN[kind]
    if len(b) != want:
        raise BadRequest("ID string needs to have length %d" % want)
    return b


def task_request(o, prof):
    m = pb()
    if prof.predicate_filters:
        req = m.GetTaskEventsRequest()
        f = req.filters
        for key, p, v in o.filters:
            pred = 0 if p == "=" else 1
            if key == "actor_id":
                s = f.actor_filters.add()
                s.actor_id = _id("actor", v)
            elif key == "job_id":
                s = f.job_filters.add()
                s.job_id = _id("job", v)
            elif key == "task_id":
                s = f.task_filters.add()
                s.task_id = _id("task", v)
            elif key == "name":
                s = f.task_name_filters.add()
                s.task_name = v
            elif key == "state":
                s = f.state_filters.add()
                s.state = v
            else:
                continue
            s.predicate = pred
    else:
        # EQUAL only, scalars (a second job_id/actor_id/name overwrites).
        req = m.GetTaskEventsRequestLegacy()
        f = req.filters
        for key, p, v in o.filters:
            if p != "=":
                continue
            if key == "actor_id":
                f.actor_id = _id("actor", v)
            elif key == "job_id":
                f.job_id = _id("job", v)
            elif key == "name":
                f.name = v
            elif key == "task_id":
                f.task_ids.append(_id("task", v))
            elif key == "state" and prof.has_state_filter:
                f.state = v
    f.exclude_driver = o.exclude_driver
    req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
    return req.SerializeToString()


def _enum_value(table, value, what):
    v = value.upper()
    if v not in table:
        raise BadRequest("Invalid %s state for filtering: %s" % (what, v))
    return table[v]


def cluster_request(resource, o, prof):
    m = pb()
    eq = [(k, v) for k, p, v in o.filters if p == "="]
    if resource == "actors":
        req = m.GetAllActorInfoRequest()
        req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
        req.filters.SetInParent()
        for k, v in eq:
            if k == "actor_id":
                req.filters.actor_id = _id("actor", v)
            elif k == "state":
                req.filters.state = _enum_value(versions.ACTOR_STATE, v, "actor")
            elif k == "job_id":
                req.filters.job_id = _id("job", v)
        return req.SerializeToString()
    if resource == "nodes":
        layout = prof.node_request_layout
        if layout == "none":
            return b""
        if layout == "v2.36":
            req = m.GetAllNodeInfoRequestV236()
            req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
            for k, v in eq:
                if k == "node_id":
                    req.filters.node_id = _id("node", v)
                elif k == "state":
                    req.filters.state = _enum_value(versions.NODE_STATE, v, "node")
                elif k == "node_name":
                    req.filters.node_name = v
            return req.SerializeToString()
        req = m.GetAllNodeInfoRequest()
        req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
        for k, v in eq:
            if k == "node_id":
                req.node_selectors.add().node_id = _id("node", v)
            elif k == "state":
                req.state_filter = _enum_value(versions.NODE_STATE, v, "node")
            elif k == "node_name":
                req.node_selectors.add().node_name = v
        return req.SerializeToString()
    if resource == "workers":
        req = m.GetAllWorkerInfoRequest()
        req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
        if prof.has_worker_filters:
            req.filters.SetInParent()
            for k, p, v in o.filters:
                if k == "num_paused_threads" and p in ("!=", ">") and v == "0":
                    req.filters.exist_paused_threads = True
                elif k == "is_alive" and p == "=" and v == "True":
                    req.filters.is_alive = True
        return req.SerializeToString()
    if resource == "placement_groups":
        req = m.GetAllPlacementGroupRequest()
        req.limit = RAY_MAX_LIMIT_FROM_DATA_SOURCE
        return req.SerializeToString()
    if resource == "jobs" and prof.has_job_request_v237 and o.kv_jobs:
        # 2.37+: the dashboard asks the GCS to skip job_info and reads the
        # submission jobs from the KV store itself (job/utils.py).
        req = m.GetAllJobInfoRequest()
        req.skip_submission_job_info_field = True
        return req.SerializeToString()
    return b""     # jobs: GetAllJobInfo with no fields


# ---- rows (protobuf_to_task_state_dict and the list_* transforms) ---------------

def _hex(msg, field):
    return getattr(msg, field).hex() if msg.HasField(field) else None


def _map(m):
    """A protobuf map as a dict with sorted keys: map order on the wire is
    not defined, and the simulator's bodies must be byte-for-byte stable."""
    return dict(sorted(m.items()))


def _fms(ms):
    return None if ms is None else float(ms)


def _msg_dict(msg):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return d


def task_datum(ev, prof):
    """The dict protobuf_to_task_state_dict returns (before filter_fields);
    state, events, times, name and error come from derive.row_from_event."""
    r = derive.row_from_event(ev, prof)
    ti, su = ev.task_info, ev.state_updates
    d = {}
    if ev.HasField("profile_events"):
        pe = ev.profile_events
        prof_data = {"component_type": pe.component_type,
                     "component_id": pe.component_id.hex(),
                     "node_ip_address": pe.node_ip_address,
                     "events": [{"start_time": e.start_time / 1e6, "end_time": e.end_time / 1e6,
                                 "extra_data": json.loads(e.extra_data) if e.HasField("extra_data") else {},
                                 "event_name": e.event_name} for e in pe.events]}
    else:
        prof_data = {}
    d["profiling_data"] = prof_data
    for k in ("task_id", "name", "actor_id", "type", "func_or_class_name", "language"):
        d[k] = r[k]
    d["required_resources"] = _map(r["required_resources"])
    if ti.HasField("runtime_env_info"):
        d["runtime_env_info"] = _msg_dict(ti.runtime_env_info)
    else:
        d["runtime_env_info"] = None
    d["parent_task_id"] = r["parent_task_id"]
    d["placement_group_id"] = r["placement_group_id"]
    d["attempt_number"] = r["attempt_number"]
    d["job_id"] = ev.job_id.hex() if ev.HasField("job_id") else r["job_id"]
    d["node_id"] = r["node_id"]
    d["worker_id"] = r["worker_id"]
    d["task_log_info"] = _msg_dict(su.task_log_info) if su.HasField("task_log_info") else None
    d["actor_repr_name"] = r["actor_repr_name"]
    d["worker_pid"] = r["worker_pid"]
    d["is_debugger_paused"] = su.is_debugger_paused if su.HasField("is_debugger_paused") else None
    d["creation_time_ms"] = _fms(r["creation_time_ms"])
    d["start_time_ms"] = _fms(r["start_time_ms"])
    d["end_time_ms"] = _fms(r["end_time_ms"])
    d["events"] = [{"state": e["state"], "created_ms": float(e["created_ms"])} for e in r["events"]]
    d["state"] = r["state"]
    if r["state"] == "FAILED" and su.HasField("error_info"):
        d["error_message"] = r["error_message"]
        d["error_type"] = r["error_type"]
    if prof.has_call_site:
        d["call_site"] = r["call_site"]
    if prof.has_label_selector:
        # A map: MessageToDict prints {} when empty (derive's null is the
        # vectors' client-side rule).
        d["label_selector"] = _map(ti.label_selector)
    return d


def _name(table, num):
    for k, v in table.items():
        if v == num:
            return k
    return num


def actor_datum(a, prof):
    d = {"actor_id": a.actor_id.hex(), "class_name": a.class_name,
         "state": _name(versions.ACTOR_STATE, a.state), "job_id": a.job_id.hex(),
         "name": a.name, "node_id": _hex(a, "node_id"), "pid": a.pid,
         "ray_namespace": a.ray_namespace, "serialized_runtime_env": a.serialized_runtime_env,
         "required_resources": _map(a.required_resources),
         "death_cause": _msg_dict(a.death_cause) if a.HasField("death_cause") else None,
         "is_detached": a.is_detached, "placement_group_id": _hex(a, "placement_group_id"),
         # uint64/int64: MessageToDict writes them as strings
         # (protobuf_message_to_dict; list_actors does not convert them).
         "repr_name": a.repr_name, "num_restarts": str(a.num_restarts)}
    if prof.has_actor_lineage_restarts:
        d["num_restarts_due_to_lineage_reconstruction"] = str(a.num_restarts_due_to_lineage_reconstruction)
    if prof.has_actor_call_site:
        d["call_site"] = a.call_site if a.HasField("call_site") else None
    if prof.has_actor_label_selector:
        d["label_selector"] = _map(a.label_selector)
    return d


def compose_state_message(reason, message):
    """dashboard/utils.py compose_state_message."""
    sm = {"EXPECTED_TERMINATION": "Expected termination",
          "UNEXPECTED_TERMINATION": "Unexpected termination",
          "AUTOSCALER_DRAIN_PREEMPTED": "Terminated due to preemption",
          "AUTOSCALER_DRAIN_IDLE": "Terminated due to idle (no Ray activity)"}.get(reason)
    if message:
        sm = "%s: %s" % (sm, message) if sm else message
    return sm


def node_datum(n, prof):
    d = {"node_id": n.node_id.hex(), "node_ip": n.node_manager_address,
         "is_head_node": n.is_head_node, "state": _name(versions.NODE_STATE, n.state),
         "node_name": n.node_name, "resources_total": _map(n.resources_total),
         "labels": _map(n.labels), "start_time_ms": n.start_time_ms, "end_time_ms": n.end_time_ms}
    if prof.has_node_death_info:
        di = n.death_info
        d["state_message"] = compose_state_message(
            _name(versions.NODE_DEATH_REASON, di.reason) if n.HasField("death_info") else None,
            di.reason_message if n.HasField("death_info") else None)
    return d


def worker_datum(w, prof):
    wa = w.worker_address
    d = {"worker_id": wa.worker_id.hex(), "is_alive": w.is_alive,
         "worker_type": _name(versions.WORKER_TYPE, w.worker_type),
         "exit_type": _name(versions.WORKER_EXIT_TYPE, w.exit_type) if w.HasField("exit_type") else None,
         "node_id": wa.node_id.hex(), "ip": wa.ip_address, "pid": w.pid,
         "exit_detail": w.exit_detail if w.HasField("exit_detail") else None,
         "worker_launch_time_ms": w.worker_launch_time_ms,
         "worker_launched_time_ms": w.worker_launched_time_ms,
         "start_time_ms": w.start_time_ms, "end_time_ms": w.end_time_ms}
    if prof.version >= DEBUGGER_COLUMNS_SINCE:
        d["debugger_port"] = w.debugger_port
        d["num_paused_threads"] = w.num_paused_threads
    return d


def pg_datum(g, prof):
    return {"placement_group_id": g.placement_group_id.hex(), "name": g.name,
            "creator_job_id": g.creator_job_id.hex(),
            "state": prof.pg_state_name.get(g.state, g.state),
            "bundles": [{"bundle_id": {"placement_group_id": b.bundle_id.placement_group_id.hex(),
                                       "bundle_index": b.bundle_id.bundle_index},
                         "unit_resources": _map(b.unit_resources),
                         "node_id": _hex(b, "node_id")} for b in g.bundles],
            "is_detached": g.is_detached, "stats": None}


def job_datum(j, submission_id):
    """JobDetails of one GetAllJobInfo entry: a driver job, or (with
    job_info) a submission job whose KV record is the entry's job_info."""
    jid = j.job_id.hex()
    drv = {"id": jid, "node_ip_address": j.driver_ip_address, "pid": str(j.driver_pid)}
    if j.HasField("job_info"):
        ji = j.job_info
        return {"status": ji.status, "entrypoint": ji.entrypoint,
                "message": ji.message if ji.HasField("message") else None,
                "error_type": ji.error_type if ji.HasField("error_type") else None,
                "start_time": ji.start_time if ji.HasField("start_time") else None,
                "end_time": ji.end_time if ji.HasField("end_time") else None,
                "metadata": _map(ji.metadata),
                "runtime_env": json.loads(ji.runtime_env_json) if ji.HasField("runtime_env_json") else None,
                "driver_agent_http_address": None, "driver_node_id": None,
                "driver_exit_code": ji.driver_exit_code if ji.HasField("driver_exit_code") else None,
                "type": "SUBMISSION", "job_id": jid, "submission_id": submission_id,
                "driver_info": drv}
    return {"status": "SUCCEEDED" if j.is_dead else "RUNNING", "entrypoint": j.entrypoint,
            "message": None, "error_type": None, "start_time": j.start_time,
            "end_time": j.end_time, "metadata": {}, "runtime_env": {},
            "driver_agent_http_address": None, "driver_node_id": None, "driver_exit_code": None,
            "type": "DRIVER", "job_id": jid, "submission_id": None, "driver_info": drv}


# ---- do_filter (state_api_utils.py) -----------------------------------------------

def do_filter(data, filters, sch, cols):
    """Ray's do_filter + filter_fields: a bad column only raises when there
    is a row to test it on; a column the row lacks never matches."""
    conv = []
    for col, p, v in filters:        # convert_filters_type
        t = sch.typed.get(col)
        if t == "int":
            try:
                v = int(v)
            except ValueError:
                raise BadRequest("Invalid filter `--filter %s %s` for a int type column. "
                                 "Please provide an integer filter `--filter %s [int]`" % (col, v, col))
        elif t == "bool":
            v = _to_bool(v)
        conv.append((col, p, v))
    out = []
    for datum in data:
        match = True
        for col, p, v in conv:
            col = col.lower()
            if col not in sch.filterable:
                raise BadRequest("The given filter column %s is not supported. Enter filters with "
                                 "\u2013-filter key=value or \u2013-filter key!=value Supported filter "
                                 "columns: {%s}" % (col, ", ".join(repr(c) for c in sorted(sch.filterable))))
            if col not in datum:
                match = False
            elif p == "=":
                x = datum[col]
                if isinstance(v, str) and isinstance(x, str):
                    match = x.lower() == v.lower()
                elif isinstance(v, str) and isinstance(x, bool):
                    match = x == _to_bool(v)
                elif isinstance(v, str) and isinstance(x, int):
                    match = x == _to_int(v)
                else:
                    match = x == v
            else:
                x = datum[col]
                if isinstance(v, str) and isinstance(x, str):
                    match = x.lower() != v.lower()
                else:
                    match = x != v
            if not match:
                break
        if match:
            out.append({c: datum.get(c) for c in cols})
    return out


# ---- the GCS call --------------------------------------------------------------

def tls_channel_credentials(tls):
    def rd(k):
        with open(tls[k], "rb") as f:
            return f.read()
    return grpc.ssl_channel_credentials(root_certificates=rd("ca"), private_key=rd("key"),
                                        certificate_chain=rd("cert"))


class GcsCaller:
    """Raw unary calls to the simulator's own GCS port, as the dashboard's
    GCS client: timeout, token, fresh channel each time (so a restarted GCS
    is reached at once)."""

    def __init__(self, sim):
        self.sim = sim

    def call(self, method, req, timeout):
        port = self.sim.server.port
        md = [("x-raysim-origin", "dashboard")]
        if self.sim.token is not None:
            md.append(("authorization", "Bearer " + self.sim.token))
        if timeout <= 0:
            raise SourceUnavailable(GCS_QUERY_FAILURE_WARNING)
        opts = [("grpc.max_receive_message_length", MAX_MSG), ("grpc.enable_retries", 0)]
        tls = self.sim.gcs_tls
        if tls:
            # As Ray's own clients under RAY_USE_TLS: the server's certificate
            # and key are also the client's (gcs.GcsServer requires one).
            ch = grpc.secure_channel("127.0.0.1:%d" % port, tls_channel_credentials(tls), options=opts)
        else:
            ch = grpc.insecure_channel("127.0.0.1:%d" % port, options=opts)
        try:
            fn = ch.unary_unary(method, request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
            return fn(req, metadata=md, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise SourceUnavailable(GCS_QUERY_FAILURE_WARNING)
            raise Internal("grpc.aio.AioRpcError", "<AioRpcError of RPC that terminated with:\n"
                           "\tstatus = %s\n\tdetails = \"%s\"\n>" % (e.code(), e.details()))
        finally:
            ch.close()


def _parse(cls, raw):
    r = cls()
    try:
        r.ParseFromString(raw)
    except DecodeError as e:
        # grpc.aio fails to deserialize the reply: not DataSourceUnavailable.
        raise Internal("grpc.aio.AioRpcError", "Failed to deserialize response message: %s" % e)
    return r


def list_resource(dash, resource, o, prof):
    """ListApiResponse dict for one resource (state_aggregator.list_*)."""
    sim = dash.sim
    m = pb()
    sch = schema(resource, prof)
    cols = columns(resource, prof, o.detail)
    if resource == "tasks":
        raw = dash.gcs.call(GET_TASK_EVENTS, task_request(o, prof), o.timeout)
        reply = _parse(m.GetTaskEventsReply, raw)
        if reply.status.code != 0:
            return {"total": 0, "num_after_truncation": 0, "num_filtered": 0, "result": [],
                    "partial_failure_warning": "", "warnings": [reply.status.message]}
        data = [task_datum(ev, prof) for ev in reply.events_by_task]
        if prof.version >= TASK_COUNTS_V2_SINCE:
            num_after = len(data)
            total = len(data) + reply.num_status_task_events_dropped
        else:
            num_after = len(data) + reply.num_filtered_on_gcs
            total = reply.num_total_stored + reply.num_status_task_events_dropped
        key = "task_id"
    elif resource == "jobs":
        o.kv_jobs = sim.replay is None      # a replay has no KV store
        raw = dash.gcs.call(cluster.JOBS, cluster_request("jobs", o, prof), o.timeout)
        reply = _parse(m.GetAllJobInfoReply, raw)
        subs = {}
        if sim.replay is None:
            now_ms = sim.model.now_ns() / 1e6
            for jid, ent in sim.model.scenario.entities.jobs.items():
                if ent.get("submission_id"):
                    subs[jid] = ent["submission_id"]
            if prof.has_job_request_v237:
                # The KV store's JobInfo of each submission job.
                kv = {}
                for jid, ent in sim.model.scenario.entities.jobs.items():
                    v = cluster.view(ent, now_ms)
                    if v is not None and v.get("job_info") is not None:
                        kv[jid] = _parse(m.JobTableData, cluster.encode_job(v, prof)).job_info
                for j in reply.job_info_list:
                    if j.job_id in kv:
                        j.job_info.CopyFrom(kv[j.job_id])
        data = [job_datum(j, subs.get(j.job_id)) for j in reply.job_info_list]
        total = num_after = len(data)
        key = "job_id"
    else:
        method = cluster.RESOURCE_METHOD[resource]
        raw = dash.gcs.call(method, cluster_request(resource, o, prof), o.timeout)
        if resource == "actors":
            reply = _parse(m.GetAllActorInfoReply, raw)
            data = [actor_datum(a, prof) for a in reply.actor_table_data]
            num_after = len(data) + reply.num_filtered
            total = reply.total
            key = "actor_id"
        elif resource == "nodes":
            reply = _parse(m.GetAllNodeInfoReply, raw)
            data = [node_datum(n, prof) for n in reply.node_info_list]
            num_after = len(data) + reply.num_filtered      # list_nodes: rows + num_filtered
            truncated = (reply.total - reply.num_filtered - len(data)) if prof.has_node_reply_counts else 0
            total = num_after + max(truncated, 0)
            key = "node_id"
        elif resource == "workers":
            reply = _parse(m.GetAllWorkerInfoReply, raw)
            data = [worker_datum(w, prof) for w in reply.worker_table_data]
            num_after = len(data) + reply.num_filtered      # list_workers: rows + num_filtered
            total = reply.total
            key = "worker_id"
        else:
            cls = m.GetAllPlacementGroupReply if prof.has_pg_soft_target_node else m.GetAllPlacementGroupReplyV29
            reply = _parse(cls, raw)
            data = [pg_datum(g, prof) for g in reply.placement_group_table_data]
            num_after = len(data)
            total = reply.total
            key = "placement_group_id"
    rows = do_filter(data, o.filters, sch, cols)
    num_filtered = len(rows)
    rows.sort(key=lambda r: r[key] or "")     # stable: equal ids keep the GCS order
    if o.limit < 0:
        raise BadRequest("Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize.")
    rows = rows[:o.limit]
    return {"total": total, "num_after_truncation": num_after, "num_filtered": num_filtered,
            "result": rows, "partial_failure_warning": "", "warnings": None}


# ---- the HTTP server --------------------------------------------------------------

class Dashboard:
    """The HTTP(S) server; stop()/start() keep the port (fault http_unavailable)."""

    def __init__(self, sim, port=0, tls_cert=None, tls_key=None, max_requests=MAX_HTTP_REQUEST):
        self.sim = sim
        self.port = port
        self.gcs = GcsCaller(sim)
        self.ssl_ctx = None
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            self.ssl_ctx = ctx
        self.max_requests = min(max_requests, MAX_HTTP_REQUEST_ALLOWED)
        self.json_mode = "ray"       # or "proto3": see proto3json.py
        self.odd = []                # [{"resource", "row", "key", "value"}]: values no mapping allows
        self.inflight = 0
        self.lock = threading.Lock()
        self.requests = []           # HTTP request log (admin GET /http_requests)
        self.conns = set()           # open client sockets (keep-alive included)
        self.server = None

    @property
    def scheme(self):
        return "https" if self.ssl_ctx else "http"

    @property
    def running(self):
        return self.server is not None

    def start(self):
        with self.lock:
            if self.server is not None:
                return self.port
            srv = ThreadingHTTPServer(("127.0.0.1", self.port), make_handler(self))
            srv.daemon_threads = True
            if self.ssl_ctx is not None:
                # Handshake in the handler thread, not in accept().
                srv.socket = self.ssl_ctx.wrap_socket(srv.socket, server_side=True,
                                                      do_handshake_on_connect=False)
            self.port = srv.server_address[1]
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.server = srv
            return self.port

    def stop(self):
        """Close the listener and every open connection: a client reusing a
        keep-alive connection must see the server gone too."""
        with self.lock:
            srv, self.server = self.server, None
            conns = list(self.conns)
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- request handling ------------------------------------------------------
    def api_version(self):
        prof = self.sim.profile
        return 200, "application/json; charset=utf-8", json.dumps({
            "version": API_VERSION[prof.name], "ray_version": prof.ray_version,
            "ray_commit": RAY_COMMIT[prof.name], "session_name": self.sim.session_name}).encode()

    def error(self, prof, kind, msg, exc_name="ValueError"):
        new = prof.version >= STATUS_CODES_SINCE
        if kind == "bad":
            if new:
                return 400, {"result": False, "msg": msg, "data": {"result": None}}
            return 500, {"result": False, "msg": _traceback(exc_name, msg), "data": {}}
        if kind == "busy":
            return (429 if new else 500), {"result": False, "msg": msg, "data": {"result": None}}
        if kind == "unavailable":
            return 500, {"result": False, "msg": msg, "data": {"result": None}}
        return 500, {"result": False, "msg": _traceback(exc_name, msg), "data": {}}

    def list_api(self, resource, query):
        prof = self.sim.profile
        with self.lock:
            busy = self.max_requests >= 0 and self.inflight >= self.max_requests
            if not busy:
                self.inflight += 1
        if busy:
            return self.error(prof, "busy",
                              "Max number of in-progress requests=%d reached. To set a higher limit, "
                              "set environment variable: export RAY_STATE_SERVER_MAX_HTTP_REQUEST='xxx'. "
                              "Max allowed = %d" % (self.max_requests, MAX_HTTP_REQUEST_ALLOWED))
        try:
            o = parse_options(query, prof)
            res = list_resource(self, resource, o, prof)
            if self.json_mode == "proto3":
                res["result"] = proto3json.rewrite(resource, res["result"], prof)
            for o in self.odd:
                if o["resource"] == resource and o.get("row", 0) < len(res["result"]):
                    res["result"][o.get("row", 0)] = dict(res["result"][o.get("row", 0)],
                                                          **{o["key"]: o["value"]})
            return 200, {"result": True, "msg": "", "data": {"result": res}}
        except BadRequest as e:
            return self.error(prof, "bad", str(e))
        except SourceUnavailable as e:
            return self.error(prof, "unavailable", str(e))
        except Internal as e:
            return self.error(prof, "internal", str(e), e.exc_name)
        finally:
            with self.lock:
                self.inflight -= 1


# A 40-hex ray_commit per profile. Not Ray's real commits (unknown here):
# stable fakes so clients can show and compare them.
RAY_COMMIT = {p: ("%08x" % (0x5eed0000 + i)) * 5 for i, p in enumerate(versions.PROFILES)}

PUBLIC_PATHS = {"/", "/favicon.ico", "/api/authentication_mode", "/api/authenticate",
                "/api/healthz", "/api/gcs_healthz", "/api/local_raylet_healthz", "/-/healthz"}


def make_handler(dash):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"       # keep-alive, like aiohttp
        def version_string(self):
            return "Python/3.11 aiohttp/3.9.5"

        def log_message(self, *a):
            pass

        def setup(self):
            super().setup()
            with dash.lock:
                dash.conns.add(self.connection)

        def handle(self):
            if isinstance(self.connection, ssl.SSLSocket):
                # The TLS handshake runs here, in the connection's thread; a
                # client that fails it (wrong CA, plain HTTP) just goes away.
                self.connection.settimeout(10)
                try:
                    self.connection.do_handshake()
                except (ssl.SSLError, OSError):
                    return
                self.connection.settimeout(None)
            try:
                super().handle()
            except (ConnectionAbortedError, ConnectionResetError, BrokenPipeError):
                pass

        def finish(self):
            with dash.lock:
                dash.conns.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def _send(self, code, ctype, body, length=None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code, obj):
            self._send(code, "application/json; charset=utf-8", json.dumps(obj).encode())

        def _text(self, code, text):
            self._send(code, "text/plain; charset=utf-8", text.encode())

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = {}
            for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
                query.setdefault(k, []).append(v)
            rec = {"path": url.path, "query": [list(kv) for kv in
                                                urllib.parse.parse_qsl(url.query, keep_blank_values=True)],
                   "authorization": self.headers.get("Authorization"), "status": None,
                   "fault": None, "time": time.time()}
            with dash.lock:
                dash.requests.append(rec)
            f = dash.sim.faults.take_http()
            if f is not None:
                rec["fault"] = f["mode"]
                if f["mode"] == "http_slow":
                    time.sleep(float(f.get("delay_ms", 1000)) / 1000.0)
                    f = None
            if f is not None and f["mode"] == "http_drop":
                rec["status"] = "dropped"
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if f is not None and f["mode"] == "http_status":
                code = int(f.get("code", 503))
                rec["status"] = code
                if "body" in f:
                    return self._send(code, f.get("content_type", "text/plain; charset=utf-8"),
                                      f["body"].encode())
                return self._json(code, {"result": False, "msg": f.get("message", "simulated HTTP %d" % code),
                                         "data": {"result": None}})
            code, ctype, body = self.route(url.path, query)
            rec["status"] = code
            if f is not None:
                return self.bad_body(f, code, ctype, body)
            self._send(code, ctype, body)

        def route(self, path, query):
            tok = dash.sim.token
            # Token auth (http_token_authentication.py) exists from 2.52, as on
            # the GCS: earlier dashboards ignore the header and the cookie.
            if tok is not None and dash.sim.profile.has_token_auth and path not in PUBLIC_PATHS:
                got = (self.headers.get("Authorization") or self.headers.get("X-Ray-Authorization") or "")
                if not got:
                    c = self.headers.get("Cookie") or ""
                    for part in c.split(";"):
                        k, _, v = part.strip().partition("=")
                        if k == "ray-authentication-token" and v:
                            got = "Bearer " + v
                if not got:
                    return 401, "text/plain; charset=utf-8", b"Unauthorized: Missing authentication token"
                if not hmac.compare_digest(got.encode(), ("Bearer " + tok).encode()):
                    return 403, "text/plain; charset=utf-8", b"Forbidden: Invalid authentication token"
            if path == "/api/version":
                return dash.api_version()
            if path.startswith("/api/v0/") and path[len("/api/v0/"):] in RESOURCES:
                code, obj = dash.list_api(path[len("/api/v0/"):], query)
                return code, "application/json; charset=utf-8", json.dumps(obj).encode()
            return 404, "text/plain; charset=utf-8", b"404: Not Found"

        def bad_body(self, f, code, ctype, body):
            mode = f["mode"]
            if mode == "truncated_json":
                # Framing is right (Content-Length = bytes sent); the JSON is cut.
                cut = body[:int(f.get("bytes", max(1, len(body) // 2)))]
                return self._send(code, ctype, cut)
            if mode == "short_body":
                # Content-Length promises the whole body; the connection closes early.
                self.close_connection = True
                return self._send(code, ctype, body[:max(1, len(body) // 2)], length=len(body))
            if mode == "huge_json":
                n = int(f.get("bytes", 64 * 1024 * 1024))
                head = b'{"result": true, "msg": "", "data": {"result": {"total": 0, ' \
                       b'"num_after_truncation": 0, "num_filtered": 0, "result": [], ' \
                       b'"partial_failure_warning": "", "warnings": null, "pad": "'
                tail = b'"}}}'
                pad = max(0, n - len(head) - len(tail))
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(head) + pad + len(tail)))
                self.end_headers()
                self.wfile.write(head)
                chunk = b"x" * (1 << 20)
                while pad > 0:
                    w = min(pad, len(chunk))
                    self.wfile.write(chunk[:w])
                    pad -= w
                self.wfile.write(tail)
                return
            if mode == "deep_json":
                depth = int(f.get("depth", 100000))
                doc = (b'{"result": true, "msg": "", "data": {"result": ' + b"[" * depth
                       + b"]" * depth + b"}}")
                return self._send(200, "application/json; charset=utf-8", doc)
            if mode == "garbage_json":
                rng = random.Random(int(f.get("seed", 0)))
                return self._send(200, "application/json; charset=utf-8",
                                  bytes(rng.randrange(256) for _ in range(int(f.get("bytes", 256)))))
            return self._send(code, ctype, body)

        def do_POST(self):
            self._text(405, "405: Method Not Allowed")

    return H


def serve(sim, port=0, tls_cert=None, tls_key=None, max_requests=MAX_HTTP_REQUEST):
    d = Dashboard(sim, port, tls_cert, tls_key, max_requests)
    d.start()
    return d

