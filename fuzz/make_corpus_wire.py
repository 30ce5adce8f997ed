#!/usr/bin/env python3
"""Seed corpora for the wire-format targets (fuzz_hpack, fuzz_hpack_diff,
fuzz_h2 and fuzz_h2_small, fuzz_proto), written by hand from RFC 7541's
examples and small encoders below. make_corpus.py calls build(); run alone
(python3 fuzz/make_corpus_wire.py) it replaces only these four corpus
directories. Deterministic; files are named by their SHA-1.

Seed layouts (see each target's header comment):
  fuzz_proto       byte 0 the room for a built "why" text, then a protobuf
                   message
  fuzz_hpack       records: 2-byte head (length, feeding, table maximum,
                   list limit), then a header block
  fuzz_hpack_diff  byte 0 the encoder's table size / 16, then ops: fields,
                   size updates (0xE0), block ends (0xC0)
  fuzz_h2          records: connection, action (feed, drain, clock, pump,
                   close, GOAWAY, end calls) and their bytes
"""
import hashlib
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
TARGETS = ["fuzz_proto", "fuzz_hpack", "fuzz_hpack_diff", "fuzz_h2"]


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# ----- protobuf ----------------------------------------------------------

def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def pb_key(num, wire):
    return varint(num << 3 | wire)


def pb_str(num, s):
    s = s.encode() if isinstance(s, str) else s
    return pb_key(num, 2) + varint(len(s)) + s


def pb_u64(num, v):
    return pb_key(num, 0) + varint(v)


PROTO = [
    b"",
    pb_str(1, "ERROR") + pb_u64(2, 3) + pb_u64(3, 1),                 # WatchRequest
    pb_str(1, "INFO") + pb_str(2, "disk full"),                       # LogEntry
    pb_str(1, "héllo 𝄞"),                                            # ChatMessage
    pb_u64(1, 2**64 - 1),                                             # AppendResponse
    pb_str(1, "a") + pb_u64(15, 7) + pb_u64(16, 1) + pb_str(2047, "d") + pb_u64(2048, 2**63) +
    pb_u64(262144, 2) + pb_u64(536870910, 300) + pb_str(536870911, "h"),   # EveryType
    pb_u64(9, 1) + pb_key(10, 1) + b"12345678" + pb_str(11, "x") + pb_key(12, 5) + b"1234",  # unknown
    pb_key(4, 3) + pb_key(4, 4), pb_key(1, 6), pb_key(1, 7),          # groups, bad wire types
    b"\x00\x01", pb_key(536870912, 0) + b"\x01",                      # field 0, too large
    b"\x08", b"\x08\x80", b"\x0a\x05abc",                              # truncated
    b"\x10" + b"\xff" * 9 + b"\x01", b"\x10" + b"\xff" * 9 + b"\x02",  # 10-byte varints
    b"\x10" + b"\xff" * 10 + b"\x01",
    b"\x10\x80\x80\x00", b"\x8a\x80\x00\x01x",                         # non-minimal
    pb_str(1, "x" * 256), pb_str(1, "x" * 257), pb_str(2, "y" * 300),  # GS_MAX_VALUE 256 in the build
    pb_str(1, b"\xc3\x28"), pb_str(1, b"\xed\xa0\x80"), pb_str(1, b"\xf4\x90\x80\x80"),
    pb_u64(1, 5), pb_str(2, "3"), pb_key(3, 1) + b"\x01" * 8,         # wrong wire types
    pb_str(1, "a") + pb_str(1, "bb") + pb_u64(2, 1) + pb_u64(2, 0) + pb_u64(3, 2),   # last wins
]


def build_proto():
    for i, m in enumerate(PROTO):
        write("fuzz_proto", bytes([(96, 0, 20, 64, 127)[i % 5]]) + m)


# ----- HPACK ---------------------------------------------------------------

def hp_int(first, bits, v):
    mask = (1 << bits) - 1
    if v < mask:
        return bytes([first | v])
    out, v = bytes([first | mask]), v - mask
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def hp_literal(name, value, first=0x00):
    """A literal field with a new name (no Huffman): without indexing
    (0x00), with incremental indexing (0x40, 6-bit index) or never indexed
    (0x10)."""
    name, value = [x.encode() if isinstance(x, str) else x for x in (name, value)]
    bits = 6 if first == 0x40 else 4
    return hp_int(first, bits, 0) + hp_int(0, 7, len(name)) + name + hp_int(0, 7, len(value)) + value


def unhex(s):
    return bytes.fromhex(s.replace(" ", ""))


# RFC 7541 Appendix C, each a list of header blocks on one connection.
RFC = [
    ["400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"],
    ["040c 2f73 616d 706c 652f 7061 7468"],
    ["1008 7061 7373 776f 7264 0673 6563 7265 74"],
    ["82"],
    ["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
     "8286 84be 5808 6e6f 2d63 6163 6865",
     "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"],
    ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
     "8286 84be 5886 a8eb 1064 9cbf",
     "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"],
    ["4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
     "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
     "6c65 2e63 6f6d",
     "4803 3330 37c1 c0bf",
     "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
     "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
     "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31"],
    ["4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
     "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
     "4883 640e ffc1 c0bf",
     "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
     "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
     "9587 3160 65c0 03ed 4ee5 b106 3d50 07"],
]
RFC_BLOCKS = [[unhex(b) for b in ex] for ex in RFC]

# Blocks the decoder must refuse, or that probe an edge.
ODD_BLOCKS = [
    b"\x80",                                  # index 0
    b"\xbe",                                  # past the (empty) dynamic table
    b"\x3f\xe1\x1f",                          # size update to 4096
    b"\x3f\xe2\x1f",                          # ... to 4097: above GS_HPACK_TABLE
    b"\x20\x82\x20",                          # size update after a field
    b"\x20\x3f\xe1\x1f\x82",                  # two size updates, then a field
    b"\xff\xff\xff\xff\xff\x0f",              # integer too long
    b"\xff\x80\x80\x80\x80\x10",              # integer above 2^32 - 1
    b"\x00\x81\xff\x00",                      # Huffman: EOS / padding errors
    b"\x00\x82\xff\xff\x00", b"\x00\x81\x1f\x00", b"\x00\x83\xff\xff\xfe\x00",
    b"\x40\x01",                              # block ends inside a field
    hp_literal("x-long", "v" * 300, 0x40) * 20,   # evictions
    hp_literal("a" * 1000, "b" * 1000, 0x40),     # 2032 bytes: two fill the table
]


def hpack_records(blocks, mode=0, set_max=None, limit=None):
    out = b""
    for i, b in enumerate(blocks):
        n = min(len(b), 2047)
        h0, h1 = (n >> 8) | (mode << 3), n & 0xFF
        if set_max is not None and i == 0:
            h0 |= 0x40      # the maximum is h1 * 16: only as the length allows
        if limit is not None:
            h0 |= 0x80
        out += bytes([h0, h1]) + b[:n]
    return out


def grpc_request_block(path, ctype="application/grpc", extra=()):
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
              ("content-type", ctype), ("te", "trailers")] + list(extra)
    return b"".join(hp_literal(n, v) for n, v in fields)


def build_hpack():
    for k, ex in enumerate(RFC_BLOCKS):
        for mode in (0, 1, 3, 6):
            write("fuzz_hpack", hpack_records(ex, mode))
        write("fuzz_hpack", hpack_records(ex, k % 8, set_max=True))
        write("fuzz_hpack", hpack_records(ex, 0, limit=True))
    for b in ODD_BLOCKS:
        write("fuzz_hpack", hpack_records([b, RFC_BLOCKS[4][0]], 2))
    write("fuzz_hpack", hpack_records([grpc_request_block("/LogWatcher/WatchLogs")] * 3, 5))
    write("fuzz_hpack", hpack_records([b"".join(hp_literal("k%d" % i, "v" * 200, 0x40) for i in range(30))]))


# ----- HPACK differential ---------------------------------------------------

STATIC_NAMES = [":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme", ":status"]


def diff_field(name, value, how=1, huff=False, long=False):
    """An op of fuzz_hpack_diff: a field with a literal name (bytes) or a
    static table index (int)."""
    c = how | (4 if huff else 0) | (0x10 if long else 0)
    value = value.encode() if isinstance(value, str) else value
    if isinstance(name, int):
        head = bytes([c | 8, name])
    else:
        name = name.encode() if isinstance(name, str) else name
        head = bytes([c, len(name)]) + name
    return head + bytes([len(value)]) + value


def diff_repeat(k, how=1, huff=False):
    return bytes([0x20 | how | (4 if huff else 0), k])


def diff_end(piece=0):
    return bytes([0xC0, piece])


def diff_size(size):
    return bytes([0xE0, min(size // 16, 255)])


GRPC_LIST = [(1, "POST"), (5, "http"), (3, "/LogWatcher/WatchLogs"), (0, "localhost"),
             ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", "1S"),
             ("user-agent", "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)")]


def build_hpack_diff():
    for table in (0, 16, 64, 255):
        for how in (0, 1, 2):
            for huff in (False, True):
                block = b"".join(diff_field(n, v, how, huff) for n, v in GRPC_LIST)
                write("fuzz_hpack_diff", bytes([table]) + block + diff_end(0) + block + diff_end(3) +
                      block + diff_end(1))
    write("fuzz_hpack_diff", bytes([255]) + diff_field("custom-key", "custom-header") + diff_end() +
          diff_repeat(0) + diff_repeat(0, 2) + diff_size(0) + diff_end(2) +
          diff_size(256) + diff_size(4096) + diff_field("k", "x" * 200) * 30 + diff_end(7))
    write("fuzz_hpack_diff", bytes([255]) + diff_field("big", "abc", 1, False, True) +
          diff_field("big", "abc", 1, True, True) + diff_field(b"\x00\xff", b"\xfe\x80") + diff_end(5))
    write("fuzz_hpack_diff", bytes([2]) + diff_field("x" * 40, "y" * 40, 1) + diff_field("z", "w", 1) +
          diff_end() + diff_repeat(1) + diff_repeat(0) + diff_end())


# ----- HTTP/2 ----------------------------------------------------------------

DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 1, 1, 4, 8, 0x20


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def grpc_msg(pb):
    return b"\0" + struct.pack(">I", len(pb)) + pb


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def call(sid, path, body=None, ctype="application/grpc", extra=(), end=True):
    """HEADERS (and a DATA frame with the body, END_STREAM if `end`)."""
    out = frame(HEADERS, END_HEADERS | (END_STREAM if body is None and end else 0), sid,
                grpc_request_block(path, ctype, extra))
    if body is not None:
        out += frame(DATA, END_STREAM if end else 0, sid, body)
    return out


WATCH, APPEND, CHAT = "/LogWatcher/WatchLogs", "/LogWatcher/Append", "/Chat/BiDiChat"


class Session:
    """Builds one fuzz_h2 input: records of connection k, action, argument."""

    def __init__(self):
        self.out = b""

    def feed(self, data, k=0, piece=0):
        for i in range(0, len(data), 256):
            chunk = data[i:i + 256]
            self.out += bytes([k << 6 | piece << 3 | (i // 256) % 4, len(chunk) - 1]) + chunk
        return self

    def drain(self, k=0, amount=None):
        if amount is None:
            self.out += bytes([k << 6 | 4])
        elif amount == 0:
            self.out += bytes([k << 6 | 7 << 3 | 4])
        else:
            a = 1
            while (amount >> (a - 1)) > 256 and a < 6:
                a += 1
            self.out += bytes([k << 6 | a << 3 | 4, max(1, min(256, amount >> (a - 1))) - 1])
        return self

    def tick(self, ms):
        a = 0
        while (ms >> (2 * a)) > 255 and a < 7:
            a += 1
        self.out += bytes([a << 3 | 5, min(255, ms >> (2 * a))])
        return self

    def deadline(self):        # the clock jumps to what gs_timeout says is due
        self.out += bytes([7 << 3 | 5])
        return self

    def pump(self):
        self.out += b"\x06"
        return self

    def op(self, a, k=0):      # 0 reopen, 1 GOAWAY, 2 end calls, 3 pump + drain all
        self.out += bytes([k << 6 | a << 3 | 7])
        return self


def h2_sessions():
    watch = grpc_msg(pb_str(1, "ERROR") + pb_u64(2, 3))
    follow = grpc_msg(pb_u64(3, 1))
    append = grpc_msg(pb_str(1, "ERROR") + pb_str(2, "new entry"))
    chat = grpc_msg(pb_str(1, "hello"))
    s = []
    for piece in (0, 1, 3, 7):
        s.append(Session().feed(call(1, APPEND, append), 0, piece).pump().drain())
        s.append(Session().feed(call(1, WATCH, watch), 0, piece).pump().drain(0, 40).drain(0, 300).drain())
        s.append(Session().feed(call(1, CHAT, chat, end=False) + frame(DATA, 0, 1, chat + chat), 0, piece)
                 .pump().drain().feed(frame(DATA, END_STREAM, 1), 0, piece).drain())
    s.append(Session().feed(call(1, WATCH, follow, extra=[("grpc-timeout", "50m")]) + call(3, APPEND, append))
             .pump().drain().tick(20).pump().drain().tick(100).drain())
    s.append(Session().feed(call(1, WATCH, follow), 0).feed(call(1, APPEND, append), 1).pump()
             .drain(0).drain(1).feed(frame(RST, 0, 1, struct.pack(">I", 8))).drain())
    s.append(Session().feed(call(1, CHAT, grpc_msg(b'{"text":"hi"}'), "application/grpc+json")).drain())
    s.append(Session().feed(call(1, CHAT, grpc_msg(pb_str(1, "x" * 100)), end=False)).drain()
             .feed(frame(HEADERS, END_HEADERS | END_STREAM, 1, hp_literal("grpc-status", "0"))).drain())
    s.append(Session().feed(call(1, "/No/Such", grpc_msg(b"")) + call(3, WATCH, watch, "text/plain") +
                            frame(HEADERS, END_HEADERS | END_STREAM, 5,
                                  hp_literal(":method", "GET") + hp_literal(":scheme", "http") +
                                  hp_literal(":path", "/"))).drain())
    s.append(Session().feed(call(1, CHAT, None, extra=[("x-big", "v" * 4100)], end=False)).drain())
    s.append(Session().feed(settings((4, 0), (5, 20000)) + call(1, WATCH, watch)).pump().drain()
             .feed(frame(WINDOW, 0, 1, struct.pack(">I", 10))).drain()
             .feed(frame(WINDOW, 0, 1, struct.pack(">I", 100000))).drain())
    s.append(Session().feed(settings((4, 10)) + call(1, WATCH, grpc_msg(b""))).drain()
             .feed(settings((4, 70000))).drain().feed(frame(WINDOW, 0, 0, struct.pack(">I", 1 << 20))).drain())
    blk = grpc_request_block(CHAT)
    s.append(Session().feed(frame(HEADERS, PADDED | PRIO, 1, bytes([3]) + struct.pack(">IB", 0, 16) +
                                  blk[:10] + b"\0\0\0") + frame(CONT, 0, 1, blk[10:30]) +
                            frame(CONT, END_HEADERS, 1, blk[30:]) +
                            frame(DATA, PADDED | END_STREAM, 1, bytes([2]) + chat + b"\0\0")).drain())
    s.append(Session().feed(frame(PING, 0, 0, b"12345678") + frame(PRIORITY, 0, 3, struct.pack(">IB", 3, 1)) +
                            frame(0x42, 0, 0, b"unknown") + frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)) +
                            frame(SETTINGS, ACK, 0)).drain())
    s.append(Session().feed(frame(DATA, 0, 1, b"x") + call(1, APPEND, append)).drain())   # idle stream
    s.append(Session().feed(call(1, APPEND, append) + call(1, APPEND, append)).drain())   # reused id
    s.append(Session().feed(frame(HEADERS, END_HEADERS, 2, blk) + frame(DATA, 0, 0, b"")).drain())
    s.append(Session().feed(frame(DATA, 0, 1, b"x" * 20000)[:64]).drain())                # too large
    s.append(Session().feed(call(1, APPEND, append[:7], end=False)).feed(frame(DATA, END_STREAM, 1, append[7:]))
             .drain().feed(call(3, APPEND, append + append)).drain()
             .feed(call(5, APPEND, b"\0\xff\xff\xff\xff")).drain())
    s.append(Session().feed(call(1, WATCH, follow), 0).feed(call(1, WATCH, follow), 1)
             .feed(call(3, CHAT, chat, end=False), 2).op(1).pump().op(3).op(2).op(3).op(0, 1).op(3))
    s.append(Session().feed(b"".join(call(2 * i + 1, WATCH, watch) for i in range(8))).pump().drain(0, 100)
             .pump().drain(0, 1000).tick(5000).drain())
    s.append(Session().feed(call(1, CHAT, None, extra=[("grpc-timeout", "10m")], end=False)).tick(5).drain()
             .tick(20).pump().drain().feed(frame(DATA, 0, 1, chat)).drain())
    s.append(Session().feed(call(1, WATCH, follow, extra=[("grpc-timeout", "3S")]), 0)
             .feed(call(1, CHAT, None, extra=[("grpc-timeout", "700m")], end=False), 1)
             .deadline().drain(0).drain(1).deadline().drain(0).drain(1).deadline().drain(0).deadline())
    s.append(Session().feed(call(1, CHAT, None, extra=[("content-length", "3"), ("grpc-encoding", "gzip")])
                            + call(3, WATCH, watch, extra=[("grpc-timeout", "x")])).drain())
    return s


def build_h2():
    for sess in h2_sessions():
        write("fuzz_h2", sess.out)


def build():
    build_proto()
    build_hpack()
    build_hpack_diff()
    build_h2()


if __name__ == "__main__":
    for t in TARGETS:
        shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)
    build()
