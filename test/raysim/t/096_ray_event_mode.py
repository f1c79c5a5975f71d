"""Ray 2.58's opt-in task events out of the GCS (RAY_enable_ray_event=1).

With it, workers send task events to the dashboard's event aggregator
instead of the GCS (shared/ray-event-export.md): GetTaskEvents answers OK
with nothing, while the dashboard still lists the tasks. POST /ray_event
switches the simulator into that mode and back.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import unittest
import urllib.request

from raysim import derive, versions
from raysim.client import Simulator


def dash_tasks(sim):
    port = json.load(open(sim.port_file))["dashboard_port"]
    url = "http://127.0.0.1:%d/api/v0/tasks?detail=true&limit=10000&exclude_driver=false" % port
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())["data"]["result"]


class RayEventMode(unittest.TestCase):
    def test_gcs_empty_dashboard_full(self):
        prof = versions.Profile("2.58")
        with Simulator(profile="2.58", scenario="mixed", speed=0, dashboard_port=0) as sim:
            sim.admin("/advance", {"ms": 600000})
            rows, c = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
            before = dash_tasks(sim)
            self.assertTrue(rows)
            self.assertEqual(len(before["result"]), len(rows))
            sim.admin("/ray_event", {"enabled": True})
            self.assertTrue(sim.admin("/state")["ray_event"])
            raw = sim.call(th.GTE, b"")
            rows2, c2 = derive.rows_from_reply(raw, prof)
            self.assertEqual(rows2, [])
            self.assertEqual(c2["num_total_stored"], 0)
            self.assertEqual(c2["num_status_task_events_dropped"], 0)
            # The dashboard still lists every task.
            self.assertEqual(dash_tasks(sim)["result"], before["result"])
            sim.admin("/ray_event", {"enabled": False})
            self.assertEqual(len(derive.rows_from_reply(sim.call(th.GTE, b""), prof)[0]), len(rows))


th.main(globals())
