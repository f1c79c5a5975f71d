"""Generated protobuf classes for src/proto/ray_gcs.proto.

The simulator uses the project's own .proto (not a copy), generated at run
time with /usr/bin/protoc into test/raysim/_gen/, so it never drifts from the
messages the C extension is built from. Regenerated when missing or older
than the .proto.
"""
import importlib
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
RAYSIM_DIR = os.path.dirname(HERE)                      # test/raysim
REPO = os.path.dirname(os.path.dirname(RAYSIM_DIR))     # repo root
PROTO_DIR = os.path.join(REPO, "src", "proto")
PROTO_FILE = os.path.join(PROTO_DIR, "ray_gcs.proto")
GEN_DIR = os.path.join(RAYSIM_DIR, "_gen")
PROTOC = "/usr/bin/protoc"

_lock = threading.Lock()
_mod = None


def _generate():
    out = os.path.join(GEN_DIR, "ray_gcs_pb2.py")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(PROTO_FILE):
        return
    os.makedirs(GEN_DIR, exist_ok=True)
    # Generate into a private temp dir, then rename: several simulator
    # processes may start at once (tests run in parallel).
    tmp = os.path.join(GEN_DIR, ".tmp-%d" % os.getpid())
    os.makedirs(tmp, exist_ok=True)
    subprocess.check_call([PROTOC, "--python_out=" + tmp,
                           "--proto_path=" + PROTO_DIR, PROTO_FILE])
    os.replace(os.path.join(tmp, "ray_gcs_pb2.py"), out)
    os.rmdir(tmp)


def pb():
    """The ray_gcs_pb2 module."""
    global _mod
    with _lock:
        if _mod is None:
            _generate()
            if GEN_DIR not in sys.path:
                sys.path.insert(0, GEN_DIR)
            _mod = importlib.import_module("ray_gcs_pb2")
        return _mod
