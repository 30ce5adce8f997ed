/*
 * counter.c - grpcstream vendored into a program of its own.
 *
 * It registers one method of each kind beside the built-in LogWatcher and
 * Chat services: Counter/Add (unary), Counter/Count (server streaming),
 * Counter/Sum (client streaming) and Counter/Running (bidi), and drives
 * the node with a plain blocking loop: read stdin -> gs_feed -> gs_pump ->
 * write stdout. Every method echoes two request metadata fields (HTTP/2
 * only). Its uint64 fields follow proto3's JSON mapping: written as
 * strings ("3"), read as numbers or strings.
 *
 * Build and run, from the repository root:
 *
 *     cc -std=c99 -DGS_NO_MAIN -I. examples/counter.c grpcstream.c json.c -o build/counter
 *     build/counter < examples/counter.in        # prints examples/counter.out
 *
 * Or keep grpcstream's own shell (stdin/stdout, or gRPC with --listen) and
 * only add the services: leave this file's main() out and name the
 * function that registers them:
 *
 *     cc -std=c99 -DCOUNTER_NO_MAIN -DGS_MAIN_SERVICES=counter_services -I. \
 *         examples/counter.c grpcstream.c json.c -o build/counter-node
 *     build/counter-node --listen 127.0.0.1:50051
 *
 * Add takes {"a": uint64, "b": uint64} and answers {"n": a + b}
 * (OUT_OF_RANGE past 2^64-1):
 *
 *   > ... "grpc_call", "service":"Counter","method":"Add","request":{"a":2,"b":"40"} ...
 *   < ... "grpc_call_ok", "status": "OK", "response": {"n": "42"} ...
 *
 * Count takes {"from": uint64, "to": uint64, "every_us": uint64} and
 * streams {"n": k} for k = from .. to (nothing when from > to), then ends
 * with status OK. With every_us, each number waits that many microseconds
 * on a timer (gs_stream_wake_after): the node sleeps meanwhile, so this
 * needs a loop that keeps the clock, as grpcstream's shell does (this
 * file's own loop has no clock; leave every_us out with it):
 *
 *   > {"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":2,
 *      "service":"Counter","method":"Count","request":{"from":3,"to":5}}}
 *   < ... "grpc_stream_msg", "in_reply_to": 2, "seq": 1, "data": {"n": "3"} ...
 *   < ... (n 4, n 5), then "grpc_stream_end" with "status": "OK", "count": 3
 *
 * The core decodes the request by the descriptor (a negative or non-integer
 * "from" is INVALID_ARGUMENT before count_start runs) and writes replies.
 *
 * Sum takes a stream of {"n": uint64} and answers {"n": their sum} when the
 * client half-closes (OUT_OF_RANGE past 2^64-1). In JSON lines it is opened
 * like a bidi stream, each send is answered grpc_bidi_stream_send_ok, and
 * the close is answered with the sum, then grpc_stream_end:
 *
 *   > ... "grpc_bidi_stream_open", "service":"Counter","method":"Sum" ...
 *   > ... "grpc_bidi_stream_send", "stream_id":"s1","data":{"n":2} ...  (and 40)
 *   > ... "grpc_bidi_stream_close", "stream_id":"s1" ...
 *   < ... "grpc_bidi_stream_recv", "data": {"n": "42"} ...
 *   < ... "grpc_stream_end", "stream_id": "s1", "status": "OK", "count": 1 ...
 *
 * Running takes a stream of {"n": uint64} and answers each at once with
 * the running total (grpc_bidi_stream_recv); the close ends it OK.
 */
#define _POSIX_C_SOURCE 200809L     /* read, write */
#include "grpcstream.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* ----- the service ---------------------------------------------------- */

/* Message types: static field tables (JSON name, protobuf number, type). */
static const gs_field count_request_fields[] = {
    GS_FIELD("from", 1, GS_UINT64), GS_FIELD("to", 2, GS_UINT64), GS_FIELD("every_us", 3, GS_UINT64)
};
static const gs_field count_reply_fields[] = { GS_FIELD("n", 1, GS_UINT64) };

static const gs_desc count_request = { "CountRequest", count_request_fields, 3 };
static const gs_desc count_reply = { "CountReply", count_reply_fields, 1 };

/* What a Count stream remembers between messages. It lives in the stream's
 * slot (gs_stream_state), so nothing is allocated. */
typedef struct {
    uint64_t next, to, every_us;
    int done, due;                  /* due: its timer has fired */
} count_state;

typedef char count_state_fits[sizeof(count_state) <= GS_STREAM_STATE ? 1 : -1];

/* Both methods echo two request metadata fields back, as gRPC's interop
 * server does: x-grpc-test-echo-initial as initial metadata and
 * x-grpc-test-echo-trailing-bin (binary) as trailing metadata. Over JSON
 * lines there is none, and nothing happens. */
static void echo_metadata(gs_node *node, gs_stream *s)
{
    size_t n;
    const char *v = gs_metadata(node, s, "x-grpc-test-echo-initial", &n);
    if (v) gs_set_header(node, s, "x-grpc-test-echo-initial", v, n);
    v = gs_metadata(node, s, "x-grpc-test-echo-trailing-bin", &n);
    if (v) gs_set_trailer(node, s, "x-grpc-test-echo-trailing-bin", v, n);
}

/* start: called once with the decoded request (v[i] is fields[i]). */
static int count_start(gs_node *node, gs_stream *s, const gs_msg *req, const char **why)
{
    count_state *c = gs_stream_state(s);
    (void)why;
    echo_metadata(node, s);
    c->next = req->v[0].u;
    c->to = req->v[1].u;
    c->every_us = req->v[2].u;
    c->done = c->next > c->to;
    c->due = 0;
    return GS_OK;
}

/* next: one message per call (GS_SEND), then a final status ends the stream. */
static int count_next(gs_node *node, gs_stream *s, gs_msg *out, const char **why)
{
    count_state *c = gs_stream_state(s);
    (void)why;
    if (c->done) return GS_OK;
    if (c->every_us && !c->due) {   /* paced: sleep, then send */
        c->due = 1;
        gs_stream_wake_after(node, s, c->every_us);
        return GS_WAIT;
    }
    c->due = 0;
    out->v[0].u = c->next;
    if (c->next == c->to) c->done = 1;      /* no c->next++ past 2^64-1 */
    else c->next++;
    return GS_SEND;
}

static const gs_method count_method = {
    "Counter", "Count", GS_SERVER_STREAMING, &count_request, &count_reply,
    NULL, count_start, count_next, NULL, NULL
};

/* Sum: the running total lives in the stream's state. */
static int sum_start(gs_node *node, gs_stream *s, const gs_msg *req, const char **why)
{
    (void)req;
    (void)why;
    echo_metadata(node, s);
    *(uint64_t *)gs_stream_state(s) = 0;
    return GS_OK;
}

/* recv: each number is taken (GS_AGAIN: no reply of its own). */
static int sum_recv(gs_node *node, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    uint64_t *sum = gs_stream_state(s);
    (void)node;
    (void)out;
    if (in->v[0].u > UINT64_MAX - *sum) {
        *why = "sum past 2^64-1";
        return GS_OUT_OF_RANGE;
    }
    *sum += in->v[0].u;
    return GS_AGAIN;
}

/* next: after the client half-closed, the one response. */
static int sum_next(gs_node *node, gs_stream *s, gs_msg *out, const char **why)
{
    (void)node;
    (void)why;
    out->v[0].u = *(uint64_t *)gs_stream_state(s);
    return GS_SEND;
}

static const gs_method sum_method = {
    "Counter", "Sum", GS_CLIENT_STREAMING, &count_reply, &count_reply,
    NULL, sum_start, sum_next, sum_recv, NULL
};

/* Add (unary): {a, b} in, {n: a + b} out. A unary handler has no stream
 * argument; gs_unary_call gives its call, for metadata. */
static const gs_field add_request_fields[] = { GS_FIELD("a", 1, GS_UINT64), GS_FIELD("b", 2, GS_UINT64) };
static const gs_desc add_request = { "AddRequest", add_request_fields, 2 };

static int add_unary(gs_node *node, const gs_msg *req, gs_msg *resp, const char **why)
{
    echo_metadata(node, gs_unary_call(node));
    if (req->v[0].u > UINT64_MAX - req->v[1].u) {
        *why = "sum past 2^64-1";
        return GS_OUT_OF_RANGE;
    }
    resp->v[0].u = req->v[0].u + req->v[1].u;
    return GS_OK;
}

static const gs_method add_method = {
    "Counter", "Add", GS_UNARY, &add_request, &count_reply, add_unary, NULL, NULL, NULL, NULL
};

/* Running (bidi): each {n} is answered at once with the running total;
 * the call ends OK when the client half-closes (no half_close handler). */
static int running_recv(gs_node *node, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    uint64_t *sum = gs_stream_state(s);
    (void)node;
    if (in->v[0].u > UINT64_MAX - *sum) {
        *why = "sum past 2^64-1";
        return GS_OUT_OF_RANGE;
    }
    *sum += in->v[0].u;
    out->v[0].u = *sum;
    return GS_OK;                   /* *out is the reply */
}

static const gs_method running_method = {
    "Counter", "Running", GS_BIDI_STREAMING, &count_reply, &count_reply,
    NULL, sum_start, NULL, running_recv, NULL
};

/* Registers Counter's four methods, one of each kind; 0, or -1 if the
 * node's build has no room for them. */
int counter_services(gs_node *node);
int counter_services(gs_node *node)
{
    const gs_method *all[] = { &add_method, &count_method, &sum_method, &running_method };
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++)
        if (gs_register(node, all[i]) != 0) return -1;
    return 0;
}

#ifndef COUNTER_NO_MAIN
/* ----- the loop ------------------------------------------------------- */

static gs_node node;                /* several MB: static, never on the stack */

/* Writes every byte of output the node has produced. */
static void flush_output(void)
{
    size_t n;
    const char *out = gs_output(&node, &n);
    while (n > 0) {
        ssize_t w = write(1, out, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            perror("counter: write");
            _exit(1);
        }
        gs_output_done(&node, (size_t)w);
        out = gs_output(&node, &n);
    }
}

/* Lets the streams run until none can (Count streams run to their end;
 * a real server would read input meanwhile: see main() in grpcstream.c). */
static void run_streams(void)
{
    while (gs_pump(&node)) flush_output();
    flush_output();
}

int main(void)
{
    static char buf[65536];
    ssize_t got;

    gs_init(&node);                 /* registers LogWatcher and Chat */
    if (counter_services(&node) != 0) {
        fputs("counter: cannot register Counter's methods\n", stderr);
        return 1;
    }
    for (;;) {
        size_t used = 0;
        got = read(0, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        while (used < (size_t)got) {        /* gs_feed stops while output is full */
            used += gs_feed(&node, buf + used, (size_t)got - used);
            flush_output();
        }
        run_streams();
    }
    if (got < 0) perror("counter: read");
    while (!gs_feed_end(&node)) flush_output();     /* a last line without '\n' */
    run_streams();
    return 0;
}
#endif
