"""List calls, authentication and transport as Ray's source has them (issue 16).

Each test names the rule and its source; docs/simulator.md lists the same.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import tempfile
import unittest
import zlib

import grpc

from raysim import cluster, tlscerts
from raysim.client import Simulator
from raysim.proto import pb

EPOCH = 1_800_000_000_000
FAR = 3_600_000
M = {r: m for m, (_, _, r) in cluster.METHODS.items()}


def frozen(profile="master", scenario="mixed", **kw):
    return Simulator(profile=profile, scenario=scenario, speed=0, epoch_ms=EPOCH, **kw)


def call(sim, resource, req, reply_cls, md=None):
    r = getattr(pb(), reply_cls)()
    r.ParseFromString(sim.call(M[resource], req.SerializeToString(), md))
    return r


def actors(sim, limit=None):
    q = pb().GetAllActorInfoRequest()
    if limit is not None:
        q.limit = limit
    return call(sim, "actors", q, "GetAllActorInfoReply")


def workers(sim, limit=None):
    q = pb().GetAllWorkerInfoRequest()
    if limit is not None:
        q.limit = limit
    return call(sim, "workers", q, "GetAllWorkerInfoReply")


def pgs(sim, limit=None):
    q = pb().GetAllPlacementGroupRequest()
    if limit is not None:
        q.limit = limit
    return call(sim, "placement_groups", q, "GetAllPlacementGroupReply")


class Limits(unittest.TestCase):
    def test_actor_limit_per_version(self):
        # GcsActorManager::HandleGetAllActorInfo: <= 2.35 `int count; if (limit
        # != -1 && count >= limit) break` (0 and <= -2: none); 2.36+ `limit > 0
        # ? limit : max` (0 or negative: all). mixed has 4 actors.
        for profile, want in (("2.35", {None: 4, 0: 0, -1: 4, -2: 0, 2: 2}),
                              ("2.40", {None: 4, 0: 4, -1: 4, -2: 4, 2: 2})):
            with frozen(profile=profile) as sim:
                sim.admin("/advance", {"ms": FAR})
                got = {lim: len(actors(sim, lim).actor_table_data) for lim in want}
            self.assertEqual(got, want, profile)

    def test_worker_limit_per_version(self):
        # GcsWorkerManager::HandleGetAllWorkerInfo 2.36+: `if (num_added >= limit)
        # break` with the request's int64: 0 or any negative limit gives none.
        with frozen(profile="2.40") as sim:
            sim.admin("/advance", {"ms": FAR})
            n = len(workers(sim).worker_table_data)
            self.assertGreater(n, 5)
            got = {lim: len(workers(sim, lim).worker_table_data) for lim in (0, -1, -5, 3)}
            self.assertEqual(got, {0: 0, -1: 0, -5: 0, 3: 3})
            self.assertEqual(workers(sim, -1).total, n)

    def test_pg_limit(self):
        # HandleGetAllPlacementGroup: the old pattern, -1 all, 0 and <= -2 none.
        with frozen(profile="master") as sim:
            sim.admin("/advance", {"ms": FAR})
            got = {lim: len(pgs(sim, lim).placement_group_table_data) for lim in (None, -1, 0, -2, 1)}
        self.assertEqual(got, {None: 2, -1: 2, 0: 0, -2: 0, 1: 1})

    def test_hash_map_order(self):
        # Handlers iterate flat_hash_maps: not registration order (stand-in:
        # crc32 of the id, registered actors before destroyed ones).
        with frozen(profile="master") as sim:
            sim.admin("/advance", {"ms": FAR})
            ws = [w.worker_address.worker_id for w in workers(sim).worker_table_data]
            acts = actors(sim).actor_table_data
        self.assertEqual(ws, sorted(ws, key=zlib.crc32))
        alive = [a.actor_id for a in acts if a.state != 4]
        dead = [a.actor_id for a in acts if a.state == 4]
        self.assertEqual([a.actor_id for a in acts], sorted(alive, key=zlib.crc32) + sorted(dead, key=zlib.crc32))

    def test_caps(self):
        # maximum_gcs_dead_node_cached_count = 1000,
        # maximum_gcs_destroyed_actor_cached_count = 100000: the oldest go.
        rows = [{"node_id": i.to_bytes(28, "big"), "end_time_ms": 5000 - i} for i in range(1003)]
        kept = cluster._cap_oldest(rows, cluster.MAX_DEAD_NODES, "end_time_ms")
        self.assertEqual(len(kept), 1000)
        self.assertEqual({r["end_time_ms"] for r in rows} - {r["end_time_ms"] for r in kept},
                         {5000 - 1002, 5000 - 1001, 5000 - 1000})
        self.assertEqual((cluster.MAX_DEAD_NODES, cluster.MAX_DESTROYED_ACTORS), (1000, 100000))


class Nodes(unittest.TestCase):
    def test_unknown_state_is_status_34_on_236_to_248(self):
        # GcsNodeManager::HandleGetAllNodeInfo (2.36-2.48): InvalidArgument
        # "Unexpected filter: state = N"; 2.49+ selects nothing, status OK.
        with frozen(profile="2.40") as sim:
            q = pb().GetAllNodeInfoRequestV236()
            q.filters.state = 7
            r = call(sim, "nodes", q, "GetAllNodeInfoReply")
            self.assertEqual((r.status.code, r.status.message), (34, "Unexpected filter: state = 7"))
            self.assertEqual(len(r.node_info_list), 0)
            # Up to 2.41 an empty node_id or node_name is no filter.
            q = pb().GetAllNodeInfoRequestV236()
            q.filters.node_name = ""
            q.filters.node_id = b""
            r = call(sim, "nodes", q, "GetAllNodeInfoReply")
            self.assertEqual((r.status.code, len(r.node_info_list)), (0, 2))
        with frozen(profile="2.49") as sim:
            q = pb().GetAllNodeInfoRequest()
            q.state_filter = 7
            r = call(sim, "nodes", q, "GetAllNodeInfoReply")
            self.assertEqual((r.status.code, len(r.node_info_list)), (0, 0))

    def test_node_id_selectors_ignore_limit_249(self):
        with frozen(profile="2.49") as sim:
            sim.admin("/advance", {"ms": FAR})
            every = call(sim, "nodes", pb().GetAllNodeInfoRequest(), "GetAllNodeInfoReply")
            ids = [n.node_id for n in every.node_info_list]
            self.assertEqual(len(ids), 2)
            q = pb().GetAllNodeInfoRequest()
            q.limit = 1
            for i in ids:
                q.node_selectors.add(node_id=i)
            r = call(sim, "nodes", q, "GetAllNodeInfoReply")
            self.assertEqual(len(r.node_info_list), 2)
            # A name selector among them: the limit applies again.
            q.node_selectors.add(node_name="10.0.0.1")
            r = call(sim, "nodes", q, "GetAllNodeInfoReply")
            self.assertEqual(len(r.node_info_list), 1)


class Auth(unittest.TestCase):
    def test_token_only_from_252(self):
        # RAY_AUTH_MODE=token exists from 2.52: older servers ignore the header.
        for profile, refused in (("2.49", False), ("2.58", True), ("master", True)):
            with frozen(profile=profile, scenario="empty", token="s3cret") as sim:
                try:
                    sim.call(th.CA, b"")
                    got = False
                except grpc.RpcError as e:
                    self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
                    got = True
                self.assertEqual(got, refused, profile)

    def test_wrong_cluster_id(self):
        # `ray_cluster_id` is checked only when present: ABORTED up to 2.51,
        # UNAUTHENTICATED from 2.52 (shared/ray-gcs-protocol.md; unsure).
        for profile, code in (("2.49", grpc.StatusCode.ABORTED),
                              ("2.58", grpc.StatusCode.UNAUTHENTICATED)):
            with frozen(profile=profile, scenario="empty") as sim:
                raw = sim.call("/ray.rpc.NodeInfoGcsService/GetClusterId", b"")
                cid = raw[2:2 + raw[1]]
                self.assertEqual(len(cid), 28)
                sim.call(th.CA, b"", {"ray_cluster_id": cid.hex()})      # the right one
                with self.assertRaises(grpc.RpcError) as cm:
                    sim.call(th.CA, b"", {"ray_cluster_id": "00" * 28})
                self.assertEqual(cm.exception.code(), code, profile)
                self.assertIn("WrongClusterID", cm.exception.details())


class GrpcCodeFault(unittest.TestCase):
    def test_grpc_code_fault(self):
        # For clients' error paths: any gRPC status on the next N calls.
        with frozen(scenario="empty") as sim:
            sim.admin("/fault", {"mode": "grpc_code", "code": "ABORTED", "message": "AuthError: x", "count": 1})
            with self.assertRaises(grpc.RpcError) as cm:
                sim.call(th.GTE, b"")
            self.assertEqual((cm.exception.code(), cm.exception.details()),
                             (grpc.StatusCode.ABORTED, "AuthError: x"))
            sim.call(th.GTE, b"")                     # count 1: gone
            self.assertEqual(sim.admin("/fault", {"mode": "grpc_code", "code": "NOPE"})["http_status"], 400)


class MutualTls(unittest.TestCase):
    def test_gcs_requires_client_certificate(self):
        # RAY_USE_TLS=1: the GCS's server credentials require and verify a
        # client certificate signed by RAY_TLS_CA_CERT.
        d = tempfile.mkdtemp(prefix="raysim-mtls-")
        c = tlscerts.make(d)
        rd = lambda k: open(c[k], "rb").read()   # noqa: E731
        with frozen(profile="master", scenario="classic", gcs_tls_cert=c["cert"],
                    gcs_tls_key=c["key"], gcs_tls_ca=c["ca"], dashboard_port=0) as sim:
            target = "127.0.0.1:%d" % sim.grpc_port
            opts = [("grpc.enable_retries", 0)]

            def try_call(creds):
                ch = grpc.secure_channel(target, creds, options=opts) if creds else \
                    grpc.insecure_channel(target, options=opts)
                try:
                    ch.unary_unary(th.CA, request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)(b"", timeout=5)
                    return "ok"
                except grpc.RpcError as e:
                    return e.code()
                finally:
                    ch.close()
            good = grpc.ssl_channel_credentials(rd("ca"), rd("client_key"), rd("client_cert"))
            self.assertEqual(try_call(good), "ok")
            self.assertEqual(try_call(grpc.ssl_channel_credentials(rd("ca"))),
                             grpc.StatusCode.UNAVAILABLE)            # no client certificate
            other = grpc.ssl_channel_credentials(rd("ca"), rd("other_client_key"), rd("other_client_cert"))
            self.assertEqual(try_call(other), grpc.StatusCode.UNAVAILABLE)   # wrong CA
            self.assertEqual(try_call(None), grpc.StatusCode.UNAVAILABLE)    # plaintext
            # The simulator's dashboard still reaches its GCS (with the server pair).
            import json
            import urllib.request
            port = json.load(open(sim.port_file))["dashboard_port"]
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v0/tasks?limit=5" % port,
                                        timeout=30) as r:
                body = json.loads(r.read())
            self.assertTrue(body["result"], body)
            # Off through the admin API: plaintext again on the same port.
            sim.admin("/gcs", {"tls": None})
            self.assertEqual(try_call(None), "ok")


th.main(globals())
