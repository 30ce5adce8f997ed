#!/usr/bin/env python3
"""
hpack_diff.py - differential test of the HPACK section against Debian's
python3-hpack.

    python3 tests/hpack_diff.py [CONNECTIONS]      (from the repository root)

Builds tests/hpack_cli.c (with AddressSanitizer and UBSan when the compiler
has them; CC picks the compiler), then, with a fixed seed:

1. python-hpack encodes random header lists on random connections (random
   Huffman choice, never-indexed fields, table size changes, so size
   updates and evictions); our decoder, fed in random pieces, must give
   exactly what python-hpack's decoder gives for the same bytes.
2. Our encoder encodes random header lists (random HP_INDEX / HP_NO_INDEX /
   HP_NEVER_INDEX, Huffman, encoder table sizes and size updates);
   python-hpack's decoder must decode every block to exactly those lists,
   never-indexed exactly where we asked.

Prints PASS:/FAIL: lines and "N passed, N failed", or SKIP: if
python3-hpack or a C compiler is missing. Exit status 1 on any failure.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import hpack
    from hpack import HeaderTuple, NeverIndexedHeaderTuple
except ImportError:
    # Debian's package is for the system python3; rerun under it.
    if os.path.exists("/usr/bin/python3") \
            and sys.executable != "/usr/bin/python3" \
            and not os.environ.get("HPACK_DIFF_REEXEC"):
        os.environ["HPACK_DIFF_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: hpack_diff (python3-hpack is not installed: "
          "apt-get install python3-hpack)")
    sys.exit(0)

passed = failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS: %s" % name)
    else:
        failed += 1
        print("FAIL: %s%s" % (name, " (%s)" % detail if detail else ""))
    sys.stdout.flush()


def build(tmp):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") \
        or shutil.which("clang")
    if not cc:
        return None
    exe = os.path.join(tmp, "hpack_cli")
    src = os.path.join(HERE, "hpack_cli.c")
    base = [cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
            "-O1", "-g", "-o", exe, src, os.path.join(HERE, "..", "json.c")]
    for extra in (["-fsanitize=address,undefined",
                   "-fno-sanitize-recover=all"], []):
        r = subprocess.run(base + extra, capture_output=True, text=True)
        if r.returncode == 0:
            return exe
    sys.stderr.write(r.stderr)
    return ""


def run(exe, args, lines):
    r = subprocess.run([exe] + args, input="".join(l + "\n" for l in lines),
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr[-2000:]
    return r.stdout.splitlines(), ""


NAMES = [b":method", b":path", b":status", b":authority", b":scheme",
         b"content-type", b"grpc-status", b"grpc-message", b"te",
         b"user-agent", b"grpc-timeout", b"cookie", b"set-cookie",
         b"cache-control", b"date", b"x-custom", b"authorization",
         b"grpc-encoding", b"accept-encoding"]
VALUES = [b"GET", b"POST", b"/", b"/index.html", b"200", b"404",
          b"application/grpc", b"trailers", b"0", b"", b"gzip, deflate",
          b"http", b"https", b"no-cache", b"hello world"]


def rand_bytes(rng, n, alphabet=None):
    if alphabet is not None:
        return bytes(rng.choice(alphabet) for _ in range(n))
    return bytes(rng.randrange(256) for _ in range(n))


STATIC = [(bytes(n), bytes(v)) for n, v in
          hpack.table.HeaderTable.STATIC_TABLE]
LOWER = b"abcdefghijklmnopqrstuvwxyz0123456789-_."


def rand_field(rng):
    r = rng.random()
    if r < 0.15:
        return rng.choice(STATIC)               # an exact static pair
    if r < 0.35:
        name = rng.choice(STATIC)[0]            # a static name
    elif r < 0.7:
        name = rng.choice(NAMES)
    else:
        name = rand_bytes(rng, rng.randint(1, 30), LOWER)
    r = rng.random()
    if r < 0.3:
        value = rng.choice(VALUES)
    elif r < 0.55:
        value = rand_bytes(rng, rng.randint(0, 60), bytes(range(0x20, 0x7f)))
    elif r < 0.75:
        value = rand_bytes(rng, rng.randint(0, 60))
    elif r < 0.95:
        # mostly short codes, a few of any byte: Huffman stays shorter,
        # so our encoder codes the rare bytes too
        value = bytearray(rand_bytes(rng, rng.randint(20, 80), LOWER))
        for _ in range(rng.randint(1, 3)):
            value[rng.randrange(len(value))] = rng.randrange(256)
        value = bytes(value)
    else:
        value = rand_bytes(rng, rng.randint(100, 3000),
                           bytes(range(0x20, 0x7f)))
    return name, value


def parse_ours(out, i):
    """Our decoder's lines for one block from index i: (fields, error, i)."""
    fields = []
    while i < len(out):
        line = out[i]
        i += 1
        if line == "END":
            return fields, None, i
        if line.startswith("ERR"):
            return fields, line, i
        _, n, v, never = line.split(" ")[:4]
        n = b"" if n == "-" else bytes.fromhex(n)
        v = b"" if v == "-" else bytes.fromhex(v)
        fields.append((n, v, never == "1"))
    return fields, "no END", i


def python_encodes(exe, rng, conns):
    bad = None
    blocks_total = 0
    commands, expect = [], []
    for c in range(conns):
        enc = hpack.Encoder()
        pydec = hpack.Decoder(max_header_list_size=1 << 30)
        commands.append("reset")
        for b in range(rng.randint(1, 12)):
            if rng.random() < 0.15:
                new = rng.choice([0, 32, 100, 256, 1000, 4096,
                                  rng.randint(0, 4096)])
                enc.header_table_size = new
            fields = []
            for _ in range(rng.randint(0, 15)):
                name, value = rand_field(rng)
                if rng.random() < 0.15:
                    fields.append(NeverIndexedHeaderTuple(name, value))
                else:
                    fields.append(HeaderTuple(name, value))
            block = enc.encode(fields, huffman=rng.random() < 0.5)
            got = pydec.decode(block, raw=True)
            expect.append((c, b, [(bytes(h[0]), bytes(h[1]),
                                   isinstance(h, NeverIndexedHeaderTuple))
                                  for h in got]))
            commands.append(block.hex())
            blocks_total += 1
    out, err = run(exe, ["decode", "1"], commands)
    if out is None:
        bad = "hpack_cli failed: %s" % err
    else:
        i = 0
        for c, b, want in expect:
            fields, error, i = parse_ours(out, i)
            if error or fields != want:
                bad = "connection %d block %d: %s; ours %r, python %r" % (
                    c, b, error, fields[:3], want[:3])
                break
    report(bad is None,
           "python-hpack encodes %d connections (%d blocks), our decoder in "
           "random pieces gives python-hpack's lists" % (conns, blocks_total),
           bad or "")


def we_encode(exe, rng, conns):
    bad = None
    blocks_total = 0
    commands, plans = [], []
    for c in range(conns):
        size = rng.choice([0, 0, 64, 256, 1000, 4096])
        commands.append("init %d" % size)
        plan = []
        plans.append(plan)
        for b in range(rng.randint(1, 12)):
            if rng.random() < 0.1:
                commands.append("size %d" % rng.choice(
                    [0, 256, 4096, rng.randint(0, 4096)]))
            fields = []
            words = []
            for _ in range(rng.randint(0, 15)):
                name, value = rand_field(rng)
                how = rng.randrange(3)
                huff = rng.randrange(2)
                fields.append((name, value, how == 2))
                words.append("%d:%d:%s:%s" % (how, huff, name.hex() or "-",
                                              value.hex() or "-"))
            commands.append("block " + " ".join(words))
            plan.append(fields)
            blocks_total += 1
    out, err = run(exe, ["encode"], commands)
    if out is None or len(out) != blocks_total:
        bad = "hpack_cli failed: %s" % err
        plans = []
    i = 0
    for c, plan in enumerate(plans):
        if bad:
            break
        pydec = hpack.Decoder(max_header_list_size=1 << 30)
        for b, want in enumerate(plan):
            line = out[i]
            i += 1
            if line.startswith("ERR"):
                bad = "connection %d block %d: %s" % (c, b, line)
                break
            try:
                got = pydec.decode(bytes.fromhex("" if line == "-" else line),
                                   raw=True)
            except Exception as e:          # noqa: BLE001 - report any
                bad = "connection %d block %d: python-hpack: %r (%s)" % (
                    c, b, e, line[:80])
                break
            got = [(bytes(h[0]), bytes(h[1]),
                    isinstance(h, NeverIndexedHeaderTuple)) for h in got]
            if got != want:
                bad = "connection %d block %d: python %r, wanted %r" % (
                    c, b, got[:3], want[:3])
                break
    report(bad is None,
           "our encoder writes %d connections (%d blocks), python-hpack "
           "decodes exactly the lists" % (conns, blocks_total), bad or "")


def main():
    conns = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    tmp = tempfile.mkdtemp(prefix="hpack_diff.")
    try:
        exe = build(tmp)
        if exe is None:
            print("SKIP: hpack_diff (no C compiler)")
            return 0
        if not exe:
            print("FAIL: hpack_diff: tests/hpack_cli.c does not build")
            return 1
        rng = random.Random(7541)
        python_encodes(exe, rng, conns)
        we_encode(exe, rng, conns)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
