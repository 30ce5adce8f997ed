#!/usr/bin/python3
"""Writes bigframes.h2: a client that sends 16 KiB frames to the small build.

    /usr/bin/python3 examples/firmware/bigframes.py OUT

HTTP/2 lets every peer send frames of 16 KiB (the smallest
SETTINGS_MAX_FRAME_SIZE). The firmware's HTTP/2 build has no 16 KiB
buffer anywhere: it must take such frames as their bytes arrive. OUT gets
the client's side of one connection: the preface and SETTINGS, an
extension frame of 16,384 bytes (to be ignored), then an Append call
whose HEADERS frame is 16,384 bytes (fields the server does not keep:
grpc-* names are reserved, each field within the build's 1 KiB), and its
message; tests/firmware.sh feeds it to the firmware on QEMU and to the
same build on the host, and compares the answers (an OK Append).
Literal header fields without indexing, so the HPACK table size does
not matter.
"""
import struct
import sys

MAX_FRAME = 16384


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out = bytearray([limit])
    value -= limit
    while value >= 128:
        out.append(value & 127 | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal header field without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def main():
    block = b"".join(literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", "/LogWatcher/Append"),
        (":authority", "firmware"), ("content-type", "application/grpc"), ("te", "trailers")])
    k = 0
    while len(block) < MAX_FRAME:   # grpc-* fields of at most 1000 bytes, to exactly 16 KiB
        name = "grpc-x-pad-%02d" % k
        empty = len(literal(name, ""))
        value_len = min(1000, MAX_FRAME - len(block) - empty - 1)
        while len(block) + len(literal(name, "p" * value_len)) > MAX_FRAME:
            value_len -= 1
        block += literal(name, "p" * value_len)
        k += 1
    assert len(block) == MAX_FRAME, len(block)
    message = b"\x0a\x04WARN\x12\x0afrom a 16K"     # LogEntry {level: "WARN", msg: "from a 16K"}
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    out += frame(4, 0, 0, b"")                                  # SETTINGS
    out += frame(0xFA, 0, 0, bytes(range(256)) * 64)           # an extension frame: ignored
    out += frame(1, 0x4, 1, block)                             # HEADERS, END_HEADERS
    out += frame(0, 0x1, 1, b"\x00" + struct.pack(">I", len(message)) + message)
    with open(sys.argv[1], "wb") as f:
        f.write(out)
    print("%s: %d bytes, a HEADERS frame of %d" % (sys.argv[1], len(out), len(block)))


if __name__ == "__main__":
    main()
