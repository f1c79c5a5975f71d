"""Loopback HTTP admin API (JSON in and out) that tests use to drive the sim.

GET  /state            profile, ray_version, scenario, sim_time_ms, num_stored, counters, fault
POST /scenario         {"name", "params"}
POST /profile          {"profile"}
POST /advance          {"ms"}
POST /fault            {"mode", ...}   (see faults.py)
POST /restart          {"down_ms"}
POST /token            {"token": str|null}   (gRPC and dashboard HTTP alike)
POST /gcs              {"worker_dead_delay_ms": N, "job_done_delay_ms": N}  delays of the
                       failures the GCS writes itself (applied at the next /scenario; <0 off)
                       {"tls": {"cert", "key", "ca"}|null}  the GCS port speaks mutual TLS
                       (client certificate signed by "ca" required) or plaintext
POST /ray_event        {"enabled": bool}     task events to the aggregator, not the GCS (2.58 opt-in)
POST /dashboard        {"max_requests": N}   in-flight State API requests before 429
                       {"json": "proto3"|"ray"}  rows in protobuf JSON's other forms (proto3json.py)
                       {"odd": [{"resource", "row", "key", "value"}]}  set key of that row (after
                       filters and limit) to a value no mapping allows; [] clears
GET  /requests         every gRPC request received, in order
GET  /http_requests    every dashboard HTTP request received, in order
POST /requests/clear   clears both logs
POST /shutdown
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import scenarios, versions


class Controller:
    """Admin operations on the Sim (also used by the CLI at start-up)."""

    def __init__(self, sim, seed, vectors_dir=None):
        self.sim = sim
        self.seed = seed
        self.vectors_dir = vectors_dir
        self.shutdown_event = threading.Event()
        self._timers = []
        self.dashboard = None       # dashboard.Dashboard when --dashboard-port is given

    def load_scenario(self, name, params=None, base_ns=None):
        sim = self.sim
        params = dict(params or {})
        if name == "vectors" and self.vectors_dir and "dir" not in params:
            params["dir"] = self.vectors_dir
        with sim.lock:
            if base_ns is None:
                # ms resolution keeps timelines reproducible for a given clock.
                base_ns = int(sim.model.clock.now_ms()) * 1_000_000
            sc = scenarios.build(name, params, self.seed, base_ns, sim.profile.name)
            sim.model.load(sc)
            # Loading a scenario is starting a cluster anew: a new incarnation.
            sim.new_incarnation()

    def state(self):
        sim = self.sim
        with sim.lock:
            if sim.replay is not None:
                rp = sim.replay
                return {"profile": sim.profile.name, "ray_version": sim.profile.ray_version,
                        "scenario": "replay:" + rp.folder, "sim_time_ms": sim.model.clock.now_ms(),
                        "num_stored": len(rp.raw_entries),
                        "counters": {"num_profile_task_events_dropped": rp.counters[3],
                                     "num_status_task_events_dropped": rp.counters[4]},
                        "fault": sim.faults.state(), "grpc_up": sim.server.running,
                        "dashboard_up": self._dashboard_up()}
            st = sim.model.synced_store()
            return {"profile": sim.profile.name, "ray_version": sim.profile.ray_version,
                    "scenario": sim.model.scenario.name, "params": sim.model.scenario.params,
                    "sim_time_ms": sim.model.clock.now_ms(), "num_stored": len(st.stored),
                    "num_pending": len(st.pending) - st.next_pending,
                    "counters": {"num_profile_task_events_dropped": st.dropped_profile,
                                 "num_status_task_events_dropped": st.dropped_status,
                                 "num_evicted": st.evicted},
                    "max_tasks": st.max_tasks,
                    "fault": sim.faults.state(), "grpc_up": sim.server.running,
                    "dashboard_up": self._dashboard_up(),
                    "token": sim.token is not None, "ray_event": sim.ray_event,
                    "gcs_tls": sim.gcs_tls is not None,
                    "worker_dead_delay_ms": sim.model.worker_dead_delay_ms,
                    "job_done_delay_ms": sim.model.job_done_delay_ms}

    def _dashboard_up(self):
        return None if self.dashboard is None else self.dashboard.running

    def set_profile(self, name):
        p = versions.Profile(name)
        with self.sim.lock:
            self.sim.profile = p

    def _after(self, ms, fn):
        t = threading.Timer(ms / 1000.0, fn)
        t.daemon = True
        t.start()
        self._timers.append(t)

    def set_fault(self, spec):
        sim = self.sim
        mode = spec.get("mode", "none")
        if mode == "restart":
            return self.restart(spec.get("down_ms", 0))
        if mode == "http_unavailable" and self.dashboard is None:
            raise ValueError("http_unavailable: no dashboard (start with --dashboard-port)")
        sim.faults.set(spec)
        if mode == "unavailable":
            sim.server.stop()
            if spec.get("duration_ms"):
                self._after(float(spec["duration_ms"]), self.clear_unavailable)
        else:
            sim.server.start()
        if self.dashboard is not None:
            if mode == "http_unavailable":
                self.dashboard.stop()
                if spec.get("duration_ms"):
                    self._after(float(spec["duration_ms"]), self.clear_http_unavailable)
            else:
                self.dashboard.start()

    def clear_http_unavailable(self):
        if self.sim.faults.state()["mode"] == "http_unavailable":
            self.sim.faults.set({"mode": "none"})
        self.dashboard.start()

    def clear_unavailable(self):
        if self.sim.faults.state()["mode"] == "unavailable":
            self.sim.faults.set({"mode": "none"})
        self.sim.server.start()

    def restart(self, down_ms=0):
        """A GCS restart: task events and counters are lost."""
        sim = self.sim
        with sim.lock:
            sim.model.store.lose_all(sim.model.now_ns())
        if down_ms and float(down_ms) > 0:
            sim.server.stop()
            self._after(float(down_ms), sim.server.start)


def make_handler(ctl):
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

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            return json.loads(raw) if raw.strip() else {}

        def do_GET(self):
            try:
                if self.path == "/state":
                    return self._send(200, ctl.state())
                if self.path == "/requests":
                    with ctl.sim.lock:
                        return self._send(200, {"requests": list(ctl.sim.requests)})
                if self.path == "/http_requests":
                    d = ctl.dashboard
                    if d is None:
                        return self._send(200, {"requests": []})
                    with d.lock:
                        return self._send(200, {"requests": list(d.requests)})
                return self._send(404, {"error": "no such path"})
            except Exception as e:   # report, do not kill the admin
                return self._send(500, {"error": repr(e)})

        def do_POST(self):
            try:
                b = self._body()
                p = self.path
                if p == "/scenario":
                    ctl.load_scenario(b["name"], b.get("params"))
                elif p == "/profile":
                    ctl.set_profile(b["profile"])
                elif p == "/advance":
                    with ctl.sim.lock:
                        ctl.sim.model.clock.advance(float(b["ms"]))
                elif p == "/fault":
                    ctl.set_fault(b)
                elif p == "/restart":
                    ctl.restart(b.get("down_ms", 0))
                elif p == "/dashboard":
                    if ctl.dashboard is None:
                        raise ValueError("no dashboard (start with --dashboard-port)")
                    if "max_requests" in b:
                        ctl.dashboard.max_requests = int(b["max_requests"])
                    if "json" in b:
                        if b["json"] not in ("ray", "proto3"):
                            raise ValueError("json: \"ray\" or \"proto3\"")
                        ctl.dashboard.json_mode = b["json"]
                    if "odd" in b:
                        odd = list(b["odd"] or [])
                        if not all(isinstance(o, dict) and {"resource", "key", "value"} <= set(o) for o in odd):
                            raise ValueError("odd: a list of {resource, key, value, row}")
                        ctl.dashboard.odd = odd
                elif p == "/ray_event":
                    with ctl.sim.lock:
                        ctl.sim.ray_event = bool(b.get("enabled", True))
                elif p == "/gcs":
                    with ctl.sim.lock:
                        m = ctl.sim.model
                        if "worker_dead_delay_ms" in b:
                            m.worker_dead_delay_ms = float(b["worker_dead_delay_ms"])
                        if "job_done_delay_ms" in b:
                            m.job_done_delay_ms = float(b["job_done_delay_ms"])
                    if "tls" in b:
                        tls = b["tls"]
                        if tls is not None and not (isinstance(tls, dict) and {"cert", "key", "ca"} <= set(tls)):
                            raise ValueError("tls: {cert, key, ca} or null")
                        ctl.sim.gcs_tls = tls
                        ctl.sim.server.stop()       # same port, the new credentials
                        ctl.sim.server.start()
                elif p == "/token":
                    with ctl.sim.lock:
                        ctl.sim.token = b.get("token")
                elif p == "/requests/clear":
                    with ctl.sim.lock:
                        ctl.sim.requests.clear()
                    if ctl.dashboard is not None:
                        with ctl.dashboard.lock:
                            ctl.dashboard.requests.clear()
                elif p == "/shutdown":
                    self._send(200, {"ok": True})
                    ctl.shutdown_event.set()
                    return
                else:
                    return self._send(404, {"error": "no such path"})
                return self._send(200, dict(ok=True, state=ctl.state()))
            except (KeyError, ValueError) as e:
                return self._send(400, {"error": str(e)})
            except Exception as e:
                return self._send(500, {"error": repr(e)})
    return H


def serve_admin(ctl, port=0):
    srv = ThreadingHTTPServer(("127.0.0.1", port), make_handler(ctl))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv
