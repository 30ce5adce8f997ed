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
Literal header fields without indexing (tests/h2/rawh2.py's helpers), so
the HPACK table size does not matter.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "h2"))
from rawh2 import (DATA, END_HEADERS, END_STREAM, HEADERS, PREFACE, SETTINGS,  # noqa: E402
                   frame, lit, log_entry, lpm, request_fields)

MAX_FRAME = 16384


def main():
    block = b"".join(lit(n, v) for n, v in request_fields("/LogWatcher/Append", authority="firmware"))
    k = 0
    while len(block) < MAX_FRAME:   # grpc-* fields of at most 1000 bytes, to exactly 16 KiB
        name = "grpc-x-pad-%02d" % k
        value_len = min(1000, MAX_FRAME - len(block) - len(lit(name, "")) - 1)
        while len(block) + len(lit(name, "p" * value_len)) > MAX_FRAME:
            value_len -= 1
        block += lit(name, "p" * value_len)
        k += 1
    assert len(block) == MAX_FRAME, len(block)
    out = PREFACE + frame(SETTINGS, 0, 0)
    out += frame(0xFA, 0, 0, bytes(range(256)) * 64)           # an extension frame: ignored
    out += frame(HEADERS, END_HEADERS, 1, block)
    out += frame(DATA, END_STREAM, 1, lpm(log_entry("WARN", "from a 16K")))
    with open(sys.argv[1], "wb") as f:
        f.write(out)
    print("%s: %d bytes, a HEADERS frame of %d" % (sys.argv[1], len(out), len(block)))


if __name__ == "__main__":
    main()
