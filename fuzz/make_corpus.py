#!/usr/bin/env python3
"""Builds the seed corpora in fuzz/corpus/ from tests/cases/*.in plus a few
hand-written JSON fragments. Run from anywhere: python3 fuzz/make_corpus.py
(it replaces fuzz/corpus/ entirely; the result is deterministic).

Seed layouts (see each target's header comment):
  fuzz_scanner  byte 0 chunk seed, byte 1 want policy, then JSON lines
  fuzz_writer   the raw byte string to write
  fuzz_node     byte 0 chunk/clock seed (0: fed whole), then JSON lines
  fuzz_proto, fuzz_hpack, fuzz_hpack_diff, fuzz_h2: see make_corpus_wire.py
"""
import glob
import hashlib
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "cases")
OUT = os.path.join(ROOT, "fuzz", "corpus")
PIECE = 3000           # bytes per seed piece (lines are never cut)
KEEP_WHOLE = 16384     # slot tests need ~100 calls in one input: kept whole


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pieces(data, limit):
    """Splits at line ends into pieces of about `limit` bytes; every piece
    after the first starts with the file's first init line, so the node is
    initialised."""
    lines = data.splitlines(keepends=True)
    init = next((l for l in lines if b'"init"' in l), b"")
    out, cur = [], b""
    for l in lines:
        if cur and len(cur) + len(l) > limit:
            out.append(cur)
            cur = init if l != init else b""
        cur += l
    if cur:
        out.append(cur)
    return out


FRAGMENTS = [
    b'{}\n', b'[]\n', b'""\n', b'0\n', b'-0\n', b'-0.0e+00\n', b'1E400\n',
    b'18446744073709551615\n', b'18446744073709551616\n', b'-9223372036854775808\n',
    b'true\nfalse\nnull\n', b'NaN\n', b'Infinity\n', b'-Infinity\n', b'tru\n',
    b'{"a":1,}\n', b'[1,]\n', b'{"a" 1}\n', b'{"a":1}}\n', b'{"a":1} x\n',
    b' \t\r\n\n', b'{"a":"\\u00e9\\ud834\\udd1e\\ud800\\udc00"}\n',
    b'{"a":"\\ud800"}\n', b'{"a":"\\udc00\\ud800"}\n', b'{"a":"\\ud800\\n"}\n',
    b'{"a":"\\ud800\\ud800\\udc00"}\n', b'{"a":"\\ud800\\u0041"}\n',
    b'{"a":"\\"\\\\\\/\\b\\f\\n\\r\\t"}\n', b'{"a":"\\x"}\n', b'{"a":"\\u12"}\n',
    '{"é":"é","𝄞":"𝄞","\u20ac":"\u20ac"}\n'.encode(),
    b'{"a":"\xc0\x80"}\n', b'{"a":"\xed\xa0\x80"}\n', b'{"a":"\xf4\x90\x80\x80"}\n',
    b'{"a":"\xe0\x9f\xbf"}\n', b'{"a":"\xf0\x8f\xbf\xbf"}\n', b'{"a":"\xc3"}\n',
    b'{"a":"\x01"}\n', b'{"a":"\x7f"}\n', b'{"a":"\x00"}\n',
    b'{"a":{"b":{"c":[1,{"d":"e"}]}},"f":[[[]]],"g":{}}\n',
    b'[' * 64 + b']' * 64 + b'\n', b'[' * 65 + b']' * 65 + b'\n',
    b'{"a":' * 70 + b'"x\\"]"' + b'}' * 70 + b'\n', b'[' * 70 + b'"\n',
    b'{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":1,"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":2}\n',
    b'{"a":"0123456789abcdef0123456789"}\n', b'{"a":1.5e-3,"b":-12,"c":0.0}\n',
    b'{"a":1}\r\n{"a":2}\n{"a":3', b'{"a":"abc\n"}\n', b'{"a":tru\ne}\n',
]

WRITER = [
    b"", b"hello", b"\"\\/\b\f\n\r\t", bytes(range(0, 0x20)) + b"\x7f",
    "é€𝄞\u0800\uffff".encode(), b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80",
    b"\xc0\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xff\xfe",
    b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"plain ascii run longer than eight bytes \x01 x",
    b"12345678\x80abcdefgh\"ijklmnop\\", "\U0010ffff\U00010000".encode(),
]


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    ins = sorted(glob.glob(os.path.join(CASES, "*.in")))
    for i, path in enumerate(ins):
        data = open(path, "rb").read()
        if not data:
            continue
        h = hashlib.sha1(os.path.basename(path).encode()).digest()
        node_pieces = [data] if os.path.basename(path).startswith("slots_") and \
            len(data) <= KEEP_WHOLE else pieces(data, PIECE)
        for k, p in enumerate(node_pieces):
            seed = 0 if (i + k) % 3 == 0 else h[k % 20] | 1
            write("fuzz_node", bytes([seed]) + p)
        for k, p in enumerate(pieces(data, 2000)):
            write("fuzz_scanner", bytes([h[k % 20], h[(k + 1) % 20]]) + p)
    for k, f in enumerate(FRAGMENTS):
        write("fuzz_scanner", bytes([k * 37 & 255, k * 11 & 255]) + f)
    for w in WRITER:
        write("fuzz_writer", w)
    # string values from the test inputs, unescaped, as writer seeds
    import json
    seen = set()
    for path in ins:
        for line in open(path, "rb").read().splitlines():
            try:
                obj = json.loads(line)
            except Exception:
                continue
            stack = [obj]
            while stack:
                v = stack.pop()
                if isinstance(v, dict):
                    stack.extend(v.values())
                elif isinstance(v, list):
                    stack.extend(v)
                elif isinstance(v, str) and len(v) > 3:
                    b = v.encode("utf-8", "surrogatepass")[:512]
                    if b not in seen and len(seen) < 60:
                        seen.add(b)
                        write("fuzz_writer", b)
    import make_corpus_wire     # the wire-format targets (HPACK, HTTP/2, protobuf)
    make_corpus_wire.build()


if __name__ == "__main__":
    main()
