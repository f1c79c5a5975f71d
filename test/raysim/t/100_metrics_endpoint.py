"""Per-node /metrics (raysim/metrics_endpoint.py): found through the node
table, valid Prometheus text with Ray's names, values that follow the
scenario, a served log equal to the bodies, and every fault."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import http.client
import time
import json
import re
import shutil
import subprocess
import unittest
import urllib.request

from raysim.client import Simulator
from raysim.proto import pb

NODES = "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo"
EPOCH = 1_800_000_000_000
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)(?: (-?\d+))?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse(body):
    """[(name, labels, value, ts)] of a body this module writes."""
    out = []
    for line in body.decode().split("\n"):
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, line
        labels = {k: unescape(v) for k, v in LABEL.findall(m.group(2))}
        out.append((m.group(1), labels, float(m.group(3)), m.group(4) and int(m.group(4))))
    return out


class MetricsEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(scenario="classic", scenario_params={"nodes": 4}, speed=0,
                            epoch_ms=EPOCH, metrics={})
        info = json.load(open(cls.sim.port_file))
        cls.ports = info["metrics_ports"]
        cls.ctl = "http://127.0.0.1:%d" % info["metrics_control_port"]

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def control(self, path, body=None):
        req = urllib.request.Request(self.ctl + path, data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def nodes(self):
        r = pb().GetAllNodeInfoReply()
        r.ParseFromString(self.sim.call(NODES, b""))
        return {n.node_id.hex(): n for n in r.node_info_list}

    def get(self, node_hex):
        c = http.client.HTTPConnection("127.0.0.1", self.ports[node_hex], timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        try:
            return r.status, r.read()
        finally:
            c.close()

    def by_ip(self, ip):
        return next(h for h, n in self.nodes().items() if n.node_name == ip)

    def test_1_node_table_points_at_the_endpoints(self):
        nodes = self.nodes()
        self.assertEqual(len(nodes), 4)
        for h, n in nodes.items():
            self.assertEqual(n.node_manager_address, "127.0.0.1")
            self.assertEqual(n.metrics_export_port, self.ports[h])

    def test_2_body_is_prometheus_text_with_rays_names(self):
        self.sim.admin("/advance", {"ms": 1500})
        st, body = self.get(self.by_ip("10.0.0.1"))
        self.assertEqual(st, 200)
        if shutil.which("promtool"):
            rc = subprocess.run(["promtool", "check", "metrics"], input=body,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            self.assertIn(rc, (0, 3), "promtool reads it (3: lint only, as Ray's own bodies)")
        samples = parse(body)
        names = {s[0] for s in samples}
        for want in ("ray_node_cpu_utilization", "ray_node_mem_used", "ray_node_mem_total",
                     "ray_object_store_memory", "ray_resources", "ray_tasks",
                     "ray_app_items_processed_total", "ray_app_step_ms_bucket"):
            self.assertIn(want, names)
        cpu = [s for s in samples if s[0] == "ray_node_cpu_utilization"][0]
        self.assertEqual(cpu[1], {"ip": "10.0.0.1", "SessionName": "session_2026-12-06_20-00-00_000000_1"})
        self.assertEqual(cpu[3], EPOCH + 1500, "the sim time as the sample timestamp")
        self.assertEqual({s[3] for s in samples}, {EPOCH + 1500})
        tasks = [s for s in samples if s[0] == "ray_tasks"]
        self.assertTrue(tasks and set(tasks[0][1]) == {"ip", "SessionName", "Name", "State", "Source",
                                                         "IsRetry", "JobId"})

    def test_3_values_follow_the_scenario(self):
        busy, idle = self.by_ip("10.0.0.1"), self.by_ip("10.0.0.3")
        self.sim.admin("/advance", {"ms": 500})          # a task runs on 10.0.0.1
        cpu = lambda h: [s[2] for s in parse(self.get(h)[1]) if s[0] == "ray_node_cpu_utilization"][0]
        self.assertEqual(cpu(busy), 75.0)
        self.assertEqual(cpu(idle), 12.5)
        self.sim.admin("/advance", {"ms": 120_000})      # all 100 done
        body = parse(self.get(busy)[1])
        self.assertEqual([s[2] for s in body if s[0] == "ray_node_cpu_utilization"], [12.5])
        done = sum(s[2] for s in body if s[0] == "ray_tasks" and s[1]["State"] in ("FINISHED", "FAILED"))
        other = parse(self.get(self.by_ip("10.0.0.2"))[1])
        done += sum(s[2] for s in other if s[0] == "ray_tasks" and s[1]["State"] in ("FINISHED", "FAILED"))
        self.assertEqual(done, 100, "every attempt of the classic example, counted on its node")

    def served(self, done):
        """The served log once done(log) holds: the server writes an entry
        after the body went out, so a fast client can ask before it does."""
        deadline = time.time() + 10
        while True:
            log = self.control("/served")
            if done(log) or time.time() > deadline:
                return log
            time.sleep(0.02)

    def test_4_served_log_equals_the_bodies(self):
        self.control("/served/clear", {})
        h = self.by_ip("10.0.0.2")
        _, body = self.get(h)
        log = self.served(lambda lg: len(lg) >= 1 and all(r["complete"] for r in lg))
        self.assertEqual(len(log), 1)
        self.assertTrue(log[0]["complete"])
        self.assertIsNone(log[0]["fault"])
        self.assertEqual([[n, l, v] for n, l, v, _ in parse(body)], log[0]["samples"])

    def test_5_faults(self):
        h = self.by_ip("10.0.0.4")
        self.control("/fault", {"node": "10.0.0.4", "mode": "http500", "count": 1})
        self.assertEqual(self.get(h)[0], 500)
        self.assertEqual(self.get(h)[0], 200, "count 1: the next is fine")
        self.control("/fault", {"node": h, "mode": "garbage", "count": 1})
        st, body = self.get(h)
        self.assertEqual((st, body[:6]), (200, b"<html>"))
        self.control("/fault", {"node": h, "mode": "truncated", "count": 1})
        with self.assertRaises(http.client.IncompleteRead):
            self.get(h)
        self.control("/fault", {"node": h, "mode": "down"})
        with self.assertRaises(ConnectionRefusedError):
            self.get(h)
        self.control("/fault", {"node": h, "mode": "up"})
        self.assertEqual(self.get(h)[0], 200)
        log = self.served(lambda lg: [r["fault"] for r in lg if r["node_id"] == h][-5:]
                          == ["http500", None, "garbage", "truncated", None])
        self.assertEqual([r["fault"] for r in log if r["node_id"] == h][-5:],
                         ["http500", None, "garbage", "truncated", None])
        killed = self.control("/fault", {"node": h, "mode": "kill"})["killed_at_ms"]
        n = self.nodes()[h]
        self.assertEqual((n.state, n.end_time_ms), (1, killed), "DEAD in the GCS from the kill")
        with self.assertRaises(ConnectionRefusedError):
            self.get(h)


if __name__ == "__main__":
    th.main(globals())
