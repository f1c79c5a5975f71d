"""GetTaskEvents as Ray's source has it (issue 16, section 1).

Each test names the rule and the Ray source it follows
(src/ray/gcs/gcs_task_manager.{h,cc} unless said otherwise); docs/simulator.md
lists the same rules.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import signal
import unittest
import zlib

import grpc

from raysim import derive, versions
from raysim.client import Simulator
from raysim.proto import pb

EPOCH = 1_800_000_000_000
FAR = 3_600_000          # ms: every timeline of a scenario is visible by then
MS = 1_000_000


def reply(raw):
    r = pb().GetTaskEventsReply()
    r.ParseFromString(raw)
    return r


def ordered_rows(raw, prof):
    """Rows in the order of the reply (derive.rows_from_reply sorts them)."""
    return [derive.row_from_event(ev, prof) for ev in reply(raw).events_by_task]


def pred_req(limit=None, task=(), job=(), actor=(), name=(), state=(), exclude_driver=False):
    m = pb().GetTaskEventsRequest()
    if limit is not None:
        m.limit = limit
    f = m.filters
    f.SetInParent()
    for p, v in task:
        f.task_filters.add(predicate=p, task_id=v)
    for p, v in job:
        f.job_filters.add(predicate=p, job_id=v)
    for p, v in actor:
        f.actor_filters.add(predicate=p, actor_id=v)
    for p, v in name:
        f.task_name_filters.add(predicate=p, task_name=v)
    for p, v in state:
        f.state_filters.add(predicate=p, state=v)
    if exclude_driver:
        f.exclude_driver = True
    return m.SerializeToString()


def legacy_req(task_ids=(), job_id=None, actor_id=None):
    m = pb().GetTaskEventsRequestLegacy()
    f = m.filters
    f.SetInParent()
    for t in task_ids:
        f.task_ids.append(t)
    if job_id is not None:
        f.job_id = job_id
    if actor_id is not None:
        f.actor_id = actor_id
    return m.SerializeToString()


def counters(r):
    return (r.num_profile_task_events_dropped, r.num_status_task_events_dropped,
            r.num_total_stored, r.num_filtered_on_gcs, r.num_truncated)


def frozen(profile="master", scenario="mixed", **kw):
    return Simulator(profile=profile, scenario=scenario, speed=0, epoch_ms=EPOCH, **kw)


class Order(unittest.TestCase):
    """GcsTaskManagerStorage::GetTaskEvents() appends the tier lists from
    priority 2 down to 0 (each from its back) and HandleGetTaskEvents walks
    that vector reversed: FINISHED (tier 0, the last to enter it first),
    then unfinished actor/actor-creation tasks (tier 1), then the rest."""

    def test_three_tiers_exact(self):
        prof = versions.Profile("master")
        with frozen(scenario="actors") as sim:
            sim.admin("/advance", {"ms": FAR})
            rows = ordered_rows(sim.call(th.GTE, b""), prof)
        got = [(r["name"], r["state"]) for r in rows]
        self.assertEqual(got, [("Counter(0).increment", "FINISHED")] * 4 +
                         [("Counter.__init__", "FINISHED"), ("Counter(0).increment", "RUNNING"),
                          ("__main__", "RUNNING")])
        fins = [r for r in rows if r["state"] == "FINISHED"]
        ends = [r["end_time_ms"] for r in fins]
        self.assertEqual(ends, sorted(ends, reverse=True))    # most recently finished first

    def test_mixed_order_rule(self):
        # The same rule checked over every attempt of `mixed` (FAILED ones in tier 2).
        prof = versions.Profile("master")
        with frozen() as sim:
            sim.admin("/advance", {"ms": FAR})
            rows = ordered_rows(sim.call(th.GTE, b""), prof)
        first = {(r["task_id"], r["attempt_number"]): r["events"][0]["created_ms"] for r in rows}

        def tier(r):
            if r["state"] == "FINISHED":
                return 0
            return 1 if r["type"] in ("ACTOR_TASK", "ACTOR_CREATION_TASK") else 2
        tiers = [tier(r) for r in rows]
        self.assertEqual(tiers, sorted(tiers))
        self.assertEqual(tiers.count(0), 9)
        self.assertEqual(tiers.count(1), 1)        # BadConfig.__init__ FAILED: an actor task
        self.assertEqual(tiers.count(2), 8)
        for t in (1, 2):
            starts = [first[(r["task_id"], r["attempt_number"])] for r in rows if tier(r) == t]
            self.assertEqual(starts, sorted(starts, reverse=True), "tier %d newest first" % t)

    def test_limit_keeps_finished_drops_running(self):
        # ray#33547: a limit keeps finished attempts and can drop running ones.
        prof = versions.Profile("master")
        with frozen() as sim:
            sim.admin("/advance", {"ms": FAR})
            r = reply(sim.call(th.GTE, pred_req(limit=9)))
            rows = [derive.row_from_event(ev, prof) for ev in r.events_by_task]
        self.assertEqual({x["state"] for x in rows}, {"FINISHED"})
        self.assertEqual(len(rows), 9)
        self.assertEqual((r.num_total_stored, r.num_truncated), (18, 9))
        self.assertNotIn("slow", [x["name"] for x in rows])

    def test_index_lookup_hash_order(self):
        # GetTaskEvents(job_id) copies a flat_hash_set of locators: hash order
        # (the simulator: crc32 of task id + attempt, little-endian int32).
        prof = versions.Profile("master")
        with frozen() as sim:
            sim.admin("/advance", {"ms": FAR})
            full = ordered_rows(sim.call(th.GTE, b""), prof)
            job = bytes.fromhex(full[0]["job_id"])
            by_job = ordered_rows(sim.call(th.GTE, pred_req(job=[(0, job)])), prof)
        key = lambda r: (r["task_id"], r["attempt_number"])   # noqa: E731
        self.assertEqual(sorted(map(key, by_job)), sorted(map(key, full)))
        want = sorted(full, key=lambda r: zlib.crc32(bytes.fromhex(r["task_id"]) +
                                                       r["attempt_number"].to_bytes(4, "little")))
        self.assertEqual([key(r) for r in by_job], [key(r) for r in want])
        self.assertNotEqual([key(r) for r in by_job], [key(r) for r in full])


class IndexPaths(unittest.TestCase):
    """HandleGetTaskEvents' candidate set (2.41+ and <= 2.40)."""

    @classmethod
    def setUpClass(cls):
        # classic with 10 kept: 91 evicted, so cluster-wide counters are not 0.
        cls.sim = frozen(scenario="classic", max_tasks=10)
        cls.sim.admin("/advance", {"ms": FAR})
        cls.prof = versions.Profile("master")
        cls.rows = ordered_rows(cls.sim.call(th.GTE, b""), cls.prof)
        cls.all = reply(cls.sim.call(th.GTE, b""))
        cls.tid = [bytes.fromhex(r["task_id"]) for r in cls.rows]
        cls.job = bytes.fromhex(cls.rows[0]["job_id"])

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def call(self, req):
        return reply(self.sim.call(th.GTE, req))

    def test_cluster_counters(self):
        self.assertEqual(len(self.rows), 10)
        self.assertEqual(self.all.num_status_task_events_dropped, 91)
        self.assertGreater(self.all.num_profile_task_events_dropped, 0)

    def test_one_task_eq_no_dropped_counters(self):
        r = self.call(pred_req(task=[(0, self.tid[3])]))
        self.assertEqual(len(r.events_by_task), 1)
        self.assertEqual(counters(r), (0, 0, 1, 0, 0))

    def test_two_task_eq_empty_all_zero(self):
        r = self.call(pred_req(task=[(0, self.tid[3]), (0, self.tid[4])]))
        self.assertEqual((len(r.events_by_task), counters(r)), (0, (0, 0, 0, 0, 0)))

    def test_task_filter_disables_job_index(self):
        # A task filter (even NOT_EQUAL) means the job index is not used:
        # every stored attempt is a candidate and the counters are cluster-wide.
        other_job = b"\x09\x00\x00\x00"
        r = self.call(pred_req(task=[(1, self.tid[0])], job=[(0, other_job)]))
        self.assertEqual(len(r.events_by_task), 0)
        self.assertEqual(counters(r), (self.all.num_profile_task_events_dropped, 91, 10, 10, 0))
        # Without a task filter the job index answers: nothing stored, no counters.
        r = self.call(pred_req(job=[(0, other_job)]))
        self.assertEqual(counters(r), (0, 0, 0, 0, 0))
        # One EQUAL task id plus a job filter: the task index, then the job check.
        r = self.call(pred_req(task=[(0, self.tid[0])], job=[(0, other_job)]))
        self.assertEqual(counters(r), (0, 0, 1, 1, 0))

    def test_job_index_counters_are_the_jobs(self):
        r = self.call(pred_req(job=[(0, self.job)]))
        self.assertEqual(len(r.events_by_task), 10)
        self.assertEqual(r.num_status_task_events_dropped, 91)

    def test_two_job_eq_empty(self):
        r = self.call(pred_req(job=[(0, self.job), (0, b"\x09\x00\x00\x00")]))
        self.assertEqual((len(r.events_by_task), counters(r)), (0, (0, 0, 0, 0, 0)))

    def test_le240_task_ids_union_job_ignored(self):
        prof = versions.Profile("2.40")
        with frozen(profile="2.40", scenario="classic") as sim:
            sim.admin("/advance", {"ms": FAR})
            rows = ordered_rows(sim.call(th.GTE, b""), prof)
            a, b = bytes.fromhex(rows[0]["task_id"]), bytes.fromhex(rows[5]["task_id"])
            r = reply(sim.call(th.GTE, legacy_req(task_ids=[a, b])))
            self.assertEqual({e.task_id for e in r.events_by_task}, {a, b})
            self.assertEqual((r.num_status_task_events_dropped, r.num_total_stored), (0, 2))
            # job_id of another job next to task_ids is never looked at.
            r = reply(sim.call(th.GTE, legacy_req(task_ids=[a], job_id=b"\x09\x00\x00\x00")))
            self.assertEqual([e.task_id for e in r.events_by_task], [a])
            # ... not even converted: a wrong-length job id does not abort.
            r = reply(sim.call(th.GTE, legacy_req(task_ids=[a], job_id=b"\x09\x00")))
            self.assertEqual([e.task_id for e in r.events_by_task], [a])
            self.assertIsNone(sim.proc.poll())

    def test_le240_actor_filter_lets_actorless_through(self):
        for profile, want in (("2.40", 7), ("master", 6)):
            prof = versions.Profile(profile)
            with frozen(profile=profile, scenario="actors") as sim:
                sim.admin("/advance", {"ms": FAR})
                rows = ordered_rows(sim.call(th.GTE, b""), prof)
                actor = bytes.fromhex([r for r in rows if r["actor_id"]][0]["actor_id"])
                req = legacy_req(actor_id=actor) if profile == "2.40" else pred_req(actor=[(0, actor)])
                got = ordered_rows(sim.call(th.GTE, req), prof)
            self.assertEqual(len(got), want, profile)
            # <= 2.40: the driver (no actor id) passes the actor filter.
            self.assertEqual("__main__" in [r["name"] for r in got], profile == "2.40")


def is_abort(rc):
    return rc in (-signal.SIGABRT, 134)


class LazyIds(unittest.TestCase):
    """ID::FromBinary's RAY_CHECK: EQUAL task ids (and EQUAL job ids without
    task filters) are converted before any event is looked at; the others
    only when a stored event reaches that check of the filter lambda."""

    def outcome(self, scenario, req, profile="master"):
        sim = frozen(profile=profile, scenario=scenario)
        try:
            sim.admin("/advance", {"ms": FAR})
            try:
                r = reply(sim.call(th.GTE, req, timeout=10))
            except grpc.RpcError:
                rc = sim.wait_exit(10)
                self.assertTrue(is_abort(rc), "exit status %r" % rc)
                self.assertIn("Check failed: size ==", sim.stderr())
                return "abort"
            self.assertIsNone(sim.proc.poll())
            return len(r.events_by_task)
        finally:
            sim.stop()

    def test_eager_task_eq(self):
        self.assertEqual(self.outcome("empty", pred_req(task=[(0, b"\x01" * 23)])), "abort")

    def test_eager_job_eq_without_task_filter(self):
        self.assertEqual(self.outcome("empty", pred_req(job=[(0, b"\x01" * 3)])), "abort")

    def test_lazy_not_equal_task(self):
        req = pred_req(task=[(1, b"\x01" * 23)])
        self.assertEqual(self.outcome("empty", req), 0)
        self.assertEqual(self.outcome("classic", req), "abort")

    def test_lazy_actor(self):
        req = pred_req(actor=[(0, b"\x01" * 15)])
        self.assertEqual(self.outcome("empty", req), 0)
        self.assertEqual(self.outcome("classic", req), "abort")
        # <= 2.40: only an event that has an actor id reaches the conversion.
        self.assertEqual(self.outcome("classic", legacy_req(actor_id=b"\x01" * 15), "2.40"), 101)
        self.assertEqual(self.outcome("actors", legacy_req(actor_id=b"\x01" * 15), "2.40"), "abort")

    def test_job_behind_task_index(self):
        # A job id of the wrong length behind an EQUAL task id that matches
        # nothing: no event reaches the job check.
        req = pred_req(task=[(0, b"\x02" * 24)], job=[(0, b"\x01" * 3)])
        self.assertEqual(self.outcome("classic", req), 0)


class Predicates(unittest.TestCase):
    """apply_predicate throws std::invalid_argument("Unknown filter
    predicate: " + FilterPredicate_Name(p)) only when an event is tested;
    the handler then clears the reply and answers InvalidArgument (34)."""

    def test_unknown_predicate_only_when_tested(self):
        with frozen(scenario="empty") as sim:
            r = reply(sim.call(th.GTE, pred_req(name=[(7, "x")])))
            self.assertEqual((r.status.code, len(r.events_by_task)), (0, 0))
        with frozen(scenario="classic") as sim:
            sim.admin("/advance", {"ms": FAR})
            r = reply(sim.call(th.GTE, pred_req(name=[(7, "x")])))
            self.assertEqual(r.status.code, 34)
            # FilterPredicate_Name of an undeclared number is "".
            self.assertEqual(r.status.message, "Unknown filter predicate: ")
            self.assertEqual((len(r.events_by_task), counters(r)), (0, (0, 0, 0, 0, 0)))
            # Events stopped by an earlier check never reach the predicate.
            r = reply(sim.call(th.GTE, pred_req(job=[(1, bytes.fromhex("01000000"))],
                                                name=[(7, "x")])))
            self.assertEqual((r.status.code, r.num_filtered_on_gcs), (0, 101))


class GcsWrittenFailures(unittest.TestCase):
    """OnWorkerDead / OnJobFinished: after gcs_mark_task_failed_on_*_delay_ms
    (1000 / 15000) MarkTasksFailedOnWorkerDead / MarkTasksFailedOnJobEnds
    set FAILED at the worker's or job's end time with WORKER_DIED."""

    def rows(self, sim, prof):
        return {r["name"]: r for r in derive.rows_from_reply(sim.call(th.GTE, b""), prof)[0]}

    def test_default_delays(self):
        prof = versions.Profile("master")
        with frozen(scenario="gcs_failures") as sim:
            base = EPOCH
            sim.admin("/advance", {"ms": 1999})        # worker died at +1 s: not yet
            r = self.rows(sim, prof)
            self.assertEqual(r["doomed_a"]["state"], "RUNNING")
            sim.admin("/advance", {"ms": 1})           # +2 s = death + 1000 ms
            r = self.rows(sim, prof)
            wid = r["doomed_a"]["worker_id"]
            msg = ("Worker running the task (%s) died with exit_type: 0 with error_message: "
                   "Worker unexpectedly exits with a connection error code 2." % wid)
            for n in ("doomed_a", "doomed_b"):
                self.assertEqual((r[n]["state"], r[n]["error_type"], r[n]["error_message"]),
                                 ("FAILED", "WORKER_DIED", msg))
                self.assertEqual(r[n]["end_time_ms"], base + 1000)   # the worker's end time
            self.assertEqual(r["done_first"]["state"], "FINISHED")
            self.assertEqual(r["finished_ok"]["state"], "FINISHED")
            self.assertEqual(r["queued"]["state"], "PENDING_NODE_ASSIGNMENT")
            sim.admin("/advance", {"ms": 14_999})      # job ended at +2 s: +17 s is the time
            self.assertEqual(self.rows(sim, prof)["queued"]["state"], "PENDING_NODE_ASSIGNMENT")
            sim.admin("/advance", {"ms": 1})
            r = self.rows(sim, prof)
            job = r["queued"]["job_id"]
            jmsg = ("Job finishes (%s) as driver exits. Marking all non-terminal tasks as failed."
                    % job)
            for n in ("queued", "orphan_running", "__main__"):
                self.assertEqual((r[n]["state"], r[n]["error_type"], r[n]["error_message"]),
                                 ("FAILED", "WORKER_DIED", jmsg), n)
                self.assertEqual(r[n]["end_time_ms"], base + 2000)
            # Already FAILED by the worker rule: not marked again.
            self.assertEqual(r["doomed_a"]["error_message"], msg)

    def test_configurable_and_off(self):
        prof = versions.Profile("master")
        with frozen(scenario="gcs_failures", worker_dead_delay_ms=100, job_done_delay_ms=-1) as sim:
            sim.admin("/advance", {"ms": 1100})
            self.assertEqual(self.rows(sim, prof)["doomed_a"]["state"], "FAILED")
            sim.admin("/advance", {"ms": 60_000})
            self.assertEqual(self.rows(sim, prof)["queued"]["state"], "PENDING_NODE_ASSIGNMENT")
            st = sim.admin("/state")
            self.assertEqual((st["worker_dead_delay_ms"], st["job_done_delay_ms"]), (100, -1))
            # The admin API changes them for the next scenario load.
            sim.admin("/gcs", {"job_done_delay_ms": 0})
            sim.admin("/scenario", {"name": "gcs_failures"})
            sim.admin("/advance", {"ms": 2000})
            self.assertEqual(self.rows(sim, prof)["queued"]["state"], "FAILED")


th.main(globals())
