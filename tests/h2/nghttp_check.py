#!/usr/bin/python3
"""grpcstream --listen seen by nghttp (nghttp2-client), frame by frame.

    /usr/bin/python3 tests/h2/nghttp_check.py [--server CMD] [--build-dir DIR]

Sends one WatchLogs POST (filter ERROR, limit 2) and one call of an
unknown method with `nghttp -v`, and checks from its frame log:
- WatchLogs: HEADERS (:status 200, content-type application/grpc,
  no END_STREAM), DATA frames carrying exactly the two expected
  Length-Prefixed-Messages, then trailers (HEADERS with END_STREAM)
  with grpc-status 0;
- /LogWatcher/Nope: a Trailers-Only response, one HEADERS frame with
  END_STREAM holding :status 200, content-type, grpc-status 12 and
  grpc-message "unknown method", and no DATA.
Prints PASS:/FAIL:/SKIP: lines; SKIP when nghttp is not installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import lpm  # noqa: E402


def pb_string(field, s):
    b = s.encode()
    return bytes([field << 3 | 2, len(b)]) + b     # short strings only


WATCH_BODY = lpm(pb_string(1, "ERROR") + bytes([2 << 3 | 0, 2]))     # filter ERROR, limit 2
WANT_MESSAGES = [lpm(pb_string(1, "ERROR") + pb_string(2, "disk full")),
                 lpm(pb_string(1, "ERROR") + pb_string(2, "connection reset"))]

FRAME = re.compile(r"recv (\w+) frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>")
FIELD = re.compile(r"recv \(stream_id=(\d+)\) ([^:]*|:[^:]*): (.*)$")
SENT = re.compile(r"send HEADERS frame <length=\d+, flags=0x[0-9a-f]+, stream_id=(\d+)>")


def frames(text):
    """The frames nghttp received on the request's stream, in order:
    (type, length, flags, {field: value} for HEADERS)."""
    sid = None
    out = []
    fields = {}
    for line in text.split("\n"):
        m = SENT.search(line)
        if m and sid is None:
            sid = m.group(1)
        m = FIELD.search(line)
        if m and m.group(1) == sid:
            fields[m.group(2)] = m.group(3).rstrip("\r")
            continue
        m = FRAME.search(line)
        if m and m.group(4) == sid:
            out.append((m.group(1), int(m.group(2)), int(m.group(3), 16), fields if m.group(1) == "HEADERS" else None))
            fields = {}
    return out


def run_nghttp(srv, path, body, build_dir):
    body_file = os.path.join(build_dir, "nghttp-body.bin")
    with open(body_file, "wb") as f:
        f.write(body)
    url = "http://%s%s" % (srv.addr, path)
    p = subprocess.run(["nghttp", "-v", "-t", "5", "-d", body_file,
                        "-H", "content-type: application/grpc", "-H", "te: trailers", url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15)
    return p.returncode, p.stdout


def describe(fs):
    return "\n".join("%s length=%d flags=0x%02x %s" % (t, n, fl, h or "") for t, n, fl, h in fs)


def check_watch(srv, build_dir):
    rc, out = run_nghttp(srv, "/LogWatcher/WatchLogs", WATCH_BODY, build_dir)
    fs = frames(out.decode("latin-1"))
    problems = []
    if rc != 0:
        problems.append("nghttp exited %d" % rc)
    heads = [f for f in fs if f[0] == "HEADERS"]
    data = [f for f in fs if f[0] == "DATA"]
    if len(heads) != 2:
        problems.append("expected 2 HEADERS frames (response, trailers), got %d" % len(heads))
    else:
        h, t = heads
        if h[3].get(":status") != "200":
            problems.append("response :status %r" % h[3].get(":status"))
        if h[3].get("content-type") != "application/grpc":
            problems.append("response content-type %r" % h[3].get("content-type"))
        if h[2] & 1:
            problems.append("the response HEADERS has END_STREAM")
        if not t[2] & 1:
            problems.append("the trailers have no END_STREAM")
        if t[3].get("grpc-status") != "0":
            problems.append("trailers grpc-status %r (message %r)" % (t[3].get("grpc-status"), t[3].get("grpc-message")))
        if fs.index(h) > fs.index(data[0] if data else h) or (data and fs.index(t) < fs.index(data[-1])):
            problems.append("frames out of order")
    want = b"".join(WANT_MESSAGES)
    if sum(f[1] for f in data) != len(want):
        problems.append("DATA carried %d bytes, expected %d" % (sum(f[1] for f in data), len(want)))
    pos = 0
    for m in WANT_MESSAGES:        # nghttp writes the body between its log lines
        at = out.find(m, pos)
        if at < 0:
            problems.append("message %r not in the body" % m)
            break
        pos = at + len(m)
    return problems, describe(fs), out


def check_unknown(srv, build_dir):
    rc, out = run_nghttp(srv, "/LogWatcher/Nope", WATCH_BODY, build_dir)
    fs = frames(out.decode("latin-1"))
    problems = []
    if rc != 0:
        problems.append("nghttp exited %d" % rc)
    heads = [f for f in fs if f[0] == "HEADERS"]
    if len(heads) != 1 or any(f[0] == "DATA" for f in fs):
        problems.append("expected one HEADERS frame and no DATA (Trailers-Only)")
    elif not heads[0][2] & 1:
        problems.append("the HEADERS frame has no END_STREAM")
    else:
        h = heads[0][3]
        if h.get(":status") != "200":
            problems.append(":status %r" % h.get(":status"))
        if not h.get("content-type", "").startswith("application/grpc"):
            problems.append("content-type %r" % h.get("content-type"))
        if h.get("grpc-status") != "12":
            problems.append("grpc-status %r, expected 12" % h.get("grpc-status"))
        if urllib.parse.unquote(h.get("grpc-message", "")) != "unknown method":
            problems.append("grpc-message %r" % h.get("grpc-message"))
    return problems, describe(fs), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="./grpcstream")
    ap.add_argument("--build-dir", default=os.path.join("build", "h2"))
    args = ap.parse_args()
    report = common.Report()
    checks = [("nghttp: WatchLogs gets HEADERS, DATA, trailers grpc-status 0", check_watch),
              ("nghttp: unknown method gets a Trailers-Only grpc-status 12", check_unknown)]
    if not shutil.which("nghttp"):
        for name, _ in checks:
            report.skip(name, "nghttp not installed")
        return 0
    os.makedirs(args.build_dir, exist_ok=True)
    for name, fn in checks:
        srv = common.Server(args.server, args.build_dir)
        try:
            srv.start()
            problems, frame_log, out = fn(srv, args.build_dir)
            if problems:
                report.fail(name, "\n".join(problems) + "\nframes received:\n" + frame_log)
            else:
                report.passed(name)
        except Exception as e:
            report.fail(name, "%s: %s" % (type(e).__name__, e))
        finally:
            srv.stop()
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
