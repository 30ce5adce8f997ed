#!/usr/bin/env python3
"""Generate the large JSON-lines end-to-end cases (kept out of the repo).

    python3 tests/cases/gen_big.py OUTDIR

writes OUTDIR/NAME.in and OUTDIR/NAME.out for every case below, with the same
rules as the small cases in tests/cases/: NAME.in is fed on stdin, NAME.out is
the exact expected stdout.  Each expected reply is written out by hand as a
dict (keys in PROTOCOL.md order) and printed with json.dumps(dict) defaults;
nothing here models the node.  See tests/cases/INDEX.md for what each checks.
"""
import json
import os
import sys

MB10 = 10 * 1024 * 1024
NEST = "nesting deeper than 64"
ASB = "all stream slots are busy"
INIT = '{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}'
INIT_OK = {"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
OPEN_S1 = '{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}'
OPEN_OK_S1 = {"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 1}}


def unit_pad(n):
    """A JSON string body (without quotes) of at least n bytes, made of whole
    repeats of a unit mixing ASCII, escapes (short, \\u, surrogate pair,
    lone surrogate), raw 2/3/4-byte UTF-8 and brackets/quotes."""
    unit = 'abc[{}]\\"\\\\\\/\\n\\t\\u00e9\\ud834\\udd1e\\udc00 é€𝄞 , : xyz'
    ub = len(unit.encode())
    return unit * (n // ub + 1)


def deep_value(n):
    """n nested containers, alternating array/object, innermost holds 0."""
    opens, closes = [], []
    for i in range(n):
        if i % 2 == 0:
            opens.append("[")
            closes.append("]")
        else:
            opens.append('{"k":')
            closes.append("}")
    return "".join(opens) + "0" + "".join(reversed(closes))


def send(mid, sid, data):
    return '{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":%d,"stream_id":"%s","data":%s}}' % (mid, sid, data)


def state(mid, sid):
    return '{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":%d,"stream_id":"%s"}}' % (mid, sid)


def open_(mid):
    return '{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":%d,"service":"Chat","method":"BiDiChat"}}' % mid


def watch(mid, req):
    return '{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":%d,"service":"LogWatcher","method":"WatchLogs","request":%s}}' % (mid, req)


def append(mid, req):
    return '{"src":"c1","dest":"n1","body":{"type":"grpc_call","msg_id":%d,"service":"LogWatcher","method":"Append","request":%s}}' % (mid, req)


def R(body):
    return {"src": "n1", "dest": "c1", "body": body}


CASES = []


def case(name, lines, replies):
    for i, r in enumerate(replies):  # sanity check of my own numbering only
        assert r["body"]["msg_id"] == i, (name, i)
    data = "".join(l + "\n" for l in lines).encode("utf-8")
    out = "".join(json.dumps(r) + "\n" for r in replies)
    CASES.append((name, data, out))


# ---- 1. 10 MB unknown string fields are skipped, not stored ----
PAD = unit_pad(MB10)
case("big_unknown_10mb", [
    INIT, OPEN_S1,
    '{"src":"c1","dest":"n1","pad":"%s","body":{"type":"grpc_stream_state","msg_id":3,"stream_id":"s1"}}' % PAD,
    state(4, "s1"),
    send(5, "s1", '{"pad":"%s","text":"after"}' % PAD),
    watch(6, '{"note":"%s","filter":"WARN"}' % PAD),
    '{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":7,"stream_id":"s1","pad":"%s' % PAD,
    send(8, "s1", '{"text":"normal"}'),
    '{"src":"c1","dest":"n1","body":{"type":"bogus","msg_id":9,"pad":"%s"}}' % PAD,
    state(10, "s1"),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "grpc_stream_state_ok", "in_reply_to": 3, "stream_id": "s1", "state": "OPEN", "msg_id": 2}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 4, "stream_id": "s1", "state": "OPEN", "msg_id": 3}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 5, "data": {"text": "echo: after"}, "msg_id": 4}),
    R({"type": "grpc_stream_msg", "in_reply_to": 6, "seq": 1, "data": {"level": "WARN", "msg": "high memory usage"}, "msg_id": 5}),
    R({"type": "grpc_stream_end", "in_reply_to": 6, "status": "OK", "count": 1, "msg_id": 6}),
    R({"type": "error", "code": 12, "text": "invalid JSON", "msg_id": 7}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 8, "data": {"text": "echo: normal"}, "msg_id": 8}),
    R({"type": "error", "in_reply_to": 9, "code": 10, "text": "unknown message type", "msg_id": 9}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 10, "stream_id": "s1", "state": "OPEN", "msg_id": 10}),
])

# ---- 2. 200,000-deep value inside call lines ----
DEEP = deep_value(200000)
case("big_deep_call", [
    INIT,
    watch(2, '{"filter":"DEBUG","x":%s}' % DEEP),
    watch(3, '{"filter":"DEBUG"}'),
    OPEN_S1.replace('"msg_id":2', '"msg_id":4'),
    send(5, "s1", '{"text":"a"}'),
    send(6, "s1", '{"text":"b","x":%s}' % DEEP),
    state(7, "s1"),
    append(8, '{"level":"INFO","msg":"m","x":%s}' % DEEP),
    append(9, '{"level":"INFO","msg":"m"}'),
    '{"src":"c1","dest":"n1","x":%s,"body":{"type":"grpc_bidi_stream_open","msg_id":10,"service":"Chat","method":"BiDiChat"}}' % DEEP,
    open_(11),
], [
    INIT_OK,
    R({"type": "grpc_stream_end", "in_reply_to": 2, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": NEST, "msg_id": 1}),
    R({"type": "grpc_stream_msg", "in_reply_to": 3, "seq": 1, "data": {"level": "DEBUG", "msg": "cache miss"}, "msg_id": 2}),
    R({"type": "grpc_stream_end", "in_reply_to": 3, "status": "OK", "count": 1, "msg_id": 3}),
    R({"type": "grpc_bidi_stream_open_ok", "in_reply_to": 4, "stream_id": "s1", "msg_id": 4}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 5, "data": {"text": "echo: a"}, "msg_id": 5}),
    R({"type": "grpc_stream_end", "in_reply_to": 6, "stream_id": "s1", "status": "RESOURCE_EXHAUSTED", "count": 1, "message": NEST, "msg_id": 6}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 7, "stream_id": "s1", "state": "CLOSED", "msg_id": 7}),
    R({"type": "grpc_call_ok", "in_reply_to": 8, "status": "RESOURCE_EXHAUSTED", "message": NEST, "msg_id": 8}),
    R({"type": "grpc_call_ok", "in_reply_to": 9, "status": "OK", "response": {"seq": 9}, "msg_id": 9}),
    R({"type": "grpc_stream_end", "in_reply_to": 10, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": NEST, "msg_id": 10}),
    R({"type": "grpc_bidi_stream_open_ok", "in_reply_to": 11, "stream_id": "s2", "msg_id": 11}),
])

# ---- 3. 200,000-deep value inside non-call lines ----
case("big_deep_noncall", [
    INIT, OPEN_S1,
    '{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":3,"stream_id":"s1","x":%s}}' % DEEP,
    state(4, "s1"),
    '{"src":"c1","dest":"n1","body":{"type":"grpc_stream_cancel","msg_id":5,"stream_id":"s1","x":%s}}' % DEEP,
    '{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_close","msg_id":6,"stream_id":"s1","x":%s}}' % DEEP,
    '{"src":"c1","dest":"n1","body":{"type":"bogus","msg_id":7,"x":%s}}' % DEEP,
    '{"x":%s,"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":8,"stream_id":"s1"}}' % DEEP,
    "[" * 200000 + "]" * 200000,
    '{"x":%s,"dest":"n1","body":{"type":"grpc_stream_state","msg_id":9,"stream_id":"s1"}}' % DEEP,
    send(10, "s1", '{"text":"still open"}'),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "error", "in_reply_to": 3, "code": 12, "text": NEST, "msg_id": 2}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 4, "stream_id": "s1", "state": "OPEN", "msg_id": 3}),
    R({"type": "error", "in_reply_to": 5, "code": 12, "text": NEST, "msg_id": 4}),
    R({"type": "error", "in_reply_to": 6, "code": 12, "text": NEST, "msg_id": 5}),
    R({"type": "error", "in_reply_to": 7, "code": 10, "text": "unknown message type", "msg_id": 6}),
    R({"type": "error", "in_reply_to": 8, "code": 12, "text": NEST, "msg_id": 7}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 10, "data": {"text": "echo: still open"}, "msg_id": 8}),
])

# ---- 4. text of exactly 65536 bytes is served, 65537 is RESOURCE_EXHAUSTED ----
T65536 = ("0123456789abcdef" * 4096)
assert len(T65536.encode()) == 65536
case("big_text_65536", [
    INIT, OPEN_S1,
    send(3, "s1", '{"text":"%s"}' % T65536),
    state(4, "s1"),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: " + T65536}, "msg_id": 2}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 4, "stream_id": "s1", "state": "OPEN", "msg_id": 3}),
])

case("big_text_65537", [
    INIT, OPEN_S1,
    send(3, "s1", '{"text":"%s"}' % "x"),
    send(4, "s1", '{"text":"%sX"}' % T65536),
    state(5, "s1"),
    send(6, "s1", '{"text":"y"}'),
    open_(7),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: x"}, "msg_id": 2}),
    R({"type": "grpc_stream_end", "in_reply_to": 4, "stream_id": "s1", "status": "RESOURCE_EXHAUSTED", "count": 1,
       "message": "text larger than 65536 bytes", "msg_id": 3}),
    R({"type": "grpc_stream_state_ok", "in_reply_to": 5, "stream_id": "s1", "state": "CLOSED", "msg_id": 4}),
    R({"type": "error", "in_reply_to": 6, "code": 22, "text": "stream is closed", "msg_id": 5}),
    R({"type": "grpc_bidi_stream_open_ok", "in_reply_to": 7, "stream_id": "s2", "msg_id": 6}),
])

# ---- 5. the limit is in UTF-8 bytes after unescaping ----
EURO = "€" * 21845          # 65535 bytes
EMOJI = "😀" * 16384         # 65536 bytes
case("big_text_utf8_bytes", [
    INIT, OPEN_S1,
    send(3, "s1", '{"text":"%sa"}' % EURO),
    send(4, "s1", '{"text":"%sa"}' % ("\\u20ac" * 21845)),
    send(5, "s1", '{"text":"%s"}' % ("\\ud83d\\ude00" * 16384)),
    send(6, "s1", '{"text":"%s"}' % EMOJI),
    send(7, "s1", '{"text":"%sab"}' % EURO),
    open_(8),
    send(9, "s2", '{"text":"%sa"}' % ("\\ud83d\\ude00" * 16384)),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: " + EURO + "a"}, "msg_id": 2}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 4, "data": {"text": "echo: " + EURO + "a"}, "msg_id": 3}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 5, "data": {"text": "echo: " + EMOJI}, "msg_id": 4}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 6, "data": {"text": "echo: " + EMOJI}, "msg_id": 5}),
    R({"type": "grpc_stream_end", "in_reply_to": 7, "stream_id": "s1", "status": "RESOURCE_EXHAUSTED", "count": 4,
       "message": "text larger than 65536 bytes", "msg_id": 6}),
    R({"type": "grpc_bidi_stream_open_ok", "in_reply_to": 8, "stream_id": "s2", "msg_id": 7}),
    R({"type": "grpc_stream_end", "in_reply_to": 9, "stream_id": "s2", "status": "RESOURCE_EXHAUSTED", "count": 0,
       "message": "text larger than 65536 bytes", "msg_id": 8}),
])

# ---- 6. worst-case output expansion: 65536 control characters (6 output bytes each) ----
CTL = "\x01" * 65536
NL = "\n" * 65536
case("big_text_worst_escape", [
    INIT, OPEN_S1,
    send(3, "s1", '{"text":"%s"}' % ("\\u0001" * 65536)),
    send(4, "s1", '{"text":"%s"}' % ("\\n" * 65536)),
], [
    INIT_OK, OPEN_OK_S1,
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: " + CTL}, "msg_id": 2}),
    R({"type": "grpc_bidi_stream_recv", "in_reply_to": 4, "data": {"text": "echo: " + NL}, "msg_id": 3}),
])

# ---- 7. filter of 65536 / 65537 bytes; field order decides ----
F65536 = "A" * 65536
F65537 = "A" * 65537
case("big_filter", [
    INIT,
    watch(2, '{"filter":"%s"}' % F65536),
    watch(3, '{"filter":"%s"}' % F65537),
    watch(4, '{"filter":"%s","limit":-1}' % F65537),
    watch(5, '{"limit":-1,"filter":"%s"}' % F65537),
    watch(6, '{"filter":"%s","limit":-1}' % F65536),
    watch(7, '{"filter":"%s","follow":true}' % F65537),
    watch(8, '{"filter":"%s","follow":true}' % F65536),
], [
    INIT_OK,
    R({"type": "grpc_stream_end", "in_reply_to": 2, "status": "OK", "count": 0, "msg_id": 1}),
    R({"type": "grpc_stream_end", "in_reply_to": 3, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "filter larger than 65536 bytes", "msg_id": 2}),
    R({"type": "grpc_stream_end", "in_reply_to": 4, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "filter larger than 65536 bytes", "msg_id": 3}),
    R({"type": "grpc_stream_end", "in_reply_to": 5, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "filter larger than 65536 bytes", "msg_id": 4}),
    R({"type": "grpc_stream_end", "in_reply_to": 6, "status": "INVALID_ARGUMENT", "count": 0, "message": "limit must be a non-negative 64-bit integer", "msg_id": 5}),
    R({"type": "grpc_stream_end", "in_reply_to": 7, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "filter larger than 65536 bytes", "msg_id": 6}),
    R({"type": "grpc_server_stream_open_ok", "in_reply_to": 8, "stream_id": "s1", "msg_id": 7}),
])

# ---- 8. Append fields over 65536 bytes (checked before the log is touched) ----
case("big_append_fields", [
    INIT,
    append(2, '{"level":"%s","msg":"m"}' % F65537),
    append(3, '{"level":"INFO","msg":"%s"}' % F65537),
    append(4, '{"level":5,"msg":"%s"}' % F65537),
    append(5, '{"msg":5,"level":"%s"}' % F65537),
    append(6, '{"level":"INFO","msg":"ok"}'),
], [
    INIT_OK,
    R({"type": "grpc_call_ok", "in_reply_to": 2, "status": "RESOURCE_EXHAUSTED", "message": "level larger than 65536 bytes", "msg_id": 1}),
    R({"type": "grpc_call_ok", "in_reply_to": 3, "status": "RESOURCE_EXHAUSTED", "message": "msg larger than 65536 bytes", "msg_id": 2}),
    R({"type": "grpc_call_ok", "in_reply_to": 4, "status": "INVALID_ARGUMENT", "message": "level must be a string", "msg_id": 3}),
    R({"type": "grpc_call_ok", "in_reply_to": 5, "status": "RESOURCE_EXHAUSTED", "message": "level larger than 65536 bytes", "msg_id": 4}),
    R({"type": "grpc_call_ok", "in_reply_to": 6, "status": "OK", "response": {"seq": 9}, "msg_id": 5}),
])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_big.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name, data, out in CASES:
        with open(os.path.join(outdir, name + ".in"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".out"), "w", encoding="ascii", newline="") as f:
            f.write(out)
    print("wrote %d cases to %s" % (len(CASES), outdir))


if __name__ == "__main__":
    main()
