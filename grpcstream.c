/*
 * grpcstream.c - the gRPC streaming core, its built-in services, its front
 * ends, and (unless GS_NO_MAIN) a poll() loop around them.
 *
 * Contents. Each section opens with a numbered banner and a paragraph on
 * what it owns and what it does not support; its static functions carry
 * the prefix shown.
 *
 *    1. Basics                status names, output helpers         put_
 *    2. Message descriptors   the built-in message types
 *    3. Stream table          slots and run queues                 st_
 *    4. Front-end interface   what the call core asks of a front   fe_
 *                             end: emit a message, emit an end,
 *                             is there room
 *    5. Call core             methods, admission, start, deliver,  core_
 *                             half-close, cancel, end; turns,
 *                             wake-ups, deadlines
 *    6. Built-in services     the log (ring or file), WatchLogs,   ring_ file_
 *                             Append, BiDiChat                     log_ watch_
 *    7. JSON lines: output    replies in json.dumps form           jl_
 *    8. JSON lines: input     scanner events, checks, requests     jl_
 *    9. Front-end dispatch    section 4's switch over front ends   fe_
 *   10. Node API              gs_init, gs_register, gs_feed, ...   gs_
 *   11. main()                the poll() loop (not with GS_NO_MAIN)
 *
 * A section calls only earlier ones. The one exception is the call core,
 * which reaches the front ends through section 4's three functions: they
 * are declared there and defined in section 9, after every front end.
 */
#define _POSIX_C_SOURCE 200809L
#include "grpcstream.h"

#include <string.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ===================================================================== */
/* 1. Basics: status names, output helpers                                */
/* ===================================================================== */

/* gRPC status names, Maelstrom error codes, and the small writers every
 * section uses (put_n and friends copy; json.c escapes). Nothing here
 * knows a front end. */

static const char *const status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
};

const char *gs_status_name(int status)
{
    return status >= 0 && status < (int)LEN(status_names) ? status_names[status]
                                                          : "UNKNOWN";
}

/* Maelstrom error codes. */
enum { E_NOT_SUPPORTED = 10, E_UNAVAILABLE = 11, E_MALFORMED = 12,
       E_NO_KEY = 20, E_PRECONDITION = 22 };

static char *put_n(char *d, const char *s, size_t len)
{
    memcpy(d, s, len);
    return d + len;
}

/* put() a string literal (length known at compile time) or any string. */
#define PUT(d, lit) put_n(d, lit, sizeof(lit) - 1)
static char *put(char *d, const char *s) { return put_n(d, s, strlen(s)); }

/* A text with a number in it, as the node's limits appear in messages:
 * "<a><number><b>" into buf (which has room). Returns buf. */
static const char *put_limit_text(char *buf, const char *a, uint64_t number, const char *b)
{
    char *d = gs_json_put_u64(put(buf, a), number);
    *put(d, b) = '\0';
    return buf;
}

static void report(gs_node *n, const char *what)
{
    if (n->diag) n->diag(n, what);
}

/* ===================================================================== */
/* 2. Message descriptors                                                 */
/* ===================================================================== */

/* The built-in services' message types (PROTOCOL.md 2.1): a static field
 * table each, read by every front end. Field types are string, uint64 and
 * bool; nothing else is supported yet. */

static const gs_field watch_request_fields[] = {
    { "filter", 1, GS_STRING }, { "limit", 2, GS_UINT64 }, { "follow", 3, GS_BOOL }
};
static const gs_field log_entry_fields[] = {
    { "level", 1, GS_STRING }, { "msg", 2, GS_STRING }
};
static const gs_field chat_message_fields[] = { { "text", 1, GS_STRING } };
static const gs_field append_response_fields[] = { { "seq", 1, GS_UINT64 } };

static const gs_desc watch_request = { "WatchRequest", watch_request_fields, 3 };
static const gs_desc log_entry = { "LogEntry", log_entry_fields, 2 };
static const gs_desc chat_message = { "ChatMessage", chat_message_fields, 1 };
static const gs_desc append_response = { "AppendResponse", append_response_fields, 1 };

/* ===================================================================== */
/* 3. Stream table: static slots and run queues                           */
/* ===================================================================== */

/* GS_MAX_STREAMS slots on a free list, shared by every front end, and two
 * queues of slot indices: `urgent` streams owe a turn before the next
 * input is read (a JSON-lines rule the HTTP/2 front end does not gate on),
 * `runq` streams take turns in gs_pump. A stream is in at most one queue
 * (s->queued: 1 urgent, 2 runq). No ids here: a front end names its
 * streams its own way. */

static void st_init(gs_node *n)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        n->streams[i].state = GS_FREE;
        n->streams[i].self = (int16_t)i;
        n->streams[i].next_free = (int16_t)(i + 1 < GS_MAX_STREAMS ? i + 1 : -1);
    }
    n->free_head = 0;
    n->urgent_head = n->urgent_len = n->runq_head = n->runq_len = 0;
}

static gs_stream *st_alloc(gs_node *n)
{
    gs_stream *s;
    if (n->free_head < 0) return NULL;
    s = &n->streams[n->free_head];
    n->free_head = s->next_free;
    s->state = GS_OPEN;
    s->follows = s->waiting = s->queued = s->parked = 0;
    s->count = 0;
    s->budget = 0;
    s->deadline = 0;
    return s;
}

static void queue_push(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    q[(*head + *len) % GS_MAX_STREAMS] = v;
    (*len)++;
}

static int16_t queue_pop(int16_t *q, unsigned *head, unsigned *len)
{
    int16_t v = q[*head];
    *head = (*head + 1) % GS_MAX_STREAMS;
    (*len)--;
    return v;
}

/* Puts v back at the front (a turn stopped by a full output). */
static void queue_unpop(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    *head = (*head + GS_MAX_STREAMS - 1) % GS_MAX_STREAMS;
    q[*head] = v;
    (*len)++;
}

static void queue_remove(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    unsigned i, kept = 0, n = *len;
    for (i = 0; i < n; i++) {
        int16_t x = q[(*head + i) % GS_MAX_STREAMS];
        if (x != v) q[(*head + kept++) % GS_MAX_STREAMS] = x;
    }
    *len = kept;
}

static void st_make_urgent(gs_node *n, gs_stream *s)
{
    s->queued = 1;
    s->budget = GS_SLICE + 1;       /* GS_SLICE messages, then the end */
    queue_push(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
}

static void st_make_runnable(gs_node *n, gs_stream *s)
{
    s->queued = 2;
    queue_push(n->runq, &n->runq_head, &n->runq_len, s->self);
}

static void st_free(gs_node *n, gs_stream *s)
{
    if (s->queued == 1) queue_remove(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
    if (s->queued == 2) queue_remove(n->runq, &n->runq_head, &n->runq_len, s->self);
    if (s->deadline) n->deadlines--;
    s->state = GS_FREE;
    s->next_free = n->free_head;
    n->free_head = s->self;
}

/* ===================================================================== */
/* 4. Front-end interface                                                 */
/* ===================================================================== */

/* The call core emits through these three calls and nothing else; each
 * switches on s->front (section 9). A front end writes what they ask in
 * its own wire format, addressed its own way. `by_request`: the emission
 * answers the request the front end is handling now (a JSON reply goes to
 * it); otherwise the server acts alone (a pushed message, a deadline).
 * Room: ROOM_ALL stops every stream (JSON lines: one output buffer);
 * ROOM_STREAM parks this stream until its front end calls core_resume
 * (HTTP/2: flow control). */

enum { FE_JSON, FE_TEST };
enum { ROOM_OK, ROOM_STREAM, ROOM_ALL };
enum { FOR_MSG, FOR_END };

static void fe_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request);
static void fe_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                        const char *why, size_t why_len);
static int fe_room(const gs_node *n, const gs_stream *s, int for_what);

/* ===================================================================== */
/* 5. Call core                                                           */
/* ===================================================================== */

/* What a call is, whoever carries it: find the method by name, admit the
 * call (a slot, a deadline), start it, deliver client messages, half-close,
 * cancel, end; and the scheduler: turns of at most GS_SLICE messages,
 * wake-ups of waiting streams, deadlines on the caller's clock. It reads
 * no wire format and writes none. Every call, unary ones too, holds a slot
 * while it runs. Replies are checked here: a string field longer than
 * GS_MAX_OUT_VALUE ends the call RESOURCE_EXHAUSTED. */

static int core_find(const gs_node *n, const char *svc, size_t svc_len,
                     const char *name, size_t name_len)
{
    unsigned i;
    for (i = 0; i < n->nmethods; i++) {
        const gs_method *m = n->methods[i];
        if (strlen(m->service) == svc_len && memcmp(m->service, svc, svc_len) == 0 &&
            strlen(m->name) == name_len && memcmp(m->name, name, name_len) == 0)
            return (int)i;
    }
    return -1;
}

/* A slot for a call of method mi carried by `front`, with a deadline
 * timeout_ms from now (0: none). NULL when every slot is busy. */
static gs_stream *core_admit(gs_node *n, unsigned mi, int front, uint64_t timeout_ms)
{
    gs_stream *s = st_alloc(n);
    if (!s) return NULL;
    s->method = n->methods[mi];
    s->method_index = (uint8_t)mi;
    s->kind = (uint8_t)s->method->kind;
    s->front = (uint8_t)front;
    s->serial = ++n->next_serial;
    if (timeout_ms) {       /* saturating: 2^64-1 ms is "never" */
        s->deadline = timeout_ms > UINT64_MAX - n->now_ms ? UINT64_MAX : n->now_ms + timeout_ms;
        n->deadlines++;
    }
    return s;
}

/* The status message as sent: at most GS_MAX_WHY bytes, cut at a UTF-8
 * character boundary. */
static size_t core_why_len(const char *why)
{
    size_t len = strlen(why);
    if (len <= GS_MAX_WHY) return len;
    len = GS_MAX_WHY;
    while (len > 0 && ((unsigned char)why[len] & 0xC0) == 0x80) len--;
    return len;
}

/* Ends the call: the front end writes its end and forgets it; the slot is
 * free at once. */
static void core_end(gs_node *n, gs_stream *s, int by_request, int status, const char *why)
{
    if (status < 0 || status > GS_UNAUTHENTICATED) status = GS_UNKNOWN;
    if (status != GS_OK && !why) why = gs_status_name(status);
    if (status == GS_OK) why = "";
    fe_emit_end(n, s, by_request, status, why, core_why_len(why));
    st_free(n, s);
}

/* A reply as a handler filled it: every string within GS_MAX_OUT_VALUE. */
static int core_check_reply(gs_node *n, const gs_msg *m, const char **why)
{
    unsigned i;
    for (i = 0; i < m->desc->nfields; i++) {
        if (m->desc->fields[i].type == GS_STRING && m->v[i].s.n > GS_MAX_OUT_VALUE) {
            char *d = put(PUT(n->why, "reply field "), m->desc->fields[i].name);
            put_limit_text(d, " larger than ", GS_MAX_OUT_VALUE, " bytes");
            *why = n->why;
            return GS_RESOURCE_EXHAUSTED;
        }
    }
    return GS_OK;
}

/* Opens a streaming call: start() runs (a server stream's with its
 * request, and the stream is HALF_CLOSED: the client sent its one
 * request). On failure the call ends, answering the request; the status
 * is returned. */
static int core_start(gs_node *n, gs_stream *s, const gs_msg *req)
{
    const char *why = NULL;
    int status = GS_OK;
    if (s->kind == GS_SERVER_STREAMING) s->state = GS_HALF_CLOSED;
    if (s->method->start) status = s->method->start(n, s, req, &why);
    if (status != GS_OK) {
        core_end(n, s, 1, status, why);
        return status;
    }
    if (s->kind == GS_SERVER_STREAMING) st_make_urgent(n, s);
    return GS_OK;
}

/* A unary call: its one request in, its response (or failure) out. */
static void core_unary(gs_node *n, gs_stream *s, const gs_msg *req)
{
    gs_msg resp;
    const char *why = NULL;
    int status;
    resp.desc = s->method->out;
    status = s->method->unary(n, req, &resp, &why);
    if (status == GS_OK) status = core_check_reply(n, &resp, &why);
    if (status == GS_OK) {
        s->count++;
        fe_emit_msg(n, s, &resp, 1);
    }
    core_end(n, s, 1, status, why);
}

/* A client message on a bidi stream: recv() answers it or ends the call. */
static void core_deliver(gs_node *n, gs_stream *s, const gs_msg *in)
{
    gs_msg out;
    const char *why = NULL;
    int status;
    out.desc = s->method->out;
    status = s->method->recv(n, s, in, &out, &why);
    if (status == GS_OK) status = core_check_reply(n, &out, &why);
    if (status != GS_OK) {
        core_end(n, s, 1, status, why);
        return;
    }
    s->count++;
    fe_emit_msg(n, s, &out, 1);
}

/* The client half-closed a bidi stream: it ends (OK unless half_close
 * says otherwise), or goes on sending with next() as HALF_CLOSED. */
static void core_half_close(gs_node *n, gs_stream *s)
{
    const char *why = NULL;
    int r = s->method->half_close ? s->method->half_close(n, s, &why) : GS_OK;
    if (r == GS_AGAIN || r == GS_WAIT) {
        s->state = GS_HALF_CLOSED;
        if (r == GS_WAIT) s->waiting = 1;
        else st_make_urgent(n, s);
        return;
    }
    core_end(n, s, 1, r, why);
}

static void core_cancel(gs_node *n, gs_stream *s)
{
    core_end(n, s, 1, GS_CANCELLED, "cancelled by client");
}

/* One turn of a stream: up to its budget of next() calls while its front
 * end has room. Returns 1 if the stream should run again later, 0 if it
 * ended, waits or is parked, -1 if every stream must wait for room. */
static int core_run_turn(gs_node *n, gs_stream *s)
{
    while (s->budget > 0) {
        gs_msg m;
        const char *why = NULL;
        int r, room = fe_room(n, s, FOR_MSG);
        if (room == ROOM_ALL) return -1;
        if (room == ROOM_STREAM) {
            s->parked = 1;
            return 0;
        }
        s->budget--;
        m.desc = s->method->out;
        r = s->method->next(n, s, &m, &why);
        if (r == GS_SEND) {
            r = core_check_reply(n, &m, &why);
            if (r == GS_OK) {
                s->count++;
                fe_emit_msg(n, s, &m, 0);
                continue;
            }
        }
        if (r == GS_AGAIN) break;
        if (r == GS_WAIT) {
            s->waiting = 1;
            return 0;
        }
        core_end(n, s, 0, r, why);
        return 0;
    }
    return 1;
}

/* Finishes the turns owed before the next input. Returns 0 if the output
 * must be drained first. */
static int core_run_urgent(gs_node *n)
{
    while (n->urgent_len) {
        gs_stream *s = &n->streams[queue_pop(n->urgent, &n->urgent_head, &n->urgent_len)];
        int r;
        s->queued = 0;
        r = core_run_turn(n, s);
        if (r < 0) {
            queue_unpop(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
            s->queued = 1;
            return 0;
        }
        if (r == 1) st_make_runnable(n, s);
    }
    return 1;
}

int gs_pump(gs_node *n)
{
    unsigned turns;
    if (!core_run_urgent(n)) return 1;
    for (turns = n->runq_len; turns > 0; turns--) {
        gs_stream *s = &n->streams[queue_pop(n->runq, &n->runq_head, &n->runq_len)];
        int r;
        s->queued = 0;
        if (s->budget == 0) s->budget = GS_SLICE + 1;
        r = core_run_turn(n, s);
        if (r < 0) {
            queue_unpop(n->runq, &n->runq_head, &n->runq_len, s->self);
            s->queued = 2;
            return 1;
        }
        if (r == 1) {
            s->budget = 0;
            st_make_runnable(n, s);
        }
    }
    return n->runq_len > 0;
}

#define URGENT_AT(n, i) ((n)->urgent[((n)->urgent_head + (i)) % GS_MAX_STREAMS])

void gs_wake(gs_node *n, const gs_method *m)
{
    unsigned first = n->urgent_len, i, k;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state != GS_FREE && s->waiting && s->method == m) {
            s->waiting = 0;
            st_make_urgent(n, s);
        }
    }
    /* followers hear news in the order their calls came: sort what was
     * just queued by admission (an insertion sort in the queue itself) */
    for (i = first + 1; i < n->urgent_len; i++) {
        int16_t v = URGENT_AT(n, i);
        for (k = i; k > first && n->streams[URGENT_AT(n, k - 1)].serial > n->streams[v].serial; k--)
            URGENT_AT(n, k) = URGENT_AT(n, k - 1);
        URGENT_AT(n, k) = v;
    }
}

/* Ends every call whose deadline has passed, as its front end has room. */
static void core_expire(gs_node *n)
{
    int i;
    for (i = 0; n->deadlines && i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        int room;
        if (s->state == GS_FREE || !s->deadline || s->deadline > n->now_ms) continue;
        room = fe_room(n, s, FOR_END);
        if (room == ROOM_ALL) return;
        if (room == ROOM_OK) core_end(n, s, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded");
    }
}

/* The earliest deadline of a live call, or 0 if none. */
static uint64_t core_next_deadline(const gs_node *n)
{
    uint64_t first = 0;
    int i;
    for (i = 0; n->deadlines && i < GS_MAX_STREAMS; i++) {
        const gs_stream *s = &n->streams[i];
        if (s->state != GS_FREE && s->deadline && (!first || s->deadline < first)) first = s->deadline;
    }
    return first;
}

void *gs_stream_state(gs_stream *s) { return s->state_area.bytes; }
uint64_t gs_stream_count(const gs_stream *s) { return s->count; }
void gs_stream_follow(gs_stream *s) { s->follows = 1; }

char *gs_scratch(gs_node *n, size_t size)
{
    return size <= sizeof n->scratch ? n->scratch : NULL;
}

/* 6. Built-in services: the log, WatchLogs, Append, BiDiChat             */
/* ===================================================================== */

/* LogWatcher (WatchLogs, Append) and Chat (BiDiChat), written against the
 * public service API only (gs_method, gs_stream_state, gs_wake) like any
 * vendored service. The log is an in-memory ring or, with gs_log_open, a
 * file read in place (POSIX only; GS_NO_FILE_LOG leaves it out). Not
 * supported: a log larger than the ring keeps only its newest entries. */

/* The log is a ring of entries [u32 level_len][u32 msg_len][level][msg],
 * each padded to 8 bytes and never split by the ring's end (a header with
 * level_len WRAP marks the skipped tail). When an append needs room the
 * oldest entries go; seq numbers count on. */

#define WRAP 0xFFFFFFFFu
#define ENTRY_HEAD 8u

typedef struct { uint64_t seq, pos, gen; } log_cursor;

static size_t pad8(size_t x) { return (x + 7) & ~(size_t)7; }

static void read_head(const gs_log *l, uint64_t pos, uint32_t *ll, uint32_t *ml)
{
    const char *h = l->ring.bytes + pos % GS_LOG_RING;
    memcpy(ll, h, 4);
    memcpy(ml, h + 4, 4);
}

/* Bytes from pos to the next entry. */
static uint64_t entry_span(const gs_log *l, uint64_t pos)
{
    uint32_t ll, ml;
    read_head(l, pos, &ll, &ml);
    if (ll == WRAP) return GS_LOG_RING - pos % GS_LOG_RING;
    return ENTRY_HEAD + pad8((size_t)ll + ml);
}

static void drop_oldest(gs_log *l)
{
    uint32_t ll, ml;
    read_head(l, l->tail, &ll, &ml);
    if (ll != WRAP) l->first_seq++;
    l->tail += entry_span(l, l->tail);
}

/* Appends an entry; returns its seq, or 0 if it can never fit. */
static uint64_t ring_append(gs_log *l, gs_str level, gs_str msg)
{
    uint64_t need = ENTRY_HEAD + pad8(level.n + msg.n);
    uint64_t room_to_end = GS_LOG_RING - l->head % GS_LOG_RING;
    uint64_t pad = room_to_end < need ? room_to_end : 0;
    uint32_t ll = (uint32_t)level.n, ml = (uint32_t)msg.n;
    char *e;
    if (need > GS_LOG_RING) return 0;
    if (pad + need > GS_LOG_RING) {     /* only an empty ring takes it, at its start */
        l->first_seq = l->next_seq;
        l->head += pad;
        l->tail = l->head;
        pad = 0;
    }
    while (l->head + pad + need - l->tail > GS_LOG_RING) drop_oldest(l);
    if (pad) {
        uint32_t wrap = WRAP;
        memcpy(l->ring.bytes + l->head % GS_LOG_RING, &wrap, 4);
        l->head += pad;
    }
    e = l->ring.bytes + l->head % GS_LOG_RING;
    memcpy(e, &ll, 4);
    memcpy(e + 4, &ml, 4);
    memcpy(e + ENTRY_HEAD, level.p, level.n);
    memcpy(e + ENTRY_HEAD + level.n, msg.p, msg.n);
    l->head += need;
    return l->next_seq++;
}

/* Reads the entry at c (or the oldest kept, if c's was dropped) and moves
 * c past it. Returns 0 at the end of the log. */
static int ring_read(const gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
    uint32_t ll, ml;
    const char *e;
    if (c->seq < l->first_seq) {
        c->seq = l->first_seq;
        c->pos = l->tail;
    }
    if (c->seq >= l->next_seq) return 0;
    read_head(l, c->pos, &ll, &ml);
    if (ll == WRAP) {
        c->pos += entry_span(l, c->pos);
        read_head(l, c->pos, &ll, &ml);
    }
    e = l->ring.bytes + c->pos % GS_LOG_RING + ENTRY_HEAD;
    level->p = e;
    level->n = ll;
    msg->p = e + ll;
    msg->n = ml;
    c->pos += ENTRY_HEAD + pad8((size_t)ll + ml);
    c->seq++;
    return 1;
}

static const char *const sample_log[][2] = {
    { "INFO", "server started" }, { "ERROR", "disk full" },
    { "WARN", "high memory usage" }, { "ERROR", "connection reset" },
    { "INFO", "request served" }, { "ERROR", "timeout" },
    { "DEBUG", "cache miss" }, { "INFO", "user login" }
};

static void log_init(gs_log *l)
{
    size_t i;
    l->first_seq = l->next_seq = 1;
    l->tail = l->head = 0;
    for (i = 0; i < LEN(sample_log); i++) {
        gs_str level, msg;
        level.p = sample_log[i][0]; level.n = strlen(level.p);
        msg.p = sample_log[i][1]; msg.n = strlen(msg.p);
        ring_append(l, level, msg);
    }
    l->fd = -1;
    l->gen = 0;
}

#ifndef GS_NO_FILE_LOG
/* ----- the log as a file (--log FILE) -------------------------------- */

/* The file is read in place through one fixed window; a stream holds only
 * its cursor (offset, entry number, file generation). `known` is the end
 * of the last complete line scanned: entries are counted and bad lines
 * reported once, as the file grows. A truncated or replaced file starts a
 * new generation, read again from its start. */

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads up to `want` bytes at pos into the window; returns the count. */
static size_t window_read(gs_log *l, uint64_t pos, size_t want)
{
    ssize_t r = pread(l->fd, l->win, want, (off_t)pos);
    l->win_off = pos;
    l->win_len = r > 0 ? (size_t)r : 0;
    return l->win_len;
}

/* The complete line at pos (without '\n'): 1, or 0 if it is not complete
 * (*len 0) or longer than the window (*len: how far to skip). The file is
 * read only when the window does not already hold the whole line. */
static int line_at(gs_log *l, uint64_t pos, const char **line, size_t *len)
{
    const size_t first = sizeof l->win < 16384 ? sizeof l->win : 16384;
    const char *p = l->win, *nl = NULL;
    size_t avail = 0, skip = 0;
    if (pos >= l->win_off && pos < l->win_off + l->win_len) {
        p = l->win + (pos - l->win_off);
        avail = (size_t)(l->win_off + l->win_len - pos);
        nl = memchr(p, '\n', avail);
    }
    if (!nl) {
        p = l->win;
        avail = window_read(l, pos, first);
        nl = memchr(p, '\n', avail);
    }
    if (!nl && avail == first && first < sizeof l->win) {
        avail = window_read(l, pos, sizeof l->win);
        nl = memchr(p, '\n', avail);
    }
    if (nl) {
        *line = p;
        *len = (size_t)(nl - p);
        return 1;
    }
    while (avail == sizeof l->win) {    /* too long: find where it ends */
        skip += avail;
        avail = window_read(l, pos + skip, sizeof l->win);
        nl = memchr(l->win, '\n', avail);
        if (nl) { *len = skip + (size_t)(nl - l->win); return 0; }
    }
    *len = 0;
    return 0;
}

/* A line as an entry: `LEVEL message words...` (a level, one space, the
 * message) or {"level": L, "msg": M}. */
static int parse_entry(gs_log *l, const char *line, size_t len, gs_str *level, gs_str *msg)
{
    if (len && line[len - 1] == '\r') len--;
    if (len && line[0] == '{') {
        gs_json *j = &l->scan;
        const char *p = line, *end = line + len;
        int got = 0, which = 0, ev;
        gs_json_reset(j);
        for (;;) {
            ev = gs_json_next(j, &p, end);
            if (ev == GS_JSON_MORE) {
                if (p != end) return 0;
                p = "\n";
                end = p + 1;
                continue;
            }
            if (ev == GS_JSON_LINE) break;
            if (ev == GS_JSON_MEMBER && j->depth == 1) {
                which = j->key_len == 5 && !memcmp(j->key, "level", 5) ? 1
                      : j->key_len == 3 && !memcmp(j->key, "msg", 3) ? 2 : 0;
                if (which) gs_json_want(j, which == 1 ? l->level_buf : l->msg_buf, GS_MAX_VALUE);
            } else if (ev == GS_JSON_VALUE && j->depth > 0 && which) {
                if (j->kind != GS_JV_STRING || j->str_over) return 0;
                if (which == 1) { level->p = l->level_buf; level->n = j->str_len; }
                else { msg->p = l->msg_buf; msg->n = j->str_len; }
                got |= which;
                which = 0;
            }
        }
        return j->status == GS_JL_OK && got == 3;
    } else {
        const char *sp = memchr(line, ' ', len);
        size_t ll = sp ? (size_t)(sp - line) : len;
        if (!sp || ll == 0 || ll > GS_MAX_VALUE || len - ll > GS_MAX_VALUE + 1 ||
            !gs_utf8_valid(line, len))
            return 0;
        level->p = line;
        level->n = ll;
        msg->p = sp + 1;
        msg->n = len - ll - 1;
        return 1;
    }
}

/* Counts the complete lines after `known`, up to `limit` bytes (or the end
 * of the file), reporting bad ones with their line number. */
static void file_scan(gs_node *n, uint64_t limit)
{
    gs_log *l = &n->log;
    for (;;) {
        const char *line;
        size_t len;
        gs_str level, msg;
        int whole;
        if (limit && l->known >= limit) return;
        whole = line_at(l, l->known, &line, &len);
        if (!whole && len == 0) return;           /* no complete line yet */
        l->lines++;
        if (whole && parse_entry(l, line, len, &level, &msg)) {
            l->entries++;
        } else if (whole && (len == 0 || (len == 1 && line[0] == '\r'))) {
            /* blank lines are not entries */
        } else {
            put_limit_text(put(l->report, l->path), ":", l->lines, ": bad log line skipped");
            report(n, l->report);
        }
        l->known += len + 1;
    }
}

static void file_restart(gs_log *l)
{
    l->gen++;
    l->known = l->entries = l->lines = 0;
    l->win_len = 0;
}

/* tail -F: a new file at the path, or a shorter one, is read anew. */
static void file_check(gs_node *n)
{
    gs_log *l = &n->log;
    struct stat st;
    if (stat(l->path, &st) == 0 && ((uint64_t)st.st_ino != l->ino || (uint64_t)st.st_dev != l->dev)) {
        int fd = open(l->path, O_RDONLY);
        if (fd >= 0) {
            close(l->fd);
            l->fd = fd;
            l->ino = (uint64_t)st.st_ino;
            l->dev = (uint64_t)st.st_dev;
            file_restart(l);
        }
    } else if (fstat(l->fd, &st) == 0 && (uint64_t)st.st_size < l->known) {
        file_restart(l);
    }
    l->win_len = 0;             /* the file may have changed under the window */
    file_scan(n, 0);
}

int gs_log_open(gs_node *n, const char *path)
{
    gs_log *l = &n->log;
    struct stat st;
    size_t plen = strlen(path);
    int fd;
    if (plen >= sizeof l->path) return -1;
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    memcpy(l->path, path, plen + 1);
    l->checked_ms = 0;
    l->fd = fd;
    l->ino = (uint64_t)st.st_ino;
    l->dev = (uint64_t)st.st_dev;
    file_restart(l);
    file_scan(n, 0);
    return 0;
}

/* Appends one line: plain when it reads back the same, else JSON. */
static uint64_t file_append(gs_node *n, gs_str level, gs_str msg)
{
    gs_log *l = &n->log;
    char *d = l->win;
    size_t i;
    int plain = level.n > 0 && gs_utf8_valid(level.p, level.n) && gs_utf8_valid(msg.p, msg.n);
    off_t end;
    int fd;
    for (i = 0; plain && i < level.n; i++) plain = (unsigned char)level.p[i] > ' ' && level.p[i] != '{';
    for (i = 0; plain && i < msg.n; i++) plain = msg.p[i] != '\n' && msg.p[i] != '\r';
    if (plain) {
        d = put_n(put_n(d, level.p, level.n), " ", 1);
        d = put_n(d, msg.p, msg.n);
    } else {
        d = gs_json_put_str(PUT(d, "{\"level\": "), level.p, level.n);
        d = gs_json_put_str(PUT(d, ", \"msg\": "), msg.p, msg.n);
        *d++ = '}';
    }
    *d++ = '\n';
    l->win_len = 0;             /* the window held the line being written */
    fd = open(l->path, O_WRONLY | O_APPEND);
    if (fd < 0) return 0;
    if (write(fd, l->win, (size_t)(d - l->win)) != d - l->win) { close(fd); return 0; }
    end = lseek(fd, 0, SEEK_CUR);
    close(fd);
    file_check(n);
    file_scan(n, (uint64_t)end);
    return l->entries;
}

static int file_read(gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
    if (c->gen != l->gen) {
        c->gen = l->gen;
        c->pos = 0;
        c->seq = 1;
    }
    while (c->pos < l->known) {
        const char *line;
        size_t len;
        int whole = line_at(l, c->pos, &line, &len);
        if (!whole && len == 0) return 0;     /* changed under us: next check */
        c->pos += len + 1;
        if (whole && parse_entry(l, line, len, level, msg)) {
            c->seq++;
            return 1;
        }
    }
    return 0;
}

#else
#include <errno.h>

int gs_log_open(gs_node *n, const char *path)
{
    (void)n;
    (void)path;
    errno = ENOSYS;             /* built without the file log */
    return -1;
}
#endif

/* The log, whichever it is. */
static uint64_t log_append(gs_node *n, gs_str level, gs_str msg)
{
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0) return file_append(n, level, msg);
#endif
    return ring_append(&n->log, level, msg);
}

static int log_read(gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) return file_read(l, c, level, msg);
#endif
    return ring_read(l, c, level, msg);
}

static void log_start(const gs_log *l, log_cursor *c)
{
    c->seq = l->first_seq;
    c->pos = l->tail;
    c->gen = l->gen;
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) {
        c->seq = 1;
        c->pos = 0;
    }
#endif
}

/* The seq the next entry will get. */
static uint64_t log_next_seq(const gs_log *l)
{
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) return l->entries + 1;
#endif
    return l->next_seq;
}

/* WatchLogs: the stream's state is a cursor, where a plain watch stops
 * (the log's end when it started; 0 for a follow watch) and the filter. */
typedef struct {
    log_cursor cur;
    uint64_t end_seq, limit;
    size_t filter_len;
    char filter[GS_MAX_VALUE];
} watch_state;

typedef char watch_state_fits[sizeof(watch_state) <= GS_STREAM_STATE ? 1 : -1];

static int watch_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    watch_state *w = gs_stream_state(s);
    (void)why;
    log_start(&n->log, &w->cur);
    w->limit = req->v[1].u;
    w->filter_len = req->v[0].s.n;
    memcpy(w->filter, req->v[0].s.p, w->filter_len);
    w->end_seq = req->v[2].b ? 0 : log_next_seq(&n->log);
    if (req->v[2].b) gs_stream_follow(s);
    return GS_OK;
}

static int watch_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    watch_state *w = gs_stream_state(s);
    gs_str level, msg;
    (void)why;
    if (w->limit && gs_stream_count(s) >= w->limit) return GS_OK;
    for (;;) {
        if (w->end_seq && w->cur.seq >= w->end_seq) return GS_OK;
        if (!log_read(&n->log, &w->cur, &level, &msg)) return w->end_seq ? GS_OK : GS_WAIT;
        if (w->filter_len == 0 ||
            (level.n == w->filter_len && memcmp(level.p, w->filter, level.n) == 0)) {
            out->v[0].s = level;
            out->v[1].s = msg;
            return GS_SEND;
        }
    }
}

static const gs_method watch_logs = {
    "LogWatcher", "WatchLogs", GS_SERVER_STREAMING, &watch_request, &log_entry,
    NULL, watch_start, watch_next, NULL, NULL
};

static int append(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    uint64_t seq = log_append(n, req->v[0].s, req->v[1].s);
    if (!seq) {
        *why = "entry larger than the log";
        return GS_RESOURCE_EXHAUSTED;
    }
    resp->v[0].u = seq;
    gs_wake(n, &watch_logs);
    return GS_OK;
}

static const gs_method append_method = {
    "LogWatcher", "Append", GS_UNARY, &log_entry, &append_response,
    append, NULL, NULL, NULL, NULL
};

static int chat_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out,
                     const char **why)
{
    static const char prefix[] = "echo: ";
    size_t plen = sizeof prefix - 1;
    char *buf = gs_scratch(n, plen + in->v[0].s.n);   /* text <= GS_MAX_VALUE: fits */
    (void)s;
    (void)why;
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, in->v[0].s.p, in->v[0].s.n);
    out->v[0].s.p = buf;
    out->v[0].s.n = plen + in->v[0].s.n;
    return GS_OK;
}

static const gs_method bidi_chat = {
    "Chat", "BiDiChat", GS_BIDI_STREAMING, &chat_message, &chat_message,
    NULL, NULL, NULL, chat_recv, NULL
};

/* ===================================================================== */
/* ===================================================================== */
/* 7. JSON lines: output                                                  */
/* ===================================================================== */

/* The writing half of the JSON-lines front end (PROTOCOL.md 1.1): replies
 * in json.dumps form, appended whole to n->jl.out into room checked
 * beforehand, and this front end's side of section 4. A JSON-lines
 * stream is named s<N> (fe.jl.id, from one sequence, never reused) and
 * belongs to the src that opened it. Output room is one buffer for every
 * stream: when a reply might not fit, everything waits (ROOM_ALL). */

/* Who a reply goes to and what it answers. */
typedef struct {
    const char *dest;
    size_t dest_len;
    const gs_reply_to *reply_to;
} jl_addr;

/* ", "key": " for a literal key. */
#define PUT_KEY(d, key) PUT(d, ", \"" key "\": ")

/* The most room a reply's envelope needs: src, dest and an echoed
 * stream_id (escaped), the fixed members, a status message. */
#define JL_ENVELOPE_MAX (3 * (6 * (size_t)GS_MAX_ID + 2) + 6 * (size_t)GS_MAX_WHY + 512)

/* The most room a reply with message type d needs (strings escaped 6x). */
static size_t jl_reply_room(const gs_desc *d)
{
    size_t room = JL_ENVELOPE_MAX + 2;
    unsigned i;
    for (i = 0; i < d->nfields; i++) {
        room += 7 + strlen(d->fields[i].name);
        switch (d->fields[i].type) {
        case GS_STRING: room += 6 * GS_MAX_OUT_VALUE + 2; break;
        case GS_UINT64: room += 20; break;
        case GS_BOOL: room += 5; break;
        }
    }
    return room;
}

static int jl_line_room(const gs_node *n) { return GS_OUT_SIZE - n->jl.out_len >= n->jl.line_room; }

static int jl_room(const gs_node *n, const gs_stream *s)
{
    return GS_OUT_SIZE - n->jl.out_len >= n->reply_room[s->method_index] ? ROOM_OK : ROOM_ALL;
}

static char *jl_reply_begin(gs_node *n, const jl_addr *a, const char *type)
{
    char *d = n->jl.out + n->jl.out_len;
    d = PUT(d, "{\"src\": ");
    if (n->jl.initialised) {
        memcpy(d, n->jl.id_json, n->jl.id_json_len);
        d += n->jl.id_json_len;
    } else {                        /* before init: sign as the request's dest */
        d = gs_json_put_str(d, n->jl.line.dest.buf, n->jl.line.dest.len);
    }
    d = PUT(d, ", \"dest\": ");
    d = gs_json_put_str(d, a->dest, a->dest_len);
    d = PUT(d, ", \"body\": {\"type\": \"");
    d = put(d, type);
    *d++ = '"';
    if (a->reply_to && a->reply_to->has) {
        d = PUT_KEY(d, "in_reply_to");
        d = gs_json_put_int(d, a->reply_to->neg, a->reply_to->mag);
    }
    return d;
}

static void jl_reply_end(gs_node *n, char *d)
{
    d = PUT_KEY(d, "msg_id");
    d = gs_json_put_u64(d, n->jl.next_msg_id++);
    d = PUT(d, "}}\n");
    n->jl.out_len = (size_t)(d - n->jl.out);
}

static char *jl_put_stream_id(char *d, uint64_t id)
{
    d = PUT_KEY(d, "stream_id");
    d = PUT(d, "\"s");
    d = gs_json_put_u64(d, id);
    *d++ = '"';
    return d;
}

static char *jl_put_status(char *d, int status)
{
    d = PUT_KEY(d, "status");
    *d++ = '"';
    d = put(d, gs_status_name(status));
    *d++ = '"';
    return d;
}

static char *jl_put_msg(char *d, const gs_msg *m)
{
    unsigned i;
    *d++ = '{';
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_field *f = &m->desc->fields[i];
        if (i) d = PUT(d, ", ");
        *d++ = '"';
        d = put(d, f->name);
        d = PUT(d, "\": ");
        switch (f->type) {
        case GS_STRING: d = gs_json_put_str(d, m->v[i].s.p, m->v[i].s.n); break;
        case GS_UINT64: d = gs_json_put_u64(d, m->v[i].u); break;
        case GS_BOOL: d = put(d, m->v[i].b ? "true" : "false"); break;
        }
    }
    *d++ = '}';
    return d;
}

static void jl_reply_error(gs_node *n, const jl_addr *a, int code, const char *text)
{
    char *d = jl_reply_begin(n, a, "error");
    d = PUT_KEY(d, "code");
    d = gs_json_put_u64(d, (uint64_t)code);
    d = PUT_KEY(d, "text");
    d = gs_json_put_str(d, text, strlen(text));
    jl_reply_end(n, d);
}

/* grpc_stream_end: the call's trailers. */
static void jl_write_end(gs_node *n, const jl_addr *a, uint64_t id, uint64_t count,
                         int status, const char *why, size_t why_len)
{
    char *d = jl_reply_begin(n, a, "grpc_stream_end");
    if (id) d = jl_put_stream_id(d, id);
    d = jl_put_status(d, status);
    d = PUT_KEY(d, "count");
    d = gs_json_put_u64(d, count);
    if (status != GS_OK) {
        d = PUT_KEY(d, "message");
        d = gs_json_put_str(d, why, why_len);
    }
    jl_reply_end(n, d);
}

/* A failed unary call: grpc_call_ok with its status and message. */
static void jl_write_call_failed(gs_node *n, const jl_addr *a, int status,
                                 const char *why, size_t why_len)
{
    char *d = jl_reply_begin(n, a, "grpc_call_ok");
    d = jl_put_status(d, status);
    d = PUT_KEY(d, "message");
    d = gs_json_put_str(d, why, why_len);
    jl_reply_end(n, d);
}

/* ----- streams by id ---------------------------------------------------- */

/* Live streams with an id hang off a bucket by id (ids are sequential, so
 * id % GS_MAX_STREAMS spreads them). */

static unsigned jl_bucket_of(uint64_t id) { return (unsigned)(id % GS_MAX_STREAMS); }

static void jl_assign_id(gs_node *n, gs_stream *s)
{
    unsigned b;
    s->fe.jl.id = ++n->jl.last_stream_id;
    b = jl_bucket_of(s->fe.jl.id);
    s->fe.jl.next_in_bucket = n->jl.buckets[b];
    n->jl.buckets[b] = s->self;
}

static gs_stream *jl_stream_by_id(gs_node *n, uint64_t id)
{
    int16_t i;
    for (i = n->jl.buckets[jl_bucket_of(id)]; i >= 0; i = n->streams[i].fe.jl.next_in_bucket)
        if (n->streams[i].fe.jl.id == id) return &n->streams[i];
    return NULL;
}

static void jl_forget(gs_node *n, gs_stream *s)
{
    int16_t *link;
    if (!s->fe.jl.id) return;
    link = &n->jl.buckets[jl_bucket_of(s->fe.jl.id)];
    while (*link != s->self) link = &n->streams[*link].fe.jl.next_in_bucket;
    *link = s->fe.jl.next_in_bucket;
}

/* ----- this front end's side of section 4 ------------------------------ */

/* A reply to the request being handled, or a message the server sends
 * alone to the stream's owner, answering the request that opened it. */
static jl_addr jl_stream_addr(gs_node *n, const gs_stream *s, int by_request)
{
    jl_addr a;
    a.dest = s->fe.jl.owner;
    a.dest_len = s->fe.jl.owner_len;
    a.reply_to = by_request ? &n->jl.line.msg_id : &s->fe.jl.opened_by;
    return a;
}

static void jl_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    jl_addr a = jl_stream_addr(n, s, by_request);
    char *d;
    if (s->kind == GS_UNARY) {
        d = jl_reply_begin(n, &a, "grpc_call_ok");
        d = put(PUT_KEY(d, "status"), "\"OK\"");
        d = jl_put_msg(PUT_KEY(d, "response"), m);
    } else if (by_request) {        /* the answer to a bidi send */
        d = jl_reply_begin(n, &a, "grpc_bidi_stream_recv");
        d = jl_put_msg(PUT_KEY(d, "data"), m);
    } else {
        d = jl_reply_begin(n, &a, "grpc_stream_msg");
        if (s->fe.jl.id) d = jl_put_stream_id(d, s->fe.jl.id);
        d = PUT_KEY(d, "seq");
        d = gs_json_put_u64(d, s->count);
        d = jl_put_msg(PUT_KEY(d, "data"), m);
    }
    jl_reply_end(n, d);
}

static void jl_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                        const char *why, size_t why_len)
{
    jl_addr a = jl_stream_addr(n, s, by_request);
    if (s->kind != GS_UNARY) jl_write_end(n, &a, s->fe.jl.id, s->count, status, why, why_len);
    else if (status != GS_OK) jl_write_call_failed(n, &a, status, why, why_len);
    /* an OK unary call was answered whole by its grpc_call_ok */
    jl_forget(n, s);
}

/* ===================================================================== */
/* 8. JSON lines: input                                                   */
/* ===================================================================== */

/* The reading half of the JSON-lines front end (PROTOCOL.md 1): scanner
 * events decide where each wanted value goes (envelope, body, the payload
 * fields registered methods read), a whole line is checked in the order
 * README "Order of checks" gives, and each request type has one handler
 * that drives the call core. Values the node does not need are skipped,
 * never stored. Not supported: payload fields nested below the top level
 * of `request` / `data`. */

/* What the object at a depth is. */
enum { R_OTHER, R_ENVELOPE, R_BODY, R_REQUEST, R_DATA };
/* Payload containers (index into gs_line.payload_kind and capture.container). */
enum { C_REQUEST = 1, C_DATA = 2 };
/* States of gs_idbuf / gs_namebuf. */
enum { V_ABSENT, V_OK, V_NOT_STRING, V_LONG };
/* Where the value of the member just read goes. */
enum { T_SKIP, T_SRC, T_DEST, T_BODY, T_TYPE, T_MSG_ID, T_NODE_ID, T_STREAM_ID,
       T_SERVICE, T_METHOD, T_TIMEOUT, T_REQUEST, T_DATA, T_CAPTURE };

enum { M_INIT, M_SERVER_STREAM, M_BIDI_OPEN, M_BIDI_SEND, M_BIDI_CLOSE, M_CANCEL,
       M_STATE, M_CALL, M_UNKNOWN };

/* Request types in M_ order, with their lengths known at compile time. */
#define NAMED(s) { s, sizeof(s) - 1 }
static const struct { const char *name; size_t len; } jl_type_names[] = {
    NAMED("init"), NAMED("grpc_server_stream"), NAMED("grpc_bidi_stream_open"),
    NAMED("grpc_bidi_stream_send"), NAMED("grpc_bidi_stream_close"),
    NAMED("grpc_stream_cancel"), NAMED("grpc_stream_state"), NAMED("grpc_call")
};

static int jl_key_equals(const gs_json *j, const char *name, size_t len)
{
    return !j->key_over && j->key_len == len && memcmp(j->key, name, len) == 0;
}
#define jl_key_is(j, lit) jl_key_equals(j, lit, sizeof(lit) - 1)

/* Forgets a payload's fields: a capture counts only if it was stored
 * under the payload's current generation. */
static void jl_reset_payload(gs_node *n, int container)
{
    n->jl.line.payload_kind[container] = 0;
    n->jl.line.payload_gen[container]++;
}

static void jl_reset_body(gs_node *n)
{
    gs_line *l = &n->jl.line;
    l->body_kind = 0;
    l->msg_id_state = V_ABSENT;
    l->msg_id.has = 0;
    l->timeout_state = V_ABSENT;
    l->type.state = l->service.state = l->method.state = V_ABSENT;
    l->node_id.state = l->stream_id.state = V_ABSENT;
    jl_reset_payload(n, C_REQUEST);
    jl_reset_payload(n, C_DATA);
}

static void jl_reset_line(gs_node *n)
{
    n->jl.line.top_kind = 0;
    n->jl.line.target = T_SKIP;
    n->jl.line.src.state = n->jl.line.dest.state = V_ABSENT;
    jl_reset_body(n);
}

static void jl_want_id(gs_json *j, gs_idbuf *b) { b->state = V_ABSENT; gs_json_want(j, b->buf, sizeof b->buf); }
static void jl_want_name(gs_json *j, gs_namebuf *b) { b->state = V_ABSENT; gs_json_want(j, b->buf, sizeof b->buf); }

static int jl_find_capture(const gs_node *n, int container, const gs_json *j)
{
    unsigned i;
    for (i = 0; i < n->jl.ncaps; i++)
        if (n->jl.caps[i].container == container &&
            jl_key_equals(j, n->jl.caps[i].name, strlen(n->jl.caps[i].name))) return (int)i;
    return -1;
}

/* A member name: decide where its value goes. */
static void jl_on_member(gs_node *n)
{
    gs_json *j = &n->jl.scan;
    gs_line *l = &n->jl.line;
    int t = T_SKIP;
    switch (l->role[j->depth]) {
    case R_ENVELOPE:
        if (jl_key_is(j, "src")) { t = T_SRC; jl_want_id(j, &l->src); }
        else if (jl_key_is(j, "dest")) { t = T_DEST; jl_want_id(j, &l->dest); }
        else if (jl_key_is(j, "body")) { t = T_BODY; jl_reset_body(n); gs_json_want(j, NULL, 0); }
        break;
    case R_BODY:
        if (jl_key_is(j, "type")) { t = T_TYPE; jl_want_name(j, &l->type); }
        else if (jl_key_is(j, "msg_id")) { t = T_MSG_ID; gs_json_want(j, NULL, 0); }
        else if (jl_key_is(j, "node_id")) { t = T_NODE_ID; jl_want_id(j, &l->node_id); }
        else if (jl_key_is(j, "stream_id")) { t = T_STREAM_ID; jl_want_id(j, &l->stream_id); }
        else if (jl_key_is(j, "service")) { t = T_SERVICE; jl_want_name(j, &l->service); }
        else if (jl_key_is(j, "method")) { t = T_METHOD; jl_want_name(j, &l->method); }
        else if (jl_key_is(j, "timeout_ms")) { t = T_TIMEOUT; gs_json_want(j, NULL, 0); }
        else if (jl_key_is(j, "request")) { t = T_REQUEST; jl_reset_payload(n, C_REQUEST); gs_json_want(j, NULL, 0); }
        else if (jl_key_is(j, "data")) { t = T_DATA; jl_reset_payload(n, C_DATA); gs_json_want(j, NULL, 0); }
        break;
    case R_REQUEST:
    case R_DATA: {
        int c = jl_find_capture(n, l->role[j->depth] == R_REQUEST ? C_REQUEST : C_DATA, j);
        if (c >= 0) {
            t = T_CAPTURE + c;
            gs_json_want(j, n->jl.caps[c].buf, GS_MAX_VALUE);
        }
        break;
    }
    default:
        break;
    }
    l->target = (uint8_t)t;
}

/* A wanted string ended in an id or name buffer: its state and length. */
static void jl_store_string(const gs_json *j, uint8_t *state, size_t *len)
{
    if (j->kind != GS_JV_STRING) *state = V_NOT_STRING;
    else if (j->str_over) *state = V_LONG;
    else { *state = V_OK; *len = j->str_len; }
}
#define jl_store_id(j, b) jl_store_string(j, &(b)->state, &(b)->len)
#define jl_store_name(j, b) jl_store_string(j, &(b)->state, &(b)->len)

static void jl_store_capture(gs_node *n, gs_capture *c)
{
    const gs_json *j = &n->jl.scan;
    c->gen = n->jl.line.payload_gen[c->container];
    c->kind = j->kind;
    c->over = j->str_over;
    c->len = j->str_len;
    c->num_int = j->num_int;
    c->num_big = j->num_big;
    c->num_neg = j->num_neg;
    c->num_mag = j->num_mag;
}

/* A wanted value is complete (objects: just begun). */
static void jl_on_value(gs_node *n)
{
    gs_json *j = &n->jl.scan;
    gs_line *l = &n->jl.line;
    int t = l->target;
    l->target = T_SKIP;
    /* the top value (containers are reported once opened, at depth 1) */
    if (j->depth == (j->kind == GS_JV_OBJECT || j->kind == GS_JV_ARRAY ? 1 : 0)) {
        l->top_kind = j->kind;
        if (j->kind == GS_JV_OBJECT) l->role[1] = R_ENVELOPE;
        return;
    }
    if (j->kind == GS_JV_OBJECT) l->role[j->depth] = R_OTHER;
    switch (t) {
    case T_SRC: jl_store_id(j, &l->src); break;
    case T_DEST: jl_store_id(j, &l->dest); break;
    case T_BODY:
        l->body_kind = j->kind;
        if (j->kind == GS_JV_OBJECT) l->role[j->depth] = R_BODY;
        break;
    case T_TYPE: jl_store_name(j, &l->type); break;
    case T_MSG_ID:
        l->msg_id_state = j->kind == GS_JV_NUMBER && j->num_int && !j->num_big &&
                          (!j->num_neg || j->num_mag <= (uint64_t)1 << 63) ? V_OK : V_NOT_STRING;
        l->msg_id.has = 1;
        l->msg_id.neg = j->num_neg;
        l->msg_id.mag = j->num_mag;
        break;
    case T_NODE_ID: jl_store_id(j, &l->node_id); break;
    case T_STREAM_ID: jl_store_id(j, &l->stream_id); break;
    case T_SERVICE: jl_store_name(j, &l->service); break;
    case T_METHOD: jl_store_name(j, &l->method); break;
    case T_TIMEOUT:
        l->timeout_state = j->kind == GS_JV_NUMBER && j->num_int && !j->num_big &&
                           !j->num_neg && j->num_mag > 0 ? V_OK : V_NOT_STRING;
        l->timeout_ms = j->num_mag;
        break;
    case T_REQUEST:
    case T_DATA:
        l->payload_kind[t == T_REQUEST ? C_REQUEST : C_DATA] = j->kind;
        if (j->kind == GS_JV_OBJECT) l->role[j->depth] = t == T_REQUEST ? R_REQUEST : R_DATA;
        break;
    default:
        if (t >= T_CAPTURE) jl_store_capture(n, &n->jl.caps[t - T_CAPTURE]);
        break;
    }
}

/* ----- decoding a payload by its descriptor ----------------------------- */

static const char *jl_field_error(gs_node *n, const char *field, const char *what)
{
    char *d = put(n->why, field);
    d = put(d, what);
    *d = '\0';
    return n->why;
}

static const char *jl_too_large(gs_node *n, const char *field)
{
    put_limit_text(put(n->why, field), " larger than ", GS_MAX_VALUE, " bytes");
    return n->why;
}

/* Fills *msg from the captured fields of payload `container`. */
static int jl_decode_payload(gs_node *n, unsigned mi, int container, gs_msg *msg,
                             const char **why)
{
    const gs_desc *desc = n->methods[mi]->in;
    uint8_t kind = n->jl.line.payload_kind[container];
    unsigned i;
    if (kind && kind != GS_JV_NULL && kind != GS_JV_OBJECT) {
        *why = container == C_REQUEST ? "request must be an object" : "data must be an object";
        return GS_INVALID_ARGUMENT;
    }
    msg->desc = desc;
    for (i = 0; i < desc->nfields; i++) {
        const gs_field *f = &desc->fields[i];
        const gs_capture *c = &n->jl.caps[n->jl.method_caps[mi][i]];
        int present = kind == GS_JV_OBJECT && c->gen == n->jl.line.payload_gen[container] &&
                      c->kind != GS_JV_NULL;
        switch (f->type) {
        case GS_STRING:
            msg->v[i].s.p = c->buf;
            msg->v[i].s.n = present ? c->len : 0;
            if (!present) break;
            if (c->kind != GS_JV_STRING) { *why = jl_field_error(n, f->name, " must be a string"); return GS_INVALID_ARGUMENT; }
            if (c->over) { *why = jl_too_large(n, f->name); return GS_RESOURCE_EXHAUSTED; }
            break;
        case GS_UINT64:
            msg->v[i].u = present ? c->num_mag : 0;
            if (present && (c->kind != GS_JV_NUMBER || !c->num_int || c->num_big ||
                            (c->num_neg && c->num_mag))) {
                *why = jl_field_error(n, f->name, " must be a non-negative 64-bit integer");
                return GS_INVALID_ARGUMENT;
            }
            break;
        case GS_BOOL:
            msg->v[i].b = present && c->kind == GS_JV_TRUE;
            if (present && c->kind != GS_JV_TRUE && c->kind != GS_JV_FALSE) {
                *why = jl_field_error(n, f->name, " must be a boolean");
                return GS_INVALID_ARGUMENT;
            }
            break;
        }
    }
    return GS_OK;
}

/* ----- handlers, one per request type ---------------------------------- */

static const char *const jl_kind_mismatch[] = {
    "method is not unary", "method is not server-streaming",
    "method is not bidi-streaming"
};

static jl_addr jl_line_addr(gs_node *n)
{
    jl_addr a;
    a.dest = n->jl.line.src.buf;
    a.dest_len = n->jl.line.src.len;
    a.reply_to = &n->jl.line.msg_id;
    return a;
}

static void jl_error(gs_node *n, int code, const char *text)
{
    jl_addr a = jl_line_addr(n);
    jl_reply_error(n, &a, code, text);
}

static const char *jl_too_deep(gs_node *n)
{
    return put_limit_text(n->why, "nesting deeper than ", GS_MAX_DEPTH, "");
}

/* A call that fails before it has a stream: trailers only. */
static void jl_call_failed(gs_node *n, int type, int status, const char *why)
{
    jl_addr a = jl_line_addr(n);
    size_t why_len = core_why_len(why);
    if (type == M_CALL) jl_write_call_failed(n, &a, status, why, why_len);
    else jl_write_end(n, &a, 0, 0, status, why, why_len);
}

static void jl_on_init(gs_node *n)
{
    gs_line *l = &n->jl.line;
    jl_addr a = jl_line_addr(n);
    if (l->node_id.state == V_LONG) {
        jl_error(n, E_MALFORMED, put_limit_text(n->why, "node_id longer than ", GS_MAX_ID, " bytes"));
        return;
    }
    if (l->node_id.state != V_OK) { jl_error(n, E_MALFORMED, "node_id must be a string"); return; }
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    if (!n->jl.initialised) {
        n->jl.id_json_len = (size_t)(gs_json_put_str(n->jl.id_json, l->node_id.buf, l->node_id.len) - n->jl.id_json);
        n->jl.initialised = 1;
    }
    jl_reply_end(n, jl_reply_begin(n, &a, "init_ok"));
}

/* The stream a request names, if it may use it; otherwise answers the
 * request itself and returns NULL. *closed is set for a closed id. */
static gs_stream *jl_named_stream(gs_node *n, int *closed)
{
    gs_idbuf *b = &n->jl.line.stream_id;
    uint64_t id = 0;
    size_t i;
    gs_stream *s;
    *closed = 0;
    if (b->state == V_ABSENT || b->state == V_NOT_STRING) {
        jl_error(n, E_MALFORMED, "stream_id must be a string");
        return NULL;
    }
    if (b->state == V_OK && b->len >= 2 && b->len <= 20 && b->buf[0] == 's' && b->buf[1] != '0') {
        for (i = 1; i < b->len && b->buf[i] >= '0' && b->buf[i] <= '9'; i++)
            id = id * 10 + (uint64_t)(b->buf[i] - '0');
        if (i < b->len) id = 0;
    }
    if (id == 0 || id > n->jl.last_stream_id) {
        jl_error(n, E_NO_KEY, "unknown stream");
        return NULL;
    }
    s = jl_stream_by_id(n, id);
    if (!s) {
        *closed = 1;
        return NULL;
    }
    if (s->fe.jl.owner_len != n->jl.line.src.len ||
        memcmp(s->fe.jl.owner, n->jl.line.src.buf, s->fe.jl.owner_len) != 0) {
        jl_error(n, E_NO_KEY, "unknown stream");
        return NULL;
    }
    return s;
}

/* For send and close: the stream must be OPEN. */
static gs_stream *jl_open_stream(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    if (closed) jl_error(n, E_PRECONDITION, "stream is closed");
    else if (s && s->state != GS_OPEN) {
        jl_error(n, E_PRECONDITION, "stream is half-closed");
        s = NULL;
    }
    if (s && n->jl.scan.too_deep && n->jl.line.type_id != M_BIDI_SEND) {
        jl_error(n, E_MALFORMED, jl_too_deep(n));
        s = NULL;
    }
    return s;
}

static void jl_on_state(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    jl_addr a = jl_line_addr(n);
    char *d;
    if (!s && !closed) return;
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    d = jl_reply_begin(n, &a, "grpc_stream_state_ok");
    d = PUT_KEY(d, "stream_id");
    d = gs_json_put_str(d, n->jl.line.stream_id.buf, n->jl.line.stream_id.len);
    d = PUT_KEY(d, "state");
    d = put(d, !s ? "\"CLOSED\"" : s->state == GS_OPEN ? "\"OPEN\"" : "\"HALF_CLOSED\"");
    jl_reply_end(n, d);
}

static void jl_on_cancel(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    if (closed) { jl_error(n, E_PRECONDITION, "stream is closed"); return; }
    if (!s) return;
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    core_cancel(n, s);
}

static void jl_on_close(gs_node *n)
{
    gs_stream *s = jl_open_stream(n);
    if (s) core_half_close(n, s);
}

static void jl_on_send(gs_node *n)
{
    gs_stream *s = jl_open_stream(n);
    gs_msg in;
    const char *why = NULL;
    int status;
    if (!s) return;
    if (n->jl.scan.too_deep) status = GS_RESOURCE_EXHAUSTED, why = jl_too_deep(n);
    else status = jl_decode_payload(n, s->method_index, C_DATA, &in, &why);
    if (status != GS_OK) core_end(n, s, 1, status, why);
    else core_deliver(n, s, &in);
}

/* The checks every call makes before it runs (method, kind, depth,
 * payload, deadline, a free slot), then admission. Returns the stream,
 * or NULL after answering. */
static gs_stream *jl_admit(gs_node *n, int type, gs_kind kind, gs_msg *req)
{
    gs_line *l = &n->jl.line;
    const char *why = NULL;
    int status = GS_OK, mi = -1;
    gs_stream *s = NULL;
    if (l->service.state == V_OK && l->method.state == V_OK)
        mi = core_find(n, l->service.buf, l->service.len, l->method.buf, l->method.len);
    if (mi < 0) status = GS_UNIMPLEMENTED, why = "unknown method";
    else if (n->methods[mi]->kind != kind) status = GS_UNIMPLEMENTED, why = jl_kind_mismatch[kind];
    else if (n->jl.scan.too_deep) status = GS_RESOURCE_EXHAUSTED, why = jl_too_deep(n);
    else if (kind != GS_BIDI_STREAMING) status = jl_decode_payload(n, (unsigned)mi, C_REQUEST, req, &why);
    if (status == GS_OK && kind != GS_UNARY && l->timeout_state == V_NOT_STRING)
        status = GS_INVALID_ARGUMENT, why = "timeout_ms must be a positive integer";
    if (status == GS_OK) {
        uint64_t timeout = kind != GS_UNARY && l->timeout_state == V_OK ? l->timeout_ms : 0;
        s = core_admit(n, (unsigned)mi, FE_JSON, timeout);
        if (!s) status = GS_RESOURCE_EXHAUSTED, why = "all stream slots are busy";
    }
    if (!s) {
        jl_call_failed(n, type, status, why);
        return NULL;
    }
    s->fe.jl.id = 0;
    s->fe.jl.opened_by = l->msg_id;
    s->fe.jl.owner_len = l->src.len;
    memcpy(s->fe.jl.owner, l->src.buf, l->src.len);
    return s;
}

/* A stream that outlives its request gets an id, told in `type`. */
static void jl_open_ok(gs_node *n, gs_stream *s, const char *type)
{
    jl_addr a = jl_line_addr(n);
    jl_assign_id(n, s);
    jl_reply_end(n, jl_put_stream_id(jl_reply_begin(n, &a, type), s->fe.jl.id));
}

static void jl_on_server_stream(gs_node *n)
{
    gs_msg req;
    gs_stream *s = jl_admit(n, M_SERVER_STREAM, GS_SERVER_STREAMING, &req);
    if (s && core_start(n, s, &req) == GS_OK && s->follows)
        jl_open_ok(n, s, "grpc_server_stream_open_ok");
}

static void jl_on_bidi_open(gs_node *n)
{
    gs_stream *s = jl_admit(n, M_BIDI_OPEN, GS_BIDI_STREAMING, NULL);
    /* a failed start ended the call: that end replaces the open_ok */
    if (s && core_start(n, s, NULL) == GS_OK) jl_open_ok(n, s, "grpc_bidi_stream_open_ok");
}

static void jl_on_call(gs_node *n)
{
    gs_msg req;
    gs_stream *s = jl_admit(n, M_CALL, GS_UNARY, &req);
    if (s) core_unary(n, s, &req);
}

static int jl_type_of(const gs_namebuf *t)
{
    int i;
    for (i = 0; i < M_UNKNOWN; i++)
        if (jl_type_names[i].len == t->len && memcmp(jl_type_names[i].name, t->buf, t->len) == 0) return i;
    return M_UNKNOWN;
}

/* A whole line was read: the checks of README "Order of checks". */
static void jl_on_line(gs_node *n)
{
    gs_line *l = &n->jl.line;
    int status = n->jl.scan.status;
    if (status == GS_JL_BLANK) return;
    if (status == GS_JL_OK && (l->top_kind != GS_JV_OBJECT)) { report(n, "line is not a JSON object"); return; }
    if (l->src.state != V_OK) { report(n, status == GS_JL_OK ? "src missing, not a string or too long" : "invalid JSON, src not recoverable"); return; }
    if (!n->jl.initialised && l->dest.state != V_OK) { report(n, "no usable dest to sign a reply before init"); return; }
    if (status == GS_JL_ERROR) {
        l->msg_id.has = 0;
        jl_error(n, E_MALFORMED, "invalid JSON");
        return;
    }
    if (l->body_kind != GS_JV_OBJECT) { l->msg_id.has = 0; jl_error(n, E_MALFORMED, "body must be an object"); return; }
    if (l->msg_id_state == V_NOT_STRING) { l->msg_id.has = 0; jl_error(n, E_MALFORMED, "msg_id must be a 64-bit integer"); return; }
    if (l->type.state != V_OK && l->type.state != V_LONG) { jl_error(n, E_MALFORMED, "type must be a string"); return; }
    l->type_id = (uint8_t)(l->type.state == V_OK ? jl_type_of(&l->type) : M_UNKNOWN);
    if (l->type_id == M_UNKNOWN) { jl_error(n, E_NOT_SUPPORTED, "unknown message type"); return; }
    if (!n->jl.initialised && l->type_id != M_INIT) { jl_error(n, E_UNAVAILABLE, "node not initialised"); return; }
    switch (l->type_id) {
    case M_INIT: jl_on_init(n); break;
    case M_SERVER_STREAM: jl_on_server_stream(n); break;
    case M_BIDI_OPEN: jl_on_bidi_open(n); break;
    case M_BIDI_SEND: jl_on_send(n); break;
    case M_BIDI_CLOSE: jl_on_close(n); break;
    case M_CANCEL: jl_on_cancel(n); break;
    case M_STATE: jl_on_state(n); break;
    case M_CALL: jl_on_call(n); break;
    }
}

/* ----- registration and the node's input ------------------------------- */

/* The JSON front end reads a method's input fields from `request` (unary,
 * server streaming) or `data` (bidi): one capture per (container, name),
 * with a GS_MAX_VALUE buffer for strings. */
static int jl_capture_index(const gs_node *n, int container, const char *name)
{
    unsigned i;
    for (i = 0; i < n->jl.ncaps; i++)
        if (n->jl.caps[i].container == container && strcmp(n->jl.caps[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Whether the captures a message type needs fit what is left. */
static int jl_captures_fit(const gs_node *n, int container, const gs_desc *d)
{
    unsigned i, caps = n->jl.ncaps, strings = n->jl.nstring_caps;
    for (i = 0; i < d->nfields; i++) {
        int c = jl_capture_index(n, container, d->fields[i].name);
        int string = d->fields[i].type == GS_STRING;
        if (c < 0) caps++;
        if (string && (c < 0 || !n->jl.caps[c].buf)) strings++;
    }
    return caps <= GS_MAX_CAPTURES && strings <= GS_MAX_STRING_CAPTURES;
}

static uint8_t jl_capture_for(gs_node *n, int container, const gs_field *f)
{
    int i = jl_capture_index(n, container, f->name);
    gs_capture *c;
    if (i < 0) {
        i = (int)n->jl.ncaps++;
        c = &n->jl.caps[i];
        memset(c, 0, sizeof *c);
        c->container = (uint8_t)container;
        c->name = f->name;
    }
    c = &n->jl.caps[i];
    if (f->type == GS_STRING && !c->buf) c->buf = n->jl.cap_bufs[n->jl.nstring_caps++];
    return (uint8_t)i;
}

/* This front end's part of gs_register: the captures method mi reads and
 * the output room its replies need. Takes nothing when it fails. */
static int jl_register(gs_node *n, unsigned mi, const gs_method *m)
{
    unsigned i;
    int container = m->kind == GS_BIDI_STREAMING ? C_DATA : C_REQUEST;
    size_t room = jl_reply_room(m->out);
    if (room > GS_REPLY_MAX || !jl_captures_fit(n, container, m->in)) return -1;
    for (i = 0; i < m->in->nfields; i++)
        n->jl.method_caps[mi][i] = jl_capture_for(n, container, &m->in->fields[i]);
    n->reply_room[mi] = room;
    if (room > n->jl.line_room) n->jl.line_room = room;
    return 0;
}

static void jl_init(gs_node *n)
{
    int i;
    n->jl.initialised = 0;
    n->jl.next_msg_id = 0;
    n->jl.last_stream_id = 0;
    n->jl.ncaps = n->jl.nstring_caps = 0;
    n->jl.line_room = JL_ENVELOPE_MAX;
    n->jl.out_len = 0;
    for (i = 0; i < GS_MAX_STREAMS; i++) n->jl.buckets[i] = -1;
    gs_json_reset(&n->jl.scan);
    jl_reset_line(n);
}

/* Reads input until it is used up or the output needs draining. */
static size_t jl_feed(gs_node *n, const char *in, size_t len)
{
    const char *p = in, *end = in + len;
    while (p < end && (n->urgent_len == 0 || core_run_urgent(n)) && jl_line_room(n)) {
        switch (gs_json_next(&n->jl.scan, &p, end)) {
        case GS_JSON_MEMBER: jl_on_member(n); break;
        case GS_JSON_VALUE: jl_on_value(n); break;
        case GS_JSON_LINE:
            jl_on_line(n);
            jl_reset_line(n);
            if (n->runq_len) gs_pump(n);    /* long streams go on between lines */
            break;
        default: break;
        }
    }
    core_run_urgent(n);
    return (size_t)(p - in);
}

/* ===================================================================== */
/* 9. Front-end dispatch                                                  */
/* ===================================================================== */

/* Section 4's calls, switched over the front end that carries a stream.
 * GS_TEST_FRONT_END adds a front end whose functions a unit test defines
 * (tests/unit_core.c), to drive the call core with no wire format at all. */

#ifdef GS_TEST_FRONT_END
static void test_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request);
static void test_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                          const char *why, size_t why_len);
static int test_room(const gs_node *n, const gs_stream *s, int for_what);
#endif

static void fe_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    switch (s->front) {
    case FE_JSON: jl_emit_msg(n, s, m, by_request); break;
#ifdef GS_TEST_FRONT_END
    case FE_TEST: test_emit_msg(n, s, m, by_request); break;
#endif
    }
}

static void fe_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                        const char *why, size_t why_len)
{
    switch (s->front) {
    case FE_JSON: jl_emit_end(n, s, by_request, status, why, why_len); break;
#ifdef GS_TEST_FRONT_END
    case FE_TEST: test_emit_end(n, s, by_request, status, why, why_len); break;
#endif
    }
}

static int fe_room(const gs_node *n, const gs_stream *s, int for_what)
{
    switch (s->front) {
    case FE_JSON: return jl_room(n, s);
#ifdef GS_TEST_FRONT_END
    case FE_TEST: return test_room(n, s, for_what);
#endif
    }
    (void)for_what;
    return ROOM_ALL;
}

/* ===================================================================== */
/* 10. Node API                                                           */
/* ===================================================================== */

/* The public calls of grpcstream.h that are not a section's own: set-up,
 * registration, the clock, the JSON-lines input and output buffers. */

/* A method gs_register can take: names that fit, descriptors within
 * GS_MAX_FIELDS, and the handlers its kind needs. */
static int method_ok(const gs_method *m)
{
    const gs_desc *io[2];
    unsigned i, k;
    if (!m || !m->service || !m->name || !m->in || !m->out ||
        strlen(m->service) > GS_MAX_NAME || strlen(m->name) > GS_MAX_NAME)
        return 0;
    io[0] = m->in;
    io[1] = m->out;
    for (k = 0; k < 2; k++) {
        if (io[k]->nfields > GS_MAX_FIELDS) return 0;
        for (i = 0; i < io[k]->nfields; i++)
            if (strlen(io[k]->fields[i].name) > GS_JSON_KEY_MAX) return 0;
    }
    switch (m->kind) {
    case GS_UNARY: return m->unary != NULL;
    case GS_SERVER_STREAMING: return m->next != NULL;
    case GS_BIDI_STREAMING: return m->recv != NULL && (!m->half_close || m->next);
    }
    return 0;
}

int gs_register(gs_node *n, const gs_method *m)
{
    unsigned mi = n->nmethods;
    if (mi == GS_MAX_METHODS || !method_ok(m) || jl_register(n, mi, m) != 0) return -1;
    n->methods[n->nmethods++] = m;
    return 0;
}

void gs_init(gs_node *n)
{
    n->nmethods = 0;
    n->now_ms = 0;
    n->next_serial = 0;
    n->deadlines = 0;
    n->diag = NULL;
    st_init(n);
    log_init(&n->log);
    jl_init(n);
    gs_register(n, &watch_logs);
    gs_register(n, &append_method);
    gs_register(n, &bidi_chat);
}

void gs_set_diagnostic(gs_node *n, void (*fn)(gs_node *, const char *)) { n->diag = fn; }

#ifndef GS_NO_FILE_LOG
/* Followers of a file log hear of lines others append within this. */
#define FILE_CHECK_MS 50

static int has_waiting_follower(const gs_node *n)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++)
        if (n->streams[i].state != GS_FREE && n->streams[i].waiting) return 1;
    return 0;
}
#endif

void gs_tick(gs_node *n, uint64_t now_ms)
{
    n->now_ms = now_ms;
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0 && now_ms - n->log.checked_ms >= FILE_CHECK_MS) {
        uint64_t entries = n->log.entries, gen = n->log.gen;
        n->log.checked_ms = now_ms;
        file_check(n);
        if (n->log.entries != entries || n->log.gen != gen) gs_wake(n, &watch_logs);
    }
#endif
    core_expire(n);
}

int64_t gs_timeout(const gs_node *n)
{
    uint64_t first = core_next_deadline(n);
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0 && has_waiting_follower(n)) {
        uint64_t check = n->log.checked_ms + FILE_CHECK_MS;
        if (!first || check < first) first = check;
    }
#endif
    if (!first) return -1;
    if (first <= n->now_ms) return 0;
    return first - n->now_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(first - n->now_ms);
}

int gs_idle(const gs_node *n)
{
    return !n->deadlines && !n->urgent_len && !n->runq_len;
}

size_t gs_feed(gs_node *n, const char *in, size_t len) { return jl_feed(n, in, len); }

int gs_feed_end(gs_node *n)
{
    return gs_feed(n, "\n", 1) == 1;   /* a complete last line reads as blank */
}

const char *gs_output(gs_node *n, size_t *len)
{
    *len = n->jl.out_len;
    return n->jl.out;
}

void gs_output_done(gs_node *n, size_t len)
{
    if (len > n->jl.out_len) len = n->jl.out_len;
    memmove(n->jl.out, n->jl.out + len, n->jl.out_len - len);
    n->jl.out_len -= len;
}

int gs_output_full(const gs_node *n) { return n->jl.out_len >= GS_OUT_BATCH; }

/* ===================================================================== */
/* 11. main(): a poll() loop over stdin and stdout                        */
/* ===================================================================== */

/* The thin shell of the JSON-lines node: non-blocking stdin and stdout,
 * output written in batches and always before the loop blocks, the
 * monotonic clock given to gs_tick. Leave it out with GS_NO_MAIN. */

#ifndef GS_NO_MAIN
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static gs_node node;
static char inbuf[65536];
static int saved_flags[2];

static void stderr_line(gs_node *n, const char *what)
{
    char buf[512];
    size_t len = strlen(what);
    (void)n;
    if (len > sizeof buf - 14) len = sizeof buf - 14;
    memcpy(buf, "grpcstream: ", 12);
    memcpy(buf + 12, what, len);
    buf[12 + len] = '\n';
    if (write(2, buf, 13 + len) < 0) { /* nothing more to do */ }
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void restore_flags(void)
{
    fcntl(0, F_SETFL, saved_flags[0]);
    fcntl(1, F_SETFL, saved_flags[1]);
}

static void set_nonblocking(int fd)
{
    saved_flags[fd] = fcntl(fd, F_GETFL);
    if (saved_flags[fd] >= 0) fcntl(fd, F_SETFL, saved_flags[fd] | O_NONBLOCK);
}

/* Writes what output it can; exits on a broken stdout. */
static void flush_some(void)
{
    size_t len;
    const char *out = gs_output(&node, &len);
    while (len) {
        ssize_t w = write(1, out, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w < 0) {
            stderr_line(&node, errno == EPIPE ? "stdout closed" : strerror(errno));
            restore_flags();
            exit(1);
        }
        gs_output_done(&node, (size_t)w);
        out = gs_output(&node, &len);
    }
}

/* Usage on stdout when asked for (exit 0), on stderr after a bad flag (2). */
static int usage(FILE *to, int status)
{
    fputs("usage: grpcstream [--log FILE]\n"
          "  reads JSON lines on stdin, writes replies on stdout (see README.md)\n"
          "  --log FILE  the log LogWatcher serves and Append writes, followed like tail -F\n"
          "  --help      this text\n",
          to);
    return status;
}

int main(int argc, char **argv)
{
    size_t in_off = 0, in_len = 0, pending;
    int in_eof = 0, ended = 0;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage(stdout, 0);
    if (argc != 1 && !(argc == 3 && strcmp(argv[1], "--log") == 0)) return usage(stderr, 2);
    signal(SIGPIPE, SIG_IGN);
    gs_init(&node);
    gs_set_diagnostic(&node, stderr_line);
    if (argc == 3 && gs_log_open(&node, argv[2]) != 0) {
        fprintf(stderr, "grpcstream: cannot open log %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    set_nonblocking(0);
    set_nonblocking(1);

    for (;;) {
        struct pollfd fds[2];
        int busy, timeout, nfds = 0;
        int64_t next_deadline;

        gs_tick(&node, monotonic_ms());
        if (in_off < in_len) in_off += gs_feed(&node, inbuf + in_off, in_len - in_off);
        if (in_eof && in_off == in_len && !ended) ended = gs_feed_end(&node);
        busy = gs_pump(&node);
        gs_output(&node, &pending);
        next_deadline = gs_timeout(&node);
        /* At end of input, calls with a deadline still get their end. */
        if (ended && !busy && !pending && gs_idle(&node)) break;

        /* Work that needs no I/O goes on; output waits for a full batch. */
        timeout = (busy || in_off < in_len || (in_eof && !ended)) ? 0
                  : next_deadline > INT_MAX ? INT_MAX : (int)next_deadline;
        if (pending && (timeout < 0 || gs_output_full(&node))) flush_some();
        gs_output(&node, &pending);

        if (!in_eof && in_off == in_len) {
            fds[nfds].fd = 0;
            fds[nfds++].events = POLLIN;
        }
        if (pending) {
            fds[nfds].fd = 1;
            fds[nfds++].events = POLLOUT;
            if (gs_output_full(&node)) timeout = -1;   /* must drain first */
        }
        if (!nfds && timeout > 0) {     /* only a deadline to wait for */
            poll(NULL, 0, timeout);
            continue;
        }
        if (!nfds) continue;            /* nothing to wait for: re-check */
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) break;

        if (!in_eof && in_off == in_len) {
            ssize_t r = read(0, inbuf, sizeof inbuf);
            if (r > 0) { in_off = 0; in_len = (size_t)r; }
            else if (r == 0) in_eof = 1;
            else if (errno != EAGAIN && errno != EINTR) { stderr_line(&node, strerror(errno)); in_eof = 1; }
        }
        if (pending) flush_some();
    }
    restore_flags();
    return 0;
}
#endif
