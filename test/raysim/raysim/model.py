"""The simulated cluster: clock, entities, task attempts and GCS task storage.

One ClusterModel holds everything a scenario creates (nodes, workers, jobs,
actors, placement groups, task attempts). Task events are served from the
TaskStore, which mimics the GCS's bounded storage (insert order, eviction
policy, dropped counters). Other GCS services and the dashboard API can later
be served from the same ClusterModel, so all views stay consistent.

Time: every task attempt carries a timeline of (TaskStatus name, unix ns).
At sim time T only the states with time <= T are visible; an attempt with no
visible state has not reached the GCS yet and is not stored.
"""
import bisect
import heapq
import random
import time
from collections import OrderedDict

from . import versions

TERMINAL = ("FINISHED", "FAILED")


class Clock:
    """Sim clock: epoch_ms + wall elapsed * speed + explicit advances."""

    def __init__(self, epoch_ms=None, speed=1.0):
        self.epoch_ms = float(epoch_ms if epoch_ms is not None else time.time() * 1000.0)
        self.speed = float(speed)
        self.start = time.monotonic()
        self.offset_ms = 0.0

    def now_ms(self):
        return self.epoch_ms + (time.monotonic() - self.start) * 1000.0 * self.speed + self.offset_ms

    def now_ns(self):
        return int(self.now_ms() * 1_000_000)

    def advance(self, ms):
        self.offset_ms += float(ms)


class IdGen:
    """Deterministic Ray-shaped IDs from a seed (same seed, same IDs)."""

    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.next_job = 1

    def raw(self, n):
        return self.rng.randbytes(n)

    def job(self):
        # Ray's JobID is a little-endian counter: 01000000, 02000000, ...
        j = self.next_job.to_bytes(4, "little")
        self.next_job += 1
        return j

    def task(self, job_id):
        # Ray's TaskID ends with the job id; the rest is unique.
        return self.raw(20) + job_id

    def actor(self, job_id):
        return self.raw(12) + job_id

    def node(self):
        return self.raw(28)

    def worker(self):
        return self.raw(28)

    def pg(self, job_id):
        return self.raw(14) + job_id


class TaskAttempt:
    """One (task_id, attempt_number) with its static info and its timeline.

    Static fields mirror TaskInfoEntry / TaskStateUpdate; enum-valued fields
    hold names (versions.py turns them into numbers per profile). `states` is
    a list of (TaskStatus name, ns) sorted by time; `profile_events` a list of
    (event_name, start_ns, end_ns, extra_data).
    """

    __slots__ = ("task_id", "attempt_number", "job_id", "type", "name", "language",
                 "func_or_class_name", "parent_task_id", "required_resources",
                 "serialized_runtime_env", "node_id", "worker_id", "worker_pid",
                 "actor_id", "placement_group_id", "actor_repr_name", "call_site",
                 "label_selector", "error_type", "error_message", "states",
                 "profile_events", "node_ip", "log_info", "gate_detail", "template", "_cache",
                 "_state_ns", "_seq", "gcs_failed_at", "gcs_failed_ns")

    def __init__(self, task_id, job_id, name, func_or_class_name, states,
                 attempt_number=0, type="NORMAL_TASK", language="PYTHON",
                 parent_task_id=None, required_resources=None,
                 serialized_runtime_env=None, node_id=None, worker_id=None,
                 worker_pid=None, actor_id=None, placement_group_id=None,
                 actor_repr_name=None, call_site=None, label_selector=None,
                 error_type=None, error_message=None, profile_events=None,
                 node_ip="10.0.0.1", log_info=True, gate_detail=True, template=None):
        self.task_id = task_id
        self.attempt_number = attempt_number
        self.job_id = job_id
        self.type = type
        self.name = name
        self.language = language
        self.func_or_class_name = func_or_class_name
        self.parent_task_id = parent_task_id
        self.required_resources = required_resources or {}
        self.serialized_runtime_env = serialized_runtime_env
        self.node_id = node_id
        self.worker_id = worker_id
        self.worker_pid = worker_pid
        self.actor_id = actor_id
        self.placement_group_id = placement_group_id
        self.actor_repr_name = actor_repr_name
        self.call_site = call_site
        self.label_selector = label_selector
        self.error_type = error_type
        self.error_message = error_message
        self.states = sorted(states, key=lambda s: s[1])
        self._state_ns = [ns for _, ns in self.states]
        self.profile_events = profile_events or []
        self.node_ip = node_ip
        self.log_info = log_info
        # gate_detail: hide node/worker/pid until the task reached a worker
        # (scenarios); rows from a JSON file always show what they carry.
        self.gate_detail = gate_detail
        # template: an encode.Template this attempt encodes like, with its own
        # task id and state times patched in (load scenarios: much cheaper).
        self.template = template
        self._cache = None
        self._seq = 0               # insertion order in the TaskStore
        # ns from which the GCS's own FAILED (the last state) is applied;
        # None: the attempt's states are all reported by workers.
        self.gcs_failed_at = None
        self.gcs_failed_ns = None   # the FAILED the GCS wrote (no worker reports it)

    @property
    def key(self):
        return (self.task_id, self.attempt_number)

    @property
    def first_ns(self):
        return self._state_ns[0] if self._state_ns else None

    def visible(self, now_ns):
        """Number of timeline states visible at now_ns.

        A FAILED written by the GCS itself (mark_gcs_failed) carries the
        worker's or job's end time but is applied only a delay later."""
        n = bisect.bisect_right(self._state_ns, now_ns)
        if self.gcs_failed_at is not None and n == len(self.states) and now_ns < self.gcs_failed_at:
            n -= 1
        return n

    def mark_gcs_failed(self, ts_ns, applied_ns, message):
        """What GcsTaskManagerStorage::MarkTaskAttemptFailedIfNeeded does at
        applied_ns: FAILED at ts_ns with WORKER_DIED and `message`, unless the
        attempt is terminated (FINISHED or FAILED) by then. States the
        timeline has after ts_ns are dropped (nobody reports them any more).
        Returns True if the attempt was marked."""
        if self.first_ns is None or self.first_ns > applied_ns:
            return False            # not stored yet when the GCS looks
        if any(s in TERMINAL for s, ns in self.states if ns <= applied_ns):
            return False
        self.states = [(s, ns) for s, ns in self.states if ns <= ts_ns] + [("FAILED", ts_ns)]
        self.states.sort(key=lambda s: s[1])
        self._state_ns = [ns for _, ns in self.states]
        self.error_type = "WORKER_DIED"
        self.error_message = message
        self.gcs_failed_at = applied_ns
        self.gcs_failed_ns = ts_ns
        self.template = None        # its bytes no longer follow the template's
        self._cache = None
        return True

    def nprof_visible(self, now_ns):
        return sum(1 for p in self.profile_events if p[1] <= now_ns)

    def finished_at(self, now_ns):
        return any(s in TERMINAL for s, ns in self.states if ns <= now_ns)

    def finished_ns(self):
        """When FINISHED is reported (Ray's IsTaskFinished looks at FINISHED
        only, not FAILED), or None."""
        for s, ns in self.states:
            if s == "FINISHED":
                return ns
        return None

    @property
    def is_actor_task(self):
        """Ray's IsActorTask: ACTOR_TASK or ACTOR_CREATION_TASK."""
        return self.type in ("ACTOR_TASK", "ACTOR_CREATION_TASK")


class Entities:
    """Non-task cluster state (nodes, workers, jobs, actors, placement groups).

    Dicts keyed by id bytes, each value a dict whose keys are those of
    cluster.py's encoders (times in unix ms, enums as names), plus the
    timeline keys t_visible / t_start + running / t_end + final (see
    cluster.view). GetAllActorInfo, GetAllNodeInfo, GetAllJobInfo,
    GetAllWorkerInfo and GetAllPlacementGroup are served from here.

    A GCS restart keeps them (a real GCS reloads them from its Redis
    storage; without Redis they would be lost too); only task events go.
    """

    def __init__(self):
        self.nodes = OrderedDict()
        self.workers = OrderedDict()
        self.jobs = OrderedDict()
        self.actors = OrderedDict()
        self.placement_groups = OrderedDict()


class Scenario:
    """What a scenario produces: entities, attempts and initial counters."""

    def __init__(self, name, params=None):
        self.name = name
        self.params = params or {}
        self.entities = Entities()
        self.attempts = []
        # Counters the GCS had before the sim started (e.g. from the vectors).
        self.dropped_profile = 0
        self.dropped_status = 0
        self.job_dropped = {}           # job_id -> [profile, status]


class TaskStore:
    """The GCS's task-event storage at the current sim time.

    Attempts enter in the order their first state becomes visible. When more
    than max_tasks are stored (max_tasks 0 or negative: unlimited), one
    attempt is evicted per insert, as GcsTaskManagerStorage::EvictTaskEvent
    with FinishedTaskActorTaskGcPolicy (src/ray/gcs/gcs_task_manager.{h,cc}):
    tier 0 holds attempts with FINISHED (not FAILED: IsTaskFinished), tier 1
    unfinished ACTOR_TASK / ACTOR_CREATION_TASK attempts (IsActorTask), tier
    2 the rest; the victim is the one that entered the lowest non-empty tier
    longest ago (a tier list is pushed at the front and evicted from the
    back). Eviction counts the attempt in num_status_task_events_dropped and
    its profile events in num_profile_task_events_dropped (RemoveTaskAttempt),
    cluster-wide and for its job.
    """

    def __init__(self, max_tasks=100000):
        self.max_tasks = max_tasks
        self.reset([])

    def reset(self, attempts, dropped_profile=0, dropped_status=0, job_dropped=None):
        pend = [a for a in attempts if a.first_ns is not None]
        pend.sort(key=lambda a: a.first_ns)   # stable: scenario order breaks ties
        self.pending = pend
        self.next_pending = 0
        self.stored = OrderedDict()
        self.frozen = {}          # gcs.py's encoded-entry cache, per profile
        self.dropped_profile = dropped_profile
        self.dropped_status = dropped_status
        self.job_dropped = {k: list(v) for k, v in (job_dropped or {}).items()}
        self.evicted = 0
        self.finish_heap = []     # (FINISHED ns, seq, attempt) of stored attempts
        self.seq = 0

    def lose_all(self, now_ns):
        """GCS restart: everything already reported is gone, counters reset."""
        self.sync(now_ns)
        self.pending = self.pending[self.next_pending:]
        self.next_pending = 0
        self.stored = OrderedDict()
        self.frozen = {}
        self.dropped_profile = self.dropped_status = 0
        self.job_dropped = {}
        self.evicted = 0
        self.finish_heap = []

    def sync(self, now_ns):
        """Insert every attempt whose first state is visible by now_ns."""
        pend = self.pending
        i = self.next_pending
        n = len(pend)
        while i < n and pend[i].first_ns <= now_ns:
            a = pend[i]
            self.stored[a.key] = a
            self.seq += 1
            a._seq = self.seq
            fn = a.finished_ns()
            if fn is not None:
                self.seq += 1
                heapq.heappush(self.finish_heap, (fn, self.seq, a))
            i += 1
            if self.max_tasks is not None and self.max_tasks > 0 and len(self.stored) > self.max_tasks:
                self._evict_one(now_ns)
        self.next_pending = i

    def _tier0_victim(self, now_ns):
        """The stored attempt whose FINISHED is visible and oldest, or None."""
        h = self.finish_heap
        while h:
            fn, _, a = h[0]
            if self.stored.get(a.key) is not a:
                heapq.heappop(h)          # evicted or lost before
                continue
            return a if fn <= now_ns else None
        return None

    def _evict_one(self, now_ns):
        victim = self._tier0_victim(now_ns)
        if victim is None:
            # Tiers 1 and 2 are entered on insert: the stored order is theirs.
            for a in self.stored.values():
                if a.is_actor_task:
                    victim = a
                    break
        if victim is None:
            victim = next(iter(self.stored.values()))
        del self.stored[victim.key]
        for block in self.frozen.values():
            block.entries.pop(victim.key, None)
            block.joined = None
        nprof = victim.nprof_visible(now_ns)
        self.evicted += 1
        self.dropped_status += 1
        self.dropped_profile += nprof
        jd = self.job_dropped.setdefault(victim.job_id, [0, 0])
        jd[0] += nprof
        jd[1] += 1

    def ordered(self, now_ns):
        """Every stored attempt in the order HandleGetTaskEvents walks them
        without an index (src/ray/gcs/gcs_task_manager.cc:
        GcsTaskManagerStorage::GetTaskEvents() appends the tier lists from
        priority 2 down to 0, each from its back, and the handler walks that
        vector reversed): tier 0 (FINISHED) first, the attempt that entered
        it last first (push_front when its FINISHED was merged: here the
        FINISHED time, then the insert order); then tier 1 (unfinished
        actor and actor-creation tasks), then tier 2 (the rest, FAILED
        included), each newest inserted first."""
        fin, act, rest = [], [], []
        for a in self.stored.values():
            fn = a.finished_ns()
            if fn is not None and fn <= now_ns and a.visible(now_ns) > 0:
                fin.append(a)
            elif a.is_actor_task:
                act.append(a)
            else:
                rest.append(a)
        fin.sort(key=lambda a: (a.finished_ns(), a._seq), reverse=True)
        act.reverse()
        rest.reverse()
        return fin + act + rest

    def counters_for_job(self, job_id):
        p, s = self.job_dropped.get(job_id, [0, 0])
        return p, s


def apply_gcs_failures(scenario, worker_dead_delay_ms, job_done_delay_ms):
    """The failures the GCS writes itself (src/ray/gcs/gcs_task_manager.cc,
    GcsTaskManager::OnWorkerDead / OnJobFinished, after
    gcs_mark_task_failed_on_worker_dead_delay_ms = 1000 and
    gcs_mark_task_failed_on_job_done_delay_ms = 15000 in ray_config_def.h).

    A dead worker: every stored attempt whose state_updates name that worker
    (the worker index) and that is not FINISHED or FAILED by then becomes
    FAILED at the worker's end time, WORKER_DIED, "Worker running the task
    (<worker hex>) died with exit_type: <number> with error_message:
    <exit_detail>" (MarkTasksFailedOnWorkerDead). A finished job: every
    non-terminated attempt of the job (the job index) becomes FAILED at the
    job's end time, WORKER_DIED, "Job finishes (<job hex>) as driver exits.
    Marking all non-terminal tasks as failed." (MarkTasksFailedOnJobEnds).
    A negative delay switches that rule off. Returns the attempts marked."""
    from .versions import WORKER_EXIT_TYPE
    ents = scenario.entities
    events = []     # (applied ns, kind, entity)
    if worker_dead_delay_ms is not None and worker_dead_delay_ms >= 0:
        for wid, w in ents.workers.items():
            fin = w.get("final") or {}
            if w.get("t_end") is not None and fin.get("is_alive") is False:
                end_ns = int(fin.get("end_time_ms", w["t_end"])) * 1_000_000
                events.append((end_ns + int(worker_dead_delay_ms * 1_000_000), "worker", wid, w, end_ns))
    if job_done_delay_ms is not None and job_done_delay_ms >= 0:
        for jid, j in ents.jobs.items():
            fin = j.get("final") or {}
            if j.get("t_end") is not None and fin.get("is_dead"):
                end_ns = int(fin.get("end_time_ms", j["t_end"])) * 1_000_000
                events.append((end_ns + int(job_done_delay_ms * 1_000_000), "job", jid, j, end_ns))
    events.sort(key=lambda e: (e[0], e[1]))
    marked = []
    for applied, kind, eid, ent, end_ns in events:
        if kind == "worker":
            fin = ent["final"]
            msg = ("Worker running the task (%s) died with exit_type: %d with error_message: %s"
                   % (eid.hex(), WORKER_EXIT_TYPE[fin.get("exit_type", "SYSTEM_ERROR")],
                      fin.get("exit_detail", "")))
            # In the worker index only once a state_update named the worker.
            cands = [a for a in scenario.attempts if a.worker_id == eid and
                     (not a.gate_detail or any(s in ("SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED")
                                               for s, ns in a.states if ns <= applied))]
        else:
            msg = ("Job finishes (%s) as driver exits. Marking all non-terminal tasks as failed."
                   % eid.hex())
            cands = [a for a in scenario.attempts if a.job_id == eid]
        for a in cands:
            if a.mark_gcs_failed(end_ns, applied, msg):
                marked.append(a)
    return marked


class ClusterModel:
    """Clock + current scenario + task store, behind one lock held by callers."""

    def __init__(self, clock, max_tasks=100000, worker_dead_delay_ms=1000, job_done_delay_ms=15000):
        self.clock = clock
        self.store = TaskStore(max_tasks)
        self.scenario = Scenario("empty")
        self.worker_dead_delay_ms = worker_dead_delay_ms
        self.job_done_delay_ms = job_done_delay_ms

    def load(self, scenario):
        self.scenario = scenario
        apply_gcs_failures(scenario, self.worker_dead_delay_ms, self.job_done_delay_ms)
        self.store.reset(scenario.attempts, scenario.dropped_profile,
                         scenario.dropped_status, scenario.job_dropped)

    def now_ns(self):
        return self.clock.now_ns()

    def synced_store(self):
        self.store.sync(self.now_ns())
        return self.store
