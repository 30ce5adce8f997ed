#!/usr/bin/python3
"""Records what a stock gRPC client sends: the transcript the firmware replays.

    /usr/bin/python3 examples/firmware/record.py SERVER OUT

SERVER (e.g. ./grpcstream) is started as `SERVER --listen 127.0.0.1:PORT`;
a TCP proxy in front of it passes every byte both ways and keeps the
client's, and grpcio (python3-grpcio) makes, on one channel: WatchLogs
{filter: ERROR}, WatchLogs {limit: 2}, Append {level: WARN, msg: from
grpcio}, a BiDiChat of three messages, and a BiDiChat it cancels after
the first echo. OUT gets the client's bytes of that one connection
(examples/firmware/grpcio.h2 was made so, against a host build of the
firmware's HTTP/2 configuration, WITH_H2 in tests/firmware.sh without
GS_NO_MAIN, since the client's HPACK state follows the SETTINGS it was
sent; the firmware feeds it to
gs_conn_feed and tests/firmware.sh compares the node's answer on the
target with the host's). Messages are encoded with tests/h2/rawh2.py (no
protoc needed).
"""
import os
import socket
import subprocess
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "h2"))
import common  # noqa: E402
from rawh2 import chat_msg, log_entry, pb_uint, pb_str  # noqa: E402


def proxy(listener, upstream_port, captured, done):
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", upstream_port))

    def pump(src, dst, keep):
        while True:
            data = src.recv(65536)
            if not data:
                break
            if keep:
                captured.append(data)
            dst.sendall(data)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=pump, args=(server, client, False), daemon=True)
    t.start()
    pump(client, server, True)
    t.join(5)
    done.set()


def main():
    server_cmd, out = sys.argv[1], sys.argv[2]
    port = common.free_port()
    srv = subprocess.Popen([server_cmd, "--listen", "127.0.0.1:%d" % port])
    time.sleep(0.3)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    captured, done = [], threading.Event()
    threading.Thread(target=proxy, args=(listener, port, captured, done), daemon=True).start()
    ch = grpc.insecure_channel("127.0.0.1:%d" % listener.getsockname()[1])
    ident = lambda b: b  # noqa: E731
    watch = ch.unary_stream("/LogWatcher/WatchLogs", request_serializer=ident, response_deserializer=ident)
    append = ch.unary_unary("/LogWatcher/Append", request_serializer=ident, response_deserializer=ident)
    chat = ch.stream_stream("/Chat/BiDiChat", request_serializer=ident, response_deserializer=ident)
    assert len(list(watch(pb_str(1, "ERROR"), timeout=10))) == 3
    assert len(list(watch(pb_uint(2, 2), timeout=10))) == 2
    append(log_entry("WARN", "from grpcio"), timeout=10)
    assert len(list(chat(iter([chat_msg("one"), chat_msg("two"), chat_msg("three")]), timeout=10))) == 3
    calls = chat(iter([chat_msg("first")]), timeout=10)
    next(calls)
    calls.cancel()
    ch.close()
    done.wait(10)
    srv.terminate()
    srv.wait(10)
    with open(out, "wb") as f:
        f.write(b"".join(captured))
    print("%s: %d bytes" % (out, sum(len(c) for c in captured)))


if __name__ == "__main__":
    main()
