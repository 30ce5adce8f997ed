/*
 * h2soak.c - a long, checked gRPC load session against grpcstream --listen.
 *
 *   h2soak --port PORT --log FILE [--conns 64] [--slots 320]
 *          [--messages 10000000] [--seed 1] [--progress FILE]
 *          [--seconds 3600] [--warmup 0|1] [--verbose]
 *
 * One single-threaded poll() loop over CONNS HTTP/2 (h2c) connections of
 * non-blocking sockets, speaking raw frames: the HPACK coder (hp_*),
 * protobuf codec (pb_*) and frame constants come from ../grpcstream.c,
 * included whole with GS_NO_MAIN. FILE is the server's --log file as it
 * was when the server started (plain "LEVEL message" lines): those are the
 * log's first entries.
 *
 * Lanes: per connection up to 3 bidi lanes and one unary lane (as many as
 * SLOTS allows: every call in flight holds one of the server's
 * GS_MAX_STREAMS slots, and none may be refused), plus 8 long-follow lanes
 * on the first connections. A lane holds one call at a time.
 *
 * First the warm-up (--warmup 1): every lane opens one BiDiChat at once,
 * on connections that start with SETTINGS_INITIAL_WINDOW_SIZE 0, and
 * sends two messages of 65,530-byte text; nothing can be echoed, so both
 * wait in the slot's request buffer; then the windows open and both echoes
 * are staged back to back. So every per-call buffer the server has for the
 * slots this session uses, and every connection's output buffer, is
 * written through before the session proper, and its memory must stay
 * flat from then on. (Without it, a random session keeps touching those
 * static buffers a little deeper for millions of messages.)
 *
 * Then the session: every lane starts its next call when one ends, until
 * MESSAGES (requests + responses, gRPC messages only) have gone by; then
 * it drains (no new calls, bidi calls half-close, follows are cancelled
 * once they hold every entry, one last WatchLogs reads the whole log).
 *   - bidi lanes (per connection, up to 3): Chat/BiDiChat calls of random
 *     length (0 to 20,000 echoes), pipelined 1..64 deep, texts of 0 to
 *     60,000 bytes (mostly short, some non-ASCII or with control
 *     characters), 5% as application/grpc+json; half-closed with the last
 *     DATA, with an empty DATA right after it, or after the last echo; 3%
 *     cancelled (RST_STREAM CANCEL) part-way; 1% left open with a 20-300 ms
 *     grpc-timeout so that the server ends them DEADLINE_EXCEEDED.
 *   - one unary lane per connection: Append (5% +json), plain WatchLogs with
 *     a filter and a limit, follow watches whose limit is reached within
 *     the backlog, follow watches that a grpc-timeout ends; WatchLogs that
 *     must read the whole log file (a rare level, no limit) are rationed.
 *   - long follow watches on the first connections: every entry, every
 *     ERROR entry (both open the whole session, cancelled at the end), and
 *     six lanes of a level of their own whose limit runs into the future,
 *     started again each time it is reached.
 * Frames are written with random splits (messages across DATA frames, many
 * messages to a frame, padding now and then, header blocks split into
 * CONTINUATIONs), requests use an indexing HPACK encoder (random metadata
 * churns the server's dynamic table), connections have different windows
 * and frame sizes and change SETTINGS_INITIAL_WINDOW_SIZE as they go.
 *
 * Checked: every echo's text, in order; each call's :status, content-type
 * and grpc-status (0, or 4 where a deadline was set to pass); every Append
 * seq is new and larger than every seq acknowledged before the Append was
 * sent, and at the end they are exactly N0+1..N0+APPENDS; every entry a
 * watch receives is in the log rebuilt from those seqs, in order (follow
 * watches: exactly the matching entries, up to their limit; plain ones: a
 * prefix of the matching entries, holding at least those acknowledged
 * before the call began, at most its limit); the last WatchLogs, after
 * every Append, returns the whole log; the server never sends beyond our
 * windows (stream or connection), never sends frames on a closed stream;
 * no call may be refused (calls in flight stay within SLOTS, the server's
 * GS_MAX_STREAMS). At the end every connection stays open and idle, the
 * progress file says "done", and h2soak waits for the GOAWAY NO_ERROR and
 * the close that the server's SIGTERM shutdown must bring on each.
 *
 * --progress FILE is rewritten every 100 ms with "MESSAGES TARGET STATE"
 * (STATE: warm, run, drain, done, fail) for bench/soak-h2.sh's sampler.
 * Prints a summary, PASS:/FAIL: lines and "RESULT messages=N seconds=S
 * rate=R"; exit 0 when everything passed. The first failed check ends
 * the session (FAIL: with the call and what it got, and the calls live).
 */
#define GS_NO_MAIN
#define GS_HPACK_ENC_TABLE 4096     /* the client's encoder indexes */
#include "../grpcstream.c"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ===================================================================== */
/* Limits and knobs                                                       */
/* ===================================================================== */

#define SK_MAX_TEXT 60000           /* longest echo text (protobuf) */
#define SK_JSON_TEXT 4000           /* longest echo text (+json) */
#define SK_STRETCH_TEXT 65530       /* the warm-up's texts: echoes of GS_MAX_VALUE bytes */
#define SK_STRETCH_MSGS 2           /* ...per call: 131,078 bytes, within GS_H2_BUF */
#define SK_TEXT_BUF (SK_STRETCH_TEXT + 256)
#define SK_TX_MAX (SK_TEXT_BUF + 64)    /* one framed request message */
#define SK_RX_CAP 66560             /* one framed response message */
#define SK_OUT_CAP (1 << 20)        /* a connection's output buffer */
#define SK_OUT_HIGH (192 * 1024)    /* ...DATA stops being added above this */
#define SK_IN_CAP (256 * 1024)      /* a connection's input buffer */
#define SK_LANES 12
#define SK_ID_BASE 1000             /* append ids (entry keys above N0) */
#define SK_STALL_MS 15000           /* no message for this long fails */
#define SK_CANCEL_PER_S 20          /* our RST_STREAM budget per connection */

enum { K_BIDI, K_APPEND, K_WATCH, K_FOLLOW, K_NKINDS };
enum { LN_BIDI, LN_UNARY, LN_FOLLOW };
enum { ST_STRETCH, ST_RUN, ST_DRAIN, ST_DONE };

/* Levels appended (by id) and filters. Level "" only the empty filter
 * finds; "x y" is written to the file as a JSON line. */
static const char *const levels[] = { "INFO", "ERROR", "WARN", "DEBUG", "F0", "F1", "F2", "F3",
                                      "F4", "F5", "RARE", "", "x y" };
enum { LV_INFO, LV_ERROR, LV_WARN, LV_DEBUG, LV_F0, LV_RARE = 10, LV_EMPTY, LV_XY, LV_N,
       F_ALL = LV_N, F_NONE, F_N };
static const char *filter_text(int f) { return f == F_ALL ? "" : f == F_NONE ? "NOSUCH" : levels[f]; }

/* ===================================================================== */
/* Small helpers                                                          */
/* ===================================================================== */

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t rng_state = 1;
static uint64_t rnd(void) { return mix64(rng_state++); }
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(unsigned per_mille) { return below(1000) < per_mille; }

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t put_dec(char *d, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (i = 0; i < n; i++) d[i] = tmp[n - 1 - i];
    return n;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) { fputs("h2soak: out of memory\n", stderr); exit(2); }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) { fputs("h2soak: out of memory\n", stderr); exit(2); }
    return p;
}

/* ===================================================================== */
/* Options, counters, failure                                             */
/* ===================================================================== */

static int opt_port, opt_conns = 64, opt_slots = 320, opt_verbose, opt_warmup = 1;
static uint64_t opt_messages = 10000000, opt_seed = 1, opt_seconds = 3600;
static const char *opt_log, *opt_progress;
static int progress_fd = -1;

static uint64_t n_req, n_resp;                  /* gRPC messages */
static uint64_t calls_started[K_NKINDS], calls_done[K_NKINDS];
static uint64_t n_cancelled, n_deadline, n_json, n_trailers_only, n_split_headers, n_padded;
static uint64_t n_settings_changes, n_frames_in, n_frames_out, n_window_updates, n_pings;
static uint64_t bytes_in, bytes_out;
static int state = ST_STRETCH;
static int stretch_total, stretch_open, stretch_sent, stretch_done, stretch_released;
static int live_calls;                          /* holding (maybe) a server slot */
static int max_live_calls;
static uint64_t t_start;

static void progress_write(const char *st)
{
    char line[64];
    int n;
    if (progress_fd < 0) return;
    n = snprintf(line, sizeof line, "%015llu %015llu %-5s\n", (unsigned long long)(n_req + n_resp),
                 (unsigned long long)opt_messages, st);
    if (n > 0 && pwrite(progress_fd, line, (size_t)n, 0) < 0) { /* the sampler copes */ }
}

static void dump_state(void);

static void fail(const char *fmt, ...)
{
    va_list ap;
    printf("FAIL: h2 soak: every reply right: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n    after %llu messages, %.1f s\n", (unsigned long long)(n_req + n_resp),
           (double)(now_ms() - t_start) / 1000.0);
    dump_state();
    fflush(stdout);
    progress_write("fail");
    exit(1);
}

/* ===================================================================== */
/* Contents: echo texts and log entries, pure functions of seeds and ids  */
/* ===================================================================== */

static const char *const tokens[] = {
    "disk", "full", "connection", "reset", "timeout", "user", "login", "cache", "miss",
    "request", "served", "retry", "shard", "queue", "latency", "gc",
    "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80", "na\xc3\xafve",
    "tab\there", "q\"uote", "back\\slash", "line\nbreak", "\x7f", "ctl\x01", "{json}", "%25", "  "
};
#define N_TOKENS (sizeof tokens / sizeof *tokens)
#define N_ASCII_TOKENS 16

/* The text of echo idx of a call: "<idx>:" then words, or empty; with
 * maxlen SK_STRETCH_TEXT, exactly that long. */
static size_t echo_text(uint64_t seed, uint32_t idx, char *buf, size_t maxlen)
{
    uint64_t h = mix64(seed ^ (0xD6E8FEB86659FD93ull * (idx + 1)));
    unsigned cls = (unsigned)(h % 1000);
    size_t target, len;
    if (maxlen == SK_STRETCH_TEXT) {
        len = put_dec(buf, idx);
        buf[len++] = ':';
        memset(buf + len, 'a' + (int)(h % 26), SK_STRETCH_TEXT - len);
        return SK_STRETCH_TEXT;
    }
    if (cls < 20) return 0;
    if (cls < 700) target = (size_t)((h >> 12) % 40);
    else if (cls < 960) target = 40 + (size_t)((h >> 12) % 460);
    else if (cls < 999) target = 500 + (size_t)((h >> 12) % 3500);
    else target = 4000 + (size_t)((h >> 12) % (SK_MAX_TEXT - 4100));
    if (target > maxlen - 16) target = maxlen - 16;
    len = put_dec(buf, idx);
    buf[len++] = ':';
    while (len < target) {
        const char *t;
        size_t tl;
        h = mix64(h);
        if (target - len > 200 && (h & 3) == 0) {       /* bulk */
            size_t k = 64 + (size_t)((h >> 8) % 128);
            if (k > target - len) k = target - len;
            memset(buf + len, 'a' + (int)((h >> 40) % 26), k);
            len += k;
            continue;
        }
        t = tokens[(h >> 8) % N_TOKENS];
        tl = strlen(t);
        if (len + tl + 1 > maxlen) break;
        buf[len++] = ' ';
        memcpy(buf + len, t, tl);
        len += tl;
    }
    return len;
}

static int level_of(uint64_t id)
{
    unsigned r = (unsigned)(mix64(id * 0x2545F4914F6CDD1Dull + 7) % 10000);
    if (r < 3500) return LV_INFO;
    if (r < 5500) return LV_ERROR;
    if (r < 7000) return LV_WARN;
    if (r < 8500) return LV_DEBUG;
    if (r < 9580) return LV_F0 + (int)((r - 8500) / 180);
    if (r < 9620) return LV_RARE;
    if (r < 9720) return LV_EMPTY;
    if (r < 9820) return LV_XY;
    return LV_INFO;
}

/* The msg of append id: "a<id>", then maybe a space and words. */
static size_t append_msg(uint64_t id, char *buf)
{
    uint64_t h = mix64(id * 0x9E3779B97F4A7C15ull + 12345);
    unsigned v = (unsigned)(h % 100), i, words = (unsigned)((h >> 8) % 9);
    size_t len = 0;
    buf[len++] = 'a';
    len += put_dec(buf + len, id);
    if (v >= 98) return len;
    if (v >= 95) {                                   /* long */
        size_t k = 200 + (size_t)((h >> 16) % 1800);
        buf[len++] = ' ';
        memset(buf + len, 'a' + (int)((h >> 40) % 26), k);
        return len + k;
    }
    for (i = 0; i < words; i++) {
        const char *t;
        size_t tl;
        h = mix64(h);
        if (v < 80) t = tokens[(h >> 8) % N_ASCII_TOKENS];
        else if (v < 88) t = tokens[16 + (h >> 8) % 4];
        else if (v < 92) t = tokens[20 + (h >> 8) % 3];
        else t = (h & 1) ? "line\nbreak" : "cr\r";
        tl = strlen(t);
        buf[len++] = ' ';
        memcpy(buf + len, t, tl);
        len += tl;
    }
    return len;
}

/* ===================================================================== */
/* The log as the client rebuilds it                                      */
/* ===================================================================== */

/* log_key[seq]: the entry at seq (1-based): 1..n0 the file's first lines,
 * an append id above SK_ID_BASE, 0 not yet known. known: every seq up to
 * it is known. lists[lv]: the known seqs of each level, in order. */
static uint64_t *log_key;
static uint64_t log_cap, known, n0;
static uint64_t *lists[LV_N];
static uint64_t list_len[LV_N], list_cap[LV_N];
static struct { int lv; char *level, *msg; size_t llen, mlen; } first_lines[SK_ID_BASE];
static uint64_t next_append_id = SK_ID_BASE + 1;
static uint64_t appends_sent, appends_acked, appends_in_flight, acked_max;

static int key_level(uint64_t key) { return key <= n0 ? first_lines[key - 1].lv : level_of(key); }

static void log_room(uint64_t seq)
{
    if (seq < log_cap) return;
    {
        uint64_t cap = log_cap ? log_cap : 4096;
        while (cap <= seq) cap *= 2;
        log_key = xrealloc(log_key, cap * sizeof *log_key);
        memset(log_key + log_cap, 0, (cap - log_cap) * sizeof *log_key);
        log_cap = cap;
    }
}

static void list_push(int lv, uint64_t seq)
{
    if (list_len[lv] == list_cap[lv]) {
        list_cap[lv] = list_cap[lv] ? list_cap[lv] * 2 : 1024;
        lists[lv] = xrealloc(lists[lv], list_cap[lv] * sizeof **lists);
    }
    lists[lv][list_len[lv]++] = seq;
}

/* Matching entries known so far, and the k-th of them (0-based). */
static uint64_t filter_len(int f) { return f == F_ALL ? known : f == F_NONE ? 0 : list_len[f]; }
static uint64_t filter_at(int f, uint64_t k) { return f == F_ALL ? k + 1 : lists[f][k]; }

/* How many matching entries have seq <= x (x <= known). */
static uint64_t filter_upto(int f, uint64_t x)
{
    uint64_t lo = 0, hi;
    if (f == F_ALL) return x;
    if (f == F_NONE) return 0;
    hi = list_len[f];
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (lists[f][mid] <= x) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static int lv_of_name(const char *s, size_t n)
{
    int i;
    for (i = 0; i < LV_N; i++)
        if (strlen(levels[i]) == n && memcmp(levels[i], s, n) == 0) return i;
    return -1;
}

/* The file's lines as they were: "LEVEL message". */
static void read_first_lines(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n;
    char *p, *end;
    if (!f) { fprintf(stderr, "h2soak: cannot read %s\n", path); exit(2); }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (p = buf; p < buf + n; p = end + 1) {
        char *sp;
        int lv;
        end = strchr(p, '\n');
        if (!end) { fprintf(stderr, "h2soak: %s: last line without newline\n", path); exit(2); }
        sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp || sp == p || n0 + 1 >= SK_ID_BASE) { fprintf(stderr, "h2soak: %s: not LEVEL message\n", path); exit(2); }
        lv = lv_of_name(p, (size_t)(sp - p));
        if (lv < 0 || lv == LV_EMPTY) { fprintf(stderr, "h2soak: %s: level not one of ours\n", path); exit(2); }
        first_lines[n0].lv = lv;
        first_lines[n0].level = p;
        first_lines[n0].llen = (size_t)(sp - p);
        first_lines[n0].msg = sp + 1;
        first_lines[n0].mlen = (size_t)(end - sp - 1);
        n0++;
    }
    log_room(n0 + 1);
    for (n = 0; n < n0; n++) log_key[n + 1] = n + 1;
}

/* ----- checks of what watches receive -------------------------------- */

typedef struct check {
    int f, follow, ended, need_floor, listed;
    uint64_t limit, n, verified, last_seq;
    uint64_t floor_seq, ceil_seq;       /* plain watch ended short: bounds */
    uint64_t *pend;                     /* received, not yet verified (ring) */
    size_t phead, plen, pcap;
    char what[120];
} check;

static check **pending;                 /* checks with work left */
static size_t n_pending, cap_pending;
static uint64_t checks_done;

static void check_free(check *k)
{
    free(k->pend);
    free(k);
}

static void pending_add(check *k)
{
    if (k->listed) return;
    if (n_pending == cap_pending) {
        cap_pending = cap_pending ? cap_pending * 2 : 64;
        pending = xrealloc(pending, cap_pending * sizeof *pending);
    }
    pending[n_pending++] = k;
    k->listed = 1;
}

static void pending_remove(check *k)
{
    size_t i;
    for (i = 0; i < n_pending; i++)
        if (pending[i] == k) { pending[i] = pending[--n_pending]; break; }
    k->listed = 0;
}

static void describe_key(char *out, size_t cap, uint64_t key)
{
    if (!key) snprintf(out, cap, "(unknown)");
    else if (key <= n0) snprintf(out, cap, "first line %llu", (unsigned long long)key);
    else snprintf(out, cap, "append a%llu (%s)", (unsigned long long)key, levels[level_of(key)]);
}

/* Verifies what can be verified; returns 1 when the check is complete. */
static int check_run(check *k)
{
    while (k->plen) {
        uint64_t key = k->pend[k->phead], seq;
        if (k->verified >= filter_len(k->f)) break;
        seq = filter_at(k->f, k->verified);
        if (log_key[seq] != key) {
            char got[80], want[80];
            describe_key(got, sizeof got, key);
            describe_key(want, sizeof want, log_key[seq]);
            fail("%s: entry %llu is %s, but the log has %s there (seq %llu)", k->what,
                 (unsigned long long)k->verified + 1, got, want, (unsigned long long)seq);
        }
        k->phead = (k->phead + 1) % k->pcap;
        k->plen--;
        k->verified++;
        k->last_seq = seq;
    }
    if (!k->ended || k->plen) return 0;
    if (k->need_floor) {
        uint64_t want;
        if (known < k->floor_seq) return 0;
        want = filter_upto(k->f, k->floor_seq);
        if (k->n < want)
            fail("%s: %llu entries, but %llu matching ones were in the log before it began (seq <= %llu)",
                 k->what, (unsigned long long)k->n, (unsigned long long)want, (unsigned long long)k->floor_seq);
    }
    if (k->ceil_seq && k->n && k->last_seq > k->ceil_seq)
        fail("%s: entry at seq %llu, but only %llu entries could exist when it ended", k->what,
             (unsigned long long)k->last_seq, (unsigned long long)k->ceil_seq);
    return 1;
}

/* After the log grew (or a check got entries): run every pending check. */
static void run_pending(void)
{
    size_t i = 0;
    while (i < n_pending) {
        check *k = pending[i];
        if (check_run(k) || (!k->plen && !k->ended)) {
            pending[i] = pending[--n_pending];
            k->listed = 0;
            if (k->ended) { checks_done++; check_free(k); }
        } else {
            i++;
        }
    }
}

static void check_push(check *k, uint64_t key)
{
    if (k->plen == k->pcap) {
        size_t cap = k->pcap ? k->pcap * 2 : 16, i;
        uint64_t *p = xmalloc(cap * sizeof *p);
        for (i = 0; i < k->plen; i++) p[i] = k->pend[(k->phead + i) % k->pcap];
        free(k->pend);
        k->pend = p;
        k->pcap = cap;
        k->phead = 0;
    }
    k->pend[(k->phead + k->plen) % k->pcap] = key;
    k->plen++;
    k->n++;
    check_run(k);
    if (k->plen) pending_add(k);
}

/* The call ended: the check completes now or later (then it is freed). */
static void check_end(check *k)
{
    k->ended = 1;
    if (check_run(k)) {
        if (k->listed) pending_remove(k);
        checks_done++;
        check_free(k);
    } else {
        pending_add(k);
    }
}

/* A seq came back from an Append: the log grows, checks move on. */
static void log_learn(uint64_t seq, uint64_t id, uint64_t acked_before, const char *what)
{
    if (seq <= n0) fail("%s: seq %llu is one of the file's first %llu lines", what,
                        (unsigned long long)seq, (unsigned long long)n0);
    if (seq <= acked_before)
        fail("%s: seq %llu, but seq %llu was acknowledged before this Append was sent", what,
             (unsigned long long)seq, (unsigned long long)acked_before);
    log_room(seq + 1);
    if (log_key[seq]) {
        char other[80];
        describe_key(other, sizeof other, log_key[seq]);
        fail("%s: seq %llu was already given to %s", what, (unsigned long long)seq, other);
    }
    log_key[seq] = id;
    if (seq > acked_max) acked_max = seq;
    appends_acked++;
    if (known + 1 == seq) {
        while (known + 1 < log_cap && log_key[known + 1]) {
            known++;
            list_push(key_level(log_key[known]), known);
        }
        run_pending();
    }
}

/* ===================================================================== */
/* Connections and calls                                                  */
/* ===================================================================== */

struct conn;

typedef struct call {
    struct conn *c;
    int lane, kind, json;
    uint32_t sid;
    uint64_t serial, seed;
    const char *ctype;          /* content-type sent */
    /* sending */
    uint32_t n_total, n_sent, out_off, depth, cancel_at;
    int es_mode;                /* half-close: 0 on the last DATA, 1 empty DATA after it, 2 after the last echo */
    int es_sent, stall, unary_split;
    int64_t send_window;
    /* receiving */
    int64_t recv_avail;
    uint8_t *rx;
    size_t rx_len;
    uint32_t n_recv;
    int hdrs, ended, cancelled, want_deadline, final, stretch, hold;
    uint64_t rst_ping;          /* the PING that follows our RST_STREAM */
    /* Append */
    uint64_t append_id, acked_before, seq;
    /* WatchLogs */
    int filter, scan;
    uint64_t limit;
    check *chk;
    uint64_t timeout_ms;
    char what[120];
} call;

typedef struct {
    int kind, follow_f, unlimited, stretched;
    call *k;
    uint64_t calls;
} lane;

typedef struct conn {
    int idx, fd, eof, goaway;
    uint32_t goaway_code;
    uint8_t *out;
    size_t out_off, out_len;
    uint8_t *in;
    size_t in_len;
    gs_hpack_dec dec;
    gs_hpack_enc enc;
    /* the header block being read */
    uint32_t hb_sid;
    int hb_end_stream, hb_status, hb_grpc_status;
    char hb_ct[64], hb_msg[200];
    /* settings and windows */
    int got_settings;
    uint32_t peer_max_frame, peer_initial, peer_max_streams, our_max_frame;
    int64_t send_window;            /* the server's connection window for us */
    int64_t recv_avail;             /* what the server may still send on the connection */
    int64_t conn_target, conn_target_run;
    int hold_conn;                  /* the warm-up: no connection window granted */
    uint32_t local_initial;         /* the last INITIAL_WINDOW_SIZE we sent */
    uint32_t local_initial_run;     /* ...after the warm-up */
    int64_t slack;                  /* window decreases the server may not have seen */
    int64_t settings_delta[32];
    unsigned settings_head, settings_n;
    uint64_t next_settings_ms;
    /* streams */
    uint32_t next_sid, last_opened;
    call *calls[SK_LANES];
    int ncalls;
    lane lanes[SK_LANES];
    int nlanes;
    uint64_t ping_sent, ping_acked;
    double cancel_tokens;
    uint64_t cancel_ms;
    uint32_t zombies[64];           /* ended before we half-closed: RST may follow */
    unsigned nzombies;
    uint64_t msg_cache_serial;      /* the message in msgbuf */
    uint32_t msg_cache_idx;
    size_t msg_cache_len;
    uint8_t msgbuf[SK_TX_MAX];
} conn;

static conn *conns;
static uint64_t next_serial = 1;
static call *free_calls;
static int scans_in_flight;
static uint64_t next_scan_ms;
static int final_watch_started, final_watch_done;
static uint64_t final_expected;

/* ----- the output buffer ------------------------------------------------- */

static size_t out_room(const conn *c) { return SK_OUT_CAP - c->out_off - c->out_len; }

static uint8_t *frame(conn *c, uint32_t len, int type, int flags, uint32_t sid)
{
    uint8_t *d;
    if (out_room(c) < 9 + (size_t)len) {
        memmove(c->out, c->out + c->out_off, c->out_len);
        c->out_off = 0;
        if (out_room(c) < 9 + (size_t)len) fail("connection %d: output buffer full", c->idx);
    }
    d = c->out + c->out_off + c->out_len;
    d[0] = (uint8_t)(len >> 16);
    d[1] = (uint8_t)(len >> 8);
    d[2] = (uint8_t)len;
    d[3] = (uint8_t)type;
    d[4] = (uint8_t)flags;
    d[5] = (uint8_t)(sid >> 24 & 0x7F);
    d[6] = (uint8_t)(sid >> 16);
    d[7] = (uint8_t)(sid >> 8);
    d[8] = (uint8_t)sid;
    c->out_len += 9 + len;
    n_frames_out++;
    return d + 9;
}

static void put32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void send_u32(conn *c, int type, uint32_t sid, uint32_t v) { put32(frame(c, 4, type, 0, sid), v); }

static void window_update(conn *c, uint32_t sid, uint32_t inc)
{
    send_u32(c, H2_WINDOW_UPDATE, sid, inc);
    n_window_updates++;
}

static void send_settings(conn *c, const uint32_t (*kv)[2], unsigned n, int64_t delta)
{
    uint8_t *d = frame(c, 6 * n, H2_SETTINGS, 0, 0);
    unsigned i;
    for (i = 0; i < n; i++, d += 6) {
        d[0] = (uint8_t)(kv[i][0] >> 8);
        d[1] = (uint8_t)kv[i][0];
        put32(d + 2, kv[i][1]);
    }
    if (c->settings_n == 32) fail("connection %d: 32 SETTINGS without an ACK", c->idx);
    c->settings_delta[(c->settings_head + c->settings_n++) % 32] = delta;
    if (delta < 0) c->slack += -delta;
}

static void send_ping(conn *c, uint64_t v)
{
    uint8_t *d = frame(c, 8, H2_PING, 0, 0);
    put32(d, (uint32_t)(v >> 32));
    put32(d + 4, (uint32_t)v);
    n_pings++;
}

/* Writes what it can; 0 when the peer closed. */
static void conn_write(conn *c)
{
    while (c->out_len && c->fd >= 0) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) {
            if (state == ST_DONE) { c->out_len = 0; break; }
            fail("connection %d: write: %s", c->idx, strerror(errno));
        }
        c->out_off += (size_t)w;
        c->out_len -= (size_t)w;
        bytes_out += (uint64_t)w;
    }
    if (!c->out_len) c->out_off = 0;
}

/* ----- calls: lifecycle ---------------------------------------------------- */

static call *call_new(conn *c, int lane_no, int kind)
{
    call *k = free_calls;
    uint8_t *rx;
    if (k) {
        free_calls = *(call **)k;
        rx = k->rx;
    } else {
        k = xmalloc(sizeof *k);
        rx = xmalloc(SK_RX_CAP);
    }
    memset(k, 0, sizeof *k);
    k->rx = rx;
    k->c = c;
    k->lane = lane_no;
    k->kind = kind;
    k->serial = next_serial++;
    k->seed = rnd();
    k->cancel_at = UINT32_MAX;
    k->ctype = "application/grpc";
    return k;
}

static void call_release(call *k)
{
    conn *c = k->c;
    int i;
    for (i = 0; i < c->ncalls; i++)
        if (c->calls[i] == k) { c->calls[i] = c->calls[--c->ncalls]; break; }
    c->lanes[k->lane].k = NULL;
    live_calls--;
    if (k->scan) scans_in_flight--;
    *(call **)k = free_calls;
    free_calls = k;
}

static call *call_by_sid(conn *c, uint32_t sid)
{
    int i;
    for (i = 0; i < c->ncalls; i++)
        if (c->calls[i]->sid == sid) return c->calls[i];
    return NULL;
}

/* ----- request headers --------------------------------------------------- */

static uint8_t *hfield(conn *c, uint8_t *d, const char *name, const char *value, int how, int huff)
{
    return hp_encode(&c->enc, d, name, strlen(name), value, strlen(value), how, huff);
}

static const char *const paths[] = { "/Chat/BiDiChat", "/LogWatcher/Append", "/LogWatcher/WatchLogs",
                                     "/LogWatcher/WatchLogs" };

/* HEADERS (maybe split into CONTINUATIONs) opening call k. */
static void send_request_headers(call *k, int end_stream)
{
    conn *c = k->c;
    uint8_t block[2048], *d = block;
    char auth[32], tbuf[32], meta[40];
    int huff = (int)below(2);
    size_t len, first;
    snprintf(auth, sizeof auth, "127.0.0.1:%d", opt_port);
    d = hfield(c, d, ":method", "POST", HP_INDEX, huff);
    d = hfield(c, d, ":scheme", "http", HP_INDEX, huff);
    d = hfield(c, d, ":path", paths[k->kind], HP_INDEX, huff);
    d = hfield(c, d, ":authority", auth, HP_INDEX, huff);
    d = hfield(c, d, "content-type", k->ctype, HP_INDEX, huff);
    d = hfield(c, d, "te", "trailers", HP_INDEX, huff);
    if (k->timeout_ms) {
        snprintf(tbuf, sizeof tbuf, "%llum", (unsigned long long)k->timeout_ms);
        d = hfield(c, d, "grpc-timeout", tbuf, HP_NO_INDEX, huff);
    } else if (chance(30)) {
        d = hfield(c, d, "grpc-timeout", "3600S", HP_INDEX, huff);
    }
    if (chance(500)) d = hfield(c, d, "user-agent", "h2soak/1", HP_INDEX, huff);
    if (chance(200)) d = hfield(c, d, "grpc-accept-encoding", "identity", HP_INDEX, huff);
    if (chance(300)) {                  /* metadata that churns the server's table */
        unsigned how = below(10);
        snprintf(meta, sizeof meta, "%llx", (unsigned long long)rnd());
        d = hfield(c, d, chance(500) ? "x-soak-trace" : "x-soak-session-metadata-with-a-long-name", meta,
                   how < 4 ? HP_INDEX : how < 8 ? HP_NO_INDEX : HP_NEVER_INDEX, huff);
    }
    len = (size_t)(d - block);
    if (len > 3 && chance(30)) {        /* HEADERS + CONTINUATION(s) */
        size_t mid;
        first = 1 + below((uint32_t)(len - 2));
        mid = first + below((uint32_t)(len - first));
        memcpy(frame(c, (uint32_t)first, H2_HEADERS, end_stream ? H2F_END_STREAM : 0, k->sid), block, first);
        if (mid > first && mid < len) {
            memcpy(frame(c, (uint32_t)(mid - first), H2_CONTINUATION, 0, k->sid), block + first, mid - first);
            first = mid;
        }
        memcpy(frame(c, (uint32_t)(len - first), H2_CONTINUATION, H2F_END_HEADERS, k->sid), block + first,
               len - first);
        n_split_headers++;
    } else if (chance(20)) {            /* with priority fields (ignored) */
        uint8_t *p = frame(c, (uint32_t)len + 5, H2_HEADERS,
                           H2F_END_HEADERS | H2F_PRIORITY | (end_stream ? H2F_END_STREAM : 0), k->sid);
        put32(p, k->sid > 2 ? k->sid - 2 : 0);
        p[4] = (uint8_t)below(256);
        memcpy(p + 5, block, len);
    } else {
        memcpy(frame(c, (uint32_t)len, H2_HEADERS, H2F_END_HEADERS | (end_stream ? H2F_END_STREAM : 0), k->sid),
               block, len);
    }
}

/* ----- request messages ---------------------------------------------------- */

static char textbuf[SK_TEXT_BUF], textbuf2[SK_TEXT_BUF];
static char jsonbuf[6 * (SK_JSON_TEXT + 256) + 64];

static size_t lpm_head(uint8_t *d, size_t len)
{
    d[0] = 0;
    put32(d + 1, (uint32_t)len);
    return 5 + len;
}

static size_t pb_message(uint8_t *d, const gs_msg *m)
{
    char *end = pb_put_msg((char *)d + 5, m);
    return lpm_head(d, (size_t)(end - (char *)d - 5));
}

static size_t call_text_max(const call *k)
{
    return k->stretch ? SK_STRETCH_TEXT : k->json ? SK_JSON_TEXT : SK_MAX_TEXT;
}

/* Request message idx of call k, framed, into c->msgbuf (cached). */
static size_t request_message(call *k, uint32_t idx)
{
    conn *c = k->c;
    uint8_t *d = c->msgbuf;
    gs_msg m;
    size_t len;
    if (c->msg_cache_serial == k->serial && c->msg_cache_idx == idx) return c->msg_cache_len;
    switch (k->kind) {
    case K_BIDI:
        len = echo_text(k->seed, idx, textbuf, call_text_max(k));
        if (k->json) {
            char *e = (char *)d + 5;
            e = PUT(e, "{\"text\": ");
            e = gs_json_put_str(e, textbuf, len);
            *e++ = '}';
            len = lpm_head(d, (size_t)(e - (char *)d - 5));
        } else {
            m.desc = &chat_message;
            m.v[0].s.p = textbuf;
            m.v[0].s.n = len;
            len = pb_message(d, &m);
        }
        break;
    case K_APPEND: {
        const char *lv = levels[level_of(k->append_id)];
        size_t mlen = append_msg(k->append_id, textbuf);
        if (k->json) {
            char *e = (char *)d + 5;
            e = PUT(e, "{\"level\": ");
            e = gs_json_put_str(e, lv, strlen(lv));
            e = PUT(e, ", \"msg\": ");
            e = gs_json_put_str(e, textbuf, mlen);
            *e++ = '}';
            len = lpm_head(d, (size_t)(e - (char *)d - 5));
        } else {
            m.desc = &log_entry;
            m.v[0].s.p = lv;
            m.v[0].s.n = strlen(lv);
            m.v[1].s.p = textbuf;
            m.v[1].s.n = mlen;
            len = pb_message(d, &m);
        }
        break;
    }
    default:
        m.desc = &watch_request;
        m.v[0].s.p = filter_text(k->filter);
        m.v[0].s.n = strlen(m.v[0].s.p);
        m.v[1].u = k->limit;
        m.v[2].b = k->kind == K_FOLLOW;
        len = pb_message(d, &m);
        break;
    }
    c->msg_cache_serial = k->serial;
    c->msg_cache_idx = idx;
    c->msg_cache_len = len;
    return len;
}

/* ----- starting calls -------------------------------------------------------- */

static call *open_call(conn *c, int lane_no, int kind)
{
    call *k = call_new(c, lane_no, kind);
    k->sid = c->next_sid;
    c->next_sid += 2;
    c->last_opened = k->sid;
    k->send_window = c->peer_initial;
    k->recv_avail = c->local_initial;
    c->calls[c->ncalls++] = k;
    c->lanes[lane_no].k = k;
    c->lanes[lane_no].calls++;
    live_calls++;
    if (live_calls > max_live_calls) max_live_calls = live_calls;
    if (live_calls > opt_slots) fail("internal: %d calls in flight, over --slots %d", live_calls, opt_slots);
    calls_started[kind]++;
    return k;
}

static uint32_t bidi_length(void)
{
    unsigned r = below(1000);
    if (r < 120) return below(4);
    if (r < 700) return 4 + below(197);
    if (r < 960) return 200 + below(1801);
    return 2000 + below(18001);
}

static void start_bidi(conn *c, int lane_no)
{
    call *k = open_call(c, lane_no, K_BIDI);
    unsigned r = below(1000);
    k->n_total = bidi_length();
    k->depth = 1 + (below(4) ? below(16) : below(64));
    k->es_mode = (int)below(3);
    if (chance(50)) {
        k->json = 1;
        k->ctype = "application/grpc+json";
        n_json++;
    } else if (r < 200) {
        k->ctype = "application/grpc+proto";
    } else if (r < 250) {
        k->ctype = "application/grpc;charset=utf-8";
    }
    if (chance(30) && k->n_total > 1) {
        k->cancel_at = below(k->n_total);
    } else if (chance(10)) {            /* the server's deadline ends it */
        k->stall = 1;
        k->want_deadline = 1;
        k->n_total = below(20);
        k->timeout_ms = 20 + below(281);
    }
    snprintf(k->what, sizeof k->what, "BiDiChat stream %u on connection %d (%u echoes, %s%s)", k->sid, c->idx,
             k->n_total, k->ctype, k->stall ? ", deadline" : "");
    send_request_headers(k, k->n_total == 0 && !k->stall);
    if (k->n_total == 0 && !k->stall) k->es_sent = 1;
}

/* The warm-up: every lane holds one of these at once, so every slot the
 * session will use (the server's free list is LIFO: slots 0..peak-1) is
 * held by one. The connections start with SETTINGS_INITIAL_WINDOW_SIZE 0,
 * so nothing is echoed and both messages (GS_MAX_VALUE - 6 bytes of text
 * each) wait in the slot's request buffer; when the windows open, their
 * echoes are staged back to back and the connection's output buffer fills.
 * Every buffer a call can use is written through before the session. */
static void start_stretch(conn *c, int lane_no)
{
    call *k = open_call(c, lane_no, K_BIDI);
    k->stretch = 1;
    k->hold = 1;
    k->n_total = SK_STRETCH_MSGS;
    k->depth = SK_STRETCH_MSGS;
    k->es_mode = 0;
    c->lanes[lane_no].stretched = 1;
    stretch_open++;
    snprintf(k->what, sizeof k->what, "warm-up BiDiChat stream %u on connection %d (%d echoes of %d bytes)", k->sid,
             c->idx, SK_STRETCH_MSGS, SK_STRETCH_TEXT + 6);
    send_request_headers(k, 0);
}

static void start_append(conn *c, int lane_no)
{
    call *k = open_call(c, lane_no, K_APPEND);
    k->append_id = next_append_id++;
    k->acked_before = acked_max;
    if (chance(50)) {
        k->json = 1;
        k->ctype = "application/grpc+json";
        n_json++;
    }
    k->n_total = 1;
    k->unary_split = chance(200);
    appends_sent++;
    appends_in_flight++;
    snprintf(k->what, sizeof k->what, "Append a%llu stream %u on connection %d",
             (unsigned long long)k->append_id, k->sid, c->idx);
    send_request_headers(k, 0);
}

static check *new_check(call *k)
{
    check *chk = xmalloc(sizeof *chk);
    memset(chk, 0, sizeof *chk);
    chk->f = k->filter;
    chk->follow = k->kind == K_FOLLOW;
    chk->limit = k->limit;
    snprintf(chk->what, sizeof chk->what, "%s %s filter \"%s\" limit %llu%s stream %u on connection %d",
             k->kind == K_FOLLOW ? "follow" : "plain", "WatchLogs", filter_text(k->filter),
             (unsigned long long)k->limit, k->timeout_ms ? " deadline" : "", k->sid, k->c->idx);
    memcpy(k->what, chk->what, sizeof k->what);
    return chk;
}

static void start_watch(conn *c, int lane_no, int kind, int filter, uint64_t limit, uint64_t timeout, int scan)
{
    call *k = open_call(c, lane_no, kind);
    k->filter = filter;
    k->limit = limit;
    k->timeout_ms = timeout;
    k->want_deadline = timeout ? 1 : 0;
    k->n_total = 1;
    k->unary_split = chance(200);
    k->acked_before = acked_max;
    k->scan = scan;
    if (scan) scans_in_flight++;
    k->chk = new_check(k);
    send_request_headers(k, 0);
}

/* Whether a plain watch stops early in the file (else it reads all of it). */
static int cheap_watch(int f, uint64_t limit) { return limit && filter_len(f) >= limit; }

static int scan_allowed(void)
{
    uint64_t t = now_ms();
    if (scans_in_flight || t < next_scan_ms || state != ST_RUN) return 0;
    next_scan_ms = t + 150;
    return 1;
}

static const uint64_t watch_limits[] = { 1, 2, 3, 5, 8, 16, 64, 100, 1000 };
static const int watch_filters[] = { F_ALL, LV_INFO, LV_ERROR, LV_WARN, LV_DEBUG, LV_F0, LV_F0 + 1, LV_F0 + 2,
                                     LV_F0 + 3, LV_F0 + 4, LV_F0 + 5, LV_RARE, LV_XY, F_NONE };
#define N_WATCH_FILTERS (sizeof watch_filters / sizeof *watch_filters)

static void start_unary(conn *c, int lane_no)
{
    unsigned r = below(1000);
    if (state == ST_DRAIN) {
        /* the last WatchLogs: every entry, after every Append */
        if (!final_watch_started && !appends_in_flight && c->idx == 0) {
            final_watch_started = 1;
            final_expected = known;
            start_watch(c, lane_no, K_WATCH, F_ALL, 0, 0, 0);
            c->lanes[lane_no].k->final = 1;
            snprintf(c->lanes[lane_no].k->chk->what, sizeof c->lanes[lane_no].k->chk->what,
                     "the last WatchLogs (every entry, after every Append) stream %u", c->lanes[lane_no].k->sid);
        }
        return;
    }
    if (r < 500) {
        start_append(c, lane_no);
    } else if (r < 900) {
        int f = watch_filters[below(N_WATCH_FILTERS)];
        uint64_t limit = watch_limits[below(sizeof watch_limits / sizeof *watch_limits)];
        if (chance(30)) limit = 0;
        if (!cheap_watch(f, limit)) {
            if (!(chance(300) && scan_allowed())) {     /* rationed */
                f = watch_filters[below(5)];
                limit = watch_limits[below(7)];
                if (!cheap_watch(f, limit)) { f = F_ALL; limit = 1 + below((uint32_t)known < 64 ? (uint32_t)known : 64); }
                start_watch(c, lane_no, K_WATCH, f, limit, 0, 0);
                return;
            }
            start_watch(c, lane_no, K_WATCH, f, limit, 0, 1);
            return;
        }
        start_watch(c, lane_no, K_WATCH, f, limit, 0, 0);
    } else if (r < 970) {                   /* a follow that ends within its backlog */
        int f = watch_filters[below(N_WATCH_FILTERS - 1)];
        uint64_t have = filter_len(f);
        if (!have) { f = F_ALL; have = filter_len(f); }
        start_watch(c, lane_no, K_FOLLOW, f, 1 + below((uint32_t)(have < 50 ? have : 50)), 0, 0);
    } else {                                /* a follow a deadline ends */
        if (scan_allowed()) {
            static const int fs[] = { F_NONE, LV_RARE, LV_XY, LV_F0 + 2 };
            start_watch(c, lane_no, K_FOLLOW, fs[below(4)], 0, 20 + below(181), 1);
        } else {
            start_watch(c, lane_no, K_FOLLOW, LV_INFO, 1 + below(5), 0, 0);
        }
    }
}

static void start_long_follow(conn *c, int lane_no)
{
    lane *ln = &c->lanes[lane_no];
    uint64_t limit = 0;
    if (state != ST_RUN) return;
    if (!ln->unlimited) limit = filter_len(ln->follow_f) + 20 + below(400);
    start_watch(c, lane_no, K_FOLLOW, ln->follow_f, limit, 0, 0);
}

/* Fills the free lanes of a connection. */
static void refill(conn *c)
{
    int i;
    if (!c->got_settings || c->goaway || state == ST_DONE) return;
    for (i = 0; i < c->nlanes; i++) {
        lane *ln = &c->lanes[i];
        if (ln->k) continue;
        if (state == ST_STRETCH) {
            if (!ln->stretched) start_stretch(c, i);
            continue;
        }
        switch (ln->kind) {
        case LN_BIDI: if (state == ST_RUN) start_bidi(c, i); break;
        case LN_UNARY: start_unary(c, i); break;
        default: start_long_follow(c, i); break;
        }
    }
}

/* ----- sending DATA -------------------------------------------------------- */

/* A bidi call's next message may start now (pipeline depth). */
static int may_send_more(const call *k)
{
    if (k->ended || k->cancelled || k->n_sent >= k->n_total) return 0;
    if (k->out_off) return 1;
    return k->kind != K_BIDI || k->n_sent < k->n_recv + k->depth;
}

static int wants_end_stream(const call *k)
{
    if (k->es_sent || k->ended || k->cancelled || k->stall || k->n_sent < k->n_total) return 0;
    return k->kind != K_BIDI || k->es_mode != 2 || k->n_recv == k->n_total;
}

/* Writes DATA frames of call k while the windows and the buffer allow. */
static void pump_call(call *k)
{
    conn *c = k->c;
    for (;;) {
        int64_t room = k->send_window < c->send_window ? k->send_window : c->send_window;
        size_t cap, pad = 0, used = 0;
        uint8_t *p;
        int es, padded = 0;
        if (c->out_len + 9 + 256 > SK_OUT_HIGH) return;
        if (!may_send_more(k)) {
            if (wants_end_stream(k)) {          /* an empty DATA with END_STREAM */
                frame(c, 0, H2_DATA, H2F_END_STREAM, k->sid);
                k->es_sent = 1;
            }
            return;
        }
        if (room > (int64_t)c->peer_max_frame) room = c->peer_max_frame;
        if (room > (int64_t)(SK_OUT_HIGH - c->out_len)) room = (int64_t)(SK_OUT_HIGH - c->out_len);
        if (room <= 0) return;
        cap = (size_t)room;
        if (chance(50)) cap = 1 + below((uint32_t)(cap < 200 ? cap : 200));    /* a small piece */
        if (cap > 8 && chance(20)) {
            padded = 1;
            pad = below((uint32_t)(cap - 1 < 64 ? cap - 1 : 64));
            cap -= 1 + pad;
            n_padded++;
        }
        /* gather message bytes */
        p = frame(c, (uint32_t)cap + (padded ? 1 + (uint32_t)pad : 0), H2_DATA, padded ? H2F_PADDED : 0, k->sid);
        if (padded) *p++ = (uint8_t)pad;
        while (used < cap && may_send_more(k)) {
            size_t len = request_message(k, k->n_sent), take = len - k->out_off;
            if (take > cap - used) take = cap - used;
            memcpy(p + used, c->msgbuf + k->out_off, take);
            used += take;
            k->out_off += (uint32_t)take;
            if (k->out_off == len) {
                k->out_off = 0;
                k->n_sent++;
                n_req++;
                if (k->stretch && k->n_sent == 2) stretch_sent++;
                if (k->kind == K_BIDI && k->n_sent == k->n_total && k->es_mode == 0 && !k->stall) break;
                if (k->unary_split) break;
            }
        }
        /* shrink the frame to what was gathered (it is the last one written) */
        if (used < cap) {
            uint32_t flen = (uint32_t)used + (padded ? 1 + (uint32_t)pad : 0);
            uint8_t *h = p - (padded ? 1 : 0) - 9;
            c->out_len -= cap - used;
            h[0] = (uint8_t)(flen >> 16);
            h[1] = (uint8_t)(flen >> 8);
            h[2] = (uint8_t)flen;
        }
        if (padded) memset(p + used, 0, pad);      /* the padding follows the data */
        {
            uint8_t *h = p - (padded ? 1 : 0) - 9;
            uint32_t flen = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
            es = !k->stall && k->n_sent == k->n_total && !k->out_off &&
                 (k->kind != K_BIDI || k->es_mode == 0) && !k->unary_split;
            if (es) {
                h[4] |= H2F_END_STREAM;
                k->es_sent = 1;
            }
            k->send_window -= flen;
            c->send_window -= flen;
        }
        if (k->unary_split && k->n_sent == k->n_total && !k->es_sent) {
            frame(c, 0, H2_DATA, H2F_END_STREAM, k->sid);
            k->es_sent = 1;
        }
    }
}

static void pump(conn *c)
{
    int i, n = c->ncalls, start;
    if (!n) return;
    start = (int)below((uint32_t)n);
    for (i = 0; i < n; i++) pump_call(c->calls[(start + i) % n]);
}

/* RST_STREAM CANCEL, then a PING: its ACK says the server has freed the slot. */
static void cancel_call(call *k)
{
    conn *c = k->c;
    send_u32(c, H2_RST_STREAM, k->sid, H2E_CANCEL);
    k->cancelled = 1;
    k->rst_ping = ++c->ping_sent;
    send_ping(c, k->rst_ping);
    n_cancelled++;
}

static int cancel_allowed(conn *c)
{
    uint64_t t = now_ms();
    c->cancel_tokens += (double)(t - c->cancel_ms) * SK_CANCEL_PER_S / 1000.0;
    if (c->cancel_tokens > 50) c->cancel_tokens = 50;
    c->cancel_ms = t;
    if (c->cancel_tokens < 1) return 0;
    c->cancel_tokens -= 1;
    return 1;
}

/* ----- responses ----------------------------------------------------------- */

static void call_finished(call *k);

static uint64_t entry_key(call *k, const gs_str *level, const gs_str *msg)
{
    const char *p = msg->p;
    size_t n = msg->n, i = 1, len;
    uint64_t id = 0;
    int lv;
    if (n >= 2 && p[0] == 'a' && p[1] >= '1' && p[1] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9' && i < 19) id = id * 10 + (uint64_t)(p[i++] - '0');
        if ((i == n || p[i] == ' ') && id > SK_ID_BASE && id < next_append_id) {
            lv = level_of(id);
            len = append_msg(id, textbuf2);
            if (level->n != strlen(levels[lv]) || memcmp(level->p, levels[lv], level->n) != 0 ||
                len != n || memcmp(textbuf2, p, n) != 0)
                fail("%s: entry %llu claims append a%llu but differs from it (level \"%.*s\", msg \"%.*s\")",
                     k->what, (unsigned long long)k->chk->n + 1, (unsigned long long)id, (int)level->n,
                     level->p, (int)(n < 80 ? n : 80), p);
            return id;
        }
    }
    for (i = 0; i < n0; i++)
        if (first_lines[i].llen == level->n && first_lines[i].mlen == n &&
            memcmp(first_lines[i].level, level->p, level->n) == 0 && memcmp(first_lines[i].msg, p, n) == 0)
            return i + 1;
    fail("%s: entry %llu is not in the log: level \"%.*s\", msg \"%.*s\"", k->what,
         (unsigned long long)k->chk->n + 1, (int)level->n, level->p, (int)(n < 80 ? n : 80), p);
    return 0;
}

/* One complete response message of call k. */
static void on_message(call *k, const uint8_t *msg, size_t len)
{
    gs_msg m;
    const char *why = NULL;
    char whybuf[128];
    n_resp++;
    if (k->cancelled) return;
    switch (k->kind) {
    case K_BIDI: {
        size_t tlen;
        if (k->n_recv >= k->n_sent)
            fail("%s: echo %u arrived, but only %u messages were sent", k->what, k->n_recv + 1, k->n_sent);
        tlen = echo_text(k->seed, k->n_recv, textbuf, call_text_max(k));
        if (k->json) {
            char *e = jsonbuf;
            memcpy(textbuf2, "echo: ", 6);
            memcpy(textbuf2 + 6, textbuf, tlen);
            e = PUT(e, "{\"text\": ");
            e = gs_json_put_str(e, textbuf2, tlen + 6);
            *e++ = '}';
            if ((size_t)(e - jsonbuf) != len || memcmp(jsonbuf, msg, len) != 0)
                fail("%s: echo %u is %.*s, want %.*s", k->what, k->n_recv + 1, (int)(len < 120 ? len : 120),
                     (const char *)msg, (int)(e - jsonbuf < 120 ? e - jsonbuf : 120), jsonbuf);
        } else {
            if (pb_decode(&chat_message, (const char *)msg, len, &m, &why, whybuf, sizeof whybuf) != GS_OK)
                fail("%s: echo %u is not a ChatMessage: %s", k->what, k->n_recv + 1, why);
            if (m.v[0].s.n != tlen + 6 || memcmp(m.v[0].s.p, "echo: ", 6) != 0 ||
                memcmp(m.v[0].s.p + 6, textbuf, tlen) != 0)
                fail("%s: echo %u is \"%.*s\" (%zu bytes), want \"echo: %.*s\" (%zu bytes)", k->what,
                     k->n_recv + 1, (int)(m.v[0].s.n < 100 ? m.v[0].s.n : 100), m.v[0].s.p, m.v[0].s.n,
                     (int)(tlen < 94 ? tlen : 94), textbuf, tlen + 6);
        }
        k->n_recv++;
        if (k->n_recv == k->cancel_at && !k->es_sent) {
            if (cancel_allowed(k->c)) cancel_call(k);
            else k->cancel_at = UINT32_MAX;
        }
        break;
    }
    case K_APPEND: {
        uint64_t seq = 0;
        if (k->n_recv++) fail("%s: a second response message", k->what);
        if (k->json) {
            size_t i = 8;
            if (len < 10 || memcmp(msg, "{\"seq\": ", 8) != 0 || msg[len - 1] != '}')
                fail("%s: response %.*s is not {\"seq\": N}", k->what, (int)(len < 80 ? len : 80), (const char *)msg);
            for (; i < len - 1; i++) {
                if (msg[i] < '0' || msg[i] > '9') fail("%s: response %.*s", k->what, (int)len, (const char *)msg);
                seq = seq * 10 + (uint64_t)(msg[i] - '0');
            }
        } else {
            if (pb_decode(&append_response, (const char *)msg, len, &m, &why, whybuf, sizeof whybuf) != GS_OK)
                fail("%s: response is not an AppendResponse: %s", k->what, why);
            seq = m.v[0].u;
        }
        k->seq = seq;
        appends_in_flight--;
        log_learn(seq, k->append_id, k->acked_before, k->what);
        break;
    }
    default: {
        uint64_t key;
        if (pb_decode(&log_entry, (const char *)msg, len, &m, &why, whybuf, sizeof whybuf) != GS_OK)
            fail("%s: entry %llu is not a LogEntry: %s", k->what, (unsigned long long)k->chk->n + 1, why);
        key = entry_key(k, &m.v[0].s, &m.v[1].s);
        if (k->filter != F_ALL && key_level(key) != k->filter)
            fail("%s: entry %llu has level \"%.*s\"", k->what, (unsigned long long)k->chk->n + 1,
                 (int)m.v[0].s.n, m.v[0].s.p);
        k->n_recv++;
        if (k->limit && k->n_recv > k->limit)
            fail("%s: entry %u, beyond the limit", k->what, k->n_recv);
        check_push(k->chk, key);
        break;
    }
    }
}

/* DATA payload bytes of call k: framed messages, split anywhere. */
static void on_data(call *k, const uint8_t *p, size_t n)
{
    while (n) {
        size_t need, take;
        if (k->rx_len < 5) {
            take = 5 - k->rx_len < n ? 5 - k->rx_len : n;
            memcpy(k->rx + k->rx_len, p, take);
            k->rx_len += take;
            p += take;
            n -= take;
            if (k->rx_len < 5) return;
            if (k->rx[0] != 0) fail("%s: compressed flag %d", k->what, k->rx[0]);
            if (get32(k->rx + 1) > SK_RX_CAP - 5) fail("%s: a %u-byte response", k->what, get32(k->rx + 1));
        }
        need = 5 + get32(k->rx + 1) - k->rx_len;
        take = need < n ? need : n;
        if (k->rx_len == 5 && take == need && !k->cancelled) {     /* whole in the frame: no copy */
            on_message(k, p, take);
        } else {
            memcpy(k->rx + k->rx_len, p, take);
            k->rx_len += take;
            if (take < need) return;
            on_message(k, k->rx + 5, k->rx_len - 5);
        }
        k->rx_len = 0;
        p += take;
        n -= take;
    }
}

/* A complete header block from the server on call k. */
static void on_headers(conn *c, call *k)
{
    int first = k->hdrs == 0, ends = c->hb_end_stream;
    if (k->cancelled) return;
    if (k->ended) fail("%s: HEADERS after the call ended", k->what);
    if (first) {
        const char *want_ct = k->json ? "application/grpc+json" : "application/grpc";
        if (c->hb_status != 200) fail("%s: response :status %d", k->what, c->hb_status);
        if (strcmp(c->hb_ct, want_ct) != 0) fail("%s: content-type \"%s\", want \"%s\"", k->what, c->hb_ct, want_ct);
        k->hdrs = 1;
        if (!ends) {
            if (c->hb_grpc_status >= 0) fail("%s: grpc-status in the response HEADERS without END_STREAM", k->what);
            return;
        }
        n_trailers_only++;
    } else {
        if (!ends) fail("%s: trailers without END_STREAM", k->what);
        if (c->hb_status >= 0) fail("%s: :status in the trailers", k->what);
        k->hdrs = 2;
    }
    if (c->hb_grpc_status < 0) fail("%s: the call ended without grpc-status", k->what);
    if (c->hb_grpc_status != 0 && !(k->want_deadline && c->hb_grpc_status == GS_DEADLINE_EXCEEDED))
        fail("%s: ended grpc-status %d grpc-message \"%s\" after %u messages in, %u out", k->what,
             c->hb_grpc_status, c->hb_msg, k->n_recv, k->n_sent);
    if (k->rx_len) fail("%s: %zu bytes of a message cut short by the end", k->what, k->rx_len);
    k->ended = 1;
    if (!k->es_sent) c->zombies[c->nzombies++ % 64] = k->sid;     /* RST_STREAM NO_ERROR may follow */
    switch (k->kind) {
    case K_BIDI:
        if (c->hb_grpc_status == GS_DEADLINE_EXCEEDED) {
            n_deadline++;
        } else if (k->n_recv != k->n_total || !k->es_sent) {
            fail("%s: ended OK after %u echoes of %u (half-closed: %d)", k->what, k->n_recv, k->n_total, k->es_sent);
        }
        break;
    case K_APPEND:
        if (!k->n_recv) fail("%s: ended OK without a response", k->what);
        break;
    default:
        if (c->hb_grpc_status == GS_DEADLINE_EXCEEDED) n_deadline++;
        else if (k->kind == K_FOLLOW && k->n_recv != k->limit)
            fail("%s: follow ended OK after %u entries, limit %llu", k->what, k->n_recv,
                 (unsigned long long)k->limit);
        if (k->kind == K_WATCH) {
            check *chk = k->chk;
            if (!k->limit || k->n_recv < k->limit) {
                chk->need_floor = 1;
                chk->floor_seq = k->acked_before;
            }
            chk->ceil_seq = n0 + appends_sent;
        }
        if (k->final) {
            if (k->n_recv != final_expected)
                fail("%s: %u entries, the log has %llu", k->what, k->n_recv, (unsigned long long)final_expected);
            final_watch_done = 1;
        }
        check_end(k->chk);
        k->chk = NULL;
        break;
    }
    call_finished(k);
}

static void call_finished(call *k)
{
    calls_done[k->kind]++;
    if (k->stretch) stretch_done++;
    if (k->chk) { check_free(k->chk); k->chk = NULL; }
    call_release(k);
}

/* ----- reading frames -------------------------------------------------------- */

static void grant(conn *c, call *k)
{
    if (!c->hold_conn && c->recv_avail < c->conn_target / 2) {
        window_update(c, 0, (uint32_t)(c->conn_target - c->recv_avail));
        c->recv_avail = c->conn_target;
    }
    if (k && !k->ended && !k->cancelled && !k->hold && k->recv_avail < (int64_t)c->local_initial / 2) {
        int64_t inc = (int64_t)c->local_initial - k->recv_avail;
        window_update(c, k->sid, (uint32_t)inc);
        k->recv_avail += inc;
    }
}

static int is_zombie(const conn *c, uint32_t sid)
{
    unsigned i;
    for (i = 0; i < c->nzombies && i < 64; i++)
        if (c->zombies[i] == sid) return 1;
    return 0;
}

static void on_field(conn *c)
{
    const gs_hpack_dec *d = &c->dec;
    const char *name = (const char *)d->name, *v = (const char *)d->value;
    size_t nl = d->name_len, vl = d->value_len;
    if (d->name_over || d->value_over) fail("connection %d: a header longer than %d bytes", c->idx, GS_MAX_HEADER);
    if (nl == 7 && !memcmp(name, ":status", 7)) {
        c->hb_status = 0;
        while (vl--) c->hb_status = c->hb_status * 10 + (*v++ - '0');
    } else if (nl == 12 && !memcmp(name, "content-type", 12)) {
        size_t n = vl < sizeof c->hb_ct - 1 ? vl : sizeof c->hb_ct - 1;
        memcpy(c->hb_ct, v, n);
        c->hb_ct[n] = 0;
    } else if (nl == 11 && !memcmp(name, "grpc-status", 11)) {
        c->hb_grpc_status = 0;
        while (vl--) c->hb_grpc_status = c->hb_grpc_status * 10 + (*v++ - '0');
    } else if (nl == 12 && !memcmp(name, "grpc-message", 12)) {
        size_t n = vl < sizeof c->hb_msg - 1 ? vl : sizeof c->hb_msg - 1;
        memcpy(c->hb_msg, v, n);
        c->hb_msg[n] = 0;
    }
}

static void block_bytes(conn *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    for (;;) {
        int r = hp_decode(&c->dec, &p, end);
        if (r == HP_MORE) return;
        if (r < 0) fail("connection %d: HPACK: %s", c->idx, c->dec.why);
        on_field(c);
    }
}

static void block_done(conn *c)
{
    uint32_t sid = c->hb_sid;
    call *k = call_by_sid(c, sid);
    c->hb_sid = 0;
    if (hp_block_end(&c->dec) != 0) fail("connection %d: HPACK block: %s", c->idx, c->dec.why);
    if (!k) fail("connection %d: HEADERS on stream %u, no call of ours", c->idx, sid);
    on_headers(c, k);
}

static void on_settings(conn *c, const uint8_t *p, uint32_t len, int flags)
{
    uint32_t i;
    if (flags & H2F_ACK) {
        int64_t d;
        if (!c->settings_n) fail("connection %d: SETTINGS ACK for nothing", c->idx);
        d = c->settings_delta[c->settings_head];
        c->settings_head = (c->settings_head + 1) % 32;
        c->settings_n--;
        if (d < 0) c->slack -= -d;
        return;
    }
    for (i = 0; i + 6 <= len; i += 6) {
        unsigned id = (unsigned)p[i] << 8 | p[i + 1];
        uint32_t v = get32(p + i + 2);
        int j;
        switch (id) {
        case 3: c->peer_max_streams = v; break;
        case 4:
            for (j = 0; j < c->ncalls; j++) c->calls[j]->send_window += (int64_t)v - (int64_t)c->peer_initial;
            c->peer_initial = v;
            break;
        case 5: c->peer_max_frame = v; break;
        default: break;
        }
    }
    frame(c, 0, H2_SETTINGS, H2F_ACK, 0);
    c->got_settings = 1;
}

static void on_frame(conn *c, const uint8_t *h, const uint8_t *p)
{
    uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    int type = h[3], flags = h[4];
    uint32_t sid = get32(h + 5) & 0x7FFFFFFF;
    call *k = sid ? call_by_sid(c, sid) : NULL;
    n_frames_in++;
    if (c->hb_sid && type != H2_CONTINUATION) fail("connection %d: frame type %d inside a header block", c->idx, type);
    if (!c->got_settings && type != H2_SETTINGS) fail("connection %d: first frame is type %d, not SETTINGS", c->idx, type);
    switch (type) {
    case H2_DATA: {
        uint32_t pad = 0;
        if ((int64_t)len > c->recv_avail)
            fail("connection %d: DATA of %u bytes, the connection window is %lld", c->idx, len, (long long)c->recv_avail);
        c->recv_avail -= len;
        if (!k) {
            if (!sid || sid > c->last_opened) fail("connection %d: DATA on idle stream %u", c->idx, sid);
            fail("connection %d: DATA on closed stream %u", c->idx, sid);
        }
        if (!k->cancelled) {
            if ((int64_t)len > k->recv_avail + c->slack)
                fail("%s: DATA of %u bytes, the stream window is %lld", k->what, len, (long long)k->recv_avail);
            k->recv_avail -= len;
        }
        if (flags & H2F_PADDED) {
            if (!len || p[0] >= len) fail("%s: bad padding", k->what);
            pad = p[0];
            p++;
            len -= 1 + pad;
        }
        if (k->hdrs != 1 && !k->cancelled) fail("%s: DATA before the response HEADERS", k->what);
        on_data(k, p, len);
        if (flags & H2F_END_STREAM) fail("%s: DATA with END_STREAM (no trailers)", k->what);
        grant(c, k);
        break;
    }
    case H2_HEADERS: {
        uint32_t skip = 0, pad = 0;
        if (!k) fail("connection %d: HEADERS on stream %u, no call of ours", c->idx, sid);
        if (flags & H2F_PADDED) { pad = p[0]; skip = 1; }
        if (flags & H2F_PRIORITY) skip += 5;
        if (skip + pad > len) fail("connection %d: bad HEADERS padding", c->idx);
        c->hb_sid = sid;
        c->hb_end_stream = flags & H2F_END_STREAM;
        c->hb_status = c->hb_grpc_status = -1;
        c->hb_ct[0] = c->hb_msg[0] = 0;
        hp_block_begin(&c->dec, 1 << 20);
        block_bytes(c, p + skip, len - skip - pad);
        if (flags & H2F_END_HEADERS) block_done(c);
        break;
    }
    case H2_CONTINUATION:
        if (!c->hb_sid || sid != c->hb_sid) fail("connection %d: stray CONTINUATION", c->idx);
        block_bytes(c, p, len);
        if (flags & H2F_END_HEADERS) block_done(c);
        break;
    case H2_RST_STREAM: {
        uint32_t code = get32(p);
        if (k && k->cancelled) break;
        if (!k && is_zombie(c, sid) && (code == H2E_NO_ERROR || code == H2E_STREAM_CLOSED)) break;
        if (k) fail("%s: RST_STREAM %u after %u messages in, %u out", k->what, code, k->n_recv, k->n_sent);
        fail("connection %d: RST_STREAM %u on stream %u", c->idx, code, sid);
        break;
    }
    case H2_SETTINGS:
        on_settings(c, p, len, flags);
        break;
    case H2_PING:
        if (flags & H2F_ACK) {
            uint64_t v = (uint64_t)get32(p) << 32 | get32(p + 4);
            int i;
            c->ping_acked = v;
            for (i = 0; i < c->ncalls;) {
                call *x = c->calls[i];
                if (x->cancelled && x->rst_ping && x->rst_ping <= v) {
                    calls_done[x->kind]++;
                    if (x->kind == K_APPEND) fail("internal: a cancelled Append");
                    if (x->chk) {      /* a follow cancelled at the end: what it had is checked */
                        check_end(x->chk);
                        x->chk = NULL;
                    }
                    call_release(x);
                } else {
                    i++;
                }
            }
        } else {
            memcpy(frame(c, 8, H2_PING, H2F_ACK, 0), p, 8);
        }
        break;
    case H2_GOAWAY:
        c->goaway = 1;
        c->goaway_code = get32(p + 4);
        if (state != ST_DONE)
            fail("connection %d: GOAWAY %u (last stream %u) during the session", c->idx, c->goaway_code,
                 get32(p) & 0x7FFFFFFF);
        break;
    case H2_WINDOW_UPDATE: {
        uint32_t inc = get32(p) & 0x7FFFFFFF;
        if (!sid) c->send_window += inc;
        else if (k) k->send_window += inc;
        break;
    }
    case H2_PUSH_PROMISE:
        fail("connection %d: PUSH_PROMISE", c->idx);
        break;
    default:
        break;
    }
}

static void conn_read(conn *c)
{
    int reads;
    for (reads = 0; reads < 8 && c->fd >= 0; reads++) {
        ssize_t r = read(c->fd, c->in + c->in_len, SK_IN_CAP - c->in_len);
        size_t pos = 0;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) {
            if (state == ST_DONE) {
                c->eof = 1;
                close(c->fd);
                c->fd = -1;
                return;
            }
            fail("connection %d: the server closed it (%s) with %d calls live", c->idx,
                 r < 0 ? strerror(errno) : "EOF", c->ncalls);
        }
        bytes_in += (uint64_t)r;
        c->in_len += (size_t)r;
        while (c->in_len - pos >= 9) {
            uint32_t len = (uint32_t)c->in[pos] << 16 | (uint32_t)c->in[pos + 1] << 8 | c->in[pos + 2];
            if (len > c->our_max_frame) fail("connection %d: a %u-byte frame", c->idx, len);
            if (c->in_len - pos < 9 + (size_t)len) break;
            on_frame(c, c->in + pos, c->in + pos + 9);
            pos += 9 + len;
        }
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
        if ((size_t)r < SK_IN_CAP / 4) return;
    }
}

/* ----- connection set-up ------------------------------------------------------ */

static void conn_open(conn *c, int idx)
{
    struct sockaddr_in sa;
    int one = 1, fd;
    static const uint32_t windows[] = { 65535, 65535, 16384, 1 << 20, 4096, 262144, 65535, 32768 };
    uint32_t kv[4][2];
    memset(c, 0, offsetof(conn, msgbuf));
    c->idx = idx;
    c->out = xmalloc(SK_OUT_CAP);
    c->in = xmalloc(SK_IN_CAP);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opt_port);
    sa.sin_addr.s_addr = htonl(0x7F000001);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "h2soak: connect 127.0.0.1:%d: %s\n", opt_port, strerror(errno));
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    hp_dec_init(&c->dec);
    hp_enc_init(&c->enc, 4096);
    c->peer_max_frame = 16384;
    c->peer_initial = 65535;
    c->send_window = 65535;
    c->next_sid = 1;
    c->local_initial_run = windows[idx % 8];
    c->local_initial = opt_warmup ? 0 : c->local_initial_run;  /* the warm-up: nothing is echoed before its release */
    c->our_max_frame = idx % 4 == 3 ? 65536 : 16384;
    c->conn_target_run = idx % 3 == 0 ? 65535 : idx % 3 == 1 ? (1 << 20) : (16 << 20);
    c->conn_target = opt_warmup ? 65535 : c->conn_target_run;
    c->hold_conn = opt_warmup;      /* until the warm-up's release */
    c->recv_avail = 65535;
    c->cancel_tokens = 50;
    c->cancel_ms = now_ms();
    c->next_settings_ms = now_ms() + 500 + below(2000);
    memcpy(c->out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    c->out_len = 24;
    kv[0][0] = 2; kv[0][1] = 0;                     /* ENABLE_PUSH */
    kv[1][0] = 4; kv[1][1] = c->local_initial;      /* INITIAL_WINDOW_SIZE */
    kv[2][0] = 5; kv[2][1] = c->our_max_frame;      /* MAX_FRAME_SIZE */
    kv[3][0] = 3; kv[3][1] = 0;                     /* MAX_CONCURRENT_STREAMS (pushes) */
    send_settings(c, (const uint32_t (*)[2])kv, 4, 0);
    if (!opt_warmup && c->conn_target > 65535) {
        window_update(c, 0, (uint32_t)(c->conn_target - 65535));
        c->recv_avail = c->conn_target;
    }
}

/* The warm-up's release: once every lane's call has both its first
 * messages written (after them on each connection), wide windows. */
static void stretch_release(void)
{
    int i, j;
    for (i = 0; i < opt_conns; i++)
        if (conns[i].out_len) return;
    /* After every request byte on each connection: the connection's window
     * first (the streams' are still 0, so nothing moves), then each
     * stream's at once (both echoes are staged in one go), then the
     * session's SETTINGS_INITIAL_WINDOW_SIZE. */
    for (i = 0; i < opt_conns; i++) {
        conn *c = &conns[i];
        uint32_t kv[1][2];
        c->hold_conn = 0;
        c->conn_target = 16 << 20;
        window_update(c, 0, (uint32_t)(c->conn_target - c->recv_avail));
        c->recv_avail = c->conn_target;
        for (j = 0; j < c->ncalls; j++) {
            call *k = c->calls[j];
            if (!k->hold) continue;
            k->hold = 0;
            window_update(c, k->sid, (uint32_t)((2 << 20) - k->recv_avail));
            k->recv_avail = 2 << 20;
        }
        kv[0][0] = 4;
        kv[0][1] = c->local_initial_run;
        send_settings(c, (const uint32_t (*)[2])kv, 1, (int64_t)c->local_initial_run);
        for (j = 0; j < c->ncalls; j++) c->calls[j]->recv_avail += c->local_initial_run;
        c->local_initial = c->local_initial_run;
    }
    stretch_released = 1;
}

static void stretch_step(void)
{
    int i;
    if (!stretch_released && stretch_open == stretch_total && stretch_sent == stretch_total) stretch_release();
    if (stretch_released && stretch_done == stretch_total) {
        for (i = 0; i < opt_conns; i++) conns[i].conn_target = conns[i].conn_target_run;
        state = ST_RUN;
    }
}

/* SETTINGS_INITIAL_WINDOW_SIZE changes now and then. */
static void maybe_change_settings(conn *c, uint64_t t)
{
    static const uint32_t windows[] = { 4096, 16384, 65535, 65535, 131072, 1 << 20 };
    uint32_t kv[1][2], w;
    int64_t delta;
    int i;
    if (t < c->next_settings_ms || c->settings_n > 4 || state != ST_RUN) return;
    c->next_settings_ms = t + 1000 + below(3000);
    w = windows[below(6)];
    delta = (int64_t)w - (int64_t)c->local_initial;
    kv[0][0] = 4;
    kv[0][1] = w;
    send_settings(c, (const uint32_t (*)[2])kv, 1, delta);
    for (i = 0; i < c->ncalls; i++) c->calls[i]->recv_avail += delta;
    c->local_initial = w;
    n_settings_changes++;
    for (i = 0; i < c->ncalls; i++) grant(c, c->calls[i]);
}

/* Lanes: bidi ones, a unary one, and the long follows of the first connections. */
static void plan_lanes(int bidi)
{
    int i, j, f;
    static const int follow_filters[] = { F_ALL, LV_ERROR, LV_F0, LV_F0 + 1, LV_F0 + 2, LV_F0 + 3, LV_F0 + 4,
                                          LV_F0 + 5 };
    for (i = 0; i < opt_conns; i++) {
        conn *c = &conns[i];
        for (j = 0; j < bidi; j++) c->lanes[c->nlanes++].kind = LN_BIDI;
        c->lanes[c->nlanes++].kind = LN_UNARY;
    }
    for (f = 0; f < 8; f++) {
        conn *c = &conns[f % opt_conns];
        lane *ln = &c->lanes[c->nlanes++];
        ln->kind = LN_FOLLOW;
        ln->follow_f = follow_filters[f];
        ln->unlimited = f < 2;
    }
    for (i = 0; i < opt_conns; i++) stretch_total += conns[i].nlanes;
}

/* ----- draining -------------------------------------------------------------------- */

/* In the drain: bidi calls stop after the message being written; follows
 * are cancelled once they hold every entry (after the last Append). */
static void drain_step(void)
{
    int i, j;
    for (i = 0; i < opt_conns; i++) {
        conn *c = &conns[i];
        for (j = 0; j < c->ncalls; j++) {
            call *k = c->calls[j];
            if (k->ended || k->cancelled) continue;
            if (k->kind == K_BIDI && !k->stall && k->n_total > k->n_sent + (k->out_off ? 1 : 0))
                k->n_total = k->n_sent + (k->out_off ? 1 : 0);
            if (k->kind == K_FOLLOW && !k->timeout_ms && c->lanes[k->lane].kind == LN_FOLLOW &&
                !appends_in_flight && k->chk && !k->chk->plen && k->chk->n == filter_len(k->filter) &&
                (!k->limit || k->n_recv < k->limit))
                cancel_call(k);
        }
    }
}

static int all_idle(void)
{
    int i;
    if (live_calls || appends_in_flight) return 0;
    if (!final_watch_done) return 0;
    if (n_pending) {
        check *k;
        run_pending();
        if (!n_pending) return 0;
        k = pending[0];
        fail("%s: %llu entries received, %llu of them match the log, the rest are not in it (or a floor "
             "of %llu is not met)", k->what, (unsigned long long)k->n, (unsigned long long)k->verified,
             (unsigned long long)k->floor_seq);
    }
    for (i = 0; i < opt_conns; i++)
        if (conns[i].out_len) return 0;
    return 1;
}

/* ----- diagnostics ------------------------------------------------------------------ */

static void dump_state(void)
{
    int i, j, shown = 0;
    if (!conns) return;
    printf("    state %d, %d calls live (max %d), appends sent %llu acked %llu, log known to %llu, %zu checks pending\n",
           state, live_calls, max_live_calls, (unsigned long long)appends_sent,
           (unsigned long long)appends_acked, (unsigned long long)known, n_pending);
    for (i = 0; i < opt_conns && shown < 40; i++) {
        conn *c = &conns[i];
        for (j = 0; j < c->ncalls && shown < 40; j++, shown++) {
            call *k = c->calls[j];
            printf("    conn %d: %s: in %u out %u/%u, windows send %lld (conn %lld) recv %lld (conn %lld)%s%s\n",
                   i, k->what, k->n_recv, k->n_sent, k->n_total, (long long)k->send_window,
                   (long long)c->send_window, (long long)k->recv_avail, (long long)c->recv_avail,
                   k->cancelled ? " cancelled" : "", k->es_sent ? " half-closed" : "");
        }
    }
}

/* ===================================================================== */
/* main                                                                   */
/* ===================================================================== */

static void usage(void)
{
    fputs("usage: h2soak --port PORT --log FILE [--conns N] [--slots N] [--messages N] [--seed N]\n"
          "              [--progress FILE] [--seconds N] [--warmup 0|1] [--verbose]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int i, bidi, per_conn;
    uint64_t last_msgs = 0, last_change, last_progress = 0, deadline_ms, done_ms, t;
    struct pollfd *fds;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) { opt_verbose = 1; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--port")) opt_port = atoi(v);
        else if (!strcmp(a, "--log")) opt_log = v;
        else if (!strcmp(a, "--conns")) opt_conns = atoi(v);
        else if (!strcmp(a, "--slots")) opt_slots = atoi(v);
        else if (!strcmp(a, "--messages")) opt_messages = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed")) opt_seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--progress")) opt_progress = v;
        else if (!strcmp(a, "--seconds")) opt_seconds = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--warmup")) opt_warmup = atoi(v);
        else usage();
    }
    if (opt_port <= 0 || !opt_log || opt_conns < 1 || opt_conns > 1000) usage();
    /* every call in flight holds a server slot: lanes must fit --slots */
    per_conn = (opt_slots - 8) / opt_conns;
    bidi = per_conn - 1 > 3 ? 3 : per_conn - 1;
    if (bidi < 1) {
        fprintf(stderr, "h2soak: --slots %d is too few for %d connections (needs %d)\n", opt_slots, opt_conns,
                2 * opt_conns + 8);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    rng_state = mix64(opt_seed);
    read_first_lines(opt_log);
    for (i = 0; i < (int)n0; i++) list_push(first_lines[i].lv, (uint64_t)i + 1);
    known = n0;
    if (opt_progress) {
        progress_fd = open(opt_progress, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (progress_fd < 0) { fprintf(stderr, "h2soak: cannot write %s\n", opt_progress); exit(2); }
    }
    if (!opt_warmup) state = ST_RUN;
    t_start = now_ms();
    conns = xmalloc((size_t)opt_conns * sizeof *conns);
    for (i = 0; i < opt_conns; i++) conn_open(&conns[i], i);
    plan_lanes(bidi);
    fds = xmalloc((size_t)opt_conns * sizeof *fds);
    printf("h2soak: %d connections, %d bidi lanes + 1 unary lane each, 8 long follows; %d slots; "
           "%llu messages; seed %llu; log %s (%llu lines)\n",
           opt_conns, bidi, opt_slots, (unsigned long long)opt_messages, (unsigned long long)opt_seed, opt_log,
           (unsigned long long)n0);
    fflush(stdout);
    last_change = now_ms();
    deadline_ms = t_start + opt_seconds * 1000;
    progress_write(state == ST_STRETCH ? "warm" : "run");
    for (;;) {
        int n;
        t = now_ms();
        for (i = 0; i < opt_conns; i++) {
            conn *c = &conns[i];
            maybe_change_settings(c, t);
            refill(c);
            pump(c);
            conn_write(c);
            fds[i].fd = c->fd;
            fds[i].events = (short)(POLLIN | (c->out_len ? POLLOUT : 0));
            fds[i].revents = 0;
        }
        if (state == ST_STRETCH) stretch_step();
        if (state == ST_RUN && n_req + n_resp >= opt_messages) {
            state = ST_DRAIN;
            progress_write("drain");
        }
        if (state == ST_DRAIN) {
            drain_step();
            if (all_idle()) break;
        }
        if (n_req + n_resp != last_msgs) {
            last_msgs = n_req + n_resp;
            last_change = t;
        } else if (t - last_change > SK_STALL_MS) {
            fail("nothing happened for %d s", SK_STALL_MS / 1000);
        }
        if (t > deadline_ms) fail("the session did not end in %llu s", (unsigned long long)opt_seconds);
        if (t - last_progress >= 100) {
            last_progress = t;
            progress_write(state == ST_STRETCH ? "warm" : state == ST_RUN ? "run" : "drain");
            if (opt_verbose)
                fprintf(stderr, "h2soak: %llu messages, %d calls live, log %llu\n",
                        (unsigned long long)(n_req + n_resp), live_calls, (unsigned long long)known);
        }
        n = poll(fds, (nfds_t)opt_conns, 20);
        if (n < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
        for (i = 0; n > 0 && i < opt_conns; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) conn_read(&conns[i]);
            if (fds[i].revents & POLLOUT) conn_write(&conns[i]);
        }
    }
    done_ms = now_ms();

    /* ---- the final checks of the session */
    if (appends_acked != appends_sent)
        fail("%llu Appends sent, %llu answered", (unsigned long long)appends_sent, (unsigned long long)appends_acked);
    if (known != n0 + appends_acked || acked_max != n0 + appends_acked)
        fail("Append seqs are not exactly %llu..%llu: the log is known to %llu, the largest seq is %llu",
             (unsigned long long)n0 + 1, (unsigned long long)(n0 + appends_acked), (unsigned long long)known,
             (unsigned long long)acked_max);
    {
        double secs = (double)(done_ms - t_start) / 1000.0;
        uint64_t total = n_req + n_resp, calls = 0;
        int kk;
        for (kk = 0; kk < K_NKINDS; kk++) calls += calls_done[kk];
        printf("h2soak: %llu messages (%llu requests, %llu responses) in %.2f s = %.0f msg/s\n",
               (unsigned long long)total, (unsigned long long)n_req, (unsigned long long)n_resp, secs,
               secs > 0 ? (double)total / secs : 0.0);
        printf("h2soak: %llu calls: %llu BiDiChat, %llu Append, %llu WatchLogs, %llu follow WatchLogs; "
               "%llu cancelled, %llu ended by a deadline, %llu Trailers-Only, %llu +json; at most %d at once\n",
               (unsigned long long)calls, (unsigned long long)calls_done[K_BIDI],
               (unsigned long long)calls_done[K_APPEND], (unsigned long long)calls_done[K_WATCH],
               (unsigned long long)calls_done[K_FOLLOW], (unsigned long long)n_cancelled,
               (unsigned long long)n_deadline, (unsigned long long)n_trailers_only, (unsigned long long)n_json,
               max_live_calls);
        printf("h2soak: Append seqs %llu..%llu, each once, each above every seq acknowledged before it was sent; "
               "%llu watch results checked against the rebuilt log; the last WatchLogs returned all %llu entries\n",
               (unsigned long long)n0 + 1, (unsigned long long)(n0 + appends_acked),
               (unsigned long long)checks_done, (unsigned long long)final_expected);
        printf("h2soak: frames in %llu, out %llu (%llu padded, %llu header blocks split); %llu WINDOW_UPDATEs sent; "
               "%llu SETTINGS changes; %llu PINGs; %.1f MB in, %.1f MB out\n",
               (unsigned long long)n_frames_in, (unsigned long long)n_frames_out, (unsigned long long)n_padded,
               (unsigned long long)n_split_headers, (unsigned long long)n_window_updates,
               (unsigned long long)n_settings_changes, (unsigned long long)n_pings, (double)bytes_in / 1e6,
               (double)bytes_out / 1e6);
        printf("PASS: h2 soak: every reply right (%llu messages on %d connections, %.0f msg/s)\n",
               (unsigned long long)total, opt_conns, secs > 0 ? (double)total / secs : 0.0);
        printf("RESULT messages=%llu seconds=%.2f rate=%.0f\n", (unsigned long long)total, secs,
               secs > 0 ? (double)total / secs : 0.0);
        fflush(stdout);
    }

    /* ---- idle connections: wait for the server's SIGTERM shutdown */
    state = ST_DONE;
    progress_write("done");
    t = now_ms();
    for (;;) {
        int open_conns = 0, n;
        for (i = 0; i < opt_conns; i++) {
            conn *c = &conns[i];
            conn_write(c);
            fds[i].fd = c->fd;
            fds[i].events = (short)(POLLIN | (c->out_len ? POLLOUT : 0));
            fds[i].revents = 0;
            if (c->fd >= 0) open_conns++;
        }
        if (!open_conns) break;
        if (now_ms() - t > 30000) {
            printf("FAIL: h2 soak: SIGTERM: %d connections still open 30 s after the session ended\n", open_conns);
            return 1;
        }
        n = poll(fds, (nfds_t)opt_conns, 100);
        for (i = 0; n > 0 && i < opt_conns; i++)
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) conn_read(&conns[i]);
    }
    {
        int bad = 0;
        for (i = 0; i < opt_conns; i++)
            if (!conns[i].goaway || conns[i].goaway_code != H2E_NO_ERROR) {
                if (bad++ < 5)
                    printf("    connection %d: %s %u\n", i, conns[i].goaway ? "GOAWAY" : "no GOAWAY, code",
                           conns[i].goaway_code);
            }
        if (bad) {
            printf("FAIL: h2 soak: SIGTERM: %d of %d connections closed without GOAWAY NO_ERROR\n", bad, opt_conns);
            return 1;
        }
        printf("PASS: h2 soak: SIGTERM: GOAWAY NO_ERROR, then the close, on all %d connections\n", opt_conns);
    }
    return 0;
}
