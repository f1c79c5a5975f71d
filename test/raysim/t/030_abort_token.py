"""RAY_CHECK abort on wrong-length IDs, and token authentication."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import signal
import unittest

import grpc

from raysim.client import Simulator
from raysim.encode import field_bytes


def is_abort(rc):
    return rc in (-signal.SIGABRT, 134)


class Abort(unittest.TestCase):
    def _expect_abort(self, profile, req):
        sim = Simulator(profile=profile, scenario="vectors")
        try:
            with self.assertRaises(grpc.RpcError):
                sim.call(th.GTE, req, timeout=10)
            rc = sim.wait_exit(10)
            self.assertTrue(is_abort(rc), "exit status %r" % rc)
            self.assertIn("Check failed: size ==", sim.stderr())
        finally:
            sim.stop()

    def test_wrong_length_job_id_aborts(self):
        self._expect_abort("2.40", field_bytes(4, field_bytes(1, b"\x01\x00\x00")))

    def test_predicate_request_to_240_aborts(self):
        self._expect_abort("2.40", th.read(th.vec("2.49", "requests", "job_eq.bin")))

    def test_wrong_length_task_id_aborts_on_master(self):
        self._expect_abort("master", field_bytes(4, field_bytes(2, field_bytes(2, b"\x00" * 23))))

    def test_right_length_does_not_abort(self):
        with Simulator(profile="2.40", scenario="vectors") as sim:
            sim.call(th.GTE, th.read(th.vec("2.40", "requests", "job_eq.bin")))
            self.assertIsNone(sim.proc.poll())


class Token(unittest.TestCase):
    def test_token(self):
        with Simulator(profile="master", scenario="vectors", token="s3cret") as sim:
            for md in (None, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
                for m in (th.GTE, th.CA):
                    with self.assertRaises(grpc.RpcError) as cm:
                        sim.call(m, b"", md)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                    self.assertIn("InvalidAuthToken", cm.exception.details())
            self.assertEqual(sim.call(th.CA, b"", {"authorization": "Bearer s3cret"}),
                             th.read(th.vec("master", "check_alive_reply.bin")))
            # Switch it off and on through the admin API.
            sim.admin("/token", {"token": None})
            sim.call(th.CA, b"")
            sim.admin("/token", {"token": "t2"})
            with self.assertRaises(grpc.RpcError):
                sim.call(th.CA, b"")
            sim.call(th.CA, b"", {"authorization": "Bearer t2"})
            recs = sim.admin("/requests")["requests"]
            self.assertEqual(recs[-1]["metadata"].get("authorization"), "Bearer t2")


if __name__ == "__main__":
    th.main(globals())
