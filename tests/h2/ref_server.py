#!/usr/bin/python3
"""Reference server for the HTTP/2 interop tests, written with grpcio.

    /usr/bin/python3 tests/h2/ref_server.py --listen [HOST:]PORT [--log FILE]

It serves PROTOCOL.md sections 1.3, 1.6 and 2 the way grpcio can, so the
interop tests can be proved correct before ./grpcstream serves them:
LogWatcher/WatchLogs (filter, limit, follow, deadlines), LogWatcher/Append
(returns seq), Chat/BiDiChat ("echo: " + text, OK at half-close), unknown
methods UNIMPLEMENTED "unknown method". The log is the 8 built-in entries,
or FILE (lines `LEVEL message...` or JSON objects with level and msg),
followed for lines other writers append (checked every 20 ms).

What grpcio decides itself (content-types, framing errors, compression)
is not PROTOCOL.md's; the tests skip those checks against this server.
SIGTERM or SIGINT: stop taking calls, 5 s grace, exit 0.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class Log:
    """The log: a list of (level, msg), or a file followed like tail -F."""

    def __init__(self, path=None):
        self.cond = threading.Condition()
        self.path = path
        self.entries = []
        if path is None:
            self.entries = list(common.BUILTIN)
            return
        self.offset = 0
        self.partial = b""
        self.inode = None
        with self.cond:
            self._read_file()
        threading.Thread(target=self._poll_file, daemon=True).start()

    def _read_file(self):
        """Reads what FILE gained; called with the lock held."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if st.st_ino != self.inode or st.st_size < self.offset:
            self.inode, self.offset, self.partial, self.entries = st.st_ino, 0, b"", []
        if st.st_size == self.offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()       # a partial last line waits for its newline
        for raw in lines:
            entry = parse_line(raw)
            if entry:
                self.entries.append(entry)
        self.cond.notify_all()

    def _poll_file(self):
        while True:
            with self.cond:
                self._read_file()
                self.cond.wait(0.02)

    def append(self, level, msg):
        """Appends an entry and returns its seq (1-based position)."""
        with self.cond:
            if self.path is None:
                self.entries.append((level, msg))
                self.cond.notify_all()
                return len(self.entries)
            plain = (level and not any(c.isspace() or ord(c) < 32 for c in level)
                     and "\n" not in msg and "\r" not in msg)
            line = "%s %s\n" % (level, msg) if plain else json.dumps({"level": level, "msg": msg}) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            self._read_file()
            return len(self.entries)


def parse_line(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if isinstance(obj, dict) and isinstance(obj.get("level"), str) and isinstance(obj.get("msg"), str):
            return (obj["level"], obj["msg"])
        return None
    level, _, msg = text.partition(" ")
    return (level, msg)


class Services:
    def __init__(self, log, pb):
        self.log = log
        self.pb = pb

    def watch_logs(self, request, context):
        limit = request.limit
        sent = 0
        i = 0
        with self.log.cond:
            end = len(self.log.entries)    # a plain watch serves what is there now
        while True:
            with self.log.cond:
                batch = self.log.entries[i:end if not request.follow else None]
            for level, msg in batch:
                i += 1
                if request.filter and level != request.filter:
                    continue
                yield self.pb.LogEntry(level=level, msg=msg)
                sent += 1
                if limit and sent >= limit:
                    return
            if not request.follow:
                return
            with self.log.cond:
                while len(self.log.entries) == i:
                    if not context.is_active():
                        return
                    # End 10 ms early, so that this status (with PROTOCOL's
                    # message) wins over grpcio's own deadline handling.
                    left = context.time_remaining()
                    if left is not None and left <= 0.01:
                        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
                    self.log.cond.wait(0.05 if left is None else max(0.001, min(0.05, left - 0.01)))
                if len(self.log.entries) < i:    # the file was replaced: read it again
                    i = 0

    def append(self, request, context):
        return self.pb.AppendResponse(seq=self.log.append(request.level, request.msg))

    def bidi_chat(self, request_iterator, context):
        for m in request_iterator:
            yield self.pb.ChatMessage(text="echo: " + m.text)


class UnknownMethods(grpc.GenericRpcHandler):
    """Every path not served: UNIMPLEMENTED "unknown method"."""

    def service(self, handler_call_details):
        def unknown(request_iterator, context):
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "unknown method")
        return grpc.stream_stream_rpc_method_handler(unknown)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True, help="[HOST:]PORT")
    ap.add_argument("--log", help="the log file")
    ap.add_argument("--build-dir", default=None, help="where protoc writes grpcstream_pb2.py")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    host = host or "127.0.0.1"
    if args.log and not os.path.isfile(args.log):
        print("%s: no such file" % args.log, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as build:
        pb = common.load_pb(args.build_dir or build)
    svc = Services(Log(args.log), pb)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=300))
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler("LogWatcher", {
            "WatchLogs": grpc.unary_stream_rpc_method_handler(
                svc.watch_logs, pb.WatchRequest.FromString, pb.LogEntry.SerializeToString),
            "Append": grpc.unary_unary_rpc_method_handler(
                svc.append, pb.LogEntry.FromString, pb.AppendResponse.SerializeToString),
        }),
        grpc.method_handlers_generic_handler("Chat", {
            "BiDiChat": grpc.stream_stream_rpc_method_handler(
                svc.bidi_chat, pb.ChatMessage.FromString, pb.ChatMessage.SerializeToString),
        }),
        UnknownMethods(),
    ])
    if server.add_insecure_port("%s:%s" % (host, port)) == 0:
        print("cannot listen on %s" % args.listen, file=sys.stderr)
        return 2
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(1.0):
        pass
    server.stop(5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
