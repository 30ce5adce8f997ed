#!/usr/bin/env python3
"""Checks gs_json_put_str against Python's json.dumps, for tests/unit_json.c.

    python3 tests/writer_check.py CORPUS

CORPUS has one line per string: the input bytes in hex, a tab, and what
gs_json_put_str wrote for them. The input is UTF-8 in which lone
surrogates may appear in their 3-byte form (WTF-8), so it is decoded with
"surrogatepass". Prints one line, "OK N" or "MISMATCH ..." (the first few
differences), and exits 0 or 1.
"""
import json
import sys


def main():
    bad = []
    count = 0
    with open(sys.argv[1], "rb") as f:
        for number, raw in enumerate(f, 1):
            hex_in, sep, got = raw.rstrip(b"\n").partition(b"\t")
            if not sep:
                bad.append("line %d: no tab" % number)
                continue
            text = bytes.fromhex(hex_in.decode("ascii")).decode("utf-8", "surrogatepass")
            want = json.dumps(text).encode("ascii")
            count += 1
            if got != want:
                bad.append("input %s: got %s, want %s" % (hex_in.decode(), got, want))
    if count == 0:
        bad.append("empty corpus")
    if bad:
        print("MISMATCH %d: %s" % (len(bad), "; ".join(bad[:3])))
        return 1
    print("OK %d" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
