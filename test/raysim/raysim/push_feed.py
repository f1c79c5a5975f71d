"""The simulated cluster's Event Export: its aggregator agents push to a URL.

Started by `raysim.py --aggregator JSON` (RaySim.pm: aggregator => {...}).
The same attempts that GetTaskEvents serves are turned into RayEvents
(rayevents.Encoder) when the scenario loads; a feeder thread hands each
event to its reporting node's agent once the sim clock passes the flush
that sends it, so pushing and polling one simulator give the same history
(docs/simulator.md, "Event Export aggregator"). A loopback control API (JSON) drives it:

GET  /stats        counters per node and in total, POST latency percentiles,
                   released/pending events, idle (everything due is acked)
POST /config       {"url", "policy", "shape", "keys", "time_scale", "node_ids",
                    "profile_events", "gcs_events", "worker_events", "lifecycle_first", "paused"}
POST /fault        {"mode": down|slow|reset|drop_reply|duplicate|hold|none,
                    "count": N (-1 until cleared), "node": hex?, "delay_ms", "ms", "times"}
POST /wait_idle    {"timeout_s": 30}: returns when all due events are acked
GET  /expected     rows Ray's merge gives from every acked body (arrival order);
                   "entities": nodes, jobs, actors from the GCS events
GET  /bodies       every acked POST body, in order ({"node", "duplicate", "events"})
POST /log/clear    forget the acked bodies
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import aggregator, rayevents

TICK = 0.05


class Feed:
    def __init__(self, sim, spec):
        self.sim = sim
        self.lock = threading.RLock()      # stats() holds it while caught_up() takes it
        self.cfg = {"url": None, "policy": None, "shape": None, "keys": "camel", "time_scale": 1.0,
                    "node_ids": "leased", "profile_events": False, "gcs_events": None,
                    "worker_events": False, "lifecycle_first": False, "paused": False, "seed": 0}
        unknown = set(spec) - set(self.cfg)
        if unknown:
            raise ValueError("unknown aggregator settings: %s" % ", ".join(sorted(unknown)))
        self.cfg.update(spec)
        self.scenario = None
        self.events = []
        self.next = 0
        self.released_ns = -1
        self.profile = None
        self.agg = None
        self.error = None
        self._build_agg()
        self.stop = False
        self.thread = threading.Thread(target=self._run, name="push-feed", daemon=True)
        self.thread.start()

    def _shape(self):
        return self.cfg["shape"] or rayevents.shape_for_profile(self.sim.profile.name)

    def _build_agg(self):
        old = self.agg
        shape = self._shape()
        policy = self.cfg["policy"] or shape or "feb26"
        self.agg = aggregator.Aggregator(self.cfg["url"], policy, self.cfg["time_scale"])
        if old is not None:
            # Keep what was buffered and not yet acked (a reconfigured agent
            # restarts; its unacknowledged batch is re-sent: at least once).
            old.stop(timeout=1)
            for k, a in old.agents.items():
                with a.cv:
                    left = list(a.buf)
                if left:
                    self.agg.agent(a.node_id).put_many(left)
            self.agg.log = old.log
        if self.cfg["url"]:
            self.agg.start()

    def configure(self, spec):
        with self.lock:
            unknown = set(spec) - set(self.cfg)
            if unknown:
                raise ValueError("unknown aggregator settings: %s" % ", ".join(sorted(unknown)))
            encode_keys = ("shape", "keys", "node_ids", "profile_events", "gcs_events",
                           "worker_events", "lifecycle_first", "seed")
            reencode = any(k in spec and spec[k] != self.cfg[k] for k in encode_keys)
            rebuild = any(k in spec and spec[k] != self.cfg[k] for k in ("policy", "time_scale", "shape"))
            self.cfg.update(spec)
            if rebuild or (spec.get("url") and not self.agg.started):
                self._build_agg()
            elif "url" in spec:
                self.agg.url = spec["url"]
            if reencode:
                self.scenario = None        # re-encoded on the next tick; released ones skipped
            return dict(self.cfg)

    def _encode(self, sc):
        shape = self._shape()
        if shape is None:
            raise ValueError("Ray %s has no Event Export (2.49 and later); set shape"
                             % self.sim.profile.ray_version)
        enc = rayevents.Encoder(self.sim.profile.name, shape=shape, keys=self.cfg["keys"],
                                seed=self.cfg["seed"], session_name=self.sim.session_name,
                                profile_events=self.cfg["profile_events"],
                                gcs_events=self.cfg["gcs_events"],
                                worker_events=self.cfg["worker_events"],
                                lifecycle_first=self.cfg["lifecycle_first"],
                                node_ids=self.cfg["node_ids"])
        return enc.scenario_events(sc)

    def tick(self):
        sim = self.sim
        with sim.lock:
            sc = sim.model.scenario
            now = sim.model.now_ns()
            prof = sim.profile.name
        with self.lock:
            if sc is not self.scenario or prof != self.profile:
                fresh = sc is not self.scenario and self.scenario is not None
                self.events = self._encode(sc)
                if fresh:
                    self.released_ns = -1   # a new cluster: everything anew
                self.scenario, self.profile = sc, prof
                # Skip what an earlier encoding of this cluster already released.
                self.next = 0
                while self.next < len(self.events) and self.events[self.next].at_ns <= self.released_ns:
                    self.next += 1
            if self.cfg["paused"]:
                return
            i = self.next
            ev = self.events
            while i < len(ev) and ev[i].at_ns <= now:
                i += 1
            due = ev[self.next:i]
            if due:
                self.released_ns = due[-1].at_ns
                # Handed over under the lock: /stats must never see them
                # released (pending 0) and not yet buffered (agents idle).
                self.agg.feed(due)
            self.next = i

    def _run(self):
        while not self.stop:
            try:
                self.tick()
                self.error = None
            except Exception as e:      # keep serving the control API; /stats shows it
                self.error = "%s: %s" % (type(e).__name__, e)
            time.sleep(TICK)

    def caught_up(self):
        with self.lock:
            if self.cfg["paused"]:
                return True
            now = self.sim.model.now_ns()
            return self.next >= len(self.events) or self.events[self.next].at_ns > now

    def stats(self):
        # One consistent view: released, buffered and acknowledged counted
        # under the lock tick() releases events under.
        with self.lock:
            s = self.agg.stats()
            s["released"] = self.next
            s["pending"] = len(self.events) - self.next
            s["config"] = dict(self.cfg)
            s["shape"] = self._shape()
            s["error"] = self.error
            s["idle"] = s["total"]["idle"] and self.caught_up()
        return s

    def wait_idle(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.tick()
            if self.caught_up() and self.agg.idle():
                return True
            time.sleep(0.02)
        return False

    def expected(self):
        m = rayevents.merge_bodies(self.sim.profile.name, self.agg.bodies())
        return {"rows": m.rows(), "entities": m.entity_rows(), "duplicates": m.duplicates,
                "other_events": m.other, "shape": self._shape()}


def _handler(feed):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/stats":
                return self._send(200, feed.stats())
            if self.path == "/expected":
                return self._send(200, feed.expected())
            if self.path == "/bodies":
                with feed.agg.lock:
                    log = list(feed.agg.log)
                return self._send(200, [{"node": n, "duplicate": d, "events": json.loads(b)}
                                        for n, b, d in log])
            self._send(404, {"error": "no such path"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw) if raw.strip() else {}
                if self.path == "/config":
                    return self._send(200, feed.configure(body))
                if self.path == "/fault":
                    feed.agg.set_fault(body)
                    return self._send(200, {"faults": feed.stats()["total"]["faults"]})
                if self.path == "/wait_idle":
                    ok = feed.wait_idle(float(body.get("timeout_s", 30)))
                    return self._send(200 if ok else 504, feed.stats())
                if self.path == "/log/clear":
                    with feed.agg.lock:
                        feed.agg.log = []
                    return self._send(200, {})
            except (ValueError, KeyError, TypeError) as e:
                return self._send(400, {"error": str(e)})
            self._send(404, {"error": "no such path"})
    return H


def start(sim, spec):
    """Start the feed and its control server; returns port-file entries."""
    feed = Feed(sim, spec)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(feed))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name="push-control", daemon=True).start()
    sim.push_feed = feed
    return {"aggregator_control_port": srv.server_address[1]}
