"""GetTaskEventsRequest decoding and the GCS's selection semantics.

decode_request() reads the request in the layout of the profile's version
(scalar Filters up to 2.40, {predicate, value} sub-messages from 2.41).

plan() picks the candidate set as HandleGetTaskEvents does
(src/ray/gcs/gcs_task_manager.cc) and converts the IDs Ray converts before
looking at any event; select() walks the candidates with the filter lambda,
converting the other IDs (and checking predicates) only when an event
reaches that check. A wrong length raises IdCheck (the server aborts like
RAY_CHECK in ID::FromBinary); an unknown predicate raises BadPredicate
(status 34, InvalidArgument, reply cleared).
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
    """ID::FromBinary: RAY_CHECK(size == kSize || size == 0)."""
    want = versions.ID_LEN[kind]
    if value and len(value) != want:
        raise IdCheck("Check failed: size == %d (%d vs. %d) %sID::FromBinary: invalid binary size"
                      % (want, len(value), want, kind.capitalize()))


def decode_request(raw, prof):
    """(Query, layout) for a GetTaskEvents request on the profile's version.
    No ID is checked here: see plan() and select()."""
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
    return q, layout


def plan(q, prof):
    """The candidate set of HandleGetTaskEvents, as (kind, arg):

    2.41+ (predicate filters): any task filter -> the EQUAL task ids (each
    converted now): one -> ("task", id) from the task index, two or more ->
    ("empty", None), none -> ("all", None); else any job filter -> the EQUAL
    job ids (converted now): one -> ("job", id), more -> ("empty", None),
    none -> ("all", None). So the job index is used only without any task
    filter, and the dropped counters are the job's only there.
    <= 2.40 (scalar filters): task_ids -> ("tasks", set): every id
    converted now, a union from the task index, and job_id is then never
    looked at; else job_id -> ("job", id) (converted now); else all.
    Raises IdCheck for a wrong-length ID converted here."""
    if prof.predicate_filters:
        if q.task:
            ids = set()
            for p, v in q.task:
                if p == 0:
                    _check_id("task", v)
                    ids.add(v)
            if len(ids) == 1:
                return "task", next(iter(ids))
            return ("empty", None) if ids else ("all", None)
        if q.job:
            ids = set()
            for p, v in q.job:
                if p == 0:
                    _check_id("job", v)
                    ids.add(v)
            if len(ids) == 1:
                return "job", next(iter(ids))
            return ("empty", None) if ids else ("all", None)
        return "all", None
    if q.task:
        for _, v in q.task:
            _check_id("task", v)
        return "tasks", {v for _, v in q.task}
    if q.job:
        _check_id("job", q.job[0][1])
        return "job", q.job[0][1]
    return "all", None


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


def _apply(pred, equal):
    """apply_predicate: EQUAL / NOT_EQUAL, else std::invalid_argument with
    "Unknown filter predicate: " + FilterPredicate_Name(pred), which is the
    empty string for a number the enum does not declare."""
    if pred == 0:
        return equal
    if pred == 1:
        return not equal
    raise BadPredicate("Unknown filter predicate: ")


def _id(kind, v):
    _check_id(kind, v)
    return v or b""


def _passes(e, q, prof, fold):
    """The filter lambda of HandleGetTaskEvents for one event, checks in
    Ray's order with all_of's short cut; IDs are converted (and may abort)
    only when that check is reached."""
    if not e.has_info:
        return False
    if q.exclude_driver and e.type == versions.TASK_TYPE["DRIVER_TASK"]:
        return False
    if not prof.predicate_filters:
        # <= 2.40: task_ids and job_id only select candidates (plan); the
        # actor filter applies only to events that have an actor id.
        for _, v in q.actor:
            if e.actor_id and e.actor_id != _id("actor", v):
                return False
        for _, v in q.name:
            if fold(e.name) != fold(v):
                return False
        for _, v in q.state:
            if e.state().lower() != v.lower():
                return False
        return True
    for p, v in q.task:
        if not _apply(p, e.task_id == _id("task", v)):
            return False
    for p, v in q.job:
        if not _apply(p, e.job_id == _id("job", v)):
            return False
    for p, v in q.actor:
        # ActorID::FromBinary("") is Nil: a task without an actor differs.
        if not _apply(p, (e.actor_id or b"") == _id("actor", v)):
            return False
    for p, v in q.name:
        if not _apply(p, fold(e.name) == fold(v)):
            return False
    for p, v in q.state:
        if not _apply(p, e.state().lower() == v.lower()):
            return False
    return True


def select(cands, q, prof, counters):
    """Walk `cands` (already in the order Ray walks them) with the filters
    and `limit`. counters: (profile_dropped, status_dropped) the candidate
    path reports before truncation (0, 0 for the task index and the empty
    set). Returns (framed entry list, counters dict); raises IdCheck or
    BadPredicate as the walk meets them."""
    fold = (lambda s: s.lower()) if prof.name_case_insensitive else (lambda s: s)
    out = []
    filtered = truncated = trunc_prof = trunc_status = 0
    limit = q.limit if (q.limit is not None and q.limit >= 0) else None
    for e in cands:
        if not _passes(e, q, prof, fold):
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
                 "num_total_stored": len(cands), "num_filtered_on_gcs": filtered,
                 "num_truncated": truncated}


def hash_order(items, key):
    """Index lookups return a flat_hash_set of locators (pointers): an order
    no client can predict. The simulator's stand-in: crc32 of the attempt's
    key, stable for a given content, unrelated to insertion or state."""
    import zlib
    return sorted(items, key=lambda x: zlib.crc32(key(x)))
