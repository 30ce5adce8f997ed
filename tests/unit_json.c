/*
 * unit_json.c - unit tests of the JSON scanner and writer in json.c,
 * through the gs_json_* API only.
 *
 *     cc -std=c99 -DGS_NO_MAIN -I. tests/unit_json.c grpcstream.c json.c -o unit_json
 *     ./unit_json [WRITER_CHECK]      (run from the repository root)
 *
 * WRITER_CHECK is the path of writer_check.py (default
 * tests/writer_check.py); the writer corpus check is skipped if python3 is
 * not installed, and fails if WRITER_CHECK is missing or does not run to
 * its verdict. One line per check: PASS: name, FAIL: name (detail) or
 * SKIP: name (reason); the exit status is 1 if any check failed.
 *
 * Scanner checks record what gs_json_next reports as one string of events
 * and compare it with the expected string and across ways of cutting the
 * input (whole, 1 byte at a time, two chunks at every offset):
 *     M<key>         GS_JSON_MEMBER (key bytes; "+over" if key_over)
 *     O  A           GS_JSON_VALUE of an object / array (at its start)
 *     null true false
 *     N<n>           a number: "-" if num_neg, then num_mag, or FRAC
 *                    (num_int 0) or BIG (num_big)
 *     S<len>[bytes]  a string: str_len, then the sink's bytes for a member
 *                    wanted with a sink ("+over" if str_over); S<len> alone
 *                    for a top-level string or a member wanted without one
 *     Lok Lblank Lerr  GS_JSON_LINE by status; "+deep" if too_deep
 * Bytes print as themselves when printable ASCII (but '%'), else %hh.
 */
#define _POSIX_C_SOURCE 200809L     /* mkstemp, popen */
#include "grpcstream.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void report(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        va_list ap;
        printf("FAIL: %s (", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(")\n");
        failures++;
    }
    fflush(stdout);
}

/* ===================================================================== */
/* A growing string                                                       */
/* ===================================================================== */

typedef struct { char *p; size_t n, cap; } str;

static void sadd(str *s, const char *b, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n + 1) cap *= 2;
        s->p = realloc(s->p, cap);
        if (!s->p) { fputs("out of memory\n", stderr); exit(2); }
        s->cap = cap;
    }
    memcpy(s->p + s->n, b, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void sfmt(str *s, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sadd(s, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sbytes(str *s, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c >= 0x20 && c < 0x7F && c != '%') sadd(s, (const char *)&c, 1);
        else sfmt(s, "%%%02x", c);
    }
}

static void sclear(str *s) { s->n = 0; sadd(s, "", 0); }

/* ===================================================================== */
/* The event recorder                                                     */
/* ===================================================================== */

#define CANARY 32
static char sink[1024 + CANARY];

/* Which members to want: names separated by spaces; "*" wants every
 * member; "@name" wants it without a sink (the length is still counted). */
typedef struct {
    gs_json j;
    const char *wants;
    size_t cap;                     /* sink bytes */
    int pending;                    /* 1: a sink was given, 2: none */
    int stuck;
    str *out;
} rec;

static int wanted_as(const char *wants, const gs_json *j)
{
    const char *w = wants;
    while (w && *w) {
        const char *e = strchr(w, ' ');
        size_t n = e ? (size_t)(e - w) : strlen(w);
        int null_sink = w[0] == '@';
        const char *name = w + null_sink;
        size_t len = n - (size_t)null_sink;
        if ((len == 1 && name[0] == '*') ||
            (!j->key_over && j->key_len == len && memcmp(j->key, name, len) == 0))
            return null_sink ? 2 : 1;
        w = e ? e + 1 : NULL;
    }
    return 0;
}

static void rec_init(rec *r, const char *wants, size_t cap, str *out)
{
    gs_json_reset(&r->j);
    r->wants = wants;
    r->cap = cap ? cap : 256;
    r->pending = 0;
    r->stuck = 0;
    r->out = out;
    sclear(out);
}

static void record(rec *r, int ev)
{
    gs_json *j = &r->j;
    str *o = r->out;
    if (o->n) sadd(o, " ", 1);
    switch (ev) {
    case GS_JSON_MEMBER:
        sadd(o, "M", 1);
        sbytes(o, j->key, j->key_len);
        if (j->key_over) sadd(o, "+over", 5);
        r->pending = wanted_as(r->wants, j);
        if (r->pending == 1) {
            memset(sink + r->cap, 0xA5, CANARY);
            gs_json_want(j, sink, r->cap);
        } else if (r->pending == 2) {
            gs_json_want(j, NULL, 0);
        }
        break;
    case GS_JSON_VALUE:
        switch (j->kind) {
        case GS_JV_NULL: sadd(o, "null", 4); break;
        case GS_JV_TRUE: sadd(o, "true", 4); break;
        case GS_JV_FALSE: sadd(o, "false", 5); break;
        case GS_JV_OBJECT: sadd(o, "O", 1); break;
        case GS_JV_ARRAY: sadd(o, "A", 1); break;
        case GS_JV_NUMBER:
            sadd(o, j->num_neg ? "N-" : "N", j->num_neg ? 2 : 1);
            if (j->num_big) sadd(o, "BIG", 3);
            else if (!j->num_int) sadd(o, "FRAC", 4);
            else sfmt(o, "%" PRIu64, j->num_mag);
            break;
        case GS_JV_STRING: {
            size_t i;
            sfmt(o, "S%zu", j->str_len);
            if (r->pending == 1) {
                sadd(o, "[", 1);
                sbytes(o, sink, j->str_len < r->cap ? j->str_len : r->cap);
                sadd(o, "]", 1);
                for (i = 0; i < CANARY; i++)
                    if ((unsigned char)sink[r->cap + i] != 0xA5) break;
                if (i < CANARY) sadd(o, "!SINK-OVERRUN", 13);
            }
            if (j->str_over) sadd(o, "+over", 5);
            break;
        }
        default: sfmt(o, "?kind%d", j->kind); break;
        }
        r->pending = 0;
        break;
    case GS_JSON_LINE: {
        const char *l = j->status == GS_JL_OK ? "Lok" : j->status == GS_JL_BLANK ? "Lblank" :
                        j->status == GS_JL_ERROR ? "Lerr" : "L?";
        sadd(o, l, strlen(l));
        if (j->too_deep) sadd(o, "+deep", 5);
        r->pending = 0;
        break;
    }
    default:
        sfmt(o, "?event%d", ev);
        break;
    }
}

/* Feeds one chunk; every event up to GS_JSON_MORE is recorded. */
static void rec_feed(rec *r, const char *p, size_t n)
{
    const char *end = p + n;
    int still = 0;
    while (!r->stuck) {
        const char *before = p;
        int ev = gs_json_next(&r->j, &p, end);
        if (ev == GS_JSON_MORE) {
            if (p != end) sadd(r->out, " !MORE-BEFORE-END", 17);
            return;
        }
        if (p < before || p > end) { sadd(r->out, " !BAD-POINTER", 13); r->stuck = 1; return; }
        still = p == before ? still + 1 : 0;
        if (still > 2) { sadd(r->out, " !STUCK", 7); r->stuck = 1; return; }
        record(r, ev);
    }
}

/* Whole (cut 0), cut in two at `cut`, or 1 byte at a time (cut SIZE_MAX). */
static void scan(const char *doc, size_t n, size_t cut, const char *wants, size_t cap, str *out)
{
    rec r;
    size_t i;
    rec_init(&r, wants, cap, out);
    if (cut == (size_t)-1) {
        for (i = 0; i < n; i++) rec_feed(&r, doc + i, 1);
    } else if (cut) {
        rec_feed(&r, doc, cut);
        rec_feed(&r, doc + cut, 0);
        rec_feed(&r, doc + cut, n - cut);
    } else {
        rec_feed(&r, doc, n);
    }
}

/* Events of the whole document into *whole; returns 1 if every other way
 * of cutting it gives the same (else describes the first that does not). */
static int split_same(const char *doc, size_t n, const char *wants, size_t cap,
                      str *whole, char *why, size_t whylen)
{
    str other = { NULL, 0, 0 };
    size_t cut;
    int ok = 1;
    scan(doc, n, 0, wants, cap, whole);
    for (cut = 1; ok && cut <= n; cut++) {
        size_t c = cut == n ? (size_t)-1 : cut;
        scan(doc, n, c, wants, cap, &other);
        if (other.n != whole->n || memcmp(other.p, whole->p, whole->n) != 0) {
            if (c == (size_t)-1) snprintf(why, whylen, "1 byte at a time: %.200s", other.p);
            else snprintf(why, whylen, "cut at %zu: %.200s", c, other.p);
            ok = 0;
        }
    }
    free(other.p);
    return ok;
}

/* ===================================================================== */
/* Scanner: documents with known events                                   */
/* ===================================================================== */

#define DOC(s) s, sizeof(s) - 1

typedef struct {
    const char *name;
    const char *doc;
    size_t len;
    const char *wants;
    const char *expect;
} doc_case;

static const doc_case valid_docs[] = {
    { "scalars wanted",
      DOC("{\"a\":\"hi\",\"b\":1,\"c\":true,\"d\":false,\"e\":null}\n"), "*",
      "O Ma S2[hi] Mb N1 Mc true Md false Me null Lok" },
    { "scalars not wanted",
      DOC("{\"a\":\"hi\",\"b\":1,\"c\":true,\"d\":false,\"e\":null}\n"), "",
      "O Ma Mb Mc Md Me Lok" },
    { "short escapes",
      DOC("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}\n"), "s",
      "O Ms S8[\"\\/%08%0c%0a%0d%09] Lok" },
    { "\\u escapes, any hex case",
      DOC("{\"s\":\"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\\u0000\\u001f\\u007f\\u002F\"}\n"), "s",
      "O Ms S15[A%c3%a9%c3%a9%e2%82%ac%ef%bf%bf%00%1f%7f/] Lok" },
    { "surrogate pairs",
      DOC("{\"s\":\"\\ud834\\udd1e\",\"t\":\"\\uD83D\\uDE00\",\"u\":\"\\ud800\\udc00\",\"v\":\"\\udbff\\udfff\"}\n"), "*",
      "O Ms S4[%f0%9d%84%9e] Mt S4[%f0%9f%98%80] Mu S4[%f0%90%80%80] Mv S4[%f4%8f%bf%bf] Lok" },
    { "lone surrogates kept as WTF-8",
      DOC("{\"a\":\"\\ud834x\",\"b\":\"\\ud834\",\"c\":\"\\udd1e\",\"d\":\"\\udd1e\\ud834\","
          "\"e\":\"\\ud834\\ud834\\udd1e\",\"f\":\"\\ud834\\n\",\"g\":\"\\ud834\\u0041\","
          "\"h\":\"\\ud834\\\\\",\"i\":\"\\ud834\\udd1e\\udd1e\",\"j\":\"\\udbff\\ue000\"}\n"), "*",
      "O Ma S4[%ed%a0%b4x] Mb S3[%ed%a0%b4] Mc S3[%ed%b4%9e] Md S6[%ed%b4%9e%ed%a0%b4]"
      " Me S7[%ed%a0%b4%f0%9d%84%9e] Mf S4[%ed%a0%b4%0a] Mg S4[%ed%a0%b4A]"
      " Mh S4[%ed%a0%b4\\] Mi S7[%f0%9d%84%9e%ed%b4%9e] Mj S6[%ed%af%bf%ee%80%80] Lok" },
    { "raw UTF-8 at every length boundary, raw DEL",
      DOC("{\"s\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
          "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\xc3\xa9\xe2\x82\xac\"}\n"), "s",
      "O Ms S30[%c2%80%df%bf%e0%a0%80%ed%9f%bf%ee%80%80%ef%bf%bf%f0%90%80%80%f4%8f%bf%bf%7f%c3%a9%e2%82%ac] Lok" },
    { "numbers",
      DOC("{\"a\":0,\"b\":-0,\"c\":18446744073709551615,\"d\":18446744073709551616,"
          "\"e\":-9223372036854775808,\"f\":1.5,\"g\":1e3,\"h\":-1.5e-3,\"i\":1E+2,"
          "\"j\":0.0,\"k\":123456789012345678901234567890,\"l\":-18446744073709551616,"
          "\"m\":9223372036854775807,\"n\":-18446744073709551615,\"o\":99999999999999999999,"
          "\"p\":1844674407370955162,\"q\":0e0,\"r\":-0.0e-0}\n"), "*",
      "O Ma N0 Mb N-0 Mc N18446744073709551615 Md NBIG Me N-9223372036854775808 Mf NFRAC"
      " Mg NFRAC Mh N-FRAC Mi NFRAC Mj NFRAC Mk NBIG Ml N-BIG Mm N9223372036854775807"
      " Mn N-18446744073709551615 Mo NBIG Mp N1844674407370955162 Mq NFRAC Mr N-FRAC Lok" },
    { "top-level values, numbers ended by every delimiter",
      DOC("0\n-0\n18446744073709551616\n1.5\n 7 \n[1,-2 ,3]\n{\"a\":4}\n{\"a\":5 }\n"
          "{\"a\":6\t}\n[\"x\"]\n\"str\"\ntrue\nfalse\nnull\n{}\n[]\n12\r\n"), "a",
      "N0 Lok N-0 Lok NBIG Lok NFRAC Lok N7 Lok A Lok O Ma N4 Lok O Ma N5 Lok O Ma N6 Lok"
      " A Lok S3 Lok true Lok false Lok null Lok O Lok A Lok N12 Lok" },
    { "nested: wanted objects are entered, arrays and others skipped",
      DOC("{\"o\":{\"x\":1,\"y\":[1,{\"z\":2}],\"w\":{\"q\":3}},\"p\":[{\"r\":1}],\"s\":2}\n"),
      "o x y p s",
      "O Mo O Mx N1 My A Mw Mp A Ms N2 Lok" },
    { "whitespace everywhere, CRLF",
      DOC(" \t{ \"a\" : 1 , \"b\" :[ ] ,\"c\":{ } ,\"d\" :\r\"e\"\t} \r\n\r\n\t\r\n"), "a b c d",
      "O Ma N1 Mb A Mc O Md S1[e] Lok Lblank Lblank" },
    { "blank lines",
      DOC("\n\n  \n\t\r\n{\"a\":1}\n\n"), "",
      "Lblank Lblank Lblank Lblank O Ma Lok Lblank" },
    { "member names: escaped, 32 bytes, 33 bytes, empty, non-ASCII",
      DOC("{\"\\u0061\":1,\"abcdefghijklmnopqrstuvwxyz012345\":2,"
          "\"abcdefghijklmnopqrstuvwxyz0123456\":3,\"\":4,\"\\u00e9\":5,\"\xc3\xa9\":6}\n"), "*",
      "O Ma N1 Mabcdefghijklmnopqrstuvwxyz012345 N2 M+over N3 M N4 M%c3%a9 N5 M%c3%a9 N6 Lok" },
    { "duplicate members are each reported",
      DOC("{\"a\":1,\"a\":\"x\",\"a\":{\"a\":null}}\n"), "a",
      "O Ma N1 Ma S1[x] Ma O Ma null Lok" },
    { "brackets and quotes inside strings",
      DOC("{\"a\":\"[{]}\\\"\",\"b\":\"x,y:z\",\"c\":[\"]\",\"\\\"]\"],\"d\":1}\n"), "b d",
      "O Ma Mb S5[x,y:z] Mc Md N1 Lok" },
    { "a member wanted without a sink counts its length",
      DOC("{\"a\":\"h\\u00e9llo\\ud834\\udd1e\"}\n"), "@a",
      "O Ma S10 Lok" },
    { "a string longer than the sink",
      DOC("{\"a\":\"0123456789abcdefXYZ\",\"b\":\"\\u20ac\\u20ac\\u20ac\\u20ac\\u20ac\\u20ac\"}\n"), "a b",
      "" /* checked with a 16-byte sink below */ },
};

/* Invalid lines: each is followed by "\n" and a valid line, which must be
 * reported normally: the events end in "Lerr O Mok N1 Lok". */
static const doc_case invalid_docs[] = {
    { "trailing comma in object", DOC("{\"a\":1,}"), NULL, NULL },
    { "trailing comma in array", DOC("[1,]"), NULL, NULL },
    { "missing colon", DOC("{\"a\" 1}"), NULL, NULL },
    { "missing value", DOC("{\"a\":}"), NULL, NULL },
    { "missing comma", DOC("{\"a\":1 \"b\":2}"), NULL, NULL },
    { "comma before first member", DOC("{,\"a\":1}"), NULL, NULL },
    { "bad escape \\x", DOC("{\"a\":\"\\x41\"}"), NULL, NULL },
    { "bad escape \\U", DOC("{\"a\":\"\\U0041\"}"), NULL, NULL },
    { "bad escape \\'", DOC("{\"a\":\"\\'\"}"), NULL, NULL },
    { "bad hex digit", DOC("{\"a\":\"\\u12G4\"}"), NULL, NULL },
    { "short \\u escape", DOC("{\"a\":\"\\u12\"}"), NULL, NULL },
    { "bad hex after a high surrogate", DOC("{\"a\":\"\\ud834\\uZZZZ\"}"), NULL, NULL },
    { "bad escape after a high surrogate", DOC("{\"a\":\"\\ud834\\x\"}"), NULL, NULL },
    { "raw tab in string", DOC("{\"a\":\"x\ty\"}"), NULL, NULL },
    { "raw CR in string", DOC("{\"a\":\"x\ry\"}"), NULL, NULL },
    { "raw 0x01 in string", DOC("{\"a\":\"x\x01y\"}"), NULL, NULL },
    { "raw 0x1f in string", DOC("{\"a\":\"x\x1fy\"}"), NULL, NULL },
    { "raw NUL in string", DOC("{\"a\":\"x\0y\"}"), NULL, NULL },
    { "raw control in member name", DOC("{\"a\x01\":1}"), NULL, NULL },
    { "NUL between tokens", DOC("{\"a\":1,\0\"b\":2}"), NULL, NULL },
    { "NUL alone", DOC("\0"), NULL, NULL },
    { "UTF-8 overlong C0 80", DOC("{\"a\":\"\xc0\x80\"}"), NULL, NULL },
    { "UTF-8 overlong C1 BF", DOC("{\"a\":\"\xc1\xbf\"}"), NULL, NULL },
    { "UTF-8 overlong E0 80 80", DOC("{\"a\":\"\xe0\x80\x80\"}"), NULL, NULL },
    { "UTF-8 overlong E0 9F BF", DOC("{\"a\":\"\xe0\x9f\xbf\"}"), NULL, NULL },
    { "UTF-8 overlong F0 8F BF BF", DOC("{\"a\":\"\xf0\x8f\xbf\xbf\"}"), NULL, NULL },
    { "UTF-8 surrogate ED A0 80", DOC("{\"a\":\"\xed\xa0\x80\"}"), NULL, NULL },
    { "UTF-8 surrogate ED BF BF", DOC("{\"a\":\"\xed\xbf\xbf\"}"), NULL, NULL },
    { "UTF-8 CESU pair", DOC("{\"a\":\"\xed\xa0\xb4\xed\xb4\x9e\"}"), NULL, NULL },
    { "UTF-8 F4 90 80 80 above U+10FFFF", DOC("{\"a\":\"\xf4\x90\x80\x80\"}"), NULL, NULL },
    { "UTF-8 F5 lead", DOC("{\"a\":\"\xf5\x80\x80\x80\"}"), NULL, NULL },
    { "UTF-8 F8 5-byte lead", DOC("{\"a\":\"\xf8\x88\x80\x80\x80\"}"), NULL, NULL },
    { "UTF-8 FE", DOC("{\"a\":\"\xfe\"}"), NULL, NULL },
    { "UTF-8 FF", DOC("{\"a\":\"\xff\"}"), NULL, NULL },
    { "UTF-8 lone continuation 80", DOC("{\"a\":\"x\x80y\"}"), NULL, NULL },
    { "UTF-8 lone continuation BF", DOC("{\"a\":\"\xbf\"}"), NULL, NULL },
    { "UTF-8 2-byte truncated before quote", DOC("{\"a\":\"\xc3\"}"), NULL, NULL },
    { "UTF-8 3-byte truncated before quote", DOC("{\"a\":\"\xe2\x82\"}"), NULL, NULL },
    { "UTF-8 4-byte truncated before quote", DOC("{\"a\":\"\xf0\x9d\x84\"}"), NULL, NULL },
    { "UTF-8 bad continuation", DOC("{\"a\":\"\xc3\x41\"}"), NULL, NULL },
    { "UTF-8 truncated before backslash", DOC("{\"a\":\"\xe2\\n\"}"), NULL, NULL },
    { "UTF-8 invalid in member name", DOC("{\"\xff\":1}"), NULL, NULL },
    { "UTF-8 outside strings", DOC("{\"a\":1}\xc3\xa9"), NULL, NULL },
    { "NBSP as whitespace", DOC("\xc2\xa0{}"), NULL, NULL },
    { "NaN", DOC("{\"a\":NaN}"), NULL, NULL },
    { "Infinity", DOC("{\"a\":Infinity}"), NULL, NULL },
    { "-Infinity", DOC("{\"a\":-Infinity}"), NULL, NULL },
    { "leading zero 01", DOC("{\"a\":01}"), NULL, NULL },
    { "leading zero -01", DOC("{\"a\":-01}"), NULL, NULL },
    { "leading zero 00", DOC("00"), NULL, NULL },
    { "top-level 01", DOC("01"), NULL, NULL },
    { "lone minus", DOC("-"), NULL, NULL },
    { "minus in object", DOC("{\"a\":-}"), NULL, NULL },
    { "1.", DOC("1."), NULL, NULL },
    { "1. in object", DOC("{\"a\":1.}"), NULL, NULL },
    { "1e", DOC("1e"), NULL, NULL },
    { "1e+", DOC("{\"a\":1e+}"), NULL, NULL },
    { "1.e3", DOC("{\"a\":1.e3}"), NULL, NULL },
    { ".5", DOC("{\"a\":.5}"), NULL, NULL },
    { "+1", DOC("{\"a\":+1}"), NULL, NULL },
    { "hex number", DOC("{\"a\":0x10}"), NULL, NULL },
    { "[1}", DOC("[1}"), NULL, NULL },
    { "{\"a\":1]", DOC("{\"a\":1]"), NULL, NULL },
    { "[{]}", DOC("[{]}"), NULL, NULL },
    { "extra close", DOC("{}}"), NULL, NULL },
    { "lone close bracket", DOC("]"), NULL, NULL },
    { "lone comma", DOC(","), NULL, NULL },
    { "two objects", DOC("{\"a\":1}{\"b\":2}"), NULL, NULL },
    { "two objects, space", DOC("{} {}"), NULL, NULL },
    { "two numbers", DOC("1 2"), NULL, NULL },
    { "two strings", DOC("\"a\" \"b\""), NULL, NULL },
    { "array then number", DOC("[]1"), NULL, NULL },
    { "unterminated string at newline", DOC("{\"a\":\"abc"), NULL, NULL },
    { "unterminated key at newline", DOC("{\"ab"), NULL, NULL },
    { "unterminated object", DOC("{\"a\":1"), NULL, NULL },
    { "unterminated after colon", DOC("{\"a\":"), NULL, NULL },
    { "unterminated after key", DOC("{\"a\""), NULL, NULL },
    { "lone open brace", DOC("{"), NULL, NULL },
    { "lone open bracket", DOC("["), NULL, NULL },
    { "lone quote", DOC("\""), NULL, NULL },
    { "newline after backslash", DOC("{\"a\":\"\\"), NULL, NULL },
    { "newline inside \\u", DOC("{\"a\":\"\\u00"), NULL, NULL },
    { "newline after a high surrogate", DOC("{\"a\":\"\\ud834"), NULL, NULL },
    { "newline after a high surrogate and backslash", DOC("{\"a\":\"\\ud834\\"), NULL, NULL },
    { "newline inside a literal", DOC("{\"a\":tr"), NULL, NULL },
    { "newline after 1e", DOC("{\"a\":1e"), NULL, NULL },
    { "newline inside a UTF-8 sequence", DOC("{\"a\":\"\xe2\x82"), NULL, NULL },
    { "literal tru", DOC("{\"a\":tru}"), NULL, NULL },
    { "literal True", DOC("{\"a\":True}"), NULL, NULL },
    { "literal nulll", DOC("{\"a\":nulll}"), NULL, NULL },
    { "literal falsey", DOC("falsey"), NULL, NULL },
    { "single quotes", DOC("{'a':1}"), NULL, NULL },
    { "comment", DOC("{\"a\":1}//c"), NULL, NULL },
    { "unquoted key", DOC("{a:1}"), NULL, NULL },
    { "form feed as whitespace", DOC("\f{}"), NULL, NULL },
    { "vertical tab as whitespace", DOC("{\v}"), NULL, NULL },
    { "number as member name", DOC("{1:2}"), NULL, NULL },
};

#define RECOVERY "\n{\"ok\":1}\n"
#define RECOVERED "Lerr O Mok N1 Lok"

static int count_lines(const char *ev)
{
    int n = 0;
    const char *p = ev;
    while ((p = strstr(p, "L")) != NULL) {
        if ((p == ev || p[-1] == ' ') &&
            (!strncmp(p, "Lok", 3) || !strncmp(p, "Lerr", 4) || !strncmp(p, "Lblank", 6)))
            n++;
        p++;
    }
    return n;
}

static void test_documents(void)
{
    str ev = { NULL, 0, 0 };
    char why[512], name[160];
    size_t i;

    for (i = 0; i < sizeof valid_docs / sizeof valid_docs[0]; i++) {
        const doc_case *d = &valid_docs[i];
        if (!*d->expect) continue;
        snprintf(name, sizeof name, "scan: %s", d->name);
        scan(d->doc, d->len, 0, d->wants, 0, &ev);
        report(strcmp(ev.p, d->expect) == 0, name, "got \"%s\", want \"%s\"", ev.p, d->expect);
    }
    for (i = 0; i < sizeof valid_docs / sizeof valid_docs[0]; i++) {
        const doc_case *d = &valid_docs[i];
        snprintf(name, sizeof name, "split: %s", d->name);
        report(split_same(d->doc, d->len, d->wants, *d->expect ? 0 : 16, &ev, why, sizeof why),
               name, "%s; whole: %s", why, ev.p);
    }

    /* A string longer than its sink: str_over, the sink holds its first
     * cap bytes (the last character may be cut), nothing beyond. */
    scan(DOC("{\"a\":\"0123456789abcdefXYZ\",\"b\":\"\\u20ac\\u20ac\\u20ac\\u20ac\\u20ac\\u20ac\"}\n"),
         0, "a b", 16, &ev);
    report(strstr(ev.p, "Ma S16[0123456789abcdef]+over Mb ") != NULL &&
           strstr(ev.p, "[%e2%82%ac%e2%82%ac%e2%82%ac%e2%82%ac%e2%82%ac%e2]+over Lok") != NULL &&
           !strstr(ev.p, "!SINK"),
           "scan: a string longer than its sink sets str_over, fills the sink exactly",
           "got \"%s\"", ev.p);

    for (i = 0; i < sizeof invalid_docs / sizeof invalid_docs[0]; i++) {
        const doc_case *d = &invalid_docs[i];
        char doc[256];
        size_t n = d->len;
        memcpy(doc, d->doc, n);
        memcpy(doc + n, RECOVERY, sizeof RECOVERY - 1);
        n += sizeof RECOVERY - 1;
        snprintf(name, sizeof name, "invalid: %s", d->name);
        if (!split_same(doc, n, "ok", 0, &ev, why, sizeof why)) {
            report(0, name, "cutting changes the events: %s; whole: %s", why, ev.p);
            continue;
        }
        report(ev.n >= strlen(RECOVERED) && strcmp(ev.p + ev.n - strlen(RECOVERED), RECOVERED) == 0 &&
               count_lines(ev.p) == 2,
               name, "got \"%s\", want \"... %s\" with one error line", ev.p, RECOVERED);
    }
    free(ev.p);
}

/* The sink given for a member belongs to that member's value only. */
static void test_sink_reuse(void)
{
    gs_json j;
    char s[16];
    const char *doc = "{\"a\":\"x\"}\n\"hello\"\n";
    const char *p = doc, *end = doc + strlen(doc);
    int ev, lines = 0;
    memset(s, '.', sizeof s);
    gs_json_reset(&j);
    while ((ev = gs_json_next(&j, &p, end)) != GS_JSON_MORE) {
        if (ev == GS_JSON_MEMBER) gs_json_want(&j, s, sizeof s);
        if (ev == GS_JSON_LINE) lines++;
    }
    report(lines == 2 && s[0] == 'x' && s[1] == '.',
           "scan: a top-level string on a later line leaves an earlier member's sink alone",
           "line 1 {\"a\":\"x\"} wanted a into a 16-byte sink; line 2 \"hello\" "
           "wrote \"%.5s\" into that sink", s);
}

/* ----- expected members (gs_json_expect, gs_json_want_into) ------------ */

/* Lines of an envelope-like object; "inner" (tag 1) holds a second table.
 * Each line's stored values are summarised, and every way of cutting the
 * input must give the same summaries. */
static const char expect_doc[] =
    "{\"id\":\"abc\",\"n\":42,\"skip\":{\"id\":\"no\"},\"inner\":{\"long_name_x\":\"L\",\"long_name_y\":7}}\n"
    "{\"\\u0069d\":\"e\\u00e9\",\"n\":-1.5,\"id\":[1],\"inner\":5}\n"
    "{\"n\":true,\"id\":\"first\",\"id\":\"second\",\"identifier_much_longer_than_32_bytes\":\"x\"}\n"
    "{\"inner\":{\"long_name_x\":{\"a\":1},\"long_name_\":\"prefix only\",\"id\":\"not here\"}}\n"
    "{\"id\":\"0123456789abcdefXYZ\",\"n\":18446744073709551616}\n";

static const char *const expect_lines[] = {
    "id=S3:abc n=N42 x=S1:L y=N7 inner=O",
    "id=A n=NFRAC x=- y=- inner=N",
    "id=S6:second n=T x=- y=- inner=-",
    "id=- n=- x=O y=- inner=O",
    "id=S16+over:0123456789abcdef n=NBIG x=- y=- inner=-",
};

typedef struct {
    gs_json j;
    gs_json_value id, n, x, y;
    char id_buf[16], x_buf[16];
    gs_json_key outer[3], inner[2];
    int inner_kind, pending_inner;
    str out;
} expect_rec;

static void expect_value(str *s, const char *name, const gs_json_value *v, const char *buf)
{
    sfmt(s, " %s=", name);
    if (!v->kind) { sfmt(s, "-"); return; }
    switch (v->kind) {
    case GS_JV_STRING:
        sfmt(s, "S%zu%s:", v->len, v->over ? "+over" : "");
        sbytes(s, buf, v->len < 16 ? v->len : 16);
        break;
    case GS_JV_NUMBER:
        if (v->num_big) sfmt(s, "NBIG");
        else if (!v->num_int) sfmt(s, "NFRAC");
        else sfmt(s, "N%s%" PRIu64, v->num_neg ? "-" : "", v->num_mag);
        break;
    case GS_JV_OBJECT: sfmt(s, "O"); break;
    case GS_JV_ARRAY: sfmt(s, "A"); break;
    case GS_JV_TRUE: sfmt(s, "T"); break;
    default: sfmt(s, "K%d", v->kind); break;
    }
}

static void expect_init(expect_rec *r)
{
    memset(r, 0, sizeof *r);
    gs_json_reset(&r->j);
    gs_json_key_set(&r->outer[0], "id", 0, &r->id, r->id_buf, sizeof r->id_buf);
    gs_json_key_set(&r->outer[1], "n", 0, &r->n, NULL, 0);
    gs_json_key_set(&r->outer[2], "inner", 1, NULL, NULL, 0);
    gs_json_key_set(&r->inner[0], "long_name_x", 0, &r->x, r->x_buf, sizeof r->x_buf);
    gs_json_key_set(&r->inner[1], "long_name_y", 0, &r->y, NULL, 0);
}

static void expect_feed(expect_rec *r, const char *p, size_t n)
{
    const char *end = p + n;
    for (;;) {
        int ev = gs_json_next(&r->j, &p, end);
        if (ev == GS_JSON_MORE) return;
        if (ev == GS_JSON_VALUE && r->pending_inner) {
            r->pending_inner = 0;
            r->inner_kind = r->j.kind;
            if (r->j.kind == GS_JV_OBJECT) gs_json_expect(&r->j, r->inner, 2);
        } else if (ev == GS_JSON_VALUE && r->j.depth == 1) {
            gs_json_expect(&r->j, r->outer, 3);
        } else if (ev == GS_JSON_MEMBER) {
            if (r->j.key_tag == 1) { r->pending_inner = 1; gs_json_want(&r->j, NULL, 0); }
            else sfmt(&r->out, " unexpected-member");
        } else if (ev == GS_JSON_LINE) {
            expect_value(&r->out, "id", &r->id, r->id_buf);
            expect_value(&r->out, "n", &r->n, NULL);
            expect_value(&r->out, "x", &r->x, r->x_buf);
            expect_value(&r->out, "y", &r->y, NULL);
            sfmt(&r->out, " inner=%s\n", !r->inner_kind ? "-" : r->inner_kind == GS_JV_OBJECT ? "O" : "N");
            r->id.kind = r->n.kind = r->x.kind = r->y.kind = 0;
            r->inner_kind = 0;
        } else {
            sfmt(&r->out, " unexpected-event");
        }
    }
}

static void test_expected_members(void)
{
    static const size_t steps[] = { 0, 1, 3, 7, 17 };
    str want = { 0 };
    unsigned i, k;
    sclear(&want);
    for (i = 0; i < sizeof expect_lines / sizeof *expect_lines; i++)
        sfmt(&want, " %s\n", expect_lines[i]);
    for (k = 0; k < sizeof steps / sizeof *steps; k++) {
        static expect_rec r;
        size_t n = sizeof expect_doc - 1, at, step = steps[k] ? steps[k] : n;
        char name[96];
        expect_init(&r);
        sclear(&r.out);
        for (at = 0; at < n; at += step) {
            size_t m = n - at < step ? n - at : step;
            char *chunk = malloc(m);    /* exactly m bytes: ASan sees a read past it */
            if (!chunk) abort();
            memcpy(chunk, expect_doc + at, m);
            expect_feed(&r, chunk, m);
            free(chunk);
        }
        snprintf(name, sizeof name, "scan: expected members stored in place, %s",
                 steps[k] ? "" : "whole");
        if (steps[k]) snprintf(name + strlen(name), sizeof name - strlen(name), "%zu-byte chunks", steps[k]);
        report(strcmp(r.out.p, want.p) == 0, name, "got\n%swant\n%s", r.out.p, want.p);
        free(r.out.p);
    }
    free(want.p);
}

/* ===================================================================== */
/* Scanner: long strings and deep nesting, fed in chunks                  */
/* ===================================================================== */

/* A document made of a prefix, a unit repeated `reps` times and a suffix,
 * produced in chunks without ever being in memory whole. */
typedef struct {
    const char *prefix, *unit, *suffix;
    size_t reps;
} gen_doc;

static size_t gen_len(const gen_doc *g)
{
    return strlen(g->prefix) + g->reps * strlen(g->unit) + strlen(g->suffix);
}

/* Fills buf with n bytes of the document from offset `at`. */
static void gen_fill(const gen_doc *g, size_t at, char *buf, size_t n)
{
    size_t pl = strlen(g->prefix), ul = strlen(g->unit), body = g->reps * ul, i;
    for (i = 0; i < n; i++, at++) {
        if (at < pl) buf[i] = g->prefix[at];
        else if (at < pl + body) buf[i] = g->unit[(at - pl) % ul];
        else buf[i] = g->suffix[at - pl - body];
    }
}

/* Scans a generated document in chunks of `step` bytes (or cut at the
 * given offsets when step is 0). */
static void scan_gen(const gen_doc *g, size_t step, const size_t *cuts, size_t ncut,
                     const char *wants, size_t cap, str *out)
{
    static char chunk[65536];
    size_t total = gen_len(g), at = 0, k = 0;
    rec r;
    rec_init(&r, wants, cap, out);
    while (at < total) {
        size_t n;
        while (!step && k < ncut && cuts[k] <= at) k++;
        n = step ? step : (k < ncut ? cuts[k] : total) - at;
        if (n > sizeof chunk) n = sizeof chunk;
        if (n > total - at) n = total - at;
        gen_fill(g, at, chunk, n);
        rec_feed(&r, chunk, n);
        at += n;
    }
}

#define MB10 (10u * 1024 * 1024)

/* A unit of string content with escapes, raw UTF-8, brackets and quotes:
 * 47 bytes of JSON that unescape to the 31 bytes of long_unit_plain. */
static const char long_unit[] = "ab[{\\\"\\\\\\/\\n\\u00e9\\ud834\\udd1e\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e ,:}]xyz";
static const char long_unit_plain[] = "ab[{\"\\/\n\xc3\xa9\xf0\x9d\x84\x9e\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e ,:}]xyz";

static void test_long_strings(void)
{
    str ev = { NULL, 0, 0 };
    size_t reps = MB10 / (sizeof long_unit - 1) + 1;
    size_t plain = sizeof long_unit_plain - 1;
    char want[256], first[17];
    gen_doc g;
    size_t i;

    report(sizeof(gs_json) < 1024, "scan: the scanner holds no buffer for long values",
           "sizeof(gs_json) is %zu", sizeof(gs_json));

    /* an unknown 10 MB string member, then a wanted one */
    g.prefix = "{\"unknown\":\"";
    g.unit = long_unit;
    g.suffix = "\",\"want\":\"hello\"}\n{\"want\":\"again\"}\n";
    g.reps = reps;
    scan_gen(&g, 65536, NULL, 0, "want", 16, &ev);
    report(strcmp(ev.p, "O Munknown Mwant S5[hello] Lok O Mwant S5[again] Lok") == 0,
           "scan: a 10 MB string not wanted is skipped (64 KiB chunks)", "got \"%.300s\"", ev.p);
    scan_gen(&g, 0, (size_t[]){ 5, 12, 13, 65536 * 3 + 7, gen_len(&g) - 30 }, 5, "want", 16, &ev);
    report(strcmp(ev.p, "O Munknown Mwant S5[hello] Lok O Mwant S5[again] Lok") == 0,
           "scan: a 10 MB string not wanted is skipped (odd chunks)", "got \"%.300s\"", ev.p);

    /* a wanted 10 MB string into a 16-byte sink */
    g.prefix = "{\"big\":\"";
    g.suffix = "\",\"after\":1}\n";
    for (i = 0; i < 16; i++) first[i] = long_unit_plain[i];
    first[16] = '\0';
    {
        str fs = { NULL, 0, 0 };
        sbytes(&fs, first, 16);
        snprintf(want, sizeof want, "O Mbig S16[%s]+over Mafter N1 Lok", fs.p);
        free(fs.p);
    }
    scan_gen(&g, 65536, NULL, 0, "big after", 16, &ev);
    report(strcmp(ev.p, want) == 0,
           "scan: a wanted 10 MB string into a 16-byte sink: str_over, sink intact, line OK",
           "got \"%.300s\", want \"%s\"", ev.p, want);

    /* ... and wanted without a sink: the length is counted */
    scan_gen(&g, 65536, NULL, 0, "@big after", 16, &ev);
    snprintf(want, sizeof want, "O Mbig S%zu Mafter N1 Lok", reps * plain);
    report(strcmp(ev.p, want) == 0,
           "scan: a wanted 10 MB string without a sink: str_len counts every byte",
           "got \"%.300s\", want \"%s\"", ev.p, want);
    free(ev.p);
}

/* Builds "PREFIX" + n openers + MIDDLE + n closers + "SUFFIX" into *s.
 * kind: '[' arrays, '{' objects ({"k": ... }), 'm' alternating. */
static void nest(str *s, const char *prefix, size_t n, int kind, const char *middle,
                 const char *suffix)
{
    size_t i;
    sclear(s);
    sadd(s, prefix, strlen(prefix));
    for (i = 0; i < n; i++) {
        int obj = kind == '{' || (kind == 'm' && i % 2);
        if (obj) sadd(s, "{\"k\":", 5);
        else sadd(s, "[", 1);
    }
    sadd(s, middle, strlen(middle));
    for (i = n; i-- > 0;) {
        int obj = kind == '{' || (kind == 'm' && i % 2);
        sadd(s, obj ? "}" : "]", 1);
    }
    sadd(s, suffix, strlen(suffix));
}

/* Scans s whole, in 64 KiB chunks and 1 byte at a time; all must give
 * `expect`. */
static void check_deep(const char *name, const str *s, const char *wants, const char *expect)
{
    str ev = { NULL, 0, 0 };
    gen_doc g;
    int ok = 1;
    char why[400] = "";
    g.prefix = s->p;
    g.unit = "";
    g.suffix = "";
    g.reps = 0;
    scan(s->p, s->n, 0, wants, 0, &ev);
    if (strcmp(ev.p, expect) != 0) { ok = 0; snprintf(why, sizeof why, "whole: got \"%.200s\"", ev.p); }
    if (ok) {
        scan_gen(&g, 65536, NULL, 0, wants, 0, &ev);
        if (strcmp(ev.p, expect) != 0) { ok = 0; snprintf(why, sizeof why, "64 KiB chunks: got \"%.200s\"", ev.p); }
    }
    if (ok) {
        scan(s->p, s->n, (size_t)-1, wants, 0, &ev);
        if (strcmp(ev.p, expect) != 0) { ok = 0; snprintf(why, sizeof why, "1 byte at a time: got \"%.200s\"", ev.p); }
    }
    report(ok, name, "%s, want \"%s\"", why, expect);
    free(ev.p);
}

static void test_deep(void)
{
    str s = { NULL, 0, 0 };
    char name[128];
    int kinds[3] = { '[', '{', 'm' };
    int k;

    nest(&s, "{\"deep\":", 200000, '[', "0", ",\"after\":7}\n{\"a\":1}\n\n");
    check_deep("scan: 200,000-deep arrays as a member: OK, too_deep, nothing lost", &s, "after a",
               "O Mdeep Mafter N7 Lok+deep O Ma N1 Lok Lblank");
    nest(&s, "{\"deep\":", 200000, 'm', "\"]}\\\"[{\"", ",\"after\":7}\n");
    check_deep("scan: 200,000-deep arrays and objects with a string inside", &s, "after",
               "O Mdeep Mafter N7 Lok+deep");
    nest(&s, "", 200000, '{', "1", "\n{\"a\":1}\n");
    check_deep("scan: 200,000-deep objects at the top", &s, "a", "O Mk Lok+deep O Ma N1 Lok");

    /* Beyond depth 64 brackets are only counted: a mismatch there is not
     * seen (README: "it only counts"). The envelope is depth 1, 63 arrays
     * reach 64, then 1000 '[' closed by 1000 '}'. */
    sclear(&s);
    nest(&s, "{\"d\":", 63, '[', "", ",\"after\":7}\n");
    {
        str t = { NULL, 0, 0 };
        size_t i, at = strlen("{\"d\":") + 63;
        sadd(&t, s.p, at);
        for (i = 0; i < 1000; i++) sadd(&t, "[", 1);
        for (i = 0; i < 1000; i++) sadd(&t, "}", 1);
        sadd(&t, s.p + at, s.n - at);
        check_deep("scan: mismatched brackets beyond depth 64 are counted only: still too_deep, OK",
                   &t, "after", "O Md Mafter N7 Lok+deep");
        free(t.p);
    }
    /* ... but within the first 64 levels a mismatch is an error */
    sclear(&s);
    sadd(&s, "{\"d\":", 5);
    for (k = 0; k < 63; k++) sadd(&s, "[", 1);
    for (k = 0; k < 63; k++) sadd(&s, "}", 1);
    sadd(&s, "}\n{\"a\":1}\n", 10);
    check_deep("scan: a mismatch at depth 64 is invalid", &s, "a", "O Md Lerr O Ma N1 Lok");

    /* a newline inside the deep part ends the line, invalid */
    nest(&s, "{\"d\":", 100, '[', "\n{\"a\":1}\n", "");
    {
        /* the closers after the newline make line 2 invalid too: keep only
         * "{\"d\":" + 100 '[' + "\n{\"a\":1}\n" */
        s.n = strlen("{\"d\":") + 100 + strlen("\n{\"a\":1}\n");
        s.p[s.n] = '\0';
    }
    check_deep("scan: a newline inside the over-deep part ends the line as invalid", &s, "a",
               "O Md Lerr+deep O Ma N1 Lok");

    /* depth exactly 64 is fine, 65 is too deep; the envelope counts */
    for (k = 0; k < 3; k++) {
        const char *kn = kinds[k] == '[' ? "arrays" : kinds[k] == '{' ? "objects" : "mixed";
        nest(&s, "", 64, kinds[k], "0", "\n");
        snprintf(name, sizeof name, "scan: top-level depth 64 (%s) is not too deep", kn);
        check_deep(name, &s, "", kinds[k] == '{' ? "O Mk Lok" : "A Lok");
        nest(&s, "", 65, kinds[k], "0", "\n");
        snprintf(name, sizeof name, "scan: top-level depth 65 (%s) is too deep", kn);
        check_deep(name, &s, "", kinds[k] == '{' ? "O Mk Lok+deep" : "A Lok+deep");
        nest(&s, "{\"d\":", 63, kinds[k], "0", ",\"e\":1}\n");
        snprintf(name, sizeof name, "scan: envelope + 63 (%s) is not too deep", kn);
        check_deep(name, &s, "e", "O Md Me N1 Lok");
        nest(&s, "{\"d\":", 64, kinds[k], "0", ",\"e\":1}\n");
        snprintf(name, sizeof name, "scan: envelope + 64 (%s) is too deep", kn);
        check_deep(name, &s, "e", "O Md Me N1 Lok+deep");
    }
    /* empty containers count too */
    nest(&s, "", 64, '[', "[]", "\n");
    check_deep("scan: an empty array at depth 65 is too deep", &s, "", "A Lok+deep");
    nest(&s, "", 64, '[', "{}", "\n");
    check_deep("scan: an empty object at depth 65 is too deep", &s, "", "A Lok+deep");

    /* too_deep belongs to its line */
    nest(&s, "", 70, '[', "", "\n\n{\"a\":1}\n");
    check_deep("scan: too_deep is reset for the next line (blank or not)", &s, "a",
               "A Lok+deep Lblank O Ma N1 Lok");

    /* wanted objects entered down to depth 64 still report members */
    nest(&s, "", 64, '{', "1", "\n");
    {
        str ev = { NULL, 0, 0 }, want = { NULL, 0, 0 };
        scan(s.p, s.n, 0, "k", 0, &ev);
        sadd(&want, "O", 1);
        for (k = 1; k < 64; k++) sadd(&want, " Mk O", 5);
        sadd(&want, " Mk N1 Lok", 10);
        report(strcmp(ev.p, want.p) == 0, "scan: members are reported at every depth up to 64",
               "got \"%.200s\"", ev.p);
        free(ev.p);
        free(want.p);
    }
    free(s.p);
}

/* ===================================================================== */
/* Writer                                                                 */
/* ===================================================================== */

static size_t utf8_encode(uint32_t cp, char *b)
{
    if (cp < 0x80) { b[0] = (char)cp; return 1; }
    if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (char)(0x80 | (cp >> 6 & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Writes s with gs_json_put_str into a canary-guarded buffer; checks the
 * returned end, the 6n+2 bound and that gs_json_str_size said the length
 * exactly. Returns the written length or -1. */
static char put_buf[6 * 4096 + 2 + CANARY];

static long put_checked(const char *s, size_t n)
{
    char *end;
    size_t i, len;
    if (6 * n + 2 > sizeof put_buf - CANARY) return -1;
    memset(put_buf, 0xA5, 6 * n + 2 + CANARY);
    end = gs_json_put_str(put_buf, s, n);
    if (end < put_buf || end > put_buf + 6 * n + 2) return -1;
    len = (size_t)(end - put_buf);
    if (gs_json_str_size(s, n) != len) return -1;
    for (i = len; i < 6 * n + 2 + CANARY; i++)
        if ((unsigned char)put_buf[i] != 0xA5) return -1;
    return (long)len;
}

static void corpus_line(FILE *f, const char *s, size_t n, int *bad)
{
    size_t i;
    long len = put_checked(s, n);
    if (len < 0) { *bad = 1; return; }
    for (i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)s[i]);
    fputc('\t', f);
    fwrite(put_buf, 1, (size_t)len, f);
    fputc('\n', f);
}

/* Every code point alone and at every place of an 8-byte word in ASCII,
 * and every special byte between others, against json.dumps. */
static void test_writer_corpus(const char *checker)
{
    char path[] = "/tmp/unit_json_corpusXXXXXX";
    char cmd[1024], line[1024] = "";
    const char *tmp = getenv("TMPDIR");
    char tpath[600];
    int fd, bad = 0, status;
    FILE *f, *py;
    uint32_t cp;
    size_t i, k;

    if (access(checker, R_OK) != 0) {      /* a missing test file fails */
        report(0, "writer: every code point equals json.dumps", "%s not found", checker);
        return;
    }
    if (tmp && *tmp && strlen(tmp) < 500) {
        snprintf(tpath, sizeof tpath, "%s/unit_json_corpusXXXXXX", tmp);
        fd = mkstemp(tpath);
    } else {
        fd = -1;
    }
    if (fd < 0) {
        fd = mkstemp(path);
        snprintf(tpath, sizeof tpath, "%s", path);
    }
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        report(0, "writer: every code point equals json.dumps", "cannot create a temporary file");
        return;
    }
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        char b[4];
        corpus_line(f, b, utf8_encode(cp, b), &bad);
    }
    /* specials inside runs of ASCII, at every offset of a 16-byte string */
    {
        static const char *const specials[] = {
            "\"", "\\", "/", "\x7f", "\x1f", "\x01", "\n", "\r", "\t", "\b", "\f", "\0",
            "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xed\xa0\x80", "\xed\xbf\xbf", "~", " "
        };
        for (k = 0; k < sizeof specials / sizeof specials[0]; k++) {
            size_t sl = k == 11 ? 1 : strlen(specials[k]);
            for (i = 0; i <= 24; i++) {
                char s[64];
                memset(s, 'x', sizeof s);
                memcpy(s + i, specials[k], sl);
                corpus_line(f, s, i + sl + (i % 7), &bad);
            }
        }
    }
    /* every ASCII byte next to every other */
    for (i = 0; i < 128; i++)
        for (k = 0; k < 128; k += 1) {
            char s[2];
            s[0] = (char)i;
            s[1] = (char)k;
            corpus_line(f, s, 2, &bad);
        }
    /* a long mixed string */
    {
        char s[4000];
        size_t n = 0;
        for (cp = 0; n + 4 < sizeof s; cp = (cp * 7 + 13) % 0x11000) n += utf8_encode(cp, s + n);
        corpus_line(f, s, n, &bad);
    }
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        report(0, "writer: every code point equals json.dumps",
               "gs_json_put_str wrote past its end or beyond 6n+2 bytes");
        remove(tpath);
        return;
    }
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' 2>&1", checker, tpath);
    fflush(stdout);
    py = popen(cmd, "r");
    if (!py) {
        printf("SKIP: writer: every code point equals json.dumps (cannot run python3)\n");
        remove(tpath);
        return;
    }
    if (!fgets(line, sizeof line, py)) line[0] = '\0';
    while (fgetc(py) != EOF) {}
    status = pclose(py);
    remove(tpath);
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "OK ", 3) != 0 && strncmp(line, "MISMATCH", 8) != 0) {
        /* sh says 127 when python3 is not installed: a missing tool is a
         * skip; a checker that ran and gave no verdict is a failure */
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            printf("SKIP: writer: every code point equals json.dumps (python3 not installed: %s)\n", line);
        else
            report(0, "writer: every code point equals json.dumps", "the checker gave no verdict: %s", line);
        return;
    }
    report(status == 0 && strncmp(line, "OK ", 3) == 0,
           "writer: every code point (lone surrogates as WTF-8) and mixed strings equal json.dumps",
           "%s", line);
}

typedef struct { const char *name, *in; size_t len; const char *out; } put_case;

static const put_case put_cases[] = {
    { "empty", DOC(""), "\"\"" },
    { "ASCII, short escapes, / and DEL",
      DOC("a\"b\\c/d\x7f" "e\n\r\t\b\f~ z"), "\"a\\\"b\\\\c/d\\u007fe\\n\\r\\t\\b\\f~ z\"" },
    { "other controls as \\u00XX", DOC("\x01\x1f\x0b\x00"), "\"\\u0001\\u001f\\u000b\\u0000\"" },
    { "non-ASCII, lowercase hex, pairs above U+FFFF",
      DOC("\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\xf0\x9d\x84\x9e\xf4\x8f\xbf\xbf"),
      "\"\\u00e9\\u20ac\\uffff\\ud834\\udd1e\\udbff\\udfff\"" },
    { "lone surrogates (WTF-8) as \\udXXX", DOC("\xed\xa0\x80\xed\xbf\xbf"), "\"\\ud800\\udfff\"" },
    { "C1 controls and U+2028", DOC("\xc2\x80\xc2\x9f\xe2\x80\xa8"), "\"\\u0080\\u009f\\u2028\"" },
    /* Bytes that are not UTF-8 become U+FFFD one at a time (json.c). */
    { "invalid UTF-8: stray bytes", DOC("\xff\x80" "a"), "\"\\ufffd\\ufffda\"" },
    { "invalid UTF-8: truncated at the end", DOC("a\xe2\x82"), "\"a\\ufffd\\ufffd\"" },
    { "invalid UTF-8: overlong", DOC("\xc0\x80\xe0\x80\x80"),
      "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"" },
    { "invalid UTF-8: above U+10FFFF", DOC("\xf4\x90\x80\x80"),
      "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
};

static void test_writer_cases(void)
{
    size_t i;
    char name[160];
    for (i = 0; i < sizeof put_cases / sizeof put_cases[0]; i++) {
        const put_case *c = &put_cases[i];
        long len = put_checked(c->in, c->len);
        snprintf(name, sizeof name, "writer: %s", c->name);
        report(len >= 0 && (size_t)len == strlen(c->out) && memcmp(put_buf, c->out, (size_t)len) == 0,
               name, "got %.*s, want %s", len < 0 ? 0 : (int)len, put_buf, c->out);
    }
    /* the worst case needs exactly 6n + 2 bytes */
    {
        char s[4096];
        long len;
        memset(s, 1, sizeof s);
        len = put_checked(s, sizeof s);
        report(len == 6 * 4096 + 2, "writer: 4096 control bytes take exactly 6n+2 bytes",
               "wrote %ld bytes", len);
    }
}

static void test_integers(void)
{
    static const struct { uint64_t v; const char *s; } u[] = {
        { 0, "0" }, { 1, "1" }, { 9, "9" }, { 10, "10" }, { 99, "99" }, { 100, "100" },
        { 101, "101" }, { 999, "999" }, { 1000, "1000" }, { 65536, "65536" },
        { UINT64_C(4294967295), "4294967295" }, { UINT64_C(4294967296), "4294967296" },
        { UINT64_C(9223372036854775807), "9223372036854775807" },
        { UINT64_C(9223372036854775808), "9223372036854775808" },
        { UINT64_C(10000000000000000000), "10000000000000000000" },
        { UINT64_C(12345678901234567890), "12345678901234567890" },
        { UINT64_C(18446744073709551615), "18446744073709551615" },
    };
    static const struct { int neg; uint64_t mag; const char *s; } s[] = {
        { 0, 0, "0" }, { 1, 0, "0" }, { 1, 1, "-1" }, { 0, 42, "42" }, { 1, 42, "-42" },
        { 1, UINT64_C(9223372036854775808), "-9223372036854775808" },
        { 0, UINT64_C(18446744073709551615), "18446744073709551615" },
        { 1, UINT64_C(18446744073709551615), "-18446744073709551615" },
    };
    char buf[64], ref[32];
    size_t i;
    int ok = 1;
    uint64_t p;
    char detail[160] = "";

    for (i = 0; i < sizeof u / sizeof u[0] && ok; i++) {
        char *e;
        memset(buf, 'Z', sizeof buf);
        e = gs_json_put_u64(buf, u[i].v);
        if ((size_t)(e - buf) != strlen(u[i].s) || memcmp(buf, u[i].s, strlen(u[i].s)) != 0 || *e != 'Z') {
            ok = 0;
            snprintf(detail, sizeof detail, "gs_json_put_u64(%s) wrote \"%.*s\"", u[i].s, (int)(e - buf), buf);
        }
    }
    /* every power of ten, and one less, and one more */
    for (p = 1, i = 0; ok && i < 20; i++, p *= 10) {
        uint64_t v[3];
        int k;
        v[0] = p - 1; v[1] = p; v[2] = p + 1;
        for (k = 0; k < 3 && ok; k++) {
            char *e = gs_json_put_u64(buf, v[k]);
            snprintf(ref, sizeof ref, "%" PRIu64, v[k]);
            if ((size_t)(e - buf) != strlen(ref) || memcmp(buf, ref, strlen(ref)) != 0) {
                ok = 0;
                snprintf(detail, sizeof detail, "gs_json_put_u64(%s) wrote \"%.*s\"", ref, (int)(e - buf), buf);
            }
        }
    }
    report(ok, "writer: gs_json_put_u64 against known strings", "%s", detail);

    ok = 1;
    for (i = 0; i < sizeof s / sizeof s[0] && ok; i++) {
        char *e;
        memset(buf, 'Z', sizeof buf);
        e = gs_json_put_int(buf, s[i].neg, s[i].mag);
        if ((size_t)(e - buf) != strlen(s[i].s) || memcmp(buf, s[i].s, strlen(s[i].s)) != 0 || *e != 'Z') {
            ok = 0;
            snprintf(detail, sizeof detail, "gs_json_put_int(%d, %" PRIu64 ") wrote \"%.*s\", want %s",
                     s[i].neg, s[i].mag, (int)(e - buf), buf, s[i].s);
        }
    }
    report(ok, "writer: gs_json_put_int against known strings (-0 is 0)", "%s", detail);
}

/* ===================================================================== */
/* Scanner: learned line shapes                                           */
/* ===================================================================== */

#if GS_JSON_SHAPES > 0
/* One consumer of the JSON-lines kind: a line's object, body and data are
 * entered with expected keys, every scalar stored in place. Two of them
 * read the same input, one learning shapes and one not; after every line
 * they must hold the same values. */
typedef struct {
    gs_json j;
    gs_json_shapes shapes;
    gs_json_key top, envelope[4], body[6], data[2];
    gs_json_value top_v, src, dest, n, body_v, type, id, flag, list, data_v, text, count;
    char src_buf[8], dest_buf[64], type_buf[32], text_buf[40], count_buf[24];
} shape_rec;

static void shape_rec_init(shape_rec *r, int learn)
{
    memset(r, 0, sizeof *r);
    gs_json_reset(&r->j);
    gs_json_key_set(&r->top, "", 0, &r->top_v, NULL, 0);
    gs_json_key_nest(&r->top, r->envelope, 4);
    gs_json_key_set(&r->envelope[0], "src", 0, &r->src, r->src_buf, sizeof r->src_buf);
    gs_json_key_set(&r->envelope[1], "dest", 0, &r->dest, r->dest_buf, sizeof r->dest_buf);
    gs_json_key_set(&r->envelope[2], "n", 0, &r->n, NULL, 0);
    gs_json_key_set(&r->envelope[3], "body", 0, &r->body_v, NULL, 0);
    gs_json_key_nest(&r->envelope[3], r->body, 6);
    gs_json_key_set(&r->body[0], "type", 0, &r->type, r->type_buf, sizeof r->type_buf);
    gs_json_key_set(&r->body[1], "msg_id", 0, &r->id, NULL, 0);
    gs_json_key_set(&r->body[2], "flag", 0, &r->flag, NULL, 0);
    gs_json_key_set(&r->body[3], "list", 0, &r->list, NULL, 0);
    gs_json_key_set(&r->body[4], "a_member_name_longer_than_8", 0, &r->count, r->count_buf,
                    sizeof r->count_buf);
    gs_json_key_set(&r->body[5], "data", 0, &r->data_v, NULL, 0);
    gs_json_key_nest(&r->body[5], r->data, 2);
    gs_json_key_set(&r->data[0], "text", 0, &r->text, r->text_buf, sizeof r->text_buf);
    gs_json_key_set(&r->data[1], "count", 0, &r->count, r->count_buf, sizeof r->count_buf);
    gs_json_expect_top(&r->j, &r->top);
    if (learn) gs_json_learn(&r->j, &r->shapes);
}

/* What a line left in one value, as far as its kind says. */
static void shape_value_out(str *s, const char *name, const gs_json_value *v, const char *buf)
{
    sfmt(s, " %s=", name);
    if (v->kind == GS_JV_STRING || (v->kind == GS_JV_NUMBER && !v->num_int && buf)) {
        sfmt(s, "K%d:%zu%s:", v->kind, v->len, v->over ? "+over" : "");
        if (buf) sbytes(s, buf, v->len);
    } else if (v->kind == GS_JV_NUMBER) {
        sfmt(s, "N%d%d%d:%" PRIu64, v->num_neg, v->num_int, v->num_big, v->num_mag);
    } else {
        sfmt(s, "K%d", v->kind);
    }
}

/* Feeds p[0..n) (in one chunk of exactly n bytes) and describes each line. */
static void shape_feed(shape_rec *r, const char *p, size_t n, str *out)
{
    char *chunk = malloc(n ? n : 1);    /* exactly n bytes: ASan sees a read past it */
    const char *q, *end;
    if (!chunk) abort();
    memcpy(chunk, p, n);
    q = chunk;
    end = chunk + n;
    for (;;) {
        int ev = gs_json_next(&r->j, &q, end);
        gs_json_value *all[] = { &r->top_v, &r->src, &r->dest, &r->n, &r->body_v, &r->type,
                                 &r->id, &r->flag, &r->list, &r->data_v, &r->text, &r->count };
        unsigned i;
        if (ev == GS_JSON_MORE) break;
        if (ev != GS_JSON_LINE) { sfmt(out, " event%d", ev); continue; }
        sfmt(out, "L%d%s", r->j.status, r->j.too_deep ? "+deep" : "");
        shape_value_out(out, "top", &r->top_v, NULL);
        shape_value_out(out, "src", &r->src, r->src_buf);
        shape_value_out(out, "dest", &r->dest, r->dest_buf);
        shape_value_out(out, "n", &r->n, NULL);
        shape_value_out(out, "body", &r->body_v, NULL);
        shape_value_out(out, "type", &r->type, r->type_buf);
        shape_value_out(out, "id", &r->id, NULL);
        shape_value_out(out, "flag", &r->flag, NULL);
        shape_value_out(out, "list", &r->list, NULL);
        shape_value_out(out, "data", &r->data_v, NULL);
        shape_value_out(out, "text", &r->text, r->text_buf);
        shape_value_out(out, "count", &r->count, r->count_buf);
        sfmt(out, "\n");
        for (i = 0; i < sizeof all / sizeof *all; i++) all[i]->kind = 0;    /* as the contract asks */
    }
    free(chunk);
}

static unsigned long shape_rand_state = 12345;
static int shape_tame;              /* lines of three kinds, plain values */
static unsigned shape_rand(unsigned n)
{
    shape_rand_state = shape_rand_state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)(shape_rand_state >> 33) % n;
}

/* A string value: mostly plain, sometimes with what makes a line leave
 * its shape (an escape, UTF-8, a control byte, a raw quote). */
static void shape_string(str *s, unsigned maxlen)
{
    static const char *const odd[] = { "\\n", "\\\"", "\\u00e9", "\xc3\xa9", "\x01", "\\ud834\\udd1e",
                                       "\xff", "\\x" };
    unsigned len = shape_rand(maxlen + 1), i;
    sadd(s, "\"", 1);
    for (i = 0; i < len; i++) {
        if (!shape_tame && shape_rand(40) == 0) {
            const char *o = odd[shape_rand(sizeof odd / sizeof *odd)];
            sadd(s, o, strlen(o));
        } else {
            char c = (char)('a' + shape_rand(26));
            sadd(s, &c, 1);
        }
    }
    sadd(s, "\"", 1);
}

/* A number: mostly an integer, sometimes what whole_int leaves to the
 * scanner (20 digits, a fraction, an exponent, a leading zero, -). */
static void shape_number(str *s)
{
    static const char *const odd[] = { "18446744073709551615", "18446744073709551616",
                                       "99999999999999999999", "1.5", "2e3", "-0", "0", "007",
                                       "-", "12345678", "123456789", "-9223372036854775808",
                                       "1E+2", "0.0", "-12" };
    if (!shape_tame && shape_rand(8) == 0) {
        const char *o = odd[shape_rand(sizeof odd / sizeof *odd)];
        sadd(s, o, strlen(o));
    } else {
        sfmt(s, "%s%u", shape_rand(6) ? "" : "-", shape_rand(4) ? shape_rand(1000) : shape_rand(4000000000u));
    }
}

/* A value of any kind, for a member whose value mostly has one. */
static void shape_any(str *s, int usual)
{
    unsigned k = shape_tame || shape_rand(30) ? (unsigned)usual : shape_rand(7);
    switch (k) {
    case 0: shape_string(s, 12); break;
    case 1: shape_number(s); break;
    case 2: sadd(s, "true", 4); break;
    case 3: sadd(s, "null", 4); break;
    case 4: sadd(s, "[1,\"x\",{}]", 10); break;
    case 5: sadd(s, "{\"text\":\"in\"}", 13); break;
    default: sadd(s, "false", 5); break;
    }
}

/* Lines of a few kinds, with random values, spacing now and then, and
 * now and then a member left out, named twice, unknown, or a line cut
 * short, blank, or too deep. */
static void shape_line_gen(str *s)
{
    unsigned kind = shape_rand(shape_tame ? 3 : 4), odd = shape_tame ? 25 : shape_rand(25);
    const char *sp = shape_tame || shape_rand(20) ? "" : " ";
    if (odd == 0) { sadd(s, "\n", 1); return; }
    if (odd == 1) { sadd(s, "{\"src\":\"c1\",\"body\":{\"type\":\"x\"\n", 30); return; }
    if (odd == 2) {
        unsigned i;
        sadd(s, "{\"src\":\"c1\",\"body\":", 19);
        for (i = 0; i < 70; i++) sadd(s, "[", 1);
        for (i = 0; i < 70; i++) sadd(s, "]", 1);
        sadd(s, "}\n", 2);
        return;
    }
    sfmt(s, "{\"src\":%s", sp);
    if (shape_tame) {               /* one per kind: constant in its shape, cut by an 8-byte sink */
        static const char *const src[] = { "\"c1\"", "\"123456789\"", "\"a-much-longer-client\"" };
        sadd(s, src[kind], strlen(src[kind]));
    } else {
        shape_any(s, 0);
    }
    sfmt(s, ",\"dest\":");
    shape_string(s, kind == 3 ? 60 : 4);
    if (kind == 1) { sfmt(s, ",\"n\":"); shape_any(s, 1); }
    if (odd == 3) sfmt(s, ",\"unknown\":{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}");
    sfmt(s, ",%s\"body\":{\"type\":", sp);
    shape_any(s, 0);
    if (odd != 4) { sfmt(s, ",\"msg_id\":"); shape_any(s, 1); }
    if (kind == 2) {
        sfmt(s, ",\"flag\":");
        shape_any(s, shape_rand(2) ? 2 : 6);
        sfmt(s, ",\"list\":");
        shape_any(s, 4);
        sfmt(s, ",\"a_member_name_longer_than_8\":");
        shape_string(s, 30);
    }
    if (kind != 1) {
        sfmt(s, ",\"data\":{\"text\":");
        shape_any(s, 0);
        if (kind == 3) { sfmt(s, ",\"count\":"); shape_number(s); }
        sfmt(s, "}");
    }
    if (odd == 5) sfmt(s, ",\"data\":{\"count\":\"again\"}");   /* named twice */
    sfmt(s, "}%s}%s\n", sp, odd == 6 ? " x" : "");
}

static shape_rec learner, plain;

/* Feeds a session of generated lines to a learner and a plain scanner;
 * returns the lines it had. */
static size_t shape_session(int tame, const char *name)
{
    str input = { 0 }, a = { 0 }, b = { 0 };
    size_t at, lines = 0;
    unsigned i;
    int same = 1;
    shape_tame = tame;
    sclear(&input);
    sclear(&a);
    sclear(&b);
    for (i = 0; i < 40000; i++) shape_line_gen(&input);
    for (at = 0; at < input.n; at++) lines += input.p[at] == '\n';

    /* chunks of random sizes, mostly large: most lines are whole in one */
    shape_rec_init(&learner, 1);
    shape_rec_init(&plain, 0);
    for (at = 0; at < input.n;) {
        size_t n = shape_rand(10) ? 1 + shape_rand(8192) : 1 + shape_rand(40);
        if (n > input.n - at) n = input.n - at;
        shape_feed(&learner, input.p + at, n, &a);
        shape_feed(&plain, input.p + at, n, &b);
        at += n;
        if (strcmp(a.p, b.p) != 0) { same = 0; break; }
    }
    if (!same) {
        size_t k = 0, line = 1;
        while (a.p[k] && a.p[k] == b.p[k]) line += a.p[k++] == '\n';
        report(0, name, "line %zu differs:\nlearner %.600s\nscanner %.600s", line, a.p + k, b.p + k);
    } else {
        report(1, name, "");
    }
    free(input.p);
    free(a.p);
    free(b.p);
    return lines;
}

static void test_shapes(void)
{
    str a = { 0 };
    size_t lines;
    shape_session(0, "scan: a line stored from a shape stores what the scanner stores "
                     "(lines of many kinds, odd values, cut anywhere)");
    report(learner.j.shaped > 0 && plain.j.shaped == 0,
           "scan: shapes were used, and only by the scanner learning them",
           "%" PRIu64 " and %" PRIu64 " lines", learner.j.shaped, plain.j.shaped);
    lines = shape_session(1, "scan: a line stored from a shape stores what the scanner stores "
                             "(three kinds, plain values)");
    report(learner.j.shaped > lines * 9 / 10,
           "scan: most lines of a session of three kinds are stored from a shape",
           "%" PRIu64 " of %zu lines", learner.j.shaped, lines);

    /* keys changed: gs_json_learn forgets; the next lines are scanned */
    {
        uint64_t before;
        str one = { 0 };
        sclear(&one);
        sfmt(&one, "{\"src\":\"a\",\"dest\":\"b\",\"body\":{\"type\":\"t\",\"msg_id\":1,\"data\":{\"text\":\"x\"}}}\n");
        sclear(&a);
        shape_feed(&learner, one.p, one.n, &a);
        shape_feed(&learner, one.p, one.n, &a);
        before = learner.j.shaped;
        shape_feed(&learner, one.p, one.n, &a);
        report(learner.j.shaped == before + 1, "scan: a line seen before is stored from its shape",
               "%" PRIu64 " -> %" PRIu64, before, learner.j.shaped);
        gs_json_key_set(&learner.body[0], "kind", 0, &learner.type, learner.type_buf,
                        sizeof learner.type_buf);
        gs_json_learn(&learner.j, &learner.shapes);
        before = learner.j.shaped;
        sclear(&a);
        shape_feed(&learner, one.p, one.n, &a);
        report(learner.j.shaped == before && strstr(a.p, " type=K0") != NULL,
               "scan: gs_json_learn forgets the shapes of keys that changed", "%s", a.p);
        free(one.p);
    }
    free(a.p);
}
#endif

int main(int argc, char **argv)
{
    const char *checker = argc > 1 ? argv[1] : "tests/writer_check.py";
    test_documents();
    test_sink_reuse();
    test_expected_members();
#if GS_JSON_SHAPES > 0
    test_shapes();
#endif
    test_long_strings();
    test_deep();
    test_writer_cases();
    test_integers();
    test_writer_corpus(checker);
    return failures ? 1 : 0;
}
