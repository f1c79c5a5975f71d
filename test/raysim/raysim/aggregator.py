"""Ray's per-node aggregator agent: buffers RayEvents and POSTs them to a URL.

One NodeAgent per simulated node, each with its own buffer and one sender
thread, so one POST is in flight per node: in order within a node, no
order across nodes (python/ray/dashboard/modules/aggregator/
aggregator_agent.py and publisher/ray_event_publisher.py). Two policies:

- "2.49": up to 10,000 events per POST, sent as soon as any are buffered
  (0.1 s sleep only when empty); buffer 1,000,000, oldest dropped; no
  request timeout; urllib3 Retry(total=5, backoff_factor=1.0,
  status_forcelist=500/502/503/504) honouring Retry-After (413/429/503);
  after any failure the same batch is kept, topped up and re-posted at once.
- "feb26": up to 1,000 events per POST, lingering up to 0.1 s after the
  first; buffer 100,000, oldest dropped; 3 s total timeout; the same batch
  retried forever on any failure (4xx included, Retry-After ignored) after
  min(5, 0.01 * 2^k) s +-10 %.

Success is any status below 400; the body is ignored. Delivery is at least
once. Faults (set_fault) make the sender misbehave the way networks and
Ray do: see FAULTS and docs/simulator.md, "Event Export aggregator".

`time_scale` multiplies every sleep of the retry policies (tests use 0.01
to see 2.49's 2+4+8+16 s backoff in a fraction of a second).
"""
import collections
import http.client
import random
import socket
import struct
import threading
import time
import urllib.parse

from . import rayevents

POLICIES = {
    "2.49": {"batch": 10000, "buffer": 1000000, "linger": 0.0, "timeout": None},
    "feb26": {"batch": 1000, "buffer": 100000, "linger": 0.1, "timeout": 3.0},
}
URLLIB3_RETRIES = 5
URLLIB3_FORCELIST = (500, 502, 503, 504)
RETRY_AFTER_STATUSES = (413, 429, 503)     # urllib3 Retry.RETRY_AFTER_STATUS_CODES

FAULTS = ("down", "slow", "reset", "drop_reply", "duplicate", "hold")


class PostError(Exception):
    def __init__(self, kind, status=None, retry_after=None):
        super().__init__(kind)
        self.kind = kind              # "status", "refused", "reset", "timeout", "fault", ...
        self.status = status
        self.retry_after = retry_after


def percentiles(values, ps=(50, 90, 99, 100)):
    if not values:
        return {("p%d" % p): None for p in ps}
    v = sorted(values)
    return {("p%d" % p): round(v[min(len(v) - 1, int(len(v) * p / 100.0))] * 1000.0, 3) for p in ps}


class Stats:
    """Counters of one node's agent (read under the agent's lock)."""

    def __init__(self):
        self.events_in = 0          # events handed to the agent
        self.events_dropped = 0     # oldest events dropped from a full buffer
        self.events_acked = 0       # events in batches answered < 400
        self.batches_acked = 0
        self.posts = 0              # POST attempts (urllib3 retries included)
        self.retries = 0            # POSTs that repeated an unacknowledged batch
        self.failures = collections.Counter()   # kind or status -> count
        self.statuses = collections.Counter()
        self.duplicates_sent = 0    # acknowledged batches sent again (fault)
        self.latencies = []         # seconds per POST that got an answer

    def as_dict(self):
        d = {k: getattr(self, k) for k in ("events_in", "events_dropped", "events_acked",
                                             "batches_acked", "posts", "retries", "duplicates_sent")}
        d["failures"] = dict(self.failures)
        d["statuses"] = {str(k): v for k, v in self.statuses.items()}
        d["latency_ms"] = percentiles(self.latencies)
        return d


class Poster:
    """One keep-alive HTTP connection and the fault-aware POST."""

    def __init__(self, url, timeout, agent):
        self.url = url
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise ValueError("url must be http:// or https://")
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.timeout = timeout
        self.agent = agent
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def _connect(self):
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=self.timeout)
        return self.conn

    def post(self, data):
        """POST data; returns (status, retry_after) or raises PostError.

        A timeout is a total, as aiohttp's ClientTimeout(total=3): a timer
        shuts the socket down when it passes, whatever stage the POST is in
        (socket timeouts alone would restart at every byte received)."""
        if self.agent.agg.url != self.url:
            self.close()
            self.__init__(self.agent.agg.url, self.timeout, self.agent)
        if self.timeout is None:
            return self._post(data)
        fired = []

        def expire():
            fired.append(True)
            c = self.conn
            if c is not None and c.sock is not None:
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        t = threading.Timer(self.timeout, expire)
        t.daemon = True
        t.start()
        try:
            return self._post(data)
        except PostError:
            if fired:
                self.close()
                raise PostError("timeout")
            raise
        finally:
            t.cancel()

    def _post(self, data):
        fault = self.agent.take_fault(("down", "slow", "reset", "drop_reply"))
        if fault and fault["mode"] == "down":
            raise PostError("refused")
        try:
            c = self._connect()
            hdrs = {"Content-Type": "application/json", "Content-Length": str(len(data))}
            if fault and fault["mode"] in ("slow", "reset"):
                c.putrequest("POST", self.path, skip_accept_encoding=True)
                for k, v in hdrs.items():
                    c.putheader(k, v)
                c.endheaders()
                half = len(data) // 2
                c.send(data[:half])
                if fault["mode"] == "reset":
                    # Abort with RST (SO_LINGER 0): the receiver sees half a body.
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close()
                    raise PostError("reset")
                time.sleep(float(fault.get("delay_ms", 500)) / 1000.0)
                c.send(data[half:])
            else:
                c.request("POST", self.path, body=data, headers=hdrs)
            if fault and fault["mode"] == "drop_reply":
                # The request went out whole; the reply is lost (the batch may
                # well be stored): at-least-once makes this a duplicate.
                self.close()
                raise PostError("reply_lost")
            r = c.getresponse()
            r.read()
            ra = r.getheader("Retry-After")
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, ra
        except PostError:
            raise
        except socket.timeout:
            self.close()
            raise PostError("timeout")
        except ConnectionRefusedError:
            self.close()
            raise PostError("refused")
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            self.close()
            raise PostError(type(e).__name__)


class NodeAgent:
    """The aggregator agent of one node: buffer + one sender thread."""

    def __init__(self, agg, node_id, policy):
        self.agg = agg
        self.node_id = node_id
        self.node_hex = node_id.hex() if isinstance(node_id, bytes) else str(node_id)
        self.pol = dict(POLICIES[policy], **agg.overrides)
        self.policy = policy
        self.buf = collections.deque()
        self.cv = threading.Condition()
        self.stats = Stats()
        self.inflight = 0           # events taken from the buffer, not yet acked
        self.rng = random.Random(hash(self.node_hex) & 0xffff)
        self.stop = False
        self.thread = threading.Thread(target=self._run, name="agg-%s" % self.node_hex[:8], daemon=True)

    # -- buffer ---------------------------------------------------------------
    def put_many(self, texts):
        with self.cv:
            cap = self.pol["buffer"]
            for t in texts:
                if len(self.buf) >= cap:
                    self.buf.popleft()          # the oldest goes (bounded buffer)
                    self.stats.events_dropped += 1
                self.buf.append(t)
            self.stats.events_in += len(texts)
            self.cv.notify_all()

    def _take(self, n):
        out = []
        while self.buf and len(out) < n:
            out.append(self.buf.popleft())
        self.inflight += len(out)
        return out

    def _requeue(self, batch):
        """Stopped with an unacknowledged batch: put it back in front, so a
        reconfigured agent (push_feed) sends it again."""
        with self.cv:
            self.buf.extendleft(reversed(batch))
            self.inflight -= len(batch)

    def idle(self):
        with self.cv:
            return not self.buf and self.inflight == 0

    def take_fault(self, modes):
        return self.agg.take_fault(self.node_hex, modes)

    # -- sender ---------------------------------------------------------------
    def _run(self):
        try:
            if self.policy == "2.49":
                self._run_249()
            else:
                self._run_feb26()
        finally:
            if self.poster is not None:
                self.poster.close()

    poster = None

    def _sleep(self, s):
        """Sleep s seconds (new events do not cut it short; stop does)."""
        end = time.monotonic() + s
        with self.cv:
            while not self.stop:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cv.wait(left)

    def _hold(self):
        f = self.take_fault(("hold",))
        if f:
            # Cross-node reordering: this node waits, the others go on.
            self._sleep(float(f.get("ms", 500)) / 1000.0)

    def _post_once(self, data):
        """One POST, timed and counted. Returns (status, retry_after) or raises."""
        st = self.stats
        self._hold()
        t0 = time.monotonic()
        with self.cv:
            st.posts += 1
        try:
            status, ra = self.poster.post(data)
        except PostError as e:
            with self.cv:
                st.failures[e.kind] += 1
            raise
        dt = time.monotonic() - t0
        with self.cv:
            st.statuses[status] += 1
            st.latencies.append(dt)
            if len(st.latencies) > 200000:
                del st.latencies[:100000]
        return status, ra

    def _acked(self, batch, data):
        self.agg.record(self, data)
        f = self.take_fault(("duplicate",))
        if f:
            # Deliver an acknowledged batch again (at least once); the batch
            # stays in flight until then, so idle() means nothing is left.
            for _ in range(int(f.get("times", 1))):
                try:
                    s, _ = self._post_once(data)
                    with self.cv:
                        self.stats.duplicates_sent += 1
                    if s < 400:
                        self.agg.record(self, data, duplicate=True, status=s)
                except PostError:
                    pass
        with self.cv:
            self.stats.events_acked += len(batch)
            self.stats.batches_acked += 1
            self.inflight -= len(batch)
            self.cv.notify_all()

    def _wait_events(self):
        with self.cv:
            while not self.buf and not self.stop:
                self.cv.wait(0.05)
            return not self.stop

    def _run_feb26(self):
        pol = self.pol
        self.poster = Poster(self.agg.url, pol["timeout"], self)
        while self._wait_events():
            # Linger up to 0.1 s after the first event unless the batch is full.
            deadline = time.monotonic() + pol["linger"]
            with self.cv:
                while len(self.buf) < pol["batch"] and not self.stop:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cv.wait(left)
                batch = self._take(pol["batch"])
            if not batch:
                continue
            data = rayevents.body(batch)
            k = 0
            while True:
                if self.stop:
                    self._requeue(batch)
                    return
                try:
                    status, _ = self._post_once(data)
                    if status < 400:
                        self._acked(batch, data)
                        break
                except PostError:
                    pass
                # The same batch again, forever, 4xx included.
                delay = min(pol.get("max_backoff", 5.0), pol.get("initial_backoff", 0.01) * (2 ** k))
                delay *= self.rng.uniform(0.9, 1.1)
                k += 1
                with self.cv:
                    self.stats.retries += 1
                self._sleep(delay * self.agg.time_scale)

    def _urllib3_post(self, data):
        """requests/urllib3 with Retry(total=5, backoff_factor=1.0, forcelist 5xx):
        raises PostError once retries are exhausted or the error is final."""
        errors = 0
        while True:
            if self.stop:
                raise PostError("stopped")
            try:
                status, ra = self._post_once(data)
            except PostError:
                # connect/read errors count against Retry(total=5) too
                if errors >= URLLIB3_RETRIES:
                    raise
                errors += 1
                self._sleep(self._backoff(errors))
                continue
            if status < 400:
                return status
            if status not in URLLIB3_FORCELIST or errors >= URLLIB3_RETRIES:
                raise PostError("status", status)
            errors += 1
            wait = None
            if ra is not None and status in RETRY_AFTER_STATUSES:
                try:
                    wait = max(0.0, float(ra))
                except ValueError:
                    wait = None
            if wait is None:
                wait = self._backoff(errors)
            else:
                wait *= self.agg.time_scale
            self._sleep(wait)

    def _backoff(self, consecutive):
        # urllib3 Retry.get_backoff_time: 0 for the first retry, then
        # backoff_factor * 2^(n-1), at most 120 s.
        if consecutive <= 1:
            return 0.0
        return min(120.0, 1.0 * (2 ** (consecutive - 1))) * self.agg.time_scale

    def _run_249(self):
        pol = self.pol
        self.poster = Poster(self.agg.url, pol["timeout"], self)
        batch = []
        while not self.stop:
            with self.cv:
                if len(batch) < pol["batch"]:
                    batch.extend(self._take(pol["batch"] - len(batch)))
            if not batch:
                self._sleep(0.1)        # nothing buffered: the only sleep
                continue
            data = rayevents.body(batch)
            try:
                self._urllib3_post(data)
            except PostError:
                # Keep the batch, top it up and post again at once.
                with self.cv:
                    self.stats.retries += 1
                continue
            self._acked(batch, data)
            batch = []
        if batch:
            self._requeue(batch)


class Aggregator:
    """The agents of all nodes, their faults and a log of acknowledged bodies."""

    def __init__(self, url, policy="feb26", time_scale=1.0, keep_bodies=True, overrides=None):
        if policy not in POLICIES:
            raise ValueError("policy must be one of %s" % ", ".join(POLICIES))
        self.url = url
        self.policy = policy
        self.time_scale = float(time_scale)
        self.overrides = dict(overrides or {})
        self.agents = {}
        self.lock = threading.Lock()
        self.faults = []            # [{"mode", "count", "node"?...}]
        self.keep_bodies = keep_bodies
        self.log = []               # (node hex, body bytes, duplicate) in ack order
        self.started = False

    def agent(self, node_id):
        key = node_id.hex() if isinstance(node_id, bytes) else str(node_id)
        with self.lock:
            a = self.agents.get(key)
            if a is None:
                a = self.agents[key] = NodeAgent(self, node_id, self.policy)
                if self.started:
                    a.thread.start()
            return a

    def start(self):
        with self.lock:
            self.started = True
            for a in self.agents.values():
                if not a.thread.is_alive():
                    a.thread.start()

    def stop(self, timeout=5):
        for a in list(self.agents.values()):
            with a.cv:
                a.stop = True
                a.cv.notify_all()
        for a in list(self.agents.values()):
            if a.thread.is_alive():
                a.thread.join(timeout)

    def feed(self, emitted):
        """Hand rayevents.Emitted events to their nodes' agents, in order."""
        per = collections.OrderedDict()
        for e in emitted:
            per.setdefault(e.node, []).append(e.text)
        for node, texts in per.items():
            self.agent(node).put_many(texts)

    def set_fault(self, spec):
        mode = spec.get("mode", "none")
        with self.lock:
            if mode == "none":
                self.faults = [f for f in self.faults if spec.get("node") and f.get("node") != spec["node"]]
                return
            if mode not in FAULTS:
                raise ValueError("unknown fault %r (known: none, %s)" % (mode, ", ".join(FAULTS)))
            f = dict(spec)
            f["count"] = int(spec.get("count", 1))   # -1: until cleared
            self.faults.append(f)

    def take_fault(self, node_hex, modes):
        with self.lock:
            for f in self.faults:
                if f["mode"] in modes and f.get("node") in (None, node_hex):
                    if f["count"] > 0:
                        f["count"] -= 1
                        if f["count"] == 0:
                            self.faults.remove(f)
                    return f
        return None

    def record(self, agent, data, duplicate=False, status=None):
        if self.keep_bodies:
            with self.lock:
                self.log.append((agent.node_hex, data, duplicate))

    def idle(self):
        return all(a.idle() for a in list(self.agents.values()))

    def wait_idle(self, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    def stats(self):
        nodes = {k: a.stats.as_dict() for k, a in list(self.agents.items())}
        keys = ("events_in", "events_dropped", "events_acked", "batches_acked", "posts",
                "retries", "duplicates_sent")
        tot = {k: 0 for k in keys}
        lat = []
        for a in list(self.agents.values()):
            for k in keys:
                tot[k] += getattr(a.stats, k)
            lat.extend(a.stats.latencies)
        d = dict(tot)
        d["latency_ms"] = percentiles(lat)
        d["buffered"] = sum(len(a.buf) for a in list(self.agents.values()))
        d["idle"] = self.idle()
        with self.lock:
            d["faults"] = [dict(f) for f in self.faults]
        return {"url": self.url, "policy": self.policy, "total": d, "nodes": nodes}

    def bodies(self, include_duplicates=True):
        with self.lock:
            return [b for _, b, dup in self.log if include_duplicates or not dup]
