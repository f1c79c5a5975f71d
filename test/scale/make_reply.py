#!/usr/bin/python3
"""make_reply.py: GetTaskEventsReply files for the scale and hostile-value tests.

    make_reply.py varied  OUT_DIR COUNT [--job-count N]
    make_reply.py hostile OUT_DIR
    make_reply.py huge    OUT_DIR MEGABYTES

Each writes a replay folder the simulator serves with --replay (see
test/raysim/raysim/replay.py): check_alive_reply.bin (Ray 2.49, copied from
the wire vectors) and get_task_events_reply.bin.

- varied: COUNT attempts whose values differ the way real clusters' do:
  names in many scripts and lengths (1 to 3,000 bytes, quotes, backslashes,
  emoji), resource maps of 0 to 12 keys with repeated and unique values,
  FINISHED, FAILED (with error types and multi-line messages), RUNNING and
  pending attempts, retries (attempt 0-3), actor tasks, several jobs. Every
  value is a deterministic function of the attempt's index, so a test can
  compute any expected aggregate.
- hostile: one attempt per hostile value, named after it (see HOSTILE):
  task times 0, negative and the int64 extremes (task times are ns, so
  they stay within years 1677-2262), actors whose uint64 millisecond
  times lie past PostgreSQL's year 294276, NaN and infinite
  resources, a 1 MB name, invalid UTF-8 and NUL bytes in names, ids of
  every wrong length, a map with 10,000 keys.
- huge: about MEGABYTES of FINISHED attempts with 4 kB names (cancel and
  memory tests on a 500 MB reply).

Bytes Python's protobuf cannot hold in a string field (invalid UTF-8, NUL
inside names is fine) are written by replacing a same-length placeholder
in the serialized entry, which keeps every length prefix valid.
"""
import math
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "raysim"))

from raysim import versions                          # noqa: E402
from raysim.encode import field_bytes, varint        # noqa: E402
from raysim.proto import pb                          # noqa: E402

PROFILE = versions.Profile("2.49")
STATUS = PROFILE.task_status
BASE_NS = 1_793_534_400_000 * 1_000_000             # 2026-11-02, in ns
NAME_SCRIPTS = ["task", "tâche", "задача", "任务", "タスク", "작업", "مهمة", "משימה",
                "कार्य", "🚀job", "a'b\"c\\d", "tab\there", "new\nline"]
ERRORS = [(versions.ERROR_TYPE["TASK_EXECUTION_EXCEPTION"][0],
           "Traceback (most recent call last):\n  File \"x.py\", line 3\nValueError: bad"),
          (versions.ERROR_TYPE["WORKER_DIED"][0], "The worker died unexpectedly."),
          (versions.ERROR_TYPE["OUT_OF_MEMORY"][0], "Task was killed due to the node running low on memory.")]


def task_id(i, job):
    """24-byte task id: 20 bytes unique to i, then the 4-byte job id."""
    return struct.pack(">IQQ", 0xA5A5A5A5, i, i * 2654435761 % (1 << 64)) + job


def job_id(j):
    return struct.pack(">I", j + 1)


def varied_name(i):
    word = NAME_SCRIPTS[i % len(NAME_SCRIPTS)]
    length = [1, 7, 33, 200, 3000][i % 5]
    return (word * (length // len(word) + 1))[:max(1, length // len(word.encode()) + 1)] + "_%d" % i


def varied_resources(i):
    n = i % 13
    res = {}
    for k in range(n):
        res["CPU" if k == 0 else "custom_%d" % k] = 1.0 if i % 7 else (i % 1000) / 8.0
    if i % 11 == 0:
        res["GPU"] = 0.5
    return res


def varied_entry(i, njobs):
    m = pb()
    job = job_id(i % njobs)
    ev = m.TaskEvents()
    ev.task_id = task_id(i, job)
    attempt = i % 4 if i % 5 == 0 else 0
    if attempt:
        ev.attempt_number = attempt
    ti = ev.task_info
    kind = i % 17
    ti.type = 2 if kind == 0 else (1 if kind == 1 else 0)     # ACTOR_TASK, ACTOR_CREATION, NORMAL
    ti.name = varied_name(i)
    ti.func_or_class_name = "mod.f%d" % (i % 97)
    ti.job_id = job
    ti.task_id = ev.task_id
    ti.parent_task_id = task_id(0, job)
    for k, v in varied_resources(i).items():
        ti.required_resources[k] = v
    if kind in (0, 1):
        ti.actor_id = struct.pack(">IQ", 0xAC, i % 50) + job
    su = ev.state_updates
    s = BASE_NS + i * 1_000_000
    su.state_ts_ns[STATUS["PENDING_ARGS_AVAIL"]] = s
    fate = i % 10
    if fate >= 1:
        su.state_ts_ns[STATUS["PENDING_NODE_ASSIGNMENT"]] = s + 1000
    if fate >= 2:
        su.node_id = struct.pack(">Q", i % 8) * 3 + b"\x00" * 4
        su.worker_id = struct.pack(">QQ", 7, i % 300) + b"\x11" * 12
        su.worker_pid = 1000 + i % 300
        su.state_ts_ns[STATUS["RUNNING"]] = s + 2000
    if fate >= 4:
        end = s + 2000 + (i % 1000) * 1_000_000
        if fate == 9:
            su.state_ts_ns[STATUS["FAILED"]] = end
            et, msg = ERRORS[i % len(ERRORS)]
            su.error_info.error_type = et
            su.error_info.error_message = msg
        else:
            su.state_ts_ns[STATUS["FINISHED"]] = end
    ev.job_id = job
    return ev.SerializeToString(deterministic=True)


# name -> what the entry holds; the test checks each by name.
HOSTILE = [
    "time_zero", "time_negative", "time_int64_min", "time_int64_max",
    "nan_resource", "inf_resource", "name_1mb", "invalid_utf8", "nul_in_name",
    "map_10000_keys", "id_len_0", "id_len_1", "id_len_5", "id_len_27",
    "id_len_28", "id_len_100", "job_id_len_3",
]


def hostile_entry(k, name):
    m = pb()
    job = job_id(0)
    ev = m.TaskEvents()
    tid = task_id(1_000_000 + k, job)
    ti = ev.task_info
    ti.name = name
    ti.type = 0
    ti.func_or_class_name = "hostile." + name
    ti.required_resources["CPU"] = 1.0
    su = ev.state_updates
    s = BASE_NS + k * 1_000_000
    su.state_ts_ns[STATUS["PENDING_ARGS_AVAIL"]] = s
    su.state_ts_ns[STATUS["RUNNING"]] = s + 1000
    end = s + 5000
    patch = None
    if name == "time_zero":
        su.state_ts_ns[STATUS["PENDING_ARGS_AVAIL"]] = 0
    elif name == "time_negative":
        su.state_ts_ns[STATUS["RUNNING"]] = -5_000_000_000_000
    elif name == "time_int64_min":
        su.state_ts_ns[STATUS["PENDING_ARGS_AVAIL"]] = -(1 << 63)
    elif name == "time_int64_max":
        end = (1 << 63) - 1
    elif name == "nan_resource":
        ti.required_resources["GPU"] = math.nan
    elif name == "inf_resource":
        ti.required_resources["GPU"] = math.inf
        ti.required_resources["memory"] = -math.inf
    elif name == "name_1mb":
        ti.name = "name_1mb:" + "ж" * (512 * 1024)
    elif name == "invalid_utf8":
        ti.name = "invalid_utf8:PLACEHOLDER!"
        patch = (b"PLACEHOLDER!", b"\xff\xfe\xc3\x28\xed\xa0\x80\xf8\x88\x80\x80\x80")
    elif name == "nul_in_name":
        ti.name = "nul_in_name:a\x00b\x00"
    elif name == "map_10000_keys":
        for i in range(10000):
            ti.required_resources["r%05d" % i] = float(i)
    elif name.startswith("id_len_"):
        tid = bytes((7 * i + k) % 256 for i in range(int(name[7:])))
    elif name == "job_id_len_3":
        job = b"\x01\x02\x03"
    su.state_ts_ns[STATUS["FINISHED"]] = end
    ev.task_id = tid
    ti.task_id = tid
    ti.job_id = job
    ev.job_id = job
    out = ev.SerializeToString(deterministic=True)
    if patch:
        assert len(patch[0]) == len(patch[1]) and out.count(patch[0]) == 1
        out = out.replace(*patch)
    return out


def huge_entry(i, name_bytes):
    m = pb()
    job = job_id(0)
    ev = m.TaskEvents()
    ev.task_id = task_id(i, job)
    ti = ev.task_info
    ti.name = ("huge_%08d_" % i) + "x" * (name_bytes - 14)
    ti.func_or_class_name = "huge.f"
    ti.job_id = job
    ti.task_id = ev.task_id
    ti.required_resources["CPU"] = 1.0
    su = ev.state_updates
    s = BASE_NS + i * 1_000_000
    su.state_ts_ns[STATUS["PENDING_ARGS_AVAIL"]] = s
    su.state_ts_ns[STATUS["RUNNING"]] = s + 1000
    su.state_ts_ns[STATUS["FINISHED"]] = s + 2000
    ev.job_id = job
    return ev.SerializeToString(deterministic=True)


# Actors whose times (uint64 ms) PostgreSQL cannot hold, beside a sane one.
HOSTILE_ACTOR_TIMES = [("actor_sane", 1_793_534_400_000, 1_793_534_460_000),
                       ("actor_past_294276", 9_300_000_000_000_000, 9_300_000_000_000_001),
                       ("actor_uint64_max", (1 << 64) - 1, (1 << 63) + 5)]


def hostile_actors(out_dir):
    m = pb()
    rep = m.GetAllActorInfoReply()
    for k, (name, start, end) in enumerate(HOSTILE_ACTOR_TIMES):
        a = rep.actor_table_data.add()
        a.actor_id = struct.pack(">IQ", 0xDD, k) + job_id(0)
        a.job_id = job_id(0)
        a.state = 4
        a.name = name
        a.class_name = "Hostile"
        a.start_time = start
        a.end_time = end
    rep.total = len(HOSTILE_ACTOR_TIMES)
    os.makedirs(os.path.join(out_dir, "cluster"), exist_ok=True)
    with open(os.path.join(out_dir, "cluster", "actors_reply.bin"), "wb") as f:
        f.write(rep.SerializeToString(deterministic=True))


def write(out_dir, entries, vectors):
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(vectors, "ray-2.49", "check_alive_reply.bin"),
                os.path.join(out_dir, "check_alive_reply.bin"))
    n = 0
    with open(os.path.join(out_dir, "get_task_events_reply.bin"), "wb") as f:
        f.write(field_bytes(1, b""))                  # status {}
        for e in entries:
            f.write(field_bytes(2, e))
            n += 1
        f.write(varint((5 << 3) | 0) + varint(n))      # num_total_stored
    return n


def main(argv):
    vectors = os.environ.get("RAYDAR_VECTORS")
    if not vectors:
        sys.exit("make_reply.py: RAYDAR_VECTORS must name the wire vectors folder")
    mode, out = argv[0], argv[1]
    if mode == "varied":
        count = int(argv[2])
        njobs = int(argv[4]) if len(argv) > 4 and argv[3] == "--job-count" else 5
        n = write(out, (varied_entry(i, njobs) for i in range(count)), vectors)
    elif mode == "hostile":
        n = write(out, (hostile_entry(k, name) for k, name in enumerate(HOSTILE)), vectors)
        hostile_actors(out)
    elif mode == "huge":
        target = int(argv[2]) * 1024 * 1024
        one = 4096
        n = write(out, (huge_entry(i, one) for i in range(target // (one + 120))), vectors)
    else:
        sys.exit("make_reply.py: unknown mode %r" % mode)
    print(n)


if __name__ == "__main__":
    main(sys.argv[1:])
