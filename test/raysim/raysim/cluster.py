"""Actors, nodes, jobs, workers, placement groups: the other five GCS services.

Served from the same ClusterModel as the task events (model.Entities), or
from a vector folder's cluster/*_reply.bin in replay. For each method:

  decode_request(method, raw, prof) -> CQuery   the profile's request layout
  select(method, items, q, prof)     -> (framed entries, counters, status)
  reply_bytes(method, ...)                       the profile's reply layout

Entities are plain dicts (see model.Entities); times are unix ms. A timed
entity carries `t_visible` (registered with the GCS), optional `t_start`
with a `running` overlay and optional `t_end` with a `final` overlay; the
view at sim time T applies the overlays whose time is <= T. Entities from
the vectors have no `t_visible`: shown as they are.

Every version fact comes from versions.py (Profile.has_*).
"""
from google.protobuf.message import DecodeError

from . import versions
from .encode import field_bytes, field_varint, EMPTY_STATUS, status_bytes
from .proto import pb

ACTORS = "/ray.rpc.ActorInfoGcsService/GetAllActorInfo"
NODES = "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo"
JOBS = "/ray.rpc.JobInfoGcsService/GetAllJobInfo"
WORKERS = "/ray.rpc.WorkerInfoGcsService/GetAllWorkerInfo"
PGS = "/ray.rpc.PlacementGroupInfoGcsService/GetAllPlacementGroup"

# method -> (gRPC service, method name, resource = Entities attribute and
# cluster/<resource>_reply.bin)
METHODS = {
    ACTORS: ("ray.rpc.ActorInfoGcsService", "GetAllActorInfo", "actors"),
    NODES: ("ray.rpc.NodeInfoGcsService", "GetAllNodeInfo", "nodes"),
    JOBS: ("ray.rpc.JobInfoGcsService", "GetAllJobInfo", "jobs"),
    WORKERS: ("ray.rpc.WorkerInfoGcsService", "GetAllWorkerInfo", "workers"),
    PGS: ("ray.rpc.PlacementGroupInfoGcsService", "GetAllPlacementGroup", "placement_groups"),
}
RESOURCE_METHOD = {v[2]: k for k, v in METHODS.items()}

INVALID = 4   # Ray StatusCode::Invalid
INVALID_ARGUMENT = 34   # Ray StatusCode::InvalidArgument


class Unparseable(Exception):
    pass


class IdCheck(Exception):
    """RAY_CHECK(size == ...) in FromBinary failed: the GCS aborts."""


def _check_id(kind, value):
    want = versions.ID_LEN[kind]
    if value and len(value) != want:
        raise IdCheck("Check failed: size == %d (%d vs. %d) %sID::FromBinary: invalid binary size"
                      % (want, len(value), want, kind.capitalize()))
    # FromBinary("") is the Nil id (all 0xff), which equals no real id.
    return value if value else b"\xff" * want


# ---- entity views at sim time ------------------------------------------------

def view(ent, now_ms):
    """The entity as the GCS holds it at now_ms, or None if not registered yet."""
    tv = ent.get("t_visible")
    if tv is None:
        return ent
    if now_ms < tv:
        return None
    out = dict(ent)
    if ent.get("t_start") is not None and ent["t_start"] <= now_ms:
        out.update(ent.get("running") or {})
    if ent.get("t_end") is not None and ent["t_end"] <= now_ms:
        out.update(ent.get("final") or {})
    return out


def views(table, now_ms):
    out = []
    for e in table.values():
        v = view(e, now_ms)
        if v is not None:
            out.append(v)
    return out


# ---- encoding (entity dict -> the profile's message bytes) -------------------

def _addr(msg, node_id=None, ip=None, port=None, worker_id=None):
    if node_id:
        msg.node_id = node_id
    if ip:
        msg.ip_address = ip
    if port:
        msg.port = port
    if worker_id:
        msg.worker_id = worker_id


def _set(msg, field, value):
    """proto3 semantics: default values are not on the wire."""
    if value:
        setattr(msg, field, value)


def encode_actor(a, prof):
    m = pb().ActorTableData()
    m.actor_id = a["actor_id"]
    _set(m, "parent_id", a.get("parent_id"))
    m.job_id = a["job_id"]
    _set(m, "state", versions.ACTOR_STATE[a["state"]])
    _set(m, "max_restarts", a.get("max_restarts", 0))
    _set(m, "num_restarts", a.get("num_restarts", 0))
    if a.get("node_id") or a.get("ip"):
        _addr(m.address, a.get("node_id"), a.get("ip"), a.get("port"), a.get("worker_id"))
    if a.get("owner"):
        _addr(m.owner_address, **a["owner"])
    _set(m, "is_detached", a.get("is_detached", False))
    _set(m, "name", a.get("name", ""))
    _set(m, "pid", a.get("pid", 0))
    fd = m.function_descriptor.python_function_descriptor
    fd.module_name = a.get("module", "__main__")
    fd.class_name = a["class_name"]
    fd.function_name = "__init__"
    _set(m, "ray_namespace", a.get("ray_namespace", ""))
    _set(m, "start_time", a.get("start_time_ms"))
    _set(m, "end_time", a.get("end_time_ms"))
    _set(m, "serialized_runtime_env", a.get("serialized_runtime_env", "{}"))
    _set(m, "class_name", a["class_name"])
    dc = a.get("death_cause")
    if dc:
        kind, text = dc
        if kind == "creation_task_failure_context":
            m.death_cause.creation_task_failure_context.formatted_exception_string = text
        else:
            getattr(m.death_cause, kind).error_message = text
    for k, v in (a.get("required_resources") or {}).items():
        m.required_resources[k] = v
    _set(m, "node_id", a.get("node_id"))
    _set(m, "placement_group_id", a.get("placement_group_id"))
    _set(m, "repr_name", a.get("repr_name", ""))
    _set(m, "preempted", a.get("preempted", False))
    if prof.has_actor_lineage_restarts:
        _set(m, "num_restarts_due_to_lineage_reconstruction",
             a.get("num_restarts_due_to_lineage_reconstruction", 0))
    if prof.has_actor_call_site:
        _set(m, "call_site", a.get("call_site"))
    if prof.has_actor_label_selector:
        for k, v in (a.get("label_selector") or {}).items():
            m.label_selector[k] = v
    if prof.has_actor_preemption_restarts:
        _set(m, "num_restarts_due_to_node_preemption", a.get("num_restarts_due_to_node_preemption", 0))
    return m.SerializeToString(deterministic=True)   # maps sorted: stable bytes


def encode_node(n, prof):
    m = pb().GcsNodeInfo()
    m.node_id = n["node_id"]
    # metrics_address: where raysim/metrics_endpoint.py serves this node
    m.node_manager_address = n.get("metrics_address") or n["node_ip"]
    m.node_manager_port = n.get("node_manager_port", 42000)
    m.object_manager_port = n.get("object_manager_port", 42001)
    _set(m, "state", versions.NODE_STATE[n["state"]])
    _set(m, "node_manager_hostname", n.get("hostname"))
    _set(m, "metrics_export_port", n.get("metrics_export_port", 60000))
    for k, v in (n.get("resources_total") or {}).items():
        m.resources_total[k] = v
    _set(m, "node_name", n.get("node_name"))
    _set(m, "start_time_ms", n.get("start_time_ms"))
    _set(m, "end_time_ms", n.get("end_time_ms"))
    _set(m, "is_head_node", n.get("is_head_node", False))
    for k, v in (n.get("labels") or {}).items():
        m.labels[k] = v
    if prof.has_node_death_info and n.get("death_reason"):
        m.death_info.reason = versions.NODE_DEATH_REASON[n["death_reason"]]
        _set(m.death_info, "reason_message", n.get("death_reason_message"))
    return m.SerializeToString(deterministic=True)   # maps sorted: stable bytes


def encode_job(j, prof):
    m = pb().JobTableData()
    m.job_id = j["job_id"]
    _set(m, "is_dead", j.get("is_dead", False))
    _set(m, "driver_ip_address", j.get("driver_ip_address"))
    _set(m, "driver_pid", j.get("driver_pid"))
    _set(m, "start_time", j.get("start_time_ms"))
    _set(m, "end_time", j.get("end_time_ms"))
    _set(m, "entrypoint", j.get("entrypoint"))
    cfg = j.get("config")
    if cfg is not None:
        # JobConfig as the driver registered it; submission jobs carry their
        # submission id in metadata["job_submission_id"] (gcs_job_manager.cc).
        from .encode import job_config_bytes
        m.config = job_config_bytes(cfg.get("ray_namespace", ""), cfg.get("metadata"))
    ji = j.get("job_info")
    if ji is not None:
        m.job_info.SetInParent()
        _set(m.job_info, "status", ji.get("status"))
        _set(m.job_info, "entrypoint", ji.get("entrypoint"))
        _set(m.job_info, "message", ji.get("message"))
        _set(m.job_info, "start_time", ji.get("start_time"))
        _set(m.job_info, "end_time", ji.get("end_time"))
        for k, v in (ji.get("metadata") or {}).items():
            m.job_info.metadata[k] = v
        if ji.get("driver_exit_code") is not None:      # proto3 optional: 0 is on the wire
            m.job_info.driver_exit_code = ji["driver_exit_code"]
    if j.get("is_running_tasks") is not None:
        m.is_running_tasks = j["is_running_tasks"]
    if j.get("driver_address"):
        _addr(m.driver_address, **j["driver_address"])
    return m.SerializeToString(deterministic=True)   # maps sorted: stable bytes


def encode_worker(w, prof):
    m = pb().WorkerTableData()
    _set(m, "is_alive", w.get("is_alive", False))
    _addr(m.worker_address, w.get("node_id"), w.get("ip"), w.get("port"), w.get("worker_id"))
    _set(m, "worker_type", versions.WORKER_TYPE[w.get("worker_type", "WORKER")])
    if w.get("exit_type") is not None:                  # proto3 optional: SYSTEM_ERROR=0 is on the wire
        m.exit_type = versions.WORKER_EXIT_TYPE[w["exit_type"]]
    if w.get("exit_detail") is not None:
        m.exit_detail = w["exit_detail"]
    _set(m, "pid", w.get("pid"))
    _set(m, "start_time_ms", w.get("start_time_ms"))
    _set(m, "end_time_ms", w.get("end_time_ms"))
    _set(m, "worker_launch_time_ms", w.get("worker_launch_time_ms"))
    _set(m, "worker_launched_time_ms", w.get("worker_launched_time_ms"))
    _set(m, "num_paused_threads", w.get("num_paused_threads", 0))
    return m.SerializeToString(deterministic=True)   # maps sorted: stable bytes


def encode_pg(g, prof):
    m = pb().PlacementGroupTableData() if prof.has_pg_soft_target_node else pb().PlacementGroupTableDataV29()
    m.placement_group_id = g["placement_group_id"]
    _set(m, "name", g.get("name"))
    for b in g.get("bundles") or []:
        bm = m.bundles.add()
        bm.bundle_id.placement_group_id = g["placement_group_id"]
        _set(bm.bundle_id, "bundle_index", b["bundle_index"])
        for k, v in (b.get("unit_resources") or {}).items():
            bm.unit_resources[k] = v
        _set(bm, "node_id", b.get("node_id"))
    _set(m, "strategy", versions.PG_STRATEGY[g.get("strategy", "PACK")])
    _set(m, "state", prof.pg_state_number(g["state"]))
    _set(m, "creator_job_id", g.get("creator_job_id"))
    _set(m, "creator_actor_id", g.get("creator_actor_id"))
    _set(m, "creator_job_dead", g.get("creator_job_dead", False))
    _set(m, "creator_actor_dead", g.get("creator_actor_dead", False))
    _set(m, "is_detached", g.get("is_detached", False))
    _set(m, "ray_namespace", g.get("ray_namespace"))
    _set(m, "placement_group_creation_timestamp_ms", g.get("creation_time_ms"))
    _set(m, "placement_group_final_bundle_placement_timestamp_ms", g.get("final_bundle_placement_time_ms"))
    return m.SerializeToString(deterministic=True)   # maps sorted: stable bytes


ENCODERS = {"actors": encode_actor, "nodes": encode_node, "jobs": encode_job,
            "workers": encode_worker, "placement_groups": encode_pg}


class Item:
    """One entry of a reply: the attributes selection needs + its bytes."""
    __slots__ = ("attrs", "raw")

    def __init__(self, attrs, raw):
        self.attrs = attrs
        self.raw = raw     # the entry's message bytes (unframed)


def _node_attrs(v):
    return {"id": v["node_id"], "state": versions.NODE_STATE[v["state"]],
            "node_name": v.get("node_name") or "", "ip": v["node_ip"],
            "is_head": bool(v.get("is_head_node"))}


# Caps of the GCS's in-memory tables (ray_config_def.h): dead nodes kept
# (maximum_gcs_dead_node_cached_count) and destroyed actors kept
# (maximum_gcs_destroyed_actor_cached_count); the oldest go first.
MAX_DEAD_NODES = 1000
MAX_DESTROYED_ACTORS = 100000

_ID_KEY = {"actors": "actor_id", "nodes": "node_id", "jobs": "job_id", "workers": "worker_id",
           "placement_groups": "placement_group_id"}


def hash_order(rows, resource):
    """The handlers iterate absl::flat_hash_maps (registered_actors_,
    alive_nodes_, the tables' GetAll results): an order unrelated to
    registration. The simulator's stand-in: crc32 of the entity id."""
    import zlib
    if any(r.get("t_visible") is None for r in rows):
        return rows     # the vectors' entities: already in the order Ray sent them
    k = _ID_KEY[resource]
    return sorted(rows, key=lambda r: zlib.crc32(r[k]))


def _cap_oldest(rows, limit, key):
    if len(rows) <= limit:
        return rows
    keep = sorted(rows, key=lambda r: r.get(key) or 0)[len(rows) - limit:]
    ids = {id(r) for r in keep}
    return [r for r in rows if id(r) in ids]


def model_items(resource, ents, prof, now_ms):
    """Items of one resource from the model, in the GCS's iteration order."""
    rows = hash_order(views(getattr(ents, resource), now_ms), resource)
    enc = ENCODERS[resource]
    if resource == "nodes":
        alive = [r for r in rows if r["state"] != "DEAD"]
        dead = _cap_oldest([r for r in rows if r["state"] == "DEAD"], MAX_DEAD_NODES, "end_time_ms")
        rows = alive + dead
    if resource == "actors":
        # registered_actors_ first, then destroyed_actors_ (capped).
        dead = _cap_oldest([r for r in rows if r["state"] == "DEAD"], MAX_DESTROYED_ACTORS,
                           "end_time_ms")
        rows = [r for r in rows if r["state"] != "DEAD"] + dead
        return [Item({"id": r["actor_id"], "job_id": r["job_id"],
                      "state": versions.ACTOR_STATE[r["state"]]}, enc(r, prof)) for r in rows]
    if resource == "nodes":
        return [Item(_node_attrs(r), enc(r, prof)) for r in rows]
    if resource == "jobs":
        return [Item({"id": r["job_id"], "submission_id": r.get("submission_id")}, enc(r, prof))
                for r in rows]
    if resource == "workers":
        return [Item({"is_alive": bool(r.get("is_alive")),
                      "num_paused_threads": r.get("num_paused_threads", 0)}, enc(r, prof))
                for r in rows]
    return [Item({}, enc(r, prof)) for r in rows]


def replay_items(resource, raw_entries, prof):
    """Items from a vector reply's entries (original bytes kept)."""
    m = pb()
    out = []
    for raw in raw_entries:
        if resource == "actors":
            a = m.ActorTableData()
            a.ParseFromString(raw)
            out.append(Item({"id": a.actor_id, "job_id": a.job_id, "state": a.state}, raw))
        elif resource == "nodes":
            n = m.GcsNodeInfo()
            n.ParseFromString(raw)
            out.append(Item({"id": n.node_id, "state": n.state, "node_name": n.node_name,
                             "ip": n.node_manager_address, "is_head": n.is_head_node}, raw))
        elif resource == "jobs":
            j = m.JobTableData()
            j.ParseFromString(raw)
            from .encode import job_config_metadata
            sid = job_config_metadata(j.config).get("job_submission_id")
            out.append(Item({"id": j.job_id, "submission_id": sid}, raw))
        elif resource == "workers":
            w = m.WorkerTableData()
            w.ParseFromString(raw)
            out.append(Item({"is_alive": w.is_alive, "num_paused_threads": w.num_paused_threads}, raw))
        else:
            out.append(Item({}, raw))
    return out


# ---- request decoding ----------------------------------------------------------

# Known request fields per layout: {number: (wire type, nested spec or None)}.
_ACTOR_FILTERS = {1: (2, None), 2: (2, None), 3: (0, None)}
_NODE_V236_FILTERS = {1: (2, None), 2: (0, None), 3: (2, None)}
_NODE_SELECTOR = {1: (2, None), 2: (2, None), 3: (2, None)}
LAYOUT_SPECS = {
    (ACTORS, "v2.9"): {1: (0, None), 2: (0, None), 3: (2, _ACTOR_FILTERS)},
    (NODES, "none"): {},
    (NODES, "v2.36"): {3: (0, None), 4: (2, _NODE_V236_FILTERS)},
    (NODES, "v2.42"): {3: (0, None), 4: (2, {**_NODE_V236_FILTERS, 4: (2, None)})},
    (NODES, "v2.49"): {1: (0, None), 2: (2, _NODE_SELECTOR), 3: (0, None)},
    (NODES, "master"): {1: (0, None), 2: (2, {**_NODE_SELECTOR, 4: (0, None)}), 3: (0, None)},
    (JOBS, "v2.9"): {1: (0, None)},
    (JOBS, "v2.37"): {1: (0, None), 2: (2, None), 3: (0, None), 4: (0, None)},
    (WORKERS, "v2.9"): {1: (0, None)},
    (WORKERS, "v2.36"): {1: (0, None), 2: (2, {1: (0, None), 2: (0, None)})},
    (PGS, "v2.9"): {1: (0, None)},
}


def layout_for(method, prof):
    """(log name of the profile's request layout, key into LAYOUT_SPECS)."""
    if method == NODES:
        if prof.has_node_request_v249:
            return "v2.49", ("master" if prof.has_node_selector_head else "v2.49")
        if prof.has_node_request_v236:
            return "v2.36", ("v2.42" if prof.has_node_filter_ip else "v2.36")
        return "none", "none"
    if method == JOBS:
        return ("v2.37", "v2.37") if prof.has_job_request_v237 else ("v2.9", "v2.9")
    if method == WORKERS:
        return ("v2.36", "v2.36") if prof.has_worker_filters else ("v2.9", "v2.9")
    return "v2.9", "v2.9"


def _fits(buf, spec):
    """Does every field of buf (recursively) exist in spec with its wire type?
    Raises Unparseable if buf is not protobuf wire format at all."""
    from .replay import split_fields
    try:
        fields = split_fields(buf)
    except (ValueError, IndexError) as e:
        raise Unparseable(str(e))
    ok = True
    for num, wt, v in fields:
        known = spec.get(num)
        if known is None or known[0] != wt:
            ok = False
        elif known[1] is not None and not _fits(v, known[1]):
            ok = False
    return ok


class CQuery:
    def __init__(self, method, layout):
        self.method = method
        self.layout = layout          # log name, or "mismatch"
        self.decoded_as = layout
        self.looks_like = []
        self.limit = None
        self.filters = {}             # JSON-able, ids hex
        self.raw_filters = {}         # bytes ids, numbers
        self.has_filters = False      # Filters message present (actors, workers, nodes v2.36)
        self.selectors = []           # nodes v2.49: [(kind, value)]
        self.state_filter = None      # nodes v2.49
        self.show_dead_jobs = False
        self.skip_job_info = False
        self.skip_running = False

    def to_json(self):
        out = {"limit": self.limit, "filters": self.filters}
        if self.method == ACTORS:
            out["show_dead_jobs"] = self.show_dead_jobs
        if self.method == NODES and self.decoded_as == "v2.49":
            out["node_selectors"] = [{k: (v.hex() if isinstance(v, bytes) else v)} for k, v in self.selectors]
            out["state_filter"] = self.state_filter
        if self.method == JOBS:
            out["skip_submission_job_info_field"] = self.skip_job_info
            out["skip_is_running_tasks_field"] = self.skip_running
        return out

    def simple(self):
        """The cluster/requests/cases.json form: limit, job_id (hex), state (name)."""
        out = {}
        if self.limit is not None:
            out["limit"] = self.limit
        f = dict(self.filters)
        if self.method == NODES and self.state_filter is not None:
            f["state"] = self.state_filter
        for k, v in f.items():
            if isinstance(v, list):
                return None
            out[k] = v
        return out


def _enum_name(table, num):
    for k, v in table.items():
        if v == num:
            return k
    return num


def decode_request(method, raw, prof):
    """CQuery for a request in the profile's layout (unknown fields ignored,
    like the GCS's protobuf parser; logged as layout "mismatch")."""
    name, key = layout_for(method, prof)
    fits = _fits(raw, LAYOUT_SPECS[(method, key)])
    q = CQuery(method, name)
    if not fits:
        q.layout = "mismatch"
        q.looks_like = sorted({n for (m, n) in LAYOUT_SPECS if m == method and n != key
                               and _fits(raw, LAYOUT_SPECS[(m, n)])})
    m = pb()
    try:
        if method == ACTORS:
            r = m.GetAllActorInfoRequest()
            r.ParseFromString(raw)
            q.show_dead_jobs = r.show_dead_jobs
            if r.HasField("limit"):
                q.limit = r.limit
            if r.HasField("filters"):
                q.has_filters = True
                f = r.filters
                if f.HasField("actor_id"):
                    q.raw_filters["actor_id"] = f.actor_id
                    q.filters["actor_id"] = f.actor_id.hex()
                if f.HasField("job_id"):
                    q.raw_filters["job_id"] = f.job_id
                    q.filters["job_id"] = f.job_id.hex()
                if f.HasField("state"):
                    q.raw_filters["state"] = f.state
                    q.filters["state"] = _enum_name(versions.ACTOR_STATE, f.state)
        elif method == NODES:
            if name == "v2.36":
                r = m.GetAllNodeInfoRequestV236()
                r.ParseFromString(raw)
                if r.HasField("limit"):
                    q.limit = r.limit
                if r.HasField("filters"):
                    q.has_filters = True
                    f = r.filters
                    if f.HasField("node_id"):
                        q.raw_filters["node_id"] = f.node_id
                        q.filters["node_id"] = f.node_id.hex()
                    if f.HasField("state"):
                        q.raw_filters["state"] = f.state
                        q.filters["state"] = _enum_name(versions.NODE_STATE, f.state)
                    if f.HasField("node_name"):
                        q.raw_filters["node_name"] = q.filters["node_name"] = f.node_name
                    if prof.has_node_filter_ip and f.HasField("node_ip_address"):
                        q.raw_filters["node_ip_address"] = q.filters["node_ip_address"] = f.node_ip_address
            elif name == "v2.49":
                r = m.GetAllNodeInfoRequest()
                r.ParseFromString(raw)
                if r.HasField("limit"):
                    q.limit = r.limit
                for s in r.node_selectors:
                    if s.HasField("node_id"):
                        q.selectors.append(("node_id", s.node_id))
                    elif s.HasField("node_name"):
                        q.selectors.append(("node_name", s.node_name))
                    elif s.HasField("node_ip_address"):
                        q.selectors.append(("node_ip_address", s.node_ip_address))
                    elif prof.has_node_selector_head and s.HasField("is_head_node"):
                        q.selectors.append(("is_head_node", s.is_head_node))
                    else:
                        q.selectors.append(("not_set", None))
                if r.HasField("state_filter"):
                    q.state_filter = _enum_name(versions.NODE_STATE, r.state_filter)
                    q.raw_filters["state"] = r.state_filter
                if q.selectors:
                    q.filters["node_selectors"] = [{k: (v.hex() if isinstance(v, bytes) else v)}
                                                   for k, v in q.selectors]
            # "none": the request message has no fields before 2.36.
        elif method == JOBS:
            r = m.GetAllJobInfoRequest()
            r.ParseFromString(raw)
            if r.HasField("limit"):
                q.limit = r.limit
            if name == "v2.37":
                if r.HasField("job_or_submission_id"):
                    q.raw_filters["job_or_submission_id"] = r.job_or_submission_id
                    q.filters["job_or_submission_id"] = r.job_or_submission_id
                q.skip_job_info = r.skip_submission_job_info_field
                q.skip_running = r.skip_is_running_tasks_field
        elif method == WORKERS:
            r = m.GetAllWorkerInfoRequest()
            r.ParseFromString(raw)
            if r.HasField("limit"):
                q.limit = r.limit
            if name == "v2.36" and r.HasField("filters"):
                q.has_filters = True
                for k in ("exist_paused_threads", "is_alive"):
                    if r.filters.HasField(k):
                        q.raw_filters[k] = q.filters[k] = getattr(r.filters, k)
        else:
            r = m.GetAllPlacementGroupRequest()
            r.ParseFromString(raw)
            if r.HasField("limit"):
                q.limit = r.limit
    except (DecodeError, RuntimeError, ValueError) as e:
        raise Unparseable(str(e))
    # Node ids are converted (FromBinary -> RAY_CHECK) when the request is
    # read; actor filters only when compared with an actor (see select).
    if method == NODES:
        if "node_id" in q.raw_filters:
            _check_id("node", q.raw_filters["node_id"])
        for k, v in q.selectors:
            if k == "node_id":
                _check_id("node", v)
    return q


# ---- GCS selection semantics ---------------------------------------------------

def _no_limit(limit):
    # `limit != -1 && count >= limit` with count a size_t: any negative
    # limit compares as huge, i.e. no limit.
    return limit is None or limit < 0


def _int_count_limit_hit(limit, count):
    """The old handlers' `limit = has_limit ? limit : -1; int count = 0;
    if (limit != -1 && count >= limit) break;`: 0 and anything below -1 stop
    at once, -1 (or no limit) never."""
    return limit is not None and limit != -1 and count >= limit


def select(method, items, q, prof):
    """(selected items, counters dict, status bytes) per the GCS handler."""
    if method == ACTORS:
        return _select_actors(items, q, prof)
    if method == NODES:
        return _select_nodes(items, q, prof)
    if method == JOBS:
        return _select_jobs(items, q)
    if method == WORKERS:
        return _select_workers(items, q, prof)
    # GcsPlacementGroupManager::HandleGetAllPlacementGroup: the old pattern.
    out = []
    for it in items:
        if _int_count_limit_hit(q.limit, len(out)):
            break
        out.append(it)
    return out, {"total": len(items)}, EMPTY_STATUS


def _select_actors(items, q, prof):
    """GcsActorManager::HandleGetAllActorInfo: up to 2.35 the old pattern
    (0 or <= -2: nothing); from 2.36 `limit > 0 ? limit : max` (0 or
    negative: all)."""
    f = q.raw_filters
    out, nf = [], 0
    new_limit = prof.has_node_request_v236     # the same 2.36 release
    for it in items:
        if new_limit:
            if q.limit is not None and q.limit > 0 and len(out) >= q.limit:
                break
        elif _int_count_limit_hit(q.limit, len(out)):
            break
        if q.has_filters:
            a = it.attrs
            # filter_fn: each FromBinary runs only when its check is reached.
            ok = True
            if "actor_id" in f and _check_id("actor", f["actor_id"]) != a["id"]:
                ok = False
            if ok and "job_id" in f and _check_id("job", f["job_id"]) != a["job_id"]:
                ok = False
            if ok and "state" in f and f["state"] != a["state"]:
                ok = False
            if not ok:
                nf += 1
                continue
        out.append(it)
    return out, {"total": len(items), "num_filtered": nf}, EMPTY_STATUS


def _select_nodes(items, q, prof):
    alive = [it for it in items if it.attrs["state"] == versions.NODE_STATE["ALIVE"]]
    dead = [it for it in items if it.attrs["state"] != versions.NODE_STATE["ALIVE"]]
    if q.decoded_as == "none":
        return alive + dead, {}, EMPTY_STATUS
    limit = q.limit if (q.limit is not None and q.limit > 0) else None   # limit <= 0: all
    f = q.raw_filters
    out = []
    nf = 0
    if q.decoded_as == "v2.36":
        # Up to 2.41 an empty node_id / node_name is no filter.
        empty_is_none = not prof.has_node_filter_ip

        def ok(a):
            if "node_id" in f and not (empty_is_none and not f["node_id"]) and f["node_id"] != a["id"]:
                return False
            if "node_name" in f and not (empty_is_none and not f["node_name"]) \
                    and f["node_name"] != a["node_name"]:
                return False
            if "node_ip_address" in f and f["node_ip_address"] != a["ip"]:
                return False
            return True
    else:
        sel = q.selectors
        # 2.49+: when every selector names a node id, the handler looks the
        # ids up directly and the limit does not apply.
        if sel and all(k == "node_id" for k, _ in sel):
            limit = None

        def ok(a):
            if not sel:
                return True
            for k, v in sel:     # selectors are ORed
                if (k == "node_id" and v == a["id"]) or (k == "node_name" and v == a["node_name"]) \
                        or (k == "node_ip_address" and v == a["ip"]) \
                        or (k == "is_head_node" and v and a["is_head"]):
                    return True
            return False

    def add(group):
        nonlocal nf
        for it in group:
            if limit is not None and len(out) >= limit:
                break
            if ok(it.attrs):
                out.append(it)
            else:
                nf += 1
    st = f.get("state")
    if st is None:
        add(alive)
        add(dead)
    elif st == versions.NODE_STATE["ALIVE"]:
        add(alive)
        nf += len(dead)
    elif st == versions.NODE_STATE["DEAD"]:
        add(dead)
        nf += len(alive)
    elif q.decoded_as == "v2.36":
        # GcsNodeManager::HandleGetAllNodeInfo (2.36-2.48): Status::InvalidArgument.
        return [], {}, status_bytes(INVALID_ARGUMENT, "Unexpected filter: state = %d" % st)
    # 2.49+: any other state number selects nothing
    total = len(items)
    if q.decoded_as == "v2.49":
        nf = total - len(out)
    return out, {"total": total, "num_filtered": nf}, EMPTY_STATUS


def _select_jobs(items, q):
    if q.limit is not None and q.limit < 0:
        return [], {}, status_bytes(INVALID, "Invalid limit")
    want = q.raw_filters.get("job_or_submission_id")
    out = []
    for it in items:
        if want is not None and want != it.attrs["id"].hex() and want != it.attrs.get("submission_id"):
            continue
        if q.limit is not None and len(out) >= q.limit:
            break
        out.append(it)
    strip = set()
    if q.skip_job_info:
        strip.add(10)
    if q.skip_running:
        strip.add(11)
    if strip:
        out = [Item(it.attrs, _strip_fields(it.raw, strip)) for it in out]
    return out, {"stripped": sorted(strip)}, EMPTY_STATUS


def _strip_fields(raw, nums):
    """The entry without fields `nums`, every other field's bytes kept."""
    from .replay import split_fields
    from .encode import varint
    parts = []
    for num, wt, v in split_fields(raw):
        if num in nums:
            continue
        key = varint((num << 3) | wt)
        if wt == 0:
            parts.append(key + varint(v))
        elif wt == 2:
            parts.append(key + varint(len(v)) + v)
        else:
            parts.append(key + v)
    return b"".join(parts)


def _select_workers(items, q, prof):
    """GcsWorkerManager::HandleGetAllWorkerInfo: from 2.36 `int64 limit =
    has_limit ? limit : max; if (num_added >= limit) break;` (0 or any
    negative limit: nothing); earlier the old pattern."""
    f = q.raw_filters
    out, nf = [], 0
    for it in items:
        if prof.has_worker_filters:
            if q.limit is not None and len(out) >= q.limit:
                break
        elif _int_count_limit_hit(q.limit, len(out)):
            break
        a = it.attrs
        if f.get("exist_paused_threads") and a["num_paused_threads"] == 0:
            nf += 1
            continue
        # GcsWorkerManager::HandleGetAllWorkerInfo (src/ray/gcs/gcs_worker_manager.cc):
        # `filter_is_alive && !is_alive` -- is_alive = false filters nothing.
        if f.get("is_alive") and not a["is_alive"]:
            nf += 1
            continue
        out.append(it)
    return out, {"total": len(items), "num_filtered": nf}, EMPTY_STATUS


def reply_bytes(method, selected, counters, status, prof):
    """The profile's reply: status, entries (field 2), then its counters."""
    parts = [status]
    if status != EMPTY_STATUS:
        return status
    parts.extend(field_bytes(2, it.raw) for it in selected)
    nums = []
    if method in (ACTORS, WORKERS) or (method == NODES and prof.has_node_reply_counts):
        nums = [(3, counters.get("total", 0)), (4, counters.get("num_filtered", 0))]
    elif method == PGS:
        nums = [(3, counters.get("total", 0))]
    for num, v in nums:
        if v:
            parts.append(field_varint(num, v))
    return b"".join(parts)
