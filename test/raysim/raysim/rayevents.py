"""RayEvents: the simulator's task attempts and entities as Ray's Event Export.

What Ray's core workers and GCS hand to each node's aggregator agent, in
protobuf's JSON mapping (shared/ray-event-export.md; docs/simulator.md, "Event Export aggregator"):

- shape "2.49": TASK_DEFINITION_EVENT / ACTOR_TASK_DEFINITION_EVENT and
  TASK_EXECUTION_EVENT (`taskExecutionEvent`, `taskState` map of TaskStatus
  number -> Timestamp); no `nodeId` on the RayEvent; camelCase keys only.
- shape "feb26": TASK_LIFECYCLE_EVENT (`taskLifecycleEvent`,
  `stateTransitions` list of {state name, timestamp}), `nodeId` on every
  RayEvent, plus the GCS's driver-job, node and actor events; camelCase or
  snake_case keys (RAY_DASHBOARD_AGGREGATOR_AGENT_PRESERVE_PROTO_FIELD_NAME).

Reporting model (src/ray/core_worker/task_event_buffer.cc,
src/ray/core_worker/task_manager.cc): every worker flushes once a second;
per flush and attempt it sends one lifecycle event with the transitions it
recorded since the last flush, each with a fresh eventId. The owner (the
caller's worker) records PENDING_*, SUBMITTED_TO_WORKER, FINISHED and
FAILED; the executor records RUNNING and its sub-states. The owner's first
flush of an attempt also carries the definition event (the task spec).

Also here: Ray's merge of such events back into TaskEvents
(src/ray/gcs/gcs_ray_event_converter.cc, FEB26), so tests derive the rows a
faithful client shows with derive.row_from_event.
"""
import base64
import json
import random
import re

from . import versions

SEC = 1_000_000_000
NIL_PG = b"\xff" * 18

SHAPES = ("2.49", "feb26")
KEY_STYLES = ("camel", "snake")

# Which worker records a state (task_manager.cc: the owner; core_worker.cc
# ExecuteTask and the get/wait paths: the executor).
EXECUTOR_STATES = frozenset(("RUNNING", "RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT",
                             "GETTING_AND_PINNING_ARGS", "PENDING_ARGS_FETCH",
                             "PENDING_OBJ_STORE_MEM_AVAIL"))


def shape_for_profile(profile):
    """Event shape a simulator profile's Ray sends, or None (no export before 2.49)."""
    v = versions.VERSION_TUPLE[profile]
    if v < (2, 49, 0):
        return None
    return "2.49" if v < (2, 51, 0) else "feb26"


# ---- protobuf JSON mapping ------------------------------------------------------

def b64(raw):
    """bytes -> standard base64 with padding ('' for None: not set)."""
    if raw is None:
        return ""
    return base64.b64encode(raw).decode("ascii")


def ts(ns):
    """google.protobuf.Timestamp as protobuf's JSON mapping prints it: RFC 3339
    UTC with Z and 0, 3, 6 or 9 fractional digits (the fewest that are exact)."""
    import time as _t
    s, nanos = divmod(int(ns), SEC)
    base = _t.strftime("%Y-%m-%dT%H:%M:%S", _t.gmtime(s))
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return "%s.%03dZ" % (base, nanos // 1_000_000)
    if nanos % 1000 == 0:
        return "%s.%06dZ" % (base, nanos // 1000)
    return "%s.%09dZ" % (base, nanos)


def parse_ts(s):
    """RFC 3339 string (as ts() writes, any fraction length) -> ns."""
    import calendar
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$", s)
    if not m:
        raise ValueError("not an RFC 3339 UTC timestamp: %r" % s)
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    frac = (m.group(7) or "").ljust(9, "0")
    return secs * SEC + int(frac or 0)


# Map fields: their keys are data, never converted to snake_case.
MAP_FIELDS = frozenset(("requiredResources", "labelSelector", "refIds", "labels", "taskState",
                        "resources", "metadata"))
_CAMEL = re.compile(r"([A-Z])")


def snake(key):
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), key)


def to_snake(obj, _parent=None):
    """A camelCase event dict with proto field names (map keys left alone)."""
    if isinstance(obj, list):
        return [to_snake(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k in MAP_FIELDS:
            out[snake(k)] = v
        else:
            out[snake(k)] = to_snake(v)
    return out


def dumps(ev):
    """One event as the aggregator's json.dumps writes it (', ' / ': ', ASCII)."""
    return json.dumps(ev)


def body(encoded_events):
    """A POST body from already encoded events: a JSON array, json.dumps's separators."""
    return ("[" + ", ".join(encoded_events) + "]").encode("ascii")


# ---- payloads -----------------------------------------------------------------

def function_descriptor(a):
    """PythonFunctionDescriptor whose CallString is a.func_or_class_name when
    the name has at most one dot (Ray's CallString keeps only the last dotted
    part of the class name: `__main__.Counter.__init__` cannot round-trip)."""
    func = a.func_or_class_name or ""
    cls, _, fn = func.rpartition(".")
    return {"pythonFunctionDescriptor": {"moduleName": "__main__", "className": cls,
                                         "functionName": fn, "functionHash": ""}}


def call_string(fd):
    """Ray's FunctionDescriptor CallString (python/java/cpp)."""
    if "pythonFunctionDescriptor" in fd:
        p = fd["pythonFunctionDescriptor"]
        fn = p.get("functionName", "").split(".")[-1]
        if not p.get("className"):
            return fn
        return "%s.%s" % (p["className"].split(".")[-1], fn)
    if "javaFunctionDescriptor" in fd:
        j = fd["javaFunctionDescriptor"]
        return "%s.%s" % (j["className"], j["functionName"]) if j.get("className") else j["functionName"]
    if "cppFunctionDescriptor" in fd:
        return fd["cppFunctionDescriptor"].get("functionName", "")
    return ""


def definition_payload(a, shape):
    """(eventType, payload key, payload) for an attempt's task spec."""
    actor_task = a.type == "ACTOR_TASK"
    d = {"taskId": b64(a.task_id), "taskAttempt": a.attempt_number}
    if not actor_task:
        d["taskType"] = a.type
    d["language"] = a.language
    d["actorFunc" if actor_task else "taskFunc"] = function_descriptor(a)
    d["actorTaskName" if actor_task else "taskName"] = a.name or ""
    d["requiredResources"] = {k: float(v) for k, v in a.required_resources.items()}
    if shape == "2.49":
        if a.serialized_runtime_env is not None:
            d["runtimeEnvInfo"] = {"serializedRuntimeEnv": a.serialized_runtime_env,
                                   "runtimeEnvConfig": {"setupTimeoutSeconds": 600,
                                                        "eagerInstall": False, "logFiles": []}}
    d["jobId"] = b64(a.job_id)
    if actor_task:
        d["actorId"] = b64(a.actor_id)
    d["parentTaskId"] = b64(a.parent_task_id)
    d["placementGroupId"] = b64(a.placement_group_id if a.placement_group_id is not None else NIL_PG)
    d["refIds"] = {}
    if shape != "2.49":
        d["serializedRuntimeEnv"] = a.serialized_runtime_env or ""
        if a.call_site is not None:
            d["callSite"] = a.call_site
        d["labelSelector"] = dict(a.label_selector or {})
    if actor_task:
        return "ACTOR_TASK_DEFINITION_EVENT", "actorTaskDefinitionEvent", d
    return "TASK_DEFINITION_EVENT", "taskDefinitionEvent", d


def _has_error_info(a, prof):
    """Whether the attempt's polled TaskStateUpdate carries error_info: the
    simulator's GCS encoding (encode.py) leaves an all-default one (type
    WORKER_DIED = 0, empty message) off the wire, so the push does too."""
    if a.error_type is None and a.error_message is None:
        return False
    et = a.error_type
    num = prof.error_types.get(et, 0) if isinstance(et, str) else (et or 0)
    return bool(a.error_message) or bool(num) or (
        a.error_type == "RUNTIME_ENV_SETUP_FAILED" and bool(a.error_message))


def error_info(a, prof):
    et = a.error_type
    if isinstance(et, int):
        et_name = prof.error_type_str(et)
        et_val = int(et_name) if et_name.isdigit() else et_name   # unknown enums print as numbers
    else:
        et_val = et or "WORKER_DIED"
    e = {"errorMessage": a.error_message or "", "errorType": et_val}
    if a.error_type == "RUNTIME_ENV_SETUP_FAILED" and a.error_message:
        e["runtimeEnvSetupFailedError"] = {"errorMessage": a.error_message}
    return e


def lifecycle_payload(a, shape, prof, states, reporter_node, carries_lease, executor, pid,
                      node_ids="leased"):
    """(eventType, key, payload) for the transitions one worker flushes.

    nodeId / workerId name the leased worker, only on the owner's flush
    holding SUBMITTED_TO_WORKER (AppendTaskLifecycleUpdate,
    src/ray/observability/task_event_populators.cc, RAY_CHECKs it; 2.49:
    shared/ray-event-export.md); an attempt without that state (the
    simulator's actor tasks, replayed rows) has them on the executor's
    first flush (`carries_lease`); other events carry "". workerPid
    comes from the executor. node_ids="reporter" instead puts the reporting
    worker's node on every FEB26 event, the other reading of
    ray-event-export.md ("the lifecycle nodeId is the reporting worker's
    node, overwritten by the leased node at SUBMITTED_TO_WORKER"): with it
    the owner's FINISHED names the owner's node.
    """
    failed = any(s == "FAILED" for s, _ in states)
    node = worker = None
    if carries_lease:
        node, worker = a.node_id, a.worker_id
    elif shape != "2.49" and node_ids == "reporter":
        node = reporter_node
    d = {"taskId": b64(a.task_id), "taskAttempt": a.attempt_number}
    if shape == "2.49":
        d["taskState"] = {str(prof.task_status[s]): ts(ns) for s, ns in states}
    else:
        d["stateTransitions"] = [{"state": s, "timestamp": ts(ns)} for s, ns in states]
    if failed and _has_error_info(a, prof):
        d["rayErrorInfo"] = error_info(a, prof)
    d["nodeId"] = b64(node)
    d["workerId"] = b64(worker)
    d["workerPid"] = (pid or 0) if executor else 0
    if shape == "2.49":
        return "TASK_EXECUTION_EVENT", "taskExecutionEvent", d
    d["jobId"] = b64(a.job_id)
    if executor and a.actor_repr_name is not None:
        d["actorReprName"] = a.actor_repr_name
    return "TASK_LIFECYCLE_EVENT", "taskLifecycleEvent", d


def profile_payload(a):
    return "TASK_PROFILE_EVENT", "taskProfileEvents", {
        "taskId": b64(a.task_id), "attemptNumber": a.attempt_number, "jobId": b64(a.job_id),
        "profileEvents": {"componentType": "worker", "componentId": b64(a.worker_id),
                          "nodeIpAddress": a.node_ip,
                          "events": [{"startTime": str(s), "endTime": str(e),
                                      "extraData": x if x is not None else "{}", "eventName": n}
                                     for n, s, e, x in a.profile_events]}}


# ---- the reporting model --------------------------------------------------------

class Emitted:
    """One RayEvent ready to be buffered: which node's agent gets it and when."""

    __slots__ = ("node", "at_ns", "seq", "kind", "text")

    def __init__(self, node, at_ns, seq, kind, text):
        self.node = node          # reporting node id (raw bytes)
        self.at_ns = at_ns        # sim time the worker/GCS flushes it
        self.seq = seq            # stable order among events of one flush
        self.kind = kind          # "definition", "lifecycle", "profile", "gcs"
        self.text = text          # the encoded JSON object


class Encoder:
    """Turns a scenario into RayEvents for one shape and key style.

    Deterministic for a seed: eventIds come from random.Random(seed).
    `lifecycle_first` (a fault) delays every definition event by one flush,
    so receivers see an attempt's lifecycle before its definition.
    """

    def __init__(self, profile, shape=None, keys="camel", seed=0, session_name="session_raysim",
                 flush_ns=SEC, profile_events=False, gcs_events=None, lifecycle_first=False,
                 node_ids="leased", worker_events=False):
        self.prof = versions.Profile(profile)
        self.shape = shape or shape_for_profile(profile)
        if self.shape not in SHAPES:
            raise ValueError("Ray %s has no Event Export (2.49 and later)" % self.prof.ray_version)
        if keys not in KEY_STYLES:
            raise ValueError("keys must be camel or snake")
        if keys == "snake" and self.shape == "2.49":
            raise ValueError("snake_case keys need FEB26 or later (PRESERVE_PROTO_FIELD_NAME)")
        self.keys = keys
        self.rng = random.Random(seed)
        self.session = session_name
        self.flush_ns = int(flush_ns)
        # TASK_PROFILE_EVENT is never sent by default; 2.49 never produces it.
        self.profile_events = profile_events and self.shape != "2.49"
        self.gcs_events = (self.shape != "2.49") if gcs_events is None else gcs_events
        # WORKER_LIFECYCLE_EVENT: Ray 2026 (master) only, from the GCS, and
        # not among the aggregator's default exposable types
        # (ray-event-export.md): off unless asked.
        if worker_events and self.prof.version < versions.VERSION_TUPLE["master"]:
            raise ValueError("Ray %s exports no worker events (Ray 2026 does)" % self.prof.ray_version)
        self.worker_events = bool(worker_events) and self.gcs_events
        self.lifecycle_first = lifecycle_first
        if node_ids not in ("leased", "reporter"):
            raise ValueError("node_ids must be leased or reporter")
        self.node_ids = node_ids
        self.seq = 0

    def event_id(self):
        return self.rng.randbytes(28)

    def wrap(self, etype, key, payload, at_ns, node, source="CORE_WORKER"):
        ev = {"eventId": b64(self.event_id()), "sourceType": source, "eventType": etype,
              "timestamp": ts(at_ns), "severity": "INFO", "message": "",
              "sessionName": self.session, key: payload}
        if self.shape != "2.49":
            ev["nodeId"] = b64(node)
        if self.keys == "snake":
            ev = to_snake(ev)
        return dumps(ev)

    def _emit(self, out, node, at_ns, kind, text):
        self.seq += 1
        out.append(Emitted(node, at_ns, self.seq, kind, text))

    def _flush_at(self, ns):
        return (ns // self.flush_ns + 1) * self.flush_ns

    def attempt_events(self, a, owner, out):
        """Events of one attempt. owner = (node, worker, pid) of its caller."""
        executor = (a.node_id, a.worker_id, a.worker_pid)
        groups = {}        # (flush_ns, is_executor) -> [states]
        for s, ns in a.states:
            if s == "FAILED" and ns == a.gcs_failed_ns:
                # Written by the GCS itself (model.apply_gcs_failures:
                # GcsTaskManager::MarkTaskAttemptFailedIfNeeded), into its
                # own table: no worker reports it, nothing exports it.
                continue
            ex = a.type == "DRIVER_TASK" or (s in EXECUTOR_STATES and a.worker_id is not None)
            groups.setdefault((self._flush_at(ns), ex), []).append((s, ns))
        order = sorted(groups)
        # Which flush names the leased worker (see lifecycle_payload).
        lease = None
        if a.node_id is not None:
            for k in order:
                if any(s == "SUBMITTED_TO_WORKER" for s, _ in groups[k]):
                    lease = k
                    break
            if lease is None:
                lease = next((k for k in order if k[1]), None)
            if lease is None:
                lease = next((k for k in order if any(s in ("FINISHED", "FAILED")
                                                      for s, _ in groups[k])), None)
        first = True
        for k in order:
            at, ex = k
            states = groups[k]
            node = executor[0] if ex else owner[0]
            if first and (not ex or a.type == "DRIVER_TASK"):
                first = False
                et, key, p = definition_payload(a, self.shape)
                dat = at + self.flush_ns if self.lifecycle_first else at
                self._emit(out, node, dat, "definition", self.wrap(et, key, p, dat, node))
            # workerPid comes from the executor; an attempt no executor
            # reported (rows replayed from vectors) has it on the lease.
            pid_here = ex or (k == lease and not any(x for _, x in order))
            et, key, p = lifecycle_payload(a, self.shape, self.prof, states, node, k == lease,
                                           pid_here, executor[2], self.node_ids)
            self._emit(out, node, at, "lifecycle", self.wrap(et, key, p, at, node))
        if self.profile_events and a.profile_events and a.node_id is not None:
            at = self._flush_at(max(e for _, _, e, _ in a.profile_events))
            et, key, p = profile_payload(a)
            self._emit(out, a.node_id, at, "profile", self.wrap(et, key, p, at, a.node_id))

    def scenario_events(self, sc):
        """Every event of a model.Scenario, sorted by (flush time, emission order)."""
        out = []
        ents = sc.entities
        by_task = {a.task_id: a for a in sc.attempts}
        driver = {}
        for a in sc.attempts:
            if a.type == "DRIVER_TASK":
                driver[a.job_id] = (a.node_id, a.worker_id, a.worker_pid)
        head = next(iter(ents.nodes), None)
        for a in sc.attempts:
            if not a.states:
                continue
            parent = by_task.get(a.parent_task_id)
            if parent is not None and parent.type != "DRIVER_TASK" and parent.worker_id:
                owner = (parent.node_id, parent.worker_id, parent.worker_pid)
            else:
                owner = driver.get(a.job_id) or (head, None, 0)
            self.attempt_events(a, owner, out)
        if self.gcs_events and head is not None:
            self.gcs_entity_events(ents, head, out)
        out.sort(key=lambda e: (e.at_ns, e.seq))
        return out

    # ---- GCS events (FEB26, RAY_enable_ray_event=1): grouped per second per entity
    # What each carries is what Ray's GCS copies from its rows
    # (src/ray/observability/ray_{node,driver_job,actor}_{definition,lifecycle}_event.cc):
    # a node's startTimestamp is its start_time_ms, an ALIVE node transition
    # its resources_total, a DEAD one its death_info; a job's CREATED and
    # FINISHED times; an actor's ALIVE transition its node, worker, pid, port
    # and repr name, a DEAD one its death cause. Every field without presence
    # is printed (protobuf's always_print_fields_with_no_presence).
    def gcs_entity_events(self, ents, head, out):
        ms = 1_000_000

        def emit(etype, key, payload, at_ns):
            self._emit(out, head, at_ns, "gcs", self.wrap(etype, key, payload, at_ns, head, "GCS"))

        for nid, n in ents.nodes.items():
            t0 = n.get("t_visible", n.get("start_time_ms", 0)) * ms
            emit("NODE_DEFINITION_EVENT", "nodeDefinitionEvent",
                 {"nodeId": b64(nid), "nodeIpAddress": n["node_ip"], "labels": dict(n.get("labels") or {}),
                  "startTimestamp": ts((n.get("start_time_ms") or 0) * ms),
                  "hostname": n.get("hostname", ""), "nodeName": n.get("node_name", ""),
                  "instanceId": "", "instanceTypeName": ""}, self._flush_at(t0))
            tr = [{"state": "ALIVE", "timestamp": ts(t0),
                   "resources": {k: float(v) for k, v in (n.get("resources_total") or {}).items()},
                   "aliveSubState": "UNSPECIFIED"}]
            emit("NODE_LIFECYCLE_EVENT", "nodeLifecycleEvent", {"nodeId": b64(nid), "stateTransitions": tr},
                 self._flush_at(t0))
            if n.get("t_end") is not None:
                f = n["final"]
                t1 = n["t_end"] * ms
                tr = [{"state": "DEAD", "timestamp": ts(t1), "resources": {},
                       "deathInfo": {"reason": f.get("death_reason", "UNSPECIFIED"),
                                     "reasonMessage": f.get("death_reason_message", "")},
                       "aliveSubState": "UNSPECIFIED"}]
                emit("NODE_LIFECYCLE_EVENT", "nodeLifecycleEvent",
                     {"nodeId": b64(nid), "stateTransitions": tr}, self._flush_at(t1))
        for jid, j in ents.jobs.items():
            if j.get("submission_id") is None and j.get("driver_task_id") is None:
                continue
            t0 = j.get("t_visible", j.get("start_time_ms", 0)) * ms
            da = j.get("driver_address") or {}
            emit("DRIVER_JOB_DEFINITION_EVENT", "driverJobDefinitionEvent",
                 {"jobId": b64(jid), "driverPid": str(j.get("driver_pid") or 0),
                  "driverNodeId": b64(da.get("node_id")), "entrypoint": j.get("entrypoint", ""),
                  "config": {"serializedRuntimeEnv": "{}", "metadata": {}}}, self._flush_at(t0))
            emit("DRIVER_JOB_LIFECYCLE_EVENT", "driverJobLifecycleEvent",
                 {"jobId": b64(jid), "stateTransitions": [{"state": "CREATED", "timestamp": ts(t0)}]},
                 self._flush_at(t0))
            if j.get("t_end") is not None:
                t1 = j["t_end"] * ms
                emit("DRIVER_JOB_LIFECYCLE_EVENT", "driverJobLifecycleEvent",
                     {"jobId": b64(jid), "stateTransitions": [{"state": "FINISHED", "timestamp": ts(t1)}]},
                     self._flush_at(t1))
        for aid, a in ents.actors.items():
            t0 = a.get("t_visible", 0) * ms
            emit("ACTOR_DEFINITION_EVENT", "actorDefinitionEvent",
                 {"actorId": b64(aid), "jobId": b64(a.get("job_id")), "isDetached": bool(a.get("is_detached")),
                  "name": a.get("name", ""), "rayNamespace": a.get("ray_namespace", ""),
                  "serializedRuntimeEnv": "", "className": a.get("class_name", ""),
                  "requiredResources": {k: float(v) for k, v in (a.get("required_resources") or {}).items()},
                  "placementGroupId": b64(a.get("placement_group_id")), "labelSelector": {},
                  "parentId": b64((a.get("owner") or {}).get("worker_id"))}, self._flush_at(t0))
            trs = [(t0, {"state": "PENDING_CREATION", "timestamp": ts(t0), "nodeId": "", "workerId": "",
                         "reprName": "", "pid": 0, "port": 0})]
            if a.get("t_start") is not None:
                r = a["running"]
                t1 = a["t_start"] * ms
                trs.append((t1, {"state": "ALIVE", "timestamp": ts(t1), "nodeId": b64(r.get("node_id")),
                                 "workerId": b64(r.get("worker_id")), "reprName": r.get("repr_name", ""),
                                 "pid": r.get("pid") or 0, "port": r.get("port") or 0}))
            if a.get("t_end") is not None:
                f = a["final"]
                t2 = a["t_end"] * ms
                tr = {"state": "DEAD", "timestamp": ts(t2), "nodeId": "", "workerId": "", "reprName": "",
                      "pid": 0, "port": 0}
                dc = f.get("death_cause")
                if dc:
                    tr["deathCause"] = _death_cause(dc)
                trs.append((t2, tr))
            # grouped per second per entity: transitions of one second in one event
            bucket = {}
            for t, tr in trs:
                bucket.setdefault(self._flush_at(t), []).append(tr)
            for at in sorted(bucket):
                emit("ACTOR_LIFECYCLE_EVENT", "actorLifecycleEvent",
                     {"actorId": b64(aid), "stateTransitions": bucket[at]}, at)
        if self.worker_events:
            self.worker_lifecycle_events(ents, emit)

    # ---- worker lifecycle (Ray 2026): src/ray/observability/ray_worker_lifecycle_event.cc
    # One event per write of the worker's WorkerTableData: ALIVE with its
    # launch and start times when it registers, DEAD with end_time_ms and
    # death_info (exit_type, exit_detail) when its failure is reported
    # (GcsWorkerManager::HandleReportWorkerFailure, the row it also hands to
    # GcsTaskManager::OnWorkerDead). uint64 as strings, enums as names.
    def worker_lifecycle_events(self, ents, emit):
        ms = 1_000_000
        for wid, w in ents.workers.items():
            t0 = w.get("t_visible", w.get("start_time_ms", 0)) * ms
            emit("WORKER_LIFECYCLE_EVENT", "workerLifecycleEvent",
                 {"workerId": b64(wid), "jobId": b64(w.get("job_id")),
                  "stateTransitions": [{"state": "ALIVE", "timestamp": ts(t0),
                                        "workerLaunchTimeMs": str(w.get("worker_launch_time_ms", 0)),
                                        "workerLaunchedTimeMs": str(w.get("worker_launched_time_ms", 0)),
                                        "startTimeMs": str(w.get("start_time_ms", 0)),
                                        "endTimeMs": "0"}]}, self._flush_at(t0))
            fin = w.get("final") or {}
            if w.get("t_end") is not None and fin.get("is_alive") is False:
                t1 = w["t_end"] * ms
                emit("WORKER_LIFECYCLE_EVENT", "workerLifecycleEvent",
                     {"workerId": b64(wid), "jobId": b64(w.get("job_id")),
                      "stateTransitions": [{"state": "DEAD", "timestamp": ts(t1),
                                            "workerLaunchTimeMs": "0", "workerLaunchedTimeMs": "0",
                                            "startTimeMs": "0",
                                            "endTimeMs": str(fin.get("end_time_ms", w["t_end"])),
                                            "deathInfo": {"exitType": fin.get("exit_type", "SYSTEM_ERROR"),
                                                          "exitDetail": fin.get("exit_detail", "")}}]},
                     self._flush_at(t1))


def _death_cause(dc):
    kind, msg = dc
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), kind)
    if kind == "creation_task_failure_context":
        return {camel: {"formattedExceptionString": msg}}
    return {camel: {"errorMessage": msg}}


# ---- Ray's merge back (gcs_ray_event_converter.cc) ------------------------------

def _get(ev, camel):
    """A field of a decoded event in either key style."""
    if camel in ev:
        return ev[camel]
    return ev.get(snake(camel))


def _unb64(s):
    return base64.b64decode(s) if s else b""


class Merger:
    """Ray's merge of task events into TaskEvents per (task_id, attempt).

    Definition -> task_info; lifecycle/execution -> state_updates (node and
    worker ids when non-empty, worker_pid when non-zero, error info,
    actor_repr_name when present, one state time per transition);
    profile -> profile_events appended. Fields merge as protobuf MergeFrom
    (set scalars overwrite, maps upsert). Events are applied in the order
    given: the receiver's arrival order. Non-task events are counted only.
    """

    def __init__(self, profile):
        from .proto import pb
        self.prof = versions.Profile(profile)
        self.pb = pb()
        self.tasks = {}
        self.other = {}
        self.entities = {"nodes": {}, "jobs": {}, "actors": {}}
        self.seen = set()
        self.duplicates = 0

    def add(self, ev):
        """ev: one decoded RayEvent (dict). Duplicates (same eventId) ignored."""
        eid = _get(ev, "eventId")
        if eid in self.seen:
            self.duplicates += 1
            return
        self.seen.add(eid)
        et = _get(ev, "eventType")
        if et == "TASK_DEFINITION_EVENT":
            self._definition(_get(ev, "taskDefinitionEvent"), actor=False)
        elif et == "ACTOR_TASK_DEFINITION_EVENT":
            self._definition(_get(ev, "actorTaskDefinitionEvent"), actor=True)
        elif et in ("TASK_EXECUTION_EVENT", "TASK_LIFECYCLE_EVENT"):
            p = _get(ev, "taskExecutionEvent") or _get(ev, "taskLifecycleEvent")
            self._lifecycle(p)
        elif et == "TASK_PROFILE_EVENT":
            self._profile(_get(ev, "taskProfileEvents"))
        else:
            self.other[et] = self.other.get(et, 0) + 1
            self._entity(et, ev)

    def _entry(self, tid, attempt):
        key = (tid, attempt)
        e = self.tasks.get(key)
        if e is None:
            e = self.tasks[key] = self.pb.TaskEvents()
            e.task_id = tid
            e.attempt_number = attempt
        return e

    def _definition(self, d, actor):
        tid = _unb64(_get(d, "taskId"))
        job = _unb64(_get(d, "jobId"))
        if not tid or not job:
            return                  # nil job or task id: skipped
        e = self._entry(tid, _get(d, "taskAttempt") or 0)
        ti = e.task_info
        ttype = "ACTOR_TASK" if actor else _get(d, "taskType")
        ti.type = versions.TASK_TYPE[ttype]
        ti.name = _get(d, "actorTaskName" if actor else "taskName") or ""
        ti.task_id = tid
        ti.job_id = job
        e.job_id = job
        ti.parent_task_id = _unb64(_get(d, "parentTaskId"))
        if actor:
            ti.actor_id = _unb64(_get(d, "actorId"))
        elif ttype == "ACTOR_CREATION_TASK":
            ti.actor_id = tid[8:24]          # ActorID from the creation task's id
        pg = _unb64(_get(d, "placementGroupId"))
        if pg:
            ti.placement_group_id = pg
        cs = _get(d, "callSite")
        if cs is not None:
            ti.call_site = cs
        ls = _get(d, "labelSelector") or {}
        for k, v in ls.items():
            ti.label_selector[k] = v
        ti.language = versions.LANGUAGE[_get(d, "language")]
        # FEB26: serializedRuntimeEnv is always printed and always copied;
        # 2.49: RuntimeEnvInfo only when the spec has one.
        rei = _get(d, "runtimeEnvInfo")
        env = _get(rei, "serializedRuntimeEnv") if rei is not None else _get(d, "serializedRuntimeEnv")
        if env is not None:
            ti.runtime_env_info.serialized_runtime_env = env
        ti.func_or_class_name = call_string(_to_camel_fd(_get(d, "actorFunc" if actor else "taskFunc") or {}))
        for k, v in (_get(d, "requiredResources") or {}).items():
            ti.required_resources[k] = float(v)

    def _lifecycle(self, p):
        tid = _unb64(_get(p, "taskId"))
        if not tid:
            return
        e = self._entry(tid, _get(p, "taskAttempt") or 0)
        su = e.state_updates
        job = _get(p, "jobId")
        if job:
            e.job_id = _unb64(job)
        node = _unb64(_get(p, "nodeId"))
        if node:
            su.node_id = node
        worker = _unb64(_get(p, "workerId"))
        if worker:
            su.worker_id = worker
        pid = int(_get(p, "workerPid") or 0)
        if pid:
            su.worker_pid = pid
        rei = _get(p, "rayErrorInfo")
        if rei is not None:
            et = _get(rei, "errorType")
            num = et if isinstance(et, int) else self.prof.error_types[et]
            su.error_info.error_type = num
            su.error_info.error_message = _get(rei, "errorMessage") or ""
        rn = _get(p, "actorReprName")
        if rn is not None:
            su.actor_repr_name = rn
        st = _get(p, "taskState")
        if st is not None:
            for num, t in st.items():
                su.state_ts_ns[int(num)] = parse_ts(t)
        for tr in _get(p, "stateTransitions") or []:
            su.state_ts_ns[self.prof.task_status[_get(tr, "state")]] = parse_ts(_get(tr, "timestamp"))

    def _profile(self, p):
        tid = _unb64(_get(p, "taskId"))
        e = self._entry(tid, _get(p, "attemptNumber") or 0)
        pe = _get(p, "profileEvents")
        ev = e.profile_events
        ev.component_type = _get(pe, "componentType")
        ev.component_id = _unb64(_get(pe, "componentId"))
        ev.node_ip_address = _get(pe, "nodeIpAddress")
        for x in _get(pe, "events"):
            y = ev.events.add()
            y.start_time = int(_get(x, "startTime"))
            y.end_time = int(_get(x, "endTime"))
            y.event_name = _get(x, "eventName")
            if _get(x, "extraData") is not None:
                y.extra_data = _get(x, "extraData")
        while len(ev.events) > 1000:
            del ev.events[0]

    # GCS events: per entity the definition and every transition received
    _ENTITY = {"NODE_DEFINITION_EVENT": ("nodes", "nodeDefinitionEvent", "nodeId", True),
               "NODE_LIFECYCLE_EVENT": ("nodes", "nodeLifecycleEvent", "nodeId", False),
               "DRIVER_JOB_DEFINITION_EVENT": ("jobs", "driverJobDefinitionEvent", "jobId", True),
               "DRIVER_JOB_LIFECYCLE_EVENT": ("jobs", "driverJobLifecycleEvent", "jobId", False),
               "ACTOR_DEFINITION_EVENT": ("actors", "actorDefinitionEvent", "actorId", True),
               "ACTOR_LIFECYCLE_EVENT": ("actors", "actorLifecycleEvent", "actorId", False)}

    def _entity(self, et, ev):
        spec = self._ENTITY.get(et)
        if spec is None:
            return
        table, key, idf, is_def = spec
        p = _get(ev, key)
        eid = _unb64(_get(p, idf)).hex()
        e = self.entities[table].setdefault(eid, {"definition": None, "transitions": []})
        if is_def:
            e["definition"] = p
        else:
            e["transitions"].extend(_get(p, "stateTransitions") or [])

    def entity_rows(self):
        """Nodes, jobs and actors from the GCS events, with the keys (a
        subset) of derive.cluster_rows; transitions applied in time order."""
        ms = lambda t: parse_ts(t) // 1_000_000   # noqa: E731
        out = {"nodes": [], "jobs": [], "actors": []}
        for eid, e in sorted(self.entities["nodes"].items()):
            d = e["definition"] or {}
            # startTimestamp is the GCS's start_time_ms (ray_node_definition_event.cc).
            start = parse_ts(_get(d, "startTimestamp")) // 1_000_000 if _get(d, "startTimestamp") else None
            r = {"node_id": eid, "node_ip": _get(d, "nodeIpAddress"), "node_name": _get(d, "nodeName"),
                 "labels": dict(_get(d, "labels") or {}), "state": None, "start_time_ms": None,
                 "end_time_ms": None, "death_reason": None, "death_reason_message": None,
                 "resources_total": {}}
            for t in sorted(e["transitions"], key=lambda t: parse_ts(_get(t, "timestamp"))):
                r["state"] = _get(t, "state")
                if r["state"] == "ALIVE":
                    r["start_time_ms"] = start if start else ms(_get(t, "timestamp"))
                    r["resources_total"] = dict(_get(t, "resources") or {})
                elif r["state"] == "DEAD":
                    r["end_time_ms"] = ms(_get(t, "timestamp"))
                    di = _get(t, "deathInfo") or {}
                    r["death_reason"] = _get(di, "reason")
                    r["death_reason_message"] = _get(di, "reasonMessage")
            out["nodes"].append(r)
        for eid, e in sorted(self.entities["jobs"].items()):
            d = e["definition"] or {}
            r = {"job_id": eid, "driver_pid": int(_get(d, "driverPid") or 0),
                 "entrypoint": _get(d, "entrypoint"), "start_time_ms": None, "end_time_ms": None,
                 "is_dead": False}
            # In time order: events of one job can arrive in any order.
            for t in sorted(e["transitions"], key=lambda t: parse_ts(_get(t, "timestamp"))):
                if _get(t, "state") == "CREATED":
                    r["start_time_ms"] = ms(_get(t, "timestamp"))
                elif _get(t, "state") == "FINISHED":
                    r["end_time_ms"] = ms(_get(t, "timestamp"))
                    r["is_dead"] = True
            out["jobs"].append(r)
        for eid, e in sorted(self.entities["actors"].items()):
            d = e["definition"] or {}
            r = {"actor_id": eid, "job_id": _unb64(_get(d, "jobId")).hex(),
                 "class_name": _get(d, "className"), "name": _get(d, "name"),
                 "ray_namespace": _get(d, "rayNamespace"), "is_detached": _get(d, "isDetached"),
                 "state": None, "node_id": None, "pid": 0, "repr_name": "",
                 "start_time_ms": None, "end_time_ms": None,
                 "death_cause_type": None, "death_cause_message": None}
            for t in sorted(e["transitions"], key=lambda t: parse_ts(_get(t, "timestamp"))):
                r["state"] = _get(t, "state")
                if _get(t, "nodeId"):
                    r["node_id"] = _unb64(_get(t, "nodeId")).hex()
                if _get(t, "pid"):
                    r["pid"] = _get(t, "pid")
                if _get(t, "reprName"):
                    r["repr_name"] = _get(t, "reprName")
                if r["state"] == "ALIVE":
                    r["start_time_ms"] = ms(_get(t, "timestamp"))
                elif r["state"] == "DEAD":
                    r["end_time_ms"] = ms(_get(t, "timestamp"))
                    dc = _get(t, "deathCause") or {}
                    for k, v in dc.items():
                        r["death_cause_type"] = snake(k)
                        r["death_cause_message"] = (_get(v, "formattedExceptionString")
                                                    if snake(k) == "creation_task_failure_context"
                                                    else _get(v, "errorMessage"))
            out["actors"].append(r)
        return out

    def rows(self):
        """Rows as derive.row_from_event gives them, sorted by (task_id, attempt)."""
        from . import derive
        out = [derive.row_from_event(e, self.prof) for e in self.tasks.values()
               if e.HasField("task_info")]
        out.sort(key=lambda r: (r["task_id"], r["attempt_number"]))
        return out


def _to_camel_fd(fd):
    out = {}
    for k, v in fd.items():
        ck = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)
        out[ck] = _to_camel_fd(v) if isinstance(v, dict) else v
    return out


def merge_bodies(profile, bodies):
    """Merger fed with POST bodies (bytes or str JSON arrays) in arrival order."""
    m = Merger(profile)
    for b in bodies:
        for ev in json.loads(b):
            m.add(ev)
    return m


# What the events can and cannot give back (docs/simulator.md, "Event Export aggregator" "Pushed
# rows versus polled rows"): Ray's own converter differs from the GCS path.
def normalise_polled(row, shape):
    """A polled row as Ray's merge of the same attempt's events gives it."""
    r = dict(row)
    # taskLogInfo is not converted; profile events are off by default.
    r["profiling_events"] = []
    # The definition always carries a placement group id: nil (all 0xff)
    # when the task has none, and the converter copies any non-empty id.
    if r["placement_group_id"] is None:
        r["placement_group_id"] = "ff" * 18
    # CallString keeps only the last dotted part of the class name.
    cls, _, fn = (r["func_or_class_name"] or "").rpartition(".")
    r["func_or_class_name"] = "%s.%s" % (cls.split(".")[-1], fn) if cls else fn
    # Simulator deviation: its actor creation task ids do not embed the
    # actor id (Ray's are FFx8 + ActorID); the converter derives it from them.
    if r["type"] == "ACTOR_CREATION_TASK":
        r["actor_id"] = r["task_id"][16:48]
    if shape == "2.49":
        # TaskExecutionEvent has no actorReprName: actor tasks keep the
        # plain name; RuntimeEnvInfo is only there when the spec had one.
        rn = r["actor_repr_name"]
        if rn is not None and r["type"] == "ACTOR_TASK":
            method = (row["func_or_class_name"] or "").split(".")[-1]
            if r["name"] == "%s.%s" % (rn, method):
                r["name"] = row["func_or_class_name"]
        r["actor_repr_name"] = None
        # 2.49's TaskDefinitionEvent has no callSite / labelSelector (FEB26: 14, 15).
        r["call_site"] = None
        r["label_selector"] = None
    else:
        # serializedRuntimeEnv is a plain string: absent reads as "".
        if r["serialized_runtime_env"] is None:
            r["serialized_runtime_env"] = ""
    return r
