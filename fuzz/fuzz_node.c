/*
 * fuzz_node.c - the whole JSON-lines node under libFuzzer.
 *
 * Input: byte 0 seeds chunk sizes, clock steps and partial drains; the
 * rest is what stdin would carry. The node (static, gs_init per input) is
 * driven the way main() drives it: gs_tick with a fake clock that moves on
 * as chunks arrive, gs_feed until it stops early, output drained (whole or
 * in part), gs_pump, gs_feed_end, then ticks and pumps until idle, jumping
 * the clock to each next deadline. Checked:
 *   - after every step: stream slots are FREE/OPEN/HALF_CLOSED; the free
 *     list holds exactly the free slots; the id buckets exactly the live
 *     streams with an id, each once; the urgent and run queues hold live
 *     streams marked queued 1 / 2, each once; `deadlines` counts the live
 *     streams with a deadline; live streams never exceed GS_MAX_STREAMS;
 *     ids are unique and <= last_stream_id; a waiting stream is queued
 *     nowhere; a stream that appears during a gs_feed has no deadline or
 *     one after the clock's present (timeout_ms > 0 is always in the future);
 *   - the built-ins and two echo methods with lists and nested messages
 *     (T/Deep, T/Leaf) are served;
 *   - every output line is one object in json.dumps form (ASCII only,
 *     ", " and ": ", escapes as Python writes them), starts with
 *     {"src": ", fits GS_REPLY_MAX, ends with "msg_id": N}} where N counts
 *     up from 0 without a gap; all output ends with a newline.
 */
#include "../grpcstream.h"
#include "fuzz_common.h"

static gs_node node;

/* T/Deep: a unary echo of a request type with lists, a nested (recursive)
 * message, an enum, bytes and a double, so that JSON lines' second pass
 * (lists and messages read as protobuf) and the JSON mapping's writer run
 * on what the fuzzer makes of such requests. Three fields: it fits the
 * smallest GS_MAX_FIELDS. */
static const gs_enum_value deep_enum_values[] = { { "ZERO", 0 }, { "ONE", 1 } };
static const gs_enum deep_enum = { deep_enum_values, 2 };
static const gs_desc deep;
static const gs_field deep_fields[] = {
    GS_LIST("n", 1, GS_SINT64), GS_MESSAGE_FIELD("m", 2, &deep, GS_REPEATED),
    GS_ENUM_FIELD("e", 3, &deep_enum, 0)
};
static const gs_desc deep = { "Deep", deep_fields, 3 };
static const gs_field leaf_fields[] = {
    GS_FIELD("b", 1, GS_BYTES), GS_FIELD("d", 2, GS_DOUBLE), GS_MESSAGE_FIELD("deep", 3, &deep, 0)
};
static const gs_desc leaf = { "Leaf", leaf_fields, 3 };

static int deep_echo(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n, (void)why;
    *resp = *req;
    return GS_OK;
}

static const gs_method deep_method = { "T", "Deep", GS_UNARY, &deep, &deep, deep_echo, NULL, NULL, NULL, NULL };
static const gs_method leaf_method = { "T", "Leaf", GS_UNARY, &leaf, &leaf, deep_echo, NULL, NULL, NULL, NULL };

/* ----- output lines --------------------------------------------------- */

static char *pend;          /* an output line not complete yet */
static size_t pend_len, pend_cap;
static uint64_t expect_msg_id;

static void check_line(const char *s, size_t n)
{
    const char *tail;
    size_t i;
    uint64_t v = 0;
    FUZZ_CHECK(n + 1 <= GS_REPLY_MAX, "line of %zu bytes > GS_REPLY_MAX", n + 1);
    FUZZ_CHECK(n > 9 && memcmp(s, "{\"src\": \"", 9) == 0, "line does not start with {\"src\": \": %.*s",
               (int)(n > 200 ? 200 : n), s);
    FUZZ_CHECK(dumps_line(s, n), "line not in json.dumps form: %.*s", (int)(n > 400 ? 400 : n), s);
    FUZZ_CHECK(n > 2 && s[n - 1] == '}' && s[n - 2] == '}', "line does not end with }}");
    /* "msg_id": N}} at the very end */
    i = n - 2;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') i--;
    FUZZ_CHECK(i < n - 2 && i >= 10, "no msg_id number at the end: %.*s", (int)(n > 200 ? 200 : n), s);
    tail = s + i - 10;
    FUZZ_CHECK(memcmp(tail, "\"msg_id\": ", 10) == 0, "line does not end with \"msg_id\": N}}: %.*s",
               (int)(n > 200 ? 200 : n), s);
    FUZZ_CHECK(n - 2 - i <= 20, "msg_id too long");
    for (; i < n - 2; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    FUZZ_CHECK(v == expect_msg_id, "msg_id %llu, expected %llu", (unsigned long long)v,
               (unsigned long long)expect_msg_id);
    expect_msg_id++;
}

static void take_output(const char *s, size_t n)
{
    size_t i, start = 0;
    for (i = 0; i < n; i++) {
        if (s[i] != '\n') continue;
        if (pend_len) {
            size_t add = i - start;
            if (pend_len + add > pend_cap) {
                pend_cap = (pend_len + add) * 2;
                pend = realloc(pend, pend_cap);
                if (!pend) abort();
            }
            memcpy(pend + pend_len, s + start, add);
            check_line(pend, pend_len + add);
            pend_len = 0;
        } else {
            check_line(s + start, i - start);
        }
        start = i + 1;
    }
    if (start < n) {
        size_t add = n - start;
        if (pend_len + add > pend_cap) {
            pend_cap = (pend_len + add) * 2 + 1024;
            pend = realloc(pend, pend_cap);
            if (!pend) abort();
        }
        memcpy(pend + pend_len, s + start, add);
        pend_len += add;
    }
}

/* Drains all the output (part == 0) or a part of it. */
static void drain(fuzz_rng *r, int part)
{
    size_t n;
    const char *o = gs_output(&node, &n);
    if (!n) return;
    if (part) {
        size_t k = rng_next(r) % (n + 1);
        if (k == 0) k = 1;
        n = k;
    }
    take_output(o, n);
    gs_output_done(&node, n);
}

/* ----- the stream table ----------------------------------------------- */

static void check_streams(void)
{
    uint8_t seen[GS_MAX_STREAMS];
    int i, nfree = 0, nlive = 0, nid = 0, ndeadline = 0, nq1 = 0, nq2 = 0, steps;
    int16_t k;
    unsigned q;

    for (i = 0; i < GS_MAX_STREAMS; i++) {
        const gs_stream *s = &node.streams[i];
        FUZZ_CHECK(s->state == GS_FREE || s->state == GS_OPEN || s->state == GS_HALF_CLOSED,
                   "slot %d: state %u", i, s->state);
        if (s->state == GS_FREE) { nfree++; continue; }
        nlive++;
        FUZZ_CHECK(s->self == i, "slot %d: self %d", i, s->self);
        if (s->fe.jl.id) {
            int m;
            nid++;
            FUZZ_CHECK(s->fe.jl.id <= node.jl.last_stream_id, "slot %d: id %llu > last %llu", i,
                       (unsigned long long)s->fe.jl.id, (unsigned long long)node.jl.last_stream_id);
            for (m = 0; m < i; m++)
                FUZZ_CHECK(node.streams[m].state == GS_FREE || node.streams[m].fe.jl.id != s->fe.jl.id,
                           "id %llu on slots %d and %d", (unsigned long long)s->fe.jl.id, m, i);
        }
        if (s->deadline) ndeadline++;
        FUZZ_CHECK(s->queued <= 2, "slot %d: queued %u", i, s->queued);
        if (s->queued == 1) nq1++;
        if (s->queued == 2) nq2++;
        FUZZ_CHECK(!(s->waiting && s->queued), "slot %d: waiting and queued %u", i, s->queued);
    }
    FUZZ_CHECK(nlive <= GS_MAX_STREAMS, "%d live streams", nlive);
    FUZZ_CHECK(node.deadlines == (unsigned)ndeadline, "deadlines %u, %d streams with one",
               node.deadlines, ndeadline);

    /* free list */
    memset(seen, 0, sizeof seen);
    for (k = node.free_head, steps = 0; k >= 0; k = node.streams[k].next_free, steps++) {
        FUZZ_CHECK(k < GS_MAX_STREAMS, "free list index %d", k);
        FUZZ_CHECK(!seen[k], "slot %d twice on the free list", k);
        seen[k] = 1;
        FUZZ_CHECK(node.streams[k].state == GS_FREE, "slot %d on the free list, state %u", k,
                   node.streams[k].state);
    }
    FUZZ_CHECK(steps == nfree, "free list %d long, %d free slots", steps, nfree);

    /* id buckets */
    memset(seen, 0, sizeof seen);
    steps = 0;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        for (k = node.jl.buckets[i]; k >= 0; k = node.streams[k].fe.jl.next_in_bucket) {
            const gs_stream *s;
            FUZZ_CHECK(k < GS_MAX_STREAMS, "bucket index %d", k);
            FUZZ_CHECK(!seen[k], "slot %d twice in the buckets", k);
            seen[k] = 1;
            s = &node.streams[k];
            FUZZ_CHECK(s->state != GS_FREE && s->fe.jl.id, "bucket %d holds slot %d (state %u, id %llu)", i,
                       k, s->state, (unsigned long long)s->fe.jl.id);
            FUZZ_CHECK(s->fe.jl.id % GS_MAX_STREAMS == (uint64_t)i, "slot %d in the wrong bucket", k);
            steps++;
        }
    }
    FUZZ_CHECK(steps == nid, "buckets hold %d streams, %d live ones have ids", steps, nid);

    /* queues */
    FUZZ_CHECK(node.urgent_len <= GS_MAX_STREAMS && node.runq_len <= GS_MAX_STREAMS &&
               node.urgent_head < GS_MAX_STREAMS && node.runq_head < GS_MAX_STREAMS,
               "queue bounds: urgent %u@%u runq %u@%u", node.urgent_len, node.urgent_head,
               node.runq_len, node.runq_head);
    memset(seen, 0, sizeof seen);
    for (q = 0; q < node.urgent_len; q++) {
        k = node.urgent[(node.urgent_head + q) % GS_MAX_STREAMS];
        FUZZ_CHECK(k >= 0 && k < GS_MAX_STREAMS && !seen[k], "urgent queue entry %d", k);
        seen[k] = 1;
        FUZZ_CHECK(node.streams[k].state != GS_FREE && node.streams[k].queued == 1,
                   "urgent slot %d: state %u queued %u", k, node.streams[k].state, node.streams[k].queued);
    }
    for (q = 0; q < node.runq_len; q++) {
        k = node.runq[(node.runq_head + q) % GS_MAX_STREAMS];
        FUZZ_CHECK(k >= 0 && k < GS_MAX_STREAMS && !seen[k], "run queue entry %d", k);
        seen[k] = 1;
        FUZZ_CHECK(node.streams[k].state != GS_FREE && node.streams[k].queued == 2,
                   "runq slot %d: state %u queued %u", k, node.streams[k].state, node.streams[k].queued);
    }
    FUZZ_CHECK((int)node.urgent_len == nq1 && (int)node.runq_len == nq2,
               "queues %u/%u long, %d/%d streams marked", node.urgent_len, node.runq_len, nq1, nq2);
}

/* Streams that a gs_feed opened must not have a deadline already past. */
static uint8_t snap_state[GS_MAX_STREAMS];
static uint64_t snap_id[GS_MAX_STREAMS];

static void snapshot(void)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        snap_state[i] = node.streams[i].state;
        snap_id[i] = node.streams[i].fe.jl.id;
    }
}

static void check_new_deadlines(uint64_t now)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        const gs_stream *s = &node.streams[i];
        if (s->state == GS_FREE || (snap_state[i] != GS_FREE && snap_id[i] == s->fe.jl.id)) continue;
        FUZZ_CHECK(s->deadline == 0 || s->deadline > now,
                   "slot %d (id %llu) opened at %llu with deadline %llu: already past", i,
                   (unsigned long long)s->fe.jl.id, (unsigned long long)now,
                   (unsigned long long)s->deadline);
    }
}

/* ----- driver --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rng r;
    const char *in;
    size_t n, off = 0;
    uint64_t now = 1000;
    long guard = 0;
    int ended = 0;

    if (size < 1) return 0;
    rng_seed(&r, data[0]);
    in = (const char *)data + 1;
    n = size - 1;
    gs_init(&node);
    gs_register(&node, &deep_method);
    gs_register(&node, &leaf_method);
    pend_len = 0;
    expect_msg_id = 0;

    while (off < n) {
        uint32_t x = rng_next(&r);
        size_t take = data[0] == 0 ? n : (size_t)((x >> 8) % ((x & 3) == 0 ? 512 : (x & 3) == 1 ? 64 : 7) + 1);
        size_t end = off + take > n ? n : off + take;
        /* the clock moves on between reads */
        x = rng_next(&r);
        now += (x & 7) == 0 ? (x >> 8) % 1000 : (x >> 8) % 40;
        while (off < end) {
            size_t used;
            gs_tick(&node, now);
            check_streams();
            snapshot();
            used = gs_feed(&node, in + off, end - off);
            off += used;
            check_streams();
            check_new_deadlines(now);
            gs_pump(&node);
            check_streams();
            if (off < end || gs_output_full(&node)) {
                drain(&r, rng_next(&r) % 4 == 0);
            }
            FUZZ_CHECK(++guard < 10000000, "no progress feeding");
        }
        if (rng_next(&r) % 8 == 0) drain(&r, 1);
    }
    /* end of input: what main() does until idle */
    for (guard = 0;; guard++) {
        int busy;
        int64_t t;
        size_t pending;
        FUZZ_CHECK(guard < 1000000, "no progress at end of input");
        gs_tick(&node, now);
        if (!ended) ended = gs_feed_end(&node);
        busy = gs_pump(&node);
        check_streams();
        gs_output(&node, &pending);
        t = gs_timeout(&node);
        if (ended && !busy && !pending && gs_idle(&node)) break;
        drain(&r, rng_next(&r) % 4 == 0);
        if (!busy && t > 0) now += (uint64_t)t;
        if (t < 0 && !busy && ended && !pending)
            FUZZ_CHECK(gs_idle(&node), "not idle, nothing to run and no deadline");
    }
    drain(&r, 0);
    FUZZ_CHECK(pend_len == 0, "output ends without a newline (%zu bytes)", pend_len);
    return 0;
}
