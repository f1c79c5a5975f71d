"""Derivation and encoding fidelity against Ray's own bytes (the vectors)."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import os
import subprocess
import tempfile
import unittest

from raysim import derive, encode, versions


class VectorDerivation(unittest.TestCase):
    def test_derivation_matches_expected_every_profile(self):
        for p in th.PROFILES:
            with self.subTest(profile=p):
                exp = json.load(open(th.vec(p, "expected_tasks.json")))
                rows, c = derive.rows_from_reply(th.read(th.vec(p, "get_task_events_reply.bin")),
                                                 versions.Profile(p))
                self.assertEqual(rows, exp["tasks"])
                for k in ("num_profile_task_events_dropped", "num_status_task_events_dropped",
                          "num_truncated"):
                    self.assertEqual(c[k], exp[k])

    def test_wrong_profile_derives_differently(self):
        # Guard: the state numbering matters (2.40 bytes read as 2.35 differ).
        rows, _ = derive.rows_from_reply(th.read(th.vec("2.40", "get_task_events_reply.bin")),
                                         versions.Profile("2.35"))
        exp = json.load(open(th.vec("2.40", "expected_tasks.json")))
        self.assertNotEqual(rows, exp["tasks"])

    def test_check_alive_bytes_identical(self):
        for p in th.PROFILES:
            self.assertEqual(encode.check_alive_reply(versions.RAY_VERSION[p]),
                             th.read(th.vec(p, "check_alive_reply.bin")))


class EncodeTool(unittest.TestCase):
    def test_encode_tool_round_trips_every_profile(self):
        script = os.path.join(th.RAYSIM_DIR, "raysim.py")
        with tempfile.TemporaryDirectory() as d:
            for p in th.PROFILES:
                with self.subTest(profile=p):
                    out = os.path.join(d, "r-%s.bin" % p)
                    subprocess.check_call(["/usr/bin/python3", script, "encode", "--profile", p,
                                           "--expected", th.vec(p, "expected_tasks.json"),
                                           "--out", out])
                    exp = json.load(open(th.vec(p, "expected_tasks.json")))
                    rows, c = derive.rows_from_reply(th.read(out), versions.Profile(p))
                    self.assertEqual(rows, exp["tasks"])
                    self.assertEqual(c["num_status_task_events_dropped"], 7)
                    self.assertEqual(c["num_profile_task_events_dropped"], 3)

    def test_encoding_is_version_specific(self):
        exp = json.load(open(th.vec("master", "expected_tasks.json")))
        b29 = encode.encode_rows(exp, versions.Profile("2.9"))
        bm = encode.encode_rows(exp, versions.Profile("master"))
        # 2.9 has no call_site (27) / label_selector (28) and uses fields 2..7.
        self.assertNotIn(b"evaluate.remote() at run.py:42", b29)
        self.assertIn(b"evaluate.remote() at run.py:42", bm)
        self.assertNotIn(b"H100", b29)
        from raysim.proto import pb
        r = pb().GetTaskEventsReply()
        r.ParseFromString(b29)
        self.assertTrue(all(len(e.state_updates.state_ts_ns) == 0 for e in r.events_by_task))
        self.assertTrue(any(e.state_updates.HasField("running_ts") for e in r.events_by_task))

    def test_float_ms_to_ns_exact(self):
        for ms in (1793534400639.83, 1793534401640.1855, 1793534401640.2754, 1.5):
            self.assertEqual(encode.float_ms_to_ns(ms) / 1e6, ms)


if __name__ == "__main__":
    th.main(globals())
