#!/usr/bin/env python3
"""difffuzz.py - differential testing of the grpcstream node against the model.

Usage:
    difffuzz.py [--sessions N] [--seed S] [--max-streams M] [--jobs J]
                [--keep DIR] [BINARY]

Generates N random, well-formed-ish sessions (seeded, reproducible: session i
uses seed S*1000003+i), feeds each to a fresh BINARY (default ./grpcstream)
and to tests/model.py (imported, run in-process), and compares the stdout
bytes. Prints one `PASS:`/`FAIL:` line per check; exit 1 on any FAIL. On a
mismatch the session is saved under --keep (default /tmp/difffuzz) with the
node's and the model's output, and the first differing line is printed.

Each session: maybe a few lines before init (code 11 / errors signed with
`dest`), an init, then 5..60 requests from a few clients mixing every
request type: bidi open/send/close, cancel, state, WatchLogs plain and
follow with filters and limits, Append, grpc_call of unknown methods and of
methods of the wrong kind, invalid fields of every kind, invalid msg_ids,
unknown stream ids, other clients' ids, closed ids, malformed lines (cut
off, bad UTF-8, trailing data, not an object), unknown types, too-deep
lines, values over 65536 bytes, unicode (escaped and raw, astral, lone
surrogates, control characters), duplicate keys, random key order and
whitespace. The generator runs the model line by line as it goes and looks
at its state to pick stream ids that exist (own, other clients', closed).

Where the node and the model legitimately differ, sessions stay inside
these limits:
- Clocks: the model has none (its deadlines all fire at end of input, in
  timeout_ms order). Valid timeout_ms are only used with values so large
  (>= 10 minutes, up to 2^64-1) that they never fire during a session, and
  before the input ends every live stream that has one is closed or
  cancelled, so the node never waits for a deadline. Invalid timeout_ms
  (0, negative, float, string, bool, > 2^64-1) are used freely; they are
  answered at once.
- Slices: the node sends a stream in slices of 64 messages between input
  lines; the model sends it whole. So no stream sends more than 64 messages
  in a row: the log (8 built-in entries + Appends) is kept <= 56 entries,
  so a plain WatchLogs or a follow backlog is at most 56 messages.
- The log ring (1 MiB): the model never drops entries. Append texts stay
  small (well under 1 MiB in total).
- No --log FILE (the model has no file log).
- Slots: 100 by default; sessions have at most 60 requests so they never
  run out, unless --max-streams M is given for a binary built with
  -DGS_MAX_STREAMS=M (then the model runs with M too).
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model  # noqa: E402  (tests/model.py, the independent model)

MAX_LOG = 56
UINT64_MAX = 2**64 - 1
VALID_TIMEOUTS = [600000, 10**9, 2**31, 2**32 + 1, 2**63 - 1, 2**63, UINT64_MAX - 10**13, UINT64_MAX]


# ------------------------------------------------------------ serializer --

class Obj:
    """A JSON object as an ordered list of (key, value) pairs (duplicates ok)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)


class Raw:
    """Verbatim JSON text (numbers like 1.0, -0, 1e3, deep nesting...)."""

    def __init__(self, text):
        self.text = text


SURROGATE = re.compile("[\ud800-\udfff]")
ESC_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\b": "\\b", "\f": "\\f"}


class Writer:
    def __init__(self, rng):
        self.r = rng

    def ws(self):
        r = self.r
        if r.random() < 0.85:
            return ""
        return "".join(r.choice(" \t\r ") for _ in range(r.randint(1, 3)))

    def string(self, s):
        r = self.r
        if len(s) > 200:    # long values: json.dumps, raw UTF-8 or escaped
            return json.dumps(s, ensure_ascii=r.random() < 0.5 or SURROGATE.search(s) is not None)
        style = r.random()
        out = ['"']
        for ch in s:
            o = ord(ch)
            if ch in ESC_SHORT:
                if style < 0.2 and r.random() < 0.5:
                    out.append("\\u%04x" % o)
                else:
                    out.append(ESC_SHORT[ch])
            elif o < 0x20:
                out.append("\\u%04x" % o if r.random() < 0.5 else "\\u%04X" % o)
            elif 0xD800 <= o <= 0xDFFF:       # lone surrogate: must escape
                out.append("\\u%04x" % o)
            elif ch == "/" and r.random() < 0.3:
                out.append("\\/")
            elif o >= 0x80 and style < 0.5:
                if o > 0xFFFF:
                    v = o - 0x10000
                    out.append("\\u%04x\\u%04x" % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)))
                else:
                    out.append("\\u%04x" % o if r.random() < 0.5 else "\\u%04X" % o)
            elif style < 0.25 and r.random() < 0.1:
                out.append("\\u%04x" % o)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)

    def value(self, v):
        w = self.ws
        if isinstance(v, Raw):
            return v.text
        if isinstance(v, Obj):
            if not v.pairs:
                return "{" + w() + "}"
            return "{" + ",".join(w() + self.string(k) + w() + ":" + w() + self.value(x) + w()
                                  for k, x in v.pairs) + "}"
        if isinstance(v, dict):
            return self.value(Obj(v.items()))
        if isinstance(v, list):
            if not v:
                return "[" + w() + "]"
            return "[" + ",".join(w() + self.value(x) + w() for x in v) + "]"
        if isinstance(v, str):
            return self.string(v)
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, int):
            return str(v)
        raise TypeError(v)


# ------------------------------------------------------------- generator --

LEVELS = ["INFO", "ERROR", "WARN", "DEBUG"]
WORDS = ["disk", "full", "user", "login", "cache", "miss", "caf\u00e9", "\u65e5\u672c",
         "\U0001F600", "\U00010348", "tab\there", "quote\"d", "back\\slash", "a/b",
         "nl\nx", "\x00", "\x01\x1f", "\x7f", "\u2028", "\ufeff", "\U0010FFFF",
         "\ud800", "\udfff", "", " ", "echo: "]


class Session:
    def __init__(self, seed, max_streams, max_timeout=UINT64_MAX):
        self.max_timeout = max_timeout
        self.r = random.Random(seed)
        self.w = Writer(self.r)
        self.lines = []
        self.out = []
        self.node = model.Node(max_streams, self.out.append, lambda _t: None)
        self.msg_id = 0
        self.clients = ["c1", "c2", "c3"] + (["c\u00e9\U0001F600"] if self.r.random() < 0.2 else [])
        self.appends = 0
        self.append_bytes = 0

    # -- helpers
    def text(self):
        r = self.r
        x = r.random()
        if x < 0.6:
            return " ".join(r.choice(WORDS[:6]) for _ in range(r.randint(0, 4)))
        if x < 0.97:
            return "".join(r.choice(WORDS) for _ in range(r.randint(0, 6)))
        if x < 0.985:
            return "y" * r.choice([65535, 65536, 65537, 70000])
        return "\u00e9" * r.choice([32768, 32769])      # 65536 / 65538 bytes

    def next_msg_id(self):
        r = self.r
        self.msg_id += 1
        x = r.random()
        if x < 0.9:
            return self.msg_id
        if x < 0.93:
            return None          # absent
        return r.choice([0, -1, -2**63, UINT64_MAX, Raw("-0"), Raw("1.0"), Raw("1e3"),
                         "1", Raw("null"), 2**64, -2**63 - 1, True, [1], Raw("12345678901234567890123")])

    def body(self, rtype, fields):
        """fields: list of pairs after type/msg_id; shuffled sometimes."""
        r = self.r
        pairs = []
        if rtype is not None:
            pairs.append(("type", rtype))
        mid = self.next_msg_id()
        if mid is not None:
            pairs.append(("msg_id", mid))
        pairs += fields
        if r.random() < 0.3:
            r.shuffle(pairs)
        if r.random() < 0.05:       # duplicate key: an earlier bogus one
            k, v = r.choice(pairs) if pairs else ("type", "x")
            pairs.insert(0, (k, r.choice([7, None, "bogus", Obj([])])))
        if r.random() < 0.08:       # unknown keys
            pairs.insert(r.randint(0, len(pairs)),
                         (r.choice(["extra", "\u00fcnknown", "node_ids", "x"]),
                          r.choice([1, [1, {"a": None}], "s", Obj([("k", 2.5 if False else 3)])])))
        return Obj(pairs)

    def envelope(self, src, body, dest="n1"):
        r = self.r
        pairs = [("src", src), ("dest", dest), ("body", body)]
        if r.random() < 0.2:
            r.shuffle(pairs)
        if r.random() < 0.03:
            pairs.insert(0, ("src", "zz"))         # duplicate src: last wins
        if r.random() < 0.03:
            pairs.insert(0, ("body", Obj([("type", "init")])))
        return Obj(pairs)

    def put(self, text):
        raw = text.encode("utf-8", "surrogatepass")
        self.put_raw(raw)

    def put_raw(self, raw):
        self.lines.append(raw)
        self.node.handle_line(raw)

    def put_req(self, src, rtype, fields, dest="n1"):
        env = self.envelope(src, self.body(rtype, fields), dest)
        text = self.w.ws() + self.w.value(env) + self.w.ws()
        if self.r.random() < 0.01:     # nesting deeper than 64 in an unknown member
            d = self.r.choice([62, 63, 64, 65, 200])
            text = text[:-1] + ',"deep":' + "[" * d + "]" * d + "}" if text.endswith("}") else text
        self.put(text)

    # -- stream ids
    def pick_stream(self, src):
        r = self.r
        streams = self.node.streams
        own = [s.id for s in streams.values() if s.owner == src and s.state != model.CLOSED]
        x = r.random()
        if own and x < 0.7:
            return r.choice(own)
        if streams and x < 0.85:
            return r.choice(list(streams))       # others', closed ones
        return r.choice(["s0", "s%d" % self.node.next_stream, "s01", "S1", "s", "s-1",
                         "s1 ", "s99999999999999999999999", "x" * 300, "s1\u0000"])

    def stream_id_value(self, src):
        r = self.r
        x = r.random()
        if x < 0.95:
            return [("stream_id", self.pick_stream(src))]
        if x < 0.97:
            return []
        return [("stream_id", r.choice([1, None, ["s1"], Obj([]), True]))]

    def timeout(self):
        r = self.r
        x = r.random()
        if x < 0.85:
            return []
        if x < 0.93:      # valid, never fires within a session (see top)
            return [("timeout_ms", r.choice([t for t in VALID_TIMEOUTS if t <= self.max_timeout]))]
        return [("timeout_ms", r.choice([0, -1, Raw("1.5"), "100", True, None, 2**64, Raw("1e3"),
                                          Raw("-0")]))]

    def method(self, service, method):
        r = self.r
        x = r.random()
        if x < 0.9:
            pairs = [("service", service), ("method", method)]
        else:
            choices = [("LogWatcher", "WatchLogs"), ("LogWatcher", "Append"), ("Chat", "BiDiChat"),
                       ("Chat", "Nope"), ("Nope", "WatchLogs"), ("logwatcher", "WatchLogs"),
                       (None, "Append"), ("LogWatcher", 5), ("", "")]
            s, m = r.choice(choices)
            pairs = []
            if s is not None:
                pairs.append(("service", s))
            pairs.append(("method", m))
        if r.random() < 0.3:
            r.shuffle(pairs)
        return pairs

    # -- request kinds
    def watch(self, src, follow):
        r = self.r
        req = []
        x = r.random()
        if x < 0.5:
            req.append(("filter", r.choice(LEVELS)))
        elif x < 0.6:
            req.append(("filter", r.choice(["", None, "error", "NOSUCH", "INFO "])))
        elif x < 0.65:
            req.append(("filter", r.choice([7, True, ["ERROR"], Obj([])])))
        elif x < 0.66:
            req.append(("filter", "E" * r.choice([65536, 65537])))
        x = r.random()
        if x < 0.6:
            req.append(("limit", r.choice([0, 1, 2, 3, 5, 8, 64, UINT64_MAX])))
        elif x < 0.68:
            req.append(("limit", r.choice([-1, Raw("1.0"), "3", 2**64, True, None, Raw("-0"),
                                           Raw("1E2")])))
        if follow:
            req.append(("follow", True))
        elif r.random() < 0.2:
            req.append(("follow", r.choice([False, None, 1, "true"])))
        if r.random() < 0.1:
            req.append(("unknown", r.choice([1, "x" * 70000, [1, 2]])))
        r.shuffle(req)
        request = [("request", Obj(req))]
        if r.random() < 0.06:
            request = r.choice([[], [("request", None)], [("request", [])],
                                [("request", "x")], [("request", 1)]])
        self.put_req(src, "grpc_server_stream",
                     self.method("LogWatcher", "WatchLogs") + request + self.timeout())

    def append(self, src):
        r = self.r
        if len(self.node.log) >= MAX_LOG or self.append_bytes > 200000:
            return self.state(src)
        req = []
        x = r.random()
        if x < 0.9:
            req.append(("level", r.choice(LEVELS + ["", "TRACE", "\u00e9\u00e9"])))
        elif x < 0.95:
            req.append(("level", r.choice([1, None, False])))
        x = r.random()
        if x < 0.9:
            msg = self.text()
            if len(msg) > 60000 and r.random() < 0.7:
                msg = msg[:100]
            req.append(("msg", msg))
            self.append_bytes += len(msg) * 4
        elif x < 0.95:
            req.append(("msg", r.choice([1, None, ["m"]])))
        r.shuffle(req)
        request = [("request", Obj(req))]
        if r.random() < 0.04:
            request = r.choice([[], [("request", None)], [("request", [])]])
        self.put_req(src, "grpc_call", self.method("LogWatcher", "Append") + request
                     + (self.timeout() if r.random() < 0.2 else []))

    def call_other(self, src):
        r = self.r
        s, m = r.choice([("LogWatcher", "WatchLogs"), ("Chat", "BiDiChat"), ("Nope", "Nope"),
                         ("LogWatcher", "append"), ("Chat", "Append")])
        self.put_req(src, "grpc_call", [("service", s), ("method", m), ("request", Obj([]))])

    def bidi_open(self, src):
        r = self.r
        if r.random() < 0.1:
            s, m = r.choice([("LogWatcher", "WatchLogs"), ("Chat", "Nope"), ("LogWatcher", "Append")])
            fields = [("service", s), ("method", m)]
        else:
            fields = self.method("Chat", "BiDiChat")
        self.put_req(src, "grpc_bidi_stream_open", fields + self.timeout())

    def send(self, src):
        r = self.r
        x = r.random()
        if x < 0.85:
            data = [("data", Obj([("text", self.text())]
                                 + ([("extra", 1)] if r.random() < 0.1 else [])))]
        elif x < 0.9:
            data = [("data", Obj([("text", r.choice([1, None, True, ["t"]]))]))]
        else:
            data = r.choice([[], [("data", None)], [("data", Obj([]))], [("data", "hi")],
                             [("data", [1])]])
        self.put_req(src, "grpc_bidi_stream_send", self.stream_id_value(src) + data)

    def simple(self, src, rtype):
        self.put_req(src, rtype, self.stream_id_value(src))

    def state(self, src):
        self.simple(src, "grpc_stream_state")

    def init(self, src, node_id="n1"):
        r = self.r
        fields = [("node_id", node_id), ("node_ids", ["n1", "n2"])]
        if r.random() < 0.5:
            fields.reverse()
        self.put_req(src, "init", fields, dest=r.choice(["n1", "n1", "nX"]))

    def malformed(self, src):
        r = self.r
        k = r.randrange(12)
        if k == 0:
            self.put('{"src":"%s","dest":"n1","body":{"type":' % src)
        elif k == 1:
            self.put_raw(b'{"src":"' + src.encode() + b'","dest":"n1","body":{"type":"gr\xffpc"}}')
        elif k == 2:
            self.put('{"src":"%s","dest":"n1","body":{"type":"grpc_stream_state"}} x' % src)
        elif k == 3:
            self.put(r.choice(['[1,2]', '"str"', '42', 'null', '{}', '{"dest":"n1"}',
                               '{"src":5,"body":{}}', 'garbage', '{"src":"' + "x" * 300 + '"}']))
        elif k == 4:
            self.put_req(src, r.choice(["grpc_frobnicate", "", "INIT", "grpc_stream_state\u0000"]), [])
        elif k == 5:
            self.put_req(src, None, [])              # no type
        elif k == 6:
            self.put_req(src, r.choice([1, None, ["init"], Obj([])]), [])
        elif k == 7:
            self.put(self.w.value(Obj([("src", src), ("dest", "n1"),
                                       ("body", r.choice([None, 1, "b", [], Raw("[{}]")]))])))
        elif k == 8:
            self.put('{"src":"%s","dest":"n1","body":{"type":"grpc_stream_state",'
                     '"stream_id":"s1","x":NaN}}' % src)
        elif k == 9:
            self.put('{"src":"%s","dest":"n1","body":{"type":"x","t":"raw\tcontrol"}}' % src)
        elif k == 10:
            self.put('   ' if r.random() < 0.5 else '\t\r')      # blank
        else:
            self.put('{"src":"%s","src":"c2' % src)

    def run(self):
        r = self.r
        for _ in range(r.choice([0, 0, 0, 1, 2])):    # before init
            x = r.random()
            src = r.choice(self.clients)
            if x < 0.5:
                self.state(src)
            elif x < 0.7:
                self.malformed(src)
            else:
                self.put_req(src, "grpc_server_stream", [("service", "LogWatcher")],
                             dest=r.choice(["n1", "x" * 256, 5]))
        if r.random() < 0.03:
            self.init("c0", r.choice([5, None, "n" * 256]))   # a bad init first
        self.init("c0")
        n = r.randint(5, 60)
        kinds = [("open", 14), ("send", 22), ("close", 6), ("cancel", 6), ("state", 8),
                 ("watch", 12), ("follow", 8), ("append", 12), ("call", 3), ("bad", 5),
                 ("init", 1)]
        names = [k for k, w in kinds for _ in range(w)]
        for _ in range(n):
            src = r.choice(self.clients)
            k = r.choice(names)
            if k == "open":
                self.bidi_open(src)
            elif k == "send":
                self.send(src)
            elif k == "close":
                self.simple(src, "grpc_bidi_stream_close")
            elif k == "cancel":
                self.simple(src, "grpc_stream_cancel")
            elif k == "state":
                self.state(src)
            elif k == "watch":
                self.watch(src, False)
            elif k == "follow":
                self.watch(src, True)
            elif k == "append":
                self.append(src)
            elif k == "call":
                self.call_other(src)
            elif k == "bad":
                self.malformed(src)
            else:
                self.init(src, r.choice(["n1", "n2"]))
        # Streams with a deadline must not outlive the input (see top).
        for s in sorted(self.node.streams.values(), key=lambda s: int(s.id[1:])):
            if s.state != model.CLOSED and s.deadline is not None:
                self.put(json.dumps({"src": s.owner, "dest": "n1",
                                     "body": {"type": "grpc_stream_cancel", "msg_id": 9999,
                                              "stream_id": s.id}}))
        self.node.expire_deadlines()
        data = b"\n".join(self.lines)
        if r.random() < 0.9:
            data += b"\n"
        return data, b"".join(self.out)


def first_diff(a, b):
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<none>"
        y = lb[i] if i < len(lb) else b"<none>"
        if x != y:
            return i + 1, x, y
    return None


def run_one(binary, seed, max_streams, max_timeout):
    data, expected = Session(seed, max_streams, max_timeout).run()
    try:
        p = subprocess.run([binary], input=data, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        got, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired:
        got, rc = b"", "timeout"
    return seed, data, expected, got, rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-streams", type=int, default=model.DEFAULT_MAX_STREAMS)
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--max-timeout", type=int, default=UINT64_MAX,
                    help="largest valid timeout_ms used (default 2^64-1)")
    ap.add_argument("--keep", default="/tmp/difffuzz")
    ap.add_argument("--max-fail", type=int, default=5)
    ap.add_argument("binary", nargs="?", default="./grpcstream")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        # The binary under test is missing: a failure, not a skip.
        print("FAIL: difffuzz (no binary %s)" % binary)
        return 1
    # A private copy: a concurrent `make` must not swap the binary mid-run.
    tmpdir = tempfile.mkdtemp(prefix="difffuzz-bin-")
    shutil.copy2(binary, os.path.join(tmpdir, "node"))
    binary = os.path.join(tmpdir, "node")
    t0 = time.time()
    seeds = [a.seed * 1000003 + i for i in range(a.sessions)]
    fails, lines, replies = 0, 0, 0
    with ThreadPoolExecutor(a.jobs) as ex:
        for seed, data, expected, got, rc in ex.map(lambda s: run_one(binary, s, a.max_streams, a.max_timeout), seeds):
            lines += data.count(b"\n")
            replies += expected.count(b"\n")
            if got == expected and rc == 0:
                continue
            fails += 1
            if fails > a.max_fail:
                continue
            os.makedirs(a.keep, exist_ok=True)
            base = os.path.join(a.keep, "session-%d" % seed)
            for ext, blob in ((".in", data), (".node", got), (".model", expected)):
                with open(base + ext, "wb") as f:
                    f.write(blob)
            d = first_diff(got, expected)
            detail = "exit %s" % rc
            if d:
                detail += "; line %d: node %r / model %r" % (d[0], d[1][:300], d[2][:300])
            print("FAIL: difffuzz session seed %d (%s; saved %s.in/.node/.model)" % (seed, detail, base))
    shutil.rmtree(tmpdir, ignore_errors=True)
    dt = time.time() - t0
    name = "difffuzz: %d sessions, seed %d, %d input lines, %d replies, %.1f s" % (
        a.sessions, a.seed, lines, replies, dt)
    if fails:
        print("FAIL: %s (%d sessions differ)" % (name, fails))
        return 1
    print("PASS: %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
