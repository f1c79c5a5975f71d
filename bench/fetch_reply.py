"""Fetch the reply raydar got, byte for byte, for the C and Python baselines.

Reads the last GetTaskEvents request raydar sent from the simulator's admin
API (/requests), sends the same bytes over gRPC, writes the reply to OUT and
prints "bytes=N events=N mid_task_id=HEX" (the task ID in the middle of the
reply, for the WHERE task_id = ... measurement).

  python3 bench/fetch_reply.py SIM_PORT_FILE OUT
"""
import json
import os
import sys
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "raysim"))
from raysim.proto import pb  # noqa: E402

METHOD = "/ray.rpc.TaskInfoGcsService/GetTaskEvents"


def main():
    ports = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    admin = "http://127.0.0.1:%d" % ports["admin_port"]
    reqs = json.load(urllib.request.urlopen(admin + "/requests", timeout=30))
    reqs = reqs.get("requests", reqs) if isinstance(reqs, dict) else reqs
    last = [r for r in reqs if r.get("method") == METHOD][-1]
    request = bytes.fromhex(last.get("raw_hex") or "")
    ch = grpc.insecure_channel("127.0.0.1:%d" % ports["grpc_port"],
                               options=[("grpc.max_receive_message_length", 512 * 1024 * 1024)])
    call = ch.unary_unary(METHOD, request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    reply = call(request, timeout=120)
    with open(out, "wb") as f:
        f.write(reply)
    rep = pb().GetTaskEventsReply()
    rep.ParseFromString(reply)
    mid = rep.events_by_task[len(rep.events_by_task) // 2]
    print("bytes=%d events=%d request_hex=%s mid_task_id=%s" %
          (len(reply), len(rep.events_by_task), request.hex() or "-", mid.task_id.hex()))


if __name__ == "__main__":
    main()
