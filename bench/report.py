"""Print bench/run.sh's table from its results file.

  python3 bench/report.py RESULTS [NCPU]
"""
import datetime
import statistics
import sys


def kv(line):
    return {k: v for k, v in (w.split("=", 1) for w in line.split() if "=" in w)}


def main():
    path = sys.argv[1]
    ncpu = sys.argv[2] if len(sys.argv) > 2 else "?"
    reply = pbc = core = py = mem = None
    sql = {}
    notes = []
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("reply "):
            reply = kv(line)
        elif line.startswith("pbc "):
            pbc = kv(line)
        elif line.startswith("core "):
            core = kv(line)
        elif line.startswith("py "):
            py = kv(line)
        elif line.startswith("sql|"):
            _, measure, run, ms, call_ms, rows, rbytes, cached = line.split("|")
            if int(run) == 0:
                continue            # warm-up
            sql.setdefault(measure, []).append(
                dict(ms=float(ms), call_ms=float(call_ms), rows=int(rows),
                     reply_bytes=int(rbytes), cached=cached))
        elif line.startswith("mem|"):
            f = line.split("|")
            mem = dict(rss_before=int(f[1]), hwm_before=int(f[2]), hwm_after=int(f[3]),
                       reply_bytes=int(f[4]), rows=int(f[5]))
        elif line.startswith(("explain_filters|", "sim_last_request|", "workaround|", "raydar_so|")):
            notes.append(line)

    def med(measure, key):
        return statistics.median(r[key] for r in sql[measure])

    def med_local(measure):
        return statistics.median(r["ms"] - r["call_ms"] for r in sql[measure])

    a = float(pbc["best_ms"])
    b = float(py["total_ms"])
    copy_e2e, copy_loc = med("copy_all", "ms"), med_local("copy_all")
    grp_e2e, grp_loc = med("group_by_state", "ms"), med_local("group_by_state")
    tid_e2e = med("task_id_eq", "ms")
    rows = []

    def at_most(name, value, vunit, base, bname, target):
        ratio = value / base
        rows.append((name, "%.1f %s" % (value, vunit), "%s %.1f ms" % (bname, base),
                     "%.2fx" % ratio, "<= %gx" % target, "yes" if ratio <= target else "NO"))

    def faster(name, value, base, bname, target):
        ratio = base / value
        rows.append((name, ("%.1f ms" if value >= 10 else "%.2f ms") % value, "%s %.1f ms" % (bname, base),
                     "%.1fx faster" % ratio, ">= %gx faster" % target,
                     "yes" if ratio >= target else "NO"))

    at_most("COPY SELECT * end to end", copy_e2e, "ms", a, "(a)", 2)
    at_most("COPY SELECT * decode+tuples", copy_loc, "ms", a, "(a)", 2)
    faster("COPY SELECT * end to end vs Python", copy_e2e, b, "(b)", 10)
    faster("COPY SELECT * decode+tuples vs Python", copy_loc, b, "(b)", 10)
    at_most("GROUP BY state end to end", grp_e2e, "ms", a, "(a)", 1)
    at_most("GROUP BY state decode+tuples", grp_loc, "ms", a, "(a)", 1)
    peak = (mem["hwm_after"] - mem["rss_before"]) * 1024
    ratio = peak / mem["reply_bytes"]
    rows.append(("peak backend RSS during COPY", "%.1f MB" % (peak / 1e6),
                 "reply %.1f MB" % (mem["reply_bytes"] / 1e6), "%.2fx" % ratio, "<= 3x",
                 "yes" if ratio <= 3 else "NO"))
    faster("WHERE task_id = '<hex>' end to end", tid_e2e, copy_e2e, "COPY", 50)
    faster("WHERE task_id = '<hex>' decode+tuples", med_local("task_id_eq"), copy_loc, "COPY", 50)

    head = ("measurement", "value", "baseline", "ratio", "target", "met?")
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "| " + " | ".join("%%-%ds" % x for x in w) + " |"
    print()
    print("raydar benchmark, %s, %s CPUs, %s tasks (%s rows), reply %s bytes" % (
        datetime.date.today().isoformat(), ncpu, reply["events"], sql["copy_all"][0]["rows"],
        reply["bytes"]))
    print()
    print(fmt % head)
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(fmt % r)
    print()
    print("SQL times: median of %d runs after a warm-up; 'decode+tuples' = total minus "
          "raydar.last_scan().call_ms (the gRPC call)." % len(sql["copy_all"]))
    if "copy_no_jsonb" in sql:
        nj = med_local("copy_no_jsonb")
        print("COPY without the 6 jsonb columns: %.1f ms decode+tuples (median), so the jsonb "
              "columns cost %.1f ms of the %.1f ms (%.0f%%)" % (
                  nj, copy_loc - nj, copy_loc, 100.0 * (copy_loc - nj) / copy_loc))
    for m in ("copy_all", "copy_no_jsonb", "group_by_state", "task_id_eq"):
        rs = sql[m]
        print("  %-15s total %s ms | call_ms %s ms | rows %d | reply_bytes %d | from_cache %s" % (
            m, " ".join("%.0f" % r["ms"] for r in rs), " ".join("%.0f" % r["call_ms"] for r in rs),
            rs[0]["rows"], rs[0]["reply_bytes"], ",".join(sorted({r["cached"] for r in rs}))))
    print("(a) protobuf-c unpack+free_unpacked: best %s ms, median %s ms, unpack alone %s ms (%s runs)" % (
        pbc["best_ms"], pbc["median_ms"], pbc["unpack_only_best_ms"], pbc["runs"]))
    print("(b) Python: parse %s ms + MessageToDict/derivation %s ms = %s ms (best of the runs)" % (
        py["parse_ms"], py["dict_derive_ms"], py["total_ms"]))
    print("core outside PostgreSQL: ray_task_reply_decode %s ms, + per-row hex/enum/JSON text %s ms" % (
        core["decode_best_ms"], core["decode_render_best_ms"]))
    if "decoded_heap_bytes" in core:
        print("core outside PostgreSQL: the decoded reply holds %.1f MB of malloc heap (%.2fx the reply)" % (
            int(core["decoded_heap_bytes"]) / 1e6, int(core["decoded_heap_bytes"]) / int(reply["bytes"])))
    print("memory: VmRSS before %d kB, VmHWM before %d kB, after %d kB" % (
        mem["rss_before"], mem["hwm_before"], mem["hwm_after"]))
    for n in notes:
        print(n.replace("|", ": ", 1))


if __name__ == "__main__":
    main()
