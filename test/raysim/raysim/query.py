"""GetTaskEventsRequest decoding and the GCS's selection semantics.

decode_request() reads the request in the layout of the profile's version
(scalar Filters up to 2.40, {predicate, value} sub-messages from 2.41) and
applies the GCS's RAY_CHECK on ID lengths: a wrong length raises IdCheck,
which the server turns into a process abort like the real GCS.

select() implements gcs_task_manager.cc HandleGetTaskEvents (protocol doc
§5): candidate set via task or job index, filters ANDed, newest first,
limit with truncation counters.
"""
from google.protobuf.message import DecodeError

from . import versions
from .proto import pb

PRED_NAME = {0: "EQUAL", 1: "NOT_EQUAL"}


class IdCheck(Exception):
    """A filter ID of the wrong length: Ray's RAY_CHECK(size == ...) fails."""


class BadPredicate(Exception):
    """A predicate value the GCS does not know (InvalidArgument)."""


class Unparseable(Exception):
    pass


class Query:
    def __init__(self):
        self.limit = None          # None: no limit
        self.has_filters = False
        self.task = []             # [(predicate, bytes)]
        self.job = []
        self.actor = []
        self.name = []             # [(predicate, str)]
        self.state = []
        self.exclude_driver = False

    def to_json(self):
        def ids(lst):
            return [{"predicate": PRED_NAME.get(p, p), "value": v.hex()} for p, v in lst]

        def strs(lst):
            return [{"predicate": PRED_NAME.get(p, p), "value": v} for p, v in lst]
        return {"limit": self.limit, "exclude_driver": self.exclude_driver,
                "filters": {"task": ids(self.task), "job": ids(self.job),
                            "actor": ids(self.actor), "name": strs(self.name),
                            "state": strs(self.state)}}

    def simple(self):
        """The cases.json form ({limit, job, task, name, state, exclude_driver}),
        when every filter is a single EQUAL; else None."""
        out = {}
        if self.limit is not None:
            out["limit"] = self.limit
        if self.exclude_driver:
            out["exclude_driver"] = True
        for key, lst, conv in (("task", self.task, bytes.hex), ("job", self.job, bytes.hex),
                               ("actor", self.actor, bytes.hex), ("name", self.name, str),
                               ("state", self.state, str)):
            if len(lst) > 1 or any(p != 0 for p, _ in lst):
                return None
            if lst:
                out[key] = conv(lst[0][1])
        return out


def _check_id(kind, value):
    want = versions.ID_LEN[kind]
    if value and len(value) != want:
        raise IdCheck("Check failed: size == %d (%d vs. %d) %sID::FromBinary: invalid binary size"
                      % (want, len(value), want, kind.capitalize()))


def decode_request(raw, prof):
    """(Query, layout) for a GetTaskEvents request on the profile's version."""
    m = pb()
    q = Query()
    try:
        if prof.predicate_filters:
            req = m.GetTaskEventsRequest()
        else:
            req = m.GetTaskEventsRequestLegacy()
        req.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise Unparseable(str(e))
    if req.HasField("limit"):
        q.limit = req.limit
    if not req.HasField("filters"):
        return q, "empty"
    f = req.filters
    q.has_filters = True
    q.exclude_driver = f.exclude_driver
    if prof.predicate_filters:
        for sub in f.job_filters:
            q.job.append((sub.predicate, sub.job_id))
        for sub in f.task_filters:
            q.task.append((sub.predicate, sub.task_id))
        for sub in f.actor_filters:
            q.actor.append((sub.predicate, sub.actor_id))
        for sub in f.task_name_filters:
            q.name.append((sub.predicate, sub.task_name))
        for sub in f.state_filters:
            q.state.append((sub.predicate, sub.state))
        layout = "predicate"
    else:
        if f.HasField("job_id"):
            q.job.append((0, f.job_id))
        for t in f.task_ids:
            q.task.append((0, t))
        if f.HasField("actor_id"):
            q.actor.append((0, f.actor_id))
        if f.HasField("name"):
            q.name.append((0, f.name))
        if prof.has_state_filter and f.HasField("state"):
            q.state.append((0, f.state))
        layout = "legacy"
    # The real GCS converts every filter ID with FromBinary -> RAY_CHECK.
    for kind, lst in (("task", q.task), ("job", q.job), ("actor", q.actor)):
        for _, v in lst:
            _check_id(kind, v)
    for lst in (q.task, q.job, q.actor, q.name, q.state):
        for p, _ in lst:
            if p not in PRED_NAME:
                raise BadPredicate("Unknown filter predicate: %d" % p)
    return q, layout


class Entry:
    """What selection needs from one stored attempt."""
    __slots__ = ("task_id", "job_id", "actor_id", "type", "name", "state", "has_info", "framed",
                 "nprof", "has_updates")

    def __init__(self, task_id, job_id, actor_id, type, name, state, has_info, framed,
                 nprof=0, has_updates=True):
        self.task_id, self.job_id, self.actor_id = task_id, job_id, actor_id
        self.type, self.name, self.state = type, name, state
        self.has_info, self.framed = has_info, framed   # framed: callable -> bytes
        # what a cut by `limit` adds to the dropped counters (HandleGetTaskEvents)
        self.nprof, self.has_updates = nprof, has_updates


def _match(pred, equal):
    return equal if pred == 0 else not equal


def select(entries, q, prof, cluster_counters, job_counters):
    """Apply GCS semantics to `entries` (newest first).

    Returns (framed entry list, counters dict). cluster_counters is
    (profile_dropped, status_dropped); job_counters(job_id) the job's.
    """
    eq_tasks = {v for p, v in q.task if p == 0}
    eq_jobs = {v for p, v in q.job if p == 0}
    counters = cluster_counters
    if len(eq_tasks) == 1:
        tid = next(iter(eq_tasks))
        cand = [e for e in entries if e.task_id == tid]
    elif len(eq_tasks) > 1:
        cand = []      # ANDed equalities on different task ids: nothing
    elif len(eq_jobs) == 1:
        jid = next(iter(eq_jobs))
        cand = [e for e in entries if e.job_id == jid]
        counters = job_counters(jid)
    else:
        cand = entries
    fold = (lambda s: s.lower()) if prof.name_case_insensitive else (lambda s: s)
    out = []
    filtered = truncated = trunc_prof = trunc_status = 0
    limit = q.limit if (q.limit is not None and q.limit >= 0) else None
    for e in cand:
        ok = e.has_info
        if ok and q.exclude_driver and e.type == versions.TASK_TYPE["DRIVER_TASK"]:
            ok = False
        if ok:
            for p, v in q.task:
                if not _match(p, e.task_id == v):
                    ok = False
                    break
        if ok:
            for p, v in q.job:
                if not _match(p, e.job_id == v):
                    ok = False
                    break
        if ok:
            for p, v in q.actor:
                if not _match(p, (e.actor_id or b"") == v):
                    ok = False
                    break
        if ok:
            for p, v in q.name:
                if not _match(p, fold(e.name) == fold(v)):
                    ok = False
                    break
        if ok:
            for p, v in q.state:
                if not _match(p, e.state().lower() == v.lower()):
                    ok = False
                    break
        if not ok:
            filtered += 1
            continue
        if limit is not None and len(out) >= limit:
            # GcsTaskManager::HandleGetTaskEvents: a cut entry adds its
            # profile events to the profile counter, and 1 to the status
            # counter only if it has state_updates.
            truncated += 1
            trunc_prof += e.nprof
            trunc_status += 1 if e.has_updates else 0
            continue
        out.append(e.framed())
    pd, sd = counters
    return out, {"num_profile_task_events_dropped": pd + trunc_prof,
                 "num_status_task_events_dropped": sd + trunc_status,
                 "num_total_stored": len(cand), "num_filtered_on_gcs": filtered,
                 "num_truncated": truncated}
