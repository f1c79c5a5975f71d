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
    same bytes from then on. `entries` holds the framed bytes of the longest
    run of such attempts from the oldest stored one, in storage order
    (TaskStore._evict_one removes evicted ones), `joined` their concatenation
    newest first, so a poll of 100,000 mostly finished attempts re-encodes
    and walks only the newer ones: at 10,000 tasks/s the simulator's reply
    then costs what a GCS's would, not the Python loop's.
    """

    def __init__(self, now):
        self.entries = OrderedDict()
        self.joined = b""
        self.now = now


def _final(a, now):
    return a.visible(now) == len(a.states) and (
        not a.profile_events or a.nprof_visible(now) == len(a.profile_events))


def _unfiltered_entries(store, prof, now):
    """Framed entries of every stored attempt, newest first (as the GCS walks)."""
    block = store.frozen.get(prof.name)
    if block is None or now < block.now:
        block = store.frozen[prof.name] = _FrozenBlock(now)
    block.now = now
    rest = itertools.islice(store.stored.values(), len(block.entries), None)
    newer = []
    grew = []
    for a in rest:
        if not newer and _final(a, now):
            grew.append(a)
        else:
            newer.append(a)
    if grew:
        for a in grew:
            block.entries[a.key] = encode.framed_entry(a, prof, now)
        block.joined = None
    if block.joined is None:
        block.joined = b"".join(reversed(block.entries.values()))
    out = [encode.framed_entry(a, prof, now) for a in reversed(newer)]
    out.append(block.joined)
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
        tok = self.sim.token
        if tok is None:
            return
        got = dict(context.invocation_metadata()).get("authorization")
        if got != "Bearer " + tok:
            rec["outcome"] = "UNAUTHENTICATED"
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "InvalidAuthToken: Authentication token is missing or incorrect")

    def _fault(self, rec):
        f = self.sim.faults.take()
        if f is None:
            return None
        rec["fault"] = f["mode"]
        if f["mode"] == "slow":
            time.sleep(float(f.get("delay_ms", 1000)) / 1000.0)
            return None
        return f

    # -- methods -------------------------------------------------------------
    def check_alive(self, raw, context):
        rec = self._record(CHECK_ALIVE, raw, context)
        self._auth(context, rec)
        f = self._fault(rec)
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
        f = self._fault(rec)
        with self.sim.lock:
            cid = self.sim.cluster_id
        if f is not None and f["mode"] == "gcs_status":
            return encode.status_bytes(int(f.get("code", 5)), f.get("message", "simulated GCS error"))
        return b"\x12" + bytes([len(cid)]) + cid

    def get_task_events(self, raw, context):
        rec = self._record(GET_TASK_EVENTS, raw, context)
        self._auth(context, rec)
        f = self._fault(rec)
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
            except query.IdCheck as e:
                rec["outcome"] = "ABORT"
                _abort_process(str(e))
            except query.BadPredicate as e:
                rec["outcome"] = "InvalidArgument"
                rec["counters"] = {}
                return encode.status_bytes(INVALID_ARGUMENT, str(e))
            rec["layout"] = layout
            rec.update({"limit": q.limit, "filters": q.to_json(), "simple": q.simple()})
            if sim.ray_event and rec["metadata"].get("x-raysim-origin") != "dashboard":
                rec["counters"] = {"num_total_stored": 0}
                return encode.reply_bytes([])
            reply, counters = self._serve(q, prof)
            rec["counters"] = counters
        if f is not None and f["mode"] == "malformed":
            return malform(reply, f.get("kind", "truncated"))
        return reply

    def _serve(self, q, prof):
        sim = self.sim
        if sim.replay is not None:
            rp = sim.replay
            ents = rp.entries(prof)
            cc = (rp.counters[3], rp.counters[4])
            out, counters = query.select(ents, q, prof, cc, lambda j: cc)
            if len(out) == len(ents) and not counters["num_truncated"] and not counters["num_filtered_on_gcs"]:
                # Unfiltered: Ray's own bytes, verbatim.
                c = {"num_profile_task_events_dropped": rp.counters[3],
                     "num_status_task_events_dropped": rp.counters[4],
                     "num_total_stored": rp.counters[5], "num_filtered_on_gcs": rp.counters[6],
                     "num_truncated": rp.counters[7]}
                return rp.reply, c
            return encode.reply_bytes(out, encode.EMPTY_STATUS,
                                      counters["num_profile_task_events_dropped"],
                                      counters["num_status_task_events_dropped"],
                                      counters["num_total_stored"],
                                      counters["num_filtered_on_gcs"],
                                      counters["num_truncated"]), counters
        model = sim.model
        now = model.now_ns()
        store = model.store
        store.sync(now)
        attempts = list(store.stored.values())
        attempts.reverse()        # the GCS walks its storage newest first
        cc = (store.dropped_profile, store.dropped_status)
        if not q.has_filters and q.limit is None:
            # Fast path (many, stream): concatenation of cached framed entries.
            out = _unfiltered_entries(store, prof, now)
            counters = {"num_profile_task_events_dropped": cc[0],
                        "num_status_task_events_dropped": cc[1],
                        "num_total_stored": len(store.stored), "num_filtered_on_gcs": 0,
                        "num_truncated": 0}
        else:
            # The GCS answers one task id (or one job id) from an index: narrow
            # to that candidate set before building entries, so a lookup in
            # 100,000 attempts costs what it costs Ray. query.select applies
            # the same candidate rule and the counters, unchanged.
            eq_tasks = {v for p, v in q.task if p == 0}
            eq_jobs = {v for p, v in q.job if p == 0}
            if len(eq_tasks) == 1:
                tid = next(iter(eq_tasks))
                attempts = [a for a in attempts if a.task_id == tid]
            elif len(eq_tasks) == 0 and len(eq_jobs) == 1:
                jid = next(iter(eq_jobs))
                attempts = [a for a in attempts if a.job_id == jid]
            ents = [self._entry(a, prof, now) for a in attempts]
            out, counters = query.select(ents, q, prof, cc, store.counters_for_job)
        return encode.reply_bytes(out, encode.EMPTY_STATUS,
                                  counters["num_profile_task_events_dropped"],
                                  counters["num_status_task_events_dropped"],
                                  counters["num_total_stored"], counters["num_filtered_on_gcs"],
                                  counters["num_truncated"]), counters

    def cluster_method(self, method):
        """Handler for one of cluster.METHODS (actors, nodes, jobs, workers, PGs)."""
        resource = cluster.METHODS[method][2]

        def handle(raw, context):
            rec = self._record(method, raw, context)
            self._auth(context, rec)
            f = self._fault(rec)
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
