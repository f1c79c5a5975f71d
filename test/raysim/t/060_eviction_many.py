"""Storage limit (eviction order, dropped counters) and the 100,000-task load."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import time
import unittest

from raysim import versions, derive
from raysim.client import Simulator
from raysim.encode import field_bytes, field_varint
from raysim.proto import pb


class Eviction(unittest.TestCase):
    def test_small_max_tasks(self):
        # classic at a frozen clock far in the future: 101 attempts, all visible.
        # EvictTaskEvent with FinishedTaskActorTaskGcPolicy (gcs_task_manager.{h,cc}):
        # FINISHED attempts go first (tier 0), FAILED ones are tier 2 with the
        # driver, the oldest of a tier goes first; each eviction adds the
        # attempt's profile events to num_profile_task_events_dropped.
        prof = versions.Profile("master")
        kw = dict(profile="master", scenario="classic", speed=0, epoch_ms=1_800_000_000_000)
        with Simulator(max_tasks=0, **kw) as sim:           # 0: unlimited
            sim.admin("/advance", {"ms": 3_600_000})
            every, c0 = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
        self.assertEqual(len(every), 101)
        self.assertEqual(c0["num_status_task_events_dropped"], 0)
        unfinished = [r for r in every if r["state"] != "FINISHED"]
        self.assertGreater(len(unfinished), 10)
        self.assertIn("FAILED", [r["state"] for r in unfinished])
        with Simulator(max_tasks=10, **kw) as sim:
            sim.admin("/advance", {"ms": 3_600_000})
            rows, c = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
            self.assertEqual(len(rows), 10)
            self.assertEqual(c["num_status_task_events_dropped"], 91)
            # Every FINISHED attempt went first; FAILED ones are not tier 0.
            self.assertNotIn("FINISHED", [r["state"] for r in rows])
            # Then tier 2 oldest first: the driver (the oldest) went too.
            self.assertNotIn("DRIVER_TASK", [r["type"] for r in rows])
            kept = {(r["task_id"], r["attempt_number"]) for r in rows}
            newest = sorted(unfinished, key=lambda r: r["events"][0]["created_ms"])[-10:]
            self.assertEqual(kept, {(r["task_id"], r["attempt_number"]) for r in newest})
            prof_evicted = sum(len(r["profiling_events"] or []) for r in every
                               if (r["task_id"], r["attempt_number"]) not in kept)
            self.assertGreater(prof_evicted, 0)
            self.assertEqual(c["num_profile_task_events_dropped"], prof_evicted)
            job = bytes.fromhex(rows[0]["job_id"])
            r = pb().GetTaskEventsReply()
            r.ParseFromString(sim.call(th.GTE, field_bytes(4, field_bytes(1, field_bytes(2, job)))))
            self.assertEqual(r.num_status_task_events_dropped, 91)   # per-job counters
            self.assertEqual(r.num_profile_task_events_dropped, prof_evicted)
            self.assertEqual(sim.admin("/state")["counters"]["num_evicted"], 91)

    def test_actor_tier_before_normal(self):
        # Unfinished actor and actor-creation tasks (tier 1) go before
        # unfinished normal tasks (tier 2), whatever their age.
        prof = versions.Profile("master")
        kw = dict(profile="master", scenario="actors", speed=0, epoch_ms=1_800_000_000_000)
        with Simulator(max_tasks=0, **kw) as sim:
            sim.admin("/advance", {"ms": 400})
            every, _ = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
        unfinished = [r for r in every if r["state"] != "FINISHED"]
        actor = [r for r in unfinished if r["type"] in ("ACTOR_TASK", "ACTOR_CREATION_TASK")]
        finished = len(every) - len(unfinished)
        if not actor or len(unfinished) - len(actor) < 1:
            self.skipTest("the actors scenario has no unfinished actor task at +400 ms")
        keep = len(unfinished) - 1             # evict every finished one and one more
        with Simulator(max_tasks=keep, **kw) as sim:
            sim.admin("/advance", {"ms": 400})
            rows, c = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
        self.assertEqual(c["num_status_task_events_dropped"], finished + 1)
        gone = {(r["task_id"], r["attempt_number"]) for r in unfinished} - \
            {(r["task_id"], r["attempt_number"]) for r in rows}
        self.assertEqual(len(gone), 1)
        g = [r for r in unfinished if (r["task_id"], r["attempt_number"]) in gone][0]
        self.assertIn(g["type"], ("ACTOR_TASK", "ACTOR_CREATION_TASK"))
        oldest_actor = min(actor, key=lambda r: r["events"][0]["created_ms"])
        self.assertEqual(g["events"][0]["created_ms"], oldest_actor["events"][0]["created_ms"])

    def test_unfinished_evicted_oldest_first(self):
        # mixed at its start: nothing finished yet once only a few are visible.
        with Simulator(profile="master", scenario="mixed", max_tasks=3, speed=0,
                       epoch_ms=1_800_000_000_000) as sim:
            sim.admin("/advance", {"ms": 12})    # first tasks visible, none finished
            rows, c = derive.rows_from_reply(sim.call(th.GTE, b""), versions.Profile("master"))
            self.assertEqual(len(rows), 3)
            self.assertEqual(c["num_status_task_events_dropped"], 1)
            self.assertNotIn("DRIVER_TASK", [r["type"] for r in rows])   # oldest went


class Many(unittest.TestCase):
    def test_stream_cache_equals_plain_encoding(self):
        # The unfiltered fast path keeps the oldest unchangeable entries
        # encoded and joined (gcs._FrozenBlock), and the stream scenario
        # encodes by patching a template (encode.Template). At every step of
        # a stream with eviction the reply must be byte for byte the plain
        # encoding of every stored attempt in Ray's order (TaskStore.ordered).
        from raysim import encode, gcs, model, scenarios
        clock = model.Clock(1_800_000_000_000, 0)
        m = model.ClusterModel(clock, max_tasks=300)
        m.load(scenarios.build("stream", {"rate": 1000, "seconds": 1, "start_ms": 0,
                                          "duration_ms": 20}, 0,
                               int(clock.epoch_ms) * 1_000_000, "master"))
        prof = versions.Profile("master")
        steps = 0
        for _ in range(60):
            clock.advance(17)
            now = m.now_ns()
            store = m.synced_store()
            got = b"".join(gcs._unfiltered_entries(store, prof, now))
            # Encoded from scratch: no cache, no template (encode.Template).
            want = b"".join(field_bytes(2, encode.entry_bytes(a, prof, a.visible(now), 0))
                            for a in store.ordered(now))
            self.assertEqual(got, want, "reply bytes at step %d" % steps)
            steps += 1
        self.assertGreater(store.evicted, 0)        # eviction happened in between
        self.assertGreater(len(store.frozen[prof.name].entries), 200)   # the cache was used
        self.assertEqual(len(store.stored), 300)

    def test_100k(self):
        t = time.time()
        with Simulator(profile="master", scenario="many", speed=0) as sim:
            started = time.time() - t
            t = time.time()
            raw1 = sim.call(th.GTE, b"", timeout=120)
            first = time.time() - t
            t = time.time()
            raw2 = sim.call(th.GTE, b"", timeout=120)
            second = time.time() - t
            t = time.time()
            sim.call(th.GTE, field_varint(3, 10000), timeout=120)
            limited = time.time() - t
            r = pb().GetTaskEventsReply()
            r.ParseFromString(raw2)
            # 100,000 tasks + the driver = 100,001 > the default limit: one finished
            # task is evicted, as the real GCS would.
            self.assertEqual(len(r.events_by_task), 100000)
            self.assertEqual(r.num_status_task_events_dropped, 1)
            self.assertEqual(raw1, raw2)
            print("# many: start %.2fs, first reply %.2fs, repeat %.2fs, limit=10000 %.2fs, %d bytes"
                  % (started, first, second, limited, len(raw1)))
            self.assertLess(first, 20)
            self.assertLess(second, 20)


if __name__ == "__main__":
    th.main(globals())
