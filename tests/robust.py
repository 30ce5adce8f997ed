#!/usr/bin/env python3
"""Robustness of the grpcstream binary in JSON-lines mode.

    python3 tests/robust.py [BINARY]        (default ./grpcstream)

For each kind of bad input the node is run on: an init line, a bidi
stream s1 opened by client c1, the bad input, then a valid
grpc_bidi_stream_send and grpc_stream_state on s1. Each kind passes when
- the node exits with status 0 (no crash, no sanitizer report);
- every stdout line is JSON that json.dumps writes back byte for byte;
- the msg_ids of the replies count 0, 1, 2, ... without a gap;
- the two trailing requests are answered (an echo, and OPEN);
- stdout equals what the independent model (tests/model.py) writes.
One line per kind: PASS: name, or FAIL: name (the first problem).
Standard library only; every random input has a fixed seed.
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "model.py")
TIMEOUT = 600

PRELUDE = (
    b'{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}\n'
    b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,'
    b'"service":"Chat","method":"BiDiChat"}}\n'
)
TAIL_SEND, TAIL_STATE = 900001, 900002
TAIL = (
    b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":900001,'
    b'"stream_id":"s1","data":{"text":"still here"}}}\n'
    b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":900002,"stream_id":"s1"}}\n'
)


def line(body, src="c1", dest="n1"):
    """One request line (compact, as a client would send it)."""
    return json.dumps({"src": src, "dest": dest, "body": body},
                      separators=(",", ":")).encode() + b"\n"


def send(mid, text, sid="s1"):
    return line({"type": "grpc_bidi_stream_send", "msg_id": mid, "stream_id": sid,
                 "data": {"text": text}})


def state(mid, sid="s1", src="c1"):
    return line({"type": "grpc_stream_state", "msg_id": mid, "stream_id": sid}, src=src)


# Valid request lines that bad input is made from. None of them has more
# than a few stream messages, an Append (which could make a watch longer
# than one turn of 64 messages) or timeout_ms (which the model ignores).
TEMPLATES = [
    PRELUDE.split(b"\n")[0] + b"\n",
    line({"type": "grpc_server_stream", "msg_id": 5, "service": "LogWatcher",
          "method": "WatchLogs", "request": {"filter": "ERROR", "limit": 2}}),
    line({"type": "grpc_bidi_stream_open", "msg_id": 6, "service": "Chat", "method": "BiDiChat"},
         src="c2"),
    send(7, "h\u00e9llo \U0001d11e \\ \" /"),
    line({"type": "grpc_bidi_stream_close", "msg_id": 8, "stream_id": "s2"}, src="c2"),
    line({"type": "grpc_stream_cancel", "msg_id": 9, "stream_id": "s3"}, src="c2"),
    state(10),
    line({"type": "grpc_call", "msg_id": 11, "service": "Chat", "method": "Nope",
          "request": {"text": "x"}}),
    line({"type": "grpc_server_stream", "msg_id": 12, "service": "LogWatcher",
          "method": "WatchLogs", "request": {"filter": "WARN", "follow": True, "limit": 1}}),
]


# ----------------------------------------------------------------- kinds ---

def random_bytes():
    rng = random.Random(1)
    return bytes(rng.randrange(256) for _ in range(8192))


def random_bytes_no_newline():
    rng = random.Random(2)
    return bytes(b for b in (rng.randrange(256) for _ in range(8192)) if b != 10)


def random_json_alphabet():
    rng = random.Random(3)
    alphabet = b'{}[]":,0123456789-+.eE truefalsnl\\/u\t\r\n\x00\x7f\xc3\xa9' + b'"src"'
    return bytes(rng.choice(alphabet) for _ in range(8192))


def random_tails_after_src():
    rng = random.Random(4)
    alphabet = b'{}[]":,0123456789-.e truefalsnl\\u\t\x00\xc3\xa9\xff'
    out = []
    for _ in range(400):
        tail = bytes(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        out.append(b'{"src":"c1","dest":"n1",' + tail.replace(b"\n", b"") + b"\n")
    return b"".join(out)


def mutated_requests():
    rng = random.Random(5)
    out = []
    for _ in range(600):
        b = bytearray(rng.choice(TEMPLATES)[:-1])
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            at = rng.randrange(len(b))
            if op == 0:
                b[at] = rng.randrange(256)
            elif op == 1:
                b.insert(at, rng.choice(b'{}[]":,0\\ \x00\x80'))
            else:
                del b[at]
        out.append(bytes(b).replace(b"\n", b"") + b"\n")
    return b"".join(out)


def truncated_lines():
    out = []
    for t in TEMPLATES[1:]:
        body = t[:-1]
        for n in range(1, len(body)):
            out.append(body[:n] + b"\n")
    return b"".join(out)


def nul_bytes():
    return b"".join([
        b"\x00\n",
        b"\x00" + send(20, "a"),
        line({"type": "grpc_stream_state", "msg_id": 21, "stream_id": "s1"})[:-1] + b"\x00\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state",\x00"msg_id":22,"stream_id":"s1"}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":23,"stream_id":"s1","data":{"text":"a\x00b"}}}\n',
        b'{"src":"c\x001","dest":"n1","body":{"type":"grpc_stream_state","msg_id":24,"stream_id":"s1"}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream\x00_state","msg_id":25,"stream_id":"s1"}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":26,"stream_id":"s\x001"}}\n',
        send(27, "escaped \u0000 is fine"),
        b'{"src":"c1","dest":"n1","bo\x00dy":{}}\n',
        b"\x00\x00\x00" * 100 + b"\n",
    ])


BAD_UTF8 = [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80",
            b"\xed\xbf\xbf", b"\xed\xa0\xb4\xed\xb4\x9e", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\x80", b"\xbf",
            b"\xc3", b"\xe2\x82", b"\xf0\x9d\x84", b"\xc3\x41", b"\xe2\x28\xa1"]


def invalid_utf8():
    out = []
    for i, bad in enumerate(BAD_UTF8):
        mid = 100 + i * 10
        out.append(b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":%d,'
                   b'"stream_id":"s1","data":{"text":"x%sy"}}}\n' % (mid, bad))
        out.append(b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":%d,'
                   b'"stream_id":"s1","k%s":1}}\n' % (mid + 1, bad))
        out.append(b'{"src":"c%s","dest":"n1","body":{"type":"grpc_stream_state","msg_id":%d,'
                   b'"stream_id":"s1"}}\n' % (bad, mid + 2))
        out.append(b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":%d,'
                   b'"stream_id":"s1"}}%s\n' % (mid + 3, bad))
        out.append(b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":%d,'
                   b'"stream_id":"s1"} %s}\n' % (mid + 4, bad))
    # every valid form still works around them
    out.append(send(99, "\u0080\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff"))
    return b"".join(out)


def ten_mb_lines():
    junk = ("0123456789abcdef\\\"\\u00e9\u00e9[{" * (10 * 1024 * 1024 // 28 + 1))
    return b"".join([
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":30,'
        b'"stream_id":"s1","data":{"junk":"' + junk.encode() + b'","text":"after junk"}}}\n',
        b'{"junk":"' + junk.encode() + b'","src":"c1","dest":"n1","body":'
        b'{"type":"grpc_stream_state","msg_id":31,"stream_id":"s1"}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":32,'
        b'"stream_id":"s1","junk":"' + junk.encode() + b'"}}\n',
    ])


def long_keys_many_members():
    members = b",".join(b'"k%d":%d' % (i, i) for i in range(100000))
    key = b"k" * (1024 * 1024)
    return b"".join([
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":40,"stream_id":"s1",'
        + members + b"}}\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":41,"stream_id":"s1","'
        + key + b'":1}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":42,"stream_id":"s1",'
        b'"data":{"' + key + b'":1,"text":"k"}}}\n',
    ])


def deep(n, inner=b"0"):
    opens = b"".join(b"[" if i % 2 == 0 else b'{"k":' for i in range(n))
    closes = b"".join(b"]" if i % 2 == 0 else b"}" for i in reversed(range(n)))
    return opens + inner + closes


def deep_call_line():
    d = deep(200000)
    return b"".join([
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":50,'
        b'"service":"LogWatcher","method":"WatchLogs","request":{"filter":"ERROR","x":' + d + b"}}}\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_call","msg_id":51,'
        b'"service":"LogWatcher","method":"Append","request":{"level":"X","msg":' + d + b"}}}\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":52,'
        b'"service":"Chat","method":"BiDiChat","x":' + d + b"}}\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":53,'
        b'"service":"Nope","method":"WatchLogs","x":' + d + b"}}\n",
    ])


def deep_non_call_line():
    d = deep(200000)
    return b"".join([
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":60,"stream_id":"s1","x":'
        + d + b"}}\n",
        b'{"src":"c0","dest":"n1","body":{"type":"init","msg_id":61,"node_id":"n1","x":' + d + b"}}\n",
        b'{"src":"c1","dest":"n1","x":' + d + b',"body":{"type":"grpc_stream_state","msg_id":62,'
        b'"stream_id":"s1"}}\n',
        b'{"src":"c1","dest":"n1","body":{"type":"nope","msg_id":63,"x":' + d + b"}}\n",
        d + b"\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":64,"stream_id":"s1","x":'
        + deep(100) + b"}}\n",
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":65,"stream_id":"s1","x":'
        + deep(62) + b"}}\n",
    ])


def msg_id_variants():
    forms = [b"1.0", b"1e2", b"1E0", b"0.0", b"-0.0", b"-1.5", b'"1"', b"true", b"false", b"null",
             b"[1]", b"{}", b"18446744073709551616", b"-9223372036854775809",
             b"99999999999999999999999999", b"1" * 100000, b"-" + b"9" * 100000,
             b"1" * 50000 + b".5", b"-0", b"0", b"18446744073709551615", b"-9223372036854775808",
             b"9223372036854775808", b"00", b"+1", b"0x1", b"NaN", b"1 2"]
    return b"".join(
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":' + f
        + b',"stream_id":"s1"}}\n' for f in forms)


def text_limits():
    # A second stream s2 takes the failures, so s1 stays open.
    open_s2 = line({"type": "grpc_bidi_stream_open", "msg_id": 70, "service": "Chat",
                    "method": "BiDiChat"})
    return b"".join([
        open_s2,
        send(71, "a" * 65536, "s2"),
        send(72, "\u00e9" * 32768, "s2"),
        send(73, "\U0001d11e" * 16384, "s2"),
        send(74, "\x01" * 65536, "s2"),                     # 6 bytes each on the wire
        line({"type": "grpc_server_stream", "msg_id": 75, "service": "LogWatcher",
              "method": "WatchLogs", "request": {"filter": "f" * 65536}}),
        line({"type": "grpc_server_stream", "msg_id": 76, "service": "LogWatcher",
              "method": "WatchLogs", "request": {"filter": "f" * 65537}}),
        send(77, "a" * 65537, "s2"),                         # ends s2
        state(78, "s2"),
        open_s2.replace(b'"msg_id":70', b'"msg_id":79'),      # s3
        send(80, "\u00e9" * 32768 + "a", "s3"),             # 65537 bytes: ends s3
        line({"type": "grpc_bidi_stream_open", "msg_id": 81, "service": "Chat",
              "method": "BiDiChat"}),                        # s4
        send(82, "\U0001d11e" * 16384 + "a", "s4"),          # 65537 bytes: ends s4
    ])


def src_limits():
    return b"".join([
        state(90, src="a" * 255),
        state(91, src="a" * 256),
        state(92, src="\u00e9" * 127 + "a"),
        state(93, src="\u00e9" * 128),
        state(94, src="\\" * 255),
        line({"type": "grpc_stream_state", "msg_id": 95, "stream_id": "s1"}, src="a" * 255,
             dest="d" * 256),
    ])


KINDS = [
    ("random bytes", random_bytes, True),
    ("random bytes without newlines", random_bytes_no_newline, True),
    ("random JSON-ish bytes", random_json_alphabet, True),
    ("random tails after a complete src", random_tails_after_src, True),
    ("mutated valid requests", mutated_requests, False),
    ("truncated lines (every prefix)", truncated_lines, True),
    ("NUL bytes inside and outside strings", nul_bytes, True),
    ("invalid UTF-8 in values, keys, src, outside strings", invalid_utf8, True),
    ("10 MB lines (unknown fields) then valid ones", ten_mb_lines, True),
    ("100,000 members and 1 MB member names", long_keys_many_members, True),
    ("200,000-deep nesting in call lines", deep_call_line, True),
    ("200,000-deep nesting in non-call lines", deep_non_call_line, True),
    ("msg_id: non-integer, oversized, edge values", msg_id_variants, True),
    ("text/filter of 65536 bytes served, 65537 RESOURCE_EXHAUSTED", text_limits, True),
    ("src of 255 bytes served, 256 dropped", src_limits, True),
]


# ---------------------------------------------------------------- checks ---

def check_output(out, strict):
    """The problems with the node's stdout, or [] if none."""
    if out and not out.endswith(b"\n"):
        return ["stdout does not end with a newline"]
    lines = out.split(b"\n")[:-1] if out else []
    replies = []
    for i, raw in enumerate(lines, 1):
        try:
            text = raw.decode("ascii")
            obj = json.loads(text)
        except (UnicodeDecodeError, ValueError) as err:
            return ["stdout line %d is not ASCII JSON (%s): %.200r" % (i, err, raw)]
        if json.dumps(obj) != text:
            return ["stdout line %d is not as json.dumps writes it: %.200r" % (i, raw)]
        if not isinstance(obj, dict) or not isinstance(obj.get("body"), dict):
            return ["stdout line %d has no body: %.200r" % (i, raw)]
        if obj["body"].get("msg_id") != i - 1:
            return ["stdout line %d has msg_id %r, want %d" % (i, obj["body"].get("msg_id"), i - 1)]
        replies.append(obj)
    if len(replies) < 4:
        return ["only %d replies" % len(replies)]
    send_reply, state_reply = replies[-2]["body"], replies[-1]["body"]
    if send_reply.get("in_reply_to") != TAIL_SEND or state_reply.get("in_reply_to") != TAIL_STATE:
        return ["the trailing requests are not answered last: %r, %r" % (send_reply, state_reply)]
    if strict:
        if send_reply.get("type") != "grpc_bidi_stream_recv" or \
                send_reply.get("data") != {"text": "echo: still here"}:
            return ["the trailing send got %r" % send_reply]
        if state_reply.get("type") != "grpc_stream_state_ok" or state_reply.get("state") != "OPEN":
            return ["the trailing state got %r" % state_reply]
    return []


def first_difference(got, want):
    g, w = got.split(b"\n"), want.split(b"\n")
    for i, (a, b) in enumerate(zip(g, w), 1):
        if a != b:
            return "line %d: node %.300r, model %.300r" % (i, a, b)
    return "node wrote %d lines, model %d" % (len(g) - 1, len(w) - 1)


def run_kind(binary, name, make, strict):
    data = PRELUDE + make() + b"\n" + TAIL
    try:
        node = subprocess.run([binary], input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "the node did not finish within %d s" % TIMEOUT
    if node.returncode != 0:
        return "exit status %d; stderr: %.500s" % (node.returncode, node.stderr.decode("utf-8", "replace")[-500:])
    problems = check_output(node.stdout, strict)
    if problems:
        return problems[0]
    try:
        model = subprocess.run([sys.executable, MODEL], input=data, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "the model did not finish within %d s" % TIMEOUT
    if model.returncode != 0:
        return "the model failed: %.500s" % model.stderr.decode("utf-8", "replace")[-500:]
    if model.stdout != node.stdout:
        return "differs from the model: " + first_difference(node.stdout, model.stdout)
    return None


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "./grpcstream"
    if os.sep not in binary:
        binary = os.path.join(".", binary)
    failed = False
    for name, make, strict in KINDS:
        problem = run_kind(binary, name, make, strict)
        if problem:
            failed = True
            print("FAIL: robust: %s (%s)" % (name, problem), flush=True)
        else:
            print("PASS: robust: %s" % name, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
