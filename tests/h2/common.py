"""Shared helpers of the HTTP/2 interop tests (tests/h2/*.py).

- load_pb(): compiles proto/grpcstream.proto with protoc into a build
  directory and imports the generated message classes.
- load_interop_pb(): the same for gRPC's interop protos in
  examples/grpc/testing (tests/h2/interop_cases.py and its reference
  server).
- Server: starts a server command with --listen 127.0.0.1:PORT on a free
  port (and --log FILE when asked), waits until it accepts connections,
  and stops it with SIGTERM (SIGKILL after 7 s).
- Report: prints PASS:/FAIL:/SKIP: lines and gives the exit status.
"""
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import types

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "proto")
EXAMPLES_DIR = os.path.join(REPO, "examples")
INTEROP_PROTOS = ["grpc/testing/empty.proto", "grpc/testing/messages.proto",
                  "grpc/testing/test.proto"]

# The built-in log of PROTOCOL.md 1.3, in order.
BUILTIN = [
    ("INFO", "server started"),
    ("ERROR", "disk full"),
    ("WARN", "high memory usage"),
    ("ERROR", "connection reset"),
    ("INFO", "request served"),
    ("ERROR", "timeout"),
    ("DEBUG", "cache miss"),
    ("INFO", "user login"),
]


def load_pb(build_dir):
    """Generates grpcstream_pb2.py into build_dir and imports it."""
    os.makedirs(build_dir, exist_ok=True)
    subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out=" + build_dir,
                    os.path.join(PROTO_DIR, "grpcstream.proto")], check=True)
    if build_dir not in sys.path:
        sys.path.insert(0, build_dir)
    import grpcstream_pb2
    return grpcstream_pb2


def load_interop_pb(build_dir):
    """Compiles gRPC's interop protos (examples/grpc/testing, protoc -I
    examples) into build_dir and returns their messages and enum values as
    one namespace: pb.Empty, pb.SimpleRequest, pb.COMPRESSABLE, ...

    protoc writes them as build_dir/grpc/testing/*_pb2.py, a package that
    grpcio's own `grpc` would shadow, so empty_pb2 and messages_pb2 are
    loaded by path (test_pb2 holds only the services, which the generic
    calls name by path)."""
    os.makedirs(build_dir, exist_ok=True)
    subprocess.run(["protoc", "-I", EXAMPLES_DIR, "--python_out=" + build_dir]
                   + [os.path.join(EXAMPLES_DIR, p) for p in INTEROP_PROTOS], check=True)
    pb = types.SimpleNamespace()
    for name in ("empty_pb2", "messages_pb2"):
        modname = "grpc_testing_" + name
        mod = sys.modules.get(modname)
        if mod is None:
            path = os.path.join(build_dir, "grpc", "testing", name + ".py")
            spec = importlib.util.spec_from_file_location(modname, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            sys.modules[modname] = mod
        for key, value in vars(mod).items():
            if not key.startswith("_") and key != "DESCRIPTOR":
                setattr(pb, key, value)
    return pb


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_reference(cmd):
    """True when the server under test is tests/h2/ref_server.py."""
    return "ref_server.py" in cmd


class Server:
    """One server process on a free port; use as a context manager."""

    def __init__(self, cmd, build_dir, log=None):
        self.cmd = shlex.split(cmd)
        self.build_dir = build_dir
        self.log = log
        self.port = None
        self.proc = None
        self.stderr_path = os.path.join(build_dir, "server.stderr")

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        for attempt in range(3):        # a free port can be taken in between
            self.port = free_port()
            args = self.cmd + ["--listen", self.addr]
            if self.log:
                args += ["--log", self.log]
            with open(self.stderr_path, "w") as err:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err)
            if self._wait_ready(10.0):
                return self
            self.stop()
        raise RuntimeError("server did not start: %s\n%s" % (" ".join(args), self.stderr()))

    def _wait_ready(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, seconds=7.0):
        """SIGTERM, then SIGKILL after `seconds`; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Report:
    def __init__(self):
        self.failed = 0

    def passed(self, name, note=""):
        print("PASS: %s%s" % (name, " (%s)" % note if note else ""), flush=True)

    def fail(self, name, detail):
        self.failed += 1
        print("FAIL: %s" % name)
        for line in str(detail).rstrip("\n").split("\n")[:40]:
            print("    " + line)
        sys.stdout.flush()

    def skip(self, name, reason):
        print("SKIP: %s (%s)" % (name, reason), flush=True)

    def status(self):
        return 1 if self.failed else 0


def lpm(payload, compressed=0):
    """One gRPC Length-Prefixed-Message."""
    return bytes([compressed]) + len(payload).to_bytes(4, "big") + payload


def split_lpms(data):
    """Splits a body into its messages; raises ValueError on a bad frame."""
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 5:
            raise ValueError("%d stray bytes after %d messages" % (len(data) - i, len(out)))
        flag = data[i]
        n = int.from_bytes(data[i + 1:i + 5], "big")
        if flag != 0:
            raise ValueError("message %d has compressed flag %d" % (len(out) + 1, flag))
        if len(data) - i - 5 < n:
            raise ValueError("message %d cut short: %d of %d bytes" % (len(out) + 1, len(data) - i - 5, n))
        out.append(data[i + 5:i + 5 + n])
        i += 5 + n
    return out
