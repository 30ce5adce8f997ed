/*
 * grpcstream.c - the gRPC streaming core, its built-in services, its front
 * ends, and (unless GS_NO_MAIN) a poll() loop around them.
 *
 * Contents. Each section opens with a numbered banner and a paragraph on
 * what it owns and what it does not support; its static functions carry
 * the prefix shown.
 *
 *    1. Basics                status names, output helpers,        put_ b64_
 *                             base64
 *    2. Message descriptors   the built-in message types
 *    3. Protobuf              the wire codec by descriptor; lists  pb_ gs_iter_
 *    4. Stream table          slots and run queues                 st_
 *    5. Front-end interface   what the call core asks of a front   fe_
 *                             end: emit a message, emit an end,
 *                             is there room
 *    6. Call core             methods, admission, start, deliver,  core_
 *                             half-close, cancel, end; turns,
 *                             wake-ups, deadlines
 *    7. Built-in services     the log (ring or file), WatchLogs,   ring_ file_
 *                             Append, BiDiChat                     log_ watch_
 *    8. JSON lines: output    replies in json.dumps form           jl_
 *    9. JSON lines: input     scanner events, checks, requests     jl_
 *   10. gRPC header values    grpc-timeout, grpc-message,          grpc_
 *                             content-type, metadata
 *   11. HPACK                 header compression (RFC 7541)        hp_
 *   12. HTTP/2                connections, frames, flow control,   h2_
 *                             gRPC calls on streams
 *   13. Connection API        gs_conn_open, gs_conn_feed, ...      gs_conn_
 *   14. Front-end dispatch    section 5's switch over front ends   fe_
 *   15. Node API              gs_init, gs_register, gs_feed, ...   gs_
 *   16. main()                the poll() loop (not with GS_NO_MAIN)
 *
 * Sections 10-13 are compiled only with GS_MAX_CONNS > 0. A section calls
 * only earlier ones. The one exception is the call core, which reaches the
 * front ends through section 5's three functions: they are declared there
 * and defined in section 14, after every front end.
 */
#define _POSIX_C_SOURCE 200809L
#include "grpcstream.h"

#include <string.h>
#ifndef GS_NO_FLOAT              /* float and double fields in JSON */
#include <float.h>
#include <math.h>                 /* HUGE_VAL (a macro: no libm) */
#include <stdio.h>
#include <stdlib.h>
#endif

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ===================================================================== */
/* 1. Basics: status names, output helpers, base64                        */
/* ===================================================================== */

/* gRPC status names, Maelstrom error codes, the small writers every
 * section uses (put_n and friends copy; json.c escapes), and base64.
 * Nothing here knows a front end. */

static const char *const status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
};

const char *gs_status_name(int status)
{
    return status >= 0 && status < (int)LEN(status_names) ? status_names[status]
                                                          : "UNKNOWN";
}

/* Maelstrom error codes. */
enum { E_NOT_SUPPORTED = 10, E_UNAVAILABLE = 11, E_MALFORMED = 12,
       E_NO_KEY = 20, E_PRECONDITION = 22 };

static char *put_n(char *d, const char *s, size_t len)
{
    memcpy(d, s, len);
    return d + len;
}

/* Whether a[0..n) and b[0..n) are equal: short ids and names compared in
 * 8-byte words (the last one overlapping) or bytes, without a call to
 * memcmp. */
static int same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    size_t i;
    if (n > 32) return memcmp(a, b, n) == 0;
    if (n < 8) {
        uint32_t u, v, w, z;
        if (n < 4) {
            for (i = 0; i < n; i++)
                if (a[i] != b[i]) return 0;
            return 1;
        }
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        memcpy(&w, a + n - 4, 4);
        memcpy(&z, b + n - 4, 4);
        return u == v && w == z;
    }
    for (i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* put() a string literal (length known at compile time) or any string. */
#define PUT(d, lit) put_n(d, lit, sizeof(lit) - 1)
static char *put(char *d, const char *s) { return put_n(d, s, strlen(s)); }

/* A text with a number in it, as the node's limits appear in messages:
 * "<a><number><b>" into buf (which has room). Returns buf. */
static const char *put_limit_text(char *buf, const char *a, uint64_t number, const char *b)
{
    char *d = gs_json_put_u64(put(buf, a), number);
    *put(d, b) = '\0';
    return buf;
}

static void report(gs_node *n, const char *what)
{
    if (n->diag) n->diag(n, what);
}

/* Base64 (RFC 4648): -bin metadata values, bytes fields in JSON. */
static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of s[0..n) at d, padded; returns the end (4 per 3). */
static char *b64_encode(char *d, const uint8_t *s, size_t n)
{
    size_t i;
    for (i = 0; i + 2 < n; i += 3, d += 4) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        d[0] = b64_alphabet[v >> 18]; d[1] = b64_alphabet[v >> 12 & 63];
        d[2] = b64_alphabet[v >> 6 & 63]; d[3] = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        d[0] = b64_alphabet[v >> 18]; d[1] = b64_alphabet[v >> 12 & 63];
        d[2] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
        d[3] = '=';
        d += 4;
    }
    return d;
}

static int b64_value(char c, int url_safe)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || (url_safe && c == '-')) return 62;
    if (c == '/' || (url_safe && c == '_')) return 63;
    return -1;
}

/* Decodes base64 s[0..n), padded or not (and URL-safe too if url_safe), into d (room for n bytes).
 * Returns the decoded length, or -1 if it is not base64. */
static long b64_decode(uint8_t *d, const char *s, size_t n, int url_safe)
{
    uint32_t acc = 0;
    size_t i, bits = 0, out = 0;
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    for (i = 0; i < n; i++) {
        int v = b64_value(s[i], url_safe);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[out++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)out;
}

/* ===================================================================== */
/* 2. Message descriptors                                                 */
/* ===================================================================== */

/* The built-in services' message types (PROTOCOL.md 2.1): a static field
 * table each, read by every front end. Their uint64 fields are JSON
 * numbers, as PROTOCOL.md has them (GS_JSON_NUMBER). */

static const gs_field watch_request_fields[] = {
    GS_FIELD("filter", 1, GS_STRING),
    { "limit", 2, GS_UINT64, GS_JSON_NUMBER, NULL, NULL },
    GS_FIELD("follow", 3, GS_BOOL)
};
static const gs_field log_entry_fields[] = {
    GS_FIELD("level", 1, GS_STRING), GS_FIELD("msg", 2, GS_STRING)
};
static const gs_field chat_message_fields[] = { GS_FIELD("text", 1, GS_STRING) };
static const gs_field append_response_fields[] = {
    { "seq", 1, GS_UINT64, GS_JSON_NUMBER, NULL, NULL }
};

static const gs_desc watch_request = { "WatchRequest", watch_request_fields, 3 };
static const gs_desc log_entry = { "LogEntry", log_entry_fields, 2 };
static const gs_desc chat_message = { "ChatMessage", chat_message_fields, 1 };
static const gs_desc append_response = { "AppendResponse", append_response_fields, 1 };

/* ===================================================================== */
/* 3. Protobuf wire codec                                                 */
/* ===================================================================== */

/*
 * Owns: turning the bytes of one protobuf message into a gs_msg by its
 * descriptor (pb_decode, gs_decode), a gs_msg back into bytes
 * (pb_msg_size, pb_put_msg, pb_size_max), and walking lists (gs_iter). Every proto3
 * field type: the integers (varint, zigzag, fixed), bool, enum, float,
 * double, string, bytes, messages, and repeated fields, scalars packed or
 * not when read and packed when written. proto3 semantics: absent fields
 * read as their defaults, defaults are not written (a message field is
 * written when present), the last occurrence of a scalar wins, unknown
 * fields (wire types 0, 1, 2, 5) are skipped.
 *
 * Decoding stores nothing outside the gs_msg it fills: strings and bytes
 * point into the input; a message field keeps its bytes (gs_decode reads
 * them); a list keeps its count and the message's bytes, and gs_iter
 * walks them. The whole request, nested messages included, is checked
 * when it is decoded, so reading its parts later cannot fail. Absent
 * strings are "" (never NULL).
 *
 * Does not own: the gRPC 5-byte length prefix, compression, or message
 * size limits other than GS_MAX_VALUE per string (GS_MAX_MESSAGE is the
 * front end's).
 *
 * Not supported: groups (wire types 3 and 4, rejected even for unknown
 * fields: proto3 has none), maps (a map is a list of entry messages: it
 * can be declared as one), oneof (its members are plain fields here), and
 * merging a message field sent more than once (its last occurrence is
 * kept).
 *
 * Stricter than the reference implementations in three places, all
 * reported as GS_INTERNAL: a known field with the wrong wire type (C++,
 * Go and Python keep it as an unknown field instead), a 10-byte varint
 * whose last byte carries bits beyond 64 (Go rejects it too; C++ drops
 * the bits), and messages nested deeper than GS_MAX_DEPTH (C++ allows 100).
 */

/* Wire types. */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_SGROUP = 3, PB_EGROUP = 4, PB_I32 = 5 };

#define PB_MAX_NUMBER 536870911u    /* 2^29 - 1: the largest field number */
#define PB_VARINT_MAX 10            /* bytes of a 64-bit varint */
#define PB_UNBOUNDED ((size_t)-1)   /* pb_size_max of a type with lists, messages or bytes */

/* The input still to read, and why reading stopped if it failed. */
typedef struct {
    const unsigned char *p, *end;
    const char *why;
} pb_in;

/* One value as the wire type gives it: u for varint/fixed, s for length-
 * delimited. Field types later interpret it (zigzag, float bits, ...). */
typedef struct {
    uint64_t u;
    gs_str s;
} pb_value;

static int pb_fail(pb_in *in, const char *why)
{
    in->why = why;
    return -1;
}

static void pb_in_init(pb_in *in, const char *buf, size_t len)
{
    in->p = (const unsigned char *)buf;
    in->end = len ? in->p + len : in->p;        /* buf may be NULL when len is 0 */
    in->why = NULL;
}

/* Reads a base-128 varint. Non-minimal encodings (0x80 0x00) are valid
 * protobuf and accepted; only the 10th byte is special: it may hold just
 * bit 63. */
static int pb_read_varint(pb_in *in, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift;
    for (shift = 0;; shift += 7) {    /* the 10th byte (shift 63) ends it either way */
        unsigned c;
        if (in->p == in->end) return pb_fail(in, "truncated varint");
        c = *in->p++;
        if (shift == 63 && c > 1)
            return pb_fail(in, c & 0x80 ? "varint longer than 10 bytes"
                                        : "varint larger than 64 bits");
        x |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
}

/* Reads n little-endian bytes (4 or 8: fixed32/fixed64 wire types). */
static int pb_read_fixed(pb_in *in, unsigned n, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;
    if ((size_t)(in->end - in->p) < n)
        return pb_fail(in, n == 8 ? "truncated 64-bit field" : "truncated 32-bit field");
    for (i = 0; i < n; i++) x |= (uint64_t)in->p[i] << (8 * i);
    in->p += n;
    *v = x;
    return 0;
}

/* Reads a field's key. Field numbers are 1 .. 2^29-1, so a key is at
 * most 32 bits. */
static int pb_read_key(pb_in *in, uint32_t *number, unsigned *wire)
{
    uint64_t key;
    if (pb_read_varint(in, &key) < 0) return -1;
    if (key >> 3 == 0) return pb_fail(in, "field number 0");
    if (key >> 3 > PB_MAX_NUMBER) return pb_fail(in, "field number out of range");
    *number = (uint32_t)(key >> 3);
    *wire = (unsigned)(key & 7);
    return 0;
}

/* Reads one value of wire type `wire`; unknown fields are skipped by
 * reading them this same way and dropping the result. */
static int pb_read_value(pb_in *in, unsigned wire, pb_value *v)
{
    uint64_t n;
    switch (wire) {
    case PB_VARINT: return pb_read_varint(in, &v->u);
    case PB_I64: return pb_read_fixed(in, 8, &v->u);
    case PB_I32: return pb_read_fixed(in, 4, &v->u);
    case PB_LEN:
        if (pb_read_varint(in, &n) < 0) return -1;
        if (n > (uint64_t)(in->end - in->p)) return pb_fail(in, "length beyond the buffer");
        v->s.p = (const char *)in->p;
        v->s.n = (size_t)n;
        in->p += n;
        return 0;
    case PB_SGROUP:
    case PB_EGROUP: return pb_fail(in, "groups are not supported");
    default: return pb_fail(in, "invalid wire type");
    }
}

/* ----- field types -------------------------------------------------------- */

/* The wire type a field's type is encoded with (a packed list: PB_LEN). */
static unsigned pb_wire_of(gs_type t)
{
    switch (t) {
    case GS_FIXED64: case GS_SFIXED64: case GS_DOUBLE: return PB_I64;
    case GS_FIXED32: case GS_SFIXED32: case GS_FLOAT: return PB_I32;
    case GS_STRING: case GS_BYTES: case GS_MESSAGE: return PB_LEN;
    default: return PB_VARINT;
    }
}

static int pb_packable(gs_type t) { return pb_wire_of(t) != PB_LEN; }

static uint64_t pb_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v < 0 ? -1 : 0); }
static int64_t pb_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

/* A 32-bit two's complement value, sign-extended (int32, enum, sfixed32). */
static int64_t pb_int32(uint64_t u) { return (int64_t)(int32_t)(uint32_t)u; }

/* A scalar's value from the bits its wire type carried. */
static gs_value pb_scalar(gs_type t, uint64_t u)
{
    gs_value v;
    uint32_t bits32 = (uint32_t)u;
    switch (t) {
    case GS_BOOL: v.b = u != 0; break;
    case GS_UINT32: case GS_FIXED32: v.u = (uint32_t)u; break;
    case GS_INT32: case GS_SFIXED32: case GS_ENUM: v.i = pb_int32(u); break;
    case GS_INT64: case GS_SFIXED64: v.i = (int64_t)u; break;
    case GS_SINT32: v.i = pb_int32((uint64_t)pb_unzigzag((uint32_t)u)); break;
    case GS_SINT64: v.i = pb_unzigzag(u); break;
    case GS_FLOAT: memcpy(&v.f, &bits32, 4); break;
    case GS_DOUBLE: memcpy(&v.d, &u, 8); break;
    default: v.u = u; break;                        /* uint64, fixed64 */
    }
    return v;
}

/* The bits a scalar is written with: 0 for proto3's default (not written
 * when singular). Out-of-range 32-bit values are cut to 32 bits; a
 * negative int32 or enum is sign-extended to a 10-byte varint. */
static uint64_t pb_bits(gs_type t, const gs_value *v)
{
    uint32_t bits32;
    uint64_t bits64;
    switch (t) {
    case GS_BOOL: return v->b != 0;
    case GS_UINT32: case GS_FIXED32: return (uint32_t)v->u;
    case GS_INT32: case GS_ENUM: return (uint64_t)pb_int32((uint64_t)v->i);
    case GS_SFIXED32: return (uint32_t)v->i;
    case GS_INT64: case GS_SFIXED64: return (uint64_t)v->i;
    case GS_SINT32: return (uint32_t)pb_zigzag(pb_int32((uint64_t)v->i));
    case GS_SINT64: return pb_zigzag(v->i);
    case GS_FLOAT: memcpy(&bits32, &v->f, 4); return bits32;
    case GS_DOUBLE: memcpy(&bits64, &v->d, 8); return bits64;
    default: return v->u;                           /* uint64, fixed64 */
    }
}

/* ----- decoding ------------------------------------------------------------ */

/* Index of field `number` in d, or -1 (linear: GS_MAX_FIELDS is small). */
static int pb_find(const gs_desc *d, uint32_t number)
{
    unsigned i;
    for (i = 0; i < d->nfields; i++)
        if (d->fields[i].number == number) return (int)i;
    return -1;
}

/* Writes "<field> larger than <GS_MAX_VALUE> bytes" (the JSON front end's
 * text) into buf[cap], shortening the name if it must so that the text and
 * its NUL always fit. */
static const char *pb_too_large(const char *field, char *buf, size_t cap)
{
    static const char mid[] = " larger than ", tail[] = " bytes";
    char num[20];
    size_t name = strlen(field);
    size_t digits = (size_t)(gs_json_put_u64(num, GS_MAX_VALUE) - num);
    size_t fixed = sizeof mid - 1 + digits + sizeof tail - 1;
    char *d = buf;
    if (cap < fixed + 1) return "string field too large";
    if (name > cap - 1 - fixed) name = cap - 1 - fixed;
    memcpy(d, field, name), d += name;
    memcpy(d, mid, sizeof mid - 1), d += sizeof mid - 1;
    memcpy(d, num, digits), d += digits;
    memcpy(d, tail, sizeof tail - 1), d += sizeof tail - 1;
    *d = '\0';
    return buf;
}

/* Where a decoding reports a failure: its status and text. */
typedef struct {
    const char *why;
    char *why_buf;
    size_t why_cap;
} pb_err;

static int pb_error(pb_err *e, int status, const char *why)
{
    e->why = why;
    return status;
}

static int pb_check(const gs_desc *d, gs_str raw, unsigned depth, pb_err *e);

/* Checks a length-delimited value of field f: a string's size and UTF-8,
 * a message's contents. */
static int pb_check_len(const gs_field *f, gs_str s, unsigned depth, pb_err *e)
{
    switch (f->type) {
    case GS_STRING:
        /* The size check comes first: it is what the JSON front end says,
         * and it spares a UTF-8 scan of a huge value. */
        if (s.n > GS_MAX_VALUE)
            return pb_error(e, GS_RESOURCE_EXHAUSTED, pb_too_large(f->name, e->why_buf, e->why_cap));
        if (!gs_utf8_valid(s.p, s.n)) return pb_error(e, GS_INTERNAL, "invalid UTF-8 in a string field");
        return GS_OK;
    case GS_MESSAGE: return pb_check(f->msg, s, depth + 1, e);
    default: return GS_OK;                          /* bytes */
    }
}

/* Counts a packed run's elements, checking that they fill it exactly. */
static int pb_count_packed(gs_type t, gs_str run, size_t *count, pb_err *e)
{
    pb_in in;
    pb_value v;
    unsigned wire = pb_wire_of(t);
    pb_in_init(&in, run.p, run.n);
    while (in.p < in.end) {
        if (pb_read_value(&in, wire, &v) < 0)
            return pb_error(e, GS_INTERNAL, wire == PB_VARINT ? in.why : "truncated packed field");
        (*count)++;
    }
    return GS_OK;
}

/* One field of a message being decoded (m NULL: only checked). */
static int pb_take(const gs_field *f, gs_value *slot, unsigned wire, const pb_value *v,
                   gs_str whole, unsigned depth, pb_err *e)
{
    int status;
    if (f->flags & GS_REPEATED) {
        size_t count = 0;
        if (wire == PB_LEN && pb_packable(f->type)) status = pb_count_packed(f->type, v->s, &count, e);
        else if (wire != pb_wire_of(f->type)) status = pb_error(e, GS_INTERNAL, "wrong wire type for a known field");
        else status = wire == PB_LEN ? pb_check_len(f, v->s, depth, e) : GS_OK, count = 1;
        if (status != GS_OK) return status;
        if (slot) slot->r.n += count, slot->r.wire = whole;
        return GS_OK;
    }
    if (wire != pb_wire_of(f->type)) return pb_error(e, GS_INTERNAL, "wrong wire type for a known field");
    if (wire == PB_LEN) {
        status = pb_check_len(f, v->s, depth, e);
        if (status != GS_OK || !slot) return status;
        if (f->type == GS_MESSAGE) slot->m.msg = NULL, slot->m.raw = v->s;
        else slot->s = v->s;
        return GS_OK;
    }
    if (slot) *slot = pb_scalar(f->type, v->u);
    return GS_OK;
}

/* proto3 defaults for every field of d: all bits zero (0, 0.0, false, an
 * absent message, an empty list), but strings and bytes are "". */
static inline void pb_clear(const gs_desc *d, gs_msg *m)
{
    static const gs_value zero;
    unsigned i;
    m->desc = d;
    for (i = 0; i < d->nfields; i++) {
        const gs_field *f = &d->fields[i];
        m->v[i] = zero;
        if ((f->type == GS_STRING || f->type == GS_BYTES) && !(f->flags & GS_REPEATED)) m->v[i].s.p = "";
    }
}

/* Decodes (m set) or checks (m NULL) the message raw of type d, nested
 * `depth` deep. */
static int pb_decode_at(const gs_desc *d, gs_str raw, gs_msg *m, unsigned depth, pb_err *e)
{
    pb_in in;
    if (depth > GS_MAX_DEPTH) return pb_error(e, GS_INTERNAL, "messages nested too deep");
    if (d->nfields > GS_MAX_FIELDS) return pb_error(e, GS_INTERNAL, "message type with too many fields");
    pb_in_init(&in, raw.p, raw.n);
    if (m) pb_clear(d, m);
    while (in.p < in.end) {
        uint32_t number;
        unsigned wire;
        pb_value v;
        int i, status;
        if (pb_read_key(&in, &number, &wire) < 0 || pb_read_value(&in, wire, &v) < 0)
            return pb_error(e, GS_INTERNAL, in.why);
        i = pb_find(d, number);
        if (i < 0) continue;                        /* unknown: skipped */
        status = pb_take(&d->fields[i], m ? &m->v[i] : NULL, wire, &v, raw, depth, e);
        if (status != GS_OK) return status;
    }
    return GS_OK;
}

static int pb_check(const gs_desc *d, gs_str raw, unsigned depth, pb_err *e)
{
    return pb_decode_at(d, raw, NULL, depth, e);
}

/*
 * pb_decode fills *m from the protobuf message buf[0..len) by descriptor d,
 * checking its nested messages too. Returns GS_OK; GS_INTERNAL for
 * malformed input, *why a fixed text; or GS_RESOURCE_EXHAUSTED for a
 * string longer than GS_MAX_VALUE, *why the text "<field> larger than
 * <GS_MAX_VALUE> bytes" built in why_buf (the caller's: e.g. n->why and
 * sizeof n->why; 64 bytes plus the longest field name is enough). On
 * failure *m is partly filled: do not use it. d must have at most
 * GS_MAX_FIELDS fields with distinct numbers in 1 .. 2^29-1 (gs_register
 * checks).
 */
static int pb_decode(const gs_desc *d, const char *buf, size_t len, gs_msg *m,
                     const char **why, char *why_buf, size_t why_cap)
{
    pb_err e;
    gs_str raw;
    int status;
    e.why = NULL, e.why_buf = why_buf, e.why_cap = why_cap;
    raw.p = buf, raw.n = len;
    status = pb_decode_at(d, raw, m, 0, &e);
    if (status != GS_OK) *why = e.why;
    return status;
}

int gs_decode(const gs_desc *d, gs_str raw, gs_msg *m, const char **why)
{
    char buf[GS_JSON_KEY_MAX + 64];
    const char *text = NULL;
    int status = pb_decode(d, raw.p, raw.n, m, &text, buf, sizeof buf);
    if (status != GS_OK && why)     /* a text built in buf cannot outlive it */
        *why = text == buf ? "string field too large" : text;
    return status;
}

/* ----- lists --------------------------------------------------------------- */

void gs_iter_start(gs_iter *it, const gs_msg *m, unsigned i)
{
    const gs_list *l = &m->v[i].r;
    it->f = &m->desc->fields[i];
    it->l = l;
    it->i = 0;
    it->p = it->end = it->run = it->run_end = NULL;
    if (!l->items && l->wire.n) {
        it->p = (const unsigned char *)l->wire.p;
        it->end = it->p + l->wire.n;
    }
}

/* The next element of a packed run, if one is being read. */
static int pb_iter_run(gs_iter *it, gs_value *v)
{
    pb_in in;
    pb_value raw;
    if (it->run == it->run_end) return 0;
    in.p = it->run, in.end = it->run_end, in.why = NULL;
    if (pb_read_value(&in, pb_wire_of(it->f->type), &raw) < 0) return 0;  /* checked when decoded */
    it->run = in.p;
    *v = pb_scalar(it->f->type, raw.u);
    return 1;
}

int gs_iter_next(gs_iter *it, gs_value *v)
{
    const gs_field *f = it->f;
    pb_in in;
    if (it->l->items) {
        if (it->i == it->l->n) return 0;
        *v = it->l->items[it->i++];
        return 1;
    }
    if (pb_iter_run(it, v)) return 1;
    in.p = it->p, in.end = it->end, in.why = NULL;
    while (in.p < in.end) {
        uint32_t number;
        unsigned wire;
        pb_value raw;
        if (pb_read_key(&in, &number, &wire) < 0 || pb_read_value(&in, wire, &raw) < 0) break;
        if (number != f->number) continue;
        it->p = in.p;
        if (wire == PB_LEN && pb_packable(f->type)) {
            it->run = (const unsigned char *)raw.s.p;
            it->run_end = it->run + raw.s.n;
            if (pb_iter_run(it, v)) return 1;
            in.p = it->p;
            continue;
        }
        if (f->type == GS_MESSAGE) v->m.msg = NULL, v->m.raw = raw.s;
        else if (wire == PB_LEN) v->s = raw.s;
        else *v = pb_scalar(f->type, raw.u);
        return 1;
    }
    it->p = it->end;
    return 0;
}

/* ----- encoding ------------------------------------------------------------ */

static size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static size_t pb_key_size(const gs_field *f)
{
    return pb_varint_size((uint64_t)f->number << 3);
}

static char *pb_put_varint(char *d, uint64_t v)
{
    unsigned char *u = (unsigned char *)d;
    while (v >= 0x80) {
        *u++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *u++ = (unsigned char)v;
    return (char *)u;
}

static char *pb_put_key(char *d, const gs_field *f, unsigned wire)
{
    return pb_put_varint(d, (uint64_t)f->number << 3 | wire);
}

static char *pb_put_fixed(char *d, uint64_t v, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) d[i] = (char)(v >> (8 * i));
    return d + n;
}

/* Bytes of a scalar's value alone (no key). */
static size_t pb_scalar_size(gs_type t, uint64_t bits)
{
    switch (pb_wire_of(t)) {
    case PB_I64: return 8;
    case PB_I32: return 4;
    default: return pb_varint_size(bits);
    }
}

static char *pb_put_scalar(char *d, gs_type t, uint64_t bits)
{
    switch (pb_wire_of(t)) {
    case PB_I64: return pb_put_fixed(d, bits, 8);
    case PB_I32: return pb_put_fixed(d, bits, 4);
    default: return pb_put_varint(d, bits);
    }
}

static size_t pb_msg_size(const gs_msg *m, unsigned depth);

/* The bytes of a length-delimited value (a string's, a message's), or
 * PB_UNBOUNDED for a message nested too deep (a cycle). */
static size_t pb_len_size(const gs_field *f, const gs_value *v, unsigned depth)
{
    if (f->type != GS_MESSAGE) return v->s.n;
    return v->m.msg ? pb_msg_size(v->m.msg, depth + 1) : v->m.raw.n;
}

/* Whether a singular field is written: scalars unless 0, strings and
 * bytes unless empty, messages when present. */
static int pb_present(const gs_field *f, const gs_value *v)
{
    switch (f->type) {
    case GS_STRING: case GS_BYTES: return v->s.n != 0;
    case GS_MESSAGE: return v->m.msg != NULL || v->m.raw.p != NULL;
    default: return pb_bits(f->type, v) != 0;
    }
}

/* A packed list's payload bytes. */
static size_t pb_packed_size(const gs_msg *m, unsigned i)
{
    const gs_field *f = &m->desc->fields[i];
    gs_iter it;
    gs_value v;
    size_t n = 0;
    gs_iter_start(&it, m, i);
    while (gs_iter_next(&it, &v)) n += pb_scalar_size(f->type, pb_bits(f->type, &v));
    return n;
}

/* Adds n to *total unless either is PB_UNBOUNDED. */
static void pb_add(size_t *total, size_t n)
{
    *total = *total == PB_UNBOUNDED || n == PB_UNBOUNDED ? PB_UNBOUNDED : *total + n;
}

/* One length-delimited element with its key and length. */
static size_t pb_len_field_size(const gs_field *f, const gs_value *v, unsigned depth)
{
    size_t n = pb_len_size(f, v, depth);
    return n == PB_UNBOUNDED ? n : pb_key_size(f) + pb_varint_size(n) + n;
}

static size_t pb_field_size(const gs_msg *m, unsigned i, unsigned depth)
{
    const gs_field *f = &m->desc->fields[i];
    const gs_value *v = &m->v[i];
    size_t total = 0;
    if (f->flags & GS_REPEATED) {
        gs_iter it;
        gs_value e;
        if (pb_packable(f->type)) {
            size_t n = pb_packed_size(m, i);
            return n ? pb_key_size(f) + pb_varint_size(n) + n : 0;
        }
        gs_iter_start(&it, m, i);
        while (gs_iter_next(&it, &e)) pb_add(&total, pb_len_field_size(f, &e, depth));
        return total;
    }
    if (!pb_present(f, v)) return 0;
    if (pb_wire_of(f->type) == PB_LEN) return pb_len_field_size(f, v, depth);
    return pb_key_size(f) + pb_scalar_size(f->type, pb_bits(f->type, v));
}

/* Bytes pb_encode writes for m, or PB_UNBOUNDED if it nests more than
 * GS_MAX_DEPTH messages deep. */
static size_t pb_msg_size(const gs_msg *m, unsigned depth)
{
    size_t total = 0;
    unsigned i;
    if (depth > GS_MAX_DEPTH) return PB_UNBOUNDED;
    for (i = 0; i < m->desc->nfields; i++) pb_add(&total, pb_field_size(m, i, depth));
    return total;
}

static char *pb_put_msg(char *d, const gs_msg *m);

static char *pb_put_len(char *d, const gs_field *f, const gs_value *v)
{
    d = pb_put_key(d, f, PB_LEN);
    d = pb_put_varint(d, pb_len_size(f, v, 0));
    if (f->type == GS_MESSAGE && v->m.msg) return pb_put_msg(d, v->m.msg);
    if (f->type == GS_MESSAGE) return put_n(d, v->m.raw.p, v->m.raw.n);
    return put_n(d, v->s.p, v->s.n);
}

static char *pb_put_list(char *d, const gs_msg *m, unsigned i)
{
    const gs_field *f = &m->desc->fields[i];
    gs_iter it;
    gs_value v;
    size_t n = pb_packable(f->type) ? pb_packed_size(m, i) : 0;
    if (n) {
        d = pb_put_key(d, f, PB_LEN);
        d = pb_put_varint(d, n);
    }
    gs_iter_start(&it, m, i);
    while (gs_iter_next(&it, &v))
        d = n ? pb_put_scalar(d, f->type, pb_bits(f->type, &v)) : pb_put_len(d, f, &v);
    return d;
}

static char *pb_put_field(char *d, const gs_msg *m, unsigned i)
{
    const gs_field *f = &m->desc->fields[i];
    const gs_value *v = &m->v[i];
    if (f->flags & GS_REPEATED) return pb_put_list(d, m, i);
    if (!pb_present(f, v)) return d;
    if (pb_wire_of(f->type) == PB_LEN) return pb_put_len(d, f, v);
    d = pb_put_key(d, f, pb_wire_of(f->type));
    return pb_put_scalar(d, f->type, pb_bits(f->type, v));
}

/* pb_put_msg writes *m at d (pb_msg_size(m, 0) bytes of room, which must
 * not be PB_UNBOUNDED), fields in descriptor order, and returns the end. */
static char *pb_put_msg(char *d, const gs_msg *m)
{
    unsigned i;
    for (i = 0; i < m->desc->nfields; i++) d = pb_put_field(d, m, i);
    return d;
}

/* pb_size_max returns the most bytes pb_encode can write for a message of
 * type d whose strings are at most GS_MAX_VALUE bytes, or PB_UNBOUNDED if
 * it has lists, messages or bytes (then each message is measured). */
static size_t pb_size_max(const gs_desc *d)
{
    size_t n = 0;
    unsigned i;
    for (i = 0; i < d->nfields; i++) {
        const gs_field *f = &d->fields[i];
        if (f->flags & GS_REPEATED || f->type == GS_MESSAGE || f->type == GS_BYTES) return PB_UNBOUNDED;
        n += pb_key_size(f);
        switch (pb_wire_of(f->type)) {
        case PB_LEN: n += pb_varint_size(GS_MAX_VALUE) + GS_MAX_VALUE; break;
        case PB_I64: n += 8; break;
        case PB_I32: n += 4; break;
        default: n += f->type == GS_BOOL ? 1 : PB_VARINT_MAX; break;
        }
    }
    return n;
}

/* ===================================================================== */
/* 4. Stream table: static slots and run queues                           */
/* ===================================================================== */

/* GS_MAX_STREAMS slots on a free list, shared by every front end, and two
 * queues of slot indices: `urgent` streams owe a turn before the next
 * input is read (a JSON-lines rule the HTTP/2 front end does not gate on),
 * `runq` streams take turns in gs_pump. A stream is in at most one queue
 * (s->queued: 1 urgent, 2 runq). No ids here: a front end names its
 * streams its own way. */

static void st_init(gs_node *n)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        n->streams[i].state = GS_FREE;
        n->streams[i].self = (int16_t)i;
        n->streams[i].state_area = NULL;    /* until the slot's first call */
        n->streams[i].next_free = (int16_t)(i + 1 < GS_MAX_STREAMS ? i + 1 : -1);
    }
    n->free_head = 0;
    n->urgent_head = n->urgent_len = n->runq_head = n->runq_len = 0;
}

static gs_stream *st_alloc(gs_node *n)
{
    gs_stream *s;
    if (n->free_head < 0) return NULL;
    s = &n->streams[n->free_head];
    n->free_head = s->next_free;
    if (!s->state_area) {
        /* The slot's first call writes the first page of its state area,
         * so memory grows with the peak of calls at once, not later with
         * which service happens to run in which slot. */
        s->state_area = n->stream_states[s->self].bytes;
        memset(s->state_area, 0, GS_STREAM_STATE < 4096 ? GS_STREAM_STATE : 4096);
    }
    s->state = GS_OPEN;
    s->follows = s->waiting = s->queued = s->parked = 0;
    s->count = 0;
    s->budget = 0;
    s->deadline = s->wake_ms = 0;
    return s;
}

static void queue_push(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    q[(*head + *len) % GS_MAX_STREAMS] = v;
    (*len)++;
}

static int16_t queue_pop(int16_t *q, unsigned *head, unsigned *len)
{
    int16_t v = q[*head];
    *head = (*head + 1) % GS_MAX_STREAMS;
    (*len)--;
    return v;
}

/* Puts v back at the front (a turn stopped by a full output). */
static void queue_unpop(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    *head = (*head + GS_MAX_STREAMS - 1) % GS_MAX_STREAMS;
    q[*head] = v;
    (*len)++;
}

static void queue_remove(int16_t *q, unsigned *head, unsigned *len, int16_t v)
{
    unsigned i, kept = 0, n = *len;
    for (i = 0; i < n; i++) {
        int16_t x = q[(*head + i) % GS_MAX_STREAMS];
        if (x != v) q[(*head + kept++) % GS_MAX_STREAMS] = x;
    }
    *len = kept;
}

static void st_make_urgent(gs_node *n, gs_stream *s)
{
    s->queued = 1;
    s->budget = GS_SLICE + 1;       /* GS_SLICE messages, then the end */
    queue_push(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
}

static void st_make_runnable(gs_node *n, gs_stream *s)
{
    s->queued = 2;
    queue_push(n->runq, &n->runq_head, &n->runq_len, s->self);
}

static void st_drop_timer(gs_node *n, gs_stream *s)
{
    if (!s->wake_ms) return;
    s->wake_ms = 0;
    n->timers--;
}

/* Takes s out of the scheduler: no queue, no deadline, no timer, no
 * waiting. */
static void st_retire(gs_node *n, gs_stream *s)
{
    if (s->queued == 1) queue_remove(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
    if (s->queued == 2) queue_remove(n->runq, &n->runq_head, &n->runq_len, s->self);
    if (s->deadline) n->deadlines--;
    st_drop_timer(n, s);
    s->queued = s->waiting = s->parked = 0;
    s->deadline = 0;
}

static void st_free(gs_node *n, gs_stream *s)
{
    st_retire(n, s);
    s->state = GS_FREE;
    s->next_free = n->free_head;
    n->free_head = s->self;
}

/* ===================================================================== */
/* 5. Front-end interface                                                 */
/* ===================================================================== */

/* The call core emits through these three calls and nothing else; each
 * switches on s->front (section 14). A front end writes what they ask in
 * its own wire format, addressed its own way. `by_request`: the emission
 * answers the request the front end is handling now (a JSON reply goes to
 * it); otherwise the server acts alone (a pushed message, a deadline).
 * Room: ROOM_ALL stops every stream (JSON lines: one output buffer);
 * ROOM_STREAM parks this stream until its front end calls core_resume
 * (HTTP/2: flow control). fe_emit_msg returns GS_OK, or a status when
 * the message cannot be carried at all (larger than the front end's
 * buffers): the call then ends with it. fe_emit_end returns 1 when the front end keeps
 * the slot after the call (its end still waits to be written; it frees
 * the slot with core_release), else 0. */

enum { FE_JSON, FE_H2, FE_TEST };
enum { ROOM_OK, ROOM_STREAM, ROOM_ALL };
enum { FOR_MSG, FOR_END };

static int fe_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request);
static int fe_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                       const char *why, size_t why_len);
static int fe_room(const gs_node *n, const gs_stream *s, int for_what);

/* ===================================================================== */
/* 6. Call core                                                           */
/* ===================================================================== */

/* What a call is, whoever carries it: find the method by name, admit the
 * call (a slot, a deadline), start it, deliver client messages, half-close,
 * cancel, end; and the scheduler: turns of at most GS_SLICE messages,
 * wake-ups of waiting streams, deadlines on the caller's clock. It reads
 * no wire format and writes none. Every call, unary ones too, holds a slot
 * while it runs. The four kinds: unary, server streaming, bidi, client
 * streaming (exactly one response, after the half-close). Replies are
 * checked here: a string field longer than GS_MAX_OUT_VALUE ends the call
 * RESOURCE_EXHAUSTED. */

static int core_find(const gs_node *n, const char *svc, size_t svc_len,
                     const char *name, size_t name_len)
{
    unsigned i;
    for (i = 0; i < n->nmethods; i++) {
        const gs_method *m = n->methods[i];
        if (strlen(m->service) == svc_len && memcmp(m->service, svc, svc_len) == 0 &&
            strlen(m->name) == name_len && memcmp(m->name, name, name_len) == 0)
            return (int)i;
    }
    return -1;
}

/* A slot for a call of method mi carried by `front`, with a deadline
 * timeout_ms from now (0: none). NULL when every slot is busy. */
static gs_stream *core_admit(gs_node *n, unsigned mi, int front, uint64_t timeout_ms)
{
    gs_stream *s = st_alloc(n);
    if (!s) return NULL;
    s->method = n->methods[mi];
    s->method_index = (uint8_t)mi;
    s->kind = (uint8_t)s->method->kind;
    s->front = (uint8_t)front;
    s->serial = ++n->next_serial;
    if (timeout_ms) {       /* saturating: 2^64-1 ms is "never" */
        s->deadline = timeout_ms > UINT64_MAX - n->now_ms ? UINT64_MAX : n->now_ms + timeout_ms;
        n->deadlines++;
    }
    return s;
}

/* The status message as sent: at most GS_MAX_WHY bytes, cut at a UTF-8
 * character boundary. */
static size_t core_why_len(const char *why)
{
    size_t len = strlen(why);
    if (len <= GS_MAX_WHY) return len;
    len = GS_MAX_WHY;
    while (len > 0 && ((unsigned char)why[len] & 0xC0) == 0x80) len--;
    return len;
}

/* Ends the call: the front end writes its end and forgets it; the slot is
 * free at once, or GS_CLOSING while the front end still needs it. */
static void core_end(gs_node *n, gs_stream *s, int by_request, int status, const char *why)
{
    if (status < 0 || status > GS_UNAUTHENTICATED) status = GS_UNKNOWN;
    if (status != GS_OK && !why) why = gs_status_name(status);
    if (status == GS_OK) why = "";
    if (fe_emit_end(n, s, by_request, status, why, core_why_len(why))) {
        st_retire(n, s);
        s->state = GS_CLOSING;
    } else {
        st_free(n, s);
    }
}

#if GS_MAX_CONNS > 0 || defined(GS_TEST_FRONT_END)
/* A slot a front end holds for something that is not a call (an HTTP
 * answer), GS_CLOSING from the start. NULL when every slot is busy. */
static gs_stream *core_hold(gs_node *n, int front)
{
    gs_stream *s = st_alloc(n);
    if (!s) return NULL;
    s->state = GS_CLOSING;
    s->method = NULL;
    s->method_index = 0;
    s->kind = GS_UNARY;
    s->front = (uint8_t)front;
    return s;
}

/* The front end is done with a GS_CLOSING slot. */
static void core_release(gs_node *n, gs_stream *s) { st_free(n, s); }

/* A parked stream (ROOM_STREAM) may run again. */
static void core_resume(gs_node *n, gs_stream *s)
{
    if (!s->parked) return;
    s->parked = 0;
    st_make_runnable(n, s);
}
#endif

/* A reply as a handler filled it: every string within GS_MAX_OUT_VALUE. */
static inline int core_check_reply(gs_node *n, const gs_msg *m, const char **why)
{
    unsigned i;
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_field *f = &m->desc->fields[i];
        if (f->type == GS_STRING && !(f->flags & GS_REPEATED) && m->v[i].s.n > GS_MAX_OUT_VALUE) {
            char *d = put(PUT(n->why, "reply field "), m->desc->fields[i].name);
            put_limit_text(d, " larger than ", GS_MAX_OUT_VALUE, " bytes");
            *why = n->why;
            return GS_RESOURCE_EXHAUSTED;
        }
    }
    return GS_OK;
}

/* Sends one message of s; the call ends if its front end cannot carry it.
 * Returns GS_OK, or the status the call ended with. */
static int core_emit(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    int status;
    s->count++;
    status = fe_emit_msg(n, s, m, by_request);
    if (status != GS_OK) {
        s->count--;
        core_end(n, s, by_request, status, "reply larger than the node's buffers");
    }
    return status;
}

/* Opens a streaming call: start() runs (a server stream's with its
 * request, and the stream is HALF_CLOSED: the client sent its one
 * request). On failure the call ends, answering the request; the status
 * is returned. */
static int core_start(gs_node *n, gs_stream *s, const gs_msg *req)
{
    const char *why = NULL;
    int status = GS_OK;
    if (s->kind == GS_SERVER_STREAMING) s->state = GS_HALF_CLOSED;
    if (s->method->start) status = s->method->start(n, s, req, &why);
    if (status != GS_OK) {
        core_end(n, s, 1, status, why);
        return status;
    }
    if (s->kind == GS_SERVER_STREAMING) st_make_urgent(n, s);
    return GS_OK;
}

/* A unary call: its one request in, its response (or failure) out. */
static void core_unary(gs_node *n, gs_stream *s, const gs_msg *req)
{
    gs_msg resp;
    const char *why = NULL;
    int status;
    pb_clear(s->method->out, &resp);
    n->unary_call = s;
    status = s->method->unary(n, req, &resp, &why);
    n->unary_call = NULL;
    if (status == GS_OK) status = core_check_reply(n, &resp, &why);
    if (status == GS_OK && core_emit(n, s, &resp, 1) != GS_OK) return;
    core_end(n, s, 1, status, why);
}

/* Whether the client sends a stream of messages (bidi, client streaming). */
static int core_streams_in(int kind)
{
    return kind == GS_BIDI_STREAMING || kind == GS_CLIENT_STREAMING;
}

/* A handler outside a turn asked for next(): GS_AGAIN runs it soon
 * (dropping a timer), GS_WAIT once woken (gs_wake, a timer). A stream
 * already queued runs anyway. */
static void core_schedule(gs_node *n, gs_stream *s, int r)
{
    if (s->queued) return;
    if (r == GS_WAIT) {
        s->waiting = 1;
        return;
    }
    st_drop_timer(n, s);
    s->waiting = 0;
    st_make_urgent(n, s);
}

/* A client message on a bidi or client stream: recv() answers it (bidi:
 * GS_OK), takes it (GS_AGAIN or GS_WAIT; bidi: next() runs as they ask),
 * or ends the call. Returns GS_OK when it was answered, GS_AGAIN when
 * taken, else the status the call ended with. */
static int core_deliver(gs_node *n, gs_stream *s, const gs_msg *in)
{
    gs_msg out;
    const char *why = NULL;
    int status;
    pb_clear(s->method->out, &out);
    status = s->method->recv(n, s, in, &out, &why);
    if (status == GS_AGAIN || status == GS_WAIT) {
        if (s->kind == GS_BIDI_STREAMING) core_schedule(n, s, status);
        return GS_AGAIN;
    }
    if (s->kind == GS_BIDI_STREAMING && status == GS_OK) {
        status = core_check_reply(n, &out, &why);
        if (status == GS_OK) return core_emit(n, s, &out, 1);
    }
    core_end(n, s, 1, status, why);
    return status;
}

/* A client stream's next() result: its one response ends the call OK.
 * Returns 1 if the call goes on (not ready yet), 0 if it ended. */
static int core_respond(gs_node *n, gs_stream *s, int r, const gs_msg *m, const char *why,
                        int by_request)
{
    if (r == GS_SEND) {
        r = core_check_reply(n, m, &why);
        if (r == GS_OK && core_emit(n, s, m, by_request) != GS_OK) return 0;
    } else if (r == GS_AGAIN || r == GS_WAIT) {
        if (r == GS_WAIT) s->waiting = 1;
        return 1;
    } else if (r == GS_OK) {
        r = GS_INTERNAL, why = "client-streaming call ended without a response";
    }
    core_end(n, s, by_request, r, why);
    return 0;
}

/* The client half-closed: a bidi stream ends (OK unless half_close says
 * otherwise) or goes on sending with next() as HALF_CLOSED; a client
 * stream's next() gives its response now, as the answer to the
 * half-close, or later. */
static void core_half_close(gs_node *n, gs_stream *s)
{
    const char *why = NULL;
    int client = s->kind == GS_CLIENT_STREAMING;
    int r = s->method->half_close ? s->method->half_close(n, s, &why) : client ? GS_AGAIN : GS_OK;
    if (r != GS_AGAIN && r != GS_WAIT) {
        core_end(n, s, 1, r, why);
        return;
    }
    s->state = GS_HALF_CLOSED;
    if (client && r == GS_AGAIN) {
        gs_msg m;
        pb_clear(s->method->out, &m);
        why = NULL;
        r = s->method->next(n, s, &m, &why);
        if (!core_respond(n, s, r, &m, why, 1)) return;
        if (s->waiting) return;
    }
    core_schedule(n, s, r);
}

static void core_cancel(gs_node *n, gs_stream *s)
{
    core_end(n, s, 1, GS_CANCELLED, "cancelled by client");
}

/* One turn of a stream: up to its budget of next() calls while its front
 * end has room. Returns 1 if the stream should run again later, 0 if it
 * ended, waits or is parked, -1 if every stream must wait for room. */
static int core_run_turn(gs_node *n, gs_stream *s)
{
    while (s->budget > 0) {
        gs_msg m;
        const char *why = NULL;
        int r, room = fe_room(n, s, FOR_MSG);
        if (room == ROOM_ALL) return -1;
        if (room == ROOM_STREAM) {
            s->parked = 1;
            return 0;
        }
        s->budget--;
        pb_clear(s->method->out, &m);
        r = s->method->next(n, s, &m, &why);
        if (s->kind == GS_CLIENT_STREAMING) {
            if (core_respond(n, s, r, &m, why, 0) && !s->waiting) break;
            return 0;
        }
        if (r == GS_SEND) {
            r = core_check_reply(n, &m, &why);
            if (r == GS_OK) {
                if (core_emit(n, s, &m, 0) != GS_OK) return 0;
                continue;
            }
        }
        if (r == GS_AGAIN) break;
        if (r == GS_WAIT) {
            s->waiting = 1;
            return 0;
        }
        core_end(n, s, 0, r, why);
        return 0;
    }
    return 1;
}

/* Finishes the turns owed before the next input. Returns 0 if the output
 * must be drained first. */
static int core_run_urgent(gs_node *n)
{
    while (n->urgent_len) {
        gs_stream *s = &n->streams[queue_pop(n->urgent, &n->urgent_head, &n->urgent_len)];
        int r;
        s->queued = 0;
        r = core_run_turn(n, s);
        if (r < 0) {
            queue_unpop(n->urgent, &n->urgent_head, &n->urgent_len, s->self);
            s->queued = 1;
            return 0;
        }
        if (r == 1) st_make_runnable(n, s);
    }
    return 1;
}

int gs_pump(gs_node *n)
{
    unsigned turns;
    if (!core_run_urgent(n)) return 1;
    for (turns = n->runq_len; turns > 0; turns--) {
        gs_stream *s = &n->streams[queue_pop(n->runq, &n->runq_head, &n->runq_len)];
        int r;
        s->queued = 0;
        if (s->budget == 0) s->budget = GS_SLICE + 1;
        r = core_run_turn(n, s);
        if (r < 0) {
            queue_unpop(n->runq, &n->runq_head, &n->runq_len, s->self);
            s->queued = 2;
            return 1;
        }
        if (r == 1) {
            s->budget = 0;
            st_make_runnable(n, s);
        }
    }
    return n->runq_len > 0;
}

#define URGENT_AT(n, i) ((n)->urgent[((n)->urgent_head + (i)) % GS_MAX_STREAMS])

void gs_stream_wake_after(gs_node *n, gs_stream *s, uint64_t us)
{
    uint64_t ms = us / 1000 + (us % 1000 != 0);
    if (!s->wake_ms) n->timers++;
    s->wake_ms = ms > UINT64_MAX - n->now_ms ? UINT64_MAX : n->now_ms + ms;
    if (!s->wake_ms) s->wake_ms = 1;        /* 0 means none: a clock at 0 */
}

/* Runs every waiting stream whose timer has fired. */
static void core_fire_timers(gs_node *n)
{
    int i;
    for (i = 0; n->timers && i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state == GS_FREE || !s->wake_ms || s->wake_ms > n->now_ms) continue;
        st_drop_timer(n, s);
        if (!s->waiting) continue;
        s->waiting = 0;
        st_make_runnable(n, s);
    }
}

gs_stream *gs_unary_call(gs_node *n) { return n->unary_call; }

void gs_wake(gs_node *n, const gs_method *m)
{
    unsigned first = n->urgent_len, i, k;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state != GS_FREE && s->waiting && s->method == m) {
            st_drop_timer(n, s);
            s->waiting = 0;
            st_make_urgent(n, s);
        }
    }
    /* followers hear news in the order their calls came: sort what was
     * just queued by admission (an insertion sort in the queue itself) */
    for (i = first + 1; i < n->urgent_len; i++) {
        int16_t v = URGENT_AT(n, i);
        for (k = i; k > first && n->streams[URGENT_AT(n, k - 1)].serial > n->streams[v].serial; k--)
            URGENT_AT(n, k) = URGENT_AT(n, k - 1);
        URGENT_AT(n, k) = v;
    }
}

/* Ends every call whose deadline has passed, as its front end has room. */
static void core_expire(gs_node *n)
{
    int i;
    for (i = 0; n->deadlines && i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        int room;
        if (s->state == GS_FREE || !s->deadline || s->deadline > n->now_ms) continue;
        room = fe_room(n, s, FOR_END);
        if (room == ROOM_ALL) return;
        if (room == ROOM_OK) core_end(n, s, 0, GS_DEADLINE_EXCEEDED, "deadline exceeded");
    }
}

void gs_end_calls(gs_node *n, int status, const char *why)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if ((s->state == GS_OPEN || s->state == GS_HALF_CLOSED) && fe_room(n, s, FOR_END) == ROOM_OK)
            core_end(n, s, 0, status, why);
    }
}

/* The earliest deadline or timer of a live call, or 0 if none. */
static uint64_t core_next_deadline(const gs_node *n)
{
    uint64_t first = 0;
    int i;
    for (i = 0; (n->deadlines || n->timers) && i < GS_MAX_STREAMS; i++) {
        const gs_stream *s = &n->streams[i];
        if (s->state == GS_FREE) continue;
        if (s->deadline && (!first || s->deadline < first)) first = s->deadline;
        if (s->wake_ms && (!first || s->wake_ms < first)) first = s->wake_ms;
    }
    return first;
}

void *gs_stream_state(gs_stream *s) { return s->state_area; }
uint64_t gs_stream_count(const gs_stream *s) { return s->count; }
void gs_stream_follow(gs_stream *s) { s->follows = 1; }

char *gs_scratch(gs_node *n, size_t size)
{
    return size <= sizeof n->scratch ? n->scratch : NULL;
}

/* ===================================================================== */
/* 7. Built-in services: the log, WatchLogs, Append, BiDiChat             */
/* ===================================================================== */

/* LogWatcher (WatchLogs, Append) and Chat (BiDiChat), written against the
 * public service API only (gs_method, gs_stream_state, gs_wake) like any
 * vendored service. The log is an in-memory ring or, with gs_log_open, a
 * file read in place (POSIX only; GS_NO_FILE_LOG leaves it out). Not
 * supported: a log larger than the ring keeps only its newest entries. */

/* The log is a ring of entries [u32 level_len][u32 msg_len][level][msg],
 * each padded to 8 bytes and never split by the ring's end (a header with
 * level_len WRAP marks the skipped tail). When an append needs room the
 * oldest entries go; seq numbers count on. */

#define WRAP 0xFFFFFFFFu
#define ENTRY_HEAD 8u

typedef struct { uint64_t seq, pos, gen; } log_cursor;

static size_t pad8(size_t x) { return (x + 7) & ~(size_t)7; }

static void read_head(const gs_log *l, uint64_t pos, uint32_t *ll, uint32_t *ml)
{
    const char *h = l->ring.bytes + pos % GS_LOG_RING;
    memcpy(ll, h, 4);
    memcpy(ml, h + 4, 4);
}

/* Bytes from pos to the next entry. */
static uint64_t entry_span(const gs_log *l, uint64_t pos)
{
    uint32_t ll, ml;
    read_head(l, pos, &ll, &ml);
    if (ll == WRAP) return GS_LOG_RING - pos % GS_LOG_RING;
    return ENTRY_HEAD + pad8((size_t)ll + ml);
}

static void drop_oldest(gs_log *l)
{
    uint32_t ll, ml;
    read_head(l, l->tail, &ll, &ml);
    if (ll != WRAP) l->first_seq++;
    l->tail += entry_span(l, l->tail);
}

/* Appends an entry; returns its seq, or 0 if it can never fit. */
static uint64_t ring_append(gs_log *l, gs_str level, gs_str msg)
{
    uint64_t need = ENTRY_HEAD + pad8(level.n + msg.n);
    uint64_t room_to_end = GS_LOG_RING - l->head % GS_LOG_RING;
    uint64_t pad = room_to_end < need ? room_to_end : 0;
    uint32_t ll = (uint32_t)level.n, ml = (uint32_t)msg.n;
    char *e;
    if (need > GS_LOG_RING) return 0;
    if (pad + need > GS_LOG_RING) {     /* only an empty ring takes it, at its start */
        l->first_seq = l->next_seq;
        l->head += pad;
        l->tail = l->head;
        pad = 0;
    }
    while (l->head + pad + need - l->tail > GS_LOG_RING) drop_oldest(l);
    if (pad) {
        uint32_t wrap = WRAP;
        memcpy(l->ring.bytes + l->head % GS_LOG_RING, &wrap, 4);
        l->head += pad;
    }
    e = l->ring.bytes + l->head % GS_LOG_RING;
    memcpy(e, &ll, 4);
    memcpy(e + 4, &ml, 4);
    memcpy(e + ENTRY_HEAD, level.p, level.n);
    memcpy(e + ENTRY_HEAD + level.n, msg.p, msg.n);
    l->head += need;
    return l->next_seq++;
}

/* Reads the entry at c (or the oldest kept, if c's was dropped) and moves
 * c past it. Returns 0 at the end of the log. */
static int ring_read(const gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
    uint32_t ll, ml;
    const char *e;
    if (c->seq < l->first_seq) {
        c->seq = l->first_seq;
        c->pos = l->tail;
    }
    if (c->seq >= l->next_seq) return 0;
    read_head(l, c->pos, &ll, &ml);
    if (ll == WRAP) {
        c->pos += entry_span(l, c->pos);
        read_head(l, c->pos, &ll, &ml);
    }
    e = l->ring.bytes + c->pos % GS_LOG_RING + ENTRY_HEAD;
    level->p = e;
    level->n = ll;
    msg->p = e + ll;
    msg->n = ml;
    c->pos += ENTRY_HEAD + pad8((size_t)ll + ml);
    c->seq++;
    return 1;
}

static const char *const sample_log[][2] = {
    { "INFO", "server started" }, { "ERROR", "disk full" },
    { "WARN", "high memory usage" }, { "ERROR", "connection reset" },
    { "INFO", "request served" }, { "ERROR", "timeout" },
    { "DEBUG", "cache miss" }, { "INFO", "user login" }
};

static void log_init(gs_log *l)
{
    size_t i;
    l->first_seq = l->next_seq = 1;
    l->tail = l->head = 0;
    for (i = 0; i < LEN(sample_log); i++) {
        gs_str level, msg;
        level.p = sample_log[i][0]; level.n = strlen(level.p);
        msg.p = sample_log[i][1]; msg.n = strlen(msg.p);
        ring_append(l, level, msg);
    }
    l->fd = -1;
    l->gen = 0;
}

#ifndef GS_NO_FILE_LOG
/* ----- the log as a file (--log FILE) -------------------------------- */

/* The file is read in place through one fixed window; a stream holds only
 * its cursor (offset, entry number, file generation). `known` is the end
 * of the last complete line scanned: entries are counted and bad lines
 * reported once, as the file grows. A truncated or replaced file starts a
 * new generation, read again from its start. */

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads up to `want` bytes at pos into the window; returns the count. */
static size_t window_read(gs_log *l, uint64_t pos, size_t want)
{
    ssize_t r = pread(l->fd, l->win, want, (off_t)pos);
    l->win_off = pos;
    l->win_len = r > 0 ? (size_t)r : 0;
    return l->win_len;
}

/* The complete line at pos (without '\n'): 1, or 0 if it is not complete
 * (*len 0) or longer than the window (*len: how far to skip). The file is
 * read only when the window does not already hold the whole line. */
static int line_at(gs_log *l, uint64_t pos, const char **line, size_t *len)
{
    const size_t first = sizeof l->win < 16384 ? sizeof l->win : 16384;
    const char *p = l->win, *nl = NULL;
    size_t avail = 0, skip = 0;
    if (pos >= l->win_off && pos < l->win_off + l->win_len) {
        p = l->win + (pos - l->win_off);
        avail = (size_t)(l->win_off + l->win_len - pos);
        nl = memchr(p, '\n', avail);
    }
    if (!nl) {
        p = l->win;
        avail = window_read(l, pos, first);
        nl = memchr(p, '\n', avail);
    }
    if (!nl && avail == first && first < sizeof l->win) {
        avail = window_read(l, pos, sizeof l->win);
        nl = memchr(p, '\n', avail);
    }
    if (nl) {
        *line = p;
        *len = (size_t)(nl - p);
        return 1;
    }
    while (avail == sizeof l->win) {    /* too long: find where it ends */
        skip += avail;
        avail = window_read(l, pos + skip, sizeof l->win);
        nl = memchr(l->win, '\n', avail);
        if (nl) { *len = skip + (size_t)(nl - l->win); return 0; }
    }
    *len = 0;
    return 0;
}

/* A line as an entry: `LEVEL message words...` (a level, one space, the
 * message) or {"level": L, "msg": M}. */
static int parse_entry(gs_log *l, const char *line, size_t len, gs_str *level, gs_str *msg)
{
    if (len && line[len - 1] == '\r') len--;
    if (len && line[0] == '{') {
        gs_json *j = &l->scan;
        const char *p = line, *end = line + len;
        int got = 0, which = 0, ev;
        gs_json_reset(j);
        for (;;) {
            ev = gs_json_next(j, &p, end);
            if (ev == GS_JSON_MORE) {
                if (p != end) return 0;
                p = "\n";
                end = p + 1;
                continue;
            }
            if (ev == GS_JSON_LINE) break;
            if (ev == GS_JSON_MEMBER && j->depth == 1) {
                which = j->key_len == 5 && !memcmp(j->key, "level", 5) ? 1
                      : j->key_len == 3 && !memcmp(j->key, "msg", 3) ? 2 : 0;
                if (which) gs_json_want(j, which == 1 ? l->level_buf : l->msg_buf, GS_MAX_VALUE);
            } else if (ev == GS_JSON_VALUE && j->depth > 0 && which) {
                if (j->kind != GS_JV_STRING || j->str_over) return 0;
                if (which == 1) { level->p = l->level_buf; level->n = j->str_len; }
                else { msg->p = l->msg_buf; msg->n = j->str_len; }
                got |= which;
                which = 0;
            }
        }
        return j->status == GS_JL_OK && got == 3;
    } else {
        const char *sp = memchr(line, ' ', len);
        size_t ll = sp ? (size_t)(sp - line) : len;
        if (!sp || ll == 0 || ll > GS_MAX_VALUE || len - ll > GS_MAX_VALUE + 1 ||
            !gs_utf8_valid(line, len))
            return 0;
        level->p = line;
        level->n = ll;
        msg->p = sp + 1;
        msg->n = len - ll - 1;
        return 1;
    }
}

/* Counts the complete lines after `known`, up to `limit` bytes (or the end
 * of the file), reporting bad ones with their line number. */
static void file_scan(gs_node *n, uint64_t limit)
{
    gs_log *l = &n->log;
    for (;;) {
        const char *line;
        size_t len;
        gs_str level, msg;
        int whole;
        if (limit && l->known >= limit) return;
        whole = line_at(l, l->known, &line, &len);
        if (!whole && len == 0) return;           /* no complete line yet */
        l->lines++;
        if (whole && parse_entry(l, line, len, &level, &msg)) {
            l->entries++;
        } else if (whole && (len == 0 || (len == 1 && line[0] == '\r'))) {
            /* blank lines are not entries */
        } else {
            put_limit_text(put(l->report, l->path), ":", l->lines, ": bad log line skipped");
            report(n, l->report);
        }
        l->known += len + 1;
    }
}

static void file_restart(gs_log *l)
{
    l->gen++;
    l->known = l->entries = l->lines = 0;
    l->win_len = 0;
}

/* tail -F: a new file at the path, or a shorter one, is read anew; new
 * lines are counted up to `limit` bytes (0: the end of the file). */
static void file_check(gs_node *n, uint64_t limit)
{
    gs_log *l = &n->log;
    struct stat st;
    if (stat(l->path, &st) == 0 && ((uint64_t)st.st_ino != l->ino || (uint64_t)st.st_dev != l->dev)) {
        int fd = open(l->path, O_RDONLY);
        if (fd >= 0) {
            close(l->fd);
            l->fd = fd;
            l->ino = (uint64_t)st.st_ino;
            l->dev = (uint64_t)st.st_dev;
            file_restart(l);
        }
    } else if (fstat(l->fd, &st) == 0 && (uint64_t)st.st_size < l->known) {
        file_restart(l);
    }
    l->win_len = 0;             /* the file may have changed under the window */
    file_scan(n, limit);
}

int gs_log_open(gs_node *n, const char *path)
{
    gs_log *l = &n->log;
    struct stat st;
    size_t plen = strlen(path);
    int fd;
    if (plen >= sizeof l->path) return -1;
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    memcpy(l->path, path, plen + 1);
    l->checked_ms = 0;
    l->fd = fd;
    l->ino = (uint64_t)st.st_ino;
    l->dev = (uint64_t)st.st_dev;
    file_restart(l);
    file_scan(n, 0);
    return 0;
}

/* Appends one line: plain when it reads back the same, else JSON. */
static uint64_t file_append(gs_node *n, gs_str level, gs_str msg)
{
    gs_log *l = &n->log;
    char *d = l->win;
    size_t i;
    int plain = level.n > 0 && gs_utf8_valid(level.p, level.n) && gs_utf8_valid(msg.p, msg.n);
    off_t end;
    int fd;
    for (i = 0; plain && i < level.n; i++) plain = (unsigned char)level.p[i] > ' ' && level.p[i] != '{';
    for (i = 0; plain && i < msg.n; i++) plain = msg.p[i] != '\n' && msg.p[i] != '\r';
    if (plain) {
        d = put_n(put_n(d, level.p, level.n), " ", 1);
        d = put_n(d, msg.p, msg.n);
    } else {
        d = gs_json_put_str(PUT(d, "{\"level\": "), level.p, level.n);
        d = gs_json_put_str(PUT(d, ", \"msg\": "), msg.p, msg.n);
        *d++ = '}';
    }
    *d++ = '\n';
    l->win_len = 0;             /* the window held the line being written */
    fd = open(l->path, O_WRONLY | O_APPEND);
    if (fd < 0) return 0;
    if (write(fd, l->win, (size_t)(d - l->win)) != d - l->win) { close(fd); return 0; }
    end = lseek(fd, 0, SEEK_CUR);
    close(fd);
    file_check(n, (uint64_t)end);  /* our line is the last counted: its seq */
    return l->entries;
}

static int file_read(gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
    if (c->gen != l->gen) {
        c->gen = l->gen;
        c->pos = 0;
        c->seq = 1;
    }
    while (c->pos < l->known) {
        const char *line;
        size_t len;
        int whole = line_at(l, c->pos, &line, &len);
        if (!whole && len == 0) return 0;     /* changed under us: next check */
        c->pos += len + 1;
        if (whole && parse_entry(l, line, len, level, msg)) {
            c->seq++;
            return 1;
        }
    }
    return 0;
}

#else
/* Built without the file log: nothing to open (errno is left alone, so a
 * bare-metal build needs no errno from its libc). */
int gs_log_open(gs_node *n, const char *path)
{
    (void)n;
    (void)path;
    return -1;
}
#endif

/* The log, whichever it is. */
static uint64_t log_append(gs_node *n, gs_str level, gs_str msg)
{
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0) return file_append(n, level, msg);
#endif
    return ring_append(&n->log, level, msg);
}

static int log_read(gs_log *l, log_cursor *c, gs_str *level, gs_str *msg)
{
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) return file_read(l, c, level, msg);
#endif
    return ring_read(l, c, level, msg);
}

static void log_start(const gs_log *l, log_cursor *c)
{
    c->seq = l->first_seq;
    c->pos = l->tail;
    c->gen = l->gen;
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) {
        c->seq = 1;
        c->pos = 0;
    }
#endif
}

/* The seq the next entry will get. */
static uint64_t log_next_seq(const gs_log *l)
{
#ifndef GS_NO_FILE_LOG
    if (l->fd >= 0) return l->entries + 1;
#endif
    return l->next_seq;
}

/* WatchLogs: the stream's state is a cursor, where a plain watch stops
 * (the log's end when it started; 0 for a follow watch) and the filter. */
typedef struct {
    log_cursor cur;
    uint64_t end_seq, limit;
    size_t filter_len;
    char filter[GS_MAX_VALUE];
} watch_state;

typedef char watch_state_fits[sizeof(watch_state) <= GS_STREAM_STATE ? 1 : -1];

static void watch_refresh(gs_node *n);

static int watch_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    watch_state *w = gs_stream_state(s);
    (void)why;
    watch_refresh(n);           /* a plain watch sees what others just wrote */
    log_start(&n->log, &w->cur);
    w->limit = req->v[1].u;
    w->filter_len = req->v[0].s.n;
    memcpy(w->filter, req->v[0].s.p, w->filter_len);
    w->end_seq = req->v[2].b ? 0 : log_next_seq(&n->log);
    if (req->v[2].b) gs_stream_follow(s);
    return GS_OK;
}

static int watch_next(gs_node *n, gs_stream *s, gs_msg *out, const char **why)
{
    watch_state *w = gs_stream_state(s);
    gs_str level, msg;
    (void)why;
    if (w->limit && gs_stream_count(s) >= w->limit) return GS_OK;
    for (;;) {
        if (w->end_seq && w->cur.seq >= w->end_seq) return GS_OK;
        if (!log_read(&n->log, &w->cur, &level, &msg)) return w->end_seq ? GS_OK : GS_WAIT;
        if (w->filter_len == 0 ||
            (level.n == w->filter_len && memcmp(level.p, w->filter, level.n) == 0)) {
            out->v[0].s = level;
            out->v[1].s = msg;
            return GS_SEND;
        }
    }
}

static const gs_method watch_logs = {
    "LogWatcher", "WatchLogs", GS_SERVER_STREAMING, &watch_request, &log_entry,
    NULL, watch_start, watch_next, NULL, NULL
};

/* A file log others write to: reads what they added (followers hear of
 * it). Called as a watch starts and, every FILE_CHECK_MS, from gs_tick. */
static void watch_refresh(gs_node *n)
{
#ifndef GS_NO_FILE_LOG
    uint64_t entries = n->log.entries, gen = n->log.gen;
    if (n->log.fd < 0) return;
    n->log.checked_ms = n->now_ms;
    file_check(n, 0);
    if (n->log.entries != entries || n->log.gen != gen) gs_wake(n, &watch_logs);
#else
    (void)n;
#endif
}

static int append(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    uint64_t seq = log_append(n, req->v[0].s, req->v[1].s);
    if (!seq) {
        *why = "entry larger than the log";
        return GS_RESOURCE_EXHAUSTED;
    }
    resp->v[0].u = seq;
    gs_wake(n, &watch_logs);
    return GS_OK;
}

static const gs_method append_method = {
    "LogWatcher", "Append", GS_UNARY, &log_entry, &append_response,
    append, NULL, NULL, NULL, NULL
};

static int chat_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out,
                     const char **why)
{
    static const char prefix[] = "echo: ";
    size_t plen = sizeof prefix - 1;
    char *buf = gs_scratch(n, plen + in->v[0].s.n);   /* text <= GS_MAX_VALUE: fits */
    (void)s;
    (void)why;
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, in->v[0].s.p, in->v[0].s.n);
    out->v[0].s.p = buf;
    out->v[0].s.n = plen + in->v[0].s.n;
    return GS_OK;
}

static const gs_method bidi_chat = {
    "Chat", "BiDiChat", GS_BIDI_STREAMING, &chat_message, &chat_message,
    NULL, NULL, NULL, chat_recv, NULL
};

/* ===================================================================== */
/* 8. JSON lines: output                                                  */
/* ===================================================================== */

/* The writing half of the JSON-lines front end (PROTOCOL.md 1.1): replies
 * in json.dumps form, appended whole to n->jl.out into room checked
 * beforehand, and this front end's side of section 5. A JSON-lines
 * stream is named s<N> (fe.jl.id, from one sequence, never reused) and
 * belongs to the src that opened it. Output room is one buffer for every
 * stream: when a reply might not fit, everything waits (ROOM_ALL). */

/* Who a reply goes to and what it answers. */
typedef struct {
    const char *dest;
    size_t dest_len;
    const gs_reply_to *reply_to;
} jl_addr;

/* ", "key": " for a literal key. */
#define PUT_KEY(d, key) PUT(d, ", \"" key "\": ")

/* The most room a reply's envelope needs: src, dest and an echoed
 * stream_id (escaped), the fixed members, a status message. */
#define JL_ENVELOPE_MAX (3 * (6 * (size_t)GS_MAX_ID + 2) + 6 * (size_t)GS_MAX_WHY + 512)

/* Output stops at a full batch: beyond GS_OUT_BATCH the buffer keeps
 * GS_REPLY_MAX bytes, room for any one reply (gs_register sees to it). */

static int jl_room(const gs_node *n) { return n->jl.out_len <= GS_OUT_BATCH ? ROOM_OK : ROOM_ALL; }

/* A reply's body member and type, from a literal type: its text and
 * length known at compile time (the argument pair of jl_reply_begin). */
#define JL_BODY_TEXT(type) ", \"body\": {\"type\": \"" type "\""
#define JL_TYPE(type) JL_BODY_TEXT(type), sizeof JL_BODY_TEXT(type) - 1

/* {"src": <node id>, "dest":  : the start every reply shares once the
 * node has its id (before init, a reply signs as the request's dest). */
static size_t jl_put_head(char *d, const char *src, size_t src_len)
{
    char *start = d;
    d = PUT(d, "{\"src\": ");
    d = gs_json_put_str(d, src, src_len);
    d = PUT(d, ", \"dest\": ");
    return (size_t)(d - start);
}

/* A reply's start up to its type is kept for the next reply with the same
 * dest and type (a stream's replies mostly follow one another), if the
 * node has its id (it signs them) and it is short. body is the type's
 * literal text: its address and length name it. */
static void jl_keep_start(gs_node *n, const jl_addr *a, const char *body, const char *text,
                          const char *end)
{
    struct gs_jl_start *last = &n->jl.start;
    size_t len = (size_t)(end - text);
    last->body = NULL;
    if (!n->jl.initialised || a->dest_len > sizeof last->dest || len > sizeof last->text) return;
    last->body = body;
    last->dest_len = (uint8_t)a->dest_len;
    memcpy(last->dest, a->dest, a->dest_len);
    last->len = (uint8_t)len;
    memcpy(last->text, text, len);
}

/* A reply's start up to its type (jl_reply_begin(n, a, JL_TYPE("..."))),
 * and in_reply_to if it answers a request with a msg_id. */
static char *jl_reply_begin(gs_node *n, const jl_addr *a, const char *body, size_t body_len)
{
    char *d = n->jl.out + n->jl.out_len, *start = d;
    struct gs_jl_start *last = &n->jl.start;
    if (last->body == body && last->dest_len == a->dest_len &&
        same_bytes(last->dest, a->dest, a->dest_len)) {
        d = put_n(d, last->text, last->len);    /* as the last reply (a stream's) */
    } else {
        if (n->jl.initialised) d = put_n(d, n->jl.head, n->jl.head_len);
        else d += jl_put_head(d, n->jl.line.dest.buf, n->jl.line.dest.v.len);
        d = gs_json_put_str(d, a->dest, a->dest_len);
        d = put_n(d, body, body_len);
        jl_keep_start(n, a, body, start, d);
    }
    if (a->reply_to && a->reply_to->has) {
        d = PUT_KEY(d, "in_reply_to");
        d = gs_json_put_int(d, a->reply_to->neg, a->reply_to->mag);
    }
    return d;
}

/* Replies are numbered 0, 1, 2, ... (wrapping as a uint64_t would): the
 * next number is kept as decimal text and counted up in place, which
 * costs less than writing a number for each reply. */
static char *jl_put_msg_id(gs_jl *jl, char *d)
{
    size_t i, len = jl->msg_id_len;
    put_n(d, jl->msg_id, len);
    if (len == 20 && memcmp(jl->msg_id, "18446744073709551615", 20) == 0) {
        jl->msg_id[0] = '0';
        jl->msg_id_len = 1;
        return d + len;
    }
    for (i = len; i > 0 && jl->msg_id[i - 1] == '9'; i--) jl->msg_id[i - 1] = '0';
    if (i > 0) {
        jl->msg_id[i - 1]++;
    } else {                        /* 99 -> 100: one digit more */
        memmove(jl->msg_id + 1, jl->msg_id, len);
        jl->msg_id[0] = '1';
        jl->msg_id_len++;
    }
    return d + len;
}

static void jl_reply_end(gs_node *n, char *d)
{
    d = PUT_KEY(d, "msg_id");
    d = jl_put_msg_id(&n->jl, d);
    d = PUT(d, "}}\n");
    n->jl.out_len = (size_t)(d - n->jl.out);
}

static char *jl_put_stream_id(char *d, uint64_t id)
{
    d = PUT_KEY(d, "stream_id");
    d = PUT(d, "\"s");
    d = gs_json_put_u64(d, id);
    *d++ = '"';
    return d;
}

static char *jl_put_status(char *d, int status)
{
    d = PUT_KEY(d, "status");
    *d++ = '"';
    d = put(d, gs_status_name(status));
    *d++ = '"';
    return d;
}

/* ----- message values in JSON (proto3's JSON mapping) -------------------- */

/* Scalars are written as proto3's JSON mapping has them: 32-bit integers
 * and GS_JSON_NUMBER fields as numbers, other 64-bit integers as strings,
 * float and double as numbers (the fewest digits that read back the
 * same, as Python's repr writes them; "NaN", "Infinity", "-Infinity" as
 * strings), enums by name (by
 * number when the value has none), bytes as padded base64, messages as
 * objects, lists as arrays. Every field is written, defaults included,
 * except a message field that is absent. jl_msg_size is exactly what
 * jl_put_msg writes. */

#define JL_SCALAR_MAX 32            /* the longest jl_put_scalar text */

static int jl_quoted_int(const gs_field *f)
{
    switch (f->type) {
    case GS_INT64: case GS_UINT64: case GS_SINT64: case GS_FIXED64: case GS_SFIXED64:
        return !(f->flags & GS_JSON_NUMBER);
    default: return 0;
    }
}

static char *jl_put_i64(char *d, int64_t x)
{
    return gs_json_put_int(d, x < 0, x < 0 ? 0 - (uint64_t)x : (uint64_t)x);
}

#ifndef GS_NO_FLOAT
/* A float or double as Python's repr() writes one: the fewest digits that
 * read back as x; plain between 1e-4 and 1e16, with ".0" when whole
 * (100.0, 0.0005, -0.0), else with an exponent (1e+300, 5e-324). */
static char *jl_put_float(char *d, double x, int single)
{
    char buf[JL_SCALAR_MAX], *e;
    int digits, most = single ? 9 : 17, exp10;
    if (x != x) return PUT(d, "\"NaN\"");
    if (x > DBL_MAX) return PUT(d, "\"Infinity\"");
    if (x < -DBL_MAX) return PUT(d, "\"-Infinity\"");
    for (digits = 1;; digits++) {   /* at most 24 bytes: "-1.2345678901234567e-308" */
        double back;
        if (snprintf(buf, sizeof buf, "%.*e", digits - 1, x) >= (int)sizeof buf) return PUT(d, "0.0");
        back = strtod(buf, NULL);
        if (digits == most || (single ? (float)back == (float)x : back == x)) break;
    }
    e = strchr(buf, 'e');
    exp10 = e ? atoi(e + 1) : 0;
    if (exp10 < -4 || exp10 >= 16) return put(d, buf);
    snprintf(buf, sizeof buf, "%.*f", digits - 1 - exp10 > 0 ? digits - 1 - exp10 : 0, x);
    d = put(d, buf);
    return strchr(buf, '.') ? d : PUT(d, ".0");
}
#endif

/* The enum value's name, or NULL. */
static const char *jl_enum_name(const gs_field *f, int64_t number)
{
    unsigned i;
    for (i = 0; f->enm && i < f->enm->n; i++)
        if (f->enm->values[i].number == number) return f->enm->values[i].name;
    return NULL;
}

/* A number or bool (an enum by number): at most JL_SCALAR_MAX bytes. */
static char *jl_put_scalar(char *d, const gs_field *f, const gs_value *v)
{
    int quoted = jl_quoted_int(f);
    if (quoted) *d++ = '"';
    switch (f->type) {
    case GS_BOOL: return put(d, v->b ? "true" : "false");
    case GS_UINT64: case GS_FIXED64: d = gs_json_put_u64(d, v->u); break;
    case GS_UINT32: case GS_FIXED32: d = gs_json_put_u64(d, (uint32_t)v->u); break;
    case GS_INT32: case GS_SINT32: case GS_SFIXED32: case GS_ENUM: d = jl_put_i64(d, (int32_t)v->i); break;
#ifndef GS_NO_FLOAT
    case GS_FLOAT: return jl_put_float(d, v->f, 1);
    case GS_DOUBLE: return jl_put_float(d, v->d, 0);
#endif
    default: d = jl_put_i64(d, v->i); break;       /* int64, sint64, sfixed64 */
    }
    if (quoted) *d++ = '"';
    return d;
}

static char *jl_put_object(char *d, const gs_msg *m);
static size_t jl_object_size(const gs_msg *m, unsigned depth);

/* Whether a field is written: all are but an absent message field. */
static int jl_written(const gs_field *f, const gs_value *v)
{
    return f->type != GS_MESSAGE || f->flags & GS_REPEATED || v->m.msg || v->m.raw.p;
}

/* A message value: its gs_msg, or its bytes decoded into *tmp. */
static const gs_msg *jl_sub(const gs_field *f, const gs_value *v, gs_msg *tmp)
{
    if (v->m.msg) return v->m.msg;
    if (gs_decode(f->msg, v->m.raw, tmp, NULL) != GS_OK) pb_clear(f->msg, tmp);
    return tmp;
}

/* One value of field f (an element, for a list). */
static char *jl_put_value(char *d, const gs_field *f, const gs_value *v)
{
    const char *name;
    gs_msg tmp;
    switch (f->type) {
    case GS_STRING: return gs_json_put_str(d, v->s.p, v->s.n);
    case GS_BYTES:
        *d++ = '"';
        d = b64_encode(d, (const uint8_t *)v->s.p, v->s.n);
        *d++ = '"';
        return d;
    case GS_MESSAGE: return jl_put_object(d, jl_sub(f, v, &tmp));
    case GS_ENUM:
        name = jl_enum_name(f, (int32_t)v->i);
        if (name) return gs_json_put_str(d, name, strlen(name));
        return jl_put_scalar(d, f, v);
    default: return jl_put_scalar(d, f, v);
    }
}

/* Bytes jl_put_value writes, or (size_t)-1 past GS_MAX_DEPTH. */
static size_t jl_value_size(const gs_field *f, const gs_value *v, unsigned depth)
{
    char buf[JL_SCALAR_MAX];
    const char *name;
    gs_msg tmp;
    switch (f->type) {
    case GS_STRING: return gs_json_str_size(v->s.p, v->s.n);
    case GS_BYTES: return (v->s.n + 2) / 3 * 4 + 2;
    case GS_MESSAGE: return jl_object_size(jl_sub(f, v, &tmp), depth + 1);
    case GS_ENUM:
        name = jl_enum_name(f, (int32_t)v->i);
        if (name) return gs_json_str_size(name, strlen(name));
        return (size_t)(jl_put_scalar(buf, f, v) - buf);
    default: return (size_t)(jl_put_scalar(buf, f, v) - buf);
    }
}

static char *jl_put_list(char *d, const gs_msg *m, unsigned i)
{
    gs_iter it;
    gs_value v;
    int first = 1;
    *d++ = '[';
    gs_iter_start(&it, m, i);
    while (gs_iter_next(&it, &v)) {
        if (!first) d = PUT(d, ", ");
        first = 0;
        d = jl_put_value(d, &m->desc->fields[i], &v);
    }
    *d++ = ']';
    return d;
}

static size_t jl_list_size(const gs_msg *m, unsigned i, unsigned depth)
{
    gs_iter it;
    gs_value v;
    size_t size = 2, k = 0;
    gs_iter_start(&it, m, i);
    while (gs_iter_next(&it, &v)) {
        size_t one = jl_value_size(&m->desc->fields[i], &v, depth);
        if (one == (size_t)-1) return one;
        size += one + (k++ ? 2 : 0);
    }
    return size;
}

/* A field name (short: copied without strlen and a call to memcpy). */
static char *put_name(char *d, const char *name)
{
    while (*name) *d++ = *name++;
    return d;
}

/* An object: {"name": value, ...} in json.dumps's spacing. */
static char *jl_put_object(char *d, const gs_msg *m)
{
    unsigned i;
    int first = 1;
    *d++ = '{';
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_field *f = &m->desc->fields[i];
        if (!jl_written(f, &m->v[i])) continue;
        if (!first) d = PUT(d, ", ");
        first = 0;
        *d++ = '"';
        d = put_name(d, f->name);
        d = PUT(d, "\": ");
        d = f->flags & GS_REPEATED ? jl_put_list(d, m, i) : jl_put_value(d, f, &m->v[i]);
    }
    *d++ = '}';
    return d;
}

static size_t jl_object_size(const gs_msg *m, unsigned depth)
{
    size_t size = 2, k = 0;
    unsigned i;
    if (depth > GS_MAX_DEPTH) return (size_t)-1;
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_field *f = &m->desc->fields[i];
        size_t one;
        if (!jl_written(f, &m->v[i])) continue;
        one = f->flags & GS_REPEATED ? jl_list_size(m, i, depth) : jl_value_size(f, &m->v[i], depth);
        if (one == (size_t)-1) return one;
        size += (k++ ? 2 : 0) + strlen(f->name) + 4 + one;
    }
    return size;
}

/* A message as JSON, and exactly its size ((size_t)-1: nested deeper than
 * GS_MAX_DEPTH, a cycle). */
static char *jl_put_msg(char *d, const gs_msg *m) { return jl_put_object(d, m); }
static size_t jl_msg_size(const gs_msg *m) { return jl_object_size(m, 0); }

/* Whether a type's JSON size has a static bound (no lists, messages or
 * bytes, as pb_size_max has one): if not, each reply is measured. */
static int jl_bounded(const gs_desc *d) { return pb_size_max(d) != PB_UNBOUNDED; }

/* The most room a reply with message type d needs (strings escaped 6x;
 * fields without a bound count nothing: see jl_bounded). */
static size_t jl_reply_room(const gs_desc *d)
{
    size_t room = JL_ENVELOPE_MAX + 2;
    unsigned i;
    for (i = 0; i < d->nfields; i++) {
        const gs_field *f = &d->fields[i];
        room += 7 + strlen(f->name);
        if (f->type == GS_STRING) room += 6 * GS_MAX_OUT_VALUE + 2;
        else if (f->type == GS_ENUM) room += JL_SCALAR_MAX + 6 * GS_MAX_NAME;
        else room += JL_SCALAR_MAX;
    }
    return room;
}

static void jl_reply_error(gs_node *n, const jl_addr *a, int code, const char *text)
{
    char *d = jl_reply_begin(n, a, JL_TYPE("error"));
    d = PUT_KEY(d, "code");
    d = gs_json_put_u64(d, (uint64_t)code);
    d = PUT_KEY(d, "text");
    d = gs_json_put_str(d, text, strlen(text));
    jl_reply_end(n, d);
}

/* grpc_stream_end: the call's trailers. */
static void jl_write_end(gs_node *n, const jl_addr *a, uint64_t id, uint64_t count,
                         int status, const char *why, size_t why_len)
{
    char *d = jl_reply_begin(n, a, JL_TYPE("grpc_stream_end"));
    if (id) d = jl_put_stream_id(d, id);
    d = jl_put_status(d, status);
    d = PUT_KEY(d, "count");
    d = gs_json_put_u64(d, count);
    if (status != GS_OK) {
        d = PUT_KEY(d, "message");
        d = gs_json_put_str(d, why, why_len);
    }
    jl_reply_end(n, d);
}

/* A failed unary call: grpc_call_ok with its status and message. */
static void jl_write_call_failed(gs_node *n, const jl_addr *a, int status,
                                 const char *why, size_t why_len)
{
    char *d = jl_reply_begin(n, a, JL_TYPE("grpc_call_ok"));
    d = jl_put_status(d, status);
    d = PUT_KEY(d, "message");
    d = gs_json_put_str(d, why, why_len);
    jl_reply_end(n, d);
}

/* ----- streams by id ---------------------------------------------------- */

/* Live streams with an id hang off a bucket by id (ids are sequential, so
 * id % GS_MAX_STREAMS spreads them). */

static unsigned jl_bucket_of(uint64_t id) { return (unsigned)(id % GS_MAX_STREAMS); }

static void jl_assign_id(gs_node *n, gs_stream *s)
{
    unsigned b;
    s->fe.jl.id = ++n->jl.last_stream_id;
    b = jl_bucket_of(s->fe.jl.id);
    s->fe.jl.next_in_bucket = n->jl.buckets[b];
    n->jl.buckets[b] = s->self;
}

static gs_stream *jl_stream_by_id(gs_node *n, uint64_t id)
{
    int16_t i;
    for (i = n->jl.buckets[jl_bucket_of(id)]; i >= 0; i = n->streams[i].fe.jl.next_in_bucket)
        if (n->streams[i].fe.jl.id == id) return &n->streams[i];
    return NULL;
}

static void jl_forget(gs_node *n, gs_stream *s)
{
    int16_t *link;
    if (!s->fe.jl.id) return;
    link = &n->jl.buckets[jl_bucket_of(s->fe.jl.id)];
    while (*link != s->self) link = &n->streams[*link].fe.jl.next_in_bucket;
    *link = s->fe.jl.next_in_bucket;
}

/* ----- this front end's side of section 5 ------------------------------ */

/* A reply to the request being handled, or a message the server sends
 * alone to the stream's owner, answering the request that opened it. */
static jl_addr jl_stream_addr(gs_node *n, const gs_stream *s, int by_request)
{
    jl_addr a;
    a.dest = s->fe.jl.owner;
    a.dest_len = s->fe.jl.owner_len;
    a.reply_to = by_request ? &n->jl.line.msg_id : &s->fe.jl.opened_by;
    return a;
}

static int jl_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    jl_addr a = jl_stream_addr(n, s, by_request);
    char *d;
    if (n->jl.measured[s->method_index] && jl_msg_size(m) > GS_REPLY_MAX - JL_ENVELOPE_MAX)
        return GS_RESOURCE_EXHAUSTED;
    if (s->kind == GS_UNARY) {
        d = jl_reply_begin(n, &a, JL_TYPE("grpc_call_ok"));
        d = put(PUT_KEY(d, "status"), "\"OK\"");
        d = jl_put_msg(PUT_KEY(d, "response"), m);
    } else if (by_request) {        /* the answer to a bidi send */
        d = jl_reply_begin(n, &a, JL_TYPE("grpc_bidi_stream_recv"));
        d = jl_put_msg(PUT_KEY(d, "data"), m);
    } else {
        d = jl_reply_begin(n, &a, JL_TYPE("grpc_stream_msg"));
        if (s->fe.jl.id) d = jl_put_stream_id(d, s->fe.jl.id);
        d = PUT_KEY(d, "seq");
        d = gs_json_put_u64(d, s->count);
        d = jl_put_msg(PUT_KEY(d, "data"), m);
    }
    jl_reply_end(n, d);
    return GS_OK;                   /* room for any reply: see jl_room */
}

static int jl_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                       const char *why, size_t why_len)
{
    jl_addr a = jl_stream_addr(n, s, by_request);
    if (s->kind != GS_UNARY) jl_write_end(n, &a, s->fe.jl.id, s->count, status, why, why_len);
    else if (status != GS_OK) jl_write_call_failed(n, &a, status, why, why_len);
    /* an OK unary call was answered whole by its grpc_call_ok */
    jl_forget(n, s);
    return 0;
}

/* ===================================================================== */
/* 9. JSON lines: input                                                   */
/* ===================================================================== */

/* The reading half of the JSON-lines front end (PROTOCOL.md 1), and the
 * JSON reading of +json messages: scanner events decide where each wanted
 * value goes (envelope, body, the top-level scalar payload fields
 * registered methods read: captures), a whole line is checked in the
 * order README "Order of checks" gives, and each request type has one
 * handler that drives the call core. Values the node does not need are
 * skipped, never stored. A request type with lists or messages is read in
 * a second pass over its payload's text, kept whole (jl_decode_deep), as
 * protobuf. Not supported: a deep payload of more than GS_MAX_VALUE bytes
 * of text or of protobuf. */

/* Payload containers (index into gs_line.payload and capture.container). */
enum { C_REQUEST = 1, C_DATA = 2 };
/* States of gs_idbuf / gs_namebuf. */
enum { V_ABSENT, V_OK, V_NOT_STRING, V_LONG };
/* Payload objects the scanner reports, by tag (deep requests: their text
 * is kept). */
enum { T_NONE, T_REQUEST, T_DATA };

enum { M_INIT, M_SERVER_STREAM, M_BIDI_OPEN, M_BIDI_SEND, M_BIDI_CLOSE, M_CANCEL,
       M_STATE, M_CALL, M_UNKNOWN };

/* Request types in M_ order, with their lengths known at compile time. */
#define NAMED(s) { s, sizeof(s) - 1 }
static const struct { const char *name; size_t len; } jl_type_names[] = {
    NAMED("init"), NAMED("grpc_server_stream"), NAMED("grpc_bidi_stream_open"),
    NAMED("grpc_bidi_stream_send"), NAMED("grpc_bidi_stream_close"),
    NAMED("grpc_stream_cancel"), NAMED("grpc_stream_state"), NAMED("grpc_call")
};

/* Forgets a payload's fields (a line's, at its end; a +json message's,
 * as it starts). (A payload that has not started has kind 0, and then no
 * field of it counts.) */
static void jl_reset_payload(gs_node *n, int container)
{
    unsigned i;
    n->jl.line.payload[container].kind = 0;
    for (i = 0; i < n->jl.npayload_keys[container]; i++)
        n->jl.payload_keys[container][i].into->kind = 0;
}

static void jl_reset_body(gs_node *n)
{
    gs_line *l = &n->jl.line;
    l->body.kind = 0;
    l->msg_id_value.kind = l->timeout.kind = 0;
    l->type.v.kind = l->service.v.kind = l->method.v.kind = 0;
    l->node_id.v.kind = l->stream_id.v.kind = 0;
    l->payload[C_REQUEST].kind = l->payload[C_DATA].kind = 0;
}

/* Everything a line stored is forgotten before the next one (as the
 * scanner's nested keys want: gs_json_key_nest). */
static void jl_reset_line(gs_node *n)
{
    int c;
    n->jl.raw_on = 0;
    n->jl.line.top.kind = 0;
    n->jl.line.src.v.kind = n->jl.line.dest.v.kind = 0;
    /* a payload's fields were stored only if it began (a body named
     * twice forgot both: gs_json_key_nest) */
    for (c = C_REQUEST; c <= C_DATA; c++)
        if (n->jl.line.payload[c].kind) jl_reset_payload(n, c);
    jl_reset_body(n);
}

/* The payload object of a line starts: its text is kept from here on. */
static void jl_raw_start(gs_node *n, int container)
{
    n->jl.raw_container = (uint8_t)container;
    n->jl.raw_on = 1;
    n->jl.raw_over = 0;
    n->jl.raw[0] = '{';
    n->jl.raw_len = 1;
    gs_json_report_end(&n->jl.scan);        /* GS_JSON_END: the text is whole */
}

static void jl_raw_add(gs_node *n, const char *from, const char *to)
{
    size_t len = (size_t)(to - from);
    if (len > sizeof n->jl.raw - n->jl.raw_len) {
        n->jl.raw_over = 1;
        return;
    }
    memcpy(n->jl.raw + n->jl.raw_len, from, len);
    n->jl.raw_len += len;
}

/* What a wanted id or name holds. */
static int jl_state(const gs_json_value *v)
{
    if (!v->kind) return V_ABSENT;
    if (v->kind != GS_JV_STRING) return V_NOT_STRING;
    return v->over ? V_LONG : V_OK;
}

/* ----- the members each object expects --------------------------------- */

/* The scanner matches member names against these tables itself: scalars
 * go straight to the line's buffers, and it enters the line's object, body,
 * request and data with their keys (gs_json_key_nest), so a line costs no
 * event but its end (PROTOCOL.md 1; a member not listed is skipped). Only
 * a payload object that a deep request keeps whole is reported. */

static gs_json_key jl_key(const char *name, int tag, gs_json_value *into, char *sink, size_t cap)
{
    gs_json_key k;
    gs_json_key_set(&k, name, tag, into, sink, cap);
    return k;
}
#define JL_TEXT_KEY(name, b) jl_key(name, 0, &(b)->v, (b)->buf, sizeof (b)->buf)
#define JL_NUMBER_KEY(name, v) jl_key(name, 0, v, NULL, 0)
#define JL_ENVELOPE_KEYS (sizeof ((gs_jl *)0)->envelope_keys / sizeof (gs_json_key))
#define JL_BODY_KEYS (sizeof ((gs_jl *)0)->body_keys / sizeof (gs_json_key))

static void jl_expect_init(gs_node *n)
{
    gs_line *l = &n->jl.line;
    gs_json_key *e = n->jl.envelope_keys, *b = n->jl.body_keys;
    n->jl.top_key = JL_NUMBER_KEY("", &l->top);
    gs_json_key_nest(&n->jl.top_key, e, JL_ENVELOPE_KEYS);
    gs_json_expect_top(&n->jl.scan, &n->jl.top_key);
    e[0] = JL_TEXT_KEY("src", &l->src);
    e[1] = JL_TEXT_KEY("dest", &l->dest);
    e[2] = JL_NUMBER_KEY("body", &l->body);
    gs_json_key_nest(&e[2], b, JL_BODY_KEYS);
    /* in the order requests usually name them: the scanner's search
     * starts after the member it matched last */
    b[0] = JL_TEXT_KEY("type", &l->type);
    b[1] = JL_NUMBER_KEY("msg_id", &l->msg_id_value);
    b[2] = JL_TEXT_KEY("stream_id", &l->stream_id);
    b[3] = JL_NUMBER_KEY("data", &l->payload[C_DATA]);
    b[4] = JL_TEXT_KEY("service", &l->service);
    b[5] = JL_TEXT_KEY("method", &l->method);
    b[6] = JL_NUMBER_KEY("request", &l->payload[C_REQUEST]);
    b[7] = JL_NUMBER_KEY("timeout_ms", &l->timeout);
    b[8] = JL_TEXT_KEY("node_id", &l->node_id);
    n->jl.npayload_keys[C_REQUEST] = n->jl.npayload_keys[C_DATA] = 0;
    gs_json_key_nest(&b[3], n->jl.payload_keys[C_DATA], 0);
    gs_json_key_nest(&b[6], n->jl.payload_keys[C_REQUEST], 0);
}

/* The scanner learns the shapes of lines (json.c), and forgets them
 * whenever the keys it expects change. */
static void jl_learn_anew(gs_node *n)
{
#if GS_JSON_SHAPES > 0
    gs_json_learn(&n->jl.scan, &n->jl.shapes);
#else
    (void)n;
#endif
}

/* The payload fields registered methods read, per container; a container
 * some deep request uses is reported when it starts, to keep its text. */
static void jl_expect_captures(gs_node *n)
{
    gs_json_key *data = &n->jl.body_keys[3], *request = &n->jl.body_keys[6];
    unsigned i;
    n->jl.npayload_keys[C_REQUEST] = n->jl.npayload_keys[C_DATA] = 0;
    for (i = 0; i < n->jl.ncaps; i++) {
        gs_capture *c = &n->jl.caps[i];
        n->jl.payload_keys[c->container][n->jl.npayload_keys[c->container]++] =
            jl_key(c->name, 0, &c->v, c->buf, c->buf == c->small ? sizeof c->small : GS_MAX_VALUE);
    }
    gs_json_key_nest(data, n->jl.payload_keys[C_DATA], n->jl.npayload_keys[C_DATA]);
    gs_json_key_nest(request, n->jl.payload_keys[C_REQUEST], n->jl.npayload_keys[C_REQUEST]);
    data->tag = n->jl.deep_in[C_DATA] ? T_DATA : T_NONE;
    request->tag = n->jl.deep_in[C_REQUEST] ? T_REQUEST : T_NONE;
    jl_learn_anew(n);
}

/* A reported value: a payload object a deep request keeps whole (just
 * begun; the scanner entered it with its keys). */
static void jl_on_value(gs_node *n)
{
    int t = n->jl.scan.key_tag;
    if (t == T_REQUEST || t == T_DATA) jl_raw_start(n, t == T_REQUEST ? C_REQUEST : C_DATA);
}

/* msg_id as a reply can echo it: an integer in 64 bits (signed or not). */
static int jl_msg_id_ok(const gs_json_value *v)
{
    return v->kind == GS_JV_NUMBER && v->num_int && !v->num_big &&
           (!v->num_neg || v->num_mag <= (uint64_t)1 << 63);
}

static int jl_timeout_ok(const gs_json_value *v)
{
    return v->kind == GS_JV_NUMBER && v->num_int && !v->num_big && !v->num_neg && v->num_mag > 0;
}

/* ----- decoding a payload by its descriptor ----------------------------- */

static const char *jl_field_error(gs_node *n, const char *field, const char *what)
{
    char *d = put(n->why, field);
    d = put(d, what);
    *d = '\0';
    return n->why;
}

static const char *jl_too_large(gs_node *n, const char *field)
{
    put_limit_text(put(n->why, field), " larger than ", GS_MAX_VALUE, " bytes");
    return n->why;
}

/* A JSON integer, as a number or (proto3's form for 64-bit ones) a string
 * of decimal digits: its sign and magnitude. Returns 0, or -1. */
static int jl_integer(const gs_capture *c, int string_ok, int *neg, uint64_t *mag)
{
    const gs_json_value *v = &c->v;
    const char *p = c->buf, *end;
    if (v->kind == GS_JV_NUMBER) {
        if (!v->num_int || v->num_big) return -1;
        *neg = v->num_neg && v->num_mag;
        *mag = v->num_mag;
        return 0;
    }
    if (v->kind != GS_JV_STRING || !string_ok || v->over || !v->len) return -1;
    end = p + v->len;
    *neg = *p == '-';
    p += *neg;
    if (p == end) return -1;
    for (*mag = 0; p < end; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9 || *mag > (UINT64_MAX - d) / 10) return -1;
        *mag = *mag * 10 + d;
    }
    if (!*mag) *neg = 0;
    return 0;
}

/* An integer field within its type's range. */
static int jl_decode_int(gs_node *n, const gs_field *f, const gs_capture *c, gs_value *out,
                         const char **why)
{
    int neg, wide = 0, is_signed = 1;
    uint64_t mag, most;
    switch (f->type) {
    case GS_UINT64: case GS_FIXED64: is_signed = 0, wide = 1; break;
    case GS_UINT32: case GS_FIXED32: is_signed = 0; break;
    case GS_INT64: case GS_SINT64: case GS_SFIXED64: wide = 1; break;
    default: break;
    }
    most = wide ? (is_signed ? (uint64_t)INT64_MAX : UINT64_MAX) : (is_signed ? 0x7FFFFFFFu : 0xFFFFFFFFu);
    if (jl_integer(c, !(f->flags & GS_JSON_NUMBER), &neg, &mag) < 0 || (neg && !is_signed) ||
        mag > most + (uint64_t)neg) {
        *why = jl_field_error(n, f->name, !is_signed ? (wide ? " must be a non-negative 64-bit integer"
                                                             : " must be a non-negative 32-bit integer")
                                                     : (wide ? " must be a 64-bit integer"
                                                             : " must be a 32-bit integer"));
        return GS_INVALID_ARGUMENT;
    }
    if (is_signed) out->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    else out->u = mag;
    return GS_OK;
}

/* An enum: one of its names, or a 32-bit number. */
static int jl_decode_enum(gs_node *n, const gs_field *f, const gs_capture *c, gs_value *out,
                          const char **why)
{
    unsigned i;
    if (c->v.kind == GS_JV_STRING && !c->v.over) {
        for (i = 0; f->enm && i < f->enm->n; i++) {
            const char *name = f->enm->values[i].name;
            if (strlen(name) == c->v.len && memcmp(name, c->buf, c->v.len) == 0) {
                out->i = f->enm->values[i].number;
                return GS_OK;
            }
        }
        *why = jl_field_error(n, f->name, " must be one of its enum's names or a number");
        return GS_INVALID_ARGUMENT;
    }
    return jl_decode_int(n, f, c, out, why);
}

#ifndef GS_NO_FLOAT
/* A float or double: a number, or a string holding one, "NaN",
 * "Infinity" or "-Infinity". (An integer of more than 64 bits must be
 * written with an exponent or as a string.) */
static int jl_decode_float(gs_node *n, const gs_field *f, const gs_capture *c, gs_value *out,
                           const char **why)
{
    double x = 0;
    int ok = 0;
    if (c->v.kind == GS_JV_NUMBER && c->v.num_int && !c->v.num_big) {
        x = c->v.num_neg ? -(double)c->v.num_mag : (double)c->v.num_mag;
        ok = 1;
    } else if ((c->v.kind == GS_JV_STRING || (c->v.kind == GS_JV_NUMBER && !c->v.num_int)) &&
               !c->v.over && c->v.len) {        /* a number's text (json.c keeps it) */
        char text[GS_JSON_SMALL + 1], *end;
        memcpy(text, c->buf, c->v.len);
        text[c->v.len] = '\0';
        ok = 1;
        if (strcmp(text, "NaN") == 0) x = strtod("nan", NULL);
        else if (strcmp(text, "Infinity") == 0) x = HUGE_VAL;
        else if (strcmp(text, "-Infinity") == 0) x = -HUGE_VAL;
        else {                      /* a number's text: finite, nothing after it */
            x = strtod(text, &end);
            ok = (text[0] == '-' || (text[0] >= '0' && text[0] <= '9')) && *end == '\0' &&
                 x <= DBL_MAX && x >= -DBL_MAX;
        }
    }
    if (!ok) {
        *why = jl_field_error(n, f->name, " must be a number");
        return GS_INVALID_ARGUMENT;
    }
    if (f->type == GS_FLOAT) out->f = (float)x;
    else out->d = x;
    return GS_OK;
}
#endif

/* Base64 (standard or URL-safe, padded or not), decoded in place. */
static int jl_decode_bytes(gs_node *n, const gs_field *f, gs_capture *c, gs_value *out,
                           const char **why)
{
    long len;
    if (c->v.kind != GS_JV_STRING) { *why = jl_field_error(n, f->name, " must be a string"); return GS_INVALID_ARGUMENT; }
    if (c->v.over) { *why = jl_too_large(n, f->name); return GS_RESOURCE_EXHAUSTED; }
    len = b64_decode((uint8_t *)c->buf, c->buf, c->v.len, 1);   /* proto3 JSON: either */
    if (len < 0) { *why = jl_field_error(n, f->name, " must be base64"); return GS_INVALID_ARGUMENT; }
    out->s.p = c->buf;
    out->s.n = (size_t)len;
    return GS_OK;
}

/* One present, non-null scalar field (or list element) from its capture
 * (lists and messages: jl_decode_deep). */
static int jl_decode_field(gs_node *n, const gs_field *f, gs_capture *c, gs_value *out,
                           const char **why)
{
    const gs_json_value *v = &c->v;
    switch (f->type) {
    case GS_STRING:
        if (v->kind != GS_JV_STRING) { *why = jl_field_error(n, f->name, " must be a string"); return GS_INVALID_ARGUMENT; }
        if (v->over) { *why = jl_too_large(n, f->name); return GS_RESOURCE_EXHAUSTED; }
        out->s.p = c->buf;
        out->s.n = v->len;
        return GS_OK;
    case GS_BOOL:
        if (v->kind != GS_JV_TRUE && v->kind != GS_JV_FALSE) {
            *why = jl_field_error(n, f->name, " must be a boolean");
            return GS_INVALID_ARGUMENT;
        }
        out->b = v->kind == GS_JV_TRUE;
        return GS_OK;
    case GS_BYTES: return jl_decode_bytes(n, f, c, out, why);
    case GS_ENUM: return jl_decode_enum(n, f, c, out, why);
#ifndef GS_NO_FLOAT
    case GS_FLOAT: case GS_DOUBLE: return jl_decode_float(n, f, c, out, why);
#endif
    default: return jl_decode_int(n, f, c, out, why);
    }
}

/* ----- a JSON value that is whole in memory ------------------------------ */

/* The second scanner reads values that are whole: a +json message, a
 * payload kept whole for jl_decode_deep. Each event goes to a handler. */
typedef void jl_event_fn(gs_node *n, int ev, int container);

static void jl_scan_piece(gs_node *n, const char *p, const char *end, jl_event_fn *fn, int container)
{
    gs_json *j = &n->jl.object_scan;
    for (;;) {
        int ev = gs_json_next(j, &p, end);
        if (ev == GS_JSON_MORE || ev == GS_JSON_LINE) return;
        fn(n, ev, container);
    }
}

/* Scans p[0..len) as one JSON value. A newline is whitespace here, so it
 * is read as a tab (a raw newline in a string stays invalid). Returns
 * GS_OK, or INTERNAL for invalid JSON and RESOURCE_EXHAUSTED for nesting
 * deeper than GS_MAX_DEPTH, with *why. */
static int jl_scan_whole(gs_node *n, const char *p, size_t len, jl_event_fn *fn, int container,
                         const char **why)
{
    static const char tab[] = "\t", newline[] = "\n";
    const char *end = p + len;
    gs_json_reset(&n->jl.object_scan);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        jl_scan_piece(n, p, nl ? nl : end, fn, container);
        if (!nl) break;
        jl_scan_piece(n, tab, tab + 1, fn, container);
        p = nl + 1;
    }
    jl_scan_piece(n, newline, newline + 1, fn, container);
    if (n->jl.object_scan.status != GS_JL_OK) {
        *why = "invalid JSON";
        return GS_INTERNAL;
    }
    if (n->jl.object_scan.too_deep) {
        *why = put_limit_text(n->why, "nesting deeper than ", GS_MAX_DEPTH, "");
        return GS_RESOURCE_EXHAUSTED;
    }
    return GS_OK;
}

static const char *jl_not_object(int container)
{
    return container == C_REQUEST ? "request must be an object" : "data must be an object";
}

/* ----- lists and messages from JSON --------------------------------------- */

/* A request type with lists or message fields ("deep") is read in a second
 * pass: its payload object's text (kept whole while the line is scanned:
 * jl_raw_*; a +json message is whole already) goes through the scanner
 * again, and each value is written as protobuf by the descriptor into
 * deep_pb, which pb_decode then reads like any request. So the checks and
 * texts are the scalar ones above, and a handler gets what a protobuf
 * request would give it. A nested message gets a 5-byte length before its
 * fields (a varint padded with 0x80 bytes, which protobuf allows), filled
 * in at its close; lists are written unpacked. The payload's text and its
 * protobuf are each at most GS_MAX_VALUE bytes. */

static int jl_deep(const gs_desc *d)
{
    unsigned i;
    for (i = 0; i < d->nfields; i++)
        if (d->fields[i].flags & GS_REPEATED || d->fields[i].type == GS_MESSAGE) return 1;
    return 0;
}

static int jl_deep_fail(gs_node *n, int status, const char *why)
{
    n->jl.deep_status = status;
    n->jl.deep_why = why;
    return status;
}

/* Room for n more bytes of protobuf. */
static char *jl_deep_room(gs_node *n, size_t need)
{
    if (need > sizeof n->jl.deep_pb - n->jl.pb_len) {
        jl_deep_fail(n, GS_RESOURCE_EXHAUSTED,
                     put_limit_text(n->why, "request larger than ", GS_MAX_VALUE, " bytes as protobuf"));
        return NULL;
    }
    return n->jl.deep_pb + n->jl.pb_len;
}

/* The message type of the object being read. */
static const gs_desc *jl_deep_desc(const gs_node *n)
{
    const gs_jl_frame *top = &n->jl.frames[n->jl.nframes - 1];
    return top->f ? top->f->msg : n->jl.deep_desc;
}

/* Asks for the next value, a member's or an element's, of field f. */
static void jl_deep_want(gs_node *n, const gs_field *f)
{
    gs_json *j = &n->jl.object_scan;
    if (f->type == GS_STRING || f->type == GS_BYTES) gs_json_want(j, n->jl.cap_bufs[0], GS_MAX_VALUE);
    else gs_json_want(j, n->jl.deep_small, sizeof n->jl.deep_small);
}

static void jl_deep_member(gs_node *n)
{
    gs_json *j = &n->jl.object_scan;
    const gs_desc *d = jl_deep_desc(n);
    unsigned i;
    n->jl.pending = NULL;
    for (i = 0; i < d->nfields && !j->key_over; i++) {
        const gs_field *f = &d->fields[i];
        if (strlen(f->name) == j->key_len && memcmp(f->name, j->key, j->key_len) == 0) {
            n->jl.pending = f;
            jl_deep_want(n, f);
            return;
        }
    }
}

/* A scalar element or member: checked as a top-level field would be,
 * then written with its key. */
static void jl_deep_scalar(gs_node *n, const gs_field *f)
{
    gs_json *j = &n->jl.object_scan;
    gs_field one = *f;              /* an element is read as a singular field */
    gs_capture c;
    gs_value v;
    const char *why = NULL;
    char *d;
    int status;
    one.flags &= ~(unsigned)GS_REPEATED;
    memset(&c, 0, sizeof c);
    c.v.kind = j->kind;
    c.v.over = j->str_over;
    c.v.len = j->str_len;
    c.v.num_neg = j->num_neg, c.v.num_int = j->num_int, c.v.num_big = j->num_big;
    c.v.num_mag = j->num_mag;
    c.buf = f->type == GS_STRING || f->type == GS_BYTES ? n->jl.cap_bufs[0] : n->jl.deep_small;
    status = one.type == GS_MESSAGE ? GS_INVALID_ARGUMENT : jl_decode_field(n, &one, &c, &v, &why);
    if (one.type == GS_MESSAGE) why = jl_field_error(n, f->name, " must be an object");
    if (status != GS_OK) {
        jl_deep_fail(n, status, why);
        return;
    }
    if (pb_wire_of(f->type) == PB_LEN) {
        d = jl_deep_room(n, 2 * PB_VARINT_MAX + v.s.n);
        if (!d) return;
        d = pb_put_key(d, f, PB_LEN);
        d = pb_put_varint(d, v.s.n);
        d = put_n(d, v.s.p, v.s.n);
    } else {
        d = jl_deep_room(n, 2 * PB_VARINT_MAX);
        if (!d) return;
        d = pb_put_key(d, f, pb_wire_of(f->type));
        d = pb_put_scalar(d, f->type, pb_bits(f->type, &v));
    }
    n->jl.pb_len = (size_t)(d - n->jl.deep_pb);
}

static void jl_deep_push(gs_node *n, const gs_field *f, int array)
{
    gs_json *j = &n->jl.object_scan;
    gs_jl_frame *fr = &n->jl.frames[n->jl.nframes++];
    fr->f = f;
    fr->array = (uint8_t)array;
    fr->len_at = 0;
    if (f && !array) {              /* a message: its key and a length to fill in */
        char *d = jl_deep_room(n, PB_VARINT_MAX + 5);
        if (!d) return;
        d = pb_put_key(d, f, PB_LEN);
        fr->len_at = (uint32_t)(d - n->jl.deep_pb);
        n->jl.pb_len = fr->len_at + 5;
    }
    if (array) gs_json_elements(j);
    if (f) gs_json_report_end(j);
}

/* A message closed: its length, as a 5-byte varint. */
static void jl_deep_pop(gs_node *n)
{
    gs_jl_frame *fr = &n->jl.frames[--n->jl.nframes];
    uint32_t len = (uint32_t)(n->jl.pb_len - fr->len_at - 5);
    unsigned char *d = (unsigned char *)n->jl.deep_pb + fr->len_at;
    unsigned i;
    if (!fr->f || fr->array) return;
    for (i = 0; i < 4; i++) d[i] = (unsigned char)((len >> (7 * i) & 0x7F) | 0x80);
    d[4] = (unsigned char)(len >> 28);
}

static void jl_deep_value(gs_node *n)
{
    gs_json *j = &n->jl.object_scan;
    const gs_jl_frame *top;
    const gs_field *f;
    int in_array, list;
    if (n->jl.nframes == 0) {                       /* the payload */
        if (j->kind == GS_JV_OBJECT) jl_deep_push(n, NULL, 0);
        else if (j->kind != GS_JV_NULL) jl_deep_fail(n, GS_INVALID_ARGUMENT, jl_not_object(n->jl.deep_container));
        return;
    }
    top = &n->jl.frames[n->jl.nframes - 1];
    in_array = top->array;
    f = in_array ? top->f : n->jl.pending;
    list = (f->flags & GS_REPEATED) && !in_array;   /* the value must be an array */
    if (j->kind == GS_JV_NULL) {
        if (in_array) jl_deep_fail(n, GS_INVALID_ARGUMENT, jl_field_error(n, f->name, " has a null element"));
        return;                                     /* a default */
    }
    if (list && j->kind != GS_JV_ARRAY) {
        jl_deep_fail(n, GS_INVALID_ARGUMENT, jl_field_error(n, f->name, " must be a list"));
    } else if (list) {
        jl_deep_push(n, f, 1);
    } else if (j->kind == GS_JV_OBJECT && f->type == GS_MESSAGE) {
        jl_deep_push(n, f, 0);
    } else {
        jl_deep_scalar(n, f);       /* a wrong kind (an array, an object) says so */
    }
}

static void jl_deep_event(gs_node *n, int ev, int container)
{
    if (n->jl.deep_status != GS_OK) return;         /* scanned to the end, nothing kept */
    n->jl.deep_container = (uint8_t)container;
    switch (ev) {
    case GS_JSON_MEMBER: jl_deep_member(n); break;
    case GS_JSON_ELEMENT: jl_deep_want(n, n->jl.frames[n->jl.nframes - 1].f); break;
    case GS_JSON_VALUE: jl_deep_value(n); break;
    case GS_JSON_END: jl_deep_pop(n); break;
    default: break;
    }
}

/* A deep request from its JSON text p[0..len) (the payload object). */
static int jl_decode_deep(gs_node *n, unsigned mi, int container, const char *p, size_t len,
                          gs_msg *msg, const char **why)
{
    const gs_desc *d = n->methods[mi]->in;
    int status;
    n->jl.deep_desc = d;
    n->jl.pb_len = 0;
    n->jl.nframes = 0;
    n->jl.deep_status = GS_OK;
    status = jl_scan_whole(n, p, len, jl_deep_event, container, why);
    if (status != GS_OK) return status;
    if (n->jl.deep_status != GS_OK) {
        *why = n->jl.deep_why;
        return n->jl.deep_status;
    }
    return pb_decode(d, n->jl.deep_pb, n->jl.pb_len, msg, why, n->why, sizeof n->why);
}

/* Fills *msg from the captured fields of payload `container`. */
static int jl_decode_payload(gs_node *n, unsigned mi, int container, gs_msg *msg,
                             const char **why)
{
    const gs_desc *desc = n->methods[mi]->in;
    uint8_t kind = n->jl.line.payload[container].kind;
    unsigned i;
    if (kind && kind != GS_JV_NULL && kind != GS_JV_OBJECT) {
        *why = jl_not_object(container);
        return GS_INVALID_ARGUMENT;
    }
    if (n->jl.deep[mi] && kind == GS_JV_OBJECT) {   /* its text was kept whole */
        if (n->jl.raw_over) {
            *why = put_limit_text(n->why, "request larger than ", GS_MAX_VALUE, " bytes");
            return GS_RESOURCE_EXHAUSTED;
        }
        return jl_decode_deep(n, mi, container, n->jl.raw, n->jl.raw_len, msg, why);
    }
    pb_clear(desc, msg);
    for (i = 0; i < desc->nfields; i++) {
        gs_capture *c = &n->jl.caps[n->jl.method_caps[mi][i]];
        int status;
        if (kind != GS_JV_OBJECT || !c->v.kind || c->v.kind == GS_JV_NULL) continue;
        if (desc->fields[i].type == GS_STRING && c->v.kind == GS_JV_STRING && !c->v.over) {
            msg->v[i].s.p = c->buf;             /* the common case, without a call */
            msg->v[i].s.n = c->v.len;
            continue;
        }
        status = jl_decode_field(n, &desc->fields[i], c, &msg->v[i], why);
        if (status != GS_OK) return status;
    }
    return GS_OK;
}

#if GS_MAX_CONNS > 0
/* Scanner events of a +json message, read as a line's payload would be:
 * members at depth 1 are stored in payload `container`'s captures. */
static void jl_capture_event(gs_node *n, int ev, int container)
{
    gs_json *j = &n->jl.object_scan;
    if (ev != GS_JSON_VALUE) return;    /* only the top value is reported */
    n->jl.line.payload[container].kind = j->kind;
    if (j->kind == GS_JV_OBJECT)
        gs_json_expect(j, n->jl.payload_keys[container], n->jl.npayload_keys[container]);
}

/* A JSON object that came whole (an HTTP/2 +json message) decoded by
 * method mi's descriptor, with the checks and texts of a line's payload.
 * It uses the payload captures (or, for a deep type, the second pass's
 * buffers): a node should not be fed a JSON line in part while it
 * decodes one. */
static int jl_decode_object(gs_node *n, unsigned mi, int container, const char *p, size_t len,
                            gs_msg *msg, const char **why)
{
    int status;
    if (n->jl.deep[mi]) return jl_decode_deep(n, mi, container, p, len, msg, why);
    jl_reset_payload(n, container);
    status = jl_scan_whole(n, p, len, jl_capture_event, container, why);
    return status != GS_OK ? status : jl_decode_payload(n, mi, container, msg, why);
}
#endif


/* ----- handlers, one per request type ---------------------------------- */

static const char *const jl_kind_mismatch[] = {
    "method is not unary", "method is not server-streaming",
    "method is not bidi-streaming"
};

static jl_addr jl_line_addr(gs_node *n)
{
    jl_addr a;
    a.dest = n->jl.line.src.buf;
    a.dest_len = n->jl.line.src.v.len;
    a.reply_to = &n->jl.line.msg_id;
    return a;
}

static void jl_error(gs_node *n, int code, const char *text)
{
    jl_addr a = jl_line_addr(n);
    jl_reply_error(n, &a, code, text);
}

static const char *jl_too_deep(gs_node *n)
{
    return put_limit_text(n->why, "nesting deeper than ", GS_MAX_DEPTH, "");
}

/* A call that fails before it has a stream: trailers only. */
static void jl_call_failed(gs_node *n, int type, int status, const char *why)
{
    jl_addr a = jl_line_addr(n);
    size_t why_len = core_why_len(why);
    if (type == M_CALL) jl_write_call_failed(n, &a, status, why, why_len);
    else jl_write_end(n, &a, 0, 0, status, why, why_len);
}

static void jl_on_init(gs_node *n)
{
    gs_line *l = &n->jl.line;
    jl_addr a = jl_line_addr(n);
    if (jl_state(&l->node_id.v) == V_LONG) {
        jl_error(n, E_MALFORMED, put_limit_text(n->why, "node_id longer than ", GS_MAX_ID, " bytes"));
        return;
    }
    if (jl_state(&l->node_id.v) != V_OK) { jl_error(n, E_MALFORMED, "node_id must be a string"); return; }
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    if (!n->jl.initialised) {
        n->jl.head_len = jl_put_head(n->jl.head, l->node_id.buf, l->node_id.v.len);
        n->jl.initialised = 1;
    }
    jl_reply_end(n, jl_reply_begin(n, &a, JL_TYPE("init_ok")));
}

/* The stream a request names, if it may use it; otherwise answers the
 * request itself and returns NULL. *closed is set for a closed id. */
static gs_stream *jl_named_stream(gs_node *n, int *closed)
{
    gs_idbuf *b = &n->jl.line.stream_id;
    uint64_t id = 0;
    size_t i;
    gs_stream *s;
    int state = jl_state(&b->v);
    *closed = 0;
    if (state == V_ABSENT || state == V_NOT_STRING) {
        jl_error(n, E_MALFORMED, "stream_id must be a string");
        return NULL;
    }
    if (state == V_OK && b->v.len >= 2 && b->v.len <= 20 && b->buf[0] == 's' && b->buf[1] != '0') {
        for (i = 1; i < b->v.len && b->buf[i] >= '0' && b->buf[i] <= '9'; i++)
            id = id * 10 + (uint64_t)(b->buf[i] - '0');
        if (i < b->v.len) id = 0;
    }
    if (id == 0 || id > n->jl.last_stream_id) {
        jl_error(n, E_NO_KEY, "unknown stream");
        return NULL;
    }
    s = jl_stream_by_id(n, id);
    if (!s) {
        *closed = 1;
        return NULL;
    }
    if (s->fe.jl.owner_len != n->jl.line.src.v.len ||
        !same_bytes(s->fe.jl.owner, n->jl.line.src.buf, s->fe.jl.owner_len)) {
        jl_error(n, E_NO_KEY, "unknown stream");
        return NULL;
    }
    return s;
}

/* For send and close: the stream must be OPEN. */
static gs_stream *jl_open_stream(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    if (closed) jl_error(n, E_PRECONDITION, "stream is closed");
    else if (s && s->state != GS_OPEN) {
        jl_error(n, E_PRECONDITION, "stream is half-closed");
        s = NULL;
    }
    if (s && n->jl.scan.too_deep && n->jl.line.type_id != M_BIDI_SEND) {
        jl_error(n, E_MALFORMED, jl_too_deep(n));
        s = NULL;
    }
    return s;
}

static void jl_on_state(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    jl_addr a = jl_line_addr(n);
    char *d;
    if (!s && !closed) return;
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    d = jl_reply_begin(n, &a, JL_TYPE("grpc_stream_state_ok"));
    d = PUT_KEY(d, "stream_id");
    d = gs_json_put_str(d, n->jl.line.stream_id.buf, n->jl.line.stream_id.v.len);
    d = PUT_KEY(d, "state");
    d = put(d, !s ? "\"CLOSED\"" : s->state == GS_OPEN ? "\"OPEN\"" : "\"HALF_CLOSED\"");
    jl_reply_end(n, d);
}

static void jl_on_cancel(gs_node *n)
{
    int closed;
    gs_stream *s = jl_named_stream(n, &closed);
    if (closed) { jl_error(n, E_PRECONDITION, "stream is closed"); return; }
    if (!s) return;
    if (n->jl.scan.too_deep) { jl_error(n, E_MALFORMED, jl_too_deep(n)); return; }
    core_cancel(n, s);
}

static void jl_on_close(gs_node *n)
{
    gs_stream *s = jl_open_stream(n);
    if (s) core_half_close(n, s);
}

/* A client stream took a message: the send is answered without data. */
static void jl_send_ok(gs_node *n, gs_stream *s)
{
    jl_addr a = jl_line_addr(n);
    jl_reply_end(n, jl_put_stream_id(jl_reply_begin(n, &a, JL_TYPE("grpc_bidi_stream_send_ok")), s->fe.jl.id));
}

static void jl_on_send(gs_node *n)
{
    gs_stream *s = jl_open_stream(n);
    gs_msg in;
    const char *why = NULL;
    int status;
    if (!s) return;
    if (n->jl.scan.too_deep) status = GS_RESOURCE_EXHAUSTED, why = jl_too_deep(n);
    else status = jl_decode_payload(n, s->method_index, C_DATA, &in, &why);
    if (status != GS_OK) core_end(n, s, 1, status, why);
    else if (core_deliver(n, s, &in) == GS_AGAIN) jl_send_ok(n, s);
}

/* grpc_bidi_stream_open opens client streams too (README "Per type"). */
static int jl_kind_fits(gs_kind method, gs_kind asked)
{
    return method == asked || (asked == GS_BIDI_STREAMING && method == GS_CLIENT_STREAMING);
}

/* The checks every call makes before it runs (method, kind, depth,
 * payload, deadline, a free slot), then admission. Returns the stream,
 * or NULL after answering. */
static gs_stream *jl_admit(gs_node *n, int type, gs_kind kind, gs_msg *req)
{
    gs_line *l = &n->jl.line;
    const char *why = NULL;
    int status = GS_OK, mi = -1;
    gs_stream *s = NULL;
    if (jl_state(&l->service.v) == V_OK && jl_state(&l->method.v) == V_OK)
        mi = core_find(n, l->service.buf, l->service.v.len, l->method.buf, l->method.v.len);
    if (mi < 0) status = GS_UNIMPLEMENTED, why = "unknown method";
    else if (!jl_kind_fits(n->methods[mi]->kind, kind)) status = GS_UNIMPLEMENTED, why = jl_kind_mismatch[kind];
    else if (n->jl.scan.too_deep) status = GS_RESOURCE_EXHAUSTED, why = jl_too_deep(n);
    else if (kind != GS_BIDI_STREAMING) status = jl_decode_payload(n, (unsigned)mi, C_REQUEST, req, &why);
    if (status == GS_OK && kind != GS_UNARY && l->timeout.kind && !jl_timeout_ok(&l->timeout))
        status = GS_INVALID_ARGUMENT, why = "timeout_ms must be a positive integer";
    if (status == GS_OK) {
        uint64_t timeout = kind != GS_UNARY && jl_timeout_ok(&l->timeout) ? l->timeout.num_mag : 0;
        s = core_admit(n, (unsigned)mi, FE_JSON, timeout);
        if (!s) status = GS_RESOURCE_EXHAUSTED, why = "all stream slots are busy";
    }
    if (!s) {
        jl_call_failed(n, type, status, why);
        return NULL;
    }
    s->fe.jl.id = 0;
    s->fe.jl.opened_by = l->msg_id;
    s->fe.jl.owner_len = l->src.v.len;
    memcpy(s->fe.jl.owner, l->src.buf, l->src.v.len);
    return s;
}

/* A stream that outlives its request gets an id, told in `type`. */
static void jl_open_ok(gs_node *n, gs_stream *s, const char *body, size_t body_len)
{
    jl_addr a = jl_line_addr(n);
    jl_assign_id(n, s);
    jl_reply_end(n, jl_put_stream_id(jl_reply_begin(n, &a, body, body_len), s->fe.jl.id));
}

static void jl_on_server_stream(gs_node *n)
{
    gs_msg req;
    gs_stream *s = jl_admit(n, M_SERVER_STREAM, GS_SERVER_STREAMING, &req);
    if (s && core_start(n, s, &req) == GS_OK && s->follows)
        jl_open_ok(n, s, JL_TYPE("grpc_server_stream_open_ok"));
}

static void jl_on_bidi_open(gs_node *n)
{
    gs_stream *s = jl_admit(n, M_BIDI_OPEN, GS_BIDI_STREAMING, NULL);
    /* a failed start ended the call: that end replaces the open_ok */
    if (s && core_start(n, s, NULL) == GS_OK) jl_open_ok(n, s, JL_TYPE("grpc_bidi_stream_open_ok"));
}

static void jl_on_call(gs_node *n)
{
    gs_msg req;
    gs_stream *s = jl_admit(n, M_CALL, GS_UNARY, &req);
    if (s) core_unary(n, s, &req);
}

static int jl_is_type(int i, const gs_namebuf *t)
{
    size_t len = t->v.len;
    return jl_type_names[i].len == len && jl_type_names[i].name[len - 1] == t->buf[len - 1] &&
           same_bytes(jl_type_names[i].name, t->buf, len);
}

/* The request type a line names: first the last line's (type_id still
 * holds it: a session sends runs of one type), then each; names of one
 * length differ in their last byte, so one compare runs. */
static int jl_type_of(const gs_line *l)
{
    int i;
    if (l->type_id < M_UNKNOWN && jl_is_type(l->type_id, &l->type)) return l->type_id;
    for (i = 0; i < M_UNKNOWN; i++)
        if (jl_is_type(i, &l->type)) return i;
    return M_UNKNOWN;
}

/* A whole line was read: the checks of README "Order of checks". */
static void jl_on_line(gs_node *n)
{
    gs_line *l = &n->jl.line;
    int status = n->jl.scan.status, type_state;
    if (status == GS_JL_BLANK) return;
    l->msg_id.has = jl_msg_id_ok(&l->msg_id_value);
    l->msg_id.neg = l->msg_id_value.num_neg;
    l->msg_id.mag = l->msg_id_value.num_mag;
    if (status == GS_JL_OK && (l->top.kind != GS_JV_OBJECT)) { report(n, "line is not a JSON object"); return; }
    if (jl_state(&l->src.v) != V_OK) { report(n, status == GS_JL_OK ? "src missing, not a string or too long" : "invalid JSON, src not recoverable"); return; }
    if (!n->jl.initialised && jl_state(&l->dest.v) != V_OK) { report(n, "no usable dest to sign a reply before init"); return; }
    if (status == GS_JL_ERROR) {
        l->msg_id.has = 0;
        jl_error(n, E_MALFORMED, "invalid JSON");
        return;
    }
    if (l->body.kind != GS_JV_OBJECT) { l->msg_id.has = 0; jl_error(n, E_MALFORMED, "body must be an object"); return; }
    if (l->msg_id_value.kind && !l->msg_id.has) { jl_error(n, E_MALFORMED, "msg_id must be a 64-bit integer"); return; }
    type_state = jl_state(&l->type.v);
    if (type_state != V_OK && type_state != V_LONG) { jl_error(n, E_MALFORMED, "type must be a string"); return; }
    l->type_id = (uint8_t)(type_state == V_OK ? jl_type_of(l) : M_UNKNOWN);
    if (l->type_id == M_UNKNOWN) { jl_error(n, E_NOT_SUPPORTED, "unknown message type"); return; }
    if (!n->jl.initialised && l->type_id != M_INIT) { jl_error(n, E_UNAVAILABLE, "node not initialised"); return; }
    switch (l->type_id) {
    case M_INIT: jl_on_init(n); break;
    case M_SERVER_STREAM: jl_on_server_stream(n); break;
    case M_BIDI_OPEN: jl_on_bidi_open(n); break;
    case M_BIDI_SEND: jl_on_send(n); break;
    case M_BIDI_CLOSE: jl_on_close(n); break;
    case M_CANCEL: jl_on_cancel(n); break;
    case M_STATE: jl_on_state(n); break;
    case M_CALL: jl_on_call(n); break;
    }
}

/* ----- registration and the node's input ------------------------------- */

/* The JSON front end reads a method's input fields from `request` (unary,
 * server streaming) or `data` (bidi): one capture per (container, name),
 * with a GS_MAX_VALUE buffer for strings. */
static int jl_capture_index(const gs_node *n, int container, const char *name)
{
    unsigned i;
    for (i = 0; i < n->jl.ncaps; i++)
        if (n->jl.caps[i].container == container && strcmp(n->jl.caps[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Whether a field's capture needs a GS_MAX_VALUE buffer (strings and
 * bytes; other scalars' text fits a capture's small one). */
static int jl_needs_big(const gs_field *f) { return f->type == GS_STRING || f->type == GS_BYTES; }

/* Whether the captures a message type needs fit what is left. */
static int jl_captures_fit(const gs_node *n, int container, const gs_desc *d)
{
    unsigned i, caps = n->jl.ncaps, strings = n->jl.nstring_caps;
    for (i = 0; i < d->nfields; i++) {
        int c = jl_capture_index(n, container, d->fields[i].name);
        if (c < 0) caps++;
        if (jl_needs_big(&d->fields[i]) && (c < 0 || n->jl.caps[c].buf == n->jl.caps[c].small))
            strings++;
    }
    return caps <= GS_MAX_CAPTURES && strings <= GS_MAX_STRING_CAPTURES;
}

static uint8_t jl_capture_for(gs_node *n, int container, const gs_field *f)
{
    int i = jl_capture_index(n, container, f->name);
    gs_capture *c;
    if (i < 0) {
        i = (int)n->jl.ncaps++;
        c = &n->jl.caps[i];
        memset(c, 0, sizeof *c);
        c->container = (uint8_t)container;
        c->name = f->name;
        c->buf = c->small;
    }
    c = &n->jl.caps[i];
    if (jl_needs_big(f) && c->buf == c->small) c->buf = n->jl.cap_bufs[n->jl.nstring_caps++];
    return (uint8_t)i;
}

/* This front end's part of gs_register: the captures method mi reads; its
 * worst reply must fit GS_REPLY_MAX. Takes nothing when it fails. */
static int jl_register(gs_node *n, unsigned mi, const gs_method *m)
{
    unsigned i;
    int container = core_streams_in(m->kind) ? C_DATA : C_REQUEST;
    int deep = jl_deep(m->in);      /* read in a second pass: no captures */
    if (!deep && !jl_captures_fit(n, container, m->in)) return -1;
    for (i = 0; !deep && i < m->in->nfields; i++)
        n->jl.method_caps[mi][i] = jl_capture_for(n, container, &m->in->fields[i]);
    n->jl.measured[mi] = !jl_bounded(m->out) || jl_reply_room(m->out) > GS_REPLY_MAX;
    n->jl.deep[mi] = (uint8_t)deep;
    n->jl.deep_in[container] |= (uint8_t)deep;
    jl_expect_captures(n);
    return 0;
}

static void jl_init(gs_node *n)
{
    int i;
    n->jl.initialised = 0;
    n->jl.msg_id[0] = '0';
    n->jl.msg_id_len = 1;
    n->jl.start.body = NULL;
    n->jl.last_stream_id = 0;
    n->jl.ncaps = n->jl.nstring_caps = 0;
    n->jl.deep_in[C_REQUEST] = n->jl.deep_in[C_DATA] = 0;
    n->jl.out_len = 0;
    for (i = 0; i < GS_MAX_STREAMS; i++) n->jl.buckets[i] = -1;
    gs_json_reset(&n->jl.scan);
    jl_expect_init(n);
    jl_learn_anew(n);
    jl_reset_line(n);
}

/* Reads input until it is used up or the output needs draining. */
static size_t jl_feed(gs_node *n, const char *in, size_t len)
{
    const char *p = in, *end = in + len;
    while (p < end && (n->urgent_len == 0 || core_run_urgent(n)) && jl_room(n) == ROOM_OK) {
        const char *from = p;
        int ev = gs_json_next(&n->jl.scan, &p, end);
        if (n->jl.raw_on) jl_raw_add(n, from, p);
        switch (ev) {
        case GS_JSON_VALUE: jl_on_value(n); break;
        case GS_JSON_END: n->jl.raw_on = 0; break;      /* the kept payload closed */
        case GS_JSON_LINE:
            jl_on_line(n);
            jl_reset_line(n);
            if (n->runq_len) gs_pump(n);    /* long streams go on between lines */
            break;
        default: break;
        }
    }
    core_run_urgent(n);
    return (size_t)(p - in);
}

#if GS_MAX_CONNS > 0
/* ===================================================================== */
/* 10. gRPC over HTTP/2: header values                                    */
/* ===================================================================== */

/*
 * Owns: the value syntax of three headers from gRPC's PROTOCOL-HTTP2.md:
 * grpc-timeout (parse), grpc-message (percent-encode and -decode) and
 * content-type (classify).
 *
 * Does not own: HTTP/2 framing, HPACK, header names, trimming whitespace
 * around values (HPACK hands values over as sent), or what to answer:
 * the caller maps the results to HTTP 415, DEADLINE_EXCEEDED, etc.
 */

/*
 * grpc_timeout_parse reads a grpc-timeout value: TimeoutValue (1 to 8
 * ASCII digits; leading zeros allowed) then TimeoutUnit, one of
 * H M S m u n. *ms is the timeout in milliseconds rounded up, so no
 * non-zero timeout becomes 0 (1n -> 1 ms, 1001u -> 2 ms). Returns 0, or -1
 * (nothing stored) for an empty value, no digits, 9 or more digits, a sign,
 * spaces, an unknown unit or bytes after it.
 *
 * A zero value (0S, 00n, ...) gives *ms = 0 and means the deadline has
 * already passed: the call ends DEADLINE_EXCEEDED at once. The spec says
 * "positive integer", but grpc-go accepts 0 and its context is then done
 * immediately; rejecting it would turn a client's "no time left" into
 * "no deadline". The caller must not store 0 as "no deadline" (gs_stream
 * uses deadline 0 for none).
 *
 * 99999999H is 3.6e14 ms: no overflow.
 */
static int grpc_timeout_parse(const char *s, size_t n, uint64_t *ms)
{
    uint64_t v = 0;
    size_t i;
    if (n < 2 || n > 9) return -1;
    for (i = 0; i + 1 < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    switch (s[n - 1]) {
    case 'H': v *= 3600000; break;
    case 'M': v *= 60000; break;
    case 'S': v *= 1000; break;
    case 'm': break;
    case 'u': v = (v + 999) / 1000; break;
    case 'n': v = (v + 999999) / 1000000; break;
    default: return -1;
    }
    *ms = v;
    return 0;
}

/* A grpc-message byte that goes as itself: 0x20..0x7E except '%'. */
static int grpc_plain(unsigned char c) { return c >= 0x20 && c <= 0x7E && c != '%'; }

/*
 * grpc_percent_encode writes s[0..n) as a grpc-message value at d (3 * n
 * bytes of room at worst) and returns the end: '%' and bytes outside
 * 0x20..0x7E become %XX, upper-case hex. Bytes are encoded one by one, so
 * UTF-8 passes through as its bytes; invalid UTF-8 is not replaced.
 */
static char *grpc_percent_encode(char *d, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (grpc_plain(c)) {
            *d++ = (char)c;
        } else {
            *d++ = '%';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    return d;
}

/* ----- custom metadata ---------------------------------------------------- */

/* Whether a metadata key ends in -bin (its value is binary). */
static int grpc_md_binary(const char *k, size_t n) { return n >= 4 && memcmp(k + n - 4, "-bin", 4) == 0; }

/* Whether a custom metadata key is one a handler may see or set: a
 * lower-case name (a-z 0-9 - _ .) that gRPC and HTTP/2 do not reserve. */
static int grpc_md_custom(const char *k, size_t n)
{
    static const char *const reserved[] = { "content-type", "content-length", "te", "connection",
                                            "keep-alive", "proxy-connection", "transfer-encoding",
                                            "upgrade", "host" };
    size_t i;
    if (n == 0 || n > 255 || (n >= 5 && memcmp(k, "grpc-", 5) == 0)) return 0;
    for (i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' ||
              k[i] == '_' || k[i] == '.')) return 0;
    for (i = 0; i < LEN(reserved); i++)
        if (strlen(reserved[i]) == n && memcmp(reserved[i], k, n) == 0) return 0;
    return 1;
}

/* Metadata entries in a GS_METADATA buffer: a tag byte, the key's length,
 * the value's length (2 bytes, big-endian), the key, the value. */
#define GRPC_MD_ENTRY 4

/* Writes an entry's head and key at d (its value follows them). */
static void grpc_md_head(char *d, int tag, const char *k, size_t kn, size_t vn)
{
    d[0] = (char)tag;
    d[1] = (char)kn;
    d[2] = (char)(vn >> 8);
    d[3] = (char)(vn & 255);
    memcpy(d + GRPC_MD_ENTRY, k, kn);
}

/* Appends an entry to a buffer of `cap` bytes if it fits; returns 0, or -1. */
static int grpc_md_add(char *buf, size_t cap, uint16_t *len, int tag, const char *k, size_t kn,
                       const char *v, size_t vn)
{
    char *d = buf + *len;
    if (kn > 255 || vn > 65535 || GRPC_MD_ENTRY + kn + vn > cap - *len) return -1;
    grpc_md_head(d, tag, k, kn, vn);
    memcpy(d + GRPC_MD_ENTRY + kn, v, vn);
    *len = (uint16_t)(*len + GRPC_MD_ENTRY + kn + vn);
    return 0;
}

/* Walks entries: *at is the offset of the next (0 first); returns 0 at
 * the end, else 1 with the entry's tag, key and value. */
static int grpc_md_next(const char *buf, size_t len, size_t *at, int *tag, const char **k,
                        size_t *kn, const char **v, size_t *vn)
{
    const unsigned char *e = (const unsigned char *)buf + *at;
    if (*at >= len) return 0;
    *tag = e[0];
    *kn = e[1];
    *vn = (size_t)e[2] << 8 | e[3];
    *k = buf + *at + GRPC_MD_ENTRY;
    *v = *k + *kn;
    *at += GRPC_MD_ENTRY + *kn + *vn;
    return 1;
}

enum { GRPC_CT_BAD = 0, GRPC_CT_PROTO = 1, GRPC_CT_JSON = 2 };

/* Whether s[0..n) is lit, ASCII letters in any case (media types are
 * case-insensitive, RFC 9110 8.3.1). lit is lower case. */
static int grpc_ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    if (strlen(lit) != n) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != lit[i]) return 0;
    }
    return 1;
}

/*
 * grpc_content_type classifies a content-type value:
 *   application/grpc, application/grpc+proto, application/grpc+   PROTO
 *   application/grpc+json                                         JSON
 *   anything else                                                 BAD
 * Case-insensitive. Parameters are allowed and ignored: after the type,
 * optional spaces/tabs then ';' and anything ("application/grpc;
 * charset=utf-8", "application/grpc+json; charset=utf-8").
 *
 * grpc-go, for comparison: it accepts anything that is application/grpc
 * or starts with application/grpc+ or application/grpc; and takes the rest
 * as the codec name; a name it has no codec for (which includes every
 * parameter list, "charset=utf-8", and "json; charset=utf-8") falls back
 * to proto with a warning that this "will start to fail". Here parameters
 * are parsed off instead, and an unknown codec (+thrift) is BAD now. The
 * spec says a server SHOULD answer HTTP 415 when the value does not begin
 * with application/grpc; answering BAD values with 415 covers that.
 */
static int grpc_content_type(const char *s, size_t n)
{
    static const char base[] = "application/grpc";
    size_t b = sizeof base - 1, end;
    const char *sub;
    size_t sub_n;
    if (n < b || !grpc_ieq(s, b, base)) return GRPC_CT_BAD;
    /* The subtype runs from after '+' to the parameters or the end. */
    end = b;
    while (end < n && s[end] != ';' && s[end] != ' ' && s[end] != '\t') end++;
    sub = s + b;
    sub_n = end - b;
    while (end < n && (s[end] == ' ' || s[end] == '\t')) end++;
    if (end < n && s[end] != ';') return GRPC_CT_BAD;     /* "grpc x" */
    if (sub_n == 0) return GRPC_CT_PROTO;                 /* "grpc" "grpc;..." */
    if (sub[0] != '+') return GRPC_CT_BAD;                /* "grpcfoo", "grpc-web" */
    sub++, sub_n--;
    if (sub_n == 0 || grpc_ieq(sub, sub_n, "proto")) return GRPC_CT_PROTO;
    if (grpc_ieq(sub, sub_n, "json")) return GRPC_CT_JSON;
    return GRPC_CT_BAD;
}

/* ===================================================================== */
/* 11. HPACK (RFC 7541): header compression for HTTP/2                    */
/* ===================================================================== */
/*
 * This section owns the HPACK coding of header blocks: prefixed integers
 * (5.1), string literals raw or Huffman coded (5.2, Appendix B), the static
 * table (Appendix A), dynamic tables with their eviction rules (4), a
 * decoder for the header blocks a connection receives and an encoder for
 * the ones it sends.
 *
 * The decoder is a push scanner with fixed memory: feed it the bytes of a
 * header block in pieces split anywhere (HEADERS and CONTINUATION payloads
 * as TCP delivers them) and it returns one field at a time, copied into its
 * own name and value buffers. A string longer than GS_MAX_HEADER is decoded
 * and counted but not stored; a block larger than the caller's header list
 * limit is decoded to its end all the same (the compression context must
 * stay in sync) and flagged. Work is linear in the input.
 *
 * The encoder writes one field at a time; the server uses it without a
 * dynamic table (literals without indexing), the tests with one.
 *
 * Not here: HTTP/2 framing (which frames make a block, their padding and
 * flags), SETTINGS (the caller advertises GS_HPACK_TABLE as
 * SETTINGS_HEADER_TABLE_SIZE and chooses SETTINGS_MAX_HEADER_LIST_SIZE),
 * and what fields mean or whether HTTP/2 allows them (upper-case names,
 * pseudo-header order, connection-specific fields): the caller checks.
 * Integers above 2^32 - 1, hence strings of 4 GiB or more, are refused.
 */

/* hp_decode's results. */
enum { HP_MORE = 0, HP_FIELD = 1, HP_ERR_COMPRESSION = -1 };

/* How hp_encode represents a field. */
enum { HP_NO_INDEX, HP_INDEX, HP_NEVER_INDEX };

enum {
    HP_H2_TABLE = 4096,     /* HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE */
    HP_STATIC = 61,         /* entries of the static table */
    HP_ENTRY = 32,          /* what an entry costs beyond its bytes (4.1) */
    HP_INT_MAX = 11         /* bytes of the longest integer hp_encode writes */
};

/* Decoder states, representations and what an integer is for. */
enum { HP_S_REP, HP_S_INT, HP_S_STRLEN, HP_S_STR, HP_S_ERR };
enum { HP_R_INDEXED, HP_R_INC, HP_R_NOINC, HP_R_NEVER, HP_R_SIZE };
enum { HP_I_INDEX, HP_I_NAME, HP_I_STRLEN, HP_I_SIZE };

/* --------------------------------------------------------------------- */
/* The static table (Appendix A): index i + 1 is hp_static[i].            */
/* --------------------------------------------------------------------- */

typedef struct {
    const char *name, *value;
    uint8_t nlen, vlen;
} gs_hpack_static;

#define GS_HPACK_ST(n, v) { n, v, sizeof n - 1, sizeof v - 1 }
static const gs_hpack_static hp_static[HP_STATIC] = {
    GS_HPACK_ST(":authority", ""),
    GS_HPACK_ST(":method", "GET"),
    GS_HPACK_ST(":method", "POST"),
    GS_HPACK_ST(":path", "/"),
    GS_HPACK_ST(":path", "/index.html"),
    GS_HPACK_ST(":scheme", "http"),
    GS_HPACK_ST(":scheme", "https"),
    GS_HPACK_ST(":status", "200"),
    GS_HPACK_ST(":status", "204"),
    GS_HPACK_ST(":status", "206"),
    GS_HPACK_ST(":status", "304"),
    GS_HPACK_ST(":status", "400"),
    GS_HPACK_ST(":status", "404"),
    GS_HPACK_ST(":status", "500"),
    GS_HPACK_ST("accept-charset", ""),
    GS_HPACK_ST("accept-encoding", "gzip, deflate"),
    GS_HPACK_ST("accept-language", ""),
    GS_HPACK_ST("accept-ranges", ""),
    GS_HPACK_ST("accept", ""),
    GS_HPACK_ST("access-control-allow-origin", ""),
    GS_HPACK_ST("age", ""),
    GS_HPACK_ST("allow", ""),
    GS_HPACK_ST("authorization", ""),
    GS_HPACK_ST("cache-control", ""),
    GS_HPACK_ST("content-disposition", ""),
    GS_HPACK_ST("content-encoding", ""),
    GS_HPACK_ST("content-language", ""),
    GS_HPACK_ST("content-length", ""),
    GS_HPACK_ST("content-location", ""),
    GS_HPACK_ST("content-range", ""),
    GS_HPACK_ST("content-type", ""),
    GS_HPACK_ST("cookie", ""),
    GS_HPACK_ST("date", ""),
    GS_HPACK_ST("etag", ""),
    GS_HPACK_ST("expect", ""),
    GS_HPACK_ST("expires", ""),
    GS_HPACK_ST("from", ""),
    GS_HPACK_ST("host", ""),
    GS_HPACK_ST("if-match", ""),
    GS_HPACK_ST("if-modified-since", ""),
    GS_HPACK_ST("if-none-match", ""),
    GS_HPACK_ST("if-range", ""),
    GS_HPACK_ST("if-unmodified-since", ""),
    GS_HPACK_ST("last-modified", ""),
    GS_HPACK_ST("link", ""),
    GS_HPACK_ST("location", ""),
    GS_HPACK_ST("max-forwards", ""),
    GS_HPACK_ST("proxy-authenticate", ""),
    GS_HPACK_ST("proxy-authorization", ""),
    GS_HPACK_ST("range", ""),
    GS_HPACK_ST("referer", ""),
    GS_HPACK_ST("refresh", ""),
    GS_HPACK_ST("retry-after", ""),
    GS_HPACK_ST("server", ""),
    GS_HPACK_ST("set-cookie", ""),
    GS_HPACK_ST("strict-transport-security", ""),
    GS_HPACK_ST("transfer-encoding", ""),
    GS_HPACK_ST("user-agent", ""),
    GS_HPACK_ST("vary", ""),
    GS_HPACK_ST("via", ""),
    GS_HPACK_ST("www-authenticate", "")
};
#undef GS_HPACK_ST

/* --------------------------------------------------------------------- */
/* The Huffman code (Appendix B).                                         */
/* --------------------------------------------------------------------- */
/*
 * The code is canonical: within a length, codes count up in symbol order,
 * and each length's first code follows on from the previous length's last.
 * So the 257 code lengths (symbol 256 is EOS) define it, and the rest are
 * small tables derived from them (tests/unit_hpack.c derives them again
 * and compares), 1.2 KB in all:
 *   hp_huff_base[L - 5]   the first code of length L (5..30)
 *   hp_huff_start[L - 5]  where length L's symbols start in hp_huff_sym
 *                         (hp_huff_start[L - 4] is where they end)
 *   hp_huff_sym           the symbols by code (EOS, the last, left out)
 *   hp_huff_rank[s]       s's place among the symbols of its length, so
 *                         its code is hp_huff_base[len - 5] + rank
 *   hp_huff_fast[b]       the symbol whose code starts the 8 bits b, when
 *                         that code is 8 bits or shorter; else 0 (a
 *                         symbol whose code is longer)
 */

static const uint8_t hp_huff_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,   /*   0 */
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,   /*  16 */
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,           /*  32 */
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,                /*  48 */
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                  /*  64 */
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,               /*  80 */
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,                  /*  96 */
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,              /* 112 */
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,   /* 128 */
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,   /* 144 */
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,   /* 160 */
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,   /* 176 */
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,   /* 192 */
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,   /* 208 */
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,   /* 224 */
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,   /* 240 */
    30                                                                /* 256 */
};

static const uint32_t hp_huff_base[26] = {
    0x0, 0x14, 0x5c, 0xf8, 0x1fc, 0x3f8,
    0x7fa, 0xffa, 0x1ff8, 0x3ffc, 0x7ffc, 0xfffe,
    0x1fffc, 0x3fff8, 0x7fff0, 0xfffe6, 0x1fffdc, 0x3fffd2,
    0x7fffd8, 0xffffea, 0x1ffffec, 0x3ffffe0, 0x7ffffde, 0xfffffe2,
    0x1ffffffe, 0x3ffffffc
};

static const uint16_t hp_huff_start[27] = {
    0, 10, 36, 68, 74, 74, 79, 82, 84,
    90, 92, 95, 95, 95, 95, 98, 106, 119,
    145, 174, 186, 190, 205, 224, 253, 253, 257
};

static const uint8_t hp_huff_sym[256] = {
    48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37,
    45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65,
    95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117,
    58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76,
    77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89,
    106, 107, 113, 118, 119, 120, 121, 122, 38, 42, 44, 59,
    88, 90, 33, 34, 40, 41, 63, 39, 43, 124, 35, 62,
    0, 36, 64, 91, 93, 126, 94, 125, 60, 96, 123, 92,
    195, 208, 128, 130, 131, 162, 184, 194, 224, 226, 153, 161,
    167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230, 129,
    132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170,
    173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232,
    233, 1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150,
    151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182,
    183, 188, 191, 197, 231, 239, 9, 142, 144, 145, 148, 159,
    171, 206, 215, 225, 236, 237, 199, 207, 234, 235, 192, 193,
    200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243,
    255, 203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245,
    246, 247, 248, 250, 251, 252, 253, 254, 2, 3, 4, 5,
    6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20,
    21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220,
    249, 10, 13, 22
};

static const uint8_t hp_huff_rank[256] = {
    0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 1, 9, 10,
    11, 12, 13, 14, 15, 16, 2, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    0, 0, 1, 0, 1, 1, 0, 0, 2, 3, 1, 1, 2, 2, 3, 4,
    0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 0, 3, 0, 12, 1, 4,
    2, 13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 4, 23, 5, 3, 0, 4, 0, 14,
    1, 3, 15, 4, 16, 5, 17, 18, 19, 6, 24, 25, 20, 21, 22, 7,
    23, 26, 24, 8, 9, 25, 27, 28, 29, 30, 31, 2, 2, 1, 5, 26,
    0, 0, 1, 2, 1, 2, 3, 1, 4, 2, 3, 4, 5, 6, 1, 7,
    2, 3, 5, 8, 4, 9, 10, 11, 12, 0, 6, 13, 7, 14, 15, 5,
    8, 1, 3, 9, 10, 16, 17, 2, 18, 11, 12, 6, 3, 13, 19, 20,
    4, 5, 14, 6, 21, 15, 22, 23, 4, 16, 17, 18, 24, 19, 20, 25,
    0, 1, 5, 1, 21, 26, 22, 0, 2, 3, 4, 0, 1, 5, 7, 1,
    2, 7, 6, 2, 3, 7, 4, 8, 8, 9, 8, 9, 27, 5, 6, 7,
    6, 9, 7, 10, 23, 11, 12, 27, 24, 25, 2, 3, 10, 11, 10, 28,
    11, 8, 12, 13, 9, 10, 11, 12, 13, 28, 14, 15, 16, 17, 18, 14
};

static const uint8_t hp_huff_fast[256] = {
    48, 48, 48, 48, 48, 48, 48, 48, 49, 49, 49, 49,
    49, 49, 49, 49, 50, 50, 50, 50, 50, 50, 50, 50,
    97, 97, 97, 97, 97, 97, 97, 97, 99, 99, 99, 99,
    99, 99, 99, 99, 101, 101, 101, 101, 101, 101, 101, 101,
    105, 105, 105, 105, 105, 105, 105, 105, 111, 111, 111, 111,
    111, 111, 111, 111, 115, 115, 115, 115, 115, 115, 115, 115,
    116, 116, 116, 116, 116, 116, 116, 116, 32, 32, 32, 32,
    37, 37, 37, 37, 45, 45, 45, 45, 46, 46, 46, 46,
    47, 47, 47, 47, 51, 51, 51, 51, 52, 52, 52, 52,
    53, 53, 53, 53, 54, 54, 54, 54, 55, 55, 55, 55,
    56, 56, 56, 56, 57, 57, 57, 57, 61, 61, 61, 61,
    65, 65, 65, 65, 95, 95, 95, 95, 98, 98, 98, 98,
    100, 100, 100, 100, 102, 102, 102, 102, 103, 103, 103, 103,
    104, 104, 104, 104, 108, 108, 108, 108, 109, 109, 109, 109,
    110, 110, 110, 110, 112, 112, 112, 112, 114, 114, 114, 114,
    117, 117, 117, 117, 58, 58, 66, 66, 67, 67, 68, 68,
    69, 69, 70, 70, 71, 71, 72, 72, 73, 73, 74, 74,
    75, 75, 76, 76, 77, 77, 78, 78, 79, 79, 80, 80,
    81, 81, 82, 82, 83, 83, 84, 84, 85, 85, 86, 86,
    87, 87, 89, 89, 106, 106, 107, 107, 113, 113, 118, 118,
    119, 119, 120, 120, 121, 121, 122, 122, 38, 42, 44, 59,
    88, 90, 0, 0
};

/* --------------------------------------------------------------------- */
/* Dynamic tables: one code for the decoder's and the encoder's.         */
/* --------------------------------------------------------------------- */

/* A table and its storage, which live side by side in their owner. */
typedef struct {
    gs_hpack_table *t;
    gs_hpack_entry *ent;
    uint8_t *ring;
} gs_hpack_view;

static gs_hpack_view hp_dec_view(gs_hpack_dec *d)
{
    gs_hpack_view v;
    v.t = &d->tab;
    v.ent = d->ent;
    v.ring = d->ring;
    return v;
}

static gs_hpack_view hp_enc_view(gs_hpack_enc *e)
{
    gs_hpack_view v;
    v.t = &e->tab;
    v.ent = e->ent;
    v.ring = e->ring;
    return v;
}

static void hp_tab_init(gs_hpack_table *t, uint32_t cap, uint32_t max)
{
    memset(t, 0, sizeof *t);
    t->cap = cap;
    t->max = max;
    t->slots = GS_HPACK_SLOTS(cap);
}

/* hp_tab_get returns entry i, 0 being the newest (dynamic index 62), or
 * NULL if there is none. */
static const gs_hpack_entry *hp_tab_get(gs_hpack_view v, uint32_t i)
{
    if (i >= v.t->count)
        return NULL;
    return &v.ent[(v.t->newest + v.t->slots - i) % v.t->slots];
}

/* hp_tab_value_off is where entry e's value starts in the ring. */
static uint32_t hp_tab_value_off(gs_hpack_view v, const gs_hpack_entry *e)
{
    return ((uint32_t)e->off + e->nlen) % v.t->cap;
}

/* hp_ring_get copies n bytes from ring offset off (wrapping) to dst. */
static void hp_ring_get(gs_hpack_view v, uint32_t off, uint8_t *dst,
                        uint32_t n)
{
    uint32_t first = v.t->cap - off;
    if (first > n)
        first = n;
    memcpy(dst, v.ring + off, first);
    memcpy(dst + first, v.ring, n - first);
}

/* hp_ring_equal says whether the n bytes at ring offset off are s. */
static int hp_ring_equal(gs_hpack_view v, uint32_t off, const void *s,
                         size_t n)
{
    const uint8_t *b = (const uint8_t *)s;
    size_t first = v.t->cap - off;
    if (first > n)
        first = n;
    return memcmp(v.ring + off, b, first) == 0 &&
           memcmp(v.ring, b + first, n - first) == 0;
}

/* hp_ring_put appends n bytes at the ring's head (wrapping). */
static void hp_ring_put(gs_hpack_view v, const void *s, size_t n)
{
    const uint8_t *b = (const uint8_t *)s;
    size_t first = v.t->cap - v.t->head;
    if (first > n)
        first = n;
    memcpy(v.ring + v.t->head, b, first);
    memcpy(v.ring, b + first, n - first);
    v.t->head = (uint32_t)((v.t->head + n) % v.t->cap);
}

/* hp_tab_fit evicts the oldest entries until `room` more bytes of size
 * fit under the maximum, or the table is empty (4.4). */
static void hp_tab_fit(gs_hpack_view v, uint64_t room)
{
    gs_hpack_table *t = v.t;
    while (t->count > 0 && t->size + room > t->max) {
        const gs_hpack_entry *e = hp_tab_get(v, t->count - 1);
        t->size -= (uint32_t)e->nlen + e->vlen + HP_ENTRY;
        t->count--;
    }
    if (t->count == 0)
        t->head = 0;        /* fewer wraps; any place would do */
}

/* hp_tab_set_max applies a new maximum size (4.3). */
static void hp_tab_set_max(gs_hpack_view v, uint32_t max)
{
    v.t->max = max;
    hp_tab_fit(v, 0);
}

/* hp_tab_add adds an entry as the newest (4.4): an entry larger than the
 * maximum empties the table and is not added. Returns -1, the table left
 * without the entry, if it fits the maximum but not the storage (only
 * when a decoder's peer uses more than GS_HPACK_TABLE before it has seen
 * our SETTINGS); the bytes are then not read, so they may be missing. */
static int hp_tab_add(gs_hpack_view v, const void *name, size_t nlen,
                      const void *value, size_t vlen)
{
    gs_hpack_table *t = v.t;
    uint64_t need = (uint64_t)nlen + vlen + HP_ENTRY;
    gs_hpack_entry *e;
    hp_tab_fit(v, need);
    if (need > t->max)
        return 0;
    if (t->size + need > t->cap)
        return -1;
    t->newest = (t->newest + 1) % t->slots;
    e = &v.ent[t->newest];
    e->off = (gs_hpack_len)t->head;
    e->nlen = (gs_hpack_len)nlen;
    e->vlen = (gs_hpack_len)vlen;
    hp_ring_put(v, name, nlen);
    hp_ring_put(v, value, vlen);
    t->count++;
    t->size += (uint32_t)need;
    return 0;
}

/* hp_find returns the index of the field (name, value) in the static or
 * the dynamic table and sets *exact, else the index of its name there
 * (*exact = 0), else 0. The lowest index wins, static before dynamic. */
static uint32_t hp_find(gs_hpack_view v, const char *name, size_t nlen,
                        const char *value, size_t vlen, int *exact)
{
    uint32_t i, named = 0;
    *exact = 1;
    for (i = 0; i < HP_STATIC; i++) {
        const gs_hpack_static *s = &hp_static[i];
        if (s->nlen != nlen || memcmp(s->name, name, nlen) != 0)
            continue;
        if (s->vlen == vlen && memcmp(s->value, value, vlen) == 0)
            return i + 1;
        if (!named)
            named = i + 1;
    }
    for (i = 0; i < v.t->count; i++) {
        const gs_hpack_entry *e = hp_tab_get(v, i);
        if (e->nlen != nlen || !hp_ring_equal(v, e->off, name, nlen))
            continue;
        if (e->vlen == vlen &&
            hp_ring_equal(v, hp_tab_value_off(v, e), value, vlen))
            return HP_STATIC + 1 + i;
        if (!named)
            named = HP_STATIC + 1 + i;
    }
    *exact = 0;
    return named;
}

/* --------------------------------------------------------------------- */
/* Decoder                                                                */
/* --------------------------------------------------------------------- */

static int hp_fail(gs_hpack_dec *d, const char *why)
{
    d->state = HP_S_ERR;
    d->why = why;
    return HP_ERR_COMPRESSION;
}

/* hp_dec_init prepares a decoder: the table is empty and its maximum is
 * HTTP/2's initial 4096 until the peer's encoder sends a size update (up
 * to GS_HPACK_TABLE, what we advertise). */
static void hp_dec_init(gs_hpack_dec *d)
{
    memset(d, 0, offsetof(gs_hpack_dec, name));
    hp_tab_init(&d->tab, GS_HPACK_TABLE, HP_H2_TABLE);
    d->state = HP_S_REP;
    d->why = "";
    d->list_limit = UINT32_MAX;
}

/* hp_dec_set_max sets the table's maximum size as if the peer's encoder
 * had sent a size update (RFC 7541's examples start that way). */
static void hp_dec_set_max(gs_hpack_dec *d, uint32_t max)
{
    hp_tab_set_max(hp_dec_view(d), max);
}

/* hp_block_begin starts a header block: list_limit is our
 * SETTINGS_MAX_HEADER_LIST_SIZE (list_over is set past it). */
static void hp_block_begin(gs_hpack_dec *d, uint32_t list_limit)
{
    if (d->state != HP_S_REP && d->state != HP_S_ERR)
        hp_fail(d, "header block began inside a field");
    d->fields = 0;
    d->list_size = 0;
    d->list_over = 0;
    d->list_limit = list_limit;
}

/* hp_block_end: 0 if the block ended between fields. */
static int hp_block_end(gs_hpack_dec *d)
{
    if (d->state == HP_S_REP)
        return 0;
    if (d->state != HP_S_ERR)
        hp_fail(d, "header block ended inside a field");
    return HP_ERR_COMPRESSION;
}

/* hp_field_done completes a field: accounts it to the list and, for a
 * literal with incremental indexing, adds it to the table. */
static int hp_field_done(gs_hpack_dec *d)
{
    d->list_size += (uint64_t)d->name_len + d->value_len + HP_ENTRY;
    if (d->list_size > d->list_limit)
        d->list_over = 1;
    d->never_indexed = d->rep == HP_R_NEVER;
    /* A string that was not stored is longer than GS_MAX_HEADER, so the
     * entry is larger than GS_HPACK_TABLE: hp_tab_add never reads it. */
    if (d->rep == HP_R_INC &&
        hp_tab_add(hp_dec_view(d), d->name, d->name_len, d->value,
                   d->value_len) < 0)
        return hp_fail(d, "dynamic table larger than GS_HPACK_TABLE");
    d->fields++;
    d->state = HP_S_REP;
    return HP_FIELD;
}

/* hp_copy_entry copies the name (and the value, if `value`) of table
 * index i into the decoder's buffers. Entries are never longer than
 * GS_MAX_HEADER (static ones are short; dynamic ones fit the table). */
static int hp_copy_entry(gs_hpack_dec *d, uint32_t i, int value)
{
    if (i == 0)
        return hp_fail(d, "index 0");
    if (i <= HP_STATIC) {
        const gs_hpack_static *s = &hp_static[i - 1];
        memcpy(d->name, s->name, s->nlen);
        d->name_len = s->nlen;
        if (value) {
            memcpy(d->value, s->value, s->vlen);
            d->value_len = s->vlen;
        }
    } else {
        gs_hpack_view v = hp_dec_view(d);
        const gs_hpack_entry *e = hp_tab_get(v, i - HP_STATIC - 1);
        if (!e)
            return hp_fail(d, "index past the dynamic table");
        hp_ring_get(v, e->off, d->name, e->nlen);
        d->name_len = e->nlen;
        if (value) {
            hp_ring_get(v, hp_tab_value_off(v, e), d->value, e->vlen);
            d->value_len = e->vlen;
        }
    }
    return HP_MORE;
}

/* hp_str_expect: a string (the name, or the value if `value`) is next. */
static int hp_str_expect(gs_hpack_dec *d, int value)
{
    d->str_value = (uint8_t)value;
    d->state = HP_S_STRLEN;
    return HP_MORE;
}

/* hp_str_end completes a string: checks Huffman padding (5.2: at most 7
 * bits, the most significant bits of EOS, i.e. all ones). */
static int hp_str_end(gs_hpack_dec *d)
{
    if (d->str_huff) {
        uint32_t pad = (1u << d->huff_bits) - 1;
        if (d->huff_bits > 7)
            return hp_fail(d, "Huffman padding longer than 7 bits");
        if ((d->huff_acc & pad) != pad)
            return hp_fail(d, "Huffman padding not all ones");
    }
    if (d->str_value) {
        d->value_over = d->value_len > GS_MAX_HEADER;
        return hp_field_done(d);
    }
    d->name_over = d->name_len > GS_MAX_HEADER;
    return hp_str_expect(d, 1);
}

/* hp_str_begin: the string's length is known. */
static int hp_str_begin(gs_hpack_dec *d, uint32_t len)
{
    d->str_left = len;
    d->huff_acc = 0;
    d->huff_bits = 0;
    if (d->str_value)
        d->value_len = 0;
    else
        d->name_len = 0;
    d->state = HP_S_STR;
    return len == 0 ? hp_str_end(d) : HP_MORE;
}

/* hp_size_update applies a dynamic table size update (6.3). */
static int hp_size_update(gs_hpack_dec *d, uint32_t max)
{
    if (max > GS_HPACK_TABLE)
        return hp_fail(d, "table size update above GS_HPACK_TABLE");
    hp_dec_set_max(d, max);
    d->state = HP_S_REP;
    return HP_MORE;
}

/* hp_int_done acts on a complete integer. */
static int hp_int_done(gs_hpack_dec *d)
{
    uint32_t v = d->int_val;
    int r;
    switch (d->int_for) {
    case HP_I_INDEX:                    /* indexed field (6.1) */
        r = hp_copy_entry(d, v, 1);
        return r < 0 ? r : hp_field_done(d);
    case HP_I_NAME:                     /* literal field's name (6.2) */
        if (v == 0)
            return hp_str_expect(d, 0);
        r = hp_copy_entry(d, v, 0);
        return r < 0 ? r : hp_str_expect(d, 1);
    case HP_I_STRLEN:
        return hp_str_begin(d, v);
    default:
        return hp_size_update(d, v);
    }
}

/* hp_int_begin reads an integer's prefix (5.1): the low `bits` bits of b. */
static int hp_int_begin(gs_hpack_dec *d, uint8_t b, unsigned bits, int what)
{
    uint32_t mask = (1u << bits) - 1;
    d->int_for = (uint8_t)what;
    d->int_val = b & mask;
    if (d->int_val < mask)
        return hp_int_done(d);
    d->int_shift = 0;
    d->state = HP_S_INT;
    return HP_MORE;
}

/* hp_int_byte reads a continuation byte. Five carry 35 bits, enough for
 * any value up to 2^32 - 1 (what we accept); a sixth is refused. */
static int hp_int_byte(gs_hpack_dec *d, uint8_t b)
{
    uint64_t v;
    if (d->int_shift > 28)
        return hp_fail(d, "integer too long");
    v = d->int_val + ((uint64_t)(b & 0x7f) << d->int_shift);
    if (v > UINT32_MAX)
        return hp_fail(d, "integer above 2^32 - 1");
    d->int_val = (uint32_t)v;
    d->int_shift = (uint8_t)(d->int_shift + 7);
    return (b & 0x80) ? HP_MORE : hp_int_done(d);
}

/* hp_rep reads the first byte of a field representation (6). */
static int hp_rep(gs_hpack_dec *d, uint8_t b)
{
    d->name_over = d->value_over = 0;
    if (b & 0x80) {
        d->rep = HP_R_INDEXED;
        d->name_len = d->value_len = 0;
        return hp_int_begin(d, b, 7, HP_I_INDEX);
    }
    if (b & 0x40) {
        d->rep = HP_R_INC;
        return hp_int_begin(d, b, 6, HP_I_NAME);
    }
    if (b & 0x20) {
        /* 4.2: only at the beginning of a header block. */
        if (d->fields > 0)
            return hp_fail(d, "table size update after a field");
        d->rep = HP_R_SIZE;
        return hp_int_begin(d, b, 5, HP_I_SIZE);
    }
    d->rep = (b & 0x10) ? HP_R_NEVER : HP_R_NOINC;
    return hp_int_begin(d, b, 4, HP_I_NAME);
}

/* hp_huff_next decodes the symbol that starts the `bits` bits waiting at
 * the low end of acc: returns it (256: EOS) and sets *len to its code's
 * length, or returns -1 if the bits end before the code does. */
static int hp_huff_next(uint64_t acc, unsigned bits, unsigned *len)
{
    unsigned l = 5;
    if (bits >= 8) {
        unsigned s = hp_huff_fast[(acc >> (bits - 8)) & 0xff];
        if (hp_huff_len[s] <= 8) {
            *len = hp_huff_len[s];
            return (int)s;
        }
        l = 10;     /* the code is longer than 8 bits; none has 9 */
    }
    /* Canonical decoding: the first length whose range holds the code.
     * A code that is not in length l's range is above it, never below. */
    for (; l <= 30 && l <= bits; l++) {
        uint32_t code = (uint32_t)(acc >> (bits - l)) & ((1u << l) - 1);
        uint32_t k = code - hp_huff_base[l - 5];
        uint32_t first = hp_huff_start[l - 5];
        if (k < (uint32_t)hp_huff_start[l - 4] - first) {
            *len = l;
            return first + k == 256 ? 256 : hp_huff_sym[first + k];
        }
    }
    return -1;
}

/* hp_huff_run decodes n bytes of a Huffman coded string. */
static int hp_huff_run(gs_hpack_dec *d, const uint8_t *s, size_t n)
{
    uint8_t *buf = d->str_value ? d->value : d->name;
    uint32_t *lenp = d->str_value ? &d->value_len : &d->name_len;
    uint32_t len = *lenp;
    uint64_t acc = d->huff_acc;
    unsigned bits = d->huff_bits;   /* at most 29 between bytes */
    size_t i;
    for (i = 0; i < n; i++) {
        acc = (acc << 8) | s[i];
        bits += 8;
        for (;;) {
            unsigned l;
            int sym = hp_huff_next(acc, bits, &l);
            if (sym < 0)
                break;
            if (sym == 256) {
                *lenp = len;
                return hp_fail(d, "Huffman EOS inside a string");
            }
            bits -= l;
            if (len < GS_MAX_HEADER)
                buf[len] = (uint8_t)sym;
            if (len < UINT32_MAX)
                len++;
        }
    }
    d->huff_acc = acc;
    d->huff_bits = (uint8_t)bits;
    *lenp = len;
    return HP_MORE;
}

/* hp_raw_run stores n bytes of a raw string. */
static void hp_raw_run(gs_hpack_dec *d, const uint8_t *s, size_t n)
{
    uint8_t *buf = d->str_value ? d->value : d->name;
    uint32_t *lenp = d->str_value ? &d->value_len : &d->name_len;
    if (*lenp < GS_MAX_HEADER) {
        size_t room = GS_MAX_HEADER - *lenp;
        memcpy(buf + *lenp, s, n < room ? n : room);
    }
    /* n <= str_left: the string's length, so no overflow */
    *lenp += (uint32_t)n;
}

/* hp_str reads string bytes from *s. */
static int hp_str(gs_hpack_dec *d, const uint8_t **s, const uint8_t *end)
{
    size_t n = (size_t)(end - *s);
    if (n > d->str_left)
        n = d->str_left;
    if (d->str_huff) {
        int r = hp_huff_run(d, *s, n);
        if (r < 0)
            return r;
    } else {
        hp_raw_run(d, *s, n);
    }
    *s += n;
    d->str_left -= (uint32_t)n;
    return d->str_left == 0 ? hp_str_end(d) : HP_MORE;
}

/* hp_decode decodes from *p to end, advancing *p past what it used, and
 * returns HP_FIELD (a field is in name/value: valid until the next call),
 * HP_MORE (the input is used up) or HP_ERR_COMPRESSION (why says what;
 * decode nothing more on this connection). */
static int hp_decode(gs_hpack_dec *d, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p;
    int r = HP_MORE;
    if (d->state == HP_S_ERR)
        return HP_ERR_COMPRESSION;
    while (r == HP_MORE && s < end) {
        switch (d->state) {
        case HP_S_REP:
            r = hp_rep(d, *s++);
            break;
        case HP_S_INT:
            r = hp_int_byte(d, *s++);
            break;
        case HP_S_STRLEN:
            d->str_huff = (uint8_t)(*s >> 7);
            r = hp_int_begin(d, *s++, 7, HP_I_STRLEN);
            break;
        default:
            r = hp_str(d, &s, end);
            break;
        }
    }
    *p = s;
    return r;
}

/* --------------------------------------------------------------------- */
/* Encoder                                                                */
/* --------------------------------------------------------------------- */

/* hp_enc_init prepares an encoder whose table's maximum is table_size
 * (clamped to GS_HPACK_ENC_TABLE), which must not exceed the peer's
 * decoder's maximum (4096 until its SETTINGS say otherwise): a smaller one
 * needs no size update, since both sides add the same entries and we only
 * refer to the newest. 0: the encoder never indexes. */
static void hp_enc_init(gs_hpack_enc *e, uint32_t table_size)
{
    if (table_size > GS_HPACK_ENC_TABLE)
        table_size = GS_HPACK_ENC_TABLE;
    hp_tab_init(&e->tab, GS_HPACK_ENC_TABLE, table_size);
}

/* hp_put_int writes v with a `bits`-bit prefix (5.1) after the flags in
 * `first`. */
static uint8_t *hp_put_int(uint8_t *d, uint8_t first, unsigned bits, size_t v)
{
    size_t mask = ((size_t)1 << bits) - 1;
    if (v < mask) {
        *d++ = (uint8_t)(first | v);
        return d;
    }
    *d++ = (uint8_t)(first | mask);
    v -= mask;
    while (v >= 0x80) {
        *d++ = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    *d++ = (uint8_t)v;
    return d;
}

/* hp_huff_code is symbol c's Huffman code (right-aligned). */
static uint32_t hp_huff_code(uint8_t c)
{
    return hp_huff_base[hp_huff_len[c] - 5] + hp_huff_rank[c];
}

/* hp_huff_size is how many bytes s takes Huffman coded, padding included. */
static uint64_t hp_huff_size(const uint8_t *s, size_t n)
{
    uint64_t bits = 0;
    size_t i;
    for (i = 0; i < n; i++)
        bits += hp_huff_len[s[i]];
    return (bits + 7) / 8;
}

/* hp_huff_put writes s Huffman coded, padded with ones (5.2). */
static uint8_t *hp_huff_put(uint8_t *d, const uint8_t *s, size_t n)
{
    uint64_t acc = 0;
    unsigned bits = 0;      /* at most 7 + 30 */
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned l = hp_huff_len[s[i]];
        acc = (acc << l) | hp_huff_code(s[i]);
        bits += l;
        while (bits >= 8) {
            bits -= 8;
            *d++ = (uint8_t)(acc >> bits);
        }
    }
    if (bits > 0)
        *d++ = (uint8_t)((acc << (8 - bits)) | (0xffu >> bits));
    return d;
}

/* hp_put_str writes a string literal (5.2): Huffman coded if `huffman`
 * and that is not longer (as RFC 7541's examples do). */
static uint8_t *hp_put_str(uint8_t *d, const char *str, size_t n, int huffman)
{
    const uint8_t *s = (const uint8_t *)str;
    if (huffman) {
        uint64_t h = hp_huff_size(s, n);
        if (n > 0 && h <= n) {
            d = hp_put_int(d, 0x80, 7, (size_t)h);
            return hp_huff_put(d, s, n);
        }
    }
    d = hp_put_int(d, 0x00, 7, n);
    memcpy(d, s, n);
    return d + n;
}

/* hp_encode_max is the most bytes hp_encode writes for such a field. */
static size_t hp_encode_max(size_t nlen, size_t vlen)
{
    return 1 + 2 * (size_t)HP_INT_MAX + nlen + vlen;
}

/* hp_encode writes one field at d (which has hp_encode_max bytes of room)
 * and returns the end. how: HP_INDEX (a literal with incremental indexing,
 * or an indexed field if the pair is in a table; a literal without
 * indexing when the encoder's table is 0), HP_NO_INDEX (a literal without
 * indexing, or an indexed field if the pair is in a table: that adds
 * nothing to any table) or HP_NEVER_INDEX (always a literal never
 * indexed). The name is given by index when a table has it. Strings are
 * Huffman coded if `huffman` and that is not longer. */
static uint8_t *hp_encode(gs_hpack_enc *e, uint8_t *d, const char *name,
                          size_t nlen, const char *value, size_t vlen,
                          int how, int huffman)
{
    gs_hpack_view v = hp_enc_view(e);
    int exact;
    uint32_t i = hp_find(v, name, nlen, value, vlen, &exact);
    int add = how == HP_INDEX && e->tab.max > 0;
    if (exact && how != HP_NEVER_INDEX)
        return hp_put_int(d, 0x80, 7, i);
    if (add)
        d = hp_put_int(d, 0x40, 6, i);
    else
        d = hp_put_int(d, how == HP_NEVER_INDEX ? 0x10 : 0x00, 4, i);
    if (i == 0)
        d = hp_put_str(d, name, nlen, huffman);
    d = hp_put_str(d, value, vlen, huffman);
    if (add)
        hp_tab_add(v, name, nlen, value, vlen);  /* max <= cap: fits */
    return d;
}


#endif

#if GS_MAX_CONNS > 0
/* ===================================================================== */
/* 12. HTTP/2: connections, frames, flow control                          */
/* ===================================================================== */

/* An I/O-free HTTP/2 server connection (RFC 9113, h2c with prior
 * knowledge): bytes in from one connection (gs_conn_feed), bytes out into
 * that connection's buffer (gs_conn_output). Frames are read as their
 * bytes arrive, never buffered whole: small control frames field by field,
 * header blocks straight into the HPACK decoder, DATA straight to the
 * stream. One short handler per frame type behind a switch; handlers
 * return RFC 9113 error codes: a connection error becomes GOAWAY and the
 * connection closes, a stream error RST_STREAM. Input is read only while
 * the output buffer has H2_RESERVE bytes free, so the control frames and
 * immediate answers it causes always fit; stream output never waits for
 * input and input never waits for a stream's window. Not supported: TLS,
 * the HTTP/1.1 Upgrade, server push, priorities (PRIORITY is read and
 * ignored), SETTINGS_HEADER_TABLE_SIZE above GS_HPACK_TABLE. */

enum { H2_DATA, H2_HEADERS, H2_PRIORITY, H2_RST_STREAM, H2_SETTINGS,
       H2_PUSH_PROMISE, H2_PING, H2_GOAWAY, H2_WINDOW_UPDATE, H2_CONTINUATION };
enum { H2F_END_STREAM = 0x1, H2F_ACK = 0x1, H2F_END_HEADERS = 0x4,
       H2F_PADDED = 0x8, H2F_PRIORITY = 0x20 };
enum { H2E_NO_ERROR, H2E_PROTOCOL, H2E_INTERNAL, H2E_FLOW_CONTROL,
       H2E_SETTINGS_TIMEOUT, H2E_STREAM_CLOSED, H2E_FRAME_SIZE,
       H2E_REFUSED_STREAM, H2E_CANCEL, H2E_COMPRESSION, H2E_CONNECT,
       H2E_ENHANCE_YOUR_CALM };
enum { H2_FREE, H2_PREFACE, H2_OPEN, H2_CLOSING };
enum { RD_HEAD, RD_BODY };

#define H2_FRAME 16384              /* our SETTINGS_MAX_FRAME_SIZE */
#define H2_WINDOW_MAX 0x7FFFFFFF
#define H2_DEFAULT_WINDOW 65535
/* The receive window a stream is granted: never more than its buffer. */
#define H2_STREAM_WINDOW (GS_H2_BUF < H2_DEFAULT_WINDOW ? GS_H2_BUF : H2_DEFAULT_WINDOW)
/* The connection's receive window, granted back as data arrives. */
#define H2_CONN_WINDOW (1 << 20)
/* Output room kept free while input is read: control frames and one
 * Trailers-Only answer with a full grpc-message. */
#define H2_RESERVE (3 * (size_t)GS_MAX_WHY + 1024)
#define H2_MAX_CONCURRENT (GS_MAX_STREAMS < 100 ? GS_MAX_STREAMS : 100)
/* A stream's staged messages go on into the connection's output once
 * they reach this much (DATA frames of many messages still), so a slot's
 * staging buffer is touched only this far past its largest message. */
#define H2_TX_EARLY 4096

/* Abuse limits (each ends the connection ENHANCE_YOUR_CALM): client
 * resets of streams (CVE-2023-44487) beyond a burst of RESET_BURST, the
 * budget refilling RESET_PER_S a second; a header block of more than
 * BLOCK_FRAMES CONTINUATIONs or BLOCK_BYTES compressed bytes
 * (CVE-2024-27316); a header list of more than twice our limit (an HPACK
 * bomb; up to twice, the stream gets HTTP 431); ANSWERED_MAX PINGs and
 * SETTINGS in a row with no request (HEADERS or DATA) among them. */
#define RESET_BURST 1000
#define RESET_PER_S 100
#define BLOCK_FRAMES 64
#define BLOCK_BYTES (4 * (uint32_t)GS_H2_HEADER_LIST)
#define ANSWERED_MAX 10000

typedef char h2_out_fits[GS_H2_OUT >= 2 * H2_RESERVE ? 1 : -1];

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static uint32_t h2_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t h2_room(const gs_h2_conn *c) { return GS_H2_OUT - c->out_len; }

/* Writes a frame header at the end of c's output; the payload follows. */
static uint8_t *h2_frame(gs_h2_conn *c, uint32_t len, int type, int flags, uint32_t sid)
{
    uint8_t *d = (uint8_t *)c->out + c->out_len;
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
    return d + 9;
}

static void h2_put32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
}

static void h2_send_u32(gs_h2_conn *c, int type, uint32_t sid, uint32_t v)
{
    h2_put32(h2_frame(c, 4, type, 0, sid), v);
}

static void h2_send_settings(gs_h2_conn *c)
{
    static const uint32_t ours[][2] = {
        { 3, H2_MAX_CONCURRENT }, { 4, H2_STREAM_WINDOW }, { 5, H2_FRAME },
        { 6, GS_H2_HEADER_LIST }, { 2, 0 }
    };
    uint8_t *d = h2_frame(c, 6 * LEN(ours), H2_SETTINGS, 0, 0);
    size_t i;
    for (i = 0; i < LEN(ours); i++, d += 6) {
        d[0] = 0;
        d[1] = (uint8_t)ours[i][0];
        h2_put32(d + 2, ours[i][1]);
    }
}

/* A connection error: GOAWAY with the code, then the connection closes
 * once its output is written. */
static void h2_goaway(gs_h2_conn *c, int code)
{
    uint8_t *d;
    if (c->state == H2_CLOSING) return;
    d = h2_frame(c, 8, H2_GOAWAY, 0, 0);
    h2_put32(d, c->last_sid);
    h2_put32(d + 4, (uint32_t)code);
    c->state = H2_CLOSING;
    c->closing_ms = 0;              /* set by h2_tick: the node's clock */
}

/* The graceful GOAWAY, once there is room for it. */
static void h2_send_goaway(gs_h2_conn *c)
{
    uint8_t *d;
    if (c->goaway != 1 || h2_room(c) < 17) return;
    d = h2_frame(c, 8, H2_GOAWAY, 0, 0);
    h2_put32(d, c->last_sid);
    h2_put32(d + 4, H2E_NO_ERROR);
    c->goaway = 2;
}

static int h2_conn_index(const gs_node *n, const gs_h2_conn *c) { return (int)(c - n->conns); }

/* The live stream (holding a slot) of connection c with id sid. */
static gs_stream *h2_stream(gs_node *n, const gs_h2_conn *c, uint32_t sid)
{
    int i, ci = h2_conn_index(n, c);
    if (!c->live) return NULL;
    for (i = 0; i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state != GS_FREE && s->front == FE_H2 && s->fe.h2.conn == ci && s->fe.h2.sid == sid)
            return s;
    }
    return NULL;
}

/* ----- message buffers --------------------------------------------------- */

/* Each slot has two GS_H2_BUF buffers for its HTTP/2 call: rx holds the
 * request bytes that cannot be handled yet (a message split across frames,
 * or one waiting for output room), tx the response bytes its window does
 * not let out yet. Pages nobody writes cost no memory. */

static char *h2_rx(gs_node *n, const gs_stream *s) { return n->h2_rx[s->self]; }
static char *h2_tx(gs_node *n, const gs_stream *s) { return n->h2_tx[s->self]; }

/* ----- responses: headers, messages, trailers ---------------------------- */

static uint8_t *h2_field(gs_node *n, uint8_t *d, const char *name, const char *value, size_t vlen)
{
    return hp_encode(&n->hpack_enc, d, name, strlen(name), value, vlen, HP_NO_INDEX, 0);
}

static const char *h2_content_type(const gs_stream *s)
{
    return s->fe.h2.json ? "application/grpc+json" : "application/grpc";
}

/* The most bytes a response header block takes: :status, content-type,
 * grpc-accept-encoding, grpc-status, a percent-encoded grpc-message. */
static size_t h2_headers_max(void)
{
    return hp_encode_max(7, 3) + hp_encode_max(12, 21) + hp_encode_max(20, 8) +
           hp_encode_max(11, 2) + hp_encode_max(12, 3 * (size_t)GS_MAX_WHY);
}
#define H2_HEADERS_MAX h2_headers_max()

/* grpc-status and, when not OK, grpc-message. */
static uint8_t *h2_put_status(gs_node *n, uint8_t *d, int status, const char *why, size_t why_len)
{
    char code[4];
    d = h2_field(n, d, "grpc-status", code, (size_t)(gs_json_put_u64(code, (uint64_t)status) - code));
    if (status != GS_OK) {
        char *end = grpc_percent_encode(n->h2_why, why, why_len);
        d = h2_field(n, d, "grpc-message", n->h2_why, (size_t)(end - n->h2_why));
    }
    return d;
}

/* A header block of one frame at the end of c's output (END_HEADERS). */
static uint8_t *h2_headers_begin(gs_h2_conn *c)
{
    return (uint8_t *)c->out + c->out_len + 9;
}

static void h2_headers_end(gs_h2_conn *c, uint8_t *end, int flags, uint32_t sid)
{
    uint8_t *start = (uint8_t *)c->out + c->out_len + 9;
    h2_frame(c, (uint32_t)(end - start), H2_HEADERS, H2F_END_HEADERS | flags, sid);
}

static uint8_t *h2_put_http_status(gs_node *n, uint8_t *d, unsigned status)
{
    char digits[4];
    return h2_field(n, d, ":status", digits, (size_t)(gs_json_put_u64(digits, status) - digits));
}

/* The response metadata of stream s tagged `tag` ('h' initial, 't'
 * trailing) as header fields at d; -bin values in base64. */
static uint8_t *h2_put_md(gs_node *n, uint8_t *d, const gs_stream *s, int tag)
{
    size_t at = 0, kn, vn;
    const char *k, *v;
    int t;
    while (grpc_md_next(n->h2_md_out[s->self], s->fe.h2.md_out_len, &at, &t, &k, &kn, &v, &vn)) {
        if (t != tag) continue;
        if (grpc_md_binary(k, kn)) {
            char *end = b64_encode(n->h2_md_wire, (const uint8_t *)v, vn);
            v = n->h2_md_wire;
            vn = (size_t)(end - n->h2_md_wire);
        }
        d = hp_encode(&n->hpack_enc, d, k, kn, v, vn, HP_NO_INDEX, 0);
    }
    return d;
}

/* What a stream's response metadata adds to a header block at most. */
static size_t h2_md_room(const gs_stream *s) { return 3 * (size_t)s->fe.h2.md_out_len; }

/* Trailers-Only: a call answered before it has a stream slot (or with no
 * message at all): one HEADERS frame with END_STREAM. */
static void h2_trailers_only(gs_node *n, gs_h2_conn *c, uint32_t sid, int json, int status,
                             const char *why, int accept_encoding)
{
    uint8_t *d = h2_put_http_status(n, h2_headers_begin(c), 200);
    d = h2_field(n, d, "content-type", json ? "application/grpc+json" : "application/grpc",
                 json ? 21 : 16);
    if (accept_encoding) d = h2_field(n, d, "grpc-accept-encoding", "identity", 8);
    d = h2_put_status(n, d, status, why, core_why_len(why));
    h2_headers_end(c, d, H2F_END_STREAM, sid);
}

static void h2_rst(gs_h2_conn *c, uint32_t sid, int code)
{
    h2_send_u32(c, H2_RST_STREAM, sid, (uint32_t)code);
}

/* ----- the streams' output, written when the caller drains it ----------- */

/* Frees the slot of a stream whose answer is complete. */
static void h2_release(gs_node *n, gs_h2_conn *c, gs_stream *s)
{
    c->live--;
    core_release(n, s);
}

/* Writes what stream s may send now: response headers, DATA within the
 * windows, then the trailers (and RST_STREAM NO_ERROR if the client had
 * not finished sending). Returns 1 once the stream is done. */
static int h2_flush_stream(gs_node *n, gs_h2_conn *c, gs_stream *s)
{
    gs_h2_stream *h = &s->fe.h2;
    if (c->state == H2_CLOSING) return 0;   /* a connection error's GOAWAY is the last frame */
    if (h->http_status && !h->peer_ended && !h->reset) return 0;   /* the request body first */
    if (!h->headers_sent && (h->tx_len || h->ended) && h2_room(c) >= H2_HEADERS_MAX + h2_md_room(s) + 9) {
        uint8_t *d = h2_put_http_status(n, h2_headers_begin(c), h->http_status ? h->http_status : 200);
        if (h->http_status) d = h2_field(n, d, "content-type", "text/plain", 10);
        else d = h2_field(n, d, "content-type", h2_content_type(s), strlen(h2_content_type(s)));
        d = h2_put_md(n, d, s, 'h');
        if (h->ended && !h->tx_len && !h->http_status) {    /* Trailers-Only */
            d = h2_put_status(n, d, h->end_status, h->why, h->why_len);
            d = h2_put_md(n, d, s, 't');
            h2_headers_end(c, d, H2F_END_STREAM, h->sid);
            h->headers_sent = 2;
        } else {
            h2_headers_end(c, d, 0, h->sid);
            h->headers_sent = 1;
        }
    }
    while (h->headers_sent == 1 && h->tx_len) {
        int64_t k = h->tx_len;
        int last;
        if (k > h->send_window) k = h->send_window;
        if (k > c->send_window) k = c->send_window;
        if (k > (int64_t)c->peer_max_frame) k = c->peer_max_frame;
        if (k > (int64_t)h2_room(c) - 9 - (int64_t)H2_RESERVE) k = (int64_t)h2_room(c) - 9 - (int64_t)H2_RESERVE;
        if (k <= 0) break;
        last = h->http_status && h->ended && k == h->tx_len;
        memcpy(h2_frame(c, (uint32_t)k, H2_DATA, last ? H2F_END_STREAM : 0, h->sid),
               h2_tx(n, s) + h->tx_off, (size_t)k);
        h->tx_off += (uint32_t)k;
        h->tx_len -= (uint32_t)k;
        h->send_window -= k;
        c->send_window -= k;
        if (last) h->headers_sent = 2;
    }
    if (!h->tx_len) h->tx_off = 0;
    if (h->ended && !h->tx_len && h->headers_sent == 1 && h2_room(c) >= H2_HEADERS_MAX + h2_md_room(s) + 9) {
        uint8_t *d = h2_put_status(n, h2_headers_begin(c), h->end_status, h->why, h->why_len);
        h2_headers_end(c, h2_put_md(n, d, s, 't'), H2F_END_STREAM, h->sid);
        h->headers_sent = 2;
    }
    if (h->headers_sent != 2) return 0;
    if (!h->peer_ended && !h->reset) h2_rst(c, h->sid, H2E_NO_ERROR);
    h2_release(n, c, s);
    return 1;
}


/* ----- this front end's side of section 5 -------------------------------- */

/* The most bytes one framed message of the stream's method takes (a +json
 * one that could be larger than the buffer needs all of it). */
static size_t h2_msg_room(const gs_node *n, const gs_stream *s)
{
    size_t room = s->fe.h2.json ? n->h2_json_room[s->method_index] : n->h2_pb_room[s->method_index];
    return 5 + (room < GS_H2_BUF - 5 ? room : GS_H2_BUF - 5);
}

static int h2_room_for(const gs_node *n, const gs_stream *s, int for_what)
{
    const gs_h2_stream *h = &s->fe.h2;
    if (for_what == FOR_END || h->reset) return ROOM_OK;
    if (GS_H2_TX - h->tx_len < h2_msg_room(n, s)) return ROOM_STREAM;
    /* nothing more could leave now: pause rather than buffer ahead */
    if (h->tx_len >= h->send_window || h->tx_len >= n->conns[h->conn].send_window) return ROOM_STREAM;
    return ROOM_OK;
}

static int h2_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    gs_h2_stream *h = &s->fe.h2;
    char *base, *d, *end;
    size_t len;
    (void)by_request;
    if (h->reset) return GS_OK;
    if (h->json || n->h2_pb_room[s->method_index] == PB_UNBOUNDED) {     /* measured */
        size_t size = h->json ? jl_msg_size(m) : pb_msg_size(m, 0);
        if (size > GS_MAX_MESSAGE || 5 + size > GS_H2_TX - h->tx_len) return GS_RESOURCE_EXHAUSTED;
    }
    base = h2_tx(n, s);
    if (h->tx_off && GS_H2_TX - h->tx_off - h->tx_len < h2_msg_room(n, s)) {
        memmove(base, base + h->tx_off, h->tx_len);
        h->tx_off = 0;
    }
    d = base + h->tx_off + h->tx_len;
    end = h->json ? jl_put_msg(d + 5, m) : pb_put_msg(d + 5, m);
    len = (size_t)(end - d - 5);
    d[0] = 0;
    h2_put32((uint8_t *)d + 1, (uint32_t)len);
    h->tx_len += (uint32_t)(5 + len);
    if (h->tx_len >= H2_TX_EARLY) h2_flush_stream(n, &n->conns[h->conn], s);
    return GS_OK;
}

/* The call is over: its trailers go out after the bytes staged before
 * them, so the slot stays with this front end until h2_flush_stream has
 * written them (returns 1), unless the client reset the stream. */
static int h2_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                       const char *why, size_t why_len)
{
    gs_h2_stream *h = &s->fe.h2;
    (void)by_request;
    if (h->reset) {
        n->conns[h->conn].live--;
        return 0;
    }
    h->ended = 1;
    h->end_status = (uint8_t)status;
    h->why_len = (uint16_t)why_len;
    memcpy(h->why, why, why_len);
    h->rx_len = 0;
    return 1;
}

/* ----- requests: header fields --------------------------------------------- */

/* RFC 9113 8.2.2: headers an HTTP/2 request must not carry. */
static int h2_connection_specific(const char *name, size_t len)
{
    static const char *const banned[] = { "connection", "keep-alive", "proxy-connection",
                                          "transfer-encoding", "upgrade" };
    size_t i;
    for (i = 0; i < LEN(banned); i++)
        if (strlen(banned[i]) == len && memcmp(banned[i], name, len) == 0) return 1;
    return 0;
}

#define H2_IS(name, len, lit) ((len) == sizeof(lit) - 1 && memcmp(name, lit, sizeof(lit) - 1) == 0)

static void h2_pseudo_field(gs_h2_req *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    uint8_t *seen = NULL;
    if (r->regular_seen) { r->bad = 1; return; }    /* pseudo after regular */
    if (H2_IS(name, nlen, ":method")) { seen = &r->method; r->post = H2_IS(v, vlen, "POST"); }
    else if (H2_IS(name, nlen, ":scheme")) seen = &r->scheme;
    else if (H2_IS(name, nlen, ":authority")) seen = &r->authority;
    else if (H2_IS(name, nlen, ":path")) {
        seen = &r->path;
        if (vlen == 0) r->bad = 1;
        r->path_len = vlen <= sizeof r->path_buf ? vlen : 0;
        memcpy(r->path_buf, v, r->path_len);
    } else {
        r->bad = 1;                 /* unknown, or a response's :status */
        return;
    }
    if (*seen) r->bad = 1;
    *seen = 1;
}

/* A custom metadata field of the request, kept for gs_metadata (-bin
 * values decoded); reserved ones are not kept. */
static void h2_request_md(gs_h2_req *r, const char *k, size_t kn, const char *v, size_t vn)
{
    char *e = r->md + r->md_len;
    long dn;
    if (!grpc_md_custom(k, kn)) return;
    if (!grpc_md_binary(k, kn)) {
        if (grpc_md_add(r->md, sizeof r->md, &r->md_len, 0, k, kn, v, vn) != 0) r->md_bad = 2;
        return;
    }
    if (vn > 65535 || GRPC_MD_ENTRY + kn + vn > (size_t)GS_METADATA - r->md_len) {
        r->md_bad = 2;              /* (the decoded value is shorter) */
        return;
    }
    dn = b64_decode((uint8_t *)e + GRPC_MD_ENTRY + kn, v, vn, 0);     /* in place */
    if (dn < 0) {
        if (!r->md_bad) r->md_bad = 1;
        return;
    }
    grpc_md_head(e, 0, k, kn, (size_t)dn);
    r->md_len = (uint16_t)(r->md_len + GRPC_MD_ENTRY + kn + (size_t)dn);
}

static void h2_regular_field(gs_h2_req *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    size_t i;
    r->regular_seen = 1;
    for (i = 0; i < nlen; i++)
        if (name[i] >= 'A' && name[i] <= 'Z') r->bad = 1;
    if (h2_connection_specific(name, nlen)) r->bad = 1;
    else if (H2_IS(name, nlen, "te")) r->bad |= !H2_IS(v, vlen, "trailers");
    else if (H2_IS(name, nlen, "content-type")) r->content_type = (uint8_t)grpc_content_type(v, vlen);
    else if (H2_IS(name, nlen, "grpc-encoding")) r->encoding_bad = !H2_IS(v, vlen, "identity");
    else if (H2_IS(name, nlen, "grpc-timeout")) {
        r->has_timeout = 1;
        r->timeout_bad = grpc_timeout_parse(v, vlen, &r->timeout_ms) != 0;
    } else if (H2_IS(name, nlen, "content-length")) {
        uint64_t cl = 0;
        if (vlen == 0 || vlen > 18) r->bad = 1;
        for (i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9') r->bad = 1;
            cl = cl * 10 + (uint64_t)(v[i] - '0');
        }
        r->content_length = (int64_t)cl;
    } else {
        h2_request_md(r, name, nlen, v, vlen);
    }
}

/* A decoded header field of the block being read. */
static void h2_on_field(gs_h2_conn *c)
{
    gs_hpack_dec *d = &c->hpack;
    const char *name = (const char *)d->name, *value = (const char *)d->value;
    if (d->name_over || d->value_over || d->list_over) { c->req.bad = 2; return; }
    if (d->name_len && name[0] == ':') h2_pseudo_field(&c->req, name, d->name_len, value, d->value_len);
    else h2_regular_field(&c->req, name, d->name_len, value, d->value_len);
}

static void h2_req_reset(gs_h2_req *r)
{
    memset(r, 0, offsetof(gs_h2_req, path_buf));
    r->content_length = -1;
}

/* ----- requests: messages ---------------------------------------------------- */

static void h2_stream_init(gs_node *n, gs_h2_conn *c, gs_stream *s, uint32_t sid)
{
    gs_h2_stream *h = &s->fe.h2;
    memset(h, 0, offsetof(gs_h2_stream, why));
    h->sid = sid;
    h->conn = (uint8_t)h2_conn_index(n, c);
    h->send_window = c->peer_initial;
    h->recv_window = H2_STREAM_WINDOW;
    h->content_length = -1;
    c->live++;
}

/* A stream error (RST_STREAM with code): the call, if it runs, is over
 * and nothing more is written on the stream. */
static void h2_stream_error(gs_node *n, gs_h2_conn *c, gs_stream *s, int code)
{
    h2_rst(c, s->fe.h2.sid, code);
    s->fe.h2.reset = 1;
    if (s->state == GS_CLOSING) h2_release(n, c, s);
    else core_cancel(n, s);
}

/* Decodes one request message (protobuf, or a JSON object for +json). */
static int h2_decode(gs_node *n, gs_stream *s, const char *p, uint32_t len, int flag,
                     gs_msg *m, const char **why)
{
    if (flag) {
        *why = flag == 1 ? "compressed message without grpc-encoding" : "bad compressed flag";
        return GS_INTERNAL;
    }
    if (s->fe.h2.json)
        return jl_decode_object(n, s->method_index, core_streams_in(s->kind) ? C_DATA : C_REQUEST,
                                p, len, m, why);
    return pb_decode(s->method->in, p, len, m, why, n->why, sizeof n->why);
}

/* The one request of a unary or server-streaming call: run it. */
static void h2_run_request(gs_node *n, gs_stream *s, const char *p, uint32_t len, int flag)
{
    gs_msg req;
    const char *why = NULL;
    int status = h2_decode(n, s, p, len, flag, &req, &why);
    s->fe.h2.started = 1;
    if (status != GS_OK) core_end(n, s, 1, status, why);
    else if (s->kind == GS_UNARY) core_unary(n, s, &req);
    else core_start(n, s, &req);
}

/* Delivers complete bidi messages from p while the stream has output
 * room for the reply; returns the bytes used. */
static size_t h2_deliver(gs_node *n, gs_stream *s, const char *p, size_t len)
{
    size_t used = 0;
    while (len - used >= 5 && !s->fe.h2.ended && !s->fe.h2.reset && s->state == GS_OPEN) {
        uint32_t mlen = h2_u32((const uint8_t *)p + used + 1);
        gs_msg in;
        const char *why = NULL;
        int status;
        if (mlen > GS_H2_BUF - 5) {
            core_end(n, s, 1, GS_RESOURCE_EXHAUSTED, "message larger than the node's buffers");
            return len;
        }
        if (len - used - 5 < mlen || h2_room_for(n, s, FOR_MSG) != ROOM_OK) break;
        status = h2_decode(n, s, p + used + 5, mlen, (unsigned char)p[used], &in, &why);
        if (status != GS_OK) core_end(n, s, 1, status, why);
        else core_deliver(n, s, &in);
        used += 5 + mlen;
    }
    return used;
}

/* Hands on what the stream's buffer holds, as far as it can go now; a
 * bidi stream half-closes once every message before END_STREAM is in. */
static void h2_rx_drain(gs_node *n, gs_stream *s)
{
    gs_h2_stream *h = &s->fe.h2;
    size_t used;
    if (!core_streams_in(s->kind) || !h->started || s->state != GS_OPEN) return;
    if (h->rx_len) {
        used = h2_deliver(n, s, h2_rx(n, s), h->rx_len);
        if (!h->rx_len) return;     /* the call ended */
        memmove(h2_rx(n, s), h2_rx(n, s) + used, h->rx_len - used);
        h->rx_len -= (uint32_t)used;
    }
    if (!h->rx_len && h->peer_ended && s->state == GS_OPEN && !h->ended && !h->reset)
        core_half_close(n, s);
}

/* The client sent END_STREAM. */
static void h2_peer_end(gs_node *n, gs_h2_conn *c, gs_stream *s)
{
    gs_h2_stream *h = &s->fe.h2;
    const char *rx;
    h->peer_ended = 1;
    if (h->content_length >= 0 && (uint64_t)h->content_length != h->data_len) {
        h2_stream_error(n, c, s, H2E_PROTOCOL);     /* RFC 9113 8.1.1 */
        return;
    }
    if (h->ended || s->state == GS_CLOSING) return;
    if (core_streams_in(s->kind)) { h2_rx_drain(n, s); return; }
    if (h->started) return;
    rx = h2_rx(n, s);
    if (h->rx_len < 5) core_end(n, s, 1, GS_INTERNAL, "missing request message");
    else if (h->rx_len - 5 != h2_u32((const uint8_t *)rx + 1))
        core_end(n, s, 1, GS_INTERNAL, h->rx_len - 5 > h2_u32((const uint8_t *)rx + 1)
                 ? "more than one request message" : "truncated request message");
    else h2_run_request(n, s, rx + 5, h->rx_len - 5, (unsigned char)rx[0]);
}

/* DATA payload bytes of stream s; `final`: they end a frame with
 * END_STREAM. A request that arrives whole is read where it lies. */
static void h2_data(gs_node *n, gs_stream *s, const char *p, size_t len, int final)
{
    gs_h2_stream *h = &s->fe.h2;
    h->data_len += len;
    if (h->ended || h->reset || s->state == GS_CLOSING) return;     /* dropped */
    if (h->content_length >= 0 && h->data_len > (uint64_t)h->content_length) {
        h2_stream_error(n, &n->conns[h->conn], s, H2E_PROTOCOL);   /* RFC 9113 8.1.1 */
        return;
    }
    if (!h->rx_len && core_streams_in(s->kind)) {
        size_t used = h2_deliver(n, s, p, len);
        p += used;
        len -= used;
    } else if (!h->rx_len && final && !h->started && len >= 5 && len - 5 == h2_u32((const uint8_t *)p + 1) &&
               (h->content_length < 0 || (uint64_t)h->content_length == h->data_len)) {
        h2_run_request(n, s, p + 5, (uint32_t)(len - 5), (unsigned char)p[0]);
        return;
    }
    if (!len || h->ended || s->state == GS_CLOSING) return;
    if (GS_H2_BUF - h->rx_len < len) {
        core_end(n, s, 1, GS_RESOURCE_EXHAUSTED, "message larger than the node's buffers");
        return;
    }
    memcpy(h2_rx(n, s) + h->rx_len, p, len);
    h->rx_len += (uint32_t)len;
    if (!core_streams_in(s->kind) && h->rx_len >= 5 &&
        h2_u32((const uint8_t *)h2_rx(n, s) + 1) > GS_H2_BUF - 5) {        /* as h2_deliver */
        core_end(n, s, 1, GS_RESOURCE_EXHAUSTED, "message larger than the node's buffers");
        return;
    }
    h2_rx_drain(n, s);
}

/* Writes what every stream of c may send, and wakes what waited for it. */
static void h2_flush(gs_node *n, gs_h2_conn *c)
{
    int i, ci = h2_conn_index(n, c);
    for (i = 0; c->live && i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state == GS_FREE || s->front != FE_H2 || s->fe.h2.conn != ci) continue;
        if (h2_room(c) < H2_RESERVE + H2_HEADERS_MAX + 64) break;
        if (h2_flush_stream(n, c, s)) continue;
        if (s->fe.h2.rx_len) h2_rx_drain(n, s);         /* waited for output room */
        if (s->parked && h2_room_for(n, s, FOR_MSG) == ROOM_OK) core_resume(n, s);
    }
}

/* ----- requests: calls ------------------------------------------------------ */

/* A plain HTTP answer (not gRPC): a status and a short text body, sent
 * under flow control like any response; it holds a slot until written. */
static void h2_http_answer(gs_node *n, gs_h2_conn *c, uint32_t sid, unsigned status, const char *body)
{
    gs_stream *s = core_hold(n, FE_H2);
    gs_h2_stream *h;
    size_t len = strlen(body);
    if (!s) {
        h2_rst(c, sid, H2E_REFUSED_STREAM);
        return;
    }
    h2_stream_init(n, c, s, sid);
    h = &s->fe.h2;
    h->http_status = (uint16_t)status;
    h->ended = 1;
    h->content_length = c->req.content_length;
    memcpy(h2_tx(n, s), body, len);
    h->tx_len = (uint32_t)len;
}

/* The service and method of a gRPC :path, "/service/method". */
static int h2_route(const gs_node *n, const gs_h2_req *r)
{
    const char *p = r->path_buf, *slash;
    size_t len = r->path_len;
    if (len < 4 || p[0] != '/') return -1;
    slash = memchr(p + 1, '/', len - 1);
    if (!slash) return -1;
    return core_find(n, p + 1, (size_t)(slash - p - 1), slash + 1, len - (size_t)(slash - p) - 1);
}

/* A new request's header block is complete: answer it at once, or admit
 * it as a call (PROTOCOL.md 2.2, in this order). */
static void h2_open(gs_node *n, gs_h2_conn *c, uint32_t sid)
{
    gs_h2_req *r = &c->req;
    int mi, json = r->content_type == GRPC_CT_JSON;
    gs_stream *s;
    if (r->bad || !r->method || !r->scheme || !r->path) { h2_rst(c, sid, H2E_PROTOCOL); return; }
    if (c->live >= H2_MAX_CONCURRENT || c->goaway) { h2_rst(c, sid, H2E_REFUSED_STREAM); return; }
    if (!r->post) { h2_http_answer(n, c, sid, 405, "grpcstream: gRPC calls are POST requests\n"); return; }
    if (r->content_type == GRPC_CT_BAD) {
        h2_http_answer(n, c, sid, 415, "grpcstream: content-type must be application/grpc\n");
        return;
    }
    mi = h2_route(n, r);
    if (mi < 0) { h2_trailers_only(n, c, sid, json, GS_UNIMPLEMENTED, "unknown method", 0); goto refuse; }
    if (r->encoding_bad) {
        h2_trailers_only(n, c, sid, json, GS_UNIMPLEMENTED, "grpc-encoding not supported", 1);
        goto refuse;
    }
    if (r->timeout_bad) {
        h2_trailers_only(n, c, sid, json, GS_INTERNAL, "malformed grpc-timeout", 0);
        goto refuse;
    }
    if (r->md_bad) {
        h2_trailers_only(n, c, sid, json, r->md_bad == 2 ? GS_RESOURCE_EXHAUSTED : GS_INTERNAL,
                         r->md_bad == 2 ? put_limit_text(n->why, "request metadata larger than ",
                                                         GS_METADATA, " bytes")
                                        : "malformed -bin metadata", 0);
        goto refuse;
    }
    s = core_admit(n, (unsigned)mi, FE_H2, r->has_timeout ? (r->timeout_ms ? r->timeout_ms : 1) : 0);
    if (!s) {
        h2_trailers_only(n, c, sid, json, GS_RESOURCE_EXHAUSTED, "all stream slots are busy", 0);
        goto refuse;
    }
    h2_stream_init(n, c, s, sid);
    s->fe.h2.json = (uint8_t)json;
    s->fe.h2.content_length = r->content_length;
    s->fe.h2.md_in_len = r->md_len;
    memcpy(n->h2_md_in[s->self], r->md, r->md_len);
    if (core_streams_in(s->kind)) {
        s->fe.h2.started = 1;
        if (core_start(n, s, NULL) != GS_OK) return;
    }
    return;
refuse:
    if (!c->hb_end_stream) h2_rst(c, sid, H2E_NO_ERROR);
}

/* ----- frames: one handler per type ------------------------------------------ */

/* Checks a frame header against the connection's state before any of its
 * payload is read. Returns 0 or a connection error code. */
static int h2_frame_check(gs_h2_conn *c)
{
    if (c->flen > H2_FRAME) return H2E_FRAME_SIZE;
    if (c->hb_sid && (c->ftype != H2_CONTINUATION || c->fsid != c->hb_sid)) return H2E_PROTOCOL;
    if (!c->got_settings && (c->ftype != H2_SETTINGS || (c->fflags & H2F_ACK))) return H2E_PROTOCOL;
    switch (c->ftype) {
    case H2_DATA: case H2_HEADERS: case H2_PRIORITY: case H2_RST_STREAM: case H2_CONTINUATION:
        if (!c->fsid) return H2E_PROTOCOL;
        break;
    case H2_SETTINGS: case H2_PING: case H2_GOAWAY:
        if (c->fsid) return H2E_PROTOCOL;
        break;
    case H2_PUSH_PROMISE:
        return H2E_PROTOCOL;        /* clients never push */
    }
    switch (c->ftype) {
    case H2_SETTINGS:
        if ((c->fflags & H2F_ACK) ? c->flen != 0 : c->flen % 6 != 0) return H2E_FRAME_SIZE;
        break;
    case H2_PING: if (c->flen != 8) return H2E_FRAME_SIZE; break;
    case H2_PRIORITY: if (c->flen != 5) return H2E_FRAME_SIZE; break;
    case H2_RST_STREAM: case H2_WINDOW_UPDATE: if (c->flen != 4) return H2E_FRAME_SIZE; break;
    case H2_GOAWAY: if (c->flen < 8) return H2E_FRAME_SIZE; break;
    case H2_CONTINUATION: if (!c->hb_sid) return H2E_PROTOCOL; break;
    }
    if (c->ftype == H2_HEADERS || c->ftype == H2_CONTINUATION) {
        if (c->ftype == H2_HEADERS) c->block_frames = c->block_bytes = 0;
        c->block_bytes += c->flen;
        if (++c->block_frames > BLOCK_FRAMES + 1 || c->block_bytes > BLOCK_BYTES) return H2E_ENHANCE_YOUR_CALM;
    }
    if (c->ftype == H2_HEADERS || c->ftype == H2_DATA) c->answered = 0;
    else if ((c->ftype == H2_PING || c->ftype == H2_SETTINGS) && !(c->fflags & H2F_ACK) &&
             ++c->answered > ANSWERED_MAX)
        return H2E_ENHANCE_YOUR_CALM;
    return 0;
}

/* DATA: flow control and the stream's state, at the frame's start. */
static int h2_data_begin(gs_node *n, gs_h2_conn *c)
{
    gs_stream *s = h2_stream(n, c, c->fsid);
    if (c->flen > c->recv_window) return H2E_FLOW_CONTROL;
    c->recv_window -= c->flen;
    if (!s) {
        if (c->fsid > c->last_sid || !(c->fsid & 1)) return H2E_PROTOCOL;  /* idle */
        h2_rst(c, c->fsid, H2E_STREAM_CLOSED);
        return 0;
    }
    if (s->fe.h2.peer_ended) { h2_stream_error(n, c, s, H2E_STREAM_CLOSED); return 0; }
    if (c->flen > s->fe.h2.recv_window) { h2_stream_error(n, c, s, H2E_FLOW_CONTROL); return 0; }
    s->fe.h2.recv_window -= c->flen;
    return 0;
}

/* HEADERS: which stream the header block is for, at the frame's start. */
static int h2_headers_begin_frame(gs_node *n, gs_h2_conn *c)
{
    gs_stream *s = h2_stream(n, c, c->fsid);
    if (!(c->fsid & 1)) return H2E_PROTOCOL;
    if (!s) {
        if (c->fsid <= c->last_sid) return H2E_PROTOCOL;   /* closed, or reused */
        c->last_sid = c->fsid;
    } else if (s->fe.h2.peer_ended) {
        return H2E_STREAM_CLOSED;
    }
    c->hb_sid = c->fsid;
    c->hb_end_stream = (uint8_t)(c->fflags & H2F_END_STREAM);
    h2_req_reset(&c->req);
    hp_block_begin(&c->hpack, GS_H2_HEADER_LIST);
    return 0;
}

/* A header block is complete (END_HEADERS). */
static int h2_headers_done(gs_node *n, gs_h2_conn *c)
{
    uint32_t sid = c->hb_sid;
    gs_stream *s = h2_stream(n, c, sid);
    c->hb_sid = 0;
    if (hp_block_end(&c->hpack) != 0) return H2E_COMPRESSION;
    if (!s) {
        if (c->req.bad == 2) h2_http_answer(n, c, sid, 431, "grpcstream: request headers too large\n");
        else h2_open(n, c, sid);
        s = h2_stream(n, c, sid);
        if (s && c->hb_end_stream) h2_peer_end(n, c, s);
        return 0;
    }
    /* trailers: END_STREAM and no pseudo-header */
    if (!c->hb_end_stream || c->req.bad || c->req.method || c->req.path || c->req.scheme ||
        c->req.authority)
        h2_stream_error(n, c, s, H2E_PROTOCOL);
    else
        h2_peer_end(n, c, s);
    return 0;
}

/* Header block bytes of HEADERS or CONTINUATION, into the HPACK decoder. */
static int h2_block_bytes(gs_h2_conn *c, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    for (;;) {
        int r = hp_decode(&c->hpack, &p, end);
        if (r == HP_MORE) return 0;
        if (r < 0) return H2E_COMPRESSION;
        if (c->hpack.list_size > 2 * (uint64_t)GS_H2_HEADER_LIST) return H2E_ENHANCE_YOUR_CALM;
        h2_on_field(c);
    }
}

static int h2_settings_one(gs_node *n, gs_h2_conn *c, const uint8_t *f)
{
    unsigned id = (unsigned)f[0] << 8 | f[1];
    uint32_t v = h2_u32(f + 2);
    int i, ci = h2_conn_index(n, c);
    switch (id) {
    case 2: if (v > 1) return H2E_PROTOCOL; break;
    case 4:
        if (v > H2_WINDOW_MAX) return H2E_FLOW_CONTROL;
        for (i = 0; i < GS_MAX_STREAMS; i++) {      /* RFC 9113 6.9.2 */
            gs_stream *s = &n->streams[i];
            if (s->state == GS_FREE || s->front != FE_H2 || s->fe.h2.conn != ci) continue;
            s->fe.h2.send_window += (int64_t)v - (int64_t)c->peer_initial;
            if (s->fe.h2.send_window > H2_WINDOW_MAX) return H2E_FLOW_CONTROL;
        }
        c->peer_initial = v;
        break;
    case 5:
        if (v < 16384 || v > 16777215) return H2E_PROTOCOL;
        c->peer_max_frame = v;
        break;
    default: break;                 /* table size (we never index), others */
    }
    return 0;
}

/* One more client reset within the budget? (See RESET_BURST.) */
static int h2_reset_allowed(const gs_node *n, gs_h2_conn *c)
{
    uint64_t refill = (n->now_ms - c->resets_ms) * RESET_PER_S / 1000;
    if (refill) {
        c->resets = refill > RESET_BURST - c->resets ? RESET_BURST : c->resets + (uint32_t)refill;
        c->resets_ms = n->now_ms;
    }
    if (!c->resets) return 0;
    c->resets--;
    return 1;
}

/* A small frame's fields, complete in c->ctl. */
static int h2_control(gs_node *n, gs_h2_conn *c)
{
    gs_stream *s = h2_stream(n, c, c->fsid);
    uint32_t v = h2_u32(c->ctl) & 0x7FFFFFFF;
    switch (c->ftype) {
    case H2_PING:
        if (!(c->fflags & H2F_ACK)) memcpy(h2_frame(c, 8, H2_PING, H2F_ACK, 0), c->ctl, 8);
        return 0;
    case H2_PRIORITY:
        if (v == c->fsid) {
            if (s) h2_stream_error(n, c, s, H2E_PROTOCOL);
            else h2_rst(c, c->fsid, H2E_PROTOCOL);
        }
        return 0;
    case H2_RST_STREAM:
        if (!s && c->fsid > c->last_sid) return H2E_PROTOCOL;      /* idle */
        if (!h2_reset_allowed(n, c)) return H2E_ENHANCE_YOUR_CALM;
        if (s) {
            s->fe.h2.reset = 1;
            if (s->state == GS_CLOSING) h2_release(n, c, s);
            else core_cancel(n, s);
        }
        return 0;
    case H2_WINDOW_UPDATE:
        if (!c->fsid) {
            if (!v) return H2E_PROTOCOL;
            c->send_window += v;
            return c->send_window > H2_WINDOW_MAX ? H2E_FLOW_CONTROL : 0;
        }
        if (!s && c->fsid > c->last_sid) return H2E_PROTOCOL;  /* idle */
        if (!s) {
            if (!v) h2_rst(c, c->fsid, H2E_PROTOCOL);
            return 0;
        }
        if (!v) { h2_stream_error(n, c, s, H2E_PROTOCOL); return 0; }
        s->fe.h2.send_window += v;
        if (s->fe.h2.send_window > H2_WINDOW_MAX) h2_stream_error(n, c, s, H2E_FLOW_CONTROL);
        return 0;
    }
    return 0;                       /* GOAWAY: served streams go on */
}

/* Collects up to `want` bytes of the payload into c->ctl. */
static int h2_collect(gs_h2_conn *c, const uint8_t **p, const uint8_t *end, unsigned want)
{
    while (*p < end && c->ctl_len < want) {
        c->ctl[c->ctl_len++] = *(*p)++;
        c->fpos++;
    }
    return c->ctl_len == want;
}

/* ----- frames: reading ------------------------------------------------------- */

/* Bytes of a DATA or HEADERS payload before its data: the pad length,
 * and HEADERS' priority fields. */
static unsigned h2_prefix_len(const gs_h2_conn *c)
{
    unsigned len = 0;
    if ((c->ftype == H2_DATA || c->ftype == H2_HEADERS) && (c->fflags & H2F_PADDED)) len = 1;
    if (c->ftype == H2_HEADERS && (c->fflags & H2F_PRIORITY)) len += 5;
    return len;
}

/* The prefix is in c->ctl: padding and a self-dependency. */
static int h2_prefix_done(gs_h2_conn *c, unsigned prefix)
{
    unsigned padded = (c->fflags & H2F_PADDED) ? 1 : 0;
    c->fpad = padded ? c->ctl[0] : 0;
    if (prefix + c->fpad > c->flen) return H2E_PROTOCOL;
    if (c->ftype == H2_HEADERS && (c->fflags & H2F_PRIORITY) &&
        (h2_u32(c->ctl + padded) & 0x7FFFFFFF) == c->fsid)
        c->req.bad = 1;             /* depends on itself: a stream error */
    return 0;
}

/* DATA and header block payload: prefix, data, padding. */
static int h2_payload_data(gs_node *n, gs_h2_conn *c, const uint8_t **p, const uint8_t *end)
{
    unsigned prefix = h2_prefix_len(c);
    uint32_t data_end;
    size_t k;
    int err = 0;
    if (c->fpos < prefix) {
        if (!h2_collect(c, p, end, prefix)) return 0;
        if ((err = h2_prefix_done(c, prefix)) != 0) return err;
    }
    data_end = c->flen - c->fpad;
    k = (size_t)(end - *p);
    if (c->fpos < data_end) {
        if (k > data_end - c->fpos) k = data_end - c->fpos;
        if (c->ftype == H2_DATA) {
            gs_stream *s = h2_stream(n, c, c->fsid);
            int final = (c->fflags & H2F_END_STREAM) && c->fpos + k == data_end;
            if (s && !s->fe.h2.reset) h2_data(n, s, (const char *)*p, k, final);
        } else {
            err = h2_block_bytes(c, *p, k);
        }
    } else if (k > c->flen - c->fpos) {
        k = c->flen - c->fpos;      /* padding */
    }
    *p += k;
    c->fpos += (uint32_t)k;
    return err;
}

static int h2_payload_settings(gs_node *n, gs_h2_conn *c, const uint8_t **p, const uint8_t *end)
{
    while (*p < end && c->fpos < c->flen) {
        int err;
        if (!h2_collect(c, p, end, 6)) return 0;
        c->ctl_len = 0;
        if ((err = h2_settings_one(n, c, c->ctl)) != 0) return err;
    }
    return 0;
}

/* What a frame does once its whole payload is read. */
static int h2_frame_end(gs_node *n, gs_h2_conn *c)
{
    gs_stream *s;
    switch (c->ftype) {
    case H2_DATA:
        s = h2_stream(n, c, c->fsid);
        if ((c->fflags & H2F_END_STREAM) && s && !s->fe.h2.reset) h2_peer_end(n, c, s);
        return 0;
    case H2_HEADERS: case H2_CONTINUATION:
        return (c->fflags & H2F_END_HEADERS) ? h2_headers_done(n, c) : 0;
    case H2_SETTINGS:
        if (!(c->fflags & H2F_ACK)) h2_frame(c, 0, H2_SETTINGS, H2F_ACK, 0);
        c->got_settings = 1;
        return 0;
    }
    return 0;
}

/* Skips what is left of the payload within the input. */
static void h2_skip(gs_h2_conn *c, const uint8_t **p, const uint8_t *end)
{
    size_t k = (size_t)(end - *p);
    if (k > c->flen - c->fpos) k = c->flen - c->fpos;
    *p += k;
    c->fpos += (uint32_t)k;
}

/* Reads payload bytes of the current frame; runs h2_frame_end at its end. */
static int h2_payload(gs_node *n, gs_h2_conn *c, const uint8_t **p, const uint8_t *end)
{
    int err = 0;
    unsigned want;
    switch (c->ftype) {
    case H2_DATA: case H2_HEADERS: case H2_CONTINUATION:
        err = h2_payload_data(n, c, p, end);
        break;
    case H2_SETTINGS:
        err = h2_payload_settings(n, c, p, end);
        break;
    case H2_PING: case H2_PRIORITY: case H2_RST_STREAM: case H2_WINDOW_UPDATE: case H2_GOAWAY:
        want = c->flen < 8 ? c->flen : 8;
        if (c->ctl_len < want) {
            if (!h2_collect(c, p, end, want)) break;
            err = h2_control(n, c);
        }
        h2_skip(c, p, end);         /* GOAWAY's debug data */
        break;
    default:
        h2_skip(c, p, end);         /* unknown frame types are ignored */
        break;
    }
    if (!err && c->fpos == c->flen) {
        c->rd = RD_HEAD;
        c->frame_ms = n->now_ms;    /* the peer is alive */
        c->ping_ms = 0;
        err = h2_frame_end(n, c);
    }
    return err;
}

/* A frame header is complete: check it and begin its frame. */
static int h2_frame_begin(gs_node *n, gs_h2_conn *c)
{
    int err;
    c->flen = (uint32_t)c->head[0] << 16 | (uint32_t)c->head[1] << 8 | c->head[2];
    c->ftype = c->head[3];
    c->fflags = c->head[4];
    c->fsid = h2_u32(c->head + 5) & 0x7FFFFFFF;
    c->fpos = c->fpad = 0;
    c->ctl_len = 0;
    if ((err = h2_frame_check(c)) != 0) return err;
    if (h2_prefix_len(c) > c->flen) return H2E_PROTOCOL;
    if (c->ftype == H2_DATA) err = h2_data_begin(n, c);
    else if (c->ftype == H2_HEADERS) err = h2_headers_begin_frame(n, c);
    c->rd = RD_BODY;
    return err;
}

/* Reads what it can of the preface, a frame header or a payload. */
static int h2_read(gs_node *n, gs_h2_conn *c, const uint8_t **p, const uint8_t *end)
{
    if (c->state == H2_PREFACE) {
        while (*p < end && c->preface < sizeof h2_preface - 1) {
            if (**p != (uint8_t)h2_preface[c->preface]) return H2E_PROTOCOL;
            (*p)++;
            c->preface++;
        }
        if (c->preface == sizeof h2_preface - 1) c->state = H2_OPEN;
        return 0;
    }
    if (c->rd == RD_HEAD) {
        int err;
        while (*p < end && c->head_len < 9) c->head[c->head_len++] = *(*p)++;
        if (c->head_len < 9) return 0;
        c->head_len = 0;
        if ((err = h2_frame_begin(n, c)) != 0) return err;
    }
    return h2_payload(n, c, p, end);
}

/* Grants receive window back: the connection's as data arrived, a
 * stream's as its buffer has room. */
static void h2_grant(gs_node *n, gs_h2_conn *c)
{
    int i, ci = h2_conn_index(n, c);
    if (c->recv_window < H2_CONN_WINDOW / 2 && h2_room(c) >= 13) {
        h2_send_u32(c, H2_WINDOW_UPDATE, 0, (uint32_t)(H2_CONN_WINDOW - c->recv_window));
        c->recv_window = H2_CONN_WINDOW;
    }
    for (i = 0; c->live && i < GS_MAX_STREAMS; i++) {
        gs_h2_stream *h = &n->streams[i].fe.h2;
        int64_t target;
        size_t held, room;
        if (n->streams[i].state == GS_FREE || n->streams[i].front != FE_H2 || h->conn != ci ||
            h->peer_ended || h->reset || h->ended)
            continue;
        /* what it holds, and what a DATA frame being read still brings */
        held = h->rx_len;
        if (c->rd == RD_BODY && c->ftype == H2_DATA && c->fsid == h->sid) held += c->flen - c->fpos;
        room = held < GS_H2_BUF ? GS_H2_BUF - held : 0;
        target = (int64_t)(room < H2_STREAM_WINDOW ? room : H2_STREAM_WINDOW);
        if (h->recv_window < target / 2 && h2_room(c) >= 13) {
            h2_send_u32(c, H2_WINDOW_UPDATE, h->sid, (uint32_t)(target - h->recv_window));
            h->recv_window = target;
        }
    }
}

/* ===================================================================== */
/* 13. HTTP/2: the connection API                                         */
/* ===================================================================== */

/* gs_conn_*: what a caller with its own sockets (or TCP stack) needs. */

int gs_conn_open(gs_node *n)
{
    int i;
    for (i = 0; i < GS_MAX_CONNS; i++) {
        gs_h2_conn *c = &n->conns[i];
        if (i < (int)n->conns_used && c->state != H2_FREE) continue;
        if (i == (int)n->conns_used) n->conns_used++;
        /* not the request's path and metadata buffers: read only as far
         * as their lengths, they stay untouched (no memory) until used */
        memset(c, 0, offsetof(gs_h2_conn, req) + offsetof(gs_h2_req, path_buf));
        c->state = H2_PREFACE;
        c->rd = RD_HEAD;
        c->peer_initial = H2_DEFAULT_WINDOW;
        c->peer_max_frame = H2_FRAME;
        c->send_window = H2_DEFAULT_WINDOW;
        c->recv_window = H2_DEFAULT_WINDOW;
        c->frame_ms = c->resets_ms = n->now_ms;
        c->resets = RESET_BURST;
        c->out_len = 0;
        hp_dec_init(&c->hpack);
        h2_send_settings(c);
        h2_grant(n, c);             /* the connection window beyond 64 KiB */
        return i;
    }
    return -1;
}

size_t gs_conn_feed(gs_node *n, int ci, const char *in, size_t len)
{
    gs_h2_conn *c = &n->conns[ci];
    const uint8_t *p = (const uint8_t *)in, *end = p + len;
    while (p < end && c->state != H2_CLOSING && h2_room(c) >= H2_RESERVE) {
        int err = h2_read(n, c, &p, end);
        if (err) h2_goaway(c, err);
    }
    if (c->state != H2_CLOSING) h2_grant(n, c);    /* nothing after the GOAWAY */
    return (size_t)(p - (const uint8_t *)in);
}

const char *gs_conn_output(gs_node *n, int ci, size_t *len)
{
    gs_h2_conn *c = &n->conns[ci];
    if (c->state != H2_CLOSING) {   /* a connection error's GOAWAY is the last frame */
        h2_send_goaway(c);
        h2_flush(n, c);
        h2_grant(n, c);
    }
    *len = c->out_len;
    return c->out;
}

void gs_conn_output_done(gs_node *n, int ci, size_t len)
{
    gs_h2_conn *c = &n->conns[ci];
    if (len > c->out_len) len = c->out_len;
    memmove(c->out, c->out + len, c->out_len - len);
    c->out_len -= len;
}

int gs_conn_closing(const gs_node *n, int ci)
{
    const gs_h2_conn *c = &n->conns[ci];
    return c->state == H2_CLOSING &&
           (!c->out_len || (c->closing_ms && n->now_ms - c->closing_ms >= GS_H2_IDLE_MS));
}

/* Idle and dead connections (GS_H2_IDLE_MS): a connection that sends no
 * frame for that long is closed if it has no call; with calls it gets a
 * PING first, and is closed if nothing comes back in as long again. One
 * that is closing but whose peer reads nothing is given up after as long. */
static void h2_tick(gs_node *n)
{
    int i;
    for (i = 0; i < (int)n->conns_used; i++) {
        gs_h2_conn *c = &n->conns[i];
        if (c->state == H2_FREE) continue;
        if (c->state == H2_CLOSING) {
            if (!c->closing_ms) c->closing_ms = n->now_ms ? n->now_ms : 1;
            continue;
        }
        if (n->now_ms - c->frame_ms < GS_H2_IDLE_MS) continue;
        if (c->live && !c->ping_ms && h2_room(c) >= 17) {
            memcpy(h2_frame(c, 8, H2_PING, 0, 0), "gs-alive", 8);
            c->ping_ms = n->now_ms;
        } else if (!c->live || n->now_ms - c->ping_ms >= GS_H2_IDLE_MS) {
            h2_goaway(c, H2E_NO_ERROR);
        }
    }
}

/* When h2_tick has something to do next (0: nothing). */
static uint64_t h2_next_check(const gs_node *n)
{
    uint64_t first = 0, t;
    int i;
    for (i = 0; i < (int)n->conns_used; i++) {
        const gs_h2_conn *c = &n->conns[i];
        if (c->state == H2_FREE) continue;
        if (c->state == H2_CLOSING) t = c->closing_ms ? c->closing_ms + GS_H2_IDLE_MS : n->now_ms;
        else t = (c->ping_ms ? c->ping_ms : c->frame_ms) + GS_H2_IDLE_MS;
        if (!first || t < first) first = t;
    }
    return first;
}

unsigned gs_conn_live(const gs_node *n, int ci) { return n->conns[ci].live; }


void gs_conn_goaway(gs_node *n)
{
    int i;
    for (i = 0; i < (int)n->conns_used; i++) {
        gs_h2_conn *c = &n->conns[i];
        if ((c->state != H2_OPEN && c->state != H2_PREFACE) || c->goaway) continue;
        c->goaway = 1;              /* no new streams from now on */
        h2_send_goaway(c);
    }
}

void gs_conn_close(gs_node *n, int ci)
{
    gs_h2_conn *c = &n->conns[ci];
    int i;
    for (i = 0; c->live && i < GS_MAX_STREAMS; i++) {
        gs_stream *s = &n->streams[i];
        if (s->state == GS_FREE || s->front != FE_H2 || s->fe.h2.conn != ci) continue;
        s->fe.h2.reset = 1;
        if (s->state == GS_CLOSING) h2_release(n, c, s);
        else core_cancel(n, s);
    }
    c->state = H2_FREE;
}

#endif

/* ===================================================================== */
/* 14. Front-end dispatch                                                 */
/* ===================================================================== */

/* Section 5's calls, switched over the front end that carries a stream.
 * GS_TEST_FRONT_END adds a front end whose functions a unit test defines
 * (tests/unit_core.c), to drive the call core with no wire format at all. */

#ifdef GS_TEST_FRONT_END
static int test_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request);
static int test_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                         const char *why, size_t why_len);
static int test_room(const gs_node *n, const gs_stream *s, int for_what);
#endif

static int fe_emit_msg(gs_node *n, gs_stream *s, const gs_msg *m, int by_request)
{
    switch (s->front) {
    case FE_JSON: return jl_emit_msg(n, s, m, by_request);
#if GS_MAX_CONNS > 0
    case FE_H2: return h2_emit_msg(n, s, m, by_request);
#endif
#ifdef GS_TEST_FRONT_END
    case FE_TEST: return test_emit_msg(n, s, m, by_request);
#endif
    }
    return GS_INTERNAL;
}

static int fe_emit_end(gs_node *n, gs_stream *s, int by_request, int status,
                       const char *why, size_t why_len)
{
    switch (s->front) {
    case FE_JSON: return jl_emit_end(n, s, by_request, status, why, why_len);
#if GS_MAX_CONNS > 0
    case FE_H2: return h2_emit_end(n, s, by_request, status, why, why_len);
#endif
#ifdef GS_TEST_FRONT_END
    case FE_TEST: return test_emit_end(n, s, by_request, status, why, why_len);
#endif
    }
    return 0;
}

static int fe_room(const gs_node *n, const gs_stream *s, int for_what)
{
    switch (s->front) {
    case FE_JSON: return jl_room(n);
#if GS_MAX_CONNS > 0
    case FE_H2: return h2_room_for(n, s, for_what);
#endif
#ifdef GS_TEST_FRONT_END
    case FE_TEST: return test_room(n, s, for_what);
#endif
    }
    (void)for_what;
    return ROOM_ALL;
}

/* ===================================================================== */
/* 15. Node API                                                           */
/* ===================================================================== */

/* The public calls of grpcstream.h that are not a section's own: set-up,
 * registration, the clock, the JSON-lines input and output buffers. */

/* A method gs_register can take: names that fit, descriptors within
 * GS_MAX_FIELDS, and the handlers its kind needs. */
/* How deep gs_register checks nested message types (a type that refers
 * to itself twice would take 2^depth checks). */
#define DESC_CHECK_DEPTH 8

static int desc_ok(const gs_desc *d, unsigned depth);

/* A field a message type may have (its message type checked as deep as
 * decoding goes). */
static int field_ok(const gs_field *f, unsigned depth)
{
    unsigned i;
    if (!f->name || strlen(f->name) > GS_JSON_KEY_MAX || f->number == 0 || f->number > PB_MAX_NUMBER ||
        (unsigned)f->type > GS_MESSAGE || f->flags & ~(unsigned)(GS_REPEATED | GS_JSON_NUMBER))
        return 0;
#ifdef GS_NO_FLOAT
    if (f->type == GS_FLOAT || f->type == GS_DOUBLE) return 0;
#endif
    if (f->type == GS_MESSAGE) return f->msg && (depth == DESC_CHECK_DEPTH || desc_ok(f->msg, depth + 1));
    for (i = 0; f->type == GS_ENUM && f->enm && i < f->enm->n; i++)
        if (!f->enm->values[i].name || strlen(f->enm->values[i].name) > GS_MAX_NAME) return 0;
    return 1;
}

/* A message type within GS_MAX_FIELDS, its field numbers distinct. */
static int desc_ok(const gs_desc *d, unsigned depth)
{
    unsigned i, k;
    if (d->nfields > GS_MAX_FIELDS || (d->nfields && !d->fields)) return 0;
    for (i = 0; i < d->nfields; i++) {
        if (!field_ok(&d->fields[i], depth)) return 0;
        for (k = 0; k < i; k++)
            if (d->fields[k].number == d->fields[i].number) return 0;
    }
    return 1;
}

static int method_ok(const gs_method *m)
{
    if (!m || !m->service || !m->name || !m->in || !m->out ||
        strlen(m->service) > GS_MAX_NAME || strlen(m->name) > GS_MAX_NAME ||
        !desc_ok(m->in, 0) || !desc_ok(m->out, 0))
        return 0;
    switch (m->kind) {
    case GS_UNARY: return m->unary != NULL;
    case GS_SERVER_STREAMING: return m->next != NULL;
    case GS_BIDI_STREAMING: return m->recv != NULL && (!m->half_close || m->next);
    case GS_CLIENT_STREAMING: return m->recv != NULL && m->next != NULL;
    }
    return 0;
}

#if GS_MAX_CONNS > 0
/* The HTTP/2 front end's part of gs_register: the room a framed reply
 * needs, in protobuf (it must fit GS_H2_BUF) and in JSON (checked per
 * message when it could be larger). */
static int h2_register(gs_node *n, unsigned mi, const gs_method *m)
{
    size_t pb = pb_size_max(m->out), json = jl_reply_room(m->out) - JL_ENVELOPE_MAX;
    n->h2_pb_room[mi] = pb == PB_UNBOUNDED || 5 + pb > GS_H2_BUF ? PB_UNBOUNDED : pb;  /* measured */
    n->h2_json_room[mi] = json;
    return 0;
}
#else
static int h2_register(gs_node *n, unsigned mi, const gs_method *m)
{
    (void)n, (void)mi, (void)m;
    return 0;
}
#endif

int gs_register(gs_node *n, const gs_method *m)
{
    unsigned mi = n->nmethods;
    if (mi == GS_MAX_METHODS || !method_ok(m) || h2_register(n, mi, m) != 0 ||
        jl_register(n, mi, m) != 0)
        return -1;
    n->methods[n->nmethods++] = m;
    return 0;
}

#if GS_MAX_CONNS > 0
static void h2_init(gs_node *n)
{
    n->conns_used = 0;
    hp_enc_init(&n->hpack_enc, 0);
}
#endif

void gs_init(gs_node *n)
{
    n->nmethods = 0;
    n->now_ms = 0;
    n->next_serial = 0;
    n->deadlines = n->timers = 0;
    n->diag = NULL;
    n->unary_call = NULL;
    st_init(n);
    log_init(&n->log);
    jl_init(n);
#if GS_MAX_CONNS > 0
    h2_init(n);
#endif
    gs_register(n, &watch_logs);
    gs_register(n, &append_method);
    gs_register(n, &bidi_chat);
}

void gs_set_diagnostic(gs_node *n, void (*fn)(gs_node *, const char *)) { n->diag = fn; }

#ifndef GS_NO_FILE_LOG
/* Followers of a file log hear of lines others append within this. */
#define FILE_CHECK_MS 50

static int has_waiting_follower(const gs_node *n)
{
    int i;
    for (i = 0; i < GS_MAX_STREAMS; i++)
        if (n->streams[i].state != GS_FREE && n->streams[i].waiting) return 1;
    return 0;
}
#endif

void gs_tick(gs_node *n, uint64_t now_ms)
{
    n->now_ms = now_ms;
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0 && now_ms - n->log.checked_ms >= FILE_CHECK_MS) watch_refresh(n);
#endif
    core_expire(n);
    core_fire_timers(n);
#if GS_MAX_CONNS > 0
    h2_tick(n);
#endif
}

int64_t gs_timeout(const gs_node *n)
{
    uint64_t first = core_next_deadline(n);
#if GS_MAX_CONNS > 0
    uint64_t check = h2_next_check(n);
    if (check && (!first || check < first)) first = check;
#endif
#ifndef GS_NO_FILE_LOG
    if (n->log.fd >= 0 && has_waiting_follower(n)) {
        uint64_t check = n->log.checked_ms + FILE_CHECK_MS;
        if (!first || check < first) first = check;
    }
#endif
    if (!first) return -1;
    if (first <= n->now_ms) return 0;
    return first - n->now_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(first - n->now_ms);
}

/* Custom metadata: HTTP/2 keeps it in the slot's two GS_METADATA buffers
 * (request, response); JSON lines carries none. */
const char *gs_metadata(gs_node *n, const gs_stream *s, const char *key, size_t *len)
{
#if GS_MAX_CONNS > 0
    size_t at = 0, kn, vn, klen = strlen(key);
    const char *k, *v;
    int tag;
    if (s->front != FE_H2) return NULL;
    while (grpc_md_next(n->h2_md_in[s->self], s->fe.h2.md_in_len, &at, &tag, &k, &kn, &v, &vn))
        if (kn == klen && memcmp(k, key, kn) == 0) {
            *len = vn;
            return v;
        }
#else
    (void)n; (void)s; (void)key; (void)len;
#endif
    return NULL;
}

/* Response metadata tagged 'h' (initial) or 't' (trailing). */
static int core_set_md(gs_node *n, gs_stream *s, int tag, const char *key, const char *v, size_t vn)
{
#if GS_MAX_CONNS > 0
    gs_h2_stream *h = &s->fe.h2;
    size_t kn = strlen(key);
    if (s->front != FE_H2) return 0;
    if (!grpc_md_custom(key, kn) || h->ended || s->state == GS_CLOSING || s->state == GS_FREE) return -1;
    if (tag == 'h' && (h->headers_sent || s->count)) return -1;
    return grpc_md_add(n->h2_md_out[s->self], GS_METADATA_OUT, &h->md_out_len, tag, key, kn, v, vn);
#else
    (void)n; (void)s; (void)tag; (void)key; (void)v; (void)vn;
    return 0;
#endif
}

int gs_set_header(gs_node *n, gs_stream *s, const char *key, const char *v, size_t len)
{
    return core_set_md(n, s, 'h', key, v, len);
}

int gs_set_trailer(gs_node *n, gs_stream *s, const char *key, const char *v, size_t len)
{
    return core_set_md(n, s, 't', key, v, len);
}

int gs_runnable(const gs_node *n) { return n->urgent_len || n->runq_len; }

int gs_idle(const gs_node *n)
{
    return !n->deadlines && !n->timers && !n->urgent_len && !n->runq_len;
}

size_t gs_feed(gs_node *n, const char *in, size_t len) { return jl_feed(n, in, len); }

int gs_feed_end(gs_node *n)
{
    return gs_feed(n, "\n", 1) == 1;   /* a complete last line reads as blank */
}

const char *gs_output(gs_node *n, size_t *len)
{
    *len = n->jl.out_len;
    return n->jl.out;
}

void gs_output_done(gs_node *n, size_t len)
{
    if (len > n->jl.out_len) len = n->jl.out_len;
    memmove(n->jl.out, n->jl.out + len, n->jl.out_len - len);
    n->jl.out_len -= len;
}

int gs_output_full(const gs_node *n) { return n->jl.out_len >= GS_OUT_BATCH; }

/* ===================================================================== */
/* 16. main(): a poll() loop over stdin and stdout                        */
/* ===================================================================== */

/* The thin shell of the JSON-lines node: non-blocking stdin and stdout,
 * output written in batches and always before the loop blocks, the
 * monotonic clock given to gs_tick. Leave it out with GS_NO_MAIN. */

#ifndef GS_NO_MAIN
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static gs_node node;
static char inbuf[65536];
static int saved_flags[2];

static void stderr_line(gs_node *n, const char *what)
{
    char buf[512];
    size_t len = strlen(what);
    (void)n;
    if (len > sizeof buf - 14) len = sizeof buf - 14;
    memcpy(buf, "grpcstream: ", 12);
    memcpy(buf + 12, what, len);
    buf[12 + len] = '\n';
    if (write(2, buf, 13 + len) < 0) { /* nothing more to do */ }
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void restore_flags(void)
{
    fcntl(0, F_SETFL, saved_flags[0]);
    fcntl(1, F_SETFL, saved_flags[1]);
}

static void set_nonblocking(int fd)
{
    saved_flags[fd] = fcntl(fd, F_GETFL);
    if (saved_flags[fd] >= 0) fcntl(fd, F_SETFL, saved_flags[fd] | O_NONBLOCK);
}

/* While there is more work, output goes in whole pages (flush_some with
 * whole_pages): a pipe takes whole pages, and a write that ends a few
 * bytes into one costs the reader and the writer a wake-up. The bytes past
 * the last whole page wait here, not in the node, so its batches (and how
 * streams' messages interleave) do not depend on it. */
#define PAGE_BYTES 4096
static char out_tail[PAGE_BYTES];
static size_t out_tail_len;

/* Output not yet written: the node's and out_tail's. */
static size_t output_pending(void)
{
    size_t len;
    gs_output(&node, &len);
    return len + out_tail_len;
}

/* Writes what output it can (with whole_pages, keeping what is past the
 * last whole page in out_tail); exits on a broken stdout. */
static void flush_some(int whole_pages)
{
    for (;;) {
        size_t len, total, keep;
        const char *out = gs_output(&node, &len);
        struct iovec iov[2];
        ssize_t w;
        total = out_tail_len + len;
        if (total == 0) return;
        keep = whole_pages && total >= PAGE_BYTES ? total % PAGE_BYTES : 0;    /* < len */
        iov[0].iov_base = out_tail;
        iov[0].iov_len = out_tail_len;
        iov[1].iov_base = (void *)out;
        iov[1].iov_len = len - keep;
        w = writev(1, iov, 2);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w < 0) {
            stderr_line(&node, errno == EPIPE ? "stdout closed" : strerror(errno));
            restore_flags();
            exit(1);
        }
        if ((size_t)w < out_tail_len) {
            memmove(out_tail, out_tail + w, out_tail_len - (size_t)w);
            out_tail_len -= (size_t)w;
            continue;
        }
        gs_output_done(&node, (size_t)w - out_tail_len);
        out_tail_len = 0;
        if ((size_t)w < total - keep) continue;     /* a short write: more may go */
        if (keep) {
            out = gs_output(&node, &len);
            memcpy(out_tail, out, keep);
            out_tail_len = keep;
            gs_output_done(&node, keep);
        }
        return;
    }
}

/* Reads stdin into inbuf. Returns 1 when there is news (bytes, end of
 * input, an error reported as end of input), 0 when a read would block. */
static int read_input(size_t *in_off, size_t *in_len, int *in_eof)
{
    ssize_t r = read(0, inbuf, sizeof inbuf);
    if (r > 0) { *in_off = 0; *in_len = (size_t)r; return 1; }
    if (r == 0) { *in_eof = 1; return 1; }
    if (errno == EAGAIN || errno == EINTR) return 0;
    stderr_line(&node, strerror(errno));
    *in_eof = 1;
    return 1;
}

/* The JSON-lines node: stdin to stdout until end of input. Input is read
 * before output is written: output is flushed when a batch is full or a
 * read would block, so a burst of lines costs a write per batch, and no
 * reply waits while the node waits for input. */
static int run_json_lines(void)
{
    size_t in_off = 0, in_len = 0, pending;
    int in_eof = 0, ended = 0;

    set_nonblocking(0);
    set_nonblocking(1);
    for (;;) {
        struct pollfd fds[2];
        int busy, timeout, nfds = 0, more_work, out_due;
        int64_t next_deadline;

        gs_tick(&node, monotonic_ms());
        if (in_off < in_len) in_off += gs_feed(&node, inbuf + in_off, in_len - in_off);
        if (in_eof && in_off == in_len && !ended) ended = gs_feed_end(&node);
        busy = gs_pump(&node);
        pending = output_pending();
        next_deadline = gs_timeout(&node);
        /* At end of input, calls with a deadline still get their end. */
        if (ended && !busy && !pending && gs_idle(&node)) break;
        if (!in_eof && in_off == in_len && !gs_output_full(&node) &&
            read_input(&in_off, &in_len, &in_eof))
            continue;

        /* Work that needs no I/O goes on, and output waits for a full
         * batch, of which whole pages go (flush_some); all of it goes
         * before the node waits. */
        timeout = (busy || in_off < in_len || (in_eof && !ended)) ? 0
                  : next_deadline > INT_MAX ? INT_MAX : (int)next_deadline;
        more_work = timeout == 0;
        if (pending && (!more_work || gs_output_full(&node))) flush_some(more_work);
        pending = output_pending();
        out_due = pending && (!more_work || gs_output_full(&node));

        if (!in_eof && in_off == in_len) {
            fds[nfds].fd = 0;
            fds[nfds++].events = POLLIN;
        }
        if (out_due) {
            fds[nfds].fd = 1;
            fds[nfds++].events = POLLOUT;
            if (gs_output_full(&node)) timeout = -1;   /* must drain first */
        }
        if (!nfds && timeout > 0) {     /* only a deadline to wait for */
            poll(NULL, 0, timeout);
            continue;
        }
        if (!nfds) continue;            /* nothing to wait for: re-check */
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) break;

        if (!in_eof && in_off == in_len) read_input(&in_off, &in_len, &in_eof);
        if (out_due) flush_some(more_work);
    }
    restore_flags();
    return 0;
}

#if GS_MAX_CONNS > 0
/* ----- --listen: gRPC over HTTP/2 on a TCP port ------------------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define GRACE_MS 5000               /* calls may finish after SIGTERM */
#define LAST_WORDS_MS 1000          /* then their UNAVAILABLE ends may leave */

static struct {
    int fd;
    size_t off, len;
} io[GS_MAX_CONNS];
/* apart from io[], which run_listen sets whole: an unused buffer costs nothing */
static char io_in[GS_MAX_CONNS][16384];
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig) { (void)sig; stop_requested = 1; }

/* A non-blocking listening socket on [HOST:]PORT (HOST: IPv4, default
 * 127.0.0.1), or -1 with errno set. */
static int listen_on(const char *spec)
{
    struct sockaddr_in sa;
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(spec, ':'), *port = colon ? colon + 1 : spec;
    char *end;
    long p = strtol(port, &end, 10);
    int fd, one = 1;
    if (colon) {
        size_t len = (size_t)(colon - spec);
        if (len >= sizeof host) { errno = EINVAL; return -1; }
        memcpy(host, spec, len);
        host[len] = '\0';
        if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    if (*port == '\0' || *end != '\0' || p < 0 || p > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    sa.sin_port = htons((uint16_t)p);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void conn_drop(int ci)
{
    close(io[ci].fd);
    io[ci].fd = -1;
    gs_conn_close(&node, ci);
}

static void accept_all(int lfd)
{
    for (;;) {
        int one = 1, ci, fd = accept(lfd, NULL, NULL);
        if (fd < 0) return;
        ci = gs_conn_open(&node);
        if (ci < 0) {               /* every slot taken: say so, then close */
            static const char refuse[] =    /* empty SETTINGS, GOAWAY ENHANCE_YOUR_CALM */
                "\0\0\0\4\0\0\0\0\0" "\0\0\10\7\0\0\0\0\0" "\0\0\0\0\0\0\0\13";
            if (write(fd, refuse, sizeof refuse - 1) < 0) { /* closed anyway */ }
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        io[ci].fd = fd;
        io[ci].off = io[ci].len = 0;
    }
}

/* Writes what connection ci has; drops it on a write error, and once it
 * has ended (and said all, or its peer stopped reading). Returns the bytes
 * still pending. */
static size_t conn_flush(int ci)
{
    size_t len;
    const char *out = gs_conn_output(&node, ci, &len);
    while (len) {
        ssize_t w = write(io[ci].fd, out, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) { conn_drop(ci); return 0; }
        gs_conn_output_done(&node, ci, (size_t)w);
        out = gs_conn_output(&node, ci, &len);
    }
    if (gs_conn_closing(&node, ci)) {
        conn_drop(ci);
        return 0;
    }
    return len;
}

static void conn_read(int ci)
{
    ssize_t r = read(io[ci].fd, io_in[ci], sizeof io_in[ci]);
    if (r > 0) {
        io[ci].off = 0;
        io[ci].len = (size_t)r;
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        conn_drop(ci);              /* the peer is gone: its calls end */
    }
}

/* Feeds the connections, runs the streams, writes what is due; returns
 * 1 if there is work left that needs no I/O. */
static int serve_once(int *wants_out)
{
    int ci, busy = 0;
    int fed[GS_MAX_CONNS];
    for (ci = 0; ci < GS_MAX_CONNS; ci++) {
        size_t used = 0;
        if (io[ci].fd >= 0 && io[ci].off < io[ci].len)
            used = gs_conn_feed(&node, ci, io_in[ci] + io[ci].off, io[ci].len - io[ci].off);
        io[ci].off += used;
        fed[ci] = used > 0;
    }
    busy = gs_pump(&node);
    for (ci = 0; ci < GS_MAX_CONNS; ci++) {
        wants_out[ci] = io[ci].fd >= 0 && conn_flush(ci) > 0;
        /* input it could not take waits for output room (or its end) */
        if (io[ci].fd >= 0 && io[ci].off < io[ci].len && fed[ci]) busy = 1;
    }
    return busy || gs_runnable(&node);     /* writing may have freed room */
}

static int live_calls(void)
{
    int ci;
    unsigned live = 0;
    for (ci = 0; ci < GS_MAX_CONNS; ci++)
        if (io[ci].fd >= 0) live += gs_conn_live(&node, ci);
    return live > 0;
}

/* The HTTP/2 server: one poll() over the listening socket and every
 * connection, until SIGTERM or SIGINT and a graceful shutdown. */
static int run_listen(const char *spec)
{
    struct pollfd fds[GS_MAX_CONNS + 1];
    int map[GS_MAX_CONNS + 1], wants_out[GS_MAX_CONNS];
    uint64_t stop_at = 0;
    int lfd = listen_on(spec), ci;
    if (lfd < 0) {
        fprintf(stderr, "grpcstream: cannot listen on %s: %s\n", spec, strerror(errno));
        return 2;
    }
    for (ci = 0; ci < GS_MAX_CONNS; ci++) io[ci].fd = -1;
    {
        struct sigaction sa;        /* stays installed: a second signal waits too */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = request_stop;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }
    for (;;) {
        int nfds = 0, timeout, busy, i;
        int64_t next;
        uint64_t now = monotonic_ms();
        gs_tick(&node, now);
        if (stop_requested && !stop_at) {
            stop_at = now + GRACE_MS;
            gs_conn_goaway(&node);
            close(lfd);
            lfd = -1;
        }
        if (stop_at && now >= stop_at) gs_end_calls(&node, GS_UNAVAILABLE, "server shutting down");
        busy = serve_once(wants_out);
        /* done when every call is answered, or when what is left cannot
         * leave (a peer that grants no window) */
        if (stop_at && (!live_calls() || now >= stop_at + LAST_WORDS_MS)) {
            for (ci = 0; ci < GS_MAX_CONNS; ci++) if (io[ci].fd >= 0) conn_drop(ci);
            return 0;
        }
        if (lfd >= 0) {
            fds[nfds].fd = lfd;
            fds[nfds].events = POLLIN;
            map[nfds++] = -1;
        }
        for (ci = 0; ci < GS_MAX_CONNS; ci++) {
            if (io[ci].fd < 0) continue;
            fds[nfds].fd = io[ci].fd;
            fds[nfds].events = (short)((io[ci].off == io[ci].len ? POLLIN : 0) | (wants_out[ci] ? POLLOUT : 0));
            map[nfds++] = ci;
        }
        next = gs_timeout(&node);
        timeout = busy ? 0 : next < 0 ? -1 : next > INT_MAX ? INT_MAX : (int)next;
        if (stop_at && (timeout < 0 || timeout > 100)) timeout = 100;
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) return 1;
        gs_tick(&node, monotonic_ms());     /* new connections start on the clock */
        for (i = 0; i < nfds; i++)      /* connections first: a slot a peer */
            if (map[i] >= 0 && fds[i].revents && io[map[i]].fd >= 0 &&   /* just freed is free */
                (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && io[map[i]].off == io[map[i]].len)
                conn_read(map[i]);
        if (lfd >= 0 && nfds && map[0] < 0 && fds[0].revents) accept_all(lfd);
    }
}
#endif

/* Usage on stdout when asked for (exit 0), on stderr after a bad flag (2). */
static int usage(FILE *to, int status)
{
    fputs("usage: grpcstream [--log FILE] [--listen [HOST:]PORT]\n"
          "  reads JSON lines on stdin, writes replies on stdout (see README.md)\n"
          "  --log FILE     the log LogWatcher serves and Append writes, followed like tail -F\n"
          "  --listen ADDR  serve gRPC over HTTP/2 (h2c) on [HOST:]PORT instead of stdin\n"
          "                 (HOST: IPv4, default 127.0.0.1); runs until SIGTERM or SIGINT\n"
          "  --help         this text\n",
          to);
    return status;
}

/* A program that vendors grpcstream can keep this shell (stdin/stdout or
 * --listen) and serve its own methods beside the built-in ones: build with
 * -DGS_MAIN_SERVICES=fn, where int fn(gs_node *) registers them after
 * gs_init and returns 0 (e.g. examples/counter.c's counter_services). */
#ifdef GS_MAIN_SERVICES
int GS_MAIN_SERVICES(gs_node *node);
#endif

int main(int argc, char **argv)
{
    const char *log = NULL, *listen_spec = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout, 0);
        if (strcmp(argv[i], "--log") == 0 && i + 1 < argc && !log) log = argv[++i];
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc && !listen_spec && GS_MAX_CONNS > 0)
            listen_spec = argv[++i];
        else return usage(stderr, 2);
    }
    signal(SIGPIPE, SIG_IGN);
    gs_init(&node);
#ifdef GS_MAIN_SERVICES
    if (GS_MAIN_SERVICES(&node) != 0) {
        fputs("grpcstream: cannot register the program's services\n", stderr);
        return 2;
    }
#endif
    gs_set_diagnostic(&node, stderr_line);
    if (log && gs_log_open(&node, log) != 0) {
        fprintf(stderr, "grpcstream: cannot open log %s: %s\n", log, strerror(errno));
        return 2;
    }
#if GS_MAX_CONNS > 0
    if (listen_spec) return run_listen(listen_spec);
#endif
    return run_json_lines();
}
#endif
