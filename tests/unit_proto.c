/*
 * unit_proto.c - unit tests of the protobuf codec (pb_*) and the gRPC
 * header helpers (grpc_*) in wip/proto.c.
 *
 *     clang -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g \
 *         -fsanitize=address,undefined -fno-sanitize-recover=all \
 *         -I. -o /tmp/unit_proto tests/unit_proto.c json.c
 *     /tmp/unit_proto             (from anywhere; reads no files)
 *
 * One line per check: PASS: name or FAIL: name; the exit status is 1 if
 * any check failed. Expected encodings were produced once with protoc
 * 3.21 and python3-protobuf (C++ backend) from
 *     syntax = "proto3";
 *     message WatchRequest { string filter = 1; uint64 limit = 2; bool follow = 3; }
 *     message LogEntry { string level = 1; string msg = 2; }
 *     message ChatMessage { string text = 1; }
 *     message AppendResponse { uint64 seq = 1; }
 *     message Big { string a = 1; uint64 b = 16; bool c = 2047; string d = 2048;
 *                   uint64 e = 536870911; }
 * and are hard-coded below; running the tests needs no Python.
 * The checks hold for any GS_MAX_VALUE the header accepts (try
 * -DGS_MAX_VALUE=16).
 */
#define _POSIX_C_SOURCE 200809L     /* as grpcstream.c, which this will include */
#define GS_NO_MAIN
#include "../grpcstream.c"

/* Helpers the server does not need (it never reads a grpc-message), kept
 * here to test the codecs both ways. */
static size_t pb_size(const gs_msg *m) { return pb_msg_size(m, 0); }

static int grpc_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/*
 * grpc_percent_decode writes the bytes that grpc-message value s[0..n)
 * stands for at d (at most n bytes; d may be s: it never writes ahead of
 * what it reads) and returns their count. %XX takes either hex case. A
 * '%' not followed by two hex digits is kept as it is, as the spec asks
 * of decoders ("MUST NOT error or throw away the message"). The result
 * may be any bytes, invalid UTF-8 included.
 */
static size_t grpc_percent_decode(char *d, const char *s, size_t n)
{
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && n - i >= 3 && (hi = grpc_hex((unsigned char)s[i + 1])) >= 0 &&
            (lo = grpc_hex((unsigned char)s[i + 2])) >= 0) {
            d[k++] = (char)(unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            d[k++] = (char)c;
            i++;
        }
    }
    return k;
}


#include <stdio.h>
#include <string.h>

static int failures;

static void check(int cond, const char *name)
{
    printf("%s: %s\n", cond ? "PASS" : "FAIL", name);
    if (!cond) failures++;
}

/* ----- descriptors (own names: grpcstream.c has the real ones) --------- */

static const gs_field t_watch_fields[] = {
    GS_FIELD("filter", 1, GS_STRING), GS_FIELD("limit", 2, GS_UINT64), GS_FIELD("follow", 3, GS_BOOL)
};
static const gs_field t_log_fields[] = { GS_FIELD("level", 1, GS_STRING), GS_FIELD("msg", 2, GS_STRING) };
static const gs_field t_chat_fields[] = { GS_FIELD("text", 1, GS_STRING) };
static const gs_field t_append_fields[] = { GS_FIELD("seq", 1, GS_UINT64) };
static const gs_field t_big_fields[] = {
    GS_FIELD("a", 1, GS_STRING), GS_FIELD("b", 16, GS_UINT64), GS_FIELD("c", 2047, GS_BOOL),
    GS_FIELD("d", 2048, GS_STRING), GS_FIELD("e", 536870911, GS_UINT64)
};
static const gs_desc t_watch = { "WatchRequest", t_watch_fields, 3 };
static const gs_desc t_log = { "LogEntry", t_log_fields, 2 };
static const gs_desc t_chat = { "ChatMessage", t_chat_fields, 1 };
static const gs_desc t_append = { "AppendResponse", t_append_fields, 1 };
static const gs_desc t_big = { "Big", t_big_fields, 5 };

/* ----- helpers ---------------------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1     /* a literal as pointer, length */

static char big_str[GS_MAX_VALUE + 2];      /* 'x' * (GS_MAX_VALUE + 1) */
static char enc[4 * (GS_MAX_VALUE + 64)];  /* encoder output */
static char why_buf[GS_JSON_KEY_MAX + 64];  /* as gs_node.why */

static gs_str str(const char *p, size_t n) { gs_str s; s.p = p; s.n = n; return s; }

static int msg_eq(const gs_msg *a, const gs_msg *b)
{
    unsigned i;
    if (a->desc != b->desc) return 0;
    for (i = 0; i < a->desc->nfields; i++) {
        switch (a->desc->fields[i].type) {
        case GS_STRING:
            if (a->v[i].s.n != b->v[i].s.n ||
                (a->v[i].s.n && memcmp(a->v[i].s.p, b->v[i].s.p, a->v[i].s.n)))
                return 0;
            break;
        case GS_UINT64: if (a->v[i].u != b->v[i].u) return 0; break;
        case GS_BOOL: if (!a->v[i].b != !b->v[i].b) return 0; break;
        default: return 0;          /* not in these messages */
        }
    }
    return 1;
}

/* Every string of m points into buf[0..len) or is the empty default. */
static int zero_copy(const gs_msg *m, const char *buf, size_t len)
{
    unsigned i;
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_str *s = &m->v[i].s;
        if (m->desc->fields[i].type != GS_STRING) continue;
        if (!s->p) return 0;
        if (s->n && (s->p < buf || s->p + s->n > buf + len)) return 0;
    }
    return 1;
}

static int decode(const gs_desc *d, const char *buf, size_t len, gs_msg *m, const char **why)
{
    *why = NULL;
    return pb_decode(d, buf, len, m, why, why_buf, sizeof why_buf);
}

/* Encodes m and compares with the expected bytes. */
static void check_bytes(const char *name, const gs_msg *m, const char *want, size_t want_n)
{
    char label[160];
    char *end;
    size_t n = pb_size(m);
    memset(enc, 0x5A, want_n + 16);
    end = pb_put_msg(enc, m);
    snprintf(label, sizeof label, "encode %s: size", name);
    check(n == want_n && (size_t)(end - enc) == n, label);
    snprintf(label, sizeof label, "encode %s: bytes", name);
    check((size_t)(end - enc) == want_n && memcmp(enc, want, want_n) == 0 &&
          (unsigned char)enc[want_n] == 0x5A, label);
}

/* check_bytes, then pb_size_max and decoding it back. */
static void check_encoding(const char *name, const gs_msg *m, const char *want, size_t want_n)
{
    char label[160];
    gs_msg back;
    const char *why;
    size_t n = pb_size(m);
    check_bytes(name, m, want, want_n);
    snprintf(label, sizeof label, "encode %s: within pb_size_max", name);
    check(n <= pb_size_max(m->desc), label);
    memset(&back, 0xA5, sizeof back);
    snprintf(label, sizeof label, "decode %s: round trip", name);
    check(decode(m->desc, want, want_n, &back, &why) == GS_OK && msg_eq(m, &back) &&
          zero_copy(&back, want, want_n), label);
}

static void expect_status(const char *name, const gs_desc *d, const char *buf, size_t len,
                          int status)
{
    gs_msg m;
    const char *why;
    int r = decode(d, buf, len, &m, &why);
    check(r == status && why && why[0], name);
}

#define MALFORMED(name, d, lit) expect_status(name, d, S(lit), GS_INTERNAL)

/* ----- protobuf: encodings ---------------------------------------------- */

static void test_encodings(void)
{
    gs_msg m;
    m.desc = &t_watch;
    m.v[0].s = str(S("error"));
    m.v[1].u = 150;
    m.v[2].b = 1;
    check_encoding("WatchRequest", &m, S("\x0a\x05" "error" "\x10\x96\x01\x18\x01"));

    m.v[0].s = str("", 0), m.v[1].u = 0, m.v[2].b = 0;
    check_encoding("WatchRequest defaults (empty)", &m, "", 0);
    m.v[0].s = str(NULL, 0);            /* an empty string may have no pointer */
    check(pb_size(&m) == 0 && pb_put_msg(enc, &m) == enc, "encode: NULL empty string");

    m.v[0].s = str(S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    m.v[1].u = UINT64_MAX;
    m.v[2].b = 1;
    check_encoding("WatchRequest UTF-8, UINT64_MAX", &m,
                   S("\x0a\x09\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                     "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x18\x01"));

    m.v[0].s = str("", 0), m.v[1].u = (uint64_t)1 << 63, m.v[2].b = 0;
    check_encoding("WatchRequest limit 2^63", &m, S("\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"));

    m.v[1].u = 0, m.v[2].b = 7;         /* any true int encodes as 1 */
    check_encoding("WatchRequest follow 7", &m, S("\x18\x01"));

    m.desc = &t_log;
    m.v[0].s = str(S("INFO"));
    m.v[1].s = str(S("hello\nworld"));
    check_encoding("LogEntry", &m, S("\x0a\x04" "INFO" "\x12\x0b" "hello\nworld"));

    m.desc = &t_chat;
    m.v[0].s = str(S("hi"));
    check_encoding("ChatMessage", &m, S("\x0a\x02" "hi"));
    {
        static char x200[200], want[203];   /* a two-byte length */
        memset(x200, 'x', sizeof x200);
        m.v[0].s = str(x200, sizeof x200);
        memcpy(want, "\x0a\xc8\x01", 3);
        memset(want + 3, 'x', 200);
        if (GS_MAX_VALUE >= 200) check_encoding("ChatMessage 200 bytes", &m, want, sizeof want);
        else check_bytes("ChatMessage 200 bytes", &m, want, sizeof want);
    }

    m.desc = &t_append;
    m.v[0].u = 0;
    check_encoding("AppendResponse 0", &m, "", 0);
    m.v[0].u = 1;
    check_encoding("AppendResponse 1", &m, S("\x08\x01"));
    m.v[0].u = 127;
    check_encoding("AppendResponse 127", &m, S("\x08\x7f"));
    m.v[0].u = 128;
    check_encoding("AppendResponse 128", &m, S("\x08\x80\x01"));
    m.v[0].u = 16383;
    check_encoding("AppendResponse 16383", &m, S("\x08\xff\x7f"));
    m.v[0].u = 16384;
    check_encoding("AppendResponse 16384", &m, S("\x08\x80\x80\x01"));
    m.v[0].u = (uint64_t)1 << 32;
    check_encoding("AppendResponse 2^32", &m, S("\x08\x80\x80\x80\x80\x10"));
    m.v[0].u = ((uint64_t)1 << 56) - 1;
    check_encoding("AppendResponse 2^56-1", &m, S("\x08\xff\xff\xff\xff\xff\xff\xff\x7f"));
    m.v[0].u = (uint64_t)1 << 56;
    check_encoding("AppendResponse 2^56", &m, S("\x08\x80\x80\x80\x80\x80\x80\x80\x80\x01"));
    m.v[0].u = (uint64_t)1 << 63;
    check_encoding("AppendResponse 2^63", &m, S("\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"));
    m.v[0].u = UINT64_MAX;
    check_encoding("AppendResponse UINT64_MAX", &m, S("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"));

    /* Keys of two, three and five bytes. */
    m.desc = &t_big;
    m.v[0].s = str(S("x")), m.v[1].u = 1, m.v[2].b = 1, m.v[3].s = str(S("y")), m.v[4].u = 5;
    check_encoding("Big (multi-byte keys)", &m,
                   S("\x0a\x01\x78\x80\x01\x01\xf8\x7f\x01\x82\x80\x01\x01\x79\xf8\xff\xff\xff\x0f\x05"));
}

/* ----- protobuf: sizes and the GS_MAX_VALUE boundary -------------------- */

static size_t vsize(uint64_t v) { size_t n = 1; while (v >= 128) v >>= 7, n++; return n; }

static void test_limits(void)
{
    gs_msg m, back;
    const char *why;
    char want[GS_JSON_KEY_MAX + 64];
    size_t n, str_max = 1 + vsize(GS_MAX_VALUE) + GS_MAX_VALUE;
    int r;

    check(pb_size_max(&t_watch) == str_max + 11 + 2, "pb_size_max WatchRequest");
    check(pb_size_max(&t_log) == 2 * str_max, "pb_size_max LogEntry");
    check(pb_size_max(&t_chat) == str_max, "pb_size_max ChatMessage");
    check(pb_size_max(&t_append) == 11, "pb_size_max AppendResponse");
    check(pb_size_max(&t_big) == (1 + vsize(GS_MAX_VALUE) + GS_MAX_VALUE) + (2 + 10) + (2 + 1) +
                                     (3 + vsize(GS_MAX_VALUE) + GS_MAX_VALUE) + (5 + 10),
          "pb_size_max Big (multi-byte keys)");

    /* The largest WatchRequest reaches pb_size_max exactly. */
    m.desc = &t_watch;
    m.v[0].s = str(big_str, GS_MAX_VALUE), m.v[1].u = UINT64_MAX, m.v[2].b = 1;
    n = (size_t)(pb_put_msg(enc, &m) - enc);
    check(n == pb_size(&m) && n == pb_size_max(&t_watch), "largest WatchRequest is pb_size_max");
    r = decode(&t_watch, enc, n, &back, &why);
    check(r == GS_OK && msg_eq(&m, &back) && zero_copy(&back, enc, n),
          "string of exactly GS_MAX_VALUE bytes decodes");

    /* One byte more: RESOURCE_EXHAUSTED with the JSON front end's text. */
    m.v[0].s = str(big_str, GS_MAX_VALUE + 1);
    n = (size_t)(pb_put_msg(enc, &m) - enc);
    check(n == pb_size(&m), "GS_MAX_VALUE + 1 string: pb_size");
    r = decode(&t_watch, enc, n, &back, &why);
    snprintf(want, sizeof want, "filter larger than %lu bytes", (unsigned long)GS_MAX_VALUE);
    check(r == GS_RESOURCE_EXHAUSTED && why == why_buf && strcmp(why, want) == 0,
          "GS_MAX_VALUE + 1 string: RESOURCE_EXHAUSTED, '<field> larger than N bytes'");

    m.desc = &t_log;                    /* the second field's name */
    m.v[0].s = str(S("x")), m.v[1].s = str(big_str, GS_MAX_VALUE + 1);
    n = (size_t)(pb_put_msg(enc, &m) - enc);
    r = decode(&t_log, enc, n, &back, &why);
    snprintf(want, sizeof want, "msg larger than %lu bytes", (unsigned long)GS_MAX_VALUE);
    check(r == GS_RESOURCE_EXHAUSTED && strcmp(why, want) == 0, "oversized msg names msg");

    /* An oversized unknown field is only skipped. */
    r = decode(&t_chat, enc, n, &back, &why);
    check(r == GS_OK && back.v[0].s.n == 1, "oversized unknown string skipped");

    /* A small why buffer shortens the name, never the number; a tiny one
     * gets a fixed text. */
    {
        char small[64];
        size_t fixed = strlen(" larger than  bytes") + (size_t)snprintf(want, sizeof want, "%lu", (unsigned long)GS_MAX_VALUE);
        m.desc = &t_watch;
        m.v[0].s = str(big_str, GS_MAX_VALUE + 1), m.v[1].u = 0, m.v[2].b = 0;
        n = (size_t)(pb_put_msg(enc, &m) - enc);
        memset(small, '#', sizeof small);
        r = pb_decode(&t_watch, enc, n, &back, &why, small, fixed + 3);
        snprintf(want, sizeof want, "fi larger than %lu bytes", (unsigned long)GS_MAX_VALUE);
        check(r == GS_RESOURCE_EXHAUSTED && strcmp(why, want) == 0 && small[fixed + 3] == '#',
              "why buffer too small for the name: name shortened");
        r = pb_decode(&t_watch, enc, n, &back, &why, small, 4);
        check(r == GS_RESOURCE_EXHAUSTED && why && why[0] && why != small,
              "why buffer too small for the text: a fixed text");
    }
}

/* ----- protobuf: decoding ----------------------------------------------- */

static void test_decoding(void)
{
    gs_msg m;
    const char *why;
    int r;

    memset(&m, 0xA5, sizeof m);
    r = decode(&t_watch, NULL, 0, &m, &why);
    check(r == GS_OK && m.desc == &t_watch && m.v[0].s.n == 0 && m.v[0].s.p && m.v[1].u == 0 &&
          m.v[2].b == 0, "empty input: all defaults");

    r = decode(&t_watch, S("\x18\x02"), &m, &why);
    check(r == GS_OK && m.v[2].b == 1, "bool: varint 2 is true");
    r = decode(&t_watch, S("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), &m, &why);
    check(r == GS_OK && m.v[2].b == 1, "bool: UINT64_MAX is true");
    r = decode(&t_watch, S("\x18\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"), &m, &why);
    check(r == GS_OK && m.v[2].b == 1, "bool: 2^63 is true (not truncated to 32 bits)");
    r = decode(&t_watch, S("\x18\x80\x00"), &m, &why);
    check(r == GS_OK && m.v[2].b == 0, "bool: non-minimal zero is false");
    r = decode(&t_watch, S("\x10\xff\xff\x03"), &m, &why);
    check(r == GS_OK && m.v[1].u == 65535, "uint64: 3-byte varint");
    r = decode(&t_watch, S("\x10\xff\x80\x80\x80\x80\x80\x80\x80\x80\x00"), &m, &why);
    check(r == GS_OK && m.v[1].u == 127, "uint64: 10-byte non-minimal varint");
    r = decode(&t_watch, S("\x10\x00\x18\x00\x0a\x00"), &m, &why);
    check(r == GS_OK && m.v[1].u == 0 && m.v[2].b == 0 && m.v[0].s.n == 0,
          "explicit defaults on the wire");
    r = decode(&t_watch, S("\x90\x80\x80\x80\x00\x05"), &m, &why);
    check(r == GS_OK && m.v[1].u == 5, "non-minimal key (5 bytes) is still the key");
    r = decode(&t_append, S("\x88\x80\x80\x80\x00\x05"), &m, &why);
    check(r == GS_OK && m.v[0].u == 5, "non-minimal key for a known field");

    /* Field order on the wire does not matter. */
    r = decode(&t_watch, S("\x18\x01\x10\x07\x0a\x02" "ab"), &m, &why);
    check(r == GS_OK && m.v[2].b && m.v[1].u == 7 && m.v[0].s.n == 2 &&
          memcmp(m.v[0].s.p, "ab", 2) == 0, "fields in reverse order");

    /* Last one wins; strings point at the last occurrence. */
    {
        static const char buf[] = "\x0a\x03" "one" "\x10\x05" "\x18\x01" "\x0a\x03" "two"
                                  "\x10\x06" "\x18\x00" "\x0a\x00" "\x10\x09";
        r = decode(&t_watch, buf, sizeof buf - 1, &m, &why);
        check(r == GS_OK && m.v[0].s.n == 0 && m.v[1].u == 9 && m.v[2].b == 0,
              "last one wins (back to defaults)");
        r = decode(&t_watch, buf, 14, &m, &why);
        check(r == GS_OK && m.v[0].s.p == buf + 11 && m.v[0].s.n == 3 && m.v[1].u == 5 &&
              m.v[2].b == 1, "last one wins (string is the later one, zero copy)");
        r = decode(&t_watch, buf, 18, &m, &why);
        check(r == GS_OK && m.v[1].u == 6 && m.v[2].b == 0, "last one wins (true then false)");
    }

    /* Unknown fields of every wire type, before, between and after. */
    {
        static const char buf[] =
            "\x48\x96\x01"                              /* 9: varint 150 */
            "\x0a\x01" "a"
            "\x51" "\x01\x02\x03\x04\x05\x06\x07\x08"   /* 10: fixed64 */
            "\x10\x2a"
            "\x5a\x03" "\xff\xfe\x00"                   /* 11: bytes, not UTF-8 */
            "\x65" "\x01\x02\x03\x04"                   /* 12: fixed32 */
            "\x18\x01"
            "\xf8\xff\xff\xff\x0f\x01"                  /* 2^29-1: varint */
            "\x22\x00"                                  /* 4: empty bytes */
            "\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"; /* 5: UINT64_MAX */
        r = decode(&t_watch, buf, sizeof buf - 1, &m, &why);
        check(r == GS_OK && m.v[0].s.n == 1 && m.v[0].s.p[0] == 'a' && m.v[1].u == 42 &&
              m.v[2].b == 1, "unknown fields of wire types 0, 1, 2, 5 skipped");
        r = decode(&t_chat, buf, sizeof buf - 1, &m, &why);
        check(r == GS_OK && m.v[0].s.n == 1, "same input, fewer known fields");
    }

    /* Every prefix of a valid message: OK exactly at field boundaries. */
    {
        static const char buf[] = "\x0a\x09\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                                  "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x18\x01";
        size_t k, bad = 0;
        for (k = 0; k <= sizeof buf - 1; k++) {
            int boundary = k == 0 || k == 11 || k == 22 || k == 24;
            r = decode(&t_watch, buf, k, &m, &why);
            if (boundary ? r != GS_OK : (r != GS_INTERNAL || !why || !why[0])) bad++;
        }
        check(bad == 0, "every truncation of a message: OK at boundaries, else INTERNAL");
    }
}

static void test_malformed(void)
{
    gs_msg m;
    const char *why;
    char buf[32];
    int r;

    MALFORMED("truncated key varint", &t_watch, "\x80");
    MALFORMED("truncated key varint after a field", &t_watch, "\x10\x01\x88");
    MALFORMED("key without value", &t_watch, "\x10");
    MALFORMED("truncated value varint", &t_watch, "\x10\x80\x80");
    MALFORMED("truncated unknown varint", &t_watch, "\x48\xff");
    MALFORMED("truncated length varint", &t_watch, "\x0a\x80");
    MALFORMED("varint of 11 bytes", &t_watch, "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01");
    MALFORMED("varint of 11 bytes (unknown)", &t_watch, "\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00");
    MALFORMED("key varint of 11 bytes", &t_watch, "\x88\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00");
    MALFORMED("10-byte varint beyond 64 bits", &t_watch, "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f");
    MALFORMED("10-byte varint, last byte 2", &t_watch, "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02");
    MALFORMED("length beyond the buffer", &t_watch, "\x0a\x05" "abc");
    MALFORMED("length beyond the buffer by one", &t_watch, "\x0a\x04" "abc");
    MALFORMED("unknown length beyond the buffer", &t_watch, "\x5a\x05" "abc");
    MALFORMED("length UINT64_MAX", &t_watch, "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "abc");
    MALFORMED("length 2^63", &t_watch, "\x5a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01" "abc");
    MALFORMED("field number 0 (varint)", &t_watch, "\x00\x00");
    MALFORMED("field number 0 (length)", &t_watch, "\x02\x00");
    MALFORMED("field number 0 after a field", &t_watch, "\x10\x01\x00\x01");
    MALFORMED("field number 2^29", &t_watch, "\x80\x80\x80\x80\x10\x00");
    MALFORMED("field number 2^61", &t_watch, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00");
    MALFORMED("wire type 3 (start group), unknown field", &t_watch, "\x4b\x4c");
    MALFORMED("wire type 3, known field", &t_watch, "\x0b\x0c");
    MALFORMED("wire type 4 (end group)", &t_watch, "\x4c");
    MALFORMED("wire type 6", &t_watch, "\x4e\x00");
    MALFORMED("wire type 7", &t_watch, "\x4f\x00");
    MALFORMED("wire type 6, known field", &t_watch, "\x0e\x00");
    MALFORMED("truncated fixed64", &t_watch, "\x51\x01\x02\x03\x04\x05\x06\x07");
    MALFORMED("truncated fixed32", &t_watch, "\x65\x01\x02\x03");
    MALFORMED("empty fixed32", &t_watch, "\x65");
    MALFORMED("string field as varint", &t_watch, "\x08\x01");
    MALFORMED("string field as fixed32", &t_watch, "\x0d\x61\x62\x63\x64");
    MALFORMED("uint64 field as length-delimited", &t_watch, "\x12\x01\x05");
    MALFORMED("uint64 field as fixed64", &t_watch, "\x11\x01\x00\x00\x00\x00\x00\x00\x00");
    MALFORMED("bool field as fixed32", &t_watch, "\x1d\x01\x00\x00\x00");
    MALFORMED("bool field as length-delimited", &t_watch, "\x1a\x01\x01");
    MALFORMED("invalid UTF-8: 0xff", &t_watch, "\x0a\x01\xff");
    MALFORMED("invalid UTF-8: lone continuation", &t_watch, "\x0a\x02" "a\x80");
    MALFORMED("invalid UTF-8: overlong NUL", &t_watch, "\x0a\x02\xc0\x80");
    MALFORMED("invalid UTF-8: surrogate", &t_watch, "\x0a\x03\xed\xa0\x80");
    MALFORMED("invalid UTF-8: truncated sequence", &t_watch, "\x0a\x02\xe2\x82");
    MALFORMED("invalid UTF-8: beyond U+10FFFF", &t_watch, "\x0a\x04\xf4\x90\x80\x80");
    MALFORMED("invalid UTF-8 in msg", &t_log, "\x0a\x01" "a" "\x12\x01\xfe");
    MALFORMED("invalid UTF-8, then a valid later one", &t_watch, "\x0a\x01\xff\x0a\x01" "a");
    MALFORMED("error after a valid prefix", &t_watch, "\x0a\x01" "a\x10\x01\x18\x01\x4f");

    /* NUL is valid UTF-8 and a valid string byte. */
    r = decode(&t_watch, S("\x0a\x03" "a\0b"), &m, &why);
    check(r == GS_OK && m.v[0].s.n == 3 && m.v[0].s.p[1] == '\0', "NUL inside a string");

    /* The fixed texts say which rule broke. */
    decode(&t_watch, S("\x10\x80"), &m, &why);
    check(why && strstr(why, "truncated"), "why: truncated varint");
    decode(&t_watch, S("\x00\x00"), &m, &why);
    check(why && strstr(why, "field number 0"), "why: field number 0");
    decode(&t_watch, S("\x0a\x01\xff"), &m, &why);
    check(why && strstr(why, "UTF-8"), "why: UTF-8");
    decode(&t_watch, S("\x08\x01"), &m, &why);
    check(why && strstr(why, "wire type"), "why: wrong wire type");

    /* The decoder never reads past len: a key cut off by len. */
    memcpy(buf, "\x10\x80\x01", 3);
    r = decode(&t_watch, buf, 2, &m, &why);
    check(r == GS_INTERNAL, "len is the end, not the bytes after it");
}

/* ----- protobuf: random round trips and random input ------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;     /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Random strings fit GS_MAX_VALUE, whatever the build's. */
#define RAND_STR (GS_MAX_VALUE < 40 ? GS_MAX_VALUE : 40)

static void test_random(void)
{
    static char in[64];
    static char text[3][40];
    const gs_desc *descs[] = { &t_watch, &t_log, &t_chat, &t_append, &t_big };
    gs_msg m, back, again;
    const char *why;
    unsigned k, i, bad_trip = 0, bad_fuzz = 0, bad_canon = 0;

    for (k = 0; k < 20000; k++) {
        const gs_desc *d = descs[k % 5];
        size_t n;
        m.desc = d;
        for (i = 0; i < d->nfields; i++) {
            switch (d->fields[i].type) {
            case GS_STRING: {
                size_t len = (size_t)(rng() % (RAND_STR + 1)), j;
                for (j = 0; j < len; j++) text[i % 3][j] = (char)(0x20 + rng() % 95);
                m.v[i].s = str(text[i % 3], len);
                break;
            }
            case GS_UINT64: m.v[i].u = rng() >> (rng() % 64); break;
            case GS_BOOL: m.v[i].b = (int)(rng() % 2); break;
            default: break;         /* these types have no other (tests/unit_types.c) */
            }
        }
        n = pb_size(&m);
        if ((size_t)(pb_put_msg(enc, &m) - enc) != n || n > pb_size_max(d) ||
            decode(d, enc, n, &back, &why) != GS_OK || !msg_eq(&m, &back))
            bad_trip++;
    }
    check(bad_trip == 0, "20000 random messages: size, encode, decode agree");

    /* Random bytes: no crash (ASan/UBSan), a defined answer, and what
     * decodes re-encodes canonically to the same message. */
    for (k = 0; k < 200000; k++) {
        const gs_desc *d = descs[k % 5];
        size_t n = (size_t)(rng() % sizeof in), j;
        int r;
        for (j = 0; j < n; j++) {
            uint64_t x = rng();
            /* bias towards small keys and short lengths */
            in[j] = (char)(x % 4 == 0 ? (x >> 8) % 0x20 : x >> 16);
        }
        r = decode(d, in, n, &m, &why);
        if (r != GS_OK && !((r == GS_INTERNAL || r == GS_RESOURCE_EXHAUSTED) && why && why[0]))
            bad_fuzz++;
        if (r == GS_OK) {
            size_t e = (size_t)(pb_put_msg(enc, &m) - enc);
            if (e != pb_size(&m) || decode(d, enc, e, &again, &why) != GS_OK || !msg_eq(&m, &again))
                bad_canon++;
        }
    }
    check(bad_fuzz == 0, "200000 random inputs: GS_OK, or an error with a why");
    check(bad_canon == 0, "random inputs that decode re-encode to the same message");
}

/* ----- grpc-timeout ----------------------------------------------------- */

static void timeout_ok(const char *s, uint64_t want)
{
    char name[80];
    uint64_t ms = 12345;
    int r = grpc_timeout_parse(s, strlen(s), &ms);
    snprintf(name, sizeof name, "grpc-timeout %s = %llu ms", s, (unsigned long long)want);
    check(r == 0 && ms == want, name);
}

static void timeout_bad(const char *s, size_t n)
{
    char name[80];
    uint64_t ms = 12345;
    int r = grpc_timeout_parse(s, n, &ms);
    size_t i;
    char *d = name + sprintf(name, "grpc-timeout rejects '");
    for (i = 0; i < n && i < 16; i++)
        d += (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F
                 ? sprintf(d, "%c", s[i]) : sprintf(d, "\\x%02x", (unsigned char)s[i]);
    sprintf(d, "'");
    check(r == -1 && ms == 12345, name);
}

static void test_timeout(void)
{
    timeout_ok("1H", 3600000);
    timeout_ok("1M", 60000);
    timeout_ok("1S", 1000);
    timeout_ok("1m", 1);
    timeout_ok("1u", 1);
    timeout_ok("1n", 1);
    timeout_ok("2H", 7200000);
    timeout_ok("90M", 5400000);
    timeout_ok("30S", 30000);
    timeout_ok("250m", 250);
    timeout_ok("1000u", 1);
    timeout_ok("1001u", 2);
    timeout_ok("999u", 1);
    timeout_ok("2000u", 2);
    timeout_ok("999999n", 1);
    timeout_ok("1000000n", 1);
    timeout_ok("1000001n", 2);
    timeout_ok("99999999n", 100);
    timeout_ok("99999999u", 100000);
    timeout_ok("99999999m", 99999999);
    timeout_ok("99999999S", (uint64_t)99999999 * 1000);
    timeout_ok("99999999M", (uint64_t)99999999 * 60000);
    timeout_ok("99999999H", (uint64_t)99999999 * 3600000);
    timeout_ok("00000001S", 1000);
    timeout_ok("0S", 0);
    timeout_ok("0n", 0);
    timeout_ok("00000000H", 0);

    timeout_bad("", 0);
    timeout_bad(S("S"));
    timeout_bad(S("5"));
    timeout_bad(S("12"));
    timeout_bad(S("123456789S"));
    timeout_bad(S("000000000m"));
    timeout_bad(S("1s"));
    timeout_bad(S("1h"));
    timeout_bad(S("1U"));
    timeout_bad(S("1N"));
    timeout_bad(S("1x"));
    timeout_bad(S("-1S"));
    timeout_bad(S("+1S"));
    timeout_bad(S(" 1S"));
    timeout_bad(S("1S "));
    timeout_bad(S("1 S"));
    timeout_bad(S("1SS"));
    timeout_bad(S("1.5S"));
    timeout_bad(S("0x1S"));
    timeout_bad(S("1\0S"));
    timeout_bad(S("1S\0"));
    timeout_bad(S("\xd9\xa1S"));        /* a non-ASCII digit */
    {
        uint64_t ms = 0;    /* n, not a NUL, ends the value */
        check(grpc_timeout_parse("15Sxyz", 3, &ms) == 0 && ms == 15000, "grpc-timeout reads only n bytes");
    }
}

/* ----- grpc-message ----------------------------------------------------- */

static int encodes_to(const char *s, size_t n, const char *want)
{
    char out[3 * 64];
    size_t k = (size_t)(grpc_percent_encode(out, s, n) - out);
    return k == strlen(want) && memcmp(out, want, k) == 0;
}

static int decodes_to(const char *s, const char *want, size_t want_n)
{
    char out[64];
    size_t k = grpc_percent_decode(out, s, strlen(s));
    return k == want_n && memcmp(out, want, k) == 0;
}

static void test_percent(void)
{
    static char all[256], coded[3 * 256], back[3 * 256];
    size_t i, n, k;
    int plain_ok = 1;

    check(encodes_to(S("hello world"), "hello world"), "percent: plain ASCII unchanged");
    check(encodes_to(S(" !\"#$&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"),
                     " !\"#$&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"),
          "percent: space and every VCHAR but % unchanged");
    check(encodes_to(S("\x00\x01\t\n\r\x1f\x7f"), "%00%01%09%0A%0D%1F%7F"),
          "percent: control characters and DEL (upper-case hex)");
    check(encodes_to(S("100%"), "100%25"), "percent: % itself");
    check(encodes_to(S("%25"), "%2525"), "percent: an encoded-looking input is encoded again");
    check(encodes_to(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                     "caf%C3%A9 %E2%82%AC %F0%9F%98%80"), "percent: UTF-8 bytes");
    check(encodes_to(S("\x80\xff"), "%80%FF"), "percent: invalid UTF-8 bytes one by one");
    check(encodes_to("", 0, ""), "percent: empty");

    for (i = 0; i < 256; i++) all[i] = (char)i;
    n = (size_t)(grpc_percent_encode(coded, all, 256) - coded);
    check(n == 94 + 162 * 3, "percent: all 256 bytes: 94 plain, 162 encoded");
    for (i = 0; i < n; i++)
        if ((unsigned char)coded[i] < 0x20 || (unsigned char)coded[i] > 0x7E) plain_ok = 0;
    check(plain_ok, "percent: output is space and VCHAR only");
    k = grpc_percent_decode(back, coded, n);
    check(k == 256 && memcmp(back, all, 256) == 0, "percent: all 256 bytes round trip");
    memcpy(back, coded, n);
    k = grpc_percent_decode(back, back, n);
    check(k == 256 && memcmp(back, all, 256) == 0, "percent: decode in place");

    n = (size_t)(grpc_percent_encode(coded, "\x01\x02\x03\x04", 4) - coded);
    check(n == 12, "percent: worst case is 3n");

    check(decodes_to("%41%4a%4A", "AJJ", 3), "percent decode: either hex case");
    check(decodes_to("%00x", "\0x", 2), "percent decode: %00");
    check(decodes_to("%", "%", 1), "percent decode: lone % kept");
    check(decodes_to("abc%", "abc%", 4), "percent decode: trailing % kept");
    check(decodes_to("abc%4", "abc%4", 5), "percent decode: trailing %X kept");
    check(decodes_to("%zz%G1%1G", "%zz%G1%1G", 9), "percent decode: non-hex kept");
    check(decodes_to("%%41", "%A", 2), "percent decode: %% then %41");
    check(decodes_to("%2541", "%41", 3), "percent decode: one level only");
    check(decodes_to("%C3%A9", "\xc3\xa9", 2), "percent decode: UTF-8");
    check(decodes_to("% 41", "% 41", 4), "percent decode: space breaks the escape");
    check(decodes_to("", "", 0), "percent decode: empty");
}

/* ----- content-type ----------------------------------------------------- */

static void ct(const char *s, int want)
{
    char name[96];
    snprintf(name, sizeof name, "content-type '%s' -> %s", s,
             want == GRPC_CT_PROTO ? "PROTO" : want == GRPC_CT_JSON ? "JSON" : "BAD");
    check(grpc_content_type(s, strlen(s)) == want, name);
}

/* base64 of -bin metadata: RFC 4648 vectors, padded and not, and every
 * length and byte value through a round trip. */
static int b64_decodes_to(const char *b64, const char *want, long want_n)
{
    uint8_t out[64];
    long n = b64_decode(out, b64, strlen(b64), 0);
    return n == want_n && (n < 0 || memcmp(out, want, (size_t)n) == 0);
}

static void test_base64(void)
{
    static const char *const vec[][2] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" }
    };
    static uint8_t all[300], back[300];
    static char coded[400];
    size_t i, len;
    int ok = 1;
    for (i = 0; i < LEN(vec); i++) {
        char *end = b64_encode(coded, (const uint8_t *)vec[i][0], strlen(vec[i][0]));
        ok &= (size_t)(end - coded) == strlen(vec[i][1]) && memcmp(coded, vec[i][1], strlen(vec[i][1])) == 0;
        ok &= b64_decodes_to(vec[i][1], vec[i][0], (long)strlen(vec[i][0]));
    }
    check(ok, "base64: RFC 4648 section 10 vectors, encoded padded and decoded");
    check(b64_decodes_to("Zg", "f", 1) && b64_decodes_to("Zm8", "fo", 2) && b64_decodes_to("Zm9vYmE", "fooba", 5),
          "base64: unpadded input decodes the same");
    check(b64_decodes_to("q6ur", "\xab\xab\xab", 3) && b64_decodes_to("+/+/", "\xfb\xff\xbf", 3),
          "base64: binary bytes, '+' and '/'");
    check(b64_decodes_to("Z", NULL, -1) && b64_decodes_to("Zm9v!A==", NULL, -1) && b64_decodes_to("Zm 9v", NULL, -1) &&
          b64_decodes_to("Zm9v-_==", NULL, -1), "base64: a lone sixth, a bad character, a space, url-safe -_ are refused");
    for (i = 0; i < sizeof all; i++) all[i] = (uint8_t)(i * 7 + 3);
    for (len = 0; len <= sizeof all; len++) {
        char *end = b64_encode(coded, all, len);
        long n = b64_decode(back, coded, (size_t)(end - coded), 0);
        ok &= n == (long)len && memcmp(back, all, len) == 0 && (size_t)(end - coded) == (len + 2) / 3 * 4;
    }
    check(ok, "base64: round trips of 0..300 bytes, every byte value");
    check(grpc_md_custom("x-grpc-test-echo-initial", 24) && grpc_md_custom("user-agent", 10) &&
          !grpc_md_custom("grpc-timeout", 12) && !grpc_md_custom("content-type", 12) &&
          !grpc_md_custom("te", 2) && !grpc_md_custom("X-Upper", 7) && !grpc_md_custom(":path", 5) &&
          !grpc_md_custom("", 0), "metadata keys: custom ones kept, reserved and invalid ones not");
}

static void test_content_type(void)
{
    ct("application/grpc", GRPC_CT_PROTO);
    ct("application/grpc+proto", GRPC_CT_PROTO);
    ct("application/grpc+json", GRPC_CT_JSON);
    ct("Application/GRPC+Proto", GRPC_CT_PROTO);
    ct("APPLICATION/GRPC+JSON", GRPC_CT_JSON);
    ct("application/grpc+", GRPC_CT_PROTO);
    ct("application/grpc;", GRPC_CT_PROTO);
    ct("application/grpc; charset=utf-8", GRPC_CT_PROTO);
    ct("application/grpc;charset=utf-8", GRPC_CT_PROTO);
    ct("application/grpc ; charset=utf-8", GRPC_CT_PROTO);
    ct("application/grpc\t;x", GRPC_CT_PROTO);
    ct("application/grpc+proto; charset=utf-8", GRPC_CT_PROTO);
    ct("application/grpc+json; charset=utf-8", GRPC_CT_JSON);
    ct("application/grpc+json;", GRPC_CT_JSON);
    ct("application/grpc ", GRPC_CT_PROTO);
    ct("", GRPC_CT_BAD);
    ct("application/grp", GRPC_CT_BAD);
    ct("application/grpcx", GRPC_CT_BAD);
    ct("application/grpc-web", GRPC_CT_BAD);
    ct("application/grpc-web+proto", GRPC_CT_BAD);
    ct("application/grpc+thrift", GRPC_CT_BAD);
    ct("application/grpc+protobuf", GRPC_CT_BAD);
    ct("application/grpc+jsonx", GRPC_CT_BAD);
    ct("application/grpc+prot", GRPC_CT_BAD);
    ct("application/grpc +json", GRPC_CT_BAD);
    ct("application/grpc proto", GRPC_CT_BAD);
    ct("application/json", GRPC_CT_BAD);
    ct("application/protobuf", GRPC_CT_BAD);
    ct(" application/grpc", GRPC_CT_BAD);
    ct("text/plain", GRPC_CT_BAD);
    check(grpc_content_type("application/grpc+jsonXYZ", 21) == GRPC_CT_JSON,
          "content-type reads only n bytes");
    check(grpc_content_type("application/grpc+json", 16) == GRPC_CT_PROTO,
          "content-type: n cuts before the subtype");
    check(grpc_content_type(S("application/grpc\0")) == GRPC_CT_BAD, "content-type: NUL byte");
}

int main(void)
{
    memset(big_str, 'x', sizeof big_str);
    test_encodings();
    test_limits();
    test_decoding();
    test_malformed();
    test_random();
    test_timeout();
    test_percent();
    test_base64();
    test_content_type();
    printf("%s: %d failed\n", failures ? "FAILED" : "OK", failures);
    return failures != 0;
}
