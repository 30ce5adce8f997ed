#!/usr/bin/env python3
"""Independent reference model of the grpcstream JSON-lines node.

This is a second implementation of PROTOCOL.md section 1, written only from
PROTOCOL.md, the task text and the "Decisions where PROTOCOL.md is silent"
section of README.md, without looking at the C code. It exists for
differential testing: feed the same input to `grpcstream` and to

    python3 tests/model.py [--max-streams N] < input > expected

and compare stdout byte for byte. Standard library only.

What it does not model (yet):
- `--log FILE`.
- Clocks: deadlines all fire at end of input, in order of timeout_ms (see
  Node.expire_deadlines), so cases must leave them that order.
- Timing. Every stream is produced to its end at once, so a plain WatchLogs
  (or a follow backlog) of more than 64 messages is written before the next
  line is handled; the C node may interleave later replies into such a
  stream (PROTOCOL.md 1.6), so differential tests should keep streams short.
- The size of the C node's log ring. The model's log never drops entries and
  never answers `entry larger than the log`.
"""

import argparse
import json
import re
import sys
from json.decoder import scanstring

# ---------------------------------------------------------------- limits ---

MAX_DEPTH = 64                  # nested containers, the envelope counts as one
MAX_NAME_BYTES = 255            # src, dest, node_id, stream_id
MAX_FIELD_BYTES = 65536         # text, filter, level, msg
DEFAULT_MAX_STREAMS = 100
MSG_ID_RANGE = (-2**63, 2**64 - 1)
UINT64_MAX = 2**64 - 1

BUILTIN_LOG = [
    ("INFO", "server started"),
    ("ERROR", "disk full"),
    ("WARN", "high memory usage"),
    ("ERROR", "connection reset"),
    ("INFO", "request served"),
    ("ERROR", "timeout"),
    ("DEBUG", "cache miss"),
    ("INFO", "user login"),
]

# Fixed texts (README table).
TEXT_INVALID_JSON = "invalid JSON"
TEXT_BAD_BODY = "body must be an object"
TEXT_BAD_MSG_ID = "msg_id must be a 64-bit integer"
TEXT_BAD_TYPE = "type must be a string"
TEXT_UNKNOWN_TYPE = "unknown message type"
TEXT_NOT_INIT = "node not initialised"
TEXT_BAD_NODE_ID = "node_id must be a string"
TEXT_LONG_NODE_ID = "node_id longer than 255 bytes"
TEXT_BAD_STREAM_ID = "stream_id must be a string"
TEXT_TOO_DEEP = "nesting deeper than 64"
TEXT_BAD_TIMEOUT = "timeout_ms must be a positive integer"
TEXT_DEADLINE = "deadline exceeded"
TEXT_UNKNOWN_STREAM = "unknown stream"
TEXT_HALF_CLOSED = "stream is half-closed"
TEXT_CLOSED = "stream is closed"
TEXT_UNKNOWN_METHOD = "unknown method"
TEXT_SLOTS_BUSY = "all stream slots are busy"
TEXT_CANCELLED = "cancelled by client"

# Maelstrom error codes.
MALFORMED, NOT_SUPPORTED, UNAVAILABLE = 12, 10, 11
KEY_DOES_NOT_EXIST, PRECONDITION_FAILED = 20, 22


def utf8_len(s):
    """Byte length of a decoded JSON string; lone surrogates count 3 bytes."""
    return len(s.encode("utf-8", "surrogatepass"))


# ============================================================ JSON layer ===
#
# A line is checked by an iterative scanner (no recursion, so a 200,000-deep
# line is cheap) that also measures the nesting depth and remembers the last
# completely read top-level "src" and "dest" members, which is how src is
# recovered from invalid lines. Valid lines are then decoded by json.loads;
# for a too-deep line every container at depth 65 is first replaced by an
# empty one of the same kind, which keeps every value the node reads (all at
# depth <= 4) exactly as it was.

class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NOT_STRING = _Marker("NOT_STRING")   # a completely read non-string value
FLOAT = _Marker("FLOAT")             # any JSON number with fraction/exponent
BIG_INT = _Marker("BIG_INT")         # an integer far outside 64 bits
ABSENT = _Marker("ABSENT")           # no msg_id in the request

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = ("true", "false", "null")
_CLOSER = {"{": "}", "[": "]"}
_KEY, _VALUE, _AFTER = range(3)


class _Scanner:
    """Validates one JSON text exactly as json.loads(strict) would, minus
    NaN/Infinity, without recursion."""

    def __init__(self, text):
        self.text = text
        self.stack = []
        self.max_depth = 0
        self.deep_spans = []        # (start, end, kind) of depth-65 containers
        self.members = {}           # "src"/"dest" -> str or NOT_STRING
        self._deep_start = 0
        self._key = None

    def run(self):
        """True if the whole text is one valid JSON value."""
        text = self.text
        ws = _WS.match
        pos = ws(text, 0).end()
        expect = _VALUE
        while True:
            if expect == _KEY:
                if text[pos:pos + 1] != '"':
                    return False
                try:
                    key, pos = scanstring(text, pos + 1, True)
                except ValueError:
                    return False
                if len(self.stack) == 1:
                    # a src/dest member that begins replaces the last one,
                    # even if it is cut off (README: order of checks, 2)
                    self.members.pop(key, None)
                pos = ws(text, pos).end()
                if text[pos:pos + 1] != ":":
                    return False
                pos = ws(text, pos + 1).end()
                if len(self.stack) == 1:
                    self._key = key
                expect = _VALUE
            elif expect == _VALUE:
                ch = text[pos:pos + 1]
                if (ch == "{" or ch == "[") and len(self.stack) == MAX_DEPTH:
                    # Like the node: beyond depth 64 nothing is validated,
                    # brackets are only counted (strings skipped).
                    end = self._skip_deep(pos)
                    if end is None:
                        return False
                    self.max_depth = MAX_DEPTH + 1
                    self.deep_spans.append((pos, end, ch))
                    pos = end
                    self._value_done(NOT_STRING)
                    expect = _AFTER
                    continue
                if ch == "{" or ch == "[":
                    self._open(ch, pos)
                    pos = ws(text, pos + 1).end()
                    if text[pos:pos + 1] == _CLOSER[ch]:
                        pos += 1
                        self._close(pos)
                        expect = _AFTER
                    else:
                        expect = _KEY if ch == "{" else _VALUE
                    continue
                if ch == '"':
                    try:
                        value, pos = scanstring(text, pos + 1, True)
                    except ValueError:
                        return False
                else:
                    end = self._scalar_end(pos)
                    if end is None:
                        return False
                    pos, value = end, NOT_STRING
                self._value_done(value)
                expect = _AFTER
            else:  # _AFTER a value
                pos = ws(text, pos).end()
                if not self.stack:
                    return pos == len(text)
                ch = text[pos:pos + 1]
                if ch == ",":
                    pos = ws(text, pos + 1).end()
                    expect = _KEY if self.stack[-1] == "{" else _VALUE
                elif ch == _CLOSER[self.stack[-1]]:
                    pos += 1
                    self._close(pos)
                else:
                    return False

    def _skip_deep(self, pos):
        """End of the over-deep container at pos, or None if cut off."""
        depth, in_str, esc = 0, False, False
        for i in range(pos, len(self.text)):
            ch = self.text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
        return None

    def _scalar_end(self, pos):
        m = _NUMBER.match(self.text, pos)
        if m:
            return m.end()
        for lit in _LITERALS:
            if self.text.startswith(lit, pos):
                return pos + len(lit)
        return None

    def _open(self, kind, pos):
        self.stack.append(kind)
        depth = len(self.stack)
        self.max_depth = max(self.max_depth, depth)
        if depth == MAX_DEPTH + 1:
            self._deep_start = pos

    def _close(self, end):
        kind = self.stack.pop()
        if len(self.stack) == MAX_DEPTH:
            self.deep_spans.append((self._deep_start, end, kind))
        self._value_done(NOT_STRING)

    def _value_done(self, value):
        """A value ended; if it was a top-level src/dest member, keep it."""
        if self.stack == ["{"] and self._key in ("src", "dest"):
            self.members[self._key] = value


class _RejectedConstant(ValueError):
    pass


def _reject_constant(name):
    raise _RejectedConstant(name)


def _parse_int(digits):
    # Anything this long is outside every range the node accepts; skipping
    # int() also avoids Python's 4300-digit conversion limit.
    return int(digits) if len(digits) <= 40 else BIG_INT


def _loads(text):
    return json.loads(text, parse_int=_parse_int,
                      parse_float=lambda _: FLOAT,
                      parse_constant=_reject_constant)


def _first_bad_byte(text, spans):
    """Position of the first undecodable byte outside the deep spans."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff" and not any(a <= i < b for a, b, _ in spans):
            return i
    return None


def _without_deep_containers(text, spans):
    pieces, last = [], 0
    for start, end, kind in spans:
        pieces.append(text[last:start])
        pieces.append("{}" if kind == "{" else "[]")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


class Line:
    """A parsed input line: kind is 'blank', 'invalid' or 'valid'."""

    def __init__(self, kind, value=None, too_deep=False, members=None):
        self.kind = kind
        self.value = value
        self.too_deep = too_deep
        self.members = members or {}


def parse_line(raw):
    if not raw.strip(b" \t\n\r"):
        return Line("blank")
    # Bad UTF-8 bytes become lone surrogates U+DC80..U+DCFF (which real
    # UTF-8 cannot produce); they make the line invalid unless they sit
    # beyond depth 64, where the node validates nothing.
    text = raw.decode("utf-8", "surrogateescape")
    scanner = _Scanner(text)
    valid = scanner.run()
    bad = _first_bad_byte(text, scanner.deep_spans)
    if bad is not None and (not valid or bad < len(text)):
        scanner = _Scanner(text[:bad])     # what precedes the first bad byte
        scanner.run()
        return Line("invalid", members=scanner.members)
    if not valid:
        _check_loads_rejects(text, scanner)
        return Line("invalid", members=scanner.members)
    too_deep = scanner.max_depth > MAX_DEPTH
    if too_deep:
        text = _without_deep_containers(text, scanner.deep_spans)
    # json.loads is the authority on valid JSON; if it disagrees with the
    # scanner the model itself is wrong, and it had better say so loudly.
    return Line("valid", value=_loads(text), too_deep=too_deep)


def _check_loads_rejects(text, scanner):
    if scanner.max_depth > MAX_DEPTH:
        return          # json.loads could recurse too far; trust the scanner
    try:
        _loads(text)
    except (ValueError, RecursionError):
        return
    raise AssertionError("model scanner rejects JSON that json.loads accepts")


# ========================================================= node ===========

OPEN, HALF_CLOSED, CLOSED = "OPEN", "HALF_CLOSED", "CLOSED"

SERVER_STREAMING, BIDI_STREAMING, UNARY = "server", "bidi", "unary"
FOLLOW = "follow"               # the kind of a stream that is a follow watch
METHODS = {
    ("LogWatcher", "WatchLogs"): SERVER_STREAMING,
    ("LogWatcher", "Append"): UNARY,
    ("Chat", "BiDiChat"): BIDI_STREAMING,
}
WRONG_KIND_TEXT = {
    SERVER_STREAMING: "method is not server-streaming",
    BIDI_STREAMING: "method is not bidi-streaming",
    UNARY: "method is not unary",
}

# Message schemas: fields in declaration order, with their kind.
WATCH_REQUEST = (("filter", "string"), ("limit", "uint64"), ("follow", "bool"))
LOG_ENTRY = (("level", "string"), ("msg", "string"))
CHAT_MESSAGE = (("text", "string"),)
_DEFAULTS = {"string": "", "uint64": 0, "bool": False}


class CallFailure(Exception):
    """A failed call: a gRPC status name and a fixed message."""

    def __init__(self, status, message):
        super().__init__(status, message)
        self.status = status
        self.message = message


def decode_message(payload, schema, payload_name):
    """Proto3-style decoding of a JSON object; raises CallFailure."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise CallFailure("INVALID_ARGUMENT", payload_name + " must be an object")
    return {name: _decode_field(name, kind, payload.get(name))
            for name, kind in schema}


def _decode_field(name, kind, value):
    if value is None:
        return _DEFAULTS[kind]
    if kind == "string":
        if not isinstance(value, str):
            raise CallFailure("INVALID_ARGUMENT", name + " must be a string")
        if utf8_len(value) > MAX_FIELD_BYTES:
            raise CallFailure("RESOURCE_EXHAUSTED",
                              "%s larger than %d bytes" % (name, MAX_FIELD_BYTES))
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise CallFailure("INVALID_ARGUMENT", name + " must be a boolean")
        return value
    if (isinstance(value, bool) or not isinstance(value, int)
            or not 0 <= value <= UINT64_MAX):
        raise CallFailure("INVALID_ARGUMENT",
                          name + " must be a non-negative 64-bit integer")
    return value


class Request:
    """The envelope fields of one line, as far as they could be read."""

    def __init__(self, src, dest, body, msg_id=ABSENT, too_deep=False):
        self.src = src
        self.dest = dest            # a usable name, or None
        self.body = body
        self.msg_id = msg_id
        self.too_deep = too_deep


class Stream:
    """A bidi stream or a follow watch: something that has an id."""

    def __init__(self, stream_id, kind, owner, opener_msg_id, log_filter="",
                 limit=0):
        self.id = stream_id
        self.kind = kind                    # BIDI_STREAMING or FOLLOW
        self.owner = owner
        self.opener_msg_id = opener_msg_id
        self.state = OPEN if kind == BIDI_STREAMING else HALF_CLOSED
        self.count = 0                      # messages sent on the stream
        self.filter = log_filter
        self.limit = limit
        self.deadline = None                # reserved for timeout_ms

    def matches(self, level):
        return self.filter == "" or self.filter == level

    def limit_reached(self):
        return self.limit != 0 and self.count >= self.limit


def usable_name(value):
    if isinstance(value, str) and utf8_len(value) <= MAX_NAME_BYTES:
        return value
    return None


def valid_msg_id(value):
    return (isinstance(value, int) and not isinstance(value, bool)
            and MSG_ID_RANGE[0] <= value <= MSG_ID_RANGE[1])


def end_fields(stream_id, status, count, message):
    """Body fields of grpc_stream_end (stream_id None: server-stream layout)."""
    fields = {} if stream_id is None else {"stream_id": stream_id}
    fields["status"] = status
    fields["count"] = count
    if status != "OK":
        fields["message"] = message
    return fields


class Node:
    def __init__(self, max_streams, out, diag):
        self.max_streams = max_streams
        self.out = out              # takes one output line (bytes)
        self.diag = diag            # takes one diagnostic (str)
        self.node_id = None
        self.next_msg_id = 0
        self.log = list(BUILTIN_LOG)
        self.streams = {}           # "sN" -> Stream, every id ever issued
        self.next_stream = 1
        self.handlers = {
            "init": self.on_init,
            "grpc_server_stream": self.on_server_stream,
            "grpc_bidi_stream_open": self.on_bidi_open,
            "grpc_bidi_stream_send": self.on_bidi_send,
            "grpc_bidi_stream_close": self.on_bidi_close,
            "grpc_stream_cancel": self.on_cancel,
            "grpc_stream_state": self.on_state,
            "grpc_call": self.on_call,
        }

    # ------------------------------------------------------------ output --

    def emit(self, src, dest, body):
        body["msg_id"] = self.next_msg_id
        self.next_msg_id += 1
        line = json.dumps({"src": src, "dest": dest, "body": body}) + "\n"
        self.out(line.encode("ascii"))

    def reply(self, req, rtype, fields):
        """Reply to req: type, in_reply_to, fields, msg_id."""
        signer = self.node_id if self.node_id is not None else req.dest
        if signer is None:
            self.diag("no reply to %r before init: dest unusable" % req.src)
            return
        body = {"type": rtype}
        if req.msg_id is not ABSENT:
            body["in_reply_to"] = req.msg_id
        body.update(fields)
        self.emit(signer, req.src, body)

    def error(self, req, code, text):
        self.reply(req, "error", {"code": code, "text": text})

    def push(self, stream, rtype, fields):
        """A message the server sends on a follow watch on its own."""
        body = {"type": rtype}
        if stream.opener_msg_id is not ABSENT:
            body["in_reply_to"] = stream.opener_msg_id
        body["stream_id"] = stream.id
        body.update(fields)
        self.emit(self.node_id, stream.owner, body)

    # ------------------------------------------------------------- lines --

    def handle_line(self, raw):
        # (Deadlines, once modelled, are expired here before each line.)
        line = parse_line(raw)
        if line.kind == "blank":
            return
        if line.kind == "invalid":
            self.on_invalid_json(line)
            return
        envelope = line.value
        if not isinstance(envelope, dict) or usable_name(envelope.get("src")) is None:
            self.diag("line without a usable src: no reply")
            return
        req = Request(envelope["src"], usable_name(envelope.get("dest")),
                      envelope.get("body"), too_deep=line.too_deep)
        self.dispatch(req)

    def on_invalid_json(self, line):
        src = line.members.get("src")
        if usable_name(src) is None:
            self.diag("invalid JSON, src unrecoverable: no reply")
            return
        req = Request(src, usable_name(line.members.get("dest")), None)
        self.error(req, MALFORMED, TEXT_INVALID_JSON)

    def dispatch(self, req):
        body = req.body
        if not isinstance(body, dict):
            return self.error(req, MALFORMED, TEXT_BAD_BODY)
        if "msg_id" in body and not valid_msg_id(body["msg_id"]):
            return self.error(req, MALFORMED, TEXT_BAD_MSG_ID)
        req.msg_id = body.get("msg_id", ABSENT)
        rtype = body.get("type")
        if not isinstance(rtype, str):
            return self.error(req, MALFORMED, TEXT_BAD_TYPE)
        handler = self.handlers.get(rtype)
        if handler is None:
            return self.error(req, NOT_SUPPORTED, TEXT_UNKNOWN_TYPE)
        if self.node_id is None and rtype != "init":
            return self.error(req, UNAVAILABLE, TEXT_NOT_INIT)
        return handler(req)

    # -------------------------------------------------------------- init --

    def on_init(self, req):
        # The checks apply to every init; a valid second one changes nothing.
        node_id = req.body.get("node_id")
        if not isinstance(node_id, str):
            return self.error(req, MALFORMED, TEXT_BAD_NODE_ID)
        if utf8_len(node_id) > MAX_NAME_BYTES:
            return self.error(req, MALFORMED, TEXT_LONG_NODE_ID)
        if req.too_deep:
            return self.error(req, MALFORMED, TEXT_TOO_DEEP)
        if self.node_id is None:
            self.node_id = node_id
        self.reply(req, "init_ok", {})

    # ------------------------------------------------------- call checks --

    def check_call(self, req, kind, payload_name=None, schema=None,
                   needs_slot=True):
        """README order: method, depth, payload, fields, slot.
        Returns the decoded payload; raises CallFailure."""
        if kind is not None:
            self.check_method(req, kind)
        if req.too_deep:
            raise CallFailure("RESOURCE_EXHAUSTED", TEXT_TOO_DEEP)
        args = {}
        if schema is not None:
            args = decode_message(req.body.get(payload_name), schema, payload_name)
        if kind in (SERVER_STREAMING, BIDI_STREAMING) and "timeout_ms" in req.body:
            t = req.body["timeout_ms"]
            if isinstance(t, bool) or not isinstance(t, int) or not 0 < t <= UINT64_MAX:
                raise CallFailure("INVALID_ARGUMENT", TEXT_BAD_TIMEOUT)
        if needs_slot and self.live_streams() >= self.max_streams:
            raise CallFailure("RESOURCE_EXHAUSTED", TEXT_SLOTS_BUSY)
        return args

    @staticmethod
    def check_method(req, kind):
        service, method = req.body.get("service"), req.body.get("method")
        found = None
        if isinstance(service, str) and isinstance(method, str):
            found = METHODS.get((service, method))
        if found is None:
            raise CallFailure("UNIMPLEMENTED", TEXT_UNKNOWN_METHOD)
        if found != kind:
            raise CallFailure("UNIMPLEMENTED", WRONG_KIND_TEXT[kind])

    def live_streams(self):
        return sum(1 for s in self.streams.values() if s.state != CLOSED)

    def new_stream(self, kind, req, **options):
        stream_id = "s%d" % self.next_stream
        self.next_stream += 1
        stream = Stream(stream_id, kind, req.src, req.msg_id, **options)
        stream.deadline = req.body.get("timeout_ms")
        self.streams[stream_id] = stream
        return stream

    # --------------------------------------------------------- WatchLogs --

    def on_server_stream(self, req):
        try:
            args = self.check_call(req, SERVER_STREAMING, "request", WATCH_REQUEST)
        except CallFailure as failure:
            return self.reply(req, "grpc_stream_end",
                              end_fields(None, failure.status, 0, failure.message))
        if args["follow"]:
            self.open_follow(req, args)
        else:
            self.serve_plain(req, args)

    def serve_plain(self, req, args):
        """Completes at once, so its slot is free again before the next line."""
        count = 0
        for level, msg in list(self.log):
            if args["limit"] and count >= args["limit"]:
                break
            if args["filter"] in ("", level):
                count += 1
                self.reply(req, "grpc_stream_msg",
                           {"seq": count, "data": {"level": level, "msg": msg}})
        self.reply(req, "grpc_stream_end", end_fields(None, "OK", count, None))

    def open_follow(self, req, args):
        stream = self.new_stream(FOLLOW, req, log_filter=args["filter"],
                                 limit=args["limit"])
        self.reply(req, "grpc_server_stream_open_ok", {"stream_id": stream.id})
        # The backlog; reaching the limit here ends the watch at once.
        for level, msg in list(self.log):
            if stream.state == CLOSED:
                break
            self.feed_follower(stream, level, msg)

    def feed_follower(self, stream, level, msg):
        if not stream.matches(level):
            return
        stream.count += 1
        self.push(stream, "grpc_stream_msg",
                  {"seq": stream.count, "data": {"level": level, "msg": msg}})
        if stream.limit_reached():
            self.end_follow(stream)

    def end_follow(self, stream):
        stream.state = CLOSED
        self.push(stream, "grpc_stream_end", end_fields(None, "OK", stream.count, None))

    # ------------------------------------------------------ unary Append --

    def on_call(self, req):
        try:
            entry = self.check_call(req, UNARY, "request", LOG_ENTRY)
        except CallFailure as failure:
            return self.reply(req, "grpc_call_ok",
                              {"status": failure.status, "message": failure.message})
        self.log.append((entry["level"], entry["msg"]))
        self.reply(req, "grpc_call_ok",
                   {"status": "OK", "response": {"seq": len(self.log)}})
        # Decision: the Append's own reply comes first, then the pushes to
        # the live follow watches in stream-id order (each watch's message,
        # then its end if that message reached its limit).
        for stream in self.followers():
            self.feed_follower(stream, entry["level"], entry["msg"])

    def followers(self):
        live = [s for s in self.streams.values()
                if s.kind == FOLLOW and s.state != CLOSED]
        return sorted(live, key=lambda s: int(s.id[1:]))

    # ---------------------------------------------------------- BiDiChat --

    def on_bidi_open(self, req):
        try:
            self.check_call(req, BIDI_STREAMING)
        except CallFailure as failure:
            return self.reply(req, "grpc_stream_end",
                              end_fields(None, failure.status, 0, failure.message))
        stream = self.new_stream(BIDI_STREAMING, req)
        self.reply(req, "grpc_bidi_stream_open_ok", {"stream_id": stream.id})

    def on_bidi_send(self, req):
        stream = self.find_stream(req, refuse=(HALF_CLOSED, CLOSED))
        if stream is None:
            return
        try:
            args = self.check_call(req, None, "data", CHAT_MESSAGE, needs_slot=False)
        except CallFailure as failure:
            return self.end_by_request(req, stream, failure.status, failure.message)
        stream.count += 1
        self.reply(req, "grpc_bidi_stream_recv",
                   {"data": {"text": "echo: " + args["text"]}})

    def on_bidi_close(self, req):
        stream = self.find_stream(req, refuse=(HALF_CLOSED, CLOSED))
        if stream is None or self.refuse_too_deep(req):
            return
        # The server has nothing more to say: half-close ends the stream.
        self.end_by_request(req, stream, "OK", None)

    def on_cancel(self, req):
        stream = self.find_stream(req, refuse=(CLOSED,))
        if stream is None or self.refuse_too_deep(req):
            return
        self.end_by_request(req, stream, "CANCELLED", TEXT_CANCELLED)

    def on_state(self, req):
        stream = self.find_stream(req, refuse=())
        if stream is None or self.refuse_too_deep(req):
            return
        self.reply(req, "grpc_stream_state_ok",
                   {"stream_id": stream.id, "state": stream.state})

    def end_by_request(self, req, stream, status, message):
        stream.state = CLOSED
        self.reply(req, "grpc_stream_end",
                   end_fields(stream.id, status, stream.count, message))

    # ------------------------------------------------- stream addressing --

    def find_stream(self, req, refuse):
        """The stream req names, or None after answering the error.
        refuse: states that are a precondition failure for this request."""
        stream_id = req.body.get("stream_id")
        if not isinstance(stream_id, str):
            self.error(req, MALFORMED, TEXT_BAD_STREAM_ID)
            return None
        stream = self.streams.get(stream_id)
        if stream is None or (stream.state != CLOSED and stream.owner != req.src):
            self.error(req, KEY_DOES_NOT_EXIST, TEXT_UNKNOWN_STREAM)
            return None
        if stream.state in refuse:
            text = TEXT_HALF_CLOSED if stream.state == HALF_CLOSED else TEXT_CLOSED
            self.error(req, PRECONDITION_FAILED, text)
            return None
        return stream

    def expire_deadlines(self):
        """At end of input the node waits for every pending deadline. The
        model has no clock: all lines count as arriving at once, so calls
        end in order of timeout_ms, then of opening."""
        live = [s for s in self.streams.values()
                if s.state != CLOSED and s.deadline is not None]
        for stream in sorted(live, key=lambda s: (s.deadline, int(s.id[1:]))):
            stream.state = CLOSED
            self.push(stream, "grpc_stream_end",
                      end_fields(None, "DEADLINE_EXCEEDED", stream.count, TEXT_DEADLINE))

    def refuse_too_deep(self, req):
        if req.too_deep:
            self.error(req, MALFORMED, TEXT_TOO_DEEP)
            return True
        return False


# ================================================================ main ====

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                        help="stream slots (default %d)" % DEFAULT_MAX_STREAMS)
    args = parser.parse_args(argv)

    stdout = sys.stdout.buffer

    def diag(text):
        sys.stderr.write("model: %s\n" % text)

    node = Node(args.max_streams, stdout.write, diag)
    for raw in sys.stdin.buffer.read().split(b"\n"):
        node.handle_line(raw)
    node.expire_deadlines()
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
