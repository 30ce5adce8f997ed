#!/usr/bin/env python3
"""gen.py - JSON-lines sessions for the grpcstream benchmarks.

Usage:
    gen.py bidi N S      S Chat/BiDiChat streams from c1, N sends round-robin
                         over s1..sS ({"text": "hello <i>"}), then S closes
    gen.py watch N       N LogWatcher/WatchLogs {"filter": "ERROR", "limit": 3}
    gen.py mixed N [SEED]
                         about N lines of a realistic mix from c1..c8 (bidi
                         opens/sends/closes, WatchLogs with various filters
                         and limits up to 64 plus a rare one without limit,
                         Append, stream state, cancels, follow watches, and
                         a few deliberately bad lines); SEED defaults to 1
    gen.py watchlog      one LogWatcher/WatchLogs with request {} (every
                         entry of the node's --log file, no limit)
    gen.py logfile N [SEED]
                         not a session: N log entries for `grpcstream --log`,
                         one a line, `LEVEL word...` (1 to 6 words, as the
                         mixed session's Appends); SEED defaults to 1

Every session starts with the init from c0 (msg_id 1); msg_id goes up by one
on every line.  Lines use compact separators (as the seed task's examples).
Stream ids are s1, s2, ... in open order, shared by all clients, as the node
assigns them (PROTOCOL.md 1.3); every open the generator writes succeeds,
because fewer than 100 streams are ever open at once.
"""
import json
import random
import sys

INIT = ('{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,'
        '"node_id":"n1","node_ids":["n1"]}}\n')
CHUNK = 4096  # lines per write


def env(src, body):
    """One compact line: envelope around body (a dict, key order kept)."""
    return json.dumps({"src": src, "dest": "n1", "body": body},
                      separators=(",", ":")) + "\n"


class Out:
    """Buffered line writer that numbers msg_ids (init has 1)."""

    def __init__(self, stream):
        self.stream = stream
        self.buf = [INIT]
        self.msg_id = 1

    def next_id(self):
        self.msg_id += 1
        return self.msg_id

    def put(self, line):
        self.buf.append(line)
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self):
        self.stream.write("".join(self.buf))
        self.buf = []


def gen_bidi(out, n, s):
    for _ in range(s):
        out.put('{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open",'
                '"msg_id":%d,"service":"Chat","method":"BiDiChat"}}\n'
                % out.next_id())
    send = ('{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send",'
            '"msg_id":%d,"stream_id":"s%d","data":{"text":"hello %d"}}}\n')
    for i in range(n):
        out.put(send % (out.next_id(), i % s + 1, i + 1))
    for k in range(s):
        out.put('{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_close",'
                '"msg_id":%d,"stream_id":"s%d"}}\n' % (out.next_id(), k + 1))


def gen_watch(out, n):
    line = ('{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream",'
            '"msg_id":%d,"service":"LogWatcher","method":"WatchLogs",'
            '"request":{"filter":"ERROR","limit":3}}}\n')
    for _ in range(n):
        out.put(line % out.next_id())


LEVELS = ["INFO", "ERROR", "WARN", "DEBUG"]
WORDS = ["disk", "full", "connection", "reset", "timeout", "user", "login",
         "cache", "miss", "request", "served", "retry", "shard", "queue",
         "latency", "high", "gc", "pause", "caf\u00e9", "\u65e5\u672c"]
MAX_PER_CLIENT = 8    # open streams per client: 8 clients -> at most 64
# Plain watches have a limit of at most 64, so each is complete before the
# node reads the next line (PROTOCOL.md 1.6) and frees its slot at once;
# one watch in UNLIMITED_EVERY lines has no limit and sends the whole log,
# which the node may send in slices over many lines.  At most UNLIMITED_MAX
# such in a session, so even if all are still running, 64 + 10 < 100 slots
# and every open succeeds, keeping the generator's stream ids right.
UNLIMITED_EVERY = 50000
UNLIMITED_MAX = 10


class Mixed:
    """State of the mixed session: who holds which streams."""

    def __init__(self, out, rng):
        self.out = out
        self.rng = rng
        self.clients = ["c%d" % i for i in range(1, 9)]
        self.bidi = {c: [] for c in self.clients}     # open bidi stream ids
        self.follow = {c: [] for c in self.clients}   # follow watches
        self.closed = []                              # ids ended by close/cancel
        self.next_stream = 1
        self.unlimited = 0                            # watches without limit

    def new_id(self):
        sid = "s%d" % self.next_stream
        self.next_stream += 1
        return sid

    def nopen(self, c):
        return len(self.bidi[c]) + len(self.follow[c])

    def emit(self, c, body):
        body = dict([("type", body.pop("type")),
                     ("msg_id", self.out.next_id())] + list(body.items()))
        self.out.put(env(c, body))

    def text(self):
        r = self.rng
        return " ".join(r.choice(WORDS) for _ in range(r.randint(1, 6)))

    def open_bidi(self, c):
        body = {"type": "grpc_bidi_stream_open", "service": "Chat",
                "method": "BiDiChat"}
        self.emit(c, body)
        self.bidi[c].append(self.new_id())

    def send(self, c):
        sid = self.rng.choice(self.bidi[c])
        self.emit(c, {"type": "grpc_bidi_stream_send", "stream_id": sid,
                      "data": {"text": self.text()}})

    def close(self, c):
        sid = self.bidi[c].pop(self.rng.randrange(len(self.bidi[c])))
        self.emit(c, {"type": "grpc_bidi_stream_close", "stream_id": sid})
        self.closed.append(sid)

    def cancel(self, c):
        pool = self.bidi[c] + self.follow[c]
        sid = self.rng.choice(pool)
        if sid in self.bidi[c]:
            self.bidi[c].remove(sid)
        else:
            self.follow[c].remove(sid)
        self.emit(c, {"type": "grpc_stream_cancel", "stream_id": sid})
        self.closed.append(sid)

    def watch(self, c, follow=False, unlimited=False):
        r = self.rng
        req = {}
        f = r.random()
        if f < 0.35:
            req["filter"] = "ERROR"
        elif f < 0.55:
            req["filter"] = r.choice(LEVELS)
        elif f < 0.65:
            req["filter"] = ""
        elif f < 0.70:
            req["filter"] = None
        elif f < 0.75:
            req["filter"] = "NOSUCHLEVEL"
        # else: filter absent (every level)
        if follow:
            req["limit"] = r.randint(1, 4)
            req["follow"] = True
        elif not unlimited:
            req["limit"] = r.choice([1, 2, 3, 3, 3, 5, 8, 10, 16, 64])
        # else no limit: the whole log, which Appends make long
        self.emit(c, {"type": "grpc_server_stream", "service": "LogWatcher",
                      "method": "WatchLogs", "request": req})
        if follow:
            self.follow[c].append(self.new_id())

    def append(self, c):
        self.emit(c, {"type": "grpc_call", "service": "LogWatcher",
                      "method": "Append",
                      "request": {"level": self.rng.choice(LEVELS),
                                  "msg": self.text()}})

    def state(self, c):
        r = self.rng
        pool = self.bidi[c] + self.follow[c]
        if pool and r.random() < 0.7:
            sid = r.choice(pool)
        elif self.closed:
            sid = r.choice(self.closed)
        else:
            sid = "s999999"
        self.emit(c, {"type": "grpc_stream_state", "stream_id": sid})

    def bad(self, c):
        r = self.rng
        k = r.randrange(5)
        if k == 0:                      # not JSON: code 12
            self.out.next_id()
            self.out.put('{"src":"%s","dest":"n1","body":{"type":' % c + "\n")
        elif k == 1:                    # unknown type: code 10
            self.emit(c, {"type": "grpc_frobnicate"})
        elif k == 2:                    # unknown stream: code 20
            self.emit(c, {"type": "grpc_bidi_stream_send",
                          "stream_id": "s999999", "data": {"text": "x"}})
        elif k == 3:                    # unknown method: UNIMPLEMENTED, no id
            self.emit(c, {"type": "grpc_bidi_stream_open", "service": "Chat",
                          "method": "Nope"})
        else:                           # bad request shape: INVALID_ARGUMENT
            self.emit(c, {"type": "grpc_server_stream",
                          "service": "LogWatcher", "method": "WatchLogs",
                          "request": {"filter": 7}})

    def step(self, k):
        r = self.rng
        c = r.choice(self.clients)
        if (k % UNLIMITED_EVERY == UNLIMITED_EVERY // 2
                and self.unlimited < UNLIMITED_MAX):
            self.unlimited += 1
            self.watch(c, unlimited=True)
            return
        x = r.random()
        has_bidi = bool(self.bidi[c])
        room = self.nopen(c) < MAX_PER_CLIENT
        if x < 0.55:
            if has_bidi:
                self.send(c)
            elif room:
                self.open_bidi(c)
            else:
                self.watch(c)
        elif x < 0.60:
            if room:
                self.open_bidi(c)
            else:
                self.watch(c)
        elif x < 0.64:
            if has_bidi:
                self.close(c)
            else:
                self.state(c)
        elif x < 0.80:
            self.watch(c)
        elif x < 0.88:
            self.append(c)
        elif x < 0.95:
            self.state(c)
        elif x < 0.96:
            if self.nopen(c):
                self.cancel(c)
            else:
                self.state(c)
        elif x < 0.965:
            if room:
                self.watch(c, follow=True)
            else:
                self.watch(c)
        elif x < 0.968:
            self.bad(c)
        else:
            self.watch(c)

    def finish(self):
        for c in self.clients:
            for sid in list(self.follow[c]):
                self.emit(c, {"type": "grpc_stream_cancel", "stream_id": sid})
            while self.bidi[c]:
                self.emit(c, {"type": "grpc_bidi_stream_close",
                              "stream_id": self.bidi[c].pop(0)})


def gen_mixed(out, n, seed):
    m = Mixed(out, random.Random(seed))
    for k in range(n):
        m.step(k)
    m.finish()


def gen_watchlog(out):
    out.put('{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream",'
            '"msg_id":%d,"service":"LogWatcher","method":"WatchLogs",'
            '"request":{}}}\n' % out.next_id())


def gen_logfile(stream, n, seed):
    r = random.Random(seed)
    buf = []
    for _ in range(n):
        buf.append("%s %s\n" % (r.choice(LEVELS), " ".join(
            r.choice(WORDS) for _ in range(r.randint(1, 6)))))
        if len(buf) >= CHUNK:
            stream.write("".join(buf))
            buf = []
    stream.write("".join(buf))


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


def main(argv):
    if len(argv) == 2 and argv[1] == "watchlog":
        out = Out(sys.stdout)
        gen_watchlog(out)
        out.flush()
        return
    if len(argv) < 3:
        usage()
    try:
        args = [int(a) for a in argv[2:]]
    except ValueError:
        usage()
    kind = argv[1]
    if kind == "logfile" and len(args) in (1, 2):
        gen_logfile(sys.stdout, args[0], args[1] if len(args) == 2 else 1)
        return
    out = Out(sys.stdout)
    if kind == "bidi" and len(args) == 2 and args[1] > 0:
        gen_bidi(out, args[0], args[1])
    elif kind == "watch" and len(args) == 1:
        gen_watch(out, args[0])
    elif kind == "mixed" and len(args) in (1, 2):
        gen_mixed(out, args[0], args[1] if len(args) == 2 else 1)
    else:
        usage()
    out.flush()


if __name__ == "__main__":
    main(sys.argv)
