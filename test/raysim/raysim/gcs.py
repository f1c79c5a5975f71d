"""The simulated GCS gRPC server.

Serves /ray.rpc.TaskInfoGcsService/GetTaskEvents,
/ray.rpc.NodeInfoGcsService/CheckAlive and the five cluster methods of
cluster.METHODS (actors, nodes, jobs, workers, placement groups) through
generic handlers on raw bytes, so every reply byte is ours (and can be
malformed on purpose).

Ray's error model is kept: handler errors are gRPC OK with reply.status.code
!= 0; only authentication fails with a gRPC status (UNAUTHENTICATED); a
request that does not parse fails INTERNAL like grpc-core's deserializer;
a filter ID of the wrong length aborts the whole process like RAY_CHECK.
"""
import itertools
import os
import sys
import threading
import time
from collections import OrderedDict
from concurrent import futures

import grpc

from . import cluster, encode, query, versions
from .faults import malform

GET_TASK_EVENTS = "/ray.rpc.TaskInfoGcsService/GetTaskEvents"
CHECK_ALIVE = "/ray.rpc.NodeInfoGcsService/CheckAlive"
GET_CLUSTER_ID = "/ray.rpc.NodeInfoGcsService/GetClusterId"
MAX_MSG = 512 * 1024 * 1024   # Ray's max_grpc_message_size
INVALID_ARGUMENT = 34          # Ray StatusCode



class _FrozenBlock:
    """The oldest stored attempts whose entries can no longer change.

    An attempt whose every state and profile event is visible encodes to the
    same bytes from then on. `entries` holds (tier, framed bytes) of the
    longest run of such attempts from the oldest stored one, in storage
    order (TaskStore._evict_one removes evicted ones), as long as the
    FINISHED ones among them finished in that order; `joined` the
    concatenation of each tier's, in Ray's order, so a poll of 100,000
    mostly finished attempts re-encodes and walks only the newer ones: at
    10,000 tasks/s the simulator's reply then costs what a GCS's would, not
    the Python loop's.
    """

    def __init__(self, now):
        self.entries = OrderedDict()
        self.joined = None
        self.now = now
        self.last_key = None        # the largest (FINISHED ns, seq) ever in the block


def _final(a, now):
    return a.visible(now) == len(a.states) and (
        not a.profile_events or a.nprof_visible(now) == len(a.profile_events))


def _fin_key(a, now):
    fn = a.finished_ns()
    return (fn, a._seq) if fn is not None and fn <= now else None


def _tier(a, now):
    """FinishedTaskActorTaskGcPolicy::GetTaskListPriority, as the list
    HandleGetTaskEvents walks first: 0 FINISHED, 1 actor tasks, 2 the rest."""
    if _fin_key(a, now) is not None:
        return 0
    return 1 if a.is_actor_task else 2


def _unfiltered_entries(store, prof, now):
    """Framed entries of every stored attempt in Ray's order (TaskStore.ordered)."""
    block = store.frozen.get(prof.name)
    if block is None or now < block.now:
        block = store.frozen[prof.name] = _FrozenBlock(now)
    block.now = now
    rest = itertools.islice(store.stored.values(), len(block.entries), None)
    newer = []
    grew = []
    last = block.last_key
    for a in rest:
        if not newer and _final(a, now):
            k = _fin_key(a, now)
            if k is None or last is None or k >= last:
                grew.append(a)
                last = k if k is not None else last
                continue
        newer.append(a)
    if grew:
        for a in grew:
            block.entries[a.key] = (_tier(a, now), encode.framed_entry(a, prof, now))
        block.last_key = last
        block.joined = None
    tiers = ([], [], [])
    for a in newer:
        tiers[_tier(a, now)].append(a)
    fin = [(_fin_key(a, now), a) for a in tiers[0]]
    if fin and block.last_key is not None and min(k for k, _ in fin) < block.last_key:
        # A newer attempt finished before one in the block: no shortcut.
        return [encode.framed_entry(a, prof, now) for a in store.ordered(now)]
    if block.joined is None:
        parts = ([], [], [])
        for t, data in reversed(block.entries.values()):
            parts[t].append(data)
        block.joined = [b"".join(p) for p in parts]
    fin.sort(key=lambda x: x[0], reverse=True)
    out = [encode.framed_entry(a, prof, now) for _, a in fin]
    out.append(block.joined[0])
    out.extend(encode.framed_entry(a, prof, now) for a in reversed(tiers[1]))
    out.append(block.joined[1])
    out.extend(encode.framed_entry(a, prof, now) for a in reversed(tiers[2]))
    out.append(block.joined[2])
    return out


class Sim:
    """All mutable simulator state, behind one lock."""

    def __init__(self, model, profile, faults, token=None, replay=None):
        self.lock = threading.RLock()
        self.model = model
        self.profile = versions.Profile(profile)
        self.faults = faults
        self.token = token
        self.replay = replay
        self.requests = []
        self.server = None      # GcsServer, set by main
        # Ray 2.58's opt-in RAY_enable_ray_event=1: workers send task events
        # to the event aggregator, not the GCS, so GetTaskEvents has none
        # while the dashboard still lists tasks (from the aggregator; here,
        # the dashboard's own calls are still answered).
        self.ray_event = False
        # RAY_USE_TLS: {"cert", "key", "ca"} paths; the GCS port then speaks
        # TLS only and requires a client certificate signed by "ca".
        self.gcs_tls = None
        self.new_incarnation()

    def new_incarnation(self):
        """A new start of the cluster: a new 28-byte ClusterID (GetClusterId)
        and dashboard session_name, as Ray makes at every cluster start.
        A GCS restart (POST /restart) keeps both, as Redis-backed GCS FT does."""
        self.cluster_id = os.urandom(28)
        t = time.gmtime()
        self.session_name = "session_%s_%06d_%d" % (time.strftime("%Y-%m-%d_%H-%M-%S", t),
                                                    int(time.time() * 1e6) % 1000000, os.getpid())


def _abort_process(msg):
    # What RAY_CHECK does: log the failed check, then abort() (SIGABRT).
    sys.stderr.write("[raysim] %s\n*** SIGABRT received ***\n" % msg)
    sys.stderr.flush()
    os.abort()


class Handlers:
    def __init__(self, sim):
        self.sim = sim

    # -- helpers -------------------------------------------------------------
    def _record(self, method, raw, context):
        md = {}
        for k, v in context.invocation_metadata():
            md[k] = v if isinstance(v, str) else v.hex()
        rec = {"method": method, "metadata": md, "raw_hex": raw.hex(), "layout": None,
               "limit": None, "filters": None, "simple": None, "counters": None,
               "outcome": "ok", "time": time.time()}
        with self.sim.lock:
            self.sim.requests.append(rec)
        return rec

    def _auth(self, context, rec):
        md = dict(context.invocation_metadata())
        # LAZY_AUTH: `ray_cluster_id` (hex) is checked only when present.
        cid = md.get("ray_cluster_id")
        if cid is not None and cid != self.sim.cluster_id.hex():
            if self.sim.profile.has_cluster_id_unauthenticated:
                rec["outcome"] = "UNAUTHENTICATED"
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "WrongClusterID")
            rec["outcome"] = "ABORTED"
            context.abort(grpc.StatusCode.ABORTED, "AuthError: WrongClusterID")
        tok = self.sim.token
        if tok is None or not self.sim.profile.has_token_auth:
            return      # before 2.52 there is no token auth: the header is ignored
        got = md.get("authorization")
        if got != "Bearer " + tok:
            rec["outcome"] = "UNAUTHENTICATED"
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "InvalidAuthToken: Authentication token is missing or incorrect")

    def _fault(self, rec, context):
        f = self.sim.faults.take(rec["method"])
        if f is None:
            return None
        rec["fault"] = f["mode"]
        if f["mode"] == "grpc_code":
            rec["outcome"] = f["code"]
            context.abort(getattr(grpc.StatusCode, f["code"]), f.get("message", ""))
        if f["mode"] == "slow":
            time.sleep(float(f.get("delay_ms", 1000)) / 1000.0)
            return None
        return f

    # -- methods -------------------------------------------------------------
    def check_alive(self, raw, context):
        rec = self._record(CHECK_ALIVE, raw, context)
        self._auth(context, rec)
        f = self._fault(rec, context)
        sim = self.sim
        if sim.replay is not None:
            reply = sim.replay.check_alive
        else:
            reply = encode.check_alive_reply(sim.profile.ray_version)
        if f is not None:
            if f["mode"] == "gcs_status":
                return encode.status_bytes(int(f.get("code", 5)), f.get("message", "simulated GCS error"))
            if f["mode"] == "malformed":
                return malform(reply, f.get("kind", "truncated"))
        return reply

    def get_cluster_id(self, raw, context):
        """GetClusterIdReply {GcsStatus status = 1; bytes cluster_id = 2}."""
        rec = self._record(GET_CLUSTER_ID, raw, context)
        self._auth(context, rec)
        f = self._fault(rec, context)
        with self.sim.lock:
            cid = self.sim.cluster_id
        if f is not None and f["mode"] == "gcs_status":
            return encode.status_bytes(int(f.get("code", 5)), f.get("message", "simulated GCS error"))
        return b"\x12" + bytes([len(cid)]) + cid

    def get_task_events(self, raw, context):
        rec = self._record(GET_TASK_EVENTS, raw, context)
        self._auth(context, rec)
        f = self._fault(rec, context)
        sim = self.sim
        if f is not None and f["mode"] == "gcs_status":
            code = int(f.get("code", 5))
            rec["counters"] = {}
            return encode.status_bytes(code, f.get("message", "simulated GCS error"))
        with sim.lock:
            prof = sim.profile
            try:
                q, layout = query.decode_request(raw, prof)
            except query.Unparseable as e:
                rec["layout"] = "unparseable"
                rec["outcome"] = "INTERNAL"
                context.abort(grpc.StatusCode.INTERNAL, "Failed to parse request: %s" % e)
            rec["layout"] = layout
            rec.update({"limit": q.limit, "filters": q.to_json(), "simple": q.simple()})
            if sim.ray_event and rec["metadata"].get("x-raysim-origin") != "dashboard":
                rec["counters"] = {"num_total_stored": 0}
                return encode.reply_bytes([])
            try:
                reply, counters = self._serve(q, prof)
            except query.IdCheck as e:
                rec["outcome"] = "ABORT"
                _abort_process(str(e))
            except query.BadPredicate as e:
                # HandleGetTaskEvents catches std::invalid_argument: reply
                # cleared, Status::InvalidArgument.
                rec["outcome"] = "InvalidArgument"
                rec["counters"] = {}
                return encode.status_bytes(INVALID_ARGUMENT, str(e))
            rec["counters"] = counters
        if f is not None and f["mode"] == "malformed":
            return malform(reply, f.get("kind", "truncated"))
        return reply

    def _serve(self, q, prof):
        sim = self.sim
        kind, arg = query.plan(q, prof)     # may raise IdCheck before any event
        if sim.replay is not None:
            rp = sim.replay
            ents = rp.entries(prof)
            cc = (rp.counters[3], rp.counters[4])
            cands, base = self._candidates(kind, arg, ents, cc, lambda j: cc,
                                           key=lambda e: e.task_id + bytes([e.nprof & 0xff]))
            out, counters = query.select(cands, q, prof, base)
            if (kind == "all" and len(out) == len(ents) and not counters["num_truncated"]
                    and not counters["num_filtered_on_gcs"]):
                # Unfiltered: Ray's own bytes, verbatim.
                c = {"num_profile_task_events_dropped": rp.counters[3],
                     "num_status_task_events_dropped": rp.counters[4],
                     "num_total_stored": rp.counters[5], "num_filtered_on_gcs": rp.counters[6],
                     "num_truncated": rp.counters[7]}
                return rp.reply, c
            return self._reply(out, counters), counters
        model = sim.model
        now = model.now_ns()
        store = model.store
        store.sync(now)
        cc = (store.dropped_profile, store.dropped_status)
        if not q.has_filters and q.limit is None:
            # Fast path (many, stream): concatenation of cached framed entries.
            out = _unfiltered_entries(store, prof, now)
            counters = {"num_profile_task_events_dropped": cc[0],
                        "num_status_task_events_dropped": cc[1],
                        "num_total_stored": len(store.stored), "num_filtered_on_gcs": 0,
                        "num_truncated": 0}
            return self._reply(out, counters), counters
        # An index lookup narrows to that candidate set before building
        # entries, so a lookup in 100,000 attempts costs what it costs Ray.
        if kind == "all":
            attempts = store.ordered(now)
        elif kind == "task":
            attempts = [a for a in store.stored.values() if a.task_id == arg]
        elif kind == "tasks":
            attempts = [a for a in store.stored.values() if a.task_id in arg]
        elif kind == "job":
            attempts = [a for a in store.stored.values() if a.job_id == arg]
        else:
            attempts = []
        ents = [self._entry(a, prof, now) for a in attempts]
        if kind != "all":
            keys = {id(e): a.task_id + a.attempt_number.to_bytes(4, "little")
                    for e, a in zip(ents, attempts)}
            ents = query.hash_order(ents, lambda e: keys[id(e)])
        base = self._base_counters(kind, arg, cc, store.counters_for_job)
        out, counters = query.select(ents, q, prof, base)
        return self._reply(out, counters), counters

    @staticmethod
    def _base_counters(kind, arg, cc, job_counters):
        """Dropped counters before truncation: cluster-wide without an
        index, the job's with the job index, none with the task index or
        the empty set (HandleGetTaskEvents)."""
        if kind == "all":
            return cc
        if kind == "job":
            return job_counters(arg)
        return (0, 0)

    def _candidates(self, kind, arg, ents, cc, job_counters, key):
        if kind == "all":
            return ents, cc
        if kind == "task":
            c = [e for e in ents if e.task_id == arg]
        elif kind == "tasks":
            c = [e for e in ents if e.task_id in arg]
        elif kind == "job":
            c = [e for e in ents if e.job_id == arg]
        else:
            c = []
        return query.hash_order(c, key), self._base_counters(kind, arg, cc, job_counters)

    @staticmethod
    def _reply(out, counters):
        return encode.reply_bytes(out, encode.EMPTY_STATUS,
                                  counters["num_profile_task_events_dropped"],
                                  counters["num_status_task_events_dropped"],
                                  counters["num_total_stored"], counters["num_filtered_on_gcs"],
                                  counters["num_truncated"])

    def cluster_method(self, method):
        """Handler for one of cluster.METHODS (actors, nodes, jobs, workers, PGs)."""
        resource = cluster.METHODS[method][2]

        def handle(raw, context):
            rec = self._record(method, raw, context)
            self._auth(context, rec)
            f = self._fault(rec, context)
            sim = self.sim
            if f is not None and f["mode"] == "gcs_status":
                rec["counters"] = {}
                return encode.status_bytes(int(f.get("code", 5)), f.get("message", "simulated GCS error"))
            with sim.lock:
                prof = sim.profile
                try:
                    q = cluster.decode_request(method, raw, prof)
                except cluster.Unparseable as e:
                    rec["layout"] = "unparseable"
                    rec["outcome"] = "INTERNAL"
                    context.abort(grpc.StatusCode.INTERNAL, "Failed to parse request: %s" % e)
                except cluster.IdCheck as e:
                    rec["outcome"] = "ABORT"
                    _abort_process(str(e))
                rec.update({"layout": q.layout, "decoded_as": q.decoded_as, "looks_like": q.looks_like,
                            "limit": q.limit, "filters": q.to_json(), "simple": q.simple()})
                verbatim = None
                if sim.replay is not None:
                    if resource not in sim.replay.cluster:
                        rec["outcome"] = "UNIMPLEMENTED"
                        context.abort(grpc.StatusCode.UNIMPLEMENTED, "no cluster/%s_reply.bin" % resource)
                    verbatim, raws = sim.replay.cluster[resource]
                    items = cluster.replay_items(resource, raws, prof)
                else:
                    now_ms = sim.model.now_ns() / 1e6
                    items = cluster.model_items(resource, sim.model.scenario.entities, prof, now_ms)
                try:
                    sel, counters, status = cluster.select(method, items, q, prof)
                except cluster.IdCheck as e:
                    rec["outcome"] = "ABORT"
                    _abort_process(str(e))
                counters = dict(counters, returned=len(sel))
                rec["counters"] = counters
                if status != encode.EMPTY_STATUS:
                    rec["outcome"] = "status"
                    return status
                if verbatim is not None and [i.raw for i in sel] == raws:
                    reply = verbatim          # unfiltered: the vector's bytes
                else:
                    reply = cluster.reply_bytes(method, sel, counters, status, prof)
            if f is not None and f["mode"] == "malformed":
                return malform(reply, f.get("kind", "truncated"))
            return reply
        return handle

    @staticmethod
    def _entry(a, prof, now):
        def state():
            vis = a.states[:a.visible(now)]
            if not vis:
                return "NIL"
            return max((s for s, _ in vis), key=lambda s: prof.task_status.get(s, 0))
        return query.Entry(a.task_id, a.job_id, a.actor_id, versions.TASK_TYPE[a.type], a.name,
                           state, True, lambda: encode.framed_entry(a, prof, now),
                           nprof=a.nprof_visible(now), has_updates=a.visible(now) > 0)


class GcsServer:
    """A grpc.server that can be stopped and started again on the same port."""

    def __init__(self, sim, port=0):
        self.sim = sim
        self.port = port
        self.server = None
        self.lock = threading.Lock()

    def start(self):
        with self.lock:
            if self.server is not None:
                return self.port
            h = Handlers(self.sim)
            ident = lambda b: b   # raw bytes in and out
            handler = grpc.method_handlers_generic_handler("ray.rpc.TaskInfoGcsService", {
                "GetTaskEvents": grpc.unary_unary_rpc_method_handler(
                    h.get_task_events, request_deserializer=ident, response_serializer=ident)})
            methods = {"CheckAlive": grpc.unary_unary_rpc_method_handler(
                h.check_alive, request_deserializer=ident, response_serializer=ident),
                       "GetClusterId": grpc.unary_unary_rpc_method_handler(
                h.get_cluster_id, request_deserializer=ident, response_serializer=ident)}
            others = {}
            for m, (svc, name, _) in cluster.METHODS.items():
                rpc = grpc.unary_unary_rpc_method_handler(
                    h.cluster_method(m), request_deserializer=ident, response_serializer=ident)
                if svc == "ray.rpc.NodeInfoGcsService":
                    methods[name] = rpc
                else:
                    others.setdefault(svc, {})[name] = rpc
            handler2 = grpc.method_handlers_generic_handler("ray.rpc.NodeInfoGcsService", methods)
            extra = [grpc.method_handlers_generic_handler(svc, ms) for svc, ms in others.items()]
            srv = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                              handlers=[handler, handler2] + extra,
                              options=[("grpc.max_receive_message_length", MAX_MSG),
                                       ("grpc.max_send_message_length", MAX_MSG),
                                       ("grpc.so_reuseport", 0)])
            tls = self.sim.gcs_tls
            if tls:
                # Ray's GrpcServer under RAY_USE_TLS: SslServerCredentials
                # with the CA as pem_root_certs and
                # GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY.
                def rd(k):
                    with open(tls[k], "rb") as f:
                        return f.read()
                creds = grpc.ssl_server_credentials([(rd("key"), rd("cert"))],
                                                    root_certificates=rd("ca"),
                                                    require_client_auth=True)
                port = srv.add_secure_port("127.0.0.1:%d" % self.port, creds)
            else:
                port = srv.add_insecure_port("127.0.0.1:%d" % self.port)
            if port == 0:
                raise RuntimeError("cannot bind gRPC port %d" % self.port)
            self.port = port
            srv.start()
            self.server = srv
            return port

    def stop(self):
        with self.lock:
            if self.server is not None:
                self.server.stop(0).wait()
                self.server = None

    @property
    def running(self):
        return self.server is not None
