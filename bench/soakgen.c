/* soakgen.c - streams a long mixed JSON-lines session for bench/soak.sh.
 *
 * usage: soakgen N [SEED [PLAIN]]
 *
 * Writes N lines to stdout: an init from c0, then a realistic mix from
 * clients c1..c8: bidi opens, sends and closes, WatchLogs with filters and
 * limits (1..64), follow watches (limit 1..4), Appends, stream state,
 * cancels, deadlines (timeout_ms 1..800 on some opens and watches) and a
 * few bad lines (cut off JSON, unknown type, unknown stream, unknown
 * method, a wrong-typed field). The first PLAIN lines (default 200000) have
 * no timeout_ms, so that prefix can be checked against tests/model.py,
 * which has no clock; the session for a smaller N is a prefix of the one
 * for a larger N (same SEED and PLAIN).
 *
 * Stream ids are predicted as the node assigns them (s1, s2, ... in open
 * order): every open succeeds because at most 8 streams per client are
 * held, 64 in all, below the node's 100 slots. A stream that a deadline or
 * a limit ended is still "held" by the generator until it closes or
 * cancels it (the node then answers code 22, which is fine).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 8
#define PER_CLIENT 8
#define BUF (1 << 16)

static char out[BUF + 4096];
static size_t out_len;
static uint64_t rng = 88172645463325252ull;
static unsigned long long msg_id = 1, line_no, plain_lines = 200000;
static unsigned long long next_stream = 1;

typedef struct { unsigned long long id; int follow; } held;
static held streams[CLIENTS][PER_CLIENT];
static int nheld[CLIENTS];

static void flush_out(void)
{
    size_t off = 0;
    while (off < out_len) {
        ssize_t w = write(1, out + off, out_len - off);
        if (w <= 0) exit(1);
        off += (size_t)w;
    }
    out_len = 0;
}

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned below(unsigned n) { return (unsigned)(next() % n); }

static void put(const char *fmt, ...);

#include <stdarg.h>
static void put(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(out + out_len, sizeof out - out_len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof out - out_len) { fputs("soakgen: line too long\n", stderr); exit(2); }
    out_len += (size_t)n;
    if (out_len >= BUF) flush_out();
}

static const char *const words[] = {
    "disk", "full", "connection", "reset", "timeout", "user", "login", "cache",
    "miss", "request", "served", "retry", "shard", "queue", "latency", "gc",
    "caf\\u00e9", "\\u65e5\\u672c", "\\ud83d\\ude00", "tab\\there", "q\\\"uote", "\xc3\xa9t\xc3\xa9"
};
static const char *const levels[] = { "INFO", "ERROR", "WARN", "DEBUG" };

static char text[512];
static const char *mktext(void)
{
    size_t len = 0;
    unsigned i, n = 1 + below(6);
    for (i = 0; i < n; i++) {
        const char *w = words[below(sizeof words / sizeof *words)];
        size_t l = strlen(w);
        if (i) text[len++] = ' ';
        memcpy(text + len, w, l);
        len += l;
    }
    text[len] = 0;
    return text;
}

/* ,"timeout_ms":N on some calls once past the plain prefix. */
static char tbuf[40];
static const char *timeout(unsigned percent)
{
    tbuf[0] = 0;
    if (line_no > plain_lines && below(100) < percent)
        snprintf(tbuf, sizeof tbuf, ",\"timeout_ms\":%u", 1 + below(800));
    return tbuf;
}

static const char *filter(void)
{
    unsigned f = below(100);
    if (f < 35) return "\"filter\":\"ERROR\",";
    if (f < 55) {
        static char b[32];
        snprintf(b, sizeof b, "\"filter\":\"%s\",", levels[below(4)]);
        return b;
    }
    if (f < 65) return "\"filter\":\"\",";
    if (f < 70) return "\"filter\":null,";
    if (f < 71) return "\"filter\":\"NOSUCHLEVEL\",";
    return "";
}

#define HEAD "{\"src\":\"c%d\",\"dest\":\"n1\",\"body\":{\"type\":\"%s\",\"msg_id\":%llu"

static void open_bidi(int c)
{
    put(HEAD ",\"service\":\"Chat\",\"method\":\"BiDiChat\"%s}}\n", c + 1,
        "grpc_bidi_stream_open", ++msg_id, timeout(10));
    streams[c][nheld[c]].id = next_stream++;
    streams[c][nheld[c]++].follow = 0;
}

static void follow(int c)
{
    put(HEAD ",\"service\":\"LogWatcher\",\"method\":\"WatchLogs\",\"request\":{%s\"limit\":%u,\"follow\":true}%s}}\n",
        c + 1, "grpc_server_stream", ++msg_id, filter(), 1 + below(4), timeout(20));
    streams[c][nheld[c]].id = next_stream++;
    streams[c][nheld[c]++].follow = 1;
}

static void watch(int c)
{
    static const unsigned limits[] = { 1, 2, 3, 3, 3, 5, 8, 10, 16, 64 };
    put(HEAD ",\"service\":\"LogWatcher\",\"method\":\"WatchLogs\",\"request\":{%s\"limit\":%u}%s}}\n",
        c + 1, "grpc_server_stream", ++msg_id, filter(), limits[below(10)], timeout(2));
}

static int pick_bidi(int c)
{
    int i, k = 0, idx[PER_CLIENT];
    for (i = 0; i < nheld[c]; i++) if (!streams[c][i].follow) idx[k++] = i;
    return k ? idx[below((unsigned)k)] : -1;
}

static void drop(int c, int i) { streams[c][i] = streams[c][--nheld[c]]; }

static void step(void)
{
    int c = (int)below(CLIENTS), b = pick_bidi(c), room = nheld[c] < PER_CLIENT;
    unsigned x = below(1000);
    if (x < 550) {
        if (b >= 0)
            put(HEAD ",\"stream_id\":\"s%llu\",\"data\":{\"text\":\"%s\"}}}\n", c + 1,
                "grpc_bidi_stream_send", ++msg_id, streams[c][b].id, mktext());
        else if (room) open_bidi(c);
        else watch(c);
    } else if (x < 600) {
        if (room) open_bidi(c); else watch(c);
    } else if (x < 640) {
        if (b >= 0) {
            put(HEAD ",\"stream_id\":\"s%llu\"}}\n", c + 1, "grpc_bidi_stream_close", ++msg_id, streams[c][b].id);
            drop(c, b);
        } else watch(c);
    } else if (x < 800) {
        watch(c);
    } else if (x < 850) {
        put(HEAD ",\"service\":\"LogWatcher\",\"method\":\"Append\",\"request\":{\"level\":\"%s\",\"msg\":\"%s\"}}}\n",
            c + 1, "grpc_call", ++msg_id, levels[below(4)], mktext());
    } else if (x < 940) {
        unsigned long long id = nheld[c] ? streams[c][below((unsigned)nheld[c])].id
                                         : (next_stream > 1 ? 1 + next() % (next_stream - 1) : 999999);
        put(HEAD ",\"stream_id\":\"s%llu\"}}\n", c + 1, "grpc_stream_state", ++msg_id, id);
    } else if (x < 955) {
        if (nheld[c]) {
            int i = (int)below((unsigned)nheld[c]);
            put(HEAD ",\"stream_id\":\"s%llu\"}}\n", c + 1, "grpc_stream_cancel", ++msg_id, streams[c][i].id);
            drop(c, i);
        } else watch(c);
    } else if (x < 962) {
        if (room) follow(c); else watch(c);
    } else if (x < 966) {
        switch (below(5)) {
        case 0: ++msg_id; put("{\"src\":\"c%d\",\"dest\":\"n1\",\"body\":{\"type\":\n", c + 1); break;
        case 1: put(HEAD "}}\n", c + 1, "grpc_frobnicate", ++msg_id); break;
        case 2: put(HEAD ",\"stream_id\":\"s999999999\",\"data\":{\"text\":\"x\"}}}\n", c + 1,
                    "grpc_bidi_stream_send", ++msg_id); break;
        case 3: put(HEAD ",\"service\":\"Chat\",\"method\":\"Nope\"}}\n", c + 1, "grpc_bidi_stream_open", ++msg_id); break;
        default: put(HEAD ",\"service\":\"LogWatcher\",\"method\":\"WatchLogs\",\"request\":{\"filter\":7}}}\n",
                     c + 1, "grpc_server_stream", ++msg_id); break;
        }
    } else {
        watch(c);
    }
}

int main(int argc, char **argv)
{
    unsigned long long n, seed = 1;
    if (argc < 2 || argc > 4) {
        fputs("usage: soakgen N [SEED [PLAIN]]\n", stderr);
        return 2;
    }
    n = strtoull(argv[1], NULL, 10);
    if (argc > 2) seed = strtoull(argv[2], NULL, 10);
    if (argc > 3) plain_lines = strtoull(argv[3], NULL, 10);
    rng ^= seed * 0x9E3779B97F4A7C15ull;
    if (!rng) rng = 1;
    if (n) {
        put("{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n");
        line_no = 1;
    }
    for (; line_no < n; line_no++) step();
    flush_out();
    return 0;
}
