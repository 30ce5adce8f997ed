/*
 * fuzz_scanner.c - the push JSON scanner (json.c) under libFuzzer.
 *
 * Input: byte 0 seeds the chunk sizes, byte 1 the member-wanting policy,
 * the rest is JSON-lines text. The text is scanned twice, whole and in
 * chunks; members are wanted with small sinks (exactly sized heap blocks,
 * freed as soon as their value is reported, so ASan sees any write out of
 * bounds or late). Checked:
 *   - every call advances, or returns MORE with the input used up (an
 *     event may come without a byte when the byte that ends a number is
 *     the first of a chunk; never twice in a row);
 *   - str_len <= sink capacity, str_over only when it is reached;
 *     key_len <= GS_JSON_KEY_MAX; depth <= GS_MAX_DEPTH;
 *   - VALUE only for the top value or a wanted member, kinds and statuses
 *     in range, one LINE per '\n';
 *   - whole and chunked scans give the same events;
 *   - each complete line's status agrees with an independent strict
 *     validator (too-deep lines: a valid one must be OK).
 */
#include "../grpcstream.h"
#include "fuzz_common.h"

typedef struct {
    unsigned char *b;
    size_t len, cap;
} evlog;

static void ev_put(evlog *l, const void *p, size_t n)
{
    if (n == 0) return;             /* l->b may still be NULL: no memcpy(NULL, ..., 0) */
    if (l->len + n > l->cap) {
        l->cap = (l->len + n) * 2 + 256;
        l->b = realloc(l->b, l->cap);
        if (!l->b) abort();
    }
    memcpy(l->b + l->len, p, n);
    l->len += n;
}
static void ev_u64(evlog *l, uint64_t v) { ev_put(l, &v, sizeof v); }

typedef struct {
    uint8_t status, too_deep;
} line_result;

/* Scans text in chunks (chunk == NULL: whole). Records events into *l and
 * line results into lines[] (at most nlines_max). Returns the line count. */
static size_t scan(const char *text, size_t n, fuzz_rng *chunk, uint8_t policy,
                   evlog *l, line_result *lines, size_t nlines_max)
{
    gs_json j;
    const char *p = text, *end = text + n;
    size_t nlines = 0, members = 0;
    char *sink = NULL;
    size_t sink_cap = 0;
    int sink_live = 0, value_pending = 1, stalls = 0;

    gs_json_reset(&j);
    while (p < end) {
        size_t take = n;
        const char *cend;
        if (chunk) {
            uint32_t r = rng_next(chunk);
            take = (r >> 8) % ((r & 3) == 0 ? 64 : (r & 3) == 1 ? 8 : 3) + 1;
        }
        if (take > (size_t)(end - p)) take = (size_t)(end - p);
        cend = p + take;
        while (p < cend) {
            const char *before = p;
            int ev = gs_json_next(&j, &p, cend);
            FUZZ_CHECK(p >= before && p <= cend, "pointer moved out of the chunk");
            FUZZ_CHECK(j.depth <= GS_MAX_DEPTH, "depth %u > GS_MAX_DEPTH", j.depth);
            if (ev == GS_JSON_MORE) {
                FUZZ_CHECK(p == cend, "MORE with %zu bytes left", (size_t)(cend - p));
                stalls = 0;
                break;
            }
            if (p == before) {
                FUZZ_CHECK(++stalls < 2, "two events in a row without consuming a byte");
            } else {
                stalls = 0;
            }
            ev_u64(l, (uint64_t)ev);
            switch (ev) {
            case GS_JSON_MEMBER: {
                size_t cap;
                uint32_t h = (uint32_t)(members++ * 7u + policy);
                FUZZ_CHECK(!value_pending, "MEMBER while a wanted value is pending");
                FUZZ_CHECK(j.key_len <= GS_JSON_KEY_MAX, "key_len %zu", j.key_len);
                FUZZ_CHECK(!j.key_over || j.key_len == 0, "key_over with key_len %zu", j.key_len);
                ev_u64(l, j.key_len);
                ev_u64(l, j.key_over);
                ev_put(l, j.key, j.key_len);
                if (sink_live) { free(sink); sink = NULL; sink_live = 0; }
                for (cap = 0; cap < j.key_len; cap++) h = h * 31u + (unsigned char)j.key[cap];
                if (h % 5 == 0) break;              /* not wanted */
                cap = (h >> 3) % 11;
                if (cap == 10) {
                    gs_json_want(&j, NULL, 5);      /* wanted, stored nowhere */
                    sink_cap = 0;
                } else {
                    sink = malloc(cap ? cap : 1);
                    if (!sink) abort();
                    sink_live = 1;
                    sink_cap = cap;
                    /* cap 0 with a real pointer: nothing may be written */
                    gs_json_want(&j, sink, cap);
                }
                value_pending = 1;
                break;
            }
            case GS_JSON_VALUE:
                FUZZ_CHECK(value_pending, "VALUE for a value nobody wanted");
                value_pending = 0;
                FUZZ_CHECK(j.kind >= GS_JV_NULL && j.kind <= GS_JV_ARRAY, "kind %u", j.kind);
                ev_u64(l, j.kind);
                if (j.kind == GS_JV_STRING) {
                    if (sink_live) {
                        FUZZ_CHECK(j.str_len <= sink_cap, "str_len %zu > cap %zu", j.str_len, sink_cap);
                        FUZZ_CHECK(!j.str_over || j.str_len == sink_cap,
                                   "str_over with str_len %zu < cap %zu", j.str_len, sink_cap);
                        ev_put(l, sink, j.str_len);
                    }
                    ev_u64(l, j.str_len);
                    ev_u64(l, j.str_over);
                } else if (j.kind == GS_JV_NUMBER) {
                    ev_u64(l, j.num_neg);
                    ev_u64(l, j.num_int);
                    ev_u64(l, j.num_big);
                    ev_u64(l, j.num_mag);
                }
                if (sink_live) { free(sink); sink = NULL; sink_live = 0; }
                break;
            case GS_JSON_LINE:
                FUZZ_CHECK(j.status <= GS_JL_ERROR, "status %u", j.status);
                FUZZ_CHECK(p > before && p[-1] == '\n', "LINE not at a newline");
                ev_u64(l, j.status);
                ev_u64(l, j.too_deep);
                if (nlines < nlines_max) {
                    lines[nlines].status = j.status;
                    lines[nlines].too_deep = j.too_deep;
                }
                nlines++;
                if (sink_live) { free(sink); sink = NULL; sink_live = 0; }
                value_pending = 1;
                break;
            default:
                FUZZ_FAIL("unknown event %d", ev);
            }
        }
    }
    if (sink_live) free(sink);
    return nlines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static evlog whole, chunked;
    fuzz_rng rng;
    uint8_t seed, policy;
    const char *text;
    size_t n, nl = 0, i, k, start, lines_whole, lines_chunked;
    line_result *lw, *lc;

    if (size < 2) return 0;
    seed = data[0];
    policy = data[1];
    text = (const char *)data + 2;
    n = size - 2;
    for (i = 0; i < n; i++) nl += text[i] == '\n';
    lw = calloc(nl + 1, sizeof *lw);
    lc = calloc(nl + 1, sizeof *lc);
    if (!lw || !lc) abort();

    whole.len = chunked.len = 0;
    lines_whole = scan(text, n, NULL, policy, &whole, lw, nl);
    rng_seed(&rng, seed);
    lines_chunked = scan(text, n, &rng, policy, &chunked, lc, nl);

    FUZZ_CHECK(lines_whole == nl, "%zu LINE events for %zu newlines", lines_whole, nl);
    FUZZ_CHECK(lines_chunked == nl, "%zu LINE events (chunked) for %zu newlines", lines_chunked, nl);
    FUZZ_CHECK(whole.len == chunked.len && fuzz_memeq(whole.b, chunked.b, whole.len),
               "whole and chunked scans differ");

    /* each complete line against the reference validator */
    for (k = 0, start = 0, i = 0; i < n; i++) {
        unsigned depth;
        int ref;
        if (text[i] != '\n') continue;
        ref = ref_line((const unsigned char *)text + start, i - start, &depth);
        if (ref == REF_BLANK) {
            FUZZ_CHECK(lw[k].status == GS_JL_BLANK, "line %zu: blank, scanner says %u", k, lw[k].status);
        } else if (depth <= GS_MAX_DEPTH && ref != REF_TOO_DEEP_TO_CHECK) {
            FUZZ_CHECK(lw[k].status == (ref == REF_OK ? GS_JL_OK : GS_JL_ERROR),
                       "line %zu: reference %s, scanner status %u", k,
                       ref == REF_OK ? "valid" : "invalid", lw[k].status);
            FUZZ_CHECK(!lw[k].too_deep, "line %zu: too_deep at depth %u", k, depth);
        } else if (ref == REF_OK) {
            FUZZ_CHECK(lw[k].status == GS_JL_OK && lw[k].too_deep,
                       "line %zu: valid, depth %u, scanner status %u too_deep %u", k, depth,
                       lw[k].status, lw[k].too_deep);
        }
        start = i + 1;
        k++;
    }
    free(lw);
    free(lc);
    return 0;
}
