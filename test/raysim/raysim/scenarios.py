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
        self.actor_worker = {}

    # Entities are dicts in the shape of cluster.py's encoders (times in ms,
    # enums as names) with a timeline: t_visible, t_start + running,
    # t_end + final (cluster.view).

    def node(self, ip, cpus=1, head=False, gpus=0):
        nid = self.ids.node()
        res = {"CPU": float(cpus), "memory": 64e9, "object_store_memory": 20e9}
        labels = {"ray.io/node-id": nid.hex()}
        if gpus:
            res["GPU"] = float(gpus)
            labels["ray.io/accelerator-type"] = "H100"
        t0 = self.base // MS - 7_200_000          # up two hours before the scenario
        self.sc.entities.nodes[nid] = {
            "node_id": nid, "node_ip": ip, "node_name": ip, "hostname": "ray-%d" % (len(self.nodes) + 1),
            "is_head_node": head, "state": "ALIVE", "start_time_ms": t0, "resources_total": res,
            "labels": labels, "t_visible": t0,
            # kept for the task helpers
            "ip": ip}
        self.nodes.append(nid)
        return nid

    def kill_node(self, nid, t_ns, message):
        """The node dies unexpectedly at t_ns (health check), with its workers."""
        n = self.sc.entities.nodes[nid]
        n["t_end"] = t_ns // MS
        n["final"] = {"state": "DEAD", "end_time_ms": t_ns // MS,
                      "death_reason": "UNEXPECTED_TERMINATION", "death_reason_message": message}
        for wid, w in self.sc.entities.workers.items():
            if w["node_id"] == nid and w.get("t_end") is None:
                self.exit_worker(wid, t_ns, "SYSTEM_ERROR",
                                 "The node running this worker died unexpectedly.")

    def worker(self, node_id, job_id, is_driver=False, start_ns=None):
        wid = self.ids.worker()
        pid = self.rng.randrange(1000, 65000)
        t = (start_ns if start_ns is not None else self.base) // MS - 2
        n = self.sc.entities.nodes[node_id]
        self.sc.entities.workers[wid] = {
            "worker_id": wid, "node_id": node_id, "ip": n["node_ip"],
            "port": 10000 + len(self.sc.entities.workers), "pid": pid, "job_id": job_id,
            "worker_type": "DRIVER" if is_driver else "WORKER", "is_alive": True,
            "start_time_ms": t, "worker_launch_time_ms": t - 20, "worker_launched_time_ms": t - 10,
            "t_visible": t, "is_driver": is_driver}
        return wid, pid

    def exit_worker(self, wid, t_ns, exit_type, detail):
        w = self.sc.entities.workers[wid]
        w["t_end"] = t_ns // MS
        w["final"] = {"is_alive": False, "end_time_ms": t_ns // MS, "exit_type": exit_type,
                      "exit_detail": detail}

    def start_job(self, entrypoint="python demo.py"):
        """A job with its driver task (RUNNING since base)."""
        job = self.ids.job()
        self.job = job
        node = self.nodes[0]
        wid, pid = self.worker(node, job, is_driver=True)
        tid = self.ids.task(job)
        n = self.sc.entities.nodes[node]
        self.sc.entities.jobs[job] = {
            "job_id": job, "driver_ip_address": n["node_ip"], "driver_pid": pid,
            "start_time_ms": self.base // MS, "entrypoint": entrypoint, "is_dead": False,
            "is_running_tasks": True,
            "config": {"ray_namespace": "anonymous_ns", "metadata": {}},
            "driver_address": {"node_id": node, "ip": n["node_ip"],
                               "port": self.sc.entities.workers[wid]["port"], "worker_id": wid},
            "t_visible": self.base // MS, "driver_task_id": tid, "driver_worker_id": wid}
        self.driver = TaskAttempt(tid, job, "__main__", "__main__", [("RUNNING", self.base)],
                                  type="DRIVER_TASK", parent_task_id=bytes(24), node_id=node,
                                  worker_id=wid, worker_pid=pid, log_info=False)
        self.sc.attempts.append(self.driver)
        return job

    def end_job(self, job, t_ns):
        """The driver of `job` exits at t_ns: the job is dead from then on.
        (The driver's worker is left alive in the worker table: whether the
        raylet reports a driver's exit as a worker failure is not modelled.)"""
        j = self.sc.entities.jobs[job]
        j["t_end"] = t_ns // MS
        j["final"] = {"is_dead": True, "end_time_ms": t_ns // MS, "is_running_tasks": False}

    def submission_job(self, entrypoint, start_ns, end_ns, status="SUCCEEDED", exit_code=0,
                       message="Job finished successfully.", metadata=None):
        """A job submitted through the Jobs API (JobsAPIInfo), finished at end_ns.
        Its driver runs on the head node and exits when the job ends."""
        job = self.ids.job()
        node = self.nodes[0]
        n = self.sc.entities.nodes[node]
        wid, pid = self.worker(node, job, is_driver=True, start_ns=start_ns)
        self.exit_worker(wid, end_ns, "INTENDED_USER_EXIT" if exit_code == 0 else "USER_ERROR",
                         "Driver exited with code %d." % exit_code)
        sid = "raysubmit_" + self.rng.randbytes(8).hex()
        t0, t1 = start_ns // MS, end_ns // MS
        info = {"status": "RUNNING", "entrypoint": entrypoint, "message": "Job is currently running.",
                "start_time": t0 - 5, "metadata": metadata or {}}
        self.sc.entities.jobs[job] = {
            "job_id": job, "driver_ip_address": n["node_ip"], "driver_pid": pid,
            "start_time_ms": t0, "entrypoint": entrypoint, "is_dead": False, "is_running_tasks": False,
            "job_info": info, "submission_id": sid,
            # The Jobs API passes the submission's metadata plus its id to the
            # driver's JobConfig (gcs_job_manager.cc filters on that key).
            "config": {"ray_namespace": "job_ns_" + sid[len("raysubmit_"):],
                       "metadata": dict(metadata or {}, job_submission_id=sid)},
            "driver_address": {"node_id": node, "ip": n["node_ip"],
                               "port": self.sc.entities.workers[wid]["port"], "worker_id": wid},
            "t_visible": t0, "t_end": t1, "driver_worker_id": wid,
            "final": {"is_dead": True, "end_time_ms": t1,
                      "job_info": dict(info, status=status, message=message, end_time=t1,
                                       driver_exit_code=exit_code)}}
        return job

    def placement_group(self, name, strategy, bundles, t_ns, ready_ns=None, node=None):
        """A PG of the current job: PENDING from t_ns, CREATED at ready_ns."""
        pg = self.ids.pg(self.job)
        node = node or self.nodes[0]
        bl = [{"bundle_index": i, "unit_resources": dict(r)} for i, r in enumerate(bundles)]
        g = {"placement_group_id": pg, "name": name, "strategy": strategy, "state": "PENDING",
             "creator_job_id": self.job, "ray_namespace": "anonymous_ns", "bundles": bl,
             "creation_time_ms": t_ns // MS, "t_visible": t_ns // MS}
        if ready_ns is not None:
            g["t_start"] = ready_ns // MS
            g["running"] = {"state": "CREATED", "final_bundle_placement_time_ms": ready_ns // MS,
                            "bundles": [dict(b, node_id=node) for b in bl]}
        self.sc.entities.placement_groups[pg] = g
        return pg

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
        reuse = kw.pop("worker", None)
        if start_ns is not None:
            wid, pid = reuse or self.worker(node, job, start_ns=start_ns)
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
                        profile_events=pe, node_ip=self.sc.entities.nodes[node]["node_ip"], **kw)
        self.sc.attempts.append(a)
        return a

    def actor(self, cls, repr_name, t0, node=None, fail=None, name="", resources=None, pg=None):
        """An actor and its creation task; returns its id.

        fail: None (ALIVE from the creation task's end) or
        ("creation", formatted exception): the __init__ raised, actor DEAD.
        Actor tasks run on the actor's worker: b.actor_worker[aid].
        """
        aid = self.ids.actor(self.job)
        node = node or self.nodes[0]
        n = self.sc.entities.nodes[node]
        err = ("TASK_EXECUTION_EXCEPTION", fail[1]) if fail else None
        ct = self.task("%s.__init__" % cls, "__main__.%s.__init__" % cls, t0, t0 + 10 * MS,
                       t0 + 20 * MS, node=node, type="ACTOR_CREATION_TASK", actor_id=aid,
                       prof_events=False, failed=err, placement_group_id=pg,
                       resources=resources if resources is not None else {"CPU": 1.0})
        self.actor_worker[aid] = (ct.worker_id, ct.worker_pid)
        drv = self.sc.entities.workers[self.driver.worker_id]
        a = {"actor_id": aid, "job_id": self.job, "class_name": cls, "repr_name": "",
             "name": name, "is_detached": False, "ray_namespace": "anonymous_ns",
             "state": "PENDING_CREATION", "max_restarts": 0,
             "required_resources": resources or {}, "placement_group_id": pg,
             "owner": {"node_id": drv["node_id"], "ip": drv["ip"], "port": drv["port"],
                       "worker_id": self.driver.worker_id},
             "t_visible": t0 // MS}
        started = {"node_id": node, "ip": n["node_ip"], "port": self.sc.entities.workers[ct.worker_id]["port"],
                   "worker_id": ct.worker_id, "pid": ct.worker_pid}
        if fail:
            a["t_end"] = (t0 + 20 * MS) // MS
            a["final"] = {"state": "DEAD", "end_time_ms": (t0 + 20 * MS) // MS,
                          "death_cause": ("creation_task_failure_context", fail[1])}
            self.exit_worker(ct.worker_id, t0 + 21 * MS, "USER_ERROR",
                             "Worker exits because there was an exception in the initialization "
                             "method (e.g., __init__). Fix the exceptions from the initialization "
                             "to resolve the issue. " + fail[1])
        else:
            a["t_start"] = (t0 + 20 * MS) // MS
            a["running"] = dict(started, state="ALIVE", start_time_ms=(t0 + 20 * MS) // MS,
                                repr_name=repr_name)
        self.sc.entities.actors[aid] = a
        return aid

    def kill_actor(self, aid, t_ns, cause, message, exit_type=None, detail=None):
        """The actor dies at t_ns (cause: an ActorDeathCause alternative)."""
        a = self.sc.entities.actors[aid]
        a["t_end"] = t_ns // MS
        a["final"] = {"state": "DEAD", "end_time_ms": t_ns // MS, "death_cause": (cause, message)}
        if exit_type:
            self.exit_worker(self.actor_worker[aid][0], t_ns, exit_type, detail or message)


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
    # Nodes beyond two stay idle (node metrics tests want more endpoints).
    for k in range(3, int(p.get("nodes", 2)) + 1):
        b.node("10.0.0.%d" % k, cpus=1)


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


def build_stream(b, p):
    """`rate` tasks per second for `seconds`, from `start_ms` after the epoch.

    For the collector's lag benchmark: run with --speed 1 so the tasks
    finish in real time. Each task is pending 1 ms, runs `duration_ms` and
    finishes; with --max-tasks 100000 the GCS evicts the oldest finished
    attempts as Ray does, so at 10,000/s an attempt stays about 10 s.
    Attempts are created up front (about 0.5 kB each) and encoded once per
    state the polls see (model.TaskAttempt caches them).
    """
    rate = float(p.get("rate", 10000))
    seconds = float(p.get("seconds", 20))
    dur = int(float(p.get("duration_ms", 50)) * MS)
    t0 = b.base + int(float(p.get("start_ms", 3000)) * MS)
    n = int(rate * seconds)
    b.node("10.0.0.1", cpus=64, head=True)
    b.start_job()
    node = b.nodes[0]
    wid, pid = b.worker(node, b.job)
    job = b.job
    parent = b.driver.task_id
    raw = b.rng.randbytes(20 * n)
    step = 1e9 / rate
    out = b.sc.attempts
    tpl = None
    for i in range(n):
        s = t0 + int(i * step)
        a = TaskAttempt(raw[20 * i:20 * i + 20] + job, job, "stream_task", "__main__.stream_task",
                        [("PENDING_ARGS_AVAIL", s), ("PENDING_NODE_ASSIGNMENT", s + 100_000),
                         ("SUBMITTED_TO_WORKER", s + 500_000), ("RUNNING", s + MS),
                         ("FINISHED", s + MS + dur)],
                        parent_task_id=parent, required_resources={"CPU": 1.0},
                        node_id=node, worker_id=wid, worker_pid=pid, log_info=False,
                        template=tpl)
        if tpl is None:
            # 10,000 encodings a second is more than Python's protobuf keeps
            # up with: the others patch this one's bytes (encode.Template).
            tpl = a.template = encode.Template(a)
        out.append(a)


def build_actors(b, p):
    b.node("10.0.0.1", cpus=4, head=True)
    b.start_job()
    pg = b.placement_group("counter-pg", "PACK", [{"CPU": 1.0}], b.base + 5 * MS, b.base + 8 * MS)
    aid = b.actor("Counter", "Counter(0)", b.base + 10 * MS, pg=pg)
    for i in range(int(p.get("calls", 5))):
        t = b.base + 100 * MS + i * 50 * MS
        b.task("Counter.increment", "Counter.increment", t, t + 2 * MS,
               t + 30 * MS if i < 4 else None, type="ACTOR_TASK", actor_id=aid,
               actor_repr_name="Counter(0)", resources={}, prof_events=False,
               worker=b.actor_worker[aid])


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
        a = b.task("flaky", "__main__.flaky", t, t + 5 * MS, t + 200 * MS, task_id=tid, attempt=i,
                   node=b.nodes[i % 2],
                   failed=None if last else ("WORKER_DIED", "The worker died unexpectedly."))
        if not last:
            b.exit_worker(a.worker_id, t + 200 * MS, "SYSTEM_ERROR",
                          "Worker exited unexpectedly (SIGSEGV).")
        t += 300 * MS


def build_failures(b, p):
    b.node("10.0.0.1", cpus=4, head=True)
    gpu_node = b.node("10.0.0.2", cpus=16, gpus=8)
    b.start_job()
    t = b.base + 10 * MS
    oom = "Task was killed due to the node running low on memory."
    hog = b.task("hog", "__main__.hog", t, t + 5 * MS, t + 2 * SEC,
                 failed=("OUT_OF_MEMORY", oom), resources={"CPU": 1.0, "memory": 4294967296.0})
    b.exit_worker(hog.worker_id, t + 2 * SEC, "NODE_OUT_OF_MEMORY", oom)
    # Actors: one whose __init__ raises, one OOM-killed, one lost with its node.
    b.actor("BadConfig", "", t + 15 * MS, fail=("creation", "ValueError: bad config"))
    emb = b.actor("Embedder", "Embedder()", t + 20 * MS, resources={"CPU": 1.0})
    b.kill_actor(emb, t + 1800 * MS, "oom_context",
                 "Actor was killed due to the node running low on memory.",
                 exit_type="NODE_OUT_OF_MEMORY")
    shard = b.actor("Shard", "Shard(0)", t + 30 * MS, node=gpu_node, resources={"GPU": 1.0})
    b.kill_actor(shard, t + 1500 * MS, "actor_died_error_context",
                 "The actor died because its node died.")
    b.kill_node(gpu_node, t + 1500 * MS, "health check failed: raylet missed 5 heartbeats")
    b.submission_job("python etl.py", t + 40 * MS, t + 1 * SEC, status="FAILED", exit_code=1,
                     message="Job entrypoint command failed with exit code 1")
    b.job = b.driver.job_id
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
               prof_events=False, worker=b.actor_worker[aid])
    pg = b.placement_group("eval-pg", "STRICT_PACK", [{"CPU": 1.0}, {"CPU": 1.0}], t, t + 20 * MS)
    b.task("evaluate", "__main__.evaluate", t + 30 * MS, t + 35 * MS, None, placement_group_id=pg)
    b.placement_group("gpu-gang", "STRICT_SPREAD", [{"GPU": 1.0}] * 4, t)   # never placed
    par = b.task("parent", "__main__.parent", t, t + 5 * MS, t + 400 * MS)
    b.task("child", "__main__.child", t + 10 * MS, t + 15 * MS, t + 100 * MS, parent=par.task_id)
    tid = b.ids.task(b.job)
    b.task("flaky", "__main__.flaky", t, t + 5 * MS, t + 100 * MS, task_id=tid,
           failed=("WORKER_DIED", "The worker died unexpectedly."))
    b.task("flaky", "__main__.flaky", t + 200 * MS, t + 205 * MS, t + 300 * MS, task_id=tid, attempt=1)
    b.task("wait_for_gpu", "__main__.wait_for_gpu", t, None, None, resources={"CPU": 1.0, "GPU": 1.0})
    b.task("slow", "__main__.slow", t, t + 5 * MS, None)


def build_gcs_failures(b, p):
    """Failures the GCS writes itself (model.apply_gcs_failures).

    Worker W (on 10.0.0.2) runs `doomed_a` and `doomed_b` and dies at
    +1 s (SYSTEM_ERROR): both become FAILED/WORKER_DIED from +1 s + the
    worker delay. `done_first` finished on W before it died: untouched.
    `queued` never gets a worker, so only the job's end marks it; the job
    (its driver) ends at +2 s, and 15 s later (the job delay) `queued`,
    `orphan_running` (on a worker that outlives the job) and the driver
    task become FAILED with "Job finishes (...) as driver exits."."""
    b.node("10.0.0.1", cpus=4, head=True)
    n2 = b.node("10.0.0.2", cpus=4)
    job = b.start_job()
    t = b.base
    w = b.worker(n2, job, start_ns=t + 10 * MS)
    b.task("done_first", "__main__.done_first", t + 10 * MS, t + 20 * MS, t + 200 * MS,
           node=n2, worker=w)
    b.task("doomed_a", "__main__.doomed_a", t + 300 * MS, t + 310 * MS, None, node=n2, worker=w)
    b.task("doomed_b", "__main__.doomed_b", t + 320 * MS, t + 330 * MS, None, node=n2, worker=w,
           prof_events=False)
    b.exit_worker(w[0], t + SEC, "SYSTEM_ERROR", "Worker unexpectedly exits with a connection error code 2.")
    b.task("queued", "__main__.queued", t + 400 * MS, None, None, resources={"GPU": 8.0})
    b.task("orphan_running", "__main__.orphan_running", t + 500 * MS, t + 510 * MS, None)
    b.task("finished_ok", "__main__.finished_ok", t + 600 * MS, t + 610 * MS, t + 900 * MS)
    b.end_job(job, t + 2 * SEC)


# Names for `varied`: unicode of every width, quotes and backslashes (SQL
# and JSON escaping), control characters, empty; a 10 kB one is added
# every 101st attempt.
VARIED_NAMES = ["plain_task", "ünïcødé ✓ 日本語 🚀", "quote \" and ' and \\ back\\slash",
                "", "tab\tnew\nline", "ħ" * 33, "[brackets]{braces}:colon,comma"]
VARIED_MAPS = [{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 0.5, "GPU": 1.0}, {},
               {"memory": 1073741824.0, "CPU": 2.0}, {"ünï \"cøde\"": 0.25}]


def build_varied(b, p):
    """`count` (20000) attempts with varied values (the collector's value tests).

    Resource maps mostly shared but every 7th unique (far more distinct
    values than a value cache holds), names with unicode, quotes and 10 kB,
    null vs empty call sites, runtime envs and error messages, FINISHED and
    FAILED. Attempt i starts at spread_ms (10000) * i / count after the
    epoch and ends 1 ms later, so advancing the clock in steps makes
    successive polls find them.
    """
    n = int(p.get("count", 20000))
    spread = int(float(p.get("spread_ms", 10000)) * MS)
    b.node("10.0.0.1", cpus=64, head=True)
    b.start_job()
    node = b.nodes[0]
    wid, pid = b.worker(node, b.job)
    job = b.job
    parent = b.driver.task_id
    raw = b.rng.randbytes(20 * n)
    for i in range(n):
        s = b.base + 1 * MS + spread * i // n
        name = VARIED_NAMES[i % len(VARIED_NAMES)]
        if i % 101 == 0:
            name = ("é" * 3000 + "x" * 4000 + str(i))[:10240 - i % 5]
        res = VARIED_MAPS[i % len(VARIED_MAPS)]
        if i % 7 == 3:
            res = {"custom_%d" % i: float(i % 13), "CPU": 1.0}
        failed = i % 9 == 4
        states = [("PENDING_ARGS_AVAIL", s), ("RUNNING", s + MS // 2),
                  ("FAILED" if failed else "FINISHED", s + MS)]
        b.sc.attempts.append(TaskAttempt(
            raw[20 * i:20 * i + 20] + job, job, name, "__main__.f_%d" % (i % 11), states,
            attempt_number=i % 3, parent_task_id=parent, required_resources=res,
            serialized_runtime_env=[None, "", '{"pip": ["requests"]}', "{}"][i % 4],
            call_site=[None, "", 'File "x.py", line %d, in "q"' % i][i % 3],
            label_selector=[{}, {"zone": "ü-1"}][i % 2],
            error_type="TASK_EXECUTION_EXCEPTION" if failed else None,
            error_message=[None, "", "boom ☠ \"%d\"" % i][i % 3] if failed else None,
            node_id=node, worker_id=wid, worker_pid=pid, log_info=i % 2 == 0))


def build_keys(b, p):
    """Attempts whose keys or times are unusual (the collector's key tests).

    Task ids of 28 bytes differing only in their last byte, a 20-byte id and
    the same id zero-padded to 24 bytes; one attempt ending on each of
    `days` (500) days before the epoch; and tasks that FINISHED at 1 s and
    FAILED at 3 s, and FINISHED at 5 s and FAILED at 7 s (ends that move:
    Ray keeps every state event).
    """
    days = int(p.get("days", 500))
    b.node("10.0.0.1", cpus=8, head=True)
    b.start_job()
    node = b.nodes[0]
    wid, pid = b.worker(node, b.job)
    job = b.job

    def add(tid, start, states, **kw):
        b.sc.attempts.append(TaskAttempt(tid, job, kw.pop("name", "keys_task"), "__main__.keys_task",
                                         [("PENDING_ARGS_AVAIL", start)] + states,
                                         parent_task_id=b.driver.task_id, node_id=node,
                                         worker_id=wid, worker_pid=pid, log_info=False, **kw))
    t = b.base - 10 * SEC
    prefix = b.rng.randbytes(24)
    for tid in (prefix + b"\x00\x01\x02\x03", prefix + b"\x00\x01\x02\x04",
                prefix[:20], prefix[:20] + b"\x00" * 4):
        add(tid, t, [("RUNNING", t + MS), ("FINISHED", t + 2 * MS)], name="odd_id")
    for d in range(days):
        e = b.base - (d + 1) * 86400 * SEC
        add(b.ids.task(job), e - SEC, [("RUNNING", e - SEC // 2), ("FINISHED", e)], name="old_day")
    add(b.ids.task(job), b.base + 100 * MS,
        [("RUNNING", b.base + 200 * MS), ("FINISHED", b.base + 1 * SEC), ("FAILED", b.base + 3 * SEC)],
        name="moving_end", error_type="WORKER_DIED", error_message="the worker died after finishing")
    add(b.ids.task(job), b.base + 4100 * MS,
        [("RUNNING", b.base + 4200 * MS), ("FINISHED", b.base + 5 * SEC), ("FAILED", b.base + 7 * SEC)],
        name="moving_live", error_type="WORKER_DIED", error_message="the worker died after finishing")


def default_vectors_dir(profile):
    """RAYDAR_VECTORS/ray-<profile>, else the repository's fixtures."""
    root = os.environ.get("RAYDAR_VECTORS")
    if not root:
        here = os.path.dirname(os.path.abspath(__file__))
        test = os.path.dirname(os.path.dirname(here))
        root = os.path.join(test, "fixtures", "ray-wire")
    return os.path.join(root, "ray-" + profile)


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
    cpath = os.path.join(folder, "cluster", "expected.json")
    if os.path.exists(cpath):
        load_cluster_rows(b.sc.entities, json.load(open(cpath)))


def _b(h):
    return bytes.fromhex(h) if h else None


def load_cluster_rows(ents, doc):
    """Static entities (no timeline) from rows in cluster/expected.json form.

    Fields the rows do not show are filled like the vectors' bytes: node
    ports 42000/42001/60000, actor address port 10001, worker ports
    10010..., a driver address for running jobs.
    """
    node_ip = {}
    for r in doc.get("nodes", []):
        nid = _b(r["node_id"])
        node_ip[nid] = r["node_ip"]
        ents.nodes[nid] = dict(r, node_id=nid, hostname="ray-%d" % (len(ents.nodes) + 1))
    for r in doc.get("actors", []):
        aid = _b(r["actor_id"])
        d = dict(r, actor_id=aid, job_id=_b(r["job_id"]), node_id=_b(r["node_id"]),
                 placement_group_id=_b(r["placement_group_id"]))
        if d["node_id"]:
            d.update(ip=node_ip.get(d["node_id"]), port=10001)
        if r["death_cause_type"]:
            d["death_cause"] = (r["death_cause_type"], r["death_cause_message"])
        ents.actors[aid] = d
    for r in doc.get("jobs", []):
        jid = _b(r["job_id"])
        d = dict(r, job_id=jid)
        if r["status"] is not None:
            d["job_info"] = {"status": r["status"], "entrypoint": r["entrypoint"],
                             "message": r["message"], "metadata": r["metadata"],
                             "driver_exit_code": r["driver_exit_code"]}
            if r.get("submission_id"):
                d["config"] = {"ray_namespace": "", "metadata": dict(
                    r["metadata"] or {}, job_submission_id=r["submission_id"])}
        if not r["is_dead"]:
            nid = next((n for n, ip in node_ip.items() if ip == r["driver_ip_address"]), None)
            d["driver_address"] = {"node_id": nid, "ip": r["driver_ip_address"]}
        ents.jobs[jid] = d
    for i, r in enumerate(sorted(doc.get("workers", []), key=lambda w: w["start_time_ms"] or 0)):
        wid = _b(r["worker_id"])
        ents.workers[wid] = dict(r, worker_id=wid, node_id=_b(r["node_id"]), port=10010 + i)
    for r in doc.get("placement_groups", []):
        pg = _b(r["placement_group_id"])
        ents.placement_groups[pg] = dict(
            r, placement_group_id=pg, creator_job_id=_b(r["creator_job_id"]),
            ray_namespace="anonymous_ns",
            bundles=[dict(x, node_id=_b(x["node_id"])) for x in r["bundles"]])


SCENARIOS = {"empty": build_empty, "classic": build_classic, "many": build_many,
             "stream": build_stream,
             "actors": build_actors, "nested": build_nested, "retries": build_retries,
             "failures": build_failures, "mixed": build_mixed, "vectors": build_vectors}
SCENARIOS.update(varied=build_varied, keys=build_keys, gcs_failures=build_gcs_failures)


def build(name, params, seed, base_ns, profile):
    if name not in SCENARIOS:
        raise ValueError("unknown scenario %r (known: %s)" % (name, ", ".join(SCENARIOS)))
    params = dict(params or {})
    if name == "vectors":
        params.setdefault("profile", profile)
    b = Builder(name, params, int(params.get("seed", seed)), base_ns)
    SCENARIOS[name](b, params)
    if b.job is not None:
        # Every cluster also ran a job through the Jobs API (JobsAPIInfo).
        b.submission_job("python train.py --epochs 3", base_ns + 100 * MS, base_ns + 5 * SEC,
                         metadata={"team": "ml"})
    return b.sc
