/*
 * fuzz_h2.c - the HTTP/2 front end (grpcstream.c sections 12-13, driven
 * through the gs_conn_* API) under libFuzzer. grpcstream.c is included
 * whole, so the checks can read the connections' and streams' state and
 * decode what the server writes with its own hp_decode.
 *
 * NCONN connections are opened (gs_conn_open), each fed a client preface
 * and an empty SETTINGS frame. The input is then records; a record's first
 * byte c names a connection k = (c >> 6) % NCONN, an action c & 7 and an
 * argument a = c >> 3 & 7:
 *   0-3  feed k the next L bytes (L: the next byte + 1) in pieces of a
 *        bytes (0: whole), draining k whole whenever gs_conn_feed stops
 *        short;
 *   4    drain k: a = 0 all of it, a = 7 nothing (gs_conn_output only),
 *        else (next byte + 1) << (a - 1) bytes;
 *   5    the clock: gs_tick(now += next byte << 2a), or for a = 7 to
 *        when gs_timeout says the next thing is due;
 *   6    gs_pump;
 *   7    a = 0: close k and open it anew; 1: gs_conn_goaway; 2:
 *        gs_end_calls(UNAVAILABLE); else gs_pump and drain every connection.
 * A connection drained whole that is closing (gs_conn_closing) is closed
 * and opened anew, as main() does. At the end: rounds of gs_pump, full
 * drains and clock jumps (gs_timeout), then gs_conn_close of every
 * connection.
 * Checked:
 *   - after every action: output at most GS_H2_OUT bytes; a connection's
 *     live count is the number of slots its streams hold (and no stream
 *     points at a free connection); windows: the connection's receive
 *     window 0..H2_CONN_WINDOW, its send window >= 0 (and at most 2^31-1
 *     while open), a stream's receive window 0..H2_STREAM_WINDOW; a
 *     stream's buffered bytes within GS_H2_BUF; stream ids odd and at most
 *     last_sid; the stream table (free list, queues, deadline count);
 *   - what the server writes parses as frames: SETTINGS first; only DATA,
 *     HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE
 *     (increment > 0), with the lengths and stream ids RFC 9113 wants, no
 *     longer than the peer's SETTINGS_MAX_FRAME_SIZE; each HEADERS is a
 *     whole block (END_HEADERS, no padding or priority) that decodes with
 *     hp_decode and leaves its table empty (the server never indexes);
 *     per stream: response headers (:status first) before any DATA, then
 *     trailers (END_STREAM, grpc-status 0..16, no pseudo-header), or
 *     Trailers-Only; nothing after END_STREAM or a RST_STREAM but
 *     RST_STREAM; a gRPC response's DATA is whole length-prefixed
 *     messages (flag 0) when its trailers come; DATA within the windows
 *     the client's frames (those the server took) granted: on a stream at
 *     most the largest SETTINGS_INITIAL_WINDOW_SIZE plus its
 *     WINDOW_UPDATEs, on the connection 65535 plus its WINDOW_UPDATEs;
 *     nothing at all after a GOAWAY with an error code (a connection
 *     error: the connection "closes once its output is written");
 *   - after gs_conn_close of every connection: every slot GS_FREE and on
 *     the free list, no queue, no deadline.
 */
#ifndef GS_NO_MAIN
#define GS_NO_MAIN
#endif
#include "../grpcstream.c"
#include "fuzz_common.h"

#if GS_MAX_CONNS < 1
#error "fuzz_h2.c needs GS_MAX_CONNS >= 1"
#endif
#define NCONN (GS_MAX_CONNS < 3 ? GS_MAX_CONNS : 3)
#define MAX_SIDS 2048

enum { S_IDLE, S_HEADERS, S_ENDED, S_RESET };

/* One stream as the client sees it. */
typedef struct {
    uint32_t sid;
    uint8_t state, grpc, unchecked;
    uint8_t nprefix, prefix[5];     /* a gRPC message's prefix as it comes */
    uint32_t left;                  /* bytes of the message still to come */
    uint64_t sent, granted;         /* DATA bytes sent; WINDOW_UPDATEs */
} strm;

/* The client's view of one connection: the server's frames, and what
 * its own frames granted (as far as the server took them). */
typedef struct {
    int ci;                         /* its slot */
    uint8_t head[9], type, flags;
    unsigned hlen;
    uint32_t len, got, sid, max_frame, frames, goaway_error;
    uint64_t sent;                  /* DATA bytes on the connection */
    strm *cur;                      /* the DATA frame's stream */
    uint8_t pay[H2_FRAME];
    uint8_t chead[9], cctl[6];      /* the client's frames */
    unsigned chlen;
    uint32_t clen, cgot;
    uint64_t max_initial, granted;  /* largest INITIAL_WINDOW_SIZE; connection WINDOW_UPDATEs */
    unsigned nst;
    strm st[MAX_SIDS];
    gs_hpack_dec dec;
} peer;

static gs_node node;
static peer peers[NCONN];
static uint64_t now;

static strm *find(peer *p, uint32_t sid)
{
    static strm spare;
    unsigned i;
    for (i = 0; i < p->nst; i++)
        if (p->st[i].sid == sid) return &p->st[i];
    memset(&spare, 0, sizeof spare);
    spare.unchecked = 1;
    if (p->nst == MAX_SIDS) return &spare;
    p->st[p->nst] = spare;
    p->st[p->nst].sid = sid;
    p->st[p->nst].unchecked = 0;
    return &p->st[p->nst++];
}

/* ----- the client's frames: the windows it grants ---------------------- */

static void client_bytes(peer *p, const uint8_t *s, size_t n)
{
    while (n) {
        size_t k;
        if (p->chlen < 9) {
            p->chead[p->chlen++] = *s++, n--;
            if (p->chlen < 9) continue;
            p->clen = (uint32_t)p->chead[0] << 16 | (uint32_t)p->chead[1] << 8 | p->chead[2];
            p->cgot = 0;
            if (!p->clen) p->chlen = 0;
            continue;
        }
        if (p->chead[3] == H2_SETTINGS || (p->chead[3] == H2_WINDOW_UPDATE && p->cgot < 4)) {
            uint32_t pos = p->cgot++;
            p->cctl[p->chead[3] == H2_SETTINGS ? pos % 6 : pos] = *s++, n--;
            if (p->chead[3] == H2_SETTINGS && pos % 6 == 5 && p->cctl[0] == 0 && p->cctl[1] == 4 &&
                h2_u32(p->cctl + 2) > p->max_initial)
                p->max_initial = h2_u32(p->cctl + 2);
            if (p->chead[3] == H2_WINDOW_UPDATE && pos == 3) {
                uint32_t sid = h2_u32(p->chead + 5) & 0x7FFFFFFF, inc = h2_u32(p->cctl) & 0x7FFFFFFF;
                if (sid) find(p, sid)->granted += inc;
                else p->granted += inc;
            }
        } else {
            k = n < p->clen - p->cgot ? n : p->clen - p->cgot;
            p->cgot += (uint32_t)k, s += k, n -= k;
        }
        if (p->cgot == p->clen) p->chlen = 0;
    }
}

/* ----- the server's output, frame by frame ----------------------------- */

/* A HEADERS block: decodes it; returns 1 if it has grpc-status, | 2 if
 * its content-type is a gRPC one. */
static int headers_block(peer *p, int response)
{
    const uint8_t *s = p->pay, *end = p->pay + p->len;
    int r, i = 0, seen = 0;
    hp_block_begin(&p->dec, UINT32_MAX);
    while ((r = hp_decode(&p->dec, &s, end)) == HP_FIELD) {
        const gs_hpack_dec *d = &p->dec;
        uint32_t k;
        FUZZ_CHECK(!d->name_over && !d->value_over && d->name_len > 0, "server field: over, or no name");
        for (k = 0; k < d->name_len; k++)
            FUZZ_CHECK(!(d->name[k] >= 'A' && d->name[k] <= 'Z'), "server field name not lower case");
        if (i++ == 0 && response)
            FUZZ_CHECK(d->name_len == 7 && memcmp(d->name, ":status", 7) == 0 && d->value_len == 3,
                       "response headers do not start with :status");
        else
            FUZZ_CHECK(d->name[0] != ':', "pseudo-header %.*s where none may be", (int)d->name_len, d->name);
        if (d->name_len == 11 && memcmp(d->name, "grpc-status", 11) == 0) {
            FUZZ_CHECK(d->value_len >= 1 && d->value_len <= 2 && d->value[0] >= '0' && d->value[0] <= '9' &&
                       (d->value_len == 1 || (d->value[0] == '1' && d->value[1] >= '0' && d->value[1] <= '6')),
                       "grpc-status %.*s", (int)d->value_len, d->value);
            seen |= 1;
        }
        if (d->name_len == 12 && memcmp(d->name, "content-type", 12) == 0 && d->value_len >= 16 &&
            memcmp(d->value, "application/grpc", 16) == 0)
            seen |= 2;
    }
    FUZZ_CHECK(r == HP_MORE && hp_block_end(&p->dec) == 0, "server header block does not decode: %s", p->dec.why);
    FUZZ_CHECK(p->dec.tab.count == 0, "the server indexed a field");
    FUZZ_CHECK(!response || i > 0, "empty response headers");
    return seen;
}

/* A DATA frame begins: within the windows the client granted. */
static void data_begin(peer *p)
{
    const gs_h2_conn *c = &node.conns[p->ci];
    strm *st = p->cur = find(p, p->sid);
    FUZZ_CHECK((p->sid & 1) && p->sid <= c->last_sid, "DATA on stream %u (last %u)", p->sid, c->last_sid);
    FUZZ_CHECK(!(p->flags & H2F_PADDED), "padded DATA");
    FUZZ_CHECK(st->unchecked || st->state == S_HEADERS, "DATA on stream %u in state %u", p->sid, st->state);
    st->sent += p->len;
    p->sent += p->len;
    FUZZ_CHECK(st->unchecked || st->sent <= p->max_initial + st->granted,
               "stream %u: %llu DATA bytes, the client allowed at most %llu", p->sid,
               (unsigned long long)st->sent, (unsigned long long)(p->max_initial + st->granted));
    FUZZ_CHECK(p->sent <= H2_DEFAULT_WINDOW + p->granted, "connection: %llu DATA bytes, allowed %llu",
               (unsigned long long)p->sent, (unsigned long long)(H2_DEFAULT_WINDOW + p->granted));
}

/* DATA bytes of a gRPC response: length-prefixed messages. */
static void data_bytes(strm *st, const uint8_t *s, size_t n)
{
    if (!st->grpc) return;
    while (n) {
        size_t k;
        if (st->left) {
            k = n < st->left ? n : st->left;
            st->left -= (uint32_t)k, s += k, n -= k;
            continue;
        }
        st->prefix[st->nprefix++] = *s++, n--;
        if (st->nprefix < 5) continue;
        FUZZ_CHECK(st->prefix[0] == 0, "response message with compressed flag %u", st->prefix[0]);
        st->left = h2_u32(st->prefix + 1);
        FUZZ_CHECK(st->left <= GS_H2_BUF - 5, "response message of %u bytes", st->left);
        st->nprefix = 0;
    }
}

static void frame_end(peer *p)
{
    const gs_h2_conn *c = &node.conns[p->ci];
    int end_stream = p->flags & H2F_END_STREAM, seen;
    strm *st;
    FUZZ_CHECK(p->frames++ > 0 || (p->type == H2_SETTINGS && !(p->flags & H2F_ACK)),
               "first frame: type %u flags %u", p->type, p->flags);
    FUZZ_CHECK(!p->goaway_error, "frame (type %u) after GOAWAY with error %u", p->type, p->goaway_error);
    switch (p->type) {
    case H2_SETTINGS:
        FUZZ_CHECK(!p->sid && ((p->flags & H2F_ACK) ? p->len == 0 : p->len % 6 == 0), "SETTINGS: sid/length");
        break;
    case H2_PING:                   /* an ACK, or the server's own liveness check */
        FUZZ_CHECK(!p->sid && p->len == 8, "PING: sid/length");
        break;
    case H2_GOAWAY:
        FUZZ_CHECK(!p->sid && p->len == 8, "GOAWAY: sid/length");
        p->goaway_error = h2_u32(p->pay + 4);
        break;
    case H2_WINDOW_UPDATE:
        FUZZ_CHECK(p->len == 4 && (h2_u32(p->pay) & 0x7FFFFFFF) > 0, "WINDOW_UPDATE: length/increment");
        break;
    case H2_RST_STREAM:
        FUZZ_CHECK(p->sid && p->len == 4, "RST_STREAM: sid/length");
        st = find(p, p->sid);
        if (st->state == S_HEADERS) st->state = S_RESET;
        break;
    case H2_HEADERS:
        FUZZ_CHECK((p->sid & 1) && p->sid <= c->last_sid, "HEADERS on stream %u (last %u)", p->sid, c->last_sid);
        FUZZ_CHECK((p->flags & H2F_END_HEADERS) && !(p->flags & (H2F_PADDED | H2F_PRIORITY)),
                   "HEADERS flags %#x", p->flags);
        st = find(p, p->sid);
        FUZZ_CHECK(st->unchecked || st->state == S_IDLE || st->state == S_HEADERS,
                   "HEADERS on stream %u in state %u", p->sid, st->state);
        if (st->state == S_IDLE) {
            seen = headers_block(p, 1);
            st->grpc = (seen & 2) != 0;
            FUZZ_CHECK(!end_stream || (seen & 1), "Trailers-Only without grpc-status");
        } else {
            FUZZ_CHECK(end_stream && (headers_block(p, 0) & 1), "trailers without END_STREAM or grpc-status");
            FUZZ_CHECK(!st->left && !st->nprefix, "trailers inside a response message");
        }
        st->state = end_stream ? S_ENDED : S_HEADERS;
        break;
    case H2_DATA:
        if (end_stream) p->cur->state = S_ENDED;
        break;
    default:
        FUZZ_FAIL("the server wrote a frame of type %u", p->type);
    }
    p->hlen = 0;
    p->got = 0;
}

static void output_bytes(peer *p, const uint8_t *s, size_t n)
{
    while (n) {
        size_t k;
        if (p->hlen < 9) {
            p->head[p->hlen++] = *s++, n--;
            if (p->hlen < 9) continue;
            p->len = (uint32_t)p->head[0] << 16 | (uint32_t)p->head[1] << 8 | p->head[2];
            p->type = p->head[3];
            p->flags = p->head[4];
            p->sid = h2_u32(p->head + 5);
            FUZZ_CHECK(!(p->sid >> 31), "reserved bit set");
            FUZZ_CHECK(p->len <= p->max_frame, "frame of %u bytes, peer allows %u", p->len, p->max_frame);
            if (p->type == H2_DATA) data_begin(p);
            if (p->len == 0) frame_end(p);
            continue;
        }
        k = n < p->len - p->got ? n : p->len - p->got;
        if (p->type == H2_DATA) data_bytes(p->cur, s, k);
        else memcpy(p->pay + p->got, s, k);
        p->got += (uint32_t)k, s += k, n -= k;
        if (p->got == p->len) frame_end(p);
    }
}

/* ----- the server's state ---------------------------------------------- */

static void check_node(void)
{
    uint8_t seen[GS_MAX_STREAMS];
    unsigned live[GS_MAX_CONNS], q;
    int i, nfree = 0, ndeadline = 0, nq[3] = { 0, 0, 0 }, steps;
    int16_t k;
    memset(live, 0, sizeof live);
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        const gs_stream *s = &node.streams[i];
        const gs_h2_stream *h = &s->fe.h2;
        const gs_h2_conn *c;
        if (s->state == GS_FREE) { nfree++; continue; }
        FUZZ_CHECK(s->front == FE_H2 && h->conn < GS_MAX_CONNS, "slot %d: front %u conn %u", i, s->front, h->conn);
        FUZZ_CHECK(s->state == GS_OPEN || s->state == GS_HALF_CLOSED || s->state == GS_CLOSING,
                   "slot %d: state %u", i, s->state);
        c = &node.conns[h->conn];
        FUZZ_CHECK(c->state != H2_FREE, "slot %d on free connection %u", i, h->conn);
        FUZZ_CHECK((h->sid & 1) && h->sid <= c->last_sid, "slot %d: sid %u, last %u", i, h->sid, c->last_sid);
        FUZZ_CHECK(h->rx_len <= GS_H2_BUF && (uint64_t)h->tx_off + h->tx_len <= GS_H2_BUF,
                   "slot %d: rx %u, tx %u+%u", i, h->rx_len, h->tx_off, h->tx_len);
        FUZZ_CHECK(h->recv_window >= 0 && h->recv_window <= (int64_t)H2_STREAM_WINDOW, "slot %d: receive window %lld", i,
                   (long long)h->recv_window);
        FUZZ_CHECK(c->state == H2_CLOSING || h->send_window <= H2_WINDOW_MAX, "slot %d: send window %lld", i,
                   (long long)h->send_window);
        live[h->conn]++;
        if (s->deadline) ndeadline++;
        FUZZ_CHECK(s->queued <= 2 && !(s->waiting && s->queued), "slot %d: queued %u waiting %u", i, s->queued,
                   s->waiting);
        nq[s->queued]++;
    }
    for (i = 0; i < GS_MAX_CONNS; i++) {
        const gs_h2_conn *c = &node.conns[i];
        FUZZ_CHECK(c->out_len <= GS_H2_OUT, "connection %d: %zu bytes of output", i, c->out_len);
        if (c->state == H2_FREE) {
            FUZZ_CHECK(live[i] == 0, "free connection %d holds %u slots", i, live[i]);
            continue;
        }
        FUZZ_CHECK(c->live == live[i], "connection %d: live %u, its streams hold %u slots", i, c->live, live[i]);
        FUZZ_CHECK(c->recv_window >= 0 && c->recv_window <= H2_CONN_WINDOW, "connection %d: receive window %lld",
                   i, (long long)c->recv_window);
        FUZZ_CHECK(c->send_window >= 0 && (c->state == H2_CLOSING || c->send_window <= H2_WINDOW_MAX),
                   "connection %d: send window %lld", i, (long long)c->send_window);
    }
    FUZZ_CHECK(node.deadlines == (unsigned)ndeadline, "deadlines %u, %d streams have one", node.deadlines, ndeadline);
    memset(seen, 0, sizeof seen);
    for (k = node.free_head, steps = 0; k >= 0; k = node.streams[k].next_free, steps++) {
        FUZZ_CHECK(k < GS_MAX_STREAMS && !seen[k] && node.streams[k].state == GS_FREE, "free list: slot %d", k);
        seen[k] = 1;
    }
    FUZZ_CHECK(steps == nfree, "free list %d long, %d free slots", steps, nfree);
    FUZZ_CHECK((int)node.urgent_len == nq[1] && (int)node.runq_len == nq[2], "queues %u/%u long, %d/%d marked",
               node.urgent_len, node.runq_len, nq[1], nq[2]);
    memset(seen, 0, sizeof seen);
    for (q = 0; q < node.urgent_len + node.runq_len; q++) {
        int urgent = q < node.urgent_len;
        k = urgent ? node.urgent[(node.urgent_head + q) % GS_MAX_STREAMS]
                   : node.runq[(node.runq_head + q - node.urgent_len) % GS_MAX_STREAMS];
        FUZZ_CHECK(k >= 0 && k < GS_MAX_STREAMS && !seen[k] && node.streams[k].state != GS_FREE &&
                   node.streams[k].queued == (urgent ? 1 : 2), "queue entry %d", k);
        seen[k] = 1;
    }
}

/* ----- driving it ------------------------------------------------------- */

static void step_checks(void)
{
    int k;
    check_node();
    for (k = 0; k < NCONN; k++) {
        uint32_t m = node.conns[peers[k].ci].peer_max_frame;
        if (m > peers[k].max_frame) peers[k].max_frame = m;
    }
}

/* The clock jumps to the next thing due (gs_timeout), as main()'s poll
 * would wait; one second if nothing is. */
static void next_deadline(void)
{
    int64_t t = gs_timeout(&node);
    FUZZ_CHECK(t >= -1, "gs_timeout %lld", (long long)t);
    now += t < 0 ? 1000 : (uint64_t)t;
}

static void open_conn(int k)
{
    static const uint8_t settings[9] = { 0, 0, 0, H2_SETTINGS, 0, 0, 0, 0, 0 };
    peer *p = &peers[k];
    int ci = gs_conn_open(&node);
    FUZZ_CHECK(ci >= 0, "gs_conn_open: no slot");
    memset(p, 0, offsetof(peer, st));
    p->ci = ci;
    p->max_frame = H2_FRAME;
    p->max_initial = H2_DEFAULT_WINDOW;
    hp_dec_init(&p->dec);
    FUZZ_CHECK(gs_conn_feed(&node, ci, h2_preface, sizeof h2_preface - 1) == sizeof h2_preface - 1 &&
               gs_conn_feed(&node, ci, (const char *)settings, 9) == 9, "preface and SETTINGS not taken");
    step_checks();
}

/* Drains up to `amount` bytes of connection k's output (SIZE_MAX: until
 * it has nothing more; then a closing connection is closed and opened
 * anew). */
static void drain(int k, size_t amount)
{
    int rounds;
    for (rounds = 0; rounds < 64; rounds++) {
        size_t n, take;
        const char *o = gs_conn_output(&node, peers[k].ci, &n);
        FUZZ_CHECK(n <= GS_H2_OUT, "gs_conn_output: %zu bytes", n);
        step_checks();
        take = amount < n ? amount : n;
        output_bytes(&peers[k], (const uint8_t *)o, take);
        gs_conn_output_done(&node, peers[k].ci, take);
        if (amount != SIZE_MAX || n == 0) break;
    }
    if (amount == SIZE_MAX && gs_conn_closing(&node, peers[k].ci)) {
        gs_conn_close(&node, peers[k].ci);
        step_checks();
        open_conn(k);
    }
}

static void feed(int k, const uint8_t *s, size_t n, size_t piece)
{
    size_t off = 0;
    int stuck = 0;
    while (off < n) {
        size_t want = piece && n - off > piece ? piece : n - off;
        size_t used = gs_conn_feed(&node, peers[k].ci, (const char *)s + off, want);
        FUZZ_CHECK(used <= want, "gs_conn_feed used %zu of %zu", used, want);
        client_bytes(&peers[k], s + off, used);
        off += used;
        if (used < want) {
            FUZZ_CHECK(++stuck < 100, "gs_conn_feed takes nothing though its output was drained");
            drain(k, SIZE_MAX);
        }
    }
    step_checks();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    int k, round;
    gs_init(&node);
    now = 1000;
    gs_tick(&node, now);
    for (k = 0; k < NCONN; k++) open_conn(k);
    while (off < size) {
        uint8_t c = data[off++], a = c >> 3 & 7;
        k = (c >> 6) % NCONN;
        switch (c & 7) {
        case 4:
            if (a == 0) drain(k, SIZE_MAX);
            else if (a == 7) drain(k, 0);
            else if (off < size) drain(k, (size_t)(data[off++] + 1) << (a - 1));
            break;
        case 5:
            if (a == 7) next_deadline();
            else if (off < size) now += (uint64_t)data[off++] << (2 * a);
            gs_tick(&node, now);
            step_checks();
            break;
        case 6:
            gs_pump(&node);
            step_checks();
            break;
        case 7:
            if (a == 0) {
                gs_conn_close(&node, peers[k].ci);
                step_checks();
                open_conn(k);
            } else if (a == 1) {
                gs_conn_goaway(&node);
            } else if (a == 2) {
                gs_end_calls(&node, GS_UNAVAILABLE, "server shutting down");
            } else {
                gs_pump(&node);
                for (k = 0; k < NCONN; k++) drain(k, SIZE_MAX);
            }
            step_checks();
            break;
        default: {
            size_t len = off < size ? (size_t)data[off++] + 1 : 0;
            if (len > size - off) len = size - off;
            feed(k, data + off, len, a);
            off += len;
        }
        }
    }
    for (round = 0; round < 8; round++) {
        gs_pump(&node);
        for (k = 0; k < NCONN; k++) drain(k, SIZE_MAX);
        next_deadline();
        gs_tick(&node, now);
        step_checks();
    }
    for (k = 0; k < NCONN; k++) gs_conn_close(&node, peers[k].ci);
    check_node();
    for (k = 0; k < GS_MAX_STREAMS; k++)
        FUZZ_CHECK(node.streams[k].state == GS_FREE, "slot %d not free after every connection closed", k);
    FUZZ_CHECK(!node.urgent_len && !node.runq_len && !node.deadlines, "queues or deadlines left");
    return 0;
}
