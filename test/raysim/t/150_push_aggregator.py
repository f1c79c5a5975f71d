"""Event Export transport: the simulated aggregator agents against a stdlib receiver.

Batch sizes and linger per version, one POST in flight per node and order
within a node, the retry policy of each version (500/503 + Retry-After,
400, timeouts), the bounded buffer, every fault switch, the simulator's
--aggregator hook end to end (pushed rows = polled rows) and the
push_load.py command.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import json
import subprocess
import tempfile
import time
import unittest
import urllib.request

from raysim import aggregator, cluster, derive, loadgen, rayevents, versions
from raysim.client import Simulator
from raysim.push_receiver import Receiver

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def texts(node, n, start=0):
    return ['{"eventId": "%s-%d", "n": "%s", "seq": %d}' % (node, i, node, i)
            for i in range(start, start + n)]


def seqs(body):
    return [(e["n"], e["seq"]) for e in json.loads(body)]


def agg_with(url, policy, time_scale=1.0, **over):
    return aggregator.Aggregator(url, policy, time_scale, overrides=over)


class Batching(unittest.TestCase):
    def test_feb26_batches_of_1000(self):
        with Receiver() as r:
            agg = agg_with(r.url, "feb26")
            agg.agent("A").put_many(texts("A", 2500))
            agg.start()
            self.assertTrue(agg.wait_idle(20))
            agg.stop()
            self.assertEqual([len(json.loads(b)) for b in r.ok_bodies()], [1000, 1000, 500])
            self.assertEqual([s for b in r.ok_bodies() for s in seqs(b)], [("A", i) for i in range(2500)])
            h = r.requests[0]["headers"]
            self.assertEqual(h["Content-Type"], "application/json")
            self.assertNotIn("Authorization", h)
            self.assertEqual(r.requests[0]["path"], "/events/c1")
            self.assertTrue(r.requests[0]["body"].startswith(b'[{"eventId": "A-0", "n": "A", "seq": 0}, {'))

    def test_249_batches_of_10000(self):
        with Receiver() as r:
            agg = agg_with(r.url, "2.49")
            agg.agent("A").put_many(texts("A", 25000))
            agg.start()
            self.assertTrue(agg.wait_idle(20))
            agg.stop()
            self.assertEqual([len(json.loads(b)) for b in r.ok_bodies()], [10000, 10000, 5000])

    def test_feb26_lingers(self):
        with Receiver() as r:
            agg = agg_with(r.url, "feb26")
            agg.start()
            time.sleep(0.2)
            t0 = time.monotonic()
            agg.agent("A").put_many(texts("A", 1))
            time.sleep(0.03)
            agg.agent("A").put_many(texts("A", 1, 1))
            self.assertTrue(r.wait_requests(1))
            self.assertGreaterEqual(r.requests[0]["t"] - t0, 0.09, "lingers 0.1 s after the first event")
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            # both events in one POST unless the machine stalled 70 ms in between
            self.assertEqual(sum(len(json.loads(b)) for b in r.ok_bodies()), 2)

    def test_one_in_flight_per_node_in_order(self):
        with Receiver() as r:
            r.script.extend([{"delay_ms": 150}] * 8)
            agg = agg_with(r.url, "feb26", batch=10)
            for n in ("A", "B"):
                agg.agent(n).put_many(texts(n, 40))
            agg.start()
            self.assertTrue(agg.wait_idle(20))
            agg.stop()
            per = {"A": [], "B": []}
            times = {"A": [], "B": []}
            for q in r.requests:
                s = seqs(q["body"])
                per[s[0][0]].extend(x[1] for x in s)
                times[s[0][0]].append(q["t"])
            for n in ("A", "B"):
                self.assertEqual(per[n], list(range(40)), "in order within node %s" % n)
                # the next POST of a node starts only after the previous reply
                gaps = [b - a for a, b in zip(times[n], times[n][1:])]
                self.assertTrue(all(g >= 0.14 for g in gaps[:3]), gaps)
            self.assertEqual(r.max_active, 2, "one POST in flight per node, nodes in parallel")

    def test_bounded_buffer_drops_oldest(self):
        with Receiver() as r:
            agg = agg_with(r.url, "feb26", buffer=10)
            agg.agent("A").put_many(texts("A", 25))
            agg.start()
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            self.assertEqual([s for b in r.ok_bodies() for s in seqs(b)], [("A", i) for i in range(15, 25)])
            self.assertEqual(agg.stats()["total"]["events_dropped"], 15)


class Retries(unittest.TestCase):
    def test_249_urllib3_then_repost(self):
        """5xx: urllib3 retries 5 times (0, 2, 4, 8, 16 s x time_scale), then
        the batch is re-posted at once."""
        with Receiver() as r:
            r.script.extend([{"status": 500}] * 6)
            agg = agg_with(r.url, "2.49", time_scale=0.02)
            agg.agent("A").put_many(texts("A", 3))
            agg.start()
            self.assertTrue(r.wait_requests(7))
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            self.assertEqual([q["status"] for q in r.requests], [500] * 6 + [200])
            self.assertEqual(len({q["body"] for q in r.requests}), 1, "the same batch each time")
            t = [q["t"] for q in r.requests]
            for k, want in ((1, 0.04), (2, 0.08), (3, 0.16), (4, 0.32)):
                self.assertGreaterEqual(t[k + 1] - t[k], want * 0.9, "backoff %d" % k)
            st = agg.stats()["total"]
            self.assertEqual((st["posts"], st["retries"]), (7, 1))

    def test_249_retry_after_and_4xx(self):
        with Receiver() as r:
            # 503 + Retry-After: 25 s x 0.02 = 0.5 s; then 400: not retried by
            # urllib3, the batch is kept, topped up and re-posted at once.
            r.script.extend([{"status": 503, "retry_after": "25"}, {"status": 400, "delay_ms": 300}])
            agg = agg_with(r.url, "2.49", time_scale=0.02)
            a = agg.agent("A")
            a.put_many(texts("A", 3))
            agg.start()
            self.assertTrue(r.wait_requests(2))
            a.put_many(texts("A", 2, 3))          # arrives while the 400 is pending
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            self.assertEqual([q["status"] for q in r.requests], [503, 400, 200])
            self.assertGreaterEqual(r.requests[1]["t"] - r.requests[0]["t"], 0.45, "Retry-After honoured")
            self.assertEqual(seqs(r.requests[2]["body"]), [("A", i) for i in range(5)], "topped up")

    def test_feb26_same_batch_forever(self):
        with Receiver() as r:
            r.script.extend([{"status": 400}, {"status": 503, "retry_after": "30"}, {"status": 500},
                             {"status": 404}])
            agg = agg_with(r.url, "feb26")
            a = agg.agent("A")
            a.put_many(texts("A", 3))
            agg.start()
            self.assertTrue(r.wait_requests(2))
            a.put_many(texts("A", 2, 3))
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            st = [q["status"] for q in r.requests]
            self.assertEqual(st[:5], [400, 503, 500, 404, 200])
            self.assertEqual(len({q["body"] for q in r.requests[:5]}), 1, "4xx included, same batch")
            t = [q["t"] for q in r.requests]
            for k in range(3):
                self.assertGreaterEqual(t[k + 1] - t[k], 0.01 * 2 ** k * 0.9)
            self.assertLess(t[2] - t[1], 3.0, "Retry-After ignored")
            self.assertEqual([x[1] for b in r.ok_bodies() for x in seqs(b)], [0, 1, 2, 3, 4])

    def test_feb26_timeout_3s(self):
        with Receiver() as r:
            r.script.append({"delay_ms": 3600})
            agg = agg_with(r.url, "feb26")
            agg.agent("A").put_many(texts("A", 2))
            agg.start()
            self.assertTrue(agg.wait_idle(15))
            agg.stop()
            self.assertEqual(len(r.requests), 2)
            self.assertEqual(r.requests[0]["body"], r.requests[1]["body"], "a timeout re-sends: a duplicate")
            self.assertGreaterEqual(r.requests[1]["t"] - r.requests[0]["t"], 2.9)
            self.assertEqual(agg.stats()["nodes"]["A"]["failures"], {"timeout": 1})


class Faults(unittest.TestCase):
    def run_fault(self, spec, n=5, policy="feb26"):
        r = Receiver()
        agg = agg_with(r.url, policy)
        agg.set_fault(spec)
        agg.agent("A").put_many(texts("A", n))
        agg.start()
        self.assertTrue(agg.wait_idle(15))
        agg.stop()
        r.close()
        return r, agg.stats()

    def test_down_then_up(self):
        r, st = self.run_fault({"mode": "down", "count": 3})
        self.assertEqual(st["nodes"]["A"]["failures"], {"refused": 3})
        self.assertEqual(len(r.requests), 1)

    def test_reset_mid_body(self):
        r, st = self.run_fault({"mode": "reset", "count": 1}, n=2000)
        self.assertEqual(st["nodes"]["A"]["failures"], {"reset": 1})
        got = [x for b in r.ok_bodies() for x in seqs(b)]
        self.assertEqual(got, [("A", i) for i in range(2000)], "each event once, in order")

    def test_drop_reply_duplicates(self):
        r, st = self.run_fault({"mode": "drop_reply", "count": 1})
        self.assertEqual(len(r.requests), 2)
        self.assertEqual(r.requests[0]["body"], r.requests[1]["body"])
        self.assertEqual(st["nodes"]["A"]["failures"], {"reply_lost": 1})

    def test_duplicate_acked_batch(self):
        r, st = self.run_fault({"mode": "duplicate", "count": 1, "times": 2})
        self.assertEqual(len(r.requests), 3)
        self.assertEqual(len({q["body"] for q in r.requests}), 1)
        self.assertEqual(st["total"]["duplicates_sent"], 2)

    def test_slow_upload(self):
        r, st = self.run_fault({"mode": "slow", "delay_ms": 300})
        self.assertEqual(len(r.requests), 1)
        self.assertGreaterEqual(st["nodes"]["A"]["latency_ms"]["p100"], 290)

    def test_hold_reorders_nodes(self):
        with Receiver() as r:
            agg = agg_with(r.url, "feb26")
            agg.set_fault({"mode": "hold", "node": "A", "ms": 1500})
            agg.agent("A").put_many(texts("A", 2))
            agg.agent("B").put_many(texts("B", 2))
            agg.start()
            self.assertTrue(agg.wait_idle(10))
            agg.stop()
            self.assertEqual([seqs(q["body"])[0][0] for q in r.requests], ["B", "A"])

    def test_receiver_restart(self):
        """A receiver that is really down (connection refused) and comes back
        on the same port gets every event once, in order."""
        r = Receiver()
        port = r.port
        r.close()
        agg = agg_with(r.url, "feb26", batch=100)
        agg.agent("A").put_many(texts("A", 250))
        agg.start()
        time.sleep(0.4)
        with Receiver(port=port) as r2:
            self.assertTrue(agg.wait_idle(15))
            agg.stop()
            self.assertEqual([x for b in r2.ok_bodies() for x in seqs(b)], [("A", i) for i in range(250)])
        self.assertGreater(agg.stats()["nodes"]["A"]["failures"].get("refused", 0), 2)

    def test_stop_requeues_unacked_batch(self):
        for policy in ("feb26", "2.49"):
            with self.subTest(policy=policy), Receiver() as r:
                r.script.extend([{"status": 503}] * 1000)
                agg = agg_with(r.url, policy, time_scale=0.01)
                a = agg.agent("A")
                a.put_many(texts("A", 5))
                agg.start()
                self.assertTrue(r.wait_requests(2))
                agg.stop()
                self.assertEqual((list(a.buf), a.inflight), (texts("A", 5), 0))

    def test_unknown_fault(self):
        with self.assertRaises(ValueError):
            agg_with("http://127.0.0.1:9/", "feb26").set_fault({"mode": "melt"})


def ctl(port, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return dict(json.loads(e.read()), http_status=e.code)


class SimulatorHook(unittest.TestCase):
    def test_pushed_equals_polled(self):
        """The same attempts back GetTaskEvents and the push: Ray's merge of
        what arrived equals the polled rows (normalise_polled), with
        duplicates and held nodes on the way; FEB26 snake keys and 2.49."""
        for prof, keys in (("2.58", "snake"), ("2.49", "camel")):
            with self.subTest(profile=prof), Receiver() as r, \
                    Simulator(profile=prof, scenario="mixed", speed=0,
                              aggregator=json.dumps({"keys": keys})) as sim:
                cp = json.load(open(sim.port_file))["aggregator_control_port"]
                self.assertEqual(ctl(cp, "/config", {"url": r.url})["url"], r.url)
                ctl(cp, "/fault", {"mode": "duplicate", "count": 2})
                sim.admin("/advance", {"ms": 800})
                st = ctl(cp, "/wait_idle", {"timeout_s": 20})
                self.assertTrue(st["idle"], st)
                partial = st["total"]["events_acked"]
                sim.admin("/advance", {"ms": 600000})
                st = ctl(cp, "/wait_idle", {"timeout_s": 20})
                self.assertTrue(st["idle"], st)
                self.assertGreater(st["total"]["events_acked"], partial, "events follow the sim clock")
                self.assertEqual(st["pending"], 0)
                self.assertEqual(st["total"]["duplicates_sent"], 2)
                p = versions.Profile(prof)
                polled, _ = derive.rows_from_reply(sim.call(th.GTE, b""), p)
                shape = rayevents.shape_for_profile(prof)
                want = [rayevents.normalise_polled(x, shape) for x in polled]
                m = rayevents.merge_bodies(prof, r.ok_bodies())
                self.assertGreater(m.duplicates, 0)
                self.assertEqual(m.rows(), want)
                exp = ctl(cp, "/expected")
                self.assertEqual(exp["rows"], want)
                self.assertEqual(exp["shape"], shape)
                if shape == "feb26":
                    self.assertIn("ACTOR_LIFECYCLE_EVENT", exp["other_events"])
                    # GCS events: nodes, driver jobs and actors as polling shows them
                    ent = m.entity_rows()
                    for svc, meth, res in cluster.METHODS.values():
                        if res not in ent:
                            continue
                        pol, _ = derive.cluster_rows(res, sim.call("/%s/%s" % (svc, meth), b""), p)
                        key = derive.CLUSTER_ID_KEY[res]
                        by = {x[key]: x for x in pol}
                        self.assertTrue(ent[res])
                        for row in ent[res]:
                            self.assertIn(row[key], by)
                            self.assertEqual(row, {k: by[row[key]][k] for k in row}, res)
                    self.assertIn("task_lifecycle_event", r.requests[-1]["body"].decode() +
                                  r.requests[0]["body"].decode())
                bodies = ctl(cp, "/bodies")
                self.assertEqual(sum(len(b["events"]) for b in bodies if not b["duplicate"]),
                                 st["total"]["events_acked"])

    def test_config_errors(self):
        with Simulator(profile="2.40", scenario="classic", speed=0, aggregator="{}") as sim:
            cp = json.load(open(sim.port_file))["aggregator_control_port"]
            self.assertEqual(ctl(cp, "/config", {"bogus": 1})["http_status"], 400)
            time.sleep(0.2)
            self.assertIn("no Event Export", ctl(cp, "/stats")["error"])


class LoadCommand(unittest.TestCase):
    def test_push_load_expected_rows(self):
        with tempfile.TemporaryDirectory() as d, Receiver(keep=False) as r:
            out = os.path.join(d, "rows.jsonl")
            p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "push_load.py"), "--url", r.url,
                                "--attempts", "3000", "--nodes", "3", "--rate", "20000",
                                "--epoch-ms", "1770890414000", "--expected-out", out],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            res = json.loads(p.stdout)
            self.assertEqual((res["attempts"], res["events"], res["acked_events"]), (3000, 12000, 12000))
            self.assertEqual(r.count["events"], 12000)
            for k in ("p50", "p90", "p99", "p100"):
                self.assertIsNotNone(res["latency_ms"][k])
            rows = [json.loads(x) for x in open(out)]
            self.assertEqual(len(rows), 3000)
            g = loadgen.Generator("master", nodes=3, seed=0, base_ns=1770890414000 * 1_000_000)
            pr = versions.Profile("master")
            from raysim import encode
            want = sorted((rayevents.normalise_polled(derive.row_from_event(
                encode.task_events_message(g.attempt(i), pr), pr), "feb26") for i in range(3000)),
                key=lambda x: (x["task_id"], x["attempt_number"]))
            want = json.loads(json.dumps(want))
            bad = [(x, y) for x, y in zip(rows, want) if x != y]
            self.assertEqual(bad[:1], [])
            self.assertEqual({x["state"] for x in rows}, {"FINISHED", "FAILED"})

    def test_push_load_receiver_procs(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "push_load.py"), "--receiver",
                            "--attempts", "2000", "--nodes", "4", "--procs", "2", "--profile", "2.49"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        res = json.loads(p.stdout)
        self.assertEqual((res["procs"], res["shape"], res["acked_events"]), (2, "2.49", 8000))


th.main(globals())
