/*
 * unit_core.c - the call core (grpcstream.c section 5) driven directly,
 * with no wire format: no JSON line is read or written here.
 *
 *     cc -std=c99 -DGS_MAX_STREAMS=4 -o unit_core tests/unit_core.c json.c
 *     ./unit_core
 *
 * It includes grpcstream.c itself with GS_TEST_FRONT_END, which adds the
 * front end FE_TEST to section 9's dispatch: the three test_* functions
 * below record every emission (slot, by_request, message fields, status,
 * message) and answer fe_room as the test says (ROOM_OK / ROOM_STREAM /
 * ROOM_ALL, for all streams or for one slot). Only json.c is linked,
 * because grpcstream.c still holds the JSON-lines front end (gs_init sets
 * it up, and the core builds texts such as "reply field text larger than
 * 65600 bytes" with gs_json_put_u64); the last check confirms that front
 * end never wrote a byte or named a stream here.
 *
 * Built with -DGS_MAX_STREAMS=4 in test.sh so that slot exhaustion takes
 * four calls and the run queues wrap around; every check holds for any
 * GS_MAX_STREAMS >= 4.
 *
 * One line per check, "PASS: name" or "FAIL: name" (followed by the
 * emissions recorded so far); the exit status is 1 if any check failed.
 */
#ifndef GS_NO_MAIN
#define GS_NO_MAIN
#endif
#define GS_TEST_FRONT_END
#include "../grpcstream.c"

#include <stdio.h>

#if GS_MAX_STREAMS < 4
#error "unit_core needs GS_MAX_STREAMS >= 4"
#endif
#if GS_SLICE != 64
#error "unit_core counts turns of the default GS_SLICE (64)"
#endif

/* With the HTTP/2 front end (its tree defines GS_MAX_CONNS), fe_emit_end
 * says whether the front end keeps the slot (GS_CLOSING until
 * core_release), and a parked stream comes back with core_resume; before
 * it (be2f460) fe_emit_end returns nothing and parked is final. */
#ifdef GS_MAX_CONNS
#define HAVE_CLOSING 1
#else
#define HAVE_CLOSING 0
#endif

static gs_node node;
static int failures;
static int json_written;            /* the JSON-lines front end wrote something */

/* ===================================================================== */
/* The test front end                                                     */
/* ===================================================================== */

typedef struct {
    char what;                      /* 'M' a message, 'E' an end */
    int slot, by_request;
    uint64_t count;                 /* s->count when emitted: a message's seq */
    const gs_desc *desc;            /* messages: their type */
    uint64_t u[GS_MAX_FIELDS];      /* uint64 and bool fields */
    size_t len[GS_MAX_FIELDS];      /* string fields: length, first bytes */
    char str[GS_MAX_FIELDS][48];
    int status;                     /* ends */
    size_t why_len;
    char why[GS_MAX_WHY + 1];
} emission;

static emission ev[1024];
static int nev, ev_overflow;

static int room_all = ROOM_OK;              /* answered for every stream */
static int room_slot[GS_MAX_STREAMS];       /* else this, by slot */
static int room_msgs_left = -1;             /* >= 0: ROOM_ALL once used up */
static int keep_slot;                       /* test_emit_end's answer (HAVE_CLOSING) */

static emission *record(char what, const gs_stream *s, int by_request)
{
    emission *e;
    if (nev == (int)LEN(ev)) {
        ev_overflow = 1;
        return NULL;
    }
    e = &ev[nev++];
    memset(e, 0, sizeof *e);
    e->what = what;
    e->slot = s->self;
    e->by_request = by_request;
    e->count = s->count;
    return e;
}

static int refuse_msgs;                     /* test_emit_msg cannot carry them */

static int test_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    emission *e;
    unsigned i;
    (void)n;
    if (refuse_msgs) return GS_RESOURCE_EXHAUSTED;
    e = record('M', s, by_request);
    if (!e) return GS_OK;
    e->desc = m->desc;
    for (i = 0; i < m->desc->nfields; i++) {
        switch (m->desc->fields[i].type) {
        case GS_STRING:
            e->len[i] = m->v[i].s.n;
            memcpy(e->str[i], m->v[i].s.p, m->v[i].s.n < 47 ? m->v[i].s.n : 47);
            break;
        case GS_UINT64: e->u[i] = m->v[i].u; break;
        case GS_BOOL: e->u[i] = (uint64_t)m->v[i].b; break;
        default: break;             /* the test services send no other types */
        }
    }
    if (room_msgs_left > 0) room_msgs_left--;
    return GS_OK;
}

#if HAVE_CLOSING
static int test_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                         const char *why, size_t why_len)
#else
static void test_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                          const char *why, size_t why_len)
#endif
{
    emission *e = record('E', s, by_request);
    (void)n;
    if (e) {
        e->status = status;
        e->why_len = why_len;
        memcpy(e->why, why, why_len);
    }
#if HAVE_CLOSING
    return keep_slot;
#endif
}

static int test_room(const gs_node *n, const gs_stream *s, int for_what)
{
    (void)n;
    if (for_what == FOR_MSG && room_msgs_left == 0) return ROOM_ALL;
    if (room_all != ROOM_OK) return room_all;
    return room_slot[s->self];
}

/* ===================================================================== */
/* Checks and helpers                                                     */
/* ===================================================================== */

static void show(const emission *e)
{
    unsigned i;
    if (e->what == 'E') {
        printf("    end  slot %d by_request %d count %llu %s \"%s\"\n", e->slot, e->by_request,
               (unsigned long long)e->count, gs_status_name(e->status), e->why);
        return;
    }
    printf("    msg  slot %d by_request %d seq %llu {", e->slot, e->by_request,
           (unsigned long long)e->count);
    for (i = 0; i < e->desc->nfields; i++) {
        if (e->desc->fields[i].type == GS_STRING)
            printf(" %s=\"%s\"(%zu)", e->desc->fields[i].name, e->str[i], e->len[i]);
        else
            printf(" %s=%llu", e->desc->fields[i].name, (unsigned long long)e->u[i]);
    }
    printf(" }\n");
}

static void check(int ok, const char *name)
{
    int i;
    ok = ok && !ev_overflow;
    printf("%s: %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok) {
        failures++;
        printf("    emissions so far (%d%s):\n", nev, ev_overflow ? ", overflowed" : "");
        for (i = nev > 12 ? nev - 12 : 0; i < nev; i++) show(&ev[i]);
    }
    fflush(stdout);
}

static int is_end(int i, const gs_stream *s, int by_request, int status, const char *why)
{
    return i < nev && ev[i].what == 'E' && ev[i].slot == s->self &&
           ev[i].by_request == by_request && ev[i].status == status &&
           ev[i].why_len == strlen(why) && strcmp(ev[i].why, why) == 0;
}

/* A message on s with string field f equal to text (a prefix of at most
 * 47 bytes is kept; len is checked whole). */
static int is_msg_str(int i, const gs_stream *s, int by_request, unsigned f, const char *text)
{
    return i < nev && ev[i].what == 'M' && ev[i].slot == s->self &&
           ev[i].by_request == by_request && ev[i].len[f] == strlen(text) &&
           strcmp(ev[i].str[f], text) == 0;
}

static int is_msg_u64(int i, const gs_stream *s, int by_request, unsigned f, uint64_t v)
{
    return i < nev && ev[i].what == 'M' && ev[i].slot == s->self &&
           ev[i].by_request == by_request && ev[i].u[f] == v;
}

static gs_str str(const char *p)
{
    gs_str s;
    s.p = p;
    s.n = strlen(p);
    return s;
}

/* Calls gs_pump until it returns 0 (at most 1000 times); returns how
 * many calls that took. */
static int pump_all(void)
{
    int calls = 1;
    while (gs_pump(&node) && calls < 1000) calls++;
    return calls;
}

/* ----- methods registered by the tests --------------------------------- */

static const gs_field number_fields[] = { GS_FIELD("n", 1, GS_UINT64) };
static const gs_desc number = { "Number", number_fields, 1 };
static const gs_field text_fields[] = { GS_FIELD("text", 1, GS_STRING) };
static const gs_desc text = { "Text", text_fields, 1 };

typedef struct { uint64_t target, calls, sent; } counter_state;

/* Test/Count: n messages 1..n, then OK. */
static int count_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    c->target = req->v[0].u;
    return GS_OK;
}

static int count_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    if (gs_stream_count(s) >= c->target) return GS_OK;
    out->v[0].u = gs_stream_count(s) + 1;
    return GS_SEND;
}

static const gs_method count_method = {
    "Test", "Count", GS_SERVER_STREAMING, &number, &number,
    NULL, count_start, count_next, NULL, NULL
};

/* Test/Again: SEND, AGAIN, SEND, AGAIN, ... n messages, then OK. */
static int again_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    c->target = req->v[0].u;
    c->calls = 0;
    return GS_OK;
}

static int again_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    if (c->calls++ % 2) return GS_AGAIN;
    if (gs_stream_count(s) >= c->target) return GS_OK;
    out->v[0].u = gs_stream_count(s) + 1;
    return GS_SEND;
}

static const gs_method again_method = {
    "Test", "Again", GS_SERVER_STREAMING, &number, &number,
    NULL, again_start, again_next, NULL, NULL
};

/* Test/Fail: a unary call that fails with status n (0: OK, answer 42);
 * NOT_FOUND comes with a message, other statuses without. */
static int fail_unary(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n;
    if (req->v[0].u == GS_NOT_FOUND) *why = "no such thing";
    resp->v[0].u = 42;
    return (int)req->v[0].u;
}

static const gs_method fail_method = {
    "Test", "Fail", GS_UNARY, &number, &number, fail_unary, NULL, NULL, NULL, NULL
};

/* Test/Tail: a bidi stream that echoes, and whose half_close returns
 * tail_half_close_result; next() then sends "tail 1".."tail 3" and ends
 * OK. */
static int tail_half_close_result = GS_AGAIN;

static int tail_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)req; (void)why;
    c->sent = 0;
    return GS_OK;
}

static int tail_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    (void)n; (void)s; (void)why;
    out->v[0].s = in->v[0].s;
    return GS_OK;
}

static int tail_half_close(gs_node *n, gs_stream *s, const char **why)
{
    (void)n; (void)s;
    if (tail_half_close_result >= 0) *why = "half_close says so";
    return tail_half_close_result;
}

static int tail_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    static const char *const texts[] = { "tail 1", "tail 2", "tail 3" };
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    if (c->sent == 3) return GS_OK;
    out->v[0].s = str(texts[c->sent++]);
    return GS_SEND;
}

static const gs_method tail_method = {
    "Test", "Tail", GS_BIDI_STREAMING, &text, &text,
    NULL, tail_start, tail_next, tail_recv, tail_half_close
};

/* Test/Sum: client streaming. recv adds n (13 fails the call); next()
 * answers with the sum, after sum_delays GS_AGAINs, or waits for gs_wake
 * (sum_waits), or returns sum_result instead when it is set. */
static int sum_delays, sum_waits, sum_result = -1;

static int sum_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)req; (void)why;
    c->target = 0;
    c->calls = 0;
    return GS_OK;
}

static int sum_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)out;
    if (in->v[0].u == 13) {
        *why = "unlucky";
        return GS_FAILED_PRECONDITION;
    }
    c->target += in->v[0].u;
    return GS_AGAIN;
}

static int sum_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n;
    c->calls++;
    if (sum_waits) {
        sum_waits = 0;
        return GS_WAIT;
    }
    if (sum_delays) {
        sum_delays--;
        return GS_AGAIN;
    }
    if (sum_result >= 0) {
        *why = "next says so";
        return sum_result;
    }
    out->v[0].u = c->target;
    return GS_SEND;
}

static const gs_method sum_method = {
    "Test", "Sum", GS_CLIENT_STREAMING, &number, &number,
    NULL, sum_start, sum_next, sum_recv, NULL
};

/* Test/Tick: server streaming; sends 1..n, each after a 1,500 us timer. */
static int tick_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    c->target = req->v[0].u;
    c->sent = c->calls = 0;       /* calls: 1 while a timer is due */
    return GS_OK;
}

static int tick_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)why;
    if (c->sent == c->target) return GS_OK;
    if (!c->calls) {
        c->calls = 1;
        gs_stream_wake_after(n, s, 1500);
        return GS_WAIT;
    }
    c->calls = 0;
    out->v[0].u = ++c->sent;
    return GS_SEND;
}

static const gs_method tick_method = {
    "Test", "Tick", GS_SERVER_STREAMING, &number, &number,
    NULL, tick_start, tick_next, NULL, NULL
};

/* Test/Refuse: a bidi method whose start fails (with a message when
 * refuse_why is set). */
static const char *refuse_why;

static int refuse_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    (void)n; (void)s; (void)req;
    if (refuse_why) *why = refuse_why;
    return GS_PERMISSION_DENIED;
}

static const gs_method refuse_method = {
    "Test", "Refuse", GS_BIDI_STREAMING, &text, &text,
    NULL, refuse_start, NULL, tail_recv, NULL
};

/* Replies of a chosen length: Test/Big (unary), Test/BigEcho (bidi: the
 * reply to {n} is n bytes), Test/BigStream (server: a message of
 * GS_MAX_OUT_VALUE bytes, then one of n bytes). */
static char big[GS_MAX_OUT_VALUE + 2];

static gs_str big_str(uint64_t n)
{
    gs_str s;
    s.p = big;
    s.n = (size_t)n;
    return s;
}

static int big_unary(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n; (void)why;
    resp->v[0].s = big_str(req->v[0].u);
    return GS_OK;
}

static int big_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    (void)n; (void)s; (void)why;
    out->v[0].s = big_str(in->v[0].u);
    return GS_OK;
}

static int big_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    counter_state *c = gs_stream_state(s);
    (void)n; (void)why;
    out->v[0].s = big_str(gs_stream_count(s) == 0 ? GS_MAX_OUT_VALUE : c->target);
    return GS_SEND;
}

static const gs_method big_method = {
    "Test", "Big", GS_UNARY, &number, &text, big_unary, NULL, NULL, NULL, NULL
};
static const gs_method big_echo_method = {
    "Test", "BigEcho", GS_BIDI_STREAMING, &number, &text, NULL, NULL, NULL, big_recv, NULL
};
static const gs_method big_stream_method = {
    "Test", "BigStream", GS_SERVER_STREAMING, &number, &text,
    NULL, count_start, big_next, NULL, NULL
};

/* A fresh node with the test methods, no emissions, room everywhere. */
static void setup(void)
{
    static const gs_method *const mine[] = {
        &count_method, &again_method, &fail_method, &tail_method, &refuse_method,
        &big_method, &big_echo_method, &big_stream_method, &sum_method, &tick_method
    };
    size_t i;
    int registered = 1;
    if (node.jl.out_len || node.jl.last_stream_id) json_written = 1;
    gs_init(&node);
    for (i = 0; i < LEN(mine); i++) registered &= gs_register(&node, mine[i]) == 0;
    if (!registered) check(0, "setup: every test method registers");
    nev = ev_overflow = 0;
    room_all = ROOM_OK;
    room_msgs_left = -1;
    keep_slot = 0;
    for (i = 0; i < GS_MAX_STREAMS; i++) room_slot[i] = ROOM_OK;
    tail_half_close_result = GS_AGAIN;
    refuse_why = NULL;
    sum_delays = sum_waits = 0;
    sum_result = -1;
}

/* A slot for service/method carried by FE_TEST (NULL if refused). */
static gs_stream *admit(const char *svc, const char *method, uint64_t timeout_ms)
{
    int mi = core_find(&node, svc, strlen(svc), method, strlen(method));
    return mi < 0 ? NULL : core_admit(&node, (unsigned)mi, FE_TEST, timeout_ms);
}

static gs_msg number_msg(uint64_t v)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &number;
    m.v[0].u = v;
    return m;
}

static gs_msg text_msg(const char *t)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &text;
    m.v[0].s = str(t);
    return m;
}

static gs_msg watch_msg(const char *filter, uint64_t limit, int follow)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &watch_request;
    m.v[0].s = str(filter);
    m.v[1].u = limit;
    m.v[2].b = follow;
    return m;
}

/* A server stream admitted and started; NULL if either failed. */
static gs_stream *start_server(const char *svc, const char *method, const gs_msg *req,
                               uint64_t timeout_ms)
{
    gs_stream *s = admit(svc, method, timeout_ms);
    if (s && core_start(&node, s, req) != GS_OK) return NULL;
    return s;
}

static gs_stream *open_bidi(const char *svc, const char *method, uint64_t timeout_ms)
{
    gs_stream *s = admit(svc, method, timeout_ms);
    if (s && core_start(&node, s, NULL) != GS_OK) return NULL;
    return s;
}

static int live(const gs_stream *s) { return s && s->state != GS_FREE; }

/* ===================================================================== */
/* Unary                                                                  */
/* ===================================================================== */

static void test_unary(void)
{
    gs_msg req;
    gs_stream *s;

    setup();
    check(core_find(&node, "LogWatcher", 10, "Append", 6) >= 0 &&
          core_find(&node, "LogWatcher", 10, "Appen", 5) < 0 &&
          core_find(&node, "Chat", 4, "Append", 6) < 0,
          "core_find: by service and method name, exact lengths");

    s = admit("LogWatcher", "Append", 0);
    memset(&req, 0, sizeof req);
    req.desc = &log_entry;
    req.v[0].s = str("INFO");
    req.v[1].s = str("hello");
    core_unary(&node, s, &req);
    check(nev == 2 && is_msg_u64(0, s, 1, 0, 9) && ev[0].desc == &append_response &&
          is_end(1, s, 1, GS_OK, ""),
          "unary Append: one message (seq 9 after the 8 built-in entries) by_request, then end OK \"\" by_request");
    check(!live(s), "unary Append: the slot is free once answered");

    setup();
    s = admit("Test", "Fail", 0);
    req = number_msg(GS_NOT_FOUND);
    core_unary(&node, s, &req);
    check(nev == 1 && is_end(0, s, 1, GS_NOT_FOUND, "no such thing") && !live(s),
          "failing unary: only an end, NOT_FOUND \"no such thing\", by_request; slot freed");

    s = admit("Test", "Fail", 0);
    req = number_msg(GS_FAILED_PRECONDITION);
    core_unary(&node, s, &req);
    check(nev == 2 && is_end(1, s, 1, GS_FAILED_PRECONDITION, "FAILED_PRECONDITION"),
          "failing unary without *why: the message is the status name");

    s = admit("Test", "Fail", 0);
    req = number_msg(99);
    core_unary(&node, s, &req);
    check(nev == 3 && is_end(2, s, 1, GS_UNKNOWN, "UNKNOWN"),
          "a status outside 0..16 ends the call UNKNOWN");
}

/* ===================================================================== */
/* Server streaming                                                       */
/* ===================================================================== */

static void test_watch_all(void)
{
    gs_msg req = watch_msg("", 0, 0);
    gs_stream *s;
    int i, ok = 1;

    setup();
    s = start_server("LogWatcher", "WatchLogs", &req, 0);
    check(s && s->state == GS_HALF_CLOSED && s->queued == 1 && nev == 0,
          "WatchLogs start: HALF_CLOSED, owes an urgent turn, nothing emitted yet");
    check(gs_pump(&node) == 0, "WatchLogs: one gs_pump finishes 8 entries (returns 0)");
    for (i = 0; i < 8; i++)
        ok &= is_msg_str(i, s, 0, 0, sample_log[i][0]) && is_msg_str(i, s, 0, 1, sample_log[i][1]) &&
              ev[i].count == (uint64_t)i + 1;
    check(nev == 9 && ok, "WatchLogs: the 8 built-in entries in order, seq 1..8, by_request 0");
    check(is_end(8, s, 0, GS_OK, "") && ev[8].count == 8 && !live(s),
          "WatchLogs: end OK with count 8, not by_request; slot freed");
    check(gs_idle(&node), "gs_idle once the stream ended");

    setup();
    req = watch_msg("ERROR", 2, 0);
    s = start_server("LogWatcher", "WatchLogs", &req, 0);
    pump_all();
    check(nev == 3 && is_msg_str(0, s, 0, 1, "disk full") &&
          is_msg_str(1, s, 0, 1, "connection reset") && is_end(2, s, 0, GS_OK, ""),
          "WatchLogs filter ERROR limit 2: two entries, then end OK");
}

/* Two 200-message streams take turns. A turn is GS_SLICE + 1 next()
 * calls ("GS_SLICE messages, then the end"), so a long stream sends
 * GS_SLICE + 1 messages per turn. */
static void test_turns(void)
{
    gs_msg req = number_msg(200);
    gs_stream *a, *b;
    int i, runs = 0, run_len = 0, longest = 0, order_ok = 1, last_slot = -1;
    uint64_t next_a = 1, next_b = 1;
    int pumps;

    setup();
    a = start_server("Test", "Count", &req, 0);
    b = start_server("Test", "Count", &req, 0);
    check(a && b && a->queued == 1 && b->queued == 1, "two Count(200) streams start, both urgent");
    check(gs_pump(&node) == 1, "gs_pump returns 1 while a long stream can still run");
    check(nev == 4 * (GS_SLICE + 1) && ev[0].slot == a->self &&
          ev[GS_SLICE].slot == a->self && ev[GS_SLICE + 1].slot == b->self &&
          ev[2 * (GS_SLICE + 1)].slot == a->self,
          "first gs_pump: a's urgent turn, b's urgent turn, then a turn each from the run queue");
    check(!gs_idle(&node) && a->queued == 2 && b->queued == 2,
          "between pumps both long streams wait in the run queue");
    pumps = 1 + pump_all();
    check(pumps == 3, "200 messages of GS_SLICE + 1 per turn: 3 gs_pump calls in all (4 turns each)");
    for (i = 0; i < nev; i++) {
        const emission *e = &ev[i];
        if (e->what == 'M') {
            uint64_t *want = e->slot == a->self ? &next_a : &next_b;
            order_ok &= e->u[0] == (*want)++ && e->count == e->u[0];
        }
        if (e->slot != last_slot) {
            if (run_len > longest) longest = run_len;
            runs++;
            run_len = 0;
            last_slot = e->slot;
        }
        run_len++;
    }
    if (run_len > longest) longest = run_len;
    check(order_ok && next_a == 201 && next_b == 201, "each stream: messages 1..200 in order, seq = count");
    check(longest == GS_SLICE + 1 && runs == 8,
          "the streams alternate in runs of GS_SLICE + 1 emissions (8 runs: 65 65 65 65 65 65 5+end 5+end)");
    check(nev == 402 && is_end(nev - 7, a, 0, GS_OK, "") && ev[nev - 7].count == 200 &&
          is_end(nev - 1, b, 0, GS_OK, "") && ev[nev - 1].count == 200,
          "each ends OK with count 200 in its last turn (a's 5 and end, then b's)");
}

/* GS_AGAIN ends a turn early; the stream runs again on the next one. */
static void test_again(void)
{
    gs_msg three = number_msg(3);
    gs_stream *x, *y;
    int r1, r2, r3;

    setup();
    x = start_server("Test", "Again", &three, 0);
    y = start_server("Test", "Count", &three, 0);
    r1 = gs_pump(&node);
    check(r1 == 1 && nev == 6 && is_msg_u64(0, x, 0, 0, 1) && is_msg_u64(1, y, 0, 0, 1) &&
          is_msg_u64(3, y, 0, 0, 3) && is_end(4, y, 0, GS_OK, "") && is_msg_u64(5, x, 0, 0, 2),
          "GS_AGAIN: x sends 1 and yields, y runs to its end, x sends 2 in the run-queue pass");
    r2 = gs_pump(&node);
    check(r2 == 1 && nev == 7 && is_msg_u64(6, x, 0, 0, 3) && live(x) && x->queued == 2,
          "GS_AGAIN: one message per gs_pump, the stream stays runnable");
    r3 = gs_pump(&node);
    check(r3 == 0 && nev == 8 && is_end(7, x, 0, GS_OK, "") && ev[7].count == 3,
          "GS_AGAIN: then next() returns OK and the stream ends (gs_pump returns 0)");
}

/* Follow watches wait (GS_WAIT) and are woken by an Append, in the order
 * they were admitted, whatever their slots. */
static void test_wait_wake(void)
{
    gs_msg follow = watch_msg("", 0, 1), app;
    gs_stream *x, *a, *b, *u;
    int i, backlog_ok = 1;

    setup();
    x = open_bidi("Chat", "BiDiChat", 0);
    a = start_server("LogWatcher", "WatchLogs", &follow, 0);
    core_cancel(&node, x);                  /* frees x's slot: b takes it */
    b = start_server("LogWatcher", "WatchLogs", &follow, 0);
    check(a && b && b->self < a->self && a->serial < b->serial && a->follows && b->follows,
          "setup: follow watch b was admitted after a but has the lower slot");
    check(gs_pump(&node) == 0, "both follow watches send their backlog and wait (gs_pump returns 0)");
    for (i = 0; i < 8; i++)
        backlog_ok &= is_msg_str(1 + i, a, 0, 1, sample_log[i][1]) &&
                      is_msg_str(9 + i, b, 0, 1, sample_log[i][1]);
    check(nev == 17 && backlog_ok && a->waiting && b->waiting && live(a) && live(b),
          "GS_WAIT: 8 entries each, then both wait, alive");
    check(gs_idle(&node) && gs_timeout(&node) == -1, "waiting followers leave the node idle, no deadline");

    u = admit("LogWatcher", "Append", 0);
    memset(&app, 0, sizeof app);
    app.desc = &log_entry;
    app.v[0].s = str("WARN");
    app.v[1].s = str("news");
    core_unary(&node, u, &app);
    check(nev == 19 && is_msg_u64(17, u, 1, 0, 9) && is_end(18, u, 1, GS_OK, ""),
          "Append answers seq 9 (its own slot) before any follower runs");
    check(!a->waiting && !b->waiting && node.urgent_len == 2 &&
          URGENT_AT(&node, 0) == a->self && URGENT_AT(&node, 1) == b->self,
          "gs_wake: both queued urgent in admission order (a, then b)");
    gs_pump(&node);
    check(nev == 21 && is_msg_str(19, a, 0, 1, "news") && is_msg_str(20, b, 0, 1, "news") &&
          ev[19].count == 9 && a->waiting && b->waiting,
          "woken: a then b get entry 9 (\"news\", seq 9) and wait again");
    gs_wake(&node, &bidi_chat);
    check(node.urgent_len == 0, "gs_wake of another method wakes nothing");
}

/* ===================================================================== */
/* Bidi                                                                   */
/* ===================================================================== */

static void test_bidi(void)
{
    gs_msg hi = text_msg("hi");
    gs_stream *s;

    setup();
    s = open_bidi("Chat", "BiDiChat", 0);
    check(s && s->state == GS_OPEN && !s->queued && nev == 0,
          "BiDiChat open: OPEN, not queued, nothing emitted");
    core_deliver(&node, s, &hi);
    check(nev == 1 && is_msg_str(0, s, 1, 0, "echo: hi") && ev[0].count == 1,
          "core_deliver: the reply \"echo: hi\" by_request, count 1");
    core_deliver(&node, s, &hi);
    core_half_close(&node, s);
    check(nev == 3 && is_end(2, s, 1, GS_OK, "") && ev[2].count == 2 && !live(s),
          "core_half_close without a handler: end OK by_request, count 2; slot freed");

    setup();
    s = open_bidi("Chat", "BiDiChat", 0);
    core_cancel(&node, s);
    check(nev == 1 && is_end(0, s, 1, GS_CANCELLED, "cancelled by client") && !live(s),
          "core_cancel: end CANCELLED \"cancelled by client\", by_request; slot freed");
}

static void test_half_close_handler(void)
{
    gs_msg yo = text_msg("yo");
    gs_stream *s;

    setup();
    s = open_bidi("Test", "Tail", 0);
    core_deliver(&node, s, &yo);
    core_half_close(&node, s);
    check(nev == 1 && is_msg_str(0, s, 1, 0, "yo") && live(s) && s->state == GS_HALF_CLOSED &&
          s->queued == 1, "half_close returns GS_AGAIN: HALF_CLOSED, owes a turn, no end yet");
    gs_pump(&node);
    check(nev == 5 && is_msg_str(1, s, 0, 0, "tail 1") && is_msg_str(3, s, 0, 0, "tail 3") &&
          ev[3].count == 4 && is_end(4, s, 0, GS_OK, "") && !live(s),
          "then next() sends tail 1..3 (not by_request, seq 2..4) and ends OK");

    setup();
    tail_half_close_result = GS_WAIT;
    s = open_bidi("Test", "Tail", 0);
    core_half_close(&node, s);
    gs_pump(&node);
    check(nev == 0 && s->state == GS_HALF_CLOSED && s->waiting,
          "half_close returns GS_WAIT: HALF_CLOSED, waiting, nothing sent");
    gs_wake(&node, &tail_method);
    gs_pump(&node);
    check(nev == 4 && is_msg_str(0, s, 0, 0, "tail 1") && is_end(3, s, 0, GS_OK, ""),
          "gs_wake: next() sends tail 1..3 and ends OK");

    setup();
    tail_half_close_result = GS_ABORTED;
    s = open_bidi("Test", "Tail", 0);
    core_half_close(&node, s);
    check(nev == 1 && is_end(0, s, 1, GS_ABORTED, "half_close says so") && !live(s),
          "half_close returns a status: the call ends with it and its *why, by_request");
}

static void test_client_streaming(void)
{
    static const gs_method no_next = {
        "Test", "SumNoNext", GS_CLIENT_STREAMING, &number, &number,
        NULL, sum_start, NULL, sum_recv, NULL
    };
    gs_msg two = number_msg(2), forty = number_msg(40), thirteen = number_msg(13);
    gs_stream *s;
    int r1, r2;

    setup();
    s = open_bidi("Test", "Sum", 0);
    r1 = core_deliver(&node, s, &two);
    r2 = core_deliver(&node, s, &forty);
    check(r1 == GS_AGAIN && r2 == GS_AGAIN && nev == 0 && s->state == GS_OPEN,
          "client streaming: recv takes each message (GS_AGAIN), nothing is emitted");
    core_half_close(&node, s);
    check(nev == 2 && is_msg_u64(0, s, 1, 0, 42) && ev[0].count == 1 && is_end(1, s, 1, GS_OK, "") &&
          !live(s), "half-close: next()'s response (42) and the end OK, both by_request; slot freed");

    setup();
    sum_delays = 2;
    s = open_bidi("Test", "Sum", 0);
    core_deliver(&node, s, &forty);
    core_half_close(&node, s);
    check(nev == 0 && live(s) && s->state == GS_HALF_CLOSED && s->queued == 1,
          "next() says GS_AGAIN at the half-close: HALF_CLOSED, owes a turn");
    gs_pump(&node);
    check(nev == 2 && is_msg_u64(0, s, 0, 0, 40) && is_end(1, s, 0, GS_OK, "") && !live(s),
          "the response comes on a later turn (not by_request), then the end OK");

    setup();
    sum_waits = 1;
    s = open_bidi("Test", "Sum", 0);
    core_half_close(&node, s);
    gs_pump(&node);
    check(nev == 0 && live(s) && s->waiting, "next() says GS_WAIT: nothing until gs_wake");
    gs_wake(&node, &sum_method);
    gs_pump(&node);
    check(nev == 2 && is_msg_u64(0, s, 0, 0, 0) && is_end(1, s, 0, GS_OK, ""),
          "gs_wake: the response (0: no messages) and the end OK");

    setup();
    sum_result = GS_OK;
    s = open_bidi("Test", "Sum", 0);
    core_half_close(&node, s);
    check(nev == 1 && is_end(0, s, 1, GS_INTERNAL, "client-streaming call ended without a response"),
          "next() ends OK without a response: INTERNAL");

    setup();
    sum_result = GS_NOT_FOUND;
    s = open_bidi("Test", "Sum", 0);
    core_half_close(&node, s);
    check(nev == 1 && is_end(0, s, 1, GS_NOT_FOUND, "next says so"),
          "next() returns a status: the call ends with it, no response");

    setup();
    s = open_bidi("Test", "Sum", 0);
    core_deliver(&node, s, &two);
    r1 = core_deliver(&node, s, &thirteen);
    check(r1 == GS_FAILED_PRECONDITION && nev == 1 &&
          is_end(0, s, 1, GS_FAILED_PRECONDITION, "unlucky") && !live(s),
          "recv returns a status: the call ends with it at once, by_request");

    setup();
    check(gs_register(&node, &no_next) == -1, "gs_register: a client-streaming method needs next()");
}

static void test_timers(void)
{
    gs_msg three = number_msg(3);
    gs_stream *s, *t;

    setup();
    gs_tick(&node, 1000);
    s = admit("Test", "Tick", 0);
    core_start(&node, s, &three);
    pump_all();
    check(nev == 0 && s->waiting && node.timers == 1 && gs_timeout(&node) == 2 && !gs_idle(&node),
          "timer: next() asks for 1,500 us and waits; gs_timeout says 2 ms; not idle");
    gs_tick(&node, 1001);
    pump_all();
    check(nev == 0 && s->waiting && gs_timeout(&node) == 1, "timer: 1 ms later nothing has run");
    gs_tick(&node, 1002);
    check(!s->waiting && gs_runnable(&node), "timer: at 2 ms gs_tick makes the stream runnable");
    pump_all();
    check(nev == 1 && is_msg_u64(0, s, 0, 0, 1) && s->waiting && node.timers == 1 && gs_timeout(&node) == 2,
          "timer: next() sends 1, then sets the next timer and waits");
    gs_wake(&node, &tick_method);
    check(node.timers == 0 && !s->waiting, "gs_wake before the timer: runs at once, the timer is dropped");
    pump_all();
    gs_tick(&node, 1004);
    pump_all();
    check(nev == 4 && is_msg_u64(1, s, 0, 0, 2) && is_msg_u64(2, s, 0, 0, 3) && is_end(3, s, 0, GS_OK, "") &&
          !live(s), "timer: 2 (woken), then 3 after its timer, then the end OK");
    check(node.timers == 0 && gs_idle(&node) && gs_timeout(&node) == -1,
          "timer: no timer is left; idle; gs_timeout -1");

    setup();
    gs_tick(&node, 50);
    s = admit("Test", "Tick", 0);
    t = admit("Test", "Tick", 0);
    core_start(&node, s, &three);
    core_start(&node, t, &three);
    pump_all();
    core_cancel(&node, s);
    check(node.timers == 1 && !live(s), "timer: cancelling a sleeping stream drops its timer");
    gs_stream_wake_after(&node, t, 10000);
    check(node.timers == 1 && gs_timeout(&node) == 10, "timer: a second call replaces the first (10 ms)");
    gs_stream_wake_after(&node, t, 0);
    gs_tick(&node, 50);
    pump_all();
    check(nev == 2 && is_msg_u64(1, t, 0, 0, 1), "timer: 0 us fires at the next gs_tick");
}

static void test_start_fails(void)
{
    gs_stream *s;
    int r;

    setup();
    refuse_why = "not today";
    s = admit("Test", "Refuse", 0);
    r = core_start(&node, s, NULL);
    check(r == GS_PERMISSION_DENIED && nev == 1 &&
          is_end(0, s, 1, GS_PERMISSION_DENIED, "not today") && !live(s),
          "bidi start returns PERMISSION_DENIED with *why: the call ends with them, by_request");
    refuse_why = NULL;
    s = admit("Test", "Refuse", 0);
    r = core_start(&node, s, NULL);
    check(r == GS_PERMISSION_DENIED && nev == 2 &&
          is_end(1, s, 1, GS_PERMISSION_DENIED, "PERMISSION_DENIED"),
          "bidi start fails without *why: the message is the status name");
}

/* ===================================================================== */
/* Deadlines, slots, room                                                 */
/* ===================================================================== */

static void test_deadlines(void)
{
    gs_msg follow = watch_msg("", 0, 1);
    gs_stream *w, *c;

    setup();
    gs_tick(&node, 1000);
    check(gs_timeout(&node) == -1, "no deadline: gs_timeout -1");
    w = start_server("LogWatcher", "WatchLogs", &follow, 500);
    c = open_bidi("Chat", "BiDiChat", 800);
    pump_all();
    check(gs_timeout(&node) == 500 && !gs_idle(&node),
          "gs_timeout: 500 ms left of the earliest deadline; not idle while it is pending");
    gs_tick(&node, 1200);
    check(gs_timeout(&node) == 300 && live(w), "gs_tick(+200): 300 ms left, still alive");
    gs_tick(&node, 1500);
    check(nev == 9 && is_end(8, w, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded") &&
          ev[8].count == 8 && !live(w) && live(c),
          "gs_tick at the deadline: end DEADLINE_EXCEEDED, by_request 0; the other call lives");
    check(gs_timeout(&node) == 300, "then gs_timeout reports the next deadline (300 ms)");
    room_all = ROOM_ALL;
    gs_tick(&node, 5000);
    check(nev == 9 && live(c) && gs_timeout(&node) == 0,
          "past a deadline with no room: no end yet, gs_timeout 0 (due)");
    room_all = ROOM_OK;
    gs_tick(&node, 5000);
    check(nev == 10 && is_end(9, c, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded") &&
          gs_timeout(&node) == -1 && gs_idle(&node),
          "room again: the bidi call ends DEADLINE_EXCEEDED; no deadline left");

    setup();
    w = start_server("LogWatcher", "WatchLogs", &follow, 100);
    c = open_bidi("Chat", "BiDiChat", 100);
    room_slot[w->self] = ROOM_STREAM;
    gs_tick(&node, 100);
    check(live(w) && !live(c) && nev == 1 && is_end(0, c, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded"),
          "deadline with ROOM_STREAM for one stream: only the other call ends");
    room_slot[w->self] = ROOM_OK;
    gs_tick(&node, 101);
    check(!live(w) && nev == 2 && is_end(1, w, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded"),
          "its room back: the next gs_tick ends it too");

    setup();
    gs_tick(&node, 10);
    w = start_server("LogWatcher", "WatchLogs", &follow, UINT64_MAX);
    check(live(w) && w->deadline == UINT64_MAX && gs_timeout(&node) > 0,
          "timeout_ms 2^64-1 saturates: never, not a wrapped past deadline");
}

static void test_slots(void)
{
    gs_stream *s[GS_MAX_STREAMS + 1], *again;
    int i, got = 0;

    setup();
    for (i = 0; i <= GS_MAX_STREAMS; i++) {
        s[i] = open_bidi("Chat", "BiDiChat", 0);
        if (s[i]) got++;
    }
    check(got == GS_MAX_STREAMS && s[GS_MAX_STREAMS] == NULL,
          "core_admit: GS_MAX_STREAMS calls live, the next gets NULL");
    core_cancel(&node, s[1]);
    again = open_bidi("Chat", "BiDiChat", 0);
    check(again == s[1] && live(again), "a call that ends frees its slot for the next");
}

static void test_output_room(void)
{
    gs_msg req = number_msg(200);
    gs_stream *a, *b;
    int i, only_b = 1;

    /* ROOM_ALL: everything stops, the stream keeps its place */
    setup();
    a = start_server("Test", "Count", &req, 0);
    b = start_server("Test", "Count", &req, 0);
    room_msgs_left = 10;
    check(gs_pump(&node) == 1 && nev == 10 && ev[9].slot == a->self,
          "ROOM_ALL after 10 messages: gs_pump stops (returns 1), all 10 from a");
    check(a->queued == 1 && node.urgent_len == 2 && URGENT_AT(&node, 0) == a->self,
          "ROOM_ALL: a is put back first in the urgent queue");
    check(gs_pump(&node) == 1 && nev == 10, "ROOM_ALL: gs_pump does nothing while there is no room");
    room_msgs_left = -1;
    gs_pump(&node);
    check(is_msg_u64(10, a, 0, 0, 11) && is_msg_u64(GS_SLICE, a, 0, 0, GS_SLICE + 1) &&
          ev[GS_SLICE + 1].slot == b->self,
          "room again: a goes on at 11 and finishes its turn (to GS_SLICE + 1), then b");

    /* the same in the run queue */
    setup();
    a = start_server("Test", "Count", &req, 0);
    b = start_server("Test", "Count", &req, 0);
    gs_pump(&node);                         /* 4 turns: a, b, a, b */
    nev = 0;
    room_msgs_left = 3;
    gs_pump(&node);
    check(nev == 3 && ev[2].slot == a->self && a->queued == 2 &&
          node.runq_len == 2 && node.runq[node.runq_head] == a->self,
          "ROOM_ALL in the run queue: a is put back first in line");

    /* ROOM_STREAM: only that stream parks */
    setup();
    a = start_server("Test", "Count", &req, 0);
    b = start_server("Test", "Count", &req, 0);
    room_slot[a->self] = ROOM_STREAM;
    pump_all();
    for (i = 0; i < nev; i++) only_b &= ev[i].slot == b->self;
    check(a->parked && live(a) && !a->queued && a->count == 0,
          "ROOM_STREAM: a is parked (s->parked), out of the queues, nothing sent");
    check(only_b && nev == 201 && is_end(200, b, 0, GS_OK, ""),
          "ROOM_STREAM: b goes on alone, all 200 messages and its end");
#if HAVE_CLOSING
    room_slot[a->self] = ROOM_OK;
    core_resume(&node, a);
    pump_all();
    check(!a->parked && nev == 402 && is_msg_u64(201, a, 0, 0, 1) && is_end(401, a, 0, GS_OK, ""),
          "core_resume: the parked stream runs again, 1..200 and its end");
#endif
}

#if HAVE_CLOSING
/* A front end that still needs the slot after the end keeps it. */
static void test_closing(void)
{
    gs_stream *s, *h;
    setup();
    keep_slot = 1;
    s = open_bidi("Chat", "BiDiChat", 50);
    core_cancel(&node, s);
    check(nev == 1 && s->state == GS_CLOSING && node.deadlines == 0 && !s->queued,
          "fe_emit_end returns 1: the slot stays GS_CLOSING, out of queues and deadlines");
    core_release(&node, s);
    check(s->state == GS_FREE, "core_release frees it");
    h = core_hold(&node, FE_TEST);
    check(h && h->state == GS_CLOSING && h->method == NULL, "core_hold: a GS_CLOSING slot with no call");
    core_release(&node, h);
    check(h->state == GS_FREE, "core_release frees a held slot");
}
#endif

static void test_reply_too_long(void)
{
    gs_msg n;
    gs_stream *s;
    char why[128];

    snprintf(why, sizeof why, "reply field text larger than %zu bytes", GS_MAX_OUT_VALUE);
    memset(big, 'x', sizeof big);

    setup();
    s = admit("Test", "Big", 0);
    n = number_msg(GS_MAX_OUT_VALUE);
    core_unary(&node, s, &n);
    check(nev == 2 && ev[0].what == 'M' && ev[0].len[0] == GS_MAX_OUT_VALUE && is_end(1, s, 1, GS_OK, ""),
          "unary reply of exactly GS_MAX_OUT_VALUE bytes is sent");
    s = admit("Test", "Big", 0);
    n = number_msg(GS_MAX_OUT_VALUE + 1);
    core_unary(&node, s, &n);
    check(nev == 3 && is_end(2, s, 1, GS_RESOURCE_EXHAUSTED, why) && !live(s),
          "unary reply one byte longer: RESOURCE_EXHAUSTED \"reply field text larger than N bytes\", no message");

    setup();
    s = open_bidi("Test", "BigEcho", 0);
    n = number_msg(GS_MAX_OUT_VALUE);
    core_deliver(&node, s, &n);
    n = number_msg(GS_MAX_OUT_VALUE + 1);
    core_deliver(&node, s, &n);
    check(nev == 2 && ev[0].what == 'M' && is_end(1, s, 1, GS_RESOURCE_EXHAUSTED, why) &&
          ev[1].count == 1 && !live(s),
          "bidi recv reply too long: the call ends RESOURCE_EXHAUSTED, by_request");

    setup();
    n = number_msg(GS_MAX_OUT_VALUE + 1);
    s = start_server("Test", "BigStream", &n, 0);
    pump_all();
    check(nev == 2 && ev[0].what == 'M' && ev[0].len[0] == GS_MAX_OUT_VALUE &&
          is_end(1, s, 0, GS_RESOURCE_EXHAUSTED, why) && ev[1].count == 1 && !live(s),
          "server stream next() too long: its first message goes, then end RESOURCE_EXHAUSTED, by_request 0");

    /* a front end that cannot carry a message at all (HTTP/2: a +json
     * reply larger than its buffer): the call ends, count unchanged */
    setup();
    s = open_bidi("Test", "BigEcho", 0);
    refuse_msgs = 1;
    n = number_msg(10);
    core_deliver(&node, s, &n);
    refuse_msgs = 0;
    check(nev == 1 && is_end(0, s, 1, GS_RESOURCE_EXHAUSTED, "reply larger than the node's buffers") &&
          ev[0].count == 0 && !live(s),
          "a message the front end refuses ends the call RESOURCE_EXHAUSTED, count unchanged");
}

int main(void)
{
    test_unary();
    test_watch_all();
    test_turns();
    test_again();
    test_wait_wake();
    test_bidi();
    test_half_close_handler();
    test_client_streaming();
    test_timers();
    test_start_fails();
    test_deadlines();
    test_slots();
    test_output_room();
    test_reply_too_long();
#if HAVE_CLOSING
    test_closing();
#endif
    setup();
    check(!json_written, "no JSON-lines output and no JSON stream id at any point");
    return failures ? 1 : 0;
}
