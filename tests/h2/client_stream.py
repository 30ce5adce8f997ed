#!/usr/bin/python3
"""Client streaming through grpcio: examples/counter.c's Counter/Sum (and
its other kinds: Add, unary, and Running, bidi, with metadata).

    /usr/bin/python3 tests/h2/client_stream.py --server CMD [--build-dir DIR]

CMD is a node built with the Counter services in grpcstream's own shell
(examples/counter.c with -DCOUNTER_NO_MAIN -DGS_MAIN_SERVICES=counter_services
-DGS_METADATA=1024, as test.sh builds it),
started as `CMD --listen 127.0.0.1:PORT`. Counter/Sum takes a stream of
{n: uint64} (field 1) and answers their sum when the client half-closes;
past 2^64-1 it fails OUT_OF_RANGE "sum past 2^64-1". Messages are encoded
here by hand (tests/h2/rawh2.py), so no .proto is needed. One PASS:/FAIL:/
SKIP: line per check; exit status 1 on any FAIL. Counter/Count with
every_us shows timers: paced messages while the server's CPU time stays
near zero (no busy-waiting).
"""
import argparse
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from rawh2 import pb_fields, pb_uint, proc_cpu  # noqa: E402

try:
    import grpc
except ImportError:
    grpc = None

TIMEOUT = 10.0


def enc_n(n):
    """{n: n}: field 1, varint (absent when 0, as proto3 writes it)."""
    return pb_uint(1, n)


def dec_n(data):
    """The n of a one-field message (0 when absent)."""
    return pb_fields(data).get(1, 0)


def enc_count(lo, hi, every_us=0):
    return pb_uint(1, lo) + pb_uint(2, hi) + pb_uint(3, every_us)


def sum_call(ch, numbers):
    stub = ch.stream_unary("/Counter/Sum", request_serializer=enc_n, response_deserializer=dec_n)
    return stub.with_call(iter(numbers), timeout=TIMEOUT)


def sum_call_md(ch, numbers, metadata):
    stub = ch.stream_unary("/Counter/Sum", request_serializer=enc_n, response_deserializer=dec_n)
    return stub.with_call(iter(numbers), timeout=TIMEOUT, metadata=metadata)


def run(args, rep):
    checks = []

    def check(name):
        def wrap(fn):
            checks.append((name, fn))
            return fn
        return wrap

    @check("Sum: [2, 40] -> 42, status OK")
    def _(ch):
        value, call = sum_call(ch, [2, 40])
        assert value == 42 and call.code() == grpc.StatusCode.OK, (value, call.code())

    @check("Sum: no messages -> 0, status OK")
    def _(ch):
        value, call = sum_call(ch, [])
        assert value == 0 and call.code() == grpc.StatusCode.OK, (value, call.code())

    @check("Sum: 5,000 messages of 1..5000 -> 12,502,500")
    def _(ch):
        value, _call = sum_call(ch, range(1, 5001))
        assert value == 12502500, value

    @check("Sum: 2^64-1 then 1 -> OUT_OF_RANGE \"sum past 2^64-1\"")
    def _(ch):
        try:
            sum_call(ch, [2**64 - 1, 1])
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.OUT_OF_RANGE and e.details() == "sum past 2^64-1", \
                (e.code(), e.details())
            return
        raise AssertionError("the call succeeded")

    @check("Sum: many calls at once on one channel, each its own total")
    def _(ch):
        stub = ch.stream_unary("/Counter/Sum", request_serializer=enc_n, response_deserializer=dec_n)
        futures = [stub.future(iter([k] * k), timeout=TIMEOUT) for k in range(1, 41)]
        got = [f.result() for f in futures]
        assert got == [k * k for k in range(1, 41)], got

    @check("Count (server streaming) beside it: 3..5")
    def _(ch):
        stub = ch.unary_stream("/Counter/Count", request_serializer=lambda b: b,
                               response_deserializer=dec_n)
        got = list(stub(enc_count(3, 5), timeout=TIMEOUT))
        assert got == [3, 4, 5], got

    @check("Count with every_us=100000 (timers): 1..4 paced, and the server sleeps meanwhile")
    def _(ch, srv):
        stub = ch.unary_stream("/Counter/Count", request_serializer=lambda b: b,
                               response_deserializer=dec_n)
        cpu0, t0 = proc_cpu(srv.proc.pid), time.monotonic()
        got, times = [], []
        for n in stub(enc_count(1, 4, 100000), timeout=TIMEOUT):
            got.append(n)
            times.append(time.monotonic() - t0)
        cpu = proc_cpu(srv.proc.pid) - cpu0
        assert got == [1, 2, 3, 4], got
        # message k leaves no earlier than k timers after the call began
        # (lateness is the machine's; earliness would be a bug)
        assert all(t >= 0.1 * (k + 1) - 0.002 for k, t in enumerate(times)), "times %r" % times
        assert cpu < 0.1, "server CPU %.3f s over %.2f s of timers" % (cpu, times[-1])

    ECHO_MD = [("x-grpc-test-echo-initial", "test_initial_metadata_value"),
               ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")]

    @check("metadata: Sum echoes x-grpc-test-echo-initial as initial, -trailing-bin as trailing")
    def _(ch):
        value, call = sum_call_md(ch, [1, 2], ECHO_MD)
        initial = dict(call.initial_metadata())
        trailing = dict(call.trailing_metadata())
        assert value == 3, value
        assert initial.get("x-grpc-test-echo-initial") == "test_initial_metadata_value", initial
        assert trailing.get("x-grpc-test-echo-trailing-bin") == b"\xab\xab\xab", trailing

    @check("metadata: Count (server streaming) echoes them too; 300 binary bytes round-trip")
    def _(ch):
        blob = bytes(range(256)) + bytes(44)
        stub = ch.unary_stream("/Counter/Count", request_serializer=lambda b: b,
                               response_deserializer=dec_n)
        call = stub(enc_count(1, 2), timeout=TIMEOUT,
                    metadata=[("x-grpc-test-echo-initial", "v"), ("x-grpc-test-echo-trailing-bin", blob)])
        got = list(call)
        assert got == [1, 2], got
        assert dict(call.initial_metadata()).get("x-grpc-test-echo-initial") == "v"
        assert dict(call.trailing_metadata()).get("x-grpc-test-echo-trailing-bin") == blob

    @check("all four kinds: Add (unary) echoes metadata through gs_unary_call; 2 + 40 = 42")
    def _(ch):
        stub = ch.unary_unary("/Counter/Add", request_serializer=lambda b: b, response_deserializer=dec_n)
        value, call = stub.with_call(pb_uint(1, 2) + pb_uint(2, 40), timeout=TIMEOUT, metadata=ECHO_MD)
        assert value == 42, value
        assert dict(call.initial_metadata()).get("x-grpc-test-echo-initial") == "test_initial_metadata_value"
        assert dict(call.trailing_metadata()).get("x-grpc-test-echo-trailing-bin") == b"\xab\xab\xab"

    @check("all four kinds: Running (bidi) answers each number with the running total, OK at half-close")
    def _(ch):
        stub = ch.stream_stream("/Counter/Running", request_serializer=enc_n, response_deserializer=dec_n)
        call = stub(iter([5, 7, 30]), timeout=TIMEOUT, metadata=ECHO_MD)
        got = list(call)
        assert got == [5, 12, 42], got
        assert call.code() == grpc.StatusCode.OK, call.code()
        assert dict(call.trailing_metadata()).get("x-grpc-test-echo-trailing-bin") == b"\xab\xab\xab"

    @check("metadata: trailing metadata also on an error (OUT_OF_RANGE)")
    def _(ch):
        try:
            sum_call_md(ch, [2**64 - 1, 1], ECHO_MD)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.OUT_OF_RANGE, e.code()
            assert dict(e.trailing_metadata()).get("x-grpc-test-echo-trailing-bin") == b"\xab\xab\xab", \
                e.trailing_metadata()
            return
        raise AssertionError("the call succeeded")

    @check("metadata: more than GS_METADATA bytes of it (the test build's 1024) -> RESOURCE_EXHAUSTED")
    def _(ch):
        try:
            sum_call_md(ch, [1], [("x-big", "v" * 1100)])
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.code()
            assert "metadata" in e.details(), e.details()
            return
        raise AssertionError("the call succeeded")

    build = args.build_dir or tempfile.mkdtemp(prefix="gs-cs-")
    os.makedirs(build, exist_ok=True)
    with common.Server(args.server, build) as srv:
        for name, fn in checks:
            ch = grpc.insecure_channel(srv.addr, options=[("grpc.use_local_subchannel_pool", 1)])
            try:
                if fn.__code__.co_argcount == 2:
                    fn(ch, srv)
                else:
                    fn(ch)
                rep.passed("grpcio Counter: " + name)
            except Exception:
                rep.fail("grpcio Counter: " + name, traceback.format_exc())
            finally:
                ch.close()
        code = srv.stop()
        if code == 0:
            rep.passed("grpcio Counter: the server exits 0 after SIGTERM")
        else:
            rep.fail("grpcio Counter: the server exits 0 after SIGTERM",
                     "exit %r\n%s" % (code, srv.stderr()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    rep = common.Report()
    if grpc is None:
        rep.skip("grpcio client streaming", "python3-grpcio is not installed")
        return 0
    run(args, rep)
    return rep.status()


if __name__ == "__main__":
    sys.exit(main())
