/*
 * unit_h2.c - byte-level tests of the HTTP/2 front end (sections 12-13 of
 * grpcstream.c) through the gs_conn_* API.
 *
 *     clang -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g \
 *         -fsanitize=address,undefined -fno-sanitize-recover=all \
 *         -I. -o /tmp/unit_h2 tests/unit_h2.c json.c && /tmp/unit_h2
 *
 * (add -DGS_MAX_VALUE=262144 to send a 200 KiB chat message instead of
 * the default build's largest, 64 KiB.)
 *
 * The code under test is included whole (GS_NO_MAIN), so the test client
 * uses the library's own HPACK encoder and decoder (hp_encode, hp_dec_*)
 * and protobuf codec (pb_put_msg, pb_decode) to build requests and read
 * responses. One line per check, PASS: name or FAIL: name (detail); the
 * exit status is 1 if any check failed.
 *
 * The client. A scenario stages frames (s_* helpers) and sends them; the
 * runner feeds them in one of three ways:
 *   whole   gs_conn_feed of everything, draining only when it stalls;
 *   byte    one byte a call, gs_pump and a full drain after every byte;
 *   random  random pieces (fixed seeds), random drains, partial writes.
 * After each send the node is settled (gs_pump and gs_conn_output until
 * nothing moves). The response parser checks every server frame as it
 * comes (frame sizes, flow control against the windows the client
 * granted, frames after END_STREAM, SETTINGS first, ...; any breach is a
 * "violation") and keeps, per connection and per stream, a transcript of
 * what the server said: SETTINGS, ACKs, PING ACKs, GOAWAY; response
 * headers, gRPC messages (reassembled whatever the DATA framing),
 * trailers, END_STREAM, RST_STREAM. WINDOW_UPDATEs and DATA boundaries
 * are left out (batching differs). A RST_STREAM after the server's
 * END_STREAM is kept apart: whether the server sends NO_ERROR, or
 * STREAM_CLOSED for DATA that arrives after it released the stream,
 * depends on when it flushed. Every scenario runs whole (its checks
 * print one line each), byte by byte and in RANDOM_RUNS random ways; the
 * other ways must pass the same checks and give the same transcript.
 *
 * After every run all connections are closed and every stream slot and
 * message buffer must be free again. Each scenario runs in a child
 * process, so a crash or a sanitizer report is one FAIL line.
 *
 *   /tmp/unit_h2 WORD     runs only the scenarios whose name has WORD
 *   H2_TRANSCRIPT=1       also prints each scenario's transcript (whole)
 *
 * Scenarios, by the part of the layer they exercise:
 *   1. frames      server SETTINGS; unary Append; WatchLogs (the 8
 *                  built-in entries); BiDiChat (echoes, half-close, client
 *                  trailers); Trailers-Only UNIMPLEMENTED; HTTP 415 / 405 /
 *                  431; padded HEADERS and DATA; HEADERS + CONTINUATION
 *                  split at every offset; PING, SETTINGS, unknown frame
 *                  types; frames over 16384 bytes; fixed-size frames of the
 *                  wrong size; the preface; malformed requests (RFC 9113
 *                  8.1.1), grpc-timeout; self-dependencies; HPACK errors
 *   2. stream states (RFC 9113 5.1): DATA on idle streams, even, decreasing
 *                  and reused ids, DATA and HEADERS after END_STREAM,
 *                  RST_STREAM / WINDOW_UPDATE on idle streams, RST_STREAM
 *                  cancelling, CONTINUATION without HEADERS, frames inside
 *                  a header block, PUSH_PROMISE
 *   3. flow control: INITIAL_WINDOW_SIZE 10 and exact WINDOW_UPDATE steps;
 *                  INITIAL_WINDOW_SIZE changes on open streams (negative
 *                  windows); the connection window; WINDOW_UPDATE overflow
 *                  (connection, stream, via SETTINGS); a message larger
 *                  than a window and a frame both ways, sent within what
 *                  the server granted; larger MAX_FRAME_SIZE
 *   4. reassembly: a message split at every offset, two in a frame, empty
 *                  messages, a 4 GiB length prefix, compressed flags,
 *                  request message counts, pipelined calls, a zero-window
 *                  client holding answers
 *   5. protobuf:   filter / limit / follow, unknown fields, malformed
 *                  messages, +json
 *   6. connections: gs_conn_close with calls running frees every slot;
 *                  gs_conn_goaway (graceful, repeated)
 */
#ifndef GS_HPACK_ENC_TABLE
#define GS_HPACK_ENC_TABLE 4096     /* the test client indexes what it sends */
#endif
#define GS_NO_MAIN
#include "../grpcstream.c"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if GS_MAX_CONNS < 4
#error "unit_h2.c needs GS_MAX_CONNS >= 4"
#endif

#ifndef RANDOM_RUNS
#define RANDOM_RUNS 12
#endif

static gs_node node;
static int failures, passes;

static void check(int cond, const char *name)
{
    printf("%s: %s\n", cond ? "PASS" : "FAIL", name);
    if (cond) passes++;
    else failures++;
    fflush(stdout);
}

/* ===================================================================== */
/* Helpers: a growing byte buffer, a seeded generator                     */
/* ===================================================================== */

typedef struct { uint8_t *p; size_t n, cap; } buf;

static void badd(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) { fputs("out of memory\n", stderr); exit(2); }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void bbyte(buf *b, unsigned c) { uint8_t x = (uint8_t)c; badd(b, &x, 1); }

static void bu32(buf *b, uint32_t v)
{
    uint8_t d[4];
    h2_put32(d, v);
    badd(b, d, 4);
}

static void bfmt(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    badd(b, tmp, (size_t)n);
}

static const char *bstr(const buf *b) { return b->p ? (const char *)b->p : ""; }
static void bclear(buf *b) { b->n = 0; if (b->p) b->p[0] = 0; }
static void bfree(buf *b) { free(b->p); b->p = NULL; b->n = b->cap = 0; }

static uint64_t rng_state;
static uint64_t rnd64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}
static size_t rnd(size_t n) { return n ? (size_t)(rnd64() % n) : 0; }

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* bytes as text for a transcript: short ones in hex, long ones hashed */
static void bdump(buf *out, const uint8_t *p, size_t n)
{
    size_t i;
    if (n > 48) {
        bfmt(out, "len=%zu fnv=%016llx", n, (unsigned long long)fnv(p, n));
        return;
    }
    bfmt(out, "len=%zu ", n);
    for (i = 0; i < n; i++) bfmt(out, "%02x", p[i]);
}

/* ===================================================================== */
/* Runs: the feeding mode, the clients, expectations                      */
/* ===================================================================== */

enum { M_WHOLE, M_BYTE, M_RANDOM };

typedef struct {
    int opened;             /* the client sent HEADERS on it */
    int64_t recv_win;       /* what the server may still send on it */
    int64_t send_win;       /* what the client may still send */
    int headers;            /* 0, 1 response headers seen, 2 trailers seen */
    int end_seen;           /* the server's END_STREAM */
    int http_status, grpc_status, rst, rst_after_end;   /* -1: none */
    unsigned rst_after_mask;    /* 1 << code of every RST_STREAM after the end */
    int raw;                /* body is not gRPC framed */
    int trailers_only;
    int accept_encoding;    /* grpc-accept-encoding seen */
    char content_type[64];
    buf ev;                 /* transcript */
    buf pend;               /* DATA bytes not yet a whole message */
    buf body;               /* raw body */
    buf grpc_message;       /* percent-decoded */
    buf *msgs;
    size_t nmsgs, msgcap;
    uint64_t data_bytes;    /* DATA payload bytes received (padding too) */
    unsigned data_frames;
} cstream;

#define MAX_SID 2048

typedef struct {
    int ci, closed;
    gs_hpack_enc enc;
    gs_hpack_dec dec;
    buf in;                 /* server bytes not yet a whole frame */
    buf stage;              /* client bytes to send */
    buf pending;            /* automatic answers (WINDOW_UPDATE, ACK) */
    buf hb;                 /* a response header block being collected */
    uint32_t hb_sid;
    uint8_t hb_flags;
    cstream st[MAX_SID / 2];
    int64_t recv_conn, send_conn;
    int64_t my_initial;     /* our INITIAL_WINDOW_SIZE, as applied */
    int64_t peer_initial;   /* the server's */
    uint32_t my_max_frame;  /* our SETTINGS_MAX_FRAME_SIZE (the largest sent) */
    int64_t dec_queue[32];  /* decreases of ours, applied at their ACK */
    int ndec;
    unsigned settings_sent, acks, frames;
    int goaway_code;        /* -1: none */
    uint32_t goaway_last;
    int auto_wu;            /* grant back what DATA used, as it comes */
    uint32_t max_seen;      /* the largest frame the server sent */
    uint32_t srv_settings[8];
    int srv_settings_seen;
    buf conn_ev, viol;
} client;

#define MAXCL 8

static struct {
    int mode;
    const char *scenario;
    client *cl[MAXCL];
    int ncl;
    int nfail;
    char first_fail[600];
} R;

static void expect(int cond, const char *fmt, ...)
{
    char what[400], name[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s: %s", R.scenario, what);
    if (R.mode == M_WHOLE) {
        check(cond, name);
    } else if (!cond) {
        if (!R.nfail++) snprintf(R.first_fail, sizeof R.first_fail, "%s", name);
    }
}

static void violation(client *c, const char *fmt, ...)
{
    char tmp[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (c->viol.n < 4000) bfmt(&c->viol, "%s; ", tmp);
}

static cstream *S(client *c, uint32_t sid)
{
    if (sid == 0 || sid >= MAX_SID || !(sid & 1)) {
        static cstream dummy;
        violation(c, "stream id %u outside the test's range", sid);
        return &dummy;
    }
    return &c->st[sid / 2];
}

/* ===================================================================== */
/* The response parser                                                    */
/* ===================================================================== */

static void apply_peer_initial(client *c, int64_t v)
{
    size_t i;
    for (i = 0; i < MAX_SID / 2; i++)
        if (c->st[i].opened) c->st[i].send_win += v - c->peer_initial;
    c->peer_initial = v;
}

static void apply_my_initial(client *c, int64_t v)
{
    size_t i;
    for (i = 0; i < MAX_SID / 2; i++)
        if (c->st[i].opened) c->st[i].recv_win += v - c->my_initial;
    c->my_initial = v;
}

static void percent_decode(buf *out, const uint8_t *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (v[i] == '%' && i + 2 < n) {
            char hex[3] = { (char)v[i + 1], (char)v[i + 2], 0 };
            bbyte(out, (unsigned)strtoul(hex, NULL, 16));
            i += 2;
        } else {
            bbyte(out, v[i]);
        }
    }
}

static void split_messages(client *c, cstream *st)
{
    size_t off = 0;
    (void)c;
    while (st->pend.n - off >= 5) {
        uint32_t len = h2_u32(st->pend.p + off + 1);
        buf *m;
        if (st->pend.n - off - 5 < len) break;
        if (st->nmsgs == st->msgcap) {
            st->msgcap = st->msgcap ? 2 * st->msgcap : 8;
            st->msgs = realloc(st->msgs, st->msgcap * sizeof *st->msgs);
            if (!st->msgs) exit(2);
        }
        m = &st->msgs[st->nmsgs++];
        memset(m, 0, sizeof *m);
        badd(m, st->pend.p + off + 5, len);
        bfmt(&st->ev, "MSG flag=%u ", st->pend.p[off]);
        bdump(&st->ev, m->p, m->n);
        bfmt(&st->ev, "\n");
        off += 5 + len;
    }
    memmove(st->pend.p, st->pend.p + off, st->pend.n - off);
    st->pend.n -= off;
}

static void stream_end(client *c, cstream *st, uint32_t sid)
{
    if (st->pend.n) violation(c, "stream %u ended inside a message (%zu bytes)", sid, st->pend.n);
    if (st->raw && st->body.n) {
        bfmt(&st->ev, "BODY ");
        bdump(&st->ev, st->body.p, st->body.n);
        bfmt(&st->ev, "\n");
    }
    bfmt(&st->ev, "END_STREAM\n");
    st->end_seen = 1;
}

static void header_block_done(client *c)
{
    uint32_t sid = c->hb_sid;
    cstream *st = S(c, sid);
    const uint8_t *p = c->hb.p, *end = c->hb.p + c->hb.n;
    buf line = { 0 };
    int trailers = st->headers == 1;
    c->hb_sid = 0;
    if (!st->opened) violation(c, "HEADERS on stream %u the client never opened", sid);
    if (st->end_seen || st->rst >= 0) violation(c, "HEADERS on stream %u after its end", sid);
    hp_block_begin(&c->dec, UINT32_MAX);
    for (;;) {
        int r = hp_decode(&c->dec, &p, end);
        const char *name = (const char *)c->dec.name, *value = (const char *)c->dec.value;
        size_t nl = c->dec.name_len, vl = c->dec.value_len;
        if (r == HP_MORE) break;
        if (r < 0) { violation(c, "HPACK error in a response: %s", c->dec.why); break; }
        bfmt(&line, "%s%.*s=%.*s", line.n ? ", " : "", (int)nl, name, (int)vl, value);
        if (H2_IS(name, nl, ":status")) {
            char tmp[8] = { 0 };
            memcpy(tmp, value, vl < 7 ? vl : 7);
            st->http_status = atoi(tmp);
            if (trailers) violation(c, "stream %u: :status in trailers", sid);
        } else if (H2_IS(name, nl, "content-type")) {
            size_t k = vl < sizeof st->content_type - 1 ? vl : sizeof st->content_type - 1;
            memcpy(st->content_type, value, k);
            st->content_type[k] = 0;
        } else if (H2_IS(name, nl, "grpc-status")) {
            char tmp[8] = { 0 };
            memcpy(tmp, value, vl < 7 ? vl : 7);
            st->grpc_status = atoi(tmp);
        } else if (H2_IS(name, nl, "grpc-message")) {
            bclear(&st->grpc_message);
            percent_decode(&st->grpc_message, (const uint8_t *)value, vl);
        } else if (H2_IS(name, nl, "grpc-accept-encoding")) {
            st->accept_encoding = 1;
        }
    }
    if (hp_block_end(&c->dec) != 0) violation(c, "response header block ended inside a field");
    if (!trailers) {
        st->headers = 1;
        st->raw = st->http_status != 200 || strncmp(st->content_type, "application/grpc", 16) != 0;
        st->trailers_only = (c->hb_flags & H2F_END_STREAM) != 0;
        bfmt(&st->ev, "%s %s\n", st->trailers_only ? "TRAILERS_ONLY" : "HEADERS", bstr(&line));
    } else {
        st->headers = 2;
        if (!(c->hb_flags & H2F_END_STREAM)) violation(c, "stream %u: trailers without END_STREAM", sid);
        bfmt(&st->ev, "TRAILERS %s\n", bstr(&line));
    }
    if (c->hb_flags & H2F_END_STREAM) stream_end(c, st, sid);
    bfree(&line);
}

static void queue_wu(client *c, uint32_t sid, uint32_t inc);

static void on_frame(client *c, unsigned type, unsigned flags, uint32_t sid, const uint8_t *p, uint32_t len)
{
    cstream *st;
    uint32_t i;
    c->frames++;
    if (c->frames == 1 && type != H2_SETTINGS) violation(c, "first frame is type %u, not SETTINGS", type);
    if (len > c->my_max_frame) violation(c, "frame of %u bytes (type %u)", len, type);
    if (len > c->max_seen) c->max_seen = len;
    if (c->hb_sid && type != H2_CONTINUATION) violation(c, "frame type %u inside a header block", type);
    switch (type) {
    case H2_DATA: {
        uint32_t pad = 0;
        st = S(c, sid);
        if (!st->opened) violation(c, "DATA on stream %u the client never opened", sid);
        if (st->end_seen || st->rst >= 0) violation(c, "DATA on stream %u after its end", sid);
        if (st->headers != 1) violation(c, "DATA on stream %u before its headers", sid);
        c->recv_conn -= len;
        st->recv_win -= len;
        if (c->recv_conn < 0) violation(c, "DATA beyond the connection window (%lld)", (long long)c->recv_conn);
        if (st->recv_win < 0) violation(c, "DATA beyond stream %u's window (%lld)", sid, (long long)st->recv_win);
        if (flags & H2F_PADDED) {
            if (len < 1 || p[0] >= len) { violation(c, "bad DATA padding"); return; }
            pad = p[0];
            p++, len--;
        }
        st->data_bytes += len + (pad ? pad + 1 : 0);
        st->data_frames++;
        if (st->raw) badd(&st->body, p, len - pad);
        else { badd(&st->pend, p, len - pad); split_messages(c, st); }
        if (c->auto_wu && len) {
            queue_wu(c, 0, len);
            if (!(flags & H2F_END_STREAM)) queue_wu(c, sid, len);
        }
        if (flags & H2F_END_STREAM) stream_end(c, st, sid);
        return;
    }
    case H2_HEADERS: {
        uint32_t pad = 0, skip = 0;
        if (flags & H2F_PADDED) { pad = p[0]; skip = 1; }
        if (flags & H2F_PRIORITY) skip += 5;
        if (skip + pad > len) { violation(c, "bad HEADERS padding"); return; }
        c->hb_sid = sid;
        c->hb_flags = (uint8_t)flags;
        bclear(&c->hb);
        badd(&c->hb, p + skip, len - skip - pad);
        if (flags & H2F_END_HEADERS) header_block_done(c);
        return;
    }
    case H2_CONTINUATION:
        if (!c->hb_sid || c->hb_sid != sid) { violation(c, "stray CONTINUATION"); return; }
        badd(&c->hb, p, len);
        if (flags & H2F_END_HEADERS) header_block_done(c);
        return;
    case H2_RST_STREAM:
        st = S(c, sid);
        if (len != 4) { violation(c, "RST_STREAM of %u bytes", len); return; }
        if (st->end_seen || st->rst >= 0) {
            /* after the end (NO_ERROR, or STREAM_CLOSED for DATA that
             * crossed it): when depends on flushing; kept apart */
            if (st->rst_after_end < 0) st->rst_after_end = (int)h2_u32(p);
            if (h2_u32(p) < 32) st->rst_after_mask |= 1u << h2_u32(p);
        } else {
            st->rst = (int)h2_u32(p);
            bfmt(&st->ev, "RST_STREAM %u\n", h2_u32(p));
        }
        return;
    case H2_SETTINGS:
        if (flags & H2F_ACK) {
            c->acks++;
            if (c->ndec) {
                apply_my_initial(c, c->dec_queue[0]);
                memmove(c->dec_queue, c->dec_queue + 1, (size_t)--c->ndec * sizeof c->dec_queue[0]);
            }
            bfmt(&c->conn_ev, "SETTINGS_ACK\n");
            return;
        }
        bfmt(&c->conn_ev, "SETTINGS");
        for (i = 0; i + 6 <= len; i += 6) {
            unsigned id = (unsigned)p[i] << 8 | p[i + 1];
            uint32_t v = h2_u32(p + i + 2);
            bfmt(&c->conn_ev, " %u=%u", id, v);
            if (id < 8) c->srv_settings[id] = v;
            if (id == 4) apply_peer_initial(c, v);
        }
        bfmt(&c->conn_ev, "\n");
        c->srv_settings_seen++;
        if (c->frames > 1) badd(&c->pending, "\0\0\0\4\1\0\0\0\0", 9);    /* ACK */
        return;
    case H2_PING:
        if (!(flags & H2F_ACK)) { violation(c, "the server sent a PING"); return; }
        bfmt(&c->conn_ev, "PING_ACK ");
        bdump(&c->conn_ev, p, len);
        bfmt(&c->conn_ev, "\n");
        return;
    case H2_GOAWAY:
        if (sid || len < 8) violation(c, "bad GOAWAY");
        c->goaway_last = h2_u32(p);
        c->goaway_code = (int)h2_u32(p + 4);
        bfmt(&c->conn_ev, "GOAWAY last=%u code=%u\n", c->goaway_last, h2_u32(p + 4));
        return;
    case H2_WINDOW_UPDATE: {
        uint32_t inc = h2_u32(p) & 0x7FFFFFFF;
        if (len != 4 || !inc) violation(c, "bad WINDOW_UPDATE");
        if (!sid) c->send_conn += inc;
        else S(c, sid)->send_win += inc;
        return;
    }
    default:
        violation(c, "the server sent frame type %u", type);
    }
}

static void parse(client *c, const char *o, size_t n)
{
    size_t off = 0;
    badd(&c->in, o, n);
    while (c->in.n - off >= 9) {
        const uint8_t *h = c->in.p + off;
        uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
        if (c->in.n - off - 9 < len) break;
        on_frame(c, h[3], h[4], h2_u32(h + 5) & 0x7FFFFFFF, h + 9, len);
        off += 9 + len;
    }
    memmove(c->in.p, c->in.p + off, c->in.n - off);
    c->in.n -= off;
}

/* ===================================================================== */
/* Feeding the node                                                       */
/* ===================================================================== */

/* Writes out what connection c has; closes it once it has ended and said
 * all (as main() does). Returns 1 if there were bytes. */
static int drain(client *c)
{
    int got = 0, guard;
    if (c->closed) return 0;
    for (guard = 0; guard < 100000; guard++) {
        size_t len, k;
        const char *o = gs_conn_output(&node, c->ci, &len);
        if (!len) break;
        k = len;
        if (R.mode == M_RANDOM && rnd(4) == 0) k = 1 + rnd(len);
        parse(c, o, k);
        gs_conn_output_done(&node, c->ci, k);
        got = 1;
    }
    if (gs_conn_closing(&node, c->ci)) {
        gs_conn_close(&node, c->ci);
        c->closed = 1;
    }
    return got;
}

static int drain_all(void)
{
    int i, got = 0;
    for (i = 0; i < R.ncl; i++) got |= drain(R.cl[i]);
    return got;
}

static void feed(client *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    unsigned stuck = 0;
    while (off < n && !c->closed) {
        size_t want = n - off, k;
        if (R.mode == M_BYTE) want = 1;
        if (R.mode == M_RANDOM) {
            size_t r = rnd(100), lim = r < 40 ? 8 : r < 80 ? 200 : r < 95 ? 4000 : 40000;
            size_t w = 1 + rnd(lim);
            if (w < want) want = w;
        }
        k = gs_conn_feed(&node, c->ci, (const char *)p + off, want);
        off += k;
        stuck = k ? 0 : stuck + 1;
        if (stuck > 1000) { violation(c, "gs_conn_feed takes nothing"); return; }
        if (R.mode == M_BYTE) {
            gs_pump(&node);
            drain_all();
        } else if (R.mode == M_RANDOM) {
            if (k < want || rnd(2)) {
                if (rnd(2)) gs_pump(&node);
                drain_all();
            }
        } else if (off < n) {
            drain_all();
        }
    }
}

/* Runs the node until nothing moves: streams pumped, output drained, the
 * clients' automatic answers sent. */
static void settle(void)
{
    int round;
    for (round = 0; round < 1000000; round++) {
        int busy = gs_pump(&node), got = drain_all(), sent = 0, i;
        for (i = 0; i < R.ncl; i++) {
            client *c = R.cl[i];
            if (c->pending.n && !c->closed) {
                buf b = c->pending;
                memset(&c->pending, 0, sizeof c->pending);
                feed(c, b.p, b.n);
                bfree(&b);
                sent = 1;
            }
        }
        if (!busy && !got && !sent) return;
    }
    violation(R.cl[0], "the node never settles");
}

/* Sends what c staged (no settling). */
static void push(client *c)
{
    buf b = c->stage;
    memset(&c->stage, 0, sizeof c->stage);
    feed(c, b.p, b.n);
    bfree(&b);
}

/* Sends what c staged and settles. */
static void go(client *c)
{
    push(c);
    settle();
}

/* ===================================================================== */
/* Building client frames                                                 */
/* ===================================================================== */

static void s_frame(client *c, unsigned type, unsigned flags, uint32_t sid, const void *pl, size_t n)
{
    bbyte(&c->stage, (unsigned)(n >> 16));
    bbyte(&c->stage, (unsigned)(n >> 8));
    bbyte(&c->stage, (unsigned)n);
    bbyte(&c->stage, type);
    bbyte(&c->stage, flags);
    bu32(&c->stage, sid);
    badd(&c->stage, pl, n);
}

static void s_settings(client *c, const uint32_t *kv, int pairs)
{
    buf b = { 0 };
    int i;
    for (i = 0; i < pairs; i++) {
        bbyte(&b, kv[2 * i] >> 8);
        bbyte(&b, kv[2 * i]);
        bu32(&b, kv[2 * i + 1]);
        if (kv[2 * i] == 5 && kv[2 * i + 1] > c->my_max_frame && kv[2 * i + 1] <= 16777215)
            c->my_max_frame = kv[2 * i + 1];
        if (kv[2 * i] == 4) {
            int64_t v = kv[2 * i + 1];
            int64_t last = c->ndec ? c->dec_queue[c->ndec - 1] : c->my_initial;
            if (v >= last && !c->ndec) apply_my_initial(c, v);
            else if (c->ndec < 32) c->dec_queue[c->ndec++] = v;
        }
    }
    s_frame(c, H2_SETTINGS, 0, 0, b.p, b.n);
    c->settings_sent++;
    bfree(&b);
}

static void s_settings_ack(client *c) { s_frame(c, H2_SETTINGS, H2F_ACK, 0, NULL, 0); }

static void s_ping(client *c, unsigned flags, const char *payload8)
{
    s_frame(c, H2_PING, flags, 0, payload8, 8);
}

static void s_u32(client *c, unsigned type, uint32_t sid, uint32_t v)
{
    uint8_t d[4];
    h2_put32(d, v);
    s_frame(c, type, 0, sid, d, 4);
}

/* WINDOW_UPDATE: the client grants; counted at once (the server can only
 * use it later). */
static void s_wu(client *c, uint32_t sid, uint32_t inc)
{
    s_u32(c, H2_WINDOW_UPDATE, sid, inc);
    if (!sid) c->recv_conn += inc;
    else S(c, sid)->recv_win += inc;
}

static void queue_wu(client *c, uint32_t sid, uint32_t inc)
{
    uint8_t d[13] = { 0, 0, 4, H2_WINDOW_UPDATE, 0 };
    h2_put32(d + 5, sid);
    h2_put32(d + 9, inc);
    badd(&c->pending, d, 13);
    if (!sid) c->recv_conn += inc;
    else S(c, sid)->recv_win += inc;
}

static void s_rst(client *c, uint32_t sid, uint32_t code) { s_u32(c, H2_RST_STREAM, sid, code); }

static void s_goaway(client *c, uint32_t last, uint32_t code)
{
    uint8_t d[8];
    h2_put32(d, last);
    h2_put32(d + 4, code);
    s_frame(c, H2_GOAWAY, 0, 0, d, 8);
}

static void s_priority(client *c, uint32_t sid, uint32_t dep, unsigned weight)
{
    uint8_t d[5];
    h2_put32(d, dep);
    d[4] = (uint8_t)weight;
    s_frame(c, H2_PRIORITY, 0, sid, d, 5);
}

/* A request header block: :method POST, :scheme, :path, :authority,
 * content-type (ctype NULL: none), te, then the name/value pairs of
 * extra (NULL-terminated). Encoded with the client's indexing encoder. */
static size_t mk_block(client *c, uint8_t *out, const char *path, const char *ctype,
                       const char *const *extra)
{
    const char *f[40];
    size_t nf = 0, i;
    uint8_t *d = out;
    f[nf++] = ":method"; f[nf++] = "POST";
    f[nf++] = ":scheme"; f[nf++] = "http";
    f[nf++] = ":path"; f[nf++] = path;
    f[nf++] = ":authority"; f[nf++] = "localhost:50051";
    if (ctype) { f[nf++] = "content-type"; f[nf++] = ctype; }
    f[nf++] = "te"; f[nf++] = "trailers";
    for (i = 0; extra && extra[i] && nf < 38; i += 2) { f[nf++] = extra[i]; f[nf++] = extra[i + 1]; }
    for (i = 0; i < nf; i += 2)
        d = hp_encode(&c->enc, d, f[i], strlen(f[i]), f[i + 1], strlen(f[i + 1]), HP_INDEX, 1);
    return (size_t)(d - out);
}

static void watch(client *c, uint32_t sid, const gs_msg *w);

/* HEADERS whose block is exactly the name/value pairs f (NULL-ended). */
static void s_fields(client *c, uint32_t sid, unsigned flags, const char *const *f);

static void open_stream(client *c, uint32_t sid)
{
    cstream *st = S(c, sid);
    if (st->opened) return;
    st->opened = 1;
    st->recv_win = c->my_initial;
    st->send_win = c->peer_initial;
}

/* HEADERS (pad < 0: not padded; prio: with priority fields) */
static void s_headers(client *c, uint32_t sid, unsigned flags, const uint8_t *blk, size_t n,
                      int pad, int prio)
{
    buf b = { 0 };
    if (pad >= 0) { flags |= H2F_PADDED; bbyte(&b, (unsigned)pad); }
    if (prio) { flags |= H2F_PRIORITY; bu32(&b, 0x80000000u); bbyte(&b, 200); }
    badd(&b, blk, n);
    if (pad > 0) { uint8_t z[256] = { 0 }; badd(&b, z, (size_t)pad); }
    s_frame(c, H2_HEADERS, flags, sid, b.p, b.n);
    if (sid & 1) open_stream(c, sid);
    bfree(&b);
}

static void s_cont(client *c, uint32_t sid, unsigned flags, const uint8_t *blk, size_t n)
{
    s_frame(c, H2_CONTINUATION, flags, sid, blk, n);
}

static void s_fields(client *c, uint32_t sid, unsigned flags, const char *const *f)
{
    uint8_t blk[8192], *d = blk;
    size_t i;
    for (i = 0; f[i]; i += 2) d = hp_encode(&c->enc, d, f[i], strlen(f[i]), f[i + 1], strlen(f[i + 1]), HP_INDEX, 1);
    s_headers(c, sid, H2F_END_HEADERS | flags, blk, (size_t)(d - blk), -1, 0);
}

/* A call's HEADERS, END_HEADERS, with an optional END_STREAM. */
static void s_call_ct(client *c, uint32_t sid, const char *path, const char *ctype, unsigned flags,
                      const char *const *extra)
{
    uint8_t blk[8192];
    size_t n = mk_block(c, blk, path, ctype, extra);
    s_headers(c, sid, H2F_END_HEADERS | flags, blk, n, -1, 0);
}

static void s_call(client *c, uint32_t sid, const char *path, unsigned flags)
{
    s_call_ct(c, sid, path, "application/grpc", flags, NULL);
}

/* DATA (pad < 0: not padded); counts against the client's send windows. */
static void s_data(client *c, uint32_t sid, unsigned flags, const void *p, size_t n, int pad)
{
    buf b = { 0 };
    if (pad >= 0) { flags |= H2F_PADDED; bbyte(&b, (unsigned)pad); }
    badd(&b, p, n);
    if (pad > 0) { uint8_t z[256] = { 0 }; badd(&b, z, (size_t)pad); }
    s_frame(c, H2_DATA, flags, sid, b.p, b.n);
    c->send_conn -= (int64_t)b.n;
    if (sid) S(c, sid)->send_win -= (int64_t)b.n;
    bfree(&b);
}

/* gRPC Length-Prefixed-Message. */
static void lpm(buf *b, unsigned flag, const void *p, size_t n)
{
    bbyte(b, flag);
    bu32(b, (uint32_t)n);
    badd(b, p, n);
}

static gs_msg m_chat(const char *text, size_t n)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &chat_message;
    m.v[0].s.p = text;
    m.v[0].s.n = n;
    return m;
}

static gs_msg m_entry(const char *level, const char *msg)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &log_entry;
    m.v[0].s.p = level, m.v[0].s.n = strlen(level);
    m.v[1].s.p = msg, m.v[1].s.n = strlen(msg);
    return m;
}

static gs_msg m_watch(const char *filter, uint64_t limit, int follow)
{
    gs_msg m;
    memset(&m, 0, sizeof m);
    m.desc = &watch_request;
    m.v[0].s.p = filter, m.v[0].s.n = strlen(filter);
    m.v[1].u = limit;
    m.v[2].b = follow;
    return m;
}

/* A protobuf message framed as a Length-Prefixed-Message into b. */
static void lpm_pb(buf *b, const gs_msg *m)
{
    size_t room = 64, i;
    char *tmp, *end;
    for (i = 0; i < m->desc->nfields; i++) room += m->desc->fields[i].type == GS_STRING ? m->v[i].s.n + 16 : 16;
    tmp = malloc(room);
    if (!tmp) exit(2);
    end = pb_put_msg(tmp, m);
    lpm(b, 0, tmp, (size_t)(end - tmp));
    free(tmp);
}

/* One DATA frame holding one protobuf message. */
static void s_msg(client *c, uint32_t sid, unsigned flags, const gs_msg *m)
{
    buf b = { 0 };
    lpm_pb(&b, m);
    s_data(c, sid, flags, b.p, b.n, -1);
    bfree(&b);
}

/* Sends p as DATA on sid within the windows the server granted, in
 * frames of at most 16384 bytes, waiting (settling) for WINDOW_UPDATEs
 * when they run out. Returns 0 if it had to wait and none came. */
static int send_flow(client *c, uint32_t sid, const uint8_t *p, size_t n, int end)
{
    size_t off = 0;
    int waits = 0;
    for (;;) {
        cstream *st = S(c, sid);
        int64_t w = c->send_conn < st->send_win ? c->send_conn : st->send_win;
        size_t k = n - off;
        if (w > H2_FRAME) w = H2_FRAME;
        if (w < 0) w = 0;
        if ((int64_t)k > w) k = (size_t)w;
        if (k == 0 && off < n) {
            if (++waits > 3) return 0;
            settle();
            continue;
        }
        waits = 0;
        s_data(c, sid, end && off + k == n ? H2F_END_STREAM : 0, p + off, k, -1);
        push(c);
        off += k;
        if (off == n) break;
    }
    settle();
    return 1;
}

/* ===================================================================== */
/* Clients and runs                                                       */
/* ===================================================================== */

static client *cl_new(void)
{
    client *c = calloc(1, sizeof *c);
    size_t i;
    if (!c || R.ncl == MAXCL) { fputs("too many clients\n", stderr); exit(2); }
    c->ci = gs_conn_open(&node);
    if (c->ci < 0) { fputs("gs_conn_open failed\n", stderr); exit(2); }
    hp_enc_init(&c->enc, 4096);
    hp_dec_init(&c->dec);
    for (i = 0; i < MAX_SID / 2; i++) {
        c->st[i].http_status = c->st[i].grpc_status = c->st[i].rst = c->st[i].rst_after_end = -1;
    }
    c->recv_conn = c->send_conn = H2_DEFAULT_WINDOW;
    c->my_initial = c->peer_initial = H2_DEFAULT_WINDOW;
    c->my_max_frame = H2_FRAME;
    c->goaway_code = -1;
    c->auto_wu = 1;
    R.cl[R.ncl++] = c;
    return c;
}

/* A connection: preface, our SETTINGS (pairs of id, value), the ACK of
 * the server's SETTINGS. Not sent yet. */
static client *cl_open_with(const uint32_t *kv, int pairs)
{
    client *c = cl_new();
    badd(&c->stage, h2_preface, sizeof h2_preface - 1);
    s_settings(c, kv, pairs);
    s_settings_ack(c);
    return c;
}

static client *cl_open(void) { return cl_open_with(NULL, 0); }

static void cl_free(client *c)
{
    size_t i, k;
    for (i = 0; i < MAX_SID / 2; i++) {
        cstream *st = &c->st[i];
        bfree(&st->ev), bfree(&st->pend), bfree(&st->body), bfree(&st->grpc_message);
        for (k = 0; k < st->nmsgs; k++) bfree(&st->msgs[k]);
        free(st->msgs);
    }
    bfree(&c->in), bfree(&c->stage), bfree(&c->pending), bfree(&c->hb);
    bfree(&c->conn_ev), bfree(&c->viol);
    free(c);
}

/* Counts a free list. */
static int free_slots(void)
{
    int n = 0, i = node.free_head;
    while (i >= 0 && n <= GS_MAX_STREAMS) n++, i = node.streams[i].next_free;
    return n;
}

/* The shared message buffer pool, where the build has one (GS_H2_BUFS);
 * builds with a pair of buffers per slot have nothing to count. */
#ifdef GS_H2_BUFS
#define POOL GS_H2_BUFS
static int free_bufs(void)
{
    int n = 0, i = node.buf_free;
    while (i >= 0 && n <= GS_H2_BUFS) n++, i = node.buf_next[i];
    return n;
}
#else
#define POOL 0
static int free_bufs(void) { return 0; }
#endif
/* more calls than a pool would have buffers */
#define PIPE (POOL ? POOL : 32)

/* The end of a run: every connection closed, every slot and buffer free. */
static void finish(buf *transcript)
{
    int i;
    size_t k;
    settle();
    for (i = 0; i < R.ncl; i++) {
        client *c = R.cl[i];
        expect(c->viol.n == 0, "conn %d: the server's frames are well-formed and within the windows%s%s", i,
               c->viol.n ? ": " : "", bstr(&c->viol));
        expect(c->acks == c->settings_sent, "conn %d: every SETTINGS acknowledged (%u of %u)", i, c->acks,
               c->settings_sent);
    }
    for (i = 0; i < R.ncl; i++)
        if (!R.cl[i]->closed) gs_conn_close(&node, R.cl[i]->ci);
    expect(free_slots() == GS_MAX_STREAMS && free_bufs() == POOL && !node.urgent_len &&
           !node.runq_len && !node.deadlines,
           "after gs_conn_close every stream slot (%d/%d) and buffer (%d/%d) is free, no queue", free_slots(),
           GS_MAX_STREAMS, free_bufs(), POOL);
    for (i = 0; i < R.ncl; i++) {
        client *c = R.cl[i];
        bfmt(transcript, "== conn %d\n%s", i, bstr(&c->conn_ev));
        for (k = 0; k < MAX_SID / 2; k++)
            if (c->st[k].ev.n) bfmt(transcript, "-- stream %zu\n%s", 2 * k + 1, bstr(&c->st[k].ev));
        cl_free(c);
    }
    R.ncl = 0;
}

/* Test/Sum, client streaming: the seqs of the messages are added up and
 * sent back when the client half-closes (a seq of 13 fails the call). */
static int sum_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    size_t len;
    const char *v;
    (void)req; (void)why;
    *(uint64_t *)gs_stream_state(s) = 0;
    /* metadata: x-echo back as initial, x-echo-bin as trailing */
    if ((v = gs_metadata(n, s, "x-echo", &len)) != NULL) gs_set_header(n, s, "x-echo", v, len);
    if ((v = gs_metadata(n, s, "x-echo-bin", &len)) != NULL) gs_set_trailer(n, s, "x-echo-bin", v, len);
    if (gs_set_header(n, s, "grpc-status", "0", 1) != -1 || gs_set_header(n, s, "X-Up", "", 0) != -1 ||
        gs_set_trailer(n, s, "content-type", "x", 1) != -1 || gs_metadata(n, s, "te", &len))
        abort();                    /* reserved and invalid keys are refused */
    return GS_OK;
}

static int sum_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out, const char **why)
{
    (void)n; (void)out;
    if (in->v[0].u == 13) {
        *why = "unlucky \xe2\x9c\x97";
        return GS_FAILED_PRECONDITION;
    }
    *(uint64_t *)gs_stream_state(s) += in->v[0].u;
    return GS_AGAIN;
}

static int sum_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    (void)why;
    out->v[0].u = *(uint64_t *)gs_stream_state(s);
    if (gs_set_trailer(n, s, "x-sum-next", "1", 1) != 0) abort();   /* still allowed */
    return GS_SEND;
}

static const gs_method sum_method = {
    "Test", "Sum", GS_CLIENT_STREAMING, &append_response, &append_response,
    NULL, sum_start, sum_next, sum_recv, NULL
};

typedef void (*scenario_fn)(void);

static void run_once(const char *name, scenario_fn fn, int mode, uint64_t seed, buf *transcript)
{
    gs_init(&node);
    if (gs_register(&node, &sum_method) != 0) abort();
    R.mode = mode;
    R.scenario = name;
    R.nfail = 0;
    R.first_fail[0] = 0;
    rng_state = seed * 0x9E3779B97F4A7C15u + 12345;
    fn();
    finish(transcript);
}

static void run_modes(const char *name, scenario_fn fn, int randoms)
{
    buf base = { 0 }, t = { 0 };
    char line[900];
    int i, bad = 0, badt = 0;
    char first[700] = "";
    run_once(name, fn, M_WHOLE, 1, &base);
    if (getenv("H2_TRANSCRIPT")) printf("%s", bstr(&base));
    run_once(name, fn, M_BYTE, 1, &t);
    snprintf(line, sizeof line, "%s [byte]: same checks pass%s%s", name, R.nfail ? ": " : "", R.first_fail);
    check(R.nfail == 0, line);
    snprintf(line, sizeof line, "%s [byte]: same transcript as whole", name);
    check(strcmp(bstr(&base), bstr(&t)) == 0, line);
    if (strcmp(bstr(&base), bstr(&t)) != 0)
        printf("---- whole\n%s---- byte\n%s----\n", bstr(&base), bstr(&t));
    for (i = 0; i < randoms; i++) {
        bclear(&t);
        run_once(name, fn, M_RANDOM, (uint64_t)i + 2, &t);
        if (R.nfail && !bad++) snprintf(first, sizeof first, "seed %d: %s", i + 2, R.first_fail);
        if (strcmp(bstr(&base), bstr(&t)) != 0 && !badt++)
            printf("---- whole\n%s---- random seed %d\n%s----\n", bstr(&base), i + 2, bstr(&t));
    }
    if (randoms) {
        snprintf(line, sizeof line, "%s [random x%d]: same checks pass%s%s", name, randoms, bad ? ": " : "", first);
        check(!bad, line);
        snprintf(line, sizeof line, "%s [random x%d]: same transcript as whole", name, randoms);
        check(!badt, line);
    }
    bfree(&base);
    bfree(&t);
}

/* Each scenario runs in a child process, so that a crash (or a sanitizer
 * report) is one FAIL line and the other scenarios still run. */
static void run(const char *name, scenario_fn fn, int randoms)
{
    int fd[2], status = 0;
    pid_t pid;
    if (pipe(fd) != 0) { perror("pipe"); exit(2); }
    fflush(stdout);
    pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        int counts[2];
        close(fd[0]);
        passes = failures = 0;
        run_modes(name, fn, randoms);
        counts[0] = passes, counts[1] = failures;
        if (write(fd[1], counts, sizeof counts) != (ssize_t)sizeof counts) _exit(3);
        fflush(stdout);
        _exit(0);
    }
    close(fd[1]);
    {
        int counts[2];
        ssize_t r = read(fd[0], counts, sizeof counts);
        close(fd[0]);
        waitpid(pid, &status, 0);
        if (r == (ssize_t)sizeof counts && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passes += counts[0];
            failures += counts[1];
        } else {
            char line[300];
            snprintf(line, sizeof line, "%s: the scenario ran to its end (%s %d)", name,
                     WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            check(0, line);
        }
    }
}

/* ===================================================================== */
/* Reading results                                                        */
/* ===================================================================== */

/* Message i of a stream, decoded by d; 0 if it is not there or bad. */
static int msg_of(client *c, uint32_t sid, size_t i, const gs_desc *d, gs_msg *m)
{
    cstream *st = S(c, sid);
    const char *why = NULL;
    char why_buf[128];
    if (i >= st->nmsgs) return 0;
    return pb_decode(d, (const char *)st->msgs[i].p, st->msgs[i].n, m, &why, why_buf, sizeof why_buf) == GS_OK;
}

/* The test's own reading of a one-string-field reply (ChatMessage):
 * field 1, wire type 2, the only field; any length. */
static int chat_text(client *c, uint32_t sid, size_t i, const uint8_t **p, size_t *n)
{
    cstream *st = S(c, sid);
    const uint8_t *q, *end;
    uint64_t len = 0;
    unsigned shift = 0;
    if (i >= st->nmsgs) return 0;
    q = st->msgs[i].p, end = q + st->msgs[i].n;
    if (q == end) { *p = q, *n = 0; return 1; }
    if (*q++ != 0x0A) return 0;
    while (q < end && shift < 64) {
        len |= (uint64_t)(*q & 0x7F) << shift;
        shift += 7;
        if (!(*q++ & 0x80)) break;
    }
    if ((uint64_t)(end - q) != len) return 0;
    *p = q, *n = (size_t)len;
    return 1;
}

static int str_is(gs_str s, const char *lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }

/* The chat texts of a stream are exactly "echo: " + want[i]. */
static int echoes_are(client *c, uint32_t sid, const char *const *want, size_t n)
{
    size_t i;
    if (S(c, sid)->nmsgs != n) return 0;
    for (i = 0; i < n; i++) {
        gs_msg m;
        char tmp[256];
        snprintf(tmp, sizeof tmp, "echo: %s", want[i]);
        if (!msg_of(c, sid, i, &chat_message, &m) || !str_is(m.v[0].s, tmp)) return 0;
    }
    return 1;
}

/* The log entries of a stream are sample_log[idx[0]], ... */
static int entries_are(client *c, uint32_t sid, const int *idx, size_t n)
{
    size_t i;
    if (S(c, sid)->nmsgs != n) return 0;
    for (i = 0; i < n; i++) {
        gs_msg m;
        if (!msg_of(c, sid, i, &log_entry, &m) || !str_is(m.v[0].s, sample_log[idx[i]][0]) ||
            !str_is(m.v[1].s, sample_log[idx[i]][1]))
            return 0;
    }
    return 1;
}

static const int ALL8[] = { 0, 1, 2, 3, 4, 5, 6, 7 };

static uint64_t seq_of(client *c, uint32_t sid)
{
    gs_msg m;
    if (S(c, sid)->nmsgs != 1 || !msg_of(c, sid, 0, &append_response, &m)) return 0;
    return m.v[0].u;
}

/* A gRPC response: headers 200 application/grpc, then `nmsgs` messages
 * and trailers with `status` (and message `why` unless NULL), or a
 * Trailers-Only answer when nmsgs is 0 and tonly. */
static int call_ended(client *c, uint32_t sid, int status, const char *why)
{
    cstream *st = S(c, sid);
    return st->end_seen && st->rst < 0 && st->http_status == 200 && st->grpc_status == status &&
           strncmp(st->content_type, "application/grpc", 16) == 0 &&
           (!why || strcmp(bstr(&st->grpc_message), why) == 0);
}

static int conn_error(client *c, int code) { return c->goaway_code == code && c->closed; }

/* ===================================================================== */
/* 1. Frame parsing                                                       */
/* ===================================================================== */

static void sc_server_settings(void)
{
    client *c = cl_open();
    go(c);
    expect(c->srv_settings_seen == 1, "the server sends SETTINGS once, first");
    expect(c->srv_settings[3] == H2_MAX_CONCURRENT && c->srv_settings[4] == 65535 &&
           c->srv_settings[5] == 16384 && c->srv_settings[6] == GS_H2_HEADER_LIST && c->srv_settings[2] == 0,
           "SETTINGS: MAX_CONCURRENT_STREAMS %u, INITIAL_WINDOW_SIZE 65535, MAX_FRAME_SIZE 16384, "
           "MAX_HEADER_LIST_SIZE %u, ENABLE_PUSH 0", H2_MAX_CONCURRENT, GS_H2_HEADER_LIST);
    expect(c->send_conn == H2_CONN_WINDOW, "the connection window is raised to 1 MiB (%lld)",
           (long long)c->send_conn);
    expect(c->acks == 1 && c->goaway_code < 0 && !c->closed, "our SETTINGS acknowledged, no GOAWAY");
}

static void sc_unary_append(void)
{
    client *c = cl_open();
    gs_msg e = m_entry("INFO", "hello from h2");
    s_call(c, 1, "/LogWatcher/Append", 0);
    s_msg(c, 1, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && !S(c, 1)->trailers_only, "Append: 200, headers, message, OK trailers");
    expect(seq_of(c, 1) == 9, "Append: seq 9 (after the 8 built-in entries)");
    expect(S(c, 1)->rst_after_end < 0, "Append: no RST_STREAM (the client had half-closed)");
    /* the entry is in the log: a WatchLogs sees 9 entries */
    {
        gs_msg w = m_watch("", 0, 0), m;
        s_call(c, 3, "/LogWatcher/WatchLogs", 0);
        s_msg(c, 3, H2F_END_STREAM, &w);
        go(c);
        expect(call_ended(c, 3, 0, NULL) && S(c, 3)->nmsgs == 9 && msg_of(c, 3, 8, &log_entry, &m) &&
               str_is(m.v[1].s, "hello from h2"), "WatchLogs then sees the appended entry 9th");
    }
}

static void sc_watch_all(void)
{
    client *c = cl_open();
    gs_msg w = m_watch("", 0, 0);
    s_call(c, 1, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 1, H2F_END_STREAM, &w);
    go(c);
    expect(call_ended(c, 1, 0, NULL), "WatchLogs: 200 ... OK trailers");
    expect(entries_are(c, 1, ALL8, 8), "WatchLogs: the 8 built-in entries, in order");
    /* an empty request message (0 bytes: all defaults), END_STREAM in
     * its own empty DATA frame */
    s_call(c, 3, "/LogWatcher/WatchLogs", 0);
    s_data(c, 3, 0, "\0\0\0\0\0", 5, -1);
    s_data(c, 3, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(call_ended(c, 3, 0, NULL) && entries_are(c, 3, ALL8, 8),
           "WatchLogs: a 0-byte request, END_STREAM in an empty DATA frame: the same 8");
}

static void sc_bidi(void)
{
    static const char *const want[] = { "a", "bb", "ccc", "dddd" };
    client *c = cl_open();
    gs_msg m = m_chat("a", 1);
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_msg(c, 1, 0, &m);
    go(c);
    expect(S(c, 1)->headers == 1 && echoes_are(c, 1, want, 1) && !S(c, 1)->end_seen,
           "BiDiChat: headers and the first echo before the client half-closes");
    m = m_chat("bb", 2);
    s_msg(c, 1, 0, &m);
    m = m_chat("ccc", 3);
    s_msg(c, 1, 0, &m);
    go(c);
    expect(echoes_are(c, 1, want, 3) && !S(c, 1)->end_seen, "BiDiChat: two more echoes, in order");
    m = m_chat("dddd", 4);
    s_msg(c, 1, 0, &m);
    s_data(c, 1, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(echoes_are(c, 1, want, 4) && call_ended(c, 1, 0, NULL) && !S(c, 1)->trailers_only,
           "BiDiChat: half-close (empty DATA END_STREAM) -> OK trailers after the 4th echo");
    expect(S(c, 1)->rst_after_end < 0, "BiDiChat: no RST_STREAM after a normal end");
    /* half-close before any message: Trailers-Only OK */
    s_call(c, 3, "/Chat/BiDiChat", H2F_END_STREAM);
    go(c);
    expect(call_ended(c, 3, 0, NULL) && S(c, 3)->trailers_only && S(c, 3)->nmsgs == 0,
           "BiDiChat: HEADERS with END_STREAM -> Trailers-Only OK");
    /* trailers from the client (HEADERS END_STREAM, no pseudo-headers) half-close too */
    s_call(c, 5, "/Chat/BiDiChat", 0);
    m = m_chat("a", 1);
    s_msg(c, 5, 0, &m);
    {
        uint8_t blk[64], *d = blk;
        d = hp_encode(&c->enc, d, "x-trailer", 9, "1", 1, HP_INDEX, 1);
        s_headers(c, 5, H2F_END_HEADERS | H2F_END_STREAM, blk, (size_t)(d - blk), -1, 0);
    }
    go(c);
    expect(echoes_are(c, 5, want, 1) && call_ended(c, 5, 0, NULL),
           "BiDiChat: client trailers (HEADERS END_STREAM) half-close -> OK");
}

static gs_msg m_seq(uint64_t v)
{
    gs_msg m;
    m.desc = &append_response;
    m.v[0].u = v;
    return m;
}

static void sc_client_stream(void)
{
    client *c = cl_open();
    gs_msg m = m_seq(2);
    s_call(c, 1, "/Test/Sum", 0);
    s_msg(c, 1, 0, &m);
    m = m_seq(40);
    s_msg(c, 1, 0, &m);
    go(c);
    expect(S(c, 1)->nmsgs == 0 && !S(c, 1)->end_seen, "Sum: nothing is sent while the client streams");
    s_data(c, 1, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && !S(c, 1)->trailers_only && seq_of(c, 1) == 42,
           "Sum: half-close -> headers, the one response (42), OK trailers");
    /* the last message and END_STREAM in one frame; a message split over frames */
    {
        buf b = { 0 };
        m = m_seq(1000);
        lpm_pb(&b, &m);
        s_call(c, 3, "/Test/Sum", 0);
        s_data(c, 3, 0, b.p, 3, -1);
        s_data(c, 3, 0, b.p + 3, b.n - 3, -1);
        m = m_seq(1);
        bclear(&b);
        lpm_pb(&b, &m);
        s_data(c, 3, H2F_END_STREAM, b.p, b.n, -1);
        bfree(&b);
    }
    go(c);
    expect(call_ended(c, 3, 0, NULL) && seq_of(c, 3) == 1001,
           "Sum: a message split over DATA frames, the last one with END_STREAM -> 1001");
    s_call(c, 5, "/Test/Sum", H2F_END_STREAM);
    go(c);
    expect(call_ended(c, 5, 0, NULL) && S(c, 5)->nmsgs == 1 && seq_of(c, 5) == 0,
           "Sum: HEADERS with END_STREAM -> the response 0 (no messages), OK");
    s_call(c, 7, "/Test/Sum", 0);
    m = m_seq(13);
    s_msg(c, 7, 0, &m);
    go(c);
    expect(call_ended(c, 7, GS_FAILED_PRECONDITION, "unlucky \xe2\x9c\x97") && S(c, 7)->nmsgs == 0,
           "Sum: recv fails -> FAILED_PRECONDITION and its message (UTF-8), before the half-close");
}

static void sc_metadata(void)
{
    static const char *const echo[] = { "x-echo", "hi there", "x-echo-bin", "q6ur", "user-agent", "t/1", NULL };
    static const char *const unpadded[] = { "x-echo-bin", "Zm8", NULL };
    static const char *const bad[] = { "x-echo-bin", "q6u!", NULL };
    client *c = cl_open();
    gs_msg m = m_seq(5);
    const char *ev;
    s_call_ct(c, 1, "/Test/Sum", "application/grpc", 0, echo);
    s_msg(c, 1, H2F_END_STREAM, &m);
    go(c);
    ev = bstr(&S(c, 1)->ev);
    expect(call_ended(c, 1, 0, NULL) && seq_of(c, 1) == 5 && strstr(ev, "HEADERS :status=200") &&
           strstr(ev, "x-echo=hi there\n") && strstr(ev, "TRAILERS grpc-status=0, x-echo-bin=q6ur, x-sum-next=1\n"),
           "metadata: x-echo back as initial metadata, x-echo-bin (ab ab ab) as trailing, re-encoded");
    s_call_ct(c, 3, "/Test/Sum", "application/grpc", H2F_END_STREAM, unpadded);
    go(c);
    expect(call_ended(c, 3, 0, NULL) && strstr(bstr(&S(c, 3)->ev), "x-echo-bin=Zm8=,") != NULL,
           "metadata: an unpadded -bin value is read, and written padded");
    s_call_ct(c, 5, "/Test/Sum", "application/grpc", H2F_END_STREAM, bad);
    go(c);
    expect(call_ended(c, 5, GS_INTERNAL, "malformed -bin metadata") && S(c, 5)->trailers_only,
           "metadata: a -bin value that is not base64 -> Trailers-Only INTERNAL");
}

static void sc_unknown_method(void)
{
    client *c = cl_open();
    static const char *const paths[] = { "/Nope/Nothing", "/LogWatcher/Nope", "/Chat", "/", "Chat/BiDiChat" };
    uint32_t sid = 1;
    size_t i;
    for (i = 0; i < LEN(paths); i++, sid += 2) {
        s_call(c, sid, paths[i], H2F_END_STREAM);
        go(c);
        expect(call_ended(c, sid, GS_UNIMPLEMENTED, "unknown method") && S(c, sid)->trailers_only,
               "path %s: Trailers-Only UNIMPLEMENTED \"unknown method\"", paths[i]);
    }
    /* without END_STREAM: Trailers-Only, then RST_STREAM NO_ERROR; the
     * request's DATA that follows is refused, and the connection lives */
    {
        gs_msg e = m_entry("INFO", "x");
        s_call(c, sid, "/Nope/Nothing", 0);
        go(c);
        expect(call_ended(c, sid, GS_UNIMPLEMENTED, "unknown method") && S(c, sid)->rst_after_end == H2E_NO_ERROR,
               "unknown method, request still open: Trailers-Only then RST_STREAM NO_ERROR");
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(!c->closed && (S(c, sid)->rst_after_mask & 1u << H2E_STREAM_CLOSED),
               "its DATA afterwards: RST_STREAM STREAM_CLOSED, not a connection error");
        sid += 2;
        s_call(c, sid, "/LogWatcher/Append", 0);
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9, "the connection still serves calls");
    }
}

static void sc_http_415(void)
{
    client *c = cl_open();
    static const char body[] = "grpcstream: content-type must be application/grpc\n";
    static const char *const types[] = { "text/plain", "application/json", "application/grpc-web",
                                         "application/grpc+thrift", NULL };
    uint32_t sid = 1;
    size_t i;
    for (i = 0; i < LEN(types); i++, sid += 2) {
        gs_msg e = m_entry("INFO", "x");
        cstream *st = S(c, sid);
        s_call_ct(c, sid, "/LogWatcher/Append", types[i], 0, NULL);
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(st->http_status == 415 && st->grpc_status < 0 && st->end_seen && st->rst < 0 &&
               strcmp(st->content_type, "text/plain") == 0 && st->body.n == sizeof body - 1 &&
               memcmp(st->body.p, body, sizeof body - 1) == 0,
               "content-type %s: HTTP 415, text/plain body, no grpc-status", types[i] ? types[i] : "(none)");
    }
    /* the answer waits for the request's END_STREAM */
    {
        gs_msg e = m_entry("INFO", "x");
        cstream *st = S(c, sid);
        s_call_ct(c, sid, "/LogWatcher/Append", "text/html", 0, NULL);
        go(c);
        expect(st->headers == 0, "415: nothing before the request's END_STREAM");
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(st->http_status == 415 && st->end_seen, "415: the answer after END_STREAM");
    }
    /* a gRPC content-type with parameters is fine */
    sid += 2;
    {
        gs_msg e = m_entry("INFO", "x");
        s_call_ct(c, sid, "/LogWatcher/Append", "application/grpc+proto; charset=utf-8", 0, NULL);
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9,
               "content-type application/grpc+proto; charset=utf-8 is served");
    }
}

static void sc_padding(void)
{
    client *c = cl_open();
    uint8_t blk[1024];
    size_t n;
    buf b = { 0 };
    gs_msg e = m_entry("WARN", "padded");
    static const char *const want[] = { "p1", "p2", "", "p4" };
    /* padded HEADERS, padded DATA */
    n = mk_block(c, blk, "/LogWatcher/Append", "application/grpc", NULL);
    s_headers(c, 1, H2F_END_HEADERS, blk, n, 7, 0);
    lpm_pb(&b, &e);
    s_data(c, 1, H2F_END_STREAM, b.p, b.n, 200);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && seq_of(c, 1) == 9, "padded HEADERS (7) and padded DATA (200): Append served");
    /* HEADERS padded with priority fields; DATA with pad 0 and 255; DATA
     * all padding (pad length = payload - 1) */
    n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_headers(c, 3, H2F_END_HEADERS, blk, n, 255, 1);
    bclear(&b);
    { gs_msg m = m_chat("p1", 2); lpm_pb(&b, &m); }
    s_data(c, 3, 0, b.p, b.n, 0);
    bclear(&b);
    { gs_msg m = m_chat("p2", 2); lpm_pb(&b, &m); }
    s_data(c, 3, 0, b.p, b.n, 255);
    s_data(c, 3, 0, NULL, 0, 77);
    s_data(c, 3, 0, NULL, 0, 0);
    bclear(&b);
    { gs_msg m = m_chat("", 0); lpm_pb(&b, &m); }
    { gs_msg m = m_chat("p4", 2); lpm_pb(&b, &m); }
    s_data(c, 3, H2F_END_STREAM, b.p, b.n, 3);
    go(c);
    expect(echoes_are(c, 3, want, 4) && call_ended(c, 3, 0, NULL),
           "padded HEADERS with priority; DATA padded 0, 255, all padding: every echo, OK");
    /* HEADERS with priority, not padded */
    n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_headers(c, 5, H2F_END_HEADERS | H2F_END_STREAM, blk, n, -1, 1);
    go(c);
    expect(call_ended(c, 5, 0, NULL), "HEADERS with priority fields: served");
    expect(!c->closed, "the connection lives");
    bfree(&b);
}

static void sc_pad_too_long(void)
{
    client *c = cl_open();
    uint8_t d[10] = { 10 };         /* pad length 10 in a payload of 10 */
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_frame(c, H2_DATA, H2F_PADDED, 1, d, 10);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 1, "DATA padding = payload length: GOAWAY PROTOCOL_ERROR");
}

static void sc_continuation(void)
{
    client *c = cl_open();
    uint8_t blk[1024];
    size_t n, k, i;
    uint32_t sid = 1;
    gs_msg e = m_entry("INFO", "cont");
    /* one byte per frame: HEADERS of 1 byte, then CONTINUATIONs */
    n = mk_block(c, blk, "/LogWatcher/Append", "application/grpc", NULL);
    s_headers(c, sid, 0, blk, 1, -1, 0);
    for (i = 1; i < n; i++) s_cont(c, sid, i + 1 == n ? H2F_END_HEADERS : 0, blk + i, 1);
    s_msg(c, sid, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9, "header block in 1-byte HEADERS + CONTINUATION frames");
    /* split in two at every offset, an empty CONTINUATION between; each
     * block carries a header of its own (indexed: the later blocks refer
     * to the dynamic table too) */
    {
        uint32_t first = sid + 2;
        char val[64];
        const char *extra[] = { "x-call", val, NULL };
        size_t max = 0;
        for (k = 0, sid += 2; k <= max || k == 0; k++, sid += 2) {
            size_t cut;
            snprintf(val, sizeof val, "call number %zu of the split-at-every-offset test", k);
            n = mk_block(c, blk, "/LogWatcher/Append", "application/grpc", extra);
            if (!max) max = n;
            cut = k < n ? k : n;
            s_headers(c, sid, 0, blk, cut, k % 3 == 0 ? 2 : -1, 0);
            s_cont(c, sid, 0, NULL, 0);
            s_cont(c, sid, H2F_END_HEADERS, blk + cut, n - cut);
            s_msg(c, sid, H2F_END_STREAM, &e);
            if (k % 16 == 15) go(c);
        }
        go(c);
        {
            int ok = 1;
            uint32_t s;
            for (s = first; s < sid; s += 2) ok &= call_ended(c, s, 0, NULL) && seq_of(c, s) == 10 + (s - first) / 2;
            expect(ok && max > 40, "a %zu-byte header block split at every offset (empty CONTINUATIONs between): "
                   "%u calls served", max, (sid - first) / 2);
        }
    }
    /* a long block: 3 headers of 3000 bytes over HEADERS + 2 CONTINUATIONs */
    {
        static char big[3001];
        const char *extra[] = { "x-big1", big, "x-big2", big, "x-big3", big, NULL };
        uint8_t blk2[16384];
        uint64_t before = S(c, sid - 2)->nmsgs ? seq_of(c, sid - 2) : 0;
        memset(big, '#', sizeof big - 1);      /* longer Huffman coded: sent raw */
        n = mk_block(c, blk2, "/LogWatcher/Append", "application/grpc", extra);
        s_headers(c, sid, 0, blk2, n / 3, -1, 0);
        s_cont(c, sid, 0, blk2 + n / 3, n / 3);
        s_cont(c, sid, H2F_END_HEADERS, blk2 + 2 * (n / 3), n - 2 * (n / 3));
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(n > 8000 && call_ended(c, sid, 0, NULL) && seq_of(c, sid) == before + 1,
               "a %zu-byte header block over HEADERS + 2 CONTINUATIONs: served", n);
    }
    /* a header value longer than GS_MAX_HEADER: HTTP 431 */
    {
        static char big[GS_MAX_HEADER + 2];
        const char *extra[] = { "x-huge", big, NULL };
        uint8_t blk2[GS_MAX_HEADER + 1024];
        sid += 2;
        memset(big, 'h', sizeof big - 1);
        n = mk_block(c, blk2, "/LogWatcher/Append", "application/grpc", extra);
        s_headers(c, sid, 0, blk2, n / 2, -1, 0);
        s_cont(c, sid, H2F_END_HEADERS, blk2 + n / 2, n - n / 2);
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(S(c, sid)->http_status == 431 && S(c, sid)->end_seen && !c->closed,
               "a %d-byte header value (over GS_MAX_HEADER): HTTP 431, the connection lives", GS_MAX_HEADER + 1);
    }
}

static void sc_ping_settings_unknown(void)
{
    client *c = cl_open();
    static const uint32_t set1[] = { 1, 4096, 3, 50, 0x99, 7 }, set2[] = { 5, 20000 };
    s_ping(c, 0, "12345678");
    s_ping(c, H2F_ACK, "ignoreme");      /* an ACK is not answered */
    s_settings(c, NULL, 0);
    s_settings(c, set1, 3);              /* unknown id 0x99 ignored */
    s_settings(c, set2, 1);
    s_frame(c, 0x42, 0xFF, 0, "unknown frame type", 18);
    s_frame(c, 0x42, 0, 7, "on an idle stream", 17);
    s_frame(c, 0xFA, 0, 0, NULL, 0);
    s_priority(c, 9, 0, 16);             /* PRIORITY on an idle stream: ignored */
    s_ping(c, 0, "\x00\xff\x01\xfe\x02\xfd\x03\xfc");
    go(c);
    expect(strstr(bstr(&c->conn_ev), "SETTINGS_ACK\nPING_ACK len=8 3132333435363738\nSETTINGS_ACK\nSETTINGS_ACK\n"
                  "SETTINGS_ACK\nPING_ACK len=8 00ff01fe02fd03fc\n") != NULL &&
           !strstr(bstr(&c->conn_ev), "PING_ACK len=8 69676e6f72656d65"),
           "PING answered by PING ACK with the same payload, in order; a PING ACK is not answered");
    expect(c->acks == 4, "4 SETTINGS (1 empty, 1 with an unknown id) -> 4 ACKs (%u)", c->acks);
    expect(!c->closed && c->goaway_code < 0, "unknown frame types (stream 0, idle stream 7), PRIORITY on idle: ignored");
    {
        gs_msg e = m_entry("INFO", "after unknown frames");
        s_call(c, 1, "/LogWatcher/Append", 0);
        s_frame(c, 0x42, 0, 1, "between HEADERS and DATA", 24);
        s_priority(c, 1, 0, 200);
        s_msg(c, 1, H2F_END_STREAM, &e);
        go(c);
        expect(call_ended(c, 1, 0, NULL) && seq_of(c, 1) == 9,
               "an unknown frame and PRIORITY on an open stream: the call is served");
    }
    /* the client's GOAWAY: the connection goes on serving (server keeps it) */
    s_goaway(c, 0, 0);
    go(c);
    expect(!c->closed, "a client GOAWAY NO_ERROR is not an error");
}

static void oversize(unsigned type, uint32_t sid, int open_first)
{
    client *c = cl_open();
    static uint8_t big[16385];
    if (open_first) s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_frame(c, type, 0, sid, big, sizeof big);
    go(c);
    expect(conn_error(c, H2E_FRAME_SIZE), "a %zu-byte frame of type %u: GOAWAY FRAME_SIZE_ERROR", sizeof big, type);
}
static void sc_oversize_data(void) { oversize(H2_DATA, 1, 1); }
static void sc_oversize_headers(void) { oversize(H2_HEADERS, 1, 0); }
static void sc_oversize_unknown(void) { oversize(0x42, 0, 0); }
static void sc_oversize_settings(void) { oversize(H2_SETTINGS, 0, 0); }

static void sc_frame_size_fields(void)
{
    /* fixed-size frames with the wrong size */
    client *c = cl_open();
    s_frame(c, H2_PING, 0, 0, "1234567", 7);
    go(c);
    expect(conn_error(c, H2E_FRAME_SIZE), "PING of 7 bytes: GOAWAY FRAME_SIZE_ERROR");
    c = cl_open();
    s_frame(c, H2_SETTINGS, 0, 0, "12345", 5);
    go(c);
    expect(conn_error(c, H2E_FRAME_SIZE), "SETTINGS of 5 bytes: GOAWAY FRAME_SIZE_ERROR");
    c = cl_open();
    s_frame(c, H2_SETTINGS, H2F_ACK, 0, "123456", 6);
    go(c);
    expect(conn_error(c, H2E_FRAME_SIZE), "SETTINGS ACK with a payload: GOAWAY FRAME_SIZE_ERROR");
    c = cl_open();
    s_frame(c, H2_WINDOW_UPDATE, 0, 0, "12345", 5);
    go(c);
    expect(conn_error(c, H2E_FRAME_SIZE), "WINDOW_UPDATE of 5 bytes: GOAWAY FRAME_SIZE_ERROR");
    c = cl_open();
    s_ping(c, 0, "abcdefgh");
    s_frame(c, H2_PING, 0, 1, "12345678", 8);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && strstr(bstr(&c->conn_ev), "PING_ACK len=8 6162636465666768"),
           "PING on stream 1: GOAWAY PROTOCOL_ERROR (after the ACK of the PING before it)");
}

static void sc_preface(void)
{
    client *c = cl_new();
    badd(&c->stage, "PRI * HTTP/1.1\r\n", 16);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "a wrong preface: GOAWAY PROTOCOL_ERROR");
    c = cl_new();
    badd(&c->stage, h2_preface, sizeof h2_preface - 1);
    s_ping(c, 0, "12345678");
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "a PING before the client's SETTINGS: GOAWAY PROTOCOL_ERROR");
}

/* Requests RFC 9113 8.1.1 calls malformed: RST_STREAM PROTOCOL_ERROR,
 * the connection lives; and header values gRPC reads. */
static void sc_malformed_requests(void)
{
#define REQ(path) ":method", "POST", ":scheme", "http", ":path", path, ":authority", "x"
    static const char *const no_path[] = { ":method", "POST", ":scheme", "http", ":authority", "x",
                                           "content-type", "application/grpc", NULL };
    static const char *const upper[] = { REQ("/Chat/BiDiChat"), "content-type", "application/grpc", "X-Up", "1", NULL };
    static const char *const conn[] = { REQ("/Chat/BiDiChat"), "content-type", "application/grpc", "connection",
                                        "keep-alive", NULL };
    static const char *const te[] = { REQ("/Chat/BiDiChat"), "content-type", "application/grpc", "te", "gzip", NULL };
    static const char *const late[] = { ":method", "POST", "content-type", "application/grpc", ":scheme", "http",
                                        ":path", "/Chat/BiDiChat", NULL };
    static const char *const dup[] = { REQ("/Chat/BiDiChat"), ":path", "/Chat/BiDiChat", "content-type",
                                       "application/grpc", NULL };
    static const char *const status[] = { REQ("/Chat/BiDiChat"), ":status", "200", NULL };
    static const char *const cl[] = { REQ("/LogWatcher/Append"), "content-type", "application/grpc",
                                      "content-length", "3", NULL };
    static const char *const get[] = { ":method", "GET", ":scheme", "http", ":path", "/Chat/BiDiChat", ":authority",
                                       "x", "content-type", "application/grpc", NULL };
    static const char *const tmo_bad[] = { REQ("/Chat/BiDiChat"), "content-type", "application/grpc",
                                           "grpc-timeout", "1x", NULL };
    static const char *const tmo[] = { REQ("/LogWatcher/WatchLogs"), "content-type", "application/grpc",
                                       "grpc-timeout", "5m", NULL };
    static const char *const trailer_pseudo[] = { ":path", "/x", NULL };
    static const struct { const char *what; const char *const *f; } bad[] = {
        { "no :path", no_path }, { "an upper-case name", upper }, { "connection: keep-alive", conn },
        { "te: gzip", te }, { "a pseudo-header after a regular one", late }, { "two :path", dup },
        { "a :status", status },
    };
    client *c = cl_open();
    gs_msg e = m_entry("INFO", "x"), w = m_watch("", 0, 1);
    uint32_t sid = 1;
    size_t i, logged = 8;
    for (i = 0; i < LEN(bad); i++, sid += 2) {
        s_fields(c, sid, H2F_END_STREAM, bad[i].f);
        go(c);
        expect(S(c, sid)->rst == H2E_PROTOCOL && S(c, sid)->headers == 0 && !c->closed,
               "request with %s: RST_STREAM PROTOCOL_ERROR, connection lives", bad[i].what);
    }
    s_fields(c, sid, 0, cl);
    s_msg(c, sid, H2F_END_STREAM, &e);
    go(c);
    expect(S(c, sid)->rst == H2E_PROTOCOL && seq_of(c, sid) == 0 && !c->closed,
           "Append with content-length 3 and a 10-byte message: RST_STREAM PROTOCOL_ERROR");
    sid += 2;
    {
        gs_msg all = m_watch("", 0, 0);
        watch(c, sid, &all);
        go(c);
        expect(call_ended(c, sid, 0, NULL) && S(c, sid)->nmsgs == 8,
               "... and the malformed Append was not executed (the log still has 8 entries: %zu)",
               S(c, sid)->nmsgs);
        logged = S(c, sid)->nmsgs;      /* the checks below hold either way */
    }
    sid += 2;
    s_fields(c, sid, H2F_END_STREAM, get);
    go(c);
    expect(S(c, sid)->http_status == 405 && S(c, sid)->end_seen && S(c, sid)->grpc_status < 0, "GET: HTTP 405");
    sid += 2;
    s_fields(c, sid, H2F_END_STREAM, tmo_bad);
    go(c);
    expect(call_ended(c, sid, GS_INTERNAL, "malformed grpc-timeout") && S(c, sid)->trailers_only,
           "grpc-timeout 1x: Trailers-Only INTERNAL \"malformed grpc-timeout\"");
    sid += 2;
    s_call(c, sid, "/Chat/BiDiChat", 0);
    s_fields(c, sid, H2F_END_STREAM, trailer_pseudo);
    go(c);
    expect(S(c, sid)->rst == H2E_PROTOCOL && !c->closed, "client trailers with a pseudo-header: RST_STREAM PROTOCOL_ERROR");
    sid += 2;
    s_call(c, sid, "/Chat/BiDiChat", 0);
    s_fields(c, sid, 0, (const char *const[]){ "x-t", "1", NULL });
    go(c);
    expect(S(c, sid)->rst == H2E_PROTOCOL, "client trailers without END_STREAM: RST_STREAM PROTOCOL_ERROR");
    sid += 2;
    s_fields(c, sid, 0, tmo);
    s_msg(c, sid, H2F_END_STREAM, &w);
    go(c);
    expect(S(c, sid)->nmsgs == logged && !S(c, sid)->end_seen, "a follow watch with grpc-timeout 5m: open");
    gs_tick(&node, 4);
    settle();
    expect(!S(c, sid)->end_seen, "4 ms later: still open");
    gs_tick(&node, 5);
    settle();
    expect(call_ended(c, sid, GS_DEADLINE_EXCEEDED, "deadline exceeded") && S(c, sid)->nmsgs == logged &&
           S(c, sid)->rst_after_end < 0, "5 ms: DEADLINE_EXCEEDED trailers (no RST_STREAM: the client had half-closed)");
    sid += 2;
    s_call(c, sid, "/LogWatcher/Append", 0);
    s_msg(c, sid, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, sid, 0, NULL) && seq_of(c, sid) == logged + 1, "after them all, the connection serves calls");
#undef REQ
}

static void sc_priority_self(void)
{
    client *c = cl_open();
    uint8_t blk[512];
    size_t n;
    gs_msg e = m_entry("INFO", "x");
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_priority(c, 1, 1, 16);
    go(c);
    expect(S(c, 1)->rst == H2E_PROTOCOL && !c->closed, "PRIORITY depending on its own stream: RST_STREAM PROTOCOL_ERROR");
    /* HEADERS whose priority names itself */
    n = mk_block(c, blk, "/LogWatcher/Append", "application/grpc", NULL);
    {
        buf b = { 0 };
        bu32(&b, 3);
        bbyte(&b, 10);
        badd(&b, blk, n);
        s_frame(c, H2_HEADERS, H2F_END_HEADERS | H2F_PRIORITY, 3, b.p, b.n);
        open_stream(c, 3);
        bfree(&b);
    }
    s_msg(c, 3, H2F_END_STREAM, &e);
    go(c);
    expect(S(c, 3)->rst == H2E_PROTOCOL && !c->closed, "HEADERS depending on its own stream: RST_STREAM PROTOCOL_ERROR");
    /* SETTINGS_MAX_FRAME_SIZE below 16384 */
    {
        static const uint32_t small[] = { 5, 16383 };
        s_settings(c, small, 1);
        c->settings_sent--;
        go(c);
        expect(conn_error(c, H2E_PROTOCOL), "SETTINGS_MAX_FRAME_SIZE 16383: GOAWAY PROTOCOL_ERROR");
    }
}

/* HPACK errors end the connection: GOAWAY COMPRESSION_ERROR. */
static void hpack_bad(const uint8_t *blk, size_t n, const char *what)
{
    client *c = cl_open();
    s_headers(c, 1, H2F_END_HEADERS, blk, n, -1, 0);
    go(c);
    expect(conn_error(c, H2E_COMPRESSION), "header block with %s: GOAWAY COMPRESSION_ERROR", what);
}

static void sc_hpack_errors(void)
{
    static const uint8_t idx0[] = { 0x80 }, past[] = { 0x83, 0x86, 0xBF }, upd[] = { 0x3F, 0xE2, 0x1F, 0x83 },
                         cut[] = { 0x83, 0x86, 0x04, 0x05, '/', 'a' }, late_upd[] = { 0x83, 0x20 },
                         eos[] = { 0x83, 0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF };
    hpack_bad(idx0, sizeof idx0, "index 0");
    hpack_bad(past, sizeof past, "an index past the dynamic table");
    hpack_bad(upd, sizeof upd, "a table size update above 4096");
    hpack_bad(cut, sizeof cut, "a literal cut by END_HEADERS");
    hpack_bad(late_upd, sizeof late_upd, "a size update after a field");
    hpack_bad(eos, sizeof eos, "a Huffman EOS");
}

/* ===================================================================== */
/* 2. Stream states (RFC 9113 5.1)                                        */
/* ===================================================================== */

static void sc_data_idle(void)
{
    client *c = cl_open();
    s_data(c, 1, 0, "\0\0\0\0\0", 5, -1);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 0, "DATA on idle stream 1: GOAWAY PROTOCOL_ERROR last 0");
    c = cl_open();
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_data(c, 5, 0, "\0\0\0\0\0", 5, -1);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 1,
           "DATA on idle stream 5 (1 open): GOAWAY PROTOCOL_ERROR last 1");
    c = cl_open();
    s_data(c, 0, 0, "\0\0\0\0\0", 5, -1);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "DATA on stream 0: GOAWAY PROTOCOL_ERROR");
}

static void sc_even_id(void)
{
    client *c = cl_open();
    uint8_t blk[512];
    size_t n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_headers(c, 2, H2F_END_HEADERS, blk, n, -1, 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "HEADERS on even stream 2: GOAWAY PROTOCOL_ERROR");
    c = cl_open();
    n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_headers(c, 0, H2F_END_HEADERS, blk, n, -1, 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "HEADERS on stream 0: GOAWAY PROTOCOL_ERROR");
}

static void sc_decreasing_id(void)
{
    client *c = cl_open();
    s_call(c, 5, "/Chat/BiDiChat", 0);
    go(c);
    s_call(c, 3, "/Chat/BiDiChat", 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 5,
           "HEADERS on 3 after 5: GOAWAY PROTOCOL_ERROR last 5");
}

static void sc_reuse_id(void)
{
    client *c = cl_open();
    gs_msg e = m_entry("INFO", "x");
    s_call(c, 1, "/LogWatcher/Append", 0);
    s_msg(c, 1, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, 1, 0, NULL), "stream 1 served and closed");
    S(c, 1)->end_seen = 0;      /* the client (wrongly) opens it again */
    S(c, 1)->headers = 0;
    s_call(c, 1, "/LogWatcher/Append", 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 1, "HEADERS reusing closed stream 1: GOAWAY PROTOCOL_ERROR");
}

static void sc_data_after_end(void)
{
    client *c = cl_open();
    gs_msg w = m_watch("", 0, 1), e = m_entry("INFO", "x");
    /* a follow watch outlives the client's END_STREAM: the stream is
     * half-closed (remote) and still live */
    s_call(c, 1, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 1, H2F_END_STREAM, &w);
    go(c);
    expect(S(c, 1)->nmsgs == 8 && !S(c, 1)->end_seen, "follow watch: 8 entries, the stream stays open");
    s_msg(c, 1, 0, &e);
    go(c);
    expect(S(c, 1)->rst == H2E_STREAM_CLOSED && !S(c, 1)->end_seen && !c->closed,
           "DATA after the client's END_STREAM: RST_STREAM STREAM_CLOSED, connection lives");
    expect(gs_conn_live(&node, c->ci) == 0, "the watch's slot is freed");
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_msg(c, 3, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, 3, 0, NULL) && S(c, 1)->nmsgs == 8,
           "the next call is served; the reset watch gets nothing more");
    /* HEADERS on a half-closed (remote) stream: STREAM_CLOSED, as a
     * stream or a connection error */
    s_call(c, 5, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 5, H2F_END_STREAM, &w);
    go(c);
    s_call(c, 5, "/LogWatcher/WatchLogs", 0);
    go(c);
    expect(S(c, 5)->rst == H2E_STREAM_CLOSED || conn_error(c, H2E_STREAM_CLOSED),
           "HEADERS after the client's END_STREAM: STREAM_CLOSED");
}

static void sc_rst_idle(void)
{
    client *c = cl_open();
    s_rst(c, 1, H2E_CANCEL);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "RST_STREAM on idle stream 1: GOAWAY PROTOCOL_ERROR");
    c = cl_open();
    s_rst(c, 0, H2E_CANCEL);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "RST_STREAM on stream 0: GOAWAY PROTOCOL_ERROR");
    c = cl_open();
    s_wu(c, 3, 100);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "WINDOW_UPDATE on idle stream 3: GOAWAY PROTOCOL_ERROR");
}

static void sc_rst_cancels(void)
{
    client *c = cl_open();
    gs_msg w = m_watch("", 0, 1), m = m_chat("x", 1), e = m_entry("INFO", "after cancel");
    s_call(c, 1, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 1, H2F_END_STREAM, &w);
    s_call(c, 3, "/Chat/BiDiChat", 0);
    s_msg(c, 3, 0, &m);
    go(c);
    expect(gs_conn_live(&node, c->ci) == 2, "a follow watch and a chat are live");
    s_rst(c, 1, H2E_CANCEL);
    s_rst(c, 3, H2E_CANCEL);
    go(c);
    expect(gs_conn_live(&node, c->ci) == 0 && !c->closed, "RST_STREAM from the client: both calls end, slots freed");
    s_call(c, 5, "/LogWatcher/Append", 0);
    s_msg(c, 5, H2F_END_STREAM, &e);
    s_rst(c, 1, H2E_CANCEL);            /* RST on a closed stream: ignored */
    s_msg(c, 3, 0, &m);                 /* DATA on a reset stream: stream error */
    go(c);
    expect(call_ended(c, 5, 0, NULL) && S(c, 1)->nmsgs == 8 && S(c, 3)->nmsgs == 1 && !S(c, 1)->end_seen &&
           S(c, 3)->rst == H2E_STREAM_CLOSED && !c->closed,
           "after the resets: nothing more on them, DATA on one -> RST STREAM_CLOSED; Append served");
    {
        static const uint32_t zero[] = { 4, 0 }, open_[] = { 4, 65535 };
        client *z = cl_open_with(zero, 1);
        s_call(z, 1, "/LogWatcher/Append", 0);
        s_msg(z, 1, H2F_END_STREAM, &e);
        go(z);
        expect(S(z, 1)->headers == 1 && !S(z, 1)->end_seen && gs_conn_live(&node, z->ci) == 1,
               "window 0: an Append's answer waits for window");
        s_rst(z, 1, H2E_CANCEL);
        s_settings(z, open_, 1);
        go(z);
        expect(gs_conn_live(&node, z->ci) == 0 && S(z, 1)->nmsgs == 0 && !S(z, 1)->end_seen,
               "RST_STREAM on it: the slot is freed, nothing more is sent even once the window opens");
    }
}

static void sc_continuation_alone(void)
{
    client *c = cl_open();
    uint8_t blk[512];
    size_t n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_cont(c, 1, H2F_END_HEADERS, blk, n);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "CONTINUATION without HEADERS: GOAWAY PROTOCOL_ERROR");
    /* CONTINUATION after a complete block */
    c = cl_open();
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_cont(c, 1, H2F_END_HEADERS, NULL, 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "CONTINUATION after END_HEADERS: GOAWAY PROTOCOL_ERROR");
}

static void interleaved(int what)
{
    client *c = cl_open();
    uint8_t blk[512];
    size_t n;
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    n = mk_block(c, blk, "/Chat/BiDiChat", "application/grpc", NULL);
    s_headers(c, 3, 0, blk, 5, -1, 0);
    switch (what) {
    case 0: s_ping(c, 0, "interlv!"); break;
    case 1: s_data(c, 1, 0, "\0\0\0\0\0", 5, -1); break;
    case 2: s_cont(c, 1, 0, blk + 5, n - 5); break;
    case 3: s_frame(c, 0x42, 0, 0, "x", 1); break;
    case 4: s_priority(c, 3, 0, 1); break;
    default: s_call(c, 5, "/Chat/BiDiChat", 0); break;
    }
    s_cont(c, 3, H2F_END_HEADERS, blk + 5, n - 5);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 3 && !strstr(bstr(&c->conn_ev), "PING_ACK"),
           "inside a header block, %s: GOAWAY PROTOCOL_ERROR",
           (const char *[]){ "PING", "DATA on another stream", "CONTINUATION of another stream",
                             "an unknown frame", "PRIORITY", "HEADERS of another stream" }[what]);
}
static void sc_interleaved(void) { int i; for (i = 0; i < 6; i++) interleaved(i); }

static void sc_push_promise(void)
{
    client *c = cl_open();
    uint8_t d[8] = { 0, 0, 0, 2 };
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_frame(c, H2_PUSH_PROMISE, H2F_END_HEADERS, 1, d, 4);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL) && c->goaway_last == 1, "PUSH_PROMISE from the client: GOAWAY PROTOCOL_ERROR");
}

/* ===================================================================== */
/* 3. Flow control                                                        */
/* ===================================================================== */

/* the framed bytes of the 8 built-in entries */
static uint64_t all8_bytes(void)
{
    uint64_t t = 0;
    int i;
    for (i = 0; i < 8; i++) {
        buf b = { 0 };
        gs_msg m = m_entry(sample_log[i][0], sample_log[i][1]);
        lpm_pb(&b, &m);
        t += b.n;
        bfree(&b);
    }
    return t;
}

static void sc_small_window(void)
{
    static const uint32_t set[] = { 4, 10 };
    client *c = cl_open_with(set, 1);
    gs_msg w = m_watch("", 0, 0);
    uint64_t total = all8_bytes(), got = 10;
    uint32_t inc = 1, prev = 1;
    int ok = 1, steps = 0;
    c->auto_wu = 0;
    s_call(c, 1, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 1, H2F_END_STREAM, &w);
    go(c);
    expect(S(c, 1)->headers == 1 && S(c, 1)->data_bytes == 10 && !S(c, 1)->end_seen,
           "INITIAL_WINDOW_SIZE 10: headers and exactly 10 DATA bytes, then nothing");
    while (got < total) {
        uint64_t want;
        s_wu(c, 1, inc);
        go(c);
        want = got + inc < total ? got + inc : total;
        if (S(c, 1)->data_bytes != want) ok = 0;
        if (want < total && S(c, 1)->end_seen) ok = 0;
        got = want;
        { uint32_t t = inc; inc += prev; prev = t; }   /* Fibonacci steps */
        steps++;
    }
    expect(ok, "each WINDOW_UPDATE releases exactly its increment (%d steps, %llu bytes)", steps,
           (unsigned long long)total);
    expect(call_ended(c, 1, 0, NULL) && entries_are(c, 1, ALL8, 8),
           "every entry arrives once, in order, then OK trailers");
}

static void sc_initial_window_changes(void)
{
    static const uint32_t set10[] = { 4, 10 }, set0[] = { 4, 0 }, set20[] = { 4, 20 }, setbig[] = { 4, 65535 };
    client *c = cl_open_with(set10, 1);
    gs_msg w = m_watch("", 0, 0), m = m_chat("hello", 5);
    uint64_t total = all8_bytes();
    c->auto_wu = 0;
    s_call(c, 1, "/LogWatcher/WatchLogs", 0);
    s_msg(c, 1, H2F_END_STREAM, &w);
    go(c);
    expect(S(c, 1)->data_bytes == 10, "window 10: 10 bytes");
    s_settings(c, set0, 1);         /* stream 1: 0 - 10 = -10 */
    go(c);
    s_call(c, 3, "/Chat/BiDiChat", 0);
    s_msg(c, 3, 0, &m);
    go(c);
    expect(S(c, 1)->data_bytes == 10 && S(c, 3)->data_bytes == 0 && !S(c, 3)->end_seen,
           "INITIAL_WINDOW_SIZE 0: nothing more on 1; no DATA on a new stream (its headers may wait too)");
    s_wu(c, 1, 5);                  /* -5 */
    go(c);
    expect(S(c, 1)->data_bytes == 10, "stream window -10 + 5 = -5: nothing sent");
    s_settings(c, set20, 1);        /* 1: -5 + 20 = 15; 3: 0 + 20 = 20 */
    go(c);
    expect(S(c, 1)->data_bytes == 25 && S(c, 3)->data_bytes == 18 && echoes_are(c, 3, (const char *[]){ "hello" }, 1),
           "INITIAL_WINDOW_SIZE 20: exactly 15 more on 1 (window -5 -> 15), the 18-byte echo on 3");
    s_wu(c, 1, 7);
    go(c);
    expect(S(c, 1)->data_bytes == 32, "WINDOW_UPDATE 7: exactly 7 more");
    s_settings(c, setbig, 1);
    go(c);
    expect(S(c, 1)->data_bytes == total && call_ended(c, 1, 0, NULL) && entries_are(c, 1, ALL8, 8),
           "INITIAL_WINDOW_SIZE 65535: the rest, every entry once and in order, OK");
    s_data(c, 3, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(call_ended(c, 3, 0, NULL), "the chat ends OK");
}

static void sc_conn_window(void)
{
    static const uint32_t set[] = { 4, 1u << 20 };
    static char text[20000];
    client *c = cl_open_with(set, 1);
    gs_msg e = m_entry("INFO", "conn window");
    int i, ok = 1;
    uint64_t sum;
    c->auto_wu = 0;
    memset(text, 'w', sizeof text);
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    for (i = 0; i < 4; i++) {
        buf b = { 0 };
        gs_msg m = m_chat(text, sizeof text - (size_t)i);
        lpm_pb(&b, &m);
        ok &= send_flow(c, 1, b.p, b.n, 0);
        bfree(&b);
    }
    expect(ok, "the client sends 4 x 20 KB within the windows it was granted");
    expect(S(c, 1)->data_bytes == 65535, "the echoes stop at the connection window: exactly 65535 bytes (%llu)",
           (unsigned long long)S(c, 1)->data_bytes);
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_msg(c, 3, H2F_END_STREAM, &e);
    go(c);
    expect(S(c, 3)->headers == 1 && S(c, 3)->data_bytes == 0 && !S(c, 3)->end_seen,
           "connection window 0: an Append gets its headers, no DATA, no trailers");
    s_wu(c, 0, 100);
    go(c);
    sum = S(c, 1)->data_bytes + S(c, 3)->data_bytes;
    expect(sum == 65635, "connection WINDOW_UPDATE 100: exactly 100 more bytes (%llu)", (unsigned long long)sum);
    s_wu(c, 0, 1u << 20);
    go(c);
    expect(S(c, 1)->nmsgs == 4 && call_ended(c, 3, 0, NULL) && seq_of(c, 3) == 9,
           "a big connection WINDOW_UPDATE: every echo, the Append's answer and trailers");
    {
        int good = 1;
        for (i = 0; i < 4; i++) {
            gs_msg m;
            good &= msg_of(c, 1, (size_t)i, &chat_message, &m) && m.v[0].s.n == 6 + sizeof text - (size_t)i &&
                    memcmp(m.v[0].s.p, "echo: ", 6) == 0 && memcmp(m.v[0].s.p + 6, text, sizeof text - (size_t)i) == 0;
        }
        expect(good, "the 4 echoes are intact and in order");
    }
    s_data(c, 1, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(call_ended(c, 1, 0, NULL), "the chat ends OK");
}

static void sc_wu_overflow_conn(void)
{
    client *c = cl_open();
    s_wu(c, 0, 0x7FFFFFFF - H2_DEFAULT_WINDOW);
    go(c);
    expect(!c->closed, "connection window raised to exactly 2^31-1: fine");
    s_wu(c, 0, 1);
    go(c);
    expect(conn_error(c, H2E_FLOW_CONTROL), "one more: GOAWAY FLOW_CONTROL_ERROR");
    c = cl_open();
    s_wu(c, 0, 0x7FFFFFFF);
    go(c);
    expect(conn_error(c, H2E_FLOW_CONTROL), "connection WINDOW_UPDATE 2^31-1 on 65535: GOAWAY FLOW_CONTROL_ERROR");
    c = cl_open();
    s_wu(c, 0, 0);
    go(c);
    expect(conn_error(c, H2E_PROTOCOL), "connection WINDOW_UPDATE 0: GOAWAY PROTOCOL_ERROR");
}

static void sc_wu_overflow_stream(void)
{
    client *c = cl_open();
    gs_msg m = m_chat("x", 1), e = m_entry("INFO", "y");
    static const uint32_t big[] = { 4, 0x7FFFFFFF };
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    s_wu(c, 1, 0x7FFFFFFF - H2_DEFAULT_WINDOW);
    go(c);
    expect(S(c, 1)->rst < 0, "stream window raised to exactly 2^31-1: fine");
    s_wu(c, 1, 1);
    go(c);
    expect(S(c, 1)->rst == H2E_FLOW_CONTROL && !c->closed, "one more: RST_STREAM FLOW_CONTROL_ERROR, connection lives");
    expect(gs_conn_live(&node, c->ci) == 0, "the call is cancelled, its slot freed");
    s_call(c, 3, "/Chat/BiDiChat", 0);
    s_msg(c, 3, 0, &m);
    go(c);
    s_wu(c, 3, 0);
    go(c);
    expect(S(c, 3)->rst == H2E_PROTOCOL && !c->closed, "stream WINDOW_UPDATE 0: RST_STREAM PROTOCOL_ERROR");
    s_call(c, 5, "/LogWatcher/Append", 0);
    s_msg(c, 5, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, 5, 0, NULL), "the connection still serves calls");
    /* an INITIAL_WINDOW_SIZE that pushes an open stream past 2^31-1 */
    s_call(c, 7, "/Chat/BiDiChat", 0);
    s_wu(c, 7, 1000);
    s_settings(c, big, 1);
    c->settings_sent--;             /* answered by GOAWAY, not ACK */
    go(c);
    expect(conn_error(c, H2E_FLOW_CONTROL), "INITIAL_WINDOW_SIZE 2^31-1 with a stream window above the initial one: "
           "GOAWAY FLOW_CONTROL_ERROR");
    c = cl_open();
    {
        static const uint32_t over[] = { 4, 0x80000000u };
        s_settings(c, over, 1);
        c->settings_sent--;         /* not acknowledged: an error */
        go(c);
        expect(conn_error(c, H2E_FLOW_CONTROL), "INITIAL_WINDOW_SIZE 2^31: GOAWAY FLOW_CONTROL_ERROR");
    }
}

static void sc_big_message(void)
{
    enum { BIG = GS_MAX_VALUE >= 204800 ? 204800 : GS_MAX_VALUE };
    client *c = cl_open();
    char *text = malloc(BIG);
    buf b = { 0 };
    gs_msg m;
    const uint8_t *rp;
    size_t i, rn;
    int ok;
    for (i = 0; i < BIG; i++) text[i] = (char)('a' + i % 26);
    m = m_chat(text, BIG);
    lpm_pb(&b, &m);
    s_call(c, 1, "/Chat/BiDiChat", 0);
    go(c);
    ok = send_flow(c, 1, b.p, b.n, 1);
    expect(ok, "a %u-byte chat message sent within the server's windows (never more than granted)", (unsigned)BIG);
    expect(S(c, 1)->nmsgs == 1 && chat_text(c, 1, 0, &rp, &rn) && rn == BIG + 6 &&
           memcmp(rp, "echo: ", 6) == 0 && memcmp(rp + 6, text, BIG) == 0,
           "its echo (%u bytes) arrives intact", (unsigned)BIG + 6);
    expect(S(c, 1)->data_bytes > 65535 && S(c, 1)->data_frames >= 5,
           "the echo is larger than one window and spans several DATA frames (%u)", S(c, 1)->data_frames);
    expect(call_ended(c, 1, 0, NULL), "OK trailers after the half-close");
    /* with SETTINGS_MAX_FRAME_SIZE 65535 the echo may come in larger frames */
    {
        static const uint32_t big_frames[] = { 5, 65535, 4, 1u << 20 };
        client *d = cl_open_with(big_frames, 2);
        s_call(d, 1, "/Chat/BiDiChat", 0);
        go(d);
        ok = send_flow(d, 1, b.p, b.n, 1);
        expect(ok && S(d, 1)->nmsgs == 1 && chat_text(d, 1, 0, &rp, &rn) && rn == BIG + 6 &&
               memcmp(rp + 6, text, BIG) == 0 && call_ended(d, 1, 0, NULL),
               "MAX_FRAME_SIZE 65535, window 1 MiB: the echo intact (largest frame %u bytes, at most 65535)",
               d->max_seen);
    }
    /* a unary request of the same size (buffered whole before it runs) */
    {
        gs_msg e = m_entry("INFO", "");
        bclear(&b);
        e.v[1].s.p = text;
        e.v[1].s.n = BIG;
        lpm_pb(&b, &e);
        s_call(c, 3, "/LogWatcher/Append", 0);
        ok = send_flow(c, 3, b.p, b.n, 1);
        expect(ok && call_ended(c, 3, 0, NULL) && seq_of(c, 3) == 9, "a %u-byte Append, sent within the windows: served",
               (unsigned)BIG);
    }
    /* one byte over the string limit: RESOURCE_EXHAUSTED */
    {
        char *t2 = malloc(GS_MAX_VALUE + 1);
        char want[128];
        memset(t2, 'z', GS_MAX_VALUE + 1);
        m = m_chat(t2, GS_MAX_VALUE + 1);
        bclear(&b);
        lpm_pb(&b, &m);
        s_call(c, 5, "/Chat/BiDiChat", 0);
        ok = send_flow(c, 5, b.p, b.n, 1);
        snprintf(want, sizeof want, "text larger than %u bytes", (unsigned)GS_MAX_VALUE);
        expect(ok && call_ended(c, 5, GS_RESOURCE_EXHAUSTED, want) && S(c, 5)->nmsgs == 0,
               "a chat text of GS_MAX_VALUE + 1 bytes: RESOURCE_EXHAUSTED \"%s\"", want);
        free(t2);
    }
    bfree(&b);
    free(text);
}

/* ===================================================================== */
/* 4. Message reassembly                                                  */
/* ===================================================================== */

static void sc_split_every_offset(void)
{
    client *c = cl_open();
    buf b = { 0 };
    gs_msg m = m_chat("split me", 8), e = m_entry("INFO", "split");
    size_t k, n;
    uint32_t sid;
    const char *want[64];
    int ok = 1;
    lpm_pb(&b, &m);
    n = b.n;
    s_call(c, 1, "/Chat/BiDiChat", 0);
    for (k = 0; k <= n; k++) {
        s_data(c, 1, 0, b.p, k, -1);
        s_data(c, 1, 0, b.p + k, n - k, -1);
        want[k] = "split me";
    }
    /* every byte its own frame */
    for (k = 0; k < n; k++) s_data(c, 1, 0, b.p + k, 1, -1);
    want[n + 1] = "split me";
    /* three pieces, cut at every pair inside the prefix */
    for (k = 1; k < 5; k++) {
        s_data(c, 1, 0, b.p, k, -1);
        s_data(c, 1, 0, b.p + k, 5 - k, -1);
        s_data(c, 1, 0, b.p + 5, n - 5, -1);
        want[n + 1 + k] = "split me";
    }
    s_data(c, 1, H2F_END_STREAM, NULL, 0, -1);
    go(c);
    expect(echoes_are(c, 1, want, n + 6) && call_ended(c, 1, 0, NULL),
           "BiDiChat: a %zu-byte message split into DATA frames at every offset: %zu echoes, OK", n, n + 6);
    /* unary: each split on its own stream */
    bclear(&b);
    lpm_pb(&b, &e);
    n = b.n;
    for (k = 0, sid = 3; k <= n; k++, sid += 2) {
        s_call(c, sid, "/LogWatcher/Append", 0);
        s_data(c, sid, 0, b.p, k, -1);
        s_data(c, sid, H2F_END_STREAM, b.p + k, n - k, -1);
    }
    go(c);
    for (k = 0, sid = 3; k <= n; k++, sid += 2) ok &= call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9 + k;
    expect(ok, "Append: the request split in two DATA frames at every offset (%zu calls)", n + 1);
    bfree(&b);
}

static void sc_two_in_one(void)
{
    client *c = cl_open();
    buf b = { 0 };
    gs_msg m1 = m_chat("one", 3), m2 = m_chat("two", 3), m3 = m_chat("three", 5);
    static const char *const want[] = { "one", "two", "three", "" };
    size_t cut;
    lpm_pb(&b, &m1);
    lpm_pb(&b, &m2);
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_data(c, 1, 0, b.p, b.n, -1);
    go(c);
    expect(echoes_are(c, 1, want, 2), "two messages in one DATA frame: two echoes in order");
    /* a frame ending inside the next message */
    bclear(&b);
    lpm_pb(&b, &m3);
    cut = b.n;
    { gs_msg z = m_chat("", 0); lpm_pb(&b, &z); }
    s_data(c, 1, 0, b.p, cut + 2, -1);
    s_data(c, 1, H2F_END_STREAM, b.p + cut + 2, b.n - cut - 2, -1);
    go(c);
    expect(echoes_are(c, 1, want, 4) && call_ended(c, 1, 0, NULL),
           "a message, then the start of the next in one frame: both echoed (an empty one -> \"echo: \")");
    {
        gs_msg r;
        expect(msg_of(c, 1, 3, &chat_message, &r) && str_is(r.v[0].s, "echo: "),
               "an empty ChatMessage (0-byte message) -> \"echo: \"");
    }
    bfree(&b);
}

static void sc_huge_claim(void)
{
    client *c = cl_open();
    static const char claim[] = "\0\xff\xff\xff\xff" "abc";
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_data(c, 1, 0, claim, 8, -1);
    go(c);
    expect(call_ended(c, 1, GS_RESOURCE_EXHAUSTED, NULL), "BiDiChat: a message claiming 4 GiB: RESOURCE_EXHAUSTED (%d \"%s\")",
           S(c, 1)->grpc_status, bstr(&S(c, 1)->grpc_message));
    expect(S(c, 1)->rst_after_end == H2E_NO_ERROR, "then RST_STREAM NO_ERROR (the client had not half-closed)");
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_data(c, 3, H2F_END_STREAM, claim, 8, -1);
    go(c);
    expect(call_ended(c, 3, GS_RESOURCE_EXHAUSTED, NULL), "Append: a message claiming 4 GiB: RESOURCE_EXHAUSTED (%d \"%s\")",
           S(c, 3)->grpc_status, bstr(&S(c, 3)->grpc_message));
    s_call(c, 5, "/LogWatcher/WatchLogs", 0);
    s_data(c, 5, 0, claim, 8, -1);
    go(c);
    expect(call_ended(c, 5, GS_RESOURCE_EXHAUSTED, NULL),
           "WatchLogs: a message claiming 4 GiB, no END_STREAM yet: RESOURCE_EXHAUSTED (%d \"%s\")",
           S(c, 5)->grpc_status, bstr(&S(c, 5)->grpc_message));
    expect(!c->closed, "the connection lives");
}

static void sc_compressed(void)
{
    client *c = cl_open();
    buf b = { 0 };
    gs_msg m = m_chat("z", 1), e = m_entry("INFO", "z");
    static const char *const identity[] = { "grpc-encoding", "identity", NULL };
    static const char *const gzip[] = { "grpc-encoding", "gzip", NULL };
    /* bidi, flag 1 */
    lpm_pb(&b, &m);
    b.p[0] = 1;
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_data(c, 1, 0, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 1, GS_INTERNAL, "compressed message without grpc-encoding"),
           "BiDiChat: compressed flag, no grpc-encoding: INTERNAL");
    /* unary, flag 1, with grpc-encoding identity */
    bclear(&b);
    lpm_pb(&b, &e);
    b.p[0] = 1;
    s_call_ct(c, 3, "/LogWatcher/Append", "application/grpc", 0, identity);
    s_data(c, 3, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 3, GS_INTERNAL, "compressed message without grpc-encoding"),
           "Append: compressed flag, grpc-encoding identity: INTERNAL");
    /* flag 2 */
    b.p[0] = 2;
    s_call(c, 5, "/LogWatcher/Append", 0);
    s_data(c, 5, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 5, GS_INTERNAL, "bad compressed flag"), "Append: compressed flag 2: INTERNAL");
    /* grpc-encoding gzip: UNIMPLEMENTED with grpc-accept-encoding */
    b.p[0] = 0;
    s_call_ct(c, 7, "/LogWatcher/Append", "application/grpc", 0, gzip);
    s_data(c, 7, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 7, GS_UNIMPLEMENTED, "grpc-encoding not supported") && S(c, 7)->accept_encoding &&
           S(c, 7)->trailers_only,
           "grpc-encoding gzip: Trailers-Only UNIMPLEMENTED with grpc-accept-encoding");
    expect(!c->closed, "the connection lives");
    bfree(&b);
}

static void sc_unary_count(void)
{
    client *c = cl_open();
    buf b = { 0 };
    gs_msg e = m_entry("INFO", "one"), w = m_watch("", 1, 0);
    lpm_pb(&b, &e);
    lpm_pb(&b, &e);
    s_call(c, 1, "/LogWatcher/Append", 0);
    s_data(c, 1, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 1, GS_INTERNAL, "more than one request message"),
           "Append: two messages in one frame: INTERNAL \"more than one request message\"");
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_msg(c, 3, 0, &e);
    s_msg(c, 3, H2F_END_STREAM, &e);
    go(c);
    expect(call_ended(c, 3, GS_INTERNAL, "more than one request message"), "Append: a second message frame: INTERNAL");
    s_call(c, 5, "/LogWatcher/Append", H2F_END_STREAM);
    go(c);
    expect(call_ended(c, 5, GS_INTERNAL, "missing request message"), "Append: no message: INTERNAL");
    s_call(c, 7, "/LogWatcher/Append", 0);
    s_data(c, 7, H2F_END_STREAM, b.p, 7, -1);
    go(c);
    expect(call_ended(c, 7, GS_INTERNAL, "truncated request message"), "Append: a truncated message: INTERNAL");
    bclear(&b);
    lpm_pb(&b, &w);
    lpm_pb(&b, &w);
    s_call(c, 9, "/LogWatcher/WatchLogs", 0);
    s_data(c, 9, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 9, GS_INTERNAL, "more than one request message") && S(c, 9)->nmsgs == 0,
           "WatchLogs: two request messages: INTERNAL");
    expect(seq_of(c, 11) == 0, "nothing was appended");
    bfree(&b);
}

/* ===================================================================== */
/* 5. Protobuf                                                            */
/* ===================================================================== */

static void watch(client *c, uint32_t sid, const gs_msg *w)
{
    s_call(c, sid, "/LogWatcher/WatchLogs", 0);
    s_msg(c, sid, H2F_END_STREAM, w);
}

static void sc_proto_fields(void)
{
    client *c = cl_open();
    gs_msg w;
    static const int errors[] = { 1, 3, 5 }, info2[] = { 0, 4 }, first2[] = { 0, 1 };
    w = m_watch("ERROR", 0, 0); watch(c, 1, &w);
    w = m_watch("", 2, 0); watch(c, 3, &w);
    w = m_watch("INFO", 2, 0); watch(c, 5, &w);
    w = m_watch("NOPE", 0, 0); watch(c, 7, &w);
    w = m_watch("error", 0, 0); watch(c, 9, &w);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && entries_are(c, 1, errors, 3), "filter ERROR: entries 2, 4, 6");
    expect(call_ended(c, 3, 0, NULL) && entries_are(c, 3, first2, 2), "limit 2: the first 2");
    expect(call_ended(c, 5, 0, NULL) && entries_are(c, 5, info2, 2), "filter INFO, limit 2: entries 1, 5");
    expect(call_ended(c, 7, 0, NULL) && S(c, 7)->nmsgs == 0 && S(c, 7)->trailers_only,
           "filter NOPE: no entry, Trailers-Only OK");
    expect(call_ended(c, 9, 0, NULL) && S(c, 9)->nmsgs == 0, "filter is exact (\"error\" matches nothing)");
}

static void sc_follow(void)
{
    client *c = cl_open(), *d;
    gs_msg w = m_watch("WARN", 3, 1), e1 = m_entry("WARN", "first new"), e2 = m_entry("INFO", "not matching"),
           e3 = m_entry("WARN", "second new"), m;
    watch(c, 1, &w);
    go(c);
    expect(S(c, 1)->nmsgs == 1 && !S(c, 1)->end_seen && gs_conn_live(&node, c->ci) == 1,
           "follow, filter WARN, limit 3: the one backlog entry, the stream stays open");
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_msg(c, 3, H2F_END_STREAM, &e1);
    go(c);
    expect(S(c, 1)->nmsgs == 2 && msg_of(c, 1, 1, &log_entry, &m) && str_is(m.v[1].s, "first new") &&
           !S(c, 1)->end_seen, "an Append on the same connection reaches the follower");
    d = cl_open();
    s_call(d, 1, "/LogWatcher/Append", 0);
    s_msg(d, 1, H2F_END_STREAM, &e2);
    s_call(d, 3, "/LogWatcher/Append", 0);
    s_msg(d, 3, H2F_END_STREAM, &e3);
    go(d);
    expect(seq_of(d, 1) == 10 && seq_of(d, 3) == 11, "Appends on another connection: seq 10, 11");
    expect(S(c, 1)->nmsgs == 3 && msg_of(c, 1, 2, &log_entry, &m) && str_is(m.v[1].s, "second new") &&
           call_ended(c, 1, 0, NULL), "... reach the follower (the non-matching one skipped): limit 3 -> OK");
}

/* Appends raw protobuf bytes as a message on a new unary call. */
static void raw_call(client *c, uint32_t sid, const char *path, const void *pb, size_t n)
{
    buf b = { 0 };
    s_call(c, sid, path, 0);
    lpm(&b, 0, pb, n);
    s_data(c, sid, H2F_END_STREAM, b.p, b.n, -1);
    bfree(&b);
}

static void sc_proto_unknown(void)
{
    client *c = cl_open();
    static const int errors[] = { 1, 3, 5 };
    /* unknown fields of every wire type around filter "ERROR" */
    static const uint8_t req[] = {
        0xF8, 0x06, 0x96, 0x01,                                 /* 111: varint 150 */
        0x0A, 0x04, 'I', 'N', 'F', 'O',                         /* filter "INFO" (overridden) */
        0x79, 1, 2, 3, 4, 5, 6, 7, 8,                           /* 15: fixed64 */
        0x82, 0x01, 0x03, 'x', 'y', 'z',                        /* 16: bytes */
        0x8D, 0x01, 1, 2, 3, 4,                                 /* 17: fixed32 */
        0x0A, 0x05, 'E', 'R', 'R', 'O', 'R',                    /* filter "ERROR": last wins */
        0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x00                       /* 2^29-1: varint 0 */
    };
    static const uint8_t app[] = { 0x0A, 0x04, 'I', 'N', 'F', 'O', 0x18, 0x01, 0x12, 0x02, 'h', 'i',
                                   0x25, 1, 2, 3, 4, 0x29, 1, 2, 3, 4, 5, 6, 7, 8 };
    raw_call(c, 1, "/LogWatcher/WatchLogs", req, sizeof req);
    raw_call(c, 3, "/LogWatcher/Append", app, sizeof app);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && entries_are(c, 1, errors, 3),
           "WatchRequest with unknown fields of wire types 0, 1, 2, 5; repeated filter: last wins");
    expect(call_ended(c, 3, 0, NULL) && seq_of(c, 3) == 9, "LogEntry with unknown fields: appended");
    {
        gs_msg w = m_watch("", 0, 0), m;
        watch(c, 5, &w);
        go(c);
        expect(S(c, 5)->nmsgs == 9 && msg_of(c, 5, 8, &log_entry, &m) && str_is(m.v[0].s, "INFO") &&
               str_is(m.v[1].s, "hi"), "the appended entry reads back INFO \"hi\"");
    }
}

static void sc_proto_malformed(void)
{
    static const struct { const char *name, *why; uint8_t b[12]; size_t n; } bad[] = {
        { "truncated varint", "truncated varint", { 0x10, 0xFF }, 2 },
        { "truncated key", "truncated varint", { 0x80 }, 1 },
        { "length beyond the buffer", "length beyond the buffer", { 0x0A, 0x10, 'a' }, 3 },
        { "wrong wire type (filter as varint)", "wrong wire type for a known field", { 0x08, 0x01 }, 2 },
        { "wrong wire type (limit as bytes)", "wrong wire type for a known field", { 0x12, 0x01, 'x' }, 3 },
        { "group (start)", "groups are not supported", { 0x0B, 0x0C }, 2 },
        { "unknown group", "groups are not supported", { 0xA3, 0x06 }, 2 },
        { "wire type 6", "invalid wire type", { 0x0E }, 1 },
        { "field number 0", "field number 0", { 0x02, 0x00 }, 2 },
        { "truncated fixed32", "truncated 32-bit field", { 0x7D, 1, 2 }, 3 },
        { "varint over 64 bits", "varint larger than 64 bits",
          { 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02 }, 11 },
        { "invalid UTF-8", "invalid UTF-8 in a string field", { 0x0A, 0x02, 0xC3, 0x28 }, 4 },
    };
    client *c = cl_open();
    size_t i;
    uint32_t sid = 1;
    for (i = 0; i < LEN(bad); i++, sid += 2) {
        raw_call(c, sid, "/LogWatcher/WatchLogs", bad[i].b, bad[i].n);
        go(c);
        expect(call_ended(c, sid, GS_INTERNAL, bad[i].why) && S(c, sid)->nmsgs == 0,
               "WatchRequest, %s: INTERNAL \"%s\" (got %d \"%s\")", bad[i].name, bad[i].why, S(c, sid)->grpc_status,
               bstr(&S(c, sid)->grpc_message));
    }
    raw_call(c, sid, "/LogWatcher/Append", bad[2].b, bad[2].n);
    go(c);
    expect(call_ended(c, sid, GS_INTERNAL, "length beyond the buffer"), "Append, length beyond the buffer: INTERNAL");
    sid += 2;
    {
        buf b = { 0 };
        gs_msg ok = m_chat("ok", 2);
        static const char *const want[] = { "ok" };
        s_call(c, sid, "/Chat/BiDiChat", 0);
        lpm_pb(&b, &ok);
        lpm(&b, 0, bad[5].b, bad[5].n);
        lpm_pb(&b, &ok);
        s_data(c, sid, 0, b.p, b.n, -1);
        go(c);
        expect(echoes_are(c, sid, want, 1) && call_ended(c, sid, GS_INTERNAL, "groups are not supported") &&
               S(c, sid)->rst_after_end == H2E_NO_ERROR,
               "BiDiChat: good, group, good: one echo, INTERNAL, RST_STREAM NO_ERROR; the 3rd is dropped");
        bfree(&b);
    }
    sid += 2;
    {
        gs_msg e = m_entry("INFO", "still fine");
        s_call(c, sid, "/LogWatcher/Append", 0);
        s_msg(c, sid, H2F_END_STREAM, &e);
        go(c);
        expect(call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9 && !c->closed,
               "after every malformed request the connection serves calls");
    }
}

static void sc_json(void)
{
    client *c = cl_open();
    static const char req[] = "{\"level\": \"INFO\", \"msg\": \"json\"}";
    buf b = { 0 };
    s_call_ct(c, 1, "/LogWatcher/Append", "application/grpc+json", 0, NULL);
    lpm(&b, 0, req, sizeof req - 1);
    s_data(c, 1, H2F_END_STREAM, b.p, b.n, -1);
    go(c);
    expect(call_ended(c, 1, 0, NULL) && strcmp(S(c, 1)->content_type, "application/grpc+json") == 0 &&
           S(c, 1)->nmsgs == 1 && S(c, 1)->msgs[0].n == 10 && memcmp(S(c, 1)->msgs[0].p, "{\"seq\": 9}", 10) == 0,
           "application/grpc+json Append: {\"seq\": 9}, content-type application/grpc+json");
    bfree(&b);
}

/* More calls in one write than there are message buffers (GS_H2_BUFS):
 * every call is answered, none fails for want of a buffer that a drain
 * would free. */
static void sc_pipelined_unary(void)
{
    client *c = cl_open();
    gs_msg e = m_entry("INFO", "pipelined");
    uint32_t sid, k = PIPE + 1;
    int ok = 1, answered = 1;
    go(c);
    for (sid = 1; sid < 2 * k; sid += 2) {
        s_call(c, sid, "/LogWatcher/Append", 0);
        s_msg(c, sid, H2F_END_STREAM, &e);
    }
    go(c);
    for (sid = 1; sid < 2 * k; sid += 2) {
        ok &= call_ended(c, sid, 0, NULL) && seq_of(c, sid) == 9 + sid / 2;
        answered &= S(c, sid)->end_seen;
    }
    expect(answered, "%u Append calls (more than GS_H2_BUFS) in one write: every call answered", k);
    expect(ok, "... every one OK, seq 9..%u", 8 + k);
}

static void sc_pipelined_bidi(void)
{
    client *c = cl_open();
    gs_msg m = m_chat("hi", 2);
    static const char *const want[] = { "hi" };
    uint32_t sid, k = PIPE + 8;
    int ok = 1;
    unsigned exhausted = 0;
    go(c);
    for (sid = 1; sid < 2 * k; sid += 2) {
        s_call(c, sid, "/Chat/BiDiChat", 0);
        s_msg(c, sid, 0, &m);
    }
    go(c);
    for (sid = 1; sid < 2 * k; sid += 2) {
        ok &= echoes_are(c, sid, want, 1) && !S(c, sid)->end_seen;
        exhausted += S(c, sid)->grpc_status == GS_RESOURCE_EXHAUSTED;
    }
    expect(ok, "%u BiDiChat calls with a message each in one write: every message echoed "
           "(%u ended RESOURCE_EXHAUSTED)", k, exhausted);
}

/* A client that grants no window holds the answers of its calls, and with
 * them message buffers, which every connection shares: a call on another
 * connection must still be answered (not crash the node). */
static void sc_zero_window_hog(void)
{
    static const uint32_t zero[] = { 4, 0 }, open_[] = { 4, 65535 };
    client *a = cl_open_with(zero, 1), *b;
    gs_msg e = m_entry("INFO", "held"), m = m_chat("hi", 2);
    uint32_t sid;
    int ok = 1;
    buf part = { 0 };
    static const char *const want[] = { "partial" };
    for (sid = 1; sid < 2 * (PIPE - 1); sid += 2) {
        s_call(a, sid, "/LogWatcher/Append", 0);
        s_msg(a, sid, H2F_END_STREAM, &e);
        go(a);
    }
    /* and a chat message of which 3 bytes came: its buffer waits too */
    { gs_msg pm = m_chat("partial", 7); lpm_pb(&part, &pm); }
    s_call(a, sid, "/Chat/BiDiChat", 0);
    s_data(a, sid, 0, part.p, 3, -1);
    go(a);
    expect(S(a, 1)->headers == 1 && !S(a, 1)->end_seen && free_bufs() == 0,
           "window 0: %d Append answers and a partial chat message wait (holding every pooled buffer)", PIPE - 1);
    b = cl_open();
    s_call(b, 1, "/LogWatcher/Append", 0);
    s_msg(b, 1, H2F_END_STREAM, &e);
    s_call(b, 3, "/Chat/BiDiChat", 0);
    s_msg(b, 3, H2F_END_STREAM, &m);
    go(b);
    expect(S(b, 1)->end_seen && S(b, 1)->grpc_status >= 0,
           "another connection's Append is answered (status %d \"%s\")", S(b, 1)->grpc_status,
           bstr(&S(b, 1)->grpc_message));
    expect(S(b, 3)->end_seen && S(b, 3)->grpc_status >= 0,
           "another connection's BiDiChat is answered (status %d \"%s\")", S(b, 3)->grpc_status,
           bstr(&S(b, 3)->grpc_message));
    s_settings(a, open_, 1);
    s_data(a, sid, H2F_END_STREAM, part.p + 3, part.n - 3, -1);
    go(a);
    for (sid = 1; sid < 2 * (PIPE - 1); sid += 2) ok &= call_ended(a, sid, 0, NULL) && seq_of(a, sid) == 9 + sid / 2;
    expect(ok, "window opened: the %d held answers arrive, seq 9..%d", PIPE - 1, 7 + PIPE);
    expect(echoes_are(a, sid, want, 1) && call_ended(a, sid, 0, NULL), "the partial chat message completes: echoed, OK");
    bfree(&part);
}

/* ===================================================================== */
/* 6. Closing connections with calls running                              */
/* ===================================================================== */

static void sc_close_frees(void)
{
    static const uint32_t zero[] = { 4, 0 };
    client *a = cl_open(), *b, *z;
    gs_msg m = m_chat("hi", 2), w = m_watch("", 0, 1), e = m_entry("INFO", "x");
    static const char *const want[] = { "hi" };
    uint32_t sid;
    int ok = 1, n = 0;
    /* every slot: chats, a follow watch and (on a zero-window
     * connection) an Append whose answer waits for window */
    z = cl_open_with(zero, 1);
    s_call(z, 1, "/LogWatcher/Append", 0);
    s_msg(z, 1, H2F_END_STREAM, &e);
    go(z);
    expect(S(z, 1)->headers == 1 && !S(z, 1)->end_seen && gs_conn_live(&node, z->ci) == 1,
           "window 0: the Append's answer waits, holding its slot");
    watch(a, 1, &w);
    go(a);
    /* (in batches: GS_H2_BUFS bounds the answers staged between drains) */
    for (sid = 3; sid < 2 * (GS_MAX_STREAMS - 2) + 3; sid += 2) {
        s_call(a, sid, "/Chat/BiDiChat", 0);
        s_msg(a, sid, 0, &m);
        if (sid % 32 == 31) go(a);
    }
    go(a);
    for (sid = 3; sid < 2 * (GS_MAX_STREAMS - 2) + 3; sid += 2) ok &= echoes_are(a, sid, want, 1), n++;
    expect(ok && S(a, 1)->nmsgs == 9, "%d chats echoing, a follow watch and a waiting Append running", n);
    expect(free_slots() == 0, "every stream slot is taken");
    b = cl_open();
    s_call(b, 1, "/Chat/BiDiChat", 0);
    go(b);
    expect(call_ended(b, 1, GS_RESOURCE_EXHAUSTED, "all stream slots are busy") && S(b, 1)->trailers_only,
           "a call on another connection: RESOURCE_EXHAUSTED \"all stream slots are busy\"");
    gs_conn_close(&node, a->ci);
    a->closed = 1;
    gs_conn_close(&node, z->ci);
    z->closed = 1;
    settle();
    expect(free_slots() == GS_MAX_STREAMS && free_bufs() == POOL,
           "gs_conn_close with calls running (and one waiting for window): every slot and buffer free (%d, %d)",
           free_slots(), free_bufs());
    ok = 1;
    n = 0;
    for (sid = 3; sid < 2 * GS_MAX_STREAMS + 3; sid += 2) {
        s_call(b, sid, "/Chat/BiDiChat", 0);
        s_msg(b, sid, 0, &m);
        if (sid % 32 == 31) go(b);
    }
    go(b);
    for (sid = 3; sid < 2 * GS_MAX_STREAMS + 3; sid += 2) ok &= echoes_are(b, sid, want, 1), n++;
    expect(ok, "a connection then runs %d calls at once", n);
    for (sid = 3; sid < 2 * GS_MAX_STREAMS + 3; sid += 2) s_data(b, sid, H2F_END_STREAM, NULL, 0, -1);
    go(b);
    ok = 1;
    for (sid = 3; sid < 2 * GS_MAX_STREAMS + 3; sid += 2) ok &= call_ended(b, sid, 0, NULL);
    expect(ok && gs_conn_live(&node, b->ci) == 0, "... and ends them all OK");
}

/* gs_conn_goaway called again and again before the output is drained
 * (say, once per loop turn while shutting down) writes one GOAWAY, never
 * past the connection's output buffer. */
static void sc_goaway_repeated(void)
{
    client *c = cl_open();
    size_t len, i;
    go(c);
    for (i = 0; i < 4000; i++) gs_conn_goaway(&node);
    gs_conn_output(&node, c->ci, &len);
    expect(len <= GS_H2_OUT, "4000 x gs_conn_goaway undrained: the output stays within GS_H2_OUT (%zu bytes)", len);
    if (len > GS_H2_OUT) {          /* the memory after it was overwritten: start anew */
        gs_conn_output_done(&node, c->ci, len);
        gs_conn_close(&node, c->ci);
        c->closed = 1;
        gs_init(&node);
        return;
    }
    settle();
    {
        const char *ev = bstr(&c->conn_ev), *g = strstr(ev, "GOAWAY");
        expect(c->goaway_code == H2E_NO_ERROR && g && !strstr(g + 1, "GOAWAY"), "one GOAWAY NO_ERROR");
    }
}

static void sc_goaway_graceful(void)
{
    client *c = cl_open();
    gs_msg m = m_chat("before", 6), e = m_entry("INFO", "x");
    static const char *const want[] = { "before", "after" };
    s_call(c, 1, "/Chat/BiDiChat", 0);
    s_msg(c, 1, 0, &m);
    go(c);
    gs_conn_goaway(&node);
    settle();
    expect(c->goaway_code == H2E_NO_ERROR && c->goaway_last == 1 && !c->closed,
           "gs_conn_goaway: GOAWAY NO_ERROR last 1, the connection stays");
    s_call(c, 3, "/LogWatcher/Append", 0);
    s_msg(c, 3, H2F_END_STREAM, &e);
    m = m_chat("after", 5);
    s_msg(c, 1, H2F_END_STREAM, &m);
    go(c);
    expect(S(c, 3)->rst == H2E_REFUSED_STREAM, "a new stream after it: RST_STREAM REFUSED_STREAM");
    expect(echoes_are(c, 1, want, 2) && call_ended(c, 1, 0, NULL) && gs_conn_live(&node, c->ci) == 0,
           "the call in flight finishes");
}

/* ===================================================================== */

int main(int argc, char **argv)
{
    static const struct { const char *name; scenario_fn fn; int randoms; } all[] = {
        { "server SETTINGS", sc_server_settings, RANDOM_RUNS },
        { "unary Append", sc_unary_append, RANDOM_RUNS },
        { "WatchLogs", sc_watch_all, RANDOM_RUNS },
        { "BiDiChat", sc_bidi, RANDOM_RUNS },
        { "client streaming", sc_client_stream, RANDOM_RUNS },
        { "metadata", sc_metadata, RANDOM_RUNS },
        { "unknown method", sc_unknown_method, RANDOM_RUNS },
        { "HTTP 415", sc_http_415, RANDOM_RUNS },
        { "padding", sc_padding, RANDOM_RUNS },
        { "padding too long", sc_pad_too_long, RANDOM_RUNS },
        { "CONTINUATION", sc_continuation, RANDOM_RUNS },
        { "PING, SETTINGS, unknown frames", sc_ping_settings_unknown, RANDOM_RUNS },
        { "oversized DATA", sc_oversize_data, RANDOM_RUNS },
        { "oversized HEADERS", sc_oversize_headers, RANDOM_RUNS },
        { "oversized unknown frame", sc_oversize_unknown, RANDOM_RUNS },
        { "oversized SETTINGS", sc_oversize_settings, RANDOM_RUNS },
        { "frame sizes", sc_frame_size_fields, RANDOM_RUNS },
        { "preface", sc_preface, RANDOM_RUNS },
        { "malformed requests", sc_malformed_requests, RANDOM_RUNS },
        { "self-dependency, MAX_FRAME_SIZE", sc_priority_self, RANDOM_RUNS },
        { "HPACK errors", sc_hpack_errors, RANDOM_RUNS },
        { "DATA on idle streams", sc_data_idle, RANDOM_RUNS },
        { "even stream id", sc_even_id, RANDOM_RUNS },
        { "decreasing stream id", sc_decreasing_id, RANDOM_RUNS },
        { "reused stream id", sc_reuse_id, RANDOM_RUNS },
        { "after END_STREAM", sc_data_after_end, RANDOM_RUNS },
        { "RST_STREAM/WINDOW_UPDATE on idle", sc_rst_idle, RANDOM_RUNS },
        { "RST_STREAM cancels", sc_rst_cancels, RANDOM_RUNS },
        { "CONTINUATION without HEADERS", sc_continuation_alone, RANDOM_RUNS },
        { "interleaved header block", sc_interleaved, RANDOM_RUNS },
        { "PUSH_PROMISE", sc_push_promise, RANDOM_RUNS },
        { "small window", sc_small_window, RANDOM_RUNS },
        { "INITIAL_WINDOW_SIZE changes", sc_initial_window_changes, RANDOM_RUNS },
        { "connection window", sc_conn_window, RANDOM_RUNS / 3 },
        { "WINDOW_UPDATE overflow (connection)", sc_wu_overflow_conn, RANDOM_RUNS },
        { "WINDOW_UPDATE overflow (stream)", sc_wu_overflow_stream, RANDOM_RUNS },
        { "big message", sc_big_message, RANDOM_RUNS / 3 },
        { "split at every offset", sc_split_every_offset, RANDOM_RUNS },
        { "two messages in a frame", sc_two_in_one, RANDOM_RUNS },
        { "4 GiB claim", sc_huge_claim, RANDOM_RUNS },
        { "compressed flag", sc_compressed, RANDOM_RUNS },
        { "request message count", sc_unary_count, RANDOM_RUNS },
        { "protobuf fields", sc_proto_fields, RANDOM_RUNS },
        { "follow", sc_follow, RANDOM_RUNS },
        { "protobuf unknown fields", sc_proto_unknown, RANDOM_RUNS },
        { "protobuf malformed", sc_proto_malformed, RANDOM_RUNS },
        { "grpc+json", sc_json, RANDOM_RUNS },
        { "pipelined unary calls", sc_pipelined_unary, RANDOM_RUNS },
        { "pipelined bidi calls", sc_pipelined_bidi, RANDOM_RUNS },
        { "zero-window client", sc_zero_window_hog, RANDOM_RUNS },
        { "gs_conn_close frees", sc_close_frees, RANDOM_RUNS / 4 },
        { "graceful GOAWAY", sc_goaway_graceful, RANDOM_RUNS },
        { "gs_conn_goaway repeated", sc_goaway_repeated, 0 },
    };
    size_t i;
    for (i = 0; i < LEN(all); i++) {
        if (argc > 1 && !strstr(all[i].name, argv[1])) continue;
        run(all[i].name, all[i].fn, all[i].randoms);
    }
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
