"""Scenarios: content, determinism, sim time, profile switching."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import unittest

from raysim import versions, derive
from raysim.client import Simulator

EPOCH = 1_800_000_000_000
GCI = "/ray.rpc.NodeInfoGcsService/GetClusterId"


def rows_of(sim, p="master"):
    return derive.rows_from_reply(sim.call(th.GTE, b""), versions.Profile(p))[0]


class Scenarios(unittest.TestCase):
    def test_classic_over_time_and_deterministic(self):
        with Simulator(scenario="classic", speed=0, epoch_ms=EPOCH) as a, \
                Simulator(scenario="classic", speed=0, epoch_ms=EPOCH) as b:
            self.assertEqual([r["type"] for r in rows_of(a)], ["DRIVER_TASK"])
            a.admin("/advance", {"ms": 600_000})
            b.admin("/advance", {"ms": 600_000})
            ra = rows_of(a)
            self.assertEqual(ra, rows_of(b))     # same seed + epoch: same rows
            self.assertEqual(len(ra), 101)
            failed = [r for r in ra if r["state"] == "FAILED"]
            self.assertTrue(3 <= len(failed) <= 25, len(failed))
            self.assertTrue(all(r["error_type"] == "TASK_EXECUTION_EXCEPTION" for r in failed))
            self.assertTrue(all("\x1b" not in r["error_message"] for r in failed))
            raw = a.call(th.GTE, b"")
            self.assertIn(b"\x1b[36mray::example_remote_function()\x1b[39m", raw)   # ANSI on the wire
            ok = [r for r in ra if r["state"] == "FINISHED"]
            self.assertTrue(all("task:execute" in [e["event_name"] for e in r["profiling_events"]] for r in ok))
            self.assertEqual(len({r["node_id"] for r in ra}), 2)

    def test_stream_over_time(self):
        # 2,000 tasks/s for 1 s from the epoch, 20 ms each, through the real
        # server (template-encoded entries): at 500 ms about half have
        # started and those that ended 20 ms earlier are FINISHED with
        # Ray's times; at 2 s all 2,000 are FINISHED, ids distinct.
        params = {"rate": 2000, "seconds": 1, "start_ms": 0, "duration_ms": 20}
        with Simulator(scenario="stream", scenario_params=params, speed=0, epoch_ms=EPOCH) as sim:
            sim.admin("/advance", {"ms": 500})
            rows = [r for r in rows_of(sim) if r["type"] != "DRIVER_TASK"]
            self.assertEqual(len(rows), 1001)               # starts at 0, 0.5, ..., 500 ms
            fin = [r for r in rows if r["state"] == "FINISHED"]
            self.assertEqual(len(fin), 959)                 # ended by 500 ms: started by 479 ms
            # 20 ms, give or take Ray's float `ns // 1e6` at exact ms boundaries.
            self.assertTrue(all(19 <= r["end_time_ms"] - r["start_time_ms"] <= 21 for r in fin))
            self.assertGreater(sum(r["end_time_ms"] - r["start_time_ms"] == 20 for r in fin), len(fin) // 2)
            self.assertTrue(all(r["name"] == "stream_task" for r in rows))
            sim.admin("/advance", {"ms": 1500})
            rows = [r for r in rows_of(sim) if r["type"] != "DRIVER_TASK"]
            self.assertEqual(len(rows), 2000)
            self.assertEqual({r["state"] for r in rows}, {"FINISHED"})
            self.assertEqual(len({r["task_id"] for r in rows}), 2000)

    def test_other_scenarios(self):
        with Simulator(scenario="mixed", speed=0, epoch_ms=EPOCH) as sim:
            sim.admin("/advance", {"ms": 60_000})
            for p in th.PROFILES:
                sim.admin("/profile", {"profile": p})
                rows = rows_of(sim, p)
                types = {r["type"] for r in rows}
                self.assertEqual(types, {"DRIVER_TASK", "NORMAL_TASK", "ACTOR_TASK", "ACTOR_CREATION_TASK"})
                errs = {r["error_type"] for r in rows if r["error_type"]}
                self.assertTrue({"OUT_OF_MEMORY", "TASK_CANCELLED", "RUNTIME_ENV_SETUP_FAILED",
                                 "WORKER_DIED"} <= errs)
                self.assertIn("Counter(0).increment", {r["name"] for r in rows})
                flaky = sorted((r["attempt_number"], r["state"]) for r in rows if r["name"] == "flaky")
                self.assertEqual(flaky, [(0, "FAILED"), (1, "FINISHED")])
                env = [r for r in rows if r["error_type"] == "RUNTIME_ENV_SETUP_FAILED"][0]
                self.assertEqual(env["serialized_runtime_env"], '{"conda": "missing-env"}')
                self.assertEqual(sim.call(th.CA, b""), th.read(th.vec(p, "check_alive_reply.bin")))
        for name in ("actors", "nested", "retries", "failures", "empty"):
            with self.subTest(name=name), Simulator(scenario=name, speed=0, epoch_ms=EPOCH) as sim:
                sim.admin("/advance", {"ms": 60_000})
                rows = rows_of(sim)
                if name == "empty":
                    self.assertEqual(rows, [])
                elif name == "nested":
                    ids = {r["task_id"] for r in rows}
                    self.assertTrue(sum(r["parent_task_id"] in ids for r in rows) >= 6)
                elif name == "retries":
                    self.assertEqual(sorted(r["attempt_number"] for r in rows if r["name"] == "flaky"), [0, 1, 2])

    def test_collector_scenarios_and_incarnations(self):
        """keys and varied (the collector's tests); GetClusterId per load."""
        with Simulator(scenario="keys", scenario_params={"days": 5}, speed=0, epoch_ms=EPOCH) as sim:
            rows = rows_of(sim)
            self.assertEqual(sorted({len(r["task_id"]) for r in rows if r["name"] == "odd_id"}), [40, 48, 56])
            self.assertEqual(len({r["task_id"] for r in rows if r["name"] == "odd_id"}), 4)
            self.assertEqual(sum(r["name"] == "old_day" for r in rows), 5)
            sim.admin("/advance", {"ms": 4000})
            moving = [r for r in rows_of(sim) if r["name"] == "moving_end"]
            self.assertEqual([r["state"] for r in moving], ["FAILED"])
            cid = sim.call(GCI, b"")
            self.assertEqual((cid[:2], len(cid)), (b"\x12\x1c", 30))
            sim.admin("/restart", {})
            self.assertEqual(sim.call(GCI, b""), cid, "a GCS restart keeps the cluster id")
            sim.admin("/scenario", {"name": "keys", "params": {"days": 5}})
            self.assertNotEqual(sim.call(GCI, b""), cid, "a new scenario is a new cluster")
        with Simulator(scenario="varied", scenario_params={"count": 300, "spread_ms": 100},
                       speed=0, epoch_ms=EPOCH) as sim:
            sim.admin("/advance", {"ms": 1000})
            rows = [r for r in rows_of(sim) if r["type"] != "DRIVER_TASK"]
            self.assertEqual(len(rows), 300)
            self.assertTrue(any(len((r["name"] or "").encode()) > 5000 for r in rows))
            self.assertEqual({r["state"] for r in rows}, {"FINISHED", "FAILED"})

    def test_vectors_scenario_matches_expected(self):
        import json
        for p in th.PROFILES:
            with Simulator(profile=p, scenario="vectors") as sim:
                self.assertEqual(rows_of(sim, p), json.load(open(th.vec(p, "expected_tasks.json")))["tasks"])


if __name__ == "__main__":
    th.main(globals())
