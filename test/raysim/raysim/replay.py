"""Replay of a vector folder (test/fixtures/ray-wire/ray-*).

The folder's check_alive_reply.bin gives the profile and is served verbatim;
get_task_events_reply.bin is split into its raw TaskEvents entries so a
filtered request re-emits each selected entry's ORIGINAL bytes, and an
unfiltered one gets the file byte for byte.
"""
import os

from . import query, versions
from .derive import latest_state_name
from .encode import field_bytes
from .proto import pb


def _read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def split_fields(buf):
    """[(field number, wire type, value bytes or int)] of a message, in order."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(buf, i)
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            v = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            v = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


class Replay:
    def __init__(self, folder):
        self.folder = folder
        self.check_alive = open(os.path.join(folder, "check_alive_reply.bin"), "rb").read()
        rep = pb().CheckAliveReply()
        rep.ParseFromString(self.check_alive)
        self.profile = versions.profile_for_version(rep.ray_version)
        self.reply = open(os.path.join(folder, "get_task_events_reply.bin"), "rb").read()
        self.raw_entries = []
        self.counters = {3: 0, 4: 0, 5: 0, 6: 0, 7: 0}
        for num, wt, v in split_fields(self.reply):
            if num == 2:
                self.raw_entries.append(v)
            elif num in self.counters:
                self.counters[num] = v

        # cluster/<resource>_reply.bin: the other five services.
        self.cluster = {}       # resource -> (file bytes, [raw entries])
        cdir = os.path.join(folder, "cluster")
        if os.path.isdir(cdir):
            for res in ("actors", "nodes", "jobs", "workers", "placement_groups"):
                path = os.path.join(cdir, res + "_reply.bin")
                if os.path.exists(path):
                    data = open(path, "rb").read()
                    self.cluster[res] = (data, [v for n, w, v in split_fields(data) if n == 2])

    def entries(self, prof):
        out = []
        for raw in self.raw_entries:
            ev = pb().TaskEvents()
            ev.ParseFromString(raw)
            st = latest_state_name(ev, prof)
            ti = ev.task_info
            out.append(query.Entry(
                ev.task_id, ti.job_id if ti.HasField("job_id") else ev.job_id,
                ti.actor_id if ti.HasField("actor_id") else None, ti.type, ti.name,
                (lambda s=st: s), ev.HasField("task_info"),
                (lambda r=raw: field_bytes(2, r)),
                nprof=len(ev.profile_events.events) if ev.HasField("profile_events") else 0,
                has_updates=ev.HasField("state_updates")))
        return out
