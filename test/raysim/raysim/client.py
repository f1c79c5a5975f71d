"""Simulator: start raysim.py as a subprocess and talk to it (for tests).

    with Simulator(profile="2.40", scenario="vectors") as sim:
        raw = sim.call("/ray.rpc.NodeInfoGcsService/CheckAlive", b"")
        sim.admin("/fault", {"mode": "slow", "delay_ms": 200})
"""
import json
import os
import subprocess
import tempfile
import time
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "raysim.py")
PYTHON = "/usr/bin/python3"


class Simulator:
    def __init__(self, ready_timeout=60, **opts):
        """opts become CLI flags: profile="2.9" -> --profile 2.9; True -> bare flag."""
        self.tmp = tempfile.mkdtemp(prefix="raysim-")
        self.port_file = os.path.join(self.tmp, "ports.json")
        args = [PYTHON, SCRIPT, "--port-file", self.port_file]
        for k, v in opts.items():
            if v is None or v is False:
                continue
            flag = "--" + k.replace("_", "-")
            if v is True:
                args.append(flag)
            else:
                args += [flag, json.dumps(v) if isinstance(v, dict) else str(v)]
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.time() + ready_timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("raysim exited %s: %s" % (self.proc.returncode, self.stderr()))
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("raysim did not start")
            time.sleep(0.02)
        info = json.load(open(self.port_file))
        self.grpc_port = info["grpc_port"]
        self.admin_port = info["admin_port"]
        self.pid = info["pid"]
        self._channel = None

    def stderr(self):
        try:
            return open(self.stderr_path, "rb").read().decode(errors="replace")
        except OSError:
            return ""

    def admin(self, path, body=None, timeout=30):
        url = "http://127.0.0.1:%d%s" % (self.admin_port, path)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return dict(json.loads(e.read() or b"{}"), http_status=e.code)

    def channel(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(
                "127.0.0.1:%d" % self.grpc_port,
                options=[("grpc.max_receive_message_length", 512 * 1024 * 1024),
                         ("grpc.enable_retries", 0)])
        return self._channel

    def call(self, method, request_bytes=b"", metadata=None, timeout=30):
        """Raw unary call; returns reply bytes or raises grpc.RpcError."""
        fn = self.channel().unary_unary(method, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        return fn(request_bytes, metadata=list((metadata or {}).items()) or None, timeout=timeout)

    def fresh_channel(self):
        """Drop the cached channel (after the server went away)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc.poll() is None:
            try:
                self.admin("/shutdown", {}, timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
