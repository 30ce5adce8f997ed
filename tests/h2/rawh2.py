"""Raw HTTP/2 for the abuse and fault tests (tests/h2/abuse.py, faults.py).

Frames are built by hand, so a test can send what no HTTP/2 library will
(bad stream ids, floods, oversized frames, broken header blocks). Request
header blocks are HPACK literals without indexing (no dynamic table state
to keep in step); response header blocks are read with python3-hpack's
Decoder. Protobuf is encoded by hand, as in fixed_memory.py.

RawConn is one client connection over a non-blocking socket. It reads
whatever the server sends into per-stream records (response headers,
trailers, DATA bytes, RST_STREAM code) and connection records (GOAWAY,
PINGs, SETTINGS), acknowledges SETTINGS, and (when asked) answers PINGs
and gives back receive window. Every wait has a deadline.
"""
import errno
import os
import select
import socket
import struct
import time

try:
    import hpack
    HAVE_HPACK = True
except ImportError:          # the scripts SKIP
    HAVE_HPACK = False

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
               "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# SETTINGS parameters
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)

# RFC 9113 error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
               "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
               "HTTP_1_1_REQUIRED"]

WINDOW_MAX = 0x7FFFFFFF


def err_name(code):
    if code is None:
        return "none"
    return "%s (0x%x)" % (ERROR_NAMES[code], code) if 0 <= code < len(ERROR_NAMES) else "0x%x" % code


class Failure(AssertionError):
    pass


# ---------------------------------------------------------------- frames

def frame(ftype, flags, sid, payload=b"", length=None):
    """One frame; `length` overrides the length field (to lie about it)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid & 0x7FFFFFFF) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def ping(data=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def window_update(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


def rst_stream(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def goaway(last_sid, code):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_sid, code))


def data_frame(sid, payload, end=False):
    return frame(DATA, END_STREAM if end else 0, sid, payload)


def headers_frame(sid, block, end_stream=False, end_headers=True):
    return frame(HEADERS, (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0),
                 sid, block)


# ---------------------------------------------------------------- HPACK, by hand

def hp_int(value, prefix_bits, first=0):
    """RFC 7541 5.1: an integer with an N-bit prefix; `first` holds the
    bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    b = s.encode() if isinstance(s, str) else s
    return hp_int(len(b), 7) + b


def lit(name, value):
    """Literal header field without indexing, new name (RFC 7541 6.2.2)."""
    return b"\x00" + hp_str(name) + hp_str(value)


def lit_indexed(name, value):
    """Literal header field with incremental indexing, new name (6.2.1):
    the field enters the decoder's dynamic table."""
    return b"\x40" + hp_str(name) + hp_str(value)


def indexed(i):
    """Indexed header field (6.1): static 1..61, dynamic from 62."""
    return hp_int(i, 7, 0x80)


def request_fields(path, authority="127.0.0.1", content_type="application/grpc", extra=()):
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
              ("te", "trailers")]
    if content_type is not None:
        fields.append(("content-type", content_type))
    return fields + list(extra)


def request_block(path, **kw):
    return b"".join(lit(n, v) for n, v in request_fields(path, **kw))


# ---------------------------------------------------------------- protobuf, by hand

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
        return b""
    return varint(field << 3 | 2) + varint(len(b)) + b


def pb_uint(field, n):
    return varint(field << 3) + varint(n) if n else b""


def pb_fields(data):
    """{field number: value} of a message (bytes or int); ValueError if bad."""
    out = {}
    i, n = 0, len(data)

    def rd():
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
        key = rd()
        f, wt = key >> 3, key & 7
        if wt == 0:
            out[f] = rd()
        elif wt == 2:
            ln = rd()
            if i + ln > n:
                raise ValueError("string cut short")
            out[f] = bytes(data[i:i + ln])
            i += ln
        else:
            raise ValueError("wire type %d" % wt)
    return out


def log_entry(level, msg):
    return pb_str(1, level) + pb_str(2, msg)


def watch_req(filter="", limit=0, follow=False):
    return pb_str(1, filter) + pb_uint(2, limit) + (b"\x18\x01" if follow else b"")


def chat_msg(text):
    return pb_str(1, text)


def lpm(payload, flag=0):
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


def split_lpms(data):
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 5:
            raise ValueError("%d stray bytes after %d messages" % (len(data) - i, len(out)))
        n = struct.unpack(">I", data[i + 1:i + 5])[0]
        if data[i] != 0:
            raise ValueError("message %d has compressed flag %d" % (len(out) + 1, data[i]))
        if len(data) - i - 5 < n:
            raise ValueError("message %d cut short: %d of %d bytes" % (len(out) + 1, len(data) - i - 5, n))
        out.append(bytes(data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def decode_entry(payload):
    f = pb_fields(payload)
    return (f.get(1, b"").decode("utf-8", "replace"), f.get(2, b"").decode("utf-8", "replace"))


def decode_chat(payload):
    return pb_fields(payload).get(1, b"").decode("utf-8", "replace")


WATCH = "/LogWatcher/WatchLogs"
APPEND = "/LogWatcher/Append"
CHAT = "/Chat/BiDiChat"


# ---------------------------------------------------------------- the process

def proc_mem(pid):
    """(VmRSS, VmHWM) in KiB, or (None, None)."""
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


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process, in seconds (None if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- a connection

class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None         # dict of the first HEADERS
        self.trailers = None        # dict of the second HEADERS
        self.trailers_only = False
        self.data = bytearray()
        self.data_frames = 0
        self.ended = False          # END_STREAM seen
        self.reset = None           # RST_STREAM code
        self.first_data_at = None

    def status(self):
        src = self.headers if self.trailers_only else self.trailers
        return None if src is None else src.get("grpc-status")

    def message(self):
        src = self.headers if self.trailers_only else self.trailers
        return None if src is None else src.get("grpc-message")

    def done(self):
        return self.ended or self.reset is not None

    def describe(self):
        return "stream %d: headers=%r trailers=%r data=%d bytes ended=%r reset=%s" % (
            self.sid, self.headers, self.trailers, len(self.data), self.ended,
            err_name(self.reset) if self.reset is not None else None)


class RawConn:
    """One client connection. start=True sends the preface and SETTINGS
    (with `settings_pairs`); window: what to add to the connection's
    receive window at once; auto_window: give back receive window as DATA
    is read; answer_pings: send PING ACKs."""

    def __init__(self, port, start=True, settings_pairs=(), window=WINDOW_MAX - 65535,
                 auto_window=True, answer_pings=True, connect_timeout=5.0, rcvbuf=None):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(connect_timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.streams = {}
        self.goaway = None          # (last_sid, code, debug)
        self.goaway_at = None
        self.eof = False            # the server closed (FIN)
        self.reset_by_peer = False  # ECONNRESET
        self.send_failed = None     # the errno of a failed send
        self.closed_at = None
        self.pings = []             # (time, data) of PINGs from the server
        self.ping_acks = []         # data of PING ACKs from the server
        self.settings_acks = 0
        self.server_settings = []   # the server's SETTINGS frames, as lists of pairs
        self.frames = []            # (time, type, flags, sid, length) of every frame
        self.window_updates = {}    # sid -> total increment the server granted
        self.window_log = []        # (sid, increment) of each WINDOW_UPDATE
        self.auto_window = auto_window
        self.answer_pings = answer_pings
        self.unacked = {}           # sid -> DATA bytes read, not yet given back
        self.decoder = hpack.Decoder() if HAVE_HPACK else None
        self.hb = None              # (sid, flags, bytes) of a header block in progress
        self.next_sid = 1
        self.bytes_in = 0
        self.bytes_out = 0
        self.started = False        # the preface is sent: answers may go out
        self.t0 = time.monotonic()
        self.protocol_error = None  # a frame we could not make sense of
        self.peer_initial = 65535   # the server's SETTINGS_INITIAL_WINDOW_SIZE
        self.send_windows = {0: 65535}  # what we may still send: connection, streams
        if start:
            out = PREFACE + settings(*settings_pairs)
            if window:
                out += window_update(0, window)
            self.send(out)

    # -- output ---------------------------------------------------------

    def send(self, data, deadline=5.0):
        """Queues data and writes what the socket takes, reading meanwhile;
        returns False once sending has failed (the server closed)."""
        self.started = True
        self.outbuf += data
        return self.flush(deadline)

    def flush(self, seconds=5.0):
        end = time.monotonic() + seconds
        while self.outbuf and self.send_failed is None:
            if self.write_out() > 0:
                continue
            if self.send_failed is not None:
                break
            left = end - time.monotonic()
            if left <= 0:
                raise Failure("could not send %d bytes in %.1f s (the server reads nothing)" % (
                    len(self.outbuf), seconds))
            r, w, _ = select.select([self.sock], [self.sock], [], min(left, 0.2))
            if r:
                self.read_some()
        return self.send_failed is None

    def write_out(self):
        """Writes what the socket takes of the queued output now; returns
        the bytes written, 0 if none, -1 once sending has failed. Every
        write goes through this one queue, so that an automatic answer
        (SETTINGS ACK, PING ACK, WINDOW_UPDATE) never lands inside a frame."""
        if self.send_failed is not None:
            return -1
        if not self.outbuf:
            return 0
        try:
            n = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            self.send_failed = e.errno
            self.outbuf.clear()
            return -1
        del self.outbuf[:n]
        self.bytes_out += n
        return n

    def try_send(self, data):
        """Queues data and writes what the socket takes now, without
        waiting; returns -1 once sending has failed."""
        self.outbuf += data
        return self.write_out()

    def ready(self, seconds=3.0):
        """Waits for the server's SETTINGS and sends our ACK: after this no
        automatic answer is owed (one could otherwise fall between HEADERS
        and CONTINUATION frames sent later)."""
        self.wait(lambda: self.server_settings, seconds, what="the server's SETTINGS")
        self.flush()
        return self

    # -- input ----------------------------------------------------------

    def closed(self):
        return self.eof or self.reset_by_peer

    def read_some(self, limit=1 << 20):
        """Reads what is there now (up to `limit` bytes) and handles it;
        returns the bytes read."""
        got = 0
        while got < limit and not self.closed():
            try:
                chunk = self.sock.recv(min(1 << 18, limit - got))
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE):
                    self.reset_by_peer = True
                    self.closed_at = time.monotonic()
                    break
                raise
            if not chunk:
                self.eof = True
                self.closed_at = time.monotonic()
                break
            got += len(chunk)
            self.bytes_in += len(chunk)
            self.inbuf += chunk
            self.parse()
        if self.started:
            self.write_out()
        return got

    def pump(self, seconds):
        """Reads for `seconds` (or until the connection ends)."""
        self.wait(lambda: False, seconds)

    def wait(self, cond, seconds, what=None):
        """Reads until cond() holds; returns it. With `what`, raises Failure
        on timeout."""
        end = time.monotonic() + seconds
        while True:
            if cond():
                return True
            if self.closed():
                if cond():
                    return True
                if what:
                    raise Failure("the server closed the connection before %s (GOAWAY %s)" % (
                        what, self.goaway_text()))
                return False
            left = end - time.monotonic()
            if left <= 0:
                if what:
                    raise Failure("no %s within %.1f s" % (what, seconds))
                return False
            wl = [self.sock] if self.outbuf and self.send_failed is None else []
            r, w, _ = select.select([self.sock], wl, [], min(left, 0.1))
            if r or w:
                self.read_some()

    def wait_closed(self, seconds):
        """Reads (and drops) until the server closes; True if it did."""
        return self.wait(lambda: self.closed(), seconds)

    def goaway_text(self):
        if self.goaway is None:
            return "none"
        return "%s, last stream %d%s" % (err_name(self.goaway[1]), self.goaway[0],
                                         ", debug %r" % self.goaway[2][:60] if self.goaway[2] else "")

    def ending(self):
        """How the connection ended, for messages."""
        parts = ["GOAWAY " + self.goaway_text()]
        if self.eof:
            parts.append("closed (FIN)")
        elif self.reset_by_peer:
            parts.append("reset (ECONNRESET)")
        else:
            parts.append("still open")
        if self.send_failed is not None:
            parts.append("send failed: %s" % errno.errorcode.get(self.send_failed, self.send_failed))
        return ", ".join(parts)

    def parse(self):
        buf = self.inbuf
        i = 0
        n = len(buf)
        while n - i >= 9:
            ln = buf[i] << 16 | buf[i + 1] << 8 | buf[i + 2]
            if n - i - 9 < ln:
                break
            ftype, flags = buf[i + 3], buf[i + 4]
            sid = struct.unpack(">I", buf[i + 5:i + 9])[0] & 0x7FFFFFFF
            payload = bytes(buf[i + 9:i + 9 + ln])
            i += 9 + ln
            self.on_frame(ftype, flags, sid, payload)
        if i:
            del buf[:i]

    def stream(self, sid):
        s = self.streams.get(sid)
        if s is None:
            s = self.streams[sid] = Stream(sid)
        return s

    def on_frame(self, ftype, flags, sid, payload):
        now = time.monotonic()
        self.frames.append((now, ftype, flags, sid, len(payload)))
        if ftype == DATA:
            s = self.stream(sid)
            body = payload
            if flags & PADDED:
                body = payload[1:len(payload) - payload[0]]
            if s.first_data_at is None:
                s.first_data_at = now
            s.data += body
            s.data_frames += 1
            if flags & END_STREAM:
                s.ended = True
            if self.auto_window and payload:
                self.unacked[sid] = self.unacked.get(sid, 0) + len(payload)
                self.unacked[0] = self.unacked.get(0, 0) + len(payload)
                if self.unacked[0] >= 1 << 14 or self.unacked[sid] >= 1 << 14:
                    self.give_back()
        elif ftype in (HEADERS, CONTINUATION):
            if ftype == HEADERS:
                body = payload
                if flags & PADDED:
                    body = body[1:len(body) - body[0]]
                if flags & PRIORITY_FLAG:
                    body = body[5:]
                self.hb = (sid, flags, bytearray(body))
            elif self.hb is not None:
                self.hb[2].extend(payload)
            else:
                self.protocol_error = "CONTINUATION without HEADERS"
                return
            if flags & END_HEADERS:
                hsid, hflags, block = self.hb
                self.hb = None
                try:
                    fields = self.decoder.decode(bytes(block), raw=True)
                    fields = {k.decode("latin-1"): v.decode("latin-1") for k, v in fields}
                except Exception as e:     # hpack errors
                    self.protocol_error = "bad response header block: %r" % (e,)
                    fields = {}
                s = self.stream(hsid)
                if s.headers is None:
                    s.headers = fields
                    s.trailers_only = bool(hflags & END_STREAM)
                else:
                    s.trailers = fields
                if hflags & END_STREAM:
                    s.ended = True
        elif ftype == RST_STREAM:
            st = self.stream(sid)
            if st.reset is None:        # the first one says why
                st.reset = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else -1
        elif ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                pairs = [struct.unpack(">HI", payload[k:k + 6]) for k in range(0, len(payload) - 5, 6)]
                self.server_settings.append(pairs)
                for k, v in pairs:
                    if k == INITIAL_WINDOW_SIZE:
                        for st in self.send_windows:
                            self.send_windows[st] += v - self.peer_initial
                        self.peer_initial = v
                if self.started:
                    self.outbuf += settings(ack=True)
        elif ftype == PING:
            if flags & ACK:
                self.ping_acks.append(payload)
            else:
                self.pings.append((now, payload))
                if self.answer_pings and self.started:
                    self.outbuf += ping(payload, ack=True)
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
            if self.goaway_at is None:
                self.goaway_at = now
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            self.window_updates[sid] = self.window_updates.get(sid, 0) + inc
            self.window_log.append((sid, inc))
            if sid in self.send_windows:
                self.send_windows[sid] += inc

    def give_back(self):
        for sid, k in self.unacked.items():
            s = self.streams.get(sid)
            if k and (sid == 0 or (s is not None and not s.done())):
                self.outbuf += window_update(sid, k)
        self.unacked = {}

    # -- calls ----------------------------------------------------------

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def open(self, path, body=None, end=True, extra=(), content_type="application/grpc", sid=None):
        """HEADERS (and DATA `body`, END_STREAM if `end`) of a new call;
        the body is sent within the server's windows."""
        sid = self.new_sid() if sid is None else sid
        self.stream(sid)
        self.send_windows[sid] = self.peer_initial
        self.send(headers_frame(sid, request_block(path, extra=extra, content_type=content_type),
                                end_stream=end and body is None))
        if body is not None:
            self.send_data(sid, body, end)
        return sid

    def send_data(self, sid, body, end=False, raw=False, seconds=10.0):
        """DATA frames of body on stream sid (END_STREAM on the last if
        `end`). Unless raw, within the server's connection and stream
        windows: waits (reading) for WINDOW_UPDATE when they are spent.
        raw: whatever the windows say (to test the server's checks)."""
        if raw:
            self.send(data_frames(sid, body, end))
            return
        pos = 0
        if sid not in self.send_windows:
            self.send_windows[sid] = self.peer_initial
        while True:
            left = len(body) - pos
            room = min(self.send_windows[0], self.send_windows[sid], 16384, left)
            if room > 0 or left == 0:
                k = max(room, 0)
                last = pos + k >= len(body)
                self.outbuf += data_frame(sid, body[pos:pos + k], end and last)
                self.send_windows[0] -= k
                self.send_windows[sid] -= k
                pos += k
                if last:
                    break
                continue
            self.flush()
            st = self.streams.get(sid)
            self.wait(lambda: min(self.send_windows[0], self.send_windows[sid]) > 0 or
                      (st is not None and st.done()), seconds,
                      what="window to send on stream %d (%d of %d bytes sent)" % (sid, pos, len(body)))
            if st is not None and st.done():
                break
        self.flush()

    def call(self, path, body, seconds=5.0, **kw):
        """A whole call; returns its Stream once it has ended."""
        sid = self.open(path, body, **kw)
        s = self.streams[sid]
        self.wait(s.done, seconds, what="end of %s (stream %d)" % (path, sid))
        return s

    def close(self, rst=False):
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


def data_frames(sid, body, end=False, size=16384):
    out = bytearray()
    for k in range(0, len(body), size):
        out += data_frame(sid, body[k:k + size], end and k + size >= len(body))
    if end and not body:
        out += data_frame(sid, b"", True)
    return bytes(out)


# ---------------------------------------------------------------- checks

def grpc_ok(s, what):
    """Raises Failure unless stream s ended with :status 200, grpc-status 0."""
    if s.reset is not None and not s.ended:
        raise Failure("%s: RST_STREAM %s: %s" % (what, err_name(s.reset), s.describe()))
    if not s.ended:
        raise Failure("%s: no END_STREAM: %s" % (what, s.describe()))
    if (s.headers or {}).get(":status") != "200" or s.status() != "0":
        raise Failure("%s: expected :status 200, grpc-status 0: %s" % (what, s.describe()))


def append_call(conn, level, msg, seconds=5.0):
    """Append over conn; returns the seq."""
    s = conn.call(APPEND, lpm(log_entry(level, msg)), seconds)
    grpc_ok(s, "Append")
    msgs = split_lpms(s.data)
    if len(msgs) != 1:
        raise Failure("Append: %d response messages" % len(msgs))
    return pb_fields(msgs[0]).get(1, 0)


def watch_call(conn, seconds=5.0, **req):
    """A plain WatchLogs over conn; returns its entries."""
    s = conn.call(WATCH, lpm(watch_req(**req)), seconds)
    grpc_ok(s, "WatchLogs")
    return [decode_entry(m) for m in split_lpms(s.data)]


def normal_client(port, tag, seconds=5.0):
    """A quick Append and WatchLogs over a new connection; returns a note,
    raises Failure if either is wrong."""
    t0 = time.monotonic()
    try:
        conn = RawConn(port)
    except OSError as e:
        raise Failure("a new connection failed: %s" % e)
    try:
        seq = append_call(conn, "AFTER", tag, seconds)
        got = watch_call(conn, seconds, filter="AFTER")
        if not got or got[-1] != ("AFTER", tag):
            raise Failure("WatchLogs filter AFTER after Append %r: %r" % (tag, got[-3:]))
    except Failure as e:
        raise Failure("%s; connection: %s" % (e, conn.ending()))
    finally:
        conn.close()
    return "served in %.0f ms (seq %d)" % ((time.monotonic() - t0) * 1000, seq)
