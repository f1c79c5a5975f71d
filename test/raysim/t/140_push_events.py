"""Event Export: the RayEvents the simulated cluster pushes, and Ray's merge back.

Exact JSON per shape (2.49 taskExecutionEvent, FEB26 taskLifecycleEvent)
and key style against shared/ray-event-export.md; Ray's merge of the
events (gcs_ray_event_converter.cc) gives the rows polling gives, up to
the documented differences (rayevents.normalise_polled), for every
scenario and event-export profile; the load generator's templates equal
the Encoder.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import base64
import json
import random
import unittest

from raysim import derive, encode, loadgen, model, rayevents, scenarios, versions
from raysim.model import TaskAttempt

BASE = 1770890414000 * 1_000_000
MS = 1_000_000


def polled_rows(sc, prof):
    """Rows a poll at the end of time derives (GetTaskEvents encoding)."""
    p = versions.Profile(prof)
    rows = [derive.row_from_event(encode.task_events_message(a, p), p) for a in sc.attempts if a.states]
    return sorted(rows, key=lambda r: (r["task_id"], r["attempt_number"]))


def sample_attempt():
    job = bytes.fromhex("01000000")
    tid = bytes(range(20)) + job
    return TaskAttempt(
        tid, job, "ünï \"q\"", "__main__.f",
        [("PENDING_ARGS_AVAIL", BASE + 500_000), ("PENDING_NODE_ASSIGNMENT", BASE + 600_000),
         ("SUBMITTED_TO_WORKER", BASE + 700_000), ("RUNNING", BASE + 1_200 * MS),
         ("FAILED", BASE + 2_300_123_456)],
        attempt_number=2, parent_task_id=b"\x07" * 24,
        required_resources={"CPU": 1, "node:10.0.0.12": 0.001}, node_id=b"\x0a" * 28,
        worker_id=b"\x0b" * 28, worker_pid=4242, error_type="TASK_EXECUTION_EXCEPTION",
        error_message="boom ☠", call_site="x.py:1", label_selector={"zone": "a"})


def events_of(a, prof, keys="camel", **kw):
    enc = rayevents.Encoder(prof, keys=keys, session_name="session_t", gcs_events=False, **kw)
    out = []
    enc.attempt_events(a, (b"\x0c" * 28, b"\x0d" * 28, 77), out)
    return out


class Encoding(unittest.TestCase):
    def test_ids_int64_timestamps(self):
        self.assertEqual(rayevents.b64(bytes.fromhex("01000000")), "AQAAAA==")
        for n, chars in ((4, 8), (16, 24), (18, 24), (24, 32), (28, 40)):
            self.assertEqual(len(rayevents.b64(os.urandom(n))), chars)
        self.assertEqual(rayevents.b64(b"\xff" * 18), "////////////////////////")
        self.assertEqual(rayevents.ts(BASE), "2026-02-12T10:00:14Z")
        self.assertEqual(rayevents.ts(BASE + 5 * MS), "2026-02-12T10:00:14.005Z")
        self.assertEqual(rayevents.ts(BASE + 5_000), "2026-02-12T10:00:14.000005Z")
        self.assertEqual(rayevents.ts(BASE + 5), "2026-02-12T10:00:14.000000005Z")
        for ns in (BASE, BASE + 5, BASE + 123_456_789):
            self.assertEqual(rayevents.parse_ts(rayevents.ts(ns)), ns)

    def test_feb26_exact_json(self):
        evs = events_of(sample_attempt(), "master")
        self.assertEqual([e.kind for e in evs], ["definition", "lifecycle", "lifecycle", "lifecycle"])
        d = evs[0].text
        # json.dumps separators, ASCII escapes, keys in field order
        self.assertTrue(d.startswith('{"eventId": "'), d)
        self.assertIn('"sourceType": "CORE_WORKER", "eventType": "TASK_DEFINITION_EVENT", '
                      '"timestamp": "2026-02-12T10:00:15Z", "severity": "INFO", "message": "", '
                      '"sessionName": "session_t", "taskDefinitionEvent": {"taskId": "AAECAwQFBgcICQoLDA0ODxAREhMBAAAA", '
                      '"taskAttempt": 2, "taskType": "NORMAL_TASK", "language": "PYTHON", '
                      '"taskFunc": {"pythonFunctionDescriptor": {"moduleName": "__main__", '
                      '"className": "__main__", "functionName": "f", "functionHash": ""}}, '
                      '"taskName": "\\u00fcn\\u00ef \\"q\\"", '
                      '"requiredResources": {"CPU": 1.0, "node:10.0.0.12": 0.001}, '
                      '"jobId": "AQAAAA==", "parentTaskId": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH", '
                      '"placementGroupId": "////////////////////////", "refIds": {}, '
                      '"serializedRuntimeEnv": "", "callSite": "x.py:1", "labelSelector": {"zone": "a"}}, '
                      '"nodeId": "DAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=="}', d)
        ev = json.loads(d)
        self.assertEqual(len(ev["eventId"]), 40)
        lc = [json.loads(e.text) for e in evs[1:]]
        own = lc[0]["taskLifecycleEvent"]
        self.assertEqual([t["state"] for t in own["stateTransitions"]],
                         ["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER"])
        # the lease names the executor; the owner reports it from its own node
        self.assertEqual(own["nodeId"], rayevents.b64(b"\x0a" * 28))
        self.assertEqual(own["workerId"], rayevents.b64(b"\x0b" * 28))
        self.assertEqual(own["workerPid"], 0)
        self.assertEqual(own["jobId"], "AQAAAA==")
        self.assertEqual(lc[0]["nodeId"], rayevents.b64(b"\x0c" * 28))
        ex = lc[1]["taskLifecycleEvent"]
        self.assertEqual([t["state"] for t in ex["stateTransitions"]], ["RUNNING"])
        self.assertEqual((ex["nodeId"], ex["workerId"], ex["workerPid"]), ("", "", 4242))
        self.assertEqual(lc[1]["nodeId"], rayevents.b64(b"\x0a" * 28))
        end = lc[2]["taskLifecycleEvent"]
        self.assertEqual(end["stateTransitions"], [{"state": "FAILED",
                                                    "timestamp": "2026-02-12T10:00:16.300123456Z"}])
        self.assertEqual(end["rayErrorInfo"], {"errorMessage": "boom ☠",
                                               "errorType": "TASK_EXECUTION_EXCEPTION"})
        ids = {json.loads(e.text)["eventId"] for e in evs}
        self.assertEqual(len(ids), 4, "every event has a fresh eventId")

    def test_249_exact_json(self):
        evs = events_of(sample_attempt(), "2.49")
        ev = [json.loads(e.text) for e in evs]
        self.assertNotIn("nodeId", ev[0], "2.49's RayEvent has no nodeId")
        td = ev[0]["taskDefinitionEvent"]
        self.assertNotIn("callSite", td)
        self.assertNotIn("labelSelector", td)
        self.assertNotIn("runtimeEnvInfo", td, "no runtime env: the sub-message is unset")
        self.assertEqual(ev[1]["eventType"], "TASK_EXECUTION_EVENT")
        x = ev[1]["taskExecutionEvent"]
        self.assertEqual(list(x), ["taskId", "taskAttempt", "taskState", "nodeId", "workerId", "workerPid"])
        self.assertEqual(x["taskState"], {"1": "2026-02-12T10:00:14.000500Z",
                                          "2": "2026-02-12T10:00:14.000600Z",
                                          "5": "2026-02-12T10:00:14.000700Z"})
        self.assertEqual(ev[2]["taskExecutionEvent"]["taskState"], {"8": "2026-02-12T10:00:15.200Z"})
        self.assertEqual(ev[2]["taskExecutionEvent"]["nodeId"], "", "executor events carry no node id")
        self.assertEqual(ev[3]["taskExecutionEvent"]["taskState"], {"12": "2026-02-12T10:00:16.300123456Z"})
        a = sample_attempt()
        a.serialized_runtime_env = '{"pip": ["x"]}'
        td = json.loads(events_of(a, "2.49")[0].text)["taskDefinitionEvent"]
        self.assertEqual(td["runtimeEnvInfo"], {"serializedRuntimeEnv": '{"pip": ["x"]}',
                                                "runtimeEnvConfig": {"setupTimeoutSeconds": 600,
                                                                     "eagerInstall": False, "logFiles": []}})
        with self.assertRaises(ValueError):
            rayevents.Encoder("2.49", keys="snake")
        with self.assertRaises(ValueError):
            rayevents.Encoder("2.40")

    def test_snake_keys_leave_map_keys(self):
        evs = events_of(sample_attempt(), "2.58", keys="snake")
        d = json.loads(evs[0].text)
        self.assertEqual(list(d)[:7], ["event_id", "source_type", "event_type", "timestamp", "severity",
                                       "message", "session_name"])
        td = d["task_definition_event"]
        self.assertEqual(td["required_resources"], {"CPU": 1.0, "node:10.0.0.12": 0.001})
        self.assertEqual(td["task_func"]["python_function_descriptor"]["function_name"], "f")
        self.assertEqual(td["label_selector"], {"zone": "a"})
        self.assertIn("state_transitions", json.loads(evs[1].text)["task_lifecycle_event"])

    def test_driver_job_int64_as_string(self):
        sc = scenarios.build("classic", {"count": 3}, 0, BASE, "master")
        evs = rayevents.Encoder("master").scenario_events(sc)
        jobs = [json.loads(e.text) for e in evs if '"DRIVER_JOB_DEFINITION_EVENT"' in e.text]
        self.assertTrue(jobs)
        for j in jobs:
            self.assertIsInstance(j["driverJobDefinitionEvent"]["driverPid"], str)
            self.assertEqual(len(j["driverJobDefinitionEvent"]["jobId"]), 8)
        # sorted by flush time: what each node's agent receives in order
        self.assertEqual([e.at_ns for e in evs], sorted(e.at_ns for e in evs))

    def test_unsorted_owner_and_executor(self):
        """One attempt's transitions come from two nodes in separate events."""
        evs = events_of(sample_attempt(), "master")
        nodes = {e.node for e in evs}
        self.assertEqual(nodes, {b"\x0c" * 28, b"\x0a" * 28})


class MergeEqualsPoll(unittest.TestCase):
    def test_scenarios(self):
        for prof in ("2.49", "master", "2.58"):
            shape = rayevents.shape_for_profile(prof)
            for name in ("classic", "mixed", "varied", "vectors", "retries", "nested", "actors", "keys"):
                params = {"count": 400} if name == "varied" else {}
                sc = scenarios.build(name, params, 0, BASE, prof)
                want = [rayevents.normalise_polled(r, shape) for r in polled_rows(sc, prof)]
                for keys in ("camel", "snake"):
                    if keys == "snake" and shape == "2.49":
                        continue
                    with self.subTest(profile=prof, scenario=name, keys=keys):
                        evs = rayevents.Encoder(prof, keys=keys, seed=1).scenario_events(sc)
                        # arrival: each node in order, nodes interleaved at random
                        rng = random.Random(5)
                        per = {}
                        for e in evs:
                            per.setdefault(e.node, []).append(e.text)
                        arrival = []
                        while per:
                            n = rng.choice(sorted(per))
                            arrival.append(per[n].pop(0))
                            if not per[n]:
                                del per[n]
                        got = rayevents.merge_bodies(prof, [rayevents.body(arrival)]).rows()
                        self.assertEqual(len(got), len(want))
                        self.assertEqual(got, want)

    def test_lifecycle_first_and_duplicates(self):
        sc = scenarios.build("mixed", {}, 0, BASE, "2.58")
        evs = rayevents.Encoder("2.58", lifecycle_first=True).scenario_events(sc)
        first = {}
        for e in evs:
            if e.kind in ("definition", "lifecycle"):
                tid = json.loads(e.text)
                p = tid.get("taskDefinitionEvent") or tid.get("actorTaskDefinitionEvent") or \
                    tid.get("taskLifecycleEvent")
                first.setdefault((p["taskId"], p["taskAttempt"]), e.kind)
        self.assertEqual(set(first.values()), {"lifecycle"})
        body = rayevents.body([e.text for e in evs])
        m = rayevents.merge_bodies("2.58", [body, body])
        self.assertEqual(m.duplicates, len(evs))
        want = [rayevents.normalise_polled(r, "feb26") for r in polled_rows(sc, "2.58")]
        self.assertEqual(m.rows(), want)

    def test_reporter_node_ids(self):
        """The other reading of FEB26's nodeId: the owner's FINISHED names the
        owner's node, and Ray's merge (last non-empty wins) takes it."""
        sc = scenarios.build("classic", {"count": 20}, 0, BASE, "2.58")
        evs = rayevents.Encoder("2.58", node_ids="reporter").scenario_events(sc)
        rows = rayevents.merge_bodies("2.58", [rayevents.body([e.text for e in evs])]).rows()
        driver_node = next(iter(sc.entities.nodes)).hex()
        polled = {r["task_id"]: r for r in polled_rows(sc, "2.58")}
        moved = [r for r in rows if r["type"] == "NORMAL_TASK" and r["node_id"] != polled[r["task_id"]]["node_id"]]
        self.assertTrue(moved)
        self.assertTrue(all(r["node_id"] == driver_node for r in moved))


class GcsWrittenFailures(unittest.TestCase):
    def test_not_exported(self):
        """The FAILED the GCS writes when a worker dies or a job ends
        (model.apply_gcs_failures) is in the GCS's table only: the pushed
        events of those attempts stop where their workers stopped, with no
        error info, so Ray's merge of them is still unfinished (raydar's
        merger marks the job's ones itself: docs/push.md)."""
        sc = scenarios.build("gcs_failures", {}, 0, BASE, "master")
        marked = model.apply_gcs_failures(sc, 1000, 15000)
        self.assertEqual(sorted(a.name for a in marked),
                         ["__main__", "doomed_a", "doomed_b", "orphan_running", "queued"])
        evs = rayevents.Encoder("master", seed=1).scenario_events(sc)
        texts = [e.text for e in evs]
        self.assertFalse([t for t in texts if "Job finishes" in t or "Worker running the task" in t])
        rows = {r["name"]: r for r in rayevents.merge_bodies("master", [rayevents.body(texts)]).rows()}
        for a in marked:
            with self.subTest(task=a.name):
                r = rows[a.name]
                self.assertNotIn(r["state"], ("FINISHED", "FAILED"))
                self.assertIsNone(r["error_type"])
                # every state the workers did report is there
                self.assertEqual(r["state"], [s for s, ns in a.states if ns != a.gcs_failed_ns][-1])
        self.assertEqual(rows["finished_ok"]["state"], "FINISHED")
        self.assertEqual(rows["done_first"]["state"], "FINISHED")


class WorkerEvents(unittest.TestCase):
    def test_dead_workers_exported_when_asked(self):
        """Ray 2026's worker lifecycle events (ray_worker_lifecycle_event.cc):
        an ALIVE one per worker, a DEAD one per dead worker with its
        endTimeMs and deathInfo as the GCS's row has them, from the GCS;
        none unless worker_events (not among the default exposable types),
        and none for a Ray that has no such events."""
        sc = scenarios.build("gcs_failures", {}, 0, BASE, "master")
        plain = rayevents.Encoder("master", seed=1).scenario_events(sc)
        self.assertFalse([e for e in plain if "WORKER_LIFECYCLE_EVENT" in e.text])
        evs = rayevents.Encoder("master", seed=1, worker_events=True).scenario_events(sc)
        got = [json.loads(e.text) for e in evs if "WORKER_LIFECYCLE_EVENT" in e.text]
        dead = {}
        for ev in got:
            self.assertEqual(ev["sourceType"], "GCS")
            for tr in ev["workerLifecycleEvent"]["stateTransitions"]:
                if tr["state"] == "DEAD":
                    dead[base64.b64decode(ev["workerLifecycleEvent"]["workerId"])] = tr
        self.assertEqual(len(got) - len(dead), len(sc.entities.workers))    # one ALIVE each
        want = {wid: w["final"] for wid, w in sc.entities.workers.items()
                if (w.get("final") or {}).get("is_alive") is False}
        self.assertTrue(want)
        self.assertEqual(set(dead), set(want))
        for wid, fin in want.items():
            self.assertEqual(dead[wid]["endTimeMs"], str(fin["end_time_ms"]))
            self.assertEqual(dead[wid]["deathInfo"], {"exitType": fin["exit_type"], "exitDetail": fin["exit_detail"]})
        with self.assertRaises(ValueError):
            rayevents.Encoder("2.58", worker_events=True)


class LoadTemplates(unittest.TestCase):
    def test_fast_equals_encoder(self):
        for prof, keys, k in (("master", "camel", 4), ("2.58", "snake", 1), ("2.49", "camel", 3)):
            g = loadgen.Generator(prof, keys=keys, nodes=k, seed=3)
            for i in list(range(0, 60)) + [997, 12345]:
                eids = [random.Random(i * 10 + j).randbytes(28) for j in range(8)]
                with self.subTest(profile=prof, i=i):
                    self.assertEqual(g.fast_events(i, eids), g.slow_events(i, eids))

    def test_values_vary(self):
        g = loadgen.Generator("master", nodes=2)
        texts = [t for i in range(len(g.variants)) for _, _, t in g.fast_events(i)]
        blob = "".join(texts)
        self.assertIn("\\u00fcn\\u00ef", blob)              # unicode, ASCII-escaped
        self.assertIn('"FAILED"', blob)
        self.assertIn("\\u001b[36m", blob)                   # ANSI in an error message
        self.assertTrue(any(len(t) > 10000 for t in texts))  # the 10 kB name
        for t in texts:
            json.loads(t)
        ids = [json.loads(t)["eventId"] for t in texts]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual({len(base64.b64decode(x)) for x in ids}, {28})


th.main(globals())
