"""The dashboard State API as Ray's python/ray/dashboard/state_aggregator.py
and job/utils.py have it (issue 16); docs/simulator.md lists the rules."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import unittest
import urllib.error
import urllib.request

from raysim.client import Simulator

EPOCH = 1_800_000_000_000


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        return json.loads(r.read())["data"]["result"]


def sim(profile, **kw):
    s = Simulator(profile=profile, scenario="mixed", speed=0, epoch_ms=EPOCH, dashboard_port=0, **kw)
    s.dport = json.load(open(s.port_file))["dashboard_port"]
    s.admin("/advance", {"ms": 3_600_000})
    return s


class Counts(unittest.TestCase):
    def test_tasks_total_formula_changes_at_241(self):
        # list_tasks: <= 2.40 total = num_total_stored + dropped and
        # num_after_truncation = rows + num_filtered_on_gcs; 2.41+ rows + dropped, rows.
        for profile, want in (("2.40", (18, 18, 17)), ("2.49", (17, 17, 17))):
            s = sim(profile)
            try:
                res = get(s.dport, "/api/v0/tasks?limit=10000")      # exclude_driver: 1 filtered
            finally:
                s.stop()
            self.assertEqual((res["total"], res["num_after_truncation"], res["num_filtered"]), want, profile)

    def test_nodes_workers_after_truncation(self):
        # list_nodes / list_workers: num_after_truncation = rows + reply.num_filtered.
        s = sim("2.49")
        try:
            nodes = get(s.dport, "/api/v0/nodes?filter_keys=state&filter_predicates=%3D&filter_values=ALIVE")
            workers = get(s.dport, "/api/v0/workers?filter_keys=is_alive&filter_predicates=%3D&filter_values=True&limit=1000")
        finally:
            s.stop()
        # state=ALIVE goes to the GCS: 1 alive row, the dead node filtered there.
        self.assertEqual((len(nodes["result"]), nodes["num_after_truncation"], nodes["total"]), (1, 2, 2))
        alive = len(workers["result"])
        self.assertGreater(workers["total"], alive)
        self.assertEqual(workers["num_after_truncation"], workers["total"])   # rows + the GCS's filtered


class Jobs(unittest.TestCase):
    def test_237_skips_job_info_and_reads_kv(self):
        for profile, skip in (("2.35", False), ("2.40", True)):
            s = sim(profile)
            try:
                s.admin("/requests/clear", {})
                jobs = get(s.dport, "/api/v0/jobs")["result"]
                reqs = [r for r in s.admin("/requests")["requests"] if r["method"].endswith("GetAllJobInfo")]
            finally:
                s.stop()
            self.assertEqual(len(reqs), 1)
            self.assertEqual(bool(reqs[0]["raw_hex"]), skip, profile)    # field 3 = true: "1801"
            self.assertEqual(reqs[0]["raw_hex"], "1801" if skip else "", profile)
            subs = sorted((j["entrypoint"], j["status"], j["message"]) for j in jobs if j["type"] == "SUBMISSION")
            # Either way the submission jobs carry their JobInfo (from the KV store on 2.37+).
            self.assertEqual(subs, [("python etl.py", "FAILED", "Job entrypoint command failed with exit code 1"),
                                    ("python train.py --epochs 3", "SUCCEEDED", "Job finished successfully.")])


class DashboardAuth(unittest.TestCase):
    def test_token_only_from_252(self):
        # The dashboard's token middleware (python/ray/_private/authentication/
        # http_token_authentication.py) arrived with the GCS's, in 2.52:
        # earlier dashboards answer with or without the header.
        for profile, want in (("2.49", (200, 200, 200)), ("2.58", (401, 403, 200)),
                              ("master", (401, 403, 200))):
            s = sim(profile, token="s3cret")
            try:
                got = tuple(status(s.dport, "/api/v0/jobs", h) for h in
                            ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer s3cret"}))
            finally:
                s.stop()
            self.assertEqual(got, want, profile)


def status(port, path, headers):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


th.main(globals())
