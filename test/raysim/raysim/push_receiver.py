"""A small stdlib HTTP receiver for Event Export tests and the load baseline.

Records every POST (path, headers, body, arrival time) and answers from a
script: each entry of `script` answers one request in order
({"status": 503, "retry_after": "1"}, {"delay_ms": 4000}, {"status": 400},
{"close": true} to drop the connection unanswered), then 200 with an
empty body. keep=False only counts (requests, bytes, events) for speed.

    with Receiver() as r:
        r.url                      # http://127.0.0.1:PORT/events/c1
        r.script.extend([...]); r.requests; r.wait_events(n)

Also a command: `python3 -m raysim.push_receiver --port 0` prints its port
as JSON and counts until killed (the trivial receiver of bench/push).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, path="/events/c1", keep=True, port=0):
        self.keep = keep
        self.script = []
        self.requests = []          # dicts: path, headers, body, t, status
        self.lock = threading.Lock()
        self.count = {"requests": 0, "bytes": 0, "events": 0, "incomplete": 0}
        self.active = 0             # requests being read now; max_active: the most at once
        self.max_active = 0
        self.srv = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d%s" % (self.port, path)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def _handler(rcv):
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                with rcv.lock:
                    rcv.active += 1
                    rcv.max_active = max(rcv.max_active, rcv.active)
                try:
                    self._post()
                finally:
                    with rcv.lock:
                        rcv.active -= 1

            def _post(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = self.rfile.read(n)
                except OSError:
                    body = b""
                if len(body) < n:
                    with rcv.lock:
                        rcv.count["incomplete"] += 1
                    self.close_connection = True
                    return
                t = time.monotonic()
                with rcv.lock:
                    step = rcv.script.pop(0) if rcv.script else {}
                    rcv.count["requests"] += 1
                    rcv.count["bytes"] += n
                    rcv.count["events"] += body.count(b'"eventId"') + body.count(b'"event_id"')
                    if rcv.keep:
                        rcv.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                             "body": body, "t": t,
                                             "status": step.get("status", 200)})
                if step.get("delay_ms"):
                    time.sleep(step["delay_ms"] / 1000.0)
                if step.get("close"):
                    self.close_connection = True
                    return
                try:
                    self.send_response(step.get("status", 200))
                    if step.get("retry_after") is not None:
                        self.send_header("Retry-After", str(step["retry_after"]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    self.close_connection = True     # the client gave up (timeout)
        return H

    def ok_bodies(self):
        with self.lock:
            return [r["body"] for r in self.requests if r["status"] < 400]

    def wait_requests(self, n, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.count["requests"] >= n:
                    return True
            time.sleep(0.01)
        return False

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="push_receiver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args(argv)
    r = Receiver(path="/", keep=False, port=a.port)
    print(json.dumps({"port": r.port}), flush=True)
    end = time.monotonic() + a.seconds
    try:
        while time.monotonic() < end:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    print(json.dumps(r.count), flush=True)
    r.close()


if __name__ == "__main__":
    main(sys.argv[1:])
