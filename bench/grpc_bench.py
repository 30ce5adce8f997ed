#!/usr/bin/env python3
"""grpc_bench.py - helpers of bench/grpc_bench.sh (no third-party module
except grpcio, and that only for `check`).

Usage:
    grpc_bench.py prep DIR LOGFILE CHAT_N
        writes the h2load request bodies, built once:
          DIR/watch.req  one framed WatchRequest {} (every entry, no limit)
          DIR/chat.req   CHAT_N framed ChatMessage {text: "hello <i>"}
        and prints "WATCH_MSGS WATCH_BYTES CHAT_MSGS CHAT_BYTES": the
        messages and the DATA bytes (framed protobuf) one call must return,
        computed here from the log file and the proto, independently of
        any server
    grpc_bench.py port
        prints a free TCP port on 127.0.0.1
    grpc_bench.py wait PORT SECONDS
        waits until 127.0.0.1:PORT accepts a connection (exit 1 if not)
    grpc_bench.py check PORT LOGFILE CHAT_N WORKLOAD
        one real gRPC call with grpcio (WORKLOAD watch: WatchLogs {} and
        WatchLogs {filter: ERROR, limit: 3}; chat: one BiDiChat of CHAT_N
        messages): every response message byte-equal to the expected
        encoding, and the call's grpc-status OK; prints "ok" or the
        difference (exit 1)
    grpc_bench.py h2load OUTFILE CALLS BYTES_PER_CALL
        reads an h2load report; prints its elapsed seconds if every call
        succeeded (2xx) and the DATA bytes received equal CALLS times
        BYTES_PER_CALL; otherwise prints why (exit 1)

Log lines are read as the servers read them: "LEVEL message words...", the
level up to the first space, the message after it; blank lines and lines
without a space are not entries.
"""
import re
import socket
import sys
import time


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pb_string(field, value):
    """A proto3 string field: nothing when empty (the default)."""
    raw = value.encode("utf-8")
    if not raw:
        return b""
    return bytes([field << 3 | 2]) + varint(len(raw)) + raw


def frame(payload):
    """gRPC Length-Prefixed-Message, uncompressed."""
    return b"\0" + len(payload).to_bytes(4, "big") + payload


def log_entries(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            sp = line.find(" ")
            if sp <= 0:
                continue
            yield line[:sp], line[sp + 1:]


def entry_msg(level, msg):
    return pb_string(1, level) + pb_string(2, msg)


def chat_texts(n):
    return ["hello %d" % i for i in range(1, n + 1)]


def cmd_prep(d, logfile, chat_n):
    watch_msgs = watch_bytes = 0
    for level, msg in log_entries(logfile):
        watch_msgs += 1
        watch_bytes += 5 + len(entry_msg(level, msg))
    with open(d + "/watch.req", "wb") as f:
        f.write(frame(b""))
    texts = chat_texts(chat_n)
    with open(d + "/chat.req", "wb") as f:
        f.write(b"".join(frame(pb_string(1, t)) for t in texts))
    chat_bytes = sum(len(frame(pb_string(1, "echo: " + t))) for t in texts)
    print(watch_msgs, watch_bytes, chat_n, chat_bytes)


def cmd_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_wait(port, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return 0
        except OSError:
            time.sleep(0.05)
    print("nothing listens on 127.0.0.1:%d after %gs" % (port, seconds))
    return 1


def compare(what, got, want):
    if got == want:
        return None
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "%s: message %d is %r, expected %r" % (what, i + 1, g, w)
    return "%s: %d messages, expected %d" % (what, len(got), len(want))


def cmd_check(port, logfile, chat_n, workload):
    try:
        import grpc
    except ImportError:
        print("python3 grpcio is missing")
        return 1
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    errs = []
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
        if workload == "watch":
            watch = ch.unary_stream("/LogWatcher/WatchLogs")   # raw bytes both ways
            entries = list(log_entries(logfile))
            want = [entry_msg(lv, m) for lv, m in entries]
            errs.append(compare("WatchLogs {}", list(watch(b"", timeout=120)), want))
            want = [entry_msg(lv, m) for lv, m in entries if lv == "ERROR"][:3]
            req = pb_string(1, "ERROR") + b"\x10\x03"
            errs.append(compare("WatchLogs {ERROR, 3}", list(watch(req, timeout=30)), want))
        else:
            chat = ch.stream_stream("/Chat/BiDiChat")
            texts = chat_texts(chat_n)
            got = list(chat(iter([pb_string(1, t) for t in texts]), timeout=60))
            errs.append(compare("BiDiChat", got, [pb_string(1, "echo: " + t) for t in texts]))
    except grpc.RpcError as e:          # a non-OK grpc-status
        errs.append("call failed: %s %s" % (e.code(), e.details()))
    except grpc.FutureTimeoutError:
        errs.append("no connection")
    finally:
        ch.close()
    errs = [e for e in errs if e]
    print("; ".join(errs) if errs else "ok")
    return 1 if errs else 0


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def cmd_h2load(path, calls, per_call):
    text = open(path, errors="replace").read()
    m = re.search(r"^finished in ([0-9.]+)(us|ms|s|m|h),", text, re.M)
    r = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    c = re.search(r"^status codes: (\d+) 2xx", text, re.M)
    t = re.search(r"^traffic: .*\((\d+)\) data", text, re.M)
    if not (m and r and c and t):
        print("unreadable h2load report")
        return 1
    total, _, done, ok, failed, errored, timeout = map(int, r.groups())
    if (total, done, ok, int(c.group(1))) != (calls, calls, calls, calls) or failed or errored or timeout:
        print("calls: %d asked, %d succeeded, %d 2xx, %d failed, %d errored, %d timeout"
              % (calls, ok, int(c.group(1)), failed, errored, timeout))
        return 1
    if int(t.group(1)) != calls * per_call:
        print("DATA bytes %s, expected %d x %d = %d"
              % (t.group(1), calls, per_call, calls * per_call))
        return 1
    print("%.6f" % (float(m.group(1)) * UNITS[m.group(2)]))
    return 0


def main(argv):
    try:
        if argv[1:2] == ["prep"] and len(argv) == 5:
            cmd_prep(argv[2], argv[3], int(argv[4]))
            return 0
        if argv[1:] == ["port"]:
            cmd_port()
            return 0
        if argv[1:2] == ["wait"] and len(argv) == 4:
            return cmd_wait(int(argv[2]), float(argv[3]))
        if argv[1:2] == ["check"] and len(argv) == 6 and argv[5] in ("watch", "chat"):
            return cmd_check(int(argv[2]), argv[3], int(argv[4]), argv[5])
        if argv[1:2] == ["h2load"] and len(argv) == 5:
            return cmd_h2load(argv[2], int(argv[3]), int(argv[4]))
    except ValueError:
        pass
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
