"""Summarise a perf.data of the backend (bench/run.sh --profile).

Other sessions may reinstall raydar.so while the benchmark runs, so perf
often sees the mapped file as "(deleted)" and cannot name its functions.
run.sh snapshots the .so the postmaster loaded; this script names raydar's
addresses with addr2line on that snapshot, then prints
  - self time by function (top N), raydar's named;
  - inclusive time of the stages that matter (callers from frame pointers).

  python3 bench/perf_summary.py PERF_DATA RAYDAR_SO_SNAPSHOT [N]
"""
import collections
import re
import subprocess
import sys

STAGES = [
    # (label, function names whose inclusive time is the stage)
    ("gRPC call (raydar_conn_call)", ["raydar_conn_call"]),
    ("ray_task_reply_decode (protobuf-c unpack + derivation)", ["ray_task_reply_decode"]),
    ("  of which protobuf_c_message_unpack", ["protobuf_c_message_unpack"]),
    ("ray_task_reply_decode_keys (lazy key-column decoder)", ["ray_task_reply_decode_keys"]),
    ("jsonb columns: JSON text -> jsonb_in (raydar_json_to_jsonb)", ["raydar_json_to_jsonb"]),
    ("  of which jsonb_in (PostgreSQL's JSON parser)", ["jsonb_in"]),
    ("COPY output functions (CopyOneRowTo)", ["CopyOneRowTo"]),
    ("  of which jsonb_out", ["jsonb_out"]),
    ("  of which timestamptz_out", ["timestamptz_out"]),
    ("ID columns to hex text (id_value)", ["id_value"]),
    ("ray_ns_to_ms_floor (fmod per event)", ["ray_ns_to_ms_floor", "__fmod_finite@GLIBC_2.15", "__fmod"]),
    ("text datums (cstring_to_text_with_len)", ["cstring_to_text_with_len"]),
    ("executor: hash aggregate", ["LookupTupleHashEntry", "agg_fill_hash_table"]),
    ("page faults (kernel)", ["exc_page_fault", "asm_exc_page_fault"]),
]


def main():
    data, snap = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    out = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"],
                         capture_output=True, text=True).stdout
    # Samples: first line after a blank is the leaf frame; all lines are the stack.
    samples = []
    cur = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            if cur:
                samples.append(cur)
            cur = []
            continue
        m = re.match(r"([0-9a-f]+)\s+(.*?)\s+\((.*)\)$", line)
        if m:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if cur:
        samples.append(cur)
    # perf script prints an unnamed frame of a (deleted) .so as its offset
    # in the file, which for raydar.so equals the ELF address addr2line wants.
    base = 0
    addrs = set()
    for s in samples:
        for ip, sym, dso in s:
            if "raydar.so" in dso and (sym == "[unknown]" or sym.startswith("0x")):
                addrs.add(ip - base)
    names = {}
    if addrs:
        al = sorted(addrs)
        res = subprocess.run(["addr2line", "-f", "-e", snap] + ["0x%x" % a for a in al],
                             capture_output=True, text=True).stdout.splitlines()
        for i, a in enumerate(al):
            names[a] = res[2 * i] if 2 * i < len(res) else "?"

    def name(ip, sym, dso):
        if "raydar.so" in dso and (sym == "[unknown]" or sym.startswith("0x")):
            return names.get(ip - base, "?") + " [raydar]"
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if sym == "[unknown]":
            return "[unknown %s]" % dso.split("/")[-1]
        return sym

    n = len(samples)
    selfc = collections.Counter(name(*s[0]) for s in samples)
    print("%d samples" % n)
    print("self time by function (top %d):" % top)
    for fn, c in selfc.most_common(top):
        print("  %5.1f%%  %s" % (100.0 * c / n, fn))
    print("inclusive time by stage (frame-pointer call chains; libc/libprotobuf-c frames")
    print("without frame pointers may lose their callers, so these are lower bounds):")
    for label, fns in STAGES:
        c = sum(1 for s in samples if any(name(*f).split(" [")[0] in fns for f in s))
        print("  %5.1f%%  %s" % (100.0 * c / n, label))


if __name__ == "__main__":
    main()
