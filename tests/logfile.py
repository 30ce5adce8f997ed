#!/usr/bin/env python3
"""Tests of --log FILE, fair long streams and backpressure (issue 3).

Usage: logfile.py [BINARY] [--quick]. Prints PASS:/FAIL: lines. Followers
hear of appended lines within 100 ms (the node checks every 50 ms), so the
waits here are generous multiples of that, not speed measurements.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

BIN = next((a for a in sys.argv[1:] if not a.startswith("--")), "./grpcstream")
QUICK = "--quick" in sys.argv
BIG = 100_000 if QUICK else 1_000_000
INIT = '{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}'
failed = 0


def check(name, ok, detail=""):
    global failed
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else " (%s)" % (detail,)))
    failed += not ok


def req(msg_id, rtype, src="c1", **body):
    body = dict(type=rtype, msg_id=msg_id, **body)
    return json.dumps({"src": src, "dest": "n1", "body": body}, separators=(",", ":"))


def watch(msg_id, timeout_ms=None, **request):
    extra = {"timeout_ms": timeout_ms} if timeout_ms else {}
    return req(msg_id, "grpc_server_stream", service="LogWatcher", method="WatchLogs",
               request=request, **extra)


def append(msg_id, level, msg):
    return req(msg_id, "grpc_call", service="LogWatcher", method="Append",
               request={"level": level, "msg": msg})


class Node:
    """The node on a log file, fed line by line, replies read in a thread."""

    def __init__(self, path, args=()):
        self.p = subprocess.Popen([BIN, "--log", path, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.send(INIT)

    def _read(self):
        for raw in self.p.stdout:
            self.lines.append(json.loads(raw))

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def wait_for(self, pred, seconds=3.0):
        end = time.time() + seconds
        while time.time() < end:
            if any(pred(m) for m in list(self.lines)):
                return True
            time.sleep(0.01)
        return False

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        self.reader.join(timeout=30)
        return self.p.returncode, self.p.stderr.read().decode()


def msgs(lines, reply_to):
    return [m["body"]["data"] for m in lines
            if m["body"]["type"] == "grpc_stream_msg" and m["body"].get("in_reply_to") == reply_to]


def is_msg(reply_to, msg):
    return lambda m: (m["body"]["type"] == "grpc_stream_msg" and
                      m["body"].get("in_reply_to") == reply_to and m["body"]["data"]["msg"] == msg)


def test_file_log(tmp):
    path = os.path.join(tmp, "app.log")
    with open(path, "w") as f:
        f.write('INFO one\nERROR two words\n{"level": "WARN", "msg": "three \\u00e9"}\n'
                'garbage{\n{"level": 1}\n\nERROR four\n')
    n = Node(path)
    n.send(watch(2))
    n.send(watch(3, filter="ERROR", follow=True))
    n.send(append(4, "ERROR", "five"))
    n.send(append(5, "two words", "multi\nline"))
    ok = n.wait_for(lambda m: m["body"].get("in_reply_to") == 5)
    plain = msgs(n.lines, 2)
    check("log: plain and JSON lines are entries, bad lines skipped",
          plain == [{"level": "INFO", "msg": "one"}, {"level": "ERROR", "msg": "two words"},
                    {"level": "WARN", "msg": "three \u00e9"}, {"level": "ERROR", "msg": "four"}],
          plain)
    seqs = [m["body"]["response"]["seq"] for m in n.lines if m["body"]["type"] == "grpc_call_ok"]
    check("log: Append replies with the entry's position", ok and seqs == [5, 6], seqs)
    with open(path) as f:
        tail = f.read().splitlines()[-2:]
    check("log: Append writes a line (JSON when plain would not read back)",
          tail == ["ERROR five", '{"level": "two words", "msg": "multi\\nline"}'], tail)
    # lines appended by another writer, a partial line waiting for its newline
    with open(path, "a") as f:
        f.write("ERROR six\nERROR sev")
    got6 = n.wait_for(is_msg(3, "six"), 1.0)
    time.sleep(0.3)
    early = any(d["msg"].startswith("sev") for d in msgs(n.lines, 3))
    with open(path, "a") as f:
        f.write("en\n")
    got7 = n.wait_for(is_msg(3, "seven"), 1.0)
    check("log: another writer's lines reach followers", got6, msgs(n.lines, 3))
    check("log: a partial last line waits for its newline", got7 and not early, msgs(n.lines, 3))
    # truncated: read again from its start
    with open(path, "w") as f:
        f.write("ERROR after truncate\n")
    check("log: a truncated file is read again from its start",
          n.wait_for(is_msg(3, "after truncate"), 1.0), msgs(n.lines, 3)[-3:])
    # replaced (rename over it): read again from its start
    with open(path + ".new", "w") as f:
        f.write("ERROR replaced one\nERROR replaced two\n")
    os.rename(path + ".new", path)
    check("log: a replaced file is read again from its start",
          n.wait_for(is_msg(3, "replaced two"), 1.0), msgs(n.lines, 3)[-3:])
    rc, err = n.close()
    check("log: bad lines reported on stderr with their line number",
          "app.log:4: bad log line" in err and "app.log:5: bad log line" in err, err)
    check("log: exit 0", rc == 0, rc)


def test_missing(tmp):
    p = subprocess.run([BIN, "--log", os.path.join(tmp, "nope.log")], input=b"",
                       capture_output=True)
    check("log: a missing file is a clear startup error",
          p.returncode == 2 and b"cannot open log" in p.stderr and not p.stdout, p)


def test_follow_deadline(tmp):
    path = os.path.join(tmp, "f.log")
    with open(path, "w") as f:
        f.write("INFO a\n")
    n = Node(path)
    n.send(watch(2, timeout_ms=400, follow=True))
    time.sleep(0.1)
    with open(path, "a") as f:
        f.write("INFO b\n")
    ok = n.wait_for(lambda m: m["body"].get("status") == "DEADLINE_EXCEEDED", 3)
    end = [m["body"] for m in n.lines if m["body"]["type"] == "grpc_stream_end"]
    check("log: a follow watch fed by the file ends at its deadline",
          ok and [d["msg"] for d in msgs(n.lines, 2)] == ["a", "b"] and end[0]["count"] == 2,
          n.lines[-3:])
    n.close()


def big_log(tmp, count):
    path = os.path.join(tmp, "big%d.log" % count)
    with open(path, "w") as f:
        for i in range(count):
            f.write("INFO entry %d\n" % i)
    return path


def test_fairness(tmp, path):
    """A WatchLogs of every entry, then a bidi echo: the echo comes long
    before the long stream ends (before its 10,000th message)."""
    lines = [INIT, watch(2), req(3, "grpc_bidi_stream_open", service="Chat", method="BiDiChat"),
             req(4, "grpc_bidi_stream_send", stream_id="s1", data={"text": "hi"})]
    p = subprocess.run([BIN, "--log", path], input=("\n".join(lines) + "\n").encode(),
                       capture_output=True)
    seen = 0
    echo_at = None
    for raw in p.stdout.splitlines():
        b = json.loads(raw)["body"]
        if b["type"] == "grpc_stream_msg":
            seen += 1
        if b["type"] == "grpc_bidi_stream_recv":
            echo_at = seen
    check("fair: the echo comes before the 10,000th message of a %d-entry stream" % BIG,
          echo_at is not None and echo_at < 10_000 and seen == BIG, (echo_at, seen))
    # two long streams interleave
    p = subprocess.run([BIN, "--log", path], input=(INIT + "\n" + watch(2, limit=5000) + "\n" +
                                                     watch(3, limit=5000) + "\n").encode(),
                       capture_output=True)
    order = [json.loads(r)["body"]["in_reply_to"] for r in p.stdout.splitlines()
             if b'"grpc_stream_msg"' in r]
    switches = sum(1 for a, b in zip(order, order[1:]) if a != b)
    check("fair: two long streams interleave", switches > 10 and len(order) == 10_000, switches)


def test_plain_deadline(path):
    """A plain WatchLogs whose reader is too slow for its deadline: the
    node stops producing while stdout is full, the deadline passes, and the
    stream ends DEADLINE_EXCEEDED with the count of messages it sent."""
    p = subprocess.Popen([BIN, "--log", path], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdin.write((INIT + "\n" + watch(2, timeout_ms=100) + "\n").encode())
    p.stdin.close()
    p.stdout.readline()
    time.sleep(0.5)                     # the pipe fills; the deadline passes
    sent, end = 0, None
    for raw in p.stdout:
        b = json.loads(raw)["body"]
        if b["type"] == "grpc_stream_msg":
            sent += 1
        elif b["type"] == "grpc_stream_end":
            end = b
    p.wait()
    check("deadline: a long plain WatchLogs ends DEADLINE_EXCEEDED mid-stream",
          end is not None and end["status"] == "DEADLINE_EXCEEDED" and
          end["count"] == sent and 0 < sent < BIG and p.returncode == 0, (end, sent))


def peak_rss_with_pause(path, count, pause_at=None):
    """Streams every entry; the reader stops for 2 s at `pause_at`. Returns
    (peak RSS KiB, seqs in order and once)."""
    p = subprocess.Popen(["setarch", "-R", BIN, "--log", path], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdin.write((INIT + "\n" + watch(2) + "\n").encode())
    p.stdin.flush()
    expect, ok, hwm = 1, True, 0
    for raw in p.stdout:
        b = json.loads(raw)["body"]
        if b["type"] == "grpc_stream_msg":
            ok = ok and b["seq"] == expect
            expect += 1
            if pause_at and b["seq"] == pause_at:
                time.sleep(2)
        elif b["type"] == "grpc_stream_end":
            with open("/proc/%d/status" % p.pid) as f:
                st = dict(l.split(":", 1) for l in f)
            hwm = tuple(int(st[k].split()[0]) for k in ("VmHWM", "RssAnon", "RssFile"))
            break
    p.stdin.close()
    p.stdout.read()
    p.wait()
    return hwm, ok and expect == count + 1


def test_backpressure(tmp, path):
    small = big_log(tmp, 1000)
    (hwm_small, anon_small, _), ok_small = peak_rss_with_pause(small, 1000)
    (hwm_big, anon_big, _), ok_big = peak_rss_with_pause(path, BIG, pause_at=BIG // 2)
    print("    peak RSS (VmHWM, ASLR off): 1,000-entry log %d KiB (anon %d), "
          "%d-entry log with a 2 s stall %d KiB (anon %d)"
          % (hwm_small, anon_small, BIG, hwm_big, anon_big))
    check("backpressure: every seq once and in order across a 2 s stall", ok_big and ok_small)
    check("backpressure: peak RSS equal to a 1,000-entry log within 64 KiB",
          abs(hwm_big - hwm_small) <= 64, (hwm_small, hwm_big))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_file_log(tmp)
        test_missing(tmp)
        test_follow_deadline(tmp)
        path = big_log(tmp, BIG)
        test_fairness(tmp, path)
        test_plain_deadline(path)
        test_backpressure(tmp, path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
