"""Scenarios: deterministic clusters (same seed + epoch -> same bytes).

Each builder returns a model.Scenario whose timelines start at `base_ns`
(the sim time when the scenario is loaded). Add a scenario by writing a
function `def build_x(b, params)` using the Builder helpers and listing it
in SCENARIOS.
"""
import json
import os

from . import encode, versions
from .model import IdGen, Scenario, TaskAttempt

MS = 1_000_000
SEC = 1_000 * MS

FAIL_MSG = ("\x1b[36mray::example_remote_function()\x1b[39m (pid=%d, ip=%s)\n"
            "  File \"demo.py\", line 7, in example_remote_function\n"
            "Exception: This task should sometimes fail!")


class Builder:
    """Helpers that create entities and attempts on one Scenario."""

    def __init__(self, name, params, seed, base_ns):
        self.sc = Scenario(name, params)
        self.ids = IdGen(seed)
        self.rng = self.ids.rng
        self.base = base_ns
        self.nodes = []
        self.job = None
        self.driver = None

    def node(self, ip, cpus=1, head=False):
        nid = self.ids.node()
        self.sc.entities.nodes[nid] = {"ip": ip, "is_head": head, "alive": True,
                                       "start_ms": self.base // MS, "resources": {"CPU": float(cpus)}}
        self.nodes.append(nid)
        return nid

    def worker(self, node_id, job_id, is_driver=False):
        wid = self.ids.worker()
        pid = self.rng.randrange(1000, 65000)
        self.sc.entities.workers[wid] = {"node_id": node_id, "pid": pid, "job_id": job_id,
                                         "is_driver": is_driver}
        return wid, pid

    def start_job(self, entrypoint="python demo.py"):
        """A job with its driver task (RUNNING since base)."""
        job = self.ids.job()
        self.job = job
        node = self.nodes[0]
        wid, pid = self.worker(node, job, is_driver=True)
        tid = self.ids.task(job)
        self.sc.entities.jobs[job] = {"driver_task_id": tid, "start_ms": self.base // MS,
                                      "entrypoint": entrypoint, "driver_pid": pid}
        self.driver = TaskAttempt(tid, job, "__main__", "__main__", [("RUNNING", self.base)],
                                  type="DRIVER_TASK", parent_task_id=bytes(24), node_id=node,
                                  worker_id=wid, worker_pid=pid, log_info=False)
        self.sc.attempts.append(self.driver)
        return job

    def task(self, name, func, submit_ns, start_ns, end_ns, node=None, failed=None,
             parent=None, task_id=None, attempt=0, prof_events=True, **kw):
        """A normal-ish task: submitted, scheduled, running, then ended.

        failed: None or (error_type name, message). end_ns None: still running.
        start_ns None: never got a worker (pending node assignment).
        """
        job = kw.pop("job", self.job)
        tid = task_id or self.ids.task(job)
        states = [("PENDING_ARGS_AVAIL", submit_ns), ("PENDING_NODE_ASSIGNMENT", submit_ns + MS // 2)]
        node = node or self.nodes[0]
        wid = pid = None
        if start_ns is not None:
            wid, pid = self.worker(node, job)
            if kw.get("type") != "ACTOR_TASK":
                states.append(("SUBMITTED_TO_WORKER", start_ns - MS))
            states.append(("RUNNING", start_ns))
            if end_ns is not None:
                states.append(("FAILED" if failed else "FINISHED", end_ns))
        elif failed and end_ns is not None:
            states.append(("FAILED", end_ns))
        pe = []
        if prof_events and start_ns is not None and end_ns is not None:
            pe = [("task:deserialize_arguments", start_ns, start_ns + 150_000, "{}"),
                  ("task:execute", start_ns + 150_000, end_ns - 90_000,
                   json.dumps({"name": name, "task_id": tid.hex()})),
                  ("task:store_outputs", end_ns - 90_000, end_ns, "{}")]
        a = TaskAttempt(tid, job, name, func, states, attempt_number=attempt,
                        parent_task_id=parent if parent is not None else self.driver.task_id,
                        required_resources=kw.pop("resources", {"CPU": 1.0}),
                        node_id=node if start_ns is not None or failed else None,
                        worker_id=wid, worker_pid=pid,
                        error_type=failed[0] if failed else None,
                        error_message=failed[1] if failed else None,
                        profile_events=pe, node_ip=self.sc.entities.nodes[node]["ip"], **kw)
        self.sc.attempts.append(a)
        return a

    def actor(self, cls, repr_name, t0):
        """An actor: its creation task (FINISHED); returns (actor_id, node)."""
        aid = self.ids.actor(self.job)
        node = self.nodes[0]
        self.task("%s.__init__" % cls, "__main__.%s.__init__" % cls, t0, t0 + 10 * MS, t0 + 20 * MS,
                  type="ACTOR_CREATION_TASK", actor_id=aid, prof_events=False)
        self.sc.entities.actors[aid] = {"job_id": self.job, "class_name": cls,
                                        "repr_name": repr_name, "state": "ALIVE", "node_id": node}
        return aid


# ---- scenarios ------------------------------------------------------------------

def build_empty(b, p):
    pass


def build_classic(b, p):
    """Ray's classic example: 100 x example_remote_function, ~10% failing."""
    n = int(p.get("count", 100))
    fail_rate = float(p.get("fail_rate", 0.1))
    b.node("10.0.0.1", cpus=1, head=True)
    if p.get("nodes", 2) >= 2:
        b.node("10.0.0.2", cpus=1)
    b.start_job()
    slots = [b.base + 50 * MS for _ in b.nodes * (2 // len(b.nodes))]   # 2 CPUs in all
    for i in range(n):
        submit = b.base + 30 * MS + i * 20 * MS      # submitted over the first 2 s
        k = min(range(len(slots)), key=lambda j: slots[j])
        start = max(slots[k], submit + 2 * MS) + 1 * MS
        end = start + SEC + b.rng.randrange(-100, 100) * MS
        slots[k] = end + 1 * MS
        node = b.nodes[k % len(b.nodes)]
        fail = None
        if b.rng.random() < fail_rate:
            fail = ("TASK_EXECUTION_EXCEPTION", None)
        a = b.task("example_remote_function", "__main__.example_remote_function",
                   submit, start, end, node=node, failed=fail)
        if fail:
            a.error_message = FAIL_MSG % (a.worker_pid, a.node_ip)


def build_many(b, p):
    """`count` FINISHED tasks, all already reported (for load tests)."""
    n = int(p.get("count", 100000))
    b.node("10.0.0.1", cpus=8, head=True)
    b.start_job()
    node = b.nodes[0]
    wid, pid = b.worker(node, b.job)
    t0 = b.base - 60 * SEC
    job = b.job
    parent = b.driver.task_id
    raw = b.rng.randbytes(20 * n)
    out = b.sc.attempts
    for i in range(n):
        s = t0 + i * 100_000
        out.append(TaskAttempt(raw[20 * i:20 * i + 20] + job, job, "many_task", "__main__.many_task",
                               [("PENDING_ARGS_AVAIL", s), ("PENDING_NODE_ASSIGNMENT", s + 1000),
                                ("SUBMITTED_TO_WORKER", s + 2000), ("RUNNING", s + 3000),
                                ("FINISHED", s + 50_000)],
                               parent_task_id=parent, required_resources={"CPU": 1.0},
                               node_id=node, worker_id=wid, worker_pid=pid, log_info=False))


def build_actors(b, p):
    b.node("10.0.0.1", cpus=4, head=True)
    b.start_job()
    aid = b.actor("Counter", "Counter(0)", b.base + 10 * MS)
    for i in range(int(p.get("calls", 5))):
        t = b.base + 100 * MS + i * 50 * MS
        b.task("Counter.increment", "Counter.increment", t, t + 2 * MS,
               t + 30 * MS if i < 4 else None, type="ACTOR_TASK", actor_id=aid,
               actor_repr_name="Counter(0)", resources={}, prof_events=False)


def build_nested(b, p):
    b.node("10.0.0.1", cpus=4, head=True)
    b.start_job()
    t = b.base + 10 * MS
    parent = b.task("parent", "__main__.parent", t, t + 5 * MS, t + 500 * MS)
    for i in range(int(p.get("children", 3))):
        c = t + 20 * MS + i * 10 * MS
        child = b.task("child", "__main__.child", c, c + 5 * MS, c + 100 * MS, parent=parent.task_id)
        b.task("grandchild", "__main__.grandchild", c + 10 * MS, c + 15 * MS, c + 50 * MS,
               parent=child.task_id)


def build_retries(b, p):
    b.node("10.0.0.1", cpus=2, head=True)
    b.node("10.0.0.2", cpus=2)
    b.start_job()
    tid = b.ids.task(b.job)
    n = int(p.get("attempts", 3))
    t = b.base + 10 * MS
    for i in range(n):
        last = i == n - 1
        b.task("flaky", "__main__.flaky", t, t + 5 * MS, t + 200 * MS, task_id=tid, attempt=i,
               node=b.nodes[i % 2],
               failed=None if last else ("WORKER_DIED", "The worker died unexpectedly."))
        t += 300 * MS


def build_failures(b, p):
    b.node("10.0.0.1", cpus=4, head=True)
    b.start_job()
    t = b.base + 10 * MS
    b.task("hog", "__main__.hog", t, t + 5 * MS, t + 2 * SEC,
           failed=("OUT_OF_MEMORY", "Task was killed due to the node running low on memory."),
           resources={"CPU": 1.0, "memory": 4294967296.0})
    b.task("long_poll", "__main__.long_poll", t, t + 5 * MS, t + 500 * MS,
           failed=("TASK_CANCELLED", "Task: TaskID(...) was cancelled."))
    b.task("setup_env", "__main__.setup_env", t, None, t + 300 * MS,
           failed=("RUNTIME_ENV_SETUP_FAILED",
                   "Failed to set up runtime environment: conda env not found"),
           serialized_runtime_env='{"conda": "missing-env"}')


def build_mixed(b, p):
    build_failures(b, p)
    # Reuse the same job/driver for the others.
    t = b.base + 50 * MS
    aid = b.actor("Counter", "Counter(0)", t)
    for i in range(3):
        s = t + 100 * MS + i * 40 * MS
        b.task("Counter.increment", "Counter.increment", s, s + 2 * MS, s + 30 * MS,
               type="ACTOR_TASK", actor_id=aid, actor_repr_name="Counter(0)", resources={},
               prof_events=False)
    par = b.task("parent", "__main__.parent", t, t + 5 * MS, t + 400 * MS)
    b.task("child", "__main__.child", t + 10 * MS, t + 15 * MS, t + 100 * MS, parent=par.task_id)
    tid = b.ids.task(b.job)
    b.task("flaky", "__main__.flaky", t, t + 5 * MS, t + 100 * MS, task_id=tid,
           failed=("WORKER_DIED", "The worker died unexpectedly."))
    b.task("flaky", "__main__.flaky", t + 200 * MS, t + 205 * MS, t + 300 * MS, task_id=tid, attempt=1)
    b.task("wait_for_gpu", "__main__.wait_for_gpu", t, None, None, resources={"CPU": 1.0, "GPU": 1.0})
    b.task("slow", "__main__.slow", t, t + 5 * MS, None)


def default_vectors_dir(profile):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    return os.path.join(os.path.dirname(repo), "shared", "testdata", "ray-wire", "ray-" + profile)


def build_vectors(b, p):
    """The rows of the profile's expected_tasks.json, with its counters."""
    prof = versions.Profile(p["profile"])
    folder = p.get("dir") or default_vectors_dir(prof.name)
    doc = json.load(open(os.path.join(folder, "expected_tasks.json")))
    for row in doc["tasks"]:
        b.sc.attempts.append(encode.attempt_from_row(row, prof))
    b.sc.dropped_profile = doc.get("num_profile_task_events_dropped", 0)
    b.sc.dropped_status = doc.get("num_status_task_events_dropped", 0)
    jobs = {r["job_id"] for r in doc["tasks"]}
    if len(jobs) == 1:
        b.sc.job_dropped[bytes.fromhex(jobs.pop())] = [b.sc.dropped_profile, b.sc.dropped_status]


SCENARIOS = {"empty": build_empty, "classic": build_classic, "many": build_many,
             "actors": build_actors, "nested": build_nested, "retries": build_retries,
             "failures": build_failures, "mixed": build_mixed, "vectors": build_vectors}


def build(name, params, seed, base_ns, profile):
    if name not in SCENARIOS:
        raise ValueError("unknown scenario %r (known: %s)" % (name, ", ".join(SCENARIOS)))
    params = dict(params or {})
    if name == "vectors":
        params.setdefault("profile", profile)
    b = Builder(name, params, int(params.get("seed", seed)), base_ns)
    SCENARIOS[name](b, params)
    return b.sc
