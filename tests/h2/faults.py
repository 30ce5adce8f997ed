#!/usr/bin/python3
"""Faults around grpcstream --listen: peers that vanish, sockets that
misbehave, SIGTERM.

    /usr/bin/python3 tests/h2/faults.py [--server CMD] [--build-dir DIR] [NAME-PREFIX...]

1. A client closes its socket (FIN; RST with SO_LINGER 0) in the middle of
   100 streaming calls (50 follow watches streaming a 20,000-line log, 50
   chats): right after, 100 new calls are all admitted at once (every slot
   was freed; a 101st gets RESOURCE_EXHAUSTED) and end right.
2. tests/h2/sockfault.c, an LD_PRELOAD shim on the server's connection
   sockets only (not the listening socket): short reads and writes, EINTR,
   EAGAIN (and EINTR from poll). A session of WatchLogs, follow WatchLogs,
   BiDiChat and Append over 6 connections at once, every reply checked;
   among them a 100,000-entry WatchLogs whose reader stops for 3 s: every
   entry arrives once, in order. Then, on cue (a mark in the bytes), EPIPE
   on a write and ECONNRESET on a read: the server drops that connection,
   frees its calls' slots, and serves the others.
3. SIGTERM: GOAWAY NO_ERROR on every connection, a call in flight finishes
   within the 5 s grace, new streams are refused, a follow watch ends
   UNAVAILABLE after the grace, a peer that grants no window does not hold
   the exit up, exit status 0; with no calls, the exit is prompt.
Prints PASS:/FAIL: (indented detail)/SKIP: lines; exits 1 on any FAIL.
Takes some 30 s.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import rawh2  # noqa: E402
from rawh2 import (  # noqa: E402
    APPEND, CHAT, WATCH, NO_ERROR, REFUSED_STREAM, INITIAL_WINDOW_SIZE, WINDOW_MAX, Failure,
    RawConn, lpm, log_entry, watch_req, chat_msg, split_lpms, decode_chat, decode_entry,
    append_call, grpc_ok, proc_mem, proc_cpu)

LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]
SLOTS = 100                         # GS_MAX_STREAMS


# ------------------------------------------------------------ helpers

def make_log(build_dir, n):
    path = os.path.join(build_dir, "faults-%d.log" % n)
    entries = [(LEVELS[i % 4], "line %06d %s" % (i, "y" * (i % 29))) for i in range(n)]
    with open(path, "w") as f:
        f.write("".join("%s %s\n" % e for e in entries))
    return path, entries


def start(cmd, build_dir, log=None, env=None):
    """A server (common.Server) started with extra environment `env`."""
    srv = common.Server(cmd, build_dir, log=log)
    saved = dict(os.environ)
    try:
        if env:
            os.environ.update(env)
            if "LD_PRELOAD" in env:     # a sanitizer build takes the shim too
                os.environ["ASAN_OPTIONS"] = ":".join(
                    [o for o in [saved.get("ASAN_OPTIONS", "")] if o] + ["verify_asan_link_order=0"])
        srv.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return srv


def bidi_open(c):
    return c.open(CHAT, None, end=False)


def hundred_calls(port, tag, busy=0, seconds=5.0):
    """As many calls at once as there are free slots (SLOTS - busy) on one
    new connection (half follow watches with a 1.5 s deadline, half
    chats): all must be admitted while one more call elsewhere gets
    RESOURCE_EXHAUSTED; the chats echo and end OK, the watches end
    DEADLINE_EXCEEDED. Returns a note."""
    c = RawConn(port).ready()
    other = None
    free = SLOTS - busy
    try:
        t0 = time.monotonic()
        watches = [c.open(WATCH, lpm(watch_req(filter="NONE-" + tag, follow=True)),
                          extra=[("grpc-timeout", "1500m")]) for _ in range(free // 2)]
        chats = [bidi_open(c) for _ in range(free - free // 2)]
        out = b"".join(rawh2.data_frames(sid, lpm(chat_msg("%s %d" % (tag, sid)))) for sid in chats)
        c.send(out)
        c.wait(lambda: all(len(c.streams[s].data) or c.streams[s].done() for s in chats) or
               any(c.streams[s].done() for s in watches), seconds)
        refused = [c.streams[s].describe() for s in watches + chats if c.streams[s].done()]
        if refused:
            raise Failure("%d of %d new calls were not admitted (slots not freed?): %s" % (
                len(refused), free, refused[0]))
        missing = [s for s in chats if not c.streams[s].data]
        if missing:
            raise Failure("%d chats got no echo within %.0f s: %s" % (
                len(missing), seconds, c.streams[missing[0]].describe()))
        # every slot is taken now: one more call elsewhere is refused
        other = RawConn(port).ready()
        st = other.call(APPEND, lpm(log_entry("FULL", tag)))
        if st.status() != "8":
            raise Failure("with %d calls open, a call on another connection got %s, expected "
                          "RESOURCE_EXHAUSTED: the server has more slots than %d, or miscounts" % (
                              SLOTS, st.describe(), SLOTS))
        for sid in chats:
            got = [decode_chat(m) for m in split_lpms(bytes(c.streams[sid].data))]
            if got != ["echo: %s %d" % (tag, sid)]:
                raise Failure("chat %d: echoes %r" % (sid, got))
            c.send(rawh2.data_frame(sid, b"", True))
        c.wait(lambda: all(c.streams[s].done() for s in watches + chats), 5.0,
               what="the end of the %d calls" % free)
        for sid in chats:
            grpc_ok(c.streams[sid], "chat %d" % sid)
        bad = [c.streams[s].describe() for s in watches if c.streams[s].status() != "4"]
        if bad:
            raise Failure("%d follow watches did not end DEADLINE_EXCEEDED: %s" % (len(bad), bad[0]))
        return "%d calls at once admitted%s, one more refused, all ended right in %.1f s" % (
            free, " (%d slots busy elsewhere)" % busy if busy else "", time.monotonic() - t0)
    finally:
        c.close()
        if other:
            other.close()


def slots_free(port, tag, busy=0):
    """hundred_calls right away; if that fails, once more after 1 s (to
    tell a slow release from a leak)."""
    try:
        return hundred_calls(port, tag, busy)
    except Failure as e:
        first = str(e)
    time.sleep(1.0)
    try:
        again = hundred_calls(port, tag + "-again", busy)
        raise Failure("right after: %s\n(1 s later it worked: %s)" % (first, again))
    except Failure as e2:
        if "1 s later" in str(e2):
            raise
        raise Failure("right after: %s\n1 s later too: %s" % (first, e2))


# ------------------------------------------------- 1. a peer that vanishes

def vanish(rep, args, how):
    name = "a client that closes its socket (%s) amid 100 streaming calls: then 100 new calls at once work" % how
    log, entries = make_log(args.build_dir, 20000)
    srv = start(args.server, args.build_dir, log=log)
    try:
        c = RawConn(srv.port, settings_pairs=[(INITIAL_WINDOW_SIZE, 1 << 20)]).ready()
        watches = [c.open(WATCH, lpm(watch_req(follow=True))) for _ in range(50)]
        chats = [bidi_open(c) for _ in range(50)]
        c.send(b"".join(rawh2.data_frames(s, lpm(chat_msg("before the end %d" % s))) for s in chats))
        c.wait(lambda: all(len(c.streams[s].data) for s in watches + chats), 5.0,
               what="a first message on each of the 100 calls")
        c.auto_window = False
        time.sleep(0.3)             # the server fills the socket and waits
        got = sum(len(c.streams[s].data) for s in watches)
        if how == "FIN":
            c.sock.shutdown(socket.SHUT_WR)
            c.sock.close()
        else:
            c.close(rst=True)
        note = slots_free(srv.port, how)
        if not srv.alive():
            raise Failure("the server exited: %s" % srv.stderr())
        rss, hwm = proc_mem(srv.proc.pid)
        rep.passed(name, "{:,} bytes of watch output read before the close; {}; VmHWM {:,} KiB".format(
            got, note, hwm or 0))
    except AssertionError as e:
        rep.fail(name, "%s\nserver stderr: %s" % (e, srv.stderr()[-500:]))
    except Exception:
        rep.fail(name, traceback.format_exc(limit=5))
    finally:
        srv.stop()


# -------------------------------------------- 2. faults on the sockets

def build_shim(build_dir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None, "no C compiler"
    out = os.path.join(os.path.abspath(build_dir), "sockfault.so")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", out,
                        os.path.join(HERE, "sockfault.c"), "-ldl"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        return None, "building tests/h2/sockfault.c failed:\n" + r.stdout[-1500:]
    return out, None


def read_report(path):
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                k, v = line.strip().split("=")
                counts[k] = int(v)
    except (OSError, ValueError):
        pass
    return counts


class Session:
    """The calls of one faulty session, each group in its own thread."""

    def __init__(self, port, entries, rng):
        self.port = port
        self.entries = entries
        self.rng = rng
        self.errors = []
        self.notes = []
        self.lock = threading.Lock()

    def run(self, fns, seconds=40.0):
        threads = [threading.Thread(target=self.guard, args=(fn,), daemon=True) for fn in fns]
        for t in threads:
            t.start()
        end = time.monotonic() + seconds
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        if any(t.is_alive() for t in threads):
            self.errors.append("%d groups still running after %.0f s" % (
                sum(t.is_alive() for t in threads), seconds))

    def guard(self, fn):
        try:
            note = fn()
            if note:
                with self.lock:
                    self.notes.append(note)
        except AssertionError as e:
            with self.lock:
                self.errors.append("%s: %s" % (fn.__name__, e))
        except Exception:
            with self.lock:
                self.errors.append("%s:\n%s" % (fn.__name__, traceback.format_exc(limit=4)))

    # -- the groups ----------------------------------------------------

    def stalled_reader(self):
        """A 100,000-entry WatchLogs whose reader stops for 3 s midway."""
        c = RawConn(self.port, settings_pairs=[(INITIAL_WINDOW_SIZE, WINDOW_MAX)], rcvbuf=32768)
        try:
            c.ready()
            sid = c.open(WATCH, lpm(watch_req(limit=100000)))
            s = c.streams[sid]
            c.wait(lambda: len(s.data) >= 1 << 20, 15.0, what="the first MiB of the watch")
            before = len(s.data)
            time.sleep(3.0)         # reads nothing: the server meets a full socket
            c.wait(s.done, 30.0, what="the watch's end after the pause")
            grpc_ok(s, "WatchLogs limit 100000")
            want = b"".join(lpm(log_entry(*e)) for e in self.entries[:100000])
            if bytes(s.data) != want:
                got = [decode_entry(m) for m in split_lpms(bytes(s.data))]
                raise Failure(diff(got, self.entries[:100000]))
            return "the 100,000-entry watch: {:,} bytes before the 3 s pause, {:,} after, all in order".format(
                before, len(s.data) - before)
        finally:
            c.close()

    def chats(self, k):
        def chats_group():
            rng = random.Random(k)
            c = RawConn(self.port).ready()
            try:
                sids = [bidi_open(c) for _ in range(2)]
                texts = {}
                for sid in sids:
                    texts[sid] = [text(rng, "c%d.%d.%d" % (k, sid, i)) for i in range(300)]
                # pipelined, interleaved, split at random places across DATA frames
                body = {sid: b"".join(lpm(chat_msg(t)) for t in texts[sid]) for sid in sids}
                pos = {sid: 0 for sid in sids}
                while any(pos[s] < len(body[s]) for s in sids):
                    sid = rng.choice([s for s in sids if pos[s] < len(body[s])])
                    n = rng.randrange(1, 6000)
                    piece = body[sid][pos[sid]:pos[sid] + n]
                    pos[sid] += len(piece)
                    c.send_data(sid, piece, end=pos[sid] >= len(body[sid]))
                for sid in sids:
                    c.wait(c.streams[sid].done, 20.0, what="the end of chat %d" % sid)
                    grpc_ok(c.streams[sid], "chat %d" % sid)
                    got = [decode_chat(m) for m in split_lpms(bytes(c.streams[sid].data))]
                    want = ["echo: " + t for t in texts[sid]]
                    if got != want:
                        raise Failure("chat %d: %s" % (sid, diff(got, want)))
            finally:
                c.close()
        chats_group.__name__ = "chats %d" % k
        return chats_group

    def appends_and_follow(self):
        """A follow watch, then 60 Appends from another connection; the
        watch gets each in seq order; a plain watch after sees them all."""
        f = RawConn(self.port).ready()
        a = RawConn(self.port).ready()
        try:
            fid = f.open(WATCH, lpm(watch_req(filter="SESSION", limit=60, follow=True)))
            f.pump(0.2)
            seqs = {}
            for i in range(60):
                seqs[append_call(a, "SESSION", "appended %d" % i, seconds=10.0)] = "appended %d" % i
            fs = f.streams[fid]
            f.wait(fs.done, 10.0, what="the follow watch's end (limit 60)")
            grpc_ok(fs, "follow watch")
            got = [decode_entry(m) for m in split_lpms(bytes(fs.data))]
            want = [("SESSION", seqs[q]) for q in sorted(seqs)]
            if got != want:
                raise Failure("follow watch: %s" % diff(got, want))
            if sorted(seqs) != list(range(min(seqs), min(seqs) + 60)):
                raise Failure("Append seqs are not consecutive: %s" % sorted(seqs)[:10])
            s = a.call(WATCH, lpm(watch_req(filter="SESSION")), 10.0)
            grpc_ok(s, "plain watch")
            got = [decode_entry(m) for m in split_lpms(bytes(s.data))]
            if got != want:
                raise Failure("plain watch after the Appends: %s" % diff(got, want))
        finally:
            f.close()
            a.close()

    def plain_watches(self):
        c = RawConn(self.port).ready()
        try:
            for flt, limit in [("ERROR", 5000), ("", 3000), ("DEBUG", 0), ("WARN", 1)]:
                s = c.call(WATCH, lpm(watch_req(filter=flt, limit=limit)), 15.0)
                grpc_ok(s, "watch %r" % flt)
                want = [e for e in self.entries if not flt or e[0] == flt]
                if limit:
                    want = want[:limit]
                got = [decode_entry(m) for m in split_lpms(bytes(s.data))]
                if got[:len(want)] != want or len(got) != len(want):
                    raise Failure("watch filter %r limit %d: %s" % (flt, limit, diff(got, want)))
        finally:
            c.close()


def text(rng, tag):
    k = rng.random()
    if k < 0.05:
        return ""
    if k < 0.15:
        return tag + " caf\u00e9 \u65e5\u672c \U0001F600"
    return tag + " " + "".join(rng.choice("abcdefghij klmnop") for _ in range(rng.randrange(0, 3000)))


def diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "item %d is %r, expected %r (%d items, expected %d)" % (
                i + 1, short(g), short(w), len(got), len(want))
    return "%d items, expected %d" % (len(got), len(want))


def short(v, n=80):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def faulty_session(rep, args, shim, log, entries, seed, rate, poll_rate):
    name = ("sockfault seed %d rate %s (short reads/writes, EINTR, EAGAIN%s): a session of 6 connections, "
            "every reply right, a 100,000-entry watch paused 3 s arrives whole") % (
        seed, rate, ", poll EINTR %s" % poll_rate if poll_rate else "")
    report = os.path.join(os.path.abspath(args.build_dir), "sockfault-%d.txt" % seed)
    if os.path.exists(report):
        os.unlink(report)
    env = {"LD_PRELOAD": shim, "SOCKFAULT_SEED": str(seed), "SOCKFAULT_RATE": str(rate),
           "SOCKFAULT_POLL_RATE": str(poll_rate), "SOCKFAULT_REPORT": report}
    try:
        srv = start(args.server, args.build_dir, log=log, env=env)
    except RuntimeError as e:
        rep.fail(name, e)
        return
    t0 = time.monotonic()
    try:
        ses = Session(srv.port, entries, random.Random(seed))
        ses.run([ses.stalled_reader, ses.chats(1), ses.chats(2), ses.chats(3),
                 ses.appends_and_follow, ses.plain_watches])
        took = time.monotonic() - t0
        alive = srv.alive()
        rss, hwm = proc_mem(srv.proc.pid)
        rc = srv.stop()
        counts = read_report(report)
        faults = {k: v for k, v in counts.items() if k.startswith(("short", "eintr", "eagain"))}
        problems = list(ses.errors)
        if not alive:
            problems.append("the server exited (status %s): %s" % (srv.proc.returncode, srv.stderr()))
        elif rc != 0:
            problems.append("exit status %r after SIGTERM" % rc)
        if not counts:
            problems.append("no report from the shim (%s): was it loaded?" % report)
        else:
            zero = [k for k in ("short_reads", "eintr_reads", "eagain_reads", "short_writes",
                                "eintr_writes", "eagain_writes") if not counts.get(k)]
            if zero and rate >= 0.2:
                problems.append("no fault of kind %s was injected: %s" % (", ".join(zero), counts))
        detail = "; ".join(ses.notes + ["%.1f s" % took, "VmHWM {:,} KiB".format(hwm or 0),
                                        "faults: " + " ".join("%s=%d" % kv for kv in sorted(faults.items())),
                                        "calls: reads=%d writes=%d" % (counts.get("reads", 0),
                                                                       counts.get("writes", 0))])
        if problems:
            rep.fail(name, "\n".join(problems[:6] + ["(" + detail + ")", "server stderr: " + srv.stderr()[-400:]]))
        else:
            rep.passed(name, detail)
    finally:
        srv.stop()


def broken_on_cue(rep, args, shim):
    name = ("EPIPE on a write and ECONNRESET on a read (sockfault, on cue): the server drops that "
            "connection, frees its 40 calls' slots, serves the others")
    report = os.path.join(os.path.abspath(args.build_dir), "sockfault-cue.txt")
    env = {"LD_PRELOAD": shim, "SOCKFAULT_RATE": "0", "SOCKFAULT_REPORT": report}
    try:
        srv = start(args.server, args.build_dir, env=env)
    except RuntimeError as e:
        rep.fail(name, e)
        return
    notes = []
    try:
        bystander = RawConn(srv.port).ready()
        bsid = bidi_open(bystander)
        for mark, what in [("EPIPE-NOW", "EPIPE on the write of an echo"),
                           ("ECONNRESET-NOW", "ECONNRESET on the read of a message")]:
            c = RawConn(srv.port).ready()
            for _ in range(20):
                c.open(WATCH, lpm(watch_req(filter="NOTHING", follow=True)))
            chats = [bidi_open(c) for _ in range(20)]
            c.send(b"".join(rawh2.data_frames(s, lpm(chat_msg("hello %d" % s))) for s in chats))
            c.wait(lambda: all(len(c.streams[s].data) for s in chats), 5.0, what="the 20 echoes")
            t0 = time.monotonic()
            c.send_data(chats[0], lpm(chat_msg("please %s" % mark)))
            c.wait_closed(3.0)
            if not c.closed():
                raise Failure("%s: the connection is still open 3 s later: %s" % (what, c.ending()))
            echoed = any(b"please" in c.streams[s].data for s in chats)
            notes.append("%s: closed after %.0f ms%s" % (
                what, (c.closed_at - t0) * 1000, " (the echo got through)" if echoed else ""))
            c.close()
            tag = "still here after drop %d" % len(notes)     # (not the mark: it would break this one)
            bystander.send_data(bsid, lpm(chat_msg(tag)))
            bs = bystander.streams[bsid]
            bystander.wait(lambda: tag.encode() in bs.data, 3.0, what="the bystander's echo after %s" % what)
            notes.append(slots_free(srv.port, "cue %d" % len(notes), busy=1))  # (the bystander's chat)
        cpu0 = proc_cpu(srv.proc.pid)
        time.sleep(1.0)
        cpu = proc_cpu(srv.proc.pid) - cpu0
        if cpu > 0.05:
            raise Failure("the server used %.2f s of CPU in 1 s of quiet after the broken connections" % cpu)
        bystander.send_data(bsid, b"", end=True)
        bystander.wait(bystander.streams[bsid].done, 3.0, what="the bystander's chat end")
        grpc_ok(bystander.streams[bsid], "the bystander's chat")
        bystander.close()
        srv.stop()
        counts = read_report(report)
        if counts.get("epipes") != 1 or counts.get("resets") != 1:
            raise Failure("the shim injected epipes=%s resets=%s, expected 1 each (%s)" % (
                counts.get("epipes"), counts.get("resets"), counts))
        rep.passed(name, "; ".join(notes))
    except AssertionError as e:
        rep.fail(name, "%s\n(%s)\nserver stderr: %s" % (e, "; ".join(notes), srv.stderr()[-400:]))
    except Exception:
        rep.fail(name, traceback.format_exc(limit=5))
    finally:
        srv.stop()


# ------------------------------------------------------------ 3. SIGTERM

def sigterm(rep, args):
    name = ("SIGTERM: GOAWAY NO_ERROR on every connection, a call in flight finishes, new streams "
            "refused, a follow watch ends UNAVAILABLE after 5 s, a zero-window peer does not hold "
            "the exit, exit 0")
    srv = start(args.server, args.build_dir)
    try:
        a = RawConn(srv.port).ready()                   # a chat in flight
        b = RawConn(srv.port).ready()                   # a follow watch
        idle = RawConn(srv.port).ready()                # no calls
        z = RawConn(srv.port, settings_pairs=[(INITIAL_WINDOW_SIZE, 0)]).ready()   # no window
        chat = bidi_open(a)
        a.send_data(chat, lpm(chat_msg("before")))
        a.wait(lambda: a.streams[chat].data, 3.0, what="the echo before SIGTERM")
        fw = b.open(WATCH, lpm(watch_req(filter="NOTHING", follow=True)))
        zw = z.open(WATCH, lpm(watch_req()))
        for c in (a, b, idle, z):
            c.pump(0.1)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        conns = {"chat": a, "watch": b, "idle": idle, "zero-window": z}
        for label, c in conns.items():
            c.wait(lambda: c.goaway is not None or c.closed(), 2.0)
        bad = ["%s: %s" % (k, c.ending()) for k, c in conns.items()
               if c.goaway is None or c.goaway[1] != NO_ERROR]
        if bad:
            raise Failure("GOAWAY NO_ERROR expected on every connection within 2 s: %s" % "; ".join(bad))
        lasts = {k: c.goaway[0] for k, c in conns.items()}
        if lasts["chat"] < chat or lasts["watch"] < fw or lasts["zero-window"] < zw:
            raise Failure("GOAWAY last-stream-id below a call in flight: %r" % lasts)
        # new connections are refused
        try:
            late = RawConn(srv.port, connect_timeout=1.0)
            late.wait_closed(1.0)
            late_note = "a new connection: %s" % late.ending()
            if not late.closed():
                raise Failure("a new connection after SIGTERM is served: %s" % late.ending())
        except OSError as e:
            late_note = "a new connection: %s" % e.strerror
        # a new stream on a live connection is refused
        nsid = a.open(APPEND, lpm(log_entry("LATE", "after SIGTERM")))
        a.wait(lambda: a.streams[nsid].done(), 2.0)
        ns = a.streams[nsid]
        if ns.reset != REFUSED_STREAM:
            raise Failure("a new stream after GOAWAY: %s, expected RST_STREAM REFUSED_STREAM" % ns.describe())
        # the chat in flight goes on, then ends OK at ~1 s
        a.send_data(chat, lpm(chat_msg("after SIGTERM")))
        a.wait(lambda: b"after SIGTERM" in a.streams[chat].data, 2.0, what="the echo after SIGTERM")
        a.pump(max(0.0, 1.0 - (time.monotonic() - t0)))
        a.send_data(chat, b"", end=True)
        a.wait(a.streams[chat].done, 2.0, what="the chat's end")
        grpc_ok(a.streams[chat], "the chat in flight")
        got = [decode_chat(m) for m in split_lpms(bytes(a.streams[chat].data))]
        if got != ["echo: before", "echo: after SIGTERM"]:
            raise Failure("chat echoes %r" % got)
        # the follow watch ends UNAVAILABLE after the 5 s grace
        ws = b.streams[fw]
        b.wait(ws.done, 7.0)
        tw = time.monotonic() - t0
        if ws.status() != "14" or not 4.5 <= tw <= 6.5:
            raise Failure("the follow watch: %s after %.1f s; expected grpc-status 14 (UNAVAILABLE) "
                          "at ~5 s" % (ws.describe(), tw))
        # exit 0 within 5 s + 1 s (+ slack), whatever the zero-window peer does
        try:
            rc = srv.proc.wait(max(0.1, 7.5 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            raise Failure("still running %.1f s after SIGTERM (a zero-window peer holds it?)" % (
                time.monotonic() - t0))
        te = time.monotonic() - t0
        if rc != 0:
            raise Failure("exit status %r" % rc)
        zs = z.streams[zw]
        z.pump(0.2)
        rep.passed(name, "UNAVAILABLE %r after %.1f s; exit 0 after %.1f s; %s; zero-window watch: %s" % (
            ws.message(), tw, te, late_note, "grpc-status %s" % zs.status() if zs.ended else
            "no end (%d bytes)" % len(zs.data)))
    except AssertionError as e:
        rep.fail(name, "%s\nserver stderr: %s" % (e, srv.stderr()[-400:]))
    except Exception:
        rep.fail(name, traceback.format_exc(limit=5))
    finally:
        srv.stop()


def sigterm_idle(rep, args):
    name = "SIGTERM with connections but no calls: GOAWAY NO_ERROR on each, exit 0 at once"
    srv = start(args.server, args.build_dir)
    try:
        conns = [RawConn(srv.port).ready() for _ in range(3)]
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(3.0)
        except subprocess.TimeoutExpired:
            raise Failure("still running 3 s after SIGTERM with no calls")
        took = time.monotonic() - t0
        for c in conns:
            c.wait_closed(1.0)
        bad = [c.ending() for c in conns if c.goaway is None or c.goaway[1] != NO_ERROR or not c.closed()]
        if bad:
            raise Failure("expected GOAWAY NO_ERROR and a close on each: %s" % "; ".join(bad))
        if rc != 0 or took > 1.0:
            raise Failure("exit status %r after %.2f s" % (rc, took))
        rep.passed(name, "exit 0 after %.2f s" % took)
    except AssertionError as e:
        rep.fail(name, "%s\nserver stderr: %s" % (e, srv.stderr()[-400:]))
    finally:
        srv.stop()


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.path.join(common.REPO, "grpcstream"))
    ap.add_argument("--build-dir", default=os.path.join(common.REPO, "build", "h2-faults"))
    ap.add_argument("only", nargs="*", help="run the groups whose names start so: "
                    "vanish, sockfault, cue, sigterm")
    args = ap.parse_args()
    os.makedirs(args.build_dir, exist_ok=True)
    rep = common.Report()
    if not rawh2.HAVE_HPACK:
        rep.skip("HTTP/2 faults", "python3-hpack is not installed for %s" % sys.executable)
        return 0

    def want(group):
        return not args.only or any(group.startswith(o) for o in args.only)
    t0 = time.monotonic()
    if want("vanish"):
        vanish(rep, args, "FIN")
        vanish(rep, args, "RST")
    if want("sockfault") or want("cue"):
        shim, why = build_shim(args.build_dir)
        if shim is None:
            rep.fail("sockfault shim", why)
        else:
            if want("sockfault"):
                for seed, rate, poll_rate in [(1, 0.3, 0), (2, 0.6, 0.05)]:
                    log, entries = make_log(args.build_dir, 100000)     # afresh: Appends grow it
                    faulty_session(rep, args, shim, log, entries, seed, rate, poll_rate)
            if want("cue"):
                broken_on_cue(rep, args, shim)
    if want("sigterm"):
        sigterm(rep, args)
        sigterm_idle(rep, args)
    print("faults.py: %.1f s" % (time.monotonic() - t0))
    return rep.status()


if __name__ == "__main__":
    sys.exit(main())
