#!/usr/bin/python3
"""Fixed memory in --listen mode: no heap allocation after start-up over a
gRPC session of some 140,000 messages on 6 HTTP/2 connections at once.

    /usr/bin/python3 tests/h2/fixed_memory.py [--server BIN] [--build-dir DIR]
                                  [--scale F] [--seconds S] [--no-log-file]

1. Builds tests/malloc_count.c into an LD_PRELOAD shim (as test.sh's
   zero_allocs does) and runs BIN (default ./grpcstream) under it with
   MALLOC_COUNT_AFTER=accept: the shim's counts start again at the
   server's first accept(), so they cover everything after start-up; the
   start-up counts are reported beside them (today they are 0 too).
2. Drives a session over 6 connections from one single-threaded event loop
   of raw HTTP/2 (python3-h2; protobuf encoded by hand, so neither protoc
   nor grpcio is needed; h2's HPACK encoder indexes, so the server's
   dynamic table is used throughout):
     - 3 connections of Chat/BiDiChat, 2 calls at a time each, 4 calls of
       4,500 echoes each per connection (108,000 messages), pipelined 400
       deep, messages of 0 to 1,500 bytes (some non-ASCII) split across
       DATA frames; half the calls half-close with their last message,
       half after their last echo;
     - 1 connection of 3,000 LogWatcher/Append calls, 12 at a time;
     - 1 connection of follow WatchLogs calls opened before the appends
       (filter FOLLOW and filter "", each with a limit that takes in every
       append, and filter NOTE with a small one);
     - 1 connection of 40 plain WatchLogs calls (filtered, limited, whole)
       one after another, paced by the appends, and one more after them.
   Every reply is checked: each echo's exact text and order; every Append
   seq (together exactly 9..8+N, each once); each follower's entries
   against the log rebuilt from those seqs; each plain watch as a prefix of
   that log, at least as long as the appends acknowledged before it began;
   the last one as the whole log; grpc-status 0 on every call.
   The calls in flight stay within the server's 32 shared message buffers
   (GS_H2_BUFS: a bidi call may hold 2, any other call 1), so that no call
   may fairly fail RESOURCE_EXHAUSTED.
3. Reads the server's VmRSS after a warm-up (a fifth of the way in) and
   its VmHWM (peak RSS) just before SIGTERM, sends SIGTERM with the
   connections still open (each must get GOAWAY NO_ERROR, and the server
   must exit 0, which is when the shim writes its counts) and passes only
   if malloc, calloc, realloc, free and the aligned allocators were called
   0 times after start-up.
Then the same session runs on a server with --log FILE (--no-log-file
leaves it out). Each session takes 1-3 s (more on a loaded machine); one
in which nothing happens for 5 s, or that has not ended after --seconds
(60), fails. --scale multiplies the session's sizes.

Prints PASS:/FAIL: (with indented detail)/SKIP: lines; exits 1 on any
FAIL. SKIPs when python3-h2 or gcc is missing.
"""
import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import BUILTIN  # noqa: E402

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    HAVE_H2 = True
except ImportError:
    HAVE_H2 = False

NAME = "fixed memory (--listen)"
SESSION_SECONDS = 60.0      # a session that has not ended by then fails (it takes 1-3 s)
STALL_SECONDS = 5.0         # ...as does one in which nothing happens for this long
MIN_MESSAGES = 100000       # at --scale 1, a session shorter than this fails


# ------------------------------------------------------ protobuf, by hand

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_str(field, s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    if not b:
        return b""                      # proto3: the default is not written
    return varint(field << 3 | 2) + varint(len(b)) + b


def pb_uint(field, n):
    return varint(field << 3) + varint(n) if n else b""


def pb_decode(data):
    """A message's fields: {number: value} (bytes or int), the last wins.
    Raises ValueError on a malformed message."""
    out = {}
    i, n = 0, len(data)

    def rd_varint():
        nonlocal i
        v = shift = 0
        while True:
            if i >= n or shift > 63:
                raise ValueError("bad varint")
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < n:
        key = rd_varint()
        field, wt = key >> 3, key & 7
        if wt == 0:
            out[field] = rd_varint()
        elif wt == 2:
            ln = rd_varint()
            if i + ln > n:
                raise ValueError("string cut short")
            out[field] = bytes(data[i:i + ln])
            i += ln
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
    if i != n:
        raise ValueError("cut short")
    return out


def chat_msg(text):
    return pb_str(1, text)


def log_entry(level, msg):
    return pb_str(1, level) + pb_str(2, msg)


def watch_req(filter="", limit=0, follow=False):
    return pb_str(1, filter) + pb_uint(2, limit) + (b"\x18\x01" if follow else b"")


def lpm(payload):
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def decode_entry(payload):
    f = pb_decode(payload)
    return (f.get(1, b"").decode("utf-8"), f.get(2, b"").decode("utf-8"))


# ------------------------------------------------------------ the client

class Failure(Exception):
    pass


class Call:
    """One gRPC call on a connection. Subclasses get each response message
    (on_message) and the end (on_end); they may queue request bytes."""

    path = None

    def __init__(self, conn):
        self.conn = conn
        self.sid = None
        self.headers = None
        self.trailers = None
        self.buf = bytearray()
        self.ended = False
        self.out = bytearray()          # request bytes not yet sent
        self.whole = True               # never split a request across DATA frames
        self.half_close_after_out = False
        self.half_closed = False
        self.received = 0

    def describe(self):
        return "%s stream %s on %s" % (self.path, self.sid, self.conn.name)

    def start(self):
        self.conn.open(self)

    def send(self, data, half_close=False):
        self.out += data
        if half_close:
            self.half_close_after_out = True
        self.conn.want_pump(self)

    def feed(self, data):
        self.buf += data
        buf = self.buf
        i, n = 0, len(buf)
        while n - i >= 5:
            ln = int.from_bytes(buf[i + 1:i + 5], "big")
            if n - i - 5 < ln:
                break
            if buf[i] != 0:
                raise Failure("%s: response message with compressed flag %d" % (self.describe(), buf[i]))
            payload = bytes(buf[i + 5:i + 5 + ln])
            i += 5 + ln
            self.received += 1
            self.conn.session.received += 1
            self.on_message(payload)
        if i:
            del buf[:i]

    def finish(self):
        self.ended = True
        if self.buf:
            raise Failure("%s: %d stray bytes at the end" % (self.describe(), len(self.buf)))
        h = self.headers or {}
        if h.get(":status") != "200":
            raise Failure("%s: response HEADERS %r" % (self.describe(), h))
        src = self.trailers if self.trailers is not None else h
        if src.get("grpc-status") != "0":
            raise Failure("%s: ended grpc-status %r grpc-message %r after %d messages (trailers %r)" % (
                self.describe(), src.get("grpc-status"), src.get("grpc-message"), self.received, self.trailers))
        self.on_end()

    def on_message(self, payload):
        raise NotImplementedError

    def on_end(self):
        pass


class Conn:
    def __init__(self, session, name):
        self.session = session
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", session.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(cfg)
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
        })
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window((1 << 24))
        self.calls = {}                 # sid -> Call
        self.pending = []               # calls waiting to start (stream limit)
        self.pumping = set()            # calls with request bytes to send
        self.outbuf = bytearray()
        self.closed = False
        self.max_streams = 32
        session.sel.register(self.sock, selectors.EVENT_READ, self)
        self.flush()

    def live(self):
        return len(self.calls) + len(self.pending)

    def open(self, call):
        self.pending.append(call)
        self.start_pending()

    def start_pending(self):
        limit = min(self.max_streams, self.h2.remote_settings.max_concurrent_streams)
        while self.pending and len(self.calls) < limit:
            call = self.pending.pop(0)
            sid = self.h2.get_next_available_stream_id()
            call.sid = sid
            self.calls[sid] = call
            self.h2.send_headers(sid, [
                (":method", "POST"), (":scheme", "http"), (":path", call.path),
                (":authority", "127.0.0.1:%d" % self.session.port), ("te", "trailers"),
                ("content-type", "application/grpc"), ("user-agent", "fixed_memory.py")])
            self.pumping.add(call)
        self.session.dirty.add(self)

    def want_pump(self, call):
        if call.sid is not None:
            self.pumping.add(call)
            self.session.dirty.add(self)

    def pump(self):
        """Moves queued request bytes into h2 as the windows allow."""
        for call in list(self.pumping):
            sid = call.sid
            while call.out:
                room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if room <= 0 or (call.whole and room < len(call.out)):
                    break
                chunk = bytes(call.out[:room])
                del call.out[:room]
                last = not call.out and call.half_close_after_out
                self.h2.send_data(sid, chunk, end_stream=last)
                if last:
                    call.half_closed = True
            if not call.out:
                if call.half_close_after_out and not call.half_closed:
                    self.h2.end_stream(sid)
                    call.half_closed = True
                self.pumping.discard(call)

    def flush(self):
        self.pump()
        data = self.h2.data_to_send()
        if data:
            self.outbuf += data
        while self.outbuf:
            try:
                n = self.sock.send(self.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            del self.outbuf[:n]
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbuf else 0)
        self.session.sel.modify(self.sock, ev, self)

    def readable(self):
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            raise Failure("%s: the server closed the connection (%d calls live)" % (self.name, self.live()))
        for ev in self.h2.receive_data(data):
            self.event(ev)
        self.session.dirty.add(self)

    def event(self, ev):
        E = h2.events
        if isinstance(ev, E.DataReceived):
            if ev.flow_controlled_length:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            call = self.call_of(ev)
            call.feed(ev.data)
            if ev.stream_ended is not None:
                self.end_call(call)
        elif isinstance(ev, E.ResponseReceived):
            call = self.call_of(ev)
            call.headers = dict(ev.headers)
            if ev.stream_ended is not None:
                self.end_call(call)
        elif isinstance(ev, E.TrailersReceived):
            call = self.call_of(ev)
            call.trailers = dict(ev.headers)
            if ev.stream_ended is not None:
                self.end_call(call)
        elif isinstance(ev, E.StreamReset):
            call = self.calls.get(ev.stream_id)
            if call is not None and not call.ended:
                raise Failure("%s: RST_STREAM %r after %d messages" % (call.describe(), ev.error_code, call.received))
        elif isinstance(ev, E.ConnectionTerminated):
            raise Failure("%s: GOAWAY %r (%r) with %d calls live" % (
                self.name, ev.error_code, ev.additional_data, self.live()))
        elif isinstance(ev, E.RemoteSettingsChanged):
            self.start_pending()
        elif isinstance(ev, E.WindowUpdated):
            if ev.stream_id == 0:
                self.pumping.update(c for c in self.calls.values() if c.out)
            else:
                call = self.calls.get(ev.stream_id)
                if call is not None and call.out:
                    self.pumping.add(call)

    def call_of(self, ev):
        call = self.calls.get(ev.stream_id)
        if call is None:
            raise Failure("%s: %s on stream %d, no call of ours" % (self.name, type(ev).__name__, ev.stream_id))
        return call

    def end_call(self, call):
        if call.ended:
            return
        self.session.ended += 1
        del self.calls[call.sid]
        call.finish()
        self.start_pending()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.session.sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()


# ----------------------------------------------------------- the session

LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789 "
EXTRA = ["", "na\u00efve caf\u00e9", "\u65e5\u672c\u8a9e", "\U0001F600 emoji", "tab\there",
         'quote " and \\ backslash', "x" * 300, "y" * 1500]


def chat_text(conn_no, call_no, i):
    """Distinct texts of varied lengths (some empty, some non-ASCII, some
    longer than a frame's share of the pipeline)."""
    if i % 97 == 0:
        return ""
    base = "c%d.%d.%d " % (conn_no, call_no, i)
    tail = EXTRA[i % len(EXTRA)] if i % 13 == 0 else LETTERS[:(i * 7) % len(LETTERS)]
    return base + tail


class Chat(Call):
    path = "/Chat/BiDiChat"
    PIPELINE = 400

    def __init__(self, conn, conn_no, call_no, count, done):
        super().__init__(conn)
        self.conn_no, self.call_no, self.count = conn_no, call_no, count
        self.expect = []        # expected reply payloads, in order
        self.next_i = 0
        self.next_reply = 0
        self.done = done
        self.whole = False      # echoes are split across frames as the window falls
        # Half-close with the last message (odd calls) or after the last echo.
        self.close_early = call_no % 2 == 1

    def start(self):
        super().start()
        self.refill()

    def refill(self):
        chunk = bytearray()
        while self.next_i < self.count and self.next_i - self.next_reply < self.PIPELINE:
            t = chat_text(self.conn_no, self.call_no, self.next_i)
            self.expect.append(chat_msg("echo: " + t))
            chunk += lpm(chat_msg(t))
            self.next_i += 1
        if chunk or (self.next_i == self.count and self.close_early and not self.half_close_after_out):
            self.send(bytes(chunk), half_close=self.next_i == self.count and self.close_early)

    def on_message(self, payload):
        k = self.next_reply
        if k >= len(self.expect):
            raise Failure("%s: reply %d, but only %d messages sent" % (self.describe(), k + 1, len(self.expect)))
        want = self.expect[k]
        if payload != want:
            try:
                got = pb_decode(payload).get(1, b"")
            except ValueError as e:
                raise Failure("%s: reply %d is not a ChatMessage (%s): %r" % (self.describe(), k + 1, e, payload[:80]))
            if got != pb_decode(want).get(1, b""):
                raise Failure("%s: reply %d is %r, want %r" % (
                    self.describe(), k + 1, got[:120], pb_decode(want).get(1, b"")[:120]))
        self.expect[k] = None
        self.next_reply += 1
        if self.next_i < self.count and self.next_i - self.next_reply <= self.PIPELINE // 2:
            self.refill()
        elif self.next_reply == self.count and not self.close_early:
            self.send(b"", half_close=True)

    def on_end(self):
        if self.next_reply != self.count:
            raise Failure("%s: ended OK after %d echoes of %d" % (self.describe(), self.next_reply, self.count))
        self.done(self)


class Append(Call):
    path = "/LogWatcher/Append"

    def __init__(self, conn, level, msg, done):
        super().__init__(conn)
        self.level, self.msg, self.done = level, msg, done
        self.seq = None

    def start(self):
        super().start()
        self.send(lpm(log_entry(self.level, self.msg)), half_close=True)

    def on_message(self, payload):
        if self.seq is not None:
            raise Failure("%s: a second response message" % self.describe())
        try:
            self.seq = pb_decode(payload).get(1, 0)
        except ValueError as e:
            raise Failure("%s: response not an AppendResponse (%s)" % (self.describe(), e))
        if not isinstance(self.seq, int):
            raise Failure("%s: AppendResponse.seq is not a varint: %r" % (self.describe(), payload))

    def on_end(self):
        if self.seq is None:
            raise Failure("%s: ended OK with no response" % self.describe())
        self.done(self)


class Watch(Call):
    path = "/LogWatcher/WatchLogs"

    def __init__(self, conn, filter, limit, follow, done, known_before=0):
        super().__init__(conn)
        self.filter, self.limit, self.follow, self.done = filter, limit, follow, done
        self.entries = []
        self.known_before = known_before    # log length acknowledged before it started

    def describe(self):
        return "%s (filter %r limit %d%s)" % (Call.describe(self), self.filter, self.limit,
                                             " follow" if self.follow else "")

    def start(self):
        super().start()
        self.send(lpm(watch_req(self.filter, self.limit, self.follow)), half_close=True)

    def on_message(self, payload):
        try:
            self.entries.append(decode_entry(payload))
        except (ValueError, UnicodeDecodeError, AttributeError) as e:
            raise Failure("%s: entry %d is not a LogEntry (%s)" % (self.describe(), len(self.entries) + 1, e))

    def on_end(self):
        self.done(self)


class Session:
    def __init__(self, port, pid, scale):
        self.port, self.pid = port, pid
        self.sel = selectors.DefaultSelector()
        self.dirty = set()
        self.received = 0           # response messages
        self.ended = 0              # calls
        s = scale
        self.n_chat_conns = 3
        self.calls_per_conn = 4
        self.chat_per_call = max(10, int(4500 * s))
        self.n_appends = max(20, int(3000 * s))
        self.append_window = 12
        self.note_limit = max(5, int(300 * s))
        self.warm = None            # (VmRSS, VmHWM) after warm-up
        self.warm_at = None
        # results
        self.chat_done = 0
        self.appends = []           # finished Append calls
        self.appends_started = 0
        self.acked_log_len = len(BUILTIN)   # a lower bound of the log's length
        self.follows = []
        self.watches = []
        self.watch_round = 0
        self.watch_busy = False
        self.final_watch = None
        self.appends_done = False

    # -- the plan ------------------------------------------------------

    def run(self, seconds):
        conns = [Conn(self, "chat-%d" % k) for k in range(self.n_chat_conns)]
        self.c_append = Conn(self, "append")
        self.c_follow = Conn(self, "follow")
        self.c_watch = Conn(self, "watch")
        self.conns = conns + [self.c_append, self.c_follow, self.c_watch]
        self.chat_todo = {}
        for k, c in enumerate(conns):
            self.chat_todo[c] = list(range(self.calls_per_conn))
            for _ in range(2):
                self.next_chat(c, k)
        # Followers first; the appends begin once the "" follower has had
        # its backlog (so the server has taken all three).
        n = self.n_appends
        self.n_follow = (n + 1) // 2            # appends with level FOLLOW
        self.total_log = len(BUILTIN) + n
        for flt, limit in (("FOLLOW", self.n_follow), ("", self.total_log), ("NOTE", self.note_limit)):
            w = Watch(self.c_follow, flt, limit, True, self.follow_done)
            w.start()
            self.follows.append(w)
        self.next_watch()
        # Responses to come, plain watches left out: a fifth of them is the warm-up.
        self.target = (self.n_chat_conns * self.calls_per_conn * self.chat_per_call +
                       self.n_appends + self.n_follow + self.total_log + self.note_limit)
        self.loop(seconds)
        return self.check()

    def next_chat(self, conn, k):
        if not self.chat_todo[conn]:
            return
        call_no = self.chat_todo[conn].pop(0)
        Chat(conn, k, call_no, self.chat_per_call,
             lambda call, conn=conn, k=k: self.chat_finished(call, conn, k)).start()

    def chat_finished(self, call, conn, k):
        self.chat_done += 1
        self.next_chat(conn, k)

    def start_appends(self):
        while (self.appends_started < self.n_appends and
               self.c_append.live() < self.append_window):
            i = self.appends_started
            self.appends_started += 1
            level = "FOLLOW" if i % 2 == 0 else "NOTE"
            msg = "append %d %s" % (i, EXTRA[i % len(EXTRA)][:40] if i % 5 == 0 else "")
            Append(self.c_append, level, msg, self.append_done).start()

    def append_done(self, call):
        self.appends.append(call)
        self.acked_log_len += 1     # at least this many entries are in
        if len(self.appends) == self.n_appends:
            self.appends_done = True
        else:
            self.start_appends()
        self.next_watch()

    def follow_done(self, call):
        pass

    WATCHES = [("", 0), ("ERROR", 0), ("INFO", 2), ("FOLLOW", 0), ("NOTE", 50), ("DEBUG", 0), ("", 1000)]

    PLAIN_WATCHES = 40      # while the appends go on, one per 1/40th of them

    def next_watch(self):
        """One plain watch at a time, paced by the appends (so that a slow
        machine gets no more of them than a fast one), then the last."""
        if self.watch_busy:
            return
        if self.appends_done:
            if self.final_watch is None:
                self.final_watch = Watch(self.c_watch, "", 0, False, self.watch_done, self.acked_log_len)
                self.final_watch.start()
            return
        if len(self.appends) < self.watch_round * self.n_appends // self.PLAIN_WATCHES:
            return                  # append_done calls again
        flt, limit = self.WATCHES[self.watch_round % len(self.WATCHES)]
        self.watch_round += 1
        self.watch_busy = True
        Watch(self.c_watch, flt, limit, False, self.watch_done, self.acked_log_len).start()

    def watch_done(self, call):
        if call is not self.final_watch:
            self.watch_busy = False
            self.watches.append(call)
            self.next_watch()

    def finished(self):
        return (self.chat_done == self.n_chat_conns * self.calls_per_conn and self.appends_done and
                all(f.ended for f in self.follows) and self.final_watch is not None and self.final_watch.ended)

    def loop(self, seconds):
        now = time.monotonic()
        end, last, seen = now + seconds, now, (-1, -1)
        started_appends = False
        while not self.finished():
            now = time.monotonic()
            if (self.received, self.ended) != seen:
                last, seen = now, (self.received, self.ended)
            elif now - last > STALL_SECONDS:
                raise Failure("nothing happened for %.0f s: %s" % (STALL_SECONDS, self.progress()))
            if now > end:
                raise Failure("the session did not end in %.0f s: %s" % (seconds, self.progress()))
            if not started_appends and self.follows[1].received >= len(BUILTIN):
                started_appends = True
                self.start_appends()
            if self.warm is None and self.received >= self.target // 5:
                self.warm = mem(self.pid)
                self.warm_at = self.received
            dirty, self.dirty = self.dirty, set()
            for c in dirty:
                c.flush()
            for key, ev in self.sel.select(timeout=0.5):
                conn = key.data
                if ev & selectors.EVENT_READ:
                    conn.readable()
                if ev & selectors.EVENT_WRITE:
                    self.dirty.add(conn)
        for c in self.conns:
            c.flush()

    def progress(self):
        live = "; ".join("%s: %d live%s" % (c.name, c.live(), "".join(
            " [stream %d: %d in, window for the server %d (connection %d), for us %d]" % (
                k, v.received, c.h2.remote_flow_control_window(k), c.h2.inbound_flow_control_window,
                c.h2.local_flow_control_window(k))
            for k, v in sorted(c.calls.items())[:6])) for c in self.conns)
        return ("%d messages received; chats done %d of %d; appends %d of %d (started %d); follows %s; "
                "plain watches %d; final watch %s; %s" % (
                    self.received, self.chat_done, self.n_chat_conns * self.calls_per_conn,
                    len(self.appends), self.n_appends, self.appends_started,
                    [(f.filter, f.received, f.ended) for f in self.follows], len(self.watches),
                    "done" if self.final_watch and self.final_watch.ended else "not done", live))

    def drain_goaways(self, seconds):
        """After SIGTERM: reads every connection to its end; returns
        {name: GOAWAY error code, or None if it closed without one}."""
        got = {}
        end = time.monotonic() + seconds
        live = {c for c in getattr(self, "conns", []) if not c.closed}
        while live and time.monotonic() < end:
            for key, _ in self.sel.select(timeout=0.2):
                c = key.data
                try:
                    data = c.sock.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                try:
                    events = c.h2.receive_data(data) if data else []
                except h2.exceptions.ProtocolError:
                    events = []
                for ev in events:
                    if isinstance(ev, h2.events.ConnectionTerminated):
                        got[c.name] = ev.error_code
                    elif isinstance(ev, h2.events.DataReceived) and ev.flow_controlled_length:
                        c.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if not data:
                    got.setdefault(c.name, None)
                    live.discard(c)
                    c.close()
        for c in live:
            got.setdefault(c.name, "no end in %.0f s" % seconds)
        return got

    # -- the checks ----------------------------------------------------

    def check(self):
        seqs = sorted(a.seq for a in self.appends)
        want = list(range(len(BUILTIN) + 1, len(BUILTIN) + self.n_appends + 1))
        if seqs != want:
            raise Failure(seq_detail(self, seqs, want))
        log = list(BUILTIN) + [None] * self.n_appends
        for a in self.appends:
            log[a.seq - 1] = (a.level, a.msg)

        def matching(flt):
            return [e for e in log if not flt or e[0] == flt]

        for f in self.follows:
            exp = matching(f.filter)[:f.limit]
            if f.entries != exp:
                raise Failure("%s: %s" % (f.describe(), diff(f.entries, exp)))
        for w in self.watches + [self.final_watch]:
            m = matching(w.filter)
            n = len(w.entries)
            if w.limit and n > w.limit:
                raise Failure("%s: %d entries, over its limit" % (w.describe(), n))
            if w.entries != m[:n]:
                raise Failure("%s: not a prefix of the log: %s" % (w.describe(), diff(w.entries, m[:n])))
            # Everything acknowledged before the call started must be there.
            floor = len([e for e in log[:w.known_before] if not w.filter or e[0] == w.filter])
            if w.limit:
                floor = min(floor, w.limit)
            if n < floor:
                raise Failure("%s: %d entries, but %d matching ones were in the log before it began" % (
                    w.describe(), n, floor))
        if self.final_watch.entries != log:
            raise Failure("the last WatchLogs (after every Append): %s" % diff(self.final_watch.entries, log))
        sent = (self.n_chat_conns * self.calls_per_conn * self.chat_per_call + self.n_appends +
                len(self.follows) + len(self.watches) + 1)
        return sent, self.received


def seq_detail(session, seqs, want):
    """Why the Append seqs are not 9..8+N: which calls share a seq, and
    what the last WatchLogs found at it."""
    by_seq = {}
    for a in session.appends:
        by_seq.setdefault(a.seq, []).append(a)
    log = session.final_watch.entries if session.final_watch else []
    lines = ["Append seqs are not exactly %d..%d (each once): %d distinct of %d calls" % (
        want[0], want[-1], len(by_seq), len(seqs))]
    for q in sorted(by_seq):
        if len(by_seq[q]) > 1 or not want[0] <= q <= want[-1]:
            lines.append("seq %d answered to %s; the log has %r there" % (
                q, ", ".join("%r (stream %d)" % (a.msg, a.sid) for a in by_seq[q]),
                log[q - 1] if 0 < q <= len(log) else None))
    missing = sorted(set(want) - set(by_seq))
    if missing:
        lines.append("never answered: %s" % ", ".join(
            "%d (the log has %r)" % (q, log[q - 1] if q <= len(log) else None) for q in missing[:10]))
    return "\n".join(lines[:20])


def diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "entry %d is %r, want %r (%d entries, want %d)" % (i + 1, g, w, len(got), len(want))
    return "%d entries, want %d (%s)" % (len(got), len(want),
                                        "extra %r" % (got[len(want)],) if len(got) > len(want)
                                        else "missing %r" % (want[len(got)],))


def mem(pid):
    """(VmRSS, VmHWM) of a process in KiB, or (None, None)."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


COUNTS = re.compile(r"^malloc_count: malloc=(\d+) calloc=(\d+) realloc=(\d+) free=(\d+) other=(\d+)"
                    r" after=accept fired=([01]) startup: malloc=(\d+) calloc=(\d+) realloc=(\d+)"
                    r" free=(\d+) other=(\d+)$")
KINDS = ("malloc", "calloc", "realloc", "free", "other")


def kib(n):
    return "?" if n is None else "{:,} KiB".format(n)


def start_server(server, env, stderr_path, log_file):
    """The server on a free port: (proc, port), or (None, args)."""
    for _ in range(3):                  # a free port may be taken in between
        port = common.free_port()
        args = [server, "--listen", "127.0.0.1:%d" % port] + (["--log", log_file] if log_file else [])
        with open(stderr_path, "w") as err:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, env=env)
        if wait_listening(proc, port):
            return proc, port
        stop(proc)
    return None, args


def run_one(rep, label, server, shim, build_dir, scale, seconds, log_file=None):
    tag = "-log" if log_file else ""
    t_replies = "%s%s: every reply of a long session is right" % (NAME, label)
    t_term = "%s%s: SIGTERM: GOAWAY NO_ERROR on every connection, exit 0" % (NAME, label)
    t_alloc = "%s%s: no heap allocation after start-up" % (NAME, label)
    counts_path = os.path.join(build_dir, "malloc_count%s.txt" % tag)
    stderr_path = os.path.join(build_dir, "server%s.stderr" % tag)
    if os.path.exists(counts_path):
        os.unlink(counts_path)
    env = dict(os.environ, LD_PRELOAD=shim, MALLOC_COUNT_OUT=counts_path, MALLOC_COUNT_AFTER="accept")
    env.pop("MALLOC_COUNT_ALL", None)
    proc, port = start_server(server, env, stderr_path, log_file)
    if proc is None:
        rep.fail(t_alloc, "the server did not start: %s\n%s" % (" ".join(port), tail(stderr_path)))
        return

    session = Session(port, proc.pid, scale)
    t0 = time.monotonic()
    ok = False
    try:
        sent, received = session.run(seconds)
        elapsed = time.monotonic() - t0
        if scale >= 1 and sent + received < MIN_MESSAGES:
            raise Failure("only {:,} messages: the session is too short to show anything".format(sent + received))
        ok = True
        rep.passed(t_replies, "{:,} requests and {:,} responses on {} connections in {:.1f} s".format(
            sent, received, len(session.conns), elapsed))
    except Failure as e:
        rep.fail(t_replies, str(e))
    except Exception:   # OSError, h2's ProtocolError, a bug here: a FAIL line all the same
        rep.fail(t_replies, "%s\nthe server's stderr:\n%s" % (traceback.format_exc(limit=6), tail(stderr_path)))

    # Peak memory just before SIGTERM; the connections stay open, so the
    # graceful shutdown (GOAWAY on each) is counted too.
    end_rss, end_hwm = mem(proc.pid)
    alive = proc.poll() is None
    goaways = {}
    if alive:
        proc.send_signal(signal.SIGTERM)
        goaways = session.drain_goaways(8.0)
    rc = wait_exit(proc, 8.0)   # one SIGTERM only: a second one may kill it
    for c in getattr(session, "conns", []):
        c.close()
    bad_goaway = {k: v for k, v in goaways.items() if v != 0}
    if not alive:
        rep.fail(t_term, "the server had exited (status %r) before the end of the session\n%s" % (
            rc, tail(stderr_path)))
    elif rc != 0 or (ok and bad_goaway):
        rep.fail(t_term, "exit status %r; GOAWAY error codes %r (0: NO_ERROR; None: none before EOF)\n%s" % (
            rc, goaways, tail(stderr_path)))
    else:
        rep.passed(t_term)

    try:
        with open(counts_path) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    m = COUNTS.match(lines[0]) if len(lines) == 1 else None
    if m is None:
        rep.fail(t_alloc, "not one count line from the shim in %s (its destructor writes it when the "
                 "server exits normally): %r" % (counts_path, lines))
        return
    if m.group(6) != "1":
        rep.fail(t_alloc, "the shim saw no accept(), so it cannot tell start-up from the session: " + lines[0])
        return
    after = dict(zip(KINDS, map(int, m.group(1, 2, 3, 4, 5))))
    startup = dict(zip(KINDS, map(int, m.group(7, 8, 9, 10, 11))))
    warm_rss = session.warm[0] if session.warm else None
    figures = "VmRSS {} after warm-up ({:,} responses in), VmHWM {} before SIGTERM (VmRSS {})".format(
        kib(warm_rss), session.warm_at or 0, kib(end_hwm), kib(end_rss))
    if any(after.values()):
        rep.fail(t_alloc, "heap calls after start-up: %s\n%s" % (
            " ".join("%s=%d" % kv for kv in after.items()), figures))
        return
    if not ok:
        rep.fail(t_alloc, "0 heap calls, but the session failed, so that proves little; " + figures)
        return
    su = "none at start-up either" if not any(startup.values()) else "start-up made " + " ".join(
        "%s=%d" % kv for kv in startup.items() if kv[1])
    rep.passed(t_alloc, "{:,} messages on {} connections; 0 heap calls after start-up, {}; {}".format(
        sent + received, len(session.conns), su, figures))


def wait_listening(proc, port, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def wait_exit(proc, seconds):
    """The exit status, or a text if SIGKILL had to end it."""
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed: no exit %.0f s after SIGTERM" % seconds


def stop(proc, seconds=8.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "killed: no exit %.0f s after SIGTERM" % seconds
    return proc.returncode


def tail(path):
    try:
        with open(path) as f:
            return f.read()[-1500:]
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.path.join(common.REPO, "grpcstream"))
    ap.add_argument("--build-dir", default=os.path.join(common.REPO, "build", "h2-fixed-memory"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-log-file", action="store_true")
    ap.add_argument("--seconds", type=float, default=SESSION_SECONDS,
                    help="a session that has not ended by then fails")
    opt = ap.parse_args()
    rep = common.Report()
    if not HAVE_H2:
        rep.skip(NAME, "python3-h2 is not installed for %s" % sys.executable)
        return 0
    gcc = shutil.which("gcc")
    if gcc is None:
        rep.skip(NAME, "gcc is not installed: cannot build the malloc_count shim")
        return 0
    if not os.access(opt.server, os.X_OK):
        rep.fail(NAME, "no server binary %s (run make)" % opt.server)
        return 1
    os.makedirs(opt.build_dir, exist_ok=True)
    shim = os.path.join(os.path.abspath(opt.build_dir), "malloc_count.so")
    r = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", shim,
                        os.path.join(common.REPO, "tests", "malloc_count.c"), "-ldl"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        rep.fail(NAME, "building the shim failed:\n" + r.stdout)
        return 1
    run_one(rep, "", opt.server, shim, opt.build_dir, opt.scale, opt.seconds)
    if not opt.no_log_file:
        log = os.path.join(os.path.abspath(opt.build_dir), "session.log")
        with open(log, "w") as f:
            for level, msg in BUILTIN:
                f.write("%s %s\n" % (level, msg))
        run_one(rep, " with --log FILE", opt.server, shim, opt.build_dir, opt.scale, opt.seconds, log)
    return rep.status()


if __name__ == "__main__":
    sys.exit(main())
