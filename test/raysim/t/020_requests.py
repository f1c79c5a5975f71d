"""Request layouts per profile and GetTaskEvents semantics (filters, counters, limit)."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import unittest

import grpc

from raysim import derive, versions
from raysim.proto import pb
from raysim.client import Simulator
from raysim.encode import field_bytes, field_varint


def pred_req(limit=None, **filters):
    """A 2.41+ request: filters are {kind: [(predicate, value)]}."""
    num = {"job": 1, "task": 2, "actor": 3, "name": 4, "state": 6}
    body = b""
    for kind, lst in filters.items():
        if kind == "exclude_driver":
            continue
        for p, v in lst:
            v = v.encode() if isinstance(v, str) else v
            body += field_bytes(num[kind], (field_varint(1, p) if p else b"") + field_bytes(2, v))
    if filters.get("exclude_driver"):
        body += field_varint(5, 1)
    out = field_varint(3, limit) if limit is not None else b""
    return out + field_bytes(4, body)


def legacy_req(limit=None, job=None, tasks=(), name=None, state=None):
    body = b""
    if job is not None:
        body += field_bytes(1, job)
    for t in tasks:
        body += field_bytes(2, t)
    if name is not None:
        body += field_bytes(4, name.encode())
    if state is not None:
        body += field_bytes(6, state.encode())
    return (field_varint(3, limit) if limit is not None else b"") + field_bytes(4, body)


class Layouts(unittest.TestCase):
    def test_vector_requests_decode_per_profile(self):
        for p in th.PROFILES:
            cases = json.load(open(th.vec(p, "requests", "cases.json")))
            with Simulator(profile=p, scenario="vectors") as sim:
                for name, case in sorted(cases.items()):
                    with self.subTest(profile=p, case=name):
                        sim.admin("/requests/clear", {})
                        sim.call(th.GTE, th.read(th.vec(p, "requests", name + ".bin")))
                        rec = sim.admin("/requests")["requests"][-1]
                        self.assertEqual(rec["simple"], case)
                        want = "empty" if name == "limit_only" else (
                            "predicate" if versions.Profile(p).predicate_filters else "legacy")
                        self.assertEqual(rec["layout"], want)
                        self.assertEqual(rec["outcome"], "ok")


class Semantics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(profile="master", scenario="vectors")
        cls.prof = versions.Profile("master")
        cls.exp = json.load(open(th.vec("master", "expected_tasks.json")))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def get(self, req):
        return derive.rows_from_reply(self.sim.call(th.GTE, req), self.prof)

    def test_unfiltered(self):
        rows, c = self.get(b"")
        self.assertEqual(rows, self.exp["tasks"])
        self.assertEqual((c["num_total_stored"], c["num_filtered_on_gcs"], c["num_truncated"]), (16, 0, 0))
        self.assertEqual(c["num_status_task_events_dropped"], 7)

    def test_limit_truncates_and_adds_to_dropped(self):
        # limit 2: Ray's order puts the FINISHED attempts first (t/110),
        # so the cut ones include example_remote_function's 3 profile events.
        rows, c = self.get(field_varint(3, 2))
        self.assertEqual(len(rows), 2)
        self.assertEqual(c["num_truncated"], 14)
        # GcsTaskManager::HandleGetTaskEvents (src/ray/gcs/gcs_task_manager.cc):
        # each cut entry adds its profile events to the profile counter and
        # 1 to the status counter only if it has state_updates.
        full = pb().GetTaskEventsReply()
        full.ParseFromString(self.sim.call(th.GTE, b""))
        cut = full.events_by_task[2:]
        nprof = sum(len(e.profile_events.events) for e in cut if e.HasField("profile_events"))
        nstatus = sum(1 for e in cut if e.HasField("state_updates"))
        self.assertGreater(nprof, 0)
        self.assertEqual(nprof, 3)
        self.assertNotEqual(nprof, 14)        # the old rule (+1 each) would not pass
        self.assertEqual(c["num_status_task_events_dropped"], 7 + nstatus)
        self.assertEqual(c["num_profile_task_events_dropped"], 3 + nprof)
        self.assertEqual(c["num_total_stored"], 16)

    def test_limit_zero(self):
        rows, c = self.get(field_varint(3, 0))
        self.assertEqual((len(rows), c["num_truncated"]), (0, 16))

    def test_task_eq_uses_index(self):
        tid = "6cdae01aa59dfac63b0392ef2dcefc3ecc4b39f352463498"   # two attempts
        rows, c = self.get(pred_req(task=[(0, bytes.fromhex(tid))]))
        self.assertEqual(sorted(r["attempt_number"] for r in rows), [0, 1])
        self.assertEqual(c["num_total_stored"], 2)

    def test_two_distinct_task_eq_is_empty(self):
        a = bytes.fromhex("6cdae01aa59dfac63b0392ef2dcefc3ecc4b39f352463498")
        b = bytes.fromhex("05765e4c94bd52b4e587b43c4f02e1a190643f67bd588afd")
        rows, c = self.get(pred_req(task=[(0, a), (0, b)]))
        self.assertEqual((rows, c["num_total_stored"]), ([], 0))

    def test_job_eq_counters_are_the_jobs(self):
        rows, c = self.get(pred_req(job=[(0, bytes.fromhex("01000000"))]))
        self.assertEqual(len(rows), 16)
        rows, c = self.get(pred_req(job=[(0, bytes.fromhex("02000000"))]))
        self.assertEqual(rows, [])
        self.assertEqual((c["num_status_task_events_dropped"], c["num_total_stored"]), (0, 0))

    def test_not_equal_and_case_insensitive(self):
        rows, c = self.get(pred_req(name=[(1, "TRAIN_SHARD")]))
        self.assertEqual(len(rows), 14)
        self.assertEqual(c["num_filtered_on_gcs"], 2)
        rows, _ = self.get(pred_req(name=[(0, "Train_Shard")], state=[(0, "finished")]))
        self.assertEqual([(r["name"], r["attempt_number"]) for r in rows], [("train_shard", 1)])

    def test_state_filter_uses_latest_state(self):
        rows, _ = self.get(pred_req(state=[(0, "RUNNING")]))
        self.assertEqual(sorted(r["state"] for r in rows), ["RUNNING"] * 3)

    def test_exclude_driver_and_actor(self):
        rows, _ = self.get(pred_req(exclude_driver=True))
        self.assertNotIn("DRIVER_TASK", [r["type"] for r in rows])
        self.assertEqual(len(rows), 15)
        rows, _ = self.get(pred_req(actor=[(0, bytes.fromhex("9eb6d69e5ee35f626fee95a9e3756e43"))]))
        self.assertEqual(len(rows), 3)

    def test_unknown_predicate_is_invalid_argument(self):
        from raysim.proto import pb
        raw = self.sim.call(th.GTE, pred_req(name=[(7, "x")]))
        r = pb().GetTaskEventsReply()
        r.ParseFromString(raw)
        self.assertEqual(r.status.code, 34)
        self.assertEqual(len(r.events_by_task), 0)

    def test_unparseable_is_internal(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.sim.call(th.GTE, b"\x22\x05\x0a")   # length beyond buffer
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(self.sim.admin("/requests")["requests"][-1]["layout"], "unparseable")


class LegacyProfiles(unittest.TestCase):
    def test_29_name_case_sensitive_and_no_state_filter(self):
        prof = versions.Profile("2.9")
        with Simulator(profile="2.9", scenario="vectors") as sim:
            rows, _ = derive.rows_from_reply(sim.call(th.GTE, legacy_req(name="TRAIN_SHARD")), prof)
            self.assertEqual(rows, [])
            rows, _ = derive.rows_from_reply(sim.call(th.GTE, legacy_req(name="train_shard", state="RUNNING")), prof)
            self.assertEqual(len(rows), 2)      # state (field 6) unknown on 2.9
        prof = versions.Profile("2.35")
        with Simulator(profile="2.35", scenario="vectors") as sim:
            rows, _ = derive.rows_from_reply(sim.call(th.GTE, legacy_req(name="TRAIN_SHARD", state="finished")), prof)
            self.assertEqual(len(rows), 1)


if __name__ == "__main__":
    th.main(globals())
