#!/usr/bin/python3
"""Reference server for tests/h2/interop_cases.{py,js}: gRPC's interop
TestService written with grpcio.

    /usr/bin/python3 tests/h2/interop_ref_server.py --listen [HOST:]PORT [--build-dir DIR]

It serves grpc.testing.TestService and answers UnimplementedService the way
gRPC's interop servers do (doc/interop-test-descriptions.md in grpc/grpc),
so the interop cases can be proved correct before examples/interop_server.c
serves them. Messages: examples/grpc/testing/*.proto, compiled with protoc.

- Every method echoes x-grpc-test-echo-initial as initial metadata and
  x-grpc-test-echo-trailing-bin as trailing metadata (once per call).
- EmptyCall: Empty.
- UnaryCall: a payload of response_size zero bytes, type COMPRESSABLE; a
  response_type other than COMPRESSABLE is INVALID_ARGUMENT; a
  response_status with a nonzero code ends the call with that code and
  message instead.
- StreamingOutputCall: one response per response_parameters entry, of its
  size, each after sleeping its interval_us.
- StreamingInputCall: aggregated_payload_size = the sum of the payload body
  sizes, answered at half-close.
- FullDuplexCall: each request answered as it arrives (response_status as
  in UnaryCall, then its response_parameters as in StreamingOutputCall); OK
  at half-close.
- HalfDuplexCall: requests buffered until half-close, then answered in
  order as FullDuplexCall answers them.
- UnimplementedCall (of both services): UNIMPLEMENTED (grpcio's own answer
  for a method it does not serve).

SIGTERM or SIGINT: stop taking calls, 5 s grace, exit 0.
"""
import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
STATUS_BY_CODE = {code.value[0]: code for code in grpc.StatusCode}


def echo_metadata(context):
    """Sends back the two echo keys the client sent, if it sent them."""
    sent = dict(context.invocation_metadata())
    if ECHO_INITIAL in sent:
        context.send_initial_metadata([(ECHO_INITIAL, sent[ECHO_INITIAL])])
    if ECHO_TRAILING in sent:
        context.set_trailing_metadata([(ECHO_TRAILING, sent[ECHO_TRAILING])])


def maybe_fail(request, context):
    """Ends the call with the request's response_status, if it asks for one."""
    if request.HasField("response_status") and request.response_status.code != 0:
        status = request.response_status
        context.abort(STATUS_BY_CODE.get(status.code, grpc.StatusCode.UNKNOWN), status.message)


class TestService:
    def __init__(self, pb):
        self.pb = pb

    def payload(self, response_type, size, context):
        if response_type != self.pb.COMPRESSABLE:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "response_type %d not supported" % response_type)
        return self.pb.Payload(type=self.pb.COMPRESSABLE, body=bytes(size))

    def responses(self, request, context):
        """The responses a StreamingOutputCallRequest asks for, paced."""
        maybe_fail(request, context)
        for params in request.response_parameters:
            if params.interval_us > 0:
                time.sleep(params.interval_us / 1e6)
            yield self.pb.StreamingOutputCallResponse(
                payload=self.payload(request.response_type, params.size, context))

    def empty_call(self, request, context):
        echo_metadata(context)
        return self.pb.Empty()

    def unary_call(self, request, context):
        echo_metadata(context)
        maybe_fail(request, context)
        return self.pb.SimpleResponse(
            payload=self.payload(request.response_type, request.response_size, context))

    def streaming_output_call(self, request, context):
        echo_metadata(context)
        yield from self.responses(request, context)

    def streaming_input_call(self, request_iterator, context):
        echo_metadata(context)
        total = sum(len(r.payload.body) for r in request_iterator)
        return self.pb.StreamingInputCallResponse(aggregated_payload_size=total)

    def full_duplex_call(self, request_iterator, context):
        echo_metadata(context)
        for request in request_iterator:
            yield from self.responses(request, context)

    def half_duplex_call(self, request_iterator, context):
        echo_metadata(context)
        requests = list(request_iterator)
        for request in requests:
            yield from self.responses(request, context)


def handlers(pb):
    svc = TestService(pb)

    def h(kind, fn, req, resp):
        return kind(fn, request_deserializer=req.FromString,
                    response_serializer=resp.SerializeToString)

    out = pb.StreamingOutputCallRequest, pb.StreamingOutputCallResponse
    return grpc.method_handlers_generic_handler("grpc.testing.TestService", {
        "EmptyCall": h(grpc.unary_unary_rpc_method_handler, svc.empty_call, pb.Empty, pb.Empty),
        "UnaryCall": h(grpc.unary_unary_rpc_method_handler, svc.unary_call,
                       pb.SimpleRequest, pb.SimpleResponse),
        "StreamingOutputCall": h(grpc.unary_stream_rpc_method_handler, svc.streaming_output_call, *out),
        "StreamingInputCall": h(grpc.stream_unary_rpc_method_handler, svc.streaming_input_call,
                                pb.StreamingInputCallRequest, pb.StreamingInputCallResponse),
        "FullDuplexCall": h(grpc.stream_stream_rpc_method_handler, svc.full_duplex_call, *out),
        "HalfDuplexCall": h(grpc.stream_stream_rpc_method_handler, svc.half_duplex_call, *out),
    })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True, help="[HOST:]PORT")
    ap.add_argument("--build-dir", default=None, help="where protoc writes the interop *_pb2.py")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    host = host or "127.0.0.1"
    with tempfile.TemporaryDirectory() as build:
        pb = common.load_interop_pb(args.build_dir or build)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=100))
    server.add_generic_rpc_handlers([handlers(pb)])
    if server.add_insecure_port("%s:%s" % (host, port)) == 0:
        print("cannot listen on %s" % args.listen, file=sys.stderr)
        return 2
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(1.0):
        pass
    server.stop(5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
