"""Every fault mode of the admin API."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import time
import unittest

import grpc
from google.protobuf.message import DecodeError

from raysim import versions, derive
from raysim.client import Simulator
from raysim.proto import pb


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(profile="master", scenario="vectors")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def tearDown(self):
        self.sim.admin("/fault", {"mode": "none"})

    def rows(self):
        return derive.rows_from_reply(self.sim.call(th.GTE, b""), versions.Profile("master"))[0]

    def test_unavailable(self):
        self.sim.admin("/fault", {"mode": "unavailable"})
        self.sim.fresh_channel()
        with self.assertRaises(grpc.RpcError) as cm:
            self.sim.call(th.CA, b"", timeout=3)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertFalse(self.sim.admin("/state")["grpc_up"])
        self.sim.admin("/fault", {"mode": "none"})
        self.sim.fresh_channel()
        self.assertEqual(len(self.rows()), 16)

    def test_slow(self):
        self.sim.admin("/fault", {"mode": "slow", "delay_ms": 400, "count": 1})
        t = time.time()
        self.sim.call(th.CA, b"")
        self.assertGreaterEqual(time.time() - t, 0.4)
        t = time.time()
        self.sim.call(th.CA, b"")
        self.assertLess(time.time() - t, 0.4)
        self.sim.admin("/fault", {"mode": "slow", "delay_ms": 2000})
        with self.assertRaises(grpc.RpcError) as cm:
            self.sim.call(th.CA, b"", timeout=0.5)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_malformed_kinds(self):
        for kind in ("truncated", "garbage", "oversized_length"):
            with self.subTest(kind=kind):
                self.sim.admin("/fault", {"mode": "malformed", "kind": kind, "count": 1})
                raw = self.sim.call(th.GTE, b"")
                with self.assertRaises(DecodeError):
                    pb().GetTaskEventsReply().ParseFromString(raw)
                self.assertEqual(len(self.rows()), 16)     # count=1: next call is fine

    def test_gcs_status(self):
        self.sim.admin("/fault", {"mode": "gcs_status", "code": 12, "message": "timed out", "count": 2})
        for m in (th.GTE, th.CA):
            r = pb().GetTaskEventsReply() if m == th.GTE else pb().CheckAliveReply()
            r.ParseFromString(self.sim.call(m, b""))
            self.assertEqual((r.status.code, r.status.message), (12, "timed out"))
        self.assertEqual(len(self.rows()), 16)

    def test_restart(self):
        self.sim.admin("/restart", {"down_ms": 500})
        self.sim.fresh_channel()
        with self.assertRaises(grpc.RpcError) as cm:
            self.sim.call(th.CA, b"", timeout=2)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        time.sleep(0.8)
        self.sim.fresh_channel()
        raw = self.sim.call(th.GTE, b"")
        r = pb().GetTaskEventsReply()
        r.ParseFromString(raw)
        self.assertEqual(len(r.events_by_task), 0)
        self.assertEqual(r.num_status_task_events_dropped, 0)
        # Reload for the other tests.
        self.sim.admin("/scenario", {"name": "vectors"})
        self.assertEqual(len(self.rows()), 16)


if __name__ == "__main__":
    th.main(globals())
