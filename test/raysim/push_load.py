#!/usr/bin/python3
"""push_load: push N simulated task attempts to an Event Export receiver.

    /usr/bin/python3 test/raysim/push_load.py --url http://127.0.0.1:8084/events/c1 \
        --attempts 100000 --nodes 4 [--rate 10000] [--procs 2] [--shape feb26|2.49] \
        [--keys camel|snake] [--policy feb26|2.49] [--seed 0] [--epoch-ms MS] [--batch N] [--drop] \
        [--expected-out rows.jsonl] [--receiver] [--pregenerate]

Prints one JSON object: attempts, events, posts, acked_batches,
acked_events, retried, dropped, failures, latency_ms {p50,p90,p99,p100},
elapsed_s, encode_s, posting_since (Unix time the first POST was begun),
attempts_per_s, events_per_s, complete. --rate 0 (default)
pushes as fast as possible; --receiver starts the trivial stdlib receiver
(raysim/push_receiver.py) in a child process and pushes to it (the
baseline of bench/push/run.sh). Exit status 1 if not every event was
acknowledged. See docs/simulator.md, "Event Export aggregator".
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from raysim import loadgen  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(prog="push_load.py")
    ap.add_argument("--url")
    ap.add_argument("--receiver", action="store_true", help="push to a trivial stdlib receiver")
    ap.add_argument("--attempts", type=int, default=100000)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--procs", type=int, default=1, help="sender processes (nodes split among them)")
    ap.add_argument("--rate", type=float, default=0.0, help="attempts per second (0: as fast as possible)")
    ap.add_argument("--profile", default="master", choices=["2.49", "master", "2.58"])
    ap.add_argument("--shape", choices=["2.49", "feb26"], default=None)
    ap.add_argument("--keys", choices=["camel", "snake"], default="camel")
    ap.add_argument("--policy", choices=["2.49", "feb26"], default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch-ms", type=float, default=None,
                    help="first attempt's start, ms since the epoch (default: now)")
    ap.add_argument("--batch", type=int, default=None, help="events per POST (default: the policy's)")
    ap.add_argument("--drop", action="store_true", help="drop the oldest as Ray does (default: backpressure)")
    ap.add_argument("--pregenerate", action="store_true",
                    help="encode every event before the clock starts (about 2 kB an attempt)")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--expected-out", default=None, help="JSON lines: rows Ray's merge gives (needs --procs 1)")
    a = ap.parse_args(argv)
    if bool(a.url) == bool(a.receiver):
        ap.error("give exactly one of --url and --receiver")
    rcv = None
    url = a.url
    if a.receiver:
        here = os.path.dirname(os.path.abspath(__file__))
        rcv = subprocess.Popen([sys.executable, "-m", "raysim.push_receiver", "--port", "0",
                                "--seconds", str(a.timeout + 60)], cwd=here,
                               stdout=subprocess.PIPE, text=True)
        url = "http://127.0.0.1:%d/events/load" % json.loads(rcv.stdout.readline())["port"]
    try:
        out = loadgen.run(url, a.attempts, nodes=a.nodes, rate=a.rate, profile=a.profile,
                          shape=a.shape, keys=a.keys, policy=a.policy, seed=a.seed,
                          time_scale=a.time_scale, drop=a.drop, batch=a.batch,
                          expected_out=a.expected_out, timeout_s=a.timeout, procs=a.procs,
                          pregenerate=a.pregenerate, epoch_ms=a.epoch_ms)
    finally:
        if rcv is not None:
            rcv.terminate()
            tail = rcv.communicate(timeout=10)[0].strip().splitlines()
    if rcv is not None:
        out["receiver"] = "stdlib ThreadingHTTPServer (raysim/push_receiver.py)"
        if tail:
            try:
                out["receiver_counts"] = json.loads(tail[-1])
            except ValueError:
                pass
    print(json.dumps(out))
    return 0 if out["complete"] and out["acked_events"] == out["events"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
