#!/usr/bin/env python3
"""iofault.py - the node under I/O faults, early close and log file churn.

Usage: iofault.py [BINARY]        (default ./grpcstream)

1. Builds tests/iofault.c (LD_PRELOAD shim: short reads/writes, EINTR,
   EAGAIN on fd 0/1, poll() interrupted) and runs the node under it over
   tests/cases/*.in and a 20,000-line `bench/gen.py mixed` session, with
   several seeds and rates; stdout must equal the fault-free output byte
   for byte (no reply lost, duplicated or reordered), exit status 0.
2. stdout closed early (while streaming, and while idle): the node exits
   promptly, with a message on stderr, not killed by a signal.
3. stdin ends in the middle of a line: every earlier reply is written, and
   the partial line is answered as invalid JSON (code 12 to its src) --
   compared with tests/model.py.
4. --log FILE truncated, deleted and recreated, replaced (rename) under a
   follow watch: the node keeps running and the follower gets the entries
   written after each change (tail -F).
Prints PASS:/FAIL:/SKIP: lines; exit 1 on any FAIL.
"""
import glob
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import model  # noqa: E402

failures = 0


def result(ok, name, detail=""):
    global failures
    if ok:
        print("PASS: %s" % name)
    else:
        failures += 1
        print("FAIL: %s (%s)" % (name, detail))
    sys.stdout.flush()


def model_output(data):
    out = []
    node = model.Node(model.DEFAULT_MAX_STREAMS, out.append, lambda _t: None)
    for raw in data.split(b"\n"):
        node.handle_line(raw)
    node.expire_deadlines()
    return b"".join(out)


def first_diff(a, b):
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<none>"
        y = lb[i] if i < len(lb) else b"<none>"
        if x != y:
            return "line %d: %r vs %r" % (i + 1, x[:160], y[:160])
    return "equal"


def run(binary, data, env=None, timeout=120):
    p = subprocess.run([binary], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=timeout)
    return p.stdout, p.returncode, p.stderr


# ------------------------------------------------------------ 1. faults --

def fault_runs(binary, shim, tmp):
    cases = sorted(glob.glob(os.path.join(ROOT, "tests", "cases", "*.in")))
    mixed = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen.py"),
                            "mixed", "20000", "3"], stdout=subprocess.PIPE, check=True).stdout
    sessions = [(os.path.basename(c)[:-3], open(c, "rb").read()) for c in cases]
    sessions.append(("mixed-20000", mixed))
    report = os.path.join(tmp, "report.txt")
    totals = {}
    for name, data in sessions:
        ref, rc, _ = run(binary, data)
        if rc != 0:
            result(False, "iofault reference run %s" % name, "exit %d" % rc)
            continue
        big = name.startswith("mixed")
        plans = [(1, 0.1), (2, 0.3), (3, 0.6)] if big else [(11, 0.3), (12, 0.7)]
        bad = []
        for seed, rate in plans:
            env = dict(os.environ, LD_PRELOAD=shim, IOFAULT_SEED=str(seed),
                       IOFAULT_RATE=str(rate), IOFAULT_REPORT=report)
            try:
                got, rc, err = run(binary, data, env)
            except subprocess.TimeoutExpired:
                bad.append("seed %d rate %s: timeout" % (seed, rate))
                continue
            if got != ref or rc != 0:
                bad.append("seed %d rate %s: exit %d, %s" % (seed, rate, rc, first_diff(got, ref)))
            try:
                for line in open(report):
                    k, v = line.strip().split("=")
                    totals[k] = totals.get(k, 0) + int(v)
            except OSError:
                pass
        if big or bad:
            result(not bad, "iofault: %s (%d lines) equals the fault-free output under %d fault plans"
                   % (name, data.count(b"\n"), len(plans)), "; ".join(bad))
        elif not bad:
            totals["cases"] = totals.get("cases", 0) + 1
    ncases = len(sessions) - 1
    result(totals.get("cases", 0) == ncases,
           "iofault: %d tests/cases sessions equal the fault-free output under 2 fault plans each"
           % ncases, "%d of %d" % (totals.get("cases", 0), ncases))
    injected = sum(v for k, v in totals.items() if k.startswith(("short", "eintr", "eagain")))
    print("   faults injected: " + ", ".join("%s=%d" % kv for kv in sorted(totals.items())))
    # every kind, not a total: how many calls a run makes depends on the
    # machine's timing, and since the node writes whole batches with writev
    # it makes fewer
    kinds = ("short_reads", "eintr_reads", "eagain_reads", "short_writes", "eintr_writes",
             "eagain_writes", "eintr_polls")
    result(all(totals.get(k, 0) > 0 for k in kinds),
           "iofault: faults of every kind were injected (%d)" % injected, repr(totals))


# ------------------------------------------------ 2. stdout closed early --

def stdout_closed(binary, tmp, shim):
    data = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen.py"),
                           "mixed", "200000", "5"], stdout=subprocess.PIPE, check=True).stdout
    path = os.path.join(tmp, "big.in")
    with open(path, "wb") as f:
        f.write(data)
    for label, env in (("", None), (" (under faults)", dict(os.environ, LD_PRELOAD=shim,
                                                           IOFAULT_SEED="9", IOFAULT_RATE="0.3"))):
        with open(path, "rb") as fin:
            p = subprocess.Popen([binary], stdin=fin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
            for _ in range(5):
                p.stdout.readline()
            p.stdout.close()
            t0 = time.time()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                result(False, "stdout closed while streaming%s: the node exits" % label, "still running after 10 s")
                continue
            err = p.stderr.read().decode(errors="replace")
            p.stderr.close()
            dt = time.time() - t0
            result(p.returncode >= 0 and dt < 5 and err.strip() != "",
                   "stdout closed while streaming%s: exit %d after %.2f s, no signal, stderr %r"
                   % (label, p.returncode, dt, err.strip()[:60]),
                   "returncode %d, %.2f s, stderr %r" % (p.returncode, dt, err[:200]))

    # Idle: the node waits on stdin when its reader goes away; the next
    # reply it has to write finds the pipe closed.
    p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(b'{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1"}}\n')
    p.stdin.flush()
    first = p.stdout.readline()
    p.stdout.close()
    try:
        p.stdin.write(b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":2,"stream_id":"s1"}}\n')
        p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        p.wait(timeout=5)
        err = p.stderr.read().decode(errors="replace")
        result(b"init_ok" in first and p.returncode >= 0 and err.strip() != "",
               "stdout closed while idle: exit %d at the next reply, stderr %r" % (p.returncode, err.strip()[:60]),
               "returncode %d, first %r, stderr %r" % (p.returncode, first, err[:200]))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        result(False, "stdout closed while idle: the node exits at the next reply", "still running after 5 s")
    for f in (p.stdin, p.stderr):
        try:
            f.close()
        except BrokenPipeError:
            pass


# ---------------------------------------------- 3. stdin closed mid-line --

HEAD = (b'{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1"}}\n'
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}\n'
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":3,"service":"LogWatcher",'
        b'"method":"WatchLogs","request":{"limit":5}}}\n'
        b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":4,"stream_id":"s1","data":{"text":"hi"}}}\n')
PARTIALS = [
    ("in an object", b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":5,"stream_id":"s'),
    ("in a key", b'{"src":"c2","dest":"n1","body":{"type":"grpc_bidi_stream_send","ms'),
    ("in a UTF-8 character", b'{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":5,'
                             b'"stream_id":"s1","data":{"text":"caf\xc3'),
    ("after a complete object", b'{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":5,"stream_id":"s1"}} '),
    ("in src (unrecoverable)", b'{"dest":"n1","src":"c'),
]


def stdin_mid_line(binary, shim):
    for label, tail in PARTIALS:
        data = HEAD + tail
        expect = model_output(data)
        for env_label, env in (("", None), (" (under faults)", dict(os.environ, LD_PRELOAD=shim,
                                                                   IOFAULT_SEED="4", IOFAULT_RATE="0.5"))):
            p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
            p.stdin.write(HEAD)
            p.stdin.flush()
            time.sleep(0.05)
            p.stdin.write(tail)
            p.stdin.close()
            try:
                out = p.stdout.read()
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                out = b"<timeout>"
            p.stdout.close()
            p.stderr.close()
            n_err = expect.count(b'"code": 12')
            result(out == expect and p.returncode == 0,
                   "stdin closed mid-line %s%s: %d replies, %d code 12" % (label, env_label, expect.count(b"\n"), n_err),
                   "exit %s, %s" % (p.returncode, first_diff(out, expect)))


# ------------------------------------------------ 4. --log FILE churn --

class Node:
    """A node with pipes; a thread collects reply lines."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._reader, daemon=True).start()
        self.msg_id = 0

    def _reader(self):
        for line in self.p.stdout:
            self.q.put(json.loads(line))
        self.q.put(None)

    def send(self, src, body):
        self.msg_id += 1
        body = dict(body, msg_id=self.msg_id)
        self.p.stdin.write((json.dumps({"src": src, "dest": "n1", "body": body}) + "\n").encode())
        self.p.stdin.flush()
        return self.msg_id

    def wait_for(self, pred, timeout=3.0):
        end = time.time() + timeout
        while True:
            for m in self.lines:
                if pred(m):
                    return m
            left = end - time.time()
            if left <= 0:
                return None
            try:
                m = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if m is None:
                return None
            self.lines.append(m)


def follow_msgs(node, stream_id):
    return [m["body"]["data"]["msg"] for m in node.lines
            if m["body"].get("stream_id") == stream_id and m["body"]["type"] == "grpc_stream_msg"]


def log_churn(binary, tmp):
    path = os.path.join(tmp, "app.log")
    with open(path, "w") as f:
        f.write("INFO one\nERROR two\n")
    node = Node([binary, "--log", path])
    alive = lambda: node.p.poll() is None  # noqa: E731
    node.send("c0", {"type": "init", "node_id": "n1", "node_ids": ["n1"]})
    node.send("c1", {"type": "grpc_server_stream", "service": "LogWatcher", "method": "WatchLogs",
                     "request": {"follow": True}})
    ok = node.wait_for(lambda m: m["body"]["type"] == "grpc_server_stream_open_ok")
    sid = ok["body"]["stream_id"] if ok else "s1"
    got = node.wait_for(lambda m: follow_msgs(node, sid)[-1:] == ["two"])
    result(got is not None, "--log: follow watch gets the backlog", repr(follow_msgs(node, sid)))

    def step(name, action, expect_msgs):
        action()
        time.sleep(0.3)       # the node checks the path every 50 ms
        st = node.send("c1", {"type": "grpc_stream_state", "stream_id": sid})
        reply = node.wait_for(lambda m: m["body"].get("in_reply_to") == st)
        state_ok = reply is not None and reply["body"].get("state") == "HALF_CLOSED"
        node.wait_for(lambda m: all(x in follow_msgs(node, sid) for x in expect_msgs), timeout=2)
        msgs = follow_msgs(node, sid)
        result(alive() and state_ok and all(x in msgs for x in expect_msgs),
               "--log: %s: node alive, follower still HALF_CLOSED, gets %s" % (name, expect_msgs),
               "alive %s, state reply %r, follower got %r" % (alive(), reply and reply["body"], msgs))

    def truncate_and_append():
        with open(path, "w") as f:
            f.write("")
        time.sleep(0.2)
        with open(path, "a") as f:
            f.write("WARN after-truncate\n")

    def delete_then_recreate():
        os.unlink(path)
        time.sleep(0.3)
        st = node.send("c1", {"type": "grpc_stream_state", "stream_id": sid})
        r = node.wait_for(lambda m: m["body"].get("in_reply_to") == st)
        result(alive() and r is not None, "--log: file deleted: node alive and answering",
               "alive %s reply %r" % (alive(), r))
        with open(path, "w") as f:
            f.write("INFO recreated-1\nDEBUG recreated-2\n")

    def append_more():
        with open(path, "a") as f:
            f.write("ERROR appended-after-recreate\n")

    def replace_by_rename():
        other = path + ".new"
        with open(other, "w") as f:
            f.write("INFO replaced-1\n")
        os.rename(other, path)

    def truncate_shorter():
        with open(path, "r+") as f:
            f.truncate(0)
            f.write("INFO short\n")

    step("truncated then appended", truncate_and_append, ["after-truncate"])
    step("deleted then recreated", delete_then_recreate, ["recreated-1", "recreated-2"])
    step("appended after recreate", append_more, ["appended-after-recreate"])
    step("replaced by rename (new inode)", replace_by_rename, ["replaced-1"])
    step("truncated and rewritten shorter in place", truncate_shorter, ["short"])
    # An Append through the node after all that still reaches the follower.
    a = node.send("c2", {"type": "grpc_call", "service": "LogWatcher", "method": "Append",
                         "request": {"level": "INFO", "msg": "via-append"}})
    r = node.wait_for(lambda m: m["body"].get("in_reply_to") == a)
    node.wait_for(lambda m: "via-append" in follow_msgs(node, sid), timeout=2)
    result(r is not None and r["body"].get("status") == "OK" and "via-append" in follow_msgs(node, sid),
           "--log: Append after the churn is written and followed", "reply %r, follower %r"
           % (r and r["body"], follow_msgs(node, sid)[-3:]))
    want = ["one", "two", "after-truncate", "recreated-1", "recreated-2", "appended-after-recreate",
            "replaced-1", "short", "via-append"]
    seqs = [m["body"]["seq"] for m in node.lines
            if m["body"].get("stream_id") == sid and m["body"]["type"] == "grpc_stream_msg"]
    result(follow_msgs(node, sid) == want and seqs == list(range(1, len(want) + 1)),
           "--log: the follower got each entry once, in order, seq 1..%d" % len(want),
           "got %r seq %r" % (follow_msgs(node, sid), seqs))
    node.p.stdin.close()
    try:
        rc = node.p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        node.p.kill()
        rc = node.p.wait()
    err = node.p.stderr.read().decode(errors="replace")
    node.p.stderr.close()
    result(rc == 0, "--log: node exits 0 at end of input after the churn", "exit %d, stderr %r" % (rc, err[-300:]))


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "grpcstream"))
    tmp = tempfile.mkdtemp(prefix="iofault-")
    try:
        # A private copy, safe from a concurrent rebuild.
        shutil.copy2(binary, os.path.join(tmp, "node"))
        binary = os.path.join(tmp, "node")
        shim = os.path.join(tmp, "iofault.so")
        cc = os.environ.get("CC", "cc")
        b = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O2",
                            "-shared", "-fPIC", "-o", shim, os.path.join(HERE, "iofault.c"), "-ldl"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        result(b.returncode == 0, "iofault: build tests/iofault.c with -Werror", b.stdout.decode()[-500:])
        if b.returncode == 0:
            fault_runs(binary, shim, tmp)
            stdout_closed(binary, tmp, shim)
            stdin_mid_line(binary, shim)
        else:
            print("SKIP: iofault runs (shim did not build)")
        log_churn(binary, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
