#!/usr/bin/python3
"""gRPC-over-HTTP/2 interop tests of grpcstream --listen, with grpcio and h2.

    /usr/bin/python3 tests/h2/interop_py.py [--server CMD] [--build-dir DIR] [TEST...]

CMD (default ./grpcstream) is started as `CMD --listen 127.0.0.1:PORT
[--log FILE]` on a free port for each test and stopped with SIGTERM after
it. Each test prints `PASS: name`, `FAIL: name` with indented detail, or
`SKIP: name (reason)`; the exit status is 1 on any FAIL. TEST arguments
select tests by name prefix.

The grpcio client checks PROTOCOL.md 1.3, 1.6 and 2 semantics through a
stock gRPC stack (message classes from protoc, generic calls since Debian
has no grpc_tools). The "raw:" tests speak HTTP/2 themselves (python3-h2)
to check what a gRPC library hides: application/grpc+json, Trailers-Only
responses, and the status table of PROTOCOL.md 2.2. Against the grpcio
reference server (tests/h2/ref_server.py) the checks that are grpcio's
behaviour rather than PROTOCOL.md's are skipped.
"""
import argparse
import gzip
import importlib.util
import json
import os
import queue
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import BUILTIN, lpm, split_lpms  # noqa: E402

try:
    import grpc
    OK = grpc.StatusCode.OK
except ImportError:      # every test is skipped (main() says why)
    grpc = None
HAVE_H2 = importlib.util.find_spec("h2") is not None
CALL_TIMEOUT = 10.0      # every call has a deadline, so no test can hang
pb = None                # grpcstream_pb2, loaded in main()


# ------------------------------------------------------------- the client

def channel(srv):
    """A channel with its own connection (no subchannel shared with others)."""
    return grpc.insecure_channel(srv.addr, options=[("grpc.use_local_subchannel_pool", 1)])


def watch(ch, timeout=CALL_TIMEOUT, **request):
    """WatchLogs: returns ([(level, msg)...], status code, details)."""
    stub = ch.unary_stream("/LogWatcher/WatchLogs",
                           request_serializer=pb.WatchRequest.SerializeToString,
                           response_deserializer=pb.LogEntry.FromString)
    call = stub(pb.WatchRequest(**request), timeout=timeout)
    got = []
    try:
        for e in call:
            got.append((e.level, e.msg))
    except grpc.RpcError:
        pass
    return got, call.code(), call.details()


def append(ch, level, msg):
    stub = ch.unary_unary("/LogWatcher/Append",
                          request_serializer=pb.LogEntry.SerializeToString,
                          response_deserializer=pb.AppendResponse.FromString)
    return stub(pb.LogEntry(level=level, msg=msg), timeout=CALL_TIMEOUT).seq


class Bidi:
    """A Chat/BiDiChat call driven one message at a time."""

    def __init__(self, ch, timeout=CALL_TIMEOUT):
        self.q = queue.Queue()
        stub = ch.stream_stream("/Chat/BiDiChat",
                                request_serializer=pb.ChatMessage.SerializeToString,
                                response_deserializer=pb.ChatMessage.FromString)
        self.call = stub(iter(self.q.get, None), timeout=timeout)

    def send(self, text):
        self.q.put(pb.ChatMessage(text=text))

    def recv(self):
        """The next message's text; None at the end of the stream."""
        try:
            return next(self.call).text
        except StopIteration:
            return None

    def half_close(self):
        self.q.put(None)


class Follow:
    """A follow WatchLogs read from a thread, entries gathered with times."""

    def __init__(self, ch, timeout=CALL_TIMEOUT, **request):
        stub = ch.unary_stream("/LogWatcher/WatchLogs",
                               request_serializer=pb.WatchRequest.SerializeToString,
                               response_deserializer=pb.LogEntry.FromString)
        self.call = stub(pb.WatchRequest(follow=True, **request), timeout=timeout)
        self.entries = queue.Queue()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for e in self.call:
                self.entries.put((time.monotonic(), (e.level, e.msg)))
        except grpc.RpcError:
            pass
        self.done.set()

    def take(self, n, seconds=5.0):
        """The next n entries (fewer if the stream ends or time runs out)."""
        out = []
        end = time.monotonic() + seconds
        while len(out) < n:
            try:
                out.append(self.entries.get(timeout=max(0.001, end - time.monotonic()))[1])
            except queue.Empty:
                break
        return out

    def take_timed(self, seconds=5.0):
        """(arrival time, entry) of the next entry, or None."""
        try:
            return self.entries.get(timeout=seconds)
        except queue.Empty:
            return None

    def finish(self, seconds=5.0):
        """Waits for the end; returns (entries not yet taken, code, details)."""
        if not self.done.wait(seconds):
            return None, None, "still open after %.1f s" % seconds
        rest = []
        while not self.entries.empty():
            rest.append(self.entries.get()[1])
        return rest, self.call.code(), self.call.details()


# ------------------------------------------------------------- assertions

def same(what, got, want):
    if got == want:
        return
    lines = ["%s: expected %d, got %d" % (what, len(want), len(got))
             if isinstance(want, list) else "%s differs" % what]
    if isinstance(want, list) and isinstance(got, list):
        for i in range(max(len(got), len(want))):
            g = got[i] if i < len(got) else "(missing)"
            w = want[i] if i < len(want) else "(nothing)"
            if g != w:
                lines.append("first difference at #%d: expected %s, got %s" % (i + 1, short(w), short(g)))
                break
    else:
        lines.append("expected %s" % short(want))
        lines.append("     got %s" % short(got))
        if isinstance(got, (str, bytes)) and isinstance(want, type(got)) and max(len(got), len(want)) > 60:
            i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
            lines.append("lengths %d (expected) and %d; first difference at offset %d: expected %s, got %s" % (
                len(want), len(got), i, short(want[max(0, i - 10):i + 20]), short(got[max(0, i - 10):i + 20])))
    raise AssertionError("\n".join(lines))


def short(v, n=160):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


def status_is(got_code, got_details, code, details=None, what="status"):
    if got_code != code or (details is not None and got_details != details):
        raise AssertionError("%s: expected %s%s, got %s %r" % (
            what, code.name, "" if details is None else " %r" % details,
            got_code.name if got_code else None, got_details))


# ------------------------------------------------------------- raw HTTP/2

class RawResult:
    def __init__(self):
        self.headers = None          # the response HEADERS, a dict
        self.trailers = None         # the trailing HEADERS, a dict
        self.trailers_only = False   # the response HEADERS carried END_STREAM
        self.data = b""
        self.reset = None            # RST_STREAM error code
        self.goaway = None
        self.ended = False

    def grpc(self, name):
        """A grpc-* field from the trailers (or a Trailers-Only HEADERS)."""
        src = self.headers if self.trailers_only else self.trailers
        v = (src or {}).get(name)
        return urllib.parse.unquote(v) if v is not None and name == "grpc-message" else v

    def describe(self):
        return "headers=%r trailers=%r trailers_only=%r data=%d bytes reset=%r goaway=%r ended=%r" % (
            self.headers, self.trailers, self.trailers_only, len(self.data),
            self.reset, self.goaway, self.ended)


def raw_call(srv, path, body, content_type="application/grpc", extra=(), seconds=5.0):
    """One POST over its own h2c connection; body None sends no DATA."""
    import h2.config
    import h2.connection
    import h2.events
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=seconds)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
               (":authority", srv.addr), ("te", "trailers")]
    if content_type is not None:
        headers.append(("content-type", content_type))
    headers += list(extra)
    conn.send_headers(sid, headers, end_stream=body is None)
    if body is not None:
        conn.send_data(sid, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    res = RawResult()
    end = time.monotonic() + seconds
    try:
        while not (res.ended or res.reset is not None or res.goaway is not None):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no end of stream in %.1f s: %s" % (seconds, res.describe()))
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            for ev in conn.receive_data(chunk):
                if getattr(ev, "stream_id", sid) != sid:
                    continue
                if isinstance(ev, h2.events.ResponseReceived):
                    res.headers = dict(ev.headers)
                    res.trailers_only = ev.stream_ended is not None
                elif isinstance(ev, h2.events.TrailersReceived):
                    res.trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    res.data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    res.ended = True
                elif isinstance(ev, h2.events.StreamReset):
                    res.reset = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    res.goaway = ev.error_code
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    return res


def raw_grpc_status(res, code, message=None, trailers_only=None):
    """Asserts a gRPC end of call: status code (int), message, form."""
    if res.headers is None:
        raise AssertionError("no response HEADERS: " + res.describe())
    if res.headers.get(":status") != "200":
        raise AssertionError(":status %r, expected 200: %s" % (res.headers.get(":status"), res.describe()))
    if not res.ended:
        raise AssertionError("the stream did not end with END_STREAM: " + res.describe())
    if trailers_only is not None and res.trailers_only != trailers_only:
        raise AssertionError("expected %s: %s" % (
            "a Trailers-Only response" if trailers_only else "HEADERS, then trailers", res.describe()))
    if res.grpc("grpc-status") != str(code):
        raise AssertionError("grpc-status %r, expected %d (message %r): %s" % (
            res.grpc("grpc-status"), code, res.grpc("grpc-message"), res.describe()))
    if message is not None and res.grpc("grpc-message") != message:
        raise AssertionError("grpc-message %r, expected %r" % (res.grpc("grpc-message"), message))


# ------------------------------------------------------------- the tests

TESTS = []


def test(name, log=None, reference=None):
    """Registers a test. log: the --log FILE content (None: no --log).
    reference: a reason to skip against the grpcio reference server."""
    def wrap(fn):
        TESTS.append((name, fn, log, reference))
        return fn
    return wrap


E = [("INFO", "server started"), ("ERROR", "disk full"), ("WARN", "high memory usage"),
     ("ERROR", "connection reset"), ("INFO", "request served"), ("ERROR", "timeout"),
     ("DEBUG", "cache miss"), ("INFO", "user login")]
assert E == BUILTIN
ERRORS = [e for e in E if e[0] == "ERROR"]


@test("watchlogs: no filter sends the 8 built-in entries in order, then OK")
def t_watch_all(srv):
    got, code, det = watch(channel(srv))
    same("entries", got, E)
    status_is(code, det, OK)


@test("watchlogs: filter ERROR sends the 3 ERROR entries")
def t_watch_filter(srv):
    got, code, det = watch(channel(srv), filter="ERROR")
    same("entries", got, ERRORS)
    status_is(code, det, OK)


@test("watchlogs: limit 2 sends the first 2 entries")
def t_watch_limit(srv):
    got, code, det = watch(channel(srv), limit=2)
    same("entries", got, E[:2])
    status_is(code, det, OK)


@test("watchlogs: filter ERROR, limit 2")
def t_watch_filter_limit(srv):
    got, code, det = watch(channel(srv), filter="ERROR", limit=2)
    same("entries", got, ERRORS[:2])
    status_is(code, det, OK)
    got, code, det = watch(channel(srv), filter="NOSUCHLEVEL")
    same("entries for a level nobody logs", got, [])
    status_is(code, det, OK)


@test("append: seq 9 then 10 on a fresh server; a plain watch sees them")
def t_append(srv):
    ch = channel(srv)
    same("first Append seq", append(ch, "WARN", "first append"), 9)
    same("second Append seq", append(ch, "ERROR", "second append"), 10)
    got, code, det = watch(channel(srv))
    same("entries after two Appends", got, E + [("WARN", "first append"), ("ERROR", "second append")])
    status_is(code, det, OK)


@test("follow: backlog, then Appends from another channel, OK at the limit")
def t_follow_limit(srv):
    f = Follow(channel(srv), filter="WARN", limit=3)
    same("backlog", f.take(1), [("WARN", "high memory usage")])
    other = channel(srv)
    same("Append seq", append(other, "INFO", "not for WARN watchers"), 9)
    same("Append seq", append(other, "WARN", "live one"), 10)
    same("live entry", f.take(1), [("WARN", "live one")])
    same("Append seq", append(other, "WARN", "live two"), 11)
    rest, code, det = f.finish()
    same("entries after the live one", rest, [("WARN", "live two")])
    status_is(code, det, OK)


@test("follow: a deadline (grpc-timeout) ends the watch DEADLINE_EXCEEDED")
def t_follow_deadline(srv):
    t0 = time.monotonic()
    f = Follow(channel(srv), timeout=0.8)
    same("backlog", f.take(8), E)
    append(channel(srv), "INFO", "before the deadline")
    same("live entry", f.take(1), [("INFO", "before the deadline")])
    rest, code, det = f.finish()
    took = time.monotonic() - t0
    same("entries after the live one", rest, [])
    if code != grpc.StatusCode.DEADLINE_EXCEEDED or not (det or "").lower().startswith("deadline exceeded"):
        raise AssertionError("expected DEADLINE_EXCEEDED 'deadline exceeded...', got %s %r" % (code, det))
    if not 0.7 <= took <= 3.0:
        raise AssertionError("the 0.8 s deadline ended the call after %.2f s" % took)
    return "ended after %.2f s" % took


@test("follow: lines another writer appends to --log FILE arrive within 100 ms",
      log="INFO one\nERROR two\n")
def t_follow_file(srv):
    f = Follow(channel(srv), limit=5)
    same("backlog from FILE", f.take(2), [("INFO", "one"), ("ERROR", "two")])
    time.sleep(0.15)     # the server is idle, waiting for the file to grow
    lat = []
    for line, entry in [("WARN from outside\n", ("WARN", "from outside")),
                        ("ERROR second from outside\n", ("ERROR", "second from outside")),
                        ('{"level": "INFO", "msg": "json form"}\n', ("INFO", "json form"))]:
        with open(srv.log, "a") as w:
            w.write(line)
            t0 = time.monotonic()
        got = f.take_timed(2.0)
        if got is None:
            raise AssertionError("%r appended to FILE did not arrive within 2 s" % line)
        same("entry from FILE", got[1], entry)
        lat.append((got[0] - t0) * 1000)
        time.sleep(0.07)      # the next write lands at another point of the poll period
    rest, code, det = f.finish()
    same("entries after the three lines", rest, [])
    status_is(code, det, OK)
    note = "latencies %s ms" % ", ".join("%.1f" % x for x in lat)
    if max(lat) > 100:
        raise AssertionError("a line took more than 100 ms: " + note)
    return note


@test("append with --log FILE: seq counts the file's entries, the line is in FILE",
      log="INFO one\nERROR two\n")
def t_append_file(srv):
    ch = channel(srv)
    same("Append seq", append(ch, "WARN", "appended by a call"), 3)
    with open(srv.log) as f:
        lines = f.read().split("\n")
    same("FILE's last line", lines[-2:], ["WARN appended by a call", ""])
    got, code, det = watch(ch)
    same("entries", got, [("INFO", "one"), ("ERROR", "two"), ("WARN", "appended by a call")])
    status_is(code, det, OK)


@test("follow: a client cancel ends the watch CANCELLED; the server goes on")
def t_follow_cancel(srv):
    ch = channel(srv)
    f = Follow(ch)
    same("backlog", f.take(8), E)
    f.call.cancel()
    rest, code, det = f.finish()
    status_is(code, det, grpc.StatusCode.CANCELLED)
    same("Append after the cancel", append(ch, "INFO", "after cancel"), 9)
    got, code, det = watch(ch, filter="INFO")
    same("entries", got, [e for e in E if e[0] == "INFO"] + [("INFO", "after cancel")])
    status_is(code, det, OK)


def printable(rng, n):
    return "".join(chr(rng.randrange(0x20, 0x7f)) for _ in range(n))


@test("bidichat: 1,000 messages, each echo read before the next send")
def t_bidi_1000(srv):
    rng = random.Random(1)
    b = Bidi(channel(srv), timeout=30)
    t0 = time.monotonic()
    for i in range(1000):
        text = "%d %s" % (i, printable(rng, rng.randrange(0, 40)))
        b.send(text)
        same("echo of message %d" % (i + 1), b.recv(), "echo: " + text)
    b.half_close()
    same("after half-close", b.recv(), None)
    status_is(b.call.code(), b.call.details(), OK)
    return "%.0f round trips/s" % (1000 / (time.monotonic() - t0))


@test("bidichat: 20 messages of 60 KiB of random printable text")
def t_bidi_big(srv):
    rng = random.Random(2)
    b = Bidi(channel(srv))
    for i in range(20):
        text = printable(rng, 60 * 1024)
        b.send(text)
        same("echo of 60 KiB message %d" % (i + 1), b.recv(), "echo: " + text)
    b.half_close()
    same("after half-close", b.recv(), None)
    status_is(b.call.code(), b.call.details(), OK)


@test("bidichat: half-close ends the stream OK with no more messages")
def t_bidi_half_close(srv):
    ch = channel(srv)
    b = Bidi(ch)
    for t in ["one", "", "three"]:
        b.send(t)
    got = [b.recv() for _ in range(3)]
    same("echoes", got, ["echo: one", "echo: ", "echo: three"])
    b.half_close()
    same("after half-close", b.recv(), None)
    status_is(b.call.code(), b.call.details(), OK)
    b = Bidi(ch)            # half-close before any message
    b.half_close()
    same("a stream closed at once", b.recv(), None)
    status_is(b.call.code(), b.call.details(), OK)


@test("bidichat: a client cancel mid-stream gives CANCELLED; the server goes on")
def t_bidi_cancel(srv):
    ch = channel(srv)
    b = Bidi(ch)
    for i in range(5):
        b.send("m%d" % i)
        same("echo", b.recv(), "echo: m%d" % i)
    b.send("sent just before the cancel")
    b.call.cancel()
    try:
        while b.recv() is not None:
            pass
        raise AssertionError("the stream ended without an error after cancel()")
    except grpc.RpcError:
        pass
    status_is(b.call.code(), b.call.details(), grpc.StatusCode.CANCELLED)
    b = Bidi(ch)
    b.send("after")
    same("echo on a new call", b.recv(), "echo: after")
    b.half_close()
    same("after half-close", b.recv(), None)
    got, code, det = watch(channel(srv), limit=1)
    same("a watch on a new channel", got, E[:1])


def unknown(srv, path):
    stub = channel(srv).unary_unary(path)      # raw bytes both ways
    try:
        stub(b"", timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        status_is(e.code(), e.details(), grpc.StatusCode.UNIMPLEMENTED, "unknown method")
        return
    raise AssertionError("%s answered OK" % path)


@test("unknown method /LogWatcher/Nope: UNIMPLEMENTED 'unknown method'")
def t_unknown_method(srv):
    unknown(srv, "/LogWatcher/Nope")


@test("unknown service /Nope/Nope: UNIMPLEMENTED 'unknown method'")
def t_unknown_service(srv):
    unknown(srv, "/Nope/Nope")


def run_threads(fns, seconds=20.0):
    """Runs each fn in its own thread; returns the errors (with tracebacks)."""
    errors = []

    def run(fn):
        try:
            fn()
        except AssertionError as e:
            errors.append(str(e))
        except Exception:
            errors.append(traceback.format_exc(limit=3))
    threads = [threading.Thread(target=run, args=(fn,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    end = time.monotonic() + seconds
    for t in threads:
        t.join(max(0, end - time.monotonic()))
    if any(t.is_alive() for t in threads):
        errors.append("%d threads still running after %.0f s" % (sum(t.is_alive() for t in threads), seconds))
    return errors


def follower(ch, barrier, name, filt, limit, want):
    """A follow watch that is open at the barrier, then gets the 'go' entry."""
    def fn():
        f = Follow(ch, filter=filt, limit=limit)
        backlog = f.take(len(want) - 1)
        barrier.wait(10)
        rest, code, det = f.finish(10)
        same("%s: entries" % name, backlog + (rest or []), want)
        status_is(code, det, OK, what="%s: status" % name)
    return fn


def chatter(ch, barrier, name, n):
    def fn():
        b = Bidi(ch)
        for i in range(n):
            if i == 1:
                barrier.wait(10)   # every stream is open here
            text = "%s message %d" % (name, i)
            b.send(text)
            same("%s: echo %d" % (name, i), b.recv(), "echo: " + text)
        b.half_close()
        same("%s: after half-close" % name, b.recv(), None)
        status_is(b.call.code(), b.call.details(), OK, what="%s: status" % name)
    return fn


GO = ("INFO", "go")
INFOS = [e for e in E if e[0] == "INFO"]


@test("50 concurrent streams on one channel (25 follow watches, 25 chats)")
def t_concurrent_one_channel(srv):
    ch = channel(srv)
    barrier = threading.Barrier(51)
    fns = []
    for i in range(25):
        if i % 2:
            fns.append(follower(ch, barrier, "watch %d" % i, "", 9, E + [GO]))
        else:
            fns.append(follower(ch, barrier, "watch %d" % i, "INFO", 4, INFOS + [GO]))
        fns.append(chatter(ch, barrier, "chat %d" % i, 20))

    def go():
        barrier.wait(10)
        same("seq of the go entry", append(channel(srv), *GO), 9)
    errors = run_threads(fns + [go])
    if errors:
        raise AssertionError("%d of 51 threads failed:\n%s" % (len(errors), "\n".join(errors[:3])))


@test("8 channels at once, each with a follow watch, a chat, an Append and a watch")
def t_eight_channels(srv):
    chans = [channel(srv) for _ in range(8)]
    barrier = threading.Barrier(17)
    seqs = {}
    fns = []
    for k, ch in enumerate(chans):
        fns.append(follower(ch, barrier, "channel %d watch" % k, "INFO", 4, INFOS + [GO]))
        fns.append(chatter(ch, barrier, "channel %d chat" % k, 10))

        def appender(ch=ch, k=k):
            seqs["channel %d" % k] = append(ch, "CONC", "from channel %d" % k)

        def plain(ch=ch, k=k):
            got, code, det = watch(ch, filter="ERROR")
            same("channel %d: plain watch" % k, got, ERRORS)
            status_is(code, det, OK, what="channel %d: plain watch status" % k)
        fns += [appender, plain]

    def go():
        barrier.wait(10)
        seqs["go"] = append(chans[0], *GO)
    errors = run_threads(fns + [go])
    if errors:
        raise AssertionError("%d of %d threads failed:\n%s" % (len(errors), len(fns) + 1, "\n".join(errors[:3])))
    same("the 9 Append seqs", sorted(seqs.values()), list(range(9, 18)))
    got, code, det = watch(chans[3], filter="CONC")
    by_seq = sorted((s, k) for k, s in seqs.items() if k != "go")
    same("CONC entries in seq order", got, [("CONC", "from " + k) for s, k in by_seq])


@test("SIGTERM: a call in flight finishes, new calls fail, exit status 0")
def t_sigterm(srv):
    b = Bidi(channel(srv))
    b.send("before")
    same("echo", b.recv(), "echo: before")
    srv.proc.send_signal(15)
    time.sleep(0.2)
    try:
        watch_got = watch(channel(srv), timeout=2)
    except grpc.RpcError as e:
        watch_got = ([], e.code(), e.details())
    if watch_got[1] != grpc.StatusCode.UNAVAILABLE:
        raise AssertionError("a call on a new connection after SIGTERM: %s %r" % watch_got[1:])
    b.send("after SIGTERM")
    same("echo in flight", b.recv(), "echo: after SIGTERM")
    b.half_close()
    same("after half-close", b.recv(), None)
    status_is(b.call.code(), b.call.details(), OK)
    try:
        rc = srv.proc.wait(7)
    except Exception:
        raise AssertionError("still running 7 s after SIGTERM")
    same("exit status", rc, 0)


# ---------------------------------------------------- raw HTTP/2: +json

JSON_SKIP = "grpcio serves only protobuf payloads"


@test("raw: WatchLogs with application/grpc+json", reference=JSON_SKIP)
def t_json_watch(srv):
    res = raw_call(srv, "/LogWatcher/WatchLogs", lpm(b'{"filter": "ERROR", "limit": 2}'),
                   content_type="application/grpc+json")
    raw_grpc_status(res, 0, trailers_only=False)
    same("response content-type", res.headers.get("content-type"), "application/grpc+json")
    same("messages", split_lpms(res.data),
         [b'{"level": "ERROR", "msg": "disk full"}', b'{"level": "ERROR", "msg": "connection reset"}'])


@test("raw: BiDiChat with application/grpc+json (json.dumps-exact echoes)", reference=JSON_SKIP)
def t_json_chat(srv):
    texts = ["hello", "caf\u00e9 \U0001f600 \"q\" \\ /\n", ""]
    body = b"".join(lpm(json.dumps({"text": t}).encode()) for t in texts)
    body += lpm(json.dumps({"text": "na\u00efve"}, ensure_ascii=False).encode())    # raw UTF-8
    body += lpm(b'{"unknown": [1, {"x": null}], "text": "last"}')
    res = raw_call(srv, "/Chat/BiDiChat", body, content_type="application/grpc+json")
    raw_grpc_status(res, 0, trailers_only=False)
    same("response content-type", res.headers.get("content-type"), "application/grpc+json")
    want = [json.dumps({"text": "echo: " + t}).encode() for t in texts + ["na\u00efve", "last"]]
    same("messages", split_lpms(res.data), want)


@test("raw: +json request that is not JSON: INTERNAL", reference=JSON_SKIP)
def t_json_bad(srv):
    res = raw_call(srv, "/LogWatcher/Append", lpm(b'{"level": "INFO",'), content_type="application/grpc+json")
    raw_grpc_status(res, 13)


@test("raw: +json request of the wrong shape: INVALID_ARGUMENT", reference=JSON_SKIP)
def t_json_shape(srv):
    res = raw_call(srv, "/LogWatcher/WatchLogs", lpm(b'{"limit": -1}'), content_type="application/grpc+json")
    raw_grpc_status(res, 3, trailers_only=True)


# ------------------------------------------- raw HTTP/2: the status table

def append_lpm(level="INFO", msg="raw"):
    return lpm(pb.LogEntry(level=level, msg=msg).SerializeToString())


@test("raw: WatchLogs over plain HTTP/2: HEADERS, DATA, trailers grpc-status 0")
def t_raw_watch(srv):
    res = raw_call(srv, "/LogWatcher/WatchLogs",
                   lpm(pb.WatchRequest(filter="ERROR", limit=2).SerializeToString()))
    raw_grpc_status(res, 0, trailers_only=False)
    same("response content-type", res.headers.get("content-type"), "application/grpc")
    got = [pb.LogEntry.FromString(m) for m in split_lpms(res.data)]
    same("messages", [(e.level, e.msg) for e in got], ERRORS[:2])


@test("raw: unknown method: Trailers-Only UNIMPLEMENTED 'unknown method'")
def t_raw_unknown(srv):
    res = raw_call(srv, "/LogWatcher/Nope", lpm(b""))
    raw_grpc_status(res, 12, "unknown method", trailers_only=True)
    same("content-type of the Trailers-Only response", res.headers.get("content-type", "")[:16], "application/grpc")
    same("DATA bytes", len(res.data), 0)


@test("raw: content-type text/plain: HTTP 415, no grpc-status",
      reference="grpcio answers a non-gRPC content-type its own way")
def t_raw_415(srv):
    res = raw_call(srv, "/LogWatcher/WatchLogs", lpm(b""), content_type="text/plain")
    if res.headers is None or res.headers.get(":status") != "415":
        raise AssertionError("expected :status 415: " + res.describe())
    if "grpc-status" in res.headers or "grpc-status" in (res.trailers or {}):
        raise AssertionError("a 415 carries no grpc-status: " + res.describe())


@test("raw: a request message that is not valid protobuf: INTERNAL")
def t_raw_bad_proto(srv):
    res = raw_call(srv, "/LogWatcher/Append", lpm(b"\x0a\x05ab"))   # a string cut short
    raw_grpc_status(res, 13)


@test("raw: a second request message on a unary call: INTERNAL",
      reference="grpcio does not check for a second unary request message")
def t_raw_two_messages(srv):
    res = raw_call(srv, "/LogWatcher/Append", append_lpm() + append_lpm())
    raw_grpc_status(res, 13)


@test("raw: no request message on a unary call: INTERNAL",
      reference="grpcio answers UNIMPLEMENTED")
def t_raw_no_message(srv):
    res = raw_call(srv, "/LogWatcher/Append", None)
    raw_grpc_status(res, 13)


@test("raw: compressed flag 1 without grpc-encoding: INTERNAL",
      reference="grpcio accepts it")
def t_raw_flag_no_encoding(srv):
    res = raw_call(srv, "/LogWatcher/Append",
                   lpm(pb.LogEntry(level="INFO", msg="x").SerializeToString(), compressed=1))
    raw_grpc_status(res, 13)


@test("raw: grpc-encoding gzip: UNIMPLEMENTED with grpc-accept-encoding",
      reference="grpcio supports gzip")
def t_raw_gzip(srv):
    body = lpm(gzip.compress(pb.LogEntry(level="INFO", msg="x").SerializeToString()), compressed=1)
    res = raw_call(srv, "/LogWatcher/Append", body, extra=[("grpc-encoding", "gzip")])
    raw_grpc_status(res, 12)
    fields = dict(res.headers)
    fields.update(res.trailers or {})
    if "grpc-accept-encoding" not in fields:
        raise AssertionError("no grpc-accept-encoding: " + res.describe())


@test("raw: grpc-timeout passes: trailers DEADLINE_EXCEEDED 'deadline exceeded'")
def t_raw_deadline(srv):
    t0 = time.monotonic()
    res = raw_call(srv, "/LogWatcher/WatchLogs", lpm(pb.WatchRequest(follow=True).SerializeToString()),
                   extra=[("grpc-timeout", "300m")])
    took = time.monotonic() - t0
    raw_grpc_status(res, 4, "deadline exceeded", trailers_only=False)
    got = [pb.LogEntry.FromString(m) for m in split_lpms(res.data)]
    same("messages before the deadline", [(e.level, e.msg) for e in got], E)
    if not 0.25 <= took <= 2.0:
        raise AssertionError("a 300 ms grpc-timeout ended after %.2f s" % took)


# ------------------------------------------------------------- the runner

def main():
    global pb
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="./grpcstream", help="server command (default ./grpcstream)")
    ap.add_argument("--build-dir", default=os.path.join("build", "h2"), help="for protoc output and logs")
    ap.add_argument("only", nargs="*", help="run the tests whose names start so")
    args = ap.parse_args()
    os.makedirs(args.build_dir, exist_ok=True)
    missing = None
    if grpc is None:
        missing = "python3-grpcio not installed"
    elif not shutil.which("protoc"):
        missing = "protoc not installed"
    else:
        pb = common.load_pb(os.path.join(args.build_dir, "pb"))
    ref = common.is_reference(args.server)
    report = common.Report()
    for name, fn, log, ref_skip in TESTS:
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        if missing or (name.startswith("raw:") and not HAVE_H2):
            report.skip(name, missing or "python3-h2 not installed")
            continue
        if ref and ref_skip:
            report.skip(name, "reference server: " + ref_skip)
            continue
        run_one(report, args, name, fn, log)
    return report.status()


def run_one(report, args, name, fn, log):
    log_path = None
    if log is not None:
        fd, log_path = tempfile.mkstemp(prefix="h2log-", suffix=".log", dir=args.build_dir)
        with os.fdopen(fd, "w") as f:
            f.write(log)
    srv = common.Server(args.server, args.build_dir, log=log_path)
    srv.log = log_path
    try:
        srv.start()
    except RuntimeError as e:
        report.fail(name, e)
        if log_path:
            os.unlink(log_path)
        return
    try:
        t0 = time.monotonic()
        note = fn(srv)
        took = time.monotonic() - t0
        if fn is not t_sigterm and not srv.alive():
            raise AssertionError("the server exited (status %s)" % srv.proc.returncode)
        report.passed(name, note or ("%.2f s" % took if took > 1 else ""))
    except AssertionError as e:
        report.fail(name, "%s\nserver stderr: %s" % (e, srv.stderr().strip()[-500:] or "(empty)"))
    except Exception:
        report.fail(name, traceback.format_exc(limit=4))
    finally:
        srv.stop()
        if log_path:
            os.unlink(log_path)


if __name__ == "__main__":
    sys.exit(main())
