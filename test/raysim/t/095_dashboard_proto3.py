"""The dashboard's JSON forms (raysim/proto3json.py).

Ray's dashboard prints rows with json_format.MessageToDict
(python/ray/util/state/common.py protobuf_message_to_dict), so an actor's
uint64 num_restarts is a string; the "proto3" mode sends every other form
protobuf's JSON mapping allows (integers as strings, enums as numbers on
even rows). Read back by the mapping's rules, a proto3 body equals the
default one, row for row.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import unittest
import urllib.request

from raysim import proto3json, versions
from raysim.client import Simulator

RESOURCES = ["tasks", "actors", "nodes", "jobs", "workers", "placement_groups"]


def fetch(sim, resource):
    port = json.load(open(sim.port_file))["dashboard_port"]
    url = "http://127.0.0.1:%d/api/v0/%s?detail=true&limit=10000&exclude_driver=false" % (port, resource)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())["data"]["result"]["result"]


def normalize(resource, rows, prof):
    """The default form of proto3 rows: integer strings back to ints, enum numbers to names."""
    tables = proto3json._enum_tables(resource, prof)
    out = []
    for row in rows:
        d = dict(row)
        for k in proto3json.INT_KEYS[resource]:
            if isinstance(d.get(k), str):
                d[k] = int(d[k])
        for k, table in tables.items():
            names = {n: s for s, n in table.items()}
            if isinstance(d.get(k), int) and d[k] in names:
                d[k] = names[d[k]]
        if resource == "tasks" and d.get("events"):
            d["events"] = [dict(e, state=prof.status_name.get(e["state"], e["state"])) for e in d["events"]]
        if resource == "tasks" and isinstance(d.get("task_log_info"), dict):
            d["task_log_info"] = {k: (int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v)
                                  for k, v in d["task_log_info"].items()}
        if resource == "placement_groups":
            d["bundles"] = [dict(b, bundle_id=dict(b["bundle_id"], bundle_index=int(b["bundle_id"]["bundle_index"])))
                            for b in d["bundles"]]
        out.append(d)
    return out


class Proto3Forms(unittest.TestCase):
    def test_forms(self):
        for p in ("2.9", "2.49", "master", "2.58"):
            if p not in versions.PROFILES:
                continue
            prof = versions.Profile(p)
            with self.subTest(profile=p), Simulator(profile=p, scenario="mixed", speed=0,
                                                    dashboard_port=0) as sim:
                sim.admin("/advance", {"ms": 600000})
                plain = {r: fetch(sim, r) for r in RESOURCES}
                sim.admin("/dashboard", {"json": "proto3"})
                forms = {r: fetch(sim, r) for r in RESOURCES}
                sim.admin("/dashboard", {"json": "ray"})
                # Ray's own form: MessageToDict writes uint64 as a string.
                self.assertTrue(plain["actors"])
                self.assertTrue(all(isinstance(a["num_restarts"], str) for a in plain["actors"]))
                for r in RESOURCES:
                    self.assertTrue(plain[r], "%s: %s has rows" % (p, r))
                    self.assertEqual(normalize(r, forms[r], prof), normalize(r, plain[r], prof), "%s: %s" % (p, r))
                    self.assertNotEqual(forms[r], plain[r], "%s: %s: the forms differ" % (p, r))
                # Both enum forms in one body, every integer a string.
                states = [a["state"] for a in forms["actors"]]
                self.assertTrue(any(isinstance(s, int) for s in states) and any(isinstance(s, str) for s in states))
                self.assertTrue(all(isinstance(t["attempt_number"], str) for t in forms["tasks"]))
                self.assertTrue(all(isinstance(n["start_time_ms"], str) for n in forms["nodes"]))
                ev = [e["state"] for t in forms["tasks"][::2] for e in t["events"]]
                self.assertTrue(ev and all(isinstance(s, int) for s in ev))

    def test_odd_values(self):
        with Simulator(profile="master", scenario="mixed", speed=0, dashboard_port=0) as sim:
            sim.admin("/advance", {"ms": 600000})
            sim.admin("/dashboard", {"odd": [{"resource": "actors", "row": 1, "key": "pid", "value": "x"},
                                             {"resource": "nodes", "key": "state", "value": "NAPPING"}]})
            actors = fetch(sim, "actors")
            nodes = fetch(sim, "nodes")
            self.assertEqual(actors[1]["pid"], "x")
            self.assertNotEqual(actors[0]["pid"], "x")
            self.assertEqual(nodes[0]["state"], "NAPPING")
            sim.admin("/dashboard", {"odd": []})
            self.assertNotEqual(fetch(sim, "actors")[1]["pid"], "x")
            r = sim.admin("/dashboard", {"odd": [{"resource": "actors"}]})
            self.assertIn(r.get("http_status"), (400, 500), r)

    def test_bad_mode(self):
        with Simulator(profile="master", speed=0, dashboard_port=0) as sim:
            r = sim.admin("/dashboard", {"json": "xml"})
            self.assertIn(r.get("http_status"), (400, 500), r)


th.main(globals())
