/*
 * unit_hpack.c - unit tests of the HPACK section (RFC 7541).
 *
 *     clang -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g \
 *         -fsanitize=address,undefined -fno-sanitize-recover=all \
 *         -o /tmp/unit_hpack tests/unit_hpack.c && /tmp/unit_hpack
 *
 * One line per check: PASS: name or FAIL: name (detail); the exit status
 * is 1 if any check failed. The code under test is included whole (its
 * functions are static).
 *
 * Decoder checks turn what the decoder reports into text: for each header
 * block its fields, one "name: value" line each (" (never indexed)",
 * " (name over N)", " (value over N)" appended when flagged), then the
 * dynamic table as RFC 7541 Appendix C prints it ("[  1] (s =  57) name:
 * value" lines and "      Table size:  57"). Each example is decoded fed
 * whole, one byte at a time, in two pieces cut at every offset and in
 * random pieces (fixed seed); every piece is a fresh heap copy of exactly
 * its bytes, so AddressSanitizer sees any read past it.
 */
#ifndef GS_HPACK_ENC_TABLE
#define GS_HPACK_ENC_TABLE 4096     /* the encoder examples index */
#endif
#define GS_NO_MAIN
#include "../grpcstream.c"

/* Not in the server, which never indexes: the encoder's side of a size
 * update, for the RFC 7541 examples. */
/* hp_encode_size_update writes a dynamic table size update (6.3) telling
 * the peer's decoder its maximum is now `size` (at most its SETTINGS
 * value), and applies it to e's table (clamped to GS_HPACK_ENC_TABLE).
 * Only at the beginning of a header block; needs 6 bytes. */
static uint8_t *hp_encode_size_update(gs_hpack_enc *e, uint8_t *d,
                                      uint32_t size)
{
    hp_tab_set_max(hp_enc_view(e), size < e->tab.cap ? size : e->tab.cap);
    return hp_put_int(d, 0x20, 5, size);
}


/* The checks are written for the default limits. */
#if GS_HPACK_TABLE != 4096 || GS_MAX_HEADER != 4096
#error "unit_hpack.c needs GS_HPACK_TABLE = GS_MAX_HEADER = 4096"
#endif
#if GS_HPACK_ENC_TABLE < 4096
#error "unit_hpack.c needs GS_HPACK_ENC_TABLE >= 4096"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int failures, passes;

static void check(int cond, const char *name)
{
    if (cond) {
        printf("PASS: %s\n", name);
        passes++;
    } else {
        printf("FAIL: %s\n", name);
        failures++;
    }
    fflush(stdout);
}

/* checkf: check with a printf-made name and, on failure, a detail. */
static void checkf(int cond, const char *detail, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!cond && detail && *detail) {
        size_t n = strlen(name);
        snprintf(name + n, sizeof name - n, " (%s)", detail);
    }
    check(cond, name);
}

/* ===================================================================== */
/* Helpers: a growing string, hex, a seeded generator                     */
/* ===================================================================== */

typedef struct { char *p; size_t n, cap; } str;

static void sadd(str *s, const void *b, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n + 1)
            cap *= 2;
        s->p = realloc(s->p, cap);
        if (!s->p) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        s->cap = cap;
    }
    memcpy(s->p + s->n, b, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void sfmt(str *s, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sadd(s, tmp, (size_t)n);
}

static void sclear(str *s)
{
    s->n = 0;
    if (s->p)
        s->p[0] = '\0';
}

static const char *sget(str *s)
{
    return s->p ? s->p : "";
}

static int same(str *a, str *b)
{
    return strcmp(sget(a), sget(b)) == 0;
}

/* unhex reads hex digits (spaces ignored) into out; returns the count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int half = -1;
    for (; *hex; hex++) {
        int v;
        char c = *hex;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            continue;
        if (half < 0) {
            half = v;
        } else {
            if (n < cap)
                out[n] = (uint8_t)(half * 16 + v);
            n++;
            half = -1;
        }
    }
    return n;
}

static void tohex(str *s, const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        sfmt(s, "%02x", b[i]);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)        /* 0 .. n-1 */
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return n ? (uint32_t)((x >> 11) % n) : 0;
}

/* first difference between two texts, for failure details */
static const char *first_diff(const char *a, const char *b)
{
    static char msg[200];
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    snprintf(msg, sizeof msg, "at %zu: got \"%.40s\" want \"%.40s\"", i,
             a + i, b + i);
    return msg;
}

/* ===================================================================== */
/* Decoding to text                                                       */
/* ===================================================================== */

static gs_hpack_dec dec;
static gs_hpack_enc enc;
static uint8_t tmp_name[GS_MAX_HEADER], tmp_value[GS_MAX_HEADER];

static void put_text(str *s, const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            sadd(s, &b[i], 1);
        else
            sfmt(s, "\\x%02x", b[i]);
    }
}

static void dump_field(str *out, const gs_hpack_dec *d)
{
    put_text(out, d->name, d->name_len < GS_MAX_HEADER ? d->name_len
                                                        : GS_MAX_HEADER);
    sadd(out, ": ", 2);
    put_text(out, d->value, d->value_len < GS_MAX_HEADER ? d->value_len
                                                          : GS_MAX_HEADER);
    if (d->never_indexed)
        sfmt(out, " (never indexed)");
    if (d->name_over)
        sfmt(out, " (name over %u)", (unsigned)d->name_len);
    if (d->value_over)
        sfmt(out, " (value over %u)", (unsigned)d->value_len);
    sadd(out, "\n", 1);
}

static void dump_table(str *out, gs_hpack_view v)
{
    uint32_t i;
    for (i = 0; i < v.t->count; i++) {
        const gs_hpack_entry *e = hp_tab_get(v, i);
        hp_ring_get(v, e->off, tmp_name, e->nlen);
        hp_ring_get(v, hp_tab_value_off(v, e), tmp_value, e->vlen);
        sfmt(out, "[%3u] (s = %3u) ", (unsigned)i + 1,
             (unsigned)(e->nlen + e->vlen + 32));
        put_text(out, tmp_name, e->nlen);
        sadd(out, ": ", 2);
        put_text(out, tmp_value, e->vlen);
        sadd(out, "\n", 1);
    }
    sfmt(out, "      Table size: %3u\n", (unsigned)v.t->size);
}

/* feed_block decodes one block of n bytes, cut before each of cuts[]
 * (ascending, inside 1..n-1), appending the fields and the table to out.
 * Returns 0, or -1 after appending "ERROR: why". */
static int feed_block(gs_hpack_dec *d, const uint8_t *b, size_t n,
                      const size_t *cuts, size_t ncuts, uint32_t limit,
                      int dump_tab, str *out)
{
    size_t start = 0, k;
    hp_block_begin(d, limit);
    for (k = 0; k <= ncuts; k++) {
        size_t stop = k < ncuts ? cuts[k] : n;
        size_t len = stop - start;
        uint8_t *piece = malloc(len ? len : 1);
        const uint8_t *p = piece, *end = piece + len;
        memcpy(piece, b + start, len);
        while (p < end) {
            const uint8_t *was = p;
            int r = hp_decode(d, &p, end);
            if (r == HP_FIELD) {
                dump_field(out, d);
            } else if (r < 0) {
                sfmt(out, "ERROR: %s\n", d->why);
                free(piece);
                return -1;
            } else if (p != end || p == was) {
                sfmt(out, "ERROR: HP_MORE before the input's end\n");
                free(piece);
                return -1;
            }
        }
        free(piece);
        start = stop;
    }
    if (hp_block_end(d) < 0) {
        sfmt(out, "ERROR: %s\n", d->why);
        return -1;
    }
    if (d->list_over)
        sfmt(out, "(list over: %u)\n", (unsigned)d->list_size);
    if (dump_tab)
        dump_table(out, hp_dec_view(d));
    return 0;
}

/* Ways to cut a block. */
enum { CUT_WHOLE, CUT_BYTES, CUT_AT, CUT_RANDOM };

static size_t make_cuts(size_t *cuts, size_t n, int mode, size_t at)
{
    size_t k = 0, pos;
    if (mode == CUT_BYTES) {
        for (pos = 1; pos < n; pos++)
            cuts[k++] = pos;
    } else if (mode == CUT_AT) {
        if (at > 0 && at < n)
            cuts[k++] = at;
    } else if (mode == CUT_RANDOM) {
        uint32_t step = 1 + rnd(rnd(2) ? 4 : (uint32_t)n + 1);
        for (pos = 1 + rnd(step); pos < n; pos += 1 + rnd(step))
            cuts[k++] = pos;
    }
    return k;
}

/* decode_blocks decodes blocks (hex) with one decoder whose table max is
 * `max`, cut by mode; returns the transcript in out. */
static void decode_blocks(const char *const *hex, int nblocks, uint32_t max,
                          int mode, size_t at, str *out)
{
    static uint8_t b[4096];
    static size_t cuts[4096];
    int i;
    hp_dec_init(&dec);
    hp_dec_set_max(&dec, max);
    sclear(out);
    for (i = 0; i < nblocks; i++) {
        size_t n = unhex(hex[i], b, sizeof b);
        size_t nc = make_cuts(cuts, n, mode, at);
        if (feed_block(&dec, b, n, cuts, nc, UINT32_MAX, 1, out) < 0)
            return;
    }
}

/* ===================================================================== */
/* RFC 7541 Appendix C                                                    */
/* ===================================================================== */

typedef struct {
    const char *hex, *list, *table;
} blk;

typedef struct {
    const char *name;
    uint32_t max;           /* SETTINGS_HEADER_TABLE_SIZE of the example */
    int how, huffman;       /* the encoder's choices */
    int n;
    blk b[3];
} example;

#define C3_T1 "[  1] (s =  57) :authority: www.example.com\n" \
              "      Table size:  57\n"
#define C3_T2 "[  1] (s =  53) cache-control: no-cache\n" \
              "[  2] (s =  57) :authority: www.example.com\n" \
              "      Table size: 110\n"
#define C3_T3 "[  1] (s =  54) custom-key: custom-value\n" \
              "[  2] (s =  53) cache-control: no-cache\n" \
              "[  3] (s =  57) :authority: www.example.com\n" \
              "      Table size: 164\n"
#define C3_L1 ":method: GET\n:scheme: http\n:path: /\n" \
              ":authority: www.example.com\n"
#define C3_L2 C3_L1 "cache-control: no-cache\n"
#define C3_L3 ":method: GET\n:scheme: https\n:path: /index.html\n" \
              ":authority: www.example.com\ncustom-key: custom-value\n"

#define C5_T1 "[  1] (s =  63) location: https://www.example.com\n" \
              "[  2] (s =  65) date: Mon, 21 Oct 2013 20:13:21 GMT\n" \
              "[  3] (s =  52) cache-control: private\n" \
              "[  4] (s =  42) :status: 302\n" \
              "      Table size: 222\n"
#define C5_T2 "[  1] (s =  42) :status: 307\n" \
              "[  2] (s =  63) location: https://www.example.com\n" \
              "[  3] (s =  65) date: Mon, 21 Oct 2013 20:13:21 GMT\n" \
              "[  4] (s =  52) cache-control: private\n" \
              "      Table size: 222\n"
#define C5_T3 "[  1] (s =  98) set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU;" \
              " max-age=3600; version=1\n" \
              "[  2] (s =  52) content-encoding: gzip\n" \
              "[  3] (s =  65) date: Mon, 21 Oct 2013 20:13:22 GMT\n" \
              "      Table size: 215\n"
#define C5_L1 ":status: 302\ncache-control: private\n" \
              "date: Mon, 21 Oct 2013 20:13:21 GMT\n" \
              "location: https://www.example.com\n"
#define C5_L2 ":status: 307\ncache-control: private\n" \
              "date: Mon, 21 Oct 2013 20:13:21 GMT\n" \
              "location: https://www.example.com\n"
#define C5_L3 ":status: 200\ncache-control: private\n" \
              "date: Mon, 21 Oct 2013 20:13:22 GMT\n" \
              "location: https://www.example.com\n" \
              "content-encoding: gzip\n" \
              "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; " \
              "version=1\n"
#define EMPTY_T "      Table size:   0\n"

static const example examples[] = {
    {"C.2.1 literal with indexing", 4096, HP_INDEX, 0, 1, {
        {"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
         "custom-key: custom-header\n",
         "[  1] (s =  55) custom-key: custom-header\n"
         "      Table size:  55\n"}}},
    {"C.2.2 literal without indexing", 4096, HP_NO_INDEX, 0, 1, {
        {"040c 2f73 616d 706c 652f 7061 7468",
         ":path: /sample/path\n", EMPTY_T}}},
    {"C.2.3 literal never indexed", 4096, HP_NEVER_INDEX, 0, 1, {
        {"1008 7061 7373 776f 7264 0673 6563 7265 74",
         "password: secret (never indexed)\n", EMPTY_T}}},
    {"C.2.4 indexed", 4096, HP_INDEX, 0, 1, {
        {"82", ":method: GET\n", EMPTY_T}}},
    {"C.3 requests", 4096, HP_INDEX, 0, 3, {
        {"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", C3_L1, C3_T1},
        {"8286 84be 5808 6e6f 2d63 6163 6865", C3_L2, C3_T2},
        {"8287 85bf 400a 6375 7374 6f6d 2d6b 6579"
         "0c63 7573 746f 6d2d 7661 6c75 65", C3_L3, C3_T3}}},
    {"C.4 requests with Huffman", 4096, HP_INDEX, 1, 3, {
        {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", C3_L1, C3_T1},
        {"8286 84be 5886 a8eb 1064 9cbf", C3_L2, C3_T2},
        {"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
         C3_L3, C3_T3}}},
    {"C.5 responses", 256, HP_INDEX, 0, 3, {
        {"4803 3330 3258 0770 7269 7661 7465 611d"
         "4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
         "2032 303a 3133 3a32 3120 474d 546e 1768"
         "7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
         "6c65 2e63 6f6d", C5_L1, C5_T1},
        {"4803 3330 37c1 c0bf", C5_L2, C5_T2},
        {"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420"
         "3230 3133 2032 303a 3133 3a32 3220 474d"
         "54c0 5a04 677a 6970 7738 666f 6f3d 4153"
         "444a 4b48 514b 425a 584f 5157 454f 5049"
         "5541 5851 5745 4f49 553b 206d 6178 2d61"
         "6765 3d33 3630 303b 2076 6572 7369 6f6e"
         "3d31", C5_L3, C5_T3}}},
    {"C.6 responses with Huffman", 256, HP_INDEX, 1, 3, {
        {"4882 6402 5885 aec3 771a 4b61 96d0 7abe"
         "9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
         "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8"
         "e9ae 82ae 43d3", C5_L1, C5_T1},
        {"4883 640e ffc1 c0bf", C5_L2, C5_T2},
        {"88c1 6196 d07a be94 1054 d444 a820 0595"
         "040b 8166 e084 a62d 1bff c05a 839b d9ab"
         "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b"
         "3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
         "9587 3160 65c0 03ed 4ee5 b106 3d50 07", C5_L3, C5_T3}}},
};
#define NEXAMPLES (sizeof examples / sizeof examples[0])

static void expected_text(const example *ex, str *want)
{
    int i;
    sclear(want);
    for (i = 0; i < ex->n; i++) {
        sadd(want, ex->b[i].list, strlen(ex->b[i].list));
        sadd(want, ex->b[i].table, strlen(ex->b[i].table));
    }
}

static void test_example_decode(const example *ex)
{
    static str got, want;
    const char *hex[3];
    size_t maxlen = 0, at;
    int i, ok, trial;
    uint8_t b[1024];
    for (i = 0; i < ex->n; i++) {
        size_t n = unhex(ex->b[i].hex, b, sizeof b);
        hex[i] = ex->b[i].hex;
        if (n > maxlen)
            maxlen = n;
    }
    expected_text(ex, &want);

    decode_blocks(hex, ex->n, ex->max, CUT_WHOLE, 0, &got);
    checkf(same(&got, &want), first_diff(sget(&got), sget(&want)),
           "%s: decoded whole", ex->name);
    decode_blocks(hex, ex->n, ex->max, CUT_BYTES, 0, &got);
    checkf(same(&got, &want), first_diff(sget(&got), sget(&want)),
           "%s: decoded a byte at a time", ex->name);
    ok = 1;
    for (at = 1; at < maxlen && ok; at++) {
        decode_blocks(hex, ex->n, ex->max, CUT_AT, at, &got);
        ok = strcmp(sget(&got), sget(&want)) == 0;
    }
    checkf(ok, first_diff(sget(&got), sget(&want)),
           "%s: decoded in two pieces cut at every offset", ex->name);
    ok = 1;
    for (trial = 0; trial < 500 && ok; trial++) {
        decode_blocks(hex, ex->n, ex->max, CUT_RANDOM, 0, &got);
        ok = strcmp(sget(&got), sget(&want)) == 0;
    }
    checkf(ok, first_diff(sget(&got), sget(&want)),
           "%s: decoded in random pieces (500 ways)", ex->name);
}

/* test_example_encode encodes each block's list with the example's
 * choices: the bytes must be the RFC's, and the table its table. */
static void test_example_encode(const example *ex)
{
    static str got, want, tab;
    static uint8_t out[4096];
    int i;
    hp_enc_init(&enc, ex->max);
    for (i = 0; i < ex->n; i++) {
        const char *line = ex->b[i].list;
        uint8_t *d = out;
        size_t n;
        while (*line) {
            const char *nl = strchr(line, '\n');
            const char *sep = strstr(line + 1, ": ");
            const char *vend = nl;
            const char *never = " (never indexed)";
            if ((size_t)(nl - line) > strlen(never) &&
                memcmp(nl - strlen(never), never, strlen(never)) == 0)
                vend = nl - strlen(never);
            d = hp_encode(&enc, d, line, (size_t)(sep - line), sep + 2,
                          (size_t)(vend - sep - 2), ex->how, ex->huffman);
            line = nl + 1;
        }
        sclear(&got);
        tohex(&got, out, (size_t)(d - out));
        sclear(&want);
        n = unhex(ex->b[i].hex, out, sizeof out);
        tohex(&want, out, n);
        checkf(same(&got, &want), first_diff(sget(&got), sget(&want)),
               "%s: block %d encoded byte for byte", ex->name, i + 1);
        sclear(&tab);
        dump_table(&tab, hp_enc_view(&enc));
        checkf(strcmp(sget(&tab), ex->b[i].table) == 0,
               first_diff(sget(&tab), ex->b[i].table),
               "%s: block %d encoder's table", ex->name, i + 1);
    }
}

/* C.1: integers. */
static void test_integers(void)
{
    uint8_t b[16], *e;
    str s = {0, 0, 0};
    const uint8_t *p;

    e = hp_put_int(b, 0x00, 5, 10);
    sclear(&s);
    tohex(&s, b, (size_t)(e - b));
    check(strcmp(sget(&s), "0a") == 0, "C.1.1 encode 10, 5-bit prefix: 0a");
    e = hp_put_int(b, 0x00, 5, 1337);
    sclear(&s);
    tohex(&s, b, (size_t)(e - b));
    check(strcmp(sget(&s), "1f9a0a") == 0,
          "C.1.2 encode 1337, 5-bit prefix: 1f 9a 0a");
    e = hp_put_int(b, 0x00, 8, 42);
    sclear(&s);
    tohex(&s, b, (size_t)(e - b));
    check(strcmp(sget(&s), "2a") == 0, "C.1.3 encode 42, 8-bit prefix: 2a");

    /* Decoding through a table size update (001 + a 5-bit prefix). */
    hp_dec_init(&dec);
    b[0] = 0x20 | 10;
    p = b;
    check(hp_decode(&dec, &p, b + 1) == HP_MORE && dec.tab.max == 10,
          "C.1.1 decode 10, 5-bit prefix (as a size update)");
    hp_dec_init(&dec);
    b[0] = 0x20 | 0x1f;
    b[1] = 0x9a;
    b[2] = 0x0a;
    p = b;
    check(hp_decode(&dec, &p, b + 3) == HP_MORE && dec.tab.max == 1337 &&
          p == b + 3, "C.1.2 decode 1337, 5-bit prefix (as a size update)");
    hp_dec_init(&dec);
    p = b;
    check(hp_decode(&dec, &p, b + 1) == HP_MORE &&
          hp_decode(&dec, &p, b + 2) == HP_MORE &&
          hp_decode(&dec, &p, b + 3) == HP_MORE && dec.tab.max == 1337,
          "C.1.2 decode 1337 a byte at a time");
    hp_dec_init(&dec);
    check(hp_int_begin(&dec, 42, 8, HP_I_SIZE) == HP_MORE &&
          dec.tab.max == 42, "C.1.3 decode 42, 8-bit prefix");
    hp_dec_init(&dec);
    check(hp_int_begin(&dec, 0xff, 8, HP_I_SIZE) == HP_MORE &&
          hp_int_byte(&dec, 0x80) == HP_MORE &&
          hp_int_byte(&dec, 0x1d) == HP_MORE &&
          dec.tab.max == 255 + 0x1d * 128,
          "decode 3967, 8-bit prefix, continuation bytes");

    /* Every prefix width, values around the prefix and 7-bit edges. */
    {
        static const uint32_t vals[] = {0, 1, 14, 15, 16, 30, 31, 32, 62, 63,
                                        64, 126, 127, 128, 254, 255, 256,
                                        16383, 16384, 2097151, 2097152,
                                        268435455, 268435456, 4294967295u};
        unsigned bits, i;
        int ok = 1;
        for (bits = 4; bits <= 7; bits++) {
            for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
                uint8_t *q, *end = hp_put_int(b, 0x00, bits, vals[i]);
                hp_dec_init(&dec);
                if (hp_int_begin(&dec, b[0], bits, HP_I_STRLEN) != HP_MORE)
                    ok = 0;
                for (q = b + 1; q < end; q++)
                    if (dec.state == HP_S_INT)
                        hp_int_byte(&dec, *q);
                    else
                        ok = 0;
                /* a string of that length is now expected */
                if (dec.state != HP_S_STR && vals[i] != 0)
                    ok = 0;
                if (vals[i] != 0 && dec.str_left != vals[i])
                    ok = 0;
                if ((size_t)(end - b) > 6)
                    ok = 0;
            }
        }
        check(ok, "integers of 4..7-bit prefixes round trip up to 2^32 - 1");
    }
    free(s.p);
}

/* RFC 7541 Appendix B, as printed there: code (hex, right-aligned) and
 * length for symbols 0..256 (256: EOS). */
static const struct { uint32_t code; uint8_t len; } rfc_huff[257] = {
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28},
    {0xfffffe4, 28}, {0xfffffe5, 28}, {0xfffffe6, 28}, {0xfffffe7, 28},
    {0xfffffe8, 28}, {0xffffea, 24}, {0x3ffffffc, 30}, {0xfffffe9, 28},
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28},
    {0xfffffed, 28}, {0xfffffee, 28}, {0xfffffef, 28}, {0xffffff0, 28},
    {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},
    {0xffffff4, 28}, {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28},
    {0xffffff8, 28}, {0xffffff9, 28}, {0xffffffa, 28}, {0xffffffb, 28},
    {0x14, 6}, {0x3f8, 10}, {0x3f9, 10}, {0xffa, 12}, {0x1ff9, 13}, {0x15, 6},
    {0xf8, 8}, {0x7fa, 11}, {0x3fa, 10}, {0x3fb, 10}, {0xf9, 8}, {0x7fb, 11},
    {0xfa, 8}, {0x16, 6}, {0x17, 6}, {0x18, 6}, {0x0, 5}, {0x1, 5}, {0x2, 5},
    {0x19, 6}, {0x1a, 6}, {0x1b, 6}, {0x1c, 6}, {0x1d, 6}, {0x1e, 6},
    {0x1f, 6}, {0x5c, 7}, {0xfb, 8}, {0x7ffc, 15}, {0x20, 6}, {0xffb, 12},
    {0x3fc, 10}, {0x1ffa, 13}, {0x21, 6}, {0x5d, 7}, {0x5e, 7}, {0x5f, 7},
    {0x60, 7}, {0x61, 7}, {0x62, 7}, {0x63, 7}, {0x64, 7}, {0x65, 7},
    {0x66, 7}, {0x67, 7}, {0x68, 7}, {0x69, 7}, {0x6a, 7}, {0x6b, 7},
    {0x6c, 7}, {0x6d, 7}, {0x6e, 7}, {0x6f, 7}, {0x70, 7}, {0x71, 7},
    {0x72, 7}, {0xfc, 8}, {0x73, 7}, {0xfd, 8}, {0x1ffb, 13}, {0x7fff0, 19},
    {0x1ffc, 13}, {0x3ffc, 14}, {0x22, 6}, {0x7ffd, 15}, {0x3, 5}, {0x23, 6},
    {0x4, 5}, {0x24, 6}, {0x5, 5}, {0x25, 6}, {0x26, 6}, {0x27, 6}, {0x6, 5},
    {0x74, 7}, {0x75, 7}, {0x28, 6}, {0x29, 6}, {0x2a, 6}, {0x7, 5},
    {0x2b, 6}, {0x76, 7}, {0x2c, 6}, {0x8, 5}, {0x9, 5}, {0x2d, 6}, {0x77, 7},
    {0x78, 7}, {0x79, 7}, {0x7a, 7}, {0x7b, 7}, {0x7ffe, 15}, {0x7fc, 11},
    {0x3ffd, 14}, {0x1ffd, 13}, {0xffffffc, 28}, {0xfffe6, 20},
    {0x3fffd2, 22}, {0xfffe7, 20}, {0xfffe8, 20}, {0x3fffd3, 22},
    {0x3fffd4, 22}, {0x3fffd5, 22}, {0x7fffd9, 23}, {0x3fffd6, 22},
    {0x7fffda, 23}, {0x7fffdb, 23}, {0x7fffdc, 23}, {0x7fffdd, 23},
    {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23}, {0xffffec, 24},
    {0xffffed, 24}, {0x3fffd7, 22}, {0x7fffe0, 23}, {0xffffee, 24},
    {0x7fffe1, 23}, {0x7fffe2, 23}, {0x7fffe3, 23}, {0x7fffe4, 23},
    {0x1fffdc, 21}, {0x3fffd8, 22}, {0x7fffe5, 23}, {0x3fffd9, 22},
    {0x7fffe6, 23}, {0x7fffe7, 23}, {0xffffef, 24}, {0x3fffda, 22},
    {0x1fffdd, 21}, {0xfffe9, 20}, {0x3fffdb, 22}, {0x3fffdc, 22},
    {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21}, {0x7fffea, 23},
    {0x3fffdd, 22}, {0x3fffde, 22}, {0xfffff0, 24}, {0x1fffdf, 21},
    {0x3fffdf, 22}, {0x7fffeb, 23}, {0x7fffec, 23}, {0x1fffe0, 21},
    {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21}, {0x7fffed, 23},
    {0x3fffe1, 22}, {0x7fffee, 23}, {0x7fffef, 23}, {0xfffea, 20},
    {0x3fffe2, 22}, {0x3fffe3, 22}, {0x3fffe4, 22}, {0x7ffff0, 23},
    {0x3fffe5, 22}, {0x3fffe6, 22}, {0x7ffff1, 23}, {0x3ffffe0, 26},
    {0x3ffffe1, 26}, {0xfffeb, 20}, {0x7fff1, 19}, {0x3fffe7, 22},
    {0x7ffff2, 23}, {0x3fffe8, 22}, {0x1ffffec, 25}, {0x3ffffe2, 26},
    {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27}, {0x7ffffdf, 27},
    {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25}, {0x7fff2, 19},
    {0x1fffe3, 21}, {0x3ffffe6, 26}, {0x7ffffe0, 27}, {0x7ffffe1, 27},
    {0x3ffffe7, 26}, {0x7ffffe2, 27}, {0xfffff2, 24}, {0x1fffe4, 21},
    {0x1fffe5, 21}, {0x3ffffe8, 26}, {0x3ffffe9, 26}, {0xffffffd, 28},
    {0x7ffffe3, 27}, {0x7ffffe4, 27}, {0x7ffffe5, 27}, {0xfffec, 20},
    {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21}, {0x3fffe9, 22},
    {0x1fffe7, 21}, {0x1fffe8, 21}, {0x7ffff3, 23}, {0x3fffea, 22},
    {0x3fffeb, 22}, {0x1ffffee, 25}, {0x1ffffef, 25}, {0xfffff4, 24},
    {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23}, {0x3ffffeb, 26},
    {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27},
    {0x7ffffe8, 27}, {0x7ffffe9, 27}, {0x7ffffea, 27}, {0x7ffffeb, 27},
    {0xffffffe, 28}, {0x7ffffec, 27}, {0x7ffffed, 27}, {0x7ffffee, 27},
    {0x7ffffef, 27}, {0x7fffff0, 27}, {0x3ffffee, 26}, {0x3fffffff, 30}
};

/* ===================================================================== */
/* Huffman                                                                */
/* ===================================================================== */

static void test_huffman_tables(void)
{
    static uint32_t code[257];
    uint32_t base[26], c;
    uint16_t start[27];
    uint8_t sym[257], rank[257], fast[256];
    uint64_t kraft = 0;
    unsigned s, l, k = 0, i;
    int ok = 1;

    for (s = 0; s < 257; s++)
        if (hp_huff_len[s] != rfc_huff[s].len)
            ok = 0;
    check(ok, "Huffman: the 257 code lengths are RFC 7541 Appendix B's");
    for (s = 0; s < 257; s++)
        kraft += (uint64_t)1 << (30 - hp_huff_len[s]);
    check(kraft == (uint64_t)1 << 30,
          "Huffman: the lengths make a complete prefix code (Kraft sum 1)");

    /* Canonical assignment from the lengths alone. */
    c = 0;
    for (l = 5; l <= 30; l++) {
        base[l - 5] = c;
        start[l - 5] = (uint16_t)k;
        for (s = 0; s < 257; s++) {
            if (hp_huff_len[s] != l)
                continue;
            code[s] = c++;
            rank[s] = (uint8_t)(code[s] - base[l - 5]);
            sym[k++] = (uint8_t)s;
        }
        c <<= 1;
    }
    start[26] = (uint16_t)k;
    ok = 1;
    for (s = 0; s < 257; s++)
        if (code[s] != rfc_huff[s].code)
            ok = 0;
    check(ok, "Huffman: codes assigned canonically from the lengths are "
              "the RFC's 257 codes");
    check(memcmp(base, hp_huff_base, sizeof base) == 0,
          "Huffman: hp_huff_base derives from the lengths");
    check(memcmp(start, hp_huff_start, sizeof start) == 0,
          "Huffman: hp_huff_start derives from the lengths");
    check(memcmp(sym, hp_huff_sym, 256) == 0 && k == 257,
          "Huffman: hp_huff_sym derives from the lengths (EOS last)");
    check(memcmp(rank, hp_huff_rank, 256) == 0,
          "Huffman: hp_huff_rank derives from the lengths");
    memset(fast, 0, sizeof fast);
    for (s = 0; s < 256; s++)
        if (hp_huff_len[s] <= 8)
            for (i = 0; i < 1u << (8 - hp_huff_len[s]); i++)
                fast[(code[s] << (8 - hp_huff_len[s])) + i] = (uint8_t)s;
    check(memcmp(fast, hp_huff_fast, sizeof fast) == 0 &&
          hp_huff_len[0] > 8,
          "Huffman: hp_huff_fast derives from the lengths");
    ok = 1;
    for (s = 0; s < 256; s++)
        if (hp_huff_code((uint8_t)s) != rfc_huff[s].code)
            ok = 0;
    check(ok, "Huffman: hp_huff_code gives the RFC's code for all 256 bytes");
    printf("INFO: Huffman const data %u bytes, static table %u bytes + "
           "strings; sizeof(gs_hpack_dec) %u, sizeof(gs_hpack_enc) %u "
           "(GS_HPACK_ENC_TABLE %d)\n",
           (unsigned)(sizeof hp_huff_len + sizeof hp_huff_base +
                      sizeof hp_huff_start + sizeof hp_huff_sym +
                      sizeof hp_huff_rank + sizeof hp_huff_fast),
           (unsigned)sizeof hp_static, (unsigned)sizeof(gs_hpack_dec),
           (unsigned)sizeof(gs_hpack_enc), GS_HPACK_ENC_TABLE);
}

/* huff_value_block makes a block: one literal field without indexing,
 * name "x", whose value is the n bytes s Huffman coded. */
static size_t huff_value_block(uint8_t *b, const uint8_t *s, size_t n)
{
    uint8_t *d = b;
    *d++ = 0x00;
    *d++ = 0x01;
    *d++ = 'x';
    d = hp_put_int(d, 0x80, 7, (size_t)hp_huff_size(s, n));
    d = hp_huff_put(d, s, n);
    return (size_t)(d - b);
}

/* decode_one decodes block b with a fresh decoder, cut by mode. */
static void decode_one(const uint8_t *b, size_t n, int mode, str *out)
{
    static size_t cuts[1 << 16];
    size_t nc = make_cuts(cuts, n, mode, n / 2);
    hp_dec_init(&dec);
    sclear(out);
    feed_block(&dec, b, n, cuts, nc, UINT32_MAX, 0, out);
}

static void test_huffman_round_trip(void)
{
    static uint8_t s[4096], b[8192];
    static str got, want;
    size_t n, i, len;
    int ok, trial, mode;
    uint8_t *e;

    e = hp_huff_put(b, (const uint8_t *)"www.example.com", 15);
    sclear(&got);
    tohex(&got, b, (size_t)(e - b));
    check(strcmp(sget(&got), "f1e3c2e5f23a6ba0ab90f4ff") == 0,
          "Huffman: encode www.example.com (C.4.1)");

    for (i = 0; i < 256; i++)
        s[i] = (uint8_t)i;
    n = huff_value_block(b, s, 256);
    sclear(&want);
    sadd(&want, "x: ", 3);
    put_text(&want, s, 256);
    sadd(&want, "\n", 1);
    ok = 1;
    for (mode = CUT_WHOLE; mode <= CUT_RANDOM; mode++) {
        decode_one(b, n, mode, &got);
        if (strcmp(sget(&got), sget(&want)) != 0)
            ok = 0;
    }
    checkf(ok, first_diff(sget(&got), sget(&want)),
           "Huffman: all 256 byte values round trip (any cuts)");
    check(hp_huff_size(s, 256) == (size_t)(hp_huff_put(b, s, 256) - b),
          "Huffman: hp_huff_size is what hp_huff_put writes");

    ok = 1;
    for (trial = 0; trial < 3000 && ok; trial++) {
        int kind = (int)rnd(3);
        len = rnd(trial % 10 == 0 ? 2000 : 64);
        for (i = 0; i < len; i++)
            s[i] = kind == 0 ? (uint8_t)rnd(256)
                 : kind == 1 ? (uint8_t)(0x20 + rnd(95))
                             : (uint8_t)"abc0123-/:=.%"[rnd(13)];
        n = huff_value_block(b, s, len);
        sclear(&want);
        sadd(&want, "x: ", 3);
        put_text(&want, s, len);
        sadd(&want, "\n", 1);
        decode_one(b, n, trial % 3 == 0 ? CUT_BYTES : CUT_RANDOM, &got);
        if (strcmp(sget(&got), sget(&want)) != 0)
            ok = 0;
        if (hp_huff_size(s, len) != (size_t)(hp_huff_put(b, s, len) - b))
            ok = 0;
    }
    checkf(ok, first_diff(sget(&got), sget(&want)),
           "Huffman: 3000 random strings round trip (random cuts)");
}

/* ===================================================================== */
/* Errors                                                                 */
/* ===================================================================== */

/* decode_err decodes one block (hex) with a fresh decoder whose table max
 * is `max`, whole and a byte at a time; returns the error ("" if none),
 * or "(whole and bytes differ)". */
static const char *decode_err(const char *hex, uint32_t max)
{
    static char why[2][200];
    static uint8_t b[8192];
    static size_t cuts[8192];
    static str out;
    size_t n = unhex(hex, b, sizeof b);
    int mode;
    for (mode = 0; mode < 2; mode++) {
        size_t nc = make_cuts(cuts, n, mode == 0 ? CUT_WHOLE : CUT_BYTES, 0);
        hp_dec_init(&dec);
        hp_dec_set_max(&dec, max);
        sclear(&out);
        if (feed_block(&dec, b, n, cuts, nc, UINT32_MAX, 0, &out) < 0)
            snprintf(why[mode], sizeof why[mode], "%s", dec.why);
        else
            why[mode][0] = '\0';
    }
    return strcmp(why[0], why[1]) == 0 ? why[0] : "(whole and bytes differ)";
}

static void expect_err(const char *name, const char *hex, uint32_t max,
                       const char *want)
{
    const char *got = decode_err(hex, max);
    int ok = *want ? strstr(got, want) != NULL : *got == '\0';
    checkf(ok, got, "error: %s", name);
}

static void test_errors(void)
{
    const uint8_t *p;
    uint8_t b[4];

    expect_err("index 0", "80", 4096, "index 0");
    expect_err("index 62 with the dynamic table empty", "be", 4096,
               "index past");
    expect_err("literal name index 62 with the table empty", "7e 01 61",
               4096, "index past");
    expect_err("index 63 with one entry", "40 01 61 01 62 bf", 4096,
               "index past");
    expect_err("index 62 with one entry is fine", "40 01 61 01 62 be", 4096,
               "");
    expect_err("index 2^32 - 1 parses (then is past the table)",
               "ff 80 ff ff ff 0f", 4096, "index past");
    expect_err("integer 2^32 overflows", "ff 81 ff ff ff 0f", 4096,
               "integer above");
    expect_err("integer overflow in the 5th continuation byte",
               "ff ff ff ff ff 7f", 4096, "integer above");
    expect_err("integer with 6 continuation bytes", "ff 80 80 80 80 80 00",
               4096, "integer too long");
    expect_err("string length overflow", "00 7f ff ff ff ff 7f", 4096,
               "integer above");
    expect_err("Huffman padding of 8 bits", "00 01 78 81 ff", 4096,
               "padding longer than 7 bits");
    expect_err("Huffman padding of 15 bits", "00 01 78 82 1f ff", 4096,
               "padding longer than 7 bits");
    expect_err("Huffman padding not all ones", "00 01 78 81 18", 4096,
               "padding not all ones");
    expect_err("Huffman padding with one zero", "00 01 78 81 1e", 4096,
               "padding not all ones");
    expect_err("Huffman padding of 3 ones is fine", "00 01 78 81 1f", 4096,
               "");
    expect_err("Huffman EOS in a value", "00 01 78 84 ff ff ff ff", 4096,
               "EOS");
    expect_err("Huffman EOS in a name", "00 84 ff ff ff fc 01 61", 4096,
               "EOS");
    expect_err("Huffman EOS after a symbol", "00 01 78 85 1f ff ff ff ff",
               4096, "EOS");
    expect_err("size update above GS_HPACK_TABLE", "3f e2 1f", 4096,
               "size update above GS_HPACK_TABLE");
    expect_err("size update to GS_HPACK_TABLE is fine", "3f e1 1f 82", 4096,
               "");
    expect_err("two size updates at the start are fine", "20 3f e1 1f 82",
               4096, "");
    expect_err("size update after a field", "82 20", 4096, "after a field");
    expect_err("size update after a literal field", "00 01 61 00 3f 01",
               4096, "after a field");
    expect_err("block ends inside a literal", "40 0a 63 75", 4096,
               "ended inside a field");
    expect_err("block ends inside an integer", "82 ff", 4096,
               "ended inside a field");
    expect_err("block ends before the value", "82 41", 4096,
               "ended inside a field");
    expect_err("block ends inside a Huffman string", "00 85 f1 e3", 4096,
               "ended inside a field");
    expect_err("block ends after a name", "00 01 61", 4096,
               "ended inside a field");
    expect_err("empty block is fine", "", 4096, "");
    expect_err("empty name and value are fine", "00 00 00 10 80 80", 4096,
               "");

    /* A peer that indexes more than GS_HPACK_TABLE while the table's max
     * is larger (before our SETTINGS reached it) gets an error, never a
     * table that differs from its own. */
    {
        static char hex[2 * 5000 + 64];
        size_t i, n = 0;
        n += (size_t)sprintf(hex + n, "40 01 78 7f ");
        {
            uint8_t t[8], *e = hp_put_int(t, 0x00, 7, 4100);
            for (i = 1; i < (size_t)(e - t); i++)
                n += (size_t)sprintf(hex + n, "%02x", t[i]);
        }
        for (i = 0; i < 4100; i++)
            n += (size_t)sprintf(hex + n, "76");
        expect_err("entry beyond GS_HPACK_TABLE while the max is above it",
                   hex, 8192, "larger than GS_HPACK_TABLE");
        expect_err("the same entry with max 4096 empties the table", hex,
                   4096, "");
    }

    /* Errors stick. */
    hp_dec_init(&dec);
    hp_block_begin(&dec, UINT32_MAX);
    b[0] = 0x80;
    b[1] = 0x82;
    p = b;
    check(hp_decode(&dec, &p, b + 2) == HP_ERR_COMPRESSION && p == b + 1 &&
          hp_decode(&dec, &p, b + 2) == HP_ERR_COMPRESSION && p == b + 1 &&
          hp_block_end(&dec) == HP_ERR_COMPRESSION,
          "error: sticks until hp_dec_init");
    hp_dec_init(&dec);
    hp_block_begin(&dec, UINT32_MAX);
    b[0] = 0x41;
    p = b;
    hp_decode(&dec, &p, b + 1);
    hp_block_begin(&dec, UINT32_MAX);
    b[0] = 0x82;
    p = b;
    check(hp_decode(&dec, &p, b + 1) == HP_ERR_COMPRESSION,
          "error: hp_block_begin inside a field");
}

/* ===================================================================== */
/* Limits                                                                 */
/* ===================================================================== */

/* Appends a literal without indexing: name (raw) and a value of n bytes
 * c, raw or Huffman coded. */
static uint8_t *lit_fill(uint8_t *d, const char *name, uint8_t c, size_t n,
                         int huff)
{
    size_t i;
    *d++ = 0x00;
    d = hp_put_int(d, 0x00, 7, strlen(name));
    memcpy(d, name, strlen(name));
    d += strlen(name);
    if (!huff) {
        d = hp_put_int(d, 0x00, 7, n);
        memset(d, c, n);
        return d + n;
    } else {
        uint64_t acc = 0;
        unsigned bits = 0, l = hp_huff_len[c];
        d = hp_put_int(d, 0x80, 7, (size_t)((n * l + 7) / 8));
        for (i = 0; i < n; i++) {
            acc = (acc << l) | hp_huff_code(c);
            bits += l;
            while (bits >= 8) {
                bits -= 8;
                *d++ = (uint8_t)(acc >> bits);
            }
        }
        if (bits)
            *d++ = (uint8_t)((acc << (8 - bits)) | (0xffu >> bits));
        return d;
    }
}

static void test_over(void)
{
    static uint8_t b[16384];
    static str got, want;
    static char text[GS_MAX_HEADER + 1];
    uint8_t *d;
    int huff, mode, ok;

    memset(text, 'v', GS_MAX_HEADER);
    for (huff = 0; huff < 2; huff++) {
        d = lit_fill(b, "big", 'v', 5000, huff);
        *d++ = 0x82;
        sclear(&want);
        sfmt(&want, "big: ");
        sadd(&want, text, GS_MAX_HEADER);
        sfmt(&want, " (value over 5000)\n:method: GET\n");
        ok = 1;
        for (mode = CUT_WHOLE; mode <= CUT_RANDOM; mode++) {
            decode_one(b, (size_t)(d - b), mode, &got);
            if (strcmp(sget(&got), sget(&want)) != 0)
                ok = 0;
        }
        checkf(ok, first_diff(sget(&got), sget(&want)),
               "limits: a %s value of 5000 bytes is flagged, its first "
               "GS_MAX_HEADER kept, the next field decoded",
               huff ? "Huffman" : "raw");
    }

    /* A name over the limit. */
    d = b;
    *d++ = 0x10;
    d = hp_put_int(d, 0x00, 7, GS_MAX_HEADER + 1);
    memset(d, 'n', GS_MAX_HEADER + 1);
    d += GS_MAX_HEADER + 1;
    *d++ = 0x01;
    *d++ = 'v';
    *d++ = 0x84;
    decode_one(b, (size_t)(d - b), CUT_RANDOM, &got);
    sclear(&want);
    memset(text, 'n', GS_MAX_HEADER);
    sadd(&want, text, GS_MAX_HEADER);
    sfmt(&want, ": v (never indexed) (name over %u)\n:path: /\n",
         GS_MAX_HEADER + 1);
    checkf(strcmp(sget(&got), sget(&want)) == 0,
           first_diff(sget(&got), sget(&want)),
           "limits: a name of GS_MAX_HEADER + 1 bytes is flagged");

    /* Exactly GS_MAX_HEADER is stored, not over. */
    d = lit_fill(b, "big", 'v', GS_MAX_HEADER, 1);
    decode_one(b, (size_t)(d - b), CUT_BYTES, &got);
    check(dec.value_len == GS_MAX_HEADER && !dec.value_over &&
          got.n == 5 + GS_MAX_HEADER + 1,
          "limits: a value of exactly GS_MAX_HEADER bytes is not over");

    /* An over value with incremental indexing: the entry is larger than
     * the table, which empties; decoding stays in sync. */
    {
        static size_t cuts[1];
        d = b;
        memcpy(d, "\x40\x01\x61\x01\x62", 5);       /* a: b, indexed */
        d += 5;
        *d++ = 0xbe;                                 /* a: b */
        *d++ = 0x40;
        *d++ = 0x01;
        *d++ = 'x';
        d = hp_put_int(d, 0x00, 7, 5000);
        memset(d, 'w', 5000);
        d += 5000;
        hp_dec_init(&dec);
        sclear(&got);
        feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 1, &got);
        check(strstr(sget(&got), "a: b\na: b\nx: www") == sget(&got) &&
              strstr(sget(&got), "(value over 5000)\n      Table size:   0\n")
              != NULL && dec.tab.count == 0,
              "limits: an over value with indexing empties the table");
        b[0] = 0xbe;
        sclear(&got);
        check(feed_block(&dec, b, 1, cuts, 0, UINT32_MAX, 0, &got) < 0 &&
              strstr(sget(&got), "index past") != NULL,
              "limits: ... and index 62 is then past the table");
    }
}

static void test_list_limit(void)
{
    static size_t cuts[1];
    static str got;
    uint8_t b[8];
    /* :method: GET 42, :path: / 38, :scheme: http 43 */
    b[0] = 0x82;
    b[1] = 0x84;
    b[2] = 0x86;
    hp_dec_init(&dec);
    sclear(&got);
    feed_block(&dec, b, 2, cuts, 0, 80, 0, &got);
    check(!dec.list_over && dec.list_size == 80,
          "limits: a header list of exactly the limit is not over");
    sclear(&got);
    feed_block(&dec, b, 3, cuts, 0, 100, 0, &got);
    check(dec.list_over && dec.list_size == 123 &&
          strcmp(sget(&got), ":method: GET\n:path: /\n:scheme: http\n"
                             "(list over: 123)\n") == 0,
          "limits: past the list limit: list_over, every field decoded");
    sclear(&got);
    feed_block(&dec, b, 1, cuts, 0, 100, 0, &got);
    check(!dec.list_over && dec.list_size == 42,
          "limits: the next block starts a new list");
}

static void test_big_literal(void)
{
    const size_t big = (size_t)1 << 20, piece = 16384;
    int huff;
    for (huff = 0; huff < 2; huff++) {
        uint8_t *b = malloc(big + 64), *d, *q;
        size_t n, off, mores = 0, fields = 0, npieces = 0;
        int bad = 0;
        clock_t t0;
        double secs;
        d = lit_fill(b, "big", huff ? 'a' : 'v', big, huff);
        *d++ = 0x82;
        n = (size_t)(d - b);
        hp_dec_init(&dec);
        hp_block_begin(&dec, 65536);
        t0 = clock();
        for (off = 0; off < n; off += piece) {
            size_t len = n - off < piece ? n - off : piece;
            const uint8_t *p, *end;
            q = malloc(len);
            memcpy(q, b + off, len);
            p = q;
            end = q + len;
            npieces++;
            while (p < end) {
                int r = hp_decode(&dec, &p, end);
                if (r == HP_MORE)
                    mores++;
                else if (r == HP_FIELD && fields++ == 0)
                    bad |= dec.value_len != big || !dec.value_over ||
                           dec.value[GS_MAX_HEADER - 1] != (huff ? 'a' : 'v')
                           || dec.name_len != 3;
                else if (r < 0)
                    bad = 1;
            }
            free(q);
        }
        secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        bad |= hp_block_end(&dec) != 0 || fields != 2 || !dec.list_over ||
               dec.list_size != big + 3 + 32 + 42;
        checkf(!bad && mores == npieces - 1, "",
               "limits: a 1 MiB %s value fed in 16 KiB pieces (%zu) is "
               "counted, flagged, in sync", huff ? "Huffman" : "raw",
               npieces);
        printf("INFO: 1 MiB %s value decoded in %.3f s\n",
               huff ? "Huffman" : "raw", secs);
        checkf(secs < 5.0, "", "limits: ... in linear time (%.3f s)", secs);
        free(b);
    }
}

static void test_table_eviction(void)
{
    static uint8_t b[1024];
    static size_t cuts[1];
    static str got, want, et, dt;
    static char v300[301];
    uint8_t *d;
    hp_enc_init(&enc, 256);
    d = b;
    d = hp_encode(&enc, d, "a", 1, "b", 1, HP_INDEX, 0);
    d = hp_encode(&enc, d, "c", 1, "d", 1, HP_INDEX, 0);
    memset(v300, 'z', 300);
    /* 1 + 223 + 32 = 256: exactly the table, evicts the rest */
    d = hp_encode(&enc, d, "x", 1, v300, 223, HP_INDEX, 1);
    hp_dec_init(&dec);
    hp_dec_set_max(&dec, 256);
    sclear(&got);
    feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0, &got);
    check(dec.tab.count == 1 && dec.tab.size == 256 && enc.tab.count == 1 &&
          enc.tab.size == 256,
          "table: an entry of exactly the max evicts all others");
    d = hp_encode(&enc, b, "y", 1, v300, 300, HP_INDEX, 0);
    sclear(&got);
    feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0, &got);
    check(dec.tab.count == 0 && dec.tab.size == 0 && enc.tab.count == 0 &&
          enc.tab.size == 0 && strncmp(sget(&got), "y: zzz", 6) == 0,
          "table: an entry larger than the table empties it (both sides)");
    /* Size updates: the encoder's and the decoder's tables follow. */
    d = b;
    d = hp_encode(&enc, d, "a", 1, "b", 1, HP_INDEX, 0);
    d = hp_encode(&enc, d, "c", 1, "d", 1, HP_INDEX, 0);
    sclear(&got);
    feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0, &got);
    d = hp_encode_size_update(&enc, b, 40);
    d = hp_encode(&enc, d, "c", 1, "d", 1, HP_INDEX, 0);
    check(d - b == 3 && b[0] == 0x3f && b[1] == 0x09 && b[2] == 0xbe &&
          enc.tab.max == 40,
          "table: hp_encode_size_update writes 40 as 3f 09 (then c: d is be)");
    sclear(&got);
    feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0, &got);
    sclear(&et);
    dump_table(&et, hp_enc_view(&enc));
    sclear(&dt);
    dump_table(&dt, hp_dec_view(&dec));
    check(dec.tab.max == 40 && strcmp(sget(&et), sget(&dt)) == 0 &&
          strcmp(sget(&dt), "[  1] (s =  34) c: d\n      Table size:  34\n")
          == 0 && strcmp(sget(&got), "c: d\n") == 0,
          "table: a size update evicts the oldest on both sides");
    d = hp_encode_size_update(&enc, b, 4096);
    check(d - b == 3 && b[0] == 0x3f && b[1] == 0xe1 && b[2] == 0x1f,
          "table: hp_encode_size_update writes 4096 as 3f e1 1f");
    d = hp_encode_size_update(&enc, b, 100000);
    check(enc.tab.max == GS_HPACK_ENC_TABLE,
          "table: the encoder clamps a size update to its storage");

    /* A table filled exactly to its max keeps every entry. */
    hp_enc_init(&enc, 68);
    d = hp_encode(&enc, b, "a", 1, "b", 1, HP_INDEX, 0);
    d = hp_encode(&enc, d, "c", 1, "d", 1, HP_INDEX, 0);
    hp_dec_init(&dec);
    hp_dec_set_max(&dec, 68);
    sclear(&got);
    feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0, &got);
    check(dec.tab.count == 2 && dec.tab.size == 68 && enc.tab.count == 2,
          "table: entries that fill the max exactly all stay");

    /* Ring wrap: thousands of entries, names and values of any length
     * crossing the ring's end, older entries referred to by index. */
    {
        int i, ok = 1;
        static char name[64], value[200];
        static const uint32_t maxes[] = {300, 1000, 4096};
        for (i = 0; i < 6000 && ok; i++) {
            size_t nl = 1 + rnd(60), vl = rnd(i % 7 == 0 ? 200 : 60), k;
            if (i % 2000 == 0) {
                hp_enc_init(&enc, maxes[i / 2000]);
                hp_dec_init(&dec);
                hp_dec_set_max(&dec, maxes[i / 2000]);
            }
            for (k = 0; k < nl; k++)
                name[k] = (char)('a' + rnd(26));
            for (k = 0; k < vl; k++)
                value[k] = (char)rnd(256);
            d = hp_encode(&enc, b, name, nl, value, vl, HP_INDEX, i & 1);
            sclear(&want);
            put_text(&want, (const uint8_t *)name, nl);
            sadd(&want, ": ", 2);
            put_text(&want, (const uint8_t *)value, vl);
            sadd(&want, "\n", 1);
            if (enc.tab.count > 0) {
                gs_hpack_view v = hp_enc_view(&enc);
                uint32_t j = rnd(enc.tab.count), k2 = rnd(enc.tab.count);
                const gs_hpack_entry *e = hp_tab_get(v, j);
                /* entry j by index: the encoder's copy says what it is */
                d = hp_put_int(d, 0x80, 7, 62 + j);
                hp_ring_get(v, e->off, tmp_name, e->nlen);
                hp_ring_get(v, hp_tab_value_off(v, e), tmp_value, e->vlen);
                put_text(&want, tmp_name, e->nlen);
                sadd(&want, ": ", 2);
                put_text(&want, tmp_value, e->vlen);
                sadd(&want, "\n", 1);
                /* entry k2's name with a new value */
                e = hp_tab_get(v, k2);
                d = hp_put_int(d, 0x00, 4, 62 + k2);
                *d++ = 0x01;
                *d++ = 'v';
                hp_ring_get(v, e->off, tmp_name, e->nlen);
                put_text(&want, tmp_name, e->nlen);
                sadd(&want, ": v\n", 4);
            }
            sclear(&got);
            feed_block(&dec, b, (size_t)(d - b), cuts, 0, UINT32_MAX, 0,
                       &got);
            sclear(&et);
            dump_table(&et, hp_enc_view(&enc));
            sclear(&dt);
            dump_table(&dt, hp_dec_view(&dec));
            if (strcmp(sget(&et), sget(&dt)) != 0 ||
                strcmp(sget(&got), sget(&want)) != 0)
                ok = 0;
        }
        check(ok, "table: 6000 entries through tables of 300, 1000 and "
                  "4096 (the ring wraps), both sides agree");
    }
}

static void test_encoder_choices(void)
{
    uint8_t b[64], *d;
    static str got;
    hp_enc_init(&enc, 0);
    d = hp_encode(&enc, b, ":status", 7, "200", 3, HP_NO_INDEX, 0);
    check(d - b == 1 && b[0] == 0x88,
          "encoder: HP_NO_INDEX sends a static pair as index 8 (88)");
    d = hp_encode(&enc, b, ":status", 7, "200", 3, HP_NEVER_INDEX, 0);
    check(d - b == 5 && b[0] == 0x18 && b[1] == 0x03,
          "encoder: HP_NEVER_INDEX sends a static pair as a literal");
    d = hp_encode(&enc, b, "custom-key", 10, "v", 1, HP_INDEX, 0);
    check(b[0] == 0x00 && enc.tab.count == 0,
          "encoder: with a zero-size table HP_INDEX does not index");
    d = hp_encode(&enc, b, "content-type", 12, "application/grpc", 16,
                  HP_NO_INDEX, 1);
    sclear(&got);
    tohex(&got, b, (size_t)(d - b));
    check(b[0] == 0x0f && b[1] == 0x10 && (b[2] & 0x80) &&
          (size_t)(d - b) <= hp_encode_max(12, 16),
          "encoder: content-type by name index 31 (0f 10), Huffman value");
    d = hp_encode(&enc, b, "", 0, "", 0, HP_NO_INDEX, 1);
    check(d - b == 3 && b[0] == 0 && b[1] == 0 && b[2] == 0,
          "encoder: empty name and value are sent raw (00 00 00)");
}

/* ===================================================================== */
/* Random round trips: our encoder to our decoder                         */
/* ===================================================================== */

static void test_random_round_trip(void)
{
    static const char *const names[] = {
        ":method", ":path", ":status", "content-type", "grpc-status",
        "grpc-message", "te", "user-agent", "x-custom", "cookie",
        ":authority", "grpc-timeout"};
    static const char *const values[] = {
        "GET", "POST", "/", "200", "application/grpc", "trailers", "0",
        "", "gzip, deflate", "hello world"};
    static const uint32_t sizes[] = {0, 32, 64, 256, 1000, 4096};
    static uint8_t block[65536];
    static char vbuf[400], nbuf[40];
    static str want, got, et, dt;
    static size_t cuts[65536];
    int trial, bi, f, ok = 1, bound_ok = 1;

    for (trial = 0; trial < 400 && ok; trial++) {
        uint32_t size = sizes[rnd(6)];
        hp_enc_init(&enc, size);
        hp_dec_init(&dec);
        hp_dec_set_max(&dec, size);
        for (bi = 0; bi < 6 && ok; bi++) {
            uint8_t *d = block;
            int nf = (int)rnd(14);
            size_t n, nc;
            sclear(&want);
            if (rnd(6) == 0)
                d = hp_encode_size_update(&enc, d, rnd(size + 1));
            for (f = 0; f < nf; f++) {
                const char *name, *value;
                size_t nl, vl;
                int how = (int)rnd(3), huff = (int)rnd(2);
                uint8_t *start = d;
                if (rnd(4) == 0) {
                    size_t i;
                    nl = 1 + rnd(20);
                    for (i = 0; i < nl; i++)
                        nbuf[i] = (char)('a' + rnd(26));
                    name = nbuf;
                } else {
                    name = names[rnd(12)];
                    nl = strlen(name);
                }
                if (rnd(3) == 0) {
                    size_t i;
                    vl = rnd(10) == 0 ? rnd(400) : rnd(40);
                    for (i = 0; i < vl; i++)
                        vbuf[i] = (char)(rnd(4) ? 0x20 + rnd(95) : rnd(256));
                    value = vbuf;
                } else {
                    value = values[rnd(10)];
                    vl = strlen(value);
                }
                d = hp_encode(&enc, d, name, nl, value, vl, how, huff);
                if ((size_t)(d - start) > hp_encode_max(nl, vl))
                    bound_ok = 0;
                put_text(&want, (const uint8_t *)name, nl);
                sadd(&want, ": ", 2);
                put_text(&want, (const uint8_t *)value, vl);
                if (how == HP_NEVER_INDEX)
                    sfmt(&want, " (never indexed)");
                sadd(&want, "\n", 1);
            }
            n = (size_t)(d - block);
            nc = make_cuts(cuts, n, rnd(2) ? CUT_RANDOM : CUT_BYTES, 0);
            sclear(&got);
            feed_block(&dec, block, n, cuts, nc, UINT32_MAX, 0, &got);
            sclear(&et);
            dump_table(&et, hp_enc_view(&enc));
            sclear(&dt);
            dump_table(&dt, hp_dec_view(&dec));
            if (strcmp(sget(&got), sget(&want)) != 0 ||
                strcmp(sget(&et), sget(&dt)) != 0)
                ok = 0;
        }
    }
    checkf(ok, first_diff(sget(&got), sget(&want)),
           "round trip: 400 random connections of 6 blocks, random "
           "indexing, Huffman, size updates and cuts");
    check(bound_ok, "round trip: hp_encode never writes more than "
                    "hp_encode_max");
}

int main(void)
{
    size_t i;
    test_integers();
    test_huffman_tables();
    test_huffman_round_trip();
    for (i = 0; i < NEXAMPLES; i++) {
        test_example_decode(&examples[i]);
        test_example_encode(&examples[i]);
    }
    test_errors();
    test_over();
    test_list_limit();
    test_big_literal();
    test_table_eviction();
    test_encoder_choices();
    test_random_round_trip();
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
