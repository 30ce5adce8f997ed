#!/usr/bin/python3
"""gRPC's interop test cases through grpcio: grpc.testing.TestService.

    /usr/bin/python3 tests/h2/interop_cases.py --server CMD [--build-dir DIR]

CMD serves gRPC's interop TestService (examples/interop_server.c, or the
grpcio reference tests/h2/interop_ref_server.py) and is started as `CMD
--listen 127.0.0.1:PORT`. Messages come from examples/grpc/testing/*.proto
(protoc -I examples, into DIR); calls are generic ones by path since Debian
has no grpc_tools.

The cases are the client side of doc/interop-test-descriptions.md in
grpc/grpc that need neither TLS, auth nor compression: empty_unary,
large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
timeout_on_sleeping_server, cancel_after_begin, cancel_after_first_response,
status_code_and_message, special_status_message, unimplemented_method,
unimplemented_service and custom_metadata, each with the sizes, statuses,
messages and metadata the description gives (payloads are zeros of type
COMPRESSABLE, and the bodies received are checked to be zeros too). Extra
checks for a server: HalfDuplexCall answers only after half-close, interval_us
paces StreamingOutputCall, FullDuplexCall answers every response_parameters
entry, an unknown response_type is INVALID_ARGUMENT, 20 large_unary calls at
once on one channel, and the server exits 0 after SIGTERM.

One PASS:/FAIL:/SKIP: line per check; exit status 1 on any FAIL. Without
grpcio or protoc every check prints SKIP. Each call has a 10 s deadline.
Against the grpcio reference server (tests/h2/interop_ref_server.py) every
check applies as it is: nothing needs common.is_reference().
"""
import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

try:
    import grpc
except ImportError:
    grpc = None

TIMEOUT = 10.0
TS = "/grpc.testing.TestService/"
ECHO_MD = [("x-grpc-test-echo-initial", "test_initial_metadata_value"),
           ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")]
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1),
                   ("grpc.max_receive_message_length", 1 << 20),
                   ("grpc.max_send_message_length", 1 << 20)]

CHECKS = []


def check(name):
    def wrap(fn):
        CHECKS.append((name, fn))
        return fn
    return wrap


# ---- calls and messages ---------------------------------------------------

def unary(t, method, req_cls, resp_cls, service=TS):
    return t.ch.unary_unary(service + method, request_serializer=req_cls.SerializeToString,
                            response_deserializer=resp_cls.FromString)


def simple_request(t, response_size=0, payload_size=0, **kw):
    return t.pb.SimpleRequest(response_type=t.pb.COMPRESSABLE, response_size=response_size,
                              payload=t.pb.Payload(type=t.pb.COMPRESSABLE, body=bytes(payload_size)),
                              **kw)


def output_request(t, sizes, payload_size=None, interval_us=0, **kw):
    """A StreamingOutputCallRequest asking for responses of `sizes`."""
    req = t.pb.StreamingOutputCallRequest(response_type=t.pb.COMPRESSABLE, **kw)
    for size in sizes:
        req.response_parameters.add(size=size, interval_us=interval_us)
    if payload_size is not None:
        req.payload.type = t.pb.COMPRESSABLE
        req.payload.body = bytes(payload_size)
    return req


def streaming_output(t):
    return t.ch.unary_stream(TS + "StreamingOutputCall",
                             request_serializer=t.pb.StreamingOutputCallRequest.SerializeToString,
                             response_deserializer=t.pb.StreamingOutputCallResponse.FromString)


def streaming_input(t):
    return t.ch.stream_unary(TS + "StreamingInputCall",
                             request_serializer=t.pb.StreamingInputCallRequest.SerializeToString,
                             response_deserializer=t.pb.StreamingInputCallResponse.FromString)


def duplex(t, method="FullDuplexCall"):
    return t.ch.stream_stream(TS + method,
                              request_serializer=t.pb.StreamingOutputCallRequest.SerializeToString,
                              response_deserializer=t.pb.StreamingOutputCallResponse.FromString)


class Requests:
    """A request iterator the test feeds as it goes: put() sends a message,
    close() half-closes (and lets grpcio's sending thread end)."""

    def __init__(self, *messages):
        self.q = queue.Queue()
        for m in messages:
            self.put(m)

    def put(self, message):
        self.q.put(message)

    def close(self):
        self.q.put(None)

    def __iter__(self):
        return self

    def __next__(self):                 # grpcio calls next() on it
        message = self.q.get()
        if message is None:
            raise StopIteration
        return message


def check_payload(t, payload, size):
    assert payload.type == t.pb.COMPRESSABLE, "payload type %r" % payload.type
    assert len(payload.body) == size, "payload body %d bytes, not %d" % (len(payload.body), size)
    assert payload.body.count(0) == size, "payload body is not all zeros"


def check_sizes(t, responses, sizes):
    got = [len(r.payload.body) for r in responses]
    assert got == sizes, "response sizes %r, not %r" % (got, sizes)
    for r, size in zip(responses, sizes):
        check_payload(t, r.payload, size)


def expect_error(code, details=None):
    """A context manager: the block must raise grpc.RpcError with `code`
    (and `details`); the error is kept in .error."""
    class Expect:
        error = None

        def __enter__(self):
            return self

        def __exit__(self, kind, value, tb):
            if kind is None:
                raise AssertionError("the call succeeded; expected %s" % code)
            if not issubclass(kind, grpc.RpcError):
                return False
            assert value.code() == code, "status %s %r, expected %s" % (value.code(), value.details(), code)
            if details is not None:
                assert value.details() == details, "message %r, expected %r" % (value.details(), details)
            self.error = value
            return True
    return Expect()


def check_echo(initial, trailing):
    initial, trailing = dict(initial or ()), dict(trailing or ())
    assert initial.get("x-grpc-test-echo-initial") == "test_initial_metadata_value", \
        "initial metadata %r" % initial
    assert trailing.get("x-grpc-test-echo-trailing-bin") == b"\xab\xab\xab", \
        "trailing metadata %r" % trailing


def channel_still_serves(t):
    """An EmptyCall on the same channel succeeds (after a cancelled call)."""
    _resp, call = unary(t, "EmptyCall", t.pb.Empty, t.pb.Empty).with_call(t.pb.Empty(), timeout=TIMEOUT)
    assert call.code() == grpc.StatusCode.OK, call.code()


# ---- the interop cases ----------------------------------------------------

@check("empty_unary: EmptyCall, zero bytes each way, OK")
def _(t):
    raw = t.ch.unary_unary(TS + "EmptyCall")        # no serializers: raw bytes
    resp, call = raw.with_call(b"", timeout=TIMEOUT)
    assert call.code() == grpc.StatusCode.OK, call.code()
    assert resp == b"", "response is %d bytes: %r" % (len(resp), resp[:40])
    t.pb.Empty.FromString(resp)


@check("large_unary: 271828-byte request payload, 314159-byte response payload")
def _(t):
    resp, call = unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse).with_call(
        simple_request(t, 314159, 271828), timeout=TIMEOUT)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_payload(t, resp.payload, 314159)


@check("client_streaming: 27182, 8, 1828, 45904 bytes -> aggregated_payload_size 74922")
def _(t):
    reqs = [t.pb.StreamingInputCallRequest(payload=t.pb.Payload(type=t.pb.COMPRESSABLE, body=bytes(n)))
            for n in (27182, 8, 1828, 45904)]
    resp, call = streaming_input(t).with_call(iter(reqs), timeout=TIMEOUT)
    assert call.code() == grpc.StatusCode.OK, call.code()
    assert resp.aggregated_payload_size == 74922, resp.aggregated_payload_size


@check("server_streaming: responses of 31415, 9, 2653, 58979 bytes, in order, then OK")
def _(t):
    call = streaming_output(t)(output_request(t, [31415, 9, 2653, 58979]), timeout=TIMEOUT)
    responses = list(call)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_sizes(t, responses, [31415, 9, 2653, 58979])


@check("ping_pong: FullDuplexCall, 4 requests each answered before the next is sent")
def _(t):
    reqs = Requests()
    call = duplex(t)(reqs, timeout=TIMEOUT)
    try:
        for resp_size, payload_size in ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904)):
            reqs.put(output_request(t, [resp_size], payload_size))
            check_sizes(t, [next(call)], [resp_size])
    finally:
        reqs.close()
    rest = list(call)
    assert rest == [], "%d responses after the last request" % len(rest)
    assert call.code() == grpc.StatusCode.OK, call.code()


@check("empty_stream: FullDuplexCall half-closed at once -> no responses, OK")
def _(t):
    call = duplex(t)(iter([]), timeout=TIMEOUT)
    responses = list(call)
    assert responses == [], "%d responses" % len(responses)
    assert call.code() == grpc.StatusCode.OK, call.code()


@check("timeout_on_sleeping_server: FullDuplexCall, 27182-byte payload, 1 ms deadline "
       "-> DEADLINE_EXCEEDED (then the channel still serves)")
def _(t):
    reqs = Requests(output_request(t, [], 27182))   # never half-closed: the client waits
    try:
        with expect_error(grpc.StatusCode.DEADLINE_EXCEEDED):
            list(duplex(t)(reqs, timeout=0.001))
    finally:
        reqs.close()
    channel_still_serves(t)


@check("cancel_after_begin: StreamingInputCall cancelled before any message -> CANCELLED "
       "(then the channel still serves)")
def _(t):
    reqs = Requests()
    try:
        future = streaming_input(t).future(reqs, timeout=TIMEOUT)
        future.cancel()
        assert future.code() == grpc.StatusCode.CANCELLED, future.code()
    finally:
        reqs.close()
    channel_still_serves(t)


@check("cancel_after_first_response: FullDuplexCall cancelled after a 31415-byte response "
       "-> CANCELLED (then the channel still serves)")
def _(t):
    reqs = Requests(output_request(t, [31415], 27182))
    try:
        call = duplex(t)(reqs, timeout=TIMEOUT)
        check_sizes(t, [next(call)], [31415])
        call.cancel()
        with expect_error(grpc.StatusCode.CANCELLED):
            list(call)
    finally:
        reqs.close()
    channel_still_serves(t)


@check("status_code_and_message (UnaryCall): code 2 \"test status message\"")
def _(t):
    req = t.pb.SimpleRequest(response_status=t.pb.EchoStatus(code=2, message="test status message"))
    with expect_error(grpc.StatusCode.UNKNOWN, "test status message"):
        unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse)(req, timeout=TIMEOUT)


@check("status_code_and_message (FullDuplexCall): code 2 \"test status message\"")
def _(t):
    req = t.pb.StreamingOutputCallRequest(
        response_status=t.pb.EchoStatus(code=2, message="test status message"))
    with expect_error(grpc.StatusCode.UNKNOWN, "test status message"):
        list(duplex(t)(iter([req]), timeout=TIMEOUT))


@check("special_status_message: code 2 with whitespace, BMP and non-BMP characters, exactly")
def _(t):
    req = t.pb.SimpleRequest(response_status=t.pb.EchoStatus(code=2, message=SPECIAL_MESSAGE))
    with expect_error(grpc.StatusCode.UNKNOWN, SPECIAL_MESSAGE):
        unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse)(req, timeout=TIMEOUT)


@check("unimplemented_method: TestService/UnimplementedCall -> UNIMPLEMENTED")
def _(t):
    with expect_error(grpc.StatusCode.UNIMPLEMENTED):
        unary(t, "UnimplementedCall", t.pb.Empty, t.pb.Empty)(t.pb.Empty(), timeout=TIMEOUT)


@check("unimplemented_service: UnimplementedService/UnimplementedCall -> UNIMPLEMENTED")
def _(t):
    with expect_error(grpc.StatusCode.UNIMPLEMENTED):
        unary(t, "UnimplementedCall", t.pb.Empty, t.pb.Empty,
              service="/grpc.testing.UnimplementedService/")(t.pb.Empty(), timeout=TIMEOUT)


@check("custom_metadata (UnaryCall): echo-initial in initial metadata, echo-trailing-bin in trailers")
def _(t):
    resp, call = unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse).with_call(
        simple_request(t, 314159, 271828), timeout=TIMEOUT, metadata=ECHO_MD)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_payload(t, resp.payload, 314159)
    check_echo(call.initial_metadata(), call.trailing_metadata())


@check("custom_metadata (FullDuplexCall): echo-initial in initial metadata, echo-trailing-bin in trailers")
def _(t):
    call = duplex(t)(iter([output_request(t, [314159], 271828)]), timeout=TIMEOUT, metadata=ECHO_MD)
    responses = list(call)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_sizes(t, responses, [314159])
    check_echo(call.initial_metadata(), call.trailing_metadata())


# ---- extra checks for a server --------------------------------------------

@check("HalfDuplexCall: no response before half-close, then each request's responses in order")
def _(t):
    reqs = Requests(output_request(t, [31415], 8), output_request(t, [9, 2653], 8),
                    output_request(t, [58979], 8))
    call = duplex(t, "HalfDuplexCall")(reqs, timeout=TIMEOUT)
    got = []                            # (arrival time, response)

    def read():
        try:
            for r in call:
                got.append((time.monotonic(), r))
        except grpc.RpcError:
            pass
    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)                     # the three requests are on the server by now
    closed = time.monotonic()
    reqs.close()
    reader.join(TIMEOUT + 1)
    assert call.code() == grpc.StatusCode.OK, (call.code(), call.details())
    check_sizes(t, [r for _, r in got], [31415, 9, 2653, 58979])
    early = [when - closed for when, _ in got if when < closed]
    assert not early, "responses before half-close (s relative to it): %r" % early


@check("StreamingOutputCall with interval_us=30000: 3 responses, each >= 30 ms after the last")
def _(t):
    t0 = time.monotonic()
    times = []
    call = streaming_output(t)(output_request(t, [10, 20, 30], interval_us=30000), timeout=TIMEOUT)
    responses = []
    for r in call:
        responses.append(r)
        times.append(time.monotonic() - t0)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_sizes(t, responses, [10, 20, 30])
    # response k cannot leave before k+1 sleeps; the gaps show the sleeps are
    # between responses (not all before the first one). Lateness is the
    # machine's, so only the gaps get slack.
    assert all(when >= 0.03 * (k + 1) - 0.002 for k, when in enumerate(times)), "times %r" % times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.015 for g in gaps), "gaps %r (times %r)" % (gaps, times)


@check("FullDuplexCall: one request with 3 response_parameters -> 3 responses of their sizes")
def _(t):
    call = duplex(t)(iter([output_request(t, [100, 0, 70000], 1)]), timeout=TIMEOUT)
    responses = list(call)
    assert call.code() == grpc.StatusCode.OK, call.code()
    check_sizes(t, responses, [100, 0, 70000])


@check("UnaryCall with response_type 1 (not a PayloadType) -> INVALID_ARGUMENT")
def _(t):
    req = simple_request(t, 10)
    req.response_type = 1            # an open proto3 enum keeps unknown values
    with expect_error(grpc.StatusCode.INVALID_ARGUMENT):
        unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse)(req, timeout=TIMEOUT)


@check("20 large_unary calls at once on one channel, each answered in full")
def _(t):
    stub = unary(t, "UnaryCall", t.pb.SimpleRequest, t.pb.SimpleResponse)
    futures = [stub.future(simple_request(t, 314159, 271828), timeout=TIMEOUT) for _ in range(20)]
    for i, f in enumerate(futures):
        try:
            check_payload(t, f.result().payload, 314159)
        except Exception as e:
            raise AssertionError("call %d: %s" % (i, e))


# ---- running --------------------------------------------------------------

def run(args, rep):
    build = args.build_dir or tempfile.mkdtemp(prefix="gs-interop-")
    pb = common.load_interop_pb(build)
    with common.Server(args.server, build) as srv:
        for name, fn in CHECKS:
            ch = grpc.insecure_channel(srv.addr, options=CHANNEL_OPTIONS)
            try:
                fn(types.SimpleNamespace(pb=pb, ch=ch, srv=srv))
                rep.passed("grpcio TestService: " + name)
            except Exception:
                rep.fail("grpcio TestService: " + name, traceback.format_exc())
            finally:
                ch.close()
        code = srv.stop()
        if code == 0:
            rep.passed("grpcio TestService: the server exits 0 after SIGTERM")
        else:
            rep.fail("grpcio TestService: the server exits 0 after SIGTERM",
                     "exit %r\n%s" % (code, srv.stderr()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="the server command (gets --listen 127.0.0.1:PORT)")
    ap.add_argument("--build-dir", help="where protoc writes the *_pb2.py (default: a temporary directory)")
    args = ap.parse_args()
    rep = common.Report()
    missing = ("python3-grpcio is not installed" if grpc is None
               else "protoc is not installed" if shutil.which("protoc") is None else None)
    if missing:
        for name, _fn in CHECKS:
            rep.skip("grpcio TestService: " + name, missing)
        rep.skip("grpcio TestService: the server exits 0 after SIGTERM", missing)
        return 0
    run(args, rep)
    return rep.status()


if __name__ == "__main__":
    sys.exit(main())
