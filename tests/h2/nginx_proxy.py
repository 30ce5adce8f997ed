#!/usr/bin/python3
"""grpcstream behind nginx (grpc_pass): 3 nodes sharing one --log FILE.

    /usr/bin/python3 tests/h2/nginx_proxy.py [--server CMD] [--build-dir DIR] [--nginx PATH]

Starts 3 nodes, `CMD --listen 127.0.0.1:PORT --log FILE` with one FILE
(which starts with the 8 entries of the built-in log), and nginx in the
foreground with its own prefix and temp dirs under DIR/nginx-proxy and the
configuration generated from tests/h2/nginx.conf.in (the one the README's
"Scaling out" section quotes). Then, with grpcio, through the proxy only:

 1. WatchLogs, Append and BiDiChat give exact results on each node: a
    watch gives the file's entries, Append's seq counts the file's
    entries (also with Appends sent at once), echoes are exact.
 2. Follow watches spread over the 3 nodes each receive every Append made
    through the proxy within 100 ms of the call (p50 and max printed, for
    Appends served by the watch's own node and by another one: those
    reach it through the shared file, checked every 50 ms).
 3. One node is killed (SIGKILL) with calls open on it: those calls end at
    once with an error (see below), the calls on the other nodes go on,
    and new calls succeed, served by the two others.

Which node serves a call is seen in the x-upstream response header the
configuration adds, and, for calls that end before any response header,
in nginx's access log (the call's x-request-id and $upstream_addr).

What a client sees of a node that dies under a call is nginx's doing: a
call that had its response headers is reset (RST_STREAM INTERNAL_ERROR,
which gRPC maps to INTERNAL), one that had not gets HTTP 502 (UNAVAILABLE).
Check 3 expects exactly that, within 2 s. nginx 1.22 sends such a reset
only with its next write on the client connection, so the calls here use
a connection with grpcio keepalive PINGs every 500 ms (see Kill).

Prints PASS:/FAIL:/SKIP: lines; the exit status is 1 on any FAIL. SKIP when
nginx (Debian package `nginx`), python3-grpcio or protoc is absent.
"""
import argparse
import itertools
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import BUILTIN  # noqa: E402

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # not grpcio's log of nginx's 502 pages
try:
    import grpc
except ImportError:
    grpc = None

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "nginx.conf.in")
CALL_TIMEOUT = 10.0         # unary and plain calls
LONG_TIMEOUT = 30.0         # calls open across the checks (cancelled at the end)
LATENCY_MS = 100.0          # an Append reaches every follower within this
APPENDS = 50                # timed Appends in check 2
pb = None


# ------------------------------------------------------------------ nginx

def find_nginx(given):
    if given:
        return given if os.access(given, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"):
        p = os.path.join(d, "nginx")
        if os.access(p, os.X_OK):
            return p
    return None


class NotSupported(Exception):
    """This nginx cannot run the configuration (a module is missing)."""


class Nginx:
    """nginx in the foreground with its own prefix; the config from TEMPLATE."""

    def __init__(self, exe, prefix, nodes):
        self.exe = exe
        self.prefix = prefix
        self.nodes = nodes
        self.port = None
        self.proc = None
        self.stderr_path = os.path.join(prefix, "stderr")
        self.access_log = os.path.join(prefix, "access.log")
        self.error_log = os.path.join(prefix, "error.log")

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _write_conf(self):
        with open(TEMPLATE) as f:
            text = f.read()
        fields = {"@PREFIX@": self.prefix, "@LISTEN@": self.addr}
        for i, n in enumerate(self.nodes):
            fields["@NODE%d@" % (i + 1)] = str(n.port)
        for k, v in fields.items():
            text = text.replace(k, v)
        left = re.findall(r"@[A-Z0-9_]+@", text)
        if left:
            raise RuntimeError("%s: fields not filled in: %s" % (TEMPLATE, " ".join(sorted(set(left)))))
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(text)

    def _args(self, *more):
        return [self.exe, "-p", self.prefix, "-c", "nginx.conf", "-e", "stderr"] + list(more)

    def start(self):
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        for attempt in range(3):            # a free port can be taken in between
            self.port = common.free_port()
            self._write_conf()
            t = subprocess.run(self._args("-t"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if t.returncode != 0:
                m = re.search(r'unknown directive "(\w+)"|invalid parameter "(\w+)"', t.stdout)
                if m:
                    raise NotSupported("%s lacks %s (%s)" % (self.exe, m.group(1) or m.group(2),
                                                             t.stdout.strip().split("\n")[0]))
                raise RuntimeError("nginx -t rejects the configuration:\n" + t.stdout)
            with open(self.stderr_path, "w") as err:
                self.proc = subprocess.Popen(self._args("-g", "daemon off;"), stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err)
            if self._wait_ready(10.0):
                return self
            self.stop()
        raise RuntimeError("nginx did not start:\n" + self.errors())

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

    def errors(self, levels=None):
        """nginx's stderr and error log (only lines of the given levels)."""
        out = []
        for p in (self.stderr_path, self.error_log):
            try:
                with open(p) as f:
                    out += f.read().splitlines()
            except OSError:
                pass
        if levels:
            out = [l for l in out if any("[%s]" % lv in l for lv in levels)]
        return "\n".join(out[-30:])

    def requests(self):
        """{x-request-id: [upstream addresses tried]} from the access log."""
        out = {}
        try:
            with open(self.access_log) as f:
                for line in f:
                    m = re.search(r" id=(\S+) upstream=(.*?) grpc-status=", line)
                    if m and m.group(1) != "-":
                        out[m.group(1)] = [a.strip() for a in re.split(r",| : ", m.group(2))]
        except OSError:
            pass
        return out

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGQUIT, 3.0), (signal.SIGTERM, 5.0)):   # graceful, then fast
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                pass
        self.proc.kill()
        self.proc.wait()


# ------------------------------------------------------------------ the client

class Cluster:
    """The 3 nodes and the proxy, and which node an address is."""

    def __init__(self, nodes, proxy):
        self.nodes = nodes
        self.proxy = proxy
        self.ids = itertools.count(1)

    def channel(self, pings=False):
        """A channel to the proxy with its own connection; with pings, it
        sends a keepalive PING every 500 ms (see Kill)."""
        options = [("grpc.use_local_subchannel_pool", 1)]
        if pings:
            options += [("grpc.keepalive_time_ms", 500), ("grpc.keepalive_timeout_ms", 5000),
                        ("grpc.http2.max_pings_without_data", 0)]
        return grpc.insecure_channel(self.proxy.addr, options=options)

    def request_id(self, what):
        return "%s-%d" % (what, next(self.ids))

    def node_of(self, addrs):
        """The node index that served a call (the last address nginx tried)."""
        if not addrs:
            return None
        for i, n in enumerate(self.nodes):
            if addrs[-1] == n.addr:
                return i
        return None


def upstream_of(call):
    """The addresses nginx tried for a call, from its x-upstream header."""
    for k, v in call.initial_metadata() or ():
        if k == "x-upstream":
            return [a.strip() for a in re.split(r",| : ", v)]
    return []


def stubs(ch):
    return {
        "watch": ch.unary_stream("/LogWatcher/WatchLogs",
                                 request_serializer=pb.WatchRequest.SerializeToString,
                                 response_deserializer=pb.LogEntry.FromString),
        "append": ch.unary_unary("/LogWatcher/Append",
                                 request_serializer=pb.LogEntry.SerializeToString,
                                 response_deserializer=pb.AppendResponse.FromString),
        "chat": ch.stream_stream("/Chat/BiDiChat",
                                 request_serializer=pb.ChatMessage.SerializeToString,
                                 response_deserializer=pb.ChatMessage.FromString),
    }


class Stream:
    """A streaming call read by a thread: messages with arrival times, and
    the end (time, code, details)."""

    def __init__(self, call, rid, convert):
        self.call = call
        self.rid = rid
        self.node = None
        self.convert = convert
        self.msgs = queue.Queue()
        self.done = threading.Event()
        self.end_time = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for m in self.call:
                self.msgs.put((time.monotonic(), self.convert(m)))
        except grpc.RpcError:
            pass
        self.end_time = time.monotonic()
        self.done.set()

    def next_timed(self, seconds=5.0):
        """(arrival time, message) of the next message, or None."""
        try:
            return self.msgs.get(timeout=seconds)
        except queue.Empty:
            return None

    def take(self, n, seconds=5.0):
        out = []
        end = time.monotonic() + seconds
        while len(out) < n:
            m = self.next_timed(max(0.001, end - time.monotonic()))
            if m is None:
                break
            out.append(m[1])
        return out

    def status(self):
        return self.call.code(), self.call.details()

    def describe(self):
        if not self.done.is_set():
            return "still open"
        code, det = self.status()
        return "%s %r" % (code.name if code else None, det)


def follow(cl, st, what, **request):
    rid = cl.request_id(what)
    call = st["watch"](pb.WatchRequest(follow=True, **request), timeout=LONG_TIMEOUT,
                       metadata=(("x-request-id", rid),))
    return Stream(call, rid, lambda e: (e.level, e.msg))


class Chat(Stream):
    def __init__(self, cl, st, what, timeout=LONG_TIMEOUT):
        self.q = queue.Queue()
        rid = cl.request_id(what)
        call = st["chat"](iter(self.q.get, None), timeout=timeout, metadata=(("x-request-id", rid),))
        Stream.__init__(self, call, rid, lambda m: m.text)

    def send(self, text):
        self.q.put(pb.ChatMessage(text=text))

    def half_close(self):
        self.q.put(None)


def plain_watch(cl, st, **request):
    """A WatchLogs without follow: (entries, code, details, node)."""
    rid = cl.request_id("watch")
    call = st["watch"](pb.WatchRequest(**request), timeout=CALL_TIMEOUT, metadata=(("x-request-id", rid),))
    got = []
    try:
        for e in call:
            got.append((e.level, e.msg))
    except grpc.RpcError:
        pass
    return got, call.code(), call.details(), cl.node_of(upstream_of(call))


def append(cl, st, level, msg):
    """Append through the proxy: (seq, node that served it)."""
    rid = cl.request_id("append")
    resp, call = st["append"].with_call(pb.LogEntry(level=level, msg=msg), timeout=CALL_TIMEOUT,
                                        metadata=(("x-request-id", rid),))
    return resp.seq, cl.node_of(upstream_of(call))


def file_entries(path):
    """The shared log's entries, as the nodes read `LEVEL message` lines."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                level, _, msg = line.partition(" ")
                out.append((level, msg))
    return out


# ------------------------------------------------------------------ assertions

def same(what, got, want):
    if got == want:
        return
    if isinstance(want, list) and isinstance(got, list):
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
        raise AssertionError("%s: expected %d, got %d; first difference at #%d: expected %s, got %s" % (
            what, len(want), len(got), i + 1, short(want[i] if i < len(want) else "(nothing)"),
            short(got[i] if i < len(got) else "(missing)")))
    raise AssertionError("%s: expected %s, got %s" % (what, short(want), short(got)))


def short(v, n=160):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


def ok(what, code, details):
    if code != grpc.StatusCode.OK:
        raise AssertionError("%s: expected OK, got %s %r" % (what, code.name if code else None, details))


def spread(cl, what, nodes_seen):
    """Fails unless every node served at least one of the calls."""
    counts = [sum(1 for n in nodes_seen if n == i) for i in range(len(cl.nodes))]
    if None in nodes_seen or 0 in counts:
        raise AssertionError("%s did not reach every node: per node %s, unknown %d (x-upstream missing or "
                             "not a node)" % (what, counts, nodes_seen.count(None)))
    return "/".join(str(c) for c in counts)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


# ------------------------------------------------------------------ checks

class Run:
    """State carried from check to check."""

    def __init__(self, cl, log):
        self.cl = cl
        self.log = log
        self.ch = cl.channel(pings=True)
        self.st = stubs(self.ch)
        self.follows = []          # check 2's follow watches, open until the end
        self.seq = len(file_entries(log))

    def expect_entries(self):
        return file_entries(self.log)


def c_watch(r):
    """12 plain WatchLogs, 4 requests x 3 rounds, round robin over the nodes."""
    cl, st = r.cl, r.st
    requests = [({}, BUILTIN),
                ({"filter": "ERROR"}, [e for e in BUILTIN if e[0] == "ERROR"]),
                ({"filter": "INFO", "limit": 2}, [e for e in BUILTIN if e[0] == "INFO"][:2]),
                ({"filter": "NOPE"}, [])]
    nodes = []
    for rnd in range(3):
        for req, want in requests:
            got, code, det, node = plain_watch(cl, st, **req)
            same("WatchLogs %r (round %d, node %s)" % (req, rnd + 1, node), got, want)
            ok("WatchLogs %r" % req, code, det)
            if want:            # an empty answer is Trailers-Only: x-upstream may be absent
                nodes.append(node)
    return "per node " + spread(cl, "the watches", nodes)


def c_append(r):
    """Appends one at a time: seq is the entry's place in the shared file."""
    cl, st = r.cl, r.st
    nodes = []
    for i in range(6):
        seq, node = append(cl, st, "APP", "appended %d" % i)
        r.seq += 1
        same("seq of Append %d (node %s)" % (i + 1, node), seq, r.seq)
        nodes.append(node)
    same("the shared file", file_entries(r.log), BUILTIN + [("APP", "appended %d" % i) for i in range(6)])
    # Lines another node appended are seen by the 50 ms file check
    # (PROTOCOL.md 1.6), not at once: give it that time.
    time.sleep(0.15)
    wnodes = []
    for i in range(3):
        got, code, det, node = plain_watch(cl, st)
        same("WatchLogs of the whole log on node %s" % node, got, r.expect_entries())
        ok("WatchLogs", code, det)
        wnodes.append(node)
    spread(cl, "the 3 whole-log watches", wnodes)
    return "seq %d..%d, per node %s" % (r.seq - 5, r.seq, spread(cl, "the Appends", nodes))


def c_append_concurrent(r):
    """8 threads x 150 Appends at once through the proxy: every seq is the
    place of that call's own entry in the file."""
    cl = r.cl
    got = {}
    errors = []
    start = threading.Barrier(8)

    def worker(k):
        try:
            ch = cl.channel()
            st = stubs(ch)
            start.wait(10)
            for i in range(150):
                m = "thread %d append %d" % (k, i)
                got[m] = append(cl, st, "CONC", m)
            ch.close()
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append("thread %d: %r" % (k, e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    if errors:
        raise AssertionError("\n".join(errors[:5]))
    entries = file_entries(r.log)
    place = {m: i + 1 for i, (lv, m) in enumerate(entries) if lv == "CONC"}
    bad = sorted((s, m, place.get(m)) for m, (s, n) in got.items() if place.get(m) != s)
    r.seq += len(got)
    same("entries in the file", len(entries), r.seq)
    if bad:
        raise AssertionError("%d of %d Appends got a seq that is not their entry's place in the file "
                             "(%d seqs given twice); e.g.\n%s" % (
                                 len(bad), len(got), len(got) - len(set(s for s, n in got.values())),
                                 "\n".join("%r: seq %d, entry %s of the file" % (m, s, p) for s, m, p in bad[:5])))
    return "per node " + spread(cl, "the Appends", [n for s, n in got.values()])


def c_chat(r):
    """6 chats open at once (2 per node), messages interleaved, exact echoes."""
    cl, st = r.cl, r.st
    texts = ["hello", "", "caf\u00e9 \U0001f600 \"q\" \\", "x" * 3000, "last"]
    chats = [Chat(cl, st, "chat", timeout=CALL_TIMEOUT) for _ in range(6)]
    for t in texts:
        for k, c in enumerate(chats):
            c.send("%d %s" % (k, t))
        for k, c in enumerate(chats):
            same("echo on chat %d" % k, c.take(1), ["echo: %d %s" % (k, t)])
    nodes = [cl.node_of(upstream_of(c.call)) for c in chats]
    for c in chats:
        c.half_close()
    for k, c in enumerate(chats):
        if not c.done.wait(5):
            raise AssertionError("chat %d: still open 5 s after the half-close" % k)
        same("messages after the half-close on chat %d" % k, c.take(1, 0), [])
        ok("chat %d" % k, *c.status())
    return "per node " + spread(cl, "the chats", nodes)


def c_follow_latency(r):
    """6 follow watches (2 per node) and 50 Appends through the proxy, one at
    a time: every watch receives every Append, in order, within 100 ms.
    The 50 ms file check leaves 50 ms for the rest; a loaded machine can
    stall a process longer, so a round with late deliveries is printed and
    measured again once: the check fails when the second round has some too."""
    cl, st = r.cl, r.st
    backlog = r.expect_entries()
    for i in range(6):
        f = follow(cl, st, "follow")
        r.follows.append(f)
        same("backlog of follow watch %d" % i, f.take(len(backlog)), backlog)
        f.node = cl.node_of(upstream_of(f.call))
    placed = spread(cl, "the follow watches", [f.node for f in r.follows])
    for attempt in (1, 2):
        note, slow = latency_round(r, attempt, placed)
        print("    " + note, flush=True)
        if not slow:
            return note + ("" if attempt == 1 else "; measured again after late deliveries")
        print("    %d deliveries took over %.0f ms:\n      %s" % (len(slow), LATENCY_MS, "\n      ".join(slow[:8])),
              flush=True)
    raise AssertionError("late deliveries in two rounds of %d Appends (see above): %s" % (APPENDS, note))


def latency_round(r, attempt, placed):
    """50 Appends: (note with p50 and max, [late deliveries])."""
    cl, st = r.cl, r.st
    same_node, other_node, slow = [], [], []
    rng = random.Random(attempt)
    for i in range(APPENDS):
        # Back to back, every Append would come just after the other nodes'
        # file check: a random pause samples every point of its 50 ms period.
        time.sleep(rng.uniform(0, 0.05))
        msg = "lat %d.%d" % (attempt, i)
        t0 = time.monotonic()
        seq, node = append(cl, st, "LAT", msg)
        r.seq += 1
        same("seq of timed Append %s" % msg, seq, r.seq)
        for k, f in enumerate(r.follows):
            m = f.next_timed(2.0)
            if m is None:
                raise AssertionError("follow watch %d (node %s): no entry 2 s after Append %r (node %s); "
                                     "the call: %s" % (k, f.node, msg, node, f.describe()))
            same("entry on follow watch %d (node %s) after Append %r" % (k, f.node, msg), m[1], ("LAT", msg))
            ms = (m[0] - t0) * 1000
            (same_node if f.node == node else other_node).append(ms)
            if ms > LATENCY_MS:
                slow.append("Append %r (node %s) reached follow watch %d (node %s) after %.1f ms" % (
                    msg, node, k, f.node, ms))
    every = same_node + other_node
    note = "watches per node %s; %d deliveries: p50 %.1f ms, max %.1f ms; same node p50 %.1f max %.1f, " \
           "other node p50 %.1f max %.1f" % (placed, len(every), pct(every, 50), max(every),
                                            pct(same_node, 50), max(same_node), pct(other_node, 50), max(other_node))
    return note, slow


class Kill:
    """Check 3, in three parts that share what was open at the kill.

    nginx (1.22) queues the RST_STREAM of a call whose node died, but sends
    it only with the next thing it writes on that client connection when
    other calls are open on it: on a quiet connection the call would stay
    open at the client. Clients learn of it in time with keepalive PINGs
    (each is answered, which flushes the queue): the connection the calls
    use here sends one every 500 ms."""

    def __init__(self, r):
        self.r = r
        self.victim = None
        self.t_kill = None
        self.chats = []        # chats with one echo each: response headers seen
        self.quiet = []        # follow watches with no match yet: no response headers
        self.mute = []         # chats with nothing sent yet: no response headers

    def setup_and_kill(self):
        r = self.r
        cl, st = r.cl, r.st
        for i in range(3):
            c = Chat(cl, st, "chat-open")
            c.send("before %d" % i)
            same("echo before the kill", c.take(1), ["echo: before %d" % i])
            c.node = cl.node_of(upstream_of(c.call))
            self.chats.append(c)
        spread(cl, "the chats", [c.node for c in self.chats])
        for i in range(3):
            self.quiet.append(follow(cl, st, "quiet", filter="QUIET"))
            time.sleep(0.03)            # in this order at nginx: round robin
        for i in range(3):
            self.mute.append(Chat(cl, st, "mute"))
            time.sleep(0.03)
        time.sleep(0.2)                 # every call has reached its node
        self.victim = r.follows[0].node
        self.t_kill = time.monotonic()
        cl.nodes[self.victim].proc.kill()
        cl.nodes[self.victim].proc.wait()

    def on_victim_end(self):
        """Calls with response headers on the killed node: INTERNAL (nginx's
        RST_STREAM); calls without: UNAVAILABLE (its 502). Within 2 s."""
        r = self.r
        with_headers = [("follow watch %d" % k, f) for k, f in enumerate(r.follows) if f.node == self.victim]
        with_headers += [("chat %d" % k, c) for k, c in enumerate(self.chats) if c.node == self.victim]
        problems = []
        waits = []
        for what, s in with_headers:
            if not s.done.wait(max(0.0, self.t_kill + 2.0 - time.monotonic())):
                problems.append("%s: still open 2 s after the kill of its node" % what)
                continue
            waits.append((s.end_time - self.t_kill) * 1000)
            code, det = s.status()
            if code != grpc.StatusCode.INTERNAL or "RST_STREAM" not in (det or ""):
                problems.append("%s (had response headers): expected INTERNAL from nginx's RST_STREAM, "
                                "got %s" % (what, s.describe()))
        # The calls with no response headers yet: where they are is in the
        # access log once they end; the victim's (one of each kind, by round
        # robin) end at once.
        while time.monotonic() < self.t_kill + 2.0 and not (
                any(s.done.is_set() for s in self.quiet) and any(s.done.is_set() for s in self.mute)):
            time.sleep(0.01)
        time.sleep(0.2)
        served = r.cl.proxy.requests()
        ended_here = 0
        for what, s in [("quiet watch %d" % k, f) for k, f in enumerate(self.quiet)] + \
                       [("mute chat %d" % k, c) for k, c in enumerate(self.mute)]:
            if not s.done.is_set():
                continue                # checked in on_others()
            node = r.cl.node_of(served.get(s.rid))
            s.node = node
            if node != self.victim:
                problems.append("%s (node %s, not the killed one %d) ended: %s" % (
                    what, node, self.victim, s.describe()))
                continue
            ended_here += 1
            waits.append((s.end_time - self.t_kill) * 1000)
            code, det = s.status()
            if code != grpc.StatusCode.UNAVAILABLE:
                problems.append("%s (no response headers yet): expected UNAVAILABLE, got %s" % (what, s.describe()))
        if ended_here < 2:
            problems.append("only %d of the calls without response headers were on the killed node (one quiet "
                            "watch and one mute chat were meant to be); access log: %r" % (ended_here, served))
        if problems:
            raise AssertionError("\n".join(problems))
        return "%d calls on node %d ended in %.0f ms at most: %d with response headers INTERNAL, %d without " \
               "UNAVAILABLE" % (len(waits), self.victim, max(waits), len(with_headers), ended_here)

    def on_others(self):
        """Calls on the other nodes go on: an Append reaches their follow
        watches (quiet ones too), chats echo and end OK."""
        r = self.r
        cl, st = r.cl, r.st
        live_follows = [f for f in r.follows if f.node != self.victim]
        live_quiet = [f for f in self.quiet if not f.done.is_set()]
        live_chats = [c for c in self.chats if c.node != self.victim]
        live_mute = [c for c in self.mute if not c.done.is_set()]
        for what, group in (("follow watch", live_follows), ("quiet watch", live_quiet),
                            ("chat", live_chats), ("mute chat", live_mute)):
            for s in group:
                if s.done.is_set():
                    raise AssertionError("a %s on node %s ended after the kill: %s" % (what, s.node, s.describe()))
        t0 = time.monotonic()
        seq, node = append(cl, st, "QUIET", "after the kill")
        r.seq += 1
        same("seq of the Append after the kill", seq, r.seq)
        slow, waits = [], []
        for what, group in (("follow watch", live_follows), ("quiet watch", live_quiet)):
            for s in group:
                m = s.next_timed(2.0)
                if m is None:
                    raise AssertionError("%s (node %s): no entry after the kill: %s" % (what, s.node, s.describe()))
                same("%s entry after the kill" % what, m[1], ("QUIET", "after the kill"))
                if what == "quiet watch":
                    s.node = cl.node_of(upstream_of(s.call))
                waits.append((m[0] - t0) * 1000)
                if waits[-1] > 1000:        # the 100 ms bound is check 2's (it measures again)
                    slow.append("%s on node %s: %.0f ms" % (what, s.node, waits[-1]))
        if slow:
            raise AssertionError("the Append after the kill took over 1 s to reach: %s" % ", ".join(slow))
        for s in live_quiet:
            if s.node == self.victim:
                raise AssertionError("a quiet watch served by the killed node %d got an entry" % self.victim)
        for what, group in (("chat", live_chats), ("mute chat", live_mute)):
            for s in group:
                s.send("after the kill")
                same("%s echo after the kill" % what, s.take(1), ["echo: after the kill"])
                s.node = cl.node_of(upstream_of(s.call))
                if s.node == self.victim:
                    raise AssertionError("a %s served by the killed node %d still echoes" % (what, self.victim))
                s.half_close()
        for what, group in (("chat", live_chats), ("mute chat", live_mute)):
            for s in group:
                if not s.done.wait(5):
                    raise AssertionError("%s on node %s: still open 5 s after its half-close" % (what, s.node))
                ok("%s on node %s" % (what, s.node), *s.status())
        return "%d follow watches got the next Append in %.0f ms at most, %d chats echoed; on nodes %s" % (
            len(live_follows) + len(live_quiet), max(waits), len(live_chats) + len(live_mute),
            sorted(set(s.node for s in live_follows + live_quiet + live_chats + live_mute)))

    def new_calls(self):
        """New calls, on new connections too, succeed on the 2 other nodes."""
        r = self.r
        cl = r.cl
        nodes = []
        for ch_kind in ("the same connection", "a new connection"):
            ch = r.ch if ch_kind == "the same connection" else cl.channel()
            st = stubs(ch)
            for i in range(4):
                seq, node = append(cl, st, "NEW", "%s %d" % (ch_kind, i))
                r.seq += 1
                same("seq of a new Append", seq, r.seq)
                nodes.append(node)
            time.sleep(0.15)            # the 50 ms file check (see c_append)
            for i in range(4):
                got, code, det, node = plain_watch(cl, st)
                same("a new WatchLogs on node %s" % node, got, r.expect_entries())
                ok("a new WatchLogs", code, det)
                nodes.append(node)
            for i in range(4):
                c = Chat(cl, st, "chat-new", timeout=CALL_TIMEOUT)
                c.send("new %d" % i)
                same("echo on a new chat", c.take(1), ["echo: new %d" % i])
                nodes.append(cl.node_of(upstream_of(c.call)))
                c.half_close()
                if not c.done.wait(5):
                    raise AssertionError("a new chat: still open 5 s after its half-close")
                ok("a new chat", *c.status())
        counts = [nodes.count(i) for i in range(len(cl.nodes))]
        if counts[self.victim] or None in nodes:
            raise AssertionError("new calls per node %s (node %d was killed; unknown: %d)" % (
                counts, self.victim, nodes.count(None)))
        if sum(1 for i, c in enumerate(counts) if c) != len(cl.nodes) - 1:
            raise AssertionError("new calls per node %s: not spread over the remaining nodes" % counts)
        return "%d calls, per node %s" % (len(nodes), "/".join(map(str, counts)))


# ------------------------------------------------------------------ the runner

def main():
    global pb
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="./grpcstream", help="server command (default ./grpcstream)")
    ap.add_argument("--build-dir", default=os.path.join("build", "h2"), help="for protoc output, logs, nginx's prefix")
    ap.add_argument("--nginx", help="the nginx binary (default: from PATH or /usr/sbin)")
    args = ap.parse_args()
    report = common.Report()
    name = "nginx proxy (grpc_pass) in front of 3 nodes sharing one --log FILE"
    exe = find_nginx(args.nginx)
    missing = None
    if exe is None:
        missing = "nginx not installed (Debian package nginx)"
    elif grpc is None:
        missing = "python3-grpcio not installed"
    elif not shutil.which("protoc"):
        missing = "protoc not installed"
    if missing:
        report.skip(name, missing)
        return 0
    os.makedirs(args.build_dir, exist_ok=True)
    pb = common.load_pb(os.path.join(args.build_dir, "pb"))
    work = os.path.abspath(os.path.join(args.build_dir, "nginx-proxy"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    log = os.path.join(work, "shared.log")
    with open(log, "w") as f:
        f.write("".join("%s %s\n" % e for e in BUILTIN))
    nodes = []
    proxy = None
    t_start = time.monotonic()
    try:
        try:
            for i in range(3):
                n = common.Server(args.server, work, log=log)
                n.stderr_path = os.path.join(work, "node%d.stderr" % (i + 1))
                nodes.append(n.start())
            proxy = Nginx(exe, os.path.join(work, "nginx"), nodes).start()
        except NotSupported as e:
            report.skip(name, str(e))
            return 0
        except Exception as e:      # noqa: BLE001
            report.fail("start 3 nodes and nginx", e)
            return report.status()
        cl = Cluster(nodes, proxy)
        r = Run(cl, log)
        kill = Kill(r)
        checks = [
            ("proxy: WatchLogs gives the shared file's entries on every node", c_watch),
            ("proxy: Append's seq counts the shared file's entries; watches on every node see them", c_append),
            ("proxy: concurrent Appends from 8 connections: each seq is its entry's place in the file",
             c_append_concurrent),
            ("proxy: BiDiChat, 6 chats at once over the 3 nodes: exact echoes, OK after half-close", c_chat),
            ("proxy: follow watches on every node get each Append made through the proxy within 100 ms",
             c_follow_latency),
            ("kill: a node SIGKILLed mid-run: its calls end at once (INTERNAL if they had response headers, "
             "nginx resets them; UNAVAILABLE if not, nginx answers 502)", kill.on_victim_end),
            ("kill: calls open on the other nodes go on", kill.on_others),
            ("kill: new calls succeed, served by the remaining nodes", kill.new_calls),
        ]
        broken = None
        for title, fn in checks:
            if broken:
                report.skip(title, "not run: " + broken)
                continue
            if fn == kill.on_victim_end:
                try:
                    kill.setup_and_kill()
                except Exception as e:      # noqa: BLE001
                    report.fail("kill: the calls to be open at the kill", detail(e, proxy, nodes))
                    broken = "the setup before the kill failed"
                    continue
            try:
                note = fn(r) if fn.__name__.startswith("c_") else fn()
                report.passed(title, note)
            except Exception as e:      # noqa: BLE001
                report.fail(title, detail(e, proxy, nodes))
                if fn == c_follow_latency and not r.follows:
                    broken = "no follow watches"
        for f in r.follows + kill.quiet:
            f.call.cancel()
        r.ch.close()
        errs = proxy.errors(("alert", "crit", "emerg"))
        if errs:
            report.fail("nginx: no [alert], [crit] or [emerg] in its error log", errs)
        proxy.stop()
        if not broken:
            t0 = time.monotonic()
            exits = [(i, n.stop()) for i, n in enumerate(nodes) if i != kill.victim]
            bad = ["node %d exited %s: %s" % (i, rc, nodes[i].stderr().strip()[-800:] or "(no stderr)")
                   for i, rc in exits if rc != 0]
            if bad:
                report.fail("the other nodes ran to the end and exit 0 on SIGTERM", "\n".join(bad))
            else:
                report.passed("the other nodes ran to the end and exit 0 on SIGTERM",
                              "in %.1f s" % (time.monotonic() - t0))
        took = time.monotonic() - t_start
        print("    (%.1f s; nginx config %s/nginx.conf)" % (took, proxy.prefix), flush=True)
    finally:
        if proxy:
            proxy.stop()
        for n in nodes:
            n.stop()
    return report.status()


def detail(e, proxy, nodes):
    text = str(e) if isinstance(e, AssertionError) else traceback.format_exc(limit=4)
    errs = proxy.errors(("error", "alert", "crit", "emerg")) if proxy else ""
    if errs:
        text += "\nnginx error log (last lines):\n" + errs[-1500:]
    for i, n in enumerate(nodes):
        if not n.alive() and n.proc.returncode != -signal.SIGKILL:
            text += "\nnode %d exited %s: %s" % (i + 1, n.proc.returncode, n.stderr().strip()[-300:])
    return text


if __name__ == "__main__":
    sys.exit(main())
