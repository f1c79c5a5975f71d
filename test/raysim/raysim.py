#!/usr/bin/python3
"""raysim: a simulated Ray GCS for raydar's tests (see docs/simulator.md).

  /usr/bin/python3 test/raysim/raysim.py [--profile P] [--scenario S] ...
      serve GetTaskEvents/CheckAlive and the five cluster methods on 127.0.0.1
      plus an HTTP admin API.
  /usr/bin/python3 test/raysim/raysim.py encode --profile P --expected F.json --out reply.bin
      encode expected_tasks.json rows as that Ray version's GetTaskEventsReply.
  /usr/bin/python3 test/raysim/raysim.py make-certs --dir D
      write a test CA, a server certificate for 127.0.0.1/localhost signed by
      it, and a second unrelated CA (for --tls-cert/--tls-key tests).
"""
import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from raysim import versions  # noqa: E402


def cmd_encode(argv):
    from raysim import encode
    ap = argparse.ArgumentParser(prog="raysim.py encode")
    ap.add_argument("--profile", required=True, choices=versions.PROFILES)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    doc = json.load(open(a.expected))
    data = encode.encode_rows(doc, versions.Profile(a.profile))
    with open(a.out, "wb") as f:
        f.write(data)
    return 0


def cmd_make_certs(argv):
    from raysim import tlscerts
    ap = argparse.ArgumentParser(prog="raysim.py make-certs")
    ap.add_argument("--dir", required=True)
    a = ap.parse_args(argv)
    print(json.dumps(tlscerts.make(a.dir)))
    return 0


def write_port_file(path, info):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)   # atomic: readers never see a partial file


def cmd_serve(argv):
    from raysim import admin, dashboard, faults, gcs, model, replay as replay_mod
    ap = argparse.ArgumentParser(prog="raysim.py")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--profile", default="master", choices=versions.PROFILES)
    ap.add_argument("--scenario", default="empty")
    ap.add_argument("--scenario-params", default="{}", help="JSON object")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch-ms", type=float, default=None)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--token", default=None)
    ap.add_argument("--max-tasks", type=int, default=100000)
    ap.add_argument("--replay", default=None)
    ap.add_argument("--vectors", default=None)
    ap.add_argument("--dashboard-port", type=int, default=None,
                    help="serve the dashboard HTTP State API (0: the OS picks)")
    ap.add_argument("--dashboard-max-requests", type=int, default=100,
                    help="in-flight State API requests before 429 (RAY_STATE_SERVER_MAX_HTTP_REQUEST)")
    ap.add_argument("--dashboard-json", choices=("ray", "proto3"), default="ray",
                    help="proto3: rows in protobuf JSON's other forms (raysim/proto3json.py)")
    ap.add_argument("--tls-cert", default=None, help="serve the dashboard over HTTPS")
    ap.add_argument("--tls-key", default=None)
    ap.add_argument("--metrics", default=None,
                    help="JSON object: serve each node's Prometheus /metrics (raysim/metrics_endpoint.py)")
    ap.add_argument("--aggregator", default=None,
                    help="JSON object: push Ray's Event Export to a URL (raysim/push_feed.py)")
    a = ap.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if a.tls_cert and a.dashboard_port is None:
        ap.error("--tls-cert needs --dashboard-port")

    # An abort() (the RAY_CHECK hazard) must not leave core files behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    clock = model.Clock(a.epoch_ms, a.speed)
    m = model.ClusterModel(clock, a.max_tasks)
    rp = replay_mod.Replay(a.replay) if a.replay else None
    profile = rp.profile if rp else a.profile
    sim = gcs.Sim(m, profile, faults.Faults(), token=a.token, replay=rp)
    ctl = admin.Controller(sim, a.seed, a.vectors)
    if not rp:
        ctl.load_scenario(a.scenario, json.loads(a.scenario_params),
                          base_ns=int(clock.epoch_ms) * 1_000_000)
    sim.server = gcs.GcsServer(sim, a.port)
    port = sim.server.start()
    adm = admin.serve_admin(ctl, a.admin_port)
    info = {"grpc_port": port, "admin_port": adm.server_address[1], "pid": os.getpid()}
    dash = None
    if a.dashboard_port is not None:
        dash = dashboard.serve(sim, a.dashboard_port, a.tls_cert, a.tls_key, a.dashboard_max_requests)
        dash.json_mode = a.dashboard_json
        ctl.dashboard = dash
        info["dashboard_port"] = dash.port
        info["dashboard_url"] = "%s://127.0.0.1:%d" % (dash.scheme, dash.port)
    if a.metrics is not None:
        from raysim import metrics_endpoint
        info.update(metrics_endpoint.start(sim, json.loads(a.metrics)))
    if a.aggregator is not None:
        from raysim import push_feed
        info.update(push_feed.start(sim, json.loads(a.aggregator)))
    if a.port_file:
        write_port_file(a.port_file, info)
    sys.stderr.write("[raysim] listening %s\n" % json.dumps(info))
    sys.stderr.flush()
    try:
        ctl.shutdown_event.wait()
    except KeyboardInterrupt:
        pass
    sim.server.stop()
    if dash is not None:
        dash.stop()
    adm.shutdown()
    return 0


def main(argv):
    if argv and argv[0] == "encode":
        return cmd_encode(argv[1:])
    if argv and argv[0] == "make-certs":
        return cmd_make_certs(argv[1:])
    return cmd_serve(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
