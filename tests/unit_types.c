/*
 * unit_types.c - unit tests of the protobuf codec (section 3) for every
 * proto3 field type, and of proto3's JSON mapping for them (section 8's
 * jl_put_msg / jl_msg_size, section 9's jl_decode_field).
 *
 *     clang -std=c99 -Wall -Wextra -Wpedantic -Werror -g -O1 \
 *         -fsanitize=address,undefined -fno-sanitize-recover=all \
 *         -DGS_MAX_FIELDS=16 -DGS_MAX_MESSAGE=600000 \
 *         -I. -o /tmp/unit_types tests/unit_types.c json.c
 *     /tmp/unit_types             (from anywhere; reads no files)
 *
 * One line per check: PASS: name, FAIL: name, or SKIP: name (the 512 KiB
 * checks need GS_MAX_MESSAGE >= 512 KiB + 64; they never PASS otherwise);
 * the exit status is 1 if any check failed. Every message type here has at
 * most 8 fields, so any GS_MAX_FIELDS the header accepts builds it.
 *
 * Ground truth. Every expected protobuf encoding below was produced once
 * with protoc 3.21.12 (--python_out) and python3-protobuf 4.21.12 (C++
 * backend), by msg.SerializeToString() of the values the comment next to
 * it gives, from this file:
 *
 *     syntax = "proto3";
 *     package t;
 *     enum Color { COLOR_ZERO = 0; RED = 1; BLUE = 2; NEG = -5; }
 *     message Varints { int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4;
 *                       sint32 s32 = 5; sint64 s64 = 6; bool b = 7; Color e = 8; }
 *     message Fixed { fixed32 f32 = 1; fixed64 f64 = 2; sfixed32 sf32 = 3; sfixed64 sf64 = 4;
 *                     float fl = 5; double db = 6; string str = 7; bytes by = 16; }
 *     message Inner { int32 a = 1; string s = 2; }
 *     message Outer { Inner inner = 1; repeated Inner items = 2; sint32 n = 3; Outer next = 4; }
 *     message RepVarints { repeated int32 i32 = 1; ... (Varints' fields, each repeated) }
 *     message RepFixed { repeated fixed32 f32 = 1; ... (Fixed's fields, each repeated) }
 *     message RepVarintsU { (RepVarints with [packed=false] on every field) }
 *     message RepFixedU { (RepFixed with [packed=false] on fields 1..6) }
 *     message Unknowns { int32 a = 1; string s = 2; uint64 v = 9; fixed64 x64 = 10;
 *                        bytes blob = 11; fixed32 x32 = 12; Inner sub = 13; }
 *
 * RepVarintsU and RepFixedU have the numbers and types of RepVarints and
 * RepFixed, so the same descriptor reads both: they are how the reference
 * writes unpacked lists. Byte strings made of several messages were made
 * by concatenating serialized messages (protobuf's merge), and the values
 * the reference parsed back from them are the expected values. The JSON
 * texts were checked against json.dumps(MessageToDict(m,
 * including_default_value_fields=True, preserving_proto_field_name=True))
 * with keys in field order; they differ from it only where the mapping
 * leaves a choice (grpcstream writes a double as %g: 1.0 as 1, -0.0 as
 * -0; Python as repr: 1.0, -0.0). Malformed inputs are hand-written: the
 * reference skips groups and known fields with the wrong wire type as
 * unknown fields, grpcstream answers INTERNAL by design (section 3's
 * header), and these tests hold it to that.
 */
#define _POSIX_C_SOURCE 200809L     /* as grpcstream.c, which this will include */
#define GS_NO_MAIN
#include "../grpcstream.c"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s: ", cond ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) failures++;
}

static void skip(const char *name) { printf("SKIP: %s\n", name); }

/* ----- descriptors: the .proto above, as grpcstream's field tables ------ */

static const gs_enum_value color_values[] = {
    { "COLOR_ZERO", 0 }, { "RED", 1 }, { "BLUE", 2 }, { "NEG", -5 }
};
static const gs_enum color = { color_values, 4 };

static const gs_field varints_fields[] = {
    GS_FIELD("i32", 1, GS_INT32), GS_FIELD("i64", 2, GS_INT64),
    GS_FIELD("u32", 3, GS_UINT32), GS_FIELD("u64", 4, GS_UINT64),
    GS_FIELD("s32", 5, GS_SINT32), GS_FIELD("s64", 6, GS_SINT64),
    GS_FIELD("b", 7, GS_BOOL), GS_ENUM_FIELD("e", 8, &color, 0)
};
/* The same wire format; its 64-bit fields are JSON numbers (GS_JSON_NUMBER). */
static const gs_field varints_num_fields[] = {
    GS_FIELD("i32", 1, GS_INT32), { "i64", 2, GS_INT64, GS_JSON_NUMBER, NULL, NULL },
    GS_FIELD("u32", 3, GS_UINT32), { "u64", 4, GS_UINT64, GS_JSON_NUMBER, NULL, NULL },
    GS_FIELD("s32", 5, GS_SINT32), { "s64", 6, GS_SINT64, GS_JSON_NUMBER, NULL, NULL },
    GS_FIELD("b", 7, GS_BOOL), GS_ENUM_FIELD("e", 8, &color, 0)
};
static const gs_field fixed_fields[] = {
    GS_FIELD("f32", 1, GS_FIXED32), GS_FIELD("f64", 2, GS_FIXED64),
    GS_FIELD("sf32", 3, GS_SFIXED32), GS_FIELD("sf64", 4, GS_SFIXED64),
    GS_FIELD("fl", 5, GS_FLOAT), GS_FIELD("db", 6, GS_DOUBLE),
    GS_FIELD("str", 7, GS_STRING), GS_FIELD("by", 16, GS_BYTES)     /* a two-byte key */
};
static const gs_field rep_varints_fields[] = {
    GS_LIST("i32", 1, GS_INT32), GS_LIST("i64", 2, GS_INT64),
    GS_LIST("u32", 3, GS_UINT32), GS_LIST("u64", 4, GS_UINT64),
    GS_LIST("s32", 5, GS_SINT32), GS_LIST("s64", 6, GS_SINT64),
    GS_LIST("b", 7, GS_BOOL), GS_ENUM_FIELD("e", 8, &color, GS_REPEATED)
};
static const gs_field rep_fixed_fields[] = {
    GS_LIST("f32", 1, GS_FIXED32), GS_LIST("f64", 2, GS_FIXED64),
    GS_LIST("sf32", 3, GS_SFIXED32), GS_LIST("sf64", 4, GS_SFIXED64),
    GS_LIST("fl", 5, GS_FLOAT), GS_LIST("db", 6, GS_DOUBLE),
    GS_LIST("str", 7, GS_STRING), GS_LIST("by", 16, GS_BYTES)
};
static const gs_field inner_fields[] = { GS_FIELD("a", 1, GS_INT32), GS_FIELD("s", 2, GS_STRING) };

static const gs_desc t_varints = { "Varints", varints_fields, 8 };
static const gs_desc t_varints_num = { "VarintsNum", varints_num_fields, 8 };
static const gs_desc t_fixed = { "Fixed", fixed_fields, 8 };
static const gs_desc t_rep_varints = { "RepVarints", rep_varints_fields, 8 };
static const gs_desc t_rep_fixed = { "RepFixed", rep_fixed_fields, 8 };
static const gs_desc t_inner = { "Inner", inner_fields, 2 };

/* Outer holds an Outer (next): its table needs the descriptor's address
 * before the descriptor is complete (a tentative definition). */
static const gs_desc t_outer;
static const gs_field outer_fields[] = {
    GS_MESSAGE_FIELD("inner", 1, &t_inner, 0), GS_MESSAGE_FIELD("items", 2, &t_inner, GS_REPEATED),
    GS_FIELD("n", 3, GS_SINT32), GS_MESSAGE_FIELD("next", 4, &t_outer, 0)
};
static const gs_desc t_outer = { "Outer", outer_fields, 4 };

/* Field indices, named as the .proto names them. */
enum { I32, I64, U32, U64, S32, S64, B, E };
enum { F32, F64, SF32, SF64, FL, DB, STR, BY };
enum { INNER_A, INNER_S };
enum { O_INNER, O_ITEMS, O_N, O_NEXT };

/* ----- helpers ---------------------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1     /* a literal as pointer, length */
#define LEN_OF(a) (sizeof(a) / sizeof((a)[0]))

#define BIG_BYTES 524288                /* the 512 KiB bytes field */
static char enc[BIG_BYTES + 4096];      /* encoder output */
static char enc2[BIG_BYTES + 4096];     /* a second encoding, to compare */
static char json[4 * (BIG_BYTES / 3) + 8192];
static char why_buf[GS_JSON_KEY_MAX + 64];  /* as gs_node.why */

static gs_str str(const char *p, size_t n) { gs_str s; s.p = p; s.n = n; return s; }

static float fbits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static double dbits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static uint32_t bits_of_f(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t bits_of_d(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* A message with proto3's defaults, to be filled as a handler fills one. */
static void init(gs_msg *m, const gs_desc *d) { pb_clear(d, m); }

static void set_varints(gs_msg *m, int64_t i32, int64_t i64, uint64_t u32, uint64_t u64,
                        int64_t s32, int64_t s64, int b, int64_t e)
{
    init(m, &t_varints);
    m->v[I32].i = i32, m->v[I64].i = i64, m->v[U32].u = u32, m->v[U64].u = u64;
    m->v[S32].i = s32, m->v[S64].i = s64, m->v[B].b = b, m->v[E].i = e;
}

static void set_fixed(gs_msg *m, uint64_t f32, uint64_t f64, int64_t sf32, int64_t sf64,
                      float fl, double db, gs_str s, gs_str by)
{
    init(m, &t_fixed);
    m->v[F32].u = f32, m->v[F64].u = f64, m->v[SF32].i = sf32, m->v[SF64].i = sf64;
    m->v[FL].f = fl, m->v[DB].d = db, m->v[STR].s = s, m->v[BY].s = by;
}

/* A handler's list: n values of items. */
static void set_list(gs_msg *m, unsigned i, const gs_value *items, size_t n)
{
    m->v[i].r.n = n;
    m->v[i].r.items = items;
    m->v[i].r.wire = str(NULL, 0);
}

static void set_sub(gs_msg *m, unsigned i, const gs_msg *sub)
{
    m->v[i].m.msg = sub;
    m->v[i].m.raw = str(NULL, 0);
}

static int decode(const gs_desc *d, const char *buf, size_t n, gs_msg *m, const char **why)
{
    *why = NULL;
    memset(m, 0xA5, sizeof *m);     /* what decoding leaves unset shows */
    return pb_decode(d, buf, n, m, why, why_buf, sizeof why_buf);
}

static void dump(const char *label, const char *p, size_t n)
{
    size_t i;
    printf("    %s (%lu):", label, (unsigned long)n);
    for (i = 0; i < n && i < 160; i++) printf(" %02x", (unsigned char)p[i]);
    printf("%s\n", n > 160 ? " ..." : "");
}

/* s is empty, or lies inside buf[0..n): decoding copied nothing. */
static int inside(gs_str s, const char *buf, size_t n)
{
    return s.p && (s.n == 0 || (s.p >= buf && s.p + s.n <= buf + n));
}

/* ----- comparing messages: values by type, floats by their bits --------- */

static int msg_eq_at(const gs_msg *a, const gs_msg *b, unsigned depth);

/* A message value as a gs_msg: 1 (in *out or tmp), 0 absent, -1 bad bytes. */
static int sub_of(const gs_field *f, const gs_value *v, gs_msg *tmp, const gs_msg **out)
{
    if (v->m.msg) { *out = v->m.msg; return 1; }
    if (!v->m.raw.p) return 0;
    if (gs_decode(f->msg, v->m.raw, tmp, NULL) != GS_OK) return -1;
    *out = tmp;
    return 1;
}

/* One value (or list element) of field f's type. */
static int elem_eq(const gs_field *f, const gs_value *a, const gs_value *b, unsigned depth)
{
    switch (f->type) {
    case GS_STRING: case GS_BYTES:
        return a->s.n == b->s.n && (a->s.n == 0 || memcmp(a->s.p, b->s.p, a->s.n) == 0);
    case GS_BOOL: return !a->b == !b->b;
    case GS_FLOAT: return bits_of_f(a->f) == bits_of_f(b->f);
    case GS_DOUBLE: return bits_of_d(a->d) == bits_of_d(b->d);
    case GS_UINT32: case GS_FIXED32: case GS_UINT64: case GS_FIXED64: return a->u == b->u;
    case GS_MESSAGE: {
        gs_msg ta, tb;
        const gs_msg *ma = NULL, *mb = NULL;
        int pa = sub_of(f, a, &ta, &ma), pb = sub_of(f, b, &tb, &mb);
        if (pa < 0 || pb < 0 || pa != pb) return 0;
        return !pa || msg_eq_at(ma, mb, depth + 1);
    }
    default: return a->i == b->i;   /* the signed types and enums */
    }
}

/* Field i of a and b, lists element by element (gs_iter either way). */
static int field_eq(const gs_msg *a, const gs_msg *b, unsigned i, unsigned depth)
{
    const gs_field *f = &a->desc->fields[i];
    gs_iter ia, ib;
    gs_value va, vb;
    if (!(f->flags & GS_REPEATED)) return elem_eq(f, &a->v[i], &b->v[i], depth);
    if (a->v[i].r.n != b->v[i].r.n) return 0;
    gs_iter_start(&ia, a, i);
    gs_iter_start(&ib, b, i);
    for (;;) {
        int more_a = gs_iter_next(&ia, &va), more_b = gs_iter_next(&ib, &vb);
        if (more_a != more_b) return 0;
        if (!more_a) return 1;
        if (!elem_eq(f, &va, &vb, depth)) return 0;
    }
}

static int msg_eq_at(const gs_msg *a, const gs_msg *b, unsigned depth)
{
    unsigned i;
    if (a->desc != b->desc || depth > GS_MAX_DEPTH + 1) return 0;
    for (i = 0; i < a->desc->nfields; i++)
        if (!field_eq(a, b, i, depth)) return 0;
    return 1;
}

static int msg_eq(const gs_msg *a, const gs_msg *b) { return msg_eq_at(a, b, 0); }

/* Field i of m is a list of exactly want[0..n) (gs_iter's count too). */
static int list_is(const gs_msg *m, unsigned i, const gs_value *want, size_t n)
{
    gs_iter it;
    gs_value v;
    size_t k = 0;
    if (m->v[i].r.n != n) return 0;
    gs_iter_start(&it, m, i);
    while (gs_iter_next(&it, &v)) {
        if (k == n || !elem_eq(&m->desc->fields[i], &v, &want[k], 0)) return 0;
        k++;
    }
    return k == n && !gs_iter_next(&it, &v);    /* and it stays at its end */
}

/* ----- the checks most tests make --------------------------------------- */

/* m encodes to exactly want[0..n): pb_msg_size, pb_put_msg's bytes, and
 * nothing written past them. */
static int encodes_to(const gs_msg *m, const char *want, size_t n)
{
    size_t size = pb_msg_size(m, 0);
    char *end;
    memset(enc, 0x5A, n + 16);
    end = pb_put_msg(enc, m);
    if (size == n && (size_t)(end - enc) == n && memcmp(enc, want, n) == 0 &&
        (unsigned char)enc[n] == 0x5A)
        return 1;
    dump("want", want, n);
    dump("got ", enc, size == (size_t)(end - enc) ? size : (size_t)(end - enc));
    return 0;
}

static void expect_encoding(const char *name, const gs_msg *m, const char *want, size_t n)
{
    check(encodes_to(m, want, n), "encode %s: the reference's %lu bytes", name, (unsigned long)n);
}

/* A handler's message m and the reference's bytes of it: m encodes to
 * them; they decode to m, strings and bytes pointing into them; the
 * decoded message encodes to them again. */
static void round_trip(const char *name, const gs_msg *m, const char *want, size_t n)
{
    gs_msg back;
    const char *why;
    unsigned i;
    int r, copied = 0;
    expect_encoding(name, m, want, n);
    r = decode(m->desc, want, n, &back, &why);
    check(r == GS_OK && msg_eq(m, &back), "decode %s: the values", name);
    for (i = 0; r == GS_OK && i < m->desc->nfields; i++) {
        gs_type t = m->desc->fields[i].type;
        if ((t == GS_STRING || t == GS_BYTES) && !(m->desc->fields[i].flags & GS_REPEATED))
            copied |= !inside(back.v[i].s, want, n);
    }
    check(r == GS_OK && !copied, "decode %s: strings and bytes point into the input", name);
    check(r == GS_OK && encodes_to(&back, want, n), "re-encode decoded %s: the same bytes", name);
}

/* buf[0..n) is answered GS_INTERNAL with a reason. */
static void expect_internal(const char *name, const gs_desc *d, const char *buf, size_t n)
{
    gs_msg m;
    const char *why;
    int r = decode(d, buf, n, &m, &why);
    check(r == GS_INTERNAL && why && why[0], "malformed, INTERNAL: %s%s%s", name,
          why ? " -- " : "", why ? why : "");
}
#define MALFORMED(name, d, lit) expect_internal(name, d, S(lit))

/* ----- scalars: every integer type, bool and enum (varints) ------------ */

static void test_varints(void)
{
    gs_msg m;

    /* i32 = INT32_MIN (a 10-byte varint: sign-extended), i64 = INT64_MIN,
     * u32 = UINT32_MAX, u64 = UINT64_MAX, s32 = INT32_MIN, s64 = INT64_MIN,
     * b = true, e = NEG (-5: a negative enum is 10 bytes too) */
    set_varints(&m, INT32_MIN, INT64_MIN, UINT32_MAX, UINT64_MAX, INT32_MIN, INT64_MIN, 1, -5);
    round_trip("Varints (minimums)", &m,
               S("\x08\x80\x80\x80\x80\xf8\xff\xff\xff\xff\x01\x10\x80\x80\x80\x80\x80\x80\x80\x80"
                 "\x80\x01\x18\xff\xff\xff\xff\x0f\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x28"
                 "\xff\xff\xff\xff\x0f\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x38\x01\x40\xfb"
                 "\xff\xff\xff\xff\xff\xff\xff\xff\x01"));
    check(pb_msg_size(&m, 0) <= pb_size_max(&t_varints), "Varints (minimums) within pb_size_max");

    /* i32 = INT32_MAX, i64 = INT64_MAX, u32 = 1, u64 = 2^63, s32 = INT32_MAX,
     * s64 = INT64_MAX, b = true, e = BLUE */
    set_varints(&m, INT32_MAX, INT64_MAX, 1, (uint64_t)1 << 63, INT32_MAX, INT64_MAX, 1, 2);
    round_trip("Varints (maximums)", &m,
               S("\x08\xff\xff\xff\xff\x07\x10\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x18\x01\x20\x80"
                 "\x80\x80\x80\x80\x80\x80\x80\x80\x01\x28\xfe\xff\xff\xff\x0f\x30\xfe\xff\xff\xff"
                 "\xff\xff\xff\xff\xff\x01\x38\x01\x40\x02"));

    /* i32 = -1 (10 bytes), i64 = -1, u32 = 127, u64 = 128, s32 = -1, s64 = 1,
     * b = false (not written), e = 7 (a number the enum does not name) */
    set_varints(&m, -1, -1, 127, 128, -1, 1, 0, 7);
    round_trip("Varints (small, unknown enum value)", &m,
               S("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10\xff\xff\xff\xff\xff\xff\xff\xff"
                 "\xff\x01\x18\x7f\x20\x80\x01\x28\x01\x30\x02\x40\x07"));

    /* Any true int is written as 1, as the reference's True is. */
    set_varints(&m, 0, 0, 0, 0, 0, 0, 7, 0);
    expect_encoding("bool 7 (true)", &m, S("\x38\x01"));

    /* 32-bit fields read from wide varints keep their low 32 bits (the
     * reference truncates likewise); a bool reads any non-zero as true. */
    {
        gs_msg back;
        const char *why;
        int r = decode(&t_varints, S("\x08\xff\xff\xff\xff\x1f\x18\x81\x80\x80\x80\x10"
                                     "\x28\x81\x80\x80\x80\x10\x38\x80\x80\x80\x80\x10"), &back, &why);
        check(r == GS_OK && back.v[I32].i == -1 && back.v[U32].u == 1 && back.v[S32].i == -1 &&
              back.v[B].b, "32-bit varints keep their low 32 bits; bool 2^32 is true");
    }
}

/* ----- scalars: fixed-width types, float, double, string, bytes -------- */

static void test_fixed(void)
{
    gs_msg m;

    /* f32 = UINT32_MAX, f64 = UINT64_MAX, sf32 = INT32_MIN, sf64 = INT64_MIN,
     * fl = 0.1, db = 0.1, str = "héllo €", by = 00 ff 80 (key 16: two bytes) */
    set_fixed(&m, UINT32_MAX, UINT64_MAX, INT32_MIN, INT64_MIN, 0.1f, 0.1,
              str(S("h\xc3\xa9llo \xe2\x82\xac")), str(S("\x00\xff\x80")));
    round_trip("Fixed (extremes, UTF-8, binary bytes)", &m,
               S("\x0d\xff\xff\xff\xff\x11\xff\xff\xff\xff\xff\xff\xff\xff\x1d\x00\x00\x00\x80\x21"
                 "\x00\x00\x00\x00\x00\x00\x00\x80\x2d\xcd\xcc\xcc\x3d\x31\x9a\x99\x99\x99\x99\x99"
                 "\xb9\x3f\x3a\x0a\x68\xc3\xa9\x6c\x6c\x6f\x20\xe2\x82\xac\x82\x01\x03\x00\xff\x80"));
    check(pb_size_max(&t_fixed) == PB_UNBOUNDED, "pb_size_max of a type with bytes is unbounded");

    /* f32 = 1, f64 = 1, sf32 = -1, sf64 = -1, fl = -inf, db = inf, str and by empty */
    set_fixed(&m, 1, 1, -1, -1, -INFINITY, INFINITY, str("", 0), str("", 0));
    round_trip("Fixed (ones, infinities)", &m,
               S("\x0d\x01\x00\x00\x00\x11\x01\x00\x00\x00\x00\x00\x00\x00\x1d\xff\xff\xff\xff\x21"
                 "\xff\xff\xff\xff\xff\xff\xff\xff\x2d\x00\x00\x80\xff\x31\x00\x00\x00\x00\x00\x00"
                 "\xf0\x7f"));

    /* fl = db = float('nan'): the quiet NaNs 7fc00000, 7ff8000000000000 */
    set_fixed(&m, 0, 0, 0, 0, fbits(0x7fc00000), dbits(0x7ff8000000000000), str("", 0), str("", 0));
    round_trip("Fixed (NaN)", &m, S("\x2d\x00\x00\xc0\x7f\x31\x00\x00\x00\x00\x00\x00\xf8\x7f"));

    /* fl = db = -0.0: not the default (its sign bit is set), so written */
    set_fixed(&m, 0, 0, 0, 0, -0.0f, -0.0, str("", 0), str("", 0));
    round_trip("Fixed (-0.0 is written)", &m, S("\x2d\x00\x00\x00\x80\x31\x00\x00\x00\x00\x00\x00\x00\x80"));

    /* sf64 = 1, fl = the least float denormal, db = 5e-324 */
    set_fixed(&m, 0, 0, 0, 1, fbits(1), dbits(1), str("", 0), str("", 0));
    round_trip("Fixed (denormals)", &m,
               S("\x21\x01\x00\x00\x00\x00\x00\x00\x00\x2d\x01\x00\x00\x00\x31\x01\x00\x00\x00\x00"
                 "\x00\x00\x00"));

    /* fl = FLT_MAX, db = 1e300 */
    set_fixed(&m, 0, 0, 0, 0, FLT_MAX, 1e300, str("", 0), str("", 0));
    round_trip("Fixed (FLT_MAX, 1e300)", &m, S("\x2d\xff\xff\x7f\x7f\x31\x9c\x75\x00\x88\x3c\xe4\x37\x7e"));

    /* A NaN's payload and sign go through untouched: fixed32's bytes are
     * the float's bits, little-endian (no reference needed). */
    set_fixed(&m, 0, 0, 0, 0, fbits(0xffc00001), dbits(0xfff0000000000001), str("", 0), str("", 0));
    round_trip("Fixed (NaN payloads)", &m, S("\x2d\x01\x00\xc0\xff\x31\x01\x00\x00\x00\x00\x00\xf0\xff"));
}

/* ----- proto3 defaults ---------------------------------------------------- */

static void test_defaults(void)
{
    const gs_desc *descs[] = { &t_varints, &t_fixed, &t_rep_varints, &t_rep_fixed, &t_inner, &t_outer };
    gs_msg m, back, sub;
    const char *why;
    unsigned k, i;
    int r, ok = 1, encodes_empty = 1;

    /* Absent fields read as defaults: 0, false, +0.0, "" (never NULL),
     * empty lists, absent messages. */
    for (k = 0; k < LEN_OF(descs); k++) {
        r = decode(descs[k], NULL, 0, &m, &why);
        if (r != GS_OK || m.desc != descs[k]) ok = 0;
        for (i = 0; r == GS_OK && i < descs[k]->nfields; i++) {
            const gs_field *f = &descs[k]->fields[i];
            gs_iter it;
            gs_value v;
            if (f->flags & GS_REPEATED) {
                gs_iter_start(&it, &m, i);
                if (m.v[i].r.n || gs_iter_next(&it, &v)) ok = 0;
                continue;
            }
            switch (f->type) {
            case GS_STRING: case GS_BYTES: if (!m.v[i].s.p || m.v[i].s.n) ok = 0; break;
            case GS_MESSAGE: if (m.v[i].m.msg || m.v[i].m.raw.p) ok = 0; break;
            case GS_FLOAT: if (bits_of_f(m.v[i].f)) ok = 0; break;
            case GS_DOUBLE: if (bits_of_d(m.v[i].d)) ok = 0; break;
            case GS_BOOL: if (m.v[i].b) ok = 0; break;
            case GS_UINT32: case GS_UINT64: case GS_FIXED32: case GS_FIXED64: if (m.v[i].u) ok = 0; break;
            default: if (m.v[i].i) ok = 0; break;
            }
        }
        init(&back, descs[k]);      /* and a handler's defaults write nothing */
        if (pb_msg_size(&back, 0) != 0 || pb_put_msg(enc, &back) != enc) encodes_empty = 0;
    }
    check(ok, "empty input: every type's default (\"\" not NULL, empty lists, absent messages)");
    check(encodes_empty, "a message of defaults encodes to nothing, every type");

    /* Defaults sent explicitly read as defaults and are not written back. */
    r = decode(&t_varints, S("\x08\x00\x10\x00\x18\x00\x20\x00\x28\x00\x30\x00\x38\x00\x40\x00"), &m, &why);
    init(&back, &t_varints);
    check(r == GS_OK && msg_eq(&m, &back) && pb_msg_size(&m, 0) == 0,
          "explicit zero varints read as defaults, not written back");
    r = decode(&t_fixed, S("\x0d\x00\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00\x00"
                           "\x21\x00\x00\x00\x00\x00\x00\x00\x00\x2d\x00\x00\x00\x00\x31\x00\x00\x00\x00"
                           "\x00\x00\x00\x00\x3a\x00\x82\x01\x00"), &m, &why);
    init(&back, &t_fixed);
    check(r == GS_OK && msg_eq(&m, &back) && pb_msg_size(&m, 0) == 0,
          "explicit zero fixed, +0.0, \"\" and empty bytes read as defaults, not written back");

    /* A present empty message is written as its key and length 0; an
     * absent one not at all. Outer { inner: {} } is "\x0a\x00". */
    init(&sub, &t_inner);
    init(&m, &t_outer);
    set_sub(&m, O_INNER, &sub);
    round_trip("Outer { inner: {} } (present, empty)", &m, S("\x0a\x00"));
    r = decode(&t_outer, S("\x0a\x00"), &back, &why);
    check(r == GS_OK && back.v[O_INNER].m.raw.p && back.v[O_INNER].m.raw.n == 0 && !back.v[O_INNER].m.msg &&
          !back.v[O_NEXT].m.raw.p, "decoded present empty message: raw non-NULL, length 0; absent: NULL");
    /* A message to send given as its bytes (msg NULL): Outer { inner: { a: 1 } } */
    init(&m, &t_outer);
    m.v[O_INNER].m.raw = str(S("\x08\x01"));
    expect_encoding("Outer { inner: { a: 1 } } from raw bytes", &m, S("\x0a\x02\x08\x01"));
}

/* ----- nested messages -------------------------------------------------- */

static void test_nested(void)
{
    /* Outer { inner: { a: 1, s: "x" }, items: [{ a: 2 }, {}, { s: "y" }],
     *         n: -3, next: { inner: {} } } */
    static const char want[] = "\x0a\x05\x08\x01\x12\x01\x78\x12\x02\x08\x02\x12\x00\x12\x03\x12"
                               "\x01\x79\x18\x05\x22\x02\x0a\x00";
    const size_t n = sizeof want - 1;
    gs_msg m, in1, it[3], next, empty, back, sub, nested;
    gs_value items[3];
    gs_iter iter;
    gs_value v;
    const char *why;
    int r, ok, k;

    init(&in1, &t_inner), in1.v[INNER_A].i = 1, in1.v[INNER_S].s = str(S("x"));
    init(&it[0], &t_inner), it[0].v[INNER_A].i = 2;
    init(&it[1], &t_inner);
    init(&it[2], &t_inner), it[2].v[INNER_S].s = str(S("y"));
    init(&empty, &t_inner);
    init(&next, &t_outer), set_sub(&next, O_INNER, &empty);
    for (k = 0; k < 3; k++) items[k].m.msg = &it[k], items[k].m.raw = str(NULL, 0);
    init(&m, &t_outer);
    set_sub(&m, O_INNER, &in1);
    set_list(&m, O_ITEMS, items, 3);
    m.v[O_N].i = -3;
    set_sub(&m, O_NEXT, &next);
    round_trip("Outer (nested, repeated messages, recursion)", &m, want, n);

    /* Decoded, a message field keeps its bytes (into the input), read by
     * gs_decode; so do the elements of a list of messages. */
    r = decode(&t_outer, want, n, &back, &why);
    check(r == GS_OK && !back.v[O_INNER].m.msg && back.v[O_INNER].m.raw.p == want + 2 &&
          back.v[O_INNER].m.raw.n == 5, "decoded message field: its raw bytes, in the input");
    r = gs_decode(&t_inner, back.v[O_INNER].m.raw, &sub, &why);
    check(r == GS_OK && sub.v[INNER_A].i == 1 && sub.v[INNER_S].s.n == 1 &&
          sub.v[INNER_S].s.p == want + 6, "gs_decode of a sub-message's raw bytes (zero copy)");
    ok = back.v[O_ITEMS].r.n == 3;
    gs_iter_start(&iter, &back, O_ITEMS);
    for (k = 0; ok && gs_iter_next(&iter, &v); k++) {
        ok = k < 3 && !v.m.msg && inside(v.m.raw, want, n) && gs_decode(&t_inner, v.m.raw, &sub, &why) == GS_OK &&
             msg_eq(&sub, &it[k]);
    }
    check(ok && k == 3, "list of messages: gs_iter gives each element's raw bytes; gs_decode reads them");
    r = gs_decode(&t_outer, back.v[O_NEXT].m.raw, &nested, &why);
    check(r == GS_OK && nested.v[O_INNER].m.raw.p && nested.v[O_INNER].m.raw.n == 0 &&
          !nested.v[O_NEXT].m.raw.p && nested.v[O_ITEMS].r.n == 0, "a recursive field decodes (next.inner present, empty)");

    /* Unknown fields inside a sub-message are skipped by gs_decode too;
     * re-encoding keeps the sub-message's bytes as they came. */
    {
        /* Outer { inner: bytes 08 01 | 48 05 (9: varint) | 6d 01 02 03 04 (13: fixed32) } */
        static const char buf[] = "\x0a\x09\x08\x01\x48\x05\x6d\x01\x02\x03\x04";
        r = decode(&t_outer, S(buf), &back, &why);
        ok = r == GS_OK && gs_decode(&t_inner, back.v[O_INNER].m.raw, &sub, &why) == GS_OK && sub.v[INNER_A].i == 1;
        check(ok && encodes_to(&back, buf, sizeof buf - 1),
              "a sub-message with unknown fields: read, and re-encoded byte for byte");
    }

    /* gs_decode answers INTERNAL for malformed bytes it is handed (not
     * from a checked request), and says why. */
    why = NULL;
    r = gs_decode(&t_inner, str(S("\x08\xff")), &sub, &why);
    check(r == GS_INTERNAL && why && why[0], "gs_decode of malformed bytes: INTERNAL with a reason");
    r = gs_decode(&t_inner, str(S("\x08\xff")), &sub, NULL);
    check(r == GS_INTERNAL, "gs_decode with why NULL");
}

/* Messages nested GS_MAX_DEPTH deep decode and encode; one deeper is
 * refused by both (a cycle cannot hang the encoder). The reference allows
 * 100 levels: grpcstream is stricter by design. */
static void test_depth(void)
{
    static gs_msg chain[GS_MAX_DEPTH + 2];
    static char buf[4 * (GS_MAX_DEPTH + 2)];
    gs_msg back;
    const char *why;
    size_t len = 0, size;
    int k, r;

    /* Outer { next: { next: ... {} } }: levels messages, built from the
     * inside out: each wraps the last in key 0x22 and its length. */
    for (k = 0; k < GS_MAX_DEPTH + 2; k++) init(&chain[k], &t_outer);
    for (k = 0; k < GS_MAX_DEPTH + 1; k++) set_sub(&chain[k], O_NEXT, &chain[k + 1]);
    for (k = 0; k < GS_MAX_DEPTH + 1; k++) {        /* k + 2 messages deep */
        char head[8];
        size_t h = 0, l = len;
        head[h++] = 0x22;
        while (l >= 0x80) head[h++] = (char)(l | 0x80), l >>= 7;
        head[h++] = (char)l;
        memmove(buf + h, buf, len);
        memcpy(buf, head, h);
        len += h;
        if (k + 2 == GS_MAX_DEPTH + 1) {
            chain[GS_MAX_DEPTH].v[O_NEXT].m.msg = NULL;     /* GS_MAX_DEPTH + 1 messages */
            size = pb_msg_size(&chain[0], 0);
            r = decode(&t_outer, buf, len, &back, &why);
            check(size == len && encodes_to(&chain[0], buf, len) && r == GS_OK,
                  "%d messages nested (GS_MAX_DEPTH below the top): encoded and decoded", GS_MAX_DEPTH + 1);
            check(jl_msg_size(&chain[0]) != (size_t)-1, "...and written as JSON");
            set_sub(&chain[GS_MAX_DEPTH], O_NEXT, &chain[GS_MAX_DEPTH + 1]);
        }
    }
    r = decode(&t_outer, buf, len, &back, &why);
    check(r == GS_INTERNAL && why && why[0], "%d messages nested: decoding says INTERNAL", GS_MAX_DEPTH + 2);
    check(pb_msg_size(&chain[0], 0) == PB_UNBOUNDED && jl_msg_size(&chain[0]) == (size_t)-1,
          "%d messages nested: pb_msg_size and jl_msg_size refuse it", GS_MAX_DEPTH + 2);
}

/* ----- repeated fields ------------------------------------------------------ */

/* RepVarints / RepVarintsU:
 *   i32 = [0, -1, INT32_MIN, INT32_MAX], i64 = [INT64_MIN, 0, INT64_MAX],
 *   u32 = [0, UINT32_MAX], u64 = [UINT64_MAX, 1], s32 = [-1, 1, INT32_MIN],
 *   s64 = [INT64_MIN, INT64_MAX, -2], b = [true, false, true],
 *   e = [COLOR_ZERO, NEG, 7, BLUE] */
static const gs_value rv_i32[] = { { .i = 0 }, { .i = -1 }, { .i = INT32_MIN }, { .i = INT32_MAX } };
static const gs_value rv_i64[] = { { .i = INT64_MIN }, { .i = 0 }, { .i = INT64_MAX } };
static const gs_value rv_u32[] = { { .u = 0 }, { .u = UINT32_MAX } };
static const gs_value rv_u64[] = { { .u = UINT64_MAX }, { .u = 1 } };
static const gs_value rv_s32[] = { { .i = -1 }, { .i = 1 }, { .i = INT32_MIN } };
static const gs_value rv_s64[] = { { .i = INT64_MIN }, { .i = INT64_MAX }, { .i = -2 } };
static const gs_value rv_b[] = { { .b = 1 }, { .b = 0 }, { .b = 1 } };
static const gs_value rv_e[] = { { .i = 0 }, { .i = -5 }, { .i = 7 }, { .i = 2 } };
static const char rv_packed[] =
    "\x0a\x1a\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x80\x80\x80\x80\xf8\xff\xff\xff\xff\x01\xff"
    "\xff\xff\xff\x07\x12\x14\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00\xff\xff\xff\xff\xff\xff\xff"
    "\xff\x7f\x1a\x06\x00\xff\xff\xff\xff\x0f\x22\x0b\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x2a"
    "\x07\x01\x02\xff\xff\xff\xff\x0f\x32\x15\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\xfe\xff\xff\xff"
    "\xff\xff\xff\xff\xff\x01\x03\x3a\x03\x01\x00\x01\x42\x0d\x00\xfb\xff\xff\xff\xff\xff\xff\xff\xff"
    "\x01\x07\x02";
static const char rv_unpacked[] =
    "\x08\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x08\x80\x80\x80\x80\xf8\xff\xff\xff\xff\x01"
    "\x08\xff\xff\xff\xff\x07\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x10\x00\x10\xff\xff\xff\xff"
    "\xff\xff\xff\xff\x7f\x18\x00\x18\xff\xff\xff\xff\x0f\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    "\x20\x01\x28\x01\x28\x02\x28\xff\xff\xff\xff\x0f\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x30"
    "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01\x30\x03\x38\x01\x38\x00\x38\x01\x40\x00\x40\xfb\xff\xff"
    "\xff\xff\xff\xff\xff\xff\x01\x40\x07\x40\x02";

/* RepFixed / RepFixedU:
 *   f32 = [0, UINT32_MAX], f64 = [UINT64_MAX], sf32 = [INT32_MIN, -1],
 *   sf64 = [INT64_MIN], fl = [0.5, -inf], db = [1e300, -0.0, 5e-324],
 *   str = ["", "a", "héllo"], by = [b"", b"\x00\xff"] */
static const gs_value rf_f32[] = { { .u = 0 }, { .u = UINT32_MAX } };
static const gs_value rf_f64[] = { { .u = UINT64_MAX } };
static const gs_value rf_sf32[] = { { .i = INT32_MIN }, { .i = -1 } };
static const gs_value rf_sf64[] = { { .i = INT64_MIN } };
static const gs_value rf_fl[] = { { .f = 0.5f }, { .f = -INFINITY } };
static const gs_value rf_db[] = { { .d = 1e300 }, { .d = -0.0 }, { .d = 4.9406564584124654e-324 } };
static const gs_value rf_str[] = { { .s = { "", 0 } }, { .s = { "a", 1 } }, { .s = { "h\xc3\xa9llo", 6 } } };
static const gs_value rf_by[] = { { .s = { "", 0 } }, { .s = { "\x00\xff", 2 } } };
static const char rf_packed[] =
    "\x0a\x08\x00\x00\x00\x00\xff\xff\xff\xff\x12\x08\xff\xff\xff\xff\xff\xff\xff\xff\x1a\x08\x00\x00"
    "\x00\x80\xff\xff\xff\xff\x22\x08\x00\x00\x00\x00\x00\x00\x00\x80\x2a\x08\x00\x00\x00\x3f\x00\x00"
    "\x80\xff\x32\x18\x9c\x75\x00\x88\x3c\xe4\x37\x7e\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00"
    "\x00\x00\x00\x00\x3a\x00\x3a\x01\x61\x3a\x06\x68\xc3\xa9\x6c\x6c\x6f\x82\x01\x00\x82\x01\x02\x00"
    "\xff";
static const char rf_unpacked[] =
    "\x0d\x00\x00\x00\x00\x0d\xff\xff\xff\xff\x11\xff\xff\xff\xff\xff\xff\xff\xff\x1d\x00\x00\x00\x80"
    "\x1d\xff\xff\xff\xff\x21\x00\x00\x00\x00\x00\x00\x00\x80\x2d\x00\x00\x00\x3f\x2d\x00\x00\x80\xff"
    "\x31\x9c\x75\x00\x88\x3c\xe4\x37\x7e\x31\x00\x00\x00\x00\x00\x00\x00\x80\x31\x01\x00\x00\x00\x00"
    "\x00\x00\x00\x3a\x00\x3a\x01\x61\x3a\x06\x68\xc3\xa9\x6c\x6c\x6f\x82\x01\x00\x82\x01\x02\x00\xff";

static void set_rep_varints(gs_msg *m)
{
    init(m, &t_rep_varints);
    set_list(m, I32, rv_i32, LEN_OF(rv_i32)), set_list(m, I64, rv_i64, LEN_OF(rv_i64));
    set_list(m, U32, rv_u32, LEN_OF(rv_u32)), set_list(m, U64, rv_u64, LEN_OF(rv_u64));
    set_list(m, S32, rv_s32, LEN_OF(rv_s32)), set_list(m, S64, rv_s64, LEN_OF(rv_s64));
    set_list(m, B, rv_b, LEN_OF(rv_b)), set_list(m, E, rv_e, LEN_OF(rv_e));
}

static void set_rep_fixed(gs_msg *m)
{
    init(m, &t_rep_fixed);
    set_list(m, F32, rf_f32, LEN_OF(rf_f32)), set_list(m, F64, rf_f64, LEN_OF(rf_f64));
    set_list(m, SF32, rf_sf32, LEN_OF(rf_sf32)), set_list(m, SF64, rf_sf64, LEN_OF(rf_sf64));
    set_list(m, FL, rf_fl, LEN_OF(rf_fl)), set_list(m, DB, rf_db, LEN_OF(rf_db));
    set_list(m, STR, rf_str, LEN_OF(rf_str)), set_list(m, BY, rf_by, LEN_OF(rf_by));
}

/* Every list of a decoded message holds what the handler's m holds, and
 * its string and bytes elements point into buf. */
static int lists_match(const gs_msg *m, const gs_msg *back, const char *buf, size_t n)
{
    unsigned i;
    for (i = 0; i < m->desc->nfields; i++) {
        const gs_field *f = &m->desc->fields[i];
        gs_iter it;
        gs_value v;
        if (!list_is(back, i, m->v[i].r.items, m->v[i].r.n)) return 0;
        if (f->type != GS_STRING && f->type != GS_BYTES) continue;
        gs_iter_start(&it, back, i);
        while (gs_iter_next(&it, &v))
            if (!inside(v.s, buf, n)) return 0;
    }
    return 1;
}

static void test_repeated(void)
{
    gs_msg m, back;
    const char *why;
    int r;

    /* A handler's lists (items arrays) are written packed, as the
     * reference writes proto3's repeated scalars. */
    set_rep_varints(&m);
    round_trip("RepVarints (packed)", &m, S(rv_packed));
    set_rep_fixed(&m);
    round_trip("RepFixed (packed; strings and bytes one by one)", &m, S(rf_packed));

    /* Unpacked lists (the reference's [packed=false]) read the same, and
     * are written back packed. */
    set_rep_varints(&m);
    r = decode(&t_rep_varints, S(rv_unpacked), &back, &why);
    check(r == GS_OK && lists_match(&m, &back, S(rv_unpacked)), "decode RepVarints unpacked: every list");
    check(r == GS_OK && encodes_to(&back, S(rv_packed)), "re-encode unpacked RepVarints: the packed bytes");
    set_rep_fixed(&m);
    r = decode(&t_rep_fixed, S(rf_unpacked), &back, &why);
    check(r == GS_OK && lists_match(&m, &back, S(rf_unpacked)),
          "decode RepFixed unpacked: every list, strings and bytes in the input");
    check(r == GS_OK && encodes_to(&back, S(rf_packed)), "re-encode unpacked RepFixed: the packed bytes");
    r = decode(&t_rep_fixed, S(rf_packed), &back, &why);
    check(r == GS_OK && lists_match(&m, &back, S(rf_packed)), "decode RepFixed packed: elements point into the input");

    /* One field in packed and unpacked runs, another field between them:
     *   RepVarints(i32=[1, 2]) + RepVarintsU(i32=[3]) + RepVarints(u64=[9])
     *   + RepVarints(i32=[4, 5]) + RepVarintsU(i32=[6])
     * reads as i32 = [1, 2, 3, 4, 5, 6], u64 = [9] (the reference's parse),
     * and the reference writes that back as 0a 06 01..06 22 01 09. */
    {
        static const char mixed[] = "\x0a\x02\x01\x02\x08\x03\x22\x01\x09\x0a\x02\x04\x05\x08\x06";
        static const gs_value want[] = { { .i = 1 }, { .i = 2 }, { .i = 3 }, { .i = 4 }, { .i = 5 }, { .i = 6 } };
        static const gs_value nine[] = { { .u = 9 } };
        gs_iter it;
        gs_value v;
        int again = 1;
        r = decode(&t_rep_varints, S(mixed), &back, &why);
        check(r == GS_OK && list_is(&back, I32, want, 6) && list_is(&back, U64, nine, 1) && back.v[I64].r.n == 0,
              "gs_iter over packed and unpacked runs of one field: [1..6], in order");
        gs_iter_start(&it, &back, I32);     /* a second walk gives the same */
        for (r = 1; gs_iter_next(&it, &v); r++) again &= v.i == r;
        check(again && r == 7, "gs_iter_start again walks the list again");
        check(encodes_to(&back, S("\x0a\x06\x01\x02\x03\x04\x05\x06\x22\x01\x09")),
              "re-encode mixed runs: one packed run per field (the reference's bytes)");
    }

    /* Lists of defaults are still written (only singular defaults are
     * not): RepVarints(i32=[0]), RepFixed(fl=[0.0]), RepFixed(str=[""]),
     * Outer(items=[Inner()]); and RepVarints(b=[True]) from a true of 7. */
    {
        static const gs_value zero[] = { { .i = 0 } }, fzero[] = { { .f = 0 } }, empty[] = { { .s = { "", 0 } } };
        static const gs_value seven[] = { { .b = 7 } };
        gs_msg inner;
        gs_value item;
        init(&m, &t_rep_varints), set_list(&m, I32, zero, 1);
        round_trip("RepVarints i32 [0]", &m, S("\x0a\x01\x00"));
        init(&m, &t_rep_fixed), set_list(&m, FL, fzero, 1);
        round_trip("RepFixed fl [0.0]", &m, S("\x2a\x04\x00\x00\x00\x00"));
        init(&m, &t_rep_fixed), set_list(&m, STR, empty, 1);
        round_trip("RepFixed str [\"\"]", &m, S("\x3a\x00"));
        init(&inner, &t_inner);
        item.m.msg = &inner, item.m.raw = str(NULL, 0);
        init(&m, &t_outer), set_list(&m, O_ITEMS, &item, 1);
        round_trip("Outer items [{}]", &m, S("\x12\x00"));
        init(&m, &t_rep_varints), set_list(&m, B, seven, 1);
        expect_encoding("RepVarints b [7] (true)", &m, S("\x3a\x01\x01"));
        /* A list element to send may be a message's bytes (msg NULL). */
        item.m.msg = NULL, item.m.raw = str(S("\x08\x01"));
        init(&m, &t_outer), set_list(&m, O_ITEMS, &item, 1);
        expect_encoding("Outer items [raw 08 01]", &m, S("\x12\x02\x08\x01"));
    }

    /* An empty packed run is an empty list, written as nothing. */
    r = decode(&t_rep_varints, S("\x0a\x00\x32\x00"), &back, &why);
    check(r == GS_OK && back.v[I32].r.n == 0 && list_is(&back, I32, NULL, 0) && pb_msg_size(&back, 0) == 0,
          "empty packed runs: empty lists, not written back");
}

/* ----- last one wins, unknown fields ------------------------------------ */

static void test_last_wins(void)
{
    gs_msg back;
    const char *why;
    int r;

    /* Varints(i32=5, e=RED) + Varints(i32=-1) + "\x08\x00" + Varints(e=BLUE):
     * the reference reads i32 = 0, e = BLUE and writes "\x40\x02". */
    static const char ints[] = "\x08\x05\x40\x01\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x08\x00\x40\x02";
    /* Fixed(str="one", fl=1.5) + Fixed(str="two"): str = "two", fl = 1.5 */
    static const char strs[] = "\x2d\x00\x00\xc0\x3f\x3a\x03\x6f\x6e\x65\x3a\x03\x74\x77\x6f";

    r = decode(&t_varints, S(ints), &back, &why);
    check(r == GS_OK && back.v[I32].i == 0 && back.v[E].i == 2 && encodes_to(&back, S("\x40\x02")),
          "last one wins: a scalar back to its default, an enum");
    r = decode(&t_fixed, S(strs), &back, &why);
    check(r == GS_OK && back.v[STR].s.p == strs + 12 && back.v[STR].s.n == 3 && back.v[FL].f == 1.5f,
          "last one wins: a string is the later occurrence (zero copy)");

    /* A message field sent twice keeps its last occurrence (grpcstream.h:
     * no merging; the reference would merge them into { a: 1, s: "z" }). */
    r = decode(&t_outer, S("\x0a\x02\x08\x01\x0a\x03\x12\x01\x7a"), &back, &why);
    check(r == GS_OK && back.v[O_INNER].m.raw.n == 3 && back.v[O_INNER].m.raw.p[2] == 'z',
          "a message field sent twice: its last occurrence (documented: no merge)");
}

static void test_unknown(void)
{
    gs_msg back;
    const char *why;
    int r;

    /* Unknowns(v=150) + (a=7) + (x64=0x0807060504030201) + (blob=ff fe 00)
     * + (s="k") + (x32=0x04030201) + (sub=Inner(a=1)) + (v=UINT64_MAX),
     * read as Inner: unknown fields of wire types 0, 1, 2 (bytes and a
     * message) and 5 before, between and after the known ones. The
     * reference reads a = 7, s = "k" and, its unknown fields discarded,
     * writes "\x08\x07\x12\x01\x6b". */
    static const char unk[] = "\x48\x96\x01\x08\x07\x51\x01\x02\x03\x04\x05\x06\x07\x08\x5a\x03\xff\xfe"
                              "\x00\x12\x01\x6b\x65\x01\x02\x03\x04\x6a\x02\x08\x01\x48\xff\xff\xff\xff"
                              "\xff\xff\xff\xff\xff\x01";
    /* The same wire types under the largest field number, 2^29 - 1 (the
     * reference reads a = 7 from it too). */
    static const char maxnum[] = "\xf8\xff\xff\xff\x0f\x01\xf9\xff\xff\xff\x0f\x00\x01\x02\x03\x04\x05\x06"
                                 "\x07\xfa\xff\xff\xff\x0f\x01\x78\xfd\xff\xff\xff\x0f\x00\x00\x00\x00\x08\x07";

    r = decode(&t_inner, S(unk), &back, &why);
    check(r == GS_OK && back.v[INNER_A].i == 7 && back.v[INNER_S].s.n == 1 && back.v[INNER_S].s.p == unk + 21,
          "unknown fields of wire types 0, 1, 2, 5 skipped; known ones read");
    check(r == GS_OK && encodes_to(&back, S("\x08\x07\x12\x01\x6b")),
          "unknown fields are not written back (the reference's bytes without them)");
    r = decode(&t_inner, S(maxnum), &back, &why);
    check(r == GS_OK && back.v[INNER_A].i == 7, "unknown fields numbered 2^29-1, every wire type");
    /* Known in one type, unknown in another: Varints' fields 1 and 3..8
     * read as Inner, whose a is field 1 (an int32 too) and which knows no
     * field above 2. */
    r = decode(&t_inner, S("\x08\x05\x18\x01\x20\x02\x28\x03\x30\x04\x38\x01\x40\x02"), &back, &why);
    check(r == GS_OK && back.v[INNER_A].i == 5, "a message's fields 3..8 are unknown to Inner: skipped");
}

/* ----- malformed input: INTERNAL ------------------------------------------ */

static void test_malformed(void)
{
    /* truncated varints: a key, a value, a length, inside a packed run */
    MALFORMED("truncated key", &t_varints, "\x80");
    MALFORMED("key without its value", &t_varints, "\x08");
    MALFORMED("truncated int32 varint", &t_varints, "\x08\xff");
    MALFORMED("truncated int64 varint (9 of 10 bytes)", &t_varints, "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    MALFORMED("truncated sint64 varint", &t_varints, "\x30\x80\x80");
    MALFORMED("truncated enum varint", &t_varints, "\x40\xfb\xff");
    MALFORMED("truncated unknown varint", &t_inner, "\x48\x96");
    MALFORMED("truncated length", &t_fixed, "\x3a\x80");
    MALFORMED("truncated varint in a packed run", &t_rep_varints, "\x0a\x02\x01\xff");
    MALFORMED("varint of 11 bytes", &t_varints, "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    MALFORMED("10-byte varint beyond 64 bits", &t_varints, "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03");
    /* truncated fixed-width values */
    MALFORMED("truncated fixed32", &t_fixed, "\x0d\x01\x02\x03");
    MALFORMED("truncated fixed64", &t_fixed, "\x11\x01\x02\x03\x04\x05\x06\x07");
    MALFORMED("truncated float", &t_fixed, "\x2d\x00\x00");
    MALFORMED("truncated double", &t_fixed, "\x31\x00");
    MALFORMED("truncated unknown fixed64", &t_inner, "\x51\x01\x02");
    MALFORMED("packed fixed32 run of 3 bytes", &t_rep_fixed, "\x0a\x03\x01\x02\x03");
    MALFORMED("packed double run of 12 bytes", &t_rep_fixed, "\x32\x0c\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00");
    /* lengths beyond the buffer */
    MALFORMED("string length beyond the buffer", &t_fixed, "\x3a\x05" "abc");
    MALFORMED("bytes length beyond the buffer by one", &t_fixed, "\x82\x01\x04" "abc");
    MALFORMED("sub-message length beyond the buffer", &t_outer, "\x0a\x03\x08\x01");
    MALFORMED("list element length beyond the buffer", &t_outer, "\x12\x05\x08\x01");
    MALFORMED("packed run length beyond the buffer", &t_rep_varints, "\x0a\x05\x01\x02");
    MALFORMED("unknown length beyond the buffer", &t_inner, "\x5a\x02" "a");
    MALFORMED("length 2^64-1", &t_fixed, "\x3a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "abc");
    /* malformed bytes inside a nested message fail the whole request */
    MALFORMED("sub-message holding a truncated varint", &t_outer, "\x0a\x02\x08\xff");
    MALFORMED("list element holding a length beyond it", &t_outer, "\x12\x02\x12\x05");
    MALFORMED("sub-sub-message malformed (next.inner)", &t_outer, "\x22\x04\x0a\x02\x08\xff");
    MALFORMED("invalid UTF-8 in a sub-message's string", &t_outer, "\x0a\x03\x12\x01\xff");
    MALFORMED("invalid UTF-8 in a list of strings", &t_rep_fixed, "\x3a\x01" "a" "\x3a\x01\xc0");
    /* a known field with the wrong wire type (the reference would keep it
     * as an unknown field; grpcstream refuses it by design) */
    MALFORMED("wrong wire type: int32 as fixed32", &t_varints, "\x0d\x01\x00\x00\x00");
    MALFORMED("wrong wire type: int32 as length-delimited", &t_varints, "\x0a\x00");
    MALFORMED("wrong wire type: bool as fixed64", &t_varints, "\x39\x01\x00\x00\x00\x00\x00\x00\x00");
    MALFORMED("wrong wire type: fixed32 as varint", &t_fixed, "\x08\x01");
    MALFORMED("wrong wire type: double as fixed32", &t_fixed, "\x35\x00\x00\x80\x3f");
    MALFORMED("wrong wire type: string as varint", &t_fixed, "\x38\x01");
    MALFORMED("wrong wire type: bytes as fixed32", &t_fixed, "\x85\x01\x00\x00\x00\x00");
    MALFORMED("wrong wire type: message as varint", &t_outer, "\x08\x01");
    MALFORMED("wrong wire type: repeated message as varint", &t_outer, "\x10\x01");
    MALFORMED("wrong wire type: repeated string as varint", &t_rep_fixed, "\x38\x01");
    MALFORMED("wrong wire type: repeated fixed32 as varint", &t_rep_fixed, "\x08\x01");
    MALFORMED("wrong wire type: repeated int32 as fixed64", &t_rep_varints, "\x09\x01\x00\x00\x00\x00\x00\x00\x00");
    /* groups (wire types 3 and 4: proto3 has none; grpcstream refuses
     * them even as unknown fields, where the reference skips them) */
    MALFORMED("group for a known field", &t_varints, "\x0b\x0c");
    MALFORMED("unknown group", &t_varints, "\x7b\x08\x01\x7c");
    MALFORMED("lone end-group", &t_varints, "\x0c");
    MALFORMED("group after a valid field", &t_inner, "\x08\x01\x1b\x1c");
    MALFORMED("group inside a sub-message", &t_outer, "\x0a\x02\x7b\x7c");
    {
        gs_msg m;
        const char *why;
        int r = decode(&t_varints, S("\x7b\x08\x01\x7c"), &m, &why);
        check(r == GS_INTERNAL && why && strstr(why, "group"), "the reason names groups (%s)", why ? why : "");
    }
    /* wire types 6 and 7 do not exist; field number 0 */
    MALFORMED("wire type 6", &t_varints, "\x0e");
    MALFORMED("wire type 7", &t_varints, "\x0f\x00");
    MALFORMED("field number 0", &t_varints, "\x00\x01");
}

/* Every prefix of a valid message: OK exactly where the reference's
 * parser says OK (python3-protobuf: FromString of each prefix). */
static void expect_prefixes(const char *name, const gs_desc *d, const char *buf, size_t n,
                            const unsigned *ok_at, size_t nok)
{
    gs_msg m;
    const char *why;
    size_t k, j, bad = 0;
    for (k = 0; k <= n; k++) {
        int boundary = 0, r;
        for (j = 0; j < nok; j++) boundary |= ok_at[j] == k;
        r = decode(d, buf, k, &m, &why);
        if (boundary ? r != GS_OK : (r != GS_INTERNAL || !why || !why[0])) {
            printf("    prefix %lu: status %d\n", (unsigned long)k, r);
            bad++;
        }
    }
    check(bad == 0, "every truncation of %s: OK where the reference reads it, else INTERNAL", name);
}

static void test_truncations(void)
{
    static const char outer[] = "\x0a\x05\x08\x01\x12\x01\x78\x12\x02\x08\x02\x12\x00\x12\x03\x12"
                                "\x01\x79\x18\x05\x22\x02\x0a\x00";
    static const unsigned outer_ok[] = { 0, 7, 11, 13, 18, 20, 24 };
    static const unsigned packed_ok[] = { 0, 28, 50, 58, 71, 80, 103, 108, 123 };
    static const unsigned unpacked_ok[] = { 0, 2, 13, 24, 30, 41, 43, 53, 55, 61, 72, 74, 76, 78, 84, 95,
                                            106, 108, 110, 112, 114, 116, 127, 129, 131 };
    expect_prefixes("Outer", &t_outer, S(outer), outer_ok, LEN_OF(outer_ok));
    expect_prefixes("RepVarints packed", &t_rep_varints, S(rv_packed), packed_ok, LEN_OF(packed_ok));
    expect_prefixes("RepVarints unpacked", &t_rep_varints, S(rv_unpacked), unpacked_ok, LEN_OF(unpacked_ok));
}

/* ----- 512 KiB of bytes ---------------------------------------------------- */

static void test_big(void)
{
    static char big[BIG_BYTES];
    static uint8_t back_bytes[BIG_BYTES + 3];
    const char *names[] = {
        "512 KiB bytes: encoded as the reference (82 01 80 80 20, then the bytes)",
        "512 KiB bytes: decoded in place (zero copy), every byte",
        "512 KiB bytes: re-encoded the same",
        "512 KiB bytes: JSON base64, jl_msg_size exact, decodes back"
    };
    gs_msg m, back;
    const char *why;
    size_t i, n, jn;
    int r;
    char *end;

    if (!(GS_MAX_MESSAGE >= BIG_BYTES + 64)) {     /* the front ends could not carry it */
        for (i = 0; i < LEN_OF(names); i++) {
            char line[160];
            snprintf(line, sizeof line, "%s (GS_MAX_MESSAGE %lu < 512 KiB + 64)", names[i],
                     (unsigned long)GS_MAX_MESSAGE);
            skip(line);
        }
        return;
    }
    /* Fixed(by=bytes((i * 7 + 3) & 255 for i in range(524288))): the
     * reference writes key 82 01, length 80 80 20, the 524288 bytes. */
    for (i = 0; i < BIG_BYTES; i++) big[i] = (char)((i * 7 + 3) & 255);
    set_fixed(&m, 0, 0, 0, 0, 0, 0, str("", 0), str(big, BIG_BYTES));
    n = pb_msg_size(&m, 0);
    end = pb_put_msg(enc, &m);
    check(n == BIG_BYTES + 5 && (size_t)(end - enc) == n && memcmp(enc, "\x82\x01\x80\x80\x20", 5) == 0 &&
          memcmp(enc + 5, big, BIG_BYTES) == 0, "%s", names[0]);
    r = decode(&t_fixed, enc, n, &back, &why);
    check(r == GS_OK && back.v[BY].s.p == enc + 5 && back.v[BY].s.n == BIG_BYTES &&
          memcmp(back.v[BY].s.p, big, BIG_BYTES) == 0, "%s", names[1]);
    end = pb_put_msg(enc2, &back);
    check(r == GS_OK && pb_msg_size(&back, 0) == n && (size_t)(end - enc2) == n && memcmp(enc, enc2, n) == 0,
          "%s", names[2]);
    jn = jl_msg_size(&m);
    end = jl_put_msg(json, &m);
    {
        /* {"f32": 0, "f64": "0", "sf32": 0, "sf64": "0", "fl": 0, "db": 0, "str": "", "by": "<base64>"} */
        static const char head[] = "{\"f32\": 0, \"f64\": \"0\", \"sf32\": 0, \"sf64\": \"0\", \"fl\": 0.0, "
                                   "\"db\": 0.0, \"str\": \"\", \"by\": \"";
        size_t b64 = (BIG_BYTES + 2) / 3 * 4;
        long got = -1;
        int shape = jn == (size_t)(end - json) && jn == sizeof head - 1 + b64 + 2 &&
                    memcmp(json, head, sizeof head - 1) == 0 && memcmp(end - 2, "\"}", 2) == 0;
        if (shape) got = b64_decode(back_bytes, json + sizeof head - 1, b64, 0);
        check(shape && got == BIG_BYTES && memcmp(back_bytes, big, BIG_BYTES) == 0, "%s", names[3]);
    }
}

/* ----- random messages: pb and JSON sizes agree with what is written ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;     /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Storage for one random message's parts. */
static gs_value rnd_items[4096];
static gs_msg rnd_msgs[512];
static char rnd_text[16384];
static size_t rnd_items_n, rnd_msgs_n, rnd_text_n;

/* A 64-bit value spread over every varint length, both signs. */
static uint64_t rnd_wide(void)
{
    uint64_t x = rng() >> (rng() % 64);
    switch (rng() % 8) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    case 2: return (uint64_t)1 << 63;
    case 3: return 0 - x;
    default: return x;
    }
}

static float rnd_float(void)
{
    static const uint32_t special[] = { 0, 0x80000000u, 0x3dcccccdu, 0x7f800000u, 0xff800000u,
                                        0x7fc00000u, 0x00000001u, 0x7f7fffffu, 0x00800000u };
    return fbits(rng() % 3 ? (uint32_t)rng() : special[rng() % LEN_OF(special)]);
}

static double rnd_double(void)
{
    static const uint64_t special[] = { 0, 0x8000000000000000u, 0x3fb999999999999au, 0x7ff0000000000000u,
                                        0xfff0000000000000u, 0x7ff8000000000000u, 1, 0x7fefffffffffffffu };
    return dbits(rng() % 3 ? rng() : special[rng() % LEN_OF(special)]);
}

/* Valid UTF-8 with JSON's special characters, at most GS_MAX_VALUE
 * bytes (bytes: any byte). */
static gs_str rnd_string(int binary)
{
    static const char *const pieces[] = { "a", "Z", "\"", "\\", "\n", "\x01", "\x7f", " ", "/",
                                          "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    size_t len = rng() % 12, start = rnd_text_n, k;
    for (k = 0; k < len && rnd_text_n + 4 < sizeof rnd_text && rnd_text_n - start + 4 <= GS_MAX_VALUE; k++) {
        if (binary) {
            rnd_text[rnd_text_n++] = (char)rng();
        } else {
            const char *p = pieces[rng() % LEN_OF(pieces)];
            size_t pl = strlen(p);
            memcpy(rnd_text + rnd_text_n, p, pl);
            rnd_text_n += pl;
        }
    }
    return str(rnd_text + start, rnd_text_n - start);
}

static void rnd_msg(gs_msg *m, const gs_desc *d, unsigned depth);

/* One random value of f's type, within its range. */
static void rnd_value(const gs_field *f, gs_value *v, unsigned depth)
{
    memset(v, 0, sizeof *v);
    switch (f->type) {
    case GS_INT32: case GS_SINT32: case GS_SFIXED32: v->i = (int32_t)(uint32_t)rnd_wide(); break;
    case GS_ENUM: v->i = rng() % 2 ? color_values[rng() % 4].number : (int32_t)(uint32_t)rnd_wide(); break;
    case GS_INT64: case GS_SINT64: case GS_SFIXED64: v->i = (int64_t)rnd_wide(); break;
    case GS_UINT32: case GS_FIXED32: v->u = (uint32_t)rnd_wide(); break;
    case GS_UINT64: case GS_FIXED64: v->u = rnd_wide(); break;
    case GS_BOOL: v->b = (int)(rng() % 2); break;
    case GS_FLOAT: v->f = rnd_float(); break;
    case GS_DOUBLE: v->d = rnd_double(); break;
    case GS_STRING: v->s = rnd_string(0); break;
    case GS_BYTES: v->s = rnd_string(1); break;
    case GS_MESSAGE:
        v->m.raw = str(NULL, 0);
        /* at most 3 deep, a list's raw elements 4 (GS_MAX_DEPTH >= 4) */
        if (depth < 3 && rnd_msgs_n < LEN_OF(rnd_msgs) && rng() % 3) {
            gs_msg *sub = &rnd_msgs[rnd_msgs_n++];
            rnd_msg(sub, f->msg, depth + 1);
            v->m.msg = sub;
        }
        break;
    }
}

static void rnd_msg(gs_msg *m, const gs_desc *d, unsigned depth)
{
    unsigned i;
    init(m, d);
    for (i = 0; i < d->nfields; i++) {
        const gs_field *f = &d->fields[i];
        if (rng() % 4 == 0) continue;               /* left at its default */
        if (f->flags & GS_REPEATED) {
            size_t n = rng() % 5, k;
            gs_value *items = &rnd_items[rnd_items_n];
            if (rnd_items_n + n > LEN_OF(rnd_items)) continue;
            rnd_items_n += n;
            for (k = 0; k < n; k++) {
                rnd_value(f, &items[k], depth);
                if (f->type == GS_MESSAGE && !items[k].m.msg) {     /* a list holds messages */
                    items[k].m.raw = str(S("\x08\x01"));
                }
            }
            set_list(m, i, items, n);
        } else {
            rnd_value(f, &m->v[i], depth);
        }
    }
}

/* text[0..n) is one valid JSON value (json.c's scanner reads it whole). */
static int json_valid(char *text, size_t n)
{
    gs_json j;
    const char *p = text, *end;
    text[n] = '\n';
    end = text + n + 1;
    gs_json_reset(&j);
    for (;;) {
        int ev = gs_json_next(&j, &p, end);
        if (ev == GS_JSON_LINE) return j.status == GS_JL_OK && p == end;
        if (ev == GS_JSON_MORE) return 0;
    }
}

static void test_random(void)
{
    const gs_desc *descs[] = { &t_varints, &t_varints_num, &t_fixed, &t_rep_varints, &t_rep_fixed, &t_outer };
    static char in[96];
    gs_msg m, back, again;
    const char *why;
    unsigned k, bad_pb = 0, bad_canon = 0, bad_json = 0, bad_json_same = 0, bad_json_valid = 0;
    unsigned bad_fuzz = 0, bad_fuzz_json = 0, decoded = 0;

    for (k = 0; k < 20000; k++) {
        const gs_desc *d = descs[k % LEN_OF(descs)];
        size_t n, n2, jn, jn2;
        char *end;
        rnd_items_n = rnd_msgs_n = rnd_text_n = 0;
        rnd_msg(&m, d, 0);
        n = pb_msg_size(&m, 0);
        end = pb_put_msg(enc, &m);
        if ((size_t)(end - enc) != n || decode(d, enc, n, &back, &why) != GS_OK || !msg_eq(&m, &back)) {
            bad_pb++;
            continue;
        }
        n2 = pb_msg_size(&back, 0);             /* decoded: lists from the wire, messages as raw */
        end = pb_put_msg(enc2, &back);
        if (n2 != n || (size_t)(end - enc2) != n || memcmp(enc, enc2, n) != 0) bad_canon++;
        jn = jl_msg_size(&m);
        memset(json, 0x5A, jn + 2);
        end = jl_put_msg(json, &m);
        if ((size_t)(end - json) != jn || (unsigned char)json[jn] != 0x5A) {
            bad_json++;
            continue;
        }
        if (!json_valid(json, jn)) bad_json_valid++;
        memcpy(enc2, json, jn);                 /* the decoded form writes the same text */
        jn2 = jl_msg_size(&back);
        end = jl_put_msg(json, &back);
        if (jn2 != jn || (size_t)(end - json) != jn || memcmp(json, enc2, jn) != 0) bad_json_same++;
    }
    check(bad_pb == 0, "20000 random messages of every type: pb_msg_size, pb_put_msg, decode agree");
    check(bad_canon == 0, "...the decoded message re-encodes to the same bytes");
    check(bad_json == 0, "...jl_msg_size is exactly what jl_put_msg writes");
    check(bad_json_valid == 0, "...the JSON is valid (json.c's scanner)");
    check(bad_json_same == 0, "...the decoded message writes the same JSON, same size");

    /* Random bytes: a defined answer; what decodes re-encodes to a message
     * that decodes the same, and its JSON size is exact. */
    for (k = 0; k < 200000; k++) {
        const gs_desc *d = descs[k % LEN_OF(descs)];
        size_t n = (size_t)(rng() % sizeof in), j, e;
        int r;
        for (j = 0; j < n; j++) {
            uint64_t x = rng();
            in[j] = (char)(x % 3 == 0 ? (x >> 8) % 0x48 : x % 3 == 1 ? (x >> 8) % 8 : x >> 16);
        }
        r = decode(d, in, n, &m, &why);
        if (r != GS_OK) {
            if (!((r == GS_INTERNAL || r == GS_RESOURCE_EXHAUSTED) && why && why[0])) bad_fuzz++;
            continue;
        }
        decoded++;
        e = (size_t)(pb_put_msg(enc, &m) - enc);
        if (e != pb_msg_size(&m, 0) || decode(d, enc, e, &again, &why) != GS_OK || !msg_eq(&m, &again))
            bad_fuzz++;
        e = jl_msg_size(&m);
        if ((size_t)(jl_put_msg(json, &m) - json) != e || !json_valid(json, e)) bad_fuzz_json++;
    }
    check(bad_fuzz == 0 && decoded > 1000,
          "200000 random inputs: OK or an error with a why; what decodes re-encodes the same (%u decoded)", decoded);
    check(bad_fuzz_json == 0, "random inputs that decode: JSON size exact and valid");
}

/* ----- JSON output: proto3's mapping --------------------------------------- */

/* m is written as exactly want, and jl_msg_size says its length. */
static void expect_json(const char *name, const gs_msg *m, const char *want)
{
    size_t n = strlen(want), size = jl_msg_size(m);
    char *end;
    memset(json, 0x5A, n + 16);
    end = jl_put_msg(json, m);
    if (!(size == n && (size_t)(end - json) == n && memcmp(json, want, n) == 0)) {
        printf("    want: %s\n    got:  %.*s (size %lu)\n", want, (int)(end - json), json, (unsigned long)size);
        check(0, "JSON %s", name);
        return;
    }
    check(1, "JSON %s: %s", name, want);
}

/* The same for the message the reference's bytes decode to. */
static void expect_json_decoded(const char *name, const gs_desc *d, const char *buf, size_t n, const char *want)
{
    gs_msg m;
    const char *why;
    char label[128];
    if (decode(d, buf, n, &m, &why) != GS_OK) {
        check(0, "JSON %s: decoding failed (%s)", name, why ? why : "");
        return;
    }
    snprintf(label, sizeof label, "%s (decoded)", name);
    expect_json(label, &m, want);
}

static void test_json_out(void)
{
    gs_msg m, in1, it[3], next, empty;
    gs_value items[3];
    int k;

    set_varints(&m, INT32_MIN, INT64_MIN, UINT32_MAX, UINT64_MAX, INT32_MIN, INT64_MIN, 1, -5);
    expect_json("Varints (64-bit as strings, enum by name)", &m,
                "{\"i32\": -2147483648, \"i64\": \"-9223372036854775808\", \"u32\": 4294967295, "
                "\"u64\": \"18446744073709551615\", \"s32\": -2147483648, \"s64\": \"-9223372036854775808\", "
                "\"b\": true, \"e\": \"NEG\"}");
    m.desc = &t_varints_num;
    expect_json("Varints with GS_JSON_NUMBER (bare 64-bit numbers)", &m,
                "{\"i32\": -2147483648, \"i64\": -9223372036854775808, \"u32\": 4294967295, "
                "\"u64\": 18446744073709551615, \"s32\": -2147483648, \"s64\": -9223372036854775808, "
                "\"b\": true, \"e\": \"NEG\"}");
    set_varints(&m, -1, -1, 127, 128, -1, 1, 0, 7);
    expect_json("Varints (small; an enum number without a name)", &m,
                "{\"i32\": -1, \"i64\": \"-1\", \"u32\": 127, \"u64\": \"128\", \"s32\": -1, \"s64\": \"1\", "
                "\"b\": false, \"e\": 7}");
    set_varints(&m, 0, INT64_MAX, 0, 0, 0, 0, 0, -7);
    expect_json("Varints (INT64_MAX, a negative unnamed enum)", &m,
                "{\"i32\": 0, \"i64\": \"9223372036854775807\", \"u32\": 0, \"u64\": \"0\", \"s32\": 0, "
                "\"s64\": \"0\", \"b\": false, \"e\": -7}");
    init(&m, &t_varints);
    expect_json("Varints (defaults are written)", &m,
                "{\"i32\": 0, \"i64\": \"0\", \"u32\": 0, \"u64\": \"0\", \"s32\": 0, \"s64\": \"0\", "
                "\"b\": false, \"e\": \"COLOR_ZERO\"}");
    expect_json_decoded("Varints (minimums)", &t_varints,
                        S("\x08\x80\x80\x80\x80\xf8\xff\xff\xff\xff\x01\x10\x80\x80\x80\x80\x80\x80\x80\x80"
                          "\x80\x01\x18\xff\xff\xff\xff\x0f\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x28"
                          "\xff\xff\xff\xff\x0f\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x38\x01\x40\xfb"
                          "\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
                        "{\"i32\": -2147483648, \"i64\": \"-9223372036854775808\", \"u32\": 4294967295, "
                        "\"u64\": \"18446744073709551615\", \"s32\": -2147483648, \"s64\": \"-9223372036854775808\", "
                        "\"b\": true, \"e\": \"NEG\"}");

    set_fixed(&m, UINT32_MAX, UINT64_MAX, INT32_MIN, INT64_MIN, 0.1f, 0.1,
              str(S("h\xc3\xa9llo \xe2\x82\xac")), str(S("\x00\xff\x80")));
    expect_json("Fixed (0.1 shortest; UTF-8 escaped as json.dumps; bytes base64)", &m,
                "{\"f32\": 4294967295, \"f64\": \"18446744073709551615\", \"sf32\": -2147483648, "
                "\"sf64\": \"-9223372036854775808\", \"fl\": 0.1, \"db\": 0.1, \"str\": \"h\\u00e9llo \\u20ac\", "
                "\"by\": \"AP+A\"}");
    set_fixed(&m, 1, 1, -1, -1, -INFINITY, INFINITY, str("", 0), str("", 0));
    expect_json("Fixed (-Infinity, Infinity)", &m,
                "{\"f32\": 1, \"f64\": \"1\", \"sf32\": -1, \"sf64\": \"-1\", \"fl\": \"-Infinity\", "
                "\"db\": \"Infinity\", \"str\": \"\", \"by\": \"\"}");
    set_fixed(&m, 0, 0, 0, 0, fbits(0x7fc00000), 1e300, str(S("a\"b\\\n\x01")), str(S("f")));
    expect_json("Fixed (NaN, 1e+300, escapes, base64 padding ==)", &m,
                "{\"f32\": 0, \"f64\": \"0\", \"sf32\": 0, \"sf64\": \"0\", \"fl\": \"NaN\", \"db\": 1e+300, "
                "\"str\": \"a\\\"b\\\\\\n\\u0001\", \"by\": \"Zg==\"}");
    set_fixed(&m, 0, 0, 0, 0, fbits(0xffc00001), dbits(0xfff8000000000000), str("", 0), str(S("fo")));
    expect_json("Fixed (negative NaNs, base64 padding =)", &m,
                "{\"f32\": 0, \"f64\": \"0\", \"sf32\": 0, \"sf64\": \"0\", \"fl\": \"NaN\", \"db\": \"NaN\", "
                "\"str\": \"\", \"by\": \"Zm8=\"}");

    /* Floats and doubles: as Python's repr writes them (the fewest digits
     * that read back; plain from 1e-4 to below 1e16, with ".0" when whole;
     * python3 -c 'print(repr(x))' made these texts). */
    {
        static const struct { double x; const char *text; } dbl[] = {
            { 0.1, "0.1" }, { 1e300, "1e+300" }, { 1.5, "1.5" }, { 100, "100.0" }, { 1e21, "1e+21" },
            { 1e15, "1000000000000000.0" }, { 1e16, "1e+16" }, { -0.0, "-0.0" }, { 0.0001, "0.0001" },
            { 1e-5, "1e-05" }, { 5e-324, "5e-324" },
            { 123456789.125, "123456789.125" }, { 0.30000000000000004, "0.30000000000000004" },
            { -2.5e-8, "-2.5e-08" }, { DBL_MAX, "1.7976931348623157e+308" },
            { 2.2250738585072014e-308, "2.2250738585072014e-308" }, { 1e-7, "1e-07" }
        };
        static const struct { uint32_t bits; const char *text; } flt[] = {
            { 0x3dcccccd, "0.1" }, { 0x4b800000, "16777216.0" }, { 0x00000001, "1e-45" }, { 0x7f7fffff, "3.4028235e+38" },
            { 0x00800000, "1.1754944e-38" }, { 0x3eaaaaab, "0.33333334" }
        };
        char want[256];
        size_t i;
        for (i = 0; i < LEN_OF(dbl); i++) {
            set_fixed(&m, 0, 0, 0, 0, 0, dbl[i].x, str("", 0), str("", 0));
            snprintf(want, sizeof want, "{\"f32\": 0, \"f64\": \"0\", \"sf32\": 0, \"sf64\": \"0\", \"fl\": 0.0, "
                     "\"db\": %s, \"str\": \"\", \"by\": \"\"}", dbl[i].text);
            expect_json("double", &m, want);
        }
        for (i = 0; i < LEN_OF(flt); i++) {
            set_fixed(&m, 0, 0, 0, 0, fbits(flt[i].bits), 0, str("", 0), str("", 0));
            snprintf(want, sizeof want, "{\"f32\": 0, \"f64\": \"0\", \"sf32\": 0, \"sf64\": \"0\", \"fl\": %s, "
                     "\"db\": 0.0, \"str\": \"\", \"by\": \"\"}", flt[i].text);
            expect_json("float", &m, want);
        }
        /* Denormals: the text must read back as the same value (the
         * reference's shortest forms are 5e-324 and 1e-45). */
        {
            char *end;
            double back;
            set_fixed(&m, 0, 0, 0, 0, fbits(1), dbits(1), str("", 0), str("", 0));
            end = jl_put_msg(json, &m);
            *end = '\0';
            {
                const char *fl = strstr(json, "\"fl\": "), *db = strstr(json, "\"db\": ");
                int ok = fl && db && (size_t)(end - json) == jl_msg_size(&m);
                if (ok) {
                    ok = (float)strtod(fl + 6, NULL) == fbits(1);
                    back = strtod(db + 6, NULL);
                    ok = ok && bits_of_d(back) == 1;
                }
                check(ok, "JSON denormal float and double read back exactly: %s", json);
            }
        }
    }

    /* Nested messages: objects; lists: [a, b]; an absent message is
     * left out, a present empty one is an object of defaults. */
    init(&in1, &t_inner), in1.v[INNER_A].i = 1, in1.v[INNER_S].s = str(S("x"));
    init(&it[0], &t_inner), it[0].v[INNER_A].i = 2;
    init(&it[1], &t_inner);
    init(&it[2], &t_inner), it[2].v[INNER_S].s = str(S("y"));
    init(&empty, &t_inner);
    init(&next, &t_outer), set_sub(&next, O_INNER, &empty);
    for (k = 0; k < 3; k++) items[k].m.msg = &it[k], items[k].m.raw = str(NULL, 0);
    init(&m, &t_outer);
    set_sub(&m, O_INNER, &in1);
    set_list(&m, O_ITEMS, items, 3);
    m.v[O_N].i = -3;
    set_sub(&m, O_NEXT, &next);
    {
        static const char want[] =
            "{\"inner\": {\"a\": 1, \"s\": \"x\"}, \"items\": [{\"a\": 2, \"s\": \"\"}, {\"a\": 0, \"s\": \"\"}, "
            "{\"a\": 0, \"s\": \"y\"}], \"n\": -3, \"next\": {\"inner\": {\"a\": 0, \"s\": \"\"}, "
            "\"items\": [], \"n\": 0}}";
        expect_json("Outer (nested objects, list of messages, absent next.next left out)", &m, want);
        expect_json_decoded("Outer", &t_outer,
                            S("\x0a\x05\x08\x01\x12\x01\x78\x12\x02\x08\x02\x12\x00\x12\x03\x12\x01\x79\x18"
                              "\x05\x22\x02\x0a\x00"), want);
    }
    init(&m, &t_outer);
    expect_json("Outer (defaults: absent messages left out, empty list [])", &m, "{\"items\": [], \"n\": 0}");

    {
        static const char rv_json[] =
            "{\"i32\": [0, -1, -2147483648, 2147483647], \"i64\": [\"-9223372036854775808\", \"0\", "
            "\"9223372036854775807\"], \"u32\": [0, 4294967295], \"u64\": [\"18446744073709551615\", \"1\"], "
            "\"s32\": [-1, 1, -2147483648], \"s64\": [\"-9223372036854775808\", \"9223372036854775807\", \"-2\"], "
            "\"b\": [true, false, true], \"e\": [\"COLOR_ZERO\", \"NEG\", 7, \"BLUE\"]}";
        static const gs_value fl[] = { { .f = 0.5f }, { .f = -INFINITY }, { .f = 0 } };
        static const gs_value db[] = { { .d = 1e300 }, { .d = 0.1 }, { .d = -2.5 } };
        gs_value fl_nan[3];
        set_rep_varints(&m);
        expect_json("RepVarints (lists, \", \" between elements)", &m, rv_json);
        expect_json_decoded("RepVarints packed", &t_rep_varints, S(rv_packed), rv_json);
        expect_json_decoded("RepVarints unpacked", &t_rep_varints, S(rv_unpacked), rv_json);
        memcpy(fl_nan, fl, sizeof fl_nan);
        fl_nan[2].f = fbits(0x7fc00000);
        set_rep_fixed(&m);
        set_list(&m, FL, fl_nan, 3);
        set_list(&m, DB, db, 3);
        expect_json("RepFixed (lists of floats, strings, bytes)", &m,
                    "{\"f32\": [0, 4294967295], \"f64\": [\"18446744073709551615\"], \"sf32\": [-2147483648, -1], "
                    "\"sf64\": [\"-9223372036854775808\"], \"fl\": [0.5, \"-Infinity\", \"NaN\"], "
                    "\"db\": [1e+300, 0.1, -2.5], \"str\": [\"\", \"a\", \"h\\u00e9llo\"], \"by\": [\"\", \"AP8=\"]}");
        init(&m, &t_rep_varints);
        expect_json("RepVarints (empty lists)", &m,
                    "{\"i32\": [], \"i64\": [], \"u32\": [], \"u64\": [], \"s32\": [], \"s64\": [], "
                    "\"b\": [], \"e\": []}");
    }
}

/* ----- JSON input: jl_decode_field per type ------------------------------- */

static gs_node node;                    /* jl_decode_field writes its texts into node.why */
static char cap_big[GS_MAX_VALUE];      /* a string capture's buffer */

static int feed_bytewise;               /* capture() feeds a byte at a time */

/* Fills *c as the JSON-lines front end does for the payload member "x"
 * of the object {"x": json}: json.c's scanner stores the value in c->v,
 * a string's text in c->buf (GS_MAX_VALUE bytes for strings and bytes,
 * the small buffer for the others). */
static void capture(gs_capture *c, const gs_field *f, const char *value)
{
    static gs_json j;
    static gs_json_key key;
    static char line[256];
    const char *p = line, *end;
    memset(c, 0, sizeof *c);
    c->container = 1;
    c->name = f->name;
    c->type = (uint8_t)f->type;
    c->buf = f->type == GS_STRING || f->type == GS_BYTES ? cap_big : c->small;
    gs_json_key_set(&key, "x", 0, &c->v, c->buf, c->buf == c->small ? sizeof c->small : GS_MAX_VALUE);
    end = line + snprintf(line, sizeof line, "{\"x\": %s}\n", value);
    gs_json_reset(&j);
    for (;;) {             /* whole, or a byte at a time (feed_bytewise) */
        const char *stop = feed_bytewise && p < end ? p + 1 : end;
        int ev = gs_json_next(&j, &p, stop);
        if (ev == GS_JSON_VALUE && j.kind == GS_JV_OBJECT) gs_json_expect(&j, &key, 1);
        if (ev == GS_JSON_LINE || (ev == GS_JSON_MORE && p == end)) break;
    }
}

/* Field f read from JSON value `json`: the status, the value in *out. */
static int from_json(const gs_field *f, const char *json_value, gs_value *out, const char **why)
{
    gs_capture c;
    capture(&c, f, json_value);
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (!c.v.kind) return -1;       /* the scanner did not store it: the test is wrong */
    return jl_decode_field(&node, f, &c, out, why);
}

static void json_i(const gs_field *f, const char *in, int64_t want)
{
    gs_value v;
    const char *why;
    int r = from_json(f, in, &v, &why);
    check(r == GS_OK && v.i == want, "JSON in: %s %s -> %lld", f->name, in, (long long)want);
}

static void json_u(const gs_field *f, const char *in, uint64_t want)
{
    gs_value v;
    const char *why;
    int r = from_json(f, in, &v, &why);
    check(r == GS_OK && v.u == want, "JSON in: %s %s -> %llu", f->name, in, (unsigned long long)want);
}

static void json_bad(const gs_field *f, const char *in, int status)
{
    gs_value v;
    const char *why;
    int r = from_json(f, in, &v, &why);
    check(r == status && why && why[0], "JSON in: %s %s -> %s (%s)", f->name, in, gs_status_name(status),
          why ? why : "no reason");
}

static void json_float(const gs_field *f, const char *in, uint64_t want_bits)
{
    int ok = 1;
    for (feed_bytewise = 0; feed_bytewise < 2; feed_bytewise++) {   /* whole, then split everywhere */
        gs_value v;
        const char *why;
        int r = from_json(f, in, &v, &why);
        uint64_t got = f->type == GS_FLOAT ? bits_of_f(v.f) : bits_of_d(v.d);
        if (f->type == GS_FLOAT ? v.f != v.f : v.d != v.d)     /* any NaN will do */
            got = f->type == GS_FLOAT ? 0x7fc00000 : 0x7ff8000000000000u;
        ok &= r == GS_OK && got == want_bits;
    }
    feed_bytewise = 0;
    check(ok, "JSON in: %s %s -> bits %llx (whole and byte by byte)", f->name, in,
          (unsigned long long)want_bits);
}

static void json_bytes(const gs_field *f, const char *in, const char *want, size_t n)
{
    gs_value v;
    const char *why;
    int r = from_json(f, in, &v, &why);
    check(r == GS_OK && v.s.n == n && memcmp(v.s.p, want, n) == 0, "JSON in: %s %s -> %lu bytes", f->name, in,
          (unsigned long)n);
}

static void test_json_in(void)
{
    const gs_field *i32 = &varints_fields[I32], *i64 = &varints_fields[I64], *u32 = &varints_fields[U32];
    const gs_field *u64 = &varints_fields[U64], *s32 = &varints_fields[S32], *s64 = &varints_fields[S64];
    const gs_field *b = &varints_fields[B], *e = &varints_fields[E];
    const gs_field *n64 = &varints_num_fields[I64], *nu64 = &varints_num_fields[U64];
    const gs_field *f32 = &fixed_fields[F32], *f64 = &fixed_fields[F64], *sf32 = &fixed_fields[SF32];
    const gs_field *sf64 = &fixed_fields[SF64], *fl = &fixed_fields[FL], *db = &fixed_fields[DB];
    const gs_field *st = &fixed_fields[STR], *by = &fixed_fields[BY];
    gs_value v;
    const char *why;
    int r;

    /* 64-bit integers: a number or (proto3's form) a decimal string */
    json_i(i64, "123", 123);
    json_i(i64, "\"123\"", 123);
    json_i(i64, "-9223372036854775808", INT64_MIN);
    json_i(i64, "\"-9223372036854775808\"", INT64_MIN);
    json_i(i64, "\"9223372036854775807\"", INT64_MAX);
    json_bad(i64, "\"9223372036854775808\"", GS_INVALID_ARGUMENT);
    json_bad(i64, "-9223372036854775809", GS_INVALID_ARGUMENT);
    json_bad(i64, "1.5", GS_INVALID_ARGUMENT);
    json_bad(i64, "\"12a\"", GS_INVALID_ARGUMENT);
    json_bad(i64, "\"\"", GS_INVALID_ARGUMENT);
    json_bad(i64, "true", GS_INVALID_ARGUMENT);
    json_u(u64, "\"18446744073709551615\"", UINT64_MAX);
    json_u(u64, "18446744073709551615", UINT64_MAX);
    json_bad(u64, "18446744073709551616", GS_INVALID_ARGUMENT);
    json_bad(u64, "\"18446744073709551616\"", GS_INVALID_ARGUMENT);
    json_bad(u64, "-1", GS_INVALID_ARGUMENT);
    json_i(s64, "\"-2\"", -2);
    json_u(f64, "\"18446744073709551615\"", UINT64_MAX);
    json_i(sf64, "-9223372036854775808", INT64_MIN);
    /* GS_JSON_NUMBER: a number only */
    json_i(n64, "-9223372036854775808", INT64_MIN);
    json_u(nu64, "18446744073709551615", UINT64_MAX);
    json_bad(n64, "\"5\"", GS_INVALID_ARGUMENT);
    json_bad(nu64, "\"5\"", GS_INVALID_ARGUMENT);

    /* 32-bit integers and their ranges */
    json_i(i32, "2147483647", INT32_MAX);
    json_i(i32, "-2147483648", INT32_MIN);
    json_i(i32, "\"-7\"", -7);
    json_bad(i32, "2147483648", GS_INVALID_ARGUMENT);
    json_bad(i32, "-2147483649", GS_INVALID_ARGUMENT);
    json_u(u32, "4294967295", UINT32_MAX);
    json_bad(u32, "4294967296", GS_INVALID_ARGUMENT);
    json_bad(u32, "-1", GS_INVALID_ARGUMENT);
    json_i(s32, "-2147483648", INT32_MIN);
    json_bad(s32, "2147483648", GS_INVALID_ARGUMENT);
    json_u(f32, "4294967295", UINT32_MAX);
    json_bad(f32, "4294967296", GS_INVALID_ARGUMENT);
    json_i(sf32, "-1", -1);
    json_bad(sf32, "\"2147483648\"", GS_INVALID_ARGUMENT);
    json_i(i32, "-0", 0);
    r = from_json(i32, "2147483648", &v, &why);
    check(r == GS_INVALID_ARGUMENT && why && strcmp(why, "i32 must be a 32-bit integer") == 0,
          "JSON in: the range error names the field (%s)", why ? why : "");

    /* bool */
    r = from_json(b, "true", &v, &why);
    check(r == GS_OK && v.b == 1, "JSON in: b true");
    r = from_json(b, "false", &v, &why);
    check(r == GS_OK && v.b == 0, "JSON in: b false");
    json_bad(b, "\"true\"", GS_INVALID_ARGUMENT);
    json_bad(b, "1", GS_INVALID_ARGUMENT);

    /* enum: by name or number */
    json_i(e, "\"BLUE\"", 2);
    json_i(e, "\"NEG\"", -5);
    json_i(e, "\"COLOR_ZERO\"", 0);
    json_i(e, "7", 7);
    json_i(e, "-5", -5);
    json_bad(e, "\"PURPLE\"", GS_INVALID_ARGUMENT);
    json_bad(e, "\"blue\"", GS_INVALID_ARGUMENT);
    json_bad(e, "2147483648", GS_INVALID_ARGUMENT);
    json_bad(e, "1.5", GS_INVALID_ARGUMENT);

    /* floats: numbers, numbers as strings, and the three special strings */
    json_float(fl, "\"NaN\"", 0x7fc00000);
    json_float(fl, "\"Infinity\"", 0x7f800000);
    json_float(fl, "\"-Infinity\"", 0xff800000);
    json_float(fl, "\"1.5\"", 0x3fc00000);
    json_float(fl, "\"0.1\"", 0x3dcccccd);
    json_float(fl, "3", 0x40400000);
    json_float(fl, "-2", 0xc0000000);
    json_float(db, "\"NaN\"", 0x7ff8000000000000u);
    json_float(db, "\"Infinity\"", 0x7ff0000000000000u);
    json_float(db, "\"-Infinity\"", 0xfff0000000000000u);
    json_float(db, "\"1.5\"", 0x3ff8000000000000u);
    json_float(db, "\"1e300\"", bits_of_d(1e300));
    json_float(db, "\"-2.5e-8\"", bits_of_d(-2.5e-8));
    json_float(db, "9007199254740993", bits_of_d(9007199254740992.0));     /* rounded to a double */
    json_float(db, "-9223372036854775808", bits_of_d(-9223372036854775808.0));
    /* bare numbers with a fraction or an exponent (json.c keeps their text) */
    json_float(db, "1.5", 0x3ff8000000000000u);
    json_float(db, "-0.5", bits_of_d(-0.5));
    json_float(db, "0.1", bits_of_d(0.1));
    json_float(db, "1e3", bits_of_d(1e3));
    json_float(db, "1E-2", bits_of_d(1e-2));
    json_float(db, "-2.5e-8", bits_of_d(-2.5e-8));
    json_float(db, "1.7976931348623157e+308", bits_of_d(1.7976931348623157e308));
    json_float(fl, "0.1", 0x3dcccccd);
    json_float(fl, "-1.25e2", 0xc2fa0000);
    json_bad(db, "\"1e400\"", GS_INVALID_ARGUMENT);
    json_bad(db, "\"nan\"", GS_INVALID_ARGUMENT);
    json_bad(db, "\"1.5x\"", GS_INVALID_ARGUMENT);
    json_bad(db, "\"\"", GS_INVALID_ARGUMENT);
    json_bad(db, "\" 1\"", GS_INVALID_ARGUMENT);
    json_bad(fl, "true", GS_INVALID_ARGUMENT);

    /* strings and bytes */
    r = from_json(st, "\"h\\u00e9\"", &v, &why);
    check(r == GS_OK && v.s.n == 3 && memcmp(v.s.p, "h\xc3\xa9", 3) == 0, "JSON in: str with an escape -> UTF-8");
    json_bad(st, "5", GS_INVALID_ARGUMENT);
    json_bytes(by, "\"AP+A\"", S("\x00\xff\x80"));
    json_bytes(by, "\"AP-A\"", S("\x00\xff\x80"));     /* URL-safe */
    json_bytes(by, "\"AP8=\"", S("\x00\xff"));
    json_bytes(by, "\"AP8\"", S("\x00\xff"));          /* unpadded */
    json_bytes(by, "\"_w==\"", S("\xff"));
    json_bytes(by, "\"Zm9vYmFy\"", S("foobar"));
    json_bytes(by, "\"\"", "", 0);
    json_bad(by, "\"Zm9v!A==\"", GS_INVALID_ARGUMENT);
    json_bad(by, "\"Z\"", GS_INVALID_ARGUMENT);
    json_bad(by, "12", GS_INVALID_ARGUMENT);

}

/* ----- JSON lines: lists and messages, read and written back ------------ */

/* Methods that answer their request as it came (a unary echo): what the
 * node read from JSON is written back as JSON, so a request's round trip
 * through the second pass (jl_decode_deep) and pb_decode shows in the
 * reply. */
static int echo(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n, (void)why;
    *resp = *req;
    return GS_OK;
}

static const gs_method echo_outer = { "T", "Outer", GS_UNARY, &t_outer, &t_outer, echo, NULL, NULL, NULL, NULL };
static const gs_method echo_rep_varints = { "T", "RepVarints", GS_UNARY, &t_rep_varints, &t_rep_varints,
                                            echo, NULL, NULL, NULL, NULL };
static const gs_method echo_rep_fixed = { "T", "RepFixed", GS_UNARY, &t_rep_fixed, &t_rep_fixed,
                                          echo, NULL, NULL, NULL, NULL };

#define INIT_LINE "{\"src\": \"c0\", \"dest\": \"n1\", \"body\": {\"type\": \"init\", \"msg_id\": 1, " \
                  "\"node_id\": \"n1\", \"node_ids\": [\"n1\"]}}\n"

/* The reply (its body's members after in_reply_to) to a grpc_call of
 * T/method with `request`, fed in chunks of `chunk` bytes (0: whole). */
static void deep_call(const char *method, const char *request, size_t chunk, char *reply, size_t cap)
{
    static char line[4096], out[1 << 16];
    size_t len, used = 0, out_len = 0;
    const char *o, *body;
    gs_init(&node);
    gs_register(&node, &echo_outer);
    gs_register(&node, &echo_rep_varints);
    gs_register(&node, &echo_rep_fixed);
    len = (size_t)snprintf(line, sizeof line, INIT_LINE "{\"src\": \"c1\", \"dest\": \"n1\", \"body\": "
                           "{\"type\": \"grpc_call\", \"msg_id\": 2, \"request\": %s, \"service\": \"T\", "
                           "\"method\": \"%s\"}}\n", request, method);
    while (used < len) {
        size_t n = chunk && len - used > chunk ? chunk : len - used, k, got;
        used += gs_feed(&node, line + used, n);
        o = gs_output(&node, &got);
        for (k = 0; k < got && out_len < sizeof out - 1; k++) out[out_len++] = o[k];
        gs_output_done(&node, got);
    }
    out[out_len] = '\0';
    body = strstr(out, "\"in_reply_to\": 2, ");
    body = body ? body + strlen("\"in_reply_to\": 2, ") : out;
    len = strlen(body) < cap ? strlen(body) : cap - 1;
    memcpy(reply, body, len);
    reply[len] = '\0';
    if (strstr(reply, ", \"msg_id\"")) *strstr(reply, ", \"msg_id\"") = '\0';
}

/* The request gives `want` whole and split at every chunk size. */
static void json_deep(const char *method, const char *request, const char *want)
{
    static const size_t chunks[] = { 0, 1, 3, 7, 17 };
    static char got[1 << 14];
    size_t i;
    int ok = 1;
    for (i = 0; i < sizeof chunks / sizeof chunks[0] && ok; i++) {
        deep_call(method, request, chunks[i], got, sizeof got);
        ok = strcmp(got, want) == 0;
    }
    check(ok, "JSON lines in and out: T/%s %s (whole and in 1, 3, 7, 17-byte chunks)", method, request);
    if (!ok) printf("    want: %s\n    got:  %s (chunks of %zu)\n", want, got, chunks[i - 1]);
}

/* An HTTP/2 +json message comes whole (newlines are whitespace there):
 * jl_decode_object reads a deep one with the same second pass. */
static void test_json_deep_whole(void)
{
#if GS_MAX_CONNS > 0
    static const char text[] = "{\n\"n\": 5,\n\"items\": [{\"a\": 7}, {\"s\": \"q\"}],\n\"next\": {\"n\": -1}}";
    gs_msg m, item, next;
    gs_iter it;
    gs_value v;
    const char *why = NULL;
    int status, items = 0, ok;
    gs_init(&node);
    gs_register(&node, &echo_outer);        /* method 3, after the built-ins */
    status = jl_decode_object(&node, 3, C_REQUEST, text, sizeof text - 1, &m, &why);
    ok = status == GS_OK && m.v[O_N].i == 5 && m.v[O_ITEMS].r.n == 2 && !m.v[O_INNER].m.raw.p &&
         gs_decode(&t_outer, m.v[O_NEXT].m.raw, &next, NULL) == GS_OK && next.v[O_N].i == -1;
    gs_iter_start(&it, &m, O_ITEMS);
    while (ok && gs_iter_next(&it, &v)) {
        ok = gs_decode(&t_inner, v.m.raw, &item, NULL) == GS_OK;
        if (items++ == 0) ok = ok && item.v[INNER_A].i == 7;
        else ok = ok && item.v[INNER_S].s.n == 1 && item.v[INNER_S].s.p[0] == 'q';
    }
    check(ok && items == 2, "+json: a deep message with newlines, whole (%s)", why ? why : "OK");
    status = jl_decode_object(&node, 3, C_REQUEST, "{\"items\": [", 11, &m, &why);
    check(status == GS_INTERNAL, "+json: a deep message cut short is INTERNAL \"invalid JSON\"");
#else
    printf("SKIP: +json deep messages (no HTTP/2 in this build)\n");
#endif
}

static void test_json_deep(void)
{
    json_deep("Outer", "{\"n\": -3, \"inner\": {\"a\": 1, \"s\": \"x\"}, \"items\": [{\"a\": 2}, {\"s\": \"y\"}], "
              "\"next\": {\"n\": 4, \"next\": {\"items\": []}}}",
              "\"status\": \"OK\", \"response\": {\"inner\": {\"a\": 1, \"s\": \"x\"}, "
              "\"items\": [{\"a\": 2, \"s\": \"\"}, {\"a\": 0, \"s\": \"y\"}], \"n\": -3, "
              "\"next\": {\"items\": [], \"n\": 4, \"next\": {\"items\": [], \"n\": 0}}}");
    json_deep("Outer", "{\"unknown\": [1, {\"a\": []}], \"inner\": null, \"items\": null, \"next\": {}}",
              "\"status\": \"OK\", \"response\": {\"items\": [], \"n\": 0, "
              "\"next\": {\"items\": [], \"n\": 0}}");
    json_deep("RepVarints", "{\"i32\": [1, -2], \"i64\": [\"5\", -7], \"u64\": [\"18446744073709551615\"], "
              "\"s32\": [-1], \"b\": [true, false], \"e\": [\"RED\", 2, 9]}",
              "\"status\": \"OK\", \"response\": {\"i32\": [1, -2], \"i64\": [\"5\", \"-7\"], \"u32\": [], "
              "\"u64\": [\"18446744073709551615\"], \"s32\": [-1], \"s64\": [], \"b\": [true, false], "
              "\"e\": [\"RED\", \"BLUE\", 9]}");
    json_deep("RepFixed", "{\"fl\": [0.5, \"NaN\"], \"db\": [1e300, -0.0, \"1.5\"], "
              "\"str\": [\"a\", \"\\u00e9\"], \"by\": [\"AP8=\", \"\"]}",
              "\"status\": \"OK\", \"response\": {\"f32\": [], \"f64\": [], \"sf32\": [], \"sf64\": [], "
              "\"fl\": [0.5, \"NaN\"], \"db\": [1e+300, -0.0, 1.5], \"str\": [\"a\", \"\\u00e9\"], "
              "\"by\": [\"AP8=\", \"\"]}");
    json_deep("Outer", "{\"items\": [1]}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"items must be an object\"");
    json_deep("Outer", "{\"items\": {\"a\": 1}}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"items must be a list\"");
    json_deep("Outer", "{\"items\": [null]}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"items has a null element\"");
    json_deep("Outer", "{\"next\": {\"inner\": {\"a\": \"x\"}}}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"a must be a 32-bit integer\"");
    json_deep("Outer", "{\"n\": [1]}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"n must be a 32-bit integer\"");
    json_deep("RepVarints", "{\"i32\": [[1]]}",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"i32 must be a 32-bit integer\"");
    json_deep("Outer", "[]",
              "\"status\": \"INVALID_ARGUMENT\", \"message\": \"request must be an object\"");
    test_json_deep_whole();
}

int main(void)
{
    test_varints();
    test_fixed();
    test_defaults();
    test_nested();
    test_depth();
    test_repeated();
    test_last_wins();
    test_unknown();
    test_malformed();
    test_truncations();
    test_big();
    test_random();
    test_json_out();
    test_json_in();
    test_json_deep();
    printf("%s: %d failed\n", failures ? "FAILED" : "OK", failures);
    return failures != 0;
}
