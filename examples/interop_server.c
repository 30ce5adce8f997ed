/*
 * interop_server.c - gRPC's interoperability test service on grpcstream.
 *
 * grpc.testing.TestService (examples/grpc/testing/test.proto, with the
 * messages of messages.proto and empty.proto: the names, numbers and types
 * of gRPC's own) behaving as gRPC's "Interoperability Test Case
 * Descriptions" ask of a server, for every case without TLS, auth or
 * compression: EmptyCall, UnaryCall, StreamingOutputCall,
 * StreamingInputCall, FullDuplexCall and HalfDuplexCall.
 * TestService/UnimplementedCall and grpc.testing.UnimplementedService are
 * not registered, so the core answers them UNIMPLEMENTED, as a server
 * without them must.
 *
 * It keeps grpcstream's own shell (--listen for gRPC over HTTP/2) and only
 * adds the services, in a build that allows 512 KiB messages and the
 * interop messages' field counts:
 *
 *     cc -std=c99 -O2 -DGS_MAIN_SERVICES=interop_services \
 *         -DGS_MAX_MESSAGE=524288 -DGS_MAX_FIELDS=16 -DGS_MAX_STREAMS=32 \
 *         -I. examples/interop_server.c grpcstream.c json.c -o build/interop_server
 *     build/interop_server --listen 127.0.0.1:50051
 *
 * Every method echoes two request metadata fields, as gRPC's interop
 * server does: x-grpc-test-echo-initial as initial metadata and
 * x-grpc-test-echo-trailing-bin (binary) as trailing metadata.
 *
 * What it shows of the library: nested messages, enums, bytes and a
 * repeated message field in static descriptors; large payloads sent
 * without a copy of their own (bodies point into one zeroed buffer);
 * metadata from every kind of call; a bidi stream that answers a request
 * with several messages, or none, later (recv returns GS_AGAIN and next()
 * sends them); and timers (interval_us) without busy-waiting.
 */
#include "grpcstream.h"

#include <string.h>

/* ----- messages (gRPC's messages.proto and empty.proto) ------------------ */

static const gs_enum_value payload_type_values[] = { { "COMPRESSABLE", 0 } };
static const gs_enum payload_type = { payload_type_values, 1 };
static const gs_enum_value route_type_values[] = {
    { "GRPCLB_ROUTE_TYPE_UNKNOWN", 0 }, { "GRPCLB_ROUTE_TYPE_FALLBACK", 1 },
    { "GRPCLB_ROUTE_TYPE_BACKEND", 2 }
};
static const gs_enum route_type = { route_type_values, 3 };

static const gs_desc empty = { "Empty", NULL, 0 };

static const gs_field bool_value_fields[] = { GS_FIELD("value", 1, GS_BOOL) };
static const gs_desc bool_value = { "BoolValue", bool_value_fields, 1 };

enum { PAYLOAD_TYPE, PAYLOAD_BODY };
static const gs_field payload_fields[] = {
    GS_ENUM_FIELD("type", 1, &payload_type, 0), GS_FIELD("body", 2, GS_BYTES)
};
static const gs_desc payload = { "Payload", payload_fields, 2 };

enum { ECHO_CODE, ECHO_MESSAGE };
static const gs_field echo_status_fields[] = {
    GS_FIELD("code", 1, GS_INT32), GS_FIELD("message", 2, GS_STRING)
};
static const gs_desc echo_status = { "EchoStatus", echo_status_fields, 2 };

enum { SREQ_RESPONSE_TYPE, SREQ_RESPONSE_SIZE, SREQ_PAYLOAD, SREQ_FILL_USERNAME,
       SREQ_FILL_OAUTH_SCOPE, SREQ_RESPONSE_COMPRESSED, SREQ_RESPONSE_STATUS };
static const gs_field simple_request_fields[] = {
    GS_ENUM_FIELD("response_type", 1, &payload_type, 0),
    GS_FIELD("response_size", 2, GS_INT32),
    GS_MESSAGE_FIELD("payload", 3, &payload, 0),
    GS_FIELD("fill_username", 4, GS_BOOL),
    GS_FIELD("fill_oauth_scope", 5, GS_BOOL),
    GS_MESSAGE_FIELD("response_compressed", 6, &bool_value, 0),
    GS_MESSAGE_FIELD("response_status", 7, &echo_status, 0),
    GS_MESSAGE_FIELD("expect_compressed", 8, &bool_value, 0),
    GS_FIELD("fill_server_id", 9, GS_BOOL),
    GS_FIELD("fill_grpclb_route_type", 10, GS_BOOL)
};
static const gs_desc simple_request = { "SimpleRequest", simple_request_fields, 10 };

enum { SRESP_PAYLOAD };
static const gs_field simple_response_fields[] = {
    GS_MESSAGE_FIELD("payload", 1, &payload, 0),
    GS_FIELD("username", 2, GS_STRING),
    GS_FIELD("oauth_scope", 3, GS_STRING),
    GS_FIELD("server_id", 4, GS_STRING),
    GS_ENUM_FIELD("grpclb_route_type", 5, &route_type, 0),
    GS_FIELD("hostname", 6, GS_STRING)
};
static const gs_desc simple_response = { "SimpleResponse", simple_response_fields, 6 };

enum { SIN_PAYLOAD };
static const gs_field input_request_fields[] = {
    GS_MESSAGE_FIELD("payload", 1, &payload, 0),
    GS_MESSAGE_FIELD("expect_compressed", 2, &bool_value, 0)
};
static const gs_desc input_request = { "StreamingInputCallRequest", input_request_fields, 2 };

enum { SIN_AGGREGATED };
static const gs_field input_response_fields[] = { GS_FIELD("aggregated_payload_size", 1, GS_INT32) };
static const gs_desc input_response = { "StreamingInputCallResponse", input_response_fields, 1 };

enum { PARAM_SIZE, PARAM_INTERVAL_US };
static const gs_field response_parameters_fields[] = {
    GS_FIELD("size", 1, GS_INT32), GS_FIELD("interval_us", 2, GS_INT32),
    GS_MESSAGE_FIELD("compressed", 3, &bool_value, 0)
};
static const gs_desc response_parameters = { "ResponseParameters", response_parameters_fields, 3 };

enum { SOUT_RESPONSE_TYPE, SOUT_PARAMETERS, SOUT_PAYLOAD, SOUT_RESPONSE_STATUS };
static const gs_field output_request_fields[] = {
    GS_ENUM_FIELD("response_type", 1, &payload_type, 0),
    GS_MESSAGE_FIELD("response_parameters", 2, &response_parameters, GS_REPEATED),
    GS_MESSAGE_FIELD("payload", 3, &payload, 0),
    GS_MESSAGE_FIELD("response_status", 7, &echo_status, 0)
};
static const gs_desc output_request = { "StreamingOutputCallRequest", output_request_fields, 4 };

enum { SOUTR_PAYLOAD };
static const gs_field output_response_fields[] = { GS_MESSAGE_FIELD("payload", 1, &payload, 0) };
static const gs_desc output_response = { "StreamingOutputCallResponse", output_response_fields, 1 };

/* ----- payloads ------------------------------------------------------------- */

/* Every body the server sends is zeros: they all point here, so a 512 KiB
 * response is copied once, by the encoder into the stream's buffer. Never
 * written: its pages stay the kernel's zero page. */
static char zeros[GS_MAX_MESSAGE];

/* The one Payload message a reply points to: the core encodes the reply as
 * soon as the handler returns, so one is enough. */
static gs_msg payload_out;

/* Sets field i of *out to a COMPRESSABLE payload of `size` zero bytes. */
static int put_payload(gs_msg *out, unsigned i, int64_t size, const char **why)
{
    if (size < 0) {
        *why = "negative response size";
        return GS_INVALID_ARGUMENT;
    }
    if ((uint64_t)size > sizeof zeros) {
        *why = "response size larger than GS_MAX_MESSAGE";
        return GS_RESOURCE_EXHAUSTED;
    }
    memset(&payload_out, 0, sizeof payload_out);
    payload_out.desc = &payload;
    payload_out.v[PAYLOAD_TYPE].i = 0;              /* COMPRESSABLE */
    payload_out.v[PAYLOAD_BODY].s.p = zeros;
    payload_out.v[PAYLOAD_BODY].s.n = (size_t)size;
    out->v[i].m.msg = &payload_out;
    return GS_OK;
}

/* The size of a request's payload body (0 without one). */
static size_t body_size(const gs_msg *req, unsigned i)
{
    gs_msg p;
    if (!req->v[i].m.raw.p || gs_decode(&payload, req->v[i].m.raw, &p, NULL) != GS_OK) return 0;
    return p.v[PAYLOAD_BODY].s.n;
}

/* Only COMPRESSABLE payloads exist in the proto; another value is refused,
 * as gRPC's servers do. */
static int check_response_type(const gs_msg *req, unsigned i, const char **why)
{
    if (req->v[i].i == 0) return GS_OK;
    *why = "unknown response type";
    return GS_INVALID_ARGUMENT;
}

/* A requested status (EchoStatus): its code, and its message copied into
 * `text` (NUL-terminated, cut at cap - 1 bytes); 0 when there is none. */
static int requested_status(const gs_msg *req, unsigned i, char *text, size_t cap)
{
    gs_msg st;
    size_t n;
    if (!req->v[i].m.raw.p || gs_decode(&echo_status, req->v[i].m.raw, &st, NULL) != GS_OK) return 0;
    n = st.v[ECHO_MESSAGE].s.n < cap - 1 ? st.v[ECHO_MESSAGE].s.n : cap - 1;
    memcpy(text, st.v[ECHO_MESSAGE].s.p, n);
    text[n] = '\0';
    return (int)st.v[ECHO_CODE].i;
}

static void echo_metadata(gs_node *node, gs_stream *s)
{
    size_t n;
    const char *v = gs_metadata(node, s, "x-grpc-test-echo-initial", &n);
    if (v) gs_set_header(node, s, "x-grpc-test-echo-initial", v, n);
    v = gs_metadata(node, s, "x-grpc-test-echo-trailing-bin", &n);
    if (v) gs_set_trailer(node, s, "x-grpc-test-echo-trailing-bin", v, n);
}

/* ----- EmptyCall, UnaryCall --------------------------------------------------- */

static int empty_call(gs_node *node, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)req, (void)resp, (void)why;
    echo_metadata(node, gs_unary_call(node));
    return GS_OK;
}

static int unary_call(gs_node *node, const gs_msg *req, gs_msg *resp, const char **why)
{
    static char text[GS_MAX_WHY + 1];
    int code, status;
    echo_metadata(node, gs_unary_call(node));
    code = requested_status(req, SREQ_RESPONSE_STATUS, text, sizeof text);
    if (code != 0) {
        *why = text;
        return code;
    }
    status = check_response_type(req, SREQ_RESPONSE_TYPE, why);
    if (status != GS_OK) return status;
    return put_payload(resp, SRESP_PAYLOAD, req->v[SREQ_RESPONSE_SIZE].i, why);
}

/* ----- StreamingInputCall ------------------------------------------------------- */

typedef struct { uint64_t total; } input_state;

static int input_start(gs_node *node, gs_stream *s, const gs_msg *req, const char **why)
{
    input_state *st = gs_stream_state(s);
    (void)req, (void)why;
    echo_metadata(node, s);
    st->total = 0;
    return GS_OK;
}

static int input_recv(gs_node *node, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    input_state *st = gs_stream_state(s);
    (void)node, (void)out;
    st->total += body_size(in, SIN_PAYLOAD);
    if (st->total > INT32_MAX) {
        *why = "aggregated payload size past 2^31-1";
        return GS_OUT_OF_RANGE;
    }
    return GS_AGAIN;
}

static int input_next(gs_node *node, gs_stream *s, gs_msg *out, const char **why)
{
    input_state *st = gs_stream_state(s);
    (void)node, (void)why;
    out->v[SIN_AGGREGATED].i = (int64_t)st->total;
    return GS_SEND;
}

/* ----- StreamingOutputCall, FullDuplexCall, HalfDuplexCall ------------------------ */

/* The responses a call still owes, in order: a ring of (size, interval)
 * in the stream's state area, and the status to end with after them. */
typedef struct { int32_t size, interval_us; } owed;

typedef struct {
    uint32_t head, len;
    int sleeping;                   /* the head's interval is being waited out */
    int half_closed;
    int end_status;                 /* nonzero: a requested status ends the call */
    char end_text[GS_MAX_WHY + 1];
} output_state;

#define OWED_MAX ((GS_STREAM_STATE - sizeof(output_state)) / sizeof(owed))
typedef char output_state_fits[GS_STREAM_STATE >= sizeof(output_state) + 64 * sizeof(owed) ? 1 : -1];

static owed *owed_ring(output_state *st) { return (owed *)(st + 1); }

static int output_init(gs_node *node, gs_stream *s, const gs_msg *req, const char **why)
{
    output_state *st = gs_stream_state(s);
    (void)req, (void)why;
    echo_metadata(node, s);
    st->head = st->len = 0;
    st->sleeping = st->half_closed = st->end_status = 0;
    return GS_OK;
}

/* Queues what one request asks for: its response_status if it has one
 * (the call ends with it once what earlier requests are owed is sent, as
 * gRPC's servers end it on reading the request), else a response per
 * response_parameters entry. */
static int owe(output_state *st, const gs_msg *req, const char **why)
{
    gs_iter it;
    gs_value v;
    int status = check_response_type(req, SOUT_RESPONSE_TYPE, why);
    if (status != GS_OK) return status;
    st->end_status = requested_status(req, SOUT_RESPONSE_STATUS, st->end_text, sizeof st->end_text);
    if (st->end_status) return GS_OK;
    gs_iter_start(&it, req, SOUT_PARAMETERS);
    while (gs_iter_next(&it, &v)) {
        gs_msg p;
        owed *o;
        if (st->len == OWED_MAX) {
            *why = "more responses owed than the stream's state holds";
            return GS_RESOURCE_EXHAUSTED;
        }
        gs_decode(&response_parameters, v.m.raw, &p, NULL);
        if (p.v[PARAM_SIZE].i < 0) {
            *why = "negative response size";
            return GS_INVALID_ARGUMENT;
        }
        o = &owed_ring(st)[(st->head + st->len++) % OWED_MAX];
        o->size = (int32_t)p.v[PARAM_SIZE].i;
        o->interval_us = (int32_t)p.v[PARAM_INTERVAL_US].i;
    }
    return GS_OK;
}

/* The next response owed: after its interval (a timer), then sent. With
 * none left, the call ends (requested status, or OK once the client is
 * done) or waits for the next request. */
static int output_next(gs_node *node, gs_stream *s, gs_msg *out, const char **why)
{
    output_state *st = gs_stream_state(s);
    owed *o;
    int status;
    if (st->len == 0) {
        if (st->end_status) {
            *why = st->end_text;
            return st->end_status;
        }
        return st->half_closed ? GS_OK : GS_WAIT;
    }
    o = &owed_ring(st)[st->head];
    if (o->interval_us > 0 && !st->sleeping) {
        st->sleeping = 1;
        gs_stream_wake_after(node, s, (uint64_t)o->interval_us);
        return GS_WAIT;
    }
    st->sleeping = 0;
    st->head = (st->head + 1) % OWED_MAX;
    st->len--;
    status = put_payload(out, SOUTR_PAYLOAD, o->size, why);
    return status == GS_OK ? GS_SEND : status;
}

/* StreamingOutputCall: everything is owed at the start. */
static int output_start(gs_node *node, gs_stream *s, const gs_msg *req, const char **why)
{
    output_state *st = gs_stream_state(s);
    output_init(node, s, req, why);
    st->half_closed = 1;
    return owe(st, req, why);
}

/* What recv and half_close return to have next() run: GS_WAIT while the
 * head's interval is being waited out (the timer wakes it), else GS_AGAIN. */
static int output_resume(const output_state *st) { return st->sleeping ? GS_WAIT : GS_AGAIN; }

/* Takes one request of a duplex call. FullDuplexCall sends its responses
 * as soon as they are due; HalfDuplexCall keeps them until the client
 * half-closes (GS_WAIT: next() waits). After a requested status, further
 * requests are ignored. */
static int duplex_recv(gs_stream *s, const gs_msg *in, int half, const char **why)
{
    output_state *st = gs_stream_state(s);
    int status;
    if (st->end_status) return GS_WAIT;
    status = owe(st, in, why);
    if (status != GS_OK) return status;
    return half ? GS_WAIT : output_resume(st);
}

static int full_duplex_recv(gs_node *node, gs_stream *s, const gs_msg *in, gs_msg *out,
                            const char **why)
{
    (void)node, (void)out;
    return duplex_recv(s, in, 0, why);
}

static int half_duplex_recv(gs_node *node, gs_stream *s, const gs_msg *in, gs_msg *out,
                            const char **why)
{
    (void)node, (void)out;
    return duplex_recv(s, in, 1, why);
}

static int duplex_half_close(gs_node *node, gs_stream *s, const char **why)
{
    output_state *st = gs_stream_state(s);
    (void)node, (void)why;
    st->half_closed = 1;
    return output_resume(st);
}

/* ----- registration ------------------------------------------------------------- */

#define TEST_SERVICE "grpc.testing.TestService"

static const gs_method methods[] = {
    { TEST_SERVICE, "EmptyCall", GS_UNARY, &empty, &empty, empty_call, NULL, NULL, NULL, NULL },
    { TEST_SERVICE, "UnaryCall", GS_UNARY, &simple_request, &simple_response,
      unary_call, NULL, NULL, NULL, NULL },
    { TEST_SERVICE, "StreamingOutputCall", GS_SERVER_STREAMING, &output_request, &output_response,
      NULL, output_start, output_next, NULL, NULL },
    { TEST_SERVICE, "StreamingInputCall", GS_CLIENT_STREAMING, &input_request, &input_response,
      NULL, input_start, input_next, input_recv, NULL },
    { TEST_SERVICE, "FullDuplexCall", GS_BIDI_STREAMING, &output_request, &output_response,
      NULL, output_init, output_next, full_duplex_recv, duplex_half_close },
    { TEST_SERVICE, "HalfDuplexCall", GS_BIDI_STREAMING, &output_request, &output_response,
      NULL, output_init, output_next, half_duplex_recv, duplex_half_close }
};

/* Registers TestService's methods (GS_MAIN_SERVICES): 0, or -1 when the
 * build's limits are too small for them (GS_MAX_FIELDS, GS_MAX_METHODS). */
int interop_services(gs_node *node);
int interop_services(gs_node *node)
{
    size_t i;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (gs_register(node, &methods[i]) != 0) return -1;
    return 0;
}
