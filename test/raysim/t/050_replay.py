"""Replay of vector folders: verbatim bytes, filtered re-emission of original entries."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import unittest

from raysim import replay as rp_mod, versions, derive
from raysim.client import Simulator
from raysim.encode import field_bytes


class Replay(unittest.TestCase):
    def test_replay_every_profile(self):
        for p in th.PROFILES:
            with self.subTest(profile=p), Simulator(replay=th.vec(p)) as sim:
                self.assertEqual(sim.admin("/state")["profile"], p)
                self.assertEqual(sim.call(th.CA, b""), th.read(th.vec(p, "check_alive_reply.bin")))
                full = th.read(th.vec(p, "get_task_events_reply.bin"))
                self.assertEqual(sim.call(th.GTE, b""), full)
                self.assertEqual(sim.call(th.GTE, th.read(th.vec(p, "requests", "limit_only.bin"))), full)
                # Filtered: every entry must be one of Ray's original entries, byte for byte.
                originals = {field_bytes(2, e) for e in rp_mod.Replay(th.vec(p)).raw_entries}
                raw = sim.call(th.GTE, th.read(th.vec(p, "requests", "exclude_driver.bin")))
                ents = [field_bytes(2, v) for n, w, v in rp_mod.split_fields(raw) if n == 2]
                # every attempt but the driver's (2.58 adds four)
                self.assertEqual(len(ents), 19 if p == "2.58" else 15)
                self.assertTrue(all(e in originals for e in ents))
                rows, c = derive.rows_from_reply(raw, versions.Profile(p))
                self.assertNotIn("DRIVER_TASK", [r["type"] for r in rows])
                self.assertEqual(c["num_filtered_on_gcs"], 1)


if __name__ == "__main__":
    th.main(globals())
