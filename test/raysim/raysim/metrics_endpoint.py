"""Per-node Prometheus endpoints: what Ray's metrics agent serves at each
node's metrics_export_port (GcsNodeInfo field 9), for raydar's scraper.

Ray's names and labels:
  - node gauges of the reporter agent, namespace "ray"
    (dashboard/modules/reporter/reporter_agent.py, METRICS_GAUGES):
    ray_node_cpu_utilization, ray_node_cpu_count, ray_node_mem_used,
    ray_node_mem_total, ray_node_gpus_utilization, ray_node_gram_used
    ({ip, SessionName[, GpuIndex, GpuDeviceName]}), ray_node_disk_usage,
    ray_node_network_sent / _received;
  - the public metrics of src/ray/stats/metric_defs.cc: ray_tasks
    {State, Name, Source, IsRetry, JobId}, ray_resources {Name, State},
    ray_object_store_memory {Location, ObjectState};
  - some internal ones raydar drops by default (ray_grpc_server_req_finished,
    ray_scheduler_tasks from metric_defs.cc; process_* and python_* of the
    Python client's default collectors);
  - user metrics, as ray.util.metrics exports them (a "ray_" prefix): a
    counter with a unicode label and a histogram.

Values move with the scenario at sim time: a node's CPU reads 75 while a
task attempt runs on it and 12.5 when idle; memory, object store, task
counts and network counters follow the finished and running attempts.

`extra_series` N adds a user gauge ray_bench_value with N series (load
for bench/node_metrics; left out of the served log). With `timestamps` (default true) every sample carries the sim time in ms,
so scraped rows line up with the task timelines however fast the clock
runs (Ray itself writes no timestamps; the format allows them).

Everything served is logged (GET /served on the control port): per
request the node, the sim time, whether it was complete, the fault, and
for a complete body every sample as [name, labels, value]. Tests compare
what raydar stored with exactly this.

Faults (POST /fault {"node": hex id or ip, "mode": M, "count": N}):
  slow (delay_ms), http500, truncated (Content-Length promised, half sent),
  garbage (200 with a body that is not the format), down (the endpoint
  stops listening: the node "disappears" while the GCS still lists it),
  up (listens again), kill (the node dies: DEAD in the GCS from now, its
  endpoint down), none.
"""
import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MB = 1024 * 1024
GB = 1024 * MB

# What ray_tasks' State label takes, by the attempt's latest TaskStatus.
_TERMINAL = ("FINISHED", "FAILED")


def _fmt(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    return repr(float(v))


def _esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class NodeEndpoint:
    def __init__(self, metrics, node):
        self.metrics = metrics
        self.node = node
        self.hex = node["node_id"].hex()
        self.server = None
        self.port = None
        self.start()

    def start(self, port=0):
        ep = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                ep.metrics.serve(ep, self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port or self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Metrics:
    def __init__(self, sim, params):
        self.sim = sim
        self.params = params
        self.timestamps = bool(params.get("timestamps", True))
        self.session = params.get("session", "session_2026-12-06_20-00-00_000000_1")
        self.lock = threading.Lock()
        self.served = []
        self.faults = {}             # node hex -> fault dict
        self.endpoints = []
        with sim.lock:
            sc = sim.model.scenario
            self.runs = {}           # node id -> [(run_ns, end_ns or None, attempt)]
            for a in sc.attempts:
                run = next((ns for st, ns in a.states if st == "RUNNING"), None)
                end = next((ns for st, ns in a.states if st in _TERMINAL), None)
                if a.node_id and run is not None and a.type != "DRIVER_TASK":
                    self.runs.setdefault(a.node_id, []).append((run, end, a))
            for node in sc.entities.nodes.values():
                ep = NodeEndpoint(self, node)
                node["metrics_export_port"] = ep.port
                node["metrics_address"] = "127.0.0.1"
                self.endpoints.append(ep)

    # ---- the body ------------------------------------------------------------

    def samples(self, node, now_ns):
        """[(family, type, help, [(name, labels, value)])] of node at now_ns."""
        nid = node["node_id"]
        ip = node["node_ip"]
        base = {"ip": ip, "SessionName": self.session}
        runs = self.runs.get(nid, [])
        running = [a for r, e, a in runs if r <= now_ns and (e is None or e > now_ns)]
        finished = [a for r, e, a in runs if e is not None and e <= now_ns]
        failed = [a for a in finished if any(st == "FAILED" for st, _ in a.states)]
        cpus = node.get("resources_total", {}).get("CPU", 1.0)
        gpus = int(node.get("resources_total", {}).get("GPU", 0))
        up_s = max(0.0, (now_ns / 1e6 - node.get("start_time_ms", 0)) / 1000.0)
        cpu = 75.0 if running else 12.5
        fam = []

        def g(name, typ, hlp, rows):
            fam.append((name, typ, hlp, rows))

        g("ray_node_cpu_utilization", "gauge", "Total CPU usage on a ray node",
          [("ray_node_cpu_utilization", base, cpu)])
        g("ray_node_cpu_count", "gauge", "Total CPUs available on a ray node",
          [("ray_node_cpu_count", base, float(cpus))])
        g("ray_node_mem_used", "gauge", "Memory usage on a ray node",
          [("ray_node_mem_used", base, float(2 * GB + 512 * MB * len(running)))])
        g("ray_node_mem_total", "gauge", "Total memory on a ray node",
          [("ray_node_mem_total", base, float(64 * GB))])
        if gpus:
            g("ray_node_gpus_utilization", "gauge", "Total GPUs usage on a ray node",
              [("ray_node_gpus_utilization", dict(base, GpuIndex=str(i), GpuDeviceName="NVIDIA H100"),
                90.0 if running else 0.0) for i in range(gpus)])
            g("ray_node_gram_used", "gauge", "Total GPU RAM usage on a ray node",
              [("ray_node_gram_used", dict(base, GpuIndex=str(i), GpuDeviceName="NVIDIA H100"),
                float(8 * GB if running else 0)) for i in range(gpus)])
        g("ray_node_disk_usage", "gauge", "Total disk usage (bytes) on a ray node",
          [("ray_node_disk_usage", base, float(40 * GB + len(finished) * MB))])
        g("ray_node_network_sent", "gauge", "Total network sent",
          [("ray_node_network_sent", base, float(int(up_s * 1000) * 1000))])
        g("ray_node_network_received", "gauge", "Total network received",
          [("ray_node_network_received", base, float(int(up_s * 1000) * 1500))])
        g("ray_object_store_memory", "gauge", "Object store memory by various sub-kinds on this node",
          [("ray_object_store_memory", dict(base, Location="MMAP_SHM", ObjectState="SEALED"),
            float(len(finished) * MB)),
           ("ray_object_store_memory", dict(base, Location="MMAP_SHM", ObjectState="UNSEALED"),
            float(len(running) * 256 * 1024)),
           ("ray_object_store_memory", dict(base, Location="SPILLED", ObjectState="SEALED"), 0.0)])
        g("ray_resources", "gauge", "Logical Ray resources broken per state {AVAILABLE, USED}",
          [("ray_resources", dict(base, Name="CPU", State="USED"), float(len(running))),
           ("ray_resources", dict(base, Name="CPU", State="AVAILABLE"), float(cpus - len(running)))])
        names = sorted({a.name or "" for a in running} | {a.name or "" for a in finished})
        rows = []
        for nm in names:
            for state, group in (("RUNNING", running), ("FINISHED", [a for a in finished if a not in failed]),
                                 ("FAILED", failed)):
                k = sum(1 for a in group if (a.name or "") == nm)
                if k:
                    rows.append(("ray_tasks", dict(base, Name=nm, State=state, Source="executor",
                                                   IsRetry="0", JobId=group[0].job_id.hex()), float(k)))
        g("ray_tasks", "gauge", "Current number of tasks currently in a particular state.", rows)
        # internal: dropped by raydar.metrics_keep's default
        g("ray_grpc_server_req_finished_total", "counter", "Finished request number in grpc server",
          [("ray_grpc_server_req_finished_total", dict(base, Method="GetTaskEvents"), float(int(up_s)))])
        g("ray_scheduler_tasks", "gauge", "Number of tasks waiting for scheduling",
          [("ray_scheduler_tasks", dict(base, State="Executing"), float(len(running)))])
        g("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
          [("process_cpu_seconds_total", {}, round(up_s / 100.0, 3))])
        # user metrics (ray.util.metrics), "ray_" prefixed by the agent
        g("ray_app_items_processed_total", "counter", "Items processed by the app.",
          [("ray_app_items_processed_total", dict(base, stage="préparation ✓", JobId="01000000"),
            float(10 * len(finished)))])
        lat = [((a.states[-1][1] - r) / 1e6) for r, e, a in runs if e is not None and e <= now_ns]
        bounds = [500.0, 1000.0, 2000.0, math.inf]
        g("ray_app_step_ms", "histogram", "Step latency (ms).",
          [("ray_app_step_ms_bucket", dict(base, le="+Inf" if b == math.inf else repr(b)),
            float(sum(1 for x in lat if x <= b))) for b in bounds] +
          [("ray_app_step_ms_count", base, float(len(lat))),
           ("ray_app_step_ms_sum", base, float(sum(lat)))])
        return fam

    def bench_lines(self, node, now_ns, ts):
        """`extra_series` lines of a user gauge (load for bench/node_metrics),
        their label text rendered once per node: the benchmark measures
        raydar, not this simulator's string formatting."""
        extra = int(self.params.get("extra_series", 0))
        if not extra:
            return ""
        pre = node.get("_bench_prefixes")
        if pre is None:
            lab = 'SessionName="%s",ip="%s"' % (_esc(self.session), _esc(node["node_ip"]))
            pre = node["_bench_prefixes"] = ["ray_bench_value{%s,i=\"%d\"} " % (lab, i) for i in range(extra)]
        ms = now_ns // 1_000_000
        return ("# HELP ray_bench_value A user gauge of the node metrics benchmark.\n"
                "# TYPE ray_bench_value gauge\n" +
                "".join("%s%d.0%s\n" % (p, (ms + i) % 1000, ts) for i, p in enumerate(pre)))

    def body(self, node, now_ns):
        ts = " %d" % (now_ns // 1_000_000) if self.timestamps else ""
        out = []
        flat = []
        for name, typ, hlp, rows in self.samples(node, now_ns):
            out.append("# HELP %s %s\n# TYPE %s %s\n" % (name, hlp, name, typ))
            for sname, labels, value in rows:
                lab = ",".join('%s="%s"' % (k, _esc(v)) for k, v in sorted(labels.items()))
                out.append("%s{%s} %s%s\n" % (sname, lab, _fmt(value), ts))
                flat.append([sname, labels, value])
        out.append(self.bench_lines(node, now_ns, ts))   # not logged: load only
        return "".join(out).encode(), flat

    # ---- serving -------------------------------------------------------------

    def serve(self, ep, req):
        if ep.server is None:
            # down: a kept-alive connection must not outlive the endpoint
            req.close_connection = True
            try:
                req.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        with self.sim.lock:
            now_ns = self.sim.model.now_ns()
            node = ep.node
        with self.lock:
            f = self.faults.get(ep.hex)
            mode = None
            if f is not None and f["mode"] in ("slow", "http500", "truncated", "garbage"):
                mode = f["mode"]
                if f.get("count") is not None:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        del self.faults[ep.hex]
        data, flat = self.body(node, now_ns)
        rec = {"node_id": ep.hex, "ip": node["node_ip"], "sim_ms": now_ns // 1_000_000,
               "wall": time.time(), "fault": mode, "complete": False}
        try:
            if mode == "slow":
                time.sleep(f.get("delay_ms", 1000) / 1000.0)
            if mode == "http500":
                msg = b"Internal Server Error\n"
                req.send_response(500)
                req.send_header("Content-Type", "text/plain")
                req.send_header("Content-Length", str(len(msg)))
                req.end_headers()
                req.wfile.write(msg)
            elif mode == "truncated":
                req.send_response(200)
                req.send_header("Content-Type", "text/plain; version=0.0.4")
                req.send_header("Content-Length", str(len(data)))
                req.end_headers()
                req.wfile.write(data[:len(data) // 2])
                req.wfile.flush()
                req.close_connection = True
                req.connection.shutdown(socket.SHUT_RDWR)
            elif mode == "garbage":
                junk = b"<html><body>502 Bad Gateway</body></html>\n"
                req.send_response(200)
                req.send_header("Content-Type", "text/html")
                req.send_header("Content-Length", str(len(junk)))
                req.end_headers()
                req.wfile.write(junk)
            else:
                req.send_response(200)
                req.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                req.send_header("Content-Length", str(len(data)))
                req.end_headers()
                req.wfile.write(data)
                req.wfile.flush()
                rec["complete"] = True
                rec["samples"] = flat
        except OSError:
            rec["complete"] = False
            rec.pop("samples", None)
        with self.lock:
            self.served.append(rec)

    # ---- control -------------------------------------------------------------

    def find(self, key):
        for ep in self.endpoints:
            if key in (ep.hex, ep.node["node_ip"]):
                return ep
        raise KeyError("no node %r" % key)

    def fault(self, req):
        ep = self.find(req["node"])
        mode = req["mode"]
        if mode == "none":
            with self.lock:
                self.faults.pop(ep.hex, None)
        elif mode == "down":
            ep.stop()
        elif mode == "up":
            if ep.server is None:
                ep.start(ep.port)
        elif mode == "kill":
            with self.sim.lock:
                now_ms = self.sim.model.now_ns() // 1_000_000
                n = ep.node
                n["t_end"] = now_ms
                n["final"] = {"state": "DEAD", "end_time_ms": now_ms,
                              "death_reason": "UNEXPECTED_TERMINATION",
                              "death_reason_message": "health check failed: node stopped responding"}
            ep.stop()
            return {"killed_at_ms": now_ms}
        else:
            with self.lock:
                self.faults[ep.hex] = dict(req)
        return {}

    def state(self):
        with self.lock:
            return {"nodes": [{"node_id": ep.hex, "ip": ep.node["node_ip"], "port": ep.port,
                               "listening": ep.server is not None} for ep in self.endpoints],
                    "faults": dict(self.faults), "served": len(self.served)}


def start(sim, params):
    """Start one endpoint per node of the loaded scenario and a control port."""
    m = Metrics(sim, params)

    class Control(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _reply(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/served":
                with m.lock:
                    self._reply(200, m.served)
            elif self.path == "/state":
                self._reply(200, m.state())
            else:
                self._reply(404, {"error": "unknown path"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(n) or b"{}")
                if self.path == "/fault":
                    self._reply(200, m.fault(req))
                elif self.path == "/served/clear":
                    with m.lock:
                        m.served.clear()
                    self._reply(200, {})
                else:
                    self._reply(404, {"error": "unknown path"})
            except (KeyError, ValueError) as e:
                self._reply(400, {"error": str(e)})

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    ctl = Server(("127.0.0.1", int(params.get("control_port", 0))), Control)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    return {"metrics_control_port": ctl.server_address[1],
            "metrics_ports": {ep.hex: ep.port for ep in m.endpoints}}
