/*
 * fuzz_common.h - helpers shared by the libFuzzer targets (header only).
 *
 *   ref_line()    an independent, strict RFC 8259 + RFC 3629 validator for
 *                 one line (Python json.loads semantics, NaN/Infinity
 *                 rejected), used as the scanner's oracle;
 *   dumps_line()  checks a line is a JSON object written exactly the way
 *                 Python's json.dumps(obj) (ensure_ascii) writes it;
 *   ref_put_str() an independent json.dumps string encoder (bytes that are
 *                 not UTF-8/WTF-8 become U+FFFD one at a time, as json.c
 *                 documents), the writer's oracle;
 *   rng           a tiny PRNG seeded from the input's first byte.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_FAIL(...)                                                   \
    do {                                                                 \
        fprintf(stderr, "FUZZ INVARIANT FAILED (%s:%d): ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                                    \
        fputc('\n', stderr);                                             \
        abort();                                                         \
    } while (0)
#define FUZZ_CHECK(cond, ...) do { if (!(cond)) FUZZ_FAIL(__VA_ARGS__); } while (0)

/* memcmp(a, b, n) == 0 that is defined for n == 0 with a NULL pointer (a
 * buffer never grown, an empty input): memcmp and memcpy want valid
 * pointers even for zero bytes, and UBSan says so. */
static inline int fuzz_memeq(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* ----- PRNG ----------------------------------------------------------- */

typedef struct { uint32_t s; } fuzz_rng;
static inline void rng_seed(fuzz_rng *r, uint8_t b) { r->s = 0x9E3779B9u ^ ((uint32_t)b * 0x01000193u) ^ b; if (!r->s) r->s = 1; }
static inline uint32_t rng_next(fuzz_rng *r)
{
    uint32_t x = r->s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return r->s = x;
}

/* ----- strict reference validator ------------------------------------ */

enum { REF_BLANK, REF_OK, REF_ERROR, REF_TOO_DEEP_TO_CHECK };

typedef struct {
    const unsigned char *p, *end;
    unsigned depth, max_depth;
    int bail;
} ref_ctx;

static int ref_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static void ref_skip(ref_ctx *c) { while (c->p < c->end && ref_ws(*c->p)) c->p++; }
static int ref_value(ref_ctx *c);

static int ref_hex(int ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Strict UTF-8 (RFC 3629): returns the sequence length or 0. */
static size_t ref_utf8(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        unsigned char lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        unsigned char lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
               (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

static int ref_string(ref_ctx *c)
{
    c->p++;                         /* the opening quote */
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') { c->p++; return 1; }
        if (ch < 0x20) return 0;
        if (ch == '\\') {
            if (++c->p == c->end) return 0;
            ch = *c->p++;
            if (ch == 'u') {
                int i;
                for (i = 0; i < 4; i++, c->p++)
                    if (c->p == c->end || !ref_hex(*c->p)) return 0;
            } else if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
                return 0;
            }
            continue;
        }
        {
            size_t l = ref_utf8(c->p, (size_t)(c->end - c->p));
            if (!l) return 0;
            c->p += l;
        }
    }
    return 0;
}

static int ref_digit(ref_ctx *c) { return c->p < c->end && *c->p >= '0' && *c->p <= '9'; }

static int ref_number(ref_ctx *c)
{
    if (*c->p == '-') c->p++;
    if (!ref_digit(c)) return 0;
    if (*c->p == '0') c->p++;
    else while (ref_digit(c)) c->p++;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!ref_digit(c)) return 0;
        while (ref_digit(c)) c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!ref_digit(c)) return 0;
        while (ref_digit(c)) c->p++;
    }
    return 1;
}

static int ref_lit(ref_ctx *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int ref_container(ref_ctx *c, int obj)
{
    int first = 1;
    if (++c->depth > c->max_depth) c->max_depth = c->depth;
    if (c->depth > 2000) { c->bail = 1; return 0; }
    c->p++;
    for (;;) {
        ref_skip(c);
        if (c->p == c->end) return 0;
        if (*c->p == (obj ? '}' : ']')) {
            if (!first) return 0;   /* trailing comma handled below */
            c->p++;
            c->depth--;
            return 1;
        }
        if (obj) {
            if (*c->p != '"' || !ref_string(c)) return 0;
            ref_skip(c);
            if (c->p == c->end || *c->p != ':') return 0;
            c->p++;
        }
        if (!ref_value(c)) return 0;
        ref_skip(c);
        if (c->p == c->end) return 0;
        if (*c->p == ',') { c->p++; first = 0; continue; }
        if (*c->p == (obj ? '}' : ']')) { c->p++; c->depth--; return 1; }
        return 0;
    }
}

static int ref_value(ref_ctx *c)
{
    ref_skip(c);
    if (c->p == c->end) return 0;
    switch (*c->p) {
    case '{': return ref_container(c, 1);
    case '[': return ref_container(c, 0);
    case '"': return ref_string(c);
    case 't': return ref_lit(c, "true");
    case 'f': return ref_lit(c, "false");
    case 'n': return ref_lit(c, "null");
    default: return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) ? ref_number(c) : 0;
    }
}

/* One line (no '\n' inside). *max_depth: deepest nesting seen (up to the
 * error, if any). */
static inline int ref_line(const unsigned char *s, size_t n, unsigned *max_depth)
{
    ref_ctx c;
    int ok;
    c.p = s; c.end = s + n; c.depth = c.max_depth = 0; c.bail = 0;
    ref_skip(&c);
    *max_depth = 0;
    if (c.p == c.end) return REF_BLANK;
    ok = ref_value(&c);
    *max_depth = c.max_depth;
    if (c.bail) return REF_TOO_DEEP_TO_CHECK;
    if (!ok) return REF_ERROR;
    ref_skip(&c);
    return c.p == c.end ? REF_OK : REF_ERROR;
}

/* ----- json.dumps form ----------------------------------------------- */

typedef struct { const char *p, *end; unsigned depth; } dumps_ctx;

static int dumps_value(dumps_ctx *c);

static int dumps_lit(dumps_ctx *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int dumps_hexlow(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); }

static int dumps_string(dumps_ctx *c)
{
    if (c->p == c->end || *c->p != '"') return 0;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') return 1;
        if (ch < 0x20 || ch >= 0x7F) return 0;      /* raw control / DEL / non-ASCII */
        if (ch == '\\') {
            unsigned v = 0;
            int i;
            if (c->p == c->end) return 0;
            ch = (unsigned char)*c->p++;
            if (strchr("\"\\nrtbf", ch) && ch) continue;
            if (ch != 'u') return 0;                /* includes "\/": dumps never writes it */
            for (i = 0; i < 4; i++) {
                if (c->p == c->end || !dumps_hexlow(*c->p)) return 0;
                v = v << 4 | (unsigned)(*c->p <= '9' ? *c->p - '0' : *c->p - 'a' + 10);
                c->p++;
            }
            /* dumps uses \u only where no short form exists and the
             * character is not printable ASCII */
            if (v == '\n' || v == '\r' || v == '\t' || v == '\b' || v == '\f') return 0;
            if (v >= 0x20 && v < 0x7F) return 0;
            /* a high surrogate escape followed by a low one is a pair; a
             * lone one is allowed (Python keeps lone surrogates) */
        }
    }
    return 0;
}

static int dumps_digits(dumps_ctx *c)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    return c->p > s;
}

/* An integer as Python writes an int ("-0" never), or a float as its repr
 * writes one: a fraction (1.5, -0.0) or an exponent of at least two digits
 * with a sign (1e+300, 5e-324, 1.5e-05). */
static int dumps_number(dumps_ctx *c)
{
    const char *s = c->p;
    int neg_zero;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p == c->end || *c->p < '0' || *c->p > '9') return 0;
    if (*c->p == '0') c->p++;
    else dumps_digits(c);
    neg_zero = *s == '-' && c->p - s == 2 && s[1] == '0';
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!dumps_digits(c)) return 0;
        neg_zero = 0;
    }
    if (c->p < c->end && *c->p == 'e') {
        const char *e;
        c->p++;
        if (c->p == c->end || (*c->p != '+' && *c->p != '-')) return 0;
        e = ++c->p;
        if (!dumps_digits(c) || c->p - e < 2) return 0;
        neg_zero = 0;
    }
    return !neg_zero;
}

static int dumps_container(dumps_ctx *c, int obj)
{
    if (++c->depth > 1000) return 0;
    c->p++;
    if (c->p < c->end && *c->p == (obj ? '}' : ']')) { c->p++; c->depth--; return 1; }
    for (;;) {
        if (obj) {
            if (!dumps_string(c)) return 0;
            if (!dumps_lit(c, ": ")) return 0;
        }
        if (!dumps_value(c)) return 0;
        if (c->p < c->end && *c->p == (obj ? '}' : ']')) { c->p++; c->depth--; return 1; }
        if (!dumps_lit(c, ", ")) return 0;
    }
}

static int dumps_value(dumps_ctx *c)
{
    if (c->p == c->end) return 0;
    switch (*c->p) {
    case '{': return dumps_container(c, 1);
    case '[': return dumps_container(c, 0);
    case '"': return dumps_string(c);
    case 't': return dumps_lit(c, "true");
    case 'f': return dumps_lit(c, "false");
    case 'n': return dumps_lit(c, "null");
    default: return dumps_number(c);
    }
}

/* A whole line (without its '\n') is one object in json.dumps form. */
static inline int dumps_line(const char *s, size_t n)
{
    dumps_ctx c;
    c.p = s; c.end = s + n; c.depth = 0;
    if (n == 0 || *s != '{') return 0;
    if (!dumps_value(&c)) return 0;
    return c.p == c.end;
}

/* ----- reference writer ---------------------------------------------- */

/* Decodes one code point as json.c documents it: UTF-8, with the 3-byte
 * forms of surrogates allowed (WTF-8); anything else is one byte of
 * U+FFFD. Written independently of json.c on purpose. */
static uint32_t ref_decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char b = s[0];
    *len = 1;
    if (b < 0x80) return b;
    if (b >= 0xC2 && b <= 0xDF) {
        if (n >= 2 && (s[1] & 0xC0) == 0x80) { *len = 2; return (uint32_t)(b & 0x1F) << 6 | (s[1] & 0x3F); }
        return 0xFFFD;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        unsigned char lo = b == 0xE0 ? 0xA0 : 0x80;
        if (n >= 3 && s[1] >= lo && s[1] <= 0xBF && (s[2] & 0xC0) == 0x80) {
            *len = 3;
            return (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        }
        return 0xFFFD;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        unsigned char lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        if (n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
            *len = 4;
            return (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
                   (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        }
        return 0xFFFD;
    }
    return 0xFFFD;
}

static char *ref_u(char *d, uint32_t v)
{
    sprintf(d, "\\u%04x", (unsigned)v);
    return d + 6;
}

static inline char *ref_put_str(char *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    *d++ = '"';
    while (i < n) {
        size_t len;
        uint32_t cp = ref_decode(s + i, n - i, &len);
        i += len;
        switch (cp) {
        case '"': *d++ = '\\'; *d++ = '"'; continue;
        case '\\': *d++ = '\\'; *d++ = '\\'; continue;
        case '\n': *d++ = '\\'; *d++ = 'n'; continue;
        case '\r': *d++ = '\\'; *d++ = 'r'; continue;
        case '\t': *d++ = '\\'; *d++ = 't'; continue;
        case '\b': *d++ = '\\'; *d++ = 'b'; continue;
        case '\f': *d++ = '\\'; *d++ = 'f'; continue;
        default: break;
        }
        if (cp >= 0x20 && cp < 0x7F) *d++ = (char)cp;
        else if (cp < 0x10000) d = ref_u(d, cp);
        else {
            cp -= 0x10000;
            d = ref_u(d, 0xD800 + (cp >> 10));
            d = ref_u(d, 0xDC00 + (cp & 0x3FF));
        }
    }
    *d++ = '"';
    return d;
}

/* What scanning ref_put_str's output back gives: the decoded code points
 * re-encoded as WTF-8, a high surrogate directly followed by a low one
 * joined into one code point (as any JSON reader does). Returns length. */
static inline size_t ref_roundtrip(unsigned char *d, const unsigned char *s, size_t n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len;
        uint32_t cp = ref_decode(s + i, n - i, &len);
        i += len;
        if (cp >= 0xD800 && cp <= 0xDBFF && i < n) {
            size_t len2;
            uint32_t lo = ref_decode(s + i, n - i, &len2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                i += len2;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
        }
        if (cp < 0x80) d[o++] = (unsigned char)cp;
        else if (cp < 0x800) { d[o++] = (unsigned char)(0xC0 | cp >> 6); d[o++] = (unsigned char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            d[o++] = (unsigned char)(0xE0 | cp >> 12); d[o++] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
            d[o++] = (unsigned char)(0x80 | (cp & 0x3F));
        } else {
            d[o++] = (unsigned char)(0xF0 | cp >> 18); d[o++] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
            d[o++] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); d[o++] = (unsigned char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

#endif
