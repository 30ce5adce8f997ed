#!/usr/bin/python3
"""Abuse of grpcstream --listen: floods, bombs, stalls, bad frames.

    /usr/bin/python3 tests/h2/abuse.py [--server CMD] [--build-dir DIR]
                                       [--rss-limit-kib N] [NAME-PREFIX...]

Each case starts its own server (CMD --listen 127.0.0.1:PORT [--log FILE],
default ./grpcstream), abuses it over raw sockets with hand-built frames
(tests/h2/rawh2.py: no HTTP/2 library sends bad frames), and asserts:
  1. the server's answer: GOAWAY with its error code, RST_STREAM with its
     code, an HTTP or gRPC status, or a close -- PROTOCOL.md 2.3 and the
     README's "gRPC over HTTP/2" decisions;
  2. the server's peak RSS (VmHWM in /proc/PID/status) stays under
     --rss-limit-kib (8192; 0 turns it off, for sanitizer builds);
  3. a normal client (Append, then WatchLogs, on a new connection) is
     served right after; the server is alive and exits 0 on SIGTERM.
The "idle:" cases run a build with a 500 ms idle timeout, compiled here
(cc -std=c99 -O2 -DGS_H2_IDLE_MS=500 -o DIR/grpcstream-idle grpcstream.c
json.c). Prints PASS:/FAIL: (indented detail)/SKIP: lines, exits 1 on any
FAIL. Takes some 30 s.
"""
import argparse
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import rawh2  # noqa: E402
from rawh2 import (  # noqa: E402
    APPEND, CHAT, WATCH, CONTINUATION, DATA, PRIORITY, END_HEADERS, PREFACE, WINDOW_MAX,
    INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED,
    FRAME_SIZE_ERROR, CANCEL, ENHANCE_YOUR_CALM, Failure, RawConn, err_name, frame, headers_frame,
    data_frame, rst_stream, window_update, settings, ping, lit, lit_indexed, indexed, hp_int,
    request_block, request_fields, lpm, log_entry, watch_req, chat_msg, split_lpms, decode_chat,
    append_call, normal_client, grpc_ok, proc_mem, proc_cpu)

IDLE_MS = 500
HEADER_LIST = 16384                 # our SETTINGS_MAX_HEADER_LIST_SIZE
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]


# ------------------------------------------------------------ the runner

CASES = []


def case(name, build="main", log_lines=None):
    """Registers a case: fn(ctx) returns a note or raises Failure.
    build: "main" (--server) or "idle" (the 500 ms idle build);
    log_lines: run with --log FILE of that many generated lines."""
    def wrap(fn):
        CASES.append((name, fn, build, log_lines))
        return fn
    return wrap


class Ctx:
    def __init__(self, srv, build_dir, log_path):
        self.srv = srv
        self.port = srv.port
        self.pid = srv.proc.pid
        self.build_dir = build_dir
        self.log_path = log_path
        self.conns = []

    def conn(self, ready=True, **kw):
        """A client connection; unless ready=False or start=False, it has
        the server's SETTINGS and has acknowledged them."""
        c = RawConn(self.port, **kw)
        self.conns.append(c)
        if ready and kw.get("start", True):
            c.ready()
        return c

    def sock(self):
        """A plain connected socket (non-blocking), closed after the case."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        self.conns.append(s)
        return s

    def alive(self):
        if not self.srv.alive():
            raise Failure("the server exited (status %s)\n%s" % (self.srv.proc.returncode, self.srv.stderr()))

    def close_all(self):
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []


def log_file(build_dir, n):
    """A --log FILE of n lines "LEVEL entry NNNNNN xxx..."; returns
    (path, entries)."""
    path = os.path.join(build_dir, "abuse-%d.log" % n)
    entries = [(LEVELS[i % 4], "entry %06d %s" % (i, "x" * (i % 23))) for i in range(n)]
    with open(path, "w") as f:
        f.write("".join("%s %s\n" % e for e in entries))
    return path, entries


def run_case(rep, args, name, fn, build, log_lines, servers):
    cmd = servers.get(build)
    if cmd is None:
        rep.fail(name, "no %s build: %s" % (build, servers.get(build + "-why", "?")))
        return
    log_path = entries = None
    if log_lines:
        log_path, entries = log_file(args.build_dir, log_lines)
    srv = common.Server(cmd, args.build_dir, log=log_path)
    try:
        srv.start()
    except RuntimeError as e:
        rep.fail(name, e)
        return
    ctx = Ctx(srv, args.build_dir, log_path)
    ctx.entries = entries
    problems = []
    note = None
    t0 = time.monotonic()
    try:
        note = fn(ctx)
    except AssertionError as e:
        problems.append(str(e))
    except Exception:
        problems.append(traceback.format_exc(limit=5))
    took = time.monotonic() - t0
    ctx.close_all()
    notes = [note] if note else []
    if not srv.alive():
        problems.append("the server exited (status %s); stderr:\n%s" % (srv.proc.returncode, srv.stderr()))
    else:
        try:
            notes.append("then a normal client " + normal_client(srv.port, name[:40]))
        except AssertionError as e:
            problems.append("a normal client right after: %s" % e)
        except Exception:
            problems.append("a normal client right after:\n" + traceback.format_exc(limit=3))
        rss, hwm = proc_mem(srv.proc.pid)
        if hwm is not None:
            notes.append("VmHWM {:,} KiB".format(hwm))
            if args.rss_limit_kib and hwm > args.rss_limit_kib:
                problems.append("peak RSS (VmHWM) {:,} KiB is over the {:,} KiB bound".format(
                    hwm, args.rss_limit_kib))
    rc = srv.stop()
    if rc != 0 and not any("exited" in p for p in problems):
        problems.append("exit status %r after SIGTERM (expected 0); stderr:\n%s" % (rc, srv.stderr()))
    notes.append("%.1f s" % took)
    if problems:
        rep.fail(name, "\n".join(problems + ["(" + "; ".join(notes) + ")"]))
    else:
        rep.passed(name, "; ".join(notes))


# ------------------------------------------------------------ helpers

def expect_goaway(c, code, seconds=3.0, what="", codes=None):
    """Waits for GOAWAY and the close; raises unless GOAWAY carries `code`
    (or one of `codes`) and the server closed the connection."""
    ok_codes = codes or (code,)
    c.wait(lambda: c.goaway is not None or c.closed(), seconds)
    c.wait_closed(2.0)
    where = (" " + what) if what else ""
    if c.goaway is None:
        raise Failure("expected GOAWAY %s%s; got %s%s" % (
            " or ".join(err_name(k) for k in ok_codes), where, c.ending(), rst_note(c)))
    if c.goaway[1] not in ok_codes:
        raise Failure("expected GOAWAY %s%s; got GOAWAY %s" % (
            " or ".join(err_name(k) for k in ok_codes), where, c.goaway_text()))
    if not c.closed():
        raise Failure("GOAWAY %s%s, but the server did not close the connection within 2 s" % (
            c.goaway_text(), where))
    return "GOAWAY %s, closed" % err_name(c.goaway[1])


def rst_note(c):
    r = ["%d: %s" % (sid, err_name(s.reset)) for sid, s in sorted(c.streams.items()) if s.reset is not None]
    return "; RST_STREAM on streams %s" % ", ".join(r[:5]) if r else ""


def expect_rst(c, sid, code, seconds=3.0):
    s = c.stream(sid)
    c.wait(lambda: s.reset is not None or c.goaway is not None or c.closed(), seconds)
    if s.reset is None:
        raise Failure("expected RST_STREAM %s on stream %d; got %s; %s" % (
            err_name(code), sid, s.describe(), c.ending()))
    if s.reset != code:
        raise Failure("expected RST_STREAM %s on stream %d; got RST_STREAM %s" % (
            err_name(code), sid, err_name(s.reset)))
    return "RST_STREAM %s" % err_name(code)


def still_open(c, what):
    """A PING round trip: the connection is alive and served."""
    data = os.urandom(8)
    c.send(ping(data))
    c.wait(lambda: data in c.ping_acks, 3.0)
    if data not in c.ping_acks:
        raise Failure("after %s the connection does not answer a PING: %s" % (what, c.ending()))
    if c.goaway is not None:
        raise Failure("after %s: GOAWAY %s" % (what, c.goaway_text()))


def same_conn_call(c, what):
    """An Append on the same connection works."""
    try:
        seq = append_call(c, "SAME", "same connection after " + what)
    except Failure as e:
        raise Failure("the connection should go on after %s, but an Append on it failed: %s; %s" % (
            what, e, c.ending()))
    return seq


def blast(c, payload, unit, seconds=10.0, read=True):
    """Sends payload as fast as the socket takes it (reading what comes,
    if `read`) until it is all sent, the server says GOAWAY or closes, or
    `seconds` pass. Whole units of `unit` bytes go into the connection's
    output queue, so that its automatic answers fall between frames.
    Returns (units of `unit` bytes written, seconds)."""
    step = max(1, (1 << 16) // unit) * unit
    off = 0
    out0 = c.bytes_out
    c.started = True
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if read and (c.goaway is not None or c.closed()):
            break
        if off < len(payload) and len(c.outbuf) < step:
            c.outbuf += payload[off:off + step]
            off += step
        if not c.outbuf:
            break
        n = c.write_out()
        if n < 0:
            break
        if read:
            c.read_some()
        if n == 0:
            select.select([c.sock] if read else [], [c.sock], [], 0.05)
    return min(len(payload), c.bytes_out - out0) // unit, time.monotonic() - t0


def bidi_open(c, sid=None):
    return c.open(CHAT, None, end=False, sid=sid)


# ------------------------------------------------------- 1. rapid reset

def reset_pairs(n, first_sid=1):
    block = request_block(CHAT)
    unit = headers_frame(1, block) + rst_stream(1, CANCEL)
    out = bytearray()
    hdr_len = len(headers_frame(1, block))
    for k in range(n):
        sid = first_sid + 2 * k
        h = bytearray(unit)
        struct.pack_into(">I", h, 5, sid)
        struct.pack_into(">I", h, hdr_len + 5, sid)
        out += h
    return bytes(out), len(unit)


@case("rapid reset: 900 HEADERS+RST_STREAM (within the 1,000 burst), then a call on that connection works")
def t_reset_budget(ctx):
    c = ctx.conn()
    payload, unit = reset_pairs(900)
    cpu0 = proc_cpu(ctx.pid)
    sent, secs = blast(c, payload, unit)
    if sent != 900 or c.goaway is not None:
        raise Failure("900 resets within the burst: %d sent, %s" % (sent, c.ending()))
    c.next_sid = 1 + 2 * 900
    seq = same_conn_call(c, "900 resets")
    cpu = proc_cpu(ctx.pid) - cpu0
    return "Append seq %d on the same connection; server CPU %.2f s for 900 resets" % (seq, cpu)


@case("rapid reset (CVE-2023-44487): 100,000 HEADERS+RST_STREAM on one connection: GOAWAY ENHANCE_YOUR_CALM")
def t_rapid_reset(ctx):
    c = ctx.conn()
    payload, unit = reset_pairs(100000)
    cpu0 = proc_cpu(ctx.pid)
    sent, secs = blast(c, payload, unit, seconds=15.0)
    note = expect_goaway(c, ENHANCE_YOUR_CALM, what="after %d resets" % sent)
    cpu = proc_cpu(ctx.pid) - cpu0
    last = c.goaway[0]
    if cpu > 3.0:
        raise Failure("the server used %.1f s of CPU on the resets (%s)" % (cpu, note))
    return "%s; %d pairs sent in %.2f s, GOAWAY last-stream-id %d (%d streams); server CPU %.2f s" % (
        note, sent, secs, last, (last + 1) // 2, cpu)


@case("rapid reset: 1,000 resets, then 60/s for 3 s (under the 100/s refill): never GOAWAY")
def t_reset_refill(ctx):
    c = ctx.conn()
    payload, unit = reset_pairs(1000 + 180)
    sent, _ = blast(c, payload[:950 * unit], unit)
    if sent != 950 or c.goaway is not None:
        raise Failure("a burst of 950: %d sent, %s" % (sent, c.ending()))
    k = 950
    t0 = time.monotonic()
    while k < 1130:
        due = t0 + (k - 950) / 60.0
        c.pump(max(0.0, due - time.monotonic()))
        c.send(payload[k * unit:(k + 1) * unit])
        k += 1
        if c.goaway is not None or c.closed():
            raise Failure("after %d resets (%d at 60/s): %s" % (k, k - 950, c.ending()))
    c.next_sid = 1 + 2 * k
    seq = same_conn_call(c, "%d resets" % k)
    return "%d resets over %.1f s; Append seq %d on the same connection" % (k, time.monotonic() - t0, seq)


# ------------------------------------------------ 2. CONTINUATION flood

def continuation_flood(ctx, piece, n, what):
    c = ctx.conn()
    head = headers_frame(1, request_block(CHAT), end_headers=False)
    cont = frame(CONTINUATION, 0, 1, piece)
    c.send(head)
    sent, secs = blast(c, cont * n, len(cont))
    note = expect_goaway(c, ENHANCE_YOUR_CALM, what="after %d %s CONTINUATIONs" % (sent, what))
    if c.streams.get(1) and c.streams[1].headers:
        raise Failure("stream 1 was answered: %s" % c.streams[1].describe())
    return "%s after %d CONTINUATIONs were sent (in %.2f s)" % (note, sent, secs)


@case("CONTINUATION flood (CVE-2024-27316): HEADERS, then 100,000 empty CONTINUATIONs: GOAWAY ENHANCE_YOUR_CALM")
def t_cont_empty(ctx):
    return continuation_flood(ctx, b"", 100000, "empty")


@case("CONTINUATION flood: 100,000 one-field (1 byte) CONTINUATIONs: GOAWAY ENHANCE_YOUR_CALM")
def t_cont_small(ctx):
    return continuation_flood(ctx, indexed(16), 100000, "1-byte")   # accept-encoding: gzip, deflate


@case("CONTINUATION: a header block of 81,920 bytes in 5 frames (over 65,536): GOAWAY ENHANCE_YOUR_CALM")
def t_cont_big_block(ctx):
    c = ctx.conn()
    block = bytearray(request_block(CHAT))
    k = 0
    while len(block) < 5 * 16384:
        block += lit("x-field-%05d" % k, "v" * 40)
        k += 1
    block = bytes(block[:5 * 16384])
    out = headers_frame(1, block[:16384], end_headers=False)
    for i in range(1, 5):
        out += frame(CONTINUATION, END_HEADERS if i == 4 else 0, 1, block[i * 16384:(i + 1) * 16384])
    blast(c, out, 1)
    return expect_goaway(c, ENHANCE_YOUR_CALM, what="after a header block of 81,920 bytes")


# ---------------------------------------------------------- 3. HPACK bomb

@case("HPACK bomb: a 4,000-byte field indexed once, referenced 12,000 times (48 MB decoded): GOAWAY ENHANCE_YOUR_CALM")
def t_hpack_bomb(ctx):
    c = ctx.conn()
    block = request_block(CHAT) + lit_indexed("x-bomb", "b" * 4000) + indexed(62) * 12000
    cpu0 = proc_cpu(ctx.pid)
    c.stream(1)
    c.send(headers_frame(1, block, end_stream=True))
    note = expect_goaway(c, ENHANCE_YOUR_CALM, what="after the bomb")
    cpu = proc_cpu(ctx.pid) - cpu0
    if c.streams[1].headers:
        raise Failure("the bomb's stream was answered: %s" % c.streams[1].describe())
    return "%s; server CPU %.2f s" % (note, cpu)


@case("HPACK: a header list of ~20,000 bytes (over 16,384, under 32,768): HTTP 431, the connection goes on")
def t_hpack_431(ctx):
    c = ctx.conn()
    block = request_block(CHAT) + lit_indexed("x-pad", "p" * 1000) + indexed(62) * 18
    size = sum(len(n) + len(v) + 32 for n, v in request_fields(CHAT)) + 19 * (5 + 1000 + 32)
    s = c.stream(1)
    c.send(headers_frame(1, block, end_stream=True))
    c.wait(lambda: s.done() or c.goaway is not None, 3.0)
    status = (s.headers or {}).get(":status")
    if status != "431" or not s.ended:
        raise Failure("a header list of %d bytes: expected :status 431 and END_STREAM; got %s; %s" % (
            size, s.describe(), c.ending()))
    c.next_sid = 3
    seq = same_conn_call(c, "a 431")
    return "header list of %d bytes: 431; Append seq %d on the same connection" % (size, seq)


@case("HPACK: one header value of 1 MiB across CONTINUATIONs: GOAWAY ENHANCE_YOUR_CALM")
def t_hpack_huge_value(ctx):
    c = ctx.conn()
    block = request_block(CHAT) + b"\x00" + rawh2.hp_str("x-huge") + hp_int(1 << 20, 7) + b"h" * (1 << 20)
    out = headers_frame(1, block[:16384], end_headers=False)
    pieces = [block[k:k + 16384] for k in range(16384, len(block), 16384)]
    for i, p in enumerate(pieces):
        out += frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, 1, p)
    sent, secs = blast(c, out, 16384 + 9)
    return expect_goaway(c, ENHANCE_YOUR_CALM, what="with a 1 MiB header value") + \
        " (%d of %d frames sent)" % (sent, len(pieces) + 1)


# --------------------------------------------- 4. SETTINGS / PING floods

def never_reading_flood(ctx, unit_frame, what, codes=(ENHANCE_YOUR_CALM,), seconds=8.0):
    """Sends preface + SETTINGS, then `unit_frame` over and over, never
    reading, until the socket takes nothing for 1 s (the server stopped
    reading) or `seconds` pass. Then: a normal client is served while the
    flooder is stuck, RSS is bounded, the server does not spin, and the
    server closes the flooding connection (GOAWAY, if the client gets to
    see one, with one of `codes`)."""
    s = ctx.sock()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    cpu_start = proc_cpu(ctx.pid)
    head = PREFACE + settings()
    chunk = unit_frame * ((1 << 16) // len(unit_frame))
    pending = memoryview(head + chunk)
    total = 0
    t0 = last = time.monotonic()
    err = None
    stuck_at = None                 # when the server first read nothing for 0.3 s
    after_stuck = 0                 # bytes it took after that
    while True:
        now = time.monotonic()
        if now - last > 1.0 or now - t0 > seconds:
            break
        if stuck_at is None and now - last > 0.3:
            stuck_at = now
        try:
            k = s.send(pending)
            total += k
            if stuck_at is not None:
                after_stuck += k
            pending = pending[k:]
            if not len(pending):
                pending = memoryview(chunk)
            last = now
        except (BlockingIOError, InterruptedError):
            select.select([], [s], [], 0.1)
        except OSError as e:
            err = e
            break
    sent = max(0, total - len(head)) // len(unit_frame)
    stalled = err is None and time.monotonic() - last > 1.0
    note = "{:,} {} sent in {:.1f} s{}{}".format(
        sent, what, last - t0,
        "" if stuck_at is None else ", the server stopped reading after {:.2f} s{}".format(
            stuck_at - 0.3 - t0, ", then took {:,} bytes more".format(after_stuck) if after_stuck else ""),
        ", then nothing more for 1 s" if stalled else
        ", then send failed: %s" % err if err else ", still sending (no stall)")
    # Others are served while the flooder is stuck (or gone).
    other = normal_client(ctx.port, "during a %s flood" % what)
    rss, hwm = proc_mem(ctx.pid)
    cpu0 = proc_cpu(ctx.pid)
    time.sleep(1.0)
    cpu = proc_cpu(ctx.pid) - cpu0
    # Now read: the server must have closed the connection (GOAWAY
    # ENHANCE_YOUR_CALM if it got through), not be waiting for us.
    acks = goaway = None
    buf = bytearray()
    closed = None
    end = time.monotonic() + 5.0
    quiet_since = time.monotonic()
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            if time.monotonic() - quiet_since > 1.5:
                break
            continue
        try:
            chunk = s.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError as e:
            closed = "reset (%s)" % e.strerror
            break
        if not chunk:
            closed = "closed (FIN)"
            break
        buf += chunk
        quiet_since = time.monotonic()
    acks, goaway = scan_frames(buf)
    detail = ("%s; a normal client %s while it was stuck; server CPU %.2f s in 1 s after, %.2f s in all; "
              "%d bytes then read (%s), GOAWAY %s") % (
        note, other, cpu, proc_cpu(ctx.pid) - cpu_start, len(buf), acks, err_name(goaway))
    if closed is not None:
        detail += "; connection %s" % closed
    cpu_all = proc_cpu(ctx.pid) - cpu_start
    if cpu > 0.2:
        raise Failure("the server spins while the flooder is stuck: %s" % detail)
    if after_stuck > 16 << 20:
        raise Failure(("once it had stopped reading, the server took {:,} more bytes from a peer that "
                       "reads nothing (reads and discards input while closing?): {}").format(after_stuck, detail))
    if cpu_all > 0.25:
        raise Failure("the flood cost the server %.2f s of CPU (bounded work expected): %s" % (cpu_all, detail))
    if closed is None:
        raise Failure("the server did not close the flooding connection: %s" % detail)
    if goaway is not None and goaway not in codes:
        raise Failure("GOAWAY %s, expected %s: %s" % (
            err_name(goaway), " or ".join(err_name(k) for k in codes), detail))
    return detail


def scan_frames(buf):
    """Counts of each frame type in buf, and the last GOAWAY's code."""
    counts = {}
    goaway = None
    i = 0
    while len(buf) - i >= 9:
        ln = buf[i] << 16 | buf[i + 1] << 8 | buf[i + 2]
        t = buf[i + 3]
        if len(buf) - i - 9 < ln:
            break
        if t == rawh2.GOAWAY and ln >= 8:
            goaway = struct.unpack(">I", buf[i + 13:i + 17])[0]
        name = rawh2.FRAME_NAMES[t] if t < 10 else str(t)
        counts[name] = counts.get(name, 0) + 1
        i += 9 + ln
    return ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "no frames", goaway


@case("PING flood from a client that never reads: bounded, others served, the server closes it")
def t_ping_flood(ctx):
    return never_reading_flood(ctx, ping(b"flooding"), "PINGs")


@case("SETTINGS flood from a client that never reads: bounded, others served, the server closes it")
def t_settings_flood(ctx):
    return never_reading_flood(ctx, settings((MAX_FRAME_SIZE, 16384)), "SETTINGS")


@case("WINDOW_UPDATE flood: 100,000 valid increments (2e9 in all) are fine; one past 2^31-1: GOAWAY FLOW_CONTROL_ERROR")
def t_window_flood(ctx):
    c = ctx.conn(window=0)
    wu = window_update(0, 20000)
    sent, secs = blast(c, wu * 100000, len(wu))
    if sent != 100000 or c.goaway is not None or c.closed():
        raise Failure("after %d valid WINDOW_UPDATEs: %s" % (sent, c.ending()))
    still_open(c, "100,000 valid WINDOW_UPDATEs")
    room = WINDOW_MAX - 65535 - 100000 * 20000
    c.send(window_update(0, room))
    still_open(c, "raising the window to exactly 2^31-1")
    c.send(window_update(0, 1))
    return "100,000 sent in %.2f s, window at 2^31-1 fine; +1: %s" % (
        secs, expect_goaway(c, FLOW_CONTROL_ERROR, what="when the window passes 2^31-1"))


# ------------------------------------------------- 5. zero-window stall

@case("zero window: 6 WatchLogs of a 100,000-line log never granted window for 3 s: CPU ~0, then every entry once, in order",
      log_lines=100000)
def t_zero_window(ctx):
    c = ctx.conn(settings_pairs=[(INITIAL_WINDOW_SIZE, 0)], window=0, auto_window=False)
    entries = ctx.entries
    calls = [("", 0), ("", 0), ("", 0), ("", 0), ("ERROR", 0), ("", 50000)]
    sids = []
    for flt, limit in calls:
        sids.append(c.open(WATCH, lpm(watch_req(filter=flt, limit=limit))))
    c.pump(0.5)
    cpu0 = proc_cpu(ctx.pid)
    c.pump(3.0)
    cpu = proc_cpu(ctx.pid) - cpu0
    rss, hwm = proc_mem(ctx.pid)
    early = sum(len(c.streams[s].data) for s in sids)
    if early:
        raise Failure("%d DATA bytes arrived with a zero window" % early)
    bad = [c.streams[s].describe() for s in sids if c.streams[s].done()]
    if bad or c.goaway is not None:
        raise Failure("calls ended while stalled: %s; %s" % (bad[:2], c.ending()))
    if cpu > 0.1:
        raise Failure("the server used %.2f s of CPU in 3 s of zero window" % cpu)
    out = bytearray()
    for s in sids:
        out += window_update(s, WINDOW_MAX)
    out += window_update(0, WINDOW_MAX - 65535)
    t0 = time.monotonic()
    c.send(bytes(out))
    c.wait(lambda: all(c.streams[s].done() for s in sids), 30.0, what="the end of the 6 calls")
    took = time.monotonic() - t0
    total = 0
    for (flt, limit), sid in zip(calls, sids):
        st = c.streams[sid]
        grpc_ok(st, "WatchLogs filter %r limit %d" % (flt, limit))
        want = [e for e in entries if not flt or e[0] == flt]
        if limit:
            want = want[:limit]
        exp = b"".join(lpm(log_entry(*e)) for e in want)
        if bytes(st.data) != exp:
            got = [rawh2.decode_entry(m) for m in split_lpms(bytes(st.data))]
            raise Failure("WatchLogs filter %r limit %d: %s" % (flt, limit, first_diff(got, want)))
        total += len(want)
    return "CPU %.3f s over 3 s stalled (VmHWM {:,} KiB then); {:,} entries in order after the grant, in %.1f s".format(
        hwm, total) % (cpu, took)


def first_diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "entry %d is %r, expected %r (%d entries, expected %d)" % (i + 1, g, w, len(got), len(want))
    return "%d entries, expected %d" % (len(got), len(want))


# ------------------------------------------- 6. connections: count, idle

@case("connections: 16 held open, 4 more are closed at once by the server; the 16 still served")
def t_too_many(ctx):
    held = [ctx.conn() for _ in range(16)]
    for c in held:
        c.wait(lambda: c.server_settings, 3.0, what="the server's SETTINGS on one of 16 connections")
    extra = []
    for i in range(4):
        e = ctx.conn(ready=False)
        t0 = time.monotonic()
        e.wait_closed(2.0)
        extra.append((e, time.monotonic() - t0))
    bad = ["extra %d: %s" % (i + 1, e.ending()) for i, (e, t) in enumerate(extra) if not e.closed() or t > 1.0]
    if bad:
        raise Failure("connections beyond 16 were not closed within 1 s: %s" % "; ".join(bad))
    for k, c in enumerate(held):
        still_open(c, "4 extra connections (connection %d)" % (k + 1))
    held[0].close()
    time.sleep(0.1)                 # (a connection at once may be refused: the server accepts
    got = normal_client(ctx.port, "17th after one closed")     # before it reads the EOF)
    ctx.close_all()
    time.sleep(0.2)
    return "extra ones closed in %s ms (%s); after one of the 16 closed a new one was %s" % (
        "/".join("%.0f" % (t * 1000) for _, t in extra),
        "GOAWAY %s" % err_name(extra[0][0].goaway[1]) if extra[0][0].goaway else "no GOAWAY", got)


def idle_close(c, t_ref, what, lo=0.3, hi=2.0):
    """Waits for the server to close c; asserts GOAWAY NO_ERROR and a close
    between lo and hi seconds after t_ref."""
    c.wait_closed(hi + 1.5)
    if not c.closed():
        raise Failure("%s: still open %.1f s later (%s)" % (what, time.monotonic() - t_ref, c.ending()))
    t = c.closed_at - t_ref
    if c.goaway is None or c.goaway[1] != NO_ERROR:
        raise Failure("%s: closed after %.2f s with %s, expected GOAWAY NO_ERROR" % (what, t, c.ending()))
    if not lo <= t <= hi:
        raise Failure("%s: closed after %.2f s, expected %.1f..%.1f s (GS_H2_IDLE_MS %d)" % (
            what, t, lo, hi, IDLE_MS))
    return t


@case("idle: a connection that sends nothing at all is closed (GOAWAY NO_ERROR) after ~500 ms", build="idle")
def t_idle_nothing(ctx):
    t0 = time.monotonic()
    c = ctx.conn(start=False)
    t = idle_close(c, t0, "no preface")
    return "closed after %.2f s" % t


@case("idle: a connection with no calls is closed (GOAWAY NO_ERROR) after ~500 ms without a frame", build="idle")
def t_idle_no_calls(ctx):
    c = ctx.conn()
    c.wait(lambda: c.server_settings, 2.0, what="the server's SETTINGS")
    c.flush()
    t0 = time.monotonic()           # our last frame: the SETTINGS ACK
    t = idle_close(c, t0, "preface + SETTINGS, then silence")
    return "closed after %.2f s" % t


@case("idle: a slow client (a PING frame one byte per 250 ms) is closed (GOAWAY NO_ERROR) ~500 ms after its last whole frame",
      build="idle")
def t_idle_slow(ctx):
    c = ctx.conn()
    c.wait(lambda: c.server_settings, 2.0, what="the server's SETTINGS")
    c.flush()
    t0 = time.monotonic()
    dribble = ping(b"slowslow")
    for k in range(len(dribble)):
        if c.try_send(dribble[k:k + 1]) < 0:
            break
        c.pump(0.25)
        if c.closed():
            break
    t = idle_close(c, t0, "one byte per 250 ms", hi=2.0)
    return "closed %.2f s after its last whole frame, %d bytes into the dribbled frame" % (t, k + 1)


@case("idle: a connection with a call whose client answers nothing: PING after ~500 ms, GOAWAY NO_ERROR ~500 ms later",
      build="idle")
def t_idle_dead_peer(ctx):
    c = ctx.conn(answer_pings=False)
    c.wait(lambda: c.server_settings, 2.0, what="the server's SETTINGS")
    sid = c.open(WATCH, lpm(watch_req(filter="NOTHING", follow=True)))
    t0 = time.monotonic()
    c.wait(lambda: c.pings or c.closed(), 3.0)
    if not c.pings:
        raise Failure("no PING from the server within 3 s with a call open: %s" % c.ending())
    tp = c.pings[0][0] - t0
    t = idle_close(c, t0, "a peer that answers no PING", lo=0.6, hi=2.5)
    s = c.streams[sid]
    if not 0.3 <= tp <= 1.5:
        raise Failure("the PING came %.2f s after the last frame, expected ~0.5 s" % tp)
    if t - tp < 0.3:
        raise Failure("closed %.2f s after its PING, expected ~0.5 s" % (t - tp))
    return "PING after %.2f s, GOAWAY NO_ERROR and close after %.2f s; the call: %s" % (
        tp, t, "RST_STREAM %s" % err_name(s.reset) if s.reset is not None else
        "grpc-status %s" % s.status() if s.ended else "no end seen")


@case("idle: a follow watch whose client answers PINGs stays open 3 s (6 idle periods), then gets an Append",
      build="idle")
def t_idle_alive(ctx):
    c = ctx.conn(answer_pings=True)
    sid = c.open(WATCH, lpm(watch_req(filter="KEEP", follow=True)))
    c.pump(3.0)
    s = c.streams[sid]
    if c.closed() or c.goaway is not None or s.done():
        raise Failure("after 3 s: %s; %s" % (s.describe(), c.ending()))
    other = RawConn(ctx.port)
    ctx.conns.append(other)
    append_call(other, "KEEP", "still here")
    c.wait(lambda: len(s.data) > 0, 3.0, what="the appended entry on the watch")
    got = [rawh2.decode_entry(m) for m in split_lpms(bytes(s.data))]
    if got != [("KEEP", "still here")]:
        raise Failure("the watch got %r" % got)
    return "%d PINGs answered in 3 s, the entry arrived" % len(c.pings)


@case("idle: a PING flood from a client that never reads is dropped", build="idle")
def t_idle_flood(ctx):
    return never_reading_flood(ctx, ping(b"flooding"), "PINGs", codes=(NO_ERROR, ENHANCE_YOUR_CALM))


# ------------------------------------------------------------ 7. frames

@case("stream ids: even (2), decreasing (5 then 3), reused (1 after it closed), 0: GOAWAY PROTOCOL_ERROR")
def t_stream_ids(ctx):
    notes = []
    c = ctx.conn()
    c.send(headers_frame(2, request_block(CHAT)))
    notes.append("even: " + expect_goaway(c, PROTOCOL_ERROR, what="for HEADERS on stream 2"))
    c = ctx.conn()
    bidi_open(c, sid=5)
    c.send(headers_frame(3, request_block(CHAT)))
    notes.append("decreasing: " + expect_goaway(c, PROTOCOL_ERROR, what="for HEADERS on 3 after 5"))
    c = ctx.conn()
    grpc_ok(c.call(APPEND, lpm(log_entry("INFO", "reuse"))), "Append on stream 1")
    c.send(headers_frame(1, request_block(CHAT)))
    notes.append("reused: " + expect_goaway(c, PROTOCOL_ERROR, what="for HEADERS on closed stream 1",
                                            codes=(PROTOCOL_ERROR, STREAM_CLOSED)))
    for name, f in [("HEADERS", headers_frame(0, request_block(CHAT))),
                    ("DATA", data_frame(0, b"x")),
                    ("RST_STREAM", rst_stream(0, CANCEL)),
                    ("PRIORITY", frame(PRIORITY, 0, 0, b"\x00\x00\x00\x01\x10"))]:
        c = ctx.conn()
        c.send(f)
        notes.append("%s on 0: %s" % (name, expect_goaway(c, PROTOCOL_ERROR, what="for %s on stream 0" % name)))
    return "; ".join(notes)


@case("windows: connection window past 2^31-1: GOAWAY FLOW_CONTROL_ERROR; a stream's: RST_STREAM, the connection goes on")
def t_window_overflow(ctx):
    c = ctx.conn(window=0)
    c.send(window_update(0, WINDOW_MAX))
    n1 = expect_goaway(c, FLOW_CONTROL_ERROR, what="for a connection window of 2^31-1 + 65,535")
    c = ctx.conn()
    sid = bidi_open(c)
    c.send(window_update(sid, WINDOW_MAX))
    n2 = expect_rst(c, sid, FLOW_CONTROL_ERROR)
    seq = same_conn_call(c, "a stream's window overflow")
    c = ctx.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 1 << 31)))
    n3 = expect_goaway(c, FLOW_CONTROL_ERROR, what="for SETTINGS_INITIAL_WINDOW_SIZE 2^31")
    return "connection: %s; stream: %s, then Append seq %d; INITIAL_WINDOW_SIZE 2^31: %s" % (n1, n2, seq, n3)


@case("WINDOW_UPDATE of 0: on the connection GOAWAY PROTOCOL_ERROR; on a stream RST_STREAM PROTOCOL_ERROR")
def t_window_zero(ctx):
    c = ctx.conn()
    c.send(window_update(0, 0))
    n1 = expect_goaway(c, PROTOCOL_ERROR, what="for WINDOW_UPDATE 0 on stream 0")
    c = ctx.conn()
    sid = bidi_open(c)
    c.send(window_update(sid, 0))
    n2 = expect_rst(c, sid, PROTOCOL_ERROR)
    seq = same_conn_call(c, "WINDOW_UPDATE 0 on a stream")
    return "connection: %s; stream: %s, then Append seq %d" % (n1, n2, seq)


@case("frames over 16,384 bytes (HEADERS, DATA, unknown type, a 16 MiB length): GOAWAY FRAME_SIZE_ERROR")
def t_frame_size(ctx):
    notes = []
    big_block = request_block(CHAT) + lit("x-fill", "f" * 16384)
    c = ctx.conn()
    c.send(headers_frame(1, big_block[:16385]))
    notes.append("HEADERS: " + expect_goaway(c, FRAME_SIZE_ERROR, what="for a 16,385-byte HEADERS"))
    c = ctx.conn()
    sid = bidi_open(c)
    c.send(data_frame(sid, b"\0" * 16385))
    notes.append("DATA: " + expect_goaway(c, FRAME_SIZE_ERROR, what="for a 16,385-byte DATA"))
    c = ctx.conn()
    c.send(frame(0xFA, 0, 0, b"u" * 16385))
    notes.append("unknown: " + expect_goaway(c, FRAME_SIZE_ERROR, what="for a 16,385-byte frame of type 0xfa"))
    c = ctx.conn()
    c.send(frame(DATA, 0, 1, b"abc", length=0xFFFFFF))
    notes.append("16 MiB: " + expect_goaway(c, FRAME_SIZE_ERROR, what="for a frame header claiming 16 MiB"))
    return "; ".join(notes)


@case("DATA beyond a stream's window (echoes stalled, buffer full): FLOW_CONTROL_ERROR")
def t_data_beyond_window(ctx):
    c = ctx.conn(settings_pairs=[(INITIAL_WINDOW_SIZE, 0)])
    sid = bidi_open(c)
    window = 65535                  # the server's SETTINGS_INITIAL_WINDOW_SIZE
    c.wait(lambda: c.server_settings, 2.0, what="the server's SETTINGS")
    for k, v in c.server_settings[0]:
        if k == INITIAL_WINDOW_SIZE:
            window = v
    stream = lpm(chat_msg("w" * 995)) * 400     # 1,003-byte messages, back to back
    sent = 0
    end = time.monotonic() + 5.0
    st = c.streams[sid]
    while time.monotonic() < end:
        c.pump(0.3)                 # the grants the server had to give
        if st.done() or c.goaway is not None:
            raise Failure(("the call ended while the client was within its window: {:,} bytes sent, "
                           "no more than the stream's window {:,} + WINDOW_UPDATEs {} (the stream's buffer "
                           "holds GS_H2_BUF, 132,096 by default): {}; {}").format(
                sent, window, [inc for k, inc in c.window_log if k == sid], st.describe(), c.ending()))
        room = window + c.window_updates.get(sid, 0) - sent
        if room <= 0:
            break
        c.send_data(sid, stream[sent:sent + room], raw=True)
        sent += room
    c.pump(0.5)
    room = window + c.window_updates.get(sid, 0) - sent
    if room > 0:
        raise Failure("the stream's window stays open (%d bytes sent, %d more granted)" % (sent, room))
    c.send_data(sid, b"\0" * 1000, raw=True)
    s = c.streams[sid]
    c.wait(lambda: s.reset is not None or c.goaway is not None or c.closed(), 3.0)
    if s.reset == FLOW_CONTROL_ERROR:
        return "RST_STREAM FLOW_CONTROL_ERROR after {:,} bytes in the window".format(sent)
    if c.goaway is not None and c.goaway[1] == FLOW_CONTROL_ERROR:
        return "GOAWAY FLOW_CONTROL_ERROR after {:,} bytes in the window".format(sent)
    raise Failure("1,000 bytes beyond the window ({:,} sent): expected FLOW_CONTROL_ERROR; {}; {}".format(
        sent, s.describe(), c.ending()))


@case("a message length prefix of 4 GiB on Append, WatchLogs, BiDiChat: RESOURCE_EXHAUSTED at once")
def t_huge_prefix(ctx):
    c = ctx.conn()
    notes = []
    for path in (APPEND, WATCH, CHAT):
        sid = c.open(path, b"\x00\xff\xff\xff\xff" + b"\x0a\x01x", end=False)
        s = c.streams[sid]
        c.wait(lambda: s.ended or s.reset is not None or c.closed(), 3.0)
        if s.status() != "8":
            raise Failure("%s with a 4 GiB prefix: expected grpc-status 8 (RESOURCE_EXHAUSTED); %s; %s" % (
                path, s.describe(), c.ending()))
        notes.append("%s %r" % (path.rsplit("/", 1)[1], s.message()))
    seq = same_conn_call(c, "three RESOURCE_EXHAUSTED calls")
    return "; ".join(notes) + "; Append seq %d on the same connection" % seq


@case("a BiDiChat message of 50,000 bytes in 50,000 one-byte DATA frames is echoed right")
def t_one_byte_frames(ctx):
    c = ctx.conn()
    text = "".join(chr(0x61 + (i * 7) % 26) for i in range(49991))
    msg = lpm(chat_msg(text))
    assert len(msg) == 50000
    sid = bidi_open(c)
    out = b"".join(data_frame(sid, msg[i:i + 1]) for i in range(len(msg))) + data_frame(sid, b"", True)
    t0 = time.monotonic()
    c.send(out, deadline=20.0)
    s = c.streams[sid]
    c.wait(s.done, 20.0, what="the echo's end")
    grpc_ok(s, "BiDiChat")
    got = [decode_chat(m) for m in split_lpms(bytes(s.data))]
    if got != ["echo: " + text]:
        raise Failure("echo: %d messages, first %r" % (len(got), (got[0][:40] + "...") if got else None))
    return "echoed in %.2f s" % (time.monotonic() - t0)


@case("a BiDiChat message with the compressed flag and no grpc-encoding: INTERNAL")
def t_compressed_flag(ctx):
    c = ctx.conn()
    sid = bidi_open(c)
    c.send_data(sid, lpm(chat_msg("first")))
    s = c.streams[sid]
    c.wait(lambda: len(s.data) > 0, 3.0, what="the first echo")
    c.send_data(sid, lpm(chat_msg("squeezed"), flag=1))
    c.wait(s.done, 3.0, what="the call's end")
    if s.status() != "13":
        raise Failure("expected grpc-status 13 (INTERNAL): %s" % s.describe())
    return "INTERNAL %r after the first echo" % s.message()


@case("an HTTP/1.1 GET instead of the preface: GOAWAY PROTOCOL_ERROR, closed")
def t_http11(ctx):
    c = ctx.conn(start=False)
    c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    return expect_goaway(c, PROTOCOL_ERROR, what="for an HTTP/1.1 request")


@case("the preface, then a PING before any SETTINGS: GOAWAY PROTOCOL_ERROR")
def t_no_settings_first(ctx):
    c = ctx.conn(start=False)
    c.send(PREFACE + ping())
    return expect_goaway(c, PROTOCOL_ERROR, what="for a first frame that is not SETTINGS")


@case("1 MB of random bytes after a valid preface and SETTINGS (3 seeds): GOAWAY, closed")
def t_random_bytes(ctx):
    notes = []
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        junk = bytes(rng.getrandbits(8) for _ in range(1 << 20))
        c = ctx.conn()
        c.wait(lambda: c.server_settings, 2.0, what="the server's SETTINGS")
        blast(c, junk, 1)
        c.wait(lambda: c.goaway is not None or c.closed(), 3.0)
        c.wait_closed(2.0)
        if c.goaway is None or not c.closed():
            raise Failure("seed %d: expected a GOAWAY and a close: %s" % (seed, c.ending()))
        notes.append(err_name(c.goaway[1]))
    return "GOAWAY " + ", ".join(notes)


@case("random frames: 300 connections of plausible but random frames, each ended by the server or by EOF")
def t_random_frames(ctx):
    codes = {}
    for seed in range(300):
        rng = random.Random(1000 + seed)
        out = bytearray(PREFACE + settings())
        sid = 1
        for _ in range(rng.randrange(1, 40)):
            t = rng.choice([0, 1, 1, 2, 3, 4, 6, 8, 9, 9, 0x10])
            flags = rng.choice([0, 1, 4, 5, 8, 0x20, 0x25, rng.getrandbits(8)])
            s = rng.choice([0, sid, sid + 2, rng.getrandbits(31), 2])
            if s == sid + 2:
                sid += 2
            if t == 1 and rng.random() < 0.6:
                payload = request_block(rng.choice([CHAT, APPEND, WATCH]))[:rng.randrange(10, 120)]
            elif t == 0 and rng.random() < 0.5:
                payload = lpm(chat_msg("r" * rng.randrange(0, 50)))
            else:
                payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 4, 5, 6, 8, 13, 40])))
            out += frame(t, flags, s, payload)
        c = RawConn(ctx.port, start=False)
        try:
            c.send(bytes(out))
            c.sock.shutdown(socket.SHUT_WR)
            c.wait_closed(3.0)
            if not c.closed():
                raise Failure("seed %d: the connection stayed open 3 s after our FIN: %s" % (seed, c.ending()))
            k = err_name(c.goaway[1]) if c.goaway else "EOF"
            codes[k] = codes.get(k, 0) + 1
        finally:
            c.close()
        ctx.alive()
    return ", ".join("%s %d" % kv for kv in sorted(codes.items(), key=lambda kv: -kv[1]))


@case("empty DATA frame flood (CVE-2019-9518): 100,000 on an open BiDiChat: bounded; the call works or GOAWAY ENHANCE_YOUR_CALM")
def t_empty_data(ctx):
    c = ctx.conn()
    sid = bidi_open(c)
    f = data_frame(sid, b"")
    sent, secs = blast(c, f * 100000, len(f))
    if c.goaway is not None or c.closed():
        c.wait_closed(2.0)
        if c.goaway is not None and c.goaway[1] == ENHANCE_YOUR_CALM and c.closed():
            return "GOAWAY ENHANCE_YOUR_CALM after %d empty frames" % sent
        raise Failure("after %d empty DATA frames: %s" % (sent, c.ending()))
    c.send_data(sid, lpm(chat_msg("after the empties")), end=True)
    s = c.streams[sid]
    c.wait(s.done, 5.0, what="the echo after 100,000 empty DATA frames")
    grpc_ok(s, "BiDiChat after empty frames")
    got = [decode_chat(m) for m in split_lpms(bytes(s.data))]
    if got != ["echo: after the empties"]:
        raise Failure("echo %r" % got)
    return "all %d taken in %.2f s, then the echo came" % (sent, secs)


# ------------------------------------------------------------ main

def build_idle(build_dir):
    """Compiles the 500 ms idle build; returns (path, None) or (None, why)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None, "no C compiler"
    out = os.path.join(os.path.abspath(build_dir), "grpcstream-idle")
    r = subprocess.run([cc, "-std=c99", "-O2", "-DGS_H2_IDLE_MS=%d" % IDLE_MS, "-o", out,
                        os.path.join(common.REPO, "grpcstream.c"), os.path.join(common.REPO, "json.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        return None, "compiling the idle build failed:\n" + r.stdout[-1500:]
    return out, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.path.join(common.REPO, "grpcstream"))
    ap.add_argument("--build-dir", default=os.path.join(common.REPO, "build", "h2-abuse"))
    ap.add_argument("--rss-limit-kib", type=int, default=8192,
                    help="peak RSS bound per case (0: no bound, for sanitizer builds)")
    ap.add_argument("only", nargs="*", help="run the cases whose names start so")
    args = ap.parse_args()
    os.makedirs(args.build_dir, exist_ok=True)
    rep = common.Report()
    if not rawh2.HAVE_HPACK:
        rep.skip("HTTP/2 abuse", "python3-hpack is not installed for %s" % sys.executable)
        return 0
    selected = [c for c in CASES if not args.only or any(c[0].startswith(o) for o in args.only)]
    servers = {"main": args.server}
    if any(c[2] == "idle" for c in selected):
        path, why = build_idle(args.build_dir)
        servers["idle"] = path
        servers["idle-why"] = why
    t0 = time.monotonic()
    for name, fn, build, log_lines in selected:
        run_case(rep, args, name, fn, build, log_lines, servers)
    print("abuse.py: %d cases in %.1f s" % (len(selected), time.monotonic() - t0))
    return rep.status()


if __name__ == "__main__":
    sys.exit(main())
