"""Load generator: N task attempts over K nodes pushed as Ray's aggregators would.

Attempt i is owned by a worker on node i % K and runs on node (i+1) % K
(one node: both on it), so every attempt's events come from two agents
with no order between them. Events per attempt (rayevents' reporting
model, with the owner's three pending states in one flush):
  owner:    definition + lifecycle {PENDING_ARGS_AVAIL, PENDING_NODE_ASSIGNMENT,
            SUBMITTED_TO_WORKER}, later lifecycle {FINISHED | FAILED}
  executor: lifecycle {RUNNING}
Values vary (VARIANTS): unicode names, a 10 kB name, quotes and control
characters, resource maps, label selectors, runtime envs, call sites,
attempts 0-2, failures with ANSI-coloured and unicode error messages.

Speed: each variant is encoded once with rayevents.Encoder (the slow,
checked path) around random marker ids and marker times, then turned into
a %-format string; an attempt is one formatting per event. test
t/110_push_aggregator.py checks that a formatted attempt equals the
Encoder's own output for it.
"""
import base64
import json
import random
import time

from . import rayevents, scenarios
from .model import TaskAttempt

MS = 1_000_000
SEC = 1_000_000_000

ANSI_ERR = ("\x1b[36mray::load_task()\x1b[39m (pid=4242, ip=10.0.0.9)\n"
            "  File \"load.py\", line 7, in load_task\nValueError: ünïcødé \"boom\" ☠")


def variants():
    """(kwargs for TaskAttempt, failed) per variant: every value shape once."""
    names = list(scenarios.VARIED_NAMES) + [("é" * 3000 + "x" * 4000)[:10239], "t" * 257]
    maps = list(scenarios.VARIED_MAPS) + [{"custom_%d" % k: float(k) for k in range(12)}]
    out = []
    n = max(len(names), len(maps)) * 2
    for k in range(n):
        failed = k % 5 == 2
        kw = {"name": names[k % len(names)], "func_or_class_name": "__main__.f_%d" % (k % 7),
              "required_resources": maps[k % len(maps)], "attempt_number": k % 3,
              "serialized_runtime_env": [None, "", '{"pip": ["requests"]}', "{}"][k % 4],
              "call_site": [None, "", 'File "x.py", line %d, in "q"' % k][k % 3],
              "label_selector": [{}, {"zone": "ü-1"}][k % 2]}
        if failed:
            kw["error_type"] = ["TASK_EXECUTION_EXCEPTION", "WORKER_DIED", "OUT_OF_MEMORY"][k % 3]
            kw["error_message"] = [ANSI_ERR, "", "worker died ☠ \"%d\"" % k][k % 3]
        out.append((kw, failed))
    return out


class Generator:
    """Attempts and their encoded events, fast (templates) or slow (Encoder)."""

    def __init__(self, profile="master", shape=None, keys="camel", nodes=4, seed=0,
                 base_ns=None, step_ns=50_000, duration_ns=SEC, session="session_push_load"):
        self.profile = profile
        self.shape = shape or rayevents.shape_for_profile(profile)
        self.keys = keys
        self.rng = random.Random(seed)
        self.session = session
        self.k = max(1, int(nodes))
        self.node_ids = [self.rng.randbytes(28) for _ in range(self.k)]
        self.owner_w = [(self.rng.randbytes(28), 1000 + i) for i in range(self.k)]
        self.exec_w = [(self.rng.randbytes(28), 2000 + i) for i in range(self.k)]
        self.job = (1).to_bytes(4, "little")
        self.parent = self.rng.randbytes(20) + self.job
        # base on a whole second so the owner's pending states share a flush
        self.base = (base_ns if base_ns is not None else int(time.time()) * SEC) // SEC * SEC
        self.step = int(step_ns)
        self.dur = max(int(duration_ns), SEC)
        self.salt = self.rng.randbytes(12)
        self.node_b64 = [base64.b64encode(n).decode() for n in self.node_ids]
        self.own_b64 = [base64.b64encode(w).decode() for w, _ in self.owner_w]
        self.ex_b64 = [base64.b64encode(w).decode() for w, _ in self.exec_w]
        self.variants = variants()
        self._tpl = {}
        self._ts_cache = {}

    # -- the attempts -------------------------------------------------------------
    def nodes_of(self, i):
        own = i % self.k
        ex = (i + 1) % self.k
        return own, ex

    def times(self, i):
        s = self.base + i * self.step
        # The owner's pending states in s's flush window, RUNNING 1 ms
        # later, the end at least a second after: four events an attempt
        # (definition, owner pending, executor running, owner end).
        s = min(s, (s // SEC + 1) * SEC - 2 * MS)
        return [s, s + 100_000, s + 500_000, s + MS, s + MS + self.dur]

    def attempt(self, i, task_id=None, times=None, pid=None):
        """The TaskAttempt i (slow path, for checks and templates)."""
        kw, failed = self.variants[i % len(self.variants)]
        own, ex = self.nodes_of(i)
        t = times or self.times(i)
        states = [("PENDING_ARGS_AVAIL", t[0]), ("PENDING_NODE_ASSIGNMENT", t[1]),
                  ("SUBMITTED_TO_WORKER", t[2]), ("RUNNING", t[3]),
                  ("FAILED" if failed else "FINISHED", t[4])]
        kw = dict(kw)
        return TaskAttempt(task_id if task_id is not None else self.task_id(i), self.job,
                           kw.pop("name"), kw.pop("func_or_class_name"), states,
                           parent_task_id=self.parent, node_id=self.node_ids[ex],
                           worker_id=self.exec_w[ex][0],
                           worker_pid=pid if pid is not None else self.exec_w[ex][1],
                           node_ip="10.0.0.%d" % (ex + 1), **kw)

    def task_id(self, i):
        # unique per i and seed; 24 bytes ending with the job id, as Ray's
        return self.salt + i.to_bytes(8, "big") + self.job

    def slow_events(self, i, event_ids=None):
        """[(node index, flush ns, text)] for attempt i through rayevents.Encoder."""
        a = self.attempt(i)
        own, ex = self.nodes_of(i)
        enc = rayevents.Encoder(self.profile, shape=self.shape, keys=self.keys,
                                session_name=self.session, gcs_events=False)
        if event_ids is not None:
            it = iter(event_ids)
            enc.event_id = lambda: next(it)
        out = []
        enc.attempt_events(a, (self.node_ids[own], self.owner_w[own][0], self.owner_w[own][1]), out)
        idx = {n: j for j, n in enumerate(self.node_ids)}
        return [(idx[e.node], e.at_ns, e.text) for e in out]

    # -- templates ------------------------------------------------------------------
    PID_MARK = 7654321

    def _template(self, v):
        """Per variant: [(who, state index giving the flush, %-format)]."""
        t = self._tpl.get(v)
        if t is not None:
            return t
        # Markers: random ids, far-future times whose flushes all differ,
        # a pid no value holds; each is unique in the text.
        mk = random.Random(v * 31 + 7)
        tid = mk.randbytes(20) + self.job
        eids = [mk.randbytes(28) for _ in range(8)]
        B = 4102444800 * SEC + v * 1000 * SEC            # 2100-01-01 + v ks
        times = [B + 1000, B + 100_000, B + 500_000, B + 10 * SEC + MS, B + 20 * SEC + 2 * MS]
        a = self.attempt(v, task_id=tid, times=times, pid=self.PID_MARK)
        own, ex = self.nodes_of(v)
        enc = rayevents.Encoder(self.profile, shape=self.shape, keys=self.keys,
                                session_name=self.session, gcs_events=False)
        it = iter(eids)
        enc.event_id = lambda: next(it)
        out = []
        enc.attempt_events(a, (self.node_ids[own], self.owner_w[own][0], self.owner_w[own][1]), out)
        marks = {rayevents.b64(tid): "tid"}
        for j, e in enumerate(eids):
            marks[rayevents.b64(e)] = "e%d" % j
        for j, ns in enumerate(times):
            marks[rayevents.ts(ns)] = "t%d" % j
        flush_of = {}
        for j in (0, 3, 4):
            flush_of[(times[j] // SEC + 1) * SEC] = j
            marks[rayevents.ts((times[j] // SEC + 1) * SEC)] = "f%d" % j
        marks[rayevents.b64(self.node_ids[own])] = "own_node"
        marks[rayevents.b64(self.owner_w[own][0])] = "own_worker"
        if self.k > 1:
            marks[rayevents.b64(self.node_ids[ex])] = "ex_node"
        marks[rayevents.b64(self.exec_w[ex][0])] = "ex_worker"
        marks[str(self.PID_MARK)] = "ex_pid"
        fmts = []
        for e in out:
            txt = e.text.replace("%", "%%")
            for m, name in sorted(marks.items(), key=lambda kv: -len(kv[0])):
                txt = txt.replace(m, "%%(%s)s" % name)
            who = "own" if e.node == self.node_ids[own] else "ex"
            fmts.append((who, flush_of[e.at_ns], txt))
        self._tpl[v] = fmts
        return fmts

    def _ts(self, ns):
        s, frac = divmod(ns, SEC)
        head = self._ts_cache.get(s)
        if head is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            head = self._ts_cache[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
        if frac == 0:
            return head + "Z"
        if frac % 1_000_000 == 0:
            return "%s.%03dZ" % (head, frac // 1_000_000)
        if frac % 1000 == 0:
            return "%s.%06dZ" % (head, frac // 1000)
        return "%s.%09dZ" % (head, frac)

    def fast_events(self, i, event_ids=None, mine=None):
        """Same as slow_events(i), by formatting the variant's template
        (only the events of nodes in `mine`, a set of indexes, if given)."""
        fmts = self._template(i % len(self.variants))
        own, ex = self.nodes_of(i)
        if mine is not None and own not in mine and ex not in mine:
            return []
        t = self.times(i)
        b64 = base64.b64encode
        d = {"tid": b64(self.salt + i.to_bytes(8, "big") + self.job).decode(),
             "own_node": self.node_b64[own], "own_worker": self.own_b64[own],
             "ex_node": self.node_b64[ex], "ex_worker": self.ex_b64[ex],
             "ex_pid": self.exec_w[ex][1]}
        for j, ns in enumerate(t):
            d["t%d" % j] = self._ts(ns)
        fl = {}
        for j in (0, 3, 4):
            fl[j] = (t[j] // SEC + 1) * SEC
            d["f%d" % j] = self._ts(fl[j])
        rb = self.rng.randbytes
        out = []
        for j, (who, fj, fmt) in enumerate(fmts):
            node = own if who == "own" else ex
            if mine is not None and node not in mine:
                continue
            d["e%d" % j] = b64(event_ids[j] if event_ids is not None else rb(28)).decode()
            out.append((node, fl[fj], fmt % d))
        return out


def _push(url, attempts, mine, rate, profile, shape, keys, policy, seed, time_scale, drop,
          batch, keep, timeout_s, t_start, pregenerate=False, base_ns=None):
    """Push the events of nodes `mine` (indexes) of attempts 0..N-1.
    Returns (aggregator stats, latencies, events sent, encode seconds, bodies)."""
    from . import aggregator
    gen = Generator(profile, shape, keys, len(mine[1]), seed, base_ns=base_ns)
    mine_set = set(mine[0])
    # Event ids drawn after the shared node and worker ids: each process
    # (a set of nodes) its own stream, or every process would send the
    # same ids (as a real cluster never does) and they would be deduped.
    gen.rng = random.Random("%d/%s" % (seed, ",".join(map(str, mine[0]))))
    pol = policy or gen.shape
    over = {"batch": int(batch)} if batch else {}
    agg = aggregator.Aggregator(url, pol, time_scale, keep_bodies=keep, overrides=over)
    agents = {k: agg.agent(gen.node_ids[k]) for k in mine[0]}
    limit = 4 * next(iter(agents.values())).pol["batch"]
    enc_s = 0.0
    sent = 0
    chunk = 200
    per = {k: [] for k in agents}
    pre = None
    if pregenerate:
        # Encode everything first (memory: about 2 kB an attempt), so the
        # timed part is only batching and POSTing: the receiver's speed.
        e0 = time.monotonic()
        pre = []
        for i in range(0, attempts, chunk):
            part = {k: [] for k in agents}
            for j in range(i, min(attempts, i + chunk)):
                for node, _, txt in gen.fast_events(j, mine=mine_set):
                    part[node].append(txt)
            pre.append(part)
        enc_s = time.monotonic() - e0
        t_start = time.monotonic()
    agg.start()
    posting_since = time.time()     # wall clock: compared with other processes' times
    i = 0
    while i < attempts:
        n = min(chunk, attempts - i)
        if rate > 0:
            d = t_start + (i + n) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
        e0 = time.monotonic()
        if pre is not None:
            per = pre[i // chunk]
            pre[i // chunk] = None
        else:
            for j in range(i, i + n):
                for node, _, txt in gen.fast_events(j, mine=mine_set):
                    per[node].append(txt)
            enc_s += time.monotonic() - e0
        for k, lst in per.items():
            if lst:
                if not drop:
                    # Backpressure instead of Ray's drop-oldest: a load run loses nothing.
                    while len(agents[k].buf) > limit:
                        time.sleep(0.002)
                agents[k].put_many(lst)
                sent += len(lst)
                per[k] = []
        i += n
    agg.wait_idle(timeout_s)
    st = agg.stats()
    st["elapsed"] = time.monotonic() - t_start
    st["posting_since"] = posting_since
    lat = [x for a in agents.values() for x in a.stats.latencies]
    agg.stop()
    return st, lat, sent, enc_s, agg.bodies() if keep else []


def _child(conn, args):
    try:
        st, lat, sent, enc_s, _ = _push(*args)
        conn.send((st, lat, sent, enc_s, None))
    except Exception as e:     # reported by the parent
        conn.send((None, [], 0, 0.0, "%s: %s" % (type(e).__name__, e)))
    conn.close()


def keep_freed_memory():
    """Have glibc keep freed memory for reuse rather than give it back.

    By default each POST body (about 1.3 MB) was a fresh mmap, its pages
    faulted in one by one as the body was joined, and the socket's buffers
    the same: on this machine's virtual CPUs that made building one body
    7 ms instead of 0.4 ms, about half of what the load generator spent a
    POST. The load generator stands in for Ray's aggregators, which run on
    Ray's nodes; here it shares raydar's cores, so its waste was raydar's
    loss in bench/push. M_MMAP_THRESHOLD 64 MB, M_TRIM_THRESHOLD 256 MB, as
    the merger sets for itself (src/event_merge.c)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)      # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)     # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass                            # not glibc: only slower


def run(url, attempts, nodes=4, rate=0.0, profile="master", shape=None, keys="camel",
        policy=None, seed=0, time_scale=1.0, drop=False, batch=None, expected_out=None,
        timeout_s=600.0, procs=1, pregenerate=False, epoch_ms=None):
    """Push `attempts` attempts; returns the summary dict (see push_load.py).

    procs > 1 forks that many processes, each the agents of every procs-th
    node (each real node has its own agent process too); expected_out
    needs procs=1 (it merges the bodies sent)."""
    import multiprocessing as mp
    keep_freed_memory()
    nodes = max(1, int(nodes))
    procs = max(1, min(int(procs), nodes))
    if expected_out and procs != 1:
        raise ValueError("--expected-out needs --procs 1")
    # One base time for every process: the attempts start at epoch_ms (now).
    base_ns = int((epoch_ms if epoch_ms is not None else time.time() * 1000) * 1_000_000)
    gen = Generator(profile, shape, keys, nodes, seed, base_ns=base_ns)
    t_start = time.monotonic()
    parts = [(list(range(p, nodes, procs)), list(range(nodes))) for p in range(procs)]
    results = []
    if procs == 1:
        st, lat, sent, enc_s, bodies = _push(url, attempts, parts[0], rate, profile, shape, keys,
                                             policy, seed, time_scale, drop, batch,
                                             bool(expected_out), timeout_s, t_start, pregenerate, base_ns)
        results.append((st, lat, sent, enc_s, None))
    else:
        ctx = mp.get_context("fork")
        kids = []
        for part in parts:
            a, b = ctx.Pipe(duplex=False)
            pr = ctx.Process(target=_child, args=(b, (url, attempts, part, rate, profile, shape, keys,
                                                      policy, seed, time_scale, drop, batch, False,
                                                      timeout_s, t_start, pregenerate, base_ns)))
            pr.start()
            kids.append((pr, a))
        for pr, a in kids:
            results.append(a.recv())
            pr.join()
    elapsed = time.monotonic() - t_start
    if pregenerate:
        # timed from the end of encoding (each process's own clock)
        elapsed = max(r[0]["elapsed"] for r in results if r[0])
    errors = [r[4] for r in results if r[4]]
    if errors:
        raise RuntimeError("; ".join(errors))
    from . import aggregator
    tot = {"posts": 0, "batches_acked": 0, "events_acked": 0, "retries": 0, "events_dropped": 0}
    fails = {}
    lat = []
    sent = 0
    enc_s = 0.0
    complete = True
    for st, l, s_, e_, _ in results:
        for k in tot:
            tot[k] += st["total"][k]
        for nd in st["nodes"].values():
            for k, v in nd["failures"].items():
                fails[k] = fails.get(k, 0) + v
        complete = complete and st["total"]["idle"]
        lat.extend(l)
        sent += s_
        enc_s += e_
    out = {"url": url, "attempts": attempts, "nodes": nodes, "procs": procs, "shape": gen.shape,
           "keys": keys, "policy": policy or gen.shape, "target_rate": rate, "events": sent,
           "posts": tot["posts"], "acked_batches": tot["batches_acked"],
           "acked_events": tot["events_acked"], "retried": tot["retries"],
           "dropped": tot["events_dropped"], "failures": fails,
           "latency_ms": aggregator.percentiles(lat), "elapsed_s": round(elapsed, 3),
           "encode_s": round(enc_s, 3), "pregenerated": bool(pregenerate),
           # when the first process began posting (Unix time): the merged
           # rate of a run is timed from here, not from before the encoding
           "posting_since": min(r[0]["posting_since"] for r in results if r[0]),
           "attempts_per_s": round(attempts / elapsed, 1) if elapsed else None,
           "events_per_s": round(sent / elapsed, 1) if elapsed else None, "complete": complete}
    if expected_out:
        m = rayevents.merge_bodies(profile, bodies)
        with open(expected_out, "w") as f:
            for r in m.rows():
                f.write(json.dumps(r, sort_keys=True) + "\n")
        out["expected_rows"] = len(m.rows())
    return out
