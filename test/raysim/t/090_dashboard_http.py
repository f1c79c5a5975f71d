"""The dashboard HTTP State API (raysim/dashboard.py) against Ray's rules.

For every profile, over the vectors scenario: /api/version; task rows equal
the vectors' expected rows and the rows derived from the simulator's own
GetTaskEvents reply; cluster rows equal cluster/expected.json; envelope
counters per version; the GCS request the dashboard sends is in the
profile's layout. Then filters, the 10,000-row caps, status codes per
version, token auth, gRPC faults seen through HTTP, HTTP-only faults, TLS.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import http.client
import json
import socket
import ssl
import tempfile
import threading
import time
import unittest
import urllib.parse

from raysim import dashboard, derive, tlscerts, versions
from raysim.client import Simulator

def dash_info(sim):
    with open(sim.port_file) as f:
        return json.load(f)


def get(port, path, params=None, headers=None, timeout=30, ctx=None, host="127.0.0.1"):
    """(status, headers dict, body bytes) of GET path?params (params: list of pairs)."""
    q = urllib.parse.urlencode(params or [])
    conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx) if ctx
            else http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        conn.request("GET", path + ("?" + q if q else ""), headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get_json(port, path, params=None, **kw):
    st, hd, body = get(port, path, params, **kw)
    return st, json.loads(body)


def flt(*triples):
    out = []
    for k, p, v in triples:
        out += [("filter_keys", k), ("filter_predicates", p), ("filter_values", v)]
    return out


def start(profile, scenario="vectors", **kw):
    return Simulator(profile=profile, scenario=scenario, speed=0, dashboard_port=0, **kw)


class PerProfile(unittest.TestCase):
    """Every profile: rows, counters, layout, against vectors and gRPC."""

    def test_profiles(self):
        for p in th.PROFILES:
            with self.subTest(profile=p), start(p) as sim:
                self.check_profile(p, sim)

    def check_profile(self, p, sim):
        prof = versions.Profile(p)
        port = dash_info(sim)["dashboard_port"]
        self.assertEqual(dash_info(sim)["dashboard_url"], "http://127.0.0.1:%d" % port)
        # /api/version
        st, hd, body = get(port, "/api/version")
        v = json.loads(body)
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], "application/json; charset=utf-8")
        self.assertEqual(sorted(v), ["ray_commit", "ray_version", "session_name", "version"])
        self.assertEqual(v["ray_version"], prof.ray_version)
        self.assertEqual(v["version"], "4")
        self.assertRegex(v["ray_commit"], "^[0-9a-f]{40}$")
        self.assertRegex(v["session_name"], r"^session_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}_\d+$")

        exp = json.load(open(th.vec(p, "expected_tasks.json")))
        erows = sorted(exp["tasks"], key=lambda r: (r["task_id"], r["attempt_number"]))
        grpc_rows, gc = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
        self.assertEqual(grpc_rows, erows)      # the simulator's own gRPC side agrees

        sim.admin("/requests/clear", {})
        st, doc = get_json(port, "/api/v0/tasks", [("detail", "true"), ("limit", "10000"),
                                                   ("exclude_driver", "false")])
        self.assertEqual(st, 200)
        self.assertEqual((doc["result"], doc["msg"]), (True, ""))
        res = doc["data"]["result"]
        self.assertEqual(list(res), ["total", "num_after_truncation", "num_filtered", "result",
                                     "partial_failure_warning", "warnings"])
        rows = res["result"]
        n = len(erows)
        dropped = exp["num_status_task_events_dropped"]
        self.assertEqual(res["num_filtered"], n)
        if p == "2.9":
            self.assertEqual(res["num_after_truncation"], n + gc["num_filtered_on_gcs"])
            self.assertEqual(res["total"], n + dropped)       # num_total_stored == n here
        else:
            self.assertEqual((res["total"], res["num_after_truncation"]), (n + dropped, n))
        self.assertEqual((res["partial_failure_warning"], res["warnings"]), ("", None))
        # Sorted by task_id, as the dashboard sorts.
        self.assertEqual([r["task_id"] for r in rows], sorted(r["task_id"] for r in rows))
        cols = dashboard.columns("tasks", prof, True)
        self.assertEqual(cols[:13], ["task_id", "attempt_number", "name", "state", "job_id",
                                     "actor_id", "type", "func_or_class_name", "parent_task_id",
                                     "node_id", "worker_id", "worker_pid", "error_type"])
        self.assertEqual("call_site" in cols, prof.has_call_site)
        self.assertEqual("label_selector" in cols, prof.has_label_selector)
        self.assertEqual("is_debugger_paused" in cols, p != "2.9")
        for r in rows:
            self.assertEqual(list(r), cols)
        got = sorted(rows, key=lambda r: (r["task_id"], r["attempt_number"]))
        self.assertEqual(len(got), n)
        for h, e in zip(got, erows):
            for k in ("task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type",
                      "func_or_class_name", "parent_task_id", "node_id", "worker_id", "worker_pid",
                      "error_type", "error_message", "language", "required_resources",
                      "placement_group_id", "creation_time_ms", "start_time_ms", "end_time_ms"):
                self.assertEqual(h[k], e[k], "%s %s" % (e["task_id"], k))
            for k in ("creation_time_ms", "start_time_ms", "end_time_ms"):
                self.assertIs(type(h[k]), float if e[k] is not None else type(None))
            self.assertEqual(h["events"], [{"state": x["state"], "created_ms": float(x["created_ms"])}
                                           for x in e["events"]])
            self.assertTrue(all(type(x["created_ms"]) is float for x in h["events"]))
            pe = h["profiling_data"].get("events", []) if h["profiling_data"] else []
            self.assertEqual([{"event_name": x["event_name"], "start_time_ms": x["start_time"],
                               "end_time_ms": x["end_time"]} for x in pe],
                             [{"event_name": x["event_name"], "start_time_ms": x["start_time_ms"],
                               "end_time_ms": x["end_time_ms"]} for x in e["profiling_events"]])
            rei = h["runtime_env_info"]
            self.assertEqual(rei.get("serialized_runtime_env") if rei else None, e["serialized_runtime_env"])
            if prof.has_call_site:
                self.assertEqual(h["call_site"], e["call_site"])
            if prof.has_label_selector:
                self.assertEqual(h["label_selector"], e["label_selector"] or {})
            if e["state"] != "FAILED":
                self.assertIsNone(h["error_type"])
        # The dashboard's GCS call: limit 10,000, the profile's layout.
        reqs = [r for r in sim.admin("/requests")["requests"] if r["method"] == th.GTE]
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["metadata"].get("x-raysim-origin"), "dashboard")
        self.assertEqual(reqs[0]["layout"], "predicate" if prof.predicate_filters else "legacy")
        self.assertEqual(reqs[0]["limit"], 10000)

        # exclude_driver defaults to true; detail=false keeps the base columns.
        st, doc = get_json(port, "/api/v0/tasks", [("limit", "10000")])
        res = doc["data"]["result"]
        drivers = sum(1 for e in erows if e["type"] == "DRIVER_TASK")
        self.assertGreater(drivers, 0)
        self.assertEqual(len(res["result"]), n - drivers)
        # The GCS filtered the drivers out: up to 2.40 list_tasks counts
        # them back in (total = num_total_stored + dropped; 2.41 changed it).
        if p in ("2.9", "2.35", "2.40"):
            self.assertEqual((res["total"], res["num_after_truncation"], res["num_filtered"]),
                             (n + dropped, n, n - drivers))
        else:
            self.assertEqual((res["total"], res["num_after_truncation"], res["num_filtered"]),
                             (n - drivers + dropped, n - drivers, n - drivers))
        self.assertEqual(list(res["result"][0]), cols[:13])
        # Default limit 100 (the vectors hold fewer): limit=3 cuts after sorting.
        st, doc = get_json(port, "/api/v0/tasks", [("limit", "3"), ("exclude_driver", "false")])
        self.assertEqual([r["task_id"] for r in doc["data"]["result"]["result"]],
                         sorted(e["task_id"] for e in erows)[:3])
        self.assertEqual(doc["data"]["result"]["num_filtered"], n)

        # A job filter reaches the GCS in the profile's layout.
        job = erows[0]["job_id"]
        sim.admin("/requests/clear", {})
        st, doc = get_json(port, "/api/v0/tasks", [("limit", "10000"), ("exclude_driver", "false")]
                           + flt(("job_id", "=", job)))
        self.assertEqual(len(doc["data"]["result"]["result"]), sum(1 for e in erows if e["job_id"] == job))
        rq = [r for r in sim.admin("/requests")["requests"] if r["method"] == th.GTE][0]
        self.assertEqual(rq["filters"]["filters"]["job"], [{"predicate": "EQUAL", "value": job}])

        self.check_cluster(p, prof, sim, port)
        self.check_same_state(p, prof, sim, port)

    def check_same_state(self, p, prof, sim, port):
        """A running scenario: HTTP rows = the rows derived from the gRPC
        replies of the same moment (sim clock frozen)."""
        sim.admin("/scenario", {"name": "mixed"})
        sim.admin("/advance", {"ms": 2500})
        grows, gc = derive.rows_from_reply(sim.call(th.GTE, b""), prof)
        st, doc = get_json(port, "/api/v0/tasks", [("detail", "1"), ("limit", "10000"),
                                                   ("exclude_driver", "0")])
        res = doc["data"]["result"]
        self.assertEqual((res["num_after_truncation"], res["total"]),
                         (len(grows), len(grows) + gc["num_status_task_events_dropped"]))
        self.assertEqual(len(grows), 18)
        got = sorted(res["result"], key=lambda r: (r["task_id"], r["attempt_number"]))
        states = set()
        for h, g in zip(got, grows):
            states.add(g["state"])
            for k in ("task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type",
                      "func_or_class_name", "parent_task_id", "node_id", "worker_id", "worker_pid",
                      "error_type", "error_message", "required_resources", "placement_group_id"):
                self.assertEqual(h[k], g[k], k)
            for k in ("creation_time_ms", "start_time_ms", "end_time_ms"):
                self.assertEqual(h[k], None if g[k] is None else float(g[k]), k)
        self.assertEqual(len(got), len(grows))
        self.assertTrue({"FINISHED", "FAILED", "RUNNING"} <= states, states)
        for res_name, idk in derive.CLUSTER_ID_KEY.items():
            if res_name == "jobs":
                continue
            method = {"actors": "/ray.rpc.ActorInfoGcsService/GetAllActorInfo",
                      "nodes": "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo",
                      "workers": "/ray.rpc.WorkerInfoGcsService/GetAllWorkerInfo",
                      "placement_groups": "/ray.rpc.PlacementGroupInfoGcsService/GetAllPlacementGroup"}[res_name]
            crows, _ = derive.cluster_rows(res_name, sim.call(method, b""), prof)
            st, doc = get_json(port, "/api/v0/" + res_name, [("detail", "1"), ("limit", "10000")])
            hrows = doc["data"]["result"]["result"]
            self.assertEqual([r[idk] for r in hrows], [r[idk] for r in crows], res_name)
            for h, c in zip(hrows, crows):
                for k in ("state", "node_id", "pid", "is_alive", "exit_type", "name", "node_ip"):
                    if k in h and k in c:
                        self.assertEqual(h[k], c[k], "%s %s" % (res_name, k))
        sim.admin("/scenario", {"name": "vectors"})

    def check_cluster(self, p, prof, sim, port):
        cexp = json.load(open(th.vec(p, "cluster", "expected.json")))

        def rows(res):
            st, doc = get_json(port, "/api/v0/" + res, [("detail", "1"), ("limit", "10000")])
            self.assertEqual(st, 200, doc)
            r = doc["data"]["result"]
            self.assertEqual(r["num_filtered"], len(r["result"]))
            return r

        r = rows("actors")
        self.assertEqual(r["total"], len(cexp["actors"]))
        got = {a["actor_id"]: a for a in r["result"]}
        self.assertEqual(sorted(got), [a["actor_id"] for a in cexp["actors"]])
        for e in cexp["actors"]:
            h = got[e["actor_id"]]
            for k in ("class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace",
                      "repr_name", "required_resources", "is_detached", "placement_group_id"):
                self.assertEqual(h[k], e[k], k)
            # uint64: a string, as MessageToDict writes it (protobuf_message_to_dict)
            self.assertEqual(h["num_restarts"], str(e["num_restarts"]), "num_restarts")
            dc = h["death_cause"]
            self.assertEqual(next(iter(dc)) if dc else None, e["death_cause_type"])
            if prof.has_actor_call_site:
                self.assertEqual(h["call_site"], e["call_site"])
        r = rows("nodes")
        got = {x["node_id"]: x for x in r["result"]}
        self.assertEqual(sorted(got), [x["node_id"] for x in cexp["nodes"]])
        for e in cexp["nodes"]:
            h = got[e["node_id"]]
            for k in ("node_ip", "node_name", "state", "is_head_node", "resources_total", "labels"):
                self.assertEqual(h[k], e[k], k)
            self.assertEqual(h["start_time_ms"], e["start_time_ms"] or 0)
            self.assertEqual(h["end_time_ms"], e["end_time_ms"] or 0)
            if prof.has_node_death_info:
                self.assertEqual(h["state_message"], dashboard.compose_state_message(
                    e["death_reason"], e["death_reason_message"]))
            else:
                self.assertNotIn("state_message", h)
        r = rows("workers")
        got = {x["worker_id"]: x for x in r["result"]}
        self.assertEqual(sorted(got), [x["worker_id"] for x in cexp["workers"]])
        for e in cexp["workers"]:
            h = got[e["worker_id"]]
            for k in ("is_alive", "worker_type", "exit_type", "node_id", "ip", "pid", "exit_detail"):
                self.assertEqual(h[k], e[k], k)
            for k in ("start_time_ms", "end_time_ms", "worker_launch_time_ms", "worker_launched_time_ms"):
                self.assertEqual(h[k], e[k] or 0, k)
        r = rows("placement_groups")
        got = {x["placement_group_id"]: x for x in r["result"]}
        self.assertEqual(sorted(got), [x["placement_group_id"] for x in cexp["placement_groups"]])
        for e in cexp["placement_groups"]:
            h = got[e["placement_group_id"]]
            for k in ("name", "creator_job_id", "state", "is_detached"):
                self.assertEqual(h[k], e[k], k)
            self.assertEqual([(b["bundle_id"]["bundle_index"], b["node_id"], b["unit_resources"])
                              for b in h["bundles"]],
                             [(b["bundle_index"], b["node_id"], b["unit_resources"]) for b in e["bundles"]])
        r = rows("jobs")
        got = {x["job_id"]: x for x in r["result"]}
        self.assertEqual(sorted(got), [x["job_id"] for x in cexp["jobs"]])
        for e in cexp["jobs"]:
            h = got[e["job_id"]]
            self.assertEqual(h["driver_info"], {"id": e["job_id"], "node_ip_address": e["driver_ip_address"],
                                                "pid": str(e["driver_pid"])})
            self.assertEqual(h["entrypoint"], e["entrypoint"])
            if e["status"] is not None:
                self.assertEqual((h["type"], h["status"], h["message"], h["driver_exit_code"]),
                                 ("SUBMISSION", e["status"], e["message"], e["driver_exit_code"]))
            else:
                self.assertEqual((h["type"], h["status"]),
                                 ("DRIVER", "SUCCEEDED" if e["is_dead"] else "RUNNING"))
                self.assertEqual((h["start_time"], h["end_time"]),
                                 (e["start_time_ms"] or 0, e["end_time_ms"] or 0))


class Master(unittest.TestCase):
    """Filters, caps, status codes, auth and faults on master (400/429)."""

    @classmethod
    def setUpClass(cls):
        cls.sim = start("master")
        cls.port = dash_info(cls.sim)["dashboard_port"]
        cls.exp = sorted(json.load(open(th.vec("master", "expected_tasks.json")))["tasks"],
                         key=lambda r: (r["task_id"], r["attempt_number"]))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def tearDown(self):
        self.sim.admin("/fault", {"mode": "none"})
        self.sim.admin("/token", {"token": None})
        self.sim.admin("/dashboard", {"max_requests": 100})

    def tasks(self, *filters, extra=()):
        st, doc = get_json(self.port, "/api/v0/tasks", [("limit", "10000"), ("exclude_driver", "false")]
                           + flt(*filters) + list(extra))
        return st, doc

    def ids(self, doc):
        return sorted((r["task_id"], r["attempt_number"]) for r in doc["data"]["result"]["result"])

    def want(self, pred):
        return sorted((e["task_id"], e["attempt_number"]) for e in self.exp if pred(e))

    def test_filters(self):
        e0 = self.exp[0]
        # name: = is case-insensitive; != too.
        st, doc = self.tasks(("name", "=", e0["name"].upper()))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["name"].lower() == e0["name"].lower()))
        st, doc = self.tasks(("state", "!=", "finished"))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["state"] != "FINISHED"))
        # A column the row lacks never matches, even with != (Ray's do_filter).
        st, doc = self.tasks(("error_type", "!=", "WORKER_DIED"))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["state"] == "FAILED"
                                                  and e["error_type"] != "WORKER_DIED"))
        # int column: the value is converted; filters are ANDed.
        st, doc = self.tasks(("attempt_number", "=", "1"), ("type", "=", "normal_task"))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["attempt_number"] == 1
                                                  and e["type"] == "NORMAL_TASK"))
        self.assertGreater(len(self.ids(doc)), 0)
        # worker_pid is Optional[int]: = converts, != compares str with int (all match).
        pid = next(e["worker_pid"] for e in self.exp if e["worker_pid"])
        st, doc = self.tasks(("worker_pid", "=", str(pid)))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["worker_pid"] == pid))
        st, doc = self.tasks(("worker_pid", "!=", str(pid)))
        self.assertEqual(self.ids(doc), self.want(lambda e: True))
        # Pushed to the GCS (2.41+ layout): NOT_EQUAL on the job.
        self.sim.admin("/requests/clear", {})
        st, doc = self.tasks(("job_id", "!=", e0["job_id"]))
        self.assertEqual(self.ids(doc), self.want(lambda e: e["job_id"] != e0["job_id"]))
        rq = [r for r in self.sim.admin("/requests")["requests"] if r["method"] == th.GTE][0]
        self.assertEqual(rq["filters"]["filters"]["job"], [{"predicate": "NOT_EQUAL", "value": e0["job_id"]}])
        self.assertEqual(rq["filters"]["exclude_driver"], False)
        # nodes: state pushed as state_filter, is_head_node converted to bool.
        st, doc = get_json(self.port, "/api/v0/nodes", flt(("is_head_node", "=", "true")))
        self.assertEqual([n["is_head_node"] for n in doc["data"]["result"]["result"]], [True])
        st, doc = get_json(self.port, "/api/v0/actors", flt(("state", "=", "dead")))
        self.assertEqual({a["state"] for a in doc["data"]["result"]["result"]}, {"DEAD"})

    def test_bad_requests(self):
        def bad(params, code, msg_start):
            st, hd, body = get(self.port, "/api/v0/tasks", params)
            doc = json.loads(body)
            self.assertEqual(st, code, body)
            self.assertEqual(doc["result"], False)
            self.assertTrue(doc["msg"].startswith(msg_start), doc["msg"])
            return doc
        d = bad([("limit", "10001")], 400, "Given limit 10001 exceeds the supported limit 10000.")
        self.assertEqual(d["data"], {"result": None})
        bad([("limit", "x")], 400, "invalid literal for int()")
        bad([("limit", "-1")], 400, "Stop argument for islice()")
        bad(flt(("nope", "=", "1")), 400, "The given filter column nope is not supported.")
        bad(flt(("name", "~", "x")), 400, "Unsupported filter predicate ~ is given.")
        bad(flt(("job_id", "=", "zz")), 400, "Non-hexadecimal digit found")
        bad(flt(("task_id", "=", "0102")), 400, "ID string needs to have length 24")
        bad([("detail", "maybe")], 400, "Failed to convert")
        # Mismatched filter lists: an AssertionError -> the route's 500.
        d = bad([("filter_keys", "name"), ("filter_predicates", "=")], 500, "Traceback")
        self.assertEqual(d["data"], {})
        bad([("timeout", "1")], 500, "Traceback")      # int(1 * 0.8) == 0
        # limit = 10000 is fine; 0 gives nothing.
        st, doc = get_json(self.port, "/api/v0/tasks", [("limit", "0")])
        self.assertEqual((st, doc["data"]["result"]["result"]), (200, []))
        # No rows: a bad column is never checked (Ray's do_filter loop).
        st, doc = get_json(self.port, "/api/v0/tasks", flt(("name", "=", "no-such"), ("nope", "=", "1")))
        self.assertEqual((st, doc["data"]["result"]["num_filtered"]), (200, 0))
        st, hd, body = get(self.port, "/api/v0/objectz")
        self.assertEqual((st, body), (404, b"404: Not Found"))

    def test_too_many_in_flight(self):
        self.sim.admin("/dashboard", {"max_requests": 0})
        st, doc = get_json(self.port, "/api/v0/actors")
        self.assertEqual(st, 429)
        self.assertEqual(doc, {"result": False, "data": {"result": None}, "msg":
                               "Max number of in-progress requests=0 reached. To set a higher limit, "
                               "set environment variable: export RAY_STATE_SERVER_MAX_HTTP_REQUEST='xxx'. "
                               "Max allowed = 1000"})
        self.assertEqual(get(self.port, "/api/version")[0], 200)     # not rate limited
        # Two in flight with a limit of 1: one waits on a slow GCS, the other is refused.
        self.sim.admin("/dashboard", {"max_requests": 1})
        self.sim.admin("/fault", {"mode": "slow", "delay_ms": 1500, "count": 1})
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("a", get_json(self.port, "/api/v0/nodes")))
        t.start()
        time.sleep(0.5)
        st, doc = get_json(self.port, "/api/v0/nodes")
        t.join()
        self.assertEqual(st, 429)
        self.assertEqual(out["a"][0], 200)

    def test_auth(self):
        self.sim.admin("/token", {"token": "s3cret"})
        for path in ("/api/v0/tasks", "/api/version"):
            st, hd, body = get(self.port, path)
            self.assertEqual((st, body), (401, b"Unauthorized: Missing authentication token"))
            self.assertEqual(hd["content-type"], "text/plain; charset=utf-8")
            st, hd, body = get(self.port, path, headers={"Authorization": "Bearer wrong"})
            self.assertEqual((st, body), (403, b"Forbidden: Invalid authentication token"))
            st, hd, body = get(self.port, path, headers={"Authorization": "s3cret"})
            self.assertEqual(st, 403)
            for h in ({"Authorization": "Bearer s3cret"}, {"X-Ray-Authorization": "Bearer s3cret"},
                      {"Cookie": "a=b; ray-authentication-token=s3cret"}):
                self.assertEqual(get(self.port, path, headers=h)[0], 200, h)
        # The dashboard's own GCS calls carry the token (gRPC would refuse them).
        st, doc = get_json(self.port, "/api/v0/tasks", headers={"Authorization": "Bearer s3cret"})
        self.assertEqual((st, doc["result"]), (200, True))
        self.assertEqual(len(doc["data"]["result"]["result"]),
                         sum(1 for e in self.exp if e["type"] != "DRIVER_TASK"))

    def test_grpc_faults_through_http(self):
        self.sim.admin("/fault", {"mode": "unavailable"})
        st, doc = get_json(self.port, "/api/v0/tasks")
        self.assertEqual((st, doc), (500, {"result": False, "msg": dashboard.GCS_QUERY_FAILURE_WARNING,
                                           "data": {"result": None}}))
        self.assertEqual(get(self.port, "/api/version")[0], 200)
        self.sim.admin("/fault", {"mode": "none"})
        self.assertEqual(get_json(self.port, "/api/v0/tasks")[0], 200)
        # slow GCS beyond 80% of timeout: DataSourceUnavailable.
        self.sim.admin("/fault", {"mode": "slow", "delay_ms": 2500, "count": 1})
        t = time.time()
        st, doc = get_json(self.port, "/api/v0/workers", [("timeout", "2")])
        self.assertEqual((st, doc["msg"]), (500, dashboard.GCS_QUERY_FAILURE_WARNING))
        self.assertLess(time.time() - t, 2.4)
        # malformed reply: not a DataSourceUnavailable -> the route's 500 traceback.
        self.sim.admin("/fault", {"mode": "malformed", "kind": "truncated", "count": 1})
        st, doc = get_json(self.port, "/api/v0/tasks")
        self.assertEqual((st, doc["data"]), (500, {}))
        self.assertTrue(doc["msg"].startswith("Traceback"))
        # GCS status != 0: tasks answer 200 with a warning; actors ignore status.
        self.sim.admin("/fault", {"mode": "gcs_status", "code": 12, "message": "timed out", "count": 2})
        st, doc = get_json(self.port, "/api/v0/tasks")
        self.assertEqual((st, doc["data"]["result"]), (200, {
            "total": 0, "num_after_truncation": 0, "num_filtered": 0, "result": [],
            "partial_failure_warning": "", "warnings": ["timed out"]}))
        st, doc = get_json(self.port, "/api/v0/actors")
        self.assertEqual((st, doc["data"]["result"]["result"], doc["data"]["result"]["total"]), (200, [], 0))
        self.assertEqual(get_json(self.port, "/api/v0/tasks")[1]["data"]["result"]["warnings"], None)

    def test_http_faults(self):
        a = self.sim.admin
        a("/fault", {"mode": "http_status", "code": 502, "count": 1})
        self.assertEqual(self.sim.call(th.CA, b"")[:2], b"\x0a\x00")   # gRPC untouched
        st, doc = get_json(self.port, "/api/v0/tasks")
        self.assertEqual((st, doc), (502, {"result": False, "msg": "simulated HTTP 502", "data": {"result": None}}))
        self.assertEqual(get(self.port, "/api/v0/tasks")[0], 200)
        a("/fault", {"mode": "http_status", "code": 503, "body": "<html>down</html>",
                     "content_type": "text/html", "count": 1})
        st, hd, body = get(self.port, "/api/version")
        self.assertEqual((st, hd["content-type"], body), (503, "text/html", b"<html>down</html>"))
        self.assertEqual(a("/fault", {"mode": "http_status", "code": 999})["http_status"], 400)

        a("/fault", {"mode": "truncated_json", "count": 1})
        st, hd, body = get(self.port, "/api/v0/tasks")
        self.assertEqual((st, int(hd["content-length"])), (200, len(body)))
        with self.assertRaises(json.JSONDecodeError):
            json.loads(body)
        a("/fault", {"mode": "short_body", "count": 1})
        with self.assertRaises(http.client.IncompleteRead):
            get(self.port, "/api/v0/tasks")
        a("/fault", {"mode": "http_drop", "count": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            get(self.port, "/api/v0/tasks")
        a("/fault", {"mode": "huge_json", "bytes": 5_000_000, "count": 1})
        st, hd, body = get(self.port, "/api/v0/tasks")
        self.assertEqual((st, len(body)), (200, 5_000_000))
        self.assertEqual(json.loads(body)["data"]["result"]["result"], [])
        a("/fault", {"mode": "deep_json", "depth": 100000, "count": 1})
        st, hd, body = get(self.port, "/api/v0/tasks")
        self.assertEqual(len(body), 200000 + len(b'{"result": true, "msg": "", "data": {"result": }}'))
        with self.assertRaises(RecursionError):
            json.loads(body)
        a("/fault", {"mode": "garbage_json", "bytes": 64, "count": 1})
        st, hd, body = get(self.port, "/api/v0/tasks")
        self.assertEqual(len(body), 64)
        with self.assertRaises((json.JSONDecodeError, UnicodeDecodeError)):
            json.loads(body)
        a("/fault", {"mode": "http_slow", "delay_ms": 800, "count": 1})
        with self.assertRaises(socket.timeout):
            get(self.port, "/api/version", timeout=0.4)
        self.assertEqual(get(self.port, "/api/version")[0], 200)
        keep = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        keep.request("GET", "/api/version")
        self.assertEqual(keep.getresponse().read()[:1], b"{")
        a("/fault", {"mode": "http_unavailable"})
        self.assertFalse(a("/state")["dashboard_up"])
        # The kept-alive connection is closed too.
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError,
                                ConnectionRefusedError, BrokenPipeError)):
            keep.request("GET", "/api/version")
            keep.getresponse()
        keep.close()
        with self.assertRaises(ConnectionRefusedError):
            get(self.port, "/api/version")
        self.assertEqual(len(self.sim.call(th.CA, b"")) > 0, True)      # GCS still up
        a("/fault", {"mode": "none"})
        self.assertEqual(get(self.port, "/api/version")[0], 200)
        self.assertNotIn("Traceback", self.sim.stderr())    # dropped connections are quiet
        log = a("/http_requests")["requests"]
        self.assertEqual((log[-1]["path"], log[-1]["status"]), ("/api/version", 200))
        self.assertEqual([r["fault"] for r in log if r["fault"]][-9:],
                         ["http_status", "http_status", "truncated_json", "short_body", "http_drop",
                          "huge_json", "deep_json", "garbage_json", "http_slow"])

    def test_cap(self):
        """12,000 tasks: the GCS gives 10,000; total says how many exist."""
        a = self.sim.admin
        try:
            a("/scenario", {"name": "many", "params": {"count": 12000}})
            st, doc = get_json(self.port, "/api/v0/tasks", [("limit", "10000")], timeout=120)
            r = doc["data"]["result"]
            self.assertEqual(st, 200)
            self.assertEqual((r["total"], r["num_after_truncation"], r["num_filtered"], len(r["result"])),
                             (12000, 10000, 10000, 10000))
            # a filter applied after the cap: counts the capped rows only.
            st, doc = get_json(self.port, "/api/v0/tasks", [("limit", "5")]
                               + flt(("func_or_class_name", "!=", "x")), timeout=120)
            r = doc["data"]["result"]
            self.assertEqual((r["total"], r["num_after_truncation"], r["num_filtered"], len(r["result"])),
                             (12000, 10000, 10000, 5))
        finally:
            a("/scenario", {"name": "vectors"})


class OldStatusCodes(unittest.TestCase):
    """2.9: every failure is a 500; ValueErrors as tracebacks."""

    def test_v29(self):
        with start("2.9", dashboard_max_requests=0) as sim:
            port = dash_info(sim)["dashboard_port"]
            st, doc = get_json(port, "/api/v0/actors")       # --dashboard-max-requests 0
            self.assertEqual((st, doc["data"]), (500, {"result": None}))
            self.assertTrue(doc["msg"].startswith("Max number of in-progress requests=0 reached."))
            sim.admin("/dashboard", {"max_requests": 100})
            st, doc = get_json(port, "/api/v0/tasks", [("limit", "10001")])
            self.assertEqual((st, doc["result"], doc["data"]), (500, False, {}))
            self.assertTrue(doc["msg"].startswith("Traceback (most recent call last):"))
            self.assertTrue(doc["msg"].endswith("ValueError: Given limit 10001 exceeds the supported "
                                                "limit 10000. Use a lower limit.\n"), doc["msg"])
            sim.admin("/fault", {"mode": "unavailable"})
            st, doc = get_json(port, "/api/v0/tasks")
            self.assertEqual((st, doc), (500, {"result": False, "msg": dashboard.GCS_QUERY_FAILURE_WARNING,
                                               "data": {"result": None}}))
            sim.admin("/fault", {"mode": "none"})
            # 2.9's GCS matches names case-sensitively: the pushed name filter
            # drops a case-mismatched name before the dashboard's own match.
            exp = json.load(open(th.vec("2.9", "expected_tasks.json")))["tasks"]
            name = next(e["name"] for e in exp if e["type"] == "NORMAL_TASK")
            want = sum(1 for e in exp if e["name"] == name)
            st, doc = get_json(port, "/api/v0/tasks", flt(("name", "=", name)))
            self.assertEqual(len(doc["data"]["result"]["result"]), want)
            st, doc = get_json(port, "/api/v0/tasks", flt(("name", "=", name.upper())))
            self.assertEqual(len(doc["data"]["result"]["result"]), 0 if name != name.upper() else want)
            rq = [r for r in sim.admin("/requests")["requests"] if r["method"] == th.GTE][-1]
            self.assertEqual(rq["layout"], "legacy")
            self.assertEqual(rq["simple"], {"limit": 10000, "exclude_driver": True, "name": name.upper()})


class Stable(unittest.TestCase):
    def test_two_processes(self):
        """Same seed, epoch and sim time: the same bytes from two processes."""
        bodies = []
        for _ in range(2):
            with start("master", scenario="mixed", seed=7, epoch_ms=1793534400000) as sim:
                sim.admin("/advance", {"ms": 3000})
                port = dash_info(sim)["dashboard_port"]
                bodies.append([get(port, "/api/v0/" + r, [("detail", "1"), ("limit", "10000"),
                                                          ("exclude_driver", "0")])[2]
                               for r in dashboard.RESOURCES])
        self.assertEqual(bodies[0], bodies[1])
        self.assertEqual([len(json.loads(b)["data"]["result"]["result"]) for b in bodies[0]],
                         [18, 4, 2, 3, 15, 2])


class Tls(unittest.TestCase):
    def test_https(self):
        d = tempfile.mkdtemp(prefix="raysim-tls-")
        c = tlscerts.make(d)
        with start("master", tls_cert=c["cert"], tls_key=c["key"]) as sim:
            info = dash_info(sim)
            port = info["dashboard_port"]
            self.assertEqual(info["dashboard_url"], "https://127.0.0.1:%d" % port)
            ok = ssl.create_default_context(cafile=c["ca"])
            st, doc = get_json(port, "/api/v0/nodes", ctx=ok)
            self.assertEqual((st, doc["result"]), (200, True))
            st, doc = get_json(port, "/api/version", ctx=ok, host="localhost")
            self.assertEqual(doc["ray_version"], "3.0.0.dev0")
            other = ssl.create_default_context(cafile=c["other_ca"])
            with self.assertRaises(ssl.SSLCertVerificationError):
                get(port, "/api/version", ctx=other)
            # Plain HTTP to the HTTPS port gets no HTTP answer; the server lives on.
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError,
                                    http.client.BadStatusLine)):
                get(port, "/api/version")
            self.assertEqual(get(port, "/api/version", ctx=ok)[0], 200)
            self.assertNotIn("Traceback", sim.stderr())     # failed handshakes are quiet
        self.assertNotIn("dashboard_port", dash_info_plain())


def dash_info_plain():
    with Simulator(profile="master", speed=0) as sim:
        return dash_info(sim)


if __name__ == "__main__":
    th.main(globals())
